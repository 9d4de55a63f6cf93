/* test_wal.c - the write-ahead log: append/replay round trip, rotation,
 * torn tails at every byte offset, bad checksums, garbage files, retention
 * deletion, concurrent writers, a failing write that recovers, and the
 * group commit of "always" (shared fsyncs, rotation under load, a failed
 * fsync failing the appenders it covered). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flywheel/wal.h"
#include "../../collector/wal/wal_internal.h"

#define SEC 1000000000ull

typedef struct seen {
    size_t n;
    fw_wal_record rec[4096];
    uint8_t data[4096][64];
} seen;

static void collect(void *ctx, const fw_wal_record *r)
{
    seen *s = ctx;
    if (s->n >= 4096) return;
    size_t k = r->len < 64 ? r->len : 64;
    memcpy(s->data[s->n], r->payload, k);
    s->rec[s->n] = *r;
    s->rec[s->n].payload = s->data[s->n];
    s->n++;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/fw_test_wal_XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), s = strlen(suffix);
        if (l > s && strcmp(de->d_name + l - s, suffix) == 0) n++;
    }
    closedir(d);
    return n;
}

static fw_wal *open_wal(const char *dir, uint64_t seg, uint64_t retention_ns)
{
    fw_wal_config cfg = {.dir = dir,
                         .segment_bytes = seg,
                         .fsync = FW_WAL_FSYNC_INTERVAL,
                         .fsync_interval_ns = SEC / 10,
                         .retention_ns = retention_ns};
    fw_wal *w = NULL;
    char err[256];
    assert_int_equal(fw_wal_open(&cfg, &w, err, sizeof err), 0);
    return w;
}

static fw_wal *reopen(const char *dir, uint64_t seg, seen *s)
{
    fw_wal *w = open_wal(dir, seg, 3600 * SEC);
    memset(s, 0, sizeof *s);
    assert_int_equal(fw_wal_replay(w, now_ns(), collect, s), 0);
    return w;
}

static void append_str(fw_wal *w, fw_wal_type t, const char *p, uint64_t at)
{
    assert_int_equal(fw_wal_append(w, t, 2, at, (const uint8_t *)p, strlen(p)), 0);
}

static void test_empty_dir_and_round_trip(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    fw_wal_stats st;
    tmpdir(dir, sizeof dir);
    fw_wal *w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 0);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.corrupt, 0);
    uint64_t t = now_ns();
    append_str(w, FW_WAL_TRACES, "first", t);
    append_str(w, FW_WAL_LOGS, "second", t + 1);
    assert_int_equal(fw_wal_append(w, FW_WAL_TRACES, 0, t + 2, NULL, 0), 0);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.bytes, FW_WAL_MAGIC_LEN + 3 * FW_WAL_HDR_LEN + 11);
    fw_wal_close(w);

    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 3);
    assert_int_equal(s->rec[0].type, FW_WAL_TRACES);
    assert_int_equal(s->rec[0].protocol, 2);
    assert_int_equal(s->rec[0].arrival_ns, t);
    assert_int_equal(s->rec[0].len, 5);
    assert_memory_equal(s->rec[0].payload, "first", 5);
    assert_int_equal(s->rec[1].type, FW_WAL_LOGS);
    assert_memory_equal(s->rec[1].payload, "second", 6);
    assert_int_equal(s->rec[2].len, 0);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.replayed_records, 3);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.segments, 2); /* the old one and a fresh one */
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

