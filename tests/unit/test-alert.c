/* The PagerDuty plan (core/alert.c) and its outbox file (codec/pager-outbox-json.c): one
 * incident per rollout, triggered at the configured levels, resolved by a promotion, a retry or
 * a new rollout, never twice for one transition, never for one before alerting was set up; and
 * the outbox round trip with its refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/alert.h"
#include "canaryd/pager-outbox.h"
#include "canaryd/util.h"

#define T0 1765000000000000ULL /* a rollout's start */

static struct rollout_state state_at(enum rollout_phase phase, uint64_t started, uint64_t updated)
{
        struct rollout_state s = {.phase = phase, .started_usec = started, .updated_usec = updated};
        return s;
}

static void rollback_pages_once(void **unused)
{
        (void)unused;
        struct alert_record rec = {0};
        struct alert_plan plan;
        struct rollout_state s = state_at(ROLLOUT_PROGRESSING, T0, T0);

        /* started: level 3, not paged by default */
        alert_plan(&rec, &s, NOTIFY_STARTED, ALERT_LEVELS_DEFAULT, 0, &plan);
        assert_int_equal(plan.n, 0);
        s = state_at(ROLLOUT_ROLLED_BACK, T0, T0 + 600);
        alert_plan(&rec, &s, NOTIFY_ROLLED_BACK, ALERT_LEVELS_DEFAULT, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].op, ALERT_TRIGGER);
        assert_int_equal(plan.steps[0].level, 1);
        assert_true(plan.steps[0].rollout_usec == T0);
        assert_true(rec.open);
        assert_true(rec.done_usec == T0 + 600);
        /* the same transition again (a re-read, a restart): nothing */
        alert_plan(&rec, &s, NOTIFY_ROLLED_BACK, ALERT_LEVELS_DEFAULT, 0, &plan);
        assert_int_equal(plan.n, 0);
        /* a retry is a new rollout: the old incident is resolved */
        s = state_at(ROLLOUT_PROGRESSING, T0 + 900, T0 + 900);
        alert_plan(&rec, &s, NOTIFY_STARTED, ALERT_LEVELS_DEFAULT, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].op, ALERT_RESOLVE);
        assert_true(plan.steps[0].rollout_usec == T0);
        assert_false(rec.open);
}

static void promotion_resolves_and_levels_choose(void **unused)
{
        (void)unused;
        struct alert_record rec = {0};
        struct alert_plan plan;
        unsigned levels = ALERT_LEVEL_BIT(1) | ALERT_LEVEL_BIT(2);
        struct rollout_state s = state_at(ROLLOUT_PAUSED, T0, T0 + 10);

        alert_plan(&rec, &s, NOTIFY_PAUSED, levels, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].level, 2);
        assert_string_equal(alert_severity(plan.steps[0].level), "warning");
        /* drift on the same rollout: triggered again on the same incident, at level 1 */
        s.updated_usec = T0 + 20;
        alert_plan(&rec, &s, NOTIFY_DRIFT, levels, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].op, ALERT_TRIGGER);
        assert_true(plan.steps[0].rollout_usec == T0);
        assert_string_equal(alert_severity(plan.steps[0].level), "critical");
        /* promoted: resolved, nothing triggered */
        s = state_at(ROLLOUT_PROMOTED, T0, T0 + 30);
        alert_plan(&rec, &s, NOTIFY_PROMOTED, ALERT_LEVELS_ALL, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].op, ALERT_RESOLVE);
        /* an abort by hand is level 3: paged only when level 3 is chosen */
        rec = (struct alert_record){0};
        s = state_at(ROLLOUT_ROLLED_BACK, T0 + 40, T0 + 50);
        alert_plan(&rec, &s, NOTIFY_ABORTED, levels, 0, &plan);
        assert_int_equal(plan.n, 0);
        s.updated_usec++;
        alert_plan(&rec, &s, NOTIFY_ABORTED, ALERT_LEVELS_ALL, 0, &plan);
        assert_int_equal(plan.n, 1);
        assert_string_equal(alert_severity(plan.steps[0].level), "info");
        assert_null(alert_severity(0));
        assert_null(alert_severity(4));
}

static void nothing_before_since(void **unused)
{
        (void)unused;
        struct alert_record rec = {0};
        struct alert_plan plan;
        struct rollout_state s = state_at(ROLLOUT_ROLLED_BACK, T0, T0 + 5);

        /* a rollback older than the outbox: learnt, not paged, and not paged later either */
        alert_plan(&rec, &s, NOTIFY_ROLLED_BACK, ALERT_LEVELS_ALL, T0 + 100, &plan);
        assert_int_equal(plan.n, 0);
        assert_true(rec.done_usec == T0 + 5);
        alert_plan(&rec, &s, NOTIFY_ROLLED_BACK, ALERT_LEVELS_ALL, 0, &plan);
        assert_int_equal(plan.n, 0);
}

