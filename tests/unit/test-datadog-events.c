/* The Datadog events sender against a scripted loopback server: 429 waits for
 * X-RateLimit-Reset and is retried, 5xx retried with backoff, 202 delivers, 400 and 403 drop
 * without a retry, events go one at a time in order with the API key only; a full queue drops
 * the oldest routine event; events yield to a query held by a 429 of the same limit, and an
 * event's 429 on another limit leaves the queries alone. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canaryd/datadog-events.h"
#include "canaryd/datadog-sched.h"
#include "canaryd/datadog.h"
#include "canaryd/http.h"
#include "fake-http.h"

#define MAXN 8

struct seen {
        size_t n;
        char label[MAXN][32];
        enum datadog_events_outcome outcome[MAXN];
        unsigned attempts[MAXN];
        long status[MAXN];
        int64_t id[MAXN];
        usec_t at[MAXN];
};

static void on_done(const struct datadog_events_report *r, void *userdata)
{
        struct seen *s = userdata;

        assert_true(s->n < MAXN);
        snprintf(s->label[s->n], sizeof(s->label[0]), "%s", r->label);
        s->outcome[s->n] = r->outcome;
        s->attempts[s->n] = r->attempts;
        s->status[s->n] = r->http_status;
        s->id[s->n] = r->event_id;
        s->at[s->n] = fake_mono_usec();
        if (r->outcome != DATADOG_EVENTS_SENT)
                assert_non_null(r->message);
        s->n++;
}

static void wait_n(sd_event *ev, struct seen *s, size_t n)
{
        for (int i = 0; i < 800 && s->n < n; i++)
                assert_true(sd_event_run(ev, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(s->n, n);
}

struct env {
        struct fake f;
        sd_event *ev;
        struct http_client *http;
        struct datadog_client *dd;
        char *base;
};

static void env_up(struct env *e, const struct fake_resp *script, size_t n)
{
        fake_start(&e->f, script, n);
        e->base = xasprintf("http://127.0.0.1:%d", e->f.port);
        struct datadog_settings ds = {.base_url = e->base,
                                      .api_key = "sandbox-api-key",
                                      .app_key = "sandbox-app-key",
                                      .api = DATADOG_API_V1,
                                      .timeout_ms = 3000};
        assert_int_equal(sd_event_new(&e->ev), 0);
        assert_int_equal(http_client_new(e->ev, &e->http), 0);
        assert_int_equal(datadog_client_new(e->http, &ds, &e->dd), 0);
}

static void env_down(struct env *e)
{
        e->http = http_client_free(e->http);
        e->dd = datadog_client_free(e->dd);
        sd_event_unref(e->ev);
        fake_stop(&e->f);
        free(e->base);
}

static const char accepted[] =
    "{\"status\":\"ok\",\"event\":{\"id\":7000000000000000001,\"id_str\":\"7000000000000000001\"}}";

static void retries_then_delivers_in_order(void **state)
{
        static const struct fake_resp script[] = {
            {429,
             "X-RateLimit-Limit: 5\r\nX-RateLimit-Period: 60\r\nX-RateLimit-Remaining: 0\r\n"
             "X-RateLimit-Reset: 1\r\nX-RateLimit-Name: events_submission\r\n",
             ""},
            {503, NULL, "<html>unavailable</html>"},
            {202, NULL, accepted},
            {400, NULL, "{\"errors\":[\"Event title is required\"]}"},
            {403, NULL, "{\"errors\":[\"Forbidden\"]}"},
            {202, NULL, "{\"status\":\"ok\",\"event\":{\"id\":42}}"},
        };
        struct datadog_events_settings s = {.backoff_min_usec = 5 * USEC_PER_MSEC,
                                            .backoff_max_usec = 20 * USEC_PER_MSEC};
        struct datadog_events *de;
        struct seen seen = {0};
        struct env e;
        (void)state;

        env_up(&e, script, ELEMENTSOF(script));
        assert_int_equal(datadog_events_new(e.ev, NULL, &s, on_done, &seen, &de), 0);
        datadog_events_set_client(de, e.dd);
        usec_t t0 = fake_mono_usec();
        assert_int_equal(datadog_events_post(de, xstrdup("{\"title\":\"1\"}"), "one", false), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{\"title\":\"2\"}"), "two", false), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{\"title\":\"3\"}"), "three", true), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{\"title\":\"4\"}"), "four", false), 0);
        assert_int_equal(datadog_events_queued(de), 4);
        wait_n(e.ev, &seen, 4);
        assert_int_equal(datadog_events_queued(de), 0);

        assert_string_equal(seen.label[0], "one");
        assert_int_equal(seen.outcome[0], DATADOG_EVENTS_SENT);
        assert_int_equal(seen.attempts[0], 3);
        assert_true(seen.id[0] == INT64_C(7000000000000000001));
        /* the 429's X-RateLimit-Reset (1 s), not the 5 ms backoff */
        assert_true(seen.at[0] - t0 >= 900 * USEC_PER_MSEC);
        assert_string_equal(seen.label[1], "two");
        assert_int_equal(seen.outcome[1], DATADOG_EVENTS_FAILED);
        assert_int_equal(seen.attempts[1], 1);
        assert_int_equal(seen.status[1], 400);
        assert_string_equal(seen.label[2], "three");
        assert_int_equal(seen.outcome[2], DATADOG_EVENTS_FAILED);
        assert_int_equal(seen.attempts[2], 1);
        assert_int_equal(seen.status[2], 403);
        assert_int_equal(seen.outcome[3], DATADOG_EVENTS_SENT);
        assert_true(seen.id[3] == 42);

        /* the wire: POST /api/v1/events, the body as given, the API key and no application
         * key */
        pthread_mutex_lock(&e.f.lock);
        assert_int_equal(e.f.n_reqs, 6);
        for (size_t i = 0; i < e.f.n_reqs; i++) {
                assert_true(strncmp(e.f.reqs[i].head, "POST /api/v1/events HTTP/1.1\r\n", 30) == 0);
                assert_non_null(strcasestr(e.f.reqs[i].head, "DD-API-KEY: sandbox-api-key"));
                assert_null(strcasestr(e.f.reqs[i].head, "DD-APPLICATION-KEY"));
                assert_non_null(strcasestr(e.f.reqs[i].head, "Content-Type: application/json"));
        }
        assert_string_equal(e.f.reqs[0].body, "{\"title\":\"1\"}");
        assert_string_equal(e.f.reqs[2].body, "{\"title\":\"1\"}");
        assert_string_equal(e.f.reqs[5].body, "{\"title\":\"4\"}");
        pthread_mutex_unlock(&e.f.lock);

        datadog_events_free(de);
        env_down(&e);
}

