/* Tests for src/codec/lease-json.c: client-go Lease fields (WIRE.md §2.5), MicroTime, and a PUT
 * body that keeps everything it read but spec and the resourceVersion guard. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/lease.h"
#include "canaryd/util.h"

static const char lease[] =
    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"labels\":"
    "{\"a\":\"b\"},\"name\":\"canaryd-shard-3\",\"namespace\":\"canaryd-system\","
    "\"resourceVersion\":\"334899\"},\"spec\":{\"holderIdentity\":\"node-1-0a0b0c0d\","
    "\"leaseDurationSeconds\":15,\"acquireTime\":\"2023-07-04T21:58:40.000001Z\","
    "\"renewTime\":\"2023-07-04T21:58:48.065888Z\",\"leaseTransitions\":4}}";

static void parses_client_go_fields(void **state)
{
        struct lease_record r;
        char *err = NULL;
        assert_int_equal(lease_parse(lease, strlen(lease), &r, &err), 0);
        assert_string_equal(r.name, "canaryd-shard-3");
        assert_string_equal(r.resource_version, "334899");
        assert_string_equal(r.holder, "node-1-0a0b0c0d");
        assert_int_equal(r.duration_seconds, 15);
        assert_int_equal(r.transitions, 4);
        assert_true(r.renew_usec == 1688507928065888ULL);
        assert_true(r.acquire_usec == 1688507920000001ULL);
        lease_record_done(&r);

        const char *bare = "{\"metadata\":{\"name\":\"x\"}}";
        assert_int_equal(lease_parse(bare, strlen(bare), &r, &err), 0);
        assert_string_equal(r.holder, ""); /* free */
        assert_null(r.resource_version);
        lease_record_done(&r);

        assert_int_equal(lease_parse("[]", 2, &r, &err), -EBADMSG);
        assert_non_null(err);
        free(err);
}

static void render_keeps_the_rest_and_guards(void **state)
{
        struct lease_record r = {
            .holder = (char *)(uintptr_t) "me",
            .resource_version = (char *)(uintptr_t) "334899",
            .duration_seconds = 3,
            .acquire_usec = 1688507920000001ULL,
            .renew_usec = 1688507928065888ULL,
            .transitions = 5,
        };
        char *out = lease_render(lease, "canaryd-system", "canaryd-shard-3", &r);
        assert_non_null(strstr(out, "\"labels\":{\"a\":\"b\"}"));
        assert_non_null(strstr(out, "\"resourceVersion\":\"334899\""));
        assert_non_null(strstr(out, "\"renewTime\":\"2023-07-04T21:58:48.065888Z\""));
        assert_non_null(strstr(out, "\"acquireTime\":\"2023-07-04T21:58:40.000001Z\""));
        assert_non_null(strstr(out, "\"holderIdentity\":\"me\""));
        assert_non_null(strstr(out, "\"leaseTransitions\":5"));
        free(out);

        /* create: no resourceVersion at all */
        r.resource_version = NULL;
        out = lease_render(NULL, "ns", "canaryd-shard-0", &r);
        assert_null(strstr(out, "resourceVersion"));
        assert_non_null(strstr(out, "\"kind\":\"Lease\""));
        free(out);
        assert_null(lease_render("[1]", "ns", "x", &r));
}

static void list_skips_nameless_items(void **state)
{
        const char *list = "{\"kind\":\"LeaseList\",\"items\":[{\"metadata\":{\"name\":\"a\"}},7,"
                           "{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"9\"}}]}";
        struct lease_record *recs = NULL;
        char **raw = NULL, *err = NULL;
        size_t n = 0;
        assert_int_equal(lease_list_parse(list, strlen(list), &recs, &raw, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(recs[1].name, "b");
        assert_non_null(strstr(raw[1], "\"resourceVersion\":\"9\""));
        for (size_t i = 0; i < n; i++) {
                lease_record_done(&recs[i]);
                free(raw[i]);
        }
        free(recs);
        free(raw);
        assert_int_equal(lease_list_parse("{\"items\":5}", 11, &recs, &raw, &n, &err), -EBADMSG);
        free(err);
}

/* Member Leases say which shard count their daemon hashes onto; a value not a small positive
 * decimal reads as "not said". */
static void shards_annotation_round_trip(void **state)
{
        struct lease_record r = {.holder = (char *)(uintptr_t) "me", .shards = 6};
        struct lease_record back;
        char *out = lease_render(lease, "canaryd-system", "canaryd-member-me", &r);

        (void)state;
        assert_non_null(strstr(out, "\"annotations\":{\"canaryd.io/shards\":\"6\"}"));
        assert_non_null(strstr(out, "\"labels\":{\"a\":\"b\"}"));
        assert_int_equal(lease_parse(out, strlen(out), &back, NULL), 0);
        assert_int_equal(back.shards, 6);
        lease_record_done(&back);
        free(out);

        r.shards = 0; /* not said: no annotation written */
        out = lease_render(NULL, "ns", "x", &r);
        assert_null(strstr(out, "annotations"));
        free(out);

        const char *bad[] = {"\"\"", "\"-1\"", "\"6x\"", "\"99999\"", "\"123456\"", "6"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *j = xasprintf("{\"metadata\":{\"name\":\"m\",\"annotations\":"
                                    "{\"canaryd.io/shards\":%s}}}",
                                    bad[i]);
                assert_int_equal(lease_parse(j, strlen(j), &back, NULL), 0);
                assert_int_equal(back.shards, 0);
                lease_record_done(&back);
                free(j);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_client_go_fields),
            cmocka_unit_test(render_keeps_the_rest_and_guards),
            cmocka_unit_test(list_skips_nameless_items),
            cmocka_unit_test(shards_annotation_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
