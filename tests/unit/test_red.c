/* test_red.c - RED series: exact counts across buckets and shards, weighted
 * counts, stepped ranges with empty steps, query bounds, backdated and
 * out-of-order data, quantiles of merged buckets, exemplar preference, the
 * series cap and its overflow series, memory-limit eviction, expiry with
 * lifetime totals, the spanmetrics exposition (checked by promtool when it
 * is installed) and a two-thread observe smoke test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flywheel/intern.h"
#include "flywheel/red.h"

#define SEC 1000000000ull
#define MIN (60ull * SEC)
#define HOUR (60ull * MIN)
/* A fixed "now": 2024-01-01T00:00:00Z, a multiple of 10 s. */
#define NOW (1704067200ull * SEC)

static fw_red *new_red(unsigned partitions, size_t max_series, size_t memory_limit)
{
    fw_red_config cfg = {.retention_ns = 2 * HOUR,
                         .max_series = max_series,
                         .memory_limit = memory_limit,
                         .partitions = partitions};
    fw_red *r = NULL;
    assert_int_equal(fw_red_new(&cfg, &r), 0);
    assert_non_null(r);
    return r;
}

static fw_red_key op_key(uint32_t svc, uint32_t op, uint8_t span_kind)
{
    return (fw_red_key){.kind = FW_RED_OPERATION, .span_kind = span_kind, .a = svc, .b = op};
}

static fw_red_key edge_key(uint32_t src, uint32_t dst)
{
    return (fw_red_key){.kind = FW_RED_EDGE, .a = src, .b = dst};
}

static fw_red_key svc_key(uint32_t svc)
{
    return (fw_red_key){.kind = FW_RED_SERVICE, .a = svc};
}

static fw_red_obs mk_obs(fw_red_key k, uint64_t t, uint64_t dur_us, uint32_t trace)
{
    fw_red_obs o;
    memset(&o, 0, sizeof o);
    o.key = k;
    o.time_ns = t;
    o.duration_us = dur_us;
    o.weight = 1.0;
    o.trace_id[12] = (uint8_t)(trace >> 24);
    o.trace_id[13] = (uint8_t)(trace >> 16);
    o.trace_id[14] = (uint8_t)(trace >> 8);
    o.trace_id[15] = (uint8_t)trace;
    return o;
}

static uint32_t trace_no(const uint8_t *id)
{
    return (uint32_t)id[12] << 24 | (uint32_t)id[13] << 16 | (uint32_t)id[14] << 8 | id[15];
}

static void observe1(fw_red *r, unsigned part, const fw_red_obs *o)
{
    fw_red_observe(r, part, o, 1);
}

/* ---- counts ------------------------------------------------------------- */

static void test_counts_across_buckets_and_shards(void **state)
{
    (void)state;
    fw_red *r = new_red(4, 1000, 64u << 20);
    fw_red_key k = op_key(1, 2, 2);
    fw_red_key e = edge_key(1, 3);
    uint64_t t0 = NOW - 30 * MIN;
    /* 6 buckets x 4 shards x 5 observations; every 3rd a fault, every 5th a
     * client error, every 7th throttled. */
    unsigned n = 0, faults = 0, client = 0, throttled = 0, in_b2_b3 = 0;
    for (unsigned b = 0; b < 6; b++) {
        for (unsigned p = 0; p < 4; p++) {
            for (unsigned i = 0; i < 5; i++, n++) {
                fw_red_obs o = mk_obs(k, t0 + b * 10 * SEC + i * SEC, 1000 + n, n + 1);
                o.fault = n % 3 == 0;
                o.client_error = n % 5 == 0;
                o.throttled = n % 7 == 0;
                faults += o.fault;
                client += o.client_error;
                throttled += o.throttled;
                if (b == 2 || b == 3) in_b2_b3++;
                observe1(r, p, &o);
                fw_red_obs eo = mk_obs(e, o.time_ns, 2000, n + 1);
                eo.server_duration_us = 1500;
                eo.fault = o.fault;
                observe1(r, p + 1, &eo);
            }
        }
    }
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, t0, t0 + HOUR, &t), 0);
    assert_true(t.requests == (double)n);
    assert_true(t.faults == (double)faults);
    assert_true(t.client_errors == (double)client);
    assert_true(t.errors == (double)(faults + client));
    assert_true(t.throttled == (double)throttled);
    assert_int_equal(fw_hist_count(&t.latency), n);
    assert_int_equal(fw_hist_count(&t.server_latency), 0);
    assert_int_equal(t.first_ns, t0);
    assert_int_equal(t.last_ns, t0 + 50 * SEC);

    /* Sub-range: buckets 2 and 3 only. */
    assert_int_equal(fw_red_query(r, &k, t0 + 20 * SEC, t0 + 39 * SEC, &t), 0);
    assert_true(t.requests == (double)in_b2_b3);

    /* Edges carry a server latency histogram. */
    assert_int_equal(fw_red_query(r, &e, t0, t0 + HOUR, &t), 0);
    assert_true(t.requests == (double)n);
    assert_true(t.faults == (double)faults);
    assert_int_equal(fw_hist_count(&t.server_latency), n);
    assert_int_equal(fw_hist_max(&t.server_latency), 1500);
    assert_int_equal(fw_hist_max(&t.latency), 2000);

    /* One series per key, merged over shards. */
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.series, 4 + 4); /* each key lives in 4 shards */
    assert_int_equal(st.buckets, 6 * 4 * 2);
    assert_true(st.memory_used > 0);
    fw_red_free(r);
}

