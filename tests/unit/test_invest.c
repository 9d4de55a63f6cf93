/* test_invest.c - investigations (fw_invest) over the real analysis engine
 * with no sources: start, dedupe, get and list, status transitions, the
 * queue's bound, persistence across close/open and re-queueing of
 * investigations a crash left queued or running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../investigator/invest/invest_internal.h"
#include "flywheel/investigations.h"

typedef struct fixture {
    char dir[64];
    fw_investigations *v;
} fixture;

static fw_investigations *open_inv(const char *dir)
{
    char err[256];
    fw_inv_sources src = {0};
    fw_investigations *v = NULL;
    int rv = fw_investigations_open(dir, &src, &v, err, sizeof(err));
    if (rv)
        fail_msg("open: %s", err);
    return v;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/fw-test-invest-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->v = open_inv(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_investigations_close(f->v);
    char path[128];
    static const char *const files[] = {"investigations.db", "investigations.db-wal",
                                        "investigations.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static fw_inv_request manual(const char *service)
{
    fw_inv_request r;
    memset(&r, 0, sizeof(r));
    snprintf(r.service, sizeof(r.service), "%s", service);
    snprintf(r.trigger_kind, sizeof(r.trigger_kind), "manual");
    return r;
}

static json_t *get(fw_investigations *v, const char *id)
{
    fw_buf b;
    fw_buf_init(&b, 1u << 20);
    assert_int_equal(fw_investigations_get_json(v, id, &b), 0);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &jerr);
    if (!j)
        fail_msg("get %s: bad JSON: %s: %.*s", id, jerr.text, (int)b.len, (const char *)b.data);
    fw_buf_free(&b);
    return j;
}

static const char *status_of(fw_investigations *v, const char *id, char *out, size_t outsz)
{
    json_t *j = get(v, id);
    snprintf(out, outsz, "%s", json_string_value(json_object_get(j, "status")));
    json_decref(j);
    return out;
}

static json_t *list(fw_investigations *v)
{
    fw_buf b;
    fw_buf_init(&b, 1u << 22);
    assert_int_equal(fw_investigations_list_json(v, 0, &b), 0);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &jerr);
    assert_non_null(j);
    fw_buf_free(&b);
    assert_true(json_is_array(json_object_get(j, "investigations")));
    return j;
}

static void test_start_get_list(void **state)
{
    fixture *f = *state;
    fw_inv_request r = manual("checkout");
    snprintf(r.operation, sizeof(r.operation), "POST /pay");
    char id[FW_INV_ID_MAX];
    bool started = false;
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, id, &started), 0);
    assert_true(started);
    assert_int_equal(strlen(id), 20);
    assert_memory_equal(id, "inv-", 4);

    fw_investigations_drain(f->v);
    json_t *j = get(f->v, id);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "complete");
    assert_true(json_is_string(json_object_get(j, "created_at")));
    assert_true(json_is_string(json_object_get(j, "completed_at")));
    json_t *trig = json_object_get(j, "trigger");
    assert_string_equal(json_string_value(json_object_get(trig, "kind")), "manual");
    assert_true(json_is_string(json_object_get(trig, "at")));
    json_t *scope = json_object_get(j, "scope");
    assert_true(json_is_object(scope));
    assert_string_equal(json_string_value(json_object_get(scope, "service")), "checkout");
    assert_true(json_is_object(json_object_get(j, "impact")));
    assert_true(json_is_array(json_object_get(j, "hypotheses")));
    assert_true(json_is_array(json_object_get(j, "monitoring_gaps")));
    assert_true(json_is_array(json_object_get(j, "timeline")));
    json_decref(j);

    j = list(f->v);
    json_t *arr = json_object_get(j, "investigations");
    assert_int_equal(json_array_size(arr), 1);
    json_t *s = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(s, "id")), id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "scope"), "service")),
                        "checkout");
    assert_non_null(json_object_get(s, "top_hypothesis"));
    json_decref(j);

    fw_buf b;
    fw_buf_init(&b, 1024);
    assert_int_equal(fw_investigations_get_json(f->v, "inv-0000000000000000", &b),
                     FW_ERR_NOT_FOUND);
    assert_int_equal(b.len, 0);
    fw_buf_free(&b);
}

static void test_invalid_request(void **state)
{
    fixture *f = *state;
    fw_inv_request r = manual("");
    char id[FW_INV_ID_MAX];
    bool started = true;
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, id, &started), FW_ERR_INVALID);
    assert_false(started);
    r = manual("a");
    r.from_ns = 20;
    r.to_ns = 10;
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, id, &started), FW_ERR_INVALID);
}

static void test_dedupe_and_transitions(void **state)
{
    fixture *f = *state;
    fw__invest_set_paused(f->v, true);
    fw_inv_request r = manual("cart");
    snprintf(r.trigger_kind, sizeof(r.trigger_kind), "alarm");
    snprintf(r.trigger_name, sizeof(r.trigger_name), "HighErrorRate");
    r.alarm_at_ns = 1796097492345000000ull;
    char id1[FW_INV_ID_MAX], id2[FW_INV_ID_MAX], id3[FW_INV_ID_MAX], st[32];
    bool started = false;
    assert_int_equal(fw_investigations_start(f->v, &r, "alarm/k1", id1, &started), 0);
    assert_true(started);
    assert_int_equal(fw_investigations_start(f->v, &r, "alarm/k1", id2, &started), 0);
    assert_false(started);
    assert_string_equal(id1, id2);
    assert_int_equal(fw_investigations_start(f->v, &r, "alarm/k2", id3, &started), 0);
    assert_true(started);
    assert_string_not_equal(id1, id3);

    /* queued (reported as running, SPEC 6.1): scope from the request, analysis members empty */
    json_t *j = get(f->v, id1);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
    assert_true(json_is_null(json_object_get(j, "completed_at")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "trigger"), "name")),
        "HighErrorRate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "trigger"), "at")),
                        "2026-12-01T03:58:12.345000000Z");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "scope"), "service")),
                        "cart");
    assert_int_equal(json_array_size(json_object_get(j, "hypotheses")), 0);
    json_decref(j);

    fw__invest_set_paused(f->v, false);
    fw_investigations_drain(f->v);
    assert_string_equal(status_of(f->v, id1, st, sizeof(st)), "complete");
    assert_string_equal(status_of(f->v, id3, st, sizeof(st)), "complete");
    /* once complete, the same alarm firing again starts a new one */
    assert_int_equal(fw_investigations_start(f->v, &r, "alarm/k1", id2, &started), 0);
    assert_true(started);
    assert_string_not_equal(id1, id2);
    fw_investigations_drain(f->v);

    /* newest first */
    j = list(f->v);
    json_t *arr = json_object_get(j, "investigations");
    assert_int_equal(json_array_size(arr), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")), id2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "id")), id1);
    json_decref(j);
}

