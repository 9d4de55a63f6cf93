/* api.c - the API listener's application: /healthz, /readyz, /metrics,
 * routing, traces by id and log search, and the JSON helpers the other API
 * files share; shapes fixed by docs/API.md. Reads the store and the stats;
 * never writes telemetry, never calls the store from inside a store visitor
 * (they run under a partition lock), and never builds a body past the
 * response's bound. */
#include "flywheel/api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "flywheel/auth.h"
#include "flywheel/deploy.h"
#include "flywheel/limits.h"
#include "flywheel/model.h"
#include "flywheel/patterns.h"
#include "flywheel/membudget.h"
#include "flywheel/wal.h"

/* Largest body the API builds; lists past it are cut ("truncated": true). */
#define API_RESP_MAX_DEFAULT (16u * 1024u * 1024u)
/* Log search: docs/API.md. */
#define API_LOGS_LIMIT_DEFAULT 100u
#define API_LOGS_LIMIT_MAX 10000u

static const char *const CT_JSON = "application/json";
static const char *const CT_PROM = "text/plain; version=0.0.4; charset=utf-8";

/* ---- response helpers ---- */

static void respond_json_msg(fw_http_response *resp, int status, const char *key,
                             const char *msg)
{
    fw_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = CT_JSON;
    int rv = fw_buf_append(&resp->body, "{\"", 2);
    if (!rv)
        rv = fw_buf_append_str(&resp->body, key);
    if (!rv)
        rv = fw_buf_append(&resp->body, "\":", 2);
    if (!rv)
        rv = fw_buf_append_json_str(&resp->body, msg, strlen(msg));
    if (!rv)
        rv = fw_buf_append(&resp->body, "}", 1);
    if (rv)
        fw_buf_reset(&resp->body); /* body limit below a one-line error: status only */
}

void fw__api_respond_error(fw_http_response *resp, int status, const char *msg)
{
    respond_json_msg(resp, status, "error", msg);
}

void fw__api_respond_errorf(fw_http_response *resp, int status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    respond_json_msg(resp, status, "error", msg);
}

/* ---- JSON pieces ---- */

int fw__api_append_fw_str(fw_buf *b, fw_str s)
{
    return fw_buf_append_json_str(b, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

int fw__api_append_id(fw_buf *b, const uint8_t *id, size_t n)
{
    char hex[2 * FW_TRACE_ID_LEN + 1];
    fw_hex_encode(id, n, hex);
    int rv = fw_buf_append(b, "\"", 1);
    if (!rv)
        rv = fw_buf_append(b, hex, 2 * n);
    if (!rv)
        rv = fw_buf_append(b, "\"", 1);
    return rv;
}

/* RFC 3339 UTC with nanoseconds: 2026-12-01T03:04:05.123456789Z. */
int fw__api_format_rfc3339(uint64_t ns, char *out, size_t outsz)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return FW_ERR_INVALID;
    int n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(ns % 1000000000u));
    return (n > 0 && (size_t)n < outsz) ? 0 : FW_ERR_INVALID;
}

/* "key":"RFC3339","key_unix_nano":"N"; with |null_when_zero|, 0 gives "key":null. */
int fw__api_append_time(fw_buf *b, const char *key, uint64_t ns, bool null_when_zero)
{
    char ts[64];
    int rv = fw_buf_printf(b, "\"%s\":", key);
    if (!rv && null_when_zero && ns == 0) {
        rv = fw_buf_append_str(b, "null");
    } else if (!rv) {
        rv = fw__api_format_rfc3339(ns, ts, sizeof(ts));
        if (!rv)
            rv = fw_buf_printf(b, "\"%s\"", ts);
    }
    if (!rv)
        rv = fw_buf_printf(b, ",\"%s_unix_nano\":\"%llu\"", key, (unsigned long long)ns);
    return rv;
}

/* Exact decimal milliseconds from nanoseconds ("1.0", "0.0015"). */
int fw__api_append_duration_ms(fw_buf *b, uint64_t start, uint64_t end)
{
    uint64_t d = end > start ? end - start : 0;
    char frac[8];
    int n = snprintf(frac, sizeof(frac), "%06u", (unsigned)(d % 1000000u));
    if (n != 6)
        return FW_ERR_INVALID;
    while (n > 1 && frac[n - 1] == '0')
        frac[--n] = '\0';
    return fw_buf_printf(b, "%llu.%s", (unsigned long long)(d / 1000000u), frac);
}

int fw__api_append_number(fw_buf *b, double v)
{
    if (!isfinite(v))
        return fw_buf_append(b, "0", 1);
    if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: exact integer */
        return fw_buf_printf(b, "%.0f", v);
    char num[40];
    int n = snprintf(num, sizeof(num), "%.15g", v);
    if (n <= 0 || (size_t)n >= sizeof(num) || strtod(num, NULL) != v)
        n = snprintf(num, sizeof(num), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(num))
        return FW_ERR_INVALID;
    return fw_buf_append(b, num, (size_t)n);
}

