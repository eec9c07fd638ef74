/* The last analysis a canary keeps for status and its next Slack message (daemon/analysis.c):
 * packed, it must give back every field of every metric report exactly, in order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/daemon/analysis.h"

static struct metric_report report(const char *name, const char *detail, enum verdict v, double x)
{
        struct metric_report r = {
            .judge = JUDGE_SEQUENTIAL,
            .canary = x,
            .baseline = x / 2,
            .n_canary = 20,
            .n_baseline = 19,
            .verdict = v,
            .critical = v == VERDICT_FAIL,
            .outliers = 3,
            .e_value = 150.5,
            .p_value = 1 / 150.5,
            .ci_low = 0.02,
            .ci_high = NAN,
            .inside_tolerance = false,
        };
        snprintf(r.name, sizeof(r.name), "%s", name);
        snprintf(r.detail, sizeof(r.detail), "%s", detail);
        return r;
}

static void same_report(const struct metric_report *a, const struct metric_report *b)
{
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->detail, b->detail);
        assert_int_equal(a->judge, b->judge);
        assert_int_equal(a->verdict, b->verdict);
        assert_int_equal(a->critical, b->critical);
        assert_int_equal(a->n_canary, b->n_canary);
        assert_int_equal(a->n_baseline, b->n_baseline);
        assert_int_equal(a->outliers, b->outliers);
        assert_int_equal(a->inside_tolerance, b->inside_tolerance);
        const double x[] = {a->canary, a->baseline, a->e_value, a->p_value, a->ci_low, a->ci_high};
        const double y[] = {b->canary, b->baseline, b->e_value, b->p_value, b->ci_low, b->ci_high};
        for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
                if (isnan(x[i]))
                        assert_true(isnan(y[i]));
                else
                        assert_memory_equal(&x[i], &y[i], sizeof(double));
        }
}

static void round_trip_keeps_every_field(void **state)
{
        (void)state;
        char longest_name[64], longest_detail[192];
        memset(longest_name, 'n', sizeof(longest_name) - 1);
        longest_name[sizeof(longest_name) - 1] = '\0';
        memset(longest_detail, 'd', sizeof(longest_detail) - 1);
        longest_detail[sizeof(longest_detail) - 1] = '\0';
        struct metric_report in[] = {
            report("latency", "p90 ratio 1.58 (0.128 / 0.081), must be <= 1.25", VERDICT_FAIL,
                   0.128),
            report("errors", "", VERDICT_PASS, 0.002),
            report(longest_name, longest_detail, VERDICT_INCONCLUSIVE, NAN),
            report("größe", "μ 1.2 ≤ 1.5", VERDICT_PASS, -0.0),
        };
        size_t n = sizeof(in) / sizeof(in[0]);
        struct last_analysis l = {.valid = true};

        last_analysis_keep(&l, in, n);
        assert_int_equal(l.n, n);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(l.reports[i].name, in[i].name);
                assert_string_equal(l.reports[i].detail, in[i].detail);
        }
        struct metric_report *out = last_analysis_reports(&l);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++)
                same_report(&in[i], &out[i]);
        free(out);

        /* keeping again replaces what it held (no leak under ASan) */
        last_analysis_keep(&l, in + 1, 1);
        assert_int_equal(l.n, 1);
        out = last_analysis_reports(&l);
        same_report(&in[1], &out[0]);
        free(out);
        last_analysis_done(&l);
        assert_null(l.reports);
        assert_false(l.valid);
}

static void nothing_kept_gives_nothing(void **state)
{
        (void)state;
        struct last_analysis l = {0};
        assert_null(last_analysis_reports(&l));
        last_analysis_keep(&l, NULL, 0);
        assert_int_equal(l.n, 0);
        assert_null(last_analysis_reports(&l));
        last_analysis_done(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(round_trip_keeps_every_field),
            cmocka_unit_test(nothing_kept_gives_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
