/* test_sim.c - unit tests of the simulator's generator (fw_sim): trace
 * structure across services, fault application around the onset, decoys,
 * determinism for a seed, backdated time range, option parsing. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flywheel/sim.h"

#define NS_S   1000000000LL
#define NS_MIN (60 * NS_S)
#define T0     1764547200000000000LL /* 2025-12-01T00:00:00Z */

typedef Opentelemetry__Proto__Trace__V1__Span span_t;

/* One flattened span with its resource. */
typedef struct rec {
    uint8_t trace[16], id[8], parent[8];
    int has_parent;
    int kind;
    uint32_t flags;
    int error;
    uint64_t start, end;
    char service[64], version[32];
    int n_throttle_events; /* ProvisionedThroughputExceededException events */
    int exception_events;
} rec;

typedef struct collected {
    rec *spans;
    size_t n, cap;
    size_t n_logs, n_logs_with_trace;
    size_t n_announcements;
} collected;

static const char *res_attr(const Opentelemetry__Proto__Resource__V1__Resource *r, const char *key)
{
    for (size_t i = 0; r && i < r->n_attributes; i++)
        if (strcmp(r->attributes[i]->key, key) == 0 &&
            r->attributes[i]->value->value_case ==
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
            return r->attributes[i]->value->string_value;
    return "";
}

static void add_span(collected *c, const span_t *sp, const char *svc, const char *ver)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->spans = realloc(c->spans, c->cap * sizeof *c->spans);
        assert_non_null(c->spans);
    }
    rec *r = &c->spans[c->n++];
    memset(r, 0, sizeof *r);
    assert_int_equal(sp->trace_id.len, 16);
    assert_int_equal(sp->span_id.len, 8);
    memcpy(r->trace, sp->trace_id.data, 16);
    memcpy(r->id, sp->span_id.data, 8);
    if (sp->parent_span_id.len == 8) {
        memcpy(r->parent, sp->parent_span_id.data, 8);
        r->has_parent = 1;
    }
    r->kind = sp->kind;
    r->flags = sp->flags;
    r->error =
        sp->status &&
        sp->status->code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    r->start = sp->start_time_unix_nano;
    r->end = sp->end_time_unix_nano;
    snprintf(r->service, sizeof r->service, "%s", svc);
    snprintf(r->version, sizeof r->version, "%s", ver);
    for (size_t e = 0; e < sp->n_events; e++) {
        if (strcmp(sp->events[e]->name, "exception") == 0) r->exception_events++;
        for (size_t a = 0; a < sp->events[e]->n_attributes; a++) {
            const Opentelemetry__Proto__Common__V1__KeyValue *kv = sp->events[e]->attributes[a];
            if (strcmp(kv->key, "exception.type") == 0 &&
                strstr(kv->value->string_value, "ProvisionedThroughputExceededException"))
                r->n_throttle_events++;
        }
    }
}

/* Runs the whole simulation, flattening every span. */
static void run_sim(const fw_sim_options *o, collected *c, uint8_t **packed, size_t *packed_len)
{
    fw_sim *s = NULL;
    char err[256];
    int rv = fw_sim_new(o, &s, err, sizeof err);
    if (rv) fail_msg("fw_sim_new: %s", err);
    fw_arena *a = fw_arena_new(256u << 20);
    assert_non_null(a);
    memset(c, 0, sizeof *c);
    if (packed) {
        *packed = NULL;
        *packed_len = 0;
    }
    for (;;) {
        fw_sim_batch b;
        assert_int_equal(fw_sim_next_batch(s, o->duration_ns, 1000, a, &b), 0);
        c->n_announcements += b.n_announcements;
        if (b.traces) {
            assert_true(b.n_spans > 0);
            size_t counted = 0;
            for (size_t i = 0; i < b.traces->n_resource_spans; i++) {
                const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
                    b.traces->resource_spans[i];
                const char *svc = res_attr(rs->resource, "service.name");
                const char *ver = res_attr(rs->resource, "service.version");
                assert_true(svc[0] != '\0');
                assert_true(res_attr(rs->resource, "k8s.pod.name")[0] != '\0');
                assert_true(res_attr(rs->resource, "host.name")[0] != '\0');
                for (size_t j = 0; j < rs->n_scope_spans; j++)
                    for (size_t k = 0; k < rs->scope_spans[j]->n_spans; k++, counted++)
                        add_span(c, rs->scope_spans[j]->spans[k], svc, ver);
            }
            assert_int_equal(counted, b.n_spans);
            if (packed) {
                size_t len = protobuf_c_message_get_packed_size(&b.traces->base);
                *packed = realloc(*packed, *packed_len + len);
                assert_non_null(*packed);
                protobuf_c_message_pack(&b.traces->base, *packed + *packed_len);
                *packed_len += len;
            }
        }
        if (b.logs) {
            for (size_t i = 0; i < b.logs->n_resource_logs; i++)
                for (size_t j = 0; j < b.logs->resource_logs[i]->n_scope_logs; j++) {
                    const Opentelemetry__Proto__Logs__V1__ScopeLogs *sl =
                        b.logs->resource_logs[i]->scope_logs[j];
                    for (size_t k = 0; k < sl->n_log_records; k++) {
                        c->n_logs++;
                        if (sl->log_records[k]->trace_id.len == 16) c->n_logs_with_trace++;
                    }
                }
        }
        fw_arena_reset(a);
        if (b.done) break;
    }
    fw_arena_free(a);
    fw_sim_free(s);
}

