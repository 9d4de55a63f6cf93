/* h2.c - HTTP/2 server connection core (sans-I/O) over nghttp2.
 * Owns the nghttp2 server session, per-stream request assembly (pseudo
 * headers, the selected headers, DATA into a buffer bounded by the
 * handler's max_body) and responses, including gRPC trailers. Bytes come
 * in through fw_h2_conn_feed and leave through fw_h2_conn_drain; it never
 * touches sockets, the event loop or the clock, and never logs wire bytes. */
#include "flywheel/h2.h"
#include "flywheel/membudget.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/limits.h"
#include "flywheel/log.h"

/* Stream and connection receive windows: a 4 MiB gRPC message (plus
 * framing) arrives without waiting for a WINDOW_UPDATE round trip. */
#define H2_WINDOW_SIZE (16 * 1024 * 1024)
/* Incoming RST_STREAM token bucket (rapid reset, CVE-2023-44487). */
#define H2_RST_BURST 1000
#define H2_RST_RATE  33
/* Queued SETTINGS/PING ACKs before the session is torn down (ACK floods). */
#define H2_MAX_OUTBOUND_ACK 1000
/* A request answered before its body ended (over the limit or the memory
 * budget): the rest of the body is read and dropped, so the client sees a
 * normal end of stream (gRPC clients turn an early RST_STREAM, even
 * NO_ERROR, into an INTERNAL error nobody retries). Past this many dropped
 * bytes, or H2_DISCARD_FACTOR x max_body when larger, the stream is reset
 * with NO_ERROR (RFC 9113 8.1) to bound the bandwidth wasted. */
#define H2_DISCARD_MIN (1024u * 1024u)
#define H2_DISCARD_FACTOR 4u
/* Longest value of each response field built here. */
#define H2_GRPC_MESSAGE_ENC_MAX (3 * sizeof(((fw_http_response *)0)->grpc_message) + 1)

typedef enum h2_hdr {
    HDR_PATH = 0,
    HDR_CONTENT_TYPE,
    HDR_CONTENT_ENCODING,
    HDR_ACCEPT_ENCODING,
    HDR_AUTHORIZATION,
    HDR_GRPC_ENCODING,
    HDR_GRPC_TIMEOUT,
    HDR_TE,
    HDR_USER_AGENT,
    HDR_COUNT
} h2_hdr;

static const char *const hdr_names[HDR_COUNT] = {
    ":path",         "content-type",  "content-encoding", "accept-encoding",
    "authorization", "grpc-encoding", "grpc-timeout",     "te",
    "user-agent",
};

typedef struct h2_slot {
    size_t off;
    size_t len;
    bool present;
} h2_slot;

/* One request stream. Created when its HEADERS begin, freed when nghttp2
 * closes it (or with the connection). */
typedef struct h2_stream {
    int32_t id;
    struct h2_stream *prev, *next;
    fw_http_method method;
    size_t header_list; /* bytes counted as SETTINGS_MAX_HEADER_LIST_SIZE does */
    bool headers_too_large;
    bool has_content_length;
    uint64_t content_length;
    fw_buf fields; /* kept header values; slots point into it */
    h2_slot hdr[HDR_COUNT];
    fw_buf body;
    fw_membudget_hold budget_held; /* this request's reservation in handler->budget */
    bool body_too_large;
    bool over_budget; /* the handler's budget refused the body buffer */
    bool answered; /* a response was submitted (or the stream reset) */
    bool early;    /* answered before the request ended: the rest is dropped */
    size_t discarded; /* body bytes dropped after an early answer */
    bool has_resp;
    fw_http_response resp; /* kept until the stream closes: body and trailers */
    size_t resp_off;       /* body bytes handed to nghttp2 */
} h2_stream;

struct fw_h2_conn {
    nghttp2_session *session;
    const fw_http_handler *handler;
    fw_h2_limits limits;
    bool tls;
    bool fatal;    /* a fatal session error: drain what is queued, then close */
    bool shutdown; /* GOAWAY submitted */
    fw_h2_stats stats;
    h2_stream *streams; /* every live h2_stream */
    size_t n_streams;
    /* Bytes nghttp2 produced that did not fit in the caller's |out|. */
    fw_buf pending;
    size_t pending_off;
};

