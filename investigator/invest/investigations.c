/* investigations.c - investigations as durable objects (SPEC 6.1): a SQLite
 * table in <data_dir>/investigations.db (WAL), a bounded in-memory queue and
 * one worker thread that runs fw_investigate_run off the ingest path.
 * Never holds the database lock while an analysis runs; never lets a queue
 * grow past its bound (FW_ERR_OVERLOAD instead). */
#include "flywheel/investigations.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "flywheel/log.h"
#include "invest_internal.h"

#define DB_FILE "investigations.db"
/* Largest analysis result kept (one JSON object); bigger -> failed. */
#define RESULT_MAX (8u * 1024u * 1024u)
#define LIST_LIMIT_DEFAULT 100u
#define LIST_LIMIT_MAX 1000u
#define DEFAULT_WINDOW_NS (30ull * 60ull * 1000000000ull)
#define AFTER_ALARM_NS (5ull * 60ull * 1000000000ull)

typedef struct queued {
    char id[FW_INV_ID_MAX];
    fw_inv_request req;
} queued;

struct fw_investigations {
    fw_inv_sources src;
    sqlite3 *db;
    pthread_mutex_t db_mu; /* guards |db| and its statements */
    pthread_mutex_t mu;    /* guards the queue and the flags below */
    pthread_cond_t cv_work;
    pthread_cond_t cv_idle;
    queued queue[FW__INVEST_QUEUE_CAP]; /* ring: |head|, |n| */
    size_t head, n;
    bool running; /* the worker is inside an analysis */
    bool stopping;
    bool paused;
    pthread_t worker;
    bool worker_started;
    uint64_t seq; /* mixes into ids when getrandom fails */
};

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

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int append_time(fw_buf *b, uint64_t ns)
{
    if (ns == 0)
        return fw_buf_append_str(b, "null");
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return fw_buf_append_str(b, "null");
    return fw_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09uZ\"", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned)(ns % 1000000000u));
}

