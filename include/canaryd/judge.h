/* Judges and reducers: a metric's canary and baseline samples -> a verdict with the raw values,
 * and an analysis's metric verdicts -> one result. Pure: no I/O, no clock. */
#pragma once

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
        char detail[192]; /* why: values, threshold, window */
};

/* Reduces n samples with r, ignoring NaN. Percentiles are R-7 (NumPy's default). Returns NAN
 * when no finite sample is left. */
double reduce(enum reducer r, const double *v, size_t n);

/* Counts the non-NaN samples. */
size_t count_finite(const double *v, size_t n);

/* Judges one metric. Applies min_samples and on_no_data. Fills every field of *ret. */
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

/* Combines the metric verdicts of one analysis. Without `score` every metric must pass; with it
 * the group-weighted score is compared with pass/marginal (marginal counts as inconclusive). */
enum analysis_result analysis_combine(const struct canary_config *c,
                                      const struct metric_report *reports, size_t n,
                                      double *ret_score /* may be NULL; NAN without score */);
