/* test_api_deploy.c - POST and GET /api/v1/deployments through the API
 * handler called directly (as test_api.c does), on a real fw_deploy store
 * in a temporary directory and a pinned clock: stored objects, timestamp
 * forms, 400s naming the field, 413/415, listing order, filters, limits,
 * bad parameters, inferred deployments, truncation, the 503 without a
 * store, and the store's flywheel_deployments_* families in GET /metrics.
 * Responses are parsed with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flywheel/api.h"
#include "flywheel/deploy.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC) /* 2023-11-14T22:13:20Z */
#define NOW (T0 + 3600ull * SEC)

typedef struct fixture {
    char dir[64];
    fw_store *store;
    fw_stats stats;
    fw_api *api;
    fw_deploy_store *ds;
    fw_http_handler h;
} fixture;

static uint64_t pinned(void *ctx)
{
    (void)ctx;
    return NOW;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/fw_api_deploy_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char err[256];
    fw_deploy_config dc = {.clock_ns = pinned};
    assert_int_equal(fw_deploy_open_config(f->dir, &dc, &f->ds, err, sizeof(err)), 0);
    fw_store_config sc = {.max_spans = 100, .max_logs = 100, .partitions = 1};
    assert_int_equal(fw_store_new(&sc, &f->store), 0);
    fw_stats_init(&f->stats);
    fw_api_config ac = {.clock_ns = pinned};
    assert_int_equal(fw_api_new(&ac, f->store, &f->stats, &f->api), 0);
    fw_api_set_deployments(f->api, f->ds);
    f->h = fw_api_handler(f->api);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_api_free(f->api);
    fw_store_free(f->store);
    fw_deploy_close(f->ds);
    static const char *const files[] = {"flywheel.db", "flywheel.db-wal", "flywheel.db-shm"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- calling the handler ---- */

static void call_full(fixture *f, fw_http_method m, const char *query, const char *ctype,
                      const char *body, size_t body_len, size_t resp_max, fw_http_response *resp)
{
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from("/api/v1/deployments");
    req.query = query ? fw_str_from(query) : (fw_str){"", 0};
    req.content_type = ctype ? fw_str_from(ctype) : FW_STR_NULL;
    req.body = (const uint8_t *)body;
    req.body_len = body_len;
    req.http_major = 1;
    fw_http_response_init(resp, resp_max);
    f->h.handle(f->h.ctx, &req, resp);
    assert_true(resp->body.len <= resp_max);
}

static json_t *parse_resp(const fw_http_response *resp)
{
    assert_non_null(resp->content_type);
    assert_string_equal(resp->content_type, "application/json");
    json_error_t err;
    json_t *j = json_loadb((const char *)resp->body.data, resp->body.len, 0, &err);
    if (!j)
        fail_msg("bad JSON (%s): %.*s", err.text, (int)resp->body.len,
                 (const char *)resp->body.data);
    return j;
}

static json_t *post_ct(fixture *f, const char *ctype, const char *body, int want_status)
{
    fw_http_response resp;
    call_full(f, FW_HTTP_POST, NULL, ctype, body, body ? strlen(body) : 0, f->h.max_resp_body,
              &resp);
    if (resp.status != want_status)
        fail_msg("POST %s: status %d, want %d: %.*s", body ? body : "", resp.status,
                 want_status, (int)resp.body.len, (const char *)resp.body.data);
    json_t *j = parse_resp(&resp);
    fw_http_response_free(&resp);
    return j;
}

static json_t *post(fixture *f, const char *body, int want_status)
{
    return post_ct(f, "application/json", body, want_status);
}

static json_t *get(fixture *f, const char *query, int want_status)
{
    fw_http_response resp;
    call_full(f, FW_HTTP_GET, query, NULL, NULL, 0, f->h.max_resp_body, &resp);
    if (resp.status != want_status)
        fail_msg("GET ?%s: status %d, want %d: %.*s", query ? query : "", resp.status,
                 want_status, (int)resp.body.len, (const char *)resp.body.data);
    json_t *j = parse_resp(&resp);
    fw_http_response_free(&resp);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("field %s is not a string", key);
    return s;
}

static void expect_error(json_t *j, const char *want)
{
    const char *msg = json_string_value(json_object_get(j, "error"));
    assert_non_null(msg);
    if (strncmp(msg, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", msg, want);
    json_decref(j);
}

static json_t *deployments(json_t *j)
{
    json_t *arr = json_object_get(j, "deployments");
    assert_true(json_is_array(arr));
    assert_true(json_is_boolean(json_object_get(j, "truncated")));
    return arr;
}

/* ---- POST ---- */

static void test_post_stores_and_echoes(void **state)
{
    fixture *f = *state;
    json_t *j = post(f,
                     "{\"service\":\"checkout\",\"version\":\"2.4.1\","
                     "\"timestamp\":\"2023-11-14T22:13:20.5Z\",\"environment\":\"prod\","
                     "\"commit\":\"9f2c1e0\",\"description\":\"canary \\\"ok\\\"\","
                     "\"extra\":{\"ignored\":true}}",
                     201);
    assert_true(json_integer_value(json_object_get(j, "id")) > 0);
    assert_string_equal(jstr(j, "service"), "checkout");
    assert_string_equal(jstr(j, "version"), "2.4.1");
    assert_true(json_is_null(json_object_get(j, "previous_version")));
    assert_string_equal(jstr(j, "environment"), "prod");
    assert_string_equal(jstr(j, "commit"), "9f2c1e0");
    assert_string_equal(jstr(j, "description"), "canary \"ok\"");
    assert_string_equal(jstr(j, "timestamp"), "2023-11-14T22:13:20.500000000Z");
    assert_string_equal(jstr(j, "timestamp_unix_nano"), "1700000000500000000");
    assert_string_equal(jstr(j, "source"), "api");
    assert_string_equal(jstr(j, "recorded_at_unix_nano"), "1700003600000000000");
    json_decref(j);

    /* Minimal body: timestamp defaults to now; optional fields null;
     * previous_version is the version before. */
    j = post(f, "{\"service\":\"checkout\",\"version\":\"2.5.0\"}", 201);
    assert_string_equal(jstr(j, "timestamp_unix_nano"), "1700003600000000000");
    assert_string_equal(jstr(j, "previous_version"), "2.4.1");
    assert_true(json_is_null(json_object_get(j, "environment")));
    assert_true(json_is_null(json_object_get(j, "commit")));
    assert_true(json_is_null(json_object_get(j, "description")));
    json_decref(j);

    /* The other timestamp forms, and a charset parameter on the type. */
    j = post_ct(f, "application/json; charset=utf-8",
                "{\"service\":\"a\",\"version\":\"1\",\"timestamp\":1700000000000000001}", 201);
    assert_string_equal(jstr(j, "timestamp_unix_nano"), "1700000000000000001");
    json_decref(j);
    j = post(f, "{\"service\":\"a\",\"version\":\"2\",\"timestamp\":\"1700000000000000002\"}",
             201);
    assert_string_equal(jstr(j, "timestamp_unix_nano"), "1700000000000000002");
    assert_string_equal(jstr(j, "previous_version"), "1");
    json_decref(j);
    j = post(f,
             "{\"service\":\"a\",\"version\":\"3\",\"timestamp\":\"2023-11-15T00:13:20+02:00\","
             "\"environment\":null}",
             201);
    assert_string_equal(jstr(j, "timestamp_unix_nano"), "1700000000000000000");
    assert_true(json_is_null(json_object_get(j, "environment")));
    json_decref(j);

    j = get(f, "service=checkout", 200);
    assert_int_equal(json_array_size(deployments(j)), 2);
    json_decref(j);
}

static void test_post_validation(void **state)
{
    fixture *f = *state;
    expect_error(post(f, "{\"version\":\"1\"}", 400), "service: required");
    expect_error(post(f, "{\"service\":null,\"version\":\"1\"}", 400), "service: required");
    expect_error(post(f, "{\"service\":\"\",\"version\":\"1\"}", 400), "service: required");
    expect_error(post(f, "{\"service\":\"a\"}", 400), "version: required");
    expect_error(post(f, "{\"service\":\"a\",\"version\":2}", 400), "version: must be a string");
    expect_error(post(f, "{\"service\":[\"a\"],\"version\":\"2\"}", 400),
                 "service: must be a string");
    expect_error(post(f, "{\"service\":\"a\",\"version\":\"2\",\"environment\":5}", 400),
                 "environment: must be a string");
    expect_error(post(f, "{\"service\":\"a\",\"version\":\"2\",\"commit\":{}}", 400),
                 "commit: must be a string");
    expect_error(post(f, "{\"service\":\"a\",\"version\":\"2\",\"description\":true}", 400),
                 "description: must be a string");

    char body[600];
    char longv[130];
    memset(longv, 'v', 129);
    longv[129] = '\0';
    snprintf(body, sizeof(body), "{\"service\":\"a\",\"version\":\"%s\"}", longv);
    expect_error(post(f, body, 400), "version: must be a string of at most 128 bytes");

    static const char *const bad_ts[] = {"\"yesterday\"", "\"\"",  "1.5",  "-5",   "0",
                                         "true",          "[]",    "\"2023-13-01T00:00:00Z\"",
                                         "\"2023-11-14 22:13:20\"", "\"-1\""};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
        snprintf(body, sizeof(body), "{\"service\":\"a\",\"version\":\"1\",\"timestamp\":%s}",
                 bad_ts[i]);
        expect_error(post(f, body, 400), "timestamp: not RFC 3339 or unix nanoseconds");
    }

    expect_error(post(f, "{\"service\":\"a\",", 400), "body: invalid JSON");
    expect_error(post(f, "{\"service\":\"a\",\"service\":\"b\",\"version\":\"1\"}", 400),
                 "body: invalid JSON");
    expect_error(post(f, "[1,2]", 400), "body: must be a JSON object");
    expect_error(post(f, "\"x\"", 400), "body: must be a JSON object");
    expect_error(post(f, NULL, 400), "body: must be a JSON object");
    expect_error(post(f, "{\"service\":\"a\\u0000b\",\"version\":\"1\"}", 400),
                 "body: invalid JSON");

    /* Nothing invalid was stored. */
    json_t *j = get(f, NULL, 200);
    assert_int_equal(json_array_size(deployments(j)), 0);
    json_decref(j);
}

static void test_post_media_type_and_size(void **state)
{
    fixture *f = *state;
    const char *ok = "{\"service\":\"a\",\"version\":\"1\"}";
    expect_error(post_ct(f, NULL, ok, 415), "Content-Type: must be application/json");
    expect_error(post_ct(f, "text/plain", ok, 415), "Content-Type");
    expect_error(post_ct(f, "application/jsonx", ok, 415), "Content-Type");
    json_decref(post_ct(f, "Application/JSON", ok, 201));

    size_t n = 70u * 1024u;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, ok, strlen(ok));
    big[n] = '\0';
    expect_error(post(f, big, 413), "body: must be at most 65536 bytes");
    free(big);

    /* The core's over-limit flag. */
    fw_http_request req = {0};
    fw_http_response resp;
    req.method = FW_HTTP_POST;
    req.path = fw_str_from("/api/v1/deployments");
    req.content_type = fw_str_from("application/json");
    req.body_too_large = true;
    fw_http_response_init(&resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, &resp);
    assert_int_equal(resp.status, 413);
    fw_http_response_free(&resp);

    /* Another method: 405 naming the allowed ones. */
    call_full(f, FW_HTTP_PUT, NULL, "application/json", ok, strlen(ok), f->h.max_resp_body,
              &resp);
    assert_int_equal(resp.status, 405);
    bool found = false;
    for (size_t i = 0; i < resp.n_headers; i++)
        if (strcmp(resp.headers[i].name, "allow") == 0) {
            assert_string_equal(resp.headers[i].value, "GET, HEAD, POST");
            found = true;
        }
    assert_true(found);
    fw_http_response_free(&resp);
}

/* ---- GET ---- */

static void seed(fixture *f)
{
    static const char *const bodies[] = {
        "{\"service\":\"cart\",\"version\":\"1\",\"timestamp\":1700000010000000000}",
        "{\"service\":\"web\",\"version\":\"a\",\"timestamp\":1700000020000000000}",
        "{\"service\":\"cart\",\"version\":\"2\",\"timestamp\":1700000030000000000}",
        "{\"service\":\"web\",\"version\":\"b\",\"timestamp\":1700000040000000000}",
    };
    for (size_t i = 0; i < 4; i++)
        json_decref(post(f, bodies[i], 201));
}

static void expect_versions(json_t *j, const char *const *want, size_t n)
{
    json_t *arr = deployments(j);
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jstr(json_array_get(arr, i), "version"), want[i]);
    json_decref(j);
}

static void test_get_filters_and_order(void **state)
{
    fixture *f = *state;
    seed(f);
    static const char *const all[] = {"b", "2", "a", "1"};
    expect_versions(get(f, NULL, 200), all, 4);
    expect_versions(get(f, "service=&limit=", 200), all, 4);
    static const char *const cart[] = {"2", "1"};
    expect_versions(get(f, "service=cart", 200), cart, 2);
    static const char *const mid[] = {"2", "a"};
    expect_versions(get(f, "from=1700000020000000000&to=2023-11-14T22:13:50Z", 200), mid, 2);
    static const char *const late[] = {"b"};
    expect_versions(get(f, "from=2023-11-14T22:14:00Z", 200), late, 1);
    static const char *const first[] = {"b", "2"};
    expect_versions(get(f, "limit=2", 200), first, 2);
    expect_versions(get(f, "service=nope", 200), NULL, 0);
    expect_versions(get(f, "to=0", 200), NULL, 0);

    json_t *j = get(f, "service=web&limit=1", 200);
    json_t *d = json_array_get(deployments(j), 0);
    assert_string_equal(jstr(d, "service"), "web");
    assert_string_equal(jstr(d, "previous_version"), "a");
    assert_string_equal(jstr(d, "timestamp"), "2023-11-14T22:14:00.000000000Z");
    assert_string_equal(jstr(d, "source"), "api");
    assert_false(json_is_true(json_object_get(j, "truncated")));
    json_decref(j);
}

static void test_get_bad_params(void **state)
{
    fixture *f = *state;
    expect_error(get(f, "limit=0", 400), "limit: must be an integer from 1 to 10000");
    expect_error(get(f, "limit=10001", 400), "limit:");
    expect_error(get(f, "limit=x", 400), "limit:");
    expect_error(get(f, "from=soon", 400), "from: must be an RFC 3339 time or unix nanoseconds");
    expect_error(get(f, "to=2023-02-30T00:00:00Z", 400), "to:");
    expect_error(get(f, "from=20&to=10", 400), "from: must not be later than to");
    char q[400];
    char longs[300];
    memset(longs, 's', 299);
    longs[299] = '\0';
    snprintf(q, sizeof(q), "service=%s", longs);
    expect_error(get(f, q, 400), "service: must be at most 256 bytes");
}

static void test_get_inferred_and_truncation(void **state)
{
    fixture *f = *state;
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), FW_STR_LIT("1.0"),
                                               FW_STR_LIT("staging"), T0),
                     0);
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), FW_STR_LIT("1.1"),
                                               FW_STR_LIT("staging"), T0 + 5 * SEC),
                     1);
    json_t *j = get(f, "service=pay", 200);
    json_t *arr = deployments(j);
    assert_int_equal(json_array_size(arr), 1);
    json_t *d = json_array_get(arr, 0);
    assert_string_equal(jstr(d, "version"), "1.1");
    assert_string_equal(jstr(d, "previous_version"), "1.0");
    assert_string_equal(jstr(d, "environment"), "staging");
    assert_string_equal(jstr(d, "source"), "inferred");
    assert_string_equal(jstr(d, "timestamp_unix_nano"), "1700000005000000000");
    json_decref(j);

    seed(f);
    fw_http_response resp;
    call_full(f, FW_HTTP_GET, NULL, NULL, NULL, 0, 700, &resp);
    assert_int_equal(resp.status, 200);
    j = parse_resp(&resp);
    fw_http_response_free(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    size_t n = json_array_size(deployments(j));
    assert_true(n >= 1 && n < 5);
    json_decref(j);
}

