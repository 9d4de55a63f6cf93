/* ingest.c - the OTLP endpoints: gRPC {Trace,Logs}Service/Export and HTTP
 * POST /v1/traces, /v1/logs. Maps one request to unframe -> inflate ->
 * decode (per-request arena) -> write-ahead log -> pipeline hand-off ->
 * response, with the status codes of SPEC.md 3.1. Owns no sockets and keeps
 * nothing past the request: what outlives it is copied by the pipeline (and
 * the log). Client input never yields a 500 / INTERNAL answer. */
#include "flywheel/ingest.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flywheel/arena.h"
#include "flywheel/auth.h"
#include "flywheel/grpc.h"
#include "flywheel/gzip.h"
#include "flywheel/limits.h"
#include "flywheel/membudget.h"
#include "flywheel/otlp.h"
#include "flywheel/wal.h"

/* Arena slack over FW_LIMIT_ARENA_FACTOR * decoded size (tiny requests). */
#define INGEST_ARENA_SLACK (64u * 1024u)
/* Responses are a small Export*ServiceResponse or google.rpc.Status. */
#define INGEST_RESP_MAX    (64u * 1024u)
#define INGEST_DETAILS_MAX (4u * 1024u)
/* How much of a client-sent header value is quoted back in a message. */
#define INGEST_QUOTE_MAX 64u

#define GRPC_CONTENT_TYPE "application/grpc"
#define CT_PROTOBUF       "application/x-protobuf"
#define CT_JSON           "application/json"

struct fw_ingest {
    fw_ingest_config cfg; /* cfg.auth_token points at |token_buf| */
    char *token_buf;      /* owned copy of the bearer token, NULL = open */
    fw_str token;         /* |token_buf| as a string; empty = open */
    fw_pipeline *pipeline; /* borrowed */
    fw_stats *stats;       /* borrowed */
};

/* What became of one export: success (maybe partial) or a whole-request
 * rejection with a reason that picks the HTTP status / gRPC code. */
typedef struct ingest_outcome {
    bool failed;
    fw_reject_reason reason;    /* when failed */
    uint64_t rejected;          /* partial success: records refused */
    const char *reject_message; /* static, NULL when none */
    char message[256];          /* when failed: for the sender */
    bool replay;                /* from the write-ahead log: not logged again */
} ingest_outcome;

typedef int (*ingest_export_fn)(fw_ingest *in, fw_protocol proto, fw_otlp_encoding enc,
                                const uint8_t *p, size_t n, fw_arena *arena, uint64_t now_ns,
                                ingest_outcome *o);
typedef int (*ingest_response_fn)(fw_otlp_encoding enc, uint64_t rejected,
                                  const char *error_message, fw_buf *out);

typedef struct ingest_route {
    const char *grpc_path;
    const char *http_path;
    fw_signal signal;
    ingest_export_fn export_fn; /* NULL: known but unsupported signal */
    ingest_response_fn encode_response;
    const char *unsupported; /* the message when export_fn is NULL */
} ingest_route;

/* How each whole-request rejection is answered. */
typedef struct ingest_answer {
    int http_status;
    int grpc_status; /* also the google.rpc.Status code of HTTP error bodies */
} ingest_answer;

static const ingest_answer answers[FW_REJECT__COUNT] = {
    [FW_REJECT_MALFORMED] = {400, FW_GRPC_INVALID_ARGUMENT},
    [FW_REJECT_INVALID_ID] = {400, FW_GRPC_INVALID_ARGUMENT},
    [FW_REJECT_TOO_OLD] = {400, FW_GRPC_INVALID_ARGUMENT},
    [FW_REJECT_TOO_LARGE] = {413, FW_GRPC_RESOURCE_EXHAUSTED},
    [FW_REJECT_UNSUPPORTED] = {415, FW_GRPC_UNIMPLEMENTED},
    [FW_REJECT_OVERLOAD] = {503, FW_GRPC_UNAVAILABLE},
    [FW_REJECT_UNAUTHENTICATED] = {401, FW_GRPC_UNAUTHENTICATED},
};

