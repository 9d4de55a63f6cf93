/* deploy.h - deployments (SPEC 4, 6): recorded through POST
 * /api/v1/deployments, and inferred when a service starts reporting a new
 * service.version (one deployment per new version, at the version's
 * first-seen event time, with the version that was newest before it).
 * Stored durably in SQLite (<data_dir>/flywheel.db, WAL) and surviving
 * restarts. Thread-safe; the ingest path (fw_deploy_observe_version) only
 * takes a short lock and touches SQLite when something changed. */
#ifndef FLYWHEEL_DEPLOY_H
#define FLYWHEEL_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef struct fw_deploy_store fw_deploy_store;

/* Longest accepted strings, in bytes (a longer one is a 400 on the API and
 * is ignored by inference): names and versions are identifiers, not text. */
#define FW_DEPLOY_SERVICE_MAX 256u
#define FW_DEPLOY_VERSION_MAX 128u
#define FW_DEPLOY_ENVIRONMENT_MAX 128u
#define FW_DEPLOY_COMMIT_MAX 256u
#define FW_DEPLOY_DESCRIPTION_MAX 4096u
/* Memory bound of inference: services tracked (further services are not
 * tracked, counted in services_refused) and versions kept per service (the
 * oldest by first-seen time is forgotten; if it reappears it is new). */
#define FW_DEPLOY_MAX_SERVICES_DEFAULT 10000u
#define FW_DEPLOY_MAX_VERSIONS_DEFAULT 64u
/* Rows one fw_deploy_list call returns at most. */
#define FW_DEPLOY_LIST_MAX 10000u
/* Database schema version (PRAGMA user_version) this build writes. */
#define FW_DEPLOY_SCHEMA_VERSION 1

typedef enum fw_deploy_source {
    FW_DEPLOY_SOURCE_API = 0,     /* "api": POST /api/v1/deployments */
    FW_DEPLOY_SOURCE_INFERRED = 1 /* "inferred": a new service.version */
} fw_deploy_source;
const char *fw_deploy_source_name(fw_deploy_source s); /* "api" | "inferred" */

/* One deployment. Strings are NUL-terminated UTF-8; optional ones are NULL
 * when absent. In a visitor they are borrowed until the visitor returns. */
typedef struct fw_deployment {
    int64_t id; /* assigned by the store (> 0); ignored by fw_deploy_record */
    const char *service;
    const char *version;
    const char *previous_version; /* computed by the store; NULL when unknown */
    const char *environment;
    const char *commit;
    const char *description;
    uint64_t timestamp_ns;   /* when it happened (event time), > 0, <= INT64_MAX */
    fw_deploy_source source; /* set by the store */
    uint64_t recorded_at_ns; /* wall clock when stored; set by the store */
} fw_deployment;

