/* test_api_invest.c - the alarm and investigation endpoints through the API
 * handler called directly, over real fw_investigations (real engine, no
 * sources) in a temporary directory: 202 with ids for firing alarms,
 * dedupe of a repeat, 200 for resolved ones, SNS subscription confirmation,
 * 400s naming the field, POST/GET investigations, 404 and 503. */
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

#include "../../investigator/invest/invest_internal.h"
#include "flywheel/api.h"
#include "flywheel/investigations.h"

typedef struct fixture {
    char dir[64];
    fw_store *store;
    fw_stats stats;
    fw_api *api;
    fw_investigations *inv;
    fw_http_handler h;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/fw_api_invest_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char err[256];
    fw_inv_sources src = {0};
    assert_int_equal(fw_investigations_open(f->dir, &src, &f->inv, err, sizeof(err)), 0);
    fw_store_config sc = {.max_spans = 100, .max_logs = 100, .partitions = 1};
    assert_int_equal(fw_store_new(&sc, &f->store), 0);
    fw_stats_init(&f->stats);
    fw_api_config ac = {0};
    assert_int_equal(fw_api_new(&ac, f->store, &f->stats, &f->api), 0);
    fw_api_set_investigations(f->api, f->inv);
    f->h = fw_api_handler(f->api);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_api_free(f->api);
    fw_store_free(f->store);
    fw_investigations_close(f->inv);
    static const char *const files[] = {"investigations.db", "investigations.db-wal",
                                        "investigations.db-shm"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static json_t *call(fixture *f, fw_http_method m, const char *path, const char *body,
                    int want_status)
{
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from(path);
    req.query = (fw_str){"", 0};
    req.content_type = fw_str_from("application/json");
    req.body = (const uint8_t *)body;
    req.body_len = body ? strlen(body) : 0;
    req.http_major = 1;
    fw_http_response resp;
    fw_http_response_init(&resp, f->h.max_resp_body);
    f->h.handle(f->h.ctx, &req, &resp);
    if (resp.status != want_status)
        fail_msg("%s %s: status %d, want %d: %.*s", m == FW_HTTP_POST ? "POST" : "GET", path,
                 resp.status, want_status, (int)resp.body.len, (const char *)resp.body.data);
    json_error_t err;
    json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &err);
    if (!j)
        fail_msg("bad JSON (%s): %.*s", err.text, (int)resp.body.len,
                 (const char *)resp.body.data);
    fw_http_response_free(&resp);
    return j;
}

static const char *errmsg(json_t *j)
{
    return json_string_value(json_object_get(j, "error"));
}

static const char AM_BODY[] =
    "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"fw\",\"alerts\":["
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"Errors\",\"service\":\"checkout\"},"
    "\"annotations\":{},\"startsAt\":\"2026-12-01T03:58:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
    "\"fingerprint\":\"a1\"},"
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"Old\",\"job\":\"cart\"},"
    "\"annotations\":{},\"startsAt\":\"2026-12-01T03:00:00Z\",\"endsAt\":\"2026-12-01T03:10:00Z\","
    "\"fingerprint\":\"b2\"}]}";

static void test_alertmanager_starts_and_dedupes(void **state)
{
    fixture *f = *state;
    fw__invest_set_paused(f->inv, true); /* keep it open: the repeat must dedupe */
    json_t *j = call(f, FW_HTTP_POST, "/api/v1/alarms/alertmanager", AM_BODY, 202);
    json_t *arr = json_object_get(j, "investigations");
    assert_int_equal(json_array_size(arr), 1); /* only the firing one */
    char id[FW_INV_ID_MAX];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(arr, 0), "id")));
    assert_memory_equal(id, "inv-", 4);
    json_decref(j);

    /* the same alarm again, on the generic endpoint, while it is open */
    j = call(f, FW_HTTP_POST, "/api/v1/alarms", AM_BODY, 202);
    arr = json_object_get(j, "investigations");
    assert_int_equal(json_array_size(arr), 1);
    json_t *first = json_array_get(arr, 0);
    assert_true(json_is_false(json_object_get(first, "started")));
    assert_string_equal(json_string_value(json_object_get(first, "id")), id);
    json_decref(j);

    fw__invest_set_paused(f->inv, false);
    fw_investigations_drain(f->inv);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/investigations/%s", id);
    j = call(f, FW_HTTP_GET, path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "complete");
    json_t *trig = json_object_get(j, "trigger");
    assert_string_equal(json_string_value(json_object_get(trig, "kind")), "alarm");
    assert_string_equal(json_string_value(json_object_get(trig, "name")), "Errors");
    assert_string_equal(json_string_value(json_object_get(trig, "at")),
                        "2026-12-01T03:58:00.000000000Z");
    json_decref(j);
}

