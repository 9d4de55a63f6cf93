/* sim.h - the fault-injection simulator behind `flywheel simulate`: a
 * simulated application (built-in topologies of services, databases, caches,
 * external APIs, an LLM and a message broker) that produces OTLP traces and
 * logs, with injectable faults and decoys, plus a small OTLP/gRPC client.
 * Generation (fw_sim_*) is pure: it writes protobuf-c structs into an arena
 * the caller owns and never touches the network or the clock; transport
 * (fw_sim_client_*, fw_sim_announce_deployment) only sends. */
#ifndef FLYWHEEL_SIM_H
#define FLYWHEEL_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "flywheel/arena.h"
#include "flywheel/error.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define FW_SIM_MAX_FAULTS 8
#define FW_SIM_NAME_MAX   64

typedef enum fw_sim_fault_kind {
    FW_SIM_FAULT_THROTTLING = 0,       /* a dependency throttles a share of calls */
    FW_SIM_FAULT_BAD_DEPLOY,           /* new service.version, a share of requests fail */
    FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED, /* same, also POSTed to /api/v1/deployments */
    FW_SIM_FAULT_OUTAGE,               /* a dependency refuses connections */
    FW_SIM_FAULT_LATENCY,              /* a service or dependency gets slow */
    FW_SIM_FAULT_CODE_ERROR,           /* a service throws on one operation, no change */
    FW_SIM_FAULT_SILENT,               /* a service stops emitting; callers time out */
    FW_SIM_FAULT_SURGE                 /* entry traffic x5 */
} fw_sim_fault_kind;

typedef struct fw_sim_fault {
    fw_sim_fault_kind kind;
    char target[FW_SIM_NAME_MAX]; /* service or dependency name, as in the topology */
    int64_t start_ns;             /* offset from the simulation start; <0: default (2/3) */
    int64_t duration_ns;          /* 0: until the end */
} fw_sim_fault;

typedef struct fw_sim_options {
    const char *topology; /* "shop" or "rides"; NULL = shop */
    double rate;          /* entry requests per second (all entry points); <=0: 20 */
    uint64_t seed;
    int64_t start_unix_ns; /* event time of simulation offset 0 */
    int64_t duration_ns;   /* no request starts at or after this offset */
    int decoys;            /* add an unrelated deployment, error noise and a mild throttle */
    size_t n_faults;
    fw_sim_fault faults[FW_SIM_MAX_FAULTS];
} fw_sim_options;

/* A deployment the simulator wants announced (announced bad deploys and the
 * decoy deployment). Strings live as long as the fw_sim. */
typedef struct fw_sim_announcement {
    const char *service;
    const char *version;
    const char *environment;
    int64_t time_unix_ns;
} fw_sim_announcement;

/* One batch of telemetry. Every pointer is in the arena given to
 * fw_sim_next_batch and lives until that arena is reset or freed. */
typedef struct fw_sim_batch {
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *traces; /* NULL: none */
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *logs;     /* NULL: none */
    size_t n_spans, n_logs, n_traces;
    int64_t reached_ns; /* generation has covered offsets below this */
    int done;           /* the whole duration has been generated */
    size_t n_announcements;
    fw_sim_announcement announcements[4];
} fw_sim_batch;

typedef struct fw_sim fw_sim;

/* Parses "KIND:TARGET[@START[+DUR]]" (KIND: throttling, bad-deploy,
 * bad-deploy-announced, outage, latency, code-error, silent, surge; START and
 * DUR like 20m, 90s, 1h30m). Returns 0 or FW_ERR_INVALID with |err| set. */
int fw_sim_fault_parse(const char *spec, fw_sim_fault *out, char *err, size_t errlen) FW_WUR;
/* Parses a duration ("30m", "90s", "1h30m", "45" seconds) into |out_ns|. */
int fw_sim_duration_parse(const char *s, int64_t *out_ns) FW_WUR;
const char *fw_sim_fault_kind_name(fw_sim_fault_kind k);

/* Builds a simulator. Unknown topology, unknown fault target or a fault kind
 * that does not fit its target gives FW_ERR_INVALID with |err| set;
 * FW_ERR_NOMEM on allocation failure. The caller frees with fw_sim_free. */
int fw_sim_new(const fw_sim_options *opt, fw_sim **out, char *err, size_t errlen) FW_WUR;
void fw_sim_free(fw_sim *s);

/* Generates the requests starting before offset |until_ns| (capped at the
 * duration), stopping early once |max_spans| spans are reached (a trace is
 * never split). Returns 0, or FW_ERR_NOMEM when |arena| is exhausted. */
int fw_sim_next_batch(fw_sim *s, int64_t until_ns, size_t max_spans, fw_arena *arena,
                      fw_sim_batch *out) FW_WUR;

/* The ground truth as one JSON line (no newline): the first fault's kind,
 * service, dependency, version and onset, all faults, the decoys and
 * totals. Returns the length written, truncated to |n|-1. */
size_t fw_sim_ground_truth_json(const fw_sim *s, char *buf, size_t n);

/* Names of the built-in topologies, NULL-terminated. */
const char *const *fw_sim_topologies(void);

/* Totals so far. */
typedef struct fw_sim_totals {
    uint64_t traces, spans, logs;
} fw_sim_totals;
void fw_sim_get_totals(const fw_sim *s, fw_sim_totals *out);

/* ---- transport ---- */

typedef struct fw_sim_client fw_sim_client;

/* Connects to |endpoint| ("host:port", cleartext HTTP/2 with prior
 * knowledge). Returns 0, FW_ERR_IO (|err| set) or FW_ERR_NOMEM. */
int fw_sim_client_connect(const char *endpoint, fw_sim_client **out, char *err,
                          size_t errlen) FW_WUR;
void fw_sim_client_free(fw_sim_client *c);
/* Sends one Export call and waits for its grpc-status; retries UNAVAILABLE
 * and RESOURCE_EXHAUSTED (reconnecting if needed) a few times with backoff.
 * Returns 0, FW_ERR_IO / FW_ERR_CLOSED (|err| set) or FW_ERR_NOMEM. */
int fw_sim_client_export_traces(
    fw_sim_client *c,
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req, char *err,
    size_t errlen) FW_WUR;
int fw_sim_client_export_logs(
    fw_sim_client *c,
    const Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req, char *err,
    size_t errlen) FW_WUR;

/* POSTs |a| as JSON to |api_url| + "/api/v1/deployments" over HTTP/1.1
 * (api_url like "http://127.0.0.1:8080"). Returns 0 on a 2xx, else FW_ERR_IO
 * with |err| set. */
int fw_sim_announce_deployment(const char *api_url, const fw_sim_announcement *a, char *err,
                               size_t errlen) FW_WUR;

#endif
