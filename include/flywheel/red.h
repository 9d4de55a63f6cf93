/* red.h - RED metrics (rate, errors, duration) per service, per (service,
 * operation, span kind) and per topology edge, in 10 s event-time buckets
 * over the retention, sharded by partition (callers pass their trace-id
 * partition, so concurrent writers rarely meet) and merged at query time.
 * Counts are doubles because sampled spans carry an adjusted count (SPEC 5).
 * Bounded: at most max_series series (beyond: one overflow series per
 * service and kind), buckets older than the retention are dropped. */
#ifndef FLYWHEEL_RED_H
#define FLYWHEEL_RED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/hist.h"
#include "flywheel/model.h"

#define FW_RED_BUCKET_NS (10ull * 1000000000ull)
/* Operation/target id used for the overflow series of a capped service. */
#define FW_RED_OVERFLOW_ID UINT32_MAX
#define FW_RED_EXEMPLARS 4

typedef enum fw_red_series_kind {
    FW_RED_SERVICE = 0,   /* a = service id; entry spans (server/consumer, or roots) */
    FW_RED_OPERATION = 1, /* a = service id, b = operation id, span_kind set */
    FW_RED_EDGE = 2       /* a = source node id, b = target node id */
} fw_red_series_kind;

typedef struct fw_red_key {
    uint8_t kind;      /* fw_red_series_kind */
    uint8_t span_kind; /* fw_span_kind for OPERATION; 0 otherwise */
    uint32_t a;        /* intern ids (see fw_red_series_kind) */
    uint32_t b;
} fw_red_key;

/* One observation. For edges, |duration_us| is the client-side latency and
 * |server_duration_us| the server side when a server span was joined
 * (0 = unknown); |fault| means the call failed. */
typedef struct fw_red_obs {
    fw_red_key key;
    uint64_t time_ns; /* event time (span end) */
    uint64_t duration_us;
    uint64_t server_duration_us;
    double weight; /* adjusted count, >= 1 (sampling) */
    bool fault;
    bool client_error;
    bool throttled;
    uint8_t trace_id[FW_TRACE_ID_LEN];
} fw_red_obs;

typedef struct fw_red_config {
    uint64_t retention_ns;
    size_t max_series;   /* series cap over all kinds */
    size_t memory_limit; /* bytes for buckets; oldest buckets dropped beyond */
    unsigned partitions; /* power of two, >= 1 */
} fw_red_config;

typedef struct fw_red fw_red;

FW_WUR int fw_red_new(const fw_red_config *cfg, fw_red **out);
void fw_red_free(fw_red *r);
/* Records |n| observations in shard |partition| (taken modulo). Never
 * fails: over the caps an observation goes to the overflow series or, when
 * memory is exhausted, is counted in stats.dropped. */
void fw_red_observe(fw_red *r, unsigned partition, const fw_red_obs *obs, size_t n);
/* Drops buckets older than |now_ns| - retention; a series that has held no
 * data for longer than the retention (newest data before now - 2 x
 * retention) is dropped with its lifetime totals. |now_ns| also serves as
 * the clock that bounds how far future event times move the "too old"
 * reference (see red.c). */
void fw_red_expire(fw_red *r, uint64_t now_ns);

typedef struct fw_red_totals {
    double requests;
    double errors; /* faults + client_errors */
    double faults;
    double client_errors;
    double throttled;
    fw_hist latency;        /* duration_us, weighted */
    fw_hist server_latency; /* edges only */
    uint64_t first_ns;      /* first/last bucket start holding data; 0 when empty */
    uint64_t last_ns;
    size_t n_exemplars; /* recent trace ids, failing ones preferred */
    uint8_t exemplars[FW_RED_EXEMPLARS][FW_TRACE_ID_LEN];
    bool exemplar_failed[FW_RED_EXEMPLARS];
    /* Event time of each exemplar (added: lets callers and the cross-shard
     * merge order them; failing first, then newest first). */
    uint64_t exemplar_time_ns[FW_RED_EXEMPLARS];
} fw_red_totals;

/* Totals of |key| over buckets overlapping [from_ns, to_ns]. Returns 0, or
 * FW_ERR_NOT_FOUND when the series holds nothing there, or FW_ERR_INVALID
 * (bad key kind, to_ns < from_ns). |out| is always initialised. */
FW_WUR int fw_red_query(fw_red *r, const fw_red_key *key, uint64_t from_ns, uint64_t to_ns,
                        fw_red_totals *out);

/* Visits every series of |kind| (or all kinds when kind < 0) with data in
 * [from_ns, to_ns], merged across shards. Return nonzero to stop. */
typedef int (*fw_red_series_visit)(void *ctx, const fw_red_key *key, const fw_red_totals *t);
size_t fw_red_foreach(fw_red *r, int kind, uint64_t from_ns, uint64_t to_ns,
                      fw_red_series_visit visit, void *ctx);

/* Added: the keys fw_red_foreach() would visit (series of |kind|, or all
 * kinds when kind < 0, with data in [from_ns, to_ns]), in the same order,
 * without merging any totals: for callers that need only the keys. Return
 * nonzero to stop; returns the number of calls. */
typedef int (*fw_red_key_visit)(void *ctx, const fw_red_key *key);
size_t fw_red_foreach_key(fw_red *r, int kind, uint64_t from_ns, uint64_t to_ns,
                          fw_red_key_visit visit, void *ctx);

/* Time series of |key|: one call per step in [from_ns, to_ns) (step a
 * multiple of 10 s, >= 10 s), empty steps included with zero totals.
 * Returns 0 or FW_ERR_INVALID (bad step / range, more than 10000 steps). */
typedef int (*fw_red_point_visit)(void *ctx, uint64_t step_start_ns, const fw_red_totals *t);
FW_WUR int fw_red_range(fw_red *r, const fw_red_key *key, uint64_t from_ns, uint64_t to_ns,
                        uint64_t step_ns, fw_red_point_visit visit, void *ctx);

/* Lifetime totals of every series of |kind| (or all when kind < 0) since
 * start: never decreasing, unaffected by retention (for Prometheus
 * counters). first_ns/last_ns are the event-time bounds seen. */
size_t fw_red_foreach_lifetime(fw_red *r, int kind, fw_red_series_visit visit, void *ctx);

/* Appends the spanmetrics-connector-style series of OPERATION series in
 * Prometheus text format: traces_span_metrics_calls_total and the
 * traces_span_metrics_duration_seconds histogram (buckets of
 * fw_hist_prom_bounds_us), labels service_name, span_name, span_kind
 * (SPAN_KIND_SERVER, ...), status_code (STATUS_CODE_ERROR for faults,
 * STATUS_CODE_UNSET otherwise); names resolved through |intern|; the
 * overflow series has span_name "_overflow". Lifetime counts. */
struct fw_intern;
FW_WUR int fw_red_render_prometheus(fw_red *r, const struct fw_intern *intern, fw_buf *out);

typedef struct fw_red_stats {
    uint64_t series;
    uint64_t overflowed;  /* observations folded into an overflow series */
    uint64_t dropped;     /* observations lost to the memory limit */
    uint64_t memory_used; /* bytes */
    uint64_t buckets;
    /* Added: observations older than the newest bucket minus the retention
     * (or than the last expire cutoff), ignored; buckets dropped to stay
     * under memory_limit; observations with an invalid key kind. */
    uint64_t too_old;
    uint64_t evicted_buckets;
    uint64_t invalid;
} fw_red_stats;
void fw_red_get_stats(fw_red *r, fw_red_stats *out);

#endif
