/* A canary's Slack messages: one per notification of the rollout engine, written ahead of the
 * Kubernetes write that makes it true (held on it in the outbox), released when that write
 * landed and dropped when it cannot land any more. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "announce.h"
#include "canaryd/alert.h"
#include "canaryd/clock.h"
#include "canaryd/log.h"
#include "canaryd/slack.h"
#include "dd-events.h"
#include "ha.h"
#include "report-writer.h"
#include "status.h"

const char *announce_thread_ts(const struct canary *c)
{
        char thread[ROLLOUT_REVISION_MAX + 64];

        if (!c->d->slack)
                return NULL;
        snprintf(thread, sizeof(thread), "%s/%llu", c->cfg->name,
                 (unsigned long long)c->state.started_usec);
        return slack_thread_ts(c->d->slack, thread);
}

/* How put_notice() puts a message into the outbox. */
enum notice_mode {
        NOTICE_QUEUE,    /* now: its write landed */
        NOTICE_HOLD,     /* write-ahead: held on the write that carries the state */
        NOTICE_RECOVERED /* now, as one another daemon may have posted (a shard taken over) */
};

/* Puts the Slack message of notification n of state s into the outbox: held on the write that
 * carries s (write-ahead, before it is submitted; see hold_notifications) or queued at once.
 * Returns true when the outbox has it (held, queued, or known already). */
static bool put_notice(struct canary *c, const struct rollout_state *s, const char *thread_ts,
                       enum rollout_notify n, enum notice_mode mode, const char *base_rv)
{
        bool hold = mode == NOTICE_HOLD;
        struct daemon *d = c->d;
        const char *event = rollout_notify_to_string(n);
        const struct rollout_notify_policy *policy = rollout_notify_policy(n);
        bool with_metrics = c->last.valid && policy->with_metrics;
        struct metric_report *reports = with_metrics ? last_analysis_reports(&c->last) : NULL;
        char *report = policy->with_runbook
                           ? report_link(d->config->report_url, c->cfg->name, s->started_usec)
                           : NULL;
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
            .runbook_url = policy->with_runbook ? c->cfg->runbook_url : NULL,
            .report_url = report,
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
                free(report);
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
        const char *ts = thread_ts[0] ? thread_ts : NULL;
        int r = hold ? slack_hold(d->slack, &notice, key, thread, ts, c->cfg->name, s->updated_usec,
                                  base_rv)
                : mode == NOTICE_RECOVERED
                    ? slack_notify_recovered(d->slack, &notice, key, thread, ts)
                    : slack_notify(d->slack, &notice, key, thread, ts);
        if (hold && r == -ENOBUFS) {
                /* not lost: announce_notify() queues it once the write lands, only not written
                 * ahead. Said once per episode: under overload it would be said for every event. */
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
        free(report);
        return r == 0 || r == -EEXIST;
}

/* The write's identity is the proposed state's updated_at: every transition sets it to the
 * decision time. */
void announce_hold(struct canary *c, const char *base_rv)
{
        c->slack_held = 0;
        if (!c->d->slack || c->cycle->proposed.updated_usec == c->state.updated_usec)
                return; /* no Slack, or an identity the old state also has (clock stepped back) */
        for (size_t i = 0; i < c->cycle->actions.n; i++) {
                const struct rollout_action *a = &c->cycle->actions.items[i];
                if (a->kind == ACT_NOTIFY && put_notice(c, &c->cycle->proposed, c->cycle->thread_ts,
                                                        a->notify, NOTICE_HOLD, base_rv))
                        c->slack_held |= 1u << a->notify;
        }
        /* the commit (commit.c) saves the outbox before the PUT goes out */
}

usec_t announce_resolve(struct canary *c, const struct slack_seen *seen, bool on_read)
{
        size_t dropped = 0, released;
        usec_t recheck = 0;
        if (!c->d->slack || slack_held_count(c->d->slack) == 0)
                return 0;
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
        if (slack_outbox_error(c->d->slack))
                log_canary(LOG_WARNING, c, NULL, NULL, "slack: outbox not saved: %s",
                           slack_outbox_error(c->d->slack));
        return recheck;
}

void announce_forget(struct canary *c)
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

void announce_notify(struct canary *c, enum rollout_notify n)
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
                (void)put_notice(c, &c->state, c->slack_thread_ts, n, NOTICE_QUEUE, NULL);
        datadog_events_announce(c, n);
}

/* How long before a takeover a transition may have been written by the daemon that died
 * without its Slack post: that daemon renewed the Lease until at most a lease duration (and a
 * retry period) before it expired here, and posts within seconds of a write unless Slack is
 * backlogged. Older transitions were posted, or sat in a backlog this recovery does not cover. */
#define TAKEOVER_RECENT_DURATIONS 2
#define TAKEOVER_RECENT_EXTRA     (30 * USEC_PER_SEC)

void announce_takeover(struct canary *c)
{
        usec_t now = now_realtime_usec();
        usec_t recent = TAKEOVER_RECENT_DURATIONS * c->d->config->ha.lease_duration_usec +
                        TAKEOVER_RECENT_EXTRA;
        enum rollout_notify n = alert_implied_notify(&c->state);

        if (!c->d->slack || n == _ROLLOUT_NOTIFY_MAX || c->state.updated_usec + recent < now)
                return;
        log_canary(LOG_INFO, c, NULL, NULL,
                   "slack: shard taken over from a daemon that died; announcing %s unless "
                   "Slack shows it already",
                   rollout_notify_to_string(n));
        (void)put_notice(c, &c->state, c->slack_thread_ts, n, NOTICE_RECOVERED, NULL);
}
