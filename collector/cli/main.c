/* main.c - the flywheel command line: subcommand dispatch, `serve` flag
 * parsing (file first, then flags, whatever their order) and --help.
 * Owns argv handling only; running the collector is serve.c's job.
 * Exit statuses: 0 ok, 1 startup error, 2 usage error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli_internal.h"
#include "flywheel/config.h"

/* A `serve` flag with a value, and the config key it sets. */
typedef struct serve_flag {
    const char *name; /* without the leading "--" */
    const char *key;  /* NULL: handled specially (--config, --set) */
    const char *arg;
    const char *help;
} serve_flag;

static const serve_flag serve_flags[] = {
    {"config", NULL, "FILE", "YAML configuration file; flags override it"},
    {"grpc-listen", "otlp_grpc.listen", "ADDR", "OTLP/gRPC listener, HOST:PORT (0 = free port)"},
    {"http-listen", "otlp_http.listen", "ADDR", "OTLP/HTTP listener, HOST:PORT (0 = free port)"},
    {"api-listen", "api.listen", "ADDR", "API listener, HOST:PORT (0 = free port)"},
    {"data-dir", "storage.data_dir", "DIR", "state directory (default ./flywheel-data)"},
    {"log-level", "log.level", "LEVEL", "debug, info, warn, error or off"},
    {"log-format", "log.format", "FORMAT", "logfmt or json"},
    {"workers", "server.workers", "N", "worker threads (0 = one per online CPU)"},
    {"set", NULL, "KEY=VALUE", "set any configuration key listed below"},
};

#define N_SERVE_FLAGS (sizeof serve_flags / sizeof serve_flags[0])

static void print_usage(FILE *f)
{
    fputs("flywheel " FW_VERSION " - OpenTelemetry (OTLP) collector for traces and logs\n"
          "\n"
          "Usage:\n"
          "  flywheel serve [--config FILE] [flags]   run the collector\n"
          "  flywheel investigate --service S [...]   start an investigation on a server\n"
          "  flywheel investigations [ID]             list investigations, or show one\n"
          "  flywheel report ID [--format md|json|html] draft incident report of an investigation\n"
          "  flywheel slo list|get|create|delete      SLOs of a server (status, budget, burn rates)\n"
          "  flywheel simulate [flags]                emit telemetry of a simulated app with faults\n"
          "  flywheel version                         print the version\n"
          "  flywheel --help | flywheel CMD --help    explain a command and its flags\n",
          f);
}

static void print_serve_help(FILE *f)
{
    fputs("Usage: flywheel serve [--config FILE] [flags]\n"
          "\n"
          "Runs the collector: OTLP/gRPC, OTLP/HTTP and API listeners. Once every listener\n"
          "is bound it prints one line per listener on stdout, e.g.\n"
          "  listening otlp-grpc 127.0.0.1:4317\n"
          "and runs until SIGINT or SIGTERM, then lets in-flight requests finish\n"
          "(server.shutdown_grace) and exits 0. Logs go to stderr.\n"
          "\n"
          "Flags (the file is read first; flags override it, in any order):\n",
          f);
    for (size_t i = 0; i < N_SERVE_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", serve_flags[i].name, serve_flags[i].arg);
        fprintf(f, "  %-26s %s\n", left, serve_flags[i].help);
    }
    fputs("  --print-config             print the effective configuration as YAML and exit\n"
          "  -h, --help                 this help\n"
          "\n"
          "Configuration keys (YAML: nested sections, e.g. otlp_grpc: {listen: ...};\n"
          "flags: --set otlp_grpc.listen=0.0.0.0:4317). SIZE accepts 512KiB, 20MiB, 1GiB or\n"
          "bytes; DURATION accepts 15s, 30m, 2h, 1h30m or seconds.\n",
          f);
    fw_config_print_help(f);
    fputs("\nExit status: 0 after a clean shutdown, 1 on a startup error (configuration,\n"
          "port in use, storage), 2 on a usage error.\n",
          f);
}

