/* otlp_wire.c - direct wire-to-model decoder of ExportTraceServiceRequest
 * (the OTLP/protobuf hot path). Runs only on bytes the pre-scan of
 * otlp_pb.c already accepted (tags, wire types, lengths, depth), copies the
 * payload once into the request arena and points the model's strings into
 * that copy, so a span costs no protobuf-c structs and no per-string
 * allocation. Gives the same model, rejects and errors as protobuf-c unpack
 * followed by otlp_model.c; for the shapes where protobuf-c would merge
 * (a singular message or oneof member that occurs twice) it declines with
 * FW__OTLP_WIRE_FALLBACK and the caller takes that slower, general path. */
#include <string.h>

#include "flywheel/limits.h"
#include "flywheel/otlp.h"
#include "otlp_internal.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* SPEC 3.1: reasons for rejecting single spans (same strings as otlp_model.c). */
#define REJECT_TRACE_ID "invalid trace_id"
#define REJECT_SPAN_ID "invalid span_id"
#define REJECT_PARENT_SPAN_ID "invalid parent_span_id"

typedef struct wire {
    fw_arena *arena;
    fw_parse_error *err;
    const uint8_t *src;  /* the caller's payload */
    const uint8_t *copy; /* its copy in the arena: strings point here */
} wire;

/* One field of a message body: number, wire type and value. */
typedef struct wfield {
    uint32_t num;
    int wt;
    uint64_t v;       /* VARINT, I64, I32 */
    const uint8_t *b; /* LEN: body */
    size_t len;
} wfield;

static inline __attribute__((always_inline)) const uint8_t *rd_varint(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    if (p < end && !(p[0] & 0x80)) {
        *out = p[0];
        return p + 1;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < 10 && p + i < end; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return p + i + 1;
        }
    }
    return NULL;
}

static inline uint64_t rd_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Next field of [*pp, end): 1 with |f| set, 0 at the end, -1 when the bytes
 * are not what the pre-scan accepted (cannot happen; declined anyway). */
static inline __attribute__((always_inline)) int wnext(const uint8_t **pp, const uint8_t *end, wfield *f)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    uint64_t key;
    if (!(p = rd_varint(p, end, &key)))
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->v = 0;
    f->b = NULL;
    f->len = 0;
    switch (f->wt) {
    case WT_VARINT:
        if (!(p = rd_varint(p, end, &f->v)))
            return -1;
        break;
    case WT_I64:
        if ((size_t)(end - p) < 8)
            return -1;
        f->v = rd_le(p, 8);
        p += 8;
        break;
    case WT_I32:
        if ((size_t)(end - p) < 4)
            return -1;
        f->v = rd_le(p, 4);
        p += 4;
        break;
    case WT_LEN: {
        uint64_t len;
        if (!(p = rd_varint(p, end, &len)) || len > (uint64_t)(end - p))
            return -1;
        f->b = p;
        f->len = (size_t)len;
        p += len;
        break;
    }
    default:
        return -1;
    }
    *pp = p;
    return 1;
}

/* Occurrences of length-delimited field |num| in a body. */
static size_t wcount(const uint8_t *b, size_t len, uint32_t num)
{
    const uint8_t *p = b, *end = b + len;
    wfield f;
    size_t n = 0;
    int r;
    while ((r = wnext(&p, end, &f)) > 0)
        if (f.num == num && f.wt == WT_LEN)
            n++;
    return n;
}

static int w_nomem(wire *w)
{
    fw__otlp_error(w->err, FW_OTLP_REASON_NOMEM,
                   "request needs more decode memory than allowed (%zu bytes used)",
                   fw_arena_used(w->arena));
    return FW_ERR_NOMEM;
}

/* protobuf-c strings are NUL-terminated copies and the converter measured
 * them with strlen: a string ends at its first NUL byte. Points into the
 * arena copy of the payload. */
