/* The rollout engine of SPEC §4 as a pure state machine:
 *     (spec, state, event, now) -> (new state, actions)
 * No I/O, no clock (now is an argument), no allocation, no globals, no logging. The driver
 * (src/daemon/driver.c) turns actions into I/O and I/O results back into events.
 *
 * Durability rule: every change of state is accompanied by exactly one ACT_WRITE, which the
 * driver performs as one Kubernetes update carrying both the weights and the state annotation.
 * Until that write succeeds the new state is only a proposal: on failure the driver re-reads the
 * VirtualService and re-decides from what the cluster says. Notifications are emitted only
 * together with the write that makes them true, and the driver sends them after it lands. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/util.h"

enum rollout_phase {
        ROLLOUT_IDLE,
        ROLLOUT_PROGRESSING,
        ROLLOUT_PAUSED,
        ROLLOUT_PROMOTED,
        ROLLOUT_ROLLED_BACK,
        _ROLLOUT_PHASE_MAX
};
const char *rollout_phase_to_string(enum rollout_phase p); /* "Idle", "Progressing", ... */
int rollout_phase_from_string(const char *s, enum rollout_phase *ret);

#define ROLLOUT_REVISION_MAX 128
#define ROLLOUT_ACTOR_MAX    64
#define ROLLOUT_REASON_MAX   160
#define ROLLOUT_SLACK_TS_MAX 32
#define ROLLOUT_STEP_TIMES   16 /* steps whose entry time a state remembers */

struct rollout_state {
        enum rollout_phase phase;
        unsigned step;   /* 1-based index into spec steps while a rollout runs; 0 when idle */
        unsigned weight; /* canary weight in percent, 0..100, as written to the routes */
        char revision[ROLLOUT_REVISION_MAX];
        unsigned failed_checks;
        unsigned inconclusive_checks;
        unsigned analyses;        /* analyses completed in this rollout */
        usec_t started_usec;      /* wall clock: rollout start */
        usec_t step_started_usec; /* wall clock: current weight written; the analysis window
                                     starts here */
        usec_t updated_usec;      /* wall clock: last state change */
        /* wall clock: when the rollout began to wait for approval at this step (an approval step
         * whose analysis passed; SPEC §9); 0 = not waiting. Kept while paused (approve still
         * moves it on, resume waits again from then); a new step, promotion, rollback or rollout
         * clears it. approve_timeout counts from it, across restarts. */
        usec_t approval_since_usec;
        char last_actor[ROLLOUT_ACTOR_MAX];   /* who caused the last transition ("" = daemon) */
        char last_reason[ROLLOUT_REASON_MAX]; /* why, for rollbacks, pauses and aborts */
        /* trigger: the Deployment template revision last acted on ("" = none seen yet). The
         * first one seen is only recorded (it is what runs already); each later change starts
         * a rollout of it, replacing a running one in one write. */
        char trigger_revision[ROLLOUT_REVISION_MAX];
        /* ts of this rollout's Slack thread parent ("" = none yet). Not used by the engine:
         * the driver fills it in (src/daemon/driver.c) and clears it for a new rollout. */
        /* wall clock, milliseconds: when step k + 1 of this rollout was entered (0 = not yet, or
         * not known: a state written before this was recorded). What the canary's traffic share
         * was at a given moment, for the sequential judge, which weighs counts by exposure and
         * fits the noise of continuous metrics step by step (SPEC §8). */
        uint64_t step_entered_ms[ROLLOUT_STEP_TIMES];
};

enum rollout_event_kind {
        EV_TICK,        /* a timer fired or the driver (re)loaded the state */
        EV_ANALYSIS,    /* an analysis finished: .analysis */
        EV_DRIFT,       /* the routes hold weights the state did not write: .observed_weight,
                           .routes_disagree */
        EV_CMD_START,   /* .revision (may be empty) */
        EV_CMD_PROMOTE, /* .full */
        EV_CMD_ABORT,   /* .reason */
        EV_CMD_PAUSE,
        EV_CMD_RESUME,
        EV_CMD_RETRY,
        EV_TRIGGER,     /* the watched Deployment is fully available with template .revision */
        EV_CMD_APPROVE, /* a rollout waiting for approval goes on */
        /* the Kubernetes API failed for .outage_checks step intervals of the step .for_step
         * (started .for_step_started_usec), from .outage_since_usec: that many inconclusive
         * checks (SPEC.md §4), decided once the cluster answers again (last: the fuzz corpora
         * number the kinds before it) */
        EV_KUBE_OUTAGE,
        _ROLLOUT_EVENT_KIND_MAX
};
/* The commands (start, promote, abort, pause, resume, retry, approve): refused with a reason
 * when they do not apply, and sent by people, with an actor. */
