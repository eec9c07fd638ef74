/* The Datadog query scheduler (src/io/datadog-sched.c): shares requests between the analyses
 * that fall due together, paces them against the rate limit, retries what is worth retrying,
 * and hands every job its answers exactly once. It knows nothing of canaries: a job is a list
 * of queries over a window and a done callback. docs/datadog.md, "Query economy".
 *
 * Delivery contract: done runs exactly once per job that is not cancelled first, always from
 * the scheduler's own deferred event source, never from inside datadog_sched_submit(),
 * datadog_job_cancel() or another job's callback stack. From done the caller may submit and
 * cancel other jobs freely; the job's own handle is gone once done starts. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "canaryd/config.h"
#include "canaryd/datadog.h"

/* The answer to one query of a job: its points inside the job's window, or why there are none. */
struct datadog_answer {
        double *values;        /* n values (NAN = missing point) */
        double *timestamps_ms; /* n timestamps, one per value */
        size_t n;
        char *error;         /* NULL, or what went wrong (never a secret) */
        bool request_failed; /* error is the whole request's (after its retries), not the
                                query's own (e.g. several series where one was expected) */
        const char *query;   /* the query as sent, borrowed from the job */
};

struct datadog_job;
/* error: 0 (look at each answer's error), or -ECANCELED when the scheduler or the HTTP client
 * was torn down under the job (no verdict should be drawn). answers: n_queries entries, owned
 * by the scheduler; the callback may take the arrays and strings by setting the pointers NULL. */
typedef void datadog_job_done_fn(int error, struct datadog_answer *answers, size_t n_queries,
                                 void *userdata);

/* Something worth a log line (a retry, a wait for the rate limit), said once per job it
 * concerns (job_userdata; NULL for the scheduler as a whole). Called synchronously: it must
 * only log, never call back into the scheduler. */
typedef void datadog_sched_note_fn(void *job_userdata, int priority, const char *message,
                                   void *userdata);

struct datadog_sched_settings {
        usec_t gather_usec;          /* the longest a request waits for more jobs (0: 1 s);
                                        it waits for about 10 jobs at the recent arrival rate,
                                        at least 20 ms */
        int64_t window_slack_s;      /* jobs share a request when their windows' ends differ by
                                        at most this on each side (0: 5 s) */
        unsigned attempts;           /* per request, 5xx and transport errors (0: 4) */
        usec_t backoff_usec;         /* first retry delay, doubled per attempt (0: 1 s) */
        usec_t backoff_max_usec;     /* (0: 20 s) */
        usec_t ratelimit_max_usec;   /* at most this long waiting for the limit per request
                                        (0: 120 s) */
        datadog_sched_note_fn *note; /* may be NULL */
        void *userdata;
};

struct datadog_sched;
int datadog_sched_new(sd_event *event, const struct datadog_sched_settings *s,
                      struct datadog_sched **ret);
/* Jobs still pending get done(-ECANCELED) no more: they are dropped silently; requests in flight
 * are forgotten when their answer (or the HTTP client's cancellation) arrives. NULL-safe;
 * returns NULL. */
struct datadog_sched *datadog_sched_free(struct datadog_sched *s);

/* The client requests go through (borrowed; NULL: every job fails with "no client"). Call again
 * whenever the client is replaced; requests in flight on the old one finish there. */
void datadog_sched_set_client(struct datadog_sched *s, struct datadog_client *client);
/* How many jobs make one round (the number of canaries): when fewer requests remain in the
 * rate-limit budget than two rounds need, requests are spread evenly until the reset. */
void datadog_sched_set_round(struct datadog_sched *s, size_t jobs_per_round);

/* Queues a job: queries[0..n) (taken, freed even on failure) over [from_s, to_s] (epoch seconds),
 * each answer combined as combine[i] says (copied). Queries [2k, 2k+1] always travel in the same
 * request, so that a canary query and its baseline share one time basis. Returns 0 and the
 * job's handle in *ret (may be NULL), valid until done starts or the job is cancelled. */
int datadog_sched_submit(struct datadog_sched *s, char **queries, const enum combine *combine,
                         size_t n, int64_t from_s, int64_t to_s, datadog_job_done_fn *done,
                         void *userdata, struct datadog_job **ret);
/* done will not run; the job's share of a request in flight is dropped when it returns. Not
 * from the job's own done callback. NULL-safe. */
void datadog_job_cancel(struct datadog_job *job);

/* Low-priority requests (event posts, datadog-events.h) share the queries' rate-limit pacing
 * through these two, and always yield to queries. */
/* 0 when a low-priority request may go now: no query request waits for its turn, a backoff or
 * the budget, nothing is held by a 429, and the budget is comfortable (pacing would not space
 * queries). Otherwise when to ask again (CLOCK_MONOTONIC). */
usec_t datadog_sched_idle_at(const struct datadog_sched *s);
/* The answer to a low-priority request. Datadog limits each endpoint family separately (the
 * answer's X-RateLimit-Name says which): when it names the limit the queries last saw, its
 * budget is the queries' too, and a 429 holds the queries until the reset as it would have held
 * them; another limit's answer leaves the queries alone (an event must never delay a
 * decision). */
void datadog_sched_note_answer(struct datadog_sched *s, const struct datadog_result *res);

/* Requests sent so far (for tests and benchmarks), and jobs waiting or being answered. */
uint64_t datadog_sched_requests(const struct datadog_sched *s);
/* X-RateLimit-Remaining of the last answer that carried it; -1 when none did yet. */
long datadog_sched_ratelimit_remaining(const struct datadog_sched *s);
size_t datadog_sched_jobs(const struct datadog_sched *s);
