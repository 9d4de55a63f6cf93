/* red.c - RED series of red.h: per-shard open-addressing tables of series,
 * each series a sorted sparse array of 10 s event-time buckets (allocated
 * only when they get data) plus lifetime totals and exemplars; queries merge
 * shards. Owns the series cap (overflow folding), the memory budget (oldest
 * buckets first) and the spanmetrics exposition. Never calls a visitor while
 * holding a shard lock, and never lets input grow memory past the budget.
 *
 * Policies (documented here, tested in tests/unit/test_red.c):
 * - Too old: an observation whose bucket is older than the newest bucket seen
 *   minus the retention, or than the last fw_red_expire() cutoff, is ignored
 *   (stats.too_old) and counts nowhere, not even in the lifetime totals.
 *   Once fw_red_expire() has given a clock, data more than 15 min ahead of
 *   it is stored but moves the "newest bucket" reference only to clock +
 *   15 min, so one bogus future timestamp cannot age out current data.
 * - Memory: every byte this module allocates is counted in memory_used.
 *   Before an allocation would pass memory_limit, the writer evicts the
 *   oldest 10 s slot of its own shard (shards are trace-id partitions, so
 *   they age in step); when the incoming data is older than everything held
 *   there it is the data dropped (stats.dropped). Lifetime totals of an
 *   existing series still count an observation whose bucket was refused.
 * - Series cap: beyond max_series a new key folds into its overflow key
 *   (see fold_key()). Overflow series may take max_series / 4 + 64 more
 *   slots; past that they fold into the all-overflow key of their kind
 *   ((OVF), (OVF, OVF, span_kind), (OVF, OVF)), which is always admitted, so
 *   the number of series stays bounded. An id of FW_INTERN_NONE folds too.
 * - Expire: buckets that end at or before now - retention are freed; a
 *   series keeps its lifetime totals until it has held no data for longer
 *   than the retention (its newest data older than now - 2 x retention),
 *   then it is dropped entirely and its slot under max_series is freed. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flywheel/intern.h"
#include "flywheel/red.h"

#define MAX_PARTITIONS 4096u
#define MAX_RANGE_STEPS 10000u
#define OVF FW_RED_OVERFLOW_ID

typedef struct red_exemplars {
    uint8_t n;
    bool failed[FW_RED_EXEMPLARS];
    uint64_t time_ns[FW_RED_EXEMPLARS];
    uint8_t trace_id[FW_RED_EXEMPLARS][FW_TRACE_ID_LEN];
} red_exemplars; /* invariant: sorted failing first, then newest first */

typedef struct red_bucket {
    uint64_t start_ns; /* multiple of FW_RED_BUCKET_NS */
    double requests, faults, client_errors, throttled;
    red_exemplars ex;
    fw_hist latency;
    fw_hist server_latency[]; /* one element for EDGE series, none else */
} red_bucket;

typedef struct red_series {
    fw_red_key key;
    uint64_t hash;
    red_bucket **buckets; /* ascending start_ns, no duplicates */
    uint32_t nbuckets, cap;
    /* lifetime totals: never decrease */
    double requests, faults, client_errors, throttled;
    uint64_t first_ns, last_ns; /* event-time bounds of accepted data */
    red_exemplars ex;
    fw_hist latency;
    fw_hist server_latency[]; /* EDGE only */
} red_series;

typedef struct red_shard {
    pthread_mutex_t lock;
    red_series **table; /* open addressing, linear probing, NULL = free */
    size_t cap;         /* power of two, or 0 */
    size_t used;
    size_t nbuckets;     /* buckets held by the shard's series */
    uint64_t oldest;     /* oldest bucket start held, or UINT64_MAX = unknown */
    char pad[64];       /* keep neighbouring locks off one cache line */
} red_shard;

struct fw_red {
    fw_red_config cfg;
    size_t overflow_limit; /* series count beyond which only final keys enter */
    red_shard *shards;
    _Atomic uint64_t series;
    _Atomic uint64_t overflowed;
    _Atomic uint64_t dropped;
    _Atomic uint64_t memory_used;
    _Atomic uint64_t buckets;
    _Atomic uint64_t too_old;
    _Atomic uint64_t evicted;
    _Atomic uint64_t invalid;
    _Atomic uint64_t newest_start; /* newest bucket start accepted */
    _Atomic uint64_t floor_end;    /* last expire cutoff: buckets ending <= it are gone */
    _Atomic uint64_t clock_ns;     /* |now| of the last expire; 0 before the first */
};

/* How far ahead of the clock (the last expire's |now|) event time may move
 * the newest-bucket reference: data from a clock far in the future is kept
 * but cannot make current data look older than the retention. */
#define FUTURE_SKEW_NS (15ull * 60ull * 1000000000ull)

#define RELAXED memory_order_relaxed

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, RELAXED);
}

static void stat_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_sub_explicit(c, n, RELAXED);
}

static void atomic_max(_Atomic uint64_t *c, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(c, RELAXED);
    while (cur < v && !atomic_compare_exchange_weak_explicit(c, &cur, v, RELAXED, RELAXED)) {
    }
}

/* ---- keys ---------------------------------------------------------------- */

static bool key_valid(const fw_red_key *k)
{
    return k->kind <= FW_RED_EDGE;
}

/* Clears the fields a kind does not use, so lookups ignore caller garbage. */
static fw_red_key key_norm(const fw_red_key *k)
{
    fw_red_key n = {.kind = k->kind, .span_kind = 0, .a = k->a, .b = k->b};
    if (k->kind == FW_RED_SERVICE) n.b = 0;
    if (k->kind == FW_RED_OPERATION) n.span_kind = k->span_kind;
    return n;
}

