/* slo.c - SLO definitions and alert state (SQLite <data_dir>/slos.db, WAL,
 * mirrored in memory), their evaluation from RED series on event time, and
 * the edge-triggered multi-window multi-burn-rate alerting. The lock guards
 * the set and the database; RED is only read from snapshots, outside it.
 * Never reads the clock for event time: callers pass now. */
#include "flywheel/slo.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flywheel/buf.h"
#include "flywheel/hist.h"
#include "flywheel/intern.h"
#include "flywheel/log.h"
#include "flywheel/model.h"
#include "flywheel/red.h"

#define DB_FILE                 "slos.db"
#define BUSY_TIMEOUT_DEFAULT_MS 5000
#define RETENTION_DEFAULT_NS    (2ull * 3600ull * 1000000000ull)
#define LOG_COMPONENT           "slo"
#define SEC_NS                  1000000000ull
/* 1 h: longer thresholds exceed the histogram range (FW_HIST_MAX_US). */
#define THRESHOLD_MS_MAX 3600000.0

static const uint64_t BURN_WINDOW_NS[FW_SLO_BURN_WINDOWS] = {
    5ull * 60ull * SEC_NS, 30ull * 60ull * SEC_NS, 3600ull * SEC_NS, 6ull * 3600ull * SEC_NS};

typedef struct slo_entry {
    fw_slo_def def;
    bool alerting;
    uint64_t alerting_since_ns;
} slo_entry;

struct fw_slos {
    fw_slo_config cfg;
    pthread_mutex_t lock; /* guards entries, n, db */
    slo_entry **entries;  /* creation order */
    size_t n;
    size_t cap;
    sqlite3 *db;
    _Atomic uint64_t evaluations;
    _Atomic uint64_t alerts;
    _Atomic uint64_t write_errors;
};

static const char SCHEMA_V1[] = "CREATE TABLE IF NOT EXISTS slos ("
                                " id TEXT PRIMARY KEY,"
                                " name TEXT NOT NULL,"
                                " service TEXT NOT NULL,"
                                " operation TEXT NOT NULL,"
                                " sli TEXT NOT NULL,"
                                " threshold_ms REAL NOT NULL,"
                                " target REAL NOT NULL,"
                                " window_text TEXT NOT NULL,"
                                " warning_threshold REAL NOT NULL,"
                                " created_at_ns INTEGER NOT NULL,"
                                " alerting INTEGER NOT NULL DEFAULT 0,"
                                " alerting_since_ns INTEGER NOT NULL DEFAULT 0)"
                                " WITHOUT ROWID;";

/* ---- names ---- */

const char *fw_slo_sli_name(fw_slo_sli s)
{
    return s == FW_SLO_SLI_LATENCY ? "latency" : "availability";
}

const char *fw_slo_state_name(fw_slo_state s)
{
    switch (s) {
    case FW_SLO_OK: return "OK";
    case FW_SLO_WARNING: return "WARNING";
    case FW_SLO_BREACHED: return "BREACHED";
    case FW_SLO_INSUFFICIENT_DATA: return "INSUFFICIENT_DATA";
    }
    return "INSUFFICIENT_DATA";
}

const char *fw_slo_alert_rule_name(fw_slo_alert_rule r)
{
    switch (r) {
    case FW_SLO_ALERT_FAST: return "fast_burn";
    case FW_SLO_ALERT_SLOW: return "slow_burn";
    case FW_SLO_ALERT_NONE: break;
    }
    return "none";
}

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0) err[0] = '\0';
}

static uint64_t wall_ns(const fw_slos *s)
{
    if (s->cfg.clock_ns) return s->cfg.clock_ns(s->cfg.clock_ctx);
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) return 0;
    return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

static void copy_bounded(char *out, size_t outsz, const char *s)
{
    size_t n = s ? strnlen(s, outsz - 1) : 0;
    if (n) memcpy(out, s, n);
    out[n] = '\0';
}

/* ---- validation ---- */

