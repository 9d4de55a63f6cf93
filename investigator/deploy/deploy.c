/* deploy.c - the deployment store: SQLite persistence (<data_dir>/flywheel.db)
 * of recorded and inferred deployments, and the in-memory map of known
 * service versions that makes inference cheap on the ingest path.
 * The map lock is never held across SQLite; database writes are applied in
 * ticket order under the database lock, so they land in the order the map
 * decided them. Never reads the clock for event times (callers pass them). */
#include "flywheel/deploy.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flywheel/log.h"

#define DB_FILE "flywheel.db"
#define BUSY_TIMEOUT_DEFAULT_MS 5000
#define LOG_COMPONENT "deploy"

/* ---- in-memory known versions ---- */

typedef struct known_version {
    char *name;
    size_t len;
    char *environment; /* of the first sighting; NULL when none */
    uint64_t first_seen_ns;
    bool declared; /* recorded through the API: no inferred row of its own */
    /* What the database holds; sync() writes the differences. */
    bool in_db;
    uint64_t db_first_seen_ns;
    bool db_declared;
    bool row;          /* an inferred deployment row exists for it */
    uint64_t row_ts;   /* its timestamp_ns */
    char *row_prev;    /* its previous_version (NULL = null) */
} known_version;

typedef struct known_service {
    struct known_service *next; /* hash chain */
    uint64_t hash;
    char *name;
    size_t len;
    known_version *versions; /* ordered by first_seen_ns ascending (ties: arrival) */
    size_t n;
    size_t cap;
    /* Older versions were forgotten: versions[0] may be a deployment whose
     * previous version is no longer in memory. */
    bool evicted;
} known_service;

/* ---- database writes decided under the map lock ---- */

typedef enum op_kind {
    OP_SV_UPSERT = 0, /* service_versions row (first_seen, declared) */
    OP_SV_DELETE,
    OP_ROW_INSERT, /* inferred deployment */
    OP_ROW_UPDATE,
    OP_ROW_DELETE
} op_kind;

typedef struct deploy_op {
    op_kind kind;
    bool declared;
    bool has_prev;
    bool has_env;
    uint64_t ts;
    char service[FW_DEPLOY_SERVICE_MAX + 1];
    char version[FW_DEPLOY_VERSION_MAX + 1];
    char prev[FW_DEPLOY_VERSION_MAX + 1];
    char env[FW_DEPLOY_ENVIRONMENT_MAX + 1];
} deploy_op;

typedef struct op_batch {
    deploy_op *ops;
    size_t n;
    size_t cap;
    uint64_t ticket; /* 0 = nothing to write */
    unsigned inserts;
} op_batch;

struct fw_deploy_store {
    fw_deploy_config cfg;

    pthread_mutex_t map_lock; /* guards the map, ticket_next */
    known_service **buckets;
    size_t nbuckets; /* power of two */
    size_t nservices;
    size_t nversions;
    uint64_t ticket_next;

    pthread_mutex_t db_lock; /* guards db, the statements, ticket_done */
    pthread_cond_t db_turn;
    uint64_t ticket_done;
    sqlite3 *db;
    sqlite3_stmt *st_sv_upsert;
    sqlite3_stmt *st_sv_delete;
    sqlite3_stmt *st_row_insert;
    sqlite3_stmt *st_row_update;
    sqlite3_stmt *st_row_delete;
    sqlite3_stmt *st_api_insert;
    sqlite3_stmt *st_list;
    sqlite3_stmt *st_get;

    _Atomic uint64_t recorded;
    _Atomic uint64_t inferred;
    _Atomic uint64_t services_refused;
    _Atomic uint64_t versions_evicted;
    _Atomic uint64_t ignored;
    _Atomic uint64_t write_errors;
};

static const char SCHEMA_V1[] =
    "CREATE TABLE IF NOT EXISTS deployments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " service TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " previous_version TEXT,"
    " environment TEXT,"
    " \"commit\" TEXT,"
    " description TEXT,"
    " timestamp_ns INTEGER NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('api', 'inferred')),"
    " recorded_at_ns INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deployments_by_time ON deployments(timestamp_ns, id);"
    "CREATE INDEX IF NOT EXISTS deployments_by_service ON deployments(service, version, source);"
    "CREATE TABLE IF NOT EXISTS service_versions ("
    " service TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " first_seen_ns INTEGER NOT NULL,"
    " environment TEXT,"
    " declared INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (service, version)) WITHOUT ROWID;";

static const char COLUMNS[] = "id, service, version, previous_version, environment, \"commit\","
                              " description, timestamp_ns, source, recorded_at_ns";

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        err[0] = '\0';
}

