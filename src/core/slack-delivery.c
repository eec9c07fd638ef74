/* Slack delivery as a pure state machine (canaryd/slack-delivery.h, docs/slack.md): the outbox
 * in memory and every decision about it. src/io/slack.c is its shell: timers, HTTP, the outbox
 * file, the callbacks.
 *
 *  - pacing per channel (about one message per second), 429 Retry-After, retries with
 *    exponential backoff, permanent failures dropped and reported;
 *  - token mode: one thread per rollout. A parent message (phase, weight, timeline) opens the
 *    thread and is updated in place; every event is a reply. A thread with a backlog folds its
 *    oldest routine replies into the parent's timeline instead of flooding the channel;
 *  - exactly once: after an attempt that may have landed the message is read back (token
 *    mode) and sent only if its key is not there; a webhook message is re-sent once, marked;
 *  - write-ahead: held entries wait for their state write, then are released or dropped. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/slack-delivery.h"

/* ---- events ---------------------------------------------------------------------------------- */

static void push_event(struct slack_delivery *d, struct slack_delivery_event e /* moved */)
{
        d->events = xrealloc(d->events, (d->n_events + 1) * sizeof(*d->events));
        d->events[d->n_events++] = e;
}

static void report_drop(struct slack_delivery *d, const char *key, const char *reason,
                        unsigned attempts)
{
        d->dropped++;
        push_event(d, (struct slack_delivery_event){
                          .kind = SLACK_DELIVERY_DROPPED,
                          .key = xstrdup(key),
                          .reason = xasprintf("%s (after %u attempt%s)", reason, attempts,
                                              attempts == 1 ? "" : "s"),
                      });
}

/* A routine message that a backlog folds into its thread's parent or a digest: delivered there,
 * so it counts as coalesced, not dropped. */
static void report_fold(struct slack_delivery *d, const char *key, const char *into)
{
        d->coalesced++;
        push_event(d, (struct slack_delivery_event){
                          .kind = SLACK_DELIVERY_FOLDED,
                          .key = key ? xstrdup(key) : NULL,
                          .reason = xstrdup(into),
                      });
}

bool slack_delivery_next_event(struct slack_delivery *d, struct slack_delivery_event *ret)
{
        if (!d || d->n_events == 0)
                return false;
        *ret = d->events[0];
        memmove(&d->events[0], &d->events[1], (d->n_events - 1) * sizeof(*d->events));
        d->n_events--;
        return true;
}

void slack_delivery_event_done(struct slack_delivery_event *e)
{
        if (!e)
                return;
        free(e->key);
        free(e->reason);
        free(e->thread);
        free(e->ts);
        memset(e, 0, sizeof(*e));
}

/* ---- messages and keys ----------------------------------------------------------------------- */

static void msg_free(struct slack_delivery_msg *m)
{
        if (!m)
                return;
        slack_outbox_msg_done(&m->m);
        for (size_t i = 0; i < m->n_lines; i++)
                free(m->lines[i]);
        free(m);
}

static void thread_done(struct slack_delivery_thread *t)
{
        slack_outbox_thread_done(&t->t);
        free(t->parent_key);
        memset(t, 0, sizeof(*t));
}

static bool key_recent(const struct slack_delivery *d, const char *key)
{
        for (size_t i = 0; i < SLACK_RECENT_KEYS; i++)
                if (d->recent[i] && strcmp(d->recent[i], key) == 0)
                        return true;
        return false;
}

bool slack_delivery_key_known(const struct slack_delivery *d, const char *key)
{
        for (const struct slack_delivery_msg *m = d->head; m; m = m->next)
                if (streq_ptr(m->m.key, key))
                        return true;
        return key_recent(d, key);
}

bool slack_delivery_key_held(const struct slack_delivery *d, const char *key)
{
        for (size_t i = 0; i < d->n_held; i++)
                if (streq_ptr(d->held[i].msgs[0].key, key))
                        return true;
        return false;
}

static void key_remember(struct slack_delivery *d, const char *key)
{
        if (!key || key_recent(d, key))
                return;
        free(d->recent[d->recent_next]);
        d->recent[d->recent_next] = xstrdup(key);
        d->recent_next = (d->recent_next + 1) % SLACK_RECENT_KEYS;
}

static void append(struct slack_delivery *d, struct slack_delivery_msg *m)
{
        if (d->tail)
                d->tail->next = m;
        else
                d->head = m;
        d->tail = m;
        d->n_queued++;
}

static void unlink_msg(struct slack_delivery *d, struct slack_delivery_msg *m)
{
        struct slack_delivery_msg **pp = &d->head, *prev = NULL;

        while (*pp && *pp != m) {
                prev = *pp;
                pp = &(*pp)->next;
        }
        if (!*pp)
                return;
        *pp = m->next;
        if (d->tail == m)
                d->tail = prev;
        m->next = NULL;
        d->n_queued--;
}

/* Ends a message that will not be sent again: its key counts as delivered (folded) or is
 * forgotten (dropped: it may be queued again). */
