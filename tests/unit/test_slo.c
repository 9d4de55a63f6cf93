/* test_slo.c - SLOs: burn-rate arithmetic on hand-computed cases, status
 * transitions (OK -> WARNING -> BREACHED, INSUFFICIENT_DATA), client errors
 * counted as good, operation SLIs, the latency SLI through histogram bounds,
 * the multi-window multi-burn-rate rule (fast burn, a short spike alone,
 * slow burn), edge-triggered alerting, persistence across close/open, and
 * the validation messages. RED is fed directly with fw_red_observe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flywheel/intern.h"
#include "flywheel/red.h"
#include "flywheel/slo.h"

#define SEC  1000000000ull
#define MIN  (60ull * SEC)
#define HOUR (60ull * MIN)
/* 2024-01-01T00:00:00Z, a multiple of 10 s. */
#define NOW (1704067200ull * SEC)
#define EPS 1e-9

/* cmocka 1.1's assert_float_equal works in float: compare doubles here. */
#define assert_near(a, b, eps) near_impl((a), (b), (eps), #a, __LINE__)
static void near_impl(double a, double b, double eps, const char *what, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %s = %.17g, expected %.17g (+/- %g)", line, what, a, b, eps);
}

typedef struct fixture {
    fw_intern *intern;
    fw_red *red;
    fw_slo_config cfg;
    char dir[64];
    fw_slos *slos;
} fixture;

static uint64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return NOW;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(fw_intern_new(1u << 20, &f->intern), 0);
    fw_red_config rc = {
        .retention_ns = 8 * HOUR, .max_series = 1000, .memory_limit = 256u << 20, .partitions = 2};
    assert_int_equal(fw_red_new(&rc, &f->red), 0);
    f->cfg = (fw_slo_config){
        .red = f->red, .intern = f->intern, .retention_ns = 8 * HOUR, .clock_ns = fixed_clock};
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_slo.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_slo_close(f->slos);
    char path[128];
    static const char *const files[] = {"slos.db", "slos.db-wal", "slos.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        (void)unlink(path);
    }
    (void)rmdir(f->dir);
    fw_red_free(f->red);
    fw_intern_free(f->intern);
    free(f);
    return 0;
}

static void open_slos(fixture *f)
{
    char err[256];
    assert_int_equal(fw_slo_open(f->dir, &f->cfg, &f->slos, err, sizeof(err)), 0);
}

static uint32_t sid(fixture *f, const char *s)
{
    return fw_intern_id(f->intern, (fw_str){s, strlen(s)});
}

/* |weight| requests at |t| (adjusted count), all with |dur_us|. */
static void feed_key(fixture *f, fw_red_key k, uint64_t t, double weight, uint64_t dur_us,
                     bool fault, bool client_error)
{
    fw_red_obs o;
    memset(&o, 0, sizeof(o));
    o.key = k;
    o.time_ns = t;
    o.duration_us = dur_us;
    o.weight = weight;
    o.fault = fault;
    o.client_error = client_error;
    fw_red_observe(f->red, (unsigned)(t / MIN), &o, 1);
}

static void feed(fixture *f, const char *svc, uint64_t t, double weight, bool fault)
{
    fw_red_key k = {.kind = FW_RED_SERVICE, .a = sid(f, svc)};
    feed_key(f, k, t, weight, 1000, fault, false);
}

/* Per minute over [NOW - from_min, NOW - to_min): |good| good and |bad|
 * faulting requests. */
static void feed_minutes(fixture *f, const char *svc, unsigned from_min, unsigned to_min,
                         double good, double bad)
{
    for (unsigned m = from_min; m > to_min; m--) {
        uint64_t t = NOW - (uint64_t)m * MIN + 5 * SEC;
        if (good > 0) feed(f, svc, t, good, false);
        if (bad > 0) feed(f, svc, t, bad, true);
    }
}

