/* test_api_slo.c - /api/v1/slos through the API handler called directly,
 * on a real fw_slo store in a temporary directory, RED fed with
 * fw_red_observe and a pinned clock: 201 with the stored SLO and its
 * status, the status object's fields, listing, GET and DELETE by id (404
 * unknown, 204), 400s naming the field, 409 on a duplicate id, 415, 405
 * and the 503 without a store. Responses are parsed with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flywheel/api.h"
#include "flywheel/intern.h"
#include "flywheel/red.h"
#include "flywheel/slo.h"

#define SEC  1000000000ull
#define MIN  (60ull * SEC)
#define HOUR (60ull * MIN)
#define NOW  (1704067200ull * SEC)

typedef struct fixture {
    char dir[64];
    fw_store *store;
    fw_stats stats;
    fw_api *api;
    fw_intern *intern;
    fw_red *red;
    fw_slos *slos;
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
    snprintf(f->dir, sizeof(f->dir), "/tmp/fw_api_slo_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(fw_intern_new(1u << 20, &f->intern), 0);
    fw_red_config rc = {
        .retention_ns = 2 * HOUR, .max_series = 100, .memory_limit = 64u << 20, .partitions = 1};
    assert_int_equal(fw_red_new(&rc, &f->red), 0);
    fw_slo_config scfg = {
        .red = f->red, .intern = f->intern, .retention_ns = 2 * HOUR, .clock_ns = pinned};
    char err[256];
    assert_int_equal(fw_slo_open(f->dir, &scfg, &f->slos, err, sizeof(err)), 0);
    fw_store_config sc = {.max_spans = 100, .max_logs = 100, .partitions = 1};
    assert_int_equal(fw_store_new(&sc, &f->store), 0);
    fw_stats_init(&f->stats);
    fw_api_config ac = {.clock_ns = pinned};
    assert_int_equal(fw_api_new(&ac, f->store, &f->stats, &f->api), 0);
    fw_api_set_slos(f->api, f->slos);
    f->h = fw_api_handler(f->api);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_api_free(f->api);
    fw_store_free(f->store);
    fw_slo_close(f->slos);
    fw_red_free(f->red);
    fw_intern_free(f->intern);
    static const char *const files[] = {"slos.db", "slos.db-wal", "slos.db-shm"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static void feed(fixture *f, const char *svc, uint64_t t, double weight, bool fault)
{
    fw_red_obs o;
    memset(&o, 0, sizeof(o));
    o.key = (fw_red_key){.kind = FW_RED_SERVICE,
                         .a = fw_intern_id(f->intern, (fw_str){svc, strlen(svc)})};
    o.time_ns = t;
    o.duration_us = 1000;
    o.weight = weight;
    o.fault = fault;
    fw_red_observe(f->red, 0, &o, 1);
}

/* Calls the handler; returns the parsed body (NULL for an empty one). */
static json_t *call(fixture *f, fw_http_method m, const char *path, const char *body,
                    int want_status)
{
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from(path);
    req.query = (fw_str){"", 0};
    req.content_type = body ? fw_str_from("application/json") : FW_STR_NULL;
    req.body = (const uint8_t *)body;
    req.body_len = body ? strlen(body) : 0;
    req.http_major = 1;
    fw_http_response resp;
    fw_http_response_init(&resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, &resp);
    if (resp.status != want_status)
        fail_msg("%s: status %d, want %d: %.*s", path, resp.status, want_status, (int)resp.body.len,
                 (const char *)resp.body.data);
    json_t *j = NULL;
    if (resp.body.len) {
        json_error_t err;
        j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &err);
        if (!j)
            fail_msg("bad JSON (%s): %.*s", err.text, (int)resp.body.len,
                     (const char *)resp.body.data);
    }
    fw_http_response_free(&resp);
    return j;
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) fail_msg("field %s is not a number", key);
    return json_number_value(v);
}

static void expect_error(json_t *j, const char *prefix)
{
    const char *msg = json_string_value(json_object_get(j, "error"));
    assert_non_null(msg);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\", want \"%s...\"", msg, prefix);
    json_decref(j);
}

