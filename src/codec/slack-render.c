/* Slack messages (WIRE.md §4, SPEC §6): renders a rollout notice as {"text", "blocks"}
 * within Block Kit's limits (50 blocks, header plain_text <= 150 characters, 10 fields per
 * section), renders the rollout's parent message and its timeline, and prepares payloads for
 * chat.postMessage / chat.update (channel, thread, metadata). Web API answers are read in
 * slack-api.c, the outbox file in slack-outbox-json.c.
 * Pure: buffers in, buffers out. User text is made valid UTF-8 and, in mrkdwn, &, < and > are
 * escaped so that nobody's reason string can ping @channel or forge a link. */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "canaryd/names.h"
#include "canaryd/query.h"
#include "canaryd/rollout.h"
#include "canaryd/slack-interact.h"
#include "canaryd/slack-json.h"
#include "canaryd/utf8.h"
#include "slack-text.h"

#define MAX_BLOCKS         50
#define HEADER_MAX_CHARS   150
#define TEXT_MAX_CHARS     2900 /* section text and message text: Slack allows 3000 */
#define FIELD_MAX_CHARS    1900 /* section fields: Slack allows 2000 */
#define FAILED_NAMES_SHOWN 3

/* Appends s as valid UTF-8 (bad bytes become U+FFFD), control characters other than newline
 * as spaces, at most max_chars characters (cut with "…"), with &<> escaped when mrkdwn. */
static void put_text(struct buf *b, const char *s, size_t max_chars, bool mrkdwn)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        size_t left = strlen((const char *)p), chars = 0;

        while (left > 0) {
                size_t l = utf8_seq_len(p, left);

                if (chars + 1 >= max_chars && left > (l ? l : 1)) {
                        buf_puts(b, "\u2026");
                        return;
                }
                chars++;
                if (l == 0) {
                        buf_puts(b, "\ufffd");
                        p++, left--;
                        continue;
                }
                if (l == 1 && mrkdwn && *p == '&')
                        buf_puts(b, "&amp;");
                else if (l == 1 && mrkdwn && *p == '<')
                        buf_puts(b, "&lt;");
                else if (l == 1 && mrkdwn && *p == '>')
                        buf_puts(b, "&gt;");
                else if (l == 1 && *p < 0x20 && *p != '\n')
                        buf_puts(b, " ");
                else
                        buf_append(b, p, l);
                p += l, left -= l;
        }
}

char *slack_text_dup(const char *s, size_t max_chars, bool mrkdwn)
{
        struct buf b = {0};

        put_text(&b, s, max_chars, mrkdwn);
        return buf_steal(&b);
}

/* A notice's event is its notification's name (persisted in the outbox as such); what it
 * means comes from the engine's policy table (core/rollout.c). */
static bool is_failure_event(const char *event)
{
        enum rollout_notify n;
        return rollout_notify_from_string(event, &n) == 0 && rollout_notify_policy(n)->with_runbook;
}

static const char *event_emoji(const char *event)
{
        static const char *const emoji[_ROLLOUT_NOTIFY_MAX] = {
            [NOTIFY_STARTED] = ":rocket:",          [NOTIFY_PROGRESSED] = ":arrow_forward:",
            [NOTIFY_ANALYSIS_FAILED] = ":warning:", [NOTIFY_PAUSED] = ":double_vertical_bar:",
            [NOTIFY_RESUMED] = ":arrow_forward:",   [NOTIFY_PROMOTED] = ":white_check_mark:",
            [NOTIFY_ROLLED_BACK] = ":rewind:",      [NOTIFY_ABORTED] = ":octagonal_sign:",
            [NOTIFY_DRIFT] = ":warning:",           [NOTIFY_AWAITING_APPROVAL] = ":raised_hand:",
        };
        enum rollout_notify n;
        return rollout_notify_from_string(event, &n) == 0 ? emoji[n] : ":information_source:";
}

/* Compact number: %.4g, "n/a" for NaN. */
static void fmt_num(char *dst, size_t size, double v)
{
        if (isnan(v))
                snprintf(dst, size, "n/a");
        else
                snprintf(dst, size, "%.4g", v);
}

static cJSON *mrkdwn(const char *text)
{
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "type", "mrkdwn");
        cJSON_AddStringToObject(o, "text", text);
        return o;
}

static void add_field(cJSON *fields, const char *label, const char *value, bool code)
{
        struct buf b = {0};
        char *t;

        buf_printf(&b, "*%s*\n%s", label, code ? "`" : "");
        put_text(&b, value, FIELD_MAX_CHARS, true);
        if (code)
                buf_puts(&b, "`");
        t = buf_steal(&b);
        cJSON_AddItemToArray(fields, mrkdwn(t));
        free(t);
}

static cJSON *section_text(const char *text)
{
        cJSON *s = cJSON_CreateObject();

        cJSON_AddStringToObject(s, "type", "section");
        cJSON_AddItemToObject(s, "text", mrkdwn(text));
        return s;
}

