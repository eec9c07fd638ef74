/* PagerDuty Events API v2 codec: enqueue bodies (shapes from PagerDuty's Events API v2 docs,
 * limits held), answers (202, 400, 429, 5xx) and the rollout's dedup key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "canaryd/pagerduty-json.h"
#include "canaryd/utf8.h"

static const char key32[] = "R0123456789abcdef0123456789abcde";

static const char *str_at(const cJSON *root, const char *a, const char *b)
{
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, a);
        if (b)
                o = cJSON_GetObjectItemCaseSensitive(o, b);
        return cJSON_IsString(o) ? o->valuestring : NULL;
}

static void trigger_has_the_documented_shape(void **state)
{
        struct pagerduty_link links[] = {{"https://runbook.example/checkout", "Runbook"},
                                         {"https://reports.example/checkout/1", NULL}};
        struct pagerduty_detail details[] = {{"error_rate", "0.12 (baseline 0.01)"},
                                             {"p99_latency_ms", "850"}};
        struct pagerduty_event e = {.action = PAGERDUTY_TRIGGER,
                                    .routing_key = key32,
                                    .dedup_key = "canaryd/checkout/1700000000000000",
                                    .summary = "checkout: rolled back (error_rate 0.12)",
                                    .source = "checkout",
                                    .severity = PAGERDUTY_CRITICAL,
                                    .component = "prod/checkout",
                                    .links = links,
                                    .n_links = 2,
                                    .details = details,
                                    .n_details = 2};
        char *body = NULL;
        (void)state;

        assert_int_equal(pagerduty_event_build(&e, &body), 0);
        cJSON *root = cJSON_Parse(body);
        assert_non_null(root);
        assert_string_equal(str_at(root, "routing_key", NULL), key32);
        assert_string_equal(str_at(root, "event_action", NULL), "trigger");
        assert_string_equal(str_at(root, "dedup_key", NULL), "canaryd/checkout/1700000000000000");
        assert_string_equal(str_at(root, "payload", "summary"),
                            "checkout: rolled back (error_rate 0.12)");
        assert_string_equal(str_at(root, "payload", "source"), "checkout");
        assert_string_equal(str_at(root, "payload", "severity"), "critical");
        assert_string_equal(str_at(root, "payload", "component"), "prod/checkout");
        assert_null(str_at(root, "payload", "group"));
        const cJSON *cd = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "payload"), "custom_details");
        assert_string_equal(str_at(cd, "p99_latency_ms", NULL), "850");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "links");
        assert_int_equal(cJSON_GetArraySize(l), 2);
        assert_string_equal(str_at(cJSON_GetArrayItem(l, 0), "text", NULL), "Runbook");
        assert_null(str_at(cJSON_GetArrayItem(l, 1), "text", NULL));
        cJSON_Delete(root);
        free(body);
}

static void resolve_sends_only_the_key(void **state)
{
        struct pagerduty_event e = {.action = PAGERDUTY_RESOLVE,
                                    .routing_key = key32,
                                    .dedup_key = "canaryd/checkout/1",
                                    .summary = "ignored"};
        char *body = NULL;
        (void)state;

        assert_int_equal(pagerduty_event_build(&e, &body), 0);
        assert_string_equal(body, "{\"routing_key\":\"R0123456789abcdef0123456789abcde\","
                                  "\"event_action\":\"resolve\","
                                  "\"dedup_key\":\"canaryd/checkout/1\"}");
        free(body);
        e.dedup_key = NULL;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
}

static void missing_fields_and_long_keys_are_refused(void **state)
{
        char long_key[PAGERDUTY_DEDUP_KEY_MAX + 2];
        struct pagerduty_event ok = {.action = PAGERDUTY_TRIGGER,
                                     .routing_key = key32,
                                     .summary = "s",
                                     .source = "x",
                                     .severity = PAGERDUTY_INFO};
        struct pagerduty_event e;
        char *body = NULL;
        (void)state;

        e = ok, e.summary = "";
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
        e = ok, e.source = NULL;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
        e = ok, e.routing_key = NULL;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
        e = ok, e.severity = _PAGERDUTY_SEVERITY_MAX;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
        e = ok, e.action = _PAGERDUTY_ACTION_MAX;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);

        memset(long_key, 'k', sizeof(long_key) - 1);
        long_key[sizeof(long_key) - 1] = '\0';
        e = ok, e.dedup_key = long_key; /* 256 */
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
        long_key[PAGERDUTY_DEDUP_KEY_MAX] = '\0'; /* 255 */
        assert_int_equal(pagerduty_event_build(&e, &body), 0);
        free(body);

        struct pagerduty_detail dup[] = {{"a", "1"}, {"a", "2"}};
        e = ok, e.details = dup, e.n_details = 2;
        assert_int_equal(pagerduty_event_build(&e, &body), -EINVAL);
}