const char *fw__api_span_kind_name(fw_span_kind k)
{
    static const char *const names[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unspecified";
}

static const char *status_code_name(fw_status_code c)
{
    switch (c) {
    case FW_STATUS_OK:
        return "ok";
    case FW_STATUS_ERROR:
        return "error";
    default:
        return "unset";
    }
}

static int render_span(fw_buf *b, const fw_span *sp)
{
    int rv = fw_buf_append_str(b, "{\"trace_id\":");
    if (!rv)
        rv = fw__api_append_id(b, sp->trace_id, FW_TRACE_ID_LEN);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"span_id\":");
    if (!rv)
        rv = fw__api_append_id(b, sp->span_id, FW_SPAN_ID_LEN);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"parent_span_id\":");
    if (!rv)
        rv = sp->has_parent ? fw__api_append_id(b, sp->parent_span_id, FW_SPAN_ID_LEN)
                            : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_append_str(b, ",\"trace_state\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->trace_state);
    if (!rv)
        rv = fw_buf_printf(b, ",\"flags\":%u,\"name\":", (unsigned)sp->flags);
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->name);
    if (!rv)
        rv = fw_buf_printf(b, ",\"kind\":\"%s\",", fw__api_span_kind_name(sp->kind));
    if (!rv)
        rv = fw__api_append_time(b, "start_time", sp->start_ns, false);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "end_time", sp->end_ns, false);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"duration_ms\":");
    if (!rv)
        rv = fw__api_append_duration_ms(b, sp->start_ns, sp->end_ns);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"service\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->resource->service_name);
    if (!rv)
        rv = fw_buf_printf(b, ",\"status\":{\"code\":\"%s\",\"message\":",
                           status_code_name(sp->status_code));
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->status_message);
    if (!rv)
        rv = fw_buf_append_str(b, "},\"attributes\":");
    if (!rv)
        rv = fw_attrs_to_json(&sp->attrs, b);
    if (!rv)
        rv = fw_buf_printf(b, ",\"dropped_attributes_count\":%u,\"events\":[",
                           (unsigned)sp->dropped_attributes_count);
    for (size_t i = 0; !rv && i < sp->n_events; i++) {
        const fw_span_event *ev = &sp->events[i];
        rv = fw_buf_append_str(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rv)
            rv = fw__api_append_fw_str(b, ev->name);
        if (!rv)
            rv = fw_buf_append(b, ",", 1);
        if (!rv)
            rv = fw__api_append_time(b, "time", ev->time_ns, false);
        if (!rv)
            rv = fw_buf_append_str(b, ",\"attributes\":");
        if (!rv)
            rv = fw_attrs_to_json(&ev->attrs, b);
        if (!rv)
            rv = fw_buf_printf(b, ",\"dropped_attributes_count\":%u}",
                               (unsigned)ev->dropped_attributes_count);
    }
    if (!rv)
        rv = fw_buf_printf(b, "],\"dropped_events_count\":%u,\"links\":[",
                           (unsigned)sp->dropped_events_count);
    for (size_t i = 0; !rv && i < sp->n_links; i++) {
        const fw_span_link *ln = &sp->links[i];
        rv = fw_buf_append_str(b, i ? ",{\"trace_id\":" : "{\"trace_id\":");
        if (!rv)
            rv = fw__api_append_id(b, ln->trace_id, FW_TRACE_ID_LEN);
        if (!rv)
            rv = fw_buf_append_str(b, ",\"span_id\":");
        if (!rv)
            rv = fw__api_append_id(b, ln->span_id, FW_SPAN_ID_LEN);
        if (!rv)
            rv = fw_buf_append_str(b, ",\"trace_state\":");
        if (!rv)
            rv = fw__api_append_fw_str(b, ln->trace_state);
        if (!rv)
            rv = fw_buf_printf(b, ",\"flags\":%u,\"attributes\":", (unsigned)ln->flags);
        if (!rv)
            rv = fw_attrs_to_json(&ln->attrs, b);
        if (!rv)
            rv = fw_buf_printf(b, ",\"dropped_attributes_count\":%u}",
                               (unsigned)ln->dropped_attributes_count);
    }
    if (!rv)
        rv = fw_buf_printf(b, "],\"dropped_links_count\":%u,\"resource\":{\"attributes\":",
                           (unsigned)sp->dropped_links_count);
    if (!rv)
        rv = fw_attrs_to_json(&sp->resource->attrs, b);
    if (!rv)
        rv = fw_buf_printf(b, ",\"dropped_attributes_count\":%u,\"schema_url\":",
                           (unsigned)sp->resource->dropped_attributes_count);
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->resource->schema_url);
    if (!rv)
        rv = fw_buf_append_str(b, "},\"scope\":{\"name\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->scope->name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"version\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, sp->scope->version);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"attributes\":");
    if (!rv)
        rv = fw_attrs_to_json(&sp->scope->attrs, b);
    if (!rv)
        rv = fw_buf_append_str(b, "}}");
    return rv;
}

