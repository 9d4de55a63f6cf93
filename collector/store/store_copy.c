/* store_copy.c - deep copies for the store: resource/scope pairs (origins,
 * shared by many span records and deduplicated by content) and log
 * records. Each copy is one allocation, sized by a first pass and filled by
 * a bump cursor. Pure functions: no locks, no state. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- copier: every piece is rounded to 8 bytes so that the sizing and
 * filling passes agree whatever the order and every piece is aligned ---- */

typedef struct copier {
    char *p;
    size_t left;
} copier;

static size_t round8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

static void *bump(copier *c, size_t n)
{
    n = round8(n);
    if (n == 0 || n > c->left) /* n > left cannot happen when sizes agree */
        return NULL;
    void *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static size_t size_str(fw_str s)
{
    return s.ptr ? round8(s.len + 1u) : 0;
}

/* Copies keep FW_STR_NULL as NULL and NUL-terminate everything else. */
static fw_str copy_str(copier *c, fw_str s)
{
    if (!s.ptr)
        return FW_STR_NULL;
    char *d = bump(c, s.len + 1u);
    if (!d)
        return FW_STR_NULL;
    if (s.len)
        memcpy(d, s.ptr, s.len);
    d[s.len] = '\0';
    return (fw_str){d, s.len};
}

static size_t size_attrs(const fw_attr *items, size_t n, unsigned depth);

static size_t size_value(const fw_value *v, unsigned depth)
{
    size_t n = 0;
    switch (v->type) {
    case FW_VALUE_STRING:
    case FW_VALUE_BYTES:
        return size_str(v->u.str);
    case FW_VALUE_ARRAY:
        if (depth >= STORE_MAX_VALUE_DEPTH || !v->u.array.items || v->u.array.n == 0)
            return 0;
        n = round8(v->u.array.n * sizeof(fw_value));
        for (size_t i = 0; i < v->u.array.n; i++)
            n += size_value(&v->u.array.items[i], depth + 1u);
        return n;
    case FW_VALUE_KVLIST:
        if (depth >= STORE_MAX_VALUE_DEPTH)
            return 0;
        return size_attrs(v->u.kvlist.items, v->u.kvlist.n, depth + 1u);
    default:
        return 0;
    }
}

static size_t size_attrs(const fw_attr *items, size_t n, unsigned depth)
{
    if (!items || n == 0)
        return 0;
    size_t total = round8(n * sizeof(fw_attr));
    for (size_t i = 0; i < n; i++)
        total += size_str(items[i].key) + size_value(&items[i].value, depth);
    return total;
}

static fw_attrs copy_attrs(copier *c, const fw_attr *items, size_t n, unsigned depth);

static void copy_value(copier *c, fw_value *dst, const fw_value *src, unsigned depth)
{
    *dst = (fw_value){.type = src->type};
    switch (src->type) {
    case FW_VALUE_STRING:
    case FW_VALUE_BYTES:
        dst->u.str = copy_str(c, src->u.str);
        break;
    case FW_VALUE_BOOL:
        dst->u.boolean = src->u.boolean;
        break;
    case FW_VALUE_INT:
        dst->u.i64 = src->u.i64;
        break;
    case FW_VALUE_DOUBLE:
        dst->u.f64 = src->u.f64;
        break;
    case FW_VALUE_ARRAY:
        if (depth >= STORE_MAX_VALUE_DEPTH) {
            dst->type = FW_VALUE_EMPTY;
            break;
        }
        if (!src->u.array.items || src->u.array.n == 0)
            break;
        dst->u.array.items = bump(c, src->u.array.n * sizeof(fw_value));
        if (!dst->u.array.items)
            break;
        dst->u.array.n = src->u.array.n;
        for (size_t i = 0; i < src->u.array.n; i++)
            copy_value(c, &dst->u.array.items[i], &src->u.array.items[i], depth + 1u);
        break;
    case FW_VALUE_KVLIST: {
        if (depth >= STORE_MAX_VALUE_DEPTH) {
            dst->type = FW_VALUE_EMPTY;
            break;
        }
        fw_attrs out = copy_attrs(c, src->u.kvlist.items, src->u.kvlist.n, depth + 1u);
        dst->u.kvlist.items = out.items;
        dst->u.kvlist.n = out.n;
        break;
    }
    default:
        dst->type = FW_VALUE_EMPTY;
        break;
    }
}

static fw_attrs copy_attrs(copier *c, const fw_attr *items, size_t n, unsigned depth)
{
    fw_attrs out = {NULL, 0};
    if (!items || n == 0)
        return out;
    out.items = bump(c, n * sizeof(fw_attr));
    if (!out.items)
        return out;
    out.n = n;
    for (size_t i = 0; i < n; i++) {
        out.items[i].key = copy_str(c, items[i].key);
        copy_value(c, &out.items[i].value, &items[i].value, depth);
    }
    return out;
}

static size_t size_resource(const fw_resource *r)
{
    return size_attrs(r->attrs.items, r->attrs.n, 0) + size_str(r->schema_url) +
           size_str(r->service_name) + size_str(r->service_version) +
           size_str(r->service_namespace) + size_str(r->environment);
}

static void copy_resource(copier *c, fw_resource *dst, const fw_resource *src)
{
    dst->attrs = copy_attrs(c, src->attrs.items, src->attrs.n, 0);
    dst->dropped_attributes_count = src->dropped_attributes_count;
    dst->schema_url = copy_str(c, src->schema_url);
    dst->service_name = copy_str(c, src->service_name);
    dst->service_version = copy_str(c, src->service_version);
    dst->service_namespace = copy_str(c, src->service_namespace);
    dst->environment = copy_str(c, src->environment);
}

static size_t size_scope(const fw_scope *sc)
{
    return size_str(sc->name) + size_str(sc->version) + size_attrs(sc->attrs.items, sc->attrs.n, 0) +
           size_str(sc->schema_url);
}

static void copy_scope(copier *c, fw_scope *dst, const fw_scope *src)
{
    dst->name = copy_str(c, src->name);
    dst->version = copy_str(c, src->version);
    dst->attrs = copy_attrs(c, src->attrs.items, src->attrs.n, 0);
    dst->dropped_attributes_count = src->dropped_attributes_count;
    dst->schema_url = copy_str(c, src->schema_url);
}

static const fw_resource empty_resource = {.service_name = {"unknown_service", 15}};
static const fw_scope empty_scope;

/* ---- origins ---- */

store_origin *fw__store_origin_new(const fw_resource *r, const fw_scope *sc, size_t max_bytes)
{
    r = r ? r : &empty_resource;
    sc = sc ? sc : &empty_scope;
    size_t head = round8(sizeof(store_origin));
    size_t bytes = head + size_resource(r) + size_scope(sc);
    if (max_bytes && bytes > max_bytes)
        return NULL;
    store_origin *o = malloc(bytes);
    if (!o)
        return NULL;
    memset(o, 0, sizeof(*o));
    o->bytes = bytes;
    copier c = {(char *)o + head, bytes - head};
    copy_resource(&c, &o->resource, r);
    copy_scope(&c, &o->scope, sc);
    return o;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static uint64_t hash_str(uint64_t h, fw_str s)
{
    if (!s.ptr)
        return mix(h, 0x51u);
    h = mix(h, s.len);
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t v;
        memcpy(&v, s.ptr + i, 8);
        h = mix(h, v);
    }
    uint64_t tail = 0;
    memcpy(&tail, s.ptr + i, s.len - i);
    return mix(h, tail);
}

static uint64_t hash_attrs(uint64_t h, const fw_attr *items, size_t n, unsigned depth);

static uint64_t hash_value(uint64_t h, const fw_value *v, unsigned depth)
{
    h = mix(h, (uint64_t)v->type);
    switch (v->type) {
    case FW_VALUE_STRING:
    case FW_VALUE_BYTES:
        return hash_str(h, v->u.str);
    case FW_VALUE_BOOL:
        return mix(h, v->u.boolean ? 1u : 0u);
    case FW_VALUE_INT:
        return mix(h, (uint64_t)v->u.i64);
    case FW_VALUE_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.f64, 8);
        return mix(h, bits);
    }
    case FW_VALUE_ARRAY:
        if (depth >= STORE_MAX_VALUE_DEPTH || !v->u.array.items)
            return h;
        h = mix(h, v->u.array.n);
        for (size_t i = 0; i < v->u.array.n; i++)
            h = hash_value(h, &v->u.array.items[i], depth + 1u);
        return h;
    case FW_VALUE_KVLIST:
        if (depth >= STORE_MAX_VALUE_DEPTH)
            return h;
        return hash_attrs(h, v->u.kvlist.items, v->u.kvlist.n, depth + 1u);
    default:
        return h;
    }
}

