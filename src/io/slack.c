/* Slack delivery queue on sd-event (WIRE.md §4.1, §4.2, SPEC §6). The daemon enqueues rendered
 * payloads and returns at once; one timer sends them one at a time, in order, at most one per
 * pace interval (Slack allows about one message per second per channel), honours Retry-After
 * on 429, retries 5xx and transport errors with exponential backoff, and drops permanent
 * failures, reporting each drop to a callback. Idempotency keys of queued and recently
 * delivered messages are remembered so that a repeated event is not posted twice.
 * The webhook URL and the bot token are secrets: they never appear in a reason string. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/http.h"
#include "canaryd/slack.h"

#define RECENT_KEYS         1024
#define BACKOFF_MAX_USEC    (60 * USEC_PER_SEC)
#define RETRY_AFTER_MAX_SEC 600
#define TIMER_ACCURACY_USEC (1 * USEC_PER_MSEC)

struct slack_msg {
        struct slack_msg *next;
        char *payload;
        char *key;         /* NULL: no idempotency */
        unsigned attempts; /* sends that ended in a retryable failure or are in flight */
};

/* Lives as long as the HTTP request, which may outlive the client. */
struct slack_inflight {
        struct slack_client *client; /* NULL once the client is freed */
        struct slack_msg *msg;
};

struct slack_client {
        sd_event *event;
        struct http_client *http;
        bool token_mode;
        char *url;         /* webhook URL (secret) or {api}/chat.postMessage */
        char *auth_header; /* token mode: "Authorization: Bearer ..." (secret) */
        char *token;       /* for scrubbing reasons */
        char *channel;
        long timeout_ms;
        usec_t pace_usec, backoff_base_usec;

        struct slack_msg *head, *tail;
        size_t n_queued; /* not counting the one in flight */
        struct slack_inflight *inflight;
        sd_event_source *timer;
        usec_t next_send; /* CLOCK_MONOTONIC */

        char *recent[RECENT_KEYS]; /* delivered keys, a ring */
        size_t recent_next;

        slack_failed_fn *failed;
        void *failed_ud;
        size_t delivered, dropped;
        char *last_ts;
};

enum outcome { OUTCOME_OK, OUTCOME_RATELIMITED, OUTCOME_RETRY, OUTCOME_PERMANENT };

static bool header_value_ok(const char *v)
{
        return !strpbrk(v, "\r\n");
}

static void free_secret(char *p)
{
        if (p) {
                explicit_bzero(p, strlen(p));
                free(p);
        }
}

static void msg_free(struct slack_msg *m)
{
        if (!m)
                return;
        free(m->payload);
        free(m->key);
        free(m);
}

int slack_client_new(sd_event *event, struct http_client *http, const struct slack_settings *s,
                     struct slack_client **ret)
{
        struct slack_client *c;
        bool token = s && s->token && *s->token;

        if (!event || !http || !s || !ret)
                return -EINVAL;
        if (!token && !(s->webhook_url && *s->webhook_url))
                return -EINVAL;
        if (token && (!s->channel || !*s->channel || !header_value_ok(s->token)))
                return -EINVAL;

        c = xcalloc(1, sizeof(*c));
        c->event = sd_event_ref(event);
        c->http = http;
        c->token_mode = token;
        if (token) {
                const char *base =
                    s->api_base_url && *s->api_base_url ? s->api_base_url : "https://slack.com/api";
                size_t n = strlen(base);

                while (n > 0 && base[n - 1] == '/')
                        n--;
                c->url = xasprintf("%.*s/chat.postMessage", (int)n, base);
                c->auth_header = xasprintf("Authorization: Bearer %s", s->token);
                c->token = xstrdup(s->token);
        } else {
                c->url = xstrdup(s->webhook_url);
        }
        c->channel = xstrdup(s->channel);
        c->timeout_ms = s->timeout_ms;
        c->pace_usec = s->pace_usec ? s->pace_usec : USEC_PER_SEC;
        c->backoff_base_usec = s->backoff_base_usec ? s->backoff_base_usec : USEC_PER_SEC;
        *ret = c;
        return 0;
}

struct slack_client *slack_client_free(struct slack_client *c)
{
        if (!c)
                return NULL;
        if (c->inflight) {
                /* The HTTP client still owns the request; its callback frees the rest. */
                c->inflight->client = NULL;
                c->inflight = NULL;
        }
        while (c->head) {
                struct slack_msg *m = c->head;
                c->head = m->next;
                msg_free(m);
        }
        for (size_t i = 0; i < RECENT_KEYS; i++)
                free(c->recent[i]);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free_secret(c->url);
        free_secret(c->auth_header);
        free_secret(c->token);
        free(c->channel);
        free(c->last_ts);
        free(c);
        return NULL;
}

void slack_set_failed_callback(struct slack_client *c, slack_failed_fn *fn, void *ud)
{
        c->failed = fn;
        c->failed_ud = ud;
}

size_t slack_queue_length(const struct slack_client *c)
{
        return c->n_queued + (c->inflight ? 1 : 0);
}

size_t slack_delivered_count(const struct slack_client *c)
{
        return c->delivered;
}

