/* control-log.c: one log line per refused control request, naming the peer, rate-limited so
 * that a flood of bad requests cannot flood the journal. */
#pragma once

#include "canaryd/journal-json.h"

#include "daemon.h"

/* Refusals logged per second at most; the rest are counted and summarised once. */
#define CONTROL_REFUSALS_PER_SEC 10

/* Logs "control: refused COMMAND [CANARY] from uid U gid G pid P: WHY" at notice level, with
 * CANARY=, PEER_UID=, PEER_GID=, PEER_PID= and CONTROL_COMMAND= in the journal. command NULL: a
 * request not understood ("request"); canary NULL: none named; peer NULL: unknown. Beyond
 * CONTROL_REFUSALS_PER_SEC a second, the lines are counted instead, and one line says how many
 * were not logged once that second is over. */
void control_refusal_log(struct daemon *d, const char *command, const char *canary,
                         const struct journal_peer *peer, const char *why);
/* At exit: the summary still pending, and the timer freed. */
void control_refusal_log_flush(struct daemon *d);
