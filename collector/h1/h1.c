/* h1.c - HTTP/1.1 server connection core (sans-I/O) over libhttp-parser.
 * Owns request assembly (URL, selected headers, Content-Length and chunked
 * bodies bounded by the handler's max_body), keep-alive and pipelining
 * (requests are answered one after another, in order), 100-continue and
 * response serialization. Never touches sockets, the event loop or the
 * clock, and never logs raw wire bytes. */
#include "flywheel/h1.h"
#include "flywheel/membudget.h"

#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/limits.h"

/* Bodies above this size are freed after their request instead of being
 * kept for the next one, so an idle keep-alive connection holds little. */
#define H1_KEEP_BODY_CAP (64u * 1024u)

/* READING: parsing requests. CLOSING: a final response is queued; every
 * further byte is ignored and the network layer closes after flushing. */
typedef enum h1_state { H1_READING = 0, H1_CLOSING } h1_state;

/* The request headers the core keeps (last value wins). */
typedef enum h1_hdr {
    HDR_CONTENT_TYPE = 0,
    HDR_CONTENT_ENCODING,
    HDR_ACCEPT_ENCODING,
    HDR_AUTHORIZATION,
    HDR_GRPC_ENCODING,
    HDR_GRPC_TIMEOUT,
    HDR_TE,
    HDR_USER_AGENT,
    HDR_EXPECT,
    HDR_COUNT
} h1_hdr;

static const char *const hdr_names[HDR_COUNT] = {
    "content-type",
    "content-encoding",
    "accept-encoding",
    "authorization",
    "grpc-encoding",
    "grpc-timeout",
    "te",
    "user-agent",
    "expect",
};

/* Longest kept header name ("content-encoding") fits; longer names are
 * counted but never kept. */
#define H1_FIELD_MAX 24

/* A value kept in fw_h1_conn.store: offsets, since the store may move. */
typedef struct h1_slot {
    size_t off;
    size_t len;
    bool present;
} h1_slot;

struct fw_h1_conn {
    http_parser parser;
    const fw_http_handler *handler;
    bool tls;
    h1_state state;
    fw_h1_stats stats;
    fw_buf *out;  /* borrowed for the duration of one fw_h1_conn_feed */
    int feed_err; /* first error a callback met; returned by feed */

    /* Current request; reset on message begin. */
    bool in_message;
    bool keep_alive;
    bool body_too_large;
    bool over_budget; /* the handler's budget refused the body buffer */
    bool headers_done;
    bool header_too_large;
    bool in_value;   /* last header callback delivered a value */
    bool field_long; /* current field name longer than H1_FIELD_MAX */
    int cur_hdr;     /* h1_hdr of the value being received, or -1 */
    size_t field_len;
    char field[H1_FIELD_MAX];
    size_t header_bytes; /* URL + names + values: FW_LIMIT_HEADER_BYTES */
    size_t url_len;      /* the URL is store[0, url_len) */
    fw_buf store;        /* URL, then kept header values */
    h1_slot hdr[HDR_COUNT];
    fw_buf body;
    fw_membudget_hold budget_held; /* this request's reservation in handler->budget */
};

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings h1_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- response serialization ------------------------------------------- */

/* Appends |s| with every control byte replaced by a space, so no value can
 * split the response. */
static int append_header_text(fw_buf *b, const char *s)
{
    size_t n = strlen(s);
    int rv = fw_buf_reserve(b, n);
    if (rv) return rv;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        b->data[b->len++] = (ch < 0x20 || ch == 0x7f) ? (uint8_t)' ' : ch;
    }
    return 0;
}

