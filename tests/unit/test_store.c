/* test_store.c - the span store: round trip of every field and value kind
 * through the compact record, trace lookup order and across blocks,
 * eviction by count and by memory (with a reference-model property test of
 * the trace index), expiry by event time, search by service / operation /
 * kind / time / errors / throttled (newest first, limit), a full
 * dictionary, hostile spans, partition independence, logs, and a
 * concurrent add smoke test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/intern.h"
#include "flywheel/semconv.h"
#include "flywheel/store.h"

/* ---- helpers: sources live in malloc'd memory that the tests scribble
 * over and free before reading back, so only deep copies survive. ---- */

static fw_str heap_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, s, n + 1);
    return (fw_str){p, n};
}

static void scribble_free_str(fw_str s)
{
    if (s.ptr) {
        memset((char *)s.ptr, 'X', s.len);
        free((char *)s.ptr);
    }
}

static void make_id(uint8_t *id, size_t n, unsigned v)
{
    memset(id, 0, n);
    id[0] = 0x5b;
    id[n - 4] = (uint8_t)(v >> 24);
    id[n - 3] = (uint8_t)(v >> 16);
    id[n - 2] = (uint8_t)(v >> 8);
    id[n - 1] = (uint8_t)v;
}

static fw_store *new_store(size_t max_spans, size_t max_logs, size_t mem, unsigned parts)
{
    fw_store_config cfg = {.max_spans = max_spans, .max_logs = max_logs, .memory_limit = mem,
                           .partitions = parts};
    fw_store *s = NULL;
    assert_int_equal(fw_store_new(&cfg, &s), 0);
    assert_non_null(s);
    return s;
}

static fw_resource plain_resource = {.service_name = {"svc", 3}};
static fw_scope plain_scope = {.name = {"lib", 3}};

static fw_span plain_span(unsigned trace, unsigned span, const char *name, uint64_t start)
{
    fw_span sp = {0};
    make_id(sp.trace_id, FW_TRACE_ID_LEN, trace);
    make_id(sp.span_id, FW_SPAN_ID_LEN, span);
    sp.name = fw_str_from(name);
    sp.start_ns = start;
    sp.end_ns = start + 1000;
    sp.resource = &plain_resource;
    sp.scope = &plain_scope;
    return sp;
}

typedef struct collected {
    size_t n;
    char names[64][32];
    uint64_t times[64];
} collected;

static int collect_span(void *ctx, const fw_span *sp)
{
    collected *c = ctx;
    if (c->n < 64) {
        size_t len = sp->name.len < 31 ? sp->name.len : 31;
        memcpy(c->names[c->n], sp->name.ptr, len);
        c->names[c->n][len] = '\0';
        c->times[c->n] = sp->start_ns;
    }
    c->n++;
    return 0;
}

static size_t trace_count(fw_store *s, unsigned trace)
{
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), trace);
    collected c = {0};
    size_t n = fw_store_get_trace(s, id, collect_span, &c);
    assert_int_equal(n, c.n);
    return n;
}

/* ---- deep copy of every value kind ---- */

typedef struct deep_check {
    int seen;
} deep_check;

static const fw_value *get(const fw_attrs *a, const char *key)
{
    const fw_value *v = fw_attrs_get(a, key);
    assert_non_null(v);
    return v;
}

static int check_deep_span(void *ctx, const fw_span *sp)
{
    deep_check *dc = ctx;
    dc->seen++;
    assert_true(fw_str_eq(sp->name, "GET /users/:id"));
    assert_true(fw_str_eq(sp->trace_state, "ot=th:8"));
    assert_true(fw_str_eq(sp->status_message, "boom"));
    assert_int_equal(sp->status_code, FW_STATUS_ERROR);
    assert_int_equal(sp->kind, FW_SPAN_KIND_SERVER);
    assert_true(sp->has_parent);
    assert_int_equal(sp->dropped_attributes_count, 3);

    assert_int_equal(sp->attrs.n, 8);
    const fw_value *v = get(&sp->attrs, "s");
    assert_int_equal(v->type, FW_VALUE_STRING);
    assert_true(fw_str_eq(v->u.str, "hello"));
    assert_int_equal(v->u.str.ptr[v->u.str.len], '\0');
    v = get(&sp->attrs, "b");
    assert_int_equal(v->type, FW_VALUE_BOOL);
    assert_true(v->u.boolean);
    v = get(&sp->attrs, "i");
    assert_int_equal(v->type, FW_VALUE_INT);
    assert_true(v->u.i64 == INT64_MIN);
    v = get(&sp->attrs, "d");
    assert_int_equal(v->type, FW_VALUE_DOUBLE);
    assert_true(v->u.f64 == 2.5);
    v = get(&sp->attrs, "bytes");
    assert_int_equal(v->type, FW_VALUE_BYTES);
    assert_int_equal(v->u.str.len, 3);
    assert_memory_equal(v->u.str.ptr, "\x00\xff\x01", 3);
    v = get(&sp->attrs, "e");
    assert_int_equal(v->type, FW_VALUE_EMPTY);

    v = get(&sp->attrs, "arr");
    assert_int_equal(v->type, FW_VALUE_ARRAY);
    assert_int_equal(v->u.array.n, 3);
    assert_int_equal(v->u.array.items[0].type, FW_VALUE_INT);
    assert_int_equal(v->u.array.items[0].u.i64, 42);
    assert_true(fw_str_eq(v->u.array.items[1].u.str, "two"));
    const fw_value *inner = &v->u.array.items[2];
    assert_int_equal(inner->type, FW_VALUE_ARRAY);
    assert_int_equal(inner->u.array.n, 1);
    assert_int_equal(inner->u.array.items[0].type, FW_VALUE_BOOL);
    assert_false(inner->u.array.items[0].u.boolean);

    v = get(&sp->attrs, "kv");
    assert_int_equal(v->type, FW_VALUE_KVLIST);
    fw_attrs kv = {v->u.kvlist.items, v->u.kvlist.n};
    assert_true(fw_str_eq(get(&kv, "k")->u.str, "v"));
    const fw_value *nested = get(&kv, "nested");
    assert_int_equal(nested->type, FW_VALUE_KVLIST);
    fw_attrs kv2 = {nested->u.kvlist.items, nested->u.kvlist.n};
    assert_true(get(&kv2, "x")->u.f64 == -1.25);

    assert_int_equal(sp->n_events, 1);
    assert_true(fw_str_eq(sp->events[0].name, "exception"));
    assert_true(fw_str_eq(get(&sp->events[0].attrs, "exception.type")->u.str, "Throttled"));
    assert_int_equal(sp->events[0].time_ns, 1234);
    assert_int_equal(sp->n_links, 1);
    assert_true(fw_str_eq(sp->links[0].trace_state, "k=v"));
    assert_int_equal(sp->links[0].flags, 1);
    assert_int_equal(get(&sp->links[0].attrs, "n")->u.i64, 7);

    assert_true(fw_str_eq(sp->resource->service_name, "frontend"));
    assert_true(fw_str_eq(sp->resource->service_version, "1.2.3"));
    assert_null(sp->resource->service_namespace.ptr);
    assert_true(fw_str_eq(sp->resource->schema_url, "https://opentelemetry.io/schemas/1.21.0"));
    assert_true(fw_str_eq(get(&sp->resource->attrs, "service.name")->u.str, "frontend"));
    assert_true(fw_str_eq(sp->scope->name, "my.lib"));
    assert_true(fw_str_eq(sp->scope->version, "0.9"));
    assert_true(fw_str_eq(get(&sp->scope->attrs, "sa")->u.str, "sv"));
    return 0;
}