static bool key_eq(const fw_red_key *x, const fw_red_key *y)
{
    return x->kind == y->kind && x->span_kind == y->span_kind && x->a == y->a && x->b == y->b;
}

static uint64_t key_hash(const fw_red_key *k)
{
    uint64_t h = ((uint64_t)k->a << 32 | k->b) ^ ((uint64_t)k->kind << 8 | k->span_kind) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 32);
}

static int key_cmp(const void *pa, const void *pb)
{
    const fw_red_key *x = pa, *y = pb;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    if (x->span_kind != y->span_kind) return x->span_kind < y->span_kind ? -1 : 1;
    return 0;
}

/* The overflow key of |k| (level 1), or the all-overflow key of its kind
 * (level 2, |final|). */
static fw_red_key fold_key(const fw_red_key *k, bool final)
{
    fw_red_key f = *k;
    switch (k->kind) {
    case FW_RED_SERVICE:
        f.a = OVF;
        break;
    case FW_RED_OPERATION:
        if (final || k->a == FW_INTERN_NONE) f.a = OVF;
        f.b = OVF;
        break;
    default:
        if (final || k->a == FW_INTERN_NONE) f.a = OVF;
        f.b = OVF;
        break;
    }
    return f;
}

static bool key_is_final(const fw_red_key *k)
{
    return k->a == OVF && (k->kind == FW_RED_SERVICE || k->b == OVF);
}

static bool key_is_overflow(const fw_red_key *k)
{
    return k->a == OVF || (k->kind != FW_RED_SERVICE && k->b == OVF);
}

static bool key_has_none(const fw_red_key *k)
{
    return k->a == FW_INTERN_NONE || (k->kind != FW_RED_SERVICE && k->b == FW_INTERN_NONE);
}

/* ---- exemplars ----------------------------------------------------------- */

static bool trace_id_zero(const uint8_t *id)
{
    for (size_t i = 0; i < FW_TRACE_ID_LEN; i++)
        if (id[i]) return false;
    return true;
}

/* Does (failed_a, time_a) rank before (failed_b, time_b)? */
static bool ex_before(bool fa, uint64_t ta, bool fb, uint64_t tb)
{
    if (fa != fb) return fa;
    return ta > tb;
}

/* Offers one trace id to |ex|: kept when it ranks among the best
 * FW_RED_EXEMPLARS (failing first, then newest); a trace id already held is
 * updated in place instead of duplicated. */
static void ex_offer(red_exemplars *ex, const uint8_t *trace_id, bool failed, uint64_t t)
{
    if (trace_id_zero(trace_id)) return;
    size_t n = ex->n;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(ex->trace_id[i], trace_id, FW_TRACE_ID_LEN) != 0) continue;
        failed = failed || ex->failed[i];
        if (ex->time_ns[i] > t) t = ex->time_ns[i];
        memmove(&ex->trace_id[i], &ex->trace_id[i + 1], (n - i - 1) * FW_TRACE_ID_LEN);
        memmove(&ex->failed[i], &ex->failed[i + 1], (n - i - 1) * sizeof ex->failed[0]);
        memmove(&ex->time_ns[i], &ex->time_ns[i + 1], (n - i - 1) * sizeof ex->time_ns[0]);
        n--;
        break;
    }
    size_t pos = 0;
    while (pos < n && !ex_before(failed, t, ex->failed[pos], ex->time_ns[pos]))
        pos++;
    if (pos >= FW_RED_EXEMPLARS) {
        ex->n = (uint8_t)n;
        return;
    }
    size_t keep = n < FW_RED_EXEMPLARS ? n : FW_RED_EXEMPLARS - 1u;
    size_t move = keep - pos;
    memmove(&ex->trace_id[pos + 1], &ex->trace_id[pos], move * FW_TRACE_ID_LEN);
    memmove(&ex->failed[pos + 1], &ex->failed[pos], move * sizeof ex->failed[0]);
    memmove(&ex->time_ns[pos + 1], &ex->time_ns[pos], move * sizeof ex->time_ns[0]);
    memcpy(ex->trace_id[pos], trace_id, FW_TRACE_ID_LEN);
    ex->failed[pos] = failed;
    ex->time_ns[pos] = t;
    ex->n = (uint8_t)(keep + 1u);
}

static void totals_offer_exemplars(fw_red_totals *t, const red_exemplars *src)
{
    red_exemplars cur;
    memset(&cur, 0, sizeof cur);
    cur.n = (uint8_t)t->n_exemplars;
    memcpy(cur.trace_id, t->exemplars, sizeof cur.trace_id);
    memcpy(cur.failed, t->exemplar_failed, sizeof cur.failed);
    memcpy(cur.time_ns, t->exemplar_time_ns, sizeof cur.time_ns);
    for (size_t i = 0; i < src->n; i++)
        ex_offer(&cur, src->trace_id[i], src->failed[i], src->time_ns[i]);
    t->n_exemplars = cur.n;
    memcpy(t->exemplars, cur.trace_id, sizeof cur.trace_id);
    memcpy(t->exemplar_failed, cur.failed, sizeof cur.failed);
    memcpy(t->exemplar_time_ns, cur.time_ns, sizeof cur.time_ns);
}

/* ---- totals -------------------------------------------------------------- */

static void totals_init(fw_red_totals *t)
{
    memset(t, 0, sizeof *t);
    fw_hist_init(&t->latency);
    fw_hist_init(&t->server_latency);
}

static void totals_add_bucket(fw_red_totals *t, const red_bucket *b, bool edge)
{
    t->requests += b->requests;
    t->faults += b->faults;
    t->client_errors += b->client_errors;
    t->errors = t->faults + t->client_errors;
    t->throttled += b->throttled;
    fw_hist_merge(&t->latency, &b->latency);
    if (edge) fw_hist_merge(&t->server_latency, &b->server_latency[0]);
    if (!t->first_ns || b->start_ns < t->first_ns) t->first_ns = b->start_ns;
    if (b->start_ns > t->last_ns) t->last_ns = b->start_ns;
    totals_offer_exemplars(t, &b->ex);
}

