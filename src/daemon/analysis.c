/* The analysis runner: queries every metric of a canary for canary and baseline over the same
 * closed window, judges, and hands the result to the driver as an EV_ANALYSIS event.
 *
 * Query economy (docs/datadog.md): all 2 x n_metrics queries of one analysis go to Datadog in
 * ONE request (v1: comma-separated, told apart by query_index; v2: named queries), and the
 * analyses of several canaries that fall due together (within GATHER_USEC, with windows that
 * differ by at most WINDOW_SLACK_S on each side) share that request: it asks for the union
 * window and each canary keeps only the points inside its own. A request is split only when
 * it would pass the documented size limit (datadog_request_limit()).
 *
 * Faults: 5xx, timeouts and connection errors are retried with exponential backoff and jitter
 * (QUERY_ATTEMPTS in all); a 429 holds every request until the limit resets (at most
 * RATELIMIT_WAIT_MAX per request), and when the remaining budget runs low requests are spaced
 * evenly over the time left instead of bursting. A 400 on a shared request is retried once per
 * canary, so one canary's bad query does not spoil the others. A data source that keeps
 * failing makes the metric inconclusive: never a pass, never a canary failure (SPEC §4).
 *
 * Also here: the start-up check of the API key (GET /api/v1/validate), repeated until it
 * passes; a rejected key is logged, shown in STATUS= and never stops the daemon. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canaryd/datadog.h"
#include "canaryd/log.h"
#include "canaryd/query.h"
#include "canaryd/state-json.h"
#include "daemon.h"

#define QUERY_ATTEMPTS     4
#define QUERY_BACKOFF_USEC (1 * USEC_PER_SEC)
#define QUERY_BACKOFF_MAX  (20 * USEC_PER_SEC)
#define RATELIMIT_WAIT_MAX (120 * USEC_PER_SEC) /* per request, summed over its 429s */
#define GATHER_USEC        (1 * USEC_PER_SEC)
#define WINDOW_SLACK_S     5
#define VALIDATE_RETRY_MIN (5 * USEC_PER_SEC)
#define VALIDATE_RETRY_MAX (300 * USEC_PER_SEC)

/* One canary's analysis while its queries are out: the canary's share of one or more batches.
 * Freed when its last part is resolved (delivered or dropped), whether or not the canary is
 * still waiting for it. */
struct pending_query {
        struct canary *c; /* NULL once the analysis was cancelled */
        char **queries;   /* owned, 2 per metric: [2i] canary, [2i+1] baseline */
        size_t n_queries;
        size_t parts_left; /* batches still holding a part of it */
        int64_t from_s, to_s;
};

/* Metrics [metric_lo, metric_hi) of one member, at batch query index `first` onwards. */
struct part {
        struct pending_query *m;
        size_t first;
        size_t metric_lo, metric_hi;
};

enum batch_state { BATCH_GATHERING, BATCH_WAITING, BATCH_IN_FLIGHT };

/* One Datadog request (and its retries). */
struct batch {
        struct batch *next; /* in sched->batches */
        struct analysis_sched *sched;
        enum batch_state state;
        int64_t from_s, to_s; /* union of the members' windows */
        int64_t min_from, max_from, min_to, max_to;
        const char **queries; /* borrowed from the members */
        size_t n_queries, cost;
        struct part *parts;
        size_t n_parts;
        unsigned attempt;
        usec_t ratelimit_waited;
        bool solo; /* already split after a 400 */
        sd_event_source *timer;
};

struct analysis_sched {
        struct daemon *d;
        struct batch *batches;
        usec_t next_send; /* CLOCK_MONOTONIC: nothing is sent before (pacing, 429 hold) */
        struct datadog_ratelimit rl;
        usec_t rl_at; /* when rl was read; 0: never */
        uint64_t rng;
        uint64_t requests;
        /* API key check */
        sd_event_source *validate_timer;
        unsigned validate_gen;
        usec_t validate_backoff;
        char *key_problem; /* owned: for STATUS=, NULL when the key is fine */
};

