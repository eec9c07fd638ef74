/* Rollout state machine (SPEC §4). Pure: no I/O, no clock, no allocation, no logging.
 *
 * Every accepted event that changes the state emits exactly one ACT_WRITE first; the driver
 * performs it as one guarded Kubernetes update (weights + canaryd.io/state) and only then runs
 * the notifications and timers that follow it. Counters: failed_checks accumulates over the whole
 * rollout (as Flagger's threshold); inconclusive_checks counts consecutive analyses without a
 * verdict and resets on any conclusive one, on resume and on a new step.
 *
 * Approval steps (SPEC §9): once the analysis of a step that needs approval passes, the rollout
 * stays Progressing at its weight and waits (approval_since_usec) until approve or promote
 * moves it on. While it waits the canary is still analysed at every interval, as Flagger's
 * confirm-promotion gate keeps its checks running, because a canary left at 50 % for hours must
 * not be left there broken: a failure still rolls back (critical, or past failure_limit) and
 * inconclusive analyses still pause; a pass only opens the next window. approve_timeout pauses a
 * wait that has lasted too long; the wait survives the pause (approve still works, resume waits
 * again from then). */
#include <stdio.h>
#include <string.h>

#include "canaryd/rollout.h"

static const char *const phase_names[_ROLLOUT_PHASE_MAX] = {
    [ROLLOUT_IDLE] = "Idle",
    [ROLLOUT_PROGRESSING] = "Progressing",
    [ROLLOUT_PAUSED] = "Paused",
    [ROLLOUT_PROMOTED] = "Promoted",
    [ROLLOUT_ROLLED_BACK] = "RolledBack",
};

/* The notify policy, one row per notification: everything that treats notifications
 * differently (Slack severity routing and queue order, the runbook link and mention, the metric
 * table) asks this table, never the name. */
static const struct rollout_notify_policy notify_policy[_ROLLOUT_NOTIFY_MAX] = {
    [NOTIFY_STARTED] = {"started", NOTIFY_LEVEL_INFO, false, false},
    [NOTIFY_PROGRESSED] = {"progressed", NOTIFY_LEVEL_INFO, true, false},
    [NOTIFY_ANALYSIS_FAILED] = {"analysis failed", NOTIFY_LEVEL_WARN, true, true},
    [NOTIFY_PAUSED] = {"paused", NOTIFY_LEVEL_WARN, true, true},
    [NOTIFY_RESUMED] = {"resumed", NOTIFY_LEVEL_INFO, false, false},
    [NOTIFY_PROMOTED] = {"promoted", NOTIFY_LEVEL_INFO, true, false},
    [NOTIFY_ROLLED_BACK] = {"rolled back", NOTIFY_LEVEL_ERROR, true, true},
    /* only people abort (analysis rolls back): notify only, yet it links the runbook */
    [NOTIFY_ABORTED] = {"aborted", NOTIFY_LEVEL_INFO, false, true},
    /* someone else moved the weights: the rollout no longer controls the canary */
    [NOTIFY_DRIFT] = {"drift", NOTIFY_LEVEL_ERROR, false, true},
    /* warn: a person has to act, so it is never coalesced or dropped and goes to the warn
     * channel; it shows the analysis that passed */
    [NOTIFY_AWAITING_APPROVAL] = {"awaiting approval", NOTIFY_LEVEL_WARN, true, true},
};

const char *rollout_phase_to_string(enum rollout_phase p)
{
        return (unsigned)p < _ROLLOUT_PHASE_MAX ? phase_names[p] : NULL;
}

int rollout_phase_from_string(const char *s, enum rollout_phase *ret)
{
        for (unsigned i = 0; i < _ROLLOUT_PHASE_MAX; i++)
                if (s && strcmp(s, phase_names[i]) == 0) {
                        *ret = (enum rollout_phase)i;
                        return 0;
                }
        return -1;
}

const char *rollout_notify_to_string(enum rollout_notify n)
{
        return (unsigned)n < _ROLLOUT_NOTIFY_MAX ? notify_policy[n].name : NULL;
}

int rollout_notify_from_string(const char *s, enum rollout_notify *ret)
{
        for (unsigned i = 0; i < _ROLLOUT_NOTIFY_MAX; i++)
                if (s && strcmp(s, notify_policy[i].name) == 0) {
                        *ret = (enum rollout_notify)i;
                        return 0;
                }
        return -1;
}

