/* sim_gen.c - the simulator's generator: turns a topology, a request rate,
 * faults and decoys into OTLP spans and log records, written as protobuf-c
 * structs into the caller's arena. Deterministic for a seed; never reads the
 * clock and never touches the network (that is sim_send.c's job). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flywheel/sim.h"
#include "sim_internal.h"

typedef Opentelemetry__Proto__Trace__V1__Span otel_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event otel_event;
typedef Opentelemetry__Proto__Common__V1__KeyValue otel_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otel_any;
typedef Opentelemetry__Proto__Logs__V1__LogRecord otel_log;
typedef Opentelemetry__Proto__Resource__V1__Resource otel_resource;

#define SIM_MAX_SERVICES  24
#define SIM_MAX_PODS      3
#define SIM_N_GROUPS      (SIM_MAX_SERVICES * 2 * SIM_MAX_PODS)
#define SIM_MAX_ATTRS     20
#define SIM_TRACE_RESERVE 512 /* spans one request may add past max_spans */
#define SIM_MAX_DEPTH     16
#define NS_PER_MS         1000000LL
#define NS_PER_S          1000000000LL

#define DEP(i) (-(i)-1) /* call target encoding: >=0 service, <0 dependency */

typedef struct sim_fault_rt {
    fw_sim_fault f;
    int svc; /* target service or -1 */
    int dep; /* target dependency or -1 */
    int op;  /* code error: the failing operation */
    int64_t start, end;
} sim_fault_rt;

typedef struct sim_svc_rt {
    char version[2][24];           /* [0] running, [1] after a deployment */
    int64_t switch_at, switch_end; /* version [1] runs in [switch_at, switch_end) */
    char pod[2][SIM_MAX_PODS][64];
    char host[SIM_MAX_PODS][48];
    double noise; /* background fault share of its own requests */
    int64_t noise_start, noise_end;
    double noise_burst; /* decoy noise share in [noise_start, noise_end) */
} sim_svc_rt;

struct fw_sim {
    const sim_topology_def *topo;
    fw_sim_options opt;
    uint64_t rng[4];
    int64_t next_arrival;
    double entry_total;
    int16_t call_target[SIM_MAX_SERVICES][SIM_MAX_OPS][SIM_MAX_CALLS];
    int8_t call_op[SIM_MAX_SERVICES][SIM_MAX_OPS][SIM_MAX_CALLS]; /* callee op / consumer svc */
    sim_svc_rt svc[SIM_MAX_SERVICES];
    sim_fault_rt faults[FW_SIM_MAX_FAULTS];
    size_t n_faults;
    /* decoys */
    int decoy_deploy_svc, decoy_noise_svc, decoy_throttle_dep;
    int64_t decoy_deploy_at;
    double decoy_throttle_share;
    /* deployments to announce, in time order */
    fw_sim_announcement ann[FW_SIM_MAX_FAULTS + 1];
    size_t n_ann, next_ann;
    fw_sim_totals totals;
};

/* Per-batch output being built. */
typedef struct gen_ref {
    uint16_t group;
    void *msg;
} gen_ref;

typedef struct gen_ctx {
    fw_sim *s;
    fw_arena *a;
    gen_ref *spans;
    size_t n_spans, cap_spans;
    gen_ref *logs;
    size_t n_logs, cap_logs;
    int oom;
    uint8_t *trace_id;
} gen_ctx;

/* ---- random numbers: xoshiro256** seeded by splitmix64 ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(fw_sim *s)
{
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static double rnd01(fw_sim *s)
{
    return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

static unsigned rnd_below(fw_sim *s, unsigned n)
{
    return n ? (unsigned)(rnd(s) % n) : 0;
}

static double rnd_normal(fw_sim *s)
{
    double u1 = rnd01(s), u2 = rnd01(s);
    if (u1 < 1e-12) u1 = 1e-12;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* A lognormal duration around |median_ms| (sigma 0.4, capped at 20x). */
static int64_t lat_ns(fw_sim *s, double median_ms)
{
    double v = median_ms * exp(0.4 * rnd_normal(s));
    if (v > median_ms * 20) v = median_ms * 20;
    if (v < 0.01) v = 0.01;
    return (int64_t)(v * (double)NS_PER_MS);
}

/* ---- small helpers ---- */

static int name_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static int find_service(const sim_topology_def *t, const char *name)
{
    for (size_t i = 0; i < t->n_services; i++)
        if (name_eq(t->services[i].name, name)) return (int)i;
    return -1;
}

static int find_dep(const sim_topology_def *t, const char *name)
{
    for (size_t i = 0; i < t->n_deps; i++)
        if (name_eq(t->deps[i].name, name) ||
            (t->deps[i].system && name_eq(t->deps[i].system, name)))
            return (int)i;
    return -1;
}

static int find_op(const sim_service_def *d, const char *op)
{
    for (int i = 0; i < SIM_MAX_OPS && d->ops[i].name; i++)
        if (strcmp(d->ops[i].name, op) == 0) return i;
    return -1;
}

static int fault_active(const sim_fault_rt *f, int64_t t)
{
    return t >= f->start && t < f->end;
}

/* The first active fault of |kind| on service |svc| or dependency |dep|. */
static const sim_fault_rt *fault_on(const fw_sim *s, fw_sim_fault_kind kind, int svc, int dep,
                                    int64_t t)
{
    for (size_t i = 0; i < s->n_faults; i++) {
        const sim_fault_rt *f = &s->faults[i];
        if (f->f.kind != kind || !fault_active(f, t)) continue;
        if ((svc >= 0 && f->svc == svc) || (dep >= 0 && f->dep == dep)) return f;
    }
    return NULL;
}

static int vidx_at(const fw_sim *s, int svc, int64_t t)
{
    const sim_svc_rt *r = &s->svc[svc];
    return t >= r->switch_at && t < r->switch_end;
}

static uint64_t fnv1a(const char *str)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *str; str++) h = (h ^ (uint8_t)*str) * 1099511628211ULL;
    return h;
}

static void k8s_suffix(uint64_t h, char *out, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (size_t i = 0; i + 1 < n; i++) {
        out[i] = alphabet[h % (sizeof alphabet - 1)];
        h /= (sizeof alphabet - 1);
    }
    out[n - 1] = '\0';
}

static void bump_version(const char *v, char *out, size_t n)
{
    unsigned maj = 0, min = 0, pat = 0;
    if (sscanf(v, "%u.%u.%u", &maj, &min, &pat) == 3)
        snprintf(out, n, "%u.%u.0", maj, min + 1);
    else
        snprintf(out, n, "%s-next", v);
}

/* ---- protobuf-c builders (arena-backed; NULL-safe on exhaustion) ---- */

static void *g_alloc(gen_ctx *g, size_t n)
{
    void *p = fw_arena_calloc(g->a, 1, n);
    if (!p) g->oom = 1;
    return p;
}

static char *g_printf(gen_ctx *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *g_printf(gen_ctx *g, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    char *p = fw_arena_strndup(g->a, buf, len);
    if (!p) g->oom = 1;
    return p;
}

static otel_any *any_new(gen_ctx *g)
{
    otel_any *v = g_alloc(g, sizeof *v);
    if (v) opentelemetry__proto__common__v1__any_value__init(v);
    return v;
}

static otel_kv *kv_new(gen_ctx *g, const char *key)
{
    otel_kv *kv = g_alloc(g, sizeof *kv);
    otel_any *v = any_new(g);
    if (!kv || !v) return NULL;
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = (char *)key;
    kv->value = v;
    return kv;
}

/* An attribute list with room for SIM_MAX_ATTRS entries. */
typedef struct attr_list {
    otel_kv **items;
    size_t *n;
} attr_list;

static void attr_push(attr_list l, otel_kv *kv)
{
    if (!kv || !l.items || *l.n >= SIM_MAX_ATTRS) return;
    l.items[(*l.n)++] = kv;
}

static void attr_str(gen_ctx *g, attr_list l, const char *key, const char *val)
{
    if (!val) return;
    otel_kv *kv = kv_new(g, key);
    if (!kv) return;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    kv->value->string_value = (char *)val;
    attr_push(l, kv);
}

static void attr_int(gen_ctx *g, attr_list l, const char *key, int64_t val)
{
    otel_kv *kv = kv_new(g, key);
    if (!kv) return;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    kv->value->int_value = val;
    attr_push(l, kv);
}

static void attr_str_array1(gen_ctx *g, attr_list l, const char *key, const char *val)
{
    otel_kv *kv = kv_new(g, key);
    Opentelemetry__Proto__Common__V1__ArrayValue *arr = g_alloc(g, sizeof *arr);
    otel_any **vals = g_alloc(g, sizeof *vals);
    otel_any *v = any_new(g);
    if (!kv || !arr || !vals || !v) return;
    opentelemetry__proto__common__v1__array_value__init(arr);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)val;
    vals[0] = v;
    arr->n_values = 1;
    arr->values = vals;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    kv->value->array_value = arr;
    attr_push(l, kv);
}

