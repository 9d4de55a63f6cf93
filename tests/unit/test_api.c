/* test_api.c - the API handler called directly with request structs:
 * health/readiness, routing errors, a trace by id (found, not found, bad
 * id, sorted, every field, truncation), log search with filters and
 * limits, and the /metrics text; then, on a real fw_intern + fw_red +
 * fw_topo + fw_store fed with known traffic and a pinned clock, the
 * services, topology, operations, RED series and trace search endpoints
 * (exact counts, percentiles within the histogram's bound, filters, bad
 * parameters, empty answers) and the RED/topology families of /metrics.
 * Responses are parsed with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include <math.h>
#include <stdlib.h>

#include "flywheel/api.h"
#include "flywheel/hist.h"
#include "flywheel/intern.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/topo.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC) /* 2023-11-14T22:13:20Z */

typedef struct fixture {
    fw_store *store;
    fw_stats stats;
    fw_api *api;
    fw_http_handler h;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    fw_store_config sc = {.max_spans = 1000, .max_logs = 1000, .partitions = 4};
    assert_int_equal(fw_store_new(&sc, &f.store), 0);
    fw_stats_init(&f.stats);
    assert_int_equal(fw_api_new(NULL, f.store, &f.stats, &f.api), 0);
    f.h = fw_api_handler(f.api);
    assert_non_null(f.h.handle);
    assert_true(f.h.max_body > 0);
    assert_true(f.h.max_resp_body > 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fw_api_free(f->api);
    fw_store_free(f->store);
    return 0;
}

/* Calls the handler like a core would; |resp| must be freed by the caller. */
static void call_max(fixture *f, fw_http_method m, const char *path, const char *query,
                     size_t max, fw_http_response *resp)
{
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from(path);
    req.query = query ? fw_str_from(query) : (fw_str){"", 0};
    req.http_major = 1;
    fw_http_response_init(resp, max);
    f->h.handle(f->h.ctx, &req, resp);
    assert_true(resp->body.len <= max);
}

static void call(fixture *f, fw_http_method m, const char *path, const char *query,
                 fw_http_response *resp)
{
    call_max(f, m, path, query, f->h.max_resp_body, resp);
}

static json_t *parse(const fw_http_response *resp)
{
    assert_non_null(resp->content_type);
    assert_string_equal(resp->content_type, "application/json");
    json_error_t err;
    json_t *j = json_loadb((const char *)resp->body.data, resp->body.len, 0, &err);
    if (!j)
        fail_msg("bad JSON (%s): %.*s", err.text, (int)resp->body.len, (const char *)resp->body.data);
    return j;
}

static json_t *get_json(fixture *f, const char *path, const char *query, int want_status)
{
    fw_http_response resp;
    call(f, FW_HTTP_GET, path, query, &resp);
    if (resp.status != want_status)
        fail_msg("%s?%s: status %d, want %d: %.*s", path, query ? query : "", resp.status,
                 want_status, (int)resp.body.len, (const char *)resp.body.data);
    json_t *j = parse(&resp);
    fw_http_response_free(&resp);
    return j;
}

static void assert_error_mentions(fixture *f, const char *path, const char *query, int status,
                                  const char *needle)
{
    json_t *j = get_json(f, path, query, status);
    const char *msg = json_string_value(json_object_get(j, "error"));
    assert_non_null(msg);
    if (!strstr(msg, needle))
        fail_msg("error '%s' does not mention '%s'", msg, needle);
    json_decref(j);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("field %s is not a string", key);
    return s;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", key);
    return json_integer_value(v);
}

/* ---- health, readiness, routing ---- */

static void test_healthz_readyz(void **state)
{
    fixture *f = *state;
    json_t *j = get_json(f, "/healthz", NULL, 200);
    assert_string_equal(jstr(j, "status"), "ok");
    json_decref(j);

    fw_http_response resp;
    call(f, FW_HTTP_HEAD, "/healthz", NULL, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);

    j = get_json(f, "/readyz", NULL, 503);
    assert_string_equal(jstr(j, "status"), "starting");
    json_decref(j);
    fw_api_set_ready(f->api, true);
    j = get_json(f, "/readyz", NULL, 200);
    assert_string_equal(jstr(j, "status"), "ok");
    json_decref(j);
    fw_api_set_ready(f->api, false);
    j = get_json(f, "/readyz", NULL, 503);
    json_decref(j);
}

static void test_routing_errors(void **state)
{
    fixture *f = *state;
    assert_error_mentions(f, "/nope", NULL, 404, "not found");
    assert_error_mentions(f, "/api/v1/traces/5b8efff798038103d269b633813fc60c/x", NULL, 404,
                          "not found");

    fw_http_response resp;
    call(f, FW_HTTP_POST, "/healthz", NULL, &resp);
    assert_int_equal(resp.status, 405);
    assert_int_equal(resp.n_headers, 1);
    assert_string_equal(resp.headers[0].name, "allow");
    assert_string_equal(resp.headers[0].value, "GET, HEAD");
    json_t *j = parse(&resp);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    json_decref(j);
    fw_http_response_free(&resp);

    call(f, FW_HTTP_DELETE, "/api/v1/logs", NULL, &resp);
    assert_int_equal(resp.status, 405);
    fw_http_response_free(&resp);
}

/* ---- traces ---- */

static fw_attr res_attrs[] = {
    {{"service.name", 12}, {.type = FW_VALUE_STRING, .u.str = {"frontend", 8}}},
};
static fw_resource res_front = {.attrs = {res_attrs, 1},
                                .service_name = {"frontend", 8},
                                .schema_url = {"https://s", 9}};
static fw_resource res_back = {.service_name = {"backend", 7}};
static fw_attr scope_attrs[] = {{{"lib.attr", 8}, {.type = FW_VALUE_BOOL, .u.boolean = true}}};
static fw_scope scope_lib = {.name = {"my.lib", 6}, .version = {"1.0", 3},
                             .attrs = {scope_attrs, 1}};

static const char TRACE_HEX[] = "5b8efff798038103d269b633813fc60c";

static fw_span mk_span(uint8_t span_byte, const char *name, uint64_t start, uint64_t dur)
{
    fw_span s = {0};
    assert_int_equal(fw_hex_decode(TRACE_HEX, 32, s.trace_id, FW_TRACE_ID_LEN), 0);
    s.span_id[7] = span_byte;
    s.name = fw_str_from(name);
    s.start_ns = start;
    s.end_ns = start + dur;
    s.kind = FW_SPAN_KIND_INTERNAL;
    s.resource = &res_front;
    s.scope = &scope_lib;
    return s;
}

static void add_trace(fixture *f)
{
    static fw_value arr_items[] = {{.type = FW_VALUE_INT, .u.i64 = 1},
                                   {.type = FW_VALUE_STRING, .u.str = {"x", 1}}};
    static fw_attr attrs[5];
    attrs[0] = (fw_attr){{"http.route", 10}, {.type = FW_VALUE_STRING, .u.str = {"/u/:id", 6}}};
    attrs[1] = (fw_attr){{"http.response.status_code", 25}, {.type = FW_VALUE_INT, .u.i64 = 503}};
    attrs[2] = (fw_attr){{"ratio", 5}, {.type = FW_VALUE_DOUBLE, .u.f64 = 0.25}};
    attrs[3] = (fw_attr){{"ok", 2}, {.type = FW_VALUE_BOOL, .u.boolean = false}};
    attrs[4].key = (fw_str){"list", 4};
    attrs[4].value.type = FW_VALUE_ARRAY;
    attrs[4].value.u.array.items = arr_items;
    attrs[4].value.u.array.n = 2;
    static fw_attr ev_attrs[] = {
        {{"exception.type", 14}, {.type = FW_VALUE_STRING, .u.str = {"Boom", 4}}}};
    static fw_span_event ev = {.time_ns = T0 + 1500000, .name = {"exception", 9},
                               .attrs = {ev_attrs, 1}, .dropped_attributes_count = 2};
    static fw_span_link link = {.trace_state = {"a=b", 3}, .flags = 1};
    memset(link.trace_id, 0xab, FW_TRACE_ID_LEN);
    memset(link.span_id, 0xcd, FW_SPAN_ID_LEN);

    /* Arrival order differs from start order. */
    fw_span spans[3];
    spans[0] = mk_span(2, "child", T0 + 1000000, 500000);
    spans[0].has_parent = true;
    spans[0].parent_span_id[7] = 1;
    spans[0].kind = FW_SPAN_KIND_CLIENT;
    spans[0].resource = &res_back;
    spans[1] = mk_span(1, "GET /u/:id", T0, 1500000);
    spans[1].kind = FW_SPAN_KIND_SERVER;
    spans[1].status_code = FW_STATUS_ERROR;
    spans[1].status_message = (fw_str){"bad \"gateway\"", 13};
    spans[1].attrs = (fw_attrs){attrs, 5};
    spans[1].events = &ev;
    spans[1].n_events = 1;
    spans[1].links = &link;
    spans[1].n_links = 1;
    spans[1].trace_state = (fw_str){"ot=th:0", 7};
    spans[1].flags = 1;
    spans[1].dropped_events_count = 4;
    spans[2] = mk_span(3, "late", T0 + 1000000, 1);
    assert_int_equal(fw_store_add_spans(f->store, spans, 3), 0);
}

static void test_trace_found(void **state)
{
    fixture *f = *state;
    add_trace(f);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/traces/%s", TRACE_HEX);
    json_t *j = get_json(f, path, NULL, 200);
    assert_string_equal(jstr(j, "trace_id"), TRACE_HEX);
    assert_true(json_is_false(json_object_get(j, "truncated")));
    json_t *spans = json_object_get(j, "spans");
    assert_int_equal(json_array_size(spans), 3);
    /* Sorted by start; the tie keeps arrival order. */
    assert_string_equal(jstr(json_array_get(spans, 0), "name"), "GET /u/:id");
    assert_string_equal(jstr(json_array_get(spans, 1), "name"), "child");
    assert_string_equal(jstr(json_array_get(spans, 2), "name"), "late");

    json_t *root = json_array_get(spans, 0);
    assert_string_equal(jstr(root, "trace_id"), TRACE_HEX);
    assert_string_equal(jstr(root, "span_id"), "0000000000000001");
    assert_true(json_is_null(json_object_get(root, "parent_span_id")));
    assert_string_equal(jstr(root, "trace_state"), "ot=th:0");
    assert_int_equal(jint(root, "flags"), 1);
    assert_string_equal(jstr(root, "kind"), "server");
    assert_string_equal(jstr(root, "start_time"), "2023-11-14T22:13:20.000000000Z");
    assert_string_equal(jstr(root, "start_time_unix_nano"), "1700000000000000000");
    assert_string_equal(jstr(root, "end_time"), "2023-11-14T22:13:20.001500000Z");
    assert_string_equal(jstr(root, "end_time_unix_nano"), "1700000000001500000");
    assert_true(json_real_value(json_object_get(root, "duration_ms")) == 1.5);
    assert_string_equal(jstr(root, "service"), "frontend");
    json_t *status = json_object_get(root, "status");
    assert_string_equal(jstr(status, "code"), "error");
    assert_string_equal(jstr(status, "message"), "bad \"gateway\"");

    json_t *attrs = json_object_get(root, "attributes");
    assert_string_equal(jstr(attrs, "http.route"), "/u/:id");
    assert_int_equal(jint(attrs, "http.response.status_code"), 503);
    assert_true(json_real_value(json_object_get(attrs, "ratio")) == 0.25);
    assert_true(json_is_false(json_object_get(attrs, "ok")));
    json_t *list = json_object_get(attrs, "list");
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_array_get(list, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(list, 1)), "x");
    assert_int_equal(jint(root, "dropped_attributes_count"), 0);

    json_t *events = json_object_get(root, "events");
    assert_int_equal(json_array_size(events), 1);
    json_t *ev = json_array_get(events, 0);
    assert_string_equal(jstr(ev, "name"), "exception");
    assert_string_equal(jstr(ev, "time"), "2023-11-14T22:13:20.001500000Z");
    assert_string_equal(jstr(ev, "time_unix_nano"), "1700000000001500000");
    assert_string_equal(jstr(json_object_get(ev, "attributes"), "exception.type"), "Boom");
    assert_int_equal(jint(ev, "dropped_attributes_count"), 2);
    assert_int_equal(jint(root, "dropped_events_count"), 4);

    json_t *links = json_object_get(root, "links");
    assert_int_equal(json_array_size(links), 1);
    json_t *ln = json_array_get(links, 0);
    assert_string_equal(jstr(ln, "trace_id"), "abababababababababababababababab");
    assert_string_equal(jstr(ln, "span_id"), "cdcdcdcdcdcdcdcd");
    assert_string_equal(jstr(ln, "trace_state"), "a=b");
    assert_int_equal(jint(ln, "flags"), 1);
    assert_true(json_is_object(json_object_get(ln, "attributes")));
    assert_int_equal(jint(root, "dropped_links_count"), 0);

    json_t *res = json_object_get(root, "resource");
    assert_string_equal(jstr(json_object_get(res, "attributes"), "service.name"), "frontend");
    assert_string_equal(jstr(res, "schema_url"), "https://s");
    assert_int_equal(jint(res, "dropped_attributes_count"), 0);
    json_t *scope = json_object_get(root, "scope");
    assert_string_equal(jstr(scope, "name"), "my.lib");
    assert_string_equal(jstr(scope, "version"), "1.0");
    assert_true(json_is_true(json_object_get(json_object_get(scope, "attributes"), "lib.attr")));

    json_t *child = json_array_get(spans, 1);
    assert_string_equal(jstr(child, "parent_span_id"), "0000000000000001");
    assert_string_equal(jstr(child, "kind"), "client");
    assert_string_equal(jstr(child, "service"), "backend");
    assert_string_equal(jstr(json_object_get(child, "status"), "code"), "unset");
    assert_true(json_real_value(json_object_get(child, "duration_ms")) == 0.5);
    assert_string_equal(jstr(json_array_get(spans, 2), "kind"), "internal");
    /* 1 ns renders exactly. */
    assert_true(json_real_value(json_object_get(json_array_get(spans, 2), "duration_ms")) ==
                0.000001);
    json_decref(j);

    /* Upper-case ids are accepted; the answer is lower-case. */
    snprintf(path, sizeof(path), "/api/v1/traces/%s", "5B8EFFF798038103D269B633813FC60C");
    j = get_json(f, path, NULL, 200);
    assert_string_equal(jstr(j, "trace_id"), TRACE_HEX);
    assert_int_equal(json_array_size(json_object_get(j, "spans")), 3);
    json_decref(j);
}

