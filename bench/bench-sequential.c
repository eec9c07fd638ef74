/* bench-sequential: the sequential judge offline on bench/quality's data, in seconds instead of
 * the daemon's minutes. Each rollout is per-arm AR(1) noise (marginal sd 10 around a level of
 * 100, the sandbox's series), optionally a load component shared by both arms (sd 10, phi 0.9)
 * and a canary-only relative shift; four steps of --points pairs at the canary shares 10, 25,
 * 50 and 75 %, looked at every --every pairs (the daemon's cadence; bench/quality looks once a
 * step). A rollout fails at its first look with e >= 1/alpha. Printed per scenario: the share
 * failed and the mean step of failure (bench/quality --bound gives what no judge can beat).
 *
 *   bench-sequential [--runs N] [--points N] [--every N] [--alpha A] [--prior-g G] [--seed S]
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/sequential.h"
#include "sim-rng.h"

struct scenario {
        const char *name;
        double phi, shift;
        int shared;
};

static const struct scenario scenarios[] = {
    {"healthy-iid", 0, 0, 0},           {"healthy-iid-shared", 0, 0, 1},
    {"healthy-ar05", 0.5, 0, 0},        {"healthy-ar05-shared", 0.5, 0, 1},
    {"healthy-ar08", 0.8, 0, 0},        {"healthy-ar08-shared", 0.8, 0, 1},
    {"benign-2pct-ar05", 0.5, 0.02, 0}, {"shift-5pct-iid", 0, 0.05, 0},
    {"shift-5pct-ar05", 0.5, 0.05, 0},  {"shift-10pct-iid", 0, 0.10, 0},
    {"shift-10pct-ar05", 0.5, 0.10, 0}, {"shift-30pct-ar05", 0.5, 0.30, 0},
};

#define STEPS 4
static const double step_share[STEPS] = {0.10, 0.25, 0.50, 0.75};

static void simulate(struct rng *r, const struct scenario *s, size_t n, double *c, double *b)
{
        double q = sqrt(1 - s->phi * s->phi), ec = rng_normal(r), eb = rng_normal(r),
               sh = rng_normal(r);
        for (size_t i = 0; i < n; i++) {
                if (i) {
                        ec = s->phi * ec + q * rng_normal(r);
                        eb = s->phi * eb + q * rng_normal(r);
                        sh = 0.9 * sh + sqrt(1 - 0.81) * rng_normal(r);
                }
                double load = s->shared ? 10 * sh : 0;
                c[i] = 100 * (1 + s->shift) + 10 * ec + load;
                b[i] = 100 + 10 * eb + load;
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {{"runs", required_argument, NULL, 'r'},
                                             {"points", required_argument, NULL, 'p'},
                                             {"every", required_argument, NULL, 'e'},
                                             {"alpha", required_argument, NULL, 'a'},
                                             {"prior-g", required_argument, NULL, 'g'},
                                             {"seed", required_argument, NULL, 's'},
                                             {NULL, 0, NULL, 0}};
        size_t runs = 2000, points = 20, every = 0;
        uint64_t seed = 1;
        struct seq_params p;
        int o;

        seq_params_default(&p);
        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (o) {
                case 'r':
                        runs = strtoul(optarg, NULL, 10);
                        break;
                case 'p':
                        points = strtoul(optarg, NULL, 10);
                        break;
                case 'e':
                        every = strtoul(optarg, NULL, 10);
                        break;
                case 'a':
                        p.alpha = strtod(optarg, NULL);
                        break;
                case 'g':
                        p.prior_g = strtod(optarg, NULL);
                        break;
                case 's':
                        seed = strtoull(optarg, NULL, 10);
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s [--runs N] [--points N] [--every N] [--alpha A] "
                                "[--prior-g G] [--seed S]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (!runs || !points || optind < argc) {
                fprintf(stderr, "%s: --runs and --points must be positive numbers\n", argv[0]);
                return 2;
        }
        if (!every || every > points)
                every = points;
        size_t n = STEPS * points;
        double *c = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
        double *share = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
                share[i] = step_share[i / points];
        printf("%zu rollouts per scenario, %d steps of %zu pairs, a look every %zu, alpha %g, "
               "prior_g %g\n",
               runs, STEPS, points, every, p.alpha, p.prior_g);
        printf("%-22s %8s %6s\n", "scenario", "failed", "step");
        for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
                const struct scenario *s = &scenarios[k];
                struct rng r = rng_seed(seed * 1000003 + k);
                size_t failed = 0, step_sum = 0;
                for (size_t i = 0; i < runs; i++) {
                        simulate(&r, s, n, c, b);
                        for (size_t m = every; m <= n; m += every) {
                                struct seq_result res;
                                if (seq_judge_pairs(c, b, share, m, &p, &res) < 0) {
                                        fprintf(stderr,
                                                "%s: invalid judge settings "
                                                "(--alpha in (0, 1), --prior-g >= 0)\n",
                                                argv[0]);
                                        return 2;
                                }
                                if (res.classification == SEQ_FAIL) {
                                        failed++;
                                        step_sum += (m - 1) / points + 1;
                                        break;
                                }
                        }
                }
                char step[16] = "-";
                if (failed)
                        snprintf(step, sizeof(step), "%.2f", (double)step_sum / (double)failed);
                printf("%-22s %7.2f%% %6s\n", s->name, 100.0 * (double)failed / (double)runs, step);
        }
        free(c);
        free(b);
        free(share);
        return 0;
}
