/* test_net.c - the network front over real sockets on 127.0.0.1:0:
 * HTTP/1.1 keep-alive, HTTP/2 prior knowledge (an nghttp2 client session),
 * TLS with ALPN h2 / http/1.1 and mutual TLS, max_connections, header
 * timeout (and none when only the worker was late), graceful stop with a
 * request in flight, two servers in one process, address errors.
 * Synchronization is by socket events with poll timeouts, never by
 * sleeping (one test sleeps to make the worker outlast a timeout). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "flywheel/log.h"
#include "flywheel/server.h"

#define IO_TIMEOUT_MS 5000

/* ---- the application: echoes tag, path, HTTP version and body ---- */

typedef struct echo_ctx {
    const char *tag;
    atomic_int calls;
} echo_ctx;

static void echo_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    echo_ctx *e = ctx;

    atomic_fetch_add(&e->calls, 1);
    resp->status = 200;
    resp->content_type = "text/plain";
    if (fw_buf_printf(&resp->body, "%s %.*s %d %zu:", e->tag, (int)req->path.len, req->path.ptr,
                      req->http_major, req->body_len) != 0 ||
        (req->body_len > 0 && fw_buf_append(&resp->body, req->body, req->body_len) != 0))
        resp->status = 500;
}

static fw_http_handler echo_handler(echo_ctx *e)
{
    fw_http_handler h = {echo_handle, e, 1u << 20, 1u << 20, NULL};
    return h;
}

static fw_server_config base_config(echo_ctx *e, unsigned workers)
{
    fw_server_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.listeners[0].name = "test";
    cfg.listeners[0].addr = "127.0.0.1:0";
    cfg.listeners[0].allow_h1 = true;
    cfg.listeners[0].allow_h2 = true;
    cfg.listeners[0].handler = echo_handler(e);
    cfg.n_listeners = 1;
    cfg.workers = workers;
    cfg.max_connections = 64;
    cfg.idle_timeout_s = 30;
    cfg.header_timeout_s = 10;
    cfg.h2_max_concurrent_streams = 16;
    return cfg;
}

static fw_server *start(const fw_server_config *cfg)
{
    fw_server *s = NULL;
    char err[512];

    if (fw_server_new(cfg, &s, err, sizeof(err)) != 0)
        fail_msg("fw_server_new: %s", err);
    assert_int_equal(fw_server_start(s), 0);
    return s;
}

static int port_of(const fw_server *s, size_t i)
{
    const char *a = fw_server_bound_addr(s, i);
    const char *colon;
    int port = 0;

    assert_non_null(a);
    colon = strrchr(a, ':');
    assert_non_null(colon);
    for (const char *p = colon + 1; *p; p++) {
        assert_true(*p >= '0' && *p <= '9');
        port = port * 10 + (*p - '0');
    }
    assert_true(port > 0 && port < 65536);
    return port;
}

/* ---- client transport: a blocking socket, optionally with TLS ---- */

typedef struct client {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char rbuf[8192]; /* HTTP/1.1 bytes received but not yet parsed */
    size_t rlen;
} client;

static int tcp_connect(int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Timeouts keep a broken server from hanging the test. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static client cl_open(int port)
{
    client c;
    memset(&c, 0, sizeof(c));
    c.fd = tcp_connect(port);
    assert_true(c.fd >= 0);
    return c;
}

/* TLS client offering |alpn| (wire format); |cert|/|key| optional. Returns
 * the SSL_connect result (1 on success). */
static int cl_open_tls(client *c, int port, const unsigned char *alpn, unsigned alpn_len,
                       const char *cert, const char *key)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect(port);
    assert_true(c->fd >= 0);
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (alpn != NULL)
        assert_int_equal(SSL_CTX_set_alpn_protos(c->ctx, alpn, alpn_len), 0);
    if (cert != NULL) {
        assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set_fd(c->ssl, c->fd);
    return SSL_connect(c->ssl);
}

static void cl_close(client *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->ctx != NULL)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
    c->rlen = 0;
    ERR_clear_error();
}

static int cl_send(client *c, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL)
            w = SSL_write(c->ssl, b, (int)n);
        else
            w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Bytes read (> 0), 0 on EOF, -1 on error or timeout. */
