/* Mann-Whitney rank-sum test with the Hodges-Lehmann shift estimate and interval, as R's
 * wilcox.test(canary, baseline, conf.int = TRUE) computes them, and Kayenta's classification
 * (NetflixACAJudge) on top. Pure: libc and libm; allocates only the sorted copies of the samples
 * (and the exact null distribution for small samples). See docs/judges.md for the
 * statistics. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/config.h"

enum mw_class { MW_PASS, MW_HIGH, MW_LOW, MW_NODATA, _MW_CLASS_MAX };

/* "Pass" "High" "Low" "NoData"; NULL for out-of-range values. */
const char *mw_class_to_string(enum mw_class c);

/* Alternative hypothesis for p_value and the interval (R's `alternative`). The judge is
 * two-sided; the one-sided forms exist for completeness and testing. */
enum mw_alternative { MW_TWO_SIDED, MW_GREATER, MW_LESS, _MW_ALTERNATIVE_MAX };

/* Which null distribution (R's `exact`). AUTO is R's default: exact when both samples have
 * fewer than 50 values and there are no ties, else the normal approximation. */
enum mw_method { MW_METHOD_AUTO, MW_METHOD_ASYMPTOTIC, _MW_METHOD_MAX };

/* A mann_whitney metric's defaults (SPEC §3, Kayenta's): the config and `canaryctl judge` use
 * them both. */
#define MW_DEFAULT_CONFIDENCE 0.98
#define MW_DEFAULT_ALLOWED    1.0 /* allowed_increase, allowed_decrease */
#define MW_DEFAULT_TOLERANCE  0.25

/* Zero-initialised fields other than confidence give R's defaults and Kayenta's rule with
 * tolerance 0 and allowed ratios 0; callers normally set every field (mw_params_default()). */
struct mw_params {
        double confidence;        /* interval level, in (0, 1), e.g. 0.98 (Kayenta) */
        enum direction direction; /* which change is a regression: increase | decrease | either */
        double allowed_increase;  /* High needs effect >= this (or an undefined effect) */
        double allowed_decrease;  /* Low needs effect <= this (or an undefined effect) */
        double critical_increase; /* a High is critical when effect >= this (or undefined) */
        double critical_decrease; /* a Low is critical when effect <= this (or undefined) */
        double tolerance;         /* interval must clear tolerance * |hl_estimate|, >= 0 */
        size_t min_samples;       /* fewer values (after NaN removal) on a side = NoData; 0 = 1 */
        enum effect_size effect_size;    /* default (0) mean_ratio; or cles */
        enum mw_alternative alternative; /* default (0) two-sided */
        enum mw_method method;           /* default (0) R's choice */
};

/* *p = the defaults above, direction either, critical bounds at the allowed ones, at least
 * one value per arm. */
void mw_params_default(struct mw_params *p);

struct mw_result {
        size_t n_canary, n_baseline; /* values left after removing NaN */
        double u;                    /* Mann-Whitney U of the canary sample (R's W) */
        double p_value;              /* NaN when every value is tied or a side is empty */
        double hl_estimate;          /* median of canary_i - baseline_j */
        double ci_low, ci_high;      /* order statistics of those differences (see judges.md) */
        double mean_ratio;           /* mean(canary) / mean(baseline); NaN if either mean is 0 */
        double cles;                 /* P(canary > baseline) + P(equal) / 2 = u / (n m) */
        double effect;               /* mean_ratio or cles, as p->effect_size chose */
        bool exact;                  /* exact null distribution used (else normal approximation) */
        bool critical;               /* High/Low with the effect past critical_increase/decrease */
        enum mw_class classification;
};

/* "mean_ratio" | "cles"; NULL for out-of-range values. */
const char *effect_size_to_string(enum effect_size e);

/* Runs the test on canary (x) against baseline (y). NaN values are removed first; +-Inf are
 * ranked as the largest/smallest values. Samples may be NULL when their length is 0. When a
 * side has no values every number in *ret is NaN (u too) and the class is NoData; with at least
 * one value on each side the numbers are always computed, even when the class is NoData because
 * of min_samples. Time O(N log N) for N = nc + nb values (never O(nc * nb)), memory O(N).
 * Returns 0 and fills *ret, -EINVAL for bad parameters (confidence outside (0, 1), a NaN or
 * negative tolerance, NaN allowed or critical bounds, unknown enum values, NULL pointers), or
 * -E2BIG when nc * nb exceeds 2^53 (U would no longer be exact). */
int mann_whitney(const double *canary, size_t nc, const double *baseline, size_t nb,
                 const struct mw_params *p, struct mw_result *ret);

/* The k-th smallest (1-based, 1 <= k <= n*m) of the n*m differences x_i - y_j, where x and y are
 * sorted ascending and hold no NaN; equal infinities differ by 0. Exactly the value a sorted
 * array of the computed differences would hold at that rank, found without building it:
 * sampled pivots narrow a window per row of the sorted difference matrix (STATS.md §3.3), each
 * round one O(n + m) staircase count, until the few candidates left are collected and selected.
 * Deterministic (fixed pseudo-random seed); O((n + m) log(nm)) expected time, O(n + m) memory.
 * NAN for bad arguments. Exposed for tests and the benchmark. */
double mw_diff_select(const double *x, size_t n, const double *y, size_t m, uint64_t k);

/* The same by bisection over the ordered doubles (at most 64 staircase counts): the simple
 * reference the fast selection is tested against. */
double mw_diff_select_bisect(const double *x, size_t n, const double *y, size_t m, uint64_t k);