static int append_jstr(fw_buf *b, const char *s)
{
    return fw_buf_append_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strnlen(src, dstsz - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v > 0 ? (uint64_t)v : 0;
}

static int exec_simple(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void make_id(fw_investigations *v, char out[FW_INV_ID_MAX])
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = now_ns() ^ (++v->seq * 0x9E3779B97F4A7C15ull);
    snprintf(out, FW_INV_ID_MAX, "inv-%016llx", (unsigned long long)r);
}

/* The window the analysis covers, as the engine resolves it (investigate.h). */
static void resolve_window(const fw_inv_request *req, uint64_t created_ns, uint64_t *from,
                           uint64_t *to)
{
    uint64_t t = req->to_ns;
    if (t == 0) {
        t = req->alarm_at_ns ? req->alarm_at_ns + AFTER_ALARM_NS : created_ns;
        if (t > created_ns && created_ns)
            t = created_ns;
    }
    uint64_t f = req->from_ns ? req->from_ns : (t > DEFAULT_WINDOW_NS ? t - DEFAULT_WINDOW_NS : 0);
    *from = f;
    *to = t;
}

/* ---- database ---- */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS investigations ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " status TEXT NOT NULL,"
    " created_at_ns INTEGER NOT NULL,"
    " completed_at_ns INTEGER NOT NULL DEFAULT 0,"
    " trigger_kind TEXT NOT NULL,"
    " trigger_name TEXT NOT NULL,"
    " trigger_at_ns INTEGER NOT NULL,"
    " dedupe_key TEXT,"
    " service TEXT NOT NULL,"
    " operation TEXT NOT NULL,"
    " from_ns INTEGER NOT NULL,"
    " to_ns INTEGER NOT NULL,"
    " alarm_at_ns INTEGER NOT NULL,"
    " title TEXT NOT NULL,"
    " result TEXT,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS investigations_open ON investigations(dedupe_key)"
    " WHERE status IN ('queued','running');";

static const char COLS[] =
    "id, status, created_at_ns, completed_at_ns, trigger_kind, trigger_name, trigger_at_ns,"
    " service, operation, from_ns, to_ns, alarm_at_ns, title, result, error";

/* One row, read back. Column order of COLS. */
static void row_request(sqlite3_stmt *st, fw_inv_request *req)
{
    memset(req, 0, sizeof(*req));
    copy_str(req->trigger_kind, sizeof(req->trigger_kind), col_text(st, 4));
    copy_str(req->trigger_name, sizeof(req->trigger_name), col_text(st, 5));
    copy_str(req->service, sizeof(req->service), col_text(st, 7));
    copy_str(req->operation, sizeof(req->operation), col_text(st, 8));
    req->from_ns = col_u64(st, 9);
    req->to_ns = col_u64(st, 10);
    req->alarm_at_ns = col_u64(st, 11);
    copy_str(req->title, sizeof(req->title), col_text(st, 12));
}

/* Under |db_mu|. */
static int db_set_status_locked(fw_investigations *v, const char *id, const char *status,
                                uint64_t completed_ns, const char *result, size_t result_len,
                                const char *error)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(v->db,
                                "UPDATE investigations SET status = ?1, completed_at_ns = ?2,"
                                " result = ?3, error = ?4 WHERE id = ?5",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)completed_ns);
        if (result)
            sqlite3_bind_text(st, 3, result, (int)result_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        if (error)
            sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        fw_log(FW_LOG_ERROR, "invest", "cannot update investigation %s: %s", id,
               sqlite3_errmsg(v->db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : FW_ERR_IO;
}

static int db_set_status(fw_investigations *v, const char *id, const char *status,
                         uint64_t completed_ns, const char *result, size_t result_len,
                         const char *error)
{
    pthread_mutex_lock(&v->db_mu);
    int rv = db_set_status_locked(v, id, status, completed_ns, result, result_len, error);
    pthread_mutex_unlock(&v->db_mu);
    return rv;
}

/* ---- worker ---- */

static void run_one(fw_investigations *v, const queued *q)
{
    char err[256] = "";
    fw_buf out;
    fw_buf_init(&out, RESULT_MAX);
    (void)db_set_status(v, q->id, "running", 0, NULL, 0, NULL);
    int rv = fw_investigate_run(&v->src, &q->req, now_ns(), &out, err, sizeof(err));
    if (!rv && (out.len == 0 || out.data[0] != '{')) {
        rv = FW_ERR_INVALID;
        copy_str(err, sizeof(err), "the analysis returned no JSON object");
    }
    if (rv) {
        if (!err[0])
            copy_str(err, sizeof(err), fw_strerror(rv));
        fw_log(FW_LOG_WARN, "invest", "investigation %s failed: %s", q->id, err);
        (void)db_set_status(v, q->id, "failed", now_ns(), NULL, 0, err);
    } else {
        (void)db_set_status(v, q->id, "complete", now_ns(), (const char *)out.data, out.len,
                            NULL);
        fw_log(FW_LOG_INFO, "invest", "investigation %s complete", q->id);
    }
    fw_buf_free(&out);
}

static void *worker_main(void *arg)
{
    fw_investigations *v = arg;
    queued *q = malloc(sizeof(*q));
    if (!q) {
        fw_log(FW_LOG_ERROR, "invest", "worker: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (!v->stopping && (v->n == 0 || v->paused))
            pthread_cond_wait(&v->cv_work, &v->mu);
        if (v->stopping)
            break; /* queued ones stay queued in the database: re-queued on open */
        *q = v->queue[v->head];
        v->head = (v->head + 1) % FW__INVEST_QUEUE_CAP;
        v->n--;
        v->running = true;
        pthread_mutex_unlock(&v->mu);
        run_one(v, q);
        pthread_mutex_lock(&v->mu);
        v->running = false;
        pthread_cond_broadcast(&v->cv_idle);
    }
    pthread_cond_broadcast(&v->cv_idle);
    pthread_mutex_unlock(&v->mu);
    free(q);
    return NULL;
}

/* Pushes under |mu|; FW_ERR_OVERLOAD when full. */
static int push_locked(fw_investigations *v, const char *id, const fw_inv_request *req)
{
    if (v->n == FW__INVEST_QUEUE_CAP)
        return FW_ERR_OVERLOAD;
    queued *q = &v->queue[(v->head + v->n) % FW__INVEST_QUEUE_CAP];
    copy_str(q->id, sizeof(q->id), id);
    q->req = *req;
    v->n++;
    pthread_cond_signal(&v->cv_work);
    return 0;
}

/* Investigations a crash left queued or running go back to the queue
 * (oldest first); past the queue's bound they are marked failed. */
static int requeue(fw_investigations *v)
{
    sqlite3_stmt *st = NULL;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM investigations WHERE status IN ('queued','running') ORDER BY seq",
             COLS);
    int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
    char (*lost)[FW_INV_ID_MAX] = NULL;
    size_t n_lost = 0, cap_lost = 0;
    fw_inv_request req;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_request(st, &req);
        const char *id = col_text(st, 0);
        if (push_locked(v, id, &req) == 0) {
            fw_log(FW_LOG_INFO, "invest", "re-queued investigation %s after a restart", id);
            rc = SQLITE_OK;
            continue;
        }
        if (n_lost == cap_lost) {
            size_t nc = cap_lost ? cap_lost * 2 : 16;
            void *nl = realloc(lost, nc * sizeof(*lost));
            if (!nl) {
                rc = SQLITE_NOMEM;
                break;
            }
            lost = nl;
            cap_lost = nc;
        }
        copy_str(lost[n_lost++], FW_INV_ID_MAX, id);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        free(lost);
        return rc == SQLITE_NOMEM ? FW_ERR_NOMEM : FW_ERR_IO;
    }
    for (size_t i = 0; i < n_lost; i++)
        (void)db_set_status_locked(v, lost[i], "failed", now_ns(), NULL, 0,
                                   "not resumed after a restart: queue full");
    free(lost);
    /* the queue holds them as queued now */
    (void)exec_simple(v->db, "UPDATE investigations SET status = 'queued' WHERE status = 'running'");
    return 0;
}

static int open_db(fw_investigations *v, const char *data_dir, char *err, size_t errlen)
{
    struct stat sb;
    if (!data_dir || !*data_dir) {
        set_err(err, errlen, "data dir: not set");
        return FW_ERR_CONFIG;
    }
    if (stat(data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        set_err(err, errlen, "data dir %s: not a directory", data_dir);
        return FW_ERR_IO;
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", data_dir, DB_FILE);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        set_err(err, errlen, "data dir %s: path too long", data_dir);
        return FW_ERR_CONFIG;
    }
    int rc = sqlite3_open_v2(path, &v->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                v->db ? sqlite3_errmsg(v->db) : sqlite3_errstr(rc));
        return FW_ERR_IO;
    }
    (void)sqlite3_busy_timeout(v->db, 5000);
    sqlite3_stmt *st = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v2(v->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        wal = strcmp(col_text(st, 0), "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && wal)
        rc = exec_simple(v->db, "PRAGMA synchronous = NORMAL");
    if (rc == SQLITE_OK && wal)
        rc = exec_simple(v->db, SCHEMA);
    if (rc != SQLITE_OK || !wal) {
        set_err(err, errlen, "%s: cannot use the database: %s", path,
                rc != SQLITE_OK ? sqlite3_errmsg(v->db) : "WAL journal mode refused");
        return FW_ERR_IO;
    }
    return 0;
}

int fw_investigations_open(const char *data_dir, const fw_inv_sources *src,
                           fw_investigations **out, char *err, size_t errlen)
{
    *out = NULL;
    set_err(err, errlen, "%s", "");
    fw_investigations *v = calloc(1, sizeof(*v));
    if (!v) {
        set_err(err, errlen, "out of memory");
        return FW_ERR_NOMEM;
    }
    if (src)
        v->src = *src;
    int rv = FW_ERR_NOMEM;
    if (pthread_mutex_init(&v->db_mu, NULL))
        goto fail_free;
    if (pthread_mutex_init(&v->mu, NULL))
        goto fail_db_mu;
    if (pthread_cond_init(&v->cv_work, NULL))
        goto fail_mu;
    if (pthread_cond_init(&v->cv_idle, NULL))
        goto fail_cv_work;
    rv = open_db(v, data_dir, err, errlen);
    if (rv)
        goto fail_db;
    pthread_mutex_lock(&v->db_mu);
    pthread_mutex_lock(&v->mu);
    rv = requeue(v);
    pthread_mutex_unlock(&v->mu);
    pthread_mutex_unlock(&v->db_mu);
    if (rv) {
        set_err(err, errlen, "%s/%s: cannot read investigations: %s", data_dir, DB_FILE,
                sqlite3_errmsg(v->db));
        goto fail_db;
    }
    if (pthread_create(&v->worker, NULL, worker_main, v) != 0) {
        set_err(err, errlen, "cannot start the investigation worker: %s", strerror(errno));
        rv = FW_ERR_IO;
        goto fail_db;
    }
    v->worker_started = true;
    *out = v;
    return 0;

fail_db:
    sqlite3_close(v->db);
    pthread_cond_destroy(&v->cv_idle);
fail_cv_work:
    pthread_cond_destroy(&v->cv_work);
fail_mu:
    pthread_mutex_destroy(&v->mu);
fail_db_mu:
    pthread_mutex_destroy(&v->db_mu);
fail_free:
    if (rv == FW_ERR_NOMEM && err && !err[0])
        set_err(err, errlen, "out of memory");
    free(v);
    return rv;
}

void fw_investigations_close(fw_investigations *v)
{
    if (!v)
        return;
    if (v->worker_started) {
        pthread_mutex_lock(&v->mu);
        v->stopping = true;
        pthread_cond_broadcast(&v->cv_work);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->worker, NULL);
    }
    sqlite3_close(v->db);
    pthread_cond_destroy(&v->cv_idle);
    pthread_cond_destroy(&v->cv_work);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->db_mu);
    free(v);
}

void fw__invest_set_paused(fw_investigations *v, bool paused)
{
    pthread_mutex_lock(&v->mu);
    v->paused = paused;
    pthread_cond_broadcast(&v->cv_work);
    pthread_mutex_unlock(&v->mu);
}

void fw_investigations_drain(fw_investigations *v)
{
    pthread_mutex_lock(&v->mu);
    while ((v->n > 0 && !v->paused && !v->stopping) || v->running)
        pthread_cond_wait(&v->cv_idle, &v->mu);
    pthread_mutex_unlock(&v->mu);
}

/* ---- start ---- */

static bool name_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    return n < max;
}