static void test_weighted_counts(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 100, 16u << 20);
    fw_red_key k = op_key(1, 2, 2);
    fw_red_obs o = mk_obs(k, NOW, 100, 1);
    o.weight = 2.5;
    o.fault = true;
    observe1(r, 0, &o);
    o = mk_obs(k, NOW + SEC, 200, 2);
    o.weight = 1.0;
    observe1(r, 1, &o);
    o = mk_obs(k, NOW + 2 * SEC, 300, 3);
    o.weight = 0.25; /* below 1: counted as 1 */
    observe1(r, 0, &o);
    o = mk_obs(k, NOW + 3 * SEC, 400, 4);
    o.weight = 3.0;
    o.throttled = true;
    observe1(r, 1, &o);

    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, NOW, NOW + SEC * 10, &t), 0);
    assert_true(t.requests == 2.5 + 1.0 + 1.0 + 3.0);
    assert_true(t.faults == 2.5);
    assert_true(t.throttled == 3.0);
    /* The histogram holds rounded weights: round(2.5) = 3, 1, 1, 3. */
    assert_int_equal(fw_hist_count(&t.latency), 8);
    assert_int_equal(fw_hist_sum(&t.latency), 100 * 3 + 200 + 300 + 400 * 3);
    fw_red_free(r);
}

/* ---- ranges and bounds -------------------------------------------------- */

typedef struct range_log {
    size_t n;
    uint64_t start[64];
    double requests[64];
    uint64_t hist_count[64];
} range_log;

static int range_visit(void *ctx, uint64_t step_start_ns, const fw_red_totals *t)
{
    range_log *l = ctx;
    if (l->n >= 64) return 1;
    l->start[l->n] = step_start_ns;
    l->requests[l->n] = t->requests;
    l->hist_count[l->n] = fw_hist_count(&t->latency);
    l->n++;
    return 0;
}

static void test_range_steps(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 100, 16u << 20);
    fw_red_key k = op_key(7, 8, 3);
    uint64_t t0 = NOW - 20 * MIN;
    /* Data in buckets 0, 1, 2 (first step), none in 3..5, 2 in bucket 7. */
    for (unsigned b = 0; b < 3; b++) {
        fw_red_obs o = mk_obs(k, t0 + b * 10 * SEC + 1, 10, b + 1);
        observe1(r, b, &o);
    }
    for (unsigned i = 0; i < 2; i++) {
        fw_red_obs o = mk_obs(k, t0 + 70 * SEC + i * SEC, 10, 10 + i);
        observe1(r, i, &o);
    }
    range_log l = {0};
    /* [t0 + 5 s, t0 + 90 s) with 30 s steps: from aligned down to t0. */
    assert_int_equal(fw_red_range(r, &k, t0 + 5 * SEC, t0 + 90 * SEC, 30 * SEC, range_visit, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.start[0], t0);
    assert_int_equal(l.start[1], t0 + 30 * SEC);
    assert_int_equal(l.start[2], t0 + 60 * SEC);
    assert_true(l.requests[0] == 3.0);
    assert_true(l.requests[1] == 0.0); /* empty step included */
    assert_int_equal(l.hist_count[1], 0);
    assert_true(l.requests[2] == 2.0);

    /* 10 s steps: 9 steps, only 4 non-empty. */
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_range(r, &k, t0, t0 + 90 * SEC, 10 * SEC, range_visit, &l), 0);
    assert_int_equal(l.n, 9);
    double sum = 0;
    size_t nonempty = 0;
    for (size_t i = 0; i < l.n; i++) {
        sum += l.requests[i];
        nonempty += l.requests[i] > 0;
    }
    assert_true(sum == 5.0);
    assert_int_equal(nonempty, 4);

    /* Bad steps and ranges. */
    assert_int_equal(fw_red_range(r, &k, t0, t0 + 90 * SEC, 5 * SEC, range_visit, &l), FW_ERR_INVALID);
    assert_int_equal(fw_red_range(r, &k, t0, t0 + 90 * SEC, 15 * SEC, range_visit, &l), FW_ERR_INVALID);
    assert_int_equal(fw_red_range(r, &k, t0, t0, 10 * SEC, range_visit, &l), FW_ERR_INVALID);
    assert_int_equal(fw_red_range(r, &k, t0 + SEC, t0, 10 * SEC, range_visit, &l), FW_ERR_INVALID);
    assert_int_equal(fw_red_range(r, &k, t0, t0 + 10001 * 10 * SEC, 10 * SEC, range_visit, &l),
                     FW_ERR_INVALID);
    /* Exactly 10000 steps is allowed; the visitor stops early here. */
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_range(r, &k, t0, t0 + 10000 * 10 * SEC, 10 * SEC, range_visit, &l), 0);
    assert_int_equal(l.n, 64);
    fw_red_free(r);
}

static void test_query_bounds(void **state)
{
    (void)state;
    fw_red *r = new_red(1, 100, 16u << 20);
    fw_red_key k = op_key(1, 1, 2);
    uint64_t b = NOW - 10 * MIN; /* bucket [b, b + 10 s) */
    fw_red_obs o = mk_obs(k, b + 5 * SEC, 10, 1);
    observe1(r, 0, &o);
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, b + 9 * SEC, b + 9 * SEC, &t), 0); /* inside */
    assert_true(t.requests == 1.0);
    assert_int_equal(fw_red_query(r, &k, b - MIN, b, &t), 0); /* to touches the start */
    assert_int_equal(fw_red_query(r, &k, b + 10 * SEC, b + MIN, &t), FW_ERR_NOT_FOUND);
    assert_true(t.requests == 0.0);
    assert_int_equal(fw_red_query(r, &k, b - MIN, b - 1, &t), FW_ERR_NOT_FOUND);
    fw_red_key other = op_key(1, 2, 2);
    assert_int_equal(fw_red_query(r, &other, 0, UINT64_MAX, &t), FW_ERR_NOT_FOUND);
    fw_red_key kind3 = k;
    kind3.span_kind = 3; /* span kind is part of an operation key */
    assert_int_equal(fw_red_query(r, &kind3, 0, UINT64_MAX, &t), FW_ERR_NOT_FOUND);
    assert_int_equal(fw_red_query(r, &k, b + MIN, b, &t), FW_ERR_INVALID);
    /* Unused fields of a service key are ignored. */
    fw_red_obs so = mk_obs(svc_key(1), b, 10, 1);
    so.key.b = 99;
    observe1(r, 0, &so);
    fw_red_key sk = svc_key(1);
    assert_int_equal(fw_red_query(r, &sk, b, b, &t), 0);
    assert_true(t.requests == 1.0);
    fw_red_free(r);
}

