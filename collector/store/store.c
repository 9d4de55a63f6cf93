/* store.c - the windowed span store (and, until logs get their own, the log
 * ring). Spans live as compact records (store_codec.c) appended to blocks,
 * one chain of blocks per partition; a partition is chosen by a keyed hash
 * of the trace id and guarded by its own mutex, so ingest takes no global
 * lock. Each partition indexes its records by trace id (open addressing,
 * newest record per trace, records chained to the previous one of their
 * trace), keeps ref lists of error and throttled spans, and a per-block
 * time range and service/operation bloom that lets searches skip blocks.
 * Eviction drops the oldest data first: whole blocks for the time window
 * and the memory budget, single records for the count limit. A block the
 * time window drops while older blocks live (out-of-order event times)
 * leaves a ghost in its ring slot: for each of its records whose trace goes
 * on in an older live record, that record's address (a bridge), so chains
 * through it stay whole.
 * Owns every byte it holds; never calls into other modules except the
 * string dictionary, and never holds two partition locks except in
 * ascending order (fw_store_find_logs). */
#include "flywheel/store.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "flywheel/intern.h"
#include "flywheel/semconv.h"
#include "store_internal.h"

/* Partitions beyond this buy nothing but memory. */
#define STORE_MAX_PARTITIONS 1024u
/* Block size: large blocks amortise the header and allocation; small
 * memory budgets get small blocks so that eviction stays fine-grained. */
#define STORE_BLOCK_MAX (256u * 1024u)
#define STORE_BLOCK_MIN (4u * 1024u)
/* A record address is block seq << 24 | offset: blocks stay under 16 MiB,
 * and so does one record (a larger span is refused). */
#define STORE_OFF_BITS 24u
#define STORE_OFF_MASK ((1ull << STORE_OFF_BITS) - 1u)
#define STORE_RECORD_MAX ((size_t)STORE_OFF_MASK - 64u)
/* Most bytes the lock-time header fields take: size, flags, origin, prev, start. */
#define STORE_REC_HDR_MAX (10u + 2u + 5u + 10u + 10u)
#define STORE_BLOOM_WORDS 16u /* 1024 bits per block */
/* Admission filter of the string policy: a value is interned the second
 * time it is seen within roughly this many distinct values. */
#define STORE_SEEN_SLOTS (1u << 14)
/* A dictionary the store makes for itself: memory_limit / this, or the
 * default when unbounded. */
#define STORE_OWN_INTERN_DIV 16u
#define STORE_OWN_INTERN_MIN (256u * 1024u)
#define STORE_OWN_INTERN_DEFAULT (64u * 1024u * 1024u)
/* One materialised record may take this much of a query's scratch arena. */
#define STORE_DECODE_ARENA_CAP (256u * 1024u * 1024u)
#define STORE_INDEX_MIN_CAP 16u
/* Recent resource/scope pointer pairs remembered while adding one batch. */
#define STORE_ORIGIN_CACHE 16u

/* ---- types ---- */

typedef struct store_block {
    uint64_t seq;     /* partition-local, starts at 1 */
    uint64_t arrival; /* store-wide arrival number when opened: ages blocks against logs */
    uint64_t base_ns; /* record start times are stored relative to this */
    uint64_t min_time, max_time; /* span times (fw__store_span_time) of its records */
    uint32_t cap, used;
    uint32_t head;  /* offset of the oldest live record; records before it are evicted */
    uint32_t nlive; /* live records */
    bool unnamed;   /* holds a record whose service or name is not interned */
    bool ghost;     /* a dropped block's bridges (see ghosts below); holds no record */
    uint64_t bloom[STORE_BLOOM_WORDS]; /* service ids and (service, name) pairs */
    uint8_t data[];
} store_block;

/* A FIFO of record addresses (arrival order). Entries may be dead (their
 * block dropped); readers check, and dead ones are popped from the front. */
typedef struct ref_ring {
    uint64_t *v;
    size_t cap; /* power of two or 0 */
    size_t head;
    size_t n;
} ref_ring;

/* Trace index slot: the newest live record of a trace. addr 0 = empty.
 * Invariant: every addr in the index is a live record. */
typedef struct trace_slot {
    uint64_t hash;
    uint64_t addr;
} trace_slot;

typedef struct origin_slot {
    uint64_t hash;
    uint32_t idx1; /* origin index + 1; 0 = empty */
} origin_slot;

/* Logs: a FIFO of deep copies plus a trace-id index (the first record of
 * each trace), as in the first store. */
typedef struct log_ring {
    store_log_node *head; /* oldest */
    store_log_node *tail;
    size_t count;
    size_t max_count; /* 0 = unbounded */
    store_log_node **slots;
    size_t cap; /* power of two or 0; invariant: ntraces < cap when cap > 0 */
    size_t ntraces;
} log_ring;

typedef struct store_partition {
    alignas(64) pthread_mutex_t mu;
    size_t budget;    /* bytes this partition may hold; SIZE_MAX = unbounded */
    size_t mem;       /* bytes held: blocks, indexes, origins, logs */
    size_t max_spans; /* 0 = unbounded */
    size_t spans;     /* live span records */
    size_t block_size;

    /* Blocks by seq: ring[(ring_head + seq - first_seq) & (ring_cap - 1)];
     * a dropped block in the middle leaves NULL or a ghost. Front entries
     * are never NULL nor ghosts. */
    store_block **ring;
    size_t ring_cap;
    size_t ring_head;
    size_t nblocks;
    uint64_t first_seq;
    uint64_t next_seq;
    store_block *open; /* receives appends; the newest block or NULL */

    trace_slot *traces;
    size_t traces_cap; /* power of two or 0; load kept <= 1/2 */
    size_t ntraces;

    store_origin **origins; /* by index; NULL = free */
    uint32_t *free_origins; /* stack of free indexes */
    uint32_t origins_cap;
    uint32_t origins_hwm; /* indexes ever used */
    uint32_t nfree;
    origin_slot *omap;
    size_t omap_cap; /* power of two or 0; load kept <= 1/2 */
    size_t nomap;

    ref_ring errors;
    ref_ring throttled;

    log_ring logs;
} store_partition;

struct fw_store {
    fw_store_config cfg;
    unsigned nparts;
    uint64_t seed;
    fw_intern *intern;
    bool own_intern;
    store_strpolicy policy;
    _Atomic uint32_t *seen;
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

/* Keyed so that senders cannot aim trace ids at one partition or chain. */
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

/* ---- memory ---- */

static void mem_add(fw_store *s, store_partition *p, size_t n)
{
    p->mem += n;
    atomic_fetch_add_explicit(&s->memory_used, n, memory_order_relaxed);
}

static void mem_sub(fw_store *s, store_partition *p, size_t n)
{
    p->mem -= n;
    atomic_fetch_sub_explicit(&s->memory_used, n, memory_order_relaxed);
}

static bool fits(const store_partition *p, size_t need)
{
    return need <= p->budget && p->mem <= p->budget - need;
}

/* ---- blocks and addresses ---- */

static uint64_t addr_of(const store_block *b, uint32_t off)
{
    return (b->seq << STORE_OFF_BITS) | off;
}

static store_block *block_of(const store_partition *p, uint64_t seq)
{
    if (seq < p->first_seq || seq - p->first_seq >= p->nblocks)
        return NULL;
    return p->ring[(p->ring_head + (size_t)(seq - p->first_seq)) & (p->ring_cap - 1u)];
}

/* The live record at |addr| parsed into |r|, or false. */
static bool rec_at(const store_partition *p, uint64_t addr, store_block **bout, store_rec *r)
{
    store_block *b = block_of(p, addr >> STORE_OFF_BITS);
    uint32_t off = (uint32_t)(addr & STORE_OFF_MASK);
    if (!b || off < b->head || off >= b->used)
        return false;
    if (!fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, r))
        return false;
    if (bout)
        *bout = b;
    return true;
}

/* ---- ghosts ----
 * A ghost replaces a block dropped while older blocks live. Its data holds
 * u32 n, u32 pad, u64 target[n], u32 off[n] (offsets ascending): the record
 * that was at |off| belongs to a trace that goes on at |target|.
 * Invariant: every target is a live record, or a dead one that no older
 * live record of its trace outlived (dropped from the front: the oldest).
 * So a chain step crosses at most one ghost. */

static uint32_t ghost_n(const store_block *g)
{
    uint32_t n;
    memcpy(&n, g->data, sizeof(n));
    return n;
}