bool rollout_event_is_command(enum rollout_event_kind k);

struct rollout_event {
        enum rollout_event_kind kind;
        enum analysis_result analysis;
        bool full;
        /* EV_DRIFT: the canary weight the routes hold, or, when routes_disagree, one of the
         * different weights they hold */
        unsigned observed_weight;
        bool routes_disagree;
        /* EV_ANALYSIS: the step the verdict judged, by number and start; a verdict for any other
         * (the rollout moved on, was promoted, aborted or started again while it ran) is stale
         * and changes nothing (actions.ignored says so) */
        unsigned for_step;
        usec_t for_step_started_usec;
        const char *revision; /* borrowed */
        const char *reason;   /* borrowed */
        const char *actor;    /* borrowed: "uid:1000" for control commands; NULL = daemon */
        /* EV_ANALYSIS: an interim look (before interval, spec look_usec). Its PASS means
         * "promote early" (the caller only says PASS when every metric is conclusively inside
         * its tolerance), FAIL and FAIL_CRITICAL count as always, INCONCLUSIVE means "keep
         * waiting" and changes nothing. */
        bool interim;
        /* EV_KUBE_OUTAGE */
        unsigned outage_checks;
        usec_t outage_since_usec;
};

enum rollout_action_kind {
        ACT_WRITE,     /* persist state; set weights to .weight when .set_weights */
        ACT_QUERY,     /* run an analysis over [.window_start_usec, .window_end_usec] */
        ACT_ARM_TIMER, /* deliver EV_TICK at .at_usec (wall clock); replaces any earlier timer;
                          while a rollout runs, every decision (not refused or ignored) has one,
                          at most spec->resync_usec ahead */
        ACT_NOTIFY,    /* post .notify to Slack once ACT_WRITE has landed */
        _ROLLOUT_ACTION_KIND_MAX
};

enum rollout_notify {
        NOTIFY_STARTED,
        NOTIFY_PROGRESSED,
        NOTIFY_ANALYSIS_FAILED,
        NOTIFY_PAUSED,
        NOTIFY_RESUMED,
        NOTIFY_PROMOTED,
        NOTIFY_ROLLED_BACK,
        NOTIFY_ABORTED,
        NOTIFY_DRIFT,
        NOTIFY_AWAITING_APPROVAL, /* an approval step passed: the rollout waits for a person */
        _ROLLOUT_NOTIFY_MAX
};
const char *rollout_notify_to_string(enum rollout_notify n); /* "started", "progressed", ... */
/* 0 and *ret for a name rollout_notify_to_string() gives (as persisted in the Slack outbox),
 * -1 for anything else. */
int rollout_notify_from_string(const char *s, enum rollout_notify *ret);

/* The alert levels of SPEC.md §10, in the order of their Slack severities (info, warn, error);
 * rollout_alert_level() gives the level's number. */
enum rollout_notify_level {
        NOTIFY_LEVEL_INFO,  /* 3, notify only: may be coalesced and sent after louder ones */
        NOTIFY_LEVEL_WARN,  /* 2, look next business day: never dropped */
        NOTIFY_LEVEL_ERROR, /* 1, page now: never dropped, sent first, with the mention */
};

struct rollout_notify_policy {
        const char *name;
        enum rollout_notify_level level;
        bool with_metrics; /* shows the analysis that led to it (the metric table) */
        bool with_runbook; /* a failure (SPEC.md §6) or a call to act: links the runbook */
};
/* The policy row of n; NULL for a value out of range. */
const struct rollout_notify_policy *rollout_notify_policy(enum rollout_notify n);
/* The alert level of n as SPEC.md §10 numbers it: 1 page now (rolled back by analysis, drift),
 * 2 look next business day (paused, analysis failed, awaiting approval), 3 notify only
 * (started, progressed, resumed, promoted, aborted by hand); 0 for a value out of range. */
