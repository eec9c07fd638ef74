/* Private to the report codec files: report.c (these helpers and the build), report-html.c (the
 * page) and report-chart.c (its SVG charts). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "canaryd/util.h"

/* The string or finite number member key of o; NULL / false when absent or of another type. */
const char *report_string_of(const cJSON *o, const char *key);
bool report_number_of(const cJSON *o, const char *key, double *ret);
/* Untrusted text cut to at most max bytes of valid UTF-8, control characters as '?'. Owned. */
char *report_clean_text(const char *s, size_t max);

/* Untrusted text into HTML text or a quoted attribute: & < > " ' escaped. */
void report_put_html(struct buf *b, const char *s);
/* A member's text, cleaned (REPORT_TEXT_MAX) and escaped; "-" when absent or empty. */
void report_put_member(struct buf *b, const cJSON *o, const char *key);
/* The color, and the CSS class ("pass", "fail", "inc"), of a verdict or result. */
const char *report_verdict_color(const char *v);
const char *report_verdict_class(const char *v);

/* Appends the chart of one metric of a report (its JSON, parsed) as an <svg> element with the
 * id "chart-<index>". */
void report_put_chart(struct buf *b, const cJSON *report, const char *metric, size_t index);
