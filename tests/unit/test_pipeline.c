/* test_pipeline.c - the hand-off: retention rejections, decoder (invalid
 * id) rejections, accepted counters per protocol, and the overload path
 * when the store cannot take a batch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "flywheel/pipeline.h"

#define SEC 1000000000ull
#define NOW (1700000000ull * SEC)
#define RETENTION (7200ull * SEC)

static fw_resource res = {.service_name = {"svc", 3}};
static fw_scope scope = {.name = {"lib", 3}};

typedef struct fixture {
    fw_store *store;
    fw_stats stats;
    fw_pipeline *p;
} fixture;

static void setup_with(fixture *f, size_t memory_limit)
{
    fw_store_config sc = {.max_spans = 1000, .max_logs = 1000, .memory_limit = memory_limit,
                          .partitions = 2};
    assert_int_equal(fw_store_new(&sc, &f->store), 0);
    fw_stats_init(&f->stats);
    fw_pipeline_config pc = {.retention_ns = RETENTION};
    assert_int_equal(fw_pipeline_new(&pc, f->store, &f->stats, &f->p), 0);
}

static void teardown(fixture *f)
{
    fw_pipeline_free(f->p);
    fw_store_free(f->store);
}

static fw_span span_at(unsigned id, uint64_t end)
{
    fw_span s = {0};
    s.trace_id[0] = 1;
    s.trace_id[15] = (uint8_t)id;
    s.span_id[7] = (uint8_t)id;
    s.start_ns = end - 1000;
    s.end_ns = end;
    s.name = FW_STR_LIT("op");
    s.resource = &res;
    s.scope = &scope;
    return s;
}

static fw_log_record log_at(uint64_t t, uint64_t observed)
{
    fw_log_record r = {0};
    r.time_ns = t;
    r.observed_time_ns = observed;
    r.resource = &res;
    r.scope = &scope;
    return r;
}

static void test_spans_retention_and_invalid(void **state)
{
    (void)state;
    fixture f;
    setup_with(&f, 0);
    fw_span spans[4] = {span_at(1, NOW - 10 * SEC), span_at(2, NOW - RETENTION - SEC),
                        span_at(3, NOW - RETENTION + SEC), span_at(4, 5000)};
    fw_span_batch b = {spans, 4, 2, "invalid trace id"};
    assert_int_equal(fw_pipeline_push_spans(f.p, FW_PROTO_HTTP_JSON, &b, NOW), 0);

    assert_int_equal(b.n, 2);
    assert_int_equal(b.rejected, 4);
    assert_string_equal(b.reject_reason, "invalid trace id"); /* first reason kept */
    assert_int_equal(b.spans[0].trace_id[15], 1);
    assert_int_equal(b.spans[1].trace_id[15], 3);

    fw_stats *st = &f.stats;
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON]), 2);
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 0);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON][FW_REJECT_TOO_OLD]), 2);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON][FW_REJECT_INVALID_ID]),
        2);
    fw_store_stats ss;
    fw_store_get_stats(f.store, &ss);
    assert_int_equal(ss.spans_held, 2);

    /* The reason is set when the decoder rejected nothing. */
    fw_span old[1] = {span_at(9, NOW - RETENTION - 1)};
    fw_span_batch b2 = {old, 1, 0, NULL};
    assert_int_equal(fw_pipeline_push_spans(f.p, FW_PROTO_GRPC, &b2, NOW), 0);
    assert_int_equal(b2.n, 0);
    assert_int_equal(b2.rejected, 1);
    assert_non_null(b2.reject_reason);
    assert_non_null(strstr(b2.reject_reason, "retention"));
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_TOO_OLD]), 1);
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 0);
    teardown(&f);
}

static void test_spans_accepted_per_protocol(void **state)
{
    (void)state;
    fixture f;
    setup_with(&f, 0);
    for (int proto = 0; proto < FW_PROTO__COUNT; proto++) {
        fw_span spans[3];
        for (unsigned i = 0; i < 3; i++)
            spans[i] = span_at((unsigned)proto * 10u + i, NOW);
        size_t n = (size_t)proto + 1u;
        fw_span_batch b = {spans, n, 0, NULL};
        assert_int_equal(fw_pipeline_push_spans(f.p, (fw_protocol)proto, &b, NOW), 0);
        assert_int_equal(b.rejected, 0);
        assert_null(b.reject_reason);
    }
    assert_int_equal(fw_stats_get(&f.stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 1);
    assert_int_equal(fw_stats_get(&f.stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]), 2);
    assert_int_equal(fw_stats_get(&f.stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON]), 3);
    assert_int_equal(fw_stats_get(&f.stats.accepted[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON]), 0);
    teardown(&f);
}

