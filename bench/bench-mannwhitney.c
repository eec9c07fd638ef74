/* Benchmark of mann_whitney() (src/core/mannwhitney.c): n = 100, 1000, 10000 values per arm of
 * latency-like data (log-normal-ish, rounded to 0.1 ms so there are ties, canary 3% slower).
 * Also 49 per arm without ties: the slowest exact-path case. Prints the median wall time of
 * repeated runs. Not built by CMake; see bench/README.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "canaryd/mannwhitney.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static int round_values = 1;

static double latency_ms(double scale)
{
        double z = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
        double v = scale * 20 * exp(0.4 * z);
        return round_values ? round(10 * v) / 10 : v;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

int main(void)
{
        /* 49 per arm without ties is R's largest exact-path case (null distribution by DP). */
        static const size_t sizes[] = {49, 100, 1000, 10000};
        const struct mw_params p = {
            .confidence = 0.98,
            .direction = DIRECTION_INCREASE,
            .allowed_increase = 1.0,
            .allowed_decrease = 1.0,
            .tolerance = 0.25,
            .min_samples = 10,
        };

        printf("%8s %6s %12s %12s %10s %s\n", "n/arm", "runs", "median_ms", "min_ms", "p_value",
               "class");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t n = sizes[s];
                round_values = n != 49;
                int runs = n >= 10000 ? 21 : 101;
                double *c = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
                double *t = malloc((size_t)runs * sizeof(double));
                struct mw_result r = {0};
                if (!c || !b || !t)
                        return 1;
                for (size_t i = 0; i < n; i++) {
                        b[i] = latency_ms(1.0);
                        c[i] = latency_ms(1.03);
                }
                for (int k = 0; k < runs; k++) {
                        double t0 = now_s();
                        if (mann_whitney(c, n, b, n, &p, &r) < 0)
                                return 1;
                        t[k] = now_s() - t0;
                }
                qsort(t, (size_t)runs, sizeof(double), cmp_double);
                printf("%8zu %6d %12.3f %12.3f %10.3g %s\n", n, runs, t[runs / 2] * 1e3, t[0] * 1e3,
                       r.p_value, mw_class_to_string(r.classification));
                free(c);
                free(b);
                free(t);
        }
        return 0;
}