static void msg_remove(struct slack_delivery *d, struct slack_delivery_msg *m, bool remember)
{
        unlink_msg(d, m);
        if (remember)
                key_remember(d, m->m.key);
        msg_free(m);
}

/* ---- threads --------------------------------------------------------------------------------- */

static struct slack_delivery_thread *thread_find(struct slack_delivery *d, const char *id)
{
        for (size_t i = 0; id && i < d->n_threads; i++)
                if (strcmp(d->threads[i].t.id, id) == 0)
                        return &d->threads[i];
        return NULL;
}

static bool thread_has_msgs(const struct slack_delivery *d, const char *id)
{
        for (const struct slack_delivery_msg *m = d->head; m; m = m->next)
                if (streq_ptr(m->m.thread, id))
                        return true;
        return false;
}

bool slack_delivery_thread_busy(const struct slack_delivery *d,
                                const struct slack_delivery_thread *t)
{
        return t->inflight || t->t.update_pending || thread_has_msgs(d, t->t.id) ||
               (!t->t.ts && t->t.parent_maybe_sent);
}

/* A thread can take replies: its parent is posted ("" = gave up threading this rollout). */
static bool thread_open(const struct slack_delivery_thread *t)
{
        return t && t->t.ts && *t->t.ts;
}

/* A thread whose parent is or will be posted, so that a reply folded into its timeline is
 * seen: not one given up. */
static bool thread_can_fold(const struct slack_delivery_thread *t)
{
        return t && (!t->t.ts || *t->t.ts);
}

static bool is_thread_op(enum slack_op op)
{
        return op != SLACK_OP_POST && op != SLACK_OP_VERIFY;
}

/* Forgets the oldest idle thread when the table is full (a rollout thread lives as long as
 * its rollout is being announced; the ts is also kept with the rollout state). */
static void threads_trim(struct slack_delivery *d)
{
        size_t oldest = SIZE_MAX;

        if (d->n_threads < SLACK_THREADS_MAX)
                return;
        for (size_t i = 0; i < d->n_threads; i++)
                if (!slack_delivery_thread_busy(d, &d->threads[i]) &&
                    (oldest == SIZE_MAX ||
                     d->threads[i].t.created_usec < d->threads[oldest].t.created_usec))
                        oldest = i;
        if (oldest == SIZE_MAX)
                return;
        if (d->busy && is_thread_op(d->inflight.op) && d->inflight.thread > oldest)
                d->inflight.thread--;
        thread_done(&d->threads[oldest]);
        memmove(&d->threads[oldest], &d->threads[oldest + 1],
                (d->n_threads - oldest - 1) * sizeof(*d->threads));
        d->n_threads--;
}

/* created_usec: the wall-clock time of the event that opens the thread (the caller's), so that
 * the oldest thread is the one forgotten first. */
static struct slack_delivery_thread *thread_add(struct slack_delivery *d, const char *id,
                                                usec_t created_usec)
{
        struct slack_delivery_thread *t;

        threads_trim(d);
        d->threads = xrealloc(d->threads, (d->n_threads + 1) * sizeof(*d->threads));
        t = &d->threads[d->n_threads++];
        memset(t, 0, sizeof(*t));
        t->t.id = xstrdup(id);
        t->t.created_usec = created_usec;
        t->parent_key = xasprintf("%s/parent", id);
        return t;
}

static void thread_add_line(struct slack_delivery_thread *t, char *line /* owned */)
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

static void set_thread_ts(struct slack_delivery *d, struct slack_delivery_thread *t, const char *ts,
                          const char *channel_id)
{
        free(t->t.ts);
        t->t.ts = xstrdup(ts);
        t->t.parent_maybe_sent = false;
        if (channel_id && !t->t.channel) {
                /* conversations.* want the ID; the pacing slot keeps the configured name */
                t->t.channel = xstrdup(channel_id);
        }
        push_event(d, (struct slack_delivery_event){
                          .kind = SLACK_DELIVERY_THREAD_TS,
                          .thread = xstrdup(t->t.id),
                          .ts = xstrdup(ts),
                      });
}

/* Gives up threading a rollout: its replies go top-level. */
static void thread_unthread(struct slack_delivery_thread *t)
{
        t->t.parent_maybe_sent = false;
        t->t.update_pending = false; /* there is no parent to show a timeline */
        free(t->t.ts);
        t->t.ts = xstrdup("");
}

/* ---- setup ----------------------------------------------------------------------------------- */

struct slack_delivery *slack_delivery_new(const struct slack_delivery_settings *s)
{
        struct slack_delivery *d = xcalloc(1, sizeof(*d));

        d->token_mode = s->token_mode;
        d->channel = xstrdup(s->channel);
        d->pace_usec = s->pace_usec ? s->pace_usec : USEC_PER_SEC;
        d->backoff_base_usec = s->backoff_base_usec ? s->backoff_base_usec : USEC_PER_SEC;
        d->render = s->render;
        return d;
}

