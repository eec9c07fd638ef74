/* The analysis runner (daemon/analysis.c) against a loopback fake of Datadog's
 * POST /api/v2/query/timeseries, with no canary and no daemon: a configuration, a window and
 * callbacks in, exactly one verdict out. A shifted canary fails and an unchanged one passes; a
 * query Datadog refuses makes the metric inconclusive, never a pass; a cancelled analysis is
 * never answered; a sequential metric asks for everything since the rollout started and takes
 * each point's traffic share from its owner; the done callback may start the next analysis. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../src/daemon/analysis.h"
#include "canaryd/datadog.h"
#include "canaryd/http.h"
#include "fake-http.h"

/* Two canaries: "good" (the canary's points equal the baseline's), "bad" (+50 %); "broken"
 * queries are refused by the fake (400). */
static const char config_text[] =
    "canaries:\n"
    "  - name: good\n"
    "    namespace: shop\n"
    "    virtual_service: good\n"
    "    stable: {host: good}\n"
    "    canary: {host: good-canary}\n"
    "    steps: [10, 50]\n"
    "    scopes: {canary: \"arm:canary\", baseline: \"arm:baseline\"}\n"
    "    metrics:\n"
    "      - name: latency\n"
    "        query: \"avg:lat{svc:good,{{scope}}}\"\n"
    "        judge: mann_whitney\n"
    "  - name: bad\n"
    "    namespace: shop\n"
    "    virtual_service: bad\n"
    "    stable: {host: bad}\n"
    "    canary: {host: bad-canary}\n"
    "    steps: [10, 50]\n"
    "    scopes: {canary: \"arm:canary\", baseline: \"arm:baseline\"}\n"
    "    metrics:\n"
    "      - name: errors\n"
    "        query: \"avg:err{svc:good,{{scope}}}\"\n"
    "        judge: threshold\n"
    "        max: 1000\n"
    "      - name: latency\n"
    "        query: \"avg:lat{svc:bad,{{scope}}}\"\n"
    "        judge: mann_whitney\n"
    "  - name: broken\n"
    "    namespace: shop\n"
    "    virtual_service: broken\n"
    "    stable: {host: broken}\n"
    "    canary: {host: broken-canary}\n"
    "    steps: [10, 50]\n"
    "    scopes: {canary: \"arm:canary\", baseline: \"arm:baseline\"}\n"
    "    metrics:\n"
    "      - name: latency\n"
    "        query: \"avg:lat{svc:broken,{{scope}}}\"\n"
    "        judge: mann_whitney\n"
    "  - name: seq\n"
    "    namespace: shop\n"
    "    virtual_service: seq\n"
    "    stable: {host: seq}\n"
    "    canary: {host: seq-canary}\n"
    "    steps: [10, 50]\n"
    "    scopes: {canary: \"arm:canary\", baseline: \"arm:baseline\"}\n"
    "    metrics:\n"
    "      - name: latency\n"
    "        query: \"avg:lat{svc:good,{{scope}}}\"\n"
    "        judge: sequential\n";

#define WINDOW_START (1700000000 * USEC_PER_SEC)
#define WINDOW_END   (WINDOW_START + 300 * USEC_PER_SEC)

struct server {
        struct fake_threads t;
        pthread_mutex_t lock;
        unsigned n_requests;
        double first_from_ms; /* "from" of the first request */
};

/* The points of one query over [from, to] ms, one every 10 s: 100 + (i mod 7), times 1.5 for
 * the canary arm of "svc:bad". */
static void put_series(struct buf *b, const char *query, double from, double to)
{
        bool shifted = strstr(query, "svc:bad") && strstr(query, "arm:canary");
        size_t i = 0;

        buf_printf(b, "[");
        for (double t = from; t <= to; t += 10000, i++)
                buf_printf(b, "%s%g", i ? "," : "",
                           (100.0 + (double)(i % 7)) * (shifted ? 1.5 : 1));
        buf_printf(b, "]");
}

