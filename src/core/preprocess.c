/* Kayenta's per-arm preprocessing (Transforms.scala, IQRDetector.scala in "reduced
 * sensitivity" mode) and the R-7 percentile. Pure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/preprocess.h"
#include "canaryd/util.h"

static const char *const nan_names[_NAN_STRATEGY_MAX] = {
    [NAN_STRATEGY_REMOVE] = "remove",
    [NAN_STRATEGY_REPLACE] = "replace",
};

static const char *const outlier_names[_OUTLIERS_MAX] = {
    [OUTLIERS_KEEP] = "keep",
    [OUTLIERS_REMOVE] = "remove",
};

const char *nan_strategy_to_string(enum nan_strategy s)
{
        return (unsigned)s < _NAN_STRATEGY_MAX ? nan_names[s] : NULL;
}

const char *outlier_strategy_to_string(enum outlier_strategy s)
{
        return (unsigned)s < _OUTLIERS_MAX ? outlier_names[s] : NULL;
}

double percentile_r7(const double *sorted, size_t n, double p)
{
        if (n == 0 || !(p >= 0 && p <= 1))
                return (double)NAN;

        double h = (double)(n - 1) * p;
        size_t lo = (size_t)floor(h);
        if (lo >= n - 1)
                return sorted[n - 1];
        double frac = h - (double)lo, a = sorted[lo], b = sorted[lo + 1];
        if (frac == 0 || a == b)
                return a;
        return (1 - frac) * a + frac * b;
}

void outlier_fences(const double *v, size_t n, double factor, double *ret_lower, double *ret_upper)
{
        double *s = xmalloc((n ? n : 1) * sizeof(double));
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i]))
                        s[k++] = v[i];
        qsort(s, k, sizeof(double), cmp_double);

        double lower = -HUGE_VAL, upper = HUGE_VAL;
        if (k > 0) {
                double p1 = percentile_r7(s, k, 0.01), q1 = percentile_r7(s, k, 0.25);
                double q3 = percentile_r7(s, k, 0.75), p99 = percentile_r7(s, k, 0.99);
                double iqr = q3 - q1;
                double lo = q1 - factor * iqr, hi = q3 + factor * iqr;
                /* As Java's Math.min/max: a NaN operand (infinities) makes the fence NaN, and
                 * nothing compares outside a NaN fence. */
                if (!isnan(p1) && !isnan(lo))
                        lower = fmin(p1, lo);
                if (!isnan(p99) && !isnan(hi))
                        upper = fmax(p99, hi);
        }
        free(s);
        *ret_lower = lower;
        *ret_upper = upper;
}

size_t preprocess(const double *v, size_t n, const struct preprocess_params *p, double *out,
                  size_t *ret_outliers)
{
        size_t k = 0, dropped = 0;

        for (size_t i = 0; i < n; i++) {
                if (!isnan(v[i]))
                        out[k++] = v[i];
                else if (p->nan_strategy == NAN_STRATEGY_REPLACE)
                        out[k++] = 0.0;
        }
        if (p->outliers == OUTLIERS_REMOVE && k > 0) {
                double lower, upper;
                size_t j = 0;
                outlier_fences(out, k, p->outlier_factor, &lower, &upper);
                for (size_t i = 0; i < k; i++)
                        if (out[i] >= lower && out[i] <= upper)
                                out[j++] = out[i];
                dropped = k - j;
                k = j;
        }
        if (ret_outliers)
                *ret_outliers = dropped;
        return k;
}
