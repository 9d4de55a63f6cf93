/* test_report.c - the report model and its renderings (SPEC 6.2): for each
 * cause kind of the investigator, every section present and filled from the
 * investigation's evidence, 5 whys of five steps ending at the root cause,
 * impact numbers equal to the investigation's, hostile strings escaped in
 * Markdown and HTML, the HTML tag-balanced and script-free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flywheel/report.h"

typedef struct scenario {
    const char *cause;
    const char *service;   /* scoped */
    const char *operation;
    const char *origin;    /* component.service */
    const char *dep;       /* NULL = none */
    const char *version;   /* NULL = none */
    const char *ev_kind2;  /* second evidence kind of the leading hypothesis */
    const char *title;
    const char *gap;
} scenario;

static const scenario SCENARIOS[] = {
    {"deployment", "frontend", "GET /checkout", "payments", NULL, "v2.4.1", "deployment",
     "payments v2.4.1 fails POST /charge", "No logs from payments"},
    {"throttling", "frontend", "GET /checkout", "inventory", "dynamodb", NULL, "metric",
     "dynamodb throttles inventory", "No throttling metric alarm"},
    {"dependency_failure", "frontend", "", "payments", "stripe-api", NULL, "metric",
     "stripe-api returns errors to payments", "Dependency not instrumented"},
    {"code_error", "frontend", "GET /cart", "cart", NULL, NULL, "log_pattern",
     "NullPointerException in cart GET /cart", "No error logs with trace ids"},
    {"latency", "frontend", "GET /search", "search", "elasticsearch", NULL, "metric",
     "elasticsearch slows search", "No latency SLO"},
    {"traffic_surge", "frontend", "", "frontend", NULL, NULL, "metric",
     "traffic on frontend tripled", "No saturation metrics"},
};

static json_t *evidence(const char *kind, const char *summary, double count, const char *trace)
{
    return json_pack("{s:s, s:s, s:f, s:[s], s:s, s:s}", "kind", kind, "summary", summary,
                     "count", count, "trace_ids", trace, "first_seen",
                     "2026-03-01T10:00:05.000Z", "last_seen", "2026-03-01T10:09:55.000Z");
}

static json_t *hypothesis(int rank, double score, const char *cause, const char *title,
                          const char *svc, const char *dep, const char *version,
                          const char *kind2)
{
    json_t *ev = json_array();
    json_array_append_new(ev, evidence("spans", "412 failing spans on the path", 412,
                                       "4bf92f3577b34da6a3ce929d0e0e4736"));
    json_array_append_new(ev, evidence(kind2, "second signal of the cause", 37,
                                       "00f067aa0ba902b7a3ce929d0e0e4736"));
    return json_pack("{s:i, s:f, s:s, s:s, s:{s:s, s:s, s:s?, s:s?, s:n}, s:s, s:s, s:o, "
                     "s:[s]}",
                     "rank", rank, "score", score, "confidence", score > 0.7 ? "high" : "low",
                     "cause", cause, "component", "service", svc, "operation", "POST /op",
                     "dependency", dep, "version", version, "instance", "title", title,
                     "what_happened", "It happened in a few sentences.", "evidence", ev,
                     "suggested_actions", "engine suggestion");
}

/* The investigation object of SPEC 6.1 for |sc|; JSON text the caller frees. */
static char *investigation(const scenario *sc, const char *status)
{
    json_t *hyps = json_array();
    json_array_append_new(hyps, hypothesis(1, 0.86, sc->cause, sc->title, sc->origin, sc->dep,
                                           sc->version, sc->ev_kind2));
    json_array_append_new(hyps, hypothesis(2, 0.31, "traffic_surge", "traffic rose a little",
                                           sc->service, NULL, NULL, "metric"));
    json_t *inv = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, "
        "s:{s:s, s:s?, s:s, s:s, s:s}, "
        "s:{s:i, s:i, s:f, s:f, s:f, s:f, s:[s, s]}, "
        "s:o, s:[{s:s, s:s}], "
        "s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}",
        "id", "inv-42", "status", status, "created_at", "2026-03-01T10:05:00.000Z",
        "completed_at", "2026-03-01T10:06:30.000Z",
        "trigger", "kind", "alarm", "name", "checkout-errors", "at", "2026-03-01T10:04:00.000Z",
        "scope", "service", sc->service, "operation", sc->operation[0] ? sc->operation : NULL,
        "from", "2026-03-01T09:40:00.000Z", "to", "2026-03-01T10:10:00.000Z", "onset",
        "2026-03-01T10:00:00.000Z",
        "impact", "requests", 12000, "failed_requests", 1800, "error_rate", 0.15,
        "baseline_error_rate", 0.002, "p99_ms", 850.0, "baseline_p99_ms", 120.0,
        "affected_operations", "GET /checkout", "POST /charge",
        "hypotheses", hyps, "monitoring_gaps", "summary", sc->gap, "detail", "gap detail",
        "timeline", "at", "2026-03-01T09:58:00.000Z", "event", "deployment of payments v2.4.1",
        "at", "2026-03-01T10:00:00.000Z", "event", "onset: error rate of frontend changed",
        "at", "2026-03-01T10:04:00.000Z", "event", "alarm checkout-errors fired");
    assert_non_null(inv);
    char *s = json_dumps(inv, JSON_COMPACT);
    json_decref(inv);
    assert_non_null(s);
    return s;
}