static void test_trace_not_found_and_bad_id(void **state)
{
    fixture *f = *state;
    assert_error_mentions(f, "/api/v1/traces/00000000000000000000000000000001", NULL, 404,
                          "trace not found");
    assert_error_mentions(f, "/api/v1/traces/xyz", NULL, 400, "trace_id: must be 32 hex digits");
    assert_error_mentions(f, "/api/v1/traces/5b8efff798038103d269b633813fc60", NULL, 400,
                          "trace_id");
    assert_error_mentions(f, "/api/v1/traces/5b8efff798038103d269b633813fc60cc", NULL, 400,
                          "trace_id");
    assert_error_mentions(f, "/api/v1/traces/5b8efff798038103d269b633813fc6zz", NULL, 400,
                          "trace_id");
    assert_error_mentions(f, "/api/v1/traces/", NULL, 400, "trace_id");
}

static void test_trace_truncated(void **state)
{
    fixture *f = *state;
    fw_span spans[20];
    for (uint8_t i = 0; i < 20; i++) {
        spans[i] = mk_span((uint8_t)(100 + i), "bulk", T0 + (uint64_t)(20 - i) * SEC, 10);
        spans[i].trace_id[0] = 0x77;
    }
    assert_int_equal(fw_store_add_spans(f->store, spans, 20), 0);
    char hex[33];
    fw_hex_encode(spans[0].trace_id, FW_TRACE_ID_LEN, hex);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/traces/%s", hex);

    fw_http_response resp;
    call_max(f, FW_HTTP_GET, path, NULL, 4096, &resp);
    assert_int_equal(resp.status, 200);
    json_t *j = parse(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    size_t n = json_array_size(json_object_get(j, "spans"));
    assert_true(n >= 1 && n < 20);
    /* What is kept is still sorted. */
    json_t *spans_j = json_object_get(j, "spans");
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(jstr(json_array_get(spans_j, i - 1), "start_time_unix_nano"),
                           jstr(json_array_get(spans_j, i), "start_time_unix_nano")) < 0);
    json_decref(j);
    fw_http_response_free(&resp);

    call(f, FW_HTTP_GET, path, NULL, &resp);
    j = parse(&resp);
    assert_true(json_is_false(json_object_get(j, "truncated")));
    assert_int_equal(json_array_size(json_object_get(j, "spans")), 20);
    json_decref(j);
    fw_http_response_free(&resp);
}

/* ---- logs ---- */

static void add_logs(fixture *f)
{
    static fw_attr kv[] = {{{"k", 1}, {.type = FW_VALUE_INT, .u.i64 = 9}}};
    fw_log_record recs[5];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 5; i++) {
        recs[i].resource = &res_front;
        recs[i].scope = &scope_lib;
        recs[i].severity_number = 9;
        recs[i].severity_text = (fw_str){"INFO", 4};
        assert_int_equal(fw_hex_decode(TRACE_HEX, 32, recs[i].trace_id, FW_TRACE_ID_LEN), 0);
        recs[i].has_trace_id = true;
        recs[i].span_id[7] = 1;
        recs[i].has_span_id = true;
        recs[i].time_ns = T0 + (uint64_t)i * SEC;
        recs[i].observed_time_ns = T0 + (uint64_t)i * SEC + 5;
        recs[i].body = (fw_value){.type = FW_VALUE_STRING, .u.str = {"hello", 5}};
    }
    recs[2].body.type = FW_VALUE_KVLIST;
    recs[2].body.u.kvlist.items = kv;
    recs[2].body.u.kvlist.n = 1;
    recs[3].resource = &res_back;            /* other service */
    recs[4].has_trace_id = false;            /* no trace */
    memset(recs[4].trace_id, 0, FW_TRACE_ID_LEN);
    recs[4].has_span_id = false;
    recs[4].time_ns = 0;                     /* observed time only */
    recs[4].event_name = (fw_str){"evt", 3};
    assert_int_equal(fw_store_add_logs(f->store, recs, 5), 0);
}