bool fw_slo_parse_window(const char *s, uint64_t *out_ns)
{
    if (!s || !s[0]) return false;
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 9) /* 10 digits is beyond any valid window */
            return false;
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    if (i == 0 || v == 0 || s[i] == '\0' || s[i + 1] != '\0') return false;
    uint64_t unit;
    switch (s[i]) {
    case 's': unit = SEC_NS; break;
    case 'm': unit = 60ull * SEC_NS; break;
    case 'h': unit = 3600ull * SEC_NS; break;
    case 'd': unit = 86400ull * SEC_NS; break;
    case 'w': unit = 7ull * 86400ull * SEC_NS; break;
    default: return false;
    }
    if (v > FW_SLO_WINDOW_MAX_NS / unit) return false;
    uint64_t ns = v * unit;
    if (ns < FW_SLO_WINDOW_MIN_NS || ns > FW_SLO_WINDOW_MAX_NS) return false;
    *out_ns = ns;
    return true;
}

static bool is_slug(const char *s)
{
    size_t n = strnlen(s, FW_SLO_ID_MAX + 1);
    if (n == 0 || n > FW_SLO_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '-' || c == '_' || c == '.'));
        if (!ok) return false;
    }
    return true;
}

static bool has_control(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20u || s[i] == 0x7f) return true;
    return false;
}

int fw_slo_validate(fw_slo_def *d, fw_parse_error *perr)
{
    fw_parse_error scratch;
    if (!perr) perr = &scratch;
    if (d->id[0] && !is_slug(d->id)) {
        fw_parse_error_set(perr, "id",
                           "id: must be 1 to %u characters of a-z, 0-9, '-', '_' "
                           "or '.', starting with a letter or digit",
                           FW_SLO_ID_MAX);
        return FW_ERR_INVALID;
    }
    if (strnlen(d->name, sizeof(d->name)) > FW_SLO_NAME_MAX ||
        has_control(d->name, FW_SLO_NAME_MAX)) {
        fw_parse_error_set(perr, "name",
                           "name: must be at most %u bytes without control "
                           "characters",
                           FW_SLO_NAME_MAX);
        return FW_ERR_INVALID;
    }
    if (!d->service[0]) {
        fw_parse_error_set(perr, "service", "service: required");
        return FW_ERR_INVALID;
    }
    if (has_control(d->service, FW_SLO_SERVICE_MAX)) {
        fw_parse_error_set(perr, "service", "service: must not contain control characters");
        return FW_ERR_INVALID;
    }
    if (has_control(d->operation, FW_SLO_OPERATION_MAX)) {
        fw_parse_error_set(perr, "operation", "operation: must not contain control characters");
        return FW_ERR_INVALID;
    }
    if (d->sli != FW_SLO_SLI_AVAILABILITY && d->sli != FW_SLO_SLI_LATENCY) {
        fw_parse_error_set(perr, "sli", "sli: must be \"availability\" or \"latency\"");
        return FW_ERR_INVALID;
    }
    if (d->sli == FW_SLO_SLI_LATENCY) {
        if (!isfinite(d->threshold_ms) || d->threshold_ms <= 0.0 ||
            d->threshold_ms > THRESHOLD_MS_MAX) {
            fw_parse_error_set(perr, "threshold_ms",
                               "threshold_ms: required for a latency SLI, greater than 0 and "
                               "at most %.0f",
                               THRESHOLD_MS_MAX);
            return FW_ERR_INVALID;
        }
    } else if (d->threshold_ms != 0.0) {
        fw_parse_error_set(perr, "threshold_ms", "threshold_ms: only for a latency SLI");
        return FW_ERR_INVALID;
    }
    if (!isfinite(d->target) || d->target <= 0.0 || d->target >= 100.0) {
        fw_parse_error_set(perr, "target",
                           "target: must be a percentage greater than 0 and less than 100");
        return FW_ERR_INVALID;
    }
    uint64_t w = 0;
    if (!fw_slo_parse_window(d->window, &w)) {
        fw_parse_error_set(perr, "window",
                           "window: must be a duration like \"30d\", \"7d\" or \"1h\" "
                           "(units s, m, h, d, w) from 1m to 90d");
        return FW_ERR_INVALID;
    }
    d->window_ns = w;
    if (!isfinite(d->warning_threshold) || d->warning_threshold < 0.0 ||
        d->warning_threshold > 100.0) {
        fw_parse_error_set(perr, "warning_threshold",
                           "warning_threshold: must be a percentage of error budget left "
                           "from 0 to 100");
        return FW_ERR_INVALID;
    }
    return 0;
}

