/* The group commit: what one loop iteration's decisions wrote (journal lines, held Slack
 * messages) reaches the disk once, one fdatasync per journal and one outbox save for all the
 * canaries, and only then do their PUTs go out. A burst of 100 verdicts from one Datadog batch
 * costs one outbox write, not 100 (it used to be the daemon's main cost under load). */
#include <stdlib.h>
#include <string.h>

#include "canaryd/clock.h"
#include "canaryd/journal.h"
#include "canaryd/log.h"
#include "canaryd/slack.h"
#include "canaryd/util.h"
#include "commit.h"

/* The journal is written on every decision: whether its appends fail is how the daemon knows
 * its state_dir is full or read-only. Said once in the log and kept for status and /readyz;
 * rollouts go on meanwhile (the cluster holds their state). A full disk still takes a line
 * that fits in its file's last block, so one append that works says little: the trouble is
 * over once appends have worked for STATE_DIR_CLEAR_USEC since the last that failed. */
#define STATE_DIR_CLEAR_USEC (10 * USEC_PER_SEC)

static void journal_report(struct daemon *d, int r)
{
        usec_t now = now_realtime_usec();

        if (r < 0) {
                if (!d->state_dir_error) {
                        log_errno(LOG_ERR, r, "cannot append to the decision journal in %s: %m",
                                  d->config->state_dir);
                        d->state_dir_error =
                            xasprintf("cannot write the decision journal in %s: %s",
                                      d->config->state_dir, strerror(-r));
                        d->state_dir_error_usec = now;
                }
                d->state_dir_failed_usec = now;
        } else if (d->state_dir_error && now - d->state_dir_failed_usec >= STATE_DIR_CLEAR_USEC) {
                log_notice("decision journal in %s writable again", d->config->state_dir);
                d->state_dir_error = (free(d->state_dir_error), NULL);
                d->state_dir_error_usec = 0;
        }
}

void canary_journal_line(struct canary *c, char *line, bool durable)
{
        struct daemon *d = c->d;
        int r = journal_append(d->config->state_dir, c->cfg->name, d->config->journal_max_size,
                               line, false);
        free(line);
        journal_report(d, r);
        if (r >= 0) {
                c->journal_dirty = true;
                if (durable)
                        commit_push(c);
        }
}

void canary_journal(struct canary *c, char *line)
{
        canary_journal_line(c, line, true);
}

/* Syncs the lines and the outbox of every canary queued, then hands each one whose PUT waited
 * to d->committed. */
static int on_commit(sd_event_source *es, void *userdata)
{
        struct daemon *d = userdata;
        size_t n = 0;
        bool any_put = false;
        int jr = 0;

        (void)es;
        /* Detach first, and snapshot which PUTs are due: a PUT that fails at once may start the
         * canary's next cycle, whose lines and PUT belong to the next barrier. */
        for (struct canary *c = d->barrier; c; c = c->barrier_next)
                n++;
        struct canary **batch = xcalloc(n + 1, sizeof(*batch));
        bool *put = xcalloc(n + 1, sizeof(*put));
        n = 0;
        for (struct canary *c = d->barrier, *next; c; c = next) {
                next = c->barrier_next;
                c->barrier_next = NULL;
                c->barrier_queued = false;
                batch[n++] = c;
        }
        d->barrier = NULL;
        for (size_t i = 0; i < n; i++) {
                struct canary *c = batch[i];
                if (c->journal_dirty) {
                        c->journal_dirty = false;
                        int r = journal_sync(d->config->state_dir, c->cfg->name);
                        if (r < 0)
                                jr = r;
                }
                put[i] = c->put_waiting;
                c->put_waiting = false;
                any_put = any_put || put[i];
        }
        journal_report(d, jr);
        if (any_put && d->slack && slack_held_count(d->slack) > 0 && slack_sync(d->slack) < 0)
                log_warning("slack: outbox not saved: %s", slack_outbox_error(d->slack));
        for (size_t i = 0; i < n; i++) {
                struct canary *c = batch[i];
                if (put[i] && c->busy)
                        d->committed(c);
        }
        free(put);
        free(batch);
        return 0;
}

void commit_push(struct canary *c)
{
        struct daemon *d = c->d;

        if (c->barrier_queued)
                return;
        if (!d->barrier_defer &&
            sd_event_add_defer(d->event, &d->barrier_defer, on_commit, d) < 0) {
                /* no source: commit this canary alone, at once */
                c->barrier_queued = true;
                c->barrier_next = d->barrier;
                d->barrier = c;
                on_commit(NULL, d);
                return;
        }
        c->barrier_queued = true;
        c->barrier_next = d->barrier;
        d->barrier = c;
        sd_event_source_set_enabled(d->barrier_defer, SD_EVENT_ONESHOT);
}

void commit_forget(struct canary *c)
{
        struct daemon *d = c->d;

        if (c->journal_dirty && c->cfg) {
                c->journal_dirty = false;
                journal_report(d, journal_sync(d->config->state_dir, c->cfg->name));
        }
        c->put_waiting = false;
        if (!c->barrier_queued)
                return;
        for (struct canary **p = &d->barrier; *p; p = &(*p)->barrier_next)
                if (*p == c) {
                        *p = c->barrier_next;
                        break;
                }
        c->barrier_next = NULL;
        c->barrier_queued = false;
}
