/* simulate.c - `flywheel simulate`: flag parsing and the send loop that
 * paces the simulator (fw_sim) in real time or backdates it, ships batches
 * over OTLP/gRPC, announces deployments, and prints the ground truth as one
 * JSON line on stdout. Generation and transport live in investigator/sim. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_internal.h"
#include "flywheel/sim.h"

#define SIM_ARENA_CAP     (256u << 20)
#define SIM_DEFAULT_BATCH 500
#define NS_PER_S          INT64_C(1000000000)

static volatile sig_atomic_t sim_stop; /* set by SIGINT/SIGTERM only */

static void on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

static void print_help(FILE *f)
{
    fputs("Usage: flywheel simulate [flags]\n"
          "\n"
          "Emits OTLP/gRPC traces and logs of a simulated application (services, databases,\n"
          "caches, external APIs, an LLM and Kafka) with injectable faults, either backdated\n"
          "(the history of the last DURATION, sent as fast as possible) or in real time.\n"
          "On exit it prints the ground truth (fault kind, service, dependency, version,\n"
          "onset) as one JSON line on stdout; progress goes to stderr.\n"
          "\n"
          "Flags:\n"
          "  --endpoint HOST:PORT     OTLP/gRPC endpoint (default 127.0.0.1:4317)\n"
          "  --topology NAME          shop (10 services) or rides (11 services); default shop\n"
          "  --rate N                 entry requests per second (default 20)\n"
          "  --backdate DURATION      emit the last DURATION (e.g. 30m) with past event times\n"
          "  --duration DURATION      run in real time for DURATION (default 10m)\n"
          "  --fault KIND:TARGET[@START[+DUR]]\n"
          "                           inject a fault (repeatable). START is the offset from\n"
          "                           the start of the simulated period (default 2/3 of it);\n"
          "                           DUR bounds it (default: until the end). KIND:\n"
          "                             throttling:DEP      e.g. throttling:DynamoDB@20m\n"
          "                             bad-deploy:SVC      new service.version, 25% failures\n"
          "                             bad-deploy-announced:SVC  same, POSTed to --api\n"
          "                             outage:DEP          connection refused\n"
          "                             latency:SVC|DEP     slow service or dependency\n"
          "                             code-error:SVC      exceptions without a change\n"
          "                             silent:SVC          stops emitting; callers time out\n"
          "                             surge:SVC|all       entry traffic x5\n"
          "  --decoys                 add an unrelated deployment near the onset, a burst of\n"
          "                           error noise and a dependency throttling a little\n"
          "  --seed N                 random seed (default 1); same seed, same telemetry\n"
          "  --api URL                flywheel API (http://HOST:PORT) to announce deployments\n"
          "  --batch N                spans per Export request (default 500, 1..10000)\n"
          "  --list                   print the topologies with services and dependencies\n"
          "  --dry-run                generate without sending (prints the ground truth)\n"
          "  -h, --help               this help\n"
          "\n"
          "Exit status: 0 ok, 1 when the endpoint cannot be reached or refuses data,\n"
          "2 on a usage error.\n",
          f);
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
    va_list ap;
    fputs("flywheel simulate: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see flywheel simulate --help)\n", stderr);
    return FW_EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v > (max - (uint64_t)(*s - '0')) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0) return;
    struct timespec ts = {(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
    while (!sim_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int send_batch(fw_sim_client *client, const fw_sim_batch *b, const char *api)
{
    char err[256];
    for (size_t i = 0; i < b->n_announcements; i++) {
        const fw_sim_announcement *a = &b->announcements[i];
        if (!api) continue;
        if (fw_sim_announce_deployment(api, a, err, sizeof err) != 0)
            fprintf(stderr, "flywheel simulate: announcing %s %s: %s\n", a->service, a->version,
                    err);
        else
            fprintf(stderr, "flywheel simulate: announced deployment %s %s\n", a->service,
                    a->version);
    }
    if (!client) return 0;
    if (b->traces && fw_sim_client_export_traces(client, b->traces, err, sizeof err) != 0) {
        fprintf(stderr, "flywheel simulate: export traces: %s\n", err);
        return -1;
    }
    if (b->logs && fw_sim_client_export_logs(client, b->logs, err, sizeof err) != 0) {
        fprintf(stderr, "flywheel simulate: export logs: %s\n", err);
        return -1;
    }
    return 0;
}

static void list_topologies(void)
{
    fputs("shop:  frontend, auth, catalog, cart, checkout, payment, shipping, email (kafka\n"
          "       consumer), recommendation (openai), inventory; dependencies postgresql,\n"
          "       redis, DynamoDB, api.stripe.com, api.sendgrid.com, openai, kafka\n"
          "rides: api-gateway, user-profile, pricing, matching, driver, eta, maps, trip,\n"
          "       payments, fraud (anthropic), notification (kafka consumer); dependencies\n"
          "       mysql, mongodb, redis, DynamoDB, api.mapbox.com, api.braintreegateway.com,\n"
          "       api.twilio.com, anthropic, kafka\n",
          stdout);
}

int fw_cli_simulate(int argc, char **argv)
{
    fw_sim_options opt;
    memset(&opt, 0, sizeof opt);
    opt.seed = 1;
    opt.rate = 20;
    const char *endpoint = "127.0.0.1:4317", *api = NULL;
    int64_t backdate = 0, duration = 10 * 60 * NS_PER_S;
    int dry_run = 0;
    uint64_t batch = SIM_DEFAULT_BATCH;
    char err[256];

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(stdout);
            return FW_EXIT_OK;
        }
        if (!strcmp(a, "--decoys")) {
            opt.decoys = 1;
            continue;
        }
        if (!strcmp(a, "--dry-run")) {
            dry_run = 1;
            continue;
        }
        if (!strcmp(a, "--list")) {
            list_topologies();
            return FW_EXIT_OK;
        }
        if (strncmp(a, "--", 2) != 0) return usage("unexpected argument '%s'", a);
        char name[32];
        const char *eq = strchr(a, '='), *v;
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return usage("unknown flag '%s'", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        static const char *const value_flags[] = {"--endpoint", "--api",      "--topology",
                                                  "--rate",     "--seed",     "--batch",
                                                  "--backdate", "--duration", "--fault"};
        size_t f;
        for (f = 0; f < sizeof value_flags / sizeof value_flags[0]; f++)
            if (!strcmp(name, value_flags[f])) break;
        if (f == sizeof value_flags / sizeof value_flags[0]) return usage("unknown flag '%s'", a);
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) return usage("flag '%s' needs a value", a);
            v = argv[++i];
        }
        uint64_t u;
        if (!strcmp(name, "--endpoint")) {
            endpoint = v;
        } else if (!strcmp(name, "--api")) {
            api = v;
        } else if (!strcmp(name, "--topology")) {
            opt.topology = v;
        } else if (!strcmp(name, "--rate")) {
            if (parse_u64(v, 100000, &u) != 0 || u == 0)
                return usage("--rate: bad value '%s' (1..100000)", v);
            opt.rate = (double)u;
        } else if (!strcmp(name, "--seed")) {
            if (parse_u64(v, UINT64_MAX, &u) != 0) return usage("--seed: bad value '%s'", v);
            opt.seed = u;
        } else if (!strcmp(name, "--batch")) {
            if (parse_u64(v, 10000, &u) != 0 || u == 0)
                return usage("--batch: bad value '%s' (1..10000)", v);
            batch = u;
        } else if (!strcmp(name, "--backdate")) {
            if (fw_sim_duration_parse(v, &backdate) != 0 || backdate <= 0)
                return usage("--backdate: bad duration '%s' (e.g. 30m)", v);
        } else if (!strcmp(name, "--duration")) {
            if (fw_sim_duration_parse(v, &duration) != 0 || duration <= 0)
                return usage("--duration: bad duration '%s' (e.g. 10m)", v);
        } else if (!strcmp(name, "--fault")) {
            if (opt.n_faults == FW_SIM_MAX_FAULTS)
                return usage("too many faults (at most %d)", FW_SIM_MAX_FAULTS);
            if (fw_sim_fault_parse(v, &opt.faults[opt.n_faults], err, sizeof err) != 0)
                return usage("--fault: %s", err);
            opt.n_faults++;
        } else {
            return usage("unknown flag '%s'", a);
        }
    }

    /* backdated: the period ends 30 s ago so that the slowest traces end by now */
    int64_t wall = now_ns(CLOCK_REALTIME);
    opt.duration_ns = backdate ? backdate : duration;
    opt.start_unix_ns = backdate ? wall - backdate - 30 * NS_PER_S : wall;

    fw_sim *sim = NULL;
    int rv = fw_sim_new(&opt, &sim, err, sizeof err);
    if (rv == FW_ERR_INVALID) return usage("%s", err);
    if (rv) {
        fprintf(stderr, "flywheel simulate: %s\n", fw_strerror(rv));
        return FW_EXIT_STARTUP;
    }
    fw_arena *arena = fw_arena_new(SIM_ARENA_CAP);
    fw_sim_client *client = NULL;
    int status = FW_EXIT_OK;
    if (!arena) {
        fprintf(stderr, "flywheel simulate: out of memory\n");
        status = FW_EXIT_STARTUP;
        goto out;
    }
    if (!dry_run && fw_sim_client_connect(endpoint, &client, err, sizeof err) != 0) {
        fprintf(stderr, "flywheel simulate: %s\n", err);
        status = FW_EXIT_STARTUP;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    fprintf(stderr, "flywheel simulate: %s, %.0f req/s, %s %" PRId64 " s -> %s\n",
            opt.topology ? opt.topology : "shop", opt.rate, backdate ? "backdated" : "real time",
            opt.duration_ns / NS_PER_S, dry_run ? "(dry run)" : endpoint);
    int64_t mono0 = now_ns(CLOCK_MONOTONIC), last_report = mono0;
    for (;;) {
        if (sim_stop) break;
        int64_t until = backdate ? opt.duration_ns : now_ns(CLOCK_MONOTONIC) - mono0;
        fw_sim_batch b;
        rv = fw_sim_next_batch(sim, until, (size_t)batch, arena, &b);
        if (rv) {
            fprintf(stderr, "flywheel simulate: generation: %s\n", fw_strerror(rv));
            status = FW_EXIT_STARTUP;
            break;
        }
        if (!dry_run && send_batch(client, &b, api) != 0) {
            status = FW_EXIT_STARTUP;
            break;
        }
        fw_arena_reset(arena);
        if (b.done) break;
        int64_t m = now_ns(CLOCK_MONOTONIC);
        if (m - last_report >= 5 * NS_PER_S) {
            fw_sim_totals t;
            fw_sim_get_totals(sim, &t);
            fprintf(stderr,
                    "flywheel simulate: %" PRId64 "/%" PRId64 " s simulated, %" PRIu64
                    " spans, %" PRIu64 " logs sent\n",
                    b.reached_ns / NS_PER_S, opt.duration_ns / NS_PER_S, t.spans, t.logs);
            last_report = m;
        }
        if (!backdate && b.n_spans < (size_t)batch) sleep_ns(NS_PER_S / 5);
    }
    {
        fw_sim_totals t;
        fw_sim_get_totals(sim, &t);
        fprintf(stderr,
                "flywheel simulate: done: %" PRIu64 " traces, %" PRIu64 " spans, %" PRIu64
                " logs in %.1f s\n",
                t.traces, t.spans, t.logs, (double)(now_ns(CLOCK_MONOTONIC) - mono0) / 1e9);
    }
    char truth[4096];
    fw_sim_ground_truth_json(sim, truth, sizeof truth);
    printf("%s\n", truth);
    fflush(stdout);
out:
    fw_sim_client_free(client);
    fw_arena_free(arena);
    fw_sim_free(sim);
    return status;
}
