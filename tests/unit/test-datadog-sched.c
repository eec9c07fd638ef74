/* The Datadog query scheduler against a loopback fake of POST /api/v2/query/timeseries: every
 * job answered exactly once, with its own points; a request that fills up goes out once; job
 * callbacks may cancel and submit; 429, 5xx and 400 are handled as docs/datadog.md says; a
 * request in flight survives its jobs and the scheduler. */
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
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "canaryd/datadog-sched.h"
#include "canaryd/datadog.h"
#include "canaryd/http.h"
#include "fake-http.h"

#define MAX_JOBS 400

/* The fake Datadog: answers each query "avg:m{job:J,q:Q}" with one point of value
 * 100 * J + Q at the window's start, or with the status its script gives the request. */
struct server {
        struct fake_threads t;
        pthread_mutex_t lock;
        int script[16]; /* status per request, 0 = 200 */
        unsigned n_requests;
        unsigned queries_seen; /* over all requests */
        size_t max_body;       /* the largest request body received */
        usec_t delay_usec;     /* before answering */
};

static void serve(void *userdata, int fd, unsigned index)
{
        struct server *s = userdata;
        struct buf in = {0};
        char chunk[65536], *hdr_end;
        size_t want = 0, head = 0;
        int status;

        for (;;) {
                ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                if (r <= 0)
                        goto out;
                buf_append(&in, chunk, (size_t)r);
                hdr_end = strstr(in.data, "\r\n\r\n");
                if (!hdr_end)
                        continue;
                head = (size_t)(hdr_end - in.data) + 4;
                const char *cl = strcasestr(in.data, "\r\nContent-Length: ");
                want = cl ? (size_t)strtoul(cl + 18, NULL, 10) : 0;
                if (in.len >= head + want)
                        break;
        }
        pthread_mutex_lock(&s->lock);
        unsigned k = s->n_requests++;
        if (want > s->max_body)
                s->max_body = want;
        status = k < ELEMENTSOF(s->script) && s->script[k] ? s->script[k] : 200;
        pthread_mutex_unlock(&s->lock);
        if (s->delay_usec)
                usleep((useconds_t)s->delay_usec);

        cJSON *req = cJSON_ParseWithLength(in.data + head, want);
        const cJSON *attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(req, "data"), "attributes");
        const cJSON *queries = cJSON_GetObjectItem(attrs, "queries"), *q;
        double from = cJSON_GetNumberValue(cJSON_GetObjectItem(attrs, "from"));
        struct buf body = {0};
        size_t i = 0;
        bool bad = false;

        cJSON_ArrayForEach (q, queries)
                bad |= strstr(cJSON_GetStringValue(cJSON_GetObjectItem(q, "query")), "bad") != NULL;
        if (status == 200 && bad)
                status = 400;
        if (status == 200) {
                buf_printf(&body, "{\"data\":{\"type\":\"timeseries_response\",\"attributes\":{"
                                  "\"series\":[");
                for (i = 0; i < (size_t)cJSON_GetArraySize(queries); i++)
                        buf_printf(&body, "%s{\"group_tags\":[],\"query_index\":%zu,\"unit\":null}",
                                   i ? "," : "", i);
                buf_printf(&body, "],\"times\":[%.0f],\"values\":[", from);
                i = 0;
                cJSON_ArrayForEach (q, queries) {
                        unsigned job = 0, qi = 0;
                        sscanf(cJSON_GetStringValue(cJSON_GetObjectItem(q, "query")),
                               "avg:m{job:%u,q:%u}", &job, &qi);
                        buf_printf(&body, "%s[%u]", i++ ? "," : "", 100 * job + qi);
                }
                buf_printf(&body, "]}}}");
        } else if (status == 400) {
                buf_printf(&body, "{\"errors\":[\"Error parsing query: bad\"]}");
        } else {
                buf_printf(&body, "{\"errors\":[\"Internal error\"]}");
        }
        pthread_mutex_lock(&s->lock);
        s->queries_seen += (unsigned)cJSON_GetArraySize(queries);
        pthread_mutex_unlock(&s->lock);
        char *resp = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
                               status, body.len,
                               status == 429 ? "X-RateLimit-Reset: 0\r\nX-RateLimit-Limit: 10\r\n"
                                               "X-RateLimit-Period: 10\r\n"
                                             : "",
                               body.data ? body.data : "");
        fake_send_all(fd, resp, strlen(resp));
        free(resp);
        buf_free(&body);
        cJSON_Delete(req);
