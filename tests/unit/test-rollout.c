/* The rollout engine as a specification: table rows of (state, event, now) -> (expected state,
 * expected actions), then a few properties checked over random event sequences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/rollout.h"

#define S(x) ((usec_t)(x)*USEC_PER_SEC)

static const uint8_t steps[] = {5, 25, 50, 100};
static const struct rollout_spec spec = {
    .steps = steps,
    .n_steps = 4,
    .interval_usec = S(60),
    .query_lag_usec = S(10),
    .failure_limit = 1,
    .inconclusive_limit = 2,
};

/* Approval steps (SPEC §9): [10, {25, approve}, {50, approve}, 100], waits of at most 30 min;
 * and the same without a timeout. */
static const uint8_t approval_weights[] = {10, 25, 50, 100};
static const uint8_t approval_bits[] = {0x06}; /* steps 2 and 3 */
static const struct rollout_spec approval = {
    .steps = approval_weights,
    .n_steps = 4,
    .interval_usec = S(60),
    .query_lag_usec = S(10),
    .failure_limit = 1,
    .inconclusive_limit = 2,
    .approve = approval_bits,
    .approve_timeout_usec = S(1800),
};
static const struct rollout_spec approval_forever = {
    .steps = approval_weights,
    .n_steps = 4,
    .interval_usec = S(60),
    .query_lag_usec = S(10),
    .failure_limit = 1,
    .inconclusive_limit = 2,
    .approve = approval_bits,
};

static struct rollout_state at(enum rollout_phase phase, unsigned step, unsigned weight,
                               usec_t step_started)
{
        struct rollout_state s;
        rollout_state_init(&s);
        s.phase = phase;
        s.step = step;
        s.weight = weight;
        s.step_started_usec = step_started;
        strcpy(s.revision, "r1");
        return s;
}

struct row {
        const char *name;
        struct rollout_state before;
        struct rollout_event ev;
        usec_t now;
        /* expectations */
        const char *refused; /* substring, or NULL when accepted */
        enum rollout_phase phase;
        unsigned step, weight;
        unsigned failed, inconclusive;
        /* the action kinds in order, terminated by _ROLLOUT_ACTION_KIND_MAX */
        enum rollout_action_kind acts[ROLLOUT_ACTIONS_MAX + 1];
        enum rollout_notify notify;      /* checked when an ACT_NOTIFY is expected */
        bool set_weights;                /* checked when the first action is ACT_WRITE */
        usec_t timer_at;                 /* checked when an ACT_ARM_TIMER is expected */
        bool ignored;                    /* dropped unheard (a stale verdict) */
        const struct rollout_spec *spec; /* NULL: spec */
        usec_t since;                    /* approval_since_usec after it (0: not waiting) */
        const char *reason;              /* a substring of last_reason after it, when set */
};

#define END _ROLLOUT_ACTION_KIND_MAX