static void test_deep_copy_every_kind(void **state)
{
    (void)state;
    fw_store *s = new_store(100, 100, 0, 2);

    /* Build the source span entirely on the heap. */
    fw_value *inner_items = calloc(1, sizeof(fw_value));
    inner_items[0] = (fw_value){.type = FW_VALUE_BOOL, .u.boolean = false};
    fw_value *arr_items = calloc(3, sizeof(fw_value));
    arr_items[0] = (fw_value){.type = FW_VALUE_INT, .u.i64 = 42};
    arr_items[1] = (fw_value){.type = FW_VALUE_STRING, .u.str = heap_str("two")};
    arr_items[2].type = FW_VALUE_ARRAY;
    arr_items[2].u.array.items = inner_items;
    arr_items[2].u.array.n = 1;
    fw_attr *kv2 = calloc(1, sizeof(fw_attr));
    kv2[0] = (fw_attr){heap_str("x"), {.type = FW_VALUE_DOUBLE, .u.f64 = -1.25}};
    fw_attr *kv = calloc(2, sizeof(fw_attr));
    kv[0] = (fw_attr){heap_str("k"), {.type = FW_VALUE_STRING, .u.str = heap_str("v")}};
    kv[1].key = heap_str("nested");
    kv[1].value.type = FW_VALUE_KVLIST;
    kv[1].value.u.kvlist.items = kv2;
    kv[1].value.u.kvlist.n = 1;

    char *bytes = malloc(3);
    memcpy(bytes, "\x00\xff\x01", 3);
    fw_attr *attrs = calloc(8, sizeof(fw_attr));
    attrs[0] = (fw_attr){heap_str("s"), {.type = FW_VALUE_STRING, .u.str = heap_str("hello")}};
    attrs[1] = (fw_attr){heap_str("b"), {.type = FW_VALUE_BOOL, .u.boolean = true}};
    attrs[2] = (fw_attr){heap_str("i"), {.type = FW_VALUE_INT, .u.i64 = INT64_MIN}};
    attrs[3] = (fw_attr){heap_str("d"), {.type = FW_VALUE_DOUBLE, .u.f64 = 2.5}};
    attrs[4] = (fw_attr){heap_str("bytes"), {.type = FW_VALUE_BYTES, .u.str = {bytes, 3}}};
    attrs[5] = (fw_attr){heap_str("e"), {.type = FW_VALUE_EMPTY}};
    attrs[6].key = heap_str("arr");
    attrs[6].value.type = FW_VALUE_ARRAY;
    attrs[6].value.u.array.items = arr_items;
    attrs[6].value.u.array.n = 3;
    attrs[7].key = heap_str("kv");
    attrs[7].value.type = FW_VALUE_KVLIST;
    attrs[7].value.u.kvlist.items = kv;
    attrs[7].value.u.kvlist.n = 2;

    fw_attr *ev_attrs = calloc(1, sizeof(fw_attr));
    ev_attrs[0] = (fw_attr){heap_str("exception.type"),
                            {.type = FW_VALUE_STRING, .u.str = heap_str("Throttled")}};
    fw_span_event *events = calloc(1, sizeof(fw_span_event));
    events[0] = (fw_span_event){.time_ns = 1234, .name = heap_str("exception"),
                                .attrs = {ev_attrs, 1}};
    fw_attr *link_attrs = calloc(1, sizeof(fw_attr));
    link_attrs[0] = (fw_attr){heap_str("n"), {.type = FW_VALUE_INT, .u.i64 = 7}};
    fw_span_link *links = calloc(1, sizeof(fw_span_link));
    links[0] = (fw_span_link){.trace_state = heap_str("k=v"), .attrs = {link_attrs, 1},
                              .flags = 1};

    fw_attr *res_attrs = calloc(1, sizeof(fw_attr));
    res_attrs[0] = (fw_attr){heap_str("service.name"),
                             {.type = FW_VALUE_STRING, .u.str = heap_str("frontend")}};
    fw_resource *res = calloc(1, sizeof(*res));
    res->attrs = (fw_attrs){res_attrs, 1};
    res->schema_url = heap_str("https://opentelemetry.io/schemas/1.21.0");
    res->service_name = res_attrs[0].value.u.str; /* aliases the attribute, as decoders do */
    res->service_version = heap_str("1.2.3");
    fw_attr *scope_attrs = calloc(1, sizeof(fw_attr));
    scope_attrs[0] = (fw_attr){heap_str("sa"), {.type = FW_VALUE_STRING, .u.str = heap_str("sv")}};
    fw_scope *scope = calloc(1, sizeof(*scope));
    scope->name = heap_str("my.lib");
    scope->version = heap_str("0.9");
    scope->attrs = (fw_attrs){scope_attrs, 1};

    fw_span sp = plain_span(1, 1, "", 100);
    sp.name = heap_str("GET /users/:id");
    sp.trace_state = heap_str("ot=th:8");
    sp.status_message = heap_str("boom");
    sp.status_code = FW_STATUS_ERROR;
    sp.kind = FW_SPAN_KIND_SERVER;
    sp.has_parent = true;
    sp.dropped_attributes_count = 3;
    sp.attrs = (fw_attrs){attrs, 8};
    sp.events = events;
    sp.n_events = 1;
    sp.links = links;
    sp.n_links = 1;
    sp.resource = res;
    sp.scope = scope;

    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);

    /* Destroy the source. */
    scribble_free_str(sp.name);
    scribble_free_str(sp.trace_state);
    scribble_free_str(sp.status_message);
    scribble_free_str(arr_items[1].u.str);
    scribble_free_str(kv2[0].key);
    scribble_free_str(kv[0].key);
    scribble_free_str(kv[0].value.u.str);
    scribble_free_str(kv[1].key);
    memset(bytes, 0x55, 3);
    free(bytes);
    for (int i = 0; i < 8; i++)
        scribble_free_str(attrs[i].key);
    scribble_free_str(attrs[0].value.u.str);
    scribble_free_str(ev_attrs[0].key);
    scribble_free_str(ev_attrs[0].value.u.str);
    scribble_free_str(events[0].name);
    scribble_free_str(link_attrs[0].key);
    scribble_free_str(links[0].trace_state);
    scribble_free_str(res_attrs[0].key);
    scribble_free_str(res_attrs[0].value.u.str);
    scribble_free_str(res->schema_url);
    scribble_free_str(res->service_version);
    scribble_free_str(scope_attrs[0].key);
    scribble_free_str(scope_attrs[0].value.u.str);
    scribble_free_str(scope->name);
    scribble_free_str(scope->version);
    void *blocks[] = {inner_items, arr_items, kv2, kv, attrs, ev_attrs, events, link_attrs,
                      links, res_attrs, res, scope_attrs, scope};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
        free(blocks[i]);

    deep_check dc = {0};
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 1);
    assert_int_equal(fw_store_get_trace(s, id, check_deep_span, &dc), 1);
    assert_int_equal(dc.seen, 1);

    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 1);
    assert_int_equal(st.spans_stored, 1);
    assert_true(st.memory_used > sizeof(fw_span));
    fw_store_free(s);
}