static int render_log(fw_buf *b, const fw_log_record *r)
{
    int rv = fw_buf_append(b, "{", 1);
    if (!rv)
        rv = fw__api_append_time(b, "time", r->time_ns, true);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "observed_time", r->observed_time_ns, true);
    if (!rv)
        rv = fw_buf_printf(b, ",\"severity_number\":%d,\"severity_text\":",
                           (int)r->severity_number);
    if (!rv)
        rv = fw__api_append_fw_str(b, r->severity_text);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"body\":");
    if (!rv)
        rv = fw_value_to_json(&r->body, b);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"attributes\":");
    if (!rv)
        rv = fw_attrs_to_json(&r->attrs, b);
    if (!rv)
        rv = fw_buf_printf(b, ",\"dropped_attributes_count\":%u,\"trace_id\":",
                           (unsigned)r->dropped_attributes_count);
    bool has_trace = r->has_trace_id && !fw_id_is_zero(r->trace_id, FW_TRACE_ID_LEN);
    bool has_span = r->has_span_id && !fw_id_is_zero(r->span_id, FW_SPAN_ID_LEN);
    if (!rv)
        rv = has_trace ? fw__api_append_id(b, r->trace_id, FW_TRACE_ID_LEN) : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_append_str(b, ",\"span_id\":");
    if (!rv)
        rv = has_span ? fw__api_append_id(b, r->span_id, FW_SPAN_ID_LEN) : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_printf(b, ",\"flags\":%u,\"event_name\":", (unsigned)r->flags);
    if (!rv)
        rv = fw__api_append_fw_str(b, r->event_name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"service\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, r->resource->service_name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"resource\":{\"attributes\":");
    if (!rv)
        rv = fw_attrs_to_json(&r->resource->attrs, b);
    if (!rv)
        rv = fw_buf_append_str(b, "},\"scope\":{\"name\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, r->scope->name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"version\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, r->scope->version);
    if (!rv)
        rv = fw_buf_append_str(b, "}}");
    return rv;
}

/* ---- input parsing ---- */

bool fw__api_parse_decimal(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10u)
            return false;
        v = v * 10u + d;
    }
    *out = v;
    return true;
}

static bool fixed_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* RFC 3339 date-time (Z or +hh:mm/-hh:mm, optional fraction of any length,
 * nanoseconds kept) to unix nanoseconds; false when invalid or before 1970. */