static bool status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* Serializes |resp| into |out| all or nothing. */
static int write_response(fw_buf *out, const fw_http_response *resp, bool head, bool close,
                          bool http10_keep_alive)
{
    size_t start = out->len;
    int status = resp->status;
    if (status < 100 || status > 999) status = 500;
    bool body = status_has_body(status);
    int rv = fw_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, fw_http_reason(status));
    if (rv) goto fail;
    if (resp->content_type) {
        rv = fw_buf_append_str(out, "Content-Type: ");
        if (!rv) rv = append_header_text(out, resp->content_type);
        if (!rv) rv = fw_buf_append_str(out, "\r\n");
        if (rv) goto fail;
    }
    if (body) {
        rv = fw_buf_printf(out, "Content-Length: %zu\r\n", resp->body.len);
        if (rv) goto fail;
    }
    for (size_t i = 0; i < resp->n_headers && i < FW_HTTP_MAX_EXTRA_HEADERS; i++) {
        const fw_http_header *h = &resp->headers[i];
        if (!h->name) continue;
        char value[FW_HTTP_HEADER_VALUE_MAX];
        memcpy(value, h->value, sizeof value);
        value[sizeof value - 1] = '\0';
        rv = append_header_text(out, h->name);
        if (!rv) rv = fw_buf_append_str(out, ": ");
        if (!rv) rv = append_header_text(out, value);
        if (!rv) rv = fw_buf_append_str(out, "\r\n");
        if (rv) goto fail;
    }
    if (close)
        rv = fw_buf_append_str(out, "Connection: close\r\n");
    else if (http10_keep_alive)
        rv = fw_buf_append_str(out, "Connection: keep-alive\r\n");
    if (!rv) rv = fw_buf_append_str(out, "\r\n");
    if (!rv && body && !head && resp->body.len > 0)
        rv = fw_buf_append(out, resp->body.data, resp->body.len);
    if (rv) goto fail;
    return 0;
fail:
    out->len = start;
    return rv;
}

/* A final answer made by the core itself (400, 431, 503), JSON body
 * {"error":"..."}, then close. |msg| is a static string, never input. */
static int write_core_error(fw_h1_conn *c, int status, const char *msg)
{
    fw_http_response resp;
    fw_http_response_init(&resp, 512);
    resp.status = status;
    resp.content_type = "application/json";
    int rv = fw_buf_append_str(&resp.body, "{\"error\":");
    if (!rv) rv = fw_buf_append_json_str(&resp.body, msg, strlen(msg));
    if (!rv) rv = fw_buf_append_str(&resp.body, "}");
    if (!rv) rv = write_response(c->out, &resp, false, true, false);
    fw_http_response_free(&resp);
    c->state = H1_CLOSING;
    return rv;
}

/* ---- request assembly -------------------------------------------------- */

static void request_reset(fw_h1_conn *c)
{
    c->keep_alive = false;
    c->body_too_large = false;
    c->over_budget = false;
    c->headers_done = false;
    c->header_too_large = false;
    c->in_value = false;
    c->field_long = false;
    c->cur_hdr = -1;
    c->field_len = 0;
    c->header_bytes = 0;
    c->url_len = 0;
    memset(c->hdr, 0, sizeof c->hdr);
    fw_buf_reset(&c->store);
    if (c->body.cap > H1_KEEP_BODY_CAP)
        fw_buf_free(&c->body);
    else
        fw_buf_reset(&c->body);
    fw_membudget_release(c->handler->budget, &c->budget_held);
}

static void close_after_response(fw_h1_conn *c)
{
    c->state = H1_CLOSING;
    http_parser_pause(&c->parser, 1);
}

static int count_header_bytes(fw_h1_conn *c, size_t len)
{
    if (len > FW_LIMIT_HEADER_BYTES - c->header_bytes) {
        c->header_too_large = true;
        return -1;
    }
    c->header_bytes += len;
    return 0;
}

static fw_str slot_str(const fw_h1_conn *c, h1_hdr h)
{
    const h1_slot *s = &c->hdr[h];
    if (!s->present) return FW_STR_NULL;
    const char *v = (const char *)c->store.data + s->off;
    size_t n = s->len;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n == 0) return (fw_str){"", 0};
    return (fw_str){v, n};
}

