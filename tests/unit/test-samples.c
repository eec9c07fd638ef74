/* Tests for src/core/samples.c: the one-number-a-line reader of `canaryctl judge`. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/samples.h"

static void parse_ok(const char *text, size_t len, double **v, size_t *n)
{
        struct samples_error err = {0};
        int r = samples_parse(text, len, v, n, &err);
        if (r < 0)
                fail_msg("unexpected error: %s", err.message);
}

static void numbers_nan_inf_and_blank_lines(void **state)
{
        const char *text = "1\n  2.5\t\n\n-3e-2\r\nnan\nNaN\n+inf\n-Infinity\n0.1\n\n   \n7";
        double *v;
        size_t n;

        parse_ok(text, strlen(text), &v, &n);
        assert_int_equal(n, 9);
        assert_true(v[0] == 1 && v[1] == 2.5 && v[2] == -3e-2);
        assert_true(isnan(v[3]) && isnan(v[4]));
        assert_true(v[5] == HUGE_VAL && v[6] == -HUGE_VAL);
        assert_true(v[7] == 0.1); /* strtod: correctly rounded */
        assert_true(v[8] == 7);   /* last line without newline */
        free(v);
}

static void round_trips_17_digits(void **state)
{
        const char *text = "0.10000000000000001\n2.2250738585072014e-308\n1.7976931348623157e308\n";
        double *v;
        size_t n;

        parse_ok(text, strlen(text), &v, &n);
        assert_int_equal(n, 3);
        assert_true(v[0] == 0.1 && v[1] == 2.2250738585072014e-308 &&
                    v[2] == 1.7976931348623157e308);
        free(v);
}

static void empty_input(void **state)
{
        double *v = (double *)&v;
        size_t n = 99;

        parse_ok("", 0, &v, &n);
        assert_int_equal(n, 0);
        assert_null(v);
        parse_ok("\n\n  \n", 5, &v, &n);
        assert_int_equal(n, 0);
        assert_null(v);
}

static void expect_bad(const char *text, size_t len, unsigned line, const char *message)
{
        struct samples_error err = {0};
        double *v = NULL;
        size_t n = 0;

        assert_int_equal(samples_parse(text, len, &v, &n, &err), -EINVAL);
        assert_null(v); /* untouched */
        assert_int_equal(err.line, line);
        assert_string_equal(err.message, message);
}

/* Files written on Windows: CRLF line ends (also on blank lines) and a UTF-8 byte-order mark. */
static void crlf_and_bom(void **state)
{
        const char *text = "\xef\xbb\xbf"
                           "1.5\r\n\r\n2\r\nnan\r\n  \r\n3\r\n";
        double *v;
        size_t n;

        parse_ok(text, strlen(text), &v, &n);
        assert_int_equal(n, 4);
        assert_true(v[0] == 1.5 && v[1] == 2 && isnan(v[2]) && v[3] == 3);
        free(v);
        expect_bad("1\r\n2\r\nx\r\n", 9, 3, "line 3: \"x\" is not a number");
        /* A byte-order mark anywhere else is an error like any other byte. */
        expect_bad("1\n\xef\xbb\xbf"
                   "2\n",
                   6, 2, "line 2: value is not a number");
}

static void bad_lines_are_named(void **state)
{
        expect_bad("1\n2\n12x\n4\n", 9, 3, "line 3: \"12x\" is not a number");
        expect_bad("1,5\n", 4, 1, "line 1: \"1,5\" is not a number");
        expect_bad("1 2\n", 4, 1, "line 1: \"1 2\" is not a number");
        expect_bad("\n\n0x10\n", 7, 3, "line 3: \"0x10\" is not a number");
        expect_bad("nan(1)\n", 7, 1, "line 1: \"nan(1)\" is not a number");
        expect_bad("1e\n", 3, 1, "line 1: \"1e\" is not a number");
        expect_bad("-\n", 2, 1, "line 1: \"-\" is not a number");
        expect_bad("1.2.3\n", 6, 1, "line 1: \"1.2.3\" is not a number");
        expect_bad("5\n1e999\n", 8, 2, "line 2: \"1e999\" is out of range");
        expect_bad("1\n2\0003\n", 6, 2, "line 2: value is not a number"); /* NUL byte */
        char long_line[200];
        memset(long_line, '1', sizeof(long_line));
        expect_bad(long_line, sizeof(long_line), 1, "line 1: value is not a number");
}

static void bad_arguments(void **state)
{
        double *v;
        size_t n;

        assert_int_equal(samples_parse(NULL, 3, &v, &n, NULL), -EINVAL);
        assert_int_equal(samples_parse("1", 1, NULL, &n, NULL), -EINVAL);
        assert_int_equal(samples_parse("x", 1, &v, &n, NULL), -EINVAL); /* err is optional */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(numbers_nan_inf_and_blank_lines),
            cmocka_unit_test(round_trips_17_digits),
            cmocka_unit_test(crlf_and_bom),
            cmocka_unit_test(empty_input),
            cmocka_unit_test(bad_lines_are_named),
            cmocka_unit_test(bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
