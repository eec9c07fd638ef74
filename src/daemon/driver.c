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
#include "canaryd/clock.h"
#include "canaryd/control.h"
#include "canaryd/journal.h"
#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/slack.h"
#include "canaryd/state-json.h"
#include "canaryd/trigger.h"
#include "canaryd/vs.h"
#include "driver.h"
#include "ha.h"
#include "metrics.h"
#include "status.h"
#include "vs-watch.h"

#define RESYNC_MAX_USEC  (15 * USEC_PER_SEC)
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

static void copy_event(struct queued_event *q, const struct rollout_event *ev)
{
        memset(q, 0, sizeof(*q));
        q->ev = *ev;
        snprintf(q->revision, sizeof(q->revision), "%s", ev->revision ? ev->revision : "");
        snprintf(q->reason, sizeof(q->reason), "%s", ev->reason ? ev->reason : "");
        snprintf(q->actor, sizeof(q->actor), "%s", ev->actor ? ev->actor : "");
        q->ev.revision = NULL;
        q->ev.reason = NULL;
        q->ev.actor = NULL;
}

/* Points the event's strings at the queue entry's own copies (entries move in the queue). */
static struct rollout_event event_of(const struct queued_event *q)
{
        struct rollout_event ev = q->ev;
        ev.revision = q->revision;
        ev.reason = q->reason;
        ev.actor = q->actor[0] ? q->actor : NULL;
        return ev;
}

static bool is_command(enum rollout_event_kind k)
{
        return rollout_event_is_command(k);
}

static void journal_report(struct daemon *d, int r)
{
        if (r < 0 && !d->journal_failing)
                log_errno(LOG_ERR, r, "cannot append to the decision journal in %s: %m",
                          d->config->state_dir);
        else if (r >= 0 && d->journal_failing)
                log_notice("decision journal in %s writable again", d->config->state_dir);
        d->journal_failing = r < 0;
}

static void barrier_push(struct canary *c);

/* Appends at once (a daemon crash keeps the line); the barrier makes it durable, once for all
 * the lines of this loop iteration and before the PUT they precede. */
/* Appends a line; durable: synced by this iteration's barrier, before any PUT that follows.
 * Otherwise it is synced with the canary's next durable line or when the canary is torn down:
 * for the lines written after a write landed, which a crash replaces with an `observed` entry
 * (docs/journal.md), so they need not cost an fdatasync each. */
static void journal_line(struct canary *c, char *line, bool durable)
{
        struct daemon *d = c->d;
        int r = journal_append(d->config->state_dir, c->cfg->name, d->config->journal_max_size,
                               line, false);
        free(line);
        journal_report(d, r);
        if (r >= 0) {
                c->journal_dirty = true;
                if (durable)
                        barrier_push(c);
        }
}

void canary_journal(struct canary *c, char *line)
{
        journal_line(c, line, true);
}

void canaries_shard_changed(struct daemon *d, unsigned shard, unsigned n_shards, bool owned)
{
        for (size_t i = 0; i < d->n_canaries; i++) {
                struct canary *c = &d->canaries[i];
                if (ha_shard_of(c->cfg->namespace_, c->cfg->name, n_shards) != shard)
                        continue;
                if (owned)
                        canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
                else
                        analysis_cancel(&c->analysis);
        }
        status_notify(d);
}

void daemon_idle_check(struct daemon *d)
{
        if (d->idle_defer)
                sd_event_source_set_enabled(d->idle_defer, SD_EVENT_ONESHOT);
}

static void journal_command(struct canary *c, const struct queued_event *q,
                            const struct rollout_state *s, const char *outcome, const char *detail)
{
        if (!is_command(q->ev.kind))
                return;
        canary_journal(c, journal_format_command(
                              now_realtime_usec(), c->cfg->name, s, journal_event_name(q->ev.kind),
                              q->revision, q->reason, q->ev.full, q->actor[0] ? q->actor : NULL,
                              q->has_peer ? &q->peer : NULL, outcome, detail));
}

/* Answers the control connection waiting for q's decision, once. Takes reply. */
static void answer(struct canary *c, struct queued_event *q, char *reply)
{
        q->settled = true;
        if (q->reply_id) {
                daemon_reply(c->d, q->reply_id, reply);
                q->reply_id = 0;
        } else {
                free(reply);
        }
}

/* A command that will not be decided: journaled and answered as not applied. */
static void abandon(struct canary *c, struct queued_event *q, const char *why)
{
        if (!is_command(q->ev.kind) || q->settled)
                return;
        journal_command(c, q, &c->state, "abandoned", why);
        char *msg =
            xasprintf("%s %s: not applied: %s", journal_event_name(q->ev.kind), c->cfg->name, why);
        answer(c, q, control_reply_error(1, msg));
        free(msg);
}

