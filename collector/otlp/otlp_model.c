/* otlp_model.c - validates decoded OTLP requests (protobuf-c structs, from
 * either encoding) and converts them into the model: spans and log records
 * with their resource and scope, all in the request arena. Rejects records
 * with bad ids one by one (OTLP partial success); never copies strings that
 * protobuf-c already placed in the arena, and never mallocs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flywheel/limits.h"
#include "flywheel/otlp.h"
#include "otlp_internal.h"

/* SPEC 3.1: reasons for rejecting single records (metric labels). */
#define REJECT_TRACE_ID "invalid trace_id"
#define REJECT_SPAN_ID "invalid span_id"
#define REJECT_PARENT_SPAN_ID "invalid parent_span_id"

typedef struct conv {
    fw_arena *arena;
    fw_parse_error *err;
    const char *reason; /* malformed_protobuf or malformed_json */
} conv;

void fw__otlp_error(fw_parse_error *err, const char *reason, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    err->reason = reason;
    for (char *c = err->detail; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x20 || u >= 0x7f)
            *c = '?';
    }
}

static int conv_nomem(conv *c)
{
    fw__otlp_error(c->err, FW_OTLP_REASON_NOMEM,
                   "request needs more decode memory than allowed (%zu bytes used)",
                   fw_arena_used(c->arena));
    return FW_ERR_NOMEM;
}

static void *conv_array(conv *c, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    return fw_arena_alloc(c->arena, n * size); /* n is bounded by the input */
}

static inline fw_str conv_str(const char *s)
{
    if (!s || !*s)
        return FW_STR_NULL;
    return (fw_str){s, strlen(s)};
}

static int conv_attrs(conv *c, fw_pb_key_value *const *kv, size_t n, fw_attrs *out,
                      unsigned depth);

