/* Slack delivery on sd-event (WIRE.md §4.1, §4.2, SPEC §6, docs/slack.md).
 *
 * The daemon hands over events and returns at once; everything else happens on timers and HTTP
 * callbacks, one request at a time:
 *  - an outbox (messages to send, rollout threads, recently delivered keys) mirrored to
 *    state_dir/slack-outbox.json after every change, so events survive a restart;
 *  - pacing per channel (about one message per second), 429 Retry-After, 5xx/transport
 *    retries with exponential backoff, permanent failures dropped and reported;
 *  - token mode: one thread per rollout. A parent message (phase, weight, timeline) opens the
 *    thread and is updated in place with chat.update; every event is a reply (a rollback or an
 *    abort also broadcast to the channel). A thread with a backlog folds its oldest routine
 *    replies into the parent's timeline instead of flooding the channel;
 *  - exactly once: every message carries its key in metadata; after an attempt that may have
 *    landed (timeout, 5xx, a crash mid-send) the thread (conversations.replies) or the channel
 *    (conversations.history) is read back and the message is sent only if the key is not
 *    there. Webhooks cannot be read back: such a message is re-sent once, marked as such;
 *  - write-ahead: the driver holds an event's messages (slack_hold) before the state write
 *    that makes the event true, and resolves them (slack_resolve) once it knows whether that
 *    write landed: released into the queue, or dropped. A crash in between leaves them held in
 *    the outbox file, and the restarted daemon resolves them from what the cluster says.
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

#define RECENT_KEYS         1024
#define RECENT_SAVED        256
#define THREADS_MAX         256
#define BACKOFF_MAX_USEC    (60 * USEC_PER_SEC)
#define RETRY_AFTER_MAX_SEC 600
#define TIMER_ACCURACY_USEC (1 * USEC_PER_MSEC)
#define CHANNELS_MAX        8

struct slack_msg {
        struct slack_msg *next;
        struct slack_outbox_msg m;
        unsigned attempts; /* sends that ended in a retryable failure or are in flight */
        bool inflight;
        /* webhook digest built in this process: its lines (owned), so that later routine
         * messages fold into it; a digest restored from the outbox has none and stays as is */
        bool digest;
        char *lines[SLACK_DIGEST_LINES];
        size_t n_lines, more;
};

struct thread {
        struct slack_outbox_thread t;
        char *parent_key;
        unsigned attempts; /* parent post or update, consecutive failures */
        bool inflight;
};

enum op { OP_POST, OP_PARENT, OP_UPDATE, OP_VERIFY, OP_VERIFY_PARENT };

/* Lives as long as the HTTP request, which may outlive the client. */
struct slack_inflight {
        struct slack_client *client; /* NULL once the client is freed */
        enum op op;
        struct slack_msg *msg; /* OP_POST, OP_VERIFY */
        size_t thread;         /* OP_PARENT, OP_UPDATE, OP_VERIFY_PARENT: index */
        char *channel;         /* owned: the channel's pacing slot */
};

struct channel_slot {
        char *name;
        usec_t next_send; /* CLOCK_MONOTONIC */
};

struct slack_client {
        sd_event *event;
        struct http_client *http;
        bool token_mode;
        char *api_base;    /* token mode: {base} without a trailing slash */
        char *url;         /* webhook URL (secret) */
        char *auth_header; /* token mode: "Authorization: Bearer ..." (secret) */
        char *token;       /* for scrubbing reasons */
        char *channel;
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
        usec_t pace_usec, backoff_base_usec;

        struct slack_msg *head, *tail;
        size_t n_queued;                /* the one in flight included */
        struct slack_outbox_held *held; /* write-ahead entries, oldest first */
        size_t n_held;
        struct thread *threads;
        size_t n_threads;
        struct slack_inflight *inflight;
        sd_event_source *timer;
        struct channel_slot slots[CHANNELS_MAX];
        size_t n_slots;

        char *recent[RECENT_KEYS]; /* delivered keys, a ring */
        size_t recent_next;

        slack_failed_fn *failed;
        void *failed_ud;
        slack_thread_fn *thread_cb;
        void *thread_ud;
        size_t delivered, dropped, coalesced;
        char *last_ts;
};

enum outcome { OUTCOME_OK, OUTCOME_RATELIMITED, OUTCOME_RETRY, OUTCOME_PERMANENT };

static bool header_value_ok(const char *v)
{
        return !strpbrk(v, "\r\n");
}

static void outbox_msg_done(struct slack_outbox_msg *m)
{
        free(m->key);
        free(m->thread);
        free(m->channel);
        free(m->payload);
}

static void held_done(struct slack_outbox_held *h)
{
        slack_outbox_held_done(h);
}

static void msg_free(struct slack_msg *m)
{
        if (!m)
                return;
        outbox_msg_done(&m->m);
        for (size_t i = 0; i < m->n_lines; i++)
                free(m->lines[i]);
        free(m);
}

static void thread_done(struct thread *t)
{
        free(t->t.id);
        free(t->t.channel);
        free(t->t.ts);
        free(t->t.summary);
        for (size_t i = 0; i < t->t.n_lines; i++)
                free(t->t.lines[i]);
        free(t->parent_key);
        memset(t, 0, sizeof(*t));
}

/* ---- keys ------------------------------------------------------------------------------------ */

static bool key_recent(const struct slack_client *c, const char *key)
{
        for (size_t i = 0; i < RECENT_KEYS; i++)
                if (c->recent[i] && strcmp(c->recent[i], key) == 0)
                        return true;
        return false;
}

static bool key_known(const struct slack_client *c, const char *key)
{
        for (const struct slack_msg *m = c->head; m; m = m->next)
                if (streq_ptr(m->m.key, key))
                        return true;
        return key_recent(c, key);
}

static bool key_held(const struct slack_client *c, const char *key)
{
        for (size_t i = 0; i < c->n_held; i++)
                if (streq_ptr(c->held[i].msgs[0].key, key))
                        return true;
        return false;
}

static void key_remember(struct slack_client *c, const char *key)
{
        if (!key || key_recent(c, key))
                return;
        free(c->recent[c->recent_next]);
        c->recent[c->recent_next] = xstrdup(key);
        c->recent_next = (c->recent_next + 1) % RECENT_KEYS;
}

/* ---- threads --------------------------------------------------------------------------------- */

static struct thread *thread_find(struct slack_client *c, const char *id)
{
        for (size_t i = 0; id && i < c->n_threads; i++)
                if (strcmp(c->threads[i].t.id, id) == 0)
                        return &c->threads[i];
        return NULL;
}

