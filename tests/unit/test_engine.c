/* test_engine.c - the investigation engine: change-point detection on
 * synthetic series, the score arithmetic, and whole investigations over a
 * simulated shop (frontend -> checkout -> PostgreSQL / DynamoDB, frontend ->
 * catalog) fed through a real pipeline into store, RED, topology and
 * deployments, with decoys (an unrelated deployment at the onset,
 * background errors, a throttled dependency at a steady rate): the rank-1
 * cause and component are asserted from the parsed JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flywheel/deploy.h"
#include "flywheel/intern.h"
#include "flywheel/investigate.h"
#include "flywheel/patterns.h"
#include "flywheel/pipeline.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/topo.h"

#include "../../investigator/engine/engine_internal.h"

#define SEC 1000000000ull
#define MIN (60ull * SEC)
#define NOW (1700000000ull * SEC)
#define T0 (NOW - 30 * MIN)
#define RETENTION (7200ull * SEC)

/* ---- change point and scoring ----------------------------------------- */

static void test_changepoint_step(void **state)
{
    (void)state;
    double x[60], w[60];
    for (size_t i = 0; i < 60; i++) {
        x[i] = i < 40 ? 0.01 + 0.005 * (double)(i % 3) : 0.30 + 0.01 * (double)(i % 2);
        w[i] = 10.0;
    }
    fw__cp_result r;
    fw__engine_changepoint(x, w, 60, 6, 0.02, 1.5, &r);
    assert_true(r.significant);
    assert_int_equal(r.split, 40);
    assert_true(r.mean_before < 0.03 && r.mean_after > 0.29);
}

static void test_changepoint_noise_and_drop(void **state)
{
    (void)state;
    double x[60], w[60];
    /* Noise around a constant: no significant rise. */
    for (size_t i = 0; i < 60; i++) {
        x[i] = 0.05 + ((i * 7) % 5 == 0 ? 0.01 : -0.005);
        w[i] = 5.0;
    }
    fw__cp_result r;
    fw__engine_changepoint(x, w, 60, 6, 0.02, 1.5, &r);
    assert_false(r.significant);
    /* A drop is not an onset. */
    for (size_t i = 0; i < 60; i++) x[i] = i < 30 ? 0.4 : 0.01;
    fw__engine_changepoint(x, w, 60, 6, 0.02, 1.5, &r);
    assert_false(r.significant);
    /* A rise too small to matter (under min_abs). */
    for (size_t i = 0; i < 60; i++) x[i] = i < 30 ? 0.001 : 0.004;
    fw__engine_changepoint(x, w, 60, 6, 0.02, 1.5, &r);
    assert_false(r.significant);
    /* Too few points. */
    fw__engine_changepoint(x, w, 8, 6, 0.02, 1.5, &r);
    assert_false(r.significant);
}

static void test_changepoint_skips_empty_steps(void **state)
{
    (void)state;
    double x[50], w[50];
    for (size_t i = 0; i < 50; i++) {
        x[i] = i < 25 ? 100.0 : 900.0; /* latency ms */
        w[i] = (i % 4 == 1) ? 0.0 : 3.0;
    }
    x[25] = 0.0; /* an empty step at the change carries no value */
    w[25] = 0.0;
    fw__cp_result r;
    fw__engine_changepoint(x, w, 50, 4, 20.0, 1.5, &r);
    assert_true(r.significant);
    assert_int_equal(r.split, 26);
}

/* The two-proportion z statistic gating version splits. */
static void test_rate_z(void **state)
{
    (void)state;
    /* 70 % of 150 against 3 % of 300: overwhelming. */
    assert_true(fw__engine_rate_z(105, 150, 9, 300) > 10.0);
    /* 5 of 300 against 1 of 570: a ratio of 9x, yet within chance. */
    double z = fw__engine_rate_z(5, 300, 1, 570);
    assert_true(z > 1.0 && z < 3.0);
    assert_true(fw__engine_rate_z(1, 570, 5, 300) < 0.0);
    assert_true(fw__engine_rate_z(0, 100, 0, 100) == 0.0);
    assert_true(fw__engine_rate_z(1, 0, 1, 10) == 0.0);
}

static void test_score_and_timing(void **state)
{
    (void)state;
    fw__score_terms t = {.explained = 1, .novelty = 1, .timing = 1, .specificity = 1,
                         .corroboration = 1, .penalty = 1};
    assert_true(fw__engine_score(&t) > 0.999);
    t.penalty = 0.5;
    assert_true(fabs(fw__engine_score(&t) - 0.5) < 1e-9);
    fw__score_terms z = {.timing = 1, .penalty = 1};
    assert_true(fabs(fw__engine_score(&z) - 0.2) < 1e-9);
    assert_string_equal(fw__engine_confidence(0.8), "high");
    assert_string_equal(fw__engine_confidence(0.5), "medium");
    assert_string_equal(fw__engine_confidence(0.2), "low");
    uint64_t onset = NOW;
    assert_true(fw__engine_timing(onset - 60 * SEC, onset) == 1.0);
    assert_true(fw__engine_timing(onset + 5 * MIN, onset) == 0.1);
    assert_true(fw__engine_timing(onset - 40 * MIN, onset) == 0.2);
    double mid = fw__engine_timing(onset - 16 * MIN, onset);
    assert_true(mid > 0.2 && mid < 1.0);
}

/* ---- the simulated shop ------------------------------------------------ */

#define SVC_STR(s) {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT(s)}

static fw_attr pod_fe[] = {{FW_STR_LIT("k8s.pod.name"), SVC_STR("frontend-1")}};
static fw_attr pod_co1[] = {{FW_STR_LIT("k8s.pod.name"), SVC_STR("checkout-1")}};
static fw_attr pod_co2[] = {{FW_STR_LIT("k8s.pod.name"), SVC_STR("checkout-2")}};
static fw_attr pod_co3[] = {{FW_STR_LIT("k8s.pod.name"), SVC_STR("checkout-3")}};
static fw_attr pod_ca[] = {{FW_STR_LIT("k8s.pod.name"), SVC_STR("catalog-1")}};

