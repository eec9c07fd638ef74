/* Fuzzes the rollout state machine (rollout_step, SPEC §4) with random specs and random event
 * sequences, checking after every event the invariants the daemon relies on; any violation
 * aborts. The input is decoded as:
 *
 *   byte 0      number of steps (1..8)
 *   1 byte/step gap to the next step weight; weights stay strictly increasing in 1..100; bit 7
 *               set: the step waits for approval (below 100 only, as the config allows)
 *   4 bytes     failure_limit, inconclusive_limit (0..3 each), interval (1..64 s), query lag
 *               (bits 0..2, 0..70 s) and approve_timeout (bits 3..6: 0..225 s, 0 = none)
 *   3 bytes/ev  event kind, parameter (analysis result, full, observed weight, revision, reason,
 *               actor), seconds of wall clock that pass before it (0..255)
 *
 * Invariants: the weight stays in 0..100 and is always 0, 100 or a step weight (in the state and
 * in every ACT_WRITE); phases and weights agree; Promoted and RolledBack leave only on
 * EV_CMD_START or EV_CMD_RETRY, and nothing else changes them; only an EV_ANALYSIS pass,
 * EV_CMD_PROMOTE, EV_CMD_RESUME, EV_CMD_START or EV_CMD_RETRY (a restart from step 1) raises
 * the weight; a state change comes with exactly one ACT_WRITE, and it is the first action (a
 * write without a change is allowed, two writes never are); a refused command changes nothing
 * and emits nothing; timers lie in the future and analysis windows are non-empty and past; a
 * verdict for any step but the running one changes nothing and emits nothing; drift (routes that
 * disagree, or one weight that is not ours) pauses a progressing rollout without touching its
 * weight. Approval steps (SPEC §9): only a running rollout at a step that needs approval waits
 * for it; nothing but approve or promote raises the weight of a rollout at such a step (no
 * verdict passes it); a pass there starts the wait and raises nothing; approve is accepted
 * exactly when the rollout waits; a tick past approve_timeout pauses the wait. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/rollout.h"
#include "fuzz-check.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS  8
#define MAX_EVENTS 256
#define START_USEC ((usec_t)1700000000 * USEC_PER_SEC)

struct reader {
        const uint8_t *p;
        size_t left;
};

static uint8_t next_byte(struct reader *r)
{
        if (r->left == 0)
                return 0;
        r->left--;
        return *r->p++;
}

static bool same_state(const struct rollout_state *a, const struct rollout_state *b)
{
        return a->phase == b->phase && a->step == b->step && a->weight == b->weight &&
               strcmp(a->revision, b->revision) == 0 && a->failed_checks == b->failed_checks &&
               a->inconclusive_checks == b->inconclusive_checks && a->analyses == b->analyses &&
               a->started_usec == b->started_usec && a->step_started_usec == b->step_started_usec &&
               a->updated_usec == b->updated_usec && strcmp(a->last_actor, b->last_actor) == 0 &&
               strcmp(a->last_reason, b->last_reason) == 0 &&
               strcmp(a->trigger_revision, b->trigger_revision) == 0 &&
               a->approval_since_usec == b->approval_since_usec;
}

static bool is_step_weight(const struct rollout_spec *spec, unsigned w)
{
        for (size_t i = 0; i < spec->n_steps; i++)
                if (spec->steps[i] == w)
                        return true;
        return false;
}

static bool valid_weight(const struct rollout_spec *spec, unsigned w)
{
        return w == 0 || w == 100 || (w < 100 && is_step_weight(spec, w));
}

static bool terminal(enum rollout_phase p)
{
        return p == ROLLOUT_PROMOTED || p == ROLLOUT_ROLLED_BACK;
}

static bool may_raise_weight(const struct rollout_event *ev)
{
        switch (ev->kind) {
        case EV_ANALYSIS:
                return ev->analysis == ANALYSIS_PASS;
        case EV_CMD_PROMOTE:
        case EV_CMD_APPROVE:
        case EV_CMD_RESUME:
        case EV_CMD_START:
        case EV_CMD_RETRY:
        case EV_TRIGGER:
                return true;
        case EV_TICK:
        case EV_DRIFT:
        case EV_KUBE_OUTAGE:
        case EV_CMD_ABORT:
        case EV_CMD_PAUSE:
        case _ROLLOUT_EVENT_KIND_MAX:
                return false;
        }
        return false;
}

/* What must hold of any state, whatever happened before. */
static void check_state(const struct rollout_spec *spec, const struct rollout_state *s)
{
        CHECK((unsigned)s->phase < _ROLLOUT_PHASE_MAX);
        CHECK(s->weight <= 100 && valid_weight(spec, s->weight));
        CHECK(memchr(s->revision, '\0', sizeof(s->revision)));
        CHECK(memchr(s->last_actor, '\0', sizeof(s->last_actor)));
        CHECK(memchr(s->last_reason, '\0', sizeof(s->last_reason)));
        CHECK(memchr(s->trigger_revision, '\0', sizeof(s->trigger_revision)));
        CHECK(s->failed_checks <= spec->failure_limit + 1);
        CHECK(s->inconclusive_checks <= spec->inconclusive_limit + 1);
        if (s->approval_since_usec)
                CHECK(rollout_is_running(s) && rollout_step_needs_approval(spec, s->step));
        switch (s->phase) {
        case ROLLOUT_IDLE:
                CHECK(s->step == 0 && s->weight == 0);
                break;
        case ROLLOUT_PROGRESSING:
        case ROLLOUT_PAUSED:
                CHECK(s->step >= 1 && s->step <= spec->n_steps);
                CHECK(s->weight == spec->steps[s->step - 1] && s->weight < 100);
                break;
        case ROLLOUT_PROMOTED:
                CHECK(s->weight == 100);
                CHECK(s->step >= 1 && s->step <= spec->n_steps);
                break;
        case ROLLOUT_ROLLED_BACK:
                CHECK(s->weight == 0);
                CHECK(s->step >= 1 && s->step <= spec->n_steps);
                break;
        case _ROLLOUT_PHASE_MAX:
                abort();
        }
}

