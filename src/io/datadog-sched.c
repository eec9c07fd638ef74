/* The Datadog query scheduler: jobs (one analysis's queries over its window) share requests,
 * requests are paced and retried, and every job is answered exactly once.
 *
 * Query economy (docs/datadog.md): the queries of jobs that fall due within gather_usec, with
 * windows whose ends differ by at most window_slack_s, go to Datadog in ONE request over the
 * union window; each job keeps only the points inside its own. A request is split only where
 * it would pass the documented size limit (datadog_request_limit()).
 *
 * A request (struct batch) is in exactly one state, and only that state's owner moves it on:
 *
 *   GATHERING --gather timer, or full--> due --budget free--> IN_FLIGHT --reply--> answered
 *                                          \--budget held--> WAITING --timer--> due
 *   IN_FLIGHT --429, 5xx, transport error--> WAITING (timer at the retry time)
 *
 * IN_FLIGHT has no timer and exactly one request out: nothing but its reply moves it. (A batch
 * that went out early because it was full once kept its gather timer armed; the timer sent it a
 * second time and the first reply freed it under the second.)
 *
 * Answers never call out: a job whose last part is answered goes on a list that a deferred
 * event source drains, so job callbacks (which decide, write, and start further jobs) never
 * run inside the scheduler's own loops over batches and parts.
 *
 * Faults: 5xx, timeouts and connection errors are retried with exponential backoff and equal
 * jitter (`attempts` in all); a 429 holds every request until the limit resets (at most
 * ratelimit_max_usec per request) and is not counted as an attempt; when the remaining budget
 * runs low requests are spaced evenly over the time left. A 400 on a shared request is retried
 * once per job, so that one canary's bad query does not spoil the others. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "canaryd/clock.h"
#include "canaryd/datadog-sched.h"

enum batch_state { BATCH_GATHERING, BATCH_WAITING, BATCH_IN_FLIGHT };

#define RATE_WINDOW     64                   /* submissions the arrival rate is measured over */
#define GATHER_JOBS     10                   /* a request waits for about this many jobs */
#define GATHER_MIN_USEC (20 * USEC_PER_MSEC) /* and at least this long */

struct datadog_job {
        struct datadog_sched *s;
        char **queries; /* owned, n */
        enum combine *combine;
        size_t n;
        int64_t from_s, to_s;
        struct datadog_answer *answers; /* owned, n */
        size_t refs;                    /* batch parts that point to it, plus the handle's */
        bool handle;       /* the caller's handle is valid: done not started, not cancelled */
        size_t unanswered; /* parts not answered yet */
        int error;         /* passed to done: 0, or -ECANCELED */
        datadog_job_done_fn *done;
        void *userdata;
        bool cancelled;
        bool queued;               /* on s->answered */
        struct datadog_job *next;  /* in s->answered */
        struct datadog_job *older; /* in s->jobs (all live jobs), for free */
        struct datadog_job *newer;
};

/* Queries [lo, hi) of a job, at the batch's query index `first` onwards. */
struct part {
        struct datadog_job *job;
        size_t first;
        size_t lo, hi;
};

struct batch {
        struct batch *next;      /* in s->batches */
        struct datadog_sched *s; /* NULL: orphaned in flight by datadog_sched_free */
        enum batch_state state;
        int64_t min_from, max_from, min_to, max_to;
        const char **queries; /* borrowed from the jobs */
        size_t n_queries, cost;
        struct part *parts;
        size_t n_parts;
        unsigned attempt;
        usec_t ratelimit_waited;
        bool solo; /* one job's part of a request split after a 400 */
        sd_event_source *timer;
};

struct datadog_sched {
        sd_event *event;
        struct datadog_sched_settings set;
        struct datadog_client *client; /* borrowed */
        struct batch *batches;
        struct datadog_job *answered, *answered_tail; /* waiting for their callback */
        struct datadog_job *jobs;                     /* newest first */
        size_t n_jobs;
        sd_event_source *defer;
        usec_t next_send; /* CLOCK_MONOTONIC: nothing is sent before (pacing, 429 hold) */
        struct datadog_ratelimit rl;
        usec_t rl_at; /* when rl was read; 0: never */
        size_t round;
        uint64_t rng;
        uint64_t requests;
        /* when the last RATE_WINDOW jobs were submitted (CLOCK_MONOTONIC), for the gather time */
        usec_t submitted[RATE_WINDOW];
        size_t n_submitted;
};