/* ---- trace order, count eviction ---- */

static void test_trace_arrival_order(void **state)
{
    (void)state;
    fw_store *s = new_store(100, 100, 0, 4);
    fw_span batch[4] = {plain_span(7, 1, "c", 300), plain_span(8, 2, "other", 1),
                        plain_span(7, 3, "a", 100), plain_span(7, 4, "b", 200)};
    assert_int_equal(fw_store_add_spans(s, batch, 4), 0);
    fw_span later = plain_span(7, 5, "d", 50);
    assert_int_equal(fw_store_add_spans(s, &later, 1), 0);

    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 7);
    collected c = {0};
    assert_int_equal(fw_store_get_trace(s, id, collect_span, &c), 4);
    assert_string_equal(c.names[0], "c");
    assert_string_equal(c.names[1], "a");
    assert_string_equal(c.names[2], "b");
    assert_string_equal(c.names[3], "d");
    assert_int_equal(trace_count(s, 8), 1);
    assert_int_equal(trace_count(s, 9), 0);
    fw_store_free(s);
}

static int stop_after_one(void *ctx, const fw_span *sp)
{
    (void)sp;
    (*(int *)ctx)++;
    return 1;
}

static void test_visitor_stops(void **state)
{
    (void)state;
    fw_store *s = new_store(100, 100, 0, 1);
    fw_span batch[3] = {plain_span(1, 1, "a", 1), plain_span(1, 2, "b", 2),
                        plain_span(1, 3, "c", 3)};
    assert_int_equal(fw_store_add_spans(s, batch, 3), 0);
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 1);
    int calls = 0;
    assert_int_equal(fw_store_get_trace(s, id, stop_after_one, &calls), 1);
    assert_int_equal(calls, 1);
    fw_store_free(s);
}

static void test_evict_by_count(void **state)
{
    (void)state;
    fw_store *s = new_store(3, 3, 0, 1);
    for (unsigned i = 0; i < 5; i++) {
        fw_span sp = plain_span(100 + i, i + 1, "x", i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 3);
    assert_int_equal(st.spans_stored, 5);
    assert_int_equal(st.spans_evicted, 2);
    assert_int_equal(trace_count(s, 100), 0);
    assert_int_equal(trace_count(s, 101), 0);
    assert_int_equal(trace_count(s, 102), 1);
    assert_int_equal(trace_count(s, 104), 1);

    /* Within one trace the oldest span goes first. */
    fw_store_free(s);
    s = new_store(2, 2, 0, 1);
    fw_span batch[3] = {plain_span(1, 1, "first", 1), plain_span(1, 2, "second", 2),
                        plain_span(1, 3, "third", 3)};
    assert_int_equal(fw_store_add_spans(s, batch, 3), 0);
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 1);
    collected c = {0};
    assert_int_equal(fw_store_get_trace(s, id, collect_span, &c), 2);
    assert_string_equal(c.names[0], "second");
    assert_string_equal(c.names[1], "third");
    fw_store_free(s);
}

