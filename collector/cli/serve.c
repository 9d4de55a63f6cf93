/* serve.c - `flywheel serve`: builds the object graph from a validated
 * config (log, stats, dictionary, throttle rules, RED, topology, store,
 * pipeline, ingest, api, server), prints the
 * "listening NAME HOST:PORT" lines, waits for SIGINT/SIGTERM and tears
 * everything down in reverse order. Owns process signals and the data dir;
 * never parses telemetry itself. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_internal.h"
#include "flywheel/api.h"
#include "flywheel/auth.h"
#include "flywheel/deploy.h"
#include "flywheel/ingest.h"
#include "flywheel/intern.h"
#include "flywheel/investigations.h"
#include "flywheel/log.h"
#include "flywheel/patterns.h"
#include "flywheel/pipeline.h"
#include "flywheel/red.h"
#include "flywheel/membudget.h"
#include "flywheel/semconv.h"
#include "flywheel/server.h"
#include "flywheel/slo.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"
#include "flywheel/topo.h"
#include "flywheel/wal.h"

/* Store partitions (power of two): spreads writers of different traces
 * over independent locks. */
#define SERVE_STORE_PARTITIONS 16u
/* Shares of storage.memory_limit: requests in flight take
 * storage.inflight_memory (default a fifth); of the rest, RED and the
 * dictionary take these percentages and the span/log store the remainder.
 * RED keeps 10 s buckets per series; the dictionary holds service,
 * operation and attribute strings. */
#define SERVE_INFLIGHT_DEFAULT_DIV 5u
#define SERVE_RED_MEMORY_PCT 15u
#define SERVE_INTERN_MEMORY_PCT 5u
/* RED series cap (spanmetrics-style label cardinality bound). */
#define SERVE_RED_MAX_SERIES 20000u
/* Topology: how long a client span waits for its server child, and bounds. */
#define SERVE_TOPO_JOIN_WAIT_NS (30ull * 1000000000ull)
#define SERVE_TOPO_MAX_PENDING 200000u
#define SERVE_TOPO_MAX_NODES 10000u
#define SERVE_TOPO_MAX_EDGES 50000u
/* How often SLOs are evaluated for burn-rate alerts. */
#define SERVE_SLO_EVAL_S 10u
/* Retry-After / RetryInfo seconds suggested to clients on overload. */
#define SERVE_RETRY_AFTER_S 5u
/* Upper bound on worker threads when server.workers = 0. */
#define SERVE_MAX_AUTO_WORKERS 64L

/* Request bodies, inflated copies and decode arenas are large, short-lived
 * allocations. glibc raises its mmap threshold each time such a block is
 * freed, after which they come from the heap and their pages stay with
 * the process: RSS would drift far above the in-flight budget. A fixed
 * threshold keeps them mmap'ed (returned on free); smaller blocks keep
 * the heap. */
#define SERVE_MMAP_THRESHOLD (256 * 1024)

static void tune_allocator(void)
{
#ifdef __GLIBC__
    if (mallopt(M_MMAP_THRESHOLD, SERVE_MMAP_THRESHOLD) != 1)
        fw_log(FW_LOG_WARN, "serve", "mallopt(M_MMAP_THRESHOLD) failed; RSS may exceed the budget");
#endif
}