static fw_sim_options base_opts(const char *topo, int64_t dur)
{
    fw_sim_options o;
    memset(&o, 0, sizeof o);
    o.topology = topo;
    o.rate = 20;
    o.seed = 42;
    o.start_unix_ns = T0;
    o.duration_ns = dur;
    return o;
}

static void add_fault(fw_sim_options *o, const char *spec)
{
    char err[256];
    if (fw_sim_fault_parse(spec, &o->faults[o->n_faults], err, sizeof err) != 0)
        fail_msg("parse %s: %s", spec, err);
    o->n_faults++;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(((const rec *)a)->id, ((const rec *)b)->id, 8);
}

static const rec *find_id(const rec *sorted, size_t n, const uint8_t *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(sorted[mid].id, id, 8);
        if (c == 0) return &sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void check_structure(const char *topo)
{
    fw_sim_options o = base_opts(topo, 5 * NS_MIN);
    collected c;
    run_sim(&o, &c, NULL, NULL);
    assert_true(c.n > 5000);
    qsort(c.spans, c.n, sizeof *c.spans, cmp_id);
    size_t servers = 0, remote = 0, consumers = 0, roots = 0, services_seen = 0;
    char seen[32][64];
    for (size_t i = 0; i < c.n; i++) {
        const rec *r = &c.spans[i];
        if (i) assert_true(memcmp(c.spans[i - 1].id, r->id, 8) != 0); /* ids unique */
        assert_true(r->end >= r->start);
        int known = 0;
        for (size_t k = 0; k < services_seen; k++) known |= !strcmp(seen[k], r->service);
        if (!known && services_seen < 32) snprintf(seen[services_seen++], 64, "%s", r->service);
        if (!r->has_parent) {
            roots++;
            assert_int_equal(r->kind,
                             OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
            continue;
        }
        const rec *p = find_id(c.spans, c.n, r->parent);
        assert_non_null(p);
        assert_memory_equal(p->trace, r->trace, 16);
        assert_true(p->start <= r->start);
        if (r->kind == OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER) {
            servers++;
            /* a SERVER span in a callee: parent is a CLIENT span of another service */
            assert_int_equal(p->kind,
                             OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
            assert_string_not_equal(p->service, r->service);
            assert_int_equal(r->flags & 0x300u, 0x300u);
            remote++;
        } else if (r->kind ==
                   OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CONSUMER) {
            consumers++;
            assert_int_equal(p->kind,
                             OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_PRODUCER);
            assert_string_not_equal(p->service, r->service);
            assert_int_equal(r->flags & 0x300u, 0x300u);
        } else {
            /* CLIENT / PRODUCER spans are children of their own service's span */
            assert_string_equal(p->service, r->service);
            assert_int_equal(r->flags & 0x300u, 0x100u);
            assert_true(p->end >= r->end);
        }
    }
    assert_true(roots > 1000);
    assert_true(servers > 1000);
    assert_true(remote == servers);
    assert_true(consumers > 0);
    assert_true(services_seen >= 8);
    assert_true(c.n_logs > 100);
    assert_int_equal(c.n_logs_with_trace, c.n_logs);
    free(c.spans);
}

static void test_structure_shop(void **state)
{
    (void)state;
    check_structure("shop");
}

static void test_structure_rides(void **state)
{
    (void)state;
    check_structure("rides");
}

/* Error share of |svc|'s SERVER spans in [from, to). */
static double error_share(const collected *c, const char *svc, uint64_t from, uint64_t to,
                          size_t *n_out)
{
    size_t n = 0, e = 0;
    for (size_t i = 0; i < c->n; i++) {
        const rec *r = &c->spans[i];
        if (r->kind != OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER ||
            strcmp(r->service, svc) != 0 || r->start < from || r->start >= to)
            continue;
        n++;
        e += (size_t)r->error;
    }
    if (n_out) *n_out = n;
    return n ? (double)e / (double)n : 0;
}

static void test_bad_deploy(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", 20 * NS_MIN);
    add_fault(&o, "bad-deploy:cart@10m");
    collected c;
    run_sim(&o, &c, NULL, NULL);
    uint64_t onset = (uint64_t)(T0 + 10 * NS_MIN);
    size_t nb, na;
    double before = error_share(&c, "cart", (uint64_t)T0, onset, &nb);
    double after = error_share(&c, "cart", onset, UINT64_MAX, &na);
    assert_true(nb > 500 && na > 500);
    assert_true(before < 0.02);
    assert_true(after > 0.15);
    /* the version switches at the onset, and only for cart */
    for (size_t i = 0; i < c.n; i++) {
        const rec *r = &c.spans[i];
        if (strcmp(r->service, "cart") == 0)
            assert_string_equal(r->version, r->start < onset ? "1.4.2" : "1.5.0");
        else if (strcmp(r->service, "checkout") == 0)
            assert_string_equal(r->version, "5.0.7");
    }
    /* the failure surfaces in the caller too */
    assert_true(error_share(&c, "frontend", onset, UINT64_MAX, NULL) >
                error_share(&c, "frontend", (uint64_t)T0, onset, NULL));
    assert_int_equal(c.n_announcements, 0);
    free(c.spans);
}

static void test_announced_deploy(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("rides", 6 * NS_MIN);
    add_fault(&o, "bad-deploy-announced:pricing@3m");
    collected c;
    run_sim(&o, &c, NULL, NULL);
    assert_int_equal(c.n_announcements, 1);
    free(c.spans);
}

static void test_throttling(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", 20 * NS_MIN);
    add_fault(&o, "throttling:DynamoDB@12m+5m");
    collected c;
    run_sim(&o, &c, NULL, NULL);
    uint64_t onset = (uint64_t)(T0 + 12 * NS_MIN), end = (uint64_t)(T0 + 17 * NS_MIN);
    size_t before = 0, during = 0, after = 0, during_clients = 0, during_err = 0;
    for (size_t i = 0; i < c.n; i++) {
        const rec *r = &c.spans[i];
        if (r->n_throttle_events) {
            assert_int_equal(r->kind,
                             OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
            assert_true(r->error);
            assert_string_equal(r->service, "inventory");
        }
        if (strcmp(r->service, "inventory") != 0 ||
            r->kind != OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT)
            continue;
        if (r->start < onset)
            before += (size_t)r->n_throttle_events;
        else if (r->start < end) {
            during += (size_t)r->n_throttle_events;
            during_clients++;
            during_err += (size_t)r->error;
        } else
            after += (size_t)r->n_throttle_events;
    }
    assert_int_equal(before, 0);
    assert_int_equal(after, 0);
    assert_true(during > 100);
    double share = (double)during_err / (double)during_clients;
    assert_true(share > 0.2 && share < 0.45);
    assert_true(error_share(&c, "inventory", onset, end, NULL) > 0.2);
    free(c.spans);
}

static void test_code_error_and_silent(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", 10 * NS_MIN);
    add_fault(&o, "code-error:catalog@5m");
    add_fault(&o, "silent:shipping@5m");
    collected c;
    run_sim(&o, &c, NULL, NULL);
    uint64_t onset = (uint64_t)(T0 + 5 * NS_MIN);
    assert_true(error_share(&c, "catalog", (uint64_t)T0, onset, NULL) < 0.02);
    assert_true(error_share(&c, "catalog", onset, UINT64_MAX, NULL) > 0.15);
    size_t ship_before = 0, ship_after = 0;
    error_share(&c, "shipping", (uint64_t)T0, onset, &ship_before);
    error_share(&c, "shipping", onset, UINT64_MAX, &ship_after);
    assert_true(ship_before > 20);
    assert_int_equal(ship_after, 0);
    /* checkout (the caller) now fails */
    assert_true(error_share(&c, "checkout", onset, UINT64_MAX, NULL) > 0.5);
    free(c.spans);
}

static void test_outage_latency_surge(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("rides", 10 * NS_MIN);
    add_fault(&o, "outage:mysql@5m");
    add_fault(&o, "surge:api-gateway@5m");
    add_fault(&o, "latency:eta@5m");
    collected c;
    run_sim(&o, &c, NULL, NULL);
    uint64_t onset = (uint64_t)(T0 + 5 * NS_MIN);
    size_t nb, na;
    error_share(&c, "api-gateway", (uint64_t)T0, onset, &nb);
    error_share(&c, "api-gateway", onset, UINT64_MAX, &na);
    assert_true(na > 3 * nb); /* x5 traffic */
    assert_true(error_share(&c, "payments", onset, UINT64_MAX, NULL) > 0.8);
    assert_true(error_share(&c, "payments", (uint64_t)T0, onset, NULL) < 0.05);
    /* eta's mean duration grows several-fold */
    double sb = 0, sa = 0;
    size_t cb = 0, ca = 0;
    for (size_t i = 0; i < c.n; i++) {
        const rec *r = &c.spans[i];
        if (strcmp(r->service, "eta") ||
            r->kind != OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER)
            continue;
        if (r->start < onset)
            sb += (double)(r->end - r->start), cb++;
        else
            sa += (double)(r->end - r->start), ca++;
    }
    assert_true(cb > 0 && ca > 0);
    assert_true(sa / (double)ca > 4 * sb / (double)cb);
    free(c.spans);
}

static void test_deterministic(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", 2 * NS_MIN);
    o.decoys = 1;
    add_fault(&o, "throttling:DynamoDB@1m");
    collected c1, c2, c3;
    uint8_t *p1, *p2, *p3;
    size_t l1, l2, l3;
    run_sim(&o, &c1, &p1, &l1);
    run_sim(&o, &c2, &p2, &l2);
    o.seed = 43;
    run_sim(&o, &c3, &p3, &l3);
    assert_int_equal(l1, l2);
    assert_memory_equal(p1, p2, l1);
    assert_true(l1 != l3 || memcmp(p1, p3, l1) != 0);
    free(p1), free(p2), free(p3);
    free(c1.spans), free(c2.spans), free(c3.spans);
}

static void test_time_range(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("rides", 30 * NS_MIN);
    o.rate = 5;
    collected c;
    run_sim(&o, &c, NULL, NULL);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.spans[i].start >= (uint64_t)T0);
        assert_true(c.spans[i].end <= (uint64_t)(T0 + 30 * NS_MIN + 30 * NS_S));
        if (c.spans[i].start < lo) lo = c.spans[i].start;
        if (c.spans[i].start > hi) hi = c.spans[i].start;
    }
    /* the range is covered: first request in the first minute, last in the last */
    assert_true(lo < (uint64_t)(T0 + NS_MIN));
    assert_true(hi > (uint64_t)(T0 + 29 * NS_MIN));
    free(c.spans);
}

static void test_decoys_and_truth(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", 10 * NS_MIN);
    o.decoys = 1;
    add_fault(&o, "throttling:DynamoDB@7m");
    fw_sim *s = NULL;
    char err[256], json[2048];
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), 0);
    size_t n = fw_sim_ground_truth_json(s, json, sizeof json);
    assert_int_equal(n, strlen(json));
    assert_non_null(strstr(json, "\"kind\":\"throttling\""));
    assert_non_null(strstr(json, "\"service\":\"inventory\""));
    assert_non_null(strstr(json, "\"dependency\":\"DynamoDB\""));
    assert_non_null(strstr(json, "\"onset\":\"2025-12-01T00:07:00.000Z\""));
    assert_non_null(strstr(json, "\"deployment\":{\"service\":"));
    assert_non_null(strstr(json, "\"throttling\":{\"dependency\":\""));
    assert_null(strstr(json, "\"throttling\":{\"dependency\":\"DynamoDB\""));
    /* a tiny buffer truncates safely */
    char small[16];
    assert_int_equal(fw_sim_ground_truth_json(s, small, sizeof small), 15);
    assert_int_equal(strlen(small), 15);
    fw_sim_free(s);

    collected c;
    run_sim(&o, &c, NULL, NULL);
    assert_int_equal(c.n_announcements, 1); /* the decoy deployment */
    free(c.spans);
}

