/* test_otlp.c - unit tests of the OTLP module: protobuf and JSON decoding
 * into the model (every field, every AnyValue kind, partial rejection of bad
 * ids, malformed input, depth and memory limits) and the response and
 * google.rpc.Status encodings, decoded back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flywheel/arena.h"
#include "flywheel/limits.h"
#include "flywheel/otlp.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AV;
typedef Opentelemetry__Proto__Common__V1__KeyValue KV;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ARR;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KVL;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope SCOPE;
typedef Opentelemetry__Proto__Resource__V1__Resource RES;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans RS;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans SS;
typedef Opentelemetry__Proto__Trace__V1__Span SPAN;
typedef Opentelemetry__Proto__Trace__V1__Span__Event EVENT;
typedef Opentelemetry__Proto__Trace__V1__Span__Link LINK;
typedef Opentelemetry__Proto__Trace__V1__Status STATUS;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs RL;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs SL;
typedef Opentelemetry__Proto__Logs__V1__LogRecord LOG;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TREQ;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest LREQ;

#define ARENA_CAP (16u * 1024u * 1024u)

static const uint8_t TRACE_A[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SPAN_A[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t SPAN_B[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
static const uint8_t ZERO16[16] = {0};

/* ---- builders: protobuf-c structs in a builder arena ---- */

static void *b_new(fw_arena *a, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = fw_arena_alloc(a, d->sizeof_message);
    assert_non_null(m);
    protobuf_c_message_init(d, m);
    return m;
}

static void *b_ptrs(fw_arena *a, size_t n)
{
    void *p = fw_arena_calloc(a, n, sizeof(void *));
    assert_non_null(p);
    return p;
}

static AV *av_str(fw_arena *a, const char *s)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    return v;
}

static AV *av_int(fw_arena *a, int64_t i)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = i;
    return v;
}

static AV *av_bool(fw_arena *a, int b)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v->bool_value = b;
    return v;
}

static AV *av_double(fw_arena *a, double d)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = d;
    return v;
}

static AV *av_bytes(fw_arena *a, const void *p, size_t n)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    v->bytes_value.data = (uint8_t *)p;
    v->bytes_value.len = n;
    return v;
}

static AV *av_array(fw_arena *a, size_t n, AV **items)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    ARR *arr = b_new(a, &opentelemetry__proto__common__v1__array_value__descriptor);
    arr->n_values = n;
    arr->values = b_ptrs(a, n);
    memcpy(arr->values, items, n * sizeof(*items));
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    v->array_value = arr;
    return v;
}

static AV *av_kvlist(fw_arena *a, size_t n, KV **items)
{
    AV *v = b_new(a, &opentelemetry__proto__common__v1__any_value__descriptor);
    KVL *l = b_new(a, &opentelemetry__proto__common__v1__key_value_list__descriptor);
    l->n_values = n;
    l->values = b_ptrs(a, n);
    memcpy(l->values, items, n * sizeof(*items));
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    v->kvlist_value = l;
    return v;
}

static KV *kv(fw_arena *a, const char *key, AV *v)
{
    KV *k = b_new(a, &opentelemetry__proto__common__v1__key_value__descriptor);
    k->key = (char *)key;
    k->value = v;
    return k;
}