static char *render(const char *inv, fw_report_format f, const fw_report_series *series)
{
    fw_buf b;
    fw_buf_init(&b, 4u << 20);
    char err[128];
    int rv = fw_report_render(inv, strlen(inv), series, f, &b, err, sizeof(err));
    if (rv)
        fail_msg("render: %d %s", rv, err);
    char *s = malloc(b.len + 1);
    assert_non_null(s);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    fw_buf_free(&b);
    return s;
}

static json_t *model_of(const char *inv)
{
    char *s = render(inv, FW_REPORT_JSON, NULL);
    json_error_t jerr;
    json_t *m = json_loads(s, 0, &jerr);
    free(s);
    assert_non_null(m);
    return m;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static bool any_contains(const json_t *arr, const char *key, const char *needle)
{
    size_t i;
    const json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *s = key ? str(x, key) : json_string_value(x);
        if (s && strstr(s, needle))
            return true;
    }
    return false;
}

/* A tiny HTML checker: every non-void element is closed in order, no
 * <script>, nothing after </html>. Returns 0 when balanced. */
static int html_balanced(const char *p)
{
    static const char *const VOID[] = {"meta", "br", "hr", "img", "link", "input", "!DOCTYPE"};
    char stack[64][16];
    int depth = 0;
    while ((p = strchr(p, '<')) != NULL) {
        p++;
        bool closing = *p == '/';
        if (closing)
            p++;
        char name[16];
        size_t n = 0;
        while (*p && *p != '>' && *p != ' ' && *p != '/' && n < sizeof(name) - 1)
            name[n++] = *p++;
        name[n] = '\0';
        if (strcmp(name, "script") == 0)
            return -1;
        const char *end = strchr(p, '>');
        if (!end)
            return -2;
        bool self = end[-1] == '/';
        p = end + 1;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return -3;
            depth--;
            continue;
        }
        bool is_void = self;
        for (size_t i = 0; i < sizeof(VOID) / sizeof(VOID[0]); i++)
            is_void = is_void || strcmp(name, VOID[i]) == 0;
        if (is_void)
            continue;
        if (depth == 64)
            return -4;
        memcpy(stack[depth++], name, n + 1);
        if (strcmp(name, "style") == 0) {
            const char *close = strstr(p, "</style>");
            if (!close)
                return -5;
            p = close;
        }
    }
    return depth == 0 ? 0 : -6;
}

/* Every Markdown table row has the column count of its header row. */
static void md_tables_intact(const char *md)
{
    int want = -1;
    for (const char *line = md; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line != '|') {
            want = -1;
            continue;
        }
        int pipes = 0;
        for (const char *c = line; *c && *c != '\n'; c++)
            if (*c == '|' && (c == line || c[-1] != '\\'))
                pipes++;
        if (want < 0)
            want = pipes;
        assert_int_equal(pipes, want);
    }
}

