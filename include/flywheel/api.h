/* api.h - the API listener: /healthz, /readyz, /metrics and the JSON API
 * under /api/v1 (services, topology, operations, RED series, trace search,
 * traces by id, logs; shapes in docs/API.md). Reads the store, RED, the
 * topology and the modules' stats; never writes telemetry. */
#ifndef FLYWHEEL_API_H
#define FLYWHEEL_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"
#include "flywheel/http.h"
#include "flywheel/server.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"

typedef struct fw_api fw_api;

struct fw_red;
struct fw_topo;
struct fw_intern;
struct fw_deploy_store;
struct fw_patterns;
struct fw_slos;

typedef struct fw_api_config {
    size_t max_body;
    /* Added: the longest `window=` accepted (the retention); 0 = 2 h. */
    uint64_t retention_ns;
    /* Added: wall clock (unix ns) that default windows end at; NULL =
     * CLOCK_REALTIME. Tests pin it. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
    /* Added: bearer tokens (fw_auth_check), copied by fw_api_new; NULL or
     * "" = open. |read_token| guards GET/HEAD on /metrics and /api/v1/...,
     * |write_token| every other method there; /healthz and /readyz stay
     * open. */
    const char *read_token;
    const char *write_token;
} fw_api_config;

/* Borrows |store| and |stats|. */
FW_WUR int fw_api_new(const fw_api_config *cfg, fw_store *store, fw_stats *stats, fw_api **out);
void fw_api_free(fw_api *a);
/* Lets /metrics include the network counters (borrowed; may stay NULL). */
void fw_api_set_server(fw_api *a, const fw_server *server);
/* Added: the analytics the services, topology, operations and RED
 * endpoints and the RED/topology families of /metrics read (all borrowed
 * for the API's life; any may be NULL: those endpoints then answer 503).
 * |intern| must be the dictionary |red| and |topo| key their series by
 * (and the store's). Call before the handler serves requests. */
void fw_api_set_analytics(fw_api *a, struct fw_red *red, struct fw_topo *topo,
                          struct fw_intern *intern);
/* Added: the deployment store behind GET/POST /api/v1/deployments
 * (borrowed for the API's life; NULL = those endpoints answer 503). Call
 * before the handler serves requests. */
void fw_api_set_deployments(fw_api *a, struct fw_deploy_store *deploy);
/* Added: the log pattern miner behind GET /api/v1/logs/patterns (borrowed
 * for the API's life; NULL = that endpoint answers 503). Call before the
 * handler serves requests. */
void fw_api_set_patterns(fw_api *a, struct fw_patterns *patterns);
/* Added: the SLO store behind /api/v1/slos (borrowed for the API's life;
 * NULL = those endpoints answer 503). Call before the handler serves
 * requests. */
void fw_api_set_slos(fw_api *a, struct fw_slos *slos);
/* Added: the write-ahead log whose counters /metrics exports
 * (flywheel_wal_*; borrowed for the API's life; NULL = not exported). */
struct fw_wal;
void fw_api_set_wal(fw_api *a, struct fw_wal *wal);
/* Added: the in-flight memory budget of the ingest listeners, exported as
 * flywheel_inflight_* (borrowed for the API's life; NULL = not exported). */
struct fw_membudget;
void fw_api_set_inflight(fw_api *a, const struct fw_membudget *budget);
/* Added: the investigations behind POST /api/v1/alarms (generic,
 * /alertmanager, /cloudwatch) and POST/GET /api/v1/investigations[/{id}]
 * (borrowed for the API's life; NULL = those endpoints answer 503). Call
 * before the handler serves requests. */
struct fw_investigations;
void fw_api_set_investigations(fw_api *a, struct fw_investigations *inv);
/* /readyz answers 200 once set (listeners bound, storage open). */
void fw_api_set_ready(fw_api *a, bool ready);
fw_http_handler fw_api_handler(fw_api *a);

#endif