static bool parse_rfc3339(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    int y, mo, d, h, mi, sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return false;
    if (!fixed_digits(s, 4, &y) || !fixed_digits(s + 5, 2, &mo) || !fixed_digits(s + 8, 2, &d) ||
        !fixed_digits(s + 11, 2, &h) || !fixed_digits(s + 14, 2, &mi) ||
        !fixed_digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    size_t i = 19;
    uint64_t frac = 0;
    if (s[i] == '.') {
        uint64_t scale = 100000000u;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (uint64_t)(s[i] - '0') * scale;
            scale /= 10u;
        }
    }
    int64_t offset = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        offset = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!fixed_digits(s + i + 1, 2, &oh) || !fixed_digits(s + i + 4, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset = (int64_t)oh * 3600 + om * 60;
        if (s[i] == '-')
            offset = -offset;
    } else {
        return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    if (secs < 0 || (uint64_t)secs > (UINT64_MAX - frac) / 1000000000u)
        return false;
    *out = (uint64_t)secs * 1000000000u + frac;
    return true;
}

/* "from"/"to": RFC 3339 or unix nanoseconds. */
bool fw__api_parse_time_param(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (fw__api_parse_decimal(s, n, out))
        return true;
    return parse_rfc3339(s, out);
}

/* A query parameter into |out|; 1 present (non-empty), 0 absent, <0 too long. */
int fw__api_query_param(const fw_http_request *req, const char *name, char *out, size_t outsz)
{
    int rv = fw_http_query_param(req->query, name, out, outsz);
    if (rv < 0)
        return rv;
    return rv == 1 && out[0] != '\0';
}

static bool parse_trace_id(const char *s, size_t n, uint8_t id[FW_TRACE_ID_LEN])
{
    return n == 2 * FW_TRACE_ID_LEN && fw_hex_decode(s, n, id, FW_TRACE_ID_LEN) == 0;
}

/* ---- routes ---- */

static void route_healthz(fw_api *a, const fw_http_request *req, fw_str tail,
                          fw_http_response *resp)
{
    (void)a, (void)req, (void)tail;
    respond_json_msg(resp, 200, "status", "ok");
}

static void route_readyz(fw_api *a, const fw_http_request *req, fw_str tail,
                         fw_http_response *resp)
{
    (void)req, (void)tail;
    if (atomic_load_explicit(&a->ready, memory_order_acquire))
        respond_json_msg(resp, 200, "status", "ok");
    else
        respond_json_msg(resp, 503, "status", "starting");
}

static int metric(fw_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    int rv = fw_prom_header(b, name, type, help);
    if (!rv)
        rv = fw_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
    return rv;
}

int fw__api_metric_rows(fw_buf *b, const fw__api_metric_row *rows, size_t n)
{
    int rv = 0;
    for (size_t i = 0; i < n && !rv; i++)
        rv = metric(b, rows[i].name, rows[i].type, rows[i].help, rows[i].value);
    return rv;
}

/* The deployment store's families; nothing without a store. */
static int render_deploy_metrics(fw_api *a, fw_buf *b)
{
    fw_deploy_store *ds = atomic_load_explicit(&a->deploy, memory_order_acquire);
    if (!ds)
        return 0;
    fw_deploy_stats st;
    fw_deploy_get_stats(ds, &st);
    const fw__api_metric_row rows[] = {
        {"flywheel_deployments_services", "gauge",
         "Services tracked for deployment inference.", st.services},
        {"flywheel_deployments_versions", "gauge",
         "Known service versions held for deployment inference.", st.versions},
        {"flywheel_deployments_recorded_total", "counter",
         "Deployments recorded through POST /api/v1/deployments.", st.recorded},
        {"flywheel_deployments_inferred_total", "counter",
         "Deployments inferred from a new service.version in telemetry.", st.inferred},
        {"flywheel_deployments_services_refused_total", "counter",
         "Version observations refused over the tracked-services cap.", st.services_refused},
        {"flywheel_deployments_versions_evicted_total", "counter",
         "Known versions forgotten over the per-service versions cap.", st.versions_evicted},
        {"flywheel_deployments_ignored_total", "counter",
         "Version observations ignored (over-long or NUL-holding strings).", st.ignored},
        {"flywheel_deployments_write_errors_total", "counter",
         "Deployment database writes that failed.", st.write_errors},
    };
    return fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
}

/* The log pattern miner's families; nothing without a miner. */
static int render_patterns_metrics(fw_api *a, fw_buf *b)
{
    fw_patterns *pm = atomic_load_explicit(&a->patterns, memory_order_acquire);
    if (!pm)
        return 0;
    fw_patterns_stats st;
    fw_patterns_get_stats(pm, &st);
    const fw__api_metric_row rows[] = {
        {"flywheel_log_patterns_lines_total", "counter",
         "Log lines mined into a pattern, overflow included.", st.lines},
        {"flywheel_log_patterns_ignored_total", "counter",
         "Empty or blank log bodies not mined.", st.ignored},
        {"flywheel_log_patterns_truncated_total", "counter",
         "Log lines cut at the line length or token limit before mining.", st.truncated},
        {"flywheel_log_patterns_overflow_total", "counter",
         "Log lines counted in a service's <other> pattern.", st.overflow},
        {"flywheel_log_patterns_dropped_total", "counter",
         "Log lines not counted (service cap or memory limit).", st.dropped},
        {"flywheel_log_patterns_expired_total", "counter",
         "Patterns dropped after the retention without an occurrence.", st.expired},
        {"flywheel_log_patterns_services", "gauge", "Services with log patterns held.",
         st.services},
        {"flywheel_log_patterns_held", "gauge",
         "Log patterns held, overflow patterns included.", st.patterns},
        {"flywheel_log_patterns_memory_used_bytes", "gauge",
         "Bytes held by the log pattern miner.", st.memory_used},
    };
    return fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
}

void fw_api_set_wal(fw_api *a, struct fw_wal *wal)
{
    atomic_store_explicit(&a->wal, wal, memory_order_release);
}

static int render_wal_metrics(fw_api *a, fw_buf *b)
{
    fw_wal *wal = atomic_load_explicit(&a->wal, memory_order_acquire);
    if (!wal) return 0;
    fw_wal_stats st;
    fw_wal_stats_get(wal, &st);
    const fw__api_metric_row rows[] = {
        {"flywheel_wal_bytes", "gauge", "Bytes in write-ahead log segments on disk.", st.bytes},
        {"flywheel_wal_segments", "gauge", "Write-ahead log segment files on disk.", st.segments},
        {"flywheel_wal_records_total", "counter", "Requests appended to the write-ahead log.",
         st.records},
        {"flywheel_wal_replayed_records_total", "counter",
         "Write-ahead log records replayed at start.", st.replayed_records},
        {"flywheel_wal_corrupt_total", "counter",
         "Torn or corrupt write-ahead log tails and segments found (and repaired) at start.",
         st.corrupt},
        {"flywheel_wal_syncs_total", "counter",
         "Write-ahead log fsyncs (group commits, rotations, interval flushes).", st.syncs},
        {"flywheel_wal_write_errors_total", "counter",
         "Write-ahead log writes or fsyncs that failed (telemetry refused with 503).",
         st.write_errors},
    };
    return fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
}

void fw_api_set_inflight(fw_api *a, const struct fw_membudget *budget)
{
    atomic_store_explicit(&a->inflight, budget, memory_order_release);
}

static int render_inflight_metrics(fw_api *a, fw_buf *b)
{
    const fw_membudget *m = atomic_load_explicit(&a->inflight, memory_order_acquire);
    if (!m) return 0;
    const fw__api_metric_row rows[] = {
        {"flywheel_inflight_bytes", "gauge",
         "Memory held by OTLP requests in flight (buffered bodies, inflated copies, decode "
         "arenas).",
         fw_membudget_used(m)},
        {"flywheel_inflight_peak_bytes", "gauge", "Most memory requests in flight ever held at once.",
         fw_membudget_peak(m)},
        {"flywheel_inflight_limit_bytes", "gauge",
         "Budget of requests in flight (storage.inflight_memory); 0 = unlimited.", m->limit},
        {"flywheel_inflight_refused_total", "counter",
         "Reservations refused by the in-flight budget (answered 503 / UNAVAILABLE).",
         fw_membudget_refused(m)},
    };
    return fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
}

static int render_auth_metrics(fw_api *a, fw_buf *b)
{
    static const char *const access[2] = {"read", "write"};
    int rv = fw_prom_header(b, "flywheel_api_requests_unauthenticated_total", "counter",
                            "API requests refused for a missing or wrong bearer token.");
    for (size_t i = 0; !rv && i < 2; i++)
        rv = fw_buf_printf(b, "flywheel_api_requests_unauthenticated_total{access=\"%s\"} %llu\n",
                           access[i], (unsigned long long)fw_stats_get(&a->unauthenticated[i]));
    return rv;
}

static void route_metrics(fw_api *a, const fw_http_request *req, fw_str tail,
                          fw_http_response *resp)
{
    (void)req, (void)tail;
    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    int rv = fw_stats_render(a->stats, b);

    fw_store_stats ss;
    fw_store_get_stats(a->store, &ss);
    const fw__api_metric_row store_rows[] = {
        {"flywheel_memory_used_bytes", "gauge", "Bytes of telemetry copies held by the store.",
         ss.memory_used},
        {"flywheel_evicted_spans_total", "counter",
         "Spans evicted from the store to stay within its limits.", ss.spans_evicted},
        {"flywheel_evicted_log_records_total", "counter",
         "Log records evicted from the store to stay within its limits.", ss.logs_evicted},
        {"flywheel_store_spans", "gauge", "Spans held by the store.", ss.spans_held},
        {"flywheel_store_log_records", "gauge", "Log records held by the store.", ss.logs_held},
    };
    if (!rv)
        rv = fw__api_metric_rows(b, store_rows, sizeof store_rows / sizeof store_rows[0]);

    const fw_server *srv = atomic_load_explicit(&a->server, memory_order_acquire);
    if (srv && !rv) {
        fw_server_stats ns;
        fw_server_get_stats(srv, &ns);
        const fw__api_metric_row server_rows[] = {
            {"flywheel_connections_accepted_total", "counter",
             "Connections accepted on all listeners.", ns.connections_accepted},
            {"flywheel_connections_active", "gauge", "Connections open now.",
             ns.connections_active},
            {"flywheel_connections_rejected_total", "counter",
             "Connections refused over the connection limit.", ns.connections_rejected},
            {"flywheel_tls_handshake_failures_total", "counter", "TLS handshakes that failed.",
             ns.tls_handshake_failures},
            {"flywheel_protocol_errors_total", "counter",
             "HTTP/1.1 parse errors and HTTP/2 session errors.", ns.protocol_errors},
            {"flywheel_connection_timeouts_total", "counter",
             "Connections closed for idleness or a slow request header.", ns.timeouts},
        };
        rv = fw__api_metric_rows(b, server_rows, sizeof server_rows / sizeof server_rows[0]);
    }
    if (!rv)
        rv = fw__api_render_analytics_metrics(a, b);
    if (!rv)
        rv = render_deploy_metrics(a, b);
    if (!rv)
        rv = render_patterns_metrics(a, b);
    if (!rv)
        rv = render_auth_metrics(a, b);
    if (!rv)
        rv = render_wal_metrics(a, b);
    if (!rv)
        rv = render_inflight_metrics(a, b);
    if (rv) {
        fw__api_respond_error(resp, 500, "metrics do not fit the response limit");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_PROM;
}

/* Trace: spans are rendered inside the visitor (under the partition lock)
 * into |pieces|, then ordered by start time outside the lock. */
typedef struct trace_piece {
    uint64_t start_ns;
    size_t arrival;
    size_t off;
    size_t len;
} trace_piece;

typedef struct trace_render {
    fw_buf pieces;
    trace_piece *items;
    size_t n;
    size_t cap;
    bool truncated;
    int err;
} trace_render;

static int visit_trace_span(void *ctx, const fw_span *sp)
{
    trace_render *tr = ctx;
    if (tr->n == tr->cap) {
        size_t ncap = tr->cap ? tr->cap * 2u : 64u;
        trace_piece *ni = realloc(tr->items, ncap * sizeof(*ni));
        if (!ni) {
            tr->err = FW_ERR_NOMEM;
            return 1;
        }
        tr->items = ni;
        tr->cap = ncap;
    }
    size_t off = tr->pieces.len;
    int rv = render_span(&tr->pieces, sp);
    if (rv) {
        tr->pieces.len = off;
        if (rv == FW_ERR_TOO_LARGE)
            tr->truncated = true;
        else
            tr->err = rv;
        return 1;
    }
    tr->items[tr->n] = (trace_piece){sp->start_ns, tr->n, off, tr->pieces.len - off};
    tr->n++;
    return 0;
}

static int piece_cmp(const void *pa, const void *pb)
{
    const trace_piece *a = pa, *b = pb;
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    return a->arrival < b->arrival ? -1 : (a->arrival > b->arrival);
}

static void route_trace(fw_api *a, const fw_http_request *req, fw_str tail,
                        fw_http_response *resp)
{
    (void)req;
    uint8_t id[FW_TRACE_ID_LEN];
    if (memchr(tail.ptr, '/', tail.len)) {
        fw__api_respond_error(resp, 404, "not found");
        return;
    }
    if (!parse_trace_id(tail.ptr, tail.len, id)) {
        fw__api_respond_error(resp, 400, "trace_id: must be 32 hex digits");
        return;
    }

    fw_buf *b = &resp->body;
    trace_render tr = {0};
    fw_buf_init(&tr.pieces, b->max);
    fw_store_get_trace(a->store, id, visit_trace_span, &tr);
    if (tr.err) {
        fw__api_respond_error(resp, 503, "out of memory rendering the trace");
        goto out;
    }
    if (tr.n == 0 && !tr.truncated) {
        fw__api_respond_error(resp, 404, "trace not found");
        goto out;
    }
    qsort(tr.items, tr.n, sizeof(*tr.items), piece_cmp);

    fw_buf_reset(b);
    int rv = fw_buf_append_str(b, "{\"trace_id\":");
    if (!rv)
        rv = fw__api_append_id(b, id, FW_TRACE_ID_LEN);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"spans\":[");
    for (size_t i = 0; !rv && i < tr.n; i++) {
        size_t need = tr.items[i].len + (i ? 1u : 0u);
        if (b->len + need + API_LIST_TAIL_RESERVE > b->max) {
            tr.truncated = true;
            break;
        }
        if (i)
            rv = fw_buf_append(b, ",", 1);
        if (!rv)
            rv = fw_buf_append(b, tr.pieces.data + tr.items[i].off, tr.items[i].len);
    }
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", tr.truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_TOO_LARGE ? 500 : 503,
                      "trace does not fit the response limit");
        goto out;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
out:
    fw_buf_free(&tr.pieces);
    free(tr.items);
}

