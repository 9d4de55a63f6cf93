/* semconv.h - what a span or log record means, from OpenTelemetry semantic
 * conventions (SPEC 4), old and new attribute names both understood:
 * fault / client error / throttling verdicts, the dependency a client span
 * calls, the instance it ran on. Pure functions over borrowed records: they
 * never allocate (except building a rule set), never log, keep no state.
 *
 * Throttling is decided by a rule set that is data (SPEC 4): a default set
 * compiled in (throttle_rules.c), extended at runtime from configuration.
 * A built rule set is read-only and may be shared by all workers. */
#ifndef FLYWHEEL_SEMCONV_H
#define FLYWHEEL_SEMCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/model.h"

/* ---- Throttling rules ------------------------------------------------- */

/* Where a rule looks. Bit flags, so one rule may name several fields.
 * Text fields of spans: exception.* from every "exception" event and from
 * span attributes; error.type from span attributes; the status message.
 * Text fields of log records: exception.* and error.type attributes, the
 * body (a string body, or the top-level string values of a map body).
 * Attribute keys are never matched, only values. */
typedef enum fw_throttle_field {
    FW_THROTTLE_F_EXCEPTION_TYPE = 1u << 0,
    FW_THROTTLE_F_EXCEPTION_MESSAGE = 1u << 1,
    FW_THROTTLE_F_LOG_BODY = 1u << 2,
    FW_THROTTLE_F_ERROR_TYPE = 1u << 3,
    FW_THROTTLE_F_STATUS_MESSAGE = 1u << 4,
    FW_THROTTLE_F_ATTRIBUTE = 1u << 5,   /* value of the attribute named by the rule */
    FW_THROTTLE_F_HTTP_STATUS = 1u << 6, /* numeric: pattern is a decimal code */
    FW_THROTTLE_F_GRPC_STATUS = 1u << 7  /* numeric: code, or its name (RESOURCE_EXHAUSTED) */
} fw_throttle_field;

#define FW_THROTTLE_F_TYPES (FW_THROTTLE_F_EXCEPTION_TYPE | FW_THROTTLE_F_ERROR_TYPE)
#define FW_THROTTLE_F_MESSAGES \
    (FW_THROTTLE_F_EXCEPTION_MESSAGE | FW_THROTTLE_F_LOG_BODY | FW_THROTTLE_F_STATUS_MESSAGE)

typedef enum fw_throttle_kind {
    /* ASCII case-insensitive equality with the whole value, or with its
     * last component after '.', ':', '$', '/' or '\\' (so a rule
     * "ThrottlingException" also matches "com.amazonaws.ThrottlingException"
     * and "botocore.errorfactory.ThrottlingException"). */
    FW_THROTTLE_EQUALS = 1,
    /* ASCII case-insensitive substring. */
    FW_THROTTLE_CONTAINS = 2,
    /* Case-insensitive substring that starts a word: at the start, after a
     * non-alphanumeric, or at a camelCase hump ("throttl" matches
     * "Throttling", "RequestThrottled", "throttled"; not "unthrottled"). */
    FW_THROTTLE_WORD = 3
} fw_throttle_kind;

typedef struct fw_throttle_rules fw_throttle_rules;

/* Limits of a rule set (a config file cannot make matching unbounded). */
#define FW_THROTTLE_MAX_RULES   256u
#define FW_THROTTLE_MAX_PATTERN 256u

/* An empty set / the compiled-in default set. Caller frees with
 * fw_throttle_rules_free(). 0 or FW_ERR_NOMEM. */
FW_WUR int fw_throttle_rules_new_empty(fw_throttle_rules **out);
FW_WUR int fw_throttle_rules_new_default(fw_throttle_rules **out);
void fw_throttle_rules_free(fw_throttle_rules *r); /* NULL is a no-op */

