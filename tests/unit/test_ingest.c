/* test_ingest.c - the OTLP gRPC and HTTP handlers called directly with
 * hand-built requests (no network) over a real pipeline and store: valid
 * protobuf/JSON traces and logs, gzip, partial success, every error path,
 * and that each response decodes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "flywheel/grpc.h"
#include "flywheel/gzip.h"
#include "flywheel/ingest.h"
#include "flywheel/membudget.h"
#include "flywheel/pipeline.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"
#include "flywheel/wal.h"

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"


#define TRACE_PATH   "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define LOGS_PATH    "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
#define METRICS_PATH "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
#define MAX_MSG      (1u << 20)

typedef struct fixture {
    fw_stats stats;
    fw_store *store;
    fw_pipeline *pipeline;
    fw_ingest *ingest;
    fw_http_handler grpc;
    fw_http_handler http;
} fixture;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fixture_setup_with(void **state, size_t store_memory)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fw_stats_init(&f->stats);
    fw_store_config sc = {
        .max_spans = 10000,
        .max_logs = 10000,
        .memory_limit = store_memory,
        .retention_ns = 7200ull * 1000000000ull,
        .partitions = 1,
    };
    assert_int_equal(fw_store_new(&sc, &f->store), 0);
    fw_pipeline_config pc = {.retention_ns = 7200ull * 1000000000ull};
    assert_int_equal(fw_pipeline_new(&pc, f->store, &f->stats, &f->pipeline), 0);
    fw_ingest_config ic = {.http_max_body = MAX_MSG, .grpc_max_msg = MAX_MSG, .retry_after_s = 7};
    assert_int_equal(fw_ingest_new(&ic, f->pipeline, &f->stats, &f->ingest), 0);
    f->grpc = fw_ingest_grpc_handler(f->ingest);
    f->http = fw_ingest_http_handler(f->ingest);
    *state = f;
    return 0;
}

static int fixture_setup(void **state)
{
    return fixture_setup_with(state, 64u << 20);
}

/* A store whose memory limit no span fits in: every hand-off overloads. */
static int fixture_setup_tiny(void **state)
{
    return fixture_setup_with(state, 16);
}

static int fixture_teardown(void **state)
{
    fixture *f = *state;
    fw_ingest_free(f->ingest);
    fw_pipeline_free(f->pipeline);
    fw_store_free(f->store);
    free(f);
    return 0;
}

/* ---- request bodies ---- */

static void trace_id_of(uint8_t seed, uint8_t id[16])
{
    for (int i = 0; i < 16; i++) id[i] = (uint8_t)(seed + i + 1);
}

/* ExportTraceServiceRequest with |n| spans of trace |seed|; the span at
 * |bad| (if < n) has an all-zero trace id. Caller frees. */
static uint8_t *traces_pb(uint8_t seed, size_t n, size_t bad, size_t *len)
{
    Opentelemetry__Proto__Common__V1__AnyValue sv =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    sv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    sv.string_value = (char *)"checkout";
    Opentelemetry__Proto__Common__V1__KeyValue kv =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv.key = (char *)"service.name";
    kv.value = &sv;
    Opentelemetry__Proto__Common__V1__KeyValue *kvs[] = {&kv};
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.n_attributes = 1;
    res.attributes = kvs;

    uint8_t tid[16], zero[16] = {0};
    trace_id_of(seed, tid);
    uint8_t sids[16][8];
    Opentelemetry__Proto__Trace__V1__Span spans[16];
    Opentelemetry__Proto__Trace__V1__Span *sp[16];
    assert_true(n <= 16);
    uint64_t t = now_ns() - 60ull * 1000000000ull;
    for (size_t i = 0; i < n; i++) {
        Opentelemetry__Proto__Trace__V1__Span s = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
        memset(sids[i], 0, 8);
        sids[i][7] = (uint8_t)(i + 1);
        s.trace_id.data = i == bad ? zero : tid;
        s.trace_id.len = 16;
        s.span_id.data = sids[i];
        s.span_id.len = 8;
        s.name = (char *)"GET /cart";
        s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        s.start_time_unix_nano = t;
        s.end_time_unix_nano = t + 1000000;
        spans[i] = s;
        sp[i] = &spans[i];
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.n_spans = n;
    ss.spans = sp;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp[] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = ssp;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp[] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = rsp;

    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    uint8_t *out = malloc(*len ? *len : 1);
    assert_non_null(out);
    assert_int_equal(
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out),
        *len);
    return out;
}

/* ExportLogsServiceRequest with |n| records tied to trace |seed|. */
static uint8_t *logs_pb(uint8_t seed, size_t n, size_t *len)
{
    uint8_t tid[16], sid[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    trace_id_of(seed, tid);
    Opentelemetry__Proto__Common__V1__AnyValue body =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    body.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    body.string_value = (char *)"payment declined";
    Opentelemetry__Proto__Logs__V1__LogRecord recs[8];
    Opentelemetry__Proto__Logs__V1__LogRecord *rp[8];
    assert_true(n <= 8);
    uint64_t t = now_ns() - 30ull * 1000000000ull;
    for (size_t i = 0; i < n; i++) {
        Opentelemetry__Proto__Logs__V1__LogRecord r =
            OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
        r.time_unix_nano = t + i;
        r.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR;
        r.severity_text = (char *)"ERROR";
        r.body = &body;
        r.trace_id.data = tid;
        r.trace_id.len = 16;
        r.span_id.data = sid;
        r.span_id.len = 8;
        recs[i] = r;
        rp[i] = &recs[i];
    }
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.n_log_records = n;
    sl.log_records = rp;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *slp[] = {&sl};
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.n_scope_logs = 1;
    rl.scope_logs = slp;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rlp[] = {&rl};
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = rlp;
    *len = opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
        &req);
    uint8_t *out = malloc(*len ? *len : 1);
    assert_non_null(out);
    assert_int_equal(
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req, out),
        *len);
    return out;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* OTLP/JSON traces: one good span, plus one with a malformed-length id
 * when |with_bad| (partial success). Caller frees. */
