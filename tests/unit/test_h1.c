/* test_h1.c - the HTTP/1.1 core: request assembly (Content-Length, chunked,
 * incremental feeds), keep-alive, pipelining, HTTP/1.0, 100-continue and
 * the limits (413 via the handler, 431 and 400 by the core). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flywheel/h1.h"
#include "flywheel/limits.h"
#include "flywheel/membudget.h"

#define REC_MAX 8
#define REC_STR 256

typedef struct recorded {
    fw_http_method method;
    char path[REC_STR];
    char query[REC_STR];
    char content_type[REC_STR];
    char user_agent[REC_STR];
    bool has_content_type;
    char body[4096];
    size_t body_len;
    bool body_too_large;
    bool over_budget;
    bool has_budget_held;
    size_t held_at_dispatch; /* *budget_held when the handler ran */
    int http_major;
} recorded;

typedef struct rec_ctx {
    recorded req[REC_MAX];
    size_t n;
    bool close; /* answer with resp->close */
} rec_ctx;

static void copy_str(char *dst, size_t dstsz, fw_str s)
{
    size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
    if (n) memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Records the request and echoes "<path>:<body>" (413 when too large). */
static void rec_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    rec_ctx *rc = ctx;
    if (rc->n < REC_MAX) {
        recorded *r = &rc->req[rc->n];
        memset(r, 0, sizeof *r);
        r->method = req->method;
        copy_str(r->path, sizeof r->path, req->path);
        copy_str(r->query, sizeof r->query, req->query);
        copy_str(r->content_type, sizeof r->content_type, req->content_type);
        r->has_content_type = req->content_type.ptr != NULL;
        copy_str(r->user_agent, sizeof r->user_agent, req->user_agent);
        r->body_len = req->body_len;
        if (req->body_len && req->body_len < sizeof r->body)
            memcpy(r->body, req->body, req->body_len);
        r->body_too_large = req->body_too_large;
        r->over_budget = req->over_budget;
        r->has_budget_held = req->budget_held != NULL;
        r->held_at_dispatch = req->budget_held ? req->budget_held->bytes : 0;
        r->http_major = req->http_major;
    }
    rc->n++;
    if (req->over_budget) {
        resp->status = 503;
        resp->content_type = "text/plain";
        assert_int_equal(fw_buf_append_str(&resp->body, "busy"), 0);
        return;
    }
    if (req->body_too_large) {
        resp->status = 413;
        resp->content_type = "text/plain";
        assert_int_equal(fw_buf_append_str(&resp->body, "too large"), 0);
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain";
    resp->close = rc->close;
    assert_int_equal(fw_buf_append(&resp->body, req->path.ptr, req->path.len), 0);
    assert_int_equal(fw_buf_append_str(&resp->body, ":"), 0);
    if (req->body_len) assert_int_equal(fw_buf_append(&resp->body, req->body, req->body_len), 0);
    assert_int_equal(fw_http_response_header(resp, "x-count", "%zu", rc->n), 0);
}

typedef struct fixture {
    rec_ctx rc;
    fw_http_handler handler;
    fw_h1_conn *conn;
    fw_buf out;
} fixture;

static void fx_open(fixture *f, size_t max_body)
{
    memset(f, 0, sizeof *f);
    f->handler = (fw_http_handler){rec_handle, &f->rc, max_body, 1u << 20, NULL};
    f->conn = fw_h1_conn_new(&f->handler, false);
    assert_non_null(f->conn);
    fw_buf_init(&f->out, 1u << 20);
}

static void fx_close(fixture *f)
{
    fw_h1_conn_free(f->conn);
    f->conn = NULL;
    fw_buf_free(&f->out);
}

static int feed_str(fixture *f, const char *s)
{
    return fw_h1_conn_feed(f->conn, (const uint8_t *)s, strlen(s), &f->out);
}

/* NUL-terminated copy of the output, for strstr. */
static const char *out_text(fixture *f)
{
    static char text[1u << 16];
    size_t n = f->out.len < sizeof text - 1 ? f->out.len : sizeof text - 1;
    if (n) memcpy(text, f->out.data, n);
    text[n] = '\0';
    return text;
}

static size_t count_occurrences(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_get_keep_alive(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /v1/items?limit=5&x=%20y HTTP/1.1\r\nHost: a\r\n"
                                  "User-Agent: test/1.0\r\n\r\n"),
                     0);
    assert_int_equal(f.rc.n, 1);
    assert_int_equal(f.rc.req[0].method, FW_HTTP_GET);
    assert_string_equal(f.rc.req[0].path, "/v1/items");
    assert_string_equal(f.rc.req[0].query, "limit=5&x=%20y");
    assert_string_equal(f.rc.req[0].user_agent, "test/1.0");
    assert_false(f.rc.req[0].has_content_type);
    assert_int_equal(f.rc.req[0].http_major, 1);
    assert_int_equal(f.rc.req[0].body_len, 0);
    assert_string_equal(out_text(&f), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 10\r\nx-count: 1\r\n\r\n/v1/items:");
    assert_false(fw_h1_conn_want_close(f.conn));
    assert_false(fw_h1_conn_mid_request(f.conn));
    assert_int_equal(fw_h1_conn_stats(f.conn)->requests, 1);
    fx_close(&f);
}

static const char post_req[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/x-protobuf\r\n"
                               "Content-Length: 11\r\n\r\nhello world";

static void check_post(fixture *f)
{
    assert_int_equal(f->rc.n, 1);
    assert_int_equal(f->rc.req[0].method, FW_HTTP_POST);
    assert_string_equal(f->rc.req[0].path, "/v1/traces");
    assert_string_equal(f->rc.req[0].content_type, "application/x-protobuf");
    assert_int_equal(f->rc.req[0].body_len, 11);
    assert_memory_equal(f->rc.req[0].body, "hello world", 11);
    assert_non_null(strstr(out_text(f), "\r\n\r\n/v1/traces:hello world"));
}

/* Every split point of the request in two feeds, then one byte at a time:
 * the parser hands fragments and the core must stitch them. */
static void test_post_split_everywhere(void **state)
{
    (void)state;
    size_t n = sizeof post_req - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        fixture f;
        fx_open(&f, 1024);
        const uint8_t *p = (const uint8_t *)post_req;
        assert_int_equal(fw_h1_conn_feed(f.conn, p, cut, &f.out), 0);
        if (cut > 0 && cut < n) {
            assert_true(fw_h1_conn_mid_request(f.conn));
            assert_int_equal(f.rc.n, 0);
        }
        assert_int_equal(fw_h1_conn_feed(f.conn, p + cut, n - cut, &f.out), 0);
        check_post(&f);
        assert_false(fw_h1_conn_mid_request(f.conn));
        fx_close(&f);
    }
    fixture f;
    fx_open(&f, 1024);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)post_req + i, 1, &f.out), 0);
    check_post(&f);
    fx_close(&f);
}