/* Room for one more event, up to EVENT_QUEUE_MAX. */
static bool queue_reserve(struct canary *c)
{
        if (c->n_queue >= EVENT_QUEUE_MAX)
                return false;
        if (c->n_queue == c->cap_queue) {
                size_t cap = c->cap_queue ? 2 * c->cap_queue : 1; /* most hold one */
                if (cap > EVENT_QUEUE_MAX)
                        cap = EVENT_QUEUE_MAX;
                c->queue = xrealloc(c->queue, cap * sizeof(*c->queue));
                c->cap_queue = cap;
        }
        return true;
}

static void queue_release(struct canary *c)
{
        free(c->queue);
        c->queue = NULL;
        c->n_queue = c->cap_queue = 0;
}

static bool queued(const struct canary *c, enum rollout_event_kind kind)
{
        for (size_t i = 0; i < c->n_queue; i++)
                if (c->queue[i].ev.kind == kind)
                        return true;
        return false;
}

static void submit_queued(struct canary *c, struct queued_event *qe)
{
        const struct rollout_event *ev = &qe->ev;
        if (c->d->stopping) {
                abandon(c, qe, "the daemon is stopping");
                return;
        }
        /* One pending tick is as good as many. */
        if (ev->kind == EV_TICK &&
            (queued(c, EV_TICK) || (c->cycle && c->cycle->current.ev.kind == EV_TICK)))
                return;
        if (!queue_reserve(c)) {
                log_canary(LOG_WARNING, c, NULL, NULL, "event queue full, dropping %s event",
                           journal_event_name(ev->kind));
                abandon(c, qe, "the canary's event queue is full");
                return;
        }
        struct queued_event q = *qe;
        if (ev->kind == EV_CMD_ABORT) {
                /* abort always wins: it goes first, ahead of queued promotions */
                memmove(&c->queue[1], &c->queue[0], c->n_queue * sizeof(c->queue[0]));
                c->queue[0] = q;
        } else {
                c->queue[c->n_queue] = q;
        }
        c->n_queue++;
        if (!c->busy)
                cycle_begin(c);
}

void canary_submit(struct canary *c, const struct rollout_event *ev)
{
        struct queued_event q;
        copy_event(&q, ev);
        submit_queued(c, &q);
}

static int on_reply_wait(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct pending_reply *p = userdata;
        char *msg = xasprintf("%s: queued, not applied yet (Kubernetes has not answered; "
                              "see canaryctl status and history)",
                              p->what);
        daemon_reply(p->d, p->id, control_reply_ok(msg, NULL));
        free(msg);
        return 0;
}

void canary_submit_command(struct canary *c, const struct rollout_event *ev, uint64_t reply_id,
                           const struct journal_peer *peer)
{
        struct daemon *d = c->d;
        struct queued_event q;
        copy_event(&q, ev);
        if (peer) {
                q.peer = *peer;
                q.has_peer = true;
        }
        if (reply_id) {
                struct pending_reply *p = xcalloc(1, sizeof(*p));
                p->d = d;
                p->id = reply_id;
                snprintf(p->what, sizeof(p->what), "%s %s", journal_event_name(ev->kind),
                         c->cfg->name);
                if (sd_event_add_time_relative(d->event, &p->timer, CLOCK_MONOTONIC,
                                               CONTROL_REPLY_WAIT_USEC, 100 * USEC_PER_MSEC,
                                               on_reply_wait, p) < 0) {
                        free(p);
                        control_server_reply(d->control, reply_id,
                                             control_reply_ok("accepted", NULL));
                } else {
                        p->next = d->replies;
                        d->replies = p;
                        q.reply_id = reply_id;
                }
        }
        journal_command(c, &q, &c->state, "queued", NULL);
        submit_queued(c, &q);
}

void daemon_reply(struct daemon *d, uint64_t id, char *reply)
{
        for (struct pending_reply **pp = &d->replies; *pp; pp = &(*pp)->next) {
                struct pending_reply *p = *pp;
                if (p->id != id)
                        continue;
                *pp = p->next;
                sd_event_source_disable_unref(p->timer);
                free(p);
                control_server_reply(d->control, id, reply);
                return;
        }
        free(reply); /* already answered (the bounded wait) or never deferred */
}

