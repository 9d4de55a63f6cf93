/* api_analytics.c - the RED and topology endpoints (SPEC 5, 6):
 * /api/v1/services, /api/v1/topology, /api/v1/services/{name}/operations,
 * /api/v1/red, and the RED/topology/dictionary families of /metrics.
 * Shapes fixed by docs/API.md. Reads fw_red, fw_topo and fw_intern through
 * their query functions only (merged copies, no lock held here); never
 * writes telemetry and never builds a body past the response's bound. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "flywheel/hist.h"

#define NS_PER_S 1000000000ull
/* Longest service / operation / filter value accepted in a parameter. */
#define API_NAME_MAX 1024u
/* /api/v1/red: default number of points at most, and the hard cap. */
#define API_RED_POINTS_TARGET 360u
#define API_RED_POINTS_MAX 10000u
/* Name shown for a series folded by the cardinality cap. */
static const char OVERFLOW_NAME[] = "_overflow";

static const char *const CT_JSON = "application/json";

static api_analytics analytics_load(fw_api *a)
{
    api_analytics an = {
        atomic_load_explicit(&a->red, memory_order_acquire),
        atomic_load_explicit(&a->topo, memory_order_acquire),
        atomic_load_explicit(&a->intern, memory_order_acquire),
    };
    return an;
}

/* The display name of an intern id of a series key. */
static fw_str series_name(const fw_intern *in, uint32_t id)
{
    if (id == FW_RED_OVERFLOW_ID)
        return FW_STR_LIT(OVERFLOW_NAME);
    if (id == FW_INTERN_NONE)
        return FW_STR_NULL;
    return fw_intern_str(in, id);
}

static int fw_str_cmp(fw_str x, fw_str y)
{
    size_t n = x.len < y.len ? x.len : y.len;
    int c = n ? memcmp(x.ptr, y.ptr, n) : 0;
    if (c)
        return c;
    return x.len < y.len ? -1 : (x.len > y.len);
}

/* ---- RED objects ---- */

static void totals_zero(fw_red_totals *t)
{
    memset(t, 0, sizeof(*t));
    fw_hist_init(&t->latency);
    fw_hist_init(&t->server_latency);
}

typedef struct exemplar {
    uint8_t id[FW_TRACE_ID_LEN];
    bool failed;
    uint64_t time_ns;
} exemplar;

/* Failing first, then newest first (the order fw_red keeps). */
static int exemplar_cmp(const void *pa, const void *pb)
{
    const exemplar *x = pa, *y = pb;
    if (x->failed != y->failed)
        return x->failed ? -1 : 1;
    if (x->time_ns != y->time_ns)
        return x->time_ns > y->time_ns ? -1 : 1;
    return memcmp(x->id, y->id, FW_TRACE_ID_LEN);
}

/* Adds |src| into |dst|: counts summed, histograms merged, exemplars the
 * best FW_RED_EXEMPLARS of both. */
static void totals_merge(fw_red_totals *dst, const fw_red_totals *src)
{
    dst->requests += src->requests;
    dst->errors += src->errors;
    dst->faults += src->faults;
    dst->client_errors += src->client_errors;
    dst->throttled += src->throttled;
    fw_hist_merge(&dst->latency, &src->latency);
    fw_hist_merge(&dst->server_latency, &src->server_latency);
    if (src->first_ns && (!dst->first_ns || src->first_ns < dst->first_ns))
        dst->first_ns = src->first_ns;
    if (src->last_ns > dst->last_ns)
        dst->last_ns = src->last_ns;

    exemplar all[2 * FW_RED_EXEMPLARS];
    size_t n = 0;
    const fw_red_totals *from[2] = {dst, src};
    for (size_t k = 0; k < 2; k++) {
        size_t m = from[k]->n_exemplars < FW_RED_EXEMPLARS ? from[k]->n_exemplars
                                                           : FW_RED_EXEMPLARS;
        for (size_t i = 0; i < m; i++) {
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = memcmp(all[j].id, from[k]->exemplars[i], FW_TRACE_ID_LEN) == 0;
            if (dup)
                continue;
            memcpy(all[n].id, from[k]->exemplars[i], FW_TRACE_ID_LEN);
            all[n].failed = from[k]->exemplar_failed[i];
            all[n].time_ns = from[k]->exemplar_time_ns[i];
            n++;
        }
    }
    qsort(all, n, sizeof(all[0]), exemplar_cmp);
    if (n > FW_RED_EXEMPLARS)
        n = FW_RED_EXEMPLARS;
    for (size_t i = 0; i < n; i++) {
        memcpy(dst->exemplars[i], all[i].id, FW_TRACE_ID_LEN);
        dst->exemplar_failed[i] = all[i].failed;
        dst->exemplar_time_ns[i] = all[i].time_ns;
    }
    dst->n_exemplars = n;
}

static int append_kv_number(fw_buf *b, const char *key, double v)
{
    int rv = fw_buf_printf(b, ",\"%s\":", key);
    if (!rv)
        rv = fw__api_append_number(b, v);
    return rv;
}

/* "key": quantile in ms, or null when the histogram is empty. */
static int append_quantile_ms(fw_buf *b, const char *key, const fw_hist *h, double q)
{
    if (fw_hist_count(h) == 0)
        return fw_buf_printf(b, ",\"%s\":null", key);
    return append_kv_number(b, key, fw_hist_quantile(h, q) / 1000.0);
}