static char *traces_json(uint8_t seed, bool with_bad)
{
    uint8_t tid[16];
    char tid_hex[33];
    trace_id_of(seed, tid);
    hex(tid, 16, tid_hex);
    uint64_t t = now_ns() - 60ull * 1000000000ull;
    char *out = malloc(4096);
    assert_non_null(out);
    int n = snprintf(
        out, 4096,
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"frontend\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},"
        "\"spans\":[{\"traceId\":\"%s\",\"spanId\":\"00000000000000a1\",\"name\":\"GET /\","
        "\"kind\":2,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"}%s]}]}]}",
        tid_hex, (unsigned long long)t, (unsigned long long)(t + 5000),
        with_bad ? ",{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":"
                   "\"00000000000000a2\",\"name\":\"bad\",\"startTimeUnixNano\":\"1\","
                   "\"endTimeUnixNano\":\"2\"}"
                 : "");
    assert_true(n > 0 && n < 4096);
    return out;
}

static char *logs_json(uint8_t seed)
{
    uint8_t tid[16];
    char tid_hex[33];
    trace_id_of(seed, tid);
    hex(tid, 16, tid_hex);
    char *out = malloc(2048);
    assert_non_null(out);
    int n = snprintf(out, 2048,
                     "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                     "\"value\":{\"stringValue\":\"frontend\"}}]},\"scopeLogs\":[{\"scope\":{},"
                     "\"logRecords\":[{\"timeUnixNano\":\"%llu\",\"severityNumber\":17,"
                     "\"body\":{\"stringValue\":\"boom\"},\"traceId\":\"%s\","
                     "\"spanId\":\"00000000000000b1\"}]}]}]}",
                     (unsigned long long)(now_ns() - 1000000000ull), tid_hex);
    assert_true(n > 0 && n < 2048);
    return out;
}

static void gzip_of(const void *p, size_t n, fw_buf *out)
{
    fw_buf_init(out, 8u << 20);
    assert_int_equal(fw_gzip_deflate(p, n, out), 0);
}

/* ---- calling the handlers ---- */

static fw_http_request http_req(const char *path, const char *ct, const void *body, size_t len)
{
    fw_http_request r;
    memset(&r, 0, sizeof r);
    r.method = FW_HTTP_POST;
    r.path = fw_str_from(path);
    r.content_type = fw_str_from(ct);
    r.http_major = 1;
    r.body = body;
    r.body_len = len;
    return r;
}

static fw_http_request grpc_req(const char *path, const fw_buf *framed)
{
    fw_http_request r;
    memset(&r, 0, sizeof r);
    r.method = FW_HTTP_POST;
    r.path = fw_str_from(path);
    r.content_type = FW_STR_LIT("application/grpc");
    r.te = FW_STR_LIT("trailers");
    r.http_major = 2;
    r.grpc_timeout = FW_STR_LIT("10S");
    if (framed) {
        r.body = framed->data;
        r.body_len = framed->len;
    }
    return r;
}

static void call(const fw_http_handler *h, const fw_http_request *req, fw_http_response *resp)
{
    fw_http_response_init(resp, h->max_resp_body);
    h->handle(h->ctx, req, resp);
}

static void frame(const void *p, size_t n, bool compressed, fw_buf *out)
{
    fw_buf_init(out, 16u << 20);
    assert_int_equal(fw_grpc_frame_write(out, p, n, compressed), 0);
}

static const char *header(const fw_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    }
    return NULL;
}

static int span_visit(void *ctx, const fw_span *span)
{
    (void)span;
    (*(size_t *)ctx)++;
    return 0;
}

static int log_visit(void *ctx, const fw_log_record *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t spans_stored(fixture *f, uint8_t seed)
{
    uint8_t tid[16];
    size_t n = 0;
    trace_id_of(seed, tid);
    fw_store_get_trace(f->store, tid, span_visit, &n);
    return n;
}

static size_t logs_stored(fixture *f, uint8_t seed)
{
    fw_log_query q;
    size_t n = 0;
    memset(&q, 0, sizeof q);
    q.has_trace_id = true;
    trace_id_of(seed, q.trace_id);
    fw_store_find_logs(f->store, &q, log_visit, &n);
    return n;
}

/* Decodes a protobuf Export*ServiceResponse; returns rejected count. */
static int64_t trace_resp_rejected(const uint8_t *p, size_t n, char *msg, size_t msgsz)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, n,
                                                                                          p);
    assert_non_null(r);
    int64_t rejected = 0;
    if (msg) msg[0] = '\0';
    if (r->partial_success) {
        rejected = r->partial_success->rejected_spans;
        if (msg) snprintf(msg, msgsz, "%s", r->partial_success->error_message);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r,
                                                                                             NULL);
    return rejected;
}

