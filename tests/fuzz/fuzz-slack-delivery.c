/* Fuzzes the Slack delivery state machine (src/core/slack-delivery.c) against a model of Slack
 * and of the cluster, checking after every operation the invariants the daemon relies on; any
 * violation aborts. The input is decoded as:
 *
 *   byte 0      bit 0: token mode (else webhook); bits 1-2: pace (1..4 s)
 *   3 bytes/op  operation (% 10), two parameters a and b
 *
 * Operations: queue a notice (key a % 24; thread b % 4, 0: none; routine b & 8; a routed channel of
 * ten when b & 16, else one that may have been posted already when b & 64), hold one for a canary's
 * write (a new write when b & 4), resolve a canary's writes (one landed, or none with or without a
 * resourceVersion that keeps them), forget a refused write, advance the clocks (monotonic and wall;
 * b & 128: hours of wall clock), pick and send (or give up the request when a % 16 == 0), answer
 * the request in flight (ok, ratelimited with Retry-After, retry that may or may not have landed,
 * permanent; a read-back is answered truthfully from what Slack holds), a timer's outbox write, and
 * a crash (the request in flight may land) followed by a restart from the last outbox written,
 * through the JSON codec.
 *
 * The outbox is written where the daemon writes it at once: after a hold or a queueing (the log
 * makes those durable), before an attempt that may land and after its answer, as the state
 * machine says; and whenever the input asks (the save timer).
 *
 * Invariants: a key is posted at most once in token mode (a post that may have landed and a
 * read-back that finds it count once; a read-back refused for good allows one copy more, as
 * docs/slack.md says), at most twice in webhook mode and the second copy only as
 * a marked re-send (a key dropped and reported is forgotten: it may come again); a held message
 * is picked only after a resolve said its own write landed, and one dropped with its write never
 * is; a resolve releases only the entries of the write it saw; nothing is picked while a request
 * is in flight; no pick on a channel before its pacing interval since its last send and its
 * Retry-After have passed (within one process: pacing is not saved); when nothing is picked the
 * wake-up lies in the future; the queue, the held entries, the pacing slots stay within their
 * limits and the thread table exceeds its limit only while every thread is busy.
 *
 * Liveness, at the end of the input: once Slack answers every request ok, the queue and every
 * parent update owed drain, and every key released and not reported dropped reached Slack (a
 * post, or a line of a parent that was posted or updated after the key was folded into it, or
 * a digest); a key that reached Slack only by a fold was reported folded. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/slack-delivery.h"
#include "canaryd/slack-json.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS    400
#define N_KEYS     24
#define N_CANARIES 3
#define N_WRITES   32
#define N_CHANNELS 11 /* the default and ten routed */
#define WALL_START ((usec_t)1700000000 * USEC_PER_SEC)

enum origin { ORIGIN_NONE, ORIGIN_FREE, ORIGIN_HELD, ORIGIN_RELEASED, ORIGIN_DEAD };
enum write_state { WRITE_PENDING, WRITE_LANDED, WRITE_DEAD };

struct write {
        unsigned canary;
        usec_t usec;
        enum write_state state;
};

struct harness {
        bool token;
        usec_t pace, mono, wall;
        struct slack_delivery *d;
        char *saved; /* the outbox file, as JSON */
        /* what Slack holds: posts per key, and whether the last one was a marked re-send */
        struct {
                char *key;
                unsigned posts;
                unsigned unreadable; /* read-backs refused for good: each allows a copy more */
        } slack[4 * N_KEYS];
        size_t n_slack;
        enum origin origin[N_KEYS];
        size_t origin_write[N_KEYS];
        bool folded[N_KEYS]; /* reported folded into a parent or a digest since it was queued */
        struct write writes[N_WRITES];
        size_t n_writes;
        usec_t until[N_CHANNELS]; /* no pick on the channel before */
        bool inflight;
        struct {
                enum slack_op op;
                char *key, *channel;
                bool resent;
        } f;
};

static int trace = -1; /* SLACK_FUZZ_TRACE set: each operation and send on stderr */

