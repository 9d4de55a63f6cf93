/* store.c - the first, temporary telemetry store: per-partition FIFO rings
 * of deep-copied spans and log records, with a trace-id index per ring.
 * Owns every byte it holds (one malloc per record, resource and scope copied
 * with it). Never calls into other modules and never holds two partition
 * locks except in ascending order (fw_store_find_logs). It is replaced
 * wholesale by the windowed store: keep callers on store.h only. */
#include "flywheel/store.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Partitions beyond this buy nothing but memory. */
#define STORE_MAX_PARTITIONS 1024u
/* AnyValue nesting kept; the decoders already stop at 64 (limits.h), this
 * only keeps the copy's recursion bounded whatever the caller hands in.
 * Deeper arrays/kvlists are stored as empty values. */
#define STORE_MAX_VALUE_DEPTH 128u
#define STORE_INDEX_MIN_CAP 16u

/* Header of every stored record. Invariants: within a ring, |next| follows
 * arrival order; |trace_next| links the records of one trace in arrival
 * order; |trace_tail| is meaningful on the trace's first record only (the
 * one the index points at). */
typedef struct store_node {
    struct store_node *next;
    struct store_node *trace_next;
    struct store_node *trace_tail;
    uint64_t hash;  /* of trace_id (or of the time when not indexed) */
    uint64_t seq;   /* store-wide arrival number: ties in time order */
    size_t bytes;   /* size of this one allocation */
    bool indexed;   /* reachable from the ring's trace index */
    uint8_t trace_id[FW_TRACE_ID_LEN];
} store_node;

typedef struct stored_span {
    store_node node;
    fw_span span;
    fw_resource resource;
    fw_scope scope;
} stored_span;

typedef struct stored_log {
    store_node node;
    fw_log_record rec;
    fw_resource resource;
    fw_scope scope;
} stored_log;

/* One FIFO of records plus an open-addressing (linear probing) index from
 * trace id to the first record of that trace. Guarded by its partition. */
typedef struct store_ring {
    store_node *head; /* oldest */
    store_node *tail; /* newest */
    size_t count;
    size_t bytes;
    size_t max_count; /* 0 = unbounded */
    store_node **slots;
    size_t cap; /* power of two or 0; invariant: ntraces < cap when cap > 0 */
    size_t ntraces;
} store_ring;

typedef struct store_partition {
    alignas(64) pthread_mutex_t mu;
    store_ring spans;
    store_ring logs;
    size_t max_bytes; /* budget of spans + logs together; 0 = unbounded */
} store_partition;

struct fw_store {
    fw_store_config cfg;
    unsigned nparts;
    uint64_t seed;
    store_partition *parts;
    _Atomic uint64_t seq;
    _Atomic uint64_t spans_stored;
    _Atomic uint64_t logs_stored;
    _Atomic uint64_t spans_evicted;
    _Atomic uint64_t logs_evicted;
    _Atomic uint64_t memory_used;
    _Atomic uint64_t spans_held;
    _Atomic uint64_t logs_held;
};

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Keyed so that senders cannot aim trace ids at one index chain. */
static uint64_t hash_trace(const fw_store *s, const uint8_t id[FW_TRACE_ID_LEN])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return mix64(mix64(a ^ s->seed) ^ b);
}

static store_partition *partition_of(const fw_store *s, uint64_t hash)
{
    return &s->parts[hash & (uint64_t)(s->nparts - 1u)];
}

/* Index slots use other bits of the hash than the partition. */
static size_t slot_of(uint64_t hash, size_t cap)
{
    return (size_t)((hash >> 24) | (hash << 40)) & (cap - 1u);
}

/* ---- deep copy: a sizing pass, then one allocation filled by a bump
 * cursor. Every piece is rounded to 8 bytes so that the two passes agree
 * whatever the order and every piece is suitably aligned. ---- */

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

