/* Tests for src/core/preprocess.c: R-7 percentiles (values from R's quantile(type = 7) and
 * NumPy's percentile), Kayenta's reduced-sensitivity IQR fences, NaN remove/replace, and the
 * edge cases (empty, one value, infinities). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/preprocess.h"

#define assert_close(a, b)                                                                         \
        assert_true(fabs((double)(a) - (double)(b)) <= 1e-12 * fmax(1, fabs((double)(b))))

static void percentiles_r7(void **unused)
{
        const double v[] = {1, 2, 3, 4, 5};
        assert_close(percentile_r7(v, 5, 0.9), 4.6);   /* numpy.percentile(.., 90) */
        assert_close(percentile_r7(v, 5, 0.99), 4.96); /* R quantile(.., 0.99) */
        assert_close(percentile_r7(v, 5, 0.25), 2);
        assert_true(percentile_r7(v, 5, 0) == 1 && percentile_r7(v, 5, 1) == 5);
        const double one[] = {7};
        assert_true(percentile_r7(one, 1, 0.37) == 7);
        const double w[] = {10, 20};
        assert_close(percentile_r7(w, 2, 0.95), 19.5);
        assert_true(isnan(percentile_r7(v, 0, 0.5)));
        assert_true(isnan(percentile_r7(v, 5, 1.5)));
        assert_true(isnan(percentile_r7(v, 5, (double)NAN)));
        /* Equal neighbours give the value itself, also infinities. */
        const double inf[] = {1, HUGE_VAL, HUGE_VAL};
        assert_true(percentile_r7(inf, 3, 0.75) == HUGE_VAL);
        assert_true(percentile_r7(inf, 3, 0.25) == HUGE_VAL);
        const double both[] = {-HUGE_VAL, HUGE_VAL};
        assert_true(isnan(percentile_r7(both, 2, 0.5)));
}

static void fences_reduced_sensitivity(void **unused)
{
        double v[21], lo, hi;
        for (int i = 0; i < 20; i++)
                v[i] = i + 1;
        v[20] = 1000;
        /* p1 = 1.2, Q1 = 6, Q3 = 16, p99 = 20 + 0.8 * 980 = 804, IQR = 10. */
        outlier_fences(v, 21, 3.0, &lo, &hi);
        assert_close(lo, -24); /* min(1.2, 6 - 30) */
        assert_close(hi, 804); /* max(804, 16 + 30): at most ~1 % per tail goes */
        outlier_fences(v, 21, 0.0, &lo, &hi);
        assert_close(lo, 1.2);
        assert_close(hi, 804);
        outlier_fences(v, 0, 3.0, &lo, &hi);
        assert_true(lo == -HUGE_VAL && hi == HUGE_VAL);
        const double nan_only[] = {NAN, NAN};
        outlier_fences(nan_only, 2, 3.0, &lo, &hi);
        assert_true(lo == -HUGE_VAL && hi == HUGE_VAL);
}

static void nan_and_outliers(void **unused)
{
        const double v[] = {3, NAN, 1, NAN, 2};
        double out[32];
        size_t dropped = 99;
        struct preprocess_params p = {.outlier_factor = 3.0};

        assert_int_equal(preprocess(v, 5, &p, out, &dropped), 3);
        assert_true(out[0] == 3 && out[1] == 1 && out[2] == 2); /* order kept */
        assert_int_equal(dropped, 0);
        p.nan_strategy = NAN_STRATEGY_REPLACE;
        assert_int_equal(preprocess(v, 5, &p, out, NULL), 5);
        assert_true(out[1] == 0 && out[3] == 0 && out[4] == 2);

        double w[21];
        for (int i = 0; i < 20; i++)
                w[i] = 20 - i;
        w[20] = 1000;
        p = (struct preprocess_params){.outliers = OUTLIERS_REMOVE, .outlier_factor = 3.0};
        assert_int_equal(preprocess(w, 21, &p, out, &dropped), 20);
        assert_int_equal(dropped, 1);
        assert_true(out[0] == 20 && out[19] == 1);
        p.outlier_factor = 0; /* the p1 / p99 fences: 1 and 1000 go */
        assert_int_equal(preprocess(w, 21, &p, out, &dropped), 19);
        assert_int_equal(dropped, 2);
        assert_int_equal(preprocess(w, 0, &p, out, &dropped), 0);

        /* Mostly +Inf: the IQR is NaN, no fence, nothing dropped. */
        const double inf[] = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL, 1};
        p.outlier_factor = 3;
        assert_int_equal(preprocess(inf, 5, &p, out, &dropped), 5);
        assert_int_equal(dropped, 0);

        assert_string_equal(nan_strategy_to_string(NAN_STRATEGY_REPLACE), "replace");
        assert_string_equal(outlier_strategy_to_string(OUTLIERS_KEEP), "keep");
        assert_null(nan_strategy_to_string(_NAN_STRATEGY_MAX));
        assert_null(outlier_strategy_to_string(_OUTLIERS_MAX));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(percentiles_r7),
            cmocka_unit_test(fences_reduced_sensitivity),
            cmocka_unit_test(nan_and_outliers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
