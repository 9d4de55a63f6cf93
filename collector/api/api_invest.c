/* api_invest.c - alarm intake (POST /api/v1/alarms, /alarms/alertmanager,
 * /alarms/cloudwatch) and investigations (POST/GET /api/v1/investigations,
 * GET /api/v1/investigations/{id}); SPEC 6 and 6.1. Parses bodies through
 * fw_alarm and jansson under a cap; starts and reads investigations through
 * fw_investigations only (never runs an analysis on the API thread). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/alarm.h"
#include "flywheel/investigations.h"
#include "flywheel/log.h"

/* An investigation request is a few short strings. */
#define API_INVEST_BODY_MAX (64u * 1024u)
#define API_INVEST_LIST_MAX 1000u

static const char *const CT_JSON = "application/json";

void fw_api_set_investigations(fw_api *a, struct fw_investigations *inv)
{
    atomic_store_explicit(&a->investigations, inv, memory_order_release);
}

static fw_investigations *investigations_or_503(fw_api *a, fw_http_response *resp)
{
    fw_investigations *inv = atomic_load_explicit(&a->investigations, memory_order_acquire);
    if (!inv)
        fw__api_respond_error(resp, 503, "investigations are not available");
    return inv;
}

static void respond_overload(fw_http_response *resp)
{
    fw__api_respond_error(resp, 503, "investigation queue full: retry later");
    (void)fw_http_response_header(resp, "retry-after", "%d", 5);
}

