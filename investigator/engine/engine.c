/* engine.c - the investigation analysis (SPEC 6.1, issue 6 steps 1-9): onset
 * by change point on the scoped RED series, impact against the baseline,
 * fault origin over failing traces, latency origin over slow traces,
 * deployments with a version split, throttling, traffic, log patterns, then
 * scored hypotheses, monitoring gaps and a timeline as one JSON object.
 * Read-only over its sources; copies what it needs out of store visitors and
 * never calls back into a source from one of its visitors. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flywheel/deploy.h"
#include "flywheel/hist.h"
#include "flywheel/intern.h"
#include "flywheel/investigate.h"
#include "flywheel/patterns.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/store.h"
#include "flywheel/topo.h"

#include "engine_internal.h"

/* Texts are cut to their bounded buffers on purpose (names are bounded
 * identifiers; a cut summary is still a summary). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define SEC 1000000000ull
#define MINUTE (60ull * SEC)
/* Bounds of one analysis (memory and time stay fixed whatever the data). */
/* How far before a late alarm the onset may be put when no change is found. */
#define ENG_LATE_ALARM_LOOKBACK_NS (5ull * 60ull * 1000000000ull)
#define ENG_MAX_STEPS 1000u       /* points of the scoped series */
#define ENG_MAX_TRACES 500u       /* failing traces walked per window */
#define ENG_SPAN_SCAN 20000u      /* spans scanned per store query */
#define ENG_TRACE_SPANS 1024u     /* spans of one trace kept for the walk */
#define ENG_MAX_GROUPS 64u        /* fault-origin groups */
#define ENG_MAX_SLOW 40u          /* slow / baseline traces for latency origin */
#define ENG_MAX_SELF 64u          /* self-time keys */
/* every group, deployment, latency and traffic candidate gets a slot, so
 * that many small background groups cannot starve the later kinds */
#define ENG_MAX_HYP (ENG_MAX_GROUPS + ENG_MAX_DEPLOYS + 4u)
#define ENG_MAX_EVID 5u
#define ENG_EXAMPLES 5u
#define ENG_MAX_DEPLOYS 32u
#define ENG_MAX_VERSIONS 8u
#define ENG_MAX_INSTANCES 16u
#define ENG_MAX_GAPS 8u
#define ENG_MAX_AFFECTED 16u
#define ENG_NAME 128
#define ENG_SPLIT_MIN_Z 3.0 /* a version split counts when its z statistic reaches this */
#define ENG_MAX_KNOWN 64u
#define ENG_MAX_ORIG_NAMES 32u /* services / versions seen at fault origins */
#define ENG_MAX_ORIG (2u * ENG_MAX_TRACES * 8u) /* fault-origin events kept */ /* callee names checked against the RED services */

enum { C_DEPLOYMENT, C_THROTTLING, C_DEPENDENCY, C_CODE, C_LATENCY, C_TRAFFIC };
static const char *const cause_names[] = {"deployment", "throttling", "dependency_failure",
                                          "code_error", "latency", "traffic_surge"};

/* ---- small helpers ---------------------------------------------------- */

static void copy_name(char *dst, size_t cap, fw_str s)
{
    size_t n = s.ptr ? s.len : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void copy_cstr(char *dst, size_t cap, const char *s)
{
    copy_name(dst, cap, fw_str_from(s));
}

static void fmt_time(uint64_t ns, char out[40])
{
    time_t secs = (time_t)(ns / SEC);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        copy_cstr(out, 40, "1970-01-01T00:00:00Z");
        return;
    }
    char base[32];
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) base[0] = '\0';
    snprintf(out, 40, "%s.%03uZ", base, (unsigned)((ns % SEC) / 1000000u));
}

static double ratio(double a, double b)
{
    return b > 0.0 ? a / b : 0.0;
}

static double clamp01(double v)
{
    if (!(v > 0.0)) return 0.0;
    return v > 1.0 ? 1.0 : v;
}

static double ns_span(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e9 : 1.0;
}

/* ---- JSON writer with a sticky error ---------------------------------- */

typedef struct jw {
    fw_buf *b;
    int rv;
} jw;

static void jraw(jw *w, const char *s)
{
    if (!w->rv) w->rv = fw_buf_append_str(w->b, s);
}

static void jstr(jw *w, const char *s)
{
    if (!w->rv) w->rv = fw_buf_append_json_str(w->b, s, strlen(s));
}

static void jkey(jw *w, const char *k)
{
    jstr(w, k);
    jraw(w, ":");
}

static void jkv_str(jw *w, const char *k, const char *v) /* "" -> null */
{
    jkey(w, k);
    if (v && v[0]) jstr(w, v);
    else jraw(w, "null");
}

static void jkv_num(jw *w, const char *k, double v)
{
    jkey(w, k);
    if (!isfinite(v)) v = 0.0;
    if (!w->rv) w->rv = fw_buf_printf(w->b, "%.6g", v);
}

static void jkv_time(jw *w, const char *k, uint64_t ns)
{
    char t[40];
    jkey(w, k);
    if (!ns) {
        jraw(w, "null");
        return;
    }
    fmt_time(ns, t);
    jstr(w, t);
}

/* ---- the analysis state ----------------------------------------------- */

typedef struct eng_span {
    uint8_t span_id[FW_SPAN_ID_LEN];
    uint8_t parent[FW_SPAN_ID_LEN];
    bool has_parent;
    uint8_t kind;
    bool fault, throttled, exc_event, status_error;
    bool has_child, child_fault; /* set by link_trace */
    double kids_us;              /* summed durations of its children */
    int32_t remote;              /* a call's child server span in another service, or -1 */
    uint64_t start, end;
    char service[ENG_NAME], op[ENG_NAME], dep[ENG_NAME], exc[ENG_NAME], version[64],
        instance[ENG_NAME];
    char message[ENG_NAME];
    char addr[ENG_NAME]; /* server.address (host) of a call */
} eng_span;

typedef struct eng_trace {
    eng_span *spans;
    size_t n;
    size_t dropped;
    const fw_throttle_rules *rules;
} eng_trace;

typedef struct name_count {
    char name[ENG_NAME];
    size_t count;
    uint64_t first; /* earliest time it was counted (0 = not tracked) */
} name_count;

typedef struct eng_group {
    char service[ENG_NAME], op[ENG_NAME], dep[ENG_NAME], exc[ENG_NAME], message[ENG_NAME];
    size_t traces[2];    /* [0] baseline, [1] window */
    size_t throttled[2];
    uint64_t first, last; /* window */
    size_t n_ex;
    uint8_t ex[ENG_EXAMPLES][FW_TRACE_ID_LEN];
    name_count inst[ENG_MAX_INSTANCES];
    size_t n_inst;
    name_count ver[ENG_MAX_VERSIONS];
    size_t n_ver;
    name_count callers[ENG_MAX_INSTANCES]; /* failed calls: who made them */
    size_t n_callers;
} eng_group;

typedef struct self_key {
    char service[ENG_NAME], dep[ENG_NAME];
    /* transit time of calls INTO |service|: a caller's client span less the
     * callee's server span (network, connection set-up, queueing before the
     * callee's handler runs), not the callee's own processing */
    bool transit;
    double self_us[2]; /* summed over the traces of [0] baseline, [1] slow */
    size_t n_ex;
    uint8_t ex[ENG_EXAMPLES][FW_TRACE_ID_LEN];
} self_key;

typedef struct eng_evid {
    const char *kind;
    char summary[400];
    double count;
    size_t n_ex;
    uint8_t ex[ENG_EXAMPLES][FW_TRACE_ID_LEN];
    uint64_t first, last;
} eng_evid;

typedef struct eng_hyp {
    int cause;
    double score;
    fw__score_terms terms;
    char service[ENG_NAME], op[ENG_NAME], dep[ENG_NAME], version[64], instance[ENG_NAME];
    char title[300];
    char what[1200];
    eng_evid ev[ENG_MAX_EVID];
    size_t n_ev;
    char actions[3][300];
    size_t n_actions;
    /* not rendered: the ranking's own bookkeeping */
    double split;          /* deployments: version split strength */
    char fault_ver[64];    /* code errors: the version most of its faults ran */
    double fault_ver_share; /* ... and the share of them it ran */
} eng_hyp;

typedef struct eng_deploy {
    char service[ENG_NAME], version[64], previous[64];
    uint64_t at;
    bool api;
} eng_deploy;

typedef struct eng_gap {
    char summary[200];
    char detail[600];
} eng_gap;

typedef struct eng {
    const fw_inv_sources *src;
    const fw_inv_request *req;
    fw_throttle_rules *rules;
    uint64_t from, to, onset;
    /* Start of the first step with requests (>= from): a server that has
     * just started, or a service that has just appeared, has no data
     * before it, which is not a lack of traffic. */
    uint64_t data_from;
    bool err_onset, lat_onset;
    bool lat_typical; /* the latency change is in the median, not the tail */
    fw__cp_result cp_err, cp_lat;
    /* impact */
    double req_w, fail_w, req_b, fail_b, p99_w, p99_b;
    char affected[ENG_MAX_AFFECTED][ENG_NAME];
    size_t n_affected;
    /* fault origin */
    eng_group groups[ENG_MAX_GROUPS];
    size_t n_groups;
    size_t failing_traces[2]; /* walked, [0] baseline [1] window */
    size_t exc_not_error;     /* spans with an exception event but no fault status */
    uint8_t exc_not_error_ex[FW_TRACE_ID_LEN];
    uint64_t first_error;
    /* latency origin */
    self_key self[ENG_MAX_SELF];
    size_t n_self;
    size_t slow_traces[2];
    /* changes */
    eng_deploy deploys[ENG_MAX_DEPLOYS];
    size_t n_deploys;
    /* results */
    eng_hyp hyps[ENG_MAX_HYP];
    size_t n_hyps;
    eng_gap gaps[ENG_MAX_GAPS];
    size_t n_gaps;
    eng_trace trace;
    /* names looked up as instrumented services (callee naming) */
    struct {
        char name[ENG_NAME];
        bool is_service;
    } known[ENG_MAX_KNOWN];
    size_t n_known;
    /* Fault origins of the walked traces, once per (trace, service,
     * version): which versions' own code or calls started failures, when. */
    char orig_svc[ENG_MAX_ORIG_NAMES][ENG_NAME];
    char orig_ver[ENG_MAX_ORIG_NAMES][64];
    size_t n_orig_svc, n_orig_ver;
    struct {
        uint64_t t;
        uint8_t svc, ver, which;
    } orig[ENG_MAX_ORIG];
    size_t n_orig;
} eng;

static void add_gap(eng *e, const char *summary, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_gap(eng *e, const char *summary, const char *fmt, ...)
{
    if (e->n_gaps >= ENG_MAX_GAPS) return;
    eng_gap *g = &e->gaps[e->n_gaps++];
    copy_cstr(g->summary, sizeof g->summary, summary);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->detail, sizeof g->detail, fmt, ap);
    va_end(ap);
}

/* ---- 1. onset --------------------------------------------------------- */

