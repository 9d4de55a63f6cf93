/* test_api.c - the API handler called directly with request structs:
 * health/readiness, routing errors, a trace by id (found, not found, bad
 * id, sorted, every field, truncation), log search with filters and
 * limits, and the /metrics text. Responses are parsed with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "flywheel/api.h"

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
    return failed;
}