const struct rollout_notify_policy *rollout_notify_policy(enum rollout_notify n)
{
        return (unsigned)n < _ROLLOUT_NOTIFY_MAX ? &notify_policy[n] : NULL;
}

unsigned rollout_alert_level(enum rollout_notify n)
{
        static const unsigned number[] = {
            [NOTIFY_LEVEL_INFO] = 3, [NOTIFY_LEVEL_WARN] = 2, [NOTIFY_LEVEL_ERROR] = 1};
        return (unsigned)n < _ROLLOUT_NOTIFY_MAX ? number[notify_policy[n].level] : 0;
}

bool rollout_event_is_command(enum rollout_event_kind k)
{
        switch (k) {
        case EV_CMD_START:
        case EV_CMD_PROMOTE:
        case EV_CMD_ABORT:
        case EV_CMD_PAUSE:
        case EV_CMD_RESUME:
        case EV_CMD_RETRY:
        case EV_CMD_APPROVE:
                return true;
        case EV_TICK:
        case EV_ANALYSIS:
        case EV_DRIFT:
        case EV_TRIGGER:
        case EV_KUBE_OUTAGE:
        case _ROLLOUT_EVENT_KIND_MAX:
                return false;
        }
        return false;
}

#define ROLLOUT_LOOKS_PER_STEP 4
/* A step's start this far after now means the wall clock went back (across a restart: within
 * a process the daemon's clock never does, canaryd/clock.h). */
#define ROLLOUT_CLOCK_BEHIND_USEC (60 * USEC_PER_SEC)
#define ROLLOUT_RESYNC_MAX_USEC   (15 * USEC_PER_SEC)

void rollout_state_init(struct rollout_state *s)
{
        memset(s, 0, sizeof(*s));
        s->phase = ROLLOUT_IDLE;
}

void rollout_spec_from_config(const struct canary_config *c, usec_t query_lag_usec,
                              struct rollout_spec *ret)
{
        *ret = (struct rollout_spec){
            .steps = c->steps,
            .n_steps = c->n_steps,
            .interval_usec = c->interval_usec,
            .query_lag_usec = query_lag_usec,
            .failure_limit = c->failure_limit,
            .inconclusive_limit = c->inconclusive_limit,
            .approve = c->step_approve,
            .approve_timeout_usec = c->approve_timeout_usec,
        };
        /* Read the cluster again at least twice a step, at most every 15 s, at least every
         * second (ROLLOUT_RESYNC_MAX_USEC). */
        ret->resync_usec = c->interval_usec / 2;
        if (ret->resync_usec > ROLLOUT_RESYNC_MAX_USEC)
                ret->resync_usec = ROLLOUT_RESYNC_MAX_USEC;
        if (ret->resync_usec < USEC_PER_SEC)
                ret->resync_usec = USEC_PER_SEC;
        /* A sequential judge stays valid at every look: look four times a step (at most once a
         * second), so a regression is caught, and a tolerable canary passed, within a quarter
         * of an interval rather than at its end. */
        for (size_t i = 0; i < c->n_metrics; i++)
                if (c->metrics[i].judge == JUDGE_SEQUENTIAL) {
                        usec_t look = c->interval_usec / ROLLOUT_LOOKS_PER_STEP;
                        if (look < USEC_PER_SEC)
                                look = USEC_PER_SEC;
                        if (look < c->interval_usec) /* else the step's end is the only look */
                                ret->look_usec = look;
                        break;
                }
}

static void push(struct rollout_actions *out, struct rollout_action a)
{
        /* ROLLOUT_ACTIONS_MAX is larger than any transition emits; dropping would be our bug. */
        if (out->n < ROLLOUT_ACTIONS_MAX)
                out->items[out->n++] = a;
}

static void emit_write(struct rollout_actions *out, const struct rollout_state *s, bool weights)
{
        push(out, (struct rollout_action){
                      .kind = ACT_WRITE, .set_weights = weights, .weight = s->weight});
}

static void emit_notify(struct rollout_actions *out, enum rollout_notify n)
{
        push(out, (struct rollout_action){.kind = ACT_NOTIFY, .notify = n});
}

static void emit_timer(struct rollout_actions *out, usec_t at)
{
        push(out, (struct rollout_action){.kind = ACT_ARM_TIMER, .at_usec = at});
}

