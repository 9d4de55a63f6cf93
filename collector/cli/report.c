/* report.c - `flywheel report ID [--format md|json|html] [-o FILE]
 * [--server URL]` (SPEC 7): fetches the draft incident report of an
 * investigation from a running server's API (SPEC 6.2) and writes it to
 * stdout or a file. Renders nothing itself; the server owns the report. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

static void print_report_help(FILE *f)
{
    fputs("Usage: flywheel report ID [--format md|json|html] [-o FILE] [--server URL]\n"
          "\n"
          "Fetches the draft incident report (Correction of Error) of investigation ID:\n"
          "title, summary, customer impact, timeline with time to detect and diagnose,\n"
          "root cause with evidence, other hypotheses, 5 whys, what went well,\n"
          "monitoring gaps, action items, questions and lessons learned.\n"
          "\n"
          "Flags:\n"
          "  --format F     md (default), json or html (a self-contained page with graphs)\n"
          "  -o, --output FILE  write the report to FILE instead of stdout\n"
          "  --server URL   API of the running server (default http://127.0.0.1:4320)\n"
          "\n"
          "Exit status: 0 written; 1 server unreachable, unknown id, investigation still\n"
          "running or write error; 2 bad usage.\n",
          f);
}

static int usage_error(const char *fmt_msg, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt_msg, ...)
{
    va_list ap;
    fprintf(stderr, "flywheel report: ");
    va_start(ap, fmt_msg);
    vfprintf(stderr, fmt_msg, ap);
    va_end(ap);
    fprintf(stderr, " (see flywheel report --help)\n");
    return FW_EXIT_USAGE;
}

/* "--name VALUE" or "--name=VALUE"; advances *i. 1 matched, 0 not, -1 missing value. */
static int flag(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

static bool id_ok(const char *id)
{
    size_t n = strnlen(id, 64);
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int fw_cli_report(int argc, char **argv)
{
    const char *id = NULL, *format = "md", *output = NULL, *server = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int m;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_report_help(stdout);
            return FW_EXIT_OK;
        }
        if ((m = flag(argc, argv, &i, "--format", &format)) != 0 ||
            (m = flag(argc, argv, &i, "--output", &output)) != 0 ||
            (m = flag(argc, argv, &i, "-o", &output)) != 0 ||
            (m = flag(argc, argv, &i, "--server", &server)) != 0) {
            if (m < 0)
                return usage_error("%s: missing value", a);
            continue;
        }
        if (a[0] == '-')
            return usage_error("unknown flag '%s'", a);
        if (id)
            return usage_error("unexpected argument '%s'", a);
        id = a;
    }
    if (!id)
        return usage_error("missing investigation ID");
    if (!id_ok(id))
        return usage_error("malformed investigation ID '%s'", id);
    if (strcmp(format, "md") != 0 && strcmp(format, "json") != 0 && strcmp(format, "html") != 0)
        return usage_error("--format: must be md, json or html (got '%s')", format);

    char path[160];
    snprintf(path, sizeof(path), "/api/v1/investigations/%s/report?format=%s", id, format);
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (fw__cli_http_get("report", server, path, &status, &body, &len) != 0)
        return FW_EXIT_STARTUP;
    int rc = FW_EXIT_OK;
    if (status != 200) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, 0, &jerr);
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "flywheel report: server answered %d: %.300s\n", status,
                msg ? msg : (len ? body : "(no body)"));
        json_decref(j);
        rc = FW_EXIT_STARTUP;
        goto out;
    }
    FILE *f = output ? fopen(output, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "flywheel report: cannot open %s: %s\n", output, strerror(errno));
        rc = FW_EXIT_STARTUP;
        goto out;
    }
    bool ok = fwrite(body, 1, len, f) == len;
    ok = (output ? fclose(f) == 0 : fflush(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "flywheel report: cannot write %s: %s\n", output ? output : "stdout",
                strerror(errno));
        rc = FW_EXIT_STARTUP;
    }
out:
    free(body);
    return rc;
}
