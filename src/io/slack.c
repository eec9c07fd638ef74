/* Slack delivery on sd-event (WIRE.md §4.1, §4.2, SPEC §6, docs/slack.md): the shell around
 * the pure state machine of src/core/slack-delivery.c, which decides what is queued, held,
 * folded, paced, sent next and what an answer does. Here are its effects:
 *  - timers: the next send when the state machine says a channel frees, and the outbox file
 *    written within SLACK_OUTBOX_SAVE_USEC of a change (at once before and after an attempt
 *    that may land, as the state machine says), with the log beside it for what must survive
 *    a crash before that (held and queued messages);
 *  - rendering events into messages and requests into bodies (the codec), one HTTP request at
 *    a time, and the HTTP result classified into the state machine's outcome (here, because
 *    it needs the response's headers and the secrets it must keep out of a reason);
 *  - the callbacks for what the state machine reports (a drop, a thread's parent ts).
 * The webhook URL and the bot token are secrets: they never appear in a reason string, the
 * outbox or anything this module returns. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/clock.h"
#include "canaryd/http.h"
#include "canaryd/slack.h"

#define RETRY_AFTER_MAX_SEC 600
#define TIMER_ACCURACY_USEC (1 * USEC_PER_MSEC)

/* Lives as long as the HTTP request, which may outlive the client. */
struct slack_inflight {
        struct slack_client *client; /* NULL once the client is freed */
};

struct slack_client {
        sd_event *event;
        struct http_client *http;
        struct slack_delivery *d; /* owned: every decision */
        bool token_mode;
        char *api_base;    /* token mode: {base} without a trailing slash */
        char *url;         /* webhook URL (secret) */
        char *auth_header; /* token mode: "Authorization: Bearer ..." (secret) */
        char *token;       /* for scrubbing reasons */
        char *severity_channels[_SLACK_SEVERITY_MAX];
        char *mention;
        char *outbox_path;
        char *outbox_error;
        /* Changes mark the outbox dirty and a timer writes the file at most every
         * SLACK_OUTBOX_SAVE_USEC (a backlog of held messages costs one file write a period, not
         * one per decision); what must survive a crash before that is appended to the log
         * (held and queued messages), and an attempt that may land writes the file at once. */
        bool dirty;
        sd_event_source *save_timer;
        char *log_path;
        int log_fd;       /* -1: not open */
        uint64_t log_seq; /* the last record appended (or read back) */
        bool log_unsynced;
        long timeout_ms;

        struct slack_inflight *inflight;
        sd_event_source *timer;

        slack_failed_fn *failed;
        void *failed_ud;
        slack_folded_fn *folded;
        void *folded_ud;
        slack_thread_fn *thread_cb;
        void *thread_ud;
};

static bool header_value_ok(const char *v)
{
        return !strpbrk(v, "\r\n");
}

/* Hands what the state machine reports to the callbacks, in order. */
static void report(struct slack_client *c)
{
        struct slack_delivery_event e;

        while (slack_delivery_next_event(c->d, &e)) {
                if (e.kind == SLACK_DELIVERY_DROPPED && c->failed)
                        c->failed(e.key, e.reason, c->failed_ud);
                else if (e.kind == SLACK_DELIVERY_FOLDED && c->folded)
                        c->folded(e.key, e.reason, c->folded_ud);
                else if (e.kind == SLACK_DELIVERY_THREAD_TS && c->thread_cb)
                        c->thread_cb(e.thread, e.ts, c->thread_ud);
                slack_delivery_event_done(&e);
        }
}

/* ---- the outbox file ------------------------------------------------------------------------- */

/* Writes the outbox now if anything changed since the last write. A failed write keeps it
 * dirty, so the next change or sync tries again. */
