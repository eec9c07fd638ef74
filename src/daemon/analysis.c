/* The analysis runner: queries every metric of a canary configuration for canary and baseline
 * over the same closed window, judges, and hands the verdict to its owner's done callback (the
 * driver turns it into an EV_ANALYSIS event).
 *
 * The queries of one analysis (2 x n_metrics) are one job of the Datadog query scheduler
 * (io/datadog-sched.c), which shares requests between analyses, paces and retries them, and
 * answers each job exactly once from its own deferred event source: the verdict, and whatever
 * the owner does with it, never runs inside the scheduler's loops. A data source that keeps
 * failing makes the metric inconclusive: never a pass, never a canary failure (SPEC §4). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "analysis.h"
#include "canaryd/clock.h"
#include "canaryd/datadog-sched.h"
#include "canaryd/query.h"
#include "canaryd/state-json.h"

struct analysis_sched {
        struct datadog_sched *queries; /* shared requests, pacing, retries */
        struct analysis_callbacks cb;
};

static void say(const struct analysis_sched *s, const struct analysis *a, int priority,
                const char *const *fields, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void say(const struct analysis_sched *s, const struct analysis *a, int priority,
                const char *const *fields, const char *fmt, ...)
{
        va_list ap;
        char *message;

        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        if (message && s->cb.log)
                s->cb.log(a ? a->userdata : NULL, priority, fields, message);
        free(message);
}

/* The scheduler's retries and waits, said in the log of the analysis they hold up. */
static void on_note(void *job_userdata, int priority, const char *message, void *userdata)
{
        say(userdata, job_userdata, priority, NULL, "%s", message);
}

int analysis_sched_new(sd_event *event, const struct analysis_callbacks *cb,
                       struct analysis_sched **ret)
{
        struct analysis_sched *s = xcalloc(1, sizeof(*s));
        struct datadog_sched_settings set = {.note = on_note, .userdata = s};
        int r;

        s->cb = *cb;
        r = datadog_sched_new(event, &set, &s->queries);
        if (r < 0) {
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

long analysis_sched_ratelimit_remaining(const struct analysis_sched *s)
{
        return s && s->queries ? datadog_sched_ratelimit_remaining(s->queries) : -1;
}

struct datadog_sched *analysis_sched_queries(struct analysis_sched *s)
{
        return s ? s->queries : NULL;
}

struct analysis_sched *analysis_sched_free(struct analysis_sched *s)
{
        if (!s)
                return NULL;
        /* nobody waits for what is left (the owners are gone) */
        s->queries = datadog_sched_free(s->queries);
        free(s);
        return NULL;
}

void analysis_sched_set_client(struct analysis_sched *s, struct datadog_client *client,
                               size_t n_canaries)
{
        datadog_sched_set_client(s->queries, client);
        if (client)
                datadog_sched_set_round(s->queries, n_canaries);
}

/* Frees the samples; a is not running afterwards. */
static void analysis_clear(struct analysis *a)
{
        if (a->samples)
                for (size_t i = 0; i < a->cfg->n_metrics; i++) {
                        free(a->samples[i].canary);
                        free(a->samples[i].baseline);
                        free(a->samples[i].canary_ts);
                        free(a->samples[i].baseline_ts);
                        free(a->samples[i].error);
                }
        free(a->samples);
        a->samples = NULL;
        a->running = false;
}

void analysis_cancel(struct analysis *a)
{
        if (!a->running)
                return;
        datadog_job_cancel(a->job);
        a->job = NULL;
        analysis_clear(a);
}

/* The points of one arm at or after from_ms (the step's window inside a longer query). */
static size_t window_points(const double *v, const double *ts, size_t n, double from_ms,
                            double *out)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (!ts || ts[i] >= from_ms)
                        out[k++] = v[i];
        return k;
}

static struct seq_point *series(const double *v, const double *ts, size_t n)
{
        struct seq_point *p = xcalloc(n ? n : 1, sizeof(*p));
        for (size_t i = 0; i < n; i++)
                p[i] = (struct seq_point){.t_ms = ts ? ts[i] : (double)i, .value = v[i]};
        return p;
}

/* An inconclusive report for metric m without a verdict of its judge; detail = why + what. */
static void unjudged(const struct metric_config *m, struct metric_report *r, const char *why,
                     const char *what)
{
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", m->name);
        r->judge = m->judge;
        r->canary = r->baseline = NAN;
        r->e_value = r->p_value = r->ci_low = r->ci_high = NAN;
        r->verdict = VERDICT_INCONCLUSIVE;
        snprintf(r->detail, sizeof(r->detail), "%s%s", why, what);
}

/* Judges metric i of the analysis into *r. Sequential metrics see every point since the rollout
 * started, with the canary's traffic share at each (counts need it; continuous metrics fit their
 * noise step by step with it); the others only the step's window. At an interim look only
 * sequential metrics are judged. */
static void judge_one(const struct analysis_sched *sch, struct analysis *a, size_t i,
                      struct metric_report *r)
{
        const struct metric_config *m = &a->cfg->metrics[i];
        struct metric_samples *s = &a->samples[i];

        if (a->points_from_usec >= a->window_end_usec) {
                /* whatever on_no_data says: these are not missing points, the step's weight
                 * was not there to be measured */
                unjudged(m, r, "no data: the step's weight reached the cluster ",
                         "after the window's end");
                return;
        }
        if (s->error) {
                unjudged(m, r, "data source failed: ", s->error);
                return;
        }
        if (m->judge == JUDGE_SEQUENTIAL) {
                struct seq_point *cp = series(s->canary, s->canary_ts, s->n_canary);
                struct seq_point *bp = series(s->baseline, s->baseline_ts, s->n_baseline);
                /* weight / 100 when the point was taken; unknown -> NAN. Counts skip such a
                 * pair; continuous metrics use the shares as the steps' segments. */
                double *share = xcalloc(s->n_canary ? s->n_canary : 1, sizeof(*share));
                for (size_t k = 0; k < s->n_canary; k++) {
                        int w = sch->cb.weight_at
                                    ? sch->cb.weight_at(a->userdata, (usec_t)(cp[k].t_ms * 1000.0))
                                    : -1;
                        share[k] = w > 0 && w < 100 ? w / 100.0 : (double)NAN;
                }
                judge_metric_points(m, m->alpha, cp, s->n_canary, bp, s->n_baseline, share, r);
                free(cp);
                free(bp);
                free(share);
                return;
        }
        if (a->interim) {
                unjudged(m, r, "judged at the end of the step", "");
                return;
        }
        if (a->query_from_usec >= a->points_from_usec) {
                judge_metric(m, s->canary, s->n_canary, s->baseline, s->n_baseline, r);
                return;
        }
        /* the query reached back to the rollout's start for a sequential metric: keep the
         * step's window, rounded inwards to whole seconds as a query of its own would be */
        double from_ms = (double)((a->points_from_usec + USEC_PER_SEC - 1) / USEC_PER_SEC) * 1e3;
        double *cv = xcalloc(s->n_canary + s->n_baseline + 1, sizeof(double));
        double *bv = cv + s->n_canary;
        size_t nc = window_points(s->canary, s->canary_ts, s->n_canary, from_ms, cv);
        size_t nb = window_points(s->baseline, s->baseline_ts, s->n_baseline, from_ms, bv);
        judge_metric(m, cv, nc, bv, nb, r);
        free(cv);
}

static void finish(struct analysis *a)
{
        const struct analysis_sched *sch = a->sched;
        const struct canary_config *cfg = a->cfg;
        struct metric_report *reports = xcalloc(cfg->n_metrics, sizeof(*reports));
        char from[40], to[40];

        format_rfc3339(a->points_from_usec, from, sizeof(from)); /* what was judged */
        format_rfc3339(a->window_end_usec, to, sizeof(to));
        for (size_t i = 0; i < cfg->n_metrics; i++) {
                struct metric_report *r = &reports[i];
                judge_one(sch, a, i, r);
                if (a->interim && cfg->metrics[i].judge != JUDGE_SEQUENTIAL)
                        continue;
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
                say(sch, a, r->verdict == VERDICT_FAIL ? LOG_WARNING : LOG_INFO, extra,
                    "check %s%s: %s", r->name, a->interim ? " (interim look)" : "",
                    verdict_to_string(r->verdict));
        }

        double score = NAN;
        enum analysis_result result = a->interim
                                          ? analysis_combine_interim(cfg, reports, cfg->n_metrics)
                                          : analysis_combine(cfg, reports, cfg->n_metrics, &score);
        if (!a->interim || result != ANALYSIS_INCONCLUSIVE)
                say(sch, a, LOG_NOTICE, NULL, "analysis %s over %s/%s%s%s",
                    analysis_result_to_string(result), from, to,
                    a->interim ? " (interim look)" : "",
                    result == ANALYSIS_FAIL_CRITICAL ? " (critical metric)" : "");

        /* Name what failed, critical metrics first, for the state's reason and Slack. */
        struct buf why = {0};
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < cfg->n_metrics; i++)
                        if (reports[i].verdict == VERDICT_FAIL &&
                            cfg->metrics[i].critical == (pass == 0))
                                buf_printf(&why, "%s%s (%s)", why.len ? "; " : "", reports[i].name,
                                           reports[i].detail);
        struct analysis_outcome o = {
            .result = result,
            .reports = reports,
            .n_reports = cfg->n_metrics,
            .why = why.data ? why.data : "",
            .step = a->step,
            .window_start_usec = a->window_start_usec,
            .window_end_usec = a->window_end_usec,
            .interim = a->interim,
        };
        void *userdata = a->userdata;
        /* a is free before the callback runs: the owner may start the next analysis in it */
        analysis_clear(a);
        if (sch->cb.done)
                sch->cb.done(userdata, &o);
        free(reports);
        buf_free(&why);
}

static void clip_query(char *dst, size_t size, const char *q)
{
        size_t n = strlen(q);
        if (n + 1 <= size)
                memcpy(dst, q, n + 1);
        else
                snprintf(dst, size, "%.*s...", (int)(size - 4), q);
}

/* The answers of the analysis' job: every metric takes its canary and baseline points (the
 * arrays are taken over), or the first error of the two. Runs from the scheduler's deferred
 * source, so deciding and starting other analyses from here is safe. */
static void on_answers(int error, struct datadog_answer *answers, size_t n, void *userdata)
{
        struct analysis *a = userdata;
        const struct canary_config *cfg = a->cfg;

        a->job = NULL; /* gone once this runs */
        if (error == -ECANCELED) {
                /* the HTTP client is shutting down: no verdict; the owner is cancelled next */
                analysis_clear(a);
                return;
        }
        for (size_t i = 0; i < cfg->n_metrics && 2 * i + 1 < n; i++) {
                struct metric_samples *s = &a->samples[i];
                for (int arm = 0; arm < 2; arm++) {
                        struct datadog_answer *ans = &answers[2 * i + (size_t)arm];
                        if (ans->error && ans->request_failed) {
                                /* the retries were logged; the metric is inconclusive */
                                if (!s->error)
                                        s->error = xstrdup(ans->error);
                                continue;
                        }
                        if (ans->error) {
                                char text[200];
                                clip_query(text, sizeof(text), ans->query);
                                say(a->sched, a, LOG_ERR, NULL, "metric %s: %s query \"%s\": %s",
                                    cfg->metrics[i].name, arm ? "baseline" : "canary", text,
                                    ans->error);
                                if (!s->error)
                                        s->error =
                                            xasprintf("%s query: %s", arm ? "baseline" : "canary",
                                                      ans->error);
                                continue;
                        }
                        if (arm) {
                                s->baseline = ans->values;
                                s->baseline_ts = ans->timestamps_ms;
                                s->n_baseline = ans->n;
                        } else {
                                s->canary = ans->values;
                                s->canary_ts = ans->timestamps_ms;
                                s->n_canary = ans->n;
                        }
                        ans->values = ans->timestamps_ms = NULL;
                }
        }
        finish(a);
}

void analysis_start(struct analysis_sched *s, struct analysis *a, const struct canary_config *cfg,
                    unsigned step, usec_t rollout_started, usec_t window_start, usec_t live_from,
                    usec_t window_end, bool interim, void *userdata)
{
        if (a->running)
                return; /* one analysis per owner at a time */
        if (cfg->n_metrics == 0) {
                struct analysis_outcome o = {.result = ANALYSIS_INCONCLUSIVE,
                                             .why = "no metrics",
                                             .step = step,
                                             .window_start_usec = window_start,
                                             .window_end_usec = window_end,
                                             .interim = interim};
                if (s->cb.done)
                        s->cb.done(userdata, &o);
                return;
        }
        *a = (struct analysis){
            .cfg = cfg,
            .sched = s,
            .userdata = userdata,
            .samples = xcalloc(cfg->n_metrics, sizeof(*a->samples)),
            .window_start_usec = window_start,
            .window_end_usec = window_end,
            /* Before live_from the canary had the previous step's share (a slow API server, a
             * write retried): points from then would judge a weight it did not have. */
            .points_from_usec = live_from > window_start ? live_from : window_start,
            .step = step,
            .started_mono = now_monotonic_usec(),
            .running = true,
            .interim = interim,
        };

        /* A sequential metric judges everything since the rollout started (SPEC §8): the one
         * request reaches back that far and the other metrics keep their window (judge_one). */
        if (a->points_from_usec >= window_end) {
                finish(a); /* every metric inconclusive (judge_one): never a pass */
                return;
        }
        a->query_from_usec = a->points_from_usec;
        for (size_t i = 0; i < cfg->n_metrics; i++)
                if (cfg->metrics[i].judge == JUDGE_SEQUENTIAL && rollout_started &&
                    rollout_started < a->points_from_usec)
                        a->query_from_usec = rollout_started;

        /* Datadog takes whole seconds: round the window inwards so it stays inside the step. */
        int64_t from_s = (int64_t)((a->query_from_usec + USEC_PER_SEC - 1) / USEC_PER_SEC);
        int64_t to_s = (int64_t)(window_end / USEC_PER_SEC);
        if (to_s <= from_s)
                to_s = from_s + 1;

        size_t nq = 2 * cfg->n_metrics;
        char **queries = xcalloc(nq, sizeof(*queries));
        enum combine *combine = xcalloc(nq, sizeof(*combine));
        for (size_t i = 0; i < cfg->n_metrics; i++) {
                queries[2 * i] = query_expand(cfg->metrics[i].query, cfg->scope_canary, cfg);
                queries[2 * i + 1] = query_expand(cfg->metrics[i].query, cfg->scope_baseline, cfg);
                combine[2 * i] = combine[2 * i + 1] = cfg->metrics[i].combine;
        }
        int r = datadog_sched_submit(s->queries, queries, combine, nq, from_s, to_s, on_answers, a,
                                     &a->job);
        free(combine);
        if (r < 0) {
                /* no memory for the job: inconclusive, never a pass */
                for (size_t i = 0; i < cfg->n_metrics; i++)
                        a->samples[i].error = xstrdup("datadog: cannot schedule the query");
                finish(a);
        }
}

void last_analysis_done(struct last_analysis *l)
{
        free(l->reports);
        memset(l, 0, sizeof(*l));
}

void last_analysis_keep(struct last_analysis *l, const struct metric_report *reports, size_t n)
{
        size_t text = 0;
        for (size_t i = 0; i < n; i++)
                text += strlen(reports[i].name) + strlen(reports[i].detail) + 2;
        struct last_report *k = xmalloc(n * sizeof(*k) + text + 1);
        char *p = (char *)(k + n);
        for (size_t i = 0; i < n; i++) {
                const struct metric_report *r = &reports[i];
                k[i] = (struct last_report){
                    .canary = r->canary,
                    .baseline = r->baseline,
                    .e_value = r->e_value,
                    .p_value = r->p_value,
                    .ci_low = r->ci_low,
                    .ci_high = r->ci_high,
                    .n_canary = r->n_canary,
                    .n_baseline = r->n_baseline,
                    .outliers = r->outliers,
                    .judge = r->judge,
                    .verdict = r->verdict,
                    .critical = r->critical,
                    .inside_tolerance = r->inside_tolerance,
                };
                k[i].name = p;
                p = stpcpy(p, r->name) + 1;
                k[i].detail = p;
                p = stpcpy(p, r->detail) + 1;
        }
        free(l->reports);
        l->reports = k;
        l->n = n;
}

struct metric_report *last_analysis_reports(const struct last_analysis *l)
{
        if (!l->reports || l->n == 0)
                return NULL;
        struct metric_report *out = xcalloc(l->n, sizeof(*out));
        for (size_t i = 0; i < l->n; i++) {
                const struct last_report *k = &l->reports[i];
                out[i] = (struct metric_report){
                    .judge = k->judge,
                    .canary = k->canary,
                    .baseline = k->baseline,
                    .n_canary = k->n_canary,
                    .n_baseline = k->n_baseline,
                    .verdict = k->verdict,
                    .critical = k->critical,
                    .outliers = k->outliers,
                    .e_value = k->e_value,
                    .p_value = k->p_value,
                    .ci_low = k->ci_low,
                    .ci_high = k->ci_high,
                    .inside_tolerance = k->inside_tolerance,
                };
                /* both were copied from fields of these sizes */
                snprintf(out[i].name, sizeof(out[i].name), "%s", k->name);
                snprintf(out[i].detail, sizeof(out[i].detail), "%s", k->detail);
        }
        return out;
}
