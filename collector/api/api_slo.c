/* api_slo.c - POST/GET /api/v1/slos, GET/DELETE /api/v1/slos/{id} (SPEC 6;
 * shapes in docs/API.md): SLO definitions with their status evaluated at
 * the API's clock. Parses untrusted JSON with jansson under a body cap;
 * stores and evaluates through fw_slo only (never touches SQLite or RED). */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/slo.h"

/* A definition is a few short strings and numbers. */
#define API_SLO_BODY_MAX (16u * 1024u)

static const char *const CT_JSON = "application/json";

void fw_api_set_slos(fw_api *a, struct fw_slos *slos)
{
    atomic_store_explicit(&a->slos, slos, memory_order_release);
}

/* ---- rendering ---- */

static int append_key_number(fw_buf *b, const char *key, double v)
{
    int rv = fw_buf_printf(b, "\"%s\":", key);
    if (!rv) rv = fw__api_append_number(b, v);
    return rv;
}

static int render_status(fw_buf *b, const fw_slo_def *d, const fw_slo_status *st)
{
    static const char *const burn_names[FW_SLO_BURN_WINDOWS] = {"5m", "30m", "1h", "6h"};
    int rv = fw_buf_printf(b, "{\"status\":\"%s\",\"attainment\":", fw_slo_state_name(st->state));
    if (!rv)
        rv = st->requests > 0 ? fw__api_append_number(b, st->attainment)
                              : fw_buf_append_str(b, "null");
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "target", d->target);
    if (!rv) rv = fw_buf_append_str(b, ",\"error_budget\":{");
    if (!rv) rv = append_key_number(b, "total", st->budget_total);
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "consumed", st->budget_consumed);
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "remaining", st->budget_remaining);
    if (!rv) rv = fw_buf_append_str(b, "},\"burn_rates\":{");
    for (unsigned i = 0; !rv && i < FW_SLO_BURN_WINDOWS; i++) {
        if (i) rv = fw_buf_append_str(b, ",");
        if (!rv) rv = append_key_number(b, burn_names[i], st->burn_rates[i]);
    }
    if (!rv)
        rv = fw_buf_printf(b, "},\"alerting\":%s,\"alert_rule\":\"%s\",",
                           st->alerting ? "true" : "false", fw_slo_alert_rule_name(st->rule));
    if (!rv) rv = fw__api_append_time(b, "alerting_since", st->alerting_since_ns, true);
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "requests", st->requests);
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "bad_requests", st->bad_requests);
    if (!rv)
        rv = fw_buf_printf(b,
                           ",\"window_seconds\":%llu,\"data_seconds\":%llu,"
                           "\"window_exceeds_retention\":%s",
                           (unsigned long long)(st->window_ns / 1000000000ull),
                           (unsigned long long)(st->data_ns / 1000000000ull),
                           st->window_exceeds_retention ? "true" : "false");
    if (!rv && st->window_exceeds_retention)
        rv = fw_buf_append_str(b, ",\"note\":\"the window is longer than the data retained: "
                                  "the status covers the data held (data_seconds)\"");
    if (!rv) rv = fw_buf_append_str(b, "}");
    return rv;
}

static int render_slo(fw_buf *b, const fw_slo_def *d, const fw_slo_status *st)
{
    int rv = fw_buf_append_str(b, "{\"id\":");
    if (!rv) rv = fw_buf_append_json_str(b, d->id, strlen(d->id));
    if (!rv) rv = fw_buf_append_str(b, ",\"name\":");
    if (!rv) rv = fw_buf_append_json_str(b, d->name, strlen(d->name));
    if (!rv) rv = fw_buf_append_str(b, ",\"service\":");
    if (!rv) rv = fw_buf_append_json_str(b, d->service, strlen(d->service));
    if (!rv) rv = fw_buf_append_str(b, ",\"operation\":");
    if (!rv)
        rv = d->operation[0] ? fw_buf_append_json_str(b, d->operation, strlen(d->operation))
                             : fw_buf_append_str(b, "null");
    if (!rv) rv = fw_buf_printf(b, ",\"sli\":\"%s\",\"threshold_ms\":", fw_slo_sli_name(d->sli));
    if (!rv)
        rv = d->sli == FW_SLO_SLI_LATENCY ? fw__api_append_number(b, d->threshold_ms)
                                          : fw_buf_append_str(b, "null");
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "target", d->target);
    if (!rv) rv = fw_buf_append_str(b, ",\"window\":");
    if (!rv) rv = fw_buf_append_json_str(b, d->window, strlen(d->window));
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = append_key_number(b, "warning_threshold", d->warning_threshold);
    if (!rv) rv = fw_buf_append_str(b, ",");
    if (!rv) rv = fw__api_append_time(b, "created_at", d->created_at_ns, true);
    if (!rv) rv = fw_buf_append_str(b, ",\"status\":");
    if (!rv) rv = render_status(b, d, st);
    if (!rv) rv = fw_buf_append_str(b, "}");
    return rv;
}

