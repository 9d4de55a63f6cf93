/* limits.h - every built-in limit of flywheel in one place.
 * Each line says what abuse it stops and which config key overrides it.
 * Modules take limits as parameters; these are only the defaults. */
#ifndef FLYWHEEL_LIMITS_H
#define FLYWHEEL_LIMITS_H

/* OTLP/HTTP body after decompression; stops memory blow-up from one request
 * and gzip bombs. config: otlp_http.max_body_bytes */
#define FW_LIMIT_HTTP_BODY_DEFAULT (20u * 1024u * 1024u)
/* gRPC message (decompressed); gRPC's own default. config: otlp_grpc.max_recv_msg_bytes */
#define FW_LIMIT_GRPC_MSG_DEFAULT (4u * 1024u * 1024u)
/* Raw bytes a connection may buffer for one request body before decoding;
 * the wire form is never larger than the decoded limit for sane senders. */
#define FW_LIMIT_API_BODY_DEFAULT (1u * 1024u * 1024u) /* config: api.max_body_bytes */
/* Per-request decode arena: protobuf-c expands wire bytes into structs; a
 * request may use this many times its decoded size before it is refused. */
#define FW_LIMIT_ARENA_FACTOR 8u
/* Header block size per request (HTTP/1.1 and HTTP/2): stops header floods. */
#define FW_LIMIT_HEADER_BYTES (64u * 1024u)
/* Concurrent HTTP/2 streams per connection. config: server.h2_max_concurrent_streams */
#define FW_LIMIT_H2_STREAMS_DEFAULT 100u
/* Connections per listener. config: server.max_connections */
#define FW_LIMIT_CONNECTIONS_DEFAULT 4096u
/* JSON nesting depth (AnyValue arrays/kvlists nest): stops stack exhaustion. */
#define FW_LIMIT_JSON_DEPTH 64u
/* AnyValue nesting depth in protobuf input. */
#define FW_LIMIT_ANYVALUE_DEPTH 32u
/* Seconds a client has to send a full request header (slowloris). */
#define FW_LIMIT_HEADER_TIMEOUT_S 10
/* Seconds an idle keep-alive connection is kept. config: server.idle_timeout */
#define FW_LIMIT_IDLE_TIMEOUT_S 120
/* Temporary recent-telemetry buffer (until the full store lands). */
#define FW_LIMIT_STORE_SPANS_DEFAULT 1000000u
#define FW_LIMIT_STORE_LOGS_DEFAULT 1000000u

#endif