typedef struct series {
    size_t n;
    uint64_t step;
    double req[ENG_MAX_STEPS], err[ENG_MAX_STEPS];
    fw_hist lat[ENG_MAX_STEPS];
} series;

typedef struct series_ctx {
    series *s;
    uint64_t from;
} series_ctx;

static int series_point(void *ctx, uint64_t t, const fw_red_totals *tot)
{
    series_ctx *c = ctx;
    if (t < c->from) return 0;
    size_t i = (size_t)((t - c->from) / c->s->step);
    if (i >= c->s->n) return 0;
    c->s->req[i] += tot->requests;
    c->s->err[i] += tot->errors;
    fw_hist_merge(&c->s->lat[i], &tot->latency);
    return 0;
}

static uint32_t find_id(fw_intern *in, const char *s)
{
    return in ? fw_intern_find(in, fw_str_from(s)) : FW_INTERN_NONE;
}

/* Reads the scoped series (the service's entry series, or the operation
 * summed over span kinds) into |s|. Returns whether anything was found. */
static bool read_series(eng *e, series *s)
{
    uint64_t range = e->to - e->from;
    uint64_t step = FW_RED_BUCKET_NS;
    while (range / step >= ENG_MAX_STEPS) step += FW_RED_BUCKET_NS;
    s->step = step;
    s->n = (size_t)((range + step - 1) / step);
    if (s->n > ENG_MAX_STEPS) s->n = ENG_MAX_STEPS;
    for (size_t i = 0; i < s->n; i++) {
        s->req[i] = s->err[i] = 0.0;
        fw_hist_init(&s->lat[i]);
    }
    if (!e->src->red || !e->src->intern) return false;
    uint32_t sid = find_id(e->src->intern, e->req->service);
    if (!sid) return false;
    series_ctx c = {s, e->from};
    uint64_t end = e->from + (uint64_t)s->n * step;
    if (!e->req->operation[0]) {
        fw_red_key k = {.kind = FW_RED_SERVICE, .a = sid};
        if (fw_red_range(e->src->red, &k, e->from, end, step, series_point, &c) != 0) return false;
    } else {
        uint32_t oid = find_id(e->src->intern, e->req->operation);
        if (!oid) return false;
        for (uint8_t kind = 0; kind <= FW_SPAN_KIND_CONSUMER; kind++) {
            fw_red_key k = {.kind = FW_RED_OPERATION, .span_kind = kind, .a = sid, .b = oid};
            if (fw_red_range(e->src->red, &k, e->from, end, step, series_point, &c) != 0)
                return false;
        }
    }
    double total = 0.0;
    for (size_t i = 0; i < s->n; i++) total += s->req[i];
    return total > 0.0;
}

static void find_onset(eng *e, series *s, bool have)
{
    e->onset = 0;
    e->data_from = e->from;
    /* Steps with data; change-point segments are counted in them (a server
     * that started a minute ago has a few in a 30-minute range). */
    size_t with_data = 0;
    for (size_t i = 0; have && i < s->n; i++) {
        if (!(s->req[i] > 0.0)) continue;
        if (with_data++ == 0) e->data_from = e->from + (uint64_t)i * s->step;
    }
    if (have) {
        double x[ENG_MAX_STEPS], l[ENG_MAX_STEPS], m[ENG_MAX_STEPS];
        for (size_t i = 0; i < s->n; i++) {
            x[i] = ratio(s->err[i], s->req[i]);
            l[i] = fw_hist_quantile(&s->lat[i], 0.99) / 1000.0;
            m[i] = fw_hist_quantile(&s->lat[i], 0.50) / 1000.0;
        }
        size_t min_seg = with_data >= 30 ? 6 : 2;
        fw__engine_changepoint(x, s->req, s->n, min_seg, 0.02, 1.5, &e->cp_err);
        fw__engine_changepoint(l, s->req, s->n, min_seg, 20.0, 1.5, &e->cp_lat);
        if (!e->cp_lat.significant) {
            /* The tail may be owned by operations that are always slow (an
             * LLM call): a slowdown of the common path then shows in the
             * median only. */
            fw__cp_result med;
            fw__engine_changepoint(m, s->req, s->n, min_seg, 20.0, 1.5, &med);
            if (med.significant) {
                e->cp_lat = med;
                e->lat_typical = true;
            }
        }
        e->err_onset = e->cp_err.significant;
        e->lat_onset = e->cp_lat.significant;
        size_t split = SIZE_MAX;
        if (e->err_onset) split = e->cp_err.split;
        if (e->lat_onset && e->cp_lat.split < split) split = e->cp_lat.split;
        if (split != SIZE_MAX) e->onset = e->from + (uint64_t)split * s->step;
    }
    if (!e->onset) {
        /* No change found: the alarm time, else the middle of the range.
         * An alarm at the end of the data (a live alert, fired after its
         * rule's `for:`) would leave nothing to look at after it: the
         * change came before, so the onset is taken back to the middle of
         * the data, at most ENG_LATE_ALARM_LOOKBACK_NS before the alarm. */
        uint64_t alarm = e->req->alarm_at_ns;
        if (alarm > e->from && alarm < e->to) {
            e->onset = alarm;
            if (have && e->to - alarm < 2 * s->step && alarm > e->data_from) {
                uint64_t mid = e->data_from + (alarm - e->data_from) / 2;
                uint64_t floor = alarm > ENG_LATE_ALARM_LOOKBACK_NS + e->from
                                     ? alarm - ENG_LATE_ALARM_LOOKBACK_NS
                                     : e->from;
                e->onset = mid > floor ? mid : floor;
            }
        } else {
            e->onset = e->from + (e->to - e->from) / 2;
        }
    }
}

/* ---- 2. impact -------------------------------------------------------- */

typedef struct op_ctx {
    eng *e;
    uint32_t sid;
    fw_red_key keys[64];
    size_t n;
} op_ctx;

/* Keys only (fw_red_foreach_key): merging every operation's totals just to
 * list the keys was a large share of an investigation's time. */
static int op_visit(void *ctx, const fw_red_key *k)
{
    op_ctx *c = ctx;
    if (k->a != c->sid || k->span_kind == FW_SPAN_KIND_CLIENT ||
        k->span_kind == FW_SPAN_KIND_PRODUCER)
        return 0;
    if (c->n < 64) c->keys[c->n++] = *k;
    return 0;
}

static void impact(eng *e)
{
    if (!e->src->red || !e->src->intern) return;
    uint32_t sid = find_id(e->src->intern, e->req->service);
    if (!sid) return;
    fw_red_totals w, b;
    fw_red_key key = {.kind = FW_RED_SERVICE, .a = sid};
    /* An empty window leaves zero totals: fine for impact. */
    if (fw_red_query(e->src->red, &key, e->onset, e->to, &w) != 0) w.requests = 0.0;
    if (fw_red_query(e->src->red, &key, e->from, e->onset - 1, &b) != 0) b.requests = 0.0;
    if (e->req->operation[0]) {
        uint32_t oid = find_id(e->src->intern, e->req->operation);
        fw_red_totals tw, tb;
        memset(&w, 0, sizeof w);
        memset(&b, 0, sizeof b);
        fw_hist_init(&w.latency);
        fw_hist_init(&b.latency);
        for (uint8_t kind = 0; oid && kind <= FW_SPAN_KIND_CONSUMER; kind++) {
            fw_red_key k = {.kind = FW_RED_OPERATION, .span_kind = kind, .a = sid, .b = oid};
            if (fw_red_query(e->src->red, &k, e->onset, e->to, &tw) == 0) {
                w.requests += tw.requests;
                w.errors += tw.errors;
                fw_hist_merge(&w.latency, &tw.latency);
            }
            if (fw_red_query(e->src->red, &k, e->from, e->onset - 1, &tb) == 0) {
                b.requests += tb.requests;
                b.errors += tb.errors;
                fw_hist_merge(&b.latency, &tb.latency);
            }
        }
    }
    e->req_w = w.requests;
    e->fail_w = w.errors;
    e->p99_w = fw_hist_quantile(&w.latency, 0.99) / 1000.0;
    e->req_b = b.requests;
    e->fail_b = b.errors;
    e->p99_b = fw_hist_quantile(&b.latency, 0.99) / 1000.0;

    op_ctx *c = calloc(1, sizeof *c);
    if (!c) return;
    c->e = e;
    c->sid = sid;
    (void)fw_red_foreach_key(e->src->red, FW_RED_OPERATION, e->from, e->to, op_visit, c);
    for (size_t i = 0; i < c->n && e->n_affected < ENG_MAX_AFFECTED; i++) {
        fw_red_totals ow, ob;
        if (fw_red_query(e->src->red, &c->keys[i], e->onset, e->to, &ow) != 0) continue;
        if (fw_red_query(e->src->red, &c->keys[i], e->from, e->onset - 1, &ob) != 0)
            ob.requests = 0.0;
        double rw = ratio(ow.errors, ow.requests), rb = ratio(ob.errors, ob.requests);
        double lw = fw_hist_quantile(&ow.latency, 0.99), lb = fw_hist_quantile(&ob.latency, 0.99);
        bool err_rose = rw >= rb + 0.01 && rw >= 1.5 * rb && ow.errors >= 3.0;
        bool lat_rose = lb > 0.0 && lw >= 1.5 * lb && lw - lb >= 20000.0;
        if (!err_rose && !lat_rose) continue;
        fw_str name = fw_intern_str(e->src->intern, c->keys[i].b);
        bool dup = false;
        for (size_t j = 0; j < e->n_affected; j++)
            if (fw_str_eq(name, e->affected[j])) dup = true;
        if (!dup && name.ptr) copy_name(e->affected[e->n_affected++], ENG_NAME, name);
    }
    free(c);
}

/* ---- trace collection ------------------------------------------------- */

typedef struct tid_set {
    uint8_t (*ids)[FW_TRACE_ID_LEN];
    uint64_t *time; /* end time of the span that found it */
    uint64_t *dur;  /* its duration (slow-trace ranking) */
    size_t n, cap;
    bool entry_only;
    bool keep_slowest; /* replace the fastest when full */
} tid_set;

static bool span_is_entry(const fw_span *s)
{
    return s->kind == FW_SPAN_KIND_SERVER || s->kind == FW_SPAN_KIND_CONSUMER || !s->has_parent;
}

static int tid_visit(void *ctx, const fw_span *s)
{
    tid_set *t = ctx;
    if (t->entry_only && !span_is_entry(s)) return 0;
    uint64_t dur = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    for (size_t i = 0; i < t->n; i++) {
        if (memcmp(t->ids[i], s->trace_id, FW_TRACE_ID_LEN) == 0) {
            if (dur > t->dur[i]) t->dur[i] = dur;
            return 0;
        }
    }
    size_t slot = t->n;
    if (t->n >= t->cap) {
        if (!t->keep_slowest) return 1;
        size_t min = 0;
        for (size_t i = 1; i < t->n; i++)
            if (t->dur[i] < t->dur[min]) min = i;
        if (t->dur[min] >= dur) return 0;
        slot = min;
    } else {
        t->n++;
    }
    memcpy(t->ids[slot], s->trace_id, FW_TRACE_ID_LEN);
    t->time[slot] = s->end_ns;
    t->dur[slot] = dur;
    return 0;
}