static const struct row rows[] = {
    {"start from idle writes step 1 and waits an interval", .before = {.phase = ROLLOUT_IDLE},
     .ev = {.kind = EV_CMD_START, .revision = "r2"}, .now = S(1000), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(1060)},
    {"tick before the interval re-arms the timer, nothing else",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5, .step_started_usec = S(1000)},
     .ev = {.kind = EV_TICK}, .now = S(1030), .phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5,
     .acts = {ACT_ARM_TIMER, END}, .timer_at = S(1060)},
    {"tick after the interval queries the step's window",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5, .step_started_usec = S(1000)},
     .ev = {.kind = EV_TICK}, .now = S(1061), .phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5,
     .acts = {ACT_QUERY, END}},
    {"pass advances to the next weight",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2060)},
    {"pass at the step before 100 promotes",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2000),
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {ACT_WRITE, ACT_NOTIFY, END},
     .notify = NOTIFY_PROMOTED, .set_weights = true},
    {"critical failure rolls back at once",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL_CRITICAL}, .now = S(2000),
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .weight = 0, .failed = 1,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ROLLED_BACK, .set_weights = true},
    {"first non-critical failure is tolerated and the step is analysed again",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .failed = 1,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_ANALYSIS_FAILED,
     .set_weights = false, .timer_at = S(2060)},
    {"failure past failure_limit rolls back",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .failed_checks = 1},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL}, .now = S(2000),
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .weight = 0, .failed = 2,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ROLLED_BACK, .set_weights = true},
    {"inconclusive holds the weight and counts",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_INCONCLUSIVE}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .inconclusive = 1,
     .acts = {ACT_WRITE, ACT_ARM_TIMER, END}, .set_weights = false, .timer_at = S(2060)},
    {"inconclusive past inconclusive_limit pauses",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .inconclusive_checks = 2},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_INCONCLUSIVE}, .now = S(2000),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .inconclusive = 3,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false},
    {"a Kubernetes outage of two intervals counts two inconclusive checks; the step waits again",
     .before =
         {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .step_started_usec = S(1000)},
     .ev = {.kind = EV_KUBE_OUTAGE,
            .outage_checks = 2,
            .outage_since_usec = S(1030),
            .for_step = 2,
            .for_step_started_usec = S(1000)},
     .now = S(1200), .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .inconclusive = 2,
     .acts = {ACT_WRITE, ACT_ARM_TIMER, END}, .set_weights = false, .timer_at = S(1260),
     .reason = "Kubernetes unreachable for 170s: counted as 2 inconclusive checks"},
    {"a Kubernetes outage past inconclusive_limit pauses: nothing promoted",
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(1000),
                .inconclusive_checks = 1},
     .ev = {.kind = EV_KUBE_OUTAGE,
            .outage_checks = 2,
            .outage_since_usec = S(1030),
            .for_step = 2,
            .for_step_started_usec = S(1000)},
     .now = S(1200), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .inconclusive = 3,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false,
     .reason = "Kubernetes unreachable for 170s: 2 inconclusive checks (inconclusive_limit 2)"},
    {"a Kubernetes outage of a step the rollout has left is ignored",
     .before =
         {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50, .step_started_usec = S(1300)},
     .ev = {.kind = EV_KUBE_OUTAGE,
            .outage_checks = 2,
            .outage_since_usec = S(1030),
            .for_step = 2,
            .for_step_started_usec = S(1000)},
     .now = S(1400), .phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50, .acts = {END},
     .ignored = true},
    {"a Kubernetes outage while paused is ignored",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .step_started_usec = S(1000)},
     .ev = {.kind = EV_KUBE_OUTAGE,
            .outage_checks = 5,
            .outage_since_usec = S(1030),
            .for_step = 2,
            .for_step_started_usec = S(1000)},
     .now = S(1400), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END},
     .ignored = true},
    {"a step that starts after now (the clock went back across a restart) waits again from now",
     .before =
         {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .step_started_usec = S(5000)},
     .ev = {.kind = EV_TICK}, .now = S(1400), .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_ARM_TIMER, END}, .set_weights = false, .timer_at = S(1460),
     .reason = "the wall clock is behind the step's start"},
    {"a step that starts within a minute of now waits as it is",
     .before =
         {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .step_started_usec = S(1430)},
     .ev = {.kind = EV_TICK}, .now = S(1400), .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_ARM_TIMER, END}, .timer_at = S(1490)},
    {"a verdict arriving while paused is ignored",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2000),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END}, .ignored = true},
    {"promote skips to the next step now",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 2,
     .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2060)},
    {"promote --full goes to 100 now",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5},
     .ev = {.kind = EV_CMD_PROMOTE, .full = true}, .now = S(2000), .phase = ROLLOUT_PROMOTED,
     .step = 4, .weight = 100, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PROMOTED,
     .set_weights = true},
    {"promote refused while idle", .before = {.phase = ROLLOUT_IDLE},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_IDLE, .acts = {END}},
    {"promote refused once rolled back", .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .acts = {END}},
    {"abort rolls back now and says aborted",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50},
     .ev = {.kind = EV_CMD_ABORT, .reason = "bad deploy"}, .now = S(2000),
     .phase = ROLLOUT_ROLLED_BACK, .step = 3, .weight = 0, .acts = {ACT_WRITE, ACT_NOTIFY, END},
     .notify = NOTIFY_ABORTED, .set_weights = true},
    {"abort works while paused", .before = {.phase = ROLLOUT_PAUSED, .step = 3, .weight = 50},
     .ev = {.kind = EV_CMD_ABORT}, .now = S(2000), .phase = ROLLOUT_ROLLED_BACK, .step = 3,
     .weight = 0, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ABORTED,
     .set_weights = true},
    {"abort refused once promoted", .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_ABORT}, .now = S(2000), .refused = "nothing to abort",
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {END}},
    {"pause holds the weight", .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_PAUSE}, .now = S(2000), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false},
    {"pause refused while paused", .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_PAUSE}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END}},
    {"resume restores our weights and starts a fresh window",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .inconclusive_checks = 3},
     .ev = {.kind = EV_CMD_RESUME}, .now = S(3000), .phase = ROLLOUT_PROGRESSING, .step = 2,
     .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_RESUMED,
     .set_weights = true, .timer_at = S(3060)},
    {"resume refused while progressing",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_RESUME}, .now = S(2000), .refused = "not paused",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"retry restarts a rolled-back canary from step 1",
     .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 3, .weight = 0, .failed_checks = 2},
     .ev = {.kind = EV_CMD_RETRY}, .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 1,
     .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_STARTED,
     .set_weights = true, .timer_at = S(2060)},
    {"retry refused unless rolled back",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100}, .ev = {.kind = EV_CMD_RETRY},
     .now = S(2000), .refused = "not rolled back", .phase = ROLLOUT_PROMOTED, .step = 4,
     .weight = 100, .acts = {END}},
    {"start of the running revision is refused",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_START, .revision = "r1"}, .now = S(2000), .refused = "already running",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"a new revision during a rollout starts over at step 1",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50, .failed_checks = 1},
     .ev = {.kind = EV_CMD_START, .revision = "r2"}, .now = S(2000), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(2060)},
    {"a promoted canary can start a new release",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_START, .revision = "r3"}, .now = S(2000), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(2060)},
    {"drift pauses without touching the weights",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_DRIFT, .observed_weight = 40}, .now = S(2000), .phase = ROLLOUT_PAUSED,
     .step = 2, .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_DRIFT,
     .set_weights = false},
    {"drift is ignored when idle", .before = {.phase = ROLLOUT_IDLE},
     .ev = {.kind = EV_DRIFT, .observed_weight = 40}, .now = S(2000), .phase = ROLLOUT_IDLE,
     .acts = {END}},
    /* every refusal, phase by phase: nothing changes, nothing is emitted */
    {"abort refused while idle", .before = {.phase = ROLLOUT_IDLE}, .ev = {.kind = EV_CMD_ABORT},
     .now = S(2000), .refused = "nothing to abort", .phase = ROLLOUT_IDLE, .acts = {END}},
    {"abort refused once rolled back", .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_CMD_ABORT}, .now = S(2000), .refused = "nothing to abort",
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .acts = {END}},
    {"pause refused while idle", .before = {.phase = ROLLOUT_IDLE}, .ev = {.kind = EV_CMD_PAUSE},
     .now = S(2000), .refused = "not progressing", .phase = ROLLOUT_IDLE, .acts = {END}},
    {"pause refused once promoted", .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_PAUSE}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {END}},
    {"pause refused once rolled back", .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_CMD_PAUSE}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .acts = {END}},
    {"resume refused while idle", .before = {.phase = ROLLOUT_IDLE}, .ev = {.kind = EV_CMD_RESUME},
     .now = S(2000), .refused = "not paused", .phase = ROLLOUT_IDLE, .acts = {END}},
    {"resume refused once promoted",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100}, .ev = {.kind = EV_CMD_RESUME},
     .now = S(2000), .refused = "not paused", .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100,
     .acts = {END}},
    {"resume refused once rolled back", .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_CMD_RESUME}, .now = S(2000), .refused = "not paused",
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .acts = {END}},
    {"retry refused while idle", .before = {.phase = ROLLOUT_IDLE}, .ev = {.kind = EV_CMD_RETRY},
     .now = S(2000), .refused = "not rolled back", .phase = ROLLOUT_IDLE, .acts = {END}},
    {"retry refused while progressing",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_RETRY}, .now = S(2000), .refused = "not rolled back",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"retry refused while paused", .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_RETRY}, .now = S(2000), .refused = "not rolled back",
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END}},
    {"promote refused once promoted",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_PROMOTE, .full = true}, .now = S(2000), .refused = "not progressing",
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {END}},
    {"start without a revision refused while progressing",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_START}, .now = S(2000), .refused = "already running",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"start of the same revision refused while paused",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_START, .revision = "r1"}, .now = S(2000), .refused = "already running",
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END}},
    {"start of the revision just promoted is refused (idempotent start)",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_START, .revision = "r1"}, .now = S(2000), .refused = "already promoted",
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {END}},
    {"start of the revision just rolled back is refused: retry is for that",
     .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_CMD_START, .revision = "r1"}, .now = S(2000), .refused = "use retry",
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .acts = {END}},
    {"start without a revision after a promotion runs again",
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100}, .ev = {.kind = EV_CMD_START},
     .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_STARTED,
     .set_weights = true, .timer_at = S(2060)},
    /* accepted corners */
    {"promote while paused continues at the next step",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .inconclusive_checks = 4},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 3,
     .weight = 50, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2060)},
    {"promote at the last step below 100 promotes",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .phase = ROLLOUT_PROMOTED, .step = 4,
     .weight = 100, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PROMOTED,
     .set_weights = true},
    {"a new revision while paused starts over at step 1 in one write",
     .before = {.phase = ROLLOUT_PAUSED, .step = 3, .weight = 50, .inconclusive_checks = 4},
     .ev = {.kind = EV_CMD_START, .revision = "r2"}, .now = S(2000), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(2060)},
    {"a rolled-back canary can start a new revision",
     .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2, .failed_checks = 2},
     .ev = {.kind = EV_CMD_START, .revision = "r2"}, .now = S(2000), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 5, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(2060)},
    {"drift while paused changes nothing (resume restores the weights)",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25},
     .ev = {.kind = EV_DRIFT, .observed_weight = 40}, .now = S(2000), .phase = ROLLOUT_PAUSED,
     .step = 2, .weight = 25, .acts = {END}},
    {"routes that disagree are drift, even when one holds our weight",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_DRIFT, .observed_weight = 25, .routes_disagree = true}, .now = S(2000),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, END},
     .notify = NOTIFY_DRIFT, .set_weights = false},
    {"a verdict for an earlier step is stale",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL_CRITICAL, .for_step = 2}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50, .acts = {END}, .ignored = true},
    {"a verdict for the same step of an earlier start is stale",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5, .step_started_usec = S(1900)},
     .ev = {.kind = EV_ANALYSIS,
            .analysis = ANALYSIS_PASS,
            .for_step = 1,
            .for_step_started_usec = S(1000)},
     .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 5, .acts = {END},
     .ignored = true},
    {"a verdict while idle is ignored", .before = {.phase = ROLLOUT_IDLE},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL_CRITICAL}, .now = S(2000),
     .phase = ROLLOUT_IDLE, .acts = {END}, .ignored = true},
    {"a tick while paused does nothing",
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .step_started_usec = S(1000)},
     .ev = {.kind = EV_TICK}, .now = S(99999), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25,
     .acts = {END}},
    {"a failure resets the inconclusive streak",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .inconclusive_checks = 2},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .failed = 1,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_ANALYSIS_FAILED,
     .set_weights = false, .timer_at = S(2060)},
    {"ticks do nothing in terminal phases", .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2},
     .ev = {.kind = EV_TICK}, .now = S(99999), .phase = ROLLOUT_ROLLED_BACK, .step = 2,
     .acts = {END}},

    /* approval steps (SPEC §9), on the spec `approval`: steps 2 (25%) and 3 (50%) wait */
    {"a pass at an approval step waits there for approval", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(1000),
                .inconclusive_checks = 1},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_AWAITING_APPROVAL,
     .set_weights = false, .timer_at = S(2060), .since = S(2000), .reason = "awaiting approval"},
    {"a pass at a step that needs no approval moves on as ever", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 10},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2000),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2060)},
    {"while it waits the canary is analysed on, the deadline armed", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_TICK}, .now = S(2061), .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_QUERY, ACT_ARM_TIMER, END}, .timer_at = S(3800), .since = S(2000)},
    {"a tick before the interval arms the earlier of the next look and the deadline",
     .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(3770),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_TICK}, .now = S(3780), .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25,
     .acts = {ACT_ARM_TIMER, END}, .timer_at = S(3800), .since = S(2000)},
    {"a pass while waiting keeps waiting and opens the next window", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000),
                .inconclusive_checks = 1},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2070),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {ACT_WRITE, ACT_ARM_TIMER, END},
     .set_weights = false, .timer_at = S(2130), .since = S(2000), .reason = "awaiting approval"},
    {"a tolerated failure while waiting says so and keeps waiting", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL}, .now = S(2070),
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .failed = 1,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_ANALYSIS_FAILED,
     .set_weights = false, .timer_at = S(2130), .since = S(2000)},
    {"a failure past failure_limit while waiting rolls back", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000),
                .failed_checks = 1},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL}, .now = S(2070),
     .phase = ROLLOUT_ROLLED_BACK, .step = 2, .weight = 0, .failed = 2,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ROLLED_BACK, .set_weights = true},
    {"a critical failure while waiting rolls back at once", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 3,
                .weight = 50,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_FAIL_CRITICAL}, .now = S(2070),
     .phase = ROLLOUT_ROLLED_BACK, .step = 3, .weight = 0, .failed = 1,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ROLLED_BACK, .set_weights = true},
    {"inconclusive past the limit while waiting pauses, and the wait is kept", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000),
                .inconclusive_checks = 2},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_INCONCLUSIVE}, .now = S(2070),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .inconclusive = 3,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false,
     .since = S(2000)},
    {"approve moves a waiting rollout to the next step", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000),
                .inconclusive_checks = 1},
     .ev = {.kind = EV_CMD_APPROVE, .actor = "slack:U0123"}, .now = S(2100),
     .phase = ROLLOUT_PROGRESSING, .step = 3, .weight = 50,
     .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2160), .reason = "approved"},
    {"approve at the last approval step promotes to 100", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 3,
                .weight = 50,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2100), .phase = ROLLOUT_PROMOTED, .step = 4,
     .weight = 100, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PROMOTED,
     .set_weights = true},
    {"promote moves a waiting rollout on as approve does", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2100), .phase = ROLLOUT_PROGRESSING, .step = 3,
     .weight = 50, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2160)},
    {"promote --full while waiting goes to 100", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_PROMOTE, .full = true}, .now = S(2100), .phase = ROLLOUT_PROMOTED,
     .step = 4, .weight = 100, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PROMOTED,
     .set_weights = true},
    {"promote into an approval step does not skip its analysis", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 10},
     .ev = {.kind = EV_CMD_PROMOTE}, .now = S(2000), .phase = ROLLOUT_PROGRESSING, .step = 2,
     .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(2060)},
    {"approve refused before the approval step's analysis passed", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2000), .refused = "not awaiting approval yet",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"approve refused at a step that needs none", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 10},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2000), .refused = "needs none",
     .phase = ROLLOUT_PROGRESSING, .step = 1, .weight = 10, .acts = {END}},
    {"approve refused on a canary without approval steps",
     .before = {.phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2000), .refused = "not awaiting approval",
     .phase = ROLLOUT_PROGRESSING, .step = 2, .weight = 25, .acts = {END}},
    {"approve refused while paused without a wait", .spec = &approval,
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25}, .ev = {.kind = EV_CMD_APPROVE},
     .now = S(2000), .refused = "not awaiting approval", .phase = ROLLOUT_PAUSED, .step = 2,
     .weight = 25, .acts = {END}},
    {"approve refused while idle", .spec = &approval, .before = {.phase = ROLLOUT_IDLE},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2000), .refused = "nothing to approve",
     .phase = ROLLOUT_IDLE, .acts = {END}},
    {"approve refused once promoted", .spec = &approval,
     .before = {.phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(2000), .refused = "nothing to approve",
     .phase = ROLLOUT_PROMOTED, .step = 4, .weight = 100, .acts = {END}},
    {"approve refused once rolled back", .spec = &approval,
     .before = {.phase = ROLLOUT_ROLLED_BACK, .step = 2}, .ev = {.kind = EV_CMD_APPROVE},
     .now = S(2000), .refused = "nothing to approve", .phase = ROLLOUT_ROLLED_BACK, .step = 2,
     .acts = {END}},
    {"a wait longer than approve_timeout pauses", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(3770),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_TICK}, .now = S(3800), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false,
     .since = S(2000), .reason = "approval timed out after 30m"},
    {"a verdict that comes after the deadline pauses instead of waiting on", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(3750),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(3810),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, END},
     .notify = NOTIFY_PAUSED, .set_weights = false, .since = S(2000),
     .reason = "approval timed out"},
    {"without approve_timeout a wait lasts", .spec = &approval_forever,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(99000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_TICK}, .now = S(99100), .phase = ROLLOUT_PROGRESSING, .step = 2,
     .weight = 25, .acts = {ACT_QUERY, END}, .since = S(2000)},
    {"approve moves a paused wait on", .spec = &approval,
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_APPROVE}, .now = S(5000), .phase = ROLLOUT_PROGRESSING, .step = 3,
     .weight = 50, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_PROGRESSED,
     .set_weights = true, .timer_at = S(5060)},
    {"pause while waiting keeps the wait", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_PAUSE}, .now = S(2100), .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25,
     .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_PAUSED, .set_weights = false,
     .since = S(2000)},
    {"resume of a paused wait waits again, for a whole approve_timeout", .spec = &approval,
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_RESUME}, .now = S(5000), .phase = ROLLOUT_PROGRESSING, .step = 2,
     .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END}, .notify = NOTIFY_RESUMED,
     .set_weights = true, .timer_at = S(5060), .since = S(5000),
     .reason = "resumed: awaiting approval"},
    {"abort while waiting rolls back and ends the wait", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_ABORT}, .now = S(2100), .phase = ROLLOUT_ROLLED_BACK, .step = 2,
     .weight = 0, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ABORTED,
     .set_weights = true},
    {"abort of a paused wait rolls back", .spec = &approval,
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_ABORT}, .now = S(2100), .phase = ROLLOUT_ROLLED_BACK, .step = 2,
     .weight = 0, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_ABORTED,
     .set_weights = true},
    {"drift while waiting pauses and keeps the wait", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 2,
                .weight = 25,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_DRIFT, .observed_weight = 40}, .now = S(2100), .phase = ROLLOUT_PAUSED,
     .step = 2, .weight = 25, .acts = {ACT_WRITE, ACT_NOTIFY, END}, .notify = NOTIFY_DRIFT,
     .set_weights = false, .since = S(2000)},
    {"a new revision while waiting starts over at step 1 without the wait", .spec = &approval,
     .before = {.phase = ROLLOUT_PROGRESSING,
                .step = 3,
                .weight = 50,
                .step_started_usec = S(2000),
                .approval_since_usec = S(2000)},
     .ev = {.kind = EV_CMD_START, .revision = "r2"}, .now = S(2100), .phase = ROLLOUT_PROGRESSING,
     .step = 1, .weight = 10, .acts = {ACT_WRITE, ACT_NOTIFY, ACT_ARM_TIMER, END},
     .notify = NOTIFY_STARTED, .set_weights = true, .timer_at = S(2160)},
    {"a verdict on a paused wait is ignored", .spec = &approval,
     .before = {.phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .approval_since_usec = S(2000)},
     .ev = {.kind = EV_ANALYSIS, .analysis = ANALYSIS_PASS}, .now = S(2100),
     .phase = ROLLOUT_PAUSED, .step = 2, .weight = 25, .acts = {END}, .ignored = true,
     .since = S(2000)},
};