static usec_t now_mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static struct analysis_sched *sched_get(struct daemon *d)
{
        if (!d->sched) {
                d->sched = xcalloc(1, sizeof(*d->sched));
                d->sched->d = d;
                d->sched->rng = now_mono() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
        }
        return d->sched;
}

/* Uniform in [lo, hi]: the jitter of backoffs, so that canaries do not retry in lockstep. */
static usec_t jitter(struct analysis_sched *s, usec_t lo, usec_t hi)
{
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        return hi > lo ? lo + s->rng % (hi - lo + 1) : lo;
}

static void member_unref(struct pending_query *m)
{
        if (--m->parts_left > 0)
                return;
        if (m->c && m->c->analysis.queries == m)
                m->c->analysis.queries = NULL;
        for (size_t i = 0; i < m->n_queries; i++)
                free(m->queries[i]);
        free(m->queries);
        free(m);
}

static void batch_free(struct batch *b)
{
        struct batch **p = &b->sched->batches;
        while (*p && *p != b)
                p = &(*p)->next;
        if (*p)
                *p = b->next;
        sd_event_source_disable_unref(b->timer);
        for (size_t i = 0; i < b->n_parts; i++)
                member_unref(b->parts[i].m);
        free(b->parts);
        free(b->queries);
        free(b);
}

