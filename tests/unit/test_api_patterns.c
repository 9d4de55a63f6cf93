/* test_api_patterns.c - GET /api/v1/logs/patterns and the severity= / q=
 * filters of GET /api/v1/logs, through the API handler called directly
 * (as test_api.c does) with a pinned clock: patterns with counts in a
 * window against explicit and default baselines, "new", trace ids, times,
 * service filter, limit, include_absent, 503 without a miner, bad
 * parameters naming the field; log filters by severity number, name and
 * text fallback, and by a case-insensitive substring of string bodies,
 * structured bodies and attribute values; the miner's flywheel_log_patterns_*
 * families in GET /metrics. Responses parsed with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/api.h"
#include "flywheel/patterns.h"

#define SEC 1000000000ull
#define MIN (60ull * SEC)
#define T0  (1700000040ull * SEC) /* minute-aligned: 2023-11-14T22:14:00Z */
#define NOW (T0 + 15ull * MIN)

typedef struct fixture {
    fw_store *store;
    fw_stats stats;
    fw_patterns *patterns;
    fw_api *api;
    fw_http_handler h;
} fixture;

static uint64_t pinned_clock(void *ctx)
{
    (void)ctx;
    return NOW;
}

static const char TRACE_HEX[] = "5b8efff798038103d269b633813fc60c";

static void feed_patterns(fw_patterns *p)
{
    uint8_t tid[FW_TRACE_ID_LEN];
    assert_int_equal(fw_hex_decode(TRACE_HEX, 32, tid, FW_TRACE_ID_LEN), 0);
    char line[128];
    /* minutes 0..9 (the baseline): checkout once a minute, a cron line twice */
    for (uint64_t m = 0; m < 10; m++) {
        snprintf(line, sizeof(line), "checkout completed for order %u in %ums",
                 (unsigned)(1000 + m), (unsigned)(20 + m));
        fw_patterns_observe(p, FW_STR_LIT("shop"), fw_str_from(line), 9, T0 + m * MIN, NULL);
        fw_patterns_observe(p, FW_STR_LIT("shop"), FW_STR_LIT("cron nightly sweep done"), 5,
                            T0 + m * MIN + SEC, NULL);
        fw_patterns_observe(p, FW_STR_LIT("shop"), FW_STR_LIT("cron nightly sweep done"), 5,
                            T0 + m * MIN + 2 * SEC, NULL);
    }
    /* minutes 10..14 (the window): checkout 4 a minute, throttling is new */
    for (uint64_t m = 10; m < 15; m++) {
        for (unsigned k = 0; k < 4; k++) {
            snprintf(line, sizeof(line), "checkout completed for order %u in %ums",
                     (unsigned)(2000 + m * 4 + k), 30 + k);
            fw_patterns_observe(p, FW_STR_LIT("shop"), fw_str_from(line), 9, T0 + m * MIN + k * SEC,
                                NULL);
        }
        snprintf(line, sizeof(line),
                 "ProvisionedThroughputExceededException on table orders after %u retries",
                 (unsigned)m);
        fw_patterns_observe(p, FW_STR_LIT("shop"), fw_str_from(line), 17, T0 + m * MIN + 30 * SEC,
                            tid);
    }
    fw_patterns_observe(p, FW_STR_LIT("auth"), FW_STR_LIT("token refreshed for user 42"), 9,
                        T0 + 12 * MIN, NULL);
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    fw_store_config sc = {.max_spans = 1000, .max_logs = 1000, .partitions = 4};
    assert_int_equal(fw_store_new(&sc, &f.store), 0);
    fw_stats_init(&f.stats);
    assert_int_equal(fw_patterns_new(NULL, &f.patterns), 0);
    feed_patterns(f.patterns);
    fw_api_config ac = {.retention_ns = 7200ull * SEC, .clock_ns = pinned_clock};
    assert_int_equal(fw_api_new(&ac, f.store, &f.stats, &f.api), 0);
    fw_api_set_patterns(f.api, f.patterns);
    f.h = fw_api_handler(f.api);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_api_free(f->api);
    fw_patterns_free(f->patterns);
    fw_store_free(f->store);
    return 0;
}

