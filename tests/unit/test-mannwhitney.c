/* Tests for src/core/mannwhitney.c: every case of tests/data/stats/mannwhitney_reference.json
 * (R 4.2.2 wilcox.test and scipy 1.10.1) to the tolerances of STATS.md, an independent
 * brute-force check of the exact null distribution and of the order-statistic selection (the
 * fast selection against sorting and against bisection), the properties of issue #3 (shift,
 * swap, U(x,y) + U(y,x) = nm, scale, order), the Kayenta classification rule with both effect
 * sizes and the critical bounds, and edge cases (ties, n = 1, empty, NaN, Inf, bad
 * parameters). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "canaryd/files.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/util.h"

#define REL_TOL       1e-12 /* p-values (R's pnorm and choose vs ours) */
#define BIT_EXACT     0     /* exact-path interval ends and every Hodges-Lehmann estimate */
#define ROOT_TOL      2e-4  /* R's uniroot (tol.root = 1e-4) on the normal path */
#define REFERENCE_REL "stats/mannwhitney_reference.json"

/* ---- helpers ------------------------------------------------------------------------------ */

static bool close_rel(double a, double b, double tol)
{
        if (isnan(a) || isnan(b))
                return isnan(a) && isnan(b);
        if (a == b)
                return true;
        return fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

static bool close_abs(double a, double b, double tol)
{
        if (isnan(a) || isnan(b))
                return isnan(a) && isnan(b);
        if (a == b)
                return true;
        return fabs(a - b) <= tol;
}

#define assert_rel(a, b, tol, what)                                                                \
        do {                                                                                       \
                double a_ = (a), b_ = (b);                                                         \
                if (!close_rel(a_, b_, tol))                                                       \
                        fail_msg("%s: %s = %.17g, expected %.17g", case_id, what, a_, b_);         \
        } while (0)

#define assert_abs(a, b, tol, what)                                                                \
        do {                                                                                       \
                double a_ = (a), b_ = (b);                                                         \
                if (!close_abs(a_, b_, tol))                                                       \
                        fail_msg("%s: %s = %.17g, expected %.17g", case_id, what, a_, b_);         \
        } while (0)

static struct mw_params params(double confidence)
{
        return (struct mw_params){
            .confidence = confidence,
            .direction = DIRECTION_EITHER,
            .allowed_increase = 1.0,
            .allowed_decrease = 1.0,
            .critical_increase = 1.0,
            .critical_decrease = 1.0,
            .tolerance = 0.25,
            .min_samples = 1,
        };
}

/* Numbers as the reference writes them: numbers, "NaN" / "Infinity" / "-Infinity", null = NA. */
static double json_num(const cJSON *j)
{
        if (cJSON_IsNumber(j))
                return j->valuedouble;
        if (cJSON_IsString(j)) {
                if (strcmp(j->valuestring, "Infinity") == 0)
                        return HUGE_VAL;
                if (strcmp(j->valuestring, "-Infinity") == 0)
                        return -HUGE_VAL;
        }
        return (double)NAN;
}

static double *json_array(const cJSON *a, size_t *ret_n)
{
        size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
        double *v = xmalloc((n ? n : 1) * sizeof(double));
        const cJSON *e;

        cJSON_ArrayForEach (e, a)
                v[i++] = json_num(e);
        *ret_n = n;
        return v;
}

static cJSON *load_reference(void)
{
        char *text = NULL, *path = NULL;
        size_t len;
        int r = read_file(REFERENCE_REL, 16 << 20, &text, &len);

        if (r < 0 && getenv("CANARYD_SOURCE_DIR")) {
                path = xasprintf("%s/tests/data/" REFERENCE_REL, getenv("CANARYD_SOURCE_DIR"));
                r = read_file(path, 16 << 20, &text, &len);
        }
        if (r < 0)
                fail_msg("cannot read %s: %s", path ? path : REFERENCE_REL, strerror(-r));
        cJSON *root = cJSON_ParseWithLength(text, len);
        assert_non_null(root);
        free(text);
        free(path);
        return root;
}

static double sorted_select(const double *x, size_t n, const double *y, size_t m, uint64_t k);

/* ---- the reference vectors ---------------------------------------------------------------- */

/* The largest deviations from R found, with where (for the closing note). */
struct worst {
        double normal_ci, p_rel, estimate;
        char normal_ci_at[256], p_rel_at[256], estimate_at[256];
        unsigned checked_blocks;
};

static void note(double dev, double *worst, char *at, const char *case_id, const char *what)
{
        if (dev > *worst) {
                *worst = dev;
                snprintf(at, 256, "%.120s %.120s", case_id, what);
        }
}

/* Checks one R result block (default, asymptotic or kayenta_like) against our result. */
static void check_block(const char *case_id, const char *block_name, const cJSON *block,
                        const double *x, size_t n, const double *y, size_t m,
                        enum mw_alternative alt, enum mw_method method, double hl_exact,
                        struct worst *w)
{
        const cJSON *args = cJSON_GetObjectItem(block, "args");
        double conf = cJSON_GetObjectItem(args, "conf.level")->valuedouble;
        struct mw_params p = params(conf);
        struct mw_result r;
        char what[128];

        p.alternative = alt;
        p.method = method;
        assert_int_equal(mann_whitney(x, n, y, m, &p, &r), 0);
        w->checked_blocks++;

        snprintf(what, sizeof(what), "%s u", block_name);
        assert_rel(r.u, json_num(cJSON_GetObjectItem(block, "statistic_W")), 0, what);
        double rp = json_num(cJSON_GetObjectItem(block, "p_value"));
        snprintf(what, sizeof(what), "%s p_value", block_name);
        assert_rel(r.p_value, rp, REL_TOL, what);
        if (!isnan(rp) && rp != r.p_value)
                note(fabs(r.p_value - rp) / fabs(rp), &w->p_rel, w->p_rel_at, case_id, what);
        snprintf(what, sizeof(what), "%s hl_estimate", block_name);
        assert_rel(r.hl_estimate, hl_exact, BIT_EXACT, what);

        const char *rmethod = cJSON_GetObjectItem(block, "method")->valuestring;
        bool r_exact = strstr(rmethod, "exact") != NULL;
        if (r.exact != r_exact)
                fail_msg("%s: %s: exact=%d but R used \"%s\"", case_id, block_name, r.exact,
                         rmethod);

        if (cJSON_GetObjectItem(block, "error")) {
                /* R cannot build an interval when every difference is equal (all tied after the
                 * shift); we report the degenerate interval of the differences. */
                assert_true(r.ci_low == r.hl_estimate && r.ci_high == r.hl_estimate);
                return;
        }
        const cJSON *ci = cJSON_GetObjectItem(block, "conf_int");
        double lo = json_num(cJSON_GetArrayItem(ci, 0)), hi = json_num(cJSON_GetArrayItem(ci, 1));
        if (r_exact) {
                snprintf(what, sizeof(what), "%s ci_low", block_name);
                assert_rel(r.ci_low, lo, BIT_EXACT, what);
                snprintf(what, sizeof(what), "%s ci_high", block_name);
                assert_rel(r.ci_high, hi, BIT_EXACT, what);
                snprintf(what, sizeof(what), "%s estimate", block_name);
                assert_rel(r.hl_estimate, json_num(cJSON_GetObjectItem(block, "estimate")),
                           BIT_EXACT, what);
                return;
        }
        snprintf(what, sizeof(what), "%s ci_low", block_name);
        assert_abs(r.ci_low, lo, ROOT_TOL, what);
        if (isfinite(lo))
                note(fabs(r.ci_low - lo), &w->normal_ci, w->normal_ci_at, case_id, what);
        snprintf(what, sizeof(what), "%s ci_high", block_name);
        assert_abs(r.ci_high, hi, ROOT_TOL, what);
        if (isfinite(hi))
                note(fabs(r.ci_high - hi), &w->normal_ci, w->normal_ci_at, case_id, what);

        /* R's estimate is a root of the uncorrected statistic: anywhere in the middle gap of
         * the sorted differences, within the root tolerance. */
        uint64_t nm = (uint64_t)n * m;
        double est = json_num(cJSON_GetObjectItem(block, "estimate"));
        double d_lo = sorted_select(x, n, y, m, nm % 2 ? (nm + 1) / 2 : nm / 2);
        double d_hi = sorted_select(x, n, y, m, nm % 2 ? (nm + 1) / 2 : nm / 2 + 1);
        if (!(est >= d_lo - ROOT_TOL && est <= d_hi + ROOT_TOL))
                fail_msg("%s: %s R estimate %.17g outside [%.17g, %.17g]", case_id, block_name, est,
                         d_lo, d_hi);
        /* Not an error: R's root may sit anywhere in that gap, ours is its midpoint. */
        snprintf(what, sizeof(what), "%s estimate", block_name);
        note(fabs(r.hl_estimate - est), &w->estimate, w->estimate_at, case_id, what);
}

static void reference_vectors(void **state)
{
        cJSON *root = load_reference();
        const cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
        struct worst w = {0};
        unsigned n_cases = 0;

        assert_true(cJSON_GetArraySize(cases) >= 20);
        cJSON_ArrayForEach (c, cases) {
                const char *case_id = cJSON_GetObjectItem(c, "id")->valuestring;
                const char *alt_s = cJSON_GetObjectItem(c, "alternative")->valuestring;
                enum mw_alternative alt = strcmp(alt_s, "greater") == 0 ? MW_GREATER
                                          : strcmp(alt_s, "less") == 0  ? MW_LESS
                                                                        : MW_TWO_SIDED;
                size_t n, m;
                double *x = json_array(cJSON_GetObjectItem(c, "x"), &n);
                double *y = json_array(cJSON_GetObjectItem(c, "y"), &m);
                const cJSON *r = cJSON_GetObjectItem(c, "r");
                double hl = json_num(cJSON_GetObjectItem(r, "hl_median_of_differences"));
                const cJSON *b;

                n_cases++;
                check_block(case_id, "default", cJSON_GetObjectItem(r, "default"), x, n, y, m, alt,
                            MW_METHOD_AUTO, hl, &w);
                check_block(case_id, "asymptotic", cJSON_GetObjectItem(r, "asymptotic"), x, n, y, m,
                            alt, MW_METHOD_ASYMPTOTIC, hl, &w);
                b = cJSON_GetObjectItem(r, "kayenta_like");
                if (cJSON_IsObject(b))
                        check_block(case_id, "kayenta_like", b, x, n, y, m, alt,
                                    MW_METHOD_ASYMPTOTIC, hl, &w);

                /* scipy's U1 is the same statistic. */
                struct mw_params p = params(0.95);
                struct mw_result res;
                p.alternative = alt;
                assert_int_equal(mann_whitney(x, n, y, m, &p, &res), 0);
                const cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "scipy"), "auto");
                assert_rel(res.u, json_num(cJSON_GetObjectItem(s, "U1")), 0, "scipy U1");
                free(x);
                free(y);
        }
        print_message("%u cases, %u R blocks; largest deviations from R: p-value %.3g relative "
                      "(%s); normal-path interval end %.3g absolute (%s); normal-path estimate "
                      "%.3g absolute (%s); exact path: none (bit for bit)\n",
                      n_cases, w.checked_blocks, w.p_rel, w.p_rel_at, w.normal_ci, w.normal_ci_at,
                      w.estimate, w.estimate_at);
        cJSON_Delete(root);
}