static void set_text(char *dst, size_t size, const char *src)
{
        snprintf(dst, size, "%s", src ? src : "");
}

/* Records who caused this transition and why; the daemon itself is "". */
static void touch(struct rollout_state *s, const struct rollout_event *ev, const char *reason,
                  usec_t now)
{
        s->updated_usec = now;
        set_text(s->last_actor, sizeof(s->last_actor), ev->actor);
        set_text(s->last_reason, sizeof(s->last_reason), reason);
}

static usec_t analysis_due(const struct rollout_spec *spec, const struct rollout_state *s)
{
        return s->step_started_usec + spec->interval_usec;
}

/* The next moment to look at the data: the next interim look after now, or the step's end. */
static usec_t next_look(const struct rollout_spec *spec, const struct rollout_state *s, usec_t now)
{
        usec_t due = analysis_due(spec, s);
        if (!spec->look_usec || now < s->step_started_usec)
                return due;
        usec_t k = (now - s->step_started_usec) / spec->look_usec + 1;
        usec_t at = s->step_started_usec + k * spec->look_usec;
        return at < due ? at : due;
}

bool rollout_step_needs_approval(const struct rollout_spec *spec, unsigned step)
{
        if (!spec->approve || step == 0 || step > spec->n_steps)
                return false;
        unsigned i = step - 1;
        return (spec->approve[i / 8] >> (i % 8)) & 1;
}

bool rollout_approval_pending(const struct rollout_state *s)
{
        return rollout_is_running(s) && s->approval_since_usec != 0;
}

bool rollout_awaiting_approval(const struct rollout_state *s)
{
        return s->phase == ROLLOUT_PROGRESSING && s->approval_since_usec != 0;
}

usec_t rollout_approval_deadline(const struct rollout_spec *spec, const struct rollout_state *s)
{
        if (!rollout_approval_pending(s) || !spec->approve_timeout_usec)
                return 0;
        if (spec->approve_timeout_usec > USEC_INFINITY - s->approval_since_usec)
                return USEC_INFINITY; /* never, in practice */
        return s->approval_since_usec + spec->approve_timeout_usec;
}

static bool approval_timed_out(const struct rollout_spec *spec, const struct rollout_state *s,
                               usec_t now)
{
        usec_t deadline = rollout_approval_deadline(spec, s);
        return deadline && now >= deadline;
}

/* When to be woken: the next look at the data, or the end of a wait for approval if sooner. */
static usec_t next_wake(const struct rollout_spec *spec, const struct rollout_state *s, usec_t now)
{
        usec_t at = next_look(spec, s, now), deadline = rollout_approval_deadline(spec, s);
        return deadline && deadline < at ? deadline : at;
}

/* Puts the canary at 1-based step `step` and starts that step's wait. */
static void enter_step(const struct rollout_spec *spec, struct rollout_state *s, unsigned step,
                       usec_t now, struct rollout_actions *out, enum rollout_notify n)
{
        s->phase = ROLLOUT_PROGRESSING;
        s->step = step;
        s->weight = spec->steps[step - 1];
        s->step_started_usec = now;
        s->approval_since_usec = 0;
        if (step <= ROLLOUT_STEP_TIMES)
                s->step_entered_ms[step - 1] = now / USEC_PER_MSEC;
        s->inconclusive_checks = 0;
        if (s->weight >= 100) {
                s->phase = ROLLOUT_PROMOTED;
                s->weight = 100;
                emit_write(out, s, true);
                emit_notify(out, NOTIFY_PROMOTED);
                return;
        }
        emit_write(out, s, true);
        emit_notify(out, n);
        emit_timer(out, next_look(spec, s, now));
}

int rollout_weight_at(const struct rollout_spec *spec, const struct rollout_state *s, usec_t t)
{
        if (s->step == 0 || s->started_usec == 0)
                return -1;
        if (t < s->started_usec)
                return 0;
        if (t >= s->step_started_usec)
                return (int)s->weight; /* the current step (or its retry/resume window) */
        uint64_t t_ms = t / USEC_PER_MSEC;
        /* The latest step entered at or before t; steps only ever go up within a rollout. */
        for (unsigned k = s->step; k >= 1; k--) {
                if (k > ROLLOUT_STEP_TIMES || k > spec->n_steps)
                        continue;
                uint64_t at = s->step_entered_ms[k - 1];
                if (at == 0)
                        return -1; /* a gap: the state cannot say */
                if (at <= t_ms)
                        return k == s->step ? (int)s->weight : (int)spec->steps[k - 1];
        }
        return -1;
}