/* A verdict on s's current step. */
static const struct rollout_event *verdict(const struct rollout_state *s, enum analysis_result r,
                                           bool interim)
{
        static struct rollout_event ev;
        ev = (struct rollout_event){.kind = EV_ANALYSIS,
                                    .analysis = r,
                                    .interim = interim,
                                    .for_step = s->step,
                                    .for_step_started_usec = s->step_started_usec};
        return &ev;
}

static void table(void **unused)
{
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const struct row *r = &rows[i];
                struct rollout_state s = r->before;
                if (!s.revision[0] && s.phase != ROLLOUT_IDLE)
                        strcpy(s.revision, "r1");
                struct rollout_actions out;
                struct rollout_event ev = r->ev;
                if (ev.kind == EV_ANALYSIS && ev.for_step == 0) {
                        /* a verdict row that names no step judges the current one */
                        ev.for_step = s.step;
                        ev.for_step_started_usec = s.step_started_usec;
                }
                rollout_step(r->spec ? r->spec : &spec, &s, &ev, r->now, &out);
                print_message("row: %s\n", r->name);
                assert_int_equal(out.ignored != NULL, r->ignored);
                if (r->refused) {
                        assert_non_null(out.refused);
                        assert_non_null(strstr(out.refused, r->refused));
                } else {
                        assert_null(out.refused);
                }
                assert_int_equal(s.phase, r->phase);
                assert_int_equal(s.step, r->step);
                assert_int_equal(s.weight, r->weight);
                assert_int_equal(s.failed_checks, r->failed);
                assert_int_equal(s.inconclusive_checks, r->inconclusive);
                assert_int_equal(s.approval_since_usec, r->since);
                if (r->reason)
                        assert_non_null(strstr(s.last_reason, r->reason));
                size_t n = 0;
                while (r->acts[n] != END)
                        n++;
                assert_int_equal(out.n, n);
                for (size_t k = 0; k < n; k++) {
                        const struct rollout_action *a = &out.items[k];
                        assert_int_equal(a->kind, r->acts[k]);
                        if (a->kind == ACT_NOTIFY)
                                assert_int_equal(a->notify, r->notify);
                        if (a->kind == ACT_ARM_TIMER)
                                assert_int_equal(a->at_usec, r->timer_at);
                        if (a->kind == ACT_WRITE) {
                                assert_int_equal(k, 0); /* the write always comes first */
                                assert_int_equal(a->set_weights, r->set_weights);
                                assert_int_equal(a->weight, s.weight);
                        }
                }
                if (!r->refused && n > 0)
                        assert_true(out.items[0].kind != ACT_WRITE || s.updated_usec == r->now);
        }
}

