/* pipeline_push_bench.c - in-process ingest cost without the network: the
 * OTLP/protobuf decode of a realistic ExportTraceServiceRequest (the raw .pb
 * file that gen_otlp_payload writes) and fw_pipeline_push_spans into a full
 * pipeline laid out as `flywheel serve` lays it (string dictionary, default
 * throttle rules, store, RED and topology over 16 partitions). Each
 * iteration decodes the same body into a fresh arena, then gives every span
 * of it a trace id unique to the iteration (the low 8 bytes XORed with the
 * iteration number, so the spans of one trace stay together), and pushes
 * the batch at an arrival time just after the payload's newest span.
 * Prints spans/s on the calling thread (one core) for decode + push, and
 * for push alone. For instruction counts run it under
 *   valgrind --tool=callgrind --toggle-collect=bench_iteration ...
 * and divide the total Ir by the span count it prints.
 * Usage: pipeline_push_bench PAYLOAD.pb [iterations (default 2000)]
 * Prints figures only; never asserts. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flywheel/arena.h"
#include "flywheel/intern.h"
#include "flywheel/limits.h"
#include "flywheel/otlp.h"
#include "flywheel/pipeline.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"
#include "flywheel/stats.h"
#include "flywheel/store.h"
#include "flywheel/topo.h"

#define BENCH_PARTITIONS 16u
#define BENCH_MAX_PAYLOAD (64u * 1024u * 1024u)
#define BENCH_MEMORY (2048ull * 1024u * 1024u)
#define BENCH_RETENTION_NS (3600ull * 1000000000ull)

typedef struct bench {
    fw_intern *intern;
    fw_throttle_rules *rules;
    fw_red *red;
    fw_topo *topo;
    fw_store *store;
    fw_stats *stats;
    fw_pipeline *pipeline;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = malloc(BENCH_MAX_PAYLOAD);
    size_t n = buf ? fread(buf, 1, BENCH_MAX_PAYLOAD, f) : 0;
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (!buf || bad || n == 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int bench_open(bench *b)
{
    memset(b, 0, sizeof *b);
    b->stats = calloc(1, sizeof *b->stats);
    if (!b->stats)
        return -1;
    fw_stats_init(b->stats);
    if (fw_intern_new(64u * 1024u * 1024u, &b->intern) != 0 ||
        fw_throttle_rules_new_default(&b->rules) != 0)
        return -1;
    fw_red_config rc = {.retention_ns = BENCH_RETENTION_NS, .max_series = 20000u,
                        .memory_limit = 256u * 1024u * 1024u, .partitions = BENCH_PARTITIONS};
    if (fw_red_new(&rc, &b->red) != 0)
        return -1;
    fw_topo_config tc = {.join_wait_ns = 30ull * 1000000000ull, .max_pending = 200000u,
                         .max_nodes = 10000u, .max_edges = 50000u,
                         .partitions = BENCH_PARTITIONS};
    if (fw_topo_new(&tc, b->intern, b->red, &b->topo) != 0)
        return -1;
    fw_store_config sc = {.intern = b->intern, .memory_limit = (size_t)BENCH_MEMORY,
                          .retention_ns = BENCH_RETENTION_NS, .partitions = BENCH_PARTITIONS};
    if (fw_store_new(&sc, &b->store) != 0)
        return -1;
    fw_pipeline_config pc = {.retention_ns = BENCH_RETENTION_NS, .intern = b->intern,
                             .red = b->red, .topo = b->topo, .throttle_rules = b->rules,
                             .partitions = BENCH_PARTITIONS};
    return fw_pipeline_new(&pc, b->store, b->stats, &b->pipeline) != 0 ? -1 : 0;
}

static void bench_close(bench *b)
{
    fw_pipeline_free(b->pipeline);
    fw_store_free(b->store);
    fw_topo_free(b->topo);
    fw_red_free(b->red);
    fw_throttle_rules_free(b->rules);
    fw_intern_free(b->intern);
    free(b->stats);
}

/* One iteration: decode, unique trace ids, push. Not static and not
 * inlined so that callgrind can collect exactly this (--toggle-collect).
 * Adds the seconds spent in the push to |*push_s| when non-NULL. */
int bench_iteration(bench *b, const uint8_t *body, size_t len, uint64_t iter, uint64_t now_ns,
                    size_t *spans, double *push_s);
