/* Mann-Whitney / Wilcoxon rank-sum test with the Hodges-Lehmann estimate and interval, matching
 * R 4.2's wilcox.test(x, y, conf.int = TRUE) with its defaults, and Kayenta's (NetflixACAJudge)
 * High / Low / Pass rule on top. Pure: libc and libm.
 *
 * Exact path (both samples < 50, no ties): the null distribution of U is counted with an
 * addition-only DP and p-value and interval follow R's pwilcox/qwilcox step by step, so the
 * results are R's to the last bit or within a few ulps.
 * Normal path: the p-value is R's (tie-corrected, continuity-corrected). R finds the interval ends
 * with uniroot to an absolute tolerance of 1e-4; we return the exact order statistics of the
 * pairwise differences that the root finder approximates (STATS.md §2.5), and the exact
 * Hodges-Lehmann estimate (the median of the differences) instead of a root inside the middle
 * gap. Order statistics are selected without materialising the n*m differences. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/mannwhitney.h"
#include "canaryd/util.h"

#define MW_EXACT_LIMIT 50 /* R: exact when both sample sizes are below this */

static const char *const class_names[_MW_CLASS_MAX] = {
    [MW_PASS] = "Pass",
    [MW_HIGH] = "High",
    [MW_LOW] = "Low",
    [MW_NODATA] = "NoData",
};

const char *mw_class_to_string(enum mw_class c)
{
        return (unsigned)c < _MW_CLASS_MAX ? class_names[c] : NULL;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* ---- pairwise differences and their order statistics ---- */

/* x - y as a materialised difference array would hold it, except that equal infinities differ
 * by 0 (they are tied in the ranking) instead of NaN. Non-decreasing in a, non-increasing in b,
 * which is all the selection needs. */
static double diff(double a, double b)
{
        if (a == b)
                return 0.0;
        return a - b;
}

/* #{(i, j): diff(x_i, y_j) <= d} for ascending x and y, one staircase sweep: for each i the
 * differences that are <= d form a suffix of j, and that suffix only shrinks as x_i grows. */
static uint64_t count_le(const double *x, size_t n, const double *y, size_t m, double d)
{
        uint64_t c = 0;
        size_t j = 0;

        for (size_t i = 0; i < n; i++) {
                while (j < m && diff(x[i], y[j]) > d)
                        j++;
                c += m - j;
        }
        return c;
}

/* An order-preserving bijection between non-NaN doubles and unsigned integers (-0.0 just
 * below +0.0): flip every bit of negatives, set the sign bit of the rest. */
static uint64_t double_key(double d)
{
        uint64_t u;

        memcpy(&u, &d, sizeof(u));
        return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}

static double key_double(uint64_t k)
{
        uint64_t u = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
        double d;

        memcpy(&d, &u, sizeof(d));
        return d;
}

double mw_diff_select(const double *x, size_t n, const double *y, size_t m, uint64_t k)
{
        if (!x || !y || n == 0 || m == 0 || k == 0 || k > (uint64_t)n * (uint64_t)m)
                return (double)NAN;

        /* Smallest key whose double has at least k differences <= it; that double is a
         * difference (the count only changes at differences). At most 64 sweeps. */
        uint64_t lo = double_key(diff(x[0], y[m - 1])), hi = double_key(diff(x[n - 1], y[0]));
        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (count_le(x, n, y, m, key_double(mid)) >= k)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return key_double(lo) + 0.0; /* -0.0 -> +0.0, as x - x gives */
}

/* R's mean() of two doubles: long double sum, then one refinement pass. */
static double r_mean2(double a, double b)
{
        long double s = ((long double)a + (long double)b) / 2;

        if (isfinite((double)s)) {
                long double t = ((long double)a - s) + ((long double)b - s);
                s += t / 2;
        }
        return (double)s;
}

/* R's median(outer(x, y, "-")). */
static double diff_median(const double *x, size_t n, const double *y, size_t m)
{
        uint64_t nm = (uint64_t)n * (uint64_t)m;

        if (nm % 2 == 1)
                return mw_diff_select(x, n, y, m, (nm + 1) / 2);
        return r_mean2(mw_diff_select(x, n, y, m, nm / 2), mw_diff_select(x, n, y, m, nm / 2 + 1));
}

/* ---- ranks ---- */

static double tie_term(size_t t)
{
        double d = (double)t;
        return d * d * d - d;
}

/* Sum over groups of equal values of t^3 - t, for an ascending array. */
static double tie_term_sorted(const double *v, size_t n)
{
        double s = 0;

        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                while (j < n && v[j] == v[i])
                        j++;
                s += tie_term(j - i);
                i = j;
        }
        return s;
}

