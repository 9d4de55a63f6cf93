/* ingest.h - the OTLP endpoints: gRPC TraceService/LogsService/
 * MetricsService Export and HTTP POST /v1/traces, /v1/logs. Maps a
 * request to decode -> pipeline -> response, with the status codes of
 * SPEC.md 3.1 and the OTLP specification. Owns no sockets. */
#ifndef FLYWHEEL_INGEST_H
#define FLYWHEEL_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"
#include "flywheel/http.h"
#include "flywheel/pipeline.h"
#include "flywheel/stats.h"

typedef struct fw_ingest fw_ingest;

typedef struct fw_ingest_config {
    size_t http_max_body;     /* decompressed OTLP/HTTP body limit (413 beyond) */
    size_t grpc_max_msg;      /* decompressed gRPC message limit (RESOURCE_EXHAUSTED) */
    unsigned retry_after_s;   /* Retry-After / RetryInfo on overload */
    /* Added: bearer token both listeners demand (fw_auth_check); NULL or
     * "" = open. Copied by fw_ingest_new. */
    const char *auth_token;
    /* Write-ahead log (borrowed, optional): a decoded request is appended
     * before the pipeline hand-off and acknowledged only once written; a
     * failed append is answered 503/UNAVAILABLE. */
    struct fw_wal *wal;
    /* Shared in-flight memory budget (borrowed, optional): the cores
     * reserve the bodies they buffer, the ingest adds the inflated copy
     * and the decode arena; a request that would pass it while others hold
     * memory is refused as overload (503 + Retry-After / UNAVAILABLE +
     * RetryInfo); a lone request is always admitted. NULL = unlimited. */
    struct fw_membudget *budget;
} fw_ingest_config;

/* Borrows |pipeline| and |stats|. */
FW_WUR int fw_ingest_new(const fw_ingest_config *cfg, fw_pipeline *pipeline, fw_stats *stats,
                         fw_ingest **out);
void fw_ingest_free(fw_ingest *in);
/* Handlers for the otlp-grpc and otlp-http listeners (ctx = the ingest). */
fw_http_handler fw_ingest_grpc_handler(fw_ingest *in);
fw_http_handler fw_ingest_http_handler(fw_ingest *in);

struct fw_wal_record;
/* Start-up replay of one write-ahead log record through the same decode +
 * pipeline path as a live request (not logged again), at the record's
 * arrival time. Returns 0, or the decode/pipeline error (the caller
 * counts it and goes on). */
FW_WUR int fw_ingest_replay(fw_ingest *in, const struct fw_wal_record *rec);

#endif
