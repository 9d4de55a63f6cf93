/* conn.c - one client connection on a worker: TLS handshake, protocol
 * sniffing (ALPN, else the HTTP/2 preface), driving the sans-I/O h1/h2
 * cores, output back-pressure, timeouts and the one close function.
 * Owns the bufferevent and the core of its connection; never parses HTTP
 * itself and never touches another worker's connections. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "flywheel/h1.h"
#include "flywheel/h2.h"
#include "flywheel/limits.h"
#include "flywheel/log.h"
#include "net_internal.h"

/* Output queued in the bufferevent above which the connection stops reading
 * (and h2 stops draining) until the peer has taken it: a client that sends
 * but never reads cannot make us buffer without bound. */
#define FW_NET_OUTPUT_HIGH (256u * 1024u)
/* Headroom over the handler's response body for the status line and
 * headers that the cores serialize into one output buffer. */
#define FW_NET_OUT_HEADROOM (64u * 1024u)
/* Lingering close (cleartext): after our last response and FIN, input is
 * read and discarded for at most this long / this much, so that unread
 * request bytes do not turn our close into an RST that destroys the
 * response before the client has read it. */
#define FW_NET_LINGER_S 2u
#define FW_NET_LINGER_MAX_BYTES (16u * 1024u * 1024u)
#define FW_NET_IOV 8
/* Tolerance when deciding whether a read/write timeout really expired. */
#define FW_NET_TIMEOUT_SLACK_NS (100u * 1000u * 1000u)

typedef enum fw__conn_state {
    FW_CONN_HANDSHAKE, /* TLS handshake in progress */
    FW_CONN_SNIFFING,  /* waiting for enough bytes to tell the h2 preface from HTTP/1.1 */
    FW_CONN_H1,        /* driving the HTTP/1.1 core */
    FW_CONN_H2,        /* driving the HTTP/2 core */
    FW_CONN_CLOSING,   /* input ignored; close once the output is flushed */
    FW_CONN_LINGER     /* cleartext: FIN sent, discarding input until EOF */
} fw__conn_state;

struct fw__net_conn {
    fw__net_worker *worker;
    fw__net_listener *listener;
    struct bufferevent *bev; /* owns the socket (and the SSL) */
    SSL *ssl;                /* borrowed from |bev|; NULL = cleartext */
    fw__conn_state state;
    fw_h1_conn *h1; /* set iff state H1 (or CLOSING/LINGER after H1) */
    fw_h2_conn *h2; /* set iff state H2 (or CLOSING/LINGER after H2) */
    fw_buf out;     /* the cores' output before it moves into |bev| */
    unsigned read_timeout_s; /* currently armed read timeout */
    uint64_t armed_ns;       /* CLOCK_MONOTONIC when we last finished work on it */
    bool read_paused;        /* back-pressure: EV_READ disabled until output drains */
    size_t lingered;         /* bytes discarded in LINGER */
    /* Whole-header deadline: armed when a request's header phase begins,
     * never extended by more bytes (a client trickling one byte at a time
     * keeps the read timeout fresh forever), disarmed once the headers
     * are complete. */
    struct event *hdr_deadline;
    bool hdr_armed;
    bool hdr_graced; /* the deadline found unread bytes once and waited */
    fw__net_conn *prev;
    fw__net_conn *next;
};

#define COUNT(w, field) atomic_fetch_add_explicit(&(w)->counters.field, 1, memory_order_relaxed)

static void conn_process_input(fw__net_conn *c);

fw__net_conn *fw__net_conn_next(const fw__net_conn *c)
{
    return c->next;
}

void fw__net_conn_close(fw__net_conn *c)
{
    fw__net_worker *w = c->worker;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    atomic_fetch_sub_explicit(&c->listener->active, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&w->counters.active, 1, memory_order_relaxed);

    if (c->hdr_deadline != NULL)
        event_free(c->hdr_deadline);
    c->hdr_deadline = NULL;
    fw_h1_conn_free(c->h1);
    c->h1 = NULL;
    fw_h2_conn_free(c->h2);
    c->h2 = NULL;
    bufferevent_free(c->bev); /* closes the socket, frees the SSL */
    c->bev = NULL;
    fw_buf_free(&c->out);
    free(c);
    fw__net_worker_conn_closed(w);
}