static uint64_t *ghost_targets(store_block *g)
{
    return (uint64_t *)(void *)(g->data + 8u);
}

static const uint32_t *ghost_offs(const store_block *g)
{
    return (const uint32_t *)(const void *)(g->data + 8u + (size_t)ghost_n(g) * 8u);
}

/* Index of |off| in ascending |offs[0..n)|, or n. */
static size_t off_index(const uint32_t *offs, size_t n, uint32_t off)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (offs[mid] < off)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return lo < n && offs[lo] == off ? lo : n;
}

static bool addr_live(const store_partition *p, uint64_t addr)
{
    store_block *b = block_of(p, addr >> STORE_OFF_BITS);
    uint32_t off = (uint32_t)(addr & STORE_OFF_MASK);
    return b && off >= b->head && off < b->used;
}

/* The live record a chain step to |addr| lands on: |addr| itself when
 * live, the bridge of a ghost when its block was dropped with older blocks
 * live, else 0 (the trace has no older live record). */
static uint64_t chain_resolve(const store_partition *p, uint64_t addr)
{
    store_block *b = block_of(p, addr >> STORE_OFF_BITS);
    if (!b)
        return 0;
    uint32_t off = (uint32_t)(addr & STORE_OFF_MASK);
    if (!b->ghost)
        return off >= b->head && off < b->used ? addr : 0;
    size_t n = ghost_n(b);
    size_t i = off_index(ghost_offs(b), n, off);
    if (i == n)
        return 0;
    uint64_t t = ghost_targets(b)[i];
    return addr_live(p, t) ? t : 0;
}

/* ---- ref rings ---- */

static void ring_trim(const store_partition *p, ref_ring *r)
{
    while (r->n && !addr_live(p, r->v[r->head])) {
        r->head = (r->head + 1u) & (r->cap - 1u);
        r->n--;
    }
}

static uint64_t ring_get(const ref_ring *r, size_t i)
{
    return r->v[(r->head + i) & (r->cap - 1u)];
}

/* ---- eviction ---- */

static void origin_release(fw_store *s, store_partition *p, uint32_t idx);
static bool log_evict_oldest(fw_store *s, store_partition *p);

/* The newest live record older than |addr| in its trace chain, walking
 * through records of the block being dropped (|dropping|) and ghosts; 0
 * when none. */
static uint64_t live_prev(const store_partition *p, uint64_t addr, uint64_t delta,
                          uint64_t dropping)
{
    while (delta && delta < addr) {
        uint64_t pa = addr - delta;
        store_block *b = block_of(p, pa >> STORE_OFF_BITS);
        uint32_t off = (uint32_t)(pa & STORE_OFF_MASK);
        if (!b)
            return 0;
        if (b->seq != dropping)
            return chain_resolve(p, pa);
        store_rec r;
        if (off >= b->used ||
            !fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, &r))
            return 0;
        addr = pa;
        delta = r.prev_delta;
    }
    return 0;
}

static trace_slot *trace_lookup(const store_partition *p, uint64_t hash,
                                const uint8_t id[FW_TRACE_ID_LEN])
{
    if (!p->traces_cap)
        return NULL;
    size_t mask = p->traces_cap - 1u;
    for (size_t i = slot_of(hash, p->traces_cap); p->traces[i].addr; i = (i + 1u) & mask) {
        if (p->traces[i].hash != hash)
            continue;
        store_rec r;
        if (rec_at(p, p->traces[i].addr, NULL, &r) && memcmp(r.trace_id, id, FW_TRACE_ID_LEN) == 0)
            return &p->traces[i];
    }
    return NULL;
}

/* Backward-shift deletion of slot |i| (linear probing keeps no tombstones). */
static void trace_delete_slot(store_partition *p, size_t i)
{
    size_t mask = p->traces_cap - 1u;
    size_t j = i;
    for (;;) {
        j = (j + 1u) & mask;
        if (!p->traces[j].addr)
            break;
        size_t k = slot_of(p->traces[j].hash, p->traces_cap);
        bool home_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!home_between) {
            p->traces[i] = p->traces[j];
            i = j;
        }
    }
    p->traces[i] = (trace_slot){0, 0};
    p->ntraces--;
}

/* Forgets the record at |off| of |b| (not yet marked dead): index entry,
 * origin reference, counters. When the index points at it, it moves to
 * *|older| (the trace's newest older live record, 0 = none) when given,
 * else to what live_prev() finds. */
static void evict_record(fw_store *s, store_partition *p, store_block *b, uint32_t off,
                         uint64_t dropping, const uint64_t *older)
{
    store_rec r;
    if (!fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, &r))
        return; /* cannot happen: the store wrote it */
    uint64_t addr = addr_of(b, off);
    uint64_t h = hash_trace(s, r.trace_id);
    trace_slot *ts = trace_lookup(p, h, r.trace_id);
    if (ts && ts->addr == addr) {
        uint64_t prev = older ? *older : live_prev(p, addr, r.prev_delta, dropping);
        if (prev)
            ts->addr = prev;
        else
            trace_delete_slot(p, (size_t)(ts - p->traces));
    }
    origin_release(s, p, r.origin);
    b->nlive--;
    p->spans--;
    atomic_fetch_sub_explicit(&s->spans_held, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->spans_evicted, 1, memory_order_relaxed);
}

/* Frees the block at ring position |pos| (its records already evicted). */
static void block_release(fw_store *s, store_partition *p, size_t pos)
{
    size_t i = (p->ring_head + pos) & (p->ring_cap - 1u);
    store_block *b = p->ring[i];
    p->ring[i] = NULL;
    if (p->open == b)
        p->open = NULL;
    mem_sub(s, p, sizeof(store_block) + b->cap);
    free(b);
    /* A ghost at the front bridges to nothing: every older block is gone. */
    while (p->nblocks && (!p->ring[p->ring_head] || p->ring[p->ring_head]->ghost)) {
        store_block *g = p->ring[p->ring_head];
        if (g) {
            mem_sub(s, p, sizeof(store_block) + g->cap);
            free(g);
            p->ring[p->ring_head] = NULL;
        }
        p->ring_head = (p->ring_head + 1u) & (p->ring_cap - 1u);
        p->nblocks--;
        p->first_seq++;
    }
    if (!p->nblocks)
        p->first_seq = p->next_seq;
    ring_trim(p, &p->errors);
    ring_trim(p, &p->throttled);
}

/* For each record of |b| (|offs|, ascending, |n| of them): the newest
 * older live record of its trace, or 0. Records chain to earlier ones of
 * the same block (already resolved) or to other blocks (chain_resolve). */
static void bridge_targets(const store_partition *p, const store_block *b, const uint32_t *offs,
                           uint64_t *tgts, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        store_rec r;
        uint64_t addr = addr_of(b, offs[k]), t = 0;
        if (fw__store_rec_parse(b->data + offs[k], b->data + b->used, b->base_ns, &r) &&
            r.prev_delta && r.prev_delta < addr) {
            uint64_t pa = addr - r.prev_delta;
            if ((pa >> STORE_OFF_BITS) == b->seq) {
                size_t i = off_index(offs, k, (uint32_t)(pa & STORE_OFF_MASK));
                t = i < k ? tgts[i] : 0;
            } else {
                t = chain_resolve(p, pa);
            }
        }
        tgts[k] = t;
    }
}

/* Bridges of ghosts newer than ring position |pos| that lead into the
 * block there (being dropped) move on to where its records led. */
static void ghosts_follow(store_partition *p, size_t pos, uint64_t seq, const uint32_t *offs,
                          const uint64_t *tgts, size_t n)
{
    for (size_t q = pos + 1u; q < p->nblocks; q++) {
        store_block *g = p->ring[(p->ring_head + q) & (p->ring_cap - 1u)];
        if (!g || !g->ghost)
            continue;
        uint64_t *gt = ghost_targets(g);
        for (size_t i = 0, gn = ghost_n(g); i < gn; i++) {
            if ((gt[i] >> STORE_OFF_BITS) != seq)
                continue;
            size_t k = off_index(offs, n, (uint32_t)(gt[i] & STORE_OFF_MASK));
            gt[i] = k < n ? tgts[k] : 0;
        }
    }
}

