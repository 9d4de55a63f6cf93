/* test_patterns.c - log pattern mining: the masking rules line by line; a
 * generated corpus of 8 known templates with variable fields (user ids,
 * IPs, durations, UUIDs, quoted names, hex, emails, timestamps, URLs) is
 * grouped back into exactly those templates with exact counts; counts per
 * window and baseline, "new" and ordering; caps (overflow pattern, memory,
 * services, long lines, many tokens); expiry; body text of structured
 * bodies; severities; a thread smoke test; hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flywheel/patterns.h"

#define SEC 1000000000ull
#define MIN (60ull * SEC)
#define T0  (1700000040ull * SEC) /* minute-aligned: 2023-11-14T22:14:00Z */

/* ---- helpers ---- */

static fw_patterns *make(const fw_patterns_config *cfg)
{
    fw_patterns *p = NULL;
    assert_int_equal(fw_patterns_new(cfg, &p), 0);
    assert_non_null(p);
    return p;
}

static void observe(fw_patterns *p, const char *svc, const char *line, int32_t sev, uint64_t t)
{
    fw_patterns_observe(p, fw_str_from(svc), fw_str_from(line), sev, t, NULL);
}

static void assert_mask(fw_patterns *p, const char *line, const char *want)
{
    fw_buf b;
    fw_buf_init(&b, 1u << 16);
    assert_int_equal(fw_patterns_mask(p, fw_str_from(line), &b), 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("mask of '%s':\n got '%.*s'\nwant '%s'", line, (int)b.len, (const char *)b.data,
                 want);
    fw_buf_free(&b);
}

#define MAXP 64

typedef struct got_pattern {
    char service[64];
    char tmpl[1024];
    char example[600];
    uint64_t id, count, baseline, total, first, last;
    int32_t sev;
    bool is_new, overflow;
    size_t ntrace;
    uint8_t trace[FW_PATTERNS_TRACE_IDS][FW_TRACE_ID_LEN];
} got_pattern;

typedef struct got {
    got_pattern p[MAXP];
    size_t n;
    size_t stop_after; /* 0 = never */
} got;

static int collect(void *ctx, const fw_pattern_info *pi)
{
    got *g = ctx;
    assert_true(g->n < MAXP);
    got_pattern *o = &g->p[g->n++];
    memset(o, 0, sizeof(*o));
    assert_true(pi->service.len < sizeof(o->service));
    memcpy(o->service, pi->service.ptr, pi->service.len);
    assert_true(pi->template_text.len < sizeof(o->tmpl));
    memcpy(o->tmpl, pi->template_text.ptr, pi->template_text.len);
    assert_true(pi->example.len < sizeof(o->example));
    memcpy(o->example, pi->example.ptr, pi->example.len);
    o->id = pi->id;
    o->count = pi->count;
    o->baseline = pi->baseline_count;
    o->total = pi->total;
    o->first = pi->first_seen_ns;
    o->last = pi->last_seen_ns;
    o->sev = pi->max_severity;
    o->is_new = pi->is_new;
    o->overflow = pi->overflow;
    o->ntrace = pi->n_trace_ids;
    memcpy(o->trace, pi->trace_ids, sizeof(o->trace));
    return g->stop_after && g->n >= g->stop_after;
}

static void query(fw_patterns *p, const char *svc, uint64_t from, uint64_t to, uint64_t bfrom,
                  uint64_t bto, got *g)
{
    memset(g, 0, sizeof(*g));
    fw_patterns_query q = {.service = svc,
                           .from_ns = from,
                           .to_ns = to,
                           .baseline_from_ns = bfrom,
                           .baseline_to_ns = bto};
    size_t visited = 0;
    assert_int_equal(fw_patterns_query_run(p, &q, collect, g, &visited), 0);
    assert_int_equal(visited, g->n);
}

static const got_pattern *find_tmpl(const got *g, const char *svc, const char *tmpl)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->p[i].tmpl, tmpl) == 0 && (!svc || strcmp(g->p[i].service, svc) == 0))
            return &g->p[i];
    return NULL;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ---- the corpus: 8 templates with variable fields ---- */

#define NTEMPLATES 8
static const char *const expected[NTEMPLATES] = {
    "User <NUM> logged in from <IP>",
    "Request GET /api/users/<NUM> completed in <NUM>ms status=<NUM>",
    "Payment <UUID> failed: card declined for '<*>'",
    "Cache miss for key <HEX> in region <*>",
    "Connection to db-primary:5432 timed out after <NUM> retries",
    "Sent email to <EMAIL> with subject \"<*>\"",
    "<TS> worker <NUM> processed batch of <NUM> items in <NUM>s",
    "Exported trace <HEX> to http://<IP>/v1/traces?tenant=<*>",
};