static uint64_t conn_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Arms the read timeout for the phase the connection is in (0 = none);
 * the write timeout always allows idle_timeout_s for the peer to read.
 * Called whenever we finish work on the connection: stamps |armed_ns|. */
static void conn_set_timeout(fw__net_conn *c, unsigned read_s)
{
    const fw_server_config *cfg = &c->worker->server->cfg;
    struct timeval rtv = {(time_t)read_s, 0};
    struct timeval wtv = {(time_t)cfg->idle_timeout_s, 0};

    c->armed_ns = conn_now_ns();
    if (read_s == c->read_timeout_s)
        return;
    c->read_timeout_s = read_s;
    bufferevent_set_timeouts(c->bev, read_s ? &rtv : NULL, cfg->idle_timeout_s ? &wtv : NULL);
}

static unsigned header_timeout(const fw__net_conn *c)
{
    return c->worker->server->cfg.header_timeout_s;
}

static unsigned idle_timeout(const fw__net_conn *c)
{
    return c->worker->server->cfg.idle_timeout_s;
}

/* Arms the whole-header deadline when |in_headers| and it is not armed
 * yet; disarms it otherwise. */
static void conn_header_deadline(fw__net_conn *c, bool in_headers)
{
    if (!in_headers) {
        if (c->hdr_armed)
            evtimer_del(c->hdr_deadline);
        c->hdr_armed = false;
        c->hdr_graced = false;
        return;
    }
    if (c->hdr_armed || c->hdr_deadline == NULL || header_timeout(c) == 0)
        return;
    struct timeval tv = {(time_t)header_timeout(c), 0};
    if (evtimer_add(c->hdr_deadline, &tv) == 0)
        c->hdr_armed = true;
}

/* Is the connection still before the end of a request's headers? */
static bool conn_in_headers(const fw__net_conn *c)
{
    switch (c->state) {
    case FW_CONN_HANDSHAKE:
    case FW_CONN_SNIFFING:
        return true;
    case FW_CONN_H1:
        return fw_h1_conn_in_headers(c->h1);
    case FW_CONN_H2:
    case FW_CONN_CLOSING:
    case FW_CONN_LINGER:
        return false;
    }
    return false;
}

static void conn_header_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    fw__net_conn *c = arg;
    evutil_socket_t sock = bufferevent_getfd(c->bev);
    struct pollfd pfd = {.fd = sock, .events = POLLIN, .revents = 0};

    (void)fd;
    (void)what;
    c->hdr_armed = false;
    if (!conn_in_headers(c))
        return;
    /* A worker held up past the deadline may not have read bytes that
     * complete the headers yet: once per request, let them be read. */
    if (!c->hdr_graced && sock >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
        struct timeval tv = {1, 0};
        c->hdr_graced = true;
        if (evtimer_add(c->hdr_deadline, &tv) == 0) {
            c->hdr_armed = true;
            return;
        }
    }
    COUNT(c->worker, timeouts);
    fw_log(FW_LOG_DEBUG, "net", "listener %s: request headers not complete within %us",
           c->listener->cfg.name, header_timeout(c));
    fw__net_conn_close(c);
}

/* Moves the cores' output into the bufferevent. */
static int conn_flush_out(fw__net_conn *c)
{
    if (c->out.len == 0)
        return 0;
    if (bufferevent_write(c->bev, c->out.data, c->out.len) != 0)
        return FW_ERR_NOMEM;
    fw_buf_reset(&c->out);
    return 0;
}