/* mkdir -p |path| with mode 0750. Returns 0 or -1 with errno set. */
static int mkdir_p(const char *path)
{
    char p[FW_CONFIG_STR_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST) return -1;
        p[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static unsigned resolve_workers(uint64_t configured)
{
    if (configured > 0) return (unsigned)configured;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > SERVE_MAX_AUTO_WORKERS) n = SERVE_MAX_AUTO_WORKERS;
    return (unsigned)n;
}

static const char *nonempty(const char *s)
{
    return s[0] ? s : NULL;
}

static void listener_from(fw_listener_config *l, const char *name, const fw_listener_settings *s,
                          bool h1, bool h2, fw_http_handler handler)
{
    memset(l, 0, sizeof *l);
    l->name = name;
    l->addr = s->listen;
    l->tls.cert_file = nonempty(s->tls_cert_file);
    l->tls.key_file = nonempty(s->tls_key_file);
    l->tls.client_ca_file = nonempty(s->tls_client_ca_file);
    l->tls.allow_h1 = h1;
    l->tls.allow_h2 = h2;
    l->allow_h1 = h1;
    l->allow_h2 = h2;
    l->handler = handler;
}


/* Copies |src| into |dst| (size |n| >= 1), truncating. */
static void copy_trunc(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* An SLO started burning its budget too fast: investigate its scope. */
static void on_slo_alert(void *ctx, const fw_slo_def *def, const fw_slo_status *st)
{
    (void)st;
    fw_investigations *inv = ctx;
    fw_inv_request req;
    memset(&req, 0, sizeof req);
    copy_trunc(req.service, sizeof req.service, def->service);
    copy_trunc(req.operation, sizeof req.operation, def->operation);
    copy_trunc(req.trigger_kind, sizeof req.trigger_kind, "slo");
    copy_trunc(req.trigger_name, sizeof req.trigger_name, def->name[0] ? def->name : def->id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    req.alarm_at_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    char key[FW_INV_NAME_MAX + 8], id[FW_INV_ID_MAX];
    memcpy(key, "slo/", 4);
    copy_trunc(key + 4, sizeof key - 4, def->id);
    bool started = false;
    int rv = fw_investigations_start(inv, &req, key, id, &started);
    if (rv)
        fw_log(FW_LOG_WARN, "serve", "slo %s: investigation not started: %s", def->id,
               fw_strerror(rv));
    else if (started)
        fw_log(FW_LOG_INFO, "serve", "slo %s is burning its error budget: investigation %s",
               def->id, id);
}

/* Adds the configured throttling types and phrases (comma-separated) to
 * the default rule set. 0 or a negative fw_err after printing why. */
/* The bearer tokens of SPEC 3.1, resolved from auth.* (inline or file);
 * heap-held and wiped after the listeners copied them. */
typedef struct serve_tokens {
    char ingest[FW_AUTH_TOKEN_MAX + 1];
    char read[FW_AUTH_TOKEN_MAX + 1];
    char write[FW_AUTH_TOKEN_MAX + 1];
} serve_tokens;

static void free_tokens(serve_tokens *t)
{
    if (!t) return;
    explicit_bzero(t, sizeof *t);
    free(t);
}

static int load_tokens(const fw_config *cfg, serve_tokens **out)
{
    char err[256];
    serve_tokens *t = calloc(1, sizeof *t);
    if (!t) return FW_ERR_NOMEM;
    const struct {
        const char *key, *value, *file;
        char *dst;
    } k[3] = {
        {"auth.ingest_token", cfg->auth_ingest_token, cfg->auth_ingest_token_file, t->ingest},
        {"auth.read_token", cfg->auth_read_token, cfg->auth_read_token_file, t->read},
        {"auth.write_token", cfg->auth_write_token, cfg->auth_write_token_file, t->write},
    };
    for (size_t i = 0; i < 3; i++) {
        if (fw_auth_token_load(k[i].value, k[i].file, k[i].dst, FW_AUTH_TOKEN_MAX + 1, err,
                               sizeof err) != 0) {
            fprintf(stderr, "flywheel serve: %s: %s\n", k[i].key, err);
            free_tokens(t);
            return FW_ERR_CONFIG;
        }
    }
    fw_log(FW_LOG_INFO, "auth", "bearer tokens: ingest=%s read=%s write=%s",
           t->ingest[0] ? "on" : "off", t->read[0] ? "on" : "off", t->write[0] ? "on" : "off");
    *out = t;
    return 0;
}

/* Opens <data_dir>/wal per storage.wal*; *out stays NULL when it is off. */
static int open_wal(const fw_config *cfg, uint64_t retention_ns, fw_wal **out)
{
    char dir[FW_CONFIG_STR_MAX + 8], err[512];
    *out = NULL;
    if (strcmp(cfg->wal, "off") == 0) {
        fw_log(FW_LOG_WARN, "serve", "storage.wal is off: telemetry is lost on restart");
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/wal", cfg->data_dir);
    fw_wal_config wc = {
        .dir = dir,
        .segment_bytes = cfg->wal_segment_bytes,
        .fsync = strcmp(cfg->wal_fsync, "always") == 0  ? FW_WAL_FSYNC_ALWAYS
                 : strcmp(cfg->wal_fsync, "never") == 0 ? FW_WAL_FSYNC_NEVER
                                                        : FW_WAL_FSYNC_INTERVAL,
        .fsync_interval_ns = cfg->wal_fsync_interval_ms * UINT64_C(1000000),
        .retention_ns = retention_ns,
        .max_bytes = cfg->wal_max_bytes ? cfg->wal_max_bytes : 2 * cfg->memory_limit_bytes,
    };
    int rv = fw_wal_open(&wc, out, err, sizeof err);
    if (rv) fprintf(stderr, "flywheel serve: write-ahead log: %s\n", err);
    return rv;
}

typedef struct serve_replay {
    fw_ingest *ingest;
    uint64_t ok, failed;
} serve_replay;

static void replay_one(void *ctx, const fw_wal_record *rec)
{
    serve_replay *r = ctx;
    if (fw_ingest_replay(r->ingest, rec) == 0)
        r->ok++;
    else
        r->failed++;
}

/* Rebuilds store, RED, topology and patterns from the log, before any
 * listener opens; then starts appending to a fresh segment. */
static int replay_wal(fw_wal *wal, fw_ingest *ingest, fw_pipeline *pipeline)
{
    if (!wal) return 0;
    serve_replay r = {.ingest = ingest};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    int rv = fw_wal_replay(wal, now_ns, replay_one, &r);
    if (rv) {
        fprintf(stderr, "flywheel serve: write-ahead log replay: %s\n", fw_strerror(rv));
        return rv;
    }
    fw_pipeline_tick(pipeline, now_ns);
    fw_log(FW_LOG_INFO, "serve", "write-ahead log replayed: requests=%llu refused=%llu",
           (unsigned long long)r.ok, (unsigned long long)r.failed);
    return 0;
}

static int add_throttle_rules(fw_throttle_rules *rules, const fw_config *cfg)
{
    const struct {
        const char *list, *key;
        unsigned fields;
        fw_throttle_kind kind;
    } sources[] = {
        {cfg->throttle_exception_types, "throttling.exception_types", FW_THROTTLE_F_TYPES,
         FW_THROTTLE_EQUALS},
        {cfg->throttle_messages, "throttling.messages", FW_THROTTLE_F_MESSAGES,
         FW_THROTTLE_CONTAINS},
    };
    for (size_t s = 0; s < sizeof sources / sizeof sources[0]; s++) {
        const char *p = sources[s].list;
        while (*p) {
            while (*p == ',' || *p == ' ') p++;
            const char *end = p;
            while (*end && *end != ',') end++;
            const char *last = end;
            while (last > p && last[-1] == ' ') last--;
            size_t len = (size_t)(last - p);
            if (len) {
                char pattern[FW_THROTTLE_MAX_PATTERN + 1];
                const char *why = NULL;
                int rv = FW_ERR_TOO_LARGE;
                if (len <= FW_THROTTLE_MAX_PATTERN) {
                    memcpy(pattern, p, len);
                    pattern[len] = '\0';
                    rv = fw_throttle_rules_add(rules, sources[s].fields, sources[s].kind,
                                               pattern, &why);
                }
                if (rv) {
                    fprintf(stderr, "flywheel serve: %s: \"%.*s\": %s\n", sources[s].key,
                            (int)(len > 64 ? 64 : len), p, why ? why : fw_strerror(rv));
                    return rv;
                }
            }
            p = end;
        }
    }
    return 0;
}

int fw_cli_serve_run(const fw_config *cfg)
{
    int status = FW_EXIT_STARTUP, rv, sig = 0;
    char err[512];
    fw_stats *stats = NULL;
    fw_intern *intern = NULL;
    fw_throttle_rules *rules = NULL;
    fw_red *red = NULL;
    fw_topo *topo = NULL;
    fw_deploy_store *deploy = NULL;
    fw_patterns *patterns = NULL;
    fw_investigations *investigations = NULL;
    fw_slos *slos = NULL;
    fw_store *store = NULL;
    fw_pipeline *pipeline = NULL;
    fw_ingest *ingest = NULL;
    fw_api *api = NULL;
    fw_server *server = NULL;
    fw_wal *wal = NULL;
    fw_membudget budget; /* requests in flight (storage.inflight_memory) */
    sigset_t stop_signals;
    unsigned workers = resolve_workers(cfg->workers);
    uint64_t retention_ns = cfg->retention_s * UINT64_C(1000000000);

    fw_log_setup(cfg->log_level, cfg->log_format);
    tune_allocator();

    if (mkdir_p(cfg->data_dir) != 0) {
        fprintf(stderr, "flywheel serve: storage.data_dir %s: %s\n", cfg->data_dir,
                strerror(errno));
        goto fail_early;
    }

    stats = calloc(1, sizeof *stats);
    if (!stats) {
        fprintf(stderr, "flywheel serve: out of memory\n");
        goto fail_early;
    }
    fw_stats_init(stats);

    size_t inflight = cfg->inflight_memory_bytes
                          ? (size_t)cfg->inflight_memory_bytes
                          : (size_t)cfg->memory_limit_bytes / SERVE_INFLIGHT_DEFAULT_DIV;
    fw_membudget_init(&budget, inflight);
    size_t memory = (size_t)cfg->memory_limit_bytes - inflight; /* telemetry's share */
    if ((rv = fw_intern_new(memory / 100u * SERVE_INTERN_MEMORY_PCT, &intern)) != 0) {
        fprintf(stderr, "flywheel serve: dictionary: %s\n", fw_strerror(rv));
        goto fail_stats;
    }
    if ((rv = fw_throttle_rules_new_default(&rules)) != 0) {
        fprintf(stderr, "flywheel serve: throttle rules: %s\n", fw_strerror(rv));
        goto fail_intern;
    }
    if ((rv = add_throttle_rules(rules, cfg)) != 0) goto fail_rules;
    fw_red_config red_cfg = {
        .retention_ns = retention_ns,
        .max_series = SERVE_RED_MAX_SERIES,
        .memory_limit = memory / 100u * SERVE_RED_MEMORY_PCT,
        .partitions = SERVE_STORE_PARTITIONS,
    };
    if ((rv = fw_red_new(&red_cfg, &red)) != 0) {
        fprintf(stderr, "flywheel serve: red: %s\n", fw_strerror(rv));
        goto fail_rules;
    }
    fw_topo_config topo_cfg = {
        .join_wait_ns = SERVE_TOPO_JOIN_WAIT_NS,
        .max_pending = SERVE_TOPO_MAX_PENDING,
        .max_nodes = SERVE_TOPO_MAX_NODES,
        .max_edges = SERVE_TOPO_MAX_EDGES,
        .partitions = SERVE_STORE_PARTITIONS,
    };
    if ((rv = fw_topo_new(&topo_cfg, intern, red, &topo)) != 0) {
        fprintf(stderr, "flywheel serve: topology: %s\n", fw_strerror(rv));
        goto fail_red;
    }

    if ((rv = fw_deploy_open(cfg->data_dir, &deploy, err, sizeof err)) != 0) {
        fprintf(stderr, "flywheel serve: deployments: %s\n", err);
        goto fail_topo;
    }

    fw_patterns_config patterns_cfg = {.retention_ns = retention_ns};
    if ((rv = fw_patterns_new(&patterns_cfg, &patterns)) != 0) {
        fprintf(stderr, "flywheel serve: log patterns: %s\n", fw_strerror(rv));
        goto fail_deploy;
    }

    fw_store_config store_cfg = {
        .intern = intern,
        .max_spans = (size_t)cfg->store_max_spans,
        .max_logs = (size_t)cfg->store_max_logs,
        .memory_limit = memory / 100u * (100u - SERVE_RED_MEMORY_PCT - SERVE_INTERN_MEMORY_PCT),
        .retention_ns = retention_ns,
        .partitions = SERVE_STORE_PARTITIONS,
    };
    if ((rv = fw_store_new(&store_cfg, &store)) != 0) {
        fprintf(stderr, "flywheel serve: store: %s\n", fw_strerror(rv));
        goto fail_patterns;
    }
    fw_pipeline_config pipeline_cfg = {
        .retention_ns = retention_ns,
        .intern = intern,
        .red = red,
        .topo = topo,
        .throttle_rules = rules,
        .partitions = SERVE_STORE_PARTITIONS,
        .deploy = deploy,
        .patterns = patterns,
    };
    if ((rv = fw_pipeline_new(&pipeline_cfg, store, stats, &pipeline)) != 0) {
        fprintf(stderr, "flywheel serve: pipeline: %s\n", fw_strerror(rv));
        goto fail_store;
    }
    fw_inv_sources inv_src = {.store = store, .red = red, .topo = topo, .intern = intern,
                              .deploy = deploy, .patterns = patterns, .throttle_rules = rules};
    if ((rv = fw_investigations_open(cfg->data_dir, &inv_src, &investigations, err, sizeof err)) !=
        0) {
        fprintf(stderr, "flywheel serve: investigations: %s\n", err);
        goto fail_pipeline;
    }
    fw_slo_config slo_cfg = {.red = red, .intern = intern, .retention_ns = retention_ns};
    if ((rv = fw_slo_open(cfg->data_dir, &slo_cfg, &slos, err, sizeof err)) != 0) {
        fprintf(stderr, "flywheel serve: slos: %s\n", err);
        goto fail_investigations;
    }
    if ((rv = open_wal(cfg, retention_ns, &wal)) != 0) goto fail_slos;
    serve_tokens *tok = NULL;
    if ((rv = load_tokens(cfg, &tok)) != 0) goto fail_wal;
    fw_ingest_config ingest_cfg = {
        .http_max_body = (size_t)cfg->http_max_body_bytes,
        .grpc_max_msg = (size_t)cfg->grpc_max_recv_msg_bytes,
        .retry_after_s = SERVE_RETRY_AFTER_S,
        .auth_token = tok->ingest,
        .wal = wal,
        .budget = &budget,
    };
    if ((rv = fw_ingest_new(&ingest_cfg, pipeline, stats, &ingest)) != 0) {
        fprintf(stderr, "flywheel serve: ingest: %s\n", fw_strerror(rv));
        free_tokens(tok);
        goto fail_wal;
    }
    fw_api_config api_cfg = {
        .max_body = (size_t)cfg->api_max_body_bytes,
        .retention_ns = retention_ns,
        .read_token = tok->read,
        .write_token = tok->write,
    };
    rv = fw_api_new(&api_cfg, store, stats, &api);
    free_tokens(tok); /* ingest and api hold their own copies */
    if (rv != 0) {
        fprintf(stderr, "flywheel serve: api: %s\n", fw_strerror(rv));
        goto fail_ingest;
    }
    fw_api_set_analytics(api, red, topo, intern);
    fw_api_set_deployments(api, deploy);
    fw_api_set_patterns(api, patterns);
    fw_api_set_investigations(api, investigations);
    fw_api_set_slos(api, slos);
    fw_api_set_wal(api, wal);
    fw_api_set_inflight(api, &budget);
    if ((rv = replay_wal(wal, ingest, pipeline)) != 0) goto fail_api;

    fw_server_config server_cfg;
    memset(&server_cfg, 0, sizeof server_cfg);
    /* SPEC 3: gRPC is HTTP/2 only; OTLP/HTTP and the API speak both. */
    listener_from(&server_cfg.listeners[0], "otlp-grpc", &cfg->grpc, false, true,
                  fw_ingest_grpc_handler(ingest));
    listener_from(&server_cfg.listeners[1], "otlp-http", &cfg->http, true, true,
                  fw_ingest_http_handler(ingest));
    listener_from(&server_cfg.listeners[2], "api", &cfg->api, true, true, fw_api_handler(api));
    server_cfg.n_listeners = 3;
    server_cfg.workers = workers;
    server_cfg.max_connections = (unsigned)cfg->max_connections;
    server_cfg.idle_timeout_s = (unsigned)cfg->idle_timeout_s;
    server_cfg.header_timeout_s = (unsigned)cfg->header_timeout_s;
    server_cfg.h2_max_concurrent_streams = (uint32_t)cfg->h2_max_concurrent_streams;

    /* Block the stop signals before any thread exists, so that every
     * thread inherits the mask and only sigwait() below sees them;
     * a peer closing a socket must not kill the process. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if ((rv = pthread_sigmask(SIG_BLOCK, &stop_signals, NULL)) != 0) {
        fprintf(stderr, "flywheel serve: pthread_sigmask: %s\n", strerror(rv));
        goto fail_api;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit makes a WAL write fail (503), not kill the process. */
    signal(SIGXFSZ, SIG_IGN);

    err[0] = '\0';
    if ((rv = fw_server_new(&server_cfg, &server, err, sizeof err)) != 0) {
        fprintf(stderr, "flywheel serve: %s\n", err[0] ? err : fw_strerror(rv));
        goto fail_api;
    }
    fw_api_set_server(api, server);
    if ((rv = fw_server_start(server)) != 0) {
        fprintf(stderr, "flywheel serve: starting workers: %s\n", fw_strerror(rv));
        goto fail_server;
    }

    /* SPEC 7: one line per listener on stdout once all are bound. */
    for (size_t i = 0; i < server_cfg.n_listeners; i++) {
        const char *bound = fw_server_bound_addr(server, i);
        printf("listening %s %s\n", server_cfg.listeners[i].name, bound ? bound : "?");
    }
    fflush(stdout);
    fw_log(FW_LOG_INFO, "serve",
           "started version=%s workers=%u otlp_grpc=%s otlp_http=%s api=%s data_dir=%s", FW_VERSION,
           workers, fw_server_bound_addr(server, 0), fw_server_bound_addr(server, 1),
           fw_server_bound_addr(server, 2), cfg->data_dir);
    fw_api_set_ready(api, true);

    uint64_t last_slo_eval_ns = 0;
    /* Wait for a stop signal; once a second run the housekeeping that
     * must not depend on telemetry arriving (topology join waits, expiry). */
    for (;;) {
        struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
        sig = sigtimedwait(&stop_signals, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) break;
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            fprintf(stderr, "flywheel serve: sigtimedwait: %s\n", strerror(errno));
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        fw_pipeline_tick(pipeline, now_ns);
        /* SLO burn-rate alerting (SPEC 6): a newly alerting SLO starts an
         * investigation; evaluated every SERVE_SLO_EVAL_S seconds. */
        if (now_ns - last_slo_eval_ns >= SERVE_SLO_EVAL_S * 1000000000ull) {
            last_slo_eval_ns = now_ns;
            (void)fw_slo_evaluate_all(slos, now_ns, on_slo_alert, investigations);
        }
    }
    fw_log(FW_LOG_INFO, "serve", "stopping signal=%s grace_s=%llu",
           sig == SIGINT    ? "SIGINT"
           : sig == SIGTERM ? "SIGTERM"
                            : "none",
           (unsigned long long)cfg->shutdown_grace_s);
    fw_api_set_ready(api, false);
    uint64_t grace_ms = cfg->shutdown_grace_s * 1000u;
    fw_server_stop(server, grace_ms > UINT_MAX ? UINT_MAX : (unsigned)grace_ms);
    fw_log(FW_LOG_INFO, "serve", "stopped");
    status = FW_EXIT_OK;

fail_server:
    fw_server_free(server);
fail_api:
    fw_api_free(api);
fail_ingest:
    fw_ingest_free(ingest);
fail_wal:
    fw_wal_close(wal);
fail_slos:
    fw_slo_close(slos);
fail_investigations:
    fw_investigations_close(investigations);
fail_pipeline:
    fw_pipeline_free(pipeline);
fail_store:
    fw_store_free(store);
fail_patterns:
    fw_patterns_free(patterns);
fail_deploy:
    fw_deploy_close(deploy);
fail_topo:
    fw_topo_free(topo);
fail_red:
    fw_red_free(red);
fail_rules:
    fw_throttle_rules_free(rules);
fail_intern:
    fw_intern_free(intern);
fail_stats:
    free(stats);
fail_early:
    return status;
}
