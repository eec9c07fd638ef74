/* PagerDuty Events API v2, the codec (src/codec/pagerduty-json.c, pure): the body of
 * POST {url}/v2/enqueue for a trigger or resolve event, PagerDuty's answer to it, and the
 * deterministic dedup key that makes one incident of one rollout (SPEC.md §10). No I/O.
 *
 * Documented limits (PagerDuty developer docs, "Events API v2"): dedup_key at most 255
 * characters, payload.summary at most 1024; severity one of critical, error, warning, info;
 * summary, source and severity required for trigger, dedup_key required for resolve and
 * acknowledge. Answers: 202 {"status":"success","message":"Event processed","dedup_key":"..."},
 * 400 {"status":"invalid event","message":"Event object is invalid","errors":["..."]},
 * 429 (rate limited: retry later) and 5xx (retry). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>
#include <stdint.h>

#define PAGERDUTY_DEDUP_KEY_MAX   255  /* bytes (the key is ASCII here) */
#define PAGERDUTY_SUMMARY_MAX     1024 /* bytes, cut at a UTF-8 boundary */
#define PAGERDUTY_FIELD_MAX       1024 /* bytes we keep of any other string, same cut */
#define PAGERDUTY_MAX_LINKS       16
#define PAGERDUTY_MAX_DETAILS     64
#define PAGERDUTY_RESULT_TEXT_MAX 512 /* bytes kept of a response's message and of each error */
#define PAGERDUTY_RESULT_ERRORS   16  /* errors kept of a 400 answer */

enum pagerduty_action {
        PAGERDUTY_TRIGGER,
        PAGERDUTY_ACKNOWLEDGE,
        PAGERDUTY_RESOLVE,
        _PAGERDUTY_ACTION_MAX
};
enum pagerduty_severity {
        PAGERDUTY_CRITICAL,
        PAGERDUTY_ERROR,
        PAGERDUTY_WARNING,
        PAGERDUTY_INFO,
        _PAGERDUTY_SEVERITY_MAX
};

const char *pagerduty_action_to_string(enum pagerduty_action a);     /* NULL when out of range */
const char *pagerduty_severity_to_string(enum pagerduty_severity s); /* NULL when out of range */

struct pagerduty_link {
        const char *href; /* borrowed */
        const char *text; /* borrowed; NULL: no text */
};

struct pagerduty_detail {
        const char *key;   /* borrowed */
        const char *value; /* borrowed */
};

/* One event; every pointer is borrowed for the call. For resolve and acknowledge only
 * routing_key and dedup_key are sent. */
struct pagerduty_event {
        enum pagerduty_action action;
        const char *routing_key;
        const char
            *dedup_key; /* required for resolve/acknowledge; NULL on trigger: PagerDuty picks */
        const char *summary; /* trigger: required */
        const char *source;  /* trigger: required */
        enum pagerduty_severity severity;
        const char *timestamp;                  /* ISO 8601, or NULL */
        const char *component, *group, *class_; /* or NULL */
        const struct pagerduty_link *links;
        size_t n_links;                         /* at most PAGERDUTY_MAX_LINKS are sent */
        const struct pagerduty_detail *details; /* payload.custom_details, an object of strings */
        size_t n_details;                       /* at most PAGERDUTY_MAX_DETAILS are sent */
};

/* Builds the JSON body of the event into *ret (owned). The summary is cut to
 * PAGERDUTY_SUMMARY_MAX bytes, and other strings to PAGERDUTY_FIELD_MAX, at a UTF-8 boundary
 * (invalid UTF-8 is replaced by U+FFFD first, so the body is always valid JSON text).
 * Returns 0; -EINVAL when a required field is missing or empty, the action or severity is out of
 * range, or dedup_key is longer than PAGERDUTY_DEDUP_KEY_MAX (never cut: a cut key would name
 * another incident); -ENOMEM. */
int pagerduty_event_build(const struct pagerduty_event *e, char **ret);

enum pagerduty_status {
        PAGERDUTY_ACCEPTED, /* 202 success */
        PAGERDUTY_INVALID,  /* 400 invalid event: do not retry */
        PAGERDUTY_RETRY,    /* 429, 5xx or an unreadable 2xx: retry with backoff */
        PAGERDUTY_REFUSED,  /* any other status: do not retry */
};

struct pagerduty_result {
        enum pagerduty_status status;
        char *dedup_key;                       /* owned: the accepted event's key (202), or NULL */
        char *message;                         /* owned: the answer's "message", or NULL */
        char *errors[PAGERDUTY_RESULT_ERRORS]; /* owned: a 400 answer's "errors" */
        size_t n_errors;
};
void pagerduty_result_done(struct pagerduty_result *r); /* NULL-safe, leaves it zeroed */

/* Reads PagerDuty's answer with HTTP status http_status and body (any bytes; NULL with len 0 is
 * fine). Strings kept are valid UTF-8 without control characters, at most
 * PAGERDUTY_RESULT_TEXT_MAX bytes (dedup_key: PAGERDUTY_DEDUP_KEY_MAX). A 202 whose body is not
 * {"status":"success",...} with a dedup_key string is PAGERDUTY_RETRY. Always returns 0 and fills
 * *ret. */
int pagerduty_result_parse(long http_status, const char *body, size_t len,
                           struct pagerduty_result *ret);

/* The dedup key of a rollout's incident: "canaryd/<canary>/<started_usec>", where started_usec
 * is the rollout's started_at (in the persisted state, so the key is the same after a restart
 * and differs for the next rollout of the canary). A canary name longer than fits is cut so the
 * key stays within PAGERDUTY_DEDUP_KEY_MAX (a DNS-1123 name is at most 253 bytes, so this only
 * trims the longest names; the timestamp keeps such keys distinct). Caller owns it. */
char *pagerduty_dedup_key(const char *canary, uint64_t started_usec);
