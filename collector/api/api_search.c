/* api_search.c - GET /api/v1/traces: trace search by service, operation,
 * error and time (SPEC 6), newest first, one summary per trace. Finds
 * candidate spans with fw_store_find_spans, then reads each trace whole
 * with fw_store_get_trace. Store visitors only copy what they need (they
 * run under a partition lock and never call back into the store); every
 * buffer here has a fixed cap. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/semconv.h"

#define API_TRACES_LIMIT_DEFAULT 20u
#define API_TRACES_LIMIT_MAX 1000u
/* Candidate spans read per distinct trace wanted, at first; grown 4x per
 * retry while traces are missing, up to the cap (bounds one search). */
#define API_SEARCH_SPANS_PER_TRACE 8u
#define API_SEARCH_MAX_SPANS (1u << 20)
/* Distinct services listed per trace, and bytes of their names. */
#define API_SUMMARY_MAX_SERVICES 256u
#define API_SUMMARY_SERVICE_BYTES (64u * 1024u)
/* Bytes kept of a root span's name or service. */
#define API_SUMMARY_NAME_MAX 1024u
#define API_PARAM_MAX 1024u

static const char *const CT_JSON = "application/json";

/* ---- candidate trace ids, distinct, in the order found ---- */

typedef struct trace_ids {
    uint8_t (*ids)[FW_TRACE_ID_LEN];
    size_t n;
    size_t limit;
    uint32_t *slots; /* open addressing: id index + 1; 0 = empty */
    size_t nslots;   /* power of two, >= 2 * limit */
} trace_ids;