/* ---- evaluation ---- */

double fw_slo_burn_rate(double bad, double requests, double target_percent)
{
    if (!(requests > 0.0)) return 0.0;
    double allowed = (100.0 - target_percent) / 100.0;
    if (!(allowed > 0.0)) return 0.0;
    return (bad / requests) / allowed;
}

typedef struct sli_counts {
    double requests;
    double bad;
    uint64_t first_ns; /* 0 = no data */
} sli_counts;

static void add_totals(const fw_slo_def *def, const fw_red_totals *t, sli_counts *c, fw_hist *lat)
{
    if (def->sli == FW_SLO_SLI_AVAILABILITY) {
        c->requests += t->requests;
        c->bad += t->faults; /* client errors are the caller's: good */
    } else {
        fw_hist_merge(lat, &t->latency);
    }
    if (t->first_ns && (!c->first_ns || t->first_ns < c->first_ns)) c->first_ns = t->first_ns;
}

/* The SLI counts of |def| over the buckets overlapping [from_ns, to_ns].
 * An operation sums the span kinds that serve (not CLIENT or PRODUCER:
 * outgoing calls belong to the callee's objectives). */
static void query_sli(const fw_slo_config *cfg, const fw_slo_def *def, uint32_t svc, uint32_t op,
                      uint64_t from_ns, uint64_t to_ns, sli_counts *c)
{
    memset(c, 0, sizeof(*c));
    if (!cfg->red || svc == FW_INTERN_NONE || to_ns < from_ns) return;
    fw_hist lat;
    fw_hist_init(&lat);
    fw_red_totals t;
    if (!def->operation[0]) {
        fw_red_key k = {.kind = FW_RED_SERVICE, .a = svc};
        if (fw_red_query(cfg->red, &k, from_ns, to_ns, &t) == 0) add_totals(def, &t, c, &lat);
    } else {
        static const uint8_t kinds[] = {FW_SPAN_KIND_UNSPECIFIED, FW_SPAN_KIND_INTERNAL,
                                        FW_SPAN_KIND_SERVER, FW_SPAN_KIND_CONSUMER};
        if (op == FW_INTERN_NONE) return;
        for (size_t i = 0; i < sizeof(kinds); i++) {
            fw_red_key k = {.kind = FW_RED_OPERATION, .span_kind = kinds[i], .a = svc, .b = op};
            if (fw_red_query(cfg->red, &k, from_ns, to_ns, &t) == 0) add_totals(def, &t, c, &lat);
        }
    }
    if (def->sli == FW_SLO_SLI_LATENCY) {
        uint64_t bound = (uint64_t)llround(def->threshold_ms * 1000.0);
        uint64_t good = 0;
        fw_hist_cumulative(&lat, &bound, 1, &good);
        uint64_t total = fw_hist_count(&lat);
        c->requests = (double)total;
        c->bad = (double)(total - (good < total ? good : total));
    }
}

