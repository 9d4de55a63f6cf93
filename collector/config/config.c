/* config.c - flywheel's configuration: one declarative table (key, type,
 * default, bounds, offsetof target, help) drives the YAML loader, the
 * `--set key=value` flags, the --help listing and the config dump.
 * Owns no global state and never touches the network; the YAML input is
 * untrusted (size- and depth-bounded, no anchors, no sequences). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "flywheel/config.h"
#include "flywheel/limits.h"

/* A config file larger than this is refused unread (it is an operator's
 * file, but it can come from anywhere, e.g. a mounted volume). */
#define CFG_FILE_MAX (1024u * 1024u)
/* Mapping nesting depth accepted in YAML; the table is two levels deep. */
#define CFG_DEPTH_MAX 8
/* Longest dotted key built from the YAML path. */
#define CFG_KEY_MAX 128
/* Longest key or value quoted back in an error message. */
#define CFG_QUOTE_MAX 64

typedef enum cfg_type {
    CFG_STRING,    /* char[FW_CONFIG_STR_MAX], printable bytes only */
    CFG_ADDR,      /* char[FW_CONFIG_STR_MAX], HOST:PORT or [V6]:PORT */
    CFG_U64,       /* uint64_t, plain decimal */
    CFG_SIZE,      /* uint64_t bytes: "20MiB", "1GiB", "512KiB", "1000" */
    CFG_DURATION,  /* uint64_t seconds: "2h", "30m", "15s", "1h30m", "90" */
    CFG_LOG_LEVEL, /* fw_log_level */
    CFG_LOG_FORMAT, /* fw_log_format */
    CFG_SECRET     /* char[FW_CONFIG_STR_MAX] like STRING; the dump hides it */
} cfg_type;

typedef struct cfg_entry {
    const char *key; /* dotted: "<section>.<leaf>" */
    cfg_type type;
    const char *def_str; /* default of STRING and ADDR */
    uint64_t def;        /* default of the numeric and enum types */
    uint64_t min, max;   /* inclusive bounds of the numeric types */
    size_t off;          /* offsetof(fw_config, field) */
    const char *help;
} cfg_entry;

#define KiB    UINT64_C(1024)
#define MiB    (1024 * KiB)
#define GiB    (1024 * MiB)
#define TiB    (1024 * GiB)
#define MINUTE UINT64_C(60)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

/* clang-format off */
#define STR(k, t, d, field, h) {k, t, d, 0, 0, 0, offsetof(fw_config, field), h}
#define NUM(k, t, d, lo, hi, field, h) {k, t, NULL, d, lo, hi, offsetof(fw_config, field), h}

#define LISTENER(sec, f, addr, what)                                                          \
    STR(sec ".listen", CFG_ADDR, addr, f.listen,                                             \
        "Address of the " what " listener; port 0 picks a free port."),                     \
    STR(sec ".tls_cert_file", CFG_STRING, "", f.tls_cert_file,                               \
        "PEM certificate chain; set with tls_key_file to serve TLS (empty = cleartext)."),  \
    STR(sec ".tls_key_file", CFG_STRING, "", f.tls_key_file, "PEM private key of the certificate."), \
    STR(sec ".tls_client_ca_file", CFG_STRING, "", f.tls_client_ca_file,                     \
        "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).")
/* clang-format on */

/* The one table. Order is the order of --help and of the dump; entries of
 * one section are contiguous. */