static void test_logs_query(void **state)
{
    fixture *f = *state;
    add_logs(f);
    char q[256];
    snprintf(q, sizeof(q), "trace_id=%s", TRACE_HEX);
    json_t *j = get_json(f, "/api/v1/logs", q, 200);
    json_t *logs = json_object_get(j, "logs");
    assert_int_equal(json_array_size(logs), 4);
    assert_true(json_is_false(json_object_get(j, "truncated")));
    /* Newest first. */
    assert_string_equal(jstr(json_array_get(logs, 0), "time_unix_nano"), "1700000003000000000");
    assert_string_equal(jstr(json_array_get(logs, 3), "time_unix_nano"), "1700000000000000000");
    json_t *l0 = json_array_get(logs, 3);
    assert_string_equal(jstr(l0, "time"), "2023-11-14T22:13:20.000000000Z");
    assert_string_equal(jstr(l0, "observed_time"), "2023-11-14T22:13:20.000000005Z");
    assert_string_equal(jstr(l0, "observed_time_unix_nano"), "1700000000000000005");
    assert_int_equal(jint(l0, "severity_number"), 9);
    assert_string_equal(jstr(l0, "severity_text"), "INFO");
    assert_string_equal(jstr(l0, "body"), "hello");
    assert_true(json_is_object(json_object_get(l0, "attributes")));
    assert_int_equal(jint(l0, "dropped_attributes_count"), 0);
    assert_string_equal(jstr(l0, "trace_id"), TRACE_HEX);
    assert_string_equal(jstr(l0, "span_id"), "0000000000000001");
    assert_int_equal(jint(l0, "flags"), 0);
    assert_string_equal(jstr(l0, "event_name"), "");
    assert_string_equal(jstr(l0, "service"), "frontend");
    assert_string_equal(
        jstr(json_object_get(json_object_get(l0, "resource"), "attributes"), "service.name"),
        "frontend");
    assert_string_equal(jstr(json_object_get(l0, "scope"), "name"), "my.lib");
    assert_string_equal(jstr(json_object_get(l0, "scope"), "version"), "1.0");
    json_t *kvbody = json_object_get(json_array_get(logs, 1), "body");
    assert_int_equal(jint(kvbody, "k"), 9);
    json_decref(j);

    /* Time range: RFC 3339 with Z, with an offset and a fraction, and nanoseconds. */
    snprintf(q, sizeof(q), "trace_id=%s&from=2023-11-14T22:13:21Z&to=%s", TRACE_HEX,
             "2023-11-14T23:13:22.000000000%2B01:00");
    j = get_json(f, "/api/v1/logs", q, 200);
    logs = json_object_get(j, "logs");
    assert_int_equal(json_array_size(logs), 2);
    assert_string_equal(jstr(json_array_get(logs, 0), "time_unix_nano"), "1700000002000000000");
    assert_string_equal(jstr(json_array_get(logs, 1), "time_unix_nano"), "1700000001000000000");
    json_decref(j);
    snprintf(q, sizeof(q), "trace_id=%s&from=1700000000500000000&to=1700000001.5", TRACE_HEX);
    assert_error_mentions(f, "/api/v1/logs", q, 400, "to:");
    snprintf(q, sizeof(q), "trace_id=%s&from=1700000000500000000", TRACE_HEX);
    j = get_json(f, "/api/v1/logs", q, 200);
    assert_int_equal(json_array_size(json_object_get(j, "logs")), 3);
    json_decref(j);
    snprintf(q, sizeof(q), "from=2023-11-14t22:13:22.5-00:30");
    j = get_json(f, "/api/v1/logs", q, 200);
    assert_int_equal(json_array_size(json_object_get(j, "logs")), 0);
    json_decref(j);

    /* Limit and service. */
    snprintf(q, sizeof(q), "trace_id=%s&limit=1", TRACE_HEX);
    j = get_json(f, "/api/v1/logs", q, 200);
    logs = json_object_get(j, "logs");
    assert_int_equal(json_array_size(logs), 1);
    assert_string_equal(jstr(json_array_get(logs, 0), "service"), "backend");
    json_decref(j);
    j = get_json(f, "/api/v1/logs", "service=backend", 200);
    assert_int_equal(json_array_size(json_object_get(j, "logs")), 1);
    json_decref(j);

    /* Without filters: the record with no trace id and no event time too. */
    j = get_json(f, "/api/v1/logs", NULL, 200);
    logs = json_object_get(j, "logs");
    assert_int_equal(json_array_size(logs), 5);
    json_t *notrace = json_array_get(logs, 0); /* observed T0+4s+5 is newest */
    assert_true(json_is_null(json_object_get(notrace, "trace_id")));
    assert_true(json_is_null(json_object_get(notrace, "span_id")));
    assert_true(json_is_null(json_object_get(notrace, "time")));
    assert_string_equal(jstr(notrace, "time_unix_nano"), "0");
    assert_string_equal(jstr(notrace, "event_name"), "evt");
    json_decref(j);
}

static void test_logs_bad_params(void **state)
{
    fixture *f = *state;
    assert_error_mentions(f, "/api/v1/logs", "trace_id=zz", 400, "trace_id: must be 32 hex digits");
    assert_error_mentions(f, "/api/v1/logs", "limit=0", 400, "limit");
    assert_error_mentions(f, "/api/v1/logs", "limit=10001", 400, "limit");
    assert_error_mentions(f, "/api/v1/logs", "limit=-1", 400, "limit");
    assert_error_mentions(f, "/api/v1/logs", "limit=abc", 400, "limit");
    assert_error_mentions(f, "/api/v1/logs", "from=yesterday", 400, "from");
    assert_error_mentions(f, "/api/v1/logs", "from=2023-02-29T00:00:00Z", 400, "from");
    assert_error_mentions(f, "/api/v1/logs", "from=2023-11-14T22:13:20", 400, "from");
    assert_error_mentions(f, "/api/v1/logs", "from=99999999999999999999999", 400, "from");
    assert_error_mentions(f, "/api/v1/logs", "to=1969-12-31T23:59:59Z", 400, "to");
    assert_error_mentions(f, "/api/v1/logs", "from=2000&to=1000", 400, "from");
    /* An empty value is the same as absent. */
    json_t *j = get_json(f, "/api/v1/logs", "trace_id=&limit=", 200);
    json_decref(j);
}

static void test_logs_truncated(void **state)
{
    fixture *f = *state;
    add_logs(f);
    fw_http_response resp;
    call_max(f, FW_HTTP_GET, "/api/v1/logs", NULL, 900, &resp);
    assert_int_equal(resp.status, 200);
    json_t *j = parse(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    size_t n = json_array_size(json_object_get(j, "logs"));
    assert_true(n >= 1 && n < 5);
    json_decref(j);
    fw_http_response_free(&resp);
}

/* ---- metrics ---- */

static void test_metrics(void **state)
{
    fixture *f = *state;
    add_logs(f);
    fw_stats_add(&f->stats.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC], 3);
    fw_http_response resp;
    call(f, FW_HTTP_GET, "/metrics", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.content_type);
    assert_true(strncmp(resp.content_type, "text/plain; version=0.0.4", 25) == 0);
    assert_int_equal(fw_buf_append(&resp.body, "", 1), 0);
    const char *t = (const char *)resp.body.data;
    assert_non_null(strstr(t, "\nflywheel_spans_accepted_total{protocol=\"grpc\"} 3\n"));
    assert_non_null(strstr(t, "# TYPE flywheel_log_records_rejected_total counter\n"));
    assert_non_null(strstr(t, "\nflywheel_store_spans 3\n"));
    assert_non_null(strstr(t, "\nflywheel_store_log_records 5\n"));
    assert_non_null(strstr(t, "# TYPE flywheel_memory_used_bytes gauge\n"));
    assert_non_null(strstr(t, "\nflywheel_evicted_spans_total 0\n"));
    assert_non_null(strstr(t, "\nflywheel_evicted_log_records_total 0\n"));
    assert_null(strstr(t, "flywheel_connections_active")); /* no server given */
    const char *mem = strstr(t, "\nflywheel_memory_used_bytes ");
    assert_non_null(mem);
    assert_true(mem[28] >= '1' && mem[28] <= '9');
    fw_http_response_free(&resp);
}

/* ---- analytics: services, topology, operations, RED, trace search ---- */

#define MS 1000000ull
#define NOW (T0 + 3600ull * SEC) /* the pinned wall clock */
#define F_FAULT 1
#define F_CLIENT 2
#define F_THROTTLED 4

typedef struct afixture {
    fixture f; /* first: the helpers above take it */
    fw_intern *intern;
    fw_red *red;
    fw_topo *topo;
} afixture;

static uint64_t pinned_clock(void *ctx)
{
    (void)ctx;
    return NOW;
}