static void a_canary_without_steps_refuses_everything(void **unused)
{
        struct rollout_spec none = spec;
        none.n_steps = 0;
        for (int k = 0; k < _ROLLOUT_EVENT_KIND_MAX; k++) {
                struct rollout_state s;
                rollout_state_init(&s);
                struct rollout_state before = s;
                struct rollout_actions out;
                rollout_step(&none, &s, &(struct rollout_event){.kind = k, .revision = "r"}, S(10),
                             &out);
                assert_non_null(out.refused);
                assert_int_equal(out.n, 0);
                assert_memory_equal(&before, &s, sizeof(s));
        }
}

static void trigger_records_the_first_template_then_starts_on_change(void **unused)
{
        struct rollout_state s;
        rollout_state_init(&s);
        struct rollout_actions out;
        struct rollout_event t1 = {.kind = EV_TRIGGER, .revision = "t1", .actor = "deployment:x"};
        /* first sight: recorded, nothing started, no notice */
        rollout_step(&spec, &s, &t1, S(1000), &out);
        assert_int_equal(s.phase, ROLLOUT_IDLE);
        assert_string_equal(s.trigger_revision, "t1");
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_WRITE);
        assert_false(out.items[0].set_weights);
        /* the same template again (a restart or a scale): nothing */
        rollout_step(&spec, &s, &t1, S(1001), &out);
        assert_int_equal(out.n, 0);
        /* a new template starts a rollout of it */
        struct rollout_event t2 = {.kind = EV_TRIGGER, .revision = "t2", .actor = "deployment:x"};
        rollout_step(&spec, &s, &t2, S(1002), &out);
        assert_int_equal(s.phase, ROLLOUT_PROGRESSING);
        assert_int_equal(s.step, 1);
        assert_string_equal(s.revision, "t2");
        assert_int_equal(out.items[1].notify, NOTIFY_STARTED);
        /* a newer one mid-rollout: back to step 1 of it, in one write */
        s.step = 3;
        s.weight = 50;
        struct rollout_event t3 = {.kind = EV_TRIGGER, .revision = "t3"};
        rollout_step(&spec, &s, &t3, S(1003), &out);
        assert_int_equal(s.step, 1);
        assert_int_equal(s.weight, 5);
        assert_string_equal(s.revision, "t3");
        assert_non_null(strstr(s.last_reason, "replaces t2 (was at 50%)"));
        assert_int_equal(out.items[0].kind, ACT_WRITE);
        assert_true(out.items[0].set_weights);
        for (size_t i = 1; i < out.n; i++)
                assert_int_not_equal(out.items[i].kind, ACT_WRITE);
        /* a manual start of another revision does not make the trigger fire again */
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_CMD_START, .revision = "m1"},
                     S(1004), &out);
        rollout_step(&spec, &s, &t3, S(1005), &out);
        assert_int_equal(out.n, 0);
        assert_string_equal(s.revision, "m1");
}

