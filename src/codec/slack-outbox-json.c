/* The Slack outbox file and its log as JSON (docs/slack.md, "The outbox on disk"): the
 * messages queued, the threads with their timelines and the held (written-ahead) notifications,
 * encoded and decoded; io/outbox.c does the writing. Pure: buffers in, buffers out. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/slack-json.h"
#include "slack-text.h"

#define OUTBOX_VERSION 1

static void add_opt_string(cJSON *o, const char *name, const char *v)
{
        if (v)
                cJSON_AddStringToObject(o, name, v);
}

static cJSON *outbox_msg_to_json(const struct slack_outbox_msg *m)
{
        cJSON *e = cJSON_CreateObject();

        add_opt_string(e, "key", m->key);
        add_opt_string(e, "thread", m->thread);
        add_opt_string(e, "channel", m->channel);
        add_opt_string(e, "payload", m->payload ? m->payload : "");
        cJSON_AddBoolToObject(e, "broadcast", m->broadcast);
        cJSON_AddBoolToObject(e, "coalescible", m->coalescible);
        cJSON_AddBoolToObject(e, "routine", m->routine);
        cJSON_AddBoolToObject(e, "maybe_sent", m->maybe_sent);
        cJSON_AddBoolToObject(e, "resent", m->resent);
        return e;
}

static cJSON *raw_u64(uint64_t v)
{
        char w[24];

        /* a plain integer: cJSON would print some 16-digit ones with an exponent */
        snprintf(w, sizeof(w), "%llu", (unsigned long long)v);
        return cJSON_CreateRaw(w);
}

static cJSON *held_to_json(const struct slack_outbox_held *h)
{
        cJSON *e = cJSON_CreateObject(), *ms;

        add_opt_string(e, "canary", h->canary);
        cJSON_AddItemToObject(e, "write_us", raw_u64(h->write_usec));
        add_opt_string(e, "base_rv", h->base_rv);
        add_opt_string(e, "thread", h->thread);
        add_opt_string(e, "thread_ts", h->thread_ts);
        add_opt_string(e, "summary", h->summary);
        add_opt_string(e, "line", h->line);
        ms = cJSON_AddArrayToObject(e, "messages");
        for (size_t j = 0; j < h->n_msgs; j++)
                cJSON_AddItemToArray(ms, outbox_msg_to_json(&h->msgs[j]));
        return e;
}

char *slack_outbox_to_json(const struct slack_outbox *o)
{
        cJSON *root = cJSON_CreateObject(), *arr;

        cJSON_AddNumberToObject(root, "version", OUTBOX_VERSION);
        cJSON_AddItemToObject(root, "log_seq", raw_u64(o->log_seq));
        arr = cJSON_AddArrayToObject(root, "messages");
        for (size_t i = 0; i < o->n_msgs; i++)
                cJSON_AddItemToArray(arr, outbox_msg_to_json(&o->msgs[i]));
        arr = cJSON_AddArrayToObject(root, "held");
        for (size_t i = 0; i < o->n_held; i++)
                cJSON_AddItemToArray(arr, held_to_json(&o->held[i]));
        arr = cJSON_AddArrayToObject(root, "threads");
        for (size_t i = 0; i < o->n_threads; i++) {
                const struct slack_outbox_thread *t = &o->threads[i];
                cJSON *e = cJSON_CreateObject(), *lines;

                add_opt_string(e, "id", t->id ? t->id : "");
                add_opt_string(e, "channel", t->channel);
                add_opt_string(e, "ts", t->ts);
                add_opt_string(e, "summary", t->summary);
                lines = cJSON_AddArrayToObject(e, "timeline");
                for (size_t j = 0; j < t->n_lines; j++)
                        cJSON_AddItemToArray(lines, cJSON_CreateString(t->lines[j]));
                cJSON_AddNumberToObject(e, "timeline_dropped", (double)t->n_dropped_lines);
                cJSON_AddBoolToObject(e, "update_pending", t->update_pending);
                cJSON_AddBoolToObject(e, "parent_maybe_sent", t->parent_maybe_sent);
                cJSON_AddNumberToObject(e, "created_us", (double)t->created_usec);
                cJSON_AddItemToArray(arr, e);
        }
        arr = cJSON_AddArrayToObject(root, "recent");
        for (size_t i = 0; i < o->n_recent; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateString(o->recent[i]));
        return slack_json_print_free(root);
}