static void promote_fully(const struct rollout_spec *spec, struct rollout_state *s,
                          struct rollout_actions *out)
{
        s->phase = ROLLOUT_PROMOTED;
        s->step = (unsigned)spec->n_steps;
        s->weight = 100;
        s->inconclusive_checks = 0;
        s->approval_since_usec = 0;
        emit_write(out, s, true);
        emit_notify(out, NOTIFY_PROMOTED);
}

static void advance(const struct rollout_spec *spec, struct rollout_state *s, usec_t now,
                    struct rollout_actions *out)
{
        if (s->step >= spec->n_steps)
                promote_fully(spec, s, out); /* last step below 100: promotion writes 100 */
        else
                enter_step(spec, s, s->step + 1, now, out, NOTIFY_PROGRESSED);
}

static void roll_back(struct rollout_state *s, struct rollout_actions *out, enum rollout_notify n)
{
        s->phase = ROLLOUT_ROLLED_BACK;
        s->weight = 0;
        s->approval_since_usec = 0;
        emit_write(out, s, true);
        emit_notify(out, n);
}

static void begin(const struct rollout_spec *spec, struct rollout_state *s, const char *revision,
                  usec_t now, struct rollout_actions *out)
{
        if (revision)
                set_text(s->revision, sizeof(s->revision), revision);
        s->failed_checks = 0;
        s->inconclusive_checks = 0;
        s->analyses = 0;
        s->started_usec = now;
        memset(s->step_entered_ms, 0, sizeof(s->step_entered_ms));
        enter_step(spec, s, 1, now, out, NOTIFY_STARTED);
}

/* A wait for approval has lasted approve_timeout: the rollout pauses at its weight. The wait is
 * kept: approve still moves it on, and resume waits again. */
static void time_out_approval(const struct rollout_spec *spec, struct rollout_state *s, usec_t now,
                              struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX], d[32];

        snprintf(reason, sizeof(reason), "approval timed out after %s",
                 duration_format(spec->approve_timeout_usec, d, sizeof(d)));
        touch(s, &(const struct rollout_event){.kind = EV_TICK}, reason, now); /* by the daemon */
        s->phase = ROLLOUT_PAUSED;
        emit_write(out, s, false);
        emit_notify(out, NOTIFY_PAUSED);
}

/* Stays at the current weight and opens a new analysis window (a wait for approval that has
 * run out pauses instead). */
static void retry_step(const struct rollout_spec *spec, struct rollout_state *s, usec_t now,
                       struct rollout_actions *out, bool notify_failed)
{
        s->step_started_usec = now;
        if (approval_timed_out(spec, s, now)) {
                time_out_approval(spec, s, now, out);
                return;
        }
        emit_write(out, s, false);
        if (notify_failed)
                emit_notify(out, NOTIFY_ANALYSIS_FAILED);
        emit_timer(out, next_wake(spec, s, now));
}

/* Why a rollout waits: "analysis passed; awaiting approval", and for how long at most. */
static void set_awaiting_reason(const struct rollout_spec *spec, struct rollout_state *s,
                                const struct rollout_event *ev, usec_t now)
{
        char reason[ROLLOUT_REASON_MAX], d[32];

        if (spec->approve_timeout_usec)
                snprintf(reason, sizeof(reason),
                         "analysis passed; awaiting approval (pauses after %s)",
                         duration_format(spec->approve_timeout_usec, d, sizeof(d)));
        else
                snprintf(reason, sizeof(reason), "analysis passed; awaiting approval");
        touch(s, ev, reason, now);
}

/* The analysis of an approval step passed: the rollout waits at this weight for approve or
 * promote, and its canary is analysed on, from a fresh window. */
static void await_approval(const struct rollout_spec *spec, struct rollout_state *s,
                           const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        set_awaiting_reason(spec, s, ev, now);
        s->approval_since_usec = now;
        s->step_started_usec = now;
        s->inconclusive_checks = 0;
        emit_write(out, s, false);
        emit_notify(out, NOTIFY_AWAITING_APPROVAL);
        emit_timer(out, next_wake(spec, s, now));
}

