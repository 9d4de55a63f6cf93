/* intern.c - the string dictionary: string -> 32-bit id and back.
 * Owns every string it holds (bump-allocated slabs, never freed before the
 * table) and counts every byte it takes against its cap. Inserts take one
 * shard mutex; lookups (fw_intern_find, fw_intern_str, and the fast path of
 * fw_intern_id) take no lock at all. Never calls into other modules. */
#include "flywheel/intern.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Shards spread insert contention; a power of two. */
#define INTERN_SHARDS 64u
/* id -> string: a top array of chunk pointers, each chunk this many ids. */
#define INTERN_CHUNK_BITS 10u
#define INTERN_CHUNK ((uint32_t)1u << INTERN_CHUNK_BITS)
/* Slab size bounds: small tables get small slabs so a tiny cap still holds
 * a few strings; strings over a quarter slab get an allocation of their own. */
#define INTERN_SLAB_MAX (64u * 1024u)
#define INTERN_SLAB_MIN 512u
#define INTERN_TABLE_MIN 16u
/* Every string costs at least this much (slot, id entry, length, NUL), which
 * bounds how many ids a cap can ever hand out. */
#define INTERN_MIN_COST 24u

/* A table slot, published by a release store of |str| after |hash| and |id|
 * are written; an empty slot has str == NULL. Slots are never removed. */
typedef _Atomic(const char *) intern_entry;

typedef struct intern_slot {
    _Atomic(const char *) str; /* NUL-terminated; the u32 length sits just before it */
    uint32_t hash;
    uint32_t id;
} intern_slot;

/* One open-addressing (linear probing) table. A grown table replaces the
 * old one, which is retired but kept (lock-free readers may still be on it)
 * until the dictionary is freed. */
typedef struct intern_table {
    struct intern_table *retired; /* the table this one replaced */
    size_t cap;                   /* power of two */
    intern_slot slots[];
} intern_table;

/* A slab of string bytes; the first bytes link the slabs of one shard. */
typedef struct intern_slab {
    struct intern_slab *next;
    size_t size;
} intern_slab;

typedef struct intern_shard {
    alignas(64) pthread_mutex_t mu;
    _Atomic(intern_table *) table;
    size_t n;           /* strings in this shard; guarded by mu */
    intern_slab *slabs; /* newest first; guarded by mu */
    char *cursor;       /* free bytes of the newest slab */
    size_t left;
} intern_shard;

struct fw_intern {
    size_t max_bytes;
    size_t slab_size;
    uint64_t seed;
    uint32_t max_id;             /* ids are 1..max_id */
    size_t top_cap;              /* chunks in |top| */
    _Atomic(intern_entry *) *top; /* top[id >> BITS][id & (CHUNK-1)] */
    pthread_mutex_t top_mu;      /* serialises chunk creation */
    _Atomic uint32_t next_id;
    _Atomic size_t bytes;
    _Atomic uint64_t strings;
    _Atomic uint64_t refused;
    intern_shard shards[INTERN_SHARDS];
};

/* ---- hashing: keyed, so that senders cannot aim strings at one chain ---- */

static uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t load_tail(const char *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
    uint64_t h = seed ^ mum(n ^ k0, seed ^ k1);
    while (n >= 16) {
        h = mum(load64(p) ^ k1 ^ h, load64(p + 8) ^ seed);
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        h = mum(load64(p) ^ k1 ^ h, load_tail(p + 8, n - 8) ^ seed ^ k0);
    } else {
        h = mum(load_tail(p, n) ^ k1 ^ h, seed ^ k0);
    }
    return mum(h ^ k0, h ^ k1);
}

/* ---- byte budget ---- */

static bool reserve(fw_intern *t, size_t n)
{
    size_t old = atomic_fetch_add_explicit(&t->bytes, n, memory_order_relaxed);
    if (old + n > t->max_bytes || old + n < old) {
        atomic_fetch_sub_explicit(&t->bytes, n, memory_order_relaxed);
        return false;
    }
    return true;
}

static void unreserve(fw_intern *t, size_t n)
{
    atomic_fetch_sub_explicit(&t->bytes, n, memory_order_relaxed);
}

/* ---- lifecycle ---- */

