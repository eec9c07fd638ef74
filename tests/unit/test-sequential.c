/* The sequential judge: the reference numbers of STATS.md §4.7, the count mixture's null mean
 * (it is an e-value: E[e] = 1 under the null, also with a changing exposure), pairing by
 * timestamp, no-data rules, directions, the confidence sequence, and a simulation of rollouts on
 * AR(1) series (with and without a component shared by both arms) looked at every 20 pairs:
 * how often a healthy canary is ever failed, and how fast a +10 % regression is caught. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/judge.h"
#include "canaryd/sequential.h"
#include "sim-rng.h"

static void assert_rel(double got, double want, double rel)
{
        if (!(fabs(got - want) <= rel * fabs(want))) {
                print_error("got %.15g, want %.15g (relative %.3g)\n", got, want, rel);
                fail();
        }
}

/* ---- STATS.md §4.7 ---- */

struct count_case {
        double n_c, n_b, rho, k, log_e;
};

static const struct count_case count_cases[] = {
    {30, 150, 0.1, 100, 1.88231599646},   {25, 75, 0.1, 100, 4.64084569488},
    {25, 75, 0.1, 10000, 0.111699262717}, {12, 88, 0.1, 100, -0.285249619597},
    {55, 45, 0.5, 100, -0.0964635407189},
};

static void count_e_values_of_stats(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(count_cases) / sizeof(count_cases[0]); i++) {
                const struct count_case *c = &count_cases[i];
                assert_rel(seq_count_log_e_closed(c->n_c, c->n_b, c->rho, c->k), c->log_e, 1e-9);
                /* The judge's mixture over per-timestamp likelihood ratios, with the same
                 * totals spread over three timestamps at a constant share. */
                double nc[3] = {c->n_c / 3, c->n_c / 3, c->n_c / 3};
                double nb[3] = {c->n_b / 3, c->n_b / 3, c->n_b / 3};
                double rho[3] = {c->rho, c->rho, c->rho};
                assert_rel(seq_count_log_e(nc, nb, rho, 3, 0, c->rho, c->k, 0), c->log_e, 1e-9);
        }
        /* 4 published digits: E = 6.5687 and 103.63 */
        assert_rel(exp(seq_count_log_e_closed(30, 150, 0.1, 100)), 6.5687, 1e-4);
        assert_rel(exp(seq_count_log_e_closed(25, 75, 0.1, 100)), 103.63, 1e-4);
}

static void msprt_of_stats(void **state)
{
        (void)state;
        assert_rel(seq_msprt(0.1, 0.001, 0.01, 0), 28.4033446914, 1e-9);
        assert_rel(seq_msprt(0.05, 0.001, 0.01, 0), 0.939334155397, 1e-9);
}

static void t_bayes_factor(void **state)
{
        (void)state;
        /* t = 0: (1 + n g)^-1/2; symmetric in t; grows with |t| to (1 + n g)^(nu/2). */
        assert_rel(seq_t_log_bf(0, 10, 9, 2), -0.5 * log(21), 1e-12);
        assert_rel(seq_t_log_bf(-3, 10, 9, 2), seq_t_log_bf(3, 10, 9, 2), 1e-12);
        assert_true(seq_t_log_bf(4, 10, 9, 2) > seq_t_log_bf(3, 10, 9, 2));
        assert_rel(seq_t_log_bf(INFINITY, 10, 9, 2), 4.5 * log(21), 1e-12);
        assert_true(seq_t_log_bf(1e8, 10, 9, 2) < 4.5 * log(21));
}

/* Under the null the binomial labels make the mixture an e-value: its mean over the exact null
 * distribution is 1 (the one-sided ones at most 1), for a constant and a changing share. */
static double binom_log_pmf(double x, double n, double p)
{
        return lgamma(n + 1) - lgamma(x + 1) - lgamma(n - x + 1) + x * log(p) + (n - x) * log1p(-p);
}

static void count_mixture_is_an_e_value(void **state)
{
        (void)state;
        const double n1 = 20, n2 = 30, rho1 = 0.1, rho2 = 0.5, k = 100;
        for (int side = -1; side <= 1; side++) {
                double mean = 0;
                for (double x1 = 0; x1 <= n1; x1++)
                        for (double x2 = 0; x2 <= n2; x2++) {
                                double nc[2] = {x1, x2}, nb[2] = {n1 - x1, n2 - x2};
                                double rho[2] = {rho1, rho2};
                                double le = seq_count_log_e(nc, nb, rho, 2, 0, rho1, k, side);
                                mean += exp(binom_log_pmf(x1, n1, rho1) +
                                            binom_log_pmf(x2, n2, rho2) + le);
                        }
                if (side == 0)
                        assert_rel(mean, 1.0, 1e-9);
                else
                        assert_true(mean <= 1 + 1e-9 && mean > 0.5);
        }
}

