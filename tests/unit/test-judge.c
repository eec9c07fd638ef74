/* Reducers (R-7 percentiles, NaN-aware), the threshold and ratio judges, preprocessing inside
 * judge_metric, critical failures with critical_increase/decrease, no-data handling and how an
 * analysis's verdicts combine (with and without Kayenta's score, STATS.md §1.6). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/judge.h"

/* cmocka 1.1 has no assert_double_equal */
#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static char name_m[] = "m", g_latency[] = "latency", g_errors[] = "errors";

static struct metric_config metric(enum judge_kind judge)
{
        return (struct metric_config){
            .name = name_m,
            .judge = judge,
            .reducer = REDUCER_AVG,
            .min = NAN,
            .max = NAN,
            .max_ratio = NAN,
            .min_ratio = NAN,
            .confidence = 0.98,
            .allowed_increase = 1.0,
            .allowed_decrease = 1.0,
            .critical_increase = 1.0,
            .critical_decrease = 1.0,
            .tolerance = 0.25,
            .min_samples = 1,
            .outlier_factor = 3.0,
        };
}

static void reducers_ignore_nan_and_use_r7(void **unused)
{
        const double v[] = {4, NAN, 1, 3, 2, NAN, 5};
        assert_double_equal(reduce(REDUCER_AVG, v, 7), 3.0, 1e-12);
        assert_double_equal(reduce(REDUCER_SUM, v, 7), 15.0, 1e-12);
        assert_double_equal(reduce(REDUCER_MIN, v, 7), 1.0, 0);
        assert_double_equal(reduce(REDUCER_MAX, v, 7), 5.0, 0);
        assert_double_equal(reduce(REDUCER_LAST, v, 7), 5.0, 0);
        assert_double_equal(reduce(REDUCER_P50, v, 7), 3.0, 1e-12);
        /* numpy.percentile([1,2,3,4,5], 90) == 4.6; 99 -> 4.96 */
        assert_double_equal(reduce(REDUCER_P90, v, 7), 4.6, 1e-12);
        assert_double_equal(reduce(REDUCER_P99, v, 7), 4.96, 1e-12);
        /* numpy.percentile([10, 20], 95) == 19.5 */
        const double w[] = {20, 10};
        assert_double_equal(reduce(REDUCER_P95, w, 2), 19.5, 1e-12);
        const double none[] = {NAN, NAN};
        assert_true(isnan(reduce(REDUCER_AVG, none, 2)));
        assert_true(isnan(reduce(REDUCER_P99, none, 0)));
        assert_int_equal(count_finite(v, 7), 5);
}

