/* PagerDuty events of the rollouts: planned by the pure alert_plan() (core/alert.c), written to
 * the outbox before they are queued, taken out of it once PagerDuty answered for good. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "canaryd/alert.h"
#include "canaryd/clock.h"
#include "canaryd/files.h"
#include "canaryd/log.h"
#include "canaryd/pager-outbox.h"
#include "canaryd/pagerduty.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"
#include "daemon.h"
#include "ha.h"
#include "pager.h"
#include "report-writer.h"
#include "status.h"

/* Retries of one event before it is given up: with the 5-minute cap, about three days. */
#define PAGER_MAX_ATTEMPTS 900

struct pager {
        struct daemon *d;
        struct pagerduty_client *client;
        char *routing_key; /* owned, a secret */
        char *path;        /* the outbox file */
        struct pager_outbox outbox;
        unsigned long *ids; /* the client's id of each outbox event, in the same order */
        bool save_failing;  /* said once until a save succeeds */
};

size_t pager_pending(const struct pager *p)
{
        return p ? p->outbox.n_events : 0;
}

/* Writes the outbox; false (said once) when it cannot, and then nothing new is queued: an event
 * that is not on disk could be sent twice, or lost, by a crash. */
static bool save(struct pager *p)
{
        char *json = pager_outbox_to_json(&p->outbox);
        int r = write_file_atomic(p->path, json, strlen(json), 0600);

        free(json);
        if (r < 0 && !p->save_failing)
                log_error("pagerduty: cannot write %s: %s; events are not sent until it can be",
                          p->path, strerror(-r));
        else if (r == 0 && p->save_failing)
                log_notice("pagerduty: %s written again", p->path);
        p->save_failing = r < 0;
        return r == 0;
}

static void drop_event(struct pager *p, size_t i)
{
        struct pager_outbox_event *e = &p->outbox.events[i];
        free(e->canary);
        free(e->dedup_key);
        free(e->action);
        free(e->body);
        memmove(e, e + 1, (p->outbox.n_events - i - 1) * sizeof(*e));
        memmove(&p->ids[i], &p->ids[i + 1], (p->outbox.n_events - i - 1) * sizeof(*p->ids));
        p->outbox.n_events--;
}

static void on_sent(const struct pagerduty_outcome *o, void *userdata)
{
        struct pager *p = userdata;
        size_t i = 0;

        while (i < p->outbox.n_events && p->ids[i] != o->id)
                i++;
        if (i == p->outbox.n_events)
                return; /* not ours any more */
        const struct pager_outbox_event *e = &p->outbox.events[i];
        const struct pagerduty_result *res = o->result;
        switch (o->status) {
        case PAGERDUTY_ACCEPTED:
                log_info("pagerduty: %s of %s accepted (%u attempt%s)", e->action, e->dedup_key,
                         o->attempts, o->attempts == 1 ? "" : "s");
                break;
        case PAGERDUTY_INVALID:
                log_error("pagerduty: %s of %s refused as invalid: %s%s%s", e->action, e->dedup_key,
                          res && res->message ? res->message : "(no message)",
                          res && res->n_errors ? ": " : "",
                          res && res->n_errors ? res->errors[0] : "");
                break;
        case PAGERDUTY_REFUSED:
                log_error("pagerduty: %s of %s refused with HTTP %ld (a wrong routing key or "
                          "URL?); not sent again",
                          e->action, e->dedup_key, o->http_status);
                break;
        case PAGERDUTY_RETRY:
                log_error("pagerduty: %s of %s given up after %u attempts (last: %s)", e->action,
                          e->dedup_key, o->attempts,
                          o->http_status ? "an HTTP error" : strerror(o->error ? o->error : EIO));
                break;
        }
        p->d->metrics.pagerduty_events[o->status == PAGERDUTY_ACCEPTED ? 0 : 1]++;
        drop_event(p, i);
        (void)save(p);
}

/* Hands outbox event i to the client. */
static void send_event(struct pager *p, size_t i)
{
        int r = pagerduty_enqueue(p->client, xstrdup(p->outbox.events[i].body), &p->ids[i]);
        if (r < 0) {
                log_error("pagerduty: cannot queue %s of %s: %s", p->outbox.events[i].action,
                          p->outbox.events[i].dedup_key, strerror(-r));
                p->ids[i] = 0; /* ids start at 1: never answered; sent by the next pager */
        }
}

/* Hands the client the events of the outbox's first n that it does not have: planned while the
 * outbox could not be written, or refused by a full queue. */
static void send_unsent(struct pager *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p->ids[i] == 0)
                        send_event(p, i);
}

