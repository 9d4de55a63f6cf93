/* api.h - the API listener: /healthz, /readyz, /metrics and the JSON API
 * under /api/v1 (traces and logs for now). Reads the store and the
 * modules' stats; never writes telemetry. */
#ifndef FLYWHEEL_API_H
#define FLYWHEEL_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "flywheel/error.h"
#include "flywheel/http.h"
#include "flywheel/server.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"

typedef struct fw_api fw_api;

typedef struct fw_api_config {
    size_t max_body;
} fw_api_config;

/* Borrows |store| and |stats|. */
FW_WUR int fw_api_new(const fw_api_config *cfg, fw_store *store, fw_stats *stats, fw_api **out);
void fw_api_free(fw_api *a);
/* Lets /metrics include the network counters (borrowed; may stay NULL). */
void fw_api_set_server(fw_api *a, const fw_server *server);
/* /readyz answers 200 once set (listeners bound, storage open). */
void fw_api_set_ready(fw_api *a, bool ready);
fw_http_handler fw_api_handler(fw_api *a);

#endif
