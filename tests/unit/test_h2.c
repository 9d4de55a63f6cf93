/* test_h2.c - the HTTP/2 core against a real nghttp2 client session over
 * memory: request assembly, plain and gRPC answers (trailers and
 * trailers-only), concurrent streams, the body and header-list limits,
 * GOAWAY shutdown and a bad preface. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "flywheel/h2.h"
#include "flywheel/membudget.h"

#define MAX_STREAMS 32

/* ---- server-side handler ------------------------------------------------ */

typedef struct seen_req {
    fw_http_method method;
    char path[128];
    char query[128];
    char content_type[64];
    char te[32];
    size_t body_len;
    bool body_too_large;
    bool over_budget;
    size_t held_at_dispatch; /* *budget_held when the handler ran */
    int http_major;
} seen_req;

typedef struct srv_ctx {
    seen_req req[MAX_STREAMS];
    size_t n;
} srv_ctx;


/* A decimal status code from a header value; -1 when it is not one. */
static int parse_code(const char *s)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0 || v > 999999) return -1;
    return (int)v;
}

static void copy_str(char *dst, size_t dstsz, fw_str s)
{
    size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
    if (n) memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void srv_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    srv_ctx *sc = ctx;
    if (sc->n < MAX_STREAMS) {
        seen_req *r = &sc->req[sc->n];
        r->method = req->method;
        copy_str(r->path, sizeof r->path, req->path);
        copy_str(r->query, sizeof r->query, req->query);
        copy_str(r->content_type, sizeof r->content_type, req->content_type);
        copy_str(r->te, sizeof r->te, req->te);
        r->body_len = req->body_len;
        r->body_too_large = req->body_too_large;
        r->over_budget = req->over_budget;
        r->held_at_dispatch = req->budget_held ? req->budget_held->bytes : 0;
        r->http_major = req->http_major;
    }
    sc->n++;
    if (req->over_budget) {
        resp->status = 503;
        resp->content_type = "text/plain";
        assert_int_equal(fw_buf_append_str(&resp->body, "busy"), 0);
        return;
    }
    if (fw_str_eq(req->path, "/grpc")) {
        resp->status = 200;
        resp->grpc = true;
        static const uint8_t msg[] = {0, 0, 0, 0, 4, 'p', 'o', 'n', 'g'};
        assert_int_equal(fw_buf_append(&resp->body, msg, sizeof msg), 0);
        resp->grpc_status = 0;
        return;
    }
    if (fw_str_eq(req->path, "/grpc-err")) {
        resp->status = 200;
        resp->grpc = true;
        resp->grpc_status = 3;
        snprintf(resp->grpc_message, sizeof resp->grpc_message, "bad\nthing 100%%");
        static const uint8_t details[] = {0x08, 0x03, 0x12, 0x01, 'x'};
        assert_int_equal(fw_buf_append(&resp->grpc_details, details, sizeof details), 0);
        return;
    }
    if (fw_str_eq(req->path, "/sink")) {
        resp->status = 200;
        assert_int_equal(fw_buf_printf(&resp->body, "%zu", req->body_len), 0);
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
    assert_int_equal(fw_http_response_header(resp, "x-seen", "%zu", sc->n), 0);
    assert_int_equal(fw_buf_append(&resp->body, req->path.ptr, req->path.len), 0);
    assert_int_equal(fw_buf_append_str(&resp->body, ":"), 0);
    if (req->body_len) assert_int_equal(fw_buf_append(&resp->body, req->body, req->body_len), 0);
}

/* ---- client session ----------------------------------------------------- */

typedef struct cli_stream {
    int32_t id;
    int status;
    char content_type[64];
    char x_seen[16];
    char body[256];
    size_t body_len;
    bool got_trailers;
    bool grpc_status_in_headers;
    int grpc_status;
    char grpc_message[128];
    char details[64];
    bool closed;
    uint32_t close_code;
} cli_stream;

typedef struct body_src {
    const uint8_t *data;
    size_t len;
    size_t off;
    size_t hold_at; /* defer once this many bytes are out (0: never) */
} body_src;

typedef struct client {
    nghttp2_session *session;
    cli_stream streams[MAX_STREAMS];
    size_t n;
    bool goaway;
    int32_t goaway_last;
    uint32_t goaway_code;
} client;

static cli_stream *cli_find(client *cl, int32_t id)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cl->streams[i].id == id) return &cl->streams[i];
    return NULL;
}

