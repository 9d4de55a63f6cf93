/* server.h - the network front: listeners, worker threads (one libevent
 * base each, SO_REUSEPORT sockets per worker), connections that sniff the
 * protocol (TLS ALPN, HTTP/2 preface, else HTTP/1.1) and drive the h1/h2
 * cores. Owns sockets and threads; never parses application payloads. */
#ifndef FLYWHEEL_SERVER_H
#define FLYWHEEL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"
#include "flywheel/http.h"
#include "flywheel/tls.h"

#define FW_SERVER_MAX_LISTENERS 8

typedef struct fw_listener_config {
    const char *name; /* "otlp-grpc", "otlp-http", "api": used in logs and the startup line */
    const char *addr; /* "HOST:PORT", "[v6]:PORT"; port 0 picks a free port */
    fw_tls_config tls; /* cert_file NULL/"" = cleartext */
    bool allow_h1;     /* accept HTTP/1.1 */
    bool allow_h2;     /* accept HTTP/2 (prior knowledge, or ALPN h2) */
    fw_http_handler handler; /* borrowed for the server's life */
} fw_listener_config;

typedef struct fw_server_config {
    fw_listener_config listeners[FW_SERVER_MAX_LISTENERS];
    size_t n_listeners;
    unsigned workers;            /* worker threads, >= 1 */
    unsigned max_connections;    /* per listener */
    unsigned idle_timeout_s;     /* idle keep-alive connections are closed */
    unsigned header_timeout_s;   /* time to receive a request's header (slowloris) */
    uint32_t h2_max_concurrent_streams;
} fw_server_config;

typedef struct fw_server fw_server;

typedef struct fw_server_stats {
    uint64_t connections_accepted;
    uint64_t connections_active;
    uint64_t connections_rejected; /* over max_connections */
    uint64_t tls_handshake_failures;
    uint64_t protocol_errors;      /* h1 parse errors, h2 session errors */
    uint64_t timeouts;
} fw_server_stats;

/* Copies |cfg| (the strings and handlers it points at are borrowed for the
 * server's life). Binds every listener; on error returns a negative fw_err
 * and a message in |err|. */
FW_WUR int fw_server_new(const fw_server_config *cfg, fw_server **out, char *err, size_t errlen);
/* The bound address of listener |i| as "HOST:PORT" (port resolved). */
const char *fw_server_bound_addr(const fw_server *s, size_t i);
/* Starts the worker threads; returns once they run. */
FW_WUR int fw_server_start(fw_server *s);
/* Stops accepting, lets in-flight requests finish (at most |grace_ms|),
 * closes connections and joins the workers. Thread-safe; call once. */
void fw_server_stop(fw_server *s, unsigned grace_ms);
void fw_server_free(fw_server *s);
/* Sums the workers' counters. */
void fw_server_get_stats(const fw_server *s, fw_server_stats *out);

#endif
