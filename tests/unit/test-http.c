/* Tests for src/io/http.c: a real sd-event loop against a tiny HTTP/1.1 server on 127.0.0.1
 * that runs in threads of this test (one thread per connection, keep-alive supported). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "canaryd/http.h"
#include "canaryd/util.h"
#include "fake-http.h"

/* ---- loopback server ----------------------------------------------------------------------- */

static void respond(int fd, int status, const char *reason, const char *extra_headers,
                    const char *body, size_t body_len)
{
        char head[512];
        int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n",
                         status, reason, body_len, extra_headers ? extra_headers : "");
        fake_send_all(fd, head, (size_t)n);
        fake_send_all(fd, body, body_len);
}

static const char *find_header(const char *head, const char *name, char *out, size_t size)
{
        size_t nl = strlen(name);
        for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
                if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
                        const char *v = p + 3 + nl;
                        while (*v == ' ')
                                v++;
                        size_t len = strcspn(v, "\r");
                        if (len >= size)
                                len = size - 1;
                        memcpy(out, v, len);
                        out[len] = '\0';
                        return out;
                }
        }
        return NULL;
}

/* POSTs to /once received so far: the first one of each test is acted on, then its connection
 * closes without an answer (a server that dies, a reset after the fact). */
static unsigned once_hits;

/* Serves requests on one connection until it closes or a handler closes it. */
static void serve_conn(void *userdata, int fd, unsigned index)
{
        struct buf in = {0};
        char chunk[4096];

        for (;;) {
                char *end = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
                if (!end) {
                        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                        if (r <= 0)
                                break;
                        buf_append(&in, chunk, (size_t)r);
                        continue;
                }
                size_t head_len = (size_t)(end - in.data) + 4;
                char value[256];
                size_t content_len = 0;
                if (find_header(in.data, "Content-Length", value, sizeof(value)))
                        content_len = strtoul(value, NULL, 10);
                while (in.len < head_len + content_len) {
                        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                        if (r <= 0)
                                goto out;
                        buf_append(&in, chunk, (size_t)r);
                }
                char method[16] = "", path[256] = "";
                if (sscanf(in.data, "%15s %255s", method, path) != 2)
                        break;
                const char *body = in.data + head_len;

                if (strcmp(path, "/hello") == 0) {
                        respond(fd, 200, "OK", "X-Test-Header:  yes please \r\n", "hello world",
                                11);
                } else if (strcmp(path, "/echo") == 0) {
                        char ct[256] = "-";
                        find_header(in.data, "Content-Type", ct, sizeof(ct));
                        char *out = xasprintf("%s %s %.*s", method, ct, (int)content_len, body);
                        respond(fd, 200, "OK", NULL, out, strlen(out));
                        free(out);
                } else if (strcmp(path, "/conflict") == 0) {
                        static const char b[] = "{\"kind\":\"Status\",\"code\":409}\n";
                        respond(fd, 409, "Conflict", "Content-Type: application/json\r\n", b,
                                sizeof(b) - 1);
                } else if (strcmp(path, "/continue") == 0) {
                        static const char interim[] =
                            "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n";
                        fake_send_all(fd, interim, sizeof(interim) - 1);
                        respond(fd, 201, "Created", "X-Final: 1\r\n", "made", 4);
                } else if (strcmp(path, "/big") == 0) {
                        /* No Content-Length: only the write callback can enforce the cap. */
                        static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                        fake_send_all(fd, head, sizeof(head) - 1);
                        char *big = xmalloc(100000);
                        memset(big, 'x', 100000);
                        fake_send_all(fd, big, 100000);
                        free(big);
                        break;
                } else if (strncmp(path, "/delay/", 7) == 0) {
                        struct timespec ts = {0, atol(path + 7) * 1000000L};
                        nanosleep(&ts, NULL);
                        respond(fd, 200, "OK", NULL, path, strlen(path));
                } else if (strcmp(path, "/once") == 0) {
                        if (__atomic_add_fetch(&once_hits, 1, __ATOMIC_SEQ_CST) == 1)
                                break;
                        respond(fd, 200, "OK", NULL, "again", 5);
                } else if (strcmp(path, "/slow") == 0) {
                        /* Never answer; wait for the client to give up and close. */
                        while (recv(fd, chunk, sizeof(chunk), 0) > 0)
                                ;
                        break;
                } else {
                        respond(fd, 404, "Not Found", NULL, "", 0);
                }
                /* Drop the served request from the buffer. */
                size_t used = head_len + content_len;
                memmove(in.data, in.data + used, in.len - used + 1);
                in.len -= used;
        }
out:
        buf_free(&in);
}

/* ---- fixture ------------------------------------------------------------------------------- */