static uint64_t now_ns(const fw_deploy_store *s)
{
    if (s->cfg.clock_ns)
        return s->cfg.clock_ns(s->cfg.clock_ctx);
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    if (!c)
        return NULL;
    if (n)
        memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

/* Copies a NUL-terminated string of at most |max| bytes into |out|. */
static void copy_bounded(char *out, size_t outsz, const char *s)
{
    size_t n = s ? strnlen(s, outsz - 1) : 0;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
}

static bool str_ok(fw_str s, size_t max)
{
    return s.len <= max && (s.len == 0 || !memchr(s.ptr, '\0', s.len));
}

static bool opt_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

const char *fw_deploy_source_name(fw_deploy_source s)
{
    return s == FW_DEPLOY_SOURCE_INFERRED ? "inferred" : "api";
}

/* ---- the map (map_lock held) ---- */

static known_service *service_find(fw_deploy_store *s, const char *name, size_t len,
                                   uint64_t h)
{
    for (known_service *k = s->buckets[h & (s->nbuckets - 1)]; k; k = k->next)
        if (k->hash == h && k->len == len && memcmp(k->name, name, len) == 0)
            return k;
    return NULL;
}

/* A new empty service; NULL when out of memory. The caller checks the cap. */
static known_service *service_add(fw_deploy_store *s, const char *name, size_t len, uint64_t h)
{
    known_service *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->name = dup_bytes(name, len);
    if (!k->name) {
        free(k);
        return NULL;
    }
    k->len = len;
    k->hash = h;
    size_t b = h & (s->nbuckets - 1);
    k->next = s->buckets[b];
    s->buckets[b] = k;
    s->nservices++;
    return k;
}

static void version_free(known_version *v)
{
    free(v->name);
    free(v->environment);
    free(v->row_prev);
}

static ssize_t version_find(const known_service *k, const char *name, size_t len)
{
    for (size_t i = k->n; i-- > 0;) /* newest first: the usual hit */
        if (k->versions[i].len == len && memcmp(k->versions[i].name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* Room for one more version (capacity grows up to max_versions). */
static int version_reserve(fw_deploy_store *s, known_service *k)
{
    if (k->n < k->cap)
        return 0;
    size_t ncap = k->cap ? k->cap * 2u : 2u;
    if (ncap > s->cfg.max_versions)
        ncap = s->cfg.max_versions;
    if (ncap <= k->n)
        return FW_ERR_TOO_LARGE;
    known_version *nv = realloc(k->versions, ncap * sizeof(*nv));
    if (!nv)
        return FW_ERR_NOMEM;
    k->versions = nv;
    k->cap = ncap;
    return 0;
}

/* Inserts |v| (owned strings) at its place by first-seen time, after the
 * versions with an equal time. Room must have been reserved. */
static size_t version_insert(fw_deploy_store *s, known_service *k, const known_version *v)
{
    size_t pos = k->n;
    while (pos > 0 && k->versions[pos - 1].first_seen_ns > v->first_seen_ns)
        pos--;
    memmove(&k->versions[pos + 1], &k->versions[pos], (k->n - pos) * sizeof(*v));
    k->versions[pos] = *v;
    k->n++;
    s->nversions++;
    return pos;
}

/* Moves versions[idx] earlier to |t| (< its first-seen) and restores the order. */
static void version_move_back(known_service *k, size_t idx, uint64_t t)
{
    known_version v = k->versions[idx];
    v.first_seen_ns = t;
    size_t pos = idx;
    while (pos > 0 && k->versions[pos - 1].first_seen_ns > t)
        pos--;
    memmove(&k->versions[pos + 1], &k->versions[pos], (idx - pos) * sizeof(v));
    k->versions[pos] = v;
}

static deploy_op *op_add(op_batch *b, op_kind kind, const known_service *k,
                         const known_version *v)
{
    deploy_op *op = &b->ops[b->n++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    copy_bounded(op->service, sizeof(op->service), k->name);
    copy_bounded(op->version, sizeof(op->version), v->name);
    return op;
}

/* Forgets the oldest version of a full service. */
static void version_evict_oldest(fw_deploy_store *s, known_service *k, op_batch *b)
{
    known_version *old = &k->versions[0];
    if (old->in_db)
        (void)op_add(b, OP_SV_DELETE, k, old); /* its deployment row stays: history */
    version_free(old);
    memmove(&k->versions[0], &k->versions[1], (k->n - 1) * sizeof(*old));
    k->n--;
    s->nversions--;
    k->evicted = true;
    atomic_fetch_add_explicit(&s->versions_evicted, 1, memory_order_relaxed);
}

/* Brings the database in line with |k|: the service_versions rows, and one
 * inferred deployment per non-baseline undeclared version, at its
 * first-seen time, whose previous version is the one before it. Emits the
 * differences into |b| (room for 2 per version) and marks them as written. */
static void service_sync(known_service *k, op_batch *b)
{
    for (size_t i = 0; i < k->n; i++) {
        known_version *v = &k->versions[i];
        if (!v->in_db || v->db_first_seen_ns != v->first_seen_ns ||
            v->db_declared != v->declared) {
            deploy_op *op = op_add(b, OP_SV_UPSERT, k, v);
            op->ts = v->first_seen_ns;
            op->declared = v->declared;
            op->has_env = v->environment != NULL;
            copy_bounded(op->env, sizeof(op->env), v->environment);
            v->in_db = true;
            v->db_first_seen_ns = v->first_seen_ns;
            v->db_declared = v->declared;
        }

        bool want_row;
        const char *want_prev;
        if (i > 0) {
            want_row = !v->declared || v->row;
            want_prev = k->versions[i - 1].name;
        } else if (k->evicted) {
            /* Its predecessor was forgotten: keep what the row says. */
            want_row = !v->declared || v->row;
            want_prev = v->row_prev;
        } else {
            want_row = false; /* the baseline */
            want_prev = NULL;
        }

        if (want_row && (!v->row || v->row_ts != v->first_seen_ns ||
                         !opt_eq(v->row_prev, want_prev))) {
            char *np = NULL;
            if (want_prev && want_prev != v->row_prev) {
                np = dup_bytes(want_prev, strlen(want_prev));
                if (!np)
                    continue; /* retried by the next sync of this service */
            }
            deploy_op *op = op_add(b, v->row ? OP_ROW_UPDATE : OP_ROW_INSERT, k, v);
            op->ts = v->first_seen_ns;
            op->has_prev = want_prev != NULL;
            copy_bounded(op->prev, sizeof(op->prev), want_prev);
            op->has_env = v->environment != NULL;
            copy_bounded(op->env, sizeof(op->env), v->environment);
            if (!v->row)
                b->inserts++;
            if (want_prev != v->row_prev) {
                free(v->row_prev);
                v->row_prev = np;
            }
            v->row = true;
            v->row_ts = v->first_seen_ns;
        } else if (!want_row && v->row) {
            (void)op_add(b, OP_ROW_DELETE, k, v);
            v->row = false;
            free(v->row_prev);
            v->row_prev = NULL;
        }
    }
}

static int batch_alloc(op_batch *b, const known_service *k)
{
    b->cap = 2u * (k ? k->n : 0u) + 4u;
    b->ops = malloc(b->cap * sizeof(*b->ops));
    return b->ops ? 0 : FW_ERR_NOMEM;
}

/* ---- the database (db_lock held) ---- */

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int apply_op(fw_deploy_store *s, const deploy_op *op, uint64_t recorded_at)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    const char *prev = op->has_prev ? op->prev : NULL;
    const char *env = op->has_env ? op->env : NULL;
    switch (op->kind) {
    case OP_SV_UPSERT:
        st = s->st_sv_upsert;
        rc = bind_text(st, 1, op->service);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, op->version);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)op->ts);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 4, env);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int(st, 5, op->declared ? 1 : 0);
        break;
    case OP_SV_DELETE:
    case OP_ROW_DELETE:
        st = op->kind == OP_SV_DELETE ? s->st_sv_delete : s->st_row_delete;
        rc = bind_text(st, 1, op->service);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, op->version);
        break;
    case OP_ROW_INSERT:
        st = s->st_row_insert;
        rc = bind_text(st, 1, op->service);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, op->version);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, prev);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 4, env);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 5, (sqlite3_int64)op->ts);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 6, (sqlite3_int64)recorded_at);
        break;
    case OP_ROW_UPDATE:
        st = s->st_row_update;
        rc = bind_text(st, 1, op->service);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, op->version);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, prev);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)op->ts);
        break;
    }
    if (!st)
        return SQLITE_MISUSE;
    if (rc != SQLITE_OK) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc;
    }
    return step_done(st);
}