void daemon_reply_all(struct daemon *d, const char *error)
{
        while (d->replies)
                daemon_reply(d, d->replies->id, control_reply_error(1, error));
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

const char *canary_command_refused(struct canary *c, const struct rollout_event *ev,
                                   const char *who, const struct journal_peer *peer)
{
        const char *refused = c->d->stopping ? "daemon is stopping" : canary_check_command(c, ev);
        const char *name = journal_event_name(ev->kind);

        if (!refused)
                return NULL;
        log_canary(LOG_NOTICE, c, NULL, NULL, "%s by %s refused: %s", name, who, refused);
        canary_journal(c, journal_format_command(now_realtime_usec(), c->cfg->name, &c->state, name,
                                                 ev->revision, ev->reason, ev->full, ev->actor,
                                                 peer, "refused", refused));
        return refused;
}

const char *canary_check_command(const struct canary *c, const struct rollout_event *ev)
{
        struct rollout_state s = c->state;
        struct rollout_actions out;
        if (!ha_owns(c->d, c))
                return "this daemon does not hold the canary's shard lease; ask the one that "
                       "does (canaryd-shard-N in ha.namespace)";
        if (!c->loaded)
                return "state not known yet: the VirtualService has not been read";
        rollout_step(&c->spec, &s, ev, now_realtime_usec(), &out);
        return out.refused;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct canary *c = userdata;
        canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
        return 0;
}

/* While a rollout runs the VirtualService is re-read at least twice per interval (at most every
 * 15 s, at least every second), so drift and changes made elsewhere are seen within a step. */
static usec_t resync_usec(const struct canary *c)
{
        usec_t r = c->cfg->interval_usec / 2;
        if (r > RESYNC_MAX_USEC)
                r = RESYNC_MAX_USEC;
        return r < USEC_PER_SEC ? USEC_PER_SEC : r;
}

/* Arms the realtime tick for `at`, but no later than the next resync while a rollout runs. */
static void arm_tick(struct canary *c, usec_t at)
{
        usec_t now = now_realtime_usec();
        if (rollout_is_running(&c->state) && at > now + resync_usec(c))
                at = now + resync_usec(c);
        if (!c->tick) {
                int r = sd_event_add_time(c->d->event, &c->tick, CLOCK_REALTIME, at, TIMER_ACCURACY,
                                          on_tick, c);
                if (r < 0)
                        log_error_errno(r, "cannot add timer: %m");
                return;
        }
        sd_event_source_set_time(c->tick, at);
        sd_event_source_set_enabled(c->tick, SD_EVENT_ONESHOT);
}

/* The ts of the current rollout's Slack thread parent, as far as the Slack client knows. */
static const char *d_slack_thread_ts(const struct canary *c)
{
        char thread[ROLLOUT_REVISION_MAX + 64];

        if (!c->d->slack)
                return NULL;
        snprintf(thread, sizeof(thread), "%s/%llu", c->cfg->name,
                 (unsigned long long)c->state.started_usec);
        return slack_thread_ts(c->d->slack, thread);
}

/* Puts the Slack message of notification n of state s into the outbox: held on the write that
 * carries s (write-ahead, before it is submitted; see hold_notifications) or queued at once.
 * Returns true when the outbox has it (held, queued, or known already). */
static bool announce(struct canary *c, const struct rollout_state *s, enum rollout_notify n,
                     bool hold, const char *base_rv)
{
        struct daemon *d = c->d;
        const char *event = rollout_notify_to_string(n);
        const struct rollout_notify_policy *policy = rollout_notify_policy(n);
        bool with_metrics = c->last.valid && policy->with_metrics;
        struct metric_report *reports = with_metrics ? last_analysis_reports(&c->last) : NULL;
        struct slack_notice notice = {
            .canary = c->cfg->name,
            .namespace_ = c->cfg->namespace_,
            .event = event,
            .weight = s->weight,
            .step = s->step,
            .n_steps = (unsigned)c->cfg->n_steps,
            .revision = s->revision[0] ? s->revision : NULL,
            .reason = s->last_reason[0] ? s->last_reason : NULL,
            .actor = s->last_actor[0] ? s->last_actor : NULL,
            .runbook_url = policy->level > NOTIFY_LEVEL_INFO ? c->cfg->runbook_url : NULL,
            .metrics = reports,
            .n_metrics = reports ? c->last.n : 0,
            .phase = rollout_phase_to_string(s->phase),
            .at_usec = s->updated_usec,
            .window_start_usec = with_metrics ? c->last.window_start_usec : 0,
            .window_end_usec = with_metrics ? c->last.window_end_usec : 0,
            .cfg = c->cfg,
            .datadog_site = d->config->datadog.site,
            .buttons = d->slack_signing_secret && d->http_server && d->config->slack.n_approvers,
            .approval = rollout_approval_pending(s),
        };
        if (!d->slack || !ha_owns(d, c)) {
                free(reports);
                return false;
        }
        /* canary, revision, event, step, plus the rollout's start time, analysis count and
         * transition time, so that a retry of the same revision, or a second pause at the same
         * step, is announced again; all of it is durable state, so a restart keeps the key */
        char *key = xasprintf("%s/%s/%s/%u/%llu/%u/%llu", c->cfg->name, s->revision, event, s->step,
                              (unsigned long long)s->started_usec, s->analyses,
                              (unsigned long long)s->updated_usec);
        /* one Slack thread per rollout (token mode) */
        char *thread = xasprintf("%s/%llu", c->cfg->name, (unsigned long long)s->started_usec);
        const char *ts = s->slack_thread_ts[0] ? s->slack_thread_ts : NULL;
        int r = hold ? slack_hold(d->slack, &notice, key, thread, ts, c->cfg->name, s->updated_usec,
                                  base_rv)
                     : slack_notify(d->slack, &notice, key, thread, ts);
        if (hold && r == -ENOBUFS) {
                /* not lost: notify() queues it once the write lands, only not written ahead. Said
                 * once per episode: under overload it would be said for every event. */
                if (!d->slack_hold_full)
                        log_warning("slack: %d messages held on Kubernetes writes not yet "
                                    "answered, the most there can be; until fewer are, events "
                                    "are queued when their write lands (a crash in between "
                                    "loses them)",
                                    SLACK_HELD_MAX);
                d->slack_hold_full = true;
        } else if (r < 0 && r != -EEXIST) {
                log_canary(LOG_WARNING, c, NULL, NULL, "slack: cannot %s %s: %s",
                           hold ? "hold" : "queue", event, strerror(-r));
        } else if (hold && d->slack_hold_full && slack_held_count(d->slack) < SLACK_HELD_MAX / 2) {
                /* cleared with room to spare: at the edge it would flap every few writes */
                log_notice("slack: events are written ahead of their Kubernetes write again");
                d->slack_hold_full = false;
        }
        if (!hold && slack_outbox_error(d->slack))
                log_canary(LOG_WARNING, c, NULL, NULL, "slack: outbox not saved: %s",
                           slack_outbox_error(d->slack));
        free(thread);
        free(key);
        free(reports);
        return r == 0 || r == -EEXIST;
}

/* Write-ahead: before the write of c->cycle->proposed is submitted, its notifications' Slack
 * messages go into the outbox, held on that write, and the outbox is synced, so that a crash at any
 * instant after the write lands still finds them. write_landed() releases them; a read of
 * the canary (on_get, also the first one after a restart) releases them when the cluster holds
 * that write's state and drops them when it cannot land any more. The write's identity is the
 * proposed state's updated_at: every transition sets it to the decision time. base_rv: the
 * resourceVersion the write is guarded by. */
static void hold_notifications(struct canary *c, const char *base_rv)
{
        c->slack_held = 0;
        if (!c->d->slack || c->cycle->proposed.updated_usec == c->state.updated_usec)
                return; /* no Slack, or an identity the old state also has (clock stepped back) */
        for (size_t i = 0; i < c->cycle->actions.n; i++) {
                const struct rollout_action *a = &c->cycle->actions.items[i];
                if (a->kind == ACT_NOTIFY &&
                    announce(c, &c->cycle->proposed, a->notify, true, base_rv))
                        c->slack_held |= 1u << a->notify;
        }
        /* the barrier saves the outbox before the PUT goes out */
}

static int on_held_recheck(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)s;
        (void)usec;
        canary_submit(userdata, &(struct rollout_event){.kind = EV_TICK});
        return 0;
}