static void test_rotation(void **state)
{
    (void)state;
    char dir[64], buf[32];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal *w = reopen(dir, 100, s);
    uint64_t t = now_ns();
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "record-%02d-xxxxxxxxxxxxxxxxxxxx", i);
        append_str(w, FW_WAL_TRACES, buf, t + (uint64_t)i);
    }
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_true(st.segments >= 5);
    assert_int_equal(count_files(dir, ".wal"), st.segments);
    fw_wal_close(w);
    w = reopen(dir, 100, s);
    assert_int_equal(s->n, 10);
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "record-%02d", i);
        assert_memory_equal(s->rec[i].payload, buf, strlen(buf));
    }
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* Reads the one segment in |dir| into |buf|; returns its path in |path|. */
static size_t read_segment(const char *dir, uint8_t *buf, size_t max, char *path, size_t pathsz)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    assert_non_null(d);
    path[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, ".wal")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if ((size_t)st.st_size <= FW_WAL_MAGIC_LEN) continue; /* the empty fresh segment */
        snprintf(path, pathsz, "%s", p);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        n = fread(buf, 1, max, f);
        fclose(f);
    }
    closedir(d);
    assert_true(path[0] != '\0');
    return n;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    char dir[64], path[512];
    uint8_t img[1024];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal *w = reopen(dir, 1 << 20, s);
    uint64_t t = now_ns();
    append_str(w, FW_WAL_TRACES, "alpha", t);
    append_str(w, FW_WAL_LOGS, "beta-beta", t);
    append_str(w, FW_WAL_TRACES, "gamma-the-last-one", t);
    fw_wal_close(w);
    size_t full = read_segment(dir, img, sizeof img, path, sizeof path);
    size_t last = FW_WAL_MAGIC_LEN + 2 * FW_WAL_HDR_LEN + 5 + 9;
    assert_int_equal(full, last + FW_WAL_HDR_LEN + 18);
    rm_rf(dir);

    for (size_t cut = last; cut < full; cut++) {
        /* The sans-I/O reader... */
        size_t good;
        const char *why;
        int rv = fw_wal_scan(img, cut, NULL, NULL, &good, &why);
        assert_int_equal(good, last);
        if (cut == last) {
            assert_int_equal(rv, 0);
        } else {
            assert_int_equal(rv, FW_ERR_INVALID);
            assert_non_null(why);
        }
        /* ...and the files: replay keeps the first two and repairs. */
        char d2[64], p2[600];
        tmpdir(d2, sizeof d2);
        snprintf(p2, sizeof p2, "%s/0000000000000001.wal", d2);
        write_file(p2, img, cut);
        w = reopen(d2, 1 << 20, s);
        assert_int_equal(s->n, 2);
        assert_memory_equal(s->rec[0].payload, "alpha", 5);
        assert_memory_equal(s->rec[1].payload, "beta-beta", 9);
        fw_wal_stats st;
        fw_wal_stats_get(w, &st);
        assert_int_equal(st.corrupt, cut == last ? 0 : 1);
        struct stat fst;
        assert_int_equal(stat(p2, &fst), 0);
        assert_int_equal((size_t)fst.st_size, last);
        /* Appends continue after the repair and survive the next start. */
        append_str(w, FW_WAL_LOGS, "after", t);
        fw_wal_close(w);
        w = reopen(d2, 1 << 20, s);
        assert_int_equal(s->n, 3);
        assert_memory_equal(s->rec[2].payload, "after", 5);
        fw_wal_stats_get(w, &st);
        assert_int_equal(st.corrupt, 0);
        fw_wal_close(w);
        rm_rf(d2);
    }
    free(s);
}