static fw_resource r_front = {.attrs = {pod_fe, 1}, .service_name = FW_STR_LIT("frontend"),
                              .service_version = FW_STR_LIT("3.1.0")};
static fw_resource r_co_old1 = {.attrs = {pod_co1, 1}, .service_name = FW_STR_LIT("checkout"),
                                .service_version = FW_STR_LIT("1.4.0")};
static fw_resource r_co_old2 = {.attrs = {pod_co2, 1}, .service_name = FW_STR_LIT("checkout"),
                                .service_version = FW_STR_LIT("1.4.0")};
static fw_resource r_co_new = {.attrs = {pod_co3, 1}, .service_name = FW_STR_LIT("checkout"),
                               .service_version = FW_STR_LIT("1.5.0")};
static fw_resource r_cat_old = {.attrs = {pod_ca, 1}, .service_name = FW_STR_LIT("catalog"),
                                .service_version = FW_STR_LIT("2.0.0")};
static fw_resource r_cat_new = {.attrs = {pod_ca, 1}, .service_name = FW_STR_LIT("catalog"),
                                .service_version = FW_STR_LIT("2.1.0")};
static fw_scope scope = {.name = FW_STR_LIT("otel")};

static fw_attr db_attrs[] = {{FW_STR_LIT("db.system"), SVC_STR("postgresql")},
                             {FW_STR_LIT("db.operation"), SVC_STR("INSERT")}};
static fw_attr ddb_attrs[] = {{FW_STR_LIT("rpc.system"), SVC_STR("aws-api")},
                              {FW_STR_LIT("rpc.service"), SVC_STR("DynamoDB")},
                              {FW_STR_LIT("rpc.method"), SVC_STR("PutItem")}};
static fw_attr exc_conn[] = {{FW_STR_LIT("exception.type"), SVC_STR("psycopg2.OperationalError")},
                             {FW_STR_LIT("exception.message"), SVC_STR("connection refused")}};
static fw_attr exc_thr[] = {{FW_STR_LIT("exception.type"), SVC_STR("ThrottlingException")},
                            {FW_STR_LIT("exception.message"), SVC_STR("Rate exceeded")}};
static fw_attr exc_key[] = {{FW_STR_LIT("exception.type"), SVC_STR("KeyError")},
                            {FW_STR_LIT("exception.message"), SVC_STR("'currency'")}};
static fw_attr exc_npe[] = {{FW_STR_LIT("exception.type"), SVC_STR("NullPointerException")},
                            {FW_STR_LIT("exception.message"), SVC_STR("cart is null")}};
static fw_attr exc_timeout[] = {{FW_STR_LIT("exception.type"), SVC_STR("TimeoutError")},
                                {FW_STR_LIT("exception.message"), SVC_STR("cache timeout")}};
static fw_span_event ev_conn = {.name = FW_STR_LIT("exception"), .attrs = {exc_conn, 2}};
static fw_span_event ev_thr = {.name = FW_STR_LIT("exception"), .attrs = {exc_thr, 2}};
static fw_span_event ev_key = {.name = FW_STR_LIT("exception"), .attrs = {exc_key, 2}};
static fw_span_event ev_npe = {.name = FW_STR_LIT("exception"), .attrs = {exc_npe, 2}};
static fw_span_event ev_timeout = {.name = FW_STR_LIT("exception"), .attrs = {exc_timeout, 2}};

static fw_attr ddb_429_attrs[] = {
    {FW_STR_LIT("rpc.system"), SVC_STR("aws-api")},
    {FW_STR_LIT("rpc.service"), SVC_STR("DynamoDB")},
    {FW_STR_LIT("rpc.method"), SVC_STR("PutItem")},
    {FW_STR_LIT("http.response.status_code"), {.type = FW_VALUE_INT, .u.i64 = 429}}};
static fw_attr grpc_timeout_attrs[] = {
    {FW_STR_LIT("rpc.system"), SVC_STR("grpc")},
    {FW_STR_LIT("rpc.service"), SVC_STR("checkout.OrderService")},
    {FW_STR_LIT("server.address"), SVC_STR("checkout")},
    {FW_STR_LIT("rpc.grpc.status_code"), {.type = FW_VALUE_INT, .u.i64 = 4}}};
static fw_attr llm_attrs[] = {{FW_STR_LIT("server.address"), SVC_STR("api.openai.com")}};
static fw_attr exc_upstream[] = {
    {FW_STR_LIT("exception.type"), SVC_STR("HttpServerErrorException")},
    {FW_STR_LIT("exception.message"), SVC_STR("upstream call failed (status 400)")}};
static fw_span_event ev_upstream = {.name = FW_STR_LIT("exception"), .attrs = {exc_upstream, 2}};

typedef enum scenario {
    SC_DB_OUTAGE,
    SC_BAD_DEPLOY,
    SC_THROTTLE,
    SC_CODE_ERROR,
    SC_DB_SLOW,
    SC_BAD_POD,
    SC_THROTTLE_429,  /* DynamoDB answers 429; checkout raises its own exception */
    SC_DEPLOY_ALL,    /* every checkout instance on 1.5.0 from the onset, not announced */
    SC_SILENT,        /* checkout stops answering: its callers time out */
    SC_SURGE,         /* entry traffic x5, background faults at a steady share */
    SC_MEDIAN_SLOW,   /* catalog +300 ms; the p99 is owned by an always-slow LLM call */
    SC_DECOY_SPLIT,   /* code error in checkout; catalog 2.1.0 fails a few more by chance */
    SC_DEPLOY_AFTER_BLIP, /* catalog errors from minute 17, then checkout 1.5.0 at minute 20 */
    SC_DEPLOY_IN_STORM,   /* catalog fails 40 % from minute 17; checkout 1.5.0 fails 15 % */
    SC_SLOW_IN_NOISE,     /* slow database amid steady errors over 20 catalog operations */
    SC_NET_DELAY,         /* +300 ms on the way into checkout: frontend's client span grows,
                           * checkout's server span does not */
    SC_SLOW_POD,          /* checkout-2 alone takes +300 ms of its own time per request */
    SC_SLOW_STRAY         /* slow database; one stray NullPointerException after the onset */
} scenario;