static int conv_value(conv *c, const fw_pb_any_value *in, fw_value *out, unsigned depth)
{
    memset(out, 0, sizeof(*out));
    if (!in)
        return 0;
    if (depth > FW_LIMIT_ANYVALUE_DEPTH) {
        fw__otlp_error(c->err, c->reason, "attribute value (AnyValue) nested deeper than %u levels",
                       FW_LIMIT_ANYVALUE_DEPTH);
        return FW_ERR_INVALID;
    }
    switch (in->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        out->type = FW_VALUE_STRING;
        out->u.str = (fw_str){in->string_value ? in->string_value : "",
                              in->string_value ? strlen(in->string_value) : 0};
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        out->type = FW_VALUE_BOOL;
        out->u.boolean = in->bool_value != 0;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        out->type = FW_VALUE_INT;
        out->u.i64 = in->int_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        out->type = FW_VALUE_DOUBLE;
        out->u.f64 = in->double_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        out->type = FW_VALUE_BYTES;
        out->u.str = (fw_str){(const char *)in->bytes_value.data, in->bytes_value.len};
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE: {
        out->type = FW_VALUE_ARRAY;
        if (!in->array_value)
            break;
        size_t n = in->array_value->n_values;
        fw_value *items = conv_array(c, n, sizeof(*items));
        if (n && !items)
            return conv_nomem(c);
        for (size_t i = 0; i < n; i++) {
            int rv = conv_value(c, in->array_value->values[i], &items[i], depth + 1);
            if (rv)
                return rv;
        }
        out->u.array.items = items;
        out->u.array.n = n;
        break;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: {
        out->type = FW_VALUE_KVLIST;
        if (!in->kvlist_value)
            break;
        fw_attrs kv;
        int rv = conv_attrs(c, in->kvlist_value->values, in->kvlist_value->n_values, &kv,
                            depth + 1);
        if (rv)
            return rv;
        out->u.kvlist.items = kv.items;
        out->u.kvlist.n = kv.n;
        break;
    }
    default:
        out->type = FW_VALUE_EMPTY;
        break;
    }
    return 0;
}

static int conv_attrs(conv *c, fw_pb_key_value *const *kv, size_t n, fw_attrs *out,
                      unsigned depth)
{
    out->items = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    fw_attr *items = conv_array(c, n, sizeof(*items));
    if (!items)
        return conv_nomem(c);
    for (size_t i = 0; i < n; i++) {
        const char *key = kv[i]->key ? kv[i]->key : "";
        items[i].key = (fw_str){key, strlen(key)};
        int rv = conv_value(c, kv[i]->value, &items[i].value, depth);
        if (rv)
            return rv;
    }
    out->items = items;
    out->n = n;
    return 0;
}

/* String attribute or FW_STR_NULL; empty strings count as absent. */
static fw_str attr_str(const fw_attrs *a, const char *key)
{
    for (size_t i = 0; i < a->n; i++) {
        const fw_attr *at = &a->items[i];
        if (at->value.type == FW_VALUE_STRING && at->value.u.str.len > 0 && fw_str_eq(at->key, key))
            return at->value.u.str;
    }
    return FW_STR_NULL;
}

static int conv_resource(conv *c, const fw_pb_resource *in, const char *schema_url,
                         fw_resource **out)
{
    fw_resource *r = fw_arena_calloc(c->arena, 1, sizeof(*r));
    if (!r)
        return conv_nomem(c);
    if (in) {
        int rv = conv_attrs(c, in->attributes, in->n_attributes, &r->attrs, 1);
        if (rv)
            return rv;
        r->dropped_attributes_count = in->dropped_attributes_count;
    }
    r->schema_url = conv_str(schema_url);
    fw__otlp_resource_names(r);
    *out = r;
    return 0;
}

void fw__otlp_resource_names(fw_resource *r)
{
    /* One pass would be faster, but resources are few per request. */
    r->service_name = attr_str(&r->attrs, "service.name");
    if (!r->service_name.ptr)
        r->service_name = FW_STR_LIT("unknown_service"); /* OTel resource semconv default */
    r->service_version = attr_str(&r->attrs, "service.version");
    r->service_namespace = attr_str(&r->attrs, "service.namespace");
    r->environment = attr_str(&r->attrs, "deployment.environment.name");
    if (!r->environment.ptr)
        r->environment = attr_str(&r->attrs, "deployment.environment");
}

static int conv_scope(conv *c, const fw_pb_scope *in, const char *schema_url, fw_scope **out)
{
    fw_scope *s = fw_arena_calloc(c->arena, 1, sizeof(*s));
    if (!s)
        return conv_nomem(c);
    if (in) {
        s->name = conv_str(in->name);
        s->version = conv_str(in->version);
        int rv = conv_attrs(c, in->attributes, in->n_attributes, &s->attrs, 1);
        if (rv)
            return rv;
        s->dropped_attributes_count = in->dropped_attributes_count;
    }
    s->schema_url = conv_str(schema_url);
    *out = s;
    return 0;
}

static bool id_ok(const ProtobufCBinaryData *b, size_t want)
{
    return b->len == want && !fw_id_is_zero(b->data, want);
}

/* NULL when the span's ids are valid, else the static reject reason. */
static const char *span_reject_reason(const fw_pb_span *sp)
{
    if (!id_ok(&sp->trace_id, FW_TRACE_ID_LEN))
        return REJECT_TRACE_ID;
    if (!id_ok(&sp->span_id, FW_SPAN_ID_LEN))
        return REJECT_SPAN_ID;
    if (sp->parent_span_id.len != 0 && sp->parent_span_id.len != FW_SPAN_ID_LEN)
        return REJECT_PARENT_SPAN_ID;
    return NULL;
}

static int conv_span(conv *c, const fw_pb_span *in, fw_span *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->trace_id, in->trace_id.data, FW_TRACE_ID_LEN);
    memcpy(out->span_id, in->span_id.data, FW_SPAN_ID_LEN);
    if (in->parent_span_id.len == FW_SPAN_ID_LEN &&
        !fw_id_is_zero(in->parent_span_id.data, FW_SPAN_ID_LEN)) {
        memcpy(out->parent_span_id, in->parent_span_id.data, FW_SPAN_ID_LEN);
        out->has_parent = true;
    }
    out->flags = in->flags;
    out->trace_state = conv_str(in->trace_state);
    out->name = conv_str(in->name);
    out->kind = (in->kind >= 0 && in->kind <= 5) ? (fw_span_kind)in->kind : FW_SPAN_KIND_UNSPECIFIED;
    out->start_ns = in->start_time_unix_nano;
    out->end_ns = in->end_time_unix_nano;
    int rv = conv_attrs(c, in->attributes, in->n_attributes, &out->attrs, 1);
    if (rv)
        return rv;
    out->dropped_attributes_count = in->dropped_attributes_count;

    if (in->n_events) {
        out->events = conv_array(c, in->n_events, sizeof(*out->events));
        if (!out->events)
            return conv_nomem(c);
        for (size_t i = 0; i < in->n_events; i++) {
            const fw_pb_span_event *e = in->events[i];
            fw_span_event *oe = &out->events[i];
            oe->time_ns = e->time_unix_nano;
            oe->name = conv_str(e->name);
            oe->dropped_attributes_count = e->dropped_attributes_count;
            rv = conv_attrs(c, e->attributes, e->n_attributes, &oe->attrs, 1);
            if (rv)
                return rv;
        }
        out->n_events = in->n_events;
    }
    out->dropped_events_count = in->dropped_events_count;

    out->dropped_links_count = in->dropped_links_count;
    if (in->n_links) {
        out->links = conv_array(c, in->n_links, sizeof(*out->links));
        if (!out->links)
            return conv_nomem(c);
        size_t k = 0;
        for (size_t i = 0; i < in->n_links; i++) {
            const fw_pb_span_link *l = in->links[i];
            if (!id_ok(&l->trace_id, FW_TRACE_ID_LEN) || !id_ok(&l->span_id, FW_SPAN_ID_LEN)) {
                /* A link to nothing carries no information: drop it, keep the span. */
                out->dropped_links_count++;
                continue;
            }
            fw_span_link *ol = &out->links[k++];
            memset(ol, 0, sizeof(*ol));
            memcpy(ol->trace_id, l->trace_id.data, FW_TRACE_ID_LEN);
            memcpy(ol->span_id, l->span_id.data, FW_SPAN_ID_LEN);
            ol->trace_state = conv_str(l->trace_state);
            ol->dropped_attributes_count = l->dropped_attributes_count;
            ol->flags = l->flags;
            rv = conv_attrs(c, l->attributes, l->n_attributes, &ol->attrs, 1);
            if (rv)
                return rv;
        }
        out->n_links = k;
    }

    if (in->status) {
        int code = in->status->code;
        out->status_code = (code >= 0 && code <= 2) ? (fw_status_code)code : FW_STATUS_UNSET;
        out->status_message = conv_str(in->status->message);
    }
    return 0;
}

