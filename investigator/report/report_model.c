/* report_model.c - builds the report model (SPEC 6.2) from the investigation
 * object (SPEC 6.1) alone: title, summary, impact, timeline with time to
 * detect/diagnose, root cause, other hypotheses, 5 whys, what went well,
 * monitoring gaps, action items, the two questions and lessons prompts.
 * Every sentence is drafted from the investigation's own evidence; the model
 * never blames a person and never reads anything but its input.
 *
 * Model members: investigation_id, status, title, summary, impact{requests,
 * failed_requests, error_rate, baseline_error_rate, p99_ms, baseline_p99_ms,
 * onset, end, duration_seconds, affected_operations}, timeline[{at,event}],
 * time_to_detect_seconds, time_to_diagnose_seconds (null when unknown),
 * root_cause{...hypothesis, evidence_cited}, other_hypotheses[{rank, title,
 * cause, score, confidence, why_lower}], five_whys[{question, answer,
 * evidence}], what_went_well[], monitoring_gaps[{summary, detail}],
 * action_items[{action, owner}], questions[{question, measured}],
 * lessons_learned[], topology{nodes[{name, role, suspect}], edges[{source,
 * target}]}, markers[{at, label}]. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"

#define NS_PER_S 1000000000ull

const char *fw__report_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

double fw__report_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    double d = json_is_number(v) ? json_number_value(v) : 0.0;
    return isfinite(d) ? d : 0.0;
}

static unsigned digits(const char *s, size_t n, bool *ok)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            *ok = false;
            return 0;
        }
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    return v;
}

uint64_t fw_report_parse_time(const char *s)
{
    if (!s || strnlen(s, 64) < 19 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return 0;
    bool ok = true;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)digits(s, 4, &ok) - 1900;
    tm.tm_mon = (int)digits(s + 5, 2, &ok) - 1;
    tm.tm_mday = (int)digits(s + 8, 2, &ok);
    tm.tm_hour = (int)digits(s + 11, 2, &ok);
    tm.tm_min = (int)digits(s + 14, 2, &ok);
    tm.tm_sec = (int)digits(s + 17, 2, &ok);
    if (!ok || tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return 0;
    const char *p = s + 19;
    uint64_t frac = 0, scale = NS_PER_S;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (scale > 1) {
                scale /= 10u;
                frac += (uint64_t)(*p - '0') * scale;
            }
            p++;
        }
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        if (strnlen(p, 7) != 6 || p[3] != ':')
            return 0;
        long h = (long)digits(p + 1, 2, &ok), m = (long)digits(p + 4, 2, &ok);
        if (!ok)
            return 0;
        off = (h * 60 + m) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        return 0;
    }
    if (*p)
        return 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    long long secs = (long long)t - off;
    if (secs <= 0)
        return 0;
    return (uint64_t)secs * NS_PER_S + frac;
}

/* ---- small builders ---- */

static json_t *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static json_t *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    json_t *s = json_vsprintf(f, ap);
    va_end(ap);
    return s ? s : json_string("");
}

static void set(json_t *o, const char *k, json_t *v)
{
    (void)json_object_set_new(o, k, v ? v : json_null());
}

static void push(json_t *a, json_t *v)
{
    if (v)
        (void)json_array_append_new(a, v);
}

static void fmt_duration(uint64_t ns, char *out, size_t n)
{
    uint64_t s = ns / NS_PER_S;
    if (s < 60)
        snprintf(out, n, "%llu s", (unsigned long long)s);
    else if (s < 3600)
        snprintf(out, n, "%llu min %llu s", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, n, "%llu h %llu min", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
}

static json_t *secs_or_null(uint64_t a, uint64_t b)
{
    return a && b && b >= a ? json_integer((json_int_t)((b - a) / NS_PER_S)) : json_null();
}

/* ---- the view of the investigation the sections read ---- */

typedef struct inv_view {
    const json_t *inv, *scope, *impact, *hyps, *lead, *trigger;
    const char *service, *operation, *cause, *origin, *dep, *version, *instance, *comp_op;
    const char *trigger_kind, *trigger_name;
    uint64_t onset, from, to, end, alarm, created, completed;
    double requests, failed, er, ber, p99, bp99;
    bool latency_symptom;
    char where[600]; /* "service" or "service operation" (raw; renderers escape) */
} inv_view;

static const json_t *ev_find(const json_t *hyp, const char *kind)
{
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(hyp, "evidence"), i, ev)
    {
        if (strcmp(fw__report_str(ev, "kind"), kind) == 0)
            return ev;
    }
    return NULL;
}