static void gives_up_after_max_attempts(void **state)
{
        static const struct fake_resp script[] = {
            {500, NULL, ""}, {502, NULL, ""}, {503, NULL, ""}, {202, NULL, accepted}};
        struct datadog_events_settings s = {.backoff_min_usec = 2 * USEC_PER_MSEC,
                                            .backoff_max_usec = 4 * USEC_PER_MSEC,
                                            .max_attempts = 3};
        struct datadog_events *de;
        struct seen seen = {0};
        struct env e;
        (void)state;

        env_up(&e, script, ELEMENTSOF(script));
        assert_int_equal(datadog_events_new(e.ev, NULL, &s, on_done, &seen, &de), 0);
        datadog_events_set_client(de, e.dd);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "x", false), 0);
        wait_n(e.ev, &seen, 1);
        assert_int_equal(seen.outcome[0], DATADOG_EVENTS_FAILED);
        assert_int_equal(seen.attempts[0], 3);
        assert_int_equal(seen.status[0], 503);
        datadog_events_free(de);
        env_down(&e);
}

static void full_queue_drops_the_oldest_routine_event(void **state)
{
        struct datadog_events_settings s = {.queue_max = 3};
        struct datadog_events *de;
        struct seen seen = {0};
        sd_event *ev;
        (void)state;

        assert_int_equal(sd_event_new(&ev), 0);
        /* no client: everything waits */
        assert_int_equal(datadog_events_new(ev, NULL, &s, on_done, &seen, &de), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "rollback", true), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "started", false), 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "promoted", false), 0);
        assert_int_equal(seen.n, 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "next", false), 0);
        assert_int_equal(seen.n, 1);
        assert_string_equal(seen.label[0], "started");
        assert_int_equal(seen.outcome[0], DATADOG_EVENTS_DROPPED);
        assert_int_equal(datadog_events_queued(de), 3);
        /* only important ones left: the oldest goes */
        datadog_events_free(de);
        seen.n = 0;
        assert_int_equal(datadog_events_new(ev, NULL, &s, on_done, &seen, &de), 0);
        for (int i = 0; i < 4; i++) {
                char label[8];
                snprintf(label, sizeof(label), "rb%d", i);
                assert_int_equal(datadog_events_post(de, xstrdup("{}"), label, true), 0);
        }
        assert_int_equal(seen.n, 1);
        assert_string_equal(seen.label[0], "rb0");
        assert_int_equal(datadog_events_post(de, NULL, "x", false), -EINVAL);
        datadog_events_free(de);
        sd_event_unref(ev);
}

static void query_answers(int error, struct datadog_answer *answers, size_t n, void *userdata)
{
        (*(int *)userdata)++;
}

