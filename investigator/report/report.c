/* report.c - the entry points of the report module: format names, escaping
 * of telemetry strings for Markdown and HTML, and fw_report_render, which
 * parses the investigation JSON (bounded by its caller's buffer), builds the
 * one report model and hands it to a renderer. Never reads anything but its
 * arguments. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

int fw_report_format_parse(const char *s, fw_report_format *out)
{
    if (!s || strcmp(s, "md") == 0 || strcmp(s, "markdown") == 0)
        *out = FW_REPORT_MD;
    else if (strcmp(s, "json") == 0)
        *out = FW_REPORT_JSON;
    else if (strcmp(s, "html") == 0)
        *out = FW_REPORT_HTML;
    else
        return FW_ERR_INVALID;
    return 0;
}

const char *fw_report_content_type(fw_report_format f)
{
    switch (f) {
    case FW_REPORT_JSON:
        return "application/json";
    case FW_REPORT_HTML:
        return "text/html; charset=utf-8";
    case FW_REPORT_MD:
    default:
        return "text/markdown; charset=utf-8";
    }
}

int fw_report_html_escape(fw_buf *out, const char *s, size_t n)
{
    int rv = 0;
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; !rv && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                rep = "";
        }
        if (!rep)
            continue;
        if (i > run)
            rv = fw_buf_append(out, s + run, i - run);
        if (!rv)
            rv = fw_buf_append_str(out, rep);
        run = i + 1;
    }
    if (!rv && n > run)
        rv = fw_buf_append(out, s + run, n - run);
    return rv;
}

int fw_report_md_escape(fw_buf *out, const char *s, size_t n)
{
    /* Inline syntax anywhere; block syntax only where a line could start
     * (the text's start: lists, headings, ordered lists "1."). */
    static const char INLINE[] = "\\`*_{}[]()!|<>~&";
    static const char BLOCK[] = "-+#=.";
    int rv = 0;
    bool digits_only = true;
    for (size_t i = 0; !rv && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            rv = fw_buf_append(out, " ", 1);
        else if (memchr(INLINE, c, sizeof(INLINE) - 1) ||
                 (memchr(BLOCK, c, sizeof(BLOCK) - 1) && (i == 0 || (c == '.' && digits_only))))
            rv = fw_buf_printf(out, "\\%c", c);
        else
            rv = fw_buf_append(out, s + i, 1);
        digits_only = digits_only && c >= '0' && c <= '9';
    }
    return rv;
}

int fw_report_render(const char *inv_json, size_t len, const fw_report_series *series,
                     fw_report_format fmt, fw_buf *out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (!inv_json || !out) {
        snprintf(err, errlen, "no investigation");
        return FW_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *inv = json_loadb(inv_json, len, 0, &jerr);
    if (!json_is_object(inv)) {
        snprintf(err, errlen, "investigation: invalid JSON: %.80s", inv ? "not an object" : jerr.text);
        json_decref(inv);
        return FW_ERR_INVALID;
    }
    int rv = 0;
    json_t *model = NULL;
    if (strcmp(fw__report_str(inv, "status"), "running") == 0) {
        snprintf(err, errlen, "the investigation is still running");
        rv = FW_ERR_AGAIN;
        goto out;
    }
    model = fw__report_model(inv, err, errlen);
    if (!model) {
        rv = FW_ERR_INVALID;
        goto out;
    }
    if (fmt == FW_REPORT_JSON) {
        char *s = json_dumps(model, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (!s) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        rv = fw_buf_append_str(out, s);
        if (!rv)
            rv = fw_buf_append(out, "\n", 1);
        free(s);
    } else if (fmt == FW_REPORT_HTML) {
        rv = fw__report_render_html(model, series, out);
    } else {
        rv = fw__report_render_md(model, out);
    }
    if (rv && !err[0])
        snprintf(err, errlen, "cannot render the report: %s", fw_strerror(rv));
out:
    json_decref(model);
    json_decref(inv);
    return rv;
}
