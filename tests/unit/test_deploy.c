/* test_deploy.c - the deployment store on a real SQLite file in a fresh
 * temporary directory: validation, record/list with filters and order,
 * inference (baseline, one deployment per new version, flip-flop, several
 * services, earlier sightings, backdated data and reordering, API-declared
 * versions), the memory bounds, persistence across close/open, clear open
 * errors (missing dir, file instead of dir, corrupt file, newer schema)
 * and a concurrency smoke test checked for a consistent chain. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flywheel/deploy.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)
#define REC_AT (1800000000ull * SEC)

/* ---- fixture: a temporary data dir ---- */

typedef struct fixture {
    char dir[64];
    fw_deploy_store *ds;
} fixture;

static uint64_t pinned_clock(void *ctx)
{
    (void)ctx;
    return REC_AT;
}

static fw_deploy_store *open_dir(const char *dir, const fw_deploy_config *cfg)
{
    char err[512] = "x";
    fw_deploy_config c = cfg ? *cfg : (fw_deploy_config){0};
    c.clock_ns = pinned_clock;
    fw_deploy_store *ds = NULL;
    int rv = fw_deploy_open_config(dir, &c, &ds, err, sizeof(err));
    if (rv)
        fail_msg("open %s: %d %s", dir, rv, err);
    assert_string_equal(err, "");
    return ds;
}

