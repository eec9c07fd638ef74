/* The decision journal's lines (journal.h): formatting entries, selecting one rollout's entries
 * from journal text, and rendering them for people. Pure: buffers in, buffers out. The journal
 * file is read back by the daemon, and may have been cut by a crash or edited by hand: every
 * line is untrusted, and one that is not a JSON object is skipped and counted. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/journal-json.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"

static cJSON *object_or_die(void)
{
        cJSON *o = cJSON_CreateObject();
        if (!o)
                abort(); /* cJSON fails only on OOM: same policy as xmalloc */
        return o;
}

static char *print_or_die(cJSON *o)
{
        char *json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!json)
                abort();
        char *copy = xstrdup(json);
        cJSON_free(json);
        return copy;
}

static void add_time(cJSON *o, const char *key, usec_t t)
{
        char buf[40];
        cJSON_AddStringToObject(o, key, format_rfc3339(t, buf, sizeof(buf)));
}

/* The rollout an entry belongs to: its start time, "" before the first one. */
static void add_rollout(cJSON *o, const struct rollout_state *s)
{
        if (s->started_usec == 0)
                cJSON_AddStringToObject(o, "rollout", "");
        else
                add_time(o, "rollout", s->started_usec);
        cJSON_AddStringToObject(o, "revision", s->revision);
}

static cJSON *entry_new(usec_t at, const char *canary, const char *type,
                        const struct rollout_state *s)
{
        cJSON *o = object_or_die();
        add_time(o, "at", at);
        cJSON_AddStringToObject(o, "canary", canary ? canary : "");
        cJSON_AddStringToObject(o, "type", type);
        add_rollout(o, s);
        return o;
}

static void add_opt_string(cJSON *o, const char *key, const char *v)
{
        if (v && *v)
                cJSON_AddStringToObject(o, key, v);
}

/* NaN and infinities are not JSON: null. */
static void add_value(cJSON *o, const char *key, double v)
{
        if (isfinite(v))
                cJSON_AddNumberToObject(o, key, v);
        else
                cJSON_AddNullToObject(o, key);
}

static cJSON *position(enum rollout_phase phase, unsigned step, unsigned weight)
{
        cJSON *p = object_or_die();
        const char *name = rollout_phase_to_string(phase);
        cJSON_AddStringToObject(p, "phase", name ? name : "?");
        cJSON_AddNumberToObject(p, "step", step);
        cJSON_AddNumberToObject(p, "weight", weight);
        return p;
}

char *journal_format_command(usec_t at, const char *canary, const struct rollout_state *s,
                             const char *command, const char *revision, const char *reason,
                             bool full, const char *actor, const struct journal_peer *peer,
                             const char *outcome, const char *detail)
{
        cJSON *o = entry_new(at, canary, "command", s);
        cJSON_AddStringToObject(o, "command", command ? command : "");
        add_opt_string(o, "actor", actor);
        add_opt_string(o, "requested_revision", revision);
        add_opt_string(o, "reason", reason);
        if (full)
                cJSON_AddTrueToObject(o, "full");
        if (peer) {
                cJSON *p = object_or_die();
                cJSON_AddNumberToObject(p, "uid", (double)peer->uid);
                cJSON_AddNumberToObject(p, "gid", (double)peer->gid);
                cJSON_AddNumberToObject(p, "pid", (double)peer->pid);
                cJSON_AddItemToObject(o, "peer", p);
        }
        cJSON_AddStringToObject(o, "outcome", outcome ? outcome : "");
        add_opt_string(o, "detail", detail);
        return print_or_die(o);
}