static void totals_add_lifetime(fw_red_totals *t, const red_series *s)
{
    t->requests += s->requests;
    t->faults += s->faults;
    t->client_errors += s->client_errors;
    t->errors = t->faults + t->client_errors;
    t->throttled += s->throttled;
    fw_hist_merge(&t->latency, &s->latency);
    if (s->key.kind == FW_RED_EDGE) fw_hist_merge(&t->server_latency, &s->server_latency[0]);
    if (s->first_ns && (!t->first_ns || s->first_ns < t->first_ns)) t->first_ns = s->first_ns;
    if (s->last_ns > t->last_ns) t->last_ns = s->last_ns;
    totals_offer_exemplars(t, &s->ex);
}

/* ---- memory -------------------------------------------------------------- */

static void *red_alloc(fw_red *r, size_t n)
{
    void *p = malloc(n);
    if (p) stat_add(&r->memory_used, n);
    return p;
}

static void red_free(fw_red *r, void *p, size_t n)
{
    if (!p) return;
    free(p);
    stat_sub(&r->memory_used, n);
}

static size_t bucket_size(const fw_red_key *k)
{
    return sizeof(red_bucket) + (k->kind == FW_RED_EDGE ? sizeof(fw_hist) : 0u);
}

static size_t series_size(const fw_red_key *k)
{
    return sizeof(red_series) + (k->kind == FW_RED_EDGE ? sizeof(fw_hist) : 0u);
}

static void series_drop_buckets(fw_red *r, red_shard *sh, red_series *s, uint32_t from,
                                uint32_t n)
{
    size_t bsz = bucket_size(&s->key);
    for (uint32_t i = from; i < from + n; i++)
        red_free(r, s->buckets[i], bsz);
    memmove(&s->buckets[from], &s->buckets[from + n],
            (size_t)(s->nbuckets - from - n) * sizeof s->buckets[0]);
    s->nbuckets -= n;
    sh->nbuckets -= n;
    stat_sub(&r->buckets, n);
}

/* Frees the oldest 10 s slot held in |sh|; returns false when the shard has
 * no bucket or its oldest is newer than |incoming_start| (the incoming data
 * is then the oldest and is the one to drop). Caller holds the lock. */
static bool shard_evict_oldest(fw_red *r, red_shard *sh, uint64_t incoming_start)
{
    if (!sh->nbuckets) return false;
    if (sh->oldest == UINT64_MAX) { /* unknown: one scan, then cached */
        for (size_t i = 0; i < sh->cap; i++) {
            red_series *s = sh->table[i];
            if (s && s->nbuckets && s->buckets[0]->start_ns < sh->oldest)
                sh->oldest = s->buckets[0]->start_ns;
        }
    }
    uint64_t oldest = sh->oldest;
    if (oldest > incoming_start) return false;
    for (size_t i = 0; i < sh->cap; i++) {
        red_series *s = sh->table[i];
        if (s && s->nbuckets && s->buckets[0]->start_ns == oldest) {
            series_drop_buckets(r, sh, s, 0, 1);
            stat_add(&r->evicted, 1);
        }
    }
    sh->oldest = UINT64_MAX;
    return true;
}

/* Makes room for |need| more bytes under memory_limit by evicting this
 * shard's oldest slots. Returns false when it cannot. */
static bool make_room(fw_red *r, red_shard *sh, size_t need, uint64_t incoming_start)
{
    while (atomic_load_explicit(&r->memory_used, RELAXED) + need > r->cfg.memory_limit) {
        if (!shard_evict_oldest(r, sh, incoming_start)) return false;
    }
    return true;
}

/* ---- shard tables -------------------------------------------------------- */

static red_series *shard_find(const red_shard *sh, const fw_red_key *k, uint64_t h)
{
    if (!sh->cap) return NULL;
    size_t mask = sh->cap - 1u;
    for (size_t i = h & mask;; i = (i + 1u) & mask) {
        red_series *s = sh->table[i];
        if (!s) return NULL;
        if (s->hash == h && key_eq(&s->key, k)) return s;
    }
}

static void table_put(red_series **table, size_t cap, red_series *s)
{
    size_t mask = cap - 1u;
    size_t i = s->hash & mask;
    while (table[i])
        i = (i + 1u) & mask;
    table[i] = s;
}

/* Grows the table so one more series fits under a 0.7 load factor. */
static bool shard_reserve(fw_red *r, red_shard *sh, uint64_t incoming_start)
{
    if ((sh->used + 1u) * 10u <= sh->cap * 7u) return true;
    size_t ncap = sh->cap ? sh->cap * 2u : 16u;
    size_t bytes = ncap * sizeof(red_series *);
    if (!make_room(r, sh, bytes, incoming_start)) return false;
    red_series **nt = red_alloc(r, bytes);
    if (!nt) return false;
    memset(nt, 0, bytes);
    for (size_t i = 0; i < sh->cap; i++)
        if (sh->table[i]) table_put(nt, ncap, sh->table[i]);
    red_free(r, sh->table, sh->cap * sizeof(red_series *));
    sh->table = nt;
    sh->cap = ncap;
    return true;
}

/* Removes the series at slot |i| (backward-shift deletion, no tombstones). */
static void shard_remove_at(red_shard *sh, size_t i)
{
    size_t mask = sh->cap - 1u;
    sh->table[i] = NULL;
    sh->used--;
    for (size_t j = (i + 1u) & mask; sh->table[j]; j = (j + 1u) & mask) {
        red_series *s = sh->table[j];
        size_t home = s->hash & mask;
        /* |s| may move to the hole at |i| when its home is not in (i, j]. */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            sh->table[i] = s;
            sh->table[j] = NULL;
            i = j;
        }
    }
}