static void obs(afixture *af, fw_red_series_kind kind, fw_span_kind span_kind, const char *a,
                const char *b, uint64_t t, uint64_t dur_us, double weight, int flags,
                uint8_t trace)
{
    fw_red_obs o;
    memset(&o, 0, sizeof(o));
    o.key.kind = (uint8_t)kind;
    o.key.span_kind = (uint8_t)(kind == FW_RED_OPERATION ? span_kind : 0);
    o.key.a = fw_intern_id(af->intern, fw_str_from(a));
    o.key.b = b ? fw_intern_id(af->intern, fw_str_from(b)) : 0;
    o.time_ns = t;
    o.duration_us = dur_us;
    o.weight = weight;
    o.fault = flags & F_FAULT;
    o.client_error = flags & F_CLIENT;
    o.throttled = flags & F_THROTTLED;
    o.trace_id[0] = trace;
    o.trace_id[15] = 1;
    fw_red_observe(af->red, trace, &o, 1);
}

static const fw_scope scope_none;
static const fw_resource res_fe = {.service_name = {"frontend", 8},
                                   .service_namespace = {"shop", 4},
                                   .environment = {"prod", 4}};
static const fw_resource res_be = {.service_name = {"backend", 7},
                                   .service_namespace = {"shop", 4},
                                   .environment = {"prod", 4}};
static const fw_resource res_other = {.service_name = {"other", 5},
                                      .service_namespace = {"ops", 3},
                                      .environment = {"staging", 7}};

typedef struct tspan {
    fw_span span;
    fw_attr attrs[2];
} tspan;

static fw_span *mk_tspan(tspan *t, const fw_resource *res, fw_span_kind kind, uint8_t trace,
                         uint8_t id, uint8_t parent, uint64_t start, uint64_t dur_ns,
                         const char *name)
{
    memset(t, 0, sizeof(*t));
    fw_span *s = &t->span;
    s->trace_id[0] = trace;
    s->trace_id[15] = 2;
    s->span_id[0] = id;
    s->span_id[7] = 9;
    if (parent) {
        s->parent_span_id[0] = parent;
        s->parent_span_id[7] = 9;
        s->has_parent = true;
    }
    s->kind = kind;
    s->name = fw_str_from(name);
    s->start_ns = start;
    s->end_ns = start + dur_ns;
    s->attrs.items = t->attrs;
    s->resource = res;
    s->scope = &scope_none;
    return s;
}

static void tattr(tspan *t, const char *k, const char *v)
{
    t->attrs[t->span.attrs.n++] =
        (fw_attr){fw_str_from(k), {.type = FW_VALUE_STRING, .u.str = fw_str_from(v)}};
}

static void topo_send(afixture *af, const fw_span *s)
{
    fw_span_class cl;
    double w = 1.0;
    fw_semconv_span_classify(s, NULL, &cl);
    fw_topo_observe(af->topo, s->trace_id[0] % 4u, s, &cl, &w, 1, NOW);
}

static void store_send(afixture *af, const fw_span *s)
{
    fw_span_class cl;
    fw_semconv_span_classify(s, NULL, &cl);
    assert_int_equal(fw_store_add_classified(af->f.store, s, &cl, 1), 0);
}

static void feed_red(afixture *af)
{
    /* frontend: 10 entry spans of 1..10 ms, one per 10 s bucket from
     * NOW - 600 s; faults at 2 and 5, a client error at 7, throttled 9. */
    for (int i = 0; i < 10; i++) {
        uint64_t t = NOW - 600 * SEC + (uint64_t)i * 10 * SEC + SEC;
        int fl = (i == 2 || i == 5) ? F_FAULT : i == 7 ? F_CLIENT : i == 9 ? F_THROTTLED : 0;
        uint64_t dur = (uint64_t)(i + 1) * 1000u;
        obs(af, FW_RED_SERVICE, 0, "frontend", NULL, t, dur, 1.0, fl, (uint8_t)(0x40 + i));
        obs(af, FW_RED_OPERATION, FW_SPAN_KIND_SERVER, "frontend", "GET /home", t, dur, 1.0, fl,
            (uint8_t)(0x40 + i));
    }
    for (int i = 0; i < 3; i++)
        obs(af, FW_RED_OPERATION, FW_SPAN_KIND_CLIENT, "frontend", "GET /home",
            NOW - 600 * SEC + (uint64_t)i * 10 * SEC + SEC, 500, 1.0, 0, 0x50);
    for (int i = 0; i < 5; i++)
        obs(af, FW_RED_OPERATION, FW_SPAN_KIND_INTERNAL, "frontend", "render",
            NOW - 300 * SEC + SEC, 200, 1.0, 0, 0x51);
    /* Outside a 15 min window, inside 1 h. */
    obs(af, FW_RED_SERVICE, 0, "frontend", NULL, NOW - 1800 * SEC + SEC, 50000, 1.0, 0, 0x52);
    /* backend: sampled 1 in 2.5. */
    for (int i = 0; i < 3; i++)
        obs(af, FW_RED_SERVICE, 0, "backend", NULL, NOW - 120 * SEC + SEC, 2000, 2.5,
            i == 0 ? F_FAULT : 0, 0x53);
    obs(af, FW_RED_SERVICE, 0, "my svc", NULL, NOW - 60 * SEC, 100, 1.0, 0, 0x54);
    obs(af, FW_RED_OPERATION, FW_SPAN_KIND_SERVER, "my svc", "op", NOW - 60 * SEC, 100, 1.0, 0,
        0x54);
}

static void feed_topology(afixture *af)
{
    uint64_t t = NOW - 200 * SEC;
    tspan c, srv;
    /* frontend -> backend, three calls, the third failing. */
    for (uint8_t k = 0; k < 3; k++) {
        mk_tspan(&c, &res_fe, FW_SPAN_KIND_CLIENT, (uint8_t)(0x21 + k), 1, 9, t, 30 * MS,
                 "GET backend");
        tattr(&c, "server.address", "backend.shop");
        if (k == 2)
            c.span.status_code = FW_STATUS_ERROR;
        mk_tspan(&srv, &res_be, FW_SPAN_KIND_SERVER, (uint8_t)(0x21 + k), 2, 1, t + 5 * MS,
                 20 * MS, "GET /api");
        topo_send(af, &c.span);
        topo_send(af, &srv.span);
    }
    /* frontend -> postgresql (virtual database), twice. */
    for (uint8_t k = 0; k < 2; k++) {
        mk_tspan(&c, &res_fe, FW_SPAN_KIND_CLIENT, (uint8_t)(0x24 + k), 1, 9, t, 5 * MS,
                 "SELECT");
        tattr(&c, "db.system", "postgresql");
        topo_send(af, &c.span);
    }
    /* other -> redis (virtual cache). */
    mk_tspan(&c, &res_other, FW_SPAN_KIND_CLIENT, 0x26, 1, 9, t, 1 * MS, "GET");
    tattr(&c, "db.system", "redis");
    topo_send(af, &c.span);
    fw_topo_tick(af->topo, NOW + 10 * SEC);
}

static void feed_store(afixture *af)
{
    tspan a, b;
    /* X: frontend root failing, backend child. */
    mk_tspan(&a, &res_fe, FW_SPAN_KIND_SERVER, 0x31, 1, 0, NOW - 100 * SEC, 50 * MS, "GET /x");
    a.span.status_code = FW_STATUS_ERROR;
    mk_tspan(&b, &res_be, FW_SPAN_KIND_SERVER, 0x31, 2, 1, NOW - 100 * SEC + 10 * MS, 20 * MS,
             "GET /y");
    store_send(af, &b.span); /* child first */
    store_send(af, &a.span);
    /* Y: newest, one span. */
    mk_tspan(&a, &res_fe, FW_SPAN_KIND_SERVER, 0x32, 1, 0, NOW - 50 * SEC, 5 * MS, "GET /home");
    store_send(af, &a.span);
    /* Z: oldest, its parent never arrived. */
    mk_tspan(&a, &res_be, FW_SPAN_KIND_INTERNAL, 0x33, 3, 7, NOW - 200 * SEC, 1 * MS, "job");
    mk_tspan(&b, &res_be, FW_SPAN_KIND_INTERNAL, 0x33, 4, 3, NOW - 200 * SEC + 100, 10, "sub");
    store_send(af, &b.span);
    store_send(af, &a.span);
}

static int setup_analytics(void **state)
{
    static afixture af;
    memset(&af, 0, sizeof(af));
    fw_red_config rc = {.retention_ns = 7200ull * SEC,
                        .max_series = 10000,
                        .memory_limit = 64u << 20,
                        .partitions = 4};
    fw_topo_config tc = {.join_wait_ns = 2 * SEC, .partitions = 4};
    assert_int_equal(fw_intern_new(4u << 20, &af.intern), 0);
    assert_int_equal(fw_red_new(&rc, &af.red), 0);
    assert_int_equal(fw_topo_new(&tc, af.intern, af.red, &af.topo), 0);
    fw_store_config sc = {.intern = af.intern, .max_spans = 1000, .max_logs = 100,
                          .partitions = 4};
    assert_int_equal(fw_store_new(&sc, &af.f.store), 0);
    fw_stats_init(&af.f.stats);
    fw_api_config ac = {.retention_ns = 7200ull * SEC, .clock_ns = pinned_clock};
    assert_int_equal(fw_api_new(&ac, af.f.store, &af.f.stats, &af.f.api), 0);
    fw_api_set_analytics(af.f.api, af.red, af.topo, af.intern);
    af.f.h = fw_api_handler(af.f.api);
    feed_red(&af);
    feed_topology(&af);
    feed_store(&af);
    *state = &af;
    return 0;
}