static int exec_simple(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Waits for |ticket|'s turn (db_lock held on return). */
static void db_enter(fw_deploy_store *s, uint64_t ticket)
{
    pthread_mutex_lock(&s->db_lock);
    if (ticket)
        while (s->ticket_done + 1u != ticket)
            pthread_cond_wait(&s->db_turn, &s->db_lock);
}

static void db_leave(fw_deploy_store *s, uint64_t ticket)
{
    if (ticket) {
        s->ticket_done = ticket;
        pthread_cond_broadcast(&s->db_turn);
    }
    pthread_mutex_unlock(&s->db_lock);
}

/* Applies |b| in one transaction, plus the API row of |api| when given
 * (its id into |*id_out|). Called with the ticket taken and no lock held. */
static int batch_apply(fw_deploy_store *s, const op_batch *b, const fw_deployment *api,
                       uint64_t recorded_at, int64_t *id_out)
{
    int rc;
    db_enter(s, b->ticket);
    rc = exec_simple(s->db, "BEGIN IMMEDIATE");
    for (size_t i = 0; rc == SQLITE_OK && i < b->n; i++)
        rc = apply_op(s, &b->ops[i], recorded_at);
    if (rc == SQLITE_OK && api) {
        sqlite3_stmt *st = s->st_api_insert;
        rc = bind_text(st, 1, api->service);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, api->version);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, api->previous_version);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 4, api->environment);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 5, api->commit);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 6, api->description);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 7, (sqlite3_int64)api->timestamp_ns);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 8, (sqlite3_int64)recorded_at);
        if (rc == SQLITE_OK) {
            rc = step_done(st);
        } else {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        }
        if (rc == SQLITE_OK && id_out)
            *id_out = (int64_t)sqlite3_last_insert_rowid(s->db);
    }
    if (rc == SQLITE_OK)
        rc = exec_simple(s->db, "COMMIT");
    if (rc != SQLITE_OK) {
        fw_log(FW_LOG_ERROR, LOG_COMPONENT, "database write failed: %s", sqlite3_errmsg(s->db));
        (void)exec_simple(s->db, "ROLLBACK");
        atomic_fetch_add_explicit(&s->write_errors, 1, memory_order_relaxed);
    }
    db_leave(s, b->ticket);
    return rc == SQLITE_OK ? 0 : FW_ERR_IO;
}