static inline fw_str w_text(const wire *w, const wfield *f)
{
    const uint8_t *nul = memchr(f->b, 0, f->len);
    size_t n = nul ? (size_t)(nul - f->b) : f->len;
    return (fw_str){(const char *)(w->copy + (f->b - w->src)), n};
}

/* conv_str of otlp_model.c: empty means absent. */
static inline fw_str w_opt_text(const wire *w, const wfield *f)
{
    fw_str s = w_text(w, f);
    return s.len ? s : FW_STR_NULL;
}

static int w_attrs(wire *w, const uint8_t *b, size_t len, uint32_t num, fw_attrs *out,
                   unsigned depth);

static int w_value(wire *w, const uint8_t *b, size_t len, fw_value *out, unsigned depth)
{
    memset(out, 0, sizeof(*out));
    if (depth > FW_LIMIT_ANYVALUE_DEPTH) {
        fw__otlp_error(w->err, FW_OTLP_REASON_PB,
                       "attribute value (AnyValue) nested deeper than %u levels",
                       FW_LIMIT_ANYVALUE_DEPTH);
        return FW_ERR_INVALID;
    }
    const uint8_t *p = b, *end = b + len;
    wfield f;
    int r, rv;
    bool seen = false;
    while ((r = wnext(&p, end, &f)) > 0) {
        if (f.num < 1 || f.num > 7)
            continue;
        if (seen)
            return FW__OTLP_WIRE_FALLBACK; /* oneof set twice: protobuf-c merges */
        seen = true;
        bool want_len = f.num == 1 || f.num >= 5;
        if ((f.wt == WT_LEN) != want_len || (f.num == 4 && f.wt != WT_I64))
            return FW__OTLP_WIRE_FALLBACK; /* never after the pre-scan */
        switch (f.num) {
        case 1:
            out->type = FW_VALUE_STRING;
            out->u.str = w_text(w, &f);
            break;
        case 2:
            out->type = FW_VALUE_BOOL;
            out->u.boolean = f.v != 0;
            break;
        case 3:
            out->type = FW_VALUE_INT;
            out->u.i64 = (int64_t)f.v;
            break;
        case 4:
            out->type = FW_VALUE_DOUBLE;
            memcpy(&out->u.f64, &f.v, sizeof(out->u.f64));
            break;
        case 5: {
            out->type = FW_VALUE_ARRAY;
            size_t n = wcount(f.b, f.len, 1);
            if (n == 0)
                break;
            fw_value *items = fw_arena_alloc(w->arena, n * sizeof(*items));
            if (!items)
                return w_nomem(w);
            const uint8_t *q = f.b, *qend = f.b + f.len;
            wfield g;
            size_t k = 0;
            while (wnext(&q, qend, &g) > 0) {
                if (g.num != 1 || g.wt != WT_LEN)
                    continue;
                if ((rv = w_value(w, g.b, g.len, &items[k], depth + 1)))
                    return rv;
                k++;
            }
            out->u.array.items = items;
            out->u.array.n = k;
            break;
        }
        case 6: {
            out->type = FW_VALUE_KVLIST;
            fw_attrs kv;
            if ((rv = w_attrs(w, f.b, f.len, 1, &kv, depth + 1)))
                return rv;
            out->u.kvlist.items = kv.items;
            out->u.kvlist.n = kv.n;
            break;
        }
        case 7:
            out->type = FW_VALUE_BYTES;
            out->u.str = (fw_str){f.len ? (const char *)(w->copy + (f.b - w->src)) : NULL, f.len};
            break;
        default:
            break;
        }
    }
    return r < 0 ? FW__OTLP_WIRE_FALLBACK : 0;
}

