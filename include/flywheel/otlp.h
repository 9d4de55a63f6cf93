/* otlp.h - OTLP/protobuf and OTLP/JSON decoding into the model, and the
 * OTLP responses and google.rpc.Status encodings. Sans-I/O: bytes in,
 * model records out; every allocation comes from the caller's arena. */
#ifndef FLYWHEEL_OTLP_H
#define FLYWHEEL_OTLP_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/arena.h"
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/model.h"

typedef enum fw_otlp_encoding {
    FW_OTLP_PROTOBUF = 0, /* application/x-protobuf, and gRPC */
    FW_OTLP_JSON = 1      /* application/json, OTLP/JSON mapping */
} fw_otlp_encoding;

/* Decodes an ExportTraceServiceRequest. On 0, |out| holds the valid spans
 * (borrowed from |arena|) and counts the rejected ones (bad or zero ids)
 * with the first reason (OTLP partial success). Returns FW_ERR_INVALID for
 * a malformed payload (|err| says what and where), FW_ERR_NOMEM when the
 * arena cap was hit (the caller answers 413 / RESOURCE_EXHAUSTED). */
FW_WUR int fw_otlp_decode_traces(fw_otlp_encoding enc, const uint8_t *p, size_t n, fw_arena *arena,
                                 fw_span_batch *out, fw_parse_error *err);
/* Same for ExportLogsServiceRequest. */
FW_WUR int fw_otlp_decode_logs(fw_otlp_encoding enc, const uint8_t *p, size_t n, fw_arena *arena,
                               fw_log_batch *out, fw_parse_error *err);

/* Appends an Export{Trace,Logs}ServiceResponse to |out|; partial_success is
 * set when |rejected| > 0 or |error_message| is non-NULL. */
FW_WUR int fw_otlp_encode_traces_response(fw_otlp_encoding enc, uint64_t rejected,
                                          const char *error_message, fw_buf *out);
FW_WUR int fw_otlp_encode_logs_response(fw_otlp_encoding enc, uint64_t rejected,
                                        const char *error_message, fw_buf *out);
/* Appends a google.rpc.Status{code, message, details} to |out|; when
 * |retry_delay_s| >= 0 the details hold one google.rpc.RetryInfo. */
FW_WUR int fw_otlp_encode_status(fw_otlp_encoding enc, int32_t code, const char *message,
                                 int retry_delay_s, fw_buf *out);

#endif