struct result {
        bool called;
        int error;
        long status;
        char *body;
        size_t body_len;
        char *header;  /* value of the header named in want_header */
        char *header2; /* value of want_header2 */
        char *errmsg;
        const char *want_header, *want_header2;
        size_t in_flight_at_free; /* unused unless a test sets it */
};

struct fixture {
        struct fake_threads server;
        sd_event *event;
        struct http_client *client;
        char url[128];
        unsigned done_count;
};

static struct fixture *F;

static char *url(const char *path)
{
        return xasprintf("http://127.0.0.1:%d%s", F->server.port, path);
}

static void on_done(int error, const struct http_response *resp, const char *errmsg, void *ud)
{
        struct result *r = ud;
        assert_false(r->called); /* exactly once */
        r->called = true;
        r->error = error;
        F->done_count++;
        if (error == 0) {
                assert_non_null(resp);
                assert_null(errmsg);
                r->status = resp->status;
                r->body = xstrndup(resp->body, resp->body_len);
                r->body_len = resp->body_len;
                assert_int_equal(resp->body[resp->body_len], '\0');
                r->header = xstrdup(http_response_header(resp, r->want_header));
                r->header2 = xstrdup(http_response_header(resp, r->want_header2));
        } else {
                assert_null(resp);
                assert_non_null(errmsg);
                r->errmsg = xstrdup(errmsg);
        }
}

static void result_done(struct result *r)
{
        free(r->body);
        free(r->header);
        free(r->header2);
        free(r->errmsg);
        *r = (struct result){0};
}