static void implied_from_state(void **unused)
{
        (void)unused;
        struct rollout_state s = state_at(ROLLOUT_PROGRESSING, T0, T0);

        assert_int_equal(alert_implied_notify(&s), NOTIFY_STARTED);
        s.updated_usec++;
        assert_int_equal(alert_implied_notify(&s), NOTIFY_PROGRESSED);
        s.phase = ROLLOUT_PAUSED;
        strcpy(s.last_reason, "weights changed outside canaryd: canary at 40%, expected 25%");
        assert_int_equal(alert_implied_notify(&s), NOTIFY_DRIFT);
        strcpy(s.last_reason, "paused by hand");
        assert_int_equal(alert_implied_notify(&s), NOTIFY_PAUSED);
        s.phase = ROLLOUT_ROLLED_BACK;
        assert_int_equal(alert_implied_notify(&s), NOTIFY_ROLLED_BACK);
        strcpy(s.last_actor, "uid:1000");
        assert_int_equal(alert_implied_notify(&s), NOTIFY_ABORTED);
        s.phase = ROLLOUT_PROMOTED;
        assert_int_equal(alert_implied_notify(&s), NOTIFY_PROMOTED);
        s.phase = ROLLOUT_IDLE;
        assert_int_equal(alert_implied_notify(&s), _ROLLOUT_NOTIFY_MAX);
}

static void outbox_round_trip(void **unused)
{
        (void)unused;
        struct pager_outbox o = {.since_usec = T0}, back;
        char *err = NULL;

        struct alert_record *r = pager_outbox_record(&o, "web");
        r->rollout_usec = T0 + 1;
        r->open = true;
        r->done_usec = T0 + 2;
        pager_outbox_record(&o, "api")->done_usec = T0 + 3;
        assert_ptr_equal(pager_outbox_record(&o, "web"), pager_outbox_find(&o, "web"));
        assert_null(pager_outbox_find(&o, "nope"));
        o.events = xcalloc(1, sizeof(*o.events));
        o.events[0] = (struct pager_outbox_event){xstrdup("web"), xstrdup("canaryd/web/1"),
                                                  xstrdup("trigger"), xstrdup("{\"a\":1}")};
        o.n_events = 1;
        char *json = pager_outbox_to_json(&o);
        assert_int_equal(pager_outbox_from_json(json, strlen(json), &back, &err), 0);
        assert_true(back.since_usec == T0);
        assert_int_equal(back.n_canaries, 2);
        assert_string_equal(back.canaries[0].name, "api"); /* sorted */
        const struct alert_record *w = pager_outbox_find(&back, "web");
        assert_non_null(w);
        assert_true(w->open && w->rollout_usec == T0 + 1 && w->done_usec == T0 + 2);
        assert_int_equal(back.n_events, 1);
        assert_string_equal(back.events[0].body, "{\"a\":1}");
        pager_outbox_done(&back);
        pager_outbox_done(&o);
        free(json);
}

static void outbox_refusals(void **unused)
{
        (void)unused;
        static const char *const bad[] = {
            "",
            "[]",
            "{\"version\":2,\"since\":1,\"events\":[],\"canaries\":{}}",
            "{\"version\":1,\"since\":-1,\"events\":[],\"canaries\":{}}",
            "{\"version\":1,\"since\":1.5,\"events\":[],\"canaries\":{}}",
            "{\"version\":1,\"since\":1,\"events\":{},\"canaries\":{}}",
            "{\"version\":1,\"since\":1,\"events\":[],\"canaries\":[]}",
            "{\"version\":1,\"since\":1,\"events\":[{\"canary\":\"a\",\"dedup_key\":\"k\","
            "\"action\":\"acknowledge\",\"body\":\"{}\"}],\"canaries\":{}}",
            "{\"version\":1,\"since\":1,\"events\":[{\"canary\":\"a\",\"dedup_key\":\"k\","
            "\"action\":\"trigger\",\"body\":\"not json\"}],\"canaries\":{}}",
            "{\"version\":1,\"since\":1,\"events\":[],\"canaries\":{\"a\":{\"rollout\":1,"
            "\"open\":1,\"done\":1}}}",
            "{\"version\":1,\"since\":1,\"events\":[],\"canaries\":{\"a\":{\"rollout\":1,"
            "\"open\":true,\"done\":1},\"a\":{\"rollout\":2,\"open\":true,\"done\":2}}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct pager_outbox o;
                char *err = NULL;
                assert_int_equal(pager_outbox_from_json(bad[i], strlen(bad[i]), &o, &err), -EINVAL);
                assert_non_null(err);
                assert_int_equal(o.n_events + o.n_canaries, 0);
                free(err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(rollback_pages_once),
            cmocka_unit_test(promotion_resolves_and_levels_choose),
            cmocka_unit_test(nothing_before_since),
            cmocka_unit_test(implied_from_state),
            cmocka_unit_test(outbox_round_trip),
            cmocka_unit_test(outbox_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