static void on_tick(const struct rollout_spec *spec, struct rollout_state *s, usec_t now,
                    struct rollout_actions *out)
{
        switch (s->phase) {
        case ROLLOUT_PROGRESSING: {
                usec_t due = analysis_due(spec, s);
                bool interim = false;
                if (s->step_started_usec > now + ROLLOUT_CLOCK_BEHIND_USEC) {
                        /* the wall clock is behind the step's start (it was set back while no
                         * daemon ran): the step would last that much longer, and its window
                         * would be empty. Bound: its wait starts again now. */
                        touch(s, &(const struct rollout_event){.kind = EV_TICK},
                              "the wall clock is behind the step's start: its wait starts again",
                              now);
                        s->step_started_usec = now;
                        emit_write(out, s, false);
                        emit_timer(out, next_wake(spec, s, now));
                        return;
                }
                if (approval_timed_out(spec, s, now)) {
                        time_out_approval(spec, s, now, out);
                        return;
                }
                if (now < due) {
                        /* an interim look once one look_usec of the step has passed */
                        if (!spec->look_usec || now < s->step_started_usec + spec->look_usec) {
                                emit_timer(out, next_wake(spec, s, now));
                                return;
                        }
                        interim = true;
                }
                usec_t end = now > spec->query_lag_usec ? now - spec->query_lag_usec : 0;
                if (end <= s->step_started_usec)
                        end = s->step_started_usec + 1; /* lag longer than the step: tiny window,
                                                           judged as no data */
                push(out, (struct rollout_action){.kind = ACT_QUERY,
                                                  .window_start_usec = s->step_started_usec,
                                                  .window_end_usec = end,
                                                  .interim = interim});
                if (interim) /* the step's end comes whatever this look says */
                        emit_timer(out, next_wake(spec, s, now));
                else if (rollout_approval_deadline(spec, s))
                        /* the wait ends on time even if the analysis does not */
                        emit_timer(out, rollout_approval_deadline(spec, s));
                return;
        }
        case ROLLOUT_IDLE:
        case ROLLOUT_PAUSED:
        case ROLLOUT_PROMOTED:
        case ROLLOUT_ROLLED_BACK:
        case _ROLLOUT_PHASE_MAX:
                return;
        }
}

/* A passing analysis moves to the next step, unless the step needs approval: then the rollout
 * waits, and while it waits a pass only opens the next window. (A wait whose step no longer
 * needs approval, after a reload, goes on at the next pass.) */
static void analysis_passed(const struct rollout_spec *spec, struct rollout_state *s,
                            const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        if (rollout_step_needs_approval(spec, s->step)) {
                if (!s->approval_since_usec) {
                        await_approval(spec, s, ev, now, out);
                        return;
                }
                set_awaiting_reason(spec, s, ev, now);
                s->inconclusive_checks = 0;
                retry_step(spec, s, now, out, false);
                return;
        }
        touch(s, ev,
              ev->interim ? "passed early: every metric inside its tolerance" : "analysis passed",
              now);
        advance(spec, s, now, out);
}

/* A failed analysis (not critical): counted over the whole rollout; one more than failure_limit
 * rolls back, otherwise the step is analysed again. */
static void analysis_failed(const struct rollout_spec *spec, struct rollout_state *s,
                            const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];

        s->failed_checks++;
        s->inconclusive_checks = 0;
        if (s->failed_checks > spec->failure_limit) {
                snprintf(reason, sizeof(reason), "%u failed analyses (failure_limit %u): %s",
                         s->failed_checks, spec->failure_limit, ev->reason ? ev->reason : "");
                touch(s, ev, reason, now);
                roll_back(s, out, NOTIFY_ROLLED_BACK);
                return;
        }
        snprintf(reason, sizeof(reason), "analysis failed (%u of %u tolerated): %s",
                 s->failed_checks, spec->failure_limit, ev->reason ? ev->reason : "");
        touch(s, ev, reason, now);
        retry_step(spec, s, now, out, true);
}

/* An analysis without enough data: one more in a row than inconclusive_limit pauses, otherwise
 * the step is analysed again. */
static void analysis_inconclusive(const struct rollout_spec *spec, struct rollout_state *s,
                                  const struct rollout_event *ev, usec_t now,
                                  struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];

        s->inconclusive_checks++;
        if (s->inconclusive_checks > spec->inconclusive_limit) {
                snprintf(reason, sizeof(reason),
                         "%u inconclusive analyses in a row (inconclusive_limit %u)",
                         s->inconclusive_checks, spec->inconclusive_limit);
                touch(s, ev, reason, now);
                s->phase = ROLLOUT_PAUSED;
                emit_write(out, s, false);
                emit_notify(out, NOTIFY_PAUSED);
                return;
        }
        touch(s, ev, "analysis inconclusive", now);
        retry_step(spec, s, now, out, false);
}

