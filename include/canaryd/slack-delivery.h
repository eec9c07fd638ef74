/* Slack delivery as a pure state machine (docs/slack.md): the outbox in memory (messages queued,
 * rollout threads, keys delivered lately, notifications held until their state write lands),
 * pacing per channel, backoff, coalescing and digests, what to send next given the time, and
 * what an answer does. No I/O, no clock (every time is an argument), no logging, no wire format:
 * the caller (src/io/slack.c) sends, classifies the answer into a struct slack_outcome, writes
 * the outbox when told, and reports the events this returns (a drop with its reason, a thread's
 * parent ts). tests/fuzz/fuzz-slack-delivery.c checks its invariants.
 *
 * The two clocks: `now` of slack_delivery_pick/attempt/done is CLOCK_MONOTONIC (pacing); that
 * of slack_delivery_resolve and a hold's write_usec are wall clock (they compare with the state
 * a write carries). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/slack-outbox.h"
#include "canaryd/util.h"

#define SLACK_MAX_ATTEMPTS 6
/* Token mode: a thread with more pending replies than this folds its oldest coalescible ones
 * into the parent's timeline instead of posting each. */
#define SLACK_COALESCE_AT 3
/* Slack at scale (SPEC §7): with more routine messages queued than this, token mode folds every
 * coalescible one into its thread's parent; webhook mode sends them as digests of at most
 * SLACK_DIGEST_LINES lines (the rest counted in the digest's last line). Warnings and errors go
 * first and are never folded; when the queue is full, a warning or error takes the place of the
 * oldest routine message. */
#define SLACK_BACKLOG_AT   8
#define SLACK_DIGEST_LINES 20

#define SLACK_HELD_MAX_AGE_USEC (24 * 3600 * USEC_PER_SEC)
/* How long a write may reach the API server after its decision (the API server's default
 * request timeout is one minute) */
#define SLACK_HELD_INFLIGHT_USEC (60 * USEC_PER_SEC)

#define SLACK_RECENT_KEYS      1024 /* delivered keys remembered in memory */
#define SLACK_RECENT_SAVED     256  /* ... and in the outbox file */
#define SLACK_THREADS_MAX      256  /* idle threads beyond this are forgotten, oldest first */
#define SLACK_CHANNELS_MAX     8    /* pacing slots; more channels share the last one */
#define SLACK_BACKOFF_MAX_USEC (60 * USEC_PER_SEC)

/* What is known of the canary's object, for slack_delivery_resolve(). */
struct slack_seen {
        usec_t state_usec; /* updated_at of the state it carries (0: none, or see rv) */
        /* NULL: a write of ours carrying state_usec landed (state_usec 0: was refused for sure,
         * or nothing is known), so no other held write of the canary can land any more.
         * Otherwise the resourceVersion a read showed: a held write guarded by this very
         * version may still be on its way (sent by a daemon that died before the API server
         * applied it) and is kept for SLACK_HELD_INFLIGHT_USEC after its decision. */
        const char *rv;
};

/* The payload transformations the state machine needs, given by the caller (the codec's
 * slack_payload_text, slack_render_digest and slack_payload_mark_resent), so that core knows no
 * JSON. Each returns an owned string, or NULL when the payload is not a message. */
struct slack_delivery_render {
        char *(*text)(const char *payload);
        char *(*digest)(const char *const *texts, size_t n, size_t more);
        char *(*mark_resent)(const char *payload);
};

struct slack_delivery_settings {
        bool token_mode;          /* Web API (threads, read-backs) rather than a webhook */
        const char *channel;      /* token mode: the default channel, also its pacing slot's name */
        usec_t pace_usec;         /* minimum gap between sends per channel; 0 = 1 s */
        usec_t backoff_base_usec; /* first retry delay, doubled per attempt; 0 = 1 s */
        struct slack_delivery_render render;
};

/* One queued message. Read-only outside slack-delivery.c. */
struct slack_delivery_msg {
        struct slack_delivery_msg *next;
        struct slack_outbox_msg m;
        unsigned attempts; /* sends that ended in a retryable failure or are in flight */
        bool inflight;
        /* webhook digest built in this process: its lines (owned), so that later routine
         * messages fold into it; a digest restored from the outbox has none and stays as is */
        bool digest;
        char *lines[SLACK_DIGEST_LINES];
        size_t n_lines, more;
};

/* One rollout thread (token mode). Read-only outside slack-delivery.c. */
struct slack_delivery_thread {
        struct slack_outbox_thread t;
        char *parent_key;  /* the parent message's idempotency key */
        unsigned attempts; /* parent post or update, consecutive failures */
        bool inflight;
};