/* Adds a rule: values of |fields| matching |pattern| (copied) the |kind|
 * way name throttling. For FW_THROTTLE_F_HTTP_STATUS / _GRPC_STATUS the
 * pattern is a number (gRPC also a code name) and |kind| must be EQUALS;
 * FW_THROTTLE_F_ATTRIBUTE needs fw_throttle_rules_add_attr().
 * Returns 0, FW_ERR_INVALID (empty or bad pattern, bad field or kind;
 * |err_desc| set when non-NULL), FW_ERR_TOO_LARGE (over the limits) or
 * FW_ERR_NOMEM. */
FW_WUR int fw_throttle_rules_add(fw_throttle_rules *r, unsigned fields, fw_throttle_kind kind,
                                 const char *pattern, const char **err_desc);
/* Adds a rule on the value of the attribute |attr_name| (exact key, e.g.
 * "aws.error_code"), looked up in span/log attributes and exception event
 * attributes. Same returns as fw_throttle_rules_add(). */
FW_WUR int fw_throttle_rules_add_attr(fw_throttle_rules *r, const char *attr_name,
                                      fw_throttle_kind kind, const char *pattern,
                                      const char **err_desc);
/* Adds an exclusion: a text value of |fields| matching it is never taken
 * as throttling by any text rule (e.g. "no rate limit" guards the
 * "rate limit" rule against "no rate limit configured"). Numeric rules
 * are not affected. Same returns. */
FW_WUR int fw_throttle_rules_add_unless(fw_throttle_rules *r, unsigned fields,
                                        fw_throttle_kind kind, const char *pattern,
                                        const char **err_desc);
size_t fw_throttle_rules_count(const fw_throttle_rules *r); /* rules + exclusions */

/* Config helpers: "exception.type", "exception.message", "log.body",
 * "error.type", "status.message", "http.status", "grpc.status" -> one
 * field bit; "equals", "contains", "word" -> kind. 0 or FW_ERR_INVALID. */
FW_WUR int fw_throttle_field_parse(fw_str name, fw_throttle_field *out);
FW_WUR int fw_throttle_kind_parse(fw_str name, fw_throttle_kind *out);
const char *fw_throttle_field_name(fw_throttle_field f); /* "?" when unknown */

/* Which rule made a record throttled: for evidence and self-metrics. */
typedef struct fw_throttle_match {
    fw_throttle_field field; /* 0 when not throttled */
    const char *pattern;     /* the rule's pattern; lives as long as the rule set */
    const char *attr_name;   /* FW_THROTTLE_F_ATTRIBUTE only, else NULL */
    fw_str value;            /* the matched value, borrowed from the record;
                                FW_STR_NULL for numeric fields */
} fw_throttle_match;

/* ---- Spans ------------------------------------------------------------ */

/* Type of the (possibly uninstrumented) dependency a client span calls. */
typedef enum fw_dep_type {
    FW_DEP_NONE = 0, /* not a CLIENT/PRODUCER span, or nothing names the callee */
    FW_DEP_DATABASE,
    FW_DEP_CACHE,
    FW_DEP_MESSAGING,
    FW_DEP_MODEL,
    FW_DEP_EXTERNAL
} fw_dep_type;

const char *fw_dep_type_name(fw_dep_type t); /* "database", ..., "none" */