static void on_analysis(const struct rollout_spec *spec, struct rollout_state *s,
                        const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];

        if (s->phase != ROLLOUT_PROGRESSING || ev->for_step != s->step ||
            ev->for_step_started_usec != s->step_started_usec) {
                /* paused, promoted, aborted or moved on while the analysis ran */
                out->ignored = "a verdict for a step the rollout has left";
                return;
        }
        if (ev->interim && (ev->analysis == ANALYSIS_INCONCLUSIVE ||
                            (ev->analysis == ANALYSIS_PASS && s->approval_since_usec))) {
                /* not conclusive yet, or an early pass while the step already waits for
                 * approval: the step goes on (a look that fell due while this one ran was not
                 * started, so the timer is armed again: at once if the step is over) */
                emit_timer(out, next_wake(spec, s, now));
                return;
        }
        s->analyses++;
        switch (ev->analysis) {
        case ANALYSIS_PASS:
                analysis_passed(spec, s, ev, now, out);
                return;
        case ANALYSIS_FAIL_CRITICAL:
                s->failed_checks++;
                snprintf(reason, sizeof(reason), "critical metric failed: %s",
                         ev->reason && *ev->reason ? ev->reason : "(unnamed)");
                touch(s, ev, reason, now);
                roll_back(s, out, NOTIFY_ROLLED_BACK);
                return;
        case ANALYSIS_FAIL:
                analysis_failed(spec, s, ev, now, out);
                return;
        case ANALYSIS_INCONCLUSIVE:
                analysis_inconclusive(spec, s, ev, now, out);
                return;
        case _ANALYSIS_RESULT_MAX:
                return;
        }
}

bool rollout_is_running(const struct rollout_state *s)
{
        return s->phase == ROLLOUT_PROGRESSING || s->phase == ROLLOUT_PAUSED;
}

bool rollout_routes_drifted(const struct rollout_state *s, unsigned routes_weight,
                            bool routes_agree)
{
        return s->phase == ROLLOUT_PROGRESSING && (routes_weight != s->weight || !routes_agree);
}

/* Weights someone else wrote pause a progressing rollout (without touching them); a paused one
 * already holds whatever it finds, and resume restores ours. */
static void on_drift(struct rollout_state *s, const struct rollout_event *ev, usec_t now,
                     struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];

        if (s->phase != ROLLOUT_PROGRESSING ||
            (!ev->routes_disagree && ev->observed_weight == s->weight))
                return;
        if (ev->routes_disagree)
                snprintf(reason, sizeof(reason),
                         "weights changed outside canaryd: the routes disagree, "
                         "expected canary %u%% on each",
                         s->weight);
        else
                snprintf(reason, sizeof(reason),
                         "weights changed outside canaryd: canary at %u%%, expected %u%%",
                         ev->observed_weight, s->weight);
        touch(s, ev, reason, now);
        s->phase = ROLLOUT_PAUSED;
        emit_write(out, s, false);
        emit_notify(out, NOTIFY_DRIFT);
}

/* The cluster could not be read or written for ev->outage_checks intervals of this step: each
 * counts as an inconclusive check (SPEC.md §4); past inconclusive_limit the rollout pauses,
 * otherwise the step's wait starts again (its observation is as stale as a lost analysis). */