/* ---- independent checks ------------------------------------------------------------------- */

/* The k-th difference by materialising and sorting them all (equal infinities differ by 0). */
static double sorted_select(const double *x, size_t n, const double *y, size_t m, uint64_t k)
{
        double *d = xmalloc(n * m * sizeof(double));
        size_t t = 0;

        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < m; j++)
                        d[t++] = x[i] == y[j] ? 0.0 : x[i] - y[j];
        qsort(d, t, sizeof(double), cmp_double);
        double v = d[k - 1];
        free(d);
        return v;
}

static uint64_t lcg_state = 42;
static uint32_t lcg(void)
{
        lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return (uint32_t)(lcg_state >> 33);
}

static void select_matches_sorting(void **state)
{
        static const double special[] = {HUGE_VAL, -HUGE_VAL, 0.0, -0.0, 1e308, -1e308, 0.1};

        for (int round = 0; round < 400; round++) {
                size_t n = 1 + lcg() % 9, m = 1 + lcg() % 9;
                double x[9], y[9];
                for (size_t i = 0; i < n; i++)
                        x[i] = lcg() % 10 == 0 ? special[lcg() % ELEMENTSOF(special)]
                                               : (double)(lcg() % 7) * 0.3 - 1.0;
                for (size_t j = 0; j < m; j++)
                        y[j] = lcg() % 10 == 0 ? special[lcg() % ELEMENTSOF(special)]
                                               : (double)(lcg() % 7) * 0.3 - 1.0;
                qsort(x, n, sizeof(double), cmp_double);
                qsort(y, m, sizeof(double), cmp_double);
                for (uint64_t k = 1; k <= n * m; k++) {
                        double want = sorted_select(x, n, y, m, k);
                        double got = mw_diff_select(x, n, y, m, k);
                        if (!(got == want || (isnan(got) && isnan(want))))
                                fail_msg("n=%zu m=%zu k=%lu: got %.17g want %.17g", n, m,
                                         (unsigned long)k, got, want);
                }
        }
        double one = 1;
        assert_true(isnan(mw_diff_select(&one, 1, &one, 1, 0)));
        assert_true(isnan(mw_diff_select(&one, 1, &one, 1, 2)));
        assert_true(isnan(mw_diff_select(NULL, 0, &one, 1, 1)));
}

