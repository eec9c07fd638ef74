/* driver.c: runs each canary's rollout (its event queue and Kubernetes cycle), control
 * commands and their replies, and the decision journal's lines. */
#pragma once

#include "daemon.h"

int canary_init(struct canary *c, struct daemon *d, const struct canary_config *cfg);
void canary_done(struct canary *c);
/* Queues an event (abort jumps the queue) and runs it when the canary is free. */
void canary_submit(struct canary *c, const struct rollout_event *ev);
/* What the analyses of every canary report to (analysis_sched_new(), main.c); userdata is the
 * canary. A verdict is journaled (an interim look only when it is decisive) and submitted as
 * EV_ANALYSIS. */
extern const struct analysis_callbacks canary_analysis_callbacks;
/* What the VirtualService watches ask of every canary's cycle (vs_watches_start(), main.c): a
 * read parked by the informer goes ahead (or ends, when stopping or reloading); a change made
 * outside canaryd runs the cycle now. */
struct vs_watch_callbacks;
extern const struct vs_watch_callbacks canary_vs_watch_callbacks;
/* Dry run against the known state: NULL when the command would be accepted, else why not. */
const char *canary_check_command(const struct canary *c, const struct rollout_event *ev);
/* The gate every command passes before canary_submit_command(), whoever sent it (control
 * socket, Slack): NULL when it may go on; else why not, with the refusal logged ("pause by WHO
 * refused: ...") and journaled (peer: the control socket's, or NULL). */
const char *canary_command_refused(struct canary *c, const struct rollout_event *ev,
                                   const char *who, const struct journal_peer *peer);
bool daemon_busy(const struct daemon *d);
/* The canaries of a shard this daemon now acts for are read again; those of a shard it lost
 * stop their analyses. For ha_new(). */
void canaries_shard_changed(struct daemon *d, unsigned shard, unsigned n_shards, bool owned);
/* A request ended while the daemon stops or reloads: the idle source (main.c) looks, from the
 * loop, whether anything is still in flight. Nothing here calls back up into main.c. */
void daemon_idle_check(struct daemon *d);
/* Submits a command whose control reply waits for its decision (reply_id from the control
 * server; 0 = nobody waits). The reply is sent once the write landed (ok, with the new phase),
 * when the command is refused at decision time (code 1), or after CONTROL_REPLY_WAIT_USEC
 * (ok, "queued, not applied yet") when Kubernetes keeps failing. */
void canary_submit_command(struct canary *c, const struct rollout_event *ev, uint64_t reply_id,
                           const struct journal_peer *peer);
/* Sends a deferred reply (taken) and forgets it; a no-op when id is 0 or already answered. */
void daemon_reply(struct daemon *d, uint64_t id, char *reply);
/* Answers every deferred reply with a code-1 error (stop, reload). */
void daemon_reply_all(struct daemon *d, const char *error);
/* Appends a journal line (taken) for c; logs a failure once until appends work again. */
void canary_journal(struct canary *c, char *line);
