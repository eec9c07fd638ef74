/* The Datadog client (src/io/datadog.c): one request for a batch of queries on the event loop,
 * plus GET /api/v1/validate and POST /api/v1/events, over the codecs of canaryd/datadog-json.h
 * and canaryd/datadog-event-json.h. WIRE.md §1; docs/datadog.md. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/datadog-json.h"
#include "canaryd/tally.h"

struct http_client;

struct datadog_settings {
        const char *base_url; /* no trailing slash needed */
        const char *api_key;  /* secret: never logged */
        const char *app_key;  /* secret: never logged */
        enum datadog_api api;
        long timeout_ms;
};

/* X-RateLimit-* of a response, names matched case-insensitively; -1 when absent. */
struct datadog_ratelimit {
        long limit, period, remaining, reset;
        char name[64]; /* "" when absent */
};

struct datadog_result {
        /* 0: response valid. Else: -EAGAIN rate limited (status 429, wait retry_after_usec) or
         * 5xx, -EACCES 401/403, -EINVAL 400 (bad query), -EBADMSG malformed body, -EPROTO
         * another status, or a transport errno from http.h (status 0). */
        int error;
        long status;
        struct datadog_response response; /* borrowed for the call */
        const char *message;              /* borrowed; human text for errors, never a secret */
        usec_t retry_after_usec;          /* 429: X-RateLimit-Reset, else -Period, else 10 s */
        struct datadog_ratelimit ratelimit;
        const char *body; /* borrowed: the answer's body (NULL without one), for event posts */
        size_t body_len;
};

typedef void datadog_done_fn(const struct datadog_result *res, void *userdata);

struct datadog_client;
int datadog_client_new(struct http_client *http, const struct datadog_settings *s,
                       struct datadog_client **ret);
struct datadog_client *datadog_client_free(struct datadog_client *d); /* NULL-safe */
/* Counts every answer from now on by HTTP status (0: none) in tally, which must outlive the
 * client and its requests in flight (for /metrics). */
void datadog_client_set_tally(struct datadog_client *d, struct status_tally *tally);
enum datadog_api datadog_client_api(const struct datadog_client *d);
const char *datadog_client_base_url(const struct datadog_client *d);

/* Runs the n queries in ONE request over [from_s, to_s] (epoch seconds): v1 joins them with
 * commas, v2 sends them as named queries. The response's series carry the query's index.
 * done is called exactly once, later, when this returns 0. */
int datadog_query_batch(struct datadog_client *d, const char *const *queries, size_t n,
                        int64_t from_s, int64_t to_s, datadog_done_fn *done, void *userdata);

/* POST /api/v1/events with body (borrowed for the call; built by datadog-event-json.h), with
 * the API key only. error 0 on 2xx (the body is in res->body), else as above (-EINVAL: 400).
 * Never retried here: datadog-events.h decides. */
int datadog_post_event(struct datadog_client *d, const char *body, datadog_done_fn *done,
                       void *userdata);

/* GET /api/v1/validate: error 0 when the API key is valid, -EACCES when it is refused. */
int datadog_validate(struct datadog_client *d, datadog_done_fn *done, void *userdata);