/* ---- pieces ---------------------------------------------------------------------------------- */

static const char *severity_names[_SLACK_SEVERITY_MAX] = {"info", "warn", "error"};

const char *slack_severity_to_string(enum slack_severity s)
{
        return (unsigned)s < _SLACK_SEVERITY_MAX ? severity_names[s] : NULL;
}

enum slack_severity slack_event_severity(const char *event)
{
        static const enum slack_severity of_level[] = {
            [NOTIFY_LEVEL_INFO] = SLACK_INFO,
            [NOTIFY_LEVEL_WARN] = SLACK_WARN,
            [NOTIFY_LEVEL_ERROR] = SLACK_ERROR,
        };
        enum rollout_notify n;
        if (rollout_notify_from_string(event, &n) < 0)
                return SLACK_INFO;
        return of_level[rollout_notify_policy(n)->level];
}

static const char *phase_emoji(const char *phase)
{
        if (!phase)
                return ":information_source:";
        if (strcmp(phase, "Progressing") == 0)
                return ":arrows_counterclockwise:";
        if (strcmp(phase, "Paused") == 0)
                return ":double_vertical_bar:";
        if (strcmp(phase, "Promoted") == 0)
                return ":white_check_mark:";
        if (strcmp(phase, "RolledBack") == 0)
                return ":rewind:";
        return ":information_source:";
}

/* A mention is put in the message as written, so only Slack's own forms are accepted:
 * <!here>, <!channel>, <!subteam^ID>, <@U123>. Anything else is shown escaped. */
static bool mention_ok(const char *m)
{
        size_t n = m ? strlen(m) : 0;

        if (n < 4 || n > 100 || m[0] != '<' || (m[1] != '!' && m[1] != '@') || m[n - 1] != '>')
                return false;
        for (size_t i = 2; i + 1 < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789^_-.",
                            m[i]))
                        return false;
        return true;
}

/* "`████░░░░░░░░░░░░░░░░` *20%* canary · 80% stable" (20 cells, rounded). */
static void put_bar(struct buf *b, unsigned weight)
{
        unsigned w = weight > 100 ? 100 : weight, cells = (w * 20 + 50) / 100;

        buf_puts(b, "`");
        for (unsigned i = 0; i < 20; i++)
                buf_puts(b, i < cells ? "\u2588" : "\u2591");
        buf_printf(b, "` *%u%%* canary \u00b7 %u%% stable", w, 100 - w);
}

enum time_format { TIME_HMS, TIME_DATE_HMS, TIME_DATE_HMS_UTC };