/* Uniform in [lo, hi]: the jitter of backoffs, so that requests do not retry in lockstep. */
static usec_t jitter(struct datadog_sched *s, usec_t lo, usec_t hi)
{
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        return hi > lo ? lo + s->rng % (hi - lo + 1) : lo;
}

static void note(struct datadog_sched *s, void *job_userdata, int priority, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note(struct datadog_sched *s, void *job_userdata, int priority, const char *fmt, ...)
{
        va_list ap;
        char *msg;

        if (!s->set.note)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg)
                s->set.note(job_userdata, priority, msg, s->set.userdata);
        free(msg);
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static void job_free(struct datadog_job *j)
{
        struct datadog_sched *s = j->s;

        if (s) {
                if (j->newer)
                        j->newer->older = j->older;
                else
                        s->jobs = j->older;
                if (j->older)
                        j->older->newer = j->newer;
                s->n_jobs--;
        }
        for (size_t i = 0; i < j->n; i++) {
                free(j->queries[i]);
                free(j->answers[i].values);
                free(j->answers[i].timestamps_ms);
                free(j->answers[i].error);
        }
        free(j->queries);
        free(j->combine);
        free(j->answers);
        free(j);
}

static void job_unref(struct datadog_job *j)
{
        assert(j->refs > 0);
        if (--j->refs == 0)
                job_free(j);
}

/* The caller's handle is gone (done started, or cancelled): drops its reference. */
static void job_drop_handle(struct datadog_job *j)
{
        if (!j->handle)
                return;
        j->handle = false;
        job_unref(j);
}

static bool job_live(const struct datadog_job *j)
{
        return !j->cancelled && j->done;
}

static void answered_unlink(struct datadog_sched *s, struct datadog_job *j)
{
        struct datadog_job **p = &s->answered, *prev = NULL;

        while (*p && *p != j) {
                prev = *p;
                p = &(*p)->next;
        }
        if (!*p)
                return;
        *p = j->next;
        if (s->answered_tail == j)
                s->answered_tail = prev;
        j->next = NULL;
        j->queued = false;
}

/* Every part of j is answered: its callback runs from the deferred source. */
static void job_answered(struct datadog_job *j)
{
        struct datadog_sched *s = j->s;

        if (!s || j->queued || !job_live(j))
                return;
        j->queued = true;
        j->next = NULL;
        if (s->answered_tail)
                s->answered_tail->next = j;
        else
                s->answered = j;
        s->answered_tail = j;
        sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

static int on_defer(sd_event_source *es, void *userdata)
{
        struct datadog_sched *s = userdata;

        /* One at a time from the head: a callback may cancel jobs further down the list. */
        while (s->answered) {
                struct datadog_job *j = s->answered;
                datadog_job_done_fn *done = j->done;

                answered_unlink(s, j);
                j->done = NULL; /* the handle is gone from here on */
                j->handle = false;
                done(j->error, j->answers, j->n, j->userdata);
                job_unref(j); /* the handle's reference */
        }
        return 0;
}

/* ---- batches --------------------------------------------------------------------------------- */

static void batch_free(struct batch *b)
{
        if (b->s) {
                struct batch **p = &b->s->batches;
                while (*p && *p != b)
                        p = &(*p)->next;
                if (*p)
                        *p = b->next;
        }
        sd_event_source_disable_unref(b->timer);
        for (size_t i = 0; i < b->n_parts; i++)
                job_unref(b->parts[i].job);
        free(b->parts);
        free(b->queries);
        free(b);
}

static bool batch_live(const struct batch *b)
{
        for (size_t i = 0; i < b->n_parts; i++)
                if (job_live(b->parts[i].job))
                        return true;
        return false;
}

static unsigned batch_live_jobs(const struct batch *b)
{
        unsigned n = 0;

        for (size_t i = 0; i < b->n_parts; i++) {
                bool seen = false;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = b->parts[k].job == b->parts[i].job;
                n += !seen && job_live(b->parts[i].job);
        }
        return n;
}

/* Calls note() once per live job of b. */
#define NOTE_JOBS(b, prio, ...)                                                                    \
        do {                                                                                       \
                for (size_t i_ = 0; i_ < (b)->n_parts; i_++)                                       \
                        if (job_live((b)->parts[i_].job) &&                                        \
                            (i_ == 0 || (b)->parts[i_ - 1].job != (b)->parts[i_].job))             \
                                note((b)->s, (b)->parts[i_].job->userdata, prio, __VA_ARGS__);     \
        } while (0)

static void answer_take(struct datadog_answer *a, const struct datadog_response *resp, size_t q,
                        enum combine combine, int64_t from_s, int64_t to_s)
{
        char *err = NULL;

        if (a->error)
                return;
        free(a->values);
        free(a->timestamps_ms);
        a->values = a->timestamps_ms = NULL;
        a->n = 0;
        if (datadog_select_points(resp, q, combine, (double)from_s * 1000.0, (double)to_s * 1000.0,
                                  &a->values, &a->timestamps_ms, &a->n, &err) < 0)
                a->error = err ? err : xstrdup("cannot select the query's points");
}

/* Every part of b takes this outcome (res->error 0: its points; else the error message), and
 * b is freed. Calls nothing outside the scheduler. */
static void batch_answer(struct batch *b, const struct datadog_result *res, const char *why)
{
        char *msg = NULL;

        if (res->error != 0)
                msg = xasprintf("%s (%u attempt%s%s%s)",
                                res->message ? res->message : strerror(-res->error), b->attempt,
                                b->attempt == 1 ? "" : "s", why ? "; " : "", why ? why : "");
        for (size_t i = 0; i < b->n_parts; i++) {
                struct part *p = &b->parts[i];
                struct datadog_job *j = p->job;

                if (!job_live(j))
                        continue;
                for (size_t q = p->lo; q < p->hi; q++) {
                        if (res->error == 0)
                                answer_take(&j->answers[q], &res->response, p->first + q - p->lo,
                                            j->combine[q], j->from_s, j->to_s);
                        else if (!j->answers[q].error) {
                                j->answers[q].error = xstrdup(msg);
                                j->answers[q].request_failed = true;
                        }
                }
                assert(j->unanswered > 0);
                if (--j->unanswered == 0)
                        job_answered(j);
        }
        free(msg);
        batch_free(b);
}

static int on_batch_timer(sd_event_source *es, uint64_t usec, void *userdata);

/* Arms b's one timer for at (CLOCK_MONOTONIC). Never for a request in flight. */
static int batch_arm(struct batch *b, usec_t at)
{
        int r;

        assert(b->state != BATCH_IN_FLIGHT);
        r = b->timer ? sd_event_source_set_time(b->timer, at)
                     : sd_event_add_time(b->s->event, &b->timer, CLOCK_MONOTONIC, at,
                                         10 * USEC_PER_MSEC, on_batch_timer, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
        return r;
}

/* The gap to keep between requests: 0 while the budget is comfortable; when fewer requests
 * remain than two rounds of every job would need, the rest are spread evenly over the time
 * until the limit resets. */
static usec_t pacing(const struct datadog_sched *s, usec_t now)
{
        if (!s->rl_at || s->rl.remaining < 0 || s->rl.reset < 0)
                return 0;
        usec_t reset_at = s->rl_at + (usec_t)s->rl.reset * USEC_PER_SEC;
        if (reset_at <= now)
                return 0;
        if ((size_t)s->rl.remaining > 2 * s->round)
                return 0;
        return (reset_at - now) / (usec_t)(s->rl.remaining + 1);
}

static void on_batch_reply(const struct datadog_result *res, void *userdata);

static void batch_send(struct batch *b)
{
        struct datadog_sched *s = b->s;
        usec_t now = event_now_monotonic(s->event), gap;
        int r;

        if (!batch_live(b)) {
                batch_free(b);
                return;
        }
        if (!s->client) {
                struct datadog_result res = {.error = -ENODEV,
                                             .message = "datadog: no client configured"};
                batch_answer(b, &res, NULL);
                return;
        }
        /* in flight: its reply alone moves it on */
        if (b->timer)
                sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
        b->state = BATCH_IN_FLIGHT;
        b->attempt++;
        s->requests++;
        gap = pacing(s, now);
        if (now + gap > s->next_send)
                s->next_send = now + gap;
        if (gap > 0)
                note(s, NULL, LOG_DEBUG,
                     "datadog: %ld requests left until the limit resets; next request in %.1fs",
                     s->rl.remaining, (double)gap / USEC_PER_SEC);
        r = datadog_query_batch(s->client, b->queries, b->n_queries, b->min_from, b->max_to,
                                on_batch_reply, b);
        if (r < 0) {
                struct datadog_result res = {.error = r,
                                             .message = "datadog: the request could not be sent"};
                b->state = BATCH_WAITING;
                batch_answer(b, &res, NULL);
        }
}

/* b may go now: it is sent, or waits for the budget. */
static void batch_due(struct batch *b)
{
        struct datadog_sched *s = b->s;

        assert(b->state != BATCH_IN_FLIGHT);
        b->state = BATCH_WAITING;
        if (s->next_send > event_now_monotonic(s->event)) {
                if (batch_arm(b, s->next_send) < 0) {
                        struct datadog_result res = {.error = -ENOMEM,
                                                     .message = "cannot arm a timer"};
                        batch_answer(b, &res, NULL);
                }
                return;
        }
        batch_send(b);
}

static int on_batch_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct batch *b = userdata;

        assert(b->state != BATCH_IN_FLIGHT);
        batch_due(b);
        return 0;
}

static struct batch *batch_new(struct datadog_sched *s, int64_t from_s, int64_t to_s)
{
        struct batch *b = xcalloc(1, sizeof(*b));
        struct batch **p = &s->batches;

        b->s = s;
        b->state = BATCH_GATHERING;
        b->min_from = b->max_from = from_s;
        b->min_to = b->max_to = to_s;
        b->cost = datadog_request_overhead(datadog_client_api(s->client),
                                           datadog_client_base_url(s->client));
        while (*p) /* append: batches go out in the order they were opened */
                p = &(*p)->next;
        *p = b;
        return b;
}

/* What queries [lo, hi) of j add to a request's size (batch_has_room() weighs it). */
static size_t part_cost(enum datadog_api api, const struct datadog_job *j, size_t lo, size_t hi)
{
        size_t cost = 0;

        for (size_t q = lo; q < hi; q++)
                cost += datadog_query_cost(api, j->queries[q]);
        return cost;
}

static void batch_add_part(struct batch *b, struct datadog_job *j, size_t lo, size_t hi)
{
        struct part *last = b->n_parts ? &b->parts[b->n_parts - 1] : NULL;

        if (!last || last->job != j || last->hi != lo) {
                b->parts = xrealloc(b->parts, (b->n_parts + 1) * sizeof(*b->parts));
                b->parts[b->n_parts++] =
                    (struct part){.job = j, .first = b->n_queries, .lo = lo, .hi = lo};
                last = &b->parts[b->n_parts - 1];
                j->refs++;
                j->unanswered++;
        }
        b->queries = xrealloc(b->queries, (b->n_queries + (hi - lo)) * sizeof(*b->queries));
        for (size_t q = lo; q < hi; q++)
                b->queries[b->n_queries++] = j->queries[q];
        b->cost += part_cost(datadog_client_api(b->s->client), j, lo, hi);
        last->hi = hi;
        if (j->from_s < b->min_from)
                b->min_from = j->from_s;
        if (j->from_s > b->max_from)
                b->max_from = j->from_s;
        if (j->to_s < b->min_to)
                b->min_to = j->to_s;
        if (j->to_s > b->max_to)
                b->max_to = j->to_s;
}

static int64_t slack_s(const struct datadog_sched *s)
{
        return s->set.window_slack_s > 0 ? s->set.window_slack_s : 5;
}

static bool window_fits(const struct batch *b, int64_t from_s, int64_t to_s, int64_t slack)
{
        int64_t lo_f = from_s < b->min_from ? from_s : b->min_from;
        int64_t hi_f = from_s > b->max_from ? from_s : b->max_from;
        int64_t lo_t = to_s < b->min_to ? to_s : b->min_to;
        int64_t hi_t = to_s > b->max_to ? to_s : b->max_to;
        return hi_f - lo_f <= slack && hi_t - lo_t <= slack;
}

static bool batch_has_room(const struct batch *b, size_t cost, size_t n)
{
        size_t limit = datadog_request_limit(datadog_client_api(b->s->client));
        return b->n_queries == 0 ||
               (b->cost + cost <= limit && b->n_queries + n <= DATADOG_MAX_QUERIES);
}

/* How long a new request waits for more jobs: long enough for about GATHER_JOBS at the rate
 * jobs arrive lately, between GATHER_MIN_USEC and gather_usec. Busy: short waits and still about
 * GATHER_JOBS analyses per request (10,000 canaries at 60 s: ~60 ms, 0.1 requests per
 * analysis). Quiet: the full wait, since little would share a request anyway. */
static usec_t gather_time(const struct datadog_sched *s, usec_t now)
{
        usec_t max = s->set.gather_usec ? s->set.gather_usec : USEC_PER_SEC, span, g;
        size_t n = s->n_submitted < RATE_WINDOW ? s->n_submitted : RATE_WINDOW;

        if (n < 2)
                return max;
        span = now - s->submitted[(s->n_submitted - n) % RATE_WINDOW];
        if (span == 0)
                return GATHER_MIN_USEC < max ? GATHER_MIN_USEC : max;
        g = span * GATHER_JOBS / (n - 1); /* GATHER_JOBS inter-arrival times */
        if (g < GATHER_MIN_USEC)
                g = GATHER_MIN_USEC;
        return g < max ? g : max;
}

/* Places j's queries, a pair at a time, into gathering batches, opening new ones and sending
 * full ones as needed. */
static void plan(struct datadog_sched *s, struct datadog_job *j)
{
        enum datadog_api api = datadog_client_api(s->client);
        usec_t now = event_now_monotonic(s->event), gather;
        struct batch *b = NULL;

        s->submitted[s->n_submitted++ % RATE_WINDOW] = now;
        gather = gather_time(s, now);

        for (struct batch *x = s->batches; x && !b; x = x->next)
                if (x->state == BATCH_GATHERING && window_fits(x, j->from_s, j->to_s, slack_s(s)))
                        b = x;
        for (size_t lo = 0; lo < j->n; lo += 2) {
                size_t hi = lo + 2 <= j->n ? lo + 2 : j->n;

                if (b && !batch_has_room(b, part_cost(api, j, lo, hi), hi - lo)) {
                        batch_due(b); /* full: no point in waiting for more */
                        b = NULL;
                }
                if (!b) {
                        b = batch_new(s, j->from_s, j->to_s);
                        if (batch_arm(b, now + gather) < 0) {
                                batch_add_part(b, j, lo, hi);
                                batch_due(b);
                                b = NULL;
                                continue;
                        }
                }
                batch_add_part(b, j, lo, hi);
        }
}

/* After a 400 on a request shared by several jobs: one request per job. */
static void batch_split(struct batch *b)
{
        struct datadog_sched *s = b->s;
        struct batch **solo = xcalloc(b->n_parts, sizeof(*solo));
        size_t n_solo = 0;

        for (size_t i = 0; i < b->n_parts; i++) {
                struct part *p = &b->parts[i];
                struct batch *t = NULL;

                if (!job_live(p->job))
                        continue;
                for (size_t k = 0; k < n_solo && !t; k++)
                        if (solo[k]->parts[0].job == p->job)
                                t = solo[k];
                if (!t) {
                        t = solo[n_solo++] = batch_new(s, p->job->from_s, p->job->to_s);
                        t->solo = true;
                        t->state = BATCH_WAITING;
                }
                batch_add_part(t, p->job, p->lo, p->hi);
                p->job->unanswered--; /* its part moved to t */
        }
        batch_free(b); /* drops b's references; the jobs wait for the solo requests */
        for (size_t k = 0; k < n_solo; k++)
                batch_due(solo[k]);
        free(solo);
}

static void on_batch_reply(const struct datadog_result *res, void *userdata)
{
        struct batch *b = userdata;
        struct datadog_sched *s = b->s;
        usec_t now, delay;
        unsigned jobs;

        assert(b->state == BATCH_IN_FLIGHT);
        b->state = BATCH_WAITING;
        if (!s) { /* orphaned: the scheduler is gone */
                batch_free(b);
                return;
        }
        now = event_now_monotonic(s->event);
        if (res->ratelimit.remaining >= 0 || res->ratelimit.reset >= 0) {
                s->rl = res->ratelimit;
                s->rl_at = now;
        }
        if (res->error == -ECANCELED) {
                /* the HTTP client is going away: no verdict can come of this request */
                for (size_t i = 0; i < b->n_parts; i++) {
                        struct datadog_job *j = b->parts[i].job;
                        if (job_live(j)) {
                                j->error = -ECANCELED;
                                job_answered(j);
                        }
                }
                batch_free(b);
                return;
        }
        if (!batch_live(b)) {
                batch_free(b);
                return;
        }
        if (res->error == 0) {
                batch_answer(b, res, NULL);
                return;
        }
        jobs = batch_live_jobs(b);
        if (res->status == 429) {
                usec_t max =
                    s->set.ratelimit_max_usec ? s->set.ratelimit_max_usec : 120 * USEC_PER_SEC;
                usec_t wait = res->retry_after_usec + jitter(s, 0, USEC_PER_SEC);
                b->attempt--; /* waiting for the budget is not a failed attempt */
                if (b->ratelimit_waited + wait > max) {
                        batch_answer(b, res, "gave up waiting for the rate limit to reset");
                        return;
                }
                b->ratelimit_waited += wait;
                if (now + wait > s->next_send)
                        s->next_send = now + wait;
                NOTE_JOBS(b, LOG_WARNING,
                          "%s; holding Datadog requests for %.1fs (limit %ld per %lds)",
                          res->message, (double)wait / USEC_PER_SEC, res->ratelimit.limit,
                          res->ratelimit.period);
                batch_due(b);
                return;
        }
        if (res->error == -EINVAL && jobs > 1 && !b->solo) {
                note(s, NULL, LOG_WARNING,
                     "datadog: a request shared by %u canaries was rejected (%s); retrying "
                     "once per canary",
                     jobs, res->message);
                batch_split(b);
                return;
        }
        unsigned attempts = s->set.attempts ? s->set.attempts : 4;
        bool transient = res->error == -EAGAIN || (res->status == 0 && res->error != -ENODEV);
        if (!transient || b->attempt >= attempts) {
                batch_answer(b, res, NULL);
                return;
        }
        usec_t base = s->set.backoff_usec ? s->set.backoff_usec : USEC_PER_SEC;
        usec_t cap = s->set.backoff_max_usec ? s->set.backoff_max_usec : 20 * USEC_PER_SEC;
        delay = base << (b->attempt - 1);
        if (delay > cap)
                delay = cap;
        delay = jitter(s, delay / 2, delay); /* "equal jitter" */
        for (size_t i = 0; i < b->n_parts; i++) {
                const struct part *p = &b->parts[i];
                size_t metrics = (p->hi - p->lo + 1) / 2; /* a canary and a baseline query each */
                if (job_live(p->job))
                        note(s, p->job->userdata, LOG_WARNING,
                             "datadog query for %zu metric%s (one request, %u canar%s) failed: "
                             "%s; retrying in %.1fs (attempt %u of %u)",
                             metrics, metrics == 1 ? "" : "s", jobs, jobs == 1 ? "y" : "ies",
                             res->message, (double)delay / USEC_PER_SEC, b->attempt + 1, attempts);
        }
        if (batch_arm(b, now + delay) < 0)
                batch_answer(b, res, NULL);
}

/* ---- public ---------------------------------------------------------------------------------- */

int datadog_sched_new(sd_event *event, const struct datadog_sched_settings *set,
                      struct datadog_sched **ret)
{
        struct datadog_sched *s;
        int r;

        if (!event || !ret)
                return -EINVAL;
        s = xcalloc(1, sizeof(*s));
        s->event = sd_event_ref(event);
        if (set)
                s->set = *set;
        s->rng = event_now_monotonic(s->event) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
        if (s->rng == 0)
                s->rng = 1;
        r = sd_event_add_defer(event, &s->defer, on_defer, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->defer, SD_EVENT_OFF);
        if (r < 0) {
                datadog_sched_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

struct datadog_sched *datadog_sched_free(struct datadog_sched *s)
{
        if (!s)
                return NULL;
        /* pending jobs are dropped silently: their owners are going too */
        for (struct datadog_job *j = s->jobs; j; j = j->older) {
                j->cancelled = true;
                j->done = NULL;
                j->queued = false;
                j->next = NULL;
        }
        s->answered = s->answered_tail = NULL;
        while (s->batches) {
                struct batch *b = s->batches;
                s->batches = b->next;
                b->next = NULL;
                b->s = NULL;
                if (b->state != BATCH_IN_FLIGHT)
                        batch_free(b); /* else freed by its reply (or its cancellation) */
        }
        /* what is left is held by orphaned requests in flight, or only by handles */
        while (s->jobs) {
                struct datadog_job *j = s->jobs;
                s->jobs = j->older;
                if (s->jobs)
                        s->jobs->newer = NULL;
                j->s = NULL;
                j->newer = j->older = NULL;
                job_drop_handle(j);
        }
        sd_event_source_disable_unref(s->defer);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void datadog_sched_set_client(struct datadog_sched *s, struct datadog_client *client)
{
        if (s)
                s->client = client;
}

void datadog_sched_set_round(struct datadog_sched *s, size_t jobs_per_round)
{
        if (s)
                s->round = jobs_per_round;
}

int datadog_sched_submit(struct datadog_sched *s, char **queries, const enum combine *combine,
                         size_t n, int64_t from_s, int64_t to_s, datadog_job_done_fn *done,
                         void *userdata, struct datadog_job **ret)
{
        struct datadog_job *j;

        if (!s || !queries || n == 0 || !done) {
                for (size_t i = 0; queries && i < n; i++)
                        free(queries[i]);
                free(queries);
                return -EINVAL;
        }
        j = xcalloc(1, sizeof(*j));
        j->s = s;
        j->queries = queries;
        j->n = n;
        j->combine = xcalloc(n, sizeof(*j->combine));
        if (combine)
                memcpy(j->combine, combine, n * sizeof(*combine));
        j->answers = xcalloc(n, sizeof(*j->answers));
        for (size_t i = 0; i < n; i++)
                j->answers[i].query = queries[i];
        j->from_s = from_s;
        j->to_s = to_s > from_s ? to_s : from_s + 1;
        j->done = done;
        j->userdata = userdata;
        j->refs = 1; /* the handle's, until done starts or the job is cancelled */
        j->handle = true;
        j->older = s->jobs;
        if (s->jobs)
                s->jobs->newer = j;
        s->jobs = j;
        s->n_jobs++;
        if (ret)
                *ret = j;
        j->unanswered = 1; /* held while planning: a synchronous failure cannot finish early */
        if (s->client) {
                plan(s, j);
        } else {
                for (size_t i = 0; i < n; i++)
                        j->answers[i].error = xstrdup("datadog: no client configured");
        }
        if (--j->unanswered == 0)
                job_answered(j);
        return 0;
}

void datadog_job_cancel(struct datadog_job *j)
{
        struct datadog_sched *s;

        if (!j || j->cancelled)
                return;
        s = j->s;
        assert(j->handle); /* not from its own callback: the handle is gone by then */
        j->cancelled = true;
        j->done = NULL;
        if (s) {
                if (j->queued)
                        answered_unlink(s, j);
                /* requests nobody waits for any more go now, unless in flight: those are
                 * dropped when their reply arrives */
                for (struct batch *b = s->batches, *next; b; b = next) {
                        next = b->next;
                        if (b->state != BATCH_IN_FLIGHT && !batch_live(b))
                                batch_free(b);
                }
        }
        job_drop_handle(j);
}

usec_t datadog_sched_idle_at(const struct datadog_sched *s)
{
        usec_t now = event_now_monotonic(s->event);

        if (s->next_send > now)
                return s->next_send;
        for (const struct batch *b = s->batches; b; b = b->next)
                if (b->state == BATCH_WAITING)
                        return now + USEC_PER_SEC; /* sent or answered within about a second */
        if (pacing(s, now) > 0)
                return now + 10 * USEC_PER_SEC;
        return 0;
}

void datadog_sched_note_answer(struct datadog_sched *s, const struct datadog_result *res)
{
        usec_t now;

        if (!s || !res || !s->rl_at || !*s->rl.name || strcmp(s->rl.name, res->ratelimit.name))
                return; /* another limit, or none known: not the queries' budget */
        now = event_now_monotonic(s->event);
        s->rl = res->ratelimit;
        s->rl_at = now;
        if (res->status == 429 && now + res->retry_after_usec > s->next_send) {
                s->next_send = now + res->retry_after_usec;
                note(s, NULL, LOG_WARNING, "%s; holding Datadog queries for %.1fs (shared limit)",
                     res->message ? res->message : "datadog: rate limited",
                     (double)res->retry_after_usec / USEC_PER_SEC);
        }
}

long datadog_sched_ratelimit_remaining(const struct datadog_sched *s)
{
        return s->rl_at ? s->rl.remaining : -1;
}

uint64_t datadog_sched_requests(const struct datadog_sched *s)
{
        return s ? s->requests : 0;
}

size_t datadog_sched_jobs(const struct datadog_sched *s)
{
        return s ? s->n_jobs : 0;
}
