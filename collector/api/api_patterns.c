/* api_patterns.c - GET /api/v1/logs/patterns (log patterns with counts in a
 * window against a baseline, SPEC 6) and the severity= / q= filters of GET
 * /api/v1/logs; shapes in docs/API.md. Reads the pattern miner and parses
 * untrusted parameters into bounded buffers; never writes telemetry and
 * never builds a body past the response's bound (patterns are rendered
 * inside the miner's visitor, which holds its shard locks). */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/patterns.h"

#define API_PATTERNS_LIMIT_DEFAULT 100u
#define API_PATTERNS_LIMIT_MAX     1000u
/* Longest q= accepted: a search term, not a document. */
#define API_LOGS_TEXT_MAX 256u

void fw_api_set_patterns(fw_api *a, struct fw_patterns *patterns)
{
    atomic_store_explicit(&a->patterns, patterns, memory_order_release);
}

/* ---- GET /api/v1/logs filters ---- */

bool fw__api_parse_log_filters(const fw_http_request *req, fw_http_response *resp, fw_log_query *q,
                               char *text, size_t textsz)
{
    char sev[32];
    int rv = fw__api_query_param(req, "severity", sev, sizeof(sev));
    if (rv == 0) rv = fw__api_query_param(req, "severity_min", sev, sizeof(sev));
    if (rv == 1) q->severity_min = fw_patterns_severity_parse(fw_str_from(sev));
    if (rv < 0 || (rv == 1 && q->severity_min == 0)) {
        fw__api_respond_error(resp, 400,
                              "severity: must be a number from 1 to 24 or one of trace, debug, "
                              "info, warn, error, fatal");
        return false;
    }
    size_t cap = textsz < API_LOGS_TEXT_MAX + 1u ? textsz : API_LOGS_TEXT_MAX + 1u;
    rv = fw__api_query_param(req, "q", text, cap);
    if (rv < 0) {
        fw__api_respond_errorf(resp, 400, "q: must be at most %u bytes", API_LOGS_TEXT_MAX);
        return false;
    }
    if (rv == 1) q->text = text;
    return true;
}

/* ---- GET /api/v1/logs/patterns ---- */

typedef struct patterns_render {
    fw_buf *body;
    size_t soft_max; /* leave room for the closing */
    size_t n;
    bool truncated;
    int err;
} patterns_render;

static int render_pattern(fw_buf *b, const fw_pattern_info *pi)
{
    int rv = fw_buf_printf(b, "{\"id\":\"%016llx\",\"service\":", (unsigned long long)pi->id);
    if (!rv) rv = fw__api_append_fw_str(b, pi->service);
    if (!rv) rv = fw_buf_append_str(b, ",\"template\":");
    if (!rv) rv = fw__api_append_fw_str(b, pi->template_text);
    if (!rv)
        rv = fw_buf_printf(b, ",\"count\":%llu,\"baseline_count\":%llu,\"total_count\":%llu,",
                           (unsigned long long)pi->count, (unsigned long long)pi->baseline_count,
                           (unsigned long long)pi->total);
    if (!rv) rv = fw__api_append_time(b, "first_seen", pi->first_seen_ns, true);
    if (!rv) rv = fw_buf_append(b, ",", 1);
    if (!rv) rv = fw__api_append_time(b, "last_seen", pi->last_seen_ns, true);
    if (!rv) rv = fw_buf_append_str(b, ",\"example\":");
    if (!rv) rv = fw__api_append_fw_str(b, pi->example);
    if (!rv)
        rv = fw_buf_printf(b, ",\"max_severity\":%d,\"max_severity_text\":\"%s\",\"trace_ids\":[",
                           (int)pi->max_severity, fw_patterns_severity_name(pi->max_severity));
    for (size_t i = 0; !rv && i < pi->n_trace_ids; i++) {
        if (i) rv = fw_buf_append(b, ",", 1);
        if (!rv) rv = fw__api_append_id(b, pi->trace_ids[i], FW_TRACE_ID_LEN);
    }
    if (!rv)
        rv = fw_buf_printf(b, "],\"new\":%s,\"overflow\":%s}", pi->is_new ? "true" : "false",
                           pi->overflow ? "true" : "false");
    return rv;
}

static int visit_pattern(void *ctx, const fw_pattern_info *pi)
{
    patterns_render *pr = ctx;
    size_t mark = pr->body->len;
    int rv = pr->n ? fw_buf_append(pr->body, ",", 1) : 0;
    if (!rv) rv = render_pattern(pr->body, pi);
    if (!rv && pr->body->len > pr->soft_max) rv = FW_ERR_TOO_LARGE;
    if (rv) {
        pr->body->len = mark;
        if (rv == FW_ERR_TOO_LARGE)
            pr->truncated = true;
        else
            pr->err = rv;
        return 1;
    }
    pr->n++;
    return 0;
}