static ssize_t cl_recv(client *c, void *p, size_t n)
{
    if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, IO_TIMEOUT_MS) != 1)
            return -1;
    }
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, (int)n);
        if (r > 0)
            return r;
        return SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    return recv(c->fd, p, n, 0);
}

/* Waits for the server to close: EOF or a reset both count. */
static bool cl_wait_closed(client *c)
{
    char b[512];
    for (int i = 0; i < 1000; i++) {
        ssize_t r = cl_recv(c, b, sizeof(b));
        if (r == 0)
            return true;
        if (r < 0)
            return errno == ECONNRESET || c->ssl != NULL;
    }
    return false;
}

/* ---- HTTP/1.1 client ---- */

typedef struct h1_resp {
    int status;
    char head[2048];
    char body[4096];
    size_t body_len;
} h1_resp;

static int parse_uint(const char *p, size_t *out)
{
    size_t v = 0;
    int digits = 0;
    while (*p == ' ')
        p++;
    while (*p >= '0' && *p <= '9' && digits < 9) {
        v = v * 10 + (size_t)(*p - '0');
        p++;
        digits++;
    }
    *out = v;
    return digits > 0 ? 0 : -1;
}

/* Reads one response with a Content-Length body; bytes past it stay in
 * the client's carry-over buffer (pipelining). Returns 0 or -1. */
static int h1_read(client *c, h1_resp *r)
{
    char *buf = c->rbuf;
    char *end;
    size_t cl = 0;
    size_t hlen;
    char *p;

    memset(r, 0, sizeof(*r));
    buf[c->rlen] = '\0';
    while ((end = strstr(buf, "\r\n\r\n")) == NULL) {
        ssize_t n;
        if (c->rlen >= sizeof(c->rbuf) - 1)
            return -1;
        n = cl_recv(c, buf + c->rlen, sizeof(c->rbuf) - 1 - c->rlen);
        if (n <= 0)
            return -1;
        c->rlen += (size_t)n;
        buf[c->rlen] = '\0';
    }
    hlen = (size_t)(end - buf) + 4;
    if (hlen >= sizeof(r->head) || strncmp(buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    memcpy(r->head, buf, hlen);
    r->head[hlen] = '\0';
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    p = strcasestr(r->head, "\r\ncontent-length:");
    if (p == NULL || parse_uint(p + 17, &cl) != 0 || cl >= sizeof(r->body))
        return -1;
    while (c->rlen - hlen < cl) {
        ssize_t n;
        if (c->rlen >= sizeof(c->rbuf) - 1)
            return -1;
        n = cl_recv(c, buf + c->rlen, sizeof(c->rbuf) - 1 - c->rlen);
        if (n <= 0)
            return -1;
        c->rlen += (size_t)n;
    }
    memcpy(r->body, buf + hlen, cl);
    r->body[cl] = '\0';
    r->body_len = cl;
    memmove(buf, buf + hlen + cl, c->rlen - hlen - cl);
    c->rlen -= hlen + cl;
    return 0;
}

static void h1_expect(client *c, const char *req, int status, const char *body)
{
    h1_resp r;
    if (cl_send(c, req, strlen(req)) != 0)
        fail_msg("send failed: %.40s", req);
    if (h1_read(c, &r) != 0)
        fail_msg("no response to: %.12s (errno %d, rlen %zu)", req, errno, c->rlen);
    assert_int_equal(r.status, status);
    assert_string_equal(r.body, body);
}

/* ---- HTTP/2 client (nghttp2) ---- */

typedef struct h2_client {
    client *io;
    nghttp2_session *session;
    int status;
    char body[4096];
    size_t body_len;
    bool stream_closed;
    bool got_settings;
    bool got_goaway;
    bool eof;
    const char *req_body;
    size_t req_body_off;
} h2_client;

static ssize_t h2c_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    h2_client *h = ud;
    (void)s;
    (void)flags;
    return cl_send(h->io, data, len) == 0 ? (ssize_t)len : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int h2c_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud)
{
    h2_client *h = ud;
    size_t st = 0;
    (void)s;
    (void)f;
    (void)flags;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3) {
        char v[4];
        memcpy(v, value, 3);
        v[3] = '\0';
        if (parse_uint(v, &st) == 0)
            h->status = (int)st;
    }
    return 0;
}

