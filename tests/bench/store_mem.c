/* store_mem.c - memory per stored span and add throughput of the span store
 * on realistic spans. Generates N spans (default 1,000,000) in export-sized
 * batches: traces of an HTTP frontend server span, client calls to backend
 * services, their server spans and database client spans, with the
 * attributes HTTP/DB instrumentations emit (method, route, status code,
 * url with ids, db.statement, peer address/port, user agent, client
 * address...) and an exception event on ~3% of spans; 20 services x 3
 * instances, each with its own resource. Prints the store's memory_used per
 * span, the same with the dictionary counted, the process RSS growth, and
 * the add rate (time spent in fw_store_add_classified only; the spans are
 * classified beforehand, as the pipeline does).
 * Usage: store_mem [spans] [threads]   (never asserts; prints figures) */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flywheel/intern.h"
#include "flywheel/semconv.h"
#include "flywheel/store.h"

#define BATCH 512
#define SERVICES 20
#define INSTANCES 3
#define MAX_ATTRS 12

static const char *const service_names[SERVICES] = {
    "frontend", "checkout", "cart", "catalog", "payment", "shipping", "email", "currency",
    "recommendation", "ad", "auth", "users", "orders", "inventory", "search", "reviews",
    "pricing", "notifications", "gateway", "billing"};
static const char *const routes[] = {"/api/users/{id}", "/api/orders/{id}", "/api/cart",
                                     "/api/products/{id}", "/api/checkout", "/health",
                                     "/api/search", "/api/orders/{id}/items"};
static const char *const tables[] = {"users", "orders", "products", "cart_items", "payments",
                                     "inventory", "reviews", "sessions"};
static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "okhttp/4.12.0", "python-requests/2.31.0", "Go-http-client/1.1"};

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static unsigned pick(rng *r, unsigned n)
{
    return (unsigned)(next(r) % n);
}

/* Text of one batch lives here (reset per batch). */
typedef struct textbuf {
    char data[BATCH * 1024];
    size_t used;
} textbuf;

static fw_str text(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fw_str text(textbuf *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->used, sizeof(t->data) - t->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(t->data) - t->used)
        return FW_STR_LIT("overflow");
    fw_str s = {t->data + t->used, (size_t)n};
    t->used += (size_t)n + 1u;
    return s;
}

typedef struct gen {
    rng r;
    fw_resource res[SERVICES][INSTANCES];
    fw_attr res_attrs[SERVICES][INSTANCES][8];
    char res_text[SERVICES][INSTANCES][4][64];
    fw_scope scope_http, scope_db;
    fw_span spans[BATCH];
    fw_attr attrs[BATCH][MAX_ATTRS];
    fw_span_event events[BATCH];
    fw_attr ev_attrs[BATCH][2];
    textbuf text;
    uint64_t now;
    /* trace under construction */
    uint8_t trace[FW_TRACE_ID_LEN];
    unsigned left_in_trace;
    uint8_t parent[FW_SPAN_ID_LEN];
    unsigned cur_service;
} gen;

static fw_value vstr(fw_str s)
{
    return (fw_value){.type = FW_VALUE_STRING, .u.str = s};
}

static fw_value vint(int64_t i)
{
    return (fw_value){.type = FW_VALUE_INT, .u.i64 = i};
}