static void set_field(char *dst, size_t dstsz, const uint8_t *v, size_t n)
{
    copy_str(dst, dstsz, (fw_str){(const char *)v, n});
}

static int cli_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *user_data)
{
    (void)session;
    (void)flags;
    client *cl = user_data;
    cli_stream *s = cli_find(cl, frame->hd.stream_id);
    if (!s) return 0;
    bool trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
    fw_str n = {(const char *)name, namelen};
    char tmp[64];
    set_field(tmp, sizeof tmp, value, valuelen);
    if (fw_str_eq(n, ":status")) s->status = parse_code(tmp);
    if (fw_str_eq(n, "content-type"))
        set_field(s->content_type, sizeof s->content_type, value, valuelen);
    if (fw_str_eq(n, "x-seen")) set_field(s->x_seen, sizeof s->x_seen, value, valuelen);
    if (fw_str_eq(n, "grpc-status")) {
        s->grpc_status = parse_code(tmp);
        if (trailer)
            s->got_trailers = true;
        else
            s->grpc_status_in_headers = true;
    }
    if (fw_str_eq(n, "grpc-message"))
        set_field(s->grpc_message, sizeof s->grpc_message, value, valuelen);
    if (fw_str_eq(n, "grpc-status-details-bin"))
        set_field(s->details, sizeof s->details, value, valuelen);
    return 0;
}

static int cli_on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                       const uint8_t *data, size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    client *cl = user_data;
    cli_stream *s = cli_find(cl, stream_id);
    if (!s) return 0;
    assert_true(s->body_len + len <= sizeof s->body);
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    return 0;
}

static int cli_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    client *cl = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        cl->goaway = true;
        cl->goaway_last = frame->goaway.last_stream_id;
        cl->goaway_code = frame->goaway.error_code;
    }
    return 0;
}

static int cli_on_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                        void *user_data)
{
    (void)session;
    client *cl = user_data;
    cli_stream *s = cli_find(cl, stream_id);
    if (!s) return 0;
    s->closed = true;
    s->close_code = error_code;
    return 0;
}