static void series_free(fw_red *r, red_shard *sh, red_series *s)
{
    size_t bsz = bucket_size(&s->key);
    for (uint32_t i = 0; i < s->nbuckets; i++)
        red_free(r, s->buckets[i], bsz);
    stat_sub(&r->buckets, s->nbuckets);
    sh->nbuckets -= s->nbuckets;
    red_free(r, s->buckets, (size_t)s->cap * sizeof s->buckets[0]);
    red_free(r, s, series_size(&s->key));
}

/* Takes one slot of the series count: up to max_series for plain keys, up
 * to overflow_limit for overflow keys, always for final keys. */
static bool series_admit(fw_red *r, const fw_red_key *k)
{
    uint64_t prev = atomic_fetch_add_explicit(&r->series, 1, RELAXED);
    uint64_t limit = key_is_final(k) ? UINT64_MAX
                     : key_is_overflow(k) ? r->overflow_limit
                                          : r->cfg.max_series;
    if (prev < limit) return true;
    stat_sub(&r->series, 1);
    return false;
}

/* Creates the series |k| in |sh|. Returns NULL when not admitted or out of
 * memory (r->series unchanged then). */
static red_series *series_create(fw_red *r, red_shard *sh, const fw_red_key *k, uint64_t h,
                                 uint64_t incoming_start, bool *no_memory)
{
    *no_memory = false;
    if (!series_admit(r, k)) return NULL;
    size_t sz = series_size(k);
    red_series *s = NULL;
    if (!shard_reserve(r, sh, incoming_start) || !make_room(r, sh, sz, incoming_start) ||
        !(s = red_alloc(r, sz))) {
        stat_sub(&r->series, 1);
        *no_memory = true;
        return NULL;
    }
    memset(s, 0, sz);
    s->key = *k;
    s->hash = h;
    fw_hist_init(&s->latency);
    if (k->kind == FW_RED_EDGE) fw_hist_init(&s->server_latency[0]);
    table_put(sh->table, sh->cap, s);
    sh->used++;
    return s;
}

/* The series an observation of |k| lands in, folding over the cap; NULL
 * when memory refuses (counted by the caller). */
static red_series *series_get(fw_red *r, red_shard *sh, fw_red_key k, uint64_t incoming_start)
{
    bool folded = false, no_memory = false;
    if (key_has_none(&k)) {
        k = fold_key(&k, false);
        folded = true;
    }
    for (int level = 0; level < 3; level++) {
        uint64_t h = key_hash(&k);
        red_series *s = shard_find(sh, &k, h);
        if (!s) s = series_create(r, sh, &k, h, incoming_start, &no_memory);
        if (s) {
            if (folded) stat_add(&r->overflowed, 1);
            return s;
        }
        if (no_memory) return NULL;
        k = fold_key(&k, level >= 1 || key_is_overflow(&k));
        folded = true;
    }
    return NULL; /* unreachable: final keys are always admitted */
}

/* ---- buckets ------------------------------------------------------------- */

/* Index of the first bucket with start_ns >= |t|. */
static uint32_t bucket_lower(const red_series *s, uint64_t t)
{
    uint32_t lo = 0, hi = s->nbuckets;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (s->buckets[mid]->start_ns < t)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return lo;
}

static red_bucket *bucket_get(fw_red *r, red_shard *sh, red_series *s, uint64_t start)
{
    uint32_t n = s->nbuckets;
    if (n && s->buckets[n - 1u]->start_ns == start) return s->buckets[n - 1u];
    uint32_t pos = (n && s->buckets[n - 1u]->start_ns < start) ? n : bucket_lower(s, start);
    if (pos < n && s->buckets[pos]->start_ns == start) return s->buckets[pos];

    size_t bsz = bucket_size(&s->key);
    size_t need = bsz;
    uint32_t ncap = s->cap;
    if (n == s->cap) {
        ncap = s->cap ? s->cap * 2u : 4u;
        need += (size_t)ncap * sizeof s->buckets[0];
    }
    if (!make_room(r, sh, need, start)) return NULL;
    /* Eviction may have removed buckets of |s| itself: recompute. */
    n = s->nbuckets;
    pos = bucket_lower(s, start);
    if (n == s->cap) {
        red_bucket **nb = red_alloc(r, (size_t)ncap * sizeof *nb);
        if (!nb) return NULL;
        if (n) memcpy(nb, s->buckets, (size_t)n * sizeof *nb);
        red_free(r, s->buckets, (size_t)s->cap * sizeof *nb);
        s->buckets = nb;
        s->cap = ncap;
    }
    red_bucket *b = red_alloc(r, bsz);
    if (!b) return NULL;
    memset(b, 0, bsz);
    b->start_ns = start;
    fw_hist_init(&b->latency);
    if (s->key.kind == FW_RED_EDGE) fw_hist_init(&b->server_latency[0]);
    memmove(&s->buckets[pos + 1u], &s->buckets[pos], (size_t)(n - pos) * sizeof s->buckets[0]);
    s->buckets[pos] = b;
    s->nbuckets++;
    sh->nbuckets++;
    /* Keep the cached oldest exact, or unknown (UINT64_MAX). */
    if (sh->nbuckets == 1 || (sh->oldest != UINT64_MAX && start < sh->oldest)) sh->oldest = start;
    stat_add(&r->buckets, 1);
    return b;
}

/* ---- lifecycle ----------------------------------------------------------- */