out:
        (void)index;
        buf_free(&in);
}

struct job_seen {
        unsigned id;
        unsigned calls;
        int error;
        size_t n;
        double first_value[8];
        bool has_error[8];
};

struct env {
        struct server srv;
        sd_event *ev;
        struct http_client *http;
        struct datadog_client *dd;
        struct datadog_sched *sched;
        struct job_seen seen[MAX_JOBS];
        struct datadog_job *handles[MAX_JOBS];
        char *base;
        /* callback actions for the reentrancy test */
        int cancel_on_done[MAX_JOBS]; /* index+1 of a job to cancel from job i's done */
        bool submit_on_done[MAX_JOBS];
};

static struct env *the_env;

static void on_done(int error, struct datadog_answer *answers, size_t n, void *userdata)
{
        struct job_seen *j = userdata;
        struct env *e = the_env;

        j->calls++;
        j->error = error;
        j->n = n;
        for (size_t i = 0; i < n && i < 8; i++) {
                j->has_error[i] = answers[i].error != NULL;
                j->first_value[i] = answers[i].n ? answers[i].values[0] : (double)NAN;
        }
        e->handles[j->id] = NULL;
        if (e->cancel_on_done[j->id]) {
                unsigned other = (unsigned)e->cancel_on_done[j->id] - 1;
                datadog_job_cancel(e->handles[other]);
                e->handles[other] = NULL;
        }
        if (e->submit_on_done[j->id]) {
                unsigned id = j->id + 1;
                char **q = xcalloc(2, sizeof(*q));
                q[0] = xasprintf("avg:m{job:%u,q:0}", id);
                q[1] = xasprintf("avg:m{job:%u,q:1}", id);
                e->seen[id].id = id;
                assert_int_equal(datadog_sched_submit(e->sched, q, NULL, 2, 1000, 1010, on_done,
                                                      &e->seen[id], &e->handles[id]),
                                 0);
        }
}

static void env_start(struct env *e, const struct datadog_sched_settings *set)
{
        struct datadog_settings ds = {
            .api_key = "k", .app_key = "a", .api = DATADOG_API_V2, .timeout_ms = 5000};

        memset(e, 0, sizeof(*e));
        the_env = e;
        pthread_mutex_init(&e->srv.lock, NULL);
        fake_threads_start(&e->srv.t, FAKE_THREADS_MAX, 64, serve, NULL, &e->srv);
        e->base = xasprintf("http://127.0.0.1:%d", e->srv.t.port);
        ds.base_url = e->base;
        assert_int_equal(sd_event_new(&e->ev), 0);
        assert_int_equal(http_client_new(e->ev, &e->http), 0);
        assert_int_equal(datadog_client_new(e->http, &ds, &e->dd), 0);
        assert_int_equal(datadog_sched_new(e->ev, set, &e->sched), 0);
        datadog_sched_set_client(e->sched, e->dd);
}

static void env_stop(struct env *e)
{
        e->sched = datadog_sched_free(e->sched);
        e->http = http_client_free(e->http);
        e->dd = datadog_client_free(e->dd);
        sd_event_unref(e->ev);
        fake_threads_stop(&e->srv.t);
        pthread_mutex_destroy(&e->srv.lock);
        free(e->base);
}

static void submit(struct env *e, unsigned id, unsigned n_queries, const char *tag)
{
        char **q = xcalloc(n_queries, sizeof(*q));

        for (unsigned i = 0; i < n_queries; i++)
                q[i] = xasprintf("avg:m{job:%u,q:%u}%s", id, i, tag ? tag : "");
        e->seen[id].id = id;
        assert_int_equal(datadog_sched_submit(e->sched, q, NULL, n_queries, 1000, 1010, on_done,
                                              &e->seen[id], &e->handles[id]),
                         0);
}

static void spin(struct env *e, usec_t how_long)
{
        usec_t until = fake_mono_usec() + how_long;

        while (fake_mono_usec() < until)
                assert_true(sd_event_run(e->ev, 10 * USEC_PER_MSEC) >= 0);
}

