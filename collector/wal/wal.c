/* wal.c - the write-ahead log's files: segment creation and rotation, the
 * one mutex-serialised writer, group commit under "always", the flusher
 * thread (interval fsync and retention deletion), replay with torn-tail
 * repair at start. Knows nothing of OTLP: payloads are opaque bytes. Never
 * aborts on I/O errors: they become FW_ERR_IO for the caller and a counted,
 * logged event.
 *
 * Group commit ("always"): an appender writes its record under mu, queues
 * a stack waiter carrying its log sequence number (lsn), and waits for a
 * sync covering it. The first waiter that finds no sync running becomes
 * the leader: it notes the last lsn written and the segment size, drops mu,
 * runs one fdatasync, retakes mu and releases every waiter up to that lsn
 * (or fails every queued waiter on an error, see group_commit_done). No
 * dedicated thread: a lone appender syncs at once, as before, and under
 * load the records written while one fsync runs ride on the next. While a
 * sync runs the segment fd never changes: rotation waits for it, then
 * fsyncs the old segment itself before releasing its waiters. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "flywheel/log.h"
#include "flywheel/wal.h"
#include "wal_internal.h"

#define WAL_NAME_HEX   16u
#define WAL_SUFFIX     ".wal"
#define WAL_PATH_MAX   4096u
/* Retention deletion runs at most this often (flusher thread). */
#define WAL_EXPIRE_EVERY_NS 1000000000ull

/* An appender waiting for its record to become durable ("always"); lives
 * on the appender's stack, queued in lsn order under mu. */
typedef struct wal_waiter {
    struct wal_waiter *next;
    uint64_t lsn;
    int status; /* WAL_PENDING, 0 = durable, FW_ERR_IO = failed */
} wal_waiter;

#define WAL_PENDING 1

typedef struct wal_segment {
    uint64_t seq;
    uint64_t newest_ns; /* arrival time of its newest record; 0 = none */
    uint64_t bytes;
} wal_segment;

struct fw_wal {
    fw_wal_config cfg;
    char dir[WAL_PATH_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cond;    /* wakes the flusher */
    pthread_cond_t sync_cv; /* a group commit finished ("always") */
    /* All below under mu. */
    int fd; /* current segment, -1 before replay */
    uint64_t seq, size, newest_ns;
    bool dirty, failing, stop, replayed, flusher_started;
    /* Group commit: records get lsn 1, 2, ... in file order; the bytes of
     * the current segment below synced_size are durable; while syncing
     * the leader is in fdatasync on fd and fd must not change. */
    bool syncing;
    uint64_t written_lsn, synced_size;
    wal_waiter *wait_head, *wait_tail;
    size_t n_waiting;
    fw__wal_sync_fn sync_hook; /* test hook replacing fdatasync; NULL in production */
    void *sync_hook_ctx;
    wal_segment *closed; /* oldest first */
    size_t n_closed, cap_closed;
    uint64_t closed_bytes;
    uint64_t records, replayed_records, corrupt, write_errors, syncs;
    uint64_t last_expire_ns;
    pthread_t flusher;
};

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int seg_path(const fw_wal *w, uint64_t seq, const char *suffix, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/%016" PRIx64 "%s", w->dir, seq, suffix);
    return (n < 0 || (size_t)n >= outsz) ? FW_ERR_TOO_LARGE : 0;
}

/* fdatasync of a segment file, through the test hook when one is set.
 * Callers count it in w->syncs under mu. */
static int seg_sync(fw__wal_sync_fn hook, void *hook_ctx, int fd)
{
    return hook ? hook(hook_ctx, fd) : fdatasync(fd);
}

/* Makes directory entries (created, renamed, deleted files) durable. */
static void sync_dir(const fw_wal *w)
{
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    (void)fsync(dfd);
    close(dfd);
}

static int write_all(int fd, const struct iovec *iov_in, int iovcnt, uint64_t off)
{
    struct iovec iov[2];
    if (iovcnt > 2) return FW_ERR_INVALID;
    memcpy(iov, iov_in, sizeof iov[0] * (size_t)iovcnt);
    int i = 0;
    while (i < iovcnt) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t n = pwritev(fd, iov + i, iovcnt - i, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return FW_ERR_IO;
        }
        if (n == 0) {
            errno = ENOSPC;
            return FW_ERR_IO;
        }
        off += (uint64_t)n;
        size_t done = (size_t)n;
        while (i < iovcnt && done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            i++;
        }
        if (i < iovcnt) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + done;
            iov[i].iov_len -= done;
        }
    }
    return 0;
}