static void gen_init(gen *g, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    g->r.s = seed | 1u;
    g->now = 1700000000ull * 1000000000ull;
    for (unsigned s = 0; s < SERVICES; s++) {
        for (unsigned i = 0; i < INSTANCES; i++) {
            fw_attr *a = g->res_attrs[s][i];
            char (*t)[64] = g->res_text[s][i];
            snprintf(t[0], 64, "%s-7d9f8b6c5-%05u", service_names[s], s * 10 + i);
            snprintf(t[1], 64, "ip-10-0-%u-%u.ec2.internal", s, i);
            snprintf(t[2], 64, "1.%u.%u", s % 4, i);
            a[0] = (fw_attr){FW_STR_LIT("service.name"), vstr(fw_str_from(service_names[s]))};
            a[1] = (fw_attr){FW_STR_LIT("service.version"), vstr(fw_str_from(t[2]))};
            a[2] = (fw_attr){FW_STR_LIT("k8s.pod.name"), vstr(fw_str_from(t[0]))};
            a[3] = (fw_attr){FW_STR_LIT("host.name"), vstr(fw_str_from(t[1]))};
            a[4] = (fw_attr){FW_STR_LIT("telemetry.sdk.name"), vstr(FW_STR_LIT("opentelemetry"))};
            a[5] = (fw_attr){FW_STR_LIT("telemetry.sdk.language"), vstr(FW_STR_LIT("java"))};
            a[6] = (fw_attr){FW_STR_LIT("telemetry.sdk.version"), vstr(FW_STR_LIT("1.32.0"))};
            a[7] = (fw_attr){FW_STR_LIT("deployment.environment"), vstr(FW_STR_LIT("production"))};
            fw_resource *r = &g->res[s][i];
            r->attrs = (fw_attrs){a, 8};
            r->service_name = fw_str_from(service_names[s]);
            r->service_version = fw_str_from(t[2]);
            r->environment = FW_STR_LIT("production");
            r->schema_url = FW_STR_LIT("https://opentelemetry.io/schemas/1.21.0");
        }
    }
    g->scope_http = (fw_scope){.name = FW_STR_LIT("io.opentelemetry.tomcat-10.0"),
                               .version = FW_STR_LIT("1.32.0-alpha")};
    g->scope_db = (fw_scope){.name = FW_STR_LIT("io.opentelemetry.jdbc"),
                             .version = FW_STR_LIT("1.32.0-alpha")};
}

static void random_id(rng *r, uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = next(r);
        memcpy(id + i, &v, n - i < 8 ? n - i : 8);
    }
}