/* ---- inference ---- */

int fw_deploy_observe_version(fw_deploy_store *s, fw_str service, fw_str version,
                              fw_str environment, uint64_t event_time_ns)
{
    if (!s || !service.ptr || service.len == 0 || !version.ptr || version.len == 0 ||
        event_time_ns == 0)
        return 0;
    if (!str_ok(service, FW_DEPLOY_SERVICE_MAX) || !str_ok(version, FW_DEPLOY_VERSION_MAX) ||
        event_time_ns > (uint64_t)INT64_MAX) {
        atomic_fetch_add_explicit(&s->ignored, 1, memory_order_relaxed);
        return 0;
    }
    if (!environment.ptr || !str_ok(environment, FW_DEPLOY_ENVIRONMENT_MAX))
        environment = FW_STR_NULL;

    uint64_t h = hash_bytes(service.ptr, service.len);
    op_batch b = {0};
    int rv = 0;

    pthread_mutex_lock(&s->map_lock);
    known_service *k = service_find(s, service.ptr, service.len, h);
    ssize_t idx = k ? version_find(k, version.ptr, version.len) : -1;
    if (idx >= 0 && event_time_ns >= k->versions[idx].first_seen_ns) {
        pthread_mutex_unlock(&s->map_lock); /* the common case: nothing new */
        return 0;
    }
    if (!k && s->nservices >= s->cfg.max_services) {
        pthread_mutex_unlock(&s->map_lock);
        atomic_fetch_add_explicit(&s->services_refused, 1, memory_order_relaxed);
        return 0;
    }
    if (k && idx < 0 && k->n >= s->cfg.max_versions &&
        event_time_ns < k->versions[0].first_seen_ns) {
        /* Older than every version kept: it would be forgotten at once. */
        pthread_mutex_unlock(&s->map_lock);
        atomic_fetch_add_explicit(&s->versions_evicted, 1, memory_order_relaxed);
        return 0;
    }
    rv = batch_alloc(&b, k);
    if (rv)
        goto out_unlock;

    if (idx >= 0) {
        version_move_back(k, (size_t)idx, event_time_ns);
    } else {
        known_version v = {0};
        v.name = dup_bytes(version.ptr, version.len);
        v.len = version.len;
        v.first_seen_ns = event_time_ns;
        v.environment = environment.len ? dup_bytes(environment.ptr, environment.len) : NULL;
        if (!v.name || (environment.len && !v.environment)) {
            version_free(&v);
            rv = FW_ERR_NOMEM;
            goto out_unlock;
        }
        if (!k)
            k = service_add(s, service.ptr, service.len, h);
        if (k && k->n >= s->cfg.max_versions)
            version_evict_oldest(s, k, &b);
        if (!k || version_reserve(s, k) != 0) {
            version_free(&v);
            rv = FW_ERR_NOMEM;
            goto out_unlock;
        }
        (void)version_insert(s, k, &v);
    }
    service_sync(k, &b);
    if (b.n)
        b.ticket = ++s->ticket_next;
out_unlock:
    pthread_mutex_unlock(&s->map_lock);
    if (!rv && b.n) {
        rv = batch_apply(s, &b, NULL, now_ns(s), NULL);
        if (!rv && b.inserts) {
            atomic_fetch_add_explicit(&s->inferred, b.inserts, memory_order_relaxed);
            rv = 1;
        }
    }
    if (rv < 0)
        atomic_fetch_add_explicit(&s->write_errors, 1, memory_order_relaxed);
    free(b.ops);
    return rv;
}

/* ---- recorded deployments ---- */

static int check_str(const char *v, const char *field, size_t max, bool required,
                     fw_parse_error *perr)
{
    if (!v || v[0] == '\0') {
        if (!required)
            return 0;
        if (perr)
            fw_parse_error_set(perr, "missing_field", "%s: required", field);
        return FW_ERR_INVALID;
    }
    if (strnlen(v, max + 1) > max) {
        if (perr)
            fw_parse_error_set(perr, "field_too_long", "%s: must be a string of at most %zu bytes",
                               field, max);
        return FW_ERR_INVALID;
    }
    return 0;
}