static const cfg_entry cfg_table[] = {
    LISTENER("otlp_grpc", grpc, "127.0.0.1:4317", "OTLP/gRPC"),
    NUM("otlp_grpc.max_recv_msg_bytes", CFG_SIZE, FW_LIMIT_GRPC_MSG_DEFAULT, 1 * KiB, 1 * GiB,
        grpc_max_recv_msg_bytes,
        "Largest gRPC message after decompression; larger ones get RESOURCE_EXHAUSTED."),
    LISTENER("otlp_http", http, "127.0.0.1:4318", "OTLP/HTTP"),
    NUM("otlp_http.max_body_bytes", CFG_SIZE, FW_LIMIT_HTTP_BODY_DEFAULT, 1 * KiB, 1 * GiB,
        http_max_body_bytes, "Largest OTLP/HTTP body after decompression; larger ones get 413."),
    LISTENER("api", api, "127.0.0.1:4320", "API (JSON API, /healthz, /readyz, /metrics)"),
    NUM("api.max_body_bytes", CFG_SIZE, FW_LIMIT_API_BODY_DEFAULT, 1 * KiB, 64 * MiB,
        api_max_body_bytes, "Largest request body the API accepts."),
    STR("storage.data_dir", CFG_STRING, "./flywheel-data", data_dir,
        "Directory for flywheel's state; created when missing."),
    NUM("storage.retention", CFG_DURATION, 2 * HOUR, 1 * MINUTE, 90 * DAY, retention_s,
        "How long telemetry is kept (event time); older data is refused and evicted."),
    NUM("storage.memory_limit", CFG_SIZE, 1 * GiB, 16 * MiB, 4 * TiB, memory_limit_bytes,
        "Memory budget of flywheel: stored telemetry, RED series, the string dictionary and "
        "requests in flight; the oldest data is evicted beyond it."),
    NUM("storage.inflight_memory", CFG_SIZE, 0, 0, 1 * TiB, inflight_memory_bytes,
        "Part of storage.memory_limit for requests in flight (bodies being received, "
        "decompressed copies, decode memory); past it new exports get 503 + Retry-After / "
        "gRPC UNAVAILABLE and the SDKs retry. 0 = a fifth of storage.memory_limit."),
    NUM("storage.max_spans", CFG_U64, FW_LIMIT_STORE_SPANS_DEFAULT, 1, UINT64_C(4000000000),
        store_max_spans, "Most spans held; the oldest are evicted beyond it."),
    NUM("storage.max_logs", CFG_U64, FW_LIMIT_STORE_LOGS_DEFAULT, 1, UINT64_C(4000000000),
        store_max_logs, "Most log records held; the oldest are evicted beyond it."),
    STR("storage.wal", CFG_STRING, "on", wal,
        "on|off: keep a write-ahead log of accepted telemetry in <data_dir>/wal and replay it "
        "at start; off keeps telemetry in memory only (lost on restart)."),
    STR("storage.wal_fsync", CFG_STRING, "interval", wal_fsync,
        "always|interval|never: always = fsync before acknowledging (survives power loss; "
        "concurrent requests share one fsync); interval = acknowledge once written, fsync every "
        "wal_fsync_interval_ms (survives a killed process; power loss may lose that window); "
        "never = leave flushing to the kernel."),
    NUM("storage.wal_fsync_interval_ms", CFG_U64, 100, 1, 60000, wal_fsync_interval_ms,
        "Milliseconds between write-ahead log fsyncs under wal_fsync: interval."),
    NUM("storage.wal_segment_bytes", CFG_SIZE, 64 * MiB, 1 * MiB, 1 * GiB, wal_segment_bytes,
        "Size at which a write-ahead log segment is closed and a new one started."),
    NUM("storage.wal_max_bytes", CFG_SIZE, 0, 0, 64 * TiB, wal_max_bytes,
        "Disk bound of the write-ahead log: the oldest segments are deleted beyond it (their "
        "data would be past the memory limit anyway); 0 = twice storage.memory_limit."),
    NUM("server.workers", CFG_U64, 0, 0, 256, workers,
        "Worker threads (one event loop each); 0 = one per online CPU."),
    NUM("server.max_connections", CFG_U64, FW_LIMIT_CONNECTIONS_DEFAULT, 1, 1000000,
        max_connections, "Open connections per listener; further ones are refused."),
    NUM("server.idle_timeout", CFG_DURATION, FW_LIMIT_IDLE_TIMEOUT_S, 1, 1 * DAY, idle_timeout_s,
        "Idle keep-alive connections are closed after this."),
    NUM("server.header_timeout", CFG_DURATION, FW_LIMIT_HEADER_TIMEOUT_S, 1, 1 * HOUR,
        header_timeout_s, "Time a client has to send a request's headers (slowloris guard)."),
    NUM("server.h2_max_concurrent_streams", CFG_U64, FW_LIMIT_H2_STREAMS_DEFAULT, 1, 65535,
        h2_max_concurrent_streams, "Concurrent HTTP/2 streams per connection."),
    NUM("server.shutdown_grace", CFG_DURATION, 10, 0, 1 * HOUR, shutdown_grace_s,
        "On SIGINT/SIGTERM, in-flight requests get this long to finish."),
    STR("throttling.exception_types", CFG_STRING, "", throttle_exception_types,
        "Extra exception/error types that name throttling, comma-separated (matched "
        "case-insensitively against exception.type and error.type, also after a namespace)."),
    STR("throttling.messages", CFG_STRING, "", throttle_messages,
        "Extra phrases that name throttling, comma-separated (matched case-insensitively "
        "inside exception messages, status messages and log bodies)."),
    NUM("log.level", CFG_LOG_LEVEL, FW_LOG_INFO, 0, 0, log_level,
        "Least severe level written to stderr."),
    NUM("log.format", CFG_LOG_FORMAT, FW_LOG_LOGFMT, 0, 0, log_format,
        "Log line format on stderr."),
    STR("auth.ingest_token", CFG_SECRET, "", auth_ingest_token,
        "Bearer token OTLP/gRPC and OTLP/HTTP exports must present (empty = open)."),
    STR("auth.ingest_token_file", CFG_STRING, "", auth_ingest_token_file,
        "File holding the ingest token (read at start, whitespace trimmed)."),
    STR("auth.read_token", CFG_SECRET, "", auth_read_token,
        "Bearer token for GET/HEAD on /api/v1/* and /metrics (empty = open)."),
    STR("auth.read_token_file", CFG_STRING, "", auth_read_token_file,
        "File holding the read token (read at start, whitespace trimmed)."),
    STR("auth.write_token", CFG_SECRET, "", auth_write_token,
        "Bearer token for POST/PUT/DELETE on /api/v1/* (deployments, SLOs, alarm webhooks, "
        "investigations; empty = open)."),
    STR("auth.write_token_file", CFG_STRING, "", auth_write_token_file,
        "File holding the write token (read at start, whitespace trimmed)."),
};