/* What must hold of one transition. */
static void check_step(const struct rollout_spec *spec, const struct rollout_state *before,
                       const struct rollout_state *after, const struct rollout_event *ev,
                       usec_t now, const struct rollout_actions *out)
{
        bool changed = !same_state(before, after);
        size_t writes = 0, timers = 0;

        check_state(spec, after);
        CHECK(out->n < ROLLOUT_ACTIONS_MAX); /* push() drops silently at the limit */

        if (out->refused) {
                CHECK(rollout_event_is_command(ev->kind));
                CHECK(!changed && out->n == 0);
        }
        if (ev->kind == EV_CMD_APPROVE)
                CHECK(!out->refused == rollout_approval_pending(before));
        /* nothing but a person takes a rollout past a step that needs approval */
        if (rollout_is_running(before) && rollout_step_needs_approval(spec, before->step) &&
            after->weight > before->weight)
                CHECK(ev->kind == EV_CMD_APPROVE || ev->kind == EV_CMD_PROMOTE);
        if (ev->kind == EV_ANALYSIS && !out->ignored && ev->analysis == ANALYSIS_PASS &&
            rollout_step_needs_approval(spec, before->step)) {
                CHECK(after->weight == before->weight && after->step == before->step);
                CHECK(after->approval_since_usec ||
                      (after->phase == ROLLOUT_PAUSED && before->approval_since_usec));
                if (!before->approval_since_usec)
                        CHECK(after->approval_since_usec == now && out->n >= 2 &&
                              out->items[1].kind == ACT_NOTIFY &&
                              out->items[1].notify == NOTIFY_AWAITING_APPROVAL);
        }
        if (after->approval_since_usec && before->approval_since_usec &&
            after->step == before->step && after->started_usec == before->started_usec)
                CHECK(after->approval_since_usec >= before->approval_since_usec);
        if (ev->kind == EV_TICK && before->phase == ROLLOUT_PROGRESSING &&
            rollout_approval_deadline(spec, before) &&
            now >= rollout_approval_deadline(spec, before))
                CHECK(after->phase == ROLLOUT_PAUSED && after->approval_since_usec &&
                      after->weight == before->weight);
        if (ev->kind == EV_ANALYSIS &&
            (before->phase != ROLLOUT_PROGRESSING || ev->for_step != before->step ||
             ev->for_step_started_usec != before->step_started_usec))
                CHECK(out->ignored && !changed && out->n == 0);
        if (ev->kind == EV_KUBE_OUTAGE &&
            (before->phase != ROLLOUT_PROGRESSING || ev->for_step != before->step ||
             ev->for_step_started_usec != before->step_started_usec || ev->outage_checks == 0))
                CHECK(out->ignored && !changed && out->n == 0);
        /* an outage counts its checks, holds the weight, and pauses past the limit */
        if (ev->kind == EV_KUBE_OUTAGE && !out->ignored)
                CHECK(after->weight == before->weight &&
                      after->inconclusive_checks ==
                          MIN(before->inconclusive_checks + ev->outage_checks,
                              spec->inconclusive_limit + 1) &&
                      (after->inconclusive_checks > spec->inconclusive_limit
                           ? after->phase == ROLLOUT_PAUSED
                           /* under the limit the step waits again, or, when its wait for
                            * approval has run out, pauses for that */
                           : after->phase == ROLLOUT_PROGRESSING ||
                                 (after->phase == ROLLOUT_PAUSED && after->approval_since_usec)));
        if (out->ignored)
                CHECK((ev->kind == EV_ANALYSIS || ev->kind == EV_KUBE_OUTAGE) && !changed &&
                      out->n == 0);
        if (ev->kind == EV_DRIFT && before->phase == ROLLOUT_PROGRESSING &&
            (ev->routes_disagree || ev->observed_weight != before->weight))
                CHECK(after->phase == ROLLOUT_PAUSED && after->weight == before->weight &&
                      out->n >= 1 && !out->items[0].set_weights);
        if (terminal(before->phase) && ev->kind != EV_CMD_START && ev->kind != EV_CMD_RETRY &&
            ev->kind != EV_TRIGGER)
                CHECK(!changed); /* absorbing, not only "the phase stays" */
        if (after->weight > before->weight)
                CHECK(may_raise_weight(ev));
        if (changed)
                CHECK(out->n >= 1 && out->items[0].kind == ACT_WRITE);

        for (size_t i = 0; i < out->n; i++) {
                const struct rollout_action *a = &out->items[i];
                switch (a->kind) {
                case ACT_WRITE:
                        /* A write need not change anything: "start" again on a canary
                         * promoted in one step, in the same microsecond, rewrites the same. */
                        writes++;
                        CHECK(i == 0);
                        if (a->set_weights)
                                CHECK(a->weight == after->weight && valid_weight(spec, a->weight));
                        break;
                case ACT_QUERY:
                        CHECK(after->phase == ROLLOUT_PROGRESSING);
                        CHECK(a->window_start_usec == after->step_started_usec);
                        CHECK(a->window_start_usec < a->window_end_usec);
                        CHECK(a->window_end_usec <= now);
                        break;
                case ACT_ARM_TIMER:
                        CHECK(a->at_usec > now);
                        CHECK(rollout_is_running(after));
                        CHECK(!spec->resync_usec || a->at_usec <= now + spec->resync_usec);
                        timers++;
                        break;
                case ACT_NOTIFY:
                        CHECK(writes == 1); /* a notice only rides on the write making it true */
                        CHECK(rollout_notify_to_string(a->notify));
                        break;
                case _ROLLOUT_ACTION_KIND_MAX:
                        abort();
                }
        }
        CHECK(writes <= 1 && (writes == 1 || !changed));
        /* one timer at most; while the rollout runs, always one, within the resync bound */
        CHECK(timers <= 1);
        if (rollout_is_running(after) && spec->resync_usec && !out->refused && !out->ignored)
                CHECK(timers == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const revisions[] = {NULL, "", "rev-a", "rev-b"};
        static const char *const actors[] = {NULL, "uid:1000"};
        static const char long_reason[] =
            "a reason longer than the state keeps: 0123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789012345678901234567890123456789012345"
            "0123456789012345678901234567890123456789012345678901234567890123456789012345";
        static const char *const reasons[] = {NULL, "", "bad deploy", long_reason};

        struct reader rd = {data, size};
        uint8_t steps[MAX_STEPS], approve[(MAX_STEPS + 7) / 8] = {0};
        size_t n_steps = 1 + next_byte(&rd) % MAX_STEPS;
        unsigned prev = 0;
        for (size_t i = 0; i < n_steps; i++) {
                unsigned room = 100 - (unsigned)(n_steps - 1 - i) - prev; /* >= 1 */
                uint8_t b = next_byte(&rd);
                steps[i] = (uint8_t)(prev + 1 + b % room);
                if ((b & 0x80) && steps[i] < 100)
                        approve[i / 8] |= (uint8_t)(1u << (i % 8));
                prev = steps[i];
        }
        struct rollout_spec spec = {
            .steps = steps,
            .n_steps = n_steps,
            .failure_limit = next_byte(&rd) % 4,
            .inconclusive_limit = next_byte(&rd) % 4,
            .approve = approve,
        };
        spec.interval_usec = (usec_t)(1 + next_byte(&rd) % 64) * USEC_PER_SEC;
        uint8_t lag = next_byte(&rd);
        spec.query_lag_usec = (usec_t)(lag % 8) * 10 * USEC_PER_SEC;
        spec.approve_timeout_usec = (usec_t)((lag >> 3) % 16) * 15 * USEC_PER_SEC;
        if (!(lag & 0x80)) /* as rollout_spec_from_config sets it; else no bound */
                spec.resync_usec = spec.interval_usec / 2 < USEC_PER_SEC ? USEC_PER_SEC
                                   : spec.interval_usec / 2 > 15 * USEC_PER_SEC
                                       ? 15 * USEC_PER_SEC
                                       : spec.interval_usec / 2;

        struct rollout_state s;
        rollout_state_init(&s);
        check_state(&spec, &s);
        usec_t now = START_USEC;

        for (size_t n = 0; n < MAX_EVENTS && rd.left > 0; n++) {
                uint8_t kind = next_byte(&rd), param = next_byte(&rd);
                now += (usec_t)next_byte(&rd) * USEC_PER_SEC;

                struct rollout_event ev = {
                    .kind = (enum rollout_event_kind)(kind % _ROLLOUT_EVENT_KIND_MAX),
                    .analysis = (enum analysis_result)(param % _ANALYSIS_RESULT_MAX),
                    .full = param & 1,
                    .observed_weight = param, /* 0..255: a drifted route may hold anything */
                    .routes_disagree = (param & 0x18) == 0x18,
                    .revision = revisions[param % 4],
                    .reason = reasons[(param >> 2) % 4],
                    .actor = actors[(param >> 4) & 1],
                    .outage_checks = param % 5, /* 0 (nothing to count) .. 4 */
                    .outage_since_usec = now - (usec_t)param * USEC_PER_SEC,
                };
                /* a verdict judged the running step, unless the parameter makes it stale:
                 * the step before, or the same step of an earlier start */
                ev.for_step = s.step - ((param & 0x60) == 0x60);
                ev.for_step_started_usec =
                    s.step_started_usec - ((param & 0x60) == 0x40) * USEC_PER_SEC;
                struct rollout_state before = s;
                struct rollout_actions out;
                rollout_step(&spec, &s, &ev, now, &out);
                check_step(&spec, &before, &s, &ev, now, &out);
        }
        return 0;
}
