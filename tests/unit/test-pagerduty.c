/* The PagerDuty client against a scripted loopback server: 429 and 5xx retried with backoff,
 * 202 delivers, 400 drops without a retry, events go out one at a time in order, a refused
 * connection is retried then given up; and the backoff arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "canaryd/http.h"
#include "canaryd/pagerduty.h"
#include "fake-http.h"

struct seen {
        size_t n;
        unsigned long id[4];
        enum pagerduty_status status[4];
        int error[4];
        long http_status[4];
        unsigned attempts[4];
        char dedup_key[4][64];
        char first_error[4][128];
};

static void on_sent(const struct pagerduty_outcome *o, void *userdata)
{
        struct seen *s = userdata;

        assert_true(s->n < 4);
        s->id[s->n] = o->id;
        s->status[s->n] = o->status;
        s->error[s->n] = o->error;
        s->http_status[s->n] = o->http_status;
        s->attempts[s->n] = o->attempts;
        snprintf(s->dedup_key[s->n], sizeof(s->dedup_key[0]), "%s",
                 o->result && o->result->dedup_key ? o->result->dedup_key : "");
        snprintf(s->first_error[s->n], sizeof(s->first_error[0]), "%s",
                 o->result && o->result->n_errors ? o->result->errors[0] : "");
        s->n++;
}

static void wait_n(sd_event *ev, struct seen *s, size_t n)
{
        for (int i = 0; i < 500 && s->n < n; i++)
                assert_true(sd_event_run(ev, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(s->n, n);
}

static void backoff_doubles_and_is_capped(void **state)
{
        struct pagerduty_settings s = {.backoff_min_usec = USEC_PER_SEC,
                                       .backoff_max_usec = 60 * USEC_PER_SEC};
        (void)state;

        assert_int_equal(pagerduty_backoff_usec(&s, 1, 0), USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 2, 0), 2 * USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 6, 0), 32 * USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 7, 0), 60 * USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 1000, 0), 60 * USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 1, 90 * USEC_PER_SEC), 90 * USEC_PER_SEC);
        s = (struct pagerduty_settings){0};
        assert_int_equal(pagerduty_backoff_usec(&s, 1, 0), USEC_PER_SEC);
        assert_int_equal(pagerduty_backoff_usec(&s, 100, 0), 300 * USEC_PER_SEC);
}

static void retries_then_delivers_in_order(void **state)
{
        static const struct fake_resp script[] = {
            {429, "Retry-After: 0\r\n",
             "{\"status\":\"throttle event\",\"message\":\"Requests for this service are "
             "arriving too quickly.\"}"},
            {503, NULL, "<html>unavailable</html>"},
            {202, NULL,
             "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":"
             "\"canaryd/checkout/1\"}"},
            {400, NULL,
             "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":"
             "[\"'payload.summary' is missing or blank\"]}"},
        };
        struct pagerduty_settings s = {.backoff_min_usec = 5 * USEC_PER_MSEC,
                                       .backoff_max_usec = 20 * USEC_PER_MSEC,
                                       .timeout_ms = 3000};
        struct pagerduty_client *p;
        struct http_client *http;
        struct seen seen = {0};
        unsigned long id1, id2;
        struct fake f;
        sd_event *ev;
        char *base;
        (void)state;

        fake_start(&f, script, ELEMENTSOF(script));
        base = xasprintf("http://127.0.0.1:%d/", f.port);
        s.base_url = base;
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(pagerduty_client_new(ev, http, &s, on_sent, &seen, &p), 0);

        assert_int_equal(pagerduty_enqueue(p, xstrdup("{\"n\":1}"), &id1), 0);
        assert_int_equal(pagerduty_enqueue(p, xstrdup("{\"n\":2}"), &id2), 0);
        assert_int_equal(pagerduty_client_queued(p), 2);
        wait_n(ev, &seen, 2);
        assert_int_equal(pagerduty_client_queued(p), 0);

        assert_int_equal(seen.id[0], id1);
        assert_int_equal(seen.status[0], PAGERDUTY_ACCEPTED);
        assert_int_equal(seen.attempts[0], 3);
        assert_int_equal(seen.http_status[0], 202);
        assert_string_equal(seen.dedup_key[0], "canaryd/checkout/1");
        assert_int_equal(seen.id[1], id2);
        assert_int_equal(seen.status[1], PAGERDUTY_INVALID);
        assert_int_equal(seen.attempts[1], 1);
        assert_string_equal(seen.first_error[1], "'payload.summary' is missing or blank");

        assert_int_equal(fake_count(&f), 4);
        for (size_t i = 0; i < 4; i++) {
                assert_non_null(strstr(f.reqs[i].head, "POST /v2/enqueue HTTP/1.1\r\n"));
                assert_non_null(strcasestr(f.reqs[i].head, "\r\nContent-Type: application/json"));
                assert_string_equal(f.reqs[i].body, i < 3 ? "{\"n\":1}" : "{\"n\":2}");
        }
        /* the retries waited: at least 5 ms, then 10 ms */
        assert_true(f.reqs[1].at - f.reqs[0].at >= 5 * USEC_PER_MSEC);
        assert_true(f.reqs[2].at - f.reqs[1].at >= 10 * USEC_PER_MSEC);

        p = pagerduty_client_free(p);
        http = http_client_free(http);
        sd_event_unref(ev);
        fake_stop(&f);
        free(base);
}