static const char *const cat_ops[20] = {
    "GET /items/0",  "GET /items/1",  "GET /items/2",  "GET /items/3",  "GET /items/4",
    "GET /items/5",  "GET /items/6",  "GET /items/7",  "GET /items/8",  "GET /items/9",
    "GET /items/10", "GET /items/11", "GET /items/12", "GET /items/13", "GET /items/14",
    "GET /items/15", "GET /items/16", "GET /items/17", "GET /items/18", "GET /items/19"};

typedef struct shop {
    fw_intern *intern;
    fw_red *red;
    fw_topo *topo;
    fw_throttle_rules *rules;
    fw_store *store;
    fw_deploy_store *deploy;
    fw_patterns *patterns;
    fw_pipeline *p;
    fw_stats stats;
    char dir[64];
    uint64_t first_batch; /* telemetry starts here (0 = minute 0; 6 batches a minute) */
} shop;

static void shop_open(shop *s)
{
    memset(s, 0, sizeof *s);
    fw_stats_init(&s->stats);
    snprintf(s->dir, sizeof s->dir, "/tmp/fw_engine_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    char err[256];
    assert_int_equal(fw_deploy_open(s->dir, &s->deploy, err, sizeof err), 0);
    assert_int_equal(fw_intern_new(8u << 20, &s->intern), 0);
    assert_int_equal(fw_throttle_rules_new_default(&s->rules), 0);
    fw_red_config rc = {.retention_ns = RETENTION, .max_series = 1000,
                        .memory_limit = 256u << 20, .partitions = 4};
    assert_int_equal(fw_red_new(&rc, &s->red), 0);
    fw_topo_config tc = {.join_wait_ns = 30 * SEC, .partitions = 4};
    assert_int_equal(fw_topo_new(&tc, s->intern, s->red, &s->topo), 0);
    fw_store_config sc = {.intern = s->intern, .memory_limit = 512u << 20, .partitions = 4};
    assert_int_equal(fw_store_new(&sc, &s->store), 0);
    fw_patterns_config patc = {.retention_ns = RETENTION};
    assert_int_equal(fw_patterns_new(&patc, &s->patterns), 0);
    fw_pipeline_config pc = {.retention_ns = RETENTION, .intern = s->intern, .red = s->red,
                             .topo = s->topo, .throttle_rules = s->rules, .partitions = 4,
                             .deploy = s->deploy, .patterns = s->patterns};
    assert_int_equal(fw_pipeline_new(&pc, s->store, &s->stats, &s->p), 0);
}

static void shop_close(shop *s)
{
    fw_pipeline_free(s->p);
    fw_patterns_free(s->patterns);
    fw_store_free(s->store);
    fw_topo_free(s->topo);
    fw_red_free(s->red);
    fw_throttle_rules_free(s->rules);
    fw_intern_free(s->intern);
    fw_deploy_close(s->deploy);
    char path[128];
    const char *files[] = {"flywheel.db", "flywheel.db-wal", "flywheel.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, files[i]);
        (void)unlink(path);
    }
    (void)rmdir(s->dir);
}

/* Deterministic pseudo-random in [0, 1). */
static double rnd(uint64_t *st)
{
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*st >> 11) / 9007199254740992.0;
}

static fw_span mk(uint32_t trace, unsigned k, const fw_span *parent, const fw_resource *res,
                  const char *name, fw_span_kind kind, uint64_t start, uint64_t dur)
{
    fw_span s;
    memset(&s, 0, sizeof s);
    s.trace_id[0] = 0xEE;
    s.trace_id[12] = (uint8_t)(trace >> 24);
    s.trace_id[13] = (uint8_t)(trace >> 16);
    s.trace_id[14] = (uint8_t)(trace >> 8);
    s.trace_id[15] = (uint8_t)trace;
    s.span_id[0] = 1;
    s.span_id[5] = (uint8_t)(trace >> 8);
    s.span_id[6] = (uint8_t)trace;
    s.span_id[7] = (uint8_t)k;
    if (parent) {
        s.has_parent = true;
        memcpy(s.parent_span_id, parent->span_id, FW_SPAN_ID_LEN);
    }
    s.name = fw_str_from(name);
    s.kind = kind;
    s.start_ns = start;
    s.end_ns = start + dur;
    s.resource = res;
    s.scope = &scope;
    return s;
}

static void set_fail(fw_span *s, fw_span_event *ev)
{
    s->status_code = FW_STATUS_ERROR;
    if (ev) {
        s->events = ev;
        s->n_events = 1;
    }
}

/* 30 minutes of traffic (one checkout every 2 s); the fault starts at
 * minute 20. Decoys in every scenario: 1.5 % background TimeoutErrors in
 * catalog, 2 % steady DynamoDB throttling failing the request before and
 * after the onset alike, and catalog deployed (announced) at minute 19. */