static void rm_rf(const char *dir)
{
    static const char *const files[] = {"flywheel.db", "flywheel.db-wal", "flywheel.db-shm",
                                        "sub/x", "sub"};
    char p[256];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        if (unlink(p) != 0)
            (void)rmdir(p);
    }
    (void)rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/fw_deploy_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->ds = open_dir(f->dir, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_deploy_close(f->ds);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- collecting listings ---- */

typedef struct row {
    int64_t id;
    char service[300];
    char version[140];
    char prev[140]; /* "(null)" when NULL */
    char env[140];
    char commit[300];
    char description[64];
    uint64_t ts;
    fw_deploy_source source;
    uint64_t recorded_at;
} row;

typedef struct rows {
    row items[64];
    size_t n;
    size_t stop_after; /* 0 = never */
} rows;

static void cp(char *out, size_t n, const char *s)
{
    snprintf(out, n, "%s", s ? s : "(null)");
}

static int collect(void *ctx, const fw_deployment *d)
{
    rows *r = ctx;
    if (r->n == sizeof(r->items) / sizeof(r->items[0]))
        return 1;
    row *w = &r->items[r->n++];
    w->id = d->id;
    cp(w->service, sizeof(w->service), d->service);
    cp(w->version, sizeof(w->version), d->version);
    cp(w->prev, sizeof(w->prev), d->previous_version);
    cp(w->env, sizeof(w->env), d->environment);
    cp(w->commit, sizeof(w->commit), d->commit);
    cp(w->description, sizeof(w->description), d->description);
    w->ts = d->timestamp_ns;
    w->source = d->source;
    w->recorded_at = d->recorded_at_ns;
    return r->stop_after && r->n >= r->stop_after;
}

static void list(fw_deploy_store *ds, const char *service, uint64_t from, uint64_t to,
                 size_t limit, rows *out)
{
    memset(out, 0, sizeof(*out));
    assert_int_equal(fw_deploy_list(ds, service, from, to, limit, collect, out), 0);
}

static int observe(fw_deploy_store *ds, const char *svc, const char *ver, uint64_t t)
{
    return fw_deploy_observe_version(ds, fw_str_from(svc), fw_str_from(ver),
                                     fw_str_from("prod"), t);
}

/* Asserts one inferred deployment row. */
static void assert_inferred(const row *r, const char *svc, const char *ver, const char *prev,
                            uint64_t ts)
{
    assert_string_equal(r->service, svc);
    assert_string_equal(r->version, ver);
    assert_string_equal(r->prev, prev);
    assert_int_equal(r->ts, ts);
    assert_int_equal(r->source, FW_DEPLOY_SOURCE_INFERRED);
    assert_int_equal(r->recorded_at, REC_AT);
}

static int64_t record(fw_deploy_store *ds, const char *svc, const char *ver, uint64_t ts)
{
    fw_deployment d = {.service = svc, .version = ver, .timestamp_ns = ts};
    fw_parse_error pe = {0};
    int64_t id = 0;
    int rv = fw_deploy_record(ds, &d, &id, &pe);
    if (rv)
        fail_msg("record: %d %s", rv, pe.detail);
    assert_true(id > 0);
    return id;
}

/* ---- validation ---- */

static void expect_invalid(fw_deploy_store *ds, const fw_deployment *d, const char *msg)
{
    fw_parse_error pe = {0};
    assert_int_equal(fw_deploy_validate(d, &pe), FW_ERR_INVALID);
    assert_string_equal(pe.detail, msg);
    memset(&pe, 0, sizeof(pe));
    int64_t id = 7;
    assert_int_equal(fw_deploy_record(ds, d, &id, &pe), FW_ERR_INVALID);
    assert_string_equal(pe.detail, msg);
    assert_int_equal(id, 7);
}

static void test_validation(void **state)
{
    fixture *f = *state;
    char long_s[5000];
    memset(long_s, 'a', sizeof(long_s) - 1);
    long_s[sizeof(long_s) - 1] = '\0';
    char v128[129];
    memset(v128, 'v', 128);
    v128[128] = '\0';

    fw_deployment ok = {.service = "api", .version = "1.2.3", .timestamp_ns = T0};
    assert_int_equal(fw_deploy_validate(&ok, NULL), 0);
    fw_deployment d = ok;
    d.version = v128; /* exactly at the limit */
    assert_int_equal(fw_deploy_validate(&d, NULL), 0);

    d = ok;
    d.service = NULL;
    expect_invalid(f->ds, &d, "service: required");
    d.service = "";
    expect_invalid(f->ds, &d, "service: required");
    d = ok;
    d.version = NULL;
    expect_invalid(f->ds, &d, "version: required");
    d.version = long_s + sizeof(long_s) - 130; /* 129 bytes */
    expect_invalid(f->ds, &d, "version: must be a string of at most 128 bytes");
    d = ok;
    d.service = long_s + sizeof(long_s) - 258;
    expect_invalid(f->ds, &d, "service: must be a string of at most 256 bytes");
    d = ok;
    d.environment = long_s + sizeof(long_s) - 130;
    expect_invalid(f->ds, &d, "environment: must be a string of at most 128 bytes");
    d = ok;
    d.commit = long_s + sizeof(long_s) - 258;
    expect_invalid(f->ds, &d, "commit: must be a string of at most 256 bytes");
    d = ok;
    d.description = long_s;
    expect_invalid(f->ds, &d, "description: must be a string of at most 4096 bytes");
    d = ok;
    d.timestamp_ns = 0;
    expect_invalid(f->ds, &d, "timestamp: must be after 1970 and before 2262");
    d.timestamp_ns = (uint64_t)INT64_MAX + 1u;
    expect_invalid(f->ds, &d, "timestamp: must be after 1970 and before 2262");

    rows r;
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 0); /* nothing invalid was stored */
}

/* ---- recorded deployments ---- */

