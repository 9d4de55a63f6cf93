/* test_hist.c - the log-linear latency histogram: quantile accuracy against
 * exact nearest-rank values on deterministic samples, merge equivalence,
 * extremes, saturation and the Prometheus cumulative buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "flywheel/hist.h"

/* splitmix64: deterministic samples, same on every platform. */
static uint64_t rng_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *st) /* (0, 1) */
{
    return ((double)(rng_next(st) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(uint64_t *st)
{
    double u1 = rng_unit(st), u2 = rng_unit(st);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const double qs[] = {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0};

/* Records |v| into a fresh histogram and checks every quantile of qs[]
 * against the exact nearest-rank value, within fw_hist_rel_error(). */
static void check_quantiles(uint64_t *v, size_t n, fw_hist *h, double expect_bound)
{
    fw_hist_init(h);
    for (size_t i = 0; i < n; i++) fw_hist_record(h, v[i], 1);
    assert_int_equal(fw_hist_count(h), n);
    qsort(v, n, sizeof *v, cmp_u64);
    assert_int_equal(fw_hist_min(h), v[0]);
    assert_int_equal(fw_hist_max(h), v[n - 1]);
    double bound = fw_hist_rel_error(h);
    assert_true(bound <= expect_bound);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double r = ceil(qs[i] * (double)n);
        size_t rank = r < 1.0 ? 1 : (r >= (double)n ? n : (size_t)r);
        double exact = (double)v[rank - 1];
        double got = fw_hist_quantile(h, qs[i]);
        if (fabs(got - exact) > bound * exact + 1e-9)
            fail_msg("q=%g exact=%g got=%g bound=%g", qs[i], exact, got, bound);
    }
}

static void test_uniform(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *v = malloc(N * sizeof *v), st = 1;
    fw_hist h;
    assert_non_null(v);
    /* 1 ms .. 100 ms: a 100x range keeps scale 4 (3.1%). */
    for (size_t i = 0; i < N; i++) v[i] = 1000 + rng_next(&st) % 99001;
    check_quantiles(v, N, &h, 1.0 / 32);
    /* A narrow band stays at the finest scale (1.6%). */
    for (size_t i = 0; i < N; i++) v[i] = 5000 + rng_next(&st) % 1000;
    check_quantiles(v, N, &h, 1.0 / 64);
    /* Small values (1..40 us, 6 octaves: scale 4) are exact below 32. */
    for (size_t i = 0; i < N; i++) v[i] = 1 + rng_next(&st) % 40;
    check_quantiles(v, N, &h, 1.0 / 32);
    assert_true(v[N / 2 - 1] < 32);
    assert_true(fw_hist_quantile(&h, 0.5) == (double)v[N / 2 - 1]);
    free(v);
}

static void test_lognormal(void **state)
{
    (void)state;
    enum { N = 50000 };
    uint64_t *v = malloc(N * sizeof *v), st = 42;
    fw_hist h;
    assert_non_null(v);
    /* Median 20 ms, sigma 1: spans roughly 0.3 ms .. 1.5 s (< 2^15). */
    for (size_t i = 0; i < N; i++) {
        double x = 20000.0 * exp(rng_normal(&st));
        v[i] = (uint64_t)llround(x);
    }
    check_quantiles(v, N, &h, 1.0 / 16);
    free(v);
}

static void test_bimodal(void **state)
{
    (void)state;
    enum { N = 30000 };
    uint64_t *v = malloc(N * sizeof *v), st = 7;
    fw_hist h;
    assert_non_null(v);
    /* 90% cache hits around 2 ms, 10% misses around 300 ms. */
    for (size_t i = 0; i < N; i++) {
        double base = rng_unit(&st) < 0.9 ? 2000.0 : 300000.0;
        double x = base * (1.0 + 0.1 * rng_normal(&st));
        v[i] = x < 1.0 ? 1 : (uint64_t)llround(x);
    }
    check_quantiles(v, N, &h, 1.0 / 16);
    free(v);
}

static void test_full_range_log_uniform(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *v = malloc(N * sizeof *v), st = 99;
    fw_hist h;
    assert_non_null(v);
    /* 1 us .. ~1 h in one histogram: the coarsest scale (12.5%). */
    for (size_t i = 0; i < N; i++) v[i] = (uint64_t)exp2(rng_unit(&st) * 31.7);
    check_quantiles(v, N, &h, 1.0 / 8);
    assert_true(fw_hist_rel_error(&h) >= 1.0 / 16); /* it did have to coarsen */
    free(v);
}

static void assert_same_distribution(const fw_hist *a, const fw_hist *b)
{
    assert_int_equal(fw_hist_count(a), fw_hist_count(b));
    assert_int_equal(fw_hist_sum(a), fw_hist_sum(b));
    assert_int_equal(fw_hist_min(a), fw_hist_min(b));
    assert_int_equal(fw_hist_max(a), fw_hist_max(b));
    assert_true(fw_hist_rel_error(a) == fw_hist_rel_error(b));
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        assert_true(fw_hist_quantile(a, q) == fw_hist_quantile(b, q));
    }
    uint64_t ca[FW_HIST_PROM_NBOUNDS], cb[FW_HIST_PROM_NBOUNDS];
    fw_hist_cumulative(a, fw_hist_prom_bounds_us(), FW_HIST_PROM_NBOUNDS, ca);
    fw_hist_cumulative(b, fw_hist_prom_bounds_us(), FW_HIST_PROM_NBOUNDS, cb);
    assert_memory_equal(ca, cb, sizeof ca);
}

static void test_merge_equals_single(void **state)
{
    (void)state;
    uint64_t st = 5;
    fw_hist parts[8], all, merged;
    fw_hist_init(&all);
    for (int p = 0; p < 8; p++) fw_hist_init(&parts[p]);
    /* Each part sees a different latency band (so their scales and
     * windows differ); the union needs a coarser scale than any part. */
    for (int i = 0; i < 40000; i++) {
        int p = (int)(rng_next(&st) % 8);
        double base = 50.0 * exp2(2.0 * p);
        uint64_t x = (uint64_t)(base * (1.0 + rng_unit(&st)));
        uint32_t n = 1 + (uint32_t)(rng_next(&st) % 3); /* sampling-scaled */
        fw_hist_record(&parts[p], x, n);
        fw_hist_record(&all, x, n);
    }
    fw_hist_record(&parts[3], 0, 5);
    fw_hist_record(&all, 0, 5);
    fw_hist_init(&merged);
    for (int p = 7; p >= 0; p--) fw_hist_merge(&merged, &parts[p]);
    assert_same_distribution(&merged, &all);
    /* Merge order does not matter either. */
    fw_hist_init(&merged);
    for (int p = 0; p < 8; p++) fw_hist_merge(&merged, &parts[p]);
    assert_same_distribution(&merged, &all);

    /* Merging an empty histogram changes nothing; self-merge doubles. */
    fw_hist empty, twice = all;
    fw_hist_init(&empty);
    fw_hist_merge(&merged, &empty);
    assert_same_distribution(&merged, &all);
    fw_hist_merge(&twice, &twice);
    assert_int_equal(fw_hist_count(&twice), 2 * fw_hist_count(&all));
    assert_true(fw_hist_quantile(&twice, 0.5) == fw_hist_quantile(&all, 0.5));
}

static void test_extremes(void **state)
{
    (void)state;
    fw_hist h;
    fw_hist_init(&h);
    assert_int_equal(fw_hist_count(&h), 0);
    assert_true(fw_hist_quantile(&h, 0.5) == 0.0);
    fw_hist_record(&h, 0, 3);
    assert_true(fw_hist_quantile(&h, 0.99) == 0.0);
    assert_int_equal(fw_hist_min(&h), 0);
    fw_hist_record(&h, UINT64_MAX, 1);
    assert_int_equal(fw_hist_max(&h), FW_HIST_MAX_US);
    assert_int_equal(fw_hist_sum(&h), UINT64_MAX); /* saturated, not wrapped */
    fw_hist_record(&h, 1, 1);
    fw_hist_record(&h, 0, 0); /* n = 0 is a no-op */
    assert_int_equal(fw_hist_count(&h), 5);
    assert_true(fw_hist_quantile(&h, 0.6) == 0.0);
    assert_true(fw_hist_quantile(&h, 0.8) == 1.0);
    assert_true(fw_hist_quantile(&h, 1.0) == (double)FW_HIST_MAX_US);
    assert_true(fabs(fw_hist_quantile(&h, 0.9) - FW_HIST_MAX_US) <=
                fw_hist_rel_error(&h) * FW_HIST_MAX_US);
    assert_true(fw_hist_quantile(&h, -1.0) == 0.0);
    assert_true(fw_hist_quantile(&h, NAN) == 0.0);
    assert_true(fw_hist_quantile(&h, 7.0) == (double)FW_HIST_MAX_US);
    /* Sampling weights round to whole counts, at least 1. */
    fw_hist w;
    fw_hist_init(&w);
    fw_hist_record_weighted(&w, 100, 3.4);
    fw_hist_record_weighted(&w, 100, 0.2);
    fw_hist_record_weighted(&w, 100, 0.0);
    fw_hist_record_weighted(&w, 100, -2.0);
    fw_hist_record_weighted(&w, 100, NAN);
    assert_int_equal(fw_hist_count(&w), 4);
    fw_hist_record_weighted(&w, 100, 1e300);
    assert_int_equal(fw_hist_count(&w), 4ull + UINT32_MAX);
    /* Durations from span timestamps. */
    assert_int_equal(fw_hist_duration_us(1000, 2499), 1);
    assert_int_equal(fw_hist_duration_us(1000, 2500), 2);
    assert_int_equal(fw_hist_duration_us(5000, 1000), 0);
    assert_int_equal(sizeof(fw_hist), 544);
}

static void test_count_saturation(void **state)
{
    (void)state;
    fw_hist h, g;
    fw_hist_init(&h);
    fw_hist_record(&h, 1234, UINT32_MAX);
    fw_hist_record(&h, 1234, UINT32_MAX);
    fw_hist_record(&h, 99999, 10);
    assert_int_equal(fw_hist_count(&h), 2ull * UINT32_MAX + 10);
    assert_int_equal(h.saturated, 1);
    assert_true(fabs(fw_hist_quantile(&h, 0.5) - 1234) <= fw_hist_rel_error(&h) * 1234);
    assert_true(fw_hist_quantile(&h, 1.0) == 99999.0);
    g = h;
    fw_hist_merge(&g, &h);
    assert_int_equal(fw_hist_count(&g), 4ull * UINT32_MAX + 20);
    assert_true(fabs(fw_hist_quantile(&g, 0.5) - 1234) <= fw_hist_rel_error(&g) * 1234);
    uint64_t cum[FW_HIST_PROM_NBOUNDS];
    fw_hist_cumulative(&g, fw_hist_prom_bounds_us(), FW_HIST_PROM_NBOUNDS, cum);
    for (size_t i = 1; i < FW_HIST_PROM_NBOUNDS; i++) assert_true(cum[i] >= cum[i - 1]);
    assert_int_equal(cum[FW_HIST_PROM_NBOUNDS - 1], fw_hist_count(&g));
}

static void test_prometheus_buckets(void **state)
{
    (void)state;
    const uint64_t *b = fw_hist_prom_bounds_us();
    assert_int_equal(b[0], 2000);
    assert_int_equal(b[FW_HIST_PROM_NBOUNDS - 1], 15000000);
    for (size_t i = 1; i < FW_HIST_PROM_NBOUNDS; i++) assert_true(b[i] > b[i - 1]);
    assert_string_equal(fw_hist_prom_bound_label(0), "0.002");
    assert_string_equal(fw_hist_prom_bound_label(4), "0.01");
    assert_string_equal(fw_hist_prom_bound_label(15), "15");
    assert_null(fw_hist_prom_bound_label(16));

    /* Point masses well inside spanmetrics buckets come out exact. */
    fw_hist h;
    uint64_t cum[FW_HIST_PROM_NBOUNDS];
    fw_hist_init(&h);
    fw_hist_record(&h, 1500, 100);
    fw_hist_record(&h, 3000, 50);
    fw_hist_record(&h, 900000, 10);
    fw_hist_record(&h, 20000000, 5); /* above the last bound: +Inf only */
    fw_hist_cumulative(&h, b, FW_HIST_PROM_NBOUNDS, cum);
    static const uint64_t want[FW_HIST_PROM_NBOUNDS] = {100, 150, 150, 150, 150, 150, 150, 150,
                                                        150, 150, 160, 160, 160, 160, 160, 160};
    assert_memory_equal(cum, want, sizeof want);
    assert_int_equal(fw_hist_count(&h), 165);

    /* Uniform values straddling a bound: the interpolated count is close
     * to exact (within the straddling fine bucket). */
    fw_hist_init(&h);
    for (uint64_t v = 1000; v < 3000; v++) fw_hist_record(&h, v, 1);
    uint64_t one[1] = {2000};
    fw_hist_cumulative(&h, one, 1, cum);
    assert_true(cum[0] >= 1001 - 2 && cum[0] <= 1001 + 2);
    /* Bounds below min / above max are exact. */
    uint64_t edges[2] = {999, 3000};
    fw_hist_cumulative(&h, edges, 2, cum);
    assert_int_equal(cum[0], 0);
    assert_int_equal(cum[1], 2000);
    /* Empty histogram: all zero. */
    fw_hist_init(&h);
    fw_hist_cumulative(&h, b, FW_HIST_PROM_NBOUNDS, cum);
    assert_int_equal(cum[FW_HIST_PROM_NBOUNDS - 1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_lognormal),
        cmocka_unit_test(test_bimodal),
        cmocka_unit_test(test_full_range_log_uniform),
        cmocka_unit_test(test_merge_equals_single),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_count_saturation),
        cmocka_unit_test(test_prometheus_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