#define CFG_N (sizeof cfg_table / sizeof cfg_table[0])

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const format_names[] = {"logfmt", "json"};

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (w < 0) err[0] = '\0';
}

/* Quotes untrusted text for an error message: bounded, control bytes as '.'. */
static const char *quote(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < outsz; i++) {
        if (i == CFG_QUOTE_MAX) {
            out[o++] = '.';
            out[o++] = '.';
            out[o++] = '.';
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        out[o++] = (ch < 0x20 || ch == 0x7f) ? '.' : (char)ch;
    }
    if (outsz) out[o < outsz ? o : outsz - 1] = '\0';
    return out;
}

static const cfg_entry *cfg_find(const char *key, size_t n)
{
    for (size_t i = 0; i < CFG_N; i++)
        if (strlen(cfg_table[i].key) == n && memcmp(cfg_table[i].key, key, n) == 0)
            return &cfg_table[i];
    return NULL;
}

/* Is |p| (length n) a section, i.e. "p." prefixes some key? */
static int cfg_is_section(const char *p, size_t n)
{
    for (size_t i = 0; i < CFG_N; i++)
        if (strlen(cfg_table[i].key) > n && strncmp(cfg_table[i].key, p, n) == 0 &&
            cfg_table[i].key[n] == '.')
            return 1;
    return 0;
}

static int lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (m != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)lit[i])) return 0;
    return 1;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* Decimal digits at s[*pos..n) into |out|; at least one digit, no sign, no
 * overflow. Advances *pos. Returns 0 or -1. */
static int parse_digits(const char *s, size_t n, size_t *pos, uint64_t *out)
{
    size_t i = *pos;
    uint64_t v = 0;
    if (i >= n || s[i] < '0' || s[i] > '9') return -1;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *pos = i;
    *out = v;
    return 0;
}

static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b && a > UINT64_MAX / b) return -1;
    *out = a * b;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out, const char **why)
{
    size_t pos = 0;
    trim(&s, &n);
    if (parse_digits(s, n, &pos, out) != 0 || pos != n) {
        *why = "expects a non-negative integer";
        return -1;
    }
    return 0;
}

static const struct {
    const char *unit;
    uint64_t mult;
} size_units[] = {
    /* clang-format off */
    {"", 1},           {"b", 1},          {"kib", KiB},       {"mib", MiB},
    {"gib", GiB},      {"tib", TiB},      {"kb", UINT64_C(1000)}, {"mb", UINT64_C(1000000)},
    {"gb", UINT64_C(1000000000)}, {"tb", UINT64_C(1000000000000)},
    /* clang-format on */
};

static int parse_size(const char *s, size_t n, uint64_t *out, const char **why)
{
    size_t pos = 0;
    uint64_t v;
    trim(&s, &n);
    if (parse_digits(s, n, &pos, &v) != 0) goto bad;
    while (pos < n && s[pos] == ' ') pos++;
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (ieq(s + pos, n - pos, size_units[i].unit)) {
            if (mul_ok(v, size_units[i].mult, out) != 0) {
                *why = "size overflows";
                return -1;
            }
            return 0;
        }
    }
bad:
    *why = "expects a size such as 512KiB, 20MiB, 1GiB or a number of bytes";
    return -1;
}

static int parse_duration(const char *s, size_t n, uint64_t *out, const char **why)
{
    size_t pos = 0;
    uint64_t total = 0, v;
    trim(&s, &n);
    if (n == 0) goto bad;
    /* A plain number is seconds. */
    if (parse_digits(s, n, &pos, &v) == 0 && pos == n) {
        *out = v;
        return 0;
    }
    pos = 0;
    while (pos < n) {
        uint64_t mult, part;
        if (parse_digits(s, n, &pos, &v) != 0 || pos >= n) goto bad;
        if (pos + 1 < n && s[pos] == 'm' && s[pos + 1] == 's') {
            *why = "sub-second durations are not supported";
            return -1;
        }
        switch (s[pos]) {
        case 'd': mult = DAY; break;
        case 'h': mult = HOUR; break;
        case 'm': mult = MINUTE; break;
        case 's': mult = 1; break;
        default: goto bad;
        }
        pos++;
        if (mul_ok(v, mult, &part) != 0 || total > UINT64_MAX - part) {
            *why = "duration overflows";
            return -1;
        }
        total += part;
    }
    *out = total;
    return 0;
bad:
    *why = "expects a duration such as 15s, 30m, 2h, 1h30m or a number of seconds";
    return -1;
}

