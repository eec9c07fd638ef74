/* What /metrics counts beyond the canaries' state (metrics.c renders it). No daemon types. */
#pragma once

#include <stdint.h>

#include "canaryd/judge.h"
#include "canaryd/kube.h"
#include "canaryd/tally.h"

/* How rollouts ended, for canaryd_rollouts_total{outcome} (metrics.c). */
enum rollout_outcome { OUTCOME_PROMOTED, OUTCOME_ROLLED_BACK, OUTCOME_ABORTED, _OUTCOME_MAX };

/* A canary's counters for /metrics, in d->counts (canary i's at i) only when the HTTP endpoint
 * runs: nobody can read them otherwise, and 10,000 canaries would carry them for nothing.
 * Carried over a reload by name (main.c). An analysis a minute wraps 32 bits after 8,000
 * years. */
struct canary_counts {
        uint32_t analyses[_ANALYSIS_RESULT_MAX];
        uint32_t rollouts[_OUTCOME_MAX];
};

/* What /metrics shows beyond the canaries' state: counted as long as the daemon runs, across
 * reloads (the clients, rebuilt at a reload, count into it). */
struct daemon_metrics {
        struct status_tally datadog;
        struct kube_tally kube;
        uint64_t slack_sent, slack_coalesced, slack_dropped; /* of the clients freed so far */
        uint64_t datadog_events[3];         /* dd-events.c: sent, failed, dropped */
        uint64_t pagerduty_events[2];       /* pager.c: accepted, failed (refused, given up) */
        struct histogram analysis_duration; /* seconds, start to verdict */
        struct histogram decision_lag;      /* seconds, step due to weight written */
};