/* ---- streams ---------------------------------------------------------- */

static h2_stream *stream_new(fw_h2_conn *c, int32_t id)
{
    h2_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    fw_buf_init(&s->fields, c->limits.max_header_list);
    fw_buf_init(&s->body, c->handler->max_body);
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    c->stats.streams++;
    return s;
}

static void stream_free(fw_h2_conn *c, h2_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    c->n_streams--;
    fw_buf_free(&s->fields);
    fw_buf_free(&s->body);
    fw_membudget_release(c->handler->budget, &s->budget_held);
    if (s->has_resp) fw_http_response_free(&s->resp);
    free(s);
}

static fw_str slot_str(const h2_stream *s, h2_hdr h)
{
    const h2_slot *sl = &s->hdr[h];
    if (!sl->present) return FW_STR_NULL;
    if (sl->len == 0) return (fw_str){"", 0};
    return (fw_str){(const char *)s->fields.data + sl->off, sl->len};
}

static fw_http_method map_method(const uint8_t *v, size_t n)
{
    fw_str m = {(const char *)v, n};
    if (fw_str_eq(m, "GET")) return FW_HTTP_GET;
    if (fw_str_eq(m, "HEAD")) return FW_HTTP_HEAD;
    if (fw_str_eq(m, "POST")) return FW_HTTP_POST;
    if (fw_str_eq(m, "PUT")) return FW_HTTP_PUT;
    if (fw_str_eq(m, "DELETE")) return FW_HTTP_DELETE;
    if (fw_str_eq(m, "OPTIONS")) return FW_HTTP_OPTIONS;
    if (fw_str_eq(m, "PATCH")) return FW_HTTP_PATCH;
    return FW_HTTP_OTHER;
}

/* ---- response fields ---------------------------------------------------- */

static nghttp2_nv make_nv(const char *name, const char *value, size_t value_len)
{
    nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), value_len,
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

/* gRPC's grpc-message encoding: bytes outside 0x20..0x7e and '%' become
 * %XX. |out| holds 3 * |n| + 1 bytes. */
