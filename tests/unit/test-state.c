/* The canaryd.io/state annotation round-trips exactly and refuses anything it cannot trust. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/state-json.h"

static void round_trip_is_exact(void **unused)
{
        struct rollout_state s, back;
        rollout_state_init(&s);
        s.phase = ROLLOUT_PAUSED;
        s.step = 3;
        s.weight = 50;
        strcpy(s.revision, "7d9f\"quoted\"");
        s.failed_checks = 1;
        s.inconclusive_checks = 4;
        s.analyses = 9;
        s.started_usec = 1763780000123456ULL;
        s.step_started_usec = 1763780100000001ULL;
        s.updated_usec = 1763780200999999ULL;
        strcpy(s.last_actor, "uid:1000");
        strcpy(s.last_reason, "drift: canary at 40%");
        s.step_entered_ms[0] = 1763780000123ULL;
        s.step_entered_ms[1] = 1763780050000ULL;
        s.step_entered_ms[2] = 1763780100999ULL;
        s.approval_since_usec = 1763780150000042ULL;
        char *json = state_to_json(&s, NULL);
        char *err = NULL, ts[SLACK_THREAD_TS_MAX] = "x";
        assert_null(strstr(json, "slack_thread_ts")); /* not known: not written */
        assert_int_equal(state_from_json(json, strlen(json), 5, &back, ts, &err), 0);
        assert_memory_equal(&s, &back, sizeof(s));
        assert_string_equal(ts, "");
        free(json);
        /* the Slack thread's ts rides beside the state */
        json = state_to_json(&s, "1763780000.123456");
        assert_int_equal(state_from_json(json, strlen(json), 5, &back, ts, &err), 0);
        assert_memory_equal(&s, &back, sizeof(s));
        assert_string_equal(ts, "1763780000.123456");
        free(json);
}

/* Step times are derived data: absent (older daemons) or malformed entries are unknown (0) and
 * never make the state unreadable. */