static size_t size_attrs(const fw_attrs *a, unsigned depth);

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
    case FW_VALUE_KVLIST: {
        if (depth >= STORE_MAX_VALUE_DEPTH)
            return 0;
        fw_attrs kv = {v->u.kvlist.items, v->u.kvlist.n};
        return size_attrs(&kv, depth + 1u);
    }
    default:
        return 0;
    }
}

static size_t size_attrs(const fw_attrs *a, unsigned depth)
{
    if (!a->items || a->n == 0)
        return 0;
    size_t n = round8(a->n * sizeof(fw_attr));
    for (size_t i = 0; i < a->n; i++)
        n += size_str(a->items[i].key) + size_value(&a->items[i].value, depth);
    return n;
}

static fw_attrs copy_attrs(copier *c, const fw_attrs *a, unsigned depth);

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
        fw_attrs kv = {src->u.kvlist.items, src->u.kvlist.n};
        fw_attrs out = copy_attrs(c, &kv, depth + 1u);
        dst->u.kvlist.items = out.items;
        dst->u.kvlist.n = out.n;
        break;
    }
    default:
        dst->type = FW_VALUE_EMPTY;
        break;
    }
}

static fw_attrs copy_attrs(copier *c, const fw_attrs *a, unsigned depth)
{
    fw_attrs out = {NULL, 0};
    if (!a->items || a->n == 0)
        return out;
    out.items = bump(c, a->n * sizeof(fw_attr));
    if (!out.items)
        return out;
    out.n = a->n;
    for (size_t i = 0; i < a->n; i++) {
        out.items[i].key = copy_str(c, a->items[i].key);
        copy_value(c, &out.items[i].value, &a->items[i].value, depth);
    }
    return out;
}

static size_t size_resource(const fw_resource *r)
{
    return size_attrs(&r->attrs, 0) + size_str(r->schema_url) + size_str(r->service_name) +
           size_str(r->service_version) + size_str(r->service_namespace) +
           size_str(r->environment);
}

static void copy_resource(copier *c, fw_resource *dst, const fw_resource *src)
{
    dst->attrs = copy_attrs(c, &src->attrs, 0);
    dst->dropped_attributes_count = src->dropped_attributes_count;
    dst->schema_url = copy_str(c, src->schema_url);
    dst->service_name = copy_str(c, src->service_name);
    dst->service_version = copy_str(c, src->service_version);
    dst->service_namespace = copy_str(c, src->service_namespace);
    dst->environment = copy_str(c, src->environment);
}

static size_t size_scope(const fw_scope *sc)
{
    return size_str(sc->name) + size_str(sc->version) + size_attrs(&sc->attrs, 0) +
           size_str(sc->schema_url);
}

static void copy_scope(copier *c, fw_scope *dst, const fw_scope *src)
{
    dst->name = copy_str(c, src->name);
    dst->version = copy_str(c, src->version);
    dst->attrs = copy_attrs(c, &src->attrs, 0);
    dst->dropped_attributes_count = src->dropped_attributes_count;
    dst->schema_url = copy_str(c, src->schema_url);
}

static const fw_resource empty_resource = {.service_name = {"unknown_service", 15}};
static const fw_scope empty_scope;

static size_t size_span(const fw_span *sp)
{
    size_t n = round8(sizeof(stored_span));
    n += size_str(sp->trace_state) + size_str(sp->name) + size_attrs(&sp->attrs, 0) +
         size_str(sp->status_message);
    if (sp->events && sp->n_events) {
        n += round8(sp->n_events * sizeof(fw_span_event));
        for (size_t i = 0; i < sp->n_events; i++)
            n += size_str(sp->events[i].name) + size_attrs(&sp->events[i].attrs, 0);
    }
    if (sp->links && sp->n_links) {
        n += round8(sp->n_links * sizeof(fw_span_link));
        for (size_t i = 0; i < sp->n_links; i++)
            n += size_str(sp->links[i].trace_state) + size_attrs(&sp->links[i].attrs, 0);
    }
    n += size_resource(sp->resource ? sp->resource : &empty_resource);
    n += size_scope(sp->scope ? sp->scope : &empty_scope);
    return n;
}