static void outcome_fail(ingest_outcome *o, fw_reject_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void outcome_fail(ingest_outcome *o, fw_reject_reason reason, const char *fmt, ...)
{
    va_list ap;
    o->failed = true;
    o->reason = reason;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

/* Decoder result -> outcome. */
static void decode_failed(int rv, const fw_parse_error *perr, size_t n, ingest_outcome *o)
{
    if (rv == FW_ERR_NOMEM) {
        outcome_fail(o, FW_REJECT_TOO_LARGE,
                     "request of %zu bytes needs more decode memory than allowed (%u x its size)",
                     n, (unsigned)FW_LIMIT_ARENA_FACTOR);
    } else if (rv == FW_ERR_TOO_LARGE) {
        outcome_fail(o, FW_REJECT_TOO_LARGE, "%s",
                     perr->detail[0] ? perr->detail : "request exceeds a decoding limit");
    } else {
        outcome_fail(o, FW_REJECT_MALFORMED, "%s",
                     perr->detail[0] ? perr->detail : "malformed OTLP payload");
    }
}

/* Pipeline result -> outcome. The pipeline promises 0 or OVERLOAD; anything
 * else is also answered as retryable, never as a 500 the SDKs would drop. */
static void push_failed(const fw_ingest *in, ingest_outcome *o)
{
    outcome_fail(o, FW_REJECT_OVERLOAD, "flywheel is overloaded; retry in %u s",
                 in->cfg.retry_after_s);
}

/* Appends the decoded request to the write-ahead log before the pipeline
 * sees it: nothing is acknowledged that a restart could lose. */
static int wal_log(fw_ingest *in, fw_wal_type type, fw_protocol proto, const uint8_t *p, size_t n,
                   uint64_t now_ns, ingest_outcome *o)
{
    if (!in->cfg.wal || o->replay) return 0;
    int rv = fw_wal_append(in->cfg.wal, type, (uint8_t)proto, now_ns, p, n);
    if (rv)
        outcome_fail(o, FW_REJECT_OVERLOAD,
                     "flywheel cannot write its write-ahead log; retry in %u s",
                     in->cfg.retry_after_s);
    return rv;
}

static int export_traces(fw_ingest *in, fw_protocol proto, fw_otlp_encoding enc, const uint8_t *p,
                         size_t n, fw_arena *arena, uint64_t now_ns, ingest_outcome *o)
{
    fw_span_batch batch;
    fw_parse_error perr;
    memset(&batch, 0, sizeof batch);
    memset(&perr, 0, sizeof perr);

    int rv = fw_otlp_decode_traces(enc, p, n, arena, &batch, &perr);
    if (rv) {
        decode_failed(rv, &perr, n, o);
        return rv;
    }
    if ((rv = wal_log(in, FW_WAL_TRACES, proto, p, n, now_ns, o)) != 0) return rv;
    batch.replay = o->replay;
    rv = fw_pipeline_push_spans(in->pipeline, proto, &batch, now_ns);
    if (rv) {
        push_failed(in, o);
        return rv;
    }
    o->rejected = batch.rejected;
    o->reject_message = batch.rejected ? batch.reject_reason : NULL;
    return 0;
}

static int export_logs(fw_ingest *in, fw_protocol proto, fw_otlp_encoding enc, const uint8_t *p,
                       size_t n, fw_arena *arena, uint64_t now_ns, ingest_outcome *o)
{
    fw_log_batch batch;
    fw_parse_error perr;
    memset(&batch, 0, sizeof batch);
    memset(&perr, 0, sizeof perr);

    int rv = fw_otlp_decode_logs(enc, p, n, arena, &batch, &perr);
    if (rv) {
        decode_failed(rv, &perr, n, o);
        return rv;
    }
    if ((rv = wal_log(in, FW_WAL_LOGS, proto, p, n, now_ns, o)) != 0) return rv;
    batch.replay = o->replay;
    rv = fw_pipeline_push_logs(in->pipeline, proto, &batch, now_ns);
    if (rv) {
        push_failed(in, o);
        return rv;
    }
    o->rejected = batch.rejected;
    o->reject_message = batch.rejected ? batch.reject_reason : NULL;
    return 0;
}

/* SPEC 3.1: the OTLP services and their HTTP paths. */
static const ingest_route routes[] = {
    {"/opentelemetry.proto.collector.trace.v1.TraceService/Export", "/v1/traces", FW_SIGNAL_TRACES,
     export_traces, fw_otlp_encode_traces_response, NULL},
    {"/opentelemetry.proto.collector.logs.v1.LogsService/Export", "/v1/logs", FW_SIGNAL_LOGS,
     export_logs, fw_otlp_encode_logs_response, NULL},
    /* Known but unsupported: no export_fn, so |signal| is never used and
     * nothing is counted under a signal. */
    {"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", "/v1/metrics",
     FW_SIGNAL_TRACES, NULL, NULL, "metrics are not supported by flywheel"},
};

static const ingest_route *route_find(fw_str path, bool grpc)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (fw_str_eq(path, grpc ? routes[i].grpc_path : routes[i].http_path)) return &routes[i];
    }
    return NULL;
}