/* Decodes a protobuf google.rpc.Status; returns its code, copies message,
 * and says whether a RetryInfo detail is present. */
static int32_t status_pb(const uint8_t *p, size_t n, char *msg, size_t msgsz, bool *retry_info)
{
    Google__Rpc__Status *s = google__rpc__status__unpack(NULL, n, p);
    assert_non_null(s);
    int32_t code = s->code;
    snprintf(msg, msgsz, "%s", s->message);
    *retry_info = false;
    for (size_t i = 0; i < s->n_details; i++) {
        if (strstr(s->details[i]->type_url, "google.rpc.RetryInfo")) {
            Google__Rpc__RetryInfo *ri = google__rpc__retry_info__unpack(
                NULL, s->details[i]->value.len, s->details[i]->value.data);
            assert_non_null(ri);
            assert_non_null(ri->retry_delay);
            assert_int_equal(ri->retry_delay->seconds, 7);
            google__rpc__retry_info__free_unpacked(ri, NULL);
            *retry_info = true;
        }
    }
    google__rpc__status__free_unpacked(s, NULL);
    return code;
}

static json_t *json_body(const fw_http_response *r)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

static int64_t json_int(json_t *v)
{
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_string(v)) {
        /* OTLP/JSON may write 64-bit integers as decimal strings. */
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        assert_true(errno == 0 && end != s && *end == '\0');
        return n;
    }
    fail_msg("not a JSON integer");
    return -1;
}

/* ---- OTLP/HTTP ---- */

static void test_http_traces_protobuf(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(1, 3, 99, &len);
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/x-protobuf");
    assert_false(resp.grpc);
    assert_int_equal(trace_resp_rejected(resp.body.data, resp.body.len, NULL, 0), 0);
    assert_int_equal(spans_stored(f, 1), 3);
    assert_int_equal(fw_stats_get(&f->stats.requests[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]), 1);
    assert_int_equal(fw_stats_get(&f->stats.received_bytes[FW_PROTO_HTTP_PROTOBUF]), len);
    assert_int_equal(fw_stats_get(&f->stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]), 3);
    fw_http_response_free(&resp);
    free(body);
}

static void test_http_traces_partial_success(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(2, 4, 1, &len); /* span 1 has a zero trace id */
    fw_http_request req = http_req("/v1/traces", "application/protobuf", body, len);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    char msg[256];
    assert_int_equal(trace_resp_rejected(resp.body.data, resp.body.len, msg, sizeof msg), 1);
    assert_true(msg[0] != '\0');
    assert_int_equal(spans_stored(f, 2), 3);
    /* Record rejections are the pipeline's to count, once. */
    assert_int_equal(
        fw_stats_get(
            &f->stats.rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF][FW_REJECT_INVALID_ID]),
        1);
    fw_http_response_free(&resp);
    free(body);
}

static void test_http_traces_json(void **state)
{
    fixture *f = *state;
    char *body = traces_json(3, false);
    fw_http_request req =
        http_req("/v1/traces", "Application/JSON; charset=utf-8", body, strlen(body));
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/json");
    json_t *j = json_body(&resp);
    json_t *ps = json_object_get(j, "partialSuccess");
    if (ps) assert_int_equal(json_int(json_object_get(ps, "rejectedSpans")), 0);
    json_decref(j);
    assert_int_equal(spans_stored(f, 3), 1);
    assert_int_equal(fw_stats_get(&f->stats.requests[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON]), 1);
    fw_http_response_free(&resp);
    free(body);

    body = traces_json(4, true);
    req = http_req("/v1/traces", "application/json", body, strlen(body));
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    j = json_body(&resp);
    ps = json_object_get(j, "partialSuccess");
    assert_non_null(ps);
    assert_int_equal(json_int(json_object_get(ps, "rejectedSpans")), 1);
    assert_true(json_is_string(json_object_get(ps, "errorMessage")));
    json_decref(j);
    assert_int_equal(spans_stored(f, 4), 1);
    fw_http_response_free(&resp);
    free(body);
}

static void test_http_logs(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = logs_pb(5, 2, &len);
    fw_http_request req = http_req("/v1/logs", "application/x-protobuf", body, len);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/x-protobuf");
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(
            NULL, resp.body.len, resp.body.data);
    assert_non_null(r);
    assert_true(!r->partial_success || r->partial_success->rejected_log_records == 0);
    opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(r, NULL);
    assert_int_equal(logs_stored(f, 5), 2);
    assert_int_equal(fw_stats_get(&f->stats.requests[FW_SIGNAL_LOGS][FW_PROTO_HTTP_PROTOBUF]), 1);
    fw_http_response_free(&resp);
    free(body);

    char *jbody = logs_json(6);
    req = http_req("/v1/logs", "application/json", jbody, strlen(jbody));
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/json");
    json_decref(json_body(&resp));
    assert_int_equal(logs_stored(f, 6), 1);
    fw_http_response_free(&resp);
    free(jbody);
}

