/* A rollout's report as one self-contained HTML page (report.h): a summary, a chart per metric
 * (report-chart.c), the timeline and the analyses, with inline CSS, no script and no external
 * URL. The report JSON may have been read back from disk: every member is looked up by type and
 * every string is cleaned and escaped. Pure. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/report.h"
#include "canaryd/util.h"
#include "report-text.h"

static void put_value(struct buf *b, const cJSON *o, const char *key)
{
        double v;
        if (report_number_of(o, key, &v))
                buf_printf(b, "%.6g", v);
        else
                buf_puts(b, "-");
}

static void put_position(struct buf *b, const cJSON *p)
{
        double step = 0, weight = 0;
        if (!cJSON_IsObject(p)) {
                buf_puts(b, "-");
                return;
        }
        report_put_member(b, p, "phase");
        report_number_of(p, "step", &step);
        report_number_of(p, "weight", &weight);
        buf_printf(b, " step %.0f (%.0f%%)", step, weight);
}

static void put_timeline(struct buf *b, const cJSON *report)
{
        double omitted = 0;
        buf_puts(b, "<h2>Timeline</h2>\n");
        if (report_number_of(report, "timeline_omitted", &omitted) && omitted > 0)
                buf_printf(b, "<p class=\"note\">%.0f earlier entries omitted.</p>\n", omitted);
        buf_puts(b, "<table class=\"timeline\"><thead><tr><th>time</th><th>event</th>"
                    "<th>actor</th><th>from &rarr; to</th><th>reason</th></tr></thead><tbody>\n");
        const cJSON *t;
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(report, "timeline")) {
                const char *type = report_string_of(t, "type");
                buf_puts(b, "<tr><td class=\"time\">");
                report_put_member(b, t, "at");
                buf_puts(b, "</td><td>");
                report_put_member(b, t, "type");
                buf_puts(b, ": ");
                report_put_member(b, t, "event");
                if (type && strcmp(type, "command") == 0) {
                        buf_puts(b, " (");
                        report_put_member(b, t, "outcome");
                        buf_puts(b, ")");
                }
                buf_puts(b, "</td><td>");
                const char *actor = report_string_of(t, "actor");
                if (actor && *actor)
                        report_put_member(b, t, "actor");
                else
                        buf_puts(b, type && strcmp(type, "decision") == 0 ? "canaryd" : "-");
                buf_puts(b, "</td><td>");
                const cJSON *from = cJSON_GetObjectItemCaseSensitive(t, "from");
                const cJSON *to = cJSON_GetObjectItemCaseSensitive(t, "to");
                if (cJSON_IsObject(from)) {
                        put_position(b, from);
                        buf_puts(b, " &rarr; ");
                }
                put_position(b, to);
                buf_puts(b, "</td><td>");
                report_put_member(b, t, "reason");
                if (report_string_of(t, "detail")) {
                        buf_puts(b, "<br><span class=\"detail\">");
                        report_put_member(b, t, "detail");
                        buf_puts(b, "</span>");
                }
                buf_puts(b, "</td></tr>\n");
        }
        buf_puts(b, "</tbody></table>\n");
}

static void put_analyses(struct buf *b, const cJSON *report)
{
        double omitted = 0;
        buf_puts(b, "<h2>Analyses</h2>\n");
        if (report_number_of(report, "analyses_omitted", &omitted) && omitted > 0)
                buf_printf(b, "<p class=\"note\">%.0f earlier analyses omitted.</p>\n", omitted);
        buf_puts(b, "<table class=\"analyses\"><thead><tr><th>window end</th><th>step</th>"
                    "<th>result</th><th>metric</th><th>judge</th><th>canary</th>"
                    "<th>baseline</th><th>n</th><th>verdict</th><th>detail</th></tr></thead>"
                    "<tbody>\n");
        const cJSON *a;
        cJSON_ArrayForEach (a, cJSON_GetObjectItemCaseSensitive(report, "analyses")) {
                const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "window");
                const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(a, "metrics");
                int rows = cJSON_GetArraySize(metrics);
                double step = 0, weight = 0;
                report_number_of(a, "step", &step);
                report_number_of(a, "weight", &weight);
                buf_printf(b, "<tr class=\"first\"><td class=\"time\" rowspan=\"%d\">",
                           rows > 0 ? rows : 1);
                report_put_member(b, w, "end");
                buf_printf(b, "<br><span class=\"detail\">from ");
                report_put_member(b, w, "start");
                buf_printf(b, "</span></td><td rowspan=\"%d\">%.0f (%.0f%%)</td>",
                           rows > 0 ? rows : 1, step, weight);
                buf_printf(b, "<td rowspan=\"%d\" class=\"%s\">", rows > 0 ? rows : 1,
                           report_verdict_class(report_string_of(a, "result")));
                report_put_member(b, a, "result");
                buf_puts(b, "</td>");
                if (rows == 0)
                        buf_puts(b, "<td colspan=\"7\">no metrics</td></tr>\n");
                const cJSON *m;
                bool first = true;
                cJSON_ArrayForEach (m, metrics) {
                        if (!first)
                                buf_puts(b, "<tr>");
                        first = false;
                        buf_puts(b, "<td>");
                        report_put_member(b, m, "name");
                        buf_puts(b, "</td><td>");
                        report_put_member(b, m, "judge");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "canary");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "baseline");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "n_canary");
                        buf_puts(b, "/");
                        put_value(b, m, "n_baseline");
                        buf_printf(b, "</td><td class=\"%s\">",
                                   report_verdict_class(report_string_of(m, "result")));
                        report_put_member(b, m, "result");
                        buf_puts(b, "</td><td>");
                        report_put_member(b, m, "detail");
                        if (cJSON_GetObjectItemCaseSensitive(m, "e_value")) {
                                buf_puts(b, "<br><span class=\"detail\">evidence: e-value ");
                                put_value(b, m, "e_value");
                                buf_puts(b, ", p-value ");
                                put_value(b, m, "p_value");
                                buf_puts(b, ", shift in [");
                                put_value(b, m, "ci_low");
                                buf_puts(b, ", ");
                                put_value(b, m, "ci_high");
                                buf_puts(b, "], ");
                                buf_puts(b, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                                m, "inside_tolerance"))
                                                ? "inside"
                                                : "not inside");
                                buf_puts(b, " the tolerance</span>");
                        }
                        buf_puts(b, "</td></tr>\n");
                }
        }
        buf_puts(b, "</tbody></table>\n");
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212529;background:#f8f9fa}"
    "h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px}"
    "h3{font-size:15px;margin:16px 0 4px}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}"
    "dt{color:#495057}dd{margin:0}"
    "table{border-collapse:collapse;background:#fff;width:100%}"
    "th,td{border:1px solid #dee2e6;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#e9ecef}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "td.time{white-space:nowrap;font-variant-numeric:tabular-nums}"
    ".detail{color:#495057;font-size:12px}.note{color:#495057;font-style:italic}"
    ".pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}"
    ".inc{color:#e67700;font-weight:600}"
    "svg.chart{background:#fff;border:1px solid #dee2e6;max-width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#343a40}svg text.axis{font-size:12px}"
    ".outcome-RolledBack{color:#c92a2a}.outcome-Promoted{color:#2b8a3e}";

int report_render_html(const char *json, size_t len, char **ret)
{
        cJSON *r = json && !memchr(json, '\0', len) ? cJSON_ParseWithLength(json, len) : NULL;
        if (!cJSON_IsObject(r) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "analyses")) ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "timeline"))) {
                cJSON_Delete(r);
                return -EINVAL;
        }
        struct buf b = {0};
        buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                     "style-src 'unsafe-inline'\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width\">\n<title>");
        report_put_member(&b, r, "canary");
        buf_puts(&b, " rollout ");
        report_put_member(&b, r, "rollout");
        buf_puts(&b, "</title>\n<style>");
        buf_puts(&b, style);
        buf_puts(&b, "</style></head>\n<body>\n<h1>canary ");
        report_put_member(&b, r, "canary");
        buf_puts(&b, ": rollout of ");
        report_put_member(&b, r, "revision");
        buf_puts(&b, "</h1>\n<dl><dt>outcome</dt><dd class=\"outcome-");
        report_put_member(&b, r, "outcome");
        buf_puts(&b, "\"><b>");
        report_put_member(&b, r, "outcome");
        buf_puts(&b, "</b>");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "finished")))
                buf_puts(&b, " (still running when this report was made)");
        buf_puts(&b, "</dd><dt>rollout</dt><dd>");
        report_put_member(&b, r, "id");
        buf_puts(&b, "</dd><dt>started</dt><dd>");
        report_put_member(&b, r, "started");
        buf_puts(&b, "</dd><dt>last entry</dt><dd>");
        report_put_member(&b, r, "ended");
        buf_printf(&b, "</dd><dt>analyses</dt><dd>%d</dd></dl>\n",
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "analyses")));

        buf_puts(&b, "<h2>Metrics</h2>\n");
        const cJSON *m;
        size_t i = 0;
        cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(r, "metrics")) {
                if (!cJSON_IsString(m) || i >= REPORT_METRICS_MAX)
                        continue;
                char *name = report_clean_text(m->valuestring, 64);
                buf_puts(&b, "<h3>");
                report_put_html(&b, name);
                buf_puts(&b, "</h3>\n");
                report_put_chart(&b, r, name, i++);
                free(name);
        }
        if (i == 0)
                buf_puts(&b, "<p class=\"note\">No analysis in this rollout.</p>\n");
        put_timeline(&b, r);
        put_analyses(&b, r);
        double skipped = 0;
        if (report_number_of(r, "skipped", &skipped) && skipped > 0)
                buf_printf(&b, "<p class=\"note\">%.0f unreadable journal lines skipped.</p>\n",
                           skipped);
        buf_puts(&b, "<p class=\"note\">Made by canaryd from its decision journal.</p>\n"
                     "</body></html>\n");
        cJSON_Delete(r);
        *ret = buf_steal(&b);
        return 0;
}