int pager_new(struct daemon *d, const char *routing_key, struct pager **ret)
{
        const struct config *cfg = d->config;
        struct pager *p = xcalloc(1, sizeof(*p));
        char *text = NULL, *err = NULL;
        size_t len = 0;
        int r;

        p->d = d;
        p->routing_key = xstrdup(routing_key);
        p->path = xasprintf("%s/pagerduty-outbox.json", cfg->state_dir);
        r = read_file(p->path, PAGER_OUTBOX_FILE_MAX, &text, &len);
        if (r == 0 && pager_outbox_from_json(text, len, &p->outbox, &err) < 0) {
                char *aside = xasprintf("%s.broken", p->path);
                log_error("pagerduty: %s unreadable (%s); set aside as %s, starting afresh: "
                          "events it held are lost",
                          p->path, err, aside);
                (void)rename(p->path, aside);
                free(aside);
                r = -ENOENT;
        }
        if (r == -ENOENT) {
                /* alerting starts now: what happened before is learnt, never paged */
                p->outbox = (struct pager_outbox){.since_usec = now_realtime_usec()};
                r = save(p) ? 0 : -EIO;
        } else if (r < 0) {
                log_error("pagerduty: cannot read %s: %s", p->path, strerror(-r));
        }
        free(text);
        free(err);
        struct pagerduty_settings ps = {.base_url = cfg->pagerduty.url,
                                        .max_attempts = PAGER_MAX_ATTEMPTS};
        if (r == 0)
                r = pagerduty_client_new(d->event, d->http, &ps, on_sent, p, &p->client);
        if (r < 0) {
                pager_free(p);
                return r;
        }
        p->ids = xcalloc(PAGER_OUTBOX_EVENTS_MAX, sizeof(*p->ids));
        send_unsent(p, p->outbox.n_events);
        if (p->outbox.n_events)
                log_notice("pagerduty: sending %zu event(s) left in the outbox",
                           p->outbox.n_events);
        *ret = p;
        return 0;
}

struct pager *pager_free(struct pager *p)
{
        if (!p)
                return NULL;
        pagerduty_client_free(p->client);
        pager_outbox_done(&p->outbox);
        free_secret(p->routing_key);
        free(p->ids);
        free(p->path);
        free(p);
        return NULL;
}

/* Up to 4 failed metrics with their values, for the summary: "latency-p99 canary 0.31 vs
 * baseline 0.12, ..."; NULL when the last analysis shows none. Caller owns it. */
static char *failed_metrics(const struct canary *c)
{
        struct buf b = {0};
        size_t shown = 0;

        if (!c->last.valid)
                return NULL;
        for (size_t i = 0; i < c->last.n && shown < 4; i++) {
                const struct last_report *m = &c->last.reports[i];
                if (m->verdict != VERDICT_FAIL)
                        continue;
                buf_printf(&b, "%s%s canary %.4g vs baseline %.4g", shown ? ", " : "", m->name,
                           m->canary, m->baseline);
                shown++;
        }
        return shown ? buf_steal(&b) : (buf_free(&b), NULL);
}

static void add_detail(struct pagerduty_detail *details, size_t *n, const char *key,
                       const char *value)
{
        if (value && *value)
                details[(*n)++] = (struct pagerduty_detail){key, value};
}

/* The trigger body of an event of level `level` for c's state s. */
static char *trigger_body(const struct pager *p, const struct canary *c,
                          const struct rollout_state *s, enum rollout_notify n, unsigned level,
                          const char *dedup_key)
{
        const struct canary_config *cc = c->cfg;
        const char *event = rollout_notify_to_string(n);
        char *failed = failed_metrics(c), *summary, *body = NULL, weight[16], step[32], lv[4];
        char at[64], *report = report_link(p->d->config->report_url, cc->name, s->started_usec);
        struct pagerduty_link links[2];
        struct pagerduty_detail details[16 + 8];
        size_t n_links = 0, n_details = 0;
        char *checks[16] = {0}, *values[16] = {0};
        size_t n_checks = 0;

        summary = xasprintf("canaryd: %s (%s) %s at %u%%%s%s%s%s", cc->name, cc->namespace_, event,
                            s->weight, failed ? ": " : "", failed ? failed : "",
                            s->last_reason[0] ? (failed ? "; " : ": ") : "", s->last_reason);
        if (cc->runbook_url)
                links[n_links++] = (struct pagerduty_link){cc->runbook_url, "Runbook"};
        if (report)
                links[n_links++] = (struct pagerduty_link){report, "Rollout report"};
        snprintf(weight, sizeof(weight), "%u%%", s->weight);
        snprintf(step, sizeof(step), "%u of %zu", s->step, cc->n_steps);
        snprintf(lv, sizeof(lv), "%u", level);
        add_detail(details, &n_details, "canary", cc->name);
        add_detail(details, &n_details, "namespace", cc->namespace_);
        add_detail(details, &n_details, "event", event);
        add_detail(details, &n_details, "level", lv);
        add_detail(details, &n_details, "phase", rollout_phase_to_string(s->phase));
        add_detail(details, &n_details, "weight", weight);
        add_detail(details, &n_details, "step", step);
        add_detail(details, &n_details, "revision", s->revision);
        add_detail(details, &n_details, "reason", s->last_reason);
        add_detail(details, &n_details, "actor", s->last_actor[0] ? s->last_actor : "canaryd");
        /* the failed checks of the last analysis, one detail each */
        for (size_t i = 0; c->last.valid && i < c->last.n && n_checks < 16; i++) {
                const struct last_report *m = &c->last.reports[i];
                if (m->verdict != VERDICT_FAIL)
                        continue;
                checks[n_checks] = xasprintf("check %s", m->name);
                values[n_checks] = xasprintf(
                    "%s%s: canary %.6g (n=%zu), baseline %.6g (n=%zu): %s",
                    verdict_to_string(m->verdict), m->critical ? " (critical)" : "", m->canary,
                    m->n_canary, m->baseline, m->n_baseline, m->detail ? m->detail : "");
                details[n_details++] =
                    (struct pagerduty_detail){checks[n_checks], values[n_checks]};
                n_checks++;
        }
        struct pagerduty_event ev = {
            .action = PAGERDUTY_TRIGGER,
            .routing_key = p->routing_key,
            .dedup_key = dedup_key,
            .summary = summary,
            .source = cc->name,
            .severity = level == 1   ? PAGERDUTY_CRITICAL
                        : level == 2 ? PAGERDUTY_WARNING
                                     : PAGERDUTY_INFO,
            .timestamp = format_rfc3339(s->updated_usec, at, sizeof(at)),
            .component = cc->namespace_,
            .group = "canaryd",
            .class_ = event,
            .links = links,
            .n_links = n_links,
            .details = details,
            .n_details = n_details,
        };
        if (pagerduty_event_build(&ev, &body) < 0)
                body = NULL;
        for (size_t i = 0; i < n_checks; i++) {
                free(checks[i]);
                free(values[i]);
        }
        free(summary);
        free(failed);
        free(report);
        return body;
}