static void test_record_and_list(void **state)
{
    fixture *f = *state;
    fw_deployment d = {.service = "checkout",
                       .version = "v1",
                       .environment = "prod",
                       .commit = "abc123",
                       .description = "first release",
                       .timestamp_ns = T0 + 10 * SEC};
    int64_t id1 = 0;
    assert_int_equal(fw_deploy_record(f->ds, &d, &id1, NULL), 0);
    int64_t id2 = record(f->ds, "checkout", "v2", T0 + 30 * SEC);
    int64_t id3 = record(f->ds, "cart", "7", T0 + 20 * SEC);
    int64_t id4 = record(f->ds, "cart", "8", T0 + 30 * SEC); /* same time as id2 */
    assert_true(id1 < id2 && id2 < id3 && id3 < id4);

    rows r;
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 4);
    /* Newest first; equal timestamps: highest id first. */
    assert_int_equal(r.items[0].id, id4);
    assert_int_equal(r.items[1].id, id2);
    assert_int_equal(r.items[2].id, id3);
    assert_int_equal(r.items[3].id, id1);
    const row *first = &r.items[3];
    assert_string_equal(first->service, "checkout");
    assert_string_equal(first->version, "v1");
    assert_string_equal(first->prev, "(null)");
    assert_string_equal(first->env, "prod");
    assert_string_equal(first->commit, "abc123");
    assert_string_equal(first->description, "first release");
    assert_int_equal(first->ts, T0 + 10 * SEC);
    assert_int_equal(first->source, FW_DEPLOY_SOURCE_API);
    assert_int_equal(first->recorded_at, REC_AT);
    /* previous_version: the version before, per service. */
    assert_string_equal(r.items[1].prev, "v1");
    assert_string_equal(r.items[1].env, "(null)");
    assert_string_equal(r.items[1].commit, "(null)");
    assert_string_equal(r.items[0].prev, "7");
    assert_string_equal(r.items[2].prev, "(null)");

    list(f->ds, "cart", 0, 0, 0, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.items[0].id, id4);
    assert_int_equal(r.items[1].id, id3);
    list(f->ds, "nope", 0, 0, 0, &r);
    assert_int_equal(r.n, 0);
    /* Bounds are inclusive. */
    list(f->ds, NULL, T0 + 20 * SEC, T0 + 30 * SEC, 0, &r);
    assert_int_equal(r.n, 3);
    list(f->ds, NULL, T0 + 11 * SEC, T0 + 29 * SEC, 0, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].id, id3);
    list(f->ds, "checkout", T0 + 31 * SEC, 0, 0, &r);
    assert_int_equal(r.n, 0);
    list(f->ds, NULL, 0, 0, 2, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.items[1].id, id2);
    /* A visitor may stop early. */
    memset(&r, 0, sizeof(r));
    r.stop_after = 1;
    assert_int_equal(fw_deploy_list(f->ds, NULL, 0, 0, 0, collect, &r), 0);
    assert_int_equal(r.n, 1);

    memset(&r, 0, sizeof(r));
    assert_int_equal(fw_deploy_get(f->ds, id3, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].version, "7");
    assert_int_equal(fw_deploy_get(f->ds, id4 + 100, collect, &r), FW_ERR_NOT_FOUND);

    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.recorded, 4);
    assert_int_equal(st.inferred, 0);
    assert_int_equal(st.write_errors, 0);
}

/* ---- inference ---- */

static void test_infer_baseline_and_new_versions(void **state)
{
    fixture *f = *state;
    rows r;
    assert_int_equal(observe(f->ds, "api", "1.0", T0 + 100), 0); /* baseline */
    assert_int_equal(observe(f->ds, "api", "1.0", T0 + 200), 0);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 0);

    assert_int_equal(observe(f->ds, "api", "1.1", T0 + 300), 1);
    assert_int_equal(observe(f->ds, "api", "1.1", T0 + 310), 0);
    assert_int_equal(observe(f->ds, "api", "1.2", T0 + 400), 1);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 2);
    assert_inferred(&r.items[0], "api", "1.2", "1.1", T0 + 400);
    assert_inferred(&r.items[1], "api", "1.1", "1.0", T0 + 300);
    assert_string_equal(r.items[0].env, "prod");
    assert_string_equal(r.items[0].commit, "(null)");

    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.services, 1);
    assert_int_equal(st.versions, 3);
    assert_int_equal(st.inferred, 2);
    assert_int_equal(st.recorded, 0);
}

