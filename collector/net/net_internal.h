/* net_internal.h - what server.c (listeners, workers, shutdown) and conn.c
 * (one connection: sniffing, h1/h2 driving, timeouts, close) share.
 * Nothing here crosses the collector/net folder. */
#ifndef FLYWHEEL_NET_INTERNAL_H
#define FLYWHEEL_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "flywheel/server.h"

typedef struct fw__net_conn fw__net_conn;
typedef struct fw__net_worker fw__net_worker;

/* One configured listener, shared read-only by all workers except for the
 * connection count. */
typedef struct fw__net_listener {
    fw_listener_config cfg; /* copy; strings and handler borrowed */
    fw_tls *tls;            /* NULL = cleartext */
    struct sockaddr_storage addr; /* resolved address, port filled after the first bind */
    socklen_t addrlen;
    char bound[80];         /* "HOST:PORT" with the real port */
    atomic_uint active;     /* open connections across workers (max_connections) */
} fw__net_listener;

/* A worker's listening socket for one listener (SO_REUSEPORT sibling). */
typedef struct fw__net_accept {
    fw__net_worker *worker;
    fw__net_listener *listener;
    struct evconnlistener *evl; /* owns the socket; NULL once closed */
} fw__net_accept;

/* Counters owned by one worker, read by fw_server_get_stats from any
 * thread: relaxed atomics. */
typedef struct fw__net_counters {
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t active;
    atomic_uint_fast64_t rejected;
    atomic_uint_fast64_t tls_failures;
    atomic_uint_fast64_t protocol_errors;
    atomic_uint_fast64_t timeouts;
} fw__net_counters;

struct fw__net_worker {
    fw_server *server;
    unsigned index;
    struct event_base *base;
    fw__net_accept accepts[FW_SERVER_MAX_LISTENERS];
    struct event *stop_ev;   /* activated from another thread by fw_server_stop */
    struct event *grace_ev;  /* end of the shutdown grace period */
    struct event *resume_ev; /* re-enables accepting after EMFILE and the like */
    pthread_t thread;
    bool thread_started;
    bool stopping;           /* graceful shutdown in progress (worker thread only) */
    unsigned grace_ms;       /* written before stop_ev is activated */
    fw__net_conn *conns;     /* doubly linked list of open connections */
    fw__net_counters counters;
};

struct fw_server {
    fw_server_config cfg; /* copy; listeners[i].cfg is the authoritative one */
    fw__net_listener listeners[FW_SERVER_MAX_LISTENERS];
    size_t n_listeners;
    fw__net_worker *workers;
    unsigned n_workers;
    pthread_mutex_t lock; /* guards |running| during start-up */
    pthread_cond_t cond;
    unsigned running;     /* workers that have entered their loop */
    bool started;
    bool stopped;
};

/* conn.c: takes ownership of |fd| (an accepted socket). On failure the
 * socket is closed and the connection is not counted as active. */
void fw__net_conn_accept(fw__net_worker *w, fw__net_listener *l, evutil_socket_t fd);
/* conn.c: graceful shutdown of one connection (worker thread): h2 gets
 * GOAWAY, idle connections close, mid-request ones finish. */
void fw__net_conn_shutdown(fw__net_conn *c);
/* conn.c: closes at once (grace expired or server freed). */
void fw__net_conn_close(fw__net_conn *c);
/* conn.c: next connection of the worker's list (for iteration that may close). */
fw__net_conn *fw__net_conn_next(const fw__net_conn *c);
/* server.c: called by conn.c after a connection left the worker list. */
void fw__net_worker_conn_closed(fw__net_worker *w);

#endif
