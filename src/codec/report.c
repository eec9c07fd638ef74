/* The report of one rollout (report.h, docs/reports.md): built from a history document of the
 * decision journal, rendered as a self-contained HTML page. Pure: buffers in, buffers out. The
 * journal is untrusted (cut by a crash, edited by hand), and so is a report read back from
 * state_dir: every member is looked up by type, every text is cut to REPORT_TEXT_MAX bytes of
 * valid UTF-8 and escaped for HTML, and the counts are bounded (report.h). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/report.h"
#include "canaryd/state-json.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"

int report_id(const char *s, char buf[static REPORT_ID_MAX])
{
        size_t n = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; *s; s++) {
                char c = *s;
                if (c == '-' || c == ':')
                        continue;
                if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      c == '.'))
                        return -EINVAL;
                if (n + 1 >= REPORT_ID_MAX)
                        return -EINVAL;
                buf[n++] = c;
        }
        if (n == 0 || buf[0] == '.')
                return -EINVAL;
        buf[n] = '\0';
        return 0;
}

/* ===== JSON helpers ===== */

static cJSON *object_or_die(void)
{
        cJSON *o = cJSON_CreateObject();
        if (!o)
                abort(); /* cJSON fails only on OOM: same policy as xmalloc */
        return o;
}

static cJSON *array_or_die(void)
{
        cJSON *a = cJSON_CreateArray();
        if (!a)
                abort();
        return a;
}

static const char *string_of(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool number_of(const cJSON *o, const char *key, double *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return false;
        *ret = v->valuedouble;
        return true;
}

/* Untrusted text cut to at most max bytes of valid UTF-8, control characters as '?'. Owned. */
static char *clean_text(const char *s, size_t max)
{
        struct buf b = {0};
        size_t n = s ? strlen(s) : 0;

        buf_puts(&b, "");
        for (size_t i = 0; i < n;) {
                size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
                if (l == 0 || (l == 1 && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))) {
                        if (b.len + 1 > max)
                                break;
                        buf_puts(&b, "?");
                        i += l ? l : 1;
                        continue;
                }
                if (b.len + l > max)
                        break;
                buf_append(&b, s + i, l);
                i += l;
        }
        return buf_steal(&b);
}

static void add_text(cJSON *o, const char *key, const char *s)
{
        char *t = clean_text(s, REPORT_TEXT_MAX);
        cJSON_AddStringToObject(o, key, t);
        free(t);
}

/* Copies a string member when present. */
static void copy_text(cJSON *to, const cJSON *from, const char *key)
{
        const char *s = string_of(from, key);
        if (s)
                add_text(to, key, s);
}

static void copy_number(cJSON *to, const cJSON *from, const char *key)
{
        double v;
        if (number_of(from, key, &v))
                cJSON_AddNumberToObject(to, key, v);
        else
                cJSON_AddNullToObject(to, key);
}

/* {phase, step, weight} of a journal position; NULL when p is not an object. */
static cJSON *copy_position(const cJSON *p)
{
        if (!cJSON_IsObject(p))
                return NULL;
        cJSON *o = object_or_die();
        add_text(o, "phase", string_of(p, "phase") ? string_of(p, "phase") : "?");
        copy_number(o, p, "step");
        copy_number(o, p, "weight");
        return o;
}

/* ===== building ===== */

struct build {
        const char *rollout; /* the rollout chosen (borrowed from the history tree) */
        char id[REPORT_ID_MAX];
        const char *revision, *ended, *outcome;
        double weight; /* the last weight known, or -1 */
        cJSON *timeline, *analyses, *weights, *metrics;
        size_t n_metrics;
};

static bool entry_in_rollout(const cJSON *e, const char *id)
{
        char eid[REPORT_ID_MAX];
        const char *r = string_of(e, "rollout");
        return r && report_id(r, eid) == 0 && strcmp(eid, id) == 0;
}