static int opt_string(const cJSON *o, const char *name, bool required, char **ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        *ret = NULL;
        if (!v || cJSON_IsNull(v))
                return required ? -EBADMSG : 0;
        if (!cJSON_IsString(v))
                return -EBADMSG;
        *ret = xstrdup(v->valuestring);
        return 0;
}

static bool opt_bool(const cJSON *o, const char *name)
{
        return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static double opt_number(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e18 ? v->valuedouble
                                                                                 : 0;
}

static int outbox_msg_from_json(const cJSON *e, struct slack_outbox_msg *m)
{
        if (!cJSON_IsObject(e))
                return -EBADMSG;
        if (opt_string(e, "key", false, &m->key) < 0 ||
            opt_string(e, "thread", false, &m->thread) < 0 ||
            opt_string(e, "channel", false, &m->channel) < 0 ||
            opt_string(e, "payload", true, &m->payload) < 0)
                return -EBADMSG;
        m->broadcast = opt_bool(e, "broadcast");
        m->coalescible = opt_bool(e, "coalescible");
        m->routine = opt_bool(e, "routine"); /* absent (older outbox): never folded */
        m->maybe_sent = opt_bool(e, "maybe_sent");
        m->resent = opt_bool(e, "resent");
        return 0;
}

/* Parses one held entry into *h (zeroed first; on failure what was parsed is freed).
 * need_canary: a write-ahead entry names its canary; a queued record of the log does not. */
static int held_from_json(const cJSON *e, bool need_canary, struct slack_outbox_held *h)
{
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "messages"), *m;
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "write_us");

        memset(h, 0, sizeof(*h));
        if (!cJSON_IsObject(e) || !cJSON_IsArray(ms) || cJSON_GetArraySize(ms) < 1 ||
            cJSON_GetArraySize(ms) > 2 || !cJSON_IsNumber(w))
                return -EBADMSG;
        if (opt_string(e, "canary", need_canary, &h->canary) < 0 ||
            opt_string(e, "base_rv", false, &h->base_rv) < 0 ||
            opt_string(e, "thread", false, &h->thread) < 0 ||
            opt_string(e, "thread_ts", false, &h->thread_ts) < 0 ||
            opt_string(e, "summary", false, &h->summary) < 0 ||
            opt_string(e, "line", false, &h->line) < 0)
                goto fail;
        h->write_usec = (usec_t)opt_number(e, "write_us");
        cJSON_ArrayForEach (m, ms) {
                if (outbox_msg_from_json(m, &h->msgs[h->n_msgs]) < 0) {
                        slack_outbox_msg_done(&h->msgs[h->n_msgs]);
                        goto fail;
                }
                h->n_msgs++;
        }
        return 0;
fail:
        slack_outbox_held_done(h);
        return -EBADMSG;
}