static void fmt_time(char *dst, size_t size, usec_t t, enum time_format f)
{
        time_t sec = (time_t)(t / USEC_PER_SEC);
        struct tm tm;

        gmtime_r(&sec, &tm);
        if (f == TIME_HMS)
                strftime(dst, size, "%H:%M:%S", &tm);
        else if (f == TIME_DATE_HMS)
                strftime(dst, size, "%Y-%m-%d %H:%M:%S", &tm);
        else
                strftime(dst, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static char *window_text(usec_t start, usec_t end)
{
        char a[32], z[32];

        if (start == 0 || end <= start)
                return NULL;
        fmt_time(a, sizeof(a), start, TIME_DATE_HMS);
        fmt_time(z, sizeof(z), end, TIME_HMS);
        return xasprintf("%s\u2013%s UTC (%llu s)", a, z,
                         (unsigned long long)((end - start) / USEC_PER_SEC));
}

static const struct metric_config *metric_cfg(const struct slack_notice *n, const char *name)
{
        for (size_t i = 0; n->cfg && i < n->cfg->n_metrics; i++)
                if (n->cfg->metrics[i].name && strcmp(n->cfg->metrics[i].name, name) == 0)
                        return &n->cfg->metrics[i];
        return NULL;
}

/* The pass condition as people read it: "<= 0.05", "ratio <= 1.3", "MW increase @95%". */
static void threshold_text(char *dst, size_t size, const struct metric_config *m)
{
        char a[32], z[32];
        double lo, hi;
        const char *pre = "";

        if (!m) {
                snprintf(dst, size, "-");
                return;
        }
        if (m->judge == JUDGE_MANN_WHITNEY) {
                snprintf(dst, size, "MW %s @%g%%",
                         direction_to_string(m->direction) ? direction_to_string(m->direction)
                                                           : "?",
                         m->confidence * 100);
                return;
        }
        lo = m->judge == JUDGE_RATIO ? m->min_ratio : m->min;
        hi = m->judge == JUDGE_RATIO ? m->max_ratio : m->max;
        if (m->judge == JUDGE_RATIO)
                pre = "ratio ";
        fmt_num(a, sizeof(a), lo);
        fmt_num(z, sizeof(z), hi);
        if (!isnan(lo) && !isnan(hi))
                snprintf(dst, size, "%sin [%s, %s]", pre, a, z);
        else if (!isnan(hi))
                snprintf(dst, size, "%s<= %s", pre, z);
        else if (!isnan(lo))
                snprintf(dst, size, "%s>= %s", pre, a);
        else
                snprintf(dst, size, "-");
}

static void put_pct_encoded(struct buf *b, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
                        buf_append(b, p, 1);
                else
                        buf_printf(b, "%%%02X", *p);
        }
}

/* Datadog's web app for a site: app.datadoghq.com, app.datadoghq.eu, app.ddog-gov.com; the
 * other sites (us3, us5, ap1, ...) serve it on the site name itself. */
static void put_app_base(struct buf *b, const char *site)
{
        if (!site || !*site)
                site = "datadoghq.com";
        buf_puts(b, "https://");
        if (strcmp(site, "datadoghq.com") == 0 || strcmp(site, "datadoghq.eu") == 0 ||
            strcmp(site, "ddog-gov.com") == 0)
                buf_puts(b, "app.");
        put_pct_encoded(b, site); /* a site is a host name: unchanged */
}

/* The metrics explorer for the canary's query over the window. The explorer's URL parameters
 * are not documented by Datadog (see docs/slack.md). Caller owns the result; NULL without a
 * configured query. */
static char *explorer_url(const struct slack_notice *n, const struct metric_config *m)
{
        struct buf b = {0};
        char *q;

        if (!m || !m->query || !n->cfg)
                return NULL;
        q = query_expand(m->query, n->cfg->scope_canary ? n->cfg->scope_canary : "*", n->cfg);
        if (!q)
                return NULL;
        put_app_base(&b, n->datadog_site);
        buf_puts(&b, "/metric/explorer?");
        if (n->window_start_usec && n->window_end_usec > n->window_start_usec)
                buf_printf(&b, "from_ts=%llu&to_ts=%llu&live=false&",
                           (unsigned long long)(n->window_start_usec / 1000),
                           (unsigned long long)(n->window_end_usec / 1000));
        buf_puts(&b, "exp_query=");
        put_pct_encoded(&b, q);
        free(q);
        return buf_steal(&b);
}

/* Characters as Slack shows them: an escaped &amp; &lt; &gt; is one. */
static size_t text_chars(const char *s)
{
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '&') {
                        const char *q = (const char *)p;
                        size_t skip = strncmp(q, "&amp;", 5) == 0 ? 4
                                      : strncmp(q, "&lt;", 4) == 0 || strncmp(q, "&gt;", 4) == 0
                                          ? 3
                                          : 0;
                        p += skip;
                }
                if ((*p & 0xc0) != 0x80)
                        n++;
        }
        return n;
}

static void put_padded(struct buf *b, const char *s, size_t width)
{
        buf_puts(b, s);
        for (size_t i = text_chars(s); i < width; i++)
                buf_puts(b, " ");
}

static const char *verdict_word(enum verdict v)
{
        switch (v) {
        case VERDICT_PASS:
                return "pass";
        case VERDICT_FAIL:
                return "FAIL";
        case VERDICT_INCONCLUSIVE:
                return "inconclusive";
        case _VERDICT_MAX:
                break;
        }
        return "?";
}

#define COL_NAME 24
#define N_COLS   5

struct row {
        char cells[N_COLS][80];
};