static ssize_t cli_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                             size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                             void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)user_data;
    body_src *b = source->ptr;
    if (b->hold_at && b->off >= b->hold_at) return NGHTTP2_ERR_DEFERRED;
    size_t left = b->len - b->off;
    if (b->hold_at && b->hold_at - b->off < left) left = b->hold_at - b->off;
    size_t n = left < length ? left : length;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void cli_open(client *cl)
{
    memset(cl, 0, sizeof *cl);
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
    assert_int_equal(nghttp2_session_client_new(&cl->session, cbs, cl), 0);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(cl->session, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void cli_close(client *cl)
{
    nghttp2_session_del(cl->session);
    cl->session = NULL;
}

#define NV(n, v)                                                                       \
    {                                                                                  \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
    }

static cli_stream *cli_request(client *cl, const char *method, const char *path, const char *ctype,
                               body_src *body)
{
    nghttp2_nv nva[] = {
        NV(":method", method), NV(":scheme", "http"),     NV(":authority", "test"),
        NV(":path", path),     NV("content-type", ctype), NV("te", "trailers"),
    };
    nghttp2_data_provider prd = {.source.ptr = body, .read_callback = cli_read_body};
    int32_t id = nghttp2_submit_request(cl->session, NULL, nva, sizeof nva / sizeof nva[0],
                                        body ? &prd : NULL, NULL);
    assert_true(id > 0);
    assert_true(cl->n < MAX_STREAMS);
    cli_stream *s = &cl->streams[cl->n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->grpc_status = -1;
    return s;
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(client *cl, fw_h2_conn *srv)
{
    for (int round = 0; round < 1000; round++) {
        bool moved = false;
        for (;;) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(cl->session, &data);
            assert_true(n >= 0);
            if (n == 0) break;
            moved = true;
            if (fw_h2_conn_feed(srv, data, (size_t)n) != 0) return;
        }
        fw_buf out;
        fw_buf_init(&out, 1u << 20);
        assert_int_equal(fw_h2_conn_drain(srv, &out), 0);
        if (out.len) {
            moved = true;
            ssize_t r = nghttp2_session_mem_recv(cl->session, out.data, out.len);
            assert_int_equal(r, (ssize_t)out.len);
        }
        fw_buf_free(&out);
        if (!moved) return;
    }
    fail_msg("pump did not settle");
}

typedef struct fixture {
    srv_ctx sc;
    fw_http_handler handler;
    fw_h2_conn *srv;
    client cl;
} fixture;

static void fx_open(fixture *f, size_t max_body, uint32_t max_header_list)
{
    memset(f, 0, sizeof *f);
    f->handler = (fw_http_handler){srv_handle, &f->sc, max_body, 1u << 20, NULL};
    fw_h2_limits lim = {.max_concurrent_streams = 16, .max_header_list = max_header_list};
    f->srv = fw_h2_conn_new(&f->handler, &lim, false);
    assert_non_null(f->srv);
    cli_open(&f->cl);
}

static void fx_close(fixture *f)
{
    cli_close(&f->cl);
    fw_h2_conn_free(f->srv);
    f->srv = NULL;
}

/* ---- tests -------------------------------------------------------------- */

static void test_post_with_body(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    static const uint8_t payload[] = "hello h2";
    body_src b = {payload, sizeof payload - 1, 0, 0};
    cli_stream *s = cli_request(&f.cl, "POST", "/v1/traces?x=1", "application/x-protobuf", &b);
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 1);
    assert_int_equal(f.sc.req[0].method, FW_HTTP_POST);
    assert_string_equal(f.sc.req[0].path, "/v1/traces");
    assert_string_equal(f.sc.req[0].query, "x=1");
    assert_string_equal(f.sc.req[0].content_type, "application/x-protobuf");
    assert_string_equal(f.sc.req[0].te, "trailers");
    assert_int_equal(f.sc.req[0].http_major, 2);
    assert_int_equal(f.sc.req[0].body_len, 8);
    assert_true(s->closed);
    assert_int_equal(s->close_code, NGHTTP2_NO_ERROR);
    assert_int_equal(s->status, 200);
    assert_string_equal(s->content_type, "text/plain");
    assert_string_equal(s->x_seen, "1");
    assert_int_equal(s->body_len, strlen("/v1/traces:hello h2"));
    assert_memory_equal(s->body, "/v1/traces:hello h2", s->body_len);
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 0);
    assert_int_equal(fw_h2_conn_stats(f.srv)->requests, 1);
    assert_false(fw_h2_conn_want_close(f.srv));
    fx_close(&f);
}

static void test_grpc_trailers(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    static const uint8_t req[] = {0, 0, 0, 0, 4, 'p', 'i', 'n', 'g'};
    body_src b = {req, sizeof req, 0, 0};
    cli_stream *ok = cli_request(&f.cl, "POST", "/grpc", "application/grpc", &b);
    body_src b2 = {req, sizeof req, 0, 0};
    cli_stream *err = cli_request(&f.cl, "POST", "/grpc-err", "application/grpc+proto", &b2);
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 2);

    /* Headers, DATA with the framed message, then trailers. */
    assert_true(ok->closed);
    assert_int_equal(ok->status, 200);
    assert_string_equal(ok->content_type, "application/grpc");
    assert_int_equal(ok->body_len, 9);
    assert_memory_equal(ok->body, "\0\0\0\0\4pong", 9);
    assert_true(ok->got_trailers);
    assert_false(ok->grpc_status_in_headers);
    assert_int_equal(ok->grpc_status, 0);
    assert_string_equal(ok->grpc_message, "");

    /* No body: trailers-only, the status rides on the HEADERS frame. */
    assert_true(err->closed);
    assert_int_equal(err->status, 200);
    assert_true(err->grpc_status_in_headers);
    assert_int_equal(err->grpc_status, 3);
    assert_string_equal(err->grpc_message, "bad%0Athing 100%25");
    assert_string_equal(err->details, "CAMSAXg");
    assert_int_equal(err->body_len, 0);
    fx_close(&f);
}