typedef struct key_log {
    size_t n;
    fw_red_key keys[32];
    double requests[32];
} key_log;

static int key_visit(void *ctx, const fw_red_key *key, const fw_red_totals *t)
{
    key_log *l = ctx;
    if (l->n >= 32) return 1;
    l->keys[l->n] = *key;
    l->requests[l->n] = t->requests;
    l->n++;
    return 0;
}

static void test_foreach_filters(void **state)
{
    (void)state;
    fw_red *r = new_red(4, 100, 16u << 20);
    uint64_t t0 = NOW - HOUR;
    for (unsigned p = 0; p < 4; p++) {
        fw_red_obs o = mk_obs(op_key(1, 2, 2), t0, 10, 1);
        observe1(r, p, &o);
        o = mk_obs(op_key(1, 3, 2), t0 + 10 * MIN, 10, 1);
        observe1(r, p, &o);
        o = mk_obs(svc_key(1), t0, 10, 1);
        observe1(r, p, &o);
    }
    key_log l = {0};
    assert_int_equal(fw_red_foreach(r, FW_RED_OPERATION, t0, t0 + HOUR, key_visit, &l), 2);
    assert_int_equal(l.n, 2);
    assert_true(l.requests[0] == 4.0 && l.requests[1] == 4.0); /* merged over 4 shards */
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_foreach(r, FW_RED_OPERATION, t0 + 5 * MIN, t0 + HOUR, key_visit, &l), 1);
    assert_int_equal(l.keys[0].b, 3);
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_foreach(r, -1, t0, t0 + HOUR, key_visit, &l), 3);
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_foreach_lifetime(r, FW_RED_SERVICE, key_visit, &l), 1);
    assert_true(l.requests[0] == 4.0);
    fw_red_free(r);
}

/* ---- time handling ------------------------------------------------------ */

/* fw_red_range() over many steps (several internal chunks) gives, step by
 * step, exactly what fw_red_query() gives for that step, including the
 * histogram and the exemplars; fw_red_foreach_key() visits the same keys as
 * fw_red_foreach(), in the same order. */
typedef struct range_cmp {
    fw_red *r;
    fw_red_key key;
    uint64_t step;
    size_t calls, nonempty;
    uint64_t last;
} range_cmp;

static int range_cmp_visit(void *ctx, uint64_t start, const fw_red_totals *t)
{
    range_cmp *c = ctx;
    fw_red_totals q;
    int rv = fw_red_query(c->r, &c->key, start, start + c->step - 1u, &q);
    assert_true(c->calls == 0 || start == c->last + c->step);
    c->last = start;
    c->calls++;
    assert_int_equal(rv == 0, t->requests > 0.0);
    if (rv == 0) c->nonempty++;
    assert_true(t->requests == q.requests);
    assert_true(t->faults == q.faults);
    assert_int_equal(fw_hist_count(&t->latency), fw_hist_count(&q.latency));
    assert_int_equal(fw_hist_sum(&t->latency), fw_hist_sum(&q.latency));
    assert_int_equal(fw_hist_quantile(&t->latency, 0.99), fw_hist_quantile(&q.latency, 0.99));
    assert_int_equal(fw_hist_count(&t->server_latency), fw_hist_count(&q.server_latency));
    assert_int_equal(t->first_ns, q.first_ns);
    assert_int_equal(t->last_ns, q.last_ns);
    assert_int_equal(t->n_exemplars, q.n_exemplars);
    assert_memory_equal(t->exemplars, q.exemplars, sizeof q.exemplars);
    return 0;
}

static int stop_visit(void *ctx, uint64_t start, const fw_red_totals *t)
{
    size_t *calls = ctx;
    (void)start;
    (void)t;
    return ++*calls == 70u;
}

typedef struct key_only_log {
    size_t n;
    fw_red_key keys[32];
} key_only_log;

static int key_only_visit(void *ctx, const fw_red_key *key)
{
    key_only_log *l = ctx;
    if (l->n >= 32) return 1;
    l->keys[l->n++] = *key;
    return 0;
}

static void test_range_matches_query_and_keys_only(void **state)
{
    (void)state;
    fw_red *r = new_red(4, 100, 64u << 20);
    fw_red_key keys[3] = {svc_key(3), op_key(3, 9, FW_SPAN_KIND_SERVER), edge_key(3, 4)};
    uint64_t t0 = NOW - HOUR;
    uint32_t trace = 1;
    for (uint64_t t = t0; t < NOW; t += 7u * SEC) {
        for (size_t k = 0; k < 3; k++) {
            fw_red_obs o = mk_obs(keys[k], t, 1000u + (t / SEC) % 5000u, trace);
            o.server_duration_us = k == 2 ? 500u : 0u;
            o.fault = (trace % 11u) == 0;
            observe1(r, trace % 4u, &o);
            trace++;
        }
    }
    uint64_t steps[3] = {10u * SEC, 20u * SEC, 60u * SEC};
    for (size_t k = 0; k < 3; k++) {
        for (size_t s = 0; s < 3; s++) {
            range_cmp c = {.r = r, .key = keys[k], .step = steps[s]};
            /* starts off the 10 s grid and runs past the data */
            assert_int_equal(fw_red_range(r, &keys[k], t0 - 3u * MIN + 3u * SEC, NOW + 2u * MIN,
                                          steps[s], range_cmp_visit, &c),
                             0);
            assert_true(c.calls > 64u); /* more than one chunk */
            assert_true(c.nonempty > 0u && c.nonempty < c.calls);
        }
    }
    /* stopping early is honoured inside a later chunk */
    size_t calls = 0;
    assert_int_equal(fw_red_range(r, &keys[0], t0, NOW, 10u * SEC, stop_visit, &calls), 0);
    assert_int_equal(calls, 70u);
    key_only_log kl = {0};
    assert_int_equal(fw_red_foreach_key(r, -1, t0, NOW, key_only_visit, &kl), 3u);
    key_log fl = {0};
    assert_int_equal(fw_red_foreach(r, -1, t0, NOW, key_visit, &fl), 3u);
    assert_int_equal(kl.n, fl.n);
    assert_memory_equal(kl.keys, fl.keys, kl.n * sizeof kl.keys[0]);
    kl.n = 0;
    assert_int_equal(fw_red_foreach_key(r, FW_RED_EDGE, t0, NOW, key_only_visit, &kl), 1u);
    assert_int_equal(kl.keys[0].kind, FW_RED_EDGE);
    kl.n = 0;
    assert_int_equal(fw_red_foreach_key(r, -1, NOW + HOUR, NOW + 2u * HOUR, key_only_visit, &kl), 0u);
    assert_int_equal(fw_red_foreach_key(r, -1, NOW, t0, key_only_visit, &kl), 0u);
    fw_red_free(r);
}