/* A ghost holding the nonzero bridges, or NULL (none, or out of memory). */
static store_block *ghost_new(const store_block *b, const uint32_t *offs, const uint64_t *tgts,
                              size_t n)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        m += tgts[k] != 0;
    if (m == 0)
        return NULL;
    size_t bytes = 8u + m * (sizeof(uint64_t) + sizeof(uint32_t));
    store_block *g = malloc(sizeof(store_block) + bytes);
    if (!g)
        return NULL;
    memset(g, 0, sizeof(store_block));
    g->seq = b->seq;
    g->arrival = b->arrival;
    g->min_time = UINT64_MAX;
    g->ghost = true;
    g->cap = (uint32_t)bytes;
    uint32_t m32 = (uint32_t)m;
    memcpy(g->data, &m32, sizeof(m32));
    memset(g->data + 4, 0, 4);
    uint64_t *gt = ghost_targets(g);
    uint32_t *go = (uint32_t *)(void *)(g->data + 8u + m * 8u);
    for (size_t k = 0, j = 0; k < n; k++) {
        if (!tgts[k])
            continue;
        gt[j] = tgts[k];
        go[j] = offs[k];
        j++;
    }
    return g;
}

/* Drops the block at ring position |pos|. In the middle of the ring (older
 * blocks live: the time window with out-of-order event times), chains of
 * traces that go on in older blocks are kept whole: the index moves to the
 * older records, and a ghost keeps the bridges newer records still need.
 * Costs O(records of the block x log) plus a pass over the ring. */
static void block_drop(fw_store *s, store_partition *p, size_t pos)
{
    size_t slot = (p->ring_head + pos) & (p->ring_cap - 1u);
    store_block *b = p->ring[slot];
    uint32_t *offs = NULL;
    uint64_t *tgts = NULL;
    size_t n = 0;
    if (pos > 0 && b->nlive > 0) {
        offs = malloc((size_t)b->nlive * sizeof(*offs));
        tgts = malloc((size_t)b->nlive * sizeof(*tgts));
        if (offs && tgts) {
            for (uint32_t off = b->head; off < b->used && n < b->nlive;) {
                store_rec r;
                if (!fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, &r))
                    break;
                offs[n++] = off;
                off += r.size;
            }
            bridge_targets(p, b, offs, tgts, n);
        } else {
            /* Out of memory: the index still moves (live_prev), bridges are lost. */
            free(offs);
            free(tgts);
            offs = NULL;
            tgts = NULL;
        }
    }
    size_t k = 0;
    uint32_t off = b->head;
    while (off < b->used) {
        store_rec r;
        if (!fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, &r))
            break;
        bool known = tgts && k < n && offs[k] == off;
        evict_record(s, p, b, off, b->seq, known ? &tgts[k] : NULL);
        k += known;
        off += r.size;
    }
    b->head = b->used;
    store_block *g = NULL;
    if (tgts) {
        ghosts_follow(p, pos, b->seq, offs, tgts, n);
        g = ghost_new(b, offs, tgts, n);
    }
    free(offs);
    free(tgts);
    if (!g) {
        block_release(s, p, pos);
        return;
    }
    if (p->open == b)
        p->open = NULL;
    p->ring[slot] = g;
    mem_sub(s, p, sizeof(store_block) + b->cap);
    mem_add(s, p, sizeof(store_block) + g->cap);
    free(b);
    ring_trim(p, &p->errors);
    ring_trim(p, &p->throttled);
}

/* Count limit: the single oldest span record goes. */
static void evict_oldest_span(fw_store *s, store_partition *p)
{
    store_block *b = p->ring[p->ring_head];
    store_rec r;
    if (b->head < b->used &&
        fw__store_rec_parse(b->data + b->head, b->data + b->used, b->base_ns, &r)) {
        evict_record(s, p, b, b->head, UINT64_MAX, NULL);
        b->head += r.size;
    } else {
        b->head = b->used;
    }
    if (b->head >= b->used)
        block_release(s, p, 0);
    else {
        ring_trim(p, &p->errors);
        ring_trim(p, &p->throttled);
    }
}

/* Evicts the oldest data (span blocks and log records, by arrival) until
 * |need| more bytes fit the partition's budget. false when they cannot. */
static bool make_room(fw_store *s, store_partition *p, size_t need)
{
    while (!fits(p, need)) {
        store_block *b = p->nblocks ? p->ring[p->ring_head] : NULL;
        store_log_node *l = p->logs.head;
        if (!b && !l)
            return false;
        if (b && (!l || b->arrival <= l->seq))
            block_drop(s, p, 0);
        else
            log_evict_oldest(s, p);
    }
    return true;
}

/* Replaces |*arr| (|old_n| items) by a zeroed array of |new_n| items with
 * the old items copied in, keeping the accounting exact. */
static int grow_array(fw_store *s, store_partition *p, void **arr, size_t old_n, size_t new_n,
                      size_t item)
{
    if (new_n > SIZE_MAX / item || !make_room(s, p, new_n * item))
        return FW_ERR_NOMEM;
    void *na = calloc(new_n, item);
    if (!na)
        return FW_ERR_NOMEM;
    if (old_n)
        memcpy(na, *arr, old_n * item);
    free(*arr);
    *arr = na;
    mem_add(s, p, new_n * item);
    mem_sub(s, p, old_n * item);
    return 0;
}

/* ---- origins ---- */

static void omap_delete_slot(store_partition *p, size_t i)
{
    size_t mask = p->omap_cap - 1u;
    size_t j = i;
    for (;;) {
        j = (j + 1u) & mask;
        if (!p->omap[j].idx1)
            break;
        size_t k = (size_t)p->omap[j].hash & mask;
        bool home_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!home_between) {
            p->omap[i] = p->omap[j];
            i = j;
        }
    }
    p->omap[i] = (origin_slot){0, 0};
    p->nomap--;
}

static void origin_release(fw_store *s, store_partition *p, uint32_t idx)
{
    if (idx >= p->origins_hwm || !p->origins[idx])
        return;
    store_origin *o = p->origins[idx];
    if (--o->refs)
        return;
    size_t mask = p->omap_cap - 1u;
    for (size_t i = (size_t)o->hash & mask; p->omap[i].idx1; i = (i + 1u) & mask) {
        if (p->omap[i].idx1 == idx + 1u) {
            omap_delete_slot(p, i);
            break;
        }
    }
    mem_sub(s, p, o->bytes);
    free(o);
    p->origins[idx] = NULL;
    p->free_origins[p->nfree++] = idx;
}

static int omap_grow(fw_store *s, store_partition *p)
{
    size_t ncap = p->omap_cap ? p->omap_cap * 2u : STORE_INDEX_MIN_CAP;
    if (ncap > SIZE_MAX / sizeof(origin_slot) || !make_room(s, p, ncap * sizeof(origin_slot)))
        return FW_ERR_NOMEM;
    origin_slot *nm = calloc(ncap, sizeof(*nm));
    if (!nm)
        return FW_ERR_NOMEM;
    for (size_t i = 0; i < p->omap_cap; i++) {
        if (!p->omap[i].idx1)
            continue;
        size_t j = (size_t)p->omap[i].hash & (ncap - 1u);
        while (nm[j].idx1)
            j = (j + 1u) & (ncap - 1u);
        nm[j] = p->omap[i];
    }
    free(p->omap);
    mem_add(s, p, ncap * sizeof(origin_slot));
    mem_sub(s, p, p->omap_cap * sizeof(origin_slot));
    p->omap = nm;
    p->omap_cap = ncap;
    return 0;
}

/* A reference to the partition's origin equal to (|r|, |sc|), created when
 * absent. */