/* Copies src into dst (size > 0), cutting only at a UTF-8 character boundary. */
static void copy_cut(char *dst, size_t size, const char *src)
{
        size_t n = strlen(src);
        if (n >= size) {
                n = size - 1;
                while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
                        n--; /* do not split a multi-byte character */
        }
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void metric_row(const struct slack_notice *n, const struct metric_report *m, struct row *r)
{
        char name[sizeof(m->name) + 1], *t;

        snprintf(name, sizeof(name), "%.*s", (int)sizeof(m->name), m->name);
        t = slack_text_dup(name, COL_NAME, true);
        copy_cut(r->cells[0], sizeof(r->cells[0]), t);
        free(t);
        fmt_num(r->cells[1], sizeof(r->cells[1]), m->canary);
        fmt_num(r->cells[2], sizeof(r->cells[2]), m->baseline);
        threshold_text(r->cells[3], sizeof(r->cells[3]), metric_cfg(n, name));
        t = slack_text_dup(r->cells[3], 40, true);
        copy_cut(r->cells[3], sizeof(r->cells[3]), t);
        free(t);
        snprintf(r->cells[4], sizeof(r->cells[4]), "%s", verdict_word(m->verdict));
}

/* The metric table: a monospace block (Block Kit has no table) with aligned columns, failures
 * first when it must be cut to fit one section. */
static void add_metric_table(cJSON *blocks, const struct slack_notice *n)
{
        static const char *const head[N_COLS] = {"metric", "canary", "baseline", "threshold",
                                                 "verdict"};
        size_t width[N_COLS], shown = 0, count = n->n_metrics;
        struct row *rows = xcalloc(count, sizeof(*rows));
        size_t *order = xcalloc(count, sizeof(*order)), k = 0;
        struct buf b = {0};
        char *t;

        for (size_t c = 0; c < N_COLS; c++)
                width[c] = strlen(head[c]);
        for (size_t i = 0; i < count; i++) {
                metric_row(n, &n->metrics[i], &rows[i]);
                for (size_t c = 0; c < N_COLS; c++)
                        if (text_chars(rows[i].cells[c]) > width[c])
                                width[c] = text_chars(rows[i].cells[c]);
        }
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < count; i++)
                        if ((n->metrics[i].verdict != VERDICT_PASS) == (pass == 0))
                                order[k++] = i;

        buf_puts(&b, "```\n");
        for (size_t c = 0; c < N_COLS; c++)
                put_padded(&b, head[c], c + 1 < N_COLS ? width[c] + 2 : 0);
        buf_puts(&b, "\n");
        for (size_t j = 0; j < count; j++) {
                const struct row *r = &rows[order[j]];
                size_t line = 0;

                for (size_t c = 0; c < N_COLS; c++)
                        line += width[c] + 2;
                if (b.len + line * 3 + 64 > TEXT_MAX_CHARS)
                        break; /* bytes >= characters: a safe bound */
                for (size_t c = 0; c < N_COLS; c++)
                        put_padded(&b, r->cells[c], c + 1 < N_COLS ? width[c] + 2 : 0);
                buf_puts(&b, "\n");
                shown++;
        }
        if (shown < count)
                buf_printf(&b, "\u2026and %zu more metrics\n", count - shown);
        buf_puts(&b, "```");
        t = buf_steal(&b);
        cJSON_AddItemToArray(blocks, section_text(t));
        free(t);
        free(rows);
        free(order);
}

/* Why each failed or inconclusive metric was judged so, and the Datadog links. */
static void add_metric_details(cJSON *blocks, const struct slack_notice *n)
{
        struct buf b = {0}, links = {0};
        size_t n_links = 0;
        char *t;

        for (size_t i = 0; i < n->n_metrics; i++) {
                const struct metric_report *m = &n->metrics[i];
                char name[sizeof(m->name) + 1], detail[sizeof(m->detail) + 1], *url;

                snprintf(name, sizeof(name), "%.*s", (int)sizeof(m->name), m->name);
                snprintf(detail, sizeof(detail), "%.*s", (int)sizeof(m->detail), m->detail);
                /* escaping makes a character up to 5 ("&amp;"): room for a whole line */
                if (m->verdict != VERDICT_PASS && detail[0] &&
                    b.len + 5 * (64 + 200) + 16 < TEXT_MAX_CHARS) {
                        buf_puts(&b, b.len ? "\n\u2022 *" : "\u2022 *");
                        put_text(&b, name, 64, true);
                        buf_puts(&b, "*: ");
                        put_text(&b, detail, 200, true);
                }
                url = explorer_url(n, metric_cfg(n, name));
                if (url && links.len + strlen(url) + 5 * 64 + 32 < TEXT_MAX_CHARS) {
                        buf_puts(&links, n_links ? " \u00b7 <" : ":bar_chart: Datadog: <");
                        buf_puts(&links, url);
                        buf_puts(&links, "|");
                        put_text(&links, name, 64, true);
                        buf_puts(&links, ">");
                        n_links++;
                }
                free(url);
        }
        if (b.len) {
                t = buf_steal(&b);
                cJSON_AddItemToArray(blocks, section_text(t));
                free(t);
        }
        if (links.len) {
                cJSON *blk = cJSON_CreateObject(), *elems;

                t = buf_steal(&links);
                cJSON_AddStringToObject(blk, "type", "context");
                elems = cJSON_AddArrayToObject(blk, "elements");
                cJSON_AddItemToArray(elems, mrkdwn(t));
                cJSON_AddItemToArray(blocks, blk);
                free(t);
        }
        buf_free(&b);
        buf_free(&links);
}

/* "latency-p99 failed", "a, b, c and 2 more failed", or NULL when nothing failed. */
static char *failed_names(const struct slack_notice *n)
{
        struct buf b = {0};
        size_t failed = 0;

        for (size_t i = 0; i < n->n_metrics; i++) {
                const struct metric_report *m = &n->metrics[i];

                if (m->verdict != VERDICT_FAIL)
                        continue;
                if (failed < FAILED_NAMES_SHOWN) {
                        char name[sizeof(m->name) + 1];

                        snprintf(name, sizeof(name), "%.*s", (int)sizeof(m->name), m->name);
                        if (failed > 0)
                                buf_puts(&b, ", ");
                        buf_puts(&b, name);
                }
                failed++;
        }
        if (failed == 0)
                return NULL;
        if (failed > FAILED_NAMES_SHOWN)
                buf_printf(&b, " and %zu more", failed - FAILED_NAMES_SHOWN);
        buf_puts(&b, " failed");
        return buf_steal(&b);
}