static void serve(void *userdata, int fd, unsigned index)
{
        struct server *s = userdata;
        struct buf in = {0}, body = {0};
        char chunk[65536];
        size_t want = 0, head = 0;
        int status = 200;

        (void)index;
        for (;;) {
                ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                if (r <= 0)
                        goto out;
                buf_append(&in, chunk, (size_t)r);
                const char *end = strstr(in.data, "\r\n\r\n");
                if (!end)
                        continue;
                head = (size_t)(end - in.data) + 4;
                const char *cl = strcasestr(in.data, "\r\nContent-Length: ");
                want = cl ? (size_t)strtoul(cl + 18, NULL, 10) : 0;
                if (in.len >= head + want)
                        break;
        }
        cJSON *req = cJSON_ParseWithLength(in.data + head, want);
        const cJSON *attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(req, "data"), "attributes");
        const cJSON *queries = cJSON_GetObjectItem(attrs, "queries"), *q;
        double from = cJSON_GetNumberValue(cJSON_GetObjectItem(attrs, "from"));
        double to = cJSON_GetNumberValue(cJSON_GetObjectItem(attrs, "to"));

        pthread_mutex_lock(&s->lock);
        if (s->n_requests++ == 0)
                s->first_from_ms = from;
        pthread_mutex_unlock(&s->lock);
        cJSON_ArrayForEach (q, queries)
                if (strstr(cJSON_GetStringValue(cJSON_GetObjectItem(q, "query")), "broken"))
                        status = 400;
        if (status == 200) {
                size_t i = 0;
                buf_printf(&body, "{\"data\":{\"type\":\"timeseries_response\",\"attributes\":{"
                                  "\"series\":[");
                cJSON_ArrayForEach (q, queries)
                        buf_printf(&body, "%s{\"group_tags\":[],\"query_index\":%zu,\"unit\":null}",
                                   i ? "," : "", i),
                            i++;
                buf_printf(&body, "],\"times\":[");
                i = 0;
                for (double t = from; t <= to; t += 10000)
                        buf_printf(&body, "%s%.0f", i++ ? "," : "", t);
                buf_printf(&body, "],\"values\":[");
                i = 0;
                cJSON_ArrayForEach (q, queries) {
                        buf_printf(&body, "%s", i++ ? "," : "");
                        put_series(&body, cJSON_GetStringValue(cJSON_GetObjectItem(q, "query")),
                                   from, to);
                }
                buf_printf(&body, "]}}}");
        } else {
                buf_printf(&body, "{\"errors\":[\"Error parsing query: broken\"]}");
        }
        char *resp = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                               status, body.len, body.data ? body.data : "");
        fake_send_all(fd, resp, strlen(resp));
        free(resp);
        cJSON_Delete(req);
out:
        buf_free(&body);
        buf_free(&in);
}

/* One owner of an analysis: what its callbacks saw. */
struct owner {
        struct env *env;
        struct analysis a;
        const struct canary_config *cfg;
        unsigned done_calls;
        struct analysis_outcome last; /* copied; reports and why not kept */
        enum verdict verdicts[4];
        char why[256];
        unsigned check_lines; /* "check ..." log lines with a METRIC= field */
        unsigned weight_calls;
        bool start_again; /* the done callback starts the next step's analysis */
};

struct env {
        struct server srv;
        sd_event *ev;
        struct http_client *http;
        struct datadog_client *dd;
        struct analysis_sched *sched;
        struct config *config;
        char *base;
};

static void on_done(void *userdata, const struct analysis_outcome *o)
{
        struct owner *w = userdata;

        w->done_calls++;
        w->last = *o;
        w->last.reports = NULL;
        w->last.why = NULL;
        snprintf(w->why, sizeof(w->why), "%s", o->why);
        for (size_t i = 0; i < o->n_reports && i < 4; i++)
                w->verdicts[i] = o->reports[i].verdict;
        assert_false(w->a.running); /* free for the next one before the callback runs */
        if (w->start_again) {
                w->start_again = false;
                analysis_start(w->env->sched, &w->a, w->cfg, o->step + 1, 0, WINDOW_START, 0,
                               WINDOW_END, false, w);
                assert_true(w->a.running);
        }
}

static void on_log(void *userdata, int priority, const char *const *fields, const char *message)
{
        struct owner *w = userdata;

        (void)priority;
        if (!w || strncmp(message, "check ", 6) != 0)
                return;
        assert_non_null(fields);
        assert_non_null(fields[0]);
        assert_true(strncmp(fields[0], "METRIC=", 7) == 0);
        w->check_lines++;
}

static int on_weight_at(void *userdata, usec_t t)
{
        struct owner *w = userdata;

        w->weight_calls++;
        return t < WINDOW_START ? 10 : 50;
}

static const struct analysis_callbacks callbacks = {
    .done = on_done, .log = on_log, .weight_at = on_weight_at};