/* Puts one planned step into the outbox (saved) and hands it to the client. */
static void put_step(struct pager *p, const struct canary *c, const struct rollout_state *s,
                     enum rollout_notify n, const struct alert_step *st)
{
        char *key = pagerduty_dedup_key(c->cfg->name, st->rollout_usec), *body = NULL;

        if (st->op == ALERT_TRIGGER) {
                body = trigger_body(p, c, s, n, st->level, key);
        } else {
                struct pagerduty_event ev = {
                    .action = PAGERDUTY_RESOLVE, .routing_key = p->routing_key, .dedup_key = key};
                if (pagerduty_event_build(&ev, &body) < 0)
                        body = NULL;
        }
        if (!body || p->outbox.n_events >= PAGER_OUTBOX_EVENTS_MAX) {
                log_canary(LOG_ERR, c, NULL, NULL, "pagerduty: %s of %s not sent: %s",
                           st->op == ALERT_TRIGGER ? "trigger" : "resolve", key,
                           body ? "the outbox is full" : "the event could not be built");
                free(body);
                free(key);
                return;
        }
        size_t i = p->outbox.n_events;
        p->outbox.events = xrealloc(p->outbox.events, (i + 1) * sizeof(*p->outbox.events));
        p->outbox.events[i] = (struct pager_outbox_event){
            .canary = xstrdup(c->cfg->name),
            .dedup_key = key,
            .action = xstrdup(st->op == ALERT_TRIGGER ? "trigger" : "resolve"),
            .body = body,
        };
        p->outbox.n_events++;
        p->ids[i] = 0;
}

/* Plans for notification n of s and sends the plan, written ahead in the outbox. */
static void plan_and_send(struct pager *p, const struct canary *c, const struct rollout_state *s,
                          enum rollout_notify n)
{
        const struct alert_record *known = pager_outbox_find(&p->outbox, c->cfg->name);
        struct alert_record rec = known ? *known : (struct alert_record){0};
        struct alert_plan plan;
        if (p->save_failing && !save(p))
                return; /* nothing learnt: planned again once the outbox can be written */
        send_unsent(p, p->outbox.n_events);
        alert_plan(&rec, s, n, p->d->config->pagerduty.levels, p->outbox.since_usec, &plan);
        if (plan.n == 0)
                return; /* nothing to page: the record need not be kept */
        struct alert_record *kept = pager_outbox_record(&p->outbox, c->cfg->name);
        if (!kept) {
                log_canary(LOG_ERR, c, NULL, NULL, "pagerduty: too many canaries in the outbox");
                return;
        }
        *kept = rec;
        for (size_t i = 0; i < plan.n; i++)
                put_step(p, c, s, n, &plan.steps[i]);
        /* not on disk: not sent either (sent once the outbox can be written again) */
        if (save(p))
                send_unsent(p, p->outbox.n_events);
}

void pager_transition(struct canary *c, enum rollout_notify n)
{
        struct pager *p = c->d->pager;
        if (p && ha_owns(c->d, c))
                plan_and_send(p, c, &c->state, n);
}

void pager_observe(struct canary *c)
{
        struct pager *p = c->d->pager;
        enum rollout_notify n = alert_implied_notify(&c->state);
        if (p && n != _ROLLOUT_NOTIFY_MAX && ha_owns(c->d, c))
                plan_and_send(p, c, &c->state, n);
}