static int teardown_analytics(void **state)
{
    afixture *af = *state;
    fw_api_free(af->f.api);
    fw_store_free(af->f.store);
    fw_topo_free(af->topo);
    fw_red_free(af->red);
    fw_intern_free(af->intern);
    return 0;
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("field %s is not a number", key);
    return json_number_value(v);
}

/* Counts are exact: an integer JSON number when whole. */
static void assert_count(json_t *o, const char *key, double want)
{
    json_t *v = json_object_get(o, key);
    if (want == floor(want) && !json_is_integer(v))
        fail_msg("%s: want the integer %g", key, want);
    if (jnum(o, key) != want)
        fail_msg("%s: %.17g, want %.17g", key, jnum(o, key), want);
}

static void assert_near(json_t *o, const char *key, double want)
{
    if (fabs(jnum(o, key) - want) > 1e-9 * (fabs(want) + 1))
        fail_msg("%s: %.17g, want %.17g", key, jnum(o, key), want);
}

/* A percentile within the histogram's bound of the exact nearest rank of
 * |vals_us| (ms in the answer). */
static void assert_quantile(json_t *red, const char *key, const uint64_t *vals_us, size_t n,
                            double q)
{
    fw_hist h;
    fw_hist_init(&h);
    uint64_t *sorted = malloc(n * sizeof(*sorted));
    assert_non_null(sorted);
    for (size_t i = 0; i < n; i++) {
        fw_hist_record(&h, vals_us[i], 1);
        sorted[i] = vals_us[i];
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            uint64_t tmp = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = tmp;
        }
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    double exact_ms = (double)sorted[rank - 1] / 1000.0;
    double got = jnum(red, key);
    if (fabs(got - exact_ms) > exact_ms * fw_hist_rel_error(&h) + 1e-9)
        fail_msg("%s: %g ms, exact %g ms, bound %g", key, got, exact_ms, fw_hist_rel_error(&h));
    free(sorted);
}

/* The element of array |arr| whose |key| is |val|, or fail. */
static json_t *find_by(json_t *arr, const char *key, const char *val)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *s = json_string_value(json_object_get(e, key));
        if (s && strcmp(s, val) == 0)
            return e;
    }
    fail_msg("no element with %s = %s", key, val);
    return NULL;
}

static void assert_names(json_t *arr, const char *key, const char *const *want, size_t n)
{
    if (json_array_size(arr) != n) {
        char *d = json_dumps(arr, JSON_COMPACT);
        fail_msg("want %zu items, got %zu: %s", n, json_array_size(arr), d);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jstr(json_array_get(arr, i), key), want[i]);
}

static void test_services(void **state)
{
    afixture *af = *state;
    json_t *j = get_json(&af->f, "/api/v1/services", "window=15m", 200);
    assert_count(j, "window_seconds", 900);
    assert_string_equal(jstr(j, "to"), "2023-11-14T23:13:20.000000000Z");
    assert_string_equal(jstr(j, "from"), "2023-11-14T22:58:20.000000000Z");
    assert_true(json_is_false(json_object_get(j, "truncated")));
    json_t *svcs = json_object_get(j, "services");
    static const char *const names[] = {"backend", "frontend", "my svc", "other"};
    assert_names(svcs, "name", names, 4);

    json_t *fe = json_array_get(svcs, 1);
    assert_string_equal(jstr(fe, "namespace"), "shop");
    assert_string_equal(jstr(fe, "environment"), "prod");
    json_t *red = json_object_get(fe, "red");
    assert_count(red, "requests", 10);
    assert_near(red, "rate", 10.0 / 900.0);
    assert_count(red, "errors", 3);
    assert_count(red, "faults", 2);
    assert_count(red, "client_errors", 1);
    assert_count(red, "throttled", 1);
    assert_near(red, "error_rate", 0.3);
    assert_near(red, "fault_rate", 0.2);
    static const uint64_t fe_us[] = {1000, 2000, 3000, 4000, 5000,
                                     6000, 7000, 8000, 9000, 10000};
    assert_quantile(red, "p50_ms", fe_us, 10, 0.50);
    assert_quantile(red, "p90_ms", fe_us, 10, 0.90);
    assert_quantile(red, "p99_ms", fe_us, 10, 0.99);
    json_t *ex = json_object_get(red, "exemplars");
    assert_true(json_array_size(ex) >= 1 && json_array_size(ex) <= FW_RED_EXEMPLARS);
    /* Failing ones first: the faults (traces 0x42, 0x45), the 4xx (0x47)
     * and the throttled call (0x49). */
    json_t *ex0 = json_array_get(ex, 0);
    assert_true(json_is_true(json_object_get(ex0, "failed")));
    const char *tid = jstr(ex0, "trace_id");
    assert_int_equal(strlen(tid), 32);
    if (strncmp(tid, "49", 2) != 0 && strncmp(tid, "47", 2) != 0 &&
        strncmp(tid, "45", 2) != 0 && strncmp(tid, "42", 2) != 0)
        fail_msg("exemplar %s is not a failing trace", tid);
    assert_non_null(json_object_get(ex0, "time_unix_nano"));

    json_t *be = json_object_get(json_array_get(svcs, 0), "red");
    assert_count(be, "requests", 7.5); /* sampling-scaled */
    assert_count(be, "faults", 2.5);
    assert_near(be, "fault_rate", 1.0 / 3.0);
    json_t *my = json_array_get(svcs, 2);
    assert_true(json_is_null(json_object_get(my, "namespace")));
    assert_true(json_is_null(json_object_get(my, "environment")));
    /* other: seen in the topology, no entry spans: listed with zeros. */
    json_t *ot = json_object_get(json_array_get(svcs, 3), "red");
    assert_count(ot, "requests", 0);
    assert_count(ot, "error_rate", 0);
    assert_true(json_is_null(json_object_get(ot, "p50_ms")));
    assert_int_equal(json_array_size(json_object_get(ot, "exemplars")), 0);
    json_decref(j);

    /* Default window is 15 min; 1 h holds the older frontend span. */
    j = get_json(&af->f, "/api/v1/services", NULL, 200);
    assert_count(j, "window_seconds", 900);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/services", "window=1h", 200);
    red = json_object_get(find_by(json_object_get(j, "services"), "name", "frontend"), "red");
    assert_count(red, "requests", 11);
    assert_near(red, "rate", 11.0 / 3600.0);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/services", "window=3600", 200);
    assert_count(j, "window_seconds", 3600);
    json_decref(j);

    /* Explicit from/to (RFC 3339 and unix ns). */
    char q[256];
    snprintf(q, sizeof(q), "from=%llu&to=2023-11-14T23:04:00Z",
             (unsigned long long)(NOW - 600 * SEC));
    j = get_json(&af->f, "/api/v1/services", q, 200);
    assert_count(j, "window_seconds", 40);
    red = json_object_get(find_by(json_object_get(j, "services"), "name", "frontend"), "red");
    /* Buckets starting in [NOW-600 s, NOW-560 s]: five of them. */
    assert_count(red, "requests", 5);
    json_decref(j);

    /* Filters. */
    j = get_json(&af->f, "/api/v1/services", "namespace=shop", 200);
    static const char *const shop[] = {"backend", "frontend"};
    assert_names(json_object_get(j, "services"), "name", shop, 2);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/services", "environment=staging", 200);
    static const char *const staging[] = {"other"};
    assert_names(json_object_get(j, "services"), "name", staging, 1);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/services", "namespace=shop&environment=staging", 200);
    assert_int_equal(json_array_size(json_object_get(j, "services")), 0);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/services", "namespace=nosuch", 200);
    assert_int_equal(json_array_size(json_object_get(j, "services")), 0);
    json_decref(j);

    /* Empty: a window with no data. */
    j = get_json(&af->f, "/api/v1/services", "from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z",
                 200);
    assert_int_equal(json_array_size(json_object_get(j, "services")), 0);
    json_decref(j);
}

static void test_services_bad_params(void **state)
{
    afixture *af = *state;
    const char *p = "/api/v1/services";
    assert_error_mentions(&af->f, p, "window=0", 400, "window:");
    assert_error_mentions(&af->f, p, "window=15x", 400, "window:");
    assert_error_mentions(&af->f, p, "window=m", 400, "window:");
    assert_error_mentions(&af->f, p, "window=-5m", 400, "window:");
    assert_error_mentions(&af->f, p, "window=99999999999999999999d", 400, "window:");
    assert_error_mentions(&af->f, p, "window=3h", 400, "window: must be at most 7200s");
    assert_error_mentions(&af->f, p, "window=1d", 400, "window: must be at most");
    assert_error_mentions(&af->f, p, "window=15m&from=1", 400, "window:");
    assert_error_mentions(&af->f, p, "from=yesterday", 400, "from:");
    assert_error_mentions(&af->f, p, "to=2023-13-01T00:00:00Z", 400, "to:");
    assert_error_mentions(&af->f, p, "from=2000&to=1000", 400, "from:");
    assert_error_mentions(&af->f, p, "from=1000&to=1000", 400, "from:");
    assert_error_mentions(&af->f, "/api/v1/topology", "window=2h1", 400, "window:");
    assert_error_mentions(&af->f, "/api/v1/services/frontend/operations", "window=x", 400,
                          "window:");
    char longv[1200];
    memset(longv, 'a', sizeof(longv));
    memcpy(longv, "namespace=", 10);
    longv[sizeof(longv) - 1] = '\0';
    assert_error_mentions(&af->f, p, longv, 400, "namespace: too long");
}

