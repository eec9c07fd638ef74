/* The driver: runs the rollout engine's actions and turns I/O results back into events.
 *
 * Each canary handles one event at a time in a Kubernetes cycle:
 *   GET the VirtualService -> read canaryd.io/state and the weights -> drift? -> rollout_step()
 *   -> PUT weights + state in one update guarded by resourceVersion -> GET again to verify
 *   -> only then notify Slack, arm timers, start analyses.
 * A 409 re-reads and re-decides; any other failure holds the weights and retries the cycle with
 * backoff. Nothing here blocks: every step is a callback on the sd-event loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "announce.h"
#include "canaryd/clock.h"
#include "canaryd/control.h"
#include "canaryd/journal.h"
#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/slack.h"
#include "canaryd/state-json.h"
#include "canaryd/vs.h"
#include "commands.h"
#include "commit.h"
#include "control-log.h"
#include "driver.h"
#include "ha.h"
#include "metrics.h"
#include "outage.h"
#include "pager.h"
#include "report-writer.h"
#include "status.h"
#include "vs-watch.h"

#define CONFLICT_RETRIES 5
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
#define TIMER_ACCURACY   (10 * USEC_PER_MSEC)

static void cycle_begin(struct canary *c);
static bool cycle_may_open(struct canary *c);
static void cycle_open(struct canary *c);
static void cycle_get(struct canary *c);

static void set_error(struct canary *c, char *msg /* owned */)
{
        free(c->last_error);
        c->last_error = msg;
}

void canaries_shard_changed(struct daemon *d, unsigned shard, unsigned n_shards, bool owned,
                            bool taken_over)
{
        for (size_t i = 0; i < d->n_canaries; i++) {
                struct canary *c = &d->canaries[i];
                if (ha_shard_of(c->cfg->namespace_, c->cfg->name, n_shards) != shard)
                        continue;
                c->slack_takeover = owned && taken_over; /* announce_takeover() at the read */
                if (owned)
                        canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
                else
                        analysis_cancel(&c->analysis);
        }
        status_notify(d);
}

/* The canary's state becomes s (read from the cluster, or our write of it landed). The last
 * analysis kept for status, Slack and PagerDuty belongs to a rollout: one of an earlier rollout
 * is forgotten here, once, so that no reader shows its verdict under the new revision. */
static void state_set(struct canary *c, const struct rollout_state *s)
{
        if (c->last.valid && c->last.window_start_usec < s->started_usec)
                last_analysis_done(&c->last);
        c->state = *s;
}

static void submit_queued(struct canary *c, struct queued_event *qe)
{
        const struct rollout_event *ev = &qe->ev;
        if (c->d->stopping) {
                command_abandon(c, qe, "the daemon is stopping");
                return;
        }
        /* One pending tick is as good as many. */
        if (ev->kind == EV_TICK && event_pending(c, EV_TICK, NULL))
                return;
        if (!queue_add(c, qe)) {
                log_canary(LOG_WARNING, c, NULL, NULL, "event queue full, dropping %s event",
                           journal_event_name(ev->kind));
                command_abandon(c, qe, "the canary's event queue is full");
                return;
        }
        if (!c->busy)
                cycle_begin(c);
}

void canary_submit(struct canary *c, const struct rollout_event *ev)
{
        struct queued_event q;
        queued_event_set(&q, ev);
        submit_queued(c, &q);
}

void canary_submit_command(struct canary *c, const struct rollout_event *ev, uint64_t reply_id,
                           const struct journal_peer *peer)
{
        struct queued_event q;
        queued_event_set(&q, ev);
        if (peer) {
                q.peer = *peer;
                q.has_peer = true;
        }
        if (reply_id)
                command_await_reply(c, &q, reply_id);
        command_journal(c, &q, &c->state, "queued", NULL);
        submit_queued(c, &q);
}

/* The verdict of the canary's analysis (analysis.c): kept for status and Slack, journaled with
 * raw values and window before any decision, then decided like any event. */
