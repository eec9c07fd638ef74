/* The sequential judge (SPEC §8): an anytime-valid test of "the canary is worse than the baseline
 * by more than a relative tolerance" on two time series, valid however often it is looked at and
 * on autocorrelated series, plus a confidence sequence for the relative shift. Statistics and the
 * reasons for each choice: docs/judges.md ("sequential").
 *
 * Pure: libc and libm, no clock, no globals. seq_judge() allocates scratch memory for the
 * pairing (O(n)) and frees it before returning; nothing it returns needs freeing.
 *
 * Deterministic: the result is a function of the points given (the whole history since the
 * rollout started), so a caller that restarts and passes the same history gets the same
 * verdict. Fail the metric at the first look where e_value >= 1/alpha: by Ville's inequality a
 * healthy canary gets there with probability <= alpha however many looks are taken. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"

/* One point of a time series: timestamp in milliseconds since the epoch and its value. */
struct seq_point {
        double t_ms;
        double value;
};

enum seq_class { SEQ_NODATA, SEQ_PASS, SEQ_FAIL, _SEQ_CLASS_MAX };
const char *seq_class_to_string(enum seq_class c); /* "NoData" | "Pass" | "Fail" */

#define SEQ_DEFAULT_ALPHA       0.01
#define SEQ_DEFAULT_TOLERANCE   0.02
#define SEQ_DEFAULT_MIN_SAMPLES 10U
#define SEQ_DEFAULT_PRIOR_G     2.0   /* continuous: prior variance of the standardised effect */
#define SEQ_DEFAULT_PRIOR_K     100.0 /* count: Dirichlet concentration (STATS.md §4.4) */

struct seq_params {
        enum direction direction; /* which change is a regression */
        enum metric_kind kind;    /* continuous values, or per-timestamp event counts */
        /* Level for THIS metric: the chance that a healthy canary is ever failed by it. A caller
         * holding one budget for the whole canary divides it first (seq_alpha_split()). In (0, 1).
         */
        double alpha;
        double tolerance; /* relative shifts within ±tolerance are not regressions; in [0, 1) */
        unsigned min_samples; /* fewer pairs than this: SEQ_NODATA (0 counts as 1) */
        double prior_g;       /* continuous; 0 = SEQ_DEFAULT_PRIOR_G */
        double prior_k;       /* count; 0 = SEQ_DEFAULT_PRIOR_K */
};

/* Fills *p with the defaults of a `judge: sequential` metric (SPEC §8). */
void seq_params_default(struct seq_params *p);

/* Bonferroni: the per-metric level when one canary-wide budget alpha is shared by n_metrics
 * sequential metrics (alpha / n_metrics; alpha itself for n_metrics <= 1). */
double seq_alpha_split(double alpha, size_t n_metrics);

struct seq_result {
        size_t n;               /* pairs judged */
        double e_value;         /* the e-process for the regression null on all the pairs */
        double p_value;         /* anytime-valid p-value: min(1, 1 / e_value) */
        double estimate;        /* relative shift of the canary (0.1 = canary 10 % higher) */
        double ci_low, ci_high; /* confidence sequence at level 1 - alpha for the relative shift;
                                 * -Inf (count: -1) or +Inf when the data cannot bound it */
        double autocorrelation; /* continuous: lag-1 autocorrelation used (NaN for count) */
        double n_effective;     /* continuous: pairs' worth of independent data; count: events */
        bool inside_tolerance;  /* ci_low > -tolerance and ci_high < +tolerance */
        enum seq_class classification; /* Fail when e_value >= 1/alpha; NoData under min_samples */
        char reason[96];               /* why NoData, else empty */
};

/* Judges two time series. Points are paired by equal timestamps (the order of the arrays does
 * not matter; a timestamp present in one arm only, or with a non-finite value, is skipped; a
 * timestamp repeated within an arm uses its first occurrence).
 * continuous: canary_share may be NULL. If given (parallel to canary[], any values), runs of
 *   pairs with equal share are segments, e.g. the steps of a rollout: the autocorrelation and
 *   the variance are fitted around each segment's own mean, so a shift that appears at a later
 *   weight is judged as a shift rather than absorbed as autocorrelation. The test statistic is
 *   the mean over all pairs either way.
 * count: values are event counts per timestamp (>= 0) and canary_share[i] (parallel to canary[],
 *   in (0, 1)) is the canary's share of the traffic at canary[i].t_ms, e.g. its route weight / 100
 *   at that time; a pair whose share is outside (0, 1) carries no information and is skipped.
 *   canary_share NULL with kind count: -EINVAL.
 * Returns 0 and fills every field of *ret, or -EINVAL for invalid params (then *ret untouched). */
int seq_judge(const struct seq_point *canary, size_t n_canary, const struct seq_point *baseline,
              size_t n_baseline, const double *canary_share, const struct seq_params *p,
              struct seq_result *ret);

/* The same on series already paired in time order: canary[i], baseline[i] (and share[i] for
 * count) belong to the same timestamp. Non-finite values skip the pair. */
int seq_judge_pairs(const double *canary, const double *baseline, const double *share, size_t n,
                    const struct seq_params *p, struct seq_result *ret);

/* Building blocks, exposed for tests (STATS.md §4.4, §4.6, §4.7). */

/* ln E of the Dirichlet-multinomial count e-value with two arms: prior Dirichlet(k rho_c,
 * k (1 - rho_c)), n_c canary and n_b baseline events, canary exposure share rho_c in (0, 1). */
double seq_count_log_e_closed(double n_c, double n_b, double rho_c, double k);

/* ln E of the count mixture this judge uses, on n per-timestamp pairs (n_c[i], n_b[i], share
 * rho[i]): the product of the per-timestamp binomial likelihood ratios of the log rate ratio
 * eta against the null eta0, mixed over eta - eta0 with the image of the Beta(k theta0,
 * k (1 - theta0)) prior of the canary's event share at exposure rho_ref (theta0 its share under
 * the null). side: 0 = whole prior (two-sided), +1 = eta > eta0 only, -1 = eta < eta0 only. With
 * constant rho = rho_ref and eta0 = 0 this is seq_count_log_e_closed() (two-sided). */
double seq_count_log_e(const double *n_c, const double *n_b, const double *rho, size_t n,
                       double eta0, double rho_ref, double k, int side);

/* The mSPRT mixture likelihood ratio of STATS.md §4.6 (normal estimate delta_hat with variance v,
 * N(theta0, tau2) mixture). */
double seq_msprt(double delta_hat, double v, double tau2, double theta0);

/* ln of the scale-invariant (t-test) Bayes factor with a N(0, g) prior on the standardised
 * effect: n observations' worth of data, nu degrees of freedom, t statistic (may be +-Inf). */
double seq_t_log_bf(double t, double n, double nu, double g);