static void test_infer_flip_flop_gives_one(void **state)
{
    fixture *f = *state;
    int created = 0;
    /* A rolling deploy: old and new pods report side by side, in event-time
     * order and then again out of order. */
    for (unsigned i = 0; i < 20; i++)
        created += observe(f->ds, "web", i % 2 ? "B" : "A", T0 + i * SEC);
    for (unsigned i = 20; i-- > 0;)
        created += observe(f->ds, "web", i % 2 ? "A" : "B", T0 + i * SEC + 500);
    assert_int_equal(created, 1);
    rows r;
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    /* The reversed pass saw B 500 ns after A: the deployment moved back. */
    assert_inferred(&r.items[0], "web", "B", "A", T0 + 500);
}

static void test_infer_services_independent(void **state)
{
    fixture *f = *state;
    assert_int_equal(observe(f->ds, "svc1", "A", T0 + 1), 0);
    assert_int_equal(observe(f->ds, "svc2", "X", T0 + 2), 0);
    assert_int_equal(observe(f->ds, "svc2", "A", T0 + 3), 1); /* same name, other service */
    assert_int_equal(observe(f->ds, "svc1", "B", T0 + 4), 1);
    assert_int_equal(observe(f->ds, "svc2", "X", T0 + 5), 0);
    assert_int_equal(observe(f->ds, "svc3", "B", T0 + 6), 0); /* baseline of its own */
    rows r;
    list(f->ds, "svc1", 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_inferred(&r.items[0], "svc1", "B", "A", T0 + 4);
    list(f->ds, "svc2", 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_inferred(&r.items[0], "svc2", "A", "X", T0 + 3);
    list(f->ds, "svc3", 0, 0, 0, &r);
    assert_int_equal(r.n, 0);
}

static void test_infer_earlier_sighting_moves_back(void **state)
{
    fixture *f = *state;
    rows r;
    assert_int_equal(observe(f->ds, "api", "A", T0 + 100 * SEC), 0);
    assert_int_equal(observe(f->ds, "api", "B", T0 + 300 * SEC), 1);
    /* A late batch shows B earlier: the deployment moves back, no new one. */
    assert_int_equal(observe(f->ds, "api", "B", T0 + 250 * SEC), 0);
    assert_int_equal(observe(f->ds, "api", "B", T0 + 400 * SEC), 0);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_inferred(&r.items[0], "api", "B", "A", T0 + 250 * SEC);
    /* The baseline moving back changes no deployment. */
    assert_int_equal(observe(f->ds, "api", "A", T0 + 50 * SEC), 0);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_inferred(&r.items[0], "api", "B", "A", T0 + 250 * SEC);
}

static void test_infer_backdated_reorders(void **state)
{
    fixture *f = *state;
    rows r;
    /* The new version's data arrive first, the old version's backdated data later. */
    assert_int_equal(observe(f->ds, "api", "B", T0 + 300), 0);
    assert_int_equal(observe(f->ds, "api", "A", T0 + 100), 1);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_inferred(&r.items[0], "api", "B", "A", T0 + 300);

    /* A version first seen between two known ones slots in between. */
    assert_int_equal(observe(f->ds, "api", "C", T0 + 200), 1);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 2);
    assert_inferred(&r.items[0], "api", "B", "C", T0 + 300);
    assert_inferred(&r.items[1], "api", "C", "A", T0 + 200);

    /* B seen before everything: B is the baseline, A follows it (a new
     * deployment row A, B's row removed). */
    assert_int_equal(observe(f->ds, "api", "B", T0 + 50), 1);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 2);
    assert_inferred(&r.items[0], "api", "C", "A", T0 + 200);
    assert_inferred(&r.items[1], "api", "A", "B", T0 + 100);
}