static const char *first_trace(const json_t *ev)
{
    const char *s = json_string_value(json_array_get(json_object_get(ev, "trace_ids"), 0));
    return s ? s : "";
}

/* "summary (count N, e.g. trace X, first seen T)" of one evidence item. */
static json_t *cite(const json_t *ev)
{
    if (!ev)
        return json_string("no direct evidence recorded");
    const char *tr = first_trace(ev);
    const char *fs = fw__report_str(ev, "first_seen");
    return fmt("%s evidence: %s (count %.0f%s%s%s%s)", fw__report_str(ev, "kind"),
               fw__report_str(ev, "summary"), fw__report_num(ev, "count"), tr[0] ? ", e.g. trace " : "",
               tr, fs[0] ? ", first seen " : "", fs);
}

static const char *cause_label(const char *cause)
{
    static const struct {
        const char *cause, *label;
    } labels[] = {{"deployment", "a deployment"},
                  {"throttling", "throttling"},
                  {"dependency_failure", "a failing dependency"},
                  {"code_error", "a code error"},
                  {"latency", "added latency"},
                  {"traffic_surge", "a traffic surge"}};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (strcmp(cause, labels[i].cause) == 0)
            return labels[i].label;
    return "an undetermined cause";
}

static void view_init(inv_view *v, const json_t *inv)
{
    memset(v, 0, sizeof(*v));
    v->inv = inv;
    v->scope = json_object_get(inv, "scope");
    v->impact = json_object_get(inv, "impact");
    v->hyps = json_object_get(inv, "hypotheses");
    v->lead = json_array_get(v->hyps, 0);
    v->trigger = json_object_get(inv, "trigger");
    v->service = fw__report_str(v->scope, "service");
    v->operation = fw__report_str(v->scope, "operation");
    const json_t *comp = json_object_get(v->lead, "component");
    v->cause = fw__report_str(v->lead, "cause");
    v->origin = fw__report_str(comp, "service");
    if (!v->origin[0])
        v->origin = v->service;
    v->dep = fw__report_str(comp, "dependency");
    v->version = fw__report_str(comp, "version");
    v->instance = fw__report_str(comp, "instance");
    v->comp_op = fw__report_str(comp, "operation");
    v->trigger_kind = fw__report_str(v->trigger, "kind");
    v->trigger_name = fw__report_str(v->trigger, "name");
    v->from = fw_report_parse_time(fw__report_str(v->scope, "from"));
    v->to = fw_report_parse_time(fw__report_str(v->scope, "to"));
    v->onset = fw_report_parse_time(fw__report_str(v->scope, "onset"));
    if (!v->onset)
        v->onset = v->from;
    v->created = fw_report_parse_time(fw__report_str(inv, "created_at"));
    v->completed = fw_report_parse_time(fw__report_str(inv, "completed_at"));
    if (strcmp(v->trigger_kind, "manual") != 0)
        v->alarm = fw_report_parse_time(fw__report_str(v->trigger, "at"));
    /* The incident ends with the last failing evidence of the leading
     * hypothesis inside the window, or with the window. */
    v->end = v->to;
    uint64_t last = 0;
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(v->lead, "evidence"), i, ev)
    {
        uint64_t t = fw_report_parse_time(fw__report_str(ev, "last_seen"));
        if (t > last)
            last = t;
    }
    if (last > v->onset && (!v->to || last < v->to))
        v->end = last;
    v->requests = fw__report_num(v->impact, "requests");
    v->failed = fw__report_num(v->impact, "failed_requests");
    v->er = fw__report_num(v->impact, "error_rate");
    v->ber = fw__report_num(v->impact, "baseline_error_rate");
    v->p99 = fw__report_num(v->impact, "p99_ms");
    v->bp99 = fw__report_num(v->impact, "baseline_p99_ms");
    bool errors_up = v->er > v->ber * 1.5 && v->er > 0.001;
    v->latency_symptom =
        strcmp(v->cause, "latency") == 0 || (!errors_up && v->bp99 > 0 && v->p99 > 2 * v->bp99);
    if (v->operation[0])
        snprintf(v->where, sizeof(v->where), "%s %s", v->service, v->operation);
    else
        snprintf(v->where, sizeof(v->where), "%s", v->service);
}

