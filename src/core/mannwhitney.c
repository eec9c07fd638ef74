/* Mann-Whitney / Wilcoxon rank-sum test with the Hodges-Lehmann estimate and interval, matching
 * R 4.2's wilcox.test(x, y, conf.int = TRUE) with its defaults, and Kayenta's (NetflixACAJudge)
 * High / Low / Pass rule on top. Pure: libc and libm.
 *
 * Exact path (both samples < 50, no ties): the null distribution of U is counted exactly (in
 * 128-bit integers, Harding's generating-function algorithm) and p-value and interval follow
 * R's pwilcox/qwilcox step by step, so the results are R's to the last bit or within a few ulps.
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

void mw_params_default(struct mw_params *p)
{
        *p = (struct mw_params){
            .confidence = MW_DEFAULT_CONFIDENCE,
            .direction = DIRECTION_EITHER,
            .allowed_increase = MW_DEFAULT_ALLOWED,
            .allowed_decrease = MW_DEFAULT_ALLOWED,
            .critical_increase = MW_DEFAULT_ALLOWED,
            .critical_decrease = MW_DEFAULT_ALLOWED,
            .tolerance = MW_DEFAULT_TOLERANCE,
            .min_samples = 1,
        };
}

/* ---- sorting ---- */

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

#define RADIX_BITS   11
#define RADIX_SIZE   (1u << RADIX_BITS)
#define RADIX_PASSES 6 /* 66 bits >= 64 */
#define RADIX_MIN_N  256

/* Sorts n non-NaN doubles ascending. Large arrays: LSD radix sort of the order-preserving keys
 * (6 passes of 11 bits, passes where every key has the same digit skipped), O(n) time and
 * memory, several times faster than qsort at 10^6 values; small ones: qsort. */