static void note_metric(struct build *b, const char *name)
{
        const cJSON *m;
        cJSON_ArrayForEach (m, b->metrics)
                if (cJSON_IsString(m) && strcmp(m->valuestring, name) == 0)
                        return;
        if (b->n_metrics >= REPORT_METRICS_MAX)
                return;
        cJSON *s = cJSON_CreateString(name);
        if (!s)
                abort();
        cJSON_AddItemToArray(b->metrics, s);
        b->n_metrics++;
}

static void note_weight(struct build *b, const char *at, double from, double to, const char *event)
{
        if (from == to)
                return;
        cJSON *w = object_or_die();
        add_text(w, "at", at);
        if (from >= 0)
                cJSON_AddNumberToObject(w, "from", from);
        else
                cJSON_AddNullToObject(w, "from");
        cJSON_AddNumberToObject(w, "to", to);
        add_text(w, "event", event);
        cJSON_AddItemToArray(b->weights, w);
}

static void add_analysis(struct build *b, const cJSON *e)
{
        cJSON *a = object_or_die();
        add_text(a, "at", string_of(e, "at"));
        copy_number(a, e, "step");
        copy_number(a, e, "weight");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "window");
        cJSON *win = object_or_die();
        add_text(win, "start", string_of(w, "start"));
        add_text(win, "end", string_of(w, "end"));
        cJSON_AddItemToObject(a, "window", win);
        add_text(a, "result", string_of(e, "result"));
        cJSON *list = array_or_die();
        size_t n = 0;
        const cJSON *m;
        cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(e, "metrics")) {
                if (!cJSON_IsObject(m) || !string_of(m, "name"))
                        continue;
                if (n++ >= REPORT_METRICS_MAX)
                        break;
                cJSON *o = object_or_die();
                char *name = clean_text(string_of(m, "name"), 64);
                cJSON_AddStringToObject(o, "name", name);
                note_metric(b, name);
                free(name);
                copy_text(o, m, "judge");
                copy_number(o, m, "canary");
                copy_number(o, m, "baseline");
                copy_number(o, m, "n_canary");
                copy_number(o, m, "n_baseline");
                copy_text(o, m, "result");
                copy_text(o, m, "detail");
                if (cJSON_GetObjectItemCaseSensitive(m, "e_value")) { /* sequential evidence */
                        copy_number(o, m, "e_value");
                        copy_number(o, m, "p_value");
                        copy_number(o, m, "ci_low");
                        copy_number(o, m, "ci_high");
                        cJSON_AddBoolToObject(
                            o, "inside_tolerance",
                            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "inside_tolerance")));
                }
                cJSON_AddItemToArray(list, o);
        }
        cJSON_AddItemToObject(a, "metrics", list);
        cJSON_AddItemToArray(b->analyses, a);
}

