/* Slack wire formats (WIRE.md §4, SPEC §6): renders a rollout notice as {"text", "blocks"}
 * within Block Kit's limits (50 blocks, header plain_text <= 150 characters, 10 fields per
 * section), adds a channel to a rendered payload, and reads chat.postMessage responses.
 * Pure: buffers in, buffers out. User text is made valid UTF-8 and, in mrkdwn, &, < and > are
 * escaped so that nobody's reason string can ping @channel or forge a link. */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/slack.h"

#define MAX_BLOCKS         50
#define HEADER_MAX_CHARS   150
#define TEXT_MAX_CHARS     2900 /* section text and message text: Slack allows 3000 */
#define FIELD_MAX_CHARS    1900 /* section fields: Slack allows 2000 */
#define FAILED_NAMES_SHOWN 3

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        unsigned cp, need, min;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                need = 1, cp = s[0] & 0x1f, min = 0x80;
        else if ((s[0] & 0xf0) == 0xe0)
                need = 2, cp = s[0] & 0x0f, min = 0x800;
        else if ((s[0] & 0xf8) == 0xf0)
                need = 3, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (n < need + 1)
                return 0;
        for (unsigned i = 1; i <= need; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return need + 1;
}

/* Appends s as valid UTF-8 (bad bytes become U+FFFD), control characters other than newline
 * as spaces, at most max_chars characters (cut with "…"), with &<> escaped when mrkdwn. */