static void on_analysis_done(void *userdata, const struct analysis_outcome *o)
{
        struct canary *c = userdata;

        if (!o->interim || o->result != ANALYSIS_INCONCLUSIVE) {
                struct canary_counts *k = canary_counts(c);
                if (k)
                        k->analyses[o->result]++;
                if (c->analysis.started_mono)
                        histogram_observe(
                            &c->d->metrics.analysis_duration,
                            (double)(now_monotonic_usec() - c->analysis.started_mono) /
                                USEC_PER_SEC);
        }
        if (o->n_reports > 0) {
                last_analysis_done(&c->last);
                c->last = (struct last_analysis){
                    .valid = true,
                    .at_usec = now_realtime_usec(),
                    .window_start_usec = o->window_start_usec,
                    .window_end_usec = o->window_end_usec,
                    .result = o->result,
                };
                last_analysis_keep(&c->last, o->reports, o->n_reports);
        }
        /* an interim look that decides nothing is only logged (four a step would swamp the
         * journal) */
        if (!o->interim || o->result != ANALYSIS_INCONCLUSIVE)
                canary_journal(c, journal_format_analysis(now_realtime_usec(), c->cfg->name,
                                                          &c->state, o->window_start_usec,
                                                          o->n_reports ? o->window_end_usec
                                                                       : o->window_start_usec,
                                                          o->result, o->reports, o->n_reports));
        canary_submit(c, &(struct rollout_event){.kind = EV_ANALYSIS,
                                                 .analysis = o->result,
                                                 .reason = o->why[0] ? o->why : NULL,
                                                 .interim = o->interim,
                                                 .for_step = o->step,
                                                 .for_step_started_usec = o->window_start_usec});
}

static void on_analysis_log(void *userdata, int priority, const char *const *fields,
                            const char *message)
{
        const struct canary *c = userdata;

        if (c)
                log_canary(priority, c, NULL, fields, "%s", message);
        else
                log_fields_full(priority, LOG_FIELDS_NONE, "%s", message);
}

static int on_analysis_weight_at(void *userdata, usec_t t)
{
        const struct canary *c = userdata;
        return rollout_weight_at(&c->spec, &c->state, t);
}

const struct analysis_callbacks canary_analysis_callbacks = {
    .done = on_analysis_done,
    .log = on_analysis_log,
    .weight_at = on_analysis_weight_at,
};

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct canary *c = userdata;
        canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
        return 0;
}

usec_t canary_resync_usec(const struct canary *c)
{
        return c->spec.resync_usec;
}

/* Arms the realtime tick for `at` (the engine's ACT_ARM_TIMER: while a rollout runs, never
 * later than its resync bound, so the VirtualService is re-read within a step). */
static void arm_tick(struct canary *c, usec_t at)
{
        if (!c->tick) {
                int r = sd_event_add_time(c->d->event, &c->tick, CLOCK_BOOTTIME,
                                          clock_boottime_at(at), TIMER_ACCURACY, on_tick, c);
                if (r < 0)
                        log_error_errno(r, "cannot add timer: %m");
                return;
        }
        sd_event_source_set_time(c->tick, clock_boottime_at(at));
        sd_event_source_set_enabled(c->tick, SD_EVENT_ONESHOT);
}

static int on_held_recheck(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)s;
        (void)usec;
        canary_submit(userdata, &(struct rollout_event){.kind = EV_TICK});
        return 0;
}

/* Resolves the canary's held Slack messages (announce.c) and, when one waits on a write that
 * may still land, looks again at the time it says. */
static void resolve_held(struct canary *c, const struct slack_seen *seen, bool on_read)
{
        usec_t recheck = announce_resolve(c, seen, on_read);

        if (recheck && c->held_recheck) {
                sd_event_source_set_time(c->held_recheck, clock_boottime_at(recheck));
                sd_event_source_set_enabled(c->held_recheck, SD_EVENT_ONESHOT);
        } else if (recheck) {
                log_canary(LOG_INFO, c, NULL, NULL,
                           "slack: messages held on a write that may still land; waiting for it");
                if (sd_event_add_time(c->d->event, &c->held_recheck, CLOCK_BOOTTIME,
                                      clock_boottime_at(recheck), TIMER_ACCURACY, on_held_recheck,
                                      c) < 0)
                        log_canary(LOG_WARNING, c, NULL, NULL, "slack: cannot add timer");
        }
}