/* U of x (#{x_i > y_j} + 1/2 #{x_i = y_j}, i.e. the rank sum of x minus n(n+1)/2 with mid-ranks)
 * and the tie term of the pooled sample, in one merge of the ascending arrays. */
static void rank_stats(const double *x, size_t n, const double *y, size_t m, double *ret_u,
                       double *ret_ties)
{
        double u = 0, ties = 0;
        size_t i = 0, j = 0;

        while (i < n || j < m) {
                double v = j >= m || (i < n && x[i] <= y[j]) ? x[i] : y[j];
                size_t ci = 0, cj = 0, below = j;

                while (i < n && x[i] == v)
                        ci++, i++;
                while (j < m && y[j] == v)
                        cj++, j++;
                u += (double)ci * (double)below + 0.5 * (double)ci * (double)cj;
                ties += tie_term(ci + cj);
        }
        *ret_u = u;
        *ret_ties = ties;
}

/* ---- exact null distribution (R's cwilcox / pwilcox / qwilcox) ---- */

/* Number of rankings giving U = 0..n*m when neither sample has ties; caller frees. Choosing
 * which a = min(n, m) of the ranks 1..n+m belong to the smaller sample: taking rank t as the
 * j-th chosen raises U by t - j. Additions only, so every count is accurate to ~N ulps. */
static double *wilcox_counts(size_t n, size_t m)
{
        size_t a = n < m ? n : m, big = n + m, nm = n * m, w = nm + 1;
        double *dp = xcalloc((a + 1) * w, sizeof(double));

        dp[0] = 1;
        for (size_t t = 1; t <= big; t++) {
                for (size_t j = t < a ? t : a; j >= 1; j--) {
                        size_t shift = t - j, umax = (j - 1) * (t - j);
                        double *row = dp + j * w;
                        const double *prev = dp + (j - 1) * w;
                        for (size_t u = 0; u <= umax && u + shift <= nm; u++)
                                row[u + shift] += prev[u];
                }
        }
        double *cnt = xmalloc(w * sizeof(double));
        memcpy(cnt, dp + a * w, w * sizeof(double));
        free(dp);
        return cnt;
}

/* R's choose(big, k) for integers: the product loop below 30, rounded. */
static double r_choose(size_t big, size_t k)
{
        if (big - k < k)
                k = big - k;
        if (k == 0)
                return 1;
        if (k < 30) {
                double r = (double)big;
                for (size_t j = 2; j <= k; j++)
                        r *= (double)(big - j + 1) / (double)j;
                return nearbyint(r);
        }
        /* R uses exp(lfastchoose()) here; the exact product is at least as close. */
        long double r = 1;
        for (size_t j = 1; j <= k; j++)
                r = r * (long double)(big - k + j) / (long double)j;
        return (double)nearbyintl(r);
}

struct wilcox_dist {
        double *cnt;
        size_t nm;
        double total;
};

/* R's pwilcox(q, n, m, lower.tail). */
static double r_pwilcox(const struct wilcox_dist *w, double q, bool lower)
{
        double nm = (double)w->nm, p = 0;

        q = nearbyint(q + 1e-7);
        if (q < 0)
                return lower ? 0 : 1;
        if (q >= nm)
                return lower ? 1 : 0;
        if (q <= nm / 2) {
                for (size_t i = 0; (double)i <= q; i++)
                        p += w->cnt[i] / w->total;
        } else {
                q = nm - q;
                for (size_t i = 0; (double)i < q; i++)
                        p += w->cnt[i] / w->total;
                lower = !lower;
        }
        return lower ? p : 0.5 - p + 0.5;
}

/* R's qwilcox(x, n, m) for x in (0, 1). */
static size_t r_qwilcox(const struct wilcox_dist *w, double x)
{
        double p = 0;
        size_t q = 0;

        if (x <= 0.5) {
                x = x - 10 * DBL_EPSILON;
                for (; q < w->nm; q++) {
                        p += w->cnt[q] / w->total;
                        if (p >= x)
                                break;
                }
                return q;
        }
        x = 1 - x + 10 * DBL_EPSILON;
        for (; q < w->nm; q++) {
                p += w->cnt[q] / w->total;
                if (p > x)
                        return w->nm - q;
        }
        return 0;
}