static int origin_acquire(fw_store *s, store_partition *p, const fw_resource *r,
                          const fw_scope *sc, uint64_t hash, uint32_t *idx_out)
{
    if (p->omap_cap) {
        size_t mask = p->omap_cap - 1u;
        for (size_t i = (size_t)hash & mask; p->omap[i].idx1; i = (i + 1u) & mask) {
            if (p->omap[i].hash != hash)
                continue;
            uint32_t idx = p->omap[i].idx1 - 1u;
            if (fw__store_origin_equal(p->origins[idx], r, sc)) {
                p->origins[idx]->refs++;
                *idx_out = idx;
                return 0;
            }
        }
    }
    /* Room for the tables first: making room may free origins but never
     * the one being created. */
    if ((p->nomap + 1u) * 2u > p->omap_cap && omap_grow(s, p) != 0)
        return FW_ERR_NOMEM;
    if (!p->nfree && p->origins_hwm == p->origins_cap) {
        uint32_t ncap = p->origins_cap ? p->origins_cap * 2u : 16u;
        if (ncap <= p->origins_cap ||
            grow_array(s, p, (void **)&p->origins, p->origins_cap, ncap, sizeof(*p->origins)) ||
            grow_array(s, p, (void **)&p->free_origins, p->origins_cap, ncap,
                       sizeof(*p->free_origins)))
            return FW_ERR_NOMEM;
        /* Both arrays grew (a failure of the second leaves the first larger: harmless). */
        p->origins_cap = ncap;
    }
    store_origin *o = fw__store_origin_new(r, sc, p->budget == SIZE_MAX ? 0 : p->budget);
    if (!o)
        return FW_ERR_NOMEM;
    if (!make_room(s, p, o->bytes)) {
        free(o);
        return FW_ERR_NOMEM;
    }
    o->hash = hash;
    o->refs = 1;
    o->service_id = fw_intern_id(s->intern, o->resource.service_name);
    uint32_t idx = p->nfree ? p->free_origins[--p->nfree] : p->origins_hwm++;
    p->origins[idx] = o;
    size_t mask = p->omap_cap - 1u;
    size_t i = (size_t)hash & mask;
    while (p->omap[i].idx1)
        i = (i + 1u) & mask;
    p->omap[i] = (origin_slot){hash, idx + 1u};
    p->nomap++;
    mem_add(s, p, o->bytes);
    *idx_out = idx;
    return 0;
}

/* ---- blooms ---- */

static uint64_t bloom_key(uint32_t service, uint32_t name)
{
    return mix64(((uint64_t)service << 32) | name);
}

static void bloom_set(uint64_t *bl, uint64_t h)
{
    unsigned a = (unsigned)(h & 1023u), b = (unsigned)((h >> 10) & 1023u);
    bl[a >> 6] |= 1ull << (a & 63u);
    bl[b >> 6] |= 1ull << (b & 63u);
}

static bool bloom_has(const uint64_t *bl, uint64_t h)
{
    unsigned a = (unsigned)(h & 1023u), b = (unsigned)((h >> 10) & 1023u);
    return (bl[a >> 6] >> (a & 63u) & 1u) && (bl[b >> 6] >> (b & 63u) & 1u);
}

/* ---- span insert (partition lock held) ---- */

/* Room for one more address in |r|. */
static int ref_reserve(fw_store *s, store_partition *p, ref_ring *r)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2u : 64u;
        if (ncap > SIZE_MAX / sizeof(uint64_t) || !make_room(s, p, ncap * sizeof(uint64_t)))
            return FW_ERR_NOMEM;
        uint64_t *nv = malloc(ncap * sizeof(uint64_t));
        if (!nv)
            return FW_ERR_NOMEM;
        for (size_t i = 0; i < r->n; i++)
            nv[i] = ring_get(r, i);
        free(r->v);
        mem_add(s, p, ncap * sizeof(uint64_t));
        mem_sub(s, p, r->cap * sizeof(uint64_t));
        r->v = nv;
        r->cap = ncap;
        r->head = 0;
    }
    return 0;
}

/* Capacity reserved by ref_reserve(). */
static void ref_push(ref_ring *r, uint64_t addr)
{
    r->v[(r->head + r->n) & (r->cap - 1u)] = addr;
    r->n++;
}

static int trace_reserve(fw_store *s, store_partition *p)
{
    if ((p->ntraces + 1u) * 2u <= p->traces_cap)
        return 0;
    size_t ncap = p->traces_cap ? p->traces_cap * 2u : STORE_INDEX_MIN_CAP;
    if (ncap > SIZE_MAX / sizeof(trace_slot) || !make_room(s, p, ncap * sizeof(trace_slot)))
        return FW_ERR_NOMEM;
    trace_slot *nt = calloc(ncap, sizeof(*nt));
    if (!nt)
        return FW_ERR_NOMEM;
    for (size_t i = 0; i < p->traces_cap; i++) {
        if (!p->traces[i].addr)
            continue;
        size_t j = slot_of(p->traces[i].hash, ncap);
        while (nt[j].addr)
            j = (j + 1u) & (ncap - 1u);
        nt[j] = p->traces[i];
    }
    free(p->traces);
    mem_add(s, p, ncap * sizeof(trace_slot));
    mem_sub(s, p, p->traces_cap * sizeof(trace_slot));
    p->traces = nt;
    p->traces_cap = ncap;
    return 0;
}

/* An open block with |need| free bytes, opening a new one when needed. */
static store_block *block_for(fw_store *s, store_partition *p, size_t need, uint64_t start_ns,
                              uint64_t arrival)
{
    store_block *b = p->open;
    if (b && b->cap - b->used >= need)
        return b;
    size_t cap = need > p->block_size ? need : p->block_size;
    if (p->nblocks == p->ring_cap) {
        size_t ncap = p->ring_cap ? p->ring_cap * 2u : 16u;
        if (!make_room(s, p, ncap * sizeof(store_block *)))
            return NULL;
        /* make_room may have shrunk the ring: grow only when still full. */
        if (p->nblocks == p->ring_cap) {
            store_block **nr = calloc(ncap, sizeof(*nr));
            if (!nr)
                return NULL;
            for (size_t i = 0; i < p->nblocks; i++)
                nr[i] = p->ring[(p->ring_head + i) & (p->ring_cap - 1u)];
            free(p->ring);
            mem_add(s, p, ncap * sizeof(store_block *));
            mem_sub(s, p, p->ring_cap * sizeof(store_block *));
            p->ring = nr;
            p->ring_cap = ncap;
            p->ring_head = 0;
        }
    }
    if (!make_room(s, p, sizeof(store_block) + cap))
        return NULL;
    b = malloc(sizeof(store_block) + cap);
    if (!b)
        return NULL;
    memset(b, 0, sizeof(store_block));
    b->seq = p->next_seq++;
    b->arrival = arrival;
    b->base_ns = start_ns;
    b->min_time = UINT64_MAX;
    b->cap = (uint32_t)cap;
    if (!p->nblocks)
        p->first_seq = b->seq;
    p->ring[(p->ring_head + p->nblocks) & (p->ring_cap - 1u)] = b;
    p->nblocks++;
    p->open = b;
    mem_add(s, p, sizeof(store_block) + cap);
    return b;
}

/* One span encoded outside the lock. */
typedef struct pending {
    uint64_t hash;
    uint64_t ohash;
    size_t off; /* body bytes in the scratch */
    uint32_t len;
    uint16_t flags;
    uint32_t name_id; /* FW_INTERN_NONE when stored inline */
} pending;

static uint32_t name_id_of(const uint8_t *body, size_t len)
{
    const uint8_t *p = body;
    uint64_t v;
    if (!fw__store_varint_get(&p, body + len, &v) || !fw__store_varint_get(&p, body + len, &v))
        return FW_INTERN_NONE;
    return (v & 1u) ? FW_INTERN_NONE : (uint32_t)(v >> 1);
}

/* Origins recently used by one batch in one partition, by pointer pair.
 * An entry is trusted only while its origin still exists with that hash. */
typedef struct origin_hints {
    const fw_resource *res[STORE_ORIGIN_CACHE];
    const fw_scope *scope[STORE_ORIGIN_CACHE];
    uint32_t idx[STORE_ORIGIN_CACHE];
    size_t n;
    size_t next;
} origin_hints;

static bool hinted_origin(store_partition *p, origin_hints *oh, const fw_span *sp, uint64_t ohash,
                          uint32_t *idx)
{
    for (size_t c = 0; c < oh->n; c++) {
        if (oh->res[c] != sp->resource || oh->scope[c] != sp->scope)
            continue;
        uint32_t i = oh->idx[c];
        if (i < p->origins_hwm && p->origins[i] && p->origins[i]->hash == ohash) {
            p->origins[i]->refs++;
            *idx = i;
            return true;
        }
        return false;
    }
    return false;
}

static void hint_origin(origin_hints *oh, const fw_span *sp, uint32_t idx)
{
    size_t c = oh->next;
    oh->next = (oh->next + 1u) % STORE_ORIGIN_CACHE;
    if (oh->n < STORE_ORIGIN_CACHE)
        oh->n++;
    oh->res[c] = sp->resource;
    oh->scope[c] = sp->scope;
    oh->idx[c] = idx;
}

