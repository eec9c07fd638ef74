/* Datadog events codec: POST /api/v1/events bodies (fields of Datadog's v1 EventCreateRequest,
 * limits held), the answers (202, 400, 403, 429, 5xx) and the rollout's aggregation key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "canaryd/datadog-event-json.h"
#include "canaryd/utf8.h"

#define STARTED_USEC 1700000000123456ULL
#define AT_USEC      1700000600999999ULL

static const char *str_at(const cJSON *root, const char *k)
{
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, k);
        return cJSON_IsString(o) ? o->valuestring : NULL;
}

static size_t n_tags(const cJSON *root)
{
        return (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "tags"));
}

static bool has_tag(const cJSON *root, const char *tag)
{
        const cJSON *t;
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(root, "tags"))
                if (cJSON_IsString(t) && strcmp(t->valuestring, tag) == 0)
                        return true;
        return false;
}

static cJSON *build(const struct datadog_event *e)
{
        char *body = NULL;
        assert_int_equal(datadog_event_build(e, &body), 0);
        assert_true(utf8_valid(body, strlen(body)));
        cJSON *root = cJSON_Parse(body);
        assert_non_null(root);
        free(body);
        return root;
}

static void rollback_has_the_documented_shape(void **state)
{
        struct datadog_event e = {.kind = DATADOG_EVENT_ROLLED_BACK,
                                  .canary = "checkout",
                                  .namespace_ = "shop",
                                  .revision = "v2-abc123",
                                  .reason = "error_rate 0.12 > 0.05 (critical)",
                                  .weight_pct = 0,
                                  .step = 2,
                                  .n_steps = 5,
                                  .at_usec = AT_USEC,
                                  .started_usec = STARTED_USEC};
        (void)state;

        cJSON *root = build(&e);
        assert_string_equal(str_at(root, "title"), "canaryd: checkout rolled back at 0%");
        assert_string_equal(str_at(root, "alert_type"), "error");
        assert_string_equal(str_at(root, "priority"), "normal");
        assert_string_equal(str_at(root, "aggregation_key"), "canaryd/checkout/1700000000123456");
        const cJSON *dh = cJSON_GetObjectItemCaseSensitive(root, "date_happened");
        assert_true(cJSON_IsNumber(dh));
        assert_true(dh->valuedouble == 1700000600.0); /* seconds, floored */
        assert_int_equal(n_tags(root), 4);
        assert_true(has_tag(root, "canary:checkout"));
        assert_true(has_tag(root, "namespace:shop"));
        assert_true(has_tag(root, "revision:v2-abc123"));
        assert_true(has_tag(root, "source:canaryd"));
        const char *text = str_at(root, "text");
        assert_non_null(text);
        assert_true(strncmp(text, "%%% \n", 5) == 0);
        assert_true(strcmp(text + strlen(text) - 5, "\n %%%") == 0);
        assert_non_null(strstr(text, "**checkout**"));
        assert_non_null(strstr(text, "step 2 of 5"));
        assert_non_null(strstr(text, "Reason: error_rate 0.12 > 0.05 (critical)"));
        assert_null(strstr(text, "By:"));
        assert_null(strstr(text, "report"));
        /* only documented fields */
        const cJSON *f;
        cJSON_ArrayForEach (f, root) {
                static const char *const known[] = {
                    "title",           "text", "alert_type", "priority", "date_happened",
                    "aggregation_key", "tags", NULL};
                bool ok = false;
                for (size_t i = 0; known[i]; i++)
                        ok = ok || strcmp(f->string, known[i]) == 0;
                assert_true(ok);
        }
        cJSON_Delete(root);
}

static void kinds_map_to_alert_types(void **state)
{
        static const struct {
                enum datadog_event_kind k;
                const char *alert, *word;
        } cases[] = {{DATADOG_EVENT_STARTED, "info", "started"},
                     {DATADOG_EVENT_PROMOTED, "success", "promoted"},
                     {DATADOG_EVENT_ROLLED_BACK, "error", "rolled back"},
                     {DATADOG_EVENT_ABORTED, "warning", "aborted"}};
        (void)state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct datadog_event e = {.kind = cases[i].k,
                                          .canary = "c",
                                          .namespace_ = "ns",
                                          .actor = "alice",
                                          .link = "https://reports.example/c/1",
                                          .weight_pct = 10};
                cJSON *root = build(&e);
                assert_string_equal(str_at(root, "alert_type"), cases[i].alert);
                assert_string_equal(datadog_event_alert_type(cases[i].k), cases[i].alert);
                assert_string_equal(datadog_event_kind_to_string(cases[i].k), cases[i].word);
                assert_non_null(strstr(str_at(root, "title"), cases[i].word));
                assert_non_null(strstr(str_at(root, "text"), "By: alice"));
                assert_non_null(
                    strstr(str_at(root, "text"), "[Rollout report](https://reports.example/c/1)"));
                assert_int_equal(n_tags(root), 3); /* no revision: no revision tag */
                assert_false(has_tag(root, "revision:"));
                cJSON_Delete(root);
        }
        assert_null(datadog_event_kind_to_string(_DATADOG_EVENT_KIND_MAX));
        assert_null(datadog_event_alert_type((enum datadog_event_kind) - 1));
}