static int h2c_on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                       size_t len, void *ud)
{
    h2_client *h = ud;
    (void)s;
    (void)flags;
    (void)stream_id;
    if (h->body_len + len < sizeof(h->body)) {
        memcpy(h->body + h->body_len, data, len);
        h->body_len += len;
        h->body[h->body_len] = '\0';
    }
    return 0;
}

static int h2c_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    h2_client *h = ud;
    (void)s;
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
        h->got_settings = true;
    if (f->hd.type == NGHTTP2_GOAWAY)
        h->got_goaway = true;
    return 0;
}

static int h2c_on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    h2_client *h = ud;
    (void)s;
    (void)stream_id;
    (void)error_code;
    h->stream_closed = true;
    return 0;
}

static ssize_t h2c_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                             uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    h2_client *h = ud;
    size_t left = strlen(h->req_body) - h->req_body_off;
    size_t n = left < length ? left : length;
    (void)s;
    (void)stream_id;
    (void)src;
    memcpy(buf, h->req_body + h->req_body_off, n);
    h->req_body_off += n;
    if (h->req_body_off == strlen(h->req_body))
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void h2c_init(h2_client *h, client *io)
{
    nghttp2_session_callbacks *cbs;

    memset(h, 0, sizeof(*h));
    h->io = io;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_send_callback(cbs, h2c_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2c_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2c_on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2c_on_close);
    assert_int_equal(nghttp2_session_client_new(&h->session, cbs, h), 0);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/* Sends and receives until |done| holds; false on EOF/timeout first. */
static bool h2c_run(h2_client *h, bool (*done)(const h2_client *))
{
    uint8_t buf[16384];
    for (int i = 0; i < 1000; i++) {
        ssize_t n;
        if (nghttp2_session_send(h->session) != 0)
            return false;
        if (done(h))
            return true;
        n = cl_recv(h->io, buf, sizeof(buf));
        if (n <= 0) {
            h->eof = true;
            return done(h);
        }
        if (nghttp2_session_mem_recv(h->session, buf, (size_t)n) != n)
            return false;
    }
    return false;
}

static bool h2c_stream_done(const h2_client *h)
{
    return h->stream_closed;
}

static bool h2c_goaway_and_eof(const h2_client *h)
{
    return h->got_goaway && h->eof;
}

/* POSTs |body| to |path| and waits for the whole response. */
static void h2c_post(h2_client *h, const char *path, const char *body, bool tls)
{
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)(tls ? "https" : "http"), 7, tls ? 5 : 4,
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider dp;

    h->req_body = body;
    h->req_body_off = 0;
    h->stream_closed = false;
    h->status = 0;
    h->body_len = 0;
    h->body[0] = '\0';
    dp.source.ptr = NULL;
    dp.read_callback = h2c_read_body;
    assert_true(nghttp2_submit_request(h->session, NULL, nv, sizeof(nv) / sizeof(nv[0]), &dp,
                                       NULL) > 0);
    assert_true(h2c_run(h, h2c_stream_done));
}

static void h2c_free(h2_client *h)
{
    nghttp2_session_del(h->session);
    h->session = NULL;
}

/* ---- tests ---- */

static void test_bad_config(void **state)
{
    echo_ctx e = {"A", 0};
    fw_server_config cfg = base_config(&e, 1);
    fw_server *s = (fw_server *)0x1;
    char err[512];
    const char *bad[] = {"nonsense", "127.0.0.1:99999", "[::1", "127.0.0.1:", "::1:80",
                         "127.0.0.1:8x"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.listeners[0].addr = bad[i];
        err[0] = '\0';
        assert_int_equal(fw_server_new(&cfg, &s, err, sizeof(err)), FW_ERR_CONFIG);
        assert_null(s);
        assert_non_null(strstr(err, bad[i]));
    }
    cfg = base_config(&e, 0);
    assert_int_equal(fw_server_new(&cfg, &s, err, sizeof(err)), FW_ERR_CONFIG);
    cfg = base_config(&e, 1);
    cfg.listeners[0].allow_h1 = false;
    cfg.listeners[0].allow_h2 = false;
    assert_int_equal(fw_server_new(&cfg, &s, err, sizeof(err)), FW_ERR_CONFIG);
    cfg = base_config(&e, 1);
    cfg.listeners[0].handler.handle = NULL;
    assert_int_equal(fw_server_new(&cfg, &s, err, sizeof(err)), FW_ERR_CONFIG);
    cfg = base_config(&e, 1);
    cfg.listeners[0].tls.cert_file = "/nonexistent/cert.pem";
    cfg.listeners[0].tls.key_file = "/nonexistent/key.pem";
    assert_int_equal(fw_server_new(&cfg, &s, err, sizeof(err)), FW_ERR_TLS);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    fw_server_free(NULL);
}

