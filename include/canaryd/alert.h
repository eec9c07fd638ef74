/* Which PagerDuty events a canary's transition calls for (SPEC.md §10), as a pure plan: one
 * incident per rollout, triggered at the configured alert levels and resolved when the canary is
 * promoted, retried or a new rollout starts. The daemon (src/daemon/pager.c) sends the plan and
 * keeps each canary's alert_record durable, so that a restart neither pages twice nor forgets an
 * open incident. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/rollout.h"

/* A set of alert levels: bit n stands for level n (1..3). */
#define ALERT_LEVEL_BIT(n)   (1u << (n))
#define ALERT_LEVELS_ALL     (ALERT_LEVEL_BIT(1) | ALERT_LEVEL_BIT(2) | ALERT_LEVEL_BIT(3))
#define ALERT_LEVELS_DEFAULT ALERT_LEVEL_BIT(1)

/* What has been done for one canary: its latest incident and the last transition planned for. */
struct alert_record {
        uint64_t rollout_usec; /* started_at of the rollout whose incident it is (0: none) */
        bool open;             /* triggered and not resolved */
        uint64_t done_usec;    /* updated_at of the last transition planned for (0: none) */
};

enum alert_op {
        ALERT_TRIGGER,
        ALERT_RESOLVE,
};

struct alert_step {
        enum alert_op op;
        uint64_t rollout_usec; /* names the incident: pagerduty_dedup_key(canary, rollout_usec) */
        unsigned level;        /* trigger: the event's alert level (1..3); resolve: 0 */
};

struct alert_plan {
        struct alert_step steps[2]; /* a resolve of the previous incident first, then a trigger */
        size_t n;
};

/* The plan for notification n of the transition that produced state s, given what rec says
 * was done, and rec updated as if the plan were carried out. levels is a set of
 * ALERT_LEVEL_BIT(). A transition already planned for (s->updated_usec <= rec->done_usec) and
 * one older than since_usec (before alerting was set up: it does not page for the past, it only
 * learns the state) give an empty plan. */
void alert_plan(struct alert_record *rec, const struct rollout_state *s, enum rollout_notify n,
                unsigned levels, uint64_t since_usec, struct alert_plan *out);

/* The notification the transition that produced s sent, as far as s shows it: for a state read
 * at start-up, whose transition may have landed just before a crash cut its announcement.
 * _ROLLOUT_NOTIFY_MAX for an idle canary. */
enum rollout_notify alert_implied_notify(const struct rollout_state *s);

/* The PagerDuty severity name of an alert level: "critical" (1), "warning" (2), "info" (3);
 * NULL otherwise. */
const char *alert_severity(unsigned level);
