/* otlp_internal.h - private seams of the OTLP module: the protobuf and JSON
 * front ends both produce protobuf-c request structs in the request arena,
 * and one converter (otlp_model.c) validates them into the model.
 * Nothing here crosses the module boundary. */
#ifndef FLYWHEEL_OTLP_INTERNAL_H
#define FLYWHEEL_OTLP_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include "flywheel/arena.h"
#include "flywheel/error.h"
#include "flywheel/model.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "opentelemetry/proto/common/v1/common.pb-c.h"
#include "opentelemetry/proto/logs/v1/logs.pb-c.h"
#include "opentelemetry/proto/resource/v1/resource.pb-c.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"

/* Short names for the generated types. */
typedef Opentelemetry__Proto__Common__V1__AnyValue fw_pb_any_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue fw_pb_key_value;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope fw_pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource fw_pb_resource;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans fw_pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans fw_pb_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span fw_pb_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event fw_pb_span_event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link fw_pb_span_link;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs fw_pb_resource_logs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs fw_pb_scope_logs;
typedef Opentelemetry__Proto__Logs__V1__LogRecord fw_pb_log_record;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest fw_pb_trace_request;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest fw_pb_logs_request;

#define FW_OTLP_TRACE_REQUEST_DESC \
    (&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor)
#define FW_OTLP_LOGS_REQUEST_DESC \
    (&opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor)

/* Parse-error reasons (static, they become metric labels). */
#define FW_OTLP_REASON_PB "malformed_protobuf"
#define FW_OTLP_REASON_JSON "malformed_json"
#define FW_OTLP_REASON_NOMEM "decode_memory_exhausted"

/* Unpacks |n| bytes of protobuf into a message of type |desc| allocated in
 * |arena| (never freed singly: the arena dies with the request). Checks wire
 * types, lengths and nesting depth before protobuf-c sees the bytes.
 * 0, FW_ERR_INVALID (|err| set) or FW_ERR_NOMEM. */
FW_WUR int fw__otlp_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                              fw_arena *arena, ProtobufCMessage **out, fw_parse_error *err);

/* The wire-structure pre-scan of fw__otlp_pb_unpack alone: 0 or
 * FW_ERR_INVALID with |err| set (same errors as fw__otlp_pb_unpack). */
FW_WUR int fw__otlp_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                             fw_parse_error *err);

/* fw__otlp_wire_traces declines a request it cannot decode exactly like
 * protobuf-c + the converter (a singular field given twice): the caller
 * then takes that general path. Positive, never an FW_ERR_* code. */
#define FW__OTLP_WIRE_FALLBACK 1

/* Decodes an ExportTraceServiceRequest that fw__otlp_pb_check accepted
 * straight into the model (otlp_wire.c). |out| must be zeroed. 0,
 * FW_ERR_INVALID / FW_ERR_NOMEM (|err| set) or FW__OTLP_WIRE_FALLBACK. */
FW_WUR int fw__otlp_wire_traces(const uint8_t *p, size_t n, fw_arena *arena, fw_span_batch *out,
                                fw_parse_error *err);

/* Fills a resource's service_name, service_version, service_namespace and
 * environment from its attributes (otlp_model.c). */
void fw__otlp_resource_names(fw_resource *r);

/* Parses OTLP/JSON text into a message of type |desc| in |arena| using the
 * descriptor (lowerCamelCase or snake_case keys, hex ids, base64 bytes,
 * 64-bit integers as numbers or strings, unknown keys ignored).
 * 0, FW_ERR_INVALID (|err| set) or FW_ERR_NOMEM. */
FW_WUR int fw__otlp_json_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                                fw_arena *arena, ProtobufCMessage **out, fw_parse_error *err);

/* Sets |err| like fw_parse_error_set, then replaces control and non-ASCII
 * bytes of the detail by '?', so input echoed in it is always safe. */
void fw__otlp_error(fw_parse_error *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
