/* metrics.c: the /metrics page (SPEC §9) from the daemon's state and counters. */
#pragma once

#include "canary.h"

/* c's counters, or NULL when nobody can read them (no HTTP endpoint). */
static inline struct canary_counts *canary_counts(const struct canary *c)
{
        return c->d->counts ? &c->d->counts[c - c->d->canaries] : NULL;
}

/* Starts the histograms' buckets; call once, before the first observation. */
void metrics_init(struct daemon_metrics *m);
/* The page in the Prometheus text format 0.0.4; owned by the caller. */
char *metrics_render(const struct daemon *d, size_t *ret_len);
/* A Slack client is about to be freed (a reload): keep its counts in the daemon's. */
void metrics_keep_slack_counts(struct daemon *d);
/* A rollout that ended with notification n (promoted, rolled back, aborted), for
 * canaryd_rollouts_total; other notifications count nothing. */
void metrics_count_outcome(struct canary *c, enum rollout_notify n);