static void copy_span(copier *c, stored_span *dst, const fw_span *src)
{
    fw_span *d = &dst->span;
    *d = *src; /* scalars and ids; every pointer is replaced below */
    d->trace_state = copy_str(c, src->trace_state);
    d->name = copy_str(c, src->name);
    d->attrs = copy_attrs(c, &src->attrs, 0);
    d->status_message = copy_str(c, src->status_message);
    d->events = NULL;
    d->n_events = 0;
    if (src->events && src->n_events) {
        d->events = bump(c, src->n_events * sizeof(fw_span_event));
        if (d->events) {
            d->n_events = src->n_events;
            for (size_t i = 0; i < src->n_events; i++) {
                const fw_span_event *se = &src->events[i];
                fw_span_event *de = &d->events[i];
                *de = *se;
                de->name = copy_str(c, se->name);
                de->attrs = copy_attrs(c, &se->attrs, 0);
            }
        }
    }
    d->links = NULL;
    d->n_links = 0;
    if (src->links && src->n_links) {
        d->links = bump(c, src->n_links * sizeof(fw_span_link));
        if (d->links) {
            d->n_links = src->n_links;
            for (size_t i = 0; i < src->n_links; i++) {
                const fw_span_link *sl = &src->links[i];
                fw_span_link *dl = &d->links[i];
                *dl = *sl;
                dl->trace_state = copy_str(c, sl->trace_state);
                dl->attrs = copy_attrs(c, &sl->attrs, 0);
            }
        }
    }
    copy_resource(c, &dst->resource, src->resource ? src->resource : &empty_resource);
    copy_scope(c, &dst->scope, src->scope ? src->scope : &empty_scope);
    d->resource = &dst->resource;
    d->scope = &dst->scope;
}

static size_t size_log(const fw_log_record *r)
{
    size_t n = round8(sizeof(stored_log));
    n += size_str(r->severity_text) + size_value(&r->body, 0) + size_attrs(&r->attrs, 0) +
         size_str(r->event_name);
    n += size_resource(r->resource ? r->resource : &empty_resource);
    n += size_scope(r->scope ? r->scope : &empty_scope);
    return n;
}

static void copy_log(copier *c, stored_log *dst, const fw_log_record *src)
{
    fw_log_record *d = &dst->rec;
    *d = *src;
    d->severity_text = copy_str(c, src->severity_text);
    copy_value(c, &d->body, &src->body, 0);
    d->attrs = copy_attrs(c, &src->attrs, 0);
    d->event_name = copy_str(c, src->event_name);
    copy_resource(c, &dst->resource, src->resource ? src->resource : &empty_resource);
    copy_scope(c, &dst->scope, src->scope ? src->scope : &empty_scope);
    d->resource = &dst->resource;
    d->scope = &dst->scope;
}

/* ---- trace index (linear probing, backward-shift deletion) ---- */

static store_node **index_find(const store_ring *r, uint64_t hash,
                               const uint8_t id[FW_TRACE_ID_LEN], size_t *slot)
{
    if (r->cap == 0)
        return NULL;
    size_t mask = r->cap - 1u;
    for (size_t i = slot_of(hash, r->cap);; i = (i + 1u) & mask) {
        store_node *n = r->slots[i];
        if (!n) {
            if (slot)
                *slot = i;
            return NULL;
        }
        if (n->hash == hash && memcmp(n->trace_id, id, FW_TRACE_ID_LEN) == 0)
            return &r->slots[i];
    }
}