static void refused_connection_is_given_up_after_max_attempts(void **state)
{
        struct pagerduty_settings s = {.backoff_min_usec = USEC_PER_MSEC, .max_attempts = 2};
        struct pagerduty_client *p;
        struct http_client *http;
        struct seen seen = {0};
        sd_event *ev;
        int port, fd;
        char *base;
        (void)state;

        fd = fake_bind_loopback(&port);
        base = xasprintf("http://127.0.0.1:%d", port);
        s.base_url = base;
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(pagerduty_client_new(ev, http, &s, on_sent, &seen, &p), 0);
        assert_int_equal(pagerduty_enqueue(p, xstrdup("{}"), NULL), 0);
        wait_n(ev, &seen, 1);
        assert_int_equal(seen.status[0], PAGERDUTY_RETRY);
        assert_int_equal(seen.error[0], -ECONNREFUSED);
        assert_int_equal(seen.attempts[0], 2);
        assert_int_equal(seen.http_status[0], 0);

        /* queued events are dropped by free, the one in flight cancelled */
        assert_int_equal(pagerduty_enqueue(p, xstrdup("{}"), NULL), 0);
        assert_int_equal(pagerduty_enqueue(p, xstrdup("{}"), NULL), 0);
        p = pagerduty_client_free(p);
        assert_int_equal(seen.n, 1);
        http = http_client_free(http);
        sd_event_unref(ev);
        close(fd);
        free(base);
}

static void queue_is_bounded(void **state)
{
        struct pagerduty_settings s = {.base_url = "http://127.0.0.1:9"};
        struct pagerduty_client *p;
        struct http_client *http;
        struct seen seen = {0};
        sd_event *ev;
        (void)state;

        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(pagerduty_client_new(ev, http, &s, on_sent, &seen, &p), 0);
        for (size_t i = 0; i < PAGERDUTY_QUEUE_MAX; i++)
                assert_int_equal(pagerduty_enqueue(p, xstrdup("{}"), NULL), 0);
        assert_int_equal(pagerduty_enqueue(p, xstrdup("{}"), NULL), -ENOBUFS);
        assert_int_equal(pagerduty_client_queued(p), PAGERDUTY_QUEUE_MAX);
        p = pagerduty_client_free(p);
        http = http_client_free(http);
        sd_event_unref(ev);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(backoff_doubles_and_is_capped),
            cmocka_unit_test(retries_then_delivers_in_order),
            cmocka_unit_test(refused_connection_is_given_up_after_max_attempts),
            cmocka_unit_test(queue_is_bounded),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
