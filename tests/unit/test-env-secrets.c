/* env-secrets.c: a secret taken from the environment is returned, unset, and wiped from the
 * string the environment held (what /proc/PID/environ shows); the process becomes
 * non-dumpable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "../../src/daemon/env-secrets.h"
#include "canaryd/util.h"

static void taken_and_wiped(void **state)
{
        (void)state;
        /* putenv keeps this very string in the environment: it shows what a wipe leaves */
        static char entry[] = "CANARYD_TEST_SECRET=hunter2";
        char *got[2];

        assert_int_equal(putenv(entry), 0);
        unsetenv("CANARYD_TEST_ABSENT");
        env_secrets_take((const char *const[]){"CANARYD_TEST_SECRET", "CANARYD_TEST_ABSENT"}, got,
                         2);
        assert_non_null(got[0]);
        assert_string_equal(got[0], "hunter2");
        assert_null(got[1]);
        assert_null(getenv("CANARYD_TEST_SECRET"));
        assert_null(strstr(entry + sizeof("CANARYD_TEST_SECRET"), "hunter2"));
        assert_int_equal(entry[sizeof("CANARYD_TEST_SECRET")], '\0');
        free_secret(got[0]);
}

static void not_dumpable(void **state)
{
        (void)state;
        assert_int_equal(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
        assert_int_equal(secrets_no_dump(), 0);
        assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
        /* back, so that the sanitizers' leak check can trace this process at exit */
        assert_int_equal(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(taken_and_wiped),
            cmocka_unit_test(not_dumpable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