static const serve_flag *find_flag(const char *name, size_t n)
{
    for (size_t i = 0; i < N_SERVE_FLAGS; i++)
        if (strlen(serve_flags[i].name) == n && memcmp(serve_flags[i].name, name, n) == 0)
            return &serve_flags[i];
    return NULL;
}

/* One parsed "--name value" / "--name=value". */
typedef struct flag_arg {
    const serve_flag *flag;
    const char *value;
} flag_arg;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("flywheel serve: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see flywheel serve --help)\n", stderr);
    return FW_EXIT_USAGE;
}

/* Applies one flag to |c|. Returns 0 or an exit status. */
static int apply_flag(fw_config *c, const flag_arg *a)
{
    char err[640];
    const char *key = a->flag->key, *value = a->value;
    char keybuf[128];
    if (!key) { /* --set KEY=VALUE */
        const char *eq = strchr(a->value, '=');
        if (!eq || eq == a->value)
            return usage_error("--set expects KEY=VALUE, got '%s'", a->value);
        size_t kn = (size_t)(eq - a->value);
        if (kn >= sizeof keybuf) return usage_error("--set: key too long in '%.100s'", a->value);
        memcpy(keybuf, a->value, kn);
        keybuf[kn] = '\0';
        key = keybuf;
        value = eq + 1;
    }
    if (fw_config_set(c, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "flywheel serve: --%s: %s\n", a->flag->name, err);
        return FW_EXIT_USAGE;
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    flag_arg args[64];
    size_t n_args = 0;
    const char *config_file = NULL;
    int print_config = 0, rv;
    char err[640];

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_serve_help(stdout);
            return FW_EXIT_OK;
        }
        if (strcmp(a, "--print-config") == 0) {
            print_config = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return usage_error("unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nn = eq ? (size_t)(eq - name) : strlen(name);
        const serve_flag *fl = find_flag(name, nn);
        if (!fl) return usage_error("unknown flag '%s'", a);
        const char *value;
        if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error("flag '%s' needs a value", a);
            value = argv[++i];
        }
        if (!fl->key && strcmp(fl->name, "config") == 0) {
            config_file = value;
            continue;
        }
        if (n_args == sizeof args / sizeof args[0]) return usage_error("too many flags");
        args[n_args++] = (flag_arg){fl, value};
    }

    fw_config cfg;
    fw_config_defaults(&cfg);
    if (config_file && (rv = fw_config_load_file(&cfg, config_file, err, sizeof err)) != 0) {
        fprintf(stderr, "flywheel serve: %s\n", err);
        return FW_EXIT_STARTUP;
    }
    for (size_t i = 0; i < n_args; i++)
        if ((rv = apply_flag(&cfg, &args[i])) != 0) return rv;
    if (fw_config_validate(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "flywheel serve: invalid configuration: %s\n", err);
        return FW_EXIT_STARTUP;
    }
    if (print_config) {
        fw_config_dump(&cfg, stdout);
        return fflush(stdout) == 0 ? FW_EXIT_OK : FW_EXIT_STARTUP;
    }
    return fw_cli_serve_run(&cfg);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return FW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2 && strcmp(argv[2], "serve") == 0)
            print_serve_help(stdout);
        else
            print_usage(stdout);
        return FW_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("flywheel %s\n", FW_VERSION);
        return FW_EXIT_OK;
    }
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "investigate") == 0) return fw_cli_investigate(argc - 2, argv + 2);
    if (strcmp(cmd, "investigations") == 0) return fw_cli_investigations(argc - 2, argv + 2);
    if (strcmp(cmd, "simulate") == 0) return fw_cli_simulate(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0) return fw_cli_report(argc - 2, argv + 2);
    if (strcmp(cmd, "slo") == 0) return fw_cli_slo(argc - 2, argv + 2);
    fprintf(stderr, "flywheel: unknown command '%s' (see flywheel --help)\n", cmd);
    return FW_EXIT_USAGE;
}
