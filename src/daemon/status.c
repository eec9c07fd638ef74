/* What the daemon says about itself: the status document of SPEC §5 for canaryctl, the one-line
 * STATUS= for systemd, and per-canary structured log lines. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <systemd/sd-daemon.h>

#include "analysis.h"
#include "canaryd/log.h"
#include "canaryd/slack.h"
#include "canaryd/state-json.h"
#include "datadog-key.h"
#include "status.h"

void log_canary(int priority, const struct canary *c, const char *message_id,
                const char *const *extra, const char *fmt, ...)
{
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        struct log_fields f = {
            .canary = c->cfg->name,
            .namespace_ = c->cfg->namespace_,
            .phase = c->loaded ? rollout_phase_to_string(c->state.phase) : "Unknown",
            .step = c->loaded ? (int)c->state.step : -1,
            .weight = c->loaded ? (int)c->state.weight : -1,
            .message_id = message_id,
            .extra = extra,
        };
        log_fields_full(priority, &f, "%s: %s", c->cfg->name, msg);
}

static void add_number_or_null(cJSON *o, const char *key, double v)
{
        if (isfinite(v))
                cJSON_AddNumberToObject(o, key, v);
        else
                cJSON_AddNullToObject(o, key);
}

/* SPEC §9: which steps wait for approval, and whether the rollout waits now ("awaiting
 * approval" is Progressing and waiting; a paused wait keeps its start, and approve works on it). */
static void add_approval(cJSON *o, const struct canary *c)
{
        char t[40];
        bool pending = c->loaded && rollout_approval_pending(&c->state);
        bool awaiting = c->loaded && rollout_awaiting_approval(&c->state);
        /* a paused wait runs no clock: resume starts a new one */
        usec_t deadline = awaiting ? rollout_approval_deadline(&c->spec, &c->state) : 0;

        cJSON *steps = cJSON_AddArrayToObject(o, "approval_steps");
        for (size_t i = 0; i < c->cfg->n_steps; i++)
                if (canary_step_approve(c->cfg, i))
                        cJSON_AddItemToArray(steps, cJSON_CreateNumber((double)(i + 1)));
        cJSON_AddBoolToObject(o, "awaiting_approval", awaiting);
        if (pending)
                cJSON_AddStringToObject(o, "approval_since",
                                        format_rfc3339(c->state.approval_since_usec, t, sizeof(t)));
        else
                cJSON_AddNullToObject(o, "approval_since");
        if (deadline && deadline != USEC_INFINITY)
                cJSON_AddStringToObject(o, "approval_deadline",
                                        format_rfc3339(deadline, t, sizeof(t)));
        else
                cJSON_AddNullToObject(o, "approval_deadline");
}