static void test_h1_keepalive(void **state)
{
    echo_ctx e = {"A", 0};
    fw_server_config cfg = base_config(&e, 2);
    fw_server *s = start(&cfg);
    client c = cl_open(port_of(s, 0));
    fw_server_stats st;

    (void)state;
    h1_expect(&c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", 200, "A /first 1 0:");
    /* Same connection: keep-alive. */
    h1_expect(&c,
              "POST /second HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
              "Content-Length: 5\r\n\r\nhello",
              200, "A /second 1 5:hello");
    /* Two pipelined requests in one write. */
    {
        const char *two = "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n";
        h1_resp r;
        assert_int_equal(cl_send(&c, two, strlen(two)), 0);
        assert_int_equal(h1_read(&c, &r), 0);
        assert_string_equal(r.body, "A /p1 1 0:");
        assert_int_equal(h1_read(&c, &r), 0);
        assert_string_equal(r.body, "A /p2 1 0:");
    }
    h1_expect(&c, "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
              "A /last 1 0:");
    assert_true(cl_wait_closed(&c));
    cl_close(&c);
    assert_int_equal(atomic_load(&e.calls), 5);

    fw_server_get_stats(s, &st);
    assert_int_equal(st.connections_accepted, 1);
    assert_int_equal(st.connections_rejected, 0);
    fw_server_stop(s, 1000);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.connections_active, 0);
    fw_server_free(s);
}

static void test_h2_prior_knowledge(void **state)
{
    echo_ctx e = {"B", 0};
    fw_server_config cfg = base_config(&e, 2);
    fw_server *s = start(&cfg);
    client c = cl_open(port_of(s, 0));
    h2_client h;

    (void)state;
    h2c_init(&h, &c);
    h2c_post(&h, "/h2", "ping", false);
    assert_true(h.got_settings);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "B /h2 2 4:ping");
    /* A second stream on the same connection. */
    h2c_post(&h, "/again", "", false);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "B /again 2 0:");
    h2c_free(&h);
    cl_close(&c);
    fw_server_stop(s, 1000);
    fw_server_free(s);
}

static void test_protocol_not_allowed(void **state)
{
    echo_ctx e = {"G", 0};
    fw_server_config cfg = base_config(&e, 1);
    fw_server *s;
    client c;
    fw_server_stats st;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    (void)state;
    cfg.listeners[0].allow_h1 = false; /* the OTLP/gRPC listener's shape */
    s = start(&cfg);
    c = cl_open(port_of(s, 0));
    assert_int_equal(cl_send(&c, req, strlen(req)), 0);
    assert_true(cl_wait_closed(&c));
    cl_close(&c);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.protocol_errors, 1);
    assert_int_equal(atomic_load(&e.calls), 0);
    fw_server_stop(s, 1000);
    fw_server_free(s);
}

static void test_max_connections(void **state)
{
    echo_ctx e = {"C", 0};
    fw_server_config cfg = base_config(&e, 2);
    fw_server *s;
    client c1, c2, c3;
    fw_server_stats st;
    int port;
    bool served = false;

    (void)state;
    cfg.max_connections = 2;
    s = start(&cfg);
    port = port_of(s, 0);
    c1 = cl_open(port);
    c2 = cl_open(port);
    h1_expect(&c1, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "C /1 1 0:");
    h1_expect(&c2, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "C /2 1 0:");
    /* Both are counted now; the third is accepted and closed at once. */
    c3 = cl_open(port);
    assert_true(cl_wait_closed(&c3));
    cl_close(&c3);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.connections_rejected, 1);
    assert_int_equal(st.connections_active, 2);

    /* Once one closes, a slot frees up (the server sees the close
     * asynchronously, so retry a bounded number of times). */
    cl_close(&c1);
    for (int i = 0; i < 200 && !served; i++) {
        h1_resp r;
        const char *req = "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
        c3 = cl_open(port);
        if (cl_send(&c3, req, strlen(req)) == 0 && h1_read(&c3, &r) == 0) {
            assert_string_equal(r.body, "C /3 1 0:");
            served = true;
        } else {
            struct pollfd none;
            (void)poll(&none, 0, 5); /* back off before the next attempt */
        }
        cl_close(&c3);
    }
    assert_true(served);
    cl_close(&c2);
    fw_server_stop(s, 1000);
    fw_server_free(s);
}

