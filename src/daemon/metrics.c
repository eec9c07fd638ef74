/* /metrics: every series of SPEC §9, named canaryd_*. Label sets stay bounded: canaries come
 * from the configuration, results, outcomes, verbs and phases from enums, HTTP codes from a
 * fixed-size tally. Gauges of a canary are shown once its state has been read. */
#include <stdio.h>

#include "canaryd/prom-text.h"
#include "canaryd/slack.h"
#include "metrics.h"
#include "pager.h"

static const double duration_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double lag_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

void metrics_init(struct daemon_metrics *m)
{
        histogram_init(&m->analysis_duration, duration_bounds,
                       sizeof(duration_bounds) / sizeof(duration_bounds[0]));
        histogram_init(&m->decision_lag, lag_bounds, sizeof(lag_bounds) / sizeof(lag_bounds[0]));
}

void metrics_keep_slack_counts(struct daemon *d)
{
        if (!d->slack)
                return;
        d->metrics.slack_sent += slack_delivered_count(d->slack);
        d->metrics.slack_coalesced += slack_coalesced_count(d->slack);
        d->metrics.slack_dropped += slack_dropped_count(d->slack);
}

/* One gauge family with a sample per loaded canary. */
static void canary_gauge(struct buf *b, const struct daemon *d, const char *name, const char *help,
                         double (*value)(const struct canary *c))
{
        prom_family(b, name, "gauge", help);
        for (size_t i = 0; i < d->n_canaries; i++) {
                const struct canary *c = &d->canaries[i];
                if (c->loaded)
                        prom_sample(b, name,
                                    (const char *[]){"canary", c->cfg->name, "namespace",
                                                     c->cfg->namespace_, NULL},
                                    value(c));
        }
}

static double weight_of(const struct canary *c)
{
        return c->state.weight;
}
static double step_of(const struct canary *c)
{
        return c->state.step;
}
static double failed_of(const struct canary *c)
{
        return c->state.failed_checks;
}
static double inconclusive_of(const struct canary *c)
{
        return c->state.inconclusive_checks;
}

static void status_tally_samples(struct buf *b, const char *name, const char *const *labels,
                                 size_t n_labels, const struct status_tally *t)
{
        const char *l[8];
        char code[8];

        for (size_t i = 0; i < n_labels; i++)
                l[i] = labels[i];
        l[n_labels] = "code";
        l[n_labels + 1] = code;
        l[n_labels + 2] = NULL;
        for (size_t i = 0; i < t->n; i++) {
                snprintf(code, sizeof(code), "%u", t->code[i]);
                prom_sample(b, name, l, (double)t->count[i]);
        }
        if (t->other) {
                snprintf(code, sizeof(code), "error");
                prom_sample(b, name, l, (double)t->other);
        }
}

static const char *const outcome_names[_OUTCOME_MAX] = {
    [OUTCOME_PROMOTED] = "promoted",
    [OUTCOME_ROLLED_BACK] = "rolled_back",
    [OUTCOME_ABORTED] = "aborted",
};