static void summary_is_cut_at_a_utf8_boundary(void **state)
{
        /* 1023 ASCII bytes then a 3-byte character: the character does not fit */
        char summary[1023 + 3 + 16];
        struct pagerduty_event e = {.action = PAGERDUTY_TRIGGER,
                                    .routing_key = key32,
                                    .summary = summary,
                                    .source = "bad \xff byte",
                                    .severity = PAGERDUTY_WARNING};
        char *body = NULL;
        (void)state;

        memset(summary, 'a', 1023);
        strcpy(summary + 1023, "\xe2\x82\xac and more");
        assert_int_equal(pagerduty_event_build(&e, &body), 0);
        cJSON *root = cJSON_Parse(body);
        const char *s = str_at(root, "payload", "summary");
        assert_int_equal(strlen(s), 1023);
        assert_true(utf8_valid(s, strlen(s)));
        assert_string_equal(str_at(root, "payload", "source"), "bad \xef\xbf\xbd byte");
        cJSON_Delete(root);
        free(body);

        /* a 3-byte character ending exactly at byte 1024 is kept */
        strcpy(summary + 1021, "\xe2\x82\xac");
        assert_int_equal(pagerduty_event_build(&e, &body), 0);
        root = cJSON_Parse(body);
        assert_int_equal(strlen(str_at(root, "payload", "summary")), 1024);
        cJSON_Delete(root);
        free(body);
}

static void answers_are_read(void **state)
{
        static const char ok[] =
            "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"k1\"}";
        static const char bad[] = "{\"status\":\"invalid event\",\"message\":\"Event object is "
                                  "invalid\",\"errors\":[\"Length of 'routing_key' is incorrect "
                                  "(should be 32 characters)\",\"x\\n\\u0001y\"]}";
        struct pagerduty_result r;
        (void)state;

        assert_int_equal(pagerduty_result_parse(202, ok, strlen(ok), &r), 0);
        assert_int_equal(r.status, PAGERDUTY_ACCEPTED);
        assert_string_equal(r.dedup_key, "k1");
        assert_string_equal(r.message, "Event processed");
        pagerduty_result_done(&r);

        assert_int_equal(pagerduty_result_parse(400, bad, strlen(bad), &r), 0);
        assert_int_equal(r.status, PAGERDUTY_INVALID);
        assert_int_equal(r.n_errors, 2);
        assert_string_equal(r.errors[0],
                            "Length of 'routing_key' is incorrect (should be 32 characters)");
        assert_string_equal(r.errors[1], "xy");
        assert_null(r.dedup_key);
        pagerduty_result_done(&r);

        pagerduty_result_parse(429, "", 0, &r);
        assert_int_equal(r.status, PAGERDUTY_RETRY);
        pagerduty_result_done(&r);
        pagerduty_result_parse(503, "<html>", 6, &r);
        assert_int_equal(r.status, PAGERDUTY_RETRY);
        pagerduty_result_done(&r);
        pagerduty_result_parse(202, "{}", 2, &r); /* unreadable success: send again */
        assert_int_equal(r.status, PAGERDUTY_RETRY);
        pagerduty_result_done(&r);
        pagerduty_result_parse(403, NULL, 0, &r);
        assert_int_equal(r.status, PAGERDUTY_REFUSED);
        pagerduty_result_done(&r);
}

static void dedup_key_is_stable_and_bounded(void **state)
{
        char name[300];
        (void)state;

        char *a = pagerduty_dedup_key("checkout", 1700000000123456ull);
        char *b = pagerduty_dedup_key("checkout", 1700000000123456ull);
        char *c = pagerduty_dedup_key("checkout", 1700000000123457ull);
        assert_string_equal(a, "canaryd/checkout/1700000000123456");
        assert_string_equal(a, b);
        assert_string_not_equal(a, c);
        free(a), free(b), free(c);

        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        a = pagerduty_dedup_key(name, UINT64_MAX);
        assert_int_equal(strlen(a), PAGERDUTY_DEDUP_KEY_MAX);
        assert_non_null(strstr(a, "/18446744073709551615"));
        free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(trigger_has_the_documented_shape),
            cmocka_unit_test(resolve_sends_only_the_key),
            cmocka_unit_test(missing_fields_and_long_keys_are_refused),
            cmocka_unit_test(summary_is_cut_at_a_utf8_boundary),
            cmocka_unit_test(answers_are_read),
            cmocka_unit_test(dedup_key_is_stable_and_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