static size_t grpc_percent_encode(const char *msg, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch < 0x20 || ch > 0x7e || ch == '%') {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

/* Unpadded standard base64 (gRPC accepts both); caller frees. */
static char *base64_unpadded(const uint8_t *p, size_t n, size_t *out_len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
        out[o++] = tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Scratch space for the gRPC status fields of one HEADERS frame. */
typedef struct grpc_fields {
    char status[12];
    char message[H2_GRPC_MESSAGE_ENC_MAX];
    char *details; /* malloc'd base64, or NULL */
} grpc_fields;

/* Appends grpc-status, grpc-message and grpc-status-details-bin to |nva|.
 * nghttp2 copies every field at submit, so |g| is freed right after. */
static int add_grpc_fields(const fw_http_response *r, grpc_fields *g, nghttp2_nv *nva, size_t *n)
{
    int w = snprintf(g->status, sizeof g->status, "%d", r->grpc_status);
    if (w < 0 || (size_t)w >= sizeof g->status) return FW_ERR_INVALID;
    nva[(*n)++] = make_nv("grpc-status", g->status, (size_t)w);
    size_t mlen = strnlen(r->grpc_message, sizeof r->grpc_message);
    if (mlen > 0) {
        size_t elen = grpc_percent_encode(r->grpc_message, mlen, g->message);
        nva[(*n)++] = make_nv("grpc-message", g->message, elen);
    }
    if (r->grpc_details.len > 0) {
        size_t dlen = 0;
        g->details = base64_unpadded(r->grpc_details.data, r->grpc_details.len, &dlen);
        if (!g->details) return FW_ERR_NOMEM;
        nva[(*n)++] = make_nv("grpc-status-details-bin", g->details, dlen);
    }
    return 0;
}

/* Fields a handler must not send over HTTP/2 (RFC 9113 8.2.2). */
static bool connection_specific(const char *name)
{
    fw_str n = fw_str_from(name);
    return n.len == 0 || name[0] == ':' || fw_str_ieq(n, "connection") ||
           fw_str_ieq(n, "keep-alive") || fw_str_ieq(n, "transfer-encoding") ||
           fw_str_ieq(n, "upgrade") || fw_str_ieq(n, "proxy-connection") ||
           fw_str_ieq(n, "content-length");
}

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    (void)user_data;
    h2_stream *s = source->ptr;
    const fw_buf *body = &s->resp.body;
    size_t left = body->len - s->resp_off;
    size_t n = left < length ? left : length;
    if (n) memcpy(buf, body->data + s->resp_off, n);
    s->resp_off += n;
    if (s->resp_off == body->len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->resp.grpc) {
            /* The trailers carry the gRPC status and end the stream. */
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_nv nva[3];
            size_t nv = 0;
            grpc_fields g = {.details = NULL};
            int rv = add_grpc_fields(&s->resp, &g, nva, &nv);
            if (!rv) rv = nghttp2_submit_trailer(session, stream_id, nva, nv);
            free(g.details);
            if (rv) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

/* Submits |s->resp|: HEADERS, then DATA from the body when there is one,
 * then for gRPC the trailers. A gRPC answer without a body goes out
 * "trailers-only": the status fields ride on the one HEADERS frame. */
static int submit_response(fw_h2_conn *c, h2_stream *s)
{
    fw_http_response *r = &s->resp;
    nghttp2_nv nva[4 + FW_HTTP_MAX_EXTRA_HEADERS + 3];
    size_t n = 0;
    char status[8], clen[24];
    int status_code = r->status;
    if (r->grpc) status_code = 200;
    if (status_code < 200 || status_code > 999) status_code = 500;
    int w = snprintf(status, sizeof status, "%d", status_code);
    nva[n++] = make_nv(":status", status, (size_t)w);
    const char *ctype = r->content_type;
    if (!ctype && r->grpc) ctype = "application/grpc";
    if (ctype) nva[n++] = make_nv("content-type", ctype, strlen(ctype));
    bool send_body =
        r->body.len > 0 && s->method != FW_HTTP_HEAD && status_code != 204 && status_code != 304;
    if (!r->grpc && status_code != 204 && status_code != 304) {
        w = snprintf(clen, sizeof clen, "%zu", r->body.len);
        nva[n++] = make_nv("content-length", clen, (size_t)w);
    }
    for (size_t i = 0; i < r->n_headers && i < FW_HTTP_MAX_EXTRA_HEADERS; i++) {
        fw_http_header *h = &r->headers[i];
        if (!h->name || connection_specific(h->name)) continue;
        h->value[sizeof h->value - 1] = '\0';
        nva[n++] = make_nv(h->name, h->value, strlen(h->value));
    }
    grpc_fields g = {.details = NULL};
    int rv = 0;
    if (r->grpc && r->body.len == 0) {
        rv = add_grpc_fields(r, &g, nva, &n);
        if (!rv) rv = nghttp2_submit_response(c->session, s->id, nva, n, NULL);
    } else if (send_body || r->grpc) {
        nghttp2_data_provider prd;
        prd.source.ptr = s;
        prd.read_callback = body_read_cb;
        rv = nghttp2_submit_response(c->session, s->id, nva, n, &prd);
    } else {
        rv = nghttp2_submit_response(c->session, s->id, nva, n, NULL);
    }
    free(g.details);
    return rv;
}

/* ---- request dispatch ------------------------------------------------- */

static void reset_stream(fw_h2_conn *c, h2_stream *s, uint32_t code)
{
    s->answered = true;
    if (nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, code) == 0)
        c->stats.resets_sent++;
}

/* The core's own answer (400, 431), plain JSON; no handler involved. */
static void answer_core(fw_h2_conn *c, h2_stream *s, int status, const char *msg, bool early)
{
    fw_http_response_init(&s->resp, 512);
    s->has_resp = true;
    s->resp.status = status;
    s->resp.content_type = "application/json";
    int rv = fw_buf_append_str(&s->resp.body, "{\"error\":");
    if (!rv) rv = fw_buf_append_json_str(&s->resp.body, msg, strlen(msg));
    if (!rv) rv = fw_buf_append_str(&s->resp.body, "}");
    s->answered = true;
    s->early = early;
    if (rv || submit_response(c, s) != 0) reset_stream(c, s, NGHTTP2_INTERNAL_ERROR);
}

/* Runs the handler on the assembled request and submits its answer.
 * |early|: the client is still sending (body over the limit); the stream
 * is reset with NO_ERROR once the answer is out. */
static void dispatch(fw_h2_conn *c, h2_stream *s, bool early)
{
    const fw_http_handler *h = c->handler;
    fw_str target = slot_str(s, HDR_PATH);
    if (!target.ptr || target.len == 0 || target.ptr[0] != '/') {
        answer_core(c, s, 400, "invalid :path", early);
        return;
    }
    fw_http_request req;
    memset(&req, 0, sizeof req);
    size_t end = 0;
    while (end < target.len && target.ptr[end] != '#') end++;
    size_t q = 0;
    while (q < end && target.ptr[q] != '?') q++;
    req.path = (fw_str){target.ptr, q};
    req.query = q < end ? (fw_str){target.ptr + q + 1, end - q - 1} : (fw_str){"", 0};
    req.method = s->method;
    req.content_type = slot_str(s, HDR_CONTENT_TYPE);
    req.content_encoding = slot_str(s, HDR_CONTENT_ENCODING);
    req.accept_encoding = slot_str(s, HDR_ACCEPT_ENCODING);
    req.authorization = slot_str(s, HDR_AUTHORIZATION);
    req.grpc_encoding = slot_str(s, HDR_GRPC_ENCODING);
    req.grpc_timeout = slot_str(s, HDR_GRPC_TIMEOUT);
    req.te = slot_str(s, HDR_TE);
    req.user_agent = slot_str(s, HDR_USER_AGENT);
    req.http_major = 2;
    req.tls = c->tls;
    req.body_too_large = s->body_too_large;
    req.over_budget = s->over_budget;
    req.budget_held = h->budget ? &s->budget_held : NULL;
    if (!s->body_too_large && !s->over_budget && s->body.len > 0) {
        req.body = s->body.data;
        req.body_len = s->body.len;
    }

    fw_http_response_init(&s->resp, h->max_resp_body);
    s->has_resp = true;
    h->handle(h->ctx, &req, &s->resp);
    c->stats.requests++;
    if (s->body_too_large) c->stats.too_large++;
    s->answered = true;
    s->early = early;
    /* The request body is no longer needed while the answer drains. */
    fw_buf_free(&s->body);
    fw_membudget_release(h->budget, &s->budget_held);
    if (submit_response(c, s) != 0) reset_stream(c, s, NGHTTP2_INTERNAL_ERROR);
}

/* ---- nghttp2 callbacks ------------------------------------------------ */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    fw_h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    h2_stream *s = stream_new(c, frame->hd.stream_id);
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nghttp2 resets the stream */
    if (nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s) != 0) {
        stream_free(c, s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static bool parse_content_length(const uint8_t *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)flags;
    fw_h2_conn *c = user_data;
    /* Trailers of a request carry nothing the handler reads. */
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || s->headers_too_large) return 0;
    /* RFC 9113 6.5.2: each field counts its name, value and 32 bytes. */
    size_t cost = namelen + valuelen + 32;
    if (cost > c->limits.max_header_list - s->header_list) {
        s->headers_too_large = true;
        return 0;
    }
    s->header_list += cost;
    fw_str n = {(const char *)name, namelen};
    if (fw_str_eq(n, ":method")) {
        s->method = map_method(value, valuelen);
        return 0;
    }
    if (fw_str_eq(n, "content-length")) {
        s->has_content_length = parse_content_length(value, valuelen, &s->content_length);
        return 0;
    }
    for (int i = 0; i < HDR_COUNT; i++) {
        if (!fw_str_eq(n, hdr_names[i])) continue;
        size_t off = s->fields.len;
        if (fw_buf_append(&s->fields, value, valuelen) != 0) {
            s->headers_too_large = true;
            return 0;
        }
        s->hdr[i] = (h2_slot){off, valuelen, true};
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    fw_h2_conn *c = user_data;
    h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s) return 0;
    if (s->answered) {
        /* Dropped; nghttp2 still credits the flow-control window. */
        size_t max = c->handler->max_body > SIZE_MAX / H2_DISCARD_FACTOR
                         ? SIZE_MAX
                         : c->handler->max_body * H2_DISCARD_FACTOR;
        if (max < H2_DISCARD_MIN) max = H2_DISCARD_MIN;
        s->discarded = len > SIZE_MAX - s->discarded ? SIZE_MAX : s->discarded + len;
        if (s->early && s->discarded > max && nghttp2_session_get_stream_local_close(session, s->id)) {
            s->early = false;
            if (nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR) == 0)
                c->stats.resets_sent++;
        }
        return 0;
    }
    if (len > c->handler->max_body - s->body.len) {
        s->body_too_large = true;
        fw_buf_free(&s->body);
        dispatch(c, s, true);
        return 0;
    }
    int rv = fw_membudget_buf_append(c->handler->budget, &s->budget_held, &s->body, data, len);
    if (rv == FW_ERR_OVERLOAD) {
        /* Answered now (503 / UNAVAILABLE, retryable); the stream is reset
         * once the answer is out, the rest of the body is not buffered. */
        s->over_budget = true;
        fw_buf_free(&s->body);
        fw_membudget_release(c->handler->budget, &s->budget_held);
        dispatch(c, s, true);
    } else if (rv) {
        reset_stream(c, s, NGHTTP2_INTERNAL_ERROR);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    fw_h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || s->answered) return 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (s->headers_too_large) {
            c->stats.too_large++;
            answer_core(c, s, 431, "request header list too large", !end);
            return 0;
        }
        /* A declared length over the limit is answered before the body. */
        if (!end && s->has_content_length && s->content_length > c->handler->max_body) {
            s->body_too_large = true;
            dispatch(c, s, true);
            return 0;
        }
    }
    if (end) dispatch(c, s, false);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    fw_h2_conn *c = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        /* A fatal feed error was counted where it was seen. */
        if (frame->goaway.error_code != NGHTTP2_NO_ERROR && !c->fatal) c->stats.protocol_errors++;
        return 0;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    fw_h2_conn *c = user_data;
    h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s) return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    stream_free(c, s);
    return 0;
}