static void add_event(struct build *b, const cJSON *e, const char *type)
{
        cJSON *t = object_or_die();
        add_text(t, "at", string_of(e, "at"));
        add_text(t, "type", type);
        if (strcmp(type, "decision") == 0) {
                add_text(t, "event", string_of(e, "event"));
                add_text(t, "actor", string_of(e, "actor"));
                const cJSON *from = cJSON_GetObjectItemCaseSensitive(e, "from");
                const cJSON *to = cJSON_GetObjectItemCaseSensitive(e, "to");
                cJSON *f = copy_position(from), *o = copy_position(to);
                if (f)
                        cJSON_AddItemToObject(t, "from", f);
                if (o)
                        cJSON_AddItemToObject(t, "to", o);
                add_text(t, "reason", string_of(e, "reason"));
                copy_text(t, e, "notify");
                double fw = -1, tw;
                if (!number_of(from, "weight", &fw))
                        fw = b->weight;
                if (number_of(to, "weight", &tw)) {
                        note_weight(b, string_of(e, "at"), fw, tw, string_of(e, "event"));
                        b->weight = tw;
                }
                if (string_of(to, "phase"))
                        b->outcome = string_of(to, "phase");
        } else if (strcmp(type, "command") == 0) {
                add_text(t, "event", string_of(e, "command"));
                const char *actor = string_of(e, "actor");
                const cJSON *peer = cJSON_GetObjectItemCaseSensitive(e, "peer");
                double uid;
                char who[40];
                if (!actor && number_of(peer, "uid", &uid)) {
                        snprintf(who, sizeof(who), "uid:%.0f", uid);
                        actor = who;
                }
                add_text(t, "actor", actor);
                add_text(t, "outcome", string_of(e, "outcome"));
                copy_text(t, e, "requested_revision");
                add_text(t, "reason", string_of(e, "reason"));
                copy_text(t, e, "detail");
        } else { /* observed */
                add_text(t, "event", "observed");
                add_text(t, "actor", "");
                cJSON *o = copy_position(e);
                if (o)
                        cJSON_AddItemToObject(t, "to", o);
                add_text(t, "reason", string_of(e, "reason"));
                double w;
                if (number_of(e, "weight", &w)) {
                        if (b->weight >= 0) /* a change made elsewhere, or a lost decision */
                                note_weight(b, string_of(e, "at"), b->weight, w, "observed");
                        b->weight = w;
                }
                if (string_of(e, "phase"))
                        b->outcome = string_of(e, "phase");
        }
        cJSON_AddItemToArray(b->timeline, t);
}

/* Keeps the last max items of a, returns how many were dropped. */
static size_t keep_last(cJSON *a, size_t max)
{
        size_t n = (size_t)cJSON_GetArraySize(a), dropped = 0;
        while (n > max && a->child) {
                cJSON_Delete(cJSON_DetachItemViaPointer(a, a->child));
                n--;
                dropped++;
        }
        return dropped;
}

int report_build_json(const char *history_json, size_t len, const char *rollout, char **ret_json)
{
        cJSON *h = history_json && !memchr(history_json, '\0', len)
                       ? cJSON_ParseWithLength(history_json, len)
                       : NULL;
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(h, "entries");
        if (!cJSON_IsObject(h) || !cJSON_IsArray(entries)) {
                cJSON_Delete(h);
                return -EINVAL;
        }
        struct build b = {.weight = -1};
        const cJSON *e;
        if (rollout && *rollout) {
                if (report_id(rollout, b.id) < 0) {
                        cJSON_Delete(h);
                        return -ENOENT;
                }
        } else {
                /* the latest: that of the last entry which has one */
                const char *latest = NULL;
                cJSON_ArrayForEach (e, entries) {
                        const char *r = string_of(e, "rollout");
                        if (r && *r && report_id(r, b.id) == 0)
                                latest = r;
                }
                if (!latest || report_id(latest, b.id) < 0) {
                        cJSON_Delete(h);
                        return -ENOENT;
                }
        }
        cJSON_ArrayForEach (e, entries) {
                if (cJSON_IsObject(e) && entry_in_rollout(e, b.id)) {
                        b.rollout = string_of(e, "rollout");
                        break;
                }
        }
        if (!b.rollout) {
                cJSON_Delete(h);
                return -ENOENT;
        }

        b.timeline = array_or_die();
        b.analyses = array_or_die();
        b.weights = array_or_die();
        b.metrics = array_or_die();
        cJSON_ArrayForEach (e, entries) {
                if (!cJSON_IsObject(e) || !entry_in_rollout(e, b.id))
                        continue;
                const char *type = string_of(e, "type");
                if (!type)
                        continue;
                const char *revision = string_of(e, "revision"), *at = string_of(e, "at");
                if (revision && *revision)
                        b.revision = revision;
                if (at)
                        b.ended = at;
                if (strcmp(type, "analysis") == 0)
                        add_analysis(&b, e);
                else if (strcmp(type, "decision") == 0 || strcmp(type, "command") == 0 ||
                         strcmp(type, "observed") == 0)
                        add_event(&b, e, type);
        }

        cJSON *out = object_or_die();
        add_text(out, "canary", string_of(h, "canary"));
        add_text(out, "rollout", b.rollout);
        cJSON_AddStringToObject(out, "id", b.id);
        add_text(out, "revision", b.revision);
        add_text(out, "started", b.rollout);
        add_text(out, "ended", b.ended);
        add_text(out, "outcome", b.outcome ? b.outcome : "?");
        cJSON_AddBoolToObject(out, "finished",
                              b.outcome && (strcmp(b.outcome, "Promoted") == 0 ||
                                            strcmp(b.outcome, "RolledBack") == 0));
        size_t t_dropped = keep_last(b.timeline, REPORT_TIMELINE_MAX);
        size_t a_dropped = keep_last(b.analyses, REPORT_ANALYSES_MAX);
        size_t w_dropped = keep_last(b.weights, REPORT_TIMELINE_MAX);
        cJSON_AddItemToObject(out, "timeline", b.timeline);
        cJSON_AddNumberToObject(out, "timeline_omitted", (double)t_dropped);
        cJSON_AddItemToObject(out, "analyses", b.analyses);
        cJSON_AddNumberToObject(out, "analyses_omitted", (double)a_dropped);
        cJSON_AddItemToObject(out, "weight_changes", b.weights);
        cJSON_AddNumberToObject(out, "weight_changes_omitted", (double)w_dropped);
        cJSON_AddItemToObject(out, "metrics", b.metrics);
        double skipped = 0;
        number_of(h, "skipped", &skipped);
        cJSON_AddNumberToObject(out, "skipped", skipped);
        cJSON_Delete(h); /* after: b's strings are borrowed from it */

        char *json = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
        if (!json)
                abort();
        *ret_json = xstrdup(json);
        cJSON_free(json);
        return 0;
}

