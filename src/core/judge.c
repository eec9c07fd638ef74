/* Judges one metric (threshold, ratio, mann_whitney) and combines an analysis's verdicts.
 * Pure. Too few samples is never a pass by accident: it follows the metric's on_no_data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/judge.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/preprocess.h"
#include "canaryd/util.h"

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

        double *sorted = xmalloc(k * sizeof(double));
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
        /* Kayenta: a critical metric without data keeps its critical flag (it zeroes a
         * score); failing it by on_no_data: fail is a critical failure. */
        ret->critical = m->critical;
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
            .critical_increase = m->critical_increase,
            .critical_decrease = m->critical_decrease,
            .tolerance = m->tolerance,
            .min_samples = m->min_samples,
            .effect_size = m->effect_size,
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
                ret->critical = m->critical && r.critical;
                break;
        case MW_NODATA:
        default: {
                char why[80];
                snprintf(why, sizeof(why), "%zu canary / %zu baseline points, need %u", r.n_canary,
                         r.n_baseline, m->min_samples ? m->min_samples : 1);
                no_data(m, ret, why);
                return;
        }
        }
        char effect[48] = "";
        if (m->effect_size == EFFECT_SIZE_CLES)
                snprintf(effect, sizeof(effect), ", cles %.3f", r.cles);
        char outliers[48] = "";
        if (ret->outliers)
                snprintf(outliers, sizeof(outliers), ", %zu outliers removed", ret->outliers);
        /* Long details are cut (192 bytes): the numbers come first, the extras last. */
        if (snprintf(
                ret->detail, sizeof(ret->detail),
                "%s%s: shift %.4g [%.4g, %.4g] at %.3g, p=%.3g, mean ratio %.4g%s, n=%zu/%zu%s",
                mw_class_to_string(r.classification),
                ret->verdict == VERDICT_FAIL && m->critical && !r.critical ? " (below critical)"
                                                                           : "",
                r.hl_estimate, r.ci_low, r.ci_high, m->confidence, r.p_value, r.mean_ratio, effect,
                r.n_canary, r.n_baseline, outliers) >= (int)sizeof(ret->detail))
                ret->detail[sizeof(ret->detail) - 1] = '\0';
}

static void seq_params_of(const struct metric_config *m, double alpha, struct seq_params *p)
{
        seq_params_default(p);
        p->direction = m->direction;
        p->kind = m->kind;
        p->alpha = alpha;
        p->tolerance = m->tolerance;
        p->min_samples = m->min_samples;
}

/* Fills the sequential fields and the verdict from a seq_judge*() result (r < 0: bad params). */
static void seq_report(const struct metric_config *m, double alpha, int r,
                       const struct seq_result *s, struct metric_report *ret)
{
        if (r < 0) {
                ret->verdict = VERDICT_INCONCLUSIVE;
                snprintf(ret->detail, sizeof(ret->detail), "sequential: invalid parameters");
                return;
        }
        ret->e_value = s->e_value;
        ret->p_value = s->p_value;
        ret->ci_low = s->ci_low;
        ret->ci_high = s->ci_high;
        ret->inside_tolerance = s->inside_tolerance;
        switch (s->classification) {
        case SEQ_PASS:
                ret->verdict = VERDICT_PASS;
                break;
        case SEQ_FAIL:
                ret->verdict = VERDICT_FAIL;
                ret->critical = m->critical;
                break;
        case SEQ_NODATA:
        case _SEQ_CLASS_MAX:
        default:
                no_data(m, ret, s->reason);
                return;
        }
        if (snprintf(ret->detail, sizeof(ret->detail),
                     "%s: shift %+.4g, CS [%.4g, %.4g] at alpha %.3g, e=%.4g, p=%.3g, tolerance "
                     "%.3g, n=%zu%s",
                     seq_class_to_string(s->classification), s->estimate, s->ci_low, s->ci_high,
                     alpha, s->e_value, s->p_value, m->tolerance, s->n,
                     s->inside_tolerance ? ", inside tolerance" : "") >= (int)sizeof(ret->detail))
                ret->detail[sizeof(ret->detail) - 1] = '\0';
}

static void judge_seq_values(const struct metric_config *m, const double *canary, size_t nc,
                             const double *baseline, size_t nb, struct metric_report *ret)
{
        struct seq_params p;
        struct seq_result s;
        seq_params_of(m, m->alpha, &p);
        if (m->kind == METRIC_KIND_COUNT) {
                no_data(m, ret, "a count metric needs the canary's traffic share per point");
                return;
        }
        int r = seq_judge_pairs(canary, baseline, NULL, nc < nb ? nc : nb, &p, &s);
        seq_report(m, m->alpha, r, &s, ret);
}

