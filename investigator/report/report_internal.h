/* report_internal.h - what the files of the report module share: the
 * report model (a jansson object built by report_model.c from the
 * investigation object) and its Markdown and HTML renderers
 * (report_render.c). Never included outside investigator/report. */
#ifndef FLYWHEEL_REPORT_INTERNAL_H
#define FLYWHEEL_REPORT_INTERNAL_H

#include <jansson.h>
#include "flywheel/report.h"

/* The report model of |inv| (a complete or failed investigation object);
 * a new reference, or NULL with |err| set. The model is what the JSON
 * rendering prints; its members are documented in report_model.c. */
json_t *fw__report_model(const json_t *inv, char *err, size_t errlen);

int fw__report_render_md(const json_t *model, fw_buf *out);
int fw__report_render_html(const json_t *model, const fw_report_series *series, fw_buf *out);

/* Small accessors tolerant of missing members. */
const char *fw__report_str(const json_t *o, const char *key);  /* "" when absent */
double fw__report_num(const json_t *o, const char *key);       /* 0 when absent */

#endif