static void test_chunked_body(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    const char *req = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    size_t n = strlen(req);
    /* Feed in 3-byte pieces to cross chunk-size lines. */
    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)req + i, k, &f.out), 0);
    }
    assert_int_equal(f.rc.n, 1);
    assert_int_equal(f.rc.req[0].body_len, 11);
    assert_memory_equal(f.rc.req[0].body, "hello world", 11);
    assert_false(fw_h1_conn_want_close(f.conn));
    fx_close(&f);
}

static void test_pipelined_in_order(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /a HTTP/1.1\r\n\r\n"
                                  "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                                  "GET /c HTTP/1.1\r\n\r\nGET /d HTT"),
                     0);
    assert_int_equal(f.rc.n, 3);
    assert_true(fw_h1_conn_mid_request(f.conn));
    assert_int_equal(feed_str(&f, "P/1.1\r\n\r\n"), 0);
    assert_int_equal(f.rc.n, 4);
    const char *t = out_text(&f);
    const char *a = strstr(t, "/a:");
    const char *b = strstr(t, "/b:xyz");
    const char *c = strstr(t, "/c:");
    const char *d = strstr(t, "/d:");
    assert_true(a && b && c && d);
    assert_true(a < b && b < c && c < d);
    assert_int_equal(count_occurrences(t, "HTTP/1.1 200 OK"), 4);
    assert_non_null(strstr(t, "x-count: 4"));
    assert_false(fw_h1_conn_want_close(f.conn));
    fx_close(&f);
}