/* Logs arrive newest first; each is rendered straight into the body. */
typedef struct logs_render {
    fw_buf *body;
    size_t soft_max; /* leave room for the closing */
    size_t n;
    bool truncated;
    int err;
} logs_render;

static int visit_log(void *ctx, const fw_log_record *rec)
{
    logs_render *lr = ctx;
    size_t mark = lr->body->len;
    int rv = lr->n ? fw_buf_append(lr->body, ",", 1) : 0;
    if (!rv)
        rv = render_log(lr->body, rec);
    if (!rv && lr->body->len > lr->soft_max)
        rv = FW_ERR_TOO_LARGE;
    if (rv) {
        lr->body->len = mark;
        if (rv == FW_ERR_TOO_LARGE)
            lr->truncated = true;
        else
            lr->err = rv;
        return 1;
    }
    lr->n++;
    return 0;
}

static void route_logs(fw_api *a, const fw_http_request *req, fw_str tail,
                       fw_http_response *resp)
{
    (void)tail;
    fw_log_query q = {.limit = API_LOGS_LIMIT_DEFAULT};
    char trace_id[2 * FW_TRACE_ID_LEN + 2];
    char service[512];
    char from[64], to[64], limit[32];

    int rv = fw__api_query_param(req, "trace_id", trace_id, sizeof(trace_id));
    if (rv < 0 || (rv == 1 && !parse_trace_id(trace_id, strlen(trace_id), q.trace_id))) {
        fw__api_respond_error(resp, 400, "trace_id: must be 32 hex digits");
        return;
    }
    q.has_trace_id = rv == 1;

    rv = fw__api_query_param(req, "service", service, sizeof(service));
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "service: too long");
        return;
    }
    if (rv == 1)
        q.service = service;

    rv = fw__api_query_param(req, "from", from, sizeof(from));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(from, &q.from_ns))) {
        fw__api_respond_error(resp, 400, "from: must be an RFC 3339 time or unix nanoseconds");
        return;
    }
    rv = fw__api_query_param(req, "to", to, sizeof(to));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(to, &q.to_ns))) {
        fw__api_respond_error(resp, 400, "to: must be an RFC 3339 time or unix nanoseconds");
        return;
    }
    if (q.from_ns && q.to_ns && q.from_ns > q.to_ns) {
        fw__api_respond_error(resp, 400, "from: must not be later than to");
        return;
    }
    rv = fw__api_query_param(req, "limit", limit, sizeof(limit));
    if (rv == 1) {
        uint64_t v = 0;
        if (!fw__api_parse_decimal(limit, strlen(limit), &v) || v < 1 || v > API_LOGS_LIMIT_MAX)
            rv = -1;
        q.limit = (size_t)v;
    }
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "limit: must be an integer from 1 to 10000");
        return;
    }
    char text[257]; /* q= (api_patterns.c) */
    if (!fw__api_parse_log_filters(req, resp, &q, text, sizeof(text)))
        return;

    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    if (b->max < API_LIST_TAIL_RESERVE * 2u) {
        fw__api_respond_error(resp, 500, "response limit too small");
        return;
    }
    logs_render lr = {b, b->max - API_LIST_TAIL_RESERVE, 0, false, 0};
    rv = fw_buf_append_str(b, "{\"logs\":[");
    if (!rv)
        fw_store_find_logs(a->store, &q, visit_log, &lr);
    if (!rv && lr.err)
        rv = lr.err;
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", lr.truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, 503, "out of memory rendering the logs");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}