int fw_intern_new(size_t max_bytes, fw_intern **out)
{
    *out = NULL;
    if (max_bytes == 0)
        return FW_ERR_CONFIG;
    fw_intern *t = aligned_alloc(64, (sizeof(fw_intern) + 63u) & ~(size_t)63u);
    if (!t)
        return FW_ERR_NOMEM;
    memset(t, 0, sizeof(*t));
    t->max_bytes = max_bytes;
    size_t slab = max_bytes / 256u;
    t->slab_size = slab < INTERN_SLAB_MIN ? INTERN_SLAB_MIN
                   : slab > INTERN_SLAB_MAX ? INTERN_SLAB_MAX
                                            : slab;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed = mum((uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ull,
                      (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
    }
    uint64_t ids = max_bytes / INTERN_MIN_COST + 1u;
    if (ids > UINT32_MAX - INTERN_CHUNK)
        ids = UINT32_MAX - INTERN_CHUNK;
    t->max_id = (uint32_t)ids;
    t->top_cap = ((size_t)ids >> INTERN_CHUNK_BITS) + 1u;
    t->top = calloc(t->top_cap, sizeof(*t->top));
    if (!t->top)
        goto fail_top;
    if (pthread_mutex_init(&t->top_mu, NULL) != 0)
        goto fail_top_mu;
    unsigned i;
    for (i = 0; i < INTERN_SHARDS; i++)
        if (pthread_mutex_init(&t->shards[i].mu, NULL) != 0)
            goto fail_shard;
    atomic_init(&t->next_id, 1u);
    /* The fixed part counts too: a cap smaller than it refuses everything. */
    atomic_init(&t->bytes, sizeof(*t) + t->top_cap * sizeof(*t->top));
    *out = t;
    return 0;

fail_shard:
    while (i-- > 0)
        pthread_mutex_destroy(&t->shards[i].mu);
    pthread_mutex_destroy(&t->top_mu);
fail_top_mu:
    free(t->top);
fail_top:
    free(t);
    return FW_ERR_NOMEM;
}

void fw_intern_free(fw_intern *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < INTERN_SHARDS; i++) {
        intern_shard *sh = &t->shards[i];
        intern_table *tab = atomic_load_explicit(&sh->table, memory_order_relaxed);
        while (tab) {
            intern_table *older = tab->retired;
            free(tab);
            tab = older;
        }
        intern_slab *sl = sh->slabs;
        while (sl) {
            intern_slab *next = sl->next;
            free(sl);
            sl = next;
        }
        pthread_mutex_destroy(&sh->mu);
    }
    for (size_t c = 0; c < t->top_cap; c++)
        free(atomic_load_explicit(&t->top[c], memory_order_relaxed));
    free(t->top);
    pthread_mutex_destroy(&t->top_mu);
    free(t);
}

/* ---- lookup ---- */

static uint32_t str_len_of(const char *s)
{
    uint32_t len;
    memcpy(&len, s - sizeof(uint32_t), sizeof(len));
    return len;
}

static intern_shard *shard_of(fw_intern *t, uint64_t h)
{
    return &t->shards[(h >> 58) & (INTERN_SHARDS - 1u)];
}

/* Lock-free probe of one published table. */
static uint32_t table_find(const intern_table *tab, uint32_t h32, fw_str s)
{
    if (!tab)
        return FW_INTERN_NONE;
    size_t mask = tab->cap - 1u;
    for (size_t i = h32 & mask;; i = (i + 1u) & mask) {
        const intern_slot *sl = &tab->slots[i];
        const char *p = atomic_load_explicit(&sl->str, memory_order_acquire);
        if (!p)
            return FW_INTERN_NONE;
        if (sl->hash == h32 && str_len_of(p) == s.len && (s.len == 0 || memcmp(p, s.ptr, s.len) == 0))
            return sl->id;
    }
}

uint32_t fw_intern_find(fw_intern *t, fw_str s)
{
    if (!t || (!s.ptr && s.len) || s.len > FW_INTERN_MAX_LEN)
        return FW_INTERN_NONE;
    if (!s.ptr)
        s.ptr = "";
    uint64_t h = hash_bytes(t->seed, s.ptr, s.len);
    intern_shard *sh = shard_of(t, h);
    return table_find(atomic_load_explicit(&sh->table, memory_order_acquire), (uint32_t)h, s);
}

fw_str fw_intern_str(const fw_intern *t, uint32_t id)
{
    if (!t || id == FW_INTERN_NONE || id > t->max_id)
        return FW_STR_NULL;
    size_t c = id >> INTERN_CHUNK_BITS;
    if (c >= t->top_cap)
        return FW_STR_NULL;
    intern_entry *chunk = atomic_load_explicit(&t->top[c], memory_order_acquire);
    if (!chunk)
        return FW_STR_NULL;
    const char *p = atomic_load_explicit(&chunk[id & (INTERN_CHUNK - 1u)], memory_order_acquire);
    if (!p)
        return FW_STR_NULL;
    return (fw_str){p, str_len_of(p)};
}

/* ---- insert (shard lock held) ---- */

static int table_grow(fw_intern *t, intern_shard *sh)
{
    intern_table *old = atomic_load_explicit(&sh->table, memory_order_relaxed);
    size_t ncap = old ? old->cap * 2u : INTERN_TABLE_MIN;
    size_t bytes = sizeof(intern_table) + ncap * sizeof(intern_slot);
    if (!reserve(t, bytes))
        return FW_ERR_NOMEM;
    intern_table *nt = calloc(1, bytes);
    if (!nt) {
        unreserve(t, bytes);
        return FW_ERR_NOMEM;
    }
    nt->cap = ncap;
    nt->retired = old;
    if (old) {
        for (size_t i = 0; i < old->cap; i++) {
            const intern_slot *sl = &old->slots[i];
            const char *p = atomic_load_explicit(&sl->str, memory_order_relaxed);
            if (!p)
                continue;
            size_t j = sl->hash & (ncap - 1u);
            while (atomic_load_explicit(&nt->slots[j].str, memory_order_relaxed))
                j = (j + 1u) & (ncap - 1u);
            nt->slots[j].hash = sl->hash;
            nt->slots[j].id = sl->id;
            atomic_store_explicit(&nt->slots[j].str, p, memory_order_relaxed);
        }
    }
    atomic_store_explicit(&sh->table, nt, memory_order_release);
    return 0;
}

/* Copies |s| into the shard's slabs: u32 length, bytes, NUL. */
static char *slab_copy(fw_intern *t, intern_shard *sh, fw_str s)
{
    size_t need = (sizeof(uint32_t) + s.len + 1u + 3u) & ~(size_t)3u;
    if (need > sh->left) {
        size_t size = sizeof(intern_slab) + (need > t->slab_size / 4u ? need : t->slab_size);
        if (!reserve(t, size))
            return NULL;
        intern_slab *sl = malloc(size);
        if (!sl) {
            unreserve(t, size);
            return NULL;
        }
        sl->size = size;
        char *payload = (char *)(sl + 1);
        size_t avail = size - sizeof(intern_slab);
        if (need > t->slab_size / 4u && sh->slabs) {
            /* A dedicated allocation: keep the current slab as the newest. */
            sl->next = sh->slabs->next;
            sh->slabs->next = sl;
        } else {
            sl->next = sh->slabs;
            sh->slabs = sl;
            sh->cursor = payload + need;
            sh->left = avail - need;
        }
        uint32_t len32 = (uint32_t)s.len;
        memcpy(payload, &len32, sizeof(len32));
        if (s.len)
            memcpy(payload + sizeof(uint32_t), s.ptr, s.len);
        payload[sizeof(uint32_t) + s.len] = '\0';
        return payload + sizeof(uint32_t);
    }
    char *d = sh->cursor;
    sh->cursor += need;
    sh->left -= need;
    uint32_t len32 = (uint32_t)s.len;
    memcpy(d, &len32, sizeof(len32));
    if (s.len)
        memcpy(d + sizeof(uint32_t), s.ptr, s.len);
    d[sizeof(uint32_t) + s.len] = '\0';
    return d + sizeof(uint32_t);
}

/* The id -> string entry of |id|, creating its chunk when needed. */
static intern_entry *id_entry(fw_intern *t, uint32_t id)
{
    size_t c = id >> INTERN_CHUNK_BITS;
    _Atomic(intern_entry *) *slot = &t->top[c];
    intern_entry *chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (!chunk) {
        pthread_mutex_lock(&t->top_mu);
        chunk = atomic_load_explicit(slot, memory_order_relaxed);
        if (!chunk && reserve(t, INTERN_CHUNK * sizeof(*chunk))) {
            chunk = calloc(INTERN_CHUNK, sizeof(*chunk));
            if (chunk)
                atomic_store_explicit(slot, chunk, memory_order_release);
            else
                unreserve(t, INTERN_CHUNK * sizeof(*chunk));
        }
        pthread_mutex_unlock(&t->top_mu);
        if (!chunk)
            return NULL;
    }
    return &chunk[id & (INTERN_CHUNK - 1u)];
}

static uint32_t insert_locked(fw_intern *t, intern_shard *sh, uint32_t h32, fw_str s)
{
    intern_table *tab = atomic_load_explicit(&sh->table, memory_order_relaxed);
    if ((!tab || (sh->n + 1u) * 2u > tab->cap) && table_grow(t, sh) != 0)
        return FW_INTERN_NONE;
    tab = atomic_load_explicit(&sh->table, memory_order_relaxed);

    uint32_t id = atomic_load_explicit(&t->next_id, memory_order_relaxed);
    do {
        if (id > t->max_id)
            return FW_INTERN_NONE;
    } while (!atomic_compare_exchange_weak_explicit(&t->next_id, &id, id + 1u,
                                                    memory_order_relaxed, memory_order_relaxed));
    /* From here on a failure wastes |id|: harmless, ids are not dense. */
    intern_entry *entry = id_entry(t, id);
    if (!entry)
        return FW_INTERN_NONE;
    char *copy = slab_copy(t, sh, s);
    if (!copy)
        return FW_INTERN_NONE;
    atomic_store_explicit(entry, copy, memory_order_release);

    size_t mask = tab->cap - 1u;
    size_t i = h32 & mask;
    while (atomic_load_explicit(&tab->slots[i].str, memory_order_relaxed))
        i = (i + 1u) & mask;
    tab->slots[i].hash = h32;
    tab->slots[i].id = id;
    atomic_store_explicit(&tab->slots[i].str, copy, memory_order_release);
    sh->n++;
    atomic_fetch_add_explicit(&t->strings, 1, memory_order_relaxed);
    return id;
}

uint32_t fw_intern_id(fw_intern *t, fw_str s)
{
    if (!t || (!s.ptr && s.len) || s.len > FW_INTERN_MAX_LEN)
        return FW_INTERN_NONE;
    if (!s.ptr)
        s.ptr = "";
    uint64_t h = hash_bytes(t->seed, s.ptr, s.len);
    intern_shard *sh = shard_of(t, h);
    uint32_t id = table_find(atomic_load_explicit(&sh->table, memory_order_acquire), (uint32_t)h, s);
    if (id != FW_INTERN_NONE)
        return id;
    pthread_mutex_lock(&sh->mu);
    id = table_find(atomic_load_explicit(&sh->table, memory_order_relaxed), (uint32_t)h, s);
    if (id == FW_INTERN_NONE) {
        id = insert_locked(t, sh, (uint32_t)h, s);
        if (id == FW_INTERN_NONE)
            atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&sh->mu);
    return id;
}

void fw_intern_get_stats(fw_intern *t, fw_intern_stats *out)
{
    out->strings = atomic_load_explicit(&t->strings, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&t->bytes, memory_order_relaxed);
    out->refused = atomic_load_explicit(&t->refused, memory_order_relaxed);
}

/* ---- per-batch lookup cache (fw_intern_cache) ---- */

void fw_intern_cache_init(fw_intern_cache *c)
{
    memset(c, 0, sizeof(*c));
}

void fw_intern_cache_put(fw_intern_cache *c, uint32_t slot, fw_str s, uint32_t id)
{
    if (!s.ptr || id == FW_INTERN_NONE || s.len > FW_INTERN_MAX_LEN ||
        slot >= FW_INTERN_CACHE_SLOTS)
        return;
    c->e[slot].ptr = s.ptr;
    c->e[slot].len = (uint32_t)s.len;
    c->e[slot].id = id;
}

uint32_t fw_intern_cached_id(fw_intern *t, fw_intern_cache *c, fw_str s)
{
    uint32_t id;
    uint32_t slot = fw_intern_cache_slot(c, s, &id);
    if (id != FW_INTERN_NONE)
        return id;
    id = fw_intern_id(t, s);
    fw_intern_cache_put(c, slot, s, id);
    return id;
}

uint32_t fw_intern_cached_find(fw_intern *t, fw_intern_cache *c, fw_str s)
{
    uint32_t id;
    uint32_t slot = fw_intern_cache_slot(c, s, &id);
    if (id != FW_INTERN_NONE)
        return id;
    id = fw_intern_find(t, s);
    fw_intern_cache_put(c, slot, s, id);
    return id;
}
