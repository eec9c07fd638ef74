/* Slack notifications: message rendering and Web API answers (src/codec/slack-json.c, pure),
 * the outbox file format (src/codec/slack-json.c) and a paced, retrying, persistent delivery
 * queue (src/io/slack.c, src/io/outbox.c) that never blocks a rollout decision.
 * SPEC §6, WIRE.md §4, docs/slack.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/util.h"

struct http_client;

enum slack_severity { SLACK_INFO, SLACK_WARN, SLACK_ERROR, _SLACK_SEVERITY_MAX };
/* started, progressed, resumed, promoted: info; analysis failed, paused, drift: warn;
 * rolled back, aborted: error. Unknown events are info. */
enum slack_severity slack_event_severity(const char *event);
const char *slack_severity_to_string(enum slack_severity s); /* "info", "warn", "error" */

/* One rollout event to announce. Every pointer is borrowed for the call. */
struct slack_notice {
        const char *canary;
        const char *namespace_;
        const char *event; /* "started", "progressed", "analysis failed", "paused", "resumed",
                              "promoted", "rolled back", "aborted", "drift" */
        const char *phase; /* "Progressing", ... (NULL: not shown) */
        unsigned weight;   /* canary weight after the event */
        unsigned step, n_steps;
        const char *revision;    /* may be NULL */
        const char *reason;      /* may be NULL */
        const char *actor;       /* may be NULL: the daemon */
        const char *runbook_url; /* shown on failures (rolled back, aborted, paused, drift,
                                    analysis failed) */
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

#define SLACK_TIMELINE_MAX 40

enum slack_msg_kind {
        SLACK_MSG_POST,   /* chat.postMessage or the webhook */
        SLACK_MSG_PARENT, /* token mode: the rollout's parent message (opens its thread) */
        _SLACK_MSG_KIND_MAX
};

struct slack_outbox_msg {
        char *key;        /* idempotency key (NULL: none) */
        char *thread;     /* "canary/started_usec" (NULL: not part of a rollout thread) */
        char *channel;    /* NULL: the default channel */
        char *payload;    /* rendered message */
        bool broadcast;   /* reply_broadcast: also shown in the channel */
        bool coalescible; /* may be folded into the parent's timeline when a backlog builds */
        bool routine;     /* an info event: under a backlog it may be folded into a digest or
                             the parent, and it goes after warnings and errors; never dropped
                             while it is not */
        bool maybe_sent;  /* an attempt may have landed: check (token) or mark (webhook) first */
        bool resent;      /* webhook: already marked as a re-send */
};

struct slack_outbox_thread {
        char *id;      /* "canary/started_usec" */
        char *channel; /* NULL: the default channel */
        char *ts;      /* parent message ts, NULL until posted */
        char *summary; /* latest rendered summary (parent payload without timeline) */
        char *lines[SLACK_TIMELINE_MAX];
        size_t n_lines, n_dropped_lines;
        bool update_pending; /* the parent shows less than the timeline holds */
        bool parent_maybe_sent;
        usec_t created_usec; /* wall clock, to forget old threads */
};

/* Write-ahead (docs/slack.md, "Exactly once"): a notification rendered before the state write
 * that makes it true, held until that write is known to have landed (then it is queued like
 * any other) or not to have landed (then it is dropped: the event did not happen). A write is
 * identified by its canary and the updated_at (microseconds) of the state it carries: every
 * transition sets updated_at to the decision time. */
struct slack_outbox_held {
        char *canary;      /* whose write it waits for */
        usec_t write_usec; /* updated_at of the state that write carries */
        char *base_rv;     /* resourceVersion the write is guarded by (NULL: not known) */
        char *thread;      /* token mode: the rollout thread (NULL: none) */
        char *thread_ts;   /* the parent's ts as the rollout state knew it (NULL: unknown) */
        char *summary;     /* token mode: the parent's new summary (NULL: none) */
        char *line;        /* token mode: the parent's new timeline line (NULL: none) */
        struct slack_outbox_msg msgs[2]; /* the message, then its routed copy if any */
        size_t n_msgs;
};

struct slack_outbox {
        uint64_t log_seq; /* the last record of the log (slack_outbox_log_line) it holds */
        struct slack_outbox_msg *msgs;
        size_t n_msgs;
        struct slack_outbox_held *held;
        size_t n_held;
        struct slack_outbox_thread *threads;
        size_t n_threads;
        char **recent; /* keys delivered lately, oldest first */
        size_t n_recent;
};

void slack_outbox_done(struct slack_outbox *o); /* frees the members; o itself is not freed */
void slack_outbox_held_done(struct slack_outbox_held *h); /* frees the members, zeroes *h */
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

/* Atomic file save (write a temporary file, fsync, rename, fsync the directory) and load of
 * the outbox, src/io/outbox.c. Load: -ENOENT when there is none. Errors: negative errno with an
 * owned message (no secrets: the outbox never holds a URL or a token). */
int outbox_save(const char *path, const struct slack_outbox *o, char **ret_error);
int outbox_load(const char *path, struct slack_outbox *ret, char **ret_error);

/* The log beside the outbox file ("x.json" -> "x.log"), owned. */
char *outbox_log_path(const char *outbox_path);
/* Appends one line (opening the log at *fd when it is -1). Negative errno on failure. */
int outbox_log_append(int *fd, const char *path, const char *line);
/* fdatasync / empty the log (fd -1: nothing to do). Negative errno on failure. */
int outbox_log_sync(int fd);
int outbox_log_reset(int fd);
/* Reads every record of the log, in order (an array owned by the caller, each record's held
 * entry too); unreadable lines and a torn last line are skipped and counted in *ret_bad.
 * -ENOENT without a log; other errors with an owned message. */
int outbox_log_read(const char *path, struct slack_log_record **ret, size_t *ret_n, size_t *ret_bad,
                    char **ret_error);

/* ---- the delivery client ------------------------------------------------------------------- */

struct slack_settings {
        const char *webhook_url; /* secret: never logged */
        const char *token;       /* secret: bot token for chat.postMessage */
        const char *channel;     /* token mode: where rollout threads live */
        /* token mode, optional: events of a severity are also posted, top-level, to this
         * channel when it differs from `channel` (NULL: not) */
        const char *severity_channels[_SLACK_SEVERITY_MAX];
        const char *mention;      /* optional, put before error events (routed copy if any) */
        const char *api_base_url; /* default https://slack.com/api; tests override */
        const char *outbox_path;  /* NULL: memory only */
        long timeout_ms;
        usec_t pace_usec;         /* minimum gap between sends per channel; 0 = 1 s */
        usec_t backoff_base_usec; /* first retry delay, doubled per attempt, capped at 60 s;
                                     0 = 1 s */
};

struct slack_client;
/* Loads the outbox when there is one (a broken file is renamed *.broken and reported through
 * *ret_warning, owned, may be NULL) and resumes its deliveries. */
int slack_client_new(sd_event *event, struct http_client *http, const struct slack_settings *s,
                     struct slack_client **ret);
int slack_client_new_full(sd_event *event, struct http_client *http, const struct slack_settings *s,
                          struct slack_client **ret, char **ret_warning);
/* Drops what is in memory (the outbox file keeps it). NULL-safe; returns NULL. */
struct slack_client *slack_client_free(struct slack_client *s);

/* Announces one rollout event. key: the idempotency key; thread: the rollout's identity
 * ("canary/started_usec"; NULL: no thread); thread_ts: the parent's ts if the rollout state
 * already knows it (NULL: unknown). Token mode: the event becomes a reply in the rollout's
 * thread (a rollback or abort also broadcast to the channel), the thread's parent message is
 * updated to the current phase and weight, and warn/error events are also posted to their
 * severity channel. Webhook mode: one message. Returns 0, -EEXIST for a known key, -ENOBUFS
 * when the queue is full, -EINVAL on bad arguments. Never blocks on the network; persists the
 * outbox when it has a path. */
int slack_notify(struct slack_client *s, const struct slack_notice *n, const char *key,
                 const char *thread, const char *thread_ts);

/* Write-ahead of a state write (docs/slack.md): renders the event like slack_notify() but only
 * holds it, in memory, until slack_resolve() learns whether the canary's write carrying the
 * state with updated_at == write_usec, guarded by resourceVersion base_rv (may be NULL: then a
 * read that does not show it drops it at once), landed. Call slack_sync() once after the holds
 * of a write and before submitting it. Returns 0 when held, -EEXIST for a key held, queued or
 * delivered, -ENOBUFS when SLACK_HELD_MAX entries are held, -EINVAL on bad arguments. */
int slack_hold(struct slack_client *s, const struct slack_notice *n, const char *key,
               const char *thread, const char *thread_ts, const char *canary, usec_t write_usec,
               const char *base_rv);

/* Makes what was held or queued so far durable: the outbox log is fdatasync'ed (the outbox
 * file itself is written within SLACK_OUTBOX_SAVE_USEC of a change, and at once before an
 * attempt that may land). Returns 0, or a negative errno (slack_outbox_error() says why;
 * delivery goes on from memory). 0 without an outbox path. */
int slack_sync(struct slack_client *s);
#define SLACK_OUTBOX_SAVE_USEC (500 * USEC_PER_MSEC)

/* What is known of the canary's object, for slack_resolve(). */
struct slack_seen {
        usec_t state_usec; /* updated_at of the state it carries (0: none, or see rv) */
        /* NULL: a write of ours carrying state_usec landed (state_usec 0: was refused for sure,
         * or nothing is known), so no other held write of the canary can land any more.
         * Otherwise the resourceVersion a read showed: a held write guarded by this very
         * version may still be on its way (sent by a daemon that died before the API server
         * applied it) and is kept for SLACK_HELD_INFLIGHT_USEC after its decision. */
        const char *rv;
};

/* Resolves the canary's held notifications against what is seen: those of the write carrying
 * seen->state_usec are queued for delivery, those of writes that cannot have landed are dropped
 * (their events did not happen), those that may still land are kept; *ret_recheck_at (may be
 * NULL) gets the time to read again for them (0: none kept). Held entries of any canary older
 * than SLACK_HELD_MAX_AGE_USEC at now (the caller's wall clock; the client reads none) are
 * dropped too and reported to the failed callback. Persists the outbox when something changed.
 * Returns the number released; *ret_dropped (may be NULL) gets the number dropped for this
 * canary. */
size_t slack_resolve(struct slack_client *s, const char *canary, const struct slack_seen *seen,
                     usec_t now, size_t *ret_dropped, usec_t *ret_recheck_at);

/* A write of ours carrying write_usec was refused for sure (409, 4xx): drops its held
 * notifications only (another held write of the canary may be the one that landed). */
size_t slack_forget_write(struct slack_client *s, const char *canary, usec_t write_usec);

/* Notifications held (write-ahead), not yet resolved. */
size_t slack_held_count(const struct slack_client *s);

#define SLACK_HELD_MAX          256
#define SLACK_HELD_MAX_AGE_USEC (24 * 3600 * USEC_PER_SEC)
/* How long a write may reach the API server after its decision (the API server's default
 * request timeout is one minute) */
#define SLACK_HELD_INFLIGHT_USEC (60 * USEC_PER_SEC)

/* Queues a rendered payload (owned: freed even on failure) outside any thread. key is the
 * idempotency key (NULL: none): a key queued, in flight or among the last 1024 delivered is
 * dropped and -EEXIST returned. Returns 0 when queued, -ENOBUFS when the queue is full
 * (SLACK_QUEUE_MAX), -EINVAL on bad arguments or (token mode) a payload that is not a JSON
 * object.
 *
 * Delivery, one request at a time and in order per channel: paced to at most one message per
 * pace interval per channel; 429 waits for Retry-After seconds (default 1, capped at 10 min)
 * without counting an attempt; 5xx, transport errors and non-JSON Web API answers are retried
 * with backoff 1, 2, 4 ... 60 s, SLACK_MAX_ATTEMPTS attempts in all; other 4xx and Web API
 * ok:false are permanent. After an attempt that may have landed (timeout, 5xx, crash) token
 * mode reads the thread back (conversations.replies / .history) and sends only when the key is
 * not there; webhook mode re-sends once, marked, and drops (reports) a message whose marked
 * re-send may have landed too. A failed connection counts as not sent. A dropped message is
 * reported to the failed callback and its key forgotten (it may be queued again). */
int slack_enqueue(struct slack_client *s, char *payload, const char *key);

#define SLACK_QUEUE_MAX    512
#define SLACK_MAX_ATTEMPTS 6
/* Token mode: a thread with more pending replies than this folds its oldest coalescible ones
 * into the parent's timeline instead of posting each. */
#define SLACK_COALESCE_AT 3
/* Slack at scale (SPEC §7): with more routine messages queued than this, token mode folds every
 * coalescible one into its thread's parent; webhook mode sends them as digests of at most
 * SLACK_DIGEST_LINES lines (the rest counted in the digest's last line). Warnings and errors go
 * first and are never folded; when the queue is full, a warning or error takes the place of the
 * oldest routine message. */
#define SLACK_BACKLOG_AT   8
#define SLACK_DIGEST_LINES 20

/* Called from the event loop when a queued message is dropped.
 * key may be NULL; reason is a short text without secrets ("HTTP 404: channel_not_found after
 * 1 attempt"). Both are borrowed for the call. The callback must not free the client. */
typedef void slack_failed_fn(const char *key, const char *reason, void *ud);
void slack_set_failed_callback(struct slack_client *s, slack_failed_fn *fn, void *ud);

/* Called when a rollout thread's parent ts becomes known (token mode), so that the daemon can
 * store it with the rollout state. Borrowed strings. */
typedef void slack_thread_fn(const char *thread, const char *ts, void *ud);
void slack_set_thread_callback(struct slack_client *s, slack_thread_fn *fn, void *ud);

/* The parent ts of a thread, NULL when unknown (borrowed). */
const char *slack_thread_ts(const struct slack_client *s, const char *thread);

/* Messages not yet delivered, dropped or coalesced (the one in flight included), and parent
 * updates still owed. */
size_t slack_queue_length(const struct slack_client *s);

/* Counters since creation. */
size_t slack_delivered_count(const struct slack_client *s);
size_t slack_dropped_count(const struct slack_client *s);
size_t slack_coalesced_count(const struct slack_client *s);

/* Token mode: "ts" of the last message posted (borrowed, NULL before the first). */
const char *slack_last_ts(const struct slack_client *s);

/* Last problem writing the outbox file (borrowed, NULL when fine), for status and logs. */
const char *slack_outbox_error(const struct slack_client *s);