static int index_grow(store_ring *r)
{
    size_t ncap = r->cap ? r->cap * 2u : STORE_INDEX_MIN_CAP;
    if (ncap < r->cap || ncap > SIZE_MAX / sizeof(store_node *))
        return FW_ERR_NOMEM;
    store_node **ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return FW_ERR_NOMEM;
    for (size_t i = 0; i < r->cap; i++) {
        store_node *n = r->slots[i];
        if (!n)
            continue;
        size_t j = slot_of(n->hash, ncap);
        while (ns[j])
            j = (j + 1u) & (ncap - 1u);
        ns[j] = n;
    }
    free(r->slots);
    r->slots = ns;
    r->cap = ncap;
    return 0;
}

static void index_delete_slot(store_ring *r, size_t i)
{
    size_t mask = r->cap - 1u;
    size_t j = i;
    for (;;) {
        j = (j + 1u) & mask;
        store_node *n = r->slots[j];
        if (!n)
            break;
        size_t k = slot_of(n->hash, r->cap);
        /* Move n back to the hole at i unless its home lies cyclically in (i, j]. */
        bool home_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!home_between) {
            r->slots[i] = n;
            i = j;
        }
    }
    r->slots[i] = NULL;
}

/* |n| is the oldest record of its trace in this ring (FIFO eviction). */
static void index_remove_head(store_ring *r, store_node *n)
{
    size_t mask = r->cap - 1u;
    for (size_t i = slot_of(n->hash, r->cap); r->slots[i]; i = (i + 1u) & mask) {
        if (r->slots[i] != n)
            continue;
        if (n->trace_next) {
            n->trace_next->trace_tail = n->trace_tail;
            r->slots[i] = n->trace_next;
        } else {
            index_delete_slot(r, i);
            r->ntraces--;
        }
        return;
    }
}

/* ---- rings ---- */

static void ring_evict_oldest(fw_store *s, store_ring *r, bool spans)
{
    store_node *n = r->head;
    r->head = n->next;
    if (!r->head)
        r->tail = NULL;
    if (n->indexed)
        index_remove_head(r, n);
    r->count--;
    r->bytes -= n->bytes;
    atomic_fetch_sub_explicit(&s->memory_used, n->bytes, memory_order_relaxed);
    if (spans) {
        atomic_fetch_add_explicit(&s->spans_evicted, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->spans_held, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&s->logs_evicted, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->logs_held, 1, memory_order_relaxed);
    }
    free(n);
}

/* Takes |n|. Evicts the oldest records until |n| fits (the count limit of
 * its own ring; the byte budget of the partition, oldest first across both
 * rings), then appends it. */
static void ring_insert(fw_store *s, store_partition *p, store_node *n, bool spans)
{
    store_ring *r = spans ? &p->spans : &p->logs;
    while (r->head && r->max_count && r->count >= r->max_count)
        ring_evict_oldest(s, r, spans);
    while (p->max_bytes && p->spans.bytes + p->logs.bytes + n->bytes > p->max_bytes) {
        store_node *sh = p->spans.head, *lh = p->logs.head;
        if (!sh && !lh)
            break;
        if (sh && (!lh || sh->seq < lh->seq))
            ring_evict_oldest(s, &p->spans, true);
        else
            ring_evict_oldest(s, &p->logs, false);
    }

    if (n->indexed) {
        store_node **head = index_find(r, n->hash, n->trace_id, NULL);
        if (head) {
            (*head)->trace_tail->trace_next = n;
            (*head)->trace_tail = n;
        } else {
            /* Keep load <= 1/2; when growing fails, use the slack left and
             * make room by eviction as a last resort. */
            if ((r->ntraces + 1u) * 2u > r->cap && index_grow(r) != 0) {
                while (r->head && r->ntraces + 1u >= r->cap)
                    ring_evict_oldest(s, r, spans);
            }
            size_t slot = 0;
            if (r->ntraces + 1u < r->cap && !index_find(r, n->hash, n->trace_id, &slot)) {
                r->slots[slot] = n;
                n->trace_tail = n;
                r->ntraces++;
            } else {
                n->indexed = false; /* no index memory at all: kept, not findable by id */
            }
        }
    }
    if (r->tail)
        r->tail->next = n;
    else
        r->head = n;
    r->tail = n;
    r->count++;
    r->bytes += n->bytes;
    atomic_fetch_add_explicit(&s->memory_used, n->bytes, memory_order_relaxed);
    if (spans) {
        atomic_fetch_add_explicit(&s->spans_stored, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->spans_held, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&s->logs_stored, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->logs_held, 1, memory_order_relaxed);
    }
}