static void run_post_write_actions(struct canary *c)
{
        /* An analysis of a step we have left (promote, abort, pause, restart) is moot. */
        const struct analysis *an = &c->analysis;
        if (an->running && (c->state.phase != ROLLOUT_PROGRESSING || an->step != c->state.step ||
                            an->window_start_usec != c->state.step_started_usec))
                analysis_cancel(&c->analysis);

        for (size_t i = 0; i < c->cycle->actions.n; i++) {
                const struct rollout_action *a = &c->cycle->actions.items[i];
                switch (a->kind) {
                case ACT_WRITE:
                        break;
                case ACT_NOTIFY:
                        metrics_count_outcome(c, a->notify);
                        announce_notify(c, a->notify);
                        pager_transition(c, a->notify);
                        break;
                case ACT_ARM_TIMER:
                        arm_tick(c, a->at_usec);
                        break;
                case ACT_QUERY:
                        /* a verdict already waiting in the queue answers this tick */
                        if (!queue_has(c, EV_ANALYSIS))
                                analysis_start(c->d->sched, &c->analysis, c->cfg, c->state.step,
                                               c->state.started_usec, a->window_start_usec,
                                               c->step_live_for == a->window_start_usec
                                                   ? c->step_live_usec
                                                   : 0,
                                               a->window_end_usec, a->interim, c);
                        break;
                case _ROLLOUT_ACTION_KIND_MAX:
                        break;
                }
        }
}

static void cycle_end(struct canary *c)
{
        if (c->d->stopping) {
                if (c->cycle)
                        command_abandon(c, &c->cycle->current, "the daemon is stopping");
                for (size_t i = 0; i < c->n_queue; i++)
                        command_abandon(c, &c->queue[i], "the daemon is stopping");
        }
        c->cycle = (free(c->cycle), NULL);
        c->busy = false;
        c->conflicts = 0;
        c->written_body = (free(c->written_body), NULL);
        status_notify(c->d);
        if (c->d->stopping || c->d->reload_pending) {
                daemon_idle_check(c->d);
                return;
        }
        if (c->n_queue > 0)
                cycle_begin(c);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct canary *c = userdata;
        if (c->d->stopping) {
                cycle_end(c);
                return 0;
        }
        if (c->d->reload_pending)
                return 0; /* the reload ends this cycle (canary_done answers its event) */
        cycle_get(c);
        return 0;
}

/* Holds the weights and retries the whole cycle (re-read, re-decide) after a backoff. */
static void retry_later(struct canary *c)
{
        if (c->d->stopping) {
                cycle_end(c);
                return;
        }
        unsigned k = c->kube_failures < 6 ? c->kube_failures : 6;
        usec_t delay = USEC_PER_SEC << k;
        if (delay > BACKOFF_MAX_USEC)
                delay = BACKOFF_MAX_USEC;
        c->kube_failures++;
        if (!c->retry) {
                int r = sd_event_add_time_relative(c->d->event, &c->retry, CLOCK_MONOTONIC, delay,
                                                   TIMER_ACCURACY, on_retry, c);
                if (r < 0) {
                        log_error_errno(r, "cannot add retry timer: %m");
                        cycle_end(c);
                }
                return;
        }
        sd_event_source_set_time_relative(c->retry, delay);
        sd_event_source_set_enabled(c->retry, SD_EVENT_ONESHOT);
}

static void kube_failed(struct canary *c, const char *what, const struct kube_result *res)
{
        const char *why = res->message && *res->message ? res->message : strerror(-res->error);
        char *msg = res->status ? xasprintf("kubernetes %s %s: HTTP %ld: %s", what, c->vs_path,
                                            res->status, why)
                                : xasprintf("kubernetes %s %s: %s", what, c->vs_path, why);
        log_canary(LOG_WARNING, c, NULL, NULL, "%s; holding weights, will retry", msg);
        set_error(c, msg);
        outage_failed(c);
        retry_later(c);
}

static bool verify_stored(struct canary *c, const char *body, size_t len, char **ret_err);

static void on_verify(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;
        char *err = NULL;

        c->kube_inflight = false;
        if (res->error == 0) {
                if (!verify_stored(c, res->body, res->body_len, &err)) {
                        log_canary(LOG_ERR, c, NULL, NULL, "read-back after write: %s", err);
                        set_error(c, err);
                }
        } else {
                /* The write itself succeeded; the next cycle re-reads anyway. */
                log_canary(LOG_WARNING, c, NULL, NULL, "read-back after write failed: %s",
                           res->message ? res->message : "");
        }
        run_post_write_actions(c);
        cycle_end(c);
}

static void write_landed(struct canary *c, const char *stored, size_t stored_len);