static void test_topology(void **state)
{
    afixture *af = *state;
    json_t *j = get_json(&af->f, "/api/v1/topology", "window=15m", 200);
    assert_count(j, "window_seconds", 900);
    json_t *nodes = json_object_get(j, "nodes");
    static const char *const names[] = {"backend", "frontend", "other", "postgresql", "redis"};
    assert_names(nodes, "id", names, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(jstr(json_array_get(nodes, i), "name"), names[i]);
    assert_string_equal(jstr(json_array_get(nodes, 0), "type"), "service");
    assert_string_equal(jstr(json_array_get(nodes, 3), "type"), "database");
    assert_string_equal(jstr(json_array_get(nodes, 4), "type"), "cache");
    assert_string_equal(jstr(json_array_get(nodes, 1), "namespace"), "shop");
    assert_true(json_is_null(json_object_get(json_array_get(nodes, 3), "namespace")));

    /* Service nodes: their service series. */
    json_t *fe = json_object_get(json_array_get(nodes, 1), "red");
    assert_count(fe, "requests", 10);
    assert_count(fe, "faults", 2);
    assert_count(json_object_get(json_array_get(nodes, 0), "red"), "requests", 7.5);
    assert_count(json_object_get(json_array_get(nodes, 2), "red"), "requests", 0);
    /* Virtual nodes: the sum of their incoming edges. */
    json_t *pg = json_object_get(json_array_get(nodes, 3), "red");
    assert_count(pg, "requests", 2);
    static const uint64_t pg_us[] = {5000, 5000};
    assert_quantile(pg, "p50_ms", pg_us, 2, 0.5);
    assert_count(json_object_get(json_array_get(nodes, 4), "red"), "requests", 1);

    json_t *edges = json_object_get(j, "edges");
    assert_int_equal(json_array_size(edges), 3);
    json_t *e0 = json_array_get(edges, 0);
    assert_string_equal(jstr(e0, "source"), "frontend");
    assert_string_equal(jstr(e0, "target"), "backend");
    assert_string_equal(jstr(e0, "kind"), "call");
    json_t *er = json_object_get(e0, "red");
    assert_count(er, "requests", 3);
    assert_count(er, "faults", 1);
    assert_near(er, "rate", 3.0 / 900.0);
    static const uint64_t client_us[] = {30000, 30000, 30000};
    static const uint64_t server_us[] = {20000, 20000, 20000};
    assert_quantile(er, "p99_ms", client_us, 3, 0.99);
    assert_quantile(er, "server_p50_ms", server_us, 3, 0.5);
    assert_quantile(er, "server_p99_ms", server_us, 3, 0.99);
    json_t *ex = json_object_get(er, "exemplars");
    assert_true(json_array_size(ex) >= 1);
    assert_true(json_is_true(json_object_get(json_array_get(ex, 0), "failed")));
    json_t *e1 = json_array_get(edges, 1);
    assert_string_equal(jstr(e1, "source"), "frontend");
    assert_string_equal(jstr(e1, "target"), "postgresql");
    assert_count(json_object_get(e1, "red"), "requests", 2);
    /* No joined server span: no server percentiles. */
    assert_null(json_object_get(json_object_get(e1, "red"), "server_p50_ms"));
    json_t *e2 = json_array_get(edges, 2);
    assert_string_equal(jstr(e2, "source"), "other");
    assert_string_equal(jstr(e2, "target"), "redis");
    /* Every edge end is a listed node. */
    for (size_t i = 0; i < json_array_size(edges); i++) {
        find_by(nodes, "id", jstr(json_array_get(edges, i), "source"));
        find_by(nodes, "id", jstr(json_array_get(edges, i), "target"));
    }
    json_decref(j);

    /* namespace=shop: its services, the virtual nodes and edges touching them. */
    j = get_json(&af->f, "/api/v1/topology", "window=15m&namespace=shop", 200);
    static const char *const shop[] = {"backend", "frontend", "postgresql"};
    assert_names(json_object_get(j, "nodes"), "id", shop, 3);
    assert_int_equal(json_array_size(json_object_get(j, "edges")), 2);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/topology", "environment=staging", 200);
    static const char *const staging[] = {"other", "redis"};
    assert_names(json_object_get(j, "nodes"), "id", staging, 2);
    assert_int_equal(json_array_size(json_object_get(j, "edges")), 1);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/topology", "namespace=nosuch", 200);
    assert_int_equal(json_array_size(json_object_get(j, "nodes")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "edges")), 0);
    json_decref(j);

    /* Nothing in the window: nothing listed. */
    j = get_json(&af->f, "/api/v1/topology", "from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z",
                 200);
    assert_int_equal(json_array_size(json_object_get(j, "nodes")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "edges")), 0);
    json_decref(j);
    /* Only the first 5 minutes of the window: service data, no calls. */
    char q[128];
    snprintf(q, sizeof(q), "from=%llu&to=%llu", (unsigned long long)(NOW - 600 * SEC),
             (unsigned long long)(NOW - 590 * SEC));
    j = get_json(&af->f, "/api/v1/topology", q, 200);
    static const char *const fe_only[] = {"frontend"};
    assert_names(json_object_get(j, "nodes"), "id", fe_only, 1);
    assert_int_equal(json_array_size(json_object_get(j, "edges")), 0);
    json_decref(j);

    fw_http_response resp;
    call(&af->f, FW_HTTP_HEAD, "/api/v1/topology", NULL, &resp);
    assert_int_equal(resp.status, 200);
    fw_http_response_free(&resp);
}

static void test_operations(void **state)
{
    afixture *af = *state;
    json_t *j = get_json(&af->f, "/api/v1/services/frontend/operations", "window=15m", 200);
    assert_string_equal(jstr(j, "service"), "frontend");
    assert_count(j, "window_seconds", 900);
    json_t *ops = json_object_get(j, "operations");
    assert_int_equal(json_array_size(ops), 3);
    json_t *o0 = json_array_get(ops, 0), *o1 = json_array_get(ops, 1), *o2 = json_array_get(ops, 2);
    assert_string_equal(jstr(o0, "name"), "GET /home");
    assert_string_equal(jstr(o0, "kind"), "server");
    assert_string_equal(jstr(o1, "name"), "GET /home");
    assert_string_equal(jstr(o1, "kind"), "client");
    assert_string_equal(jstr(o2, "name"), "render");
    assert_string_equal(jstr(o2, "kind"), "internal");
    json_t *r0 = json_object_get(o0, "red");
    assert_count(r0, "requests", 10);
    assert_count(r0, "errors", 3);
    static const uint64_t fe_us[] = {1000, 2000, 3000, 4000, 5000,
                                     6000, 7000, 8000, 9000, 10000};
    assert_quantile(r0, "p90_ms", fe_us, 10, 0.9);
    assert_count(json_object_get(o1, "red"), "requests", 3);
    assert_count(json_object_get(o2, "red"), "requests", 5);
    json_decref(j);

    /* Percent-encoded name; another service's operations only. */
    j = get_json(&af->f, "/api/v1/services/my%20svc/operations", NULL, 200);
    assert_string_equal(jstr(j, "service"), "my svc");
    ops = json_object_get(j, "operations");
    assert_int_equal(json_array_size(ops), 1);
    assert_string_equal(jstr(json_array_get(ops, 0), "name"), "op");
    json_decref(j);
    /* Known service, nothing in the window. */
    j = get_json(&af->f, "/api/v1/services/other/operations", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "operations")), 0);
    json_decref(j);

    assert_error_mentions(&af->f, "/api/v1/services/nosuch/operations", NULL, 404,
                          "service not found");
    /* An interned string that is not a service. */
    assert_error_mentions(&af->f, "/api/v1/services/render/operations", NULL, 404,
                          "service not found");
    assert_error_mentions(&af->f, "/api/v1/services/frontend/nope", NULL, 404, "not found");
    assert_error_mentions(&af->f, "/api/v1/services/a/b/operations", NULL, 404, "not found");
    assert_error_mentions(&af->f, "/api/v1/services//operations", NULL, 404, "not found");
    assert_error_mentions(&af->f, "/api/v1/services/", NULL, 404, "not found");
    assert_error_mentions(&af->f, "/api/v1/services/x%2/operations", NULL, 400, "name:");
    assert_error_mentions(&af->f, "/api/v1/services/x%00/operations", NULL, 400, "name:");
}

