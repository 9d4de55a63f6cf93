/* server.c - the network front's skeleton: listener address parsing and
 * binding (one SO_REUSEPORT socket per worker and listener), the worker
 * threads with one libevent base each, graceful stop and the summed stats.
 * Owns sockets, threads and event bases; the per-connection protocol work
 * lives in conn.c. Never keeps process-wide mutable state beyond libevent's
 * one-time threading set-up. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "flywheel/limits.h"
#include "flywheel/log.h"
#include "net_internal.h"

#define FW_NET_BACKLOG 1024
#define FW_NET_MAX_WORKERS 256u
/* Pause after accept() fails for lack of descriptors or memory, so that a
 * full fd table does not spin the loop. */
#define FW_NET_ACCEPT_PAUSE_MS 100

/* libevent's locking callbacks and log sink are process-wide; they are set
 * once, before the first event base exists. */
static pthread_once_t net_once = PTHREAD_ONCE_INIT;
static int net_once_rv;

static void libevent_log_cb(int severity, const char *msg)
{
    fw_log_level lvl = FW_LOG_DEBUG;

    if (severity == EVENT_LOG_WARN)
        lvl = FW_LOG_WARN;
    else if (severity == EVENT_LOG_ERR)
        lvl = FW_LOG_ERROR;
    else if (severity == EVENT_LOG_MSG)
        lvl = FW_LOG_INFO;
    fw_log(lvl, "libevent", "%s", msg);
}

static void net_init_once(void)
{
    net_once_rv = evthread_use_pthreads();
    event_set_log_callback(libevent_log_cb);
}

/* Splits "HOST:PORT" / "[V6]:PORT" into |host| and |port| (NUL-terminated).
 * An empty host or "*" means every IPv4 interface. */
static int parse_addr(const char *addr, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon;
    const char *h;
    size_t hlen;
    size_t plen;
    unsigned long v = 0;

    if (addr == NULL)
        return FW_ERR_CONFIG;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return FW_ERR_CONFIG;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        if (hlen == 0)
            return FW_ERR_CONFIG;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return FW_ERR_CONFIG;
        h = addr;
        hlen = (size_t)(colon - addr);
        if (memchr(h, ':', hlen) != NULL)
            return FW_ERR_CONFIG; /* bare IPv6 needs brackets */
    }
    plen = strlen(colon + 1);
    if (plen == 0 || plen > 5 || plen >= portsz)
        return FW_ERR_CONFIG;
    for (size_t i = 0; i < plen; i++) {
        char ch = colon[1 + i];
        if (ch < '0' || ch > '9')
            return FW_ERR_CONFIG;
        v = v * 10u + (unsigned long)(ch - '0');
    }
    if (v > 65535u)
        return FW_ERR_CONFIG;
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';

    if (hlen == 0 || (hlen == 1 && h[0] == '*')) {
        h = "0.0.0.0";
        hlen = 7;
    }
    if (hlen >= hostsz)
        return FW_ERR_CONFIG;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return 0;
}

static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outsz)
{
    char host[INET6_ADDRSTRLEN + 1];
    char serv[8];

    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outsz, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outsz, "[%s]:%s", host, serv);
    else
        snprintf(out, outsz, "%s:%s", host, serv);
}

/* Binds a plain socket (no SO_REUSEPORT) to |l|'s address and releases it:
 * SO_REUSEPORT alone would let us silently share a port that another
 * process already listens on. For port 0 the kernel's choice is written
 * back into |l| so that every worker's socket joins the same port. */
static int probe_port(fw__net_listener *l, char *err, size_t errlen)
{
    int one = 1;
    int fd;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listener %s: socket: %s", l->cfg.name, strerror(errno));
        return FW_ERR_IO;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0) {
        snprintf(err, errlen, "listener %s: cannot bind %s: %s", l->cfg.name, l->cfg.addr,
                 strerror(errno));
        close(fd);
        return FW_ERR_IO;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0 || sslen > sizeof(l->addr)) {
        snprintf(err, errlen, "listener %s: getsockname: %s", l->cfg.name, strerror(errno));
        close(fd);
        return FW_ERR_IO;
    }
    memcpy(&l->addr, &ss, sslen);
    l->addrlen = sslen;
    close(fd);
    return 0;
}

/* A listening socket bound to |l|'s address with SO_REUSEPORT, one per
 * worker; the first one also fixes |l->bound|. */