static void threshold_within_and_outside(void **unused)
{
        struct metric_config m = metric(JUDGE_THRESHOLD);
        m.max = 0.01;
        const double ok[] = {0.001, 0.002, 0.003};
        const double bad[] = {0.02, 0.03};
        struct metric_report r;
        judge_metric(&m, ok, 3, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
        assert_double_equal(r.canary, 0.002, 1e-15);
        assert_non_null(strstr(r.detail, "within"));
        judge_metric(&m, bad, 2, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        assert_non_null(strstr(r.detail, "0.01"));
        m.max = NAN;
        m.min = 0.025;
        judge_metric(&m, bad, 2, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
        judge_metric(&m, ok, 3, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
}

static void no_data_follows_on_no_data(void **unused)
{
        struct metric_config m = metric(JUDGE_THRESHOLD);
        m.max = 1;
        m.min_samples = 3;
        const double two[] = {0.5, NAN, 0.5};
        struct metric_report r;
        judge_metric(&m, two, 3, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_INCONCLUSIVE);
        assert_non_null(strstr(r.detail, "no data"));
        m.on_no_data = NO_DATA_FAIL;
        judge_metric(&m, two, 3, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        m.on_no_data = NO_DATA_PASS;
        judge_metric(&m, NULL, 0, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
}

static void ratio_compares_canary_with_baseline(void **unused)
{
        struct metric_config m = metric(JUDGE_RATIO);
        m.max_ratio = 1.2;
        const double base[] = {100, 100};
        const double fine[] = {110, 110};
        const double slow[] = {160, 160};
        struct metric_report r;
        judge_metric(&m, fine, 2, base, 2, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
        judge_metric(&m, slow, 2, base, 2, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        assert_double_equal(r.baseline, 100, 0);
        judge_metric(&m, slow, 2, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_INCONCLUSIVE);
        const double zero[] = {0, 0};
        judge_metric(&m, zero, 2, zero, 2, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
        judge_metric(&m, fine, 2, zero, 2, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
}

static void preprocessing_before_judging(void **unused)
{
        struct metric_config m = metric(JUDGE_THRESHOLD);
        m.max = 10;
        const double v[] = {4, NAN, 8};
        struct metric_report r;
        judge_metric(&m, v, 3, NULL, 0, &r);
        assert_double_equal(r.canary, 6, 1e-12); /* NaN removed */
        assert_int_equal(r.n_canary, 2);
        m.nan_strategy = NAN_STRATEGY_REPLACE;
        judge_metric(&m, v, 3, NULL, 0, &r);
        assert_double_equal(r.canary, 4, 1e-12); /* NaN -> 0 */
        assert_int_equal(r.n_canary, 3);

        /* 1..20 and one 1000: the upper fence is max(p99 = 804, Q3 + 3 IQR = 46). */
        double spike[21];
        for (int i = 0; i < 20; i++)
                spike[i] = i + 1;
        spike[20] = 1000;
        m = metric(JUDGE_THRESHOLD);
        m.reducer = REDUCER_MAX;
        m.max = 100;
        judge_metric(&m, spike, 21, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        m.outliers = OUTLIERS_REMOVE;
        judge_metric(&m, spike, 21, NULL, 0, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);
        assert_double_equal(r.canary, 20, 0);
        assert_int_equal(r.outliers, 1);
}

/* A shifted canary: mean ratio about 1.15, clearly High. */
static void shifted(double *c, double *b, size_t n, double shift)
{
        for (size_t i = 0; i < n; i++) {
                b[i] = 100 + (double)((i * 37) % 61);
                c[i] = b[i] + shift + 0.001 * (double)i;
        }
}

static void critical_mann_whitney(void **unused)
{
        struct metric_config m = metric(JUDGE_MANN_WHITNEY);
        double c[30], b[30];
        struct metric_report r;

        shifted(c, b, 30, 20);
        m.critical = true;
        judge_metric(&m, c, 30, b, 30, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        assert_true(r.critical);
        assert_non_null(strstr(r.detail, "High"));
        m.critical_increase = 1.5; /* fails, but not by enough to roll back at once */
        judge_metric(&m, c, 30, b, 30, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        assert_false(r.critical);
        assert_non_null(strstr(r.detail, "below critical"));
        m.critical = false;
        m.critical_increase = 1.0;
        judge_metric(&m, c, 30, b, 30, &r);
        assert_false(r.critical);

        /* CLES as the effect size: ~0.7 here. */
        m.effect_size = EFFECT_SIZE_CLES;
        m.allowed_increase = m.critical_increase = 0.5;
        judge_metric(&m, c, 30, b, 30, &r);
        assert_int_equal(r.verdict, VERDICT_FAIL);
        assert_non_null(strstr(r.detail, "cles"));
        m.allowed_increase = 0.95;
        judge_metric(&m, c, 30, b, 30, &r);
        assert_int_equal(r.verdict, VERDICT_PASS);

        /* Too few values: on_no_data, and a critical metric keeps its flag. */
        m = metric(JUDGE_MANN_WHITNEY);
        m.min_samples = 40;
        m.critical = true;
        judge_metric(&m, c, 30, b, 30, &r);
        assert_int_equal(r.verdict, VERDICT_INCONCLUSIVE);
        assert_non_null(strstr(r.detail, "30 canary / 30 baseline points, need 40"));
}

static void combine_without_score(void **unused)
{
        struct metric_config ms[2] = {metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD)};
        struct canary_config c = {.metrics = ms, .n_metrics = 2};
        struct metric_report r[2] = {{.verdict = VERDICT_PASS}, {.verdict = VERDICT_PASS}};
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_PASS);
        r[1].verdict = VERDICT_INCONCLUSIVE;
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_INCONCLUSIVE);
        r[0].verdict = VERDICT_FAIL;
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_FAIL);
        ms[0].critical = true; /* a failure below the critical bounds is an ordinary failure */
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_FAIL);
        r[0].critical = true;
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_FAIL_CRITICAL);
        assert_int_equal(analysis_combine(&c, r, 0, NULL), ANALYSIS_INCONCLUSIVE);

        /* judge_metric sets the flag for threshold failures of critical metrics. */
        const double high[] = {5};
        ms[0].max = 1;
        judge_metric(&ms[0], high, 1, NULL, 0, &r[0]);
        assert_true(r[0].critical && r[0].verdict == VERDICT_FAIL);
        double score;
        assert_int_equal(analysis_combine(&c, r, 2, &score), ANALYSIS_FAIL_CRITICAL);
        assert_true(isnan(score));
}

static struct canary_config scored(struct metric_config *ms, size_t n, struct score_weight *w,
                                   size_t nw)
{
        return (struct canary_config){.metrics = ms,
                                      .n_metrics = n,
                                      .has_score = true,
                                      .score_pass = 95,
                                      .score_marginal = 75,
                                      .score_weights = w,
                                      .n_score_weights = nw};
}

static void combine_with_score(void **unused)
{
        struct metric_config ms[3] = {metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD),
                                      metric(JUDGE_THRESHOLD)};
        ms[0].group = g_latency;
        ms[1].group = g_latency;
        ms[2].group = g_errors;
        struct score_weight w[] = {{g_latency, 60}, {g_errors, 40}};
        struct canary_config c = scored(ms, 3, w, 2);
        struct metric_report r[3] = {
            {.verdict = VERDICT_PASS}, {.verdict = VERDICT_PASS}, {.verdict = VERDICT_PASS}};
        double score;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_PASS);
        assert_double_equal(score, 100, 1e-9);
        r[1].verdict = VERDICT_FAIL; /* loses half of latency's 60 */
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_FAIL);
        assert_double_equal(score, 70, 1e-9);
        r[1].verdict = VERDICT_PASS;
        r[2].verdict = VERDICT_FAIL; /* 60: below marginal */
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_FAIL);
        c.score_marginal = 50;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_INCONCLUSIVE);

        /* Kayenta: an inconclusive metric leaves its group's denominator; a group with no
         * judged metric counts 100. */
        c.score_marginal = 75;
        r[2].verdict = VERDICT_PASS;
        r[1].verdict = VERDICT_INCONCLUSIVE;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_PASS);
        assert_double_equal(score, 100, 1e-9);
        r[0].verdict = VERDICT_FAIL; /* latency: 0 of 1 judged */
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_FAIL);
        assert_double_equal(score, 40, 1e-9);

        /* >= 50 % of the metrics without data: score 0, inconclusive (never a failure). */
        r[0].verdict = VERDICT_PASS;
        r[2].verdict = VERDICT_INCONCLUSIVE;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_INCONCLUSIVE);
        assert_double_equal(score, 0, 0);

        /* A critical failure scores 0 and rolls back; a critical metric without data scores 0
         * and is inconclusive. */
        r[1].verdict = VERDICT_PASS;
        r[2].verdict = VERDICT_FAIL;
        r[2].critical = true;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_FAIL_CRITICAL);
        assert_double_equal(score, 0, 0);
        r[2].critical = false;
        r[2].verdict = VERDICT_INCONCLUSIVE;
        ms[2].critical = true;
        assert_int_equal(analysis_combine(&c, r, 3, &score), ANALYSIS_INCONCLUSIVE);
        assert_double_equal(score, 0, 0);
}

