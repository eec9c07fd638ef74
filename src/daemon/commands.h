/* commands.c: a canary's event queue, and the commands in it: journaled when queued and when
 * settled, their control connection answered once. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "canaryd/journal.h"
#include "canaryd/rollout.h"

#include "canary.h"

/* Copies ev into q, its strings included (q's are its own; queue entries move). */
void queued_event_set(struct queued_event *q, const struct rollout_event *ev);
/* The event of q, its strings pointing into q. */
struct rollout_event queued_event_get(const struct queued_event *q);
/* Sent by a person (control socket, Slack): journaled and answered. */
bool event_is_command(enum rollout_event_kind k);

/* Appends q (abort goes first, ahead of queued promotions); false when EVENT_QUEUE_MAX are
 * queued already. */
bool queue_add(struct canary *c, const struct queued_event *q);
/* Puts q back at the head of the queue (the event a drift pause interrupted); false when
 * full. */
bool queue_push_front(struct canary *c, const struct queued_event *q);
/* Takes the head of a non-empty queue into *ret. */
void queue_pop(struct canary *c, struct queued_event *ret);
bool queue_has(const struct canary *c, enum rollout_event_kind kind);
/* An event of kind is queued or being decided; with a revision, only one for that template. */
bool event_pending(const struct canary *c, enum rollout_event_kind kind, const char *revision);
/* Frees the queue (an idle canary carries none). */
void queue_release(struct canary *c);
/* Abandons every queued command with why, and empties the queue. */
void queue_abandon_all(struct canary *c, const char *why);

/* Journals command q (other events: nothing) against state s: outcome "queued", "applied",
 * "refused" or "abandoned", detail the answer or the reason. */
void command_journal(struct canary *c, const struct queued_event *q, const struct rollout_state *s,
                     const char *outcome, const char *detail);
/* Answers the control connection waiting for q's decision, once; q is settled. Takes reply. */
void command_answer(struct canary *c, struct queued_event *q, char *reply);
/* A command that will not be decided: journaled and answered as not applied (once). */
void command_abandon(struct canary *c, struct queued_event *q, const char *why);
/* q's control connection (reply_id from the control server) waits for its decision, at most
 * CONTROL_REPLY_WAIT_USEC; then it is told "queued, not applied yet". */
void command_await_reply(struct canary *c, struct queued_event *q, uint64_t reply_id);

/* Sends a deferred reply (taken) and forgets it; a no-op when id is 0 or already answered. */
void daemon_reply(struct daemon *d, uint64_t id, char *reply);
/* Answers every deferred reply with a code-1 error (stop, reload). */
void daemon_reply_all(struct daemon *d, const char *error);

/* Dry run against the known state: NULL when the command would be accepted, else why not. */
const char *canary_check_command(const struct canary *c, const struct rollout_event *ev);
/* The gate every command passes before canary_submit_command(), whoever sent it (control
 * socket, Slack): NULL when it may go on; else why not, with the refusal journaled (peer: the
 * control socket's, or NULL) and logged ("pause by WHO refused: ..."; who NULL: the caller logs
 * it, as the control socket does with its peer). */
const char *canary_command_refused(struct canary *c, const struct rollout_event *ev,
                                   const char *who, const struct journal_peer *peer);