static const char *const CHANNELS[N_CHANNELS] = {"C0", "r1", "r2", "r3", "r4", "r5",
                                                 "r6", "r7", "r8", "r9", "r10"};

static char *fake_text(const char *payload)
{
        return xstrdup(payload);
}

static char *fake_digest(const char *const *texts, size_t n, size_t more)
{
        (void)texts;
        return xasprintf("{\"text\":\"%zu updates, %zu more\"}", n, more);
}

static char *fake_mark(const char *payload)
{
        return xasprintf("%s (re-sent)", payload);
}

static struct slack_delivery *new_delivery(const struct harness *h)
{
        return slack_delivery_new(&(struct slack_delivery_settings){
            .token_mode = h->token,
            .channel = h->token ? "C0" : NULL,
            .pace_usec = h->pace,
            .render = {.text = fake_text, .digest = fake_digest, .mark_resent = fake_mark},
        });
}

static int key_index(const char *key)
{
        int k;

        if (!key || key[0] != 'k' || sscanf(key + 1, "%d", &k) != 1 || strchr(key, '+'))
                return -1;
        return k >= 0 && k < N_KEYS ? k : -1;
}

static size_t slack_entry(struct harness *h, const char *key)
{
        for (size_t i = 0; i < h->n_slack; i++)
                if (strcmp(h->slack[i].key, key) == 0)
                        return i;
        CHECK(h->n_slack < ELEMENTSOF(h->slack));
        h->slack[h->n_slack].key = xstrdup(key);
        h->slack[h->n_slack].posts = 0;
        h->slack[h->n_slack].unreadable = 0;
        return h->n_slack++;
}

static unsigned *posts(struct harness *h, const char *key)
{
        return &h->slack[slack_entry(h, key)].posts;
}

static size_t channel_index(const char *ch)
{
        for (size_t i = 0; i < N_CHANNELS; i++)
                if (strcmp(CHANNELS[i], ch) == 0)
                        return i;
        return 0; /* webhook mode: "" is the one default channel */
}

static void save(struct harness *h)
{
        struct slack_outbox o;

        slack_delivery_snapshot(h->d, &o);
        free(h->saved);
        h->saved = slack_outbox_to_json(&o);
        slack_delivery_snapshot_done(&o);
        CHECK(h->saved);
}

/* A message landed in Slack. */
static void landed(struct harness *h, const char *key, bool resent)
{
        unsigned *n;
        size_t i;

        if (!key)
                return;
        i = slack_entry(h, key);
        n = &h->slack[i].posts;
        ++*n;
        if (h->token)
                CHECK(*n <= 1 + h->slack[i].unreadable); /* exactly once */
        else
                CHECK(*n == 1 || (*n == 2 && resent)); /* at most a marked second copy */
}

/* What the state machine reported: a dropped key is forgotten (it may be queued again). */
static void take_events(struct harness *h)
{
        struct slack_delivery_event e;

        while (slack_delivery_next_event(h->d, &e)) {
                if (e.kind == SLACK_DELIVERY_DROPPED) {
                        int k = key_index(e.key);

                        CHECK(e.reason && *e.reason);
                        if (e.key) {
                                size_t i = slack_entry(h, e.key);

                                h->slack[i].posts = h->slack[i].unreadable = 0;
                        }
                        if (k >= 0 && h->origin[k] != ORIGIN_NONE)
                                h->origin[k] = ORIGIN_DEAD; /* reported: not owed any more */
                } else if (e.kind == SLACK_DELIVERY_FOLDED) {
                        int k = key_index(e.key);

                        CHECK(e.reason && *e.reason);
                        if (k >= 0)
                                h->folded[k] = true;
                } else {
                        CHECK(e.thread && e.ts);
                }
                slack_delivery_event_done(&e);
        }
}