static void test_infer_declared_versions(void **state)
{
    fixture *f = *state;
    rows r;
    /* The CI posts the deployment before the new pods report. */
    assert_int_equal(observe(f->ds, "api", "1", T0 + 100), 0);
    int64_t id = record(f->ds, "api", "2", T0 + 200);
    assert_int_equal(observe(f->ds, "api", "2", T0 + 205), 0);
    assert_int_equal(observe(f->ds, "api", "1", T0 + 210), 0);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].id, id);
    assert_int_equal(r.items[0].source, FW_DEPLOY_SOURCE_API);
    assert_string_equal(r.items[0].prev, "1");
    /* The next undeclared version follows the declared one. */
    assert_int_equal(observe(f->ds, "api", "3", T0 + 300), 1);
    list(f->ds, NULL, 0, 0, 1, &r);
    assert_inferred(&r.items[0], "api", "3", "2", T0 + 300);
    /* Posted after inference saw it: both are kept (the post adds commit,
     * description); the post's previous version is the one before it. */
    int64_t id4 = record(f->ds, "api", "3", T0 + 290);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.items[0].id, id4); /* same time: the later id first */
    assert_int_equal(r.items[0].source, FW_DEPLOY_SOURCE_API);
    assert_string_equal(r.items[0].prev, "2");
    assert_inferred(&r.items[1], "api", "3", "2", T0 + 290);
}

static void test_infer_ignored_inputs(void **state)
{
    fixture *f = *state;
    char longv[200];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(observe(f->ds, "api", "A", T0), 0);
    assert_int_equal(observe(f->ds, "api", "", T0 + 1), 0);
    assert_int_equal(observe(f->ds, "api", "B", 0), 0);
    assert_int_equal(observe(f->ds, "", "B", T0 + 1), 0);
    assert_int_equal(observe(f->ds, "api", longv, T0 + 1), 0);
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("api"),
                                               (fw_str){"B\0C", 3}, FW_STR_NULL, T0 + 1),
                     0);
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("api"), FW_STR_NULL,
                                               FW_STR_NULL, T0 + 1),
                     0);
    rows r;
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 0);
    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.ignored, 2);
    assert_int_equal(st.versions, 1);
    /* No environment: stored as null. */
    assert_int_equal(fw_deploy_observe_version(f->ds, FW_STR_LIT("api"), FW_STR_LIT("B"),
                                               FW_STR_NULL, T0 + 5),
                     1);
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_string_equal(r.items[0].env, "(null)");
}

static void test_infer_bounds(void **state)
{
    fixture *f = *state;
    fw_deploy_close(f->ds);
    fw_deploy_config cfg = {.max_services = 2, .max_versions = 3};
    f->ds = open_dir(f->dir, &cfg);
    char v[8];
    int created = 0;
    for (unsigned i = 1; i <= 5; i++) {
        snprintf(v, sizeof(v), "v%u", i);
        created += observe(f->ds, "api", v, T0 + i * SEC);
    }
    assert_int_equal(created, 4);
    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.versions, 3);
    assert_int_equal(st.versions_evicted, 2);
    /* Older than everything kept: forgotten at once, nothing recorded. */
    assert_int_equal(observe(f->ds, "api", "v0", T0), 0);
    /* A forgotten version coming back later is new again (a rollback). */
    assert_int_equal(observe(f->ds, "api", "v1", T0 + 10 * SEC), 1);
    rows r;
    list(f->ds, NULL, 0, 0, 0, &r);
    assert_int_equal(r.n, 5);
    assert_inferred(&r.items[0], "api", "v1", "v5", T0 + 10 * SEC);
    /* The oldest kept version keeps its deployment (its predecessor was
     * forgotten, not absent) even when seen earlier. */
    assert_int_equal(observe(f->ds, "api", "v4", T0 + 4 * SEC - 1), 0);
    list(f->ds, "api", 0, 0, 0, &r);
    assert_int_equal(r.n, 5);
    assert_inferred(&r.items[2], "api", "v4", "v3", T0 + 4 * SEC - 1);

    assert_int_equal(observe(f->ds, "other", "1", T0), 0);
    assert_int_equal(observe(f->ds, "third", "1", T0), 0);
    assert_int_equal(observe(f->ds, "third", "2", T0 + 1), 0);
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.services, 2);
    assert_int_equal(st.services_refused, 2);
    /* Recording still works for an untracked service. */
    record(f->ds, "third", "3", T0 + 2);
    list(f->ds, "third", 0, 0, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].prev, "(null)");
}