/* Exact p-values against a brute-force enumeration of all C(10, 4) rank assignments. */
static void exact_p_matches_enumeration(void **state)
{
        enum { N = 10, NX = 4 };
        double hist[NX * (N - NX) + 1] = {0}, total = 0;

        for (unsigned mask = 0; mask < 1u << N; mask++) {
                if (__builtin_popcount(mask) != NX)
                        continue;
                unsigned u = 0, below = 0;
                for (unsigned r = 0; r < N; r++) {
                        if (mask & (1u << r))
                                u += below;
                        else
                                below++;
                }
                hist[u]++;
                total++;
        }
        for (unsigned mask = 0; mask < 1u << N; mask++) {
                if (__builtin_popcount(mask) != NX)
                        continue;
                double x[NX], y[N - NX];
                size_t nx = 0, ny = 0;
                for (unsigned r = 0; r < N; r++) {
                        if (mask & (1u << r))
                                x[nx++] = r + 1;
                        else
                                y[ny++] = r + 1;
                }
                struct mw_params p = params(0.95);
                struct mw_result res;
                assert_int_equal(mann_whitney(x, nx, y, ny, &p, &res), 0);
                assert_true(res.exact);
                double le = 0, ge = 0;
                for (unsigned u = 0; u <= NX * (N - NX); u++) {
                        if (u <= res.u)
                                le += hist[u];
                        if (u >= res.u)
                                ge += hist[u];
                }
                double want = fmin(1, 2 * fmin(le, ge) / total);
                const char *case_id = "enumeration";
                assert_rel(res.p_value, want, 1e-14, "p_value");
        }
}