struct slack_delivery *slack_delivery_free(struct slack_delivery *d)
{
        if (!d)
                return NULL;
        while (d->head) {
                struct slack_delivery_msg *m = d->head;
                d->head = m->next;
                msg_free(m);
        }
        for (size_t i = 0; i < d->n_held; i++)
                slack_outbox_held_done(&d->held[i]);
        free(d->held);
        for (size_t i = 0; i < d->n_threads; i++)
                thread_done(&d->threads[i]);
        free(d->threads);
        for (size_t i = 0; i < SLACK_RECENT_KEYS; i++)
                free(d->recent[i]);
        for (size_t i = 0; i < d->n_slots; i++)
                free(d->slots[i].name);
        for (size_t i = 0; i < d->n_events; i++)
                slack_delivery_event_done(&d->events[i]);
        free(d->events);
        free(d->inflight_channel);
        free(d->channel);
        free(d->last_ts);
        free(d);
        return NULL;
}

void slack_delivery_restore(struct slack_delivery *d, struct slack_outbox *o)
{
        for (size_t i = 0; i < o->n_recent; i++)
                key_remember(d, o->recent[i]);
        for (size_t i = 0; i < o->n_threads; i++) {
                struct slack_delivery_thread *t;

                if (thread_find(d, o->threads[i].id))
                        continue;
                t = thread_add(d, o->threads[i].id, o->threads[i].created_usec);
                free(t->t.id);
                t->t = o->threads[i];
                memset(&o->threads[i], 0, sizeof(o->threads[i])); /* moved */
        }
        /* held entries wait for the driver's first read of their canary (resolve) */
        d->held = xrealloc(d->held, (d->n_held + o->n_held + 1) * sizeof(*d->held));
        for (size_t i = 0; i < o->n_held && d->n_held < SLACK_HELD_MAX; i++) {
                d->held[d->n_held++] = o->held[i];
                memset(&o->held[i], 0, sizeof(o->held[i])); /* moved */
        }
        for (size_t i = 0; i < o->n_msgs; i++) {
                struct slack_delivery_msg *m;

                if (d->n_queued >= SLACK_QUEUE_MAX)
                        break;
                m = xcalloc(1, sizeof(*m));
                m->m = o->msgs[i];
                memset(&o->msgs[i], 0, sizeof(o->msgs[i]));
                append(d, m);
        }
}

void slack_delivery_snapshot(const struct slack_delivery *d, struct slack_outbox *ret)
{
        size_t first;

        memset(ret, 0, sizeof(*ret));
        ret->msgs = xcalloc(d->n_queued + 1, sizeof(*ret->msgs));
        for (const struct slack_delivery_msg *m = d->head; m; m = m->next)
                ret->msgs[ret->n_msgs++] = m->m;
        ret->held = d->held; /* borrowed */
        ret->n_held = d->n_held;
        ret->threads = xcalloc(d->n_threads + 1, sizeof(*ret->threads));
        for (size_t i = 0; i < d->n_threads; i++)
                ret->threads[ret->n_threads++] = d->threads[i].t;
        ret->recent = xcalloc(SLACK_RECENT_SAVED + 1, sizeof(*ret->recent));
        first = (d->recent_next + SLACK_RECENT_KEYS - SLACK_RECENT_SAVED) % SLACK_RECENT_KEYS;
        for (size_t i = 0; i < SLACK_RECENT_SAVED; i++) {
                char *k = d->recent[(first + i) % SLACK_RECENT_KEYS];
                if (k)
                        ret->recent[ret->n_recent++] = k;
        }
}

void slack_delivery_snapshot_done(struct slack_outbox *o)
{
        free(o->msgs);
        free(o->threads);
        free(o->recent);
        memset(o, 0, sizeof(*o));
}

/* ---- queueing -------------------------------------------------------------------------------- */

/* The pacing slot: a routed copy's channel, else the configured channel (threads live there;
 * their channel ID, once known, is used for the API calls but not for pacing). */
static const char *msg_channel(const struct slack_delivery *d, const struct slack_delivery_msg *m)
{
        if (m->m.channel)
                return m->m.channel;
        return d->channel ? d->channel : "";
}

static usec_t *slot(struct slack_delivery *d, const char *name)
{
        for (size_t i = 0; i < d->n_slots; i++)
                if (strcmp(d->slots[i].name, name) == 0)
                        return &d->slots[i].next_send;
        if (d->n_slots == SLACK_CHANNELS_MAX) {
                /* more channels than slots: they share the last one (slower, never faster) */
                return &d->slots[SLACK_CHANNELS_MAX - 1].next_send;
        }
        d->slots[d->n_slots].name = xstrdup(name);
        d->slots[d->n_slots].next_send = 0;
        return &d->slots[d->n_slots++].next_send;
}

static void delay_channel(struct slack_delivery *d, const char *channel, usec_t until)
{
        usec_t *next_send = slot(d, channel);

        if (until > *next_send)
                *next_send = until;
}