static void ring_free(store_ring *r)
{
    store_node *n = r->head;
    while (n) {
        store_node *next = n->next;
        free(n);
        n = next;
    }
    free(r->slots);
    *r = (store_ring){0};
}

/* ---- lifecycle ---- */

static size_t split(size_t total, unsigned parts)
{
    if (total == 0)
        return 0; /* unbounded */
    size_t per = total / parts;
    return per ? per : 1u;
}

int fw_store_new(const fw_store_config *cfg, fw_store **out)
{
    *out = NULL;
    if (!cfg || cfg->partitions == 0 || cfg->partitions > STORE_MAX_PARTITIONS ||
        (cfg->partitions & (cfg->partitions - 1u)) != 0)
        return FW_ERR_CONFIG;

    fw_store *s = calloc(1, sizeof(*s));
    if (!s)
        return FW_ERR_NOMEM;
    s->cfg = *cfg;
    s->nparts = cfg->partitions;
    if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) != (ssize_t)sizeof(s->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s->seed = mix64((uint64_t)(uintptr_t)s ^ (uint64_t)ts.tv_nsec);
    }
    /* sizeof(store_partition) is a multiple of its 64-byte alignment. */
    s->parts = aligned_alloc(64, sizeof(store_partition) * s->nparts);
    if (!s->parts)
        goto fail_parts;
    memset(s->parts, 0, sizeof(store_partition) * s->nparts);
    unsigned i;
    for (i = 0; i < s->nparts; i++) {
        store_partition *p = &s->parts[i];
        if (pthread_mutex_init(&p->mu, NULL) != 0)
            goto fail_mutex;
        p->spans.max_count = split(cfg->max_spans, s->nparts);
        p->logs.max_count = split(cfg->max_logs, s->nparts);
        p->max_bytes = split(cfg->memory_limit, s->nparts);
    }
    *out = s;
    return 0;

fail_mutex:
    while (i-- > 0)
        pthread_mutex_destroy(&s->parts[i].mu);
    free(s->parts);
fail_parts:
    free(s);
    return FW_ERR_NOMEM;
}

void fw_store_free(fw_store *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nparts; i++) {
        ring_free(&s->parts[i].spans);
        ring_free(&s->parts[i].logs);
        pthread_mutex_destroy(&s->parts[i].mu);
    }
    free(s->parts);
    free(s);
}

/* ---- hand-off ---- */

/* The memory limit of one partition's ring: a record larger than that can
 * never be held. */
static bool fits_ever(const fw_store *s, size_t bytes)
{
    size_t max = s->parts[0].max_bytes;
    return max == 0 || bytes <= max;
}

int fw_store_add_spans(fw_store *s, const fw_span *spans, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(stored_span *))
        return FW_ERR_NOMEM;
    /* Copy everything first, outside the locks, so that a failure stores nothing. */
    stored_span **copies = calloc(n, sizeof(*copies));
    if (!copies)
        return FW_ERR_NOMEM;
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = size_span(&spans[i]);
        if (!fits_ever(s, bytes) || !(copies[i] = malloc(bytes))) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        copier c = {(char *)copies[i] + round8(sizeof(stored_span)),
                    bytes - round8(sizeof(stored_span))};
        copy_span(&c, copies[i], &spans[i]);
        store_node *node = &copies[i]->node;
        *node = (store_node){.bytes = bytes, .indexed = true};
        memcpy(node->trace_id, spans[i].trace_id, FW_TRACE_ID_LEN);
        node->hash = hash_trace(s, node->trace_id);
    }
    for (size_t i = 0; i < n; i++) {
        store_node *node = &copies[i]->node;
        store_partition *p = partition_of(s, node->hash);
        pthread_mutex_lock(&p->mu);
        node->seq = atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
        ring_insert(s, p, node, true);
        pthread_mutex_unlock(&p->mu);
        copies[i] = NULL;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    return rv;
}