static void test_evict_by_memory(void **state)
{
    (void)state;
    /* 64 KiB budget: small blocks; whole oldest blocks go first. */
    const size_t limit = 64u * 1024u;
    fw_store *s = new_store(0, 0, limit, 1);
    fw_store_stats st;
    for (unsigned i = 0; i < 3000; i++) {
        fw_span sp = plain_span(10 + i, i + 1, "sized", i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
        fw_store_get_stats(s, &st);
        assert_true(st.memory_used <= limit);
    }
    fw_store_get_stats(s, &st);
    assert_true(st.spans_evicted > 0);
    assert_true(st.spans_held > 100);
    assert_int_equal(st.spans_held + st.spans_evicted, 3000);
    /* What is held is exactly the newest suffix. */
    assert_int_equal(trace_count(s, 10 + 2999), 1);
    assert_int_equal(trace_count(s, 10 + (unsigned)(3000 - st.spans_held)), 1);
    assert_int_equal(trace_count(s, 10 + (unsigned)(3000 - st.spans_held) - 1u), 0);
    assert_int_equal(trace_count(s, 10), 0);

    /* A record larger than the whole budget is refused; nothing changes. */
    static char big[128 * 1024];
    memset(big, 'b', sizeof(big));
    fw_span huge[2] = {plain_span(50000, 1, "ok", 1), plain_span(50001, 2, "", 1)};
    huge[1].name = (fw_str){big, sizeof(big)};
    assert_int_equal(fw_store_add_spans(s, huge, 2), FW_ERR_NOMEM);
    fw_store_stats after;
    fw_store_get_stats(s, &after);
    assert_int_equal(after.spans_held, st.spans_held);
    assert_int_equal(after.spans_stored, st.spans_stored);
    assert_int_equal(trace_count(s, 50000), 0);

    /* Logs share the partition's budget: adding logs evicts the oldest spans. */
    fw_log_record lr = {.time_ns = 5, .resource = &plain_resource, .scope = &plain_scope};
    for (int i = 0; i < 40; i++)
        assert_int_equal(fw_store_add_logs(s, &lr, 1), 0);
    fw_store_get_stats(s, &after);
    assert_true(after.memory_used <= limit);
    assert_int_equal(after.logs_held, 40);
    assert_true(after.spans_evicted > st.spans_evicted);
    fw_store_free(s);

    /* A budget smaller than any record refuses everything and holds nothing. */
    s = new_store(0, 0, 64, 2);
    fw_span sp = plain_span(1, 1, "x", 1);
    assert_int_equal(fw_store_add_spans(s, &sp, 1), FW_ERR_NOMEM);
    fw_store_get_stats(s, &st);
    assert_int_equal(st.memory_used, 0);
    assert_int_equal(st.spans_held, 0);
    fw_store_free(s);
}

/* Property test against a reference model: under a memory limit, the held
 * spans are always the newest suffix of arrival order (one partition), the
 * trace index finds exactly the held spans of every trace, search finds
 * them all, and memory stays within the limit. */
static void test_evict_model(void **state)
{
    (void)state;
    enum { ADDS = 6000, TRACES = 300 };
    const size_t limit = 96u * 1024u;
    fw_store *s = new_store(0, 0, limit, 1);
    unsigned *trace_of = calloc(ADDS, sizeof(unsigned));
    uint32_t rng = 777;
    size_t added = 0;
    for (unsigned i = 0; i < ADDS;) {
        /* batches of 1..16 spans, sizes varying with the name */
        rng = rng * 1103515245u + 12345u;
        unsigned batch = 1u + (rng >> 16) % 16u;
        fw_span spans[16];
        char names[16][96];
        for (unsigned k = 0; k < batch && i < ADDS; k++, i++) {
            rng = rng * 1103515245u + 12345u;
            unsigned t = (rng >> 8) % TRACES;
            trace_of[i] = t;
            snprintf(names[k], sizeof(names[k]), "op-%.*s", (int)((rng >> 20) % 80u),
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            spans[k] = plain_span(t, i + 1, names[k], i);
            batch = k + 1;
        }
        assert_int_equal(fw_store_add_spans(s, spans, batch), 0);
        added += batch;
        fw_store_stats st;
        fw_store_get_stats(s, &st);
        assert_true(st.memory_used <= limit);
        assert_int_equal(st.spans_held + st.spans_evicted, added);
        if ((added / 16u) % 25u == 0 || i == ADDS) {
            size_t first = added - st.spans_held;
            unsigned want[TRACES] = {0};
            for (size_t k = first; k < added; k++)
                want[trace_of[k]]++;
            for (unsigned t = 0; t < TRACES; t++)
                assert_int_equal(trace_count(s, t), want[t]);
            fw_span_query q = {.kind = -1};
            collected c = {0};
            assert_int_equal(fw_store_find_spans(s, &q, collect_span, &c), st.spans_held);
        }
    }
    free(trace_of);
    fw_store_free(s);
}

/* The trace index stays exact under heavy churn (backward-shift deletes):
 * compare with a reference FIFO. */
static void test_index_churn(void **state)
{
    (void)state;
    enum { MAX = 50, TRACES = 200, ADDS = 5000 };
    fw_store *s = new_store(MAX, MAX, 0, 1);
    unsigned fifo[MAX];
    size_t head = 0, count = 0;
    unsigned held[TRACES] = {0};
    uint32_t rng = 12345;
    for (unsigned i = 0; i < ADDS; i++) {
        rng = rng * 1103515245u + 12345u;
        unsigned t = (rng >> 8) % TRACES;
        fw_span sp = plain_span(t, i + 1, "c", i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
        if (count == MAX) {
            held[fifo[head]]--;
            head = (head + 1) % MAX;
            count--;
        }
        fifo[(head + count) % MAX] = t;
        count++;
        held[t]++;
        if (i % 97 == 0 || i == ADDS - 1)
            for (unsigned k = 0; k < TRACES; k++)
                assert_int_equal(trace_count(s, k), held[k]);
    }
    fw_store_free(s);
}

static void test_partitions(void **state)
{
    (void)state;
    fw_store_config bad = {.max_spans = 10, .partitions = 3};
    fw_store *s = NULL;
    assert_int_equal(fw_store_new(&bad, &s), FW_ERR_CONFIG);
    assert_null(s);
    bad.partitions = 0;
    assert_int_equal(fw_store_new(&bad, &s), FW_ERR_CONFIG);

    s = new_store(16, 16, 0, 4); /* 4 spans per partition */
    fw_span batch[100];
    for (unsigned i = 0; i < 100; i++)
        batch[i] = plain_span(1000 + i, i + 1, "p", i);
    assert_int_equal(fw_store_add_spans(s, batch, 100), 0);
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_true(st.spans_held <= 16);
    assert_true(st.spans_held >= 4); /* every partition got some of 100 random traces */
    assert_int_equal(st.spans_held + st.spans_evicted, 100);
    size_t found = 0;
    for (unsigned i = 0; i < 100; i++)
        found += trace_count(s, 1000 + i);
    assert_int_equal(found, st.spans_held);
    /* The newest trace is always held. */
    assert_int_equal(trace_count(s, 1099), 1);
    fw_store_free(s);
    fw_store_free(NULL);
}

/* ---- the compact record: fields the deep-copy test does not cover ---- */

typedef struct one_span {
    int seen;
    void (*check)(const fw_span *sp);
} one_span;

static int check_one(void *ctx, const fw_span *sp)
{
    one_span *o = ctx;
    o->seen++;
    o->check(sp);
    return 0;
}

static void check_edges(const fw_span *sp)
{
    assert_true(fw_str_eq(sp->name, ""));
    assert_non_null(sp->name.ptr);
    assert_int_equal(sp->flags, 0x301);
    assert_int_equal(sp->kind, FW_SPAN_KIND_CONSUMER);
    assert_int_equal(sp->status_code, FW_STATUS_OK);
    assert_false(sp->has_parent);
    /* end before start survives as given */
    assert_true(sp->start_ns == UINT64_MAX - 5);
    assert_true(sp->end_ns == 3);
    assert_int_equal(sp->dropped_attributes_count, 0);
    assert_int_equal(sp->dropped_events_count, 4);
    assert_int_equal(sp->dropped_links_count, 5);
    assert_null(sp->trace_state.ptr);
    assert_null(sp->status_message.ptr);
    assert_int_equal(sp->attrs.n, 6);
    assert_true(fw_str_eq(sp->attrs.items[0].key, ""));
    assert_true(fw_str_eq(sp->attrs.items[0].value.u.str, ""));
    assert_true(sp->attrs.items[1].value.u.i64 == INT64_MAX);
    assert_true(sp->attrs.items[2].value.u.i64 == -1);
    assert_true(sp->attrs.items[3].value.u.i64 == (int64_t)1 << 61);
    assert_int_equal(sp->attrs.items[4].value.type, FW_VALUE_BYTES);
    assert_int_equal(sp->attrs.items[4].value.u.str.len, 0);
    assert_int_equal(sp->attrs.items[5].value.type, FW_VALUE_ARRAY);
    assert_int_equal(sp->attrs.items[5].value.u.array.n, 0);
    assert_int_equal(sp->n_events, 2);
    assert_true(sp->events[0].time_ns == 1); /* before the start */
    assert_int_equal(sp->events[1].dropped_attributes_count, 9);
    assert_int_equal(sp->n_links, 1);
    assert_memory_equal(sp->links[0].trace_id, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
    assert_memory_equal(sp->links[0].span_id, "abcdefgh", 8);
    assert_null(sp->links[0].trace_state.ptr);
    assert_int_equal(sp->links[0].dropped_attributes_count, 2);
    /* no resource given: the store's empty one */
    assert_true(fw_str_eq(sp->resource->service_name, "unknown_service"));
}

static void test_record_edges(void **state)
{
    (void)state;
    fw_store *s = new_store(0, 0, 0, 2);
    fw_attr attrs[6] = {
        {FW_STR_LIT(""), {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("")}},
        {FW_STR_LIT("max"), {.type = FW_VALUE_INT, .u.i64 = INT64_MAX}},
        {FW_STR_LIT("neg"), {.type = FW_VALUE_INT, .u.i64 = -1}},
        {FW_STR_LIT("wide"), {.type = FW_VALUE_INT, .u.i64 = (int64_t)1 << 61}},
        {FW_STR_LIT("nobytes"), {.type = FW_VALUE_BYTES}},
        {FW_STR_LIT("noarr"), {.type = FW_VALUE_ARRAY}},
    };
    fw_span_event ev[2] = {{.time_ns = 1, .name = FW_STR_LIT("early")},
                           {.time_ns = UINT64_MAX, .dropped_attributes_count = 9}};
    fw_span_link link = {.dropped_attributes_count = 2};
    memcpy(link.trace_id, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
    memcpy(link.span_id, "abcdefgh", 8);
    fw_span sp = plain_span(3, 3, "", 0);
    sp.name = FW_STR_LIT("");
    sp.flags = 0x301;
    sp.kind = FW_SPAN_KIND_CONSUMER;
    sp.status_code = FW_STATUS_OK;
    sp.start_ns = UINT64_MAX - 5;
    sp.end_ns = 3;
    sp.dropped_events_count = 4;
    sp.dropped_links_count = 5;
    sp.attrs = (fw_attrs){attrs, 6};
    sp.events = ev;
    sp.n_events = 2;
    sp.links = &link;
    sp.n_links = 1;
    sp.resource = NULL;
    sp.scope = NULL;
    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 3);
    one_span o = {0, check_edges};
    assert_int_equal(fw_store_get_trace(s, id, check_one, &o), 1);
    assert_int_equal(o.seen, 1);
    fw_store_free(s);
}

/* Hostile shapes: a 1 MiB attribute, 10k attributes, deep nesting. */
static size_t expect_attrs;
static size_t expect_big;

static void check_hostile(const fw_span *sp)
{
    assert_int_equal(sp->attrs.n, expect_attrs);
    if (expect_big) {
        const fw_value *v = fw_attrs_get(&sp->attrs, "big");
        assert_non_null(v);
        assert_int_equal(v->u.str.len, expect_big);
        assert_int_equal(v->u.str.ptr[0], 'z');
        assert_int_equal(v->u.str.ptr[expect_big - 1], 'z');
    } else {
        char key[32];
        for (size_t i = 0; i < expect_attrs; i += 997) {
            snprintf(key, sizeof(key), "k%zu", i);
            assert_true(fw_str_eq(sp->attrs.items[i].key, key));
            assert_true(sp->attrs.items[i].value.u.i64 == (int64_t)i);
        }
    }
}

static void test_hostile_spans(void **state)
{
    (void)state;
    fw_store *s = new_store(0, 0, 0, 1);
    size_t big_len = 1u << 20;
    char *big = malloc(big_len);
    memset(big, 'z', big_len);
    fw_attr one = {FW_STR_LIT("big"), {.type = FW_VALUE_STRING, .u.str = {big, big_len}}};
    fw_span sp = plain_span(4, 1, "big", 10);
    sp.attrs = (fw_attrs){&one, 1};
    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 4);
    expect_attrs = 1;
    expect_big = big_len;
    one_span o = {0, check_hostile};
    assert_int_equal(fw_store_get_trace(s, id, check_one, &o), 1);

    enum { MANY = 10000 };
    fw_attr *many = calloc(MANY, sizeof(fw_attr));
    char (*keys)[16] = calloc(MANY, 16);
    for (size_t i = 0; i < MANY; i++) {
        snprintf(keys[i], 16, "k%zu", i);
        many[i] = (fw_attr){fw_str_from(keys[i]), {.type = FW_VALUE_INT, .u.i64 = (int64_t)i}};
    }
    sp = plain_span(5, 1, "many", 10);
    sp.attrs = (fw_attrs){many, MANY};
    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    make_id(id, sizeof(id), 5);
    expect_attrs = MANY;
    expect_big = 0;
    o.seen = 0;
    assert_int_equal(fw_store_get_trace(s, id, check_one, &o), 1);

    /* Nesting past the store's bound becomes empty instead of recursing on. */
    enum { DEPTH = 300 };
    fw_value *chain = calloc(DEPTH, sizeof(fw_value));
    for (size_t i = 0; i < DEPTH; i++) {
        chain[i].type = FW_VALUE_ARRAY;
        if (i + 1 < DEPTH) {
            chain[i].u.array.items = &chain[i + 1];
            chain[i].u.array.n = 1;
        }
    }
    fw_attr deep = {FW_STR_LIT("deep"), chain[0]};
    sp = plain_span(6, 1, "deep", 10);
    sp.attrs = (fw_attrs){&deep, 1};
    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    collected c = {0};
    assert_int_equal(trace_count(s, 6), 1);
    (void)c;

    /* Over the record size limit (16 MiB): refused, nothing stored. */
    size_t huge_len = 17u << 20;
    char *huge = malloc(huge_len);
    memset(huge, 'h', huge_len);
    fw_attr h1 = {FW_STR_LIT("huge"), {.type = FW_VALUE_BYTES, .u.str = {huge, huge_len}}};
    sp = plain_span(7, 1, "huge", 10);
    sp.attrs = (fw_attrs){&h1, 1};
    assert_int_equal(fw_store_add_spans(s, &sp, 1), FW_ERR_NOMEM);
    assert_int_equal(trace_count(s, 7), 0);
    free(huge);
    free(chain);
    free(many);
    free(keys);
    free(big);
    fw_store_free(s);
}

/* ---- traces across blocks ---- */

static void test_trace_across_blocks(void **state)
{
    (void)state;
    /* A 256 KiB budget gives 4 KiB blocks: one trace spreads over many. */
    fw_store *s = new_store(0, 0, 256u * 1024u, 1);
    char name[32];
    for (unsigned i = 0; i < 600; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        fw_span batch[3] = {plain_span(42, i + 1, name, i), plain_span(1000 + i, i + 1, "other", i),
                            plain_span(2000 + i % 7, i + 1, "x", i)};
        assert_int_equal(fw_store_add_spans(s, batch, 3), 0);
    }
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_evicted, 0);
    assert_true(st.memory_used > 8u * 4096u); /* many blocks */
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), 42);
    collected c = {0};
    assert_int_equal(fw_store_get_trace(s, id, collect_span, &c), 600);
    for (unsigned i = 0; i < 64; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        assert_string_equal(c.names[i], name); /* arrival order */
    }
    assert_int_equal(trace_count(s, 2003), 600 / 7 + 1);
    fw_store_free(s);
}

