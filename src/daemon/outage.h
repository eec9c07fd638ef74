/* outage.c: a Kubernetes outage counted as inconclusive checks (SPEC.md §4). A read or write of
 * a canary that keeps failing holds its weights; every interval of the running step that passes
 * so counts one inconclusive check, kept in <state_dir>/<canary>.outage so that a restart
 * during the outage goes on counting. The count is decided (EV_KUBE_OUTAGE) as soon as the
 * cluster answers again: past inconclusive_limit the rollout pauses, before anything else of
 * the canary is decided. */
#pragma once

#include <stdbool.h>

#include "canary.h"

/* A Kubernetes request of c failed (after c->state was known): the outage goes on. */
void outage_failed(struct canary *c);
/* The cluster holds c's state again (a write landed, or a read needed no write): over. */
void outage_over(struct canary *c);
/* Reads what a previous daemon counted (at set-up). */
void outage_load(struct canary *c);
/* When c has an outage to decide: the event, for the step it counted. */
bool outage_event(const struct canary *c, struct rollout_event *ret);