static int tid_alloc(tid_set *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->ids = calloc(cap, sizeof *t->ids);
    t->time = calloc(cap, sizeof *t->time);
    t->dur = calloc(cap, sizeof *t->dur);
    t->cap = cap;
    if (!t->ids || !t->time || !t->dur) return FW_ERR_NOMEM;
    return 0;
}

static void tid_free(tid_set *t)
{
    free(t->ids);
    free(t->time);
    free(t->dur);
    memset(t, 0, sizeof *t);
}

static int trace_visit(void *ctx, const fw_span *s)
{
    eng_trace *t = ctx;
    if (t->n >= ENG_TRACE_SPANS) {
        t->dropped++;
        return 0;
    }
    eng_span *o = &t->spans[t->n++];
    fw_span_class cls;
    fw_semconv_span_classify(s, t->rules, &cls);
    memcpy(o->span_id, s->span_id, FW_SPAN_ID_LEN);
    memcpy(o->parent, s->parent_span_id, FW_SPAN_ID_LEN);
    o->has_parent = s->has_parent;
    o->kind = (uint8_t)s->kind;
    o->start = s->start_ns;
    o->end = s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
    o->status_error = s->status_code == FW_STATUS_ERROR;
    o->throttled = cls.is_throttled;
    /* A throttled call that failed (HTTP 429, RESOURCE_EXHAUSTED, a
     * throttling exception) is a client error by status code, but when its
     * caller fails because of it the refusal is where the fault starts: the
     * origin walk counts it as a fault, so that the throttled dependency is
     * blamed rather than the caller that surfaced it. */
    o->fault = cls.is_fault || (cls.is_throttled && (o->status_error || cls.is_client_error));
    o->exc_event = false;
    for (size_t i = 0; i < s->n_events; i++)
        if (fw_str_eq(s->events[i].name, "exception")) o->exc_event = true;
    copy_name(o->service, ENG_NAME, s->resource->service_name);
    copy_name(o->version, sizeof o->version, s->resource->service_version);
    copy_name(o->op, ENG_NAME, s->name);
    copy_name(o->dep, ENG_NAME, cls.dep_name);
    copy_name(o->exc, ENG_NAME, cls.exception_type.ptr ? cls.exception_type : cls.error_type);
    copy_name(o->message, ENG_NAME,
              cls.exception_message.ptr ? cls.exception_message : s->status_message);
    copy_name(o->instance, ENG_NAME, cls.instance);
    copy_name(o->addr, ENG_NAME, cls.server_address);
    return 0;
}

/* Parent/child relations of the loaded trace in O(n): an open-addressing
 * table of span ids (twice the span cap, so it never fills). */
#define ENG_LINK_SLOTS (2u * ENG_TRACE_SPANS)
static void link_trace(eng_trace *t)
{
    int32_t slot[ENG_LINK_SLOTS];
    for (size_t i = 0; i < ENG_LINK_SLOTS; i++) slot[i] = -1;
    for (size_t i = 0; i < t->n; i++) {
        eng_span *s = &t->spans[i];
        s->has_child = s->child_fault = false;
        s->kids_us = 0.0;
        s->remote = -1;
        uint64_t h;
        memcpy(&h, s->span_id, sizeof h);
        size_t k = (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) % ENG_LINK_SLOTS;
        while (slot[k] >= 0) k = (k + 1) % ENG_LINK_SLOTS;
        slot[k] = (int32_t)i;
    }
    for (size_t i = 0; i < t->n; i++) {
        eng_span *c = &t->spans[i];
        if (!c->has_parent) continue;
        uint64_t h;
        memcpy(&h, c->parent, sizeof h);
        size_t k = (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) % ENG_LINK_SLOTS;
        for (; slot[k] >= 0; k = (k + 1) % ENG_LINK_SLOTS) {
            eng_span *p = &t->spans[slot[k]];
            if ((size_t)slot[k] == i || memcmp(p->span_id, c->parent, FW_SPAN_ID_LEN) != 0)
                continue;
            p->has_child = true;
            if (c->fault) p->child_fault = true;
            p->kids_us += (double)(c->end - c->start) / 1000.0;
            if ((p->kind == FW_SPAN_KIND_CLIENT || p->kind == FW_SPAN_KIND_PRODUCER) &&
                (c->kind == FW_SPAN_KIND_SERVER || c->kind == FW_SPAN_KIND_CONSUMER) &&
                strcmp(p->service, c->service) != 0)
                p->remote = (int32_t)i;
        }
    }
}

static size_t load_trace(eng *e, const uint8_t *tid)
{
    e->trace.n = 0;
    e->trace.dropped = 0;
    size_t n = fw_store_get_trace(e->src->store, tid, trace_visit, &e->trace);
    link_trace(&e->trace);
    return n;
}

/* ---- 3. fault origin -------------------------------------------------- */

static void bump_at(name_count *arr, size_t *n, size_t cap, const char *name, uint64_t t)
{
    if (!name[0]) return;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(arr[i].name, name) == 0) {
            arr[i].count++;
            if (t && (!arr[i].first || t < arr[i].first)) arr[i].first = t;
            return;
        }
    }
    if (*n < cap) {
        copy_cstr(arr[*n].name, ENG_NAME, name);
        arr[*n].first = t;
        arr[(*n)++].count = 1;
    }
}

static void bump(name_count *arr, size_t *n, size_t cap, const char *name)
{
    bump_at(arr, n, cap, name, 0);
}

static eng_group *group_get(eng *e, const char *svc, const char *op, const char *dep,
                            const char *exc)
{
    for (size_t i = 0; i < e->n_groups; i++) {
        eng_group *g = &e->groups[i];
        /* Failed calls group by the dependency alone: a callee failing
         * for several callers is one fault, however each caller names its
         * exception. */
        if (dep[0] ? !strcmp(g->dep, dep)
                   : !g->dep[0] && !strcmp(g->service, svc) && !strcmp(g->op, op) &&
                         !strcmp(g->exc, exc))
            return g;
    }
    if (e->n_groups >= ENG_MAX_GROUPS) return NULL;
    eng_group *g = &e->groups[e->n_groups++];
    memset(g, 0, sizeof *g);
    copy_cstr(g->service, ENG_NAME, svc);
    copy_cstr(g->op, ENG_NAME, op);
    copy_cstr(g->dep, ENG_NAME, dep);
    copy_cstr(g->exc, ENG_NAME, exc);
    return g;
}

/* The fault origins of the loaded trace: faulting spans none of whose
 * children fault. A faulting CLIENT/PRODUCER span with no child span is a
 * failed call: its dependency (dep_name) is blamed. Each group counts once
 * per trace. */
/* Whether |name| is an instrumented service: it has a RED service series
 * in the analysed range. Cached per investigation. */
static bool known_service(eng *e, const char *name)
{
    if (!name[0] || !e->src->red || !e->src->intern) return false;
    for (size_t i = 0; i < e->n_known; i++)
        if (!strcmp(e->known[i].name, name)) return e->known[i].is_service;
    bool yes = false;
    uint32_t sid = find_id(e->src->intern, name);
    fw_red_totals t;
    fw_red_key k = {.kind = FW_RED_SERVICE, .a = sid};
    if (sid && fw_red_query(e->src->red, &k, e->from, e->to, &t) == 0 && t.requests > 0.0)
        yes = true;
    if (e->n_known < ENG_MAX_KNOWN) {
        copy_cstr(e->known[e->n_known].name, ENG_NAME, name);
        e->known[e->n_known++].is_service = yes;
    }
    return yes;
}

/* The callee of a failed call with no child span: its dependency name, or
 * the instrumented service its server.address names when that differs (a
 * gRPC call names the callee by rpc.service, e.g. "driver.DriverService",
 * while the service that stopped answering is "driver"). */
static const char *callee_name(eng *e, const eng_span *s)
{
    if (s->addr[0] && strcmp(s->addr, s->dep) != 0 && strcmp(s->addr, s->service) != 0 &&
        known_service(e, s->addr))
        return s->addr;
    return s->dep;
}

/* Index of |name| in a small name table, added when missing; -1 when full. */
static int name_index(char (*tab)[ENG_NAME], size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(tab[i], name)) return (int)i;
    if (*n >= ENG_MAX_ORIG_NAMES) return -1;
    copy_cstr(tab[*n], ENG_NAME, name);
    return (int)(*n)++;
}

static int ver_index(eng *e, const char *v)
{
    for (size_t i = 0; i < e->n_orig_ver; i++)
        if (!strcmp(e->orig_ver[i], v)) return (int)i;
    if (e->n_orig_ver >= ENG_MAX_ORIG_NAMES) return -1;
    copy_cstr(e->orig_ver[e->n_orig_ver], sizeof e->orig_ver[0], v);
    return (int)e->n_orig_ver++;
}

/* Records a fault origin of |s| once per trace (|seen| holds the pairs
 * recorded for the current trace). */
static void orig_record(eng *e, const eng_span *s, int which, uint16_t *seen, size_t *n_seen)
{
    int si = name_index(e->orig_svc, &e->n_orig_svc, s->service);
    int vi = ver_index(e, s->version);
    if (si < 0 || vi < 0 || e->n_orig >= ENG_MAX_ORIG) return;
    uint16_t key = (uint16_t)(si << 8 | vi);
    for (size_t k = 0; k < *n_seen; k++)
        if (seen[k] == key) return;
    if (*n_seen < 16) seen[(*n_seen)++] = key;
    e->orig[e->n_orig].t = s->end;
    e->orig[e->n_orig].svc = (uint8_t)si;
    e->orig[e->n_orig].ver = (uint8_t)vi;
    e->orig[e->n_orig++].which = (uint8_t)which;
}

/* Failures that START in |service| (its own code or its failed calls) on
 * |version| (or on every other version, |others|) in [lo, hi), scaled from
 * the walked samples back to the failing requests RED counted. */
static double own_faults(const eng *e, const char *service, const char *version, bool others,
                         uint64_t lo, uint64_t hi)
{
    double scale[2];
    for (int w = 0; w < 2; w++) {
        double walked = (double)e->failing_traces[w];
        double failed = w ? e->fail_w : e->fail_b;
        scale[w] = walked > 0.0 && failed > walked ? failed / walked : 1.0;
    }
    double n = 0.0;
    for (size_t i = 0; i < e->n_orig; i++) {
        if (e->orig[i].t < lo || e->orig[i].t >= hi) continue;
        if (strcmp(e->orig_svc[e->orig[i].svc], service) != 0) continue;
        bool same = !strcmp(e->orig_ver[e->orig[i].ver], version);
        if (same == others) continue;
        n += scale[e->orig[i].which ? 1 : 0];
    }
    return n;
}