void fw_slo_evaluate(const fw_slo_config *cfg, const fw_slo_def *def, uint64_t now_ns,
                     fw_slo_status *st)
{
    memset(st, 0, sizeof(*st));
    unsigned min_req = cfg->min_requests ? cfg->min_requests : FW_SLO_MIN_REQUESTS_DEFAULT;
    uint64_t retention = cfg->retention_ns ? cfg->retention_ns : RETENTION_DEFAULT_NS;
    st->window_ns = def->window_ns;
    st->window_exceeds_retention = def->window_ns > retention;
    st->budget_total = (100.0 - def->target) / 100.0;

    uint32_t svc = FW_INTERN_NONE, op = FW_INTERN_NONE;
    if (cfg->intern) {
        svc = fw_intern_find(cfg->intern, (fw_str){def->service, strlen(def->service)});
        if (def->operation[0])
            op = fw_intern_find(cfg->intern, (fw_str){def->operation, strlen(def->operation)});
    }
    /* Buckets overlapping [now - w, now): exactly w / 10 s buckets when
     * |now_ns| is bucket-aligned. */
    uint64_t to = now_ns ? now_ns - 1u : 0u;
    sli_counts c;
    uint64_t from = now_ns > def->window_ns ? now_ns - def->window_ns : 0u;
    query_sli(cfg, def, svc, op, from, to, &c);
    st->requests = c.requests;
    st->bad_requests = c.bad;
    if (c.first_ns) {
        uint64_t start = c.first_ns > from ? c.first_ns : from;
        st->data_ns = now_ns > start ? now_ns - start : 0u;
    }
    double ratio = c.requests > 0.0 ? c.bad / c.requests : 0.0;
    st->attainment = 100.0 * (1.0 - ratio);
    st->budget_consumed = st->budget_total > 0.0 ? ratio / st->budget_total : 0.0;
    st->budget_remaining = 1.0 - st->budget_consumed;

    for (unsigned i = 0; i < FW_SLO_BURN_WINDOWS; i++) {
        uint64_t bf = now_ns > BURN_WINDOW_NS[i] ? now_ns - BURN_WINDOW_NS[i] : 0u;
        sli_counts bc;
        query_sli(cfg, def, svc, op, bf, to, &bc);
        st->burn_requests[i] = bc.requests;
        st->burn_rates[i] = fw_slo_burn_rate(bc.bad, bc.requests, def->target);
    }
    bool fast = st->burn_rates[FW_SLO_BURN_1H] > FW_SLO_FAST_BURN &&
                st->burn_rates[FW_SLO_BURN_5M] > FW_SLO_FAST_BURN &&
                st->burn_requests[FW_SLO_BURN_1H] >= (double)min_req;
    bool slow = st->burn_rates[FW_SLO_BURN_6H] > FW_SLO_SLOW_BURN &&
                st->burn_rates[FW_SLO_BURN_30M] > FW_SLO_SLOW_BURN &&
                st->burn_requests[FW_SLO_BURN_6H] >= (double)min_req;
    st->rule = fast ? FW_SLO_ALERT_FAST : slow ? FW_SLO_ALERT_SLOW : FW_SLO_ALERT_NONE;

    if (c.requests < (double)min_req)
        st->state = FW_SLO_INSUFFICIENT_DATA;
    else if (st->budget_remaining <= 0.0)
        st->state = FW_SLO_BREACHED; /* exhausted: attainment <= target */
    else if (st->budget_remaining * 100.0 < def->warning_threshold)
        st->state = FW_SLO_WARNING;
    else
        st->state = FW_SLO_OK;
}

/* ---- database ---- */

