/* Judges and reducers: a metric's canary and baseline samples -> a verdict with the raw values,
 * and an analysis's metric verdicts -> one result. Pure: no I/O, no clock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"

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