/* HOST:PORT, [V6]:PORT; port 0-65535. Returns 0 or -1 with |why|. */
static int check_addr(const char *s, size_t n, const char **why)
{
    size_t colon = n, host_start = 0, host_end;
    if (n == 0) {
        *why = "expects HOST:PORT";
        return -1;
    }
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) {
            *why = "missing ']' after an IPv6 address";
            return -1;
        }
        host_start = 1;
        host_end = (size_t)(rb - s);
        if (host_end + 1 >= n || s[host_end + 1] != ':') {
            *why = "expects [IPV6]:PORT";
            return -1;
        }
        colon = host_end + 1;
        for (size_t i = host_start; i < host_end; i++) {
            char ch = s[i];
            if (!((ch >= '0' && ch <= '9') || (lower(ch) >= 'a' && lower(ch) <= 'f') || ch == ':' ||
                  ch == '.')) {
                *why = "bad character in IPv6 address";
                return -1;
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':') {
                if (colon != n) {
                    *why = "IPv6 addresses need brackets, e.g. [::1]:4317";
                    return -1;
                }
                colon = i;
            }
        if (colon == n) {
            *why = "expects HOST:PORT (the port is missing)";
            return -1;
        }
        host_end = colon;
        for (size_t i = 0; i < host_end; i++) {
            char ch = s[i];
            if (!((ch >= '0' && ch <= '9') || (lower(ch) >= 'a' && lower(ch) <= 'z') || ch == '.' ||
                  ch == '-' || ch == '_')) {
                *why = "bad character in host name";
                return -1;
            }
        }
    }
    if (host_end == host_start) {
        *why = "expects HOST:PORT (the host is missing; use 0.0.0.0 for all interfaces)";
        return -1;
    }
    size_t pos = colon + 1;
    uint64_t port;
    if (pos == n || n - pos > 5 || parse_digits(s, n, &pos, &port) != 0 || pos != n ||
        port > 65535) {
        *why = "port must be a number from 0 to 65535";
        return -1;
    }
    return 0;
}

static uint64_t *u64_at(fw_config *c, const cfg_entry *e)
{
    return (uint64_t *)(void *)((char *)c + e->off);
}

static const uint64_t *u64_at_const(const fw_config *c, const cfg_entry *e)
{
    return (const uint64_t *)(const void *)((const char *)c + e->off);
}

static void fmt_size(uint64_t v, char *out, size_t outsz)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } u[] = {{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}};
    for (size_t i = 0; v && i < sizeof u / sizeof u[0]; i++)
        if (v % u[i].mult == 0) {
            snprintf(out, outsz, "%" PRIu64 "%s", v / u[i].mult, u[i].unit);
            return;
        }
    snprintf(out, outsz, "%" PRIu64, v);
}

static void fmt_duration(uint64_t v, char *out, size_t outsz)
{
    if (v && v % DAY == 0)
        snprintf(out, outsz, "%" PRIu64 "d", v / DAY);
    else if (v && v % HOUR == 0)
        snprintf(out, outsz, "%" PRIu64 "h", v / HOUR);
    else if (v && v % MINUTE == 0)
        snprintf(out, outsz, "%" PRIu64 "m", v / MINUTE);
    else
        snprintf(out, outsz, "%" PRIu64 "s", v);
}

static void fmt_num(cfg_type t, uint64_t v, char *out, size_t outsz)
{
    if (t == CFG_SIZE)
        fmt_size(v, out, outsz);
    else if (t == CFG_DURATION)
        fmt_duration(v, out, outsz);
    else
        snprintf(out, outsz, "%" PRIu64, v);
}

/* Parses |v| (|n| bytes, need not be NUL-terminated) into the field of |e|.
 * On error returns FW_ERR_CONFIG and writes the reason into |why|. */
