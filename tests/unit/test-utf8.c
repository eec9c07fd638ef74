/* The one strict UTF-8 decoder (utf8.h): what control requests and Slack text are checked and
 * cleaned with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/utf8.h"

static bool valid(const char *s)
{
        return utf8_valid(s, strlen(s));
}

static void sequences(void **unused)
{
        (void)unused;
        assert_int_equal(utf8_seq_len((const unsigned char *)"a", 1), 1);
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);         /* é */
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x80\xa6", 3), 3);     /* … */
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xf0\x9f\x9a\x80", 4), 4); /* 🚀 */
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x80\xa6", 2), 0);     /* cut */
        assert_int_equal(utf8_seq_len((const unsigned char *)"a", 0), 0);
}

static void strictness(void **unused)
{
        (void)unused;
        assert_true(valid("canary é … 🚀"));
        assert_true(utf8_valid("a\0b", 3));      /* NUL is U+0000: callers refuse it themselves */
        assert_false(valid("\x80"));             /* lone continuation byte */
        assert_false(valid("\xc0\xaf"));         /* overlong '/' */
        assert_false(valid("\xe0\x80\xaf"));     /* overlong, 3 bytes */
        assert_false(valid("\xf0\x80\x80\xaf")); /* overlong, 4 bytes */
        assert_false(valid("\xed\xa0\x80"));     /* surrogate U+D800 */
        assert_false(valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
        assert_false(valid("\xf8\x88\x80\x80\x80"));
        assert_false(valid("\xc3"));     /* truncated */
        assert_false(valid("\xc3\x28")); /* bad continuation */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(sequences),
            cmocka_unit_test(strictness),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