__attribute__((noinline)) int bench_iteration(bench *b, const uint8_t *body, size_t len,
                                              uint64_t iter, uint64_t now_ns, size_t *spans,
                                              double *push_s)
{
    fw_arena *arena = fw_arena_new(FW_LIMIT_ARENA_FACTOR * len + 65536u);
    if (!arena)
        return -1;
    fw_span_batch batch;
    fw_parse_error perr;
    memset(&batch, 0, sizeof batch);
    memset(&perr, 0, sizeof perr);
    int rv = fw_otlp_decode_traces(FW_OTLP_PROTOBUF, body, len, arena, &batch, &perr);
    if (rv == 0) {
        for (size_t i = 0; i < batch.n; i++) {
            uint64_t lo;
            memcpy(&lo, batch.spans[i].trace_id + 8, 8);
            lo ^= (iter + 1u) * 0x9e3779b97f4a7c15ull;
            memcpy(batch.spans[i].trace_id + 8, &lo, 8);
        }
        *spans = batch.n;
        double t0 = push_s ? now_s() : 0.0;
        rv = fw_pipeline_push_spans(b->pipeline, FW_PROTO_GRPC, &batch, now_ns);
        if (push_s)
            *push_s += now_s() - t0;
    }
    fw_arena_free(arena);
    return rv;
}

/* Arrival time: just after the newest span of the payload. */
static uint64_t payload_now(const uint8_t *body, size_t len)
{
    fw_arena *arena = fw_arena_new(FW_LIMIT_ARENA_FACTOR * len + 65536u);
    fw_span_batch batch;
    fw_parse_error perr;
    memset(&batch, 0, sizeof batch);
    memset(&perr, 0, sizeof perr);
    uint64_t t = 0;
    if (arena && fw_otlp_decode_traces(FW_OTLP_PROTOBUF, body, len, arena, &batch, &perr) == 0)
        for (size_t i = 0; i < batch.n; i++) {
            uint64_t e = batch.spans[i].end_ns > batch.spans[i].start_ns ? batch.spans[i].end_ns
                                                                         : batch.spans[i].start_ns;
            if (e > t)
                t = e;
        }
    fw_arena_free(arena);
    return t + 1000000000ull;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: pipeline_push_bench PAYLOAD.pb [iterations]\n");
        return 2;
    }
    unsigned long iters = 2000;
    if (argc == 3) {
        char *end = NULL;
        iters = strtoul(argv[2], &end, 10);
        if (!end || *end || iters == 0 || iters > 100000000ul) {
            fprintf(stderr, "pipeline_push_bench: bad iteration count\n");
            return 2;
        }
    }
    uint8_t *body = NULL;
    size_t len = 0;
    if (read_file(argv[1], &body, &len) != 0) {
        fprintf(stderr, "pipeline_push_bench: cannot read %s\n", argv[1]);
        return 1;
    }
    bench b;
    if (bench_open(&b) != 0) {
        fprintf(stderr, "pipeline_push_bench: setup failed\n");
        bench_close(&b);
        free(body);
        return 1;
    }
    uint64_t now_ns = payload_now(body, len);
    size_t per = 0, total = 0;
    double push_s = 0.0;
    int rv = 0;
    double t0 = now_s();
    for (unsigned long i = 0; i < iters && rv == 0; i++) {
        rv = bench_iteration(&b, body, len, i, now_ns, &per, &push_s);
        total += per;
    }
    double el = now_s() - t0;
    if (rv != 0)
        fprintf(stderr, "pipeline_push_bench: iteration failed: %d\n", rv);
    fw_store_stats ss;
    fw_store_get_stats(b.store, &ss);
    printf("payload %zu bytes, %zu spans/request, %lu iterations, %zu spans\n", len, per, iters,
           total);
    printf("decode+push: %.3f s, %.0f spans/s on one core\n", el, el > 0 ? (double)total / el : 0.0);
    printf("push only:   %.3f s, %.0f spans/s\n", push_s,
           push_s > 0 ? (double)total / push_s : 0.0);
    printf("store: %" PRIu64 " spans held, %.1f B/span (memory_used)\n", ss.spans_held,
           ss.spans_held ? (double)ss.memory_used / (double)ss.spans_held : 0.0);
    bench_close(&b);
    free(body);
    return rv == 0 ? 0 : 1;
}