/* The |n| KeyValue elements (field |num|) of a body. */
static int w_attrs_n(wire *w, const uint8_t *b, size_t len, uint32_t num, size_t n, fw_attrs *out,
                     unsigned depth)
{
    out->items = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    fw_attr *items = fw_arena_alloc(w->arena, n * sizeof(*items));
    if (!items)
        return w_nomem(w);
    const uint8_t *p = b, *end = b + len;
    wfield f;
    size_t k = 0;
    int rv;
    while (wnext(&p, end, &f) > 0) {
        if (f.num != num || f.wt != WT_LEN)
            continue;
        fw_attr *a = &items[k++];
        a->key = (fw_str){"", 0};
        memset(&a->value, 0, sizeof(a->value));
        const uint8_t *q = f.b, *qend = f.b + f.len;
        const uint8_t *vb = NULL;
        size_t vlen = 0;
        wfield g;
        int r;
        while ((r = wnext(&q, qend, &g)) > 0) {
            if (g.wt != WT_LEN)
                continue;
            if (g.num == 1) {
                a->key = w_text(w, &g);
            } else if (g.num == 2) {
                if (vb)
                    return FW__OTLP_WIRE_FALLBACK; /* value twice: protobuf-c merges */
                vb = g.b;
                vlen = g.len;
            }
        }
        if (r < 0)
            return FW__OTLP_WIRE_FALLBACK;
        if (vb && (rv = w_value(w, vb, vlen, &a->value, depth)))
            return rv;
    }
    out->items = items;
    out->n = k;
    return 0;
}

/* The KeyValue elements (field |num|) of a body. */
static int w_attrs(wire *w, const uint8_t *b, size_t len, uint32_t num, fw_attrs *out,
                   unsigned depth)
{
    return w_attrs_n(w, b, len, num, wcount(b, len, num), out, depth);
}

static int w_resource(wire *w, const uint8_t *b, size_t len, const wfield *schema,
                      fw_resource **out)
{
    fw_resource *r = fw_arena_calloc(w->arena, 1, sizeof(*r));
    if (!r)
        return w_nomem(w);
    if (b) {
        int rv = w_attrs(w, b, len, 1, &r->attrs, 1);
        if (rv)
            return rv;
        const uint8_t *p = b, *end = b + len;
        wfield f;
        while (wnext(&p, end, &f) > 0)
            if (f.num == 2 && f.wt == WT_VARINT)
                r->dropped_attributes_count = (uint32_t)f.v;
    }
    r->schema_url = schema ? w_opt_text(w, schema) : FW_STR_NULL;
    fw__otlp_resource_names(r);
    *out = r;
    return 0;
}

static int w_scope(wire *w, const uint8_t *b, size_t len, const wfield *schema, fw_scope **out)
{
    fw_scope *s = fw_arena_calloc(w->arena, 1, sizeof(*s));
    if (!s)
        return w_nomem(w);
    if (b) {
        const uint8_t *p = b, *end = b + len;
        wfield f;
        while (wnext(&p, end, &f) > 0) {
            if (f.num == 1 && f.wt == WT_LEN)
                s->name = w_opt_text(w, &f);
            else if (f.num == 2 && f.wt == WT_LEN)
                s->version = w_opt_text(w, &f);
            else if (f.num == 4 && f.wt == WT_VARINT)
                s->dropped_attributes_count = (uint32_t)f.v;
        }
        int rv = w_attrs(w, b, len, 3, &s->attrs, 1);
        if (rv)
            return rv;
    }
    s->schema_url = schema ? w_opt_text(w, schema) : FW_STR_NULL;
    *out = s;
    return 0;
}

static bool id_ok(const wfield *f, size_t want)
{
    return f && f->len == want && !fw_id_is_zero(f->b, want);
}

static int w_event(wire *w, const uint8_t *b, size_t len, fw_span_event *oe)
{
    memset(oe, 0, sizeof(*oe));
    const uint8_t *p = b, *end = b + len;
    wfield f;
    while (wnext(&p, end, &f) > 0) {
        if (f.num == 1 && f.wt == WT_I64)
            oe->time_ns = f.v;
        else if (f.num == 2 && f.wt == WT_LEN)
            oe->name = w_opt_text(w, &f);
        else if (f.num == 4 && f.wt == WT_VARINT)
            oe->dropped_attributes_count = (uint32_t)f.v;
    }
    return w_attrs(w, b, len, 3, &oe->attrs, 1);
}