static void exact_path(const double *x, size_t n, const double *y, size_t m, double u,
                       const struct mw_params *p, struct mw_result *ret)
{
        struct wilcox_dist w = {.cnt = wilcox_counts(n, m), .nm = n * m};
        double nm = (double)w.nm, pv, alpha = 1 - p->confidence;
        size_t q;

        w.total = r_choose(n + m, n);
        switch (p->alternative) {
        case MW_GREATER:
                pv = r_pwilcox(&w, u - 1, false);
                break;
        case MW_LESS:
                pv = r_pwilcox(&w, u, true);
                break;
        case MW_TWO_SIDED:
        case _MW_ALTERNATIVE_MAX:
        default:
                pv = u > nm / 2 ? r_pwilcox(&w, u - 1, false) : r_pwilcox(&w, u, true);
                pv = fmin(2 * pv, 1);
                break;
        }
        ret->p_value = pv;

        q = r_qwilcox(&w, p->alternative == MW_TWO_SIDED ? alpha / 2 : alpha);
        if (q == 0)
                q = 1;
        ret->ci_low = p->alternative == MW_LESS ? -HUGE_VAL : mw_diff_select(x, n, y, m, q);
        ret->ci_high =
            p->alternative == MW_GREATER ? HUGE_VAL : mw_diff_select(x, n, y, m, w.nm - q + 1);
        free(w.cnt);
}

/* ---- normal approximation ---- */

static double norm_upper_tail(double z)
{
        return 0.5 * erfc(z * M_SQRT1_2);
}

/* z with P(Z > z) = p for p in (0, 1), by bisection on erfc (full double precision). */
static double norm_upper_quantile(double p)
{
        if (p > 0.5)
                return -norm_upper_quantile(1 - p);
        if (p == 0.5)
                return 0;
        double lo = 0, hi = 40;
        for (int i = 0; i < 200; i++) {
                double mid = 0.5 * (lo + hi);
                if (mid <= lo || mid >= hi)
                        break;
                if (norm_upper_tail(mid) > p)
                        lo = mid;
                else
                        hi = mid;
        }
        return 0.5 * (lo + hi);
}

static uint64_t clamp_rank(double r, uint64_t nm)
{
        if (!(r >= 1))
                return 1;
        if (r >= (double)nm)
                return nm;
        return (uint64_t)r;
}

static void normal_path(const double *x, size_t n, const double *y, size_t m, double u, double ties,
                        const struct mw_params *p, struct mw_result *ret)
{
        double nx = (double)n, ny = (double)m, big = nx + ny, nm = nx * ny;
        double alpha = 1 - p->confidence, z0 = u - nm / 2, corr, sigma, z, pv;

        /* p-value exactly as R: tie-corrected sigma, continuity correction. */
        sigma = sqrt((nm / 12) * ((big + 1) - ties / (big * (big - 1))));
        switch (p->alternative) {
        case MW_GREATER:
                corr = 0.5;
                break;
        case MW_LESS:
                corr = -0.5;
                break;
        case MW_TWO_SIDED:
        case _MW_ALTERNATIVE_MAX:
        default:
                corr = z0 > 0 ? 0.5 : z0 < 0 ? -0.5 : 0;
                break;
        }
        z = (z0 - corr) / sigma;
        switch (p->alternative) {
        case MW_GREATER:
                pv = norm_upper_tail(z);
                break;
        case MW_LESS:
                pv = norm_upper_tail(-z);
                break;
        case MW_TWO_SIDED:
        case _MW_ALTERNATIVE_MAX:
        default:
                pv = 2 * fmin(norm_upper_tail(z), norm_upper_tail(-z));
                break;
        }
        ret->p_value = pv;

        /* Interval: away from the pairwise differences the shifted samples only have their own
         * ties, so sigma(d) is sigma_w below, and the corrected statistic crosses +-zq where
         * #{D <= d} passes nm/2 -+ (1/2 + zq sigma_w): ranks K + 1 and nm - K (STATS.md §2.5). */
        double sigma_w =
            sqrt((nm / 12) *
                 ((big + 1) - (tie_term_sorted(x, n) + tie_term_sorted(y, m)) / (big * (big - 1))));
        double zq = norm_upper_quantile(p->alternative == MW_TWO_SIDED ? alpha / 2 : alpha);
        double k = floor(nm / 2 - 0.5 - zq * sigma_w);
        uint64_t nmi = (uint64_t)n * (uint64_t)m;
        ret->ci_low = p->alternative == MW_LESS
                          ? -HUGE_VAL
                          : mw_diff_select(x, n, y, m, clamp_rank(k + 1, nmi));
        ret->ci_high = p->alternative == MW_GREATER
                           ? HUGE_VAL
                           : mw_diff_select(x, n, y, m, clamp_rank(nm - k, nmi));
}