static void query_window_ends_query_lag_before_now(void **unused)
{
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        struct rollout_actions out;
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_TICK}, S(1070), &out);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_QUERY);
        assert_int_equal(out.items[0].window_start_usec, S(1000));
        assert_int_equal(out.items[0].window_end_usec, S(1060));
}

static void restart_neither_shortens_nor_repeats_the_wait(void **unused)
{
        /* a daemon restarted 40 s into a 60 s step waits the remaining 20 s, not 60 */
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        struct rollout_actions out;
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_TICK}, S(1040), &out);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[0].at_usec, S(1060));
}

static void last_step_below_100_promotes_to_100(void **unused)
{
        static const uint8_t short_steps[] = {10, 50};
        struct rollout_spec sp = spec;
        sp.steps = short_steps;
        sp.n_steps = 2;
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 50, S(1000));
        struct rollout_actions out;
        rollout_step(&sp, &s, verdict(&s, ANALYSIS_PASS, false), S(2000), &out);
        assert_int_equal(s.phase, ROLLOUT_PROMOTED);
        assert_int_equal(s.weight, 100);
        assert_int_equal(out.items[0].kind, ACT_WRITE);
        assert_int_equal(out.items[0].weight, 100);
}

static void actor_and_reason_are_recorded(void **unused)
{
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        struct rollout_actions out;
        rollout_step(&spec, &s,
                     &(struct rollout_event){
                         .kind = EV_CMD_ABORT, .reason = "pager fired", .actor = "uid:1000"},
                     S(2000), &out);
        assert_string_equal(s.last_actor, "uid:1000");
        assert_string_equal(s.last_reason, "pager fired");
}

