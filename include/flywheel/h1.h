/* h1.h - HTTP/1.1 server connection core (sans-I/O) over libhttp-parser.
 * Owns request assembly (Content-Length and chunked bodies, keep-alive,
 * pipelining) and response serialization. Never touches sockets, the
 * event loop or the clock: bytes in, bytes out. */
#ifndef FLYWHEEL_H1_H
#define FLYWHEEL_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/http.h"

typedef struct fw_h1_conn fw_h1_conn;

typedef struct fw_h1_stats {
    uint64_t requests;
    uint64_t parse_errors;   /* malformed requests answered 400 */
    uint64_t too_large;      /* bodies or headers over the limit */
} fw_h1_stats;

/* |handler| is borrowed for the connection's life. NULL on malloc failure. */
fw_h1_conn *fw_h1_conn_new(const fw_http_handler *handler, bool tls);
void fw_h1_conn_free(fw_h1_conn *c);
/* Consumes all of |p,n|, appending any responses to |out| (whose max must
 * allow at least one response). Returns 0, or a negative fw_err after
 * which the connection must be closed once |out| is flushed (a 400/413
 * answer has been appended where one makes sense). */
FW_WUR int fw_h1_conn_feed(fw_h1_conn *c, const uint8_t *p, size_t n, fw_buf *out);
/* The peer said Connection: close (or HTTP/1.0 without keep-alive), or an
 * error occurred: close once |out| is flushed. */
bool fw_h1_conn_want_close(const fw_h1_conn *c);
/* A request is partly received (headers or body outstanding). */
bool fw_h1_conn_mid_request(const fw_h1_conn *c);
/* A request has begun and its header block is not complete yet: the
 * network layer bounds this phase with a deadline that more bytes do not
 * extend (slowloris trickling one byte at a time). */
bool fw_h1_conn_in_headers(const fw_h1_conn *c);
const fw_h1_stats *fw_h1_conn_stats(const fw_h1_conn *c);

#endif
