/* test_topo.c - the live topology on real spans classified by fw_semconv
 * with the default throttle rules: client/server joins in both arrival
 * orders, virtual node naming and typing, the join wait, messaging through
 * parent/child, span links and the consumer's own attributes, edge RED in
 * fw_red (counts, faults, throttling, weights, exemplars), the pending,
 * node and edge bounds, snapshots and the Prometheus rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include "flywheel/topo.h"

#define S(x)               \
    {                      \
        (x), sizeof(x) - 1 \
    }
#define STR(k, v) ((fw_attr){FW_STR_LIT(k), {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT(v)}})
#define INT(k, v) ((fw_attr){FW_STR_LIT(k), {.type = FW_VALUE_INT, .u.i64 = (v)}})

#define MS      1000000ull
#define SEC     1000000000ull
#define BASE_NS 1700000000000000000ull /* event time of the test traffic */
#define NOW0    5000ull * SEC          /* arrival clock */
#define WAIT_NS (2ull * SEC)
#define PARTS   4u

static const fw_scope scope;
static const fw_resource res_frontend = {
    .service_name = S("frontend"), .service_namespace = S("shop"), .environment = S("prod")};
static const fw_resource res_checkout = {
    .service_name = S("checkout"), .service_namespace = S("shop"), .environment = S("prod")};
static const fw_resource res_orders = {.service_name = S("orders")};
static const fw_resource res_shipping = {.service_name = S("shipping")};
static const fw_resource res_billing = {.service_name = S("billing")};
static const fw_resource res_audit = {.service_name = S("audit")};

typedef struct env {
    fw_intern *intern;
    fw_red *red;
    fw_topo *topo;
    fw_throttle_rules *rules;
} env;

typedef struct tspan {
    fw_span span;
    fw_attr attrs[8];
    fw_span_link links[2];
} tspan;

static int env_open(env *e, size_t max_pending, size_t max_nodes, size_t max_edges, unsigned parts)
{
    memset(e, 0, sizeof *e);
    fw_red_config rc = {.retention_ns = 7200ull * SEC,
                        .max_series = 10000,
                        .memory_limit = 64u << 20,
                        .partitions = parts};
    fw_topo_config tc = {.join_wait_ns = WAIT_NS,
                         .max_pending = max_pending,
                         .max_nodes = max_nodes,
                         .max_edges = max_edges,
                         .partitions = parts};
    if (fw_intern_new(4u << 20, &e->intern)) return -1;
    if (fw_red_new(&rc, &e->red)) return -1;
    if (fw_throttle_rules_new_default(&e->rules)) return -1;
    if (fw_topo_new(&tc, e->intern, e->red, &e->topo)) return -1;
    return 0;
}

static void env_close(env *e)
{
    fw_topo_free(e->topo);
    fw_red_free(e->red);
    fw_intern_free(e->intern);
    fw_throttle_rules_free(e->rules);
    free(e);
}

static int setup(void **state)
{
    env *e = malloc(sizeof *e);
    if (!e || env_open(e, 1024, 1000, 1000, PARTS)) return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_close(*state);
    return 0;
}

/* A span of trace |trace| (all spans of a trace share it; the partition
 * is trace % PARTS), span id |id|, parent |parent| (0: root), starting
 * |start_ms| after BASE_NS and lasting |dur_ms|. */
static fw_span *mk(tspan *t, const fw_resource *res, fw_span_kind kind, uint8_t trace, uint8_t id,
                   uint8_t parent, uint64_t start_ms, uint64_t dur_ms)
{
    memset(t, 0, sizeof *t);
    fw_span *s = &t->span;
    s->trace_id[0] = trace;
    s->trace_id[15] = (uint8_t)(trace ^ 0x5a);
    s->span_id[0] = id;
    s->span_id[7] = 0x77;
    if (parent) {
        s->parent_span_id[0] = parent;
        s->parent_span_id[7] = 0x77;
        s->has_parent = true;
    }
    s->kind = kind;
    s->name = FW_STR_LIT("op");
    s->start_ns = BASE_NS + start_ms * MS;
    s->end_ns = s->start_ns + dur_ms * MS;
    s->attrs.items = t->attrs;
    s->resource = res;
    s->scope = &scope;
    return s;
}

static void attr(tspan *t, fw_attr a)
{
    assert_true(t->span.attrs.n < 8);
    t->attrs[t->span.attrs.n++] = a;
}

static void link_to(tspan *t, const fw_span *target)
{
    fw_span_link *l = &t->links[t->span.n_links++];
    memcpy(l->trace_id, target->trace_id, FW_TRACE_ID_LEN);
    memcpy(l->span_id, target->span_id, FW_SPAN_ID_LEN);
    t->span.links = t->links;
}