/* A query held by a 429 holds the events too; the event goes after the query's retry. */
static void events_yield_to_held_queries(void **state)
{
        static const struct fake_resp script[] = {
            {429,
             "X-RateLimit-Limit: 10\r\nX-RateLimit-Period: 60\r\nX-RateLimit-Remaining: 0\r\n"
             "X-RateLimit-Reset: 1\r\nX-RateLimit-Name: query_timeseries\r\n",
             "{\"errors\":[\"Rate limit of 10 requests in 60 seconds reached.\"]}"},
            {200,
             "X-RateLimit-Limit: 10\r\nX-RateLimit-Period: 60\r\nX-RateLimit-Remaining: 9\r\n"
             "X-RateLimit-Reset: 59\r\nX-RateLimit-Name: query_timeseries\r\n",
             "{\"status\":\"ok\",\"res_type\":\"time_series\",\"series\":[]}"},
            {202, NULL, accepted},
        };
        struct datadog_sched_settings ss = {.gather_usec = 5 * USEC_PER_MSEC};
        struct datadog_sched *sched;
        struct datadog_events *de;
        struct seen seen = {0};
        int answered = 0;
        struct env e;
        (void)state;

        env_up(&e, script, ELEMENTSOF(script));
        assert_int_equal(datadog_sched_new(e.ev, &ss, &sched), 0);
        datadog_sched_set_client(sched, e.dd);
        datadog_sched_set_round(sched, 1);
        assert_int_equal(datadog_events_new(e.ev, sched, NULL, on_done, &seen, &de), 0);
        datadog_events_set_client(de, e.dd);

        char **q = xcalloc(1, sizeof(*q));
        q[0] = xstrdup("avg:m{a}");
        assert_int_equal(
            datadog_sched_submit(sched, q, NULL, 1, 1000, 1060, query_answers, &answered, NULL), 0);
        for (int i = 0; i < 300 && fake_count(&e.f) < 1; i++)
                assert_true(sd_event_run(e.ev, 10 * USEC_PER_MSEC) >= 0);
        for (int i = 0; i < 10; i++) /* the 429's answer */
                assert_true(sd_event_run(e.ev, 10 * USEC_PER_MSEC) >= 0);
        assert_true(datadog_sched_idle_at(sched) > 0);
        assert_int_equal(datadog_events_post(de, xstrdup("{}"), "ev", false), 0);
        wait_n(e.ev, &seen, 1);
        assert_int_equal(answered, 1);
        assert_int_equal(seen.outcome[0], DATADOG_EVENTS_SENT);
        pthread_mutex_lock(&e.f.lock);
        assert_int_equal(e.f.n_reqs, 3);
        assert_true(strncmp(e.f.reqs[0].head, "GET /api/v1/query", 17) == 0);
        assert_true(strncmp(e.f.reqs[1].head, "GET /api/v1/query", 17) == 0);
        assert_true(strncmp(e.f.reqs[2].head, "POST /api/v1/events", 19) == 0);
        assert_true(e.f.reqs[2].at >= e.f.reqs[1].at);
        pthread_mutex_unlock(&e.f.lock);

        /* the queries' limit is known now (query_timeseries, 9 left): an event's 429 on its
         * own limit leaves them alone, one on theirs holds them until the reset */
        struct datadog_result ans = {.error = -EAGAIN,
                                     .status = 429,
                                     .retry_after_usec = 30 * USEC_PER_SEC,
                                     .ratelimit = {.limit = 5,
                                                   .period = 60,
                                                   .remaining = 0,
                                                   .reset = 30,
                                                   .name = "events_submission"}};
        datadog_sched_note_answer(sched, &ans);
        assert_int_equal(datadog_sched_idle_at(sched), 0);
        assert_int_equal(datadog_sched_ratelimit_remaining(sched), 9);
        strcpy(ans.ratelimit.name, "query_timeseries");
        datadog_sched_note_answer(sched, &ans);
        assert_true(datadog_sched_idle_at(sched) > fake_mono_usec() + 25 * USEC_PER_SEC);
        assert_int_equal(datadog_sched_ratelimit_remaining(sched), 0);

        datadog_events_free(de);
        datadog_sched_free(sched);
        env_down(&e);
}

/* An event's 429 on its own limit does not hold the queries; on the queries' limit it does. */
static void event_429_holds_queries_only_on_their_limit(void **state)
{
        struct datadog_sched_settings ss = {.gather_usec = 5 * USEC_PER_MSEC};
        struct datadog_sched *sched;
        sd_event *ev;
        (void)state;

        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(datadog_sched_new(ev, &ss, &sched), 0);
        struct datadog_result other = {.error = -EAGAIN,
                                       .status = 429,
                                       .retry_after_usec = 30 * USEC_PER_SEC,
                                       .ratelimit = {.limit = 5,
                                                     .period = 60,
                                                     .remaining = 0,
                                                     .reset = 30,
                                                     .name = "events_submission"}};
        /* nothing known of the queries' limit yet: left alone */
        datadog_sched_note_answer(sched, &other);
        assert_int_equal(datadog_sched_idle_at(sched), 0);
        assert_int_equal(datadog_sched_ratelimit_remaining(sched), -1);
        datadog_sched_free(sched);
        sd_event_unref(ev);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(retries_then_delivers_in_order),
            cmocka_unit_test(gives_up_after_max_attempts),
            cmocka_unit_test(full_queue_drops_the_oldest_routine_event),
            cmocka_unit_test(events_yield_to_held_queries),
            cmocka_unit_test(event_429_holds_queries_only_on_their_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
