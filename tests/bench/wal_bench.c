/* wal_bench.c - append throughput of the write-ahead log under
 * storage.wal_fsync=always with concurrent appenders (one thread per
 * worker/stream), on the disk holding |parent_dir|. Prints appends/s, the
 * fdatasync count (fw_wal_stats.syncs) and appends per fsync. Creates and
 * removes its own directory under |parent_dir|; never asserts times.
 * Usage: wal_bench [threads=8] [appends_per_thread=500] [payload_bytes=2048]
 *                  [parent_dir=/tmp] [fsync=always|interval|never] */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flywheel/wal.h"

#define BENCH_MAX_THREADS 256u
#define BENCH_MAX_APPENDS 1000000u
#define BENCH_MAX_PAYLOAD (1u << 20)

typedef struct bench_worker {
    fw_wal *w;
    unsigned appends;
    const uint8_t *payload;
    size_t len;
    unsigned failed;
} bench_worker;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parses a decimal in [lo, hi] or keeps |def| when |s| is NULL. */
static int parse_u(const char *s, unsigned def, unsigned lo, unsigned hi, unsigned *out)
{
    if (!s) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = (unsigned)v;
    return 0;
}

static void *bench_worker_main(void *arg)
{
    bench_worker *b = arg;
    for (unsigned i = 0; i < b->appends; i++)
        if (fw_wal_append(b->w, FW_WAL_TRACES, 1, real_ns(), b->payload, b->len) != 0) b->failed++;
    return NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        int n = snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (n > 0 && (size_t)n < sizeof p) (void)unlink(p);
    }
    closedir(d);
    (void)rmdir(dir);
}

int main(int argc, char **argv)
{
    unsigned threads, appends, payload_len;
    const char *parent = argc > 4 ? argv[4] : "/tmp";
    const char *mode = argc > 5 ? argv[5] : "always";
    if (parse_u(argc > 1 ? argv[1] : NULL, 8, 1, BENCH_MAX_THREADS, &threads) ||
        parse_u(argc > 2 ? argv[2] : NULL, 500, 1, BENCH_MAX_APPENDS, &appends) ||
        parse_u(argc > 3 ? argv[3] : NULL, 2048, 0, BENCH_MAX_PAYLOAD, &payload_len)) {
        fprintf(stderr, "usage: wal_bench [threads] [appends_per_thread] [payload_bytes] "
                        "[parent_dir] [always|interval|never]\n");
        return 2;
    }
    fw_wal_fsync policy = FW_WAL_FSYNC_ALWAYS;
    if (strcmp(mode, "interval") == 0)
        policy = FW_WAL_FSYNC_INTERVAL;
    else if (strcmp(mode, "never") == 0)
        policy = FW_WAL_FSYNC_NEVER;
    else if (strcmp(mode, "always") != 0) {
        fprintf(stderr, "wal_bench: unknown fsync policy %s\n", mode);
        return 2;
    }

    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/fw_wal_bench_XXXXXX", parent);
    if (n < 0 || (size_t)n >= sizeof dir || !mkdtemp(dir)) {
        perror("wal_bench: mkdtemp");
        return 1;
    }
    int rc = 1;
    uint8_t *payload = calloc(1, payload_len ? payload_len : 1);
    bench_worker *workers = calloc(threads, sizeof *workers);
    pthread_t *tids = calloc(threads, sizeof *tids);
    fw_wal *w = NULL;
    char err[256];
    if (!payload || !workers || !tids) goto out;
    for (unsigned i = 0; i < payload_len; i++) payload[i] = (uint8_t)(i * 131u + 7u);

    fw_wal_config cfg = {.dir = dir,
                         .segment_bytes = 64ull << 20,
                         .fsync = policy,
                         .fsync_interval_ns = 100000000ull,
                         .retention_ns = 3600ull * 1000000000ull};
    if (fw_wal_open(&cfg, &w, err, sizeof err) != 0) {
        fprintf(stderr, "wal_bench: %s\n", err);
        goto out;
    }
    if (fw_wal_replay(w, real_ns(), NULL, NULL) != 0) goto out;

    uint64_t t0 = mono_ns();
    unsigned started = 0;
    for (; started < threads; started++) {
        workers[started] = (bench_worker){w, appends, payload, payload_len, 0};
        if (pthread_create(&tids[started], NULL, bench_worker_main, &workers[started]) != 0) break;
    }
    unsigned failed = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        failed += workers[i].failed;
    }
    uint64_t elapsed = mono_ns() - t0;
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    double secs = (double)elapsed / 1e9;
    uint64_t total = (uint64_t)started * appends;
    printf("wal_bench: fsync=%s threads=%u appends=%" PRIu64 " payload=%u B dir=%s\n", mode,
           started, total, payload_len, parent);
    printf("  elapsed %.3f s, %.0f appends/s, failed %u\n", secs,
           secs > 0 ? (double)total / secs : 0.0, failed);
    printf("  syncs %" PRIu64 " (%.2f appends per fsync), write_errors %" PRIu64 "\n", st.syncs,
           st.syncs ? (double)total / (double)st.syncs : 0.0, st.write_errors);
    rc = (started == threads && failed == 0) ? 0 : 1;
out:
    fw_wal_close(w);
    remove_dir(dir);
    free(tids);
    free(workers);
    free(payload);
    return rc;
}