static void send_w(env *e, const fw_span *s, double weight, uint64_t now_ns)
{
    fw_span_class cl;
    fw_semconv_span_classify(s, e->rules, &cl);
    fw_topo_observe(e->topo, s->trace_id[0] % PARTS, s, &cl, &weight, 1, now_ns);
}

static void send(env *e, const fw_span *s, uint64_t now_ns)
{
    send_w(e, s, 1.0, now_ns);
}

static uint32_t id_of(env *e, const char *name)
{
    return fw_intern_find(e->intern, fw_str_from(name));
}

static int edge_red(env *e, const char *from, const char *to, fw_red_totals *out)
{
    fw_red_key k = {.kind = FW_RED_EDGE, .a = id_of(e, from), .b = id_of(e, to)};
    if (!k.a || !k.b) return FW_ERR_NOT_FOUND;
    return fw_red_query(e->red, &k, 0, UINT64_MAX, out);
}

/* The snapshot node named |name|, NULL when absent. */
static const fw_topo_node *snap_node(env *e, const fw_topo_snapshot *s, const char *name)
{
    uint32_t id = id_of(e, name);
    for (size_t i = 0; id && i < s->n_nodes; i++)
        if (s->nodes[i].name == id) return &s->nodes[i];
    return NULL;
}

static const fw_topo_edge *snap_edge(env *e, const fw_topo_snapshot *s, const char *from,
                                     const char *to)
{
    uint32_t a = id_of(e, from), b = id_of(e, to);
    for (size_t i = 0; a && b && i < s->n_edges; i++)
        if (s->edges[i].source == a && s->edges[i].target == b) return &s->edges[i];
    return NULL;
}

static void assert_edge(env *e, const char *from, const char *to, fw_node_type st, fw_node_type tt,
                        fw_edge_kind kind)
{
    fw_topo_snapshot snap;
    assert_int_equal(fw_topo_snapshot_get(e->topo, &snap), 0);
    const fw_topo_edge *ed = snap_edge(e, &snap, from, to);
    if (!ed) fail_msg("no edge %s -> %s", from, to);
    assert_int_equal(ed->source_type, st);
    assert_int_equal(ed->target_type, tt);
    assert_int_equal(ed->kind, kind);
    fw_topo_snapshot_free(&snap);
}

static size_t n_edges(env *e)
{
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    return (size_t)st.edges;
}

/* An HTTP call frontend -> checkout: client span |cid| in trace |trace|
 * and its server child. */
static void http_pair(tspan *c, tspan *srv, uint8_t trace, uint8_t cid, int64_t status)
{
    mk(c, &res_frontend, FW_SPAN_KIND_CLIENT, trace, cid, 1, 10, 30);
    attr(c, STR("http.request.method", "GET"));
    attr(c, STR("server.address", "checkout.shop.svc"));
    attr(c, INT("http.response.status_code", status));
    mk(srv, &res_checkout, FW_SPAN_KIND_SERVER, trace, (uint8_t)(cid + 1), cid, 15, 20);
    attr(srv, STR("http.request.method", "GET"));
    attr(srv, STR("http.route", "/cart"));
    attr(srv, INT("http.response.status_code", status));
}

/* ---- joins ---------------------------------------------------------------- */

static void test_join_client_first(void **state)
{
    env *e = *state;
    tspan c, s;
    http_pair(&c, &s, 0x11, 0x20, 200);
    send(e, &c.span, NOW0);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.edges, 0);

    send(e, &s.span, NOW0 + 100 * MS);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.edges, 1);
    assert_edge(e, "frontend", "checkout", FW_NODE_SERVICE, FW_NODE_SERVICE, FW_EDGE_CALL);

    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == 1.0);
    assert_true(t.faults == 0.0);
    assert_int_equal(fw_hist_sum(&t.latency), 30000);        /* client side, us */
    assert_int_equal(fw_hist_sum(&t.server_latency), 20000); /* server side */
    assert_int_equal(t.n_exemplars, 1);
    assert_memory_equal(t.exemplars[0], c.span.trace_id, FW_TRACE_ID_LEN);

    /* The join wait passing later changes nothing: no virtual node for a
     * joined client span. */
    fw_topo_tick(e->topo, NOW0 + 10 * SEC);
    assert_int_equal(n_edges(e), 1);
    fw_topo_snapshot snap;
    assert_int_equal(fw_topo_snapshot_get(e->topo, &snap), 0);
    assert_int_equal(snap.n_nodes, 2);
    assert_null(snap_node(e, &snap, "checkout.shop.svc"));
    fw_topo_snapshot_free(&snap);
}

/* Regression (pend_find slowed down as replayed ids piled up equal keys):
 * a client span exported again before its server child arrives is one
 * pending entry and one call. */
