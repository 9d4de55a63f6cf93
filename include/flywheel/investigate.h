/* investigate.h - the analysis engine of an investigation (SPEC 6.1): from a
 * scope (service, operation, time range, alarm time) it reads the store,
 * RED, topology, deployments and log patterns, and writes the analysis as
 * JSON: scope (with onset), impact, ranked hypotheses with evidence,
 * monitoring gaps and a timeline. Synchronous and read-only: the caller runs
 * it off the ingest path (a worker thread); it never blocks ingest for
 * longer than the sources' own short query locks. */
#ifndef FLYWHEEL_INVESTIGATE_H
#define FLYWHEEL_INVESTIGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

struct fw_store;
struct fw_red;
struct fw_topo;
struct fw_intern;
struct fw_deploy_store;
struct fw_patterns;
struct fw_throttle_rules;

/* Where the evidence comes from; all borrowed, any may be NULL (the
 * analysis then reports the missing signal as a monitoring gap). */
typedef struct fw_inv_sources {
    struct fw_store *store;
    struct fw_red *red;
    struct fw_topo *topo;
    struct fw_intern *intern;
    struct fw_deploy_store *deploy;
    struct fw_patterns *patterns;
    /* The throttling rule set the pipeline classifies with (configured
     * rules included); NULL = the compiled-in defaults. */
    const struct fw_throttle_rules *throttle_rules;
} fw_inv_sources;

#define FW_INV_NAME_MAX 256

typedef struct fw_inv_request {
    char service[FW_INV_NAME_MAX];   /* required */
    char operation[FW_INV_NAME_MAX]; /* "" = the whole service */
    uint64_t from_ns;     /* 0 = to - 30 min */
    uint64_t to_ns;       /* 0 = alarm time + 5 min, capped at now; or now */
    uint64_t alarm_at_ns; /* 0 = no alarm (manual) */
    char trigger_kind[16];            /* "alarm", "slo" or "manual" */
    char trigger_name[FW_INV_NAME_MAX];
    char title[FW_INV_NAME_MAX];      /* "" = derived */
} fw_inv_request;

/* Runs the analysis and appends ONE JSON object to |out| with the members
 * "scope", "impact", "hypotheses", "monitoring_gaps" and "timeline" exactly
 * as SPEC.md 6.1 shapes them (times RFC 3339 UTC). |now_ns| is the wall
 * clock. Returns 0; FW_ERR_INVALID (bad request: |err| says which field);
 * FW_ERR_NOMEM / FW_ERR_TOO_LARGE (|out| too small). */
FW_WUR int fw_investigate_run(const fw_inv_sources *src, const fw_inv_request *req,
                              uint64_t now_ns, fw_buf *out, char *err, size_t errlen);

#endif