/* One span of a trace: server spans of services, their client and db calls. */
static void gen_span(gen *g, size_t k)
{
    rng *r = &g->r;
    fw_span *sp = &g->spans[k];
    fw_attr *a = g->attrs[k];
    memset(sp, 0, sizeof(*sp));
    if (g->left_in_trace == 0) {
        random_id(r, g->trace, FW_TRACE_ID_LEN);
        g->left_in_trace = 4 + pick(r, 12);
        g->cur_service = 0;
    }
    memcpy(sp->trace_id, g->trace, FW_TRACE_ID_LEN);
    random_id(r, sp->span_id, FW_SPAN_ID_LEN);
    bool root = g->left_in_trace >= 4 && g->cur_service == 0 &&
                !memcmp(g->parent, "\0\0\0\0\0\0\0\0", 8);
    if (!root) {
        sp->has_parent = true;
        memcpy(sp->parent_span_id, g->parent, FW_SPAN_ID_LEN);
    }
    unsigned svc = g->cur_service;
    sp->resource = &g->res[svc][pick(r, INSTANCES)];
    g->now += 50000 + pick(r, 100000);
    sp->start_ns = g->now;
    sp->end_ns = g->now + 200000 + pick(r, 80000000);
    unsigned user = pick(r, 1000000), order = pick(r, 10000000);
    unsigned status = pick(r, 100) < 3 ? 500 : pick(r, 100) < 5 ? 404 : 200;
    size_t n = 0;
    unsigned shape = pick(r, 10);
    const char *route = routes[pick(r, 8)];
    if (shape < 4) { /* HTTP server */
        sp->kind = FW_SPAN_KIND_SERVER;
        sp->scope = &g->scope_http;
        const char *method = pick(r, 4) ? "GET" : "POST";
        sp->name = text(&g->text, "%s %s", method, route);
        a[n++] = (fw_attr){FW_STR_LIT("http.request.method"), vstr(fw_str_from(method))};
        a[n++] = (fw_attr){FW_STR_LIT("http.route"), vstr(fw_str_from(route))};
        a[n++] = (fw_attr){FW_STR_LIT("url.path"), vstr(text(&g->text, "/api/users/%u/orders/%u", user, order))};
        a[n++] = (fw_attr){FW_STR_LIT("url.scheme"), vstr(FW_STR_LIT("http"))};
        a[n++] = (fw_attr){FW_STR_LIT("http.response.status_code"), vint(status)};
        a[n++] = (fw_attr){FW_STR_LIT("server.address"), vstr(fw_str_from(service_names[svc]))};
        a[n++] = (fw_attr){FW_STR_LIT("server.port"), vint(8080)};
        a[n++] = (fw_attr){FW_STR_LIT("user_agent.original"), vstr(fw_str_from(agents[pick(r, 5)]))};
        a[n++] = (fw_attr){FW_STR_LIT("client.address"), vstr(text(&g->text, "10.%u.%u.%u", pick(r, 4), pick(r, 256), pick(r, 256)))};
        a[n++] = (fw_attr){FW_STR_LIT("network.protocol.version"), vstr(FW_STR_LIT("1.1"))};
        if (status >= 500)
            sp->status_code = FW_STATUS_ERROR;
    } else if (shape < 7) { /* HTTP client to another service */
        unsigned callee = 1 + pick(r, SERVICES - 1);
        sp->kind = FW_SPAN_KIND_CLIENT;
        sp->scope = &g->scope_http;
        sp->name = FW_STR_LIT("GET");
        a[n++] = (fw_attr){FW_STR_LIT("http.request.method"), vstr(FW_STR_LIT("GET"))};
        a[n++] = (fw_attr){FW_STR_LIT("url.full"), vstr(text(&g->text, "http://%s:8080/api/orders/%u?user=%u", service_names[callee], order, user))};
        a[n++] = (fw_attr){FW_STR_LIT("server.address"), vstr(fw_str_from(service_names[callee]))};
        a[n++] = (fw_attr){FW_STR_LIT("server.port"), vint(8080)};
        a[n++] = (fw_attr){FW_STR_LIT("http.response.status_code"), vint(status)};
        a[n++] = (fw_attr){FW_STR_LIT("network.peer.address"), vstr(text(&g->text, "10.1.%u.%u", callee, pick(r, INSTANCES)))};
        a[n++] = (fw_attr){FW_STR_LIT("network.peer.port"), vint(8080)};
        a[n++] = (fw_attr){FW_STR_LIT("peer.service"), vstr(fw_str_from(service_names[callee]))};
        g->cur_service = callee;
    } else { /* database client */
        const char *table = tables[pick(r, 8)];
        unsigned op = pick(r, 3);
        const char *ops[] = {"SELECT", "INSERT", "UPDATE"};
        sp->kind = FW_SPAN_KIND_CLIENT;
        sp->scope = &g->scope_db;
        sp->name = text(&g->text, "%s shop.%s", ops[op], table);
        a[n++] = (fw_attr){FW_STR_LIT("db.system"), vstr(FW_STR_LIT("postgresql"))};
        a[n++] = (fw_attr){FW_STR_LIT("db.name"), vstr(FW_STR_LIT("shop"))};
        a[n++] = (fw_attr){FW_STR_LIT("db.user"), vstr(FW_STR_LIT("app"))};
        a[n++] = (fw_attr){FW_STR_LIT("db.statement"),
                           vstr(op == 0 ? text(&g->text, "SELECT id, name, created_at, status FROM %s WHERE id = ? AND tenant_id = ?", table)
                                : op == 1 ? text(&g->text, "INSERT INTO %s (id, name, created_at, status) VALUES (?, ?, ?, ?)", table)
                                          : text(&g->text, "UPDATE %s SET status = ?, updated_at = ? WHERE id = ?", table))};
        a[n++] = (fw_attr){FW_STR_LIT("db.operation"), vstr(fw_str_from(ops[op]))};
        a[n++] = (fw_attr){FW_STR_LIT("db.sql.table"), vstr(fw_str_from(table))};
        a[n++] = (fw_attr){FW_STR_LIT("server.address"), vstr(FW_STR_LIT("orders-db.internal"))};
        a[n++] = (fw_attr){FW_STR_LIT("server.port"), vint(5432)};
        a[n++] = (fw_attr){FW_STR_LIT("network.peer.address"), vstr(FW_STR_LIT("10.2.0.15"))};
        a[n++] = (fw_attr){FW_STR_LIT("thread.name"), vstr(text(&g->text, "http-nio-8080-exec-%u", pick(r, 200)))};
    }
    sp->attrs = (fw_attrs){a, n};
    if (pick(r, 100) < 3) {
        fw_attr *ea = g->ev_attrs[k];
        ea[0] = (fw_attr){FW_STR_LIT("exception.type"), vstr(FW_STR_LIT("java.net.SocketTimeoutException"))};
        ea[1] = (fw_attr){FW_STR_LIT("exception.message"), vstr(text(&g->text, "Read timed out after 3000 ms (request %u)", order))};
        g->events[k] = (fw_span_event){.time_ns = sp->end_ns - 1000, .name = FW_STR_LIT("exception"), .attrs = {ea, 2}};
        sp->events = &g->events[k];
        sp->n_events = 1;
        sp->status_code = FW_STATUS_ERROR;
    }
    memcpy(g->parent, sp->span_id, FW_SPAN_ID_LEN);
    g->left_in_trace--;
    if (g->left_in_trace == 0)
        memset(g->parent, 0, sizeof(g->parent));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * 4;
}