static int exec_simple(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static int db_write_entry(fw_slos *s, const slo_entry *e)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO slos (id, name, service, operation, sli, threshold_ms, target,"
        " window_text, warning_threshold, created_at_ns, alerting, alerting_since_ns)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        const fw_slo_def *d = &e->def;
        (void)sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, d->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, d->service, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 4, d->operation, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 5, fw_slo_sli_name(d->sli), -1, SQLITE_STATIC);
        (void)sqlite3_bind_double(st, 6, d->threshold_ms);
        (void)sqlite3_bind_double(st, 7, d->target);
        (void)sqlite3_bind_text(st, 8, d->window, -1, SQLITE_STATIC);
        (void)sqlite3_bind_double(st, 9, d->warning_threshold);
        (void)sqlite3_bind_int64(st, 10, (sqlite3_int64)(d->created_at_ns & INT64_MAX));
        (void)sqlite3_bind_int(st, 11, e->alerting ? 1 : 0);
        (void)sqlite3_bind_int64(st, 12, (sqlite3_int64)(e->alerting_since_ns & INT64_MAX));
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int db_set_alert(fw_slos *s, const slo_entry *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "UPDATE slos SET alerting = ?1, alerting_since_ns = ?2 WHERE id = ?3", -1, &st,
        NULL);
    if (rc == SQLITE_OK) {
        (void)sqlite3_bind_int(st, 1, e->alerting ? 1 : 0);
        (void)sqlite3_bind_int64(st, 2, (sqlite3_int64)(e->alerting_since_ns & INT64_MAX));
        (void)sqlite3_bind_text(st, 3, e->def.id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int db_delete(fw_slos *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "DELETE FROM slos WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        (void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int entries_push(fw_slos *s, slo_entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2u : 16u;
        slo_entry **p = realloc(s->entries, cap * sizeof(*p));
        if (!p) return FW_ERR_NOMEM;
        s->entries = p;
        s->cap = cap;
    }
    s->entries[s->n++] = e;
    return 0;
}

static int db_load(fw_slos *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, name, service, operation, sli, threshold_ms, target,"
                                " window_text, warning_threshold, created_at_ns, alerting,"
                                " alerting_since_ns FROM slos ORDER BY created_at_ns, id",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (s->n >= FW_SLO_MAX_COUNT) break;
        slo_entry *e = calloc(1, sizeof(*e));
        if (!e) {
            rc = SQLITE_NOMEM;
            break;
        }
        fw_slo_def *d = &e->def;
        copy_bounded(d->id, sizeof(d->id), col_text(st, 0));
        copy_bounded(d->name, sizeof(d->name), col_text(st, 1));
        copy_bounded(d->service, sizeof(d->service), col_text(st, 2));
        copy_bounded(d->operation, sizeof(d->operation), col_text(st, 3));
        d->sli =
            strcmp(col_text(st, 4), "latency") == 0 ? FW_SLO_SLI_LATENCY : FW_SLO_SLI_AVAILABILITY;
        d->threshold_ms = sqlite3_column_double(st, 5);
        d->target = sqlite3_column_double(st, 6);
        copy_bounded(d->window, sizeof(d->window), col_text(st, 7));
        d->warning_threshold = sqlite3_column_double(st, 8);
        sqlite3_int64 created = sqlite3_column_int64(st, 9);
        d->created_at_ns = created > 0 ? (uint64_t)created : 0u;
        e->alerting = sqlite3_column_int(st, 10) != 0;
        sqlite3_int64 since = sqlite3_column_int64(st, 11);
        e->alerting_since_ns = since > 0 ? (uint64_t)since : 0u;
        fw_parse_error perr;
        if (fw_slo_validate(d, &perr) != 0) {
            char esc[80];
            fw_log(FW_LOG_WARN, LOG_COMPONENT, "skipping stored SLO %s: %s",
                   fw_log_escape(d->id, strlen(d->id), 64, esc, sizeof(esc)), perr.detail);
            free(e);
            continue;
        }
        if (entries_push(s, e)) {
            free(e);
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

static int db_open(fw_slos *s, const char *data_dir, char *err, size_t errlen)
{
    struct stat sb;
    if (!data_dir || !data_dir[0]) {
        set_err(err, errlen, "data dir: not set");
        return FW_ERR_CONFIG;
    }
    if (stat(data_dir, &sb) != 0) {
        set_err(err, errlen, "data dir %s: %s", data_dir, strerror(errno));
        return FW_ERR_IO;
    }
    if (!S_ISDIR(sb.st_mode)) {
        set_err(err, errlen, "data dir %s: not a directory", data_dir);
        return FW_ERR_IO;
    }
    if (access(data_dir, W_OK | X_OK) != 0) {
        set_err(err, errlen, "data dir %s: not writable: %s", data_dir, strerror(errno));
        return FW_ERR_IO;
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", data_dir, DB_FILE);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        set_err(err, errlen, "data dir %s: path too long", data_dir);
        return FW_ERR_CONFIG;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return rc == SQLITE_NOMEM ? FW_ERR_NOMEM : FW_ERR_IO;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, s->cfg.busy_timeout_ms);

    sqlite3_stmt *st = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        wal = strcmp(col_text(st, 0), "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || !wal) {
        set_err(err, errlen, "%s: cannot use the database: %s", path,
                rc != SQLITE_OK ? sqlite3_errmsg(s->db) : "WAL journal mode refused");
        return FW_ERR_IO;
    }
    int version = 0;
    rc = exec_simple(s->db, "PRAGMA synchronous = NORMAL");
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK) sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        return FW_ERR_IO;
    }
    if (version > FW_SLO_SCHEMA_VERSION) {
        set_err(err, errlen, "%s: schema version %d is newer than this flywheel's (%d)", path,
                version, FW_SLO_SCHEMA_VERSION);
        return FW_ERR_CONFIG;
    }
    rc = exec_simple(s->db, SCHEMA_V1);
    if (rc == SQLITE_OK) rc = exec_simple(s->db, "PRAGMA user_version = 1");
    if (rc == SQLITE_OK) rc = db_load(s);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot load SLOs: %s", path,
                rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
        return rc == SQLITE_NOMEM ? FW_ERR_NOMEM : FW_ERR_IO;
    }
    return 0;
}

/* ---- lifecycle ---- */

int fw_slo_open(const char *data_dir, const fw_slo_config *cfg, fw_slos **out, char *err,
                size_t errlen)
{
    *out = NULL;
    set_err(err, errlen, "%s", "");
    fw_slos *s = calloc(1, sizeof(*s));
    if (!s) {
        set_err(err, errlen, "out of memory");
        return FW_ERR_NOMEM;
    }
    if (cfg) s->cfg = *cfg;
    if (s->cfg.busy_timeout_ms <= 0) s->cfg.busy_timeout_ms = BUSY_TIMEOUT_DEFAULT_MS;
    if (s->cfg.retention_ns == 0) s->cfg.retention_ns = RETENTION_DEFAULT_NS;
    if (s->cfg.min_requests == 0) s->cfg.min_requests = FW_SLO_MIN_REQUESTS_DEFAULT;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        set_err(err, errlen, "cannot create a mutex");
        goto fail_lock;
    }
    int rv = db_open(s, data_dir, err, errlen);
    if (rv) goto fail_db;
    *out = s;
    return 0;

fail_db:
    fw_slo_close(s);
    return rv;
fail_lock:
    free(s);
    return FW_ERR_NOMEM;
}

