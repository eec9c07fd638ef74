/* The PagerDuty outbox (docs/alerts.md, "Once across a crash"): the events not yet delivered,
 * in order, and what has been done for each canary (its alert_record), kept in
 * <state_dir>/pagerduty-outbox.json. The data and its JSON form (src/codec/pager-outbox-json.c,
 * pure); the daemon's src/daemon/pager.c reads and writes the file. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>
#include <stdint.h>

#include "canaryd/alert.h"

#define PAGER_OUTBOX_EVENTS_MAX   256        /* events waiting; more are refused, not queued */
#define PAGER_OUTBOX_CANARIES_MAX 100000     /* records; a file with more is refused */
#define PAGER_OUTBOX_FILE_MAX     (16 << 20) /* bytes read of the file at most */

struct pager_outbox_event {
        char *canary;    /* owned */
        char *dedup_key; /* owned */
        char *action;    /* owned: "trigger" or "resolve" */
        char *body;      /* owned: the Events API v2 body, sent as it is */
};

struct pager_outbox_canary {
        char *name; /* owned */
        struct alert_record rec;
};

struct pager_outbox {
        uint64_t since_usec; /* when alerting was set up: earlier transitions never page */
        struct pager_outbox_event *events;
        size_t n_events;
        struct pager_outbox_canary *canaries; /* sorted by name */
        size_t n_canaries;
};

void pager_outbox_done(struct pager_outbox *o); /* frees the members and zeroes *o; NULL-safe */

/* The outbox as JSON text; caller owns it. */
char *pager_outbox_to_json(const struct pager_outbox *o);

/* Reads the text of an outbox file (any bytes). Returns 0 and fills *ret (zeroed first;
 * pager_outbox_done), or -EINVAL with *ret_error (owned) saying what is wrong, having kept
 * nothing. Events must be objects of the four strings above with a body that is a JSON object;
 * canaries are {"rollout":N,"open":B,"done":N} by name, names unique. */
int pager_outbox_from_json(const char *text, size_t len, struct pager_outbox *ret,
                           char **ret_error);

/* The record of canary name, or NULL when it has none. */
const struct alert_record *pager_outbox_find(const struct pager_outbox *o, const char *name);
/* The record of canary name, added (zeroed) when missing; NULL at PAGER_OUTBOX_CANARIES_MAX.
 * Keeps canaries sorted: a pointer is valid until the next call. */
struct alert_record *pager_outbox_record(struct pager_outbox *o, const char *name);
