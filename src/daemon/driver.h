/* driver.c: runs each canary's rollout: its event queue into Kubernetes cycles (read, decide,
 * write, verify), then the decision's actions (Slack, timers, analyses). */
#pragma once

#include "canary.h"

/* Queues an event (abort jumps the queue) and runs it when the canary is free. */
void canary_submit(struct canary *c, const struct rollout_event *ev);
/* Submits a command whose control reply waits for its decision (reply_id from the control
 * server; 0 = nobody waits). The reply is sent once the write landed (ok, with the new phase),
 * when the command is refused at decision time (code 1), or after CONTROL_REPLY_WAIT_USEC
 * (ok, "queued, not applied yet") when Kubernetes keeps failing. */
void canary_submit_command(struct canary *c, const struct rollout_event *ev, uint64_t reply_id,
                           const struct journal_peer *peer);
/* What the analyses of every canary report to (analysis_sched_new(), main.c); userdata is the
 * canary. A verdict is journaled (an interim look only when it is decisive) and submitted as
 * EV_ANALYSIS. */
extern const struct analysis_callbacks canary_analysis_callbacks;
/* What the VirtualService watches ask of every canary's cycle (vs_watches_start(), main.c): a
 * read parked by the informer goes ahead (or ends, when stopping or reloading); a change made
 * outside canaryd runs the cycle now. */
struct vs_watch_callbacks;
extern const struct vs_watch_callbacks canary_vs_watch_callbacks;
/* d->committed (main.c): the canary's lines are on disk; its PUT goes out. */
void canary_committed(struct canary *c);
/* The canaries of a shard this daemon now acts for are read again; those of a shard it lost
 * stop their analyses. For ha_new(). */
void canaries_shard_changed(struct daemon *d, unsigned shard, unsigned n_shards, bool owned,
                            bool taken_over);
/* While a rollout runs, how often the VirtualService is re-read (drift, changes made
 * elsewhere); also the Deployment trigger's poll period. */
usec_t canary_resync_usec(const struct canary *c);
/* Ends the canary's cycle and queue (their commands abandoned with why) and its timers. */
void canary_cycle_stop(struct canary *c, const char *why);