static void copy_field(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- alarms ---- */

static int render_started(fw_buf *b, size_t i, const char *id, bool started, const fw_alarm *al)
{
    int rv = fw_buf_append_str(b, i ? ",{\"id\":" : "{\"id\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, id, strlen(id));
    if (!rv)
        rv = fw_buf_printf(b, ",\"started\":%s,\"alarm\":", started ? "true" : "false");
    if (!rv)
        rv = fw_buf_append_json_str(b, al->name, strlen(al->name));
    if (!rv)
        rv = fw_buf_append_str(b, ",\"service\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, al->service, strlen(al->service));
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return rv;
}

static void respond_subscription(const fw_alarm_batch *batch, fw_http_response *resp)
{
    char url[160], topic[160];
    fw_log(FW_LOG_WARN, "alarm",
           "SNS subscription confirmation for topic %s: confirm it by visiting %s",
           fw_log_escape(batch->topic_arn, strlen(batch->topic_arn), 150, topic, sizeof(topic)),
           fw_log_escape(batch->subscribe_url, strlen(batch->subscribe_url), 150, url,
                         sizeof(url)));
    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    int rv = fw_buf_append_str(b, "{\"subscription_confirmation\":true,\"topic_arn\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, batch->topic_arn, strlen(batch->topic_arn));
    if (!rv)
        rv = fw_buf_append_str(b, ",\"subscribe_url\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, batch->subscribe_url, strlen(batch->subscribe_url));
    if (!rv)
        rv = fw_buf_append_str(b, ",\"investigations\":[]}");
    if (rv) {
        fw__api_respond_error(resp, 500, "response does not fit");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}

static void alarms_post(fw_api *a, const fw_http_request *req, fw_http_response *resp,
                        fw_alarm_format fmt)
{
    fw_investigations *inv = investigations_or_503(a, resp);
    if (!inv)
        return;
    fw_alarm_batch *batch = malloc(sizeof(*batch));
    if (!batch) {
        fw__api_respond_error(resp, 503, "out of memory");
        return;
    }
    fw_parse_error perr;
    int rv = fw_alarm_parse(fmt, req->body, req->body_len, fw__api_now_ns(a), batch, &perr);
    if (rv == FW_ERR_UNSUPPORTED) { /* e.g. an SNS UnsubscribeConfirmation: nothing to do */
        fw_buf_reset(&resp->body);
        if (fw_buf_append_str(&resp->body, "{\"investigations\":[]}")) {
            fw__api_respond_error(resp, 500, "response does not fit");
            goto out;
        }
        resp->status = 200;
        resp->content_type = CT_JSON;
        goto out;
    }
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_TOO_LARGE ? 413 : 400, perr.detail);
        goto out;
    }
    if (batch->subscription_confirmation) {
        respond_subscription(batch, resp);
        goto out;
    }

    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    size_t n_out = 0, n_firing = 0, n_refused = 0;
    rv = fw_buf_append_str(b, "{\"investigations\":[");
    for (size_t i = 0; !rv && i < batch->n; i++) {
        const fw_alarm *al = &batch->alarms[i];
        if (al->state != FW_ALARM_FIRING)
            continue;
        n_firing++;
        fw_inv_request r;
        memset(&r, 0, sizeof(r));
        copy_field(r.service, sizeof(r.service), al->service);
        copy_field(r.operation, sizeof(r.operation), al->operation);
        copy_field(r.trigger_kind, sizeof(r.trigger_kind), "alarm");
        copy_field(r.trigger_name, sizeof(r.trigger_name), al->name);
        r.alarm_at_ns = al->at_ns;
        char id[FW_INV_ID_MAX];
        bool started = false;
        int srv = fw_investigations_start(inv, &r, al->dedupe_key, id, &started);
        if (srv) {
            n_refused++;
            continue;
        }
        if (started)
            fw_log(FW_LOG_INFO, "alarm", "alarm from %s started investigation %s",
                   fw_alarm_source_name(al->source), id);
        rv = render_started(b, n_out++, id, started, al);
    }
    if (!rv)
        rv = fw_buf_append_str(b, "]}");
    if (rv) {
        fw__api_respond_error(resp, 500, "response does not fit");
        goto out;
    }
    if (n_refused && n_out == 0) {
        respond_overload(resp);
        goto out;
    }
    resp->status = n_firing ? 202 : 200;
    resp->content_type = CT_JSON;
out:
    free(batch);
}

void fw__api_route_alarms(fw_api *a, const fw_http_request *req, fw_str tail,
                          fw_http_response *resp)
{
    (void)tail;
    alarms_post(a, req, resp, FW_ALARM_FMT_AUTO);
}

void fw__api_route_alarms_alertmanager(fw_api *a, const fw_http_request *req, fw_str tail,
                                       fw_http_response *resp)
{
    (void)tail;
    alarms_post(a, req, resp, FW_ALARM_FMT_ALERTMANAGER);
}

void fw__api_route_alarms_cloudwatch(fw_api *a, const fw_http_request *req, fw_str tail,
                                     fw_http_response *resp)
{
    (void)tail;
    alarms_post(a, req, resp, FW_ALARM_FMT_CLOUDWATCH);
}

/* ---- investigations ---- */

/* An optional bounded string member into |dst|; false after a 400. */
static bool opt_string(const json_t *root, const char *key, char *dst, size_t dstsz,
                       bool required, fw_http_response *resp)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            fw__api_respond_errorf(resp, 400, "%s: missing", key);
        return !required;
    }
    if (!json_is_string(v)) {
        fw__api_respond_errorf(resp, 400, "%s: must be a string", key);
        return false;
    }
    size_t n = json_string_length(v);
    if (n >= dstsz || memchr(json_string_value(v), '\0', n)) {
        fw__api_respond_errorf(resp, 400, "%s: must be at most %zu bytes, without NUL", key,
                               dstsz - 1);
        return false;
    }
    if (required && n == 0) {
        fw__api_respond_errorf(resp, 400, "%s: must not be empty", key);
        return false;
    }
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return true;
}

static bool opt_time(const json_t *root, const char *key, uint64_t *out, fw_http_response *resp)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    char s[64];
    if (json_is_string(v) && json_string_length(v) < sizeof(s)) {
        memcpy(s, json_string_value(v), json_string_length(v) + 1);
        if (fw__api_parse_time_param(s, out) && *out > 0)
            return true;
    }
    fw__api_respond_errorf(resp, 400, "%s: must be an RFC 3339 time or unix nanoseconds", key);
    return false;
}

static void investigations_post(fw_api *a, fw_investigations *inv, const fw_http_request *req,
                                fw_http_response *resp)
{
    (void)a;
    if (req->body_len > API_INVEST_BODY_MAX) {
        fw__api_respond_error(resp, 413, "request body too large");
        return;
    }
    if (!req->body || req->body_len == 0) {
        fw__api_respond_error(resp, 400, "body: expected a JSON object {service, ...}");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES,
                             &jerr);
    if (!json_is_object(root)) {
        if (root)
            fw__api_respond_error(resp, 400, "body: must be a JSON object");
        else
            fw__api_respond_errorf(resp, 400, "body: invalid JSON at line %d column %d: %.80s",
                                   jerr.line, jerr.column, jerr.text);
        json_decref(root);
        return;
    }
    fw_inv_request r;
    memset(&r, 0, sizeof(r));
    bool ok = opt_string(root, "service", r.service, sizeof(r.service), true, resp) &&
              opt_string(root, "operation", r.operation, sizeof(r.operation), false, resp) &&
              opt_string(root, "title", r.title, sizeof(r.title), false, resp) &&
              opt_time(root, "from", &r.from_ns, resp) && opt_time(root, "to", &r.to_ns, resp);
    json_decref(root);
    if (!ok)
        return;
    if (r.from_ns && r.to_ns && r.from_ns >= r.to_ns) {
        fw__api_respond_error(resp, 400, "from: must be earlier than to");
        return;
    }
    copy_field(r.trigger_kind, sizeof(r.trigger_kind), "manual");
    char id[FW_INV_ID_MAX];
    bool started = false;
    int rv = fw_investigations_start(inv, &r, NULL, id, &started);
    if (rv == FW_ERR_OVERLOAD) {
        respond_overload(resp);
        return;
    }
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_INVALID ? 400 : 503,
                              rv == FW_ERR_INVALID ? "invalid investigation request"
                                                   : "cannot store the investigation");
        return;
    }
    fw_buf_reset(&resp->body);
    if (fw_buf_printf(&resp->body, "{\"id\":\"%s\",\"status\":\"running\"}", id)) {
        fw__api_respond_error(resp, 500, "response does not fit");
        return;
    }
    (void)fw_http_response_header(resp, "location", "/api/v1/investigations/%s", id);
    resp->status = 202;
    resp->content_type = CT_JSON;
}