static void test_red_series(void **state)
{
    afixture *af = *state;
    char q[256];
    snprintf(q, sizeof(q), "service=frontend&from=%llu&to=%llu&step=20",
             (unsigned long long)(NOW - 600 * SEC), (unsigned long long)(NOW - 500 * SEC));
    json_t *j = get_json(&af->f, "/api/v1/red", q, 200);
    assert_string_equal(jstr(j, "service"), "frontend");
    assert_true(json_is_null(json_object_get(j, "operation")));
    assert_int_equal(jint(j, "step_seconds"), 20);
    json_t *pts = json_object_get(j, "points");
    assert_int_equal(json_array_size(pts), 5);
    json_t *p0 = json_array_get(pts, 0);
    assert_string_equal(jstr(p0, "t"), "2023-11-14T23:03:20.000000000Z");
    char want[32];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)(NOW - 600 * SEC));
    assert_string_equal(jstr(p0, "t_unix_nano"), want);
    for (size_t i = 0; i < 5; i++) {
        assert_count(json_array_get(pts, i), "requests", 2);
        assert_near(json_array_get(pts, i), "rate", 0.1);
    }
    /* Point 1 holds values 3 ms and 4 ms, one fault (i = 2). */
    json_t *p1 = json_array_get(pts, 1);
    assert_count(p1, "faults", 1);
    assert_near(p1, "fault_rate", 0.5);
    static const uint64_t p1_us[] = {3000, 4000};
    assert_quantile(p1, "p99_ms", p1_us, 2, 0.99);
    assert_quantile(p1, "p50_ms", p1_us, 2, 0.5);
    assert_true(json_array_size(json_object_get(p1, "exemplars")) >= 1);
    json_decref(j);

    /* An operation: the sum over its span kinds (server + client). */
    snprintf(q, sizeof(q), "service=frontend&operation=GET%%20/home&from=%llu&to=%llu&step=20s",
             (unsigned long long)(NOW - 600 * SEC), (unsigned long long)(NOW - 500 * SEC));
    j = get_json(&af->f, "/api/v1/red", q, 200);
    assert_string_equal(jstr(j, "operation"), "GET /home");
    pts = json_object_get(j, "points");
    assert_int_equal(json_array_size(pts), 5);
    assert_count(json_array_get(pts, 0), "requests", 4);
    assert_count(json_array_get(pts, 1), "requests", 3);
    assert_count(json_array_get(pts, 2), "requests", 2);
    json_decref(j);

    /* Unknown operation of a known service: zeros. */
    j = get_json(&af->f, "/api/v1/red", "service=frontend&operation=nosuch&step=5m", 200);
    pts = json_object_get(j, "points");
    assert_int_equal(json_array_size(pts), 3);
    assert_count(json_array_get(pts, 0), "requests", 0);
    json_decref(j);

    /* Defaults: the last 15 minutes, at most ~360 points (10 s here). */
    j = get_json(&af->f, "/api/v1/red", "service=frontend", 200);
    assert_int_equal(jint(j, "step_seconds"), 10);
    pts = json_object_get(j, "points");
    assert_int_equal(json_array_size(pts), 90);
    double total = 0;
    for (size_t i = 0; i < 90; i++)
        total += jnum(json_array_get(pts, i), "requests");
    assert_true(total == 10.0);
    json_decref(j);
    /* A day: the default step grows (86400 / 360 = 240 s). */
    j = get_json(&af->f, "/api/v1/red", "service=backend&from=2023-11-13T23:13:20Z", 200);
    assert_int_equal(jint(j, "step_seconds"), 240);
    assert_int_equal(json_array_size(json_object_get(j, "points")), 360);
    json_decref(j);
    /* namespace filter. */
    j = get_json(&af->f, "/api/v1/red", "service=frontend&namespace=shop", 200);
    json_decref(j);
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&namespace=ops", 404,
                          "service not found");

    assert_error_mentions(&af->f, "/api/v1/red", NULL, 400, "service: required");
    assert_error_mentions(&af->f, "/api/v1/red", "service=nosuch", 404, "service not found");
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&step=15", 400, "step:");
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&step=0", 400, "step:");
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&step=abc", 400, "step:");
    assert_error_mentions(&af->f, "/api/v1/red",
                          "service=frontend&from=2023-11-01T00:00:00Z&step=10", 400,
                          "step: gives more than 10000 points");
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&from=x", 400, "from:");
    assert_error_mentions(&af->f, "/api/v1/red", "service=frontend&from=5&to=5", 400, "from:");
}

static void test_trace_search(void **state)
{
    afixture *af = *state;
    json_t *j = get_json(&af->f, "/api/v1/traces", NULL, 200);
    json_t *tr = json_object_get(j, "traces");
    assert_true(json_is_false(json_object_get(j, "truncated")));
    assert_int_equal(json_array_size(tr), 3);
    /* Newest first: Y, X, Z. */
    assert_string_equal(jstr(json_array_get(tr, 0), "trace_id"), "32000000000000000000000000000002");
    json_t *x = json_array_get(tr, 1);
    assert_string_equal(jstr(x, "trace_id"), "31000000000000000000000000000002");
    assert_string_equal(jstr(x, "root_service"), "frontend");
    assert_string_equal(jstr(x, "root_name"), "GET /x");
    char want[32];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)(NOW - 100 * SEC));
    assert_string_equal(jstr(x, "start_time_unix_nano"), want);
    assert_string_equal(jstr(x, "start_time"), "2023-11-14T23:11:40.000000000Z");
    assert_true(jnum(x, "duration_ms") == 50.0);
    assert_int_equal(jint(x, "span_count"), 2);
    assert_int_equal(jint(x, "error_count"), 1);
    json_t *svcs = json_object_get(x, "services");
    assert_int_equal(json_array_size(svcs), 2);
    assert_string_equal(json_string_value(json_array_get(svcs, 0)), "backend");
    assert_string_equal(json_string_value(json_array_get(svcs, 1)), "frontend");
    /* Z: no parentless span, the earliest is the root. */
    json_t *z = json_array_get(tr, 2);
    assert_string_equal(jstr(z, "root_name"), "job");
    assert_string_equal(jstr(z, "root_service"), "backend");
    assert_int_equal(jint(z, "span_count"), 2);
    assert_int_equal(jint(z, "error_count"), 0);
    assert_true(jnum(z, "duration_ms") == 1.0);
    json_decref(j);

    static const char *const by_backend[] = {"31000000000000000000000000000002",
                                             "33000000000000000000000000000002"};
    j = get_json(&af->f, "/api/v1/traces", "service=backend", 200);
    assert_names(json_object_get(j, "traces"), "trace_id", by_backend, 2);
    json_decref(j);
    static const char *const failing[] = {"31000000000000000000000000000002"};
    j = get_json(&af->f, "/api/v1/traces", "error=true", 200);
    assert_names(json_object_get(j, "traces"), "trace_id", failing, 1);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/traces", "error=false&limit=1", 200);
    static const char *const newest[] = {"32000000000000000000000000000002"};
    assert_names(json_object_get(j, "traces"), "trace_id", newest, 1);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/traces", "service=backend&operation=sub", 200);
    static const char *const z_only[] = {"33000000000000000000000000000002"};
    assert_names(json_object_get(j, "traces"), "trace_id", z_only, 1);
    json_decref(j);
    char q[128];
    snprintf(q, sizeof(q), "from=%llu&to=2023-11-14T23:13:00Z",
             (unsigned long long)(NOW - 150 * SEC));
    j = get_json(&af->f, "/api/v1/traces", q, 200);
    static const char *const recent[] = {"32000000000000000000000000000002",
                                         "31000000000000000000000000000002"};
    assert_names(json_object_get(j, "traces"), "trace_id", recent, 2);
    json_decref(j);
    /* Empty. */
    j = get_json(&af->f, "/api/v1/traces", "service=nosuch", 200);
    assert_int_equal(json_array_size(json_object_get(j, "traces")), 0);
    json_decref(j);
    j = get_json(&af->f, "/api/v1/traces", "service=frontend&operation=job", 200);
    assert_int_equal(json_array_size(json_object_get(j, "traces")), 0);
    json_decref(j);

    assert_error_mentions(&af->f, "/api/v1/traces", "limit=0", 400, "limit:");
    assert_error_mentions(&af->f, "/api/v1/traces", "limit=1001", 400, "limit:");
    assert_error_mentions(&af->f, "/api/v1/traces", "error=maybe", 400, "error:");
    assert_error_mentions(&af->f, "/api/v1/traces", "from=x", 400, "from:");
    assert_error_mentions(&af->f, "/api/v1/traces", "to=x", 400, "to:");
    assert_error_mentions(&af->f, "/api/v1/traces", "from=9&to=8", 400, "from:");

    /* A small response limit cuts the list. */
    fw_http_response resp;
    call_max(&af->f, FW_HTTP_GET, "/api/v1/traces", NULL, 400, &resp);
    assert_int_equal(resp.status, 200);
    j = parse(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(json_array_size(json_object_get(j, "traces")) < 3);
    json_decref(j);
    fw_http_response_free(&resp);
}

