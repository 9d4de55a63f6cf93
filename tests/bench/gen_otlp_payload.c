/* gen_otlp_payload.c - writes one realistic ExportTraceServiceRequest for the
 * ingest benchmark: |spans| spans in traces of five (frontend HTTP server ->
 * HTTP client -> checkout server -> postgres client, redis client), with the
 * usual http/db/rpc attributes and resources of a Kubernetes deployment.
 * Output: <dir>/traces_<N>.pb (raw protobuf, OTLP/HTTP body) and
 * <dir>/traces_<N>.grpc (one gRPC length-prefixed message). A benchmark
 * tool, not a test: it never touches the network. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define GEN_SPANS_PER_TRACE 5u
#define GEN_MAX_ATTRS 10u
#define GEN_STR_BYTES 160u
#define GEN_MAX_SPANS 100000u
#define GEN_SERVICES 2u
#define GEN_RESOURCE_ATTRS 8u

typedef struct gen_span_store {
    Opentelemetry__Proto__Trace__V1__Span span;
    Opentelemetry__Proto__Trace__V1__Status status;
    Opentelemetry__Proto__Common__V1__KeyValue kv[GEN_MAX_ATTRS];
    Opentelemetry__Proto__Common__V1__AnyValue val[GEN_MAX_ATTRS];
    Opentelemetry__Proto__Common__V1__KeyValue *kvp[GEN_MAX_ATTRS];
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    char text[3][GEN_STR_BYTES];
} gen_span_store;

typedef struct gen_service {
    const char *name;
    const char *version;
    const char *pod;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs;
    Opentelemetry__Proto__Resource__V1__Resource resource;
    Opentelemetry__Proto__Common__V1__KeyValue kv[GEN_RESOURCE_ATTRS];
    Opentelemetry__Proto__Common__V1__AnyValue val[GEN_RESOURCE_ATTRS];
    Opentelemetry__Proto__Common__V1__KeyValue *kvp[GEN_RESOURCE_ATTRS];
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    Opentelemetry__Proto__Trace__V1__Span **spans;
    size_t n_spans;
} gen_service;

/* xorshift64*: deterministic ids and values, no global state. */
static uint64_t gen_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void gen_bytes(uint64_t *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(gen_rand(s) >> 56);
    out[0] |= 1; /* never all-zero */
}

static void kv_str(Opentelemetry__Proto__Common__V1__KeyValue *kv,
                   Opentelemetry__Proto__Common__V1__AnyValue *v, const char *key, const char *s)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    kv->key = (char *)key;
    kv->value = v;
}

static void kv_int(Opentelemetry__Proto__Common__V1__KeyValue *kv,
                   Opentelemetry__Proto__Common__V1__AnyValue *v, const char *key, int64_t i)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = i;
    kv->key = (char *)key;
    kv->value = v;
}

/* Appends one attribute slot; returns its index (callers never exceed GEN_MAX_ATTRS). */
static size_t next_attr(gen_span_store *st)
{
    size_t i = st->span.n_attributes++;
    st->kvp[i] = &st->kv[i];
    return i;
}

static void add_str(gen_span_store *st, const char *key, const char *s)
{
    size_t i = next_attr(st);
    kv_str(&st->kv[i], &st->val[i], key, s);
}

static void add_int(gen_span_store *st, const char *key, int64_t v)
{
    size_t i = next_attr(st);
    kv_int(&st->kv[i], &st->val[i], key, v);
}

static const char *const ROUTES[] = {"/api/orders/{id}", "/api/cart", "/api/checkout", "/api/users/{id}",
                                     "/api/products", "/api/search"};
static const char *const METHODS[] = {"GET", "GET", "POST", "GET", "GET", "PUT"};
static const char *const TABLES[] = {"orders", "order_items", "customers", "inventory"};