static const char *const names[] = {"Alice Smith", "Bob", "Carol de Vries", "Dan O'Neil", "Eve"};
static const char *const regions[] = {"us-east-1", "eu-west-1", "ap-south-2"};
static const char *const tenants[] = {"acme", "globex", "initech"};

static void gen_line(int t, char *out, size_t outsz)
{
    switch (t) {
    case 0:
        snprintf(out, outsz, "User %u logged in from %u.%u.%u.%u", rnd() % 100000u, rnd() % 256u,
                 rnd() % 256u, rnd() % 256u, rnd() % 256u);
        break;
    case 1:
        snprintf(out, outsz, "Request GET /api/users/%u completed in %ums status=%u", rnd() % 9999u,
                 rnd() % 2000u, 200u + rnd() % 3u);
        break;
    case 2:
        snprintf(out, outsz, "Payment %08x-%04x-%04x-%04x-%08x%04x failed: card declined for '%s'",
                 rnd(), rnd() & 0xffffu, rnd() & 0xffffu, rnd() & 0xffffu, rnd(), rnd() & 0xffffu,
                 names[rnd() % 5u]);
        break;
    case 3:
        snprintf(out, outsz, "Cache miss for key 0x%x in region %s", rnd(), regions[rnd() % 3u]);
        break;
    case 4:
        snprintf(out, outsz, "Connection to db-primary:5432 timed out after %u retries",
                 1u + rnd() % 9u);
        break;
    case 5:
        snprintf(out, outsz, "Sent email to user%u@example.com with subject \"Welcome %s\"",
                 rnd() % 1000u, names[rnd() % 5u]);
        break;
    case 6:
        snprintf(
            out, outsz,
            "2024-03-%02uT%02u:%02u:%02u.%03uZ worker %u processed batch of %u items in %u.%us",
            1u + rnd() % 28u, rnd() % 24u, rnd() % 60u, rnd() % 60u, rnd() % 1000u, rnd() % 16u,
            rnd() % 500u, rnd() % 10u, rnd() % 10u);
        break;
    default:
        snprintf(out, outsz,
                 "Exported trace %08x%08x%08x%08x to http://10.%u.%u.%u:4318/v1/traces?tenant=%s",
                 rnd() | 1u, rnd(), rnd(), rnd(), rnd() % 256u, rnd() % 256u, rnd() % 256u,
                 tenants[rnd() % 3u]);
        break;
    }
}

static size_t corpus_count(int t)
{
    return 10u + 7u * (size_t)t;
}

/* ---- masking ---- */

static void test_masking(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    assert_mask(p, "took 35ms, retried 3 times", "took <NUM>ms, retried <NUM> times");
    assert_mask(p, "value -12.5e3 and 10% and 1,234", "value <NUM> and <NUM>% and <NUM>");
    assert_mask(p, "id 0xdeadBEEF and a1b2c3d4e5f6 and deadbeef",
                "id <HEX> and <HEX> and deadbeef");
    assert_mask(p, "req 123e4567-e89b-12d3-a456-426614174000 done", "req <UUID> done");
    assert_mask(p, "from 192.168.0.1:8080 and 10.0.0.1, [2001:db8::1]:443 ::1 fe80::1%",
                "from <IP> and <IP>, <IP> <IP> fe80::1%");
    assert_mask(p, "not an ip 1.2.3 or 256.1.1.1 or 12:30", "not an ip <NUM> or <NUM> or <TS>");
    assert_mask(p, "at 2024-01-02T03:04:05.678+01:00 then 2024-01-02 03:04:05,123 ok",
                "at <TS> then <TS> ok");
    assert_mask(p, "[2024-01-02 03:04:05] started", "[<TS>] started");
    assert_mask(p, "mail bob.smith+x@mail.example.org now", "mail <EMAIL> now");
    assert_mask(p, "GET https://api.example.com/v1/orders/98765/items?page=2&q=shoes#top",
                "GET https://api.example.com/v1/orders/<NUM>/items?page=<NUM>&q=<*>#<*>");
    assert_mask(p, "GET /users/123/orders/a1b2c3d4e5/x user42",
                "GET /users/<NUM>/orders/<HEX>/x user42");
    assert_mask(p, "open /var/log/app-17.log", "open /var/log/<*>");
    assert_mask(p, "name='John Smith' said \"hello world\" to 'x'",
                "name='<*>' said \"<*>\" to '<*>'");
    assert_mask(p, "level=info user=bob dur=35ms ip=10.0.0.2 empty= k=\"a b\"",
                "level=<*> user=<*> dur=<NUM>ms ip=<IP> empty= k=\"<*>\"");
    assert_mask(p, "{\"user\":\"bob\",\"id\":42,\"ok\":true,\"n\":[1,-2]}",
                "{\"user\":\"<*>\",\"id\":<NUM>,\"ok\":true,\"n\":[<NUM>,<NUM>]}");
    assert_mask(p, "{\"user\": \"bob smith\", \"id\": 42}", "{\"user\": \"<*>\", \"id\": <NUM>}");
    assert_mask(p, "  leading\tand\r\ntrailing line dropped", "leading and");
    assert_mask(p, "unterminated 'quote here", "unterminated 'quote here");
    assert_mask(p, "don't stop (code 7)", "don't stop (code <NUM>)");
    fw_patterns_free(p);
}