static int insert_span(fw_store *s, store_partition *p, const fw_span *sp, const pending *pd,
                       const uint8_t *body, uint64_t arrival, origin_hints *oh)
{
    while (p->max_spans && p->spans >= p->max_spans && p->nblocks)
        evict_oldest_span(s, p);

    uint32_t origin;
    if (!hinted_origin(p, oh, sp, pd->ohash, &origin)) {
        if (origin_acquire(s, p, sp->resource, sp->scope, pd->ohash, &origin) != 0)
            return FW_ERR_NOMEM;
        hint_origin(oh, sp, origin);
    }

    bool is_error = (pd->flags & (STORE_F_FAULT | STORE_F_CLIENT)) ||
                    ((pd->flags & STORE_F_STATUS_MASK) >> STORE_F_STATUS_SHIFT) == FW_STATUS_ERROR;
    bool is_throttled = (pd->flags & STORE_F_THROTTLED) != 0;
    size_t need = STORE_REC_HDR_MAX + pd->len;
    store_block *b;
    int rv = trace_reserve(s, p);
    if (!rv && is_error)
        rv = ref_reserve(s, p, &p->errors);
    if (!rv && is_throttled)
        rv = ref_reserve(s, p, &p->throttled);
    if (rv || !(b = block_for(s, p, need, sp->start_ns, arrival))) {
        origin_release(s, p, origin);
        return FW_ERR_NOMEM;
    }

    uint32_t off = b->used;
    uint64_t addr = addr_of(b, off);
    trace_slot *ts = trace_lookup(p, pd->hash, sp->trace_id);
    uint64_t prev_delta = ts ? addr - ts->addr : 0;

    uint8_t hdr[STORE_REC_HDR_MAX];
    size_t h = 2;
    hdr[0] = (uint8_t)(pd->flags & 0xffu);
    hdr[1] = (uint8_t)(pd->flags >> 8);
    h += fw__store_varint_put(hdr + h, origin);
    h += fw__store_varint_put(hdr + h, prev_delta);
    uint64_t zz = (uint64_t)(int64_t)(sp->start_ns - b->base_ns);
    zz = (zz << 1) ^ (uint64_t)((int64_t)zz >> 63);
    h += fw__store_varint_put(hdr + h, zz);
    size_t rest = h + pd->len;
    uint8_t *dst = b->data + off;
    size_t n = fw__store_varint_put(dst, rest);
    memcpy(dst + n, hdr, h);
    memcpy(dst + n + h, body, pd->len);
    b->used += (uint32_t)(n + rest);
    b->nlive++;

    uint64_t t = fw__store_span_time(sp->start_ns, sp->end_ns);
    if (t < b->min_time)
        b->min_time = t;
    if (t > b->max_time)
        b->max_time = t;
    uint32_t svc = p->origins[origin]->service_id;
    if (svc == FW_INTERN_NONE || pd->name_id == FW_INTERN_NONE)
        b->unnamed = true;
    bloom_set(b->bloom, bloom_key(svc, 0));
    bloom_set(b->bloom, bloom_key(svc, pd->name_id));

    if (ts) {
        ts->addr = addr;
    } else {
        size_t mask = p->traces_cap - 1u;
        size_t i = slot_of(pd->hash, p->traces_cap);
        while (p->traces[i].addr)
            i = (i + 1u) & mask;
        p->traces[i] = (trace_slot){pd->hash, addr};
        p->ntraces++;
    }
    if (is_error)
        ref_push(&p->errors, addr);
    if (is_throttled)
        ref_push(&p->throttled, addr);
    p->spans++;
    return 0;
}

/* ---- logs (deep copies, as in the first store) ---- */

static store_log_node **log_index_find(const log_ring *r, uint64_t hash,
                                       const uint8_t id[FW_TRACE_ID_LEN], size_t *slot)
{
    if (r->cap == 0)
        return NULL;
    size_t mask = r->cap - 1u;
    for (size_t i = slot_of(hash, r->cap);; i = (i + 1u) & mask) {
        store_log_node *n = r->slots[i];
        if (!n) {
            if (slot)
                *slot = i;
            return NULL;
        }
        if (n->hash == hash && memcmp(n->trace_id, id, FW_TRACE_ID_LEN) == 0)
            return &r->slots[i];
    }
}

static void log_index_delete_slot(log_ring *r, size_t i)
{
    size_t mask = r->cap - 1u;
    size_t j = i;
    for (;;) {
        j = (j + 1u) & mask;
        store_log_node *n = r->slots[j];
        if (!n)
            break;
        size_t k = slot_of(n->hash, r->cap);
        bool home_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!home_between) {
            r->slots[i] = n;
            i = j;
        }
    }
    r->slots[i] = NULL;
}

static bool log_evict_oldest(fw_store *s, store_partition *p)
{
    log_ring *r = &p->logs;
    store_log_node *n = r->head;
    if (!n)
        return false;
    r->head = n->next;
    if (!r->head)
        r->tail = NULL;
    if (n->indexed) {
        size_t mask = r->cap - 1u;
        for (size_t i = slot_of(n->hash, r->cap); r->slots[i]; i = (i + 1u) & mask) {
            if (r->slots[i] != n)
                continue;
            if (n->trace_next) {
                n->trace_next->trace_tail = n->trace_tail;
                r->slots[i] = n->trace_next;
            } else {
                log_index_delete_slot(r, i);
                r->ntraces--;
            }
            break;
        }
    }
    r->count--;
    mem_sub(s, p, n->bytes);
    atomic_fetch_add_explicit(&s->logs_evicted, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->logs_held, 1, memory_order_relaxed);
    free(n);
    return true;
}

static int log_index_grow(fw_store *s, store_partition *p)
{
    log_ring *r = &p->logs;
    size_t ncap = r->cap ? r->cap * 2u : STORE_INDEX_MIN_CAP;
    if (ncap > SIZE_MAX / sizeof(store_log_node *) ||
        !make_room(s, p, ncap * sizeof(store_log_node *)))
        return FW_ERR_NOMEM;
    store_log_node **ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return FW_ERR_NOMEM;
    for (size_t i = 0; i < r->cap; i++) {
        store_log_node *n = r->slots[i];
        if (!n)
            continue;
        size_t j = slot_of(n->hash, ncap);
        while (ns[j])
            j = (j + 1u) & (ncap - 1u);
        ns[j] = n;
    }
    free(r->slots);
    mem_add(s, p, ncap * sizeof(store_log_node *));
    mem_sub(s, p, r->cap * sizeof(store_log_node *));
    r->slots = ns;
    r->cap = ncap;
    return 0;
}

/* Takes |n| on success. */
static int log_insert(fw_store *s, store_partition *p, store_log_node *n)
{
    log_ring *r = &p->logs;
    while (r->head && r->max_count && r->count >= r->max_count)
        log_evict_oldest(s, p);
    if (!make_room(s, p, n->bytes))
        return FW_ERR_NOMEM;
    if (n->indexed) {
        store_log_node **head = log_index_find(r, n->hash, n->trace_id, NULL);
        if (head) {
            (*head)->trace_tail->trace_next = n;
            (*head)->trace_tail = n;
        } else {
            size_t slot = 0;
            if ((r->ntraces + 1u) * 2u > r->cap && log_index_grow(s, p) != 0) {
                n->indexed = false; /* kept, not findable by trace id */
            } else {
                (void)log_index_find(r, n->hash, n->trace_id, &slot);
                r->slots[slot] = n;
                n->trace_tail = n;
                r->ntraces++;
            }
        }
    }
    if (r->tail)
        r->tail->next = n;
    else
        r->head = n;
    r->tail = n;
    r->count++;
    mem_add(s, p, n->bytes);
    atomic_fetch_add_explicit(&s->logs_stored, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->logs_held, 1, memory_order_relaxed);
    return 0;
}

/* ---- lifecycle ---- */

static size_t split(size_t total, unsigned parts)
{
    if (total == 0)
        return 0; /* unbounded */
    size_t per = total / parts;
    return per ? per : 1u;
}

