/* api_deploy.c - POST /api/v1/deployments (validated; 400 naming the bad
 * field) and GET /api/v1/deployments?service=&from=&to=&limit= (SPEC 6;
 * shapes in docs/API.md). Parses untrusted JSON with jansson under a body
 * cap; stores and reads through fw_deploy only (never touches SQLite). */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/deploy.h"

/* A deployment is a few short strings and a description: 64 KiB is
 * generous, and keeps one POST from tying up the parser. */
#define API_DEPLOY_BODY_MAX (64u * 1024u)
#define API_DEPLOY_LIMIT_DEFAULT 100u

static const char *const CT_JSON = "application/json";

void fw_api_set_deployments(fw_api *a, struct fw_deploy_store *deploy)
{
    atomic_store_explicit(&a->deploy, deploy, memory_order_release);
}

/* ---- rendering ---- */

static int append_opt_str(fw_buf *b, const char *key, const char *v)
{
    int rv = fw_buf_printf(b, ",\"%s\":", key);
    if (!rv)
        rv = v ? fw_buf_append_json_str(b, v, strlen(v)) : fw_buf_append_str(b, "null");
    return rv;
}

static int render_deployment(fw_buf *b, const fw_deployment *d)
{
    int rv = fw_buf_printf(b, "{\"id\":%lld", (long long)d->id);
    if (!rv)
        rv = append_opt_str(b, "service", d->service);
    if (!rv)
        rv = append_opt_str(b, "version", d->version);
    if (!rv)
        rv = append_opt_str(b, "previous_version", d->previous_version);
    if (!rv)
        rv = append_opt_str(b, "environment", d->environment);
    if (!rv)
        rv = append_opt_str(b, "commit", d->commit);
    if (!rv)
        rv = append_opt_str(b, "description", d->description);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "timestamp", d->timestamp_ns, false);
    if (!rv)
        rv = fw_buf_printf(b, ",\"source\":\"%s\",", fw_deploy_source_name(d->source));
    if (!rv)
        rv = fw__api_append_time(b, "recorded_at", d->recorded_at_ns, true);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return rv;
}

typedef struct deploy_render {
    fw_buf *body;
    size_t soft_max; /* room left for the closing */
    size_t n;
    bool truncated;
    int err;
} deploy_render;

static int visit_deployment(void *ctx, const fw_deployment *d)
{
    deploy_render *dr = ctx;
    size_t mark = dr->body->len;
    int rv = dr->n ? fw_buf_append(dr->body, ",", 1) : 0;
    if (!rv)
        rv = render_deployment(dr->body, d);
    if (!rv && dr->body->len > dr->soft_max)
        rv = FW_ERR_TOO_LARGE;
    if (rv) {
        dr->body->len = mark;
        if (rv == FW_ERR_TOO_LARGE)
            dr->truncated = true;
        else
            dr->err = rv;
        return 1;
    }
    dr->n++;
    return 0;
}

static int visit_one(void *ctx, const fw_deployment *d)
{
    deploy_render *dr = ctx;
    dr->err = render_deployment(dr->body, d);
    dr->n++;
    return 1;
}

/* ---- GET ---- */

static void deployments_get(fw_api *a, fw_deploy_store *ds, const fw_http_request *req,
                            fw_http_response *resp)
{
    (void)a;
    char service[FW_DEPLOY_SERVICE_MAX + 2];
    char from[64], to[64], limit[32];
    uint64_t from_ns = 0, to_ns = 0, lim = API_DEPLOY_LIMIT_DEFAULT;

    int rv = fw__api_query_param(req, "service", service, sizeof(service));
    if (rv < 0 || (rv == 1 && strlen(service) > FW_DEPLOY_SERVICE_MAX)) {
        fw__api_respond_errorf(resp, 400, "service: must be at most %u bytes",
                               FW_DEPLOY_SERVICE_MAX);
        return;
    }
    bool has_service = rv == 1;
    rv = fw__api_query_param(req, "from", from, sizeof(from));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(from, &from_ns))) {
        fw__api_respond_error(resp, 400, "from: must be an RFC 3339 time or unix nanoseconds");
        return;
    }
    rv = fw__api_query_param(req, "to", to, sizeof(to));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(to, &to_ns))) {
        fw__api_respond_error(resp, 400, "to: must be an RFC 3339 time or unix nanoseconds");
        return;
    }
    bool has_to = rv == 1;
    if (has_to && from_ns > to_ns) {
        fw__api_respond_error(resp, 400, "from: must not be later than to");
        return;
    }
    rv = fw__api_query_param(req, "limit", limit, sizeof(limit));
    if (rv < 0 || (rv == 1 && (!fw__api_parse_decimal(limit, strlen(limit), &lim) || lim < 1 ||
                               lim > FW_DEPLOY_LIST_MAX))) {
        fw__api_respond_errorf(resp, 400, "limit: must be an integer from 1 to %u",
                               FW_DEPLOY_LIST_MAX);
        return;
    }
    /* to=0 matches nothing (timestamps are > 0); fw_deploy_list reads a
     * zero to_ns as "no upper bound". */
    bool empty = has_to && to_ns == 0;

    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    if (b->max < API_LIST_TAIL_RESERVE * 2u) {
        fw__api_respond_error(resp, 500, "response limit too small");
        return;
    }
    deploy_render dr = {b, b->max - API_LIST_TAIL_RESERVE, 0, false, 0};
    rv = fw_buf_append_str(b, "{\"deployments\":[");
    if (!rv && !empty)
        rv = fw_deploy_list(ds, has_service ? service : NULL, from_ns, to_ns, (size_t)lim,
                            visit_deployment, &dr);
    if (!rv && dr.err)
        rv = dr.err;
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", dr.truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, 503, "deployments could not be read");
        return;
    }
    resp->status = 200;
    resp->content_type = CT_JSON;
}