static fw_http_method map_method(unsigned m)
{
    switch (m) {
    case HTTP_GET: return FW_HTTP_GET;
    case HTTP_HEAD: return FW_HTTP_HEAD;
    case HTTP_POST: return FW_HTTP_POST;
    case HTTP_PUT: return FW_HTTP_PUT;
    case HTTP_DELETE: return FW_HTTP_DELETE;
    case HTTP_OPTIONS: return FW_HTTP_OPTIONS;
    case HTTP_PATCH: return FW_HTTP_PATCH;
    default: return FW_HTTP_OTHER;
    }
}

/* Splits the request target into path and query. Origin form "/p?q" and
 * absolute form "http://host/p?q" are accepted; anything else ("*",
 * authority form) returns -1. A "#fragment" is dropped. */
static int split_target(const fw_h1_conn *c, fw_str *path, fw_str *query)
{
    const char *u = (const char *)c->store.data;
    size_t n = c->url_len;
    if (n == 0 || !u) return -1;
    if (u[0] != '/') {
        struct http_parser_url pu;
        http_parser_url_init(&pu);
        if (http_parser_parse_url(u, n, 0, &pu) != 0) return -1;
        if (!(pu.field_set & (1u << UF_HOST))) return -1;
        if (pu.field_set & (1u << UF_PATH)) {
            *path = (fw_str){u + pu.field_data[UF_PATH].off, pu.field_data[UF_PATH].len};
        } else {
            *path = FW_STR_LIT("/");
        }
        if (pu.field_set & (1u << UF_QUERY))
            *query = (fw_str){u + pu.field_data[UF_QUERY].off, pu.field_data[UF_QUERY].len};
        else
            *query = (fw_str){"", 0};
        return path->len > 0 && path->ptr[0] == '/' ? 0 : -1;
    }
    size_t end = 0;
    while (end < n && u[end] != '#') end++;
    size_t q = 0;
    while (q < end && u[q] != '?') q++;
    *path = (fw_str){u, q};
    *query = q < end ? (fw_str){u + q + 1, end - q - 1} : (fw_str){"", 0};
    return 0;
}

/* Hands the assembled request to the handler and queues its answer. The
 * connection closes after it when keep-alive is off, the handler asked to,
 * or the body was over the limit (the rest of it is never read). */
static void dispatch(fw_h1_conn *c)
{
    const fw_http_handler *h = c->handler;
    fw_http_request req;
    memset(&req, 0, sizeof req);
    if (split_target(c, &req.path, &req.query) != 0) {
        c->stats.parse_errors++;
        int rv = write_core_error(c, 400, "invalid request target");
        c->feed_err = rv ? rv : FW_ERR_INVALID;
        close_after_response(c);
        return;
    }
    req.method = map_method(c->parser.method);
    req.content_type = slot_str(c, HDR_CONTENT_TYPE);
    req.content_encoding = slot_str(c, HDR_CONTENT_ENCODING);
    req.accept_encoding = slot_str(c, HDR_ACCEPT_ENCODING);
    req.authorization = slot_str(c, HDR_AUTHORIZATION);
    req.grpc_encoding = slot_str(c, HDR_GRPC_ENCODING);
    req.grpc_timeout = slot_str(c, HDR_GRPC_TIMEOUT);
    req.te = slot_str(c, HDR_TE);
    req.user_agent = slot_str(c, HDR_USER_AGENT);
    req.http_major = 1;
    req.tls = c->tls;
    req.body_too_large = c->body_too_large;
    req.over_budget = c->over_budget;
    req.budget_held = h->budget ? &c->budget_held : NULL;
    if (!c->body_too_large && !c->over_budget && c->body.len > 0) {
        req.body = c->body.data;
        req.body_len = c->body.len;
    }

    fw_http_response resp;
    fw_http_response_init(&resp, h->max_resp_body);
    h->handle(h->ctx, &req, &resp);
    c->stats.requests++;
    if (c->body_too_large) c->stats.too_large++;

    bool close = !c->keep_alive || resp.close || c->body_too_large || c->over_budget;
    bool http10_ka = c->keep_alive && c->parser.http_major == 1 && c->parser.http_minor == 0;
    int rv = write_response(c->out, &resp, req.method == FW_HTTP_HEAD, close, http10_ka);
    fw_http_response_free(&resp);
    if (rv) {
        /* |out| cannot take the answer: nothing sane is left to send. */
        if (!c->feed_err) c->feed_err = rv;
        close = true;
    }
    if (c->body_too_large && !c->feed_err) c->feed_err = FW_ERR_TOO_LARGE;
    if (c->over_budget && !c->feed_err) c->feed_err = FW_ERR_OVERLOAD;
    if (close) close_after_response(c);
}