int fw_investigations_start(fw_investigations *v, const fw_inv_request *req,
                            const char *dedupe_key, char id_out[FW_INV_ID_MAX], bool *started)
{
    *started = false;
    id_out[0] = '\0';
    if (!req || !name_ok(req->service, sizeof(req->service)) || !req->service[0] ||
        !name_ok(req->operation, sizeof(req->operation)) ||
        !name_ok(req->trigger_name, sizeof(req->trigger_name)) ||
        !name_ok(req->trigger_kind, sizeof(req->trigger_kind)) ||
        !name_ok(req->title, sizeof(req->title)) ||
        (req->from_ns && req->to_ns && req->from_ns >= req->to_ns))
        return FW_ERR_INVALID;
    fw_inv_request r = *req;
    if (!r.trigger_kind[0])
        copy_str(r.trigger_kind, sizeof(r.trigger_kind), r.alarm_at_ns ? "alarm" : "manual");
    uint64_t created = now_ns();
    uint64_t trig_at = r.alarm_at_ns ? r.alarm_at_ns : created;

    int rv = 0;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&v->db_mu);
    pthread_mutex_lock(&v->mu);
    if (dedupe_key && *dedupe_key) {
        int rc = sqlite3_prepare_v2(v->db,
                                    "SELECT id FROM investigations WHERE dedupe_key = ?1"
                                    " AND status IN ('queued','running') ORDER BY seq LIMIT 1",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, dedupe_key, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW) {
            copy_str(id_out, FW_INV_ID_MAX, col_text(st, 0));
            goto out; /* already under investigation */
        }
        if (rc != SQLITE_DONE) {
            rv = FW_ERR_IO;
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (v->n == FW__INVEST_QUEUE_CAP) {
        rv = FW_ERR_OVERLOAD;
        goto out;
    }
    char id[FW_INV_ID_MAX];
    make_id(v, id);
    int rc = sqlite3_prepare_v2(
        v->db,
        "INSERT INTO investigations (id, status, created_at_ns, trigger_kind, trigger_name,"
        " trigger_at_ns, dedupe_key, service, operation, from_ns, to_ns, alarm_at_ns, title)"
        " VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)created);
        sqlite3_bind_text(st, 3, r.trigger_kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r.trigger_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)trig_at);
        if (dedupe_key && *dedupe_key)
            sqlite3_bind_text(st, 6, dedupe_key, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_text(st, 7, r.service, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, r.operation, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)r.from_ns);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)r.to_ns);
        sqlite3_bind_int64(st, 11, (sqlite3_int64)r.alarm_at_ns);
        sqlite3_bind_text(st, 12, r.title, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        fw_log(FW_LOG_ERROR, "invest", "cannot store an investigation: %s",
               sqlite3_errmsg(v->db));
        rv = FW_ERR_IO;
        goto out;
    }
    rv = push_locked(v, id, &r); /* room checked above, under the same lock */
    if (!rv) {
        copy_str(id_out, FW_INV_ID_MAX, id);
        *started = true;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&v->mu);
    pthread_mutex_unlock(&v->db_mu);
    return rv;
}