static void test_no_store_503(void **state)
{
    fixture *f = *state;
    fw_api_set_deployments(f->api, NULL);
    expect_error(get(f, NULL, 503), "deployments are not available");
    expect_error(post(f, "{\"service\":\"a\",\"version\":\"1\"}", 503),
                 "deployments are not available");
    fw_api_set_deployments(f->api, f->ds);
    json_decref(get(f, NULL, 200));
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

static void get_metrics(fixture *f, fw_http_response *resp)
{
    fw_http_request req = {0};
    req.method = FW_HTTP_GET;
    req.path = FW_STR_LIT("/metrics");
    req.query = (fw_str){"", 0};
    req.http_major = 1;
    fw_http_response_init(resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, resp);
    assert_int_equal(resp->status, 200);
}

static bool contains(const fw_http_response *resp, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= resp->body.len; i++)
        if (memcmp(resp->body.data + i, needle, n) == 0) return true;
    return false;
}

typedef struct deploy_want {
    uint64_t services, versions, recorded, inferred, ignored;
} deploy_want;

static void expect_deploy_metrics(fixture *f, const deploy_want *w)
{
    fw_http_response resp;
    get_metrics(f, &resp);
    const char *t = (const char *)resp.body.data;
    size_t n = resp.body.len;
    assert_int_equal(prom_value(t, n, "flywheel_deployments_services", "gauge"), w->services);
    assert_int_equal(prom_value(t, n, "flywheel_deployments_versions", "gauge"), w->versions);
    assert_int_equal(prom_value(t, n, "flywheel_deployments_recorded_total", "counter"),
                     w->recorded);
    assert_int_equal(prom_value(t, n, "flywheel_deployments_inferred_total", "counter"),
                     w->inferred);
    assert_int_equal(prom_value(t, n, "flywheel_deployments_ignored_total", "counter"), w->ignored);
    assert_int_equal(
        prom_value(t, n, "flywheel_deployments_services_refused_total", "counter"), 0);
    assert_int_equal(
        prom_value(t, n, "flywheel_deployments_versions_evicted_total", "counter"), 0);
    assert_int_equal(prom_value(t, n, "flywheel_deployments_write_errors_total", "counter"), 0);
    fw_http_response_free(&resp);
}