static void on_kube_outage(const struct rollout_spec *spec, struct rollout_state *s,
                           const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX], lasted[32];

        if (s->phase != ROLLOUT_PROGRESSING || ev->for_step != s->step ||
            ev->for_step_started_usec != s->step_started_usec || ev->outage_checks == 0) {
                out->ignored = "a Kubernetes outage of a step the rollout has left";
                return;
        }
        /* counted up to one past the limit, as checks one at a time would be: the pause says
         * how long it lasted */
        unsigned room = spec->inconclusive_limit + 1 - s->inconclusive_checks;
        s->inconclusive_checks += ev->outage_checks < room ? ev->outage_checks : room;
        duration_format(now > ev->outage_since_usec ? now - ev->outage_since_usec : 0, lasted,
                        sizeof(lasted));
        if (s->inconclusive_checks > spec->inconclusive_limit) {
                snprintf(reason, sizeof(reason),
                         "Kubernetes unreachable for %s: %u inconclusive checks "
                         "(inconclusive_limit %u)",
                         lasted, ev->outage_checks, spec->inconclusive_limit);
                touch(s, ev, reason, now);
                s->phase = ROLLOUT_PAUSED;
                emit_write(out, s, false);
                emit_notify(out, NOTIFY_PAUSED);
                return;
        }
        snprintf(reason, sizeof(reason),
                 "Kubernetes unreachable for %s: counted as %u inconclusive check%s", lasted,
                 ev->outage_checks, ev->outage_checks == 1 ? "" : "s");
        touch(s, ev, reason, now);
        retry_step(spec, s, now, out, false);
}

static void cmd_start(const struct rollout_spec *spec, struct rollout_state *s,
                      const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];
        const char *rev = ev->revision && *ev->revision ? ev->revision : NULL;

        if (rollout_is_running(s)) {
                if (!rev || strcmp(rev, s->revision) == 0) {
                        out->refused = "a rollout of this revision is already running";
                        return;
                }
                snprintf(reason, sizeof(reason), "new revision %.60s replaces %.60s", rev,
                         s->revision);
                touch(s, ev, reason, now);
        } else if (rev && strcmp(rev, s->revision) == 0 &&
                   (s->phase == ROLLOUT_PROMOTED || s->phase == ROLLOUT_ROLLED_BACK)) {
                /* Idempotent for pipelines that repeat a start whose reply they lost: a finished
                 * revision is not rolled out again by accident. */
                out->refused = s->phase == ROLLOUT_PROMOTED
                                   ? "this revision was already promoted"
                                   : "this revision was rolled back: use retry to run it again";
                return;
        } else {
                touch(s, ev, ev->reason, now);
        }
        if (!rev)
                s->revision[0] = '\0';
        begin(spec, s, rev, now, out);
}

static void cmd_promote(const struct rollout_spec *spec, struct rollout_state *s,
                        const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        if (!rollout_is_running(s)) {
                out->refused = "not progressing: nothing to promote";
                return;
        }
        touch(s, ev, ev->full ? "promoted fully by hand" : "promoted by hand", now);
        if (ev->full)
                promote_fully(spec, s, out);
        else
                advance(spec, s, now, out);
}

static void cmd_abort(struct rollout_state *s, const struct rollout_event *ev, usec_t now,
                      struct rollout_actions *out)
{
        if (!rollout_is_running(s)) {
                out->refused = "not progressing or paused: nothing to abort";
                return;
        }
        touch(s, ev, ev->reason && *ev->reason ? ev->reason : "aborted by hand", now);
        roll_back(s, out, NOTIFY_ABORTED);
}

static void cmd_pause(struct rollout_state *s, const struct rollout_event *ev, usec_t now,
                      struct rollout_actions *out)
{
        if (s->phase != ROLLOUT_PROGRESSING) {
                out->refused = "not progressing: nothing to pause";
                return;
        }
        touch(s, ev, ev->reason && *ev->reason ? ev->reason : "paused by hand", now);
        s->phase = ROLLOUT_PAUSED;
        emit_write(out, s, false);
        emit_notify(out, NOTIFY_PAUSED);
}

static void cmd_resume(const struct rollout_spec *spec, struct rollout_state *s,
                       const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        if (s->phase != ROLLOUT_PAUSED) {
                out->refused = "not paused: nothing to resume";
                return;
        }
        touch(s, ev, s->approval_since_usec ? "resumed: awaiting approval" : "resumed", now);
        s->phase = ROLLOUT_PROGRESSING;
        s->inconclusive_checks = 0;
        s->step_started_usec = now;
        if (s->approval_since_usec)
                s->approval_since_usec = now; /* a new wait, for a whole approve_timeout */
        emit_write(out, s, true);             /* restores our weights after drift */
        emit_notify(out, NOTIFY_RESUMED);
        emit_timer(out, next_wake(spec, s, now));
}