static void on_put(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;

        c->kube_inflight = false;
        if (res->error == -ESTALE) {
                /* 409: someone else updated the object, or a copy of this very PUT that the
                 * HTTP client sent again after its connection died found our own write: the
                 * read tells (the state it holds is ours to the microsecond), and only then
                 * are the held Slack messages released or dropped (resolve_held). */
                c->conflicts++;
                c->put_uncertain = true;
                log_canary(LOG_NOTICE, c, NULL, NULL, "conflict writing %s (%u), re-reading",
                           c->vs_path, c->conflicts);
                c->vs_force_get = true; /* the cache lags the cluster: read it */
                if (c->conflicts <= CONFLICT_RETRIES && !c->d->stopping)
                        cycle_get(c);
                else
                        retry_later(c);
                return;
        }
        if (res->error < 0) {
                /* A timeout or a 5xx says nothing about whether the update was applied: the
                 * next read tells (write_landed_unseen). Other errors are definite refusals. */
                c->put_uncertain = res->status == 0 || res->status >= 500;
                if (!c->put_uncertain)
                        announce_forget(c); /* refused: its events did not happen */
                kube_failed(c, "PUT", res);
                return;
        }
        write_landed(c, res->body, res->body_len);
}

/* Reads back what the API server stored (the PUT's answer, or a GET): the canary weight on
 * every selected route must be what we wrote. Returns false when the object cannot be read. */
static bool verify_stored(struct canary *c, const char *body, size_t len, char **ret_err)
{
        const struct rollout_action *w = &c->cycle->actions.items[0];
        struct vs_view view = {0};

        if (!body || len == 0) {
                *ret_err = xstrdup("no object in the answer");
                return false;
        }
        if (vs_inspect(body, len, c->cfg, &view, ret_err) < 0)
                return false;
        vs_routes_seen(c, &view);
        if (w->kind == ACT_WRITE && w->set_weights &&
            (view.canary_weight != w->weight || !view.weights_consistent)) {
                set_error(c, xasprintf("read-back after write: canary weight %u%%, wrote %u%%",
                                       view.canary_weight, w->weight));
                log_canary(LOG_ERR, c, NULL, NULL, "%s", c->last_error);
        } else {
                set_error(c, NULL);
        }
        /* the informer decides from this object next: it holds the new resourceVersion */
        vs_cache_put(c, body, len, view.resource_version);
        vs_view_done(&view);
        return true;
}

static void journal_mark_set(struct journal_mark *m, const struct rollout_state *s)
{
        *m = (struct journal_mark){
            .valid = true,
            .phase = s->phase,
            .step = s->step,
            .weight = s->weight,
            .started_usec = s->started_usec,
            .updated_usec = s->updated_usec,
        };
}

static bool journal_mark_matches(const struct journal_mark *m, const struct rollout_state *s)
{
        return m->valid && m->phase == s->phase && m->step == s->step && m->weight == s->weight &&
               m->started_usec == s->started_usec && m->updated_usec == s->updated_usec;
}

static bool phase_final(enum rollout_phase p)
{
        return p == ROLLOUT_PROMOTED || p == ROLLOUT_ROLLED_BACK;
}

/* After the decision's journal line: the report of a rollout it ended (promoted, rolled back,
 * aborted), or of one still running that it replaced with a new rollout (a trigger). */
static void write_ended_report(struct canary *c, const struct rollout_state *from,
                               const struct rollout_state *to)
{
        if (to->started_usec == from->started_usec) {
                if (phase_final(to->phase) && !phase_final(from->phase))
                        report_write(c, to->started_usec);
        } else if (from->started_usec != 0 && !phase_final(from->phase)) {
                report_write(c, from->started_usec);
        }
}

/* The PUT of c->cycle->proposed is in the cluster: journal, answer the command, verify, then act.
 * stored: the object the API server answered the PUT with (NULL: not known, read it back). */