static void env_start(struct env *e)
{
        struct datadog_settings ds = {
            .api_key = "k", .app_key = "a", .api = DATADOG_API_V2, .timeout_ms = 5000};
        struct config_problems problems = {0};

        memset(e, 0, sizeof(*e));
        pthread_mutex_init(&e->srv.lock, NULL);
        fake_threads_start(&e->srv.t, FAKE_THREADS_MAX, 64, serve, NULL, &e->srv);
        e->base = xasprintf("http://127.0.0.1:%d", e->srv.t.port);
        ds.base_url = e->base;
        assert_int_equal(config_parse(config_text, strlen(config_text), &e->config, &problems), 0);
        config_problems_free(&problems);
        assert_int_equal(sd_event_new(&e->ev), 0);
        assert_int_equal(http_client_new(e->ev, &e->http), 0);
        assert_int_equal(datadog_client_new(e->http, &ds, &e->dd), 0);
        assert_int_equal(analysis_sched_new(e->ev, &callbacks, &e->sched), 0);
        analysis_sched_set_client(e->sched, e->dd, 4);
}

static void env_stop(struct env *e)
{
        e->sched = analysis_sched_free(e->sched);
        e->http = http_client_free(e->http);
        e->dd = datadog_client_free(e->dd);
        sd_event_unref(e->ev);
        fake_threads_stop(&e->srv.t);
        pthread_mutex_destroy(&e->srv.lock);
        config_free(e->config);
        free(e->base);
}

static const struct canary_config *canary(struct env *e, const char *name)
{
        for (size_t i = 0; i < e->config->n_canaries; i++)
                if (strcmp(e->config->canaries[i].name, name) == 0)
                        return &e->config->canaries[i];
        fail_msg("no canary %s", name);
        return NULL;
}

static void owner_init(struct owner *w, struct env *e, const char *name)
{
        memset(w, 0, sizeof(*w));
        w->env = e;
        w->cfg = canary(e, name);
}

static void start(struct owner *w, unsigned step, usec_t rollout_started)
{
        analysis_start(w->env->sched, &w->a, w->cfg, step, rollout_started, WINDOW_START, 0,
                       WINDOW_END, false, w);
        assert_true(w->a.running);
        assert_int_equal(w->done_calls, 0); /* never answered from inside start */
}

/* Runs the loop until every owner has its verdict (or 5 s have passed), then a little more so
 * that a second answer, if there were one, would arrive. */
static void spin_until_done(struct env *e, struct owner **w, size_t n)
{
        usec_t until = fake_mono_usec() + 5 * USEC_PER_SEC;
        for (;;) {
                size_t done = 0;
                for (size_t i = 0; i < n; i++)
                        done += w[i]->done_calls > 0;
                if (done == n || fake_mono_usec() > until)
                        break;
                assert_true(sd_event_run(e->ev, 10 * USEC_PER_MSEC) >= 0);
        }
        for (usec_t t = fake_mono_usec() + 200 * USEC_PER_MSEC; fake_mono_usec() < t;)
                assert_true(sd_event_run(e->ev, 10 * USEC_PER_MSEC) >= 0);
}

static void shifted_canary_fails_unchanged_passes(void **state)
{
        struct env e;
        struct owner good, bad;
        (void)state;

        env_start(&e);
        owner_init(&good, &e, "good");
        owner_init(&bad, &e, "bad");
        start(&good, 1, WINDOW_START);
        start(&bad, 2, WINDOW_START);
        spin_until_done(&e, (struct owner *[]){&good, &bad}, 2);

        assert_int_equal(good.done_calls, 1);
        assert_int_equal(good.last.result, ANALYSIS_PASS);
        assert_int_equal(good.last.n_reports, 1);
        assert_int_equal(good.verdicts[0], VERDICT_PASS);
        assert_string_equal(good.why, "");
        assert_int_equal(good.last.step, 1);
        assert_true(good.last.window_start_usec == WINDOW_START);
        assert_true(good.last.window_end_usec == WINDOW_END);
        assert_int_equal(good.check_lines, 1);

        assert_int_equal(bad.done_calls, 1);
        assert_int_equal(bad.last.result, ANALYSIS_FAIL);
        assert_int_equal(bad.last.n_reports, 2);
        assert_int_equal(bad.verdicts[0], VERDICT_PASS); /* errors: the threshold holds */
        assert_int_equal(bad.verdicts[1], VERDICT_FAIL);
        assert_non_null(strstr(bad.why, "latency ("));
        assert_null(strstr(bad.why, "errors"));
        assert_int_equal(bad.last.step, 2);
        assert_int_equal(bad.check_lines, 2);
        /* both analyses shared one request */
        assert_int_equal(e.srv.n_requests, 1);
        assert_false(good.a.running);
        assert_null(good.a.samples);
        env_stop(&e);
}