static void shop_run(shop *s, scenario sc)
{
    uint64_t rs = 42;
    fw_deployment d = {.service = "catalog", .version = "2.1.0", .timestamp_ns = T0 + 19 * MIN};
    assert_int_equal(fw_deploy_record(s->deploy, &d, NULL, NULL), 0);
    uint32_t next_tr = 1;
    for (uint64_t batch = s->first_batch; batch < 180; batch++) {
        fw_span spans[25 * 8];
        size_t n = 0;
        unsigned per = sc == SC_SURGE && batch >= 120 ? 25 : 5;
        for (unsigned j = 0; j < per; j++) {
            uint32_t tr = next_tr++;
            uint64_t t = T0 + batch * 10 * SEC + j * (10 * SEC / per);
            bool after = t >= T0 + 20 * MIN;
            bool cat_new = t >= T0 + 19 * MIN;
            const fw_resource *co = (tr % 2) ? &r_co_old1 : &r_co_old2;
            bool on_new = false;
            if ((sc == SC_BAD_DEPLOY && after && (tr % 2) == 0) ||
                ((sc == SC_DEPLOY_ALL || sc == SC_DEPLOY_AFTER_BLIP || sc == SC_DEPLOY_IN_STORM) &&
                 after)) {
                co = &r_co_new;
                on_new = true;
            }
            double u = rnd(&rs);
            bool db_fail = sc == SC_DB_OUTAGE && after && u < 0.6;
            bool thr_fail = sc == SC_THROTTLE && after && u < 0.5;
            bool thr_429 = sc == SC_THROTTLE_429 && after && u < 0.5;
            bool silent = sc == SC_SILENT && after;
            bool llm = sc == SC_MEDIAN_SLOW && rnd(&rs) < 0.05;
            uint64_t cat_extra = sc == SC_MEDIAN_SLOW && after ? 300 * 1000000ull : 0;
            bool code_fail = ((sc == SC_CODE_ERROR || sc == SC_DECOY_SPLIT) && after && u < 0.35) ||
                             (sc == SC_BAD_DEPLOY && on_new && u < 0.7) ||
                             ((sc == SC_DEPLOY_ALL || sc == SC_DEPLOY_AFTER_BLIP) && on_new &&
                              u < 0.5) ||
                             (sc == SC_DEPLOY_IN_STORM && on_new && u < 0.15) ||
                             (sc == SC_BAD_POD && after && co == &r_co_old2 && u < 0.8);
            double bg_share = sc == SC_DECOY_SPLIT && !cat_new ? 0.002 : 0.015;
            if (sc == SC_DEPLOY_AFTER_BLIP && t >= T0 + 17 * MIN && t < T0 + 21 * MIN)
                bg_share = 0.40;
            if (sc == SC_DEPLOY_IN_STORM && t >= T0 + 17 * MIN) bg_share = 0.40;
            if (sc == SC_SLOW_IN_NOISE) bg_share = 0.20;
            bool bg_fail = rnd(&rs) < bg_share;
            bool thr_bg = rnd(&rs) < 0.02;
            bool fails = db_fail || thr_fail || code_fail || bg_fail || thr_bg || thr_429 ||
                         silent;
            bool db_slow = (sc == SC_DB_SLOW || sc == SC_SLOW_IN_NOISE || sc == SC_SLOW_STRAY) &&
                           after;
            if (sc == SC_SLOW_STRAY && tr == 700 && !code_fail) { /* minute 23 */
                code_fail = on_new = true; /* NullPointerException, never seen before */
                fails = true;
            }

            /* Slow database: 20 ms -> 400-600 ms, pushing every caller out. */
            uint64_t extra = db_slow ? (380 + (uint64_t)(rnd(&rs) * 200.0)) * 1000000ull : 0;
            uint64_t jit = (uint64_t)(rnd(&rs) * 10.0) * 1000000ull;
            if (silent) extra = 1000 * 1000000ull; /* the callers' deadline */
            uint64_t llm_ms = llm ? 3000 * 1000000ull : 0;
            /* transit into checkout (network); own time of checkout-2 */
            uint64_t net = sc == SC_NET_DELAY && after
                               ? (280 + (uint64_t)(rnd(&rs) * 40.0)) * 1000000ull
                               : 0;
            uint64_t pod = sc == SC_SLOW_POD && after && co == &r_co_old2
                               ? (280 + (uint64_t)(rnd(&rs) * 40.0)) * 1000000ull
                               : 0;
            extra += net + pod;
            fw_span root = mk(tr, 1, NULL, &r_front, "GET /checkout", FW_SPAN_KIND_SERVER, t,
                              120 * 1000000ull + extra + jit + cat_extra + llm_ms);
            fw_span c1 = mk(tr, 2, &root, &r_front, "POST /order", FW_SPAN_KIND_CLIENT,
                            t + 5000000, 80 * 1000000ull + extra);
            fw_span s1 = mk(tr, 3, &c1, co, "POST /order", FW_SPAN_KIND_SERVER,
                            t + 6000000 + net / 2, 78 * 1000000ull + extra - net);
            fw_span db = mk(tr, 4, &s1, co, "INSERT orders", FW_SPAN_KIND_CLIENT,
                            t + 8000000 + net / 2, 20 * 1000000ull + extra - net - pod);
            fw_span ddb = mk(tr, 5, &s1, co, "DynamoDB.PutItem", FW_SPAN_KIND_CLIENT,
                             t + 30000000 + extra - net / 2, 15 * 1000000ull);
            fw_span c2 = mk(tr, 6, &root, &r_front, "GET /items", FW_SPAN_KIND_CLIENT,
                            t + 90000000 + extra, 20 * 1000000ull + cat_extra);
            fw_span s2 = mk(tr, 7, &c2, cat_new ? &r_cat_new : &r_cat_old,
                            sc == SC_SLOW_IN_NOISE ? cat_ops[tr % 20] : "GET /items",
                            FW_SPAN_KIND_SERVER, t + 91000000 + extra, 18 * 1000000ull + cat_extra);
            fw_span lc = mk(tr, 8, &root, &r_front, "POST /v1/chat", FW_SPAN_KIND_CLIENT,
                            t + 115000000 + extra + cat_extra, llm_ms);
            lc.attrs = (fw_attrs){llm_attrs, 1};
            if (silent) {
                /* Half the calls come from catalog (a second caller). */
                if (tr % 2) c1.resource = &r_cat_old;
                c1.attrs = (fw_attrs){grpc_timeout_attrs, 4};
                set_fail(&c1, NULL);
            }
            db.attrs = (fw_attrs){db_attrs, 2};
            ddb.attrs = (fw_attrs){ddb_attrs, 3};
            if (db_fail) set_fail(&db, &ev_conn);
            if (thr_fail || thr_bg) set_fail(&ddb, &ev_thr);
            if (thr_429) {
                ddb.attrs = (fw_attrs){ddb_429_attrs, 4};
                set_fail(&ddb, NULL);
                set_fail(&s1, &ev_upstream);
            }
            if (code_fail) set_fail(&s1, on_new ? &ev_npe : &ev_key);
            if (db_fail || thr_fail || thr_bg) set_fail(&s1, NULL);
            if (db_fail || thr_fail || thr_bg || code_fail || thr_429) set_fail(&c1, NULL);
            if (bg_fail) {
                set_fail(&s2, &ev_timeout);
                set_fail(&c2, NULL);
            }
            if (fails) set_fail(&root, NULL);
            spans[n++] = root;
            spans[n++] = c1;
            if (!silent) { /* a silent checkout emits nothing */
                spans[n++] = s1;
                spans[n++] = db;
                spans[n++] = ddb;
            }
            spans[n++] = c2;
            spans[n++] = s2;
            if (llm) spans[n++] = lc;
        }
        fw_span_batch b = {.spans = spans, .n = n};
        assert_int_equal(fw_pipeline_push_spans(s->p, FW_PROTO_GRPC, &b, NOW), 0);
        /* Logs: routine INFO lines throughout; in the code-error scenario an
         * ERROR line per failed order after the onset. */
        fw_log_record logs[2];
        memset(logs, 0, sizeof logs);
        size_t nl = 0;
        uint64_t lt = T0 + batch * 10 * SEC;
        char body[96];
        logs[nl].time_ns = lt;
        logs[nl].severity_number = 9;
        logs[nl].body.type = FW_VALUE_STRING;
        logs[nl].body.u.str = FW_STR_LIT("order accepted");
        logs[nl].resource = &r_co_old1;
        logs[nl++].scope = &scope;
        if (sc == SC_CODE_ERROR && lt >= T0 + 20 * MIN) {
            int bl = snprintf(body, sizeof body, "failed to price order %u: KeyError currency",
                              (unsigned)batch);
            logs[nl].time_ns = lt + SEC;
            logs[nl].severity_number = 17;
            logs[nl].body.type = FW_VALUE_STRING;
            logs[nl].body.u.str = (fw_str){body, (size_t)bl};
            logs[nl].resource = &r_co_old1;
            logs[nl++].scope = &scope;
        }
        fw_log_batch lb = {.records = logs, .n = nl};
        assert_int_equal(fw_pipeline_push_logs(s->p, FW_PROTO_GRPC, &lb, NOW), 0);
    }
    fw_topo_tick(s->topo, NOW + 10 * MIN);
}