static void test_backdated_and_out_of_order(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 100, 64u << 20);
    fw_red_key k = op_key(1, 2, 2);
    /* Newest first, then data 30 minutes old, then interleaved. */
    uint64_t times[] = {NOW, NOW - 30 * MIN, NOW - 10 * MIN, NOW - 30 * MIN + 10 * SEC,
                        NOW - 20 * MIN, NOW - 30 * MIN, NOW - 5 * SEC, NOW - 119 * MIN};
    size_t nt = sizeof times / sizeof times[0];
    for (size_t i = 0; i < nt; i++) {
        fw_red_obs o = mk_obs(k, times[i], 100, (uint32_t)i + 1);
        observe1(r, (unsigned)i, &o);
    }
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, NOW - 2 * HOUR, NOW + MIN, &t), 0);
    assert_true(t.requests == (double)nt);
    assert_int_equal(t.first_ns, NOW - 119 * MIN);
    assert_int_equal(t.last_ns, NOW);
    assert_int_equal(fw_red_query(r, &k, NOW - 30 * MIN, NOW - 30 * MIN, &t), 0);
    assert_true(t.requests == 2.0); /* the two in the same bucket */
    range_log l = {0};
    assert_int_equal(fw_red_range(r, &k, NOW - 30 * MIN, NOW - 29 * MIN, 10 * SEC, range_visit, &l), 0);
    assert_int_equal(l.n, 6);
    assert_true(l.requests[0] == 2.0 && l.requests[1] == 1.0 && l.requests[2] == 0.0);

    /* Older than the newest bucket minus the retention: ignored, counted. */
    fw_red_obs o = mk_obs(k, NOW - 2 * HOUR - 10 * SEC, 100, 99);
    observe1(r, 0, &o);
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.too_old, 1);
    assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == (double)nt);

    /* After an expire, data older than its cutoff is refused too. */
    fw_red_expire(r, NOW + 100 * MIN); /* cutoff NOW - 20 min */
    o = mk_obs(k, NOW - 25 * MIN, 100, 98);
    observe1(r, 0, &o);
    fw_red_get_stats(r, &st);
    assert_int_equal(st.too_old, 2);
    fw_red_free(r);
}

/* One span with a timestamp hours in the future must not make current data
 * look older than the retention (regression: future timestamp blinds RED). */
static void test_future_timestamp_does_not_age_out_data(void **state)
{
    (void)state;
    fw_red *r = new_red(1, 100, 16u << 20);
    fw_red_key k = op_key(1, 2, 2);
    fw_red_obs o = mk_obs(k, NOW, 10, 1);
    observe1(r, 0, &o);
    fw_red_expire(r, NOW + SEC); /* gives the clock */
    o = mk_obs(k, NOW + 10 * HOUR, 10, 2);
    observe1(r, 0, &o);
    o = mk_obs(k, NOW - 30 * MIN, 10, 3); /* backdated, normal */
    observe1(r, 0, &o);
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.too_old, 0);
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 3.0);
    fw_red_free(r);
}

/* ---- quantiles ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_quantiles_from_merged_buckets(void **state)
{
    (void)state;
    enum { N = 6000 };
    fw_red *r = new_red(4, 100, 64u << 20);
    fw_red_key k = op_key(1, 2, 2);
    uint64_t *vals = malloc(N * sizeof *vals);
    assert_non_null(vals);
    uint64_t st = 12345;
    for (size_t i = 0; i < N; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        /* Log-uniform over 100 us .. 3 s. */
        double u = (double)(st >> 11) / 9007199254740992.0;
        vals[i] = (uint64_t)(100.0 * pow(30000.0, u));
        fw_red_obs o = mk_obs(k, NOW - 30 * MIN + (i % 60) * 10 * SEC, vals[i], (uint32_t)i + 1);
        observe1(r, (unsigned)i, &o);
    }
    qsort(vals, N, sizeof *vals, cmp_u64);
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), 0);
    assert_int_equal(fw_hist_count(&t.latency), N);
    double bound = fw_hist_rel_error(&t.latency);
    assert_true(bound <= 0.125);
    const double qs[] = {0.5, 0.9, 0.99};
    for (size_t i = 0; i < 3; i++) {
        size_t rank = (size_t)ceil(qs[i] * N);
        double exact = (double)vals[rank - 1];
        double got = fw_hist_quantile(&t.latency, qs[i]);
        assert_true(fabs(got - exact) <= bound * exact + 1.0);
    }
    free(vals);
    fw_red_free(r);
}

/* ---- exemplars ---------------------------------------------------------- */