static void walk_failing_trace(eng *e, const uint8_t *tid, int which)
{
    eng_trace *t = &e->trace;
    eng_group *seen[16];
    size_t n_seen = 0;
    uint16_t oseen[16];
    size_t n_oseen = 0;
    for (size_t i = 0; i < t->n; i++) {
        eng_span *s = &t->spans[i];
        if (which == 1 && s->exc_event && !s->fault && !s->status_error) {
            if (!e->exc_not_error) memcpy(e->exc_not_error_ex, tid, FW_TRACE_ID_LEN);
            e->exc_not_error++;
        }
        if (!s->fault || s->child_fault) continue;
        orig_record(e, s, which, oseen, &n_oseen);
        bool call = s->kind == FW_SPAN_KIND_CLIENT || s->kind == FW_SPAN_KIND_PRODUCER;
        const char *dep = call && !s->has_child ? callee_name(e, s) : "";
        eng_group *g = group_get(e, s->service, s->op, dep, s->exc);
        if (!g) continue;
        if (dep[0]) bump(g->callers, &g->n_callers, ENG_MAX_INSTANCES, s->service);
        bool dup = false;
        for (size_t k = 0; k < n_seen; k++)
            if (seen[k] == g) dup = true;
        if (dup) continue;
        if (n_seen < 16) seen[n_seen++] = g;
        g->traces[which]++;
        if (s->throttled) g->throttled[which]++;
        if (which == 1) {
            if (!g->first || s->end < g->first) g->first = s->end;
            if (s->end > g->last) g->last = s->end;
            if (!e->first_error || s->end < e->first_error) e->first_error = s->end;
            if (g->n_ex < ENG_EXAMPLES) memcpy(g->ex[g->n_ex++], tid, FW_TRACE_ID_LEN);
            if (!g->message[0]) copy_cstr(g->message, ENG_NAME, s->message);
            bump(g->inst, &g->n_inst, ENG_MAX_INSTANCES, s->instance);
            bump_at(g->ver, &g->n_ver, ENG_MAX_VERSIONS, s->version, s->end);
        }
    }
}

static int fault_origin(eng *e)
{
    if (!e->src->store) return 0;
    tid_set ts;
    int rv = tid_alloc(&ts, ENG_MAX_TRACES);
    if (rv) goto out;
    for (int which = 0; which < 2; which++) {
        ts.n = 0;
        fw_span_query q = {.service = e->req->service,
                           .operation = e->req->operation[0] ? e->req->operation : NULL,
                           .kind = -1,
                           .errors_only = true,
                           .from_ns = which ? e->onset : e->from,
                           .to_ns = which ? e->to : e->onset - 1,
                           .limit = ENG_SPAN_SCAN};
        (void)fw_store_find_spans(e->src->store, &q, tid_visit, &ts);
        for (size_t i = 0; i < ts.n; i++) {
            if (load_trace(e, ts.ids[i]) == 0) continue;
            walk_failing_trace(e, ts.ids[i], which);
        }
        e->failing_traces[which] = ts.n;
    }
out:
    tid_free(&ts);
    return rv;
}

/* ---- 4. latency origin ------------------------------------------------ */

static self_key *self_get(eng *e, const char *svc, const char *dep, bool transit)
{
    for (size_t i = 0; i < e->n_self; i++)
        if (!strcmp(e->self[i].service, svc) && !strcmp(e->self[i].dep, dep) &&
            e->self[i].transit == transit)
            return &e->self[i];
    if (e->n_self >= ENG_MAX_SELF) return NULL;
    self_key *k = &e->self[e->n_self++];
    memset(k, 0, sizeof *k);
    copy_cstr(k->service, ENG_NAME, svc);
    copy_cstr(k->dep, ENG_NAME, dep);
    k->transit = transit;
    return k;
}

/* Exclusive time of each span of the loaded trace (its duration less the
 * union of its children, approximated by their clipped sum), by service,
 * or by dependency for a call with no child span. The exclusive time of a
 * call answered by a server span of another service is the call's transit
 * (client span less server span: the network both ways, connecting,
 * queueing in front of the callee's handler); it is kept apart, on the
 * callee, since it is neither the caller's work nor the callee's code (the
 * same gap, measured on two hosts' clocks, is immune to their skew). */
static void self_times(eng *e, const uint8_t *tid, int which)
{
    eng_trace *t = &e->trace;
    for (size_t i = 0; i < t->n; i++) {
        eng_span *s = &t->spans[i];
        double dur = (double)(s->end - s->start) / 1000.0;
        bool has_child = s->has_child;
        double self = dur - s->kids_us;
        if (self < 0.0) self = 0.0;
        bool call = s->kind == FW_SPAN_KIND_CLIENT || s->kind == FW_SPAN_KIND_PRODUCER;
        self_key *k = call && s->remote >= 0
                          ? self_get(e, t->spans[s->remote].service, "", true)
                          : self_get(e, s->service, call && !has_child ? callee_name(e, s) : "",
                                     false);
        if (!k) continue;
        k->self_us[which] += self;
        if (which == 1 && k->n_ex < ENG_EXAMPLES && self > 0.0) {
            bool dup = false;
            for (size_t x = 0; x < k->n_ex; x++)
                if (!memcmp(k->ex[x], tid, FW_TRACE_ID_LEN)) dup = true;
            if (!dup) memcpy(k->ex[k->n_ex++], tid, FW_TRACE_ID_LEN);
        }
    }
}

static int latency_origin(eng *e)
{
    if (!e->src->store) return 0;
    tid_set ts;
    int rv = tid_alloc(&ts, ENG_MAX_SLOW);
    if (rv) goto out;
    ts.entry_only = true;
    /* A tail change: the slowest traces; a median change: a typical sample
     * (the slowest are then the always-slow operations). */
    ts.keep_slowest = !e->lat_typical;
    for (int which = 0; which < 2; which++) {
        ts.n = 0;
        fw_span_query q = {.service = e->req->service,
                           .operation = e->req->operation[0] ? e->req->operation : NULL,
                           .kind = -1,
                           .from_ns = which ? e->onset : e->from,
                           .to_ns = which ? e->to : e->onset - 1,
                           .limit = ENG_SPAN_SCAN};
        (void)fw_store_find_spans(e->src->store, &q, tid_visit, &ts);
        for (size_t i = 0; i < ts.n; i++) {
            if (load_trace(e, ts.ids[i]) == 0) continue;
            self_times(e, ts.ids[i], which);
        }
        e->slow_traces[which] = ts.n;
    }
out:
    tid_free(&ts);
    return rv;
}

/* ---- 5. changes ------------------------------------------------------- */

static int deploy_visit(void *ctx, const fw_deployment *d)
{
    eng *e = ctx;
    if (e->n_deploys >= ENG_MAX_DEPLOYS) return 1;
    eng_deploy *o = &e->deploys[e->n_deploys++];
    copy_cstr(o->service, ENG_NAME, d->service);
    copy_cstr(o->version, sizeof o->version, d->version);
    copy_cstr(o->previous, sizeof o->previous, d->previous_version ? d->previous_version : "");
    o->at = d->timestamp_ns;
    o->api = d->source == FW_DEPLOY_SOURCE_API;
    return 0;
}

typedef struct ver_stat {
    char version[64];
    double requests, faults;
    fw_hist lat;
} ver_stat;

typedef struct split_ctx {
    ver_stat v[ENG_MAX_INSTANCES];
    size_t n;
    bool by_instance; /* split by instance instead of service.version */
    const fw_throttle_rules *rules;
} split_ctx;

static int split_visit(void *ctx, const fw_span *s)
{
    split_ctx *c = ctx;
    if (!span_is_entry(s)) return 0;
    fw_span_class cls;
    fw_semconv_span_classify(s, c->rules, &cls);
    fw_str key = c->by_instance ? cls.instance : s->resource->service_version;
    size_t i = 0;
    while (i < c->n && !fw_str_eq(key, c->v[i].version)) i++;
    if (i == c->n) {
        if (c->n >= ENG_MAX_INSTANCES) return 0;
        copy_name(c->v[i].version, sizeof c->v[i].version, key);
        c->v[i].requests = c->v[i].faults = 0.0;
        fw_hist_init(&c->v[i].lat);
        c->n++;
    }
    c->v[i].requests += 1.0;
    if (cls.is_fault) c->v[i].faults += 1.0;
    fw_hist_record(&c->v[i].lat, fw_hist_duration_us(s->start_ns, s->end_ns), 1);
    return 0;
}

/* Error rate and p99 of |version| (or instance, |by_instance|) against every
 * other version (instance) of |service| in the incident window; returns how
 * many distinct ones served. */
static size_t service_split_range(eng *e, const char *service, const char *version,
                                  bool by_instance, uint64_t from, uint64_t to, ver_stat *nv,
                                  ver_stat *old)
{
    memset(nv, 0, sizeof *nv);
    memset(old, 0, sizeof *old);
    fw_hist_init(&nv->lat);
    fw_hist_init(&old->lat);
    if (!e->src->store) return 0;
    split_ctx *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->rules = e->trace.rules;
    c->by_instance = by_instance;
    fw_span_query q = {.service = service, .kind = -1, .from_ns = from, .to_ns = to,
                       .limit = ENG_SPAN_SCAN};
    (void)fw_store_find_spans(e->src->store, &q, split_visit, c);
    for (size_t i = 0; i < c->n; i++) {
        ver_stat *d = !strcmp(c->v[i].version, version) ? nv : old;
        d->requests += c->v[i].requests;
        d->faults += c->v[i].faults;
        fw_hist_merge(&d->lat, &c->v[i].lat);
    }
    size_t n = c->n;
    free(c);
    return n;
}

static size_t service_split(eng *e, const char *service, const char *version, bool by_instance,
                            ver_stat *nv, ver_stat *old)
{
    return service_split_range(e, service, version, by_instance, e->onset, e->to, nv, old);
}

/* ---- 7. log patterns -------------------------------------------------- */

typedef struct pat_ctx {
    char summary[400];
    uint64_t count;
    uint64_t first, last;
    size_t n_ex;
    uint8_t ex[FW_PATTERNS_TRACE_IDS][FW_TRACE_ID_LEN];
    double win_s, base_s;
} pat_ctx;

static int pat_visit(void *ctx, const fw_pattern_info *pi)
{
    pat_ctx *c = ctx;
    if (pi->overflow || pi->max_severity < 13) return 0; /* WARN and above */
    double rate_w = (double)pi->count / c->win_s;
    double rate_b = (double)pi->baseline_count / c->base_s;
    if (!pi->is_new && !(rate_w >= 3.0 * rate_b && pi->count >= 3)) return 0;
    if (pi->count <= c->count) return 0;
    char tmpl[200];
    copy_name(tmpl, sizeof tmpl, pi->template_text);
    snprintf(c->summary, sizeof c->summary, "%s log pattern \"%s\": %" PRIu64
             " lines since the onset, %" PRIu64 " in the baseline",
             pi->is_new ? "new" : "grown", tmpl, pi->count, pi->baseline_count);
    c->count = pi->count;
    c->first = pi->first_seen_ns;
    c->last = pi->last_seen_ns;
    c->n_ex = pi->n_trace_ids;
    memcpy(c->ex, pi->trace_ids, sizeof c->ex);
    return 0;
}