static size_t conn_pending_output(const fw__net_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Output is flushed and the connection is done: linger (cleartext) or close. */
static bool conn_after_flush(fw__net_conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (c->ssl != NULL || c->worker->stopping || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        fw__net_conn_close(c);
        return false;
    }
    c->state = FW_CONN_LINGER;
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
    conn_set_timeout(c, FW_NET_LINGER_S);
    bufferevent_enable(c->bev, EV_READ);
    return true;
}

/* Stops taking input; the connection closes once its output is flushed.
 * Returns false when |c| is already gone. */
static bool conn_begin_close(fw__net_conn *c)
{
    conn_header_deadline(c, false);
    c->state = FW_CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    if (conn_pending_output(c) == 0)
        return conn_after_flush(c);
    return true; /* conn_write_cb finishes it */
}

static void conn_pause_if_full(fw__net_conn *c)
{
    if (conn_pending_output(c) >= FW_NET_OUTPUT_HIGH && !c->read_paused) {
        c->read_paused = true;
        bufferevent_disable(c->bev, EV_READ);
    }
}

/* Drains the h2 core into the bufferevent until it has nothing more or the
 * output is full. Sets |*more| when frames may still be pending. */
static int conn_h2_pump(fw__net_conn *c, bool *more)
{
    *more = false;
    for (;;) {
        int rv;
        if (conn_pending_output(c) >= FW_NET_OUTPUT_HIGH) {
            *more = true;
            return 0;
        }
        rv = fw_h2_conn_drain(c->h2, &c->out);
        if (rv != 0 && c->out.len == 0)
            return rv;
        if (c->out.len == 0)
            return 0;
        if (conn_flush_out(c) != 0)
            return FW_ERR_NOMEM;
        if (rv != 0)
            return rv;
    }
}

/* An h2 connection that has nothing left to do: the core says so, or we are
 * shutting down and its last stream finished (GOAWAY already queued). */
static bool conn_h2_done(const fw__net_conn *c)
{
    return fw_h2_conn_want_close(c->h2) ||
           (c->worker->stopping && fw_h2_conn_active_streams(c->h2) == 0);
}

/* After h2 input or drained output: pump, then close or re-arm timeouts.
 * Returns false when |c| is already gone. */
static bool conn_h2_after_io(fw__net_conn *c, int feed_rv)
{
    bool more = false;
    int rv = conn_h2_pump(c, &more);

    if (feed_rv != 0 || rv != 0) {
        COUNT(c->worker, protocol_errors);
        fw_log(FW_LOG_DEBUG, "net", "listener %s: h2 session error: %s", c->listener->cfg.name,
               fw_strerror(feed_rv != 0 ? feed_rv : rv));
        return conn_begin_close(c);
    }
    if (more) {
        conn_pause_if_full(c);
        return true; /* conn_write_cb pumps the rest */
    }
    if (conn_h2_done(c))
        return conn_begin_close(c);
    conn_header_deadline(c, false); /* h2: stream limits and timeouts apply */
    conn_set_timeout(c, fw_h2_conn_active_streams(c->h2) > 0 ? header_timeout(c)
                                                               : idle_timeout(c));
    return true;
}

static bool conn_start_h1(fw__net_conn *c)
{
    c->h1 = fw_h1_conn_new(&c->listener->cfg.handler, c->ssl != NULL);
    if (c->h1 == NULL) {
        fw_log(FW_LOG_WARN, "net", "listener %s: out of memory for a connection",
               c->listener->cfg.name);
        fw__net_conn_close(c);
        return false;
    }
    c->state = FW_CONN_H1;
    return true;
}

static bool conn_start_h2(fw__net_conn *c)
{
    fw_h2_limits limits;

    limits.max_concurrent_streams = c->worker->server->cfg.h2_max_concurrent_streams;
    limits.max_header_list = FW_LIMIT_HEADER_BYTES;
    c->h2 = fw_h2_conn_new(&c->listener->cfg.handler, &limits, c->ssl != NULL);
    if (c->h2 == NULL) {
        fw_log(FW_LOG_WARN, "net", "listener %s: out of memory for a connection",
               c->listener->cfg.name);
        fw__net_conn_close(c);
        return false;
    }
    c->state = FW_CONN_H2;
    return true;
}

/* Cleartext (or TLS without ALPN): the 24-byte preface means HTTP/2 prior
 * knowledge, anything else HTTP/1.1. Returns false when the connection was
 * closed or more bytes are needed (|*need_more|). */
static bool conn_sniff(fw__net_conn *c, struct evbuffer *in, bool *need_more)
{
    uint8_t head[FW_H2_PREFACE_LEN];
    size_t n = evbuffer_get_length(in);
    size_t cmp = n < FW_H2_PREFACE_LEN ? n : FW_H2_PREFACE_LEN;
    const fw_listener_config *lc = &c->listener->cfg;

    *need_more = false;
    if (cmp == 0) {
        *need_more = true;
        return false;
    }
    if (evbuffer_copyout(in, head, cmp) != (ev_ssize_t)cmp) {
        fw__net_conn_close(c);
        return false;
    }
    if (memcmp(head, FW_H2_PREFACE, cmp) == 0) {
        if (cmp < FW_H2_PREFACE_LEN) {
            *need_more = true;
            return false;
        }
        if (lc->allow_h2)
            return conn_start_h2(c);
    } else if (lc->allow_h1) {
        return conn_start_h1(c);
    }
    COUNT(c->worker, protocol_errors);
    fw_log(FW_LOG_DEBUG, "net", "listener %s: protocol not allowed here", lc->name);
    fw__net_conn_close(c);
    return false;
}

static void conn_feed_h1(fw__net_conn *c, struct evbuffer *in)
{
    int rv = 0;

    while (rv == 0 && !c->read_paused && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec[FW_NET_IOV];
        int nv = evbuffer_peek(in, -1, NULL, vec, FW_NET_IOV);
        size_t used = 0;

        if (nv > FW_NET_IOV)
            nv = FW_NET_IOV;
        for (int i = 0; i < nv && rv == 0; i++) {
            rv = fw_h1_conn_feed(c->h1, vec[i].iov_base, vec[i].iov_len, &c->out);
            used += vec[i].iov_len;
            if (conn_flush_out(c) != 0 && rv == 0)
                rv = FW_ERR_NOMEM;
        }
        evbuffer_drain(in, used);
        conn_pause_if_full(c);
    }
    if (rv != 0) {
        COUNT(c->worker, protocol_errors);
        fw_log(FW_LOG_DEBUG, "net", "listener %s: h1 error: %s", c->listener->cfg.name,
               fw_strerror(rv));
        (void)conn_begin_close(c);
        return;
    }
    if (fw_h1_conn_want_close(c->h1) ||
        (c->worker->stopping && !fw_h1_conn_mid_request(c->h1))) {
        (void)conn_begin_close(c);
        return;
    }
    conn_header_deadline(c, fw_h1_conn_in_headers(c->h1));
    conn_set_timeout(c, fw_h1_conn_mid_request(c->h1) ? header_timeout(c) : idle_timeout(c));
}

static void conn_feed_h2(fw__net_conn *c, struct evbuffer *in)
{
    int rv = 0;

    while (rv == 0 && !c->read_paused && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec[FW_NET_IOV];
        int nv = evbuffer_peek(in, -1, NULL, vec, FW_NET_IOV);
        size_t used = 0;

        if (nv > FW_NET_IOV)
            nv = FW_NET_IOV;
        for (int i = 0; i < nv && rv == 0; i++) {
            rv = fw_h2_conn_feed(c->h2, vec[i].iov_base, vec[i].iov_len);
            used += vec[i].iov_len;
        }
        evbuffer_drain(in, used);
        if (rv == 0) {
            bool more = false;
            rv = conn_h2_pump(c, &more);
            if (more)
                conn_pause_if_full(c);
        }
    }
    (void)conn_h2_after_io(c, rv);
}

/* Feeds whatever input is buffered to the connection's current stage. */
static void conn_process_input(fw__net_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        bool need_more;

        switch (c->state) {
        case FW_CONN_HANDSHAKE:
            /* Input before CONNECTED cannot happen; wait for the event. */
            return;
        case FW_CONN_SNIFFING:
            if (!conn_sniff(c, in, &need_more))
                return; /* closed or waiting for more */
            continue;
        case FW_CONN_H1:
            conn_feed_h1(c, in);
            return;
        case FW_CONN_H2:
            conn_feed_h2(c, in);
            return;
        case FW_CONN_CLOSING:
            evbuffer_drain(in, evbuffer_get_length(in));
            return;
        case FW_CONN_LINGER: {
            size_t n = evbuffer_get_length(in);
            evbuffer_drain(in, n);
            c->lingered += n;
            if (c->lingered > FW_NET_LINGER_MAX_BYTES)
                fw__net_conn_close(c);
            return;
        }
        }
        return;
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process_input(arg);
}

/* The output buffer drained to empty (the write low-watermark is 0). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    fw__net_conn *c = arg;

    (void)bev;
    /* libevent also calls this on the first writable event of an accepted
     * socket (and deferred callbacks can be stale): act only when the
     * output really is empty. */
    if (conn_pending_output(c) > 0)
        return;
    switch (c->state) {
    case FW_CONN_CLOSING:
        (void)conn_after_flush(c);
        return;
    case FW_CONN_H2:
        if (c->read_paused) {
            c->read_paused = false;
            bufferevent_enable(c->bev, EV_READ);
        }
        if (!conn_h2_after_io(c, 0))
            return;
        if (c->state == FW_CONN_H2 && !c->read_paused &&
            evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            conn_process_input(c);
        return;
    case FW_CONN_H1:
        if (c->read_paused) {
            c->read_paused = false;
            bufferevent_enable(c->bev, EV_READ);
            conn_process_input(c);
        }
        return;
    case FW_CONN_HANDSHAKE:
    case FW_CONN_SNIFFING:
    case FW_CONN_LINGER:
        return;
    }
}

/* TLS handshake done: ALPN decides, else sniff like cleartext. */
static void conn_tls_ready(fw__net_conn *c)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;

    SSL_get0_alpn_selected(c->ssl, &proto, &len);
    if (fw_tls_alpn_is_h2(c->ssl)) {
        if (!conn_start_h2(c))
            return;
        /* server SETTINGS right away */
        if (!conn_h2_after_io(c, 0) || c->state != FW_CONN_H2)
            return;
    } else if (len > 0) {
        if (!conn_start_h1(c))
            return;
    } else {
        c->state = FW_CONN_SNIFFING;
    }
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        conn_process_input(c);
}