static KV **kvs(fw_arena *a, size_t n, ...)
{
    KV **out = b_ptrs(a, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        out[i] = va_arg(ap, KV *);
    va_end(ap);
    return out;
}

static SPAN *mk_span(fw_arena *a, const uint8_t *tid, size_t tlen, const uint8_t *sid, size_t slen,
                     const char *name)
{
    SPAN *s = b_new(a, &opentelemetry__proto__trace__v1__span__descriptor);
    s->trace_id.data = (uint8_t *)tid;
    s->trace_id.len = tlen;
    s->span_id.data = (uint8_t *)sid;
    s->span_id.len = slen;
    s->name = (char *)name;
    s->start_time_unix_nano = 1700000000000000000ull;
    s->end_time_unix_nano = 1700000000250000000ull;
    return s;
}

/* One ResourceSpans / one ScopeSpans holding |n| spans. */
static TREQ *mk_trace_req(fw_arena *a, RES *res, SCOPE *scope, size_t n, SPAN **spans)
{
    TREQ *req = b_new(a, &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor);
    RS *rs = b_new(a, &opentelemetry__proto__trace__v1__resource_spans__descriptor);
    SS *ss = b_new(a, &opentelemetry__proto__trace__v1__scope_spans__descriptor);
    ss->scope = scope;
    ss->n_spans = n;
    ss->spans = spans;
    ss->schema_url = (char *)"https://opentelemetry.io/schemas/1.26.0";
    rs->resource = res;
    rs->n_scope_spans = 1;
    rs->scope_spans = b_ptrs(a, 1);
    rs->scope_spans[0] = ss;
    req->n_resource_spans = 1;
    req->resource_spans = b_ptrs(a, 1);
    req->resource_spans[0] = rs;
    return req;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void assert_str(fw_str s, const char *want)
{
    if (!want) {
        assert_null(s.ptr);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* ---- fixtures: one full request in both encodings, same content ---- */

static uint8_t *full_trace_pb(fw_arena *b, size_t *len)
{
    RES *res = b_new(b, &opentelemetry__proto__resource__v1__resource__descriptor);
    res->n_attributes = 4;
    res->attributes = kvs(b, 4, kv(b, "service.name", av_str(b, "checkout")),
                          kv(b, "service.version", av_str(b, "1.4.2")),
                          kv(b, "service.namespace", av_str(b, "shop")),
                          kv(b, "deployment.environment.name", av_str(b, "prod")));
    res->dropped_attributes_count = 1;
    SCOPE *scope = b_new(b, &opentelemetry__proto__common__v1__instrumentation_scope__descriptor);
    scope->name = (char *)"io.opentelemetry.http";
    scope->version = (char *)"2.1.0";
    scope->n_attributes = 1;
    scope->attributes = kvs(b, 1, kv(b, "scope.attr", av_str(b, "x")));

    SPAN *s1 = mk_span(b, TRACE_A, 16, SPAN_A, 8, "GET /cart");
    s1->parent_span_id.data = (uint8_t *)SPAN_B;
    s1->parent_span_id.len = 8;
    s1->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    s1->flags = 0x301;
    s1->trace_state = (char *)"ot=th:8";
    AV *inner[2] = {av_str(b, "deep"), av_int(b, -7)};
    KV *nested[2] = {kv(b, "list", av_array(b, 2, inner)), kv(b, "flag", av_bool(b, 0))};
    AV *arr[2] = {av_str(b, "a"), av_int(b, 2)};
    s1->n_attributes = 7;
    s1->attributes = kvs(b, 7, kv(b, "http.request.method", av_str(b, "GET")),
                         kv(b, "http.response.status_code", av_int(b, 503)),
                         kv(b, "retry", av_bool(b, 1)), kv(b, "ratio", av_double(b, 0.25)),
                         kv(b, "blob", av_bytes(b, "\x00\x01\xff", 3)),
                         kv(b, "tags", av_array(b, 2, arr)), kv(b, "ctx", av_kvlist(b, 2, nested)));
    s1->dropped_attributes_count = 2;
    EVENT *ev = b_new(b, &opentelemetry__proto__trace__v1__span__event__descriptor);
    ev->time_unix_nano = 1700000000100000000ull;
    ev->name = (char *)"exception";
    ev->n_attributes = 2;
    ev->attributes = kvs(b, 2, kv(b, "exception.type", av_str(b, "ThrottlingException")),
                         kv(b, "exception.message", av_str(b, "Rate exceeded")));
    ev->dropped_attributes_count = 3;
    s1->n_events = 1;
    s1->events = b_ptrs(b, 1);
    s1->events[0] = ev;
    s1->dropped_events_count = 4;
    LINK *ln = b_new(b, &opentelemetry__proto__trace__v1__span__link__descriptor);
    ln->trace_id.data = (uint8_t *)TRACE_A;
    ln->trace_id.len = 16;
    ln->span_id.data = (uint8_t *)SPAN_B;
    ln->span_id.len = 8;
    ln->trace_state = (char *)"k=v";
    ln->flags = 1;
    ln->n_attributes = 1;
    ln->attributes = kvs(b, 1, kv(b, "link.kind", av_str(b, "follows")));
    LINK *bad = b_new(b, &opentelemetry__proto__trace__v1__span__link__descriptor);
    bad->trace_id.data = (uint8_t *)TRACE_A;
    bad->trace_id.len = 3;
    s1->n_links = 2;
    s1->links = b_ptrs(b, 2);
    s1->links[0] = ln;
    s1->links[1] = bad;
    s1->dropped_links_count = 5;
    STATUS *st = b_new(b, &opentelemetry__proto__trace__v1__status__descriptor);
    st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    st->message = (char *)"upstream failed";
    s1->status = st;

    SPAN *s2 = mk_span(b, TRACE_A, 16, SPAN_B, 8, "root");
    s2->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;

    SPAN **spans = b_ptrs(b, 2);
    spans[0] = s1;
    spans[1] = s2;
    TREQ *req = mk_trace_req(b, res, scope, 2, spans);
    return pack(&req->base, len);
}

static const char FULL_TRACE_JSON[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"service.version\",\"value\":{\"stringValue\":\"1.4.2\"}},"
    "{\"key\":\"service.namespace\",\"value\":{\"stringValue\":\"shop\"}},"
    "{\"key\":\"deployment.environment.name\",\"value\":{\"stringValue\":\"prod\"}}],"
    "\"droppedAttributesCount\":1},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"io.opentelemetry.http\",\"version\":\"2.1.0\","
    "\"attributes\":[{\"key\":\"scope.attr\",\"value\":{\"stringValue\":\"x\"}}]},"
    "\"schemaUrl\":\"https://opentelemetry.io/schemas/1.26.0\","
    "\"spans\":[{\"traceId\":\"4BF92F3577B34DA6A3CE929D0E0E4736\",\"spanId\":\"00f067aa0ba902b7\","
    "\"parentSpanId\":\"1122334455667788\",\"kind\":2,\"flags\":769,\"traceState\":\"ot=th:8\","
    "\"name\":\"GET /cart\",\"startTimeUnixNano\":\"1700000000000000000\","
    "\"endTimeUnixNano\":1700000000250000000,"
    "\"attributes\":[{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"
    "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"503\"}},"
    "{\"key\":\"retry\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.25}},"
    "{\"key\":\"blob\",\"value\":{\"bytesValue\":\"AAH/\"}},"
    "{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},{\"intValue\":2}]}}},"
    "{\"key\":\"ctx\",\"value\":{\"kvlistValue\":{\"values\":["
    "{\"key\":\"list\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"deep\"},{\"intValue\":\"-7\"}]}}},"
    "{\"key\":\"flag\",\"value\":{\"boolValue\":false}}]}}}],"
    "\"droppedAttributesCount\":2,"
    "\"events\":[{\"timeUnixNano\":\"1700000000100000000\",\"name\":\"exception\",\"attributes\":["
    "{\"key\":\"exception.type\",\"value\":{\"stringValue\":\"ThrottlingException\"}},"
    "{\"key\":\"exception.message\",\"value\":{\"stringValue\":\"Rate exceeded\"}}],"
    "\"droppedAttributesCount\":3}],\"droppedEventsCount\":4,"
    "\"links\":[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"1122334455667788\","
    "\"traceState\":\"k=v\",\"flags\":1,"
    "\"attributes\":[{\"key\":\"link.kind\",\"value\":{\"stringValue\":\"follows\"}}]},"
    "{\"traceId\":\"4bf92f\"}],"
    "\"droppedLinksCount\":5,"
    "\"status\":{\"code\":2,\"message\":\"upstream failed\"},\"unknownField\":{\"x\":[1,2]}},"
    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"1122334455667788\","
    "\"name\":\"root\",\"kind\":\"SPAN_KIND_CLIENT\",\"parentSpanId\":\"\","
    "\"startTimeUnixNano\":1700000000000000000,\"endTimeUnixNano\":\"1700000000250000000\"}]}]}]}";

/* Same assertions for both encodings: one converter validates both. */
static void check_full_trace(const fw_span_batch *b)
{
    assert_int_equal(b->n, 2);
    assert_int_equal(b->rejected, 0);
    assert_null(b->reject_reason);
    const fw_span *s = &b->spans[0];
    assert_memory_equal(s->trace_id, TRACE_A, 16);
    assert_memory_equal(s->span_id, SPAN_A, 8);
    assert_true(s->has_parent);
    assert_memory_equal(s->parent_span_id, SPAN_B, 8);
    assert_int_equal(s->flags, 0x301);
    assert_str(s->trace_state, "ot=th:8");
    assert_str(s->name, "GET /cart");
    assert_int_equal(s->kind, FW_SPAN_KIND_SERVER);
    assert_int_equal(s->start_ns, 1700000000000000000ull);
    assert_int_equal(s->end_ns, 1700000000250000000ull);
    assert_int_equal(s->dropped_attributes_count, 2);
    assert_int_equal(s->status_code, FW_STATUS_ERROR);
    assert_str(s->status_message, "upstream failed");

    assert_int_equal(s->attrs.n, 7);
    const fw_value *v = fw_attrs_get(&s->attrs, "http.request.method");
    assert_non_null(v);
    assert_int_equal(v->type, FW_VALUE_STRING);
    assert_str(v->u.str, "GET");
    int64_t code = 0;
    assert_int_equal(fw_attrs_get_int(&s->attrs, "http.response.status_code", &code), 1);
    assert_int_equal(code, 503);
    v = fw_attrs_get(&s->attrs, "retry");
    assert_int_equal(v->type, FW_VALUE_BOOL);
    assert_true(v->u.boolean);
    v = fw_attrs_get(&s->attrs, "ratio");
    assert_int_equal(v->type, FW_VALUE_DOUBLE);
    assert_true(v->u.f64 == 0.25);
    v = fw_attrs_get(&s->attrs, "blob");
    assert_int_equal(v->type, FW_VALUE_BYTES);
    assert_int_equal(v->u.str.len, 3);
    assert_memory_equal(v->u.str.ptr, "\x00\x01\xff", 3);
    v = fw_attrs_get(&s->attrs, "tags");
    assert_int_equal(v->type, FW_VALUE_ARRAY);
    assert_int_equal(v->u.array.n, 2);
    assert_int_equal(v->u.array.items[0].type, FW_VALUE_STRING);
    assert_str(v->u.array.items[0].u.str, "a");
    assert_int_equal(v->u.array.items[1].type, FW_VALUE_INT);
    assert_int_equal(v->u.array.items[1].u.i64, 2);
    v = fw_attrs_get(&s->attrs, "ctx");
    assert_int_equal(v->type, FW_VALUE_KVLIST);
    assert_int_equal(v->u.kvlist.n, 2);
    assert_str(v->u.kvlist.items[0].key, "list");
    const fw_value *list = &v->u.kvlist.items[0].value;
    assert_int_equal(list->type, FW_VALUE_ARRAY);
    assert_int_equal(list->u.array.n, 2);
    assert_str(list->u.array.items[0].u.str, "deep");
    assert_int_equal(list->u.array.items[1].type, FW_VALUE_INT);
    assert_int_equal(list->u.array.items[1].u.i64, -7);
    assert_str(v->u.kvlist.items[1].key, "flag");
    assert_int_equal(v->u.kvlist.items[1].value.type, FW_VALUE_BOOL);
    assert_false(v->u.kvlist.items[1].value.u.boolean);

    assert_int_equal(s->n_events, 1);
    assert_int_equal(s->events[0].time_ns, 1700000000100000000ull);
    assert_str(s->events[0].name, "exception");
    assert_int_equal(s->events[0].dropped_attributes_count, 3);
    assert_str(fw_attrs_get_str(&s->events[0].attrs, "exception.type"), "ThrottlingException");
    assert_str(fw_attrs_get_str(&s->events[0].attrs, "exception.message"), "Rate exceeded");
    assert_int_equal(s->dropped_events_count, 4);

    /* The link with a 3-byte trace id is dropped and counted. */
    assert_int_equal(s->n_links, 1);
    assert_int_equal(s->dropped_links_count, 6);
    assert_memory_equal(s->links[0].trace_id, TRACE_A, 16);
    assert_memory_equal(s->links[0].span_id, SPAN_B, 8);
    assert_str(s->links[0].trace_state, "k=v");
    assert_int_equal(s->links[0].flags, 1);
    assert_str(fw_attrs_get_str(&s->links[0].attrs, "link.kind"), "follows");

    const fw_resource *r = s->resource;
    assert_non_null(r);
    assert_str(r->service_name, "checkout");
    assert_str(r->service_version, "1.4.2");
    assert_str(r->service_namespace, "shop");
    assert_str(r->environment, "prod");
    assert_int_equal(r->attrs.n, 4);
    assert_int_equal(r->dropped_attributes_count, 1);
    const fw_scope *sc = s->scope;
    assert_non_null(sc);
    assert_str(sc->name, "io.opentelemetry.http");
    assert_str(sc->version, "2.1.0");
    assert_str(sc->schema_url, "https://opentelemetry.io/schemas/1.26.0");
    assert_str(fw_attrs_get_str(&sc->attrs, "scope.attr"), "x");

    const fw_span *s2 = &b->spans[1];
    assert_str(s2->name, "root");
    assert_false(s2->has_parent);
    assert_true(fw_id_is_zero(s2->parent_span_id, 8));
    assert_int_equal(s2->kind, FW_SPAN_KIND_CLIENT);
    assert_int_equal(s2->status_code, FW_STATUS_UNSET);
    assert_int_equal(s2->attrs.n, 0);
    assert_int_equal(s2->n_events, 0);
    assert_int_equal(s2->start_ns, 1700000000000000000ull);
    assert_int_equal(s2->end_ns, 1700000000250000000ull);
    assert_ptr_equal(s2->resource, r);
    assert_ptr_equal(s2->scope, sc);
}

static void test_pb_traces_full(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    size_t len;
    uint8_t *wire = full_trace_pb(b, &len);
    fw_arena_free(b);
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    free(wire); /* the model must not point into the wire bytes */
    check_full_trace(&batch);
    fw_arena_free(a);
}

static void test_json_traces_full(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    char *copy = strdup(FULL_TRACE_JSON);
    int rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)copy, strlen(copy), a, &batch,
                                   &err);
    if (rv)
        fail_msg("decode: %s", err.detail);
    memset(copy, 'X', strlen(copy)); /* the model must not point into the body */
    free(copy);
    check_full_trace(&batch);
    fw_arena_free(a);
}

static void test_pb_resource_fallbacks(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    SPAN **spans = b_ptrs(b, 1);
    spans[0] = mk_span(b, TRACE_A, 16, SPAN_A, 8, "op");
    TREQ *req = mk_trace_req(b, NULL, NULL, 1, spans);
    size_t len;
    uint8_t *wire = pack(&req->base, &len);

    /* No resource, no scope: unknown_service and empty scope. */
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    assert_int_equal(batch.n, 1);
    assert_str(batch.spans[0].resource->service_name, "unknown_service");
    assert_str(batch.spans[0].resource->service_version, NULL);
    assert_str(batch.spans[0].resource->environment, NULL);
    assert_str(batch.spans[0].scope->name, NULL);
    free(wire);

    /* Old attribute deployment.environment; a non-string service.name. */
    RES *res = b_new(b, &opentelemetry__proto__resource__v1__resource__descriptor);
    res->n_attributes = 2;
    res->attributes = kvs(b, 2, kv(b, "service.name", av_int(b, 5)),
                          kv(b, "deployment.environment", av_str(b, "staging")));
    req->resource_spans[0]->resource = res;
    wire = pack(&req->base, &len);
    fw_arena_reset(a);
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    assert_str(batch.spans[0].resource->service_name, "unknown_service");
    assert_str(batch.spans[0].resource->environment, "staging");
    free(wire);

    /* Empty request: no spans, no error. */
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, NULL, 0, a, &batch, &err), 0);
    assert_int_equal(batch.n, 0);
    assert_int_equal(batch.rejected, 0);
    fw_arena_free(a);
    fw_arena_free(b);
}

static void test_pb_reject_bad_ids(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    SPAN **spans = b_ptrs(b, 7);
    spans[0] = mk_span(b, TRACE_A, 5, SPAN_A, 8, "short trace");
    spans[1] = mk_span(b, ZERO16, 16, SPAN_A, 8, "zero trace");
    spans[2] = mk_span(b, TRACE_A, 16, SPAN_A, 7, "short span");
    spans[3] = mk_span(b, TRACE_A, 16, ZERO16, 8, "zero span");
    spans[4] = mk_span(b, TRACE_A, 16, SPAN_A, 8, "bad parent");
    spans[4]->parent_span_id.data = (uint8_t *)SPAN_B;
    spans[4]->parent_span_id.len = 3;
    spans[5] = mk_span(b, TRACE_A, 16, SPAN_A, 8, "good");
    spans[6] = mk_span(b, TRACE_A, 16, SPAN_B, 8, "good, zero parent");
    spans[6]->parent_span_id.data = (uint8_t *)ZERO16;
    spans[6]->parent_span_id.len = 8;
    TREQ *req = mk_trace_req(b, NULL, NULL, 7, spans);
    size_t len;
    uint8_t *wire = pack(&req->base, &len);
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    assert_int_equal(batch.n, 2);
    assert_int_equal(batch.rejected, 5);
    assert_string_equal(batch.reject_reason, "invalid trace_id");
    assert_str(batch.spans[0].name, "good");
    assert_str(batch.spans[1].name, "good, zero parent");
    assert_false(batch.spans[1].has_parent);
    free(wire);

    /* First reason reported is the first rejected span's. */
    req->resource_spans[0]->scope_spans[0]->spans = &spans[2];
    req->resource_spans[0]->scope_spans[0]->n_spans = 5;
    wire = pack(&req->base, &len);
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    assert_int_equal(batch.rejected, 3);
    assert_string_equal(batch.reject_reason, "invalid span_id");
    req->resource_spans[0]->scope_spans[0]->spans = &spans[4];
    req->resource_spans[0]->scope_spans[0]->n_spans = 1;
    free(wire);
    wire = pack(&req->base, &len);
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    assert_int_equal(batch.n, 0);
    assert_int_equal(batch.rejected, 1);
    assert_string_equal(batch.reject_reason, "invalid parent_span_id");
    free(wire);
    fw_arena_free(a);
    fw_arena_free(b);
}

static void test_json_reject_bad_ids(void **state)
{
    (void)state;
    static const char body[] =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"zz000000000000000000000000000001\",\"spanId\":\"00f067aa0ba902b7\",\"name\":\"nothex\"},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e473\",\"spanId\":\"00f067aa0ba902b7\",\"name\":\"odd\"},"
        "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"00f067aa0ba902b7\",\"name\":\"zero\"},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902\",\"name\":\"short span\"},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"name\":\"no span\"},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","
        "\"parentSpanId\":\"xyz\",\"name\":\"bad parent\"},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\",\"name\":\"ok\"}"
        "]}]}]}";
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    int rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)body, sizeof(body) - 1, a, &batch,
                                   &err);
    if (rv)
        fail_msg("decode: %s", err.detail);
    assert_int_equal(batch.n, 1);
    assert_int_equal(batch.rejected, 6);
    assert_string_equal(batch.reject_reason, "invalid trace_id");
    assert_str(batch.spans[0].name, "ok");
    fw_arena_free(a);
}