/* ---- dispatch ---- */

#define M(m) (1u << (m))
#define GET_HEAD (M(FW_HTTP_GET) | M(FW_HTTP_HEAD))

typedef void (*api_route_fn)(fw_api *a, const fw_http_request *req, fw_str tail,
                             fw_http_response *resp);

typedef struct api_route {
    const char *path; /* exact path, or a prefix when |prefix| (the rest is |tail|) */
    bool prefix;
    unsigned methods; /* bit per fw_http_method */
    const char *allow;
    api_route_fn fn;
} api_route;

static const api_route api_routes[] = {
    {"/healthz", false, GET_HEAD, "GET, HEAD", route_healthz},
    {"/readyz", false, GET_HEAD, "GET, HEAD", route_readyz},
    {"/metrics", false, GET_HEAD, "GET, HEAD", route_metrics},
    {"/api/v1/traces/", true, GET_HEAD, "GET, HEAD", route_trace},
    {"/api/v1/traces", false, GET_HEAD, "GET, HEAD", fw__api_route_trace_search},
    {"/api/v1/logs", false, GET_HEAD, "GET, HEAD", route_logs},
    {"/api/v1/logs/patterns", false, GET_HEAD, "GET, HEAD", fw__api_route_log_patterns},
    {"/api/v1/services", false, GET_HEAD, "GET, HEAD", fw__api_route_services},
    {"/api/v1/services/", true, GET_HEAD, "GET, HEAD", fw__api_route_service_sub},
    {"/api/v1/topology", false, GET_HEAD, "GET, HEAD", fw__api_route_topology},
    {"/api/v1/red", false, GET_HEAD, "GET, HEAD", fw__api_route_red},
    {"/api/v1/deployments", false, GET_HEAD | M(FW_HTTP_POST), "GET, HEAD, POST",
     fw__api_route_deployments},
    {"/api/v1/alarms", false, M(FW_HTTP_POST), "POST", fw__api_route_alarms},
    {"/api/v1/alarms/alertmanager", false, M(FW_HTTP_POST), "POST",
     fw__api_route_alarms_alertmanager},
    {"/api/v1/alarms/cloudwatch", false, M(FW_HTTP_POST), "POST",
     fw__api_route_alarms_cloudwatch},
    {"/api/v1/investigations", false, GET_HEAD | M(FW_HTTP_POST), "GET, HEAD, POST",
     fw__api_route_investigations},
    {"/api/v1/investigations/", true, GET_HEAD, "GET, HEAD", fw__api_route_investigation},
    {"/api/v1/slos", false, GET_HEAD | M(FW_HTTP_POST), "GET, HEAD, POST", fw__api_route_slos},
    {"/api/v1/slos/", true, GET_HEAD | M(FW_HTTP_DELETE), "GET, HEAD, DELETE", fw__api_route_slo},
};

