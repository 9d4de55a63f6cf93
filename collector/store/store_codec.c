/* store_codec.c - the compact span record: encoding a fw_span into bytes
 * (ids from the string dictionary for repeated strings, varints for
 * numbers) and decoding it back into a fw_span in an arena. The layout is
 * in store_internal.h. The decoder checks every length against the record,
 * so a damaged record yields FW_ERR_INVALID, never a wild read. No locks,
 * no state beyond the dictionary and the admission filter it is handed. */
#include "store_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Value tags (low 3 bits of a value's leading varint). */
enum {
    VT_EMPTY = 0,
    VT_STR_ID = 1,
    VT_STR_INLINE = 2,
    VT_BOOL = 3,
    VT_INT = 4,  /* payload: zigzag */
    VT_WIDE = 5, /* payload 0: double, 1: int64; 8 raw bytes follow */
    VT_BYTES = 6,
    VT_LIST = 7  /* payload: n << 1 | is_kvlist */
};

/* ---- varints ---- */

size_t fw__store_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t fw__store_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80u) {
        p[n++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

bool fw__store_varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return false;
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7fu) << shift;
        if (!(b & 0x80u)) {
            *v = r;
            *pp = p;
            return true;
        }
    }
    return false;
}

/* fw__store_varint_get with the one-byte case inline (record headers are
 * parsed on every trace-index probe). */
static inline bool vget(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && !(*p & 0x80u)) {
        *v = *p;
        *pp = p + 1;
        return true;
    }
    return fw__store_varint_get(pp, end, v);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1u);
}

/* ---- output buffer ---- */

static int out_reserve(store_out *o, size_t extra)
{
    if (extra <= o->cap - o->len)
        return 0;
    if (extra > o->max - o->len)
        return FW_ERR_TOO_LARGE;
    size_t ncap = o->cap ? o->cap : 4096u;
    while (ncap - o->len < extra)
        ncap = ncap > o->max / 2u ? o->max : ncap * 2u;
    uint8_t *nd = realloc(o->data, ncap);
    if (!nd)
        return FW_ERR_NOMEM;
    o->data = nd;
    o->cap = ncap;
    return 0;
}

/* The hot path of the encoder: room checked inline, one-byte varints
 * written directly (most tags, counts and small numbers). */
static inline int put_varint(store_out *o, uint64_t v)
{
    if (o->cap - o->len < 10u) {
        int rv = out_reserve(o, 10);
        if (rv)
            return rv;
    }
    if (v < 0x80u) {
        o->data[o->len++] = (uint8_t)v;
        return 0;
    }
    o->len += fw__store_varint_put(o->data + o->len, v);
    return 0;
}

static inline int put_bytes(store_out *o, const void *p, size_t n)
{
    if (o->cap - o->len < n) {
        int rv = out_reserve(o, n);
        if (rv)
            return rv;
    }
    if (n)
        memcpy(o->data + o->len, p, n);
    o->len += n;
    return 0;
}

/* ---- strings ---- */

