/* The Slack outbox's data (docs/slack.md, "The outbox on disk"): the messages queued, the
 * rollout threads with their timelines, the held (written-ahead) notifications and the keys
 * delivered lately. Plain data shared by the delivery state machine (canaryd/slack-delivery.h),
 * which keeps them in memory, and the codec (canaryd/slack-json.h), which reads and writes them
 * as JSON; core, so that the state machine needs no wire format. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/util.h"

#define SLACK_TIMELINE_MAX 40
/* The most messages held (written ahead) and queued at once: the client keeps to them and an
 * outbox file holding more is refused. */
#define SLACK_HELD_MAX  256
#define SLACK_QUEUE_MAX 512

enum slack_msg_kind {
        SLACK_MSG_POST,   /* chat.postMessage or the webhook */
        SLACK_MSG_PARENT, /* token mode: the rollout's parent message (opens its thread) */
        _SLACK_MSG_KIND_MAX
};

struct slack_outbox_msg {
        char *key;        /* idempotency key (NULL: none) */
        char *thread;     /* "canary/started_usec" (NULL: not part of a rollout thread) */
        char *channel;    /* NULL: the default channel */
        char *payload;    /* rendered message */
        bool broadcast;   /* reply_broadcast: also shown in the channel */
        bool coalescible; /* may be folded into the parent's timeline when a backlog builds */
        bool routine;     /* an info event: under a backlog it may be folded into a digest or
                             the parent, and it goes after warnings and errors; never dropped
                             while it is not */
        bool maybe_sent;  /* an attempt may have landed: check (token) or mark (webhook) first */
        bool resent;      /* webhook: already marked as a re-send */
};

struct slack_outbox_thread {
        char *id;      /* "canary/started_usec" */
        char *channel; /* NULL: the default channel */
        char *ts;      /* parent message ts, NULL until posted */
        char *summary; /* latest rendered summary (parent payload without timeline) */
        char *lines[SLACK_TIMELINE_MAX];
        size_t n_lines, n_dropped_lines;
        bool update_pending; /* the parent shows less than the timeline holds */
        bool parent_maybe_sent;
        usec_t created_usec; /* wall clock, to forget old threads */
};

/* Write-ahead (docs/slack.md, "Exactly once"): a notification rendered before the state write
 * that makes it true, held until that write is known to have landed (then it is queued like
 * any other) or not to have landed (then it is dropped: the event did not happen). A write is
 * identified by its canary and the updated_at (microseconds) of the state it carries: every
 * transition sets updated_at to the decision time. */
struct slack_outbox_held {
        char *canary;      /* whose write it waits for */
        usec_t write_usec; /* updated_at of the state that write carries */
        char *base_rv;     /* resourceVersion the write is guarded by (NULL: not known) */
        char *thread;      /* token mode: the rollout thread (NULL: none) */
        char *thread_ts;   /* the parent's ts as the rollout state knew it (NULL: unknown) */
        char *summary;     /* token mode: the parent's new summary (NULL: none) */
        char *line;        /* token mode: the parent's new timeline line (NULL: none) */
        struct slack_outbox_msg msgs[2]; /* the message, then its routed copy if any */
        size_t n_msgs;
};

struct slack_outbox {
        uint64_t log_seq; /* the last record of the log (slack_outbox_log_line) it holds */
        struct slack_outbox_msg *msgs;
        size_t n_msgs;
        struct slack_outbox_held *held;
        size_t n_held;
        struct slack_outbox_thread *threads;
        size_t n_threads;
        char **recent; /* keys delivered lately, oldest first */
        size_t n_recent;
};

void slack_outbox_done(struct slack_outbox *o); /* frees the members; o itself is not freed */
void slack_outbox_held_done(struct slack_outbox_held *h); /* frees the members, zeroes *h */
/* Frees the members of one message; m itself is not freed. */
void slack_outbox_msg_done(struct slack_outbox_msg *m);
/* Frees the members of one thread; t itself is not freed. */
void slack_outbox_thread_done(struct slack_outbox_thread *t);