static cJSON *canary_json(const struct canary *c)
{
        char t[40];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->cfg->name);
        cJSON_AddStringToObject(o, "namespace", c->cfg->namespace_);
        cJSON_AddStringToObject(o, "phase",
                                c->loaded ? rollout_phase_to_string(c->state.phase) : "Unknown");
        cJSON_AddNumberToObject(o, "step", c->state.step);
        cJSON_AddNumberToObject(o, "steps", (double)c->cfg->n_steps);
        cJSON_AddNumberToObject(o, "canary_weight", c->state.weight);
        cJSON_AddNumberToObject(o, "failed_checks", c->state.failed_checks);
        cJSON_AddNumberToObject(o, "inconclusive_checks", c->state.inconclusive_checks);
        cJSON_AddStringToObject(o, "revision", c->state.revision);
        cJSON *weights = cJSON_AddArrayToObject(o, "step_weights");
        for (size_t i = 0; i < c->cfg->n_steps; i++)
                cJSON_AddItemToArray(weights, cJSON_CreateNumber(c->cfg->steps[i]));
        add_approval(o, c);
        if (c->state.updated_usec)
                cJSON_AddStringToObject(o, "updated_at",
                                        format_rfc3339(c->state.updated_usec, t, sizeof(t)));
        if (c->loaded && c->state.started_usec)
                cJSON_AddStringToObject(o, "started_at",
                                        format_rfc3339(c->state.started_usec, t, sizeof(t)));
        else
                cJSON_AddNullToObject(o, "started_at");
        /* what the routes hold, read back after each write and watched: a hand edit shows here
         * while canary_weight still says what the step wrote */
        if (c->routes_seen) {
                cJSON_AddNumberToObject(o, "observed_weight", c->routes_weight);
                cJSON_AddBoolToObject(o, "routes_agree", c->routes_agree);
        } else {
                cJSON_AddNullToObject(o, "observed_weight");
                cJSON_AddNullToObject(o, "routes_agree");
        }
        cJSON_AddStringToObject(o, "reason", c->state.last_reason);
        if (c->last_error && c->outage_since_usec) {
                /* SPEC.md §4: the outage, since when, and what it has counted */
                char *e =
                    xasprintf("Kubernetes unreachable since %s (%u inconclusive check%s "
                              "counted): %s",
                              format_rfc3339(c->outage_since_usec, t, sizeof(t)), c->outage_checks,
                              c->outage_checks == 1 ? "" : "s", c->last_error);
                cJSON_AddStringToObject(o, "error", e);
                free(e);
        } else if (c->last_error) {
                cJSON_AddStringToObject(o, "error", c->last_error);
        } else {
                cJSON_AddNullToObject(o, "error");
        }
        if (c->outage_since_usec) {
                cJSON_AddStringToObject(o, "kubernetes_unreachable_since",
                                        format_rfc3339(c->outage_since_usec, t, sizeof(t)));
                cJSON_AddNumberToObject(o, "outage_checks", c->outage_checks);
        }

        /* the last analysis of this rollout only (state_set() in driver.c forgets an earlier
         * rollout's) */
        if (!c->last.valid) {
                cJSON_AddNullToObject(o, "last_analysis");
                return o;
        }
        cJSON *la = cJSON_AddObjectToObject(o, "last_analysis");
        cJSON_AddStringToObject(la, "at", format_rfc3339(c->last.at_usec, t, sizeof(t)));
        cJSON_AddStringToObject(la, "result", analysis_result_to_string(c->last.result));
        cJSON *window = cJSON_AddObjectToObject(la, "window");
        cJSON_AddStringToObject(window, "start",
                                format_rfc3339(c->last.window_start_usec, t, sizeof(t)));
        cJSON_AddStringToObject(window, "end",
                                format_rfc3339(c->last.window_end_usec, t, sizeof(t)));
        cJSON *metrics = cJSON_AddArrayToObject(la, "metrics");
        for (size_t i = 0; i < c->last.n; i++) {
                const struct last_report *r = &c->last.reports[i];
                cJSON *m = cJSON_CreateObject();
                cJSON_AddStringToObject(m, "name", r->name);
                cJSON_AddStringToObject(m, "judge", judge_kind_to_string(r->judge));
                add_number_or_null(m, "canary", r->canary);
                add_number_or_null(m, "baseline", r->baseline);
                cJSON_AddStringToObject(m, "result", verdict_to_string(r->verdict));
                cJSON_AddStringToObject(m, "detail", r->detail);
                if (r->judge == JUDGE_SEQUENTIAL) { /* SPEC §8 */
                        add_number_or_null(m, "e_value", r->e_value);
                        add_number_or_null(m, "p_value", r->p_value);
                        add_number_or_null(m, "ci_low", r->ci_low);
                        add_number_or_null(m, "ci_high", r->ci_high);
                        cJSON_AddBoolToObject(m, "inside_tolerance", r->inside_tolerance);
                }
                cJSON_AddItemToArray(metrics, m);
        }
        return o;
}

static void print_into(struct buf *b, cJSON *item /* consumed */)
{
        char *s = cJSON_PrintUnformatted(item);
        cJSON_Delete(item);
        if (!s)
                abort(); /* only on OOM: same policy as xmalloc */
        buf_puts(b, s);
        cJSON_free(s);
}

/* Printed one canary at a time: the tree of a 10,000-canary status would hold ~60 MB at once,
 * its text is 5 MB. */
char *status_json(const struct daemon *d, const char *name)
{
        struct buf b = {0};
        bool first = true;

        buf_puts(&b, "{\"canaries\":[");
        for (size_t i = 0; i < d->n_canaries; i++)
                if (!name || strcmp(name, d->canaries[i].cfg->name) == 0) {
                        if (!first)
                                buf_puts(&b, ",");
                        first = false;
                        print_into(&b, canary_json(&d->canaries[i]));
                }
        buf_puts(&b, "]");
        if (d->slack) {
                /* SPEC §7: what Slack could not take is counted here (and logged) */
                cJSON *sl = cJSON_CreateObject();
                cJSON_AddNumberToObject(sl, "queued", (double)slack_queue_length(d->slack));
                cJSON_AddNumberToObject(sl, "delivered", (double)slack_delivered_count(d->slack));
                cJSON_AddNumberToObject(sl, "coalesced", (double)slack_coalesced_count(d->slack));
                cJSON_AddNumberToObject(sl, "dropped", (double)slack_dropped_count(d->slack));
                buf_puts(&b, ",\"slack\":");
                print_into(&b, sl);
        }
        if (d->state_dir_error) {
                /* a full or read-only state_dir: rollouts go on, the journal does not */
                char t[64];
                cJSON *sd = cJSON_CreateObject();
                cJSON_AddStringToObject(sd, "error", d->state_dir_error);
                cJSON_AddStringToObject(sd, "since",
                                        format_rfc3339(d->state_dir_error_usec, t, sizeof(t)));
                buf_puts(&b, ",\"state_dir\":");
                print_into(&b, sd);
        }
        buf_puts(&b, "}");
        return buf_steal(&b);
}

#define STATUS_LIST_MAX     8                  /* canaries named one by one in STATUS= */
#define STATUS_MIN_GAP_USEC (1 * USEC_PER_SEC) /* STATUS= at most this often */