static void test_queue_bound(void **state)
{
    fixture *f = *state;
    fw__invest_set_paused(f->v, true);
    char id[FW_INV_ID_MAX], first[FW_INV_ID_MAX], st[32];
    bool started = false;
    for (unsigned i = 0; i < FW__INVEST_QUEUE_CAP; i++) {
        fw_inv_request r = manual("svc");
        assert_int_equal(fw_investigations_start(f->v, &r, NULL, i ? id : first, &started), 0);
        assert_true(started);
    }
    fw_inv_request r = manual("svc");
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, id, &started), FW_ERR_OVERLOAD);
    assert_false(started);
    /* a new dedupe key is refused as well */
    assert_int_equal(fw_investigations_start(f->v, &r, "dup", id, &started), FW_ERR_OVERLOAD);
    assert_string_equal(status_of(f->v, first, st, sizeof(st)), "running");
    fw__invest_set_paused(f->v, false);
    fw_investigations_drain(f->v);
    assert_string_equal(status_of(f->v, first, st, sizeof(st)), "complete");
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, id, &started), 0);
    assert_true(started);
    fw_investigations_drain(f->v);
}

static void test_persistence(void **state)
{
    fixture *f = *state;
    fw_inv_request r = manual("frontend");
    snprintf(r.title, sizeof(r.title), "slow home page");
    char done[FW_INV_ID_MAX], pending[FW_INV_ID_MAX], st[32];
    bool started = false;
    assert_int_equal(fw_investigations_start(f->v, &r, NULL, done, &started), 0);
    fw_investigations_drain(f->v);
    json_t *before = get(f->v, done);

    /* closed with one still queued: it resumes after the reopen */
    fw__invest_set_paused(f->v, true);
    assert_int_equal(fw_investigations_start(f->v, &r, "frontend-key", pending, &started), 0);
    fw_investigations_close(f->v);
    f->v = open_inv(f->dir);
    fw_investigations_drain(f->v);

    json_t *after = get(f->v, done);
    assert_true(json_equal(before, after));
    assert_string_equal(json_string_value(json_object_get(after, "title")), "slow home page");
    json_decref(before);
    json_decref(after);
    assert_string_equal(status_of(f->v, pending, st, sizeof(st)), "complete");
}

static void exec_sql(const char *dir, const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/investigations.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_crash_requeue(void **state)
{
    fixture *f = *state;
    fw_investigations_close(f->v);
    f->v = NULL;
    /* as a crash mid-analysis leaves them */
    exec_sql(f->dir,
             "INSERT INTO investigations (id, status, created_at_ns, trigger_kind, trigger_name,"
             " trigger_at_ns, dedupe_key, service, operation, from_ns, to_ns, alarm_at_ns, title)"
             " VALUES ('inv-00000000000000aa', 'running', 1796097000000000000, 'alarm', 'A',"
             " 1796097000000000000, 'ka', 'api', '', 0, 0, 1796097000000000000, ''),"
             " ('inv-00000000000000bb', 'queued', 1796097100000000000, 'manual', '',"
             " 1796097100000000000, NULL, 'db', 'query', 0, 0, 0, '')");
    f->v = open_inv(f->dir);
    char st[32];
    fw_inv_request r = manual("api");
    char id[FW_INV_ID_MAX];
    bool started = true;
    fw_investigations_drain(f->v);
    assert_string_equal(status_of(f->v, "inv-00000000000000aa", st, sizeof(st)), "complete");
    assert_string_equal(status_of(f->v, "inv-00000000000000bb", st, sizeof(st)), "complete");
    json_t *j = get(f->v, "inv-00000000000000bb");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "scope"), "service")),
                        "db");
    json_decref(j);
    assert_int_equal(fw_investigations_start(f->v, &r, "ka", id, &started), 0);
    assert_true(started);
    fw_investigations_drain(f->v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedupe_and_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_requeue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