static fw_slo_def avail_def(const char *service, double target, const char *window)
{
    fw_slo_def d;
    memset(&d, 0, sizeof(d));
    snprintf(d.service, sizeof(d.service), "%s", service);
    d.sli = FW_SLO_SLI_AVAILABILITY;
    d.target = target;
    snprintf(d.window, sizeof(d.window), "%s", window);
    d.warning_threshold = FW_SLO_WARNING_DEFAULT;
    assert_int_equal(fw_slo_validate(&d, NULL), 0);
    return d;
}

/* ---- arithmetic ---- */

static void test_burn_rate_arithmetic(void **state)
{
    (void)state;
    /* 1 bad in 1000 at 99.9 %: error ratio 0.001 = the budget, burn 1. */
    assert_near(fw_slo_burn_rate(1, 1000, 99.9), 1.0, EPS);
    /* 144 in 10000 at 99.9 %: 0.0144 / 0.001 = 14.4. */
    assert_near(fw_slo_burn_rate(144, 10000, 99.9), 14.4, EPS);
    /* 6 in 1000 at 99 %: 0.006 / 0.01 = 0.6. */
    assert_near(fw_slo_burn_rate(6, 1000, 99.0), 0.6, EPS);
    /* 50 % target: half failing burns exactly the budget. */
    assert_near(fw_slo_burn_rate(50, 100, 50.0), 1.0, EPS);
    /* all failing at 99.99 %: 1 / 0.0001 = 10000. */
    assert_near(fw_slo_burn_rate(7, 7, 99.99), 10000.0, 1e-6);
    assert_near(fw_slo_burn_rate(0, 1000, 99.9), 0.0, 0);
    assert_near(fw_slo_burn_rate(0, 0, 99.9), 0.0, 0);
}

static void test_parse_window(void **state)
{
    (void)state;
    uint64_t ns = 0;
    assert_true(fw_slo_parse_window("30d", &ns));
    assert_true(ns == 30ull * 24ull * HOUR);
    assert_true(fw_slo_parse_window("1h", &ns));
    assert_true(ns == HOUR);
    assert_true(fw_slo_parse_window("90m", &ns));
    assert_true(ns == 90ull * MIN);
    assert_true(fw_slo_parse_window("3600s", &ns));
    assert_true(ns == HOUR);
    assert_true(fw_slo_parse_window("12w", &ns));
    assert_true(ns == 84ull * 24ull * HOUR);
    assert_true(fw_slo_parse_window("90d", &ns));
    assert_false(fw_slo_parse_window("91d", &ns)); /* over 90 d */
    assert_false(fw_slo_parse_window("13w", &ns));
    assert_false(fw_slo_parse_window("30s", &ns)); /* under 1 m */
    assert_false(fw_slo_parse_window("0h", &ns));
    assert_false(fw_slo_parse_window("30", &ns));
    assert_false(fw_slo_parse_window("d", &ns));
    assert_false(fw_slo_parse_window("30dd", &ns));
    assert_false(fw_slo_parse_window("-1h", &ns));
    assert_false(fw_slo_parse_window("99999999999h", &ns));
    assert_false(fw_slo_parse_window("", &ns));
}

/* ---- status ---- */