/* ---- rendering ---- */

/* One row as loaded for rendering (strings copied out of the statement). */
typedef struct inv_row {
    char id[FW_INV_ID_MAX];
    char status[16];
    uint64_t created_ns, completed_ns, trigger_at_ns;
    fw_inv_request req;
    char *result; /* malloc'd or NULL */
    char error[256];
} inv_row;

static int load_row(sqlite3_stmt *st, inv_row *r)
{
    memset(r, 0, sizeof(*r));
    copy_str(r->id, sizeof(r->id), col_text(st, 0));
    copy_str(r->status, sizeof(r->status), col_text(st, 1));
    r->created_ns = col_u64(st, 2);
    r->completed_ns = col_u64(st, 3);
    r->trigger_at_ns = col_u64(st, 6);
    row_request(st, &r->req);
    const char *res = (const char *)sqlite3_column_text(st, 13);
    if (res) {
        r->result = strdup(res);
        if (!r->result)
            return FW_ERR_NOMEM;
    }
    copy_str(r->error, sizeof(r->error), col_text(st, 14));
    return 0;
}

static int append_trigger(fw_buf *b, const inv_row *r)
{
    int rv = fw_buf_append_str(b, "\"trigger\":{\"kind\":");
    if (!rv)
        rv = append_jstr(b, r->req.trigger_kind);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"name\":");
    if (!rv)
        rv = append_jstr(b, r->req.trigger_name);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"at\":");
    if (!rv)
        rv = append_time(b, r->trigger_at_ns);
    if (!rv)
        rv = fw_buf_append_str(b, "}");
    return rv;
}