static int closed_push(fw_wal *w, uint64_t seq, uint64_t newest_ns, uint64_t bytes)
{
    if (w->n_closed == w->cap_closed) {
        size_t cap = w->cap_closed ? w->cap_closed * 2 : 16;
        wal_segment *n = realloc(w->closed, cap * sizeof *n);
        if (!n) return FW_ERR_NOMEM;
        w->closed = n;
        w->cap_closed = cap;
    }
    w->closed[w->n_closed++] = (wal_segment){seq, newest_ns, bytes};
    w->closed_bytes += bytes;
    return 0;
}

/* Creates segment |seq| with its magic; under mu (or before threads). */
static int segment_create(fw_wal *w, uint64_t seq)
{
    char path[WAL_PATH_MAX];
    int rv = seg_path(w, seq, WAL_SUFFIX, path, sizeof path);
    if (rv) return rv;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return FW_ERR_IO;
    struct iovec iov = {.iov_base = (void *)FW_WAL_MAGIC, .iov_len = FW_WAL_MAGIC_LEN};
    if (write_all(fd, &iov, 1, 0) != 0) {
        int e = errno;
        close(fd);
        (void)unlink(path);
        errno = e;
        return FW_ERR_IO;
    }
    if (w->cfg.fsync != FW_WAL_FSYNC_NEVER) {
        (void)seg_sync(w->sync_hook, w->sync_hook_ctx, fd);
        w->syncs++;
        sync_dir(w);
    }
    w->fd = fd;
    w->seq = seq;
    w->size = FW_WAL_MAGIC_LEN;
    w->synced_size = FW_WAL_MAGIC_LEN;
    w->newest_ns = 0;
    w->dirty = false;
    return 0;
}

static void waiters_log_failure(fw_wal *w, const char *what)
{
    if (!w->failing)
        fw_log(FW_LOG_ERROR, "wal",
               "%s segment %016" PRIx64 " failed: %s; refusing telemetry with "
               "503/UNAVAILABLE until writes succeed",
               what, w->seq, strerror(errno));
    w->failing = true;
}

/* Ends a group commit ("always") that covered lsn <= |upto| and the first
 * |durable_size| bytes of the current segment; |rv| is the fdatasync
 * result (errno set on failure). On success those waiters are released
 * with 0. On failure every queued waiter fails, not only the covered
 * ones: all their records lie after synced_size in this segment, which is
 * cut back there so no refused record (the client retries it) is replayed
 * later; the later ones are in a file whose writeback just failed anyway.
 * Each failed appender counts as a write error. Under mu. */
static void group_commit_done(fw_wal *w, uint64_t upto, uint64_t durable_size, int rv)
{
    if (rv == 0) {
        if (durable_size > w->synced_size) w->synced_size = durable_size;
        while (w->wait_head && w->wait_head->lsn <= upto) {
            wal_waiter *x = w->wait_head;
            w->wait_head = x->next;
            x->status = 0;
            w->n_waiting--;
        }
    } else {
        int e = errno;
        for (wal_waiter *x = w->wait_head; x; x = x->next) {
            x->status = FW_ERR_IO;
            w->write_errors++;
        }
        w->wait_head = NULL;
        w->n_waiting = 0;
        if (w->fd >= 0 && w->size > w->synced_size) {
            /* If the cut fails the refused records stay and may be
             * replayed besides their retries: at least once, never lost. */
            if (ftruncate(w->fd, (off_t)w->synced_size) == 0) w->size = w->synced_size;
        }
        errno = e;
        waiters_log_failure(w, "fsync of");
    }
    if (!w->wait_head) w->wait_tail = NULL;
    pthread_cond_broadcast(&w->sync_cv);
}