static void test_status_transitions(void **state)
{
    fixture *f = *state;
    fw_slo_def d = avail_def("checkout", 99.0, "1h");
    fw_slo_status st;

    fw_slo_evaluate(&f->cfg, &d, NOW, &st); /* unknown service */
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA);
    assert_near(st.requests, 0, 0);
    assert_true(st.data_ns == 0);

    feed(f, "checkout", NOW - 40 * MIN + 5 * SEC, 9, false);
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA); /* 9 < 10 */

    /* Data before the window does not count. */
    feed(f, "checkout", NOW - 2 * HOUR, 5000, true);

    /* 1000 requests, 2 failing: ratio 0.002 of a 0.01 budget. */
    feed(f, "checkout", NOW - 40 * MIN + 5 * SEC, 989, false);
    feed(f, "checkout", NOW - 30 * MIN + 5 * SEC, 2, true);
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_OK);
    assert_near(st.requests, 1000, EPS);
    assert_near(st.bad_requests, 2, EPS);
    assert_near(st.attainment, 99.8, EPS);
    assert_near(st.budget_total, 0.01, EPS);
    assert_near(st.budget_consumed, 0.2, EPS);
    assert_near(st.budget_remaining, 0.8, EPS);
    assert_true(st.window_ns == HOUR);
    assert_true(st.data_ns == 40 * MIN);
    assert_false(st.window_exceeds_retention);

    /* 4 more failing of 1000 more: 6 / 2000 = 0.003 -> 0.3 consumed, OK;
     * then 8 more: 14 / 2000 = 0.007 -> 0.7 consumed, 30 % left: WARNING. */
    feed(f, "checkout", NOW - 20 * MIN + 5 * SEC, 996, false);
    feed(f, "checkout", NOW - 20 * MIN + 5 * SEC, 4, true);
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_OK);
    assert_near(st.budget_consumed, 0.3, EPS);
    feed(f, "checkout", NOW - 10 * MIN + 5 * SEC, 8, true);
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.requests, 2008, EPS);
    assert_near(st.budget_consumed, (14.0 / 2008.0) / 0.01, EPS);
    assert_int_equal(st.state, FW_SLO_WARNING);

    /* A lower warning threshold keeps it OK. */
    fw_slo_def d2 = d;
    d2.warning_threshold = 25.0;
    fw_slo_evaluate(&f->cfg, &d2, NOW, &st);
    assert_int_equal(st.state, FW_SLO_OK);

    /* 20 more failing: 34 / 2028 > 0.01: budget exhausted, attainment < target. */
    feed(f, "checkout", NOW - 5 * MIN + 5 * SEC, 20, true);
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_BREACHED);
    assert_true(st.attainment < 99.0);
    assert_near(st.attainment, 100.0 * (1.0 - 34.0 / 2028.0), EPS);
    assert_true(st.budget_remaining < 0);

    /* An hour later the window has moved past all of it. */
    fw_slo_evaluate(&f->cfg, &d, NOW + 2 * HOUR, &st);
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA);
    assert_string_equal(fw_slo_state_name(FW_SLO_BREACHED), "BREACHED");
    assert_string_equal(fw_slo_state_name(FW_SLO_INSUFFICIENT_DATA), "INSUFFICIENT_DATA");
}

static void test_client_errors_are_good(void **state)
{
    fixture *f = *state;
    fw_red_key k = {.kind = FW_RED_SERVICE, .a = sid(f, "api")};
    feed_key(f, k, NOW - 10 * MIN, 500, 1000, false, true); /* 4xx */
    feed_key(f, k, NOW - 10 * MIN, 500, 1000, false, false);
    fw_slo_def d = avail_def("api", 99.9, "1h");
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_OK);
    assert_near(st.requests, 1000, EPS);
    assert_near(st.bad_requests, 0, 0);
    assert_near(st.attainment, 100.0, EPS);
}

static void test_operation_sli(void **state)
{
    fixture *f = *state;
    uint32_t svc = sid(f, "cart"), op = sid(f, "POST /cart"), other = sid(f, "GET /cart");
    fw_red_key server = {.kind = FW_RED_OPERATION, .span_kind = 2, .a = svc, .b = op};
    fw_red_key consumer = {.kind = FW_RED_OPERATION, .span_kind = 5, .a = svc, .b = op};
    fw_red_key client = {.kind = FW_RED_OPERATION, .span_kind = 3, .a = svc, .b = op};
    fw_red_key other_op = {.kind = FW_RED_OPERATION, .span_kind = 2, .a = svc, .b = other};
    feed_key(f, server, NOW - 10 * MIN, 92, 1000, false, false);
    feed_key(f, server, NOW - 10 * MIN, 3, 1000, true, false);
    feed_key(f, consumer, NOW - 9 * MIN, 5, 1000, false, false);
    feed_key(f, client, NOW - 9 * MIN, 50, 1000, true, false);   /* outgoing: ignored */
    feed_key(f, other_op, NOW - 9 * MIN, 50, 1000, true, false); /* other operation */
    fw_slo_def d = avail_def("cart", 90.0, "1h");
    snprintf(d.operation, sizeof(d.operation), "POST /cart");
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.requests, 100, EPS);
    assert_near(st.bad_requests, 3, EPS);
    assert_near(st.budget_consumed, 0.3, EPS);
    assert_int_equal(st.state, FW_SLO_OK);

    snprintf(d.operation, sizeof(d.operation), "never seen");
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA);
}

