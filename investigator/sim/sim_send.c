/* sim_send.c - the simulator's transport: an OTLP/gRPC client (nghttp2
 * client session over a blocking cleartext TCP socket, one Export call at a
 * time, grpc-status checked, UNAVAILABLE retried) and a one-shot HTTP/1.1
 * POST of a deployment to the flywheel API. Never generates telemetry. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "flywheel/sim.h"

#define SIM_SEND_RETRIES  6
#define SIM_SEND_MAX_BODY (64u * 1024 * 1024) /* refuse to pack larger requests */
#define SIM_IO_TIMEOUT_S  30

struct fw_sim_client {
    char host[256];
    char port[16];
    int fd;
    nghttp2_session *session;
    /* the one in-flight call */
    const uint8_t *body;
    size_t body_len, body_off;
    int32_t stream_id;
    int stream_done;
    int http_status;
    int grpc_status; /* -1: not seen */
    char grpc_message[160];
    uint32_t rst_code;
    int broken; /* the connection failed: reconnect before the next call */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int tcp_connect(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "resolve %s: %s", host, gai_strerror(rv));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "connect %s:%s: %s", host, port,
                 strerror(saved ? saved : ECONNREFUSED));
        return -1;
    }
    int one = 1;
    struct timeval tv = {SIM_IO_TIMEOUT_S, 0};
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int split_hostport(const char *endpoint, char *host, size_t hn, char *port, size_t pn)
{
    const char *p = endpoint;
    if (strncmp(p, "http://", 7) == 0) p += 7;
    const char *colon = strrchr(p, ':');
    const char *end = p + strcspn(p, "/");
    if (!colon || colon > end) return -1;
    size_t h = (size_t)(colon - p), q = (size_t)(end - colon - 1);
    if (*p == '[' && h >= 2 && p[h - 1] == ']') p++, h -= 2;
    if (h == 0 || h >= hn || q == 0 || q >= pn) return -1;
    memcpy(host, p, h);
    host[h] = '\0';
    memcpy(port, colon + 1, q);
    port[q] = '\0';
    for (size_t i = 0; i < q; i++)
        if (port[i] < '0' || port[i] > '9') return -1;
    return 0;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    (void)session;
    (void)flags;
    fw_sim_client *c = user_data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
        off += (size_t)n;
    }
    return (ssize_t)len;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)session;
    (void)flags;
    fw_sim_client *c = user_data;
    if (frame->hd.stream_id != c->stream_id) return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int v = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++)
            if (value[i] >= '0' && value[i] <= '9') v = v * 10 + (value[i] - '0');
        c->http_status = v;
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        int v = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            if (value[i] >= '0' && value[i] <= '9') v = v * 10 + (value[i] - '0');
        c->grpc_status = v;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        size_t n = valuelen < sizeof c->grpc_message - 1 ? valuelen : sizeof c->grpc_message - 1;
        for (size_t i = 0; i < n; i++)
            c->grpc_message[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? (char)value[i] : '?';
        c->grpc_message[n] = '\0';
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)session;
    fw_sim_client *c = user_data;
    if (stream_id == c->stream_id) {
        c->stream_done = 1;
        c->rst_code = error_code;
    }
    return 0;
}

static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)source;
    fw_sim_client *c = user_data;
    size_t n = c->body_len - c->body_off;
    if (n > length) n = length;
    memcpy(buf, c->body + c->body_off, n);
    c->body_off += n;
    if (c->body_off == c->body_len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void client_disconnect(fw_sim_client *c)
{
    if (c->session) nghttp2_session_del(c->session);
    c->session = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int client_open(fw_sim_client *c, char *err, size_t errlen)
{
    nghttp2_session_callbacks *cbs = NULL;
    c->fd = tcp_connect(c->host, c->port, err, errlen);
    if (c->fd < 0) return FW_ERR_IO;
    if (nghttp2_session_callbacks_new(&cbs) != 0) goto fail_nomem;
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rv = nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) goto fail_nomem;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 16},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) != 0) goto fail_nomem;
    c->broken = 0;
    return 0;
fail_nomem:
    client_disconnect(c);
    return FW_ERR_NOMEM;
}