static void test_connection_close(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    /* The request after Connection: close is never processed. */
    assert_int_equal(feed_str(&f, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"
                                  "GET /b HTTP/1.1\r\n\r\n"),
                     0);
    assert_int_equal(f.rc.n, 1);
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_non_null(strstr(out_text(&f), "Connection: close\r\n"));
    assert_null(strstr(out_text(&f), "/b:"));
    assert_int_equal(feed_str(&f, "GET /c HTTP/1.1\r\n\r\n"), FW_ERR_CLOSED);
    assert_int_equal(f.rc.n, 1);
    fx_close(&f);

    /* The handler may also ask to close. */
    fx_open(&f, 1024);
    f.rc.close = true;
    assert_int_equal(feed_str(&f, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(f.rc.n, 1);
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_non_null(strstr(out_text(&f), "Connection: close\r\n"));
    fx_close(&f);
}

static void test_http10(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /old HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(f.rc.n, 1);
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_non_null(strstr(out_text(&f), "Connection: close\r\n"));
    fx_close(&f);

    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                  "GET /ka2 HTTP/1.0\r\n\r\n"),
                     0);
    assert_int_equal(f.rc.n, 2);
    const char *t = out_text(&f);
    assert_non_null(strstr(t, "Connection: keep-alive\r\n"));
    assert_non_null(strstr(t, "Connection: close\r\n"));
    assert_true(strstr(t, "keep-alive") < strstr(t, "close"));
    assert_true(fw_h1_conn_want_close(f.conn));
    fx_close(&f);
}

static void test_expect_100_continue(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\n"
                                  "Content-Length: 4\r\n\r\n"),
                     0);
    assert_string_equal(out_text(&f), "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(f.rc.n, 0);
    assert_true(fw_h1_conn_mid_request(f.conn));
    assert_int_equal(feed_str(&f, "data"), 0);
    assert_int_equal(f.rc.n, 1);
    const char *t = out_text(&f);
    assert_true(strncmp(t, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0);
    assert_non_null(strstr(t, "/e:data"));
    fx_close(&f);
}

static void test_body_too_large_content_length(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 16);
    /* Declared over the limit: answered at once, no 100 Continue. */
    int rv = feed_str(&f, "POST /big HTTP/1.1\r\nExpect: 100-continue\r\n"
                          "Content-Length: 100\r\n\r\n0123456789");
    assert_int_equal(rv, FW_ERR_TOO_LARGE);
    assert_int_equal(f.rc.n, 1);
    assert_true(f.rc.req[0].body_too_large);
    assert_int_equal(f.rc.req[0].body_len, 0);
    const char *t = out_text(&f);
    assert_null(strstr(t, "100 Continue"));
    assert_true(strncmp(t, "HTTP/1.1 413 Payload Too Large\r\n", 32) == 0);
    assert_non_null(strstr(t, "Connection: close\r\n"));
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_int_equal(fw_h1_conn_stats(f.conn)->too_large, 1);
    fx_close(&f);
}

static void test_body_too_large_chunked(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 16);
    int rv = feed_str(&f, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "a\r\n0123456789\r\n");
    assert_int_equal(rv, 0);
    assert_int_equal(f.rc.n, 0);
    rv = feed_str(&f, "a\r\n0123456789\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    assert_int_equal(rv, FW_ERR_TOO_LARGE);
    assert_int_equal(f.rc.n, 1);
    assert_true(f.rc.req[0].body_too_large);
    assert_int_equal(f.rc.req[0].body_len, 0);
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_non_null(strstr(out_text(&f), "413 Payload Too Large"));
    assert_null(strstr(out_text(&f), "/next"));
    fx_close(&f);
}

static void test_body_exactly_at_limit(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 4);
    assert_int_equal(feed_str(&f, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"),
                     0);
    assert_int_equal(f.rc.n, 1);
    assert_false(f.rc.req[0].body_too_large);
    assert_memory_equal(f.rc.req[0].body, "abcd", 4);
    assert_false(fw_h1_conn_want_close(f.conn));
    fx_close(&f);
}

