/* api_internal.h - what the API's files share: the fw_api struct, the JSON
 * and parameter helpers of api.c and api_params.c, and the routes that
 * live in api_analytics.c and api_search.c. Never included outside
 * collector/api. */
#ifndef FLYWHEEL_API_INTERNAL_H
#define FLYWHEEL_API_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "flywheel/api.h"
#include "flywheel/intern.h"
#include "flywheel/model.h"
#include "flywheel/red.h"
#include "flywheel/topo.h"

/* Room kept for the closing of a list body: `],"truncated":false}`. */
#define API_LIST_TAIL_RESERVE 32u
/* Default and largest window of the summary endpoints (SPEC 6). */
#define API_WINDOW_DEFAULT_NS (15ull * 60ull * 1000000000ull)
#define API_RETENTION_DEFAULT_NS (2ull * 3600ull * 1000000000ull)

struct fw_api {
    fw_api_config cfg;
    fw_store *store;                   /* borrowed */
    fw_stats *stats;                   /* borrowed */
    _Atomic(const fw_server *) server; /* borrowed, may be NULL */
    atomic_bool ready;
    /* Borrowed analytics (fw_api_set_analytics); each may be NULL. */
    _Atomic(fw_red *) red;
    _Atomic(fw_topo *) topo;
    _Atomic(fw_intern *) intern;
    /* Borrowed deployment store (fw_api_set_deployments); may be NULL
     * (zeroed by calloc): the deployments endpoints then answer 503. */
    _Atomic(struct fw_deploy_store *) deploy;
    /* Borrowed log pattern miner (fw_api_set_patterns, api_patterns.c);
     * may be NULL (zeroed by calloc): /api/v1/logs/patterns answers 503. */
    _Atomic(struct fw_patterns *) patterns;
    /* Borrowed investigations (fw_api_set_investigations, api_invest.c);
     * may be NULL (zeroed by calloc): alarms and investigations answer 503. */
    _Atomic(struct fw_investigations *) investigations;
    /* Borrowed SLO store (fw_api_set_slos, api_slo.c); may be NULL: the
     * SLO endpoints then answer 503. */
    _Atomic(struct fw_slos *) slos;
    /* Borrowed write-ahead log (fw_api_set_wal); NULL: no flywheel_wal_*. */
    _Atomic(struct fw_wal *) wal;
    /* Borrowed in-flight memory budget (fw_api_set_inflight); NULL: no
     * flywheel_inflight_*. */
    _Atomic(const struct fw_membudget *) inflight;
    /* Bearer tokens (owned copies; NULL = open) and the requests refused
     * for a missing or wrong one, [0] read, [1] write (api.c). */
    char *read_token;
    char *write_token;
    _Atomic uint64_t unauthenticated[2];
};

/* The analytics of one request, loaded once. */
typedef struct api_analytics {
    fw_red *red;
    fw_topo *topo;
    fw_intern *intern;
} api_analytics;

/* ---- responses and JSON pieces (api.c) ---- */
/* One self-metric (gauge or counter) of a table rendered by
 * fw__api_metric_rows: HELP/TYPE lines then "name value" (api.c). */
typedef struct fw__api_metric_row {
    const char *name;
    const char *type; /* "gauge" or "counter" */
    const char *help;
    uint64_t value;
} fw__api_metric_row;
int fw__api_metric_rows(fw_buf *b, const fw__api_metric_row *rows, size_t n);