static void test_logs_retention(void **state)
{
    (void)state;
    fixture f;
    setup_with(&f, 0);
    fw_log_record recs[5] = {
        log_at(NOW, 0),
        log_at(NOW - RETENTION - SEC, NOW),  /* event time wins over observed */
        log_at(0, NOW - RETENTION - SEC),    /* observed time used when time is unset */
        log_at(0, 0),                        /* no time at all: accepted */
        log_at(0, NOW - SEC),
    };
    fw_log_batch b = {recs, 5, 1, NULL};
    assert_int_equal(fw_pipeline_push_logs(f.p, FW_PROTO_HTTP_PROTOBUF, &b, NOW), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.rejected, 3);
    assert_non_null(strstr(b.reject_reason, "retention"));
    fw_stats *st = &f.stats;
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_LOGS][FW_PROTO_HTTP_PROTOBUF]), 3);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_PROTOBUF][FW_REJECT_TOO_OLD]), 2);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_PROTOBUF][FW_REJECT_INVALID_ID]),
        1);
    fw_store_stats ss;
    fw_store_get_stats(f.store, &ss);
    assert_int_equal(ss.logs_held, 3);
    teardown(&f);
}

static void test_overload(void **state)
{
    (void)state;
    fixture f;
    setup_with(&f, 64); /* far less than one record: the store refuses everything */
    fw_span spans[2] = {span_at(1, NOW), span_at(2, NOW - RETENTION - SEC)};
    fw_span_batch b = {spans, 2, 0, NULL};
    assert_int_equal(fw_pipeline_push_spans(f.p, FW_PROTO_GRPC, &b, NOW), FW_ERR_OVERLOAD);
    fw_stats *st = &f.stats;
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_OVERLOAD]), 1);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_TOO_OLD]), 1);
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 0);

    fw_log_record recs[3] = {log_at(NOW, 0), log_at(NOW, 0), log_at(NOW, 0)};
    fw_log_batch lb = {recs, 3, 0, NULL};
    assert_int_equal(fw_pipeline_push_logs(f.p, FW_PROTO_HTTP_JSON, &lb, NOW), FW_ERR_OVERLOAD);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON][FW_REJECT_OVERLOAD]), 3);
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON]), 0);

    fw_store_stats ss;
    fw_store_get_stats(f.store, &ss);
    assert_int_equal(ss.spans_held, 0);
    assert_int_equal(ss.logs_held, 0);
    assert_int_equal(ss.memory_used, 0);
    teardown(&f);
}

static void test_new_rejects_missing_parts(void **state)
{
    (void)state;
    fw_stats st;
    fw_stats_init(&st);
    fw_pipeline_config pc = {.retention_ns = RETENTION};
    fw_pipeline *p = (fw_pipeline *)&st;
    assert_int_equal(fw_pipeline_new(&pc, NULL, &st, &p), FW_ERR_CONFIG);
    assert_null(p);
    fw_pipeline_free(NULL);
}

/* OpenTelemetry sampling: th is the rejection threshold over 2^56, given
 * as up to 14 hex digits with trailing zeros dropped. */
static void test_sampling_weight(void **state)
{
    (void)state;
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("")) == 1.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:0")) == 1.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:8")) == 2.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:c")) == 4.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:c0000000000000")) == 4.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("vendor=abc,ot=rv:1234;th:8")) == 2.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=p:3")) == 8.0);
    /* Malformed or foreign entries never change counts. */
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:zz")) == 1.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=th:123456789abcdef0")) == 1.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("other=th:8")) == 1.0);
    assert_true(fw_pipeline_sampling_weight(FW_STR_LIT("ot=p:99")) == 1.0);
}

static void test_partition_is_per_trace(void **state)
{
    (void)state;
    uint8_t a[FW_TRACE_ID_LEN], b[FW_TRACE_ID_LEN];
    unsigned seen = 0;
    for (unsigned i = 0; i < 256; i++) {
        memset(a, 0, sizeof a);
        a[15] = (uint8_t)i;
        a[3] = (uint8_t)(i * 7);
        memcpy(b, a, sizeof a);
        unsigned pa = fw_pipeline_partition(a, 16), pb = fw_pipeline_partition(b, 16);
        assert_int_equal(pa, pb);
        assert_true(pa < 16);
        seen |= 1u << pa;
    }
    assert_int_equal(seen, 0xffffu); /* spreads over every partition */
    assert_int_equal(fw_pipeline_partition(a, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans_retention_and_invalid),
        cmocka_unit_test(test_spans_accepted_per_protocol),
        cmocka_unit_test(test_logs_retention),
        cmocka_unit_test(test_overload),
        cmocka_unit_test(test_new_rejects_missing_parts),
        cmocka_unit_test(test_sampling_weight),
        cmocka_unit_test(test_partition_is_per_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
