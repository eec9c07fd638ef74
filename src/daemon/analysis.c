/* The analysis runner: queries every metric of a canary for canary and baseline over the same
 * closed window, judges, and hands the result to the driver as an EV_ANALYSIS event.
 *
 * The queries of one analysis (2 x n_metrics) are one job of the Datadog query scheduler
 * (io/datadog-sched.c), which shares requests between canaries, paces and retries them, and
 * answers each job exactly once from its own deferred event source: the verdict, and whatever
 * the driver does with it, never runs inside the scheduler's loops. A data source that keeps
 * failing makes the metric inconclusive: never a pass, never a canary failure (SPEC §4).
 *
 * Also here: the start-up check of the API key (GET /api/v1/validate), repeated until it
 * passes; a rejected key is logged, shown in STATUS= and never stops the daemon. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "analysis.h"
#include "canaryd/clock.h"
#include "canaryd/datadog-sched.h"
#include "canaryd/datadog.h"
#include "canaryd/log.h"
#include "canaryd/query.h"
#include "canaryd/state-json.h"
#include "driver.h"
#include "status.h"

#define VALIDATE_RETRY_MIN (5 * USEC_PER_SEC)
#define VALIDATE_RETRY_MAX (300 * USEC_PER_SEC)

struct analysis_sched {
        struct daemon *d;
        struct datadog_sched *queries; /* shared requests, pacing, retries */
        /* API key check */
        sd_event_source *validate_timer;
        unsigned validate_gen;
        usec_t validate_backoff;
        char *key_problem; /* owned: for STATUS=, NULL when the key is fine */
};

/* The scheduler's retries and waits, said in the log of the canary they hold up. */
static void on_note(void *job_userdata, int priority, const char *message, void *userdata)
{
        struct canary *c = job_userdata;

        if (c)
                log_canary(priority, c, NULL, NULL, "%s", message);
        else
                log_fields_full(priority, LOG_FIELDS_NONE, "%s", message);
}

static struct analysis_sched *sched_get(struct daemon *d)
{
        if (!d->sched) {
                struct datadog_sched_settings set = {.note = on_note, .userdata = d};
                int r;

                d->sched = xcalloc(1, sizeof(*d->sched));
                d->sched->d = d;
                r = datadog_sched_new(d->event, &set, &d->sched->queries);
                if (r < 0) /* only a failing sd_event_add_defer: memory */
                        log_error_errno(r, "datadog: cannot set up the query scheduler: %m");
        }
        return d->sched;
}