static void put_link(struct buf *b, const char *url, const char *label)
{
        buf_puts(b, "<");
        for (const char *p = url; *p; p++) {
                if (*p == '|')
                        buf_puts(b, "%7C");
                else if ((unsigned char)*p <= 0x20)
                        buf_printf(b, "%%%02X", (unsigned char)*p);
                else {
                        char one[2] = {*p, 0};
                        put_text(b, one, 2, true);
                }
        }
        buf_puts(b, "|");
        put_text(b, label, 200, true);
        buf_puts(b, ">");
}

/* A line with a labelled link: the runbook, the rollout report. */
static void add_link_line(cJSON *blocks, const char *label, const char *url)
{
        struct buf b = {0};
        char *t;

        buf_puts(&b, label);
        /* A link holds the URL twice, each character escaped to at most 5: a long one is
         * shown as (cut) text so the section stays under Slack's 3000 characters. */
        if ((strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
            strlen(url) <= 250)
                put_link(&b, url, url); /* <url|label>: a '|' would end the URL early */
        else
                put_text(&b, url, 500, true);
        t = buf_steal(&b);
        cJSON_AddItemToArray(blocks, section_text(t));
        free(t);
}

/* A failure's runbook and the rollout's report (SPEC.md §6, §10). */
static void add_failure_links(cJSON *blocks, const struct slack_notice *n)
{
        if (!is_failure_event(n->event))
                return;
        if (n->runbook_url && *n->runbook_url)
                add_link_line(blocks, ":book: *Runbook:* ", n->runbook_url);
        if (n->report_url && *n->report_url)
                add_link_line(blocks, ":bar_chart: *Report:* ", n->report_url);
}

/* The weight as a progress bar, with the step. */
static void add_progress(cJSON *blocks, const struct slack_notice *n)
{
        struct buf b = {0};
        char *t;

        put_bar(&b, n->weight);
        if (n->n_steps)
                buf_printf(&b, " \u00b7 step %u/%u", n->step, n->n_steps);
        t = buf_steal(&b);
        cJSON_AddItemToArray(blocks, section_text(t));
        free(t);
}

static void add_header(cJSON *blocks, const char *emoji, const char *title)
{
        cJSON *blk = cJSON_CreateObject(), *txt;
        char *t = xasprintf("%s %s", emoji, title);
        char *s = slack_text_dup(t, HEADER_MAX_CHARS, false);

        cJSON_AddStringToObject(blk, "type", "header");
        txt = cJSON_AddObjectToObject(blk, "text");
        cJSON_AddStringToObject(txt, "type", "plain_text");
        cJSON_AddStringToObject(txt, "text", s);
        cJSON_AddBoolToObject(txt, "emoji", true);
        cJSON_AddItemToArray(blocks, blk);
        free(s);
        free(t);
}

static void add_context(cJSON *blocks, const char *text)
{
        cJSON *blk = cJSON_CreateObject(), *elems;

        cJSON_AddStringToObject(blk, "type", "context");
        elems = cJSON_AddArrayToObject(blk, "elements");
        cJSON_AddItemToArray(elems, mrkdwn(text));
        cJSON_AddItemToArray(blocks, blk);
}

char *slack_json_print_free(cJSON *root)
{
        char *s = cJSON_PrintUnformatted(root), *out;

        cJSON_Delete(root);
        if (!s)
                return NULL;
        out = xstrdup(s);
        cJSON_free(s);
        return out;
}

#define RESENT_NOTE                                                                                \
        ":repeat: Re-sent after a daemon restart: this may duplicate an earlier message."

/* ---- messages ------------------------------------------------------------------------------ */

static cJSON *button(const char *text, const char *action_id, const char *value, const char *style,
                     const char *confirm)
{
        cJSON *b = cJSON_CreateObject(), *t = cJSON_CreateObject();

        cJSON_AddStringToObject(b, "type", "button");
        cJSON_AddStringToObject(t, "type", "plain_text");
        cJSON_AddStringToObject(t, "text", text);
        cJSON_AddItemToObject(b, "text", t);
        cJSON_AddStringToObject(b, "action_id", action_id);
        cJSON_AddStringToObject(b, "value", value);
        if (style)
                cJSON_AddStringToObject(b, "style", style);
        if (confirm) { /* Slack asks "are you sure?" before sending the click */
                cJSON *c = cJSON_AddObjectToObject(b, "confirm");
                cJSON *title = cJSON_AddObjectToObject(c, "title");
                cJSON_AddStringToObject(title, "type", "plain_text");
                cJSON_AddStringToObject(title, "text", text);
                cJSON_AddItemToObject(c, "text", mrkdwn(confirm));
                cJSON *yes = cJSON_AddObjectToObject(c, "confirm");
                cJSON_AddStringToObject(yes, "type", "plain_text");
                cJSON_AddStringToObject(yes, "text", text);
                cJSON *no = cJSON_AddObjectToObject(c, "deny");
                cJSON_AddStringToObject(no, "type", "plain_text");
                cJSON_AddStringToObject(no, "text", "Cancel");
        }
        return b;
}

/* The actions of the rollout's phase, as buttons whose value is the canary's name: Approve first
 * while it waits for approval (then Approve, not Promote or Resume, is the primary one). */
static void add_buttons(cJSON *blocks, const struct slack_notice *n)
{
        bool progressing = n->phase && strcmp(n->phase, "Progressing") == 0;
        bool paused = n->phase && strcmp(n->phase, "Paused") == 0;
        const char *name = n->canary ? n->canary : "";
        cJSON *blk, *elements;
        char *sure;

        /* the value comes back in the click as a canary name, and is shown in the confirmations:
         * anything else (never a configured canary) gets no buttons */
        if (!n->buttons || (!progressing && !paused) || !dns1123_is_subdomain(name))
                return;
        blk = cJSON_CreateObject();
        cJSON_AddStringToObject(blk, "type", "actions");
        cJSON_AddStringToObject(blk, "block_id", "canaryd_actions");
        elements = cJSON_AddArrayToObject(blk, "elements");
        if (n->approval)
                cJSON_AddItemToArray(
                    elements, button("Approve", SLACK_ACTION_APPROVE, name, "primary", NULL));
        if (progressing) {
                cJSON_AddItemToArray(elements, button("Promote", SLACK_ACTION_PROMOTE, name,
                                                      n->approval ? NULL : "primary", NULL));
                sure = xasprintf("Send all traffic to the canary of %s now?", name);
                cJSON_AddItemToArray(
                    elements, button("Promote fully", SLACK_ACTION_PROMOTE_FULL, name, NULL, sure));
                free(sure);
                cJSON_AddItemToArray(elements,
                                     button("Pause", SLACK_ACTION_PAUSE, name, NULL, NULL));
        } else {
                cJSON_AddItemToArray(elements, button("Resume", SLACK_ACTION_RESUME, name,
                                                      n->approval ? NULL : "primary", NULL));
        }
        sure = xasprintf("Roll %s back to 0 %% now?", name);
        cJSON_AddItemToArray(elements, button("Abort", SLACK_ACTION_ABORT, name, "danger", sure));
        free(sure);
        cJSON_AddItemToArray(blocks, blk);
}

/* The message's "text" (its fallback and notification text): b holds it escaped, and is cut to
 * Slack's length here. b is emptied. */
static void add_text(cJSON *root, struct buf *b)
{
        char *t = buf_steal(b);
        char *s = slack_text_dup(t, TEXT_MAX_CHARS, false); /* already escaped; only cut */

        cJSON_AddStringToObject(root, "text", s);
        free(s);
        free(t);
}

/* The header block "<emoji> CANARY (NAMESPACE): what". */
static void add_title(cJSON *blocks, const char *emoji, const char *canary, const char *ns,
                      const char *what)
{
        char *t = xasprintf("%s (%s): %s", canary, ns, what);

        add_header(blocks, emoji, t);
        free(t);
}

/* A section of fields, appended to blocks; returns its fields for the caller to fill. */
static cJSON *add_fields_section(cJSON *blocks)
{
        cJSON *blk = cJSON_CreateObject();
        cJSON *fields;

        cJSON_AddStringToObject(blk, "type", "section");
        fields = cJSON_AddArrayToObject(blk, "fields");
        cJSON_AddItemToArray(blocks, blk);
        return fields;
}

/* A notice's text: the mention, canary, namespace, event and weight, and the reason (or the
 * failed metrics). */
static void notice_text(struct buf *b, const struct slack_notice *n, const char *failed)
{
        if (n->mention && *n->mention) {
                if (mention_ok(n->mention))
                        buf_puts(b, n->mention);
                else
                        put_text(b, n->mention, 100, true);
                buf_puts(b, " ");
        }
        put_text(b, n->canary ? n->canary : "?", 200, true);
        buf_puts(b, " (");
        put_text(b, n->namespace_ ? n->namespace_ : "?", 200, true);
        buf_puts(b, "): ");
        put_text(b, n->event ? n->event : "event", 100, true);
        buf_printf(b, " at %u%%", n->weight);
        if ((n->reason && *n->reason) || failed) {
                buf_puts(b, " \u2014 ");
                put_text(b, n->reason && *n->reason ? n->reason : failed, 1000, true);
        }
        if (n->resend)
                buf_puts(b, " (re-sent)");
}

/* A notice's facts: at most 6 of Slack's 10 fields. */
static void add_facts(cJSON *blocks, const struct slack_notice *n)
{
        cJSON *fields = add_fields_section(blocks);
        char *t;

        if (n->phase && *n->phase)
                add_field(fields, "Phase", n->phase, false);
        if (n->revision && *n->revision)
                add_field(fields, "Revision", n->revision, true);
        add_field(fields, "By", n->actor && *n->actor ? n->actor : "canaryd", false);
        if (n->reason && *n->reason)
                add_field(fields, "Reason", n->reason, false);
        if ((t = window_text(n->window_start_usec, n->window_end_usec))) {
                add_field(fields, "Window", t, false);
                free(t);
        }
        if (n->at_usec) {
                char when[40];

                fmt_time(when, sizeof(when), n->at_usec, TIME_DATE_HMS_UTC);
                add_field(fields, "At", when, false);
        }
}

char *slack_render(const struct slack_notice *n, const char *channel)
{
        struct buf b = {0};
        cJSON *root, *blocks;
        char *failed;

        if (!n)
                return NULL;
        failed = failed_names(n);
        root = cJSON_CreateObject();
        if (channel)
                cJSON_AddStringToObject(root, "channel", channel);
        notice_text(&b, n, failed);
        add_text(root, &b);

        blocks = cJSON_AddArrayToObject(root, "blocks");
        /* Header: plain_text, <= 150 characters, no escaping. */
        add_title(blocks, event_emoji(n->event), n->canary ? n->canary : "?",
                  n->namespace_ ? n->namespace_ : "?", n->event ? n->event : "event");
        if (n->mention && *n->mention) {
                char *t = mention_ok(n->mention) ? xstrdup(n->mention)
                                                 : slack_text_dup(n->mention, 100, true);
                cJSON_AddItemToArray(blocks, section_text(t));
                free(t);
        }
        add_progress(blocks, n);
        add_facts(blocks, n);
        if (n->metrics && n->n_metrics > 0) {
                add_metric_table(blocks, n);
                add_metric_details(blocks, n);
        }
        add_failure_links(blocks, n);
        add_buttons(blocks, n);
        if (n->resend)
                add_context(blocks, RESENT_NOTE);

        free(failed);
        return slack_json_print_free(root);
}

char *slack_render_summary(const struct slack_notice *n)
{
        const char *canary, *ns, *phase;
        struct buf b = {0};
        cJSON *root, *blocks, *fields;

        if (!n)
                return NULL;
        canary = n->canary ? n->canary : "?";
        ns = n->namespace_ ? n->namespace_ : "?";
        phase = n->phase && *n->phase ? n->phase : "Progressing";

        root = cJSON_CreateObject();
        put_text(&b, canary, 200, true);
        buf_puts(&b, " (");
        put_text(&b, ns, 200, true);
        buf_printf(&b, "): rollout ");
        put_text(&b, phase, 40, true);
        buf_printf(&b, " at %u%%", n->weight);
        if (n->revision && *n->revision) {
                buf_puts(&b, ", revision ");
                put_text(&b, n->revision, 128, true);
        }
        add_text(root, &b);

        blocks = cJSON_AddArrayToObject(root, "blocks");
        add_title(blocks, phase_emoji(phase), canary, ns, phase);
        add_progress(blocks, n);
        fields = add_fields_section(blocks);
        if (n->revision && *n->revision)
                add_field(fields, "Revision", n->revision, true);
        add_field(fields, "Last event", n->event ? n->event : "-", false);
        add_field(fields, "By", n->actor && *n->actor ? n->actor : "canaryd", false);
        if (n->reason && *n->reason)
                add_field(fields, "Reason", n->reason, false);

        add_failure_links(blocks, n);
        add_buttons(blocks, n);
        add_context(blocks, "canaryd keeps this message up to date; every event is in the thread.");
        return slack_json_print_free(root);
}

char *slack_timeline_line(const struct slack_notice *n)
{
        struct buf b = {0};

        if (!n)
                return NULL;
        if (n->at_usec) {
                char when[16];

                fmt_time(when, sizeof(when), n->at_usec, TIME_HMS);
                buf_printf(&b, "`%s` ", when);
        }
        buf_printf(&b, "%s ", event_emoji(n->event));
        put_text(&b, n->event ? n->event : "event", 40, true);
        buf_printf(&b, " at %u%%", n->weight);
        if (n->reason && *n->reason) {
                buf_puts(&b, " \u2014 ");
                put_text(&b, n->reason, 100, true);
        }
        return buf_steal(&b);
}

/* A rendered payload as a JSON object; NULL when payload is NULL, not JSON or not an object. */
static cJSON *payload_parse(const char *payload)
{
        cJSON *root = payload ? cJSON_Parse(payload) : NULL;

        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return NULL;
        }
        return root;
}

