/* slo.h - service level objectives (SPEC 6): availability or latency SLIs
 * on a service or one of its operations, a target over a rolling window,
 * evaluated from the RED series on event time (attainment, error budget,
 * burn rates), and multi-window multi-burn-rate alerting (Google SRE
 * workbook) that is edge-triggered so each breach starts one investigation.
 * Definitions and their alert state persist in SQLite (<data_dir>/slos.db,
 * WAL). Thread-safe: one lock guards the set and the database; RED is read
 * outside it. Never reads the clock for evaluation (callers pass now). */
#ifndef FLYWHEEL_SLO_H
#define FLYWHEEL_SLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"

struct fw_red;
struct fw_intern;

typedef struct fw_slos fw_slos;

/* Longest strings, in bytes (a longer one is a 400 on the API). */
#define FW_SLO_ID_MAX          64u
#define FW_SLO_NAME_MAX        256u
#define FW_SLO_SERVICE_MAX     256u
#define FW_SLO_OPERATION_MAX   1024u /* FW_INTERN_MAX_LEN: longer is never a series */
#define FW_SLO_WINDOW_TEXT_MAX 15u
/* SLOs held at most (a create beyond answers FW_ERR_TOO_LARGE): each is
 * evaluated with five RED queries per period, so the set stays small. */
#define FW_SLO_MAX_COUNT 1000u
/* Longest window: 90 days. Shortest: 1 minute. */
#define FW_SLO_WINDOW_MAX_NS (90ull * 86400ull * 1000000000ull)
#define FW_SLO_WINDOW_MIN_NS (60ull * 1000000000ull)
/* Fewer requests than this in the window: INSUFFICIENT_DATA (and no alert
 * unless the alert's long window holds at least this many). */
#define FW_SLO_MIN_REQUESTS_DEFAULT 10u
#define FW_SLO_WARNING_DEFAULT      50.0 /* percent of error budget left */
#define FW_SLO_WINDOW_DEFAULT       "30d"
#define FW_SLO_SCHEMA_VERSION       1

/* Burn-rate windows, in this order in fw_slo_status.burn_rates. */
#define FW_SLO_BURN_WINDOWS 4u
enum { FW_SLO_BURN_5M = 0, FW_SLO_BURN_30M = 1, FW_SLO_BURN_1H = 2, FW_SLO_BURN_6H = 3 };
/* Multi-window multi-burn-rate rule (SRE workbook, 99.9 % over 30 d): page
 * when burn(1h) > 14.4 and burn(5m) > 14.4 (fast: 2 % of a 30-day budget in
 * an hour), or burn(6h) > 6 and burn(30m) > 6 (slow: 5 % in six hours). */
#define FW_SLO_FAST_BURN 14.4
#define FW_SLO_SLOW_BURN 6.0

typedef enum fw_slo_sli {
    /* good = requests - faults. Client errors (4xx, INVALID_ARGUMENT...) are
     * the caller's and count as good. */
    FW_SLO_SLI_AVAILABILITY = 0,
    /* good = requests with duration <= threshold_ms (RED latency histogram,
     * fw_hist_cumulative: within its bucket resolution). Faults are judged by
     * their latency only. */
    FW_SLO_SLI_LATENCY = 1
} fw_slo_sli;
const char *fw_slo_sli_name(fw_slo_sli s); /* "availability" | "latency" */

typedef enum fw_slo_state {
    FW_SLO_OK = 0,
    FW_SLO_WARNING = 1,          /* budget left < warning_threshold % */
    FW_SLO_BREACHED = 2,         /* budget exhausted: remaining <= 0 (attainment <= target) */
    FW_SLO_INSUFFICIENT_DATA = 3 /* fewer than min_requests in the window */
} fw_slo_state;
const char *fw_slo_state_name(fw_slo_state s); /* "OK", "WARNING", ... */