static void test_exemplar_preference(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 100, 16u << 20);
    fw_red_key k = op_key(1, 2, 2);
    uint64_t t0 = NOW - 10 * MIN;
    /* Failing traces 1 and 2 early; successful 10..19 later, over shards. */
    for (uint32_t i = 1; i <= 2; i++) {
        fw_red_obs o = mk_obs(k, t0 + i * SEC, 10, i);
        o.fault = true;
        observe1(r, i, &o);
    }
    for (uint32_t i = 10; i < 20; i++) {
        fw_red_obs o = mk_obs(k, t0 + i * SEC, 10, i);
        observe1(r, i, &o);
    }
    /* A zero trace id is never an exemplar. */
    fw_red_obs z = mk_obs(k, t0 + 30 * SEC, 10, 0);
    observe1(r, 0, &z);
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, t0, t0 + MIN, &t), 0);
    assert_int_equal(t.n_exemplars, FW_RED_EXEMPLARS);
    assert_true(t.exemplar_failed[0] && t.exemplar_failed[1]);
    assert_int_equal(trace_no(t.exemplars[0]), 2); /* newest failing first */
    assert_int_equal(trace_no(t.exemplars[1]), 1);
    assert_false(t.exemplar_failed[2]);
    assert_int_equal(trace_no(t.exemplars[2]), 19); /* then newest successful */
    assert_int_equal(trace_no(t.exemplars[3]), 18);
    assert_int_equal(t.exemplar_time_ns[2], t0 + 19 * SEC);

    /* A window without the failures gets its own recent exemplars. */
    assert_int_equal(fw_red_query(r, &k, t0 + 10 * SEC, t0 + 19 * SEC, &t), 0);
    assert_int_equal(trace_no(t.exemplars[0]), 19);
    assert_false(t.exemplar_failed[0]);

    /* The same trace twice is one exemplar, failing if either was. */
    fw_red_key k2 = op_key(1, 3, 2);
    fw_red_obs a = mk_obs(k2, t0, 10, 5), b = mk_obs(k2, t0 + SEC, 10, 5);
    b.client_error = true;
    observe1(r, 0, &a);
    observe1(r, 0, &b);
    assert_int_equal(fw_red_query(r, &k2, t0, t0 + MIN, &t), 0);
    assert_int_equal(t.n_exemplars, 1);
    assert_true(t.exemplar_failed[0]);
    fw_red_free(r);
}

/* ---- cardinality -------------------------------------------------------- */