static void write_landed(struct canary *c, const char *stored, size_t stored_len)
{
        const struct queued_event *q = &c->cycle->current;
        usec_t due = c->cycle->decided_from.step_started_usec + c->spec.interval_usec;
        usec_t now = now_realtime_usec();

        /* the decision lag: from the end of the step's interval to its verdict's write */
        if (q->ev.kind == EV_ANALYSIS && !q->ev.interim &&
            c->cycle->decided_from.step_started_usec && now >= due &&
            c->cycle->proposed.updated_usec != c->cycle->decided_from.updated_usec)
                histogram_observe(&c->d->metrics.decision_lag, (double)(now - due) / USEC_PER_SEC);
        c->put_uncertain = false;
        c->kube_failures = 0;
        if (c->cycle->proposed.step_started_usec != c->cycle->decided_from.step_started_usec) {
                /* the step's weight is in the cluster from now at the latest: its analysis
                 * judges no earlier point (a write that took seconds, or was retried, would
                 * otherwise have the previous weight judged as this one's) */
                c->step_live_for = c->cycle->proposed.step_started_usec;
                c->step_live_usec = now;
        }
        outage_over(c); /* the cluster holds what was decided, the outage's count included */
        /* its events happened: send; no other write held can land now */
        resolve_held(c, &(struct slack_seen){.state_usec = c->cycle->proposed.updated_usec}, false);
        /* not synced on its own: a crash before the canary's next sync journals the state read
         * back as `observed` instead (commands stay synced: they are few and have no other
         * record) */
        canary_journal_line(c,
                            journal_format_decision(now_realtime_usec(), c->cfg->name,
                                                    &c->cycle->decided_from, &c->cycle->proposed,
                                                    journal_event_name(c->cycle->current.ev.kind),
                                                    &c->cycle->actions),
                            false);
        journal_mark_set(&c->journaled, &c->cycle->proposed);
        write_ended_report(c, &c->cycle->decided_from, &c->cycle->proposed);
        if (event_is_command(c->cycle->current.ev.kind)) {
                const struct rollout_state *p = &c->cycle->proposed;
                char *msg = xasprintf("%s %s: done: %s, step %u/%zu, canary weight %u%%",
                                      journal_event_name(c->cycle->current.ev.kind), c->cfg->name,
                                      rollout_phase_to_string(p->phase), p->step, c->cfg->n_steps,
                                      p->weight);
                command_journal(c, &c->cycle->current, p, "applied", msg);
                command_answer(c, &c->cycle->current, control_reply_ok(msg, NULL));
                free(msg);
        }
        state_set(c, &c->cycle->proposed);
        memcpy(c->slack_thread_ts, c->cycle->thread_ts, sizeof(c->slack_thread_ts));
        status_notify(c->d); /* the cluster now says so */
        if (c->d->stopping) {
                /* the write landed: state is durable; skip read-back and side effects */
                cycle_end(c);
                return;
        }
        /* the API server answers a PUT with the object as stored: that is the read-back */
        char *err = NULL;
        if (verify_stored(c, stored, stored_len, &err)) {
                run_post_write_actions(c);
                cycle_end(c);
                return;
        }
        free(err);
        int r = kube_get(c->d->kube, c->vs_path, on_verify, c);
        c->kube_inflight = r >= 0;
        if (r < 0) {
                run_post_write_actions(c);
                cycle_end(c);
        }
}

