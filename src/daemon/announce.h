/* announce.c: the Slack messages of a canary's rollout, written ahead of the Kubernetes write
 * that makes them true. */
#pragma once

#include "canaryd/rollout.h"
#include "canaryd/slack.h"

#include "canary.h"

/* Write-ahead: before the write of c->cycle->proposed is submitted, its notifications' Slack
 * messages go into the outbox, held on that write (c->slack_held says which), and the commit
 * syncs the outbox, so that a crash at any instant after the write lands still finds them.
 * base_rv: the resourceVersion the write is guarded by. */
void announce_hold(struct canary *c, const char *base_rv);
/* Resolves the canary's held messages against what is seen of its object (slack.h): released
 * when the cluster holds their write (the write landed, or a read shows its state), dropped when
 * that write cannot land any more. Returns when to look again (CLOCK_REALTIME; 0: no need) at a
 * write that may still land (sent by a daemon that died before the API server applied it): the
 * watch shows it when it lands; a read at that time drops it otherwise. on_read: says so in the
 * log. */
usec_t announce_resolve(struct canary *c, const struct slack_seen *seen, bool on_read);
/* Our write of c->cycle->proposed was refused for sure: its held messages are dropped. */
void announce_forget(struct canary *c);
/* Notification n of c->state happened (its write landed): logged, and its Slack message queued
 * unless it was held on that write. */
void announce_notify(struct canary *c, enum rollout_notify n);
/* The canary's shard was taken over from a daemon that stopped renewing it, and its state has
 * just been read: the last transition, if it happened shortly before (the dead daemon may have
 * written it and died before posting), is queued as a message that may have been posted: read
 * back first (token mode) or marked as a re-send (webhook). Exactly once with a bot token. */
void announce_takeover(struct canary *c);
/* The ts of the current rollout's Slack thread parent, as far as the Slack client knows. */
const char *announce_thread_ts(const struct canary *c);