static void judge_prepared(const struct metric_config *m, const double *canary, size_t n_canary,
                           const double *baseline, size_t n_baseline, struct metric_report *ret)
{
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
                ret->critical = m->critical && ret->verdict == VERDICT_FAIL;
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
                ret->critical = m->critical && ret->verdict == VERDICT_FAIL;
                return;
        case JUDGE_MANN_WHITNEY:
                judge_mw(m, canary, n_canary, baseline, n_baseline, ret);
                return;
        case JUDGE_SEQUENTIAL:
                judge_seq_values(m, canary, n_canary, baseline, n_baseline, ret);
                return;
        case _JUDGE_KIND_MAX:
                break;
        }
        ret->verdict = VERDICT_INCONCLUSIVE;
        snprintf(ret->detail, sizeof(ret->detail), "unknown judge");
}

static void report_init(const struct metric_config *m, struct metric_report *ret)
{
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", m->name ? m->name : "");
        ret->judge = m->judge;
        ret->e_value = ret->p_value = ret->ci_low = ret->ci_high = NAN;
}

void judge_metric(const struct metric_config *m, const double *canary, size_t n_canary,
                  const double *baseline, size_t n_baseline, struct metric_report *ret)
{
        report_init(m, ret);
        if (m->judge == JUDGE_SEQUENTIAL) {
                /* Pairs are positional, so no preprocessing (dropping a value would shift every
                 * later pair); the judge skips non-finite pairs itself. */
                judge_prepared(m, canary, canary ? n_canary : 0, baseline,
                               baseline ? n_baseline : 0, ret);
                return;
        }

        const struct preprocess_params pp = {
            .nan_strategy = m->nan_strategy,
            .outliers = m->outliers,
            .outlier_factor = m->outlier_factor,
        };
        double *c = xmalloc((n_canary ? n_canary : 1) * sizeof(double));
        double *b = xmalloc((n_baseline ? n_baseline : 1) * sizeof(double));
        size_t oc = 0, ob = 0;

        n_canary = canary ? preprocess(canary, n_canary, &pp, c, &oc) : 0;
        n_baseline = baseline ? preprocess(baseline, n_baseline, &pp, b, &ob) : 0;
        ret->outliers = oc + ob;
        judge_prepared(m, c, n_canary, b, n_baseline, ret);
        free(c);
        free(b);
}

void judge_metric_points(const struct metric_config *m, double alpha,
                         const struct seq_point *canary, size_t n_canary,
                         const struct seq_point *baseline, size_t n_baseline,
                         const double *canary_share, struct metric_report *ret)
{
        if (m->judge != JUDGE_SEQUENTIAL) {
                double *c = xmalloc((n_canary ? n_canary : 1) * sizeof(double));
                double *b = xmalloc((n_baseline ? n_baseline : 1) * sizeof(double));
                for (size_t i = 0; i < n_canary; i++)
                        c[i] = canary[i].value;
                for (size_t i = 0; i < n_baseline; i++)
                        b[i] = baseline[i].value;
                judge_metric(m, c, n_canary, b, n_baseline, ret);
                free(c);
                free(b);
                return;
        }
        report_init(m, ret);
        double *cv = xmalloc((n_canary + n_baseline + 1) * sizeof(double)), *bv = cv + n_canary;
        for (size_t i = 0; i < n_canary; i++)
                cv[i] = canary[i].value;
        for (size_t i = 0; i < n_baseline; i++)
                bv[i] = baseline[i].value;
        ret->n_canary = count_finite(cv, n_canary);
        ret->n_baseline = count_finite(bv, n_baseline);
        ret->canary = reduce(m->reducer, cv, n_canary);
        ret->baseline = reduce(m->reducer, bv, n_baseline);
        free(cv);
        if (m->kind == METRIC_KIND_COUNT && !canary_share) {
                no_data(m, ret, "a count metric needs the canary's traffic share per point");
                return;
        }
        struct seq_params p;
        struct seq_result s;
        seq_params_of(m, alpha, &p);
        int r = seq_judge(canary, n_canary, baseline, n_baseline, canary_share, &p, &s);
        seq_report(m, alpha, r, &s, ret);
}

/* Kayenta's group score (STATS.md §1.6): metrics in groups (those without a group form one
 * unnamed group), a group's score is 100 * pass / (pass + fail) with inconclusive metrics left
 * out, a group without any judged metric counts 100. A group's weight is its configured weight;
 * groups without one share what is left of 100 equally. Kayenta sums weight x score / 100; we
 * divide by the total weight instead of 100, which is the same whenever the weights add up to
 * 100 and keeps the score in 0..100 when they do not (configured weights summing to 60 with no
 * unweighted group would otherwise cap every score at 60). */
static double weight_of(const struct canary_config *c, const char *group, double share)
{
        for (size_t g = 0; group && g < c->n_score_weights; g++)
                if (strcmp(c->score_weights[g].group, group) == 0)
                        return c->score_weights[g].weight;
        return share;
}