static void test_cardinality_cap(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 4, 64u << 20);
    uint64_t t0 = NOW - 5 * MIN;
    /* Four series fill the cap: one service, three operations. */
    fw_red_obs o = mk_obs(svc_key(1), t0, 10, 1);
    observe1(r, 0, &o);
    for (uint32_t op = 1; op <= 3; op++) {
        o = mk_obs(op_key(1, op, 2), t0, 10, op);
        observe1(r, 0, &o);
    }
    /* 100 distinct new operation names of service 1 (ids in span names). */
    for (uint32_t op = 100; op < 200; op++) {
        o = mk_obs(op_key(1, op, 2), t0, 10, op);
        o.fault = op % 2 == 0;
        observe1(r, op, &o);
    }
    /* Known series keep counting. */
    o = mk_obs(op_key(1, 2, 2), t0, 10, 7);
    observe1(r, 1, &o); /* new in shard 1: over the cap, folds */
    o = mk_obs(op_key(1, 2, 2), t0, 10, 7);
    observe1(r, 0, &o); /* exists in shard 0 */
    /* An operation that could not be interned. */
    o = mk_obs(op_key(1, FW_INTERN_NONE, 2), t0, 10, 8);
    observe1(r, 0, &o);
    /* New edges and services. */
    o = mk_obs(edge_key(1, 50), t0, 10, 9);
    observe1(r, 0, &o);
    o = mk_obs(svc_key(60), t0, 10, 10);
    observe1(r, 0, &o);

    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.overflowed, 100 + 1 + 1 + 1 + 1);
    fw_red_totals t;
    fw_red_key ovf = op_key(1, FW_RED_OVERFLOW_ID, 2);
    assert_int_equal(fw_red_query(r, &ovf, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 102.0);
    assert_true(t.faults == 50.0);
    fw_red_key known = op_key(1, 2, 2);
    assert_int_equal(fw_red_query(r, &known, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 2.0);
    fw_red_key eovf = edge_key(1, FW_RED_OVERFLOW_ID);
    assert_int_equal(fw_red_query(r, &eovf, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 1.0);
    fw_red_key sovf = svc_key(FW_RED_OVERFLOW_ID);
    assert_int_equal(fw_red_query(r, &sovf, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 1.0);
    fw_red_key lost = op_key(1, 150, 2);
    assert_int_equal(fw_red_query(r, &lost, 0, UINT64_MAX, &t), FW_ERR_NOT_FOUND);
    /* Series stay bounded: 4 + overflow series (2 shards x 3 kinds). */
    assert_true(st.series <= 4 + 6);

    /* Many services: overflow series themselves are capped, past that all
     * fold into (OVF, OVF, kind). */
    for (uint32_t svc = 1000; svc < 3000; svc++) {
        o = mk_obs(op_key(svc, 5, 3), t0, 10, svc);
        observe1(r, 0, &o);
    }
    fw_red_get_stats(r, &st);
    assert_true(st.series <= 4 + 4 / 4 + 64 + 8);
    fw_red_key all = op_key(FW_RED_OVERFLOW_ID, FW_RED_OVERFLOW_ID, 3);
    assert_int_equal(fw_red_query(r, &all, 0, UINT64_MAX, &t), 0);
    double total = t.requests;
    /* Every one of the 2000 observations is somewhere. */
    for (uint32_t svc = 1000; svc < 3000; svc++) {
        fw_red_key sk = op_key(svc, FW_RED_OVERFLOW_ID, 3);
        if (fw_red_query(r, &sk, 0, UINT64_MAX, &t) == 0) total += t.requests;
    }
    assert_true(total == 2000.0);
    fw_red_free(r);
}

/* ---- memory ------------------------------------------------------------- */

static void test_memory_limit_eviction(void **state)
{
    (void)state;
    size_t limit = 256u << 10; /* about 300 buckets */
    fw_red *r = new_red(2, 100, limit);
    fw_red_key k1 = op_key(1, 2, 2), k2 = edge_key(1, 3);
    uint64_t t0 = NOW - HOUR;
    fw_red_stats st;
    for (unsigned b = 0; b < 360; b++) { /* one hour of 10 s buckets */
        fw_red_obs o = mk_obs(k1, t0 + b * 10 * SEC, 10, b + 1);
        observe1(r, 0, &o);
        o = mk_obs(k2, t0 + b * 10 * SEC, 10, b + 1);
        observe1(r, 1, &o);
        fw_red_get_stats(r, &st);
        assert_true(st.memory_used <= limit);
    }
    assert_true(st.evicted_buckets > 0);
    assert_int_equal(st.dropped, 0);
    fw_red_totals t;
    /* The oldest are gone, the newest are kept. */
    assert_int_equal(fw_red_query(r, &k1, t0, t0 + 10 * SEC, &t), FW_ERR_NOT_FOUND);
    assert_int_equal(fw_red_query(r, &k2, t0, t0 + 10 * SEC, &t), FW_ERR_NOT_FOUND);
    assert_int_equal(fw_red_query(r, &k1, t0 + 359 * 10 * SEC, t0 + HOUR, &t), 0);
    assert_int_equal(fw_red_query(r, &k2, t0 + 359 * 10 * SEC, t0 + HOUR, &t), 0);
    assert_int_equal(fw_red_query(r, &k1, 0, UINT64_MAX, &t), 0);
    uint64_t first_kept = t.first_ns;
    assert_true(first_kept > t0);
    /* Lifetime totals are whole. */
    key_log l = {0};
    assert_int_equal(fw_red_foreach_lifetime(r, FW_RED_OPERATION, key_visit, &l), 1);
    assert_true(l.requests[0] == 360.0);
    /* Backdated data older than everything held is the data dropped (the
     * first may still fit in the slack the last eviction left). */
    for (unsigned b = 0; b < 5; b++) {
        fw_red_obs o = mk_obs(k1, t0 + b * 10 * SEC, 10, 1);
        observe1(r, 0, &o);
    }
    fw_red_get_stats(r, &st);
    assert_true(st.dropped >= 4);
    assert_true(st.memory_used <= limit);
    assert_int_equal(fw_red_query(r, &k1, t0 + 359 * 10 * SEC, t0 + HOUR, &t), 0);
    fw_red_free(r);
}

/* ---- expire ------------------------------------------------------------- */

static void test_expire_keeps_lifetime(void **state)
{
    (void)state;
    fw_red *r = new_red(2, 100, 64u << 20);
    fw_red_key k = op_key(1, 2, 2), k_idle = op_key(1, 9, 2);
    for (unsigned m = 0; m < 60; m++) { /* one per minute over the last hour */
        fw_red_obs o = mk_obs(k, NOW - HOUR + m * MIN, 10, m + 1);
        o.fault = m < 10;
        observe1(r, m, &o);
    }
    fw_red_obs o = mk_obs(k_idle, NOW - HOUR, 10, 1);
    observe1(r, 0, &o);
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    uint64_t buckets_before = st.buckets, mem_before = st.memory_used;
    assert_int_equal(buckets_before, 61);

    /* Move 90 minutes on: cutoff NOW - 30 min. */
    fw_red_expire(r, NOW + 90 * MIN);
    fw_red_get_stats(r, &st);
    assert_int_equal(st.buckets, 30);
    assert_true(st.memory_used < mem_before);
    fw_red_totals t;
    assert_int_equal(fw_red_query(r, &k, 0, NOW - 31 * MIN, &t), FW_ERR_NOT_FOUND);
    assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), 0);
    assert_true(t.requests == 30.0);
    assert_true(t.faults == 0.0);
    assert_int_equal(fw_red_query(r, &k_idle, 0, UINT64_MAX, &t), FW_ERR_NOT_FOUND);
    /* Lifetime totals are untouched, the idle series still exists. */
    key_log l = {0};
    assert_int_equal(fw_red_foreach_lifetime(r, FW_RED_OPERATION, key_visit, &l), 2);
    assert_true(l.requests[0] == 60.0);
    assert_true(l.requests[1] == 1.0);
    assert_int_equal(st.series, 3); /* k in two shards, k_idle in one */

    /* Idle for longer than the retention: dropped with its totals. */
    fw_red_expire(r, NOW + 3 * HOUR + 30 * MIN);
    fw_red_get_stats(r, &st);
    assert_int_equal(st.buckets, 0);
    assert_int_equal(st.series, 2);
    memset(&l, 0, sizeof l);
    assert_int_equal(fw_red_foreach_lifetime(r, FW_RED_OPERATION, key_visit, &l), 1);
    assert_true(l.requests[0] == 60.0);
    fw_red_expire(r, NOW + 10 * HOUR);
    fw_red_get_stats(r, &st);
    assert_int_equal(st.series, 0);
    fw_red_free(r);
}

/* Many series in one shard, expired in one pass: the backward-shift delete
 * of the open-addressing table must keep every survivor findable. */
static void test_expire_table_churn(void **state)
{
    (void)state;
    fw_red *r = new_red(1, 10000, 64u << 20);
    for (uint32_t op = 1; op <= 500; op++) {
        uint64_t t = op % 2 ? NOW - 90 * MIN : NOW;
        fw_red_obs o = mk_obs(op_key(1, op, 2), t, 10, op);
        observe1(r, 0, &o);
    }
    fw_red_expire(r, NOW + 3 * HOUR + MIN); /* odd ones idle past 2 x retention */
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.series, 250);
    /* New data for the survivors must find their series, not duplicate it. */
    for (uint32_t op = 2; op <= 500; op += 2) {
        fw_red_obs o = mk_obs(op_key(1, op, 2), NOW + 3 * HOUR, 10, op);
        observe1(r, 0, &o);
    }
    fw_red_get_stats(r, &st);
    assert_int_equal(st.series, 250);
    for (uint32_t op = 1; op <= 500; op++) {
        fw_red_totals t;
        fw_red_key k = op_key(1, op, 2);
        assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), op % 2 ? FW_ERR_NOT_FOUND : 0);
        if (op % 2 == 0) assert_true(t.requests == 1.0);
    }
    fw_red_free(r);
}