static uint8_t *rand_id(gen_ctx *g, size_t n)
{
    uint8_t *id = g_alloc(g, n);
    if (!id) return NULL;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = rnd(g->s);
        for (size_t j = 0; j < 8 && i + j < n; j++) id[i + j] = (uint8_t)(r >> (8 * j));
    }
    if (id[0] == 0) id[0] = 1; /* never all zero */
    return id;
}

static uint16_t group_of(int svc, int vidx, int pod)
{
    return (uint16_t)((svc * 2 + vidx) * SIM_MAX_PODS + pod);
}

static attr_list span_attrs(otel_span *sp)
{
    attr_list l = {sp ? sp->attributes : NULL, sp ? &sp->n_attributes : NULL};
    return l;
}

/* A new span in |group|; |parent| NULL for a root. Remote parents set the
 * is-remote flag bits (0x300), local ones only the has-is-remote bit. */
static otel_span *span_new(gen_ctx *g, uint16_t group, const uint8_t *parent, int remote,
                           const char *name, Opentelemetry__Proto__Trace__V1__Span__SpanKind kind,
                           int64_t start)
{
    if (g->n_spans >= g->cap_spans) return NULL;
    otel_span *sp = g_alloc(g, sizeof *sp);
    otel_kv **attrs = g_alloc(g, SIM_MAX_ATTRS * sizeof *attrs);
    Opentelemetry__Proto__Trace__V1__Status *st = g_alloc(g, sizeof *st);
    uint8_t *id = rand_id(g, 8);
    if (!sp || !attrs || !st || !id) return NULL;
    opentelemetry__proto__trace__v1__span__init(sp);
    opentelemetry__proto__trace__v1__status__init(st);
    sp->trace_id.data = g->trace_id;
    sp->trace_id.len = 16;
    sp->span_id.data = id;
    sp->span_id.len = 8;
    if (parent) {
        sp->parent_span_id.data = (uint8_t *)parent;
        sp->parent_span_id.len = 8;
    }
    sp->flags = 0x01u | 0x100u | (remote ? 0x200u : 0u);
    sp->name = (char *)name;
    sp->kind = kind;
    sp->start_time_unix_nano = (uint64_t)(g->s->opt.start_unix_ns + start);
    sp->end_time_unix_nano = sp->start_time_unix_nano;
    sp->attributes = attrs;
    sp->status = st;
    g->spans[g->n_spans++] = (gen_ref){group, sp};
    return sp;
}

static void span_end(gen_ctx *g, otel_span *sp, int64_t end)
{
    if (sp) sp->end_time_unix_nano = (uint64_t)(g->s->opt.start_unix_ns + end);
}

static void span_fail(gen_ctx *g, otel_span *sp, const char *type, const char *msg, int64_t at)
{
    if (!sp) return;
    sp->status->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    sp->status->message = (char *)msg;
    if (!type) return;
    otel_event *ev = g_alloc(g, sizeof *ev);
    otel_event **evs = g_alloc(g, sizeof *evs);
    otel_kv **attrs = g_alloc(g, SIM_MAX_ATTRS * sizeof *attrs);
    if (!ev || !evs || !attrs) return;
    opentelemetry__proto__trace__v1__span__event__init(ev);
    ev->name = (char *)"exception";
    ev->time_unix_nano = (uint64_t)(g->s->opt.start_unix_ns + at);
    ev->attributes = attrs;
    attr_list l = {attrs, &ev->n_attributes};
    attr_str(g, l, "exception.type", type);
    attr_str(g, l, "exception.message", msg);
    attr_str(g, l, "exception.escaped", "true");
    evs[0] = ev;
    sp->events = evs;
    sp->n_events = 1;
}

static void log_emit(gen_ctx *g, uint16_t group, int64_t at, int error, const otel_span *sp,
                     const char *logger, const char *body)
{
    if (g->n_logs >= g->cap_logs || !body) return;
    otel_log *rec = g_alloc(g, sizeof *rec);
    otel_any *b = any_new(g);
    otel_kv **attrs = g_alloc(g, SIM_MAX_ATTRS * sizeof *attrs);
    if (!rec || !b || !attrs) return;
    opentelemetry__proto__logs__v1__log_record__init(rec);
    rec->time_unix_nano = (uint64_t)(g->s->opt.start_unix_ns + at);
    rec->observed_time_unix_nano = rec->time_unix_nano + 1000000u;
    rec->severity_number =
        error ? OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR
              : OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
    rec->severity_text = (char *)(error ? "ERROR" : "INFO");
    b->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    b->string_value = (char *)body;
    rec->body = b;
    rec->attributes = attrs;
    attr_list l = {attrs, &rec->n_attributes};
    attr_str(g, l, "log.logger", logger);
    if (sp) {
        rec->trace_id = sp->trace_id;
        rec->span_id = sp->span_id;
        rec->flags = 0x01;
    }
    g->logs[g->n_logs++] = (gen_ref){group, rec};
}