static unsigned requests(struct env *e)
{
        pthread_mutex_lock(&e->srv.lock);
        unsigned n = e->srv.n_requests;
        pthread_mutex_unlock(&e->srv.lock);
        return n;
}

/* 300 jobs of 6 queries: 1,800 queries, more than one request holds (1,024). The first request
 * fills up and goes out at once; it must not go out again when its gather time comes while its
 * answer is still on the way (Datadog slower than the gather time). */
static void full_request_goes_out_once(void **state)
{
        struct datadog_sched_settings set = {.gather_usec = 200 * USEC_PER_MSEC};
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, &set);
        e->srv.delay_usec = 400 * USEC_PER_MSEC;
        for (unsigned i = 0; i < 300; i++)
                submit(e, i, 6, NULL);
        spin(e, 2000 * USEC_PER_MSEC);
        assert_int_equal(requests(e), 2);
        assert_int_equal(e->srv.queries_seen, 1800);
        assert_int_equal(datadog_sched_requests(e->sched), 2);
        for (unsigned i = 0; i < 300; i++) {
                assert_int_equal(e->seen[i].calls, 1);
                assert_int_equal(e->seen[i].error, 0);
                for (unsigned q = 0; q < 6; q++) {
                        assert_false(e->seen[i].has_error[q]);
                        assert_true(e->seen[i].first_value[q] == 100.0 * i + q);
                }
        }
        assert_int_equal(datadog_sched_jobs(e->sched), 0);
        env_stop(e);
        free(e);
}

/* Long queries: the request's byte limit binds before its 1,024 queries do. Every request
 * stays within DATADOG_V2_BODY_MAX (a request that grew past it was refused by Datadog, and by
 * the sandbox as 414 for v1's URL: every analysis in it came back inconclusive), and every job
 * is still answered once with its own points. */
static void requests_keep_to_the_size_limit(void **state)
{
        struct datadog_sched_settings set = {.gather_usec = 200 * USEC_PER_MSEC};
        struct env *e = xcalloc(1, sizeof(*e));
        char pad[420];

        memset(pad, 'x', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        char *tag = xasprintf(" by {pad_%s}", pad);
        env_start(e, &set);
        for (unsigned i = 0; i < 200; i++)
                submit(e, i, 6, tag);
        spin(e, 2000 * USEC_PER_MSEC);
        pthread_mutex_lock(&e->srv.lock);
        size_t max_body = e->srv.max_body;
        pthread_mutex_unlock(&e->srv.lock);
        assert_true(max_body > 0 && max_body <= DATADOG_V2_BODY_MAX);
        assert_true(requests(e) >= 3); /* 1,200 queries of ~470 bytes: over 560 KB in all */
        assert_int_equal(e->srv.queries_seen, 1200);
        for (unsigned i = 0; i < 200; i++) {
                assert_int_equal(e->seen[i].calls, 1);
                assert_int_equal(e->seen[i].error, 0);
                for (unsigned q = 0; q < 6; q++)
                        assert_true(e->seen[i].first_value[q] == 100.0 * i + q);
        }
        free(tag);
        env_stop(e);
        free(e);
}

/* Answers arrive together; the first callback cancels a job answered in the same request (its
 * callback must never run) and submits a new one (answered in its own request). Nothing is
 * ever answered from inside submit. */
static void callbacks_may_cancel_and_submit(void **state)
{
        struct datadog_sched_settings set = {.gather_usec = 50 * USEC_PER_MSEC};
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, &set);
        submit(e, 0, 2, NULL);
        submit(e, 1, 2, NULL);
        submit(e, 2, 2, NULL);
        e->cancel_on_done[0] = 1 + 1; /* job 0's answer cancels job 1 */
        e->submit_on_done[2] = true;  /* job 2's answer submits job 3 */
        assert_int_equal(e->seen[0].calls, 0);
        spin(e, 600 * USEC_PER_MSEC);
        assert_int_equal(e->seen[0].calls, 1);
        assert_int_equal(e->seen[1].calls, 0);
        assert_int_equal(e->seen[2].calls, 1);
        assert_int_equal(e->seen[3].calls, 1);
        assert_true(e->seen[3].first_value[1] == 301.0);
        assert_int_equal(requests(e), 2);
        assert_int_equal(datadog_sched_jobs(e->sched), 0);
        env_stop(e);
        free(e);
}