static void test_create_get_list_delete(void **state)
{
    fixture *f = *state;
    /* 1000 requests, 6 failing in the last 40 minutes: 60 % of a 1 %
     * budget used, 40 % left: WARNING. */
    feed(f, "checkout", NOW - 40 * MIN, 994, false);
    feed(f, "checkout", NOW - 30 * MIN, 6, true);
    json_t *j = call(f, FW_HTTP_POST, "/api/v1/slos",
                     "{\"id\":\"checkout-avail\",\"service\":\"checkout\",\"target\":99,"
                     "\"window\":\"1h\"}",
                     201);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "checkout-avail");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "checkout-avail");
    assert_string_equal(json_string_value(json_object_get(j, "sli")), "availability");
    assert_true(json_is_null(json_object_get(j, "operation")));
    assert_true(json_is_null(json_object_get(j, "threshold_ms")));
    assert_true(jnum(j, "warning_threshold") == 50);
    json_t *st = json_object_get(j, "status");
    assert_string_equal(json_string_value(json_object_get(st, "status")), "WARNING");
    assert_true(fabs(jnum(st, "attainment") - 99.4) < 1e-9);
    assert_true(jnum(st, "target") == 99);
    json_t *eb = json_object_get(st, "error_budget");
    assert_true(fabs(jnum(eb, "total") - 0.01) < 1e-12);
    assert_true(fabs(jnum(eb, "consumed") - 0.6) < 1e-9);
    assert_true(fabs(jnum(eb, "remaining") - 0.4) < 1e-9);
    json_t *br = json_object_get(st, "burn_rates");
    assert_true(jnum(br, "5m") == 0);
    assert_true(fabs(jnum(br, "1h") - 0.6) < 1e-9);
    assert_true(fabs(jnum(br, "6h") - 0.6) < 1e-9);
    assert_true(json_is_false(json_object_get(st, "alerting")));
    assert_true(jnum(st, "requests") == 1000);
    assert_true(jnum(st, "bad_requests") == 6);
    assert_true(jnum(st, "window_seconds") == 3600);
    assert_true(jnum(st, "data_seconds") == 2400);
    assert_true(json_is_false(json_object_get(st, "window_exceeds_retention")));
    json_decref(j);

    /* A latency SLO on an operation, default window 30 d (over retention). */
    j = call(f, FW_HTTP_POST, "/api/v1/slos",
             "{\"name\":\"Search p\",\"service\":\"search\",\"operation\":\"GET /q\","
             "\"sli\":\"latency\",\"threshold_ms\":250,\"target\":99.5,"
             "\"warning_threshold\":20}",
             201);
    const char *id = json_string_value(json_object_get(j, "id"));
    assert_non_null(id);
    assert_memory_equal(id, "slo-", 4);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/slos/%s", id);
    assert_string_equal(json_string_value(json_object_get(j, "window")), "30d");
    assert_true(jnum(j, "threshold_ms") == 250);
    st = json_object_get(j, "status");
    assert_string_equal(json_string_value(json_object_get(st, "status")), "INSUFFICIENT_DATA");
    assert_true(json_is_null(json_object_get(st, "attainment")));
    assert_true(json_is_true(json_object_get(st, "window_exceeds_retention")));
    assert_non_null(json_string_value(json_object_get(st, "note")));
    json_decref(j);

    j = call(f, FW_HTTP_GET, "/api/v1/slos", NULL, 200);
    json_t *arr = json_object_get(j, "slos");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")),
                        "checkout-avail");
    assert_true(json_is_false(json_object_get(j, "truncated")));
    json_decref(j);

    j = call(f, FW_HTTP_GET, path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "operation")), "GET /q");
    json_decref(j);

    assert_null(call(f, FW_HTTP_DELETE, path, NULL, 204));
    expect_error(call(f, FW_HTTP_GET, path, NULL, 404), "SLO not found");
    expect_error(call(f, FW_HTTP_DELETE, path, NULL, 404), "SLO not found");
    expect_error(call(f, FW_HTTP_GET, "/api/v1/slos/", NULL, 404), "SLO not found");
    expect_error(call(f, FW_HTTP_GET, "/api/v1/slos/a/b", NULL, 404), "SLO not found");
    j = call(f, FW_HTTP_GET, "/api/v1/slos", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "slos")), 1);
    json_decref(j);
    expect_error(call(f, FW_HTTP_PUT, "/api/v1/slos", "{}", 405), "method not allowed");
}

static void test_validation(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *body;
        const char *error;
    } cases[] = {
        {"{\"target\":99}", "service: required"},
        {"{\"service\":\"a\"}", "target: required"},
        {"{\"service\":\"a\",\"target\":100}", "target:"},
        {"{\"service\":\"a\",\"target\":\"99\"}", "target: must be a number"},
        {"{\"service\":7,\"target\":99}", "service: must be a string"},
        {"{\"service\":\"a\",\"target\":99,\"window\":\"forever\"}", "window:"},
        {"{\"service\":\"a\",\"target\":99,\"window\":\"aaaaaaaaaaaaaaaaaaaaaaa\"}", "window:"},
        {"{\"service\":\"a\",\"target\":99,\"sli\":\"speed\"}", "sli:"},
        {"{\"service\":\"a\",\"target\":99,\"sli\":\"latency\"}", "threshold_ms:"},
        {"{\"service\":\"a\",\"target\":99,\"threshold_ms\":5}", "threshold_ms:"},
        {"{\"service\":\"a\",\"target\":99,\"id\":\"Not A Slug\"}", "id:"},
        {"{\"service\":\"a\",\"target\":99,\"warning_threshold\":-1}", "warning_threshold:"},
        {"[1]", "body: must be a JSON object"},
        {"{", "body: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(call(f, FW_HTTP_POST, "/api/v1/slos", cases[i].body, 400), cases[i].error);

    const char *ok = "{\"id\":\"dup\",\"service\":\"a\",\"target\":99}";
    json_decref(call(f, FW_HTTP_POST, "/api/v1/slos", ok, 201));
    expect_error(call(f, FW_HTTP_POST, "/api/v1/slos", ok, 409), "id:");
    assert_int_equal(fw_slo_count(f->slos), 1);

    fw_http_request req = {0};
    req.method = FW_HTTP_POST;
    req.path = fw_str_from("/api/v1/slos");
    req.content_type = fw_str_from("text/plain");
    req.body = (const uint8_t *)ok;
    req.body_len = strlen(ok);
    fw_http_response resp;
    fw_http_response_init(&resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, &resp);
    assert_int_equal(resp.status, 415);
    fw_http_response_free(&resp);
}

static void test_no_store(void **state)
{
    fixture *f = *state;
    fw_api_set_slos(f->api, NULL);
    expect_error(call(f, FW_HTTP_GET, "/api/v1/slos", NULL, 503), "SLOs are not available");
    expect_error(call(f, FW_HTTP_GET, "/api/v1/slos/x", NULL, 503), "SLOs are not available");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