typedef enum fw_slo_alert_rule {
    FW_SLO_ALERT_NONE = 0,
    FW_SLO_ALERT_FAST = 1, /* 1 h and 5 m above FW_SLO_FAST_BURN */
    FW_SLO_ALERT_SLOW = 2  /* 6 h and 30 m above FW_SLO_SLOW_BURN */
} fw_slo_alert_rule;
const char *fw_slo_alert_rule_name(fw_slo_alert_rule r); /* "none" | "fast_burn" | "slow_burn" */

/* One SLO definition. Fixed buffers, so it copies by value. */
typedef struct fw_slo_def {
    char id[FW_SLO_ID_MAX + 1];               /* "" on create = server-assigned "slo-<16 hex>";
                                               * else a slug [a-z0-9][a-z0-9._-]* */
    char name[FW_SLO_NAME_MAX + 1];           /* "" on create = the id */
    char service[FW_SLO_SERVICE_MAX + 1];     /* required */
    char operation[FW_SLO_OPERATION_MAX + 1]; /* "" = the whole service (entry spans) */
    fw_slo_sli sli;
    double threshold_ms;                     /* latency: > 0; availability: 0 */
    double target;                           /* percent, 0 < target < 100 */
    char window[FW_SLO_WINDOW_TEXT_MAX + 1]; /* as given: "30d", "7d", "1h", "90m", "3600s" */
    uint64_t window_ns;                      /* parsed from |window| by validate */
    double warning_threshold;                /* percent of budget left, 0..100 (default 50) */
    uint64_t created_at_ns;                  /* set by the store */
} fw_slo_def;

/* The evaluation of one SLO at |now|. Ratios are fractions (0..1) except
 * attainment and target, which are percent like the definition. */
typedef struct fw_slo_status {
    fw_slo_state state;
    double requests;     /* in the window (weighted by adjusted count) */
    double bad_requests; /* faults, or requests slower than the threshold */
    double attainment;   /* percent good; 100 when requests == 0 */
    /* Error budget: |budget_total| is the allowed bad fraction 1 - target/100;
     * |budget_consumed| the part of it used (bad ratio / total, > 1 when
     * overspent); |budget_remaining| = 1 - consumed (negative when overspent). */
    double budget_total;
    double budget_consumed;
    double budget_remaining;
    /* error ratio over the last 5 m, 30 m, 1 h, 6 h / budget_total; 0 when
     * that window holds no requests. */
    double burn_rates[FW_SLO_BURN_WINDOWS];
    double burn_requests[FW_SLO_BURN_WINDOWS];
    fw_slo_alert_rule rule; /* what the burn rates satisfy now */
    bool alerting;          /* persisted edge state (fw_slo_evaluate_all) */
    uint64_t alerting_since_ns;
    uint64_t window_ns;
    /* Event time covered by data: now - max(first bucket with data, now -
     * window); 0 without data. */
    uint64_t data_ns;
    /* The window is longer than the RED retention: only the retained data
     * was evaluated (SPEC 6: capped by retention). */
    bool window_exceeds_retention;
} fw_slo_status;