size_t slack_dropped_count(const struct slack_client *c)
{
        return c->dropped;
}

const char *slack_last_ts(const struct slack_client *c)
{
        return c->last_ts;
}

static bool key_known(const struct slack_client *c, const char *key)
{
        if (c->inflight && streq_ptr(c->inflight->msg->key, key))
                return true;
        for (const struct slack_msg *m = c->head; m; m = m->next)
                if (streq_ptr(m->key, key))
                        return true;
        for (size_t i = 0; i < RECENT_KEYS; i++)
                if (c->recent[i] && strcmp(c->recent[i], key) == 0)
                        return true;
        return false;
}

static void key_remember(struct slack_client *c, const char *key)
{
        if (!key)
                return;
        free(c->recent[c->recent_next]);
        c->recent[c->recent_next] = xstrdup(key);
        c->recent_next = (c->recent_next + 1) % RECENT_KEYS;
}

static usec_t now_usec(struct slack_client *c)
{
        uint64_t t = 0;

        if (sd_event_now(c->event, CLOCK_MONOTONIC, &t) < 0)
                return 0;
        return t;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata);

/* Arms the timer for the head of the queue, unless a send is in flight. */
static void schedule(struct slack_client *c)
{
        usec_t now, at;

        if (c->inflight || !c->head) {
                if (c->timer)
                        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        now = now_usec(c);
        at = c->next_send > now ? c->next_send : now;
        if (!c->timer) {
                if (sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, at, TIMER_ACCURACY_USEC,
                                      on_timer, c) < 0)
                        c->timer = NULL; /* loop finished: nothing more will be sent */
                return;
        }
        sd_event_source_set_time(c->timer, at);
        sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

int slack_enqueue(struct slack_client *c, char *payload, const char *key)
{
        struct slack_msg *m;

        if (!c || !payload) {
                free(payload);
                return -EINVAL;
        }
        if (key && key_known(c, key)) {
                free(payload);
                return -EEXIST;
        }
        if (c->n_queued >= SLACK_QUEUE_MAX) {
                free(payload);
                return -ENOBUFS;
        }
        if (c->token_mode) {
                char *p = slack_payload_set_channel(payload, c->channel);

                free(payload);
                if (!p)
                        return -EINVAL;
                payload = p;
        }
        m = xcalloc(1, sizeof(*m));
        m->payload = payload;
        m->key = xstrdup(key);
        if (c->tail)
                c->tail->next = m;
        else
                c->head = m;
        c->tail = m;
        c->n_queued++;
        schedule(c);
        return 0;
}

static void push_front(struct slack_client *c, struct slack_msg *m)
{
        m->next = c->head;
        c->head = m;
        if (!c->tail)
                c->tail = m;
        c->n_queued++;
}

static struct slack_msg *pop_front(struct slack_client *c)
{
        struct slack_msg *m = c->head;

        c->head = m->next;
        if (!c->head)
                c->tail = NULL;
        m->next = NULL;
        c->n_queued--;
        return m;
}

/* A short, single-line, secret-free description of a response body. */
static void describe_body(char *dst, size_t size, const struct http_response *r)
{
        size_t i = 0;

        if (!r || r->body_len == 0) {
                snprintf(dst, size, "(empty body)");
                return;
        }
        if (r->body[0] == '<') {
                snprintf(dst, size, "(HTML page)");
                return;
        }
        for (const char *p = r->body; i + 1 < size && i < 100 && p < r->body + r->body_len; p++)
                dst[i++] = (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? ' ' : *p;
        dst[i] = 0;
}

/* Retry-After in seconds (0 allowed: pacing still applies), 1 when absent or not a number,
 * capped. */
static usec_t retry_after(const struct http_response *r)
{
        const char *v = r ? http_response_header(r, "Retry-After") : NULL;
        char *end;
        long x;

        if (!v || *v < '0' || *v > '9')
                return USEC_PER_SEC;
        x = strtol(v, &end, 10);
        if (*end != 0)
                x = 1;
        if (x > RETRY_AFTER_MAX_SEC)
                x = RETRY_AFTER_MAX_SEC;
        return (usec_t)x * USEC_PER_SEC;
}

static bool transient_api_error(const char *e)
{
        static const char *const transient[] = {"internal_error", "fatal_error",
                                                "service_unavailable", "request_timeout"};

        for (size_t i = 0; i < ELEMENTSOF(transient); i++)
                if (strcmp(e, transient[i]) == 0)
                        return true;
        return false;
}

/* Decides what a send's result means. Fills reason (for failures), *ret_wait (rate limits) and
 * *ret_ts (token mode success, owned). */
static enum outcome classify(const struct slack_client *c, int error, const struct http_response *r,
                             const char *errmsg, char *reason, size_t size, usec_t *ret_wait,
                             char **ret_ts)
{
        char body[128];

        if (error != 0) {
                const char *m = errmsg ? errmsg : strerror(error < 0 ? -error : EIO);

                /* curl's messages name hosts, not paths, but never risk the webhook path. */
                if (strstr(m, c->url) || (c->token && strstr(m, c->token)) ||
                    strstr(m, "/services/"))
                        m = strerror(error < 0 ? -error : EIO);
                snprintf(reason, size, "transport error: %s", m);
                return OUTCOME_RETRY;
        }
        if (r->status == 429) {
                *ret_wait = retry_after(r);
                snprintf(reason, size, "HTTP 429: rate limited");
                return OUTCOME_RATELIMITED;
        }
        if (r->status >= 500 || r->status == 408) {
                describe_body(body, sizeof(body), r);
                snprintf(reason, size, "HTTP %ld: %s", r->status, body);
                return OUTCOME_RETRY;
        }
        if (r->status != 200) {
                describe_body(body, sizeof(body), r);
                snprintf(reason, size, "HTTP %ld: %s", r->status, body);
                return OUTCOME_PERMANENT;
        }
        if (c->token_mode) {
                char *err = NULL;
                enum outcome o;
                int k;

                k = slack_parse_post_response(r->body, r->body_len, ret_ts, &err);
                if (k == 0)
                        return OUTCOME_OK;
                if (k == -EBADMSG) {
                        describe_body(body, sizeof(body), r);
                        snprintf(reason, size, "HTTP 200 but not a Slack API answer: %s", body);
                        return OUTCOME_RETRY;
                }
                snprintf(reason, size, "chat.postMessage: %s", err);
                if (strcmp(err, "ratelimited") == 0) {
                        *ret_wait = retry_after(r);
                        o = OUTCOME_RATELIMITED;
                } else
                        o = transient_api_error(err) ? OUTCOME_RETRY : OUTCOME_PERMANENT;
                free(err);
                return o;
        }
        return OUTCOME_OK; /* webhook: 200 is the only success, its body is "ok" */
}

static void drop(struct slack_client *c, struct slack_msg *m, const char *reason)
{
        char *full =
            xasprintf("%s (after %u attempt%s)", reason, m->attempts, m->attempts == 1 ? "" : "s");

        c->dropped++;
        if (c->failed)
                c->failed(m->key, full, c->failed_ud);
        free(full);
        msg_free(m);
}

static void finish(struct slack_client *c, struct slack_msg *m, int error,
                   const struct http_response *r, const char *errmsg)
{
        char reason[256] = "";
        usec_t wait = 0, now = now_usec(c), backoff;
        char *ts = NULL;

        switch (classify(c, error, r, errmsg, reason, sizeof(reason), &wait, &ts)) {
        case OUTCOME_OK:
                c->delivered++;
                key_remember(c, m->key);
                if (ts) {
                        free(c->last_ts);
                        c->last_ts = ts;
                }
                msg_free(m);
                break;
        case OUTCOME_RATELIMITED:
                m->attempts--; /* waiting our turn is not a failure */
                push_front(c, m);
                if (now + wait > c->next_send)
                        c->next_send = now + wait;
                break;
        case OUTCOME_RETRY:
                if (m->attempts >= SLACK_MAX_ATTEMPTS) {
                        drop(c, m, reason);
                        break;
                }
                backoff = c->backoff_base_usec << (m->attempts - 1 < 16 ? m->attempts - 1 : 16);
                if (backoff > BACKOFF_MAX_USEC)
                        backoff = BACKOFF_MAX_USEC;
                push_front(c, m);
                if (now + backoff > c->next_send)
                        c->next_send = now + backoff;
                break;
        case OUTCOME_PERMANENT:
                drop(c, m, reason);
                break;
        }
}

static void on_http_done(int error, const struct http_response *resp, const char *errmsg,
                         void *userdata)
{
        struct slack_inflight *f = userdata;
        struct slack_client *c = f->client;

        if (!c) {
                msg_free(f->msg);
                free(f);
                return;
        }
        c->inflight = NULL;
        finish(c, f->msg, error, resp, errmsg);
        free(f);
        schedule(c);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct slack_client *c = userdata;
        const char *headers[4];
        struct http_request_opts opts = {0};
        struct slack_inflight *f;
        size_t n = 0;
        int r;

        if (c->inflight || !c->head)
                return 0;

        f = xcalloc(1, sizeof(*f));
        f->client = c;
        f->msg = pop_front(c);
        f->msg->attempts++;
        c->inflight = f;
        c->next_send = now_usec(c) + c->pace_usec;

        if (c->token_mode) {
                headers[n++] = c->auth_header;
                headers[n++] = "Content-Type: application/json; charset=utf-8";
        } else {
                headers[n++] = "Content-Type: application/json";
        }
        headers[n++] = "User-Agent: canaryd/" CANARYD_VERSION;
        headers[n] = NULL;
        opts.method = "POST";
        opts.url = c->url;
        opts.headers = headers;
        opts.body = f->msg->payload;
        opts.body_len = strlen(f->msg->payload);
        opts.timeout_ms = c->timeout_ms;

        r = http_submit(c->http, &opts, on_http_done, f);
        if (r < 0) {
                char msg[64];

                snprintf(msg, sizeof(msg), "could not start the request: %s", strerror(-r));
                c->inflight = NULL;
                finish(c, f->msg, r, NULL, msg);
                free(f);
                schedule(c);
        }
        return 0;
}
