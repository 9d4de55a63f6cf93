/* http.h - the request/response pair that the HTTP/1.1 and HTTP/2 cores
 * hand to a listener's handler, whatever the wire protocol.
 * The core owns the request (headers and body live until handle returns);
 * the handler fills the response, whose body the core frees after sending. */
#ifndef FLYWHEEL_HTTP_H
#define FLYWHEEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"

typedef enum fw_http_method {
    FW_HTTP_OTHER = 0,
    FW_HTTP_GET,
    FW_HTTP_HEAD,
    FW_HTTP_POST,
    FW_HTTP_PUT,
    FW_HTTP_DELETE,
    FW_HTTP_OPTIONS,
    FW_HTTP_PATCH
} fw_http_method;

typedef struct fw_http_request {
    fw_http_method method;
    fw_str path;  /* raw path, no query; starts with '/' */
    fw_str query; /* after '?', empty when none */
    /* Selected headers (FW_STR_NULL when absent); the cores keep the last
     * value when a header repeats. */
    fw_str content_type;
    fw_str content_encoding;
    fw_str accept_encoding;
    fw_str authorization;
    fw_str grpc_encoding;
    fw_str grpc_timeout;
    fw_str te;
    fw_str user_agent;
    int http_major; /* 1 or 2 */
    bool tls;
    const uint8_t *body; /* whole body (after chunked decoding), may be NULL if empty */
    size_t body_len;
    /* The body exceeded the handler's max_body: |body| is empty and the
     * handler must answer 413 / RESOURCE_EXHAUSTED; the core closes or
     * resets the stream after the response. */
    bool body_too_large;
    /* The body could not be buffered within the handler's in-flight
     * memory budget (fw_http_handler.budget): |body| is empty and the
     * handler must answer 503 + Retry-After / UNAVAILABLE + RetryInfo; the
     * core closes or resets the stream after the response. */
    bool over_budget;
    /* This request's reservation in the handler's budget (NULL when the
     * handler has none): the body buffer's capacity is in it; the handler
     * adds what it allocates while handling (fw_membudget_reserve), and
     * the core releases the whole of it once the request is done. */
    struct fw_membudget_hold *budget_held;
} fw_http_request;

#define FW_HTTP_MAX_EXTRA_HEADERS 6
#define FW_HTTP_HEADER_VALUE_MAX 128

typedef struct fw_http_header {
    const char *name; /* static lowercase string */
    char value[FW_HTTP_HEADER_VALUE_MAX];
} fw_http_header;

typedef struct fw_http_response {
    int status;               /* HTTP status; 200 for every gRPC answer */
    const char *content_type; /* static string or NULL (no body type) */
    fw_http_header headers[FW_HTTP_MAX_EXTRA_HEADERS];
    size_t n_headers;
    fw_buf body; /* owned by the response; the core frees it */
    /* gRPC: the core sends trailers grpc-status, grpc-message (the core
     * percent-encodes it) and grpc-status-details-bin (the core base64s the
     * raw bytes of |grpc_details|, a serialized google.rpc.Status). */
    bool grpc;
    int grpc_status;
    char grpc_message[256];
    fw_buf grpc_details;
    bool close; /* close the connection (HTTP/1.1) after this response */
} fw_http_response;

/* Sets status 500, no body, body max |body_max|. */
void fw_http_response_init(fw_http_response *r, size_t body_max);
void fw_http_response_free(fw_http_response *r);
/* Adds a header (value printf-formatted, truncated to fit); returns 0 or
 * FW_ERR_TOO_LARGE when all slots are used. */
int fw_http_response_header(fw_http_response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *fw_http_reason(int status); /* "OK", "Not Found", ... */
/* Value of query parameter |name| in |query|, percent-decoded into |out|
 * (size |outsz|, NUL-terminated); returns 1 when present, 0 when absent,
 * FW_ERR_TOO_LARGE when it does not fit. */
int fw_http_query_param(fw_str query, const char *name, char *out, size_t outsz);

/* A listener's application. Called on the worker thread that owns the
 * connection; must not block for long. */
typedef struct fw_http_handler {
    void (*handle)(void *ctx, const fw_http_request *req, fw_http_response *resp);
    void *ctx;
    size_t max_body;      /* most raw body bytes a core buffers per request */
    size_t max_resp_body; /* body_max given to fw_http_response_init */
    /* Optional shared budget for the request bodies the cores buffer
     * (borrowed; NULL = unaccounted). */
    struct fw_membudget *budget;
} fw_http_handler;

#endif