/* The RED fields (no braces, leading `"requests":`), rates over |seconds|.
 * With |edge|, the server-side percentiles too when a server span was
 * joined. */
static int append_red_fields(fw_buf *b, const fw_red_totals *t, double seconds, bool edge)
{
    double req = t->requests;
    int rv = fw_buf_append_str(b, "\"requests\":");
    if (!rv)
        rv = fw__api_append_number(b, req);
    if (!rv)
        rv = append_kv_number(b, "rate", seconds > 0 ? req / seconds : 0);
    if (!rv)
        rv = append_kv_number(b, "errors", t->errors);
    if (!rv)
        rv = append_kv_number(b, "faults", t->faults);
    if (!rv)
        rv = append_kv_number(b, "client_errors", t->client_errors);
    if (!rv)
        rv = append_kv_number(b, "throttled", t->throttled);
    if (!rv)
        rv = append_kv_number(b, "error_rate", req > 0 ? t->errors / req : 0);
    if (!rv)
        rv = append_kv_number(b, "fault_rate", req > 0 ? t->faults / req : 0);
    if (!rv)
        rv = append_quantile_ms(b, "p50_ms", &t->latency, 0.50);
    if (!rv)
        rv = append_quantile_ms(b, "p90_ms", &t->latency, 0.90);
    if (!rv)
        rv = append_quantile_ms(b, "p99_ms", &t->latency, 0.99);
    if (!rv && edge && fw_hist_count(&t->server_latency) > 0) {
        rv = append_quantile_ms(b, "server_p50_ms", &t->server_latency, 0.50);
        if (!rv)
            rv = append_quantile_ms(b, "server_p90_ms", &t->server_latency, 0.90);
        if (!rv)
            rv = append_quantile_ms(b, "server_p99_ms", &t->server_latency, 0.99);
    }
    if (!rv)
        rv = fw_buf_append_str(b, ",\"exemplars\":[");
    size_t n = t->n_exemplars < FW_RED_EXEMPLARS ? t->n_exemplars : FW_RED_EXEMPLARS;
    for (size_t i = 0; !rv && i < n; i++) {
        rv = fw_buf_append_str(b, i ? ",{\"trace_id\":" : "{\"trace_id\":");
        if (!rv)
            rv = fw__api_append_id(b, t->exemplars[i], FW_TRACE_ID_LEN);
        if (!rv)
            rv = fw_buf_printf(b, ",\"failed\":%s,", t->exemplar_failed[i] ? "true" : "false");
        if (!rv)
            rv = fw__api_append_time(b, "time", t->exemplar_time_ns[i], true);
        if (!rv)
            rv = fw_buf_append(b, "}", 1);
    }
    if (!rv)
        rv = fw_buf_append(b, "]", 1);
    return rv;
}

static int append_red(fw_buf *b, const fw_red_totals *t, double seconds, bool edge)
{
    int rv = fw_buf_append_str(b, "\"red\":{");
    if (!rv)
        rv = append_red_fields(b, t, seconds, edge);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return rv;
}

/* "window_seconds":N,"from":..,"from_unix_nano":..,"to":..,"to_unix_nano":.. */
static int append_range(fw_buf *b, const api_range *r)
{
    int rv = fw_buf_append_str(b, "\"window_seconds\":");
    if (!rv)
        rv = fw__api_append_number(b, (double)(r->to_ns - r->from_ns) / (double)NS_PER_S);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "from", r->from_ns, false);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "to", r->to_ns, false);
    return rv;
}

/* A JSON string of an intern id, or null for none. */
static int append_intern_or_null(fw_buf *b, const fw_intern *in, uint32_t id)
{
    fw_str s = id ? fw_intern_str(in, id) : FW_STR_NULL;
    return s.ptr ? fw__api_append_fw_str(b, s) : fw_buf_append_str(b, "null");
}

/* ---- rendered list items, sorted before they are emitted ---- */

typedef struct api_piece {
    fw_str k1;
    fw_str k2;
    int k3;
    size_t off;
    size_t len;
} api_piece;

typedef struct api_pieces {
    fw_buf buf;
    api_piece *items;
    size_t n;
    size_t cap;
    bool truncated; /* an item did not fit the buffer */
} api_pieces;

static void pieces_init(api_pieces *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    fw_buf_init(&p->buf, max);
}

static void pieces_free(api_pieces *p)
{
    fw_buf_free(&p->buf);
    free(p->items);
    p->items = NULL;
}

/* Starts an item: returns its offset in the buffer. */
static size_t piece_begin(api_pieces *p)
{
    return p->buf.len;
}

/* Ends the item started at |off|. |rv| is the rendering's result: a body
 * limit drops the item and marks truncation; other errors are returned. */
static int piece_end(api_pieces *p, size_t off, int rv, fw_str k1, fw_str k2, int k3)
{
    if (rv) {
        p->buf.len = off;
        if (rv == FW_ERR_TOO_LARGE) {
            p->truncated = true;
            return 0;
        }
        return rv;
    }
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2u : 32u;
        api_piece *ni = realloc(p->items, ncap * sizeof(*ni));
        if (!ni) {
            p->buf.len = off;
            return FW_ERR_NOMEM;
        }
        p->items = ni;
        p->cap = ncap;
    }
    p->items[p->n++] = (api_piece){k1, k2, k3, off, p->buf.len - off};
    return 0;
}