char *journal_format_analysis(usec_t at, const char *canary, const struct rollout_state *s,
                              usec_t window_start, usec_t window_end, enum analysis_result result,
                              const struct metric_report *metrics, size_t n_metrics)
{
        cJSON *o = entry_new(at, canary, "analysis", s);
        cJSON_AddNumberToObject(o, "step", s->step);
        cJSON_AddNumberToObject(o, "weight", s->weight);
        cJSON *w = object_or_die();
        add_time(w, "start", window_start);
        add_time(w, "end", window_end);
        cJSON_AddItemToObject(o, "window", w);
        const char *r = analysis_result_to_string(result);
        cJSON_AddStringToObject(o, "result", r ? r : "?");
        cJSON *list = cJSON_AddArrayToObject(o, "metrics");
        if (!list)
                abort();
        for (size_t i = 0; metrics && i < n_metrics; i++) {
                const struct metric_report *m = &metrics[i];
                cJSON *e = object_or_die();
                cJSON_AddStringToObject(e, "name", m->name);
                const char *judge = judge_kind_to_string(m->judge);
                cJSON_AddStringToObject(e, "judge", judge ? judge : "?");
                add_value(e, "canary", m->canary);
                add_value(e, "baseline", m->baseline);
                cJSON_AddNumberToObject(e, "n_canary", (double)m->n_canary);
                cJSON_AddNumberToObject(e, "n_baseline", (double)m->n_baseline);
                const char *v = verdict_to_string(m->verdict);
                cJSON_AddStringToObject(e, "result", v ? v : "?");
                cJSON_AddStringToObject(e, "detail", m->detail);
                if (m->judge == JUDGE_SEQUENTIAL) { /* its evidence (SPEC §8), for the report */
                        add_value(e, "e_value", m->e_value);
                        add_value(e, "p_value", m->p_value);
                        add_value(e, "ci_low", m->ci_low);
                        add_value(e, "ci_high", m->ci_high);
                        cJSON_AddBoolToObject(e, "inside_tolerance", m->inside_tolerance);
                }
                cJSON_AddItemToArray(list, e);
        }
        return print_or_die(o);
}

char *journal_format_decision(usec_t at, const char *canary, const struct rollout_state *before,
                              const struct rollout_state *after, const char *event,
                              const struct rollout_actions *actions)
{
        cJSON *o = entry_new(at, canary, "decision", after);
        cJSON_AddStringToObject(o, "event", event ? event : "");
        cJSON_AddStringToObject(o, "actor", after->last_actor);
        cJSON_AddStringToObject(o, "reason", after->last_reason);
        cJSON_AddItemToObject(o, "from", position(before->phase, before->step, before->weight));
        cJSON_AddItemToObject(o, "to", position(after->phase, after->step, after->weight));
        bool weights = false;
        const char *notify = NULL;
        for (size_t i = 0; actions && i < actions->n; i++) {
                if (actions->items[i].kind == ACT_WRITE)
                        weights = actions->items[i].set_weights;
                if (actions->items[i].kind == ACT_NOTIFY)
                        notify = rollout_notify_to_string(actions->items[i].notify);
        }
        cJSON_AddBoolToObject(o, "weights_written", weights);
        if (notify)
                cJSON_AddStringToObject(o, "notify", notify);
        else
                cJSON_AddNullToObject(o, "notify");
        return print_or_die(o);
}

char *journal_format_observed(usec_t at, const char *canary, const struct rollout_state *s,
                              const char *reason)
{
        cJSON *o = entry_new(at, canary, "observed", s);
        const char *name = rollout_phase_to_string(s->phase);
        cJSON_AddStringToObject(o, "phase", name ? name : "?");
        cJSON_AddNumberToObject(o, "step", s->step);
        cJSON_AddNumberToObject(o, "weight", s->weight);
        cJSON_AddStringToObject(o, "reason", reason ? reason : "");
        return print_or_die(o);
}

const char *journal_event_name(enum rollout_event_kind k)
{
        static const char *const names[_ROLLOUT_EVENT_KIND_MAX] = {
            [EV_TICK] = "tick",           [EV_ANALYSIS] = "analysis",
            [EV_DRIFT] = "drift",         [EV_CMD_START] = "start",
            [EV_CMD_PROMOTE] = "promote", [EV_CMD_ABORT] = "abort",
            [EV_CMD_PAUSE] = "pause",     [EV_CMD_RESUME] = "resume",
            [EV_CMD_RETRY] = "retry",     [EV_TRIGGER] = "trigger",
            [EV_CMD_APPROVE] = "approve", [EV_KUBE_OUTAGE] = "kubernetes-outage",
        };
        return (unsigned)k < _ROLLOUT_EVENT_KIND_MAX && names[k] ? names[k] : "?";
}

/* ---- reading ---- */

static const char *string_of(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Calls fn for each line of text that parses as a JSON object whose "canary" is `canary`;
 * returns the number of other non-empty lines (bad or foreign). */
static size_t for_each_entry(const char *text, size_t len, const char *canary,
                             void (*fn)(cJSON *entry, void *ud), void *ud)
{
        size_t skipped = 0;
        size_t pos = 0;
        while (pos < len) {
                const char *start = text + pos;
                const char *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - start) : len - pos;
                pos += n + (nl ? 1 : 0);
                size_t k = 0;
                while (k < n && (start[k] == ' ' || start[k] == '\t' || start[k] == '\r'))
                        k++;
                if (k == n)
                        continue;
                cJSON *o = memchr(start, '\0', n) ? NULL : cJSON_ParseWithLength(start, n);
                const char *name = cJSON_IsObject(o) ? string_of(o, "canary") : NULL;
                if (!name || strcmp(name, canary) != 0 || !string_of(o, "rollout")) {
                        skipped++;
                        cJSON_Delete(o);
                        continue;
                }
                fn(o, ud);
        }
        return skipped;
}

