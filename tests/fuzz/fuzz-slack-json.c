/* Fuzzes the Slack codec (src/codec/slack-render.c, slack-api.c, slack-outbox-json.c) on
 * outside input: Slack's response bodies (slack_parse_post_response), payloads
 * (slack_payload_set_channel) and the user-controlled strings of a notice (canary, namespace,
 * event, revision, reason, actor, runbook URL, metric names and details), rendered by slack_render.
 *
 * Input: byte 0 = mode (channel, resend, number of metrics, buttons, approval, paused); the rest is
 * the response body, and also, split at NUL bytes, the notice's strings in the order above.
 *
 * Invariants: no crash or sanitizer report; the response parser returns 0 / -EREMOTEIO /
 * -EBADMSG with the outputs the header promises (an error code is valid UTF-8, without control
 * characters, at most 100 characters); a payload with a channel added is still a JSON object
 * and has "channel"; a rendered notice is a JSON object whose strings are all valid UTF-8,
 * within Block Kit's limits: at most 50 blocks, a header of at most 150 characters, section
 * text of at most 3000 and fields of at most 2000, message text of at most 3000. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/slack.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_PIECES 9

/* Number of code points when s is valid UTF-8 (no overlongs, surrogates or values above
 * U+10FFFF), or -1. Written apart from core/utf8.c on purpose: the oracle must not share the
 * decoder it checks. */
static long utf8_chars(const char *str)
{
        const unsigned char *s = (const unsigned char *)str;
        long n = 0;

        while (*s) {
                unsigned cp, need, min;
                if (s[0] < 0x80)
                        need = 0, cp = s[0], min = 0;
                else if ((s[0] & 0xe0) == 0xc0)
                        need = 1, cp = s[0] & 0x1f, min = 0x80;
                else if ((s[0] & 0xf0) == 0xe0)
                        need = 2, cp = s[0] & 0x0f, min = 0x800;
                else if ((s[0] & 0xf8) == 0xf0)
                        need = 3, cp = s[0] & 0x07, min = 0x10000;
                else
                        return -1;
                for (unsigned i = 1; i <= need; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return -1;
                        cp = (cp << 6) | (s[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return -1;
                s += need + 1;
                n++;
        }
        return n;
}

static void check_response(const char *body, size_t len)
{
        char *ts = NULL, *err = NULL;
        int r = slack_parse_post_response(body, len, &ts, &err);

        switch (r) {
        case 0:
                CHECK(!err);
                break;
        case -EREMOTEIO: {
                CHECK(err && !ts);
                long n = utf8_chars(err);
                CHECK(n >= 0 && n <= 100);
                for (const char *p = err; *p; p++)
                        CHECK((unsigned char)*p >= 0x20 || *p == '\n');
                break;
        }
        case -EBADMSG:
                CHECK(!ts && !err);
                break;
        default:
                abort();
        }
        free(ts);
        free(err);

        /* conversations.replies / .history answers: found, not found, or a clean error */
        ts = err = NULL;
        r = slack_find_key(body, len, "k/1", &ts, &err);
        CHECK(r == 1 || r == 0 || r == -EREMOTEIO || r == -EBADMSG);
        CHECK(r == -EREMOTEIO ? err != NULL : err == NULL);
        CHECK(r == 1 || !ts);
        free(ts);
        free(err);
        free(slack_response_channel(body, len));

        /* the outbox file: parsed, or refused with a message; a parsed one re-encodes */
        struct slack_outbox o = {0};
        err = NULL;
        if (slack_outbox_from_json(body, len, &o, &err) == 0) {
                char *again = slack_outbox_to_json(&o);
                CHECK(again && !err);
                free(again);
                slack_outbox_done(&o);
        } else {
                CHECK(err);
        }
        free(err);

        /* a line of the outbox log: parsed with a positive seq and 1 or 2 messages, or refused
         * with a message; a parsed one re-encodes to a line that parses the same */
        struct slack_log_record rec, back;
        err = NULL;
        if (slack_outbox_log_parse(body, len, &rec, &err) == 0) {
                char *line = slack_outbox_log_line(rec.seq, rec.kind, &rec.held);
                CHECK(!err && rec.seq >= 1 && rec.held.n_msgs >= 1 && rec.held.n_msgs <= 2);
                CHECK(rec.kind == SLACK_LOG_QUEUE || rec.held.canary);
                CHECK(line && line[strlen(line) - 1] == '\n');
                CHECK(slack_outbox_log_parse(line, strlen(line) - 1, &back, NULL) == 0);
                CHECK(back.seq == rec.seq && back.kind == rec.kind &&
                      back.held.n_msgs == rec.held.n_msgs);
                slack_outbox_held_done(&back.held);
                slack_outbox_held_done(&rec.held);
                free(line);
        } else {
                CHECK(err);
        }
        free(err);
}

static void check_set_channel(const char *payload, const char *channel)
{
        char *out = slack_payload_set_channel(payload, channel);
        if (!out)
                return;
        cJSON *o = cJSON_Parse(out);
        CHECK(cJSON_IsObject(o));
        if (channel)
                CHECK(cJSON_GetObjectItemCaseSensitive(o, "channel"));
        cJSON_Delete(o);
        free(out);
}

/* Every string anywhere in the tree is valid UTF-8. */
static void check_strings(const cJSON *j)
{
        if (cJSON_IsString(j))
                CHECK(utf8_chars(j->valuestring) >= 0);
        for (const cJSON *c = j->child; c; c = c->next)
                check_strings(c);
}

static long text_chars(const cJSON *o)
{
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
        CHECK(cJSON_IsString(t));
        return utf8_chars(t->valuestring);
}

static void check_rendered(const char *json, const char *channel)
{
        cJSON *root = cJSON_Parse(json);
        CHECK(cJSON_IsObject(root));
        check_strings(root);
        if (channel)
                CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "channel")));
        CHECK(text_chars(root) <= 3000);

        const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks"), *b;
        CHECK(cJSON_IsArray(blocks));
        CHECK(cJSON_GetArraySize(blocks) >= 1 && cJSON_GetArraySize(blocks) <= 50);
        cJSON_ArrayForEach (b, blocks) {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
                const cJSON *fields = cJSON_GetObjectItemCaseSensitive(b, "fields"), *f;
                CHECK(cJSON_IsString(type));
                if (strcmp(type->valuestring, "header") == 0)
                        CHECK(text_chars(text) <= 150);
                else if (text)
                        CHECK(text_chars(text) <= 3000);
                CHECK(cJSON_GetArraySize(fields) <= 10);
                cJSON_ArrayForEach (f, fields)
                        CHECK(text_chars(f) <= 2000);
        }
        cJSON_Delete(root);
}