static int piece_cmp(const void *pa, const void *pb)
{
    const api_piece *x = pa, *y = pb;
    int c = fw_str_cmp(x->k1, y->k1);
    if (!c)
        c = fw_str_cmp(x->k2, y->k2);
    if (!c)
        c = x->k3 < y->k3 ? -1 : (x->k3 > y->k3);
    return c;
}

/* Appends the sorted items comma-separated while each fits under
 * |soft_max|; sets |*truncated| when one does not. */
static int pieces_emit(api_pieces *p, fw_buf *b, size_t soft_max, bool *truncated)
{
    if (p->n)
        qsort(p->items, p->n, sizeof(*p->items), piece_cmp);
    if (p->truncated)
        *truncated = true;
    for (size_t i = 0; i < p->n; i++) {
        size_t need = p->items[i].len + (i ? 1u : 0u);
        if (b->len + need > soft_max) {
            *truncated = true;
            break;
        }
        int rv = i ? fw_buf_append(b, ",", 1) : 0;
        if (!rv)
            rv = fw_buf_append(b, p->buf.data + p->items[i].off, p->items[i].len);
        if (rv)
            return rv;
    }
    return 0;
}

static void respond_body_error(fw_http_response *resp, int rv)
{
    if (rv == FW_ERR_NOMEM)
        fw__api_respond_error(resp, 503, "out of memory building the answer");
    else
        fw__api_respond_error(resp, 500, "answer does not fit the response limit");
}

static void respond_ok(fw_http_response *resp)
{
    resp->status = 200;
    resp->content_type = CT_JSON;
}

/* ---- topology lookups ---- */

/* Snapshot nodes ordered by name id, for lookups by name. */
typedef struct node_index {
    const fw_topo_snapshot *snap;
    uint32_t *order; /* indices into snap->nodes sorted by name */
} node_index;

static int node_order_cmp_ctx(const fw_topo_snapshot *s, uint32_t x, uint32_t y)
{
    uint32_t a = s->nodes[x].name, b = s->nodes[y].name;
    return a < b ? -1 : (a > b);
}

/* Heap sort of |order| by node name: qsort has no context argument and
 * there are no mutable globals. */