char *slack_summary_with_timeline(const char *summary, const char *const *lines, size_t n)
{
        cJSON *root, *blocks, *blk;
        struct buf b = {0};
        size_t first = n, used = 0;
        char *t;
        int count;

        root = payload_parse(summary);
        blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
        if (!cJSON_IsArray(blocks)) {
                cJSON_Delete(root);
                return NULL;
        }
        if (n == 0)
                return slack_json_print_free(root);
        /* The newest lines that fit in one section. */
        while (first > 0 &&
               used + strlen(lines[first - 1] ? lines[first - 1] : "") + 64 < TEXT_MAX_CHARS) {
                used += strlen(lines[first - 1] ? lines[first - 1] : "") + 1;
                first--;
        }
        buf_puts(&b, "*Timeline*");
        if (first > 0)
                buf_printf(&b, "\n_%zu earlier events not shown_", first);
        for (size_t i = first; i < n; i++) {
                buf_puts(&b, "\n");
                buf_puts(&b, lines[i] ? lines[i] : "");
        }
        t = buf_steal(&b);
        blk = section_text(t);
        free(t);
        /* before the closing context block */
        count = cJSON_GetArraySize(blocks);
        if (count > 0 && count < MAX_BLOCKS) {
                cJSON *last = cJSON_GetArrayItem(blocks, count - 1);
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(last, "type");

                /* not cJSON_InsertItemInArray: Debian 12's cJSON loses the item */
                if (cJSON_IsString(type) && strcmp(type->valuestring, "context") == 0) {
                        last = cJSON_DetachItemFromArray(blocks, count - 1);
                        cJSON_AddItemToArray(blocks, blk);
                        cJSON_AddItemToArray(blocks, last);
                } else {
                        cJSON_AddItemToArray(blocks, blk);
                }
        } else if (count < MAX_BLOCKS) {
                cJSON_AddItemToArray(blocks, blk);
        } else {
                cJSON_Delete(blk);
        }
        return slack_json_print_free(root);
}