/* ---- persistence ---- */

static void test_persistence_across_restart(void **state)
{
    fixture *f = *state;
    rows before, after;
    assert_int_equal(observe(f->ds, "api", "A", T0 + 100), 0);
    assert_int_equal(observe(f->ds, "api", "B", T0 + 300), 1);
    assert_int_equal(observe(f->ds, "db", "9", T0 + 100), 0);
    int64_t id = record(f->ds, "web", "w1", T0 + 150);
    list(f->ds, NULL, 0, 0, 0, &before);
    assert_int_equal(before.n, 2);

    fw_deploy_close(f->ds);
    f->ds = open_dir(f->dir, NULL);
    list(f->ds, NULL, 0, 0, 0, &after);
    assert_int_equal(after.n, 2);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(after.items[1].id, id);

    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.services, 3);
    assert_int_equal(st.versions, 4);
    /* Known versions survived: no baseline again, no duplicate. */
    assert_int_equal(observe(f->ds, "api", "A", T0 + 500), 0);
    assert_int_equal(observe(f->ds, "api", "B", T0 + 500), 0);
    assert_int_equal(observe(f->ds, "db", "9", T0 + 500), 0);
    assert_int_equal(observe(f->ds, "web", "w1", T0 + 500), 0);
    /* Still maintained after the restart: moving back, then a new version. */
    assert_int_equal(observe(f->ds, "api", "B", T0 + 200), 0);
    assert_int_equal(observe(f->ds, "db", "10", T0 + 600), 1);
    assert_int_equal(observe(f->ds, "api", "C", T0 + 700), 1);

    fw_deploy_close(f->ds);
    f->ds = open_dir(f->dir, NULL);
    list(f->ds, NULL, 0, 0, 0, &after);
    assert_int_equal(after.n, 4);
    assert_inferred(&after.items[0], "api", "C", "B", T0 + 700);
    assert_inferred(&after.items[1], "db", "10", "9", T0 + 600);
    assert_inferred(&after.items[2], "api", "B", "A", T0 + 200);
    assert_int_equal(after.items[3].id, id);
}

static void test_database_format(void **state)
{
    fixture *f = *state;
    assert_int_equal(observe(f->ds, "api", "A", T0), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/flywheel.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), FW_DEPLOY_SCHEMA_VERSION);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT first_seen_ns, environment FROM service_versions"
                                        " WHERE service = 'api' AND version = 'A'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), (sqlite3_int64)T0);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "prod");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- open errors ---- */

static void expect_open_error(const char *dir, int want, const char *needle)
{
    char err[512] = "";
    fw_deploy_store *ds = (fw_deploy_store *)(void *)err; /* must be reset to NULL */
    int rv = fw_deploy_open(dir, &ds, err, sizeof(err));
    assert_int_equal(rv, want);
    assert_null(ds);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    fw_deploy_close(f->ds);
    f->ds = NULL;
    char path[128], sub[160];

    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    expect_open_error(sub, FW_ERR_IO, "No such file or directory");
    expect_open_error(sub, FW_ERR_IO, sub);
    expect_open_error("", FW_ERR_CONFIG, "data dir");

    /* A regular file where the directory should be. */
    write_file(sub, "x", 1);
    expect_open_error(sub, FW_ERR_IO, "not a directory");
    assert_int_equal(unlink(sub), 0);

    /* The database path is a directory. */
    snprintf(path, sizeof(path), "%s/flywheel.db", f->dir);
    assert_int_equal(unlink(path), 0);
    snprintf(sub, sizeof(sub), "%s-wal", path);
    (void)unlink(sub);
    snprintf(sub, sizeof(sub), "%s-shm", path);
    (void)unlink(sub);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_open_error(f->dir, FW_ERR_IO, "flywheel.db");
    assert_int_equal(rmdir(path), 0);

    /* A corrupt file. */
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 7u + 3u);
    write_file(path, junk, sizeof(junk));
    expect_open_error(f->dir, FW_ERR_IO, "flywheel.db");
    expect_open_error(f->dir, FW_ERR_IO, "not a database");
    assert_int_equal(unlink(path), 0);

    /* A database written by a newer flywheel. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_error(f->dir, FW_ERR_CONFIG, "schema version 99 is newer");
    assert_int_equal(unlink(path), 0);

    /* Unwritable directory (root bypasses permissions: skipped then). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(f->dir, 0500), 0);
        expect_open_error(f->dir, FW_ERR_IO, "not writable");
        assert_int_equal(chmod(f->dir, 0700), 0);
    }

    /* And it opens fine again afterwards. */
    f->ds = open_dir(f->dir, NULL);
}