static void sift_down(const fw_topo_snapshot *s, uint32_t *v, size_t start, size_t end)
{
    size_t root = start;
    while (2 * root + 1 < end) {
        size_t child = 2 * root + 1;
        if (child + 1 < end && node_order_cmp_ctx(s, v[child], v[child + 1]) < 0)
            child++;
        if (node_order_cmp_ctx(s, v[root], v[child]) >= 0)
            return;
        uint32_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

static int node_index_build(node_index *ix, const fw_topo_snapshot *s)
{
    ix->snap = s;
    ix->order = malloc((s->n_nodes ? s->n_nodes : 1) * sizeof(*ix->order));
    if (!ix->order)
        return FW_ERR_NOMEM;
    size_t n = s->n_nodes;
    for (size_t i = 0; i < n; i++)
        ix->order[i] = (uint32_t)i;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(s, ix->order, i, n);
    for (size_t end = n; end > 1; end--) {
        uint32_t t = ix->order[0];
        ix->order[0] = ix->order[end - 1];
        ix->order[end - 1] = t;
        sift_down(s, ix->order, 0, end - 1);
    }
    return 0;
}

/* Index in snap->nodes of the node named |name|, or -1. */
static long node_find(const node_index *ix, uint32_t name)
{
    size_t lo = 0, hi = ix->snap ? ix->snap->n_nodes : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t m = ix->snap->nodes[ix->order[mid]].name;
        if (m == name)
            return (long)ix->order[mid];
        if (m < name)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* namespace= / environment= filters, resolved to intern ids. */
typedef struct api_filter {
    bool active;     /* any filter given */
    bool impossible; /* a filter names a string never seen: nothing matches */
    uint32_t namespace_id;
    uint32_t environment_id;
} api_filter;

static bool parse_filter(const fw_http_request *req, fw_intern *in, fw_http_response *resp,
                         api_filter *f)
{
    char v[API_NAME_MAX];
    static const char *const names[2] = {"namespace", "environment"};
    uint32_t *ids[2] = {&f->namespace_id, &f->environment_id};
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < 2; i++) {
        int rv = fw__api_query_param(req, names[i], v, sizeof(v));
        if (rv < 0) {
            fw__api_respond_errorf(resp, 400, "%s: too long", names[i]);
            return false;
        }
        if (rv == 1) {
            f->active = true;
            *ids[i] = fw_intern_find(in, fw_str_from(v));
            if (*ids[i] == FW_INTERN_NONE)
                f->impossible = true;
        }
    }
    return true;
}

/* Does the service node |n| (may be NULL: unknown) pass |f|? */
static bool filter_match(const api_filter *f, const fw_topo_node *n)
{
    if (!f->active)
        return true;
    if (f->impossible || !n || n->type != FW_NODE_SERVICE)
        return false;
    if (f->namespace_id && n->namespace_id != f->namespace_id)
        return false;
    if (f->environment_id && n->environment_id != f->environment_id)
        return false;
    return true;
}

static int snapshot_take(fw_topo *topo, fw_topo_snapshot *snap, node_index *ix)
{
    memset(snap, 0, sizeof(*snap));
    memset(ix, 0, sizeof(*ix));
    if (topo) {
        int rv = fw_topo_snapshot_get(topo, snap);
        if (rv)
            return rv;
    }
    return node_index_build(ix, snap);
}

static void snapshot_drop(fw_topo_snapshot *snap, node_index *ix)
{
    free(ix->order);
    ix->order = NULL;
    fw_topo_snapshot_free(snap);
}

/* ---- GET /api/v1/services ---- */

typedef struct services_ctx {
    const fw_intern *intern;
    const node_index *ix;
    const api_filter *filter;
    bool *listed; /* per snapshot node */
    double seconds;
    api_pieces pieces;
    int err;
} services_ctx;

static int render_service(services_ctx *c, fw_str name, const fw_topo_node *node,
                          const fw_red_totals *t)
{
    fw_buf *b = &c->pieces.buf;
    size_t off = piece_begin(&c->pieces);
    int rv = fw_buf_append_str(b, "{\"name\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"namespace\":");
    if (!rv)
        rv = append_intern_or_null(b, c->intern, node ? node->namespace_id : 0);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"environment\":");
    if (!rv)
        rv = append_intern_or_null(b, c->intern, node ? node->environment_id : 0);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = append_red(b, t, c->seconds, false);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return piece_end(&c->pieces, off, rv, name, FW_STR_NULL, 0);
}

static int visit_service(void *ctx, const fw_red_key *key, const fw_red_totals *t)
{
    services_ctx *c = ctx;
    fw_str name = series_name(c->intern, key->a);
    if (!name.ptr)
        return 0;
    long ni = key->a == FW_RED_OVERFLOW_ID ? -1 : node_find(c->ix, key->a);
    const fw_topo_node *node = ni >= 0 ? &c->ix->snap->nodes[ni] : NULL;
    if (!filter_match(c->filter, node))
        return 0;
    if (ni >= 0)
        c->listed[ni] = true;
    c->err = render_service(c, name, node, t);
    return c->err != 0;
}

void fw__api_route_services(fw_api *a, const fw_http_request *req, fw_str tail,
                            fw_http_response *resp)
{
    (void)tail;
    api_analytics an = analytics_load(a);
    api_range range;
    api_filter filter;
    if (!an.red || !an.intern) {
        fw__api_respond_error(resp, 503, "analytics not configured");
        return;
    }
    if (!fw__api_parse_range(a, req, resp, &range) || !parse_filter(req, an.intern, resp, &filter))
        return;

    fw_topo_snapshot snap;
    node_index ix;
    services_ctx c = {.intern = an.intern, .ix = &ix, .filter = &filter};
    c.seconds = (double)(range.to_ns - range.from_ns) / (double)NS_PER_S;
    pieces_init(&c.pieces, resp->body.max);
    fw_red_totals *zero = malloc(sizeof(*zero));
    int rv = snapshot_take(an.topo, &snap, &ix);
    if (!rv && !zero)
        rv = FW_ERR_NOMEM;
    if (!rv) {
        c.listed = calloc(snap.n_nodes ? snap.n_nodes : 1, sizeof(*c.listed));
        if (!c.listed)
            rv = FW_ERR_NOMEM;
    }
    if (!rv) {
        fw_red_foreach(an.red, FW_RED_SERVICE, range.from_ns, range.to_ns, visit_service, &c);
        rv = c.err;
    }
    /* Services seen in the window without entry spans of their own. */
    for (size_t i = 0; !rv && i < snap.n_nodes; i++) {
        const fw_topo_node *n = &snap.nodes[i];
        if (n->type != FW_NODE_SERVICE || c.listed[i] || n->last_seen_ns < range.from_ns ||
            n->first_seen_ns > range.to_ns || !filter_match(&filter, n))
            continue;
        fw_str name = fw_intern_str(an.intern, n->name);
        if (!name.ptr)
            continue;
        totals_zero(zero);
        rv = render_service(&c, name, n, zero);
    }

    fw_buf *b = &resp->body;
    bool truncated = false;
    if (!rv) {
        fw_buf_reset(b);
        rv = fw_buf_append(b, "{", 1);
    }
    if (!rv)
        rv = append_range(b, &range);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"services\":[");
    if (!rv && b->max > API_LIST_TAIL_RESERVE)
        rv = pieces_emit(&c.pieces, b, b->max - API_LIST_TAIL_RESERVE, &truncated);
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
    if (rv)
        respond_body_error(resp, rv);
    else
        respond_ok(resp);
    free(zero);
    free(c.listed);
    pieces_free(&c.pieces);
    snapshot_drop(&snap, &ix);
}

/* ---- GET /api/v1/topology ---- */

static const char *edge_kind_name(fw_edge_kind k)
{
    return k == FW_EDGE_MESSAGING ? "messaging" : "call";
}

static int render_node(api_pieces *p, const fw_intern *in, const fw_topo_node *n,
                       const fw_red_totals *t, double seconds)
{
    fw_str name = fw_intern_str(in, n->name);
    if (!name.ptr)
        return 0;
    fw_buf *b = &p->buf;
    size_t off = piece_begin(p);
    int rv = fw_buf_append_str(b, "{\"id\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"name\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, name);
    if (!rv)
        rv = fw_buf_printf(b, ",\"type\":\"%s\",\"namespace\":", fw_node_type_name(n->type));
    if (!rv)
        rv = append_intern_or_null(b, in, n->namespace_id);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"environment\":");
    if (!rv)
        rv = append_intern_or_null(b, in, n->environment_id);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = append_red(b, t, seconds, false);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return piece_end(p, off, rv, name, FW_STR_NULL, 0);
}

