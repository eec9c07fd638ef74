/* analysis.c: judges one window of a canary configuration's metrics from Datadog, through the
 * query scheduler, and hands the verdict back through a callback; and the last analysis a
 * canary keeps, packed. It knows configurations, windows and callbacks, not canaries or the
 * daemon: the driver owns each canary's struct analysis and gives the callbacks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/util.h"

struct datadog_client;
struct datadog_job;
struct analysis_sched;

/* One metric's samples while an analysis runs. */
struct metric_samples {
        double *canary, *baseline;       /* owned */
        double *canary_ts, *baseline_ts; /* owned: each value's timestamp (ms) */
        size_t n_canary, n_baseline;
        char *error; /* owned: why the data source failed, NULL if it did not */
};

/* One analysis under way (embedded in its owner; zeroed = not running). */
struct analysis {
        const struct canary_config *cfg; /* borrowed while running: metrics and scopes */
        struct analysis_sched *sched;    /* the one it was started on */
        void *userdata;                  /* the owner's, given to every callback */
        struct metric_samples *samples;  /* owned: one per metric */
        struct datadog_job *job;         /* its queries, while the scheduler holds them */
        usec_t window_start_usec, window_end_usec;
        usec_t points_from_usec; /* the judged window's start: window_start_usec, or later when
                                    the step's weight reached the cluster later */
        usec_t query_from_usec;  /* what was asked of Datadog: the rollout's start when a
                                    sequential metric needs it, else points_from_usec */
        usec_t started_mono;     /* CLOCK_MONOTONIC, when started: its duration for /metrics */
        unsigned step;           /* the step it belongs to; a result for another step is stale */
        bool running;
        bool interim; /* a look before the step's end */
};

/* What an analysis found; everything is borrowed for the done callback. */
struct analysis_outcome {
        enum analysis_result result;
        const struct metric_report *reports; /* one per metric of the configuration */
        size_t n_reports;
        const char *why; /* the failed metrics, critical ones first: "name (detail); ..." or "" */
        unsigned step;   /* as given to analysis_start() */
        usec_t window_start_usec, window_end_usec;
        bool interim;
};

/* How an analysis reaches its owner (userdata: as given to analysis_start()). */
struct analysis_callbacks {
        /* The verdict of an analysis that was not cancelled, exactly once: from the query
         * scheduler's deferred event source, or from inside analysis_start() when nothing can
         * be queried (no metrics; no memory for the job). It may start and cancel analyses. */
        void (*done)(void *userdata, const struct analysis_outcome *o);
        /* A line for the owner's log; fields: NULL-terminated "KEY=value" strings, or NULL. */
        void (*log)(void *userdata, int priority, const char *const *fields, const char *message);
        /* The canary's weight (0..100) at time t, or -1 when unknown: the traffic share of each
         * point of a sequential metric. */
        int (*weight_at)(void *userdata, usec_t t);
};

/* The analyses' shared Datadog requests (io/datadog-sched.c) and their callbacks (copied). */
int analysis_sched_new(sd_event *event, const struct analysis_callbacks *cb,
                       struct analysis_sched **ret);
/* Analyses still running are answered no more. NULL-safe; returns NULL. */
struct analysis_sched *analysis_sched_free(struct analysis_sched *s);
/* Datadog's X-RateLimit-Remaining as last seen (-1: not yet), for /metrics. */
long analysis_sched_ratelimit_remaining(const struct analysis_sched *s);
/* The Datadog query scheduler inside s (borrowed, lives as long as s), for the requests that
 * share its pacing (dd-events.c). */
struct datadog_sched *analysis_sched_queries(struct analysis_sched *s);
/* The client the queries go through (borrowed; NULL before it is freed: every query then
 * fails, inconclusive) and how many canaries make one round of the rate-limit budget. */
void analysis_sched_set_client(struct analysis_sched *s, struct datadog_client *client,
                               size_t n_canaries);

/* Judges cfg's metrics over [window_start, window_end] for step `step`; sequential metrics
 * (SPEC §8) judge all the data since rollout_started (0: unknown), up to window_end. live_from
 * (0: unknown): when the step's weight was known to be in the cluster; the other metrics judge
 * no point before it, and a window that ends before it is no data. interim: a look before the
 * step's end, where only sequential metrics speak. cfg must outlive the analysis. A no-op while
 * a is running: one analysis per owner at a time. The outcome names the window as given: its
 * start is the step's identity. */
void analysis_start(struct analysis_sched *s, struct analysis *a, const struct canary_config *cfg,
                    unsigned step, usec_t rollout_started, usec_t window_start, usec_t live_from,
                    usec_t window_end, bool interim, void *userdata);
/* Forgets a running analysis: its done callback will not run. NULL-safe when not running. */
void analysis_cancel(struct analysis *a);

/* One metric of the last analysis, as status and the next Slack message show it: a
 * metric_report without its fixed-size text (352 bytes; every canary keeps one per metric). */
struct last_report {
        double canary, baseline, e_value, p_value, ci_low, ci_high;
        size_t n_canary, n_baseline, outliers;
        enum judge_kind judge;
        enum verdict verdict;
        bool critical, inside_tolerance;
        const char *name, *detail; /* inside the same allocation as the array */
};

struct last_analysis {
        bool valid;
        usec_t at_usec;
        usec_t window_start_usec, window_end_usec;
        enum analysis_result result;
        struct last_report *reports; /* owned: n entries, then their texts, in one allocation */
        size_t n;
};

void last_analysis_done(struct last_analysis *l);
/* Keeps reports[0..n) in l (packed: only the length of each text), replacing what it held. */
void last_analysis_keep(struct last_analysis *l, const struct metric_report *reports, size_t n);
/* The kept reports as metric_reports, for the journal and Slack: an owned array of l->n, NULL
 * when l holds none. */
struct metric_report *last_analysis_reports(const struct last_analysis *l);