static void set_member(cJSON *root, const char *name, cJSON *value)
{
        cJSON_DeleteItemFromObjectCaseSensitive(root, name);
        cJSON_AddItemToObject(root, name, value);
}

char *slack_payload_prepare(const char *payload, const char *channel, const char *thread_ts,
                            bool reply_broadcast, const char *ts, const char *key)
{
        cJSON *root;

        root = payload_parse(payload);
        if (!root)
                return NULL;
        if (channel && !cJSON_GetObjectItemCaseSensitive(root, "channel"))
                cJSON_AddStringToObject(root, "channel", channel);
        if (thread_ts)
                set_member(root, "thread_ts", cJSON_CreateString(thread_ts));
        if (reply_broadcast)
                set_member(root, "reply_broadcast", cJSON_CreateTrue());
        if (ts)
                set_member(root, "ts", cJSON_CreateString(ts));
        if (key) {
                cJSON *md = cJSON_CreateObject(), *ep;

                cJSON_AddStringToObject(md, "event_type", "canaryd_notification");
                ep = cJSON_AddObjectToObject(md, "event_payload");
                cJSON_AddStringToObject(ep, "key", key);
                set_member(root, "metadata", md);
        }
        return slack_json_print_free(root);
}

char *slack_payload_set_channel(const char *payload, const char *channel)
{
        return slack_payload_prepare(payload, channel, NULL, false, NULL, NULL);
}