int fw_deploy_validate(const fw_deployment *d, fw_parse_error *perr)
{
    int rv = check_str(d->service, "service", FW_DEPLOY_SERVICE_MAX, true, perr);
    if (!rv)
        rv = check_str(d->version, "version", FW_DEPLOY_VERSION_MAX, true, perr);
    if (!rv)
        rv = check_str(d->environment, "environment", FW_DEPLOY_ENVIRONMENT_MAX, false, perr);
    if (!rv)
        rv = check_str(d->commit, "commit", FW_DEPLOY_COMMIT_MAX, false, perr);
    if (!rv)
        rv = check_str(d->description, "description", FW_DEPLOY_DESCRIPTION_MAX, false, perr);
    if (!rv && (d->timestamp_ns == 0 || d->timestamp_ns > (uint64_t)INT64_MAX)) {
        if (perr)
            fw_parse_error_set(perr, "bad_timestamp",
                               "timestamp: must be after 1970 and before 2262");
        rv = FW_ERR_INVALID;
    }
    return rv;
}

static const char *opt_str(const char *s)
{
    return s && s[0] ? s : NULL;
}

int fw_deploy_record(fw_deploy_store *s, const fw_deployment *d, int64_t *id_out,
                     fw_parse_error *perr)
{
    int rv = fw_deploy_validate(d, perr);
    if (rv)
        return rv;
    char prev[FW_DEPLOY_VERSION_MAX + 1];
    bool has_prev = false;
    size_t slen = strlen(d->service), vlen = strlen(d->version);
    uint64_t h = hash_bytes(d->service, slen);
    uint64_t t = d->timestamp_ns;
    op_batch b = {0};

    pthread_mutex_lock(&s->map_lock);
    known_service *k = service_find(s, d->service, slen, h);
    if (!k && s->nservices < s->cfg.max_services)
        k = service_add(s, d->service, slen, h); /* NULL on NOMEM: recorded untracked */
    if (k && batch_alloc(&b, k) != 0)
        k = NULL;
    if (k) {
        /* The previous version: the newest other version seen before |t|. */
        for (size_t i = k->n; i-- > 0;) {
            const known_version *v = &k->versions[i];
            if (v->first_seen_ns < t && !(v->len == vlen && memcmp(v->name, d->version, vlen) == 0)) {
                copy_bounded(prev, sizeof(prev), v->name);
                has_prev = true;
                break;
            }
        }
        ssize_t idx = version_find(k, d->version, vlen);
        if (idx >= 0) {
            k->versions[idx].declared = true;
            if (t < k->versions[idx].first_seen_ns)
                version_move_back(k, (size_t)idx, t);
        } else if (k->n < s->cfg.max_versions || t >= k->versions[0].first_seen_ns) {
            known_version v = {0};
            v.name = dup_bytes(d->version, vlen);
            v.len = vlen;
            v.first_seen_ns = t;
            v.declared = true;
            v.environment = opt_str(d->environment)
                                ? dup_bytes(d->environment, strlen(d->environment))
                                : NULL;
            if (v.name && (v.environment || !opt_str(d->environment))) {
                if (k->n >= s->cfg.max_versions)
                    version_evict_oldest(s, k, &b);
                if (version_reserve(s, k) == 0)
                    (void)version_insert(s, k, &v);
                else
                    version_free(&v);
            } else {
                version_free(&v);
            }
        }
        service_sync(k, &b);
    }
    b.ticket = ++s->ticket_next;
    pthread_mutex_unlock(&s->map_lock);

    fw_deployment row = *d;
    row.previous_version = has_prev ? prev : NULL;
    row.environment = opt_str(d->environment);
    row.commit = opt_str(d->commit);
    row.description = opt_str(d->description);
    rv = batch_apply(s, &b, &row, now_ns(s), id_out);
    if (!rv) {
        atomic_fetch_add_explicit(&s->recorded, 1, memory_order_relaxed);
        if (b.inserts)
            atomic_fetch_add_explicit(&s->inferred, b.inserts, memory_order_relaxed);
    } else if (perr) {
        fw_parse_error_set(perr, "storage_error", "deployment could not be stored");
    }
    free(b.ops);
    return rv;
}

/* ---- listing ---- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i); /* NULL for SQL NULL */
}

static int visit_rows(sqlite3_stmt *st, fw_deploy_visit_fn visit, void *ctx, size_t *n)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fw_deployment d = {0};
        d.id = (int64_t)sqlite3_column_int64(st, 0);
        d.service = col_text(st, 1);
        d.version = col_text(st, 2);
        d.previous_version = col_text(st, 3);
        d.environment = col_text(st, 4);
        d.commit = col_text(st, 5);
        d.description = col_text(st, 6);
        sqlite3_int64 ts = sqlite3_column_int64(st, 7);
        d.timestamp_ns = ts > 0 ? (uint64_t)ts : 0;
        const char *src = col_text(st, 8);
        d.source = src && strcmp(src, "inferred") == 0 ? FW_DEPLOY_SOURCE_INFERRED
                                                       : FW_DEPLOY_SOURCE_API;
        sqlite3_int64 rec = sqlite3_column_int64(st, 9);
        d.recorded_at_ns = rec > 0 ? (uint64_t)rec : 0;
        if (!d.service)
            d.service = "";
        if (!d.version)
            d.version = "";
        (*n)++;
        if (visit(ctx, &d))
            return SQLITE_DONE;
    }
    return rc;
}