/* Fills span |k| (0..4) of a trace; |t0| is the trace start in unix ns. */
static int fill_span(gen_span_store *st, unsigned k, uint64_t *rng, const uint8_t *trace_id,
                     const uint8_t *parent, uint64_t t0)
{
    Opentelemetry__Proto__Trace__V1__Span *sp = &st->span;
    size_t r = (size_t)(gen_rand(rng) % (sizeof ROUTES / sizeof ROUTES[0]));
    uint64_t jitter = gen_rand(rng) % 2000000u;
    int status_code = (gen_rand(rng) % 100u) < 2u ? 500 : 200;
    int n;

    opentelemetry__proto__trace__v1__span__init(sp);
    opentelemetry__proto__trace__v1__status__init(&st->status);
    memcpy(st->trace_id, trace_id, 16);
    gen_bytes(rng, st->span_id, 8);
    sp->trace_id.data = st->trace_id;
    sp->trace_id.len = 16;
    sp->span_id.data = st->span_id;
    sp->span_id.len = 8;
    if (parent) {
        memcpy(st->parent_id, parent, 8);
        sp->parent_span_id.data = st->parent_id;
        sp->parent_span_id.len = 8;
    }
    sp->flags = 0x101u;
    sp->attributes = st->kvp;
    sp->status = &st->status;
    sp->start_time_unix_nano = t0 + (uint64_t)k * 300000u + jitter / 10u;
    sp->end_time_unix_nano = sp->start_time_unix_nano + 5000000u - (uint64_t)k * 800000u + jitter;
    if (status_code >= 500)
        st->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;

    switch (k) {
    case 0: /* frontend: HTTP server */
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        n = snprintf(st->text[0], GEN_STR_BYTES, "%s %s", METHODS[r], ROUTES[r]);
        if (n < 0 || (size_t)n >= GEN_STR_BYTES)
            return -1;
        sp->name = st->text[0];
        n = snprintf(st->text[1], GEN_STR_BYTES, "/api/orders/%" PRIu64, gen_rand(rng) % 100000u);
        if (n < 0 || (size_t)n >= GEN_STR_BYTES)
            return -1;
        add_str(st, "http.request.method", METHODS[r]);
        add_str(st, "http.route", ROUTES[r]);
        add_str(st, "url.path", st->text[1]);
        add_str(st, "url.scheme", "https");
        add_int(st, "http.response.status_code", status_code);
        add_str(st, "server.address", "shop.example.com");
        add_int(st, "server.port", 443);
        add_str(st, "network.protocol.version", "2");
        add_str(st, "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36");
        add_str(st, "client.address", "10.2.14.7");
        break;
    case 1: /* frontend: HTTP client to checkout */
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
        sp->name = (char *)"POST";
        n = snprintf(st->text[0], GEN_STR_BYTES, "http://checkout.shop.svc:8080/checkout/%" PRIu64,
                     gen_rand(rng) % 100000u);
        if (n < 0 || (size_t)n >= GEN_STR_BYTES)
            return -1;
        add_str(st, "http.request.method", "POST");
        add_str(st, "url.full", st->text[0]);
        add_str(st, "server.address", "checkout.shop.svc");
        add_int(st, "server.port", 8080);
        add_int(st, "http.response.status_code", status_code);
        add_str(st, "peer.service", "checkout");
        break;
    case 2: /* checkout: HTTP server */
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        sp->name = (char *)"POST /checkout/{id}";
        /* W3C flags: sampled, and "parent is remote" (bits 8 and 9) — the
         * caller is frontend, in another process, so the topology joins it. */
        sp->flags = 0x301u;
        add_str(st, "http.request.method", "POST");
        add_str(st, "http.route", "/checkout/{id}");
        add_int(st, "http.response.status_code", status_code);
        add_str(st, "server.address", "checkout.shop.svc");
        add_int(st, "server.port", 8080);
        add_str(st, "network.peer.address", "10.2.3.4");
        break;
    case 3: { /* checkout: postgres client */
        size_t t = (size_t)(gen_rand(rng) % (sizeof TABLES / sizeof TABLES[0]));
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
        n = snprintf(st->text[0], GEN_STR_BYTES, "SELECT %s", TABLES[t]);
        if (n < 0 || (size_t)n >= GEN_STR_BYTES)
            return -1;
        sp->name = st->text[0];
        n = snprintf(st->text[1], GEN_STR_BYTES,
                     "SELECT id, status, total, updated_at FROM %s WHERE id = $1 AND tenant_id = $2",
                     TABLES[t]);
        if (n < 0 || (size_t)n >= GEN_STR_BYTES)
            return -1;
        add_str(st, "db.system.name", "postgresql");
        add_str(st, "db.operation.name", "SELECT");
        add_str(st, "db.collection.name", TABLES[t]);
        add_str(st, "db.namespace", "shop");
        add_str(st, "db.query.text", st->text[1]);
        add_str(st, "server.address", "pg-primary.shop.svc");
        add_int(st, "server.port", 5432);
        break;
    }
    default: /* checkout: redis client */
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
        sp->name = (char *)"GET";
        add_str(st, "db.system.name", "redis");
        add_str(st, "db.operation.name", "GET");
        add_str(st, "server.address", "redis.shop.svc");
        add_int(st, "server.port", 6379);
        add_int(st, "db.namespace", 0);
        break;
    }
    return 0;
}