/* ---- classification ----------------------------------------------------------------------- */

static void shifted(double *c, double *b, size_t n, double shift)
{
        for (size_t i = 0; i < n; i++) {
                b[i] = 100 + (double)((i * 37) % 61);
                c[i] = b[i] + shift + 0.001 * (double)i;
        }
}

static enum mw_class classify_with(const double *c, const double *b, size_t n, struct mw_params p)
{
        struct mw_result r;
        assert_int_equal(mann_whitney(c, n, b, n, &p, &r), 0);
        return r.classification;
}

static void classification_rules(void **state)
{
        double c[30], b[30];
        struct mw_params p = params(0.98);

        shifted(c, b, 30, 20);
        p.direction = DIRECTION_INCREASE;
        assert_int_equal(classify_with(c, b, 30, p), MW_HIGH);
        p.direction = DIRECTION_EITHER;
        assert_int_equal(classify_with(c, b, 30, p), MW_HIGH);
        p.direction = DIRECTION_DECREASE;
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);
        /* The effect-size gate: mean ratio ~1.15 is below an allowed increase of 1.5. */
        p.direction = DIRECTION_INCREASE;
        p.allowed_increase = 1.5;
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);
        p.allowed_increase = 1.1;
        assert_int_equal(classify_with(c, b, 30, p), MW_HIGH);
        /* The interval must clear tolerance * |estimate|. */
        p.tolerance = 5;
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);
        p.tolerance = 0.25;
        /* Too few samples. */
        p.min_samples = 31;
        struct mw_result r;
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_NODATA);
        assert_true(r.ci_low > 0 && r.p_value < 0.01); /* numbers are still computed */
        p.min_samples = 30;
        assert_int_equal(classify_with(c, b, 30, p), MW_HIGH);

        shifted(c, b, 30, -20);
        p.direction = DIRECTION_DECREASE;
        assert_int_equal(classify_with(c, b, 30, p), MW_LOW);
        p.direction = DIRECTION_EITHER;
        assert_int_equal(classify_with(c, b, 30, p), MW_LOW);
        p.direction = DIRECTION_INCREASE;
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);
        p.direction = DIRECTION_EITHER;
        p.allowed_decrease = 0.5;
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);

        /* No change: same multiset of values. */
        p = params(0.98);
        for (size_t i = 0; i < 30; i++)
                c[i] = b[29 - i];
        assert_int_equal(classify_with(c, b, 30, p), MW_PASS);

        assert_string_equal(mw_class_to_string(MW_PASS), "Pass");
        assert_string_equal(mw_class_to_string(MW_HIGH), "High");
        assert_string_equal(mw_class_to_string(MW_LOW), "Low");
        assert_string_equal(mw_class_to_string(MW_NODATA), "NoData");
        assert_null(mw_class_to_string(_MW_CLASS_MAX));
}

/* A mean of 0 makes the ratio undefined, which Kayenta treats as passing the effect gate. */
static void undefined_mean_ratio(void **state)
{
        double c[20], b[20];
        struct mw_params p = params(0.95);
        struct mw_result r;

        for (size_t i = 0; i < 20; i++) {
                b[i] = (double)i - 9.5; /* mean 0 */
                c[i] = b[i] + 30;
        }
        p.allowed_increase = 100;
        assert_int_equal(mann_whitney(c, 20, b, 20, &p, &r), 0);
        assert_true(isnan(r.mean_ratio));
        assert_int_equal(r.classification, MW_HIGH);
}

/* ---- edge cases --------------------------------------------------------------------------- */