static int on_message_begin(http_parser *p)
{
    fw_h1_conn *c = p->data;
    request_reset(c);
    c->in_message = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    fw_h1_conn *c = p->data;
    if (count_header_bytes(c, len)) return -1;
    int rv = fw_buf_append(&c->store, at, len);
    if (rv == FW_ERR_TOO_LARGE) c->header_too_large = true;
    if (rv) {
        if (rv != FW_ERR_TOO_LARGE) c->feed_err = rv;
        return -1;
    }
    c->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    fw_h1_conn *c = p->data;
    if (count_header_bytes(c, len)) return -1;
    if (c->in_value) {
        c->in_value = false;
        c->field_len = 0;
        c->field_long = false;
    }
    if (len > H1_FIELD_MAX - c->field_len) {
        c->field_long = true;
    } else {
        memcpy(c->field + c->field_len, at, len);
        c->field_len += len;
    }
    return 0;
}

static int lookup_header(const fw_h1_conn *c)
{
    if (c->field_long) return -1;
    fw_str name = {c->field, c->field_len};
    for (int i = 0; i < HDR_COUNT; i++)
        if (fw_str_ieq(name, hdr_names[i])) return i;
    return -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    fw_h1_conn *c = p->data;
    if (count_header_bytes(c, len)) return -1;
    if (!c->in_value) {
        c->in_value = true;
        c->cur_hdr = lookup_header(c);
        if (c->cur_hdr >= 0)
            c->hdr[c->cur_hdr] = (h1_slot){.off = c->store.len, .len = 0, .present = true};
    }
    if (c->cur_hdr < 0) return 0;
    int rv = fw_buf_append(&c->store, at, len);
    if (rv == FW_ERR_TOO_LARGE) c->header_too_large = true;
    if (rv) {
        if (rv != FW_ERR_TOO_LARGE) c->feed_err = rv;
        return -1;
    }
    c->hdr[c->cur_hdr].len += len;
    return 0;
}