static void test_latency_sli(void **state)
{
    fixture *f = *state;
    fw_red_key k = {.kind = FW_RED_SERVICE, .a = sid(f, "search")};
    feed_key(f, k, NOW - 20 * MIN, 900, 100000, false, false); /* 100 ms */
    feed_key(f, k, NOW - 20 * MIN, 60, 1000000, false, false); /* 1 s */
    feed_key(f, k, NOW - 10 * MIN, 40, 2000000, true, false);  /* 2 s, failing */
    fw_slo_def d;
    memset(&d, 0, sizeof(d));
    snprintf(d.service, sizeof(d.service), "search");
    d.sli = FW_SLO_SLI_LATENCY;
    d.threshold_ms = 300;
    d.target = 95;
    snprintf(d.window, sizeof(d.window), "1h");
    d.warning_threshold = 50;
    assert_int_equal(fw_slo_validate(&d, NULL), 0);
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.requests, 1000, EPS);
    assert_near(st.bad_requests, 100, EPS); /* slower than 300 ms */
    assert_near(st.attainment, 90.0, EPS);
    assert_near(st.budget_consumed, 2.0, EPS); /* 0.1 / 0.05 */
    assert_int_equal(st.state, FW_SLO_BREACHED);

    /* With a 1.5 s threshold only the 2 s requests are bad: 4 % of a 5 %
     * budget, 20 % left: WARNING. */
    d.threshold_ms = 1500;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.bad_requests, 40, EPS);
    assert_near(st.budget_consumed, 0.8, EPS);
    assert_int_equal(st.state, FW_SLO_WARNING);
    /* And 5 s: all good. */
    d.threshold_ms = 5000;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.bad_requests, 0, 0);
    assert_int_equal(st.state, FW_SLO_OK);
}

/* ---- multi-window multi-burn-rate ---- */

static void test_fast_burn_alerts(void **state)
{
    fixture *f = *state;
    /* 2 % failing for the last hour at 99.9 %: burn 20 in 5 m and 1 h. */
    feed_minutes(f, "pay", 60, 0, 980, 20);
    fw_slo_def d = avail_def("pay", 99.9, "30d");
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.burn_rates[FW_SLO_BURN_5M], 20.0, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_1H], 20.0, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_30M], 20.0, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_6H], 20.0, 1e-6); /* only the hour has data */
    assert_near(st.burn_requests[FW_SLO_BURN_5M], 5000, EPS);
    assert_near(st.burn_requests[FW_SLO_BURN_1H], 60000, EPS);
    assert_int_equal(st.rule, FW_SLO_ALERT_FAST);
    assert_true(st.window_exceeds_retention); /* 30 d over 8 h held */
    assert_true(st.data_ns == HOUR);
    assert_int_equal(st.state, FW_SLO_BREACHED);
}