static void all_tied(void **state)
{
        double v[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
        struct mw_params p = params(0.95);
        struct mw_result r;

        assert_int_equal(mann_whitney(v, 10, v, 10, &p, &r), 0);
        assert_false(r.exact);
        assert_true(r.u == 50);
        assert_true(isnan(r.p_value)); /* as R: sigma = 0 */
        assert_true(r.hl_estimate == 0 && r.ci_low == 0 && r.ci_high == 0);
        assert_true(r.mean_ratio == 1);
        assert_int_equal(r.classification, MW_PASS);
}

static void constant_but_different(void **state)
{
        double c[20], b[20];
        struct mw_params p = params(0.95);
        struct mw_result r;

        for (size_t i = 0; i < 20; i++)
                c[i] = 1, b[i] = 2;
        assert_int_equal(mann_whitney(c, 20, b, 20, &p, &r), 0);
        assert_true(r.u == 0);
        assert_true(r.hl_estimate == -1 && r.ci_low == -1 && r.ci_high == -1);
        assert_int_equal(r.classification, MW_LOW);
        p.direction = DIRECTION_INCREASE;
        assert_int_equal(mann_whitney(c, 20, b, 20, &p, &r), 0);
        assert_int_equal(r.classification, MW_PASS);
}

static void one_value_each(void **state)
{
        double c[] = {3}, b[] = {1, 2}, one = 1;
        struct mw_params p = params(0.95);
        struct mw_result r;
        const char *case_id = "1v2";

        assert_int_equal(mann_whitney(c, 1, b, 2, &p, &r), 0);
        assert_true(r.exact);
        assert_true(r.u == 2);
        assert_rel(r.p_value, 2.0 / 3.0, 1e-15, "p");
        assert_true(r.hl_estimate == 1.5 && r.ci_low == 1 && r.ci_high == 2);

        assert_int_equal(mann_whitney(&one, 1, &one, 1, &p, &r), 0);
        assert_true(r.u == 0.5 && isnan(r.p_value) && r.hl_estimate == 0);
        assert_int_equal(r.classification, MW_PASS);
}

static void empty_samples(void **state)
{
        double b[] = {1, 2, 3};
        struct mw_params p = params(0.95);
        struct mw_result r;

        assert_int_equal(mann_whitney(NULL, 0, b, 3, &p, &r), 0);
        assert_int_equal(r.n_canary, 0);
        assert_int_equal(r.n_baseline, 3);
        assert_int_equal(r.classification, MW_NODATA);
        assert_true(isnan(r.u) && isnan(r.p_value) && isnan(r.hl_estimate) && isnan(r.ci_low) &&
                    isnan(r.ci_high) && isnan(r.mean_ratio));
        assert_int_equal(mann_whitney(b, 3, NULL, 0, &p, &r), 0);
        assert_int_equal(r.classification, MW_NODATA);
        assert_int_equal(mann_whitney(NULL, 0, NULL, 0, &p, &r), 0);
        assert_int_equal(r.classification, MW_NODATA);
        p.min_samples = 0; /* still no data: nothing to compare */
        assert_int_equal(mann_whitney(NULL, 0, b, 3, &p, &r), 0);
        assert_int_equal(r.classification, MW_NODATA);
}

static void nan_removed(void **state)
{
        double c[] = {1.5, 2.5, 3.5, 4.5, 9.5}, b[] = {1, 2, 3};
        double cn[] = {(double)NAN, 1.5, 2.5, (double)NAN, 3.5, 4.5, 9.5, (double)NAN},
               bn[] = {1, (double)NAN, 2, 3};
        double all_nan[] = {(double)NAN, (double)NAN};
        struct mw_params p = params(0.95);
        struct mw_result r1, r2;

        assert_int_equal(mann_whitney(c, 5, b, 3, &p, &r1), 0);
        assert_int_equal(mann_whitney(cn, 8, bn, 4, &p, &r2), 0);
        assert_int_equal(r2.n_canary, 5);
        assert_int_equal(r2.n_baseline, 3);
        assert_true(r1.u == r2.u && r1.p_value == r2.p_value && r1.exact == r2.exact);
        assert_true(r1.hl_estimate == r2.hl_estimate && r1.ci_low == r2.ci_low &&
                    r1.ci_high == r2.ci_high && r1.mean_ratio == r2.mean_ratio);
        assert_int_equal(r1.classification, r2.classification);

        assert_int_equal(mann_whitney(all_nan, 2, b, 3, &p, &r1), 0);
        assert_int_equal(r1.n_canary, 0);
        assert_int_equal(r1.classification, MW_NODATA);
}

static void infinities(void **state)
{
        double c[] = {1, 2, HUGE_VAL}, b[] = {0.5, 1.5, 2.5};
        struct mw_params p = params(0.95);
        struct mw_result r;

        assert_int_equal(mann_whitney(c, 3, b, 3, &p, &r), 0);
        assert_true(r.exact);
        assert_true(r.u == 6); /* Inf beats every baseline value */
        assert_true(r.p_value > 0 && r.p_value <= 1);
        assert_true(r.ci_high == HUGE_VAL);
        assert_true(isinf(r.mean_ratio));

        /* Equal infinities tie: they differ by 0, and the rank test sees ties. */
        double ci[12], bi[12];
        for (size_t i = 0; i < 12; i++) {
                ci[i] = i < 8 ? HUGE_VAL : (double)i;
                bi[i] = i < 2 ? HUGE_VAL : (double)i;
        }
        assert_int_equal(mann_whitney(ci, 12, bi, 12, &p, &r), 0);
        assert_false(r.exact);
        assert_false(isnan(r.u));
        assert_true(r.p_value < 0.05);
        assert_true(r.ci_low > 0);
        assert_int_equal(r.classification, MW_HIGH);

        double ninf[] = {-HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
        assert_int_equal(mann_whitney(ninf, 3, b, 3, &p, &r), 0);
        assert_true(r.u == 0 && r.hl_estimate == -HUGE_VAL);
        assert_int_equal(r.classification, MW_LOW);
}

static void large_samples(void **state)
{
        enum { N = 3000 };
        double *c = xmalloc(N * sizeof(double)), *b = xmalloc(N * sizeof(double));
        struct mw_params p = params(0.98);
        struct mw_result r;

        for (size_t i = 0; i < N; i++) {
                b[i] = (double)(lcg() % 100000) / 10000.0;
                c[i] = (double)(lcg() % 100000) / 10000.0 + 1.0;
        }
        assert_int_equal(mann_whitney(c, N, b, N, &p, &r), 0);
        assert_false(r.exact);
        assert_true(r.ci_low <= r.hl_estimate && r.hl_estimate <= r.ci_high);
        assert_true(r.ci_low > 0 && r.ci_high < 3); /* true shift is 1 */
        assert_true(r.p_value < 1e-6);
        free(c);
        free(b);
}

static void bad_parameters(void **state)
{
        double v[] = {1, 2, 3};
        struct mw_result r;
        struct mw_params p;

        p = params(0.95);
        assert_int_equal(mann_whitney(v, 3, v, 3, NULL, &r), -EINVAL);
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, NULL), -EINVAL);
        assert_int_equal(mann_whitney(NULL, 3, v, 3, &p, &r), -EINVAL);
        assert_int_equal(mann_whitney(v, 3, NULL, 3, &p, &r), -EINVAL);
        const double bad_conf[] = {0, 1, -0.5, 1.5, (double)NAN, HUGE_VAL};
        for (size_t i = 0; i < ELEMENTSOF(bad_conf); i++) {
                p = params(bad_conf[i]);
                assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        }
        p = params(0.95);
        p.tolerance = -1;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.tolerance = (double)NAN;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.allowed_increase = (double)NAN;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.critical_decrease = (double)NAN;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.effect_size = (enum effect_size)5;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.direction = (enum direction)7;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
        p = params(0.95);
        p.alternative = (enum mw_alternative)9;
        assert_int_equal(mann_whitney(v, 3, v, 3, &p, &r), -EINVAL);
}