/* Replaces each "{...}" of |route| with a number. */
static char *route_path(gen_ctx *g, const char *route)
{
    char buf[160];
    size_t o = 0;
    for (const char *p = route; *p && o + 12 < sizeof buf;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (!e) break;
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%u", 1000 + rnd_below(g->s, 90000));
            p = e + 1;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    char *r = fw_arena_strndup(g->a, buf, o);
    if (!r) g->oom = 1;
    return r;
}

/* Splits "VERB rest" into a static-lifetime verb copy and rest. */
static const char *split_op(gen_ctx *g, const char *op, const char **rest)
{
    const char *sp = strchr(op, ' ');
    if (!sp) {
        *rest = NULL;
        return op;
    }
    *rest = sp + 1;
    char *v = fw_arena_strndup(g->a, op, (size_t)(sp - op));
    if (!v) {
        g->oom = 1;
        return op; /* never NULL: callers compare it */
    }
    return v;
}

/* ---- request generation ---- */

typedef struct call_result {
    int64_t end;
    int failed; /* the caller sees a failure */
    int code;   /* HTTP status or gRPC code seen by the caller */
} call_result;

static void gen_server(gen_ctx *g, int svc, int op, const uint8_t *parent, int64_t start, int depth,
                       call_result *res);

static const char *svc_logger(const sim_service_def *d)
{
    switch (d->lang) {
    case SIM_LANG_JAVA: return "com.example.Application";
    case SIM_LANG_GO: return "main";
    case SIM_LANG_PYTHON: return "app";
    case SIM_LANG_NODE: return "server";
    case SIM_LANG_DOTNET: return "Microsoft.AspNetCore";
    default: return "service";
    }
}

/* A dependency call from |svc| (in |group|) under span |parent|. */
static void gen_dep_call(gen_ctx *g, int svc, uint16_t group, const uint8_t *parent, int dep,
                         const char *op, int64_t t, int depth, call_result *res)
{
    if (g->oom) { /* the batch is abandoned: unwind without touching the arena */
        *res = (call_result){t, 0, 0};
        return;
    }
    fw_sim *s = g->s;
    const sim_topology_def *topo = s->topo;
    const sim_dep_def *d = &topo->deps[dep];
    const sim_service_def *caller = &topo->services[svc];
    const sim_lang_def *lang = &fw__sim_langs[caller->lang];
    const char *rest = NULL;
    const char *verb = split_op(g, op, &rest);
    otel_span *sp = NULL;
    int64_t dur = lat_ns(s, d->ms);
    const sim_fault_rt *lf = fault_on(s, FW_SIM_FAULT_LATENCY, -1, dep, t);
    if (lf) dur = dur * 10 + lat_ns(s, 200);

    res->failed = 0;
    res->code = 0;
    const char *fail_type = NULL, *fail_msg = NULL, *err_type = NULL;
    int throttled = 0;

    const sim_fault_rt *of = fault_on(s, FW_SIM_FAULT_OUTAGE, -1, dep, t);
    const sim_fault_rt *tf = fault_on(s, FW_SIM_FAULT_THROTTLING, -1, dep, t);
    double throttle_share = tf ? 0.3 : (s->decoy_throttle_dep == dep ? s->decoy_throttle_share : 0);
    if (of && rnd01(s) < 0.95) {
        char hp[96];
        snprintf(hp, sizeof hp, "%s:%d", d->address, d->port);
        fail_type = lang->refused_type;
        const char *pct = strstr(lang->refused_fmt, "%s");
        fail_msg = pct ? g_printf(g, "%.*s%s%s", (int)(pct - lang->refused_fmt), lang->refused_fmt,
                                  hp, pct + 2)
                       : lang->refused_fmt;
        err_type = fail_type;
        dur = lat_ns(s, 1.5);
    } else if (throttle_share > 0 && rnd01(s) < throttle_share &&
               (d->kind == SIM_DEP_DYNAMO || d->kind == SIM_DEP_HTTP || d->kind == SIM_DEP_LLM)) {
        throttled = 1;
        dur += lat_ns(s, 120); /* SDK retries with backoff before giving up */
        if (d->kind == SIM_DEP_DYNAMO) {
            fail_type = caller->lang == SIM_LANG_JAVA
                            ? "software.amazon.awssdk.services.dynamodb.model."
                              "ProvisionedThroughputExceededException"
                            : "ProvisionedThroughputExceededException";
            fail_msg = "The level of configured provisioned throughput for the table was "
                       "exceeded. Consider increasing your provisioning level with the "
                       "UpdateTable API. (Service: DynamoDb, Status Code: 400)";
            err_type = "ProvisionedThroughputExceededException";
            res->code = 400;
        } else if (d->kind == SIM_DEP_LLM) {
            fail_type = g_printf(g, "%s.RateLimitError", d->system);
            fail_msg = "Error code: 429 - Rate limit reached for requests per min (RPM). "
                       "Please try again in 20s.";
            err_type = "429";
            res->code = 429;
        } else {
            fail_type = lang->upstream_type;
            fail_msg = "Request failed with status code 429: Too Many Requests (rate limit)";
            err_type = "429";
            res->code = 429;
        }
    } else if (rnd01(s) < 0.0005) {
        fail_type = lang->timeout_type;
        fail_msg = lang->timeout_msg;
        err_type = fail_type;
        dur += lat_ns(s, 500);
    }

    switch (d->kind) {
    case SIM_DEP_SQL:
    case SIM_DEP_CACHE: {
        const char *name = rest ? g_printf(g, "%s %s", verb, rest) : verb;
        sp = span_new(g, group, parent, 0, name,
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        attr_str(g, l, "db.system", d->system);
        if (caller->old_semconv) {
            attr_str(g, l, "db.operation", verb);
            if (rest) attr_str(g, l, "db.sql.table", rest);
            attr_str(g, l, "db.name", topo->namespace_);
            attr_str(g, l, "net.peer.name", d->address);
            attr_int(g, l, "net.peer.port", d->port);
        } else {
            attr_str(g, l, "db.system.name", d->system);
            attr_str(g, l, "db.operation.name", verb);
            if (rest) attr_str(g, l, "db.collection.name", rest);
            attr_str(g, l, "db.namespace", topo->namespace_);
            attr_str(g, l, "server.address", d->address);
            attr_int(g, l, "server.port", d->port);
        }
        if (d->kind == SIM_DEP_SQL && rest && !strcmp(d->system, "mongodb"))
            attr_str(g, l, "db.statement", g_printf(g, "{\"%s\":\"%s\"}", verb, rest));
        else if (d->kind == SIM_DEP_SQL && rest)
            attr_str(g, l, "db.statement",
                     !strcmp(verb, "SELECT")
                         ? g_printf(g, "SELECT * FROM %s WHERE id = ?", rest)
                         : g_printf(g, "%s INTO %s VALUES (?, ?, ?)", verb, rest));
        break;
    }
    case SIM_DEP_DYNAMO: {
        sp = span_new(g, group, parent, 0, g_printf(g, "DynamoDB.%s", verb),
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        attr_str(g, l, "rpc.system", "aws-api");
        attr_str(g, l, "rpc.service", "DynamoDB");
        attr_str(g, l, "rpc.method", verb);
        attr_str(g, l, "db.system", "dynamodb");
        if (rest) attr_str_array1(g, l, "aws.dynamodb.table_names", rest);
        attr_str(g, l, "cloud.region", topo->region);
        attr_str(g, l, "server.address", d->address);
        attr_str(g, l, "aws.request_id",
                 g_printf(g, "%016" PRIX64 "%04X", rnd(s), rnd_below(s, 65536)));
        attr_int(g, l, "http.response.status_code", res->code ? res->code : 200);
        break;
    }
    case SIM_DEP_HTTP: {
        sp =
            span_new(g, group, parent, 0, caller->old_semconv ? g_printf(g, "HTTP %s", verb) : verb,
                     OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        char *url = g_printf(g, "https://%s%s", d->address, rest ? rest : "/");
        int code = res->code ? res->code : (fail_type ? 0 : 200);
        if (caller->old_semconv) {
            attr_str(g, l, "http.method", verb);
            attr_str(g, l, "http.url", url);
            attr_str(g, l, "net.peer.name", d->address);
            if (code) attr_int(g, l, "http.status_code", code);
        } else {
            attr_str(g, l, "http.request.method", verb);
            attr_str(g, l, "url.full", url);
            attr_str(g, l, "server.address", d->address);
            attr_int(g, l, "server.port", d->port);
            if (code) attr_int(g, l, "http.response.status_code", code);
        }
        break;
    }
    case SIM_DEP_LLM: {
        sp = span_new(g, group, parent, 0, op,
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        attr_str(g, l, "gen_ai.system", d->system);
        attr_str(g, l, "gen_ai.operation.name", verb);
        if (rest) attr_str(g, l, "gen_ai.request.model", rest);
        attr_str(g, l, "server.address", d->address);
        attr_int(g, l, "server.port", d->port);
        if (!fail_type) {
            if (rest) attr_str(g, l, "gen_ai.response.model", rest);
            attr_int(g, l, "gen_ai.usage.input_tokens", 200 + (int64_t)rnd_below(s, 1500));
            attr_int(g, l, "gen_ai.usage.output_tokens", 50 + (int64_t)rnd_below(s, 400));
        } else if (res->code) {
            attr_int(g, l, "http.response.status_code", res->code);
        }
        break;
    }
    case SIM_DEP_KAFKA: {
        sp = span_new(g, group, parent, 0,
                      caller->old_semconv ? g_printf(g, "%s send", op)
                                          : g_printf(g, "publish %s", op),
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_PRODUCER, t);
        attr_list l = span_attrs(sp);
        attr_str(g, l, "messaging.system", "kafka");
        attr_str(g, l, "messaging.destination.name", op);
        attr_str(g, l, "messaging.operation", "publish");
        attr_str(g, l, "messaging.operation.type", "send");
        attr_str(g, l, "server.address", d->address);
        attr_int(g, l, "server.port", d->port);
        break;
    }
    }
    if (!sp) {
        res->end = t + dur;
        res->failed = fail_type != NULL;
        return;
    }
    if (caller->old_semconv) attr_str(g, span_attrs(sp), "peer.service", d->name);
    res->end = t + dur;
    span_end(g, sp, res->end);
    if (fail_type) {
        res->failed = 1;
        attr_str(g, span_attrs(sp), "error.type", err_type);
        span_fail(g, sp, fail_type, fail_msg, res->end);
        log_emit(g, group, res->end, 1, sp, svc_logger(caller),
                 g_printf(g, "%s %s failed%s: %s: %s", d->name, op, throttled ? " (throttled)" : "",
                          fail_type, fail_msg ? fail_msg : ""));
        /* a cache miss-by-error falls back; anything else fails the caller */
        if (d->kind == SIM_DEP_CACHE) res->failed = 0;
    }
    /* a published message is consumed by the consumers of its topic */
    if (d->kind == SIM_DEP_KAFKA && !res->failed) {
        for (size_t c = 0; c < topo->n_services; c++) {
            const sim_service_def *cd = &topo->services[c];
            if (strcmp(cd->proto, "consumer") != 0 || strcmp(cd->ops[0].name, op) != 0) continue;
            if (fault_on(s, FW_SIM_FAULT_SILENT, (int)c, -1, res->end)) continue;
            call_result cr;
            gen_server(g, (int)c, 0, sp->span_id.data, res->end + lat_ns(s, 15), depth + 1, &cr);
        }
    }
}

/* A call from |svc| to service |callee| operation |op|. */
static void gen_svc_call(gen_ctx *g, int svc, uint16_t group, const uint8_t *parent, int callee,
                         int op, int64_t t, int depth, call_result *res)
{
    if (g->oom) { /* the batch is abandoned: unwind without touching the arena */
        *res = (call_result){t, 0, 0};
        return;
    }
    fw_sim *s = g->s;
    const sim_service_def *caller = &s->topo->services[svc];
    const sim_service_def *cd = &s->topo->services[callee];
    const sim_op_def *od = &cd->ops[op];
    const sim_lang_def *lang = &fw__sim_langs[caller->lang];
    int grpc = strcmp(cd->proto, "grpc") == 0;
    otel_span *sp;
    const char *rest = NULL;
    const char *verb = grpc ? NULL : split_op(g, od->name, &rest);

    if (grpc) {
        sp = span_new(g, group, parent, 0, od->name,
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        const char *slash = strchr(od->name, '/');
        attr_str(g, l, "rpc.system", "grpc");
        if (slash) {
            attr_str(g, l, "rpc.service",
                     fw_arena_strndup(g->a, od->name, (size_t)(slash - od->name)));
            attr_str(g, l, "rpc.method", slash + 1);
        }
        attr_str(g, l, "server.address", cd->name);
        attr_int(g, l, "server.port", 50051);
    } else {
        sp =
            span_new(g, group, parent, 0, caller->old_semconv ? g_printf(g, "HTTP %s", verb) : verb,
                     OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, t);
        attr_list l = span_attrs(sp);
        char *url = g_printf(g, "http://%s:8080%s", cd->name, rest ? route_path(g, rest) : "/");
        if (caller->old_semconv) {
            attr_str(g, l, "http.method", verb);
            attr_str(g, l, "http.url", url);
            attr_str(g, l, "net.peer.name", cd->name);
            attr_int(g, l, "net.peer.port", 8080);
        } else {
            attr_str(g, l, "http.request.method", verb);
            attr_str(g, l, "url.full", url);
            attr_str(g, l, "server.address", cd->name);
            attr_int(g, l, "server.port", 8080);
        }
    }
    if (caller->old_semconv) attr_str(g, span_attrs(sp), "peer.service", cd->name);

    if (fault_on(s, FW_SIM_FAULT_SILENT, callee, -1, t)) {
        /* the callee is gone: the caller waits for its deadline */
        res->end = t + (grpc ? NS_PER_S : 2 * NS_PER_S) + lat_ns(s, 5);
        res->failed = 1;
        res->code = grpc ? 4 : 0; /* DEADLINE_EXCEEDED */
        if (grpc) attr_int(g, span_attrs(sp), "rpc.grpc.status_code", 4);
        attr_str(g, span_attrs(sp), "error.type", grpc ? "DEADLINE_EXCEEDED" : lang->timeout_type);
        span_end(g, sp, res->end);
        span_fail(g, sp, lang->timeout_type, lang->timeout_msg, res->end);
        log_emit(g, group, res->end, 1, sp, svc_logger(caller),
                 g_printf(g, "call to %s %s timed out: %s", cd->name, od->name, lang->timeout_msg));
        return;
    }
    call_result cr;
    int64_t net = lat_ns(s, 0.4);
    gen_server(g, callee, op, sp ? sp->span_id.data : NULL, t + net, depth + 1, &cr);
    res->end = cr.end + lat_ns(s, 0.4);
    res->failed = cr.failed;
    res->code = cr.code;
    span_end(g, sp, res->end);
    attr_list l = span_attrs(sp);
    if (grpc) {
        attr_int(g, l, "rpc.grpc.status_code", cr.code);
    } else {
        attr_int(g, l, caller->old_semconv ? "http.status_code" : "http.response.status_code",
                 cr.code);
    }
    if (cr.failed) {
        attr_str(g, l, "error.type", grpc ? (cr.code == 14 ? "UNAVAILABLE" : "INTERNAL") : "500");
        span_fail(
            g, sp, NULL,
            grpc ? g_printf(g, "rpc error: code = %s", cr.code == 14 ? "Unavailable" : "Internal")
                 : NULL,
            res->end);
    }
}

/* A SERVER (or CONSUMER) span of |svc| for operation |op|, with its calls. */
static void gen_server(gen_ctx *g, int svc, int op, const uint8_t *parent, int64_t start, int depth,
                       call_result *res)
{
    if (g->oom) { /* the batch is abandoned: unwind without touching the arena */
        *res = (call_result){start, 0, 0};
        return;
    }
    fw_sim *s = g->s;
    const sim_service_def *d = &s->topo->services[svc];
    const sim_op_def *od = &d->ops[op];
    const sim_lang_def *lang = &fw__sim_langs[d->lang];
    sim_svc_rt *rt = &s->svc[svc];
    int vidx = vidx_at(s, svc, start);
    int pod = (int)rnd_below(s, (unsigned)d->pods);
    uint16_t group = group_of(svc, vidx, pod);
    int grpc = strcmp(d->proto, "grpc") == 0, consumer = strcmp(d->proto, "consumer") == 0;
    otel_span *sp;
    const char *rest = NULL, *verb = NULL;

    if (consumer) {
        sp = span_new(g, group, parent, 1,
                      d->old_semconv ? g_printf(g, "%s receive", od->name)
                                     : g_printf(g, "process %s", od->name),
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CONSUMER, start);
        attr_list l = span_attrs(sp);
        attr_str(g, l, "messaging.system", "kafka");
        attr_str(g, l, "messaging.destination.name", od->name);
        attr_str(g, l, "messaging.operation", "process");
        attr_str(g, l, "messaging.consumer.group.name", d->name);
    } else if (grpc) {
        sp = span_new(g, group, parent, parent != NULL, od->name,
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER, start);
        attr_list l = span_attrs(sp);
        const char *slash = strchr(od->name, '/');
        attr_str(g, l, "rpc.system", "grpc");
        if (slash) {
            attr_str(g, l, "rpc.service",
                     fw_arena_strndup(g->a, od->name, (size_t)(slash - od->name)));
            attr_str(g, l, "rpc.method", slash + 1);
        }
    } else {
        verb = split_op(g, od->name, &rest);
        sp = span_new(g, group, parent, parent != NULL, od->name,
                      OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER, start);
        attr_list l = span_attrs(sp);
        attr_str(g, l, d->old_semconv ? "http.method" : "http.request.method", verb);
        attr_str(g, l, "http.route", rest);
        attr_str(g, l, d->old_semconv ? "http.target" : "url.path",
                 rest ? route_path(g, rest) : "/");
        attr_str(g, l, d->old_semconv ? "http.scheme" : "url.scheme", "http");
    }

    /* own time, slower under a latency fault on this service */
    int64_t self = lat_ns(s, od->self_ms);
    if (fault_on(s, FW_SIM_FAULT_LATENCY, svc, -1, start)) self = self * 15 + lat_ns(s, 250);
    int64_t t = start + self * 3 / 10;
    int call_failed = 0, call_code = 0;
    for (int k = 0; k < SIM_MAX_CALLS && od->calls[k].target; k++) {
        if (rnd01(s) >= od->calls[k].prob) continue;
        int tgt = s->call_target[svc][op][k];
        call_result cr = {0};
        if (depth >= SIM_MAX_DEPTH) break;
        if (tgt >= 0)
            gen_svc_call(g, svc, group, sp ? sp->span_id.data : NULL, tgt, s->call_op[svc][op][k],
                         t, depth, &cr);
        else
            gen_dep_call(g, svc, group, sp ? sp->span_id.data : NULL, -tgt - 1, od->calls[k].op, t,
                         depth, &cr);
        t = cr.end + lat_ns(s, 0.2);
        if (cr.failed) {
            call_failed = 1;
            call_code = cr.code;
            break; /* the failure short-circuits the handler */
        }
    }
    t += self * 7 / 10;

    /* own faults */
    const char *own_type = NULL, *own_msg = NULL;
    const sim_fault_rt *cf = fault_on(s, FW_SIM_FAULT_CODE_ERROR, svc, -1, start);
    double noise =
        rt->noise + ((start >= rt->noise_start && start < rt->noise_end) ? rt->noise_burst : 0);
    if (cf && cf->op == op && rnd01(s) < 0.4) {
        own_type = lang->npe_type;
        own_msg = lang->npe_msg;
    } else if (vidx == 1 && rnd01(s) < 0.25 &&
               (fault_on(s, FW_SIM_FAULT_BAD_DEPLOY, svc, -1, start) ||
                fault_on(s, FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED, svc, -1, start))) {
        own_type = lang->deploy_type;
        own_msg = lang->deploy_msg;
    } else if (rnd01(s) < noise) {
        own_type = lang->noise_type;
        own_msg = lang->noise_msg;
    }

    int failed = own_type != NULL || (call_failed && rnd01(s) < 0.9);
    int client_error = !failed && !consumer && !grpc && depth == 0 && rnd01(s) < 0.004;
    res->end = t;
    res->failed = failed;
    if (grpc)
        res->code = failed ? (call_failed && call_code == 4 ? 14 : 13) : 0;
    else
        res->code = failed ? 500 : (client_error ? 404 : 200);
    span_end(g, sp, t);
    attr_list l = span_attrs(sp);
    if (grpc)
        attr_int(g, l, "rpc.grpc.status_code", res->code);
    else if (!consumer)
        attr_int(g, l, d->old_semconv ? "http.status_code" : "http.response.status_code",
                 res->code);

    if (failed) {
        const char *type = own_type ? own_type : lang->upstream_type;
        const char *msg =
            own_type ? own_msg : g_printf(g, "upstream call failed (status %d)", call_code);
        attr_str(g, l, "error.type", type);
        span_fail(g, sp, type, msg, t);
        log_emit(g, group, t, 1, sp, svc_logger(d),
                 g_printf(g, "Unhandled exception in %s: %s: %s (request_id=%08x)", od->name, type,
                          msg ? msg : "", (unsigned)rnd_below(s, 0xffffffffu)));
    } else if (rnd01(s) < 0.2) {
        log_emit(g, group, t, 0, sp, svc_logger(d),
                 g_printf(g, "%s completed in %" PRId64 " ms status=%d user_id=u-%u", od->name,
                          (int64_t)((t - start) / NS_PER_MS), res->code,
                          1000 + rnd_below(s, 50000)));
    }
}

/* ---- batch assembly ---- */

static otel_resource *resource_new(gen_ctx *g, int svc, int vidx, int pod)
{
    fw_sim *s = g->s;
    const sim_service_def *d = &s->topo->services[svc];
    otel_resource *r = g_alloc(g, sizeof *r);
    otel_kv **attrs = g_alloc(g, SIM_MAX_ATTRS * sizeof *attrs);
    if (!r || !attrs) return NULL;
    opentelemetry__proto__resource__v1__resource__init(r);
    r->attributes = attrs;
    attr_list l = {attrs, &r->n_attributes};
    attr_str(g, l, "service.name", d->name);
    attr_str(g, l, "service.namespace", s->topo->namespace_);
    attr_str(g, l, "service.version", s->svc[svc].version[vidx]);
    attr_str(g, l, d->old_semconv ? "deployment.environment" : "deployment.environment.name",
             s->topo->environment);
    attr_str(g, l, "k8s.namespace.name", s->topo->namespace_);
    attr_str(g, l, "k8s.pod.name", s->svc[svc].pod[vidx][pod]);
    attr_str(g, l, "k8s.node.name", s->svc[svc].host[pod]);
    attr_str(g, l, "host.name", s->svc[svc].host[pod]);
    attr_str(g, l, "cloud.region", s->topo->region);
    attr_str(g, l, "telemetry.sdk.name", "opentelemetry");
    attr_str(g, l, "telemetry.sdk.language", fw__sim_langs[d->lang].sdk_language);
    return r;
}

static Opentelemetry__Proto__Common__V1__InstrumentationScope *scope_new(gen_ctx *g, int svc)
{
    Opentelemetry__Proto__Common__V1__InstrumentationScope *sc = g_alloc(g, sizeof *sc);
    if (!sc) return NULL;
    opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
    sc->name = (char *)fw__sim_langs[g->s->topo->services[svc].lang].scope;
    sc->version = (char *)"1.0.0";
    return sc;
}

/* Groups |refs| by resource into ExportTraceServiceRequest / ExportLogsServiceRequest. */
static void assemble(gen_ctx *g, fw_sim_batch *out)
{
    /* stable grouping: counting sort by group keeps time order within a group */
    size_t count[SIM_N_GROUPS] = {0};
    for (int pass = 0; pass < 2; pass++) {
        gen_ref *refs = pass == 0 ? g->spans : g->logs;
        size_t n = pass == 0 ? g->n_spans : g->n_logs;
        if (n == 0) continue;
        memset(count, 0, sizeof count);
        size_t n_groups = 0;
        for (size_t i = 0; i < n; i++)
            if (count[refs[i].group]++ == 0) n_groups++;
        void **items = g_alloc(g, n * sizeof *items);
        void **rlist = g_alloc(g, n_groups * sizeof *rlist);
        if (!items || !rlist) return;
        size_t off[SIM_N_GROUPS], pos[SIM_N_GROUPS], acc = 0;
        for (size_t k = 0; k < SIM_N_GROUPS; k++) {
            off[k] = pos[k] = acc;
            acc += count[k];
        }
        for (size_t i = 0; i < n; i++) items[pos[refs[i].group]++] = refs[i].msg;
        size_t gi = 0;
        for (size_t k = 0; k < SIM_N_GROUPS; k++) {
            if (!count[k]) continue;
            int svc = (int)(k / (2 * SIM_MAX_PODS)), vidx = (int)((k / SIM_MAX_PODS) % 2),
                pod = (int)(k % SIM_MAX_PODS);
            otel_resource *res = resource_new(g, svc, vidx, pod);
            if (pass == 0) {
                Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = g_alloc(g, sizeof *rs);
                Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = g_alloc(g, sizeof *ss);
                Opentelemetry__Proto__Trace__V1__ScopeSpans **ssl = g_alloc(g, sizeof *ssl);
                if (!rs || !ss || !ssl) return;
                opentelemetry__proto__trace__v1__resource_spans__init(rs);
                opentelemetry__proto__trace__v1__scope_spans__init(ss);
                ss->scope = scope_new(g, svc);
                ss->n_spans = count[k];
                ss->spans = (otel_span **)&items[off[k]];
                ssl[0] = ss;
                rs->resource = res;
                rs->n_scope_spans = 1;
                rs->scope_spans = ssl;
                rlist[gi++] = rs;
            } else {
                Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = g_alloc(g, sizeof *rl);
                Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = g_alloc(g, sizeof *sl);
                Opentelemetry__Proto__Logs__V1__ScopeLogs **sll = g_alloc(g, sizeof *sll);
                if (!rl || !sl || !sll) return;
                opentelemetry__proto__logs__v1__resource_logs__init(rl);
                opentelemetry__proto__logs__v1__scope_logs__init(sl);
                sl->scope = scope_new(g, svc);
                sl->n_log_records = count[k];
                sl->log_records = (otel_log **)&items[off[k]];
                sll[0] = sl;
                rl->resource = res;
                rl->n_scope_logs = 1;
                rl->scope_logs = sll;
                rlist[gi++] = rl;
            }
        }
        if (pass == 0) {
            Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
                g_alloc(g, sizeof *req);
            if (!req) return;
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
            req->n_resource_spans = gi;
            req->resource_spans = (Opentelemetry__Proto__Trace__V1__ResourceSpans **)rlist;
            out->traces = req;
        } else {
            Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req =
                g_alloc(g, sizeof *req);
            if (!req) return;
            opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(req);
            req->n_resource_logs = gi;
            req->resource_logs = (Opentelemetry__Proto__Logs__V1__ResourceLogs **)rlist;
            out->logs = req;
        }
    }
}

static double rate_at(const fw_sim *s, int64_t t)
{
    double r = s->opt.rate;
    for (size_t i = 0; i < s->n_faults; i++)
        if (s->faults[i].f.kind == FW_SIM_FAULT_SURGE && fault_active(&s->faults[i], t)) r *= 5;
    return r;
}

static int pick_entry(fw_sim *s, int *op)
{
    double x = rnd01(s) * s->entry_total;
    const sim_topology_def *t = s->topo;
    for (size_t i = 0; i < t->n_services; i++)
        for (int k = 0; k < SIM_MAX_OPS && t->services[i].ops[k].name; k++) {
            x -= t->services[i].ops[k].entry_weight;
            if (x < 0 && t->services[i].ops[k].entry_weight > 0) {
                *op = k;
                return (int)i;
            }
        }
    *op = 0;
    return 0;
}

int fw_sim_next_batch(fw_sim *s, int64_t until_ns, size_t max_spans, fw_arena *arena,
                      fw_sim_batch *out)
{
    memset(out, 0, sizeof *out);
    if (max_spans == 0) max_spans = 1;
    if (until_ns > s->opt.duration_ns) until_ns = s->opt.duration_ns;
    gen_ctx g = {.s = s, .a = arena};
    g.cap_spans = max_spans + SIM_TRACE_RESERVE;
    g.cap_logs = g.cap_spans;
    g.spans = fw_arena_alloc(arena, g.cap_spans * sizeof *g.spans);
    g.logs = fw_arena_alloc(arena, g.cap_logs * sizeof *g.logs);
    if (!g.spans || !g.logs) return FW_ERR_NOMEM;

    while (s->next_arrival < until_ns && g.n_spans < max_spans && !g.oom) {
        int64_t t = s->next_arrival;
        int op, svc = pick_entry(s, &op);
        g.trace_id = rand_id(&g, 16);
        if (!fault_on(s, FW_SIM_FAULT_SILENT, svc, -1, t)) {
            call_result cr;
            gen_server(&g, svc, op, NULL, t, 0, &cr);
            out->n_traces++;
        }
        double gap_s = -log(1.0 - rnd01(s)) / rate_at(s, t);
        s->next_arrival = t + 1 + (int64_t)(gap_s * (double)NS_PER_S);
    }
    out->reached_ns = s->next_arrival < until_ns ? s->next_arrival : until_ns;
    out->done = s->next_arrival >= s->opt.duration_ns;
    while (s->next_ann < s->n_ann &&
           s->ann[s->next_ann].time_unix_ns - s->opt.start_unix_ns <
               out->reached_ns + (out->done ? INT64_MAX / 2 : 0) &&
           out->n_announcements < sizeof out->announcements / sizeof out->announcements[0])
        out->announcements[out->n_announcements++] = s->ann[s->next_ann++];
    if (!g.oom) assemble(&g, out);
    if (g.oom) return FW_ERR_NOMEM;
    out->n_spans = g.n_spans;
    out->n_logs = g.n_logs;
    s->totals.traces += out->n_traces;
    s->totals.spans += g.n_spans;
    s->totals.logs += g.n_logs;
    return 0;
}

/* ---- set-up ---- */

const char *fw_sim_fault_kind_name(fw_sim_fault_kind k)
{
    switch (k) {
    case FW_SIM_FAULT_THROTTLING: return "throttling";
    case FW_SIM_FAULT_BAD_DEPLOY: return "bad-deploy";
    case FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED: return "bad-deploy-announced";
    case FW_SIM_FAULT_OUTAGE: return "outage";
    case FW_SIM_FAULT_LATENCY: return "latency";
    case FW_SIM_FAULT_CODE_ERROR: return "code-error";
    case FW_SIM_FAULT_SILENT: return "silent";
    case FW_SIM_FAULT_SURGE: return "surge";
    }
    return "unknown";
}

int fw_sim_duration_parse(const char *str, int64_t *out_ns)
{
    int64_t total = 0;
    const char *p = str;
    if (!p || !*p) return FW_ERR_INVALID;
    while (*p) {
        if (*p < '0' || *p > '9') return FW_ERR_INVALID;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            if (v > 10LL * 365 * 86400) return FW_ERR_INVALID;
            p++;
        }
        int64_t unit = 1;
        if (*p == 'h')
            unit = 3600, p++;
        else if (*p == 'm' && p[1] == 's')
            unit = 0, p += 2;
        else if (*p == 'm')
            unit = 60, p++;
        else if (*p == 's')
            unit = 1, p++;
        else if (*p != '\0')
            return FW_ERR_INVALID;
        total += unit ? v * unit * NS_PER_S : v * NS_PER_MS;
    }
    *out_ns = total;
    return 0;
}

int fw_sim_fault_parse(const char *spec, fw_sim_fault *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        fw_sim_fault_kind kind;
    } kinds[] = {
        {"throttling", FW_SIM_FAULT_THROTTLING},
        {"bad-deploy", FW_SIM_FAULT_BAD_DEPLOY},
        {"bad_deploy", FW_SIM_FAULT_BAD_DEPLOY},
        {"bad-deployment", FW_SIM_FAULT_BAD_DEPLOY},
        {"bad-deploy-announced", FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED},
        {"outage", FW_SIM_FAULT_OUTAGE},
        {"latency", FW_SIM_FAULT_LATENCY},
        {"code-error", FW_SIM_FAULT_CODE_ERROR},
        {"code_error", FW_SIM_FAULT_CODE_ERROR},
        {"silent", FW_SIM_FAULT_SILENT},
        {"surge", FW_SIM_FAULT_SURGE},
    };
    memset(out, 0, sizeof *out);
    out->start_ns = -1;
    const char *colon = strchr(spec, ':');
    if (!colon) {
        snprintf(err, errlen, "fault '%.80s': expected KIND:TARGET[@START[+DUR]]", spec);
        return FW_ERR_INVALID;
    }
    size_t kn = (size_t)(colon - spec);
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].name) == kn && strncasecmp(kinds[i].name, spec, kn) == 0) break;
    if (i == sizeof kinds / sizeof kinds[0]) {
        snprintf(err, errlen,
                 "fault '%.80s': unknown kind (throttling, bad-deploy, bad-deploy-announced, "
                 "outage, latency, code-error, silent, surge)",
                 spec);
        return FW_ERR_INVALID;
    }
    out->kind = kinds[i].kind;
    const char *target = colon + 1, *at = strchr(target, '@');
    size_t tn = at ? (size_t)(at - target) : strlen(target);
    if (tn == 0 || tn >= sizeof out->target) {
        snprintf(err, errlen, "fault '%.80s': missing or too long target", spec);
        return FW_ERR_INVALID;
    }
    memcpy(out->target, target, tn);
    out->target[tn] = '\0';
    if (at) {
        char buf[32];
        const char *plus = strchr(at + 1, '+');
        size_t sn = plus ? (size_t)(plus - at - 1) : strlen(at + 1);
        if (sn == 0 || sn >= sizeof buf) goto bad_time;
        memcpy(buf, at + 1, sn);
        buf[sn] = '\0';
        if (fw_sim_duration_parse(buf, &out->start_ns) != 0) goto bad_time;
        if (plus &&
            (fw_sim_duration_parse(plus + 1, &out->duration_ns) != 0 || out->duration_ns <= 0))
            goto bad_time;
    }
    return 0;
bad_time:
    snprintf(err, errlen, "fault '%.80s': bad @START[+DUR] (e.g. @20m+5m)", spec);
    return FW_ERR_INVALID;
}

const char *const *fw_sim_topologies(void)
{
    return fw__sim_topology_names;
}

/* Adds the expected requests |w| of (svc, op) and of everything it calls. */
static void add_volume(const fw_sim *s, int svc, int op, double w, int depth,
                       double volume[SIM_MAX_SERVICES][SIM_MAX_OPS])
{
    const sim_op_def *od = &s->topo->services[svc].ops[op];
    volume[svc][op] += w;
    if (depth >= SIM_MAX_DEPTH) return;
    for (int c = 0; c < SIM_MAX_CALLS && od->calls[c].target; c++)
        if (s->call_target[svc][op][c] >= 0)
            add_volume(s, s->call_target[svc][op][c], s->call_op[svc][op][c], w * od->calls[c].prob,
                       depth + 1, volume);
}

static int resolve_fault(fw_sim *s, const fw_sim_fault *f, sim_fault_rt *rt, char *err,
                         size_t errlen)
{
    const sim_topology_def *t = s->topo;
    rt->f = *f;
    rt->svc = find_service(t, f->target);
    rt->dep = rt->svc < 0 ? find_dep(t, f->target) : -1;
    rt->op = 0;
    rt->start = f->start_ns >= 0 ? f->start_ns : s->opt.duration_ns * 2 / 3;
    rt->end = f->duration_ns > 0 ? rt->start + f->duration_ns : INT64_MAX;
    int svc_only = f->kind == FW_SIM_FAULT_BAD_DEPLOY ||
                   f->kind == FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED ||
                   f->kind == FW_SIM_FAULT_CODE_ERROR || f->kind == FW_SIM_FAULT_SILENT;
    int dep_only = f->kind == FW_SIM_FAULT_THROTTLING || f->kind == FW_SIM_FAULT_OUTAGE;
    if (f->kind == FW_SIM_FAULT_SURGE &&
        (rt->svc >= 0 || !strcmp(f->target, "*") || !strcasecmp(f->target, "all")))
        return 0;
    if (rt->svc < 0 && rt->dep < 0) {
        snprintf(err, errlen, "fault target '%s' is not a service or dependency of topology '%s'",
                 f->target, t->name);
        return FW_ERR_INVALID;
    }
    if ((svc_only && rt->svc < 0) || (dep_only && rt->dep < 0) ||
        (f->kind == FW_SIM_FAULT_SURGE && rt->svc < 0)) {
        snprintf(err, errlen, "fault %s needs a %s target, '%s' is not one",
                 fw_sim_fault_kind_name(f->kind),
                 svc_only || f->kind == FW_SIM_FAULT_SURGE ? "service" : "dependency", f->target);
        return FW_ERR_INVALID;
    }
    if (f->kind == FW_SIM_FAULT_THROTTLING) {
        sim_dep_kind k = t->deps[rt->dep].kind;
        if (k != SIM_DEP_DYNAMO && k != SIM_DEP_HTTP && k != SIM_DEP_LLM) {
            snprintf(err, errlen,
                     "throttling applies to DynamoDB, external APIs and LLMs, not '%s'", f->target);
            return FW_ERR_INVALID;
        }
    }
    if (rt->start >= s->opt.duration_ns) {
        snprintf(err, errlen, "fault %s:%s starts after the end of the simulation",
                 fw_sim_fault_kind_name(f->kind), f->target);
        return FW_ERR_INVALID;
    }
    if (f->kind == FW_SIM_FAULT_CODE_ERROR) {
        /* the busiest operation: most requests per entry request */
        const sim_service_def *d = &t->services[rt->svc];
        double volume[SIM_MAX_SERVICES][SIM_MAX_OPS];
        memset(volume, 0, sizeof volume);
        for (size_t i = 0; i < t->n_services; i++)
            for (int k = 0; k < SIM_MAX_OPS && t->services[i].ops[k].name; k++)
                if (t->services[i].ops[k].entry_weight > 0)
                    add_volume(s, (int)i, k, t->services[i].ops[k].entry_weight, 0, volume);
        int best = 0;
        for (int o = 1; o < SIM_MAX_OPS && d->ops[o].name; o++)
            if (volume[rt->svc][o] > volume[rt->svc][best]) best = o;
        rt->op = best;
    }
    return 0;
}

/* A service that |dep| faults surface in first: the first caller. */
static int dep_caller(const fw_sim *s, int dep)
{
    const sim_topology_def *t = s->topo;
    for (size_t i = 0; i < t->n_services; i++)
        for (int k = 0; k < SIM_MAX_OPS && t->services[i].ops[k].name; k++)
            for (int c = 0; c < SIM_MAX_CALLS && t->services[i].ops[k].calls[c].target; c++)
                if (s->call_target[i][k][c] == DEP(dep)) return (int)i;
    return -1;
}

static int ann_cmp(const void *a, const void *b)
{
    const fw_sim_announcement *x = a, *y = b;
    return (x->time_unix_ns > y->time_unix_ns) - (x->time_unix_ns < y->time_unix_ns);
}

/* Does fault |i| involve service |svc| (as target or as the dependency's caller)? */
static int involves(const fw_sim *s, int svc)
{
    for (size_t i = 0; i < s->n_faults; i++) {
        if (s->faults[i].svc == svc) return 1;
        if (s->faults[i].dep >= 0 && dep_caller(s, s->faults[i].dep) == svc) return 1;
    }
    return 0;
}

int fw_sim_new(const fw_sim_options *opt, fw_sim **out, char *err, size_t errlen)
{
    *out = NULL;
    const sim_topology_def *t = fw__sim_topology_find(opt->topology ? opt->topology : "shop");
    if (!t) {
        snprintf(err, errlen, "unknown topology '%s' (shop, rides)", opt->topology);
        return FW_ERR_INVALID;
    }
    if (t->n_services > SIM_MAX_SERVICES || opt->n_faults > FW_SIM_MAX_FAULTS ||
        opt->duration_ns <= 0) {
        snprintf(err, errlen, "bad simulation options (duration must be positive)");
        return FW_ERR_INVALID;
    }
    fw_sim *s = calloc(1, sizeof *s);
    if (!s) return FW_ERR_NOMEM;
    s->topo = t;
    s->opt = *opt;
    if (s->opt.rate <= 0) s->opt.rate = 20;
    uint64_t seed = opt->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&seed);

    /* resolve calls */
    for (size_t i = 0; i < t->n_services; i++) {
        const sim_service_def *d = &t->services[i];
        for (int k = 0; k < SIM_MAX_OPS && d->ops[k].name; k++) {
            s->entry_total += d->ops[k].entry_weight;
            for (int c = 0; c < SIM_MAX_CALLS && d->ops[k].calls[c].target; c++) {
                const sim_call_def *cd = &d->ops[k].calls[c];
                int callee = find_service(t, cd->target);
                if (callee >= 0) {
                    int op = find_op(&t->services[callee], cd->op);
                    if (op < 0) goto bad_model;
                    s->call_target[i][k][c] = (int16_t)callee;
                    s->call_op[i][k][c] = (int8_t)op;
                } else {
                    int dep = find_dep(t, cd->target);
                    if (dep < 0) goto bad_model;
                    s->call_target[i][k][c] = (int16_t)DEP(dep);
                }
            }
        }
        sim_svc_rt *rt = &s->svc[i];
        snprintf(rt->version[0], sizeof rt->version[0], "%s", d->version);
        bump_version(d->version, rt->version[1], sizeof rt->version[1]);
        rt->switch_at = rt->switch_end = INT64_MAX;
        rt->noise = 0.002;
        for (int v = 0; v < 2; v++) {
            char key[96], rs[11];
            snprintf(key, sizeof key, "%s@%s", d->name, rt->version[v]);
            k8s_suffix(fnv1a(key), rs, sizeof rs);
            for (int p = 0; p < SIM_MAX_PODS; p++) {
                char pk[8];
                snprintf(key, sizeof key, "%s#%d#%d", d->name, v, p);
                k8s_suffix(fnv1a(key), pk, 6);
                snprintf(rt->pod[v][p], sizeof rt->pod[v][p], "%s-%s-%s", d->name, rs, pk);
            }
        }
        for (int p = 0; p < SIM_MAX_PODS; p++) {
            unsigned node = (unsigned)((i * 7 + (size_t)p * 3) % 6);
            snprintf(rt->host[p], sizeof rt->host[p], "ip-10-0-%u-%u.%s.compute.internal",
                     16 + node * 16, 10 + node * 7, t->region);
        }
    }
    if (s->entry_total <= 0) goto bad_model;

    for (size_t i = 0; i < opt->n_faults; i++) {
        int rv = resolve_fault(s, &opt->faults[i], &s->faults[i], err, errlen);
        if (rv) {
            free(s);
            return rv;
        }
        s->n_faults++;
        sim_fault_rt *f = &s->faults[i];
        if (f->f.kind == FW_SIM_FAULT_BAD_DEPLOY ||
            f->f.kind == FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED) {
            s->svc[f->svc].switch_at = f->start;
            s->svc[f->svc].switch_end = f->end; /* a bounded fault ends in a rollback */
            if (f->f.kind == FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED)
                s->ann[s->n_ann++] =
                    (fw_sim_announcement){t->services[f->svc].name, s->svc[f->svc].version[1],
                                          t->environment, opt->start_unix_ns + f->start};
        }
    }

    s->decoy_deploy_svc = s->decoy_noise_svc = s->decoy_throttle_dep = -1;
    if (opt->decoys) {
        int64_t onset = s->n_faults ? s->faults[0].start : opt->duration_ns * 2 / 3;
        /* an unrelated deployment shortly before the onset */
        unsigned off = rnd_below(s, (unsigned)t->n_services);
        for (size_t k = 0; k < t->n_services; k++) {
            int c = (int)((off + k) % t->n_services);
            if (!involves(s, c) && s->svc[c].switch_at == INT64_MAX && c != 0) {
                s->decoy_deploy_svc = c;
                break;
            }
        }
        if (s->decoy_deploy_svc >= 0) {
            sim_svc_rt *rt = &s->svc[s->decoy_deploy_svc];
            s->decoy_deploy_at = onset - 90 * NS_PER_S > 0 ? onset - 90 * NS_PER_S : 0;
            rt->switch_at = s->decoy_deploy_at;
            rt->switch_end = INT64_MAX;
            s->ann[s->n_ann++] =
                (fw_sim_announcement){t->services[s->decoy_deploy_svc].name, rt->version[1],
                                      t->environment, opt->start_unix_ns + s->decoy_deploy_at};
        }
        /* a burst of error noise in another unrelated service around the onset */
        off = rnd_below(s, (unsigned)t->n_services);
        for (size_t k = 0; k < t->n_services; k++) {
            int c = (int)((off + k) % t->n_services);
            if (!involves(s, c) && c != s->decoy_deploy_svc && c != 0) {
                s->decoy_noise_svc = c;
                s->svc[c].noise_start = onset - 60 * NS_PER_S;
                s->svc[c].noise_end = onset + 120 * NS_PER_S;
                s->svc[c].noise_burst = 0.03;
                break;
            }
        }
        /* a dependency that throttles a little all along */
        for (size_t k = 0; k < t->n_deps; k++) {
            int targeted = 0;
            for (size_t i = 0; i < s->n_faults; i++) targeted |= s->faults[i].dep == (int)k;
            sim_dep_kind dk = t->deps[k].kind;
            if (!targeted && (dk == SIM_DEP_DYNAMO || dk == SIM_DEP_LLM || dk == SIM_DEP_HTTP)) {
                s->decoy_throttle_dep = (int)k;
                s->decoy_throttle_share = 0.01;
                break;
            }
        }
    }
    qsort(s->ann, s->n_ann, sizeof s->ann[0], ann_cmp);
    *out = s;
    return 0;
bad_model:
    snprintf(err, errlen, "topology '%s' is inconsistent", t->name);
    free(s);
    return FW_ERR_INVALID;
}