static void test_bad_crc(void **state)
{
    (void)state;
    char dir[64], path[512];
    uint8_t img[1024];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal *w = reopen(dir, 1 << 20, s);
    uint64_t t = now_ns();
    append_str(w, FW_WAL_TRACES, "one", t);
    append_str(w, FW_WAL_TRACES, "two", t);
    append_str(w, FW_WAL_TRACES, "three", t);
    fw_wal_close(w);
    size_t n = read_segment(dir, img, sizeof img, path, sizeof path);
    size_t second = FW_WAL_MAGIC_LEN + FW_WAL_HDR_LEN + 3;
    img[second + FW_WAL_HDR_LEN + 1] ^= 0x40; /* "two" -> "tgo" */
    write_file(path, img, n);
    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 1);
    assert_memory_equal(s->rec[0].payload, "one", 3);
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.corrupt, 1);
    fw_wal_close(w);
    struct stat fst;
    assert_int_equal(stat(path, &fst), 0);
    assert_int_equal((size_t)fst.st_size, second);

    /* A header field covered by the crc (the arrival time) also counts. */
    size_t good;
    const char *why;
    img[FW_WAL_MAGIC_LEN + 13] ^= 1;
    assert_int_equal(fw_wal_scan(img, n, NULL, NULL, &good, &why), FW_ERR_INVALID);
    assert_int_equal(good, FW_WAL_MAGIC_LEN);
    assert_string_equal(why, "bad_crc");
    rm_rf(dir);
    free(s);
}

static void test_garbage_file(void **state)
{
    (void)state;
    char dir[64], p[600];
    seen *s = calloc(1, sizeof *s);
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37u + 11u);
    tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/0000000000000005.wal", dir);
    write_file(p, junk, sizeof junk);
    snprintf(p, sizeof p, "%s/0000000000000006.wal", dir);
    write_file(p, (const uint8_t *)"FLYW", 4); /* torn while being created */
    snprintf(p, sizeof p, "%s/not-a-segment.txt", dir);
    write_file(p, junk, 10);
    fw_wal *w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 0);
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.corrupt, 2);
    assert_int_equal(count_files(dir, ".corrupt"), 1);
    append_str(w, FW_WAL_TRACES, "works", now_ns());
    fw_wal_close(w);
    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 1);
    /* The new segment is numbered after the garbage one. */
    snprintf(p, sizeof p, "%s/0000000000000007.wal", dir);
    struct stat fst;
    assert_int_equal(stat(p, &fst), 0);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

static void test_retention(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    uint64_t now = now_ns();
    fw_wal *w = open_wal(dir, 64, 60 * SEC);
    assert_int_equal(fw_wal_replay(w, now, collect, s), 0);
    /* Old records in segments of their own, then a fresh one. */
    for (int i = 0; i < 4; i++)
        append_str(w, FW_WAL_TRACES, "old-record-padding-padding-padding-padding", now - 120 * SEC);
    append_str(w, FW_WAL_TRACES, "fresh-record-padding-padding-padding-padding", now);
    append_str(w, FW_WAL_TRACES, "x", now);
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 6);
    fw_wal_expire(w, now);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 2); /* fresh closed one + current */
    assert_int_equal(count_files(dir, ".wal"), 2);
    fw_wal_close(w);

    /* Replay skips records older than the retention. */
    w = open_wal(dir, 64, 60 * SEC);
    memset(s, 0, sizeof *s);
    assert_int_equal(fw_wal_replay(w, now + 30 * SEC, collect, s), 0);
    assert_int_equal(s->n, 2);
    fw_wal_close(w);
    w = open_wal(dir, 64, 60 * SEC);
    memset(s, 0, sizeof *s);
    assert_int_equal(fw_wal_replay(w, now + 120 * SEC, collect, s), 0);
    assert_int_equal(s->n, 0);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 1); /* all expired at start */
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* Over max_bytes the oldest closed segments go first, however recent. */
static void test_max_bytes(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal_config cfg = {.dir = dir, .segment_bytes = 64, .fsync = FW_WAL_FSYNC_NEVER,
                         .retention_ns = 3600 * SEC, .max_bytes = 200};
    fw_wal *w = NULL;
    char err[128];
    assert_int_equal(fw_wal_open(&cfg, &w, err, sizeof err), 0);
    assert_int_equal(fw_wal_replay(w, now_ns(), collect, s), 0);
    char buf[64];
    for (int i = 0; i < 8; i++) {
        snprintf(buf, sizeof buf, "record-%d-padding-padding-padding-padding", i);
        append_str(w, FW_WAL_TRACES, buf, now_ns());
    }
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 8);
    fw_wal_expire(w, now_ns());
    fw_wal_stats_get(w, &st);
    assert_true(st.bytes <= 200);
    assert_int_equal(st.segments, 2); /* 68 bytes each: 1 closed + current fit */
    fw_wal_close(w);
    w = reopen(dir, 64, s);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->rec[0].payload, "record-6", 8);
    assert_memory_equal(s->rec[1].payload, "record-7", 8);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

