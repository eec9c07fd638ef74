/* The PagerDuty Events API v2 client (pagerduty.h): a FIFO of event bodies sent one at a time to
 * {base_url}/v2/enqueue through the asynchronous HTTP client. A 202 with a dedup_key delivers
 * the head; a 400 or another 4xx drops it (sending it again cannot help); 429, 5xx, an
 * unreadable 2xx and transport errors are retried after an exponential backoff on a timer, so a
 * slow or rate-limiting PagerDuty delays only later pages, never the caller. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/http.h"
#include "canaryd/pagerduty.h"

#define DEFAULT_TIMEOUT_MS   10000
#define DEFAULT_BACKOFF_MIN  (1 * USEC_PER_SEC)
#define DEFAULT_BACKOFF_MAX  (300 * USEC_PER_SEC)
#define DEFAULT_MAX_ATTEMPTS 10
#define RETRY_AFTER_MAX_SEC  3600
#define TIMER_ACCURACY_USEC  (10 * USEC_PER_MSEC)

struct pd_event {
        unsigned long id;
        char *body;
        unsigned attempts;
};

struct pagerduty_client {
        sd_event *event;
        struct http_client *http;
        struct pagerduty_settings s;
        char *url;
        pagerduty_sent_fn *sent;
        void *userdata;
        struct pd_event queue[PAGERDUTY_QUEUE_MAX]; /* ring */
        size_t head, n;
        unsigned long next_id;
        struct http_request *inflight;
        sd_event_source *timer;
};

usec_t pagerduty_backoff_usec(const struct pagerduty_settings *s, unsigned attempt,
                              usec_t retry_after_usec)
{
        usec_t lo = s->backoff_min_usec ? s->backoff_min_usec : DEFAULT_BACKOFF_MIN;
        usec_t hi = s->backoff_max_usec ? s->backoff_max_usec : DEFAULT_BACKOFF_MAX;
        usec_t d = lo;

        for (unsigned i = 1; i < attempt && d < hi; i++)
                d *= 2;
        if (d > hi)
                d = hi;
        return d > retry_after_usec ? d : retry_after_usec;
}

int pagerduty_client_new(sd_event *event, struct http_client *http,
                         const struct pagerduty_settings *s, pagerduty_sent_fn *sent,
                         void *userdata, struct pagerduty_client **ret)
{
        struct pagerduty_client *p;
        size_t l;

        if (!event || !http || !s || !s->base_url || !*s->base_url || !sent || !ret)
                return -EINVAL;
        p = xcalloc(1, sizeof(*p));
        p->event = sd_event_ref(event);
        p->http = http;
        p->s = *s;
        p->s.base_url = NULL;
        if (!p->s.timeout_ms)
                p->s.timeout_ms = DEFAULT_TIMEOUT_MS;
        if (!p->s.max_attempts)
                p->s.max_attempts = DEFAULT_MAX_ATTEMPTS;
        l = strlen(s->base_url);
        while (l > 0 && s->base_url[l - 1] == '/')
                l--;
        p->url = xasprintf("%.*s/v2/enqueue", (int)l, s->base_url);
        p->sent = sent;
        p->userdata = userdata;
        p->next_id = 1;
        *ret = p;
        return 0;
}

struct pagerduty_client *pagerduty_client_free(struct pagerduty_client *p)
{
        if (!p)
                return NULL;
        if (p->inflight)
                http_cancel(p->http, p->inflight);
        p->timer = sd_event_source_disable_unref(p->timer);
        for (size_t i = 0; i < p->n; i++)
                free(p->queue[(p->head + i) % PAGERDUTY_QUEUE_MAX].body);
        sd_event_unref(p->event);
        free(p->url);
        free(p);
        return NULL;
}

size_t pagerduty_client_queued(const struct pagerduty_client *p)
{
        return p ? p->n : 0;
}

static void send_head(struct pagerduty_client *p);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct pagerduty_client *p = userdata;

        (void)s;
        (void)usec;
        p->timer = sd_event_source_disable_unref(p->timer);
        send_head(p);
        return 0;
}

