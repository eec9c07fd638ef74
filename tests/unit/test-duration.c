/* duration_parse / duration_format: the duration syntax of SPEC §3. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/config.h"

#define SEC  USEC_PER_SEC
#define MIN  (60 * USEC_PER_SEC)
#define HOUR (3600 * USEC_PER_SEC)

static void parses_each_unit_and_sums(void **state)
{
        static const struct {
                const char *text;
                usec_t usec;
        } cases[] = {
            {"0", 0},
            {"250ms", 250 * USEC_PER_MSEC},
            {"30s", 30 * SEC},
            {"5m", 5 * MIN},
            {"1h", HOUR},
            {"1m30s", 90 * SEC},
            {"1h30m", 90 * MIN},
            {"2h3m4s5ms6us", 2 * HOUR + 3 * MIN + 4 * SEC + 5 * USEC_PER_MSEC + 6},
            {"0s", 0},
            {"007s", 7 * SEC},
            {"1500us", 1500},
            {"90s", 90 * SEC},
            {"30s1m", 90 * SEC}, /* order is free, as in Go */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                usec_t u = 12345;
                int r = duration_parse(cases[i].text, &u);
                if (r != 0 || u != cases[i].usec)
                        fail_msg("%s: r=%d u=%llu", cases[i].text, r, (unsigned long long)u);
        }
}

static void rejects_bad_syntax_without_writing(void **state)
{
        static const char *const bad[] = {
            "",   "s",  "5",   "-5s", "+5s",   "5 s",  " 5s",  "5s ",   "1.5s", "5x",
            "5d", "5S", "5mm", "ms",  "1h-5m", "5sec", "1e3s", "0x10s", "5s,",  "m5",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                usec_t u = 4242;
                int r = duration_parse(bad[i], &u);
                if (r != -EINVAL || u != 4242)
                        fail_msg("'%s': r=%d u=%llu", bad[i], r, (unsigned long long)u);
        }
        usec_t u = 1;
        assert_int_equal(duration_parse(NULL, &u), -EINVAL);
}

static void rejects_overflow(void **state)
{
        usec_t u = 7;
        /* 2^64 us is about 5.1e9 hours. */
        assert_int_equal(duration_parse("18446744073709551615us", &u), 0);
        assert_true(u == UINT64_MAX);
        u = 7;
        assert_int_equal(duration_parse("18446744073709551616us", &u), -ERANGE);
        assert_int_equal(duration_parse("6000000000h", &u), -ERANGE);
        assert_int_equal(duration_parse("99999999999999999999999s", &u), -ERANGE);
        assert_int_equal(duration_parse("18446744073709551615us1us", &u), -ERANGE);
        assert_true(u == 7);
}

static void formats_shortest_exact_form(void **state)
{
        static const struct {
                usec_t usec;
                const char *text;
        } cases[] = {
            {0, "0"},
            {250 * USEC_PER_MSEC, "250ms"},
            {30 * SEC, "30s"},
            {90 * SEC, "90s"},
            {5 * MIN, "5m"},
            {HOUR, "1h"},
            {90 * MIN, "90m"},
            {HOUR + MIN, "61m"},
            {3661 * SEC, "3661s"},
            {25 * HOUR + 30 * SEC, "25h30s"},
            {1500, "1500us"},
            {SEC + 1, "1s1us"},
        };
        char buf[64];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_string_equal(duration_format(cases[i].usec, buf, sizeof(buf)),
                                    cases[i].text);
}

static void format_round_trips_and_truncates(void **state)
{
        static const usec_t values[] = {
            1,         999,      1000,        1001,
            59 * SEC,  61 * SEC, 86400 * SEC, HOUR + MIN + SEC + USEC_PER_MSEC + 1,
            UINT64_MAX};
        char buf[64];
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                usec_t u;
                duration_format(values[i], buf, sizeof(buf));
                assert_int_equal(duration_parse(buf, &u), 0);
                assert_true(u == values[i]);
        }
        char small[4];
        assert_string_equal(duration_format(250 * USEC_PER_MSEC, small, sizeof(small)), "250");
}

/* Ages as kubectl prints them: two units while the larger is small, then one. */
static void formats_ages_like_kubectl(void **state)
{
        static const struct {
                usec_t seconds;
                const char *want;
        } cases[] = {
            {0, "0s"},
            {59, "59s"},
            {119, "119s"},
            {120, "2m"},
            {330, "5m30s"},
            {600, "10m"},
            {659, "10m"},
            {10799, "179m"},
            {10800, "3h"},
            {7800, "130m"},
            {4 * 3600 + 600, "4h10m"},
            {8 * 3600 + 60, "8h"},
            {47 * 3600, "47h"},
            {3 * 86400, "3d"},
            {3 * 86400 + 3600 * 4, "3d4h"},
            {8 * 86400 + 3600, "8d"},
            {729 * 86400, "729d"},
            {730 * 86400, "2y"},
            {(3 * 365 + 5) * 86400, "3y5d"},
            {9 * 365 * 86400 + 86400, "9y"},
        };
        char buf[32];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_string_equal(
                    duration_format_age(cases[i].seconds * USEC_PER_SEC + 999999, buf, sizeof(buf)),
                    cases[i].want);
        assert_string_equal(duration_format_age(5 * 60 * USEC_PER_SEC, buf, 3), "5m");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_each_unit_and_sums),
            cmocka_unit_test(rejects_bad_syntax_without_writing),
            cmocka_unit_test(rejects_overflow),
            cmocka_unit_test(formats_shortest_exact_form),
            cmocka_unit_test(format_round_trips_and_truncates),
            cmocka_unit_test(formats_ages_like_kubectl),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