int fw_red_new(const fw_red_config *cfg, fw_red **out)
{
    *out = NULL;
    if (!cfg || cfg->retention_ns < FW_RED_BUCKET_NS || cfg->max_series == 0 ||
        cfg->memory_limit == 0 || cfg->partitions == 0 || cfg->partitions > MAX_PARTITIONS ||
        (cfg->partitions & (cfg->partitions - 1u)))
        return FW_ERR_CONFIG;
    fw_red *r = calloc(1, sizeof *r);
    if (!r) goto fail_red;
    r->cfg = *cfg;
    r->overflow_limit = cfg->max_series + cfg->max_series / 4u + 64u;
    r->shards = calloc(cfg->partitions, sizeof *r->shards);
    if (!r->shards) goto fail_shards;
    unsigned inited = 0;
    for (; inited < cfg->partitions; inited++) {
        r->shards[inited].oldest = UINT64_MAX;
        if (pthread_mutex_init(&r->shards[inited].lock, NULL)) goto fail_locks;
    }
    atomic_init(&r->memory_used, sizeof *r + cfg->partitions * sizeof *r->shards);
    *out = r;
    return 0;

fail_locks:
    while (inited--)
        pthread_mutex_destroy(&r->shards[inited].lock);
    free(r->shards);
fail_shards:
    free(r);
fail_red:
    return FW_ERR_NOMEM;
}

void fw_red_free(fw_red *r)
{
    if (!r) return;
    for (unsigned p = 0; p < r->cfg.partitions; p++) {
        red_shard *sh = &r->shards[p];
        for (size_t i = 0; i < sh->cap; i++)
            if (sh->table[i]) series_free(r, sh, sh->table[i]);
        free(sh->table);
        pthread_mutex_destroy(&sh->lock);
    }
    free(r->shards);
    free(r);
}

/* ---- observe ------------------------------------------------------------- */

static uint32_t weight_count(double w)
{
    if (!(w >= 1.0)) return 1u; /* also NaN */
    if (w >= (double)UINT32_MAX) return UINT32_MAX;
    return (uint32_t)llround(w);
}

static double weight_value(double w)
{
    return (w >= 1.0 && isfinite(w)) ? w : 1.0;
}

static void observe_one(fw_red *r, red_shard *sh, const fw_red_obs *o)
{
    if (!key_valid(&o->key)) {
        stat_add(&r->invalid, 1);
        return;
    }
    uint64_t start = o->time_ns - o->time_ns % FW_RED_BUCKET_NS;
    uint64_t newest = atomic_load_explicit(&r->newest_start, RELAXED);
    uint64_t floor_end = atomic_load_explicit(&r->floor_end, RELAXED);
    if ((newest > r->cfg.retention_ns && start < newest - r->cfg.retention_ns) ||
        (floor_end >= FW_RED_BUCKET_NS && start <= floor_end - FW_RED_BUCKET_NS)) {
        stat_add(&r->too_old, 1);
        return;
    }
    fw_red_key k = key_norm(&o->key);
    red_series *s = series_get(r, sh, k, start);
    if (!s) {
        stat_add(&r->dropped, 1);
        return;
    }
    uint64_t clock = atomic_load_explicit(&r->clock_ns, RELAXED);
    uint64_t ref = start;
    if (clock && ref > clock + FUTURE_SKEW_NS) ref = clock + FUTURE_SKEW_NS;
    atomic_max(&r->newest_start, ref);

    double w = weight_value(o->weight);
    uint32_t n = weight_count(o->weight);
    bool edge = s->key.kind == FW_RED_EDGE;
    bool failed = o->fault || o->client_error || o->throttled;

    s->requests += w;
    if (o->fault) s->faults += w;
    if (o->client_error) s->client_errors += w;
    if (o->throttled) s->throttled += w;
    fw_hist_record(&s->latency, o->duration_us, n);
    if (edge && o->server_duration_us) fw_hist_record(&s->server_latency[0], o->server_duration_us, n);
    if (!s->first_ns || o->time_ns < s->first_ns) s->first_ns = o->time_ns;
    if (o->time_ns > s->last_ns) s->last_ns = o->time_ns;
    ex_offer(&s->ex, o->trace_id, failed, o->time_ns);

    red_bucket *b = bucket_get(r, sh, s, start);
    if (!b) {
        stat_add(&r->dropped, 1);
        return;
    }
    b->requests += w;
    if (o->fault) b->faults += w;
    if (o->client_error) b->client_errors += w;
    if (o->throttled) b->throttled += w;
    fw_hist_record(&b->latency, o->duration_us, n);
    if (edge && o->server_duration_us) fw_hist_record(&b->server_latency[0], o->server_duration_us, n);
    ex_offer(&b->ex, o->trace_id, failed, o->time_ns);
}

void fw_red_observe(fw_red *r, unsigned partition, const fw_red_obs *obs, size_t n)
{
    if (!r || !obs || !n) return;
    red_shard *sh = &r->shards[partition & (r->cfg.partitions - 1u)];
    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < n; i++)
        observe_one(r, sh, &obs[i]);
    pthread_mutex_unlock(&sh->lock);
}

/* ---- expire -------------------------------------------------------------- */