static void test_retried_client_span_is_one_pending_call(void **state)
{
    env *e = *state;
    tspan c, s;
    http_pair(&c, &s, 0x13, 0x22, 200);
    for (int i = 0; i < 50; i++) send(e, &c.span, NOW0 + (uint64_t)i * MS);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 1);
    send(e, &s.span, NOW0 + 100 * MS);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 1);
    assert_int_equal(st.pending, 0);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == 1.0);
}

static void test_join_server_first(void **state)
{
    env *e = *state;
    tspan c, s;
    /* The server span answers 500; its client saw the same status. */
    http_pair(&c, &s, 0x12, 0x30, 500);
    send(e, &s.span, NOW0);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.edges, 0);

    send(e, &c.span, NOW0 + 1 * SEC); /* within the wait */
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 1);
    assert_int_equal(st.pending, 0);
    assert_edge(e, "frontend", "checkout", FW_NODE_SERVICE, FW_NODE_SERVICE, FW_EDGE_CALL);

    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == 1.0);
    assert_true(t.faults == 1.0);
    assert_int_equal(fw_hist_sum(&t.latency), 30000);
    assert_int_equal(fw_hist_sum(&t.server_latency), 20000);
    assert_int_equal(t.n_exemplars, 1);
    assert_true(t.exemplar_failed[0]);
}

static void test_join_in_one_batch_and_self_edge(void **state)
{
    env *e = *state;
    /* Both spans in one observe call, server listed first; then a service
     * calling itself (an edge to itself, kept). */
    tspan c, s, c2, s2;
    http_pair(&c, &s, 0x13, 0x40, 200);
    fw_span spans[2] = {s.span, c.span};
    fw_span_class cls[2];
    double w[2] = {1.0, 1.0};
    fw_semconv_span_classify(&spans[0], e->rules, &cls[0]);
    fw_semconv_span_classify(&spans[1], e->rules, &cls[1]);
    fw_topo_observe(e->topo, 0x13 % PARTS, spans, cls, w, 2, NOW0);

    mk(&c2, &res_checkout, FW_SPAN_KIND_CLIENT, 0x14, 0x50, 1, 0, 8);
    attr(&c2, STR("http.request.method", "POST"));
    attr(&c2, STR("server.address", "localhost"));
    mk(&s2, &res_checkout, FW_SPAN_KIND_SERVER, 0x14, 0x51, 0x50, 1, 6);
    send(e, &c2.span, NOW0);
    send(e, &s2.span, NOW0);

    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 2);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.edges, 2);
    assert_edge(e, "frontend", "checkout", FW_NODE_SERVICE, FW_NODE_SERVICE, FW_EDGE_CALL);
    assert_edge(e, "checkout", "checkout", FW_NODE_SERVICE, FW_NODE_SERVICE, FW_EDGE_CALL);
}

static void test_server_with_local_parent_does_not_wait(void **state)
{
    env *e = *state;
    tspan s;
    mk(&s, &res_checkout, FW_SPAN_KIND_SERVER, 0x15, 0x60, 0x61, 0, 5);
    s.span.flags = 0x100; /* is-remote known, parent is local */
    send(e, &s.span, NOW0);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.nodes, 1);
}

/* ---- virtual nodes -------------------------------------------------------- */