static json_t *investigate(shop *s, const char *service)
{
    fw_inv_sources src = {.store = s->store, .red = s->red, .topo = s->topo,
                          .intern = s->intern, .deploy = s->deploy, .patterns = s->patterns};
    fw_inv_request req;
    memset(&req, 0, sizeof req);
    snprintf(req.service, sizeof req.service, "%s", service);
    req.from_ns = T0;
    req.to_ns = NOW;
    req.alarm_at_ns = T0 + 22 * MIN;
    snprintf(req.trigger_kind, sizeof req.trigger_kind, "alarm");
    snprintf(req.trigger_name, sizeof req.trigger_name, "HighErrorRate");
    fw_buf out;
    fw_buf_init(&out, 1u << 20);
    char err[128] = "";
    assert_int_equal(fw_investigate_run(&src, &req, NOW, &out, err, sizeof err), 0);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)out.data, out.len, 0, &jerr);
    if (!root || getenv("FW_ENGINE_DUMP")) fprintf(stderr, "%.*s\n", (int)out.len, (const char *)out.data);
    assert_non_null(root);
    fw_buf_free(&out);
    return root;
}

static const char *jget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "(null)";
}

/* Common shape checks; returns the rank-1 hypothesis. */
static json_t *check_shape(json_t *root)
{
    json_t *sc_obj = json_object_get(root, "scope");
    assert_non_null(sc_obj);
    const char *onset = jget(sc_obj, "onset");
    assert_string_not_equal(onset, "(null)");
    /* The change at minute 20 of a window starting at T0 (21:43:20 UTC). */
    assert_non_null(strstr(onset, "T22:03:"));
    json_t *imp = json_object_get(root, "impact");
    assert_true(json_number_value(json_object_get(imp, "error_rate")) > 0.2);
    assert_true(json_number_value(json_object_get(imp, "baseline_error_rate")) < 0.1);
    assert_true(json_number_value(json_object_get(imp, "requests")) > 100);
    json_t *hyps = json_object_get(root, "hypotheses");
    assert_true(json_array_size(hyps) >= 2);
    double prev = 2.0;
    for (size_t i = 0; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        double sc = json_number_value(json_object_get(h, "score"));
        assert_true(sc <= prev && sc >= 0.0 && sc <= 1.0);
        prev = sc;
        assert_int_equal(json_integer_value(json_object_get(h, "rank")), (json_int_t)i + 1);
        assert_true(json_array_size(json_object_get(h, "evidence")) >= 1);
        assert_string_not_equal(jget(h, "title"), "(null)");
        assert_string_not_equal(jget(h, "confidence"), "(null)");
    }
    assert_true(json_is_array(json_object_get(root, "monitoring_gaps")));
    assert_true(json_array_size(json_object_get(root, "timeline")) >= 3);
    json_t *top = json_array_get(hyps, 0);
    /* The top hypothesis shows example traces. */
    json_t *ev0 = json_array_get(json_object_get(top, "evidence"), 0);
    (void)ev0;
    return top;
}

/* No decoy outranks the cause: the catalog deployment and the steady
 * DynamoDB throttling score low. */