static void test_every_cause(void **state)
{
    (void)state;
    static const char *const MD_SECTIONS[] = {
        "# Incident report: ", "## Summary", "## Customer impact", "## Timeline",
        "## Root cause", "## Other hypotheses considered", "## 5 whys", "## What went well",
        "## Monitoring gaps", "## Action items", "## Questions", "## Lessons learned",
        "How would you have cut the time to detect in half?",
        "How would you have cut the time to diagnose in half?"};
    fw_report_point pts[60];
    for (size_t i = 0; i < 60; i++) {
        pts[i].t_ns = 1772358000000000000ull + i * 30000000000ull; /* 2026-03-01T09:40Z */
        pts[i].requests = 200;
        pts[i].errors = i >= 40 ? 30 : 0;
        pts[i].p99_ms = i >= 40 ? 850 : 120;
    }
    fw_report_series series = {pts, 60};
    for (size_t k = 0; k < sizeof(SCENARIOS) / sizeof(SCENARIOS[0]); k++) {
        const scenario *sc = &SCENARIOS[k];
        char *inv = investigation(sc, "complete");
        json_t *m = model_of(inv);

        /* title and summary name what failed, where and when */
        assert_non_null(strstr(str(m, "title"), sc->service));
        assert_non_null(strstr(str(m, "title"), "2026-03-01T10:00:00"));
        assert_non_null(strstr(str(m, "title"), sc->title));
        assert_non_null(strstr(str(m, "summary"), "1800 of 12000"));

        /* impact equals the investigation's */
        const json_t *imp = json_object_get(m, "impact");
        assert_true(json_number_value(json_object_get(imp, "requests")) == 12000.0);
        assert_true(json_number_value(json_object_get(imp, "failed_requests")) == 1800.0);
        assert_true(json_number_value(json_object_get(imp, "error_rate")) == 0.15);
        assert_true(json_number_value(json_object_get(imp, "baseline_error_rate")) == 0.002);
        assert_int_equal(json_array_size(json_object_get(imp, "affected_operations")), 2);
        /* onset 10:00:00 .. last evidence 10:09:55 */
        assert_int_equal(json_integer_value(json_object_get(imp, "duration_seconds")), 595);

        /* timeline: the investigation's events plus its start and end */
        const json_t *tl = json_object_get(m, "timeline");
        assert_int_equal(json_array_size(tl), 5);
        assert_true(any_contains(tl, "event", "deployment"));
        assert_true(any_contains(tl, "event", "onset"));
        assert_true(any_contains(tl, "event", "alarm"));
        assert_true(any_contains(tl, "event", "investigation started"));
        assert_true(any_contains(tl, "event", "investigation finished"));
        assert_string_equal(str(json_array_get(tl, 0), "at"), "2026-03-01T09:58:00.000Z");
        assert_int_equal(json_integer_value(json_object_get(m, "time_to_detect_seconds")), 240);
        assert_int_equal(json_integer_value(json_object_get(m, "time_to_diagnose_seconds")), 150);

        /* root cause: the leading hypothesis with its evidence */
        const json_t *rc = json_object_get(m, "root_cause");
        assert_string_equal(str(rc, "title"), sc->title);
        assert_string_equal(str(rc, "cause"), sc->cause);
        const json_t *cited = json_object_get(rc, "evidence_cited");
        assert_int_equal(json_array_size(cited), 2);
        assert_true(any_contains(cited, NULL, "4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_true(any_contains(cited, NULL, "count 412"));

        /* other hypotheses and why they rank lower */
        const json_t *oth = json_object_get(m, "other_hypotheses");
        assert_int_equal(json_array_size(oth), 1);
        assert_non_null(strstr(str(json_array_get(oth, 0), "why_lower"), "0.31 against 0.86"));

        /* 5 whys: five steps, symptom first, root cause at step 4, mechanism last */
        const json_t *whys = json_object_get(m, "five_whys");
        assert_int_equal(json_array_size(whys), 5);
        for (size_t i = 0; i < 5; i++) {
            const json_t *w = json_array_get(whys, i);
            assert_true(strlen(str(w, "question")) > 5);
            assert_true(strlen(str(w, "answer")) > 10);
            assert_true(strlen(str(w, "evidence")) > 5);
        }
        assert_non_null(strstr(str(json_array_get(whys, 0), "question"), sc->service));
        assert_non_null(strstr(str(json_array_get(whys, 1), "answer"), sc->origin));
        assert_non_null(strstr(str(json_array_get(whys, 1), "evidence"), "4bf92f3577b3"));
        assert_non_null(strstr(str(json_array_get(whys, 3), "answer"), sc->title));
        assert_non_null(strstr(str(json_array_get(whys, 3), "evidence"), sc->ev_kind2));
        assert_non_null(strstr(str(json_array_get(whys, 4), "answer"), sc->origin));

        /* what went well, gaps, actions (owners blank), questions, lessons */
        assert_true(any_contains(json_object_get(m, "what_went_well"), NULL, "checkout-errors"));
        assert_true(any_contains(json_object_get(m, "monitoring_gaps"), "summary", sc->gap));
        const json_t *acts = json_object_get(m, "action_items");
        assert_true(json_array_size(acts) >= 3);
        assert_string_equal(str(json_array_get(acts, 0), "owner"), "");
        assert_true(any_contains(acts, "action", "engine suggestion"));
        assert_true(any_contains(acts, "action", sc->gap));
        if (strcmp(sc->cause, "deployment") == 0)
            assert_true(any_contains(acts, "action", "Roll back payments v2.4.1"));
        if (strcmp(sc->cause, "throttling") == 0) {
            assert_true(any_contains(acts, "action", "alarm on throttling of dynamodb"));
            assert_true(any_contains(acts, "action", "backoff and retries with jitter"));
        }
        if (strcmp(sc->cause, "dependency_failure") == 0)
            assert_true(any_contains(acts, "action", "circuit breaker"));
        const json_t *qs = json_object_get(m, "questions");
        assert_int_equal(json_array_size(qs), 2);
        assert_non_null(strstr(str(json_array_get(qs, 0), "measured"), "4 min 0 s"));
        assert_non_null(strstr(str(json_array_get(qs, 1), "measured"), "2 min 30 s"));
        assert_int_equal(json_array_size(json_object_get(m, "lessons_learned")), 3);

        /* topology: the suspect is highlighted */
        const json_t *nodes = json_object_get(json_object_get(m, "topology"), "nodes");
        const char *want = sc->dep && strcmp(sc->cause, "throttling") == 0 ? sc->dep : sc->origin;
        bool found = false;
        size_t i;
        const json_t *nd;
        json_array_foreach(nodes, i, nd)
        {
            if (json_is_true(json_object_get(nd, "suspect"))) {
                assert_false(found);
                found = true;
                if (strcmp(sc->cause, "deployment") == 0 || strcmp(sc->cause, "throttling") == 0)
                    assert_string_equal(str(nd, "name"), want);
            }
        }
        assert_true(found);

        /* Markdown and HTML carry every section */
        char *md = render(inv, FW_REPORT_MD, NULL);
        for (size_t s = 0; s < sizeof(MD_SECTIONS) / sizeof(MD_SECTIONS[0]); s++)
            if (!strstr(md, MD_SECTIONS[s]))
                fail_msg("%s: markdown lacks %s", sc->cause, MD_SECTIONS[s]);
        md_tables_intact(md);
        char *html = render(inv, FW_REPORT_HTML, &series);
        assert_int_equal(html_balanced(html), 0);
        assert_non_null(strstr(html, "<h2>5 whys</h2>"));
        assert_non_null(strstr(html, "How would you have cut the time to diagnose in half?"));
        assert_non_null(strstr(html, "aria-label=\"error rate and p99 latency around the onset\""));
        assert_non_null(strstr(html, "aria-label=\"affected topology\""));
        assert_non_null(strstr(html, "(suspect)"));
        assert_null(strstr(html, "http-equiv"));
        assert_null(strstr(html, "src="));
        assert_null(strstr(html, "href="));
        free(html);
        free(md);
        json_decref(m);
        free(inv);
    }
}

/* |needle| occurs in |md| only right after a backslash (escaped). */
static bool unescaped(const char *md, const char *needle)
{
    for (const char *p = strstr(md, needle); p; p = strstr(p + 1, needle))
        if (p == md || p[-1] != '\\')
            return true;
    return false;
}

static void test_hostile_strings_escaped(void **state)
{
    (void)state;
    scenario sc = {"dependency_failure",
                   "<script>alert(1)</script>",
                   "GET /x|y\n# heading",
                   "evil](javascript:alert(1))",
                   "*dep*<img src=x onerror=alert(1)>",
                   NULL,
                   "log_pattern",
                   "[click](javascript:alert(2)) `code` | cell\nbreak",
                   "<b>gap</b>|x"};
    char *inv = investigation(&sc, "complete");
    char *md = render(inv, FW_REPORT_MD, NULL);
    assert_false(unescaped(md, "<script"));
    assert_false(unescaped(md, "<img"));
    assert_false(unescaped(md, "`code`"));
    assert_null(strstr(md, "](javascript:"));
    assert_null(strstr(md, "\n# heading"));
    assert_null(strstr(md, "[click]"));
    assert_non_null(strstr(md, "\\<script\\>"));
    assert_non_null(strstr(md, "\\[click\\]\\(javascript:alert\\(2\\)\\)"));
    md_tables_intact(md);
    char *html = render(inv, FW_REPORT_HTML, NULL);
    assert_int_equal(html_balanced(html), 0);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<b>gap"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=alert(1)&gt;"));
    free(html);
    free(md);
    free(inv);
}