static void retry_later(struct pagerduty_client *p, usec_t delay)
{
        uint64_t now;

        p->timer = sd_event_source_disable_unref(p->timer);
        if (sd_event_now(p->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_add_time(p->event, &p->timer, CLOCK_MONOTONIC, now + delay,
                              TIMER_ACCURACY_USEC, on_timer, p) < 0) {
                /* no timer (OOM): send at once rather than never */
                send_head(p);
        }
}

/* Reports the head's outcome and drops it; then goes on with the next. */
static void finish_head(struct pagerduty_client *p, enum pagerduty_status status, int error,
                        long http_status, const struct pagerduty_result *result)
{
        struct pd_event *e = &p->queue[p->head];
        struct pagerduty_outcome o = {.id = e->id,
                                      .status = status,
                                      .error = error,
                                      .http_status = http_status,
                                      .attempts = e->attempts,
                                      .result = result};

        free(e->body);
        *e = (struct pd_event){0};
        p->head = (p->head + 1) % PAGERDUTY_QUEUE_MAX;
        p->n--;
        p->sent(&o, p->userdata);
        send_head(p);
}

static usec_t retry_after(const struct http_response *resp)
{
        return http_retry_after(resp, 0, RETRY_AFTER_MAX_SEC * USEC_PER_SEC);
}

static void on_done(int error, const struct http_response *resp, const char *errmsg, void *userdata)
{
        struct pagerduty_client *p = userdata;
        struct pd_event *e = &p->queue[p->head];
        struct pagerduty_result r = {0};
        long status = error ? 0 : resp->status;

        (void)errmsg;
        p->inflight = NULL;
        if (error == -ECANCELED)
                return; /* the client is going away */
        if (error)
                r.status = PAGERDUTY_RETRY;
        else
                pagerduty_result_parse(resp->status, resp->body, resp->body_len, &r);

        if (r.status == PAGERDUTY_RETRY && e->attempts < p->s.max_attempts) {
                retry_later(
                    p, pagerduty_backoff_usec(&p->s, e->attempts, error ? 0 : retry_after(resp)));
        } else {
                finish_head(p, r.status, error, status, &r);
        }
        pagerduty_result_done(&r);
}

static void send_head(struct pagerduty_client *p)
{
        static const char *const headers[] = {"Content-Type: application/json",
                                              "Accept: application/json",
                                              "User-Agent: canaryd/" CANARYD_VERSION, NULL};
        struct pd_event *e;
        int r;

        while (p->n > 0 && !p->inflight && !p->timer) {
                e = &p->queue[p->head];
                struct http_request_opts o = {.method = "POST",
                                              .url = p->url,
                                              .headers = headers,
                                              .body = e->body,
                                              .body_len = strlen(e->body),
                                              .timeout_ms = p->s.timeout_ms,
                                              .max_body = 64 * 1024};
                e->attempts++;
                r = http_submit_handle(p->http, &o, on_done, p, &p->inflight);
                if (r == 0)
                        return;
                p->inflight = NULL;
                if (e->attempts < p->s.max_attempts) {
                        retry_later(p, pagerduty_backoff_usec(&p->s, e->attempts, 0));
                        return;
                }
                finish_head(p, PAGERDUTY_RETRY, r, 0, NULL);
                return;
        }
}

int pagerduty_enqueue(struct pagerduty_client *p, char *body, unsigned long *ret_id)
{
        struct pd_event *e;

        if (!p || !body) {
                free(body);
                return -EINVAL;
        }
        if (p->n == PAGERDUTY_QUEUE_MAX) {
                free(body);
                return -ENOBUFS;
        }
        e = &p->queue[(p->head + p->n) % PAGERDUTY_QUEUE_MAX];
        *e = (struct pd_event){.id = p->next_id++, .body = body};
        p->n++;
        if (ret_id)
                *ret_id = e->id;
        send_head(p);
        return 0;
}