static int render_edge(api_pieces *p, const fw_intern *in, const fw_topo_edge *e,
                       const fw_red_totals *t, double seconds)
{
    fw_str src = fw_intern_str(in, e->source), dst = fw_intern_str(in, e->target);
    if (!src.ptr || !dst.ptr)
        return 0;
    fw_buf *b = &p->buf;
    size_t off = piece_begin(p);
    int rv = fw_buf_append_str(b, "{\"source\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, src);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"target\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, dst);
    if (!rv)
        rv = fw_buf_printf(b, ",\"kind\":\"%s\",", edge_kind_name(e->kind));
    if (!rv)
        rv = append_red(b, t, seconds, true);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return piece_end(p, off, rv, src, dst, (int)e->kind);
}

/* Is the edge |si| -> |ti| shown under |f|? One end must be a matching
 * service, the other a matching service or a virtual node. */
static bool edge_shown(const api_filter *f, const fw_topo_node *s, const fw_topo_node *t)
{
    if (!f->active)
        return true;
    bool sm = filter_match(f, s), tm = filter_match(f, t);
    bool sv = s->type != FW_NODE_SERVICE, tv = t->type != FW_NODE_SERVICE;
    return (sm && (tm || tv)) || (tm && sv);
}

typedef struct topo_work {
    bool *touched;          /* per node: a shown edge ends there */
    fw_red_totals **inflow; /* per virtual node: sum of shown incoming edges */
    fw_red_totals *t;       /* scratch */
} topo_work;

static int topo_edges(const api_analytics *an, const fw_topo_snapshot *snap,
                      const node_index *ix, const api_filter *f, const api_range *r,
                      double seconds, topo_work *w, api_pieces *edges)
{
    for (size_t i = 0; i < snap->n_edges; i++) {
        const fw_topo_edge *e = &snap->edges[i];
        long si = node_find(ix, e->source), ti = node_find(ix, e->target);
        if (si < 0 || ti < 0 || !edge_shown(f, &snap->nodes[si], &snap->nodes[ti]))
            continue;
        fw_red_key key = {FW_RED_EDGE, 0, e->source, e->target};
        if (fw_red_query(an->red, &key, r->from_ns, r->to_ns, w->t) != 0)
            continue; /* no data in the window */
        w->touched[si] = w->touched[ti] = true;
        if (snap->nodes[ti].type != FW_NODE_SERVICE) {
            if (!w->inflow[ti]) {
                w->inflow[ti] = malloc(sizeof(fw_red_totals));
                if (!w->inflow[ti])
                    return FW_ERR_NOMEM;
                totals_zero(w->inflow[ti]);
            }
            totals_merge(w->inflow[ti], w->t);
        }
        int rv = render_edge(edges, an->intern, e, w->t, seconds);
        if (rv)
            return rv;
    }
    return 0;
}

static int topo_nodes(const api_analytics *an, const fw_topo_snapshot *snap,
                      const api_filter *f, const api_range *r, double seconds, topo_work *w,
                      api_pieces *nodes)
{
    for (size_t i = 0; i < snap->n_nodes; i++) {
        const fw_topo_node *n = &snap->nodes[i];
        const fw_red_totals *t = w->t;
        if (n->type == FW_NODE_SERVICE) {
            if (!filter_match(f, n))
                continue;
            fw_red_key key = {FW_RED_SERVICE, 0, n->name, 0};
            bool has = fw_red_query(an->red, &key, r->from_ns, r->to_ns, w->t) == 0;
            if (!has && !w->touched[i])
                continue;
        } else {
            if (!w->touched[i])
                continue;
            if (w->inflow[i]) {
                t = w->inflow[i];
            } else {
                totals_zero(w->t);
            }
        }
        int rv = render_node(nodes, an->intern, n, t, seconds);
        if (rv)
            return rv;
    }
    return 0;
}

void fw__api_route_topology(fw_api *a, const fw_http_request *req, fw_str tail,
                            fw_http_response *resp)
{
    (void)tail;
    api_analytics an = analytics_load(a);
    api_range range;
    api_filter filter;
    if (!an.red || !an.intern || !an.topo) {
        fw__api_respond_error(resp, 503, "analytics not configured");
        return;
    }
    if (!fw__api_parse_range(a, req, resp, &range) || !parse_filter(req, an.intern, resp, &filter))
        return;
    double seconds = (double)(range.to_ns - range.from_ns) / (double)NS_PER_S;

    fw_topo_snapshot snap;
    node_index ix;
    topo_work w = {NULL, NULL, NULL};
    api_pieces nodes, edges;
    pieces_init(&nodes, resp->body.max);
    pieces_init(&edges, resp->body.max);
    int rv = snapshot_take(an.topo, &snap, &ix);
    if (!rv) {
        size_t nn = snap.n_nodes ? snap.n_nodes : 1;
        w.touched = calloc(nn, sizeof(*w.touched));
        w.inflow = calloc(nn, sizeof(*w.inflow));
        w.t = malloc(sizeof(*w.t));
        if (!w.touched || !w.inflow || !w.t)
            rv = FW_ERR_NOMEM;
    }
    if (!rv)
        rv = topo_edges(&an, &snap, &ix, &filter, &range, seconds, &w, &edges);
    if (!rv)
        rv = topo_nodes(&an, &snap, &filter, &range, seconds, &w, &nodes);

    fw_buf *b = &resp->body;
    bool truncated = false;
    if (!rv) {
        fw_buf_reset(b);
        rv = fw_buf_append(b, "{", 1);
    }
    if (!rv)
        rv = append_range(b, &range);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"nodes\":[");
    /* Nodes may take at most what leaves room for the edges' closing. */
    if (!rv && b->max > 2u * API_LIST_TAIL_RESERVE)
        rv = pieces_emit(&nodes, b, b->max - 2u * API_LIST_TAIL_RESERVE, &truncated);
    if (!rv)
        rv = fw_buf_append_str(b, "],\"edges\":[");
    if (!rv && !truncated && b->max > API_LIST_TAIL_RESERVE)
        rv = pieces_emit(&edges, b, b->max - API_LIST_TAIL_RESERVE, &truncated);
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
    if (rv)
        respond_body_error(resp, rv);
    else
        respond_ok(resp);

    for (size_t i = 0; w.inflow && i < snap.n_nodes; i++)
        free(w.inflow[i]);
    free(w.inflow);
    free(w.touched);
    free(w.t);
    pieces_free(&nodes);
    pieces_free(&edges);
    snapshot_drop(&snap, &ix);
}

