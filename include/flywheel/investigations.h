/* investigations.h - investigations as durable objects: started by alarms,
 * SLO breaches or operators, run on a worker thread by fw_investigate_run,
 * persisted in SQLite in the data directory (surviving restarts), listed
 * and fetched as the JSON object of SPEC.md 6.1. Deduplicates: the same
 * alarm firing again while its investigation runs does not start another. */
#ifndef FLYWHEEL_INVESTIGATIONS_H
#define FLYWHEEL_INVESTIGATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/investigate.h"

typedef struct fw_investigations fw_investigations;

#define FW_INV_ID_MAX 40

/* Opens <data_dir>/investigations.db (WAL) and starts the worker. |src| is
 * copied (its pointers borrowed for the object's life). */
FW_WUR int fw_investigations_open(const char *data_dir, const fw_inv_sources *src,
                                  fw_investigations **out, char *err, size_t errlen);
/* Stops the worker (running analyses finish first) and closes. NULL ok. */
void fw_investigations_close(fw_investigations *v);

/* Queues an investigation; |id_out| receives its id. When |dedupe_key| is
 * non-NULL and an investigation with that key is still queued or running,
 * nothing new starts: |id_out| is that one's id and *started = false.
 * Returns 0, FW_ERR_INVALID (bad request), FW_ERR_OVERLOAD (queue full). */
FW_WUR int fw_investigations_start(fw_investigations *v, const fw_inv_request *req,
                                   const char *dedupe_key, char id_out[FW_INV_ID_MAX],
                                   bool *started);
/* Appends the investigation object (SPEC 6.1: id, status, created_at,
 * completed_at, trigger, scope, impact, hypotheses, monitoring_gaps,
 * timeline). FW_ERR_NOT_FOUND for an unknown id. */
FW_WUR int fw_investigations_get_json(fw_investigations *v, const char *id, fw_buf *out);
/* Appends {"investigations":[...summaries...]} newest first. */
FW_WUR int fw_investigations_list_json(fw_investigations *v, size_t limit, fw_buf *out);
/* Blocks until the queue is empty and nothing runs (tests, shutdown). */
void fw_investigations_drain(fw_investigations *v);

#endif