static int append_head(fw_buf *b, const inv_row *r)
{
    int rv = fw_buf_append_str(b, "{\"id\":");
    if (!rv)
        rv = append_jstr(b, r->id);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"status\":");
    /* SPEC 6.1 knows running|complete|failed: waiting in the queue is
     * reported as running (it will run without further action). */
    if (!rv)
        rv = append_jstr(b, strcmp(r->status, "queued") == 0 ? "running" : r->status);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"created_at\":");
    if (!rv)
        rv = append_time(b, r->created_ns);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"completed_at\":");
    if (!rv)
        rv = append_time(b, r->completed_ns);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"title\":");
    if (!rv)
        rv = r->req.title[0] ? append_jstr(b, r->req.title) : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_append_str(b, ",");
    if (!rv)
        rv = append_trigger(b, r);
    return rv;
}

/* The scope the request implies, before the analysis has run. */
static int append_request_scope(fw_buf *b, const inv_row *r)
{
    uint64_t from, to;
    resolve_window(&r->req, r->created_ns, &from, &to);
    int rv = fw_buf_append_str(b, "{\"service\":");
    if (!rv)
        rv = append_jstr(b, r->req.service);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"operation\":");
    if (!rv)
        rv = r->req.operation[0] ? append_jstr(b, r->req.operation)
                                 : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_append_str(b, ",\"from\":");
    if (!rv)
        rv = append_time(b, from);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"to\":");
    if (!rv)
        rv = append_time(b, to);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"onset\":null}");
    return rv;
}