/* ---- shared by the per-service endpoints ---- */

/* Is |id| a service: a topology service node, or a service RED series
 * with data at any time held? */
static bool service_known(const api_analytics *an, const node_index *ix, uint32_t id,
                          fw_red_totals *scratch)
{
    long ni = node_find(ix, id);
    if (ni >= 0)
        return ix->snap->nodes[ni].type == FW_NODE_SERVICE;
    fw_red_key key = {FW_RED_SERVICE, 0, id, 0};
    return fw_red_query(an->red, &key, 0, UINT64_MAX, scratch) == 0;
}

/* ---- GET /api/v1/services/{name}/operations ---- */

typedef struct operations_ctx {
    const fw_intern *intern;
    uint32_t service;
    double seconds;
    api_pieces pieces;
    int err;
} operations_ctx;

static int visit_operation(void *ctx, const fw_red_key *key, const fw_red_totals *t)
{
    operations_ctx *c = ctx;
    if (key->a != c->service)
        return 0;
    fw_str name = series_name(c->intern, key->b);
    if (!name.ptr)
        return 0;
    fw_buf *b = &c->pieces.buf;
    size_t off = piece_begin(&c->pieces);
    int rv = fw_buf_append_str(b, "{\"name\":");
    if (!rv)
        rv = fw__api_append_fw_str(b, name);
    if (!rv)
        rv = fw_buf_printf(b, ",\"kind\":\"%s\",",
                           fw__api_span_kind_name((fw_span_kind)key->span_kind));
    if (!rv)
        rv = append_red(b, t, c->seconds, false);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    c->err = piece_end(&c->pieces, off, rv, name, FW_STR_NULL, key->span_kind);
    return c->err != 0;
}

static void route_operations(fw_api *a, const fw_http_request *req, const char *service,
                             fw_http_response *resp)
{
    api_analytics an = analytics_load(a);
    api_range range;
    if (!an.red || !an.intern) {
        fw__api_respond_error(resp, 503, "analytics not configured");
        return;
    }
    if (!fw__api_parse_range(a, req, resp, &range))
        return;

    fw_topo_snapshot snap;
    node_index ix;
    operations_ctx c = {.intern = an.intern};
    c.seconds = (double)(range.to_ns - range.from_ns) / (double)NS_PER_S;
    pieces_init(&c.pieces, resp->body.max);
    fw_red_totals *scratch = malloc(sizeof(*scratch));
    int rv = snapshot_take(an.topo, &snap, &ix);
    if (!rv && !scratch)
        rv = FW_ERR_NOMEM;
    if (rv) {
        respond_body_error(resp, rv);
        goto out;
    }
    c.service = fw_intern_find(an.intern, fw_str_from(service));
    if (c.service == FW_INTERN_NONE || !service_known(&an, &ix, c.service, scratch)) {
        fw__api_respond_error(resp, 404, "service not found");
        goto out;
    }
    fw_red_foreach(an.red, FW_RED_OPERATION, range.from_ns, range.to_ns, visit_operation, &c);
    rv = c.err;

    fw_buf *b = &resp->body;
    bool truncated = false;
    if (!rv) {
        fw_buf_reset(b);
        rv = fw_buf_append_str(b, "{\"service\":");
    }
    if (!rv)
        rv = fw_buf_append_json_str(b, service, strlen(service));
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = append_range(b, &range);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"operations\":[");
    if (!rv && b->max > API_LIST_TAIL_RESERVE)
        rv = pieces_emit(&c.pieces, b, b->max - API_LIST_TAIL_RESERVE, &truncated);
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
    if (rv)
        respond_body_error(resp, rv);
    else
        respond_ok(resp);
out:
    free(scratch);
    pieces_free(&c.pieces);
    snapshot_drop(&snap, &ix);
}

void fw__api_route_service_sub(fw_api *a, const fw_http_request *req, fw_str tail,
                               fw_http_response *resp)
{
    static const char SUFFIX[] = "/operations";
    size_t sl = sizeof(SUFFIX) - 1;
    char name[API_NAME_MAX];
    if (tail.len <= sl || memcmp(tail.ptr + tail.len - sl, SUFFIX, sl) != 0 ||
        memchr(tail.ptr, '/', tail.len - sl)) {
        fw__api_respond_error(resp, 404, "not found");
        return;
    }
    if (!fw__api_percent_decode((fw_str){tail.ptr, tail.len - sl}, name, sizeof(name))) {
        fw__api_respond_error(resp, 400, "name: bad percent-encoding or too long");
        return;
    }
    route_operations(a, req, name, resp);
}