static int flush(struct slack_client *c)
{
        struct slack_outbox o;
        char *err = NULL;
        int r;

        if (!c->outbox_path || !c->dirty)
                return 0;
        slack_delivery_snapshot(c->d, &o);
        o.log_seq = c->log_seq;
        r = outbox_save(c->outbox_path, &o, &err);
        if (r < 0) {
                free(c->outbox_error);
                c->outbox_error = err;
        } else {
                c->dirty = false;
                free(c->outbox_error);
                c->outbox_error = NULL;
                /* the file holds every record now; one left by a failed reset is skipped at
                 * replay by its seq */
                (void)outbox_log_reset(c->log_fd);
                c->log_unsynced = false;
        }
        if (c->save_timer)
                sd_event_source_set_enabled(c->save_timer, SD_EVENT_OFF);
        slack_delivery_snapshot_done(&o);
        return r;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)s;
        (void)usec;
        (void)flush(userdata);
        return 0;
}

/* Marks the outbox changed; the file is written within SLACK_OUTBOX_SAVE_USEC. */
static void save(struct slack_client *c)
{
        int enabled = SD_EVENT_OFF;
        usec_t at;

        if (!c->outbox_path)
                return;
        c->dirty = true;
        if (!c->event) {
                (void)flush(c);
                return;
        }
        if (c->save_timer && sd_event_source_get_enabled(c->save_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return; /* already due */
        at = event_now_monotonic(c->event) + SLACK_OUTBOX_SAVE_USEC;
        if (!c->save_timer) {
                if (sd_event_add_time(c->event, &c->save_timer, CLOCK_MONOTONIC, at, 0,
                                      on_save_timer, c) < 0) {
                        (void)flush(c); /* no source: write at once rather than late */
                        return;
                }
        } else {
                (void)sd_event_source_set_time(c->save_timer, at);
        }
        sd_event_source_set_enabled(c->save_timer, SD_EVENT_ONESHOT);
}

/* Appends what must survive a crash before the next file write. When the log cannot be
 * written, the file is written at once instead (the change is in memory already). */
static void log_record(struct slack_client *c, enum slack_log_kind kind,
                       const struct slack_outbox_held *h)
{
        char *line;
        int r;

        if (!c->outbox_path)
                return;
        line = slack_outbox_log_line(c->log_seq + 1, kind, h);
        r = line ? outbox_log_append(&c->log_fd, c->log_path, line) : -ENOMEM;
        free(line);
        c->log_seq++;
        if (r < 0) {
                c->dirty = true;
                (void)flush(c);
                return;
        }
        c->log_unsynced = true;
}

/* Replays what the log holds beyond the file (records above its log_seq): held entries wait
 * for their canary's first read again, queued ones are queued. Returns the number of lines
 * the log had (0: nothing to take in). */
static size_t replay(struct slack_client *c, uint64_t file_seq, char **ret_warning)
{
        struct slack_log_record *recs = NULL;
        size_t n = 0, bad = 0;
        char *err = NULL;
        int r = outbox_log_read(c->log_path, &recs, &n, &bad, &err);

        if (r < 0) {
                if (r != -ENOENT && ret_warning && !*ret_warning)
                        *ret_warning = err;
                else
                        free(err);
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                if (recs[i].seq > c->log_seq)
                        c->log_seq = recs[i].seq;
                if (recs[i].seq <= file_seq) {
                        slack_outbox_held_done(&recs[i].held);
                        continue;
                }
                slack_delivery_replay(c->d, recs[i].kind == SLACK_LOG_QUEUE, &recs[i].held);
        }
        free(recs);
        report(c);
        if (bad && ret_warning && !*ret_warning)
                *ret_warning = xasprintf("%s: skipped %zu unreadable record(s)", c->log_path, bad);
        /* opened, so that the file write that takes these in can empty it */
        (void)outbox_log_append(&c->log_fd, c->log_path, "");
        return n + bad;
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void schedule(struct slack_client *c);

int slack_client_new_full(sd_event *event, struct http_client *http, const struct slack_settings *s,
                          struct slack_client **ret, char **ret_warning)
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
        c->d = slack_delivery_new(&(struct slack_delivery_settings){
            .token_mode = token,
            .channel = s->channel,
            .pace_usec = s->pace_usec,
            .backoff_base_usec = s->backoff_base_usec,
            .render = {.text = slack_payload_text,
                       .digest = slack_render_digest,
                       .mark_resent = slack_payload_mark_resent},
        });
        if (token) {
                const char *base =
                    s->api_base_url && *s->api_base_url ? s->api_base_url : "https://slack.com/api";
                size_t n = strlen(base);

                while (n > 0 && base[n - 1] == '/')
                        n--;
                c->api_base = xstrndup(base, n);
                c->auth_header = xasprintf("Authorization: Bearer %s", s->token);
                c->token = xstrdup(s->token);
                for (size_t i = 0; i < _SLACK_SEVERITY_MAX; i++)
                        if (s->severity_channels[i] && *s->severity_channels[i] &&
                            strcmp(s->severity_channels[i], s->channel) != 0)
                                c->severity_channels[i] = xstrdup(s->severity_channels[i]);
        } else {
                c->url = xstrdup(s->webhook_url);
        }
        c->mention = s->mention && *s->mention ? xstrdup(s->mention) : NULL;
        c->outbox_path = xstrdup(s->outbox_path);
        c->log_path = s->outbox_path ? outbox_log_path(s->outbox_path) : NULL;
        c->log_fd = -1;
        c->timeout_ms = s->timeout_ms;

        if (c->outbox_path) {
                struct slack_outbox o = {0};
                char *err = NULL;
                int r = outbox_load(c->outbox_path, &o, &err);

                if (r == 0) {
                        slack_delivery_restore(c->d, &o);
                        c->log_seq = o.log_seq;
                        slack_outbox_done(&o);
                } else if (r != -ENOENT) {
                        /* Keep the evidence, start empty: a broken outbox must not stop
                         * the daemon. */
                        char *aside = xasprintf("%s.broken", c->outbox_path);

                        if (r == -EBADMSG)
                                (void)rename(c->outbox_path, aside);
                        free(aside);
                        if (ret_warning)
                                *ret_warning = err;
                        else
                                free(err);
                }
                /* then what the log adds; the file takes it in at once and the log is emptied */
                if (replay(c, c->log_seq, ret_warning) > 0) {
                        c->dirty = true;
                        (void)flush(c);
                }
        }
        *ret = c;
        schedule(c);
        return 0;
}

int slack_client_new(sd_event *event, struct http_client *http, const struct slack_settings *s,
                     struct slack_client **ret)
{
        return slack_client_new_full(event, http, s, ret, NULL);
}

struct slack_client *slack_client_free(struct slack_client *c)
{
        if (!c)
                return NULL;
        (void)flush(c); /* changes not yet in the file */
        c->save_timer = sd_event_source_disable_unref(c->save_timer);
        if (c->log_fd >= 0)
                close(c->log_fd);
        free(c->log_path);
        if (c->inflight) {
                /* The HTTP client still owns the request; its callback frees the rest. */
                c->inflight->client = NULL;
                c->inflight = NULL;
        }
        c->d = slack_delivery_free(c->d);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free_secret(c->url);
        free_secret(c->auth_header);
        free_secret(c->token);
        free(c->api_base);
        for (size_t i = 0; i < _SLACK_SEVERITY_MAX; i++)
                free(c->severity_channels[i]);
        free(c->mention);
        free(c->outbox_path);
        free(c->outbox_error);
        free(c);
        return NULL;
}

void slack_set_failed_callback(struct slack_client *c, slack_failed_fn *fn, void *ud)
{
        c->failed = fn;
        c->failed_ud = ud;
}

void slack_set_folded_callback(struct slack_client *c, slack_folded_fn *fn, void *ud)
{
        c->folded = fn;
        c->folded_ud = ud;
}

void slack_set_thread_callback(struct slack_client *c, slack_thread_fn *fn, void *ud)
{
        c->thread_cb = fn;
        c->thread_ud = ud;
}

const char *slack_thread_ts(const struct slack_client *c, const char *thread)
{
        return c ? slack_delivery_thread_ts(c->d, thread) : NULL;
}

size_t slack_queue_length(const struct slack_client *c)
{
        return slack_delivery_queue_length(c->d);
}

size_t slack_delivered_count(const struct slack_client *c)
{
        return c->d->delivered;
}

size_t slack_dropped_count(const struct slack_client *c)
{
        return c->d->dropped;
}

size_t slack_coalesced_count(const struct slack_client *c)
{
        return c->d->coalesced;
}

const char *slack_last_ts(const struct slack_client *c)
{
        return c->d->last_ts;
}

const char *slack_outbox_error(const struct slack_client *c)
{
        return c->outbox_error;
}

/* ---- queueing -------------------------------------------------------------------------------- */

/* After a change: the outbox is written soon, what was reported is told, the timer re-armed. */
static void changed(struct slack_client *c)
{
        save(c);
        report(c);
        schedule(c);
}

int slack_enqueue(struct slack_client *c, char *payload, const char *key)
{
        struct slack_outbox_msg om = {0};
        int r;

        if (!c || !payload) {
                free(payload);
                return -EINVAL;
        }
        if (key && slack_delivery_key_known(c->d, key)) {
                free(payload);
                return -EEXIST;
        }
        if (c->token_mode) {
                char *p = slack_payload_set_channel(payload, NULL);

                free(payload);
                if (!p)
                        return -EINVAL;
                payload = p;
        }
        om.key = xstrdup(key);
        om.payload = payload;
        {
                struct slack_outbox_held rec = {.n_msgs = 1, .msgs = {om}}; /* borrowed */

                log_record(c, SLACK_LOG_QUEUE, &rec);
        }
        r = slack_delivery_queue(c->d, &om);
        if (r == 0)
                changed(c);
        else
                report(c);
        return r;
}

/* Renders what an event announces: its message, in token mode its routed copy, and the
 * thread's new summary and timeline line. Fills *h (overwritten). */
static void build(struct slack_client *c, const struct slack_notice *n, const char *key,
                  const char *thread, const char *thread_ts, struct slack_outbox_held *h)
{
        enum slack_severity sev = slack_event_severity(n->event);
        const char *routed = c->token_mode ? c->severity_channels[sev] : NULL;
        bool threaded = c->token_mode && thread && *thread;
        struct slack_notice copy = *n;
        struct slack_outbox_msg *m = &h->msgs[0];

        memset(h, 0, sizeof(*h));
        copy.mention = NULL;
        copy.resend = 0;
        if (threaded) {
                h->thread = xstrdup(thread);
                h->thread_ts = thread_ts && *thread_ts ? xstrdup(thread_ts) : NULL;
                h->summary = slack_render_summary(&copy);
                h->line = slack_timeline_line(&copy);
        }
        if (sev == SLACK_ERROR && !routed)
                copy.mention = c->mention;
        m->key = xstrdup(key);
        m->thread = threaded ? xstrdup(thread) : NULL;
        m->payload = slack_render(&copy, NULL);
        m->broadcast = threaded && sev == SLACK_ERROR;
        m->coalescible = threaded && sev == SLACK_INFO;
        m->routine = sev == SLACK_INFO;
        h->n_msgs = 1;
        if (routed) {
                /* the severity channel gets its own top-level copy */
                m = &h->msgs[1];
                copy.mention = sev == SLACK_ERROR ? c->mention : NULL;
                m->key = key ? xasprintf("%s@%s", key, slack_severity_to_string(sev)) : NULL;
                m->channel = xstrdup(routed);
                m->payload = slack_render(&copy, NULL);
                m->routine = sev == SLACK_INFO;
                h->n_msgs = 2;
        }
}

/* A key held, queued or delivered: the event is announced already. */
static bool key_taken(const struct slack_client *c, const char *key)
{
        return key && (slack_delivery_key_known(c->d, key) || slack_delivery_key_held(c->d, key));
}

static int notify(struct slack_client *c, const struct slack_notice *n, const char *key,
                  const char *thread, const char *thread_ts, bool maybe_sent)
{
        struct slack_outbox_held h;
        int r;

        if (!c || !n || !n->event)
                return -EINVAL;
        if (key_taken(c, key))
                return -EEXIST;
        build(c, n, key, thread, thread_ts, &h);
        h.write_usec = n->at_usec; /* not held: only dates a thread it opens */
        for (size_t i = 0; i < h.n_msgs; i++)
                h.msgs[i].maybe_sent = maybe_sent; /* kept in the log record: a crash keeps it */
        log_record(c, SLACK_LOG_QUEUE, &h);
        r = slack_delivery_release(c->d, &h);
        changed(c);
        return r;
}

int slack_notify(struct slack_client *c, const struct slack_notice *n, const char *key,
                 const char *thread, const char *thread_ts)
{
        return notify(c, n, key, thread, thread_ts, false);
}

int slack_notify_recovered(struct slack_client *c, const struct slack_notice *n, const char *key,
                           const char *thread, const char *thread_ts)
{
        return notify(c, n, key, thread, thread_ts, true);
}

int slack_hold(struct slack_client *c, const struct slack_notice *n, const char *key,
               const char *thread, const char *thread_ts, const char *canary, usec_t write_usec,
               const char *base_rv)
{
        struct slack_outbox_held h;
        const struct slack_outbox_held *held;
        int r;

        if (!c || !n || !n->event || !canary || write_usec == 0)
                return -EINVAL;
        /* checked before rendering, which is the cost of a hold */
        if (key_taken(c, key))
                return -EEXIST;
        if (c->d->n_held >= SLACK_HELD_MAX)
                return -ENOBUFS;
        build(c, n, key, thread, thread_ts, &h);
        h.canary = xstrdup(canary);
        h.write_usec = write_usec;
        h.base_rv = base_rv && *base_rv ? xstrdup(base_rv) : NULL;
        r = slack_delivery_hold(c->d, &h, &held);
        if (r < 0)
                return r;
        log_record(c, SLACK_LOG_HOLD, held); /* slack_sync() makes it durable before the write */
        save(c);
        return 0;
}

int slack_sync(struct slack_client *c)
{
        if (!c)
                return -EINVAL;
        if (c->log_unsynced) {
                int r = outbox_log_sync(c->log_fd);

                if (r < 0) {
                        free(c->outbox_error);
                        c->outbox_error =
                            xasprintf("cannot sync %s: %s", c->log_path, strerror(-r));
                        c->dirty = true;
                        return flush(c); /* the file carries it instead */
                }
                c->log_unsynced = false;
        }
        return c->outbox_error && c->dirty ? flush(c) : 0;
}

size_t slack_resolve(struct slack_client *c, const char *canary, const struct slack_seen *seen,
                     usec_t now, size_t *ret_dropped, usec_t *ret_recheck_at)
{
        struct slack_resolution res;

        if (ret_dropped)
                *ret_dropped = 0;
        if (ret_recheck_at)
                *ret_recheck_at = 0;
        if (!c || !canary || !seen)
                return 0;
        res = slack_delivery_resolve(c->d, canary, seen, now);
        if (res.changed)
                changed(c);
        if (ret_dropped)
                *ret_dropped = res.dropped;
        if (ret_recheck_at)
                *ret_recheck_at = res.recheck_at;
        return res.released;
}

size_t slack_forget_write(struct slack_client *c, const char *canary, usec_t write_usec)
{
        size_t dropped;

        if (!c || !canary)
                return 0;
        dropped = slack_delivery_forget_write(c->d, canary, write_usec);
        if (dropped)
                save(c);
        return dropped;
}

size_t slack_held_count(const struct slack_client *c)
{
        return c ? c->d->n_held : 0;
}

/* ---- timers ---------------------------------------------------------------------------------- */

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata);

/* Arms the send timer for when the state machine has something to send. */
static void schedule(struct slack_client *c)
{
        struct slack_pick p;
        usec_t now, at;

        if (c->inflight) {
                if (c->timer)
                        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        now = event_now_monotonic(c->event);
        if (slack_delivery_pick(c->d, now, &p, &at))
                at = now;
        if (at == USEC_INFINITY) {
                if (c->timer)
                        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        if (!c->timer) {
                if (sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, at, TIMER_ACCURACY_USEC,
                                      on_timer, c) < 0)
                        c->timer = NULL; /* loop finished: nothing more will be sent */
                return;
        }
        sd_event_source_set_time(c->timer, at);
        sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* ---- results --------------------------------------------------------------------------------- */

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

/* Retry-After (0 allowed: pacing still applies), 1 s when absent or not a number, capped. */
static usec_t retry_after(const struct http_response *r)
{
        return http_retry_after(r, USEC_PER_SEC, RETRY_AFTER_MAX_SEC * USEC_PER_SEC);
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

static const char *op_method(enum slack_op op)
{
        switch (op) {
        case SLACK_OP_POST:
        case SLACK_OP_PARENT:
                return "chat.postMessage";
        case SLACK_OP_UPDATE:
                return "chat.update";
        case SLACK_OP_VERIFY:
                return "conversations.replies";
        case SLACK_OP_VERIFY_PARENT:
                return "conversations.history";
        }
        return "?";
}

/* A classified result: the outcome and the strings it borrows. */
struct result {
        struct slack_outcome o;
        char *ts, *channel; /* owned */
        char reason[256];
};

/* Decides what a request's result means. Never puts the URL or the token in the reason. */
static void classify(const struct slack_client *c, enum slack_op op, const char *key, int error,
                     const struct http_response *r, const char *errmsg, struct result *res)
{
        struct slack_outcome *o = &res->o;
        char body[128];

        o->reason = res->reason;
        if (error != 0) {
                const char *m = errmsg ? errmsg : strerror(error < 0 ? -error : EIO);

                /* curl's messages name hosts, not paths, but never risk the webhook path. */
                if ((c->url && strstr(m, c->url)) || (c->token && strstr(m, c->token)) ||
                    strstr(m, "/services/") || strstr(m, "xox"))
                        m = strerror(error < 0 ? -error : EIO);
                snprintf(res->reason, sizeof(res->reason), "transport error: %s", m);
                o->kind = SLACK_OUTCOME_RETRY;
                /* no connection, no request; a timeout or a reset may follow one that landed */
                o->ambiguous = error != -ECONNREFUSED && error != -EHOSTUNREACH;
                return;
        }
        if (r->status == 429) {
                o->wait = retry_after(r);
                snprintf(res->reason, sizeof(res->reason), "HTTP 429: rate limited");
                o->kind = SLACK_OUTCOME_RATELIMITED;
                return;
        }
        if (r->status >= 500 || r->status == 408) {
                describe_body(body, sizeof(body), r);
                snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", r->status, body);
                o->kind = SLACK_OUTCOME_RETRY;
                /* A Web API 5xx may follow a post that landed: cheap to check. A webhook's 5xx
                 * (rollup_error) says it failed, and re-sends cannot be checked, only marked. */
                o->ambiguous = c->token_mode;
                return;
        }
        if (r->status != 200) {
                describe_body(body, sizeof(body), r);
                snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", r->status, body);
                o->kind = SLACK_OUTCOME_PERMANENT;
                return;
        }
        if (c->token_mode) {
                char *err = NULL;
                int k;

                if (op == SLACK_OP_VERIFY || op == SLACK_OP_VERIFY_PARENT)
                        k = slack_find_key(r->body, r->body_len, key, &res->ts, &err);
                else
                        k = slack_parse_post_response(r->body, r->body_len, &res->ts, &err);
                if (k >= 0) {
                        o->found = k > 0;
                        res->channel = slack_response_channel(r->body, r->body_len);
                        o->ts = res->ts;
                        o->channel = res->channel;
                        o->kind = SLACK_OUTCOME_OK;
                        return;
                }
                if (k == -EBADMSG) {
                        describe_body(body, sizeof(body), r);
                        snprintf(res->reason, sizeof(res->reason),
                                 "HTTP 200 but not a Slack API answer: %s", body);
                        o->kind = SLACK_OUTCOME_RETRY;
                        o->ambiguous = true;
                        return;
                }
                snprintf(res->reason, sizeof(res->reason), "%s: %s", op_method(op), err);
                if (strcmp(err, "ratelimited") == 0) {
                        o->wait = retry_after(r);
                        o->kind = SLACK_OUTCOME_RATELIMITED;
                } else {
                        o->kind = transient_api_error(err) ? SLACK_OUTCOME_RETRY
                                                           : SLACK_OUTCOME_PERMANENT;
                }
                free(err);
                return;
        }
        o->kind = SLACK_OUTCOME_OK; /* webhook: 200 is the only success, its body is "ok" */
}

/* The answer to the request in flight: classified, handed to the state machine, the outbox
 * saved (at once when the attempt may have landed) and what happened reported. */
static void finish(struct slack_client *c, int error, const struct http_response *r,
                   const char *errmsg)
{
        const struct slack_pick *f = slack_delivery_inflight(c->d);
        struct result res = {0};

        if (!f)
                return;
        classify(c, f->op, slack_delivery_pick_key(c->d, f), error, r, errmsg, &res);
        if (slack_delivery_done(c->d, &res.o, event_now_monotonic(c->event))) {
                /* one write per send: sends are paced, holds are not */
                save(c);
                (void)flush(c);
        } else {
                save(c);
        }
        free(res.ts);
        free(res.channel);
        report(c);
}

static void on_http_done(int error, const struct http_response *resp, const char *errmsg,
                         void *userdata)
{
        struct slack_inflight *f = userdata;
        struct slack_client *c = f->client;

        free(f);
        if (!c)
                return;
        c->inflight = NULL;
        finish(c, error, resp, errmsg);
        schedule(c);
}

/* ---- sending --------------------------------------------------------------------------------- */

static char *form_body(const char *channel, const char *ts)
{
        char *ch = http_escape(channel), *t = ts ? http_escape(ts) : NULL, *out;

        if (t)
                out = xasprintf("channel=%s&ts=%s&include_all_metadata=true&limit=200", ch, t);
        else
                out = xasprintf("channel=%s&include_all_metadata=true&limit=100", ch);
        free(ch);
        free(t);
        return out;
}

static char *thread_payload(const struct slack_delivery_thread *t)
{
        return slack_summary_with_timeline(t->t.summary ? t->t.summary : "{\"text\":\"rollout\"}",
                                           (const char *const *)t->t.lines, t->t.n_lines);
}

/* A request to Slack, built from what the state machine picked. */
struct slack_request {
        char *url;         /* owned; a webhook URL is a secret (free_secret) */
        char *body;        /* owned; NULL: the payload cannot be read */
        const char *ctype; /* the Content-Type header */
        bool auth;         /* carries the token (Web API) */
};

static const struct slack_delivery_thread *find_thread(const struct slack_client *c, const char *id)
{
        for (size_t i = 0; id && i < c->d->n_threads; i++)
                if (strcmp(c->d->threads[i].t.id, id) == 0)
                        return &c->d->threads[i];
        return NULL;
}

/* The Web API call for p: a post or read-back of a message, or its thread parent's post,
 * update or read-back. */
static void api_request(struct slack_client *c, const struct slack_pick *p,
                        struct slack_request *req)
{
        const struct slack_delivery_thread *t =
            p->msg ? find_thread(c, p->msg->m.thread) : &c->d->threads[p->thread];
        const char *thread_ts = t && t->t.ts && *t->t.ts ? t->t.ts : NULL;
        const char *api_channel = t && t->t.channel ? t->t.channel : p->channel;
        const char *form = "Content-Type: application/x-www-form-urlencoded";
        const struct slack_outbox_msg *m = p->msg ? &p->msg->m : NULL;
        char *tp;

        req->auth = true;
        switch (p->op) {
        case SLACK_OP_POST:
                req->body = slack_payload_prepare(m->payload, m->channel ? m->channel : api_channel,
                                                  m->thread ? thread_ts : NULL,
                                                  m->broadcast && thread_ts, NULL, m->key);
                req->url = xasprintf("%s/chat.postMessage", c->api_base);
                break;
        case SLACK_OP_VERIFY:
                if (!m->thread || !thread_ts) {
                        req->body = form_body(m->channel ? m->channel : api_channel, NULL);
                        req->url = xasprintf("%s/conversations.history", c->api_base);
                } else {
                        req->body = form_body(api_channel, thread_ts);
                        req->url = xasprintf("%s/conversations.replies", c->api_base);
                }
                req->ctype = form;
                break;
        case SLACK_OP_PARENT:
        case SLACK_OP_UPDATE:
                /* parent operations carry no message: their thread is by index */
                tp = thread_payload(t);
                req->body =
                    slack_payload_prepare(tp, api_channel, NULL, false,
                                          p->op == SLACK_OP_UPDATE ? t->t.ts : NULL, t->parent_key);
                free(tp);
                req->url = xasprintf("%s/%s", c->api_base,
                                     p->op == SLACK_OP_UPDATE ? "chat.update" : "chat.postMessage");
                break;
        case SLACK_OP_VERIFY_PARENT:
                req->body = form_body(api_channel, NULL);
                req->url = xasprintf("%s/conversations.history", c->api_base);
                req->ctype = form;
                break;
        }
}

/* Sends req (consumed) as the one request in flight. */
static void submit(struct slack_client *c, struct slack_request *req)
{
        struct slack_inflight *f = xcalloc(1, sizeof(*f));
        const char *headers[4];
        struct http_request_opts opts = {0};
        size_t n = 0;
        int r;

        f->client = c;
        c->inflight = f;
        if (req->auth)
                headers[n++] = c->auth_header;
        headers[n++] = req->ctype;
        headers[n++] = "User-Agent: canaryd/" CANARYD_VERSION;
        headers[n] = NULL;
        opts.method = "POST";
        opts.url = req->url;
        opts.headers = headers;
        opts.body = req->body;
        opts.body_len = strlen(req->body);
        opts.timeout_ms = c->timeout_ms;

        r = http_submit(c->http, &opts, on_http_done, f);
        free_secret(req->url);
        free(req->body);
        if (r < 0) {
                char msg[64];

                snprintf(msg, sizeof(msg), "could not start the request: %s", strerror(-r));
                c->inflight = NULL;
                free(f);
                finish(c, r, NULL, msg);
                schedule(c);
        }
}

/* One request at a time: the next message or thread operation whose channel is free. */
static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct slack_client *c = userdata;
        struct slack_request req = {.ctype = "Content-Type: application/json; charset=utf-8"};
        struct slack_pick p;
        usec_t wake, now = event_now_monotonic(c->event);

        (void)src;
        (void)usec;
        if (c->inflight || !slack_delivery_pick(c->d, now, &p, &wake)) {
                schedule(c);
                return 0;
        }
        if (!slack_delivery_begin(c->d, &p)) {
                changed(c);
                return 0;
        }
        if (c->token_mode) {
                api_request(c, &p, &req);
        } else {
                req.body = xstrdup(p.msg->m.payload);
                req.url = xstrdup(c->url);
                req.ctype = "Content-Type: application/json";
        }
        if (!req.body) {
                /* unreadable payload (only a broken outbox can do that): drop it */
                free_secret(req.url);
                slack_delivery_abandon(c->d, &p, "payload is not a JSON object");
                changed(c);
                return 0;
        }
        if (slack_delivery_attempt(c->d, &p, now)) {
                /* an attempt that may land is durable before it goes */
                save(c);
                (void)flush(c);
        } else {
                save(c);
        }
        submit(c, &req);
        return 0;
}