static void test_json_snake_case_and_ints(void **state)
{
    (void)state;
    static const char body[] =
        "{\"resource_spans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"string_value\":\"billing\"}}]},"
        "\"scope_spans\":[{\"spans\":["
        "{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
        "\"parent_span_id\":\"1122334455667788\",\"name\":\"a\",\"kind\":\"SPAN_KIND_PRODUCER\","
        "\"start_time_unix_nano\":\"18446744073709551615\",\"end_time_unix_nano\":12,"
        "\"attributes\":[{\"key\":\"n1\",\"value\":{\"int_value\":\"-9223372036854775808\"}},"
        "{\"key\":\"n2\",\"value\":{\"intValue\":9223372036854775807}},"
        "{\"key\":\"n3\",\"value\":{\"intValue\":1e3}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":\"Infinity\"}},"
        "{\"key\":\"e\",\"value\":{}},{\"key\":\"nul\",\"value\":null}],"
        "\"status\":{\"code\":\"STATUS_CODE_OK\"}}]}]}]}";
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    int rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)body, sizeof(body) - 1, a, &batch,
                                   &err);
    if (rv)
        fail_msg("decode: %s", err.detail);
    assert_int_equal(batch.n, 1);
    const fw_span *s = &batch.spans[0];
    assert_str(s->resource->service_name, "billing");
    assert_true(s->has_parent);
    assert_memory_equal(s->parent_span_id, SPAN_B, 8);
    assert_int_equal(s->kind, FW_SPAN_KIND_PRODUCER);
    assert_true(s->start_ns == UINT64_MAX);
    assert_int_equal(s->end_ns, 12);
    assert_int_equal(s->status_code, FW_STATUS_OK);
    assert_int_equal(s->attrs.n, 6);
    assert_true(fw_attrs_get(&s->attrs, "n1")->u.i64 == INT64_MIN);
    assert_true(fw_attrs_get(&s->attrs, "n2")->u.i64 == INT64_MAX);
    assert_int_equal(fw_attrs_get(&s->attrs, "n3")->u.i64, 1000);
    assert_int_equal(fw_attrs_get(&s->attrs, "d")->type, FW_VALUE_DOUBLE);
    assert_true(fw_attrs_get(&s->attrs, "d")->u.f64 > 1e308);
    assert_int_equal(fw_attrs_get(&s->attrs, "e")->type, FW_VALUE_EMPTY);
    assert_int_equal(fw_attrs_get(&s->attrs, "nul")->type, FW_VALUE_EMPTY);
    fw_arena_free(a);
}

