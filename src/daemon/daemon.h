/* The daemon's runtime objects, shared by main.c (composition root), driver.c (runs the rollout
 * engine's actions), analysis.c (queries and judges) and status.c (status JSON, STATUS=). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/rollout.h"

struct http_client;
struct datadog_client;
struct kube_client;
struct slack_client;
struct control_server;
struct daemon;
struct pending_query;

#define EVENT_QUEUE_MAX 16

/* A queued event with its borrowed strings copied. */
struct queued_event {
        struct rollout_event ev;
        char revision[ROLLOUT_REVISION_MAX];
        char reason[ROLLOUT_REASON_MAX];
        char actor[ROLLOUT_ACTOR_MAX];
        /* EV_ANALYSIS only: the step it judged, so a late verdict cannot apply to another */
        unsigned for_step;
        usec_t for_step_started_usec;
};

/* One metric's samples while an analysis runs. */
struct metric_samples {
        double *canary, *baseline; /* owned */
        size_t n_canary, n_baseline;
        bool canary_done, baseline_done;
        char *error; /* owned: why the data source failed, NULL if it did not */
};

struct analysis {
        bool running;
        usec_t window_start_usec, window_end_usec;
        unsigned step; /* the step it belongs to; a result for another step is stale */
        struct metric_samples *samples; /* one per metric */
        size_t pending;                 /* queries still in flight */
        unsigned generation;            /* bumps on cancel, so late replies are dropped */
        struct pending_query *queries;  /* every query of this analysis, for cancel */
};

struct last_analysis {
        bool valid;
        usec_t at_usec;
        usec_t window_start_usec, window_end_usec;
        enum analysis_result result;
        struct metric_report *reports; /* owned, n_metrics */
        size_t n;
};

struct canary {
        struct daemon *d;
        const struct canary_config *cfg; /* borrowed from d->config */
        struct rollout_spec spec;
        struct rollout_state state; /* as last read from or written to the cluster */
        bool loaded;                /* state known from the cluster */
        char *vs_path;              /* owned */
        char *last_error;           /* owned: last Kubernetes/Datadog problem, for status */

        /* Kubernetes cycle: GET, decide, PUT, verify. One at a time per canary. */
        bool busy;
        struct queued_event queue[EVENT_QUEUE_MAX];
        size_t n_queue;
        struct queued_event current; /* the event being decided */
        unsigned conflicts;          /* 409s in this cycle */
        unsigned kube_failures;      /* consecutive, for backoff */
        struct rollout_state proposed;
        struct rollout_actions actions;
        char *written_body; /* owned: object we PUT, for verification */

        sd_event_source *tick;  /* CLOCK_REALTIME: next analysis or resync */
        sd_event_source *retry; /* CLOCK_MONOTONIC: Kubernetes backoff */

        struct analysis analysis;
        struct last_analysis last;
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
        bool stopping;
        bool reload_pending;
        char *last_status;
};

/* driver.c */
int canary_init(struct canary *c, struct daemon *d, const struct canary_config *cfg);
void canary_done(struct canary *c);
/* Queues an event (abort jumps the queue) and runs it when the canary is free. */
void canary_submit(struct canary *c, const struct rollout_event *ev);
void canary_submit_analysis(struct canary *c, enum analysis_result result, const char *reason,
                            unsigned step, usec_t step_started_usec);
/* Dry run against the known state: NULL when the command would be accepted, else why not. */
const char *canary_check_command(const struct canary *c, const struct rollout_event *ev);
bool daemon_busy(const struct daemon *d);
void daemon_maybe_finish(struct daemon *d);

/* analysis.c */
void analysis_start(struct canary *c, usec_t window_start, usec_t window_end);
void analysis_cancel(struct canary *c);
void analysis_done(struct analysis *a, size_t n_metrics);
void last_analysis_done(struct last_analysis *l);

/* status.c */
char *status_json(const struct daemon *d, const char *name); /* NULL name: all */
void status_notify(struct daemon *d);
void log_canary(int priority, const struct canary *c, const char *message_id,
                const char *const *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* main.c */
void daemon_reload(struct daemon *d);
