/* dd-events.c: the Datadog events of a canary's rollouts (datadog.events; SPEC.md §10). */
#pragma once

#include "canaryd/rollout.h"

#include "canary.h"

struct daemon;

/* The sender, paced by the query scheduler (d->sched must exist). Lives as long as the daemon,
 * across reloads; sends only once a client is set. Returns 0 or a negative errno. */
int dd_events_new(struct daemon *d);
void dd_events_free(struct daemon *d);
/* Notification n of c->state landed: posted when it is started, promoted, rolled back or
 * aborted, datadog.events is on, and this daemon owns c. Other notifications are ignored. */
void datadog_events_announce(struct canary *c, enum rollout_notify n);