typedef struct writer_arg {
    fw_wal *w;
    char tag;
} writer_arg;

#define PER_THREAD 1000

static void *writer(void *p)
{
    writer_arg *a = p;
    char buf[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(buf, sizeof buf, "%c%05d", a->tag, i);
        if (fw_wal_append(a->w, FW_WAL_LOGS, 1, now_ns(), (const uint8_t *)buf, strlen(buf)) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal *w = reopen(dir, 4096, s);
    pthread_t t[2];
    writer_arg a[2] = {{w, 'a'}, {w, 'b'}};
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    fw_wal_close(w);
    w = reopen(dir, 4096, s);
    assert_int_equal(s->n, 2 * PER_THREAD);
    int next[2] = {0, 0};
    for (size_t i = 0; i < s->n; i++) {
        char buf[32];
        int k = s->rec[i].payload[0] == 'a' ? 0 : 1;
        snprintf(buf, sizeof buf, "%c%05d", k ? 'b' : 'a', next[k]++);
        assert_int_equal(s->rec[i].len, 6);
        assert_memory_equal(s->rec[i].payload, buf, 6);
    }
    assert_int_equal(next[0], PER_THREAD);
    assert_int_equal(next[1], PER_THREAD);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* A write that fails (here: over RLIMIT_FSIZE, as a full disk would) is
 * refused, leaves no partial record, and appends recover afterwards; under
 * "always" (|always|) too, where only the failing appender is refused. */
static fw_wal *open_always(const char *dir, uint64_t seg, seen *s);

static void check_write_error_recovers(bool always)
{
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    static uint8_t big[8192];
    struct rlimit old, lim;
    tmpdir(dir, sizeof dir);
    fw_wal *w = always ? open_always(dir, 1 << 20, s) : reopen(dir, 1 << 20, s);
    append_str(w, FW_WAL_TRACES, "before", now_ns());
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rv = fw_wal_append(w, FW_WAL_TRACES, 1, now_ns(), big, sizeof big);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rv, FW_ERR_IO);
    fw_wal_stats st;
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.write_errors, 1);
    append_str(w, FW_WAL_TRACES, "after", now_ns());
    fw_wal_close(w);
    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->rec[1].payload, "after", 5);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.corrupt, 0);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

static void test_write_error_recovers(void **state)
{
    (void)state;
    check_write_error_recovers(false);
}