/* ---- sections ---- */

static json_t *build_impact(const inv_view *v)
{
    json_t *o = json_object();
    set(o, "requests", json_real(v->requests));
    set(o, "failed_requests", json_real(v->failed));
    set(o, "error_rate", json_real(v->er));
    set(o, "baseline_error_rate", json_real(v->ber));
    set(o, "p99_ms", json_real(v->p99));
    set(o, "baseline_p99_ms", json_real(v->bp99));
    set(o, "onset", json_string(fw__report_str(v->scope, "onset")));
    set(o, "from", json_string(fw__report_str(v->scope, "from")));
    set(o, "to", json_string(fw__report_str(v->scope, "to")));
    set(o, "duration_seconds", secs_or_null(v->onset, v->end));
    json_t *ops = json_object_get(v->impact, "affected_operations");
    set(o, "affected_operations", json_is_array(ops) ? json_deep_copy(ops) : json_array());
    return o;
}

static json_t *build_timeline(const inv_view *v)
{
    json_t *a = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(v->inv, "timeline"), i, e)
    {
        json_t *x = json_object();
        set(x, "at", json_string(fw__report_str(e, "at")));
        set(x, "event", json_string(fw__report_str(e, "event")));
        push(a, x);
    }
    if (v->alarm && strcmp(v->trigger_kind, "alarm") != 0) {
        json_t *x = json_object();
        set(x, "at", json_string(fw__report_str(v->trigger, "at")));
        set(x, "event", fmt("%s %s fired", v->trigger_kind, v->trigger_name));
        push(a, x);
    }
    const char *ca = fw__report_str(v->inv, "created_at");
    const char *co = fw__report_str(v->inv, "completed_at");
    if (ca[0]) {
        json_t *x = json_object();
        set(x, "at", json_string(ca));
        set(x, "event", json_string("investigation started"));
        push(a, x);
    }
    if (co[0]) {
        json_t *x = json_object();
        set(x, "at", json_string(co));
        set(x, "event", json_string("investigation finished: leading hypothesis available"));
        push(a, x);
    }
    /* Sort by time (insertion sort: a handful of events). */
    size_t n = json_array_size(a);
    for (size_t k = 1; k < n; k++)
        for (size_t j = k; j > 0; j--) {
            json_t *p = json_array_get(a, j - 1), *q = json_array_get(a, j);
            if (fw_report_parse_time(fw__report_str(p, "at")) <=
                fw_report_parse_time(fw__report_str(q, "at")))
                break;
            json_incref(p);
            (void)json_array_set(a, j - 1, q);
            (void)json_array_set_new(a, j, p);
        }
    return a;
}

static json_t *build_root_cause(const inv_view *v)
{
    if (!v->lead)
        return json_null();
    json_t *o = json_deep_copy(v->lead);
    json_t *cited = json_array();
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(v->lead, "evidence"), i, ev) push(cited, cite(ev));
    set(o, "evidence_cited", cited);
    return o;
}

static json_t *build_others(const inv_view *v)
{
    json_t *a = json_array();
    double lead_score = fw__report_num(v->lead, "score");
    size_t lead_ev = json_array_size(json_object_get(v->lead, "evidence"));
    size_t i;
    const json_t *h;
    json_array_foreach(v->hyps, i, h)
    {
        if (i == 0)
            continue;
        json_t *x = json_object();
        set(x, "rank", json_integer((json_int_t)(i + 1)));
        set(x, "title", json_string(fw__report_str(h, "title")));
        set(x, "cause", json_string(fw__report_str(h, "cause")));
        set(x, "score", json_real(fw__report_num(h, "score")));
        set(x, "confidence", json_string(fw__report_str(h, "confidence")));
        size_t nev = json_array_size(json_object_get(h, "evidence"));
        set(x, "why_lower",
            fmt("Scores %.2f against %.2f for the leading hypothesis; it is backed by %zu "
                "evidence item%s against %zu and explains less of the failing requests. %s",
                fw__report_num(h, "score"), lead_score, nev, nev == 1 ? "" : "s", lead_ev,
                fw__report_str(h, "what_happened")));
        push(a, x);
    }
    return a;
}

