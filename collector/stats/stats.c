/* stats.c - ingest self-metrics (names and Prometheus text rendering) and
 * the Prometheus exposition helpers every exporter uses. Renders from
 * relaxed atomic loads; never takes a lock, never allocates beyond |out|. */
#include "flywheel/stats.h"

#include <string.h>

static const char *const protocol_names[FW_PROTO__COUNT] = {
    [FW_PROTO_GRPC] = "grpc",
    [FW_PROTO_HTTP_PROTOBUF] = "http_protobuf",
    [FW_PROTO_HTTP_JSON] = "http_json",
};

static const char *const reason_names[FW_REJECT__COUNT] = {
    [FW_REJECT_MALFORMED] = "malformed",
    [FW_REJECT_INVALID_ID] = "invalid_id",
    [FW_REJECT_TOO_OLD] = "too_old",
    [FW_REJECT_TOO_LARGE] = "too_large",
    [FW_REJECT_UNSUPPORTED] = "unsupported",
    [FW_REJECT_OVERLOAD] = "overload",
    [FW_REJECT_UNAUTHENTICATED] = "unauthenticated",
};

static const char *const signal_names[FW_SIGNAL__COUNT] = {
    [FW_SIGNAL_TRACES] = "traces",
    [FW_SIGNAL_LOGS] = "logs",
};

void fw_stats_init(fw_stats *s)
{
    for (int sig = 0; sig < FW_SIGNAL__COUNT; sig++) {
        for (int p = 0; p < FW_PROTO__COUNT; p++) {
            atomic_init(&s->accepted[sig][p], 0);
            atomic_init(&s->requests[sig][p], 0);
            for (int r = 0; r < FW_REJECT__COUNT; r++) {
                atomic_init(&s->rejected[sig][p][r], 0);
                atomic_init(&s->requests_rejected[sig][p][r], 0);
            }
        }
    }
    for (int p = 0; p < FW_PROTO__COUNT; p++)
        atomic_init(&s->received_bytes[p], 0);
}

const char *fw_protocol_name(fw_protocol p)
{
    return (unsigned)p < FW_PROTO__COUNT ? protocol_names[p] : "unknown";
}

const char *fw_reject_reason_name(fw_reject_reason r)
{
    return (unsigned)r < FW_REJECT__COUNT ? reason_names[r] : "unknown";
}

/* Exposition format 0.0.4: HELP text escapes backslash and newline. */
int fw_prom_header(fw_buf *out, const char *name, const char *type, const char *help)
{
    int rv = fw_buf_printf(out, "# HELP %s ", name);
    for (const char *c = help; !rv && *c; c++) {
        if (*c == '\\')
            rv = fw_buf_append(out, "\\\\", 2);
        else if (*c == '\n')
            rv = fw_buf_append(out, "\\n", 2);
        else
            rv = fw_buf_append(out, c, 1);
    }
    if (!rv)
        rv = fw_buf_printf(out, "\n# TYPE %s %s\n", name, type);
    return rv;
}

/* Appends the escaped value only (no quotes): backslash, quote, newline. */
int fw_prom_label_value(fw_buf *out, const char *v, size_t n)
{
    size_t start = 0;
    int rv = 0;
    for (size_t i = 0; i < n && !rv; i++) {
        const char *esc = NULL;
        if (v[i] == '\\')
            esc = "\\\\";
        else if (v[i] == '"')
            esc = "\\\"";
        else if (v[i] == '\n')
            esc = "\\n";
        if (!esc)
            continue;
        rv = fw_buf_append(out, v + start, i - start);
        if (!rv)
            rv = fw_buf_append(out, esc, 2);
        start = i + 1u;
    }
    if (!rv)
        rv = fw_buf_append(out, v + start, n - start);
    return rv;
}

static int render_per_protocol(fw_buf *out, const char *name, const char *help,
                               const _Atomic uint64_t *by_proto)
{
    int rv = fw_prom_header(out, name, "counter", help);
    for (int p = 0; p < FW_PROTO__COUNT && !rv; p++)
        rv = fw_buf_printf(out, "%s{protocol=\"%s\"} %llu\n", name, protocol_names[p],
                           (unsigned long long)fw_stats_get(&by_proto[p]));
    return rv;
}

static int render_rejected(fw_buf *out, const char *name, const char *help,
                           const _Atomic uint64_t (*by_proto)[FW_REJECT__COUNT])
{
    int rv = fw_prom_header(out, name, "counter", help);
    for (int p = 0; p < FW_PROTO__COUNT && !rv; p++)
        for (int r = 0; r < FW_REJECT__COUNT && !rv; r++)
            rv = fw_buf_printf(out, "%s{protocol=\"%s\",reason=\"%s\"} %llu\n", name,
                               protocol_names[p], reason_names[r],
                               (unsigned long long)fw_stats_get(&by_proto[p][r]));
    return rv;
}

int fw_stats_render(const fw_stats *s, fw_buf *out)
{
    int rv = render_per_protocol(out, "flywheel_spans_accepted_total",
                                 "Spans held by the store after an export.",
                                 s->accepted[FW_SIGNAL_TRACES]);
    if (!rv)
        rv = render_rejected(out, "flywheel_spans_rejected_total",
                             "Spans refused, by protocol and reason.",
                             s->rejected[FW_SIGNAL_TRACES]);
    if (!rv)
        rv = render_per_protocol(out, "flywheel_log_records_accepted_total",
                                 "Log records held by the store after an export.",
                                 s->accepted[FW_SIGNAL_LOGS]);
    if (!rv)
        rv = render_rejected(out, "flywheel_log_records_rejected_total",
                             "Log records refused, by protocol and reason.",
                             s->rejected[FW_SIGNAL_LOGS]);

    const char *name = "flywheel_requests_total";
    if (!rv)
        rv = fw_prom_header(out, name, "counter", "Export requests received.");
    for (int sig = 0; sig < FW_SIGNAL__COUNT && !rv; sig++)
        for (int p = 0; p < FW_PROTO__COUNT && !rv; p++)
            rv = fw_buf_printf(out, "%s{signal=\"%s\",protocol=\"%s\"} %llu\n", name,
                               signal_names[sig], protocol_names[p],
                               (unsigned long long)fw_stats_get(&s->requests[sig][p]));

    name = "flywheel_requests_rejected_total";
    if (!rv)
        rv = fw_prom_header(out, name, "counter",
                            "Export requests refused whole, by signal, protocol and reason.");
    for (int sig = 0; sig < FW_SIGNAL__COUNT && !rv; sig++)
        for (int p = 0; p < FW_PROTO__COUNT && !rv; p++)
            for (int r = 0; r < FW_REJECT__COUNT && !rv; r++)
                rv = fw_buf_printf(
                    out, "%s{signal=\"%s\",protocol=\"%s\",reason=\"%s\"} %llu\n", name,
                    signal_names[sig], protocol_names[p], reason_names[r],
                    (unsigned long long)fw_stats_get(&s->requests_rejected[sig][p][r]));

    if (!rv)
        rv = render_per_protocol(out, "flywheel_received_bytes_total",
                                 "Request body bytes received, before decompression.",
                                 s->received_bytes);
    return rv;
}