/* The strongest new or grown warning/error pattern of |service|; 0 = none. */
static uint64_t log_patterns(eng *e, const char *service, pat_ctx *c)
{
    memset(c, 0, sizeof *c);
    if (!e->src->patterns || e->onset <= e->from) return 0;
    c->win_s = ns_span(e->onset, e->to);
    c->base_s = ns_span(e->from, e->onset);
    /* Pattern counts are per minute: the baseline stops at the minute the
     * onset falls in, so that minute counts only in the window. */
    uint64_t base_to = e->onset - e->onset % FW_PATTERNS_BUCKET_NS;
    if (base_to <= e->from) base_to = e->onset;
    fw_patterns_query q = {.service = service,
                           .from_ns = e->onset,
                           .to_ns = e->to,
                           .baseline_from_ns = e->from,
                           .baseline_to_ns = base_to,
                           .limit = 50};
    if (fw_patterns_query_run(e->src->patterns, &q, pat_visit, c, NULL) != 0) return 0;
    return c->count;
}

/* ---- 8. hypotheses ---------------------------------------------------- */

static eng_hyp *hyp_new(eng *e, int cause)
{
    if (e->n_hyps >= ENG_MAX_HYP) return NULL;
    eng_hyp *h = &e->hyps[e->n_hyps++];
    memset(h, 0, sizeof *h);
    h->cause = cause;
    h->terms.penalty = 1.0;
    return h;
}