static const api_route *route_find(fw_str path, fw_str *tail)
{
    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
        const api_route *r = &api_routes[i];
        size_t n = strlen(r->path);
        if (r->prefix ? (path.len >= n && memcmp(path.ptr, r->path, n) == 0)
                      : (path.len == n && memcmp(path.ptr, r->path, n) == 0)) {
            *tail = (fw_str){path.ptr + n, path.len - n};
            return r;
        }
    }
    return NULL;
}

/* Bearer-token gate, before routing so an unauthenticated client learns
 * nothing about the routes: /healthz and /readyz are always open; GET and
 * HEAD need the read token, every other method the write token. */
static bool api_authorized(fw_api *a, const fw_http_request *req)
{
    if (fw_str_eq(req->path, "/healthz") || fw_str_eq(req->path, "/readyz"))
        return true;
    bool read = req->method == FW_HTTP_GET || req->method == FW_HTTP_HEAD;
    if (fw_auth_check(fw_str_from(read ? a->read_token : a->write_token), req->authorization))
        return true;
    fw_stats_add(&a->unauthenticated[read ? 0 : 1], 1);
    return false;
}

static void api_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    fw_api *a = ctx;
    if (!api_authorized(a, req)) {
        fw__api_respond_error(resp, 401, "missing or invalid bearer token");
        (void)fw_http_response_header(resp, "www-authenticate", "Bearer");
        return;
    }
    fw_str tail = FW_STR_NULL;
    const api_route *r = req->path.ptr ? route_find(req->path, &tail) : NULL;
    if (!r) {
        fw__api_respond_error(resp, 404, "not found");
        return;
    }
    if ((unsigned)req->method >= 32u || !(r->methods & M(req->method))) {
        fw__api_respond_error(resp, 405, "method not allowed");
        (void)fw_http_response_header(resp, "allow", "%s", r->allow);
        return;
    }
    if (req->body_too_large) {
        fw__api_respond_error(resp, 413, "request body too large");
        return;
    }
    r->fn(a, req, tail, resp);
}