/* Resolves the canary's held Slack messages against what is seen of its object (slack.h):
 * released when the cluster holds their write, dropped when that write cannot land any more. A
 * write that may still land (sent by a daemon that died before the API server applied it) is
 * waited for: the watch shows it when it lands; a read at recheck time drops it otherwise. */
static void resolve_held(struct canary *c, const struct slack_seen *seen, bool on_read)
{
        size_t dropped = 0, released;
        usec_t recheck = 0;
        if (!c->d->slack || slack_held_count(c->d->slack) == 0)
                return;
        released =
            slack_resolve(c->d->slack, c->cfg->name, seen, now_realtime_usec(), &dropped, &recheck);
        if (dropped)
                log_canary(LOG_INFO, c, NULL, NULL,
                           "slack: dropped %zu held message(s) of a write that did not land",
                           dropped);
        if (released && on_read)
                log_canary(LOG_INFO, c, NULL, NULL,
                           "slack: the write whose messages were held had landed; released %zu",
                           released);
        if (recheck && c->held_recheck) {
                sd_event_source_set_time(c->held_recheck, recheck);
                sd_event_source_set_enabled(c->held_recheck, SD_EVENT_ONESHOT);
        } else if (recheck) {
                log_canary(LOG_INFO, c, NULL, NULL,
                           "slack: messages held on a write that may still land; waiting for it");
                if (sd_event_add_time(c->d->event, &c->held_recheck, CLOCK_REALTIME, recheck,
                                      TIMER_ACCURACY, on_held_recheck, c) < 0)
                        log_canary(LOG_WARNING, c, NULL, NULL, "slack: cannot add timer");
        }
        if (slack_outbox_error(c->d->slack))
                log_canary(LOG_WARNING, c, NULL, NULL, "slack: outbox not saved: %s",
                           slack_outbox_error(c->d->slack));
}