/* ---- the judge ---- */

static struct seq_params params(void)
{
        struct seq_params p;
        seq_params_default(&p);
        return p;
}

static void series(struct rng *r, size_t n, double phi, double shift, double sd, double shared_sd,
                   double *c, double *b)
{
        double ec = rng_normal(r), eb = rng_normal(r), s = rng_normal(r);
        double q = sqrt(1 - phi * phi);
        for (size_t i = 0; i < n; i++) {
                ec = phi * ec + q * rng_normal(r);
                eb = phi * eb + q * rng_normal(r);
                s = phi * s + q * rng_normal(r);
                double level = 100 * (1 + shared_sd * s); /* load both arms share */
                c[i] = level * (1 + shift) + 100 * sd * ec;
                b[i] = level + 100 * sd * eb;
        }
}

static void pairs_by_timestamp(void **state)
{
        (void)state;
        struct rng r = {42};
        double c[60], b[60];
        series(&r, 60, 0.3, 0.08, 0.03, 0, c, b);
        struct seq_params p = params();
        struct seq_result want, got;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 60, &p, &want), 0);

        /* Same pairs: canary reversed, baseline rotated, extra points on either side only,
         * a repeated timestamp (its first occurrence counts) and a NaN timestamp. */
        struct seq_point pc[63], pb[62];
        for (size_t i = 0; i < 60; i++) {
                pc[59 - i] = (struct seq_point){1e12 + 10000.0 * (double)i, c[i]};
                pb[(i + 7) % 60] = (struct seq_point){1e12 + 10000.0 * (double)i, b[i]};
        }
        pc[60] = (struct seq_point){1e12 - 10000, 1e6};          /* canary only */
        pc[61] = (struct seq_point){NAN, 1e6};                   /* no timestamp */
        pc[62] = (struct seq_point){1e12 + 10000.0 * 5, 1e6};    /* repeated: ignored */
        pb[60] = (struct seq_point){1e12 + 10000.0 * 60, 1e6};   /* baseline only */
        pb[61] = (struct seq_point){1e12 + 10000.0 * 61.5, 1e6}; /* baseline only */
        assert_int_equal(seq_judge(pc, 63, pb, 62, NULL, &p, &got), 0);
        assert_int_equal(got.n, 60);
        assert_true(got.e_value == want.e_value);
        assert_true(got.ci_low == want.ci_low && got.ci_high == want.ci_high);
        assert_int_equal(got.classification, want.classification);

        /* A non-finite value drops its pair. */
        c[10] = NAN;
        b[20] = INFINITY;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 60, &p, &got), 0);
        assert_int_equal(got.n, 58);
}

static void no_data_and_bad_params(void **state)
{
        (void)state;
        double c[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[12];
        memcpy(b, c, sizeof(b));
        struct seq_params p = params();
        struct seq_result r;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 9, &p, &r), 0);
        assert_int_equal(r.classification, SEQ_NODATA);
        assert_int_equal(r.n, 9);
        assert_true(isnan(r.e_value) && isnan(r.ci_low));
        assert_non_null(strstr(r.reason, "9 pairs, need 10"));

        for (size_t i = 0; i < 12; i++)
                b[i] = -c[i]; /* no positive baseline level: no relative shift */
        assert_int_equal(seq_judge_pairs(c, b, NULL, 12, &p, &r), 0);
        assert_int_equal(r.classification, SEQ_NODATA);

        struct seq_params bad = p;
        bad.alpha = 0;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 12, &bad, &r), -EINVAL);
        bad = p;
        bad.tolerance = -0.1;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 12, &bad, &r), -EINVAL);
        bad = p;
        bad.kind = METRIC_KIND_COUNT; /* without shares */
        assert_int_equal(seq_judge_pairs(c, b, NULL, 12, &bad, &r), -EINVAL);

        assert_rel(seq_alpha_split(0.01, 4), 0.0025, 1e-15);
        assert_rel(seq_alpha_split(0.01, 1), 0.01, 1e-15);
        assert_rel(seq_alpha_split(0.01, 0), 0.01, 1e-15);
}

