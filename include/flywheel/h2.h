/* h2.h - HTTP/2 server connection core (sans-I/O) over nghttp2.
 * Owns the nghttp2 session, per-stream request assembly and responses
 * (including gRPC trailers). Never touches sockets or the event loop:
 * fw_h2_conn_feed takes received bytes, fw_h2_conn_drain yields bytes. */
#ifndef FLYWHEEL_H2_H
#define FLYWHEEL_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/http.h"

typedef struct fw_h2_conn fw_h2_conn;

typedef struct fw_h2_stats {
    uint64_t streams;         /* request streams opened by the peer */
    uint64_t requests;        /* requests handed to the handler */
    uint64_t too_large;       /* bodies over max_body or header lists over the limit */
    uint64_t protocol_errors; /* fatal session errors and GOAWAYs sent with an error */
    uint64_t resets_sent;     /* RST_STREAM sent after an early answer */
} fw_h2_stats;

typedef struct fw_h2_limits {
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t max_header_list;        /* SETTINGS_MAX_HEADER_LIST_SIZE */
} fw_h2_limits;

/* |handler| is borrowed for the connection's life. Queues the server
 * SETTINGS frame. NULL on malloc failure. */
fw_h2_conn *fw_h2_conn_new(const fw_http_handler *handler, const fw_h2_limits *limits, bool tls);
void fw_h2_conn_free(fw_h2_conn *c);
/* Consumes |p,n| (starting with the client preface). Returns 0 or a
 * negative fw_err (protocol error: drain, then close). */
FW_WUR int fw_h2_conn_feed(fw_h2_conn *c, const uint8_t *p, size_t n);
/* Appends pending frames to |out|. Returns 0 or a negative fw_err. */
FW_WUR int fw_h2_conn_drain(fw_h2_conn *c, fw_buf *out);
/* Neither side wants to continue (GOAWAY exchanged or fatal error). */
bool fw_h2_conn_want_close(const fw_h2_conn *c);
/* Sends GOAWAY (graceful shutdown); in-flight streams finish. */
void fw_h2_conn_shutdown(fw_h2_conn *c);
/* Streams open right now. */
size_t fw_h2_conn_active_streams(const fw_h2_conn *c);
const fw_h2_stats *fw_h2_conn_stats(const fw_h2_conn *c);

/* The 24-byte client connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
#define FW_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define FW_H2_PREFACE_LEN 24

#endif