static uint64_t id_hash(const uint8_t *id)
{
    uint64_t h = 0;
    memcpy(&h, id, sizeof(h));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static int visit_candidate(void *ctx, const fw_span *sp)
{
    trace_ids *t = ctx;
    size_t mask = t->nslots - 1u;
    size_t i = (size_t)id_hash(sp->trace_id) & mask;
    while (t->slots[i]) {
        if (memcmp(t->ids[t->slots[i] - 1u], sp->trace_id, FW_TRACE_ID_LEN) == 0)
            return 0;
        i = (i + 1u) & mask;
    }
    memcpy(t->ids[t->n], sp->trace_id, FW_TRACE_ID_LEN);
    t->slots[i] = (uint32_t)(++t->n);
    return t->n >= t->limit;
}

/* ---- one trace summarised ---- */

typedef struct trace_summary {
    uint8_t id[FW_TRACE_ID_LEN];
    uint64_t start_ns; /* earliest span start */
    uint64_t end_ns;   /* latest span end */
    size_t spans;
    size_t errors;
    bool have_root;
    bool root_is_parentless;
    uint64_t root_start_ns;
    char root_name[API_SUMMARY_NAME_MAX];
    char root_service[API_SUMMARY_NAME_MAX];
    fw_buf services; /* distinct service names, NUL-separated */
    size_t n_services;
} trace_summary;

static void copy_name(char *dst, fw_str s)
{
    size_t n = s.ptr ? s.len : 0;
    if (n >= API_SUMMARY_NAME_MAX)
        n = API_SUMMARY_NAME_MAX - 1u;
    if (n)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static bool service_listed(const trace_summary *ts, fw_str name)
{
    const char *p = (const char *)ts->services.data;
    for (size_t i = 0, off = 0; i < ts->n_services; i++) {
        size_t n = strlen(p + off);
        if (n == name.len && (n == 0 || memcmp(p + off, name.ptr, n) == 0))
            return true;
        off += n + 1u;
    }
    return false;
}

static int visit_summary_span(void *ctx, const fw_span *sp)
{
    trace_summary *ts = ctx;
    fw_span_class cls;
    fw_semconv_span_classify(sp, NULL, &cls);
    if (cls.is_fault || cls.is_client_error || sp->status_code == FW_STATUS_ERROR)
        ts->errors++;
    if (!ts->spans || sp->start_ns < ts->start_ns)
        ts->start_ns = sp->start_ns;
    uint64_t end = sp->end_ns > sp->start_ns ? sp->end_ns : sp->start_ns;
    if (end > ts->end_ns)
        ts->end_ns = end;
    ts->spans++;

    bool parentless = !sp->has_parent || fw_id_is_zero(sp->parent_span_id, FW_SPAN_ID_LEN);
    bool better = !ts->have_root || (parentless && !ts->root_is_parentless) ||
                  (parentless == ts->root_is_parentless && sp->start_ns < ts->root_start_ns);
    fw_str service = sp->resource ? sp->resource->service_name : FW_STR_NULL;
    if (better) {
        ts->have_root = true;
        ts->root_is_parentless = parentless;
        ts->root_start_ns = sp->start_ns;
        copy_name(ts->root_name, sp->name);
        copy_name(ts->root_service, service);
    }
    if (service.ptr && !memchr(service.ptr, '\0', service.len) &&
        ts->n_services < API_SUMMARY_MAX_SERVICES && !service_listed(ts, service)) {
        size_t mark = ts->services.len;
        int rv = fw_buf_append(&ts->services, service.ptr, service.len);
        if (!rv)
            rv = fw_buf_append(&ts->services, "", 1);
        if (rv)
            ts->services.len = mark; /* over the cap: the list stays shorter */
        else
            ts->n_services++;
    }
    return 0;
}

static int str_ptr_cmp(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static int render_summary(fw_buf *b, trace_summary *ts)
{
    const char *names[API_SUMMARY_MAX_SERVICES];
    const char *p = (const char *)ts->services.data;
    for (size_t i = 0, off = 0; i < ts->n_services; i++) {
        names[i] = p + off;
        off += strlen(p + off) + 1u;
    }
    if (ts->n_services > 1)
        qsort(names, ts->n_services, sizeof(names[0]), str_ptr_cmp);

    int rv = fw_buf_append_str(b, "{\"trace_id\":");
    if (!rv)
        rv = fw__api_append_id(b, ts->id, FW_TRACE_ID_LEN);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"root_service\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, ts->root_service, strlen(ts->root_service));
    if (!rv)
        rv = fw_buf_append_str(b, ",\"root_name\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, ts->root_name, strlen(ts->root_name));
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "start_time", ts->start_ns, false);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"duration_ms\":");
    if (!rv)
        rv = fw__api_append_duration_ms(b, ts->start_ns, ts->end_ns);
    if (!rv)
        rv = fw_buf_printf(b, ",\"span_count\":%zu,\"error_count\":%zu,\"services\":[",
                           ts->spans, ts->errors);
    for (size_t i = 0; !rv && i < ts->n_services; i++) {
        if (i)
            rv = fw_buf_append(b, ",", 1);
        if (!rv)
            rv = fw_buf_append_json_str(b, names[i], strlen(names[i]));
    }
    if (!rv)
        rv = fw_buf_append_str(b, "]}");
    return rv;
}

/* Newest first; ties by trace id. */
static int summary_cmp(const void *pa, const void *pb)
{
    const trace_summary *x = *(const trace_summary *const *)pa;
    const trace_summary *y = *(const trace_summary *const *)pb;
    if (x->start_ns != y->start_ns)
        return x->start_ns > y->start_ns ? -1 : 1;
    return memcmp(x->id, y->id, FW_TRACE_ID_LEN);
}

/* ---- parameters ---- */

typedef struct search_params {
    fw_span_query q;
    char service[API_PARAM_MAX];
    char operation[API_PARAM_MAX];
    size_t limit;
} search_params;

static bool parse_search(const fw_http_request *req, fw_http_response *resp, search_params *p)
{
    char v[64];
    memset(&p->q, 0, sizeof(p->q));
    p->q.kind = -1;
    p->limit = API_TRACES_LIMIT_DEFAULT;

    int rv = fw__api_query_param(req, "service", p->service, sizeof(p->service));
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "service: too long");
        return false;
    }
    p->q.service = rv == 1 ? p->service : NULL;
    rv = fw__api_query_param(req, "operation", p->operation, sizeof(p->operation));
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "operation: too long");
        return false;
    }
    p->q.operation = rv == 1 ? p->operation : NULL;

    rv = fw__api_query_param(req, "error", v, sizeof(v));
    if (rv == 1) {
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            p->q.errors_only = true;
        else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
            rv = -1;
    }
    if (rv < 0) {
        fw__api_respond_error(resp, 400, "error: must be true or false");
        return false;
    }

    rv = fw__api_query_param(req, "from", v, sizeof(v));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(v, &p->q.from_ns))) {
        fw__api_respond_error(resp, 400, "from: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    rv = fw__api_query_param(req, "to", v, sizeof(v));
    if (rv < 0 || (rv == 1 && !fw__api_parse_time_param(v, &p->q.to_ns))) {
        fw__api_respond_error(resp, 400, "to: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    if (p->q.from_ns && p->q.to_ns && p->q.from_ns > p->q.to_ns) {
        fw__api_respond_error(resp, 400, "from: must not be later than to");
        return false;
    }

    rv = fw__api_query_param(req, "limit", v, sizeof(v));
    if (rv == 1) {
        uint64_t n = 0;
        if (!fw__api_parse_decimal(v, strlen(v), &n) || n < 1 || n > API_TRACES_LIMIT_MAX)
            rv = -1;
        p->limit = (size_t)n;
    }
    if (rv < 0) {
        fw__api_respond_errorf(resp, 400, "limit: must be an integer from 1 to %u",
                               API_TRACES_LIMIT_MAX);
        return false;
    }
    return true;
}

/* Fills |t| with up to |t->limit| distinct trace ids of matching spans,
 * newest first, reading more candidate spans while some are missing. */
static int find_traces(fw_store *store, search_params *p, trace_ids *t)
{
    size_t span_limit = p->limit * API_SEARCH_SPANS_PER_TRACE;
    for (;;) {
        memset(t->slots, 0, t->nslots * sizeof(*t->slots));
        t->n = 0;
        p->q.limit = span_limit;
        size_t visited = fw_store_find_spans(store, &p->q, visit_candidate, t);
        if (t->n >= t->limit || visited < span_limit || span_limit >= API_SEARCH_MAX_SPANS)
            return 0;
        span_limit *= 4u;
        if (span_limit > API_SEARCH_MAX_SPANS)
            span_limit = API_SEARCH_MAX_SPANS;
    }
}

void fw__api_route_trace_search(fw_api *a, const fw_http_request *req, fw_str tail,
                                fw_http_response *resp)
{
    (void)tail;
    search_params *p = malloc(sizeof(*p));
    trace_ids t = {0};
    trace_summary **sums = NULL;
    size_t n_sums = 0;
    int rv = 0;
    if (!p) {
        fw__api_respond_error(resp, 503, "out of memory");
        return;
    }
    if (!parse_search(req, resp, p))
        goto out;

    t.limit = p->limit;
    t.nslots = 1;
    while (t.nslots < 2u * t.limit)
        t.nslots <<= 1;
    t.ids = malloc(t.limit * sizeof(*t.ids));
    t.slots = malloc(t.nslots * sizeof(*t.slots));
    sums = calloc(t.limit, sizeof(*sums));
    if (!t.ids || !t.slots || !sums) {
        rv = FW_ERR_NOMEM;
        goto answer;
    }
    rv = find_traces(a->store, p, &t);
    for (size_t i = 0; !rv && i < t.n; i++) {
        trace_summary *ts = calloc(1, sizeof(*ts));
        if (!ts) {
            rv = FW_ERR_NOMEM;
            break;
        }
        memcpy(ts->id, t.ids[i], FW_TRACE_ID_LEN);
        fw_buf_init(&ts->services, API_SUMMARY_SERVICE_BYTES);
        sums[n_sums++] = ts;
        fw_store_get_trace(a->store, ts->id, visit_summary_span, ts);
        if (ts->spans == 0) { /* evicted since it was found */
            fw_buf_free(&ts->services);
            free(ts);
            sums[--n_sums] = NULL;
        }
    }
    if (n_sums > 1)
        qsort(sums, n_sums, sizeof(*sums), summary_cmp);

answer:;
    fw_buf *b = &resp->body;
    bool truncated = false;
    if (!rv) {
        fw_buf_reset(b);
        rv = fw_buf_append_str(b, "{\"traces\":[");
    }
    for (size_t i = 0, shown = 0; !rv && i < n_sums; i++) {
        size_t mark = b->len;
        rv = shown ? fw_buf_append(b, ",", 1) : 0;
        if (!rv)
            rv = render_summary(b, sums[i]);
        if (!rv && b->len + API_LIST_TAIL_RESERVE > b->max)
            rv = FW_ERR_TOO_LARGE;
        if (rv == FW_ERR_TOO_LARGE) {
            b->len = mark;
            truncated = true;
            rv = 0;
            break;
        }
        shown++;
    }
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
    if (rv) {
        fw__api_respond_error(resp, rv == FW_ERR_NOMEM ? 503 : 500,
                              rv == FW_ERR_NOMEM ? "out of memory searching traces"
                                                 : "answer does not fit the response limit");
    } else {
        resp->status = 200;
        resp->content_type = CT_JSON;
    }
out:
    for (size_t i = 0; i < n_sums; i++) {
        fw_buf_free(&sums[i]->services);
        free(sums[i]);
    }
    free(sums);
    free(t.ids);
    free(t.slots);
    free(p);
}