static bool thread_has_msgs(const struct slack_client *c, const char *id)
{
        for (const struct slack_msg *m = c->head; m; m = m->next)
                if (streq_ptr(m->m.thread, id))
                        return true;
        return false;
}

static bool thread_busy(const struct slack_client *c, const struct thread *t)
{
        return t->inflight || t->t.update_pending || thread_has_msgs(c, t->t.id) ||
               (!t->t.ts && t->t.parent_maybe_sent);
}

/* Forgets the oldest idle thread when the table is full (a rollout thread lives as long as
 * its rollout is being announced; the ts is also kept with the rollout state). */
static void threads_trim(struct slack_client *c)
{
        size_t oldest = SIZE_MAX;

        if (c->n_threads < THREADS_MAX)
                return;
        for (size_t i = 0; i < c->n_threads; i++)
                if (!thread_busy(c, &c->threads[i]) &&
                    (oldest == SIZE_MAX ||
                     c->threads[i].t.created_usec < c->threads[oldest].t.created_usec))
                        oldest = i;
        if (oldest == SIZE_MAX)
                return;
        if (c->inflight && c->inflight->op != OP_POST && c->inflight->op != OP_VERIFY &&
            c->inflight->thread > oldest)
                c->inflight->thread--;
        thread_done(&c->threads[oldest]);
        memmove(&c->threads[oldest], &c->threads[oldest + 1],
                (c->n_threads - oldest - 1) * sizeof(*c->threads));
        c->n_threads--;
}

/* created_usec: the wall-clock time of the event that opens the thread (the caller's, never
 * read here), so that the oldest thread is the one forgotten first. */
static struct thread *thread_add(struct slack_client *c, const char *id, usec_t created_usec)
{
        struct thread *t;

        threads_trim(c);
        c->threads = xrealloc(c->threads, (c->n_threads + 1) * sizeof(*c->threads));
        t = &c->threads[c->n_threads++];
        memset(t, 0, sizeof(*t));
        t->t.id = xstrdup(id);
        t->t.created_usec = created_usec;
        t->parent_key = xasprintf("%s/parent", id);
        return t;
}

static void thread_add_line(struct thread *t, char *line /* owned */)
{
        if (t->t.n_lines == SLACK_TIMELINE_MAX) {
                free(t->t.lines[0]);
                memmove(&t->t.lines[0], &t->t.lines[1],
                        (SLACK_TIMELINE_MAX - 1) * sizeof(t->t.lines[0]));
                t->t.n_lines--;
                t->t.n_dropped_lines++;
        }
        t->t.lines[t->t.n_lines++] = line;
}

/* ---- the outbox file ------------------------------------------------------------------------- */

/* Writes the outbox now if anything changed since the last write. A failed write keeps it
 * dirty, so the next change or sync tries again. */