static void decide(struct canary *c, const struct vs_view *view, const char *body, size_t len)
{
        struct rollout_event ev = queued_event_get(&c->cycle->current);
        usec_t now = now_realtime_usec();

        /* Drift first: weights someone else wrote pause the rollout; the event waits. */
        if (rollout_routes_drifted(&c->state, view->canary_weight, view->weights_consistent)) {
                if (ev.kind == EV_TICK || ev.kind == EV_ANALYSIS ||
                    !queue_push_front(c, &c->cycle->current))
                        command_abandon(c, &c->cycle->current, "the canary's event queue is full");
                queued_event_set(&c->cycle->current,
                                 &(struct rollout_event){
                                     .kind = EV_DRIFT,
                                     .observed_weight = view->canary_weight,
                                     .routes_disagree = !view->weights_consistent,
                                 });
                ev = queued_event_get(&c->cycle->current);
        }

        /* Then a Kubernetes outage that counted inconclusive checks: decided before anything
         * else now that the cluster answers (past inconclusive_limit it pauses, so nothing is
         * promoted on a stale verdict); a command waits its turn, a tick or verdict is moot. */
        struct rollout_event outage;
        if (ev.kind != EV_DRIFT && outage_event(c, &outage)) {
                if (ev.kind != EV_KUBE_OUTAGE && (ev.kind == EV_TICK || ev.kind == EV_ANALYSIS ||
                                                  !queue_push_front(c, &c->cycle->current)))
                        command_abandon(c, &c->cycle->current, "the canary's event queue is full");
                queued_event_set(&c->cycle->current, &outage);
                ev = queued_event_get(&c->cycle->current);
        }

        c->cycle->proposed = c->state;
        c->cycle->decided_from = c->state;
        rollout_step(&c->spec, &c->cycle->proposed, &ev, now, &c->cycle->actions);
        c->slack_held = 0;
        /* The Slack thread belongs to one rollout: a new one (start, retry) opens its own; the
         * parent's ts, once Slack has given it, is stored with the next write. */
        if (c->cycle->proposed.started_usec != c->state.started_usec)
                c->cycle->thread_ts[0] = '\0';
        else
                snprintf(c->cycle->thread_ts, sizeof(c->cycle->thread_ts), "%s",
                         c->slack_thread_ts[0]   ? c->slack_thread_ts
                         : announce_thread_ts(c) ? announce_thread_ts(c)
                                                 : "");
        if (c->cycle->actions.refused) {
                if (c->cycle->current.has_peer)
                        control_refusal_log(c->d, journal_event_name(ev.kind), c->cfg->name,
                                            &c->cycle->current.peer, c->cycle->actions.refused);
                else
                        log_canary(LOG_NOTICE, c, NULL, NULL, "command refused: %s",
                                   c->cycle->actions.refused);
                command_journal(c, &c->cycle->current, &c->state, "refused",
                                c->cycle->actions.refused);
                command_answer(c, &c->cycle->current,
                               control_reply_error(1, c->cycle->actions.refused));
                cycle_end(c);
                return;
        }
        if (c->cycle->actions.ignored) {
                log_canary(LOG_INFO, c, NULL, NULL, "dropping %s: %s",
                           ev.kind == EV_KUBE_OUTAGE ? "a Kubernetes outage's count"
                                                     : "an analysis result",
                           c->cycle->actions.ignored);
                if (ev.kind == EV_KUBE_OUTAGE)
                        outage_over(c);
                cycle_end(c);
                return;
        }
        if (c->cycle->actions.n == 0 || c->cycle->actions.items[0].kind != ACT_WRITE) {
                outage_over(c); /* read, and nothing to write: the cluster answers */
                run_post_write_actions(c);
                cycle_end(c);
                return;
        }

        const struct rollout_action *w = &c->cycle->actions.items[0];
        char *state = state_to_json(&c->cycle->proposed, c->cycle->thread_ts);
        char *out = NULL, *err = NULL;
        int r =
            vs_update(body, len, c->cfg, w->set_weights ? (int)w->weight : -1, state, &out, &err);
        free(state);
        if (r < 0) {
                log_canary(LOG_ERR, c, NULL, NULL, "cannot update %s: %s", c->vs_path, err);
                command_abandon(c, &c->cycle->current, err);
                set_error(c, err);
                cycle_end(c);
                return;
        }
        free(c->written_body);
        c->written_body = out;
        if (!ha_owns(c->d, c)) {
                /* the shard lease was lost while we decided: never write */
                log_canary(LOG_WARNING, c, NULL, NULL, "shard lease lost; not writing");
                cycle_end(c);
                return;
        }
        announce_hold(c, view->resource_version);
        c->put_waiting = true;
        commit_push(c);
}

/* After the commit (commit.c): the write goes out, if the shard is still ours. */
void canary_committed(struct canary *c)
{
        if (c->d->stopping) {
                cycle_end(c);
                return;
        }
        if (c->d->reload_pending)
                return; /* the reload ends this cycle (canary_done answers its event) */
        if (!ha_owns(c->d, c)) {
                log_canary(LOG_WARNING, c, NULL, NULL, "shard lease lost; not writing");
                cycle_end(c);
                return;
        }
        int r = kube_put(c->d->kube, c->vs_path, c->written_body, on_put, c);
        c->kube_inflight = r >= 0;
        if (r < 0) {
                log_error_errno(r, "cannot submit PUT: %m");
                retry_later(c);
        }
}

static bool same_state(const struct rollout_state *a, const struct rollout_state *b)
{
        return a->phase == b->phase && a->step == b->step && a->weight == b->weight &&
               a->failed_checks == b->failed_checks &&
               a->inconclusive_checks == b->inconclusive_checks && a->analyses == b->analyses &&
               a->started_usec == b->started_usec && a->step_started_usec == b->step_started_usec &&
               a->updated_usec == b->updated_usec && strcmp(a->revision, b->revision) == 0;
}