static void check_decoys(json_t *root)
{
    json_t *hyps = json_object_get(root, "hypotheses");
    json_t *top = json_array_get(hyps, 0);
    double top_score = json_number_value(json_object_get(top, "score"));
    for (size_t i = 1; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        json_t *c = json_object_get(h, "component");
        const char *svc = jget(c, "service");
        const char *dep = jget(c, "dependency");
        if (!strcmp(dep, "DynamoDB")) /* steady throttling: background */
            assert_true(json_number_value(json_object_get(h, "score")) < 0.3);
        if (!strcmp(svc, "catalog")) {
            assert_true(json_number_value(json_object_get(h, "score")) < 0.45);
            assert_true(json_number_value(json_object_get(h, "score")) < top_score);
        }
    }
}

static void test_dependency_outage(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DB_OUTAGE);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "dependency_failure");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "dependency"), "postgresql");
    assert_true(json_is_null(json_object_get(c, "version")));
    json_t *ev = json_array_get(json_object_get(top, "evidence"), 0);
    assert_string_equal(jget(ev, "kind"), "spans");
    assert_true(json_array_size(json_object_get(ev, "trace_ids")) >= 1);
    assert_string_not_equal(jget(ev, "first_seen"), "(null)");
    assert_true(json_number_value(json_object_get(top, "score")) >= 0.7);
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

static void test_bad_deployment(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_BAD_DEPLOY);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "deployment");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "version"), "1.5.0");
    /* The rollback names the previous version. */
    json_t *acts = json_object_get(top, "suggested_actions");
    assert_non_null(strstr(json_string_value(json_array_get(acts, 0)), "1.4.0"));
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

static void test_throttling(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_THROTTLE);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "throttling");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "dependency"), "DynamoDB");
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

static void test_code_error(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_CODE_ERROR);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "code_error");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "operation"), "POST /order");
    assert_true(json_is_null(json_object_get(c, "dependency")));
    /* The new ERROR log pattern of checkout corroborates it. */
    json_t *evs = json_object_get(top, "evidence");
    bool has_pattern = false;
    for (size_t i = 0; i < json_array_size(evs); i++) {
        json_t *ev = json_array_get(evs, i);
        if (!strcmp(jget(ev, "kind"), "log_pattern")) {
            has_pattern = true;
            assert_non_null(strstr(jget(ev, "summary"), "new log pattern"));
            assert_true(json_number_value(json_object_get(ev, "count")) >= 50);
        }
    }
    assert_true(has_pattern);
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

/* The server started at minute 18 (nothing earlier in the 30-minute
 * window), the code error at minute 20: two minutes of steady traffic
 * before the onset are the baseline, not 20 minutes of "no traffic", so
 * no traffic surge is reported and the code error leads. */
static void test_late_start_no_surge(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    s.first_batch = 18 * 6;
    shop_run(&s, SC_CODE_ERROR);
    json_t *root = investigate(&s, "frontend");
    json_t *hyps = json_object_get(root, "hypotheses");
    assert_true(json_array_size(hyps) >= 1);
    assert_string_equal(jget(json_array_get(hyps, 0), "cause"), "code_error");
    for (size_t i = 0; i < json_array_size(hyps); i++)
        assert_string_not_equal(jget(json_array_get(hyps, i), "cause"), "traffic_surge");
    json_decref(root);
    shop_close(&s);
}

/* A slow database, no errors: the onset comes from p99, and the own time of
 * the calls to PostgreSQL is what grew. */
static void test_latency(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DB_SLOW);
    json_t *root = investigate(&s, "frontend");
    const char *onset = jget(json_object_get(root, "scope"), "onset");
    assert_string_not_equal(onset, "(null)");
    assert_non_null(strstr(onset, "T22:03:"));
    json_t *imp = json_object_get(root, "impact");
    assert_true(json_number_value(json_object_get(imp, "p99_ms")) > 400.0);
    assert_true(json_number_value(json_object_get(imp, "baseline_p99_ms")) < 200.0);
    json_t *top = json_array_get(json_object_get(root, "hypotheses"), 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "latency");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "dependency"), "postgresql");
    json_decref(root);
    shop_close(&s);
}

/* Faults confined to one pod of checkout (checkout-2) among healthy ones. */
static void test_bad_instance(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_BAD_POD);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "code_error");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "instance"), "checkout-2");
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

/* The name of the hypothesis at |rank| (0-based) as "cause service dep". */
static json_t *hyp_at(json_t *root, size_t i)
{
    return json_array_get(json_object_get(root, "hypotheses"), i);
}

/* A throttled call answered 429 is a client error by status code; the
 * caller then raises its own exception. The refusal is the origin: the
 * throttled dependency is blamed, not the caller's code. */
static void test_throttle_429_is_origin(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_THROTTLE_429);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "throttling");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "dependency"), "DynamoDB");
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

/* Every instance moved to the new version (inferred from service.version,
 * never announced): no old version serves alongside, so the split compares
 * the new version with the service before the deployment. */
static void test_deploy_all_instances(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DEPLOY_ALL);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "deployment");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "version"), "1.5.0");
    assert_non_null(strstr(jget(top, "what_happened"), "before the deployment"));
    check_decoys(root);
    json_decref(root);
    shop_close(&s);
}

/* checkout goes silent: its two callers' gRPC calls time out. The failed
 * calls of both callers are one fault, and the callee is named by the
 * instrumented service its server.address names, not by rpc.service. */