static int open_socket(fw__net_listener *l, evutil_socket_t *out, char *err, size_t errlen)
{
    int one = 1;
    int fd;

    fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listener %s: socket: %s", l->cfg.name, strerror(errno));
        return FW_ERR_IO;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        snprintf(err, errlen, "listener %s: setsockopt: %s", l->cfg.name, strerror(errno));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0) {
        snprintf(err, errlen, "listener %s: cannot bind %s: %s", l->cfg.name, l->cfg.addr,
                 strerror(errno));
        goto fail;
    }
    if (listen(fd, FW_NET_BACKLOG) != 0) {
        snprintf(err, errlen, "listener %s: listen on %s: %s", l->cfg.name, l->cfg.addr,
                 strerror(errno));
        goto fail;
    }
    if (l->bound[0] == '\0')
        format_addr((const struct sockaddr *)&l->addr, l->addrlen, l->bound, sizeof(l->bound));
    *out = fd;
    return 0;
fail:
    close(fd);
    return FW_ERR_IO;
}

/* Resolves |l->cfg.addr| into |l->addr| (first result of getaddrinfo). */
static int resolve_listener(fw__net_listener *l, char *err, size_t errlen)
{
    char host[256];
    char port[8];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int rc;

    if (parse_addr(l->cfg.addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "listener %s: bad address '%s' (want HOST:PORT or [V6]:PORT)",
                 l->cfg.name, l->cfg.addr ? l->cfg.addr : "");
        return FW_ERR_CONFIG;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "listener %s: cannot resolve '%s': %s", l->cfg.name, host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL)
            freeaddrinfo(res);
        return FW_ERR_CONFIG;
    }
    if (res->ai_addrlen > sizeof(l->addr)) {
        freeaddrinfo(res);
        snprintf(err, errlen, "listener %s: address too long", l->cfg.name);
        return FW_ERR_CONFIG;
    }
    memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    l->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    fw__net_accept *a = arg;

    (void)evl;
    (void)sa;
    (void)socklen;
    fw__net_conn_accept(a->worker, a->listener, fd);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    fw__net_accept *a = arg;
    fw__net_worker *w = a->worker;
    int e = EVUTIL_SOCKET_ERROR();

    (void)evl;
    fw_log(FW_LOG_WARN, "net", "listener %s: accept failed: %s", a->listener->cfg.name,
           strerror(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        struct timeval tv = {0, FW_NET_ACCEPT_PAUSE_MS * 1000};
        for (size_t i = 0; i < w->server->n_listeners; i++)
            if (w->accepts[i].evl != NULL)
                evconnlistener_disable(w->accepts[i].evl);
        evtimer_add(w->resume_ev, &tv);
    }
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    fw__net_worker *w = arg;

    (void)fd;
    (void)what;
    if (w->stopping)
        return;
    for (size_t i = 0; i < w->server->n_listeners; i++)
        if (w->accepts[i].evl != NULL)
            evconnlistener_enable(w->accepts[i].evl);
}

static void close_listeners(fw__net_worker *w)
{
    for (size_t i = 0; i < FW_SERVER_MAX_LISTENERS; i++) {
        if (w->accepts[i].evl != NULL) {
            evconnlistener_free(w->accepts[i].evl); /* closes the socket */
            w->accepts[i].evl = NULL;
        }
    }
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    fw__net_worker *w = arg;

    (void)fd;
    (void)what;
    while (w->conns != NULL)
        fw__net_conn_close(w->conns);
    event_base_loopexit(w->base, NULL);
}

/* Runs on the worker thread once fw_server_stop activated |stop_ev|. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    fw__net_worker *w = arg;
    fw__net_conn *c;
    struct timeval tv;

    (void)fd;
    (void)what;
    if (w->stopping)
        return;
    w->stopping = true;
    close_listeners(w);
    event_del(w->resume_ev);
    c = w->conns;
    while (c != NULL) {
        fw__net_conn *next = fw__net_conn_next(c);
        fw__net_conn_shutdown(c); /* may close |c| */
        c = next;
    }
    if (w->conns == NULL) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    tv.tv_sec = (time_t)(w->grace_ms / 1000u);
    tv.tv_usec = (suseconds_t)((w->grace_ms % 1000u) * 1000u);
    evtimer_add(w->grace_ev, &tv);
}

void fw__net_worker_conn_closed(fw__net_worker *w)
{
    if (w->stopping && w->conns == NULL)
        event_base_loopexit(w->base, NULL);
}