/* The object as read (GET) or as the informer holds it: the cycle's state, then decide. */
static void cycle_read(struct canary *c, const char *body, size_t body_len, bool from_get)
{
        struct vs_view view = {0};
        char *err = NULL;

        if (c->d->stopping) {
                cycle_end(c);
                return;
        }
        if (vs_inspect(body, body_len, c->cfg, &view, &err) < 0) {
                log_canary(LOG_ERR, c, NULL, NULL, "%s: %s", c->vs_path, err);
                set_error(c, err);
                retry_later(c);
                return;
        }
        vs_routes_seen(c, &view);

        struct rollout_state s;
        char thread_ts[SLACK_THREAD_TS_MAX] = "";
        rollout_state_init(&s);
        if (view.state_json && state_from_json(view.state_json, strlen(view.state_json),
                                               c->cfg->n_steps, &s, thread_ts, &err) < 0) {
                /* Never guess: a state we cannot read holds everything until a human looks. */
                log_canary(LOG_ERR, c, NULL, NULL, "%s: annotation %s unreadable: %s", c->vs_path,
                           VS_STATE_ANNOTATION, err);
                set_error(c, err);
                vs_view_done(&view);
                retry_later(c);
                return;
        }
        if (!view.state_json)
                s.weight = view.canary_weight;
        c->kube_failures = 0;
        set_error(c, NULL); /* the cluster answered and we can read it */
        /* Slack messages held on a write of ours (one whose answer was lost, or cut by a
         * crash): sent if the cluster holds its state, dropped if not. */
        resolve_held(
            c, &(struct slack_seen){.state_usec = s.updated_usec, .rv = view.resource_version},
            true);
        if (c->put_uncertain && same_state(&s, &c->cycle->proposed)) {
                /* Our last PUT timed out, got a 5xx or a 409 (a copy of it, sent again by the
                 * HTTP client, found it landed), yet the cluster holds exactly the state
                 * it carried (updated_at has microseconds): it landed. Deciding the event again
                 * would apply it twice (a second promote, a refused start). */
                log_canary(LOG_NOTICE, c, NULL, NULL,
                           "the write whose answer was lost had landed; continuing from it");
                vs_view_done(&view);
                c->loaded = true;
                write_landed(c, NULL, 0);
                return;
        }
        c->put_uncertain = false;
        /* The journal shows where the daemon found the canary: at start-up, and whenever the
         * cluster holds a state this daemon did not journal (edited by hand, or a write that
         * landed just before a crash cut its journal line). */
        bool observed = !journal_mark_matches(&c->journaled, &s);
        if (observed) {
                canary_journal(c, journal_format_observed(now_realtime_usec(), c->cfg->name, &s,
                                                          c->journaled.valid
                                                              ? "changed outside this daemon"
                                                              : "read at start-up or reload"));
                journal_mark_set(&c->journaled, &s);
        }
        state_set(c, &s);
        memcpy(c->slack_thread_ts, thread_ts, sizeof(c->slack_thread_ts));
        c->loaded = true;
        /* a transition that landed before a crash cut its page is paged now, once */
        if (observed)
                pager_observe(c);
        if (c->slack_takeover) {
                c->slack_takeover = false;
                announce_takeover(c);
        }
        /* what a GET shows is newer than any watch event still on its way */
        if (from_get)
                vs_cache_put(c, body, body_len, view.resource_version);
        decide(c, &view, body, body_len);
        vs_view_done(&view);
}

static void on_get(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;

        c->kube_inflight = false;
        if (res->error < 0) {
                kube_failed(c, "GET", res);
                return;
        }
        cycle_read(c, res->body, res->body_len, true);
}

/* Cycles that read the informer's cache run from a deferred source, one at a time, never from
 * inside the caller that queued their event (a watch event, a control command, a verdict). */
static int on_ready(sd_event_source *es, void *userdata)
{
        struct daemon *d = userdata;

        while (d->ready) {
                struct canary *c = d->ready;
                d->ready = c->ready_next;
                if (!d->ready)
                        d->ready_tail = NULL;
                c->ready_next = NULL;
                c->ready_queued = false;
                if (!c->busy && !cycle_may_open(c))
                        continue; /* stopping or reloading: its queue is answered there */
                if (c->d->stopping) {
                        cycle_end(c);
                        continue;
                }
                if (c->d->reload_pending)
                        continue; /* the reload ends this cycle (canary_done answers its event) */
                if (!c->busy)
                        cycle_open(c); /* its read from the cache is now */
                if (c->vs_cached) {
                        /* decide from a copy: nothing may replace the cache under it */
                        char *body = xstrdup(c->vs_cached);
                        size_t len = c->vs_cached_len;
                        cycle_read(c, body, len, false);
                        free(body);
                } else {
                        c->vs_force_get = true; /* gone from the cache meanwhile */
                        cycle_get(c);
                }
        }
        return 0;
}