void fw_red_expire(fw_red *r, uint64_t now_ns)
{
    if (!r || now_ns <= r->cfg.retention_ns) return;
    uint64_t cutoff = now_ns - r->cfg.retention_ns;
    uint64_t idle_cutoff = now_ns > 2u * r->cfg.retention_ns ? now_ns - 2u * r->cfg.retention_ns : 0u;
    atomic_max(&r->floor_end, cutoff);
    atomic_max(&r->clock_ns, now_ns);
    for (unsigned p = 0; p < r->cfg.partitions; p++) {
        red_shard *sh = &r->shards[p];
        pthread_mutex_lock(&sh->lock);
        for (size_t i = 0; i < sh->cap;) {
            red_series *s = sh->table[i];
            if (!s) {
                i++;
                continue;
            }
            uint32_t old = 0;
            while (old < s->nbuckets && cutoff >= FW_RED_BUCKET_NS &&
                   s->buckets[old]->start_ns <= cutoff - FW_RED_BUCKET_NS)
                old++;
            if (old) series_drop_buckets(r, sh, s, 0, old);
            if (s->nbuckets == 0 && s->last_ns < idle_cutoff) {
                shard_remove_at(sh, i);
                series_free(r, sh, s);
                stat_sub(&r->series, 1);
                continue; /* slot |i| may now hold a shifted series */
            }
            i++;
        }
        sh->oldest = UINT64_MAX;
        pthread_mutex_unlock(&sh->lock);
    }
}

/* ---- queries ------------------------------------------------------------- */

/* Merges |key| over all shards: lifetime totals when |lifetime|, else the
 * buckets overlapping [from, to]. Returns the number of buckets (or, for
 * lifetime, series) merged. */
static size_t gather(fw_red *r, const fw_red_key *key, bool lifetime, uint64_t from, uint64_t to,
                     fw_red_totals *out)
{
    uint64_t h = key_hash(key);
    size_t merged = 0;
    uint64_t lo = from >= FW_RED_BUCKET_NS ? from - FW_RED_BUCKET_NS + 1u : 0u;
    for (unsigned p = 0; p < r->cfg.partitions; p++) {
        red_shard *sh = &r->shards[p];
        pthread_mutex_lock(&sh->lock);
        red_series *s = shard_find(sh, key, h);
        if (s && lifetime) {
            totals_add_lifetime(out, s);
            merged++;
        } else if (s) {
            bool edge = s->key.kind == FW_RED_EDGE;
            for (uint32_t i = bucket_lower(s, lo); i < s->nbuckets && s->buckets[i]->start_ns <= to;
                 i++) {
                totals_add_bucket(out, s->buckets[i], edge);
                merged++;
            }
        }
        pthread_mutex_unlock(&sh->lock);
    }
    return merged;
}

int fw_red_query(fw_red *r, const fw_red_key *key, uint64_t from_ns, uint64_t to_ns,
                 fw_red_totals *out)
{
    totals_init(out);
    if (!r || !key || !key_valid(key) || to_ns < from_ns) return FW_ERR_INVALID;
    fw_red_key k = key_norm(key);
    return gather(r, &k, false, from_ns, to_ns, out) ? 0 : FW_ERR_NOT_FOUND;
}

static bool series_has_data(const red_series *s, uint64_t from, uint64_t to)
{
    uint64_t lo = from >= FW_RED_BUCKET_NS ? from - FW_RED_BUCKET_NS + 1u : 0u;
    uint32_t i = bucket_lower(s, lo);
    return i < s->nbuckets && s->buckets[i]->start_ns <= to;
}

/* Sorted, distinct keys of |kind| (all when < 0), only those with data in
 * [from, to] unless |lifetime|. Returns FW_ERR_NOMEM or 0; caller frees. */
static int collect_keys(fw_red *r, int kind, bool lifetime, uint64_t from, uint64_t to,
                        fw_red_key **keys_out, size_t *n_out)
{
    fw_red_key *keys = NULL;
    size_t n = 0, cap = 0;
    int rv = 0;
    for (unsigned p = 0; p < r->cfg.partitions && !rv; p++) {
        red_shard *sh = &r->shards[p];
        pthread_mutex_lock(&sh->lock);
        for (size_t i = 0; i < sh->cap; i++) {
            red_series *s = sh->table[i];
            if (!s || (kind >= 0 && s->key.kind != kind)) continue;
            if (!lifetime && !series_has_data(s, from, to)) continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2u : 64u;
                fw_red_key *nk = realloc(keys, ncap * sizeof *nk);
                if (!nk) {
                    rv = FW_ERR_NOMEM;
                    break;
                }
                keys = nk;
                cap = ncap;
            }
            keys[n++] = s->key;
        }
        pthread_mutex_unlock(&sh->lock);
    }
    if (rv) {
        free(keys);
        return rv;
    }
    if (n) qsort(keys, n, sizeof *keys, key_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!w || key_cmp(&keys[w - 1u], &keys[i])) keys[w++] = keys[i];
    *keys_out = keys;
    *n_out = w;
    return 0;
}

/* Visits the keys of collect_keys() with their merged totals, no lock held
 * during |visit|. Returns 0 or FW_ERR_NOMEM; |*visited| counts the calls. */
static int visit_keys(fw_red *r, int kind, bool lifetime, uint64_t from, uint64_t to,
                      fw_red_series_visit visit, void *ctx, size_t *visited)
{
    fw_red_key *keys = NULL;
    size_t n = 0;
    *visited = 0;
    int rv = collect_keys(r, kind, lifetime, from, to, &keys, &n);
    if (rv) return rv;
    fw_red_totals *t = malloc(sizeof *t);
    if (!t) {
        rv = FW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        totals_init(t);
        if (!gather(r, &keys[i], lifetime, from, to, t)) continue; /* expired meanwhile */
        (*visited)++;
        if (visit(ctx, &keys[i], t)) break;
    }
    free(t);
out:
    free(keys);
    return rv;
}

size_t fw_red_foreach(fw_red *r, int kind, uint64_t from_ns, uint64_t to_ns,
                      fw_red_series_visit visit, void *ctx)
{
    size_t visited = 0;
    if (!r || !visit || to_ns < from_ns) return 0;
    (void)visit_keys(r, kind, false, from_ns, to_ns, visit, ctx, &visited);
    return visited;
}

