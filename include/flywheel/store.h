/* store.h - the telemetry store: what the pipeline hands off, kept for
 * queries. Spans are compact records (strings as dictionary ids, varints)
 * in append-only blocks, partitioned by a keyed hash of the trace id (one
 * lock per partition, no global lock), indexed by trace id, with error and
 * throttled span lists and per-block time ranges and service/operation
 * blooms for search. Windowed by event time (fw_store_expire) and bounded
 * by memory and counts, evicting the oldest first. Logs are deep copies in
 * a ring under the same budget until they get their own store. */
#ifndef FLYWHEEL_STORE_H
#define FLYWHEEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/model.h"

typedef struct fw_store fw_store;

struct fw_intern;
struct fw_span_class;

typedef struct fw_store_config {
    struct fw_intern *intern; /* borrowed dictionary; NULL = the store makes its own,
                                 bounded by memory_limit / 16 (min 256 KiB; 64 MiB when
                                 unbounded) and not counted in memory_used */
    size_t max_spans;        /* oldest evicted beyond this; 0 = unlimited */
    size_t max_logs;         /* 0 = unlimited */
    size_t memory_limit;     /* bytes held (blocks, indexes, resources, logs), split evenly
                                over partitions; oldest evicted beyond; 0 = unlimited */
    uint64_t retention_ns;   /* fw_store_expire evicts what is older than now - retention;
                                0 = no time bound */
    unsigned partitions;     /* power of two, 1..1024 */
} fw_store_config;

typedef struct fw_store_stats {
    uint64_t spans_stored;
    uint64_t logs_stored;
    uint64_t spans_evicted;
    uint64_t logs_evicted;
    uint64_t memory_used; /* bytes held now: blocks, indexes, resource/scope records, logs
                             (the dictionary reports itself; fixed per-store overhead of
                             ~64 KiB is not counted) */
    uint64_t spans_held;
    uint64_t logs_held;
} fw_store_stats;

FW_WUR int fw_store_new(const fw_store_config *cfg, fw_store **out);
void fw_store_free(fw_store *s);

/* Hand-off: copies |n| spans (resource and scope included) into the
 * store. Returns 0 or FW_ERR_NOMEM: a span that can never fit (larger than
 * a partition's budget, or over 16 MiB encoded) refuses the whole batch
 * before anything is stored; a later allocation failure may leave part of
 * the batch stored. The caller answers a retryable overload status. */
FW_WUR int fw_store_add_spans(fw_store *s, const fw_span *spans, size_t n);
/* Same, with each span's classification (fault / client error / throttled
 * flags feed the error and throttling indexes). |cls| may be NULL. */
FW_WUR int fw_store_add_classified(fw_store *s, const fw_span *spans,
                                   const struct fw_span_class *cls, size_t n);
/* Added: same, with the dictionary id of each span's name already looked
 * up by the caller in this store's dictionary (fw_store_dictionary) with
 * fw_intern_id; FW_INTERN_NONE = not known (the store looks it up).
 * |name_ids| may be NULL. Saves the store a second lookup of every name. */
FW_WUR int fw_store_add_named(fw_store *s, const fw_span *spans,
                              const struct fw_span_class *cls, const uint32_t *name_ids,
                              size_t n);
/* Added: the dictionary the store encodes strings with (borrowed). */
struct fw_intern *fw_store_dictionary(const fw_store *s);
FW_WUR int fw_store_add_logs(fw_store *s, const fw_log_record *recs, size_t n);

/* Visitors borrow the record for the duration of the call only, with a
 * partition lock held: they must not call back into the store. Return
 * nonzero from |visit| to stop. */
typedef int (*fw_store_span_visit)(void *ctx, const fw_span *span);
typedef int (*fw_store_log_visit)(void *ctx, const fw_log_record *rec);

/* All spans of one trace, in arrival order. Returns how many were visited. */
size_t fw_store_get_trace(fw_store *s, const uint8_t trace_id[FW_TRACE_ID_LEN],
                          fw_store_span_visit visit, void *ctx);

typedef struct fw_log_query {
    bool has_trace_id;
    uint8_t trace_id[FW_TRACE_ID_LEN];
    const char *service; /* NULL = any */
    uint64_t from_ns;    /* 0 = unbounded */
    uint64_t to_ns;      /* 0 = unbounded */
    size_t limit;        /* 0 = no limit */
    /* Added: records whose severity_number (or, when that is 0, whose
     * severity_text names a level: trace debug info warn error fatal) is at
     * least this; 0 = any. */
    int32_t severity_min;
    /* Added: an ASCII case-insensitive substring of the body (every string
     * of a structured body) or of a string attribute value; NULL or "" =
     * any. Borrowed for the call; the caller bounds its length (the API:
     * 256 bytes). */
    const char *text;
} fw_log_query;

/* Log records matching |q|, newest first. Returns how many were visited. */
size_t fw_store_find_logs(fw_store *s, const fw_log_query *q, fw_store_log_visit visit, void *ctx);

/* Span search. Matching spans are visited newest (end time) first. */
typedef struct fw_span_query {
    const char *service;   /* NULL = any */
    const char *operation; /* span name; NULL = any */
    int kind;              /* fw_span_kind, or -1 = any */
    bool errors_only;      /* faults, status ERROR, and client errors */
    bool throttled_only;
    uint64_t from_ns;      /* span end time bounds; 0 = unbounded */
    uint64_t to_ns;
    size_t limit;          /* 0 = no limit */
} fw_span_query;
size_t fw_store_find_spans(fw_store *s, const fw_span_query *q, fw_store_span_visit visit,
                           void *ctx);

/* Evicts what is older than |now_ns| - retention by event time: every
 * block whose newest span is older, then the oldest block's old prefix
 * record by record (so in-order data expires exactly; a backdated span that
 * arrived after newer ones goes with its block). Logs from the oldest while
 * their time is set and old. */
void fw_store_expire(fw_store *s, uint64_t now_ns);

void fw_store_get_stats(fw_store *s, fw_store_stats *out);

#endif