/* 429 waits for the reset without spending an attempt, 5xx backs off; then the points. */
static void retries_429_and_5xx(void **state)
{
        struct datadog_sched_settings set = {
            .gather_usec = 20 * USEC_PER_MSEC, .backoff_usec = 50 * USEC_PER_MSEC, .attempts = 2};
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, &set);
        e->srv.script[0] = 429;
        e->srv.script[1] = 503;
        submit(e, 7, 2, NULL);
        spin(e, 2500 * USEC_PER_MSEC);
        assert_int_equal(requests(e), 3);
        assert_int_equal(e->seen[7].calls, 1);
        assert_false(e->seen[7].has_error[0]);
        assert_true(e->seen[7].first_value[1] == 701.0);

        /* two 5xx with attempts = 2: an error answer, never a value */
        e->srv.script[3] = 500;
        e->srv.script[4] = 500;
        submit(e, 8, 2, NULL);
        spin(e, 800 * USEC_PER_MSEC);
        assert_int_equal(requests(e), 5);
        assert_int_equal(e->seen[8].calls, 1);
        assert_true(e->seen[8].has_error[0] && e->seen[8].has_error[1]);
        env_stop(e);
        free(e);
}

/* A 400 on a shared request is retried once per job: the bad job gets the error, the good one
 * its points. */
static void bad_query_splits_per_job(void **state)
{
        struct datadog_sched_settings set = {.gather_usec = 20 * USEC_PER_MSEC};
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, &set);
        submit(e, 1, 2, NULL);
        submit(e, 2, 2, ",bad");
        spin(e, 600 * USEC_PER_MSEC);
        assert_int_equal(requests(e), 3);
        assert_int_equal(e->seen[1].calls, 1);
        assert_false(e->seen[1].has_error[0]);
        assert_true(e->seen[1].first_value[0] == 100.0);
        assert_int_equal(e->seen[2].calls, 1);
        assert_true(e->seen[2].has_error[0]);
        env_stop(e);
        free(e);
}

/* Cancelled while its request is out: no callback; the reply is dropped. Then the scheduler
 * itself goes while a request is out: the reply (or the HTTP client's cancellation) frees it. */
static void cancel_and_free_in_flight(void **state)
{
        struct datadog_sched_settings set = {.gather_usec = 10 * USEC_PER_MSEC};
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, &set);
        e->srv.delay_usec = 300 * USEC_PER_MSEC;
        submit(e, 1, 2, NULL);
        while (requests(e) == 0)
                spin(e, 10 * USEC_PER_MSEC);
        datadog_job_cancel(e->handles[1]);
        spin(e, 600 * USEC_PER_MSEC);
        assert_int_equal(e->seen[1].calls, 0);
        assert_int_equal(datadog_sched_jobs(e->sched), 0);

        submit(e, 2, 2, NULL);
        while (requests(e) == 1)
                spin(e, 10 * USEC_PER_MSEC);
        e->sched = datadog_sched_free(e->sched); /* request 2 still out */
        e->http = http_client_free(e->http);     /* its cancellation frees it */
        assert_int_equal(e->seen[2].calls, 0);
        env_stop(e);
        free(e);
}

/* Without a client every job fails, but only from the loop, never inside submit. */
static void no_client_answers_later(void **state)
{
        struct env *e = xcalloc(1, sizeof(*e));

        env_start(e, NULL);
        datadog_sched_set_client(e->sched, NULL);
        submit(e, 4, 2, NULL);
        assert_int_equal(e->seen[4].calls, 0);
        spin(e, 50 * USEC_PER_MSEC);
        assert_int_equal(e->seen[4].calls, 1);
        assert_true(e->seen[4].has_error[0] && e->seen[4].has_error[1]);
        assert_int_equal(requests(e), 0);
        env_stop(e);
        free(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(full_request_goes_out_once),
            cmocka_unit_test(requests_keep_to_the_size_limit),
            cmocka_unit_test(callbacks_may_cancel_and_submit),
            cmocka_unit_test(retries_429_and_5xx),
            cmocka_unit_test(bad_query_splits_per_job),
            cmocka_unit_test(cancel_and_free_in_flight),
            cmocka_unit_test(no_client_answers_later),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
