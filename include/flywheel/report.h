/* report.h - the draft incident report (Correction of Error, SPEC 6.2) of
 * one investigation: ONE report model built only from the investigation
 * object of SPEC 6.1 (the JSON text fw_investigations_get_json gives),
 * rendered as Markdown, JSON or a self-contained HTML page. Pure: no I/O,
 * no clock, no store; the RED series of the HTML graph is an optional input
 * the caller reads. Every string from telemetry is escaped for the output
 * format, so a service name or log message cannot break the document. */
#ifndef FLYWHEEL_REPORT_H
#define FLYWHEEL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef enum fw_report_format {
    FW_REPORT_MD = 0,
    FW_REPORT_JSON = 1,
    FW_REPORT_HTML = 2
} fw_report_format;

/* "md" (or "markdown"), "json", "html" into |out|; FW_ERR_INVALID otherwise. */
FW_WUR int fw_report_format_parse(const char *s, fw_report_format *out);
/* "text/markdown; charset=utf-8", "application/json", "text/html; charset=utf-8". */
const char *fw_report_content_type(fw_report_format f);

/* One step of the symptom's RED series (the HTML graph). */
typedef struct fw_report_point {
    uint64_t t_ns;   /* step start */
    double requests;
    double errors;   /* failed requests (faults) */
    double p99_ms;   /* 0 when the step holds no request */
} fw_report_point;

/* Borrowed for the call. */
typedef struct fw_report_series {
    const fw_report_point *points;
    size_t n;
} fw_report_series;

/* Most points drawn; callers size their series to this. */
#define FW_REPORT_SERIES_MAX 720u

/* Renders the report of the investigation |inv_json| (|len| bytes, SPEC 6.1)
 * in |fmt|, appending to |out|. |series| may be NULL (the HTML then says the
 * series was not available). Returns 0; FW_ERR_INVALID when the JSON is not
 * an investigation object (|err| says why); FW_ERR_AGAIN when the
 * investigation is still running (no report yet); FW_ERR_NOMEM;
 * FW_ERR_TOO_LARGE when |out| is too small. */
FW_WUR int fw_report_render(const char *inv_json, size_t len, const fw_report_series *series,
                            fw_report_format fmt, fw_buf *out, char *err, size_t errlen);

/* Appends |s| (|n| bytes) escaped for HTML text and attribute values
 * (& < > " '); control bytes other than tab/newline are dropped. */
FW_WUR int fw_report_html_escape(fw_buf *out, const char *s, size_t n);
/* Appends |s| escaped as inline Markdown text, also safe inside a table
 * cell: ASCII punctuation that Markdown interprets is backslash-escaped,
 * '|' too, newlines and control bytes become spaces. */
FW_WUR int fw_report_md_escape(fw_buf *out, const char *s, size_t n);

/* Nanoseconds since the epoch of an RFC 3339 UTC time
 * ("2026-01-02T03:04:05.678Z", fraction and offset optional); 0 when
 * malformed. */
uint64_t fw_report_parse_time(const char *s);

#endif