/* baseline_from / baseline_to: both or neither (then the window of the
 * same length just before from). */
static bool parse_baseline(const fw_http_request *req, fw_http_response *resp, const api_range *win,
                           api_range *out)
{
    char from[64], to[64];
    int has_f = fw__api_query_param(req, "baseline_from", from, sizeof(from));
    int has_t = fw__api_query_param(req, "baseline_to", to, sizeof(to));
    if (has_f < 0 || (has_f == 1 && !fw__api_parse_time_param(from, &out->from_ns))) {
        fw__api_respond_error(resp, 400,
                              "baseline_from: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    if (has_t < 0 || (has_t == 1 && !fw__api_parse_time_param(to, &out->to_ns))) {
        fw__api_respond_error(resp, 400,
                              "baseline_to: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    if (has_f != has_t) {
        fw__api_respond_error(resp, 400,
                              has_f == 1 ? "baseline_to: required with baseline_from"
                                         : "baseline_from: required with baseline_to");
        return false;
    }
    if (has_f != 1) {
        uint64_t len = win->to_ns - win->from_ns;
        out->to_ns = win->from_ns;
        out->from_ns = win->from_ns > len ? win->from_ns - len : 0;
        return true;
    }
    if (out->from_ns >= out->to_ns) {
        fw__api_respond_error(resp, 400, "baseline_from: must be earlier than baseline_to");
        return false;
    }
    return true;
}

void fw__api_route_log_patterns(fw_api *a, const fw_http_request *req, fw_str tail,
                                fw_http_response *resp)
{
    (void)tail;
    fw_patterns *pm = atomic_load_explicit(&a->patterns, memory_order_acquire);
    if (!pm) {
        fw__api_respond_error(resp, 503, "log patterns are not enabled");
        return;
    }
    char service[512], limit[32], absent[16];
    fw_patterns_query q = {.limit = API_PATTERNS_LIMIT_DEFAULT};
    api_range win, base;

    int rv = fw__api_query_param(req, "service", service, sizeof(service));
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "service: too long");
        return;
    }
    if (rv == 1) q.service = service;
    if (!fw__api_parse_range(a, req, resp, &win) || !parse_baseline(req, resp, &win, &base)) return;
    rv = fw__api_query_param(req, "limit", limit, sizeof(limit));
    if (rv == 1) {
        uint64_t v = 0;
        if (!fw__api_parse_decimal(limit, strlen(limit), &v) || v < 1 || v > API_PATTERNS_LIMIT_MAX)
            rv = -1;
        q.limit = (size_t)v;
    }
    if (rv < 0) {
        fw__api_respond_errorf(resp, 400, "limit: must be an integer from 1 to %u",
                               API_PATTERNS_LIMIT_MAX);
        return;
    }
    rv = fw__api_query_param(req, "include_absent", absent, sizeof(absent));
    if (rv == 1 && strcmp(absent, "true") != 0 && strcmp(absent, "false") != 0) rv = -1;
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "include_absent: must be true or false");
        return;
    }
    q.include_absent = rv == 1 && strcmp(absent, "true") == 0;
    q.from_ns = win.from_ns;
    q.to_ns = win.to_ns;
    q.baseline_from_ns = base.from_ns;
    q.baseline_to_ns = base.to_ns;

    fw_buf *b = &resp->body;
    fw_buf_reset(b);
    if (b->max < API_LIST_TAIL_RESERVE * 2u) {
        fw__api_respond_error(resp, 500, "response limit too small");
        return;
    }
    patterns_render pr = {b, b->max - API_LIST_TAIL_RESERVE, 0, false, 0};
    rv = fw_buf_append(b, "{", 1);
    if (!rv) rv = fw__api_append_time(b, "from", win.from_ns, false);
    if (!rv) rv = fw_buf_append(b, ",", 1);
    if (!rv) rv = fw__api_append_time(b, "to", win.to_ns, false);
    if (!rv) rv = fw_buf_append(b, ",", 1);
    if (!rv) rv = fw__api_append_time(b, "baseline_from", base.from_ns, false);
    if (!rv) rv = fw_buf_append(b, ",", 1);
    if (!rv) rv = fw__api_append_time(b, "baseline_to", base.to_ns, false);
    if (!rv) rv = fw_buf_append_str(b, ",\"patterns\":[");
    if (!rv) rv = fw_patterns_query_run(pm, &q, visit_pattern, &pr, NULL);
    if (!rv && pr.err) rv = pr.err;
    if (!rv) rv = fw_buf_printf(b, "],\"truncated\":%s}", pr.truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, 503, "out of memory rendering the log patterns");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}