char *metrics_render(const struct daemon *d, size_t *ret_len)
{
        const struct daemon_metrics *m = &d->metrics;
        struct buf b = {0};

        canary_gauge(&b, d, "canaryd_canary_weight",
                     "Canary traffic weight in percent, as last written or read.", weight_of);
        canary_gauge(&b, d, "canaryd_canary_step", "Current step, 1-based; 0 when idle.", step_of);
        prom_family(&b, "canaryd_canary_phase", "gauge",
                    "Rollout phase: 1 for the current one, 0 for the others.");
        for (size_t i = 0; i < d->n_canaries; i++) {
                const struct canary *c = &d->canaries[i];
                if (!c->loaded)
                        continue;
                for (int p = 0; p < _ROLLOUT_PHASE_MAX; p++)
                        prom_sample(&b, "canaryd_canary_phase",
                                    (const char *[]){"canary", c->cfg->name, "namespace",
                                                     c->cfg->namespace_, "phase",
                                                     rollout_phase_to_string(p), NULL},
                                    c->state.phase == (enum rollout_phase)p);
        }
        canary_gauge(&b, d, "canaryd_canary_failed_checks",
                     "Failed analyses counted in the current rollout.", failed_of);
        canary_gauge(&b, d, "canaryd_canary_inconclusive_checks",
                     "Inconclusive analyses counted in the current rollout.", inconclusive_of);

        prom_family(&b, "canaryd_analyses_total", "counter",
                    "Analyses completed, by result (interim looks only when decisive).");
        for (size_t i = 0; i < d->n_canaries; i++) {
                const struct canary *c = &d->canaries[i];
                static const struct canary_counts zero;
                const struct canary_counts *n = canary_counts(c) ? canary_counts(c) : &zero;
                uint64_t fail =
                    (uint64_t)n->analyses[ANALYSIS_FAIL] + n->analyses[ANALYSIS_FAIL_CRITICAL];
                const char *results[] = {"pass", "fail", "inconclusive"};
                const double values[] = {(double)n->analyses[ANALYSIS_PASS], (double)fail,
                                         (double)n->analyses[ANALYSIS_INCONCLUSIVE]};
                for (size_t k = 0; k < 3; k++)
                        prom_sample(
                            &b, "canaryd_analyses_total",
                            (const char *[]){"canary", c->cfg->name, "result", results[k], NULL},
                            values[k]);
        }
        prom_family(&b, "canaryd_rollouts_total", "counter", "Rollouts ended, by outcome.");
        for (size_t i = 0; i < d->n_canaries; i++) {
                const struct canary *c = &d->canaries[i];
                const struct canary_counts *n = canary_counts(c);
                for (int k = 0; k < _OUTCOME_MAX; k++)
                        prom_sample(&b, "canaryd_rollouts_total",
                                    (const char *[]){"canary", c->cfg->name, "outcome",
                                                     outcome_names[k], NULL},
                                    n ? (double)n->rollouts[k] : 0);
        }

        prom_family(&b, "canaryd_datadog_requests_total", "counter",
                    "Datadog API answers by HTTP status (\"error\": none).");
        status_tally_samples(&b, "canaryd_datadog_requests_total", NULL, 0, &m->datadog);
        prom_family(&b, "canaryd_kubernetes_requests_total", "counter",
                    "Kubernetes API answers by verb and HTTP status (\"error\": none).");
        for (int v = 0; v < _KUBE_VERB_MAX; v++)
                status_tally_samples(&b, "canaryd_kubernetes_requests_total",
                                     (const char *[]){"verb", kube_verb_to_string(v)}, 2,
                                     &m->kube.verb[v]);

        uint64_t sent = m->slack_sent, coalesced = m->slack_coalesced, dropped = m->slack_dropped;
        if (d->slack) {
                sent += slack_delivered_count(d->slack);
                coalesced += slack_coalesced_count(d->slack);
                dropped += slack_dropped_count(d->slack);
        }
        prom_family(&b, "canaryd_slack_messages_total", "counter",
                    "Slack messages by result: sent, coalesced (folded into another), dropped.");
        prom_sample(&b, "canaryd_slack_messages_total", (const char *[]){"result", "sent", NULL},
                    (double)sent);
        prom_sample(&b, "canaryd_slack_messages_total",
                    (const char *[]){"result", "coalesced", NULL}, (double)coalesced);
        prom_sample(&b, "canaryd_slack_messages_total", (const char *[]){"result", "dropped", NULL},
                    (double)dropped);

        prom_family(&b, "canaryd_datadog_events_total", "counter",
                    "Datadog events (datadog.events) by result: sent, failed (refused or given "
                    "up), dropped (queue full).");
        for (int k = 0; k < 3; k++)
                prom_sample(&b, "canaryd_datadog_events_total",
                            (const char *[]){"result",
                                             k == 0   ? "sent"
                                             : k == 1 ? "failed"
                                                      : "dropped",
                                             NULL},
                            (double)m->datadog_events[k]);

        prom_family(&b, "canaryd_pagerduty_events_total", "counter",
                    "PagerDuty events (trigger, resolve) by result: accepted, failed (refused or "
                    "given up).");
        prom_sample(&b, "canaryd_pagerduty_events_total",
                    (const char *[]){"result", "accepted", NULL}, (double)m->pagerduty_events[0]);
        prom_sample(&b, "canaryd_pagerduty_events_total",
                    (const char *[]){"result", "failed", NULL}, (double)m->pagerduty_events[1]);
        prom_family(&b, "canaryd_pagerduty_outbox_depth", "gauge",
                    "PagerDuty events in the outbox, not yet answered for good.");
        prom_sample(&b, "canaryd_pagerduty_outbox_depth", NULL, (double)pager_pending(d->pager));

        long remaining = analysis_sched_ratelimit_remaining(d->sched);
        prom_family(&b, "canaryd_datadog_ratelimit_remaining", "gauge",
                    "X-RateLimit-Remaining of Datadog's last answer that carried it.");
        if (remaining >= 0)
                prom_sample(&b, "canaryd_datadog_ratelimit_remaining", NULL, (double)remaining);
        prom_family(&b, "canaryd_slack_queue_depth", "gauge", "Slack messages waiting to be sent.");
        prom_sample(&b, "canaryd_slack_queue_depth", NULL,
                    d->slack ? (double)slack_queue_length(d->slack) : 0);

        prom_family(&b, "canaryd_analysis_duration_seconds", "histogram",
                    "From an analysis' start to its verdict (the Datadog queries and the judge).");
        prom_histogram(&b, "canaryd_analysis_duration_seconds", NULL, &m->analysis_duration);
        prom_family(&b, "canaryd_decision_lag_seconds", "histogram",
                    "From the end of a step's interval to its verdict's write to Kubernetes.");
        prom_histogram(&b, "canaryd_decision_lag_seconds", NULL, &m->decision_lag);

        *ret_len = b.len;
        return buf_steal(&b);
}

void metrics_count_outcome(struct canary *c, enum rollout_notify n)
{
        struct canary_counts *k = canary_counts(c);

        if (!k)
                return;
        if (n == NOTIFY_PROMOTED)
                k->rollouts[OUTCOME_PROMOTED]++;
        else if (n == NOTIFY_ROLLED_BACK)
                k->rollouts[OUTCOME_ROLLED_BACK]++;
        else if (n == NOTIFY_ABORTED)
                k->rollouts[OUTCOME_ABORTED]++;
}