/* A canary with a sequential metric is looked at interval/4, at least a second apart; when that
 * is not shorter than the interval, only the step's end judges. */
static void look_interval_from_config(void **unused)
{
        struct metric_config m[2] = {{.judge = JUDGE_THRESHOLD}, {.judge = JUDGE_SEQUENTIAL}};
        struct canary_config c = {.metrics = m, .n_metrics = 2, .interval_usec = S(60)};
        struct rollout_spec sp;
        rollout_spec_from_config(&c, 0, &sp);
        assert_int_equal(sp.look_usec, S(15));
        c.interval_usec = S(2);
        rollout_spec_from_config(&c, 0, &sp);
        assert_int_equal(sp.look_usec, S(1));
        c.interval_usec = S(1);
        rollout_spec_from_config(&c, 0, &sp);
        assert_int_equal(sp.look_usec, 0);
        c.interval_usec = S(60);
        m[1].judge = JUDGE_MANN_WHITNEY;
        rollout_spec_from_config(&c, 0, &sp);
        assert_int_equal(sp.look_usec, 0);
}

/* Interim looks (look_usec, sequential judges): a tick between looks arms the next one; a tick
 * past one look runs an interim query and arms the next; an inconclusive interim verdict changes
 * nothing but the timer; a passing one advances; a failing one counts as any failure. */
static void interim_looks_decide_only_when_conclusive(void **unused)
{
        struct rollout_spec sp = spec;
        sp.look_usec = S(15);
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        struct rollout_actions out;

        rollout_step(&sp, &s, &(struct rollout_event){.kind = EV_TICK}, S(1010), &out);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[0].at_usec, S(1015));

        rollout_step(&sp, &s, &(struct rollout_event){.kind = EV_TICK}, S(1031), &out);
        assert_int_equal(out.n, 2);
        assert_int_equal(out.items[0].kind, ACT_QUERY);
        assert_true(out.items[0].interim);
        assert_int_equal(out.items[0].window_start_usec, S(1000));
        assert_int_equal(out.items[0].window_end_usec, S(1021));
        assert_int_equal(out.items[1].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[1].at_usec, S(1045));

        /* the step's end is a full analysis, as without looks */
        rollout_step(&sp, &s, &(struct rollout_event){.kind = EV_TICK}, S(1060), &out);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_QUERY);
        assert_false(out.items[0].interim);

        struct rollout_state before = s;
        rollout_step(&sp, &s, verdict(&s, ANALYSIS_INCONCLUSIVE, true), S(1033), &out);
        assert_memory_equal(&before, &s, sizeof(s));
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[0].at_usec, S(1045));

        /* a look that fell due while the interim one ran: the timer fires at once */
        rollout_step(&sp, &s, verdict(&s, ANALYSIS_INCONCLUSIVE, true), S(1070), &out);
        assert_int_equal(out.items[0].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[0].at_usec, S(1060));

        rollout_step(&sp, &s, verdict(&s, ANALYSIS_PASS, true), S(1034), &out);
        assert_int_equal(s.step, 3);
        assert_int_equal(s.weight, 50);
        assert_non_null(strstr(s.last_reason, "early"));

        s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        rollout_step(&sp, &s, verdict(&s, ANALYSIS_FAIL_CRITICAL, true), S(1020), &out);
        assert_int_equal(s.phase, ROLLOUT_ROLLED_BACK);
        assert_int_equal(s.weight, 0);
}

/* A whole rollout through an approval step: the pass waits (and says so once), the analyses go
 * on while it waits, approve records who let it go on, and the next approval step waits again. */
static void approval_walkthrough(void **unused)
{
        struct rollout_state s;
        struct rollout_actions out;
        rollout_state_init(&s);
        rollout_step(&approval, &s, &(struct rollout_event){.kind = EV_CMD_START}, S(1000), &out);
        rollout_step(&approval, &s, verdict(&s, ANALYSIS_PASS, false), S(1070), &out);
        assert_int_equal(s.step, 2);
        assert_int_equal(s.approval_since_usec, 0);
        rollout_step(&approval, &s, verdict(&s, ANALYSIS_PASS, false), S(1140), &out);
        assert_true(rollout_awaiting_approval(&s) && rollout_approval_pending(&s));
        assert_int_equal(rollout_approval_deadline(&approval, &s), S(1140 + 1800));
        assert_int_equal(s.weight, 25);
        for (int i = 1; i <= 3; i++) { /* analysed on, announced once */
                rollout_step(&approval, &s, &(struct rollout_event){.kind = EV_TICK},
                             s.step_started_usec + S(61), &out);
                assert_int_equal(out.items[0].kind, ACT_QUERY);
                rollout_step(&approval, &s, verdict(&s, ANALYSIS_PASS, false),
                             s.step_started_usec + S(62), &out);
                assert_int_equal(out.n, 2);
                assert_int_equal(out.items[0].kind, ACT_WRITE);
                assert_int_equal(out.items[1].kind, ACT_ARM_TIMER);
                assert_int_equal(s.approval_since_usec, S(1140));
        }
        assert_int_equal(s.analyses, 5);
        rollout_step(&approval, &s,
                     &(struct rollout_event){.kind = EV_CMD_APPROVE, .actor = "slack:U0123"},
                     S(1400), &out);
        assert_null(out.refused);
        assert_string_equal(s.last_actor, "slack:U0123");
        assert_string_equal(s.last_reason, "approved");
        assert_int_equal(s.step, 3);
        assert_int_equal(s.weight, 50);
        assert_false(rollout_approval_pending(&s));
        assert_int_equal(rollout_approval_deadline(&approval, &s), 0);
        rollout_step(&approval, &s, verdict(&s, ANALYSIS_PASS, false), S(1470), &out);
        assert_true(rollout_awaiting_approval(&s));
        rollout_step(&approval, &s, &(struct rollout_event){.kind = EV_CMD_PAUSE}, S(1500), &out);
        assert_false(rollout_awaiting_approval(&s));
        assert_true(rollout_approval_pending(&s));
        assert_int_equal(rollout_approval_deadline(&approval, &s), S(1470 + 1800));
        rollout_step(&approval, &s, &(struct rollout_event){.kind = EV_CMD_APPROVE}, S(1600), &out);
        assert_int_equal(s.phase, ROLLOUT_PROMOTED);
        assert_int_equal(s.weight, 100);
        assert_int_equal(s.approval_since_usec, 0);
}