/* ---- the fast selection ------------------------------------------------------------------- */

/* Sizes where the windows and sampling rounds run (n m above the collection limit), data with
 * and without ties, zeros and infinities, ranks at the ends, the middle and at random. */
static void fast_select_matches_bisection(void **state)
{
        for (int round = 0; round < 40; round++) {
                size_t n = 1 + lcg() % 1500, m = 1 + lcg() % 1500;
                unsigned mode = lcg() % 4;
                double *x = xmalloc(n * sizeof(double)), *y = xmalloc(m * sizeof(double));
                for (size_t i = 0; i < n + m; i++) {
                        double v;
                        switch (mode) {
                        case 0: /* continuous */
                                v = (double)lcg() / 4294967296.0;
                                break;
                        case 1: /* three values: huge tie blocks */
                                v = (double)(lcg() % 3);
                                break;
                        case 2: /* a grid with infinities */
                                v = lcg() % 10 == 0 ? (lcg() % 2 ? HUGE_VAL : -HUGE_VAL)
                                                    : (double)(lcg() % 50) * 0.1;
                                break;
                        default: /* half zeros */
                                v = lcg() % 2 ? 0.0 : (double)lcg() / 4294967296.0;
                                break;
                        }
                        if (i < n)
                                x[i] = v;
                        else
                                y[i - n] = v;
                }
                qsort(x, n, sizeof(double), cmp_double);
                qsort(y, m, sizeof(double), cmp_double);
                uint64_t nm = (uint64_t)n * m;
                for (int t = 0; t < 6; t++) {
                        uint64_t k = t == 0   ? 1
                                     : t == 1 ? nm
                                     : t == 2 ? (nm + 1) / 2
                                              : 1 + (((uint64_t)lcg() << 32) | lcg()) % nm;
                        double got = mw_diff_select(x, n, y, m, k);
                        double want = mw_diff_select_bisect(x, n, y, m, k);
                        if (!(got == want))
                                fail_msg("mode %u n=%zu m=%zu k=%lu: got %.17g want %.17g", mode, n,
                                         m, (unsigned long)k, got, want);
                }
                free(x);
                free(y);
        }
}

/* n = m = 10^5 (10^10 differences): an O(n m) method would not finish within ctest's timeout;
 * the answer is checked against the known shift. */
static void large_samples_are_not_quadratic(void **state)
{
        enum { N = 100000 };
        double *c = xmalloc(N * sizeof(double)), *b = xmalloc(N * sizeof(double));
        struct mw_params p = params(0.98);
        struct mw_result r;

        for (size_t i = 0; i < N; i++) {
                b[i] = (double)(lcg() % 1000000) / 1000.0;
                c[i] = (double)(lcg() % 1000000) / 1000.0 + 100.0;
        }
        assert_int_equal(mann_whitney(c, N, b, N, &p, &r), 0);
        assert_true(r.ci_low <= r.hl_estimate && r.hl_estimate <= r.ci_high);
        assert_true(r.ci_low > 90 && r.ci_high < 110);
        assert_true(fabs(r.hl_estimate - 100) < 5);
        assert_int_equal(r.classification, MW_HIGH);
        free(c);
        free(b);
}