static eng_evid *evid_add(eng_hyp *h, const char *kind)
{
    if (h->n_ev >= ENG_MAX_EVID) return NULL;
    eng_evid *v = &h->ev[h->n_ev++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    return v;
}

static void action_add(eng_hyp *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void action_add(eng_hyp *h, const char *fmt, ...)
{
    if (h->n_actions >= 3) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->actions[h->n_actions++], sizeof h->actions[0], fmt, ap);
    va_end(ap);
}

/* Appends a sentence to what_happened (through a local buffer, so that
 * arguments may live in the hypothesis itself). */
static void what_append(eng_hyp *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void what_append(eng_hyp *h, const char *fmt, ...)
{
    char extra[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(extra, sizeof extra, fmt, ap);
    va_end(ap);
    size_t len = strlen(h->what), add = strlen(extra);
    if (add > sizeof h->what - 1 - len) add = sizeof h->what - 1 - len;
    memcpy(h->what + len, extra, add);
    h->what[len + add] = '\0';
}

static const char *top_name(const name_count *arr, size_t n, size_t *count)
{
    size_t best = 0;
    const char *name = "";
    for (size_t i = 0; i < n; i++) {
        if (arr[i].count > best) {
            best = arr[i].count;
            name = arr[i].name;
        }
    }
    *count = best;
    return name;
}

/* Rate of a group in each window, scaled from the walked sample back to
 * the failing requests RED counted, PER REQUEST of the scoped service (per
 * second only when the request count is unknown): a background fault that
 * fails a steady share of the requests is not new when traffic surges and
 * its count per second rises with it. */
static double group_rate(const eng *e, const eng_group *g, int which)
{
    double walked = (double)e->failing_traces[which];
    if (walked <= 0.0) return 0.0;
    double failed = which ? e->fail_w : e->fail_b;
    if (failed < walked) failed = walked;
    double reqs = which ? e->req_w : e->req_b;
    double per = reqs >= failed && reqs > 0.0
                     ? reqs
                     : (which ? ns_span(e->onset, e->to) : ns_span(e->from, e->onset));
    return (double)g->traces[which] / walked * failed / per;
}

static void attach_logs(eng *e, eng_hyp *h, const char *service)
{
    pat_ctx pc;
    if (!log_patterns(e, service, &pc)) return;
    h->terms.corroboration += 0.5;
    eng_evid *v = evid_add(h, "log_pattern");
    if (!v) return;
    copy_cstr(v->summary, sizeof v->summary, pc.summary);
    v->count = (double)pc.count;
    v->first = pc.first;
    v->last = pc.last;
    v->n_ex = pc.n_ex < ENG_EXAMPLES ? pc.n_ex : ENG_EXAMPLES;
    memcpy(v->ex, pc.ex, v->n_ex * FW_TRACE_ID_LEN);
}

static void group_evidence(eng_hyp *h, const eng_group *g, double walked)
{
    eng_evid *v = evid_add(h, "spans");
    if (!v) return;
    char where[300];
    if (g->dep[0])
        snprintf(where, sizeof where, "calls from %s (%s) to %s", g->service, g->op, g->dep);
    else
        snprintf(where, sizeof where, "%s %s", g->service, g->op);
    snprintf(v->summary, sizeof v->summary,
             "%zu of %.0f failing traces since the onset start at %s%s%s%s (baseline: %zu)",
             g->traces[1], walked, where, g->exc[0] ? " with " : "", g->exc,
             g->throttled[1] ? ", throttled" : "", g->traces[0]);
    v->count = (double)g->traces[1];
    v->first = g->first;
    v->last = g->last;
    v->n_ex = g->n_ex;
    memcpy(v->ex, g->ex, sizeof v->ex);
}

static void hyp_from_group(eng *e, eng_group *g)
{
    double walked = (double)e->failing_traces[1];
    double explained = ratio((double)g->traces[1], walked);
    if (explained < 0.02) return;
    double rw = group_rate(e, g, 1), rb = group_rate(e, g, 0);
    double novelty = rw > 0.0 ? clamp01(1.0 - rb / rw) : 0.0;
    /* A handful of failures is no change: the group's share of the
     * requests since the onset must stand out from its baseline share (two-
     * proportion z over the entry requests, both sides counted in
     * requests, one failure since the onset set aside as what chance alone
     * brings); under z 3 its novelty shrinks in proportion, so that a stray
     * background error that happens to fall after the onset (none walked
     * before it) does not read as new. */
    if (e->req_w > 0.0 && e->req_b > 0.0 && e->req_w >= e->fail_w && e->req_b >= e->fail_b) {
        double fa = rw * e->req_w - 1.0;
        double z = fw__engine_rate_z(fa > 0.0 ? fa : 0.0, e->req_w, rb * e->req_b, e->req_b);
        novelty *= clamp01(z / 3.0);
    }
    bool throttled = g->throttled[1] * 2 > g->traces[1];
    int cause = throttled ? C_THROTTLING : g->dep[0] ? C_DEPENDENCY : C_CODE;
    eng_hyp *h = hyp_new(e, cause);
    if (!h) return;
    if (g->dep[0] && g->n_callers) { /* the caller that saw most of the failures */
        size_t cc = 0;
        const char *caller = top_name(g->callers, g->n_callers, &cc);
        if (cc && strcmp(caller, g->service) != 0) {
            copy_cstr(g->service, ENG_NAME, caller);
            g->op[0] = '\0';
        }
    }
    copy_cstr(h->service, ENG_NAME, g->service);
    copy_cstr(h->op, ENG_NAME, g->op);
    copy_cstr(h->dep, ENG_NAME, g->dep);
    size_t ic = 0;
    const char *inst = top_name(g->inst, g->n_inst, &ic);
    size_t n_inst_total = 0;
    for (size_t i = 0; i < g->n_inst; i++) n_inst_total += g->inst[i].count;
    /* Confined to one instance: >= 80 % of the group's faults on one
     * pod/host, while the service has other instances serving in the window
     * and that instance fails at least 3x as often as the others. */
    double inst_rate = 0.0, other_rate = 0.0;
    if (ic >= 5 && (double)ic >= 0.8 * (double)n_inst_total) {
        ver_stat in, rest;
        size_t n_all = service_split(e, g->service, inst, true, &in, &rest);
        inst_rate = ratio(in.faults, in.requests);
        other_rate = ratio(rest.faults, rest.requests);
        if (n_all >= 2 && rest.requests >= 5.0 && inst_rate >= 3.0 * other_rate &&
            inst_rate > 0.0)
            copy_cstr(h->instance, ENG_NAME, inst);
    }
    size_t vc = 0, n_ver_total = 0;
    const char *fv = top_name(g->ver, g->n_ver, &vc);
    for (size_t i = 0; i < g->n_ver; i++) n_ver_total += g->ver[i].count;
    copy_cstr(h->fault_ver, sizeof h->fault_ver, fv);
    h->fault_ver_share = ratio((double)vc, (double)n_ver_total);
    h->terms.explained = explained;
    h->terms.novelty = novelty;
    h->terms.timing = novelty; /* a signal that appeared with the onset */
    h->terms.specificity = g->dep[0] ? 1.0 : g->exc[0] ? 0.8 : 0.5;
    if (h->instance[0]) h->terms.specificity = 1.0;
    h->terms.corroboration = 0.0;
    if (throttled && novelty > 0.5) h->terms.corroboration += 0.5;
    group_evidence(h, g, walked);
    const char *target = g->dep[0] ? g->dep : g->service;
    switch (cause) {
    case C_THROTTLING:
        snprintf(h->title, sizeof h->title, "%s throttles calls from %s", target, g->service);
        snprintf(h->what, sizeof h->what,
                 "Calls from %s to %s are refused as throttled (%s). They account "
                 "for %.0f%% of the failing requests of %s.",
                 g->service, target, g->exc[0] ? g->exc : "throttling",
                 100.0 * explained, e->req->service);
        action_add(h, "Raise the capacity or quota of %s", target);
        action_add(h, "Add retries with exponential backoff and jitter in %s for %s", g->service,
                   target);
        break;
    case C_DEPENDENCY:
        snprintf(h->title, sizeof h->title, "%s fails for calls from %s", target, g->service);
        snprintf(h->what, sizeof h->what,
                 "Calls from %s (%s) to %s fail%s%s%s. These failed calls are the deepest fault "
                 "in %.0f%% of the failing traces of %s; the errors seen upstream surface "
                 "from them.",
                 g->service, g->op, target, g->exc[0] ? " with " : "", g->exc,
                 g->message[0] ? "" : "", 100.0 * explained, e->req->service);
        action_add(h, "Check the health and recent changes of %s", target);
        action_add(h, "Fail over or add a circuit breaker in %s for %s", g->service, target);
        break;
    default:
        snprintf(h->title, sizeof h->title, "%s in %s %s", g->exc[0] ? g->exc : "Errors",
                 g->service, g->op);
        snprintf(h->what, sizeof h->what,
                 "%s %s raises %s%s without a failing child call: the fault starts in its own "
                 "code. It is the deepest fault in %.0f%% of the failing traces of %s.",
                 g->service, g->op, g->exc[0] ? g->exc : "errors",
                 g->message[0] ? " (see the example traces)" : "", 100.0 * explained,
                 e->req->service);
        action_add(h, "Inspect the stack traces of %s %s in the example traces", g->service,
                   g->op);
        action_add(h, "Fix or guard the failing code path in %s", g->service);
        break;
    }
    if (h->instance[0]) {
        action_add(h, "Drain or replace instance %s", h->instance);
        what_append(h,
                    " %zu of these %zu faults ran on instance %s, which fails %.1f%% of its "
                    "requests against %.1f%% on the other instances.",
                    ic, n_inst_total, h->instance, 100.0 * inst_rate, 100.0 * other_rate);
        h->terms.corroboration += 0.5;
    }
    /* Failed calls into an INSTRUMENTED service that left no server span
     * for them (killed, unreachable, its packets lost): the fault is in that
     * service, not in the callers that only saw it, unless one caller
     * instance alone sees it (then that caller's side is suspect). */
    bool callee_down = g->dep[0] && !h->instance[0] && strcmp(g->dep, g->service) != 0 &&
                       known_service(e, g->dep);
    if (callee_down) {
        copy_cstr(h->service, ENG_NAME, g->dep);
        h->op[0] = '\0';
        what_append(h, " %s is an instrumented service, yet it left no server span for these "
                    "calls: it did not answer them (down, unreachable, or the calls lost on "
                    "the way).",
                    g->dep);
    }
    if (novelty < 0.5) {
        what_append(h, " It was already there before the onset at a similar rate (%.2f per "
                    "1000 requests before, %.2f since): background, not what changed.",
                    1000.0 * rb, 1000.0 * rw);
    }
    attach_logs(e, h, g->service);
    if (cause == C_DEPENDENCY && novelty > 0.5 && e->err_onset) h->terms.corroboration += 0.5;
}

static void hyp_from_deploys(eng *e)
{
    double walked = (double)e->failing_traces[1];
    for (size_t i = 0; i < e->n_deploys; i++) {
        eng_deploy *d = &e->deploys[i];
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(e->deploys[j].service, d->service) &&
                !strcmp(e->deploys[j].version, d->version))
                dup = true;
        if (dup) continue;
        /* Failing traces whose origin is in this service, on the new version. */
        size_t on_new = 0, in_service = 0;
        double base_rate = 0.0, win_rate = 0.0;
        uint64_t own_first = 0; /* first failure on the new version */
        eng_group *best = NULL;
        for (size_t g = 0; g < e->n_groups; g++) {
            eng_group *gr = &e->groups[g];
            if (strcmp(gr->service, d->service)) continue;
            in_service += gr->traces[1];
            for (size_t v = 0; v < gr->n_ver; v++) {
                if (strcmp(gr->ver[v].name, d->version) != 0 || !gr->ver[v].count) continue;
                on_new += gr->ver[v].count;
                uint64_t f = gr->ver[v].first;
                if (f && (!own_first || f < own_first)) own_first = f;
            }
            base_rate += group_rate(e, gr, 0);
            win_rate += group_rate(e, gr, 1);
            if (!best || gr->traces[1] > best->traces[1]) best = gr;
        }
        ver_stat nv, old;
        /* Versions serving side by side: from the deployment on (the
         * detected onset may precede it by a few steps; before it only the
         * old version served, which is no comparison). */
        uint64_t sfrom = d->at > e->onset && d->at < e->to ? d->at : e->onset;
        (void)service_split_range(e, d->service, d->version, false, sfrom, e->to, &nv, &old);
        double ern = ratio(nv.faults, nv.requests), ero = ratio(old.faults, old.requests);
        double p99n = fw_hist_quantile(&nv.lat, 0.99) / 1000.0;
        double p99o = fw_hist_quantile(&old.lat, 0.99) / 1000.0;
        /* Split strength: how much worse the new version is than the old one
         * serving at the same time; unknown (0.3) without both. */
        double split = 0.3;
        bool before = false;
        if (nv.requests >= 5.0 && old.requests < 5.0 && d->at > e->from) {
            /* Every instance moved to the new version (a rolling update
             * done before the onset): no old version serves alongside, so
             * compare with the service before the deployment instead. When
             * the symptom started before the deployment, the old version
             * between that onset and the deployment is the fair comparison:
             * a failure rate the new version only inherited is no split.
             * Across time, failures propagated from elsewhere (a burst in a
             * callee) differ between the two periods: both sides count only
             * the failures that START in the service (fault origins). */
            ver_stat bn, bo, pre, base;
            bo.requests = pre.requests = 0.0;
            uint64_t lo = e->from;
            if (e->onset + 30 * SEC <= d->at && e->onset > e->from) {
                /* Had the old version's own failures already risen between
                 * the onset and the deployment (against the baseline)? */
                (void)service_split_range(e, d->service, d->version, false, e->onset,
                                          d->at - 1, &bn, &pre);
                (void)service_split_range(e, d->service, d->version, false, e->from,
                                          e->onset - 1, &bn, &base);
                double fp = own_faults(e, d->service, d->version, true, e->onset, d->at);
                double fb = own_faults(e, d->service, d->version, true, e->from, e->onset);
                if (pre.requests >= 5.0 && base.requests >= 5.0 &&
                    fw__engine_rate_z(fp, pre.requests, fb, base.requests) >= ENG_SPLIT_MIN_Z)
                    lo = e->onset;
            }
            (void)service_split_range(e, d->service, d->version, false, lo, d->at - 1, &bn, &bo);
            if (bo.requests >= 5.0) {
                old = bo;
                old.faults = own_faults(e, d->service, d->version, true, lo, d->at);
                nv.faults = own_faults(e, d->service, d->version, false, d->at, e->to + 1);
                ern = ratio(nv.faults, nv.requests);
                ero = ratio(old.faults, old.requests);
                p99o = fw_hist_quantile(&old.lat, 0.99) / 1000.0;
                before = true;
            }
        }
        if (nv.requests >= 5.0 && old.requests >= 5.0)
            split = ern > 0.0 && fw__engine_rate_z(nv.faults, nv.requests, old.faults,
                                                   old.requests) >= ENG_SPLIT_MIN_Z
                        ? clamp01(1.0 - ero / ern)
                        : 0.0;
        else if (nv.requests >= 5.0 && on_new == 0)
            split = 0.0;
        eng_hyp *h = hyp_new(e, C_DEPLOYMENT);
        if (!h) return;
        copy_cstr(h->service, ENG_NAME, d->service);
        copy_cstr(h->version, sizeof h->version, d->version);
        if (best) copy_cstr(h->op, ENG_NAME, best->op);
        h->terms.explained = ratio((double)on_new, walked) * split;
        h->terms.novelty = win_rate > 0.0 ? clamp01(1.0 - base_rate / win_rate) : 0.0;
        h->split = split;
        h->terms.timing = fw__engine_timing(d->at, e->onset);
        /* The detected onset may belong to an earlier, unrelated blip (a
         * burst of noise elsewhere): a version that is significantly worse
         * than the one it replaced, and whose own failures begin right after
         * it shipped, is timed against that start of its own failures. */
        if (split >= 0.8 && own_first >= d->at) {
            double own = fw__engine_timing(d->at, own_first);
            if (own > h->terms.timing) h->terms.timing = own;
        }
        h->terms.specificity = split >= 0.8 ? 1.0 : 0.5 * split;
        h->terms.corroboration = split >= 0.8 && on_new > 0 ? 0.5 : 0.0;
        snprintf(h->title, sizeof h->title, "Deployment of %s %s%s%s", d->service, d->version,
                 d->previous[0] ? " (from " : "", d->previous[0] ? d->previous : "");
        if (d->previous[0]) copy_cstr(h->title + strlen(h->title), 2, ")");
        snprintf(h->what, sizeof h->what,
                 "%s %s was deployed (%s) %.0f s %s the onset. Since the onset the new version "
                 "fails %.1f%% of %.0f requests (p99 %.0f ms) against %.1f%% of %.0f (p99 %.0f "
                 "ms) %s; %zu of %.0f failing traces start in %s on %s.",
                 d->service, d->version, d->api ? "announced" : "inferred from service.version",
                 fabs((double)e->onset - (double)d->at) / 1e9, d->at <= e->onset ? "before" : "after",
                 100.0 * ern, nv.requests, p99n, 100.0 * ero, old.requests, p99o,
                 before ? "before the deployment" : "on other versions", on_new, walked,
                 d->service, d->version);
        eng_evid *v = evid_add(h, "deployment");
        if (v) {
            snprintf(v->summary, sizeof v->summary, "%s %s deployed (%s)%s%s", d->service,
                     d->version, d->api ? "announced" : "inferred",
                     d->previous[0] ? ", previous version " : "", d->previous);
            v->count = 1;
            v->first = v->last = d->at;
        }
        v = evid_add(h, "metric");
        if (v) {
            snprintf(v->summary, sizeof v->summary,
                     "version split since the onset: %s fails %.1f%%, other versions %.1f%%",
                     d->version, 100.0 * ern, 100.0 * ero);
            v->count = nv.requests;
        }
        if (best && on_new) group_evidence(h, best, walked);
        action_add(h, "Roll back %s to %s", d->service, d->previous[0] ? d->previous : "the previous version");
        action_add(h, "Compare the changes shipped in %s %s", d->service, d->version);
        attach_logs(e, h, d->service);
        (void)in_service;
    }
}

/* One slow instance among healthy ones: the instance of |service| whose
 * median server time since the onset is at least 2x the median of its other
 * instances together (each side with >= 5 requests), and that was not
 * already that slow before the onset. Names it in |out| and gives both
 * medians (ms); false when the slowdown is not confined to one instance. */
static bool slow_instance(eng *e, const char *service, char out[ENG_NAME], double *p50_in,
                          double *p50_rest)
{
    out[0] = '\0';
    if (!e->src->store) return false;
    split_ctx *c = calloc(1, sizeof *c);
    if (!c) return false;
    c->rules = e->trace.rules;
    c->by_instance = true;
    fw_span_query q = {.service = service, .kind = -1, .from_ns = e->onset, .to_ns = e->to,
                       .limit = ENG_SPAN_SCAN};
    (void)fw_store_find_spans(e->src->store, &q, split_visit, c);
    size_t worst = c->n;
    double worst_p50 = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        if (!c->v[i].version[0] || c->v[i].requests < 5.0) continue;
        double p50 = fw_hist_quantile(&c->v[i].lat, 0.5);
        if (worst == c->n || p50 > worst_p50) {
            worst = i;
            worst_p50 = p50;
        }
    }
    bool found = false;
    if (worst < c->n) {
        fw_hist rest;
        fw_hist_init(&rest);
        double rest_n = 0.0;
        for (size_t i = 0; i < c->n; i++) {
            if (i == worst) continue;
            fw_hist_merge(&rest, &c->v[i].lat);
            rest_n += c->v[i].requests;
        }
        double rest_p50 = fw_hist_quantile(&rest, 0.5);
        if (rest_n >= 5.0 && rest_p50 > 0.0 && worst_p50 >= 2.0 * rest_p50) {
            copy_cstr(out, ENG_NAME, c->v[worst].version);
            *p50_in = worst_p50 / 1000.0;
            *p50_rest = rest_p50 / 1000.0;
            found = true;
        }
    }
    free(c);
    if (!found) return false;
    ver_stat before, others;
    (void)service_split_range(e, service, out, true, e->from, e->onset - 1, &before, &others);
    if (before.requests >= 5.0 &&
        fw_hist_quantile(&before.lat, 0.5) / 1000.0 >= 0.5 * *p50_in) {
        out[0] = '\0'; /* always that slow: not what changed */
        return false;
    }
    return true;
}

static void hyp_latency(eng *e)
{
    if (!e->lat_onset || e->slow_traces[1] == 0 || e->slow_traces[0] == 0) return;
    double nw = (double)e->slow_traces[1], nb = (double)e->slow_traces[0];
    double total = 0.0;
    self_key *best = NULL;
    double best_d = 0.0;
    for (size_t i = 0; i < e->n_self; i++) {
        double d = e->self[i].self_us[1] / nw - e->self[i].self_us[0] / nb;
        if (d > 0.0) total += d;
        if (d > best_d) {
            best_d = d;
            best = &e->self[i];
        }
    }
    if (!best || total <= 0.0) return;
    eng_hyp *h = hyp_new(e, C_LATENCY);
    if (!h) return;
    double slow = best->self_us[1] / nw, base = best->self_us[0] / nb;
    copy_cstr(h->service, ENG_NAME, best->service);
    copy_cstr(h->dep, ENG_NAME, best->dep);
    h->terms.explained = best_d / total;
    h->terms.novelty = slow > 0.0 ? clamp01(1.0 - base / slow) : 0.0;
    h->terms.timing = e->err_onset && e->cp_err.split < e->cp_lat.split ? 0.5 : 1.0;
    h->terms.specificity = best->dep[0] ? 1.0 : 0.7;
    const char *target = best->dep[0] ? best->dep : best->service;
    if (best->transit) {
        snprintf(h->title, sizeof h->title, "Calls into %s got slower in transit", target);
        snprintf(h->what, sizeof h->what,
                 "In the slowest traces of %s since the onset, the transit time of calls into "
                 "%s (the callers' client spans less %s's own server spans: network, "
                 "connecting, queueing before its handler runs) grew from %.1f ms to %.1f ms "
                 "per trace: %.0f%% of the latency growth, while the work inside %s did not "
                 "account for it. p99 of %s went from %.0f ms to %.0f ms.",
                 e->req->service, target, target, base / 1000.0, slow / 1000.0,
                 100.0 * best_d / total, target, e->req->service, e->p99_b, e->p99_w);
    } else {
        snprintf(h->title, sizeof h->title, "%s got slower (own time)", target);
        snprintf(h->what, sizeof h->what,
                 "In the slowest traces of %s since the onset, the own time of %s%s%s grew from "
                 "%.1f ms to %.1f ms per trace: %.0f%% of the latency growth. p99 of %s went "
                 "from %.0f ms to %.0f ms.",
                 e->req->service, best->service, best->dep[0] ? " calling " : "", best->dep,
                 base / 1000.0, slow / 1000.0, 100.0 * best_d / total, e->req->service,
                 e->p99_b, e->p99_w);
    }
    double p50_in = 0.0, p50_rest = 0.0;
    if (!best->transit && !best->dep[0] &&
        slow_instance(e, best->service, h->instance, &p50_in, &p50_rest)) {
        h->terms.specificity = 1.0;
        what_append(h, " The slowdown is confined to instance %s: median %.1f ms per request "
                    "since the onset against %.1f ms on the other instances of %s.",
                    h->instance, p50_in, p50_rest, best->service);
        action_add(h, "Drain or replace instance %s", h->instance);
    }
    eng_evid *v = evid_add(h, "spans");
    if (v) {
        snprintf(v->summary, sizeof v->summary,
                 "%s of %s%s%s: %.1f ms per slow trace vs %.1f ms in the baseline",
                 best->transit ? "transit time of calls into" : "own time of", best->service,
                 best->dep[0] ? " -> " : "", best->dep, slow / 1000.0, base / 1000.0);
        v->count = nw;
        v->n_ex = best->n_ex;
        memcpy(v->ex, best->ex, sizeof v->ex);
        v->first = e->onset;
        v->last = e->to;
    }
    /* Client-vs-server gap of the edge into the callee (network, queues,
     * pools, retries rather than the callee itself). */
    if (e->src->red && e->src->intern) {
        uint32_t a = find_id(e->src->intern, best->service), b = find_id(e->src->intern, best->dep);
        fw_red_key k = {.kind = FW_RED_EDGE, .a = a, .b = b};
        fw_red_totals tw, tb;
        if (a && b && fw_red_query(e->src->red, &k, e->onset, e->to, &tw) == 0 &&
            fw_red_query(e->src->red, &k, e->from, e->onset - 1, &tb) == 0) {
            double cw = fw_hist_quantile(&tw.latency, 0.99) / 1000.0;
            double cb = fw_hist_quantile(&tb.latency, 0.99) / 1000.0;
            v = evid_add(h, "metric");
            if (v) {
                snprintf(v->summary, sizeof v->summary,
                         "edge %s -> %s client p99 %.0f ms (baseline %.0f ms)", best->service,
                         best->dep, cw, cb);
                v->count = tw.requests;
                h->terms.corroboration += cw > 1.5 * cb ? 0.5 : 0.0;
            }
        }
    }
    action_add(h, "Look at the saturation and recent changes of %s", target);
    action_add(h, "Set timeouts and shed load towards %s", target);
    attach_logs(e, h, best->service);
}

static void hyp_traffic(eng *e)
{
    /* The baseline rate is over the part of the baseline that has data. */
    uint64_t base_from = e->data_from < e->onset ? e->data_from : e->from;
    double secs_w = ns_span(e->onset, e->to), secs_b = ns_span(base_from, e->onset);
    double rw = e->req_w / secs_w, rb = e->req_b / secs_b;
    if (rb <= 0.0 || rw < 1.5 * rb) return;
    eng_hyp *h = hyp_new(e, C_TRAFFIC);
    if (!h) return;
    copy_cstr(h->service, ENG_NAME, e->req->service);
    h->terms.explained = clamp01((rw / rb - 1.0) / 2.0);
    h->terms.novelty = clamp01(1.0 - rb / rw);
    h->terms.timing = 1.0;
    h->terms.specificity = 0.5;
    snprintf(h->title, sizeof h->title, "Traffic to %s rose %.1fx", e->req->service, rw / rb);
    snprintf(h->what, sizeof h->what,
             "Requests to %s went from %.2f/s in the baseline to %.2f/s since the onset.",
             e->req->service, rb, rw);
    eng_evid *v = evid_add(h, "metric");
    if (v) {
        snprintf(v->summary, sizeof v->summary, "entry request rate %.2f/s vs %.2f/s baseline", rw,
                 rb);
        v->count = e->req_w;
        v->first = e->onset;
        v->last = e->to;
    }
    action_add(h, "Scale out %s or rate-limit its callers", e->req->service);
}

/* A code error in the same service that a deployment explains (>= 30 % of
 * the impact) is the deployment's symptom, not a separate cause: its score
 * is discounted (x0.6). */
static void discount_explained(eng *e)
{
    for (size_t i = 0; i < e->n_hyps; i++) {
        eng_hyp *d = &e->hyps[i];
        if (d->cause != C_DEPLOYMENT) continue;
        bool strong = d->terms.explained >= 0.3;
        for (size_t j = 0; j < e->n_hyps; j++) {
            eng_hyp *c = &e->hyps[j];
            if (c->cause != C_CODE || strcmp(c->service, d->service) != 0) continue;
            /* ... or a code error that ran (nearly) only on the new version
             * of a significantly worse deployment, however much of the
             * impact the deployment explains. */
            bool on_it = d->split >= 0.8 && !strcmp(c->fault_ver, d->version) &&
                         c->fault_ver_share >= 0.8;
            if (strong || on_it) c->terms.penalty *= 0.6;
        }
    }
    /* Calls that got slower because they fail (timeouts against a callee
     * that stopped answering): the latency is the failure's symptom when
     * the same callee's failures are new and explain most failing traces. */
    for (size_t i = 0; i < e->n_hyps; i++) {
        eng_hyp *l = &e->hyps[i];
        if (l->cause != C_LATENCY || !l->dep[0]) continue;
        for (size_t j = 0; j < e->n_hyps; j++) {
            eng_hyp *f = &e->hyps[j];
            if ((f->cause != C_DEPENDENCY && f->cause != C_THROTTLING) ||
                strcmp(f->dep, l->dep) != 0 || f->terms.explained < 0.5 ||
                f->terms.novelty < 0.5)
                continue;
            l->terms.penalty *= 0.8;
            what_append(l, " The slow calls to %s are failing ones (see the %s hypothesis): "
                        "the time is spent waiting for a callee that does not answer.",
                        l->dep, cause_names[f->cause]);
            break;
        }
    }
}

static int hyp_cmp(const void *a, const void *b)
{
    const eng_hyp *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return 0;
}

static void monitoring_gaps(eng *e)
{
    if (!e->src->store) add_gap(e, "No trace store", "Fault and latency origin could not be traced.");
    if (!e->src->red) add_gap(e, "No RED metrics", "Onset and impact could not be measured.");
    if (!e->src->deploy)
        add_gap(e, "No deployment records", "Changes near the onset could not be checked.");
    if (e->exc_not_error) {
        char tid[33];
        fw_hex_encode(e->exc_not_error_ex, FW_TRACE_ID_LEN, tid);
        add_gap(e, "Exceptions recorded without error status",
                "%zu spans on failing paths carry exception events but no ERROR status or "
                "error code: their faults are invisible to RED error rates (e.g. trace %s).",
                e->exc_not_error, tid);
    }
    for (size_t i = 0; i < e->n_hyps; i++) {
        eng_hyp *h = &e->hyps[i];
        if ((h->cause == C_DEPENDENCY || h->cause == C_THROTTLING) && h->dep[0] &&
            h->terms.explained >= 0.3) {
            add_gap(e, "Failing dependency is not instrumented",
                    "%s is only seen from client spans of %s: it emits no telemetry, and no "
                    "alarm watches it directly.",
                    h->dep, h->service);
            break;
        }
    }
    if (e->fail_w > 0.0 && e->failing_traces[1] == 0 && e->src->store)
        add_gap(e, "Failures without traces",
                "RED counted %.0f failed requests since the onset but no failing trace was "
                "found in the store (sampled out, evicted or never sent).",
                e->fail_w);
    if (e->src->topo) {
        fw_topo_stats ts;
        fw_topo_get_stats(e->src->topo, &ts);
        if (ts.unpaired > 0)
            add_gap(e, "Unpaired server spans",
                    "%" PRIu64 " server spans had no client span from their caller: an "
                    "uninstrumented caller or lost spans.",
                    ts.unpaired);
    }
    if (e->src->store) {
        fw_store_stats ss;
        fw_store_get_stats(e->src->store, &ss);
        if (ss.spans_evicted > 0)
            add_gap(e, "Spans evicted under the memory budget",
                    "%" PRIu64 " spans were evicted; traces may be incomplete.",
                    ss.spans_evicted);
    }
    if (e->src->red) {
        fw_red_stats rs;
        fw_red_get_stats(e->src->red, &rs);
        if (rs.dropped > 0)
            add_gap(e, "RED observations dropped",
                    "%" PRIu64 " observations were lost to the memory limit.", rs.dropped);
    }
    /* Gaps that touch a hypothesis lower its confidence. */
    if (e->exc_not_error || e->trace.dropped)
        for (size_t i = 0; i < e->n_hyps; i++) e->hyps[i].terms.penalty *= 0.9;
}

/* ---- output ----------------------------------------------------------- */

static void write_ids(jw *w, const uint8_t (*ids)[FW_TRACE_ID_LEN], size_t n)
{
    jkey(w, "trace_ids");
    jraw(w, "[");
    for (size_t i = 0; i < n; i++) {
        char hex[33];
        fw_hex_encode(ids[i], FW_TRACE_ID_LEN, hex);
        if (i) jraw(w, ",");
        jstr(w, hex);
    }
    jraw(w, "]");
}

typedef struct tl_event {
    uint64_t at;
    char text[300];
} tl_event;

static int tl_cmp(const void *a, const void *b)
{
    const tl_event *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at ? 1 : 0;
}

static void write_json(eng *e, jw *w)
{
    const fw_inv_request *r = e->req;
    jraw(w, "{");
    jkey(w, "scope");
    jraw(w, "{");
    jkv_str(w, "service", r->service);
    jraw(w, ",");
    jkv_str(w, "operation", r->operation);
    jraw(w, ",");
    jkv_time(w, "from", e->from);
    jraw(w, ",");
    jkv_time(w, "to", e->to);
    jraw(w, ",");
    jkv_time(w, "onset", e->onset);
    jraw(w, "},");

    jkey(w, "impact");
    jraw(w, "{");
    jkv_num(w, "requests", e->req_w);
    jraw(w, ",");
    jkv_num(w, "failed_requests", e->fail_w);
    jraw(w, ",");
    jkv_num(w, "error_rate", ratio(e->fail_w, e->req_w));
    jraw(w, ",");
    jkv_num(w, "baseline_error_rate", ratio(e->fail_b, e->req_b));
    jraw(w, ",");
    jkv_num(w, "p99_ms", e->p99_w);
    jraw(w, ",");
    jkv_num(w, "baseline_p99_ms", e->p99_b);
    jraw(w, ",");
    jkey(w, "affected_operations");
    jraw(w, "[");
    for (size_t i = 0; i < e->n_affected; i++) {
        if (i) jraw(w, ",");
        jstr(w, e->affected[i]);
    }
    jraw(w, "]},");

    jkey(w, "hypotheses");
    jraw(w, "[");
    for (size_t i = 0; i < e->n_hyps; i++) {
        eng_hyp *h = &e->hyps[i];
        if (i) jraw(w, ",");
        jraw(w, "{");
        jkv_num(w, "rank", (double)(i + 1));
        jraw(w, ",");
        jkv_num(w, "score", round(h->score * 1000.0) / 1000.0);
        jraw(w, ",");
        jkv_str(w, "confidence", fw__engine_confidence(h->score));
        jraw(w, ",");
        jkv_str(w, "cause", cause_names[h->cause]);
        jraw(w, ",");
        jkey(w, "component");
        jraw(w, "{");
        jkv_str(w, "service", h->service);
        jraw(w, ",");
        jkv_str(w, "operation", h->op);
        jraw(w, ",");
        jkv_str(w, "dependency", h->dep);
        jraw(w, ",");
        jkv_str(w, "version", h->version);
        jraw(w, ",");
        jkv_str(w, "instance", h->instance);
        jraw(w, "},");
        jkv_str(w, "title", h->title);
        jraw(w, ",");
        char what[1600];
        snprintf(what, sizeof what,
                 "%s Score %.2f = %.2f x (0.45 x explained %.2f x novelty %.2f + 0.20 x timing "
                 "%.2f + 0.15 x specificity %.2f + 0.20 x corroboration %.2f).",
                 h->what, h->score, h->terms.penalty, h->terms.explained, h->terms.novelty,
                 h->terms.timing, h->terms.specificity, clamp01(h->terms.corroboration));
        jkv_str(w, "what_happened", what);
        jraw(w, ",");
        jkey(w, "evidence");
        jraw(w, "[");
        for (size_t k = 0; k < h->n_ev; k++) {
            eng_evid *v = &h->ev[k];
            if (k) jraw(w, ",");
            jraw(w, "{");
            jkv_str(w, "kind", v->kind);
            jraw(w, ",");
            jkv_str(w, "summary", v->summary);
            jraw(w, ",");
            jkv_num(w, "count", v->count);
            jraw(w, ",");
            write_ids(w, (const uint8_t(*)[FW_TRACE_ID_LEN])v->ex, v->n_ex);
            jraw(w, ",");
            jkv_time(w, "first_seen", v->first);
            jraw(w, ",");
            jkv_time(w, "last_seen", v->last);
            jraw(w, "}");
        }
        jraw(w, "],");
        jkey(w, "suggested_actions");
        jraw(w, "[");
        for (size_t k = 0; k < h->n_actions; k++) {
            if (k) jraw(w, ",");
            jstr(w, h->actions[k]);
        }
        jraw(w, "]}");
    }
    jraw(w, "],");

    jkey(w, "monitoring_gaps");
    jraw(w, "[");
    for (size_t i = 0; i < e->n_gaps; i++) {
        if (i) jraw(w, ",");
        jraw(w, "{");
        jkv_str(w, "summary", e->gaps[i].summary);
        jraw(w, ",");
        jkv_str(w, "detail", e->gaps[i].detail);
        jraw(w, "}");
    }
    jraw(w, "],");

    tl_event tl[ENG_MAX_DEPLOYS + 4];
    size_t n = 0;
    for (size_t i = 0; i < e->n_deploys; i++) {
        tl[n].at = e->deploys[i].at;
        snprintf(tl[n].text, sizeof tl[n].text, "deployment of %s %s (%s)",
                 e->deploys[i].service, e->deploys[i].version,
                 e->deploys[i].api ? "announced" : "inferred");
        n++;
    }
    tl[n].at = e->onset;
    snprintf(tl[n++].text, sizeof tl[0].text, "onset: %s of %s changed",
             e->err_onset ? "error rate" : e->lat_onset ? "latency" : "no clear change;", r->service);
    if (e->first_error) {
        tl[n].at = e->first_error;
        snprintf(tl[n++].text, sizeof tl[0].text, "first failing trace after the onset");
    }
    if (r->alarm_at_ns) {
        tl[n].at = r->alarm_at_ns;
        snprintf(tl[n++].text, sizeof tl[0].text, "alarm %s fired",
                 r->trigger_name[0] ? r->trigger_name : "");
    }
    qsort(tl, n, sizeof tl[0], tl_cmp);
    jkey(w, "timeline");
    jraw(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) jraw(w, ",");
        jraw(w, "{");
        jkv_time(w, "at", tl[i].at);
        jraw(w, ",");
        jkv_str(w, "event", tl[i].text);
        jraw(w, "}");
    }
    jraw(w, "]}");
}