/* Waits ("always") until |me|'s record is durable, leading a group commit
 * when no sync is running. Returns 0 or FW_ERR_IO. Under mu (dropped while
 * waiting and during the leader's fdatasync). */
static int group_commit_wait(fw_wal *w, wal_waiter *me)
{
    while (me->status == WAL_PENDING) {
        if (w->syncing) {
            pthread_cond_wait(&w->sync_cv, &w->mu);
            continue;
        }
        /* Leader: one fsync for everything written so far. */
        w->syncing = true;
        uint64_t upto = w->written_lsn, durable_size = w->size;
        int fd = w->fd;
        fw__wal_sync_fn hook = w->sync_hook;
        void *hook_ctx = w->sync_hook_ctx;
        pthread_mutex_unlock(&w->mu);
        int rv = seg_sync(hook, hook_ctx, fd);
        int e = errno;
        pthread_mutex_lock(&w->mu);
        w->syncing = false;
        w->syncs++;
        errno = e;
        group_commit_done(w, upto, durable_size, rv);
    }
    return me->status;
}

/* Closes the current segment (fsynced unless "never") and starts the next.
 * Under "always" no sync may be running (the caller waited), and the
 * old segment's fsync is the group commit of every queued waiter. */
static int segment_rotate(fw_wal *w)
{
    if (w->cfg.fsync != FW_WAL_FSYNC_NEVER) {
        int rv = seg_sync(w->sync_hook, w->sync_hook_ctx, w->fd);
        w->syncs++;
        if (w->cfg.fsync == FW_WAL_FSYNC_ALWAYS) group_commit_done(w, w->written_lsn, w->size, rv);
        if (rv != 0) return FW_ERR_IO;
    }
    int rv = closed_push(w, w->seq, w->newest_ns, w->size);
    if (rv) return rv;
    close(w->fd);
    w->fd = -1;
    rv = segment_create(w, w->seq + 1);
    if (rv) {
        /* Reopen the old one for appending so a later attempt can retry. */
        char path[WAL_PATH_MAX];
        w->n_closed--;
        w->closed_bytes -= w->size;
        if (seg_path(w, w->seq, WAL_SUFFIX, path, sizeof path) == 0)
            w->fd = open(path, O_WRONLY | O_CLOEXEC);
        return rv;
    }
    return 0;
}

static void expire_locked(fw_wal *w, uint64_t now_ns)
{
    uint64_t cutoff = 0;
    if (w->cfg.retention_ns && now_ns > w->cfg.retention_ns) cutoff = now_ns - w->cfg.retention_ns;
    uint64_t total = w->closed_bytes + (w->fd >= 0 ? w->size : 0);
    size_t keep = 0;
    bool removed = false;
    for (size_t i = 0; i < w->n_closed; i++) {
        wal_segment *s = &w->closed[i];
        char path[WAL_PATH_MAX];
        /* Oldest first: over the size bound, what the memory store would
         * have evicted anyway goes first. */
        bool over = w->cfg.max_bytes && total > w->cfg.max_bytes;
        if ((s->newest_ns < cutoff || over) &&
            seg_path(w, s->seq, WAL_SUFFIX, path, sizeof path) == 0 &&
            (unlink(path) == 0 || errno == ENOENT)) {
            total -= s->bytes;
            w->closed_bytes -= s->bytes;
            removed = true;
            continue;
        }
        w->closed[keep++] = *s;
    }
    w->n_closed = keep;
    if (removed && w->cfg.fsync != FW_WAL_FSYNC_NEVER) sync_dir(w);
}

void fw_wal_expire(fw_wal *w, uint64_t now_ns)
{
    pthread_mutex_lock(&w->mu);
    expire_locked(w, now_ns);
    pthread_mutex_unlock(&w->mu);
}