int fw_deploy_list(fw_deploy_store *s, const char *service, uint64_t from_ns, uint64_t to_ns,
                   size_t limit, fw_deploy_visit_fn visit, void *ctx)
{
    if (limit == 0 || limit > FW_DEPLOY_LIST_MAX)
        limit = FW_DEPLOY_LIST_MAX;
    if (to_ns == 0 || to_ns > (uint64_t)INT64_MAX)
        to_ns = (uint64_t)INT64_MAX;
    if (from_ns > (uint64_t)INT64_MAX)
        return 0;
    size_t n = 0;
    db_enter(s, 0);
    sqlite3_stmt *st = s->st_list;
    int rc = bind_text(st, 1, opt_str(service));
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)from_ns);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)to_ns);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    if (rc == SQLITE_OK)
        rc = visit_rows(st, visit, ctx, &n);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        fw_log(FW_LOG_ERROR, LOG_COMPONENT, "listing failed: %s", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    db_leave(s, 0);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : FW_ERR_IO;
}

int fw_deploy_get(fw_deploy_store *s, int64_t id, fw_deploy_visit_fn visit, void *ctx)
{
    size_t n = 0;
    db_enter(s, 0);
    sqlite3_stmt *st = s->st_get;
    int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    if (rc == SQLITE_OK)
        rc = visit_rows(st, visit, ctx, &n);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    db_leave(s, 0);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return FW_ERR_IO;
    return n ? 0 : FW_ERR_NOT_FOUND;
}

void fw_deploy_get_stats(fw_deploy_store *s, fw_deploy_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->map_lock);
    out->services = s->nservices;
    out->versions = s->nversions;
    pthread_mutex_unlock(&s->map_lock);
    out->recorded = atomic_load_explicit(&s->recorded, memory_order_relaxed);
    out->inferred = atomic_load_explicit(&s->inferred, memory_order_relaxed);
    out->services_refused = atomic_load_explicit(&s->services_refused, memory_order_relaxed);
    out->versions_evicted = atomic_load_explicit(&s->versions_evicted, memory_order_relaxed);
    out->ignored = atomic_load_explicit(&s->ignored, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&s->write_errors, memory_order_relaxed);
}

/* ---- open / close ---- */

static int prepare(fw_deploy_store *s, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

static int prepare_all(fw_deploy_store *s)
{
    char list_sql[512], get_sql[256];
    int n1 = snprintf(list_sql, sizeof(list_sql),
                      "SELECT %s FROM deployments WHERE (?1 IS NULL OR service = ?1)"
                      " AND timestamp_ns >= ?2 AND timestamp_ns <= ?3"
                      " ORDER BY timestamp_ns DESC, id DESC LIMIT ?4",
                      COLUMNS);
    int n2 = snprintf(get_sql, sizeof(get_sql), "SELECT %s FROM deployments WHERE id = ?1",
                      COLUMNS);
    if (n1 < 0 || (size_t)n1 >= sizeof(list_sql) || n2 < 0 || (size_t)n2 >= sizeof(get_sql))
        return SQLITE_TOOBIG;
    int rc = prepare(s,
                     "INSERT INTO service_versions(service, version, first_seen_ns, environment,"
                     " declared) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(service, version) DO"
                     " UPDATE SET first_seen_ns = excluded.first_seen_ns,"
                     " declared = excluded.declared",
                     &s->st_sv_upsert);
    if (rc == SQLITE_OK)
        rc = prepare(s, "DELETE FROM service_versions WHERE service = ?1 AND version = ?2",
                     &s->st_sv_delete);
    if (rc == SQLITE_OK)
        rc = prepare(s,
                     "INSERT INTO deployments(service, version, previous_version, environment,"
                     " timestamp_ns, source, recorded_at_ns)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, 'inferred', ?6)",
                     &s->st_row_insert);
    if (rc == SQLITE_OK)
        rc = prepare(s,
                     "UPDATE deployments SET previous_version = ?3, timestamp_ns = ?4 WHERE id ="
                     " (SELECT max(id) FROM deployments WHERE service = ?1 AND version = ?2"
                     " AND source = 'inferred')",
                     &s->st_row_update);
    if (rc == SQLITE_OK)
        rc = prepare(s,
                     "DELETE FROM deployments WHERE id = (SELECT max(id) FROM deployments"
                     " WHERE service = ?1 AND version = ?2 AND source = 'inferred')",
                     &s->st_row_delete);
    if (rc == SQLITE_OK)
        rc = prepare(s,
                     "INSERT INTO deployments(service, version, previous_version, environment,"
                     " \"commit\", description, timestamp_ns, source, recorded_at_ns)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'api', ?8)",
                     &s->st_api_insert);
    if (rc == SQLITE_OK)
        rc = prepare(s, list_sql, &s->st_list);
    if (rc == SQLITE_OK)
        rc = prepare(s, get_sql, &s->st_get);
    return rc;
}

/* Creates or checks the schema (PRAGMA user_version). */
static int migrate(fw_deploy_store *s, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0) {
        set_err(err, errlen, "%s: cannot read the schema version: %s", path,
                sqlite3_errmsg(s->db));
        return FW_ERR_IO;
    }
    if (version > FW_DEPLOY_SCHEMA_VERSION) {
        set_err(err, errlen,
                "%s: schema version %d is newer than this flywheel supports (%d)", path,
                version, FW_DEPLOY_SCHEMA_VERSION);
        return FW_ERR_CONFIG;
    }
    if (version == FW_DEPLOY_SCHEMA_VERSION)
        return 0;
    /* 0 -> 1. Later versions add steps here, each in the transaction. */
    rc = exec_simple(s->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = exec_simple(s->db, SCHEMA_V1);
    if (rc == SQLITE_OK)
        rc = exec_simple(s->db, "PRAGMA user_version = 1");
    if (rc == SQLITE_OK)
        rc = exec_simple(s->db, "COMMIT");
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot create the schema: %s", path, sqlite3_errmsg(s->db));
        (void)exec_simple(s->db, "ROLLBACK");
        return FW_ERR_IO;
    }
    return 0;
}

