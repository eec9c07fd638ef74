/* Datadog events, the codec (src/codec/datadog-event-json.c, pure): the body of
 * POST /api/v1/events for one rollout event, Datadog's answer to it, and the aggregation key
 * that groups a rollout's events (SPEC.md §10; docs/datadog.md, "Events"). No I/O.
 *
 * Documented fields (Datadog API reference, "Post an event", v1 EventCreateRequest): title and
 * text required, text at most 4,000 characters (markdown between "%%% \n" and "\n %%%"),
 * aggregation_key at most 100 characters, alert_type error | warning | info | success,
 * date_happened POSIX seconds (no older than 18 hours), priority normal | low, tags an array of
 * strings. Answers: 202 {"status":"ok","event":{"id":...,...}}, 400 and 403 {"errors":[...]},
 * 429 {"errors":[...]} or an empty body with X-RateLimit-* headers. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>
#include <stdint.h>

#define DATADOG_EVENT_TITLE_MAX   100  /* bytes (at most as many characters), UTF-8 cut */
#define DATADOG_EVENT_TEXT_MAX    4000 /* bytes of the whole text, markdown markers included */
#define DATADOG_EVENT_AGG_KEY_MAX 100
#define DATADOG_EVENT_TAG_MAX     200  /* bytes of one tag, Datadog's tag length limit */
#define DATADOG_EVENT_FIELD_MAX   1024 /* bytes kept of the reason, actor and link */

enum datadog_event_kind {
        DATADOG_EVENT_STARTED,
        DATADOG_EVENT_PROMOTED,
        DATADOG_EVENT_ROLLED_BACK,
        DATADOG_EVENT_ABORTED,
        _DATADOG_EVENT_KIND_MAX
};

/* "started", "promoted", "rolled back", "aborted"; NULL when out of range. */
const char *datadog_event_kind_to_string(enum datadog_event_kind k);
/* The alert_type of a kind: info, success, error (rolled back), warning (aborted by hand). */
const char *datadog_event_alert_type(enum datadog_event_kind k);

/* One rollout event; every pointer is borrowed for the call. */
struct datadog_event {
        enum datadog_event_kind kind;
        const char *canary;     /* required */
        const char *namespace_; /* required */
        const char *revision;   /* NULL or "": no revision tag */
        const char *reason;     /* NULL: none */
        const char *actor;      /* NULL: none (the daemon itself) */
        const char *link;       /* NULL: none; e.g. the rollout's report, rendered into text */
        unsigned weight_pct;    /* the canary's weight after the event */
        unsigned step, n_steps; /* step 0: before the first */
        uint64_t at_usec;       /* when it happened (CLOCK_REALTIME): date_happened */
        uint64_t started_usec;  /* the rollout's start: the aggregation key */
};

/* Builds the JSON body into *ret (owned): title "canaryd: NAME EVENT at W%" (cut to
 * DATADOG_EVENT_TITLE_MAX), markdown text (cut to DATADOG_EVENT_TEXT_MAX with its markers
 * kept), tags canary:NAME, namespace:NS, revision:REV, source:canaryd, alert_type, priority
 * normal, date_happened, aggregation_key. Invalid UTF-8 becomes U+FFFD. Returns 0; -EINVAL when
 * the canary or namespace is missing or the kind out of range. */
int datadog_event_build(const struct datadog_event *e, char **ret);

/* "canaryd/<canary>/<started_usec>", the canary cut so that it fits in
 * DATADOG_EVENT_AGG_KEY_MAX (the timestamp keeps cut keys distinct). Caller owns it. */
char *datadog_event_aggregation_key(const char *canary, uint64_t started_usec);

enum datadog_event_status {
        DATADOG_EVENT_ACCEPTED, /* 2xx: posted (even when the answer cannot be read: a retry
                                   would post it twice, Datadog does not deduplicate) */
        DATADOG_EVENT_INVALID,  /* 400: never retried */
        DATADOG_EVENT_REFUSED,  /* 401, 403 and any other status: never retried */
        DATADOG_EVENT_RETRY,    /* 429, 5xx, 408: retry later */
};

struct datadog_event_result {
        enum datadog_event_status status;
        int64_t id;   /* the posted event's id (202 with event.id), else 0 */
        char *errors; /* owned: the answer's errors joined with "; ", or NULL */
};
void datadog_event_result_done(struct datadog_event_result *r); /* NULL-safe, zeroes it */

/* Reads Datadog's answer with HTTP status http_status and body (any bytes; NULL with len 0 is
 * fine). errors is datadog_parse_errors()'s: no control characters, at most about 1 KiB.
 * Always returns 0 and fills *ret. */
int datadog_event_result_parse(long http_status, const char *body, size_t len,
                               struct datadog_event_result *ret);
