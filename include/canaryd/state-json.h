/* The canaryd.io/state annotation: struct rollout_state <-> JSON (src/codec/state-json.c).
 * Timestamps are RFC 3339 UTC with microseconds, so a restart recomputes step timing exactly.
 *   {"version":1,"phase":"Progressing","step":2,"weight":10,"revision":"abc",
 *    "failed_checks":0,"inconclusive_checks":0,"analyses":1,
 *    "started_at":"...","step_started_at":"...","updated_at":"...","actor":"","reason":""}
 * and, when set, "approval_since", "trigger_revision", "slack_thread_ts", "step_times"
 * (docs/state-annotation.md). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>

#include "canaryd/rollout.h"

/* Beside the engine's state the annotation keeps the ts of the rollout's Slack thread parent
 * (token mode), which the engine never reads: a restarted daemon posts into the same thread. */
#define SLACK_THREAD_TS_MAX 32

/* slack_thread_ts: NULL or "" when not known (then not written). Caller owns the result. */
char *state_to_json(const struct rollout_state *s, const char *slack_thread_ts);

/* Parses and validates (phase known, weight 0..100, step <= n_steps, timestamps valid). Returns
 * 0, or -EINVAL with *ret_error (owned). *ret, and ret_thread_ts (SLACK_THREAD_TS_MAX bytes, ""
 * when absent; NULL: not wanted), are written only on success. */
int state_from_json(const char *json, size_t len, size_t n_steps, struct rollout_state *ret,
                    char *ret_thread_ts, char **ret_error);

/* RFC 3339 with microseconds, UTC. buf needs 32 bytes. */
char *format_rfc3339(usec_t t, char *buf, size_t size);
/* RFC 3339 with an optional fraction (microseconds kept) and Z or a numeric offset. 0, or
 * -EINVAL (also before 1970). */
int parse_rfc3339(const char *s, usec_t *ret);
