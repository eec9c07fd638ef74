/* The Datadog events sender (datadog-events.h): a FIFO of event bodies sent one at a time with
 * POST /api/v1/events through the Datadog client. Before each send it asks the query scheduler
 * whether queries are idle (datadog_sched_idle_at): queries come first, so a decision is never
 * delayed by an event, and a 429 on queries holds events too. Each answer goes back to the
 * scheduler (datadog_sched_note_answer), which takes it as its own only when it names the
 * queries' limit. A 2xx delivers the head; 400, 401, 403 and other statuses drop it (sending
 * it again cannot help); 429, 5xx and transport errors are retried after an exponential
 * backoff, at least until the limit resets. A 2xx whose body cannot be read still counts as
 * delivered: Datadog does not deduplicate, and a retry would post the event twice. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/clock.h"
#include "canaryd/datadog-event-json.h"
#include "canaryd/datadog-events.h"
#include "canaryd/datadog-sched.h"
#include "canaryd/datadog.h"

#define DEFAULT_BACKOFF_MIN  (1 * USEC_PER_SEC)
#define DEFAULT_BACKOFF_MAX  (300 * USEC_PER_SEC)
#define DEFAULT_MAX_ATTEMPTS 8
#define NO_CLIENT_RETRY      (5 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC  (10 * USEC_PER_MSEC)

struct dd_event {
        char *body;  /* owned */
        char *label; /* owned */
        unsigned attempts;
        bool important; /* dropped from a full queue only when nothing routine is left */
};

/* The request in flight: outlives the sender when it is freed first (orphaned, e = NULL). */
struct dd_call {
        struct datadog_events *e;
};

struct datadog_events {
        sd_event *event;
        struct datadog_sched *sched;   /* borrowed */
        struct datadog_client *client; /* borrowed */
        struct datadog_events_settings s;
        datadog_events_done_fn *done;
        void *userdata;
        struct dd_event queue[DATADOG_EVENTS_QUEUE_MAX]; /* ring; the head is in flight */
        size_t head, n;
        struct dd_call *inflight;
        usec_t retry_at; /* CLOCK_MONOTONIC: the head waits for its backoff until then */
        sd_event_source *timer;
};

static void event_clear(struct dd_event *ev)
{
        free(ev->body);
        free(ev->label);
        *ev = (struct dd_event){0};
}

static void report(struct datadog_events *e, const struct dd_event *ev,
                   enum datadog_events_outcome outcome, long status, int64_t id,
                   const char *message)
{
        struct datadog_events_report r = {
            .label = ev->label,
            .outcome = outcome,
            .attempts = ev->attempts,
            .http_status = status,
            .event_id = id,
            .message = message,
        };
        e->done(&r, e->userdata);
}

static void pop_head(struct datadog_events *e)
{
        event_clear(&e->queue[e->head]);
        e->head = (e->head + 1) % DATADOG_EVENTS_QUEUE_MAX;
        e->n--;
        e->retry_at = 0;
}

static void arm(struct datadog_events *e, usec_t at)
{
        if (sd_event_source_set_time(e->timer, at) >= 0)
                sd_event_source_set_enabled(e->timer, SD_EVENT_ONESHOT);
}

static void on_reply(const struct datadog_result *res, void *userdata);
static void settle(struct datadog_events *e, const struct datadog_result *res);

/* Sends the head when its backoff is over, nothing is in flight and queries are idle; else
 * arms the timer for the next look. */
static void kick(struct datadog_events *e)
{
        usec_t now = event_now_monotonic(e->event), at;
        struct dd_event *ev;
        struct dd_call *call;
        int r;

        if (e->inflight || e->n == 0)
                return;
        if (e->retry_at > now) {
                arm(e, e->retry_at);
                return;
        }
        if (!e->client) {
                arm(e, now + NO_CLIENT_RETRY);
                return;
        }
        at = e->sched ? datadog_sched_idle_at(e->sched) : 0;
        if (at > now) {
                arm(e, at);
                return;
        }
        ev = &e->queue[e->head];
        call = xcalloc(1, sizeof(*call));
        call->e = e;
        ev->attempts++;
        r = datadog_post_event(e->client, ev->body, on_reply, call);
        if (r < 0) {
                /* refused at once: as a transport error, retried after a backoff */
                struct datadog_result res = {.error = r,
                                             .message = "datadog: the event could not be sent"};
                free(call);
                settle(e, &res);
                return;
        }
        e->inflight = call;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        kick(userdata);
        return 0;
}

static usec_t backoff(const struct datadog_events *e, unsigned attempt, usec_t least)
{
        usec_t lo = e->s.backoff_min_usec ? e->s.backoff_min_usec : DEFAULT_BACKOFF_MIN;
        usec_t hi = e->s.backoff_max_usec ? e->s.backoff_max_usec : DEFAULT_BACKOFF_MAX;
        usec_t d = lo;

        for (unsigned i = 1; i < attempt && d < hi; i++)
                d *= 2;
        if (d > hi)
                d = hi;
        return d > least ? d : least;
}