/* ---- expiry by event time ---- */

static void test_expire(void **state)
{
    (void)state;
    const uint64_t sec = 1000000000ull, now = 1700000000ull * sec, ret = 3600ull * sec;
    /* 256 KiB per partition: 4 KiB blocks of ~60 spans. */
    fw_store_config cfg = {.memory_limit = 512u * 1024u, .retention_ns = ret, .partitions = 2};
    fw_store *s = NULL;
    assert_int_equal(fw_store_new(&cfg, &s), 0);
    /* Old data first (fills its own blocks), then recent, then a late
     * backdated batch that lands in blocks after the recent ones. */
    for (unsigned i = 0; i < 400; i++) {
        fw_span sp = plain_span(i, 1, "old", now - ret - 600 * sec + i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    for (unsigned i = 0; i < 400; i++) {
        fw_span sp = plain_span(10000 + i, 1, "new", now - 60 * sec + i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    for (unsigned i = 0; i < 400; i++) {
        fw_span sp = plain_span(20000 + i, 1, "late-old", now - ret - 300 * sec + i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    fw_log_record old_log = {.time_ns = now - ret - sec, .resource = &plain_resource,
                             .scope = &plain_scope};
    fw_log_record new_log = {.time_ns = now, .resource = &plain_resource, .scope = &plain_scope};
    assert_int_equal(fw_store_add_logs(s, &old_log, 1), 0);
    assert_int_equal(fw_store_add_logs(s, &new_log, 1), 0);
    fw_store_stats before;
    fw_store_get_stats(s, &before);

    fw_store_expire(s, now - ret); /* nothing is older than the window yet */
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 1200);

    fw_store_expire(s, now);
    fw_store_get_stats(s, &st);
    assert_true(st.memory_used < before.memory_used);
    fw_span_query q = {.kind = -1, .operation = "new"};
    collected c = {0};
    assert_int_equal(fw_store_find_spans(s, &q, collect_span, &c), 400);
    /* In-order old data expires exactly; backdated spans that arrived after
     * newer ones stay while their block holds a span inside the window: at
     * most one boundary block per partition. */
    q.operation = "old";
    size_t old_left = fw_store_find_spans(s, &q, collect_span, &c);
    q.operation = "late-old";
    size_t late_left = fw_store_find_spans(s, &q, collect_span, &c);
    assert_int_equal(old_left, 0);
    assert_true(late_left <= 2 * 70);
    assert_int_equal(st.spans_held, 400 + old_left + late_left);
    assert_int_equal(trace_count(s, 10000), 1);
    assert_int_equal(trace_count(s, 0), 0);
    assert_int_equal(st.logs_held, 1);

    /* Far later: everything goes. */
    fw_store_expire(s, now + 2 * ret);
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 0);
    assert_int_equal(trace_count(s, 10000), 0);
    fw_store_free(s);
}

/* ---- expiry of a block in the middle of a trace's chain ---- */

/* A span with a 3000-byte attribute (over the dictionary's length cap, so
 * always stored inline): one per 4 KiB block. */
static char blob_text[8][3000];

static fw_span block_span(unsigned trace, unsigned span, const char *name, uint64_t start)
{
    static fw_attr attrs[8];
    fw_span sp = plain_span(trace, span, name, start);
    unsigned k = span % 8u;
    memset(blob_text[k], 'a' + (int)k, sizeof(blob_text[k]));
    attrs[k].key = FW_STR_LIT("blob");
    attrs[k].value.type = FW_VALUE_STRING;
    attrs[k].value.u.str = (fw_str){blob_text[k], sizeof(blob_text[k])};
    sp.attrs.items = &attrs[k];
    sp.attrs.n = 1;
    return sp;
}

static void add_one(fw_store *s, fw_span sp)
{
    assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
}

static void assert_trace_names(fw_store *s, unsigned trace, const char *const *names, size_t n)
{
    uint8_t id[FW_TRACE_ID_LEN];
    make_id(id, sizeof(id), trace);
    collected c = {0};
    assert_int_equal(fw_store_get_trace(s, id, collect_span, &c), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c.names[i], names[i]); /* arrival order */
}

static void test_expire_middle_block(void **state)
{
    (void)state;
    const uint64_t sec = 1000000000ull, now = 1700000000ull * sec, ret = 3600ull * sec;
    /* One partition, 4 KiB blocks: each block_span fills a block. */
    fw_store_config cfg = {.memory_limit = 256u * 1024u, .retention_ns = ret, .partitions = 1};
    fw_store *s = NULL;
    assert_int_equal(fw_store_new(&cfg, &s), 0);
    /* Trace 7 over three blocks; the middle one holds old event times (and
     * trace 8, old, all in it), so the window drops it first. */
    add_one(s, block_span(7, 1, "a", now - 60 * sec));
    add_one(s, block_span(7, 2, "b", now - ret - 100 * sec));
    add_one(s, plain_span(8, 1, "only", now - ret - 100 * sec));
    add_one(s, block_span(7, 3, "c", now - 30 * sec));
    const char *const all[] = {"a", "b", "c"};
    assert_trace_names(s, 7, all, 3);

    fw_store_expire(s, now);
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 2);
    const char *const left[] = {"a", "c"};
    assert_trace_names(s, 7, left, 2);
    assert_int_equal(trace_count(s, 8), 0);
    /* New spans chain onto what is left. */
    add_one(s, plain_span(7, 4, "d", now - 10 * sec));
    const char *const more[] = {"a", "c", "d"};
    assert_trace_names(s, 7, more, 3);
    fw_store_expire(s, now + 2 * ret);
    assert_int_equal(trace_count(s, 7), 0);
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 0);
    fw_store_free(s);

    /* Two middle blocks dropped one after the other, the older-arrived one
     * second: what the first drop bridged must follow the second. */
    assert_int_equal(fw_store_new(&cfg, &s), 0);
    add_one(s, block_span(9, 1, "a", now - 60 * sec));
    add_one(s, block_span(9, 2, "b", now - ret - 100 * sec));
    add_one(s, block_span(9, 3, "c", now - ret - 200 * sec));
    add_one(s, block_span(9, 4, "d", now - 30 * sec));
    add_one(s, block_span(10, 1, "x", now - 20 * sec));
    fw_store_expire(s, now - 150 * sec); /* drops c's block only */
    const char *const abd[] = {"a", "b", "d"};
    assert_trace_names(s, 9, abd, 3);
    fw_store_expire(s, now); /* then b's */
    const char *const ad[] = {"a", "d"};
    assert_trace_names(s, 9, ad, 2);
    add_one(s, plain_span(9, 5, "e", now));
    const char *const ade[] = {"a", "d", "e"};
    assert_trace_names(s, 9, ade, 3);
    /* Memory eviction of the oldest block (a's) ends the chain cleanly. */
    for (unsigned i = 0; i < 200 && trace_count(s, 9) == 3; i++)
        add_one(s, block_span(100 + i, 1, "fill", now));
    const char *const de[] = {"d", "e"};
    assert_trace_names(s, 9, de, 2);
    fw_store_free(s);
}

/* ---- search ---- */

typedef struct search_seen {
    size_t n;
    uint64_t end[64];
    char names[64][32];
} search_seen;

static int collect_search(void *ctx, const fw_span *sp)
{
    search_seen *ss = ctx;
    if (ss->n < 64) {
        ss->end[ss->n] = sp->end_ns;
        size_t len = sp->name.len < 31 ? sp->name.len : 31;
        memcpy(ss->names[ss->n], sp->name.ptr, len);
        ss->names[ss->n][len] = '\0';
    }
    ss->n++;
    return 0;
}

static fw_resource res_front = {.service_name = {"frontend", 8}};
static fw_resource res_db = {.service_name = {"db-svc", 6}};

static fw_span search_span(unsigned trace, fw_resource *res, const char *name, fw_span_kind kind,
                           uint64_t end)
{
    fw_span sp = plain_span(trace, trace, name, end - 10);
    sp.end_ns = end;
    sp.resource = res;
    sp.kind = kind;
    return sp;
}

static void search_fixture(fw_store *s)
{
    /* 200 spans across 2 services and 3 operations, out of time order;
     * every 10th is a fault, every 25th throttled, every 7th a client error. */
    fw_span spans[200];
    fw_span_class cls[200];
    for (unsigned i = 0; i < 200; i++) {
        unsigned t = (i * 37u) % 200u; /* scrambled arrival vs time */
        const char *op = t % 3 == 0 ? "GET /a" : t % 3 == 1 ? "GET /b" : "SELECT";
        spans[i] = search_span(5000 + t, t % 2 ? &res_db : &res_front, op,
                               t % 3 == 2 ? FW_SPAN_KIND_CLIENT : FW_SPAN_KIND_SERVER,
                               1000000 + t * 100);
        memset(&cls[i], 0, sizeof(cls[i]));
        cls[i].http_status = -1;
        cls[i].grpc_status = -1;
        cls[i].is_fault = t % 10 == 0;
        cls[i].is_throttled = t % 25 == 0;
        cls[i].is_client_error = t % 7 == 0;
    }
    assert_int_equal(fw_store_add_classified(s, spans, cls, 200), 0);
}

static void assert_newest_first(const search_seen *ss)
{
    size_t n = ss->n < 64 ? ss->n : 64;
    for (size_t i = 1; i < n; i++)
        assert_true(ss->end[i - 1] >= ss->end[i]);
}

static void test_search(void **state)
{
    (void)state;
    fw_store *s = new_store(0, 0, 0, 4);
    search_fixture(s);

    fw_span_query q = {.kind = -1};
    search_seen ss = {0};
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 200);
    assert_newest_first(&ss);
    assert_true(ss.end[0] == 1000000 + 199 * 100);

    /* limit keeps the newest */
    q.limit = 5;
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 5);
    assert_true(ss.end[0] == 1000000 + 199 * 100);
    assert_true(ss.end[4] == 1000000 + 195 * 100);

    /* service: 100 each */
    q = (fw_span_query){.kind = -1, .service = "frontend"};
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 100);
    assert_newest_first(&ss);
    q.service = "db-svc";
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 100);
    q.service = "nobody";
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 0);

    /* service + operation: t even and t % 3 == 0 -> t % 6 == 0: 34 */
    q = (fw_span_query){.kind = -1, .service = "frontend", .operation = "GET /a"};
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 34);
    assert_newest_first(&ss);
    assert_string_equal(ss.names[0], "GET /a");
    q.operation = "GET /nothing";
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 0);

    /* kind: CLIENT spans are t % 3 == 2: 66 */
    q = (fw_span_query){.kind = FW_SPAN_KIND_CLIENT};
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 66);
    q.kind = FW_SPAN_KIND_PRODUCER;
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 0);

    /* time range, inclusive: t in [50, 59] */
    q = (fw_span_query){.kind = -1, .from_ns = 1000000 + 50 * 100, .to_ns = 1000000 + 59 * 100};
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 10);
    assert_true(ss.end[0] == 1000000 + 59 * 100);
    assert_true(ss.end[9] == 1000000 + 50 * 100);

    /* errors: faults (t % 10 == 0: 20) or client errors (t % 7 == 0: 29),
     * both for t % 70 == 0 (3): 46 */
    q = (fw_span_query){.kind = -1, .errors_only = true};
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 46);
    assert_newest_first(&ss);
    q.limit = 3;
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 3);
    assert_true(ss.end[0] == 1000000 + 196 * 100); /* 196 = 7 * 28 */
    assert_true(ss.end[1] == 1000000 + 190 * 100);
    /* errors of one service: t even among the 46 */
    q = (fw_span_query){.kind = -1, .errors_only = true, .service = "frontend"};
    size_t even = 0;
    for (unsigned t = 0; t < 200; t++)
        even += (t % 2 == 0) && (t % 10 == 0 || t % 7 == 0);
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), even);

    /* throttled: t % 25 == 0: 8 */
    q = (fw_span_query){.kind = -1, .throttled_only = true};
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 8);
    assert_true(ss.end[0] == 1000000 + 175 * 100);
    assert_newest_first(&ss);

    /* status ERROR without classification counts as an error */
    fw_span e = search_span(9999, &res_front, "boom", FW_SPAN_KIND_SERVER, 5);
    e.status_code = FW_STATUS_ERROR;
    assert_int_equal(fw_store_add_spans(s, &e, 1), 0);
    q = (fw_span_query){.kind = -1, .errors_only = true};
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 47);

    /* the visitor stops the search */
    int calls = 0;
    q = (fw_span_query){.kind = -1};
    assert_int_equal(fw_store_find_spans(s, &q, stop_after_one, &calls), 1);
    assert_int_equal(calls, 1);
    fw_store_free(s);
}