/* A malformed JSON body must give FW_ERR_INVALID and a detail naming |want|. */
static void expect_json_invalid(const char *body, const char *want)
{
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    int rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)body, strlen(body), a, &batch,
                                   &err);
    if (rv != FW_ERR_INVALID)
        fail_msg("body %s: rv %d, want FW_ERR_INVALID", body, rv);
    assert_string_equal(err.reason, "malformed_json");
    if (!strstr(err.detail, want))
        fail_msg("detail \"%s\" does not contain \"%s\"", err.detail, want);
    assert_int_equal(batch.n, 0);
    fw_arena_free(a);
}

static void test_json_malformed(void **state)
{
    (void)state;
    expect_json_invalid("", "empty body");
    expect_json_invalid("{\"resourceSpans\":[", "invalid JSON");
    expect_json_invalid("{\"a\":1,\"a\":2}", "invalid JSON");
    expect_json_invalid("[]", "expected object, got array");
    expect_json_invalid("\"x\"", "invalid JSON"); /* jansson refuses bare scalars */
    expect_json_invalid("{\"resourceSpans\":\"x\"}", "resourceSpans: expected array, got string");
    expect_json_invalid("{\"resourceSpans\":[7]}", "resourceSpans[0]: expected object, got number");
    expect_json_invalid(
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{},{},{\"startTimeUnixNano\":true}]}]}]}",
        "resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano: expected integer or string");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":"
                        "\"12x\"}]}]}]}",
                        "startTimeUnixNano: expected an integer string");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":"
                        "-5}]}]}]}",
                        "out of range");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":1.5}]}]}]}",
                        "kind: expected an integer");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"SPAN_KIND_NOPE\"}]}]}]}",
                        "unknown enum value name");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}",
                        "name: expected string, got number");
    expect_json_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":5}]}]}]}",
                        "traceId: expected hex string");
    expect_json_invalid("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
                        "{\"bytesValue\":\"!!!!\"}}]}}]}",
                        "bytesValue: invalid base64");
    expect_json_invalid("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
                        "{\"boolValue\":\"true\"}}]}}]}",
                        "boolValue: expected boolean, got string");
}