static json_t *why(json_t *q, json_t *ans, json_t *ev)
{
    json_t *o = json_object();
    set(o, "question", q);
    set(o, "answer", ans);
    set(o, "evidence", ev);
    return o;
}

/* The mechanism that let the root cause reach customers, phrased as a
 * system gap (never a person). */
static json_t *mechanism(const inv_view *v)
{
    const char *c = v->cause;
    if (strcmp(c, "deployment") == 0)
        return fmt("The rollout of %s %s had no automatic guard: no canary or error-rate check "
                   "stopped or rolled it back before customers were affected.",
                   v->origin, v->version[0] ? v->version : "(new version)");
    if (strcmp(c, "throttling") == 0)
        return fmt("Calls from %s to %s retried without backoff and jitter and had no capacity "
                   "headroom or quota alarm, so throttling turned into customer-facing errors.",
                   v->origin, v->dep[0] ? v->dep : "the dependency");
    if (strcmp(c, "dependency_failure") == 0)
        return fmt("%s had no fallback, circuit breaker or bounded retry around %s, so the "
                   "dependency's failures propagated to its callers.",
                   v->origin, v->dep[0] ? v->dep : "the dependency");
    if (strcmp(c, "code_error") == 0)
        return fmt("The failing path of %s%s%s was not exercised by the release checks (tests, "
                   "canary), and no guard contained the error once it ran in production.",
                   v->origin, v->comp_op[0] ? " " : "", v->comp_op);
    if (strcmp(c, "latency") == 0)
        return fmt("Calls on the path through %s%s%s had no timeout budget or load shedding, "
                   "so slow responses added up to customer-facing latency.",
                   v->origin, v->dep[0] ? " to " : "", v->dep);
    if (strcmp(c, "traffic_surge") == 0)
        return fmt("Capacity of %s did not scale with the load and no admission control or "
                   "rate limit shed the excess traffic.",
                   v->origin);
    return json_string("The investigation found no leading cause: the mechanism is still to be "
                       "determined from the evidence.");
}

static json_t *build_whys(const inv_view *v, uint64_t ttd)
{
    char d[64];
    fmt_duration(ttd, d, sizeof(d));
    json_t *a = json_array();
    const json_t *lead = v->lead;
    const json_t *spans = ev_find(lead, "spans");
    const json_t *dep_ev = ev_find(lead, "deployment");
    const json_t *metric = ev_find(lead, "metric");
    const json_t *pattern = ev_find(lead, "log_pattern");
    const json_t *any = json_array_get(json_object_get(lead, "evidence"), 0);
    const json_t *root_ev = any;
    if (dep_ev)
        root_ev = dep_ev;
    else if (strcmp(v->cause, "code_error") == 0 && pattern)
        root_ev = pattern;
    else if (metric)
        root_ev = metric;
    else if (spans)
        root_ev = spans;
    else if (pattern)
        root_ev = pattern;
    /* 1: the customer-facing symptom. */
    if (v->latency_symptom)
        push(a, why(fmt("Why did customers of %s see slow responses?", v->where),
                    fmt("The p99 latency of %s rose to %.1f ms against a baseline of %.1f ms "
                        "from the onset at %s.",
                        v->where, v->p99, v->bp99, fw__report_str(v->scope, "onset")),
                    fmt("impact: p99 %.1f ms vs %.1f ms over %.0f requests", v->p99, v->bp99,
                        v->requests)));
    else
        push(a, why(fmt("Why did customers of %s see errors?", v->where),
                    fmt("%.0f of %.0f requests to %s failed (error rate %.2f %% against a "
                        "baseline of %.2f %%) from the onset at %s.",
                        v->failed, v->requests, v->where, v->er * 100.0, v->ber * 100.0,
                        fw__report_str(v->scope, "onset")),
                    fmt("impact: %.0f failed requests of %.0f", v->failed, v->requests)));
    /* 2: the failing path. */
    push(a, why(fmt("Why did requests to %s %s?", v->service,
                    v->latency_symptom ? "slow down" : "fail"),
                fmt("The %s originated downstream on the path through %s%s%s%s%s.",
                    v->latency_symptom ? "added time" : "failures", v->origin,
                    v->comp_op[0] ? " (" : "", v->comp_op, v->comp_op[0] ? ")" : "",
                    strcmp(v->origin, v->service) == 0 ? ", the scoped service itself" : ""),
                cite(spans ? spans : any)));
    /* 3: the origin service / dependency. */
    if (v->dep[0])
        push(a, why(fmt("Why did %s %s?", v->origin,
                        v->latency_symptom ? "respond slowly" : "fail"),
                    fmt("Its calls to the dependency %s %s.", v->dep,
                        v->latency_symptom ? "slowed down" : "failed"),
                    cite(metric ? metric : spans ? spans : any)));
    else
        push(a, why(fmt("Why did %s %s?", v->origin,
                        v->latency_symptom ? "respond slowly" : "fail"),
                    fmt("The fault is confined to %s%s%s%s%s, not to its callers.", v->origin,
                        v->comp_op[0] ? " " : "", v->comp_op, v->instance[0] ? " on instance " : "",
                        v->instance),
                    cite(spans ? spans : any)));
    /* 4: the root cause. */
    push(a, why(fmt("Why did %s start %s at %s?", v->dep[0] ? v->dep : v->origin,
                    v->latency_symptom ? "slowing down" : "failing",
                    fw__report_str(v->scope, "onset")),
                lead ? fmt("Root cause (%s): %s", cause_label(v->cause),
                           fw__report_str(lead, "title"))
                     : json_string("Root cause not determined: the investigation produced no "
                                   "hypothesis."),
                cite(root_ev)));
    /* 5: the mechanism that failed. */
    push(a, why(fmt("Why did %s reach customers?", cause_label(v->cause)), mechanism(v),
                fmt("time to detect %s; %zu monitoring gap%s recorded",
                    ttd ? d : "not measured (no alarm)",
                    json_array_size(json_object_get(v->inv, "monitoring_gaps")),
                    json_array_size(json_object_get(v->inv, "monitoring_gaps")) == 1 ? "" : "s")));
    return a;
}

