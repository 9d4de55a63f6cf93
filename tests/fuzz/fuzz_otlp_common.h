/* fuzz_otlp_common.h - the body shared by the OTLP fuzz targets: feeds raw
 * bytes to the trace and logs decoders of one encoding with a capped arena,
 * then walks every decoded record so that the sanitizers see any pointer the
 * decoder got wrong. Included by exactly one fuzz target per binary. */
#ifndef FLYWHEEL_FUZZ_OTLP_COMMON_H
#define FLYWHEEL_FUZZ_OTLP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flywheel/arena.h"
#include "flywheel/limits.h"
#include "flywheel/otlp.h"

static size_t touch_value(const fw_value *v, unsigned depth);

static size_t touch_attrs(const fw_attrs *a, unsigned depth)
{
    size_t sum = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->items[i].key.len)
            sum += (unsigned char)a->items[i].key.ptr[a->items[i].key.len - 1];
        sum += touch_value(&a->items[i].value, depth + 1);
    }
    return sum;
}

static size_t touch_value(const fw_value *v, unsigned depth)
{
    if (depth > FW_LIMIT_ANYVALUE_DEPTH + 1)
        __builtin_trap(); /* the decoder must have refused this */
    switch (v->type) {
    case FW_VALUE_STRING:
    case FW_VALUE_BYTES:
        return v->u.str.len ? (unsigned char)v->u.str.ptr[v->u.str.len - 1] : 0;
    case FW_VALUE_ARRAY: {
        size_t sum = 0;
        for (size_t i = 0; i < v->u.array.n; i++)
            sum += touch_value(&v->u.array.items[i], depth + 1);
        return sum;
    }
    case FW_VALUE_KVLIST: {
        fw_attrs a = {v->u.kvlist.items, v->u.kvlist.n};
        return touch_attrs(&a, depth);
    }
    default:
        return 0;
    }
}

static size_t touch_str(fw_str s)
{
    return s.len ? (unsigned char)s.ptr[s.len - 1] + (unsigned char)s.ptr[0] : 0;
}

/* One input through both decoders of |enc|. */
static int fuzz_otlp_decode(fw_otlp_encoding enc, const uint8_t *data, size_t size)
{
    /* The same bound the ingest path uses: a multiple of the body size. */
    fw_arena *arena = fw_arena_new(64u * 1024u + FW_LIMIT_ARENA_FACTOR * size);
    if (!arena)
        return 0;
    volatile size_t sink = 0;
    fw_span_batch spans;
    fw_parse_error err;
    int rv = fw_otlp_decode_traces(enc, data, size, arena, &spans, &err);
    if (rv == 0) {
        for (size_t i = 0; i < spans.n; i++) {
            const fw_span *s = &spans.spans[i];
            if (!s->resource || !s->scope || fw_id_is_zero(s->trace_id, FW_TRACE_ID_LEN) ||
                fw_id_is_zero(s->span_id, FW_SPAN_ID_LEN))
                __builtin_trap();
            sink += touch_str(s->name) + touch_str(s->resource->service_name) +
                    touch_str(s->scope->name) + touch_attrs(&s->attrs, 0) +
                    touch_attrs(&s->resource->attrs, 0);
            for (size_t e = 0; e < s->n_events; e++)
                sink += touch_str(s->events[e].name) + touch_attrs(&s->events[e].attrs, 0);
            for (size_t l = 0; l < s->n_links; l++)
                sink += touch_attrs(&s->links[l].attrs, 0);
        }
    } else if (strlen(err.detail) == 0 || !err.reason) {
        __builtin_trap(); /* every failure explains itself */
    }
    fw_arena_reset(arena);
    fw_log_batch logs;
    rv = fw_otlp_decode_logs(enc, data, size, arena, &logs, &err);
    if (rv == 0) {
        for (size_t i = 0; i < logs.n; i++) {
            const fw_log_record *r = &logs.records[i];
            if (!r->resource || !r->scope)
                __builtin_trap();
            sink += touch_value(&r->body, 1) + touch_attrs(&r->attrs, 0) +
                    touch_str(r->severity_text) + touch_str(r->event_name);
        }
    } else if (strlen(err.detail) == 0 || !err.reason) {
        __builtin_trap();
    }
    (void)sink;
    fw_arena_free(arena);
    return 0;
}

#endif