static int entry_set(fw_config *c, const cfg_entry *e, const char *v, size_t n, char *why,
                     size_t whylen)
{
    const char *reason = NULL;
    uint64_t num = 0;
    switch (e->type) {
    case CFG_STRING:
    case CFG_SECRET:
    case CFG_ADDR: {
        if (n >= FW_CONFIG_STR_MAX) {
            set_err(why, whylen, "value longer than %d bytes", FW_CONFIG_STR_MAX - 1);
            return FW_ERR_CONFIG;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (ch < 0x20 || ch == 0x7f) {
                set_err(why, whylen, "control characters are not allowed");
                return FW_ERR_CONFIG;
            }
        }
        if (e->type == CFG_ADDR && check_addr(v, n, &reason) != 0) break;
        char *dst = (char *)c + e->off;
        memcpy(dst, v, n);
        dst[n] = '\0';
        return 0;
    }
    case CFG_U64:
        if (parse_u64(v, n, &num, &reason) != 0) break;
        goto bounds;
    case CFG_SIZE:
        if (parse_size(v, n, &num, &reason) != 0) break;
        goto bounds;
    case CFG_DURATION:
        if (parse_duration(v, n, &num, &reason) != 0) break;
        goto bounds;
    case CFG_LOG_LEVEL:
        trim(&v, &n);
        for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
            if (ieq(v, n, level_names[i])) {
                *(fw_log_level *)(void *)((char *)c + e->off) = (fw_log_level)i;
                return 0;
            }
        if (ieq(v, n, "warning")) {
            *(fw_log_level *)(void *)((char *)c + e->off) = FW_LOG_WARN;
            return 0;
        }
        reason = "expects one of debug, info, warn, error, off";
        break;
    case CFG_LOG_FORMAT:
        trim(&v, &n);
        for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
            if (ieq(v, n, format_names[i])) {
                *(fw_log_format *)(void *)((char *)c + e->off) = (fw_log_format)i;
                return 0;
            }
        reason = "expects logfmt or json";
        break;
    }
    set_err(why, whylen, "%s", reason ? reason : "bad value");
    return FW_ERR_CONFIG;

bounds:
    if (num < e->min || num > e->max) {
        char lo[32], hi[32];
        fmt_num(e->type, e->min, lo, sizeof lo);
        fmt_num(e->type, e->max, hi, sizeof hi);
        set_err(why, whylen, "must be between %s and %s", lo, hi);
        return FW_ERR_CONFIG;
    }
    *u64_at(c, e) = num;
    return 0;
}

/* ---- public API --------------------------------------------------------- */

void fw_config_defaults(fw_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        switch (e->type) {
        case CFG_STRING:
        case CFG_SECRET:
        case CFG_ADDR: snprintf((char *)c + e->off, FW_CONFIG_STR_MAX, "%s", e->def_str); break;
        case CFG_U64:
        case CFG_SIZE:
        case CFG_DURATION: *u64_at(c, e) = e->def; break;
        case CFG_LOG_LEVEL:
            *(fw_log_level *)(void *)((char *)c + e->off) = (fw_log_level)e->def;
            break;
        case CFG_LOG_FORMAT:
            *(fw_log_format *)(void *)((char *)c + e->off) = (fw_log_format)e->def;
            break;
        }
    }
}

int fw_config_set(fw_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    char q[CFG_QUOTE_MAX + 8], why[160];
    if (!key || !value) {
        set_err(err, errlen, "missing key or value");
        return FW_ERR_CONFIG;
    }
    const cfg_entry *e = cfg_find(key, strlen(key));
    if (!e) {
        set_err(err, errlen, "%s: unknown key (see flywheel serve --help)",
                quote(key, strlen(key), q, sizeof q));
        return FW_ERR_CONFIG;
    }
    if (entry_set(c, e, value, strlen(value), why, sizeof why) != 0) {
        set_err(err, errlen, "%s: %s", e->key, why);
        return FW_ERR_CONFIG;
    }
    return 0;
}

/* ---- YAML --------------------------------------------------------------- */

typedef struct yaml_load {
    fw_config *c;
    const char *name;
    char *err;
    size_t errlen;
    char path[CFG_KEY_MAX + 1];
    size_t path_len[CFG_DEPTH_MAX + 1]; /* path length before the key at depth d */
    int depth;                          /* mapping depth; 0 = outside the root mapping */
    int want_value;                     /* a key at |depth| waits for its value */
    size_t key_line;                    /* 1-based line of that key */
    unsigned char seen[CFG_N];          /* duplicate leaf detection */
} yaml_load;

static int yerr(yaml_load *y, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yerr(yaml_load *y, size_t line, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w < 0) msg[0] = '\0';
    set_err(y->err, y->errlen, "%s:%zu: %s", y->name, line, msg);
    return FW_ERR_CONFIG;
}

static const char *ypath(yaml_load *y, char *q, size_t qsz)
{
    return quote(y->path, strlen(y->path), q, qsz);
}

static int on_key(yaml_load *y, const yaml_event_t *ev)
{
    char q[CFG_QUOTE_MAX + 8];
    size_t line = ev->start_mark.line + 1;
    if (ev->type != YAML_SCALAR_EVENT) return yerr(y, line, "keys must be scalars");
    const char *k = (const char *)ev->data.scalar.value;
    size_t kn = ev->data.scalar.length;
    if (memchr(k, '\0', kn)) return yerr(y, line, "NUL byte in key");
    size_t base = y->path_len[y->depth];
    size_t need = base + (y->depth > 1 ? 1 : 0) + kn;
    if (need > CFG_KEY_MAX) return yerr(y, line, "%s: key too long", quote(k, kn, q, sizeof q));
    size_t p = base;
    if (y->depth > 1) y->path[p++] = '.';
    memcpy(y->path + p, k, kn);
    y->path[need] = '\0';
    y->want_value = 1;
    y->key_line = line;
    return 0;
}