/* A full dictionary: strings are stored inline, and search by them still
 * works (string comparison instead of ids). */
static void test_dictionary_full(void **state)
{
    (void)state;
    fw_intern *tiny = NULL;
    assert_int_equal(fw_intern_new(100, &tiny), 0); /* refuses everything */
    fw_store_config cfg = {.intern = tiny, .partitions = 2};
    fw_store *s = NULL;
    assert_int_equal(fw_store_new(&cfg, &s), 0);
    search_fixture(s);
    fw_span_query q = {.kind = -1, .service = "frontend", .operation = "GET /a"};
    search_seen ss = {0};
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 34);
    assert_string_equal(ss.names[0], "GET /a");
    assert_newest_first(&ss);
    q = (fw_span_query){.kind = -1, .errors_only = true};
    assert_int_equal(fw_store_find_spans(s, &q, collect_search, &ss), 46);
    fw_intern_stats is;
    fw_intern_get_stats(tiny, &is);
    assert_int_equal(is.strings, 0);
    fw_store_free(s);
    fw_intern_free(tiny);
}

/* Memory pressure in one partition leaves the others alone. */
static void test_partition_independence(void **state)
{
    (void)state;
    fw_store *s = new_store(0, 0, 4u * 96u * 1024u, 4);
    for (unsigned t = 0; t < 24; t++) {
        fw_span sp = plain_span(t, 1, "quiet", t);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    /* One hot trace: far more than its partition's budget. */
    char name[64];
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "hot-span-with-a-longish-name-%u", i);
        fw_span sp = plain_span(777, i + 1, name, 100 + i);
        assert_int_equal(fw_store_add_spans(s, &sp, 1), 0);
    }
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_true(st.spans_evicted > 0);
    size_t intact = 0;
    for (unsigned t = 0; t < 24; t++)
        intact += trace_count(s, t);
    /* Only quiet traces that share the hot partition may be gone. */
    assert_true(intact >= 12); /* 24 traces over 4 partitions: ~18 elsewhere */
    assert_true(intact < 24 || st.spans_evicted > 0);
    assert_true(trace_count(s, 777) > 0);
    fw_store_free(s);
}