static int on_error(nghttp2_session *session, int lib_error_code, const char *msg, size_t len,
                    void *user_data)
{
    (void)session;
    (void)user_data;
    /* nghttp2's own text (no wire bytes), still escaped and bounded. */
    char esc[160];
    fw_log(FW_LOG_DEBUG, "h2", "nghttp2: %s (%d)", fw_log_escape(msg, len, 120, esc, sizeof esc),
           lib_error_code);
    return 0;
}

/* ---- public API ------------------------------------------------------- */

fw_h2_conn *fw_h2_conn_new(const fw_http_handler *handler, const fw_h2_limits *limits, bool tls)
{
    fw_h2_conn *c = calloc(1, sizeof *c);
    if (!c) goto fail_conn;
    c->handler = handler;
    c->tls = tls;
    c->limits.max_concurrent_streams = limits && limits->max_concurrent_streams
                                           ? limits->max_concurrent_streams
                                           : FW_LIMIT_H2_STREAMS_DEFAULT;
    c->limits.max_header_list =
        limits && limits->max_header_list ? limits->max_header_list : FW_LIMIT_HEADER_BYTES;
    fw_buf_init(&c->pending, (size_t)H2_WINDOW_SIZE + 1024u * 1024u);

    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) goto fail_cbs;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);

    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) goto fail_opt;
    nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
    nghttp2_option_set_stream_reset_rate_limit(opt, H2_RST_BURST, H2_RST_RATE);
    int rv = nghttp2_session_server_new2(&c->session, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    cbs = NULL;
    if (rv != 0) goto fail_session;

    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->limits.max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->limits.max_header_list},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW_SIZE},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        goto fail_settings;
    if (nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, H2_WINDOW_SIZE) !=
        0)
        goto fail_settings;
    return c;