static uint64_t log_time(const fw_log_record *r)
{
    return r->time_ns ? r->time_ns : r->observed_time_ns;
}

int fw_store_add_logs(fw_store *s, const fw_log_record *recs, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(stored_log *))
        return FW_ERR_NOMEM;
    stored_log **copies = calloc(n, sizeof(*copies));
    if (!copies)
        return FW_ERR_NOMEM;
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = size_log(&recs[i]);
        if (!fits_ever(s, bytes) || !(copies[i] = malloc(bytes))) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        copier c = {(char *)copies[i] + round8(sizeof(stored_log)),
                    bytes - round8(sizeof(stored_log))};
        copy_log(&c, copies[i], &recs[i]);
        store_node *node = &copies[i]->node;
        *node = (store_node){.bytes = bytes};
        if (recs[i].has_trace_id && !fw_id_is_zero(recs[i].trace_id, FW_TRACE_ID_LEN)) {
            node->indexed = true;
            memcpy(node->trace_id, recs[i].trace_id, FW_TRACE_ID_LEN);
            node->hash = hash_trace(s, node->trace_id);
        } else {
            node->hash = mix64(log_time(&recs[i]) ^ s->seed);
        }
    }
    for (size_t i = 0; i < n; i++) {
        store_node *node = &copies[i]->node;
        store_partition *p = partition_of(s, node->hash);
        pthread_mutex_lock(&p->mu);
        node->seq = atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
        ring_insert(s, p, node, false);
        pthread_mutex_unlock(&p->mu);
        copies[i] = NULL;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    return rv;
}

/* ---- queries ---- */

size_t fw_store_get_trace(fw_store *s, const uint8_t trace_id[FW_TRACE_ID_LEN],
                          fw_store_span_visit visit, void *ctx)
{
    uint64_t hash = hash_trace(s, trace_id);
    store_partition *p = partition_of(s, hash);
    size_t visited = 0;
    pthread_mutex_lock(&p->mu);
    store_node **head = index_find(&p->spans, hash, trace_id, NULL);
    for (store_node *n = head ? *head : NULL; n; n = n->trace_next) {
        visited++;
        if (visit(ctx, &((const stored_span *)n)->span))
            break;
    }
    pthread_mutex_unlock(&p->mu);
    return visited;
}

typedef struct log_hit {
    uint64_t time;
    uint64_t seq;
    const fw_log_record *rec;
} log_hit;

static bool hit_newer(const log_hit *a, const log_hit *b)
{
    return a->time != b->time ? a->time > b->time : a->seq > b->seq;
}

static int hit_cmp_newest_first(const void *pa, const void *pb)
{
    const log_hit *a = pa, *b = pb;
    if (hit_newer(a, b))
        return -1;
    return hit_newer(b, a) ? 1 : 0;
}

/* A bounded min-heap keyed by newness: the root is the oldest kept hit, so
 * the |cap| newest matches survive a scan of any length. */
typedef struct hit_heap {
    log_hit *items;
    size_t n;
    size_t cap;
} hit_heap;

static void heap_sift_down(hit_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2u * i + 1u, r = l + 1u, m = i;
        if (l < h->n && hit_newer(&h->items[m], &h->items[l]))
            m = l;
        if (r < h->n && hit_newer(&h->items[m], &h->items[r]))
            m = r;
        if (m == i)
            return;
        log_hit t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
}