static void test_virtual_node_naming_and_typing(void **state)
{
    env *e = *state;
    tspan ddb, redis, pg, ledger, ai;
    mk(&ddb, &res_orders, FW_SPAN_KIND_CLIENT, 0x21, 0x10, 1, 0, 12);
    attr(&ddb, STR("rpc.system", "aws-api"));
    attr(&ddb, STR("rpc.service", "DynamoDB"));
    attr(&ddb, STR("rpc.method", "PutItem"));
    mk(&redis, &res_orders, FW_SPAN_KIND_CLIENT, 0x22, 0x11, 1, 0, 1);
    attr(&redis, STR("db.system", "redis"));
    attr(&redis, STR("server.address", "cache-1.internal"));
    mk(&pg, &res_orders, FW_SPAN_KIND_CLIENT, 0x23, 0x12, 1, 0, 4);
    attr(&pg, STR("db.system", "postgresql"));
    attr(&pg, STR("db.operation.name", "SELECT"));
    attr(&pg, STR("server.address", "10.0.0.7"));
    mk(&ledger, &res_orders, FW_SPAN_KIND_CLIENT, 0x24, 0x13, 1, 0, 4);
    attr(&ledger, STR("peer.service", "ledger-db"));
    attr(&ledger, STR("db.system", "postgresql"));
    mk(&ai, &res_orders, FW_SPAN_KIND_CLIENT, 0x25, 0x14, 1, 0, 900);
    attr(&ai, STR("gen_ai.system", "openai"));
    attr(&ai, STR("gen_ai.operation.name", "chat"));
    attr(&ai, STR("server.address", "api.openai.com"));
    send(e, &ddb.span, NOW0);
    send(e, &redis.span, NOW0);
    send(e, &pg.span, NOW0);
    send(e, &ledger.span, NOW0);
    send(e, &ai.span, NOW0);

    /* Uninstrumented by nature: attributed at once, nothing waits. */
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.virtual_calls, 5);
    assert_edge(e, "orders", "DynamoDB", FW_NODE_SERVICE, FW_NODE_DATABASE, FW_EDGE_CALL);
    assert_edge(e, "orders", "redis", FW_NODE_SERVICE, FW_NODE_CACHE, FW_EDGE_CALL);
    assert_edge(e, "orders", "postgresql", FW_NODE_SERVICE, FW_NODE_DATABASE, FW_EDGE_CALL);
    assert_edge(e, "orders", "ledger-db", FW_NODE_SERVICE, FW_NODE_DATABASE, FW_EDGE_CALL);
    assert_edge(e, "orders", "openai", FW_NODE_SERVICE, FW_NODE_MODEL, FW_EDGE_CALL);
    /* Addresses never became nodes when a better name existed. */
    assert_int_equal(id_of(e, "10.0.0.7"), 0);
    assert_int_equal(id_of(e, "api.openai.com"), 0);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "orders", "openai", &t), 0);
    assert_int_equal(fw_hist_sum(&t.latency), 900000);
    assert_int_equal(fw_hist_count(&t.server_latency), 0); /* no server side */
}

static void test_wait_expiry_makes_external_api_edge(void **state)
{
    env *e = *state;
    tspan c, anon, orphan;
    mk(&c, &res_billing, FW_SPAN_KIND_CLIENT, 0x31, 0x10, 1, 0, 250);
    attr(&c, STR("http.request.method", "POST"));
    attr(&c, STR("url.full", "https://api.stripe.com/v1/charges"));
    attr(&c, STR("server.address", "api.stripe.com"));
    attr(&c, INT("http.response.status_code", 200));
    /* A client span naming nothing: dropped and counted at expiry. */
    mk(&anon, &res_billing, FW_SPAN_KIND_CLIENT, 0x32, 0x11, 1, 0, 3);
    /* A server span whose caller is not instrumented: just an entry. */
    mk(&orphan, &res_billing, FW_SPAN_KIND_SERVER, 0x33, 0x12, 0x99, 0, 3);
    send(e, &c.span, NOW0);
    send(e, &anon.span, NOW0);
    send(e, &orphan.span, NOW0);

    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.edges, 0);

    fw_topo_tick(e->topo, NOW0 + WAIT_NS - 1); /* not yet */
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.edges, 0);

    fw_topo_tick(e->topo, NOW0 + WAIT_NS);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.virtual_calls, 1);
    assert_int_equal(st.unattributed, 1);
    assert_int_equal(st.unpaired, 1);
    assert_int_equal(st.edges, 1);
    assert_int_equal(st.joins, 0);
    assert_edge(e, "billing", "api.stripe.com", FW_NODE_SERVICE, FW_NODE_EXTERNAL, FW_EDGE_CALL);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "billing", "api.stripe.com", &t), 0);
    assert_true(t.requests == 1.0);
    assert_int_equal(fw_hist_sum(&t.latency), 250000);

    /* A late server child finds nothing to join: it waits, then goes. */
    tspan late;
    mk(&late, &res_checkout, FW_SPAN_KIND_SERVER, 0x31, 0x13, 0x10, 1, 200);
    send(e, &late.span, NOW0 + 3 * SEC);
    fw_topo_tick(e->topo, NOW0 + 10 * SEC);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.edges, 1);
    assert_int_equal(st.unpaired, 2);
}

static void test_expiry_also_runs_on_observe(void **state)
{
    env *e = *state;
    tspan c, other;
    mk(&c, &res_billing, FW_SPAN_KIND_CLIENT, 0x34, 0x10, 1, 0, 5);
    attr(&c, STR("server.address", "partner.example.com"));
    send(e, &c.span, NOW0);
    /* Same partition, later arrival: the due client span is settled. */
    mk(&other, &res_billing, FW_SPAN_KIND_INTERNAL, 0x34 + PARTS, 0x11, 0, 0, 1);
    send(e, &other.span, NOW0 + WAIT_NS);
    assert_edge(e, "billing", "partner.example.com", FW_NODE_SERVICE, FW_NODE_EXTERNAL,
                FW_EDGE_CALL);
}

/* ---- messaging ------------------------------------------------------------ */