fail_settings:
    nghttp2_session_del(c->session);
fail_session:
fail_opt:
    if (cbs) nghttp2_session_callbacks_del(cbs);
fail_cbs:
    fw_buf_free(&c->pending);
    free(c);
fail_conn:
    return NULL;
}

void fw_h2_conn_free(fw_h2_conn *c)
{
    if (!c) return;
    nghttp2_session_del(c->session);
    /* nghttp2_session_del does not report stream closes. */
    while (c->streams) stream_free(c, c->streams);
    fw_buf_free(&c->pending);
    free(c);
}

int fw_h2_conn_feed(fw_h2_conn *c, const uint8_t *p, size_t n)
{
    if (c->fatal) return FW_ERR_CLOSED;
    ssize_t rv = nghttp2_session_mem_recv(c->session, p, n);
    if (rv < 0) {
        fw_log(FW_LOG_DEBUG, "h2", "session error: %s", nghttp2_strerror((int)rv));
        c->fatal = true;
        c->stats.protocol_errors++;
        if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
            (void)nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
        return rv == NGHTTP2_ERR_NOMEM ? FW_ERR_NOMEM : FW_ERR_INVALID;
    }
    return 0;
}

/* Moves as much of |src,n| into |out| as fits; the rest goes to pending. */
static int emit(fw_h2_conn *c, const uint8_t *src, size_t n, fw_buf *out)
{
    size_t room = out->max - out->len;
    size_t take = n < room ? n : room;
    int rv = take ? fw_buf_append(out, src, take) : 0;
    if (rv) return rv;
    if (take < n) rv = fw_buf_append(&c->pending, src + take, n - take);
    return rv;
}