/* 1 when the link has valid ids and was written to |ol|, 0 when dropped. */
static int w_link(wire *w, const uint8_t *b, size_t len, fw_span_link *ol, int *rv)
{
    const uint8_t *p = b, *end = b + len;
    wfield f, tid = {0}, sid = {0}, ts = {0};
    bool has_tid = false, has_sid = false, has_ts = false;
    uint32_t dropped = 0, flags = 0;
    while (wnext(&p, end, &f) > 0) {
        switch (f.num) {
        case 1: if (f.wt == WT_LEN) { tid = f; has_tid = true; } break;
        case 2: if (f.wt == WT_LEN) { sid = f; has_sid = true; } break;
        case 3: if (f.wt == WT_LEN) { ts = f; has_ts = true; } break;
        case 5: if (f.wt == WT_VARINT) dropped = (uint32_t)f.v; break;
        case 6: if (f.wt == WT_I32) flags = (uint32_t)f.v; break;
        default: break;
        }
    }
    *rv = 0;
    if (!id_ok(has_tid ? &tid : NULL, FW_TRACE_ID_LEN) ||
        !id_ok(has_sid ? &sid : NULL, FW_SPAN_ID_LEN))
        return 0;
    memset(ol, 0, sizeof(*ol));
    memcpy(ol->trace_id, tid.b, FW_TRACE_ID_LEN);
    memcpy(ol->span_id, sid.b, FW_SPAN_ID_LEN);
    ol->trace_state = has_ts ? w_opt_text(w, &ts) : FW_STR_NULL;
    ol->dropped_attributes_count = dropped;
    ol->flags = flags;
    *rv = w_attrs(w, b, len, 4, &ol->attrs, 1);
    return 1;
}

/* One span: NULL |why| and 0 when decoded into |out|; |why| set when its
 * ids are invalid (nothing else looked at, like the converter). */