static int traces_to_model(conv *c, const fw_pb_trace_request *req, fw_span_batch *out)
{
    size_t total = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const fw_pb_resource_spans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++)
            total += rs->scope_spans[j]->n_spans;
    }
    if (total) {
        out->spans = conv_array(c, total, sizeof(*out->spans));
        if (!out->spans)
            return conv_nomem(c);
    }
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const fw_pb_resource_spans *rs = req->resource_spans[i];
        fw_resource *res = NULL;
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const fw_pb_scope_spans *ss = rs->scope_spans[j];
            if (ss->n_spans == 0)
                continue;
            int rv;
            if (!res && (rv = conv_resource(c, rs->resource, rs->schema_url, &res)))
                return rv;
            fw_scope *scope;
            if ((rv = conv_scope(c, ss->scope, ss->schema_url, &scope)))
                return rv;
            for (size_t k = 0; k < ss->n_spans; k++) {
                const fw_pb_span *sp = ss->spans[k];
                const char *why = span_reject_reason(sp);
                if (why) {
                    if (!out->rejected)
                        out->reject_reason = why;
                    out->rejected++;
                    continue;
                }
                fw_span *o = &out->spans[out->n];
                if ((rv = conv_span(c, sp, o)))
                    return rv;
                o->resource = res;
                o->scope = scope;
                out->n++;
            }
        }
    }
    return 0;
}

static const char *log_reject_reason(const fw_pb_log_record *lr)
{
    if (lr->trace_id.len != 0 && !id_ok(&lr->trace_id, FW_TRACE_ID_LEN))
        return REJECT_TRACE_ID;
    if (lr->span_id.len != 0 && !id_ok(&lr->span_id, FW_SPAN_ID_LEN))
        return REJECT_SPAN_ID;
    return NULL;
}

static int conv_log(conv *c, const fw_pb_log_record *in, fw_log_record *out)
{
    memset(out, 0, sizeof(*out));
    out->time_ns = in->time_unix_nano;
    out->observed_time_ns = in->observed_time_unix_nano;
    int sev = (int)in->severity_number;
    out->severity_number = (sev >= 0 && sev <= 24) ? sev : 0;
    out->severity_text = conv_str(in->severity_text);
    int rv = conv_value(c, in->body, &out->body, 1);
    if (rv)
        return rv;
    rv = conv_attrs(c, in->attributes, in->n_attributes, &out->attrs, 1);
    if (rv)
        return rv;
    out->dropped_attributes_count = in->dropped_attributes_count;
    out->flags = in->flags;
    if (in->trace_id.len == FW_TRACE_ID_LEN) {
        memcpy(out->trace_id, in->trace_id.data, FW_TRACE_ID_LEN);
        out->has_trace_id = true;
    }
    if (in->span_id.len == FW_SPAN_ID_LEN) {
        memcpy(out->span_id, in->span_id.data, FW_SPAN_ID_LEN);
        out->has_span_id = true;
    }
    out->event_name = conv_str(in->event_name);
    return 0;
}