static int append_json_value(fw_buf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return FW_ERR_NOMEM;
    int rv = fw_buf_append_str(b, s);
    free(s);
    return rv;
}

static const char *const ENGINE_MEMBERS[] = {"scope", "impact", "hypotheses",
                                             "monitoring_gaps", "timeline"};

static int render_full(fw_buf *b, const inv_row *r)
{
    json_t *res = NULL;
    if (r->result && strcmp(r->status, "complete") == 0) {
        json_error_t jerr;
        res = json_loads(r->result, 0, &jerr);
        if (res && !json_is_object(res)) {
            json_decref(res);
            res = NULL;
        }
    }
    int rv = append_head(b, r);
    for (size_t i = 0; !rv && i < sizeof(ENGINE_MEMBERS) / sizeof(ENGINE_MEMBERS[0]); i++) {
        const char *k = ENGINE_MEMBERS[i];
        rv = fw_buf_printf(b, ",\"%s\":", k);
        json_t *m = res ? json_object_get(res, k) : NULL;
        if (!rv && m)
            rv = append_json_value(b, m);
        else if (!rv && i == 0)
            rv = append_request_scope(b, r);
        else if (!rv)
            rv = fw_buf_append_str(b, i == 1 ? "{}" : "[]");
    }
    /* members the engine adds beyond SPEC 6.1 pass through */
    const char *key;
    json_t *val;
    if (res) {
        json_object_foreach(res, key, val)
        {
            bool known = false;
            for (size_t i = 0; i < sizeof(ENGINE_MEMBERS) / sizeof(ENGINE_MEMBERS[0]); i++)
                known = known || strcmp(key, ENGINE_MEMBERS[i]) == 0;
            if (known || strcmp(key, "id") == 0 || strcmp(key, "status") == 0 ||
                strcmp(key, "trigger") == 0 || strcmp(key, "created_at") == 0 ||
                strcmp(key, "completed_at") == 0 || strcmp(key, "title") == 0)
                continue;
            if (!rv)
                rv = fw_buf_append(b, ",", 1);
            if (!rv)
                rv = fw_buf_append_json_str(b, key, strlen(key));
            if (!rv)
                rv = fw_buf_append(b, ":", 1);
            if (!rv)
                rv = append_json_value(b, val);
        }
    }
    if (!rv && strcmp(r->status, "failed") == 0) {
        rv = fw_buf_append_str(b, ",\"error\":");
        if (!rv)
            rv = append_jstr(b, r->error);
    }
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    json_decref(res);
    return rv;
}

int fw_investigations_get_json(fw_investigations *v, const char *id, fw_buf *out)
{
    if (!id || strnlen(id, FW_INV_ID_MAX) >= FW_INV_ID_MAX)
        return FW_ERR_NOT_FOUND;
    sqlite3_stmt *st = NULL;
    char sql[512];
    inv_row r;
    memset(&r, 0, sizeof(r));
    int rv = FW_ERR_NOT_FOUND;
    snprintf(sql, sizeof(sql), "SELECT %s FROM investigations WHERE id = ?1", COLS);
    pthread_mutex_lock(&v->db_mu);
    int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            rv = load_row(st, &r);
        else if (rc != SQLITE_DONE)
            rv = FW_ERR_IO;
    } else {
        rv = FW_ERR_IO;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&v->db_mu);
    if (!rv) {
        size_t mark = out->len;
        rv = render_full(out, &r);
        if (rv)
            out->len = mark;
    }
    free(r.result);
    return rv;
}