static void call(fixture *f, fw_http_method m, const char *path, const char *query,
                 fw_http_response *resp)
{
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from(path);
    req.query = query ? fw_str_from(query) : (fw_str){"", 0};
    req.http_major = 1;
    fw_http_response_init(resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, resp);
}

static json_t *get_json(fixture *f, const char *path, const char *query, int want_status)
{
    fw_http_response resp;
    call(f, FW_HTTP_GET, path, query, &resp);
    if (resp.status != want_status)
        fail_msg("%s?%s: status %d, want %d: %.*s", path, query ? query : "", resp.status,
                 want_status, (int)resp.body.len, (const char *)resp.body.data);
    assert_string_equal(resp.content_type, "application/json");
    json_error_t err;
    json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &err);
    if (!j)
        fail_msg("bad JSON (%s): %.*s", err.text, (int)resp.body.len, (const char *)resp.body.data);
    fw_http_response_free(&resp);
    return j;
}

static void assert_error_mentions(fixture *f, const char *path, const char *query, int status,
                                  const char *needle)
{
    json_t *j = get_json(f, path, query, status);
    const char *msg = json_string_value(json_object_get(j, "error"));
    assert_non_null(msg);
    if (!strstr(msg, needle)) fail_msg("error '%s' does not mention '%s'", msg, needle);
    json_decref(j);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) fail_msg("missing string '%s'", key);
    return s;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("missing integer '%s'", key);
    return json_integer_value(v);
}

/* ---- patterns ---- */

static void test_patterns_window_vs_baseline(void **state)
{
    fixture *f = *state;
    char q[256];
    snprintf(q, sizeof(q), "service=shop&from=%llu&to=%llu&baseline_from=%llu&baseline_to=%llu",
             (unsigned long long)(T0 + 10 * MIN), (unsigned long long)(T0 + 15 * MIN),
             (unsigned long long)T0, (unsigned long long)(T0 + 10 * MIN));
    json_t *j = get_json(f, "/api/v1/logs/patterns", q, 200);
    assert_string_equal(jstr(j, "from"), "2023-11-14T22:24:00.000000000Z");
    assert_string_equal(jstr(j, "baseline_from"), "2023-11-14T22:14:00.000000000Z");
    assert_true(json_is_false(json_object_get(j, "truncated")));
    json_t *ps = json_object_get(j, "patterns");
    assert_int_equal(json_array_size(ps), 2);

    json_t *p0 = json_array_get(ps, 0);
    assert_string_equal(jstr(p0, "template"), "checkout completed for order <NUM> in <NUM>ms");
    assert_string_equal(jstr(p0, "service"), "shop");
    assert_int_equal(jint(p0, "count"), 20);
    assert_int_equal(jint(p0, "baseline_count"), 10);
    assert_int_equal(jint(p0, "total_count"), 30);
    assert_true(json_is_false(json_object_get(p0, "new")));
    assert_true(json_is_false(json_object_get(p0, "overflow")));
    assert_string_equal(jstr(p0, "example"), "checkout completed for order 1000 in 20ms");
    assert_string_equal(jstr(p0, "first_seen"), "2023-11-14T22:14:00.000000000Z");
    assert_string_equal(jstr(p0, "first_seen_unix_nano"), "1700000040000000000");
    assert_int_equal(jint(p0, "max_severity"), 9);
    assert_string_equal(jstr(p0, "max_severity_text"), "INFO");
    assert_int_equal(json_array_size(json_object_get(p0, "trace_ids")), 0);
    assert_int_equal(strlen(jstr(p0, "id")), 16);

    json_t *p1 = json_array_get(ps, 1);
    assert_string_equal(
        jstr(p1, "template"),
        "ProvisionedThroughputExceededException on table orders after <NUM> retries");
    assert_int_equal(jint(p1, "count"), 5);
    assert_int_equal(jint(p1, "baseline_count"), 0);
    assert_true(json_is_true(json_object_get(p1, "new")));
    assert_int_equal(jint(p1, "max_severity"), 17);
    assert_string_equal(jstr(p1, "max_severity_text"), "ERROR");
    json_t *tids = json_object_get(p1, "trace_ids");
    assert_int_equal(json_array_size(tids), 1);
    assert_string_equal(json_string_value(json_array_get(tids, 0)), TRACE_HEX);
    assert_string_equal(jstr(p1, "last_seen"), "2023-11-14T22:28:30.000000000Z");
    assert_string_not_equal(jstr(p0, "id"), jstr(p1, "id"));
    json_decref(j);

    /* the same query answers the same ids */
    json_t *j2 = get_json(f, "/api/v1/logs/patterns", q, 200);
    json_t *j3 = get_json(f, "/api/v1/logs/patterns", q, 200);
    assert_string_equal(jstr(json_array_get(json_object_get(j2, "patterns"), 0), "id"),
                        jstr(json_array_get(json_object_get(j3, "patterns"), 0), "id"));
    json_decref(j2);
    json_decref(j3);

    /* include_absent adds the cron line that stopped */
    char qa[300];
    snprintf(qa, sizeof(qa), "%s&include_absent=true", q);
    j = get_json(f, "/api/v1/logs/patterns", qa, 200);
    ps = json_object_get(j, "patterns");
    assert_int_equal(json_array_size(ps), 3);
    assert_string_equal(jstr(json_array_get(ps, 2), "template"), "cron nightly sweep done");
    assert_int_equal(jint(json_array_get(ps, 2), "count"), 0);
    assert_int_equal(jint(json_array_get(ps, 2), "baseline_count"), 20);
    json_decref(j);

    /* limit */
    snprintf(qa, sizeof(qa), "%s&limit=1", q);
    j = get_json(f, "/api/v1/logs/patterns", qa, 200);
    assert_int_equal(json_array_size(json_object_get(j, "patterns")), 1);
    json_decref(j);
}