/* ---- properties --------------------------------------------------------------------------- */

/* Samples on a 1/8 grid of moderate size, so that shifting by a multiple of 1/8 and scaling by
 * a power of two are exact in floating point and the results must match bit for bit. */
static size_t grid_sample(double *v, size_t max, unsigned levels)
{
        size_t n = 1 + lcg() % max;
        for (size_t i = 0; i < n; i++)
                v[i] = (double)(lcg() % levels) / 8.0 - 20.0;
        return n;
}

static void same_result(const struct mw_result *a, const struct mw_result *b)
{
        assert_true(a->u == b->u);
        assert_true(a->p_value == b->p_value || (isnan(a->p_value) && isnan(b->p_value)));
        assert_true(a->hl_estimate == b->hl_estimate);
        assert_true(a->ci_low == b->ci_low && a->ci_high == b->ci_high);
        assert_int_equal(a->classification, b->classification);
}

static void properties(void **state)
{
        enum { MAX = 400 };
        double x[MAX], y[MAX], t[MAX], u[MAX];

        for (int round = 0; round < 300; round++) {
                /* Small (exact path) and larger (normal path) samples, few or many ties. */
                size_t cap = round % 3 == 0 ? 12 : round % 3 == 1 ? 45 : MAX;
                unsigned levels = round % 2 ? 40 : 100000;
                size_t n = grid_sample(x, cap, levels), m = grid_sample(y, cap, levels);
                uint64_t nm = (uint64_t)n * m;
                struct mw_params p = params(round % 5 == 0 ? 0.9 : 0.98);
                struct mw_result r, s;
                const char *case_id = "properties";

                assert_int_equal(mann_whitney(x, n, y, m, &p, &r), 0);
                assert_true(r.ci_low <= r.hl_estimate && r.hl_estimate <= r.ci_high);
                assert_true(r.cles == r.u / (double)nm);

                /* U(x, y) + U(y, x) = n m; swapping negates the estimate, mirrors the interval
                 * and keeps the two-sided p-value. */
                assert_int_equal(mann_whitney(y, m, x, n, &p, &s), 0);
                assert_true(r.u + s.u == (double)nm);
                assert_true(s.hl_estimate == -r.hl_estimate);
                assert_true(s.ci_low == -r.ci_high && s.ci_high == -r.ci_low);
                assert_rel(s.p_value, r.p_value, 1e-12, "swapped p_value");

                /* Shifting the canary by c shifts estimate and interval by c (with one null
                 * distribution: a shift can create or remove ties between the arms, which
                 * switches R's default between the exact and the normal path). */
                double c = (double)((int)(lcg() % 81) - 40) / 8.0;
                for (size_t i = 0; i < n; i++)
                        t[i] = x[i] + c;
                assert_int_equal(mann_whitney(t, n, y, m, &p, &s), 0);
                assert_true(s.hl_estimate == r.hl_estimate + c);
                if (s.exact == r.exact)
                        assert_true(s.ci_low == r.ci_low + c && s.ci_high == r.ci_high + c);
                struct mw_params pa = p;
                struct mw_result ra;
                pa.method = MW_METHOD_ASYMPTOTIC;
                assert_int_equal(mann_whitney(x, n, y, m, &pa, &ra), 0);
                assert_int_equal(mann_whitney(t, n, y, m, &pa, &s), 0);
                assert_true(s.ci_low == ra.ci_low + c && s.ci_high == ra.ci_high + c);

                /* Scaling both arms by s > 0 scales everything (power of two: exactly; 3: to
                 * rounding) and keeps U and p. */
                for (size_t i = 0; i < n; i++)
                        t[i] = x[i] * 4;
                for (size_t j = 0; j < m; j++)
                        u[j] = y[j] * 4;
                assert_int_equal(mann_whitney(t, n, u, m, &p, &s), 0);
                assert_true(s.u == r.u && s.p_value == r.p_value);
                assert_true(s.hl_estimate == 4 * r.hl_estimate);
                assert_true(s.ci_low == 4 * r.ci_low && s.ci_high == 4 * r.ci_high);
                for (size_t i = 0; i < n; i++)
                        t[i] = x[i] * 3;
                for (size_t j = 0; j < m; j++)
                        u[j] = y[j] * 3;
                assert_int_equal(mann_whitney(t, n, u, m, &p, &s), 0);
                assert_true(s.u == r.u && s.p_value == r.p_value);
                assert_rel(s.ci_low, 3 * r.ci_low, 1e-14, "scaled ci_low");
                assert_rel(s.ci_high, 3 * r.ci_high, 1e-14, "scaled ci_high");
                assert_rel(s.hl_estimate, 3 * r.hl_estimate, 1e-14, "scaled estimate");

                /* Input order does not matter. */
                memcpy(t, x, n * sizeof(double));
                memcpy(u, y, m * sizeof(double));
                for (size_t i = n; i > 1; i--) {
                        size_t j = lcg() % i;
                        double z = t[i - 1];
                        t[i - 1] = t[j];
                        t[j] = z;
                }
                for (size_t i = m; i > 1; i--) {
                        size_t j = lcg() % i;
                        double z = u[i - 1];
                        u[i - 1] = u[j];
                        u[j] = z;
                }
                assert_int_equal(mann_whitney(t, n, u, m, &p, &s), 0);
                same_result(&r, &s);
        }
}