void fw__api_route_investigations(fw_api *a, const fw_http_request *req, fw_str tail,
                                  fw_http_response *resp)
{
    (void)tail;
    fw_investigations *inv = investigations_or_503(a, resp);
    if (!inv)
        return;
    if (req->method == FW_HTTP_POST) {
        investigations_post(a, inv, req, resp);
        return;
    }
    char limit[32];
    uint64_t lim = 100;
    int rv = fw__api_query_param(req, "limit", limit, sizeof(limit));
    if (rv < 0 || (rv == 1 && (!fw__api_parse_decimal(limit, strlen(limit), &lim) || lim < 1 ||
                               lim > API_INVEST_LIST_MAX))) {
        fw__api_respond_error(resp, 400, "limit: must be an integer from 1 to 1000");
        return;
    }
    fw_buf_reset(&resp->body);
    rv = fw_investigations_list_json(inv, (size_t)lim, &resp->body);
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_TOO_LARGE ? 500 : 503,
                              "cannot list the investigations");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}

void fw__api_route_investigation(fw_api *a, const fw_http_request *req, fw_str tail,
                                 fw_http_response *resp)
{
    (void)req;
    fw_investigations *inv = investigations_or_503(a, resp);
    if (!inv)
        return;
    static const char REPORT[] = "/report"; /* SPEC 6.2 (api_report.c) */
    size_t rl = sizeof(REPORT) - 1;
    if (tail.len > rl && memcmp(tail.ptr + tail.len - rl, REPORT, rl) == 0) {
        fw__api_route_investigation_report(a, req, (fw_str){tail.ptr, tail.len - rl}, resp);
        return;
    }
    char id[FW_INV_ID_MAX];
    if (tail.len == 0 || tail.len >= sizeof(id) || memchr(tail.ptr, '/', tail.len) ||
        !fw__api_percent_decode(tail, id, sizeof(id))) {
        fw__api_respond_error(resp, 404, "investigation not found");
        return;
    }
    fw_buf_reset(&resp->body);
    int rv = fw_investigations_get_json(inv, id, &resp->body);
    if (rv == FW_ERR_NOT_FOUND) {
        fw__api_respond_error(resp, 404, "investigation not found");
        return;
    }
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_TOO_LARGE ? 500 : 503,
                              "cannot read the investigation");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}