static void test_patterns_defaults_and_services(void **state)
{
    fixture *f = *state;
    /* default: the last 15 min (pinned clock), baseline the 15 min before */
    json_t *j = get_json(f, "/api/v1/logs/patterns", NULL, 200);
    assert_string_equal(jstr(j, "from_unix_nano"), "1700000040000000000");
    assert_string_equal(jstr(j, "to_unix_nano"), "1700000940000000000");
    assert_string_equal(jstr(j, "baseline_to_unix_nano"), "1700000040000000000");
    assert_string_equal(jstr(j, "baseline_from_unix_nano"), "1699999140000000000");
    json_t *ps = json_object_get(j, "patterns");
    assert_int_equal(json_array_size(ps), 4); /* shop x3 and auth */
    assert_int_equal(jint(json_array_get(ps, 0), "count"), 30);
    json_int_t prev = INT32_MAX;
    bool auth = false;
    for (size_t i = 0; i < json_array_size(ps); i++) {
        json_t *p = json_array_get(ps, i);
        assert_true(jint(p, "count") <= prev);
        prev = jint(p, "count");
        assert_int_equal(jint(p, "baseline_count"), 0);
        assert_true(json_is_true(json_object_get(p, "new")));
        if (strcmp(jstr(p, "service"), "auth") == 0) {
            auth = true;
            assert_string_equal(jstr(p, "template"), "token refreshed for user <NUM>");
        }
    }
    assert_true(auth);
    json_decref(j);

    j = get_json(f, "/api/v1/logs/patterns", "service=auth&window=1h", 200);
    assert_int_equal(json_array_size(json_object_get(j, "patterns")), 1);
    json_decref(j);
    j = get_json(f, "/api/v1/logs/patterns", "service=nobody", 200);
    assert_int_equal(json_array_size(json_object_get(j, "patterns")), 0);
    json_decref(j);
}