/* ---- Kayenta's classification ---- */

static double mean(const double *v, size_t n)
{
        double s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i];
        return s / (double)n;
}

static enum mw_class classify(const double *x, size_t n, const double *y, size_t m,
                              const struct mw_params *p, const struct mw_result *r)
{
        size_t need = p->min_samples ? p->min_samples : 1;

        if (n < need || m < need)
                return MW_NODATA;
        /* Identical data, or one value overall: nothing changed. */
        if (n == m) {
                size_t i = 0;
                while (i < n && x[i] == y[i])
                        i++;
                if (i == n)
                        return MW_PASS;
        }
        if (x[0] == x[n - 1] && y[0] == y[m - 1] && x[0] == y[0])
                return MW_PASS;

        /* The interval must clear the estimate by tolerance * |estimate| (Kayenta's bounds);
         * an infinite or undefined estimate gives no margin rather than an unreachable one. */
        double c = isfinite(r->hl_estimate) ? p->tolerance * fabs(r->hl_estimate) : 0;
        bool any_ratio = isnan(r->mean_ratio);
        bool up = p->direction == DIRECTION_INCREASE || p->direction == DIRECTION_EITHER;
        bool down = p->direction == DIRECTION_DECREASE || p->direction == DIRECTION_EITHER;

        if (up && r->ci_low > c && (any_ratio || r->mean_ratio >= p->allowed_increase))
                return MW_HIGH;
        if (down && r->ci_high < -c && (any_ratio || r->mean_ratio <= p->allowed_decrease))
                return MW_LOW;
        return MW_PASS;
}

/* ---- entry point ---- */

static double *copy_sorted(const double *v, size_t n, size_t *ret_n)
{
        double *s = xmalloc((n ? n : 1) * sizeof(double));
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i]))
                        s[k++] = v[i];
        qsort(s, k, sizeof(double), cmp_double);
        *ret_n = k;
        return s;
}

static bool params_valid(const struct mw_params *p)
{
        return p->confidence > 0 && p->confidence < 1 && p->tolerance >= 0 &&
               !isnan(p->allowed_increase) && !isnan(p->allowed_decrease) &&
               (unsigned)p->direction < _DIRECTION_MAX &&
               (unsigned)p->alternative < _MW_ALTERNATIVE_MAX &&
               (unsigned)p->method < _MW_METHOD_MAX;
}

int mann_whitney(const double *canary, size_t nc, const double *baseline, size_t nb,
                 const struct mw_params *p, struct mw_result *ret)
{
        if (!p || !ret || (nc > 0 && !canary) || (nb > 0 && !baseline) || !params_valid(p))
                return -EINVAL;
        /* U and the ranks must stay exact in a double. */
        if (nc > 0 && nb > 0 && (uint64_t)nc > (UINT64_C(1) << 53) / (uint64_t)nb)
                return -E2BIG;

        size_t n, m;
        double *x = copy_sorted(canary, nc, &n), *y = copy_sorted(baseline, nb, &m);
        struct mw_result r = {
            .n_canary = n,
            .n_baseline = m,
            .u = (double)NAN,
            .p_value = (double)NAN,
            .hl_estimate = (double)NAN,
            .ci_low = (double)NAN,
            .ci_high = (double)NAN,
            .mean_ratio = (double)NAN,
            .classification = MW_NODATA,
        };

        if (n > 0 && m > 0) {
                double ties, mc = mean(x, n), mb = mean(y, m);

                rank_stats(x, n, y, m, &r.u, &ties);
                r.exact = p->method == MW_METHOD_AUTO && n < MW_EXACT_LIMIT && m < MW_EXACT_LIMIT &&
                          ties == 0;
                if (r.exact)
                        exact_path(x, n, y, m, r.u, p, &r);
                else
                        normal_path(x, n, y, m, r.u, ties, p, &r);
                r.hl_estimate = diff_median(x, n, y, m);
                r.mean_ratio = mc == 0 || mb == 0 ? (double)NAN : mc / mb;
                r.classification = classify(x, n, y, m, p, &r);
        }
        free(x);
        free(y);
        *ret = r;
        return 0;
}