/* ---- corpus ---- */

static void test_corpus_recovers_templates(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    size_t total = 0, order[1024];
    size_t n = 0;
    for (int t = 0; t < NTEMPLATES; t++)
        for (size_t i = 0; i < corpus_count(t); i++) order[n++] = (size_t)t;
    /* interleave */
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd() % i;
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    char line[512];
    for (size_t i = 0; i < n; i++) {
        gen_line((int)order[i], line, sizeof(line));
        observe(p, "shop", line, 9, T0 + i * SEC);
        total++;
    }
    /* same text in another service is another pattern */
    for (int i = 0; i < 5; i++) {
        gen_line(0, line, sizeof(line));
        observe(p, "auth", line, 13, T0 + 30 * SEC);
    }

    got g;
    query(p, "shop", T0, T0 + 3600 * SEC, 0, 0, &g);
    if (g.n != NTEMPLATES) {
        for (size_t i = 0; i < g.n; i++)
            print_message("got %s | %llu\n", g.p[i].tmpl, (unsigned long long)g.p[i].count);
        fail_msg("want %d patterns, got %zu", NTEMPLATES, g.n);
    }
    for (int t = 0; t < NTEMPLATES; t++) {
        const got_pattern *gp = find_tmpl(&g, "shop", expected[t]);
        if (!gp) {
            for (size_t i = 0; i < g.n; i++) print_message("got %s\n", g.p[i].tmpl);
            fail_msg("template %d not recovered: %s", t, expected[t]);
        }
        assert_int_equal(gp->count, corpus_count(t));
        assert_int_equal(gp->total, corpus_count(t));
        assert_int_equal(gp->sev, 9);
        assert_true(gp->is_new);
        assert_false(gp->overflow);
        assert_true(strlen(gp->example) > 0);
        assert_null(strstr(gp->tmpl, "  "));
    }
    /* sorted by count descending */
    for (size_t i = 1; i < g.n; i++) assert_true(g.p[i - 1].count >= g.p[i].count);
    assert_string_equal(g.p[0].tmpl, expected[NTEMPLATES - 1]);

    query(p, NULL, T0, T0 + 3600 * SEC, 0, 0, &g);
    assert_int_equal(g.n, NTEMPLATES + 1);
    const got_pattern *auth = find_tmpl(&g, "auth", expected[0]);
    const got_pattern *shop = find_tmpl(&g, "shop", expected[0]);
    assert_non_null(auth);
    assert_non_null(shop);
    assert_int_equal(auth->count, 5);
    assert_int_equal(auth->sev, 13);
    assert_true(auth->id != shop->id);

    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.lines, total + 5);
    assert_int_equal(st.services, 2);
    assert_int_equal(st.patterns, NTEMPLATES + 1);
    assert_int_equal(st.overflow, 0);
    assert_int_equal(st.dropped, 0);
    assert_true(st.memory_used > 0);

    /* ids are stable: the same template of the same service hashes alike */
    fw_patterns *p2 = make(NULL);
    gen_line(4, line, sizeof(line));
    observe(p2, "shop", line, 9, T0);
    got g2;
    query(p2, "shop", T0, T0 + MIN, 0, 0, &g2);
    assert_int_equal(g2.n, 1);
    assert_int_equal(g2.p[0].id, find_tmpl(&g, "shop", expected[4])->id);
    fw_patterns_free(p2);
    fw_patterns_free(p);
}

