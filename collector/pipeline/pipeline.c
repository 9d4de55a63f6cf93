/* pipeline.c - the one hand-off point from a decoded request to what
 * outlives it: applies the retention rule, classifies each span once,
 * copies the accepted records into the store, feeds RED and the topology,
 * and counts every accepted and refused record per protocol.
 * Never keeps a pointer into the batch after the call returns. */
#include "flywheel/pipeline.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/deploy.h"
#include "flywheel/intern.h"
#include "flywheel/log.h"
#include "flywheel/patterns.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/topo.h"

/* Expiry of store, RED and topology runs at most this often. */
#define PIPELINE_TICK_NS 1000000000ull
/* RED observations are handed over in chunks of this many (stack). */
#define PIPELINE_OBS_CHUNK 128u

struct fw_pipeline {
    fw_pipeline_config cfg;
    fw_store *store; /* borrowed */
    fw_stats *stats; /* borrowed */
    _Atomic uint64_t last_tick_ns;
};

int fw_pipeline_new(const fw_pipeline_config *cfg, fw_store *store, fw_stats *stats,
                    fw_pipeline **out)
{
    *out = NULL;
    if (!cfg || !store || !stats)
        return FW_ERR_CONFIG;
    fw_pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return FW_ERR_NOMEM;
    p->cfg = *cfg;
    if (p->cfg.partitions == 0 || (p->cfg.partitions & (p->cfg.partitions - 1)) != 0)
        p->cfg.partitions = 1;
    p->store = store;
    p->stats = stats;
    *out = p;
    return 0;
}

void fw_pipeline_free(fw_pipeline *p)
{
    free(p);
}

/* Oldest event time still accepted; 0 when retention is off. */
static uint64_t cutoff_ns(const fw_pipeline *p, uint64_t now_ns)
{
    if (p->cfg.retention_ns == 0 || now_ns <= p->cfg.retention_ns)
        return 0;
    return now_ns - p->cfg.retention_ns;
}

/* A span's event time is its end (its start when the end is missing). */
static uint64_t span_time(const fw_span *s)
{
    return s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
}