static void limits_are_held(void **state)
{
        char name[260], reason[5000], revision[300];
        (void)state;

        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        memset(reason, 'r', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = 0;
        reason[10] = '\xff'; /* invalid UTF-8: replaced */
        memset(revision, 'v', sizeof(revision) - 1);
        revision[sizeof(revision) - 1] = 0;
        /* a four-byte character across the title's cut */
        struct datadog_event e = {.kind = DATADOG_EVENT_STARTED,
                                  .canary = name,
                                  .namespace_ = "ns",
                                  .revision = revision,
                                  .reason = reason,
                                  .started_usec = STARTED_USEC};
        cJSON *root = build(&e);
        assert_true(strlen(str_at(root, "title")) <= DATADOG_EVENT_TITLE_MAX);
        const char *text = str_at(root, "text");
        assert_true(strlen(text) <= DATADOG_EVENT_TEXT_MAX);
        assert_true(strcmp(text + strlen(text) - 5, "\n %%%") == 0); /* the closing marker kept */
        assert_non_null(strstr(text, "\xef\xbf\xbd"));
        const char *key = str_at(root, "aggregation_key");
        assert_true(strlen(key) <= DATADOG_EVENT_AGG_KEY_MAX);
        assert_true(strcmp(key + strlen(key) - 17, "/1700000000123456") == 0);
        const cJSON *t;
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(root, "tags"))
                assert_true(strlen(t->valuestring) <= DATADOG_EVENT_TAG_MAX);
        cJSON_Delete(root);

        /* the title cut never splits a character */
        char wide[200] = "";
        for (int i = 0; i < 40; i++)
                strcat(wide, "\xf0\x9f\x90\xa4"); /* U+1F424 */
        e.canary = wide;
        e.reason = NULL;
        root = build(&e);
        assert_true(utf8_valid(str_at(root, "title"), strlen(str_at(root, "title"))));
        cJSON_Delete(root);
}

static void required_fields(void **state)
{
        char untouched[] = "untouched";
        char *body = untouched;
        struct datadog_event e = {.kind = DATADOG_EVENT_STARTED, .canary = "c", .namespace_ = ""};
        (void)state;

        assert_int_equal(datadog_event_build(&e, &body), -EINVAL);
        e.namespace_ = "ns";
        e.canary = NULL;
        assert_int_equal(datadog_event_build(&e, &body), -EINVAL);
        e.canary = "c";
        e.kind = _DATADOG_EVENT_KIND_MAX;
        assert_int_equal(datadog_event_build(&e, &body), -EINVAL);
        assert_int_equal(datadog_event_build(NULL, &body), -EINVAL);
        assert_string_equal(body, "untouched");
}

static void aggregation_key(void **state)
{
        (void)state;
        char *k = datadog_event_aggregation_key("checkout", 42);
        assert_string_equal(k, "canaryd/checkout/42");
        free(k);
        k = datadog_event_aggregation_key("a\nb", 1); /* control characters dropped */
        assert_string_equal(k, "canaryd/ab/1");
        free(k);
}

static void answers(void **state)
{
        struct datadog_event_result r;
        (void)state;

        static const char ok[] = "{\"status\":\"ok\",\"event\":{\"id\":7000000000000000001,"
                                 "\"id_str\":\"7000000000000000001\",\"title\":\"t\"}}";
        datadog_event_result_parse(202, ok, strlen(ok), &r);
        assert_int_equal(r.status, DATADOG_EVENT_ACCEPTED);
        assert_true(r.id == INT64_C(7000000000000000001)); /* exact: from id_str */
        assert_null(r.errors);
        datadog_event_result_done(&r);

        static const char small[] = "{\"status\":\"ok\",\"event\":{\"id\":1234}}";
        datadog_event_result_parse(202, small, strlen(small), &r);
        assert_int_equal(r.status, DATADOG_EVENT_ACCEPTED);
        assert_true(r.id == 1234);
        datadog_event_result_done(&r);

        /* unreadable 2xx: posted all the same (a retry would post it twice) */
        datadog_event_result_parse(202, "<html>", 6, &r);
        assert_int_equal(r.status, DATADOG_EVENT_ACCEPTED);
        assert_true(r.id == 0);
        datadog_event_result_done(&r);

        static const char bad[] = "{\"errors\":[\"Event title is required\"]}";
        datadog_event_result_parse(400, bad, strlen(bad), &r);
        assert_int_equal(r.status, DATADOG_EVENT_INVALID);
        assert_string_equal(r.errors, "Event title is required");
        datadog_event_result_done(&r);
        assert_null(r.errors);

        static const char forbidden[] = "{\"errors\":[\"Forbidden\"]}";
        datadog_event_result_parse(403, forbidden, strlen(forbidden), &r);
        assert_int_equal(r.status, DATADOG_EVENT_REFUSED);
        datadog_event_result_done(&r);

        datadog_event_result_parse(429, NULL, 0, &r); /* empty 429, as recorded */
        assert_int_equal(r.status, DATADOG_EVENT_RETRY);
        assert_null(r.errors);
        datadog_event_result_done(&r);
        datadog_event_result_parse(503, "x", 1, &r);
        assert_int_equal(r.status, DATADOG_EVENT_RETRY);
        datadog_event_result_done(&r);
        datadog_event_result_parse(404, "", 0, &r);
        assert_int_equal(r.status, DATADOG_EVENT_REFUSED);
        datadog_event_result_done(&r);
        datadog_event_result_done(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(rollback_has_the_documented_shape),
            cmocka_unit_test(kinds_map_to_alert_types),
            cmocka_unit_test(limits_are_held),
            cmocka_unit_test(required_fields),
            cmocka_unit_test(aggregation_key),
            cmocka_unit_test(answers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