struct select_ctx {
        cJSON *entries; /* all of the canary's entries, in order */
};

static void collect(cJSON *entry, void *ud)
{
        struct select_ctx *ctx = ud;
        cJSON_AddItemToArray(ctx->entries, entry);
}

int journal_history_select(const char *text, size_t len, const char *canary, bool all,
                           char **ret_json)
{
        if (!canary || !ret_json)
                return -EINVAL;
        struct select_ctx ctx = {.entries = cJSON_CreateArray()};
        if (!ctx.entries)
                abort();
        size_t skipped = text ? for_each_entry(text, len, canary, collect, &ctx) : 0;

        /* The latest rollout: that of the last entry which has one. */
        const char *rollout = NULL, *revision = NULL;
        for (const cJSON *e = ctx.entries->child; e; e = e->next) {
                const char *r = string_of(e, "rollout");
                if (r && *r) {
                        rollout = r;
                        revision = string_of(e, "revision");
                }
        }
        cJSON *out = object_or_die();
        cJSON_AddStringToObject(out, "canary", canary);
        if (all || !rollout)
                cJSON_AddNullToObject(out, "rollout");
        else
                cJSON_AddStringToObject(out, "rollout", rollout);
        if (!all && revision)
                cJSON_AddStringToObject(out, "revision", revision);
        else
                cJSON_AddNullToObject(out, "revision");
        cJSON_AddNumberToObject(out, "skipped", (double)skipped);
        cJSON *list = cJSON_AddArrayToObject(out, "entries");
        if (!list)
                abort();
        /* Move the chosen entries over (the rollout string lives in ctx until the end). */
        char *want = rollout ? xstrdup(rollout) : NULL;
        while (ctx.entries->child) {
                cJSON *e = cJSON_DetachItemViaPointer(ctx.entries, ctx.entries->child);
                const char *r = string_of(e, "rollout");
                if (all || (want && r && strcmp(r, want) == 0))
                        cJSON_AddItemToArray(list, e);
                else
                        cJSON_Delete(e);
        }
        free(want);
        cJSON_Delete(ctx.entries);
        *ret_json = print_or_die(out);
        return 0;
}

/* ---- rendering ---- */

