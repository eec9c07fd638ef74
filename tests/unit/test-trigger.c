/* The Deployment trigger's view: the template revision ignores restarts, scaling and key order,
 * changes with the pod template; "available" means fully rolled out. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/names.h"
#include "canaryd/trigger.h"

static struct deployment_view inspect(const char *json)
{
        struct deployment_view v;
        char *err = NULL;
        if (deployment_inspect(json, strlen(json), &v, &err) < 0)
                fail_msg("%s: %s", json, err);
        return v;
}

#define DEP(REPLICAS, ANN, IMAGE, GEN, OBS, UPD, AVAIL, TOTAL)                                     \
        "{\"metadata\":{\"name\":\"d\",\"generation\":" #GEN "},\"spec\":{\"replicas\":" #REPLICAS \
        ",\"template\":{\"metadata\":{\"labels\":{\"app\":\"d\",\"tier\":\"web\"}" ANN             \
        "},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"" IMAGE "\"}]}}},"              \
        "\"status\":{\"observedGeneration\":" #OBS ",\"updatedReplicas\":" #UPD                    \
        ",\"availableReplicas\":" #AVAIL ",\"replicas\":" #TOTAL "}}"

static void revision_ignores_restart_scale_and_key_order(void **unused)
{
        struct deployment_view a = inspect(DEP(2, "", "app:1", 1, 1, 2, 2, 2));
        struct deployment_view restarted = inspect(DEP(
            2, ",\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"2026-01-01T00:00:00Z\"}",
            "app:1", 2, 2, 2, 2, 2));
        struct deployment_view scaled = inspect(DEP(5, "", "app:1", 3, 3, 5, 5, 5));
        struct deployment_view reordered = inspect(
            "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"app:1\",\"name\":"
            "\"app\"}]},\"metadata\":{\"labels\":{\"tier\":\"web\",\"app\":\"d\"}}}}}");
        struct deployment_view changed = inspect(DEP(2, "", "app:2", 4, 4, 2, 2, 2));
        struct deployment_view annotated =
            inspect(DEP(2, ",\"annotations\":{\"config-hash\":\"abc\"}", "app:1", 4, 4, 2, 2, 2));

        assert_int_equal(strlen(a.revision), TRIGGER_REVISION_LEN);
        assert_string_equal(a.revision, restarted.revision);
        assert_string_equal(a.revision, scaled.revision);
        assert_string_equal(a.revision, reordered.revision);
        assert_string_not_equal(a.revision, changed.revision);
        assert_string_not_equal(a.revision, annotated.revision);
        assert_string_equal(changed.image, "app:2");
}

static void available_only_when_fully_rolled_out(void **unused)
{
        assert_true(inspect(DEP(2, "", "a", 3, 3, 2, 2, 2)).available);
        assert_false(inspect(DEP(2, "", "a", 3, 2, 2, 2, 2)).available); /* not observed yet */
        assert_false(inspect(DEP(2, "", "a", 3, 3, 1, 2, 2)).available); /* still updating */
        assert_false(inspect(DEP(2, "", "a", 3, 3, 2, 1, 2)).available); /* not available */
        assert_false(inspect(DEP(2, "", "a", 3, 3, 2, 2, 3)).available); /* old pod left */
        assert_false(inspect("{\"spec\":{\"template\":{}}}").available); /* no status */
}

static void garbage_is_refused(void **unused)
{
        struct deployment_view v;
        char *err = NULL;
        assert_int_equal(deployment_inspect("[]", 2, &v, &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(deployment_inspect("{\"spec\":{}}", 11, &v, &err), -EINVAL);
        assert_non_null(strstr(err, "spec.template"));
        free(err);
        char *p = deployment_path("shop", "checkout-canary");
        assert_string_equal(p, "/apis/apps/v1/namespaces/shop/deployments/checkout-canary");
        free(p);
        assert_null(deployment_path("shop", "../x"));
        assert_null(deployment_path("Shop", "x"));
        /* one DNS-1123 rule everywhere (names.h): no empty label, no leading or doubled dot */
        assert_null(deployment_path("shop", ".a"));
        assert_null(deployment_path("shop", "a..b"));
        assert_null(deployment_path("shop", "a."));
        assert_null(deployment_path("shop", "a-.b"));
        assert_null(deployment_path("a.b", "x"));
        p = deployment_path("shop", "api.v2");
        assert_non_null(p);
        free(p);
}

static void dns1123_names(void **unused)
{
        (void)unused;
        char long_label[65];
        memset(long_label, 'a', 64);
        long_label[64] = '\0';
        assert_true(dns1123_is_label("a"));
        assert_true(dns1123_is_label("a-1"));
        assert_false(dns1123_is_label(NULL));
        assert_false(dns1123_is_label(""));
        assert_false(dns1123_is_label("-a"));
        assert_false(dns1123_is_label("a_b"));
        assert_false(dns1123_is_label("a.b"));
        assert_false(dns1123_is_label(long_label));
        long_label[63] = '\0';
        assert_true(dns1123_is_label(long_label));
        assert_true(dns1123_is_subdomain("a.b-c.d"));
        assert_false(dns1123_is_subdomain(".a"));
        assert_false(dns1123_is_subdomain("a..b"));
        assert_false(dns1123_is_subdomain("a."));
        assert_false(dns1123_is_subdomain("A.b"));
        /* 253 characters at most: labels of 50 joined by dots */
        char big[255];
        memset(big, 'a', 254);
        for (size_t i = 50; i < 254; i += 51)
                big[i] = '.'; /* 50, 101, 152, 203 */
        big[254] = '\0';
        assert_false(dns1123_is_subdomain(big)); /* 254 */
        big[253] = '\0';
        assert_true(dns1123_is_subdomain(big)); /* 253 */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(revision_ignores_restart_scale_and_key_order),
            cmocka_unit_test(available_only_when_fully_rolled_out),
            cmocka_unit_test(garbage_is_refused),
            cmocka_unit_test(dns1123_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