/* AnyValue nested |levels| deep as arrayValue, in JSON. */
static char *json_nested_any(unsigned levels)
{
    fw_buf b;
    fw_buf_init(&b, 1u << 20);
    assert_int_equal(fw_buf_append_str(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":"
                                           "[{\"key\":\"k\",\"value\":"),
                     0);
    for (unsigned i = 1; i < levels; i++)
        assert_int_equal(fw_buf_append_str(&b, "{\"arrayValue\":{\"values\":["), 0);
    assert_int_equal(fw_buf_append_str(&b, "{\"intValue\":1}"), 0);
    for (unsigned i = 1; i < levels; i++)
        assert_int_equal(fw_buf_append_str(&b, "]}}"), 0);
    assert_int_equal(fw_buf_append_str(&b, "}]}}]}"), 0);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    size_t len;
    return (char *)fw_buf_detach(&b, &len);
}

static void test_json_depth(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    /* Legit nesting within the limit decodes. */
    char *ok = json_nested_any(10);
    int rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)ok, strlen(ok), a, &batch, &err);
    if (rv)
        fail_msg("decode: %s", err.detail);
    free(ok);
    /* Over FW_LIMIT_JSON_DEPTH: refused with a message, no crash. */
    char *deep = json_nested_any(40);
    rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)deep, strlen(deep), a, &batch, &err);
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "nested too deeply"));
    free(deep);
    /* Past jansson's own parser limit. */
    char *huge = json_nested_any(3000);
    rv = fw_otlp_decode_traces(FW_OTLP_JSON, (const uint8_t *)huge, strlen(huge), a, &batch, &err);
    assert_int_equal(rv, FW_ERR_INVALID);
    free(huge);
    fw_arena_free(a);
}

static void test_pb_truncated(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    size_t len;
    uint8_t *wire = full_trace_pb(b, &len);
    fw_arena_free(b);
    fw_arena *a = fw_arena_new(ARENA_CAP);
    for (size_t cut = 1; cut < len; cut++) {
        fw_span_batch batch;
        fw_parse_error err;
        fw_arena_reset(a);
        /* Copy so ASan sees reads past the cut. */
        uint8_t *part = malloc(cut);
        memcpy(part, wire, cut);
        int rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, part, cut, a, &batch, &err);
        free(part);
        if (rv != FW_ERR_INVALID)
            fail_msg("cut at %zu of %zu: rv %d", cut, len, rv);
        assert_string_equal(err.reason, "malformed_protobuf");
        assert_true(strlen(err.detail) > 10);
        assert_int_equal(batch.n, 0);
    }
    free(wire);
    fw_arena_free(a);
}

static void expect_pb_invalid(const uint8_t *p, size_t n, const char *want)
{
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    int rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, p, n, a, &batch, &err);
    if (rv != FW_ERR_INVALID)
        fail_msg("rv %d, want FW_ERR_INVALID", rv);
    assert_string_equal(err.reason, "malformed_protobuf");
    if (!strstr(err.detail, want))
        fail_msg("detail \"%s\" does not contain \"%s\"", err.detail, want);
    fw_arena_free(a);
}