static const char *phase_lower(const struct canary *c)
{
        if (!c->loaded)
                return "unknown";
        switch (c->state.phase) {
        case ROLLOUT_IDLE:
                return "idle";
        case ROLLOUT_PROGRESSING:
                return "progressing";
        case ROLLOUT_PAUSED:
                return "paused";
        case ROLLOUT_PROMOTED:
                return "promoted";
        case ROLLOUT_ROLLED_BACK:
                return "rolled back";
        case _ROLLOUT_PHASE_MAX:
                break;
        }
        return "unknown";
}

static void canary_summary(struct buf *b, const struct canary *c, bool first)
{
        if (c->loaded && rollout_is_running(&c->state))
                buf_printf(b, "%s %s %u%% %s", first ? "" : ",", c->cfg->name, c->state.weight,
                           rollout_awaiting_approval(&c->state) ? "awaiting approval"
                                                                : phase_lower(c));
        else
                buf_printf(b, "%s %s %s", first ? "" : ",", c->cfg->name, phase_lower(c));
}

/* "3 canaries: cart-api 25% progressing, search idle, web promoted" (SPEC §2; a rollout that
 * waits for approval says "cart-api 50% awaiting approval", and counts as progressing); with more
 * than STATUS_LIST_MAX canaries the counts per phase, then the first running ones by name: "10000
 * canaries: 9950 progressing, 50 promoted; a 25% progressing, ... (+9942 more)". */
static void status_send(struct daemon *d)
{
        struct buf b = {0};
        const char *dd = datadog_key_problem(d->key);

        if (dd)
                buf_printf(&b, "%s; ", dd);
        buf_printf(&b, "%zu %s%s", d->n_canaries, d->n_canaries == 1 ? "canary" : "canaries",
                   d->n_canaries ? ":" : "");
        if (d->n_canaries <= STATUS_LIST_MAX) {
                for (size_t i = 0; i < d->n_canaries; i++)
                        canary_summary(&b, &d->canaries[i], i == 0);
        } else {
                static const char *const names[] = {"progressing", "paused",      "idle",
                                                    "promoted",    "rolled back", "unknown"};
                size_t count[ELEMENTSOF(names)] = {0}, listed = 0, running = 0;
                bool first = true;
                for (size_t i = 0; i < d->n_canaries; i++)
                        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                                if (strcmp(phase_lower(&d->canaries[i]), names[k]) == 0)
                                        count[k]++;
                for (size_t k = 0; k < ELEMENTSOF(names); k++)
                        if (count[k]) {
                                buf_printf(&b, "%s %zu %s", first ? "" : ",", count[k], names[k]);
                                first = false;
                        }
                running = count[0] + count[1];
                for (size_t i = 0; i < d->n_canaries && listed < STATUS_LIST_MAX; i++) {
                        const struct canary *c = &d->canaries[i];
                        if (!c->loaded || (c->state.phase != ROLLOUT_PROGRESSING &&
                                           c->state.phase != ROLLOUT_PAUSED))
                                continue;
                        if (listed == 0)
                                buf_printf(&b, ";");
                        canary_summary(&b, c, false);
                        listed++;
                }
                if (running > listed && listed)
                        buf_printf(&b, " (+%zu more)", running - listed);
        }
        if (!d->last_status || strcmp(d->last_status, b.data) != 0) {
                sd_notifyf(0, "STATUS=%s", b.data);
                free(d->last_status);
                d->last_status = buf_steal(&b);
        } else {
                buf_free(&b);
        }
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct daemon *d = userdata;

        d->status_sent_usec = usec;
        status_send(d);
        return 0;
}

/* Called at every change; STATUS= goes out at most once per STATUS_MIN_GAP_USEC (with 10,000
 * canaries it used to be rebuilt at every cycle's end, hundreds of times a second). */
void status_notify(struct daemon *d)
{
        uint64_t now = 0;
        int enabled = SD_EVENT_OFF;

        if (sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0 || d->stopping) {
                status_send(d);
                return;
        }
        if (d->status_timer) {
                sd_event_source_get_enabled(d->status_timer, &enabled);
                if (enabled != SD_EVENT_OFF)
                        return; /* already due */
        }
        if (!d->status_sent_usec || now >= d->status_sent_usec + STATUS_MIN_GAP_USEC) {
                d->status_sent_usec = now;
                status_send(d);
                return;
        }
        usec_t at = d->status_sent_usec + STATUS_MIN_GAP_USEC;
        if (!d->status_timer) {
                if (sd_event_add_time(d->event, &d->status_timer, CLOCK_MONOTONIC, at,
                                      100 * USEC_PER_MSEC, on_status_timer, d) < 0)
                        status_send(d);
                return;
        }
        sd_event_source_set_time(d->status_timer, at);
        sd_event_source_set_enabled(d->status_timer, SD_EVENT_ONESHOT);
}
