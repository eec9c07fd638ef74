/* A canary's event queue and the commands in it. Every command is journaled when it is queued
 * and when it is settled (applied, refused or abandoned), and its control connection, if one
 * waits, is answered exactly once: with the decision, or after CONTROL_REPLY_WAIT_USEC with
 * "queued, not applied yet". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/clock.h"
#include "canaryd/control.h"
#include "canaryd/journal.h"
#include "canaryd/log.h"
#include "commands.h"
#include "commit.h"
#include "ha.h"
#include "status.h"

void queued_event_set(struct queued_event *q, const struct rollout_event *ev)
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
struct rollout_event queued_event_get(const struct queued_event *q)
{
        struct rollout_event ev = q->ev;
        ev.revision = q->revision;
        ev.reason = q->reason;
        ev.actor = q->actor[0] ? q->actor : NULL;
        return ev;
}

bool event_is_command(enum rollout_event_kind k)
{
        return rollout_event_is_command(k);
}

void command_journal(struct canary *c, const struct queued_event *q, const struct rollout_state *s,
                     const char *outcome, const char *detail)
{
        if (!event_is_command(q->ev.kind))
                return;
        canary_journal(c, journal_format_command(
                              now_realtime_usec(), c->cfg->name, s, journal_event_name(q->ev.kind),
                              q->revision, q->reason, q->ev.full, q->actor[0] ? q->actor : NULL,
                              q->has_peer ? &q->peer : NULL, outcome, detail));
}

/* Answers the control connection waiting for q's decision, once. Takes reply. */
void command_answer(struct canary *c, struct queued_event *q, char *reply)
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
void command_abandon(struct canary *c, struct queued_event *q, const char *why)
{
        if (!event_is_command(q->ev.kind) || q->settled)
                return;
        command_journal(c, q, &c->state, "abandoned", why);
        char *msg =
            xasprintf("%s %s: not applied: %s", journal_event_name(q->ev.kind), c->cfg->name, why);
        command_answer(c, q, control_reply_error(1, msg));
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

void queue_release(struct canary *c)
{
        free(c->queue);
        c->queue = NULL;
        c->n_queue = c->cap_queue = 0;
}

static bool event_matches(const struct queued_event *q, enum rollout_event_kind kind,
                          const char *revision)
{
        return q->ev.kind == kind && (!revision || strcmp(q->revision, revision) == 0);
}

static bool queue_holds(const struct canary *c, enum rollout_event_kind kind, const char *revision)
{
        for (size_t i = 0; i < c->n_queue; i++)
                if (event_matches(&c->queue[i], kind, revision))
                        return true;
        return false;
}

bool queue_has(const struct canary *c, enum rollout_event_kind kind)
{
        return queue_holds(c, kind, NULL);
}

bool event_pending(const struct canary *c, enum rollout_event_kind kind, const char *revision)
{
        return (c->cycle && event_matches(&c->cycle->current, kind, revision)) ||
               queue_holds(c, kind, revision);
}

bool queue_add(struct canary *c, const struct queued_event *q)
{
        if (!queue_reserve(c))
                return false;
        if (q->ev.kind == EV_CMD_ABORT) {
                /* abort always wins: it goes first, ahead of queued promotions */
                memmove(&c->queue[1], &c->queue[0], c->n_queue * sizeof(c->queue[0]));
                c->queue[0] = *q;
        } else {
                c->queue[c->n_queue] = *q;
        }
        c->n_queue++;
        return true;
}

bool queue_push_front(struct canary *c, const struct queued_event *q)
{
        if (!queue_reserve(c))
                return false;
        memmove(&c->queue[1], &c->queue[0], c->n_queue * sizeof(c->queue[0]));
        c->queue[0] = *q;
        c->n_queue++;
        return true;
}

void queue_pop(struct canary *c, struct queued_event *ret)
{
        *ret = c->queue[0];
        memmove(&c->queue[0], &c->queue[1], (c->n_queue - 1) * sizeof(c->queue[0]));
        if (--c->n_queue == 0)
                queue_release(c);
}

void queue_abandon_all(struct canary *c, const char *why)
{
        for (size_t i = 0; i < c->n_queue; i++)
                command_abandon(c, &c->queue[i], why);
        queue_release(c);
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

void command_await_reply(struct canary *c, struct queued_event *q, uint64_t reply_id)
{
        struct daemon *d = c->d;
        struct pending_reply *p = xcalloc(1, sizeof(*p));

        p->d = d;
        p->id = reply_id;
        snprintf(p->what, sizeof(p->what), "%s %s", journal_event_name(q->ev.kind), c->cfg->name);
        if (sd_event_add_time_relative(d->event, &p->timer, CLOCK_MONOTONIC,
                                       CONTROL_REPLY_WAIT_USEC, 100 * USEC_PER_MSEC, on_reply_wait,
                                       p) < 0) {
                free(p);
                control_server_reply(d->control, reply_id, control_reply_ok("accepted", NULL));
                return;
        }
        p->next = d->replies;
        d->replies = p;
        q->reply_id = reply_id;
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

const char *canary_command_refused(struct canary *c, const struct rollout_event *ev,
                                   const char *who, const struct journal_peer *peer)
{
        const char *refused = c->d->stopping ? "daemon is stopping" : canary_check_command(c, ev);
        const char *name = journal_event_name(ev->kind);

        if (!refused)
                return NULL;
        if (who)
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