int fw_sim_client_connect(const char *endpoint, fw_sim_client **out, char *err, size_t errlen)
{
    *out = NULL;
    fw_sim_client *c = calloc(1, sizeof *c);
    if (!c) return FW_ERR_NOMEM;
    c->fd = -1;
    if (split_hostport(endpoint, c->host, sizeof c->host, c->port, sizeof c->port) != 0) {
        snprintf(err, errlen, "bad endpoint '%.100s': expected HOST:PORT", endpoint);
        free(c);
        return FW_ERR_INVALID;
    }
    int rv = client_open(c, err, errlen);
    if (rv) {
        free(c);
        return rv;
    }
    *out = c;
    return 0;
}

void fw_sim_client_free(fw_sim_client *c)
{
    if (!c) return;
    if (c->session) {
        (void)nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        (void)nghttp2_session_send(c->session);
    }
    client_disconnect(c);
    free(c);
}

/* One attempt: 0 with grpc status in c->grpc_status, or FW_ERR_CLOSED when
 * the connection failed. */
static int call_once(fw_sim_client *c, const char *path, char *err, size_t errlen)
{
    char authority[300];
    snprintf(authority, sizeof authority, "%s:%s", c->host, c->port);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {NV(":method", "POST"),
                        NV(":scheme", "http"),
                        NV(":path", path),
                        NV(":authority", authority),
                        NV("content-type", "application/grpc"),
                        NV("te", "trailers"),
                        NV("user-agent", "flywheel-simulate/0.1")};
#undef NV
    nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = body_read};
    c->body_off = 0;
    c->stream_done = 0;
    c->http_status = 0;
    c->grpc_status = -1;
    c->grpc_message[0] = '\0';
    c->rst_code = 0;
    c->stream_id =
        nghttp2_submit_request(c->session, NULL, nva, sizeof nva / sizeof nva[0], &prd, NULL);
    if (c->stream_id < 0) {
        snprintf(err, errlen, "submit request: %s", nghttp2_strerror(c->stream_id));
        return FW_ERR_CLOSED;
    }
    uint8_t buf[16384];
    while (!c->stream_done) {
        int rv = nghttp2_session_send(c->session);
        if (rv != 0) {
            snprintf(err, errlen, "send: %s", nghttp2_strerror(rv));
            return FW_ERR_CLOSED;
        }
        if (c->stream_done) break;
        if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) {
            snprintf(err, errlen, "connection closed by the collector");
            return FW_ERR_CLOSED;
        }
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "recv: %s", n == 0 ? "connection closed" : strerror(errno));
            return FW_ERR_CLOSED;
        }
        ssize_t used = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
        if (used < 0) {
            snprintf(err, errlen, "http2: %s", nghttp2_strerror((int)used));
            return FW_ERR_CLOSED;
        }
    }
    (void)nghttp2_session_send(c->session); /* flush WINDOW_UPDATEs */
    return 0;
}

static int export_packed(fw_sim_client *c, const char *path, const ProtobufCMessage *msg, char *err,
                         size_t errlen)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > SIM_SEND_MAX_BODY) {
        snprintf(err, errlen, "request of %zu bytes is over the %u byte limit", len,
                 SIM_SEND_MAX_BODY);
        return FW_ERR_TOO_LARGE;
    }
    uint8_t *body = malloc(len + 5);
    if (!body) return FW_ERR_NOMEM;
    body[0] = 0; /* uncompressed */
    body[1] = (uint8_t)(len >> 24);
    body[2] = (uint8_t)(len >> 16);
    body[3] = (uint8_t)(len >> 8);
    body[4] = (uint8_t)len;
    protobuf_c_message_pack(msg, body + 5);
    c->body = body;
    c->body_len = len + 5;
    int rv = FW_ERR_IO;
    long backoff = 100;
    for (int attempt = 0; attempt < SIM_SEND_RETRIES; attempt++) {
        if (attempt) {
            sleep_ms(backoff);
            backoff *= 2;
        }
        if (c->broken || !c->session) {
            client_disconnect(c);
            if (client_open(c, err, errlen) != 0) {
                c->broken = 1;
                rv = FW_ERR_IO;
                continue;
            }
        }
        rv = call_once(c, path, err, errlen);
        if (rv == FW_ERR_CLOSED) {
            c->broken = 1;
            continue;
        }
        if (c->http_status != 200) {
            snprintf(err, errlen, "HTTP status %d%s", c->http_status,
                     c->rst_code ? " (stream reset)" : "");
            rv = FW_ERR_IO;
            if (c->http_status == 503 || c->http_status == 429 || c->http_status == 0) continue;
            break;
        }
        if (c->grpc_status == 0) {
            rv = 0;
            break;
        }
        snprintf(err, errlen, "grpc-status %d: %s", c->grpc_status, c->grpc_message);
        rv = FW_ERR_IO;
        if (c->grpc_status == 14 || c->grpc_status == 8)
            continue; /* UNAVAILABLE, RESOURCE_EXHAUSTED */
        break;
    }
    c->body = NULL;
    free(body);
    return rv;
}

