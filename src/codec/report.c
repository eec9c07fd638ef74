/* The report of one rollout (report.h, docs/reports.md): its id, the report built from a
 * history document of the decision journal, and the text helpers of the page (report-html.c)
 * and its charts (report-chart.c). Pure: buffers in, buffers out. The journal is untrusted (cut
 * by a crash, edited by hand), and so is a report read back from state_dir: every member is
 * looked up by type, every text is cut to REPORT_TEXT_MAX bytes of valid UTF-8 and escaped for
 * HTML, and the counts are bounded (report.h). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/report.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"
#include "report-text.h"

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

const char *report_string_of(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool report_number_of(const cJSON *o, const char *key, double *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return false;
        *ret = v->valuedouble;
        return true;
}

/* Untrusted text cut to at most max bytes of valid UTF-8, control characters as '?'. Owned. */
char *report_clean_text(const char *s, size_t max)
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
        char *t = report_clean_text(s, REPORT_TEXT_MAX);
        cJSON_AddStringToObject(o, key, t);
        free(t);
}

/* Copies a string member when present. */
static void copy_text(cJSON *to, const cJSON *from, const char *key)
{
        const char *s = report_string_of(from, key);
        if (s)
                add_text(to, key, s);
}

static void copy_number(cJSON *to, const cJSON *from, const char *key)
{
        double v;
        if (report_number_of(from, key, &v))
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
        add_text(o, "phase", report_string_of(p, "phase") ? report_string_of(p, "phase") : "?");
        copy_number(o, p, "step");
        copy_number(o, p, "weight");
        return o;
}

/* ===== shared with the page and its charts (report-text.h) ===== */

/* Untrusted text into HTML text or a quoted attribute. */
void report_put_html(struct buf *b, const char *s)
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
void report_put_member(struct buf *b, const cJSON *o, const char *key)
{
        const char *s = report_string_of(o, key);
        if (!s || !*s) {
                buf_puts(b, "-");
                return;
        }
        char *t = report_clean_text(s, REPORT_TEXT_MAX);
        report_put_html(b, t);
        free(t);
}

const char *report_verdict_color(const char *v)
{
        if (!v)
                return "#868e96";
        if (strcmp(v, "pass") == 0)
                return "#2b8a3e";
        if (strstr(v, "fail")) /* fail, critical fail */
                return "#c92a2a";
        return "#e67700"; /* inconclusive, no data */
}

const char *report_verdict_class(const char *v)
{
        if (!v)
                return "inc";
        if (strcmp(v, "pass") == 0)
                return "pass";
        if (strstr(v, "fail"))
                return "fail";
        return "inc";
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
        const char *r = report_string_of(e, "rollout");
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
        add_text(a, "at", report_string_of(e, "at"));
        copy_number(a, e, "step");
        copy_number(a, e, "weight");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "window");
        cJSON *win = object_or_die();
        add_text(win, "start", report_string_of(w, "start"));
        add_text(win, "end", report_string_of(w, "end"));
        cJSON_AddItemToObject(a, "window", win);
        add_text(a, "result", report_string_of(e, "result"));
        cJSON *list = array_or_die();
        size_t n = 0;
        const cJSON *m;
        cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(e, "metrics")) {
                if (!cJSON_IsObject(m) || !report_string_of(m, "name"))
                        continue;
                if (n++ >= REPORT_METRICS_MAX)
                        break;
                cJSON *o = object_or_die();
                char *name = report_clean_text(report_string_of(m, "name"), 64);
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
        add_text(t, "at", report_string_of(e, "at"));
        add_text(t, "type", type);
        if (strcmp(type, "decision") == 0) {
                add_text(t, "event", report_string_of(e, "event"));
                add_text(t, "actor", report_string_of(e, "actor"));
                const cJSON *from = cJSON_GetObjectItemCaseSensitive(e, "from");
                const cJSON *to = cJSON_GetObjectItemCaseSensitive(e, "to");
                cJSON *f = copy_position(from), *o = copy_position(to);
                if (f)
                        cJSON_AddItemToObject(t, "from", f);
                if (o)
                        cJSON_AddItemToObject(t, "to", o);
                add_text(t, "reason", report_string_of(e, "reason"));
                copy_text(t, e, "notify");
                double fw = -1, tw;
                if (!report_number_of(from, "weight", &fw))
                        fw = b->weight;
                if (report_number_of(to, "weight", &tw)) {
                        note_weight(b, report_string_of(e, "at"), fw, tw,
                                    report_string_of(e, "event"));
                        b->weight = tw;
                }
                if (report_string_of(to, "phase"))
                        b->outcome = report_string_of(to, "phase");
        } else if (strcmp(type, "command") == 0) {
                add_text(t, "event", report_string_of(e, "command"));
                const char *actor = report_string_of(e, "actor");
                const cJSON *peer = cJSON_GetObjectItemCaseSensitive(e, "peer");
                double uid;
                char who[40];
                if (!actor && report_number_of(peer, "uid", &uid)) {
                        snprintf(who, sizeof(who), "uid:%.0f", uid);
                        actor = who;
                }
                add_text(t, "actor", actor);
                add_text(t, "outcome", report_string_of(e, "outcome"));
                copy_text(t, e, "requested_revision");
                add_text(t, "reason", report_string_of(e, "reason"));
                copy_text(t, e, "detail");
        } else { /* observed */
                add_text(t, "event", "observed");
                add_text(t, "actor", "");
                cJSON *o = copy_position(e);
                if (o)
                        cJSON_AddItemToObject(t, "to", o);
                add_text(t, "reason", report_string_of(e, "reason"));
                double w;
                if (report_number_of(e, "weight", &w)) {
                        if (b->weight >= 0) /* a change made elsewhere, or a lost decision */
                                note_weight(b, report_string_of(e, "at"), b->weight, w, "observed");
                        b->weight = w;
                }
                if (report_string_of(e, "phase"))
                        b->outcome = report_string_of(e, "phase");
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
                        const char *r = report_string_of(e, "rollout");
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
                        b.rollout = report_string_of(e, "rollout");
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
                const char *type = report_string_of(e, "type");
                if (!type)
                        continue;
                const char *revision = report_string_of(e, "revision"),
                           *at = report_string_of(e, "at");
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
        add_text(out, "canary", report_string_of(h, "canary"));
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
        report_number_of(h, "skipped", &skipped);
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