static void check_render(const uint8_t mode, char *const pieces[N_PIECES], const char *channel)
{
        static const enum verdict verdicts[] = {VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE};
        size_t n_metrics = (mode >> 3) % 4 == 3 ? 60 : (mode >> 3) % 4;
        struct metric_report *m = calloc(n_metrics ? n_metrics : 1, sizeof(*m));
        CHECK(m);
        for (size_t i = 0; i < n_metrics; i++) {
                /* name and detail need not be NUL-terminated: fill them to the brim. */
                size_t ln = strlen(pieces[7]), ld = strlen(pieces[8]);
                memcpy(m[i].name, pieces[7], ln < sizeof(m[i].name) ? ln : sizeof(m[i].name));
                memcpy(m[i].detail, pieces[8], ld < sizeof(m[i].detail) ? ld : sizeof(m[i].detail));
                m[i].judge = (enum judge_kind)(i % _JUDGE_KIND_MAX);
                m[i].verdict = verdicts[(i + mode) % 3];
                m[i].canary = i % 2 ? (double)NAN : 1.5 * (double)i;
                m[i].baseline = i % 3 ? 1e300 : -0.0;
                m[i].n_canary = i;
        }
        struct slack_notice n = {
            .canary = pieces[0],
            .namespace_ = pieces[1],
            .event = pieces[2],
            .revision = pieces[3],
            .reason = pieces[4],
            .actor = pieces[5],
            .runbook_url = pieces[6],
            .weight = mode,
            .step = mode % 9,
            .n_steps = 8,
            .metrics = n_metrics ? m : NULL,
            .n_metrics = n_metrics,
            .resend = (mode >> 2) & 1,
            /* bit 5: the buttons of a running rollout (bit 7: paused), bit 6: it waits for
             * approval */
            .phase = (mode >> 5) & 1 ? (mode & 0x80 ? "Paused" : "Progressing") : NULL,
            .buttons = (mode >> 5) & 1,
            .approval = (mode >> 6) & 1,
        };
        char *json = slack_render(&n, channel);
        CHECK(json);
        check_rendered(json, channel);
        free(json);
        free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        size_t len = size - 1;
        const char *channel = (mode & 1) ? "#deploys" : NULL;

        /* An exact-size copy, so that ASan catches any read past len. */
        char *body = malloc(len ? len : 1);
        CHECK(body);
        if (len)
                memcpy(body, data + 1, len);
        check_response(body, len);
        free(body);

        /* The same bytes as C strings: the whole, and split at NUL bytes (missing pieces are
         * NULL, except the metric name and detail, which are ""). */
        char *text = malloc(len + 1);
        CHECK(text);
        if (len)
                memcpy(text, data + 1, len);
        text[len] = '\0';
        check_set_channel(text, channel);

        char *pieces[N_PIECES] = {0};
        char *p = text, *end = text + len;
        for (size_t i = 0; i < N_PIECES && p <= end; i++) {
                pieces[i] = p;
                p += strlen(p) + 1;
        }
        if ((mode & 2) == 0)
                for (size_t i = 0; i < 7; i++)
                        if (pieces[i] && !*pieces[i])
                                pieces[i] = NULL;
        static char empty[] = "";
        if (!pieces[7])
                pieces[7] = empty;
        if (!pieces[8])
                pieces[8] = empty;
        check_render(mode, pieces, channel);
        free(text);
        return 0;
}