static uint64_t hash_attrs(uint64_t h, const fw_attr *items, size_t n, unsigned depth)
{
    if (!items)
        n = 0;
    h = mix(h, n);
    for (size_t i = 0; i < n; i++)
        h = hash_value(hash_str(h, items[i].key), &items[i].value, depth);
    return h;
}

uint64_t fw__store_origin_hash(uint64_t seed, const fw_resource *r, const fw_scope *sc)
{
    r = r ? r : &empty_resource;
    sc = sc ? sc : &empty_scope;
    uint64_t h = mix(seed, 0x6f726967u);
    h = hash_attrs(h, r->attrs.items, r->attrs.n, 0);
    h = mix(h, r->dropped_attributes_count);
    h = hash_str(h, r->schema_url);
    h = hash_str(h, r->service_name);
    h = hash_str(h, r->service_version);
    h = hash_str(h, r->service_namespace);
    h = hash_str(h, r->environment);
    h = hash_str(h, sc->name);
    h = hash_str(h, sc->version);
    h = hash_attrs(h, sc->attrs.items, sc->attrs.n, 0);
    h = mix(h, sc->dropped_attributes_count);
    return hash_str(h, sc->schema_url);
}

static bool str_equal(fw_str a, fw_str b)
{
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool attrs_equal(const fw_attr *a, size_t an, const fw_attr *b, size_t bn, unsigned depth);

/* |a| is the stored copy (depth-truncated), |b| the incoming value. */
static bool value_equal(const fw_value *a, const fw_value *b, unsigned depth)
{
    fw_value_type bt = b->type;
    if ((bt == FW_VALUE_ARRAY || bt == FW_VALUE_KVLIST) && depth >= STORE_MAX_VALUE_DEPTH)
        bt = FW_VALUE_EMPTY;
    if (a->type != bt)
        return false;
    switch (bt) {
    case FW_VALUE_STRING:
    case FW_VALUE_BYTES:
        return str_equal(a->u.str, b->u.str);
    case FW_VALUE_BOOL:
        return a->u.boolean == b->u.boolean;
    case FW_VALUE_INT:
        return a->u.i64 == b->u.i64;
    case FW_VALUE_DOUBLE:
        return memcmp(&a->u.f64, &b->u.f64, sizeof(double)) == 0;
    case FW_VALUE_ARRAY: {
        size_t bn = b->u.array.items ? b->u.array.n : 0;
        if (a->u.array.n != bn)
            return false;
        for (size_t i = 0; i < bn; i++)
            if (!value_equal(&a->u.array.items[i], &b->u.array.items[i], depth + 1u))
                return false;
        return true;
    }
    case FW_VALUE_KVLIST:
        return attrs_equal(a->u.kvlist.items, a->u.kvlist.n, b->u.kvlist.items, b->u.kvlist.n,
                           depth + 1u);
    default:
        return true;
    }
}

static bool attrs_equal(const fw_attr *a, size_t an, const fw_attr *b, size_t bn, unsigned depth)
{
    if (!a)
        an = 0;
    if (!b)
        bn = 0;
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!str_equal(a[i].key, b[i].key) || !value_equal(&a[i].value, &b[i].value, depth))
            return false;
    return true;
}