/* Our write of c->cycle->proposed was refused for sure: its events did not happen. */
static void forget_held(struct canary *c)
{
        if (!c->d->slack || !c->slack_held)
                return;
        size_t dropped =
            slack_forget_write(c->d->slack, c->cfg->name, c->cycle->proposed.updated_usec);
        if (dropped)
                log_canary(LOG_INFO, c, NULL, NULL,
                           "slack: dropped %zu held message(s) of a refused write", dropped);
        c->slack_held = 0;
}

static void notify(struct canary *c, enum rollout_notify n)
{
        const char *event = rollout_notify_to_string(n);
        static const char *const ids[_ROLLOUT_NOTIFY_MAX] = {
            [NOTIFY_STARTED] = "5b1c1a9e4d2f4a6b9f0e0c7d3a2b1c01",
            [NOTIFY_PROMOTED] = "5b1c1a9e4d2f4a6b9f0e0c7d3a2b1c02",
            [NOTIFY_ROLLED_BACK] = "5b1c1a9e4d2f4a6b9f0e0c7d3a2b1c03",
            [NOTIFY_ABORTED] = "5b1c1a9e4d2f4a6b9f0e0c7d3a2b1c04",
        };
        int prio = rollout_notify_policy(n)->level > NOTIFY_LEVEL_INFO ? LOG_WARNING : LOG_NOTICE;
        log_canary(prio, c, ids[n], NULL, "%s at %u%%%s%s", event, c->state.weight,
                   c->state.last_reason[0] ? ": " : "", c->state.last_reason);
        /* held ahead of the write, released when it landed; otherwise queued now */
        if (!(c->slack_held & (1u << n)))
                (void)announce(c, &c->state, n, false, NULL);
}

/* A rollout that ended, for canaryd_rollouts_total. */
static void count_outcome(struct canary *c, enum rollout_notify n)
{
        struct canary_counts *k = canary_counts(c);

        if (!k)
                return;
        if (n == NOTIFY_PROMOTED)
                k->rollouts[OUTCOME_PROMOTED]++;
        else if (n == NOTIFY_ROLLED_BACK)
                k->rollouts[OUTCOME_ROLLED_BACK]++;
        else if (n == NOTIFY_ABORTED)
                k->rollouts[OUTCOME_ABORTED]++;
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
                        count_outcome(c, a->notify);
                        notify(c, a->notify);
                        break;
                case ACT_ARM_TIMER:
                        arm_tick(c, a->at_usec);
                        break;
                case ACT_QUERY:
                        /* a verdict already waiting in the queue answers this tick */
                        if (!queued(c, EV_ANALYSIS))
                                analysis_start(c->d->sched, &c->analysis, c->cfg, c->state.step,
                                               c->state.started_usec, a->window_start_usec,
                                               a->window_end_usec, a->interim, c);
                        break;
                case _ROLLOUT_ACTION_KIND_MAX:
                        break;
                }
        }
        if (rollout_is_running(&c->state) && c->tick) {
                int enabled = SD_EVENT_OFF;
                sd_event_source_get_enabled(c->tick, &enabled);
                if (enabled == SD_EVENT_OFF)
                        arm_tick(c, now_realtime_usec() + resync_usec(c));
        } else if (rollout_is_running(&c->state) && !c->tick) {
                arm_tick(c, now_realtime_usec() + resync_usec(c));
        }
}