static void directions(void **state)
{
        (void)state;
        struct rng r = {7};
        double c[80], b[80];
        struct seq_params p = params();
        struct seq_result res;

        series(&r, 80, 0.2, 0.15, 0.02, 0.05, c, b); /* 15 % higher */
        assert_int_equal(seq_judge_pairs(c, b, NULL, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_FAIL);
        assert_true(res.p_value <= p.alpha && res.e_value >= 1 / p.alpha);
        assert_true(res.ci_low > p.tolerance && res.ci_low < 0.15 && res.ci_high > 0.15);
        assert_true(fabs(res.estimate - 0.15) < 0.02);
        p.direction = DIRECTION_DECREASE;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_true(res.e_value <= 1);
        p.direction = DIRECTION_EITHER;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_FAIL);

        series(&r, 80, 0.2, -0.15, 0.02, 0.05, c, b); /* 15 % lower */
        p.direction = DIRECTION_INCREASE;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_false(res.inside_tolerance);
        p.direction = DIRECTION_DECREASE;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_FAIL);
        assert_true(res.ci_high < -p.tolerance);
}

static void inside_tolerance_when_equal(void **state)
{
        (void)state;
        struct rng r = {11};
        static double c[600], b[600];
        series(&r, 600, 0.5, 0, 0.02, 0.1, c, b);
        struct seq_params p = params();
        struct seq_result res;
        assert_int_equal(seq_judge_pairs(c, b, NULL, 600, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_true(res.inside_tolerance);
        assert_true(res.ci_low < res.estimate && res.estimate < res.ci_high);
        assert_true(res.autocorrelation > 0.3 && res.autocorrelation < 0.7);
        /* Too few pairs to bound the shift that tightly. */
        assert_int_equal(seq_judge_pairs(c, b, NULL, 20, &p, &res), 0);
        assert_false(res.inside_tolerance);

        /* Identical arms: nothing to learn about a shift beyond "none". */
        assert_int_equal(seq_judge_pairs(b, b, NULL, 50, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_true(res.estimate == 0);
}

static void counts_with_changing_share(void **state)
{
        (void)state;
        static const double weights[4] = {0.1, 0.25, 0.5, 0.75};
        struct rng r = {3};
        double c[80], b[80], s[80];
        struct seq_params p = params();
        p.kind = METRIC_KIND_COUNT;
        struct seq_result res;

        for (size_t i = 0; i < 80; i++) { /* error rate x2 on the canary, traffic varying */
                double load = 30 * (0.5 + rng_uniform(&r));
                s[i] = weights[i / 20];
                c[i] = rng_poisson(&r, load * s[i] * 2);
                b[i] = rng_poisson(&r, load * (1 - s[i]));
        }
        assert_int_equal(seq_judge_pairs(c, b, s, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_FAIL);
        assert_true(res.ci_low > 0.5 && res.ci_low < 1 && res.ci_high > 1);
        assert_true(fabs(res.estimate - 1) < 0.3);
        assert_true(isnan(res.autocorrelation));

        /* A share outside (0, 1) carries no information: the pair is skipped. */
        s[0] = 1;
        s[1] = 0;
        assert_int_equal(seq_judge_pairs(c, b, s, 80, &p, &res), 0);
        assert_int_equal(res.n, 78);

        for (size_t i = 0; i < 80; i++) { /* healthy */
                double load = 30 * (0.5 + rng_uniform(&r));
                s[i] = weights[i / 20];
                c[i] = rng_poisson(&r, load * s[i]);
                b[i] = rng_poisson(&r, load * (1 - s[i]));
        }
        assert_int_equal(seq_judge_pairs(c, b, s, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_true(res.ci_low < 0 && res.ci_high > 0);
        p.direction = DIRECTION_EITHER;
        assert_int_equal(seq_judge_pairs(c, b, s, 80, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);

        /* No events at all: no evidence, nothing bounded. */
        double zero[20] = {0};
        assert_int_equal(seq_judge_pairs(zero, zero, s, 20, &p, &res), 0);
        assert_int_equal(res.classification, SEQ_PASS);
        assert_rel(res.e_value, 1, 1e-12);
}

/* Rollouts of 100 pairs looked at every 20 (the daemon's looks), failing at the first look
 * whose e-value reaches 1/alpha. Returns the share of rollouts ever failed; *ret_by40 the share
 * failed within 40 pairs. */
static const double step_share[5] = {0.1, 0.25, 0.5, 0.75, 0.9};

/* The canary's share at each of 100 pairs: five steps of 20, as the daemon passes them. */
static void step_shares(double *share, size_t n)
{
        for (size_t i = 0; i < n; i++)
                share[i] = step_share[(i / 20) % 5];
}

static double rollouts(uint64_t seed, size_t runs, double phi, double shift, double sd,
                       double shared_sd, double alpha, double *ret_by40)
{
        struct rng r = {seed};
        struct seq_params p = params();
        p.alpha = alpha;
        size_t failed = 0, by40 = 0;
        double share[100];
        step_shares(share, 100);
        for (size_t k = 0; k < runs; k++) {
                double c[100], b[100];
                series(&r, 100, phi, shift, sd, shared_sd, c, b);
                for (size_t n = 20; n <= 100; n += 20) {
                        struct seq_result res;
                        assert_int_equal(seq_judge_pairs(c, b, share, n, &p, &res), 0);
                        if (res.classification == SEQ_FAIL) {
                                failed++;
                                by40 += n <= 40;
                                break;
                        }
                }
        }
        if (ret_by40)
                *ret_by40 = (double)by40 / (double)runs;
        return (double)failed / (double)runs;
}

/* Validity: healthy (no shift) and benign (a shift exactly at the tolerance, the edge of the
 * null) canaries on AR(1) series with phi = 0, 0.5, 0.8, each with and without a shared load
 * component, at alpha = 0.05 (enough failures in 400 rollouts for the bound to mean something:
 * a judge that failed 2 alpha of them would exceed 1.5 alpha with probability > 0.99). */
static void ar1_false_failures_stay_below_alpha(void **state)
{
        (void)state;
        static const double phis[3] = {0, 0.5, 0.8};
        const double alpha = 0.05;
        for (int i = 0; i < 3; i++)
                for (int shared = 0; shared <= 1; shared++)
                        for (int benign = 0; benign <= 1; benign++) {
                                double rate = rollouts(
                                    1000 + (uint64_t)(i * 4 + shared * 2 + benign), 400, phis[i],
                                    benign ? 0.02 : 0, 0.03, shared ? 0.1 : 0, alpha, NULL);
                                print_message("phi %.1f shared %d shift %s: failed %.4f\n", phis[i],
                                              shared, benign ? "+2%" : "0", rate);
                                assert_true(rate <= 1.5 * alpha);
                        }
}

/* Power: +10 % at phi = 0.5 (per-arm noise 1.5 % of the level, shared load 10 %) is caught in
 * >= 95 % of the rollouts, and within 40 pairs (the first two looks) in >= 80 % (84 % measured;
 * it was 95 % before the judge stopped underestimating the autocorrelation of short steps, which
 * at phi 0.8 made healthy canaries fail more often than alpha). */
static void ar1_power(void **state)
{
        (void)state;
        double by40;
        double rate = rollouts(77, 400, 0.5, 0.10, 0.015, 0.1, 0.01, &by40);
        print_message("phi 0.5 +10%%: caught %.4f, within 40 pairs %.4f\n", rate, by40);
        assert_true(rate >= 0.95);
        assert_true(by40 >= 0.80);
}

/* A regression that appears only once the canary takes more traffic (+30 % from the second
 * step, phi 0.5, noise 10 % of the level, the noise of bench/quality): with the steps' shares
 * the judge fits the noise around each step's own level and catches it (97 % measured);
 * without them the jump reads as autocorrelation near 1 and most such canaries were promoted
 * (48 %). */
static void shift_from_the_second_step(void **state)
{
        (void)state;
        struct rng r = {99};
        struct seq_params p = params();
        double share[100];
        step_shares(share, 100);
        size_t caught[2] = {0, 0}, runs = 400;
        for (size_t k = 0; k < runs; k++) {
                double c[100], b[100];
                series(&r, 100, 0.5, 0, 0.10, 0, c, b);
                for (size_t i = 20; i < 100; i++)
                        c[i] += 30; /* the level is 100 */
                for (int with = 0; with <= 1; with++)
                        for (size_t n = 5; n <= 100; n += 5) {
                                struct seq_result res;
                                assert_int_equal(
                                    seq_judge_pairs(c, b, with ? share : NULL, n, &p, &res), 0);
                                if (res.classification == SEQ_FAIL) {
                                        caught[with]++;
                                        break;
                                }
                        }
        }
        print_message("+30%% from step 2: caught %.4f with the steps, %.4f without\n",
                      (double)caught[1] / (double)runs, (double)caught[0] / (double)runs);
        assert_true((double)caught[1] / (double)runs >= 0.95);
        assert_true(caught[1] > caught[0]);
}

/* The daemon's cadence: four looks a step of 20 pairs, i.e. every 5 pairs from the fifth, on
 * per-arm AR(1) noise at phi = 0.8 (the noise of bench/quality: 10 % of the level per point).
 * Early looks on a dozen pairs are where a fitted autocorrelation misleads most; the judge
 * counts no evidence before AR_MIN_PAIRS (24) pairs and takes the autocorrelation half a
 * standard error up, which keeps the rate below alpha (0.8 % of 4,000 rollouts here; without
 * the minimum about 2.6 %, without the margin 1.2 %). */
static void frequent_looks_at_phi_08(void **state)
{
        (void)state;
        struct rng r = {4242};
        struct seq_params p = params();
        size_t failed = 0, runs = 4000;
        double share[100];
        step_shares(share, 100);
        for (size_t k = 0; k < runs; k++) {
                double c[80], b[80];
                series(&r, 80, 0.8, 0, 0.10, 0, c, b);
                for (size_t n = 5; n <= 80; n += 5) {
                        struct seq_result res;
                        assert_int_equal(seq_judge_pairs(c, b, share, n, &p, &res), 0);
                        if (n < 24)
                                assert_false(res.e_value > 1); /* 1, or NaN under min_samples */
                        if (res.classification == SEQ_FAIL) {
                                failed++;
                                break;
                        }
                }
        }
        print_message("phi 0.8, looks every 5 pairs: failed %.4f\n", (double)failed / runs);
        assert_true((double)failed / (double)runs <= 1.5 * p.alpha);
}

/* judge_metric_points(): the daemon's entry point fills the sequential fields; other judges
 * leave them NaN. */
static void metric_report_fields(void **state)
{
        (void)state;
        char name[] = "latency";
        struct metric_config m = {
            .name = name,
            .judge = JUDGE_SEQUENTIAL,
            .reducer = REDUCER_AVG,
            .direction = DIRECTION_INCREASE,
            .alpha = 0.01,
            .tolerance = 0.02,
            .min_samples = 10,
            .kind = METRIC_KIND_CONTINUOUS,
        };
        struct rng r = {5};
        double c[60], b[60];
        series(&r, 60, 0.3, 0.2, 0.02, 0, c, b);
        struct seq_point pc[60], pb[60];
        for (size_t i = 0; i < 60; i++) {
                pc[i] = (struct seq_point){10000.0 * (double)i, c[i]};
                pb[i] = (struct seq_point){10000.0 * (double)i, b[i]};
        }
        struct metric_report rep;
        judge_metric_points(&m, seq_alpha_split(0.01, 2), pc, 60, pb, 60, NULL, &rep);
        assert_int_equal(rep.verdict, VERDICT_FAIL);
        assert_true(rep.e_value >= 200 && rep.p_value <= 0.005);
        assert_true(rep.ci_low > 0.02 && rep.ci_high > rep.ci_low);
        assert_int_equal(rep.n_canary, 60);
        assert_non_null(strstr(rep.detail, "Fail"));

        /* The offline path (values paired by position) agrees. */
        struct metric_report rep2;
        m.alpha = 0.005;
        judge_metric(&m, c, 60, b, 60, &rep2);
        assert_true(rep2.e_value == rep.e_value && rep2.ci_low == rep.ci_low);

        /* count without shares: no data, by on_no_data */
        m.kind = METRIC_KIND_COUNT;
        judge_metric_points(&m, 0.01, pc, 60, pb, 60, NULL, &rep);
        assert_int_equal(rep.verdict, VERDICT_INCONCLUSIVE);

        m.judge = JUDGE_THRESHOLD;
        m.min = NAN;
        m.max = 1000;
        m.min_samples = 1;
        judge_metric_points(&m, 0.01, pc, 60, pb, 60, NULL, &rep);
        assert_int_equal(rep.verdict, VERDICT_PASS);
        assert_true(isnan(rep.e_value) && isnan(rep.p_value) && isnan(rep.ci_low) &&
                    isnan(rep.ci_high));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(count_e_values_of_stats),
            cmocka_unit_test(msprt_of_stats),
            cmocka_unit_test(t_bayes_factor),
            cmocka_unit_test(count_mixture_is_an_e_value),
            cmocka_unit_test(pairs_by_timestamp),
            cmocka_unit_test(no_data_and_bad_params),
            cmocka_unit_test(directions),
            cmocka_unit_test(inside_tolerance_when_equal),
            cmocka_unit_test(counts_with_changing_share),
            cmocka_unit_test(ar1_false_failures_stay_below_alpha),
            cmocka_unit_test(ar1_power),
            cmocka_unit_test(shift_from_the_second_step),
            cmocka_unit_test(frequent_looks_at_phi_08),
            cmocka_unit_test(metric_report_fields),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