static void test_drain_generalises(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    observe(p, "s", "job alpha finished cleanly today", 9, T0);
    observe(p, "s", "job alpha finished badly today", 9, T0);
    observe(p, "s", "job alpha finished badly yesterday", 9, T0);
    /* below the threshold: a different pattern */
    observe(p, "s", "job alpha was never seen", 9, T0);
    got g;
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[0].tmpl, "job alpha finished <*> <*>");
    assert_int_equal(g.p[0].count, 3);
    assert_string_equal(g.p[0].example, "job alpha finished cleanly today");
    assert_string_equal(g.p[1].tmpl, "job alpha was never seen");
    fw_patterns_free(p);
}

/* ---- windows, baseline, new ---- */

static void test_window_and_baseline(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    /* baseline minutes 0..9: steady A once a minute, C twice */
    for (uint64_t m = 0; m < 10; m++) {
        observe(p, "api", "steady heartbeat from worker", 9, T0 + m * MIN + 5 * SEC);
        observe(p, "api", "cron job nightly done", 9, T0 + m * MIN + 6 * SEC);
        observe(p, "api", "cron job nightly done", 9, T0 + m * MIN + 7 * SEC);
    }
    /* window minutes 10..14: A five times a minute, new B; C stopped */
    uint8_t tid[FW_TRACE_ID_LEN];
    for (uint64_t m = 10; m < 15; m++) {
        for (int k = 0; k < 5; k++)
            observe(p, "api", "steady heartbeat from worker", 9, T0 + m * MIN + (uint64_t)k * SEC);
        memset(tid, (int)m, sizeof(tid));
        fw_patterns_observe(p, FW_STR_LIT("api"),
                            FW_STR_LIT("ThrottlingException: Rate exceeded for table orders"), 17,
                            T0 + m * MIN + 30 * SEC, tid);
    }
    got g;
    query(p, "api", T0 + 10 * MIN, T0 + 15 * MIN, T0, T0 + 10 * MIN, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[0].tmpl, "steady heartbeat from worker");
    assert_int_equal(g.p[0].count, 25);
    assert_int_equal(g.p[0].baseline, 10);
    assert_false(g.p[0].is_new);
    assert_int_equal(g.p[0].total, 35);
    assert_int_equal(g.p[0].first, T0 + 5 * SEC);
    assert_int_equal(g.p[0].last, T0 + 14 * MIN + 4 * SEC);
    assert_int_equal(g.p[0].ntrace, 0);

    assert_string_equal(g.p[1].tmpl, "ThrottlingException: Rate exceeded for table orders");
    assert_int_equal(g.p[1].count, 5);
    assert_int_equal(g.p[1].baseline, 0);
    assert_true(g.p[1].is_new);
    assert_int_equal(g.p[1].sev, 17);
    assert_int_equal(g.p[1].ntrace, FW_PATTERNS_TRACE_IDS);
    assert_int_equal(g.p[1].trace[0][0], 14); /* newest first */
    assert_int_equal(g.p[1].trace[3][0], 11);

    /* a window inside the baseline: B is absent, C present and not new */
    query(p, "api", T0 + 2 * MIN, T0 + 4 * MIN, 0, 0, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[0].tmpl, "cron job nightly done");
    assert_int_equal(g.p[0].count, 4);
    assert_false(g.p[0].is_new);
    assert_int_equal(g.p[1].count, 2);

    /* unaligned window: a minute counts when it overlaps [from, to) */
    query(p, "api", T0 + 10 * MIN + 31 * SEC, T0 + 11 * MIN + 1, 0, 0, &g);
    assert_int_equal(find_tmpl(&g, "api", "steady heartbeat from worker")->count, 10);

    /* include_absent shows C (stopped) with count 0; limit cuts */
    memset(&g, 0, sizeof(g));
    fw_patterns_query q = {.service = "api",
                           .from_ns = T0 + 10 * MIN,
                           .to_ns = T0 + 15 * MIN,
                           .baseline_from_ns = T0,
                           .baseline_to_ns = T0 + 10 * MIN,
                           .include_absent = true};
    assert_int_equal(fw_patterns_query_run(p, &q, collect, &g, NULL), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.p[2].tmpl, "cron job nightly done");
    assert_int_equal(g.p[2].count, 0);
    assert_int_equal(g.p[2].baseline, 20);
    memset(&g, 0, sizeof(g));
    q.limit = 1;
    assert_int_equal(fw_patterns_query_run(p, &q, collect, &g, NULL), 0);
    assert_int_equal(g.n, 1);
    /* the visitor stops the walk */
    memset(&g, 0, sizeof(g));
    q.limit = 0;
    g.stop_after = 2;
    size_t visited = 0;
    assert_int_equal(fw_patterns_query_run(p, &q, collect, &g, &visited), 0);
    assert_int_equal(visited, 2);

    /* unknown service, empty range */
    query(p, "nope", T0, T0 + 60 * MIN, 0, 0, &g);
    assert_int_equal(g.n, 0);
    q.to_ns = q.from_ns;
    assert_int_equal(fw_patterns_query_run(p, &q, collect, &g, NULL), FW_ERR_INVALID);

    /* lines without a time count in totals only */
    observe(p, "api", "untimed line here", 5, 0);
    query(p, "api", 1, UINT64_MAX, 0, 0, &g);
    assert_null(find_tmpl(&g, "api", "untimed line here"));
    fw_patterns_free(p);
}