enum slack_op {
        SLACK_OP_POST,         /* a message: chat.postMessage or the webhook */
        SLACK_OP_PARENT,       /* a thread's parent: chat.postMessage */
        SLACK_OP_UPDATE,       /* a thread's parent: chat.update */
        SLACK_OP_VERIFY,       /* a message that may have landed: read back */
        SLACK_OP_VERIFY_PARENT /* a parent that may have landed: read back */
};

/* What to send next. msg and channel are borrowed from the state machine. */
struct slack_pick {
        enum slack_op op;
        struct slack_delivery_msg *msg; /* SLACK_OP_POST, SLACK_OP_VERIFY */
        size_t thread;                  /* the other ops: index into the threads */
        const char *channel;            /* the pacing slot */
};

/* What an answer means; the caller classifies the HTTP result. */
enum slack_outcome_kind {
        SLACK_OUTCOME_OK,
        SLACK_OUTCOME_RATELIMITED, /* 429 or ok:false ratelimited: wait, not an attempt */
        SLACK_OUTCOME_RETRY,       /* 5xx, transport error, not an API answer: back off */
        SLACK_OUTCOME_PERMANENT    /* other 4xx, ok:false */
};

struct slack_outcome {
        enum slack_outcome_kind kind;
        bool ambiguous;      /* RETRY: the message may have been posted anyway */
        usec_t wait;         /* RATELIMITED: Retry-After */
        const char *ts;      /* OK: the message's ts (NULL: none); borrowed */
        const char *channel; /* OK: the channel ID Slack answered with (NULL: none); borrowed */
        bool found;          /* OK of a read-back: the key is there */
        const char *reason;  /* not OK: why, without secrets; borrowed */
};

/* Something the caller reports: a dropped message (key may be NULL; reason says why and after
 * how many attempts), a routine message folded into its thread's parent or a digest by a
 * backlog (key may be NULL; reason says into what), or a thread whose parent ts became known.
 * Owned strings. */
enum slack_delivery_event_kind {
        SLACK_DELIVERY_DROPPED,
        SLACK_DELIVERY_FOLDED,
        SLACK_DELIVERY_THREAD_TS
};

struct slack_delivery_event {
        enum slack_delivery_event_kind kind;
        char *key, *reason; /* DROPPED, FOLDED */
        char *thread, *ts;  /* THREAD_TS */
};

struct slack_delivery {
        bool token_mode;
        char *channel;
        usec_t pace_usec, backoff_base_usec;
        struct slack_delivery_render render;

        struct slack_delivery_msg *head, *tail;
        size_t n_queued;                /* the one in flight included */
        struct slack_outbox_held *held; /* write-ahead entries, oldest first */
        size_t n_held;
        struct slack_delivery_thread *threads;
        size_t n_threads;
        struct {
                char *name;
                usec_t next_send; /* CLOCK_MONOTONIC */
        } slots[SLACK_CHANNELS_MAX];
        size_t n_slots;
        char *recent[SLACK_RECENT_KEYS]; /* delivered keys, a ring */
        size_t recent_next;

        bool busy;                  /* a request is in flight: inflight says which */
        struct slack_pick inflight; /* its channel is inflight_channel */
        char *inflight_channel;     /* owned: the pacing slot's name outlives a message */

        struct slack_delivery_event *events; /* not yet taken by the caller, oldest first */
        size_t n_events;

        size_t delivered, dropped, coalesced;
        char *last_ts;
};

/* Returns a new, empty state machine (owned: slack_delivery_free). */
struct slack_delivery *slack_delivery_new(const struct slack_delivery_settings *s);
struct slack_delivery *slack_delivery_free(struct slack_delivery *d); /* NULL-safe; NULL */

/* Takes over what an outbox file holds (its members are moved out; o is still the caller's to
 * slack_outbox_done). Held entries wait for their canary's first slack_delivery_resolve. */
void slack_delivery_restore(struct slack_delivery *d, struct slack_outbox *o);
/* Fills *ret with what the outbox file must hold (all but log_seq). Its arrays are owned by the
 * caller (slack_delivery_snapshot_done), their contents borrowed from d. */
void slack_delivery_snapshot(const struct slack_delivery *d, struct slack_outbox *ret);
void slack_delivery_snapshot_done(struct slack_outbox *o);

/* A key queued, in flight or delivered lately; a key held. */
bool slack_delivery_key_known(const struct slack_delivery *d, const char *key);
bool slack_delivery_key_held(const struct slack_delivery *d, const char *key);

/* Queues one message (*om moved, zeroed even on failure) outside any thread. -ENOBUFS when the
 * queue is full (the message is dropped and reported; a warning or error takes the place of
 * the oldest routine message instead). */