/* ---- GET /api/v1/red ---- */

/* One line of the series: the service series, or one span kind of an
 * operation. */
typedef struct red_series_set {
    fw_red_key keys[6];
    size_t n;
} red_series_set;

typedef struct red_step_params {
    uint64_t start_ns; /* from, aligned down to 10 s */
    uint64_t end_ns;   /* to (exclusive) */
    uint64_t step_ns;
    uint64_t points;
} red_step_params;

static bool parse_red_step(const fw_http_request *req, fw_http_response *resp,
                           const api_range *r, red_step_params *sp)
{
    char step[32];
    sp->start_ns = r->from_ns - r->from_ns % FW_RED_BUCKET_NS;
    sp->end_ns = r->to_ns;
    uint64_t span = sp->end_ns - sp->start_ns;
    int has = fw__api_query_param(req, "step", step, sizeof(step));
    if (has < 0 || (has == 1 && (!fw__api_parse_duration(step, &sp->step_ns) ||
                                 sp->step_ns % FW_RED_BUCKET_NS != 0))) {
        fw__api_respond_error(resp, 400,
                              "step: must be a multiple of 10 s (e.g. 10s, 60, 5m)");
        return false;
    }
    if (has != 1) {
        uint64_t per = (span + API_RED_POINTS_TARGET - 1u) / API_RED_POINTS_TARGET;
        sp->step_ns = (per + FW_RED_BUCKET_NS - 1u) / FW_RED_BUCKET_NS * FW_RED_BUCKET_NS;
        if (sp->step_ns < FW_RED_BUCKET_NS)
            sp->step_ns = FW_RED_BUCKET_NS;
    }
    sp->points = (span - 1u) / sp->step_ns + 1u;
    if (sp->points > API_RED_POINTS_MAX) {
        fw__api_respond_errorf(resp, 400, "step: gives more than %u points; use a larger step",
                               API_RED_POINTS_MAX);
        return false;
    }
    return true;
}

static int render_points(const api_analytics *an, const red_series_set *set,
                         const red_step_params *sp, fw_buf *b, size_t soft_max,
                         bool *truncated)
{
    fw_red_totals *sum = malloc(sizeof(*sum));
    fw_red_totals *one = malloc(sizeof(*one));
    int rv = sum && one ? 0 : FW_ERR_NOMEM;
    double seconds = (double)sp->step_ns / (double)NS_PER_S;
    for (uint64_t i = 0; !rv && i < sp->points; i++) {
        uint64_t s = sp->start_ns + i * sp->step_ns;
        totals_zero(sum);
        for (size_t k = 0; k < set->n; k++)
            if (fw_red_query(an->red, &set->keys[k], s, s + sp->step_ns - 1u, one) == 0)
                totals_merge(sum, one);
        size_t mark = b->len;
        rv = fw_buf_append_str(b, i ? ",{" : "{");
        if (!rv)
            rv = fw__api_append_time(b, "t", s, false);
        if (!rv)
            rv = fw_buf_append(b, ",", 1);
        if (!rv)
            rv = append_red_fields(b, sum, seconds, false);
        if (!rv)
            rv = fw_buf_append(b, "}", 1);
        if (!rv && b->len > soft_max)
            rv = FW_ERR_TOO_LARGE;
        if (rv == FW_ERR_TOO_LARGE) {
            b->len = mark;
            *truncated = true;
            rv = 0;
            break;
        }
    }
    free(sum);
    free(one);
    return rv;
}