static void cycle_end(struct canary *c)
{
        if (c->d->stopping) {
                if (c->cycle)
                        abandon(c, &c->cycle->current, "the daemon is stopping");
                for (size_t i = 0; i < c->n_queue; i++)
                        abandon(c, &c->queue[i], "the daemon is stopping");
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
                /* 409: someone else updated the object; re-read and decide again */
                c->conflicts++;
                forget_held(c); /* not applied: its events did not happen */
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
                        forget_held(c); /* refused: its events did not happen */
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
        /* its events happened: send; no other write held can land now */
        resolve_held(c, &(struct slack_seen){.state_usec = c->cycle->proposed.updated_usec}, false);
        /* not synced on its own: a crash before the canary's next sync journals the state read
         * back as `observed` instead (commands stay synced: they are few and have no other
         * record) */
        journal_line(c,
                     journal_format_decision(now_realtime_usec(), c->cfg->name,
                                             &c->cycle->decided_from, &c->cycle->proposed,
                                             journal_event_name(c->cycle->current.ev.kind),
                                             &c->cycle->actions),
                     false);
        journal_mark_set(&c->journaled, &c->cycle->proposed);
        if (is_command(c->cycle->current.ev.kind)) {
                const struct rollout_state *p = &c->cycle->proposed;
                char *msg = xasprintf("%s %s: done: %s, step %u/%zu, canary weight %u%%",
                                      journal_event_name(c->cycle->current.ev.kind), c->cfg->name,
                                      rollout_phase_to_string(p->phase), p->step, c->cfg->n_steps,
                                      p->weight);
                journal_command(c, &c->cycle->current, p, "applied", msg);
                answer(c, &c->cycle->current, control_reply_ok(msg, NULL));
                free(msg);
        }
        c->state = c->cycle->proposed;
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
        struct rollout_event ev = event_of(&c->cycle->current);
        usec_t now = now_realtime_usec();

        /* Drift first: weights someone else wrote pause the rollout; the event waits. */
        if (rollout_routes_drifted(&c->state, view->canary_weight, view->weights_consistent)) {
                if (ev.kind != EV_TICK && ev.kind != EV_ANALYSIS && queue_reserve(c)) {
                        memmove(&c->queue[1], &c->queue[0], c->n_queue * sizeof(c->queue[0]));
                        c->queue[0] = c->cycle->current;
                        c->n_queue++;
                } else {
                        abandon(c, &c->cycle->current, "the canary's event queue is full");
                }
                copy_event(&c->cycle->current, &(struct rollout_event){
                                                   .kind = EV_DRIFT,
                                                   .observed_weight = view->canary_weight,
                                                   .routes_disagree = !view->weights_consistent,
                                               });
                ev = event_of(&c->cycle->current);
        }

        c->cycle->proposed = c->state;
        c->cycle->decided_from = c->state;
        rollout_step(&c->spec, &c->cycle->proposed, &ev, now, &c->cycle->actions);
        c->slack_held = 0;
        /* The Slack thread belongs to one rollout: a new one (start, retry) opens its own; the
         * parent's ts, once Slack has given it, is stored with the next write. */
        if (c->cycle->proposed.started_usec != c->state.started_usec)
                c->cycle->proposed.slack_thread_ts[0] = '\0';
        else if (!c->cycle->proposed.slack_thread_ts[0] && d_slack_thread_ts(c))
                snprintf(c->cycle->proposed.slack_thread_ts,
                         sizeof(c->cycle->proposed.slack_thread_ts), "%s", d_slack_thread_ts(c));
        if (c->cycle->actions.refused) {
                log_canary(LOG_NOTICE, c, NULL, NULL, "command refused: %s",
                           c->cycle->actions.refused);
                journal_command(c, &c->cycle->current, &c->state, "refused",
                                c->cycle->actions.refused);
                answer(c, &c->cycle->current, control_reply_error(1, c->cycle->actions.refused));
                cycle_end(c);
                return;
        }
        if (c->cycle->actions.ignored) {
                log_canary(LOG_INFO, c, NULL, NULL, "dropping an analysis result: %s",
                           c->cycle->actions.ignored);
                cycle_end(c);
                return;
        }
        if (c->cycle->actions.n == 0 || c->cycle->actions.items[0].kind != ACT_WRITE) {
                run_post_write_actions(c);
                cycle_end(c);
                return;
        }

        const struct rollout_action *w = &c->cycle->actions.items[0];
        char *state = state_to_json(&c->cycle->proposed);
        char *out = NULL, *err = NULL;
        int r =
            vs_update(body, len, c->cfg, w->set_weights ? (int)w->weight : -1, state, &out, &err);
        free(state);
        if (r < 0) {
                log_canary(LOG_ERR, c, NULL, NULL, "cannot update %s: %s", c->vs_path, err);
                abandon(c, &c->cycle->current, err);
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
        hold_notifications(c, view->resource_version);
        c->put_waiting = true;
        barrier_push(c);
}

/* After the barrier: the write goes out, if the shard is still ours. */
static void put_send(struct canary *c)
{
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

/* Group commit. Everything the loop iteration's decisions wrote (journal lines, held Slack
 * messages) reaches the disk here, one fdatasync per journal and one outbox save for all the
 * canaries, and only then do their PUTs go out: a burst of 100 verdicts from one Datadog batch
 * costs one outbox write, not 100 (it used to be the daemon's main cost under load). */
static int on_barrier(sd_event_source *es, void *userdata)
{
        struct daemon *d = userdata;
        size_t n = 0;
        bool any_put = false;
        int jr = 0;

        (void)es;
        /* Detach first, and snapshot which PUTs are due: a PUT that fails at once may start the
         * canary's next cycle, whose lines and PUT belong to the next barrier. */
        for (struct canary *c = d->barrier; c; c = c->barrier_next)
                n++;
        struct canary **batch = xcalloc(n + 1, sizeof(*batch));
        bool *put = xcalloc(n + 1, sizeof(*put));
        n = 0;
        for (struct canary *c = d->barrier, *next; c; c = next) {
                next = c->barrier_next;
                c->barrier_next = NULL;
                c->barrier_queued = false;
                batch[n++] = c;
        }
        d->barrier = NULL;
        for (size_t i = 0; i < n; i++) {
                struct canary *c = batch[i];
                if (c->journal_dirty) {
                        c->journal_dirty = false;
                        int r = journal_sync(d->config->state_dir, c->cfg->name);
                        if (r < 0)
                                jr = r;
                }
                put[i] = c->put_waiting;
                c->put_waiting = false;
                any_put = any_put || put[i];
        }
        journal_report(d, jr);
        if (any_put && d->slack && slack_held_count(d->slack) > 0 && slack_sync(d->slack) < 0)
                log_warning("slack: outbox not saved: %s", slack_outbox_error(d->slack));
        for (size_t i = 0; i < n; i++) {
                struct canary *c = batch[i];
                if (!put[i] || !c->busy)
                        continue;
                if (d->stopping) {
                        cycle_end(c);
                        continue;
                }
                if (d->reload_pending)
                        continue; /* the reload ends this cycle (canary_done answers its event) */
                put_send(c);
        }
        free(put);
        free(batch);
        return 0;
}

static void barrier_push(struct canary *c)
{
        struct daemon *d = c->d;

        if (c->barrier_queued)
                return;
        if (!d->barrier_defer &&
            sd_event_add_defer(d->event, &d->barrier_defer, on_barrier, d) < 0) {
                /* no source: commit this canary alone, at once */
                c->barrier_queued = true;
                c->barrier_next = d->barrier;
                d->barrier = c;
                on_barrier(NULL, d);
                return;
        }
        c->barrier_queued = true;
        c->barrier_next = d->barrier;
        d->barrier = c;
        sd_event_source_set_enabled(d->barrier_defer, SD_EVENT_ONESHOT);
}

static void barrier_remove(struct canary *c)
{
        struct daemon *d = c->d;

        if (c->journal_dirty && c->cfg) {
                c->journal_dirty = false;
                journal_report(d, journal_sync(d->config->state_dir, c->cfg->name));
        }
        c->put_waiting = false;
        if (!c->barrier_queued)
                return;
        for (struct canary **p = &d->barrier; *p; p = &(*p)->barrier_next)
                if (*p == c) {
                        *p = c->barrier_next;
                        break;
                }
        c->barrier_next = NULL;
        c->barrier_queued = false;
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

        struct rollout_state s;
        rollout_state_init(&s);
        if (view.state_json && state_from_json(view.state_json, strlen(view.state_json),
                                               c->cfg->n_steps, &s, &err) < 0) {
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
                /* Our last PUT timed out or got a 5xx, yet the cluster holds exactly the state
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
        if (!journal_mark_matches(&c->journaled, &s)) {
                canary_journal(c, journal_format_observed(now_realtime_usec(), c->cfg->name, &s,
                                                          c->journaled.valid
                                                              ? "changed outside this daemon"
                                                              : "read at start-up or reload"));
                journal_mark_set(&c->journaled, &s);
        }
        c->state = s;
        c->loaded = true;
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
                for (size_t i = 0; i < c->n_queue; i++)
                        abandon(c, &c->queue[i],
                                "this daemon lost the canary's shard lease; ask the one that "
                                "holds it");
                queue_release(c);
                return false;
        }
        return true;
}

/* Takes the next queued event into a new cycle: busy from here until cycle_end(). */
static void cycle_open(struct canary *c)
{
        c->busy = true;
        c->cycle = xcalloc(1, sizeof(*c->cycle));
        c->cycle->current = c->queue[0];
        memmove(&c->queue[0], &c->queue[1], (c->n_queue - 1) * sizeof(c->queue[0]));
        if (--c->n_queue == 0)
                queue_release(c);
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

/* ---- the Deployment trigger (SPEC §4): a periodic GET of the Deployment ---- */

static int on_trigger_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void trigger_arm(struct canary *c, usec_t delay)
{
        if (!c->trigger_timer) {
                if (sd_event_add_time_relative(c->d->event, &c->trigger_timer, CLOCK_MONOTONIC,
                                               delay, TIMER_ACCURACY, on_trigger_timer, c) < 0)
                        log_canary(LOG_ERR, c, NULL, NULL, "cannot add the trigger timer");
                return;
        }
        sd_event_source_set_time_relative(c->trigger_timer, delay);
        sd_event_source_set_enabled(c->trigger_timer, SD_EVENT_ONESHOT);
}

static void on_deployment(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;
        struct daemon *d = c->d;
        const char *name = c->cfg->trigger_deployment;

        c->trigger_inflight = false;
        if (d->stopping || d->reload_pending) {
                daemon_idle_check(d);
                return;
        }
        trigger_arm(c, resync_usec(c));
        struct deployment_view v;
        char *err = NULL;
        if (res->error < 0 || deployment_inspect(res->body, res->body_len, &v, &err) < 0) {
                if (!c->trigger_failing)
                        log_canary(LOG_WARNING, c, NULL, NULL,
                                   "trigger: cannot read deployment %s: %s%s%s", name,
                                   res->error < 0 && res->status ? "HTTP error " : "",
                                   res->error < 0 ? (res->message ? res->message : "failed") : "",
                                   err ? err : "");
                c->trigger_failing = true;
                free(err);
                return;
        }
        c->trigger_failing = false;
        if (!c->loaded || strcmp(v.revision, c->state.trigger_revision) == 0)
                return;
        if (!v.available) {
                if (strcmp(c->trigger_waiting, v.revision) != 0)
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "trigger: deployment %s template %s (image %s) is not fully "
                                   "available yet (%ld/%ld updated, %ld available)",
                                   name, v.revision, v.image[0] ? v.image : "?", v.updated,
                                   v.replicas, v.available_replicas);
                snprintf(c->trigger_waiting, sizeof(c->trigger_waiting), "%s", v.revision);
                return;
        }
        if (queued(c, EV_TRIGGER))
                return;
        log_canary(LOG_NOTICE, c, NULL, NULL,
                   "trigger: deployment %s runs template %s (image %s), available", name,
                   v.revision, v.image[0] ? v.image : "?");
        char actor[ROLLOUT_ACTOR_MAX];
        snprintf(actor, sizeof(actor), "deployment:%s", name);
        canary_submit(
            c, &(struct rollout_event){.kind = EV_TRIGGER, .revision = v.revision, .actor = actor});
}

static int on_trigger_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct canary *c = userdata;
        if (c->d->stopping || c->trigger_inflight)
                return 0;
        if (c->d->reload_pending) {
                trigger_arm(c, resync_usec(c)); /* the reload replaces it, or it goes on */
                return 0;
        }
        if (kube_get(c->d->kube, c->deployment_path, on_deployment, c) >= 0)
                c->trigger_inflight = true;
        else
                trigger_arm(c, resync_usec(c));
        return 0;
}

int canary_init(struct canary *c, struct daemon *d, const struct canary_config *cfg)
{
        memset(c, 0, sizeof(*c));
        c->d = d;
        c->cfg = cfg;
        rollout_spec_from_config(cfg, d->config->datadog.query_lag_usec, &c->spec);
        rollout_state_init(&c->state);
        c->vs_path = kube_virtual_service_path(cfg->namespace_, cfg->virtual_service);
        if (!c->vs_path)
                return -EINVAL;
        if (cfg->trigger_deployment) {
                c->deployment_path = deployment_path(cfg->namespace_, cfg->trigger_deployment);
                if (!c->deployment_path)
                        return -EINVAL;
                /* first look once the VirtualService has been read (c->loaded) */
                if (sd_event_add_time_relative(d->event, &c->trigger_timer, CLOCK_MONOTONIC,
                                               USEC_PER_SEC / 2, TIMER_ACCURACY, on_trigger_timer,
                                               c) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void canary_done(struct canary *c)
{
        if (c->cycle)
                abandon(c, &c->cycle->current,
                        "the configuration was reloaded or the daemon stopped");
        c->cycle = (free(c->cycle), NULL);
        for (size_t i = 0; i < c->n_queue; i++)
                abandon(c, &c->queue[i], "the configuration was reloaded or the daemon stopped");
        queue_release(c);
        ready_remove(c);
        barrier_remove(c);
        vs_cache_forget(c);
        analysis_cancel(&c->analysis);
        last_analysis_done(&c->last);
        c->tick = sd_event_source_disable_unref(c->tick);
        c->held_recheck = sd_event_source_disable_unref(c->held_recheck);
        c->retry = sd_event_source_disable_unref(c->retry);
        c->trigger_timer = sd_event_source_disable_unref(c->trigger_timer);
        free(c->deployment_path);
        free(c->vs_path);
        free(c->last_error);
        free(c->written_body);
        memset(c, 0, sizeof(*c));
}

/* Busy while a request whose callback reaches a canary is out. A canary waiting in Kubernetes
 * backoff, or for its namespace's first LIST, holds nothing that outlives canary_done(), so it
 * does not hold up a stop or a reload (it used to: one VirtualService answering 404 blocked every
 * reload for good). */
bool daemon_busy(const struct daemon *d)
{
        for (size_t i = 0; i < d->n_canaries; i++)
                if (d->canaries[i].kube_inflight || d->canaries[i].trigger_inflight)
                        return true;
        return false;
}