unsigned fw_pipeline_partition(const uint8_t trace_id[FW_TRACE_ID_LEN], unsigned partitions)
{
    /* The low 8 bytes of a W3C trace id are random; mix anyway, since
     * not every SDK follows the W3C randomness rule. */
    uint64_t h = 0;
    for (size_t i = 0; i < FW_TRACE_ID_LEN; i++)
        h = (h ^ trace_id[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    return partitions ? (unsigned)(h & (partitions - 1)) : 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* OpenTelemetry tracestate "ot" entry (W3C tracestate list member
 * "ot=th:...;rv:..."): th is the 56-bit rejection threshold written as
 * 1-14 hex digits with trailing zeros dropped; p is the older power-of-two
 * probability exponent. */
double fw_pipeline_sampling_weight(fw_str ts)
{
    size_t i = 0;
    while (i < ts.len) {
        while (i < ts.len && (ts.ptr[i] == ' ' || ts.ptr[i] == '\t' || ts.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < ts.len && ts.ptr[i] != ',')
            i++;
        fw_str member = {ts.ptr + start, i - start};
        if (member.len < 3 || memcmp(member.ptr, "ot=", 3) != 0) continue;
        size_t j = 3;
        while (j < member.len) {
            size_t ks = j;
            while (j < member.len && member.ptr[j] != ';')
                j++;
            fw_str kv = {member.ptr + ks, j - ks};
            if (j < member.len) j++;
            if (kv.len > 3 && memcmp(kv.ptr, "th:", 3) == 0) {
                size_t nd = kv.len - 3;
                if (nd > 14) return 1.0;
                uint64_t th = 0;
                for (size_t d = 0; d < nd; d++) {
                    int v = hex_value(kv.ptr[3 + d]);
                    if (v < 0) return 1.0;
                    th = (th << 4) | (uint64_t)v;
                }
                th <<= 4 * (14 - nd);
                double reject = (double)th / 72057594037927936.0; /* 2^56 */
                double prob = 1.0 - reject;
                if (prob <= 0.0 || prob > 1.0) return 1.0;
                return 1.0 / prob;
            }
            if (kv.len > 2 && memcmp(kv.ptr, "p:", 2) == 0) {
                unsigned e = 0;
                size_t d = 2;
                for (; d < kv.len && kv.ptr[d] >= '0' && kv.ptr[d] <= '9' && e < 100; d++)
                    e = e * 10 + (unsigned)(kv.ptr[d] - '0');
                if (d != kv.len || e > 62) return 1.0;
                return ldexp(1.0, (int)e);
            }
        }
    }
    return 1.0;
}

void fw_pipeline_tick(fw_pipeline *p, uint64_t now_ns)
{
    uint64_t last = atomic_load_explicit(&p->last_tick_ns, memory_order_relaxed);
    if (now_ns >= last && now_ns - last < PIPELINE_TICK_NS) return;
    if (!atomic_compare_exchange_strong(&p->last_tick_ns, &last, now_ns)) return;
    fw_store_expire(p->store, now_ns);
    if (p->cfg.red) fw_red_expire(p->cfg.red, now_ns);
    if (p->cfg.topo) fw_topo_tick(p->cfg.topo, now_ns);
    if (p->cfg.patterns) fw_patterns_expire(p->cfg.patterns, now_ns);
}

/* Log bodies into the pattern miner (after the store accepted them). */
static void feed_patterns(fw_pipeline *p, const fw_log_record *recs, size_t n)
{
    fw_buf scratch;
    fw_buf_init(&scratch, FW_PATTERNS_MAX_LINE_DEFAULT);
    for (size_t i = 0; i < n; i++) {
        const fw_log_record *r = &recs[i];
        fw_str text;
        fw_buf_reset(&scratch);
        if (fw_patterns_body_text(&r->body, &scratch, &text) != 0 || text.len == 0) continue;
        int32_t sev = r->severity_number ? r->severity_number
                                         : fw_patterns_severity_parse(r->severity_text);
        fw_patterns_observe(p->cfg.patterns, r->resource->service_name, text, sev,
                            r->time_ns ? r->time_ns : r->observed_time_ns,
                            r->has_trace_id ? r->trace_id : NULL);
    }
    fw_buf_free(&scratch);
}

/* A span that starts work in its service: RED's per-service series. */
static bool span_is_entry(const fw_span *s)
{
    return s->kind == FW_SPAN_KIND_SERVER || s->kind == FW_SPAN_KIND_CONSUMER || !s->has_parent;
}

/* |names|: the dictionary id of each span's name (looked up once per batch
 * in feed_spans). */
static void feed_red(fw_pipeline *p, const fw_span *spans, const fw_span_class *cls,
                     const double *weights, const uint32_t *names, size_t n)
{
    fw_red_obs obs[PIPELINE_OBS_CHUNK];
    size_t k = 0;
    const fw_resource *last_res = NULL;
    uint32_t service = FW_INTERN_NONE;
    for (size_t i = 0; i < n; i++) {
        const fw_span *s = &spans[i];
        if (s->resource != last_res) {
            last_res = s->resource;
            service = fw_intern_id(p->cfg.intern, s->resource->service_name);
        }
        uint32_t op = names[i];
        fw_red_obs o;
        memset(&o, 0, sizeof o);
        o.key.kind = FW_RED_OPERATION;
        o.key.span_kind = (uint8_t)s->kind;
        o.key.a = service ? service : FW_RED_OVERFLOW_ID;
        o.key.b = op;
        o.time_ns = s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
        o.duration_us = fw_hist_duration_us(s->start_ns, s->end_ns);
        o.weight = weights[i];
        o.fault = cls[i].is_fault;
        o.client_error = cls[i].is_client_error;
        o.throttled = cls[i].is_throttled;
        memcpy(o.trace_id, s->trace_id, FW_TRACE_ID_LEN);
        obs[k++] = o;
        if (span_is_entry(s)) {
            o.key.kind = FW_RED_SERVICE;
            o.key.span_kind = 0;
            o.key.b = 0;
            obs[k++] = o;
        }
        if (k + 2 > PIPELINE_OBS_CHUNK || i + 1 == n) {
            fw_red_observe(p->cfg.red, fw_pipeline_partition(s->trace_id, p->cfg.partitions), obs, k);
            k = 0;
        }
    }
}

/* The topology joins spans of one trace inside one partition: hand it the
 * batch grouped by partition (a counting sort of copies). */
static int feed_topo(fw_pipeline *p, const fw_span *spans, const fw_span_class *cls,
                     const double *weights, size_t n, uint64_t now_ns)
{
    unsigned parts = p->cfg.partitions;
    if (parts == 1) {
        fw_topo_observe(p->cfg.topo, 0, spans, cls, weights, n, now_ns);
        return 0;
    }
    size_t *start = calloc((size_t)parts + 1, sizeof *start);
    unsigned *part_of = malloc(n * sizeof *part_of);
    fw_span *sspans = malloc(n * sizeof *sspans);
    fw_span_class *scls = malloc(n * sizeof *scls);
    double *sw = malloc(n * sizeof *sw);
    int rv = FW_ERR_NOMEM;
    if (!start || !part_of || !sspans || !scls || !sw) goto out;
    for (size_t i = 0; i < n; i++) {
        part_of[i] = fw_pipeline_partition(spans[i].trace_id, parts);
        start[part_of[i] + 1]++;
    }
    for (unsigned q = 0; q < parts; q++)
        start[q + 1] += start[q];
    /* start[q] now is the first slot of partition q; fill with a cursor. */
    {
        size_t *cursor = malloc((size_t)parts * sizeof *cursor);
        if (!cursor) goto out;
        memcpy(cursor, start, (size_t)parts * sizeof *cursor);
        for (size_t i = 0; i < n; i++) {
            size_t slot = cursor[part_of[i]]++;
            sspans[slot] = spans[i];
            scls[slot] = cls[i];
            sw[slot] = weights[i];
        }
        free(cursor);
    }
    for (unsigned q = 0; q < parts; q++) {
        size_t cnt = start[q + 1] - start[q];
        if (cnt)
            fw_topo_observe(p->cfg.topo, q, sspans + start[q], scls + start[q], sw + start[q],
                            cnt, now_ns);
    }
    rv = 0;
out:
    free(start);
    free(part_of);
    free(sspans);
    free(scls);
    free(sw);
    return rv;
}

/* SPEC 4: a service reporting a new service.version is a deployment at the
 * version's first-seen event time. Records of one resource arrive as a run;
 * the earliest time of each run is reported (cheap when nothing changed). */
static void observe_versions(fw_pipeline *p, const fw_resource *const *res, const uint64_t *times,
                             size_t n)
{
    size_t i = 0;
    while (i < n) {
        const fw_resource *r = res[i];
        uint64_t t = times[i];
        size_t j = i + 1;
        for (; j < n && res[j] == r; j++)
            if (times[j] && (t == 0 || times[j] < t)) t = times[j];
        if (r->service_version.len)
            (void)fw_deploy_observe_version(p->cfg.deploy, r->service_name, r->service_version,
                                            r->environment, t);
        i = j;
    }
}

static void observe_span_versions(fw_pipeline *p, const fw_span *spans, size_t n)
{
    const fw_resource *res[64];
    uint64_t times[64];
    for (size_t i = 0; i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64;
        for (size_t j = 0; j < k; j++) {
            res[j] = spans[i + j].resource;
            times[j] = spans[i + j].start_ns;
        }
        observe_versions(p, res, times, k);
    }
}

static void observe_log_versions(fw_pipeline *p, const fw_log_record *recs, size_t n)
{
    const fw_resource *res[64];
    uint64_t times[64];
    for (size_t i = 0; i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64;
        for (size_t j = 0; j < k; j++) {
            res[j] = recs[i + j].resource;
            times[j] = recs[i + j].time_ns ? recs[i + j].time_ns : recs[i + j].observed_time_ns;
        }
        observe_versions(p, res, times, k);
    }
}

/* Store (acceptance), then RED and topology. Only the store can refuse. */
static int feed_spans(fw_pipeline *p, const fw_span *spans, size_t n, uint64_t now_ns)
{
    fw_pipeline_tick(p, now_ns);
    fw_span_class *cls = malloc(n * sizeof *cls);
    double *weights = malloc(n * sizeof *weights);
    /* Span names are looked up once, here, for RED and for the store (when
     * it shares the dictionary, which interns every name too). */
    bool names_for_store = p->cfg.intern && fw_store_dictionary(p->store) == p->cfg.intern;
    bool want_names = p->cfg.intern && (p->cfg.red || names_for_store);
    uint32_t *names = want_names ? malloc(n * sizeof *names) : NULL;
    int rv = FW_ERR_NOMEM;
    if (!cls || !weights || (want_names && !names)) goto out;
    for (size_t i = 0; i < n; i++) {
        fw_semconv_span_classify(&spans[i], p->cfg.throttle_rules, &cls[i]);
        weights[i] = fw_pipeline_sampling_weight(spans[i].trace_state);
    }
    if (want_names) {
        fw_intern_cache cache;
        fw_intern_cache_init(&cache);
        for (size_t i = 0; i < n; i++)
            names[i] = fw_intern_cached_id(p->cfg.intern, &cache, spans[i].name);
    }
    rv = fw_store_add_named(p->store, spans, cls, names_for_store ? names : NULL, n);
    if (rv) goto out;
    if (p->cfg.red && p->cfg.intern) feed_red(p, spans, cls, weights, names, n);
    if (p->cfg.deploy) observe_span_versions(p, spans, n);
    /* The topology is best effort: a failure to group costs edges, never
     * the acknowledged spans. */
    if (p->cfg.topo && feed_topo(p, spans, cls, weights, n, now_ns) != 0)
        fw_log(FW_LOG_WARN, "pipeline", "topology skipped a batch of %zu spans: out of memory", n);
out:
    free(cls);
    free(weights);
    free(names);
    return rv;
}

int fw_pipeline_push_spans(fw_pipeline *p, fw_protocol proto, fw_span_batch *batch,
                           uint64_t now_ns)
{
    fw_stats scratch; /* replayed records are counted here, i.e. not at all */
    fw_stats *st = p->stats;
    if (batch->replay) {
        fw_stats_init(&scratch);
        st = &scratch;
    }
    if ((unsigned)proto >= FW_PROTO__COUNT)
        return FW_ERR_INVALID;
    /* What the decoder refused arrives counted in |rejected|: bad ids. */
    if (batch->rejected)
        fw_stats_add(&st->rejected[FW_SIGNAL_TRACES][proto][FW_REJECT_INVALID_ID],
                     batch->rejected);

    uint64_t cutoff = cutoff_ns(p, now_ns);
    size_t kept = 0, too_old = 0;
    for (size_t i = 0; i < batch->n; i++) {
        if (cutoff && span_time(&batch->spans[i]) < cutoff) {
            too_old++;
            continue;
        }
        if (kept != i)
            batch->spans[kept] = batch->spans[i];
        kept++;
    }
    batch->n = kept;
    if (too_old) {
        fw_stats_add(&st->rejected[FW_SIGNAL_TRACES][proto][FW_REJECT_TOO_OLD], too_old);
        batch->rejected += too_old;
        if (!batch->reject_reason)
            batch->reject_reason = "span older than the retention window";
    }
    if (kept == 0)
        return 0;

    if (feed_spans(p, batch->spans, kept, now_ns) != 0) {
        /* SPEC 3.1: overload is answered retryably, never silently dropped. */
        fw_stats_add(&st->rejected[FW_SIGNAL_TRACES][proto][FW_REJECT_OVERLOAD], kept);
        return FW_ERR_OVERLOAD;
    }
    /* SPEC 5: a span counts as accepted once the store holds it. */
    fw_stats_add(&st->accepted[FW_SIGNAL_TRACES][proto], kept);
    return 0;
}

int fw_pipeline_push_logs(fw_pipeline *p, fw_protocol proto, fw_log_batch *batch,
                          uint64_t now_ns)
{
    fw_stats scratch; /* replayed records are counted here, i.e. not at all */
    fw_stats *st = p->stats;
    if (batch->replay) {
        fw_stats_init(&scratch);
        st = &scratch;
    }
    if ((unsigned)proto >= FW_PROTO__COUNT)
        return FW_ERR_INVALID;
    if (batch->rejected)
        fw_stats_add(&st->rejected[FW_SIGNAL_LOGS][proto][FW_REJECT_INVALID_ID],
                     batch->rejected);

    uint64_t cutoff = cutoff_ns(p, now_ns);
    size_t kept = 0, too_old = 0;
    for (size_t i = 0; i < batch->n; i++) {
        const fw_log_record *r = &batch->records[i];
        uint64_t t = r->time_ns ? r->time_ns : r->observed_time_ns;
        /* Records with no time at all cannot be judged old: accepted. */
        if (cutoff && t && t < cutoff) {
            too_old++;
            continue;
        }
        if (kept != i)
            batch->records[kept] = batch->records[i];
        kept++;
    }
    batch->n = kept;
    if (too_old) {
        fw_stats_add(&st->rejected[FW_SIGNAL_LOGS][proto][FW_REJECT_TOO_OLD], too_old);
        batch->rejected += too_old;
        if (!batch->reject_reason)
            batch->reject_reason = "log record older than the retention window";
    }
    if (kept == 0)
        return 0;

    fw_pipeline_tick(p, now_ns);
    if (fw_store_add_logs(p->store, batch->records, kept) != 0) {
        fw_stats_add(&st->rejected[FW_SIGNAL_LOGS][proto][FW_REJECT_OVERLOAD], kept);
        return FW_ERR_OVERLOAD;
    }
    if (p->cfg.deploy) observe_log_versions(p, batch->records, kept);
    if (p->cfg.patterns) feed_patterns(p, batch->records, kept);
    fw_stats_add(&st->accepted[FW_SIGNAL_LOGS][proto], kept);
    return 0;
}