static void *flusher_main(void *arg)
{
    fw_wal *w = arg;
    uint64_t period = w->cfg.fsync == FW_WAL_FSYNC_INTERVAL ? w->cfg.fsync_interval_ns
                                                             : WAL_EXPIRE_EVERY_NS;
    if (period == 0) period = WAL_EXPIRE_EVERY_NS;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t t = (uint64_t)until.tv_nsec + period % 1000000000ull;
        until.tv_sec += (time_t)(period / 1000000000ull + t / 1000000000ull);
        until.tv_nsec = (long)(t % 1000000000ull);
        (void)pthread_cond_timedwait(&w->cond, &w->mu, &until);
        if (w->stop) break;
        if (w->cfg.fsync == FW_WAL_FSYNC_INTERVAL && w->dirty && w->fd >= 0) {
            w->dirty = false;
            int rv = seg_sync(w->sync_hook, w->sync_hook_ctx, w->fd);
            w->syncs++;
            if (rv != 0) {
                w->dirty = true;
                w->write_errors++;
                if (!w->failing)
                    fw_log(FW_LOG_ERROR, "wal", "fsync of segment %016" PRIx64 " failed: %s",
                           w->seq, strerror(errno));
                w->failing = true;
            }
        }
        uint64_t now = realtime_ns();
        if (now - w->last_expire_ns >= WAL_EXPIRE_EVERY_NS) {
            w->last_expire_ns = now;
            expire_locked(w, now);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int fw_wal_open(const fw_wal_config *cfg, fw_wal **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->dir || !cfg->dir[0] || cfg->segment_bytes < FW_WAL_MAGIC_LEN) {
        snprintf(err, errlen, "bad write-ahead log configuration");
        return FW_ERR_CONFIG;
    }
    size_t dl = strlen(cfg->dir);
    if (dl + WAL_NAME_HEX + sizeof WAL_SUFFIX + 16 >= WAL_PATH_MAX) {
        snprintf(err, errlen, "%.64s...: path too long", cfg->dir);
        return FW_ERR_CONFIG;
    }
    if (mkdir(cfg->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", cfg->dir, strerror(errno));
        return FW_ERR_IO;
    }
    fw_wal *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return FW_ERR_NOMEM;
    }
    w->cfg = *cfg;
    memcpy(w->dir, cfg->dir, dl + 1);
    w->cfg.dir = w->dir;
    w->fd = -1;
    if (pthread_mutex_init(&w->mu, NULL) != 0) goto fail_free;
    if (pthread_cond_init(&w->cond, NULL) != 0) goto fail_mutex;
    if (pthread_cond_init(&w->sync_cv, NULL) != 0) goto fail_cond;
    *out = w;
    return 0;

fail_cond:
    pthread_cond_destroy(&w->cond);
fail_mutex:
    pthread_mutex_destroy(&w->mu);
fail_free:
    free(w);
    snprintf(err, errlen, "cannot initialise a lock");
    return FW_ERR_NOMEM;
}

/* "<16 hex>.wal" -> seq. */
static bool parse_seg_name(const char *name, uint64_t *seq)
{
    size_t n = strlen(name);
    if (n != WAL_NAME_HEX + strlen(WAL_SUFFIX) || strcmp(name + WAL_NAME_HEX, WAL_SUFFIX) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < WAL_NAME_HEX; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else return false;
        v = (v << 4) | d;
    }
    *seq = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct replay_ctx {
    fw_wal *w;
    fw_wal_record_fn fn;
    void *ctx;
    uint64_t cutoff_ns;
    uint64_t newest_ns;
} replay_ctx;

static void replay_record(void *arg, const fw_wal_record *r)
{
    replay_ctx *rc = arg;
    if (r->arrival_ns > rc->newest_ns) rc->newest_ns = r->arrival_ns;
    if (r->arrival_ns < rc->cutoff_ns) return;
    rc->w->replayed_records++;
    if (rc->fn) rc->fn(rc->ctx, r);
}

/* Replays one segment file, repairing a bad tail. Never fails the start:
 * problems are logged and counted. */
static void replay_segment(fw_wal *w, uint64_t seq, replay_ctx *rc)
{
    char path[WAL_PATH_MAX];
    struct stat st;
    if (seg_path(w, seq, WAL_SUFFIX, path, sizeof path) != 0) return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fw_log(FW_LOG_WARN, "wal", "segment %s unreadable: %s", path, strerror(errno));
        w->corrupt++;
        if (fd >= 0) close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *map = NULL;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            fw_log(FW_LOG_WARN, "wal", "segment %s: mmap: %s", path, strerror(errno));
            w->corrupt++;
            close(fd);
            return;
        }
        map = m;
    }
    size_t good = 0;
    const char *why = NULL;
    rc->newest_ns = 0;
    int rv = map ? fw_wal_scan(map, len, replay_record, rc, &good, &why) : FW_ERR_INVALID;
    if (map) munmap((void *)map, len);

    if (rv != 0 && good < FW_WAL_MAGIC_LEN) {
        /* No valid header. An empty or short file whose bytes match the
         * magic is a segment torn while being created: just remove it. */
        bool torn_create = len < FW_WAL_MAGIC_LEN;
        close(fd);
        if (torn_create) {
            if (len) {
                fw_log(FW_LOG_WARN, "wal", "segment %s: torn header (%zu bytes), removed", path,
                       len);
                w->corrupt++;
            }
            (void)unlink(path);
            return;
        }
        char aside[WAL_PATH_MAX];
        w->corrupt++;
        if (seg_path(w, seq, WAL_SUFFIX ".corrupt", aside, sizeof aside) == 0 &&
            rename(path, aside) == 0)
            fw_log(FW_LOG_WARN, "wal", "segment %s: not a flywheel WAL segment (%s), moved to %s",
                   path, why ? why : "empty", aside);
        else
            fw_log(FW_LOG_WARN, "wal", "segment %s: not a flywheel WAL segment (%s)", path,
                   why ? why : "empty");
        return;
    }
    if (rv != 0) {
        w->corrupt++;
        fw_log(FW_LOG_WARN, "wal",
               "segment %s: %s at offset %zu of %zu: truncated to the last good record", path,
               why, good, len);
        if (ftruncate(fd, (off_t)good) != 0)
            fw_log(FW_LOG_WARN, "wal", "segment %s: truncate: %s", path, strerror(errno));
        else
            (void)fdatasync(fd);
        len = good;
    }
    close(fd);
    (void)closed_push(w, seq, rc->newest_ns, len);
}

