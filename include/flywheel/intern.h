/* intern.h - the string dictionary shared by store, RED and topology:
 * service, operation, attribute-key and common value strings map to
 * stable 32-bit ids. Strings are never freed while the table lives; the
 * table is bounded (bytes), and once full it refuses new strings (id 0) so
 * the caller stores them inline or folds them into an overflow series.
 * Thread-safe: sharded locks on insert, lock-free id -> string reads. */
#ifndef FLYWHEEL_INTERN_H
#define FLYWHEEL_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef struct fw_intern fw_intern;

/* Ids are 1..; 0 means "not interned" (the empty string is interned
 * like any other). |max_bytes| bounds strings + table overhead. */
#define FW_INTERN_NONE 0u
/* Strings longer than this are never interned (they are ids, payloads). */
#define FW_INTERN_MAX_LEN 1024u

FW_WUR int fw_intern_new(size_t max_bytes, fw_intern **out);
void fw_intern_free(fw_intern *t);
/* The id of |s|, inserting it when absent and there is room; FW_INTERN_NONE
 * when the table is full or |s| is longer than FW_INTERN_MAX_LEN. */
uint32_t fw_intern_id(fw_intern *t, fw_str s);
/* The id of |s| if already present, without inserting; FW_INTERN_NONE else. */
uint32_t fw_intern_find(fw_intern *t, fw_str s);
/* The string of |id| (NUL-terminated, valid for the table's life);
 * FW_STR_NULL for FW_INTERN_NONE or an unknown id. Lock-free. */
fw_str fw_intern_str(const fw_intern *t, uint32_t id);

/* Added: a small direct-mapped cache of lookups for one caller and one
 * batch of records (each string looked up once per batch rather than once
 * per record). Positive results only: a hit returns exactly what the
 * dictionary would (ids are stable), a miss asks the dictionary. Entries
 * borrow the looked-up strings, so a cache lives no longer than they do
 * (typically on the stack for one call). Not shared between threads. */
#define FW_INTERN_CACHE_SLOTS 256u
typedef struct fw_intern_cache {
    struct {
        const char *ptr; /* borrowed; NULL = empty slot */
        uint32_t len;
        uint32_t id;
    } e[FW_INTERN_CACHE_SLOTS];
} fw_intern_cache;
void fw_intern_cache_init(fw_intern_cache *c);
/* fw_intern_id / fw_intern_find through |c|. */
uint32_t fw_intern_cached_id(fw_intern *t, fw_intern_cache *c, fw_str s);
uint32_t fw_intern_cached_find(fw_intern *t, fw_intern_cache *c, fw_str s);
/* The cache slot |s| maps to, and whether it holds |s| (then its id goes to
 * |*id|, else FW_INTERN_NONE); fw_intern_cache_put() fills the slot. For
 * callers that decide on a miss themselves (the store's admission filter).
 * Inline: it is the whole cost of a hit. The hash is cheap and unkeyed: a
 * collision only costs a miss, never a wrong id. */
static inline uint32_t fw_intern_cache_slot(const fw_intern_cache *c, fw_str s, uint32_t *id)
{
    *id = FW_INTERN_NONE;
    if (!s.ptr || s.len > FW_INTERN_MAX_LEN)
        return 0;
    uint64_t a = 0, b = 0;
    if (s.len >= 8) {
        memcpy(&a, s.ptr, 8);
        memcpy(&b, s.ptr + s.len - 8, 8);
    } else if (s.len >= 4) {
        uint32_t x, y;
        memcpy(&x, s.ptr, 4);
        memcpy(&y, s.ptr + s.len - 4, 4);
        a = x;
        b = y;
    } else if (s.len) {
        a = (uint64_t)(uint8_t)s.ptr[0] | (uint64_t)(uint8_t)s.ptr[s.len / 2u] << 8 |
            (uint64_t)(uint8_t)s.ptr[s.len - 1u] << 16;
    }
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ s.len) * 0xff51afd7ed558ccdull;
    uint32_t i = (uint32_t)(h >> 56) & (FW_INTERN_CACHE_SLOTS - 1u);
    const char *p = c->e[i].ptr;
    if (!p || c->e[i].len != s.len)
        return i;
    bool eq;
    if (s.len >= 8 && s.len <= 16) {
        /* head and tail words cover the whole string */
        uint64_t pa, pb;
        memcpy(&pa, p, 8);
        memcpy(&pb, p + s.len - 8, 8);
        eq = pa == a && pb == b;
    } else {
        eq = memcmp(p, s.ptr, s.len) == 0;
    }
    if (eq)
        *id = c->e[i].id;
    return i;
}
void fw_intern_cache_put(fw_intern_cache *c, uint32_t slot, fw_str s, uint32_t id);

typedef struct fw_intern_stats {
    uint64_t strings;
    uint64_t bytes;   /* memory held, strings and tables */
    uint64_t refused; /* inserts refused because the table was full */
} fw_intern_stats;
void fw_intern_get_stats(fw_intern *t, fw_intern_stats *out);

#endif