static void test_http_gzip(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(7, 2, 99, &len);
    fw_buf z;
    gzip_of(body, len, &z);
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", z.data, z.len);
    req.content_encoding = FW_STR_LIT("GZIP");
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(spans_stored(f, 7), 2);
    /* Wire bytes, before decompression. */
    assert_int_equal(fw_stats_get(&f->stats.received_bytes[FW_PROTO_HTTP_PROTOBUF]), z.len);
    fw_http_response_free(&resp);

    /* Corrupt gzip: 400 with a Status saying so. */
    z.data[z.len / 2] ^= 0xff;
    z.data[z.len - 3] ^= 0xff;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 400);
    char msg[256];
    bool retry;
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 3);
    assert_non_null(strstr(msg, "gzip"));
    fw_http_response_free(&resp);
    fw_buf_free(&z);

    /* A small gzip that inflates past the limit: 413, RESOURCE_EXHAUSTED. */
    uint8_t *zeros = calloc(1, 4u << 20);
    assert_non_null(zeros);
    gzip_of(zeros, 4u << 20, &z);
    free(zeros);
    assert_true(z.len < 64u * 1024u);
    req = http_req("/v1/traces", "application/json", z.data, z.len);
    req.content_encoding = FW_STR_LIT("gzip");
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 413);
    assert_string_equal(resp.content_type, "application/json");
    json_t *j = json_body(&resp);
    assert_int_equal(json_int(json_object_get(j, "code")), 8);
    json_decref(j);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON][FW_REJECT_TOO_LARGE]),
        1);
    fw_http_response_free(&resp);
    fw_buf_free(&z);

    /* Unknown content-encoding: 415. */
    req = http_req("/v1/traces", "application/x-protobuf", body, len);
    req.content_encoding = FW_STR_LIT("br");
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 415);
    assert_int_equal(
        fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]
                                                [FW_REJECT_UNSUPPORTED]),
        1);
    fw_http_response_free(&resp);
    free(body);
}

static void test_http_malformed(void **state)
{
    fixture *f = *state;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", junk, sizeof junk);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.content_type, "application/x-protobuf");
    char msg[256];
    bool retry;
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 3);
    assert_true(msg[0] != '\0');
    assert_false(retry);
    assert_int_equal(
        fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]
                                                [FW_REJECT_MALFORMED]),
        1);
    fw_http_response_free(&resp);

    static const char bad_json[] = "{\"resourceLogs\": [";
    req = http_req("/v1/logs", "application/json", bad_json, sizeof bad_json - 1);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.content_type, "application/json");
    json_t *j = json_body(&resp);
    assert_int_equal(json_int(json_object_get(j, "code")), 3);
    assert_true(json_is_string(json_object_get(j, "message")));
    assert_true(strlen(json_string_value(json_object_get(j, "message"))) > 0);
    json_decref(j);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON][FW_REJECT_MALFORMED]),
        1);
    fw_http_response_free(&resp);
}

static void test_http_media_type(void **state)
{
    fixture *f = *state;
    static const char body[] = "{}";
    fw_http_request req = http_req("/v1/traces", "text/plain", body, 2);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 415);
    assert_string_equal(resp.content_type, "application/json");
    json_t *j = json_body(&resp);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "text/plain"));
    json_decref(j);
    fw_http_response_free(&resp);

    req = http_req("/v1/traces", NULL, body, 2);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 415);
    fw_http_response_free(&resp);

    /* "application/jsonx" is not application/json. */
    req = http_req("/v1/traces", "application/jsonx", body, 2);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 415);
    fw_http_response_free(&resp);

    /* An empty OTLP/JSON object is a valid, empty export. */
    req = http_req("/v1/traces", " application/json ;charset=UTF-8", body, 2);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
}

static void test_http_too_large(void **state)
{
    fixture *f = *state;
    fw_http_request req = http_req("/v1/logs", "application/x-protobuf", NULL, 0);
    req.body_too_large = true;
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 413);
    char msg[256];
    bool retry;
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 8);
    assert_non_null(strstr(msg, "1048576"));
    fw_http_response_free(&resp);
    assert_int_equal(f->http.max_body, MAX_MSG);
}

static void test_http_not_found_and_method(void **state)
{
    fixture *f = *state;
    fw_http_request req = http_req("/v1/metrics", "application/json", "{}", 2);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 404);
    json_t *j = json_body(&resp);
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "metrics are not supported by flywheel");
    json_decref(j);
    fw_http_response_free(&resp);

    req = http_req("/v1/trace", "application/x-protobuf", NULL, 0);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 404);
    fw_http_response_free(&resp);

    req = http_req("/v1/traces", NULL, NULL, 0);
    req.method = FW_HTTP_GET;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 405);
    assert_non_null(header(&resp, "allow"));
    assert_string_equal(header(&resp, "allow"), "POST");
    fw_http_response_free(&resp);
}

static size_t put_varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v > 0x7f) {
        p[n++] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Wire bytes that protobuf-c expands >100x: an ExportTraceServiceRequest
 * whose one ScopeSpans holds |n_spans| empty spans (2 bytes each). */
static uint8_t *expanding_traces(size_t n_spans, size_t *len)
{
    size_t spans_len = 2 * n_spans;
    uint8_t scope_hdr[11], rs_hdr[11];
    scope_hdr[0] = 0x12; /* ResourceSpans.scope_spans */
    size_t sh = 1 + put_varint(scope_hdr + 1, spans_len);
    rs_hdr[0] = 0x0a; /* ExportTraceServiceRequest.resource_spans */
    size_t rh = 1 + put_varint(rs_hdr + 1, sh + spans_len);
    uint8_t *p = malloc(rh + sh + spans_len);
    assert_non_null(p);
    memcpy(p, rs_hdr, rh);
    memcpy(p + rh, scope_hdr, sh);
    for (size_t i = 0; i < n_spans; i++) {
        p[rh + sh + 2 * i] = 0x12; /* ScopeSpans.spans, length 0 */
        p[rh + sh + 2 * i + 1] = 0x00;
    }
    *len = rh + sh + spans_len;
    return p;
}

static void test_http_arena_exhausted(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = expanding_traces(100000, &len);
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 413);
    fw_http_response_free(&resp);
    free(body);
}