static void test_short_spike_does_not_alert(void **state)
{
    fixture *f = *state;
    /* 6 h of clean traffic, then 10 % failing in the last 5 minutes:
     * burn(5m) = 100 but burn(1h) = 500 / 60000 / 0.001 = 8.33 < 14.4, and
     * burn(30m) = 16.7 but burn(6h) = 1.39 < 6. */
    feed_minutes(f, "spiky", 360, 5, 1000, 0);
    feed_minutes(f, "spiky", 5, 0, 900, 100);
    fw_slo_def d = avail_def("spiky", 99.9, "30d");
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_near(st.burn_rates[FW_SLO_BURN_5M], 100.0, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_1H], 500.0 / 60000.0 / 0.001, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_30M], 500.0 / 30000.0 / 0.001, 1e-6);
    assert_near(st.burn_rates[FW_SLO_BURN_6H], 500.0 / 360000.0 / 0.001, 1e-6);
    assert_int_equal(st.rule, FW_SLO_ALERT_NONE);

    /* An hour-long burn that stopped 10 minutes ago: burn(1h) high, but the
     * 5 m window is clean, so no fast alert (it has recovered). */
    feed_minutes(f, "recovered", 60, 10, 950, 50);
    feed_minutes(f, "recovered", 10, 0, 1000, 0);
    d = avail_def("recovered", 99.9, "30d");
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_true(st.burn_rates[FW_SLO_BURN_1H] > FW_SLO_FAST_BURN);
    assert_near(st.burn_rates[FW_SLO_BURN_5M], 0.0, 0);
    assert_int_equal(st.rule, FW_SLO_ALERT_SLOW); /* 30 m and 6 h still above 6 */
}

static void test_slow_burn_alerts(void **state)
{
    fixture *f = *state;
    /* 0.8 % failing for 6 h at 99.9 %: burn 8 everywhere: slow, not fast. */
    feed_minutes(f, "slow", 360, 0, 992, 8);
    fw_slo_def d = avail_def("slow", 99.9, "7d");
    fw_slo_status st;
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    for (unsigned i = 0; i < FW_SLO_BURN_WINDOWS; i++) assert_near(st.burn_rates[i], 8.0, 1e-6);
    assert_int_equal(st.rule, FW_SLO_ALERT_SLOW);

    /* 0.5 % (burn 5): neither rule. */
    feed_minutes(f, "tepid", 360, 0, 995, 5);
    d = avail_def("tepid", 99.9, "7d");
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_int_equal(st.rule, FW_SLO_ALERT_NONE);

    /* A few requests, all failing: burn is huge but too few to page. */
    feed(f, "tiny", NOW - 2 * MIN, 3, true);
    d = avail_def("tiny", 99.9, "7d");
    fw_slo_evaluate(&f->cfg, &d, NOW, &st);
    assert_true(st.burn_rates[FW_SLO_BURN_5M] > 100);
    assert_int_equal(st.rule, FW_SLO_ALERT_NONE);
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA);
}

/* ---- the store: edges, persistence, validation ---- */

typedef struct alert_log {
    unsigned n;
    char last_id[FW_SLO_ID_MAX + 1];
    fw_slo_alert_rule last_rule;
} alert_log;

static void on_alert(void *ctx, const fw_slo_def *def, const fw_slo_status *st)
{
    alert_log *log = ctx;
    log->n++;
    snprintf(log->last_id, sizeof(log->last_id), "%s", def->id);
    log->last_rule = st->rule;
    assert_true(st->alerting);
}

static void test_edge_triggered(void **state)
{
    fixture *f = *state;
    open_slos(f);
    feed_minutes(f, "pay", 60, 0, 980, 20);
    feed_minutes(f, "calm", 60, 0, 1000, 0);
    fw_slo_def d = avail_def("pay", 99.9, "30d");
    snprintf(d.id, sizeof(d.id), "pay-availability");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, NULL), 0);
    fw_slo_def calm = avail_def("calm", 99.9, "30d");
    fw_slo_def stored;
    assert_int_equal(fw_slo_create(f->slos, &calm, &stored, NULL), 0);
    assert_memory_equal(stored.id, "slo-", 4);
    assert_int_equal(strlen(stored.id), 20);
    assert_string_equal(stored.name, stored.id);
    assert_true(stored.created_at_ns == NOW);

    alert_log log = {0};
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW, on_alert, &log), 1);
    assert_int_equal(log.n, 1);
    assert_string_equal(log.last_id, "pay-availability");
    assert_int_equal(log.last_rule, FW_SLO_ALERT_FAST);

    /* Still burning: no second alert. */
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW + 10 * SEC, on_alert, &log), 0);
    assert_int_equal(log.n, 1);
    fw_slo_status st;
    assert_int_equal(fw_slo_get(f->slos, "pay-availability", NOW, NULL, &st), 0);
    assert_true(st.alerting);
    assert_true(st.alerting_since_ns == NOW);

    /* Seven hours on, the burn windows are empty: cleared without a call. */
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW + 7 * HOUR, on_alert, &log), 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(fw_slo_get(f->slos, "pay-availability", NOW, NULL, &st), 0);
    assert_false(st.alerting);

    /* Firing again is a new edge. */
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW, on_alert, &log), 1);
    assert_int_equal(log.n, 2);

    fw_slo_stats stats;
    fw_slo_get_stats(f->slos, &stats);
    assert_true(stats.slos == 2);
    assert_true(stats.evaluations == 4);
    assert_true(stats.alerts == 2);
    assert_true(stats.write_errors == 0);
}