static int logs_to_model(conv *c, const fw_pb_logs_request *req, fw_log_batch *out)
{
    size_t total = 0;
    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const fw_pb_resource_logs *rl = req->resource_logs[i];
        for (size_t j = 0; j < rl->n_scope_logs; j++)
            total += rl->scope_logs[j]->n_log_records;
    }
    if (total) {
        out->records = conv_array(c, total, sizeof(*out->records));
        if (!out->records)
            return conv_nomem(c);
    }
    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const fw_pb_resource_logs *rl = req->resource_logs[i];
        fw_resource *res = NULL;
        for (size_t j = 0; j < rl->n_scope_logs; j++) {
            const fw_pb_scope_logs *sl = rl->scope_logs[j];
            if (sl->n_log_records == 0)
                continue;
            int rv;
            if (!res && (rv = conv_resource(c, rl->resource, rl->schema_url, &res)))
                return rv;
            fw_scope *scope;
            if ((rv = conv_scope(c, sl->scope, sl->schema_url, &scope)))
                return rv;
            for (size_t k = 0; k < sl->n_log_records; k++) {
                const fw_pb_log_record *lr = sl->log_records[k];
                const char *why = log_reject_reason(lr);
                if (why) {
                    if (!out->rejected)
                        out->reject_reason = why;
                    out->rejected++;
                    continue;
                }
                fw_log_record *o = &out->records[out->n];
                if ((rv = conv_log(c, lr, o)))
                    return rv;
                o->resource = res;
                o->scope = scope;
                out->n++;
            }
        }
    }
    return 0;
}

static int unpack(fw_otlp_encoding enc, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                  size_t n, fw_arena *arena, ProtobufCMessage **msg, fw_parse_error *err)
{
    if (enc == FW_OTLP_PROTOBUF)
        return fw__otlp_pb_unpack(desc, p, n, arena, msg, err);
    if (enc == FW_OTLP_JSON)
        return fw__otlp_json_unpack(desc, p, n, arena, msg, err);
    fw__otlp_error(err, "unsupported_encoding", "unsupported OTLP encoding %d", (int)enc);
    return FW_ERR_UNSUPPORTED;
}

int fw_otlp_decode_traces(fw_otlp_encoding enc, const uint8_t *p, size_t n, fw_arena *arena,
                          fw_span_batch *out, fw_parse_error *err)
{
    fw_parse_error scratch;
    if (!err)
        err = &scratch;
    err->reason = NULL;
    err->detail[0] = '\0';
    memset(out, 0, sizeof(*out));
    int rv;
    if (enc == FW_OTLP_PROTOBUF) {
        /* Hot path: validate the wire, then decode straight into the model. */
        if ((rv = fw__otlp_pb_check(FW_OTLP_TRACE_REQUEST_DESC, p, n, err)))
            return rv;
        rv = fw__otlp_wire_traces(p, n, arena, out, err);
        if (rv != FW__OTLP_WIRE_FALLBACK) {
            if (rv)
                memset(out, 0, sizeof(*out));
            return rv;
        }
        memset(out, 0, sizeof(*out));
    }
    ProtobufCMessage *msg;
    rv = unpack(enc, FW_OTLP_TRACE_REQUEST_DESC, p, n, arena, &msg, err);
    if (rv)
        return rv;
    conv c = {arena, err, enc == FW_OTLP_JSON ? FW_OTLP_REASON_JSON : FW_OTLP_REASON_PB};
    rv = traces_to_model(&c, (const fw_pb_trace_request *)msg, out);
    if (rv)
        memset(out, 0, sizeof(*out));
    return rv;
}

int fw_otlp_decode_logs(fw_otlp_encoding enc, const uint8_t *p, size_t n, fw_arena *arena,
                        fw_log_batch *out, fw_parse_error *err)
{
    fw_parse_error scratch;
    if (!err)
        err = &scratch;
    err->reason = NULL;
    err->detail[0] = '\0';
    memset(out, 0, sizeof(*out));
    ProtobufCMessage *msg;
    int rv = unpack(enc, FW_OTLP_LOGS_REQUEST_DESC, p, n, arena, &msg, err);
    if (rv)
        return rv;
    conv c = {arena, err, enc == FW_OTLP_JSON ? FW_OTLP_REASON_JSON : FW_OTLP_REASON_PB};
    rv = logs_to_model(&c, (const fw_pb_logs_request *)msg, out);
    if (rv)
        memset(out, 0, sizeof(*out));
    return rv;
}