/* ---- gRPC ---- */

static void test_grpc_traces_ok(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(10, 2, 0, &len); /* first span has a bad id */
    fw_buf framed;
    frame(body, len, false, &framed);
    fw_http_request req = grpc_req(TRACE_PATH, &framed);
    fw_http_response resp;
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_true(resp.grpc);
    assert_string_equal(resp.content_type, "application/grpc");
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_grpc_message m;
    size_t consumed;
    assert_int_equal(fw_grpc_frame_parse(resp.body.data, resp.body.len, 1024, &m, &consumed, NULL),
                     0);
    assert_int_equal(consumed, resp.body.len);
    assert_false(m.compressed);
    assert_int_equal(trace_resp_rejected(m.payload, m.len, NULL, 0), 1);
    assert_int_equal(spans_stored(f, 10), 1);
    assert_int_equal(fw_stats_get(&f->stats.requests[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), 1);
    assert_int_equal(fw_stats_get(&f->stats.received_bytes[FW_PROTO_GRPC]), framed.len);
    assert_int_equal(f->grpc.max_body, MAX_MSG + 5);
    fw_http_response_free(&resp);
    fw_buf_free(&framed);
    free(body);
}

static void test_grpc_logs_gzip(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = logs_pb(11, 3, &len);
    fw_buf z, framed;
    gzip_of(body, len, &z);
    frame(z.data, z.len, true, &framed);
    fw_http_request req = grpc_req(LOGS_PATH, &framed);
    req.grpc_encoding = FW_STR_LIT("gzip");
    req.grpc_timeout = FW_STR_LIT("bogus"); /* tolerated */
    fw_http_response resp;
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_grpc_message m;
    size_t consumed;
    assert_int_equal(fw_grpc_frame_parse(resp.body.data, resp.body.len, 1024, &m, &consumed, NULL),
                     0);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(NULL, m.len,
                                                                                        m.payload);
    assert_non_null(r);
    opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(r, NULL);
    assert_int_equal(logs_stored(f, 11), 3);
    fw_http_response_free(&resp);

    /* The same compressed message under another or no grpc-encoding. */
    req.grpc_encoding = FW_STR_LIT("snappy");
    call(&f->grpc, &req, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(resp.grpc_message, "grpc-encoding snappy not supported"));
    assert_int_equal(resp.body.len, 0);
    fw_http_response_free(&resp);
    req.grpc_encoding = FW_STR_NULL;
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNIMPLEMENTED);
    fw_http_response_free(&resp);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_LOGS][FW_PROTO_GRPC][FW_REJECT_UNSUPPORTED]),
        2);
    fw_buf_free(&framed);
    fw_buf_free(&z);

    /* A gzip bomb past grpc_max_msg: RESOURCE_EXHAUSTED. */
    uint8_t *zeros = calloc(1, 2u << 20);
    assert_non_null(zeros);
    gzip_of(zeros, 2u << 20, &z);
    free(zeros);
    frame(z.data, z.len, true, &framed);
    req = grpc_req(LOGS_PATH, &framed);
    req.grpc_encoding = FW_STR_LIT("gzip");
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(resp.grpc_message, "1048576"));
    fw_http_response_free(&resp);
    fw_buf_free(&framed);
    fw_buf_free(&z);
    free(body);
}

static void test_grpc_unimplemented(void **state)
{
    fixture *f = *state;
    fw_buf framed;
    frame(NULL, 0, false, &framed);
    fw_http_request req = grpc_req(METRICS_PATH, &framed);
    fw_http_response resp;
    call(&f->grpc, &req, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(resp.grpc_message, "metrics"));
    fw_http_response_free(&resp);

    req = grpc_req("/grpc.health.v1.Health/Check", &framed);
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNIMPLEMENTED);
    fw_http_response_free(&resp);

    /* HTTP-level problems get HTTP statuses. */
    req = grpc_req(TRACE_PATH, &framed);
    req.method = FW_HTTP_GET;
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.status, 405);
    assert_false(resp.grpc);
    fw_http_response_free(&resp);
    req = grpc_req(TRACE_PATH, &framed);
    req.content_type = FW_STR_LIT("application/json");
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.status, 415);
    fw_http_response_free(&resp);
    /* application/grpc+proto is still gRPC; an empty export is fine. */
    req.content_type = FW_STR_LIT("application/grpc+proto");
    call(&f->grpc, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_http_response_free(&resp);
    fw_buf_free(&framed);
}