void fw__api_route_red(fw_api *a, const fw_http_request *req, fw_str tail,
                       fw_http_response *resp)
{
    (void)tail;
    api_analytics an = analytics_load(a);
    char service[API_NAME_MAX], operation[API_NAME_MAX];
    api_range range;
    api_filter filter;
    red_step_params sp;
    if (!an.red || !an.intern) {
        fw__api_respond_error(resp, 503, "analytics not configured");
        return;
    }
    int has_s = fw__api_query_param(req, "service", service, sizeof(service));
    if (has_s != 1) {
        fw__api_respond_error(resp, 400, has_s < 0 ? "service: too long" : "service: required");
        return;
    }
    int has_o = fw__api_query_param(req, "operation", operation, sizeof(operation));
    if (has_o < 0) {
        fw__api_respond_error(resp, 400, "operation: too long");
        return;
    }
    if (!fw__api_parse_range(a, req, resp, &range) || !parse_red_step(req, resp, &range, &sp) ||
        !parse_filter(req, an.intern, resp, &filter))
        return;

    fw_topo_snapshot snap;
    node_index ix;
    fw_red_totals *scratch = malloc(sizeof(*scratch));
    int rv = snapshot_take(an.topo, &snap, &ix);
    if (!rv && !scratch)
        rv = FW_ERR_NOMEM;
    if (rv) {
        respond_body_error(resp, rv);
        goto out;
    }
    uint32_t sid = fw_intern_find(an.intern, fw_str_from(service));
    if (sid == FW_INTERN_NONE || !service_known(&an, &ix, sid, scratch)) {
        fw__api_respond_error(resp, 404, "service not found");
        goto out;
    }
    long ni = node_find(&ix, sid);
    if (filter.active && !filter_match(&filter, ni >= 0 ? &snap.nodes[ni] : NULL)) {
        fw__api_respond_error(resp, 404, "service not found in that namespace/environment");
        goto out;
    }

    red_series_set set = {.n = 0};
    if (has_o != 1) {
        set.keys[set.n++] = (fw_red_key){FW_RED_SERVICE, 0, sid, 0};
    } else {
        uint32_t oid = fw_intern_find(an.intern, fw_str_from(operation));
        /* Only the span kinds holding data in the range are read per step. */
        for (uint8_t k = 0; oid != FW_INTERN_NONE && k <= FW_SPAN_KIND_CONSUMER; k++) {
            fw_red_key key = {FW_RED_OPERATION, k, sid, oid};
            if (fw_red_query(an.red, &key, sp.start_ns, sp.end_ns - 1u, scratch) == 0)
                set.keys[set.n++] = key;
        }
    }

    fw_buf *b = &resp->body;
    bool truncated = false;
    fw_buf_reset(b);
    rv = fw_buf_append_str(b, "{\"service\":");
    if (!rv)
        rv = fw_buf_append_json_str(b, service, strlen(service));
    if (!rv)
        rv = fw_buf_append_str(b, ",\"operation\":");
    if (!rv)
        rv = has_o == 1 ? fw_buf_append_json_str(b, operation, strlen(operation))
                        : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_printf(b, ",\"step_seconds\":%llu,",
                           (unsigned long long)(sp.step_ns / NS_PER_S));
    if (!rv)
        rv = fw__api_append_time(b, "from", sp.start_ns, false);
    if (!rv)
        rv = fw_buf_append(b, ",", 1);
    if (!rv)
        rv = fw__api_append_time(b, "to", sp.end_ns, false);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"points\":[");
    if (!rv && b->max > API_LIST_TAIL_RESERVE)
        rv = render_points(&an, &set, &sp, b, b->max - API_LIST_TAIL_RESERVE, &truncated);
    if (!rv)
        rv = fw_buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
    if (rv)
        respond_body_error(resp, rv);
    else
        respond_ok(resp);
out:
    free(scratch);
    snapshot_drop(&snap, &ix);
}

/* ---- /metrics ---- */

int fw__api_render_analytics_metrics(fw_api *a, fw_buf *b)
{
    api_analytics an = analytics_load(a);
    int rv = 0;
    if (an.red && an.intern) {
        fw_red_stats rs;
        fw_red_get_stats(an.red, &rs);
        const fw__api_metric_row rows[] = {
            {"flywheel_red_series", "gauge", "RED series held.", rs.series},
            {"flywheel_red_overflowed_total", "counter",
             "Observations folded into an overflow series by the cardinality cap.",
             rs.overflowed},
            {"flywheel_red_dropped_total", "counter", "Observations lost to the RED memory limit.",
             rs.dropped},
            {"flywheel_red_too_old_total", "counter",
             "Observations older than the RED retention, ignored.", rs.too_old},
            {"flywheel_red_memory_used_bytes", "gauge", "Bytes held by RED series and buckets.",
             rs.memory_used},
            {"flywheel_red_evicted_buckets_total", "counter",
             "RED time buckets dropped to stay under the memory limit.", rs.evicted_buckets},
        };
        rv = fw_red_render_prometheus(an.red, an.intern, b);
        if (!rv)
            rv = fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
    }
    if (!rv && an.topo) {
        fw_topo_stats ts;
        fw_topo_get_stats(an.topo, &ts);
        const fw__api_metric_row rows[] = {
            {"flywheel_topology_nodes", "gauge", "Topology nodes (services and virtual nodes).",
             ts.nodes},
            {"flywheel_topology_edges", "gauge", "Topology edges.", ts.edges},
            {"flywheel_topology_joins_total", "counter",
             "Client spans joined with the server span they parent.", ts.joins},
            {"flywheel_topology_virtual_calls_total", "counter",
             "Client spans attributed to virtual nodes.", ts.virtual_calls},
            {"flywheel_topology_pending_spans", "gauge", "Spans waiting for their join.",
             ts.pending},
            {"flywheel_topology_pending_evicted_total", "counter",
             "Spans flushed before their wait because the join table was full.",
             ts.pending_evicted},
            {"flywheel_topology_dropped_total", "counter",
             "Observations dropped by the node/edge caps.", ts.dropped},
            {"flywheel_topology_memory_used_bytes", "gauge", "Bytes held by the topology.",
             ts.memory_used},
        };
        rv = fw_topo_render_prometheus(an.topo, b);
        if (!rv)
            rv = fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
    }
    if (!rv && an.intern) {
        fw_intern_stats is;
        fw_intern_get_stats(an.intern, &is);
        const fw__api_metric_row rows[] = {
            {"flywheel_intern_strings", "gauge", "Strings held by the shared dictionary.",
             is.strings},
            {"flywheel_intern_memory_used_bytes", "gauge", "Bytes held by the shared dictionary.",
             is.bytes},
            {"flywheel_intern_refused_total", "counter",
             "Strings refused because the dictionary was full.", is.refused},
        };
        rv = fw__api_metric_rows(b, rows, sizeof rows / sizeof rows[0]);
    }
    return rv;
}