/* A message nothing has been sent of yet, not in flight: it may be folded or replaced. */
static bool msg_untouched(const struct slack_delivery_msg *m)
{
        return !m->m.maybe_sent && !m->inflight;
}

/* A thread with more pending replies than SLACK_COALESCE_AT folds its oldest routine ones into
 * the parent's timeline (they are already there): one chat.update instead of a flood. */
static void coalesce(struct slack_delivery *d, struct slack_delivery_thread *t)
{
        size_t pending = 0;

        if (!thread_can_fold(t))
                return;
        for (struct slack_delivery_msg *m = d->head; m; m = m->next)
                if (streq_ptr(m->m.thread, t->t.id))
                        pending++;
        while (pending > SLACK_COALESCE_AT) {
                struct slack_delivery_msg *victim = NULL;

                for (struct slack_delivery_msg *m = d->head; m; m = m->next)
                        if (streq_ptr(m->m.thread, t->t.id) && m->m.coalescible &&
                            msg_untouched(m)) {
                                victim = m;
                                break;
                        }
                if (!victim)
                        return;
                report_fold(d, victim->m.key, "its thread's parent");
                msg_remove(d, victim, true);
                t->t.update_pending = true;
                pending--;
        }
}

/* The oldest routine message that nothing has been sent of yet, or NULL. */
static struct slack_delivery_msg *oldest_routine(struct slack_delivery *d)
{
        for (struct slack_delivery_msg *m = d->head; m; m = m->next)
                if (m->m.routine && msg_untouched(m))
                        return m;
        return NULL;
}

static size_t routine_count(const struct slack_delivery *d)
{
        size_t routine = 0;

        for (const struct slack_delivery_msg *m = d->head; m; m = m->next)
                routine += m->m.routine;
        return routine;
}

/* Token mode, backlog: every coalescible reply (routine, nothing sent yet) is folded into its
 * thread's parent, which shows the event in its timeline already: one chat.update per thread
 * instead of a reply per event. */
static void coalesce_backlog(struct slack_delivery *d)
{
        if (routine_count(d) <= SLACK_BACKLOG_AT)
                return;
        for (struct slack_delivery_msg *m = d->head, *next; m; m = next) {
                struct slack_delivery_thread *t;

                next = m->next;
                if (!m->m.coalescible || !msg_untouched(m))
                        continue;
                t = thread_find(d, m->m.thread);
                if (!thread_can_fold(t))
                        continue;
                report_fold(d, m->m.key, "its thread's parent");
                msg_remove(d, m, true);
                t->t.update_pending = true;
        }
}

static char *render_digest(const struct slack_delivery *d, const struct slack_delivery_msg *m)
{
        return d->render.digest((const char *const *)m->lines, m->n_lines, m->more);
}

/* Webhook mode, backlog: the routine messages queued for first's channel (first included,
 * nothing sent of any yet) become one digest message in first's place; their keys count as
 * delivered with it. */
static struct slack_delivery_msg *digest(struct slack_delivery *d, struct slack_delivery_msg *first)
{
        const char *channel; /* the digest's own copy: first is freed below */
        size_t n = 0, more = 0;
        struct slack_delivery_msg *g;

        if (routine_count(d) <= SLACK_BACKLOG_AT || first->m.maybe_sent)
                return first;
        g = xcalloc(1, sizeof(*g));
        g->m.routine = true;
        g->digest = true;
        g->m.channel = xstrdup(first->m.channel);
        channel = g->m.channel;
        g->m.key = first->m.key ? xasprintf("%s+digest", first->m.key) : NULL;
        /* in first's place, so that the queue keeps its order */
        g->next = first->next;
        first->next = g;
        d->n_queued++;
        if (d->tail == first)
                d->tail = g;
        for (struct slack_delivery_msg *m = d->head, *next; m; m = next) {
                next = m->next;
                if (m == g || !m->m.routine || !msg_untouched(m) ||
                    !streq_ptr(m->m.channel, channel))
                        continue;
                if (m->digest) {
                        /* a digest folds in with its lines */
                        for (size_t i = 0; i < m->n_lines; i++) {
                                if (n < SLACK_DIGEST_LINES) {
                                        g->lines[n++] = m->lines[i];
                                } else {
                                        free(m->lines[i]);
                                        more++;
                                }
                        }
                        m->n_lines = 0;
                        more += m->more;
                } else if (n < SLACK_DIGEST_LINES) {
                        g->lines[n++] = d->render.text(m->m.payload);
                } else {
                        more++;
                }
                report_fold(d, m->m.key, "a digest");
                msg_remove(d, m, true);
        }
        d->coalesced--; /* the digest itself is delivered */
        g->n_lines = n;
        g->more = more;
        g->m.payload = render_digest(d, g);
        return g;
}

/* Webhook mode: a routine message folds into the channel's digest still waiting to be sent,
 * so that a backlog holds one digest per channel rather than a message per event (the outbox
 * stays small). Consumes om and returns true when it folded. */