/* ---- exposition --------------------------------------------------------- */

static bool promtool_ok(const char *text, size_t len, char *msg, size_t msg_len)
{
    char path[] = "/tmp/test_red_promXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(msg, 1, msg_len - 1, p);
    msg[got] = '\0';
    int status = pclose(p);
    unlink(path);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool contains_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return true;
    return false;
}

static void test_render_prometheus(void **state)
{
    (void)state;
    fw_intern *in = NULL;
    assert_int_equal(fw_intern_new(1u << 20, &in), 0);
    uint32_t svc = fw_intern_id(in, FW_STR_LIT("checkout"));
    uint32_t op = fw_intern_id(in, FW_STR_LIT("GET /cart"));
    uint32_t odd = fw_intern_id(in, FW_STR_LIT("say \"hi\"\\\nnow"));
    uint32_t bad = fw_intern_id(in, (fw_str){"bad\xff", 4});
    assert_true(svc && op && odd && bad);

    fw_red *r = new_red(2, 4, 16u << 20);
    uint64_t t0 = NOW - 30 * MIN;
    /* 10 calls of 1 ms, 3 of them faults; 5 of 3 s; weight 2 once. */
    for (unsigned i = 0; i < 10; i++) {
        fw_red_obs o = mk_obs(op_key(svc, op, 2), t0 + i * SEC, 1000, i + 1);
        o.fault = i < 3;
        observe1(r, i, &o);
    }
    for (unsigned i = 0; i < 5; i++) {
        fw_red_obs o = mk_obs(op_key(svc, op, 2), t0 + i * SEC, 3000000, i + 1);
        observe1(r, i, &o);
    }
    fw_red_obs o = mk_obs(op_key(svc, odd, 3), t0, 500000, 1);
    o.weight = 2.0;
    observe1(r, 0, &o);
    o = mk_obs(op_key(svc, bad, 4), t0, 500000, 1);
    observe1(r, 0, &o);
    /* Over the cap of 4: folds into the overflow series. */
    o = mk_obs(op_key(svc, 12345, 2), t0, 100, 1);
    observe1(r, 0, &o);
    /* Not OPERATION: not rendered here. */
    o = mk_obs(svc_key(svc), t0, 100, 1);
    observe1(r, 0, &o);
    fw_red_expire(r, NOW + 100 * MIN); /* buckets gone, lifetime counts stay */

    fw_buf out;
    fw_buf_init(&out, 1u << 20);
    assert_int_equal(fw_red_render_prometheus(r, in, &out), 0);
    assert_int_equal(fw_buf_append(&out, "", 1), 0);
    const char *text = (const char *)out.data;

    assert_true(contains_line(text, "# TYPE traces_span_metrics_calls_total counter"));
    assert_true(contains_line(text, "# TYPE traces_span_metrics_duration_seconds histogram"));
    assert_true(contains_line(text, "traces_span_metrics_calls_total{service_name=\"checkout\","
                                    "span_name=\"GET /cart\",span_kind=\"SPAN_KIND_SERVER\","
                                    "status_code=\"STATUS_CODE_UNSET\"} 12"));
    assert_true(contains_line(text, "traces_span_metrics_calls_total{service_name=\"checkout\","
                                    "span_name=\"GET /cart\",span_kind=\"SPAN_KIND_SERVER\","
                                    "status_code=\"STATUS_CODE_ERROR\"} 3"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_bucket{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
                                    "le=\"0.002\"} 10"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_bucket{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
                                    "le=\"2\"} 10"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_bucket{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
                                    "le=\"5\"} 15"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_bucket{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
                                    "le=\"+Inf\"} 15"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_sum{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 15.01"));
    assert_true(contains_line(text, "traces_span_metrics_duration_seconds_count{service_name="
                                    "\"checkout\",span_name=\"GET /cart\",span_kind="
                                    "\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 15"));
    /* Escaping, invalid UTF-8 and the overflow series. */
    assert_true(contains_line(text, "traces_span_metrics_calls_total{service_name=\"checkout\","
                                    "span_name=\"say \\\"hi\\\"\\\\\\nnow\",span_kind="
                                    "\"SPAN_KIND_CLIENT\",status_code=\"STATUS_CODE_UNSET\"} 2"));
    assert_true(strstr(text, "span_name=\"bad\xef\xbf\xbd\"") != NULL);
    assert_true(contains_line(text, "traces_span_metrics_calls_total{service_name=\"checkout\","
                                    "span_name=\"_overflow\",span_kind=\"SPAN_KIND_SERVER\","
                                    "status_code=\"STATUS_CODE_UNSET\"} 1"));
    assert_null(strstr(text, "span_name=\"\""));
    /* HELP/TYPE once per family. */
    const char *p = strstr(text, "# TYPE traces_span_metrics_calls_total");
    assert_null(strstr(p + 1, "# TYPE traces_span_metrics_calls_total"));

    if (access("/usr/bin/promtool", X_OK) == 0) {
        char msg[4096];
        bool ok = promtool_ok(text, strlen(text), msg, sizeof msg);
        if (!ok) print_error("promtool: %s\n", msg);
        assert_true(ok);
    } else {
        print_message("promtool not installed: exposition not checked by promtool\n");
    }

    /* A buffer too small fails cleanly and leaves it as it was. */
    fw_buf small;
    fw_buf_init(&small, 300);
    assert_int_equal(fw_buf_append_str(&small, "x"), 0);
    assert_int_equal(fw_red_render_prometheus(r, in, &small), FW_ERR_TOO_LARGE);
    assert_int_equal(small.len, 1);
    fw_buf_free(&small);
    fw_buf_free(&out);
    fw_red_free(r);
    fw_intern_free(in);
}

/* ---- concurrency -------------------------------------------------------- */

typedef struct writer_arg {
    fw_red *r;
    unsigned id;
} writer_arg;

enum { WRITES = 20000 };

static void *writer(void *p)
{
    writer_arg *a = p;
    fw_red_obs batch[16];
    for (unsigned i = 0; i < WRITES; i += 16) {
        for (unsigned j = 0; j < 16; j++) {
            unsigned n = i + j;
            batch[j] = mk_obs(op_key(1, 1 + n % 5, 2), NOW - 30 * MIN + (n % 180) * 10 * SEC, n,
                              n + 1);
            batch[j].fault = n % 4 == 0;
        }
        fw_red_observe(a->r, a->id * 7 + i / 16, batch, 16);
    }
    return NULL;
}

static void test_concurrent_observe(void **state)
{
    (void)state;
    fw_red *r = new_red(4, 1000, 64u << 20);
    pthread_t th[2];
    writer_arg args[2] = {{r, 0}, {r, 1}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    /* Read while they write. */
    for (int i = 0; i < 50; i++) {
        fw_red_totals t;
        fw_red_key k = op_key(1, 1, 2);
        int rv = fw_red_query(r, &k, 0, UINT64_MAX, &t);
        assert_true(rv == 0 || rv == FW_ERR_NOT_FOUND);
        assert_true(t.faults <= t.requests);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    double total = 0, faults = 0;
    for (uint32_t op = 1; op <= 5; op++) {
        fw_red_totals t;
        fw_red_key k = op_key(1, op, 2);
        assert_int_equal(fw_red_query(r, &k, 0, UINT64_MAX, &t), 0);
        total += t.requests;
        faults += t.faults;
    }
    assert_true(total == 2.0 * WRITES);
    assert_true(faults == 2.0 * WRITES / 4);
    fw_red_free(r);
}

static int sum_visit(void *ctx, const fw_red_key *key, const fw_red_totals *t)
{
    (void)key;
    double *sum = ctx;
    *sum += t->requests;
    return 0;
}

/* Random interleaving of observe / expire / query under a small memory
 * limit and a small series cap: memory stays under the limit, windowed
 * totals never exceed lifetime totals, and (under ASan) nothing leaks. */
static void test_random_churn_invariants(void **state)
{
    (void)state;
    size_t limit = 96u << 10;
    fw_red *r = new_red(4, 20, limit);
    uint64_t rng = 42, now = NOW;
    for (unsigned i = 0; i < 20000; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t x = (uint32_t)(rng >> 33);
        if (x % 500 == 0) {
            fw_red_expire(r, now);
            continue;
        }
        now += (x % 7) * SEC;
        fw_red_key k;
        switch (x % 3) {
        case 0: k = svc_key(x % 5); break;
        case 1: k = op_key(x % 5, (x >> 8) % 40, (uint8_t)((x >> 16) % 6)); break;
        default: k = edge_key(x % 5, (x >> 8) % 30); break;
        }
        uint64_t back = (uint64_t)((x >> 4) % 180) * MIN; /* up to 3 h old */
        fw_red_obs o = mk_obs(k, now - back, x % 100000, x);
        o.weight = 1.0 + (double)(x % 4);
        o.fault = x % 11 == 0;
        o.server_duration_us = x % 9;
        fw_red_observe(r, x, &o, 1);
        fw_red_stats st;
        fw_red_get_stats(r, &st);
        assert_true(st.memory_used <= limit);
    }
    double windowed = 0, lifetime = 0;
    (void)fw_red_foreach(r, -1, 0, UINT64_MAX, sum_visit, &windowed);
    (void)fw_red_foreach_lifetime(r, -1, sum_visit, &lifetime);
    assert_true(windowed > 0);
    assert_true(windowed <= lifetime);
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_true(st.evicted_buckets > 0);
    assert_true(st.too_old > 0);
    assert_true(st.overflowed > 0);
    fw_red_free(r);
}

static void test_bad_config(void **state)
{
    (void)state;
    fw_red *r = (fw_red *)1;
    fw_red_config cfg = {.retention_ns = 2 * HOUR, .max_series = 10, .memory_limit = 1 << 20, .partitions = 3};
    assert_int_equal(fw_red_new(&cfg, &r), FW_ERR_CONFIG);
    assert_null(r);
    cfg.partitions = 0;
    assert_int_equal(fw_red_new(&cfg, &r), FW_ERR_CONFIG);
    cfg.partitions = 2;
    cfg.retention_ns = SEC;
    assert_int_equal(fw_red_new(&cfg, &r), FW_ERR_CONFIG);
    fw_red_free(NULL);
    /* An invalid key kind is counted, not stored. */
    r = new_red(1, 10, 1 << 20);
    fw_red_obs o = mk_obs(op_key(1, 1, 2), NOW, 1, 1);
    o.key.kind = 9;
    observe1(r, 0, &o);
    fw_red_stats st;
    fw_red_get_stats(r, &st);
    assert_int_equal(st.invalid, 1);
    assert_int_equal(st.series, 0);
    fw_red_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_across_buckets_and_shards),
        cmocka_unit_test(test_weighted_counts),
        cmocka_unit_test(test_range_steps),
        cmocka_unit_test(test_range_matches_query_and_keys_only),
        cmocka_unit_test(test_query_bounds),
        cmocka_unit_test(test_foreach_filters),
        cmocka_unit_test(test_backdated_and_out_of_order),
        cmocka_unit_test(test_future_timestamp_does_not_age_out_data),
        cmocka_unit_test(test_quantiles_from_merged_buckets),
        cmocka_unit_test(test_exemplar_preference),
        cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_memory_limit_eviction),
        cmocka_unit_test(test_expire_keeps_lifetime),
        cmocka_unit_test(test_expire_table_churn),
        cmocka_unit_test(test_render_prometheus),
        cmocka_unit_test(test_concurrent_observe),
        cmocka_unit_test(test_random_churn_invariants),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