typedef struct slo_render {
    fw_buf *body;
    size_t soft_max;
    size_t n;
    bool truncated;
    int err;
} slo_render;

static int visit_slo(void *ctx, const fw_slo_def *d, const fw_slo_status *st)
{
    slo_render *sr = ctx;
    size_t mark = sr->body->len;
    int rv = sr->n ? fw_buf_append(sr->body, ",", 1) : 0;
    if (!rv) rv = render_slo(sr->body, d, st);
    if (!rv && sr->body->len > sr->soft_max) rv = FW_ERR_TOO_LARGE;
    if (rv) {
        sr->body->len = mark;
        if (rv == FW_ERR_TOO_LARGE)
            sr->truncated = true;
        else
            sr->err = rv;
        return 1;
    }
    sr->n++;
    return 0;
}

/* ---- GET ---- */

static void slos_list(fw_api *a, fw_slos *s, fw_http_response *resp)
{
    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    if (b->max < API_LIST_TAIL_RESERVE * 2u) {
        fw__api_respond_error(resp, 500, "response limit too small");
        return;
    }
    slo_render sr = {b, b->max - API_LIST_TAIL_RESERVE, 0, false, 0};
    int rv = fw_buf_append_str(b, "{\"slos\":[");
    if (!rv) rv = fw_slo_list(s, fw__api_now_ns(a), visit_slo, &sr);
    if (!rv && sr.err) rv = sr.err;
    if (!rv) rv = fw_buf_printf(b, "],\"truncated\":%s}", sr.truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, 503, "SLOs could not be read");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}

/* Renders SLO |id| into the body with |status|. */
static void respond_one(fw_api *a, fw_slos *s, const char *id, int status, fw_http_response *resp)
{
    fw_slo_def d;
    fw_slo_status st;
    int rv = fw_slo_get(s, id, fw__api_now_ns(a), &d, &st);
    if (rv == FW_ERR_NOT_FOUND) {
        fw__api_respond_error(resp, 404, "SLO not found");
        return;
    }
    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    if (!rv) rv = render_slo(b, &d, &st);
    if (rv) {
        fw__api_respond_error(resp, 503, "SLO could not be read");
        return;
    }
    resp->status = status;
    resp->content_type = CT_JSON;
}

/* ---- POST ---- */

static bool is_json_type(fw_str ct)
{
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;
    if (!ct.ptr || ct.len < n || !fw_str_istarts(ct, json)) return false;
    return ct.len == n || ct.ptr[n] == ';' || ct.ptr[n] == ' ' || ct.ptr[n] == '\t';
}

/* A string member into |out| (size |max| + 1): 1 copied, 0 absent or null,
 * or -1 after answering 400 naming |key|. */