static bool fold_into_digest(struct slack_delivery *d, struct slack_outbox_msg *om)
{
        struct slack_delivery_msg *g = NULL;

        if (d->token_mode || !om->routine)
                return false;
        for (struct slack_delivery_msg *m = d->head; m && !g; m = m->next)
                if (m->digest && msg_untouched(m) && streq_ptr(m->m.channel, om->channel))
                        g = m;
        if (!g)
                return false;
        if (g->n_lines < SLACK_DIGEST_LINES)
                g->lines[g->n_lines++] = d->render.text(om->payload);
        else
                g->more++;
        free(g->m.payload);
        g->m.payload = render_digest(d, g);
        key_remember(d, om->key);
        report_fold(d, om->key, "a digest");
        slack_outbox_msg_done(om);
        return true;
}

/* Webhook mode: past SLACK_BACKLOG_AT routine messages, the channel's become a digest now
 * rather than when the next one is sent. */
static void digest_backlog(struct slack_delivery *d, const char *channel)
{
        struct slack_delivery_msg *first = NULL;

        if (d->token_mode)
                return;
        for (struct slack_delivery_msg *m = d->head; m && !first; m = m->next)
                if (m->m.routine && msg_untouched(m) && streq_ptr(m->m.channel, channel))
                        first = m;
        if (first && routine_count(d) > SLACK_BACKLOG_AT)
                (void)digest(d, first);
}

int slack_delivery_queue(struct slack_delivery *d, struct slack_outbox_msg *om)
{
        struct slack_delivery_msg *m;

        if (fold_into_digest(d, om))
                return 0;
        if (d->n_queued >= SLACK_QUEUE_MAX) {
                struct slack_delivery_msg *victim = om->routine ? NULL : oldest_routine(d);

                if (!victim) {
                        report_drop(d, om->key, "the queue is full", 0);
                        slack_outbox_msg_done(om);
                        return -ENOBUFS;
                }
                report_drop(d, victim->m.key, "the queue is full; a warning took its place", 0);
                msg_remove(d, victim, true);
        }
        m = xcalloc(1, sizeof(*m));
        m->m = *om;
        memset(om, 0, sizeof(*om));
        append(d, m);
        if (m->m.routine)
                digest_backlog(d, m->m.channel);
        return 0;
}

int slack_delivery_release(struct slack_delivery *d, struct slack_outbox_held *h)
{
        struct slack_delivery_thread *t = NULL;
        int r = -EEXIST;

        if (h->msgs[0].key && slack_delivery_key_known(d, h->msgs[0].key))
                goto out;
        if (h->thread) {
                t = thread_find(d, h->thread);
                if (!t) {
                        t = thread_add(d, h->thread, h->write_usec);
                        /* an event another daemon may have announced (it held the canary
                         * before): so may it have the thread's parent, look for it first */
                        t->t.parent_maybe_sent = h->msgs[0].maybe_sent;
                }
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
        r = slack_delivery_queue(d, &h->msgs[0]);
        if (r == 0 && t)
                coalesce(d, t);
        if (r == 0 && h->n_msgs > 1)
                (void)slack_delivery_queue(d, &h->msgs[1]);
        if (r == 0 && d->token_mode)
                coalesce_backlog(d);
out:
        slack_outbox_held_done(h);
        return r;
}

/* ---- write-ahead ----------------------------------------------------------------------------- */

int slack_delivery_hold(struct slack_delivery *d, struct slack_outbox_held *h,
                        const struct slack_outbox_held **ret)
{
        const char *key = h->msgs[0].key;
        int r = 0;

        if (!h->canary || h->write_usec == 0)
                r = -EINVAL;
        else if (key && (slack_delivery_key_known(d, key) || slack_delivery_key_held(d, key)))
                r = -EEXIST;
        else if (d->n_held >= SLACK_HELD_MAX)
                r = -ENOBUFS;
        if (r < 0) {
                slack_outbox_held_done(h);
                return r;
        }
        d->held = xrealloc(d->held, (d->n_held + 1) * sizeof(*d->held));
        d->held[d->n_held] = *h; /* moved */
        memset(h, 0, sizeof(*h));
        if (ret)
                *ret = &d->held[d->n_held];
        d->n_held++;
        return 0;
}

void slack_delivery_replay(struct slack_delivery *d, bool queued, struct slack_outbox_held *h)
{
        const char *key = h->msgs[0].key;

        if (key && (slack_delivery_key_known(d, key) || slack_delivery_key_held(d, key))) {
                slack_outbox_held_done(h);
                return;
        }
        if (queued) {
                (void)slack_delivery_release(d, h); /* consumes h */
                return;
        }
        if (d->n_held >= SLACK_HELD_MAX) {
                report_drop(d, key, "the write-ahead log holds more than it may", 0);
                slack_outbox_held_done(h);
                return;
        }
        d->held = xrealloc(d->held, (d->n_held + 1) * sizeof(*d->held));
        d->held[d->n_held++] = *h; /* moved */
        memset(h, 0, sizeof(*h));
}

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

static void held_remove(struct slack_delivery *d, size_t i)
{
        memmove(&d->held[i], &d->held[i + 1], (d->n_held - i - 1) * sizeof(*d->held));
        d->n_held--;
}

struct slack_resolution slack_delivery_resolve(struct slack_delivery *d, const char *canary,
                                               const struct slack_seen *seen, usec_t now)
{
        struct slack_resolution res = {0};
        size_t i = 0;

        while (i < d->n_held) {
                struct slack_outbox_held h = d->held[i];
                bool mine = strcmp(h.canary, canary) == 0;
                bool expired = now > h.write_usec && now - h.write_usec > SLACK_HELD_MAX_AGE_USEC;
                enum held_fate fate = mine ? held_fate(&h, seen, now) : HELD_DROP;

                if ((!mine && !expired) || fate == HELD_KEEP) {
                        if (fate == HELD_KEEP) {
                                usec_t at = h.write_usec + SLACK_HELD_INFLIGHT_USEC;
                                res.recheck_at =
                                    res.recheck_at && res.recheck_at < at ? res.recheck_at : at;
                        }
                        i++;
                        continue;
                }
                held_remove(d, i);
                res.changed = true;
                if (fate == HELD_RELEASE) {
                        if (slack_delivery_release(d, &h) == 0)
                                res.released++; /* -ENOBUFS: the queue reported the drop */
                        continue;
                }
                if (mine)
                        res.dropped++; /* the write did not land: the event did not happen */
                else
                        report_drop(d, h.msgs[0].key, "its state write was never confirmed", 0);
                slack_outbox_held_done(&h);
        }
        return res;
}

size_t slack_delivery_forget_write(struct slack_delivery *d, const char *canary, usec_t write_usec)
{
        size_t dropped = 0, i = 0;

        while (i < d->n_held) {
                if (strcmp(d->held[i].canary, canary) != 0 || d->held[i].write_usec != write_usec) {
                        i++;
                        continue;
                }
                slack_outbox_held_done(&d->held[i]);
                held_remove(d, i);
                dropped++;
        }
        return dropped;
}

/* ---- choosing what to send next -------------------------------------------------------------- */

static bool channel_seen(const char **seen, size_t n, const char *ch)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(seen[i], ch) == 0)
                        return true;
        return false;
}