void fw_slo_close(fw_slos *s)
{
    if (!s) return;
    if (s->db) {
        (void)exec_simple(s->db, "PRAGMA wal_checkpoint(TRUNCATE)");
        sqlite3_close(s->db);
    }
    for (size_t i = 0; i < s->n; i++) free(s->entries[i]);
    free(s->entries);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the set ---- */

static slo_entry *find_locked(fw_slos *s, const char *id, size_t *idx)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->entries[i]->def.id, id) == 0) {
            if (idx) *idx = i;
            return s->entries[i];
        }
    }
    return NULL;
}

static void random_id(fw_slos *s, char *out, size_t outsz, unsigned attempt)
{
    uint8_t r[8];
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        /* No entropy yet: wall clock, attempt and address mixed (FNV-1a). */
        uint64_t h = 14695981039346656037ull;
        uint64_t parts[3] = {wall_ns(s), attempt, (uint64_t)(uintptr_t)s};
        for (size_t i = 0; i < sizeof(parts); i++) {
            h ^= ((const uint8_t *)parts)[i];
            h *= 1099511628211ull;
        }
        memcpy(r, &h, sizeof(r));
    }
    static const char hex[] = "0123456789abcdef";
    char buf[4 + 16 + 1] = "slo-";
    for (size_t i = 0; i < sizeof(r); i++) {
        buf[4 + 2 * i] = hex[r[i] >> 4];
        buf[5 + 2 * i] = hex[r[i] & 15u];
    }
    buf[20] = '\0';
    copy_bounded(out, outsz, buf);
}