/* ---- logs ---- */

static fw_resource res_a = {.service_name = {"alpha", 5}};
static fw_resource res_b = {.service_name = {"beta", 4}};

static fw_log_record mk_log(unsigned trace, uint64_t t, uint64_t observed, fw_resource *res,
                            const char *body)
{
    fw_log_record r = {0};
    r.time_ns = t;
    r.observed_time_ns = observed;
    if (trace) {
        make_id(r.trace_id, FW_TRACE_ID_LEN, trace);
        r.has_trace_id = true;
    }
    r.body = (fw_value){.type = FW_VALUE_STRING, .u.str = fw_str_from(body)};
    r.resource = res;
    r.scope = &plain_scope;
    return r;
}

typedef struct log_seen {
    size_t n;
    char bodies[32][16];
} log_seen;

static int collect_log(void *ctx, const fw_log_record *r)
{
    log_seen *ls = ctx;
    if (ls->n < 32) {
        size_t len = r->body.u.str.len < 15 ? r->body.u.str.len : 15;
        memcpy(ls->bodies[ls->n], r->body.u.str.ptr, len);
        ls->bodies[ls->n][len] = '\0';
    }
    ls->n++;
    return 0;
}

static void test_logs_query(void **state)
{
    (void)state;
    fw_store *s = new_store(100, 100, 0, 4);
    fw_log_record recs[7] = {
        mk_log(1, 100, 0, &res_a, "a100"),   mk_log(1, 300, 0, &res_b, "b300"),
        mk_log(2, 200, 0, &res_a, "a200-t2"), mk_log(0, 250, 0, &res_a, "a250-none"),
        mk_log(1, 0, 150, &res_a, "a150-obs"), mk_log(1, 300, 0, &res_a, "a300"),
        mk_log(0, 0, 0, &res_b, "notime"),
    };
    assert_int_equal(fw_store_add_logs(s, recs, 7), 0);

    /* Everything, newest first (ties: later arrival first; no time sorts last). */
    fw_log_query q = {0};
    log_seen ls = {0};
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 7);
    assert_string_equal(ls.bodies[0], "a300");
    assert_string_equal(ls.bodies[1], "b300");
    assert_string_equal(ls.bodies[2], "a250-none");
    assert_string_equal(ls.bodies[3], "a200-t2");
    assert_string_equal(ls.bodies[4], "a150-obs");
    assert_string_equal(ls.bodies[5], "a100");
    assert_string_equal(ls.bodies[6], "notime");

    /* By trace id. */
    q.has_trace_id = true;
    make_id(q.trace_id, FW_TRACE_ID_LEN, 1);
    memset(&ls, 0, sizeof(ls));
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 4);
    assert_string_equal(ls.bodies[0], "a300");
    assert_string_equal(ls.bodies[3], "a100");

    /* Trace id + service + time range (inclusive, observed time as fallback). */
    q.service = "alpha";
    q.from_ns = 150;
    q.to_ns = 300;
    memset(&ls, 0, sizeof(ls));
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 2);
    assert_string_equal(ls.bodies[0], "a300");
    assert_string_equal(ls.bodies[1], "a150-obs");

    /* Limit keeps the newest. */
    q = (fw_log_query){.limit = 2};
    memset(&ls, 0, sizeof(ls));
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 2);
    assert_string_equal(ls.bodies[0], "a300");
    assert_string_equal(ls.bodies[1], "b300");

    /* Service only, across partitions. */
    q = (fw_log_query){.service = "beta"};
    memset(&ls, 0, sizeof(ls));
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 2);
    assert_string_equal(ls.bodies[0], "b300");
    assert_string_equal(ls.bodies[1], "notime");

    /* Unknown trace id, and a service that does not exist. */
    q = (fw_log_query){.has_trace_id = true};
    make_id(q.trace_id, FW_TRACE_ID_LEN, 77);
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 0);
    q = (fw_log_query){.service = "alph"};
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 0);

    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.logs_held, 7);
    assert_int_equal(st.logs_stored, 7);
    fw_store_free(s);
}