static json_t *build_went_well(const inv_view *v, uint64_t ttd, uint64_t ttdiag)
{
    json_t *a = json_array();
    char d[64];
    if (strcmp(v->trigger_kind, "alarm") == 0 || strcmp(v->trigger_kind, "slo") == 0) {
        fmt_duration(ttd, d, sizeof(d));
        push(a, fmt("Detected automatically by the %s%s %s%s%s.",
                    strcmp(v->trigger_kind, "slo") == 0 ? "SLO" : "alarm",
                    strcmp(v->trigger_kind, "slo") == 0 ? " burn-rate alarm" : "", v->trigger_name,
                    ttd ? ", time to detect " : "", ttd ? d : ""));
    }
    if (ttdiag && ttdiag <= 15ull * 60ull * NS_PER_S) {
        fmt_duration(ttdiag, d, sizeof(d));
        push(a, fmt("Fast diagnosis: a ranked root cause with evidence was available %s after "
                    "the %s.",
                    d, v->alarm ? "alarm" : "investigation started"));
    }
    if (strcmp(fw__report_str(v->lead, "confidence"), "high") == 0)
        push(a, fmt("The evidence pointed at one cause with high confidence (score %.2f).",
                    fw__report_num(v->lead, "score")));
    const json_t *spans = ev_find(v->lead, "spans");
    if (spans && first_trace(spans)[0])
        push(a, fmt("Failing traces were recorded and available as examples (e.g. %s).",
                    first_trace(spans)));
    if (ev_find(v->lead, "deployment"))
        push(a, json_string("The deployment was recorded, so the change could be correlated "
                            "with the onset."));
    if (json_array_size(a) == 0)
        push(a, json_string("Nothing stood out from the evidence: add what went well."));
    return a;
}

static void action(json_t *a, json_t *text)
{
    json_t *o = json_object();
    set(o, "action", text);
    set(o, "owner", json_string(""));
    push(a, o);
}