static void test_patterns_bad_params(void **state)
{
    fixture *f = *state;
    const char *P = "/api/v1/logs/patterns";
    assert_error_mentions(f, P, "limit=0", 400, "limit:");
    assert_error_mentions(f, P, "limit=1001", 400, "limit:");
    assert_error_mentions(f, P, "limit=x", 400, "limit:");
    assert_error_mentions(f, P, "from=yesterday", 400, "from:");
    assert_error_mentions(f, P, "from=2000&to=1000", 400, "from:");
    assert_error_mentions(f, P, "window=1h&from=1", 400, "window:");
    assert_error_mentions(f, P, "baseline_from=1000", 400, "baseline_to:");
    assert_error_mentions(f, P, "baseline_to=1000", 400, "baseline_from:");
    assert_error_mentions(f, P, "baseline_from=2000&baseline_to=1000", 400, "baseline_from:");
    assert_error_mentions(f, P, "baseline_from=x&baseline_to=1000", 400, "baseline_from:");
    assert_error_mentions(f, P, "include_absent=maybe", 400, "include_absent:");
    char longq[700] = "service=";
    memset(longq + 8, 'a', 600);
    longq[608] = '\0';
    assert_error_mentions(f, P, longq, 400, "service:");

    fw_http_response resp;
    call(f, FW_HTTP_POST, P, NULL, &resp);
    assert_int_equal(resp.status, 405);
    fw_http_response_free(&resp);
    call(f, FW_HTTP_GET, "/api/v1/logs/patterns/x", NULL, &resp);
    assert_int_equal(resp.status, 404);
    fw_http_response_free(&resp);
}

static void test_patterns_not_enabled(void **state)
{
    fixture *f = *state;
    fw_api *a = NULL;
    assert_int_equal(fw_api_new(NULL, f->store, &f->stats, &a), 0);
    fw_http_handler h = fw_api_handler(a);
    fw_http_request req = {0};
    req.method = FW_HTTP_GET;
    req.path = FW_STR_LIT("/api/v1/logs/patterns");
    req.query = (fw_str){"", 0};
    fw_http_response resp;
    fw_http_response_init(&resp, h.max_resp_body);
    h.handle(h.ctx, &req, &resp);
    assert_int_equal(resp.status, 503);
    fw_http_response_free(&resp);
    fw_api_free(a);
}

static void test_patterns_truncated(void **state)
{
    fixture *f = *state;
    fw_http_request req = {0};
    req.method = FW_HTTP_GET;
    req.path = FW_STR_LIT("/api/v1/logs/patterns");
    req.query = (fw_str){"", 0};
    fw_http_response resp;
    fw_http_response_init(&resp, 1024);
    f->h.handle(f->h.ctx, &req, &resp);
    assert_int_equal(resp.status, 200);
    json_error_t err;
    json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &err);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(json_array_size(json_object_get(j, "patterns")) < 4);
    json_decref(j);
    fw_http_response_free(&resp);
}

/* ---- /api/v1/logs filters ---- */

static fw_resource res_front = {.service_name = {"frontend", 8}};
static fw_resource res_back = {.service_name = {"backend", 7}};
static fw_scope scope_lib = {.name = {"my.lib", 6}};

static void add_logs(fixture *f)
{
    static fw_attr attr_db[] = {
        {{"db.statement", 12}, {.type = FW_VALUE_STRING, .u.str = {"SELECT * FROM Orders", 20}}},
        {{"retries", 7}, {.type = FW_VALUE_INT, .u.i64 = 3}},
    };
    static fw_attr nested_inner[] = {
        {{"reason", 6}, {.type = FW_VALUE_STRING, .u.str = {"Rate Exceeded", 13}}},
    };
    static fw_attr body_kv[] = {
        {{"event", 5}, {.type = FW_VALUE_STRING, .u.str = {"call failed", 11}}},
        {{"detail", 6}, {.type = FW_VALUE_KVLIST, .u.kvlist = {nested_inner, 1}}},
    };
    fw_log_record recs[6];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 6; i++) {
        recs[i].resource = &res_front;
        recs[i].scope = &scope_lib;
        recs[i].time_ns = T0 + (uint64_t)i * SEC;
        recs[i].body = (fw_value){.type = FW_VALUE_STRING, .u.str = {"all good", 8}};
    }
    recs[0].severity_number = 5; /* DEBUG */
    recs[1].severity_number = 9; /* INFO */
    recs[1].body.u.str = (fw_str){"Connection TIMEOUT to db", 24};
    recs[2].severity_number = 13; /* WARN */
    recs[2].attrs = (fw_attrs){attr_db, 2};
    recs[3].severity_number = 17; /* ERROR */
    recs[3].body = (fw_value){.type = FW_VALUE_KVLIST, .u.kvlist = {body_kv, 2}};
    recs[4].severity_number = 0; /* text only */
    recs[4].severity_text = (fw_str){"Error", 5};
    recs[4].body.u.str = (fw_str){"request timeout", 15};
    recs[5].severity_number = 21; /* FATAL */
    recs[5].resource = &res_back;
    assert_int_equal(fw_store_add_logs(f->store, recs, 6), 0);
}

