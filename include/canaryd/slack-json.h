/* Slack, the codec (pure): message rendering (src/codec/slack-render.c), Web API answers
 * (slack-api.c), and the outbox's file and log formats (slack-outbox-json.c). The delivery client
 * is canaryd/slack.h. SPEC §6, WIRE.md §4, docs/slack.md. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/slack-outbox.h"
#include "canaryd/util.h"

enum slack_severity { SLACK_INFO, SLACK_WARN, SLACK_ERROR, _SLACK_SEVERITY_MAX };
/* The alert level of the notification named event (rollout_notify_policy): started,
 * progressed, resumed, promoted, aborted: info; analysis failed, paused, awaiting approval: warn;
 * rolled back, drift: error. Unknown events are info. */
enum slack_severity slack_event_severity(const char *event);
const char *slack_severity_to_string(enum slack_severity s); /* "info", "warn", "error" */

/* One rollout event to announce. Every pointer is borrowed for the call. */
struct slack_notice {
        const char *canary;
        const char *namespace_;
        const char *event; /* "started", "progressed", "analysis failed", "paused", "resumed",
                              "promoted", "rolled back", "aborted", "drift", "awaiting
                              approval" */
        const char *phase; /* "Progressing", ... (NULL: not shown) */
        unsigned weight;   /* canary weight after the event */
        unsigned step, n_steps;
        const char *revision;    /* may be NULL */
        const char *reason;      /* may be NULL */
        const char *actor;       /* may be NULL: the daemon */
        const char *runbook_url; /* shown on failures (rolled back, aborted, paused, drift,
                                    analysis failed) */
        const char *report_url;  /* the rollout's report page, shown beside the runbook (NULL:
                                    none; docs/alerts.md) */
        usec_t at_usec;          /* wall clock of the event (0: not shown) */
        usec_t window_start_usec, window_end_usec; /* the analysis window (0: none) */
        const struct metric_report *metrics;
        size_t n_metrics;
        /* Optional: the canary's configuration, for each metric's threshold and its Datadog
         * metrics-explorer link (matched by metric name); NULL: neither is shown. */
        const struct canary_config *cfg;
        const char *datadog_site; /* default datadoghq.com */
        const char *mention;      /* e.g. "<!subteam^S0123>": put before the message as is */
        int resend;               /* 1: mark as a possible duplicate after a crash */
        bool buttons;  /* Slack interactivity is set up: offer the buttons of the phase (Promote,
                          Promote fully, Pause or Resume, Abort; slack-interact.h) */
        bool approval; /* the rollout waits for approval (SPEC §9; Progressing, or Paused while
                          waiting): with buttons, Approve comes first */
};

/* Renders {"text": fallback, "blocks": [...]} (and "channel" when channel != NULL): a header,
 * the weight as a progress bar, the facts (step, revision, who, reason, window), the metric
 * table (name, canary, baseline, threshold, verdict) with Datadog links, the runbook on
 * failures. The text names canary, namespace, event and weight. Caller owns the result. */
char *slack_render(const struct slack_notice *n, const char *channel);

/* The rollout's parent message (token mode): current phase and weight, a progress bar, the
 * revision and who started it; no timeline yet (see slack_summary_with_timeline). Caller owns
 * the result. */
char *slack_render_summary(const struct slack_notice *n);

/* One line for the parent message's timeline: "<time> :emoji: event at W% — reason". Caller
 * owns the result. */
char *slack_timeline_line(const struct slack_notice *n);

/* Returns a copy of a rendered summary with a timeline section holding the last lines (older
 * ones counted, not shown). NULL when summary is not a JSON object. Caller owns the result. */
char *slack_summary_with_timeline(const char *summary, const char *const *lines, size_t n);

/* Returns a copy of payload with the given members set (NULL / false: left out): channel
 * (only when payload has none), thread_ts, reply_broadcast, ts (chat.update), and the
 * idempotency key as message metadata {"event_type":"canaryd_notification",
 * "event_payload":{"key":key}}. NULL when payload is not a JSON object. Caller owns it. */
char *slack_payload_prepare(const char *payload, const char *channel, const char *thread_ts,
                            bool reply_broadcast, const char *ts, const char *key);

/* Compatibility wrapper: slack_payload_prepare(payload, channel, NULL, false, NULL, NULL). */
char *slack_payload_set_channel(const char *payload, const char *channel);

/* Returns a copy of a rendered payload marked as a possible duplicate (webhook re-send after a
 * crash): " (re-sent)" after the text, a context block at the end. NULL when not an object. */
char *slack_payload_mark_resent(const char *payload);
/* The "text" fallback of a payload (caller owns), or NULL. */
char *slack_payload_text(const char *payload);
/* One message for several routine events while Slack is backlogged (webhook mode): "N updates"
 * and a line per text, then "... and `more` more". Caller owns it. */
char *slack_render_digest(const char *const *texts, size_t n, size_t more);

/* Reads a Web API response ({"ok":...}). Returns 0 on ok:true (*ret_ts: the message's "ts"
 * string, owned, NULL when absent), -EREMOTEIO on ok:false (*ret_error: Slack's error code,
 * owned), -EBADMSG when the body is not such an object (HTML error page, empty). */
int slack_parse_post_response(const char *body, size_t len, char **ret_ts, char **ret_error);

/* The "channel" (an ID) of an ok:true Web API answer; NULL when absent. Caller owns it. */
char *slack_response_channel(const char *body, size_t len);

/* Reads a conversations.replies / conversations.history answer and looks for a message whose
 * metadata carries key. Returns 1 when found (*ret_ts: its ts, owned), 0 when not, -EREMOTEIO
 * on ok:false (*ret_error owned), -EBADMSG when the body is not such an answer. */
int slack_find_key(const char *body, size_t len, const char *key, char **ret_ts, char **ret_error);

/* ---- the outbox (state_dir/slack-outbox.json) ---------------------------------------------- */

/* Its data types (messages, threads, held notifications) are core: canaryd/slack-outbox.h. */

/* Serializes / parses the outbox file ({"version":1,"messages":[...],"held":[...],
 * "threads":[...],"recent":[...]}; "held" may be absent: files of older versions). Parse
 * errors: -EBADMSG with an owned message. */
char *slack_outbox_to_json(const struct slack_outbox *o);
int slack_outbox_from_json(const char *json, size_t len, struct slack_outbox *ret,
                           char **ret_error);

/* The outbox log (docs/slack.md, "The outbox on disk"): what changed since the outbox file was
 * last written that must survive a crash, one JSON line per record, appended. A hold is
 * write-ahead of a state write; a queued record is a message queued outside a write (a notice,
 * a raw payload), released at replay. Records whose seq is not above the file's log_seq are
 * already in the file. */
enum slack_log_kind { SLACK_LOG_HOLD, SLACK_LOG_QUEUE };

struct slack_log_record {
        uint64_t seq;
        enum slack_log_kind kind;
        struct slack_outbox_held held; /* owned; canary NULL for SLACK_LOG_QUEUE */
};

/* One record as a line ("{...}\n"), owned. */
char *slack_outbox_log_line(uint64_t seq, enum slack_log_kind kind,
                            const struct slack_outbox_held *h);
/* Parses one line (without its newline). -EBADMSG with an owned message on a bad record. */
int slack_outbox_log_parse(const char *line, size_t len, struct slack_log_record *ret,
                           char **ret_error);