static void test_timeouts(void **state)
{
    echo_ctx e = {"D", 0};
    fw_server_config cfg = base_config(&e, 1);
    fw_server *s;
    client slow, idle;
    fw_server_stats st;
    const char *partial = "GET /slow HTTP/1.1\r\nHost";

    (void)state;
    cfg.header_timeout_s = 1;
    cfg.idle_timeout_s = 1;
    s = start(&cfg);
    slow = cl_open(port_of(s, 0));
    idle = cl_open(port_of(s, 0));
    /* Slowloris: a header that never completes. */
    assert_int_equal(cl_send(&slow, partial, strlen(partial)), 0);
    /* Idle keep-alive after one answered request. */
    h1_expect(&idle, "GET /once HTTP/1.1\r\nHost: x\r\n\r\n", 200, "D /once 1 0:");
    assert_true(cl_wait_closed(&slow)); /* within IO_TIMEOUT_MS */
    assert_true(cl_wait_closed(&idle));
    cl_close(&slow);
    cl_close(&idle);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(atomic_load(&e.calls), 1);
    fw_server_stop(s, 1000);
    fw_server_free(s);
}

/* A stalled header is closed once header_timeout has passed, not after
 * twice that (the timer's loop time is a little earlier than the stamp of
 * the last read; that must not re-arm a deadline that did pass). Several
 * clients, since the skew decides per connection. */
static void test_header_timeout_not_doubled(void **state)
{
    echo_ctx e = {"T", 0};
    fw_server_config cfg = base_config(&e, 1);
    fw_server *s;
    client slow[6];
    const char *partial = "POST /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct timespec t0, t1;

    (void)state;
    cfg.header_timeout_s = 1;
    cfg.idle_timeout_s = 30;
    s = start(&cfg);
    for (size_t i = 0; i < 6; i++) {
        slow[i] = cl_open(port_of(s, 0));
        assert_int_equal(cl_send(&slow[i], partial, strlen(partial)), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < 6; i++) {
        assert_true(cl_wait_closed(&slow[i]));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_in_range(ms, 0, 1600);
        cl_close(&slow[i]);
    }
    fw_server_stop(s, 1000);
    fw_server_free(s);
}

/* ---- a worker that is late must not time out a timely client ---- */

typedef struct block_ctx {
    echo_ctx echo;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered; /* the handler of /block is running */
    bool release; /* the test lets it return */
} block_ctx;

/* /block holds the worker until the test releases it (a stalled handler or
 * a lock held elsewhere); any other path echoes. */
static void block_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    block_ctx *b = ctx;

    if (req->path.len == 6 && memcmp(req->path.ptr, "/block", 6) == 0) {
        pthread_mutex_lock(&b->lock);
        b->entered = true;
        pthread_cond_broadcast(&b->cond);
        while (!b->release)
            pthread_cond_wait(&b->cond, &b->lock);
        pthread_mutex_unlock(&b->lock);
    }
    echo_handle(&b->echo, req, resp);
}

