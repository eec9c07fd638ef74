/* The decision journal (docs/journal.md): every analysis, decision and manual command of a
 * canary, appended as one JSON object per line to <state_dir>/<canary>.journal, fsync'd, and
 * rotated by size to <canary>.journal.1 (one old file is kept).
 *
 * The journal is an audit trail, not state: the rollout state lives on the VirtualService
 * (state-annotation.md). A line lost to a crash between a Kubernetes write and its journal
 * append is recovered as an "observed" entry the next time the daemon reads the canary.
 *
 * Entries (every one has "at", "canary", "type", "rollout" and "revision"; "rollout" is the
 * rollout's started_at, "" before the first rollout):
 *   command   {"command","revision"?,"reason"?,"full"?,"peer":{"uid","gid","pid"},
 *              "outcome":"queued|refused|applied|abandoned","detail"}
 *   analysis  {"step","weight","window":{"start","end"},"result","metrics":[{"name","judge",
 *              "canary","baseline","n_canary","n_baseline","result","detail",
 *              sequential only: "e_value","p_value","ci_low","ci_high","inside_tolerance"}]}
 *   decision  {"event","actor","reason","from":{"phase","step","weight"},
 *              "to":{"phase","step","weight"},"weights_written","notify"}
 *   observed  {"phase","step","weight","reason"}: the state as read when it differs from the
 *              last one journaled (start-up, a change made elsewhere)
 *
 * The formatters and the history reader are this header (src/codec/journal-json.c, pure); the
 * file side is canaryd/journal.h (src/io/journal.c). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "canaryd/judge.h"
#include "canaryd/rollout.h"

/* Default rotation size (config journal_max_size). */
#define JOURNAL_MAX_SIZE_DEFAULT (1024U * 1024U)

struct journal_peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
};

/* Each formatter returns one line without its newline; the caller owns it. `s` is the state
 * the entry belongs to (its started_usec names the rollout). Strings may be NULL. */
/* actor: who asked ("uid:1000", "slack:U0123"); peer: the control socket's peer, NULL for a
 * request that did not come through it. */
char *journal_format_command(usec_t at, const char *canary, const struct rollout_state *s,
                             const char *command, const char *revision, const char *reason,
                             bool full, const char *actor, const struct journal_peer *peer,
                             const char *outcome, const char *detail);
char *journal_format_analysis(usec_t at, const char *canary, const struct rollout_state *s,
                              usec_t window_start, usec_t window_end, enum analysis_result result,
                              const struct metric_report *metrics, size_t n_metrics);
char *journal_format_decision(usec_t at, const char *canary, const struct rollout_state *before,
                              const struct rollout_state *after, const char *event,
                              const struct rollout_actions *actions);
char *journal_format_observed(usec_t at, const char *canary, const struct rollout_state *s,
                              const char *reason);

/* Name of an event kind as journaled: "tick", "analysis", "drift", "start", "promote", ... */
const char *journal_event_name(enum rollout_event_kind k);

/* Selects from journal text (lines of JSON; the .1 file's text first, then the current one's)
 * the entries of one canary's latest rollout (the "rollout" of the last entry that has one),
 * or every entry when `all`. Lines that are not JSON objects are skipped and counted. Returns
 * 0 and *ret_json (owned): {"canary":...,"rollout":"..."|null,"revision":...,"skipped":N,
 * "entries":[...]}; never fails on bad lines. -EINVAL only for a NULL canary. */
int journal_history_select(const char *text, size_t len, const char *canary, bool all,
                           char **ret_json);

/* Renders a history document as lines for people, one per entry:
 *   TIME  TYPE      WHAT
 * Returns 0 and the text (owned), or -EINVAL with *ret_error (owned). Pure. */
int journal_history_format(const char *json, size_t len, char **ret, char **ret_error);
/* The same; without headers (`canaryctl history --no-headers`, for scripts) only the entries'
 * lines: no "canary NAME, rollout ...: N entries" line above them, no count of skipped lines. */
int journal_history_format_headers(const char *json, size_t len, bool headers, char **ret,
                                   char **ret_error);