static size_t count_logs(fixture *f, const char *query)
{
    json_t *j = get_json(f, "/api/v1/logs", query, 200);
    size_t n = json_array_size(json_object_get(j, "logs"));
    json_decref(j);
    return n;
}

static void test_logs_filters(void **state)
{
    fixture *f = *state;
    add_logs(f);
    assert_int_equal(count_logs(f, NULL), 6);
    assert_int_equal(count_logs(f, "severity=error"), 3); /* 17, text Error, 21 */
    assert_int_equal(count_logs(f, "severity=ERROR&service=frontend"), 2);
    assert_int_equal(count_logs(f, "severity=warn"), 4);
    assert_int_equal(count_logs(f, "severity=warning"), 4);
    assert_int_equal(count_logs(f, "severity=13"), 4);
    assert_int_equal(count_logs(f, "severity=14"), 3);
    assert_int_equal(count_logs(f, "severity=trace"), 6);
    assert_int_equal(count_logs(f, "severity=fatal"), 1);
    assert_int_equal(count_logs(f, "severity_min=info"), 5);

    /* q: case-insensitive over string bodies, nested strings, attributes */
    assert_int_equal(count_logs(f, "q=timeout"), 2);
    assert_int_equal(count_logs(f, "q=TimeOut&severity=error"), 1);
    assert_int_equal(count_logs(f, "q=rate%20exceeded"), 1);
    assert_int_equal(count_logs(f, "q=from%20orders"), 1);
    assert_int_equal(count_logs(f, "q=all%20good"), 3);
    assert_int_equal(count_logs(f, "q=nothing-like-this"), 0);
    assert_int_equal(count_logs(f, "q=3"), 0); /* int attributes are not text */
    assert_int_equal(count_logs(f, "q=good&service=backend"), 1);
    assert_int_equal(count_logs(f, "q="), 6);

    /* rendering: the matching record itself */
    json_t *j = get_json(f, "/api/v1/logs", "q=rate%20exceeded", 200);
    json_t *l0 = json_array_get(json_object_get(j, "logs"), 0);
    assert_int_equal(jint(l0, "severity_number"), 17);
    json_decref(j);

    assert_error_mentions(f, "/api/v1/logs", "severity=loud", 400, "severity:");
    assert_error_mentions(f, "/api/v1/logs", "severity=25", 400, "severity:");
    assert_error_mentions(f, "/api/v1/logs", "severity=0", 400, "severity:");
    char longq[400] = "q=";
    memset(longq + 2, 'a', 300);
    longq[302] = '\0';
    assert_error_mentions(f, "/api/v1/logs", longq, 400, "q:");
    longq[2 + 256] = '\0'; /* exactly 256 bytes is fine */
    assert_int_equal(count_logs(f, longq), 0);
}

/* ---- GET /metrics ---- */

/* The value of the unlabelled series |name| in the exposition |text|; fails
 * the test unless the family has exactly one "# HELP" line, exactly one
 * "# TYPE name <type>" line and exactly one sample with an integer value. */