int fw_wal_replay(fw_wal *w, uint64_t now_ns, fw_wal_record_fn fn, void *ctx)
{
    int rv = 0;
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    if (w->replayed) return FW_ERR_INVALID;

    DIR *d = opendir(w->dir);
    if (!d) return FW_ERR_IO;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        if (!parse_seg_name(de->d_name, &seq)) continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            uint64_t *ns = realloc(seqs, ncap * sizeof *ns);
            if (!ns) {
                rv = FW_ERR_NOMEM;
                closedir(d);
                goto out;
            }
            seqs = ns;
            cap = ncap;
        }
        seqs[n++] = seq;
    }
    closedir(d);
    if (n) qsort(seqs, n, sizeof *seqs, cmp_u64);

    replay_ctx rc = {.w = w, .fn = fn, .ctx = ctx};
    rc.cutoff_ns =
        (w->cfg.retention_ns && now_ns > w->cfg.retention_ns) ? now_ns - w->cfg.retention_ns : 0;
    for (size_t i = 0; i < n; i++) replay_segment(w, seqs[i], &rc);

    pthread_mutex_lock(&w->mu);
    expire_locked(w, now_ns);
    rv = segment_create(w, n ? seqs[n - 1] + 1 : 1);
    pthread_mutex_unlock(&w->mu);
    if (rv) goto out;
    w->replayed = true;
    w->last_expire_ns = now_ns;
    if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
        rv = FW_ERR_NOMEM;
        goto out;
    }
    w->flusher_started = true;
    fw_log(FW_LOG_INFO, "wal", "replayed %" PRIu64 " records from %zu segments; corrupt=%" PRIu64,
           w->replayed_records, n, w->corrupt);
out:
    free(seqs);
    return rv;
}