static json_t *build_actions(const inv_view *v)
{
    json_t *a = json_array();
    const char *c = v->cause;
    const char *dep = v->dep[0] ? v->dep : v->origin;
    if (strcmp(c, "deployment") == 0) {
        action(a, fmt("Roll back %s %s to the previous version.", v->origin,
                      v->version[0] ? v->version : "(suspect version)"));
        action(a, fmt("Add an automatic rollback guard (canary with an error-rate check) to "
                      "deployments of %s.",
                      v->origin));
    } else if (strcmp(c, "throttling") == 0) {
        action(a, fmt("Add an alarm on throttling of %s.", dep));
        action(a, fmt("Add backoff and retries with jitter to the calls from %s to %s.", v->origin,
                      dep));
        action(a, fmt("Raise the quota or capacity of %s, or reduce the call rate.", dep));
    } else if (strcmp(c, "dependency_failure") == 0) {
        action(a, fmt("Add a circuit breaker or fallback around calls from %s to %s.", v->origin,
                      dep));
        action(a, fmt("Add an alarm on the error rate of calls to %s.", dep));
    } else if (strcmp(c, "code_error") == 0) {
        action(a, fmt("Fix the failing code path in %s%s%s and add a test that reproduces it.",
                      v->origin, v->comp_op[0] ? " " : "", v->comp_op));
    } else if (strcmp(c, "latency") == 0) {
        action(a, fmt("Add a timeout budget on calls to %s and a p99 latency alarm on %s.", dep,
                      v->where));
    } else if (strcmp(c, "traffic_surge") == 0) {
        action(a, fmt("Add autoscaling or load shedding to %s.", v->origin));
    }
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(v->lead, "suggested_actions"), i, x)
    {
        if (json_is_string(x))
            action(a, json_string(json_string_value(x)));
    }
    if (strcmp(v->trigger_kind, "alarm") != 0 && strcmp(v->trigger_kind, "slo") != 0)
        action(a, fmt("Add an SLO with a burn-rate alarm on the error rate of %s.", v->where));
    json_array_foreach(json_object_get(v->inv, "monitoring_gaps"), i, x)
        action(a, fmt("Close the monitoring gap: %s (add instrumentation for %s).",
                      fw__report_str(x, "summary"), v->dep[0] ? v->dep : v->origin));
    return a;
}

static json_t *build_questions(uint64_t ttd, uint64_t ttdiag)
{
    json_t *a = json_array();
    char d[64];
    json_t *q = json_object();
    set(q, "question", json_string("How would you have cut the time to detect in half?"));
    fmt_duration(ttd, d, sizeof(d));
    set(q, "measured", ttd ? fmt("time to detect (alarm - onset): %s", d)
                           : json_string("time to detect: not measured (no alarm time)"));
    push(a, q);
    q = json_object();
    set(q, "question", json_string("How would you have cut the time to diagnose in half?"));
    fmt_duration(ttdiag, d, sizeof(d));
    set(q, "measured", ttdiag ? fmt("time to diagnose (investigation end - alarm): %s", d)
                              : json_string("time to diagnose: not measured"));
    push(a, q);
    return a;
}

static json_t *build_topology(const inv_view *v)
{
    json_t *o = json_object(), *nodes = json_array(), *edges = json_array();
    bool dep_suspect = v->dep[0] && (strcmp(v->cause, "throttling") == 0 ||
                                     strcmp(v->cause, "dependency_failure") == 0 ||
                                     strcmp(v->cause, "latency") == 0);
    json_t *n = json_object();
    set(n, "name", json_string(v->service));
    set(n, "role", json_string("symptom"));
    set(n, "suspect", json_boolean(strcmp(v->origin, v->service) == 0 && !dep_suspect));
    push(nodes, n);
    const char *prev = v->service;
    if (strcmp(v->origin, v->service) != 0) {
        n = json_object();
        set(n, "name", json_string(v->origin));
        set(n, "role", json_string("origin"));
        set(n, "suspect", json_boolean(!dep_suspect));
        push(nodes, n);
        json_t *e = json_object();
        set(e, "source", json_string(v->service));
        set(e, "target", json_string(v->origin));
        push(edges, e);
        prev = v->origin;
    }
    if (v->dep[0]) {
        n = json_object();
        set(n, "name", json_string(v->dep));
        set(n, "role", json_string("dependency"));
        set(n, "suspect", json_boolean(dep_suspect));
        push(nodes, n);
        json_t *e = json_object();
        set(e, "source", json_string(prev));
        set(e, "target", json_string(v->dep));
        push(edges, e);
    }
    set(o, "nodes", nodes);
    set(o, "edges", edges);
    return o;
}