void fw_sim_free(fw_sim *s)
{
    free(s);
}

void fw_sim_get_totals(const fw_sim *s, fw_sim_totals *out)
{
    *out = s->totals;
}

static void fmt_time(int64_t ns, char *buf, size_t n)
{
    time_t sec = (time_t)(ns / NS_PER_S);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ns % NS_PER_S) / NS_PER_MS));
}

/* Appends printf output to |buf| at |*o|, keeping it NUL-terminated. */
static void jcat(char *buf, size_t n, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void jcat(char *buf, size_t n, size_t *o, const char *fmt, ...)
{
    if (*o >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *o, n - *o, fmt, ap);
    va_end(ap);
    if (w > 0) *o += (size_t)w < n - *o ? (size_t)w : n - *o - 1;
}

static void fault_json(const fw_sim *s, const sim_fault_rt *f, char *buf, size_t n, size_t *o)
{
    const sim_topology_def *t = s->topo;
    char onset[64];
    fmt_time(s->opt.start_unix_ns + f->start, onset, sizeof onset);
    int svc = f->svc >= 0 ? f->svc : (f->dep >= 0 ? dep_caller(s, f->dep) : -1);
    int deploy =
        f->f.kind == FW_SIM_FAULT_BAD_DEPLOY || f->f.kind == FW_SIM_FAULT_BAD_DEPLOY_ANNOUNCED;
    jcat(buf, n, o, "\"kind\":\"%s\",\"target\":\"%s\"", fw_sim_fault_kind_name(f->f.kind),
         f->f.target);
    if (svc >= 0)
        jcat(buf, n, o, ",\"service\":\"%s\"", t->services[svc].name);
    else
        jcat(buf, n, o, ",\"service\":null");
    if (f->dep >= 0)
        jcat(buf, n, o, ",\"dependency\":\"%s\"", t->deps[f->dep].name);
    else
        jcat(buf, n, o, ",\"dependency\":null");
    if (deploy)
        jcat(buf, n, o, ",\"version\":\"%s\",\"previous_version\":\"%s\"",
             s->svc[f->svc].version[1], s->svc[f->svc].version[0]);
    else
        jcat(buf, n, o, ",\"version\":null");
    if (f->f.kind == FW_SIM_FAULT_CODE_ERROR)
        jcat(buf, n, o, ",\"operation\":\"%s\"", t->services[f->svc].ops[f->op].name);
    jcat(buf, n, o, ",\"onset\":\"%s\",\"onset_unix_nano\":%" PRId64, onset,
         s->opt.start_unix_ns + f->start);
    if (f->end != INT64_MAX) {
        char end[64];
        fmt_time(s->opt.start_unix_ns + f->end, end, sizeof end);
        jcat(buf, n, o, ",\"end\":\"%s\"", end);
    }
}

size_t fw_sim_ground_truth_json(const fw_sim *s, char *buf, size_t n)
{
    size_t o = 0;
    if (n == 0) return 0;
    buf[0] = '\0';
    const sim_topology_def *t = s->topo;
    char start[64], end[64];
    fmt_time(s->opt.start_unix_ns, start, sizeof start);
    fmt_time(s->opt.start_unix_ns + s->opt.duration_ns, end, sizeof end);
    jcat(buf, n, &o,
         "{\"topology\":\"%s\",\"namespace\":\"%s\",\"environment\":\"%s\",\"seed\":%" PRIu64
         ",\"start\":\"%s\",\"end\":\"%s\",",
         t->name, t->namespace_, t->environment, s->opt.seed, start, end);
    if (s->n_faults) {
        fault_json(s, &s->faults[0], buf, n, &o);
    } else {
        jcat(buf, n, &o,
             "\"kind\":null,\"service\":null,\"dependency\":null,\"version\":null,\"onset\":null");
    }
    jcat(buf, n, &o, ",\"faults\":[");
    for (size_t i = 0; i < s->n_faults; i++) {
        jcat(buf, n, &o, "%s{", i ? "," : "");
        fault_json(s, &s->faults[i], buf, n, &o);
        jcat(buf, n, &o, "}");
    }
    jcat(buf, n, &o, "],\"decoys\":{");
    int first = 1;
    if (s->decoy_deploy_svc >= 0) {
        char at[64];
        fmt_time(s->opt.start_unix_ns + s->decoy_deploy_at, at, sizeof at);
        jcat(buf, n, &o, "\"deployment\":{\"service\":\"%s\",\"version\":\"%s\",\"time\":\"%s\"}",
             t->services[s->decoy_deploy_svc].name, s->svc[s->decoy_deploy_svc].version[1], at);
        first = 0;
    }
    if (s->decoy_noise_svc >= 0) {
        jcat(buf, n, &o, "%s\"error_noise\":{\"service\":\"%s\"}", first ? "" : ",",
             t->services[s->decoy_noise_svc].name);
        first = 0;
    }
    if (s->decoy_throttle_dep >= 0)
        jcat(buf, n, &o, "%s\"throttling\":{\"dependency\":\"%s\",\"share\":%.3f}",
             first ? "" : ",", t->deps[s->decoy_throttle_dep].name, s->decoy_throttle_share);
    jcat(buf, n, &o, "},\"traces\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"logs\":%" PRIu64 "}",
         s->totals.traces, s->totals.spans, s->totals.logs);
    return o;
}