static void test_ring_wraps_by_event_time(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.retention_ns = 10 * MIN};
    fw_patterns *p = make(&cfg);
    observe(p, "s", "tick", 9, T0);
    observe(p, "s", "tick", 9, T0 + 11 * MIN); /* same slot, newer minute */
    observe(p, "s", "tick", 9, T0);            /* older than the slot holds */
    got g;
    query(p, "s", T0, T0 + 20 * MIN, 0, 0, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.p[0].count, 1);
    assert_int_equal(g.p[0].total, 3);
    assert_int_equal(g.p[0].first, T0);
    fw_patterns_free(p);
}

/* ---- caps ---- */

static void test_overflow_pattern(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.max_patterns = 3};
    fw_patterns *p = make(&cfg);
    static const char *const lines[] = {"alpha one",     "beta two three", "gamma four five six",
                                        "delta x y z w", "epsilon q",      "zeta a b c d e"};
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < 6; i++) observe(p, "s", lines[i], (int32_t)(i + 1), T0);
    got g;
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 4);
    const got_pattern *ovf = find_tmpl(&g, "s", FW_PATTERNS_OVERFLOW_TEMPLATE);
    assert_non_null(ovf);
    assert_true(ovf->overflow);
    assert_int_equal(ovf->count, 6);
    assert_int_equal(ovf->sev, 6);
    assert_string_equal(ovf->example, "delta x y z w");
    assert_string_equal(g.p[0].tmpl, FW_PATTERNS_OVERFLOW_TEMPLATE);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.overflow, 6);
    assert_int_equal(st.lines, 12);
    assert_int_equal(st.patterns, 4);
    fw_patterns_free(p);
}

static void test_service_cap(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.max_services = 3};
    fw_patterns *p = make(&cfg);
    char svc[32];
    for (int i = 0; i < 10; i++) {
        snprintf(svc, sizeof(svc), "svc-%d", i);
        observe(p, svc, "hello there", 9, T0);
    }
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.services, 3);
    assert_int_equal(st.dropped, 7);
    /* empty and huge service names */
    observe(p, "", "x", 9, T0); /* unknown_service: a 4th service, dropped */
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.dropped, 8);
    fw_patterns_free(p);
}

static void test_memory_cap(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.memory_limit = 64 * 1024, .max_patterns = 100000};
    fw_patterns *p = make(&cfg);
    char line[128];
    for (int i = 0; i < 5000; i++) {
        snprintf(line, sizeof(line), "w%c%c%c event kind %d", 'a' + i % 26, 'a' + (i / 26) % 26,
                 'a' + (i / 676) % 26, i % 7);
        observe(p, "s", line, 9, T0);
    }
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    /* the overflow pattern may pass the limit by one pattern */
    assert_true(st.memory_used <= cfg.memory_limit + 4096);
    assert_true(st.overflow > 0);
    assert_int_equal(st.lines + st.dropped, 5000);
    assert_int_equal(st.dropped, 0);
    got g;
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    (void)g;
    fw_patterns_free(p);
}