static void test_concurrent_streams(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    enum { N = 12 };
    char paths[N][16];
    uint8_t bodies[N][8];
    body_src src[N];
    cli_stream *s[N];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "/s%d", i);
        memset(bodies[i], 'a' + i, sizeof bodies[i]);
        src[i] = (body_src){bodies[i], sizeof bodies[i], 0, 4};
        s[i] = cli_request(&f.cl, "POST", paths[i], "text/plain", &src[i]);
    }
    pump(&f.cl, f.srv);
    /* Every stream sent half its body: all open at once, none answered. */
    assert_int_equal(fw_h2_conn_active_streams(f.srv), N);
    assert_int_equal(f.sc.n, 0);
    for (int i = N - 1; i >= 0; i--) {
        src[i].hold_at = 0;
        assert_int_equal(nghttp2_session_resume_data(f.cl.session, s[i]->id), 0);
    }
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, N);
    for (int i = 0; i < N; i++) {
        char want[64];
        int w = snprintf(want, sizeof want, "/s%d:%.8s", i, (const char *)bodies[i]);
        assert_true(s[i]->closed);
        assert_int_equal(s[i]->status, 200);
        assert_int_equal(s[i]->body_len, (size_t)w);
        assert_memory_equal(s[i]->body, want, (size_t)w);
    }
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 0);
    fx_close(&f);
}

static void test_body_too_large(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 16, 0);
    uint8_t big[64];
    memset(big, 'z', sizeof big);
    /* The client pauses after 40 bytes: the server answers 413 at once
     * and drops the rest of the body as it comes, without a reset (gRPC
     * clients turn an early RST_STREAM into an error nobody retries). */
    body_src b = {big, sizeof big, 0, 40};
    cli_stream *s = cli_request(&f.cl, "POST", "/big", "application/x-protobuf", &b);
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 1);
    assert_true(f.sc.req[0].body_too_large);
    assert_int_equal(f.sc.req[0].body_len, 0);
    assert_int_equal(s->status, 413);
    assert_memory_equal(s->body, "too large", 9);
    assert_false(s->closed); /* the client is still sending */
    b.hold_at = 0;
    assert_int_equal(nghttp2_session_resume_data(f.cl.session, s->id), 0);
    pump(&f.cl, f.srv);
    assert_true(s->closed);
    assert_int_equal(s->close_code, NGHTTP2_NO_ERROR);
    assert_int_equal(f.sc.n, 1); /* the handler ran once */
    const fw_h2_stats *st = fw_h2_conn_stats(f.srv);
    assert_int_equal(st->too_large, 1);
    assert_int_equal(st->resets_sent, 0);
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 0);

    /* The connection keeps serving other streams. */
    body_src small = {(const uint8_t *)"ok", 2, 0, 0};
    cli_stream *s2 = cli_request(&f.cl, "POST", "/after", "text/plain", &small);
    pump(&f.cl, f.srv);
    assert_int_equal(s2->status, 200);
    assert_memory_equal(s2->body, "/after:ok", 9);
    assert_false(fw_h2_conn_want_close(f.srv));
    fx_close(&f);
}

/* Stream bodies are reserved in the handler's budget: past it (with
 * memory held elsewhere) the stream is answered 503 at once and reset with
 * NO_ERROR, the reservation is given back, other streams go on. */
static void test_body_budget(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 64u * 1024u, 0);
    fw_membudget b;
    fw_membudget_init(&b, 8u * 1024u);
    f.handler.budget = &b;
    fw_membudget_hold other = {0, false};
    assert_true(fw_membudget_reserve(&b, 100, &other));

    static uint8_t big[20000];
    memset(big, 'q', sizeof big);
    body_src src = {big, sizeof big, 0, 0};
    cli_stream *s = cli_request(&f.cl, "POST", "/big", "application/x-protobuf", &src);
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 1);
    assert_true(f.sc.req[0].over_budget);
    assert_int_equal(f.sc.req[0].body_len, 0);
    assert_int_equal(s->status, 503);
    assert_true(s->closed);
    assert_int_equal(fw_membudget_used(&b), 100);
    assert_true(fw_membudget_refused(&b) >= 1);

    body_src small = {(const uint8_t *)"hello", 5, 0, 0};
    cli_stream *s2 = cli_request(&f.cl, "POST", "/small", "text/plain", &small);
    pump(&f.cl, f.srv);
    assert_int_equal(s2->status, 200);
    assert_memory_equal(s2->body, "/small:hello", 12);
    assert_true(f.sc.req[1].held_at_dispatch >= 5);
    assert_int_equal(fw_membudget_used(&b), 100);
    assert_false(fw_h2_conn_want_close(f.srv));

    /* Alone, the big body is admitted. */
    fw_membudget_release(&b, &other);
    body_src again = {big, sizeof big, 0, 0};
    cli_stream *s3 = cli_request(&f.cl, "POST", "/sink", "application/x-protobuf", &again);
    pump(&f.cl, f.srv);
    assert_int_equal(s3->status, 200);
    assert_memory_equal(s3->body, "20000", 5);
    assert_int_equal(fw_membudget_used(&b), 0);
    assert_true(fw_membudget_peak(&b) >= sizeof big);
    fx_close(&f);
}