static void put_text(struct buf *b, const char *s, size_t max_chars, bool mrkdwn)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        size_t left = strlen((const char *)p), chars = 0;

        while (left > 0) {
                size_t l = utf8_len(p, left);

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

static char *text_dup(const char *s, size_t max_chars, bool mrkdwn)
{
        struct buf b = {0};

        put_text(&b, s, max_chars, mrkdwn);
        return buf_steal(&b);
}

static bool is_failure_event(const char *event)
{
        static const char *const failures[] = {"rolled back", "aborted", "paused", "drift",
                                               "analysis failed"};

        for (size_t i = 0; event && i < ELEMENTSOF(failures); i++)
                if (strcmp(event, failures[i]) == 0)
                        return true;
        return false;
}

static const char *event_emoji(const char *event)
{
        static const struct {
                const char *event, *emoji;
        } table[] = {
            {"started", ":rocket:"},          {"progressed", ":arrow_forward:"},
            {"analysis failed", ":warning:"}, {"paused", ":double_vertical_bar:"},
            {"resumed", ":arrow_forward:"},   {"promoted", ":white_check_mark:"},
            {"rolled back", ":rewind:"},      {"aborted", ":octagonal_sign:"},
            {"drift", ":warning:"},
        };

        for (size_t i = 0; event && i < ELEMENTSOF(table); i++)
                if (strcmp(event, table[i].event) == 0)
                        return table[i].emoji;
        return ":information_source:";
}

static const char *verdict_label(enum verdict v)
{
        switch (v) {
        case VERDICT_PASS:
                return ":white_check_mark: pass";
        case VERDICT_FAIL:
                return ":x: *fail*";
        case VERDICT_INCONCLUSIVE:
                return ":grey_question: inconclusive";
        case _VERDICT_MAX:
                break;
        }
        return "?";
}

static const char *judge_label(enum judge_kind k)
{
        switch (k) {
        case JUDGE_THRESHOLD:
                return "threshold";
        case JUDGE_RATIO:
                return "ratio";
        case JUDGE_MANN_WHITNEY:
                return "mann_whitney";
        case _JUDGE_KIND_MAX:
                break;
        }
        return "?";
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

static cJSON *metric_block(const struct metric_report *m)
{
        char name[sizeof(m->name) + 1], detail[sizeof(m->detail) + 1], c[32], bl[32];
        struct buf b = {0};
        cJSON *s;
        char *t;

        /* The report's arrays need not be NUL-terminated. */
        snprintf(name, sizeof(name), "%.*s", (int)sizeof(m->name), m->name);
        snprintf(detail, sizeof(detail), "%.*s", (int)sizeof(m->detail), m->detail);
        fmt_num(c, sizeof(c), m->canary);
        fmt_num(bl, sizeof(bl), m->baseline);

        buf_puts(&b, "*");
        put_text(&b, name, 64, true);
        buf_printf(&b, "* (%s) | canary `%s` (n=%zu) | baseline `%s` (n=%zu) | %s",
                   judge_label(m->judge), c, m->n_canary, bl, m->n_baseline,
                   verdict_label(m->verdict));
        if (detail[0]) {
                buf_puts(&b, "\n_");
                put_text(&b, detail, 200, true);
                buf_puts(&b, "_");
        }
        t = buf_steal(&b);
        s = section_text(t);
        free(t);
        return s;
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

static void add_runbook(cJSON *blocks, const char *url)
{
        struct buf b = {0};
        char *t;

        buf_puts(&b, ":book: *Runbook:* ");
        /* A link only for a URL that stays well inside a section's 3000 characters once
         * escaped; anything longer is shown (truncated) as text rather than lose the message. */
        if ((strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
            strlen(url) <= 900) {
                /* <url|label>: '|', '<', '>' and controls would break the link; other bytes,
                 * UTF-8 included, go through as they are (& escaped as Slack requires). */
                buf_puts(&b, "<");
                for (const char *p = url; *p; p++) {
                        unsigned char ch = (unsigned char)*p;
                        if (ch <= 0x20 || ch == 0x7f || ch == '|' || ch == '<' || ch == '>')
                                buf_printf(&b, "%%%02X", ch);
                        else if (ch == '&')
                                buf_puts(&b, "&amp;");
                        else
                                buf_append(&b, p, 1);
                }
                buf_puts(&b, "|");
                put_text(&b, url, 200, true);
                buf_puts(&b, ">");
        } else {
                put_text(&b, url, 500, true);
        }
        t = buf_steal(&b);
        cJSON_AddItemToArray(blocks, section_text(t));
        free(t);
}

char *slack_render(const struct slack_notice *n, const char *channel)
{
        const char *canary, *ns, *event;
        bool runbook, truncate;
        struct buf b = {0};
        cJSON *root, *blocks, *blk, *fields, *txt;
        size_t fixed, budget, shown = 0;
        char *t, *failed, *out, *s;

        if (!n)
                return NULL;
        canary = n->canary ? n->canary : "?";
        ns = n->namespace_ ? n->namespace_ : "?";
        event = n->event ? n->event : "event";
        runbook = is_failure_event(n->event) && n->runbook_url && *n->runbook_url;
        failed = failed_names(n);

        root = cJSON_CreateObject();
        if (channel)
                cJSON_AddStringToObject(root, "channel", channel);

        /* Fallback / notification text. */
        put_text(&b, canary, 200, true);
        buf_puts(&b, " (");
        put_text(&b, ns, 200, true);
        buf_puts(&b, "): ");
        put_text(&b, event, 100, true);
        buf_printf(&b, " at %u%%", n->weight);
        if ((n->reason && *n->reason) || failed) {
                buf_puts(&b, " \u2014 ");
                put_text(&b, n->reason && *n->reason ? n->reason : failed, 1000, true);
        }
        if (n->resend)
                buf_puts(&b, " (re-sent)");
        t = buf_steal(&b);
        s = text_dup(t, TEXT_MAX_CHARS, false); /* already escaped; only cut */
        cJSON_AddStringToObject(root, "text", s);
        free(s);
        free(t);

        blocks = cJSON_AddArrayToObject(root, "blocks");

        /* Header: plain_text, <= 150 characters, no escaping. */
        t = xasprintf("%s %s (%s): %s", event_emoji(n->event), canary, ns, event);
        s = text_dup(t, HEADER_MAX_CHARS, false);
        free(t);
        blk = cJSON_CreateObject();
        cJSON_AddStringToObject(blk, "type", "header");
        txt = cJSON_AddObjectToObject(blk, "text");
        cJSON_AddStringToObject(txt, "type", "plain_text");
        cJSON_AddStringToObject(txt, "text", s);
        cJSON_AddBoolToObject(txt, "emoji", true);
        cJSON_AddItemToArray(blocks, blk);
        free(s);

        /* Facts: at most 5 of Slack's 10 fields. */
        blk = cJSON_CreateObject();
        cJSON_AddStringToObject(blk, "type", "section");
        fields = cJSON_AddArrayToObject(blk, "fields");
        t = xasprintf("%u%%", n->weight);
        add_field(fields, "Weight", t, false);
        free(t);
        t = xasprintf("%u/%u", n->step, n->n_steps);
        add_field(fields, "Step", t, false);
        free(t);
        if (n->revision && *n->revision)
                add_field(fields, "Revision", n->revision, true);
        add_field(fields, "By", n->actor && *n->actor ? n->actor : "canaryd", false);
        if (n->reason && *n->reason)
                add_field(fields, "Reason", n->reason, false);
        cJSON_AddItemToArray(blocks, blk);

        /* Metric table: one section per metric, within the 50-block budget. Failures first
         * when some must be cut, so a truncated message still shows why. */
        fixed = 2 + (runbook ? 1 : 0) + (n->resend ? 1 : 0);
        budget = MAX_BLOCKS - fixed;
        truncate = n->metrics && n->n_metrics > budget;
        if (truncate)
                budget--; /* room for the note */
        for (int pass = truncate ? 0 : 1; pass < 2 && n->metrics; pass++)
                for (size_t i = 0; i < n->n_metrics && shown < budget; i++) {
                        bool fail = n->metrics[i].verdict == VERDICT_FAIL;

                        if (truncate && (pass == 0) != fail)
                                continue;
                        cJSON_AddItemToArray(blocks, metric_block(&n->metrics[i]));
                        shown++;
                }
        if (truncate) {
                t = xasprintf("_\u2026and %zu more metrics not shown (Slack allows %d blocks)_",
                              n->n_metrics - shown, MAX_BLOCKS);
                cJSON_AddItemToArray(blocks, section_text(t));
                free(t);
        }

        if (runbook)
                add_runbook(blocks, n->runbook_url);

        if (n->resend) {
                cJSON *elems;

                blk = cJSON_CreateObject();
                cJSON_AddStringToObject(blk, "type", "context");
                elems = cJSON_AddArrayToObject(blk, "elements");
                cJSON_AddItemToArray(elems, mrkdwn(":repeat: Re-sent after a daemon restart: "
                                                   "this may duplicate an earlier message."));
                cJSON_AddItemToArray(blocks, blk);
        }

        s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        free(failed);
        if (!s)
                return NULL;
        out = xstrdup(s);
        cJSON_free(s);
        return out;
}

char *slack_payload_set_channel(const char *payload, const char *channel)
{
        cJSON *root;
        char *s, *out;

        if (!payload)
                return NULL;
        root = cJSON_Parse(payload);
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return NULL;
        }
        if (channel && !cJSON_GetObjectItemCaseSensitive(root, "channel"))
                cJSON_AddStringToObject(root, "channel", channel);
        s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!s)
                return NULL;
        out = xstrdup(s);
        cJSON_free(s);
        return out;
}

int slack_parse_post_response(const char *body, size_t len, char **ret_ts, char **ret_error)
{
        const cJSON *ok, *ts, *err;
        cJSON *root;
        int r;

        if (!body || len == 0)
                return -EBADMSG;
        root = cJSON_ParseWithLength(body, len);
        ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
        if (!cJSON_IsObject(root) || !cJSON_IsBool(ok)) {
                cJSON_Delete(root);
                return -EBADMSG;
        }
        if (cJSON_IsTrue(ok)) {
                ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
                if (ret_ts)
                        *ret_ts = cJSON_IsString(ts) ? xstrdup(ts->valuestring) : NULL;
                r = 0;
        } else {
                err = cJSON_GetObjectItemCaseSensitive(root, "error");
                if (ret_error)
                        *ret_error = text_dup(
                            cJSON_IsString(err) ? err->valuestring : "unknown_error", 100, false);
                r = -EREMOTEIO;
        }
        cJSON_Delete(root);
        return r;
}