int fw_slo_create(fw_slos *s, const fw_slo_def *d, fw_slo_def *out, fw_parse_error *perr)
{
    fw_parse_error scratch;
    if (!perr) perr = &scratch;
    slo_entry *e = calloc(1, sizeof(*e));
    if (!e) return FW_ERR_NOMEM;
    e->def = *d;
    int rv = fw_slo_validate(&e->def, perr);
    if (rv) goto fail;
    e->def.created_at_ns = wall_ns(s);

    pthread_mutex_lock(&s->lock);
    if (s->n >= FW_SLO_MAX_COUNT) {
        fw_parse_error_set(perr, "limit", "slos: at most %u SLOs", FW_SLO_MAX_COUNT);
        rv = FW_ERR_TOO_LARGE;
        goto unlock;
    }
    if (e->def.id[0]) {
        if (find_locked(s, e->def.id, NULL)) {
            fw_parse_error_set(perr, "conflict", "id: an SLO with id %s already exists", e->def.id);
            rv = FW_ERR_INVALID;
            goto unlock;
        }
    } else {
        unsigned attempt = 0;
        do random_id(s, e->def.id, sizeof(e->def.id), attempt);
        while (find_locked(s, e->def.id, NULL) && ++attempt < 16u);
        if (attempt == 16u) {
            rv = FW_ERR_IO;
            goto unlock;
        }
    }
    if (!e->def.name[0]) copy_bounded(e->def.name, sizeof(e->def.name), e->def.id);
    rv = entries_push(s, e);
    if (rv) goto unlock;
    if (db_write_entry(s, e) != SQLITE_OK) {
        fw_log(FW_LOG_ERROR, LOG_COMPONENT, "cannot store SLO %s: %s", e->def.id,
               sqlite3_errmsg(s->db));
        s->n--;
        atomic_fetch_add(&s->write_errors, 1);
        rv = FW_ERR_IO;
        goto unlock;
    }
    if (out) *out = e->def;
    pthread_mutex_unlock(&s->lock);
    return 0;

unlock:
    pthread_mutex_unlock(&s->lock);
fail:
    free(e);
    return rv;
}

int fw_slo_delete(fw_slos *s, const char *id)
{
    int rv = 0;
    size_t idx = 0;
    pthread_mutex_lock(&s->lock);
    slo_entry *e = find_locked(s, id, &idx);
    if (!e) {
        rv = FW_ERR_NOT_FOUND;
        goto out;
    }
    if (db_delete(s, id) != SQLITE_OK) {
        atomic_fetch_add(&s->write_errors, 1);
        rv = FW_ERR_IO;
        goto out;
    }
    memmove(&s->entries[idx], &s->entries[idx + 1], (s->n - idx - 1) * sizeof(s->entries[0]));
    s->n--;
    free(e);
out:
    pthread_mutex_unlock(&s->lock);
    return rv;
}

