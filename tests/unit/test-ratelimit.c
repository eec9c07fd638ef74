/* Tests of the log rate limit (ratelimit.h): a burst per window, the rest counted, and the
 * count handed out once for its summary line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "canaryd/ratelimit.h"

#define SEC USEC_PER_SEC

static void burst_passes_then_the_rest_is_counted(void **state)
{
        struct ratelimit r = {.interval_usec = SEC, .burst = 10};
        unsigned missed = 99;
        for (int i = 0; i < 10; i++) {
                assert_true(ratelimit_test(&r, 5 * SEC + (usec_t)i, &missed));
                assert_int_equal(missed, 0);
        }
        for (int i = 0; i < 25; i++)
                assert_false(ratelimit_test(&r, 5 * SEC + 500000, &missed));
        assert_int_equal(r.suppressed, 25);
        assert_int_equal(missed, 0);
}

static void next_window_reports_what_the_last_held_back(void **state)
{
        struct ratelimit r = {.interval_usec = SEC, .burst = 2};
        unsigned missed;
        for (int i = 0; i < 7; i++)
                ratelimit_test(&r, 10 * SEC, &missed);
        assert_int_equal(r.suppressed, 5);
        /* still the same window: nothing to report yet */
        assert_int_equal(ratelimit_flush(&r, 10 * SEC + SEC - 1), 0);
        assert_true(ratelimit_test(&r, 11 * SEC, &missed));
        assert_int_equal(missed, 5);
        assert_int_equal(r.suppressed, 0);
}

static void flush_after_the_window_reports_once(void **state)
{
        struct ratelimit r = {.interval_usec = SEC, .burst = 1};
        unsigned missed;
        ratelimit_test(&r, 3 * SEC, &missed);
        ratelimit_test(&r, 3 * SEC, &missed);
        ratelimit_test(&r, 3 * SEC, &missed);
        assert_true(ratelimit_end(&r) == 4 * SEC);
        assert_int_equal(ratelimit_flush(&r, 4 * SEC), 2);
        assert_int_equal(ratelimit_flush(&r, 4 * SEC), 0); /* once */
        assert_true(ratelimit_test(&r, 4 * SEC + 1, &missed));
        assert_int_equal(missed, 0);
}

static void zero_interval_lets_everything_through(void **state)
{
        struct ratelimit r = {0};
        unsigned missed;
        for (int i = 0; i < 1000; i++)
                assert_true(ratelimit_test(&r, 1, &missed));
        assert_int_equal(ratelimit_flush(&r, 2), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(burst_passes_then_the_rest_is_counted),
            cmocka_unit_test(next_window_reports_what_the_last_held_back),
            cmocka_unit_test(flush_after_the_window_reports_once),
            cmocka_unit_test(zero_interval_lets_everything_through),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