size_t fw_red_foreach_lifetime(fw_red *r, int kind, fw_red_series_visit visit, void *ctx)
{
    size_t visited = 0;
    if (!r || !visit) return 0;
    (void)visit_keys(r, kind, true, 0, UINT64_MAX, visit, ctx, &visited);
    return visited;
}

/* Steps merged per pass over the shards by fw_red_range(). */
#define RANGE_CHUNK 64u

/* Adds the buckets of |key| starting in [chunk, chunk + n * step) into
 * t[0..n), each bucket into the step holding its start: the same buckets,
 * in the same order (shard by shard, ascending), as one gather() per step,
 * but with one lookup per shard and chunk instead of one per step. */
static void gather_steps(fw_red *r, const fw_red_key *key, uint64_t chunk, uint64_t step,
                         size_t n, fw_red_totals *t)
{
    uint64_t h = key_hash(key);
    uint64_t end = chunk + (uint64_t)n * step; /* no overflow: checked by the caller */
    for (unsigned p = 0; p < r->cfg.partitions; p++) {
        red_shard *sh = &r->shards[p];
        pthread_mutex_lock(&sh->lock);
        red_series *s = shard_find(sh, key, h);
        if (s) {
            bool edge = s->key.kind == FW_RED_EDGE;
            for (uint32_t i = bucket_lower(s, chunk); i < s->nbuckets && s->buckets[i]->start_ns < end;
                 i++)
                totals_add_bucket(&t[(s->buckets[i]->start_ns - chunk) / step], s->buckets[i], edge);
        }
        pthread_mutex_unlock(&sh->lock);
    }
}

int fw_red_range(fw_red *r, const fw_red_key *key, uint64_t from_ns, uint64_t to_ns,
                 uint64_t step_ns, fw_red_point_visit visit, void *ctx)
{
    if (!r || !key || !visit || !key_valid(key) || step_ns < FW_RED_BUCKET_NS ||
        step_ns % FW_RED_BUCKET_NS || to_ns <= from_ns || to_ns > UINT64_MAX - step_ns)
        return FW_ERR_INVALID;
    uint64_t start = from_ns - from_ns % FW_RED_BUCKET_NS;
    uint64_t steps = (to_ns - start - 1u) / step_ns + 1u;
    if (steps > MAX_RANGE_STEPS) return FW_ERR_INVALID;
    fw_red_key k = key_norm(key);
    size_t cap = steps < RANGE_CHUNK ? (size_t)steps : RANGE_CHUNK;
    fw_red_totals *t = malloc(cap * sizeof *t);
    if (!t) return FW_ERR_NOMEM;
    /* The last step starts at or before to_ns - 1 and to_ns <= UINT64_MAX -
     * step_ns, so every step end below is representable. */
    for (uint64_t i = 0; i < steps; i += cap) {
        size_t n = steps - i < cap ? (size_t)(steps - i) : cap;
        uint64_t chunk = start + i * step_ns;
        for (size_t j = 0; j < n; j++)
            totals_init(&t[j]);
        gather_steps(r, &k, chunk, step_ns, n, t);
        for (size_t j = 0; j < n; j++)
            if (visit(ctx, chunk + j * step_ns, &t[j])) goto out;
    }
out:
    free(t);
    return 0;
}

/* Visits the keys of |kind| (all when kind < 0) with data in [from_ns,
 * to_ns], sorted, without merging their buckets. */
size_t fw_red_foreach_key(fw_red *r, int kind, uint64_t from_ns, uint64_t to_ns,
                          fw_red_key_visit visit, void *ctx)
{
    fw_red_key *keys = NULL;
    size_t n = 0, visited = 0;
    if (!r || !visit || to_ns < from_ns) return 0;
    if (collect_keys(r, kind, false, from_ns, to_ns, &keys, &n)) return 0;
    for (size_t i = 0; i < n; i++) {
        visited++;
        if (visit(ctx, &keys[i])) break;
    }
    free(keys);
    return visited;
}

void fw_red_get_stats(fw_red *r, fw_red_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!r) return;
    out->series = atomic_load_explicit(&r->series, RELAXED);
    out->overflowed = atomic_load_explicit(&r->overflowed, RELAXED);
    out->dropped = atomic_load_explicit(&r->dropped, RELAXED);
    out->memory_used = atomic_load_explicit(&r->memory_used, RELAXED);
    out->buckets = atomic_load_explicit(&r->buckets, RELAXED);
    out->too_old = atomic_load_explicit(&r->too_old, RELAXED);
    out->evicted_buckets = atomic_load_explicit(&r->evicted, RELAXED);
    out->invalid = atomic_load_explicit(&r->invalid, RELAXED);
}

/* ---- Prometheus exposition ----------------------------------------------- */

static const char *const span_kind_label[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};

/* Length of the valid UTF-8 sequence at |p| (|n| bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* A label value per the text exposition format: \\, \" and \n escaped;
 * invalid UTF-8 becomes U+FFFD. */
static int append_label_value(fw_buf *out, fw_str v)
{
    const unsigned char *p = (const unsigned char *)v.ptr;
    int rv = 0;
    for (size_t i = 0; i < v.len && !rv;) {
        size_t l = utf8_len(p + i, v.len - i);
        if (l == 0) {
            rv = fw_buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        } else if (p[i] == '\\') {
            rv = fw_buf_append(out, "\\\\", 2);
            i++;
        } else if (p[i] == '"') {
            rv = fw_buf_append(out, "\\\"", 2);
            i++;
        } else if (p[i] == '\n') {
            rv = fw_buf_append(out, "\\n", 2);
            i++;
        } else {
            rv = fw_buf_append(out, p + i, l);
            i += l;
        }
    }
    return rv;
}

