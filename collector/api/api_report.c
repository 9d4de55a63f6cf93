/* api_report.c - GET /api/v1/investigations/{id}/report?format=md|json|html
 * (SPEC 6, 6.2): reads the persisted investigation through
 * fw_investigations, fetches the symptom's RED series for the HTML graph,
 * and renders through fw_report. Reports are derived, never stored apart:
 * re-rendering later gives the report of the persisted investigation. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/investigations.h"
#include "flywheel/report.h"

/* An investigation object is a few hundred kilobytes at most. */
#define API_REPORT_INV_MAX (8u * 1024u * 1024u)
#define API_REPORT_POINTS 120u

typedef struct series_fill {
    fw_report_point *points;
    size_t n, cap;
} series_fill;

static int point_visit(void *ctx, uint64_t step_start_ns, const fw_red_totals *t)
{
    series_fill *f = ctx;
    if (f->n == f->cap)
        return 1;
    fw_report_point *p = &f->points[f->n++];
    p->t_ns = step_start_ns;
    p->requests = t->requests;
    p->errors = t->faults;
    p->p99_ms = fw_hist_count(&t->latency) ? fw_hist_quantile(&t->latency, 0.99) / 1000.0 : 0.0;
    return 0;
}

/* The RED series of the investigation's scope (the operation's server
 * series when it has data, else the service's); n = 0 when unavailable. */
static void load_series(fw_api *a, const json_t *inv, series_fill *f)
{
    fw_red *red = atomic_load_explicit(&a->red, memory_order_acquire);
    fw_intern *in = atomic_load_explicit(&a->intern, memory_order_acquire);
    const json_t *scope = json_object_get(inv, "scope");
    const char *svc = json_string_value(json_object_get(scope, "service"));
    const char *op = json_string_value(json_object_get(scope, "operation"));
    uint64_t from = fw_report_parse_time(json_string_value(json_object_get(scope, "from")));
    uint64_t to = fw_report_parse_time(json_string_value(json_object_get(scope, "to")));
    if (!red || !in || !svc || !from || to <= from)
        return;
    uint32_t sid = fw_intern_find(in, fw_str_from(svc));
    if (sid == FW_INTERN_NONE)
        return;
    from -= from % FW_RED_BUCKET_NS;
    uint64_t per = (to - from + API_REPORT_POINTS - 1u) / API_REPORT_POINTS;
    uint64_t step = (per + FW_RED_BUCKET_NS - 1u) / FW_RED_BUCKET_NS * FW_RED_BUCKET_NS;
    if (step < FW_RED_BUCKET_NS)
        step = FW_RED_BUCKET_NS;
    fw_red_key key = {FW_RED_SERVICE, 0, sid, 0};
    uint32_t oid = op ? fw_intern_find(in, fw_str_from(op)) : FW_INTERN_NONE;
    if (oid != FW_INTERN_NONE) {
        fw_red_key ok = {FW_RED_OPERATION, FW_SPAN_KIND_SERVER, sid, oid};
        fw_red_totals *probe = malloc(sizeof(*probe));
        if (probe && fw_red_query(red, &ok, from, to, probe) == 0)
            key = ok;
        free(probe);
    }
    f->n = 0;
    if (fw_red_range(red, &key, from, to, step, point_visit, f) != 0)
        f->n = 0;
}

void fw__api_route_investigation_report(fw_api *a, const fw_http_request *req, fw_str id_seg,
                                        fw_http_response *resp)
{
    fw_investigations *inv = atomic_load_explicit(&a->investigations, memory_order_acquire);
    if (!inv) {
        fw__api_respond_error(resp, 503, "investigations are not available");
        return;
    }
    char id[FW_INV_ID_MAX], fmtname[16];
    if (id_seg.len == 0 || id_seg.len >= sizeof(id) || memchr(id_seg.ptr, '/', id_seg.len) ||
        !fw__api_percent_decode(id_seg, id, sizeof(id))) {
        fw__api_respond_error(resp, 404, "investigation not found");
        return;
    }
    fw_report_format fmt = FW_REPORT_MD;
    int has = fw__api_query_param(req, "format", fmtname, sizeof(fmtname));
    if (has < 0 || (has == 1 && fw_report_format_parse(fmtname, &fmt) != 0)) {
        fw__api_respond_error(resp, 400, "format: must be md, json or html");
        return;
    }
    fw_buf src;
    fw_buf_init(&src, API_REPORT_INV_MAX);
    json_t *root = NULL;
    series_fill f = {NULL, 0, API_REPORT_POINTS + 1u};
    int rv = fw_investigations_get_json(inv, id, &src);
    if (rv == FW_ERR_NOT_FOUND) {
        fw__api_respond_error(resp, 404, "investigation not found");
        goto out;
    }
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_TOO_LARGE ? 500 : 503,
                              "cannot read the investigation");
        goto out;
    }
    json_error_t jerr;
    root = json_loadb((const char *)src.data, src.len, 0, &jerr);
    const char *status = json_string_value(json_object_get(root, "status"));
    if (status && strcmp(status, "running") == 0) {
        fw__api_respond_error(resp, 409, "the investigation is still running: retry when complete");
        (void)fw_http_response_header(resp, "retry-after", "%d", 2);
        goto out;
    }
    if (fmt == FW_REPORT_HTML && root) {
        f.points = calloc(f.cap, sizeof(*f.points));
        if (f.points)
            load_series(a, root, &f);
    }
    fw_report_series series = {f.points, f.n};
    char err[160];
    fw_buf_reset(&resp->body);
    rv = fw_report_render((const char *)src.data, src.len, f.n ? &series : NULL, fmt, &resp->body, err,
                          sizeof(err));
    if (rv == FW_ERR_AGAIN) {
        fw__api_respond_error(resp, 409, "the investigation is still running: retry when complete");
        goto out;
    }
    if (rv) {
        fw__api_respond_errorf(resp, 500, "cannot render the report: %s", err);
        goto out;
    }
    resp->status = 200;
    resp->content_type = fw_report_content_type(fmt);
out:
    free(f.points);
    json_decref(root);
    fw_buf_free(&src);
}