static void expect_grpc(fixture *f, const uint8_t *body, size_t len, bool too_large, int status,
                        const char *needle)
{
    fw_http_request req = grpc_req(TRACE_PATH, NULL);
    req.body = body;
    req.body_len = len;
    req.body_too_large = too_large;
    fw_http_response resp;
    call(&f->grpc, &req, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/grpc");
    assert_int_equal(resp.grpc_status, status);
    assert_true(resp.grpc_message[0] != '\0');
    if (needle && !strstr(resp.grpc_message, needle))
        fail_msg("grpc-message \"%s\" lacks \"%s\"", resp.grpc_message, needle);
    assert_int_equal(resp.body.len, 0);
    fw_http_response_free(&resp);
}

static void test_grpc_invalid_argument(void **state)
{
    fixture *f = *state;
    /* Empty body. */
    expect_grpc(f, NULL, 0, false, FW_GRPC_INVALID_ARGUMENT, "empty");
    /* Declared length longer than the body. */
    static const uint8_t lying[] = {0, 0, 0, 0, 50, 0x0a, 0x00};
    expect_grpc(f, lying, sizeof lying, false, FW_GRPC_INVALID_ARGUMENT,
                "declares 50 bytes but 2 follow");
    /* Not even a whole prefix. */
    static const uint8_t short_prefix[] = {0, 0, 0};
    expect_grpc(f, short_prefix, sizeof short_prefix, false, FW_GRPC_INVALID_ARGUMENT, "prefix");
    /* Trailing bytes after the message. */
    static const uint8_t trailing[] = {0, 0, 0, 0, 0, 0xde, 0xad};
    expect_grpc(f, trailing, sizeof trailing, false, FW_GRPC_INVALID_ARGUMENT, "after");
    /* Bad flag byte. */
    static const uint8_t flag[] = {5, 0, 0, 0, 0};
    expect_grpc(f, flag, sizeof flag, false, FW_GRPC_INVALID_ARGUMENT, "flag");
    /* A message that does not decode. */
    static const uint8_t junk[] = {0, 0, 0, 0, 4, 0x0a, 0xff, 0xff, 0x01};
    expect_grpc(f, junk, sizeof junk, false, FW_GRPC_INVALID_ARGUMENT, NULL);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_MALFORMED]),
        6);
}

static void test_grpc_resource_exhausted(void **state)
{
    fixture *f = *state;
    expect_grpc(f, NULL, 0, true, FW_GRPC_RESOURCE_EXHAUSTED, "1048576");
    /* Declared length over the limit, checked without the payload. */
    static const uint8_t big[] = {0, 0, 0x10, 0x00, 0x01, 0x0a};
    expect_grpc(f, big, sizeof big, false, FW_GRPC_RESOURCE_EXHAUSTED, "1048576");
    /* Decode memory exhausted. */
    size_t len;
    uint8_t *body = expanding_traces(100000, &len);
    fw_buf framed;
    frame(body, len, false, &framed);
    expect_grpc(f, framed.data, framed.len, false, FW_GRPC_RESOURCE_EXHAUSTED, NULL);
    fw_buf_free(&framed);
    free(body);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_TOO_LARGE]),
        3);
}

/* ---- overload (store with no room) ---- */

static void test_overload(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(20, 2, 99, &len);
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    fw_http_response resp;
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 503);
    assert_non_null(header(&resp, "retry-after"));
    assert_string_equal(header(&resp, "retry-after"), "7");
    char msg[256];
    bool retry;
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    fw_http_response_free(&resp);

    fw_buf framed;
    frame(body, len, false, &framed);
    req = grpc_req(TRACE_PATH, &framed);
    call(&f->grpc, &req, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNAVAILABLE);
    assert_true(resp.grpc_details.len > 0);
    assert_int_equal(
        status_pb(resp.grpc_details.data, resp.grpc_details.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    fw_http_response_free(&resp);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_OVERLOAD]),
        1);
    assert_int_equal(
        fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF]
                                                [FW_REJECT_OVERLOAD]),
        1);
    fw_buf_free(&framed);
    free(body);
}

/* A write-ahead log record replayed at start goes through decode and the
 * pipeline (its spans are queryable again) but is not counted as accepted
 * again: the process that acknowledged it did. */
static void test_replay_not_counted(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *body = traces_pb(77, 4, 99, &len);
    uint64_t before = fw_stats_get(&f->stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]);
    uint64_t requests = fw_stats_get(&f->stats.requests[FW_SIGNAL_TRACES][FW_PROTO_GRPC]);
    fw_wal_record rec = {.type = FW_WAL_TRACES, .protocol = FW_PROTO_GRPC,
                         .arrival_ns = 0, .payload = body, .len = len};
    assert_int_equal(fw_ingest_replay(f->ingest, &rec), 0);
    assert_int_equal(spans_stored(f, 77), 4);
    assert_int_equal(fw_stats_get(&f->stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), before);
    assert_int_equal(fw_stats_get(&f->stats.requests[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), requests);

    /* The same payload exported live is counted. */
    fw_buf framed;
    frame(body, len, false, &framed);
    fw_http_request g = grpc_req(TRACE_PATH, &framed);
    fw_http_response resp;
    call(&f->grpc, &g, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_http_response_free(&resp);
    assert_int_equal(fw_stats_get(&f->stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC]), before + 4);
    fw_buf_free(&framed);
    free(body);
}

/* ---- in-flight decode memory budget ---- */