static uint64_t seen_hash(uint64_t seed, fw_str s)
{
    uint64_t h = seed ^ (s.len * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t v;
        memcpy(&v, s.ptr + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    if (s.len > i)
        memcpy(&tail, s.ptr + i, s.len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 32);
}

/* The dictionary id to store |s| as, or FW_INTERN_NONE to store it inline.
 * Strings already in the dictionary always use it; new ones are added when
 * |always| (span names: RED interns them anyway), or on their second
 * sighting, so that one-off values (urls with ids, payloads) never fill
 * the dictionary. */
static uint32_t choose_id(const store_strpolicy *pol, fw_str s, bool always)
{
    if (!pol->intern || s.len > FW_INTERN_MAX_LEN)
        return FW_INTERN_NONE;
    /* The batch's cache answers what the dictionary would (ids are stable);
     * only strings that got an id are cached. */
    uint32_t id = FW_INTERN_NONE, cslot = 0;
    if (pol->cache) {
        cslot = fw_intern_cache_slot(pol->cache, s, &id);
        if (id != FW_INTERN_NONE)
            return id;
    }
    id = fw_intern_find(pol->intern, s);
    if (id == FW_INTERN_NONE) {
        if (!always) {
            if (!pol->seen)
                return FW_INTERN_NONE;
            uint64_t h = seen_hash(pol->seed, s);
            uint32_t tag = (uint32_t)(h >> 32) | 1u;
            _Atomic uint32_t *slot = &pol->seen[h & pol->seen_mask];
            if (atomic_load_explicit(slot, memory_order_relaxed) != tag) {
                atomic_store_explicit(slot, tag, memory_order_relaxed);
                return FW_INTERN_NONE;
            }
        }
        id = fw_intern_id(pol->intern, s);
    }
    if (pol->cache)
        fw_intern_cache_put(pol->cache, cslot, s, id);
    return id;
}

static int put_strref(store_out *o, const store_strpolicy *pol, fw_str s, bool always)
{
    if (!s.ptr)
        s = (fw_str){"", 0};
    uint32_t id = choose_id(pol, s, always);
    if (id != FW_INTERN_NONE)
        return put_varint(o, (uint64_t)id << 1);
    int rv = put_varint(o, ((uint64_t)s.len << 1) | 1u);
    return rv ? rv : put_bytes(o, s.ptr, s.len);
}

/* ---- values ---- */

static int put_attrs(store_out *o, const store_strpolicy *pol, const fw_attr *items, size_t n,
                     unsigned depth);

static int put_value(store_out *o, const store_strpolicy *pol, const fw_value *v, unsigned depth)
{
    int rv;
    switch (v->type) {
    case FW_VALUE_STRING: {
        fw_str s = v->u.str.ptr ? v->u.str : (fw_str){"", 0};
        uint32_t id = choose_id(pol, s, false);
        if (id != FW_INTERN_NONE)
            return put_varint(o, ((uint64_t)id << 3) | VT_STR_ID);
        rv = put_varint(o, ((uint64_t)s.len << 3) | VT_STR_INLINE);
        return rv ? rv : put_bytes(o, s.ptr, s.len);
    }
    case FW_VALUE_BYTES:
        rv = put_varint(o, ((uint64_t)v->u.str.len << 3) | VT_BYTES);
        return rv ? rv : put_bytes(o, v->u.str.ptr, v->u.str.ptr ? v->u.str.len : 0);
    case FW_VALUE_BOOL:
        return put_varint(o, ((uint64_t)(v->u.boolean ? 1u : 0u) << 3) | VT_BOOL);
    case FW_VALUE_INT: {
        uint64_t z = zigzag(v->u.i64);
        if (z < (1ull << 60))
            return put_varint(o, (z << 3) | VT_INT);
        rv = put_varint(o, (1u << 3) | VT_WIDE);
        return rv ? rv : put_bytes(o, &v->u.i64, 8);
    }
    case FW_VALUE_DOUBLE:
        rv = put_varint(o, VT_WIDE);
        return rv ? rv : put_bytes(o, &v->u.f64, 8);
    case FW_VALUE_ARRAY: {
        if (depth >= STORE_MAX_VALUE_DEPTH)
            return put_varint(o, VT_EMPTY);
        size_t n = v->u.array.items ? v->u.array.n : 0;
        rv = put_varint(o, ((uint64_t)n << 4) | VT_LIST);
        for (size_t i = 0; !rv && i < n; i++)
            rv = put_value(o, pol, &v->u.array.items[i], depth + 1u);
        return rv;
    }
    case FW_VALUE_KVLIST: {
        if (depth >= STORE_MAX_VALUE_DEPTH)
            return put_varint(o, VT_EMPTY);
        size_t n = v->u.kvlist.items ? v->u.kvlist.n : 0;
        rv = put_varint(o, ((uint64_t)n << 4) | (1u << 3) | VT_LIST);
        for (size_t i = 0; !rv && i < n; i++) {
            rv = put_strref(o, pol, v->u.kvlist.items[i].key, false);
            if (!rv)
                rv = put_value(o, pol, &v->u.kvlist.items[i].value, depth + 1u);
        }
        return rv;
    }
    default:
        return put_varint(o, VT_EMPTY);
    }
}

static int put_attrs(store_out *o, const store_strpolicy *pol, const fw_attr *items, size_t n,
                     unsigned depth)
{
    if (!items)
        n = 0;
    int rv = put_varint(o, n);
    for (size_t i = 0; !rv && i < n; i++) {
        rv = put_strref(o, pol, items[i].key, false);
        if (!rv)
            rv = put_value(o, pol, &items[i].value, depth);
    }
    return rv;
}

int fw__store_encode_body(store_out *o, const store_strpolicy *pol, const fw_span *sp,
                          const fw_span_class *cls, uint32_t name_id, uint16_t *flags_out)
{
    unsigned flags = ((unsigned)sp->kind & STORE_F_KIND_MASK) |
                     (((unsigned)sp->status_code << STORE_F_STATUS_SHIFT) & STORE_F_STATUS_MASK);
    uint64_t dur;
    if (sp->end_ns >= sp->start_ns) {
        dur = sp->end_ns - sp->start_ns;
    } else {
        dur = sp->start_ns - sp->end_ns;
        flags |= STORE_F_NEGDUR;
    }
    int rv = put_varint(o, dur);
    if (!rv) {
        /* A name id the caller already has saves the lookup. */
        rv = name_id != FW_INTERN_NONE ? put_varint(o, (uint64_t)name_id << 1)
                                       : put_strref(o, pol, sp->name, true);
    }
    if (!rv && cls) {
        if (cls->is_fault)
            flags |= STORE_F_FAULT;
        if (cls->is_client_error)
            flags |= STORE_F_CLIENT;
        if (cls->is_throttled)
            flags |= STORE_F_THROTTLED;
        if (cls->http_status >= 0) {
            flags |= STORE_F_HTTP;
            rv = put_varint(o, (uint64_t)cls->http_status);
        }
    }
    if (!rv)
        rv = put_bytes(o, sp->trace_id, FW_TRACE_ID_LEN);
    if (!rv)
        rv = put_bytes(o, sp->span_id, FW_SPAN_ID_LEN);
    if (!rv && sp->has_parent) {
        flags |= STORE_F_PARENT;
        rv = put_bytes(o, sp->parent_span_id, FW_SPAN_ID_LEN);
    }
    if (!rv && sp->flags) {
        flags |= STORE_F_WFLAGS;
        rv = put_varint(o, sp->flags);
    }
    if (!rv && sp->trace_state.ptr) {
        flags |= STORE_F_TSTATE;
        rv = put_strref(o, pol, sp->trace_state, false);
    }
    if (!rv && sp->status_message.ptr) {
        flags |= STORE_F_SMSG;
        rv = put_strref(o, pol, sp->status_message, false);
    }
    if (!rv && (sp->dropped_attributes_count || sp->dropped_events_count || sp->dropped_links_count)) {
        flags |= STORE_F_DROPPED;
        rv = put_varint(o, sp->dropped_attributes_count);
        if (!rv)
            rv = put_varint(o, sp->dropped_events_count);
        if (!rv)
            rv = put_varint(o, sp->dropped_links_count);
    }
    if (!rv)
        rv = put_attrs(o, pol, sp->attrs.items, sp->attrs.n, 0);
    size_t ne = sp->events ? sp->n_events : 0, nl = sp->links ? sp->n_links : 0;
    if (!rv && (ne || nl)) {
        flags |= STORE_F_EXTRA;
        rv = put_varint(o, ne);
        for (size_t i = 0; !rv && i < ne; i++) {
            const fw_span_event *e = &sp->events[i];
            rv = put_varint(o, zigzag((int64_t)(e->time_ns - sp->start_ns)));
            if (!rv)
                rv = put_strref(o, pol, e->name, false);
            if (!rv)
                rv = put_attrs(o, pol, e->attrs.items, e->attrs.n, 0);
            if (!rv)
                rv = put_varint(o, e->dropped_attributes_count);
        }
        if (!rv)
            rv = put_varint(o, nl);
        for (size_t i = 0; !rv && i < nl; i++) {
            const fw_span_link *l = &sp->links[i];
            rv = put_bytes(o, l->trace_id, FW_TRACE_ID_LEN);
            if (!rv)
                rv = put_bytes(o, l->span_id, FW_SPAN_ID_LEN);
            /* 0 = no trace state, else strref + 1 */
            if (!rv)
                rv = put_varint(o, l->trace_state.ptr ? 1u : 0u);
            if (!rv && l->trace_state.ptr)
                rv = put_strref(o, pol, l->trace_state, false);
            if (!rv)
                rv = put_attrs(o, pol, l->attrs.items, l->attrs.n, 0);
            if (!rv)
                rv = put_varint(o, l->dropped_attributes_count);
            if (!rv)
                rv = put_varint(o, l->flags);
        }
    }
    *flags_out = (uint16_t)flags;
    return rv;
}

/* ---- parse ---- */

bool fw__store_rec_parse(const uint8_t *p, const uint8_t *limit, uint64_t base_ns, store_rec *r)
{
    const uint8_t *start = p;
    uint64_t size, v;
    if (!vget(&p, limit, &size) || size > (uint64_t)(limit - p))
        return false;
    const uint8_t *end = p + size;
    r->end = end;
    r->size = (uint32_t)(end - start);
    if (end - p < 2)
        return false;
    r->flags = (uint16_t)(p[0] | (p[1] << 8));
    p += 2;
    if (!vget(&p, end, &v) || v > UINT32_MAX)
        return false;
    r->origin = (uint32_t)v;
    if (!vget(&p, end, &r->prev_delta))
        return false;
    if (!vget(&p, end, &v))
        return false;
    r->start_ns = base_ns + (uint64_t)unzigzag(v);
    if (!vget(&p, end, &v))
        return false;
    r->end_ns = (r->flags & STORE_F_NEGDUR) ? r->start_ns - v : r->start_ns + v;
    if (!vget(&p, end, &r->name_ref))
        return false;
    r->name_ptr = NULL;
    if (r->name_ref & 1u) {
        if ((r->name_ref >> 1) > (uint64_t)(end - p))
            return false;
        r->name_ptr = p;
        p += r->name_ref >> 1;
    }
    r->http_status = -1;
    if (r->flags & STORE_F_HTTP) {
        if (!vget(&p, end, &v) || v > INT32_MAX)
            return false;
        r->http_status = (int32_t)v;
    }
    size_t ids = FW_TRACE_ID_LEN + FW_SPAN_ID_LEN + ((r->flags & STORE_F_PARENT) ? FW_SPAN_ID_LEN : 0);
    if ((size_t)(end - p) < ids)
        return false;
    r->trace_id = p;
    r->span_id = p + FW_TRACE_ID_LEN;
    r->parent_id = (r->flags & STORE_F_PARENT) ? p + FW_TRACE_ID_LEN + FW_SPAN_ID_LEN : NULL;
    r->rest = p + ids;
    return true;
}

/* ---- decode ---- */

typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    fw_intern *intern;
    fw_arena *arena;
    int err;
} reader;

static uint64_t get_varint(reader *rd)
{
    uint64_t v = 0;
    if (!rd->err && !fw__store_varint_get(&rd->p, rd->end, &v))
        rd->err = FW_ERR_INVALID;
    return rd->err ? 0 : v;
}

/* Inline bytes as a NUL-terminated arena copy. */
static fw_str get_inline(reader *rd, uint64_t len)
{
    if (rd->err)
        return FW_STR_NULL;
    if (len > (uint64_t)(rd->end - rd->p)) {
        rd->err = FW_ERR_INVALID;
        return FW_STR_NULL;
    }
    char *s = fw_arena_strndup(rd->arena, (const char *)rd->p, (size_t)len);
    if (!s) {
        rd->err = FW_ERR_NOMEM;
        return FW_STR_NULL;
    }
    rd->p += len;
    return (fw_str){s, (size_t)len};
}

static fw_str get_id_str(reader *rd, uint64_t id)
{
    fw_str s = id <= UINT32_MAX ? fw_intern_str(rd->intern, (uint32_t)id) : FW_STR_NULL;
    if (!s.ptr && !rd->err)
        rd->err = FW_ERR_INVALID;
    return s;
}

static fw_str get_strref(reader *rd)
{
    uint64_t ref = get_varint(rd);
    if (rd->err)
        return FW_STR_NULL;
    return (ref & 1u) ? get_inline(rd, ref >> 1) : get_id_str(rd, ref >> 1);
}

/* A count of items that each take at least one byte of what is left. */
static size_t get_count(reader *rd)
{
    uint64_t n = get_varint(rd);
    if (!rd->err && n > (uint64_t)(rd->end - rd->p))
        rd->err = FW_ERR_INVALID;
    return rd->err ? 0 : (size_t)n;
}

static void *alloc_n(reader *rd, size_t n, size_t size)
{
    if (rd->err || n == 0)
        return NULL;
    void *p = fw_arena_calloc(rd->arena, n, size);
    if (!p)
        rd->err = FW_ERR_NOMEM;
    return p;
}

static fw_attrs get_attrs(reader *rd, unsigned depth);

static void get_value(reader *rd, fw_value *v, unsigned depth)
{
    *v = (fw_value){.type = FW_VALUE_EMPTY};
    uint64_t tag = get_varint(rd);
    if (rd->err)
        return;
    uint64_t payload = tag >> 3;
    switch (tag & 7u) {
    case VT_EMPTY:
        break;
    case VT_STR_ID:
        v->type = FW_VALUE_STRING;
        v->u.str = get_id_str(rd, payload);
        break;
    case VT_STR_INLINE:
        v->type = FW_VALUE_STRING;
        v->u.str = get_inline(rd, payload);
        break;
    case VT_BYTES:
        v->type = FW_VALUE_BYTES;
        v->u.str = get_inline(rd, payload);
        break;
    case VT_BOOL:
        v->type = FW_VALUE_BOOL;
        v->u.boolean = payload != 0;
        break;
    case VT_INT:
        v->type = FW_VALUE_INT;
        v->u.i64 = unzigzag(payload);
        break;
    case VT_WIDE:
        if (rd->end - rd->p < 8) {
            rd->err = FW_ERR_INVALID;
            break;
        }
        if (payload == 0) {
            v->type = FW_VALUE_DOUBLE;
            memcpy(&v->u.f64, rd->p, 8);
        } else {
            v->type = FW_VALUE_INT;
            memcpy(&v->u.i64, rd->p, 8);
        }
        rd->p += 8;
        break;
    case VT_LIST: {
        if (depth >= STORE_MAX_VALUE_DEPTH) {
            rd->err = FW_ERR_INVALID;
            break;
        }
        uint64_t n = payload >> 1;
        if (n > (uint64_t)(rd->end - rd->p)) {
            rd->err = FW_ERR_INVALID;
            break;
        }
        if (payload & 1u) {
            v->type = FW_VALUE_KVLIST;
            fw_attr *items = alloc_n(rd, (size_t)n, sizeof(fw_attr));
            for (size_t i = 0; !rd->err && i < n; i++) {
                items[i].key = get_strref(rd);
                get_value(rd, &items[i].value, depth + 1u);
            }
            v->u.kvlist.items = items;
            v->u.kvlist.n = items ? (size_t)n : 0;
        } else {
            v->type = FW_VALUE_ARRAY;
            fw_value *items = alloc_n(rd, (size_t)n, sizeof(fw_value));
            for (size_t i = 0; !rd->err && i < n; i++)
                get_value(rd, &items[i], depth + 1u);
            v->u.array.items = items;
            v->u.array.n = items ? (size_t)n : 0;
        }
        break;
    }
    default:
        rd->err = FW_ERR_INVALID;
        break;
    }
}

static fw_attrs get_attrs(reader *rd, unsigned depth)
{
    fw_attrs a = {NULL, 0};
    size_t n = get_count(rd);
    a.items = alloc_n(rd, n, sizeof(fw_attr));
    for (size_t i = 0; !rd->err && i < n; i++) {
        a.items[i].key = get_strref(rd);
        get_value(rd, &a.items[i].value, depth);
    }
    a.n = a.items ? n : 0;
    return a;
}

int fw__store_rec_decode(const store_rec *r, const store_origin *origin, fw_intern *intern,
                         fw_arena *a, fw_span *sp)
{
    memset(sp, 0, sizeof(*sp));
    reader rd = {r->rest, r->end, intern, a, 0};
    memcpy(sp->trace_id, r->trace_id, FW_TRACE_ID_LEN);
    memcpy(sp->span_id, r->span_id, FW_SPAN_ID_LEN);
    if (r->parent_id) {
        memcpy(sp->parent_span_id, r->parent_id, FW_SPAN_ID_LEN);
        sp->has_parent = true;
    }
    sp->kind = (fw_span_kind)(r->flags & STORE_F_KIND_MASK);
    sp->status_code = (fw_status_code)((r->flags & STORE_F_STATUS_MASK) >> STORE_F_STATUS_SHIFT);
    sp->start_ns = r->start_ns;
    sp->end_ns = r->end_ns;
    if (r->name_ref & 1u) {
        char *s = fw_arena_strndup(a, (const char *)r->name_ptr, (size_t)(r->name_ref >> 1));
        if (!s)
            return FW_ERR_NOMEM;
        sp->name = (fw_str){s, (size_t)(r->name_ref >> 1)};
    } else {
        sp->name = get_id_str(&rd, r->name_ref >> 1);
    }
    if (r->flags & STORE_F_WFLAGS)
        sp->flags = (uint32_t)get_varint(&rd);
    if (r->flags & STORE_F_TSTATE)
        sp->trace_state = get_strref(&rd);
    if (r->flags & STORE_F_SMSG)
        sp->status_message = get_strref(&rd);
    if (r->flags & STORE_F_DROPPED) {
        sp->dropped_attributes_count = (uint32_t)get_varint(&rd);
        sp->dropped_events_count = (uint32_t)get_varint(&rd);
        sp->dropped_links_count = (uint32_t)get_varint(&rd);
    }
    sp->attrs = get_attrs(&rd, 0);
    if (r->flags & STORE_F_EXTRA) {
        size_t ne = get_count(&rd);
        sp->events = alloc_n(&rd, ne, sizeof(fw_span_event));
        for (size_t i = 0; !rd.err && i < ne; i++) {
            fw_span_event *e = &sp->events[i];
            e->time_ns = r->start_ns + (uint64_t)unzigzag(get_varint(&rd));
            e->name = get_strref(&rd);
            e->attrs = get_attrs(&rd, 0);
            e->dropped_attributes_count = (uint32_t)get_varint(&rd);
        }
        sp->n_events = sp->events ? ne : 0;
        size_t nl = get_count(&rd);
        sp->links = alloc_n(&rd, nl, sizeof(fw_span_link));
        for (size_t i = 0; !rd.err && i < nl; i++) {
            fw_span_link *l = &sp->links[i];
            if (rd.end - rd.p < FW_TRACE_ID_LEN + FW_SPAN_ID_LEN) {
                rd.err = FW_ERR_INVALID;
                break;
            }
            memcpy(l->trace_id, rd.p, FW_TRACE_ID_LEN);
            memcpy(l->span_id, rd.p + FW_TRACE_ID_LEN, FW_SPAN_ID_LEN);
            rd.p += FW_TRACE_ID_LEN + FW_SPAN_ID_LEN;
            if (get_varint(&rd))
                l->trace_state = get_strref(&rd);
            l->attrs = get_attrs(&rd, 0);
            l->dropped_attributes_count = (uint32_t)get_varint(&rd);
            l->flags = (uint32_t)get_varint(&rd);
        }
        sp->n_links = sp->links ? nl : 0;
    }
    if (!rd.err && rd.p != rd.end)
        rd.err = FW_ERR_INVALID;
    sp->resource = &origin->resource;
    sp->scope = &origin->scope;
    return rd.err;
}
