/* One SVG line chart per metric of a rollout's report (report-text.h): the canary and baseline
 * value of each analysis at its window's end over the whole rollout, the canary points colored
 * by verdict, a dashed line at each weight change labelled with the new weight, axes and a
 * legend. Inline SVG for the page of report-html.c; every string is escaped. Pure. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/report.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"
#include "report-text.h"

/* An axis label: "HH:MM:SS", or "MM-DD HH:MM" on an axis of a day or more. */
static void put_clock(struct buf *b, usec_t t, bool days)
{
        char s[40];
        format_rfc3339(t, s, sizeof(s));
        if (strlen(s) < 19)
                buf_puts(b, s);
        else if (days)
                buf_printf(b, "%.5s %.5s", s + 5, s + 11);
        else
                buf_printf(b, "%.8s", s + 11);
}

#define CHART_W  760.0
#define CHART_H  300.0
#define PLOT_L   84.0
#define PLOT_R   20.0
#define PLOT_T   24.0
#define PLOT_B   76.0
#define CANARY   "#d9480f"
#define BASELINE "#1971c2"

struct chart_point {
        double t; /* usec since the chart's start */
        double canary, baseline;
        bool has_canary, has_baseline;
        const char *verdict;
        const cJSON *analysis;
};

struct chart {
        usec_t t0, t1;
        double lo, hi;
};

static double chart_x(const struct chart *c, double t)
{
        double span = (double)(c->t1 - c->t0);
        return PLOT_L + (CHART_W - PLOT_L - PLOT_R) * (span > 0 ? t / span : 0);
}

static double chart_y(const struct chart *c, double v)
{
        /* halves: hi - lo may overflow a double when the values are extreme */
        double span = c->hi / 2 - c->lo / 2;
        double f = span > 0 ? (v / 2 - c->lo / 2) / span : 0.5;
        if (!(f >= 0))
                f = 0;
        if (f > 1)
                f = 1;
        return CHART_H - PLOT_B - (CHART_H - PLOT_T - PLOT_B) * f;
}

static usec_t time_of(const char *s, usec_t dflt)
{
        usec_t t;
        return s && parse_rfc3339(s, &t) == 0 ? t : dflt;
}

static void put_series(struct buf *b, const struct chart *c, const struct chart_point *p, size_t n,
                       bool canary)
{
        bool open = false;
        for (size_t i = 0; i < n; i++) {
                bool has = canary ? p[i].has_canary : p[i].has_baseline;
                if (!has) {
                        if (open)
                                buf_puts(b, "\"/>\n");
                        open = false;
                        continue;
                }
                if (!open)
                        buf_printf(b,
                                   "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                                   "points=\"",
                                   canary ? CANARY : BASELINE,
                                   canary ? "" : " stroke-dasharray=\"6 3\"");
                open = true;
                buf_printf(b, "%.1f,%.1f ", chart_x(c, p[i].t),
                           chart_y(c, canary ? p[i].canary : p[i].baseline));
        }
        if (open)
                buf_puts(b, "\"/>\n");
}