static void refused_query_is_inconclusive(void **state)
{
        struct env e;
        struct owner broken;
        (void)state;

        env_start(&e);
        owner_init(&broken, &e, "broken");
        start(&broken, 1, WINDOW_START);
        spin_until_done(&e, (struct owner *[]){&broken}, 1);
        assert_int_equal(broken.done_calls, 1);
        assert_int_equal(broken.last.result, ANALYSIS_INCONCLUSIVE);
        assert_int_equal(broken.verdicts[0], VERDICT_INCONCLUSIVE);
        env_stop(&e);
}

static void cancelled_is_never_answered(void **state)
{
        struct env e;
        struct owner good;
        (void)state;

        env_start(&e);
        owner_init(&good, &e, "good");
        start(&good, 1, WINDOW_START);
        analysis_cancel(&good.a);
        assert_false(good.a.running);
        analysis_cancel(&good.a); /* twice is harmless */
        for (usec_t t = fake_mono_usec() + 1500 * USEC_PER_MSEC; fake_mono_usec() < t;)
                assert_true(sd_event_run(e.ev, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(good.done_calls, 0);
        env_stop(&e);
}

/* A sequential metric's query reaches back to the rollout's start, and each canary point gets
 * its share from the owner; the other judges keep the step's window. */
static void sequential_reaches_back_to_the_start(void **state)
{
        struct env e;
        struct owner seq;
        usec_t started = WINDOW_START - 600 * USEC_PER_SEC;
        (void)state;

        env_start(&e);
        owner_init(&seq, &e, "seq");
        start(&seq, 2, started);
        spin_until_done(&e, (struct owner *[]){&seq}, 1);
        assert_int_equal(seq.done_calls, 1);
        assert_true(e.srv.first_from_ms == (double)(started / USEC_PER_SEC) * 1000.0);
        assert_true(seq.weight_calls >= 60);                 /* 90 points since the start */
        assert_int_not_equal(seq.verdicts[0], VERDICT_FAIL); /* equal arms */
        env_stop(&e);
}

/* The step's weight reached the cluster after the window's start (a slow or retried write):
 * Datadog is asked from then on, and the outcome still names the step's window. When it reached
 * the cluster only after the window's end, nothing is asked and every metric is inconclusive,
 * whatever its data would say (the "bad" canary's would fail). */
static void judges_only_while_the_weight_was_live(void **state)
{
        struct env e;
        struct owner bad;
        usec_t live = WINDOW_START + 60 * USEC_PER_SEC;
        (void)state;

        env_start(&e);
        owner_init(&bad, &e, "bad");
        analysis_start(e.sched, &bad.a, bad.cfg, 2, WINDOW_START, WINDOW_START, live, WINDOW_END,
                       false, &bad);
        spin_until_done(&e, (struct owner *[]){&bad}, 1);
        assert_int_equal(bad.done_calls, 1);
        assert_true(e.srv.first_from_ms == (double)(live / USEC_PER_SEC) * 1000.0);
        assert_true(bad.last.window_start_usec == WINDOW_START); /* the step's identity */
        assert_int_equal(bad.last.result, ANALYSIS_FAIL);

        owner_init(&bad, &e, "bad");
        e.srv.n_requests = 0;
        analysis_start(e.sched, &bad.a, bad.cfg, 2, WINDOW_START, WINDOW_START, WINDOW_END,
                       WINDOW_END, false, &bad);
        spin_until_done(&e, (struct owner *[]){&bad}, 1);
        assert_int_equal(bad.done_calls, 1);
        assert_int_equal(e.srv.n_requests, 0);
        assert_int_equal(bad.last.result, ANALYSIS_INCONCLUSIVE);
        assert_int_equal(bad.verdicts[0], VERDICT_INCONCLUSIVE);
        assert_int_equal(bad.verdicts[1], VERDICT_INCONCLUSIVE);
        assert_true(bad.last.window_start_usec == WINDOW_START);
        env_stop(&e);
}

static void done_may_start_the_next(void **state)
{
        struct env e;
        struct owner good;
        (void)state;

        env_start(&e);
        owner_init(&good, &e, "good");
        good.start_again = true;
        start(&good, 1, WINDOW_START);
        usec_t until = fake_mono_usec() + 5 * USEC_PER_SEC;
        while (good.done_calls < 2 && fake_mono_usec() < until)
                assert_true(sd_event_run(e.ev, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(good.done_calls, 2);
        assert_int_equal(good.last.step, 2);
        assert_int_equal(good.last.result, ANALYSIS_PASS);
        env_stop(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(shifted_canary_fails_unchanged_passes),
            cmocka_unit_test(refused_query_is_inconclusive),
            cmocka_unit_test(cancelled_is_never_answered),
            cmocka_unit_test(sequential_reaches_back_to_the_start),
            cmocka_unit_test(judges_only_while_the_weight_was_live),
            cmocka_unit_test(done_may_start_the_next),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