static int flush(struct slack_client *c)
{
        struct slack_outbox o = {0};
        size_t i = 0, first;
        char *err = NULL;
        int r;

        if (!c->outbox_path || !c->dirty)
                return 0;
        o.msgs = xcalloc(c->n_queued + 1, sizeof(*o.msgs));
        for (const struct slack_msg *m = c->head; m; m = m->next)
                o.msgs[o.n_msgs++] = m->m;
        o.held = c->held; /* borrowed */
        o.n_held = c->n_held;
        o.threads = xcalloc(c->n_threads + 1, sizeof(*o.threads));
        for (i = 0; i < c->n_threads; i++)
                o.threads[o.n_threads++] = c->threads[i].t;
        o.recent = xcalloc(RECENT_SAVED + 1, sizeof(*o.recent));
        first = (c->recent_next + RECENT_KEYS - RECENT_SAVED) % RECENT_KEYS;
        for (i = 0; i < RECENT_SAVED; i++) {
                char *k = c->recent[(first + i) % RECENT_KEYS];
                if (k)
                        o.recent[o.n_recent++] = k;
        }
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
        free(o.msgs);
        free(o.threads);
        free(o.recent);
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

static void append(struct slack_client *c, struct slack_msg *m)
{
        if (c->tail)
                c->tail->next = m;
        else
                c->head = m;
        c->tail = m;
        c->n_queued++;
}

static void unlink_msg(struct slack_client *c, struct slack_msg *m)
{
        struct slack_msg **pp = &c->head, *prev = NULL;

        while (*pp && *pp != m) {
                prev = *pp;
                pp = &(*pp)->next;
        }
        if (!*pp)
                return;
        *pp = m->next;
        if (c->tail == m)
                c->tail = prev;
        m->next = NULL;
        c->n_queued--;
}

/* Takes over what a previous run left behind. */
static void restore(struct slack_client *c, struct slack_outbox *o)
{
        for (size_t i = 0; i < o->n_recent; i++)
                key_remember(c, o->recent[i]);
        for (size_t i = 0; i < o->n_threads; i++) {
                struct thread *t;

                if (thread_find(c, o->threads[i].id))
                        continue;
                t = thread_add(c, o->threads[i].id, o->threads[i].created_usec);
                free(t->t.id);
                t->t = o->threads[i];
                memset(&o->threads[i], 0, sizeof(o->threads[i])); /* moved */
        }
        /* held entries wait for the driver's first read of their canary (slack_resolve) */
        c->held = xcalloc(o->n_held + 1, sizeof(*c->held));
        for (size_t i = 0; i < o->n_held && c->n_held < SLACK_HELD_MAX; i++) {
                c->held[c->n_held++] = o->held[i];
                memset(&o->held[i], 0, sizeof(o->held[i])); /* moved */
        }
        for (size_t i = 0; i < o->n_msgs; i++) {
                struct slack_msg *m;

                if (c->n_queued >= SLACK_QUEUE_MAX)
                        break;
                m = xcalloc(1, sizeof(*m));
                m->m = o->msgs[i];
                memset(&o->msgs[i], 0, sizeof(o->msgs[i]));
                append(c, m);
        }
}

static int release(struct slack_client *c, struct slack_outbox_held *h);
static void report_drop(struct slack_client *c, const char *key, const char *reason,
                        unsigned attempts);

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
                struct slack_outbox_held *h = &recs[i].held;
                const char *key = h->msgs[0].key;

                if (recs[i].seq > c->log_seq)
                        c->log_seq = recs[i].seq;
                if (recs[i].seq <= file_seq || (key && (key_known(c, key) || key_held(c, key)))) {
                        held_done(h);
                        continue;
                }
                if (recs[i].kind == SLACK_LOG_QUEUE) {
                        (void)release(c, h); /* consumes h */
                        continue;
                }
                if (c->n_held >= SLACK_HELD_MAX) {
                        report_drop(c, key, "the write-ahead log holds more than it may", 0);
                        held_done(h);
                        continue;
                }
                c->held = xrealloc(c->held, (c->n_held + 1) * sizeof(*c->held));
                c->held[c->n_held++] = *h; /* moved */
        }
        free(recs);
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
        c->channel = xstrdup(s->channel);
        c->mention = s->mention && *s->mention ? xstrdup(s->mention) : NULL;
        c->outbox_path = xstrdup(s->outbox_path);
        c->log_path = s->outbox_path ? outbox_log_path(s->outbox_path) : NULL;
        c->log_fd = -1;
        c->timeout_ms = s->timeout_ms;
        c->pace_usec = s->pace_usec ? s->pace_usec : USEC_PER_SEC;
        c->backoff_base_usec = s->backoff_base_usec ? s->backoff_base_usec : USEC_PER_SEC;

        if (c->outbox_path) {
                struct slack_outbox o = {0};
                char *err = NULL;
                int r = outbox_load(c->outbox_path, &o, &err);

                if (r == 0) {
                        restore(c, &o);
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
        while (c->head) {
                struct slack_msg *m = c->head;
                c->head = m->next;
                msg_free(m);
        }
        for (size_t i = 0; i < c->n_held; i++)
                held_done(&c->held[i]);
        free(c->held);
        for (size_t i = 0; i < c->n_threads; i++)
                thread_done(&c->threads[i]);
        free(c->threads);
        for (size_t i = 0; i < RECENT_KEYS; i++)
                free(c->recent[i]);
        for (size_t i = 0; i < c->n_slots; i++)
                free(c->slots[i].name);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free_secret(c->url);
        free_secret(c->auth_header);
        free_secret(c->token);
        free(c->api_base);
        free(c->channel);
        for (size_t i = 0; i < _SLACK_SEVERITY_MAX; i++)
                free(c->severity_channels[i]);
        free(c->mention);
        free(c->outbox_path);
        free(c->outbox_error);
        free(c->last_ts);
        free(c);
        return NULL;
}

void slack_set_failed_callback(struct slack_client *c, slack_failed_fn *fn, void *ud)
{
        c->failed = fn;
        c->failed_ud = ud;
}

void slack_set_thread_callback(struct slack_client *c, slack_thread_fn *fn, void *ud)
{
        c->thread_cb = fn;
        c->thread_ud = ud;
}

const char *slack_thread_ts(const struct slack_client *c, const char *thread)
{
        for (size_t i = 0; c && thread && i < c->n_threads; i++)
                if (strcmp(c->threads[i].t.id, thread) == 0)
                        return c->threads[i].t.ts;
        return NULL;
}

size_t slack_queue_length(const struct slack_client *c)
{
        size_t n = c->n_queued;

        for (size_t i = 0; i < c->n_threads; i++)
                if (c->threads[i].t.update_pending || c->threads[i].inflight)
                        n++;
        return n;
}

size_t slack_delivered_count(const struct slack_client *c)
{
        return c->delivered;
}

size_t slack_dropped_count(const struct slack_client *c)
{
        return c->dropped;
}

size_t slack_coalesced_count(const struct slack_client *c)
{
        return c->coalesced;
}

const char *slack_last_ts(const struct slack_client *c)
{
        return c->last_ts;
}

const char *slack_outbox_error(const struct slack_client *c)
{
        return c->outbox_error;
}

/* ---- queueing -------------------------------------------------------------------------------- */

/* The pacing slot: a routed copy's channel, else the configured channel (threads live there;
 * their channel ID, once known, is used for the API calls but not for pacing). */
static const char *msg_channel(const struct slack_client *c, const struct slack_msg *m)
{
        if (m->m.channel)
                return m->m.channel;
        return c->channel ? c->channel : "";
}

/* A thread can take replies: its parent is posted ("" = gave up threading this rollout). */
static bool thread_open(const struct thread *t)
{
        return t && t->t.ts && *t->t.ts;
}

static struct channel_slot *slot(struct slack_client *c, const char *name)
{
        for (size_t i = 0; i < c->n_slots; i++)
                if (strcmp(c->slots[i].name, name) == 0)
                        return &c->slots[i];
        if (c->n_slots == CHANNELS_MAX) {
                /* more channels than slots: they share the last one (slower, never faster) */
                return &c->slots[CHANNELS_MAX - 1];
        }
        c->slots[c->n_slots].name = xstrdup(name);
        c->slots[c->n_slots].next_send = 0;
        return &c->slots[c->n_slots++];
}

/* A thread with more pending replies than SLACK_COALESCE_AT folds its oldest routine ones into
 * the parent's timeline (they are already there): one chat.update instead of a flood. */
static void coalesce(struct slack_client *c, struct thread *t)
{
        size_t pending = 0;

        for (struct slack_msg *m = c->head; m; m = m->next)
                if (streq_ptr(m->m.thread, t->t.id))
                        pending++;
        while (pending > SLACK_COALESCE_AT) {
                struct slack_msg *victim = NULL;

                for (struct slack_msg *m = c->head; m; m = m->next)
                        if (streq_ptr(m->m.thread, t->t.id) && m->m.coalescible &&
                            !m->m.maybe_sent && !m->inflight) {
                                victim = m;
                                break;
                        }
                if (!victim)
                        return;
                unlink_msg(c, victim);
                key_remember(c, victim->m.key);
                msg_free(victim);
                c->coalesced++;
                t->t.update_pending = true;
                pending--;
        }
}

static void report_drop(struct slack_client *c, const char *key, const char *reason,
                        unsigned attempts);

/* The oldest routine message that nothing has been sent of yet, or NULL. */
static struct slack_msg *oldest_routine(struct slack_client *c)
{
        for (struct slack_msg *m = c->head; m; m = m->next)
                if (m->m.routine && !m->m.maybe_sent && !m->inflight)
                        return m;
        return NULL;
}

/* Queues om, or reports it dropped (-ENOBUFS) when the queue is full: a warning or error then
 * takes the place of the oldest routine message instead (SPEC §7: never dropped while routine
 * ones are queued). */
static bool fold_into_digest(struct slack_client *c, struct slack_outbox_msg *om);
static void digest_backlog(struct slack_client *c, const char *channel);

static int queue_msg(struct slack_client *c, struct slack_outbox_msg *om /* moved */)
{
        struct slack_msg *m;

        if (fold_into_digest(c, om))
                return 0;
        if (c->n_queued >= SLACK_QUEUE_MAX) {
                struct slack_msg *victim = om->routine ? NULL : oldest_routine(c);

                if (!victim) {
                        report_drop(c, om->key, "the queue is full", 0);
                        outbox_msg_done(om);
                        memset(om, 0, sizeof(*om));
                        return -ENOBUFS;
                }
                unlink_msg(c, victim);
                report_drop(c, victim->m.key, "the queue is full; a warning took its place", 0);
                key_remember(c, victim->m.key);
                msg_free(victim);
        }
        m = xcalloc(1, sizeof(*m));
        m->m = *om;
        memset(om, 0, sizeof(*om));
        append(c, m);
        if (m->m.routine)
                digest_backlog(c, m->m.channel);
        return 0;
}

/* Token mode, backlog: every coalescible reply (routine, nothing sent yet) is folded into its
 * thread's parent, which shows the event in its timeline already: one chat.update per thread
 * instead of a reply per event. */
static void coalesce_backlog(struct slack_client *c)
{
        size_t routine = 0;

        for (struct slack_msg *m = c->head; m; m = m->next)
                routine += m->m.routine;
        if (routine <= SLACK_BACKLOG_AT)
                return;
        for (struct slack_msg *m = c->head, *next; m; m = next) {
                struct thread *t;

                next = m->next;
                if (!m->m.coalescible || m->m.maybe_sent || m->inflight)
                        continue;
                t = thread_find(c, m->m.thread);
                if (!t)
                        continue;
                unlink_msg(c, m);
                key_remember(c, m->m.key);
                msg_free(m);
                c->coalesced++;
                t->t.update_pending = true;
        }
}

/* Webhook mode, backlog: the routine messages queued for m's channel (m first, nothing sent of
 * any yet) become one digest message in m's place; their keys count as delivered with it. */
static struct slack_msg *digest(struct slack_client *c, struct slack_msg *first)
{
        const char *channel = first->m.channel;
        char **texts;
        size_t n = 0, more = 0, routine = 0;
        struct slack_msg *d;

        for (struct slack_msg *m = c->head; m; m = m->next)
                routine += m->m.routine;
        if (routine <= SLACK_BACKLOG_AT || first->m.maybe_sent)
                return first;
        d = xcalloc(1, sizeof(*d));
        d->m.routine = true;
        d->digest = true;
        texts = d->lines;
        d->m.channel = channel ? xstrdup(channel) : NULL;
        d->m.key = first->m.key ? xasprintf("%s+digest", first->m.key) : NULL;
        /* in first's place, so that the queue keeps its order */
        d->next = first->next;
        first->next = d;
        c->n_queued++;
        if (c->tail == first)
                c->tail = d;
        for (struct slack_msg *m = c->head, *next; m; m = next) {
                next = m->next;
                if (m == d || !m->m.routine || m->m.maybe_sent || m->inflight ||
                    !streq_ptr(m->m.channel, channel))
                        continue;
                if (m->digest) {
                        /* a digest folds in with its lines */
                        for (size_t i = 0; i < m->n_lines; i++) {
                                if (n < SLACK_DIGEST_LINES) {
                                        texts[n++] = m->lines[i];
                                } else {
                                        free(m->lines[i]);
                                        more++;
                                }
                        }
                        m->n_lines = 0;
                        more += m->more;
                } else if (n < SLACK_DIGEST_LINES) {
                        texts[n++] = slack_payload_text(m->m.payload);
                } else {
                        more++;
                }
                unlink_msg(c, m);
                key_remember(c, m->m.key);
                msg_free(m);
                c->coalesced++;
        }
        c->coalesced--; /* the digest itself is delivered */
        d->n_lines = n;
        d->more = more;
        d->m.payload = slack_render_digest((const char *const *)texts, n, more);
        save(c);
        return d;
}

/* Webhook mode: a routine message folds into the channel's digest still waiting to be sent,
 * so that a backlog holds one digest per channel rather than a message per event (the outbox,
 * rewritten on every change, stays small). Consumes om and returns true when it folded. */
static bool fold_into_digest(struct slack_client *c, struct slack_outbox_msg *om)
{
        struct slack_msg *d = NULL;

        if (c->token_mode || !om->routine)
                return false;
        for (struct slack_msg *m = c->head; m && !d; m = m->next)
                if (m->digest && !m->inflight && !m->m.maybe_sent &&
                    streq_ptr(m->m.channel, om->channel))
                        d = m;
        if (!d)
                return false;
        if (d->n_lines < SLACK_DIGEST_LINES)
                d->lines[d->n_lines++] = slack_payload_text(om->payload);
        else
                d->more++;
        free(d->m.payload);
        d->m.payload = slack_render_digest((const char *const *)d->lines, d->n_lines, d->more);
        key_remember(c, om->key);
        outbox_msg_done(om);
        memset(om, 0, sizeof(*om));
        c->coalesced++;
        return true;
}

/* Webhook mode: past SLACK_BACKLOG_AT routine messages, the channel's become a digest now
 * rather than when the next one is sent. */
static void digest_backlog(struct slack_client *c, const char *channel)
{
        size_t routine = 0;
        struct slack_msg *first = NULL;

        if (c->token_mode)
                return;
        for (struct slack_msg *m = c->head; m; m = m->next) {
                routine += m->m.routine;
                if (!first && m->m.routine && !m->inflight && !m->m.maybe_sent &&
                    streq_ptr(m->m.channel, channel))
                        first = m;
        }
        if (first && routine > SLACK_BACKLOG_AT)
                (void)digest(c, first);
}

int slack_enqueue(struct slack_client *c, char *payload, const char *key)
{
        struct slack_outbox_msg om = {0};
        int r;

        if (!c || !payload) {
                free(payload);
                return -EINVAL;
        }
        if (key && key_known(c, key)) {
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
        r = queue_msg(c, &om);
        if (r == 0) {
                save(c);
                schedule(c);
        }
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

/* Hands a built event to delivery: the thread (token mode) takes its summary and timeline
 * line, the parent owes an update, the messages are queued. Consumes *h. Returns 0, -EEXIST
 * when its key is already known (nothing changes), -ENOBUFS when the queue is full. */
static int release(struct slack_client *c, struct slack_outbox_held *h)
{
        struct thread *t = NULL;
        int r = -EEXIST;

        if (h->msgs[0].key && key_known(c, h->msgs[0].key))
                goto out;
        if (h->thread) {
                t = thread_find(c, h->thread);
                if (!t)
                        t = thread_add(c, h->thread, h->write_usec);
                if (!t->t.ts && h->thread_ts && !t->inflight) {
                        /* known from the rollout state (another daemon, a lost outbox) */
                        t->t.ts = xstrdup(h->thread_ts);
                        t->t.parent_maybe_sent = false;
                }
                if (h->summary) {
                        free(t->t.summary);
                        t->t.summary = h->summary;
                        h->summary = NULL;
                }
                if (h->line) {
                        thread_add_line(t, h->line);
                        h->line = NULL;
                }
                /* the parent, posted or updated later, shows this event */
                t->t.update_pending = !t->t.ts || *t->t.ts;
        }
        r = queue_msg(c, &h->msgs[0]);
        if (r == 0 && t)
                coalesce(c, t);
        if (r == 0 && h->n_msgs > 1)
                (void)queue_msg(c, &h->msgs[1]);
        if (r == 0 && c->token_mode)
                coalesce_backlog(c);
out:
        held_done(h);
        return r;
}

int slack_notify(struct slack_client *c, const struct slack_notice *n, const char *key,
                 const char *thread, const char *thread_ts)
{
        struct slack_outbox_held h;
        int r;

        if (!c || !n || !n->event)
                return -EINVAL;
        if (key && (key_known(c, key) || key_held(c, key)))
                return -EEXIST;
        build(c, n, key, thread, thread_ts, &h);
        h.write_usec = n->at_usec; /* not held: only dates a thread it opens */
        log_record(c, SLACK_LOG_QUEUE, &h);
        r = release(c, &h);
        save(c);
        schedule(c);
        return r;
}

int slack_hold(struct slack_client *c, const struct slack_notice *n, const char *key,
               const char *thread, const char *thread_ts, const char *canary, usec_t write_usec,
               const char *base_rv)
{
        struct slack_outbox_held *h;

        if (!c || !n || !n->event || !canary || write_usec == 0)
                return -EINVAL;
        if (key && (key_known(c, key) || key_held(c, key)))
                return -EEXIST;
        if (c->n_held >= SLACK_HELD_MAX)
                return -ENOBUFS;
        c->held = xrealloc(c->held, (c->n_held + 1) * sizeof(*c->held));
        h = &c->held[c->n_held++];
        build(c, n, key, thread, thread_ts, h);
        h->canary = xstrdup(canary);
        h->write_usec = write_usec;
        h->base_rv = base_rv && *base_rv ? xstrdup(base_rv) : NULL;
        log_record(c, SLACK_LOG_HOLD, h); /* slack_sync() makes it durable before the write */
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

static void report_drop(struct slack_client *c, const char *key, const char *reason,
                        unsigned attempts);

/* What becomes of held entry h of the canary, given what is seen at now. */
enum held_fate { HELD_RELEASE, HELD_DROP, HELD_KEEP };

static enum held_fate held_fate(const struct slack_outbox_held *h, const struct slack_seen *seen,
                                usec_t now)
{
        if (seen->state_usec != 0 && h->write_usec == seen->state_usec)
                return HELD_RELEASE;
        /* A write guarded by the version the object still has may not have reached the API
         * server yet (its sender died with it on the wire): it lands, or it fails with a 409
         * once anything else is written. Any other version: it can no longer land. */
        if (seen->rv && h->base_rv && strcmp(h->base_rv, seen->rv) == 0 &&
            now < h->write_usec + SLACK_HELD_INFLIGHT_USEC)
                return HELD_KEEP;
        return HELD_DROP;
}

size_t slack_resolve(struct slack_client *c, const char *canary, const struct slack_seen *seen,
                     usec_t now, size_t *ret_dropped, usec_t *ret_recheck_at)
{
        size_t released = 0, dropped = 0, i = 0;
        usec_t recheck = 0;
        bool changed = false;

        if (ret_dropped)
                *ret_dropped = 0;
        if (ret_recheck_at)
                *ret_recheck_at = 0;
        if (!c || !canary || !seen)
                return 0;
        while (i < c->n_held) {
                struct slack_outbox_held h = c->held[i];
                bool mine = strcmp(h.canary, canary) == 0;
                bool expired = now > h.write_usec && now - h.write_usec > SLACK_HELD_MAX_AGE_USEC;
                enum held_fate fate = mine ? held_fate(&h, seen, now) : HELD_DROP;

                if ((!mine && !expired) || fate == HELD_KEEP) {
                        if (fate == HELD_KEEP) {
                                usec_t at = h.write_usec + SLACK_HELD_INFLIGHT_USEC;
                                recheck = recheck && recheck < at ? recheck : at;
                        }
                        i++;
                        continue;
                }
                memmove(&c->held[i], &c->held[i + 1], (c->n_held - i - 1) * sizeof(*c->held));
                c->n_held--;
                changed = true;
                if (fate == HELD_RELEASE) {
                        if (release(c, &h) == 0)
                                released++; /* -ENOBUFS: queue_msg reported the drop */
                        continue;
                }
                if (mine)
                        dropped++; /* the write did not land: the event did not happen */
                else
                        report_drop(c, h.msgs[0].key, "its state write was never confirmed", 0);
                held_done(&h);
        }
        if (changed) {
                save(c);
                schedule(c);
        }
        if (ret_dropped)
                *ret_dropped = dropped;
        if (ret_recheck_at)
                *ret_recheck_at = recheck;
        return released;
}

size_t slack_forget_write(struct slack_client *c, const char *canary, usec_t write_usec)
{
        size_t dropped = 0, i = 0;

        if (!c || !canary)
                return 0;
        while (i < c->n_held) {
                if (strcmp(c->held[i].canary, canary) != 0 || c->held[i].write_usec != write_usec) {
                        i++;
                        continue;
                }
                held_done(&c->held[i]);
                memmove(&c->held[i], &c->held[i + 1], (c->n_held - i - 1) * sizeof(*c->held));
                c->n_held--;
                dropped++;
        }
        if (dropped)
                save(c);
        return dropped;
}

size_t slack_held_count(const struct slack_client *c)
{
        return c ? c->n_held : 0;
}

/* ---- choosing what to send next -------------------------------------------------------------- */

struct pick {
        enum op op;
        struct slack_msg *msg;
        size_t thread;
        const char *channel;
};

static bool channel_seen(const char **seen, size_t n, const char *ch)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(seen[i], ch) == 0)
                        return true;
        return false;
}

/* Offers one candidate: taken when its channel is free now; else the channel's wait counts
 * toward the next wake-up and later candidates of that channel keep their order behind it. */
static bool offer(struct slack_client *c, const struct pick *p, usec_t now, const char **seen,
                  size_t *n_seen, usec_t *wake)
{
        struct channel_slot *s;

        if (channel_seen(seen, *n_seen, p->channel))
                return false;
        if (*n_seen < 2 * CHANNELS_MAX + 2)
                seen[(*n_seen)++] = p->channel;
        s = slot(c, p->channel);
        if (s->next_send <= now)
                return true;
        if (s->next_send < *wake)
                *wake = s->next_send;
        return false;
}

static bool pick_next(struct slack_client *c, usec_t now, struct pick *ret, usec_t *wake)
{
        const char *seen[2 * CHANNELS_MAX + 2];
        size_t n_seen = 0;

        *wake = USEC_INFINITY;
        /* warnings and errors first, then routine messages: each pass in queue order */
        for (int pass = 0; pass < 2; pass++)
                for (struct slack_msg *m = c->head; m; m = m->next) {
                        struct pick p = {.msg = m, .channel = msg_channel(c, m)};
                        struct thread *t = c->token_mode ? thread_find(c, m->m.thread) : NULL;

                        if (m->m.routine != (pass == 1))
                                continue;
                        if (t && !t->t.ts) {
                                /* the parent opens the thread first */
                                if (t->inflight)
                                        continue;
                                p.op = t->t.parent_maybe_sent ? OP_VERIFY_PARENT : OP_PARENT;
                                p.thread = (size_t)(t - c->threads);
                                p.msg = NULL;
                        } else {
                                p.op = c->token_mode && m->m.maybe_sent ? OP_VERIFY : OP_POST;
                        }
                        if (offer(c, &p, now, seen, &n_seen, wake)) {
                                *ret = p;
                                return true;
                        }
                }
        for (size_t i = 0; c->token_mode && i < c->n_threads; i++) {
                struct thread *t = &c->threads[i];
                struct pick p = {.thread = i, .channel = c->channel};

                if (t->inflight || thread_has_msgs(c, t->t.id))
                        continue;
                if (thread_open(t) && t->t.update_pending)
                        p.op = OP_UPDATE;
                else if (!t->t.ts && t->t.parent_maybe_sent)
                        p.op = OP_VERIFY_PARENT; /* finish what a crash interrupted */
                else
                        continue;
                if (offer(c, &p, now, seen, &n_seen, wake)) {
                        *ret = p;
                        return true;
                }
        }
        return false;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata);

static void schedule(struct slack_client *c)
{
        struct pick p;
        usec_t now, at;

        if (c->inflight) {
                if (c->timer)
                        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        now = event_now_monotonic(c->event);
        if (pick_next(c, now, &p, &at))
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

static const char *op_method(enum op op)
{
        switch (op) {
        case OP_POST:
        case OP_PARENT:
                return "chat.postMessage";
        case OP_UPDATE:
                return "chat.update";
        case OP_VERIFY:
                return "conversations.replies";
        case OP_VERIFY_PARENT:
                return "conversations.history";
        }
        return "?";
}

struct result {
        enum outcome outcome;
        bool ambiguous; /* the message may have been posted anyway */
        usec_t wait;
        char *ts, *channel; /* owned */
        int found;          /* verify: 1 found, 0 not */
        char reason[256];
};

/* Decides what a request's result means. Never puts the URL or the token in the reason. */
static void classify(const struct slack_client *c, enum op op, const char *key, int error,
                     const struct http_response *r, const char *errmsg, struct result *res)
{
        char body[128];

        if (error != 0) {
                const char *m = errmsg ? errmsg : strerror(error < 0 ? -error : EIO);

                /* curl's messages name hosts, not paths, but never risk the webhook path. */
                if ((c->url && strstr(m, c->url)) || (c->token && strstr(m, c->token)) ||
                    strstr(m, "/services/") || strstr(m, "xox"))
                        m = strerror(error < 0 ? -error : EIO);
                snprintf(res->reason, sizeof(res->reason), "transport error: %s", m);
                res->outcome = OUTCOME_RETRY;
                /* no connection, no request; a timeout or a reset may follow one that landed */
                res->ambiguous = error != -ECONNREFUSED && error != -EHOSTUNREACH;
                return;
        }
        if (r->status == 429) {
                res->wait = retry_after(r);
                snprintf(res->reason, sizeof(res->reason), "HTTP 429: rate limited");
                res->outcome = OUTCOME_RATELIMITED;
                return;
        }
        if (r->status >= 500 || r->status == 408) {
                describe_body(body, sizeof(body), r);
                snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", r->status, body);
                res->outcome = OUTCOME_RETRY;
                /* A Web API 5xx may follow a post that landed: cheap to check. A webhook's 5xx
                 * (rollup_error) says it failed, and re-sends cannot be checked, only marked. */
                res->ambiguous = c->token_mode;
                return;
        }
        if (r->status != 200) {
                describe_body(body, sizeof(body), r);
                snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", r->status, body);
                res->outcome = OUTCOME_PERMANENT;
                return;
        }
        if (c->token_mode) {
                char *err = NULL;
                int k;

                if (op == OP_VERIFY || op == OP_VERIFY_PARENT)
                        k = slack_find_key(r->body, r->body_len, key, &res->ts, &err);
                else
                        k = slack_parse_post_response(r->body, r->body_len, &res->ts, &err);
                if (k >= 0) {
                        res->found = k;
                        res->channel = slack_response_channel(r->body, r->body_len);
                        res->outcome = OUTCOME_OK;
                        return;
                }
                if (k == -EBADMSG) {
                        describe_body(body, sizeof(body), r);
                        snprintf(res->reason, sizeof(res->reason),
                                 "HTTP 200 but not a Slack API answer: %s", body);
                        res->outcome = OUTCOME_RETRY;
                        res->ambiguous = true;
                        return;
                }
                snprintf(res->reason, sizeof(res->reason), "%s: %s", op_method(op), err);
                if (strcmp(err, "ratelimited") == 0) {
                        res->wait = retry_after(r);
                        res->outcome = OUTCOME_RATELIMITED;
                } else {
                        res->outcome = transient_api_error(err) ? OUTCOME_RETRY : OUTCOME_PERMANENT;
                }
                free(err);
                return;
        }
        res->outcome = OUTCOME_OK; /* webhook: 200 is the only success, its body is "ok" */
}

static void report_drop(struct slack_client *c, const char *key, const char *reason,
                        unsigned attempts)
{
        char *full =
            xasprintf("%s (after %u attempt%s)", reason, attempts, attempts == 1 ? "" : "s");

        c->dropped++;
        if (c->failed)
                c->failed(key, full, c->failed_ud);
        free(full);
}

static usec_t backoff(const struct slack_client *c, unsigned attempts)
{
        usec_t b = c->backoff_base_usec
                   << (attempts > 1 ? (attempts - 1 < 16 ? attempts - 1 : 16) : 0);

        return b > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : b;
}

static void delay_channel(struct slack_client *c, const char *channel, usec_t until)
{
        struct channel_slot *s = slot(c, channel);

        if (until > s->next_send)
                s->next_send = until;
}

static void set_thread_ts(struct slack_client *c, struct thread *t, const char *ts,
                          const char *channel_id)
{
        free(t->t.ts);
        t->t.ts = xstrdup(ts);
        t->t.parent_maybe_sent = false;
        if (channel_id && !t->t.channel) {
                /* conversations.* want the ID; the pacing slot keeps the configured name */
                t->t.channel = xstrdup(channel_id);
        }
        if (c->thread_cb)
                c->thread_cb(t->t.id, ts, c->thread_ud);
}

static void msg_done(struct slack_client *c, struct slack_inflight *f, struct result *res,
                     usec_t now)
{
        struct slack_msg *m = f->msg;

        m->inflight = false;
        switch (res->outcome) {
        case OUTCOME_OK:
                if (f->op == OP_VERIFY && !res->found) {
                        m->m.maybe_sent = false; /* not there: send it now */
                        m->attempts = 0;
                        return;
                }
                c->delivered++;
                key_remember(c, m->m.key);
                if (res->ts) {
                        free(c->last_ts);
                        c->last_ts = xstrdup(res->ts);
                }
                unlink_msg(c, m);
                msg_free(m);
                return;
        case OUTCOME_RATELIMITED:
                m->attempts--; /* waiting our turn is not a failure */
                delay_channel(c, f->channel, now + res->wait);
                if (f->op == OP_POST)
                        m->m.maybe_sent = false; /* a 429 posted nothing */
                return;
        case OUTCOME_RETRY:
                if (f->op == OP_POST && !res->ambiguous)
                        m->m.maybe_sent = false;
                if (m->attempts >= SLACK_MAX_ATTEMPTS) {
                        report_drop(c, m->m.key, res->reason, m->attempts);
                        unlink_msg(c, m);
                        msg_free(m);
                        return;
                }
                delay_channel(c, f->channel, now + backoff(c, m->attempts));
                return;
        case OUTCOME_PERMANENT:
                if (f->op == OP_VERIFY) {
                        /* the thread is gone or unreadable: post, at worst once more */
                        m->m.maybe_sent = false;
                        return;
                }
                report_drop(c, m->m.key, res->reason, m->attempts);
                unlink_msg(c, m);
                msg_free(m);
                return;
        }
}

static void thread_op_done(struct slack_client *c, struct slack_inflight *f, struct result *res,
                           usec_t now)
{
        struct thread *t = &c->threads[f->thread];

        t->inflight = false;
        switch (res->outcome) {
        case OUTCOME_OK:
                t->attempts = 0;
                if (f->op == OP_VERIFY_PARENT) {
                        if (res->found && res->ts)
                                set_thread_ts(c, t, res->ts, NULL);
                        else
                                t->t.parent_maybe_sent = false; /* post it now */
                        if (res->found)
                                t->t.update_pending = true;
                        return;
                }
                if (f->op == OP_PARENT) {
                        if (res->ts)
                                set_thread_ts(c, t, res->ts, res->channel);
                        else
                                t->t.parent_maybe_sent = false; /* no ts: cannot thread */
                        c->delivered++;
                        if (res->ts) {
                                free(c->last_ts);
                                c->last_ts = xstrdup(res->ts);
                        }
                }
                return;
        case OUTCOME_RATELIMITED:
                delay_channel(c, f->channel, now + res->wait);
                if (f->op == OP_PARENT)
                        t->t.parent_maybe_sent = false;
                if (f->op == OP_UPDATE)
                        t->t.update_pending = true;
                return;
        case OUTCOME_RETRY:
                if (f->op == OP_PARENT && !res->ambiguous)
                        t->t.parent_maybe_sent = false;
                if (f->op == OP_UPDATE)
                        t->t.update_pending = true;
                if (++t->attempts >= SLACK_MAX_ATTEMPTS) {
                        report_drop(c, f->op == OP_UPDATE ? NULL : t->parent_key, res->reason,
                                    t->attempts);
                        t->attempts = 0;
                        t->t.update_pending = false;
                        if (f->op == OP_PARENT || f->op == OP_VERIFY_PARENT) {
                                /* give up threading this rollout: its replies go top-level */
                                t->t.parent_maybe_sent = false;
                                free(t->t.ts);
                                t->t.ts = xstrdup("");
                        }
                        return;
                }
                delay_channel(c, f->channel, now + backoff(c, t->attempts));
                return;
        case OUTCOME_PERMANENT:
                t->attempts = 0;
                if (f->op == OP_UPDATE) {
                        /* message_not_found, edit_window_closed: the thread goes on */
                        report_drop(c, NULL, res->reason, 1);
                        t->t.update_pending = false;
                        return;
                }
                if (f->op == OP_VERIFY_PARENT) {
                        t->t.parent_maybe_sent = false;
                        return;
                }
                report_drop(c, t->parent_key, res->reason, 1);
                t->t.parent_maybe_sent = false;
                free(t->t.ts);
                t->t.ts = xstrdup(""); /* no thread: replies go top-level */
                return;
        }
}

static void finish(struct slack_client *c, struct slack_inflight *f, int error,
                   const struct http_response *r, const char *errmsg)
{
        struct result res = {0};
        const char *key = NULL;
        usec_t now = event_now_monotonic(c->event);

        if (f->op == OP_POST || f->op == OP_VERIFY)
                key = f->msg->m.key;
        else
                key = c->threads[f->thread].parent_key;
        classify(c, f->op, key, error, r, errmsg, &res);
        if (f->op == OP_POST || f->op == OP_VERIFY)
                msg_done(c, f, &res, now);
        else
                thread_op_done(c, f, &res, now);
        free(res.ts);
        free(res.channel);
        save(c);
        /* an attempt that may have landed is answered: written at once, so that a crash now
         * does not make the next daemon read back or re-send what was delivered (one write per
         * send: sends are paced, holds are not) */
        if (f->op == OP_POST || f->op == OP_PARENT)
                (void)flush(c);
}

static void on_http_done(int error, const struct http_response *resp, const char *errmsg,
                         void *userdata)
{
        struct slack_inflight *f = userdata;
        struct slack_client *c = f->client;

        if (c) {
                c->inflight = NULL;
                finish(c, f, error, resp, errmsg);
        }
        free(f->channel);
        free(f);
        if (c)
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

static char *thread_payload(const struct thread *t)
{
        if (!t) /* an operation always has its thread; keep -O2's -Wnull-dereference quiet */
                return xstrdup("{\"text\":\"rollout\"}");
        return slack_summary_with_timeline(t->t.summary ? t->t.summary : "{\"text\":\"rollout\"}",
                                           (const char *const *)t->t.lines, t->t.n_lines);
}

/* A request to Slack, built from what pick_next() chose. */
struct slack_request {
        char *url;         /* owned; a webhook URL is a secret (free_secret) */
        char *body;        /* owned; NULL: the payload cannot be read */
        const char *ctype; /* the Content-Type header */
        bool auth;         /* carries the token (Web API) */
};

/* Ends a picked message without sending it: reason is logged and counted as a drop. */
static void drop_picked(struct slack_client *c, struct slack_msg *m, const char *reason,
                        unsigned attempts)
{
        report_drop(c, m->m.key, reason, attempts);
        unlink_msg(c, m);
        msg_free(m);
        save(c);
        schedule(c);
}

/* Webhooks cannot be read back: a message that may have landed is re-sent once, marked. */
static void webhook_request(struct slack_client *c, struct slack_msg *m, struct slack_request *req)
{
        if (m->m.maybe_sent && !m->m.resent) {
                char *marked = slack_payload_mark_resent(m->m.payload);

                if (marked) {
                        free(m->m.payload);
                        m->m.payload = marked;
                }
                m->m.resent = true;
        }
        req->body = xstrdup(m->m.payload);
        req->url = xstrdup(c->url);
        req->ctype = "Content-Type: application/json";
}

/* The Web API call for p: a post or read-back of a message, or its thread parent's post,
 * update or read-back. */
static void api_request(struct slack_client *c, const struct pick *p, struct slack_request *req)
{
        struct thread *t = p->msg ? thread_find(c, p->msg->m.thread) : &c->threads[p->thread];
        const char *thread_ts = thread_open(t) ? t->t.ts : NULL;
        const char *api_channel = t && t->t.channel ? t->t.channel : p->channel;
        const char *form = "Content-Type: application/x-www-form-urlencoded";
        struct thread *pt;
        char *tp;

        req->auth = true;
        switch (p->op) {
        case OP_POST:
                req->body = slack_payload_prepare(
                    p->msg->m.payload, p->msg->m.channel ? p->msg->m.channel : api_channel,
                    p->msg->m.thread ? thread_ts : NULL, p->msg->m.broadcast && thread_ts, NULL,
                    p->msg->m.key);
                req->url = xasprintf("%s/chat.postMessage", c->api_base);
                break;
        case OP_VERIFY:
                if (!p->msg->m.thread || !thread_ts) {
                        req->body =
                            form_body(p->msg->m.channel ? p->msg->m.channel : api_channel, NULL);
                        req->url = xasprintf("%s/conversations.history", c->api_base);
                } else {
                        req->body = form_body(api_channel, thread_ts);
                        req->url = xasprintf("%s/conversations.replies", c->api_base);
                }
                req->ctype = form;
                break;
        case OP_PARENT:
                /* parent operations carry no message: their thread is by index */
                pt = &c->threads[p->thread];
                tp = thread_payload(pt);
                req->body =
                    slack_payload_prepare(tp, api_channel, NULL, false, NULL, pt->parent_key);
                free(tp);
                pt->t.update_pending = false;
                req->url = xasprintf("%s/chat.postMessage", c->api_base);
                break;
        case OP_UPDATE:
                pt = &c->threads[p->thread];
                tp = thread_payload(pt);
                req->body =
                    slack_payload_prepare(tp, api_channel, NULL, false, pt->t.ts, pt->parent_key);
                free(tp);
                pt->t.update_pending = false;
                req->url = xasprintf("%s/chat.update", c->api_base);
                break;
        case OP_VERIFY_PARENT:
                req->body = form_body(api_channel, NULL);
                req->url = xasprintf("%s/conversations.history", c->api_base);
                req->ctype = form;
                break;
        }
}

/* An attempt may land even when its answer never arrives: noted, and for a post made durable,
 * before the request goes (a crash after it must know). */
static void note_attempt(struct slack_client *c, const struct pick *p)
{
        if (p->msg) {
                p->msg->inflight = true;
                p->msg->attempts++;
                if (p->op == OP_POST)
                        p->msg->m.maybe_sent = true;
        } else {
                c->threads[p->thread].inflight = true;
                if (p->op == OP_PARENT)
                        c->threads[p->thread].t.parent_maybe_sent = true;
        }
        save(c);
        if (p->op == OP_POST || p->op == OP_PARENT)
                (void)flush(c);
}

/* Sends req (consumed) as the one request in flight; paces p's channel from now. */
static void submit(struct slack_client *c, const struct pick *p, struct slack_request *req,
                   usec_t now)
{
        struct slack_inflight *f = xcalloc(1, sizeof(*f));
        const char *headers[4];
        struct http_request_opts opts = {0};
        size_t n = 0;
        int r;

        *f = (struct slack_inflight){
            .client = c,
            .op = p->op,
            .msg = p->msg,
            .thread = p->thread,
            .channel = xstrdup(p->channel),
        };
        c->inflight = f;
        if (p->op != OP_VERIFY && p->op != OP_VERIFY_PARENT)
                delay_channel(c, p->channel, now + c->pace_usec);

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
                finish(c, f, r, NULL, msg);
                free(f->channel);
                free(f);
                schedule(c);
        }
}

/* One request at a time: the next message or thread operation whose channel is free. */
static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct slack_client *c = userdata;
        struct slack_request req = {.ctype = "Content-Type: application/json; charset=utf-8"};
        struct pick p;
        usec_t wake, now = event_now_monotonic(c->event);

        if (c->inflight || !pick_next(c, now, &p, &wake)) {
                schedule(c);
                return 0;
        }
        if (!c->token_mode && p.op == OP_POST && p.msg->m.routine)
                p.msg = digest(c, p.msg); /* a backlog goes as one message; p.msg may be new */
        if (!c->token_mode && p.msg->m.maybe_sent && p.msg->m.resent) {
                /* The marked re-send may have landed too (a crash or a timeout cut it): a third
                 * copy could be a second duplicate. Stop here. */
                drop_picked(c, p.msg, "not sent again: its marked re-send may have landed",
                            p.msg->attempts > 2 ? p.msg->attempts : 2);
                return 0;
        }
        if (c->token_mode)
                api_request(c, &p, &req);
        else
                webhook_request(c, p.msg, &req);
        if (!req.body) {
                /* unreadable payload (only a broken outbox can do that): drop it */
                free_secret(req.url);
                if (p.msg) {
                        drop_picked(c, p.msg, "payload is not a JSON object", 0);
                } else {
                        save(c);
                        schedule(c);
                }
                return 0;
        }
        note_attempt(c, &p);
        submit(c, &p, &req, now);
        return 0;
}
