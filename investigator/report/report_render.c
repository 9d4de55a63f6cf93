/* report_render.c - the Markdown and HTML renderings of the report model.
 * Every string that came from telemetry goes through fw_report_md_escape or
 * fw_report_html_escape; only fixed markup is written raw. The HTML is one
 * self-contained page: inline CSS, inline SVG graphs drawn here, no script
 * and no external asset. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"

#define S(o, k) fw__report_str((o), (k))

/* ---- Markdown ---- */

static int md(fw_buf *b, const char *s)
{
    return fw_report_md_escape(b, s, strlen(s));
}

static int md_num_or(fw_buf *b, const json_t *o, const char *k, const char *unit)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        return fw_buf_append_str(b, "unknown");
    return fw_buf_printf(b, "%.0f%s", json_number_value(v), unit);
}

static void fmt_secs(const json_t *v, char *out, size_t n)
{
    if (!json_is_integer(v)) {
        snprintf(out, n, "not measured");
        return;
    }
    long long s = (long long)json_integer_value(v);
    if (s < 60)
        snprintf(out, n, "%lld s", s);
    else if (s < 3600)
        snprintf(out, n, "%lld min %lld s", s / 60, s % 60);
    else
        snprintf(out, n, "%lld h %lld min", s / 3600, s % 3600 / 60);
}

static int md_list(fw_buf *b, const json_t *a)
{
    int rv = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x)
    {
        if (!rv)
            rv = fw_buf_append_str(b, "- ");
        if (!rv)
            rv = md(b, json_is_string(x) ? json_string_value(x) : "");
        if (!rv)
            rv = fw_buf_append(b, "\n", 1);
    }
    return rv;
}