typedef struct fw_slo_config {
    struct fw_red *red;       /* borrowed for the store's life; NULL = every status
                               * INSUFFICIENT_DATA */
    struct fw_intern *intern; /* the dictionary |red| keys its series by */
    uint64_t retention_ns;    /* RED retention (window cap); 0 = 2 h */
    unsigned min_requests;    /* 0 = FW_SLO_MIN_REQUESTS_DEFAULT */
    int busy_timeout_ms;      /* SQLite; 0 = 5000 */
    /* Wall clock for created_at_ns (unix ns); NULL = CLOCK_REALTIME. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
} fw_slo_config;

/* Opens (creating when absent) <data_dir>/slos.db (WAL, synchronous=NORMAL,
 * schema FW_SLO_SCHEMA_VERSION) and loads the SLOs and their alert state.
 * |cfg| is copied. Returns 0, FW_ERR_IO (directory missing or unwritable,
 * corrupt database), FW_ERR_CONFIG (newer schema) or FW_ERR_NOMEM, with a
 * one-line reason naming the path in |err| (|errlen| may be 0). Free with
 * fw_slo_close. */
FW_WUR int fw_slo_open(const char *data_dir, const fw_slo_config *cfg, fw_slos **out, char *err,
                       size_t errlen);
void fw_slo_close(fw_slos *s); /* NULL is a no-op */

/* "30d", "7d", "12h", "90m", "3600s" (a positive integer and one unit
 * s/m/h/d/w) into ns, within FW_SLO_WINDOW_MIN_NS..FW_SLO_WINDOW_MAX_NS.
 * Returns false when malformed or out of range. */
bool fw_slo_parse_window(const char *s, uint64_t *out_ns);

/* Checks |d| (id when set, name, service, operation, sli, threshold_ms,
 * target, window, warning_threshold) and sets d->window_ns. Returns 0, or
 * FW_ERR_INVALID with |perr| naming the field first ("target: must be
 * greater than 0 and less than 100"); |perr| may be NULL. */
FW_WUR int fw_slo_validate(fw_slo_def *d, fw_parse_error *perr);

/* Stores a new SLO after fw_slo_validate; assigns the id when empty and
 * created_at_ns; writes the stored definition to |out| (may be NULL).
 * Returns 0, FW_ERR_INVALID (|perr| set; also an id already in use,
 * reason "conflict"), FW_ERR_TOO_LARGE (FW_SLO_MAX_COUNT reached) or
 * FW_ERR_IO (SQLite). */
FW_WUR int fw_slo_create(fw_slos *s, const fw_slo_def *d, fw_slo_def *out, fw_parse_error *perr);
/* Removes |id|; FW_ERR_NOT_FOUND when unknown, FW_ERR_IO on SQLite failure. */
FW_WUR int fw_slo_delete(fw_slos *s, const char *id);
size_t fw_slo_count(fw_slos *s);

/* Evaluates the SLO |id| at event time |now_ns| into |def| and |st|.
 * Returns 0 or FW_ERR_NOT_FOUND. */
FW_WUR int fw_slo_get(fw_slos *s, const char *id, uint64_t now_ns, fw_slo_def *def,
                      fw_slo_status *st);
/* Visits every SLO (ordered by creation time, then id) with its status at
 * |now_ns|. Runs on a snapshot, without the lock: the visitor may call
 * back into |s|. Returns nonzero to stop. Returns 0 or FW_ERR_NOMEM. */
typedef int (*fw_slo_visit_fn)(void *ctx, const fw_slo_def *def, const fw_slo_status *st);
FW_WUR int fw_slo_list(fw_slos *s, uint64_t now_ns, fw_slo_visit_fn visit, void *ctx);

/* Pure evaluation of |def| against |cfg|'s RED at |now_ns| (alerting
 * fields left false/0). */
void fw_slo_evaluate(const fw_slo_config *cfg, const fw_slo_def *def, uint64_t now_ns,
                     fw_slo_status *st);
/* burn rate = error ratio / (1 - target/100); 0 when |requests| <= 0. */
double fw_slo_burn_rate(double bad, double requests, double target_percent);

/* Called once when an SLO starts alerting (an edge: not again until the
 * rule has cleared at an evaluation and fires anew). Runs without the lock. */
typedef void (*fw_slo_alert_fn)(void *ctx, const fw_slo_def *def, const fw_slo_status *st);
/* Evaluates every SLO at event time |now_ns|, updates and persists the
 * alert state (set on the rule firing, cleared when it no longer holds),
 * and calls |on_alert| (may be NULL) for each SLO that newly alerts.
 * Returns the number of new alerts, or a negative FW_ERR_* (NOMEM; a
 * failed state write is logged and counted, evaluation goes on). */
int fw_slo_evaluate_all(fw_slos *s, uint64_t now_ns, fw_slo_alert_fn on_alert, void *ctx);

typedef struct fw_slo_stats {
    uint64_t slos;
    uint64_t evaluations; /* fw_slo_evaluate_all runs */
    uint64_t alerts;      /* alert edges fired */
    uint64_t write_errors;
} fw_slo_stats;
void fw_slo_get_stats(fw_slos *s, fw_slo_stats *out);

#endif
