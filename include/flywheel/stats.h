/* stats.h - ingest self-metrics: accepted/rejected spans and log records
 * per protocol and reason, bytes and requests. Counters are relaxed
 * atomics so every worker can bump them without a lock. Also the
 * Prometheus text helpers every module's exporter uses. */
#ifndef FLYWHEEL_STATS_H
#define FLYWHEEL_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include "flywheel/buf.h"

typedef enum fw_protocol {
    FW_PROTO_GRPC = 0,
    FW_PROTO_HTTP_PROTOBUF = 1,
    FW_PROTO_HTTP_JSON = 2,
    FW_PROTO__COUNT
} fw_protocol;

/* Why telemetry was refused: a bounded label set. */
typedef enum fw_reject_reason {
    FW_REJECT_MALFORMED = 0,    /* payload does not decode */
    FW_REJECT_INVALID_ID,       /* partial success: bad trace/span id */
    FW_REJECT_TOO_OLD,          /* partial success: older than retention */
    FW_REJECT_TOO_LARGE,        /* body or message over the limit */
    FW_REJECT_UNSUPPORTED,      /* media type or content encoding */
    FW_REJECT_OVERLOAD,         /* queue/memory full: retryable answer */
    FW_REJECT_UNAUTHENTICATED,
    FW_REJECT__COUNT
} fw_reject_reason;

typedef enum fw_signal { FW_SIGNAL_TRACES = 0, FW_SIGNAL_LOGS = 1, FW_SIGNAL__COUNT } fw_signal;

typedef struct fw_stats {
    _Atomic uint64_t accepted[FW_SIGNAL__COUNT][FW_PROTO__COUNT];  /* records */
    _Atomic uint64_t rejected[FW_SIGNAL__COUNT][FW_PROTO__COUNT][FW_REJECT__COUNT]; /* records */
    _Atomic uint64_t requests[FW_SIGNAL__COUNT][FW_PROTO__COUNT];
    /* Requests refused whole (records uncountable, e.g. malformed). */
    _Atomic uint64_t requests_rejected[FW_SIGNAL__COUNT][FW_PROTO__COUNT][FW_REJECT__COUNT];
    _Atomic uint64_t received_bytes[FW_PROTO__COUNT]; /* wire bytes, before decompression */
} fw_stats;

void fw_stats_init(fw_stats *s);
static inline void fw_stats_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
static inline uint64_t fw_stats_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}
const char *fw_protocol_name(fw_protocol p);       /* "grpc", "http_protobuf", "http_json" */
const char *fw_reject_reason_name(fw_reject_reason r); /* "malformed", ... */

/* Appends the self-metrics in Prometheus text format 0.0.4
 * (flywheel_spans_accepted_total{protocol=...}, ..._rejected_total{protocol,reason},
 * flywheel_log_records_*, flywheel_received_bytes_total, flywheel_requests_total). */
int fw_stats_render(const fw_stats *s, fw_buf *out);

/* Prometheus helpers: "# HELP"/"# TYPE" header, and a label value escaped
 * per the exposition format (backslash, quote, newline). */
int fw_prom_header(fw_buf *out, const char *name, const char *type, const char *help);
int fw_prom_label_value(fw_buf *out, const char *v, size_t n);

#endif
