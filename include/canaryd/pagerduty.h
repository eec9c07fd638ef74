/* The PagerDuty client (src/io/pagerduty.c): sends Events API v2 events (bodies built with
 * canaryd/pagerduty-json.h) to POST {base_url}/v2/enqueue one at a time, in order, on the event
 * loop, retrying 429, 5xx, unreadable 2xx answers and transport errors with exponential backoff
 * (a 429's Retry-After, when given, is the least wait). Never blocks: enqueueing only queues.
 * The daemon's src/daemon/pager.c drives it; crash-safe once-only delivery (SPEC.md §10) is the
 * caller's (an outbox, like Slack's), since a 202 whose answer is lost is sent again. */
#pragma once

#include "canaryd/io-layer.h"

#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/pagerduty-json.h"
#include "canaryd/util.h"

struct http_client;

#define PAGERDUTY_QUEUE_MAX 256

struct pagerduty_settings {
        const char *base_url;    /* "https://events.pagerduty.com"; no trailing slash needed */
        long timeout_ms;         /* per request; 0 = 10000 */
        usec_t backoff_min_usec; /* first retry delay; 0 = 1 s */
        usec_t backoff_max_usec; /* cap; 0 = 5 min */
        unsigned max_attempts;   /* per event, first send included; 0 = 10 */
};

/* What became of one event: delivered (ACCEPTED), refused for good (INVALID, REFUSED) or given
 * up after max_attempts (RETRY, with error the last transport errno or 0). */
struct pagerduty_outcome {
        unsigned long id; /* as returned by pagerduty_enqueue */
        enum pagerduty_status status;
        int error;        /* transport errno of the last attempt, or 0 */
        long http_status; /* of the last attempt; 0 without an answer */
        unsigned attempts;
        const struct pagerduty_result *result; /* borrowed for the call: the last answer, or NULL */
};

typedef void pagerduty_sent_fn(const struct pagerduty_outcome *o, void *userdata);

struct pagerduty_client;
/* sent is called once per event, from the loop. Strings of s are copied. */
int pagerduty_client_new(sd_event *event, struct http_client *http,
                         const struct pagerduty_settings *s, pagerduty_sent_fn *sent,
                         void *userdata, struct pagerduty_client **ret);
/* Drops queued events (sent is not called for them) and cancels the one in flight.
 * NULL-safe; returns NULL. Not from the sent callback. */
struct pagerduty_client *pagerduty_client_free(struct pagerduty_client *p);

/* Queues body (owned: freed even on failure) for sending after those before it. Returns 0 and
 * the event's id in *ret_id (may be NULL), or -ENOBUFS when PAGERDUTY_QUEUE_MAX are queued. */
int pagerduty_enqueue(struct pagerduty_client *p, char *body, unsigned long *ret_id);

/* Events queued, the one in flight or waiting to retry included. */
size_t pagerduty_client_queued(const struct pagerduty_client *p);

/* The backoff before retry number attempt (1 = the first retry): min * 2^(attempt-1), capped at
 * max, and at least retry_after_usec. Pure (exposed for tests). */
usec_t pagerduty_backoff_usec(const struct pagerduty_settings *s, unsigned attempt,
                              usec_t retry_after_usec);