/* Offers one candidate: taken when its channel is free now; else the channel's wait counts
 * toward the next wake-up and later candidates of that channel keep their order behind it. */
static bool offer(struct slack_delivery *d, const struct slack_pick *p, usec_t now,
                  const char **seen, size_t *n_seen, usec_t *wake)
{
        usec_t next_send;

        if (channel_seen(seen, *n_seen, p->channel))
                return false;
        if (*n_seen < 2 * SLACK_CHANNELS_MAX + 2)
                seen[(*n_seen)++] = p->channel;
        next_send = *slot(d, p->channel);
        if (next_send <= now)
                return true;
        if (next_send < *wake)
                *wake = next_send;
        return false;
}

bool slack_delivery_pick(struct slack_delivery *d, usec_t now, struct slack_pick *ret,
                         usec_t *ret_wake)
{
        const char *seen[2 * SLACK_CHANNELS_MAX + 2];
        size_t n_seen = 0;

        *ret_wake = USEC_INFINITY;
        if (d->busy)
                return false; /* one request at a time: its answer reschedules */
        /* warnings and errors first, then routine messages: each pass in queue order */
        for (int pass = 0; pass < 2; pass++)
                for (struct slack_delivery_msg *m = d->head; m; m = m->next) {
                        struct slack_pick p = {.msg = m, .channel = msg_channel(d, m)};
                        struct slack_delivery_thread *t =
                            d->token_mode ? thread_find(d, m->m.thread) : NULL;

                        if (m->m.routine != (pass == 1))
                                continue;
                        if (t && !t->t.ts) {
                                /* the parent opens the thread first */
                                if (t->inflight)
                                        continue;
                                p.op = t->t.parent_maybe_sent ? SLACK_OP_VERIFY_PARENT
                                                              : SLACK_OP_PARENT;
                                p.thread = (size_t)(t - d->threads);
                                p.msg = NULL;
                        } else {
                                p.op = d->token_mode && m->m.maybe_sent ? SLACK_OP_VERIFY
                                                                        : SLACK_OP_POST;
                        }
                        if (offer(d, &p, now, seen, &n_seen, ret_wake)) {
                                *ret = p;
                                return true;
                        }
                }
        for (size_t i = 0; d->token_mode && i < d->n_threads; i++) {
                struct slack_delivery_thread *t = &d->threads[i];
                struct slack_pick p = {.thread = i, .channel = d->channel ? d->channel : ""};

                if (t->inflight || thread_has_msgs(d, t->t.id))
                        continue;
                if (thread_open(t) && t->t.update_pending)
                        p.op = SLACK_OP_UPDATE;
                else if (!t->t.ts && t->t.parent_maybe_sent)
                        p.op = SLACK_OP_VERIFY_PARENT; /* finish what a crash interrupted */
                else if (!t->t.ts && t->t.update_pending)
                        /* events were folded into a parent not posted yet (its post failed,
                         * then a backlog folded the rest): the parent carries them, so it
                         * must go out even with no message left to open it */
                        p.op = SLACK_OP_PARENT;
                else
                        continue;
                if (offer(d, &p, now, seen, &n_seen, ret_wake)) {
                        *ret = p;
                        return true;
                }
        }
        return false;
}