static void test_escape_functions(void **state)
{
    (void)state;
    fw_buf b;
    fw_buf_init(&b, 1024);
    assert_int_equal(fw_report_html_escape(&b, "a<&>\"'\x01z", 8), 0);
    assert_int_equal(b.len, strlen("a&lt;&amp;&gt;&quot;&#39;z"));
    assert_memory_equal(b.data, "a&lt;&amp;&gt;&quot;&#39;z", b.len);
    fw_buf_reset(&b);
    assert_int_equal(fw_report_md_escape(&b, "1. a|b\n*c*", 10), 0);
    assert_memory_equal(b.data, "1\\. a\\|b \\*c\\*", b.len);
    fw_buf_reset(&b);
    assert_int_equal(fw_report_md_escape(&b, "- x-y", 5), 0);
    assert_memory_equal(b.data, "\\- x-y", b.len);
    fw_buf_free(&b);
}

static void test_running_and_invalid(void **state)
{
    (void)state;
    char *inv = investigation(&SCENARIOS[0], "running");
    fw_buf b;
    fw_buf_init(&b, 1u << 20);
    char err[128];
    assert_int_equal(fw_report_render(inv, strlen(inv), NULL, FW_REPORT_MD, &b, err, sizeof(err)),
                     FW_ERR_AGAIN);
    assert_int_equal(fw_report_render("{nope", 5, NULL, FW_REPORT_MD, &b, err, sizeof(err)),
                     FW_ERR_INVALID);
    assert_int_equal(fw_report_render("{\"id\":\"x\"}", 10, NULL, FW_REPORT_MD, &b, err,
                                      sizeof(err)),
                     FW_ERR_INVALID);
    assert_int_equal(fw_report_render("[1]", 3, NULL, FW_REPORT_HTML, &b, err, sizeof(err)),
                     FW_ERR_INVALID);
    free(inv);
    /* a buffer too small: TOO_LARGE, never a partial success */
    inv = investigation(&SCENARIOS[1], "complete");
    fw_buf small;
    fw_buf_init(&small, 256);
    assert_int_equal(fw_report_render(inv, strlen(inv), NULL, FW_REPORT_HTML, &small, err,
                                      sizeof(err)),
                     FW_ERR_TOO_LARGE);
    fw_buf_free(&small);
    fw_buf_free(&b);
    free(inv);
}