static void invariants(struct harness *h)
{
        size_t n = 0, busy = 0;

        for (const struct slack_delivery_msg *m = h->d->head; m; m = m->next)
                n++;
        CHECK(n == h->d->n_queued);
        CHECK(h->d->n_queued <= SLACK_QUEUE_MAX);
        CHECK(h->d->n_held <= SLACK_HELD_MAX);
        CHECK(h->d->n_slots <= SLACK_CHANNELS_MAX);
        CHECK((slack_delivery_inflight(h->d) != NULL) == h->inflight);
        for (size_t i = 0; i < h->d->n_threads; i++)
                busy += slack_delivery_thread_busy(h->d, &h->d->threads[i]);
        CHECK(h->d->n_threads <= SLACK_THREADS_MAX || busy == h->d->n_threads);
        /* a key never sits in the queue and among the held at once */
        for (const struct slack_delivery_msg *m = h->d->head; m; m = m->next)
                CHECK(!m->m.key || !slack_delivery_key_held(h->d, m->m.key));
}

static void op_queue(struct harness *h, uint8_t a, uint8_t b)
{
        struct slack_outbox_held e = {.n_msgs = 1};
        struct slack_outbox_msg *m = &e.msgs[0];
        int k = a % N_KEYS, r;
        unsigned thread = b % 4;

        m->key = xasprintf("k%d", k);
        if (slack_delivery_key_known(h->d, m->key) || slack_delivery_key_held(h->d, m->key)) {
                slack_outbox_held_done(&e);
                return;
        }
        m->routine = b & 8;
        /* an event another daemon may have posted (a shard taken over): read back first */
        m->maybe_sent = !(b & 16) && (b & 64);
        m->payload = xasprintf("{\"text\":\"k%d\"}", k);
        if (b & 16)
                m->channel = xstrdup(CHANNELS[1 + (b >> 5) % (N_CHANNELS - 1)]);
        if (thread && h->token && !m->channel) {
                e.thread = xasprintf("t%u", thread);
                e.summary = xstrdup("{\"text\":\"rollout\"}");
                e.line = xasprintf("line k%d", k);
                e.write_usec = h->wall;
                m->thread = xstrdup(e.thread);
                m->coalescible = m->routine;
                m->broadcast = !m->routine;
        }
        r = slack_delivery_release(h->d, &e);
        CHECK(r == 0 || r == -ENOBUFS);
        h->origin[k] = ORIGIN_FREE;
        h->folded[k] = false;
        save(h); /* the log's queued record */
}

static void op_hold(struct harness *h, uint8_t a, uint8_t b)
{
        struct slack_outbox_held e = {.n_msgs = 1};
        int k = a % N_KEYS, r;
        unsigned canary = b % N_CANARIES;
        size_t w = SIZE_MAX;

        for (size_t i = h->n_writes; i-- > 0;)
                if (h->writes[i].canary == canary && h->writes[i].state == WRITE_PENDING) {
                        w = i;
                        break;
                }
        if (w == SIZE_MAX || (b & 4)) {
                if (h->n_writes == N_WRITES)
                        return;
                w = h->n_writes++;
                h->wall += 1; /* every decision has its own updated_at */
                h->writes[w] = (struct write){.canary = canary, .usec = h->wall};
        }
        e.canary = xasprintf("c%u", canary);
        e.write_usec = h->writes[w].usec;
        e.base_rv = xasprintf("rv%zu", w);
        e.msgs[0].key = xasprintf("k%d", k);
        e.msgs[0].payload = xasprintf("{\"text\":\"k%d\"}", k);
        e.msgs[0].routine = b & 8;
        if (h->token && (b & 16)) {
                e.thread = xasprintf("t%u", 1 + (b >> 5) % 3);
                e.line = xasprintf("held k%d", k);
                e.msgs[0].thread = xstrdup(e.thread);
                e.msgs[0].coalescible = e.msgs[0].routine;
        }
        r = slack_delivery_hold(h->d, &e, NULL);
        CHECK(r == 0 || r == -EEXIST || r == -ENOBUFS);
        if (r == 0) {
                h->origin[k] = ORIGIN_HELD;
                h->origin_write[k] = w;
                h->folded[k] = false;
                save(h); /* the log's hold record, synced before the write */
        }
}