static int member_str(json_t *root, const char *key, char *out, size_t max, fw_http_response *resp)
{
    json_t *v = json_object_get(root, key);
    out[0] = '\0';
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        fw__api_respond_errorf(resp, 400, "%s: must be a string", key);
        return -1;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max) {
        fw__api_respond_errorf(resp, 400, "%s: must be at most %zu bytes", key, max);
        return -1;
    }
    if (strlen(s) != n) {
        fw__api_respond_errorf(resp, 400, "%s: must not contain NUL", key);
        return -1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* A number member: 1 set, 0 absent or null, -1 after answering 400. */
static int member_number(json_t *root, const char *key, double *out, fw_http_response *resp)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        fw__api_respond_errorf(resp, 400, "%s: must be a number", key);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

/* Fills |d| from the JSON object; false after answering 400. */
static bool parse_definition(json_t *root, fw_slo_def *d, fw_http_response *resp)
{
    char sli[32];
    memset(d, 0, sizeof(*d));
    if (member_str(root, "id", d->id, FW_SLO_ID_MAX, resp) < 0 ||
        member_str(root, "name", d->name, FW_SLO_NAME_MAX, resp) < 0 ||
        member_str(root, "service", d->service, FW_SLO_SERVICE_MAX, resp) < 0 ||
        member_str(root, "operation", d->operation, FW_SLO_OPERATION_MAX, resp) < 0 ||
        member_str(root, "window", d->window, FW_SLO_WINDOW_TEXT_MAX, resp) < 0)
        return false;
    int rv = member_str(root, "sli", sli, sizeof(sli) - 1, resp);
    if (rv < 0) return false;
    if (rv == 0 || strcmp(sli, "availability") == 0) {
        d->sli = FW_SLO_SLI_AVAILABILITY;
    } else if (strcmp(sli, "latency") == 0) {
        d->sli = FW_SLO_SLI_LATENCY;
    } else {
        fw__api_respond_error(resp, 400, "sli: must be \"availability\" or \"latency\"");
        return false;
    }
    if (!d->window[0]) memcpy(d->window, FW_SLO_WINDOW_DEFAULT, sizeof(FW_SLO_WINDOW_DEFAULT));
    d->warning_threshold = FW_SLO_WARNING_DEFAULT;
    if (member_number(root, "warning_threshold", &d->warning_threshold, resp) < 0 ||
        member_number(root, "threshold_ms", &d->threshold_ms, resp) < 0)
        return false;
    rv = member_number(root, "target", &d->target, resp);
    if (rv < 0) return false;
    if (rv == 0) {
        fw__api_respond_error(resp, 400, "target: required (a percentage such as 99.9)");
        return false;
    }
    return true;
}

static void slos_post(fw_api *a, fw_slos *s, const fw_http_request *req, fw_http_response *resp)
{
    if (!is_json_type(req->content_type)) {
        fw__api_respond_error(resp, 415, "Content-Type: must be application/json");
        return;
    }
    if (req->body_len > API_SLO_BODY_MAX) {
        fw__api_respond_errorf(resp, 413, "body: must be at most %u bytes", API_SLO_BODY_MAX);
        return;
    }
    if (!req->body || req->body_len == 0) {
        fw__api_respond_error(resp, 400, "body: must be a JSON object");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)req->body, req->body_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        fw__api_respond_errorf(resp, 400, "body: invalid JSON at line %d column %d: %.120s",
                               jerr.line, jerr.column, jerr.text);
        return;
    }
    fw_slo_def *d = NULL;
    if (!json_is_object(root)) {
        fw__api_respond_error(resp, 400, "body: must be a JSON object");
        goto out;
    }
    d = malloc(sizeof(*d)); /* ~1.7 KiB: kept off the worker's stack */
    if (!d) {
        fw__api_respond_error(resp, 503, "out of memory");
        goto out;
    }
    if (!parse_definition(root, d, resp)) goto out;
    fw_parse_error perr;
    memset(&perr, 0, sizeof(perr));
    int rv = fw_slo_create(s, d, d, &perr);
    if (rv == FW_ERR_INVALID) {
        bool conflict = perr.reason && strcmp(perr.reason, "conflict") == 0;
        fw__api_respond_error(resp, conflict ? 409 : 400, perr.detail);
        goto out;
    }
    if (rv == FW_ERR_TOO_LARGE) {
        fw__api_respond_error(resp, 409, perr.detail);
        goto out;
    }
    if (rv) {
        fw__api_respond_error(resp, 503, "SLO could not be stored");
        goto out;
    }
    respond_one(a, s, d->id, 201, resp);
out:
    free(d);
    json_decref(root);
}

/* ---- routes ---- */

void fw__api_route_slos(fw_api *a, const fw_http_request *req, fw_str tail, fw_http_response *resp)
{
    (void)tail;
    fw_slos *s = atomic_load_explicit(&a->slos, memory_order_acquire);
    if (!s) {
        fw__api_respond_error(resp, 503, "SLOs are not available");
        return;
    }
    if (req->method == FW_HTTP_POST)
        slos_post(a, s, req, resp);
    else
        slos_list(a, s, resp);
}

void fw__api_route_slo(fw_api *a, const fw_http_request *req, fw_str tail, fw_http_response *resp)
{
    fw_slos *s = atomic_load_explicit(&a->slos, memory_order_acquire);
    if (!s) {
        fw__api_respond_error(resp, 503, "SLOs are not available");
        return;
    }
    char id[FW_SLO_ID_MAX + 1];
    if (tail.len == 0 || memchr(tail.ptr, '/', tail.len) ||
        !fw__api_percent_decode(tail, id, sizeof(id))) {
        fw__api_respond_error(resp, 404, "SLO not found");
        return;
    }
    if (req->method == FW_HTTP_DELETE) {
        int rv = fw_slo_delete(s, id);
        if (rv == FW_ERR_NOT_FOUND) {
            fw__api_respond_error(resp, 404, "SLO not found");
            return;
        }
        if (rv) {
            fw__api_respond_error(resp, 503, "SLO could not be deleted");
            return;
        }
        fw_buf_reset(&resp->body);
        resp->status = 204;
        resp->content_type = NULL;
        return;
    }
    respond_one(a, s, id, 200, resp);
}