static void sort_doubles(double *v, size_t n)
{
        if (n < RADIX_MIN_N) {
                qsort(v, n, sizeof(double), cmp_double);
                return;
        }
        uint64_t *a = xmalloc(n * sizeof(uint64_t)), *b = xmalloc(n * sizeof(uint64_t));
        size_t(*count)[RADIX_SIZE] = xcalloc(RADIX_PASSES, sizeof(*count));

        for (size_t i = 0; i < n; i++) {
                a[i] = double_key(v[i]);
                for (unsigned p = 0; p < RADIX_PASSES; p++)
                        count[p][(a[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
        }
        for (unsigned p = 0; p < RADIX_PASSES; p++) {
                unsigned shift = p * RADIX_BITS;
                size_t sum = 0;
                bool trivial = false;
                for (unsigned d = 0; d < RADIX_SIZE; d++) {
                        size_t c = count[p][d];
                        trivial |= c == n;
                        count[p][d] = sum;
                        sum += c;
                }
                if (trivial)
                        continue;
                for (size_t i = 0; i < n; i++)
                        b[count[p][(a[i] >> shift) & (RADIX_SIZE - 1)]++] = a[i];
                uint64_t *t = a;
                a = b;
                b = t;
        }
        for (size_t i = 0; i < n; i++)
                v[i] = key_double(a[i]);
        free(count);
        free(a);
        free(b);
}

/* ---- pairwise differences and their order statistics ---- */

/* x - y as a materialised difference array would hold it, except that equal infinities differ
 * by 0 (they are tied in the ranking) instead of NaN. Non-decreasing in a, non-increasing in b,
 * which is all the selection needs. */
static inline double diff(double a, double b)
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

static bool select_args_ok(const double *x, size_t n, const double *y, size_t m, uint64_t k)
{
        return x && y && n > 0 && m > 0 && k > 0 && k <= (uint64_t)n * (uint64_t)m;
}

double mw_diff_select_bisect(const double *x, size_t n, const double *y, size_t m, uint64_t k)
{
        if (!select_args_ok(x, n, y, m, k))
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

/* The fast selection (STATS.md §3.3, Monahan's idea with sampled pivots). The differences form
 * an n x m matrix with sorted rows and columns: cell(i, t) = diff(x_i, y_(m-1-t)) ascends in t
 * and in i. Each row keeps a window [lo_i, hi_i) of columns still in contention, with every
 * cell left of the windows strictly below every cell inside and every cell right of them
 * strictly above. A round draws S cells uniformly from the windows (S = n + m rounded up to a
 * power of two within [SELECT_SAMPLE_MIN, SELECT_SAMPLE], so that drawing costs no more than
 * counting), picks by quickselect the two sample values that bracket the wanted rank by a
 * margin (3 standard deviations of the sample rank, 3 sqrt(S) / 2; a miss only costs a weaker
 * round, never a wrong answer), counts per row the cells below
 * each (one staircase walk inside the windows, O(n + m)) and shrinks the windows to the
 * bracket: about 30x fewer candidates per round at S = 8192, so 10^12 differences need 4
 * rounds. Once at most `collect` (n + m, at least SELECT_COLLECT) candidates remain they are copied
 * out and the rank is found by quickselect. A round that does not shrink the windows (many equal
 * values) is followed by one with a single pivot at the estimated rank, which always removes that
 * pivot's value. The expected cost is O((n + m) log(nm) / log(30)) on top of sorting; for n = m =
 * 10^6 about 10 staircase walks in all (the interval ends and the median share the first round). */
#define SELECT_SAMPLE     8192
#define SELECT_SAMPLE_MIN 256
#define SELECT_COLLECT    1024 /* fewer differences than this are all collected at once */
#define SELECT_ROUNDS     200  /* safety net: then bisection */

struct selector {
        const double *x, *y;
        size_t n, m;
        uint64_t nm;
        uint32_t *lo, *hi, *p, *q; /* windows and per-row counts of the current pivots */
        uint64_t *prefix;          /* prefix sums of the window widths, for sampling */
        double *sample;
        double *buf;                 /* collected candidates */
        uint32_t *base_lo, *base_hi; /* windows after selector_prepare(), or NULL */
        uint64_t base_below, base_cand, base_k1, base_k2;
        size_t collect;
        bool filled;             /* no windows: buf holds every cell (selection only permutes it) */
        size_t sample_n, margin; /* S and the margin in sample ranks: 3 sd, sd <= sqrt(S) / 2 */
        uint64_t rng;
};

static inline double cell(const struct selector *s, size_t i, size_t t)
{
        return diff(s->x[i], s->y[s->m - 1 - t]);
}

static void selector_init(struct selector *s, const double *x, size_t n, const double *y, size_t m)
{
        *s = (struct selector){.x = x, .y = y, .n = n, .m = m, .nm = (uint64_t)n * m};
        s->collect = n + m > SELECT_COLLECT ? n + m : SELECT_COLLECT;
        if (s->nm <= s->collect || m > UINT32_MAX) {
                /* Everything fits the collection buffer (or the windows do not fit 32 bits,
                 * never in practice: then bisection). */
                s->collect = s->nm <= s->collect ? (size_t)s->nm : 0;
                s->buf = s->collect ? xmalloc(s->collect * sizeof(double)) : NULL;
                return;
        }
        s->lo = xmalloc(n * sizeof(uint32_t));
        s->hi = xmalloc(n * sizeof(uint32_t));
        s->p = xmalloc(n * sizeof(uint32_t));
        s->q = xmalloc(n * sizeof(uint32_t));
        s->prefix = xmalloc((n + 1) * sizeof(uint64_t));
        s->sample_n = SELECT_SAMPLE_MIN;
        while (s->sample_n < SELECT_SAMPLE && s->sample_n < n + m)
                s->sample_n *= 2;
        s->margin = 3 * (size_t)sqrt((double)s->sample_n) / 2; /* 135 at 8192 */
        s->sample = xmalloc(s->sample_n * sizeof(double));
        s->buf = xmalloc(s->collect * sizeof(double));
}

static void selector_free(struct selector *s)
{
        free(s->lo);
        free(s->hi);
        free(s->p);
        free(s->q);
        free(s->prefix);
        free(s->sample);
        free(s->buf);
        free(s->base_lo);
        free(s->base_hi);
}

static uint64_t next_random(struct selector *s)
{
        /* splitmix64: fixed seed per selection, so results and timings are reproducible. */
        uint64_t z = (s->rng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static inline void swap_d(double *a, double *b)
{
        double t = *a;
        *a = *b;
        *b = t;
}

/* Rearranges a[0..n) so that a[k] is its k-th smallest (0-based), smaller-or-equal values
 * before it. Quickselect with a median-of-three pivot and a three-way partition (ties are
 * common); falls back to qsort of what is left if the pivots keep being poor. */
static void nth_smallest(double *a, size_t n, size_t k)
{
        size_t lo = 0, hi = n;

        for (unsigned depth = 0; hi - lo > 16; depth++) {
                if (depth > 64) {
                        qsort(a + lo, hi - lo, sizeof(double), cmp_double);
                        return;
                }
                double u = a[lo], v = a[lo + (hi - lo) / 2], w = a[hi - 1];
                double pivot =
                    u < v ? (v < w ? v : (u < w ? w : u)) : (u < w ? u : (v < w ? w : v));
                size_t lt = lo, i = lo, gt = hi;
                while (i < gt) {
                        if (a[i] < pivot)
                                swap_d(&a[lt++], &a[i++]);
                        else if (a[i] > pivot)
                                swap_d(&a[i], &a[--gt]);
                        else
                                i++;
                }
                if (k < lt)
                        hi = lt;
                else if (k >= gt)
                        lo = gt;
                else
                        return;
        }
        for (size_t i = lo + 1; i < hi; i++)
                for (size_t j = i; j > lo && a[j - 1] > a[j]; j--)
                        swap_d(&a[j - 1], &a[j]);
}

/* Per row, the number of cells < vlo into p and of cells <= vhi into q (when has_lo / has_hi);
 * returns their sums in *ret_a and *ret_b. Both pivots are cells inside the windows, so each
 * row's counts lie in its window: the walks start from the previous row's counts (counts fall
 * as i grows) clamped to the window. One pass for both pivots shares the loads. */
static void count_rows(const struct selector *s, bool has_lo, double vlo, bool has_hi, double vhi,
                       uint64_t *ret_a, uint64_t *ret_b)
{
        uint64_t ta = 0, tb = 0;
        size_t ca = s->m, cb = s->m;

        for (size_t i = 0; i < s->n; i++) {
                size_t lo = s->lo[i], hi = s->hi[i];
                const double xi = s->x[i], *yr = s->y + s->m - 1; /* cell(i, t) = xi - yr[-t] */
                if (has_lo) {
                        ca = ca > hi ? hi : ca < lo ? lo : ca;
                        while (ca > lo && diff(xi, yr[-(ptrdiff_t)(ca - 1)]) >= vlo)
                                ca--;
                        s->p[i] = (uint32_t)ca;
                        ta += ca;
                }
                if (has_hi) {
                        cb = cb > hi ? hi : cb < lo ? lo : cb;
                        while (cb > lo && diff(xi, yr[-(ptrdiff_t)(cb - 1)]) > vhi)
                                cb--;
                        s->q[i] = (uint32_t)cb;
                        tb += cb;
                }
        }
        *ret_a = ta;
        *ret_b = tb;
}

/* The k-th smallest of the candidates in the windows (k 1-based among them), by copying them
 * out (there are at most s->collect); without windows they are copied once for every
 * selection. */
static double collect_select(struct selector *s, uint64_t k)
{
        size_t c = 0;

        if (!s->lo) {
                c = (size_t)s->nm;
                for (size_t i = 0; i < s->n && !s->filled; i++)
                        for (size_t t = 0; t < s->m; t++)
                                s->buf[i * s->m + t] = cell(s, i, t);
                s->filled = true;
        } else {
                for (size_t i = 0; i < s->n; i++)
                        for (size_t t = s->lo[i]; t < s->hi[i]; t++)
                                s->buf[c++] = cell(s, i, t);
        }
        nth_smallest(s->buf, c, (size_t)(k - 1));
        return s->buf[k - 1];
}

/* One narrowing round for the ranks k1 <= k2 (1-based, overall) inside the windows holding
 * *cand candidates above *below smaller cells. Returns true with *ret when a pivot turned out
 * to be the answer (k1 = k2 only). */
static bool narrow_round(struct selector *s, uint64_t k1, uint64_t k2, bool single, uint64_t *below,
                         uint64_t *cand, double *ret)
{
        /* Sample cells uniformly from the windows. */
        s->prefix[0] = 0;
        for (size_t i = 0; i < s->n; i++)
                s->prefix[i + 1] = s->prefix[i] + (s->hi[i] - s->lo[i]);
        const size_t ns = s->sample_n;
        for (size_t j = 0; j < ns; j++) {
                uint64_t r = next_random(s) % *cand;
                size_t lo = 0, hi = s->n; /* the last row with prefix <= r */
                while (hi - lo > 1) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (s->prefix[mid] <= r)
                                lo = mid;
                        else
                                hi = mid;
                }
                s->sample[j] = cell(s, lo, s->lo[lo] + (size_t)(r - s->prefix[lo]));
        }

        /* Bracket the ranks: sample positions around their expected positions, found by
         * quickselect (the upper one among the values above the lower one). */
        double f1 = (double)(k1 - *below) * (double)ns / (double)*cand;
        double f2 = (double)(k2 - *below) * (double)ns / (double)*cand;
        long ilo, ihi;
        if (single) {
                ilo = ihi = f1 < (double)(ns - 1) ? (long)f1 : (long)ns - 1;
        } else {
                ilo = (long)floor(f1) - (long)s->margin;
                ihi = (long)ceil(f2) + (long)s->margin;
        }
        bool has_lo = ilo >= 0, has_hi = ihi < (long)ns;
        if (has_lo)
                nth_smallest(s->sample, ns, (size_t)ilo);
        if (has_hi && has_lo && ihi > ilo)
                nth_smallest(s->sample + ilo + 1, ns - (size_t)ilo - 1, (size_t)(ihi - ilo - 1));
        else if (has_hi && !has_lo)
                nth_smallest(s->sample, ns, (size_t)ihi);
        double vlo = has_lo ? s->sample[ilo] : 0, vhi = has_hi ? s->sample[ihi] : 0;
        uint64_t a, b;
        uint32_t *t;

        count_rows(s, has_lo, vlo, has_hi, vhi, &a, &b);
        if (!has_lo)
                a = *below;
        if (!has_hi)
                b = *below + *cand;
        if (k2 <= a) { /* below vlo: the windows end at the cells < vlo */
                t = s->hi, s->hi = s->p, s->p = t;
                *cand = a - *below;
        } else if (k1 > b) { /* above vhi */
                t = s->lo, s->lo = s->q, s->q = t;
                *cand = *below + *cand - b;
                *below = b;
        } else if (a < k1 && k2 <= b) { /* vlo <= answers <= vhi */
                if (has_lo && has_hi && vlo == vhi) {
                        *ret = vlo;
                        return true;
                }
                if (has_lo) {
                        t = s->lo, s->lo = s->p, s->p = t;
                        *below = a;
                }
                if (has_hi) {
                        t = s->hi, s->hi = s->q, s->q = t;
                }
                *cand = b - *below;
        }
        /* else a range straddling a pivot (k1 < k2 only): keep the windows. */
        return false;
}

/* Narrows the windows once for the whole rank range [k1, k2] and keeps the result as the
 * starting point of every later selection inside that range: the interval ends and the
 * median lie within a fraction of a percent of each other, so they share the first round. */
static void selector_prepare(struct selector *s, uint64_t k1, uint64_t k2)
{
        double unused;

        if (s->nm <= s->collect || !s->lo)
                return;
        for (size_t i = 0; i < s->n; i++) {
                s->lo[i] = 0;
                s->hi[i] = (uint32_t)s->m;
        }
        s->rng = k1 ^ k2 ^ (s->nm << 1);
        s->base_below = 0;
        s->base_cand = s->nm;
        narrow_round(s, k1, k2, false, &s->base_below, &s->base_cand, &unused);
        s->base_lo = xmalloc(s->n * sizeof(uint32_t));
        s->base_hi = xmalloc(s->n * sizeof(uint32_t));
        memcpy(s->base_lo, s->lo, s->n * sizeof(uint32_t));
        memcpy(s->base_hi, s->hi, s->n * sizeof(uint32_t));
        s->base_k1 = k1;
        s->base_k2 = k2;
}

static double selector_select(struct selector *s, uint64_t k)
{
        if (s->nm <= s->collect)
                return collect_select(s, k) + 0.0;
        if (!s->lo)
                return mw_diff_select_bisect(s->x, s->n, s->y, s->m, k);

        uint64_t below = 0, cand = s->nm;
        bool single = false;
        double v;

        s->rng = k ^ (s->nm << 1);
        if (s->base_lo && k >= s->base_k1 && k <= s->base_k2) {
                memcpy(s->lo, s->base_lo, s->n * sizeof(uint32_t));
                memcpy(s->hi, s->base_hi, s->n * sizeof(uint32_t));
                below = s->base_below;
                cand = s->base_cand;
        } else {
                for (size_t i = 0; i < s->n; i++) {
                        s->lo[i] = 0;
                        s->hi[i] = (uint32_t)s->m;
                }
        }
        for (unsigned round = 0; cand > s->collect; round++) {
                if (round >= SELECT_ROUNDS)
                        return mw_diff_select_bisect(s->x, s->n, s->y, s->m, k);
                uint64_t old = cand;
                if (narrow_round(s, k, k, single, &below, &cand, &v))
                        return v + 0.0;
                /* No progress (many equal values): a single pivot next, which always
                 * removes its own value. */
                single = cand == old;
        }
        return collect_select(s, k - below) + 0.0;
}

/* The smallest difference strictly greater than v, or +Inf when there is none: per row the
 * first cell above v, one staircase walk. */
static double next_above(const struct selector *s, double v)
{
        double best = HUGE_VAL;
        size_t c = s->m;

        for (size_t i = 0; i < s->n; i++) {
                while (c > 0 && cell(s, i, c - 1) > v)
                        c--;
                if (c < s->m) {
                        double d = cell(s, i, c);
                        if (d < best)
                                best = d;
                }
        }
        return best + 0.0;
}

double mw_diff_select(const double *x, size_t n, const double *y, size_t m, uint64_t k)
{
        struct selector s;

        if (!select_args_ok(x, n, y, m, k))
                return (double)NAN;
        selector_init(&s, x, n, y, m);
        double v = selector_select(&s, k);
        selector_free(&s);
        return v;
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

/* R's median(outer(x, y, "-")): for even nm the (nm/2 + 1)-th difference is the nm/2-th when
 * at least nm/2 + 1 differences are <= it, else the next larger difference. */
static double diff_median(struct selector *s)
{
        uint64_t nm = s->nm;

        if (nm % 2 == 1)
                return selector_select(s, (nm + 1) / 2);
        double a = selector_select(s, nm / 2);
        double b = count_le(s->x, s->n, s->y, s->m, a) >= nm / 2 + 1 ? a : next_above(s, a);
        return r_mean2(a, b);
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

/* Exact integer counts: their sum, at most C(98, 49) < 2^95, is far below 2^128. */
__extension__ typedef unsigned __int128 mw_count;

/* Number of rankings giving U = 0..n*m when neither sample has ties; caller frees. These are the
 * coefficients of the Gaussian binomial [n+m choose a]_q, a = min(n, m), b = max(n, m), built as
 * the product over i = 1..a of (1 - q^(b+i)) / (1 - q^i) (Harding 1984): multiplying by
 * (1 - q^(b+i)) is one subtraction per coefficient, dividing by (1 - q^i) one running addition,
 * so O(a * n * m) in all. Counting in 128-bit integers keeps every step exact (a subtraction
 * may wrap, the product after each i is again a Gaussian binomial and fits), and each count
 * is rounded once into a double. The distribution is symmetric and coefficient u depends only
 * on coefficients <= u, so only the lower half is computed. */
static double *wilcox_counts(size_t n, size_t m)
{
        size_t a = n < m ? n : m, b = n + m - a, nm = n * m, h = nm / 2;
        mw_count *c = xcalloc(h + 1, sizeof(mw_count));
        double *cnt = xmalloc((nm + 1) * sizeof(double));

        c[0] = 1;
        for (size_t i = 1; i <= a; i++) {
                for (size_t u = h; u >= b + i && h >= b + i; u--)
                        c[u] -= c[u - (b + i)];
                for (size_t u = i; u <= h; u++)
                        c[u] += c[u - i];
        }
        for (size_t u = 0; u <= h; u++)
                cnt[u] = cnt[nm - u] = (double)c[u];
        free(c);
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

static void exact_path(struct selector *sel, double u, const struct mw_params *p,
                       struct mw_result *ret)
{
        size_t n = sel->n, m = sel->m;
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
        ret->ci_low = p->alternative == MW_LESS ? -HUGE_VAL : selector_select(sel, q);
        ret->ci_high = p->alternative == MW_GREATER ? HUGE_VAL : selector_select(sel, w.nm - q + 1);
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

static void normal_path(struct selector *sel, double u, double ties, const struct mw_params *p,
                        struct mw_result *ret)
{
        const double *x = sel->x, *y = sel->y;
        size_t n = sel->n, m = sel->m;
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
        uint64_t r_lo = clamp_rank(k + 1, nmi), r_hi = clamp_rank(nm - k, nmi);
        /* K + 1 <= nm/2 < nm/2 + 1 <= nm - K: the median's ranks lie inside, so the
         * estimate shares the first narrowing too. */
        selector_prepare(sel, r_lo, r_hi);
        ret->ci_low = p->alternative == MW_LESS ? -HUGE_VAL : selector_select(sel, r_lo);
        ret->ci_high = p->alternative == MW_GREATER ? HUGE_VAL : selector_select(sel, r_hi);
}

/* ---- Kayenta's classification ---- */

static const char *const effect_names[_EFFECT_SIZE_MAX] = {
    [EFFECT_SIZE_MEAN_RATIO] = "mean_ratio",
    [EFFECT_SIZE_CLES] = "cles",
};

const char *effect_size_to_string(enum effect_size e)
{
        return (unsigned)e < _EFFECT_SIZE_MAX ? effect_names[e] : NULL;
}

/* Long double accumulation: 10^6 latency values keep ~64 bits, and the sum of large finite
 * values does not overflow to Inf (it would make the ratio NaN). */
static double mean(const double *v, size_t n)
{
        long double s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i];
        return (double)(s / (long double)n);
}

static enum mw_class classify(const double *x, size_t n, const double *y, size_t m,
                              const struct mw_params *p, struct mw_result *r)
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
         * an infinite or undefined estimate gives no margin rather than an unreachable one.
         * Each sample constant (Kayenta adds random noise here): the interval is the single
         * difference [d, d], so the rule below decides by the sign of d, deterministically. */
        double c = isfinite(r->hl_estimate) ? p->tolerance * fabs(r->hl_estimate) : 0;
        double e = r->effect;
        bool any = isnan(e);
        bool up = p->direction == DIRECTION_INCREASE || p->direction == DIRECTION_EITHER;
        bool down = p->direction == DIRECTION_DECREASE || p->direction == DIRECTION_EITHER;

        if (up && r->ci_low > c && (any || e >= p->allowed_increase)) {
                r->critical = any || e >= p->critical_increase;
                return MW_HIGH;
        }
        if (down && r->ci_high < -c && (any || e <= p->allowed_decrease)) {
                r->critical = any || e <= p->critical_decrease;
                return MW_LOW;
        }
        return MW_PASS;
}

/* ---- entry point ---- */

/* The non-NaN values of v, sorted ascending, -0.0 as +0.0; caller frees. */
static double *copy_sorted(const double *v, size_t n, size_t *ret_n)
{
        double *s = xmalloc((n ? n : 1) * sizeof(double));
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i]))
                        s[k++] = v[i] + 0.0;
        sort_doubles(s, k);
        *ret_n = k;
        return s;
}

static bool params_valid(const struct mw_params *p)
{
        return p->confidence > 0 && p->confidence < 1 && p->tolerance >= 0 &&
               !isnan(p->allowed_increase) && !isnan(p->allowed_decrease) &&
               !isnan(p->critical_increase) && !isnan(p->critical_decrease) &&
               (unsigned)p->direction < _DIRECTION_MAX &&
               (unsigned)p->effect_size < _EFFECT_SIZE_MAX &&
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
            .cles = (double)NAN,
            .effect = (double)NAN,
            .classification = MW_NODATA,
        };

        if (n > 0 && m > 0) {
                struct selector sel;
                double ties, mc = mean(x, n), mb = mean(y, m);

                selector_init(&sel, x, n, y, m);
                rank_stats(x, n, y, m, &r.u, &ties);
                r.exact = p->method == MW_METHOD_AUTO && n < MW_EXACT_LIMIT && m < MW_EXACT_LIMIT &&
                          ties == 0;
                if (r.exact)
                        exact_path(&sel, r.u, p, &r);
                else
                        normal_path(&sel, r.u, ties, p, &r);
                r.hl_estimate = diff_median(&sel);
                selector_free(&sel);
                r.mean_ratio = mc == 0 || mb == 0 ? (double)NAN : mc / mb;
                /* Kayenta's (2 R1 - n (n + 1)) / (2 n m) is U / (n m); in doubles, U and n m
                 * are exact (n m <= 2^53), so no product overflows at any size. */
                r.cles = r.u / ((double)n * (double)m);
                r.effect = p->effect_size == EFFECT_SIZE_CLES ? r.cles : r.mean_ratio;
                r.classification = classify(x, n, y, m, p, &r);
        }
        free(x);
        free(y);
        *ret = r;
        return 0;
}