static void test_persistence(void **state)
{
    fixture *f = *state;
    open_slos(f);
    feed_minutes(f, "pay", 60, 0, 980, 20);
    fw_slo_def d = avail_def("pay", 99.9, "30d");
    snprintf(d.id, sizeof(d.id), "pay");
    snprintf(d.name, sizeof(d.name), "Payments availability");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, NULL), 0);
    fw_slo_def lat;
    memset(&lat, 0, sizeof(lat));
    snprintf(lat.id, sizeof(lat.id), "search-latency");
    snprintf(lat.service, sizeof(lat.service), "search");
    snprintf(lat.operation, sizeof(lat.operation), "GET /search");
    lat.sli = FW_SLO_SLI_LATENCY;
    lat.threshold_ms = 250.5;
    lat.target = 99.5;
    snprintf(lat.window, sizeof(lat.window), "7d");
    lat.warning_threshold = 30;
    assert_int_equal(fw_slo_create(f->slos, &lat, NULL, NULL), 0);
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW, NULL, NULL), 1);

    fw_slo_close(f->slos);
    f->slos = NULL;
    open_slos(f);
    assert_int_equal(fw_slo_count(f->slos), 2);
    fw_slo_def got;
    fw_slo_status st;
    assert_int_equal(fw_slo_get(f->slos, "pay", NOW, &got, &st), 0);
    assert_string_equal(got.name, "Payments availability");
    assert_string_equal(got.window, "30d");
    assert_near(got.target, 99.9, 0);
    assert_true(st.alerting); /* the alert state survived */
    assert_true(st.alerting_since_ns == NOW);
    /* ... so the next evaluation does not page again. */
    alert_log log = {0};
    assert_int_equal(fw_slo_evaluate_all(f->slos, NOW, on_alert, &log), 0);
    assert_int_equal(log.n, 0);

    assert_int_equal(fw_slo_get(f->slos, "search-latency", NOW, &got, &st), 0);
    assert_int_equal(got.sli, FW_SLO_SLI_LATENCY);
    assert_string_equal(got.operation, "GET /search");
    assert_near(got.threshold_ms, 250.5, 0);
    assert_near(got.warning_threshold, 30, 0);
    assert_true(got.window_ns == 7ull * 24ull * HOUR);
    assert_int_equal(st.state, FW_SLO_INSUFFICIENT_DATA);

    assert_int_equal(fw_slo_delete(f->slos, "pay"), 0);
    assert_int_equal(fw_slo_delete(f->slos, "pay"), FW_ERR_NOT_FOUND);
    assert_int_equal(fw_slo_get(f->slos, "pay", NOW, NULL, &st), FW_ERR_NOT_FOUND);
    fw_slo_close(f->slos);
    f->slos = NULL;
    open_slos(f);
    assert_int_equal(fw_slo_count(f->slos), 1);
    assert_int_equal(fw_slo_get(f->slos, "search-latency", NOW, NULL, &st), 0);
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    char err[256] = "";
    fw_slos *s = (fw_slos *)1;
    assert_int_equal(fw_slo_open("/nonexistent/flywheel", &f->cfg, &s, err, sizeof(err)),
                     FW_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent/flywheel"));
}