static fw_wal *open_always(const char *dir, uint64_t seg, seen *s)
{
    fw_wal_config cfg = {
        .dir = dir, .segment_bytes = seg, .fsync = FW_WAL_FSYNC_ALWAYS, .retention_ns = 3600 * SEC};
    fw_wal *w = NULL;
    char err[256];
    assert_int_equal(fw_wal_open(&cfg, &w, err, sizeof err), 0);
    memset(s, 0, sizeof *s);
    assert_int_equal(fw_wal_replay(w, now_ns(), collect, s), 0);
    return w;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A slow disk: each fsync takes 2 ms more, then really syncs. */
static int slow_sync(void *ctx, int fd)
{
    (void)ctx;
    sleep_ms(2);
    return fdatasync(fd);
}

#define GC_THREADS    8
#define GC_PER_THREAD 100

static void *gc_writer(void *p)
{
    writer_arg *a = p;
    char buf[32];
    for (int i = 0; i < GC_PER_THREAD; i++) {
        snprintf(buf, sizeof buf, "%c%05d", a->tag, i);
        if (fw_wal_append(a->w, FW_WAL_TRACES, 1, now_ns(), (const uint8_t *)buf, strlen(buf)) != 0)
            return (void *)1;
    }
    return NULL;
}

/* Under "always", concurrent appenders all succeed, share fsyncs (far
 * fewer than appends), survive rotations taken under load, and every
 * record reads back in each thread's order. */
static void test_always_group_commit(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    /* 26-byte records: a rotation every ~80 appends. */
    fw_wal *w = open_always(dir, 2048, s);
    fw__wal_test_set_sync(w, slow_sync, NULL);
    fw_wal_stats st0, st;
    fw_wal_stats_get(w, &st0);
    pthread_t t[GC_THREADS];
    writer_arg a[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        a[i] = (writer_arg){w, (char)('a' + i)};
        assert_int_equal(pthread_create(&t[i], NULL, gc_writer, &a[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    fw_wal_stats_get(w, &st);
    const uint64_t appends = GC_THREADS * GC_PER_THREAD;
    uint64_t syncs = st.syncs - st0.syncs;
    print_message("always: %" PRIu64 " appends, %" PRIu64 " fsyncs, %" PRIu64 " segments\n",
                  appends, syncs, st.segments);
    assert_int_equal(st.records, appends);
    assert_int_equal(st.write_errors, 0);
    assert_true(st.segments > 5);
    assert_true(syncs > 0);
    assert_true(syncs * 2 < appends);
    assert_int_equal(fw__wal_test_waiting(w), 0);
    fw_wal_close(w);

    w = reopen(dir, 2048, s);
    assert_int_equal(s->n, appends);
    int next[GC_THREADS] = {0};
    for (size_t i = 0; i < s->n; i++) {
        char buf[32];
        int k = s->rec[i].payload[0] - 'a';
        assert_true(k >= 0 && k < GC_THREADS);
        snprintf(buf, sizeof buf, "%c%05d", 'a' + k, next[k]++);
        assert_int_equal(s->rec[i].len, 6);
        assert_memory_equal(s->rec[i].payload, buf, 6);
    }
    for (int k = 0; k < GC_THREADS; k++) assert_int_equal(next[k], GC_PER_THREAD);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* A one-thread append under "always" still fsyncs before it returns. */
static void test_always_single_append_syncs(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    tmpdir(dir, sizeof dir);
    fw_wal *w = open_always(dir, 1 << 20, s);
    fw_wal_stats st0, st;
    fw_wal_stats_get(w, &st0);
    for (int i = 0; i < 3; i++) {
        append_str(w, FW_WAL_LOGS, "alone", now_ns());
        fw_wal_stats_get(w, &st);
        assert_int_equal(st.syncs - st0.syncs, (uint64_t)i + 1);
    }
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* A scripted disk: fsync number |gate_call| blocks until released; calls
 * listed in |fail_mask| (bit n = call n, from 1) fail with EIO. */
typedef struct gate_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned calls, gate_call, fail_mask;
    bool entered, released;
} gate_sync;

static int gated_sync(void *ctx, int fd)
{
    gate_sync *g = ctx;
    pthread_mutex_lock(&g->mu);
    unsigned call = ++g->calls;
    if (call == g->gate_call) {
        g->entered = true;
        pthread_cond_broadcast(&g->cv);
        while (!g->released) pthread_cond_wait(&g->cv, &g->mu);
    }
    bool fail = call < 32 && (g->fail_mask & (1u << call));
    pthread_mutex_unlock(&g->mu);
    if (fail) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

typedef struct one_append {
    fw_wal *w;
    const char *payload;
    int rv;
} one_append;

static void *one_append_main(void *p)
{
    one_append *o = p;
    o->rv = fw_wal_append(o->w, FW_WAL_TRACES, 1, now_ns(), (const uint8_t *)o->payload,
                          strlen(o->payload));
    return NULL;
}

static void wait_waiting(fw_wal *w, size_t n)
{
    for (int i = 0; i < 10000 && fw__wal_test_waiting(w) != n; i++) sleep_ms(1);
    assert_int_equal(fw__wal_test_waiting(w), n);
}

/* Appender A leads fsync 1, held on the gate; B, C and D write meanwhile
 * and queue. Fsync 1 ends with |first_fails|; fsync 2 (one for B, C and
 * D, led by one of them) fails. Returns the four results in |rv|. */
static void run_gated(fw_wal *w, bool first_fails, int rv[4])
{
    static const char *const names[4] = {"rec-A", "rec-B", "rec-C", "rec-D"};
    gate_sync g = {.gate_call = 1, .fail_mask = (first_fails ? 1u << 1 : 0u) | (1u << 2)};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    fw__wal_test_set_sync(w, gated_sync, &g);
    one_append o[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) o[i] = (one_append){w, names[i], 1};
    assert_int_equal(pthread_create(&t[0], NULL, one_append_main, &o[0]), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered) pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    for (int i = 1; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, one_append_main, &o[i]), 0);
    wait_waiting(w, 4); /* A in its fsync, B C D queued behind it */
    pthread_mutex_lock(&g.mu);
    g.released = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        rv[i] = o[i].rv;
    }
    assert_int_equal(fw__wal_test_waiting(w), 0);
    /* One fsync for A, one for B+C+D, unless the first failure took all. */
    assert_int_equal(g.calls, first_fails ? 1u : 2u);
    fw__wal_test_set_sync(w, NULL, NULL);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

/* A failed group fsync fails every appender it covered (and none it did
 * not), counts each as a write error, removes their records, and later
 * appends succeed again. */
static void test_always_fsync_failure_fails_group(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    int rv[4];
    fw_wal_stats st0, st;
    tmpdir(dir, sizeof dir);
    fw_wal *w = open_always(dir, 1 << 20, s);
    append_str(w, FW_WAL_TRACES, "before", now_ns());
    fw_wal_stats_get(w, &st0);

    run_gated(w, false, rv);
    assert_int_equal(rv[0], 0);         /* fsync 1 covered only A: durable */
    assert_int_equal(rv[1], FW_ERR_IO); /* fsync 2 covered B, C and D */
    assert_int_equal(rv[2], FW_ERR_IO);
    assert_int_equal(rv[3], FW_ERR_IO);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.write_errors, 3);
    assert_int_equal(st.syncs - st0.syncs, 2);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bytes, FW_WAL_MAGIC_LEN + 2 * FW_WAL_HDR_LEN + 6 + 5);

    append_str(w, FW_WAL_TRACES, "after", now_ns());
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.write_errors, 3);
    assert_int_equal(st.records, 3);
    fw_wal_close(w);

    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 3);
    assert_memory_equal(s->rec[0].payload, "before", 6);
    assert_int_equal(s->rec[1].len, 5);
    assert_memory_equal(s->rec[1].payload, "rec-A", 5);
    assert_memory_equal(s->rec[2].payload, "after", 5);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.corrupt, 0);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* Records written while a failing fsync runs are cut with the covered
 * one, so they fail too: no refused record is ever replayed. */
static void test_always_fsync_failure_fails_queued(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    int rv[4];
    fw_wal_stats st;
    tmpdir(dir, sizeof dir);
    fw_wal *w = open_always(dir, 1 << 20, s);
    append_str(w, FW_WAL_LOGS, "kept", now_ns());
    run_gated(w, true, rv);
    for (int i = 0; i < 4; i++) assert_int_equal(rv[i], FW_ERR_IO);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.write_errors, 4);
    assert_int_equal(st.bytes, FW_WAL_MAGIC_LEN + FW_WAL_HDR_LEN + 4);
    append_str(w, FW_WAL_LOGS, "again", now_ns());
    fw_wal_close(w);
    w = reopen(dir, 1 << 20, s);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->rec[0].payload, "kept", 4);
    assert_memory_equal(s->rec[1].payload, "again", 5);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

/* The old segment's fsync at a rotation can fail too: the rotating append
 * is refused, nothing acknowledged is lost, and the next append rotates
 * and succeeds. (Rotations with queued waiters run in
 * test_always_group_commit.) */
static void test_always_rotation_fsync_failure(void **state)
{
    (void)state;
    char dir[64];
    seen *s = calloc(1, sizeof *s);
    fw_wal_stats st;
    tmpdir(dir, sizeof dir);
    fw_wal *w = open_always(dir, 64, s);
    /* 8 + 2 x 29 = 66 >= 64 bytes: the next append rotates. */
    append_str(w, FW_WAL_TRACES, "seg1-rec1", now_ns());
    append_str(w, FW_WAL_TRACES, "seg1-rec2", now_ns());
    gate_sync g = {.gate_call = 0, .fail_mask = 1u << 1};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    fw__wal_test_set_sync(w, gated_sync, &g);
    assert_int_equal(fw_wal_append(w, FW_WAL_TRACES, 1, now_ns(), (const uint8_t *)"x", 1),
                     FW_ERR_IO);
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.write_errors, 1);
    assert_int_equal(st.segments, 1);
    append_str(w, FW_WAL_TRACES, "seg2-rec1", now_ns());
    fw_wal_stats_get(w, &st);
    assert_int_equal(st.segments, 2);
    assert_int_equal(st.records, 3);
    fw__wal_test_set_sync(w, NULL, NULL);
    fw_wal_close(w);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    w = reopen(dir, 64, s);
    assert_int_equal(s->n, 3);
    assert_memory_equal(s->rec[2].payload, "seg2-rec1", 9);
    fw_wal_close(w);
    rm_rf(dir);
    free(s);
}