/* ===== rendering ===== */

/* Untrusted text into HTML text or a quoted attribute. */
static void put_html(struct buf *b, const char *s)
{
        for (; s && *s; s++) {
                switch (*s) {
                case '&':
                        buf_puts(b, "&amp;");
                        break;
                case '<':
                        buf_puts(b, "&lt;");
                        break;
                case '>':
                        buf_puts(b, "&gt;");
                        break;
                case '"':
                        buf_puts(b, "&quot;");
                        break;
                case '\'':
                        buf_puts(b, "&#39;");
                        break;
                default:
                        buf_append(b, s, 1);
                }
        }
}

/* A member's text, cleaned and escaped; "-" when absent or empty. */
static void put_member(struct buf *b, const cJSON *o, const char *key)
{
        const char *s = string_of(o, key);
        if (!s || !*s) {
                buf_puts(b, "-");
                return;
        }
        char *t = clean_text(s, REPORT_TEXT_MAX);
        put_html(b, t);
        free(t);
}

static void put_value(struct buf *b, const cJSON *o, const char *key)
{
        double v;
        if (number_of(o, key, &v))
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
        put_member(b, p, "phase");
        number_of(p, "step", &step);
        number_of(p, "weight", &weight);
        buf_printf(b, " step %.0f (%.0f%%)", step, weight);
}

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

static const char *verdict_color(const char *v)
{
        if (!v)
                return "#868e96";
        if (strcmp(v, "pass") == 0)
                return "#2b8a3e";
        if (strstr(v, "fail")) /* fail, critical fail */
                return "#c92a2a";
        return "#e67700"; /* inconclusive, no data */
}

