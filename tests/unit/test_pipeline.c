/* test_pipeline.c - the hand-off: retention rejections, decoder (invalid
 * id) rejections, accepted counters per protocol, and the overload path
 * when the store cannot take a batch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "flywheel/intern.h"
#include "flywheel/pipeline.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/topo.h"

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
    fw_span_batch b = {spans, 4, 2, "invalid trace id", false};
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
    fw_span_batch b2 = {old, 1, 0, NULL, false};
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
        fw_span_batch b = {spans, n, 0, NULL, false};
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
    fw_log_batch b = {recs, 5, 1, NULL, false};
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
    fw_span_batch b = {spans, 2, 0, NULL, false};
    assert_int_equal(fw_pipeline_push_spans(f.p, FW_PROTO_GRPC, &b, NOW), FW_ERR_OVERLOAD);
    fw_stats *st = &f.stats;
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_OVERLOAD]), 1);
    assert_int_equal(
        fw_stats_get(&st->rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_TOO_OLD]), 1);
    assert_int_equal(fw_stats_get(&st->accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 0);

    fw_log_record recs[3] = {log_at(NOW, 0), log_at(NOW, 0), log_at(NOW, 0)};
    fw_log_batch lb = {recs, 3, 0, NULL, false};
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

static int count_span(void *ctx, const fw_span *span)
{
    (void)span;
    (*(size_t *)ctx)++;
    return 0;
}

/* The whole hand-off: one batch of a frontend -> backend call (both
 * arrival orders inside the batch), a backend call to PostgreSQL, and a
 * sampled span: RED per service / operation / edge and the topology see
 * exactly what was sent, sampling scaled. */
static void test_feeds_red_and_topology(void **state)
{
    (void)state;
    fw_intern *intern = NULL;
    fw_red *red = NULL;
    fw_topo *topo = NULL;
    fw_throttle_rules *rules = NULL;
    fw_store *store = NULL;
    fw_pipeline *p = NULL;
    fw_stats stats;
    fw_stats_init(&stats);
    assert_int_equal(fw_intern_new(1u << 20, &intern), 0);
    assert_int_equal(fw_throttle_rules_new_default(&rules), 0);
    fw_red_config rc = {.retention_ns = RETENTION, .max_series = 100, .memory_limit = 64u << 20,
                        .partitions = 4};
    assert_int_equal(fw_red_new(&rc, &red), 0);
    fw_topo_config tc = {.join_wait_ns = 30 * SEC, .partitions = 4};
    assert_int_equal(fw_topo_new(&tc, intern, red, &topo), 0);
    fw_store_config sc = {.intern = intern, .memory_limit = 64u << 20, .partitions = 4};
    assert_int_equal(fw_store_new(&sc, &store), 0);
    fw_pipeline_config pc = {.retention_ns = RETENTION, .intern = intern, .red = red,
                             .topo = topo, .throttle_rules = rules, .partitions = 4};
    assert_int_equal(fw_pipeline_new(&pc, store, &stats, &p), 0);

    static fw_resource front = {.service_name = {"frontend", 8}};
    static fw_resource back = {.service_name = {"backend", 7}};
    fw_attr db_attr = {.key = FW_STR_LIT("db.system"),
                       .value = {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("postgresql")}};
    fw_span spans[8];
    size_t n = 0;
    for (unsigned t = 0; t < 2; t++) {
        fw_span root = span_at(10 + t, NOW - 100 * SEC), client, server, db;
        root.trace_id[0] = (uint8_t)(0x40 + t);
        root.kind = FW_SPAN_KIND_SERVER;
        root.resource = &front;
        root.start_ns = root.end_ns - 50000000; /* 50 ms */
        client = root;
        client.span_id[6] = 1;
        client.kind = FW_SPAN_KIND_CLIENT;
        client.has_parent = true;
        memcpy(client.parent_span_id, root.span_id, FW_SPAN_ID_LEN);
        server = client;
        server.span_id[6] = 2;
        server.kind = FW_SPAN_KIND_SERVER;
        server.resource = &back;
        memcpy(server.parent_span_id, client.span_id, FW_SPAN_ID_LEN);
        server.start_ns = server.end_ns - 30000000; /* 30 ms */
        if (t == 1) server.status_code = FW_STATUS_ERROR;
        db = server;
        db.span_id[6] = 3;
        db.kind = FW_SPAN_KIND_CLIENT;
        db.status_code = FW_STATUS_UNSET;
        memcpy(db.parent_span_id, server.span_id, FW_SPAN_ID_LEN);
        db.attrs.items = &db_attr;
        db.attrs.n = 1;
        db.trace_state = FW_STR_LIT("ot=th:8"); /* sampled at 1/2: counts twice */
        if (t == 0) { /* client first */
            spans[n++] = root;
            spans[n++] = client;
            spans[n++] = server;
        } else { /* server first */
            spans[n++] = server;
            spans[n++] = client;
            spans[n++] = root;
        }
        spans[n++] = db;
    }
    fw_span_batch b = {.spans = spans, .n = n};
    assert_int_equal(fw_pipeline_push_spans(p, FW_PROTO_GRPC, &b, NOW), 0);
    assert_int_equal(fw_stats_get(&stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 8);

    uint32_t fid = fw_intern_find(intern, FW_STR_LIT("frontend"));
    uint32_t bid = fw_intern_find(intern, FW_STR_LIT("backend"));
    uint32_t pg = fw_intern_find(intern, FW_STR_LIT("postgresql"));
    assert_true(fid && bid && pg);
    fw_red_totals t;
    fw_red_key k = {.kind = FW_RED_SERVICE, .a = bid};
    assert_int_equal(fw_red_query(red, &k, NOW - 3600 * SEC, NOW, &t), 0);
    assert_true(t.requests == 2.0);
    assert_true(t.faults == 1.0);
    k = (fw_red_key){.kind = FW_RED_EDGE, .a = fid, .b = bid};
    assert_int_equal(fw_red_query(red, &k, NOW - 3600 * SEC, NOW, &t), 0);
    assert_true(t.requests == 2.0);
    assert_true(t.faults == 1.0);
    k = (fw_red_key){.kind = FW_RED_EDGE, .a = bid, .b = pg};
    assert_int_equal(fw_red_query(red, &k, NOW - 3600 * SEC, NOW, &t), 0);
    assert_true(t.requests == 4.0); /* two spans, each an adjusted count of 2 */
    k = (fw_red_key){.kind = FW_RED_OPERATION, .span_kind = FW_SPAN_KIND_CLIENT, .a = bid,
                     .b = fw_intern_find(intern, FW_STR_LIT("op"))};
    assert_int_equal(fw_red_query(red, &k, NOW - 3600 * SEC, NOW, &t), 0);
    assert_true(t.requests == 4.0);

    fw_topo_snapshot snap;
    assert_int_equal(fw_topo_snapshot_get(topo, &snap), 0);
    assert_int_equal(snap.n_nodes, 3);
    assert_int_equal(snap.n_edges, 2);
    fw_topo_snapshot_free(&snap);

    /* The store indexed the failing server span. */
    fw_span_query q = {.service = "backend", .kind = -1, .errors_only = true};
    size_t seen = 0;
    assert_int_equal(fw_store_find_spans(store, &q, count_span, &seen), 1);
    assert_int_equal(seen, 1);

    fw_pipeline_free(p);
    fw_store_free(store);
    fw_topo_free(topo);
    fw_red_free(red);
    fw_throttle_rules_free(rules);
    fw_intern_free(intern);
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
        cmocka_unit_test(test_feeds_red_and_topology),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