static void op_resolve(struct harness *h, uint8_t a, uint8_t b)
{
        unsigned canary = b % N_CANARIES;
        char name[16], rv[32];
        struct slack_seen seen = {0};
        size_t cand[N_WRITES], n = 0, w = SIZE_MAX;
        bool was_held[N_KEYS];
        struct slack_resolution res;

        for (size_t i = 0; i < h->n_writes; i++)
                if (h->writes[i].canary == canary && h->writes[i].state != WRITE_DEAD)
                        cand[n++] = i;
        snprintf(name, sizeof(name), "c%u", canary);
        if ((b & 4) && n > 0) {
                /* one write of the canary landed: no other can any more */
                w = cand[a % n];
                seen.state_usec = h->writes[w].usec;
        } else if (b & 8) {
                /* a read that shows a version some held write may be guarded by */
                snprintf(rv, sizeof(rv), "rv%u", a % N_WRITES);
                seen.rv = rv;
        }
        for (int k = 0; k < N_KEYS; k++) {
                char key[16];

                snprintf(key, sizeof(key), "k%d", k);
                was_held[k] = slack_delivery_key_held(h->d, key);
        }
        res = slack_delivery_resolve(h->d, name, &seen, h->wall);
        if (res.recheck_at)
                CHECK(res.recheck_at > h->wall - SLACK_HELD_INFLIGHT_USEC);
        if (w != SIZE_MAX) {
                h->writes[w].state = WRITE_LANDED;
                for (size_t i = 0; i < n; i++)
                        if (cand[i] != w && h->writes[cand[i]].state == WRITE_PENDING)
                                h->writes[cand[i]].state = WRITE_DEAD;
        }
        for (int k = 0; k < N_KEYS; k++) {
                char key[16];

                snprintf(key, sizeof(key), "k%d", k);
                if (!was_held[k] || slack_delivery_key_held(h->d, key))
                        continue;
                if (slack_delivery_key_known(h->d, key)) {
                        /* released: only by the write that was seen landing */
                        CHECK(w != SIZE_MAX && h->origin_write[k] == w);
                        h->origin[k] = ORIGIN_RELEASED;
                } else {
                        /* dropped, or released and dropped from a full queue */
                        if (h->origin[k] == ORIGIN_HELD)
                                h->origin[k] = w != SIZE_MAX && h->origin_write[k] == w
                                                   ? ORIGIN_RELEASED
                                                   : ORIGIN_DEAD;
                }
        }
}

static void op_forget(struct harness *h, uint8_t a, uint8_t b)
{
        char name[16];
        size_t w;

        (void)b;
        if (h->n_writes == 0)
                return;
        w = a % h->n_writes;
        if (h->writes[w].state == WRITE_LANDED)
                return; /* the world does not refuse a write that landed */
        snprintf(name, sizeof(name), "c%u", h->writes[w].canary);
        (void)slack_delivery_forget_write(h->d, name, h->writes[w].usec);
        h->writes[w].state = WRITE_DEAD;
        for (int k = 0; k < N_KEYS; k++)
                if (h->origin[k] == ORIGIN_HELD && h->origin_write[k] == w)
                        h->origin[k] = ORIGIN_DEAD;
}

static void op_advance(struct harness *h, uint8_t a, uint8_t b)
{
        usec_t step = (usec_t)a * 10 * USEC_PER_MSEC * (1 + b % 16);

        h->mono += step;
        h->wall += step;
        if (b & 128)
                h->wall += (usec_t)(b & 31) * 3600 * USEC_PER_SEC;
}