static void producer(tspan *p, uint8_t trace, uint8_t id)
{
    mk(p, &res_orders, FW_SPAN_KIND_PRODUCER, trace, id, 1, 0, 2);
    attr(p, STR("messaging.system", "kafka"));
    attr(p, STR("messaging.destination.name", "order-events"));
    attr(p, STR("messaging.operation.type", "send"));
}

static void test_messaging_parent_child_both_orders(void **state)
{
    env *e = *state;
    tspan p1, c1, p2, c2;
    /* Producer first, then its consumer child (no messaging attributes). */
    producer(&p1, 0x41, 0x10);
    mk(&c1, &res_shipping, FW_SPAN_KIND_CONSUMER, 0x41, 0x11, 0x10, 50, 7);
    send(e, &p1.span, NOW0);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.edges, 1); /* orders -> broker, at once */
    assert_edge(e, "orders", "kafka/order-events", FW_NODE_SERVICE, FW_NODE_MESSAGING,
                FW_EDGE_MESSAGING);
    send(e, &c1.span, NOW0);
    assert_edge(e, "kafka/order-events", "shipping", FW_NODE_MESSAGING, FW_NODE_SERVICE,
                FW_EDGE_MESSAGING);

    /* Consumer first: it waits for its producer. */
    producer(&p2, 0x42, 0x20);
    mk(&c2, &res_shipping, FW_SPAN_KIND_CONSUMER, 0x42, 0x21, 0x20, 50, 9);
    c2.span.status_code = FW_STATUS_ERROR;
    send(e, &c2.span, NOW0);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 1);
    send(e, &p2.span, NOW0 + 1 * SEC);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.joins, 2);
    assert_int_equal(st.edges, 2);

    fw_red_totals t;
    assert_int_equal(edge_red(e, "orders", "kafka/order-events", &t), 0);
    assert_true(t.requests == 2.0);
    assert_int_equal(edge_red(e, "kafka/order-events", "shipping", &t), 0);
    assert_true(t.requests == 2.0);
    assert_true(t.faults == 1.0);
    assert_int_equal(fw_hist_sum(&t.latency), 16000); /* consumer durations */
}

static void test_messaging_links_across_traces(void **state)
{
    env *e = *state;
    tspan p, batch, own;
    /* The consumer starts its own trace (another partition) and links to
     * the producer span. */
    producer(&p, 0x51, 0x10);
    mk(&batch, &res_billing, FW_SPAN_KIND_CONSUMER, 0x52, 0x11, 0, 100, 20);
    link_to(&batch, &p.span);
    assert_int_not_equal(p.span.trace_id[0] % PARTS, batch.span.trace_id[0] % PARTS);
    send(e, &p.span, NOW0);
    send(e, &batch.span, NOW0);
    assert_edge(e, "kafka/order-events", "billing", FW_NODE_MESSAGING, FW_NODE_SERVICE,
                FW_EDGE_MESSAGING);

    /* A consumer that names its broker itself needs no join at all. */
    mk(&own, &res_audit, FW_SPAN_KIND_CONSUMER, 0x53, 0x12, 0, 100, 3);
    attr(&own, STR("messaging.system", "kafka"));
    attr(&own, STR("messaging.destination.name", "order-events"));
    send(e, &own.span, NOW0);
    assert_edge(e, "kafka/order-events", "audit", FW_NODE_MESSAGING, FW_NODE_SERVICE,
                FW_EDGE_MESSAGING);

    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.edges, 3);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "kafka/order-events", "billing", &t), 0);
    assert_true(t.requests == 1.0);
    assert_memory_equal(t.exemplars[0], batch.span.trace_id, FW_TRACE_ID_LEN);
}

/* ---- RED on edges --------------------------------------------------------- */

static void test_edge_red_counts_faults_throttling(void **state)
{
    env *e = *state;
    /* 10 calls: 3 answered 500 (server fault), 1 client timeout (client
     * span status ERROR, no status code, its server side fine), 2 answered
     * 429 (throttled, a client error), 4 fine. */
    for (uint8_t i = 0; i < 10; i++) {
        tspan c, s;
        int64_t status = i < 3 ? 500 : (i >= 4 && i < 6) ? 429 : 200;
        uint8_t trace = (uint8_t)(0x60 + i);
        http_pair(&c, &s, trace, 0x10, status);
        if (i == 3) {
            c.span.attrs.n = 2; /* no status code on the client side */
            c.span.status_code = FW_STATUS_ERROR;
        }
        if (i % 2) {
            send(e, &c.span, NOW0);
            send(e, &s.span, NOW0);
        } else {
            send(e, &s.span, NOW0);
            send(e, &c.span, NOW0);
        }
    }
    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == 10.0);
    assert_true(t.faults == 4.0);
    assert_true(t.client_errors == 2.0);
    assert_true(t.throttled == 2.0);
    assert_true(t.errors == 6.0);
    assert_int_equal(fw_hist_count(&t.latency), 10);
    assert_int_equal(fw_hist_count(&t.server_latency), 10);
    /* Exemplars prefer failing traces. */
    assert_true(t.n_exemplars > 0);
    assert_true(t.exemplar_failed[0]);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 10);
    assert_int_equal(st.pending, 0);
}

