/* Slack delivery (src/io/slack.c, src/io/outbox.c): a paced, retrying, persistent queue that
 * never blocks a rollout decision; the shell of the pure state machine of
 * canaryd/slack-delivery.h, over the codec of canaryd/slack-json.h. SPEC §6, WIRE.md §4,
 * docs/slack.md. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/slack-delivery.h"
#include "canaryd/slack-json.h"

struct http_client;

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
/* Like slack_notify(), for an event another daemon may have posted already (it took the
 * canary's shard over from one that died): every message counts as one that may have landed,
 * so token mode reads the thread (and, for a thread new to this daemon, the channel for its
 * parent) before posting, and webhook mode posts it once, marked as a re-send. */
int slack_notify_recovered(struct slack_client *s, const struct slack_notice *n, const char *key,
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

/* struct slack_seen, what is known of the canary's object: canaryd/slack-delivery.h. */

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

/* SLACK_HELD_MAX_AGE_USEC, SLACK_HELD_INFLIGHT_USEC: canaryd/slack-delivery.h. */

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

/* SLACK_MAX_ATTEMPTS, SLACK_COALESCE_AT, SLACK_BACKLOG_AT, SLACK_DIGEST_LINES: the state
 * machine's limits, canaryd/slack-delivery.h. */

/* Called from the event loop when a queued message is dropped.
 * key may be NULL; reason is a short text without secrets ("HTTP 404: channel_not_found after
 * 1 attempt"). Both are borrowed for the call. The callback must not free the client. */
typedef void slack_failed_fn(const char *key, const char *reason, void *ud);
void slack_set_failed_callback(struct slack_client *s, slack_failed_fn *fn, void *ud);

/* Called when a backlog folds a routine message into its thread's parent or a digest instead of
 * sending it (SLACK_COALESCE_AT, SLACK_BACKLOG_AT): delivered there, not lost. key may be NULL;
 * into names where it went. Both borrowed for the call. */
typedef void slack_folded_fn(const char *key, const char *into, void *ud);
void slack_set_folded_callback(struct slack_client *s, slack_folded_fn *fn, void *ud);

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