static void test_analytics_truncated(void **state)
{
    afixture *af = *state;
    fw_http_response resp;
    call_max(&af->f, FW_HTTP_GET, "/api/v1/topology", NULL, 1500, &resp);
    assert_int_equal(resp.status, 200);
    json_t *j = parse(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(json_array_size(json_object_get(j, "nodes")) < 5);
    json_decref(j);
    fw_http_response_free(&resp);

    call_max(&af->f, FW_HTTP_GET, "/api/v1/red", "service=frontend", 3000, &resp);
    assert_int_equal(resp.status, 200);
    j = parse(&resp);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(json_array_size(json_object_get(j, "points")) < 90);
    json_decref(j);
    fw_http_response_free(&resp);
}

static void test_analytics_metrics(void **state)
{
    afixture *af = *state;
    fw_http_response resp;
    call(&af->f, FW_HTTP_GET, "/metrics", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(fw_buf_append(&resp.body, "", 1), 0);
    const char *t = (const char *)resp.body.data;
    assert_non_null(strstr(t, "# TYPE traces_span_metrics_calls_total counter\n"));
    assert_non_null(strstr(t, "service_name=\"frontend\""));
    assert_non_null(strstr(t, "traces_service_graph_request_total{"));
    assert_non_null(strstr(t, "client=\"frontend\",server=\"backend\""));
    assert_non_null(strstr(t, "# TYPE flywheel_red_series gauge\n"));
    assert_non_null(strstr(t, "\nflywheel_red_overflowed_total 0\n"));
    assert_non_null(strstr(t, "\nflywheel_topology_nodes 5\n"));
    assert_non_null(strstr(t, "\nflywheel_topology_edges 3\n"));
    assert_non_null(strstr(t, "# TYPE flywheel_intern_strings gauge\n"));
    assert_non_null(strstr(t, "\nflywheel_intern_refused_total 0\n"));
    assert_non_null(strstr(t, "\nflywheel_store_spans 5\n"));
    fw_http_response_free(&resp);
}

/* Without fw_api_set_analytics: the analytics endpoints answer 503, the
 * trace search still works. */
static void test_analytics_unconfigured(void **state)
{
    fixture *f = *state;
    assert_error_mentions(f, "/api/v1/services", NULL, 503, "analytics not configured");
    assert_error_mentions(f, "/api/v1/topology", NULL, 503, "analytics not configured");
    assert_error_mentions(f, "/api/v1/red", "service=x", 503, "analytics not configured");
    assert_error_mentions(f, "/api/v1/services/x/operations", NULL, 503,
                          "analytics not configured");
    /* The traces of test_trace_found (3 spans) and test_trace_truncated (20). */
    json_t *j = get_json(f, "/api/v1/traces", NULL, 200);
    json_t *tr = json_object_get(j, "traces");
    assert_int_equal(json_array_size(tr), 2);
    json_t *bulk = json_array_get(tr, 0); /* starts at T0 + 1 s: newest */
    assert_string_equal(jstr(bulk, "trace_id"), "778efff798038103d269b633813fc60c");
    assert_int_equal(jint(bulk, "span_count"), 20);
    assert_string_equal(jstr(bulk, "root_name"), "bulk");
    json_t *t1 = json_array_get(tr, 1);
    assert_string_equal(jstr(t1, "root_name"), "GET /u/:id");
    assert_string_equal(jstr(t1, "root_service"), "frontend");
    assert_int_equal(jint(t1, "error_count"), 1);
    assert_true(jnum(t1, "duration_ms") == 1.5);
    json_decref(j);
    fw_http_response resp;
    call(f, FW_HTTP_POST, "/api/v1/topology", NULL, &resp);
    assert_int_equal(resp.status, 405);
    fw_http_response_free(&resp);
}

/* ---- bearer-token authentication ---- */

static void call_auth(fw_api *api, fw_http_method m, const char *path, const char *authz,
                      fw_http_response *resp)
{
    fw_http_handler h = fw_api_handler(api);
    fw_http_request req = {0};
    req.method = m;
    req.path = fw_str_from(path);
    req.query = (fw_str){"", 0};
    req.authorization = authz ? fw_str_from(authz) : FW_STR_NULL;
    req.http_major = 1;
    static const char body[] = "{}";
    if (m == FW_HTTP_POST) {
        req.body = (const uint8_t *)body;
        req.body_len = sizeof body - 1;
    }
    fw_http_response_init(resp, h.max_resp_body);
    h.handle(h.ctx, &req, resp);
}

static const char *resp_header(const fw_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Status of one call; a 401 must carry the challenge and a JSON error. */
static int auth_status(fw_api *api, fw_http_method m, const char *path, const char *authz)
{
    fw_http_response resp;
    call_auth(api, m, path, authz, &resp);
    int st = resp.status;
    if (st == 401) {
        assert_string_equal(resp_header(&resp, "www-authenticate"), "Bearer");
        json_t *j = parse(&resp);
        assert_non_null(strstr(jstr(j, "error"), "bearer token"));
        json_decref(j);
    }
    fw_http_response_free(&resp);
    return st;
}

static void test_auth_tokens(void **state)
{
    (void)state;
    fw_store *store = NULL;
    fw_stats stats;
    fw_api *api = NULL;
    fw_store_config sc = {.max_spans = 100, .max_logs = 100, .partitions = 1};
    assert_int_equal(fw_store_new(&sc, &store), 0);
    fw_stats_init(&stats);
    char rt[] = "read-tok", wt[] = "write-tok";
    fw_api_config ac = {.read_token = rt, .write_token = wt};
    assert_int_equal(fw_api_new(&ac, store, &stats, &api), 0);
    rt[0] = wt[0] = 'X'; /* the API keeps its own copies */
    fw_api_set_ready(api, true);

    /* Probes stay open. */
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/healthz", NULL), 200);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/readyz", NULL), 200);
    /* Reads: /metrics and /api/v1 need the read token; nothing is routed before. */
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/metrics", NULL), 401);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/api/v1/logs", "Bearer wrong"), 401);
    assert_int_equal(auth_status(api, FW_HTTP_HEAD, "/api/v1/logs", "Bearer write-tok"), 401);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/api/v1/nope", NULL), 401);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/api/v1/logs", "Bearer read-tok"), 200);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/api/v1/nope", "Bearer read-tok"), 404);
    /* Writes need the write token (503: no deployment store configured). */
    assert_int_equal(auth_status(api, FW_HTTP_POST, "/api/v1/deployments", NULL), 401);
    assert_int_equal(auth_status(api, FW_HTTP_POST, "/api/v1/alarms/alertmanager",
                                 "Bearer read-tok"), 401);
    assert_int_equal(auth_status(api, FW_HTTP_DELETE, "/api/v1/slos/x", "Bearer nope"), 401);
    assert_int_equal(auth_status(api, FW_HTTP_POST, "/api/v1/deployments", "Bearer write-tok"),
                     503);
    assert_int_equal(auth_status(api, FW_HTTP_POST, "/api/v1/alarms", "bearer write-tok"), 503);

    /* The refusals are counted per access kind in /metrics. */
    fw_http_response resp;
    call_auth(api, FW_HTTP_GET, "/metrics", "Bearer read-tok", &resp);
    assert_int_equal(resp.status, 200);
    char *text = strndup((const char *)resp.body.data, resp.body.len);
    assert_non_null(text);
    assert_non_null(strstr(text, "flywheel_api_requests_unauthenticated_total{access=\"read\"} 4\n"));
    assert_non_null(strstr(text, "flywheel_api_requests_unauthenticated_total{access=\"write\"} 3\n"));
    free(text);
    fw_http_response_free(&resp);
    fw_api_free(api);

    /* Only a write token: reads are open, writes are not. */
    fw_api_config wo = {.write_token = "w"};
    assert_int_equal(fw_api_new(&wo, store, &stats, &api), 0);
    assert_int_equal(auth_status(api, FW_HTTP_GET, "/api/v1/logs", NULL), 200);
    assert_int_equal(auth_status(api, FW_HTTP_POST, "/api/v1/deployments", NULL), 401);
    fw_api_free(api);
    fw_store_free(store);
}

int main(void)
{
    /* One fixture: the tests build on each other's data in this order. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_readyz),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_trace_found),
        cmocka_unit_test(test_trace_not_found_and_bad_id),
        cmocka_unit_test(test_trace_truncated),
        cmocka_unit_test(test_logs_bad_params),
        cmocka_unit_test(test_analytics_unconfigured),
    };
    const struct CMUnitTest logs_tests[] = {
        cmocka_unit_test(test_logs_query),
        cmocka_unit_test(test_logs_truncated),
    };
    const struct CMUnitTest metrics_tests[] = {
        cmocka_unit_test(test_trace_found),
        cmocka_unit_test(test_metrics),
    };
    int failed = cmocka_run_group_tests_name("api", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("api_logs", logs_tests, setup, teardown);
    /* metrics: 3 spans from test_trace_found, 5 logs added by test_metrics. */
    failed += cmocka_run_group_tests_name("api_metrics", metrics_tests, setup, teardown);
    const struct CMUnitTest analytics_tests[] = {
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_services_bad_params),
        cmocka_unit_test(test_topology),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_red_series),
        cmocka_unit_test(test_trace_search),
        cmocka_unit_test(test_analytics_truncated),
        cmocka_unit_test(test_analytics_metrics),
    };
    failed += cmocka_run_group_tests_name("api_analytics", analytics_tests, setup_analytics,
                                          teardown_analytics);
    const struct CMUnitTest auth_tests[] = {
        cmocka_unit_test(test_auth_tokens),
    };
    failed += cmocka_run_group_tests_name("api_auth", auth_tests, NULL, NULL);
    return failed;
}