int slack_outbox_from_json(const char *json, size_t len, struct slack_outbox *ret, char **ret_error)
{
        struct slack_outbox o = {0};
        const cJSON *msgs, *held, *threads, *recent, *e;
        const char *what = "not a JSON object";
        cJSON *root;

        root = json ? cJSON_ParseWithLength(json, len) : NULL;
        if (!cJSON_IsObject(root))
                goto fail;
        msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        threads = cJSON_GetObjectItemCaseSensitive(root, "threads");
        recent = cJSON_GetObjectItemCaseSensitive(root, "recent");
        held = cJSON_GetObjectItemCaseSensitive(root, "held"); /* absent before write-ahead */
        what = "\"messages\", \"threads\" and \"recent\" must be arrays";
        if (!cJSON_IsArray(msgs) || !cJSON_IsArray(threads) || !cJSON_IsArray(recent) ||
            (held && !cJSON_IsArray(held)))
                goto fail;
        what = "too many entries";
        if (cJSON_GetArraySize(held) > 4 * SLACK_HELD_MAX ||
            cJSON_GetArraySize(msgs) > 4 * SLACK_QUEUE_MAX ||
            cJSON_GetArraySize(threads) > 4 * SLACK_QUEUE_MAX || cJSON_GetArraySize(recent) > 4096)
                goto fail;

        what = "a message must be an object with a string payload";
        o.msgs = xcalloc((size_t)cJSON_GetArraySize(msgs) + 1, sizeof(*o.msgs));
        cJSON_ArrayForEach (e, msgs) {
                if (outbox_msg_from_json(e, &o.msgs[o.n_msgs++]) < 0)
                        goto fail;
        }

        what = "a held entry must be an object with a canary, a write_us number and 1 or 2 "
               "messages";
        o.held = xcalloc((size_t)cJSON_GetArraySize(held) + 1, sizeof(*o.held));
        cJSON_ArrayForEach (e, held) {
                if (held_from_json(e, true, &o.held[o.n_held]) < 0)
                        goto fail;
                o.n_held++;
        }

        what = "a thread must be an object with a string id and a timeline array";
        o.threads = xcalloc((size_t)cJSON_GetArraySize(threads) + 1, sizeof(*o.threads));
        cJSON_ArrayForEach (e, threads) {
                struct slack_outbox_thread *t = &o.threads[o.n_threads];
                const cJSON *lines = cJSON_GetObjectItemCaseSensitive(e, "timeline"), *l;

                if (!cJSON_IsObject(e) || !cJSON_IsArray(lines))
                        goto fail;
                o.n_threads++;
                if (opt_string(e, "id", true, &t->id) < 0 ||
                    opt_string(e, "channel", false, &t->channel) < 0 ||
                    opt_string(e, "ts", false, &t->ts) < 0 ||
                    opt_string(e, "summary", false, &t->summary) < 0)
                        goto fail;
                cJSON_ArrayForEach (l, lines) {
                        if (!cJSON_IsString(l))
                                goto fail;
                        if (t->n_lines == SLACK_TIMELINE_MAX) {
                                t->n_dropped_lines++;
                                continue;
                        }
                        t->lines[t->n_lines++] = xstrdup(l->valuestring);
                }
                t->n_dropped_lines += (size_t)opt_number(e, "timeline_dropped");
                t->update_pending = opt_bool(e, "update_pending");
                t->parent_maybe_sent = opt_bool(e, "parent_maybe_sent");
                t->created_usec = (usec_t)opt_number(e, "created_us");
        }

        what = "\"recent\" must hold strings";
        o.recent = xcalloc((size_t)cJSON_GetArraySize(recent) + 1, sizeof(*o.recent));
        cJSON_ArrayForEach (e, recent) {
                if (!cJSON_IsString(e))
                        goto fail;
                o.recent[o.n_recent++] = xstrdup(e->valuestring);
        }
        o.log_seq = (uint64_t)opt_number(root, "log_seq"); /* absent before the log: 0 */
        cJSON_Delete(root);
        *ret = o;
        return 0;
fail:
        cJSON_Delete(root);
        slack_outbox_done(&o);
        if (ret_error)
                *ret_error = xasprintf("slack outbox: %s", what);
        return -EBADMSG;
}

char *slack_outbox_log_line(uint64_t seq, enum slack_log_kind kind,
                            const struct slack_outbox_held *h)
{
        cJSON *root = cJSON_CreateObject();
        char *json, *line;

        cJSON_AddItemToObject(root, "seq", raw_u64(seq));
        cJSON_AddItemToObject(root, kind == SLACK_LOG_HOLD ? "hold" : "queue", held_to_json(h));
        json = slack_json_print_free(root);
        if (!json)
                return NULL;
        line = xasprintf("%s\n", json);
        free(json);
        return line;
}

int slack_outbox_log_parse(const char *line, size_t len, struct slack_log_record *ret,
                           char **ret_error)
{
        const cJSON *seq, *hold, *queue;
        const char *what = "not a JSON object";
        cJSON *root;

        memset(ret, 0, sizeof(*ret));
        root = line ? cJSON_ParseWithLength(line, len) : NULL;
        if (!cJSON_IsObject(root))
                goto fail;
        seq = cJSON_GetObjectItemCaseSensitive(root, "seq");
        hold = cJSON_GetObjectItemCaseSensitive(root, "hold");
        queue = cJSON_GetObjectItemCaseSensitive(root, "queue");
        what = "a record needs a positive \"seq\" and one of \"hold\" or \"queue\"";
        if (!cJSON_IsNumber(seq) || seq->valuedouble < 1 || seq->valuedouble >= 1e18 ||
            !hold == !queue)
                goto fail;
        what = "a held entry must be an object with a canary, a write_us number and 1 or 2 "
               "messages";
        ret->seq = (uint64_t)seq->valuedouble;
        ret->kind = hold ? SLACK_LOG_HOLD : SLACK_LOG_QUEUE;
        if (held_from_json(hold ? hold : queue, hold != NULL, &ret->held) < 0)
                goto fail;
        cJSON_Delete(root);
        return 0;
fail:
        cJSON_Delete(root);
        memset(ret, 0, sizeof(*ret));
        if (ret_error)
                *ret_error = xasprintf("slack outbox log: %s", what);
        return -EBADMSG;
}