static void test_headers_too_large(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET / HTTP/1.1\r\n"), 0);
    char line[1024];
    memset(line, 'v', sizeof line);
    memcpy(line, "X-Pad: ", 7);
    line[sizeof line - 2] = '\r';
    line[sizeof line - 1] = '\n';
    int rv = 0;
    size_t sent = 0;
    while (rv == 0 && sent < 2u * FW_LIMIT_HEADER_BYTES) {
        rv = fw_h1_conn_feed(f.conn, (const uint8_t *)line, sizeof line, &f.out);
        sent += sizeof line;
    }
    assert_int_equal(rv, FW_ERR_TOO_LARGE);
    assert_true(sent > FW_LIMIT_HEADER_BYTES - 2048);
    assert_int_equal(f.rc.n, 0);
    assert_true(strncmp(out_text(&f), "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
    assert_true(fw_h1_conn_want_close(f.conn));
    fx_close(&f);

    /* A huge URL counts against the same limit. */
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /"), 0);
    memset(line, 'a', sizeof line);
    rv = 0;
    for (size_t i = 0; rv == 0 && i < 200; i++)
        rv = fw_h1_conn_feed(f.conn, (const uint8_t *)line, sizeof line, &f.out);
    assert_int_equal(rv, FW_ERR_TOO_LARGE);
    assert_non_null(strstr(out_text(&f), " 431 "));
    fx_close(&f);
}

static void test_garbage_400(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    int rv = feed_str(&f, "\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_int_equal(f.rc.n, 0);
    const char *t = out_text(&f);
    assert_true(strncmp(t, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    assert_non_null(strstr(t, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(t, "Connection: close\r\n"));
    assert_non_null(strstr(t, "\r\n\r\n{\"error\":\""));
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_int_equal(fw_h1_conn_stats(f.conn)->parse_errors, 1);
    fx_close(&f);

    /* A bad request after a good one: the first answer stays first. */
    fx_open(&f, 1024);
    rv = feed_str(&f, "GET /ok HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: zz\r\n\r\n");
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_int_equal(f.rc.n, 1);
    t = out_text(&f);
    assert_true(strncmp(t, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(t, "HTTP/1.1 400 Bad Request\r\n"));
    fx_close(&f);

    /* Content-Length together with chunked is refused (smuggling). */
    fx_open(&f, 1024);
    rv = feed_str(&f, "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n");
    assert_int_equal(rv, FW_ERR_INVALID);
    assert_int_equal(f.rc.n, 0);
    fx_close(&f);
}

static void test_head_and_headers(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(
        feed_str(&f, "HEAD /h HTTP/1.1\r\nContent-Type: a\r\ncontent-TYPE:   b  \r\n\r\n"), 0);
    assert_int_equal(f.rc.n, 1);
    assert_int_equal(f.rc.req[0].method, FW_HTTP_HEAD);
    assert_string_equal(f.rc.req[0].content_type, "b"); /* last value wins, trimmed */
    const char *t = out_text(&f);
    assert_non_null(strstr(t, "Content-Length: 3\r\n"));
    size_t len = strlen(t);
    assert_true(len >= 4 && strcmp(t + len - 4, "\r\n\r\n") == 0); /* no body */
    fx_close(&f);

    /* Absolute-form target and a header value split across feeds. */
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET http://host:80/abs?q=1 HTTP/1.1\r\nUser-Agent: sp"), 0);
    assert_int_equal(feed_str(&f, "lit-agent\r\n\r\n"), 0);
    assert_int_equal(f.rc.n, 1);
    assert_string_equal(f.rc.req[0].path, "/abs");
    assert_string_equal(f.rc.req[0].query, "q=1");
    assert_string_equal(f.rc.req[0].user_agent, "split-agent");
    fx_close(&f);

    /* "OPTIONS *" has no path the handler can route: 400. */
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "OPTIONS * HTTP/1.1\r\n\r\n"), FW_ERR_INVALID);
    assert_int_equal(f.rc.n, 0);
    assert_non_null(strstr(out_text(&f), "400 Bad Request"));
    fx_close(&f);
}

static void test_upgrade_ignored(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_int_equal(feed_str(&f, "GET /u HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
                                  "GET /after HTTP/1.1\r\n\r\n"),
                     0);
    assert_int_equal(f.rc.n, 2);
    assert_string_equal(f.rc.req[1].path, "/after");
    assert_false(fw_h1_conn_want_close(f.conn));
    fx_close(&f);
}

/* Body buffers are reserved in the handler's budget: within it the
 * reservation grows with the body and is released after the answer; past
 * it (someone else holding memory) the request is answered at once with
 * the handler's over_budget answer and the connection closes. */
static void test_body_budget(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 64u * 1024u);
    fw_membudget b;
    fw_membudget_init(&b, 8u * 1024u);
    f.handler.budget = &b;
    fw_membudget_hold other = {0, false};
    assert_true(fw_membudget_reserve(&b, 100, &other));

    char body[20000];
    memset(body, 'x', sizeof body);
    char head[128];
    snprintf(head, sizeof head, "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n");
    assert_int_equal(feed_str(&f, head), 0);
    assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)body, 1000, &f.out), 0);
    assert_true(fw_membudget_used(&b) >= 100 + 1000);
    assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)body, 1000, &f.out), 0);
    assert_int_equal(f.rc.n, 1);
    assert_false(f.rc.req[0].over_budget);
    assert_true(f.rc.req[0].has_budget_held);
    assert_true(f.rc.req[0].held_at_dispatch >= 2000);
    assert_int_equal(f.rc.req[0].body_len, 2000);
    assert_non_null(strstr(out_text(&f), "HTTP/1.1 200"));
    assert_int_equal(fw_membudget_used(&b), 100); /* released after the answer */
    assert_false(fw_h1_conn_want_close(f.conn));

    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
             sizeof body);
    fw_buf_reset(&f.out);
    assert_int_equal(feed_str(&f, head), 0);
    assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)body, sizeof body, &f.out),
                     FW_ERR_OVERLOAD);
    assert_int_equal(f.rc.n, 2);
    assert_true(f.rc.req[1].over_budget);
    assert_int_equal(f.rc.req[1].body_len, 0);
    assert_non_null(strstr(out_text(&f), "HTTP/1.1 503"));
    assert_non_null(strstr(out_text(&f), "Connection: close"));
    assert_true(fw_h1_conn_want_close(f.conn));
    assert_int_equal(fw_membudget_used(&b), 100);
    assert_true(fw_membudget_refused(&b) >= 1);
    fx_close(&f);

    /* Alone, the same body is admitted although it passes the limit. */
    fw_membudget_release(&b, &other);
    fx_open(&f, 64u * 1024u);
    f.handler.budget = &b;
    assert_int_equal(feed_str(&f, head), 0);
    assert_int_equal(fw_h1_conn_feed(f.conn, (const uint8_t *)body, sizeof body, &f.out), 0);
    assert_int_equal(f.rc.n, 1);
    assert_false(f.rc.req[0].over_budget);
    assert_int_equal(f.rc.req[0].body_len, sizeof body);
    assert_true(fw_membudget_peak(&b) >= sizeof body);
    assert_int_equal(fw_membudget_used(&b), 0);
    fx_close(&f);
}