static const char *verdict_class(const char *v)
{
        if (!v)
                return "inc";
        if (strcmp(v, "pass") == 0)
                return "pass";
        if (strstr(v, "fail"))
                return "fail";
        return "inc";
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

static void put_chart(struct buf *b, const cJSON *report, const char *metric, size_t index)
{
        const cJSON *analyses = cJSON_GetObjectItemCaseSensitive(report, "analyses");
        size_t cap = (size_t)cJSON_GetArraySize(analyses);
        struct chart_point *pts = xcalloc(cap ? cap : 1, sizeof(*pts));
        size_t n = 0;
        struct chart c = {.lo = INFINITY, .hi = -INFINITY};
        c.t0 = time_of(string_of(report, "started"), 0);
        c.t1 = time_of(string_of(report, "ended"), 0);

        const cJSON *a;
        cJSON_ArrayForEach (a, analyses) {
                const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "window");
                usec_t t = time_of(string_of(w, "end"), time_of(string_of(a, "at"), 0));
                const cJSON *m, *found = NULL;
                cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(a, "metrics"))
                        if (string_of(m, "name") && strcmp(string_of(m, "name"), metric) == 0)
                                found = m;
                if (!found || t == 0 || n >= cap)
                        continue;
                struct chart_point *p = &pts[n++];
                p->t = (double)t; /* made relative below, once t0 is known */
                p->has_canary = number_of(found, "canary", &p->canary);
                p->has_baseline = number_of(found, "baseline", &p->baseline);
                p->verdict = string_of(found, "result");
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
                usec_t t = time_of(string_of(wc, "at"), 0);
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
        put_html(b, metric);
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
        put_html(b, metric);
        buf_puts(b, "</text>\n");
        /* weight changes */
        cJSON_ArrayForEach (wc, weights) {
                usec_t t = time_of(string_of(wc, "at"), 0);
                double to;
                if (!t || !number_of(wc, "to", &to))
                        continue;
                double x = chart_x(&c, (double)(t - c.t0));
                buf_printf(b,
                           "<g class=\"weight\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#495057\" stroke-dasharray=\"3 3\"/>"
                           "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" "
                           "text-anchor=\"middle\">%.0f%%</text><title>",
                           x, y0, x, y1, x, y0 - 6, to);
                put_member(b, wc, "at");
                buf_printf(b, ": canary weight %.0f%% (", to);
                put_member(b, wc, "event");
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
                           verdict_class(p->verdict), x, chart_y(&c, p->canary),
                           verdict_color(p->verdict));
                double step = 0, weight = 0;
                number_of(p->analysis, "step", &step);
                number_of(p->analysis, "weight", &weight);
                buf_printf(b, "step %.0f (%.0f%%): canary %.6g", step, weight, p->canary);
                if (p->has_baseline)
                        buf_printf(b, ", baseline %.6g", p->baseline);
                buf_puts(b, ", ");
                put_html(b, p->verdict ? p->verdict : "?");
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
                           lx, ly - 4, verdict_color(kinds[i]), lx + 10, ly, kinds[i]);
        }
        buf_printf(b,
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#495057\" "
                   "stroke-dasharray=\"3 3\"/><text x=\"%.1f\" y=\"%.1f\">weight change</text>"
                   "</g>\n</svg>\n",
                   x0 + 540, ly - 12, x0 + 540, ly + 2, x0 + 548, ly);
        free(pts);
}