static void *worker_main(void *arg)
{
    fw__net_worker *w = arg;
    fw_server *s = w->server;
    sigset_t set;

    /* Writes to a closed peer must fail with EPIPE, not kill the process;
     * termination signals go to the main thread. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    pthread_mutex_lock(&s->lock);
    s->running++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);

    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int worker_init(fw_server *s, fw__net_worker *w, unsigned index, char *err, size_t errlen)
{
    int rv;

    w->server = s;
    w->index = index;
    w->base = event_base_new();
    if (w->base == NULL) {
        snprintf(err, errlen, "worker %u: cannot create event base", index);
        return FW_ERR_NOMEM;
    }
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    w->grace_ev = evtimer_new(w->base, grace_cb, w);
    w->resume_ev = evtimer_new(w->base, resume_cb, w);
    if (w->stop_ev == NULL || w->grace_ev == NULL || w->resume_ev == NULL) {
        snprintf(err, errlen, "worker %u: out of memory", index);
        return FW_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->n_listeners; i++) {
        fw__net_accept *a = &w->accepts[i];
        evutil_socket_t fd;

        a->worker = w;
        a->listener = &s->listeners[i];
        rv = open_socket(&s->listeners[i], &fd, err, errlen);
        if (rv != 0)
            return rv;
        a->evl = evconnlistener_new(w->base, accept_cb, a, LEV_OPT_CLOSE_ON_FREE, 0, fd);
        if (a->evl == NULL) {
            close(fd);
            snprintf(err, errlen, "listener %s: cannot create evconnlistener",
                     s->listeners[i].cfg.name);
            return FW_ERR_NOMEM;
        }
        evconnlistener_set_error_cb(a->evl, accept_error_cb);
    }
    return 0;
}

static int check_config(const fw_server_config *cfg, char *err, size_t errlen)
{
    if (cfg->n_listeners == 0 || cfg->n_listeners > FW_SERVER_MAX_LISTENERS) {
        snprintf(err, errlen, "server: %zu listeners (want 1..%d)", cfg->n_listeners,
                 FW_SERVER_MAX_LISTENERS);
        return FW_ERR_CONFIG;
    }
    if (cfg->workers == 0 || cfg->workers > FW_NET_MAX_WORKERS) {
        snprintf(err, errlen, "server: %u workers (want 1..%u)", cfg->workers, FW_NET_MAX_WORKERS);
        return FW_ERR_CONFIG;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const fw_listener_config *lc = &cfg->listeners[i];
        const char *name = lc->name != NULL ? lc->name : "?";
        if (lc->name == NULL || lc->addr == NULL) {
            snprintf(err, errlen, "listener %zu (%s): name and addr are required", i, name);
            return FW_ERR_CONFIG;
        }
        if (!lc->allow_h1 && !lc->allow_h2) {
            snprintf(err, errlen, "listener %s: neither HTTP/1.1 nor HTTP/2 allowed", name);
            return FW_ERR_CONFIG;
        }
        if (lc->handler.handle == NULL) {
            snprintf(err, errlen, "listener %s: no handler", name);
            return FW_ERR_CONFIG;
        }
    }
    return 0;
}

int fw_server_new(const fw_server_config *cfg, fw_server **out, char *err, size_t errlen)
{
    fw_server *s;
    int rv;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    rv = check_config(cfg, err, errlen);
    if (rv != 0)
        return rv;
    pthread_once(&net_once, net_init_once);
    if (net_once_rv != 0) {
        snprintf(err, errlen, "server: libevent has no pthreads support");
        return FW_ERR_IO;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "server: out of memory");
        return FW_ERR_NOMEM;
    }
    s->cfg = *cfg;
    if (s->cfg.max_connections == 0)
        s->cfg.max_connections = FW_LIMIT_CONNECTIONS_DEFAULT;
    if (s->cfg.h2_max_concurrent_streams == 0)
        s->cfg.h2_max_concurrent_streams = FW_LIMIT_H2_STREAMS_DEFAULT;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        goto fail_mutex;
    if (pthread_cond_init(&s->cond, NULL) != 0)
        goto fail_cond;

    s->n_listeners = cfg->n_listeners;
    for (size_t i = 0; i < s->n_listeners; i++) {
        fw__net_listener *l = &s->listeners[i];
        l->cfg = cfg->listeners[i];
        atomic_init(&l->active, 0);
        rv = resolve_listener(l, err, errlen);
        if (rv != 0)
            goto fail;
        rv = probe_port(l, err, errlen);
        if (rv != 0)
            goto fail;
        if (l->cfg.tls.cert_file != NULL && l->cfg.tls.cert_file[0] != '\0') {
            fw_tls_config tc = l->cfg.tls;
            tc.allow_h1 = l->cfg.allow_h1;
            tc.allow_h2 = l->cfg.allow_h2;
            rv = fw_tls_new(&tc, &l->tls, err, errlen);
            if (rv != 0)
                goto fail;
        }
    }

    s->workers = calloc(cfg->workers, sizeof(*s->workers));
    if (s->workers == NULL) {
        snprintf(err, errlen, "server: out of memory");
        rv = FW_ERR_NOMEM;
        goto fail;
    }
    s->n_workers = cfg->workers;
    for (unsigned i = 0; i < s->n_workers; i++) {
        rv = worker_init(s, &s->workers[i], i, err, errlen);
        if (rv != 0)
            goto fail;
    }
    *out = s;
    return 0;

fail:
    fw_server_free(s); /* tears down whatever was built */
    return rv;
fail_cond:
    pthread_mutex_destroy(&s->lock);
fail_mutex:
    free(s);
    snprintf(err, errlen, "server: cannot create locks");
    return FW_ERR_NOMEM;
}