static void partition_free(store_partition *p)
{
    for (size_t i = 0; i < p->nblocks; i++)
        free(p->ring[(p->ring_head + i) & (p->ring_cap - 1u)]);
    free(p->ring);
    free(p->traces);
    for (uint32_t i = 0; i < p->origins_hwm; i++)
        free(p->origins[i]);
    free(p->origins);
    free(p->free_origins);
    free(p->omap);
    free(p->errors.v);
    free(p->throttled.v);
    store_log_node *n = p->logs.head;
    while (n) {
        store_log_node *next = n->next;
        free(n);
        n = next;
    }
    free(p->logs.slots);
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
    s->intern = cfg->intern;
    if (!s->intern) {
        size_t cap = cfg->memory_limit ? cfg->memory_limit / STORE_OWN_INTERN_DIV
                                       : STORE_OWN_INTERN_DEFAULT;
        if (cap < STORE_OWN_INTERN_MIN)
            cap = STORE_OWN_INTERN_MIN;
        if (fw_intern_new(cap, &s->intern) != 0)
            goto fail_intern;
        s->own_intern = true;
    }
    s->seen = calloc(STORE_SEEN_SLOTS, sizeof(*s->seen));
    if (!s->seen)
        goto fail_seen;
    s->policy = (store_strpolicy){s->intern, s->seen, STORE_SEEN_SLOTS - 1u, mix64(s->seed + 1u), NULL};

    /* sizeof(store_partition) is a multiple of its 64-byte alignment. */
    s->parts = aligned_alloc(64, sizeof(store_partition) * s->nparts);
    if (!s->parts)
        goto fail_parts;
    memset(s->parts, 0, sizeof(store_partition) * s->nparts);
    size_t budget = split(cfg->memory_limit, s->nparts);
    size_t block = STORE_BLOCK_MAX;
    if (budget) {
        while (block > STORE_BLOCK_MIN && block > budget / 64u)
            block /= 2u;
    }
    unsigned i;
    for (i = 0; i < s->nparts; i++) {
        store_partition *p = &s->parts[i];
        if (pthread_mutex_init(&p->mu, NULL) != 0)
            goto fail_mutex;
        p->budget = budget ? budget : SIZE_MAX;
        p->max_spans = split(cfg->max_spans, s->nparts);
        p->logs.max_count = split(cfg->max_logs, s->nparts);
        p->block_size = block;
        p->first_seq = p->next_seq = 1;
    }
    *out = s;
    return 0;

fail_mutex:
    while (i-- > 0)
        pthread_mutex_destroy(&s->parts[i].mu);
    free(s->parts);
fail_parts:
    free(s->seen);
fail_seen:
    if (s->own_intern)
        fw_intern_free(s->intern);
fail_intern:
    free(s);
    return FW_ERR_NOMEM;
}

void fw_store_free(fw_store *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nparts; i++) {
        partition_free(&s->parts[i]);
        pthread_mutex_destroy(&s->parts[i].mu);
    }
    free(s->parts);
    free(s->seen);
    if (s->own_intern)
        fw_intern_free(s->intern);
    free(s);
}

/* ---- hand-off ---- */

int fw_store_add_spans(fw_store *s, const fw_span *spans, size_t n)
{
    return fw_store_add_named(s, spans, NULL, NULL, n);
}

int fw_store_add_classified(fw_store *s, const fw_span *spans, const fw_span_class *cls, size_t n)
{
    return fw_store_add_named(s, spans, cls, NULL, n);
}

fw_intern *fw_store_dictionary(const fw_store *s)
{
    return s->intern;
}

int fw_store_add_named(fw_store *s, const fw_span *spans, const fw_span_class *cls,
                       const uint32_t *name_ids, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(pending) / 2u)
        return FW_ERR_NOMEM;
    int rv = FW_ERR_NOMEM;
    store_out out = {NULL, 0, 0, SIZE_MAX / 4u};
    pending *pd = malloc(n * sizeof(*pd));
    size_t *order = malloc(n * sizeof(*order));
    size_t *start = calloc((size_t)s->nparts + 1u, sizeof(*start));
    if (!pd || !order || !start)
        goto out;
    /* Attribute keys and repeated values recur across the batch: each
     * distinct string is looked up in the dictionary once. */
    fw_intern_cache cache;
    fw_intern_cache_init(&cache);
    store_strpolicy pol = s->policy;
    pol.cache = &cache;

    /* Encode everything outside the locks; a span too large for any
     * partition refuses the batch before anything is stored. */
    size_t budget = s->parts[0].budget;
    /* Spans of one batch share a few resource/scope pairs: hash each once. */
    struct {
        const fw_resource *res;
        const fw_scope *scope;
        uint64_t hash;
    } ocache[STORE_ORIGIN_CACHE];
    size_t ocache_n = 0, ocache_next = 0;
    for (size_t i = 0; i < n; i++) {
        const fw_span *sp = &spans[i];
        pd[i].hash = hash_trace(s, sp->trace_id);
        size_t c = 0;
        while (c < ocache_n && (ocache[c].res != sp->resource || ocache[c].scope != sp->scope))
            c++;
        if (c == ocache_n) {
            c = ocache_next;
            ocache_next = (ocache_next + 1u) % STORE_ORIGIN_CACHE;
            if (ocache_n < STORE_ORIGIN_CACHE)
                ocache_n++;
            ocache[c].res = sp->resource;
            ocache[c].scope = sp->scope;
            ocache[c].hash = fw__store_origin_hash(s->seed, sp->resource, sp->scope);
        }
        pd[i].ohash = ocache[c].hash;
        pd[i].off = out.len;
        rv = fw__store_encode_body(&out, &pol, sp, cls ? &cls[i] : NULL,
                                   name_ids ? name_ids[i] : FW_INTERN_NONE, &pd[i].flags);
        if (rv) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        size_t len = out.len - pd[i].off;
        if (len > STORE_RECORD_MAX || sizeof(store_block) + STORE_REC_HDR_MAX + len > budget) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        pd[i].len = (uint32_t)len;
        pd[i].name_id = name_ids && name_ids[i] != FW_INTERN_NONE
                            ? name_ids[i]
                            : name_id_of(out.data + pd[i].off, len);
        start[(pd[i].hash & (s->nparts - 1u)) + 1u]++;
    }
    /* Group by partition, keeping arrival order within each. */
    for (unsigned q = 0; q < s->nparts; q++)
        start[q + 1u] += start[q];
    for (size_t i = 0; i < n; i++)
        order[start[pd[i].hash & (s->nparts - 1u)]++] = i;
    /* start[q] is now the end of partition q's run. */

    uint64_t arrival = atomic_fetch_add_explicit(&s->seq, n, memory_order_relaxed);
    rv = 0;
    size_t begin = 0;
    for (unsigned q = 0; q < s->nparts; q++) {
        size_t end = start[q];
        if (end == begin)
            continue;
        store_partition *p = &s->parts[q];
        size_t stored = 0;
        origin_hints oh;
        oh.n = oh.next = 0;
        pthread_mutex_lock(&p->mu);
        for (size_t k = begin; k < end; k++) {
            size_t i = order[k];
            if (insert_span(s, p, &spans[i], &pd[i], out.data + pd[i].off, arrival + i, &oh) != 0) {
                rv = FW_ERR_NOMEM;
                continue;
            }
            stored++;
        }
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add_explicit(&s->spans_stored, stored, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->spans_held, stored, memory_order_relaxed);
        begin = end;
    }
out:
    free(out.data);
    free(pd);
    free(order);
    free(start);
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
    if (n > SIZE_MAX / sizeof(store_log_node *))
        return FW_ERR_NOMEM;
    store_log_node **copies = calloc(n, sizeof(*copies));
    if (!copies)
        return FW_ERR_NOMEM;
    int rv = 0;
    size_t budget = s->parts[0].budget;
    for (size_t i = 0; i < n; i++) {
        if (!(copies[i] = fw__store_log_copy(&recs[i], budget == SIZE_MAX ? 0 : budget))) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        store_log_node *node = copies[i];
        if (recs[i].has_trace_id && !fw_id_is_zero(recs[i].trace_id, FW_TRACE_ID_LEN)) {
            node->indexed = true;
            memcpy(node->trace_id, recs[i].trace_id, FW_TRACE_ID_LEN);
            node->hash = hash_trace(s, node->trace_id);
        } else {
            node->hash = mix64(log_time(&recs[i]) ^ s->seed);
        }
    }
    uint64_t arrival = atomic_fetch_add_explicit(&s->seq, n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        store_log_node *node = copies[i];
        store_partition *p = partition_of(s, node->hash);
        node->seq = arrival + i;
        pthread_mutex_lock(&p->mu);
        if (log_insert(s, p, node) == 0)
            copies[i] = NULL;
        else
            rv = FW_ERR_NOMEM;
        pthread_mutex_unlock(&p->mu);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    return rv;
}

/* ---- expiry ---- */