static void test_weights_scale_counts(void **state)
{
    env *e = *state;
    tspan c, s, r;
    http_pair(&c, &s, 0x71, 0x10, 200);
    send_w(e, &s.span, 4.0, NOW0);
    send_w(e, &c.span, 4.0, NOW0);
    mk(&r, &res_frontend, FW_SPAN_KIND_CLIENT, 0x72, 0x10, 1, 0, 1);
    attr(&r, STR("db.system", "redis"));
    send_w(e, &r.span, 2.5, NOW0);
    send_w(e, &r.span, 0.0, NOW0); /* a bad weight counts as one span */

    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == 4.0);
    assert_int_equal(fw_hist_count(&t.latency), 4);
    assert_int_equal(edge_red(e, "frontend", "redis", &t), 0);
    assert_true(t.requests == 3.5);
}

/* ---- bounds --------------------------------------------------------------- */

static void test_pending_bound_flushes_oldest(void **state)
{
    (void)state;
    env *e = malloc(sizeof *e);
    assert_non_null(e);
    assert_int_equal(env_open(e, 4, 100, 100, 1), 0);
    for (uint8_t i = 0; i < 10; i++) {
        tspan c;
        mk(&c, &res_frontend, FW_SPAN_KIND_CLIENT, (uint8_t)(0x80 + i), 0x10, 1, i, 5);
        attr(&c, STR("server.address", "api.partner.example"));
        fw_span_class cl;
        double w = 1.0;
        fw_semconv_span_classify(&c.span, e->rules, &cl);
        fw_topo_observe(e->topo, 0, &c.span, &cl, &w, 1, NOW0 + i);
    }
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.pending_evicted, 6);
    assert_int_equal(st.virtual_calls, 6);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "api.partner.example", &t), 0);
    assert_true(t.requests == 6.0);
    /* The oldest went first: a server child of the newest still joins. */
    tspan s;
    mk(&s, &res_checkout, FW_SPAN_KIND_SERVER, 0x89, 0x11, 0x10, 10, 2);
    fw_span_class cl;
    double w = 1.0;
    fw_semconv_span_classify(&s.span, e->rules, &cl);
    fw_topo_observe(e->topo, 0, &s.span, &cl, &w, 1, NOW0 + 20);
    fw_topo_tick(e->topo, NOW0 + 1000 * SEC);
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.virtual_calls, 9);
    assert_true(st.memory_used > 0);
    env_close(e);
}

static void test_edge_and_node_caps(void **state)
{
    (void)state;
    env *e = malloc(sizeof *e);
    assert_non_null(e);
    assert_int_equal(env_open(e, 64, 3, 1, PARTS), 0);
    const char *systems[] = {"postgresql", "mysql", "mongodb"};
    for (uint8_t i = 0; i < 3; i++) {
        tspan c;
        mk(&c, &res_orders, FW_SPAN_KIND_CLIENT, (uint8_t)(0x90 + i), 0x10, 1, 0, 5);
        attr(&c, (fw_attr){FW_STR_LIT("db.system"),
                           {.type = FW_VALUE_STRING, .u.str = fw_str_from(systems[i])}});
        send(e, &c.span, NOW0);
    }
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.edges, 1);
    assert_int_equal(st.nodes, 3);   /* orders, postgresql, mysql (edge refused) */
    assert_int_equal(st.dropped, 2); /* mysql edge, mongodb node */
    fw_red_totals t;
    assert_int_equal(edge_red(e, "orders", "postgresql", &t), 0);
    assert_int_equal(edge_red(e, "orders", "mysql", &t), FW_ERR_NOT_FOUND);
    env_close(e);
}

/* ---- snapshot and exposition ---------------------------------------------- */

