/* Judges one metric (threshold, ratio, mann_whitney) and combines an analysis's verdicts.
 * Pure. Too few samples is never a pass by accident: it follows the metric's on_no_data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/judge.h"
#include "canaryd/mannwhitney.h"

static const char *const verdict_names[_VERDICT_MAX] = {
    [VERDICT_PASS] = "pass",
    [VERDICT_FAIL] = "fail",
    [VERDICT_INCONCLUSIVE] = "inconclusive",
};

static const char *const analysis_names[_ANALYSIS_RESULT_MAX] = {
    [ANALYSIS_PASS] = "pass",
    [ANALYSIS_FAIL] = "fail",
    [ANALYSIS_FAIL_CRITICAL] = "fail",
    [ANALYSIS_INCONCLUSIVE] = "inconclusive",
};

const char *verdict_to_string(enum verdict v)
{
        return (unsigned)v < _VERDICT_MAX ? verdict_names[v] : NULL;
}

const char *analysis_result_to_string(enum analysis_result r)
{
        return (unsigned)r < _ANALYSIS_RESULT_MAX ? analysis_names[r] : NULL;
}

size_t count_finite(const double *v, size_t n)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i]))
                        k++;
        return k;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* h = (n - 1) p, linear interpolation between the order statistics around h. */
static double percentile_r7(const double *sorted, size_t n, double p)
{
        double h = (double)(n - 1) * p;
        size_t lo = (size_t)floor(h);
        size_t hi = lo + 1 < n ? lo + 1 : lo;
        return sorted[lo] + (h - (double)lo) * (sorted[hi] - sorted[lo]);
}

double reduce(enum reducer r, const double *v, size_t n)
{
        size_t k = count_finite(v, n);
        if (k == 0)
                return NAN;

        double acc = 0, last = NAN, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
                if (isnan(v[i]))
                        continue;
                acc += v[i];
                last = v[i];
                lo = fmin(lo, v[i]);
                hi = fmax(hi, v[i]);
        }

        double p;
        switch (r) {
        case REDUCER_AVG:
                return acc / (double)k;
        case REDUCER_SUM:
                return acc;
        case REDUCER_LAST:
                return last;
        case REDUCER_MIN:
                return lo;
        case REDUCER_MAX:
                return hi;
        case REDUCER_P50:
                p = 0.50;
                break;
        case REDUCER_P90:
                p = 0.90;
                break;
        case REDUCER_P95:
                p = 0.95;
                break;
        case REDUCER_P99:
                p = 0.99;
                break;
        case _REDUCER_MAX:
        default:
                return NAN;
        }

        double *sorted = malloc(k * sizeof(double));
        if (!sorted)
                return NAN;
        size_t j = 0;
        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i]))
                        sorted[j++] = v[i];
        qsort(sorted, k, sizeof(double), cmp_double);
        double x = percentile_r7(sorted, k, p);
        free(sorted);
        return x;
}

static void no_data(const struct metric_config *m, struct metric_report *ret, const char *why)
{
        switch (m->on_no_data) {
        case NO_DATA_PASS:
                ret->verdict = VERDICT_PASS;
                break;
        case NO_DATA_FAIL:
                ret->verdict = VERDICT_FAIL;
                break;
        case NO_DATA_INCONCLUSIVE:
        case _NO_DATA_MAX:
        default:
                ret->verdict = VERDICT_INCONCLUSIVE;
                break;
        }
        snprintf(ret->detail, sizeof(ret->detail), "no data: %s (on_no_data %s)", why,
                 on_no_data_to_string(m->on_no_data));
}