/* Copies at most INGEST_QUOTE_MAX bytes of a client value for a message,
 * replacing anything but printable ASCII with '?'. */
static void quote_value(fw_str v, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len && i < INGEST_QUOTE_MAX && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (outsz) out[o] = '\0';
}

static fw_str str_trim(fw_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) s.len--;
    return s;
}

static uint64_t now_ns_realtime(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t arena_cap(size_t decoded_len)
{
    if (decoded_len > (SIZE_MAX - INGEST_ARENA_SLACK) / FW_LIMIT_ARENA_FACTOR) return SIZE_MAX;
    return FW_LIMIT_ARENA_FACTOR * decoded_len + INGEST_ARENA_SLACK;
}

/* Fails |o| as overload: too much memory held by requests in flight. */
static void overload_fail(const fw_ingest *in, ingest_outcome *o)
{
    outcome_fail(o, FW_REJECT_OVERLOAD,
                 "flywheel is receiving too much data at once; retry in %u s",
                 in->cfg.retry_after_s);
}

/* Reserves decode-stage |bytes| under the request's |held| or fails |o| as
 * overload. */
static int inflight_admit(fw_ingest *in, size_t bytes, fw_membudget_hold *held, ingest_outcome *o)
{
    if (fw_membudget_reserve_decode(in->cfg.budget, bytes, held)) return 0;
    overload_fail(in, o);
    return FW_ERR_OVERLOAD;
}

/* Decode and hand off |p,n| through |r| in a fresh arena freed before
 * returning; |now_ns| 0 = the wall clock. The arena cap is added to the
 * request's in-flight reservation |*held| first (released by the caller). */
static void run_export_at(fw_ingest *in, const ingest_route *r, fw_protocol proto,
                          fw_otlp_encoding enc, const uint8_t *p, size_t n, uint64_t now_ns,
                          fw_membudget_hold *held, ingest_outcome *o)
{
    static const uint8_t empty[1] = {0};
    if (inflight_admit(in, arena_cap(n), held, o) != 0) return;
    fw_arena *arena = fw_arena_new(arena_cap(n));
    if (!arena) {
        outcome_fail(o, FW_REJECT_OVERLOAD, "out of memory; retry in %u s", in->cfg.retry_after_s);
        return;
    }
    (void)r->export_fn(in, proto, enc, p ? p : empty, n, arena,
                       now_ns ? now_ns : now_ns_realtime(), o);
    fw_arena_free(arena);
}

static void run_export(fw_ingest *in, const ingest_route *r, fw_protocol proto,
                       fw_otlp_encoding enc, const uint8_t *p, size_t n, fw_membudget_hold *held,
                       ingest_outcome *o)
{
    run_export_at(in, r, proto, enc, p, n, 0, held, o);
}

static void count_request(fw_ingest *in, const ingest_route *r, fw_protocol proto,
                          size_t wire_bytes)
{
    fw_stats_add(&in->stats->received_bytes[proto], wire_bytes);
    if (r && r->export_fn) fw_stats_add(&in->stats->requests[r->signal][proto], 1);
}

static void count_rejected(fw_ingest *in, const ingest_route *r, fw_protocol proto,
                           fw_reject_reason reason)
{
    if (r && r->export_fn) fw_stats_add(&in->stats->requests_rejected[r->signal][proto][reason], 1);
}

static int retry_delay_s(const fw_ingest *in)
{
    return in->cfg.retry_after_s > INT_MAX ? INT_MAX : (int)in->cfg.retry_after_s;
}

/* ---- gRPC ---------------------------------------------------------------- */

static void grpc_answer(fw_http_response *resp, int code, const char *message)
{
    resp->status = 200;
    resp->content_type = GRPC_CONTENT_TYPE;
    resp->grpc = true;
    resp->grpc_status = code;
    snprintf(resp->grpc_message, sizeof resp->grpc_message, "%s", message ? message : "");
}

static void grpc_fail(fw_ingest *in, const ingest_route *r, fw_http_response *resp,
                      const ingest_outcome *o)
{
    int code = answers[o->reason].grpc_status;
    count_rejected(in, r, FW_PROTO_GRPC, o->reason);
    fw_buf_reset(&resp->body); /* trailers-only answer */
    grpc_answer(resp, code, o->message);
    if (o->reason == FW_REJECT_OVERLOAD) {
        /* OTLP: UNAVAILABLE with RetryInfo in grpc-status-details-bin. */
        if (resp->grpc_details.max == 0) fw_buf_init(&resp->grpc_details, INGEST_DETAILS_MAX);
        fw_buf_reset(&resp->grpc_details);
        if (fw_otlp_encode_status(FW_OTLP_PROTOBUF, code, o->message, retry_delay_s(in),
                                  &resp->grpc_details) != 0)
            fw_buf_reset(&resp->grpc_details);
    }
    if (o->reason == FW_REJECT_UNSUPPORTED)
        (void)fw_http_response_header(resp, "grpc-accept-encoding", "identity,gzip");
    if (o->reason == FW_REJECT_UNAUTHENTICATED)
        (void)fw_http_response_header(resp, "www-authenticate", "Bearer");
}

/* Unframes (and inflates) the one message of a unary call into |msg|/|len|;
 * |inflated| owns the bytes when the message was compressed. */
static int grpc_unwrap(fw_ingest *in, const fw_http_request *req, fw_buf *inflated,
                       const uint8_t **msg, size_t *len, ingest_outcome *o)
{
    size_t max = in->cfg.grpc_max_msg;
    fw_grpc_message m;
    fw_parse_error perr;
    size_t consumed = 0;
    memset(&perr, 0, sizeof perr);

    if (req->body_too_large) {
        outcome_fail(o, FW_REJECT_TOO_LARGE, "gRPC message larger than the limit of %zu bytes",
                     max);
        return FW_ERR_TOO_LARGE;
    }
    if (req->body_len == 0 || !req->body) {
        outcome_fail(o, FW_REJECT_MALFORMED,
                     "empty request body: expected one gRPC length-prefixed message");
        return FW_ERR_INVALID;
    }
    int rv = fw_grpc_frame_parse(req->body, req->body_len, max, &m, &consumed, &perr);
    switch (rv) {
    case 0: break;
    case FW_ERR_AGAIN:
        /* The body is complete, so a message still wanting bytes lied. */
        if (req->body_len < 5) {
            outcome_fail(o, FW_REJECT_MALFORMED, "truncated gRPC message prefix: %zu of 5 bytes",
                         req->body_len);
        } else {
            const uint8_t *b = req->body;
            uint32_t declared = ((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) |
                                ((uint32_t)b[3] << 8) | (uint32_t)b[4];
            outcome_fail(o, FW_REJECT_MALFORMED,
                         "truncated gRPC message: the prefix declares %u bytes but %zu follow",
                         (unsigned)declared, req->body_len - 5);
        }
        return FW_ERR_INVALID;
    case FW_ERR_TOO_LARGE: outcome_fail(o, FW_REJECT_TOO_LARGE, "%s", perr.detail); return rv;
    default:
        outcome_fail(o, FW_REJECT_MALFORMED, "%s",
                     perr.detail[0] ? perr.detail : "malformed gRPC message prefix");
        return FW_ERR_INVALID;
    }
    if (consumed != req->body_len) {
        outcome_fail(o, FW_REJECT_MALFORMED,
                     "%zu bytes after the gRPC message: a unary call carries exactly one message",
                     req->body_len - consumed);
        return FW_ERR_INVALID;
    }

    if (!m.compressed) {
        *msg = m.payload;
        *len = m.len;
        return 0;
    }
    fw_str enc = str_trim(req->grpc_encoding);
    if (!fw_str_ieq(enc, "gzip")) {
        /* gRPC spec: an unknown message encoding is UNIMPLEMENTED. */
        char quoted[INGEST_QUOTE_MAX + 1];
        quote_value(enc, quoted, sizeof quoted);
        if (enc.len == 0)
            outcome_fail(o, FW_REJECT_UNSUPPORTED,
                         "compressed gRPC message without a grpc-encoding header");
        else
            outcome_fail(o, FW_REJECT_UNSUPPORTED, "grpc-encoding %s not supported", quoted);
        return FW_ERR_UNSUPPORTED;
    }
    fw_buf_init(inflated, max);
    rv = fw_gzip_inflate(m.payload, m.len, inflated, &perr);
    if (rv == FW_ERR_TOO_LARGE) {
        outcome_fail(o, FW_REJECT_TOO_LARGE,
                     "decompressed gRPC message larger than the limit of %zu bytes", max);
        return rv;
    }
    if (rv == FW_ERR_NOMEM) {
        outcome_fail(o, FW_REJECT_TOO_LARGE, "out of memory inflating the gRPC message");
        return rv;
    }
    if (rv) {
        outcome_fail(o, FW_REJECT_MALFORMED, "grpc-encoding gzip: %s", perr.detail);
        return rv;
    }
    *msg = inflated->data;
    *len = inflated->len;
    return 0;
}

static void grpc_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    fw_ingest *in = ctx;
    ingest_outcome o;
    fw_buf inflated;
    const uint8_t *msg = NULL;
    size_t len = 0;
    /* In-flight memory: the core's reservation (which already holds the
     * body) when it keeps one, else this request's own. */
    fw_membudget_hold own = {0, false};
    fw_membudget_hold *held = req->budget_held ? req->budget_held : &own;
    memset(&o, 0, sizeof o);
    fw_buf_init(&inflated, 0);

    /* HTTP-level problems get HTTP answers (gRPC over HTTP/2 spec). */
    if (req->method != FW_HTTP_POST) {
        resp->status = 405;
        (void)fw_http_response_header(resp, "allow", "POST");
        return;
    }
    if (!fw_str_istarts(req->content_type, GRPC_CONTENT_TYPE)) {
        resp->status = 415;
        return;
    }

    const ingest_route *r = route_find(req->path, true);
    count_request(in, r, FW_PROTO_GRPC, req->body_len);
    if (!fw_auth_check(in->token, req->authorization)) {
        outcome_fail(&o, FW_REJECT_UNAUTHENTICATED, "missing or invalid bearer token");
        grpc_fail(in, r, resp, &o);
        goto out;
    }
    if (!r || !r->export_fn) {
        char quoted[INGEST_QUOTE_MAX + 1];
        quote_value(req->path, quoted, sizeof quoted);
        if (r)
            outcome_fail(&o, FW_REJECT_UNSUPPORTED, "%s", r->unsupported);
        else
            outcome_fail(&o, FW_REJECT_UNSUPPORTED, "unknown gRPC method %s", quoted);
        count_rejected(in, r, FW_PROTO_GRPC, o.reason);
        fw_buf_reset(&resp->body);
        grpc_answer(resp, FW_GRPC_UNIMPLEMENTED, o.message);
        return;
    }

    /* Validated for well-formedness only: flywheel answers well inside
     * any deadline and an unparsable timeout is not worth failing for. */
    uint64_t timeout_ns = 0;
    if (req->grpc_timeout.len) (void)!fw_grpc_timeout_parse(req->grpc_timeout, &timeout_ns);

    /* In-flight decode memory: the wire body now, the inflated copy and
     * the arena once their sizes are known. */
    if (req->over_budget) overload_fail(in, &o);
    if (o.failed || (!req->budget_held && inflight_admit(in, req->body_len, held, &o) != 0) ||
        grpc_unwrap(in, req, &inflated, &msg, &len, &o) != 0 ||
        inflight_admit(in, inflated.cap, held, &o) != 0) {
        grpc_fail(in, r, resp, &o);
        goto out;
    }
    run_export(in, r, FW_PROTO_GRPC, FW_OTLP_PROTOBUF, msg, len, held, &o);
    if (o.failed) {
        grpc_fail(in, r, resp, &o);
        goto out;
    }

    fw_buf encoded;
    fw_buf_init(&encoded, resp->body.max ? resp->body.max : INGEST_RESP_MAX);
    fw_buf_reset(&resp->body);
    if (r->encode_response(FW_OTLP_PROTOBUF, o.rejected, o.reject_message, &encoded) != 0 ||
        fw_grpc_frame_write(&resp->body, encoded.data, encoded.len, false) != 0) {
        /* Our own encoder failed, not the client: the data is stored. */
        fw_buf_reset(&resp->body);
        grpc_answer(resp, FW_GRPC_INTERNAL, "cannot encode the export response");
    } else {
        grpc_answer(resp, FW_GRPC_OK, NULL);
    }
    fw_buf_free(&encoded);
out:
    fw_buf_free(&inflated);
    fw_membudget_release(in->cfg.budget, &own);
}

/* ---- OTLP/HTTP ----------------------------------------------------------- */

static const char *http_content_type(fw_otlp_encoding enc)
{
    return enc == FW_OTLP_JSON ? CT_JSON : CT_PROTOBUF;
}

/* A google.rpc.Status body in |enc| (SPEC 3.1: error bodies). */
static void http_status_body(const fw_ingest *in, fw_http_response *resp, fw_otlp_encoding enc,
                             int http_status, int rpc_code, bool retry, const char *message)
{
    resp->status = http_status;
    fw_buf_reset(&resp->body);
    if (fw_otlp_encode_status(enc, rpc_code, message, retry ? retry_delay_s(in) : -1,
                              &resp->body) == 0) {
        resp->content_type = http_content_type(enc);
    } else {
        fw_buf_reset(&resp->body);
        resp->content_type = NULL;
    }
}

static void http_fail(fw_ingest *in, const ingest_route *r, fw_protocol proto, fw_otlp_encoding enc,
                      fw_http_response *resp, const ingest_outcome *o)
{
    const ingest_answer *a = &answers[o->reason];
    bool overload = o->reason == FW_REJECT_OVERLOAD;
    count_rejected(in, r, proto, o->reason);
    http_status_body(in, resp, enc, a->http_status, a->grpc_status, overload, o->message);
    if (overload) (void)fw_http_response_header(resp, "retry-after", "%u", in->cfg.retry_after_s);
    if (o->reason == FW_REJECT_UNAUTHENTICATED)
        (void)fw_http_response_header(resp, "www-authenticate", "Bearer");
}

/* Media type without parameters, case-insensitive. */
static int http_media_type(fw_str ct, fw_otlp_encoding *enc)
{
    fw_str type = ct;
    const char *semi = ct.ptr ? memchr(ct.ptr, ';', ct.len) : NULL;
    if (semi) type.len = (size_t)(semi - ct.ptr);
    type = str_trim(type);
    if (fw_str_ieq(type, CT_PROTOBUF) || fw_str_ieq(type, "application/protobuf")) {
        *enc = FW_OTLP_PROTOBUF;
        return 0;
    }
    if (fw_str_ieq(type, CT_JSON)) {
        *enc = FW_OTLP_JSON;
        return 0;
    }
    return FW_ERR_UNSUPPORTED;
}

static void http_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    fw_ingest *in = ctx;
    fw_otlp_encoding enc = FW_OTLP_JSON;
    fw_protocol proto = FW_PROTO_HTTP_PROTOBUF;
    ingest_outcome o;
    fw_buf inflated;
    fw_parse_error perr;
    char quoted[INGEST_QUOTE_MAX + 1];
    /* In-flight memory: the core's reservation (which already holds the
     * body) when it keeps one, else this request's own. */
    fw_membudget_hold own = {0, false};
    fw_membudget_hold *held = req->budget_held ? req->budget_held : &own;
    memset(&o, 0, sizeof o);
    memset(&perr, 0, sizeof perr);
    fw_buf_init(&inflated, 0);

    bool known_type = http_media_type(req->content_type, &enc) == 0;
    const ingest_route *r = route_find(req->path, false);
    if (!r || !r->export_fn) {
        /* Answered in the request's encoding when it has one, else JSON. */
        if (r) {
            http_status_body(in, resp, enc, 404, FW_GRPC_UNIMPLEMENTED, false, r->unsupported);
        } else {
            char message[INGEST_QUOTE_MAX + 64];
            quote_value(req->path, quoted, sizeof quoted);
            snprintf(message, sizeof message, "no OTLP endpoint at %s: use /v1/traces or /v1/logs",
                     quoted);
            http_status_body(in, resp, enc, 404, FW_GRPC_NOT_FOUND, false, message);
        }
        return;
    }
    if (req->method != FW_HTTP_POST) {
        http_status_body(in, resp, enc, 405, FW_GRPC_UNIMPLEMENTED, false,
                         "method not allowed: use POST");
        (void)fw_http_response_header(resp, "allow", "POST");
        return;
    }

    if (known_type) proto = enc == FW_OTLP_JSON ? FW_PROTO_HTTP_JSON : FW_PROTO_HTTP_PROTOBUF;
    /* An unknown media type is counted under http_protobuf, OTLP/HTTP's
     * default encoding: the request has to be counted somewhere. */
    count_request(in, r, proto, req->body_len);
    if (!fw_auth_check(in->token, req->authorization)) {
        outcome_fail(&o, FW_REJECT_UNAUTHENTICATED, "missing or invalid bearer token");
        http_fail(in, r, proto, enc, resp, &o);
        goto out;
    }
    if (!known_type) {
        quote_value(req->content_type, quoted, sizeof quoted);
        outcome_fail(&o, FW_REJECT_UNSUPPORTED,
                     "unsupported content-type \"%s\": use application/x-protobuf or "
                     "application/json",
                     quoted);
        http_fail(in, r, proto, FW_OTLP_JSON, resp, &o);
        return;
    }
    if (req->body_too_large) {
        outcome_fail(&o, FW_REJECT_TOO_LARGE, "request body larger than the limit of %zu bytes",
                     in->cfg.http_max_body);
        http_fail(in, r, proto, enc, resp, &o);
        return;
    }

    /* In-flight decode memory: the wire body now, the inflated copy and
     * the arena once their sizes are known. */
    if (req->over_budget) overload_fail(in, &o);
    if (o.failed || (!req->budget_held && inflight_admit(in, req->body_len, held, &o) != 0)) {
        http_fail(in, r, proto, enc, resp, &o);
        goto out;
    }
    const uint8_t *body = req->body;
    size_t body_len = req->body_len;
    fw_str ce = str_trim(req->content_encoding);
    if (ce.len == 0 || fw_str_ieq(ce, "identity")) {
        /* as is */
    } else if (fw_str_ieq(ce, "gzip")) {
        fw_buf_init(&inflated, in->cfg.http_max_body);
        int rv = fw_gzip_inflate(body, body_len, &inflated, &perr);
        if (rv == FW_ERR_TOO_LARGE || rv == FW_ERR_NOMEM) {
            outcome_fail(&o, FW_REJECT_TOO_LARGE,
                         "decompressed request body larger than the limit of %zu bytes",
                         in->cfg.http_max_body);
        } else if (rv) {
            outcome_fail(&o, FW_REJECT_MALFORMED, "content-encoding gzip: %s", perr.detail);
        }
        if (rv) {
            http_fail(in, r, proto, enc, resp, &o);
            goto out;
        }
        body = inflated.data;
        body_len = inflated.len;
        if (inflight_admit(in, inflated.cap, held, &o) != 0) {
            http_fail(in, r, proto, enc, resp, &o);
            goto out;
        }
    } else {
        quote_value(ce, quoted, sizeof quoted);
        outcome_fail(&o, FW_REJECT_UNSUPPORTED,
                     "content-encoding \"%s\" not supported: use gzip or identity", quoted);
        http_fail(in, r, proto, enc, resp, &o);
        goto out;
    }

    run_export(in, r, proto, enc, body, body_len, held, &o);
    if (o.failed) {
        http_fail(in, r, proto, enc, resp, &o);
        goto out;
    }
    fw_buf_reset(&resp->body);
    if (r->encode_response(enc, o.rejected, o.reject_message, &resp->body) != 0) {
        /* Our own encoder failed, not the client: the data is stored. */
        fw_buf_reset(&resp->body);
        resp->status = 200;
        resp->content_type = NULL;
        goto out;
    }
    resp->status = 200;
    resp->content_type = http_content_type(enc);
out:
    fw_buf_free(&inflated);
    fw_membudget_release(in->cfg.budget, &own);
}