static void fill_service(gen_service *svc)
{
    static const char *const keys[GEN_RESOURCE_ATTRS] = {
        "service.name", "service.version", "service.namespace", "deployment.environment.name",
        "k8s.pod.name", "k8s.node.name", "telemetry.sdk.language", "telemetry.sdk.version"};
    const char *vals[GEN_RESOURCE_ATTRS] = {svc->name, svc->version, "shop", "production",
                                            svc->pod, "ip-10-2-0-17.ec2.internal", "java", "1.40.0"};

    opentelemetry__proto__trace__v1__resource_spans__init(&svc->rs);
    opentelemetry__proto__resource__v1__resource__init(&svc->resource);
    opentelemetry__proto__trace__v1__scope_spans__init(&svc->ss);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&svc->scope);
    for (size_t i = 0; i < GEN_RESOURCE_ATTRS; i++) {
        kv_str(&svc->kv[i], &svc->val[i], keys[i], vals[i]);
        svc->kvp[i] = &svc->kv[i];
    }
    svc->resource.attributes = svc->kvp;
    svc->resource.n_attributes = GEN_RESOURCE_ATTRS;
    svc->scope.name = (char *)"io.opentelemetry.javaagent";
    svc->scope.version = (char *)"2.6.0";
    svc->ss.scope = &svc->scope;
    svc->ss.spans = svc->spans;
    svc->ss.n_spans = svc->n_spans;
    svc->ssp = &svc->ss;
    svc->rs.resource = &svc->resource;
    svc->rs.scope_spans = &svc->ssp;
    svc->rs.n_scope_spans = 1;
}