static void judge_threshold(const struct metric_config *m, struct metric_report *ret)
{
        double x = ret->canary;
        bool low = !isnan(m->min) && x < m->min;
        bool high = !isnan(m->max) && x > m->max;
        ret->verdict = low || high ? VERDICT_FAIL : VERDICT_PASS;
        char lo[32] = "-inf", hi[32] = "+inf";
        if (!isnan(m->min))
                snprintf(lo, sizeof(lo), "%.6g", m->min);
        if (!isnan(m->max))
                snprintf(hi, sizeof(hi), "%.6g", m->max);
        snprintf(ret->detail, sizeof(ret->detail), "%s(canary)=%.6g %s [%s, %s]",
                 reducer_to_string(m->reducer), x, low || high ? "outside" : "within", lo, hi);
}

static void judge_ratio(const struct metric_config *m, struct metric_report *ret)
{
        if (isnan(ret->baseline)) {
                ret->verdict = VERDICT_INCONCLUSIVE;
                snprintf(ret->detail, sizeof(ret->detail), "no baseline value");
                return;
        }
        if (ret->baseline == 0) {
                /* x/0: equal when both are 0, otherwise an unbounded increase. */
                double r = ret->canary == 0
                               ? 1.0
                               : (ret->canary > 0 ? (double)INFINITY : -(double)INFINITY);
                bool bad = (!isnan(m->max_ratio) && r > m->max_ratio) ||
                           (!isnan(m->min_ratio) && r < m->min_ratio);
                ret->verdict = bad ? VERDICT_FAIL : VERDICT_PASS;
                snprintf(ret->detail, sizeof(ret->detail), "baseline is 0, canary %.6g: ratio %g",
                         ret->canary, r);
                return;
        }
        double r = ret->canary / ret->baseline;
        bool high = !isnan(m->max_ratio) && r > m->max_ratio;
        bool low = !isnan(m->min_ratio) && r < m->min_ratio;
        ret->verdict = high || low ? VERDICT_FAIL : VERDICT_PASS;
        char bound[64] = "";
        if (!isnan(m->max_ratio))
                snprintf(bound, sizeof(bound), "<= %.4g", m->max_ratio);
        else
                snprintf(bound, sizeof(bound), ">= %.4g", m->min_ratio);
        snprintf(ret->detail, sizeof(ret->detail), "%s ratio %.4g (%.6g / %.6g), must be %s",
                 reducer_to_string(m->reducer), r, ret->canary, ret->baseline, bound);
}

static void judge_mw(const struct metric_config *m, const double *canary, size_t nc,
                     const double *baseline, size_t nb, struct metric_report *ret)
{
        struct mw_params p = {
            .confidence = m->confidence,
            .direction = m->direction,
            .allowed_increase = m->allowed_increase,
            .allowed_decrease = m->allowed_decrease,
            .tolerance = m->tolerance,
            .min_samples = m->min_samples,
        };
        struct mw_result r;
        if (mann_whitney(canary, nc, baseline, nb, &p, &r) < 0) {
                ret->verdict = VERDICT_INCONCLUSIVE;
                snprintf(ret->detail, sizeof(ret->detail), "mann_whitney: invalid input");
                return;
        }
        switch (r.classification) {
        case MW_PASS:
                ret->verdict = VERDICT_PASS;
                break;
        case MW_HIGH:
        case MW_LOW:
                ret->verdict = VERDICT_FAIL;
                break;
        case MW_NODATA:
        default:
                no_data(m, ret, "too few samples");
                return;
        }
        snprintf(ret->detail, sizeof(ret->detail),
                 "%s: shift %.4g [%.4g, %.4g] at %.2g, p=%.3g, mean ratio %.4g, n=%zu/%zu",
                 mw_class_to_string(r.classification), r.hl_estimate, r.ci_low, r.ci_high,
                 m->confidence, r.p_value, r.mean_ratio, r.n_canary, r.n_baseline);
}

