/* patterns.h - log pattern mining: log bodies grouped into templates per
 * service (Drain-style fixed-depth parse tree after masking variables:
 * numbers, hex, UUIDs, IPs, timestamps, emails, URL ids and query values,
 * quoted strings, key=value values), with counts in 1-minute event-time
 * buckets over the retention, so that the investigator can ask which
 * patterns are new or grew in a window against a baseline (SPEC 6,
 * GET /api/v1/logs/patterns). Bounded: services, patterns per service
 * (beyond: one "<other>" pattern), tokens and bytes per line, and memory.
 * Thread-safe: services live in shards, one mutex per shard. Never keeps a
 * pointer into the caller's record; never reads the clock. */
#ifndef FLYWHEEL_PATTERNS_H
#define FLYWHEEL_PATTERNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/model.h"

typedef struct fw_patterns fw_patterns;

/* Resolution of the per-pattern counts. */
#define FW_PATTERNS_BUCKET_NS (60ull * 1000000000ull)
/* Example trace ids kept per pattern (the most recent distinct ones). */
#define FW_PATTERNS_TRACE_IDS 4
/* The template of a service's overflow pattern (lines that fit no pattern
 * once the service's pattern cap or the memory cap is reached). */
#define FW_PATTERNS_OVERFLOW_TEMPLATE "<other>"

/* Defaults for the zero fields of fw_patterns_config. */
#define FW_PATTERNS_RETENTION_DEFAULT_NS (2ull * 3600ull * 1000000000ull)
/* Services mined; stops a flood of made-up service names. */
#define FW_PATTERNS_MAX_SERVICES_DEFAULT 1024u
/* Patterns per service; stops a service with unbounded variety. */
#define FW_PATTERNS_MAX_PATTERNS_DEFAULT 1000u
/* Tokens per line mined: the rest is cut (one "<...>" token marks it). */
#define FW_PATTERNS_MAX_TOKENS_DEFAULT 48u
#define FW_PATTERNS_MAX_TOKENS_LIMIT   256u
/* Bytes of a body mined (and only its first line): 1 MiB bodies cost
 * no more than 4 KiB ones. */
#define FW_PATTERNS_MAX_LINE_DEFAULT 4096u
#define FW_PATTERNS_MAX_LINE_LIMIT   16384u
/* Bytes of the example body kept per pattern. */
#define FW_PATTERNS_EXAMPLE_DEFAULT 512u
/* Memory held (trees, templates, count rings, examples). */
#define FW_PATTERNS_MEMORY_DEFAULT (64u * 1024u * 1024u)
/* Share of equal tokens for a line to join a pattern (Drain's st). */
#define FW_PATTERNS_SIMILARITY_DEFAULT 0.5
/* Tokens of the line prefix that pick the tree leaf (Drain's depth - 2). */
#define FW_PATTERNS_PREFIX_DEFAULT 2u
/* Children per tree node before new tokens go to the "<*>" child. */
#define FW_PATTERNS_MAX_CHILDREN_DEFAULT 64u

typedef struct fw_patterns_config {
    uint64_t retention_ns;  /* span of the bucket ring and of expiry; 0 = 2 h */
    size_t max_services;    /* 0 = default */
    size_t max_patterns;    /* per service, "<other>" not counted; 0 = default */
    size_t max_tokens;      /* 0 = default; at most FW_PATTERNS_MAX_TOKENS_LIMIT */
    size_t max_line;        /* 0 = default; at most FW_PATTERNS_MAX_LINE_LIMIT */
    size_t max_example;     /* 0 = default */
    size_t memory_limit;    /* 0 = default; the overflow patterns of existing services
                               may take it over by one pattern each */
    double similarity;      /* 0 = default; (0, 1] */
    unsigned prefix_tokens; /* 0 = default; 1..4 */
    unsigned max_children;  /* 0 = default; >= 2 */
} fw_patterns_config;

/* Returns 0, FW_ERR_NOMEM, or FW_ERR_CONFIG when a field is out of range. */
FW_WUR int fw_patterns_new(const fw_patterns_config *cfg, fw_patterns **out);
void fw_patterns_free(fw_patterns *p); /* NULL-safe */

/* One log line of |service| at event time |time_ns| (0 = unknown: counted
 * in totals, not in buckets). |body| is the text to mine (for structured
 * bodies see fw_patterns_body_text); only its first line and its first
 * max_line bytes are mined. |severity_number| 0..24; |trace_id| NULL or
 * all zero when absent. Borrows everything for the call only. Never fails:
 * empty bodies are ignored, lines over the caps go to the overflow
 * pattern or are dropped, each path counted in the stats. A few
 * microseconds per line. */