/* Loads the known versions (the newest max_versions per service, up to
 * max_services services) and the inferred rows they own. */
static int load_known(fw_deploy_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT service, version, first_seen_ns, environment, declared"
                                " FROM service_versions ORDER BY service, first_seen_ns, version",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    for (;;) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        const char *svc = col_text(st, 0), *ver = col_text(st, 1), *env = col_text(st, 3);
        sqlite3_int64 first = sqlite3_column_int64(st, 2);
        if (!svc || !ver || first <= 0)
            continue;
        size_t slen = strlen(svc), vlen = strlen(ver);
        if (slen == 0 || slen > FW_DEPLOY_SERVICE_MAX || vlen == 0 ||
            vlen > FW_DEPLOY_VERSION_MAX)
            continue;
        uint64_t h = hash_bytes(svc, slen);
        known_service *k = service_find(s, svc, slen, h);
        if (!k && s->nservices >= s->cfg.max_services)
            continue;
        if (!k && !(k = service_add(s, svc, slen, h))) {
            rc = SQLITE_NOMEM;
            break;
        }
        known_version v = {0};
        v.name = dup_bytes(ver, vlen);
        v.len = vlen;
        bool has_env = env && env[0];
        v.environment = has_env ? dup_bytes(env, strnlen(env, FW_DEPLOY_ENVIRONMENT_MAX)) : NULL;
        v.first_seen_ns = (uint64_t)first;
        v.declared = sqlite3_column_int(st, 4) != 0;
        v.in_db = true;
        v.db_first_seen_ns = v.first_seen_ns;
        v.db_declared = v.declared;
        if (!v.name || (has_env && !v.environment)) {
            version_free(&v);
            rc = SQLITE_NOMEM;
            break;
        }
        if (k->n >= s->cfg.max_versions) { /* keep the newest; the table keeps the rest */
            version_free(&k->versions[0]);
            memmove(&k->versions[0], &k->versions[1], (k->n - 1) * sizeof(v));
            k->n--;
            s->nversions--;
            k->evicted = true;
        }
        if (version_reserve(s, k) != 0) {
            version_free(&v);
            rc = SQLITE_NOMEM;
            break;
        }
        (void)version_insert(s, k, &v);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT service, version, previous_version, timestamp_ns"
                            " FROM deployments WHERE source = 'inferred' ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    for (;;) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        const char *svc = col_text(st, 0), *ver = col_text(st, 1), *prev = col_text(st, 2);
        if (!svc || !ver)
            continue;
        size_t slen = strlen(svc);
        known_service *k = service_find(s, svc, slen, hash_bytes(svc, slen));
        ssize_t idx = k ? version_find(k, ver, strlen(ver)) : -1;
        if (idx < 0)
            continue;
        known_version *v = &k->versions[idx];
        char *np = prev ? dup_bytes(prev, strnlen(prev, FW_DEPLOY_VERSION_MAX)) : NULL;
        if (prev && !np) {
            rc = SQLITE_NOMEM;
            break;
        }
        free(v->row_prev);
        v->row_prev = np;
        v->row = true;
        sqlite3_int64 ts = sqlite3_column_int64(st, 3);
        v->row_ts = ts > 0 ? (uint64_t)ts : 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;
    /* A first version holding a deployment row lost its predecessor to the cap. */
    for (size_t b = 0; b < s->nbuckets; b++)
        for (known_service *k = s->buckets[b]; k; k = k->next)
            if (k->n && k->versions[0].row)
                k->evicted = true;
    return SQLITE_OK;
}