/* An early-answered stream whose client keeps sending far past the limit
 * (more than H2_DISCARD_MIN dropped) is reset with NO_ERROR after the
 * answer; the connection goes on. */
static void test_discard_limit(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 16, 0);
    static uint8_t flood[3u << 20];
    memset(flood, 'f', sizeof flood);
    body_src b = {flood, sizeof flood, 0, 0};
    cli_stream *s = cli_request(&f.cl, "POST", "/flood", "application/x-protobuf", &b);
    pump(&f.cl, f.srv);
    assert_int_equal(s->status, 413);
    assert_true(s->closed);
    assert_int_equal(s->close_code, NGHTTP2_NO_ERROR);
    assert_int_equal(fw_h2_conn_stats(f.srv)->resets_sent, 1);
    body_src small = {(const uint8_t *)"ok", 2, 0, 0};
    cli_stream *s2 = cli_request(&f.cl, "POST", "/after", "text/plain", &small);
    pump(&f.cl, f.srv);
    assert_int_equal(s2->status, 200);
    assert_false(fw_h2_conn_want_close(f.srv));
    fx_close(&f);
}

static void test_content_length_too_large(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 16, 0);
    nghttp2_nv nva[] = {
        NV(":method", "POST"), NV(":scheme", "http"),        NV(":authority", "t"),
        NV(":path", "/cl"),    NV("content-length", "1000"),
    };
    uint8_t big[1000];
    memset(big, 'q', sizeof big);
    body_src b = {big, sizeof big, 0, 1}; /* one byte, then hold */
    nghttp2_data_provider prd = {.source.ptr = &b, .read_callback = cli_read_body};
    int32_t id = nghttp2_submit_request(f.cl.session, NULL, nva, 5, &prd, NULL);
    assert_true(id > 0);
    cli_stream *s = &f.cl.streams[f.cl.n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 1);
    assert_true(f.sc.req[0].body_too_large);
    assert_int_equal(s->status, 413);
    assert_false(s->closed); /* answered; the rest of the body is dropped */
    b.hold_at = 0;
    assert_int_equal(nghttp2_session_resume_data(f.cl.session, s->id), 0);
    pump(&f.cl, f.srv);
    assert_true(s->closed);
    assert_int_equal(s->close_code, NGHTTP2_NO_ERROR);
    assert_int_equal(f.sc.n, 1);
    fx_close(&f);
}

static void test_header_list_too_large(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 1024);
    char big[2048];
    memset(big, 'h', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    nghttp2_nv nva[] = {
        NV(":method", "GET"), NV(":scheme", "http"), NV(":authority", "t"),
        NV(":path", "/h"),    NV("x-big", big),
    };
    int32_t id = nghttp2_submit_request(f.cl.session, NULL, nva, 5, NULL, NULL);
    assert_true(id > 0);
    cli_stream *s = &f.cl.streams[f.cl.n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    pump(&f.cl, f.srv);
    assert_int_equal(f.sc.n, 0);
    assert_int_equal(s->status, 431);
    assert_true(s->closed);
    assert_int_equal(fw_h2_conn_stats(f.srv)->too_large, 1);
    fx_close(&f);
}

static void test_goaway_shutdown(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    static const uint8_t payload[] = "0123456789";
    body_src b = {payload, 10, 0, 5};
    cli_stream *s = cli_request(&f.cl, "POST", "/inflight", "text/plain", &b);
    pump(&f.cl, f.srv);
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 1);

    fw_h2_conn_shutdown(f.srv);
    fw_h2_conn_shutdown(f.srv); /* idempotent */
    pump(&f.cl, f.srv);
    assert_true(f.cl.goaway);
    assert_int_equal(f.cl.goaway_code, NGHTTP2_NO_ERROR);
    assert_int_equal(f.cl.goaway_last, s->id);
    assert_false(fw_h2_conn_want_close(f.srv)); /* the stream is still in flight */

    b.hold_at = 0;
    assert_int_equal(nghttp2_session_resume_data(f.cl.session, s->id), 0);
    pump(&f.cl, f.srv);
    assert_int_equal(s->status, 200);
    assert_memory_equal(s->body, "/inflight:0123456789", 20);
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 0);
    assert_true(fw_h2_conn_want_close(f.srv));
    fx_close(&f);
}