int fw_wal_append(fw_wal *w, fw_wal_type type, uint8_t protocol, uint64_t arrival_ns,
                  const uint8_t *payload, size_t len)
{
    static const uint8_t empty[1] = {0};
    uint8_t hdr[FW_WAL_HDR_LEN];
    int rv;
    if (len > FW_WAL_RECORD_MAX || (type != FW_WAL_TRACES && type != FW_WAL_LOGS))
        return FW_ERR_TOO_LARGE;
    if (!payload) payload = empty;
    fw__wal_header_encode(hdr, type, protocol, arrival_ns, payload, len);
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof hdr},
                           {.iov_base = (void *)payload, .iov_len = len}};

    pthread_mutex_lock(&w->mu);
    if (!w->replayed) {
        rv = FW_ERR_INVALID;
        goto out;
    }
    /* The segment fd changes only while no group commit runs on it. */
    while (w->fd < 0 || (w->size >= w->cfg.segment_bytes && w->size > FW_WAL_MAGIC_LEN)) {
        if (w->syncing) {
            pthread_cond_wait(&w->sync_cv, &w->mu);
            continue;
        }
        if (w->fd < 0) {
            /* A failed rotation left no segment: try again. */
            rv = segment_create(w, w->seq + 1);
        } else {
            rv = segment_rotate(w);
        }
        if (rv) goto fail_io;
    }
    rv = write_all(w->fd, iov, 2, w->size);
    if (rv) {
        int e = errno;
        /* Never leave a partial record before later good ones. */
        (void)!ftruncate(w->fd, (off_t)w->size);
        errno = e;
        goto fail_io;
    }
    w->size += FW_WAL_HDR_LEN + len;
    if (arrival_ns > w->newest_ns) w->newest_ns = arrival_ns;
    w->dirty = true;
    w->written_lsn++;
    if (w->cfg.fsync == FW_WAL_FSYNC_ALWAYS) {
        /* Acknowledged only once durable: join the next group commit. */
        wal_waiter me = {.next = NULL, .lsn = w->written_lsn, .status = WAL_PENDING};
        if (w->wait_tail)
            w->wait_tail->next = &me;
        else
            w->wait_head = &me;
        w->wait_tail = &me;
        w->n_waiting++;
        rv = group_commit_wait(w, &me);
        if (rv) goto out; /* counted and logged by group_commit_done */
    }
    w->records++;
    if (w->failing) {
        w->failing = false;
        fw_log(FW_LOG_INFO, "wal", "writes succeed again; accepting telemetry");
    }
    rv = 0;
    goto out;

fail_io:
    w->write_errors++;
    if (!w->failing)
        fw_log(FW_LOG_ERROR, "wal",
               "cannot write segment %016" PRIx64 ": %s; refusing telemetry with 503/UNAVAILABLE "
               "until writes succeed",
               w->seq, strerror(errno));
    w->failing = true;
    rv = FW_ERR_IO;
out:
    pthread_mutex_unlock(&w->mu);
    return rv;
}

void fw_wal_stats_get(fw_wal *w, fw_wal_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    out->bytes = w->closed_bytes + (w->fd >= 0 ? w->size : 0);
    out->segments = w->n_closed + (w->fd >= 0 ? 1u : 0u);
    out->records = w->records;
    out->replayed_records = w->replayed_records;
    out->corrupt = w->corrupt;
    out->write_errors = w->write_errors;
    out->syncs = w->syncs;
    pthread_mutex_unlock(&w->mu);
}

void fw__wal_test_set_sync(fw_wal *w, fw__wal_sync_fn fn, void *ctx)
{
    pthread_mutex_lock(&w->mu);
    w->sync_hook = fn;
    w->sync_hook_ctx = ctx;
    pthread_mutex_unlock(&w->mu);
}

size_t fw__wal_test_waiting(fw_wal *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_waiting;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void fw_wal_close(fw_wal *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (w->flusher_started) pthread_join(w->flusher, NULL);
    if (w->fd >= 0) {
        if (w->cfg.fsync != FW_WAL_FSYNC_NEVER) {
            (void)seg_sync(w->sync_hook, w->sync_hook_ctx, w->fd);
            w->syncs++;
        }
        close(w->fd);
        w->fd = -1;
    }
    free(w->closed);
    pthread_cond_destroy(&w->sync_cv);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