void fw_patterns_observe(fw_patterns *p, fw_str service, fw_str body, int32_t severity_number,
                         uint64_t time_ns, const uint8_t *trace_id);

/* The text of a log body to mine: a STRING body as is (no copy); a KVLIST
 * body's "message" / "msg" / "log" string value when present, else its
 * top-level pairs rendered as `key=value ...` (strings with spaces
 * quoted, nested values as JSON) into |scratch|; other types as JSON into
 * |scratch|; BYTES and EMPTY give an empty text. |scratch| is reset; its
 * max bounds the rendering (a rendering cut at the max is still mined).
 * |*text| borrows |body| or |scratch|. Returns 0 or FW_ERR_NOMEM. */
FW_WUR int fw_patterns_body_text(const fw_value *body, fw_buf *scratch, fw_str *text);

/* The SPEC severity names (trace, debug, info, warn/warning, error,
 * fatal; any case) or a number 1..24 to the lowest severity_number of that
 * level; 0 when |s| is none of those. */
int32_t fw_patterns_severity_parse(fw_str s);
/* "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" for 1..24; "" for 0. */
const char *fw_patterns_severity_name(int32_t severity_number);

/* Drops patterns last seen before |now_ns| - retention, and services left
 * with none; lowers memory_used. */
void fw_patterns_expire(fw_patterns *p, uint64_t now_ns);

typedef struct fw_patterns_query {
    const char *service;       /* exact; NULL = all services */
    uint64_t from_ns;          /* window [from, to): a 1-minute bucket counts when it */
    uint64_t to_ns;            /* overlaps the range; to_ns > from_ns */
    uint64_t baseline_from_ns; /* baseline range, same rule; both 0 = none */
    uint64_t baseline_to_ns;
    bool include_absent; /* also patterns with no count in the window but some
                            in the baseline (patterns that stopped) */
    size_t limit;        /* 0 = all */
} fw_patterns_query;

/* What a visitor sees of one pattern; the strings are borrowed for the
 * call (a shard lock is held: do not call back into fw_patterns). */
typedef struct fw_pattern_info {
    uint64_t id; /* stable: hash of service and template (a template that
                    generalises gets a new id) */
    fw_str service;
    fw_str template_text; /* tokens joined by one space; masks <NUM> <HEX> <UUID>
                             <IP> <TS> <EMAIL> <*> */
    fw_str example;       /* the first body, cut to max_example bytes */
    uint64_t count;       /* in the window */
    uint64_t baseline_count;
    uint64_t total;         /* since first seen, all times */
    uint64_t first_seen_ns; /* event time; 0 = only lines without a time */
    uint64_t last_seen_ns;
    int32_t max_severity; /* 0..24 */
    bool is_new;          /* no occurrence before from_ns within the retention */
    bool overflow;        /* the "<other>" pattern */
    size_t n_trace_ids;
    uint8_t trace_ids[FW_PATTERNS_TRACE_IDS][FW_TRACE_ID_LEN]; /* newest first */
} fw_pattern_info;

typedef int (*fw_patterns_visit)(void *ctx, const fw_pattern_info *pi);

/* Visits the patterns with a count in the window (and, with
 * include_absent, in the baseline), by count in the window descending
 * (then baseline count, then id), at most |limit|. Return nonzero from
 * |visit| to stop. |*visited| (may be NULL) gets the number visited.
 * Returns 0, FW_ERR_INVALID (to <= from) or FW_ERR_NOMEM. */
FW_WUR int fw_patterns_query_run(fw_patterns *p, const fw_patterns_query *q,
                                 fw_patterns_visit visit, void *ctx, size_t *visited);

typedef struct fw_patterns_stats {
    uint64_t lines;       /* lines mined into a pattern (overflow included) */
    uint64_t ignored;     /* empty or blank bodies */
    uint64_t truncated;   /* lines cut at max_line or max_tokens */
    uint64_t overflow;    /* lines counted in an "<other>" pattern */
    uint64_t dropped;     /* lines not counted: service cap or memory */
    uint64_t expired;     /* patterns dropped by fw_patterns_expire */
    uint64_t services;    /* held now */
    uint64_t patterns;    /* held now, overflow patterns included */
    uint64_t memory_used; /* bytes held now */
} fw_patterns_stats;
void fw_patterns_get_stats(fw_patterns *p, fw_patterns_stats *out);

/* The masked token line of |body| as mining sees it before clustering
 * (tokens joined by one space) appended to |out|: what the masking rules
 * make of a line (tests, diagnostics). Returns 0 or fw_buf's errors. */
FW_WUR int fw_patterns_mask(const fw_patterns *p, fw_str body, fw_buf *out);

#endif