void fw_store_expire(fw_store *s, uint64_t now_ns)
{
    uint64_t ret = s->cfg.retention_ns;
    if (!ret || now_ns <= ret)
        return;
    uint64_t cutoff = now_ns - ret;
    for (unsigned q = 0; q < s->nparts; q++) {
        store_partition *p = &s->parts[q];
        pthread_mutex_lock(&p->mu);
        /* Whole blocks, wherever they are: backdated data may sit behind newer. */
        for (uint64_t seq = p->first_seq; seq < p->next_seq; seq++) {
            store_block *b = block_of(p, seq);
            if (b && !b->ghost && b->max_time < cutoff)
                block_drop(s, p, (size_t)(seq - p->first_seq));
        }
        /* The oldest block's old prefix goes record by record (in-order
         * data then expires precisely; the memory returns with the block). */
        while (p->nblocks) {
            store_block *b = p->ring[p->ring_head];
            store_rec r;
            if (b->head >= b->used ||
                !fw__store_rec_parse(b->data + b->head, b->data + b->used, b->base_ns, &r) ||
                fw__store_span_time(r.start_ns, r.end_ns) >= cutoff)
                break;
            evict_oldest_span(s, p);
        }
        /* Logs: from the oldest, while their time is known and old. */
        while (p->logs.head) {
            uint64_t t = log_time(&p->logs.head->rec);
            if (t == 0 || t >= cutoff)
                break;
            log_evict_oldest(s, p);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

/* ---- queries ---- */

typedef struct hit {
    uint64_t time;
    uint64_t key; /* addr (spans) or arrival seq (logs): ties */
    unsigned part;
    const fw_log_record *rec;
} hit;

static bool hit_newer(const hit *a, const hit *b)
{
    if (a->time != b->time)
        return a->time > b->time;
    if (a->part != b->part)
        return a->part > b->part;
    return a->key > b->key;
}

static int hit_cmp_newest_first(const void *pa, const void *pb)
{
    const hit *a = pa, *b = pb;
    if (hit_newer(a, b))
        return -1;
    return hit_newer(b, a) ? 1 : 0;
}

/* A bounded min-heap keyed by newness: the root is the oldest kept hit, so
 * the |cap| newest matches survive a scan of any length. With cap 0 it is
 * unbounded (grows). */
typedef struct hit_heap {
    hit *items;
    size_t n;
    size_t cap;
    size_t limit; /* 0 = unbounded */
    bool failed;
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
        hit t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
}

static bool heap_full(const hit_heap *h)
{
    return h->limit && h->n >= h->limit;
}

static void heap_offer(hit_heap *h, const hit *e)
{
    if (heap_full(h)) {
        if (hit_newer(e, &h->items[0])) {
            h->items[0] = *e;
            heap_sift_down(h, 0);
        }
        return;
    }
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2u : 64u;
        if (h->limit && ncap > h->limit)
            ncap = h->limit;
        hit *ni = ncap <= SIZE_MAX / sizeof(hit) ? realloc(h->items, ncap * sizeof(hit)) : NULL;
        if (!ni) {
            h->failed = true;
            return;
        }
        h->items = ni;
        h->cap = ncap;
    }
    size_t i = h->n++;
    h->items[i] = *e;
    while (i > 0) {
        size_t parent = (i - 1u) / 2u;
        if (!hit_newer(&h->items[parent], &h->items[i]))
            break;
        hit t = h->items[i];
        h->items[i] = h->items[parent];
        h->items[parent] = t;
        i = parent;
    }
}

/* A span query resolved against the dictionary. */
typedef struct span_match {
    const fw_span_query *q;
    fw_str service;
    fw_str operation;
    uint32_t service_id; /* FW_INTERN_NONE: not in the dictionary */
    uint32_t operation_id;
} span_match;

static bool name_matches(const span_match *m, const store_rec *r)
{
    if (!m->operation.ptr)
        return true;
    if (r->name_ref & 1u)
        return (r->name_ref >> 1) == m->operation.len &&
               memcmp(r->name_ptr, m->operation.ptr, m->operation.len) == 0;
    return m->operation_id != FW_INTERN_NONE && (r->name_ref >> 1) == m->operation_id;
}

/* The filters that need only a record's flags and origin (the first fields
 * of its header): kind, errors/throttled, service. */
static bool head_matches(const span_match *m, const store_partition *p, unsigned flags,
                         uint32_t origin)
{
    const fw_span_query *q = m->q;
    if (q->kind >= 0 && (int)(flags & STORE_F_KIND_MASK) != q->kind)
        return false;
    if (q->errors_only && !(flags & (STORE_F_FAULT | STORE_F_CLIENT)) &&
        ((flags & STORE_F_STATUS_MASK) >> STORE_F_STATUS_SHIFT) != FW_STATUS_ERROR)
        return false;
    if (q->throttled_only && !(flags & STORE_F_THROTTLED))
        return false;
    if (m->service.ptr) {
        const store_origin *o = origin < p->origins_hwm ? p->origins[origin] : NULL;
        if (!o)
            return false;
        if (o->service_id != FW_INTERN_NONE) {
            if (o->service_id != m->service_id)
                return false;
        } else {
            fw_str sn = o->resource.service_name;
            if (!sn.ptr || sn.len != m->service.len || memcmp(sn.ptr, m->service.ptr, sn.len) != 0)
                return false;
        }
    }
    return true;
}

static bool rec_matches(const span_match *m, const store_partition *p, const store_rec *r)
{
    const fw_span_query *q = m->q;
    if (!head_matches(m, p, r->flags, r->origin))
        return false;
    uint64_t t = fw__store_span_time(r->start_ns, r->end_ns);
    if ((q->from_ns && t < q->from_ns) || (q->to_ns && t > q->to_ns))
        return false;
    return name_matches(m, r);
}

/* Reads only the size, flags and origin at the front of the record at |p|
 * (< |limit|), so a scan can skip records the head filters reject without
 * parsing the rest of the header. false when malformed. */
static bool rec_head(const uint8_t *p, const uint8_t *limit, uint32_t *size, unsigned *flags,
                     uint32_t *origin)
{
    const uint8_t *start = p;
    uint64_t n, v;
    if (!fw__store_varint_get(&p, limit, &n) || n > (uint64_t)(limit - p) || n < 2)
        return false;
    const uint8_t *end = p + n;
    *size = (uint32_t)(end - start);
    *flags = (unsigned)(p[0] | (p[1] << 8));
    p += 2;
    if (!fw__store_varint_get(&p, end, &v) || v > UINT32_MAX)
        return false;
    *origin = (uint32_t)v;
    return true;
}

static bool block_may_match(const span_match *m, const store_block *b, const hit_heap *h)
{
    const fw_span_query *q = m->q;
    if (b->nlive == 0)
        return false;
    if ((q->from_ns && b->max_time < q->from_ns) || (q->to_ns && b->min_time > q->to_ns))
        return false;
    if (heap_full(h) && b->max_time < h->items[0].time)
        return false;
    if (m->service.ptr && !b->unnamed) {
        if (m->service_id == FW_INTERN_NONE)
            return false;
        if (!bloom_has(b->bloom, bloom_key(m->service_id, 0)))
            return false;
        if (m->operation.ptr &&
            (m->operation_id == FW_INTERN_NONE ||
             !bloom_has(b->bloom, bloom_key(m->service_id, m->operation_id))))
            return false;
    }
    return true;
}

static void offer_rec(hit_heap *h, unsigned part, uint64_t addr, const store_rec *r)
{
    hit e = {fw__store_span_time(r->start_ns, r->end_ns), addr, part, NULL};
    heap_offer(h, &e);
}

static void collect_from_refs(const span_match *m, const store_partition *p, unsigned part,
                              const ref_ring *refs, hit_heap *h)
{
    for (size_t i = refs->n; i-- > 0;) {
        uint64_t addr = ring_get(refs, i);
        store_rec r;
        if (rec_at(p, addr, NULL, &r) && rec_matches(m, p, &r))
            offer_rec(h, part, addr, &r);
    }
}

static void collect_from_blocks(const span_match *m, const store_partition *p, unsigned part,
                                hit_heap *h)
{
    for (size_t pos = p->nblocks; pos-- > 0;) {
        const store_block *b = p->ring[(p->ring_head + pos) & (p->ring_cap - 1u)];
        if (!b || !block_may_match(m, b, h))
            continue;
        uint32_t off = b->head;
        while (off < b->used) {
            uint32_t size, origin;
            unsigned flags;
            if (!rec_head(b->data + off, b->data + b->used, &size, &flags, &origin))
                break;
            if (!head_matches(m, p, flags, origin)) {
                off += size; /* rejected on the head alone: no full parse */
                continue;
            }
            store_rec r;
            if (!fw__store_rec_parse(b->data + off, b->data + b->used, b->base_ns, &r))
                break;
            if (rec_matches(m, p, &r))
                offer_rec(h, part, addr_of(b, off), &r);
            off += r.size;
        }
    }
}

/* Decodes the live record at |addr| and visits it (partition lock held).
 * Returns 1 when visited, 0 when gone or undecodable; sets |*stop|. */
static int visit_addr(fw_store *s, store_partition *p, uint64_t addr, fw_arena *a,
                      fw_store_span_visit visit, void *ctx, int *stop)
{
    store_rec r;
    if (!rec_at(p, addr, NULL, &r) || r.origin >= p->origins_hwm || !p->origins[r.origin])
        return 0;
    fw_arena_reset(a);
    fw_span sp;
    if (fw__store_rec_decode(&r, p->origins[r.origin], s->intern, a, &sp) != 0)
        return 0;
    *stop = visit(ctx, &sp);
    return 1;
}

size_t fw_store_find_spans(fw_store *s, const fw_span_query *q, fw_store_span_visit visit,
                           void *ctx)
{
    span_match m = {q, fw_str_from(q->service), fw_str_from(q->operation), FW_INTERN_NONE,
                    FW_INTERN_NONE};
    if (m.service.ptr)
        m.service_id = fw_intern_find(s->intern, m.service);
    if (m.operation.ptr)
        m.operation_id = fw_intern_find(s->intern, m.operation);
    hit_heap h = {NULL, 0, 0, q->limit, false};
    for (unsigned part = 0; part < s->nparts; part++) {
        store_partition *p = &s->parts[part];
        pthread_mutex_lock(&p->mu);
        if (q->throttled_only)
            collect_from_refs(&m, p, part, &p->throttled, &h);
        else if (q->errors_only)
            collect_from_refs(&m, p, part, &p->errors, &h);
        else
            collect_from_blocks(&m, p, part, &h);
        pthread_mutex_unlock(&p->mu);
    }
    if (h.n > 1)
        qsort(h.items, h.n, sizeof(*h.items), hit_cmp_newest_first);

    size_t visited = 0;
    fw_arena *a = h.n ? fw_arena_new(STORE_DECODE_ARENA_CAP) : NULL;
    for (size_t i = 0; a && i < h.n; i++) {
        store_partition *p = &s->parts[h.items[i].part];
        int stop = 0;
        pthread_mutex_lock(&p->mu);
        visited += (size_t)visit_addr(s, p, h.items[i].key, a, visit, ctx, &stop);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
    }
    fw_arena_free(a);
    free(h.items);
    return visited;
}

size_t fw_store_get_trace(fw_store *s, const uint8_t trace_id[FW_TRACE_ID_LEN],
                          fw_store_span_visit visit, void *ctx)
{
    uint64_t hash = hash_trace(s, trace_id);
    store_partition *p = partition_of(s, hash);
    size_t visited = 0;
    uint64_t *chain = NULL;
    size_t n = 0, cap = 0;
    fw_arena *a = fw_arena_new(STORE_DECODE_ARENA_CAP);
    if (!a)
        return 0;
    pthread_mutex_lock(&p->mu);
    trace_slot *ts = trace_lookup(p, hash, trace_id);
    /* Newest to oldest along the chain, then visited in arrival order. */
    uint64_t addr = ts ? ts->addr : 0;
    while (addr) {
        store_rec r;
        if (!rec_at(p, addr, NULL, &r) || memcmp(r.trace_id, trace_id, FW_TRACE_ID_LEN) != 0)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2u : 64u;
            uint64_t *nc = realloc(chain, ncap * sizeof(*chain));
            if (!nc)
                break;
            chain = nc;
            cap = ncap;
        }
        chain[n++] = addr;
        addr = (r.prev_delta && r.prev_delta < addr) ? chain_resolve(p, addr - r.prev_delta) : 0;
    }
    int stop = 0;
    for (size_t i = n; i-- > 0 && !stop;)
        visited += (size_t)visit_addr(s, p, chain[i], a, visit, ctx, &stop);
    pthread_mutex_unlock(&p->mu);
    fw_arena_free(a);
    free(chain);
    return visited;
}

/* ---- log filters: severity and text (fw_log_query) ---- */

/* The record's severity: its number, or the level its text names. */
static int32_t log_severity(const fw_log_record *r)
{
    static const struct {
        const char *name;
        int32_t num;
    } levels[] = {{"trace", 1}, {"debug", 5}, {"info", 9},  {"warn", 13},
                  {"warning", 13}, {"error", 17}, {"fatal", 21}, {"critical", 21}};
    if (r->severity_number > 0)
        return r->severity_number;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (r->severity_text.ptr && fw_str_ieq(r->severity_text, levels[i].name))
            return levels[i].num;
    return 0;
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ASCII case-insensitive search of |needle| (|m| > 0) in |hay|. */
static bool str_icontains(fw_str hay, const char *needle, size_t m)
{
    if (!hay.ptr || hay.len < m)
        return false;
    const unsigned char *h = (const unsigned char *)hay.ptr;
    const unsigned char *nd = (const unsigned char *)needle;
    unsigned char first = ascii_lower(nd[0]);
    for (size_t i = 0; i + m <= hay.len; i++) {
        if (ascii_lower(h[i]) != first)
            continue;
        size_t k = 1;
        while (k < m && ascii_lower(h[i + k]) == ascii_lower(nd[k]))
            k++;
        if (k == m)
            return true;
    }
    return false;
}

/* Any string inside |v| (arrays and kvlists walked to a bounded depth). */
static bool value_icontains(const fw_value *v, const char *needle, size_t m, unsigned depth)
{
    switch (v->type) {
    case FW_VALUE_STRING:
        return str_icontains(v->u.str, needle, m);
    case FW_VALUE_ARRAY:
        for (size_t i = 0; depth < 8u && i < v->u.array.n; i++)
            if (value_icontains(&v->u.array.items[i], needle, m, depth + 1u))
                return true;
        return false;
    case FW_VALUE_KVLIST:
        for (size_t i = 0; depth < 8u && i < v->u.kvlist.n; i++)
            if (value_icontains(&v->u.kvlist.items[i].value, needle, m, depth + 1u))
                return true;
        return false;
    default:
        return false;
    }
}

static bool log_text_matches(const fw_log_record *r, const char *text)
{
    size_t m = strlen(text);
    if (value_icontains(&r->body, text, m, 0))
        return true;
    for (size_t i = 0; i < r->attrs.n; i++)
        if (value_icontains(&r->attrs.items[i].value, text, m, 0))
            return true;
    return false;
}

static bool log_matches(const fw_log_query *q, const store_log_node *n)
{
    const fw_log_record *r = &n->rec;
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
    if (q->severity_min > 0 && log_severity(r) < q->severity_min)
        return false;
    if (q->text && q->text[0] && !log_text_matches(r, q->text))
        return false;
    return true;
}

static void collect_logs(const fw_log_query *q, const store_log_node *first, bool by_trace,
                         hit_heap *h)
{
    for (const store_log_node *n = first; n; n = by_trace ? n->trace_next : n->next) {
        if (!log_matches(q, n))
            continue;
        hit e = {log_time(&n->rec), n->seq, 0, &n->rec};
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
    for (unsigned i = lo; i < hi; i++)
        pthread_mutex_lock(&s->parts[i].mu);

    size_t visited = 0;
    hit_heap h = {NULL, 0, 0, q->limit, false};
    for (unsigned i = lo; i < hi; i++) {
        const log_ring *r = &s->parts[i].logs;
        if (q->has_trace_id) {
            store_log_node **head = log_index_find(r, hash, q->trace_id, NULL);
            if (head)
                collect_logs(q, *head, true, &h);
        } else {
            collect_logs(q, r->head, false, &h);
        }
    }
    if (h.n > 1)
        qsort(h.items, h.n, sizeof(*h.items), hit_cmp_newest_first);
    for (size_t i = 0; i < h.n; i++) {
        visited++;
        if (visit(ctx, h.items[i].rec))
            break;
    }
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
