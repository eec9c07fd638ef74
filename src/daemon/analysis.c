/* Runs one analysis of a canary: queries every metric for canary and baseline over the same
 * closed window, retries Datadog failures with backoff, judges, and hands the result to the
 * driver as an EV_ANALYSIS event. A data source that keeps failing makes the metric
 * inconclusive: never a pass, never a canary failure (SPEC §4). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/datadog.h"
#include "canaryd/log.h"
#include "canaryd/query.h"
#include "canaryd/state-json.h"
#include "daemon.h"

#define QUERY_ATTEMPTS     4
#define QUERY_BACKOFF_USEC (1 * USEC_PER_SEC)
#define QUERY_BACKOFF_MAX  (20 * USEC_PER_SEC)

/* One Datadog query in flight (or waiting to be retried). Owned by itself: freed when it
 * delivers or when it finds its analysis cancelled. */
struct pending_query {
        struct pending_query *next; /* in analysis->queries */
        struct canary *c;           /* NULL once orphaned by a cancel while in flight */
        bool in_flight;
        size_t metric;
        bool baseline;
        unsigned attempt;
        char *query;
        int64_t from_s, to_s;
        sd_event_source *retry;
};

static void pending_free(struct pending_query *q)
{
        if (q->c) {
                struct pending_query **p = &q->c->analysis.queries;
                while (*p && *p != q)
                        p = &(*p)->next;
                if (*p)
                        *p = q->next;
        }
        sd_event_source_disable_unref(q->retry);
        free(q->query);
        free(q);
}

void analysis_done(struct analysis *a, size_t n_metrics)
{
        if (a->samples)
                for (size_t i = 0; i < n_metrics; i++) {
                        free(a->samples[i].canary);
                        free(a->samples[i].baseline);
                        free(a->samples[i].error);
                }
        free(a->samples);
        a->samples = NULL;
        a->running = false;
        a->pending = 0;
}

void last_analysis_done(struct last_analysis *l)
{
        free(l->reports);
        memset(l, 0, sizeof(*l));
}

void analysis_cancel(struct canary *c)
{
        if (!c->analysis.running)
                return;
        c->analysis.generation++;
        /* Queries waiting for a retry go now; those in flight are orphaned and free themselves
         * when their reply (or the HTTP client's cancellation) arrives. */
        struct pending_query *q = c->analysis.queries, *next;
        for (c->analysis.queries = NULL; q; q = next) {
                next = q->next;
                q->c = NULL;
                if (!q->in_flight)
                        pending_free(q);
        }
        analysis_done(&c->analysis, c->cfg->n_metrics);
}

static void finish(struct canary *c)
{
        struct analysis *a = &c->analysis;
        const struct canary_config *cfg = c->cfg;
        struct metric_report *reports = xcalloc(cfg->n_metrics, sizeof(*reports));
        char from[40], to[40];

        format_rfc3339(a->window_start_usec, from, sizeof(from));
        format_rfc3339(a->window_end_usec, to, sizeof(to));
        for (size_t i = 0; i < cfg->n_metrics; i++) {
                struct metric_samples *s = &a->samples[i];
                struct metric_report *r = &reports[i];
                if (s->error) {
                        memset(r, 0, sizeof(*r));
                        snprintf(r->name, sizeof(r->name), "%s", cfg->metrics[i].name);
                        r->judge = cfg->metrics[i].judge;
                        r->canary = r->baseline = NAN;
                        r->verdict = VERDICT_INCONCLUSIVE;
                        snprintf(r->detail, sizeof(r->detail), "data source failed: %s", s->error);
                } else {
                        judge_metric(&cfg->metrics[i], s->canary, s->n_canary, s->baseline,
                                     s->n_baseline, r);
                }
                char canary[32], baseline[32], window[100], judge[32];
                snprintf(canary, sizeof(canary), "CANARY_VALUE=%.6g", r->canary);
                snprintf(baseline, sizeof(baseline), "BASELINE_VALUE=%.6g", r->baseline);
                snprintf(window, sizeof(window), "WINDOW=%s/%s", from, to);
                snprintf(judge, sizeof(judge), "JUDGE=%s", judge_kind_to_string(r->judge));
                char metric[96], result[32], detail[220];
                snprintf(metric, sizeof(metric), "METRIC=%s", r->name);
                snprintf(result, sizeof(result), "RESULT=%s", verdict_to_string(r->verdict));
                snprintf(detail, sizeof(detail), "DETAIL=%s", r->detail);
                const char *extra[] = {metric,   judge,  result, canary,
                                       baseline, window, detail, NULL};
                log_canary(r->verdict == VERDICT_FAIL ? LOG_WARNING : LOG_INFO, c, NULL, extra,
                           "check %s: %s", r->name, verdict_to_string(r->verdict));
        }

        double score;
        enum analysis_result result = analysis_combine(cfg, reports, cfg->n_metrics, &score);
        last_analysis_done(&c->last);
        c->last = (struct last_analysis){
            .valid = true,
            .at_usec = now_realtime_usec(),
            .window_start_usec = a->window_start_usec,
            .window_end_usec = a->window_end_usec,
            .result = result,
            .reports = reports,
            .n = cfg->n_metrics,
        };
        log_canary(LOG_NOTICE, c, NULL, NULL, "analysis %s over %s/%s%s",
                   analysis_result_to_string(result), from, to,
                   result == ANALYSIS_FAIL_CRITICAL ? " (critical metric)" : "");

        /* Name what failed, critical metrics first, for the state's reason and Slack. */
        struct buf why = {0};
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < cfg->n_metrics; i++)
                        if (reports[i].verdict == VERDICT_FAIL &&
                            cfg->metrics[i].critical == (pass == 0))
                                buf_printf(&why, "%s%s (%s)", why.len ? "; " : "", reports[i].name,
                                           reports[i].detail);
        unsigned step = a->step;
        usec_t started = a->window_start_usec;
        analysis_done(a, cfg->n_metrics);
        canary_submit_analysis(c, result, why.data, step, started);
        buf_free(&why);
}