static void test_snapshot_contents(void **state)
{
    env *e = *state;
    tspan c, s, pg;
    http_pair(&c, &s, 0xa1, 0x10, 200);
    send(e, &c.span, NOW0);
    send(e, &s.span, NOW0);
    mk(&pg, &res_checkout, FW_SPAN_KIND_CLIENT, 0xa2, 0x10, 1, 100, 4);
    attr(&pg, STR("db.system", "postgresql"));
    send(e, &pg.span, NOW0);

    fw_topo_snapshot snap;
    assert_int_equal(fw_topo_snapshot_get(e->topo, &snap), 0);
    assert_int_equal(snap.n_nodes, 3);
    assert_int_equal(snap.n_edges, 2);
    const fw_topo_node *fe = snap_node(e, &snap, "frontend");
    const fw_topo_node *co = snap_node(e, &snap, "checkout");
    const fw_topo_node *db = snap_node(e, &snap, "postgresql");
    assert_non_null(fe);
    assert_non_null(co);
    assert_non_null(db);
    assert_int_equal(fe->type, FW_NODE_SERVICE);
    assert_int_equal(db->type, FW_NODE_DATABASE);
    assert_int_equal(fe->namespace_id, id_of(e, "shop"));
    assert_int_equal(fe->environment_id, id_of(e, "prod"));
    assert_int_equal(db->namespace_id, 0);
    /* Event time: frontend ran 10..40 ms, checkout 15..35 ms and 100..104 ms
     * (two partitions merged). */
    assert_int_equal(fe->first_seen_ns, BASE_NS + 10 * MS);
    assert_int_equal(fe->last_seen_ns, BASE_NS + 40 * MS);
    assert_int_equal(co->first_seen_ns, BASE_NS + 15 * MS);
    assert_int_equal(co->last_seen_ns, BASE_NS + 104 * MS);
    const fw_topo_edge *ed = snap_edge(e, &snap, "checkout", "postgresql");
    assert_non_null(ed);
    assert_int_equal(ed->first_seen_ns, BASE_NS + 100 * MS);
    assert_int_equal(ed->last_seen_ns, BASE_NS + 104 * MS);
    assert_string_equal(fw_node_type_name(db->type), "database");
    fw_topo_snapshot_free(&snap);
    assert_null(snap.nodes);
    fw_topo_snapshot_free(&snap); /* twice is harmless */
}

static void test_virtual_node_becomes_service(void **state)
{
    env *e = *state;
    /* peer.service names a service that later reports spans itself. */
    tspan c, s;
    mk(&c, &res_frontend, FW_SPAN_KIND_CLIENT, 0xb1, 0x10, 1, 0, 5);
    attr(&c, STR("peer.service", "checkout"));
    attr(&c, STR("db.system", "postgresql")); /* immediate: typed database */
    send(e, &c.span, NOW0);
    mk(&s, &res_checkout, FW_SPAN_KIND_SERVER, 0xb2, 0x11, 0, 0, 5);
    send(e, &s.span, NOW0);
    assert_edge(e, "frontend", "checkout", FW_NODE_SERVICE, FW_NODE_SERVICE, FW_EDGE_CALL);
}

static void test_render_prometheus(void **state)
{
    env *e = *state;
    tspan c, s, c2, s2, pg, p;
    http_pair(&c, &s, 0xc1, 0x10, 200);
    http_pair(&c2, &s2, 0xc2, 0x10, 503);
    send(e, &c.span, NOW0);
    send(e, &s.span, NOW0);
    send(e, &s2.span, NOW0);
    send(e, &c2.span, NOW0);
    mk(&pg, &res_checkout, FW_SPAN_KIND_CLIENT, 0xc3, 0x10, 1, 0, 4);
    attr(&pg, STR("db.system", "postgresql"));
    send(e, &pg.span, NOW0);
    producer(&p, 0xc4, 0x10);
    send(e, &p.span, NOW0);

    fw_buf out;
    fw_buf_init(&out, 1u << 20);
    assert_int_equal(fw_topo_render_prometheus(e->topo, &out), 0);
    assert_int_equal(fw_buf_append(&out, "", 1), 0);
    const char *text = (const char *)out.data;
    const char *want[] = {
        "# TYPE traces_service_graph_request_total counter\n",
        "traces_service_graph_request_total{client=\"frontend\",server=\"checkout\","
        "connection_type=\"\"} 2\n",
        "traces_service_graph_request_failed_total{client=\"frontend\",server=\"checkout\","
        "connection_type=\"\"} 1\n",
        "traces_service_graph_request_total{client=\"checkout\",server=\"postgresql\","
        "connection_type=\"database\"} 1\n",
        "traces_service_graph_request_total{client=\"orders\",server=\"kafka/order-events\","
        "connection_type=\"messaging_system\"} 1\n",
        "# TYPE traces_service_graph_request_server_seconds histogram\n",
        "# TYPE traces_service_graph_request_client_seconds histogram\n",
        "traces_service_graph_request_client_seconds_bucket{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\",le=\"0.01\"} 0\n",
        "traces_service_graph_request_client_seconds_bucket{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\",le=\"0.05\"} 2\n",
        "traces_service_graph_request_client_seconds_bucket{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\",le=\"+Inf\"} 2\n",
        "traces_service_graph_request_client_seconds_sum{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\"} 0.060000\n",
        "traces_service_graph_request_client_seconds_count{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\"} 2\n",
        "traces_service_graph_request_server_seconds_count{client=\"frontend\","
        "server=\"checkout\",connection_type=\"\"} 2\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("missing: %s\n---\n%s", want[i], text);
    /* Self-metrics are the API's to export, once (promtool rejects a
     * family whose HELP appears twice in one exposition). */
    assert_null(strstr(text, "flywheel_topology_"));
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.edges, 3);
    assert_int_equal(st.nodes, 5);
    /* No server histogram for an edge that never had a server span. */
    assert_null(
        strstr(text, "traces_service_graph_request_server_seconds_count{client=\"checkout\""));
    /* Every family is contiguous: one TYPE line each. */
    const char *first = strstr(text, "# TYPE traces_service_graph_request_total");
    assert_null(strstr(first + 1, "# TYPE traces_service_graph_request_total"));
    fw_buf_free(&out);
}