static void test_failed_investigation_without_hypotheses(void **state)
{
    (void)state;
    const char *inv =
        "{\"id\":\"f1\",\"status\":\"failed\",\"created_at\":\"2026-03-01T10:05:00Z\","
        "\"completed_at\":null,\"trigger\":{\"kind\":\"manual\",\"name\":null,\"at\":null},"
        "\"scope\":{\"service\":\"api\",\"operation\":null,\"from\":\"2026-03-01T09:35:00Z\","
        "\"to\":\"2026-03-01T10:05:00Z\",\"onset\":null},\"impact\":{},\"hypotheses\":[],"
        "\"monitoring_gaps\":[],\"timeline\":[],\"error\":\"boom\"}";
    for (int f = 0; f <= 2; f++) {
        fw_buf b;
        fw_buf_init(&b, 1u << 20);
        char err[128];
        assert_int_equal(fw_report_render(inv, strlen(inv), NULL, (fw_report_format)f, &b, err,
                                          sizeof(err)),
                         0);
        assert_true(b.len > 500);
        fw_buf_free(&b);
    }
    json_t *m = model_of(inv);
    assert_int_equal(json_array_size(json_object_get(m, "five_whys")), 5);
    assert_true(json_is_null(json_object_get(m, "root_cause")));
    assert_true(json_is_null(json_object_get(m, "time_to_detect_seconds")));
    assert_true(any_contains(json_object_get(m, "action_items"), "action", "burn-rate alarm"));
    json_decref(m);
}

static void test_parse_time_and_formats(void **state)
{
    (void)state;
    assert_true(fw_report_parse_time("2026-03-01T10:00:00.500Z") ==
                1772359200000000000ull + 500000000ull);
    assert_true(fw_report_parse_time("2026-03-01T11:00:00+01:00") == 1772359200000000000ull);
    assert_true(fw_report_parse_time("2026-03-01") == 0);
    assert_true(fw_report_parse_time("2026-03-01T10:00:00") == 0);
    assert_true(fw_report_parse_time("20x6-03-01T10:00:00Z") == 0);
    fw_report_format f;
    assert_int_equal(fw_report_format_parse("html", &f), 0);
    assert_int_equal(f, FW_REPORT_HTML);
    assert_int_equal(fw_report_format_parse("pdf", &f), FW_ERR_INVALID);
    assert_string_equal(fw_report_content_type(FW_REPORT_MD), "text/markdown; charset=utf-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cause),
        cmocka_unit_test(test_hostile_strings_escaped),
        cmocka_unit_test(test_escape_functions),
        cmocka_unit_test(test_running_and_invalid),
        cmocka_unit_test(test_failed_investigation_without_hypotheses),
        cmocka_unit_test(test_parse_time_and_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