/* ---- lifecycle ---- */

int fw_api_new(const fw_api_config *cfg, fw_store *store, fw_stats *stats, fw_api **out)
{
    *out = NULL;
    if (!store || !stats)
        return FW_ERR_CONFIG;
    fw_api *a = calloc(1, sizeof(*a));
    if (!a)
        return FW_ERR_NOMEM;
    if (cfg)
        a->cfg = *cfg;
    if (a->cfg.max_body == 0)
        a->cfg.max_body = FW_LIMIT_API_BODY_DEFAULT;
    if (a->cfg.retention_ns == 0)
        a->cfg.retention_ns = API_RETENTION_DEFAULT_NS;
    a->cfg.read_token = a->cfg.write_token = NULL; /* owned copies below */
    const char *rt = cfg ? cfg->read_token : NULL, *wt = cfg ? cfg->write_token : NULL;
    if ((rt && rt[0] && !(a->read_token = strdup(rt))) ||
        (wt && wt[0] && !(a->write_token = strdup(wt)))) {
        fw_api_free(a);
        return FW_ERR_NOMEM;
    }
    a->cfg.read_token = a->read_token;
    a->cfg.write_token = a->write_token;
    atomic_init(&a->unauthenticated[0], 0);
    atomic_init(&a->unauthenticated[1], 0);
    a->store = store;
    a->stats = stats;
    atomic_init(&a->server, NULL);
    atomic_init(&a->ready, false);
    atomic_init(&a->red, NULL);
    atomic_init(&a->topo, NULL);
    atomic_init(&a->intern, NULL);
    *out = a;
    return 0;
}

void fw_api_free(fw_api *a)
{
    if (!a)
        return;
    free(a->read_token);
    free(a->write_token);
    free(a);
}

void fw_api_set_server(fw_api *a, const fw_server *server)
{
    atomic_store_explicit(&a->server, server, memory_order_release);
}

void fw_api_set_analytics(fw_api *a, struct fw_red *red, struct fw_topo *topo,
                          struct fw_intern *intern)
{
    atomic_store_explicit(&a->intern, intern, memory_order_release);
    atomic_store_explicit(&a->red, red, memory_order_release);
    atomic_store_explicit(&a->topo, topo, memory_order_release);
}

uint64_t fw__api_now_ns(const fw_api *a)
{
    if (a->cfg.clock_ns)
        return a->cfg.clock_ns(a->cfg.clock_ctx);
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fw_api_set_ready(fw_api *a, bool ready)
{
    atomic_store_explicit(&a->ready, ready, memory_order_release);
}

fw_http_handler fw_api_handler(fw_api *a)
{
    return (fw_http_handler){
        .handle = api_handle,
        .ctx = a,
        .max_body = a->cfg.max_body,
        .max_resp_body = API_RESP_MAX_DEFAULT,
    };
}