static void test_inflight_limit(void **state)
{
    fixture *f = *state;
    fw_membudget budget;
    fw_membudget_init(&budget, 256u * 1024u);
    fw_ingest_config ic = {.http_max_body = MAX_MSG, .grpc_max_msg = MAX_MSG, .retry_after_s = 7,
                           .budget = &budget};
    fw_membudget_hold other = {0, false}; /* as if another request held memory */
    fw_ingest *in = NULL;
    assert_int_equal(fw_ingest_new(&ic, f->pipeline, &f->stats, &in), 0);
    fw_http_handler http = fw_ingest_http_handler(in), grpc = fw_ingest_grpc_handler(in);
    size_t len;
    uint8_t *body = traces_pb(50, 2, 99, &len);
    fw_buf framed;
    frame(body, len, false, &framed);
    fw_http_response resp;
    char msg[256];
    bool retry;

    /* Alone, a request is admitted even though its arena cap (64 KiB
     * slack + factor x size) is near the limit; nothing stays reserved. */
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
    assert_int_equal(fw_membudget_used(&budget), 0);
    assert_int_equal(spans_stored(f, 50), 2);

    /* Another request holds most of the budget: 503 / UNAVAILABLE. */
    /* (a request decoding: only one request may pass the limit at once) */
    assert_true(fw_membudget_reserve_decode(&budget, 200u * 1024u, &other));
    assert_int_equal(fw_membudget_used(&budget), 200u * 1024u);
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 503);
    assert_string_equal(header(&resp, "retry-after"), "7");
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    assert_non_null(strstr(msg, "retry"));
    fw_http_response_free(&resp);

    fw_http_request g = grpc_req(TRACE_PATH, &framed);
    call(&grpc, &g, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNAVAILABLE);
    assert_true(resp.grpc_details.len > 0);
    assert_int_equal(
        status_pb(resp.grpc_details.data, resp.grpc_details.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    fw_http_response_free(&resp);
    /* Refusals released what they had reserved. */
    assert_int_equal(fw_membudget_used(&budget), 200u * 1024u);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_OVERLOAD]),
        1);
    assert_int_equal(fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES]
                                                             [FW_PROTO_HTTP_PROTOBUF]
                                                             [FW_REJECT_OVERLOAD]),
                     1);
    assert_int_equal(spans_stored(f, 50), 2);

    /* Released: the same exports succeed. */
    fw_membudget_release(&budget, &other);
    assert_int_equal(fw_membudget_used(&budget), 0);
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
    call(&grpc, &g, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_http_response_free(&resp);
    assert_int_equal(fw_membudget_used(&budget), 0);

    /* No budget (the fixture's ingest): nothing is refused. */
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
    g = grpc_req(TRACE_PATH, &framed);
    call(&f->grpc, &g, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_http_response_free(&resp);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC][FW_REJECT_OVERLOAD]),
        1);

    fw_buf_free(&framed);
    free(body);
    fw_ingest_free(in);
}

/* The cores hand over their reservation (budget_held) and over_budget. */
static void test_core_budget(void **state)
{
    fixture *f = *state;
    fw_membudget budget;
    fw_membudget_init(&budget, 256u * 1024u);
    fw_ingest_config ic = {.http_max_body = MAX_MSG, .grpc_max_msg = MAX_MSG, .retry_after_s = 7,
                           .budget = &budget};
    fw_ingest *in = NULL;
    assert_int_equal(fw_ingest_new(&ic, f->pipeline, &f->stats, &in), 0);
    fw_http_handler http = fw_ingest_http_handler(in), grpc = fw_ingest_grpc_handler(in);
    assert_ptr_equal(http.budget, &budget);
    assert_ptr_equal(grpc.budget, &budget);
    size_t len;
    uint8_t *body = traces_pb(60, 2, 7, &len);
    fw_http_response resp;
    char msg[256];
    bool retry;

    /* The core already holds 250 KiB for this request's body: the arena
     * still fits because nobody else holds memory, and the handler adds to
     * the core's reservation (the core releases it, not the handler). */
    fw_membudget_hold core_held = {0, false};
    assert_true(fw_membudget_reserve(&budget, 250u * 1024u, &core_held));
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    req.budget_held = &core_held;
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
    assert_true(core_held.bytes > 250u * 1024u);
    assert_true(core_held.decoding);
    assert_int_equal(fw_membudget_used(&budget), core_held.bytes);
    fw_membudget_release(&budget, &core_held);
    assert_int_equal(fw_membudget_used(&budget), 0);
    assert_int_equal(spans_stored(f, 60), 2);

    /* The core could not buffer the body: 503 / UNAVAILABLE, retryable,
     * counted as overload, nothing stored. */
    uint64_t before = fw_stats_get(
        &f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF][FW_REJECT_OVERLOAD]);
    fw_http_request over = http_req("/v1/traces", "application/x-protobuf", NULL, 0);
    over.over_budget = true;
    call(&http, &over, &resp);
    assert_int_equal(resp.status, 503);
    assert_string_equal(header(&resp, "retry-after"), "7");
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    fw_http_response_free(&resp);
    assert_int_equal(fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES]
                                                             [FW_PROTO_HTTP_PROTOBUF]
                                                             [FW_REJECT_OVERLOAD]),
                     before + 1);
    fw_http_request g = grpc_req(TRACE_PATH, NULL);
    g.over_budget = true;
    call(&grpc, &g, &resp);
    assert_true(resp.grpc);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNAVAILABLE);
    assert_int_equal(
        status_pb(resp.grpc_details.data, resp.grpc_details.len, msg, sizeof msg, &retry), 14);
    assert_true(retry);
    fw_http_response_free(&resp);
    assert_int_equal(fw_membudget_used(&budget), 0);
    assert_int_equal(spans_stored(f, 60), 2);

    free(body);
    fw_ingest_free(in);
}

