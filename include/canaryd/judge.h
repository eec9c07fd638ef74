/* Judges and reducers: a metric's canary and baseline samples -> a verdict with the raw values,
 * and an analysis's metric verdicts -> one result. Pure: no I/O, no clock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"
#include "canaryd/sequential.h"

enum verdict { VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE, _VERDICT_MAX };
const char *verdict_to_string(enum verdict v); /* "pass" | "fail" | "inconclusive" */

/* One metric's outcome, as shown in status, logs and Slack. */
struct metric_report {
        char name[64];
        enum judge_kind judge;
        double canary, baseline; /* reduced values (NAN when there were none) */
        size_t n_canary, n_baseline;
        enum verdict verdict;
        bool critical;    /* a failure of a critical metric past its critical bounds (rolls back
                           * at once); also set for a critical metric without data */
        size_t outliers;  /* values dropped by the outlier fences (canary + baseline) */
        char detail[192]; /* why: values, threshold, window */
        /* sequential only (NAN for the other judges): the e-value on all the data, the
         * anytime-valid p-value, the confidence sequence for the relative shift, and whether it
         * lies inside ±tolerance (what early_promotion waits for). */
        double e_value, p_value, ci_low, ci_high;
        bool inside_tolerance;
};

/* Reduces n samples with r, ignoring NaN. Percentiles are R-7 (NumPy's default). Returns NAN
 * when no finite sample is left. */
double reduce(enum reducer r, const double *v, size_t n);

/* Counts the non-NaN samples. */
size_t count_finite(const double *v, size_t n);

/* Judges one metric: preprocesses each arm (nan_strategy, outliers; canaryd/preprocess.h), then
 * the metric's judge, min_samples and on_no_data. Fills every field of *ret. */
void judge_metric(const struct metric_config *m, const double *canary, size_t n_canary,
                  const double *baseline, size_t n_baseline, struct metric_report *ret);
/* A sequential metric called through judge_metric() pairs canary[i] with baseline[i] (the
 * offline judge's files: line i of each is the same timestamp); a count metric needs
 * judge_metric_points() (exposure shares). */

/* Judges a metric on time series (SPEC §8: the daemon passes every point since the rollout
 * started, at every look). For `judge: sequential` the points are paired by timestamp and
 * canary_share[i] (parallel to canary[], NULL for continuous metrics) is the canary's traffic
 * share in (0, 1) at canary[i].t_ms, e.g. its weight / 100 then; alpha is the level for this
 * metric (normally m->alpha; a caller with one budget for the canary passes
 * seq_alpha_split(budget, number of sequential metrics)). Other judges ignore the timestamps,
 * canary_share and alpha and behave as judge_metric() on the values. Fills every field of
 * *ret. */
void judge_metric_points(const struct metric_config *m, double alpha,
                         const struct seq_point *canary, size_t n_canary,
                         const struct seq_point *baseline, size_t n_baseline,
                         const double *canary_share, struct metric_report *ret);

enum analysis_result {
        ANALYSIS_PASS,
        ANALYSIS_FAIL,          /* a non-critical metric failed */
        ANALYSIS_FAIL_CRITICAL, /* a critical metric failed: roll back now */
        ANALYSIS_INCONCLUSIVE,  /* too little data, or the data source kept failing */
        _ANALYSIS_RESULT_MAX
};
const char *analysis_result_to_string(enum analysis_result r);

/* Combines the metric verdicts of one analysis (reports[i] belongs to c->metrics[i]).
 * Without `score` every metric must pass: a critical failure (report.critical) is
 * ANALYSIS_FAIL_CRITICAL, else any failure fails, else any inconclusive is inconclusive.
 * With `score`, Kayenta's rules (STATS.md §1.6, docs/judges.md): a critical failure scores 0
 * (ANALYSIS_FAIL_CRITICAL); a critical metric without a verdict, or >= 50 % of the metrics
 * inconclusive, scores 0 and is inconclusive; else the group-weighted score (inconclusive
 * metrics left out of their group) is compared with pass (pass) and marginal (inconclusive;
 * below: fail). *ret_score: the score rounded to 2 decimals, NAN without score. */
enum analysis_result analysis_combine(const struct canary_config *c,
                                      const struct metric_report *reports, size_t n,
                                      double *ret_score /* may be NULL */);

/* An interim look within a step (only sequential metrics judged, the others' reports ignored):
 * conclusive only when the end of the step could not change it. A sequential metric is decided
 * by a failure, or by a pass with its confidence sequence inside ±tolerance; the others never
 * are before the step's end. ANALYSIS_FAIL(_CRITICAL) when analysis_combine() fails even with
 * every undecided metric passing (with `score`: the score is below marginal in that best case);
 * ANALYSIS_PASS, with c->early_promotion, when every metric is decided and they pass together;
 * else ANALYSIS_INCONCLUSIVE. */
enum analysis_result analysis_combine_interim(const struct canary_config *c,
                                              const struct metric_report *reports, size_t n);