static uint64_t prom_value(const char *text, size_t len, const char *name, const char *type)
{
    size_t nlen = strlen(name);
    int helps = 0, types = 0, samples = 0;
    uint64_t value = 0;
    char want_type[160];
    snprintf(want_type, sizeof(want_type), "# TYPE %s %s", name, type);
    for (size_t i = 0; i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        i += ll + 1;
        if (ll > 7 && strncmp(line, "# HELP ", 7) == 0 && ll > 7 + nlen &&
            strncmp(line + 7, name, nlen) == 0 && line[7 + nlen] == ' ')
            helps++;
        if (strncmp(line, "# TYPE ", 7) == 0 && ll > 7 + nlen &&
            strncmp(line + 7, name, nlen) == 0 && line[7 + nlen] == ' ') {
            types++;
            if (ll != strlen(want_type) || strncmp(line, want_type, ll) != 0)
                fail_msg("%.*s: want %s", (int)ll, line, want_type);
        }
        if (ll > nlen && strncmp(line, name, nlen) == 0 && line[nlen] == ' ') {
            samples++;
            value = 0;
            if (ll == nlen + 1) fail_msg("%s: no value", name);
            for (size_t k = nlen + 1; k < ll; k++) {
                if (line[k] < '0' || line[k] > '9' || value > (UINT64_MAX - 9u) / 10u)
                    fail_msg("%s: not an integer: %.*s", name, (int)ll, line);
                value = value * 10u + (uint64_t)(line[k] - '0');
            }
        }
    }
    if (helps != 1 || types != 1 || samples != 1)
        fail_msg("%s: %d HELP, %d TYPE, %d samples; want 1 each", name, helps, types, samples);
    return value;
}


static bool body_contains(const fw_http_response *resp, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= resp->body.len; i++)
        if (memcmp(resp->body.data + i, needle, n) == 0) return true;
    return false;
}

/* The miner's counters in GET /metrics: the 56 lines fed in setup (3
 * templates of "shop" and one of "auth"), blank bodies counted as ignored;
 * an API without a miner has no flywheel_log_patterns_* family. Runs last:
 * it feeds the shared miner. */
static void test_patterns_metrics(void **state)
{
    fixture *f = *state;
    fw_patterns_observe(f->patterns, FW_STR_LIT("shop"), FW_STR_LIT("   "), 9, NOW - MIN, NULL);
    fw_patterns_observe(f->patterns, FW_STR_LIT("shop"), FW_STR_LIT(""), 9, NOW - MIN, NULL);
    fw_http_response resp;
    call(f, FW_HTTP_GET, "/metrics", NULL, &resp);
    assert_int_equal(resp.status, 200);
    const char *t = (const char *)resp.body.data;
    size_t n = resp.body.len;
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_lines_total", "counter"), 56);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_ignored_total", "counter"), 2);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_truncated_total", "counter"), 0);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_overflow_total", "counter"), 0);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_dropped_total", "counter"), 0);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_expired_total", "counter"), 0);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_services", "gauge"), 2);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_held", "gauge"), 4);
    fw_patterns_stats st;
    fw_patterns_get_stats(f->patterns, &st);
    assert_true(st.memory_used > 0);
    assert_int_equal(prom_value(t, n, "flywheel_log_patterns_memory_used_bytes", "gauge"),
                     st.memory_used);
    fw_http_response_free(&resp);

    fw_api *a = NULL;
    assert_int_equal(fw_api_new(NULL, f->store, &f->stats, &a), 0);
    fw_http_handler h = fw_api_handler(a);
    fw_http_request req = {0};
    req.method = FW_HTTP_GET;
    req.path = FW_STR_LIT("/metrics");
    req.query = (fw_str){"", 0};
    fw_http_response_init(&resp, h.max_resp_body);
    h.handle(h.ctx, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_false(body_contains(&resp, "flywheel_log_patterns_"));
    assert_true(body_contains(&resp, "flywheel_store_log_records "));
    fw_http_response_free(&resp);
    fw_api_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_window_vs_baseline),
        cmocka_unit_test(test_patterns_defaults_and_services),
        cmocka_unit_test(test_patterns_bad_params),
        cmocka_unit_test(test_patterns_not_enabled),
        cmocka_unit_test(test_patterns_truncated),
        cmocka_unit_test(test_logs_filters),
        cmocka_unit_test(test_patterns_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