void report_put_chart(struct buf *b, const cJSON *report, const char *metric, size_t index)
{
        const cJSON *analyses = cJSON_GetObjectItemCaseSensitive(report, "analyses");
        size_t cap = (size_t)cJSON_GetArraySize(analyses);
        struct chart_point *pts = xcalloc(cap ? cap : 1, sizeof(*pts));
        size_t n = 0;
        struct chart c = {.lo = INFINITY, .hi = -INFINITY};
        c.t0 = time_of(report_string_of(report, "started"), 0);
        c.t1 = time_of(report_string_of(report, "ended"), 0);

        const cJSON *a;
        cJSON_ArrayForEach (a, analyses) {
                const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "window");
                usec_t t =
                    time_of(report_string_of(w, "end"), time_of(report_string_of(a, "at"), 0));
                const cJSON *m, *found = NULL;
                cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(a, "metrics"))
                        if (report_string_of(m, "name") &&
                            strcmp(report_string_of(m, "name"), metric) == 0)
                                found = m;
                if (!found || t == 0 || n >= cap)
                        continue;
                struct chart_point *p = &pts[n++];
                p->t = (double)t; /* made relative below, once t0 is known */
                p->has_canary = report_number_of(found, "canary", &p->canary);
                p->has_baseline = report_number_of(found, "baseline", &p->baseline);
                p->verdict = report_string_of(found, "result");
                p->analysis = a;
                if (p->has_canary) {
                        c.lo = fmin(c.lo, p->canary);
                        c.hi = fmax(c.hi, p->canary);
                }
                if (p->has_baseline) {
                        c.lo = fmin(c.lo, p->baseline);
                        c.hi = fmax(c.hi, p->baseline);
                }
                if (c.t0 == 0 || t < c.t0)
                        c.t0 = t;
                if (t > c.t1)
                        c.t1 = t;
        }
        const cJSON *wc, *weights = cJSON_GetObjectItemCaseSensitive(report, "weight_changes");
        cJSON_ArrayForEach (wc, weights) {
                usec_t t = time_of(report_string_of(wc, "at"), 0);
                if (t && (c.t0 == 0 || t < c.t0))
                        c.t0 = t;
                if (t > c.t1)
                        c.t1 = t;
        }
        if (c.t1 <= c.t0)
                c.t1 = c.t0 + USEC_PER_SEC;
        for (size_t i = 0; i < n; i++)
                pts[i].t -= (double)c.t0;
        if (!(c.lo <= c.hi)) {
                c.lo = 0;
                c.hi = 1;
        } else if (c.lo == c.hi) {
                double d = c.lo != 0 ? fabs(c.lo) * 0.1 : 1;
                c.lo -= d;
                c.hi += d;
        } else {
                double pad = (c.hi / 2 - c.lo / 2) * 0.1;
                if (isfinite(c.lo - pad) && isfinite(c.hi + pad)) {
                        c.lo -= pad;
                        c.hi += pad;
                }
        }

        buf_printf(b,
                   "<svg class=\"chart\" id=\"chart-%zu\" role=\"img\" viewBox=\"0 0 %.0f %.0f\" "
                   "width=\"%.0f\" height=\"%.0f\" aria-label=\"",
                   index, CHART_W, CHART_H, CHART_W, CHART_H);
        report_put_html(b, metric);
        buf_puts(b, ": canary and baseline over the rollout\">\n");
        double x0 = PLOT_L, x1 = CHART_W - PLOT_R, y0 = PLOT_T, y1 = CHART_H - PLOT_B;
        buf_printf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
                   "stroke=\"#adb5bd\"/>\n",
                   x0, y0, x1 - x0, y1 - y0);
        /* y axis: 5 ticks */
        for (int i = 0; i <= 4; i++) {
                double v = c.lo + (c.hi / 4 - c.lo / 4) * i;
                double y = chart_y(&c, v);
                buf_printf(
                    b,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e9ecef\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.4g"
                    "</text>\n",
                    x0, y, x1, y, x0 - 6, y + 4, v);
        }
        /* x axis: start, middle, end */
        for (int i = 0; i <= 2; i++) {
                double t = (double)(c.t1 - c.t0) * i / 2;
                buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"%s\">",
                           chart_x(&c, t), y1 + 16,
                           i == 0   ? "start"
                           : i == 1 ? "middle"
                                    : "end");
                put_clock(b, c.t0 + (usec_t)t, c.t1 - c.t0 >= 24 * 3600 * USEC_PER_SEC);
                buf_puts(b, "</text>\n");
        }
        buf_printf(b,
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">time (UTC)"
                   "</text>\n",
                   (x0 + x1) / 2, y1 + 32);
        buf_printf(b,
                   "<text class=\"axis\" text-anchor=\"middle\" transform=\"translate(16 %.1f) "
                   "rotate(-90)\">",
                   (y0 + y1) / 2);
        report_put_html(b, metric);
        buf_puts(b, "</text>\n");
        /* weight changes */
        cJSON_ArrayForEach (wc, weights) {
                usec_t t = time_of(report_string_of(wc, "at"), 0);
                double to;
                if (!t || !report_number_of(wc, "to", &to))
                        continue;
                double x = chart_x(&c, (double)(t - c.t0));
                buf_printf(b,
                           "<g class=\"weight\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#495057\" stroke-dasharray=\"3 3\"/>"
                           "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" "
                           "text-anchor=\"middle\">%.0f%%</text><title>",
                           x, y0, x, y1, x, y0 - 6, to);
                report_put_member(b, wc, "at");
                buf_printf(b, ": canary weight %.0f%% (", to);
                report_put_member(b, wc, "event");
                buf_puts(b, ")</title></g>\n");
        }
        if (n == 0)
                buf_printf(b,
                           "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">no "
                           "data</text>\n",
                           (x0 + x1) / 2, (y0 + y1) / 2);
        put_series(b, &c, pts, n, false);
        put_series(b, &c, pts, n, true);
        for (size_t i = 0; i < n; i++) {
                const struct chart_point *p = &pts[i];
                double x = chart_x(&c, p->t);
                if (p->has_baseline)
                        buf_printf(
                            b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"" BASELINE "\"/>\n",
                            x, chart_y(&c, p->baseline));
                if (!p->has_canary)
                        continue;
                buf_printf(b,
                           "<circle class=\"point %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" "
                           "fill=\"%s\" stroke=\"" CANARY "\" stroke-width=\"1.5\"><title>",
                           report_verdict_class(p->verdict), x, chart_y(&c, p->canary),
                           report_verdict_color(p->verdict));
                double step = 0, weight = 0;
                report_number_of(p->analysis, "step", &step);
                report_number_of(p->analysis, "weight", &weight);
                buf_printf(b, "step %.0f (%.0f%%): canary %.6g", step, weight, p->canary);
                if (p->has_baseline)
                        buf_printf(b, ", baseline %.6g", p->baseline);
                buf_puts(b, ", ");
                report_put_html(b, p->verdict ? p->verdict : "?");
                buf_puts(b, "</title></circle>\n");
        }
        /* legend, below the axis title */
        double ly = CHART_H - 14;
        buf_printf(b,
                   "<g class=\"legend\">"
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" CANARY
                   "\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">canary</text>"
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" BASELINE
                   "\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"%.1f\" "
                   "y=\"%.1f\">baseline</text>",
                   x0, ly - 4, x0 + 24, ly - 4, x0 + 30, ly, x0 + 90, ly - 4, x0 + 114, ly - 4,
                   x0 + 120, ly);
        static const char *const kinds[] = {"pass", "fail", "inconclusive"};
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                double lx = x0 + 200 + 110 * (double)i;
                buf_printf(b,
                           "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" "
                           "y=\"%.1f\">%s</text>",
                           lx, ly - 4, report_verdict_color(kinds[i]), lx + 10, ly, kinds[i]);
        }
        buf_printf(b,
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#495057\" "
                   "stroke-dasharray=\"3 3\"/><text x=\"%.1f\" y=\"%.1f\">weight change</text>"
                   "</g>\n</svg>\n",
                   x0 + 540, ly - 12, x0 + 540, ly + 2, x0 + 548, ly);
        free(pts);
}