static void test_silent_callee(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_SILENT);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "dependency_failure");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "dependency"), "checkout");
    /* checkout is instrumented (it reported before it went silent): the
     * fault is in checkout, not in the callers that only saw it. */
    assert_string_equal(jget(c, "service"), "checkout");
    assert_non_null(strstr(jget(top, "what_happened"), "left no server span"));
    /* Both callers in one hypothesis: it explains (nearly) every failure. */
    const char *what = jget(top, "what_happened");
    assert_true(strstr(what, "deepest fault in 9") || strstr(what, "deepest fault in 100%"));
    bool lat_seen = false;
    for (size_t i = 1; i < json_array_size(json_object_get(root, "hypotheses")); i++) {
        json_t *h = hyp_at(root, i);
        assert_false(!strcmp(jget(h, "cause"), "dependency_failure") &&
                     !strcmp(jget(json_object_get(h, "component"), "dependency"), "checkout"));
        /* The calls are slow because they time out: that latency is the
         * failure's symptom, discounted. */
        if (!strcmp(jget(h, "cause"), "latency") &&
            !strcmp(jget(json_object_get(h, "component"), "dependency"), "checkout")) {
            lat_seen = true;
            assert_non_null(strstr(jget(h, "what_happened"), "= 0.80 x"));
        }
    }
    assert_true(lat_seen);
    json_decref(root);
    shop_close(&s);
}

/* Entry traffic x5 while the background faults (steady DynamoDB throttling,
 * catalog timeouts) keep their share of the requests: their count per
 * second rises with the traffic, but they are not new. */
static void test_surge_background_not_new(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_SURGE);
    json_t *root = investigate(&s, "frontend");
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "traffic_surge");
    json_t *hyps = json_object_get(root, "hypotheses");
    for (size_t i = 1; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        if (!strcmp(jget(json_object_get(h, "component"), "dependency"), "DynamoDB"))
            assert_true(json_number_value(json_object_get(h, "score")) < 0.45);
    }
    json_decref(root);
    shop_close(&s);
}

/* catalog slows by 300 ms on every request while the p99 belongs to a rare,
 * always-slow LLM call: the onset comes from the median, and the latency
 * origin samples typical traces rather than the slowest. */
static void test_median_latency(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_MEDIAN_SLOW);
    json_t *root = investigate(&s, "frontend");
    const char *onset = jget(json_object_get(root, "scope"), "onset");
    assert_non_null(strstr(onset, "T22:03:"));
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "latency");
    assert_string_equal(jget(json_object_get(top, "component"), "service"), "catalog");
    json_decref(root);
    shop_close(&s);
}

/* A decoy deployment whose new version fails a little more than the old
 * one by chance (a few failures; not significant) gets no credit from the
 * version split and stays far below the code error that is the cause. */
static void test_decoy_split_not_significant(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DECOY_SPLIT);
    json_t *root = investigate(&s, "frontend");
    json_t *top = check_shape(root);
    assert_string_equal(jget(top, "cause"), "code_error");
    assert_string_equal(jget(json_object_get(top, "component"), "service"), "checkout");
    bool seen = false;
    json_t *hyps = json_object_get(root, "hypotheses");
    for (size_t i = 0; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        if (strcmp(jget(h, "cause"), "deployment") != 0) continue;
        if (strcmp(jget(json_object_get(h, "component"), "service"), "catalog") != 0) continue;
        seen = true;
        assert_true(json_number_value(json_object_get(h, "score")) < 0.3);
    }
    assert_true(seen);
    json_decref(root);
    shop_close(&s);
}

/* A burst of unrelated catalog errors from minute 17 pulls the detected
 * onset before checkout 1.5.0 shipped (minute 20, every instance, not
 * announced). The new version is far worse than the old one and its own
 * failures start right after it shipped: the deployment still ranks first,
 * and the code error it brought is counted as its symptom. */
static void test_deploy_after_early_onset(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DEPLOY_AFTER_BLIP);
    json_t *root = investigate(&s, "frontend");
    const char *onset = jget(json_object_get(root, "scope"), "onset");
    /* The premise: the onset was found before the deployment. */
    assert_true(strstr(onset, "T22:00:") || strstr(onset, "T22:01:") ||
                strstr(onset, "T22:02:"));
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "deployment");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "version"), "1.5.0");
    /* Timed against the start of its own failures, not the earlier onset. */
    assert_non_null(strstr(jget(top, "what_happened"), "timing 1.00"));
    /* The split compares versions from the deployment on (between the onset
     * and the deployment only 1.4.0 served: no side-by-side comparison), so
     * the new version is compared with the service before it shipped. */
    assert_non_null(strstr(jget(top, "what_happened"), "before the deployment"));
    json_decref(root);
    shop_close(&s);
}

/* checkout 1.5.0 ships into a storm of catalog errors: it
 * explains under 30 % of the failures, yet the NullPointerExceptions that
 * ran only on 1.5.0 are its symptom (discounted), and the deployment ranks
 * above them. */
static void test_deploy_symptom_discounted(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_DEPLOY_IN_STORM);
    json_t *root = investigate(&s, "frontend");
    json_t *hyps = json_object_get(root, "hypotheses");
    size_t dep_rank = SIZE_MAX, code_rank = SIZE_MAX;
    for (size_t i = 0; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        json_t *c = json_object_get(h, "component");
        if (strcmp(jget(c, "service"), "checkout") != 0) continue;
        if (!strcmp(jget(h, "cause"), "deployment") && dep_rank == SIZE_MAX) {
            dep_rank = i;
            /* the premise: it explains under 30 % */
            assert_non_null(strstr(jget(h, "what_happened"), "explained 0.2"));
        }
        if (!strcmp(jget(h, "cause"), "code_error") && code_rank == SIZE_MAX) {
            code_rank = i;
            assert_non_null(strstr(jget(h, "what_happened"), "= 0.60 x"));
        }
    }
    /* catalog 2.1.0 shipped (minute 19) into a storm its old version had
     * already started (minute 17): it inherited the failure rate, no split. */
    for (size_t i = 0; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        if (!strcmp(jget(h, "cause"), "deployment") &&
            !strcmp(jget(json_object_get(h, "component"), "service"), "catalog"))
            assert_true(json_number_value(json_object_get(h, "score")) < 0.3);
    }
    assert_true(dep_rank != SIZE_MAX && code_rank != SIZE_MAX);
    assert_true(dep_rank < code_rank);
    json_decref(root);
    shop_close(&s);
}

