/* Freeing the Slack outbox's data (canaryd/slack-outbox.h). The delivery state machine and the
 * codec both own such values, so their destructors live with the types, below both. */

#include <stdlib.h>
#include <string.h>

#include "canaryd/slack-outbox.h"

void slack_outbox_msg_done(struct slack_outbox_msg *m)
{
        if (!m)
                return;
        free(m->key);
        free(m->thread);
        free(m->channel);
        free(m->payload);
        memset(m, 0, sizeof(*m));
}

void slack_outbox_thread_done(struct slack_outbox_thread *t)
{
        if (!t)
                return;
        free(t->id);
        free(t->channel);
        free(t->ts);
        free(t->summary);
        for (size_t i = 0; i < t->n_lines; i++)
                free(t->lines[i]);
        memset(t, 0, sizeof(*t));
}

void slack_outbox_held_done(struct slack_outbox_held *h)
{
        if (!h)
                return;
        free(h->canary);
        free(h->base_rv);
        free(h->thread);
        free(h->thread_ts);
        free(h->summary);
        free(h->line);
        for (size_t j = 0; j < h->n_msgs; j++)
                slack_outbox_msg_done(&h->msgs[j]);
        memset(h, 0, sizeof(*h));
}

void slack_outbox_done(struct slack_outbox *o)
{
        if (!o)
                return;
        for (size_t i = 0; i < o->n_msgs; i++)
                slack_outbox_msg_done(&o->msgs[i]);
        free(o->msgs);
        for (size_t i = 0; i < o->n_held; i++)
                slack_outbox_held_done(&o->held[i]);
        free(o->held);
        for (size_t i = 0; i < o->n_threads; i++)
                slack_outbox_thread_done(&o->threads[i]);
        free(o->threads);
        for (size_t i = 0; i < o->n_recent; i++)
                free(o->recent[i]);
        free(o->recent);
        memset(o, 0, sizeof(*o));
}
