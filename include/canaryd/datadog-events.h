/* Datadog events, the sender (src/io/datadog-events.c): a bounded FIFO of POST /api/v1/events
 * bodies (built with canaryd/datadog-event-json.h) sent one at a time through the Datadog
 * client, as low-priority requests of the query scheduler's rate-limit pacing
 * (canaryd/datadog-sched.h): an event goes only while no query waits, and never holds a query
 * back. 429, 5xx and transport errors are retried with exponential backoff (a 429's
 * X-RateLimit-Reset, when given, is the least wait); 400, 401 and 403 are not. Never blocks:
 * posting only queues. docs/datadog.md, "Events". */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "canaryd/util.h"

struct datadog_client;
struct datadog_sched;

#define DATADOG_EVENTS_QUEUE_MAX 64

struct datadog_events_settings {
        usec_t backoff_min_usec; /* first retry delay; 0 = 1 s */
        usec_t backoff_max_usec; /* cap; 0 = 5 min */
        unsigned max_attempts;   /* per event, first send included; 0 = 8 */
        size_t queue_max;        /* 0 = DATADOG_EVENTS_QUEUE_MAX, at most that, at least 2 */
};

enum datadog_events_outcome {
        DATADOG_EVENTS_SENT,    /* 2xx */
        DATADOG_EVENTS_FAILED,  /* refused (400, 401, 403, ...) or given up after max_attempts */
        DATADOG_EVENTS_DROPPED, /* pushed out of a full queue, the oldest first */
        _DATADOG_EVENTS_OUTCOME_MAX
};

/* What became of one event: its label (as given to datadog_events_post), the outcome, the
 * attempts made and a message (NULL when sent; never a secret). Borrowed for the call. */
struct datadog_events_report {
        const char *label;
        enum datadog_events_outcome outcome;
        unsigned attempts;
        long http_status; /* of the last attempt; 0 without an answer */
        int64_t event_id; /* Datadog's id of a sent event, 0 when unknown */
        const char *message;
};
typedef void datadog_events_done_fn(const struct datadog_events_report *r, void *userdata);

struct datadog_events;
/* sched: whose pacing events follow (borrowed, must outlive this; NULL: none). done is called
 * once per event, from the loop (for a drop: from datadog_events_post). */
int datadog_events_new(sd_event *event, struct datadog_sched *sched,
                       const struct datadog_events_settings *s, datadog_events_done_fn *done,
                       void *userdata, struct datadog_events **ret);
/* Drops the queue (done is not called) and forgets the request in flight. NULL-safe; returns
 * NULL. Not from the done callback. */
struct datadog_events *datadog_events_free(struct datadog_events *e);
/* The client events go through (borrowed; NULL: they wait). Call again when it is replaced. */
void datadog_events_set_client(struct datadog_events *e, struct datadog_client *client);

/* Queues body (owned: freed even on failure) after the others; label (copied) names it in
 * reports and logs. When the queue is full the oldest waiting routine event is dropped, or the
 * oldest waiting one when all are important (a rollback), reported DROPPED. Returns 0, or
 * -EINVAL. */
int datadog_events_post(struct datadog_events *e, char *body, const char *label, bool important);

/* Events queued, the one in flight or waiting to retry included. */
size_t datadog_events_queued(const struct datadog_events *e);