unsigned rollout_alert_level(enum rollout_notify n);

struct rollout_action {
        enum rollout_action_kind kind;
        bool set_weights;
        unsigned weight;
        usec_t window_start_usec, window_end_usec;
        bool interim; /* ACT_QUERY: an interim look (see rollout_event.interim) */
        usec_t at_usec;
        enum rollout_notify notify;
};

#define ROLLOUT_ACTIONS_MAX 6

struct rollout_actions {
        struct rollout_action items[ROLLOUT_ACTIONS_MAX];
        size_t n;
        const char *refused; /* static string: why a command was refused; NULL when accepted */
        const char *ignored; /* static string: why an event was dropped unheard (a stale
                                verdict); NULL otherwise */
};

/* What the engine needs from a canary's configuration. */
struct rollout_spec {
        const uint8_t *steps; /* strictly increasing, 1..100, last one may be < 100 */
        size_t n_steps;
        usec_t interval_usec;
        usec_t query_lag_usec;
        unsigned failure_limit;
        unsigned inconclusive_limit;
        /* Interim looks every look_usec within a step (0: none), for judges that stay valid
         * however often they look (SPEC §8): a regression fails as soon as it is conclusive,
         * and a step may pass early. */
        usec_t look_usec;
        /* Approval steps (SPEC §9): bit (i % 8) of approve[i / 8] says that step i + 1 waits
         * for approval once its analysis passes (NULL: none; at least (n_steps + 7) / 8 bytes
         * otherwise); a wait longer than approve_timeout_usec pauses (0: no limit). */
        const uint8_t *approve;
        usec_t approve_timeout_usec;
        /* While a rollout runs, every decision arms a timer no later than resync_usec ahead
         * (0: no bound), so the cluster is read again within a step: drift and changes made
         * elsewhere are seen even when no watch event comes. */
        usec_t resync_usec;
};

void rollout_spec_from_config(const struct canary_config *c, usec_t query_lag_usec,
                              struct rollout_spec *ret);

/* A rollout is under way: Progressing or Paused (it holds a canary weight of its own). */
bool rollout_is_running(const struct rollout_state *s);

/* Does 1-based step `step` wait for approval once its analysis passes? */
bool rollout_step_needs_approval(const struct rollout_spec *spec, unsigned step);
/* The rollout waits for approval: running, and its step's analysis passed on an approval step.
 * approve is accepted exactly then, Paused included (a paused wait is still one). */
bool rollout_approval_pending(const struct rollout_state *s);
/* What status calls "awaiting approval": pending and Progressing. */
bool rollout_awaiting_approval(const struct rollout_state *s);
/* When a pending approval times out (approval_since + approve_timeout); 0 when none is pending
 * or the spec sets no timeout; USEC_INFINITY when the sum would overflow. */
usec_t rollout_approval_deadline(const struct rollout_spec *spec, const struct rollout_state *s);

/* Routes that show routes_weight for the canary (routes_agree: every selected route shows the
 * same) have drifted from s: weights written by someone else while it progresses. A paused
 * rollout holds whatever weight it finds. */
bool rollout_routes_drifted(const struct rollout_state *s, unsigned routes_weight,
                            bool routes_agree);

/* Applies one event. *state is updated in place; *out is overwritten. */
void rollout_step(const struct rollout_spec *spec, struct rollout_state *state,
                  const struct rollout_event *ev, usec_t now, struct rollout_actions *out);

/* The canary's route weight at wall-clock time t in the current rollout: the weight of the last
 * step entered at or before t, from the recorded step times; 0 before the rollout started; -1
 * when the state does not know (no recorded time covers t). */
int rollout_weight_at(const struct rollout_spec *spec, const struct rollout_state *s, usec_t t);

/* The state of a canary that has never run. */
void rollout_state_init(struct rollout_state *s);