typedef struct fw_span_class {
    /* Attributes, new name first then old; FW_STR_NULL / -1 when absent.
     * Every slice is borrowed from the span (its arena or store copy). */
    int32_t http_status;          /* http.response.status_code | http.status_code (int or string) */
    fw_str http_method;           /* http.request.method | http.method */
    fw_str http_route;            /* http.route */
    int64_t retry_after_s;        /* http.response.header.retry-after (delta seconds) | -1 */
    fw_str rpc_system;            /* rpc.system.name | rpc.system */
    fw_str rpc_service;           /* rpc.service */
    fw_str rpc_method;            /* rpc.method */
    int32_t grpc_status;          /* rpc.grpc.status_code | rpc.response.status_code |
                                     rpc.status_code (number or code name); -1 */
    fw_str db_system;             /* db.system.name | db.system */
    fw_str db_operation;          /* db.operation.name | db.operation */
    fw_str messaging_system;      /* messaging.system */
    fw_str messaging_destination; /* messaging.destination.name | messaging.destination */
    fw_str peer_service;          /* peer.service */
    fw_str server_address;        /* server.address | net.peer.name | host of url.full/http.url */
    fw_str gen_ai_system;         /* gen_ai.provider.name | gen_ai.system */
    fw_str error_type;            /* error.type */
    fw_str exception_type;        /* first "exception" event, else span attributes */
    fw_str exception_message;
    fw_str instance; /* resource k8s.pod.name | host.name | container.id */

    /* Verdicts (SPEC 4, 5). The most specific signal decides:
     *  1. HTTP status: 5xx -> fault; 4xx -> client error (429 also throttled);
     *  2. else a non-OK gRPC code, by the table in semconv.c:
     *     fault: UNKNOWN 2, DEADLINE_EXCEEDED 4, UNIMPLEMENTED 12, INTERNAL 13,
     *            UNAVAILABLE 14, DATA_LOSS 15;
     *     client error: INVALID_ARGUMENT 3, NOT_FOUND 5, ALREADY_EXISTS 6,
     *            PERMISSION_DENIED 7, RESOURCE_EXHAUSTED 8, FAILED_PRECONDITION 9,
     *            ABORTED 10, OUT_OF_RANGE 11, UNAUTHENTICATED 16;
     *     neither: CANCELLED 1 (the caller gave up);
     *  3. else status ERROR -> fault.
     * The verdicts hold for every kind. Who owns them is the caller's
     * choice of series: on SERVER/CONSUMER/INTERNAL spans a fault is the
     * service's own; on CLIENT/PRODUCER spans it is a failed call, counted
     * on the edge / dependency (its fault), and a client error there is the
     * caller's mistake. Throttling is independent of the other two. */
    bool is_fault;
    bool is_client_error;
    bool is_throttled;
    fw_throttle_match throttle;

    /* CLIENT/PRODUCER spans only: the callee, by preference peer.service;
     * rpc.service of AWS SDK spans (rpc.system aws-api: "DynamoDB");
     * db.system; rpc.service; gen_ai system; messaging.system;
     * server.address (host only). FW_STR_NULL and FW_DEP_NONE otherwise. */
    fw_str dep_name;
    fw_dep_type dep_type;
} fw_span_class;

/* Classifies |s| into |out| (fully overwritten). |rules| may be NULL: then
 * nothing is throttled (even 429 and RESOURCE_EXHAUSTED are rules, from the
 * default set). Never fails; O(attributes + rules x text length). */
void fw_semconv_span_classify(const fw_span *s, const fw_throttle_rules *rules, fw_span_class *out);

/* The broker node name of a messaging span: "<system>/<destination>", or
 * "<system>" without destination, truncated to fit |outsz| (>= 1), NUL-
 * terminated. Returns the length written (0 when |system| is empty). */
size_t fw_semconv_broker_name(fw_str system, fw_str destination, char *out, size_t outsz);

/* gRPC status code from its name ("RESOURCE_EXHAUSTED", case-insensitive)
 * or decimal text; -1 when neither. */
int fw_semconv_grpc_code_parse(fw_str s);

/* ---- Log records ------------------------------------------------------ */

typedef struct fw_log_class {
    /* severity_number >= 17 (ERROR..FATAL4); when 0 (unset), severity_text
     * starting with "err", "fatal", "crit", "alert" or "emerg". */
    bool is_error;
    bool is_throttled;
    fw_throttle_match throttle;
    int32_t http_status;      /* as for spans, from record attributes; -1 */
    fw_str exception_type;    /* exception.type attribute */
    fw_str exception_message; /* exception.message attribute */
    fw_str error_type;        /* error.type attribute */
    fw_str instance;          /* as for spans */
} fw_log_class;

void fw_semconv_log_classify(const fw_log_record *r, const fw_throttle_rules *rules,
                             fw_log_class *out);

#endif