/* ---- POST ---- */

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static bool is_json_type(fw_str ct)
{
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;
    if (!ct.ptr || ct.len < n || !fw_str_istarts(ct, json))
        return false;
    return ct.len == n || ct.ptr[n] == ';' || ct.ptr[n] == ' ' || ct.ptr[n] == '\t';
}

/* A string member: 1 present, 0 absent or null, -1 another JSON type. */
static int member_str(json_t *root, const char *key, const char **out)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 1;
}

/* timestamp: RFC 3339 or unix nanoseconds, as a string or an integer. */
static bool member_time(json_t *root, uint64_t now, uint64_t *out)
{
    json_t *v = json_object_get(root, "timestamp");
    if (!v || json_is_null(v)) {
        *out = now;
        return true;
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i <= 0)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (json_string_length(v) == 0 || json_string_length(v) > 64)
        return false;
    return fw__api_parse_time_param(s, out) && *out > 0;
}

static void deployments_post(fw_api *a, fw_deploy_store *ds, const fw_http_request *req,
                             fw_http_response *resp)
{
    if (!is_json_type(req->content_type)) {
        fw__api_respond_error(resp, 415, "Content-Type: must be application/json");
        return;
    }
    if (req->body_len > API_DEPLOY_BODY_MAX) {
        fw__api_respond_errorf(resp, 413, "body: must be at most %u bytes", API_DEPLOY_BODY_MAX);
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
    if (!json_is_object(root)) {
        fw__api_respond_error(resp, 400, "body: must be a JSON object");
        goto out;
    }

    fw_deployment d = {0};
    static const struct {
        const char *key;
        size_t off;
        bool required;
    } fields[] = {
        {"service", offsetof(fw_deployment, service), true},
        {"version", offsetof(fw_deployment, version), true},
        {"environment", offsetof(fw_deployment, environment), false},
        {"commit", offsetof(fw_deployment, commit), false},
        {"description", offsetof(fw_deployment, description), false},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char **slot = (const char **)((char *)&d + fields[i].off);
        int rv = member_str(root, fields[i].key, slot);
        if (rv < 0) {
            fw__api_respond_errorf(resp, 400, "%s: must be a string", fields[i].key);
            goto out;
        }
        if (rv == 1 && strlen(*slot) != json_string_length(json_object_get(root, fields[i].key))) {
            fw__api_respond_errorf(resp, 400, "%s: must not contain NUL", fields[i].key);
            goto out;
        }
        if (rv == 0 && fields[i].required) {
            fw__api_respond_errorf(resp, 400, "%s: required", fields[i].key);
            goto out;
        }
    }
    if (!member_time(root, fw__api_now_ns(a), &d.timestamp_ns)) {
        fw__api_respond_error(resp, 400, "timestamp: not RFC 3339 or unix nanoseconds");
        goto out;
    }

    fw_parse_error perr = {0};
    int64_t id = 0;
    int rv = fw_deploy_record(ds, &d, &id, &perr);
    if (rv == FW_ERR_INVALID) {
        fw__api_respond_error(resp, 400, perr.detail);
        goto out;
    }
    if (rv) {
        fw__api_respond_error(resp, 503, "deployment could not be stored");
        goto out;
    }

    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    deploy_render dr = {b, b->max, 0, false, 0};
    rv = fw_deploy_get(ds, id, visit_one, &dr);
    if (rv || dr.err || dr.n != 1) {
        fw__api_respond_error(resp, 503, "deployment stored but could not be read back");
        goto out;
    }
    resp->status = 201;
    resp->content_type = CT_JSON;
out:
    json_decref(root);
}

void fw__api_route_deployments(fw_api *a, const fw_http_request *req, fw_str tail,
                               fw_http_response *resp)
{
    (void)tail;
    fw_deploy_store *ds = atomic_load_explicit(&a->deploy, memory_order_acquire);
    if (!ds) {
        fw__api_respond_error(resp, 503, "deployments are not available");
        return;
    }
    if (req->method == FW_HTTP_POST)
        deployments_post(a, ds, req, resp);
    else
        deployments_get(a, ds, req, resp);
}