static int w_span(wire *w, const uint8_t *b, size_t len, fw_span *out, const char **why)
{
    const uint8_t *p = b, *end = b + len;
    wfield f, tid = {0}, sid = {0}, pid = {0};
    bool has_tid = false, has_sid = false, has_pid = false, has_status = false;
    const uint8_t *status_b = NULL;
    size_t status_len = 0, n_events = 0, n_links = 0, n_attrs = 0;
    fw_span s;
    memset(&s, 0, sizeof(s));
    *why = NULL;
    while (wnext(&p, end, &f) > 0) {
        switch (f.num) {
        case 1: if (f.wt == WT_LEN) { tid = f; has_tid = true; } break;
        case 2: if (f.wt == WT_LEN) { sid = f; has_sid = true; } break;
        case 3: if (f.wt == WT_LEN) s.trace_state = w_opt_text(w, &f); break;
        case 4: if (f.wt == WT_LEN) { pid = f; has_pid = true; } break;
        case 5: if (f.wt == WT_LEN) s.name = w_opt_text(w, &f); break;
        case 6: if (f.wt == WT_VARINT) { int32_t k = (int32_t)(uint32_t)f.v;
                    s.kind = (k >= 0 && k <= 5) ? (fw_span_kind)k : FW_SPAN_KIND_UNSPECIFIED; } break;
        case 7: if (f.wt == WT_I64) s.start_ns = f.v; break;
        case 8: if (f.wt == WT_I64) s.end_ns = f.v; break;
        case 9: if (f.wt == WT_LEN) n_attrs++; break;
        case 10: if (f.wt == WT_VARINT) s.dropped_attributes_count = (uint32_t)f.v; break;
        case 11: if (f.wt == WT_LEN) n_events++; break;
        case 12: if (f.wt == WT_VARINT) s.dropped_events_count = (uint32_t)f.v; break;
        case 13: if (f.wt == WT_LEN) n_links++; break;
        case 14: if (f.wt == WT_VARINT) s.dropped_links_count = (uint32_t)f.v; break;
        case 15:
            if (f.wt == WT_LEN) {
                if (has_status)
                    return FW__OTLP_WIRE_FALLBACK; /* status twice: protobuf-c merges */
                has_status = true;
                status_b = f.b;
                status_len = f.len;
            }
            break;
        case 16: if (f.wt == WT_I32) s.flags = (uint32_t)f.v; break;
        default: break;
        }
    }
    if (!id_ok(has_tid ? &tid : NULL, FW_TRACE_ID_LEN)) {
        *why = REJECT_TRACE_ID;
        return 0;
    }
    if (!id_ok(has_sid ? &sid : NULL, FW_SPAN_ID_LEN)) {
        *why = REJECT_SPAN_ID;
        return 0;
    }
    if (has_pid && pid.len != 0 && pid.len != FW_SPAN_ID_LEN) {
        *why = REJECT_PARENT_SPAN_ID;
        return 0;
    }
    memcpy(s.trace_id, tid.b, FW_TRACE_ID_LEN);
    memcpy(s.span_id, sid.b, FW_SPAN_ID_LEN);
    if (has_pid && pid.len == FW_SPAN_ID_LEN && !fw_id_is_zero(pid.b, FW_SPAN_ID_LEN)) {
        memcpy(s.parent_span_id, pid.b, FW_SPAN_ID_LEN);
        s.has_parent = true;
    }
    int rv = w_attrs_n(w, b, len, 9, n_attrs, &s.attrs, 1);
    if (rv)
        return rv;
    if (n_events) {
        s.events = fw_arena_alloc(w->arena, n_events * sizeof(*s.events));
        if (!s.events)
            return w_nomem(w);
    }
    if (n_links) {
        s.links = fw_arena_alloc(w->arena, n_links * sizeof(*s.links));
        if (!s.links)
            return w_nomem(w);
    }
    /* Events, then links, in order, as the converter does. */
    if (n_events) {
        p = b;
        while (wnext(&p, end, &f) > 0) {
            if (f.num == 11 && f.wt == WT_LEN) {
                if ((rv = w_event(w, f.b, f.len, &s.events[s.n_events])))
                    return rv;
                s.n_events++;
            }
        }
    }
    if (n_links) {
        p = b;
        while (wnext(&p, end, &f) > 0) {
            if (f.num == 13 && f.wt == WT_LEN) {
                if (w_link(w, f.b, f.len, &s.links[s.n_links], &rv))
                    s.n_links++;
                else
                    s.dropped_links_count++; /* a link to nothing: dropped */
                if (rv)
                    return rv;
            }
        }
    }
    if (has_status) {
        p = status_b;
        end = status_b + status_len;
        while (wnext(&p, end, &f) > 0) {
            if (f.num == 2 && f.wt == WT_LEN) {
                s.status_message = w_opt_text(w, &f);
            } else if (f.num == 3 && f.wt == WT_VARINT) {
                int32_t code = (int32_t)(uint32_t)f.v;
                s.status_code = (code >= 0 && code <= 2) ? (fw_status_code)code : FW_STATUS_UNSET;
            }
        }
    }
    *out = s;
    return 0;
}

/* Declines (FALLBACK) requests where a ResourceSpans holds its resource or
 * schema twice, or a ScopeSpans its scope twice: protobuf-c merges those. */
static bool singular_once(const uint8_t *b, size_t len, uint32_t num)
{
    return wcount(b, len, num) <= 1;
}