static void test_bad_config(void **state)
{
    env *e = *state;
    fw_topo *t = NULL;
    fw_topo_config cfg = {.join_wait_ns = SEC, .partitions = 3};
    assert_int_equal(fw_topo_new(&cfg, e->intern, e->red, &t), FW_ERR_INVALID);
    assert_null(t);
    cfg.partitions = 0;
    assert_int_equal(fw_topo_new(&cfg, e->intern, e->red, &t), FW_ERR_INVALID);
    cfg.partitions = 2; /* zero caps take the defaults */
    assert_int_equal(fw_topo_new(&cfg, e->intern, e->red, &t), 0);
    fw_topo_free(t);
    fw_topo_free(NULL);
}

/* ---- concurrency ---------------------------------------------------------- */

#define CALLS_PER_THREAD 2000u

typedef struct writer_arg {
    env *e;
    unsigned partition;
} writer_arg;

/* Joined calls on one partition, server first on odd calls. */
static void *writer(void *p)
{
    writer_arg *w = p;
    for (unsigned i = 0; i < CALLS_PER_THREAD; i++) {
        tspan c, s;
        http_pair(&c, &s, (uint8_t)w->partition, 0x10, 200);
        c.span.trace_id[1] = s.span.trace_id[1] = (uint8_t)i;
        c.span.trace_id[2] = s.span.trace_id[2] = (uint8_t)(i >> 8);
        fw_span spans[2] = {c.span, s.span};
        if (i % 2) {
            spans[0] = s.span;
            spans[1] = c.span;
        }
        fw_span_class cls[2];
        double wt[2] = {1.0, 1.0};
        fw_semconv_span_classify(&spans[0], w->e->rules, &cls[0]);
        fw_semconv_span_classify(&spans[1], w->e->rules, &cls[1]);
        fw_topo_observe(w->e->topo, w->partition, spans, cls, wt, 2, NOW0 + i);
    }
    return NULL;
}

static void test_concurrent_writers_and_readers(void **state)
{
    env *e = *state;
    pthread_t th[PARTS];
    writer_arg args[PARTS];
    for (unsigned i = 0; i < PARTS; i++) {
        args[i] = (writer_arg){e, i};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int round = 0; round < 50; round++) {
        fw_topo_snapshot snap;
        assert_int_equal(fw_topo_snapshot_get(e->topo, &snap), 0);
        assert_true(snap.n_edges <= 1);
        fw_topo_snapshot_free(&snap);
        fw_buf out;
        fw_buf_init(&out, 1u << 20);
        assert_int_equal(fw_topo_render_prometheus(e->topo, &out), 0);
        fw_buf_free(&out);
        fw_topo_tick(e->topo, NOW0);
    }
    for (unsigned i = 0; i < PARTS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    fw_topo_stats st;
    fw_topo_get_stats(e->topo, &st);
    assert_int_equal(st.joins, PARTS * CALLS_PER_THREAD);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.edges, 1);
    fw_red_totals t;
    assert_int_equal(edge_red(e, "frontend", "checkout", &t), 0);
    assert_true(t.requests == (double)(PARTS * CALLS_PER_THREAD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_join_client_first),
        T(test_join_server_first),
        T(test_retried_client_span_is_one_pending_call),
        T(test_join_in_one_batch_and_self_edge),
        T(test_server_with_local_parent_does_not_wait),
        T(test_virtual_node_naming_and_typing),
        T(test_wait_expiry_makes_external_api_edge),
        T(test_expiry_also_runs_on_observe),
        T(test_messaging_parent_child_both_orders),
        T(test_messaging_links_across_traces),
        T(test_edge_red_counts_faults_throttling),
        T(test_weights_scale_counts),
        T(test_pending_bound_flushes_oldest),
        T(test_edge_and_node_caps),
        T(test_snapshot_contents),
        T(test_virtual_node_becomes_service),
        T(test_render_prometheus),
        T(test_bad_config),
        T(test_concurrent_writers_and_readers),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
