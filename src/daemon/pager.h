/* pager.c: PagerDuty (SPEC.md §10, docs/alerts.md): one incident per rollout, triggered at the
 * configured alert levels and resolved when the canary is promoted, retried or started again;
 * every event passes through a durable outbox, so it is sent once across a crash and never
 * waits on a decision. */
#pragma once

#include <stdint.h>

#include "canaryd/rollout.h"

#include "canary.h"

struct pager;

/* The pager of cfg->pagerduty, reading its outbox (<state_dir>/pagerduty-outbox.json; an
 * unreadable one is set aside as *.broken and a new one started) and queueing the events it
 * still holds. routing_key is borrowed. Returns 0 and *ret, or -errno (logged). */
int pager_new(struct daemon *d, const char *routing_key, struct pager **ret);
/* Events not yet delivered stay in the outbox for the next pager. NULL-safe; returns NULL. */
struct pager *pager_free(struct pager *p);

/* Notification n of c->state happened (its write landed). */
void pager_transition(struct canary *c, enum rollout_notify n);
/* c->state was read from the cluster (start-up, or a change made elsewhere): a transition that
 * landed before a crash cut its announcement is paged now, once. */
void pager_observe(struct canary *c);

/* Events waiting in the outbox, for /metrics and tests. */
size_t pager_pending(const struct pager *p);
