/* model.h - flywheel's internal model of spans and log records.
 * Both OTLP decoders (protobuf and JSON) produce these; the pipeline takes
 * them. Records produced by a decoder are BORROWED: every pointer and slice
 * lives in the request's arena and dies with it. Whatever must outlive the
 * request is copied at the pipeline hand-off (fw_pipeline_*), nowhere else. */
#ifndef FLYWHEEL_MODEL_H
#define FLYWHEEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"

#define FW_TRACE_ID_LEN 16
#define FW_SPAN_ID_LEN 8

/* OTLP AnyValue. */
typedef enum fw_value_type {
    FW_VALUE_EMPTY = 0,
    FW_VALUE_STRING,
    FW_VALUE_BOOL,
    FW_VALUE_INT,
    FW_VALUE_DOUBLE,
    FW_VALUE_BYTES,
    FW_VALUE_ARRAY,
    FW_VALUE_KVLIST
} fw_value_type;

struct fw_attr;

typedef struct fw_value {
    fw_value_type type;
    union {
        fw_str str;   /* STRING (UTF-8, not NUL-terminated) and BYTES (raw) */
        bool boolean; /* BOOL */
        int64_t i64;  /* INT */
        double f64;   /* DOUBLE */
        struct {
            struct fw_value *items;
            size_t n;
        } array; /* ARRAY */
        struct {
            struct fw_attr *items;
            size_t n;
        } kvlist; /* KVLIST */
    } u;
} fw_value;

typedef struct fw_attr {
    fw_str key;
    fw_value value;
} fw_attr;

typedef struct fw_attrs {
    fw_attr *items;
    size_t n;
} fw_attrs;

/* Lookups return NULL when absent. */
const fw_value *fw_attrs_get(const fw_attrs *a, const char *key);
/* String value of |key| or FW_STR_NULL (also when not a string). */
fw_str fw_attrs_get_str(const fw_attrs *a, const char *key);
/* Integer value of |key| (INT, or a STRING holding a decimal) into |out|;
 * returns 1 when found. */
int fw_attrs_get_int(const fw_attrs *a, const char *key, int64_t *out);

/* Resource: shared by all spans/logs of one ResourceSpans/ResourceLogs. */
typedef struct fw_resource {
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
    fw_str schema_url;
    /* Resolved once at decode time from attrs (FW_STR_NULL when absent;
     * service_name falls back to "unknown_service" per the OTel spec). */
    fw_str service_name;
    fw_str service_version;
    fw_str service_namespace;
    fw_str environment; /* deployment.environment.name or deployment.environment */
} fw_resource;

typedef struct fw_scope {
    fw_str name;
    fw_str version;
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
    fw_str schema_url;
} fw_scope;

typedef enum fw_span_kind {
    FW_SPAN_KIND_UNSPECIFIED = 0,
    FW_SPAN_KIND_INTERNAL = 1,
    FW_SPAN_KIND_SERVER = 2,
    FW_SPAN_KIND_CLIENT = 3,
    FW_SPAN_KIND_PRODUCER = 4,
    FW_SPAN_KIND_CONSUMER = 5
} fw_span_kind;

typedef enum fw_status_code {
    FW_STATUS_UNSET = 0,
    FW_STATUS_OK = 1,
    FW_STATUS_ERROR = 2
} fw_status_code;

typedef struct fw_span_event {
    uint64_t time_ns;
    fw_str name;
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
} fw_span_event;

typedef struct fw_span_link {
    uint8_t trace_id[FW_TRACE_ID_LEN];
    uint8_t span_id[FW_SPAN_ID_LEN];
    fw_str trace_state;
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
    uint32_t flags;
} fw_span_link;

typedef struct fw_span {
    uint8_t trace_id[FW_TRACE_ID_LEN];
    uint8_t span_id[FW_SPAN_ID_LEN];
    uint8_t parent_span_id[FW_SPAN_ID_LEN]; /* all zero when root */
    bool has_parent;
    uint32_t flags;
    fw_str trace_state;
    fw_str name;
    fw_span_kind kind;
    uint64_t start_ns; /* unix epoch nanoseconds, event time */
    uint64_t end_ns;
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
    fw_span_event *events;
    size_t n_events;
    uint32_t dropped_events_count;
    fw_span_link *links;
    size_t n_links;
    uint32_t dropped_links_count;
    fw_status_code status_code;
    fw_str status_message;
    const fw_resource *resource; /* never NULL */
    const fw_scope *scope;       /* never NULL */
} fw_span;

typedef struct fw_log_record {
    uint64_t time_ns;          /* 0 when unset */
    uint64_t observed_time_ns; /* 0 when unset */
    int32_t severity_number;   /* 0..24 */
    fw_str severity_text;
    fw_value body;
    fw_attrs attrs;
    uint32_t dropped_attributes_count;
    uint32_t flags;
    uint8_t trace_id[FW_TRACE_ID_LEN]; /* all zero when absent */
    uint8_t span_id[FW_SPAN_ID_LEN];   /* all zero when absent */
    bool has_trace_id;
    bool has_span_id;
    fw_str event_name;
    const fw_resource *resource; /* never NULL */
    const fw_scope *scope;       /* never NULL */
} fw_log_record;

/* A decoded export request, flattened. Rejected records are not in the
 * arrays; they are counted with the first reason (OTLP: partial success). */
typedef struct fw_span_batch {
    fw_span *spans;
    size_t n;
    size_t rejected;
    const char *reject_reason; /* static string; NULL when rejected == 0 */
    /* Replayed from the write-ahead log at start: the process that accepted
     * these counted them; the pipeline does not count them again. */
    bool replay;
} fw_span_batch;

typedef struct fw_log_batch {
    fw_log_record *records;
    size_t n;
    size_t rejected;
    const char *reject_reason;
    bool replay; /* as fw_span_batch.replay */
} fw_log_batch;

/* Lowercase hex of |n| bytes into |out| (2n+1 bytes, NUL-terminated). */
void fw_hex_encode(const uint8_t *p, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into |out|; 0 or FW_ERR_INVALID. */
int fw_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);
bool fw_id_is_zero(const uint8_t *p, size_t n);

/* Renders a value as JSON: strings as JSON strings, bytes as base64 string,
 * ints as numbers, arrays/kvlists as JSON arrays/objects. */
int fw_value_to_json(const fw_value *v, fw_buf *out);
/* Renders attrs as a JSON object {"key": value, ...}. */
int fw_attrs_to_json(const fw_attrs *a, fw_buf *out);

#endif
