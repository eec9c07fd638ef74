/* Benchmark of the full mann_whitney judge (src/core/mannwhitney.c: rank test, p-value,
 * Hodges-Lehmann estimate and interval, effect size, classification) for n = m = 10^4, 10^5 and
 * 10^6 values per arm of latency-like data (log-normal, canary 3% slower; once continuous, the
 * hardest case for the selection, once rounded to 0.01 ms, with ties as real metrics have them),
 * printing beside it, in the same run, the time of one qsort() of the pooled
 * 2n values. Median of 5 runs each (--runs N to change). Also the largest exact-path case (49
 * per arm, no ties). `--exact`: the exact path alone (no ties, both arms below 50), microseconds
 * a call for a few sizes, each the median over runs of 200 calls. Not a test: built by CMake
 * (target bench-mannwhitney) so that it keeps compiling, run by hand; see bench/README.md. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canaryd/mannwhitney.h"
#include "canaryd/util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double latency_ms(double scale, int rounded)
{
        double z = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
        double v = scale * 20 * exp(0.4 * z);
        return rounded ? round(100 * v) / 100 : v;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double median(double *t, int runs)
{
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        return t[runs / 2];
}

/* The exact path: the null distribution of U for (n, m), p-value, estimate and interval. */
static int exact_rows(int runs, const struct mw_params *p)
{
        static const size_t sizes[][2] = {{5, 5},   {10, 10}, {10, 49}, {20, 20},
                                          {30, 30}, {40, 40}, {49, 49}};
        enum { CALLS = 200 };
        double *t = malloc((size_t)runs * sizeof(double)), c[49], b[49];
        struct mw_result r = {0};

        if (!t)
                return 1;
        printf("exact path: median of %d runs of %d calls\n%5s %5s %10s %10s %s\n", runs, CALLS,
               "n", "m", "us/call", "p_value", "class");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t n = sizes[s][0], m = sizes[s][1];
                for (size_t i = 0; i < n; i++)
                        c[i] = latency_ms(1.03, 0);
                for (size_t j = 0; j < m; j++)
                        b[j] = latency_ms(1.0, 0);
                for (int k = 0; k < runs; k++) {
                        double t0 = now_s();
                        for (int call = 0; call < CALLS; call++)
                                if (mann_whitney(c, n, b, m, p, &r) < 0 || !r.exact)
                                        return 1;
                        t[k] = (now_s() - t0) / CALLS;
                }
                printf("%5zu %5zu %10.1f %10.3g %s\n", n, m, median(t, runs) * 1e6, r.p_value,
                       mw_class_to_string(r.classification));
        }
        free(t);
        return 0;
}

int main(int argc, char **argv)
{
        static const size_t sizes[] = {49, 10000, 10000, 100000, 100000, 1000000, 1000000};
        int runs = 5;
        struct mw_params p = {
            .confidence = 0.98,
            .direction = DIRECTION_INCREASE,
            .allowed_increase = 1.0,
            .allowed_decrease = 1.0,
            .critical_increase = 1.0,
            .critical_decrease = 1.0,
            .tolerance = 0.25,
            .min_samples = 10,
            .effect_size = EFFECT_SIZE_MEAN_RATIO,
        };

        bool exact = argc > 1 && strcmp(argv[1], "--exact") == 0;
        if (exact) {
                argc--;
                argv++;
        }
        if (argc == 3 && strcmp(argv[1], "--runs") == 0)
                runs = atoi(argv[2]);
        else if (argc != 1)
                runs = 0;
        if (runs < 1 || runs > 1000) {
                fprintf(stderr, "usage: bench-mannwhitney [--exact] [--runs N]\n");
                return 2;
        }
        if (exact)
                return exact_rows(runs, &p);
        printf("median of %d runs; judge = mann_whitney() (test + estimate + interval + effect "
               "size), qsort = one qsort() of the pooled 2n doubles\n",
               runs);
        printf("%9s %6s %5s %10s %10s %7s %9s %10s %s\n", "n=m", "path", "ties", "judge_ms",
               "qsort_ms", "ratio", "cles_ms", "p_value", "class");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t n = sizes[s];
                int rounded = n != 49 && sizes[s - 1] == n; /* each size twice: then with ties */
                double *c = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
                double *pool = malloc(2 * n * sizeof(double));
                double *tj = malloc((size_t)runs * sizeof(double));
                double *tc = malloc((size_t)runs * sizeof(double));
                double *tq = malloc((size_t)runs * sizeof(double));
                struct mw_result r = {0};
                if (!c || !b || !pool || !tj || !tc || !tq)
                        return 1;
                for (size_t i = 0; i < n; i++) {
                        b[i] = latency_ms(1.0, rounded);
                        c[i] = latency_ms(1.03, rounded);
                }
                for (int k = 0; k < runs; k++) {
                        double t0 = now_s();
                        p.effect_size = EFFECT_SIZE_MEAN_RATIO;
                        p.allowed_increase = p.critical_increase = 1.0;
                        p.allowed_decrease = p.critical_decrease = 1.0;
                        if (mann_whitney(c, n, b, n, &p, &r) < 0)
                                return 1;
                        tj[k] = now_s() - t0;

                        t0 = now_s();
                        p.effect_size = EFFECT_SIZE_CLES; /* Kayenta's cles bounds */
                        p.allowed_increase = p.critical_increase = 0.5;
                        p.allowed_decrease = p.critical_decrease = 0.5;
                        struct mw_result rc;
                        if (mann_whitney(c, n, b, n, &p, &rc) < 0)
                                return 1;
                        tc[k] = now_s() - t0;

                        memcpy(pool, c, n * sizeof(double));
                        memcpy(pool + n, b, n * sizeof(double));
                        t0 = now_s();
                        qsort(pool, 2 * n, sizeof(double), cmp_double);
                        tq[k] = now_s() - t0;
                }
                double mj = median(tj, runs), mq = median(tq, runs), mc = median(tc, runs);
                printf("%9zu %6s %5s %10.3f %10.3f %7.2f %9.3f %10.3g %s\n", n,
                       r.exact ? "exact" : "normal", rounded ? "yes" : "no", mj * 1e3, mq * 1e3,
                       mj / mq, mc * 1e3, r.p_value, mw_class_to_string(r.classification));
                free(c);
                free(b);
                free(pool);
                free(tj);
                free(tc);
                free(tq);
        }
        return 0;
}