/* Interim looks at an approval step: an early pass starts the wait (it never skips it), and once
 * it waits, an early pass decides nothing. */
static void interim_pass_at_an_approval_step_waits(void **unused)
{
        struct rollout_spec sp = approval;
        sp.look_usec = S(15);
        struct rollout_state s = at(ROLLOUT_PROGRESSING, 2, 25, S(1000));
        struct rollout_actions out;

        rollout_step(&sp, &s, verdict(&s, ANALYSIS_PASS, true), S(1020), &out);
        assert_int_equal(s.step, 2);
        assert_int_equal(s.approval_since_usec, S(1020));
        assert_int_equal(out.items[1].notify, NOTIFY_AWAITING_APPROVAL);
        struct rollout_state before = s;
        rollout_step(&sp, &s, verdict(&s, ANALYSIS_PASS, true), S(1040), &out);
        assert_memory_equal(&before, &s, sizeof(s));
        assert_int_equal(out.n, 1);
        assert_int_equal(out.items[0].kind, ACT_ARM_TIMER);
        assert_int_equal(out.items[0].at_usec, S(1050));
}

/* The weight at a past moment comes from the recorded step times; unknown is -1, never a guess. */
static void weight_at_follows_the_step_times(void **unused)
{
        struct rollout_state s;
        struct rollout_actions out;
        rollout_state_init(&s);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1000)), -1);
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_CMD_START}, S(1000), &out);
        rollout_step(&spec, &s, verdict(&s, ANALYSIS_PASS, false), S(1070), &out);
        rollout_step(&spec, &s, verdict(&s, ANALYSIS_PASS, false), S(1140), &out);
        assert_int_equal(s.weight, 50);
        assert_int_equal(rollout_weight_at(&spec, &s, S(999)), 0);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1000)), 5);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1069)), 5);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1070) - 1000), 5); /* to the millisecond */
        assert_int_equal(rollout_weight_at(&spec, &s, S(1070)), 25);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1139)), 25);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1200)), 50);

        /* a state from before step times were recorded: only the current step is known */
        memset(s.step_entered_ms, 0, sizeof(s.step_entered_ms));
        assert_int_equal(rollout_weight_at(&spec, &s, S(1100)), -1);
        assert_int_equal(rollout_weight_at(&spec, &s, S(1150)), 50);

        /* a new rollout forgets the old one's times */
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_CMD_ABORT}, S(1200), &out);
        rollout_step(&spec, &s, &(struct rollout_event){.kind = EV_CMD_START}, S(1300), &out);
        assert_int_equal(s.step_entered_ms[0], 1300000);
        assert_int_equal(s.step_entered_ms[1], 0);
}

/* Properties over random sequences, with and without approval steps: weights stay in 0..100
 * and equal a step weight, 0 or 100; terminal phases absorb everything but start/retry; nothing
 * reaches a higher weight without a passing verdict or a promote command, and nothing leaves an
 * approval step upwards but approve or promote. */
static void random_sequences_keep_invariants(void **unused)
{
        srand(42);
        for (int run = 0; run < 4000; run++) {
                const struct rollout_spec *sp = run % 2 ? &approval : &spec;
                struct rollout_state s;
                rollout_state_init(&s);
                usec_t now = S(1000);
                for (int i = 0; i < 60; i++) {
                        struct rollout_event ev = {
                            .kind = (enum rollout_event_kind)(rand() % _ROLLOUT_EVENT_KIND_MAX),
                            .analysis = (enum analysis_result)(rand() % _ANALYSIS_RESULT_MAX),
                            .full = rand() % 2,
                            .observed_weight = (unsigned)(rand() % 101),
                            .routes_disagree = rand() % 8 == 0,
                            .revision = rand() % 2 ? "a" : "b"};
                        if (rand() % 8) { /* mostly on the current step, sometimes stale */
                                ev.for_step = s.step;
                                ev.for_step_started_usec = s.step_started_usec;
                        }
                        now += (usec_t)(rand() % 120) * USEC_PER_SEC;
                        struct rollout_state before = s;
                        struct rollout_actions out;
                        rollout_step(sp, &s, &ev, now, &out);
                        assert_true(s.weight <= 100);
                        bool is_step = s.weight == 0 || s.weight == 100;
                        for (size_t k = 0; k < sp->n_steps; k++)
                                is_step |= s.weight == sp->steps[k];
                        assert_true(is_step);
                        if (s.weight > before.weight && before.phase != ROLLOUT_IDLE &&
                            before.phase != ROLLOUT_ROLLED_BACK &&
                            before.phase != ROLLOUT_PROMOTED) {
                                bool allowed =
                                    (ev.kind == EV_ANALYSIS && ev.analysis == ANALYSIS_PASS) ||
                                    ev.kind == EV_CMD_PROMOTE || ev.kind == EV_CMD_APPROVE ||
                                    ev.kind == EV_CMD_RESUME || ev.kind == EV_CMD_START ||
                                    ev.kind == EV_TRIGGER;
                                assert_true(allowed);
                        }
                        /* only a person takes a rollout past a step that needs approval */
                        if (s.weight > before.weight && rollout_is_running(&before) &&
                            rollout_step_needs_approval(sp, before.step))
                                assert_true(ev.kind == EV_CMD_PROMOTE || ev.kind == EV_CMD_APPROVE);
                        if (s.approval_since_usec)
                                assert_true(rollout_is_running(&s) &&
                                            rollout_step_needs_approval(sp, s.step));
                        if (before.phase == ROLLOUT_ROLLED_BACK && ev.kind != EV_CMD_START &&
                            ev.kind != EV_CMD_RETRY && ev.kind != EV_TRIGGER)
                                assert_int_equal(s.phase, ROLLOUT_ROLLED_BACK);
                        if (before.phase == ROLLOUT_PROMOTED && ev.kind != EV_CMD_START &&
                            ev.kind != EV_TRIGGER)
                                assert_int_equal(s.phase, ROLLOUT_PROMOTED);
                        /* a state change is always written, and the write comes first */
                        if (memcmp(&before, &s, sizeof(s)) != 0) {
                                assert_true(out.n > 0);
                                assert_int_equal(out.items[0].kind, ACT_WRITE);
                        }
                }
        }
}