static int on_value(yaml_load *y, const yaml_event_t *ev)
{
    char q[CFG_QUOTE_MAX + 8], why[160];
    size_t line = ev->start_mark.line + 1;
    size_t plen = strlen(y->path);
    const cfg_entry *e = cfg_find(y->path, plen);
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        if (!e) {
            if (cfg_is_section(y->path, plen))
                return yerr(y, line, "%s: expects a mapping of keys", ypath(y, q, sizeof q));
            return yerr(y, y->key_line, "%s: unknown key", ypath(y, q, sizeof q));
        }
        size_t idx = (size_t)(e - cfg_table);
        if (y->seen[idx]) return yerr(y, y->key_line, "%s: duplicate key", e->key);
        y->seen[idx] = 1;
        const char *v = (const char *)ev->data.scalar.value;
        size_t vn = ev->data.scalar.length;
        /* A plain null ("key:", "key: ~", "key: null") clears a string. */
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (vn == 0 || ieq(v, vn, "~") || ieq(v, vn, "null"))) {
            if (e->type != CFG_STRING && e->type != CFG_SECRET)
                return yerr(y, line, "%s: value is missing", e->key);
            vn = 0;
        }
        if (memchr(v, '\0', vn)) return yerr(y, line, "%s: NUL byte in value", e->key);
        if (entry_set(y->c, e, v, vn, why, sizeof why) != 0)
            return yerr(y, line, "%s: %s", e->key, why);
        y->want_value = 0;
        return 0;
    }
    case YAML_MAPPING_START_EVENT:
        if (!cfg_is_section(y->path, plen)) {
            if (e) return yerr(y, line, "%s: expects a single value, not a mapping", e->key);
            return yerr(y, y->key_line, "%s: unknown key", ypath(y, q, sizeof q));
        }
        if (y->depth >= CFG_DEPTH_MAX)
            return yerr(y, line, "nesting deeper than %d levels", CFG_DEPTH_MAX);
        y->depth++;
        y->path_len[y->depth] = plen;
        y->want_value = 0;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        return yerr(y, line, "%s: lists are not supported here", ypath(y, q, sizeof q));
    default: return yerr(y, line, "%s: unexpected YAML node", ypath(y, q, sizeof q));
    }
}

static int has_anchor(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return ev->data.scalar.anchor != NULL;
    case YAML_MAPPING_START_EVENT: return ev->data.mapping_start.anchor != NULL;
    case YAML_SEQUENCE_START_EVENT: return ev->data.sequence_start.anchor != NULL;
    case YAML_ALIAS_EVENT: return 1;
    default: return 0;
    }
}

/* One event; returns 0 to go on, 1 at the end of the stream, <0 on error. */
static int on_event(yaml_load *y, const yaml_event_t *ev, int *docs)
{
    size_t line = ev->start_mark.line + 1;
    if (has_anchor(ev)) return yerr(y, line, "anchors and aliases are not supported");
    switch (ev->type) {
    case YAML_STREAM_START_EVENT: return 0;
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) return yerr(y, line, "only one YAML document is allowed");
        return 0;
    case YAML_DOCUMENT_END_EVENT: return 0;
    default: break;
    }
    if (y->depth == 0) {
        /* The root node. An empty document is a plain empty scalar. */
        if (ev->type == YAML_MAPPING_START_EVENT) {
            y->depth = 1;
            y->path_len[1] = 0;
            y->want_value = 0;
            return 0;
        }
        if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return 0;
        return yerr(y, line, "the top level must be a mapping of keys");
    }
    if (ev->type == YAML_MAPPING_END_EVENT) {
        y->depth--;
        y->want_value = 0;
        return 0;
    }
    return y->want_value ? on_value(y, ev) : on_key(y, ev);
}

int fw_config_load_yaml(fw_config *c, const char *name, const char *yaml, size_t len, char *err,
                        size_t errlen)
{
    if (!name) name = "config";
    if (len > CFG_FILE_MAX) {
        set_err(err, errlen, "%s: larger than %u bytes", name, CFG_FILE_MAX);
        return FW_ERR_TOO_LARGE;
    }
    yaml_load *y = calloc(1, sizeof *y);
    fw_config *work = malloc(sizeof *work);
    yaml_parser_t parser;
    int parser_ok = 0, rv = 0, docs = 0;
    if (!y || !work) {
        set_err(err, errlen, "%s: out of memory", name);
        rv = FW_ERR_NOMEM;
        goto out;
    }
    /* Load into a copy: on error |c| stays as it was. */
    *work = *c;
    y->c = work;
    y->name = name;
    y->err = err;
    y->errlen = errlen;
    if (!yaml_parser_initialize(&parser)) {
        set_err(err, errlen, "%s: out of memory", name);
        rv = FW_ERR_NOMEM;
        goto out;
    }
    parser_ok = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
                                 yaml ? len : 0);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rv = yerr(y, parser.problem_mark.line + 1, "yaml: %s%s%s",
                      parser.problem ? parser.problem : "parse error", parser.context ? " " : "",
                      parser.context ? parser.context : "");
            goto out;
        }
        int r = on_event(y, &ev, &docs);
        yaml_event_delete(&ev);
        if (r < 0) {
            rv = r;
            goto out;
        }
        if (r == 1) break;
    }
    *c = *work;
