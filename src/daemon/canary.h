/* A canary at run time: its rollout state as the cluster holds it, its event queue, the
 * Kubernetes cycle under way, its analysis, timers and informer cache. canary.c sets it up and
 * tears it down; driver.c runs it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/journal.h"
#include "canaryd/rollout.h"
#include "canaryd/state-json.h"
#include "canaryd/trigger.h"

#include "analysis.h"
#include "daemon.h"

#define EVENT_QUEUE_MAX 16
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
        char thread_ts[SLACK_THREAD_TS_MAX]; /* the Slack thread ts the write carries */
};

struct canary {
        struct daemon *d;
        const struct canary_config *cfg; /* borrowed from d->config */
        struct rollout_spec spec;
        struct rollout_state state; /* as last read from or written to the cluster */
        /* wall clock: when this daemon saw the write that began the step starting at
         * step_live_for answered (0: not seen, e.g. after a restart: the step's start counts) */
        usec_t step_live_usec, step_live_for;
        /* its shard was taken over from a daemon that died: the next read announces the last
         * transition if that daemon may not have (announce_takeover) */
        bool slack_takeover;
        char slack_thread_ts[SLACK_THREAD_TS_MAX]; /* kept beside it in the annotation (""
                                                      until Slack gave the thread's parent) */
        char *vs_path;                             /* owned */
        char *last_error; /* owned: last Kubernetes/Datadog problem, for status */

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
        /* Kubernetes outage (outage.c, SPEC.md §4): since when this canary's reads or writes
         * fail (wall clock; 0: they do not), and the intervals of the step it held that this
         * makes, each an inconclusive check; kept in <state_dir>/<canary>.outage */
        usec_t outage_since_usec;
        unsigned outage_checks;
        unsigned outage_step;
        usec_t outage_step_started_usec;
        bool put_uncertain;  /* the last PUT failed without a definite answer: it may have landed */
        unsigned slack_held; /* bit per rollout_notify: its Slack message is held on this write
                                (write-ahead, driver.c hold_notifications) */
        char *written_body;  /* owned: object we PUT, for verification */

        /* trigger: {deployment} (deployment-trigger.c): the Deployment as last seen, from its
         * namespace's watch, or a GET every resync period while that watch has not listed */
        char *deployment_path;          /* owned; NULL without a trigger */
        sd_event_source *trigger_timer; /* CLOCK_MONOTONIC */
        struct deployment_view trigger_seen;
        bool trigger_seen_valid;  /* trigger_seen holds the Deployment as it stands */
        bool trigger_listed;      /* shown by the watch's current (re-)LIST */
        bool trigger_inflight;    /* a GET is out: reload and stop wait for it */
        bool trigger_failing;     /* logged once until a read works again */
        char trigger_waiting[16]; /* revision logged as "not available yet" */

        sd_event_source *tick;         /* CLOCK_BOOTTIME (clock_boottime_at): next analysis or
                                          resync */
        sd_event_source *held_recheck; /* CLOCK_BOOTTIME: Slack messages wait on a write that
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
        /* what the routes hold as last read (watch, GET, the PUT's answer), for status: a hand
         * edit shows there even while the state still records the step's weight */
        bool routes_seen;
        bool routes_agree; /* every selected route has the same split */
        unsigned routes_weight;
        bool ready_queued; /* on d->ready: its cycle reads the cache next */
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

int canary_init(struct canary *c, struct daemon *d, const struct canary_config *cfg);
void canary_done(struct canary *c);
/* Busy while a request whose callback reaches a canary is out (a stop or reload waits). */
bool daemon_busy(const struct daemon *d);