static void ready_push(struct canary *c)
{
        struct daemon *d = c->d;

        if (c->ready_queued)
                return;
        if (!d->ready_defer) {
                int r = sd_event_add_defer(d->event, &d->ready_defer, on_ready, d);
                if (r < 0) {
                        log_error_errno(r, "cannot add the read queue: %m");
                        c->vs_force_get = true;
                        cycle_get(c);
                        return;
                }
        }
        c->ready_queued = true;
        c->ready_next = NULL;
        if (d->ready_tail)
                d->ready_tail->ready_next = c;
        else
                d->ready = c;
        d->ready_tail = c;
        sd_event_source_set_enabled(d->ready_defer, SD_EVENT_ONESHOT);
}

static void ready_remove(struct canary *c)
{
        struct daemon *d = c->d;
        struct canary *prev = NULL;

        if (!c->ready_queued)
                return;
        for (struct canary *x = d->ready; x; prev = x, x = x->ready_next)
                if (x == c) {
                        if (prev)
                                prev->ready_next = c->ready_next;
                        else
                                d->ready = c->ready_next;
                        if (d->ready_tail == c)
                                d->ready_tail = prev;
                        break;
                }
        c->ready_next = NULL;
        c->ready_queued = false;
}

/* Reads the VirtualService: from the informer's cache when it is current (no request), after
 * the namespace's first LIST when that is on its way, else with a GET. An idle canary (called
 * from cycle_begin) opens its cycle only for the GET: a cache read opens it in on_ready, a parked
 * one in canary_read_resume, so its event waits in the queue without a cycle meanwhile. */
static void cycle_get(struct canary *c)
{
        if (!c->vs_force_get && !c->d->stopping) {
                switch (vs_cache_read(c)) {
                case VS_READ_CACHED:
                        ready_push(c);
                        return;
                case VS_READ_WAIT:
                        return; /* canary_read_resume() goes on */
                case VS_READ_GET:
                        break;
                }
        }
        if (!c->busy)
                cycle_open(c);
        int r = kube_get(c->d->kube, c->vs_path, on_get, c);
        c->kube_inflight = r >= 0;
        if (r < 0) {
                log_error_errno(r, "cannot submit GET: %m");
                retry_later(c);
        }
}

static void canary_read_resume(struct canary *c)
{
        if (!c->busy) {
                cycle_begin(c); /* its event waited in the queue, without a cycle */
                return;
        }
        if (c->d->reload_pending)
                return; /* a reload ends this cycle (canary_done answers its event) */
        if (c->d->stopping) {
                cycle_end(c);
                return;
        }
        cycle_get(c);
}

static void canary_wake(struct canary *c)
{
        canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
}

const struct vs_watch_callbacks canary_vs_watch_callbacks = {
    .read_resume = canary_read_resume,
    .wake = canary_wake,
};

/* Can the canary's next queued event be decided now? A canary whose shard another daemon
 * holds answers its commands and drops its queue. */
static bool cycle_may_open(struct canary *c)
{
        /* a pending reload waits for the requests in flight; nothing new starts meanwhile */
        if (c->busy || c->n_queue == 0 || c->d->stopping || c->d->reload_pending)
                return false;
        if (!ha_owns(c->d, c)) {
                /* another daemon holds this canary's shard; it is re-read when ours again. A
                 * command waiting here is answered, not silently dropped. */
                queue_abandon_all(c, "this daemon lost the canary's shard lease; ask the one that "
                                     "holds it");
                return false;
        }
        return true;
}

/* Takes the next queued event into a new cycle: busy from here until cycle_end(). */
static void cycle_open(struct canary *c)
{
        c->busy = true;
        c->cycle = xcalloc(1, sizeof(*c->cycle));
        queue_pop(c, &c->cycle->current);
        c->conflicts = 0;
}

/* Starts deciding the canary's next queued event (cycle_get opens its cycle when the read goes
 * ahead: at start-up every canary waits for its read at once, 2 KB of cycle each otherwise). */
static void cycle_begin(struct canary *c)
{
        if (!cycle_may_open(c))
                return;
        c->vs_force_get = false; /* a new cycle reads the cache again */
        cycle_get(c);
}

void canary_cycle_stop(struct canary *c, const char *why)
{
        if (c->cycle)
                command_abandon(c, &c->cycle->current, why);
        c->cycle = (free(c->cycle), NULL);
        queue_abandon_all(c, why);
        ready_remove(c);
        c->tick = sd_event_source_disable_unref(c->tick);
        c->held_recheck = sd_event_source_disable_unref(c->held_recheck);
        c->retry = sd_event_source_disable_unref(c->retry);
}
