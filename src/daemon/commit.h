/* commit.c: the decision journal's lines and the group commit that makes them, and the Slack
 * messages held on a write, durable before the write goes out. */
#pragma once

#include <stdbool.h>

#include "canary.h"

/* Appends a journal line (taken) for c; logs a failure once until appends work again. durable:
 * synced by this iteration's commit, before any PUT that follows. Otherwise it is synced with
 * the canary's next durable line or when the canary is torn down: for the lines written after a
 * write landed, which a crash replaces with an `observed` entry (docs/journal.md), so they need
 * not cost an fdatasync each. */
void canary_journal_line(struct canary *c, char *line, bool durable);
/* canary_journal_line(c, line, true). */
void canary_journal(struct canary *c, char *line);
/* Queues c for this loop iteration's commit; once its lines (and, with c->put_waiting, the
 * Slack outbox) are synced, d->committed(c) sends the PUT (c->put_waiting and c->busy). */
void commit_push(struct canary *c);
/* Syncs what c appended and takes it out of the commit (its PUT will not go out). */
void commit_forget(struct canary *c);