static void test_resolved_and_subscription(void **state)
{
    fixture *f = *state;
    json_t *j = call(f, FW_HTTP_POST, "/api/v1/alarms",
                     "{\"name\":\"e\",\"service\":\"s\",\"state\":\"OK\",\"timestamp\":5}", 200);
    assert_int_equal(json_array_size(json_object_get(j, "investigations")), 0);
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/alarms/cloudwatch",
             "{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"arn:t\",\"SubscribeURL\":"
             "\"https://sns/confirm?x=1\",\"Message\":\"m\"}",
             200);
    assert_true(json_is_true(json_object_get(j, "subscription_confirmation")));
    assert_string_equal(json_string_value(json_object_get(j, "subscribe_url")),
                        "https://sns/confirm?x=1");
    json_decref(j);
}

static void test_bad_alarms(void **state)
{
    fixture *f = *state;
    json_t *j = call(f, FW_HTTP_POST, "/api/v1/alarms/alertmanager",
                     "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{"
                     "\"alertname\":\"x\"}}]}",
                     400);
    assert_string_equal(errmsg(j), "alerts[0].labels: missing service (service, service_name or job)");
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/alarms", "{nope", 400);
    assert_non_null(strstr(errmsg(j), "invalid JSON"));
    json_decref(j);
    j = call(f, FW_HTTP_GET, "/api/v1/alarms", NULL, 405);
    json_decref(j);
}

static void test_investigations_post_get_list(void **state)
{
    fixture *f = *state;
    json_t *j = call(f, FW_HTTP_POST, "/api/v1/investigations",
                     "{\"service\":\"frontend\",\"operation\":\"GET /\",\"from\":"
                     "\"2026-12-01T03:00:00Z\",\"to\":1796097600000000000,\"title\":\"slow\"}",
                     202);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
    char id[FW_INV_ID_MAX];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    fw_investigations_drain(f->inv);

    char path[96];
    snprintf(path, sizeof(path), "/api/v1/investigations/%s", id);
    j = call(f, FW_HTTP_GET, path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "trigger"), "kind")),
                        "manual");
    assert_true(json_is_array(json_object_get(j, "hypotheses")));
    json_decref(j);

    j = call(f, FW_HTTP_GET, "/api/v1/investigations", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "investigations")), 1);
    json_decref(j);

    j = call(f, FW_HTTP_GET, "/api/v1/investigations/inv-ffffffffffffffff", NULL, 404);
    json_decref(j);
    j = call(f, FW_HTTP_GET, "/api/v1/investigations/a/b", NULL, 404);
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/investigations", "{\"operation\":\"x\"}", 400);
    assert_string_equal(errmsg(j), "service: missing");
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/investigations", "{\"service\":\"s\",\"from\":\"soon\"}",
             400);
    assert_non_null(strstr(errmsg(j), "from:"));
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/investigations",
             "{\"service\":\"s\",\"from\":20,\"to\":10}", 400);
    assert_non_null(strstr(errmsg(j), "from:"));
    json_decref(j);
}

static void test_unavailable(void **state)
{
    fixture *f = *state;
    fw_api_set_investigations(f->api, NULL);
    json_t *j = call(f, FW_HTTP_GET, "/api/v1/investigations", NULL, 503);
    json_decref(j);
    j = call(f, FW_HTTP_POST, "/api/v1/alarms", AM_BODY, 503);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alertmanager_starts_and_dedupes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolved_and_subscription, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_alarms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_investigations_post_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