void analysis_done(struct analysis *a, size_t n_metrics)
{
        if (a->samples)
                for (size_t i = 0; i < n_metrics; i++) {
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

void analysis_cancel(struct canary *c)
{
        if (!c->analysis.running)
                return;
        c->analysis.generation++;
        datadog_job_cancel(c->analysis.job);
        c->analysis.job = NULL;
        analysis_done(&c->analysis, c->cfg->n_metrics);
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
static void judge_one(struct canary *c, size_t i, struct metric_report *r)
{
        struct analysis *a = &c->analysis;
        const struct metric_config *m = &c->cfg->metrics[i];
        struct metric_samples *s = &a->samples[i];

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
                        int w =
                            rollout_weight_at(&c->spec, &c->state, (usec_t)(cp[k].t_ms * 1000.0));
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
        if (a->query_from_usec >= a->window_start_usec) {
                judge_metric(m, s->canary, s->n_canary, s->baseline, s->n_baseline, r);
                return;
        }
        /* the query reached back to the rollout's start for a sequential metric: keep the
         * step's window, rounded inwards to whole seconds as a query of its own would be */
        double from_ms = (double)((a->window_start_usec + USEC_PER_SEC - 1) / USEC_PER_SEC) * 1e3;
        double *cv = xcalloc(s->n_canary + s->n_baseline + 1, sizeof(double));
        double *bv = cv + s->n_canary;
        size_t nc = window_points(s->canary, s->canary_ts, s->n_canary, from_ms, cv);
        size_t nb = window_points(s->baseline, s->baseline_ts, s->n_baseline, from_ms, bv);
        judge_metric(m, cv, nc, bv, nb, r);
        free(cv);
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
                struct metric_report *r = &reports[i];
                judge_one(c, i, r);
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
                log_canary(r->verdict == VERDICT_FAIL ? LOG_WARNING : LOG_INFO, c, NULL, extra,
                           "check %s%s: %s", r->name, a->interim ? " (interim look)" : "",
                           verdict_to_string(r->verdict));
        }

        double score = NAN;
        enum analysis_result result = a->interim
                                          ? analysis_combine_interim(cfg, reports, cfg->n_metrics)
                                          : analysis_combine(cfg, reports, cfg->n_metrics, &score);
        last_analysis_done(&c->last);
        c->last = (struct last_analysis){
            .valid = true,
            .at_usec = now_realtime_usec(),
            .window_start_usec = a->window_start_usec,
            .window_end_usec = a->window_end_usec,
            .result = result,
        };
        last_analysis_keep(&c->last, reports, cfg->n_metrics);
        if (!a->interim || result != ANALYSIS_INCONCLUSIVE)
                log_canary(LOG_NOTICE, c, NULL, NULL, "analysis %s over %s/%s%s%s",
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
        free(reports);
        unsigned step = a->step;
        usec_t started = a->window_start_usec;
        bool interim = a->interim;
        analysis_done(a, cfg->n_metrics);
        canary_submit_analysis(c, result, why.data, step, started, interim);
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

/* The answers of the canary's job: every metric takes its canary and baseline points (the
 * arrays are taken over), or the first error of the two. Runs from the scheduler's deferred
 * source, so deciding and starting other analyses from here is safe. */
static void on_answers(int error, struct datadog_answer *answers, size_t n, void *userdata)
{
        struct canary *c = userdata;
        struct analysis *a = &c->analysis;

        a->job = NULL; /* gone once this runs */
        if (error == -ECANCELED) {
                /* the HTTP client is shutting down: no verdict; the canary is cancelled next */
                analysis_done(a, c->cfg->n_metrics);
                return;
        }
        for (size_t i = 0; i < c->cfg->n_metrics && 2 * i + 1 < n; i++) {
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
                                log_canary(LOG_ERR, c, NULL, NULL, "metric %s: %s query \"%s\": %s",
                                           c->cfg->metrics[i].name, arm ? "baseline" : "canary",
                                           text, ans->error);
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
        finish(c);
}

void analysis_start(struct canary *c, usec_t window_start, usec_t window_end, bool interim)
{
        struct analysis *a = &c->analysis;
        const struct canary_config *cfg = c->cfg;
        struct analysis_sched *s;

        if (a->running)
                return; /* one analysis per canary at a time */
        if (cfg->n_metrics == 0) {
                canary_submit_analysis(c, ANALYSIS_INCONCLUSIVE, "no metrics", c->state.step,
                                       c->state.step_started_usec, interim);
                return;
        }
        a->running = true;
        a->window_start_usec = window_start;
        a->window_end_usec = window_end;
        a->step = c->state.step;
        a->interim = interim;
        a->samples = xcalloc(cfg->n_metrics, sizeof(*a->samples));

        /* A sequential metric judges everything since the rollout started (SPEC §8): the one
         * request reaches back that far and the other metrics keep their window (judge_one). */
        a->query_from_usec = window_start;
        for (size_t i = 0; i < cfg->n_metrics; i++)
                if (cfg->metrics[i].judge == JUDGE_SEQUENTIAL && c->state.started_usec &&
                    c->state.started_usec < window_start)
                        a->query_from_usec = c->state.started_usec;

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
        s = sched_get(c->d);
        int r = datadog_sched_submit(s->queries, queries, combine, nq, from_s, to_s, on_answers, c,
                                     &a->job);
        free(combine);
        if (r < 0) {
                /* no scheduler (memory): inconclusive, never a pass */
                for (size_t i = 0; i < cfg->n_metrics; i++)
                        a->samples[i].error = xstrdup("datadog: cannot schedule the query");
                finish(c);
        }
}

/* ---- the API key check --------------------------------------------------------------------- */

struct validate_call {
        struct analysis_sched *s;
        unsigned gen;
};

static void validate_send(struct analysis_sched *s);

static int on_validate_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        validate_send(userdata);
        return 0;
}

static void validate_later(struct analysis_sched *s, usec_t delay)
{
        int r = s->validate_timer
                    ? sd_event_source_set_time_relative(s->validate_timer, delay)
                    : sd_event_add_time_relative(s->d->event, &s->validate_timer, CLOCK_MONOTONIC,
                                                 delay, 100 * USEC_PER_MSEC, on_validate_timer, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->validate_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "datadog: cannot schedule the next API key check: %m");
}

static void set_key_problem(struct analysis_sched *s, const char *problem)
{
        if ((!problem && !s->key_problem) ||
            (problem && s->key_problem && strcmp(problem, s->key_problem) == 0))
                return;
        free(s->key_problem);
        s->key_problem = xstrdup(problem);
        status_notify(s->d);
}

static void on_validate(const struct datadog_result *res, void *userdata)
{
        struct validate_call *v = userdata;
        struct analysis_sched *s = v->s;
        bool current = v->gen == s->validate_gen;
        free(v);
        if (!current || res->error == -ECANCELED || s->d->stopping)
                return; /* a reload replaced the client, or we are stopping */

        usec_t next = s->validate_backoff ? 2 * s->validate_backoff : VALIDATE_RETRY_MIN;
        if (next > VALIDATE_RETRY_MAX)
                next = VALIDATE_RETRY_MAX;
        if (res->error == 0) {
                if (s->key_problem)
                        log_notice("datadog: the API key is accepted now");
                else
                        log_info("datadog: API key valid (%s, api %s)",
                                 datadog_client_base_url(s->d->datadog),
                                 datadog_api_to_string(datadog_client_api(s->d->datadog)));
                s->validate_backoff = 0;
                set_key_problem(s, NULL);
                return;
        }
        s->validate_backoff = next;
        if (res->error == -EACCES) {
                log_error("datadog: the API key was rejected by GET /api/v1/validate: %s; every "
                          "analysis will be inconclusive until it is fixed; checking again in "
                          "%llus",
                          res->message, (unsigned long long)(next / USEC_PER_SEC));
                set_key_problem(s, "datadog API key rejected");
        } else {
                log_warning("datadog: cannot check the API key: %s; checking again in %llus",
                            res->message, (unsigned long long)(next / USEC_PER_SEC));
        }
        validate_later(s, next);
}

static void validate_send(struct analysis_sched *s)
{
        if (!s->d->datadog || s->d->stopping)
                return;
        struct validate_call *v = xmalloc(sizeof(*v));
        *v = (struct validate_call){.s = s, .gen = s->validate_gen};
        int r = datadog_validate(s->d->datadog, on_validate, v);
        if (r < 0) {
                free(v);
                log_warning_errno(r, "datadog: cannot check the API key: %m");
                validate_later(s, VALIDATE_RETRY_MIN);
        }
}

void analysis_check_datadog(struct daemon *d)
{
        struct analysis_sched *s = sched_get(d);
        datadog_sched_set_client(s->queries, d->datadog);
        datadog_sched_set_round(s->queries, d->n_canaries);
        s->validate_gen++;
        s->validate_backoff = 0;
        if (s->validate_timer)
                sd_event_source_set_enabled(s->validate_timer, SD_EVENT_OFF);
        validate_send(s);
}

void analysis_forget_client(struct daemon *d)
{
        if (d->sched)
                datadog_sched_set_client(d->sched->queries, NULL);
}

const char *analysis_datadog_problem(const struct daemon *d)
{
        return d->sched ? d->sched->key_problem : NULL;
}

void analysis_sched_free(struct daemon *d)
{
        struct analysis_sched *s = d->sched;
        if (!s)
                return;
        /* nobody waits for what is left (the canaries are gone) */
        s->queries = datadog_sched_free(s->queries);
        sd_event_source_disable_unref(s->validate_timer);
        free(s->key_problem);
        free(s);
        d->sched = NULL;
}