static void test_long_lines_and_tokens(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.max_tokens = 8};
    fw_patterns *p = make(&cfg);
    /* many tokens: cut at 7 and a mark */
    observe(p, "s", "a b c d e f g h i j k l m", 9, T0);
    observe(p, "s", "a b c d e f g x y z", 9, T0);
    got g;
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.p[0].tmpl, "a b c d e f g <...>");
    assert_int_equal(g.p[0].count, 2);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.truncated, 2);
    fw_patterns_free(p);

    /* a 1 MiB line: mined from its first 4 KiB, example cut at 512 bytes */
    p = make(NULL);
    size_t big = 1u << 20;
    char *s = malloc(big + 1);
    assert_non_null(s);
    for (size_t i = 0; i < big; i++) s[i] = (i % 10 == 9) ? ' ' : (char)('a' + (i % 7));
    s[big] = '\0';
    memcpy(s, "BIG ", 4);
    observe(p, "s", s, 9, T0);
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(strlen(g.p[0].example), 512);
    assert_true(strncmp(g.p[0].tmpl, "BIG ", 4) == 0);
    assert_true(strlen(g.p[0].tmpl) < 4096 + 16);
    assert_non_null(strstr(g.p[0].tmpl, "<...>"));
    /* one enormous token becomes <*> */
    memset(s, 'x', big);
    observe(p, "t", s, 9, T0);
    query(p, "t", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.p[0].tmpl, "<*>");
    /* all digits */
    memset(s, '7', big);
    observe(p, "u", s, 9, T0);
    query(p, "u", T0, T0 + MIN, 0, 0, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.p[0].tmpl, "<NUM>");
    free(s);
    fw_patterns_free(p);
}

static void test_hostile_input(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    fw_patterns_observe(p, FW_STR_NULL, FW_STR_NULL, 0, T0, NULL);
    observe(p, "s", "", 9, T0);
    observe(p, "s", " \t\r\n  ", 9, T0);
    observe(p, "s", "\n second line only", 9, T0);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.ignored, 3);
    assert_int_equal(st.lines, 1); /* leading blank lines are skipped */

    /* binary: every byte value, NULs included */
    uint8_t bin[4096];
    for (size_t r = 0; r < 50; r++) {
        for (size_t i = 0; i < sizeof(bin); i++) bin[i] = (uint8_t)rnd();
        fw_patterns_observe(p, FW_STR_LIT("bin"), (fw_str){(const char *)bin, sizeof(bin)}, 99,
                            T0 + r * SEC, NULL);
    }
    /* quotes, brackets and separators only */
    observe(p, "s", "\"\"\"'''((([[[{{{}}}]]])))", 9, T0);
    observe(p, "s", "= = == =x x= :// :/ /// ? & # @ @@ 0x 0X .. ::: [::]:", 9, T0);
    observe(p, "s", "\"unterminated", 9, T0);
    observe(p, "s", "k=\"unterminated value", 9, T0);
    observe(p, "s", "2024-01-02 ", 9, T0);
    observe(p, "s", "2024-01-02 99:99", 9, T0);
    observe(p, "s", "[2001:db8::1", 9, T0);
    observe(p, "s", "[::1]:99999999", 9, T0);
    observe(p, "s", "-", 9, T0);
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.lines + st.ignored, 4 + 50 + 9);
    got g;
    query(p, NULL, T0, T0 + 2 * MIN, 0, 0, &g);
    assert_true(g.n >= 1);
    for (size_t i = 0; i < g.n; i++) assert_true(g.p[i].sev >= 0 && g.p[i].sev <= 24);
    fw_patterns_free(p);
}

static void test_config_and_free(void **state)
{
    (void)state;
    fw_patterns *p = NULL;
    fw_patterns_config bad = {.similarity = 1.5};
    assert_int_equal(fw_patterns_new(&bad, &p), FW_ERR_CONFIG);
    assert_null(p);
    fw_patterns_config bad2 = {.max_tokens = FW_PATTERNS_MAX_TOKENS_LIMIT + 1};
    assert_int_equal(fw_patterns_new(&bad2, &p), FW_ERR_CONFIG);
    fw_patterns_config bad3 = {.max_line = FW_PATTERNS_MAX_LINE_LIMIT + 1};
    assert_int_equal(fw_patterns_new(&bad3, &p), FW_ERR_CONFIG);
    fw_patterns_config bad4 = {.prefix_tokens = 9};
    assert_int_equal(fw_patterns_new(&bad4, &p), FW_ERR_CONFIG);
    fw_patterns_free(NULL);
}

/* ---- expire ---- */