int slack_delivery_queue(struct slack_delivery *d, struct slack_outbox_msg *om);
/* Hands an event's messages to delivery: its thread takes the summary and timeline line, the
 * parent owes an update, the messages are queued. Consumes *h. -EEXIST when its key is known
 * (nothing changes), -ENOBUFS when the queue is full. */
int slack_delivery_release(struct slack_delivery *d, struct slack_outbox_held *h);
/* Holds an event's messages (write-ahead) until slack_delivery_resolve (*h consumed). -EEXIST
 * for a key held, queued or delivered, -ENOBUFS when SLACK_HELD_MAX are held, -EINVAL without
 * canary or write_usec. *ret (may be NULL) gets the entry held, borrowed until the next call. */
int slack_delivery_hold(struct slack_delivery *d, struct slack_outbox_held *h,
                        const struct slack_outbox_held **ret);
/* A record of the outbox log beyond the file: a held entry waits again, a queued one (queued:
 * true) is released. Consumes *h; known keys are skipped. */
void slack_delivery_replay(struct slack_delivery *d, bool queued, struct slack_outbox_held *h);

struct slack_resolution {
        size_t released;   /* held entries of the canary queued */
        size_t dropped;    /* held entries of the canary dropped (their write did not land) */
        usec_t recheck_at; /* when to read again for the entries kept (0: none) */
        bool changed;      /* the outbox changed (also through expired entries of others) */
};
/* Resolves the canary's held entries against what is seen; entries of any canary older than
 * SLACK_HELD_MAX_AGE_USEC at now (wall clock) are dropped and reported. */
struct slack_resolution slack_delivery_resolve(struct slack_delivery *d, const char *canary,
                                               const struct slack_seen *seen, usec_t now);
/* A write carrying write_usec was refused for sure: drops its held entries only. */
size_t slack_delivery_forget_write(struct slack_delivery *d, const char *canary, usec_t write_usec);

/* What to send next at now (monotonic): true with *ret when a channel is free; *ret_wake gets
 * the earliest time a candidate's channel frees (USEC_INFINITY: nothing waits). Nothing while
 * a request is in flight. Changes nothing the outbox holds. */
bool slack_delivery_pick(struct slack_delivery *d, usec_t now, struct slack_pick *ret,
                         usec_t *ret_wake);
/* Prepares a pick for sending: webhook mode turns a routine backlog into a digest (p->msg may
 * change) and marks a message that may have landed as a re-send; a message whose marked re-send
 * may have landed too is dropped instead. Returns false when p is not to be sent (dropped). */
bool slack_delivery_begin(struct slack_delivery *d, struct slack_pick *p);
/* The request for p cannot be built (its payload is not a message): a message is dropped with
 * reason, a parent's post or update is given up. */
void slack_delivery_abandon(struct slack_delivery *d, const struct slack_pick *p,
                            const char *reason);
/* p's request goes now: it is the one in flight, its channel paced from now. Returns true when
 * it may land, so the outbox must be written durably before it goes (a crash after it must
 * know). */
bool slack_delivery_attempt(struct slack_delivery *d, const struct slack_pick *p, usec_t now);
/* The request in flight (NULL: none) and the key its answer is about (a read-back looks for
 * it; borrowed). */
const struct slack_pick *slack_delivery_inflight(const struct slack_delivery *d);
const char *slack_delivery_pick_key(const struct slack_delivery *d, const struct slack_pick *p);
/* What the answer to the request in flight does, at now (monotonic). Returns true when it
 * answered an attempt that may have landed: the outbox is to be written at once, so that a
 * crash now does not make the next daemon read back or re-send what was delivered. */
bool slack_delivery_done(struct slack_delivery *d, const struct slack_outcome *o, usec_t now);

/* Takes the oldest event not yet taken (moved into *ret; slack_delivery_event_done frees it).
 * False when there is none. */
bool slack_delivery_next_event(struct slack_delivery *d, struct slack_delivery_event *ret);
void slack_delivery_event_done(struct slack_delivery_event *e);

/* Messages not yet delivered, dropped or coalesced (the one in flight included), and parent
 * updates still owed. */
size_t slack_delivery_queue_length(const struct slack_delivery *d);
/* The parent ts of a thread, NULL when unknown (borrowed). */
const char *slack_delivery_thread_ts(const struct slack_delivery *d, const char *thread);
/* A thread that still has something to send or check (it is not forgotten). */
bool slack_delivery_thread_busy(const struct slack_delivery *d,
                                const struct slack_delivery_thread *t);