static double group_score(const struct canary_config *c, const struct metric_report *reports,
                          size_t n)
{
        const char **groups = xcalloc(n + 1, sizeof(*groups));
        double configured = 0, total_w = 0, sum = 0;
        size_t ng = 0, unweighted = 0;

        /* Distinct groups in metric order; NULL is the unnamed group. */
        for (size_t i = 0; i < n; i++) {
                const char *g = c->metrics[i].group;
                bool dup = false;
                for (size_t k = 0; k < ng && !dup; k++)
                        dup = streq_ptr(groups[k], g);
                if (!dup)
                        groups[ng++] = g;
        }
        for (size_t g = 0; g < c->n_score_weights; g++)
                configured += c->score_weights[g].weight;
        for (size_t k = 0; k < ng; k++)
                unweighted += isnan(weight_of(c, groups[k], (double)NAN));
        double share = unweighted && configured < 100 ? (100 - configured) / (double)unweighted : 0;
        for (size_t k = 0; k < ng; k++) {
                double w = weight_of(c, groups[k], share);
                size_t pass = 0, judged = 0;
                for (size_t i = 0; i < n; i++) {
                        if (!streq_ptr(c->metrics[i].group, groups[k]))
                                continue;
                        judged += reports[i].verdict != VERDICT_INCONCLUSIVE;
                        pass += reports[i].verdict == VERDICT_PASS;
                }
                sum += w * (judged ? 100.0 * (double)pass / (double)judged : 100.0);
                total_w += w;
        }
        free(groups);
        return total_w > 0 ? sum / total_w : 0;
}

enum analysis_result analysis_combine(const struct canary_config *c,
                                      const struct metric_report *reports, size_t n,
                                      double *ret_score)
{
        bool fail = false, critical_fail = false, critical_missing = false;
        size_t inconclusive = 0;

        if (ret_score)
                *ret_score = NAN;
        if (n > c->n_metrics)
                n = c->n_metrics;
        for (size_t i = 0; i < n; i++) {
                critical_fail |= reports[i].verdict == VERDICT_FAIL && reports[i].critical;
                fail |= reports[i].verdict == VERDICT_FAIL;
                if (reports[i].verdict == VERDICT_INCONCLUSIVE) {
                        inconclusive++;
                        critical_missing |= c->metrics[i].critical;
                }
        }
        if (!c->has_score) {
                if (critical_fail)
                        return ANALYSIS_FAIL_CRITICAL;
                if (n == 0)
                        return ANALYSIS_INCONCLUSIVE;
                if (fail)
                        return ANALYSIS_FAIL;
                return inconclusive ? ANALYSIS_INCONCLUSIVE : ANALYSIS_PASS;
        }

        /* Kayenta's summary score: 0 for a critical failure, or for missing data on a critical
         * metric or on half the metrics or more. Missing data is never a canary failure here
         * (SPEC §4): those zeros are inconclusive. */
        if (critical_fail) {
                if (ret_score)
                        *ret_score = 0;
                return ANALYSIS_FAIL_CRITICAL;
        }
        if (n == 0 || critical_missing || 2 * inconclusive >= n) {
                if (ret_score)
                        *ret_score = 0;
                return ANALYSIS_INCONCLUSIVE;
        }
        double score = floor(group_score(c, reports, n) * 100 + 0.5) / 100; /* half-up */
        if (ret_score)
                *ret_score = score;
        if (score >= c->score_pass)
                return ANALYSIS_PASS;
        if (score >= c->score_marginal)
                return ANALYSIS_INCONCLUSIVE;
        return ANALYSIS_FAIL;
}

/* The end of the step is the only verdict for non-sequential metrics. A sequential failure is
 * decided (its e-value crossed 1/alpha); a sequential pass only once its confidence sequence lies
 * inside ±tolerance. An interim look fails when the step would fail even with every undecided
 * metric passing, and passes early only when no metric is undecided: a metric is never skipped
 * because the others outweigh it. */
enum analysis_result analysis_combine_interim(const struct canary_config *c,
                                              const struct metric_report *reports, size_t n)
{
        bool undecided = false;

        if (n > c->n_metrics)
                n = c->n_metrics;
        if (n == 0)
                return ANALYSIS_INCONCLUSIVE;
        struct metric_report *best = xcalloc(n, sizeof(*best));
        for (size_t i = 0; i < n; i++) {
                best[i] = reports[i];
                if (c->metrics[i].judge == JUDGE_SEQUENTIAL &&
                    (reports[i].verdict == VERDICT_FAIL ||
                     (reports[i].verdict == VERDICT_PASS && reports[i].inside_tolerance)))
                        continue;
                undecided = true;
                best[i].verdict = VERDICT_PASS;
                best[i].critical = false;
        }
        enum analysis_result r = analysis_combine(c, best, n, NULL);
        free(best);
        if (r == ANALYSIS_FAIL || r == ANALYSIS_FAIL_CRITICAL)
                return r;
        return c->early_promotion && !undecided && r == ANALYSIS_PASS ? ANALYSIS_PASS
                                                                      : ANALYSIS_INCONCLUSIVE;
}
