/* analysis.c: judges a step's window from Datadog (the query scheduler, the judges, the kept
 * last analysis). */
#pragma once

#include "daemon.h"

/* Judges the step's window [window_start, window_end]; sequential metrics (SPEC §8) judge all
 * the data since the rollout started, up to window_end. interim: a look before the step's end
 * (only sequential metrics speak; see finish()). */
void analysis_start(struct canary *c, usec_t window_start, usec_t window_end, bool interim);
void analysis_cancel(struct canary *c);
void analysis_done(struct analysis *a, size_t n_metrics);
void last_analysis_done(struct last_analysis *l);
/* Keeps reports[0..n) in l (packed: only the length of each text), replacing what it held. */
void last_analysis_keep(struct last_analysis *l, const struct metric_report *reports, size_t n);
/* The kept reports as metric_reports, for the journal and Slack: an owned array of l->n, NULL
 * when l holds none. */
struct metric_report *last_analysis_reports(const struct last_analysis *l);
/* Checks the Datadog API key (GET /api/v1/validate) now and again until it is accepted; a
 * rejected key is logged and shown in STATUS=, never fatal. Call after (re)building clients. */
void analysis_check_datadog(struct daemon *d);
/* What is wrong with Datadog for STATUS= ("datadog API key rejected"), or NULL. */
const char *analysis_datadog_problem(const struct daemon *d);
/* Frees the shared request state; call after the canaries are gone. */
void analysis_sched_free(struct daemon *d);
/* The Datadog client is about to be freed: the scheduler must not reach it any more (until
 * analysis_check_datadog() gives it the next one). */
void analysis_forget_client(struct daemon *d);
