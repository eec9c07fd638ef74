/* Reducers (R-7 percentiles, NaN-aware), the threshold and ratio judges, no-data handling and
 * how an analysis's verdicts combine. */
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
            .tolerance = 0.25,
            .min_samples = 1,
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
        ms[0].critical = true;
        assert_int_equal(analysis_combine(&c, r, 2, NULL), ANALYSIS_FAIL_CRITICAL);
        assert_int_equal(analysis_combine(&c, r, 0, NULL), ANALYSIS_INCONCLUSIVE);
}

static void combine_with_score(void **unused)
{
        struct metric_config ms[3] = {metric(JUDGE_THRESHOLD), metric(JUDGE_THRESHOLD),
                                      metric(JUDGE_THRESHOLD)};
        ms[0].group = g_latency;
        ms[1].group = g_latency;
        ms[2].group = g_errors;
        struct score_weight w[] = {{g_latency, 60}, {g_errors, 40}};
        struct canary_config c = {.metrics = ms,
                                  .n_metrics = 3,
                                  .has_score = true,
                                  .score_pass = 95,
                                  .score_marginal = 75,
                                  .score_weights = w,
                                  .n_score_weights = 2};
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
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(reducers_ignore_nan_and_use_r7),
            cmocka_unit_test(threshold_within_and_outside),
            cmocka_unit_test(no_data_follows_on_no_data),
            cmocka_unit_test(ratio_compares_canary_with_baseline),
            cmocka_unit_test(combine_without_score),
            cmocka_unit_test(combine_with_score),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