static void test_late_worker_is_not_a_timeout(void **state)
{
    block_ctx b;
    fw_server_config cfg;
    fw_server *s;
    client timely, blocker;
    fw_server_stats st;
    h1_resp r;
    const char *req2 = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *block = "GET /block HTTP/1.1\r\nHost: x\r\n\r\n";
    struct timespec stall = {2, 600 * 1000 * 1000}; /* > the 2 s timeouts */

    (void)state;
    memset(&b, 0, sizeof(b));
    b.echo.tag = "L";
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    cfg = base_config(&b.echo, 1); /* one worker: the stall holds every connection */
    cfg.listeners[0].handler.handle = block_handle;
    cfg.listeners[0].handler.ctx = &b;
    cfg.header_timeout_s = 2;
    cfg.idle_timeout_s = 2;
    s = start(&cfg);
    timely = cl_open(port_of(s, 0));
    blocker = cl_open(port_of(s, 0));
    /* |timely| is served, so its 2 s idle timeout is armed. */
    h1_expect(&timely, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", 200, "L /first 1 0:");
    /* The worker stalls in /block ... */
    assert_int_equal(cl_send(&blocker, block, strlen(block)), 0);
    pthread_mutex_lock(&b.lock);
    while (!b.entered)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    /* ... while |timely| sends its next request well inside its timeout, and
     * the stall outlasts that timeout. */
    assert_int_equal(cl_send(&timely, req2, strlen(req2)), 0);
    while (nanosleep(&stall, &stall) != 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&b.lock);
    b.release = true;
    pthread_cond_broadcast(&b.cond);
    pthread_mutex_unlock(&b.lock);
    assert_int_equal(h1_read(&blocker, &r), 0);
    assert_string_equal(r.body, "L /block 1 0:");
    /* The client was not late; the worker was: its request is answered. */
    if (h1_read(&timely, &r) != 0)
        fail_msg("the timely client's connection was closed after the worker's stall");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "L /second 1 0:");
    cl_close(&timely);
    cl_close(&blocker);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(atomic_load(&b.echo.calls), 3);
    fw_server_stop(s, 1000);
    fw_server_free(s);
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.lock);
}

typedef struct stopper {
    fw_server *s;
    unsigned grace_ms;
} stopper;