int fw_sim_client_export_traces(
    fw_sim_client *c,
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req, char *err,
    size_t errlen)
{
    return export_packed(c, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                         &req->base, err, errlen);
}

int fw_sim_client_export_logs(
    fw_sim_client *c,
    const Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req, char *err,
    size_t errlen)
{
    return export_packed(c, "/opentelemetry.proto.collector.logs.v1.LogsService/Export", &req->base,
                         err, errlen);
}

int fw_sim_announce_deployment(const char *api_url, const fw_sim_announcement *a, char *err,
                               size_t errlen)
{
    char host[256], port[16], prefix[128] = "";
    const char *p = api_url;
    if (strncmp(p, "https://", 8) == 0) {
        snprintf(err, errlen, "--api: only http:// URLs are supported");
        return FW_ERR_INVALID;
    }
    if (split_hostport(p, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad API URL '%.100s': expected http://HOST:PORT", api_url);
        return FW_ERR_INVALID;
    }
    if (strncmp(p, "http://", 7) == 0) p += 7;
    const char *slash = strchr(p, '/');
    if (slash) {
        snprintf(prefix, sizeof prefix, "%s", slash);
        size_t pl = strlen(prefix);
        if (pl && prefix[pl - 1] == '/') prefix[pl - 1] = '\0';
    }
    char ts[40], body[512], req[1024];
    time_t sec = (time_t)(a->time_unix_ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char whole[32];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof ts, "%s.%03dZ", whole, (int)((a->time_unix_ns % 1000000000LL) / 1000000));
    int bl = snprintf(body, sizeof body,
                      "{\"service\":\"%s\",\"version\":\"%s\",\"timestamp\":\"%s\","
                      "\"environment\":\"%s\",\"description\":\"flywheel simulate\"}",
                      a->service, a->version, ts, a->environment);
    int rl = snprintf(req, sizeof req,
                      "POST %s/api/v1/deployments HTTP/1.1\r\nHost: %s:%s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n%s",
                      prefix, host, port, bl, body);
    if (bl < 0 || rl < 0 || (size_t)rl >= sizeof req) {
        snprintf(err, errlen, "deployment request too long");
        return FW_ERR_INVALID;
    }
    int fd = tcp_connect(host, port, err, errlen);
    if (fd < 0) return FW_ERR_IO;
    size_t off = 0;
    while (off < (size_t)rl) {
        ssize_t n = send(fd, req + off, (size_t)rl - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "send: %s", strerror(errno));
            close(fd);
            return FW_ERR_IO;
        }
        off += (size_t)n;
    }
    char resp[256];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (memchr(resp, '\n', got)) break;
    }
    close(fd);
    resp[got] = '\0';
    int status = 0;
    if (got >= 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        for (int i = 9; i < 12; i++)
            if (resp[i] >= '0' && resp[i] <= '9') status = status * 10 + (resp[i] - '0');
    if (status < 200 || status > 299) {
        char *nl = strpbrk(resp, "\r\n");
        if (nl) *nl = '\0';
        snprintf(err, errlen, "POST /api/v1/deployments: %s", got ? resp : "no response");
        return FW_ERR_IO;
    }
    return 0;
}
