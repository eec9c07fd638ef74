/* The daemon's runtime objects (struct daemon, struct canary and what they hold), shared by its
 * files. Each file's functions are declared in its own header (driver.h, analysis.h, status.h,
 * ha.h, vs-watch.h, datadog-key.h), so a file's includes say which others it calls; analysis.h
 * needs none of this (a canary embeds its struct analysis). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/journal.h"
#include "canaryd/judge.h"
#include "canaryd/kube.h"
#include "canaryd/rollout.h"
#include "canaryd/tally.h"

#include "analysis.h"

struct http_client;
struct datadog_client;
struct kube_client;
struct slack_client;
struct control_server;
struct daemon;
struct datadog_job;
struct ha;
struct analysis_sched;
struct datadog_key;
struct vs_watch;
struct http_server;

#define EVENT_QUEUE_MAX 16
/* How long a control reply waits for its command's decision (the control server's own deadline,
 * CONTROL_DEFER_USEC, and canaryctl's 10 s are longer). */
#define CONTROL_REPLY_WAIT_USEC (6 * USEC_PER_SEC)

/* A queued event with its borrowed strings copied. */
struct queued_event {
        struct rollout_event ev;
        char revision[ROLLOUT_REVISION_MAX];
        char reason[ROLLOUT_REASON_MAX];
        char actor[ROLLOUT_ACTOR_MAX];
        /* commands: the control connection waiting for the decision (0: none), and the peer */
        uint64_t reply_id;
        struct journal_peer peer;
        bool has_peer; /* a control socket command: peer is its SO_PEERCRED */
        bool settled;  /* decided (applied or refused) or abandoned: answered and journaled */
};

/* A control reply waiting for its command's decision, bounded by CONTROL_REPLY_WAIT_USEC. */
struct pending_reply {
        struct pending_reply *next;
        struct daemon *d;
        uint64_t id;
        sd_event_source *timer;
        char what[96]; /* "promote checkout", for the interim reply */
};

/* The fields of the state the journal last showed (a whole rollout_state is 688 bytes; at
 * 10,000 canaries a copy each would be 7 MB for a comparison of five fields). */
struct journal_mark {
        bool valid;
        enum rollout_phase phase;
        unsigned step, weight;
        usec_t started_usec, updated_usec;
};

/* One Kubernetes cycle of a canary (driver.c): allocated when it begins, freed when it ends. */
struct cycle {
        struct queued_event current;       /* the event being decided */
        struct rollout_state proposed;     /* what the write carries */
        struct rollout_state decided_from; /* the state `proposed` was decided from */
        struct rollout_actions actions;
};

/* How rollouts ended, for canaryd_rollouts_total{outcome} (metrics.c). */
enum rollout_outcome { OUTCOME_PROMOTED, OUTCOME_ROLLED_BACK, OUTCOME_ABORTED, _OUTCOME_MAX };

/* A canary's counters for /metrics, in d->counts (canary i's at i) only when the HTTP endpoint
 * runs: nobody can read them otherwise, and 10,000 canaries would carry them for nothing.
 * Carried over a reload by name (main.c). An analysis a minute wraps 32 bits after 8,000
 * years. */
struct canary_counts {
        uint32_t analyses[_ANALYSIS_RESULT_MAX];
        uint32_t rollouts[_OUTCOME_MAX];
};

/* What /metrics shows beyond the canaries' state: counted as long as the daemon runs, across
 * reloads (the clients, rebuilt at a reload, count into it). */
struct daemon_metrics {
        struct status_tally datadog;
        struct kube_tally kube;
        uint64_t slack_sent, slack_coalesced, slack_dropped; /* of the clients freed so far */
        struct histogram analysis_duration;                  /* seconds, start to verdict */
        struct histogram decision_lag; /* seconds, step due to weight written */
};

struct canary {
        struct daemon *d;
        const struct canary_config *cfg; /* borrowed from d->config */
        struct rollout_spec spec;
        struct rollout_state state; /* as last read from or written to the cluster */
        char *vs_path;              /* owned */
        char *last_error;           /* owned: last Kubernetes/Datadog problem, for status */

        /* Kubernetes cycle: GET, decide, PUT, verify. One at a time per canary. */
        bool busy;
        bool loaded;        /* state known from the cluster (beside the other flags: no padding) */
        bool kube_inflight; /* a GET or PUT of the cycle is out (its callback reaches c) */
        struct queued_event *queue; /* owned; allocated only while it holds something (an idle
                                       canary, most of them, carries none) */
        size_t n_queue, cap_queue;  /* n_queue <= EVENT_QUEUE_MAX */
        struct cycle *cycle;        /* owned; the decision under way, while busy (an idle canary,
                                       most of them, carries none) */
        unsigned conflicts;         /* 409s in this cycle */
        unsigned kube_failures;     /* consecutive, for backoff */
        bool put_uncertain;  /* the last PUT failed without a definite answer: it may have landed */
        unsigned slack_held; /* bit per rollout_notify: its Slack message is held on this write
                                (write-ahead, driver.c hold_notifications) */
        char *written_body;  /* owned: object we PUT, for verification */