/* ---- effect sizes and critical bounds ------------------------------------------------------ */

/* CLES = U / (n m) at sizes where Kayenta's 32-bit products n (n + 1) and 2 n m overflow. */
static void cles_without_overflow(void **state)
{
        enum { N = 50000, M = 60000 };
        double *c = xmalloc(N * sizeof(double)), *b = xmalloc(M * sizeof(double));
        struct mw_params p = params(0.98);
        struct mw_result r;
        const char *case_id = "cles";

        p.effect_size = EFFECT_SIZE_CLES;
        p.allowed_increase = p.critical_increase = 0.5;
        p.allowed_decrease = p.critical_decrease = 0.5;
        /* Canary i/N, baseline j/M - 0.25: P(c > b) + P(c = b) / 2 computed independently. */
        for (size_t i = 0; i < N; i++)
                c[i] = (double)i / N;
        for (size_t j = 0; j < M; j++)
                b[j] = (double)j / M - 0.25;
        assert_int_equal(mann_whitney(c, N, b, M, &p, &r), 0);
        long double pairs = 0;
        size_t j = 0;
        for (size_t i = 0; i < N; i++) { /* b ascending: count b below and equal to c_i */
                while (j < M && b[j] < c[i])
                        j++;
                size_t eq = 0;
                while (j + eq < M && b[j + eq] == c[i])
                        eq++;
                pairs += (long double)j + 0.5L * (long double)eq;
        }
        double want = (double)(pairs / ((long double)N * M));
        assert_true(r.u == (double)pairs);
        assert_rel(r.cles, want, 1e-15, "cles");
        assert_rel(r.effect, r.cles, 0, "effect");
        assert_true(r.cles > 0.5 && r.cles < 1);
        assert_int_equal(r.classification, MW_HIGH);
        assert_true(r.critical);
        /* A CLES gate above the observed value keeps it a Pass. */
        p.allowed_increase = 0.99;
        p.critical_increase = 0.99;
        assert_int_equal(mann_whitney(c, N, b, M, &p, &r), 0);
        assert_int_equal(r.classification, MW_PASS);
        assert_string_equal(effect_size_to_string(EFFECT_SIZE_CLES), "cles");
        assert_string_equal(effect_size_to_string(EFFECT_SIZE_MEAN_RATIO), "mean_ratio");
        assert_null(effect_size_to_string(_EFFECT_SIZE_MAX));
        free(c);
        free(b);
}

static void critical_bounds(void **state)
{
        double c[30], b[30];
        struct mw_params p = params(0.98);
        struct mw_result r;

        shifted(c, b, 30, 20); /* mean ratio ~1.15 */
        p.direction = DIRECTION_EITHER;
        p.critical_increase = 1.1;
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_HIGH);
        assert_true(r.critical);
        p.critical_increase = 1.5; /* a High, but below the critical effect */
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_HIGH);
        assert_false(r.critical);

        shifted(c, b, 30, -20); /* mean ratio ~0.85 */
        p.critical_decrease = 0.9;
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_LOW);
        assert_true(r.critical);
        p.critical_decrease = 0.5;
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_LOW);
        assert_false(r.critical);

        /* A Pass is never critical. */
        for (size_t i = 0; i < 30; i++)
                c[i] = b[29 - i];
        assert_int_equal(mann_whitney(c, 30, b, 30, &p, &r), 0);
        assert_int_equal(r.classification, MW_PASS);
        assert_false(r.critical);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(reference_vectors),
            cmocka_unit_test(select_matches_sorting),
            cmocka_unit_test(exact_p_matches_enumeration),
            cmocka_unit_test(classification_rules),
            cmocka_unit_test(undefined_mean_ratio),
            cmocka_unit_test(all_tied),
            cmocka_unit_test(constant_but_different),
            cmocka_unit_test(one_value_each),
            cmocka_unit_test(empty_samples),
            cmocka_unit_test(nan_removed),
            cmocka_unit_test(infinities),
            cmocka_unit_test(large_samples),
            cmocka_unit_test(bad_parameters),
            cmocka_unit_test(fast_select_matches_bisection),
            cmocka_unit_test(large_samples_are_not_quadratic),
            cmocka_unit_test(properties),
            cmocka_unit_test(cles_without_overflow),
            cmocka_unit_test(critical_bounds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
