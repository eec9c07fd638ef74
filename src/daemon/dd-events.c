/* The Datadog events of a canary's rollouts (datadog.events; SPEC.md §10): started, promoted,
 * rolled back and aborted are posted to POST /api/v1/events once their Kubernetes write landed,
 * by the daemon that owns the canary. They go through the Datadog client as low-priority
 * requests of the query scheduler's pacing (datadog-events.h), so they never delay a decision.
 * Each outcome is logged and counted for /metrics (canaryd_datadog_events_total). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "analysis.h"
#include "canaryd/datadog-event-json.h"
#include "canaryd/datadog-events.h"
#include "canaryd/log.h"
#include "daemon.h"
#include "dd-events.h"
#include "ha.h"
#include "report-writer.h"
#include "status.h"

static void on_done(const struct datadog_events_report *r, void *userdata)
{
        struct daemon *d = userdata;

        d->metrics.datadog_events[r->outcome]++;
        if (r->outcome == DATADOG_EVENTS_SENT)
                log_info("datadog: event %s posted (id %lld, %u attempt%s)", r->label,
                         (long long)r->event_id, r->attempts, r->attempts == 1 ? "" : "s");
        else
                log_warning("datadog: event %s %s: %s (%u attempt%s)", r->label,
                            r->outcome == DATADOG_EVENTS_DROPPED ? "dropped" : "not posted",
                            r->message ? r->message : "unknown error", r->attempts,
                            r->attempts == 1 ? "" : "s");
}

int dd_events_new(struct daemon *d)
{
        return datadog_events_new(d->event, analysis_sched_queries(d->sched), NULL, on_done, d,
                                  &d->dd_events);
}

void dd_events_free(struct daemon *d)
{
        d->dd_events = datadog_events_free(d->dd_events);
}

void datadog_events_announce(struct canary *c, enum rollout_notify n)
{
        struct daemon *d = c->d;
        enum datadog_event_kind kind;
        char *body = NULL, *label;
        int r;

        switch (n) {
        case NOTIFY_STARTED:
                kind = DATADOG_EVENT_STARTED;
                break;
        case NOTIFY_PROMOTED:
                kind = DATADOG_EVENT_PROMOTED;
                break;
        case NOTIFY_ROLLED_BACK:
                kind = DATADOG_EVENT_ROLLED_BACK;
                break;
        case NOTIFY_ABORTED:
                kind = DATADOG_EVENT_ABORTED;
                break;
        default:
                return;
        }
        if (!d->config->datadog.events || !d->dd_events || !ha_owns(d, c))
                return;
        const struct rollout_state *s = &c->state;
        /* the report is written when the rollout ends: linked from the events that end it */
        char *report = kind == DATADOG_EVENT_STARTED
                           ? NULL
                           : report_link(d->config->report_url, c->cfg->name, s->started_usec);
        struct datadog_event ev = {
            .kind = kind,
            .canary = c->cfg->name,
            .namespace_ = c->cfg->namespace_,
            .revision = s->revision[0] ? s->revision : NULL,
            .reason = s->last_reason[0] ? s->last_reason : NULL,
            .actor = s->last_actor[0] ? s->last_actor : NULL,
            .link = report,
            .weight_pct = s->weight,
            .step = s->step,
            .n_steps = (unsigned)c->cfg->n_steps,
            .at_usec = s->updated_usec,
            .started_usec = s->started_usec,
        };
        r = datadog_event_build(&ev, &body);
        free(report);
        if (r < 0) {
                log_canary(LOG_WARNING, c, NULL, NULL, "datadog: cannot build the %s event: %s",
                           datadog_event_kind_to_string(kind), strerror(-r));
                return;
        }
        label = xasprintf("%s/%s", c->cfg->name, rollout_notify_to_string(n));
        /* a rollback is kept over routine events when the queue is full */
        (void)datadog_events_post(d->dd_events, body, label, kind == DATADOG_EVENT_ROLLED_BACK);
        free(label);
}
