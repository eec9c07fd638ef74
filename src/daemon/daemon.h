/* The daemon's runtime object: its configuration, clients, canaries and the loop's shared
 * sources. A canary's own state is in canary.h; each file's functions are declared in its own
 * header, so a file's includes say which others it calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/control-access.h"
#include "canaryd/ratelimit.h"

#include "counters.h"

struct http_client;
struct datadog_client;
struct kube_client;
struct slack_client;
struct control_server;
struct canary;
struct ha;
struct analysis_sched;
struct datadog_key;
struct vs_watch;
struct deployment_watch;
struct http_server;
struct slack_groups;
struct response_post;
struct pager;
struct datadog_events;

/* How long a control reply waits for its command's decision (the control server's own deadline,
 * CONTROL_DEFER_USEC, and canaryctl's 10 s are longer). */
#define CONTROL_REPLY_WAIT_USEC (6 * USEC_PER_SEC)

/* A control reply waiting for its command's decision, bounded by CONTROL_REPLY_WAIT_USEC. */
struct pending_reply {
        struct pending_reply *next;
        struct daemon *d;
        uint64_t id;
        sd_event_source *timer;
        char what[96]; /* "promote checkout", for the interim reply */
};

struct daemon {
        sd_event *event;
        char *config_path;
        struct config *config;
        struct http_client *http;
        struct datadog_client *datadog;
        struct kube_client *kube;
        struct slack_client *slack;
        struct pager *pager; /* pager.c: PagerDuty; NULL without `pagerduty:` */
        struct control_server *control;
        /* main.c: who may send which request, from control.group and control.read_group as
         * they were at start-up (the socket keeps its group across reloads, and so does this) */
        struct control_access control_access;
        struct ratelimit refusal_log;       /* control-log.c: refused requests in the log */
        sd_event_source *refusal_log_timer; /* control-log.c: its summary line */
        struct canary *canaries;
        size_t n_canaries;
        struct ha *ha; /* NULL without `ha:`; see ha.c */
        /* A reload that changes `ha:` hands the shards over first: every Lease is released
         * (ha_handover), then (ha_handed_over) the old ha is freed from the loop and the new
         * configuration applied with a new one. */
        bool ha_handover, ha_handed_over;
        bool stopping;
        bool slack_hold_full; /* SLACK_HELD_MAX reached: events queued after their write lands */
        bool reload_pending;
        struct config *reload_config;  /* parsed at SIGHUP, applied once nothing is in flight */
        sd_event_source *reload_defer; /* applies it from the loop, never from a callback */
        sd_event_source *idle_defer;   /* main.c: stop or reload once nothing is in flight */
        char *last_status;
        sd_event_source *status_timer;    /* status.c: STATUS= at most once a second */
        usec_t status_sent_usec;          /* CLOCK_MONOTONIC */
        struct analysis_sched *sched;     /* analysis.c: shared Datadog requests, rate limit */
        struct datadog_key *key;          /* datadog-key.c: the API key check */
        struct datadog_events *dd_events; /* dd-events.c: Datadog events, paced by sched */
        struct pending_reply *replies;    /* deferred control replies */
        char *state_dir_error;            /* owned: why state_dir cannot be written (status,
                                             /readyz); NULL while it can */
        usec_t state_dir_error_usec;      /* since when (wall clock) */
        usec_t state_dir_failed_usec;     /* the last append that failed (wall clock) */
        struct vs_watch *vs_watches;      /* vs-watch.c: one per namespace with canaries */
        size_t n_vs_watches;
        struct deployment_watch *deployment_watches; /* deployment-trigger.c: one per namespace
                                                        with triggered canaries */
        size_t n_deployment_watches;
        /* driver.c: canaries whose cycle reads the informer's cache, from a deferred source */
        struct canary *ready, *ready_tail;
        sd_event_source *ready_defer;
        /* commit.c: canaries with journal lines or a PUT waiting for this iteration's commit;
         * committed (driver.c's canary_committed, set by main.c) sends each PUT after it */
        struct canary *barrier;
        sd_event_source *barrier_defer;
        void (*committed)(struct canary *c);
        struct daemon_metrics metrics;   /* metrics.c */
        struct canary_counts *counts;    /* owned; n_canaries of them, or NULL without /metrics */
        struct http_server *http_server; /* endpoint.c: /metrics, /healthz, /readyz; NULL: none */
        char *slack_signing_secret;      /* owned, a secret; NULL: no Slack interactivity */
        char *env_secret[2]; /* owned, secrets: $DD_API_KEY, $DD_APP_KEY as found at start */
        struct slack_groups *slack_groups;    /* members of the groups in slack.approvers; NULL:
                                                 none named, or no bot token */
        char *slack_group_problem;            /* owned: the last one logged (main.c) */
        struct response_post *response_posts; /* endpoint.c: answers to clicks on their way */
        /* endpoint.c: signatures of the Slack requests acted on in the last 5 minutes, so that
         * a retried request is answered without acting twice */
        char slack_seen[64][68];
        usec_t slack_seen_at[64];
        unsigned slack_seen_next;
};

/* A request ended while the daemon stops or reloads: the idle source (main.c) looks, from the
 * loop, whether anything is still in flight. Nothing here calls back up into main.c. */
static inline void daemon_idle_check(struct daemon *d)
{
        if (d->idle_defer)
                sd_event_source_set_enabled(d->idle_defer, SD_EVENT_ONESHOT);
}