typedef struct fw_deploy_config {
    size_t max_services;           /* 0 = FW_DEPLOY_MAX_SERVICES_DEFAULT */
    size_t max_versions;           /* per service, >= 2; 0 = FW_DEPLOY_MAX_VERSIONS_DEFAULT */
    int busy_timeout_ms;           /* SQLite busy timeout; 0 = 5000 */
    /* Wall clock for recorded_at_ns (unix ns); NULL = CLOCK_REALTIME. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
} fw_deploy_config;

/* Opens (creating when absent) <data_dir>/flywheel.db: WAL journal,
 * synchronous=NORMAL, schema migrated to FW_DEPLOY_SCHEMA_VERSION, and the
 * known versions loaded for inference. |data_dir| must be an existing,
 * writable directory (serve creates it). On failure returns FW_ERR_IO
 * (missing/unwritable directory, corrupt or foreign database file),
 * FW_ERR_CONFIG (a database written by a newer flywheel) or FW_ERR_NOMEM,
 * and writes a one-line reason naming the path into |err| (size |errlen|,
 * may be 0). The caller frees |*out| with fw_deploy_close. */
FW_WUR int fw_deploy_open(const char *data_dir, fw_deploy_store **out, char *err, size_t errlen);
/* The same with limits and a clock (|cfg| may be NULL: defaults). */
FW_WUR int fw_deploy_open_config(const char *data_dir, const fw_deploy_config *cfg,
                                 fw_deploy_store **out, char *err, size_t errlen);
/* Closes the database (checkpointing the WAL). NULL is a no-op. */
void fw_deploy_close(fw_deploy_store *s);

/* Checks |d| as a deployment to record: service and version required
 * (non-empty, within their maximum, no NUL); optional strings within their
 * maximum; timestamp in 1..INT64_MAX. Returns 0, or FW_ERR_INVALID with
 * |perr| naming the field first ("service: required"). |perr| may be NULL. */
FW_WUR int fw_deploy_validate(const fw_deployment *d, fw_parse_error *perr);

/* Records a deployment from the API (source "api"), after
 * fw_deploy_validate. The store sets previous_version to the newest other
 * version of the service first seen before the timestamp (NULL if none),
 * and registers the version as known, so telemetry reporting it later does
 * not infer a second deployment of it. Writes the new id to |*id_out|
 * (may be NULL). Returns 0, FW_ERR_INVALID (|perr| set), or FW_ERR_IO when
 * SQLite failed. Copies what it keeps; |d| is borrowed for the call. */
FW_WUR int fw_deploy_record(fw_deploy_store *s, const fw_deployment *d, int64_t *id_out,
                            fw_parse_error *perr);

/* Visitor of a listing: return nonzero to stop. It runs under the
 * database lock: it must not call back into |s|. */
typedef int (*fw_deploy_visit_fn)(void *ctx, const fw_deployment *d);

/* Deployments of |service| (NULL or "" = all) with from_ns <= timestamp <=
 * to_ns (to_ns 0 = no upper bound), newest first (ties: highest id first),
 * at most |limit| (0 or more than FW_DEPLOY_LIST_MAX = FW_DEPLOY_LIST_MAX).
 * Returns 0 or FW_ERR_IO. */
FW_WUR int fw_deploy_list(fw_deploy_store *s, const char *service, uint64_t from_ns,
                          uint64_t to_ns, size_t limit, fw_deploy_visit_fn visit, void *ctx);
/* Visits the deployment |id|; FW_ERR_NOT_FOUND when there is none. */
FW_WUR int fw_deploy_get(fw_deploy_store *s, int64_t id, fw_deploy_visit_fn visit, void *ctx);

/* INFERENCE (SPEC 4). Called by the ingest pipeline for each resource of
 * each batch with the resource's service.name, service.version,
 * deployment.environment and an event time of its telemetry (a span's
 * start, a log's time). Cheap when nothing changes: a hash lookup under a
 * short lock. Per service, versions are ordered by first-seen event time;
 * the first one is the baseline (not a deployment); every later version
 * is one inferred deployment at its first-seen time whose previous
 * version is the one before it in that order. A version seen again never
 * adds a deployment (versions flipping during a rolling deploy give one);
 * a sighting earlier than a version's first-seen time moves it back (and
 * the deployment with it, reordering if needed). An empty version, a zero
 * time or over-long strings are ignored. Returns 1 when a new inferred
 * deployment was recorded, 0 when not, or a negative FW_ERR_* when
 * SQLite or memory failed (counted in write_errors; inference goes on). */
int fw_deploy_observe_version(fw_deploy_store *s, fw_str service, fw_str version,
                              fw_str environment, uint64_t event_time_ns);

typedef struct fw_deploy_stats {
    uint64_t services;         /* services tracked for inference */
    uint64_t versions;         /* known versions held in memory */
    uint64_t recorded;         /* deployments recorded through the API */
    uint64_t inferred;         /* inferred deployments created */
    uint64_t services_refused; /* observations of services beyond max_services */
    uint64_t versions_evicted; /* versions forgotten beyond max_versions */
    uint64_t ignored;          /* observations with over-long or NUL-holding strings */
    uint64_t write_errors;     /* SQLite writes that failed */
} fw_deploy_stats;
void fw_deploy_get_stats(fw_deploy_store *s, fw_deploy_stats *out);

#endif