int fw_h2_conn_drain(fw_h2_conn *c, fw_buf *out)
{
    if (c->pending_off < c->pending.len) {
        size_t left = c->pending.len - c->pending_off;
        size_t room = out->max - out->len;
        size_t take = left < room ? left : room;
        int rv = take ? fw_buf_append(out, c->pending.data + c->pending_off, take) : 0;
        if (rv) return rv;
        c->pending_off += take;
        if (c->pending_off < c->pending.len) return 0;
    }
    fw_buf_reset(&c->pending);
    c->pending_off = 0;
    while (out->len < out->max) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            c->fatal = true;
            return n == NGHTTP2_ERR_NOMEM ? FW_ERR_NOMEM : FW_ERR_INVALID;
        }
        if (n == 0) break;
        int rv = emit(c, data, (size_t)n, out);
        if (rv) {
            c->fatal = true;
            return rv;
        }
    }
    return 0;
}

bool fw_h2_conn_want_close(const fw_h2_conn *c)
{
    if (c->pending_off < c->pending.len) return false;
    if (c->fatal) return nghttp2_session_want_write(c->session) == 0;
    return nghttp2_session_want_read(c->session) == 0 &&
           nghttp2_session_want_write(c->session) == 0;
}

void fw_h2_conn_shutdown(fw_h2_conn *c)
{
    if (c->shutdown || c->fatal) return;
    c->shutdown = true;
    /* Streams the server has seen finish; later ones the client retries. */
    int32_t last = nghttp2_session_get_last_proc_stream_id(c->session);
    if (nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) != 0)
        (void)nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
}

size_t fw_h2_conn_active_streams(const fw_h2_conn *c)
{
    return c->n_streams;
}

const fw_h2_stats *fw_h2_conn_stats(const fw_h2_conn *c)
{
    return &c->stats;
}