/* A read or write timeout can fire although the peer was on time: when
 * the worker itself was held past the deadline (a slow handler, a lock
 * held elsewhere), libevent finds the timer expired in the same loop
 * iteration as the socket turned ready and reports only the timeout, and
 * a deadline armed during the stall counts from the stale loop time.
 * Closing then drops a client whose request already arrived or who waits
 * for our answer. The timeout is ours when less than the timed-out
 * direction's limit has passed since we last finished work on the
 * connection (|armed_ns|, a fresh clock), or when the socket is ready in
 * every timed-out direction (deferred callbacks may report both at once):
 * then the directions are re-enabled, which re-arms their timeouts from
 * now. Only request/response states; handshake and linger deadlines stay
 * as they are. Returns true when the connection stays open. */
static bool conn_timeout_is_ours(fw__net_conn *c, short what)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    /* A read timeout while reading is paused on purpose is no deadline
     * (the write timeout still guards a peer that does not read). */
    bool reading = (what & BEV_EVENT_READING) != 0 && !c->read_paused;
    bool writing = (what & BEV_EVENT_WRITING) != 0;
    uint64_t limit_s = UINT64_MAX;
    struct pollfd pfd;
    short need = 0;

    if (fd < 0 ||
        (c->state != FW_CONN_SNIFFING && c->state != FW_CONN_H1 && c->state != FW_CONN_H2))
        return false;
    if (!reading && !writing)
        return (what & BEV_EVENT_READING) != 0; /* stale: reading was paused since */
    if (reading && c->read_timeout_s != 0)
        limit_s = c->read_timeout_s;
    if (writing && idle_timeout(c) != 0 && idle_timeout(c) < limit_s)
        limit_s = idle_timeout(c);
    /* The timer counts from libevent's cached loop time of the last read,
     * which is a little earlier than |armed_ns| (stamped after the work):
     * without the slack a deadline that did pass looks early and is
     * re-armed, doubling it (a 2 s header timeout closing at 4 s). */
    if (limit_s == UINT64_MAX ||
        conn_now_ns() - c->armed_ns + FW_NET_TIMEOUT_SLACK_NS >= limit_s * 1000000000u) {
        if (reading && !(c->ssl != NULL && SSL_pending(c->ssl) > 0))
            need |= POLLIN;
        if (writing)
            need |= POLLOUT;
        if (need != 0) {
            pfd.fd = fd;
            pfd.events = need;
            pfd.revents = 0;
            if (poll(&pfd, 1, 0) != 1 || (pfd.revents & need) != need)
                return false;
        }
    }
    return bufferevent_enable(c->bev,
                              (short)((reading ? EV_READ : 0) | (writing ? EV_WRITE : 0))) == 0;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    fw__net_conn *c = arg;
    fw__net_worker *w = c->worker;

    (void)bev;
    fw_log(FW_LOG_DEBUG, "net", "listener %s: connection event 0x%x in state %d",
           c->listener->cfg.name, (unsigned)what, (int)c->state);
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == FW_CONN_HANDSHAKE)
            conn_tls_ready(c);
        return;
    }
    if (c->state == FW_CONN_HANDSHAKE) {
        char reason[160] = "closed by peer";
        unsigned long e = bufferevent_get_openssl_error(c->bev);
        if (e != 0)
            ERR_error_string_n(e, reason, sizeof(reason));
        else if (what & BEV_EVENT_TIMEOUT)
            snprintf(reason, sizeof(reason), "timeout");
        COUNT(w, tls_failures);
        fw_log(FW_LOG_DEBUG, "net", "listener %s: TLS handshake failed: %s",
               c->listener->cfg.name, reason);
        if (what & BEV_EVENT_TIMEOUT)
            COUNT(w, timeouts);
        fw__net_conn_close(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if (conn_timeout_is_ours(c, what)) {
            fw_log(FW_LOG_DEBUG, "net",
                   "listener %s: timeout 0x%x after a worker stall, not the peer's",
                   c->listener->cfg.name, (unsigned)what);
            return;
        }
        if (c->state != FW_CONN_LINGER)
            COUNT(w, timeouts);
        fw__net_conn_close(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->state != FW_CONN_LINGER &&
        conn_pending_output(c) > 0) {
        /* The peer half-closed after its request: still deliver the answer. */
        (void)conn_begin_close(c);
        return;
    }
    fw__net_conn_close(c);
}

static void conn_reject(fw__net_worker *w, fw__net_listener *l, evutil_socket_t fd)
{
    COUNT(w, rejected);
    fw_log(FW_LOG_DEBUG, "net", "listener %s: connection limit reached, closing", l->cfg.name);
    evutil_closesocket(fd);
}

void fw__net_conn_accept(fw__net_worker *w, fw__net_listener *l, evutil_socket_t fd)
{
    const fw_server_config *cfg = &w->server->cfg;
    unsigned prev = atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
    fw__net_conn *c;
    int one = 1;
    const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

    if (prev >= cfg->max_connections || w->stopping) {
        atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
        conn_reject(w, l, fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail_conn;
    c->worker = w;
    c->listener = l;
    fw_buf_init(&c->out, l->cfg.handler.max_resp_body + FW_NET_OUT_HEADROOM);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (l->tls != NULL) {
        c->ssl = fw_tls_ssl_new(l->tls);
        if (c->ssl == NULL)
            goto fail_bev;
        /* Created without the fd so that on failure the socket is surely
         * still ours to close. */
        c->bev = bufferevent_openssl_socket_new(w->base, -1, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                opts);
        if (c->bev == NULL) {
            SSL_free(c->ssl);
            goto fail_bev;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        if (bufferevent_setfd(c->bev, fd) != 0) {
            bufferevent_free(c->bev); /* frees the SSL */
            goto fail_bev;
        }
        c->state = FW_CONN_HANDSHAKE;
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, opts);
        if (c->bev == NULL)
            goto fail_bev;
        c->state = FW_CONN_SNIFFING;
    }
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);

    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    COUNT(w, accepted);
    COUNT(w, active);

    c->read_timeout_s = ~0u; /* force the first arming */
    conn_set_timeout(c, header_timeout(c));
    c->hdr_deadline = evtimer_new(w->base, conn_header_deadline_cb, c);
    conn_header_deadline(c, true); /* handshake, sniffing and the first headers */
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return;

fail_bev:
    free(c);
fail_conn:
    atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
    fw_log(FW_LOG_WARN, "net", "listener %s: cannot set up a connection", l->cfg.name);
    evutil_closesocket(fd);
}

void fw__net_conn_shutdown(fw__net_conn *c)
{
    switch (c->state) {
    case FW_CONN_HANDSHAKE:
    case FW_CONN_LINGER:
        fw__net_conn_close(c);
        return;
    case FW_CONN_SNIFFING:
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
            fw__net_conn_close(c);
        return; /* a request has started: it finishes, then the conn closes */
    case FW_CONN_H1:
        if (!fw_h1_conn_mid_request(c->h1))
            (void)conn_begin_close(c);
        return;
    case FW_CONN_H2:
        fw_h2_conn_shutdown(c->h2);
        (void)conn_h2_after_io(c, 0);
        return;
    case FW_CONN_CLOSING:
        return;
    }
}