void judge_metric(const struct metric_config *m, const double *canary, size_t n_canary,
                  const double *baseline, size_t n_baseline, struct metric_report *ret)
{
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", m->name ? m->name : "");
        ret->judge = m->judge;
        ret->n_canary = count_finite(canary, n_canary);
        ret->n_baseline = count_finite(baseline, n_baseline);
        ret->canary = reduce(m->reducer, canary, n_canary);
        ret->baseline = reduce(m->reducer, baseline, n_baseline);

        size_t need = m->min_samples ? m->min_samples : 1;
        switch (m->judge) {
        case JUDGE_THRESHOLD:
                if (ret->n_canary < need) {
                        char why[64];
                        snprintf(why, sizeof(why), "%zu canary points, need %zu", ret->n_canary,
                                 need);
                        no_data(m, ret, why);
                        return;
                }
                judge_threshold(m, ret);
                return;
        case JUDGE_RATIO:
                if (ret->n_canary < need || ret->n_baseline < need) {
                        char why[80];
                        snprintf(why, sizeof(why), "%zu canary / %zu baseline points, need %zu",
                                 ret->n_canary, ret->n_baseline, need);
                        no_data(m, ret, why);
                        return;
                }
                judge_ratio(m, ret);
                return;
        case JUDGE_MANN_WHITNEY:
                judge_mw(m, canary, n_canary, baseline, n_baseline, ret);
                return;
        case _JUDGE_KIND_MAX:
                break;
        }
        ret->verdict = VERDICT_INCONCLUSIVE;
        snprintf(ret->detail, sizeof(ret->detail), "unknown judge");
}

static double group_weight(const struct canary_config *c, const char *group)
{
        for (size_t i = 0; i < c->n_score_weights; i++)
                if (group && strcmp(c->score_weights[i].group, group) == 0)
                        return c->score_weights[i].weight;
        return 0;
}

enum analysis_result analysis_combine(const struct canary_config *c,
                                      const struct metric_report *reports, size_t n,
                                      double *ret_score)
{
        bool fail = false, inconclusive = false;

        if (ret_score)
                *ret_score = NAN;
        for (size_t i = 0; i < n; i++) {
                if (reports[i].verdict == VERDICT_FAIL && c->metrics[i].critical)
                        return ANALYSIS_FAIL_CRITICAL;
                fail |= reports[i].verdict == VERDICT_FAIL;
                inconclusive |= reports[i].verdict == VERDICT_INCONCLUSIVE;
        }
        if (n == 0)
                return ANALYSIS_INCONCLUSIVE;
        if (!c->has_score) {
                if (fail)
                        return ANALYSIS_FAIL;
                return inconclusive ? ANALYSIS_INCONCLUSIVE : ANALYSIS_PASS;
        }
        /* Kayenta-style: a group's score is its share of passing metrics; the canary's score is
         * the weighted mean of the group scores. Metrics without a group form one group of their
         * own per metric with the weight left over, shared equally. Inconclusive metrics keep
         * the analysis inconclusive: a score is never computed on missing data. */
        if (inconclusive)
                return ANALYSIS_INCONCLUSIVE;
        double named_w = 0;
        size_t ungrouped = 0;
        for (size_t g = 0; g < c->n_score_weights; g++)
                named_w += c->score_weights[g].weight;
        for (size_t i = 0; i < n; i++)
                if (group_weight(c, c->metrics[i].group) == 0)
                        ungrouped++;
        double rest = named_w < 100 ? 100 - named_w : 0;
        double total_w = 0, score = 0;
        for (size_t i = 0; i < n; i++) {
                const char *g = c->metrics[i].group;
                double w = group_weight(c, g);
                if (w > 0) {
                        size_t members = 0; /* the group's weight is shared by its metrics */
                        for (size_t j = 0; j < n; j++)
                                members += streq_ptr(c->metrics[j].group, g);
                        w /= (double)members;
                } else {
                        w = rest / (double)ungrouped;
                }
                total_w += w;
                if (reports[i].verdict == VERDICT_PASS)
                        score += w;
        }
        score = total_w > 0 ? 100 * score / total_w : 0;
        if (ret_score)
                *ret_score = score;
        if (score >= c->score_pass)
                return ANALYSIS_PASS;
        if (score >= c->score_marginal)
                return ANALYSIS_INCONCLUSIVE;
        return ANALYSIS_FAIL;
}
