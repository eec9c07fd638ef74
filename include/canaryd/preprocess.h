/* Per-arm preprocessing of a metric's samples before judging, as Kayenta's NetflixACAJudge does
 * it (STATS.md §1.4): NaN removed or replaced by 0, then optionally the outliers outside the
 * reduced-sensitivity IQR fences dropped. Also the R-7 percentile the reducers and the fences
 * share. Pure: libc and libm; allocates only a sorted scratch copy for the fences. */
#pragma once

#include <stddef.h>

#include "canaryd/config.h"

struct preprocess_params {
        enum nan_strategy nan_strategy; /* remove (default) | replace (NaN -> 0.0) */
        enum outlier_strategy outliers; /* keep (default) | remove */
        double outlier_factor;          /* f of the fences, >= 0 (Kayenta: 3.0) */
};

/* Names as written in the configuration: "remove" | "replace", "keep" | "remove"; NULL for
 * out-of-range values. */
const char *nan_strategy_to_string(enum nan_strategy s);
const char *outlier_strategy_to_string(enum outlier_strategy s);

/* The R-7 (Hyndman-Fan type 7, NumPy's default) p-quantile of n >= 1 ascending non-NaN values:
 * linear interpolation between the order statistics around 1 + (n - 1) p, computed as R does,
 * (1 - h) x[lo] + h x[hi]. Equal neighbours give that value exactly (also infinities); between
 * -Inf and +Inf the result is NaN. p outside [0, 1] or n = 0: NaN. */
double percentile_r7(const double *sorted, size_t n, double p);

/* Kayenta's reduced-sensitivity outlier fences of the non-NaN values of v: with the R-7
 * percentiles p1, p25, p75, p99 and IQR = p75 - p25, lower = min(p1, p25 - f IQR) and
 * upper = max(p99, p75 + f IQR). A fence that cannot be computed (no values; infinities making
 * it NaN) is -Inf / +Inf: nothing is removed on that side. */
void outlier_fences(const double *v, size_t n, double factor, double *ret_lower, double *ret_upper);

/* Applies p to the n values of v and writes the kept values, in their original order, to out
 * (room for n values; may not overlap v). Step 1: NaN removed, or replaced by 0.0. Step 2 (only
 * with outliers = remove): values strictly outside outlier_fences() of the step-1 values are
 * dropped. Returns how many values were written; *ret_outliers (may be NULL) gets how many
 * step 2 dropped. */
size_t preprocess(const double *v, size_t n, const struct preprocess_params *p, double *out,
                  size_t *ret_outliers);