static double number_of(const cJSON *o, const char *key, double dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Untrusted text for a terminal: control characters become '?'. */
static void put_text(struct buf *b, const char *s)
{
        for (; s && *s; s++) {
                char c = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
                buf_append(b, &c, 1);
        }
}

static void put_position(struct buf *b, const cJSON *p)
{
        if (!cJSON_IsObject(p)) {
                buf_puts(b, "?");
                return;
        }
        put_text(b, string_of(p, "phase") ? string_of(p, "phase") : "?");
        buf_printf(b, " step %.0f (%.0f%%)", number_of(p, "step", 0), number_of(p, "weight", 0));
}

static void put_number(struct buf *b, const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (cJSON_IsNumber(v))
                buf_printf(b, "%.6g", v->valuedouble);
        else
                buf_puts(b, "-");
}

static void render_entry(struct buf *b, const cJSON *e)
{
        const char *type = string_of(e, "type");
        const char *at = string_of(e, "at");
        put_text(b, at ? at : "-");
        buf_puts(b, "  ");
        char padded[16];
        snprintf(padded, sizeof(padded), "%-9.9s", type ? type : "?");
        put_text(b, padded);
        buf_puts(b, " ");
        if (type && strcmp(type, "command") == 0) {
                put_text(b, string_of(e, "command"));
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "full")))
                        buf_puts(b, " --full");
                if (string_of(e, "requested_revision")) {
                        buf_puts(b, " --revision ");
                        put_text(b, string_of(e, "requested_revision"));
                }
                const cJSON *peer = cJSON_GetObjectItemCaseSensitive(e, "peer");
                if (cJSON_IsObject(peer))
                        buf_printf(b, " by uid %.0f (gid %.0f, pid %.0f)",
                                   number_of(peer, "uid", -1), number_of(peer, "gid", -1),
                                   number_of(peer, "pid", -1));
                buf_puts(b, ": ");
                put_text(b, string_of(e, "outcome"));
                if (string_of(e, "detail")) {
                        buf_puts(b, " (");
                        put_text(b, string_of(e, "detail"));
                        buf_puts(b, ")");
                }
                if (string_of(e, "reason")) {
                        buf_puts(b, ", reason: ");
                        put_text(b, string_of(e, "reason"));
                }
        } else if (type && strcmp(type, "analysis") == 0) {
                buf_printf(b, "step %.0f (%.0f%%): ", number_of(e, "step", 0),
                           number_of(e, "weight", 0));
                put_text(b, string_of(e, "result"));
                const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "window");
                if (cJSON_IsObject(w)) {
                        buf_puts(b, " over ");
                        put_text(b, string_of(w, "start"));
                        buf_puts(b, "/");
                        put_text(b, string_of(w, "end"));
                }
                const cJSON *m;
                cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(e, "metrics")) {
                        buf_puts(b, "\n    ");
                        put_text(b, string_of(m, "name"));
                        buf_puts(b, " ");
                        put_text(b, string_of(m, "judge"));
                        buf_puts(b, " canary=");
                        put_number(b, m, "canary");
                        buf_puts(b, " baseline=");
                        put_number(b, m, "baseline");
                        buf_puts(b, " ");
                        put_text(b, string_of(m, "result"));
                        buf_puts(b, ": ");
                        put_text(b, string_of(m, "detail"));
                }
        } else if (type && strcmp(type, "decision") == 0) {
                put_text(b, string_of(e, "event"));
                const char *actor = string_of(e, "actor");
                if (actor && *actor) {
                        buf_puts(b, " by ");
                        put_text(b, actor);
                }
                buf_puts(b, ": ");
                put_position(b, cJSON_GetObjectItemCaseSensitive(e, "from"));
                buf_puts(b, " -> ");
                put_position(b, cJSON_GetObjectItemCaseSensitive(e, "to"));
                const char *reason = string_of(e, "reason");
                if (reason && *reason) {
                        buf_puts(b, " (");
                        put_text(b, reason);
                        buf_puts(b, ")");
                }
                if (string_of(e, "notify")) {
                        buf_puts(b, " [");
                        put_text(b, string_of(e, "notify"));
                        buf_puts(b, "]");
                }
        } else if (type && strcmp(type, "observed") == 0) {
                put_position(b, e);
                const char *reason = string_of(e, "reason");
                if (reason && *reason) {
                        buf_puts(b, " (");
                        put_text(b, reason);
                        buf_puts(b, ")");
                }
        } else {
                buf_puts(b, "(unknown entry)");
        }
        buf_puts(b, "\n");
}

int journal_history_format(const char *json, size_t len, char **ret, char **ret_error)
{
        return journal_history_format_headers(json, len, true, ret, ret_error);
}

int journal_history_format_headers(const char *json, size_t len, bool headers, char **ret,
                                   char **ret_error)
{
        cJSON *o = json && !memchr(json, '\0', len) ? cJSON_ParseWithLength(json, len) : NULL;
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entries");
        if (!cJSON_IsObject(o) || !cJSON_IsArray(entries)) {
                cJSON_Delete(o);
                if (ret_error)
                        *ret_error = xstrdup("history document has no \"entries\" array");
                return -EINVAL;
        }
        struct buf b = {0};
        if (headers) {
                const char *rollout = string_of(o, "rollout");
                buf_puts(&b, "canary ");
                put_text(&b, string_of(o, "canary") ? string_of(o, "canary") : "?");
                if (rollout) {
                        buf_puts(&b, ", rollout started ");
                        put_text(&b, rollout);
                        const char *rev = string_of(o, "revision");
                        if (rev && *rev) {
                                buf_puts(&b, ", revision ");
                                put_text(&b, rev);
                        }
                } else if (cJSON_GetArraySize(entries) > 0) {
                        buf_puts(&b, ", every entry");
                }
                buf_printf(&b, ": %d entr%s\n", cJSON_GetArraySize(entries),
                           cJSON_GetArraySize(entries) == 1 ? "y" : "ies");
        }
        const cJSON *e;
        cJSON_ArrayForEach (e, entries)
                if (cJSON_IsObject(e))
                        render_entry(&b, e);
        double skipped = number_of(o, "skipped", 0);
        if (headers && skipped > 0)
                buf_printf(&b, "(%.0f unreadable journal line%s skipped)\n", skipped,
                           skipped == 1 ? "" : "s");
        cJSON_Delete(o);
        *ret = buf_steal(&b);
        return 0;
}
