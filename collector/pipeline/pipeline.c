/* pipeline.c - the one hand-off point from a decoded request to what
 * outlives it: applies the retention rule, copies the accepted records into
 * the store and counts every accepted and refused record per protocol.
 * Never keeps a pointer into the batch after the call returns. */
#include "flywheel/pipeline.h"

#include <stdlib.h>

struct fw_pipeline {
    fw_pipeline_config cfg;
    fw_store *store; /* borrowed */
    fw_stats *stats; /* borrowed */
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

int fw_pipeline_push_spans(fw_pipeline *p, fw_protocol proto, fw_span_batch *batch,
                           uint64_t now_ns)
{
    fw_stats *st = p->stats;
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

    if (fw_store_add_spans(p->store, batch->spans, kept) != 0) {
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
    fw_stats *st = p->stats;
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

    if (fw_store_add_logs(p->store, batch->records, kept) != 0) {
        fw_stats_add(&st->rejected[FW_SIGNAL_LOGS][proto][FW_REJECT_OVERLOAD], kept);
        return FW_ERR_OVERLOAD;
    }
    fw_stats_add(&st->accepted[FW_SIGNAL_LOGS][proto], kept);
    return 0;
}
