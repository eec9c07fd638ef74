/* Slack notifications: message rendering (src/codec/slack-json.c, pure) and a paced, retrying
 * delivery queue (src/io/slack.c) that never blocks a rollout decision. SPEC §6, WIRE.md §4. */
#pragma once

#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/judge.h"
#include "canaryd/util.h"

struct http_client;

/* One rollout event to announce. Every pointer is borrowed for the call. */
struct slack_notice {
        const char *canary;
        const char *namespace_;
        const char *event; /* "started", "progressed", "analysis failed", "paused", "resumed",
                              "promoted", "rolled back", "aborted", "drift" */
        unsigned weight;   /* canary weight after the event */
        unsigned step, n_steps;
        const char *revision;    /* may be NULL */
        const char *reason;      /* may be NULL */
        const char *actor;       /* may be NULL: the daemon */
        const char *runbook_url; /* shown on failures (rolled back, aborted, paused, drift) */
        const struct metric_report *metrics;
        size_t n_metrics;
        int resend; /* 1: mark as a possible duplicate after a crash */
};

/* Renders {"text": fallback, "blocks": [...]} (and "channel" when channel != NULL). The text
 * names canary, namespace, event and weight. Caller owns the result. */
char *slack_render(const struct slack_notice *n, const char *channel);

/* Returns a copy of a JSON object payload with "channel" set when it has none (chat.postMessage
 * needs it). NULL when payload is not a JSON object. Caller owns the result. */
char *slack_payload_set_channel(const char *payload, const char *channel);

/* Reads a Web API response ({"ok":...}). Returns 0 on ok:true (*ret_ts: the message's "ts"
 * string, owned, NULL when absent), -EREMOTEIO on ok:false (*ret_error: Slack's error code,
 * owned), -EBADMSG when the body is not such an object (HTML error page, empty). */
int slack_parse_post_response(const char *body, size_t len, char **ret_ts, char **ret_error);

struct slack_settings {
        const char *webhook_url; /* secret: never logged */
        const char *token;       /* secret: bot token for chat.postMessage */
        const char *channel;
        const char *api_base_url; /* default https://slack.com/api; tests override */
        long timeout_ms;
        usec_t pace_usec;         /* minimum gap between sends; 0 = 1 s (tests shorten it) */
        usec_t backoff_base_usec; /* first retry delay, doubled per attempt, capped at 60 s;
                                     0 = 1 s */
};

struct slack_client;
int slack_client_new(sd_event *event, struct http_client *http, const struct slack_settings *s,
                     struct slack_client **ret);
/* Drops whatever is still queued. NULL-safe; returns NULL. */
struct slack_client *slack_client_free(struct slack_client *s);

/* Queues a rendered payload (owned: freed even on failure). key is the idempotency key
 * "canary/revision/event/step" (NULL: none): a key queued, in flight or among the last 1024
 * delivered is dropped and -EEXIST returned. Returns 0 when queued, -ENOBUFS when the queue is
 * full (SLACK_QUEUE_MAX), -EINVAL on bad arguments or (token
 * mode) a payload that is not a JSON object. Never blocks, never sends from inside this call.
 *
 * Delivery, one message at a time and in order: paced to at most one message per second;
 * 429 waits for Retry-After seconds (default 1, capped at 10 min) without counting an attempt;
 * 5xx, transport errors and non-JSON Web API answers are retried with backoff 1, 2, 4 ... 60 s,
 * SLACK_MAX_ATTEMPTS attempts in all; other 4xx and Web API ok:false are permanent. A dropped
 * message is reported to the failed callback and its key forgotten (it may be queued again).
 * Success: webhook mode HTTP 200 (body "ok"); token mode HTTP 200 with {"ok":true}. */
int slack_enqueue(struct slack_client *s, char *payload, const char *key);

#define SLACK_QUEUE_MAX    1000
#define SLACK_MAX_ATTEMPTS 6

/* Called from the event loop when a queued message is dropped.
 * key may be NULL; reason is a short text without secrets ("HTTP 404: channel_not_found after
 * 1 attempt"). Both are borrowed for the call. The callback must not free the client. */
typedef void slack_failed_fn(const char *key, const char *reason, void *ud);
void slack_set_failed_callback(struct slack_client *s, slack_failed_fn *fn, void *ud);

/* Messages not yet delivered or dropped, the one in flight included. */
size_t slack_queue_length(const struct slack_client *s);

/* Counters since creation. */
size_t slack_delivered_count(const struct slack_client *s);
size_t slack_dropped_count(const struct slack_client *s);

/* Token mode: "ts" of the last message posted (borrowed, NULL before the first). */
const char *slack_last_ts(const struct slack_client *s);