char *slack_payload_mark_resent(const char *payload)
{
        cJSON *root, *text, *blocks;
        char *t;

        root = payload_parse(payload);
        if (!root)
                return NULL;
        text = cJSON_GetObjectItemCaseSensitive(root, "text");
        t = xasprintf("%s (re-sent)", cJSON_IsString(text) ? text->valuestring : "");
        set_member(root, "text", cJSON_CreateString(t));
        free(t);
        blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
        if (cJSON_IsArray(blocks) && cJSON_GetArraySize(blocks) < MAX_BLOCKS)
                add_context(blocks, RESENT_NOTE);
        return slack_json_print_free(root);
}

char *slack_payload_text(const char *payload)
{
        cJSON *root = payload ? cJSON_Parse(payload) : NULL;
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
        char *t = cJSON_IsString(text) ? xstrdup(text->valuestring) : NULL;

        cJSON_Delete(root);
        return t;
}

char *slack_render_digest(const char *const *texts, size_t n, size_t more)
{
        struct buf b = {0};
        cJSON *root = cJSON_CreateObject(), *blocks;
        char *t;

        buf_printf(&b, "%zu updates", n + more);
        for (size_t i = 0; i < n; i++)
                buf_printf(&b, "\n• %s", texts[i] ? texts[i] : "");
        if (more)
                buf_printf(&b, "\n… and %zu more", more);
        /* Slack's text limit is 40,000 characters; a digest holds at most SLACK_DIGEST_LINES */
        t = buf_steal(&b);
        cJSON_AddStringToObject(root, "text", t);
        blocks = cJSON_AddArrayToObject(root, "blocks");
        add_context(blocks, "Several updates while Slack was busy, in one message");
        free(t);
        return slack_json_print_free(root);
}