/* ---- concurrency ---- */

typedef struct worker_arg {
    fw_deploy_store *ds;
    unsigned seed;
    int created;
} worker_arg;

static void *observer(void *p)
{
    worker_arg *w = p;
    unsigned x = w->seed;
    char svc[16], ver[16];
    for (unsigned i = 0; i < 4000; i++) {
        x = x * 1103515245u + 12345u;
        unsigned s = (x >> 8) % 8u, v = (x >> 16) % 5u;
        snprintf(svc, sizeof(svc), "svc%u", s);
        snprintf(ver, sizeof(ver), "v%u", v);
        /* Versions appear in order over time, with jitter and late data. */
        uint64_t t = T0 + (uint64_t)v * 1000u + ((x >> 4) % 997u) + 1u;
        int rv = observe(w->ds, svc, ver, t);
        assert_true(rv == 0 || rv == 1);
        w->created += rv;
    }
    return NULL;
}

static void *lister(void *p)
{
    worker_arg *w = p;
    for (unsigned i = 0; i < 200; i++) {
        rows r;
        memset(&r, 0, sizeof(r));
        assert_int_equal(fw_deploy_list(w->ds, NULL, 0, 0, 10, collect, &r), 0);
        assert_true(r.n <= 10);
    }
    return NULL;
}

static void test_concurrency_smoke(void **state)
{
    fixture *f = *state;
    pthread_t th[3];
    worker_arg w[3] = {{f->ds, 1u, 0}, {f->ds, 2u, 0}, {f->ds, 0u, 0}};
    assert_int_equal(pthread_create(&th[0], NULL, observer, &w[0]), 0);
    assert_int_equal(pthread_create(&th[1], NULL, observer, &w[1]), 0);
    assert_int_equal(pthread_create(&th[2], NULL, lister, &w[2]), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);

    /* Each service saw v0..v4: four deployments forming one chain, in the
     * database as in memory (checked again after a restart). */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned s = 0; s < 8; s++) {
            char svc[16];
            snprintf(svc, sizeof(svc), "svc%u", s);
            rows r;
            list(f->ds, svc, 0, 0, 0, &r);
            assert_int_equal(r.n, 4);
            for (size_t i = 0; i < r.n; i++) {
                char want[8], prev[8];
                snprintf(want, sizeof(want), "v%zu", 4 - i);
                snprintf(prev, sizeof(prev), "v%zu", 3 - i);
                assert_string_equal(r.items[i].version, want);
                assert_string_equal(r.items[i].prev, prev);
                assert_int_equal(r.items[i].source, FW_DEPLOY_SOURCE_INFERRED);
            }
        }
        fw_deploy_close(f->ds);
        f->ds = open_dir(f->dir, NULL);
    }
    assert_true(w[0].created + w[1].created >= 32); /* reorders may create more */
    fw_deploy_stats st;
    fw_deploy_get_stats(f->ds, &st);
    assert_int_equal(st.services, 8);
    assert_int_equal(st.versions, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_baseline_and_new_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_flip_flop_gives_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_services_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_earlier_sighting_moves_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_backdated_reorders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_declared_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_ignored_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infer_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_across_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_smoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