static void test_expire(void **state)
{
    (void)state;
    fw_patterns_config cfg = {.retention_ns = 30 * MIN};
    fw_patterns *p = make(&cfg);
    char line[512];
    for (int t = 0; t < NTEMPLATES; t++) {
        gen_line(t, line, sizeof(line));
        observe(p, "old", line, 9, T0);
    }
    observe(p, "new", "fresh line here", 9, T0 + 40 * MIN);
    observe(p, "mixed", "stays around", 9, T0 + 40 * MIN);
    observe(p, "mixed", "goes away now please", 9, T0);
    fw_patterns_stats before;
    fw_patterns_get_stats(p, &before);
    assert_int_equal(before.patterns, NTEMPLATES + 3);

    fw_patterns_expire(p, T0 + 45 * MIN);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.patterns, 2);
    assert_int_equal(st.services, 2);
    assert_int_equal(st.expired, NTEMPLATES + 1);
    assert_true(st.memory_used < before.memory_used);
    got g;
    query(p, NULL, T0, T0 + 60 * MIN, 0, 0, &g);
    assert_int_equal(g.n, 2);
    /* the tree was pruned: the same line comes back as a fresh pattern */
    observe(p, "mixed", "goes away now please", 9, T0 + 44 * MIN);
    query(p, "mixed", T0, T0 + 60 * MIN, 0, 0, &g);
    assert_int_equal(g.n, 2);
    fw_patterns_expire(p, T0 + 200 * MIN);
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.patterns, 0);
    assert_int_equal(st.services, 0);
    /* only the shard tables stay */
    assert_true(st.memory_used <= 16u * 64u * sizeof(void *));
    fw_patterns_free(p);
}

/* ---- body text and severities ---- */

static void test_body_text(void **state)
{
    (void)state;
    fw_buf scratch;
    fw_buf_init(&scratch, 4096);
    fw_str text;

    fw_value v = {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("plain text")};
    assert_int_equal(fw_patterns_body_text(&v, &scratch, &text), 0);
    assert_true(text.ptr == v.u.str.ptr && text.len == 10);

    fw_attr kv[3] = {
        {FW_STR_LIT("user"), {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("bob")}},
        {FW_STR_LIT("msg"), {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("order placed")}},
        {FW_STR_LIT("n"), {.type = FW_VALUE_INT, .u.i64 = 42}},
    };
    fw_value m = {.type = FW_VALUE_KVLIST, .u.kvlist = {kv, 3}};
    assert_int_equal(fw_patterns_body_text(&m, &scratch, &text), 0);
    assert_int_equal(text.len, 12);
    assert_memory_equal(text.ptr, "order placed", 12);

    kv[1].key = FW_STR_LIT("note");
    kv[1].value.u.str = FW_STR_LIT("two words");
    assert_int_equal(fw_patterns_body_text(&m, &scratch, &text), 0);
    const char *want = "user=bob note=\"two words\" n=42";
    assert_int_equal(text.len, strlen(want));
    assert_memory_equal(text.ptr, want, text.len);
    fw_patterns *p = make(NULL);
    fw_patterns_observe(p, FW_STR_LIT("s"), text, 9, T0, NULL);
    got g;
    query(p, "s", T0, T0 + MIN, 0, 0, &g);
    assert_string_equal(g.p[0].tmpl, "user=<*> note=\"<*>\" n=<NUM>");
    fw_patterns_free(p);

    fw_value i = {.type = FW_VALUE_INT, .u.i64 = -7};
    assert_int_equal(fw_patterns_body_text(&i, &scratch, &text), 0);
    assert_int_equal(text.len, 2);
    assert_memory_equal(text.ptr, "-7", 2);

    fw_value bytes = {.type = FW_VALUE_BYTES, .u.str = FW_STR_LIT("\x01\x02")};
    assert_int_equal(fw_patterns_body_text(&bytes, &scratch, &text), 0);
    assert_int_equal(text.len, 0);
    fw_value empty = {.type = FW_VALUE_EMPTY};
    assert_int_equal(fw_patterns_body_text(&empty, &scratch, &text), 0);
    assert_int_equal(text.len, 0);

    /* a rendering over the scratch max is cut, not failed */
    fw_buf small;
    fw_buf_init(&small, 16);
    kv[1].value.u.str = FW_STR_LIT("a much longer value than sixteen bytes");
    assert_int_equal(fw_patterns_body_text(&m, &small, &text), 0);
    assert_true(text.len <= 16);
    assert_memory_equal(text.ptr, "user=bob", 8);
    fw_buf_free(&small);
    fw_buf_free(&scratch);
}

static void test_severity(void **state)
{
    (void)state;
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("trace")), 1);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("DEBUG")), 5);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("Info")), 9);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("warn")), 13);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("warning")), 13);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("error")), 17);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("fatal")), 21);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("1")), 1);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("24")), 24);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("25")), 0);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("0")), 0);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("017")), 0);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_LIT("errors")), 0);
    assert_int_equal(fw_patterns_severity_parse(FW_STR_NULL), 0);
    assert_string_equal(fw_patterns_severity_name(17), "ERROR");
    assert_string_equal(fw_patterns_severity_name(24), "FATAL");
    assert_string_equal(fw_patterns_severity_name(4), "TRACE");
    assert_string_equal(fw_patterns_severity_name(0), "");
    assert_string_equal(fw_patterns_severity_name(25), "");
}