/* fw_h1_conn_in_headers: true from a request's first byte until its
 * header block is complete (the whole-header deadline of the net layer). */
static void test_in_headers(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024);
    assert_false(fw_h1_conn_in_headers(f.conn));
    assert_int_equal(feed_str(&f, "POST /a HTTP/1.1\r\nHo"), 0);
    assert_true(fw_h1_conn_in_headers(f.conn));
    assert_int_equal(feed_str(&f, "st: a\r\nContent-Length: 4\r\n"), 0);
    assert_true(fw_h1_conn_in_headers(f.conn));
    assert_int_equal(feed_str(&f, "\r\nab"), 0);
    assert_false(fw_h1_conn_in_headers(f.conn)); /* body phase */
    assert_true(fw_h1_conn_mid_request(f.conn));
    assert_int_equal(feed_str(&f, "cd"), 0);
    assert_false(fw_h1_conn_in_headers(f.conn));
    assert_false(fw_h1_conn_mid_request(f.conn));
    assert_int_equal(feed_str(&f, "G"), 0); /* the next request begins */
    assert_true(fw_h1_conn_in_headers(f.conn));
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_keep_alive),
        cmocka_unit_test(test_body_budget),
        cmocka_unit_test(test_in_headers),
        cmocka_unit_test(test_post_split_everywhere),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_expect_100_continue),
        cmocka_unit_test(test_body_too_large_content_length),
        cmocka_unit_test(test_body_too_large_chunked),
        cmocka_unit_test(test_body_exactly_at_limit),
        cmocka_unit_test(test_headers_too_large),
        cmocka_unit_test(test_garbage_400),
        cmocka_unit_test(test_head_and_headers),
        cmocka_unit_test(test_upgrade_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