static void test_pb_wrong_wire_type(void **state)
{
    (void)state;
    /* resource_spans (1) sent as a varint. */
    static const uint8_t top[] = {0x08, 0x01};
    expect_pb_invalid(top, sizeof(top), "resource_spans has wire type varint, expected length-delimited");
    /* Span.name (5) sent as a varint, three levels down. */
    static const uint8_t nested[] = {0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x28, 0x01};
    expect_pb_invalid(nested, sizeof(nested), "resource_spans[0].scope_spans[0].spans[0]: field 5");
    /* Span.start_time_unix_nano (7, fixed64) sent as fixed32. */
    static const uint8_t fixed[] = {0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x3d, 1, 2, 3, 4};
    expect_pb_invalid(fixed, sizeof(fixed), "start_time_unix_nano has wire type fixed32");
    /* Length running past the end. */
    static const uint8_t overrun[] = {0x0a, 0x7f, 0x00};
    expect_pb_invalid(overrun, sizeof(overrun), "exceeds");
    /* Groups, and field number 0. */
    static const uint8_t group[] = {0xa3, 0x01}; /* unknown field 20 */
    expect_pb_invalid(group, sizeof(group), "unsupported wire type");
    static const uint8_t zero[] = {0x00, 0x00};
    expect_pb_invalid(zero, sizeof(zero), "invalid field number");
    /* An overlong varint. */
    static const uint8_t varint[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_pb_invalid(varint, sizeof(varint), "varint");
}

/* Wraps |payload| (at buf[*start..end)) in field |num| (length-delimited),
 * growing towards the front of |buf|. */
static void wrap(uint8_t *buf, size_t *start, size_t end, uint32_t num)
{
    size_t len = end - *start;
    uint8_t tmp[12];
    size_t n = 0;
    tmp[n++] = (uint8_t)(num << 3 | 2);
    do {
        uint8_t byte = (uint8_t)(len & 0x7f);
        len >>= 7;
        tmp[n++] = (uint8_t)(byte | (len ? 0x80 : 0));
    } while (len);
    assert_true(*start >= n);
    *start -= n;
    memcpy(buf + *start, tmp, n);
}

/* A trace request whose one attribute value nests |levels| AnyValues. */
static uint8_t *pb_nested_any(unsigned levels, size_t *start, size_t *len)
{
    size_t cap = 64 + (size_t)levels * 12;
    uint8_t *buf = malloc(cap);
    size_t end = cap, s = cap - 2;
    buf[s] = 0x18; /* int_value = 1 */
    buf[s + 1] = 0x01;
    for (unsigned i = 1; i < levels; i++) {
        wrap(buf, &s, end, 1); /* ArrayValue.values */
        wrap(buf, &s, end, 5); /* AnyValue.array_value */
    }
    wrap(buf, &s, end, 2); /* KeyValue.value */
    wrap(buf, &s, end, 9); /* Span.attributes */
    static const uint8_t ids[] = {0x0a, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  0x12, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    s -= sizeof(ids);
    memcpy(buf + s, ids, sizeof(ids));
    wrap(buf, &s, end, 2); /* ScopeSpans.spans */
    wrap(buf, &s, end, 2); /* ResourceSpans.scope_spans */
    wrap(buf, &s, end, 1); /* request.resource_spans */
    *start = s;
    *len = end - s;
    return buf;
}

static void test_pb_depth(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_span_batch batch;
    fw_parse_error err;
    size_t start, len;
    uint8_t *buf = pb_nested_any(FW_LIMIT_ANYVALUE_DEPTH, &start, &len);
    int rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, buf + start, len, a, &batch, &err);
    if (rv)
        fail_msg("decode at the limit: %s", err.detail);
    assert_int_equal(batch.n, 1);
    const fw_value *v = &batch.spans[0].attrs.items[0].value;
    for (unsigned i = 1; i < FW_LIMIT_ANYVALUE_DEPTH; i++) {
        assert_int_equal(v->type, FW_VALUE_ARRAY);
        assert_int_equal(v->u.array.n, 1);
        v = &v->u.array.items[0];
    }
    assert_int_equal(v->type, FW_VALUE_INT);
    assert_int_equal(v->u.i64, 1);
    free(buf);

    fw_arena_reset(a);
    buf = pb_nested_any(FW_LIMIT_ANYVALUE_DEPTH + 1, &start, &len);
    rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, buf + start, len, a, &batch, &err);
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "nested deeper"));
    free(buf);

    /* 100k levels: must not recurse into a stack overflow. */
    fw_arena_reset(a);
    buf = pb_nested_any(100000, &start, &len);
    rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, buf + start, len, a, &batch, &err);
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "nested too deeply"));
    free(buf);
    fw_arena_free(a);
}

static void test_arena_cap_nomem(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    enum { N = 300 };
    SPAN **spans = b_ptrs(b, N);
    for (size_t i = 0; i < N; i++) {
        spans[i] = mk_span(b, TRACE_A, 16, SPAN_A, 8, "a span with some name");
        spans[i]->n_attributes = 2;
        spans[i]->attributes = kvs(b, 2, kv(b, "k1", av_str(b, "v1")), kv(b, "k2", av_int(b, 2)));
    }
    TREQ *req = mk_trace_req(b, NULL, NULL, N, spans);
    size_t len;
    uint8_t *wire = pack(&req->base, &len);

    fw_arena *small = fw_arena_new(32u * 1024u);
    fw_span_batch batch;
    fw_parse_error err;
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_PROTOBUF, wire, len, small, &batch, &err),
                     FW_ERR_NOMEM);
    assert_int_equal(batch.n, 0);
    fw_arena_free(small);

    /* The same in JSON. */
    fw_buf j;
    fw_buf_init(&j, 1u << 22);
    assert_int_equal(fw_buf_append_str(&j, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["), 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(fw_buf_printf(&j,
                                       "%s{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                                       "\"spanId\":\"00f067aa0ba902b7\",\"name\":\"span %zu\"}",
                                       i ? "," : "", i),
                         0);
    assert_int_equal(fw_buf_append_str(&j, "]}]}]}"), 0);
    small = fw_arena_new(32u * 1024u);
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_JSON, j.data, j.len, small, &batch, &err),
                     FW_ERR_NOMEM);
    fw_arena_free(small);
    /* And with room, all of them decode. */
    fw_arena *big = fw_arena_new(ARENA_CAP);
    assert_int_equal(fw_otlp_decode_traces(FW_OTLP_JSON, j.data, j.len, big, &batch, &err), 0);
    assert_int_equal(batch.n, N);
    assert_str(batch.spans[N - 1].name, "span 299");
    fw_arena_free(big);
    fw_buf_free(&j);
    free(wire);
    fw_arena_free(b);
}