/* {"title","cause","score"} of the first hypothesis, or null. */
static int append_top_hypothesis(fw_buf *b, const inv_row *r)
{
    json_t *res = NULL, *top = NULL;
    if (r->result && strcmp(r->status, "complete") == 0) {
        json_error_t jerr;
        res = json_loads(r->result, 0, &jerr);
        json_t *hs = res ? json_object_get(res, "hypotheses") : NULL;
        top = json_is_array(hs) ? json_array_get(hs, 0) : NULL;
    }
    int rv;
    if (!json_is_object(top)) {
        rv = fw_buf_append_str(b, "null");
    } else {
        json_t *t = json_object_get(top, "title"), *c = json_object_get(top, "cause");
        json_t *s = json_object_get(top, "score"), *cf = json_object_get(top, "confidence");
        rv = fw_buf_append_str(b, "{\"title\":");
        if (!rv)
            rv = append_json_value(b, t ? t : json_null());
        if (!rv)
            rv = fw_buf_append_str(b, ",\"cause\":");
        if (!rv)
            rv = append_json_value(b, c ? c : json_null());
        if (!rv)
            rv = fw_buf_append_str(b, ",\"score\":");
        if (!rv)
            rv = append_json_value(b, json_is_number(s) ? s : json_null());
        if (!rv)
            rv = fw_buf_append_str(b, ",\"confidence\":");
        if (!rv)
            rv = append_json_value(b, cf ? cf : json_null());
        if (!rv)
            rv = fw_buf_append_str(b, "}");
    }
    json_decref(res);
    return rv;
}

static int render_summary(fw_buf *b, const inv_row *r)
{
    int rv = append_head(b, r);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"scope\":{\"service\":");
    if (!rv)
        rv = append_jstr(b, r->req.service);
    if (!rv)
        rv = fw_buf_append_str(b, ",\"operation\":");
    if (!rv)
        rv = r->req.operation[0] ? append_jstr(b, r->req.operation)
                                 : fw_buf_append_str(b, "null");
    if (!rv)
        rv = fw_buf_append_str(b, "},\"top_hypothesis\":");
    if (!rv)
        rv = append_top_hypothesis(b, r);
    if (!rv)
        rv = fw_buf_append(b, "}", 1);
    return rv;
}

int fw_investigations_list_json(fw_investigations *v, size_t limit, fw_buf *out)
{
    if (limit == 0)
        limit = LIST_LIMIT_DEFAULT;
    if (limit > LIST_LIMIT_MAX)
        limit = LIST_LIMIT_MAX;
    inv_row *rows = calloc(limit, sizeof(*rows));
    if (!rows)
        return FW_ERR_NOMEM;
    size_t n = 0;
    int rv = 0;
    sqlite3_stmt *st = NULL;
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM investigations ORDER BY seq DESC LIMIT ?1", COLS);
    pthread_mutex_lock(&v->db_mu);
    int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    while (rc == SQLITE_OK && n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rv = load_row(st, &rows[n++]);
        if (rv)
            break;
        rc = SQLITE_OK;
    }
    if (!rv && rc != SQLITE_OK && rc != SQLITE_DONE)
        rv = FW_ERR_IO;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&v->db_mu);

    size_t mark = out->len;
    if (!rv)
        rv = fw_buf_append_str(out, "{\"investigations\":[");
    for (size_t i = 0; !rv && i < n; i++) {
        if (i)
            rv = fw_buf_append(out, ",", 1);
        if (!rv)
            rv = render_summary(out, &rows[i]);
    }
    if (!rv)
        rv = fw_buf_append_str(out, "]}");
    if (rv)
        out->len = mark;
    for (size_t i = 0; i < n; i++)
        free(rows[i].result);
    free(rows);
    return rv;
}