/* Interim looks: conclusive only when the end of the step could not change the result. */
static void combine_interim(void **unused)
{
        struct metric_config ms[2] = {metric(JUDGE_SEQUENTIAL), metric(JUDGE_MANN_WHITNEY)};
        struct canary_config c = {.metrics = ms, .n_metrics = 2};
        /* the Mann-Whitney metric is judged only at the end of the step */
        struct metric_report r[2] = {{.verdict = VERDICT_PASS}, {.verdict = VERDICT_INCONCLUSIVE}};
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);
        r[0].verdict = VERDICT_FAIL;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_FAIL);
        r[0].critical = true;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_FAIL_CRITICAL);

        /* early promotion needs every metric decided: a Mann-Whitney metric keeps it waiting */
        r[0] = (struct metric_report){.verdict = VERDICT_PASS, .inside_tolerance = true};
        c.early_promotion = true;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);
        ms[1] = metric(JUDGE_SEQUENTIAL);
        r[1] = (struct metric_report){.verdict = VERDICT_PASS, .inside_tolerance = false};
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);
        r[1].inside_tolerance = true;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_PASS);
        c.early_promotion = false;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);

        /* With score, a sequential failure rolls back at an interim look only when the score
         * would fail whatever the other metrics say at the end of the step. */
        ms[0] = metric(JUDGE_SEQUENTIAL);
        ms[1] = metric(JUDGE_MANN_WHITNEY);
        ms[0].group = g_latency;
        ms[1].group = g_errors;
        struct score_weight w[] = {{g_latency, 10}, {g_errors, 90}};
        c = scored(ms, 2, w, 2);
        r[0] = (struct metric_report){.verdict = VERDICT_FAIL};
        r[1] = (struct metric_report){.verdict = VERDICT_INCONCLUSIVE};
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE); /* <= 90 */
        w[0].weight = 50;
        w[1].weight = 50;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_FAIL); /* <= 50 */
        r[0].critical = true; /* a critical failure scores 0 */
        w[0].weight = 10;
        w[1].weight = 90;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_FAIL_CRITICAL);
        /* early promotion never skips a metric, however little it weighs */
        c.early_promotion = true;
        r[0] = (struct metric_report){.verdict = VERDICT_PASS, .inside_tolerance = true};
        c.score_pass = 5;
        c.score_marginal = 1;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);
        /* every metric sequential and decided: the score decides, a decided failure included */
        ms[1] = metric(JUDGE_SEQUENTIAL);
        ms[1].group = g_errors;
        r[0] = (struct metric_report){.verdict = VERDICT_FAIL}; /* latency, weight 10 */
        r[1] = (struct metric_report){.verdict = VERDICT_PASS, .inside_tolerance = true};
        c.score_pass = 85;
        c.score_marginal = 50;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_PASS); /* 90 */
        c.score_pass = 95;
        assert_int_equal(analysis_combine_interim(&c, r, 2), ANALYSIS_INCONCLUSIVE);
        assert_int_equal(analysis_combine_interim(&c, r, 0), ANALYSIS_INCONCLUSIVE);
}