out:
    if (parser_ok) yaml_parser_delete(&parser);
    free(work);
    free(y);
    return rv;
}

int fw_config_load_file(fw_config *c, const char *path, char *err, size_t errlen)
{
    int rv = 0, fd = -1;
    char *text = NULL;
    struct stat st;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return FW_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        rv = FW_ERR_IO;
        goto out;
    }
    if (st.st_size > (off_t)CFG_FILE_MAX) {
        set_err(err, errlen, "%s: larger than %u bytes", path, CFG_FILE_MAX);
        rv = FW_ERR_TOO_LARGE;
        goto out;
    }
    /* Read at most CFG_FILE_MAX + 1 bytes: the file may grow after fstat. */
    text = malloc(CFG_FILE_MAX + 1);
    if (!text) {
        set_err(err, errlen, "%s: out of memory", path);
        rv = FW_ERR_NOMEM;
        goto out;
    }
    size_t len = 0;
    while (len < CFG_FILE_MAX + 1) {
        ssize_t got = read(fd, text + len, CFG_FILE_MAX + 1 - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            set_err(err, errlen, "%s: read failed: %s", path, strerror(errno));
            rv = FW_ERR_IO;
            goto out;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    rv = fw_config_load_yaml(c, path, text, len, err, errlen);
out:
    free(text);
    if (fd >= 0) close(fd);
    return rv;
}

/* ---- validation, help, dump -------------------------------------------- */

static int check_listener(const fw_listener_settings *l, const char *sec, char *err, size_t errlen)
{
    const char *why = NULL;
    if (check_addr(l->listen, strlen(l->listen), &why) != 0) {
        set_err(err, errlen, "%s.listen: %s", sec, why);
        return FW_ERR_CONFIG;
    }
    int has_cert = l->tls_cert_file[0] != '\0', has_key = l->tls_key_file[0] != '\0';
    if (has_cert != has_key) {
        set_err(err, errlen, "%s.%s: TLS needs both tls_cert_file and tls_key_file", sec,
                has_cert ? "tls_key_file" : "tls_cert_file");
        return FW_ERR_CONFIG;
    }
    if (l->tls_client_ca_file[0] && !has_cert) {
        set_err(err, errlen,
                "%s.tls_client_ca_file: mutual TLS needs tls_cert_file and tls_key_file", sec);
        return FW_ERR_CONFIG;
    }
    return 0;
}

/* Port of a checked HOST:PORT address. */
static unsigned addr_port(const char *a)
{
    const char *colon = strrchr(a, ':');
    unsigned port = 0;
    for (const char *p = colon ? colon + 1 : a + strlen(a); *p >= '0' && *p <= '9'; p++)
        port = port * 10 + (unsigned)(*p - '0');
    return port;
}

int fw_config_validate(const fw_config *c, char *err, size_t errlen)
{
    const fw_listener_settings *ls[3] = {&c->grpc, &c->http, &c->api};
    static const char *const secs[3] = {"otlp_grpc", "otlp_http", "api"};
    int rv;
    for (size_t i = 0; i < 3; i++)
        if ((rv = check_listener(ls[i], secs[i], err, errlen)) != 0) return rv;
    for (size_t i = 0; i < 3; i++)
        for (size_t j = i + 1; j < 3; j++)
            if (addr_port(ls[i]->listen) != 0 && strcmp(ls[i]->listen, ls[j]->listen) == 0) {
                set_err(err, errlen, "%s.listen: same address as %s.listen (%s)", secs[j], secs[i],
                        ls[i]->listen);
                return FW_ERR_CONFIG;
            }
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        if (e->type != CFG_U64 && e->type != CFG_SIZE && e->type != CFG_DURATION) continue;
        uint64_t v = *u64_at_const(c, e);
        if (v < e->min || v > e->max) {
            char lo[32], hi[32];
            fmt_num(e->type, e->min, lo, sizeof lo);
            fmt_num(e->type, e->max, hi, sizeof hi);
            set_err(err, errlen, "%s: must be between %s and %s", e->key, lo, hi);
            return FW_ERR_CONFIG;
        }
    }
    if (c->inflight_memory_bytes > c->memory_limit_bytes / 2) {
        set_err(err, errlen, "storage.inflight_memory: at most half of storage.memory_limit");
        return FW_ERR_CONFIG;
    }
    if ((unsigned)c->log_level > FW_LOG_OFF || (unsigned)c->log_format > FW_LOG_JSON) {
        set_err(err, errlen, "log: bad level or format");
        return FW_ERR_CONFIG;
    }
    const char *const tok[3][3] = {
        {"auth.ingest_token", c->auth_ingest_token, c->auth_ingest_token_file},
        {"auth.read_token", c->auth_read_token, c->auth_read_token_file},
        {"auth.write_token", c->auth_write_token, c->auth_write_token_file},
    };
    for (size_t i = 0; i < 3; i++)
        if (tok[i][1][0] && tok[i][2][0]) {
            set_err(err, errlen, "%s: set the token or %s_file, not both", tok[i][0], tok[i][0]);
            return FW_ERR_CONFIG;
        }
    if (c->data_dir[0] == '\0') {
        set_err(err, errlen, "storage.data_dir: must not be empty");
        return FW_ERR_CONFIG;
    }
    if (strcmp(c->wal, "on") != 0 && strcmp(c->wal, "off") != 0) {
        set_err(err, errlen, "storage.wal: must be on or off");
        return FW_ERR_CONFIG;
    }
    if (strcmp(c->wal_fsync, "always") != 0 && strcmp(c->wal_fsync, "interval") != 0 &&
        strcmp(c->wal_fsync, "never") != 0) {
        set_err(err, errlen, "storage.wal_fsync: must be always, interval or never");
        return FW_ERR_CONFIG;
    }
    return 0;
}