bool slack_delivery_begin(struct slack_delivery *d, struct slack_pick *p)
{
        struct slack_delivery_msg *m;

        if (d->token_mode || p->op != SLACK_OP_POST)
                return true;
        if (p->msg->m.routine) {
                /* a backlog goes as one message (p's message may be freed: so may its channel) */
                p->msg = digest(d, p->msg);
                p->channel = msg_channel(d, p->msg);
        }
        m = p->msg;
        if (m->m.maybe_sent && m->m.resent) {
                /* The marked re-send may have landed too (a crash or a timeout cut it): a third
                 * copy could be a second duplicate. Stop here. */
                report_drop(d, m->m.key, "not sent again: its marked re-send may have landed",
                            m->attempts > 2 ? m->attempts : 2);
                msg_remove(d, m, false);
                return false;
        }
        if (m->m.maybe_sent) {
                /* webhooks cannot be read back: a message that may have landed is re-sent
                 * once, marked */
                char *marked = d->render.mark_resent(m->m.payload);

                if (marked) {
                        free(m->m.payload);
                        m->m.payload = marked;
                }
                m->m.resent = true;
        }
        return true;
}

void slack_delivery_abandon(struct slack_delivery *d, const struct slack_pick *p,
                            const char *reason)
{
        if (p->msg) {
                report_drop(d, p->msg->m.key, reason, 0);
                msg_remove(d, p->msg, false);
                return;
        }
        if (p->op == SLACK_OP_PARENT || p->op == SLACK_OP_UPDATE)
                d->threads[p->thread].t.update_pending = false;
}

bool slack_delivery_attempt(struct slack_delivery *d, const struct slack_pick *p, usec_t now)
{
        /* An attempt may land even when its answer never arrives: noted before it goes. */
        if (p->msg) {
                p->msg->inflight = true;
                p->msg->attempts++;
                if (p->op == SLACK_OP_POST)
                        p->msg->m.maybe_sent = true;
        } else {
                struct slack_delivery_thread *t = &d->threads[p->thread];

                t->inflight = true;
                if (p->op == SLACK_OP_PARENT)
                        t->t.parent_maybe_sent = true;
                if (p->op == SLACK_OP_PARENT || p->op == SLACK_OP_UPDATE)
                        t->t.update_pending = false; /* the request shows the whole timeline */
        }
        d->busy = true;
        d->inflight = *p;
        d->inflight_channel = xstrdup(p->channel);
        d->inflight.channel = d->inflight_channel;
        if (p->op != SLACK_OP_VERIFY && p->op != SLACK_OP_VERIFY_PARENT)
                delay_channel(d, p->channel, now + d->pace_usec);
        return p->op == SLACK_OP_POST || p->op == SLACK_OP_PARENT;
}

const struct slack_pick *slack_delivery_inflight(const struct slack_delivery *d)
{
        return d->busy ? &d->inflight : NULL;
}

const char *slack_delivery_pick_key(const struct slack_delivery *d, const struct slack_pick *p)
{
        if (p->msg)
                return p->msg->m.key;
        return d->threads[p->thread].parent_key;
}

/* ---- what an answer does --------------------------------------------------------------------- */

static usec_t backoff(const struct slack_delivery *d, unsigned attempts)
{
        usec_t b = d->backoff_base_usec
                   << (attempts > 1 ? (attempts - 1 < 16 ? attempts - 1 : 16) : 0);

        return b > SLACK_BACKOFF_MAX_USEC ? SLACK_BACKOFF_MAX_USEC : b;
}

static void note_delivered(struct slack_delivery *d, const char *ts)
{
        d->delivered++;
        if (ts) {
                free(d->last_ts);
                d->last_ts = xstrdup(ts);
        }
}