static void on_reply(const struct datadog_result *res, void *userdata)
{
        struct dd_call *call = userdata;
        struct datadog_events *e = call->e;

        free(call);
        if (!e) /* orphaned: the sender is gone */
                return;
        e->inflight = NULL;
        if (res->error == -ECANCELED)
                return; /* the HTTP client is going away; the sender goes with it */
        settle(e, res);
}

/* The head's attempt ended with res: delivered, refused, or retried later. */
static void settle(struct datadog_events *e, const struct datadog_result *res)
{
        struct datadog_event_result er = {0};
        struct dd_event *ev;
        unsigned max;

        if (e->sched && res->status != 0)
                datadog_sched_note_answer(e->sched, res);
        ev = &e->queue[e->head];
        max = e->s.max_attempts ? e->s.max_attempts : DEFAULT_MAX_ATTEMPTS;
        if (res->status != 0)
                datadog_event_result_parse(res->status, res->body, res->body_len, &er);
        else
                er.status = DATADOG_EVENT_RETRY; /* transport error */
        if (er.status == DATADOG_EVENT_ACCEPTED) {
                report(e, ev, DATADOG_EVENTS_SENT, res->status, er.id, NULL);
                pop_head(e);
        } else if (er.status != DATADOG_EVENT_RETRY || ev->attempts >= max) {
                char *msg = xasprintf("%s%s", res->message ? res->message : "datadog: failed",
                                      er.status == DATADOG_EVENT_RETRY ? "; giving up" : "");
                report(e, ev, DATADOG_EVENTS_FAILED, res->status, 0, msg);
                free(msg);
                pop_head(e);
        } else {
                usec_t least = res->status == 429 ? res->retry_after_usec : 0;
                e->retry_at = event_now_monotonic(e->event) + backoff(e, ev->attempts, least);
        }
        datadog_event_result_done(&er);
        kick(e);
}

int datadog_events_new(sd_event *event, struct datadog_sched *sched,
                       const struct datadog_events_settings *s, datadog_events_done_fn *done,
                       void *userdata, struct datadog_events **ret)
{
        struct datadog_events *e;
        int r;

        if (!event || !done || !ret)
                return -EINVAL;
        e = xcalloc(1, sizeof(*e));
        e->event = sd_event_ref(event);
        e->sched = sched;
        if (s)
                e->s = *s;
        if (!e->s.queue_max || e->s.queue_max > DATADOG_EVENTS_QUEUE_MAX)
                e->s.queue_max = DATADOG_EVENTS_QUEUE_MAX;
        if (e->s.queue_max < 2)
                e->s.queue_max = 2; /* one in flight, one waiting */
        e->done = done;
        e->userdata = userdata;
        r = sd_event_add_time(event, &e->timer, CLOCK_MONOTONIC, 0, TIMER_ACCURACY_USEC, on_timer,
                              e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->timer, SD_EVENT_OFF);
        if (r < 0) {
                datadog_events_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

struct datadog_events *datadog_events_free(struct datadog_events *e)
{
        if (!e)
                return NULL;
        if (e->inflight)
                e->inflight->e = NULL; /* its reply (or cancellation) frees it */
        while (e->n > 0)
                pop_head(e);
        sd_event_source_disable_unref(e->timer);
        sd_event_unref(e->event);
        free(e);
        return NULL;
}

void datadog_events_set_client(struct datadog_events *e, struct datadog_client *client)
{
        if (!e)
                return;
        e->client = client;
        if (client)
                kick(e);
}

int datadog_events_post(struct datadog_events *e, char *body, const char *label, bool important)
{
        struct dd_event *ev;

        if (!e || !body) {
                free(body);
                return -EINVAL;
        }
        if (e->n >= e->s.queue_max) {
                /* the oldest routine event that is not in flight; else the oldest one */
                size_t first = e->inflight ? 1 : 0, victim = first;
                struct dd_event gone;

                for (size_t i = first; i < e->n; i++)
                        if (!e->queue[(e->head + i) % DATADOG_EVENTS_QUEUE_MAX].important) {
                                victim = i;
                                break;
                        }
                gone = e->queue[(e->head + victim) % DATADOG_EVENTS_QUEUE_MAX];
                for (size_t i = victim; i + 1 < e->n; i++)
                        e->queue[(e->head + i) % DATADOG_EVENTS_QUEUE_MAX] =
                            e->queue[(e->head + i + 1) % DATADOG_EVENTS_QUEUE_MAX];
                e->queue[(e->head + e->n - 1) % DATADOG_EVENTS_QUEUE_MAX] = (struct dd_event){0};
                e->n--;
                if (victim == 0)
                        e->retry_at = 0; /* the head waiting for its retry went */
                report(e, &gone, DATADOG_EVENTS_DROPPED, 0, 0, "the event queue is full");
                event_clear(&gone);
        }
        ev = &e->queue[(e->head + e->n) % DATADOG_EVENTS_QUEUE_MAX];
        ev->body = body;
        ev->label = xstrdup(label ? label : "event");
        ev->attempts = 0;
        ev->important = important;
        e->n++;
        kick(e);
        return 0;
}

size_t datadog_events_queued(const struct datadog_events *e)
{
        return e ? e->n : 0;
}