int fw__report_render_md(const json_t *m, fw_buf *b)
{
    const json_t *imp = json_object_get(m, "impact");
    const json_t *rc = json_object_get(m, "root_cause");
    char d[64];
    size_t i;
    const json_t *x;
    int rv = fw_buf_append_str(b, "# Incident report: ");
    if (!rv) rv = md(b, S(m, "title"));
    if (!rv) rv = fw_buf_append_str(b, "\n\n*Draft Correction of Error drafted from investigation ");
    if (!rv) rv = md(b, S(m, "investigation_id"));
    if (!rv) rv = fw_buf_append_str(b, ". Review every section before publishing.*\n\n## Summary\n\n");
    if (!rv) rv = md(b, S(m, "summary"));
    if (!rv) rv = fw_buf_append_str(b, "\n\n## Customer impact\n\n| Measure | Value |\n|---|---|\n"
                                       "| Requests affected | ");
    if (!rv) rv = md_num_or(b, imp, "requests", "");
    if (!rv) rv = fw_buf_append_str(b, " |\n| Failed requests | ");
    if (!rv) rv = md_num_or(b, imp, "failed_requests", "");
    if (!rv)
        rv = fw_buf_printf(b, " |\n| Error rate (incident vs baseline) | %.2f %% vs %.2f %% |\n"
                              "| p99 latency (incident vs baseline) | %.1f ms vs %.1f ms |\n"
                              "| Duration | ",
                           fw__report_num(imp, "error_rate") * 100.0,
                           fw__report_num(imp, "baseline_error_rate") * 100.0,
                           fw__report_num(imp, "p99_ms"), fw__report_num(imp, "baseline_p99_ms"));
    fmt_secs(json_object_get(imp, "duration_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "%s from ", d);
    if (!rv) rv = md(b, S(imp, "onset"));
    if (!rv) rv = fw_buf_append_str(b, " |\n| Affected operations | ");
    json_array_foreach(json_object_get(imp, "affected_operations"), i, x)
    {
        if (!rv && i) rv = fw_buf_append_str(b, ", ");
        if (!rv) rv = md(b, json_is_string(x) ? json_string_value(x) : "");
    }
    if (!rv && json_array_size(json_object_get(imp, "affected_operations")) == 0)
        rv = fw_buf_append_str(b, "none recorded");
    if (!rv) rv = fw_buf_append_str(b, " |\n\n## Timeline\n\n| Time (UTC) | Event |\n|---|---|\n");
    json_array_foreach(json_object_get(m, "timeline"), i, x)
    {
        if (!rv) rv = fw_buf_append_str(b, "| ");
        if (!rv) rv = md(b, S(x, "at"));
        if (!rv) rv = fw_buf_append_str(b, " | ");
        if (!rv) rv = md(b, S(x, "event"));
        if (!rv) rv = fw_buf_append_str(b, " |\n");
    }
    fmt_secs(json_object_get(m, "time_to_detect_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "\n- Time to detect (alarm - onset): %s\n", d);
    fmt_secs(json_object_get(m, "time_to_diagnose_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "- Time to diagnose (investigation end - alarm): %s\n", d);

    if (!rv) rv = fw_buf_append_str(b, "\n## Root cause\n\n");
    if (!rv && !json_is_object(rc))
        rv = fw_buf_append_str(b, "Not determined: the investigation produced no hypothesis.\n");
    if (!rv && json_is_object(rc)) {
        const json_t *c = json_object_get(rc, "component");
        rv = fw_buf_append_str(b, "**");
        if (!rv) rv = md(b, S(rc, "title"));
        if (!rv) rv = fw_buf_printf(b, "** (score %.2f)\n\n", fw__report_num(rc, "score"));
        if (!rv) rv = fw_buf_append_str(b, "Cause: ");
        if (!rv) rv = md(b, S(rc, "cause"));
        if (!rv) rv = fw_buf_append_str(b, "; confidence: ");
        if (!rv) rv = md(b, S(rc, "confidence"));
        if (!rv) rv = fw_buf_append_str(b, "; component: service ");
        if (!rv) rv = md(b, S(c, "service"));
        static const char *const extra[] = {"operation", "dependency", "version", "instance"};
        for (size_t k = 0; k < 4; k++)
            if (!rv && S(c, extra[k])[0]) {
                rv = fw_buf_printf(b, ", %s ", extra[k]);
                if (!rv) rv = md(b, S(c, extra[k]));
            }
        if (!rv) rv = fw_buf_append_str(b, "\n\n");
        if (!rv) rv = md(b, S(rc, "what_happened"));
        if (!rv) rv = fw_buf_append_str(b, "\n\nEvidence:\n\n");
        if (!rv) rv = md_list(b, json_object_get(rc, "evidence_cited"));
        json_array_foreach(json_object_get(rc, "evidence"), i, x)
        {
            size_t k;
            const json_t *t;
            if (json_array_size(json_object_get(x, "trace_ids")) == 0)
                continue;
            if (!rv) rv = fw_buf_append_str(b, "- Example traces (");
            if (!rv) rv = md(b, S(x, "kind"));
            if (!rv) rv = fw_buf_append_str(b, "):");
            json_array_foreach(json_object_get(x, "trace_ids"), k, t)
            {
                if (!rv) rv = fw_buf_append_str(b, " ");
                if (!rv) rv = md(b, json_is_string(t) ? json_string_value(t) : "");
            }
            if (!rv) rv = fw_buf_append(b, "\n", 1);
        }
    }
    if (!rv) rv = fw_buf_append_str(b, "\n## Other hypotheses considered\n\n");
    if (!rv && json_array_size(json_object_get(m, "other_hypotheses")) == 0)
        rv = fw_buf_append_str(b, "None: the investigation ranked a single hypothesis.\n");
    else if (!rv)
        rv = fw_buf_append_str(b, "| Rank | Hypothesis | Cause | Score | Why it ranks lower |\n"
                                  "|---|---|---|---|---|\n");
    json_array_foreach(json_object_get(m, "other_hypotheses"), i, x)
    {
        if (!rv) rv = fw_buf_printf(b, "| %lld | ", (long long)json_integer_value(json_object_get(x, "rank")));
        if (!rv) rv = md(b, S(x, "title"));
        if (!rv) rv = fw_buf_append_str(b, " | ");
        if (!rv) rv = md(b, S(x, "cause"));
        if (!rv) rv = fw_buf_printf(b, " | %.2f | ", fw__report_num(x, "score"));
        if (!rv) rv = md(b, S(x, "why_lower"));
        if (!rv) rv = fw_buf_append_str(b, " |\n");
    }
    if (!rv) rv = fw_buf_append_str(b, "\n## 5 whys\n\n");
    json_array_foreach(json_object_get(m, "five_whys"), i, x)
    {
        if (!rv) rv = fw_buf_printf(b, "%zu. **", i + 1);
        if (!rv) rv = md(b, S(x, "question"));
        if (!rv) rv = fw_buf_append_str(b, "** ");
        if (!rv) rv = md(b, S(x, "answer"));
        if (!rv) rv = fw_buf_append_str(b, " *Evidence: ");
        if (!rv) rv = md(b, S(x, "evidence"));
        if (!rv) rv = fw_buf_append_str(b, "*\n");
    }
    if (!rv) rv = fw_buf_append_str(b, "\n## What went well\n\n");
    if (!rv) rv = md_list(b, json_object_get(m, "what_went_well"));
    if (!rv) rv = fw_buf_append_str(b, "\n## Monitoring gaps\n\n");
    if (!rv && json_array_size(json_object_get(m, "monitoring_gaps")) == 0)
        rv = fw_buf_append_str(b, "None recorded by the investigation.\n");
    json_array_foreach(json_object_get(m, "monitoring_gaps"), i, x)
    {
        if (!rv) rv = fw_buf_append_str(b, "- **");
        if (!rv) rv = md(b, S(x, "summary"));
        if (!rv) rv = fw_buf_append_str(b, "**: ");
        if (!rv) rv = md(b, S(x, "detail"));
        if (!rv) rv = fw_buf_append(b, "\n", 1);
    }
    if (!rv) rv = fw_buf_append_str(b, "\n## Action items\n\n| # | Action | Owner |\n|---|---|---|\n");
    json_array_foreach(json_object_get(m, "action_items"), i, x)
    {
        if (!rv) rv = fw_buf_printf(b, "| %zu | ", i + 1);
        if (!rv) rv = md(b, S(x, "action"));
        if (!rv) rv = fw_buf_append_str(b, " |  |\n");
    }
    if (!rv) rv = fw_buf_append_str(b, "\n## Questions\n\n");
    json_array_foreach(json_object_get(m, "questions"), i, x)
    {
        if (!rv) rv = fw_buf_append_str(b, "### ");
        if (!rv) rv = md(b, S(x, "question"));
        if (!rv) rv = fw_buf_append_str(b, "\n\nMeasured: ");
        if (!rv) rv = md(b, S(x, "measured"));
        if (!rv) rv = fw_buf_append_str(b, "\n\nAnswer: *(to be written)*\n\n");
    }
    if (!rv) rv = fw_buf_append_str(b, "## Lessons learned\n\n");
    if (!rv) rv = md_list(b, json_object_get(m, "lessons_learned"));
    return rv;
}

/* ---- HTML ---- */

static int h(fw_buf *b, const char *s)
{
    return fw_report_html_escape(b, s, strlen(s));
}

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;"
    "max-width:60rem;margin:2rem auto;padding:0 1.5rem;line-height:1.45}"
    "h1{font-size:1.6rem;border-bottom:3px solid #b42318;padding-bottom:.4rem}"
    "h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}"
    "h3{font-size:1rem}"
    ".note{color:#57606a;font-style:italic}"
    "table{border-collapse:collapse;width:100%;margin:.6rem 0}"
    "th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;background:#f6f8fa;"
    "padding:0 .2em;word-break:break-all}"
    ".why{margin:.4rem 0}.ev{color:#57606a;font-size:.9em}"
    ".rc{border-left:4px solid #b42318;padding:.2rem 1rem;background:#fff5f5}"
    "svg{max-width:100%;height:auto;border:1px solid #d0d7de;background:#fff}"
    ".answer{min-height:3rem;border:1px dashed #d0d7de;padding:.4rem;color:#8c959f}"
    "@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}"
    "table,svg,.rc,li{break-inside:avoid}a{color:inherit}}";

static int h_tag(fw_buf *b, const char *open, const char *s, const char *close)
{
    int rv = fw_buf_append_str(b, open);
    if (!rv) rv = h(b, s);
    if (!rv) rv = fw_buf_append_str(b, close);
    return rv;
}

static int h_list(fw_buf *b, const json_t *a)
{
    int rv = fw_buf_append_str(b, "<ul>");
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x)
    {
        if (!rv) rv = h_tag(b, "<li>", json_is_string(x) ? json_string_value(x) : "", "</li>");
    }
    if (!rv) rv = fw_buf_append_str(b, "</ul>\n");
    return rv;
}

/* Graph 1: error rate and p99 around the onset, markers for onset,
 * deployments and alarm. Two stacked panels sharing the time axis. */
#define G_W 760.0
#define G_PANEL 150.0
#define G_LEFT 60.0
#define G_RIGHT 20.0
#define G_TOP 24.0

static double gx(uint64_t t, uint64_t t0, uint64_t t1)
{
    double span = t1 > t0 ? (double)(t1 - t0) : 1.0;
    return G_LEFT + (G_W - G_LEFT - G_RIGHT) * ((double)(t > t0 ? t - t0 : 0) / span);
}

static int svg_panel(fw_buf *b, const fw_report_series *s, uint64_t t0, uint64_t t1, double top,
                     bool latency, const char *color)
{
    double ymax = 0.0;
    for (size_t i = 0; i < s->n; i++) {
        const fw_report_point *p = &s->points[i];
        double v = latency ? p->p99_ms : (p->requests > 0 ? p->errors / p->requests * 100.0 : 0);
        if (isfinite(v) && v > ymax)
            ymax = v;
    }
    if (ymax <= 0.0)
        ymax = latency ? 1.0 : 1.0;
    ymax *= 1.1;
    double hgt = G_PANEL - 30.0;
    int rv = fw_buf_printf(b,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"#fafbfc\" stroke=\"#d0d7de\"/>"
                           "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#1b1f24\">%s "
                           "(max %.1f %s)</text>"
                           "<text x=\"4\" y=\"%.1f\" font-size=\"10\" fill=\"#57606a\">%.1f</text>"
                           "<text x=\"4\" y=\"%.1f\" font-size=\"10\" fill=\"#57606a\">0</text>",
                           G_LEFT, top, G_W - G_LEFT - G_RIGHT, hgt, G_LEFT, top - 6.0,
                           latency ? "p99 latency" : "error rate", ymax / 1.1,
                           latency ? "ms" : "%", top + 10.0, ymax / 1.1, top + hgt);
    if (!rv) rv = fw_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; !rv && i < s->n; i++) {
        const fw_report_point *p = &s->points[i];
        double v = latency ? p->p99_ms : (p->requests > 0 ? p->errors / p->requests * 100.0 : 0);
        if (!isfinite(v))
            v = 0;
        rv = fw_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", gx(p->t_ns, t0, t1),
                           top + hgt - hgt * (v / ymax));
    }
    if (!rv) rv = fw_buf_append_str(b, "\"/>");
    return rv;
}

static int svg_series(fw_buf *b, const json_t *m, const fw_report_series *s)
{
    if (!s || s->n < 2)
        return fw_buf_append_str(b, "<p class=\"note\">The RED series of the symptom was not "
                                    "available when this report was rendered.</p>\n");
    size_t n = s->n > FW_REPORT_SERIES_MAX ? FW_REPORT_SERIES_MAX : s->n;
    fw_report_series cut = {s->points, n};
    uint64_t t0 = s->points[0].t_ns, t1 = s->points[n - 1].t_ns;
    double total = G_TOP + 2 * G_PANEL + 20.0;
    int rv = fw_buf_printf(b,
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
                           "aria-label=\"error rate and p99 latency around the onset\" "
                           "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">",
                           G_W, total, G_W, total);
    if (!rv) rv = svg_panel(b, &cut, t0, t1, G_TOP, false, "#b42318");
    if (!rv) rv = svg_panel(b, &cut, t0, t1, G_TOP + G_PANEL, true, "#0969da");
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(m, "markers"), i, x)
    {
        uint64_t t = fw_report_parse_time(S(x, "at"));
        if (rv || t < t0 || t > t1)
            continue;
        const char *label = S(x, "label");
        const char *col = strcmp(label, "onset") == 0 ? "#b42318"
                          : strcmp(label, "alarm") == 0 ? "#9a6700"
                                                        : "#8250df";
        double px = gx(t, t0, t1);
        rv = fw_buf_printf(b,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                           "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%.1f\" "
                           "font-size=\"10\" fill=\"%s\">",
                           px, G_TOP, px, G_TOP + 2 * G_PANEL - 30.0, col, px + 3.0,
                           G_TOP + 12.0 + 11.0 * (double)(i % 3), col);
        if (!rv) rv = h(b, label);
        if (!rv) rv = fw_buf_append_str(b, "</text>");
    }
    char a[40], z[40];
    time_t ta = (time_t)(t0 / 1000000000ull), tz = (time_t)(t1 / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&ta, &tm) || !strftime(a, sizeof(a), "%H:%M:%S", &tm))
        a[0] = '\0';
    if (!gmtime_r(&tz, &tm) || !strftime(z, sizeof(z), "%H:%M:%S", &tm))
        z[0] = '\0';
    if (!rv)
        rv = fw_buf_printf(b,
                           "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#57606a\">%s "
                           "UTC</text><text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                           "fill=\"#57606a\" text-anchor=\"end\">%s UTC</text></svg>\n",
                           G_LEFT, total - 6.0, a, G_W - G_RIGHT, total - 6.0, z);
    return rv;
}

/* Graph 2: the affected part of the topology, suspect highlighted. */
static int svg_topology(fw_buf *b, const json_t *m)
{
    const json_t *nodes = json_object_get(json_object_get(m, "topology"), "nodes");
    size_t n = json_array_size(nodes);
    if (n == 0)
        return 0;
    double w = 40.0 + 250.0 * (double)n;
    int rv = fw_buf_printf(b,
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
                           "aria-label=\"affected topology\" viewBox=\"0 0 %.0f 120\" "
                           "width=\"%.0f\" height=\"120\"><defs><marker id=\"arrow\" "
                           "viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" "
                           "markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" "
                           "fill=\"#57606a\"/></marker></defs>",
                           w, w);
    size_t i;
    const json_t *x;
    json_array_foreach(nodes, i, x)
    {
        double px = 20.0 + 250.0 * (double)i;
        bool suspect = json_is_true(json_object_get(x, "suspect"));
        if (!rv && i)
            rv = fw_buf_printf(b,
                               "<line x1=\"%.1f\" y1=\"55\" x2=\"%.1f\" y2=\"55\" "
                               "stroke=\"#57606a\" stroke-width=\"2\" "
                               "marker-end=\"url(#arrow)\"/>",
                               px - 50.0, px - 2.0);
        if (!rv)
            rv = fw_buf_printf(b,
                               "<rect x=\"%.1f\" y=\"30\" width=\"200\" height=\"50\" rx=\"8\" "
                               "fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"/>"
                               "<text x=\"%.1f\" y=\"22\" font-size=\"11\" fill=\"#57606a\">",
                               px, suspect ? "#ffebe9" : "#f6f8fa",
                               suspect ? "#b42318" : "#8c959f", suspect ? "3" : "1", px);
        if (!rv) rv = h(b, S(x, "role"));
        if (!rv && suspect) rv = fw_buf_append_str(b, " (suspect)");
        if (!rv)
            rv = fw_buf_printf(b, "</text><text x=\"%.1f\" y=\"60\" font-size=\"13\" "
                                  "text-anchor=\"middle\" fill=\"#1b1f24\">",
                               px + 100.0);
        /* Long names are cut on a character boundary to fit the box. */
        const char *name = S(x, "name");
        size_t len = strlen(name);
        if (len > 26) {
            len = 24;
            while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
                len--;
        }
        if (!rv) rv = fw_report_html_escape(b, name, len);
        if (!rv && len < strlen(name)) rv = fw_buf_append_str(b, "\xE2\x80\xA6");
        if (!rv) rv = fw_buf_append_str(b, "</text>");
    }
    if (!rv) rv = fw_buf_append_str(b, "</svg>\n");
    return rv;
}

int fw__report_render_html(const json_t *m, const fw_report_series *series, fw_buf *b)
{
    const json_t *imp = json_object_get(m, "impact");
    const json_t *rc = json_object_get(m, "root_cause");
    char d[64];
    size_t i;
    const json_t *x;
    int rv = fw_buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                  "<meta name=\"viewport\" content=\"width=device-width\">"
                                  "<title>Incident report: ");
    if (!rv) rv = h(b, S(m, "title"));
    if (!rv) rv = fw_buf_printf(b, "</title><style>%s</style></head><body>\n", CSS);
    if (!rv) rv = h_tag(b, "<h1>Incident report: ", S(m, "title"), "</h1>\n");
    if (!rv) rv = h_tag(b, "<p class=\"note\">Draft Correction of Error drafted from investigation <code>",
                        S(m, "investigation_id"), "</code>. Review every section before publishing.</p>\n");
    if (!rv) rv = h_tag(b, "<h2>Summary</h2><p>", S(m, "summary"), "</p>\n");
    if (!rv)
        rv = fw_buf_printf(b,
                           "<h2>Customer impact</h2><table><tr><th>Measure</th><th>Value</th></tr>"
                           "<tr><td>Requests affected</td><td>%.0f</td></tr>"
                           "<tr><td>Failed requests</td><td>%.0f</td></tr>"
                           "<tr><td>Error rate (incident vs baseline)</td><td>%.2f %% vs %.2f %%</td></tr>"
                           "<tr><td>p99 latency (incident vs baseline)</td><td>%.1f ms vs %.1f ms</td></tr>"
                           "<tr><td>Duration</td><td>",
                           fw__report_num(imp, "requests"), fw__report_num(imp, "failed_requests"),
                           fw__report_num(imp, "error_rate") * 100.0,
                           fw__report_num(imp, "baseline_error_rate") * 100.0,
                           fw__report_num(imp, "p99_ms"), fw__report_num(imp, "baseline_p99_ms"));
    fmt_secs(json_object_get(imp, "duration_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "%s from ", d);
    if (!rv) rv = h(b, S(imp, "onset"));
    if (!rv) rv = fw_buf_append_str(b, "</td></tr><tr><td>Affected operations</td><td>");
    json_array_foreach(json_object_get(imp, "affected_operations"), i, x)
    {
        if (!rv) rv = h_tag(b, i ? ", <code>" : "<code>", json_is_string(x) ? json_string_value(x) : "", "</code>");
    }
    if (!rv) rv = fw_buf_append_str(b, "</td></tr></table>\n<h3>Error rate and p99 latency around the onset</h3>\n");
    if (!rv) rv = svg_series(b, m, series);
    if (!rv) rv = fw_buf_append_str(b, "<h2>Timeline</h2><table><tr><th>Time (UTC)</th><th>Event</th></tr>");
    json_array_foreach(json_object_get(m, "timeline"), i, x)
    {
        if (!rv) rv = h_tag(b, "<tr><td>", S(x, "at"), "</td>");
        if (!rv) rv = h_tag(b, "<td>", S(x, "event"), "</td></tr>");
    }
    fmt_secs(json_object_get(m, "time_to_detect_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "</table><ul><li>Time to detect (alarm &minus; onset): <strong>%s</strong></li>", d);
    fmt_secs(json_object_get(m, "time_to_diagnose_seconds"), d, sizeof(d));
    if (!rv) rv = fw_buf_printf(b, "<li>Time to diagnose (investigation end &minus; alarm): <strong>%s</strong></li></ul>\n", d);

    if (!rv) rv = fw_buf_append_str(b, "<h2>Root cause</h2>");
    if (!rv && !json_is_object(rc))
        rv = fw_buf_append_str(b, "<p>Not determined: the investigation produced no hypothesis.</p>\n");
    if (!rv && json_is_object(rc)) {
        const json_t *c = json_object_get(rc, "component");
        rv = h_tag(b, "<div class=\"rc\"><p><strong>", S(rc, "title"), "</strong></p><p>Cause: ");
        if (!rv) rv = h(b, S(rc, "cause"));
        if (!rv) rv = fw_buf_printf(b, "; score %.2f; confidence ", fw__report_num(rc, "score"));
        if (!rv) rv = h(b, S(rc, "confidence"));
        if (!rv) rv = h_tag(b, "; component: service <code>", S(c, "service"), "</code>");
        static const char *const extra[] = {"operation", "dependency", "version", "instance"};
        for (size_t k = 0; k < 4; k++)
            if (!rv && S(c, extra[k])[0]) {
                rv = fw_buf_printf(b, ", %s <code>", extra[k]);
                if (!rv) rv = h(b, S(c, extra[k]));
                if (!rv) rv = fw_buf_append_str(b, "</code>");
            }
        if (!rv) rv = h_tag(b, "</p><p>", S(rc, "what_happened"), "</p><p>Evidence:</p>");
        if (!rv) rv = h_list(b, json_object_get(rc, "evidence_cited"));
        json_array_foreach(json_object_get(rc, "evidence"), i, x)
        {
            size_t k;
            const json_t *t;
            if (rv || json_array_size(json_object_get(x, "trace_ids")) == 0)
                continue;
            rv = h_tag(b, "<p class=\"ev\">Example traces (", S(x, "kind"), "):");
            json_array_foreach(json_object_get(x, "trace_ids"), k, t)
            {
                if (!rv) rv = h_tag(b, " <code>", json_is_string(t) ? json_string_value(t) : "", "</code>");
            }
            if (!rv) rv = fw_buf_append_str(b, "</p>");
        }
        if (!rv) rv = fw_buf_append_str(b, "</div>\n");
    }
    if (!rv) rv = fw_buf_append_str(b, "<h3>Affected topology</h3>\n");
    if (!rv) rv = svg_topology(b, m);
    if (!rv) rv = fw_buf_append_str(b, "<h2>Other hypotheses considered</h2>");
    if (!rv && json_array_size(json_object_get(m, "other_hypotheses")) == 0)
        rv = fw_buf_append_str(b, "<p>None: the investigation ranked a single hypothesis.</p>\n");
    else if (!rv)
        rv = fw_buf_append_str(b, "<table><tr><th>Rank</th><th>Hypothesis</th><th>Cause</th>"
                                  "<th>Score</th><th>Why it ranks lower</th></tr>");
    json_array_foreach(json_object_get(m, "other_hypotheses"), i, x)
    {
        if (!rv) rv = fw_buf_printf(b, "<tr><td>%lld</td>", (long long)json_integer_value(json_object_get(x, "rank")));
        if (!rv) rv = h_tag(b, "<td>", S(x, "title"), "</td>");
        if (!rv) rv = h_tag(b, "<td>", S(x, "cause"), "</td>");
        if (!rv) rv = fw_buf_printf(b, "<td>%.2f</td>", fw__report_num(x, "score"));
        if (!rv) rv = h_tag(b, "<td>", S(x, "why_lower"), "</td></tr>");
    }
    if (!rv && json_array_size(json_object_get(m, "other_hypotheses")) > 0)
        rv = fw_buf_append_str(b, "</table>\n");
    if (!rv) rv = fw_buf_append_str(b, "<h2>5 whys</h2><ol>");
    json_array_foreach(json_object_get(m, "five_whys"), i, x)
    {
        if (!rv) rv = h_tag(b, "<li class=\"why\"><strong>", S(x, "question"), "</strong> ");
        if (!rv) rv = h(b, S(x, "answer"));
        if (!rv) rv = h_tag(b, "<br><span class=\"ev\">Evidence: ", S(x, "evidence"), "</span></li>");
    }
    if (!rv) rv = fw_buf_append_str(b, "</ol>\n<h2>What went well</h2>");
    if (!rv) rv = h_list(b, json_object_get(m, "what_went_well"));
    if (!rv) rv = fw_buf_append_str(b, "<h2>Monitoring gaps</h2>");
    if (!rv && json_array_size(json_object_get(m, "monitoring_gaps")) == 0)
        rv = fw_buf_append_str(b, "<p>None recorded by the investigation.</p>");
    else if (!rv)
        rv = fw_buf_append_str(b, "<ul>");
    json_array_foreach(json_object_get(m, "monitoring_gaps"), i, x)
    {
        if (!rv) rv = h_tag(b, "<li><strong>", S(x, "summary"), "</strong>: ");
        if (!rv) rv = h_tag(b, "", S(x, "detail"), "</li>");
    }
    if (!rv && json_array_size(json_object_get(m, "monitoring_gaps")) > 0)
        rv = fw_buf_append_str(b, "</ul>");
    if (!rv) rv = fw_buf_append_str(b, "\n<h2>Action items</h2><table><tr><th>#</th><th>Action</th><th>Owner</th></tr>");
    json_array_foreach(json_object_get(m, "action_items"), i, x)
    {
        if (!rv) rv = fw_buf_printf(b, "<tr><td>%zu</td>", i + 1);
        if (!rv) rv = h_tag(b, "<td>", S(x, "action"), "</td><td></td></tr>");
    }
    if (!rv) rv = fw_buf_append_str(b, "</table>\n<h2>Questions</h2>");
    json_array_foreach(json_object_get(m, "questions"), i, x)
    {
        if (!rv) rv = h_tag(b, "<h3>", S(x, "question"), "</h3>");
        if (!rv) rv = h_tag(b, "<p>Measured: ", S(x, "measured"), "</p><div class=\"answer\">Answer to be written.</div>");
    }
    if (!rv) rv = fw_buf_append_str(b, "\n<h2>Lessons learned</h2>");
    if (!rv) rv = h_list(b, json_object_get(m, "lessons_learned"));
    if (!rv) rv = fw_buf_append_str(b, "</body></html>\n");
    return rv;
}