size_t fw_slo_count(fw_slos *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* A copy of the set (definitions and alert state), taken under the lock. */
static int snapshot(fw_slos *s, slo_entry **out, size_t *n)
{
    *out = NULL;
    pthread_mutex_lock(&s->lock);
    *n = s->n;
    slo_entry *copy = s->n ? malloc(s->n * sizeof(*copy)) : NULL;
    if (s->n && !copy) {
        pthread_mutex_unlock(&s->lock);
        return FW_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->n; i++) copy[i] = *s->entries[i];
    pthread_mutex_unlock(&s->lock);
    *out = copy;
    return 0;
}

int fw_slo_get(fw_slos *s, const char *id, uint64_t now_ns, fw_slo_def *def, fw_slo_status *st)
{
    slo_entry e;
    pthread_mutex_lock(&s->lock);
    slo_entry *found = find_locked(s, id, NULL);
    if (found) e = *found;
    pthread_mutex_unlock(&s->lock);
    if (!found) return FW_ERR_NOT_FOUND;
    fw_slo_evaluate(&s->cfg, &e.def, now_ns, st);
    st->alerting = e.alerting;
    st->alerting_since_ns = e.alerting_since_ns;
    if (def) *def = e.def;
    return 0;
}

int fw_slo_list(fw_slos *s, uint64_t now_ns, fw_slo_visit_fn visit, void *ctx)
{
    slo_entry *snap = NULL;
    size_t n = 0;
    int rv = snapshot(s, &snap, &n);
    if (rv) return rv;
    for (size_t i = 0; i < n; i++) {
        fw_slo_status st;
        fw_slo_evaluate(&s->cfg, &snap[i].def, now_ns, &st);
        st.alerting = snap[i].alerting;
        st.alerting_since_ns = snap[i].alerting_since_ns;
        if (visit(ctx, &snap[i].def, &st)) break;
    }
    free(snap);
    return 0;
}

int fw_slo_evaluate_all(fw_slos *s, uint64_t now_ns, fw_slo_alert_fn on_alert, void *ctx)
{
    slo_entry *snap = NULL;
    size_t n = 0;
    int rv = snapshot(s, &snap, &n);
    if (rv) return rv;
    fw_slo_status *sts = n ? calloc(n, sizeof(*sts)) : NULL;
    bool *fired = n ? calloc(n, sizeof(*fired)) : NULL;
    if (n && (!sts || !fired)) {
        rv = FW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) fw_slo_evaluate(&s->cfg, &snap[i].def, now_ns, &sts[i]);

    /* Apply the edges to the live set (an SLO deleted meanwhile is skipped). */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        slo_entry *e = find_locked(s, snap[i].def.id, NULL);
        if (!e) continue;
        bool firing = sts[i].rule != FW_SLO_ALERT_NONE;
        if (firing != e->alerting) {
            e->alerting = firing;
            e->alerting_since_ns = firing ? now_ns : 0u;
            fired[i] = firing;
            if (db_set_alert(s, e) != SQLITE_OK) {
                atomic_fetch_add(&s->write_errors, 1);
                fw_log(FW_LOG_ERROR, LOG_COMPONENT, "cannot store alert state of SLO %s: %s",
                       e->def.id, sqlite3_errmsg(s->db));
            }
        }
        sts[i].alerting = e->alerting;
        sts[i].alerting_since_ns = e->alerting_since_ns;
    }
    pthread_mutex_unlock(&s->lock);

    atomic_fetch_add(&s->evaluations, 1);
    for (size_t i = 0; i < n; i++) {
        if (!fired[i]) continue;
        rv++;
        atomic_fetch_add(&s->alerts, 1);
        fw_log(FW_LOG_INFO, LOG_COMPONENT,
               "SLO %s alerting (%s): burn 5m %.2f 1h %.2f 30m %.2f 6h %.2f", snap[i].def.id,
               fw_slo_alert_rule_name(sts[i].rule), sts[i].burn_rates[FW_SLO_BURN_5M],
               sts[i].burn_rates[FW_SLO_BURN_1H], sts[i].burn_rates[FW_SLO_BURN_30M],
               sts[i].burn_rates[FW_SLO_BURN_6H]);
        if (on_alert) on_alert(ctx, &snap[i].def, &sts[i]);
    }
out:
    free(fired);
    free(sts);
    free(snap);
    return rv;
}

void fw_slo_get_stats(fw_slos *s, fw_slo_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->slos = fw_slo_count(s);
    out->evaluations = atomic_load(&s->evaluations);
    out->alerts = atomic_load(&s->alerts);
    out->write_errors = atomic_load(&s->write_errors);
}