static void test_always_write_error_recovers(void **state)
{
    (void)state;
    check_write_error_recovers(true);
}

static void test_scan_rejects(void **state)
{
    (void)state;
    size_t good;
    const char *why;
    uint8_t img[64];
    memcpy(img, FW_WAL_MAGIC, FW_WAL_MAGIC_LEN);
    assert_int_equal(fw_wal_scan(img, 3, NULL, NULL, &good, &why), FW_ERR_INVALID);
    assert_string_equal(why, "short_magic");
    assert_int_equal(fw_wal_scan(img, FW_WAL_MAGIC_LEN, NULL, NULL, &good, &why), 0);
    assert_int_equal(good, FW_WAL_MAGIC_LEN);
    /* A length beyond FW_WAL_RECORD_MAX is refused before anything else. */
    memset(img + FW_WAL_MAGIC_LEN, 0xff, FW_WAL_HDR_LEN);
    assert_int_equal(fw_wal_scan(img, FW_WAL_MAGIC_LEN + FW_WAL_HDR_LEN, NULL, NULL, &good, &why),
                     FW_ERR_INVALID);
    assert_string_equal(why, "oversized_record");
    img[0] = 'X';
    assert_int_equal(fw_wal_scan(img, 40, NULL, NULL, &good, &why), FW_ERR_INVALID);
    assert_string_equal(why, "bad_magic");
    assert_int_equal(good, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_dir_and_round_trip),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_garbage_file),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_write_error_recovers),
        cmocka_unit_test(test_scan_rejects),
        cmocka_unit_test(test_always_group_commit),
        cmocka_unit_test(test_always_single_append_syncs),
        cmocka_unit_test(test_always_fsync_failure_fails_group),
        cmocka_unit_test(test_always_fsync_failure_fails_queued),
        cmocka_unit_test(test_always_rotation_fsync_failure),
        cmocka_unit_test(test_always_write_error_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