static void op_send(struct harness *h, uint8_t a, uint8_t b)
{
        struct slack_pick p;
        usec_t wake;
        size_t ch;
        int k;

        if (!slack_delivery_pick(h->d, h->mono, &p, &wake)) {
                CHECK(wake > h->mono);
                if ((b & 1) && wake != USEC_INFINITY)
                        h->mono = wake; /* sleep until then */
                return;
        }
        CHECK(!h->inflight);
        ch = channel_index(p.channel);
        CHECK(h->mono >= h->until[ch]); /* pacing and Retry-After */
        k = p.msg ? key_index(p.msg->m.key) : -1;
        if (k >= 0 && trace)
                fprintf(stderr, "  pick k%d origin %d op %d\n", k, h->origin[k], p.op);
        if (k >= 0)
                CHECK(h->origin[k] != ORIGIN_HELD && h->origin[k] != ORIGIN_DEAD);
        if (!slack_delivery_begin(h->d, &p))
                return;
        if (a % 16 == 0) {
                slack_delivery_abandon(h->d, &p, "payload is not a JSON object");
                return;
        }
        h->f.op = p.op;
        free(h->f.key);
        h->f.key = xstrdup(slack_delivery_pick_key(h->d, &p));
        h->f.resent = p.msg && p.msg->m.resent;
        free(h->f.channel);
        h->f.channel = xstrdup(p.channel);
        if (trace)
                fprintf(stderr, "  send op %d key %s channel %s resent %d\n", p.op, h->f.key,
                        p.channel, h->f.resent);
        if (slack_delivery_attempt(h->d, &p, h->mono))
                save(h); /* durable before it goes */
        h->inflight = true;
        if (p.op != SLACK_OP_VERIFY && p.op != SLACK_OP_VERIFY_PARENT)
                h->until[ch] = h->mono + h->pace;
}

static void op_answer(struct harness *h, uint8_t a, uint8_t b)
{
        struct slack_outcome o = {.reason = "fuzz"};
        bool post = h->f.op == SLACK_OP_POST || h->f.op == SLACK_OP_PARENT;
        bool verify = !post && h->f.op != SLACK_OP_UPDATE;
        size_t ch;
        char ts[32];

        if (!h->inflight)
                return;
        ch = channel_index(h->f.channel);
        snprintf(ts, sizeof(ts), "17000.%06u", (unsigned)b);
        switch (a % 5) {
        case 0:
                o.kind = SLACK_OUTCOME_OK;
                if (verify)
                        o.found = h->f.key && *posts(h, h->f.key) > 0; /* Slack tells the truth */
                /* chat.postMessage answers ok with the message's ts; a read-back that finds
                 * the key has it too */
                o.ts = (verify && !o.found) || (h->f.op == SLACK_OP_UPDATE && (b & 2)) ? NULL : ts;
                if (post)
                        landed(h, h->f.key, h->f.resent);
                break;
        case 1:
                o.kind = SLACK_OUTCOME_RATELIMITED;
                o.wait = (usec_t)(b % 8) * USEC_PER_SEC;
                if (h->mono + o.wait > h->until[ch])
                        h->until[ch] = h->mono + o.wait;
                break;
        case 2: /* may have landed */
                o.kind = SLACK_OUTCOME_RETRY;
                o.ambiguous = true;
                if (post && (b & 1))
                        landed(h, h->f.key, h->f.resent);
                break;
        case 3:
                o.kind = SLACK_OUTCOME_RETRY;
                break;
        default:
                o.kind = SLACK_OUTCOME_PERMANENT;
                /* the thread is gone or unreadable: the state machine posts, at worst once more */
                if (verify && h->f.key)
                        h->slack[slack_entry(h, h->f.key)].unreadable++;
                break;
        }
        h->inflight = false;
        if (slack_delivery_done(h->d, &o, h->mono))
                save(h);
}

static void op_crash(struct harness *h, uint8_t a, uint8_t b)
{
        struct slack_outbox o = {0};
        char *err = NULL;
        int r;

        (void)b;
        if (h->inflight && (a & 1) && (h->f.op == SLACK_OP_POST || h->f.op == SLACK_OP_PARENT))
                landed(h, h->f.key, h->f.resent); /* it landed as the daemon died */
        h->inflight = false;
        h->d = slack_delivery_free(h->d);
        h->d = new_delivery(h);
        memset(h->until, 0, sizeof(h->until)); /* pacing is per process */
        if (!h->saved)
                return;
        r = slack_outbox_from_json(h->saved, strlen(h->saved), &o, &err);
        CHECK(r == 0);
        slack_delivery_restore(h->d, &o);
        slack_outbox_done(&o);
        /* a held key restored is held again, whatever this process made of it */
        for (int k = 0; k < N_KEYS; k++) {
                char key[16];

                snprintf(key, sizeof(key), "k%d", k);
                if (slack_delivery_key_held(h->d, key) && h->origin[k] != ORIGIN_DEAD &&
                    h->writes[h->origin_write[k]].state != WRITE_DEAD)
                        h->origin[k] = ORIGIN_HELD;
                else if (slack_delivery_key_held(h->d, key))
                        h->origin[k] = ORIGIN_DEAD;
        }
        /* a drop the outbox file did not record yet is undone: the message is owed again */
        for (const struct slack_delivery_msg *m = h->d->head; m; m = m->next) {
                int k = key_index(m->m.key);

                if (k >= 0 && h->origin[k] == ORIGIN_DEAD)
                        h->origin[k] = ORIGIN_FREE;
        }
}