static void score_groups_and_weights(void **unused)
{
        struct metric_config ms[4] = {metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD),
                                      metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD)};
        struct metric_report r[4] = {{.verdict = VERDICT_PASS},
                                     {.verdict = VERDICT_FAIL},
                                     {.verdict = VERDICT_PASS},
                                     {.verdict = VERDICT_PASS}};
        double score;

        /* No groups at all: one unnamed group, the share of passing metrics (3 of 4). */
        struct canary_config c = scored(ms, 4, NULL, 0);
        assert_int_equal(analysis_combine(&c, r, 4, &score), ANALYSIS_INCONCLUSIVE); /* marginal */
        assert_double_equal(score, 75, 1e-9);

        /* latency weighted 50; the unnamed group (metrics 2, 3) gets the other 50. */
        ms[0].group = g_latency;
        ms[1].group = g_latency;
        struct score_weight w[] = {{g_latency, 50}};
        c = scored(ms, 4, w, 1);
        assert_int_equal(analysis_combine(&c, r, 4, &score), ANALYSIS_INCONCLUSIVE);
        assert_double_equal(score, 75, 1e-9); /* 50 * 0.5 + 50 * 1 */

        /* Weights that do not add up to 100 are relative: latency 30, errors 30. */
        ms[2].group = g_errors;
        ms[3].group = g_errors;
        struct score_weight w2[] = {{g_latency, 30}, {g_errors, 30}};
        c = scored(ms, 4, w2, 2);
        c.score_marginal = 80;
        assert_int_equal(analysis_combine(&c, r, 4, &score), ANALYSIS_FAIL);
        assert_double_equal(score, 75, 1e-9);

        /* Rounded to 2 decimals, half up: 2 of 3 passing = 66.666... -> 66.67. */
        struct metric_config m3[3] = {metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD),
                                      metric(JUDGE_THRESHOLD)};
        struct metric_report r3[3] = {
            {.verdict = VERDICT_PASS}, {.verdict = VERDICT_PASS}, {.verdict = VERDICT_FAIL}};
        c = scored(m3, 3, NULL, 0);
        c.score_pass = 66.67;
        assert_int_equal(analysis_combine(&c, r3, 3, &score), ANALYSIS_PASS);
        assert_true(score == 66.67);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(reducers_ignore_nan_and_use_r7),
            cmocka_unit_test(threshold_within_and_outside),
            cmocka_unit_test(no_data_follows_on_no_data),
            cmocka_unit_test(ratio_compares_canary_with_baseline),
            cmocka_unit_test(preprocessing_before_judging),
            cmocka_unit_test(critical_mann_whitney),
            cmocka_unit_test(combine_without_score),
            cmocka_unit_test(combine_with_score),
            cmocka_unit_test(combine_interim),
            cmocka_unit_test(score_groups_and_weights),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