static void test_parse(void **state)
{
    (void)state;
    fw_sim_fault f;
    char err[256];
    int64_t ns;
    assert_int_equal(fw_sim_fault_parse("throttling:DynamoDB@20m", &f, err, sizeof err), 0);
    assert_int_equal(f.kind, FW_SIM_FAULT_THROTTLING);
    assert_string_equal(f.target, "DynamoDB");
    assert_true(f.start_ns == 20 * NS_MIN);
    assert_true(f.duration_ns == 0);
    assert_int_equal(fw_sim_fault_parse("bad-deploy:cart@1h2m+90s", &f, err, sizeof err), 0);
    assert_true(f.start_ns == 62 * NS_MIN && f.duration_ns == 90 * NS_S);
    assert_int_equal(fw_sim_fault_parse("silent:email", &f, err, sizeof err), 0);
    assert_true(f.start_ns < 0);
    assert_int_equal(fw_sim_fault_parse("nope:cart", &f, err, sizeof err), FW_ERR_INVALID);
    assert_non_null(strstr(err, "unknown kind"));
    assert_int_equal(fw_sim_fault_parse("outage", &f, err, sizeof err), FW_ERR_INVALID);
    assert_int_equal(fw_sim_fault_parse("outage:@5m", &f, err, sizeof err), FW_ERR_INVALID);
    assert_int_equal(fw_sim_fault_parse("outage:redis@5x", &f, err, sizeof err), FW_ERR_INVALID);
    assert_int_equal(fw_sim_fault_parse("outage:redis@5m+", &f, err, sizeof err), FW_ERR_INVALID);
    assert_int_equal(fw_sim_duration_parse("1h30m", &ns), 0);
    assert_true(ns == 90 * NS_MIN);
    assert_int_equal(fw_sim_duration_parse("45", &ns), 0);
    assert_true(ns == 45 * NS_S);
    assert_int_equal(fw_sim_duration_parse("", &ns), FW_ERR_INVALID);
    assert_int_equal(fw_sim_duration_parse("-5m", &ns), FW_ERR_INVALID);
    assert_int_equal(fw_sim_duration_parse("99999999999999999999s", &ns), FW_ERR_INVALID);

    /* targets must exist and fit the kind */
    fw_sim_options o = base_opts("shop", 10 * NS_MIN);
    fw_sim *s = NULL;
    add_fault(&o, "throttling:cart@1m");
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), FW_ERR_INVALID);
    assert_null(s);
    o.n_faults = 0;
    add_fault(&o, "bad-deploy:nosuch@1m");
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), FW_ERR_INVALID);
    assert_non_null(strstr(err, "nosuch"));
    o.n_faults = 0;
    add_fault(&o, "outage:redis@11m");
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), FW_ERR_INVALID);
    o.n_faults = 0;
    o.topology = "nope";
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), FW_ERR_INVALID);
}