/* ---- entry point ------------------------------------------------------ */

int fw_investigate_run(const fw_inv_sources *src, const fw_inv_request *req, uint64_t now_ns,
                       fw_buf *out, char *err, size_t errlen)
{
    if (!src || !req || !out) {
        if (err && errlen) snprintf(err, errlen, "request: missing");
        return FW_ERR_INVALID;
    }
    if (!req->service[0] || memchr(req->service, '\0', FW_INV_NAME_MAX) == NULL) {
        if (err && errlen) snprintf(err, errlen, "service: required");
        return FW_ERR_INVALID;
    }
    if (memchr(req->operation, '\0', FW_INV_NAME_MAX) == NULL) {
        if (err && errlen) snprintf(err, errlen, "operation: too long");
        return FW_ERR_INVALID;
    }
    uint64_t to = req->to_ns;
    if (!to) {
        to = req->alarm_at_ns ? req->alarm_at_ns + 5 * MINUTE : now_ns;
        if (now_ns && to > now_ns) to = now_ns;
    }
    uint64_t from = req->from_ns ? req->from_ns : (to > 30 * MINUTE ? to - 30 * MINUTE : 0);
    if (to <= from || to - from < 2 * FW_RED_BUCKET_NS) {
        if (err && errlen) snprintf(err, errlen, "to: must be at least 20 s after from");
        return FW_ERR_INVALID;
    }
    if (to - from > 24ull * 60 * MINUTE) {
        if (err && errlen) snprintf(err, errlen, "from: range longer than 24 h");
        return FW_ERR_INVALID;
    }

    int rv = 0;
    eng *e = calloc(1, sizeof *e);
    series *s = calloc(1, sizeof *s);
    eng_span *spans = calloc(ENG_TRACE_SPANS, sizeof *spans);
    if (!e || !s || !spans) {
        rv = FW_ERR_NOMEM;
        goto out;
    }
    e->src = src;
    e->req = req;
    e->from = from - from % FW_RED_BUCKET_NS;
    e->to = to;
    e->trace.spans = spans;
    if (src->throttle_rules) {
        e->trace.rules = src->throttle_rules;
    } else {
        rv = fw_throttle_rules_new_default(&e->rules);
        if (rv) goto out;
        e->trace.rules = e->rules;
    }

    bool have = read_series(e, s);
    find_onset(e, s, have);
    if (e->onset <= e->from) e->onset = e->from + FW_RED_BUCKET_NS;
    impact(e);
    rv = fault_origin(e);
    if (rv) goto out;
    if (e->lat_onset) {
        rv = latency_origin(e);
        if (rv) goto out;
    }
    if (src->deploy) {
        uint64_t dfrom = e->from;
        if (fw_deploy_list(src->deploy, NULL, dfrom, e->to, ENG_MAX_DEPLOYS, deploy_visit, e) != 0)
            add_gap(e, "Deployment records unreadable", "Listing deployments failed (SQLite).");
    }

    for (size_t i = 0; i < e->n_groups; i++) hyp_from_group(e, &e->groups[i]);
    hyp_from_deploys(e);
    hyp_latency(e);
    hyp_traffic(e);
    discount_explained(e);
    monitoring_gaps(e);
    for (size_t i = 0; i < e->n_hyps; i++) e->hyps[i].score = fw__engine_score(&e->hyps[i].terms);
    qsort(e->hyps, e->n_hyps, sizeof e->hyps[0], hyp_cmp);
    /* Keep the top ten. */
    if (e->n_hyps > 10) e->n_hyps = 10;

    jw w = {out, 0};
    size_t mark = out->len;
    write_json(e, &w);
    rv = w.rv;
    if (rv) {
        out->len = mark;
        if (err && errlen) snprintf(err, errlen, "output: %s", "buffer too small");
    }
out:
    if (rv == FW_ERR_NOMEM && err && errlen) snprintf(err, errlen, "out of memory");
    if (e) fw_throttle_rules_free(e->rules);
    free(spans);
    free(s);
    free(e);
    return rv;
}