/* The predicates the daemon's read cycle and watch share (one definition, in core). */
static void running_and_drift_predicates(void **state)
{
        static const struct {
                enum rollout_phase phase;
                unsigned weight, routes;
                bool agree, running, drifted;
        } cases[] = {
            {ROLLOUT_IDLE, 0, 30, true, false, false},
            {ROLLOUT_PROGRESSING, 25, 25, true, true, false},
            {ROLLOUT_PROGRESSING, 25, 30, true, true, true},  /* hand edit */
            {ROLLOUT_PROGRESSING, 25, 25, false, true, true}, /* routes disagree */
            {ROLLOUT_PAUSED, 25, 0, true, true, false},       /* paused holds what it finds */
            {ROLLOUT_PROMOTED, 100, 50, true, false, false},
            {ROLLOUT_ROLLED_BACK, 0, 10, false, false, false},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct rollout_state s;
                rollout_state_init(&s);
                s.phase = cases[i].phase;
                s.weight = cases[i].weight;
                assert_int_equal(rollout_is_running(&s), cases[i].running);
                assert_int_equal(rollout_routes_drifted(&s, cases[i].routes, cases[i].agree),
                                 cases[i].drifted);
        }
}

/* The notify policy (SPEC §6, §10): how loud each notification is and which carry the metric
 * table; every name round-trips, since the Slack outbox persists notifications by name. */
static void notify_policy_table(void **state)
{
        (void)state;
        static const struct {
                enum rollout_notify n;
                enum rollout_notify_level level;
                bool with_metrics;
                bool with_runbook;
                unsigned alert; /* SPEC.md §10's number */
        } want[] = {
            {NOTIFY_STARTED, NOTIFY_LEVEL_INFO, false, false, 3},
            {NOTIFY_PROGRESSED, NOTIFY_LEVEL_INFO, true, false, 3},
            {NOTIFY_ANALYSIS_FAILED, NOTIFY_LEVEL_WARN, true, true, 2},
            {NOTIFY_PAUSED, NOTIFY_LEVEL_WARN, true, true, 2},
            {NOTIFY_RESUMED, NOTIFY_LEVEL_INFO, false, false, 3},
            {NOTIFY_PROMOTED, NOTIFY_LEVEL_INFO, true, false, 3},
            {NOTIFY_ROLLED_BACK, NOTIFY_LEVEL_ERROR, true, true, 1},
            {NOTIFY_ABORTED, NOTIFY_LEVEL_INFO, false, true, 3},
            {NOTIFY_DRIFT, NOTIFY_LEVEL_ERROR, false, true, 1},
            {NOTIFY_AWAITING_APPROVAL, NOTIFY_LEVEL_WARN, true, true, 2},
        };
        assert_int_equal(sizeof(want) / sizeof(want[0]), _ROLLOUT_NOTIFY_MAX);
        for (size_t i = 0; i < _ROLLOUT_NOTIFY_MAX; i++) {
                const struct rollout_notify_policy *p = rollout_notify_policy(want[i].n);
                assert_non_null(p);
                assert_string_equal(p->name, rollout_notify_to_string(want[i].n));
                assert_int_equal(p->level, want[i].level);
                assert_int_equal(p->with_metrics, want[i].with_metrics);
                assert_int_equal(p->with_runbook, want[i].with_runbook);
                assert_int_equal(rollout_alert_level(want[i].n), want[i].alert);
                enum rollout_notify back = _ROLLOUT_NOTIFY_MAX;
                assert_int_equal(rollout_notify_from_string(p->name, &back), 0);
                assert_int_equal(back, want[i].n);
        }
        enum rollout_notify n;
        assert_null(rollout_notify_policy(_ROLLOUT_NOTIFY_MAX));
        assert_int_equal(rollout_alert_level(_ROLLOUT_NOTIFY_MAX), 0);
        assert_int_equal(rollout_notify_from_string("rolled-back", &n), -1);
        assert_int_equal(rollout_notify_from_string("", &n), -1);
        assert_int_equal(rollout_notify_from_string(NULL, &n), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(running_and_drift_predicates),
            cmocka_unit_test(table),
            cmocka_unit_test(a_canary_without_steps_refuses_everything),
            cmocka_unit_test(trigger_records_the_first_template_then_starts_on_change),
            cmocka_unit_test(query_window_ends_query_lag_before_now),
            cmocka_unit_test(restart_neither_shortens_nor_repeats_the_wait),
            cmocka_unit_test(last_step_below_100_promotes_to_100),
            cmocka_unit_test(actor_and_reason_are_recorded),
            cmocka_unit_test(look_interval_from_config),
            cmocka_unit_test(interim_looks_decide_only_when_conclusive),
            cmocka_unit_test(weight_at_follows_the_step_times),
            cmocka_unit_test(approval_walkthrough),
            cmocka_unit_test(interim_pass_at_an_approval_step_waits),
            cmocka_unit_test(random_sequences_keep_invariants),
            cmocka_unit_test(notify_policy_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