static const char *type_name(cfg_type t)
{
    switch (t) {
    case CFG_STRING: return "PATH";
    case CFG_SECRET: return "TOKEN";
    case CFG_ADDR: return "HOST:PORT";
    case CFG_U64: return "N";
    case CFG_SIZE: return "SIZE";
    case CFG_DURATION: return "DURATION";
    case CFG_LOG_LEVEL: return "debug|info|warn|error|off";
    case CFG_LOG_FORMAT: return "logfmt|json";
    }
    return "?";
}

static void fmt_value(const fw_config *c, const cfg_entry *e, char *out, size_t outsz)
{
    switch (e->type) {
    case CFG_STRING:
    case CFG_ADDR: snprintf(out, outsz, "%s", (const char *)c + e->off); break;
    case CFG_SECRET:
        snprintf(out, outsz, "%s", *((const char *)c + e->off) ? "<redacted>" : "");
        break;
    case CFG_U64:
    case CFG_SIZE:
    case CFG_DURATION: fmt_num(e->type, *u64_at_const(c, e), out, outsz); break;
    case CFG_LOG_LEVEL: {
        unsigned l = (unsigned)*(const fw_log_level *)(const void *)((const char *)c + e->off);
        snprintf(out, outsz, "%s", l <= FW_LOG_OFF ? level_names[l] : "?");
        break;
    }
    case CFG_LOG_FORMAT: {
        unsigned f = (unsigned)*(const fw_log_format *)(const void *)((const char *)c + e->off);
        snprintf(out, outsz, "%s", f <= FW_LOG_JSON ? format_names[f] : "?");
        break;
    }
    }
}

void fw_config_print_help(FILE *f)
{
    fw_config d;
    fw_config_defaults(&d);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        char def[FW_CONFIG_STR_MAX], range[80] = "";
        fmt_value(&d, e, def, sizeof def);
        if (e->type == CFG_U64 || e->type == CFG_SIZE || e->type == CFG_DURATION) {
            char lo[32], hi[32];
            fmt_num(e->type, e->min, lo, sizeof lo);
            fmt_num(e->type, e->max, hi, sizeof hi);
            snprintf(range, sizeof range, ", range %s..%s", lo, hi);
        }
        fprintf(f, "  %-34s %s (default: %s%s)\n      %s\n", e->key, type_name(e->type),
                def[0] ? def : "\"\"", range, e->help);
    }
}

static void dump_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void fw_config_dump(const fw_config *c, FILE *f)
{
    const char *prev = NULL;
    size_t prev_len = 0;
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        const char *dot = strchr(e->key, '.');
        size_t sec_len = dot ? (size_t)(dot - e->key) : 0;
        if (!prev || sec_len != prev_len || memcmp(prev, e->key, sec_len) != 0) {
            fprintf(f, "%.*s:\n", (int)sec_len, e->key);
            prev = e->key;
            prev_len = sec_len;
        }
        fprintf(f, "  %s: ", dot ? dot + 1 : e->key);
        if (e->type == CFG_SECRET) {
            char v[16];
            fmt_value(c, e, v, sizeof v);
            dump_string(f, v);
        } else if (e->type == CFG_STRING || e->type == CFG_ADDR) {
            dump_string(f, (const char *)c + e->off);
        } else {
            char v[64];
            fmt_value(c, e, v, sizeof v);
            fputs(v, f);
        }
        fputc('\n', f);
    }
}