/* A slow database amid steady background errors spread over twenty catalog
 * operations (twenty small fault-origin groups): the many group candidates
 * must not crowd out the latency hypothesis. */
static void test_latency_amid_many_groups(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_SLOW_IN_NOISE);
    json_t *root = investigate(&s, "frontend");
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "latency");
    assert_string_equal(jget(json_object_get(top, "component"), "dependency"), "postgresql");
    json_decref(root);
    shop_close(&s);
}

/* Calls into checkout take 300 ms longer in transit while checkout's own
 * server spans keep their length (a network delay on the way into it):
 * the growth is the client span less the server span, and it belongs to
 * the callee, not to the caller whose client span holds it. */
static void test_transit_delay_blames_callee(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_NET_DELAY);
    json_t *root = investigate(&s, "frontend");
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "latency");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "dependency"), "(null)");
    assert_string_equal(jget(c, "instance"), "(null)"); /* both pods see it */
    assert_non_null(strstr(jget(top, "title"), "in transit"));
    json_decref(root);
    shop_close(&s);
}

/* One checkout pod (checkout-2) takes 300 ms more of its own time per
 * request, the other does not: the latency hypothesis names the pod. A
 * slowdown on every pod (a slow database) names none. */
static void test_slow_instance(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_SLOW_POD);
    json_t *root = investigate(&s, "frontend");
    json_t *top = hyp_at(root, 0);
    assert_non_null(top);
    assert_string_equal(jget(top, "cause"), "latency");
    json_t *c = json_object_get(top, "component");
    assert_string_equal(jget(c, "service"), "checkout");
    assert_string_equal(jget(c, "instance"), "checkout-2");
    assert_non_null(strstr(jget(top, "what_happened"), "confined to instance checkout-2"));
    json_decref(root);
    shop_close(&s);

    shop_open(&s);
    shop_run(&s, SC_DB_SLOW);
    root = investigate(&s, "frontend");
    top = hyp_at(root, 0);
    assert_string_equal(jget(top, "cause"), "latency");
    assert_string_equal(jget(json_object_get(top, "component"), "instance"), "(null)");
    json_decref(root);
    shop_close(&s);
}

/* A slow database (the change) while one request fails after the onset
 * with an exception never seen before: a single failure does not stand out
 * from the background failure rate, so the stray group is not scored as a
 * new fault (its novelty shrinks with its z statistic). */
static void test_stray_errors_not_new(void **state)
{
    (void)state;
    shop s;
    shop_open(&s);
    shop_run(&s, SC_SLOW_STRAY);
    json_t *root = investigate(&s, "frontend");
    assert_string_equal(jget(hyp_at(root, 0), "cause"), "latency");
    json_t *hyps = json_object_get(root, "hypotheses");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(hyps); i++) {
        json_t *h = json_array_get(hyps, i);
        if (strcmp(jget(h, "cause"), "code_error") != 0 ||
            !strstr(jget(h, "title"), "NullPointerException"))
            continue;
        seen = true;
        assert_true(json_number_value(json_object_get(h, "score")) < 0.25);
    }
    assert_true(seen);
    json_decref(root);
    shop_close(&s);
}

static void test_invalid_request(void **state)
{
    (void)state;
    fw_inv_sources src = {0};
    fw_inv_request req;
    memset(&req, 0, sizeof req);
    fw_buf out;
    fw_buf_init(&out, 4096);
    char err[128] = "";
    assert_int_equal(fw_investigate_run(&src, &req, NOW, &out, err, sizeof err), FW_ERR_INVALID);
    assert_non_null(strstr(err, "service"));
    snprintf(req.service, sizeof req.service, "x");
    req.from_ns = NOW;
    req.to_ns = NOW - SEC;
    assert_int_equal(fw_investigate_run(&src, &req, NOW, &out, err, sizeof err), FW_ERR_INVALID);
    /* No sources at all: still a well-formed answer, with the gaps named. */
    req.from_ns = 0;
    req.to_ns = 0;
    assert_int_equal(fw_investigate_run(&src, &req, NOW, &out, err, sizeof err), 0);
    json_t *root = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "hypotheses")), 0);
    assert_true(json_array_size(json_object_get(root, "monitoring_gaps")) >= 3);
    json_decref(root);
    /* Too small an output buffer: TOO_LARGE and nothing half-written. */
    fw_buf small;
    fw_buf_init(&small, 64);
    assert_int_equal(fw_investigate_run(&src, &req, NOW, &small, err, sizeof err),
                     FW_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    fw_buf_free(&small);
    fw_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changepoint_step),
        cmocka_unit_test(test_changepoint_noise_and_drop),
        cmocka_unit_test(test_changepoint_skips_empty_steps),
        cmocka_unit_test(test_score_and_timing),
        cmocka_unit_test(test_invalid_request),
        cmocka_unit_test(test_dependency_outage),
        cmocka_unit_test(test_bad_deployment),
        cmocka_unit_test(test_throttling),
        cmocka_unit_test(test_code_error),
        cmocka_unit_test(test_late_start_no_surge),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_bad_instance),
        cmocka_unit_test(test_throttle_429_is_origin),
        cmocka_unit_test(test_deploy_all_instances),
        cmocka_unit_test(test_silent_callee),
        cmocka_unit_test(test_surge_background_not_new),
        cmocka_unit_test(test_median_latency),
        cmocka_unit_test(test_decoy_split_not_significant),
        cmocka_unit_test(test_deploy_after_early_onset),
        cmocka_unit_test(test_deploy_symptom_discounted),
        cmocka_unit_test(test_latency_amid_many_groups),
        cmocka_unit_test(test_rate_z),
        cmocka_unit_test(test_transit_delay_blames_callee),
        cmocka_unit_test(test_slow_instance),
        cmocka_unit_test(test_stray_errors_not_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