static bool has_body(const http_parser *p)
{
    return (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
}

static int on_headers_complete(http_parser *p)
{
    fw_h1_conn *c = p->data;
    c->keep_alive = http_should_keep_alive(p) != 0;
    c->headers_done = true;
    /* A declared length over the limit is refused before any body byte
     * (and without 100 Continue): the client need not send it. */
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
        p->content_length > c->handler->max_body) {
        c->body_too_large = true;
        dispatch(c);
        close_after_response(c);
        return 0;
    }
    fw_str expect = slot_str(c, HDR_EXPECT);
    if (expect.ptr && fw_str_ieq(expect, "100-continue") && p->http_major == 1 &&
        p->http_minor >= 1 && has_body(p)) {
        int rv = fw_buf_append_str(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        if (rv) {
            c->feed_err = rv;
            close_after_response(c);
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    fw_h1_conn *c = p->data;
    if (c->state != H1_READING) return 0;
    if (len > c->handler->max_body - c->body.len || c->body.len > c->handler->max_body) {
        c->body_too_large = true;
        fw_buf_free(&c->body);
        dispatch(c);
        close_after_response(c);
        return 0;
    }
    int rv = fw_membudget_buf_append(c->handler->budget, &c->budget_held, &c->body, at, len);
    if (rv == FW_ERR_OVERLOAD) {
        /* Answered now (503, retryable); the rest of the body is not read. */
        c->over_budget = true;
        fw_buf_free(&c->body);
        fw_membudget_release(c->handler->budget, &c->budget_held);
        dispatch(c);
        close_after_response(c);
        return 0;
    }
    if (rv) {
        c->feed_err = rv;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    fw_h1_conn *c = p->data;
    c->in_message = false;
    if (c->state != H1_READING) return 0;
    dispatch(c);
    request_reset(c);
    return 0;
}

/* ---- public API ------------------------------------------------------- */

fw_h1_conn *fw_h1_conn_new(const fw_http_handler *handler, bool tls)
{
    fw_h1_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->handler = handler;
    c->tls = tls;
    c->state = H1_READING;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    fw_buf_init(&c->store, FW_LIMIT_HEADER_BYTES);
    fw_buf_init(&c->body, handler->max_body);
    c->cur_hdr = -1;
    return c;
}

void fw_h1_conn_free(fw_h1_conn *c)
{
    if (!c) return;
    fw_buf_free(&c->store);
    fw_buf_free(&c->body);
    fw_membudget_release(c->handler->budget, &c->budget_held);
    free(c);
}

/* Answers a parse failure: 431 for an oversize header block, 503 when
 * memory ran out, 400 with libhttp-parser's static description otherwise. */
static int answer_parse_error(fw_h1_conn *c, enum http_errno e)
{
    int rv;
    if (c->header_too_large || e == HPE_HEADER_OVERFLOW) {
        c->stats.too_large++;
        rv = write_core_error(c, 431, "request header block too large");
        return rv ? rv : FW_ERR_TOO_LARGE;
    }
    if (c->feed_err) {
        rv = write_core_error(c, 503, "server out of memory");
        return c->feed_err;
    }
    c->stats.parse_errors++;
    rv = write_core_error(c, 400, http_errno_description(e));
    return rv ? rv : FW_ERR_INVALID;
}

int fw_h1_conn_feed(fw_h1_conn *c, const uint8_t *p, size_t n, fw_buf *out)
{
    if (c->state != H1_READING) return FW_ERR_CLOSED;
    if (n == 0) return 0; /* libhttp-parser reads a zero length as EOF */
    c->out = out;
    c->feed_err = 0;
    int rv = 0;
    size_t off = 0;
    while (off < n) {
        size_t used = http_parser_execute(&c->parser, &h1_settings, (const char *)p + off, n - off);
        off += used;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            /* Only close_after_response pauses: a final answer is queued. */
            rv = c->feed_err;
            break;
        }
        if (e != HPE_OK) {
            rv = answer_parse_error(c, e);
            c->in_message = false;
            break;
        }
        if (c->parser.upgrade) {
            /* The Upgrade (h2c, websocket) was ignored and the request
             * answered in HTTP/1.1, which RFC 9110 allows; the client
             * carries on in HTTP/1.1, so keep parsing that. */
            http_parser_init(&c->parser, HTTP_REQUEST);
            c->parser.data = c;
            if (used == 0) break;
            continue;
        }
        if (used == 0) break;
    }
    c->out = NULL;
    return rv;
}

bool fw_h1_conn_want_close(const fw_h1_conn *c)
{
    return c->state != H1_READING;
}

bool fw_h1_conn_mid_request(const fw_h1_conn *c)
{
    return c->in_message;
}

bool fw_h1_conn_in_headers(const fw_h1_conn *c)
{
    return c->in_message && !c->headers_done;
}

const fw_h1_stats *fw_h1_conn_stats(const fw_h1_conn *c)
{
    return &c->stats;
}