        /* trigger: {deployment}: the Deployment is polled (GET) every resync period */
        char *deployment_path;          /* owned; NULL without a trigger */
        sd_event_source *trigger_timer; /* CLOCK_MONOTONIC */
        bool trigger_inflight;          /* a GET is out: reload and stop wait for it */
        bool trigger_failing;           /* logged once until a GET works again */
        char trigger_waiting[16];       /* revision logged as "not available yet" */

        sd_event_source *tick;         /* CLOCK_REALTIME: next analysis or resync */
        sd_event_source *held_recheck; /* CLOCK_REALTIME: Slack messages wait on a write that
                                          may still land (driver.c resolve_held) */
        sd_event_source *retry;        /* CLOCK_MONOTONIC: Kubernetes backoff */

        struct analysis analysis;
        struct last_analysis last;

        /* VirtualService informer (vs-watch.c): the object as last seen, decided from */
        char *vs_cached; /* owned: JSON, NUL-terminated; NULL when not known */
        size_t vs_cached_len;
        char *vs_awaiting_rv; /* owned: resourceVersion our last write produced; watch events
                                 older than it are skipped (NULL: none) */
        bool vs_parked;       /* its read waits for the namespace's first LIST */
        bool vs_listed;       /* seen in the (re-)LIST under way */
        bool vs_force_get;    /* this cycle reads with GET (after a 409) */
        bool ready_queued;    /* on d->ready: its cycle reads the cache next */
        struct canary *ready_next;

        /* group commit (driver.c barrier): what this loop iteration wrote to the journal and the
         * Slack outbox reaches the disk once, for every canary, before any of their PUTs */
        bool barrier_queued; /* on d->barrier */
        bool journal_dirty;  /* appended without fdatasync yet */
        bool put_waiting;    /* its PUT (written_body) goes out after the barrier */
        struct canary *barrier_next;

        /* decision journal: what it last showed of the state, to see changes made elsewhere */
        struct journal_mark journaled;
};

struct daemon {
        sd_event *event;
        char *config_path;
        struct config *config;
        struct http_client *http;
        struct datadog_client *datadog;
        struct kube_client *kube;
        struct slack_client *slack;
        struct control_server *control;
        struct canary *canaries;
        size_t n_canaries;
        struct ha *ha; /* NULL without `ha:`; see ha.c */
        bool stopping;
        bool slack_hold_full; /* SLACK_HELD_MAX reached: events queued after their write lands */
        bool reload_pending;
        struct config *reload_config;  /* parsed at SIGHUP, applied once nothing is in flight */
        sd_event_source *reload_defer; /* applies it from the loop, never from a callback */
        sd_event_source *idle_defer;   /* main.c: stop or reload once nothing is in flight */
        char *last_status;
        sd_event_source *status_timer; /* status.c: STATUS= at most once a second */
        usec_t status_sent_usec;       /* CLOCK_MONOTONIC */
        struct analysis_sched *sched;  /* analysis.c: shared Datadog requests, rate limit */
        struct datadog_key *key;       /* datadog-key.c: the API key check */
        struct pending_reply *replies; /* deferred control replies */
        bool journal_failing;          /* logged once until an append succeeds again */
        struct vs_watch *vs_watches;   /* vs-watch.c: one per namespace with canaries */
        size_t n_vs_watches;
        /* driver.c: canaries whose cycle reads the informer's cache, from a deferred source */
        struct canary *ready, *ready_tail;
        sd_event_source *ready_defer;
        struct canary *barrier; /* canaries with journal lines or a PUT behind the barrier */
        sd_event_source *barrier_defer;
        struct daemon_metrics metrics;   /* metrics.c */
        struct canary_counts *counts;    /* owned; n_canaries of them, or NULL without /metrics */
        struct http_server *http_server; /* endpoint.c: /metrics, /healthz, /readyz; NULL: none */
        char *slack_signing_secret;      /* owned, a secret; NULL: no Slack interactivity */
        /* endpoint.c: signatures of the Slack requests acted on in the last 5 minutes, so that
         * a retried request is answered without acting twice */
        char slack_seen[64][68];
        usec_t slack_seen_at[64];
        unsigned slack_seen_next;
};
