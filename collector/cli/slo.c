/* slo.c - `flywheel slo`: define, list, show and delete SLOs on a running
 * server through its JSON API (SPEC 6, 7). Owns only argument parsing and
 * printing; the HTTP client is client.c's, the SLO logic the server's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_internal.h"
#include "flywheel/buf.h"

#define SLO_BODY_MAX 4096u

static void print_slo_help(FILE *f)
{
    fprintf(f, "Usage:\n"
               "  flywheel slo list [--json] [--server URL]\n"
               "  flywheel slo get ID [--json] [--server URL]\n"
               "  flywheel slo create --service S --target PCT [--operation O] [--id ID]\n"
               "                      [--name N] [--sli availability|latency] [--threshold-ms MS]\n"
               "                      [--window 30d] [--warning-threshold PCT] [--server URL]\n"
               "  flywheel slo delete ID [--server URL]\n"
               "\n"
               "SLOs of a running flywheel (default server http://127.0.0.1:4320): status is\n"
               "OK, WARNING (error budget left under the warning threshold), BREACHED or\n"
               "INSUFFICIENT_DATA; burn rates over 5m/30m/1h/6h; a fast or slow burn starts an\n"
               "investigation. --target is a percentage (99.9); --sli latency needs\n"
               "--threshold-ms (a request slower than it is bad).\n");
}

static int slo_usage(const char *what, const char *arg)
{
    fprintf(stderr, "flywheel slo: %s%s%s\nRun 'flywheel slo --help' for usage.\n", what,
            arg ? ": " : "", arg ? arg : "");
    return FW_EXIT_USAGE;
}

static const char *json_text(const json_t *o, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_slo_line(const json_t *slo)
{
    const json_t *st = json_object_get(slo, "status");
    const json_t *budget = json_object_get(st, "error_budget");
    const json_t *att = json_object_get(st, "attainment");
    char attainment[32] = "-";
    if (json_is_number(att))
        snprintf(attainment, sizeof attainment, "%.3f%%", json_number_value(att));
    printf("%-28s %-18s %-24s %-13s %7.3f%% %10s %8.1f%% %s\n", json_text(slo, "id", "?"),
           json_text(slo, "service", "?"),
           json_is_string(json_object_get(slo, "operation")) ? json_text(slo, "operation", "")
                                                             : "(service)",
           json_text(slo, "sli", "?"), json_number_value(json_object_get(slo, "target")),
           attainment, 100.0 * json_number_value(json_object_get(budget, "remaining")),
           json_text(st, "status", "?"));
    const json_t *burn = json_object_get(st, "burn_rates");
    if (json_is_true(json_object_get(st, "alerting")))
        printf("%-28s alerting (%s): burn 5m %.2f 30m %.2f 1h %.2f 6h %.2f\n", "",
               json_text(st, "alert_rule", "?"), json_number_value(json_object_get(burn, "5m")),
               json_number_value(json_object_get(burn, "30m")),
               json_number_value(json_object_get(burn, "1h")),
               json_number_value(json_object_get(burn, "6h")));
}

/* Sends one request and prints the answer; returns an exit status. */
static int slo_request(const char *server, const char *method, const char *path, const char *body,
                       int want_status, bool as_json, bool list)
{
    int status = 0;
    char *reply = NULL;
    size_t reply_len = 0;
    if (fw__cli_http_call("slo", server, method, path, body, &status, &reply, &reply_len) != 0)
        return FW_EXIT_STARTUP;
    int rv = FW_EXIT_OK;
    if (status != want_status) {
        json_t *e = json_loadb(reply ? reply : "", reply_len, 0, NULL);
        fprintf(stderr, "flywheel slo: server answered %d: %s\n", status,
                json_text(e, "error", reply && reply_len ? reply : "(no body)"));
        json_decref(e);
        free(reply);
        return FW_EXIT_STARTUP;
    }
    if (status == 204) {
        printf("deleted\n");
    } else if (as_json) {
        fwrite(reply, 1, reply_len, stdout);
        printf("\n");
    } else {
        json_t *j = json_loadb(reply, reply_len, 0, NULL);
        if (!j) {
            fprintf(stderr, "flywheel slo: the server's answer is not JSON\n");
            rv = FW_EXIT_STARTUP;
        } else {
            printf("%-28s %-18s %-24s %-13s %8s %10s %9s %s\n", "ID", "SERVICE", "OPERATION", "SLI",
                   "TARGET", "ATTAINED", "BUDGET", "STATUS");
            if (list) {
                size_t i;
                json_t *s;
                json_array_foreach(json_object_get(j, "slos"), i, s) print_slo_line(s);
            } else {
                print_slo_line(j);
            }
            json_decref(j);
        }
    }
    free(reply);
    if (fflush(stdout) != 0) rv = FW_EXIT_STARTUP;
    return rv;
}