static void *stop_thread(void *arg)
{
    stopper *st = arg;
    fw_server_stop(st->s, st->grace_ms);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    echo_ctx e = {"E", 0};
    fw_server_config cfg = base_config(&e, 1);
    fw_server *s;
    client busy, idle, hc, probe;
    h2_client h;
    pthread_t th;
    stopper sp;
    int port;
    bool refused = false;
    const char *head = "POST /inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345";
    h1_resp r;
    fw_server_stats st;

    (void)state;
    s = start(&cfg);
    port = port_of(s, 0);

    busy = cl_open(port);
    idle = cl_open(port);
    hc = cl_open(port);
    h1_expect(&busy, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n", 200, "E /warm 1 0:");
    h1_expect(&idle, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n", 200, "E /idle 1 0:");
    h2c_init(&h, &hc);
    h2c_post(&h, "/h2", "x", false);
    assert_int_equal(h.status, 200);

    /* Half a request on |busy|. The one worker reads it before it answers
     * the later request on |probe| (loopback delivery is synchronous), so
     * once that answer is back the request is in flight on the server. */
    assert_int_equal(cl_send(&busy, head, strlen(head)), 0);
    probe = cl_open(port);
    h1_expect(&probe, "GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
              "E /probe 1 0:");
    cl_close(&probe);

    sp.s = s;
    sp.grace_ms = 10000;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &sp), 0);

    /* The listener closes once the worker has taken the stop. */
    for (int i = 0; i < 1000 && !refused; i++) {
        int fd = tcp_connect(port);
        if (fd < 0 && errno == ECONNREFUSED) {
            refused = true;
        } else {
            struct pollfd none;
            if (fd >= 0)
                close(fd);
            (void)poll(&none, 0, 2);
        }
    }
    assert_true(refused);

    /* Idle HTTP/1.1 closes; HTTP/2 gets GOAWAY then close. */
    assert_true(cl_wait_closed(&idle));
    assert_true(h2c_run(&h, h2c_goaway_and_eof));

    /* The in-flight request completes and is answered, then the close. */
    assert_int_equal(cl_send(&busy, "67890", 5), 0);
    assert_int_equal(h1_read(&busy, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "E /inflight 1 10:1234567890");
    assert_true(cl_wait_closed(&busy));

    assert_int_equal(pthread_join(th, NULL), 0);
    fw_server_get_stats(s, &st);
    assert_int_equal(st.connections_active, 0);
    h2c_free(&h);
    cl_close(&busy);
    cl_close(&idle);
    cl_close(&hc);
    fw_server_free(s);
}

static void test_two_servers(void **state)
{
    echo_ctx e1 = {"S1", 0};
    echo_ctx e2 = {"S2", 0};
    fw_server_config cfg1 = base_config(&e1, 2);
    fw_server_config cfg2 = base_config(&e2, 1);
    fw_server *s1 = start(&cfg1);
    fw_server *s2 = start(&cfg2);
    client a, b;

    (void)state;
    assert_int_not_equal(port_of(s1, 0), port_of(s2, 0));
    a = cl_open(port_of(s1, 0));
    b = cl_open(port_of(s2, 0));
    h1_expect(&a, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 200, "S1 /x 1 0:");
    h1_expect(&b, "GET /y HTTP/1.1\r\nHost: x\r\n\r\n", 200, "S2 /y 1 0:");
    fw_server_stop(s1, 500);
    /* s2 is unaffected by s1's stop. */
    h1_expect(&b, "GET /z HTTP/1.1\r\nHost: x\r\n\r\n", 200, "S2 /z 1 0:");
    cl_close(&a);
    cl_close(&b);
    fw_server_free(s1);
    fw_server_free(s2); /* free without an explicit stop also stops */
}

static void test_addresses(void **state)
{
    echo_ctx e = {"F", 0};
    fw_server_config cfg = base_config(&e, 2);
    fw_server *s1 = start(&cfg);
    fw_server *s2 = NULL;
    char addr[64];
    char err[512];
    const char *bound = fw_server_bound_addr(s1, 0);

    (void)state;
    assert_non_null(bound);
    assert_true(strncmp(bound, "127.0.0.1:", 10) == 0);
    assert_null(fw_server_bound_addr(s1, 1));

    /* The same port again is refused, even though our sockets use
     * SO_REUSEPORT. */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port_of(s1, 0));
    cfg.listeners[0].addr = addr;
    assert_int_equal(fw_server_new(&cfg, &s2, err, sizeof(err)), FW_ERR_IO);
    assert_null(s2);
    assert_non_null(strstr(err, "in use"));
    fw_server_free(s1);

    /* Two listeners, host names and IPv6. */
    cfg = base_config(&e, 1);
    cfg.listeners[0].addr = "localhost:0";
    cfg.listeners[1] = cfg.listeners[0];
    cfg.listeners[1].name = "v6";
    cfg.listeners[1].addr = "[::1]:0";
    cfg.n_listeners = 2;
    if (fw_server_new(&cfg, &s2, err, sizeof(err)) != 0) {
        /* No IPv6 loopback here: check the v4 host name alone. */
        cfg.n_listeners = 1;
        assert_int_equal(fw_server_new(&cfg, &s2, err, sizeof(err)), 0);
    } else {
        assert_true(strncmp(fw_server_bound_addr(s2, 1), "[::1]:", 6) == 0);
    }
    assert_true(port_of(s2, 0) > 0);
    fw_server_free(s2); /* never started */
}

/* ---- TLS ---- */

typedef struct tls_files {
    char dir[64];
    char cert[128];
    char key[128];
} tls_files;