/* ---- logs ---- */

static void check_logs(const fw_log_batch *b)
{
    assert_int_equal(b->n, 2);
    assert_int_equal(b->rejected, 2);
    assert_string_equal(b->reject_reason, "invalid trace_id");
    const fw_log_record *r = &b->records[0];
    assert_int_equal(r->time_ns, 1700000000000000001ull);
    assert_int_equal(r->observed_time_ns, 1700000000000000002ull);
    assert_int_equal(r->severity_number, 17);
    assert_str(r->severity_text, "ERROR");
    assert_int_equal(r->body.type, FW_VALUE_KVLIST);
    assert_int_equal(r->body.u.kvlist.n, 1);
    assert_str(r->body.u.kvlist.items[0].key, "msg");
    assert_str(r->body.u.kvlist.items[0].value.u.str, "Rate exceeded");
    assert_str(fw_attrs_get_str(&r->attrs, "error.type"), "ThrottlingException");
    assert_int_equal(r->dropped_attributes_count, 1);
    assert_int_equal(r->flags, 1);
    assert_true(r->has_trace_id);
    assert_memory_equal(r->trace_id, TRACE_A, 16);
    assert_true(r->has_span_id);
    assert_memory_equal(r->span_id, SPAN_A, 8);
    assert_str(r->event_name, "app.throttled");
    assert_str(r->resource->service_name, "orders");
    assert_str(r->scope->name, "logger");
    const fw_log_record *r2 = &b->records[1];
    assert_false(r2->has_trace_id);
    assert_false(r2->has_span_id);
    assert_true(fw_id_is_zero(r2->trace_id, 16));
    assert_int_equal(r2->body.type, FW_VALUE_STRING);
    assert_str(r2->body.u.str, "plain");
    assert_int_equal(r2->severity_number, 9);
    assert_str(r2->event_name, NULL);
}

static void test_pb_logs(void **state)
{
    (void)state;
    fw_arena *b = fw_arena_new(ARENA_CAP);
    LREQ *req = b_new(b, &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor);
    RL *rl = b_new(b, &opentelemetry__proto__logs__v1__resource_logs__descriptor);
    SL *sl = b_new(b, &opentelemetry__proto__logs__v1__scope_logs__descriptor);
    RES *res = b_new(b, &opentelemetry__proto__resource__v1__resource__descriptor);
    res->n_attributes = 1;
    res->attributes = kvs(b, 1, kv(b, "service.name", av_str(b, "orders")));
    SCOPE *scope = b_new(b, &opentelemetry__proto__common__v1__instrumentation_scope__descriptor);
    scope->name = (char *)"logger";
    LOG *l1 = b_new(b, &opentelemetry__proto__logs__v1__log_record__descriptor);
    l1->time_unix_nano = 1700000000000000001ull;
    l1->observed_time_unix_nano = 1700000000000000002ull;
    l1->severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR;
    l1->severity_text = (char *)"ERROR";
    KV *body_kv[1] = {kv(b, "msg", av_str(b, "Rate exceeded"))};
    l1->body = av_kvlist(b, 1, body_kv);
    l1->n_attributes = 1;
    l1->attributes = kvs(b, 1, kv(b, "error.type", av_str(b, "ThrottlingException")));
    l1->dropped_attributes_count = 1;
    l1->flags = 1;
    l1->trace_id.data = (uint8_t *)TRACE_A;
    l1->trace_id.len = 16;
    l1->span_id.data = (uint8_t *)SPAN_A;
    l1->span_id.len = 8;
    l1->event_name = (char *)"app.throttled";
    LOG *bad1 = b_new(b, &opentelemetry__proto__logs__v1__log_record__descriptor);
    bad1->trace_id.data = (uint8_t *)TRACE_A;
    bad1->trace_id.len = 3;
    LOG *bad2 = b_new(b, &opentelemetry__proto__logs__v1__log_record__descriptor);
    bad2->span_id.data = (uint8_t *)ZERO16;
    bad2->span_id.len = 8;
    LOG *l2 = b_new(b, &opentelemetry__proto__logs__v1__log_record__descriptor);
    l2->body = av_str(b, "plain");
    l2->severity_number = 9;
    sl->scope = scope;
    sl->n_log_records = 4;
    sl->log_records = b_ptrs(b, 4);
    sl->log_records[0] = bad1;
    sl->log_records[1] = l1;
    sl->log_records[2] = bad2;
    sl->log_records[3] = l2;
    rl->resource = res;
    rl->n_scope_logs = 1;
    rl->scope_logs = b_ptrs(b, 1);
    rl->scope_logs[0] = sl;
    req->n_resource_logs = 1;
    req->resource_logs = b_ptrs(b, 1);
    req->resource_logs[0] = rl;
    size_t len;
    uint8_t *wire = pack(&req->base, &len);

    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_log_batch batch;
    fw_parse_error err;
    assert_int_equal(fw_otlp_decode_logs(FW_OTLP_PROTOBUF, wire, len, a, &batch, &err), 0);
    free(wire);
    check_logs(&batch);
    fw_arena_free(a);
    fw_arena_free(b);
}

static void test_json_logs(void **state)
{
    (void)state;
    static const char body[] =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"orders\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"logger\"},"
        "\"logRecords\":["
        "{\"traceId\":\"4bf92f\",\"body\":{\"stringValue\":\"bad\"}},"
        "{\"timeUnixNano\":\"1700000000000000001\",\"observedTimeUnixNano\":1700000000000000002,"
        "\"severityNumber\":\"SEVERITY_NUMBER_ERROR\",\"severityText\":\"ERROR\","
        "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"msg\",\"value\":{\"stringValue\":\"Rate exceeded\"}}]}},"
        "\"attributes\":[{\"key\":\"error.type\",\"value\":{\"stringValue\":\"ThrottlingException\"}}],"
        "\"droppedAttributesCount\":1,\"flags\":1,\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
        "\"spanId\":\"00F067AA0BA902B7\",\"eventName\":\"app.throttled\"},"
        "{\"spanId\":\"0000000000000000\"},"
        "{\"body\":{\"stringValue\":\"plain\"},\"severityNumber\":9,\"traceId\":\"\",\"spanId\":\"\"}"
        "]}]}]}";
    fw_arena *a = fw_arena_new(ARENA_CAP);
    fw_log_batch batch;
    fw_parse_error err;
    int rv = fw_otlp_decode_logs(FW_OTLP_JSON, (const uint8_t *)body, sizeof(body) - 1, a, &batch,
                                 &err);
    if (rv)
        fail_msg("decode: %s", err.detail);
    check_logs(&batch);
    fw_arena_free(a);

    /* Malformed logs body. */
    a = fw_arena_new(ARENA_CAP);
    static const char bad[] = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityNumber\":{}}]}]}]}";
    rv = fw_otlp_decode_logs(FW_OTLP_JSON, (const uint8_t *)bad, sizeof(bad) - 1, a, &batch, &err);
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber"));
    fw_arena_free(a);
}