/* Percent-escapes |id| for a path segment; false when it does not fit. */
static bool path_with_id(char *out, size_t outsz, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(out, outsz, "/api/v1/slos/");
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.';
        if (o + 4 >= outsz) return false;
        if (plain) {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    out[o] = '\0';
    return true;
}

/* Parses a decimal number flag value into |*out|. */
static bool parse_number(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0') return false;
    *out = v;
    return true;
}

static int slo_create(int argc, char **argv, const char *server)
{
    json_t *o = json_object();
    if (!o) return FW_EXIT_STARTUP;
    static const struct {
        const char *flag, *key;
        bool number;
    } flags[] = {
        {"--service", "service", false},
        {"--operation", "operation", false},
        {"--id", "id", false},
        {"--name", "name", false},
        {"--sli", "sli", false},
        {"--threshold-ms", "threshold_ms", true},
        {"--target", "target", true},
        {"--window", "window", false},
        {"--warning-threshold", "warning_threshold", true},
    };
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 || strcmp(argv[i], "--json") == 0) {
            if (strcmp(argv[i], "--server") == 0) i++;
            continue;
        }
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[f].flag) != 0) f++;
        if (f == sizeof flags / sizeof flags[0]) {
            json_decref(o);
            return slo_usage("unknown flag", argv[i]);
        }
        if (i + 1 >= argc) {
            json_decref(o);
            return slo_usage("flag needs a value", argv[i]);
        }
        const char *v = argv[++i];
        json_t *jv;
        if (flags[f].number) {
            double d;
            if (!parse_number(v, &d)) {
                json_decref(o);
                return slo_usage("not a number", v);
            }
            jv = json_real(d);
        } else {
            jv = json_string(v);
        }
        if (!jv || json_object_set_new(o, flags[f].key, jv) != 0) {
            json_decref(o);
            return slo_usage("bad value", v);
        }
    }
    if (!json_object_get(o, "service") || !json_object_get(o, "target")) {
        json_decref(o);
        return slo_usage("create needs --service and --target", NULL);
    }
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body) return FW_EXIT_STARTUP;
    int rv = slo_request(server, "POST", "/api/v1/slos", body, 201, false, false);
    free(body);
    return rv;
}

int fw_cli_slo(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        print_slo_help(argc < 1 ? stderr : stdout);
        return argc < 1 ? FW_EXIT_USAGE : FW_EXIT_OK;
    }
    const char *server = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_slo_help(stdout);
            return FW_EXIT_OK;
        }
        if (strcmp(argv[i], "--server") == 0) {
            if (i + 1 >= argc) return slo_usage("--server needs a URL", NULL);
            server = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        }
    }
    const char *verb = argv[0];
    if (strcmp(verb, "list") == 0)
        return slo_request(server, "GET", "/api/v1/slos", NULL, 200, as_json, true);
    if (strcmp(verb, "create") == 0) return slo_create(argc - 1, argv + 1, server);
    if (strcmp(verb, "get") == 0 || strcmp(verb, "delete") == 0) {
        if (argc < 2 || argv[1][0] == '-') return slo_usage("needs an SLO id", verb);
        char path[512];
        if (!path_with_id(path, sizeof path, argv[1])) return slo_usage("id too long", argv[1]);
        if (strcmp(verb, "get") == 0)
            return slo_request(server, "GET", path, NULL, 200, as_json, false);
        return slo_request(server, "DELETE", path, NULL, 204, false, false);
    }
    return slo_usage("unknown subcommand (list, get, create, delete)", verb);
}