static void make_tls_files(tls_files *tf)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    FILE *f;

    assert_non_null(key);
    assert_non_null(x);
    snprintf(tf->dir, sizeof(tf->dir), "/tmp/fw_test_net_XXXXXX");
    assert_non_null(mkdtemp(tf->dir));
    snprintf(tf->cert, sizeof(tf->cert), "%s/cert.pem", tf->dir);
    snprintf(tf->key, sizeof(tf->key), "%s/key.pem", tf->dir);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"localhost", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    f = fopen(tf->cert, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    f = fopen(tf->key, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void remove_tls_files(const tls_files *tf)
{
    unlink(tf->cert);
    unlink(tf->key);
    rmdir(tf->dir);
}

static const unsigned char alpn_both[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

static void alpn_of(SSL *ssl, char *out, size_t outsz)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    if (len >= outsz)
        len = (unsigned)outsz - 1;
    if (p != NULL)
        memcpy(out, p, len);
    out[len] = '\0';
}

static void test_tls_alpn(void **state)
{
    echo_ctx e = {"T", 0};
    fw_server_config cfg = base_config(&e, 2);
    tls_files tf;
    fw_server *s;
    client c = {.fd = -1};
    char proto[32];
    h2_client h;
    int port;

    (void)state;
    make_tls_files(&tf);
    cfg.listeners[0].tls.cert_file = tf.cert;
    cfg.listeners[0].tls.key_file = tf.key;
    s = start(&cfg);
    port = port_of(s, 0);

    /* Offering h2 and http/1.1: h2 wins, and a request round-trips. */
    assert_int_equal(cl_open_tls(&c, port, alpn_both, sizeof(alpn_both) - 1, NULL, NULL), 1);
    alpn_of(c.ssl, proto, sizeof(proto));
    assert_string_equal(proto, "h2");
    h2c_init(&h, &c);
    h2c_post(&h, "/tls2", "secret", true);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "T /tls2 2 6:secret");
    h2c_free(&h);
    cl_close(&c);

    /* Offering http/1.1 only. */
    assert_int_equal(cl_open_tls(&c, port, alpn_h1, sizeof(alpn_h1) - 1, NULL, NULL), 1);
    alpn_of(c.ssl, proto, sizeof(proto));
    assert_string_equal(proto, "http/1.1");
    h1_expect(&c, "GET /tls1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "T /tls1 1 0:");
    cl_close(&c);

    /* No ALPN at all: sniffed as HTTP/1.1. */
    assert_int_equal(cl_open_tls(&c, port, NULL, 0, NULL, NULL), 1);
    h1_expect(&c, "GET /noalpn HTTP/1.1\r\nHost: x\r\n\r\n", 200, "T /noalpn 1 0:");
    cl_close(&c);

    /* Cleartext bytes to the TLS port: a failed handshake, counted. */
    {
        fw_server_stats st;
        client raw = cl_open(port);
        const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(cl_send(&raw, req, strlen(req)), 0);
        assert_true(cl_wait_closed(&raw));
        cl_close(&raw);
        fw_server_get_stats(s, &st);
        assert_int_equal(st.tls_handshake_failures, 1);
    }
    fw_server_stop(s, 1000);
    fw_server_free(s);
    remove_tls_files(&tf);
}

static void test_mutual_tls(void **state)
{
    echo_ctx e = {"M", 0};
    fw_server_config cfg = base_config(&e, 1);
    tls_files tf;
    fw_server *s;
    client c = {.fd = -1};
    fw_server_stats st;
    int port;
    int rc;
    char b[64];

    (void)state;
    make_tls_files(&tf);
    cfg.listeners[0].tls.cert_file = tf.cert;
    cfg.listeners[0].tls.key_file = tf.key;
    cfg.listeners[0].tls.client_ca_file = tf.cert;
    s = start(&cfg);
    port = port_of(s, 0);

    /* Without a client certificate: the handshake fails (with TLS 1.3 the
     * client learns it on its first read) and no request is served. */
    rc = cl_open_tls(&c, port, alpn_h1, sizeof(alpn_h1) - 1, NULL, NULL);
    if (rc == 1) {
        const char *req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
        (void)cl_send(&c, req, strlen(req));
        assert_true(cl_recv(&c, b, sizeof(b)) <= 0);
    }
    cl_close(&c);
    assert_int_equal(atomic_load(&e.calls), 0);

    /* With the trusted certificate: served. */
    assert_int_equal(cl_open_tls(&c, port, alpn_h1, sizeof(alpn_h1) - 1, tf.cert, tf.key), 1);
    h1_expect(&c, "GET /mtls HTTP/1.1\r\nHost: x\r\n\r\n", 200, "M /mtls 1 0:");
    cl_close(&c);

    fw_server_get_stats(s, &st);
    assert_int_equal(st.tls_handshake_failures, 1);
    fw_server_stop(s, 1000);
    fw_server_free(s);
    remove_tls_files(&tf);
}

int main(void)
{
    if (getenv("FW_TEST_DEBUG") != NULL)
        fw_log_setup(FW_LOG_DEBUG, FW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_h1_keepalive),
        cmocka_unit_test(test_h2_prior_knowledge),
        cmocka_unit_test(test_protocol_not_allowed),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_header_timeout_not_doubled),
        cmocka_unit_test(test_late_worker_is_not_a_timeout),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_two_servers),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_tls_alpn),
        cmocka_unit_test(test_mutual_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