/* Bodies far past the default 64 KiB windows flow: the server raised its
 * windows and credits consumed DATA back. */
static void test_large_body_flow_control(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 32u << 20, 0);
    size_t len = 20u << 20;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    memset(big, 'w', len);
    body_src b = {big, len, 0, 0};
    cli_stream *s = cli_request(&f.cl, "POST", "/sink", "application/grpc", &b);
    pump(&f.cl, f.srv);
    assert_true(s->closed);
    assert_int_equal(s->status, 200);
    assert_string_equal(s->body, "20971520");
    assert_int_equal(f.sc.req[0].body_len, len);
    free(big);
    fx_close(&f);
}

/* Freeing the connection with streams mid-request releases them all
 * (ASan checks for leaks and double frees). */
static void test_free_with_open_streams(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    body_src src[3];
    for (int i = 0; i < 3; i++) {
        src[i] = (body_src){(const uint8_t *)"0123456789", 10, 0, 3};
        (void)cli_request(&f.cl, "POST", "/open", "text/plain", &src[i]);
    }
    pump(&f.cl, f.srv);
    assert_int_equal(fw_h2_conn_active_streams(f.srv), 3);
    assert_int_equal(f.sc.n, 0);
    assert_int_equal(fw_h2_conn_stats(f.srv)->streams, 3);
    fx_close(&f);
}

static void test_bad_preface(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int rv = fw_h2_conn_feed(f.srv, (const uint8_t *)junk, sizeof junk - 1);
    assert_true(rv < 0);
    fw_buf out;
    fw_buf_init(&out, 1u << 16);
    assert_int_equal(fw_h2_conn_drain(f.srv, &out), 0);
    fw_buf_free(&out);
    assert_true(fw_h2_conn_want_close(f.srv));
    assert_int_equal(fw_h2_conn_feed(f.srv, (const uint8_t *)junk, 4), FW_ERR_CLOSED);
    assert_int_equal(fw_h2_conn_stats(f.srv)->protocol_errors, 1);
    fx_close(&f);
}

/* The caller's |out| may be tiny: nothing is lost between drains. */
static void test_small_out_buffer(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, 1024, 0);
    body_src b = {(const uint8_t *)"abc", 3, 0, 0};
    cli_stream *s = cli_request(&f.cl, "POST", "/tiny", "text/plain", &b);
    for (int round = 0; round < 10000 && !s->closed; round++) {
        const uint8_t *data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(f.cl.session, &data)) > 0)
            assert_int_equal(fw_h2_conn_feed(f.srv, data, (size_t)n), 0);
        fw_buf out;
        fw_buf_init(&out, 7);
        assert_int_equal(fw_h2_conn_drain(f.srv, &out), 0);
        assert_true(out.len <= 7);
        if (out.len)
            assert_int_equal(nghttp2_session_mem_recv(f.cl.session, out.data, out.len),
                             (ssize_t)out.len);
        fw_buf_free(&out);
    }
    assert_true(s->closed);
    assert_memory_equal(s->body, "/tiny:abc", 9);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_with_body),
        cmocka_unit_test(test_grpc_trailers),
        cmocka_unit_test(test_concurrent_streams),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_discard_limit),
        cmocka_unit_test(test_body_budget),
        cmocka_unit_test(test_content_length_too_large),
        cmocka_unit_test(test_header_list_too_large),
        cmocka_unit_test(test_goaway_shutdown),
        cmocka_unit_test(test_large_body_flow_control),
        cmocka_unit_test(test_free_with_open_streams),
        cmocka_unit_test(test_bad_preface),
        cmocka_unit_test(test_small_out_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