/* ---- write-ahead log replay ---------------------------------------------- */

int fw_ingest_replay(fw_ingest *in, const fw_wal_record *rec)
{
    ingest_outcome o;
    memset(&o, 0, sizeof o);
    o.replay = true;
    if (rec->protocol >= FW_PROTO__COUNT) return FW_ERR_INVALID;
    fw_protocol proto = (fw_protocol)rec->protocol;
    fw_otlp_encoding enc = proto == FW_PROTO_HTTP_JSON ? FW_OTLP_JSON : FW_OTLP_PROTOBUF;
    const ingest_route *r = &routes[rec->type == FW_WAL_LOGS ? 1 : 0];
    fw_membudget_hold held = {0, false};
    run_export_at(in, r, proto, enc, rec->payload, rec->len, rec->arrival_ns ? rec->arrival_ns : 1,
                  &held, &o);
    fw_membudget_release(in->cfg.budget, &held);
    if (!o.failed) return 0;
    return o.reason == FW_REJECT_OVERLOAD ? FW_ERR_OVERLOAD : FW_ERR_INVALID;
}

/* ---- lifecycle ----------------------------------------------------------- */

int fw_ingest_new(const fw_ingest_config *cfg, fw_pipeline *pipeline, fw_stats *stats,
                  fw_ingest **out)
{
    *out = NULL;
    if (!cfg || !pipeline || !stats || cfg->grpc_max_msg == 0 || cfg->http_max_body == 0 ||
        cfg->grpc_max_msg > UINT32_MAX)
        return FW_ERR_CONFIG;
    fw_ingest *in = calloc(1, sizeof *in);
    if (!in) return FW_ERR_NOMEM;
    in->cfg = *cfg;
    in->cfg.auth_token = NULL;
    size_t tlen = cfg->auth_token ? strlen(cfg->auth_token) : 0;
    if (tlen) {
        char *t = malloc(tlen + 1);
        if (!t) {
            free(in);
            return FW_ERR_NOMEM;
        }
        memcpy(t, cfg->auth_token, tlen + 1);
        in->token_buf = t;
        in->token = (fw_str){t, tlen};
        in->cfg.auth_token = t;
    }
    in->pipeline = pipeline;
    in->stats = stats;
    *out = in;
    return 0;
}

void fw_ingest_free(fw_ingest *in)
{
    if (!in) return;
    free(in->token_buf);
    free(in);
}

fw_http_handler fw_ingest_grpc_handler(fw_ingest *in)
{
    fw_http_handler h = {
        .handle = grpc_handle,
        .ctx = in,
        /* The raw wire form: one prefix plus the message (compressed
         * messages are smaller; their inflated size is checked apart). */
        .max_body = in->cfg.grpc_max_msg + 5,
        .max_resp_body = INGEST_RESP_MAX,
        .budget = in->cfg.budget,
    };
    return h;
}

fw_http_handler fw_ingest_http_handler(fw_ingest *in)
{
    fw_http_handler h = {
        .handle = http_handle,
        .ctx = in,
        .max_body = in->cfg.http_max_body,
        .max_resp_body = INGEST_RESP_MAX,
        .budget = in->cfg.budget,
    };
    return h;
}