static void test_logs_evict_by_count(void **state)
{
    (void)state;
    fw_store *s = new_store(10, 3, 0, 1);
    char bodies[6][8];
    for (int i = 0; i < 6; i++) {
        bodies[i][0] = (char)('a' + i);
        bodies[i][1] = '\0';
        fw_log_record r = mk_log(1, (uint64_t)(i + 1), 0, &res_a, bodies[i]);
        assert_int_equal(fw_store_add_logs(s, &r, 1), 0);
    }
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.logs_held, 3);
    assert_int_equal(st.logs_evicted, 3);
    fw_log_query q = {.has_trace_id = true};
    make_id(q.trace_id, FW_TRACE_ID_LEN, 1);
    log_seen ls = {0};
    assert_int_equal(fw_store_find_logs(s, &q, collect_log, &ls), 3);
    assert_string_equal(ls.bodies[0], "f");
    assert_string_equal(ls.bodies[2], "d");
    fw_store_free(s);
}

/* ---- concurrency smoke test ---- */

typedef struct adder {
    fw_store *s;
    unsigned base;
} adder;

static void *add_thread(void *arg)
{
    adder *a = arg;
    for (unsigned b = 0; b < 200; b++) {
        fw_span batch[10];
        for (unsigned i = 0; i < 10; i++)
            batch[i] = plain_span(a->base + b * 10 + i, i + 1, "t", b);
        if (fw_store_add_spans(a->s, batch, 10) != 0)
            return (void *)1;
        fw_log_record lr = mk_log(a->base + b * 10, b + 1, 0, &res_a, "l");
        if (fw_store_add_logs(a->s, &lr, 1) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_add(void **state)
{
    (void)state;
    fw_store *s = new_store(100000, 100000, 0, 4);
    adder a1 = {s, 1000000}, a2 = {s, 2000000};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, add_thread, &a1), 0);
    assert_int_equal(pthread_create(&t2, NULL, add_thread, &a2), 0);
    void *r1, *r2;
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_null(r1);
    assert_null(r2);
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    assert_int_equal(st.spans_held, 4000);
    assert_int_equal(st.logs_held, 400);
    for (unsigned i = 0; i < 2000; i += 37) {
        assert_int_equal(trace_count(s, 1000000 + i), 1);
        assert_int_equal(trace_count(s, 2000000 + i), 1);
    }
    fw_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_copy_every_kind),
        cmocka_unit_test(test_trace_arrival_order),
        cmocka_unit_test(test_visitor_stops),
        cmocka_unit_test(test_evict_by_count),
        cmocka_unit_test(test_evict_by_memory),
        cmocka_unit_test(test_evict_model),
        cmocka_unit_test(test_index_churn),
        cmocka_unit_test(test_partitions),
        cmocka_unit_test(test_record_edges),
        cmocka_unit_test(test_hostile_spans),
        cmocka_unit_test(test_trace_across_blocks),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_expire_middle_block),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_dictionary_full),
        cmocka_unit_test(test_partition_independence),
        cmocka_unit_test(test_logs_query),
        cmocka_unit_test(test_logs_evict_by_count),
        cmocka_unit_test(test_concurrent_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