static void expect_invalid(fw_slo_def d, const char *prefix)
{
    fw_parse_error perr;
    memset(&perr, 0, sizeof(perr));
    assert_int_equal(fw_slo_validate(&d, &perr), FW_ERR_INVALID);
    if (strncmp(perr.detail, prefix, strlen(prefix)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", prefix, perr.detail);
}

static void test_validation(void **state)
{
    fixture *f = *state;
    fw_slo_def ok = avail_def("svc", 99.9, "30d");
    fw_slo_def d;

    d = ok;
    d.service[0] = '\0';
    expect_invalid(d, "service: required");
    d = ok;
    d.target = 100;
    expect_invalid(d, "target:");
    d = ok;
    d.target = 0;
    expect_invalid(d, "target:");
    d = ok;
    d.target = NAN;
    expect_invalid(d, "target:");
    d = ok;
    snprintf(d.window, sizeof(d.window), "30x");
    expect_invalid(d, "window:");
    d = ok;
    d.window[0] = '\0';
    expect_invalid(d, "window:");
    d = ok;
    d.sli = FW_SLO_SLI_LATENCY;
    expect_invalid(d, "threshold_ms:");
    d = ok;
    d.threshold_ms = 100;
    expect_invalid(d, "threshold_ms: only for a latency SLI");
    d = ok;
    d.sli = (fw_slo_sli)7;
    expect_invalid(d, "sli:");
    d = ok;
    snprintf(d.id, sizeof(d.id), "Bad Id");
    expect_invalid(d, "id:");
    d = ok;
    snprintf(d.id, sizeof(d.id), "-lead");
    expect_invalid(d, "id:");
    d = ok;
    d.warning_threshold = 150;
    expect_invalid(d, "warning_threshold:");
    d = ok;
    snprintf(d.name, sizeof(d.name), "two\nlines");
    expect_invalid(d, "name:");

    /* A duplicate id is refused, naming the id. */
    open_slos(f);
    d = ok;
    snprintf(d.id, sizeof(d.id), "svc-avail.v1");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, NULL), 0);
    fw_parse_error perr;
    memset(&perr, 0, sizeof(perr));
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, &perr), FW_ERR_INVALID);
    assert_string_equal(perr.reason, "conflict");
    assert_non_null(strstr(perr.detail, "svc-avail.v1"));
    /* An invalid definition is never stored. */
    d.target = 101;
    snprintf(d.id, sizeof(d.id), "other");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, &perr), FW_ERR_INVALID);
    assert_int_equal(fw_slo_count(f->slos), 1);
}

typedef struct list_ctx {
    unsigned n;
    char ids[4][FW_SLO_ID_MAX + 1];
    fw_slo_state states[4];
} list_ctx;

static int visit(void *ctx, const fw_slo_def *def, const fw_slo_status *st)
{
    list_ctx *l = ctx;
    if (l->n < 4) {
        snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", def->id);
        l->states[l->n] = st->state;
    }
    l->n++;
    return 0;
}

static void test_list(void **state)
{
    fixture *f = *state;
    open_slos(f);
    feed_minutes(f, "a", 30, 0, 100, 0);
    fw_slo_def d = avail_def("a", 99, "1h");
    snprintf(d.id, sizeof(d.id), "first");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, NULL), 0);
    d = avail_def("b", 99, "1h");
    snprintf(d.id, sizeof(d.id), "second");
    assert_int_equal(fw_slo_create(f->slos, &d, NULL, NULL), 0);
    list_ctx l = {0};
    assert_int_equal(fw_slo_list(f->slos, NOW, visit, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "first");
    assert_int_equal(l.states[0], FW_SLO_OK);
    assert_string_equal(l.ids[1], "second");
    assert_int_equal(l.states[1], FW_SLO_INSUFFICIENT_DATA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burn_rate_arithmetic),
        cmocka_unit_test(test_parse_window),
        cmocka_unit_test_setup_teardown(test_status_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_errors_are_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operation_sli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_sli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fast_burn_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_spike_does_not_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_burn_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edge_triggered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