int fw__otlp_wire_traces(const uint8_t *p, size_t n, fw_arena *arena, fw_span_batch *out,
                         fw_parse_error *err)
{
    static const uint8_t empty[1] = {0};
    if (!p || n == 0) {
        p = empty;
        n = 0;
    }
    wire w = {arena, err, p, NULL};
    const uint8_t *end = p + n;
    wfield f;
    int r;
    size_t total = 0;

    /* Pass 1: count spans (for one exact array) and decline merge shapes. */
    const uint8_t *q = p;
    while ((r = wnext(&q, end, &f)) > 0) {
        if (f.num != 1 || f.wt != WT_LEN)
            continue;
        if (!singular_once(f.b, f.len, 1))
            return FW__OTLP_WIRE_FALLBACK;
        const uint8_t *q2 = f.b, *e2 = f.b + f.len;
        wfield g;
        while (wnext(&q2, e2, &g) > 0) {
            if (g.num != 2 || g.wt != WT_LEN)
                continue;
            if (!singular_once(g.b, g.len, 1))
                return FW__OTLP_WIRE_FALLBACK;
            total += wcount(g.b, g.len, 2);
        }
    }
    if (r < 0)
        return FW__OTLP_WIRE_FALLBACK;
    if (n) {
        uint8_t *copy = fw_arena_alloc(arena, n);
        if (!copy)
            return w_nomem(&w);
        memcpy(copy, p, n);
        w.copy = copy;
    }
    if (total) {
        out->spans = fw_arena_alloc(arena, total * sizeof(*out->spans));
        if (!out->spans)
            return w_nomem(&w);
    }

    /* Pass 2: resource spans in order; a resource is converted once, on
     * its first scope with spans. */
    q = p;
    while (wnext(&q, end, &f) > 0) {
        if (f.num != 1 || f.wt != WT_LEN)
            continue;
        const uint8_t *rb = NULL;
        size_t rlen = 0;
        wfield rschema;
        bool has_rschema = false;
        const uint8_t *q2 = f.b, *e2 = f.b + f.len;
        wfield g;
        while (wnext(&q2, e2, &g) > 0) {
            if (g.wt != WT_LEN)
                continue;
            if (g.num == 1) {
                rb = g.b;
                rlen = g.len;
            } else if (g.num == 3) {
                rschema = g; /* last one wins, as protobuf-c does for strings */
                has_rschema = true;
            }
        }
        fw_resource *res = NULL;
        q2 = f.b;
        while (wnext(&q2, e2, &g) > 0) {
            if (g.num != 2 || g.wt != WT_LEN)
                continue;
            const uint8_t *sb = NULL;
            size_t slen = 0, nsp = 0;
            wfield sschema;
            bool has_sschema = false;
            const uint8_t *q3 = g.b, *e3 = g.b + g.len;
            wfield h;
            while (wnext(&q3, e3, &h) > 0) {
                if (h.wt != WT_LEN)
                    continue;
                if (h.num == 1) {
                    sb = h.b;
                    slen = h.len;
                } else if (h.num == 2) {
                    nsp++;
                } else if (h.num == 3) {
                    sschema = h;
                    has_sschema = true;
                }
            }
            if (nsp == 0)
                continue;
            int rv;
            if (!res &&
                (rv = w_resource(&w, rb, rlen, has_rschema ? &rschema : NULL, &res)))
                return rv;
            fw_scope *scope;
            if ((rv = w_scope(&w, sb, slen, has_sschema ? &sschema : NULL, &scope)))
                return rv;
            q3 = g.b;
            while (wnext(&q3, e3, &h) > 0) {
                if (h.num != 2 || h.wt != WT_LEN)
                    continue;
                const char *why;
                fw_span *o = &out->spans[out->n];
                if ((rv = w_span(&w, h.b, h.len, o, &why)))
                    return rv;
                if (why) {
                    if (!out->rejected)
                        out->reject_reason = why;
                    out->rejected++;
                    continue;
                }
                o->resource = res;
                o->scope = scope;
                out->n++;
            }
        }
    }
    return 0;
}