bool fw__store_origin_equal(const store_origin *o, const fw_resource *r, const fw_scope *sc)
{
    r = r ? r : &empty_resource;
    sc = sc ? sc : &empty_scope;
    const fw_resource *a = &o->resource;
    const fw_scope *as = &o->scope;
    return a->dropped_attributes_count == r->dropped_attributes_count &&
           as->dropped_attributes_count == sc->dropped_attributes_count &&
           str_equal(a->service_name, r->service_name) && str_equal(a->schema_url, r->schema_url) &&
           str_equal(a->service_version, r->service_version) &&
           str_equal(a->service_namespace, r->service_namespace) &&
           str_equal(a->environment, r->environment) && str_equal(as->name, sc->name) &&
           str_equal(as->version, sc->version) && str_equal(as->schema_url, sc->schema_url) &&
           attrs_equal(a->attrs.items, a->attrs.n, r->attrs.items, r->attrs.n, 0) &&
           attrs_equal(as->attrs.items, as->attrs.n, sc->attrs.items, sc->attrs.n, 0);
}

/* ---- log records ---- */

store_log_node *fw__store_log_copy(const fw_log_record *src, size_t max_bytes)
{
    const fw_resource *r = src->resource ? src->resource : &empty_resource;
    const fw_scope *sc = src->scope ? src->scope : &empty_scope;
    size_t head = round8(sizeof(store_log_node));
    size_t bytes = head + size_str(src->severity_text) + size_value(&src->body, 0) +
                   size_attrs(src->attrs.items, src->attrs.n, 0) + size_str(src->event_name) +
                   size_resource(r) + size_scope(sc);
    if (max_bytes && bytes > max_bytes)
        return NULL;
    store_log_node *n = malloc(bytes);
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->bytes = bytes;
    copier c = {(char *)n + head, bytes - head};
    fw_log_record *d = &n->rec;
    *d = *src;
    d->severity_text = copy_str(&c, src->severity_text);
    copy_value(&c, &d->body, &src->body, 0);
    d->attrs = copy_attrs(&c, src->attrs.items, src->attrs.n, 0);
    d->event_name = copy_str(&c, src->event_name);
    copy_resource(&c, &n->resource, r);
    copy_scope(&c, &n->scope, sc);
    d->resource = &n->resource;
    d->scope = &n->scope;
    return n;
}