/* Liveness: Slack answers every request ok from now on. Whatever was released must get out. */
static void drain(struct harness *h)
{
        for (unsigned i = 0; i < 8 * (SLACK_QUEUE_MAX + SLACK_THREADS_MAX); i++) {
                struct slack_pick p;
                usec_t wake;

                if (h->inflight) {
                        op_answer(h, 0, 1); /* ok, with a ts */
                } else if (!slack_delivery_pick(h->d, h->mono, &p, &wake)) {
                        if (wake == USEC_INFINITY)
                                break;
                        h->mono = wake;
                } else {
                        op_send(h, 1, 0); /* a: never given up */
                }
                take_events(h);
                invariants(h);
        }
        if (trace)
                fprintf(stderr, "drained: %zu queued or owed\n", slack_delivery_queue_length(h->d));
        CHECK(!h->inflight);
        CHECK(slack_delivery_queue_length(h->d) == 0);
        for (size_t i = 0; i < h->d->n_threads; i++)
                CHECK(!slack_delivery_thread_busy(h->d, &h->d->threads[i]));
        for (int k = 0; k < N_KEYS; k++) {
                char key[16];

                if (h->origin[k] != ORIGIN_FREE && h->origin[k] != ORIGIN_RELEASED)
                        continue;
                snprintf(key, sizeof(key), "k%d", k);
                /* posted, or folded into a parent or a digest: reported so, and remembered as
                 * delivered (the parent owes nothing any more, checked above) */
                CHECK(*posts(h, key) > 0 || (h->folded[k] && slack_delivery_key_known(h->d, key)));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct harness h = {0};
        size_t ops = 0;

        if (trace < 0)
                trace = getenv("SLACK_FUZZ_TRACE") != NULL;

        if (size < 1)
                return 0;
        h.token = data[0] & 1;
        h.pace = (usec_t)(1 + ((data[0] >> 1) & 3)) * USEC_PER_SEC;
        h.mono = USEC_PER_SEC;
        h.wall = WALL_START;
        h.d = new_delivery(&h);
        for (size_t i = 1; i + 3 <= size && ops < MAX_OPS; i += 3, ops++) {
                uint8_t a = data[i + 1], b = data[i + 2];

                if (trace)
                        fprintf(stderr, "op %u a %u b %u: mono %llu inflight %d\n", data[i] % 10, a,
                                b, (unsigned long long)h.mono, h.inflight);

                switch (data[i] % 10) {
                case 0:
                        op_queue(&h, a, b);
                        break;
                case 1:
                        op_hold(&h, a, b);
                        break;
                case 2:
                        op_resolve(&h, a, b);
                        break;
                case 3:
                        op_forget(&h, a, b);
                        break;
                case 4:
                        op_advance(&h, a, b);
                        break;
                case 5:
                case 6:
                        op_send(&h, a, b);
                        break;
                case 7:
                        op_answer(&h, a, b);
                        break;
                case 8:
                        save(&h);
                        break;
                default:
                        op_crash(&h, a, b);
                        break;
                }
                take_events(&h);
                invariants(&h);
        }
        drain(&h);
        slack_delivery_free(h.d);
        free(h.saved);
        for (size_t i = 0; i < h.n_slack; i++)
                free(h.slack[i].key);
        free(h.f.key);
        free(h.f.channel);
        return 0;
}