static void step_times_are_optional_and_lenient(void **unused)
{
        struct rollout_state s;
        char *err = NULL;
        const char *old = "{\"phase\":\"Progressing\",\"step\":2,\"weight\":25,\"revision\":\"r\","
                          "\"failed_checks\":0,\"inconclusive_checks\":0,\"analyses\":1,"
                          "\"started_at\":\"2026-12-05T10:00:00Z\",\"step_started_at\":"
                          "\"2026-12-05T10:05:00Z\",\"updated_at\":\"2026-12-05T10:05:00Z\"";
        char json[600];
        snprintf(json, sizeof(json), "%s}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), 0);
        assert_int_equal(s.step_entered_ms[0], 0);
        snprintf(json, sizeof(json),
                 "%s,\"step_times\":[1796378400123,\"x\",-5,1.5,1796378700000]}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), 0);
        assert_int_equal(s.step_entered_ms[0], 1796378400123ULL);
        assert_int_equal(s.step_entered_ms[1], 0);
        assert_int_equal(s.step_entered_ms[2], 0);
        assert_int_equal(s.step_entered_ms[3], 0);
        assert_int_equal(s.step_entered_ms[4], 1796378700000ULL);
        snprintf(json, sizeof(json), "%s,\"step_times\":{\"a\":1}}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), 0);
        assert_int_equal(s.step_entered_ms[0], 0);
}

/* A wait for approval (SPEC §9) is written only while there is one, so older annotations read
 * as "not waiting"; a malformed one is refused rather than dropped, which would let the rollout
 * go on without approval. */
static void approval_since_is_optional_but_never_guessed(void **unused)
{
        struct rollout_state s;
        char *err = NULL;
        const char *old = "{\"phase\":\"Progressing\",\"step\":2,\"weight\":25,\"revision\":\"r\","
                          "\"failed_checks\":0,\"inconclusive_checks\":0,\"analyses\":1,"
                          "\"started_at\":\"2026-12-05T10:00:00Z\",\"step_started_at\":"
                          "\"2026-12-05T10:05:00Z\",\"updated_at\":\"2026-12-05T10:05:00Z\"";
        char json[600];
        snprintf(json, sizeof(json), "%s}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), 0);
        assert_int_equal(s.approval_since_usec, 0);
        char *out = state_to_json(&s, NULL);
        assert_null(strstr(out, "approval_since"));
        free(out);
        snprintf(json, sizeof(json), "%s,\"approval_since\":\"2026-12-05T10:05:00.5Z\"}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), 0);
        assert_int_equal(s.approval_since_usec, 1796465100500000ULL);
        out = state_to_json(&s, NULL);
        assert_non_null(strstr(out, "\"approval_since\":\"2026-12-05T10:05:00.500000Z\""));
        free(out);
        snprintf(json, sizeof(json), "%s,\"approval_since\":true}", old);
        assert_int_equal(state_from_json(json, strlen(json), 5, &s, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "approval_since"));
        free(err);
}

static void rfc3339_keeps_microseconds(void **unused)
{
        char buf[40];
        usec_t t;
        assert_string_equal(format_rfc3339(1589290278000000ULL, buf, sizeof(buf)),
                            "2020-05-12T13:31:18.000000Z");
        assert_int_equal(parse_rfc3339("2023-07-04T21:58:48.065888Z", &t), 0);
        assert_int_equal(t, 1688507928065888ULL);
        assert_int_equal(parse_rfc3339("2023-07-04T21:58:48Z", &t), 0);
        /* an offset is an instant too (hand-edited, or written by Go) */
        assert_int_equal(parse_rfc3339("2023-07-04T21:58:48+02:00", &t), 0);
        assert_int_equal(t, 1688507928000000ULL - 7200 * USEC_PER_SEC);
        assert_int_equal(parse_rfc3339("2023-07-04T21:58:48", &t), -EINVAL); /* no zone */
        assert_int_equal(parse_rfc3339(" 2023-07-04T21:58:48Z", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("2023-7-04T21:58:48Z", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("1969-12-31T23:59:59Z", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("yesterday", &t), -EINVAL);
}

static void bad_states_are_refused(void **unused)
{
        static const char *const bad[] = {
            "",
            "[]",
            "{\"phase\":\"Flying\"}",
            "{\"phase\":\"Progressing\",\"step\":2,\"weight\":101}",
            "{\"phase\":\"Progressing\",\"step\":9,\"weight\":10}",
            "{\"phase\":\"Progressing\",\"step\":0,\"weight\":10,\"failed_checks\":0,"
            "\"inconclusive_checks\":0,\"analyses\":0,\"started_at\":\"2020-01-01T00:00:00Z\","
            "\"step_started_at\":\"2020-01-01T00:00:00Z\",\"updated_at\":\"2020-01-01T00:00:00Z\"}",
            "{\"phase\":\"Progressing\",\"step\":1,\"weight\":-5}",
            "{\"phase\":\"Progressing\",\"step\":1,\"weight\":2.5}",
            "{\"phase\":\"Idle\",\"step\":0,\"weight\":0,\"failed_checks\":0,"
            "\"inconclusive_checks\":0,\"analyses\":0,\"started_at\":\"never\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct rollout_state s;
                memset(&s, 0x5a, sizeof(s));
                struct rollout_state untouched = s;
                char *err = NULL;
                assert_int_equal(state_from_json(bad[i], strlen(bad[i]), 5, &s, NULL, &err),
                                 -EINVAL);
                assert_non_null(err);
                assert_memory_equal(&s, &untouched, sizeof(s)); /* written only on success */
                free(err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(round_trip_is_exact),
            cmocka_unit_test(step_times_are_optional_and_lenient),
            cmocka_unit_test(approval_since_is_optional_but_never_guessed),
            cmocka_unit_test(rfc3339_keeps_microseconds),
            cmocka_unit_test(bad_states_are_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