static void heap_offer(hit_heap *h, const log_hit *e)
{
    if (h->n < h->cap) {
        size_t i = h->n++;
        h->items[i] = *e;
        while (i > 0) {
            size_t parent = (i - 1u) / 2u;
            if (!hit_newer(&h->items[parent], &h->items[i]))
                break;
            log_hit t = h->items[i];
            h->items[i] = h->items[parent];
            h->items[parent] = t;
            i = parent;
        }
    } else if (h->cap > 0 && hit_newer(e, &h->items[0])) {
        h->items[0] = *e;
        heap_sift_down(h, 0);
    }
}

static bool log_matches(const fw_log_query *q, const store_node *n)
{
    const fw_log_record *r = &((const stored_log *)n)->rec;
    if (q->has_trace_id &&
        (!n->indexed || memcmp(n->trace_id, q->trace_id, FW_TRACE_ID_LEN) != 0))
        return false;
    uint64_t t = log_time(r);
    if (q->from_ns && t < q->from_ns)
        return false;
    if (q->to_ns && t > q->to_ns)
        return false;
    if (q->service) {
        fw_str sn = r->resource->service_name;
        size_t len = strlen(q->service);
        if (!sn.ptr || sn.len != len || memcmp(sn.ptr, q->service, len) != 0)
            return false;
    }
    return true;
}

static void collect_ring(const fw_log_query *q, const store_node *first, bool by_trace,
                         hit_heap *h)
{
    for (const store_node *n = first; n; n = by_trace ? n->trace_next : n->next) {
        if (!log_matches(q, n))
            continue;
        const fw_log_record *rec = &((const stored_log *)n)->rec;
        log_hit e = {log_time(rec), n->seq, rec};
        heap_offer(h, &e);
    }
}

size_t fw_store_find_logs(fw_store *s, const fw_log_query *q, fw_store_log_visit visit, void *ctx)
{
    unsigned lo = 0, hi = s->nparts; /* partitions [lo, hi) are locked, ascending */
    uint64_t hash = 0;
    if (q->has_trace_id) {
        hash = hash_trace(s, q->trace_id);
        lo = (unsigned)(hash & (uint64_t)(s->nparts - 1u));
        hi = lo + 1u;
    }
    size_t held = 0;
    for (unsigned i = lo; i < hi; i++) {
        pthread_mutex_lock(&s->parts[i].mu);
        held += s->parts[i].logs.count;
    }

    size_t visited = 0;
    hit_heap h = {NULL, 0, (q->limit && q->limit < held) ? q->limit : held};
    if (h.cap == 0 || !(h.items = malloc(h.cap * sizeof(*h.items))))
        goto out;
    for (unsigned i = lo; i < hi; i++) {
        const store_ring *r = &s->parts[i].logs;
        if (q->has_trace_id) {
            store_node **head = index_find(r, hash, q->trace_id, NULL);
            if (head)
                collect_ring(q, *head, true, &h);
        } else {
            collect_ring(q, r->head, false, &h);
        }
    }
    qsort(h.items, h.n, sizeof(*h.items), hit_cmp_newest_first);
    for (size_t i = 0; i < h.n; i++) {
        visited++;
        if (visit(ctx, h.items[i].rec))
            break;
    }
out:
    for (unsigned i = hi; i-- > lo;)
        pthread_mutex_unlock(&s->parts[i].mu);
    free(h.items);
    return visited;
}

void fw_store_get_stats(fw_store *s, fw_store_stats *out)
{
    out->spans_stored = atomic_load_explicit(&s->spans_stored, memory_order_relaxed);
    out->logs_stored = atomic_load_explicit(&s->logs_stored, memory_order_relaxed);
    out->spans_evicted = atomic_load_explicit(&s->spans_evicted, memory_order_relaxed);
    out->logs_evicted = atomic_load_explicit(&s->logs_evicted, memory_order_relaxed);
    out->memory_used = atomic_load_explicit(&s->memory_used, memory_order_relaxed);
    out->spans_held = atomic_load_explicit(&s->spans_held, memory_order_relaxed);
    out->logs_held = atomic_load_explicit(&s->logs_held, memory_order_relaxed);
}