/* The store's counters in GET /metrics follow what was recorded, inferred
 * and ignored; without a store the families are absent. */
static void test_metrics(void **state)
{
    fixture *f = *state;
    expect_deploy_metrics(f, &(deploy_want){0});

    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), FW_STR_LIT("1.0"),
                                               FW_STR_NULL, T0),
                     0);
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), FW_STR_LIT("1.1"),
                                               FW_STR_NULL, T0 + SEC),
                     1);
    /* Flipping back and forth infers nothing more. */
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), FW_STR_LIT("1.0"),
                                               FW_STR_NULL, T0 + 2 * SEC),
                     0);
    json_decref(post(f, "{\"service\":\"cart\",\"version\":\"9\"}", 201));
    json_decref(post(f, "{\"service\":\"cart\"}", 400)); /* not recorded */
    char longv[200];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("pay"), fw_str_from(longv),
                                               FW_STR_NULL, T0 + 3 * SEC),
                     0);
    expect_deploy_metrics(f, &(deploy_want){.services = 2, .versions = 3, .recorded = 1,
                                            .inferred = 1, .ignored = 1});

    fw_api_set_deployments(f->api, NULL);
    fw_http_response resp;
    get_metrics(f, &resp);
    assert_false(contains(&resp, "flywheel_deployments_"));
    assert_true(contains(&resp, "flywheel_store_spans "));
    fw_http_response_free(&resp);
    fw_api_set_deployments(f->api, f->ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_stores_and_echoes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_media_type_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_filters_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_bad_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_inferred_and_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_store_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