static void test_arena_exhaustion(void **state)
{
    (void)state;
    fw_sim_options o = base_opts("shop", NS_MIN);
    fw_sim *s = NULL;
    char err[256];
    assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), 0);
    fw_arena *a = fw_arena_new(64 * 1024);
    fw_sim_batch b;
    assert_int_equal(fw_sim_next_batch(s, o.duration_ns, 1000, a, &b), FW_ERR_NOMEM);
    fw_arena_free(a);
    fw_sim_free(s);

    /* every cap between "nothing fits" and "all fits" fails cleanly or succeeds */
    for (size_t cap = 16 * 1024; cap < 3u << 20; cap += 7919) {
        assert_int_equal(fw_sim_new(&o, &s, err, sizeof err), 0);
        a = fw_arena_new(cap);
        assert_non_null(a);
        int rv = fw_sim_next_batch(s, o.duration_ns, 200, a, &b);
        assert_true(rv == 0 || rv == FW_ERR_NOMEM);
        if (rv == 0 && b.traces) {
            size_t len = protobuf_c_message_get_packed_size(&b.traces->base);
            assert_true(len > 0);
        }
        fw_arena_free(a);
        fw_sim_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_structure_shop),
        cmocka_unit_test(test_structure_rides),
        cmocka_unit_test(test_bad_deploy),
        cmocka_unit_test(test_announced_deploy),
        cmocka_unit_test(test_throttling),
        cmocka_unit_test(test_code_error_and_silent),
        cmocka_unit_test(test_outage_latency_surge),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_time_range),
        cmocka_unit_test(test_decoys_and_truth),
        cmocka_unit_test(test_arena_exhaustion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