const char *fw_server_bound_addr(const fw_server *s, size_t i)
{
    if (s == NULL || i >= s->n_listeners)
        return NULL;
    return s->listeners[i].bound;
}

int fw_server_start(fw_server *s)
{
    unsigned started = 0;

    if (s == NULL || s->started)
        return FW_ERR_INVALID;
    s->started = true;
    for (unsigned i = 0; i < s->n_workers; i++) {
        int e = pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
        if (e != 0) {
            fw_log(FW_LOG_ERROR, "net", "cannot start worker thread %u: %s", i, strerror(e));
            break;
        }
        s->workers[i].thread_started = true;
        started++;
    }
    pthread_mutex_lock(&s->lock);
    while (s->running < started)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (started < s->n_workers) {
        fw_server_stop(s, 0);
        return FW_ERR_IO;
    }
    return 0;
}

void fw_server_stop(fw_server *s, unsigned grace_ms)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->stopped) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->stopped = true;
    pthread_mutex_unlock(&s->lock);

    for (unsigned i = 0; i < s->n_workers; i++) {
        fw__net_worker *w = &s->workers[i];
        if (!w->thread_started)
            continue;
        w->grace_ms = grace_ms;
        event_active(w->stop_ev, EV_READ, 0); /* thread-safe through evthread */
    }
    for (unsigned i = 0; i < s->n_workers; i++) {
        fw__net_worker *w = &s->workers[i];
        if (!w->thread_started)
            continue;
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
}

void fw_server_free(fw_server *s)
{
    if (s == NULL)
        return;
    fw_server_stop(s, 0);
    if (s->workers != NULL) {
        for (unsigned i = 0; i < s->n_workers; i++) {
            fw__net_worker *w = &s->workers[i];
            while (w->conns != NULL)
                fw__net_conn_close(w->conns);
            close_listeners(w);
            if (w->stop_ev != NULL)
                event_free(w->stop_ev);
            if (w->grace_ev != NULL)
                event_free(w->grace_ev);
            if (w->resume_ev != NULL)
                event_free(w->resume_ev);
            if (w->base != NULL)
                event_base_free(w->base);
        }
        free(s->workers);
        s->workers = NULL;
    }
    for (size_t i = 0; i < s->n_listeners; i++) {
        fw_tls_free(s->listeners[i].tls);
        s->listeners[i].tls = NULL;
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void fw_server_get_stats(const fw_server *s, fw_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || s->workers == NULL)
        return;
    for (unsigned i = 0; i < s->n_workers; i++) {
        const fw__net_counters *k = &s->workers[i].counters;
        out->connections_accepted += atomic_load_explicit(&k->accepted, memory_order_relaxed);
        out->connections_active += atomic_load_explicit(&k->active, memory_order_relaxed);
        out->connections_rejected += atomic_load_explicit(&k->rejected, memory_order_relaxed);
        out->tls_handshake_failures +=
            atomic_load_explicit(&k->tls_failures, memory_order_relaxed);
        out->protocol_errors += atomic_load_explicit(&k->protocol_errors, memory_order_relaxed);
        out->timeouts += atomic_load_explicit(&k->timeouts, memory_order_relaxed);
    }
}
