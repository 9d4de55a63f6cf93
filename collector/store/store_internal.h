/* store_internal.h - what the store's files share: the deep copier used for
 * resource/scope records and log records (store_copy.c) and the compact
 * span record codec (store_codec.c). Nothing here crosses the module. */
#ifndef FLYWHEEL_STORE_INTERNAL_H
#define FLYWHEEL_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flywheel/arena.h"
#include "flywheel/intern.h"
#include "flywheel/model.h"
#include "flywheel/semconv.h"

/* AnyValue nesting kept; the decoders already stop at 64 (limits.h), this
 * only keeps encode/copy recursion bounded whatever the caller hands in.
 * Deeper arrays/kvlists are stored as empty values. */
#define STORE_MAX_VALUE_DEPTH 128u

/* ---- deep copy (store_copy.c) ---- */

/* A resource and a scope, deep-copied into one allocation, shared by every
 * span record of one partition that carries the same pair (deduplicated by
 * content). |refs| counts the live records pointing at it. */
typedef struct store_origin {
    uint64_t hash;
    uint32_t refs;
    uint32_t service_id; /* fw_intern id of resource.service_name, or FW_INTERN_NONE */
    size_t bytes;        /* size of this one allocation */
    fw_resource resource;
    fw_scope scope;
} store_origin;

/* Content hash of a resource + scope pair (keyed by |seed|). */
uint64_t fw__store_origin_hash(uint64_t seed, const fw_resource *r, const fw_scope *sc);
/* Deep equality of an origin with a pair. */
bool fw__store_origin_equal(const store_origin *o, const fw_resource *r, const fw_scope *sc);
/* A new origin copied from the pair (refs = 0), or NULL (out of memory, or
 * larger than |max_bytes| when nonzero). Freed with free(). */
store_origin *fw__store_origin_new(const fw_resource *r, const fw_scope *sc, size_t max_bytes);

/* Log records are kept as deep copies (their own store comes later). */
typedef struct store_log_node {
    struct store_log_node *next;
    struct store_log_node *trace_next;
    struct store_log_node *trace_tail;
    uint64_t hash;  /* of trace_id (or of the time when not indexed) */
    uint64_t seq;   /* store-wide arrival number */
    size_t bytes;   /* size of this one allocation */
    bool indexed;   /* reachable from the trace index */
    uint8_t trace_id[FW_TRACE_ID_LEN];
    fw_log_record rec;
    fw_resource resource;
    fw_scope scope;
} store_log_node;

/* A deep copy of |r| (node fields zeroed but |bytes|), or NULL. */
store_log_node *fw__store_log_copy(const fw_log_record *r, size_t max_bytes);

/* ---- span record codec (store_codec.c) ----
 *
 * A record in a block:
 *   varint  size of the rest of the record
 *   u16     flags (STORE_F_*)
 *   varint  origin index (partition's resource/scope table)
 *   varint  prev: address delta to the previous record of the same trace, 0 = none
 *   varint  zigzag(start_ns - block base time)
 *   -- body, encoded outside any lock --
 *   varint  |end - start|   (STORE_F_NEGDUR when end < start)
 *   strref  span name
 *   varint  http status                      (STORE_F_HTTP)
 *   16+8(+8) trace id, span id, parent id    (parent: STORE_F_PARENT)
 *   varint  W3C flags                        (STORE_F_WFLAGS)
 *   strref  trace state                      (STORE_F_TSTATE)
 *   strref  status message                   (STORE_F_SMSG)
 *   varint x3 dropped attributes/events/links (STORE_F_DROPPED)
 *   attrs
 *   events, links                            (STORE_F_EXTRA)
 * strref: varint (id << 1) for an interned string, or (len << 1 | 1) then
 * the bytes. attrs: varint n, then n x (strref key, value). value: varint
 * (payload << 3 | tag), see store_codec.c. */
enum {
    STORE_F_KIND_MASK = 0x7u,
    STORE_F_STATUS_SHIFT = 3,
    STORE_F_STATUS_MASK = 0x18u,
    STORE_F_PARENT = 1u << 5,
    STORE_F_FAULT = 1u << 6,
    STORE_F_CLIENT = 1u << 7,
    STORE_F_THROTTLED = 1u << 8,
    STORE_F_HTTP = 1u << 9,
    STORE_F_NEGDUR = 1u << 10,
    STORE_F_WFLAGS = 1u << 11,
    STORE_F_TSTATE = 1u << 12,
    STORE_F_SMSG = 1u << 13,
    STORE_F_DROPPED = 1u << 14,
    STORE_F_EXTRA = 1u << 15
};

/* Growable output of the encoder (bounded by |max|). */
typedef struct store_out {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
} store_out;

/* Decides, per string, whether it is stored as an interned id. */
typedef struct store_strpolicy {
    fw_intern *intern;
    _Atomic uint32_t *seen; /* admission filter: a value is interned on its second sighting */
    size_t seen_mask;
    uint64_t seed;
    fw_intern_cache *cache; /* per call (a copy of the policy per batch); NULL = none */
} store_strpolicy;

/* Encodes the body of |sp| (everything after the start-time field) at the
 * end of |out|; |flags| receives the STORE_F_* bits the body implies (the
 * caller adds kind/status/classification). |name_id|: the dictionary id of
 * sp->name when the caller has it, else FW_INTERN_NONE. 0 or FW_ERR_NOMEM /
 * FW_ERR_TOO_LARGE. */
int fw__store_encode_body(store_out *out, const store_strpolicy *pol, const fw_span *sp,
                          const fw_span_class *cls, uint32_t name_id, uint16_t *flags);

size_t fw__store_varint_put(uint8_t *p, uint64_t v); /* writes at most 10 bytes */
size_t fw__store_varint_len(uint64_t v);
/* Reads one varint at |*p| (< end); false when truncated or overlong. */
bool fw__store_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* The parsed fixed part of a record. */
typedef struct store_rec {
    const uint8_t *end; /* one past the record */
    uint32_t size;      /* whole record, size varint included */
    uint16_t flags;
    uint32_t origin;
    uint64_t prev_delta;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t name_ref;        /* raw strref */
    const uint8_t *name_ptr;  /* inline name bytes (name_ref & 1) */
    int32_t http_status;      /* -1 when absent */
    const uint8_t *trace_id;  /* 16 bytes */
    const uint8_t *span_id;   /* 8 bytes */
    const uint8_t *parent_id; /* 8 bytes or NULL */
    const uint8_t *rest;      /* W3C flags onwards */
} store_rec;

/* Parses the record at |p| (< |limit|) whose start times are relative to
 * |base_ns|. false when malformed. */
bool fw__store_rec_parse(const uint8_t *p, const uint8_t *limit, uint64_t base_ns,
                         store_rec *out);

/* Materialises a parsed record into |sp| (allocated from |a|); resource and
 * scope come from |origin|. 0, FW_ERR_NOMEM (arena cap) or FW_ERR_INVALID. */
int fw__store_rec_decode(const store_rec *r, const store_origin *origin, fw_intern *intern,
                         fw_arena *a, fw_span *sp);

/* The end time used for windows and ordering: end, or start when end is
 * before it. */
static inline uint64_t fw__store_span_time(uint64_t start_ns, uint64_t end_ns)
{
    return end_ns >= start_ns ? end_ns : start_ns;
}

#endif