static void map_free(fw_deploy_store *s)
{
    if (!s->buckets)
        return;
    for (size_t b = 0; b < s->nbuckets; b++) {
        known_service *k = s->buckets[b];
        while (k) {
            known_service *next = k->next;
            for (size_t i = 0; i < k->n; i++)
                version_free(&k->versions[i]);
            free(k->versions);
            free(k->name);
            free(k);
            k = next;
        }
    }
    free(s->buckets);
    s->buckets = NULL;
}

static void db_close(fw_deploy_store *s)
{
    sqlite3_stmt **sts[] = {&s->st_sv_upsert, &s->st_sv_delete, &s->st_row_insert,
                            &s->st_row_update, &s->st_row_delete, &s->st_api_insert,
                            &s->st_list,       &s->st_get};
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        sqlite3_finalize(*sts[i]);
        *sts[i] = NULL;
    }
    if (s->db) {
        (void)sqlite3_close(s->db);
        s->db = NULL;
    }
}

/* Opens the database file and sets the connection up. */
static int db_open(fw_deploy_store *s, const char *data_dir, char *err, size_t errlen)
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
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return rc == SQLITE_NOMEM ? FW_ERR_NOMEM : FW_ERR_IO;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, s->cfg.busy_timeout_ms);

    /* WAL: readers never block the writer; a corrupt or foreign file fails here. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = col_text(st, 0);
        wal = mode && strcmp(mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || !wal) {
        set_err(err, errlen, "%s: cannot use the database: %s", path,
                rc != SQLITE_OK ? sqlite3_errmsg(s->db) : "WAL journal mode refused");
        return FW_ERR_IO;
    }
    rc = exec_simple(s->db, "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        return FW_ERR_IO;
    }
    int rv = migrate(s, path, err, errlen);
    if (rv)
        return rv;
    rc = prepare_all(s);
    if (rc == SQLITE_OK)
        rc = load_known(s);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot load deployments: %s", path,
                rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
        return rc == SQLITE_NOMEM ? FW_ERR_NOMEM : FW_ERR_IO;
    }
    return 0;
}

int fw_deploy_open_config(const char *data_dir, const fw_deploy_config *cfg,
                          fw_deploy_store **out, char *err, size_t errlen)
{
    *out = NULL;
    set_err(err, errlen, "%s", "");
    fw_deploy_store *s = calloc(1, sizeof(*s));
    if (!s) {
        set_err(err, errlen, "out of memory");
        return FW_ERR_NOMEM;
    }
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.max_services == 0)
        s->cfg.max_services = FW_DEPLOY_MAX_SERVICES_DEFAULT;
    if (s->cfg.max_versions == 0)
        s->cfg.max_versions = FW_DEPLOY_MAX_VERSIONS_DEFAULT;
    if (s->cfg.max_versions < 2)
        s->cfg.max_versions = 2;
    if (s->cfg.busy_timeout_ms <= 0)
        s->cfg.busy_timeout_ms = BUSY_TIMEOUT_DEFAULT_MS;
    s->nbuckets = 64;
    while (s->nbuckets < s->cfg.max_services && s->nbuckets < (1u << 20))
        s->nbuckets <<= 1;
    atomic_init(&s->recorded, 0);
    atomic_init(&s->inferred, 0);
    atomic_init(&s->services_refused, 0);
    atomic_init(&s->versions_evicted, 0);
    atomic_init(&s->ignored, 0);
    atomic_init(&s->write_errors, 0);

    int rv = FW_ERR_NOMEM;
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    if (!s->buckets) {
        set_err(err, errlen, "out of memory");
        goto fail_buckets;
    }
    if (pthread_mutex_init(&s->map_lock, NULL) != 0)
        goto fail_map_lock;
    if (pthread_mutex_init(&s->db_lock, NULL) != 0)
        goto fail_db_lock;
    if (pthread_cond_init(&s->db_turn, NULL) != 0)
        goto fail_cond;
    rv = db_open(s, data_dir, err, errlen);
    if (rv)
        goto fail_db;
    *out = s;
    return 0;

fail_db:
    db_close(s);
    map_free(s);
    pthread_cond_destroy(&s->db_turn);
fail_cond:
    pthread_mutex_destroy(&s->db_lock);
fail_db_lock:
    pthread_mutex_destroy(&s->map_lock);
fail_map_lock:
    if (rv == FW_ERR_NOMEM && err && errlen && !err[0])
        set_err(err, errlen, "cannot create locks");
    free(s->buckets);
fail_buckets:
    free(s);
    return rv;
}

int fw_deploy_open(const char *data_dir, fw_deploy_store **out, char *err, size_t errlen)
{
    return fw_deploy_open_config(data_dir, NULL, out, err, errlen);
}

void fw_deploy_close(fw_deploy_store *s)
{
    if (!s)
        return;
    db_close(s);
    map_free(s);
    pthread_cond_destroy(&s->db_turn);
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->map_lock);
    free(s);
}