static void test_new_rejects_bad_config(void **state)
{
    fixture *f = *state;
    fw_ingest *in = (fw_ingest *)1;
    fw_ingest_config bad = {.http_max_body = 0, .grpc_max_msg = 10, .retry_after_s = 1};
    assert_int_equal(fw_ingest_new(&bad, f->pipeline, &f->stats, &in), FW_ERR_CONFIG);
    assert_null(in);
    fw_ingest_free(NULL);
}

/* ---- bearer-token authentication ---- */

static void test_auth(void **state)
{
    fixture *f = *state;
    char token[] = "ingest-tok";
    fw_ingest_config ic = {.http_max_body = MAX_MSG, .grpc_max_msg = MAX_MSG, .retry_after_s = 7,
                           .auth_token = token};
    fw_ingest *in = NULL;
    assert_int_equal(fw_ingest_new(&ic, f->pipeline, &f->stats, &in), 0);
    token[0] = 'X'; /* the ingest keeps its own copy */
    fw_http_handler http = fw_ingest_http_handler(in), grpc = fw_ingest_grpc_handler(in);
    size_t len;
    uint8_t *body = traces_pb(40, 2, 99, &len);
    fw_http_response resp;
    char msg[256];
    bool retry;

    /* OTLP/HTTP protobuf, no token: 401, google.rpc.Status code 16, nothing stored. */
    fw_http_request req = http_req("/v1/traces", "application/x-protobuf", body, len);
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 401);
    assert_string_equal(header(&resp, "www-authenticate"), "Bearer");
    assert_string_equal(resp.content_type, "application/x-protobuf");
    assert_int_equal(status_pb(resp.body.data, resp.body.len, msg, sizeof msg, &retry), 16);
    assert_non_null(strstr(msg, "bearer token"));
    assert_false(retry);
    fw_http_response_free(&resp);
    assert_int_equal(spans_stored(f, 40), 0);
    assert_int_equal(fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES]
                                                             [FW_PROTO_HTTP_PROTOBUF]
                                                             [FW_REJECT_UNAUTHENTICATED]),
                     1);

    /* OTLP/HTTP JSON, wrong token: JSON Status, before decoding (junk body). */
    static const char junk[] = "{not json";
    req = http_req("/v1/logs", "application/json", junk, sizeof junk - 1);
    req.authorization = FW_STR_LIT("Bearer ingest-tox");
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 401);
    assert_string_equal(resp.content_type, "application/json");
    json_t *j = json_body(&resp);
    assert_int_equal(json_int(json_object_get(j, "code")), 16);
    json_decref(j);
    fw_http_response_free(&resp);
    assert_int_equal(fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON]
                                                             [FW_REJECT_UNAUTHENTICATED]),
                     1);
    assert_int_equal(
        fw_stats_get(
            &f->stats.requests_rejected[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON][FW_REJECT_MALFORMED]),
        0);

    /* Right token (scheme in any case): accepted and stored. */
    req = http_req("/v1/traces", "application/x-protobuf", body, len);
    req.authorization = FW_STR_LIT("bearer ingest-tok");
    call(&http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
    assert_int_equal(spans_stored(f, 40), 2);

    /* gRPC: UNAUTHENTICATED trailers-only without / with a wrong token. */
    fw_buf framed;
    uint8_t *body2 = traces_pb(41, 1, 99, &len);
    frame(body2, len, false, &framed);
    fw_http_request g = grpc_req(TRACE_PATH, &framed);
    call(&grpc, &g, &resp);
    assert_int_equal(resp.status, 200);
    assert_true(resp.grpc);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNAUTHENTICATED);
    assert_non_null(strstr(resp.grpc_message, "bearer token"));
    assert_int_equal(resp.body.len, 0);
    fw_http_response_free(&resp);
    g.authorization = FW_STR_LIT("Bearer nope");
    call(&grpc, &g, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_UNAUTHENTICATED);
    fw_http_response_free(&resp);
    assert_int_equal(spans_stored(f, 41), 0);
    assert_int_equal(fw_stats_get(&f->stats.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_GRPC]
                                                             [FW_REJECT_UNAUTHENTICATED]),
                     2);
    g.authorization = FW_STR_LIT("Bearer ingest-tok");
    call(&grpc, &g, &resp);
    assert_int_equal(resp.grpc_status, FW_GRPC_OK);
    fw_http_response_free(&resp);
    assert_int_equal(spans_stored(f, 41), 1);

    /* The fixture's ingest has no token: open. */
    req = http_req("/v1/traces", "application/x-protobuf", body2, len);
    call(&f->http, &req, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);

    fw_buf_free(&framed);
    free(body2);
    free(body);
    fw_ingest_free(in);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_http_traces_protobuf),
        T(test_http_traces_partial_success),
        T(test_http_traces_json),
        T(test_http_logs),
        T(test_http_gzip),
        T(test_http_malformed),
        T(test_http_media_type),
        T(test_http_too_large),
        T(test_http_not_found_and_method),
        T(test_http_arena_exhausted),
        T(test_grpc_traces_ok),
        T(test_grpc_logs_gzip),
        T(test_grpc_unimplemented),
        T(test_grpc_invalid_argument),
        T(test_grpc_resource_exhausted),
        cmocka_unit_test_setup_teardown(test_overload, fixture_setup_tiny, fixture_teardown),
        T(test_replay_not_counted),
        T(test_inflight_limit),
        T(test_core_budget),
        T(test_new_rejects_bad_config),
        T(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