typedef struct worker {
    fw_store *store;
    fw_throttle_rules *rules;
    size_t spans;
    uint64_t seed;
    double add_seconds;
    int failed;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    gen *g = malloc(sizeof(*g));
    fw_span_class *cls = malloc(BATCH * sizeof(*cls));
    if (!g || !cls) {
        w->failed = 1;
        free(g);
        free(cls);
        return NULL;
    }
    gen_init(g, w->seed);
    for (size_t done = 0; done < w->spans; done += BATCH) {
        size_t n = w->spans - done < BATCH ? w->spans - done : BATCH;
        g->text.used = 0;
        for (size_t k = 0; k < n; k++) {
            gen_span(g, k);
            fw_semconv_span_classify(&g->spans[k], w->rules, &cls[k]);
        }
        double t0 = now_s();
        if (fw_store_add_classified(w->store, g->spans, cls, n) != 0)
            w->failed = 1;
        w->add_seconds += now_s() - t0;
    }
    free(g);
    free(cls);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t total = 1000000u;
    unsigned threads = 1u;
    char *end = NULL;
    bool bad = false;
    if (argc > 1) {
        total = (size_t)strtoull(argv[1], &end, 10);
        bad |= *end != '\0';
    }
    if (argc > 2) {
        threads = (unsigned)strtoul(argv[2], &end, 10);
        bad |= *end != '\0';
    }
    if (bad || total == 0 || threads == 0 || threads > 64) {
        fprintf(stderr, "usage: store_mem [spans] [threads]\n");
        return 2;
    }
    long rss0 = rss_kib();
    fw_intern *intern = NULL;
    fw_store *store = NULL;
    fw_throttle_rules *rules = NULL;
    if (fw_intern_new(64u << 20, &intern) != 0 || fw_throttle_rules_new_default(&rules) != 0)
        return 1;
    fw_store_config cfg = {.intern = intern, .memory_limit = 1024u << 20, .partitions = 8};
    if (fw_store_new(&cfg, &store) != 0)
        return 1;

    worker w[64];
    pthread_t tid[64];
    double t0 = now_s();
    for (unsigned i = 0; i < threads; i++) {
        w[i] = (worker){store, rules, total / threads, 0x9e3779b97f4a7c15ull * (i + 1u), 0, 0};
        pthread_create(&tid[i], NULL, run, &w[i]);
    }
    double add_seconds = 0;
    int failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        add_seconds += w[i].add_seconds;
        failed |= w[i].failed;
    }
    double wall = now_s() - t0;
    fw_store_stats st;
    fw_store_get_stats(store, &st);
    fw_intern_stats is;
    fw_intern_get_stats(intern, &is);
    long rss1 = rss_kib();
    double held = (double)(st.spans_held ? st.spans_held : 1u);
    printf("spans held            %" PRIu64 " (stored %" PRIu64 ", evicted %" PRIu64 ")%s\n",
           st.spans_held, st.spans_stored, st.spans_evicted, failed ? "  [adds failed]" : "");
    printf("store memory_used     %" PRIu64 " bytes = %.1f bytes/span\n", st.memory_used,
           (double)st.memory_used / held);
    printf("dictionary            %" PRIu64 " strings, %" PRIu64 " bytes (%" PRIu64 " refused)\n",
           is.strings, is.bytes, is.refused);
    printf("store + dictionary    %.1f bytes/span\n",
           (double)(st.memory_used + is.bytes) / held);
    printf("process RSS growth    %.1f bytes/span (includes generator buffers)\n",
           (double)(rss1 - rss0) * 1024.0 / held);
    printf("add rate              %.0f spans/s per thread (%u thread(s), %.3f s in add)\n",
           (double)st.spans_stored / (add_seconds / threads) / threads, threads, add_seconds);
    printf("aggregate add rate    %.0f spans/s wall-clock incl. generation (%.3f s)\n",
           (double)st.spans_stored / wall, wall);
    fw_store_free(store);
    fw_intern_free(intern);
    fw_throttle_rules_free(rules);
    return 0;
}