static void deliver(struct pending_query *q, const struct datadog_result *res, bool ok)
{
        struct canary *c = q->c;
        struct metric_samples *s = &c->analysis.samples[q->metric];
        double **values = q->baseline ? &s->baseline : &s->canary;
        size_t *n = q->baseline ? &s->n_baseline : &s->n_canary;

        if (ok) {
                *values = xmalloc((res->points.n ? res->points.n : 1) * sizeof(double));
                memcpy(*values, res->points.values, res->points.n * sizeof(double));
                *n = res->points.n;
        } else if (!s->error) {
                s->error = xasprintf("%s (HTTP %ld, %u attempts)",
                                     res->message ? res->message : strerror(-res->error),
                                     res->status, q->attempt);
        }
        c->analysis.pending--;
        pending_free(q);
        if (c->analysis.pending == 0)
                finish(c);
}

static void submit(struct pending_query *q);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        submit(userdata);
        return 0;
}

static void on_result(const struct datadog_result *res, void *userdata)
{
        struct pending_query *q = userdata;
        struct canary *c = q->c;

        q->in_flight = false;
        if (!c) {
                pending_free(q);
                return;
        }
        if (res->error == 0) {
                deliver(q, res, true);
                return;
        }
        bool transient = res->error != -EINVAL && res->error != -EACCES;
        log_canary(LOG_WARNING, c, NULL, NULL, "datadog query for %s (%s) failed: %s%s",
                   c->cfg->metrics[q->metric].name, q->baseline ? "baseline" : "canary",
                   res->message ? res->message : strerror(-res->error),
                   transient && q->attempt < QUERY_ATTEMPTS ? "; retrying" : "");
        if (!transient || q->attempt >= QUERY_ATTEMPTS || c->d->stopping) {
                deliver(q, res, false);
                return;
        }
        usec_t delay = QUERY_BACKOFF_USEC << (q->attempt - 1);
        if (res->retry_after_usec > delay)
                delay = res->retry_after_usec;
        if (delay > QUERY_BACKOFF_MAX)
                delay = QUERY_BACKOFF_MAX;
        int r = q->retry ? sd_event_source_set_time_relative(q->retry, delay)
                         : sd_event_add_time_relative(c->d->event, &q->retry, CLOCK_MONOTONIC,
                                                      delay, 10 * USEC_PER_MSEC, on_retry, q);
        if (r >= 0)
                r = sd_event_source_set_enabled(q->retry, SD_EVENT_ONESHOT);
        if (r < 0)
                deliver(q, res, false);
}

static void submit(struct pending_query *q)
{
        struct canary *c = q->c;
        q->attempt++;
        int r = datadog_query(c->d->datadog, q->query, q->from_s, q->to_s, on_result, q);
        if (r >= 0)
                q->in_flight = true;
        else {
                struct datadog_result res = {.error = r, .message = "cannot submit query"};
                deliver(q, &res, false);
        }
}

void analysis_start(struct canary *c, usec_t window_start, usec_t window_end)
{
        struct analysis *a = &c->analysis;
        const struct canary_config *cfg = c->cfg;

        if (a->running)
                return; /* one analysis per canary at a time */
        if (cfg->n_metrics == 0) {
                canary_submit_analysis(c, ANALYSIS_INCONCLUSIVE, "no metrics", c->state.step,
                                       c->state.step_started_usec);
                return;
        }
        a->running = true;
        a->window_start_usec = window_start;
        a->window_end_usec = window_end;
        a->step = c->state.step;
        a->samples = xcalloc(cfg->n_metrics, sizeof(*a->samples));
        a->pending = 2 * cfg->n_metrics;

        /* Datadog takes whole seconds: round the window inwards so it stays inside the step. */
        int64_t from_s = (int64_t)((window_start + USEC_PER_SEC - 1) / USEC_PER_SEC);
        int64_t to_s = (int64_t)(window_end / USEC_PER_SEC);
        if (to_s <= from_s)
                to_s = from_s + 1;

        unsigned generation = a->generation;
        for (size_t i = 0; i < cfg->n_metrics; i++)
                for (int arm = 0; arm < 2; arm++) {
                        struct pending_query *q = xcalloc(1, sizeof(*q));
                        q->next = a->queries;
                        a->queries = q;
                        q->c = c;
                        q->metric = i;
                        q->baseline = arm == 1;
                        q->query = query_expand(cfg->metrics[i].query,
                                                arm ? cfg->scope_baseline : cfg->scope_canary, cfg);
                        q->from_s = from_s;
                        q->to_s = to_s;
                        submit(q);
                        /* submit() may have finished the whole analysis synchronously on
                         * errors; stop if it did */
                        if (!a->running || a->generation != generation)
                                return;
                }
}