void fw__api_respond_error(fw_http_response *resp, int status, const char *msg);
void fw__api_respond_errorf(fw_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fw__api_append_fw_str(fw_buf *b, fw_str s);
int fw__api_append_id(fw_buf *b, const uint8_t *id, size_t n);
int fw__api_format_rfc3339(uint64_t ns, char *out, size_t outsz);
/* "key":"RFC3339","key_unix_nano":"N"; with |null_when_zero|, 0 gives "key":null. */
int fw__api_append_time(fw_buf *b, const char *key, uint64_t ns, bool null_when_zero);
/* Exact decimal milliseconds between two nanosecond times ("1.5"). */
int fw__api_append_duration_ms(fw_buf *b, uint64_t start, uint64_t end);
const char *fw__api_span_kind_name(fw_span_kind k);
/* A JSON number: integers without a fraction, others with up to 15
 * significant digits (17 when needed to read back the same double);
 * non-finite values as 0. */
int fw__api_append_number(fw_buf *b, double v);

/* ---- parameters (api.c, api_params.c) ---- */
bool fw__api_parse_decimal(const char *s, size_t n, uint64_t *out);
/* RFC 3339 or unix nanoseconds. */
bool fw__api_parse_time_param(const char *s, uint64_t *out);
/* A query parameter into |out|; 1 present (non-empty), 0 absent, <0 too long. */
int fw__api_query_param(const fw_http_request *req, const char *name, char *out, size_t outsz);
/* "30s", "15m", "1h", "1d" or plain seconds into nanoseconds; false when
 * malformed, zero or overflowing. */
bool fw__api_parse_duration(const char *s, uint64_t *out_ns);
uint64_t fw__api_now_ns(const fw_api *a);
/* Percent-decodes a path segment into |out| (NUL-terminated); false when
 * an escape is malformed, it decodes to a NUL, or it does not fit. */
bool fw__api_percent_decode(fw_str in, char *out, size_t outsz);

/* A time range from `window=` or `from=`/`to=` (SPEC 6). */
typedef struct api_range {
    uint64_t from_ns;
    uint64_t to_ns; /* > from_ns */
} api_range;
/* Parses window/from/to of |req| into |out|. Returns true, or false after
 * answering 400 on |resp| naming the parameter. */
bool fw__api_parse_range(const fw_api *a, const fw_http_request *req, fw_http_response *resp,
                         api_range *out);

/* ---- routes ---- */
void fw__api_route_services(fw_api *a, const fw_http_request *req, fw_str tail,
                            fw_http_response *resp);
void fw__api_route_service_sub(fw_api *a, const fw_http_request *req, fw_str tail,
                               fw_http_response *resp);
void fw__api_route_topology(fw_api *a, const fw_http_request *req, fw_str tail,
                            fw_http_response *resp);
void fw__api_route_red(fw_api *a, const fw_http_request *req, fw_str tail,
                       fw_http_response *resp);
void fw__api_route_trace_search(fw_api *a, const fw_http_request *req, fw_str tail,
                                fw_http_response *resp);
/* GET and POST /api/v1/deployments (api_deploy.c). */
void fw__api_route_deployments(fw_api *a, const fw_http_request *req, fw_str tail,
                               fw_http_response *resp);
/* GET /api/v1/logs/patterns (api_patterns.c). */
void fw__api_route_log_patterns(fw_api *a, const fw_http_request *req, fw_str tail,
                                fw_http_response *resp);
/* The severity= and q= filters of GET /api/v1/logs into |q| (q->text points
 * into |text|, |textsz| bytes). Returns true, or false after answering 400
 * on |resp| naming the parameter (api_patterns.c). */
bool fw__api_parse_log_filters(const fw_http_request *req, fw_http_response *resp,
                               fw_log_query *q, char *text, size_t textsz);
/* /api/v1/slos (GET, POST) and /api/v1/slos/{id} (GET, DELETE) (api_slo.c). */
void fw__api_route_slos(fw_api *a, const fw_http_request *req, fw_str tail,
                        fw_http_response *resp);
void fw__api_route_slo(fw_api *a, const fw_http_request *req, fw_str tail,
                       fw_http_response *resp);
/* POST /api/v1/alarms{,/alertmanager,/cloudwatch}, POST/GET
 * /api/v1/investigations and GET /api/v1/investigations/{id} (api_invest.c). */
void fw__api_route_alarms(fw_api *a, const fw_http_request *req, fw_str tail,
                          fw_http_response *resp);
void fw__api_route_alarms_alertmanager(fw_api *a, const fw_http_request *req, fw_str tail,
                                       fw_http_response *resp);
void fw__api_route_alarms_cloudwatch(fw_api *a, const fw_http_request *req, fw_str tail,
                                     fw_http_response *resp);
void fw__api_route_investigations(fw_api *a, const fw_http_request *req, fw_str tail,
                                  fw_http_response *resp);
void fw__api_route_investigation(fw_api *a, const fw_http_request *req, fw_str tail,
                                 fw_http_response *resp);
/* GET /api/v1/investigations/{id}/report (api_report.c); |id_seg| is the
 * still percent-encoded {id} segment. Reached through
 * fw__api_route_investigation, which hands it the /report suffix. */
void fw__api_route_investigation_report(fw_api *a, const fw_http_request *req, fw_str id_seg,
                                        fw_http_response *resp);
/* Appends the RED, topology and dictionary families to /metrics. */
int fw__api_render_analytics_metrics(fw_api *a, fw_buf *b);

#endif