static fw_str name_of(const fw_intern *intern, uint32_t id)
{
    if (id == OVF) return FW_STR_LIT("_overflow");
    fw_str s = fw_intern_str(intern, id);
    return s.ptr ? s : FW_STR_LIT("_unknown");
}

static int append_labels(fw_buf *out, const fw_intern *intern, const fw_red_key *k,
                         const char *status, const char *le)
{
    int rv;
    const char *kind = k->span_kind < sizeof span_kind_label / sizeof span_kind_label[0]
                           ? span_kind_label[k->span_kind]
                           : span_kind_label[0];
    if ((rv = fw_buf_append_str(out, "{service_name=\""))) return rv;
    if ((rv = append_label_value(out, name_of(intern, k->a)))) return rv;
    if ((rv = fw_buf_append_str(out, "\",span_name=\""))) return rv;
    if ((rv = append_label_value(out, name_of(intern, k->b)))) return rv;
    if ((rv = fw_buf_printf(out, "\",span_kind=\"%s\",status_code=\"%s\"", kind, status))) return rv;
    if (le && (rv = fw_buf_printf(out, ",le=\"%s\"", le))) return rv;
    return fw_buf_append_str(out, "}");
}

/* A sample value: integers exactly, other doubles in the shortest of
 * %.15g / %.17g that reads back as the same double. */
static int append_value(fw_buf *out, double v)
{
    if (v >= 0 && v < 9007199254740992.0 && v == floor(v)) return fw_buf_printf(out, " %.0f\n", v);
    char text[40];
    (void)snprintf(text, sizeof text, "%.15g", v);
    if (strtod(text, NULL) != v) (void)snprintf(text, sizeof text, "%.17g", v);
    return fw_buf_printf(out, " %s\n", text);
}

typedef struct render_ctx {
    const fw_intern *intern;
    fw_buf *calls;
    fw_buf *duration;
    int rv;
} render_ctx;

static int render_series(void *vctx, const fw_red_key *k, const fw_red_totals *t)
{
    render_ctx *c = vctx;
    fw_buf *o = c->calls, *d = c->duration;
    double ok = t->requests - t->faults;
    int rv = 0;
    if ((rv = fw_buf_append_str(o, "traces_span_metrics_calls_total")) ||
        (rv = append_labels(o, c->intern, k, "STATUS_CODE_UNSET", NULL)) ||
        (rv = append_value(o, ok > 0 ? ok : 0)) ||
        (rv = fw_buf_append_str(o, "traces_span_metrics_calls_total")) ||
        (rv = append_labels(o, c->intern, k, "STATUS_CODE_ERROR", NULL)) ||
        (rv = append_value(o, t->faults)))
        goto out;

    uint64_t cum[FW_HIST_PROM_NBOUNDS];
    fw_hist_cumulative(&t->latency, fw_hist_prom_bounds_us(), FW_HIST_PROM_NBOUNDS, cum);
    for (size_t i = 0; i < FW_HIST_PROM_NBOUNDS; i++) {
        if ((rv = fw_buf_append_str(d, "traces_span_metrics_duration_seconds_bucket")) ||
            (rv = append_labels(d, c->intern, k, "STATUS_CODE_UNSET", fw_hist_prom_bound_label(i))) ||
            (rv = append_value(d, (double)cum[i])))
            goto out;
    }
    if ((rv = fw_buf_append_str(d, "traces_span_metrics_duration_seconds_bucket")) ||
        (rv = append_labels(d, c->intern, k, "STATUS_CODE_UNSET", "+Inf")) ||
        (rv = append_value(d, (double)fw_hist_count(&t->latency))) ||
        (rv = fw_buf_append_str(d, "traces_span_metrics_duration_seconds_sum")) ||
        (rv = append_labels(d, c->intern, k, "STATUS_CODE_UNSET", NULL)) ||
        (rv = append_value(d, (double)fw_hist_sum(&t->latency) / 1e6)) ||
        (rv = fw_buf_append_str(d, "traces_span_metrics_duration_seconds_count")) ||
        (rv = append_labels(d, c->intern, k, "STATUS_CODE_UNSET", NULL)) ||
        (rv = append_value(d, (double)fw_hist_count(&t->latency))))
        goto out;
out:
    c->rv = rv;
    return rv != 0;
}

/* The duration histogram carries every call under status_code
 * STATUS_CODE_UNSET (the latency histogram is not split by status); calls_total
 * is split: STATUS_CODE_ERROR = faults, STATUS_CODE_UNSET = the rest. */
int fw_red_render_prometheus(fw_red *r, const struct fw_intern *intern, fw_buf *out)
{
    if (!r || !intern || !out) return FW_ERR_INVALID;
    fw_buf duration;
    fw_buf_init(&duration, out->max);
    size_t mark = out->len;
    render_ctx c = {.intern = intern, .calls = out, .duration = &duration, .rv = 0};
    int rv = fw_buf_append_str(out,
                               "# HELP traces_span_metrics_calls_total Spans per service, span "
                               "name, span kind and status code (sampling-adjusted).\n"
                               "# TYPE traces_span_metrics_calls_total counter\n");
    if (!rv)
        rv = fw_buf_append_str(&duration,
                               "# HELP traces_span_metrics_duration_seconds Span durations "
                               "(all calls, under STATUS_CODE_UNSET).\n"
                               "# TYPE traces_span_metrics_duration_seconds histogram\n");
    if (!rv) {
        size_t visited;
        rv = visit_keys(r, FW_RED_OPERATION, true, 0, UINT64_MAX, render_series, &c, &visited);
        if (!rv) rv = c.rv;
    }
    if (!rv) rv = fw_buf_append(out, duration.data, duration.len);
    fw_buf_free(&duration);
    if (rv) out->len = mark; /* all or nothing */
    return rv;
}