/* A person lets a rollout that waits for approval go on: the next step, as promote would. */
static void cmd_approve(const struct rollout_spec *spec, struct rollout_state *s,
                        const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        if (!rollout_is_running(s)) {
                out->refused = "not progressing: nothing to approve";
                return;
        }
        if (!s->approval_since_usec) {
                out->refused = rollout_step_needs_approval(spec, s->step)
                                   ? "not awaiting approval yet: this step's analysis has not "
                                     "passed (promote skips ahead without it)"
                                   : "not awaiting approval: this step needs none (promote skips "
                                     "ahead)";
                return;
        }
        touch(s, ev, "approved", now);
        advance(spec, s, now, out);
}

static void cmd_retry(const struct rollout_spec *spec, struct rollout_state *s,
                      const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        if (s->phase != ROLLOUT_ROLLED_BACK) {
                out->refused = "not rolled back: nothing to retry";
                return;
        }
        touch(s, ev, "retry", now);
        begin(spec, s, NULL, now, out);
}

/* The watched Deployment runs a template: the first one seen is only recorded (it is what runs
 * already), and so is the one a running rollout already rolls out; any other starts a rollout
 * of it, replacing a running one in one write. */
static void on_trigger(const struct rollout_spec *spec, struct rollout_state *s,
                       const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        char reason[ROLLOUT_REASON_MAX];
        const char *rev = ev->revision && *ev->revision ? ev->revision : NULL;

        if (!rev || strcmp(rev, s->trigger_revision) == 0)
                return;
        bool first = !s->trigger_revision[0];
        set_text(s->trigger_revision, sizeof(s->trigger_revision), rev);
        if (first || (rollout_is_running(s) && strcmp(rev, s->revision) == 0)) {
                s->updated_usec = now;
                emit_write(out, s, false);
                return;
        }
        if (rollout_is_running(s))
                snprintf(reason, sizeof(reason), "new revision %.60s replaces %.60s (was at %u%%)",
                         rev, s->revision, s->weight);
        else
                snprintf(reason, sizeof(reason), "new revision %.60s", rev);
        touch(s, ev, reason, now);
        begin(spec, s, rev, now, out);
}

/* While the rollout runs, the decision's timer is at most spec->resync_usec ahead, and there is
 * one: the driver re-reads the cluster on it. */
static void bound_timer(const struct rollout_spec *spec, const struct rollout_state *s, usec_t now,
                        struct rollout_actions *out)
{
        usec_t bound = now + spec->resync_usec;

        if (out->refused || out->ignored || !spec->resync_usec || !rollout_is_running(s))
                return;
        for (size_t i = 0; i < out->n; i++)
                if (out->items[i].kind == ACT_ARM_TIMER) {
                        if (out->items[i].at_usec > bound)
                                out->items[i].at_usec = bound;
                        return;
                }
        emit_timer(out, bound);
}

static void dispatch(const struct rollout_spec *spec, struct rollout_state *s,
                     const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        switch (ev->kind) {
        case EV_TICK:
                on_tick(spec, s, now, out);
                return;
        case EV_ANALYSIS:
                on_analysis(spec, s, ev, now, out);
                return;
        case EV_DRIFT:
                on_drift(s, ev, now, out);
                return;
        case EV_CMD_START:
                cmd_start(spec, s, ev, now, out);
                return;
        case EV_CMD_PROMOTE:
                cmd_promote(spec, s, ev, now, out);
                return;
        case EV_CMD_ABORT:
                cmd_abort(s, ev, now, out);
                return;
        case EV_CMD_PAUSE:
                cmd_pause(s, ev, now, out);
                return;
        case EV_CMD_RESUME:
                cmd_resume(spec, s, ev, now, out);
                return;
        case EV_CMD_RETRY:
                cmd_retry(spec, s, ev, now, out);
                return;
        case EV_TRIGGER:
                on_trigger(spec, s, ev, now, out);
                return;
        case EV_CMD_APPROVE:
                cmd_approve(spec, s, ev, now, out);
                return;
        case EV_KUBE_OUTAGE:
                on_kube_outage(spec, s, ev, now, out);
                return;
        case _ROLLOUT_EVENT_KIND_MAX:
                return;
        }
}

void rollout_step(const struct rollout_spec *spec, struct rollout_state *s,
                  const struct rollout_event *ev, usec_t now, struct rollout_actions *out)
{
        memset(out, 0, sizeof(*out));
        if (spec->n_steps == 0) {
                out->refused = "canary has no steps";
                return;
        }
        dispatch(spec, s, ev, now, out);
        bound_timer(spec, s, now, out);
}