static void put_timeline(struct buf *b, const cJSON *report)
{
        double omitted = 0;
        buf_puts(b, "<h2>Timeline</h2>\n");
        if (number_of(report, "timeline_omitted", &omitted) && omitted > 0)
                buf_printf(b, "<p class=\"note\">%.0f earlier entries omitted.</p>\n", omitted);
        buf_puts(b, "<table class=\"timeline\"><thead><tr><th>time</th><th>event</th>"
                    "<th>actor</th><th>from &rarr; to</th><th>reason</th></tr></thead><tbody>\n");
        const cJSON *t;
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(report, "timeline")) {
                const char *type = string_of(t, "type");
                buf_puts(b, "<tr><td class=\"time\">");
                put_member(b, t, "at");
                buf_puts(b, "</td><td>");
                put_member(b, t, "type");
                buf_puts(b, ": ");
                put_member(b, t, "event");
                if (type && strcmp(type, "command") == 0) {
                        buf_puts(b, " (");
                        put_member(b, t, "outcome");
                        buf_puts(b, ")");
                }
                buf_puts(b, "</td><td>");
                const char *actor = string_of(t, "actor");
                if (actor && *actor)
                        put_member(b, t, "actor");
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
                put_member(b, t, "reason");
                if (string_of(t, "detail")) {
                        buf_puts(b, "<br><span class=\"detail\">");
                        put_member(b, t, "detail");
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
        if (number_of(report, "analyses_omitted", &omitted) && omitted > 0)
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
                number_of(a, "step", &step);
                number_of(a, "weight", &weight);
                buf_printf(b, "<tr class=\"first\"><td class=\"time\" rowspan=\"%d\">",
                           rows > 0 ? rows : 1);
                put_member(b, w, "end");
                buf_printf(b, "<br><span class=\"detail\">from ");
                put_member(b, w, "start");
                buf_printf(b, "</span></td><td rowspan=\"%d\">%.0f (%.0f%%)</td>",
                           rows > 0 ? rows : 1, step, weight);
                buf_printf(b, "<td rowspan=\"%d\" class=\"%s\">", rows > 0 ? rows : 1,
                           verdict_class(string_of(a, "result")));
                put_member(b, a, "result");
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
                        put_member(b, m, "name");
                        buf_puts(b, "</td><td>");
                        put_member(b, m, "judge");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "canary");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "baseline");
                        buf_puts(b, "</td><td class=\"num\">");
                        put_value(b, m, "n_canary");
                        buf_puts(b, "/");
                        put_value(b, m, "n_baseline");
                        buf_printf(b, "</td><td class=\"%s\">",
                                   verdict_class(string_of(m, "result")));
                        put_member(b, m, "result");
                        buf_puts(b, "</td><td>");
                        put_member(b, m, "detail");
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
        put_member(&b, r, "canary");
        buf_puts(&b, " rollout ");
        put_member(&b, r, "rollout");
        buf_puts(&b, "</title>\n<style>");
        buf_puts(&b, style);
        buf_puts(&b, "</style></head>\n<body>\n<h1>canary ");
        put_member(&b, r, "canary");
        buf_puts(&b, ": rollout of ");
        put_member(&b, r, "revision");
        buf_puts(&b, "</h1>\n<dl><dt>outcome</dt><dd class=\"outcome-");
        put_member(&b, r, "outcome");
        buf_puts(&b, "\"><b>");
        put_member(&b, r, "outcome");
        buf_puts(&b, "</b>");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "finished")))
                buf_puts(&b, " (still running when this report was made)");
        buf_puts(&b, "</dd><dt>rollout</dt><dd>");
        put_member(&b, r, "id");
        buf_puts(&b, "</dd><dt>started</dt><dd>");
        put_member(&b, r, "started");
        buf_puts(&b, "</dd><dt>last entry</dt><dd>");
        put_member(&b, r, "ended");
        buf_printf(&b, "</dd><dt>analyses</dt><dd>%d</dd></dl>\n",
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "analyses")));

        buf_puts(&b, "<h2>Metrics</h2>\n");
        const cJSON *m;
        size_t i = 0;
        cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(r, "metrics")) {
                if (!cJSON_IsString(m) || i >= REPORT_METRICS_MAX)
                        continue;
                char *name = clean_text(m->valuestring, 64);
                buf_puts(&b, "<h3>");
                put_html(&b, name);
                buf_puts(&b, "</h3>\n");
                put_chart(&b, r, name, i++);
                free(name);
        }
        if (i == 0)
                buf_puts(&b, "<p class=\"note\">No analysis in this rollout.</p>\n");
        put_timeline(&b, r);
        put_analyses(&b, r);
        double skipped = 0;
        if (number_of(r, "skipped", &skipped) && skipped > 0)
                buf_printf(&b, "<p class=\"note\">%.0f unreadable journal lines skipped.</p>\n",
                           skipped);
        buf_puts(&b, "<p class=\"note\">Made by canaryd from its decision journal.</p>\n"
                     "</body></html>\n");
        cJSON_Delete(r);
        *ret = buf_steal(&b);
        return 0;
}