static int write_file(const char *path, const uint8_t *prefix, size_t prefix_len, const uint8_t *data,
                      size_t len)
{
    FILE *f = fopen(path, "wb");
    int rv = 0;

    if (!f) {
        fprintf(stderr, "gen_otlp_payload: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((prefix_len && fwrite(prefix, 1, prefix_len, f) != prefix_len) || fwrite(data, 1, len, f) != len)
        rv = -1;
    if (fclose(f) != 0)
        rv = -1;
    if (rv)
        fprintf(stderr, "gen_otlp_payload: %s: write failed\n", path);
    return rv;
}

static int parse_count(const char *s, unsigned long *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end != '\0' || v == 0 || v > GEN_MAX_SPANS)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n_spans = 500;
    const char *dir = ".";
    gen_span_store *store = NULL;
    gen_service svcs[GEN_SERVICES];
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp[GEN_SERVICES];
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
    uint8_t *buf = NULL;
    size_t len;
    uint8_t prefix[5];
    char path[4096];
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    uint64_t t0;
    int rv = 1;
    int n;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spans") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], &n_spans) != 0) {
                fprintf(stderr, "gen_otlp_payload: --spans wants 1..%u\n", GEN_MAX_SPANS);
                return 2;
            }
        } else if (strcmp(argv[i], "--out-dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: gen_otlp_payload [--spans N (multiple of 5, default 500)] [--out-dir DIR]\n");
            return 2;
        }
    }
    n_spans -= n_spans % GEN_SPANS_PER_TRACE;
    if (n_spans == 0)
        n_spans = GEN_SPANS_PER_TRACE;

    memset(svcs, 0, sizeof svcs);
    svcs[0].name = "frontend";
    svcs[0].version = "4.12.0";
    svcs[0].pod = "frontend-6d5f7b9c4-x2kqp";
    svcs[1].name = "checkout";
    svcs[1].version = "2.3.1";
    svcs[1].pod = "checkout-7c9d8f6b5-9mzlw";
    store = calloc(n_spans, sizeof *store);
    svcs[0].spans = calloc(n_spans, sizeof *svcs[0].spans);
    svcs[1].spans = calloc(n_spans, sizeof *svcs[1].spans);
    if (!store || !svcs[0].spans || !svcs[1].spans) {
        fprintf(stderr, "gen_otlp_payload: out of memory\n");
        goto out;
    }

    /* A minute ago: inside any retention window when the benchmark replays it. */
    t0 = ((uint64_t)time(NULL) - 60u) * 1000000000ULL;
    for (size_t i = 0; i < n_spans; i += GEN_SPANS_PER_TRACE) {
        uint8_t trace_id[16];
        uint64_t start = t0 + (uint64_t)(i / GEN_SPANS_PER_TRACE) * 1000000u;

        gen_bytes(&rng, trace_id, sizeof trace_id);
        for (unsigned k = 0; k < GEN_SPANS_PER_TRACE; k++) {
            /* parents: 0 <- 1 <- 2 <- {3, 4} */
            const uint8_t *parent = k == 0 ? NULL : store[i + (k >= 3 ? 2 : k - 1)].span_id;
            gen_service *svc = &svcs[k < 2 ? 0 : 1];

            if (fill_span(&store[i + k], k, &rng, trace_id, parent, start) != 0) {
                fprintf(stderr, "gen_otlp_payload: attribute text too long\n");
                goto out;
            }
            svc->spans[svc->n_spans++] = &store[i + k].span;
        }
    }
    for (size_t s = 0; s < GEN_SERVICES; s++) {
        fill_service(&svcs[s]);
        rsp[s] = &svcs[s].rs;
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.resource_spans = rsp;
    req.n_resource_spans = GEN_SERVICES;

    len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    if (len > UINT32_MAX) {
        fprintf(stderr, "gen_otlp_payload: message too large for one gRPC frame\n");
        goto out;
    }
    buf = malloc(len ? len : 1);
    if (!buf) {
        fprintf(stderr, "gen_otlp_payload: out of memory\n");
        goto out;
    }
    if (opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf) != len) {
        fprintf(stderr, "gen_otlp_payload: pack size mismatch\n");
        goto out;
    }

    n = snprintf(path, sizeof path, "%s/traces_%lu.pb", dir, n_spans);
    if (n < 0 || (size_t)n >= sizeof path || write_file(path, NULL, 0, buf, len) != 0)
        goto out;
    prefix[0] = 0;
    prefix[1] = (uint8_t)(len >> 24);
    prefix[2] = (uint8_t)(len >> 16);
    prefix[3] = (uint8_t)(len >> 8);
    prefix[4] = (uint8_t)len;
    n = snprintf(path, sizeof path, "%s/traces_%lu.grpc", dir, n_spans);
    if (n < 0 || (size_t)n >= sizeof path || write_file(path, prefix, sizeof prefix, buf, len) != 0)
        goto out;
    printf("spans %lu bytes %zu per_span %.1f\n", n_spans, len, (double)len / (double)n_spans);
    rv = 0;
out:
    free(buf);
    free(svcs[0].spans);
    free(svcs[1].spans);
    free(store);
    return rv;
}