static json_t *build_markers(const inv_view *v)
{
    json_t *a = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(v->inv, "timeline"), i, e)
    {
        const char *ev = fw__report_str(e, "event");
        const char *label = strncmp(ev, "deployment", 10) == 0 ? "deployment"
                            : strncmp(ev, "onset", 5) == 0     ? "onset"
                            : strncmp(ev, "alarm", 5) == 0     ? "alarm"
                                                               : NULL;
        if (!label)
            continue;
        json_t *m = json_object();
        set(m, "at", json_string(fw__report_str(e, "at")));
        set(m, "label", json_string(label));
        push(a, m);
    }
    return a;
}

json_t *fw__report_model(const json_t *inv, char *err, size_t errlen)
{
    if (!json_is_object(inv) || !json_is_object(json_object_get(inv, "scope"))) {
        snprintf(err, errlen, "not an investigation object (no scope)");
        return NULL;
    }
    inv_view v;
    view_init(&v, inv);
    uint64_t ttd = v.alarm && v.alarm >= v.onset ? v.alarm - v.onset : 0;
    uint64_t diag_from = v.alarm ? v.alarm : v.created;
    uint64_t ttdiag = v.completed && diag_from && v.completed >= diag_from ? v.completed - diag_from
                                                                          : 0;
    json_t *m = json_object();
    set(m, "investigation_id", json_string(fw__report_str(inv, "id")));
    set(m, "status", json_string(fw__report_str(inv, "status")));
    const char *onset_s = fw__report_str(v.scope, "onset");
    set(m, "title", v.lead ? fmt("%s on %s from %s: %s",
                                 v.latency_symptom ? "High latency" : "Elevated errors", v.where,
                                 onset_s, fw__report_str(v.lead, "title"))
                           : fmt("%s on %s from %s: cause not determined",
                                 v.latency_symptom ? "High latency" : "Elevated errors", v.where,
                                 onset_s));
    char dur[64];
    fmt_duration(v.end > v.onset ? v.end - v.onset : 0, dur, sizeof(dur));
    json_t *summary;
    if (v.lead)
        summary = fmt("For %s from %s, %.0f of %.0f requests to %s failed (error rate %.2f %% "
                      "against a baseline of %.2f %%; p99 %.1f ms against %.1f ms). The leading "
                      "hypothesis (%s, score %.2f, %s confidence) is %s: %s",
                      dur, onset_s, v.failed, v.requests, v.where, v.er * 100.0, v.ber * 100.0,
                      v.p99, v.bp99, v.cause, fw__report_num(v.lead, "score"),
                      fw__report_str(v.lead, "confidence"), cause_label(v.cause),
                      fw__report_str(v.lead, "title"));
    else
        summary = fmt("For %s from %s, %.0f of %.0f requests to %s failed (error rate %.2f %% "
                      "against %.2f %%). The investigation (%s) found no leading hypothesis.",
                      dur, onset_s, v.failed, v.requests, v.where, v.er * 100.0, v.ber * 100.0,
                      fw__report_str(inv, "status"));
    set(m, "summary", summary);
    set(m, "impact", build_impact(&v));
    set(m, "timeline", build_timeline(&v));
    set(m, "time_to_detect_seconds", ttd ? json_integer((json_int_t)(ttd / NS_PER_S)) : json_null());
    set(m, "time_to_diagnose_seconds",
        ttdiag ? json_integer((json_int_t)(ttdiag / NS_PER_S)) : json_null());
    set(m, "root_cause", build_root_cause(&v));
    set(m, "other_hypotheses", build_others(&v));
    set(m, "five_whys", build_whys(&v, ttd));
    set(m, "what_went_well", build_went_well(&v, ttd, ttdiag));
    json_t *gaps = json_object_get(inv, "monitoring_gaps");
    set(m, "monitoring_gaps", json_is_array(gaps) ? json_deep_copy(gaps) : json_array());
    set(m, "action_items", build_actions(&v));
    set(m, "questions", build_questions(ttd, ttdiag));
    json_t *lessons = json_array();
    push(lessons, json_string("What did we learn about how this system fails?"));
    push(lessons, json_string("Which assumption about the dependency or the change turned out "
                              "wrong?"));
    push(lessons, json_string("What would make the next incident of this kind smaller?"));
    set(m, "lessons_learned", lessons);
    set(m, "topology", build_topology(&v));
    set(m, "markers", build_markers(&v));
    return m;
}