/* Random lines over an alphabet of the characters the masks key on:
 * nothing crashes (the sanitizer build checks memory), every line is
 * counted once, and a masked line stays bounded. */
static void test_random_lines(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789abcdefxX:./-=@'\"[]{}()?&#%,; \t\nAZz_";
    fw_patterns_config cfg = {.max_patterns = 200, .memory_limit = 2u * 1024u * 1024u};
    fw_patterns *p = make(&cfg);
    char line[600];
    fw_buf b;
    fw_buf_init(&b, 1u << 16);
    for (int r = 0; r < 20000; r++) {
        size_t n = rnd() % sizeof(line);
        for (size_t i = 0; i < n; i++) line[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
        fw_str body = {line, n};
        fw_buf_reset(&b);
        assert_int_equal(fw_patterns_mask(p, body, &b), 0);
        assert_true(b.len <= 16384u);
        fw_patterns_observe(p, FW_STR_LIT("fuzz"), body, (int32_t)(rnd() % 30u), T0, NULL);
    }
    fw_buf_free(&b);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.lines + st.ignored + st.dropped, 20000);
    assert_true(st.patterns <= 201);
    got g;
    memset(&g, 0, sizeof(g));
    fw_patterns_query q = {.from_ns = T0, .to_ns = T0 + MIN, .limit = MAXP};
    assert_int_equal(fw_patterns_query_run(p, &q, collect, &g, NULL), 0);
    for (size_t i = 0; i < g.n; i++) assert_true(g.p[i].sev >= 0 && g.p[i].sev <= 24);
    fw_patterns_free(p);
}

/* ---- threads ---- */

#define THREADS    4
#define PER_THREAD 4000

typedef struct thread_arg {
    fw_patterns *p;
    unsigned seed;
} thread_arg;

static void *worker(void *arg)
{
    thread_arg *ta = arg;
    static const char *const svcs[] = {"a", "b", "c"};
    char line[256];
    for (unsigned i = 0; i < PER_THREAD; i++) {
        unsigned k = (i * 7u + ta->seed) % 8u;
        snprintf(line, sizeof(line), "event %u in stage %u took %ums from 10.0.%u.%u", k, k,
                 i % 977u, i % 256u, ta->seed);
        char tid[FW_TRACE_ID_LEN] = {0};
        tid[0] = (char)(i + 1);
        fw_patterns_observe(ta->p, fw_str_from(svcs[i % 3u]), fw_str_from(line), 9,
                            T0 + (uint64_t)(i % 600u) * SEC, (const uint8_t *)tid);
        if (i % 1000u == 999u && ta->seed == 0) {
            got g;
            query(ta->p, NULL, T0, T0 + 20 * MIN, 0, 0, &g);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){p, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    got g;
    query(p, NULL, T0, T0 + 20 * MIN, 0, 0, &g);
    uint64_t sum = 0;
    for (size_t i = 0; i < g.n; i++) {
        sum += g.p[i].count;
        assert_string_equal(g.p[i].tmpl, "event <NUM> in stage <NUM> took <NUM>ms from <IP>");
    }
    assert_int_equal(g.n, 3);
    assert_int_equal(sum, THREADS * PER_THREAD);
    fw_patterns_stats st;
    fw_patterns_get_stats(p, &st);
    assert_int_equal(st.lines, THREADS * PER_THREAD);
    fw_patterns_free(p);
}

/* ---- speed (a sanity bound, far above the target of a few us) ---- */

static void test_speed_sanity(void **state)
{
    (void)state;
    fw_patterns *p = make(NULL);
    char line[512];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 20000; i++) {
        gen_line(i % NTEMPLATES, line, sizeof(line));
        observe(p, "s", line, 9, T0 + (uint64_t)i * SEC / 10u);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us =
        ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / 20000.0;
    print_message("observe: %.2f us per line (generation included)\n", us);
    got g;
    query(p, "s", T0, T0 + 3600 * SEC, 0, 0, &g);
    assert_int_equal(g.n, NTEMPLATES);
    fw_patterns_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_corpus_recovers_templates),
        cmocka_unit_test(test_drain_generalises),
        cmocka_unit_test(test_window_and_baseline),
        cmocka_unit_test(test_ring_wraps_by_event_time),
        cmocka_unit_test(test_overflow_pattern),
        cmocka_unit_test(test_service_cap),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_long_lines_and_tokens),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_config_and_free),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_body_text),
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_random_lines),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed_sanity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
