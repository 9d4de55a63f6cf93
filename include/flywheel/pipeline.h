/* pipeline.h - the one hand-off point between a decoded request and what
 * outlives it. Takes borrowed model records, applies acceptance rules
 * (retention window), classifies spans once (fw_semconv), copies them into
 * the store, feeds RED metrics and the topology, and counts what it
 * accepted and refused. Also drives their periodic expiry from the ingest
 * path (at most once a second, by whichever worker passes first). */
#ifndef FLYWHEEL_PIPELINE_H
#define FLYWHEEL_PIPELINE_H

#include <stdint.h>
#include "flywheel/error.h"
#include "flywheel/model.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"

struct fw_intern;
struct fw_red;
struct fw_topo;
struct fw_throttle_rules;
struct fw_deploy_store;
struct fw_patterns;

typedef struct fw_pipeline fw_pipeline;

typedef struct fw_pipeline_config {
    uint64_t retention_ns; /* records older than now - retention are rejected (TOO_OLD) */
    /* Analytics, all borrowed and optional (NULL = not fed). RED and the
     * topology need |intern|; spans are grouped by trace-id partition
     * (|partitions|, a power of two) before they reach the topology. */
    struct fw_intern *intern;
    struct fw_red *red;
    struct fw_topo *topo;
    const struct fw_throttle_rules *throttle_rules;
    unsigned partitions;
    /* Deployment inference from service.version (borrowed, optional). */
    struct fw_deploy_store *deploy;
    /* Log pattern mining (borrowed, optional). */
    struct fw_patterns *patterns;
} fw_pipeline_config;

/* Housekeeping at |now_ns| (arrival clock): store, RED and pattern expiry,
 * topology join waits. Runs at most once a second however often it is
 * called; ingest calls it too, and the server calls it on a timer so that
 * waits end even when no telemetry arrives. Thread-safe. */
void fw_pipeline_tick(fw_pipeline *p, uint64_t now_ns);

/* Adjusted count of a span from its W3C tracestate (OpenTelemetry "ot"
 * entry: th:<hex rejection threshold> or the older p:<power of two>):
 * 1 / sampling probability; 1 when absent or unparsable. */
double fw_pipeline_sampling_weight(fw_str trace_state);
/* Partition of a trace id: the same for every span of a trace. */
unsigned fw_pipeline_partition(const uint8_t trace_id[FW_TRACE_ID_LEN], unsigned partitions);

/* Borrows |store| and |stats| for the pipeline's life. */
FW_WUR int fw_pipeline_new(const fw_pipeline_config *cfg, fw_store *store, fw_stats *stats,
                           fw_pipeline **out);
void fw_pipeline_free(fw_pipeline *p);

/* Hands off |batch| (borrowed for the call). Records outside the retention
 * window (relative to |now_ns|) are dropped from acceptance and added to
 * batch->rejected with a reason. Counts accepted/rejected records under
 * |proto|. Returns 0, or FW_ERR_OVERLOAD when nothing could be stored (the
 * caller answers 503/UNAVAILABLE; rejected counters already updated). */
FW_WUR int fw_pipeline_push_spans(fw_pipeline *p, fw_protocol proto, fw_span_batch *batch,
                                  uint64_t now_ns);
FW_WUR int fw_pipeline_push_logs(fw_pipeline *p, fw_protocol proto, fw_log_batch *batch,
                                 uint64_t now_ns);

#endif