/* Runs the loop until `count` callbacks ran in total, or fails after 5 s. */
static void run_until(unsigned count)
{
        for (int i = 0; i < 500 && F->done_count < count; i++)
                assert_true(sd_event_run(F->event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(F->done_count, count);
}

static int setup(void **state)
{
        F = xcalloc(1, sizeof(*F));
        fake_threads_start(&F->server, FAKE_THREADS_MAX, 64, serve_conn, NULL, NULL);
        assert_int_equal(sd_event_new(&F->event), 0);
        assert_int_equal(http_client_new(F->event, &F->client), 0);
        *state = F;
        return 0;
}

static int teardown(void **state)
{
        F->client = http_client_free(F->client);
        F->event = sd_event_unref(F->event);
        fake_threads_stop(&F->server);
        free(F);
        F = NULL;
        return 0;
}

static void submit(const char *method, const char *path, const char *body, long timeout_ms,
                   size_t max_body, struct result *r)
{
        char *u = url(path);
        const char *const headers[] = {"Content-Type: text/x-test", NULL};
        struct http_request_opts o = {
            .method = method,
            .url = u,
            .headers = headers,
            .body = body,
            .body_len = body ? strlen(body) : 0,
            .timeout_ms = timeout_ms,
            .max_body = max_body,
        };
        assert_int_equal(http_submit(F->client, &o, on_done, r), 0);
        free(u);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void get_returns_body_and_headers(void **state)
{
        struct result r = {.want_header = "x-TEST-header", .want_header2 = "content-length"};
        submit(NULL, "/hello", NULL, 0, 0, &r);
        assert_int_equal(http_client_in_flight(F->client), 1);
        run_until(1);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello world");
        assert_string_equal(r.header, "yes please");
        assert_string_equal(r.header2, "11");
        assert_int_equal(http_client_in_flight(F->client), 0);
        result_done(&r);
}

static void put_sends_body(void **state)
{
        struct result r = {0};
        submit("PUT", "/echo", "{\"a\":1}", 0, 0, &r);
        run_until(1);
        assert_int_equal(r.error, 0);
        assert_string_equal(r.body, "PUT text/x-test {\"a\":1}");
        result_done(&r);

        submit("PATCH", "/echo", "p", 0, 0, &r);
        run_until(2);
        assert_string_equal(r.body, "PATCH text/x-test p");
        result_done(&r);

        submit("POST", "/echo", "", 0, 0, &r);
        run_until(3);
        assert_string_equal(r.body, "POST text/x-test ");
        result_done(&r);
}

/* A write on a kept-alive connection that dies before answering: libcurl would send it again
 * on a new connection by itself (it takes the death for a stale keep-alive connection), though
 * the server acted on the first copy. A write goes on a fresh connection, so the failure reaches
 * the caller and the server saw it once; a POST marked idempotent (a query) may be re-sent. */
static void write_is_not_resent_on_a_dead_connection(void **state)
{
        static const struct {
                const char *method;
                bool idempotent;
        } cases[] = {
            {"POST", false}, {"PUT", false}, {"PATCH", false}, {"DELETE", false}, {"POST", true}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct result r = {0};
                unsigned before = F->done_count;
                __atomic_store_n(&once_hits, 0, __ATOMIC_SEQ_CST);
                submit(NULL, "/hello", NULL, 0, 0, &r); /* a connection to reuse */
                run_until(before + 1);
                assert_int_equal(r.status, 200);
                result_done(&r);

                char *u = url("/once");
                struct http_request_opts o = {.method = cases[i].method,
                                              .url = u,
                                              .body = "act",
                                              .body_len = 3,
                                              .idempotent = cases[i].idempotent};
                assert_int_equal(http_submit(F->client, &o, on_done, &r), 0);
                free(u);
                run_until(before + 2);
                if (cases[i].idempotent) {
                        assert_int_equal(r.error, 0);
                        assert_int_equal(r.status, 200);
                        assert_int_equal(__atomic_load_n(&once_hits, __ATOMIC_SEQ_CST), 2);
                } else {
                        assert_int_not_equal(r.error, 0);
                        assert_int_equal(__atomic_load_n(&once_hits, __ATOMIC_SEQ_CST), 1);
                }
                result_done(&r);
        }
}

static void conflict_is_a_response_not_an_error(void **state)
{
        struct result r = {.want_header = "Content-Type"};
        submit("PUT", "/conflict", "{}", 0, 0, &r);
        run_until(1);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.status, 409);
        assert_string_equal(r.body, "{\"kind\":\"Status\",\"code\":409}\n");
        assert_string_equal(r.header, "application/json");
        result_done(&r);
}

static void interim_response_headers_are_dropped(void **state)
{
        struct result r = {.want_header = "X-Interim", .want_header2 = "X-Final"};
        submit(NULL, "/continue", NULL, 0, 0, &r);
        run_until(1);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.status, 201);
        assert_null(r.header);
        assert_string_equal(r.header2, "1");
        assert_string_equal(r.body, "made");
        result_done(&r);
}

static void connection_refused(void **state)
{
        int port;
        int fd = fake_bind_loopback(&port); /* bound, never listening: connect is refused */
        char *u = xasprintf("http://127.0.0.1:%d/", port);
        struct http_request_opts o = {.url = u};
        struct result r = {0};
        assert_int_equal(http_submit(F->client, &o, on_done, &r), 0);
        run_until(1);
        assert_int_equal(r.error, -ECONNREFUSED);
        assert_non_null(strstr(r.errmsg, "onnect"));
        result_done(&r);
        free(u);
        close(fd);
}

static void timeout(void **state)
{
        struct result r = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        submit(NULL, "/slow", NULL, 300, 0, &r);
        run_until(1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_int_equal(r.error, -ETIMEDOUT);
        assert_true(ms >= 300);
        assert_true(ms < 1500); /* timer accuracy is 1 ms, not sd-event's 250 ms default */
        result_done(&r);
}

static void body_cap(void **state)
{
        struct result r = {0};
        submit(NULL, "/big", NULL, 0, 1000, &r);
        run_until(1);
        assert_int_equal(r.error, -EFBIG);
        assert_string_equal(r.errmsg, "response body exceeds 1000 bytes");
        result_done(&r);

        /* The same body under a large enough cap arrives whole. */
        submit(NULL, "/big", NULL, 0, 100000, &r);
        run_until(2);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.body_len, 100000);
        result_done(&r);
}

static void concurrent_requests(void **state)
{
        enum { N = 8 };
        struct result r[N] = {0};
        char path[32];
        for (int i = 0; i < N; i++) {
                snprintf(path, sizeof(path), "/delay/%d", (N - i) * 20);
                submit(NULL, path, NULL, 0, 0, &r[i]);
        }
        assert_int_equal(http_client_in_flight(F->client), N);
        run_until(N);
        for (int i = 0; i < N; i++) {
                snprintf(path, sizeof(path), "/delay/%d", (N - i) * 20);
                assert_int_equal(r[i].error, 0);
                assert_string_equal(r[i].body, path);
                result_done(&r[i]);
        }
}

struct chain {
        struct result first, second;
};

static void on_done_chain(int error, const struct http_response *resp, const char *errmsg, void *ud)
{
        struct chain *ch = ud;
        on_done(error, resp, errmsg, &ch->first);
        submit("PUT", "/echo", "again", 0, 0, &ch->second);
}

static void submit_from_callback(void **state)
{
        struct chain ch = {0};
        char *u = url("/hello");
        struct http_request_opts o = {.url = u};
        assert_int_equal(http_submit(F->client, &o, on_done_chain, &ch), 0);
        free(u);
        run_until(2);
        assert_string_equal(ch.first.body, "hello world");
        assert_string_equal(ch.second.body, "PUT text/x-test again");
        result_done(&ch.first);
        result_done(&ch.second);
}

static void free_cancels_in_flight(void **state)
{
        struct result r1 = {0}, r2 = {0};
        submit(NULL, "/slow", NULL, 5000, 0, &r1);
        submit(NULL, "/slow", NULL, 5000, 0, &r2);
        for (int i = 0; i < 10; i++)
                assert_true(sd_event_run(F->event, 5 * USEC_PER_MSEC) >= 0);
        assert_false(r1.called);
        F->client = http_client_free(F->client);
        assert_int_equal(F->done_count, 2);
        assert_int_equal(r1.error, -ECANCELED);
        assert_int_equal(r2.error, -ECANCELED);
        result_done(&r1);
        result_done(&r2);
}

static void on_done_free_client(int error, const struct http_response *resp, const char *errmsg,
                                void *ud)
{
        on_done(error, resp, errmsg, ud);
        F->client = http_client_free(F->client);
}

static void free_from_callback(void **state)
{
        struct result r1 = {0}, r2 = {0};
        char *u = url("/hello");
        struct http_request_opts o = {.url = u};
        assert_int_equal(http_submit(F->client, &o, on_done_free_client, &r1), 0);
        free(u);
        submit(NULL, "/slow", NULL, 5000, 0, &r2);
        run_until(2);
        assert_null(F->client);
        assert_int_equal(r1.error, 0);
        assert_int_equal(r2.error, -ECANCELED);
        result_done(&r1);
        result_done(&r2);
}

static void bad_requests_are_refused(void **state)
{
        struct result r = {0};
        char *u = url("/hello");
        struct http_request_opts bad_method = {.url = u, .method = "BREW"};
        struct http_request_opts get_body = {.url = u, .body = "x", .body_len = 1};
        const char *const inject[] = {"X-A: b\r\nX-B: c", NULL};
        struct http_request_opts bad_header = {.url = u, .headers = inject};
        struct http_request_opts no_url = {0};
        assert_int_equal(http_submit(F->client, &bad_method, on_done, &r), -EINVAL);
        assert_int_equal(http_submit(F->client, &get_body, on_done, &r), -EINVAL);
        assert_int_equal(http_submit(F->client, &bad_header, on_done, &r), -EINVAL);
        assert_int_equal(http_submit(F->client, &no_url, on_done, &r), -EINVAL);
        assert_int_equal(http_client_in_flight(F->client), 0);
        free(u);
        assert_false(r.called);
}

/* Retry-After in delay-seconds: the one parser the Slack, PagerDuty and user-group clients
 * and the response_url answers share. */
static void retry_after_header(void **state)
{
        (void)state;
        char name[] = "retry-after", value[40] = "30";
        struct http_header h = {.name = name, .value = value};
        struct http_response r = {.status = 429, .headers = &h, .n_headers = 1};
        usec_t absent = 7 * USEC_PER_SEC, cap = 600 * USEC_PER_SEC;

        assert_int_equal(http_retry_after(&r, absent, cap), 30 * USEC_PER_SEC);
        snprintf(value, sizeof(value), "0");
        assert_int_equal(http_retry_after(&r, absent, cap), 0);
        snprintf(value, sizeof(value), "99999999999999999999999");
        assert_int_equal(http_retry_after(&r, absent, cap), cap);
        const char *bad[] = {"", "-1", "1.5", "30 ", "Wed, 21 Oct 2026 07:28:00 GMT"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(value, sizeof(value), "%s", bad[i]);
                assert_int_equal(http_retry_after(&r, absent, cap), absent);
        }
        r.n_headers = 0;
        assert_int_equal(http_retry_after(&r, absent, cap), absent);
        assert_int_equal(http_retry_after(NULL, absent, cap), absent);
}

static void escape(void **state)
{
        char *e = http_escape("avg:system.cpu{host:a b}/x~_-");
        assert_string_equal(e, "avg%3Asystem.cpu%7Bhost%3Aa%20b%7D%2Fx~_-");
        free(e);
        e = http_escape("");
        assert_string_equal(e, "");
        free(e);
        e = http_escape("\xc3\xa9");
        assert_string_equal(e, "%C3%A9");
        free(e);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN); /* NOSIGNAL makes this our job */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(get_returns_body_and_headers, setup, teardown),
            cmocka_unit_test_setup_teardown(put_sends_body, setup, teardown),
            cmocka_unit_test_setup_teardown(write_is_not_resent_on_a_dead_connection, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(conflict_is_a_response_not_an_error, setup, teardown),
            cmocka_unit_test_setup_teardown(interim_response_headers_are_dropped, setup, teardown),
            cmocka_unit_test_setup_teardown(connection_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(body_cap, setup, teardown),
            cmocka_unit_test_setup_teardown(concurrent_requests, setup, teardown),
            cmocka_unit_test_setup_teardown(submit_from_callback, setup, teardown),
            cmocka_unit_test_setup_teardown(free_cancels_in_flight, setup, teardown),
            cmocka_unit_test_setup_teardown(free_from_callback, setup, teardown),
            cmocka_unit_test_setup_teardown(bad_requests_are_refused, setup, teardown),
            cmocka_unit_test(escape),
            cmocka_unit_test(retry_after_header),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