/* ---- responses ---- */

static void test_traces_response(void **state)
{
    (void)state;
    fw_buf out;
    fw_buf_init(&out, 4096);
    assert_int_equal(fw_otlp_encode_traces_response(FW_OTLP_PROTOBUF, 3, "3 spans rejected: invalid trace_id", &out), 0);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, out.len, out.data);
    assert_non_null(r);
    assert_non_null(r->partial_success);
    assert_int_equal(r->partial_success->rejected_spans, 3);
    assert_string_equal(r->partial_success->error_message, "3 spans rejected: invalid trace_id");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_traces_response(FW_OTLP_PROTOBUF, 0, NULL, &out), 0);
    assert_int_equal(out.len, 0); /* empty message: no partial_success */

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_traces_response(FW_OTLP_JSON, 3, "bad \"ids\"\n", &out), 0);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &jerr);
    assert_non_null(j);
    json_t *ps = json_object_get(j, "partialSuccess");
    assert_non_null(ps);
    assert_string_equal(json_string_value(json_object_get(ps, "rejectedSpans")), "3");
    assert_string_equal(json_string_value(json_object_get(ps, "errorMessage")), "bad \"ids\"\n");
    json_decref(j);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_traces_response(FW_OTLP_JSON, 0, NULL, &out), 0);
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "{}", 2);

    /* A full buffer is an error, not an overflow. */
    fw_buf tiny;
    fw_buf_init(&tiny, 4);
    assert_int_not_equal(fw_otlp_encode_traces_response(FW_OTLP_JSON, 7, "long message", &tiny), 0);
    assert_int_not_equal(fw_otlp_encode_traces_response(FW_OTLP_PROTOBUF, 7, "long message", &tiny), 0);
    fw_buf_free(&tiny);
    fw_buf_free(&out);
}

static void test_logs_response(void **state)
{
    (void)state;
    fw_buf out;
    fw_buf_init(&out, 4096);
    assert_int_equal(fw_otlp_encode_logs_response(FW_OTLP_PROTOBUF, 2, "x", &out), 0);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(NULL, out.len, out.data);
    assert_non_null(r);
    assert_non_null(r->partial_success);
    assert_int_equal(r->partial_success->rejected_log_records, 2);
    assert_string_equal(r->partial_success->error_message, "x");
    opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(r, NULL);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_logs_response(FW_OTLP_JSON, 12, NULL, &out), 0);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &jerr);
    assert_non_null(j);
    json_t *ps = json_object_get(j, "partialSuccess");
    assert_string_equal(json_string_value(json_object_get(ps, "rejectedLogRecords")), "12");
    assert_null(json_object_get(ps, "errorMessage"));
    json_decref(j);
    fw_buf_free(&out);
}

static void test_status(void **state)
{
    (void)state;
    fw_buf out;
    fw_buf_init(&out, 4096);
    assert_int_equal(fw_otlp_encode_status(FW_OTLP_PROTOBUF, 14, "overloaded", 5, &out), 0);
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, out.len, out.data);
    assert_non_null(st);
    assert_int_equal(st->code, 14);
    assert_string_equal(st->message, "overloaded");
    assert_int_equal(st->n_details, 1);
    assert_string_equal(st->details[0]->type_url, "type.googleapis.com/google.rpc.RetryInfo");
    Google__Rpc__RetryInfo *ri = google__rpc__retry_info__unpack(NULL, st->details[0]->value.len,
                                                                st->details[0]->value.data);
    assert_non_null(ri);
    assert_non_null(ri->retry_delay);
    assert_int_equal(ri->retry_delay->seconds, 5);
    assert_int_equal(ri->retry_delay->nanos, 0);
    google__rpc__retry_info__free_unpacked(ri, NULL);
    google__rpc__status__free_unpacked(st, NULL);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_status(FW_OTLP_PROTOBUF, 3, "bad body", -1, &out), 0);
    st = google__rpc__status__unpack(NULL, out.len, out.data);
    assert_non_null(st);
    assert_int_equal(st->code, 3);
    assert_int_equal(st->n_details, 0);
    google__rpc__status__free_unpacked(st, NULL);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_status(FW_OTLP_JSON, 14, "over \"load\"", 5, &out), 0);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "code")), 14);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "over \"load\"");
    json_t *d0 = json_array_get(json_object_get(j, "details"), 0);
    assert_non_null(d0);
    assert_string_equal(json_string_value(json_object_get(d0, "@type")),
                        "type.googleapis.com/google.rpc.RetryInfo");
    assert_string_equal(json_string_value(json_object_get(d0, "retryDelay")), "5s");
    json_decref(j);

    fw_buf_reset(&out);
    assert_int_equal(fw_otlp_encode_status(FW_OTLP_JSON, 3, NULL, -1, &out), 0);
    j = json_loadb((const char *)out.data, out.len, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "code")), 3);
    assert_null(json_object_get(j, "details"));
    json_decref(j);
    fw_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pb_traces_full),
        cmocka_unit_test(test_json_traces_full),
        cmocka_unit_test(test_pb_resource_fallbacks),
        cmocka_unit_test(test_pb_reject_bad_ids),
        cmocka_unit_test(test_json_reject_bad_ids),
        cmocka_unit_test(test_json_snake_case_and_ints),
        cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_pb_truncated),
        cmocka_unit_test(test_pb_wrong_wire_type),
        cmocka_unit_test(test_pb_depth),
        cmocka_unit_test(test_arena_cap_nomem),
        cmocka_unit_test(test_pb_logs),
        cmocka_unit_test(test_json_logs),
        cmocka_unit_test(test_traces_response),
        cmocka_unit_test(test_logs_response),
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
