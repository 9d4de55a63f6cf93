/* pipeline.h - the one hand-off point between a decoded request and what
 * outlives it. Takes borrowed model records, applies acceptance rules
 * (retention window), copies them into the store (and, later, topology and
 * RED), and counts what it accepted and refused. */
#ifndef FLYWHEEL_PIPELINE_H
#define FLYWHEEL_PIPELINE_H

#include <stdint.h>
#include "flywheel/error.h"
#include "flywheel/model.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"

typedef struct fw_pipeline fw_pipeline;

typedef struct fw_pipeline_config {
    uint64_t retention_ns; /* records older than now - retention are rejected (TOO_OLD) */
} fw_pipeline_config;

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