static void msg_done(struct slack_delivery *d, const struct slack_pick *f,
                     const struct slack_outcome *o, usec_t now)
{
        struct slack_delivery_msg *m = f->msg;

        m->inflight = false;
        switch (o->kind) {
        case SLACK_OUTCOME_OK:
                if (f->op == SLACK_OP_VERIFY && !o->found) {
                        m->m.maybe_sent = false; /* not there: send it now */
                        m->attempts = 0;
                        return;
                }
                note_delivered(d, o->ts);
                msg_remove(d, m, true);
                return;
        case SLACK_OUTCOME_RATELIMITED:
                m->attempts--; /* waiting our turn is not a failure */
                delay_channel(d, f->channel, now + o->wait);
                if (f->op == SLACK_OP_POST)
                        m->m.maybe_sent = false; /* a 429 posted nothing */
                return;
        case SLACK_OUTCOME_RETRY:
                if (f->op == SLACK_OP_POST && !o->ambiguous)
                        m->m.maybe_sent = false;
                if (m->attempts >= SLACK_MAX_ATTEMPTS) {
                        report_drop(d, m->m.key, o->reason, m->attempts);
                        msg_remove(d, m, false);
                        return;
                }
                delay_channel(d, f->channel, now + backoff(d, m->attempts));
                return;
        case SLACK_OUTCOME_PERMANENT:
                if (f->op == SLACK_OP_VERIFY) {
                        /* the thread is gone or unreadable: post, at worst once more */
                        m->m.maybe_sent = false;
                        return;
                }
                report_drop(d, m->m.key, o->reason, m->attempts);
                msg_remove(d, m, false);
                return;
        }
}

static void thread_op_done(struct slack_delivery *d, const struct slack_pick *f,
                           const struct slack_outcome *o, usec_t now)
{
        struct slack_delivery_thread *t = &d->threads[f->thread];

        t->inflight = false;
        switch (o->kind) {
        case SLACK_OUTCOME_OK:
                t->attempts = 0;
                if (f->op == SLACK_OP_VERIFY_PARENT) {
                        if (o->found && o->ts)
                                set_thread_ts(d, t, o->ts, NULL);
                        else
                                t->t.parent_maybe_sent = false; /* post it now */
                        if (o->found)
                                t->t.update_pending = true;
                        return;
                }
                if (f->op == SLACK_OP_PARENT) {
                        if (o->ts)
                                set_thread_ts(d, t, o->ts, o->channel);
                        else
                                t->t.parent_maybe_sent = false; /* no ts: cannot thread */
                        note_delivered(d, o->ts);
                }
                return;
        case SLACK_OUTCOME_RATELIMITED:
                delay_channel(d, f->channel, now + o->wait);
                if (f->op == SLACK_OP_PARENT)
                        t->t.parent_maybe_sent = false;
                if (f->op == SLACK_OP_UPDATE)
                        t->t.update_pending = true;
                return;
        case SLACK_OUTCOME_RETRY:
                if (f->op == SLACK_OP_PARENT && !o->ambiguous)
                        t->t.parent_maybe_sent = false;
                if (f->op == SLACK_OP_UPDATE)
                        t->t.update_pending = true;
                if (++t->attempts >= SLACK_MAX_ATTEMPTS) {
                        report_drop(d, f->op == SLACK_OP_UPDATE ? NULL : t->parent_key, o->reason,
                                    t->attempts);
                        t->attempts = 0;
                        t->t.update_pending = false;
                        if (f->op == SLACK_OP_PARENT || f->op == SLACK_OP_VERIFY_PARENT)
                                thread_unthread(t);
                        return;
                }
                delay_channel(d, f->channel, now + backoff(d, t->attempts));
                return;
        case SLACK_OUTCOME_PERMANENT:
                t->attempts = 0;
                if (f->op == SLACK_OP_UPDATE) {
                        /* message_not_found, edit_window_closed: the thread goes on */
                        report_drop(d, NULL, o->reason, 1);
                        t->t.update_pending = false;
                        return;
                }
                if (f->op == SLACK_OP_VERIFY_PARENT) {
                        t->t.parent_maybe_sent = false;
                        return;
                }
                report_drop(d, t->parent_key, o->reason, 1);
                thread_unthread(t);
                return;
        }
}

bool slack_delivery_done(struct slack_delivery *d, const struct slack_outcome *o, usec_t now)
{
        struct slack_pick f;
        char *channel;
        bool may_have_landed;

        if (!d->busy)
                return false;
        f = d->inflight;
        channel = d->inflight_channel; /* f's until the end */
        d->busy = false;
        d->inflight_channel = NULL;
        memset(&d->inflight, 0, sizeof(d->inflight));
        if (f.msg)
                msg_done(d, &f, o, now);
        else
                thread_op_done(d, &f, o, now);
        may_have_landed = f.op == SLACK_OP_POST || f.op == SLACK_OP_PARENT;
        free(channel);
        return may_have_landed;
}

/* ---- counts ---------------------------------------------------------------------------------- */

size_t slack_delivery_queue_length(const struct slack_delivery *d)
{
        size_t n = d->n_queued;

        for (size_t i = 0; i < d->n_threads; i++)
                if (d->threads[i].t.update_pending || d->threads[i].inflight)
                        n++;
        return n;
}

const char *slack_delivery_thread_ts(const struct slack_delivery *d, const char *thread)
{
        for (size_t i = 0; d && thread && i < d->n_threads; i++)
                if (strcmp(d->threads[i].t.id, thread) == 0)
                        return d->threads[i].t.ts;
        return NULL;
}