static bool batch_live(const struct batch *b)
{
        for (size_t i = 0; i < b->n_parts; i++)
                if (b->parts[i].m->c)
                        return true;
        return false;
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
        struct pending_query *m = c->analysis.queries;
        c->analysis.queries = NULL;
        if (m) {
                m->c = NULL;
                /* Batches only this canary was waiting for go now, unless in flight: those are
                 * dropped when their reply (or the HTTP client's cancellation) arrives. */
                struct analysis_sched *s = c->d->sched;
                for (struct batch *b = s ? s->batches : NULL, *next; b; b = next) {
                        next = b->next;
                        if (b->state != BATCH_IN_FLIGHT && !batch_live(b))
                                batch_free(b);
                }
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

/* A part of member m is resolved: when it was the canary's last, judge. */
static void part_resolved(struct pending_query *m)
{
        struct canary *c = m->c;
        if (!c)
                return;
        if (--c->analysis.pending > 0)
                return;
        /* detach: the member now lives only as long as the batches that still point to it */
        m->c = NULL;
        c->analysis.queries = NULL;
        finish(c);
}

static void clip_query(char *dst, size_t size, const char *q)
{
        size_t n = strlen(q);
        if (n + 1 <= size)
                memcpy(dst, q, n + 1);
        else
                snprintf(dst, size, "%.*s...", (int)(size - 4), q);
}

/* Takes the values of one metric arm from a successful response. */
static void take_values(struct canary *c, const struct part *p, size_t metric, bool baseline,
                        const struct datadog_response *resp)
{
        struct metric_samples *s = &c->analysis.samples[metric];
        const struct metric_config *mc = &c->cfg->metrics[metric];
        size_t q = p->first + 2 * (metric - p->metric_lo) + (baseline ? 1 : 0);
        double **values = baseline ? &s->baseline : &s->canary;
        size_t *n = baseline ? &s->n_baseline : &s->n_canary;
        char *err = NULL;

        int r = datadog_select(resp, q, mc->combine, (double)p->m->from_s * 1000.0,
                               (double)p->m->to_s * 1000.0, values, n, &err);
        if (r < 0) {
                char text[200];
                clip_query(text, sizeof(text), p->m->queries[2 * metric + (baseline ? 1 : 0)]);
                log_canary(LOG_ERR, c, NULL, NULL, "metric %s: %s query \"%s\": %s", mc->name,
                           baseline ? "baseline" : "canary", text, err);
                if (!s->error)
                        s->error = xasprintf("%s query: %s", baseline ? "baseline" : "canary", err);
                free(err);
        }
}

static void part_deliver(const struct part *p, const struct datadog_result *res)
{
        struct canary *c = p->m->c;
        if (!c)
                return;
        for (size_t i = p->metric_lo; i < p->metric_hi; i++) {
                struct metric_samples *s = &c->analysis.samples[i];
                if (res && res->error == 0) {
                        take_values(c, p, i, false, &res->response);
                        take_values(c, p, i, true, &res->response);
                } else if (!s->error) {
                        s->error = xstrdup(res && res->message ? res->message
                                                               : "the request could not be sent");
                }
        }
        part_resolved(p->m);
}

static unsigned live_canaries(const struct batch *b)
{
        unsigned n = 0;
        for (size_t i = 0; i < b->n_parts; i++) {
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = b->parts[j].m == b->parts[i].m;
                n += !seen && b->parts[i].m->c;
        }
        return n;
}

/* Every live canary of b takes this outcome; b is freed. */
static void batch_resolve(struct batch *b, const struct datadog_result *res, const char *why)
{
        if (res && res->error != 0) {
                char *msg = xasprintf(
                    "%s (%u attempt%s%s%s)", res->message ? res->message : strerror(-res->error),
                    b->attempt, b->attempt == 1 ? "" : "s", why ? "; " : "", why ? why : "");
                struct datadog_result copy = *res;
                copy.message = msg;
                for (size_t i = 0; i < b->n_parts; i++)
                        part_deliver(&b->parts[i], &copy);
                free(msg);
        } else {
                for (size_t i = 0; i < b->n_parts; i++)
                        part_deliver(&b->parts[i], res);
        }
        batch_free(b);
}

static void batch_dispatch(struct batch *b);

static int on_batch_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        batch_dispatch(userdata);
        return 0;
}

static int arm(struct batch *b, usec_t at_mono)
{
        int r = b->timer ? sd_event_source_set_time(b->timer, at_mono)
                         : sd_event_add_time(b->sched->d->event, &b->timer, CLOCK_MONOTONIC,
                                             at_mono, 10 * USEC_PER_MSEC, on_batch_timer, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
        return r;
}

/* The gap to keep between requests: 0 while the budget is comfortable; when fewer requests
 * remain than two rounds of every canary would need, the rest are spread evenly over the time
 * until the limit resets. */
static usec_t pacing(struct analysis_sched *s, usec_t now)
{
        if (!s->rl_at || s->rl.remaining < 0 || s->rl.reset < 0)
                return 0;
        usec_t reset_at = s->rl_at + (usec_t)s->rl.reset * USEC_PER_SEC;
        if (reset_at <= now)
                return 0;
        if ((size_t)s->rl.remaining > 2 * s->d->n_canaries)
                return 0;
        return (reset_at - now) / (usec_t)(s->rl.remaining + 1);
}

static void on_batch_result(const struct datadog_result *res, void *userdata);

static void batch_send(struct batch *b)
{
        struct analysis_sched *s = b->sched;
        struct daemon *d = s->d;

        if (!batch_live(b)) {
                batch_free(b);
                return;
        }
        if (!d->datadog) {
                struct datadog_result res = {.error = -ENODEV,
                                             .message = "datadog: no client configured"};
                batch_resolve(b, &res, NULL);
                return;
        }
        usec_t now = now_mono();
        b->attempt++;
        b->state = BATCH_IN_FLIGHT;
        s->requests++;
        usec_t gap = pacing(s, now);
        if (now + gap > s->next_send)
                s->next_send = now + gap;
        if (gap > 0)
                log_debug("datadog: %ld requests left until the limit resets; next request in "
                          "%.1fs",
                          s->rl.remaining, (double)gap / USEC_PER_SEC);
        int r = datadog_query_batch(d->datadog, b->queries, b->n_queries, b->from_s, b->to_s,
                                    on_batch_result, b);
        if (r < 0) {
                b->state = BATCH_WAITING;
                struct datadog_result res = {.error = r,
                                             .message = "datadog: the request could not be sent"};
                batch_resolve(b, &res, NULL);
        }
}

static void batch_dispatch(struct batch *b)
{
        usec_t now = now_mono();
        b->state = BATCH_WAITING;
        if (b->sched->next_send > now) {
                if (arm(b, b->sched->next_send) < 0) {
                        struct datadog_result res = {.error = -ENOMEM,
                                                     .message = "cannot arm a timer"};
                        batch_resolve(b, &res, NULL);
                }
                return;
        }
        batch_send(b);
}

static struct batch *batch_new(struct analysis_sched *s, int64_t from_s, int64_t to_s)
{
        struct batch *b = xcalloc(1, sizeof(*b));
        b->sched = s;
        b->state = BATCH_GATHERING;
        b->from_s = b->min_from = b->max_from = from_s;
        b->to_s = b->min_to = b->max_to = to_s;
        b->cost = datadog_request_overhead(datadog_client_api(s->d->datadog),
                                           datadog_client_base_url(s->d->datadog));
        /* append, so that batches go out in the order they were opened */
        struct batch **p = &s->batches;
        while (*p)
                p = &(*p)->next;
        *p = b;
        return b;
}

static void batch_add_metric(struct batch *b, struct pending_query *m, size_t metric,
                             size_t pair_cost)
{
        struct part *last = b->n_parts ? &b->parts[b->n_parts - 1] : NULL;
        if (!last || last->m != m || last->metric_hi != metric) {
                b->parts = xrealloc(b->parts, (b->n_parts + 1) * sizeof(*b->parts));
                b->parts[b->n_parts++] = (struct part){
                    .m = m, .first = b->n_queries, .metric_lo = metric, .metric_hi = metric};
                last = &b->parts[b->n_parts - 1];
                m->parts_left++;
                m->c->analysis.pending++;
        }
        b->queries = xrealloc(b->queries, (b->n_queries + 2) * sizeof(*b->queries));
        b->queries[b->n_queries++] = m->queries[2 * metric];
        b->queries[b->n_queries++] = m->queries[2 * metric + 1];
        b->cost += pair_cost;
        last->metric_hi = metric + 1;
        if (m->from_s < b->min_from)
                b->min_from = m->from_s;
        if (m->from_s > b->max_from)
                b->max_from = m->from_s;
        if (m->to_s < b->min_to)
                b->min_to = m->to_s;
        if (m->to_s > b->max_to)
                b->max_to = m->to_s;
        b->from_s = b->min_from;
        b->to_s = b->max_to;
}

static bool window_fits(const struct batch *b, int64_t from_s, int64_t to_s)
{
        int64_t lo_f = from_s < b->min_from ? from_s : b->min_from;
        int64_t hi_f = from_s > b->max_from ? from_s : b->max_from;
        int64_t lo_t = to_s < b->min_to ? to_s : b->min_to;
        int64_t hi_t = to_s > b->max_to ? to_s : b->max_to;
        return hi_f - lo_f <= WINDOW_SLACK_S && hi_t - lo_t <= WINDOW_SLACK_S;
}

static bool batch_has_room(const struct batch *b, size_t pair_cost)
{
        size_t limit = datadog_request_limit(datadog_client_api(b->sched->d->datadog));
        return b->n_queries == 0 ||
               (b->cost + pair_cost <= limit && b->n_queries + 2 <= DATADOG_MAX_QUERIES);
}

/* Places member m's metrics into gathering batches (opening and closing them as needed). */
static void plan(struct analysis_sched *s, struct pending_query *m, size_t n_metrics)
{
        enum datadog_api api = datadog_client_api(s->d->datadog);
        struct batch *b = NULL;

        for (struct batch *x = s->batches; x && !b; x = x->next)
                if (x->state == BATCH_GATHERING && window_fits(x, m->from_s, m->to_s))
                        b = x;
        for (size_t i = 0; i < n_metrics; i++) {
                size_t pair = datadog_query_cost(api, m->queries[2 * i]) +
                              datadog_query_cost(api, m->queries[2 * i + 1]);
                if (b && !batch_has_room(b, pair)) {
                        batch_dispatch(b); /* full: no point in waiting for more */
                        b = NULL;
                }
                if (!b) {
                        b = batch_new(s, m->from_s, m->to_s);
                        if (arm(b, now_mono() + GATHER_USEC) < 0) {
                                batch_dispatch(b);
                                b = batch_new(s, m->from_s, m->to_s);
                        }
                }
                batch_add_metric(b, m, i, pair);
        }
}

static void on_batch_result(const struct datadog_result *res, void *userdata)
{
        struct batch *b = userdata;
        struct analysis_sched *s = b->sched;
        struct daemon *d = s->d;
        usec_t now = now_mono();

        b->state = BATCH_WAITING;
        if (res->error == -ECANCELED) {
                /* the HTTP client is shutting down: the canaries are cancelled next */
                for (size_t i = 0; i < b->n_parts; i++)
                        if (b->parts[i].m->c) {
                                b->parts[i].m->c->analysis.queries = NULL;
                                b->parts[i].m->c = NULL;
                        }
                batch_free(b);
                return;
        }
        if (res->ratelimit.remaining >= 0 || res->ratelimit.reset >= 0) {
                s->rl = res->ratelimit;
                s->rl_at = now;
        }
        if (!batch_live(b)) {
                batch_free(b);
                return;
        }
        if (res->error == 0) {
                batch_resolve(b, res, NULL);
                return;
        }

        unsigned canaries = live_canaries(b);
        if (res->status == 429) {
                usec_t wait = res->retry_after_usec + jitter(s, 0, USEC_PER_SEC);
                b->attempt--; /* waiting for the budget is not a failed attempt */
                if (d->stopping || b->ratelimit_waited + wait > RATELIMIT_WAIT_MAX) {
                        batch_resolve(b, res, "gave up waiting for the rate limit to reset");
                        return;
                }
                b->ratelimit_waited += wait;
                if (now + wait > s->next_send)
                        s->next_send = now + wait;
                for (size_t i = 0; i < b->n_parts; i++)
                        if (b->parts[i].m->c && (i == 0 || b->parts[i - 1].m != b->parts[i].m))
                                log_canary(LOG_WARNING, b->parts[i].m->c, NULL, NULL,
                                           "%s; holding Datadog requests for %.1fs (limit %ld "
                                           "per %lds)",
                                           res->message, (double)wait / USEC_PER_SEC,
                                           res->ratelimit.limit, res->ratelimit.period);
                batch_dispatch(b);
                return;
        }
        if (res->error == -EINVAL && canaries > 1 && !b->solo) {
                /* One canary's bad query must not spoil the others: one request each. */
                log_warning("datadog: a request shared by %u canaries was rejected (%s); "
                            "retrying once per canary",
                            canaries, res->message);
                struct batch **solo = xcalloc(b->n_parts, sizeof(*solo));
                size_t n_solo = 0;
                for (size_t i = 0; i < b->n_parts; i++) {
                        struct part *p = &b->parts[i];
                        if (!p->m->c)
                                continue;
                        struct batch *t = NULL;
                        for (size_t j = 0; j < n_solo && !t; j++)
                                if (solo[j]->parts[0].m == p->m)
                                        t = solo[j];
                        if (!t) {
                                t = solo[n_solo++] = batch_new(s, p->m->from_s, p->m->to_s);
                                t->solo = true;
                                t->state = BATCH_WAITING;
                        }
                        t->parts = xrealloc(t->parts, (t->n_parts + 1) * sizeof(*t->parts));
                        t->parts[t->n_parts++] = (struct part){.m = p->m,
                                                               .first = t->n_queries,
                                                               .metric_lo = p->metric_lo,
                                                               .metric_hi = p->metric_hi};
                        p->m->parts_left++;
                        size_t nq = 2 * (p->metric_hi - p->metric_lo);
                        t->queries = xrealloc(t->queries, (t->n_queries + nq) * sizeof(char *));
                        memcpy(t->queries + t->n_queries, b->queries + p->first,
                               nq * sizeof(char *));
                        t->n_queries += nq;
                }
                /* the canaries now wait for the solo parts; b's references go in batch_free */
                batch_free(b);
                for (size_t j = 0; j < n_solo; j++)
                        batch_dispatch(solo[j]);
                free(solo);
                return;
        }
        bool transient = res->error == -EAGAIN || (res->status == 0 && res->error != -ENODEV);
        if (!transient || b->attempt >= QUERY_ATTEMPTS || d->stopping) {
                batch_resolve(b, res, NULL);
                return;
        }
        usec_t delay = QUERY_BACKOFF_USEC << (b->attempt - 1);
        if (delay > QUERY_BACKOFF_MAX)
                delay = QUERY_BACKOFF_MAX;
        delay = jitter(s, delay / 2, delay); /* "equal jitter" */
        for (size_t i = 0; i < b->n_parts; i++) {
                struct part *p = &b->parts[i];
                if (p->m->c)
                        log_canary(LOG_WARNING, p->m->c, NULL, NULL,
                                   "datadog query for %zu metric%s (one request, %u canar%s) "
                                   "failed: %s; retrying in %.1fs (attempt %u of %d)",
                                   p->metric_hi - p->metric_lo,
                                   p->metric_hi - p->metric_lo == 1 ? "" : "s", canaries,
                                   canaries == 1 ? "y" : "ies", res->message,
                                   (double)delay / USEC_PER_SEC, b->attempt + 1, QUERY_ATTEMPTS);
        }
        if (arm(b, now + delay) < 0)
                batch_resolve(b, res, NULL);
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
        a->pending = 1; /* held while planning, so a synchronous failure cannot finish early */

        /* Datadog takes whole seconds: round the window inwards so it stays inside the step. */
        int64_t from_s = (int64_t)((window_start + USEC_PER_SEC - 1) / USEC_PER_SEC);
        int64_t to_s = (int64_t)(window_end / USEC_PER_SEC);
        if (to_s <= from_s)
                to_s = from_s + 1;

        struct pending_query *m = xcalloc(1, sizeof(*m));
        m->c = c;
        m->from_s = from_s;
        m->to_s = to_s;
        m->n_queries = 2 * cfg->n_metrics;
        m->queries = xcalloc(m->n_queries, sizeof(*m->queries));
        for (size_t i = 0; i < cfg->n_metrics; i++) {
                m->queries[2 * i] = query_expand(cfg->metrics[i].query, cfg->scope_canary, cfg);
                m->queries[2 * i + 1] =
                    query_expand(cfg->metrics[i].query, cfg->scope_baseline, cfg);
        }
        a->queries = m;
        m->parts_left = 1; /* ours, while planning */
        if (c->d->datadog) {
                /* m lives while a batch holds a part of it; a->pending counts the parts */
                plan(sched_get(c->d), m, cfg->n_metrics);
        } else {
                for (size_t i = 0; i < cfg->n_metrics; i++)
                        a->samples[i].error = xstrdup("datadog: no client configured");
        }
        part_resolved(m);
        member_unref(m);
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
        s->validate_gen++;
        s->validate_backoff = 0;
        if (s->validate_timer)
                sd_event_source_set_enabled(s->validate_timer, SD_EVENT_OFF);
        validate_send(s);
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
        /* Only batches nobody waits for are left here (the canaries are gone). */
        while (s->batches)
                batch_free(s->batches);
        sd_event_source_disable_unref(s->validate_timer);
        free(s->key_problem);
        free(s);
        d->sched = NULL;
}
