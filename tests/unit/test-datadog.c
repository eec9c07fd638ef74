/* Tests for Datadog: the v1 query codec on every recorded fixture (the .http captures are split
 * into headers and body here) plus hand-made edge cases, the site table, and datadog_query's
 * request and status mapping against a scripted loopback HTTP server on a real sd-event loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "canaryd/datadog.h"
#include "canaryd/http.h"
#include "canaryd/util.h"

/* ---- scripted loopback server ------------------------------------------------------------- */

#define FAKE_MAX 32

struct fake_resp {
        int status;
        const char *headers; /* extra "Name: value\r\n" lines, or NULL */
        const char *body;
};

struct fake_req {
        char *head; /* request line + headers */
        char *body;
        usec_t at; /* CLOCK_MONOTONIC, when fully received */
};

struct fake {
        int listen_fd, port;
        pthread_t thread;
        pthread_mutex_t lock;
        struct fake_resp script[FAKE_MAX];
        size_t n_script;
        struct fake_req reqs[FAKE_MAX];
        size_t n_reqs;
};

static usec_t mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static void send_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

static void *fake_main(void *arg)
{
        struct fake *f = arg;

        for (;;) {
                struct buf in = {0};
                char chunk[4096], *end = NULL, *cl;
                size_t head_len = 0, body_len = 0;
                struct fake_resp resp = {200, NULL, "ok"};
                int fd = accept(f->listen_fd, NULL, NULL);

                if (fd < 0)
                        return NULL;
                for (;;) {
                        ssize_t r;

                        if (in.data && (end = strstr(in.data, "\r\n\r\n"))) {
                                head_len = (size_t)(end - in.data) + 4;
                                cl = strcasestr(in.data, "\r\nContent-Length:");
                                body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                                if (in.len >= head_len + body_len)
                                        break;
                        }
                        r = recv(fd, chunk, sizeof(chunk), 0);
                        if (r <= 0)
                                break;
                        buf_append(&in, chunk, (size_t)r);
                }
                if (end && in.len >= head_len + body_len) {
                        char *out;

                        pthread_mutex_lock(&f->lock);
                        if (f->n_reqs < FAKE_MAX) {
                                struct fake_req *q = &f->reqs[f->n_reqs];

                                q->head = xstrndup(in.data, head_len);
                                q->body = xstrndup(in.data + head_len, body_len);
                                q->at = mono_usec();
                                if (f->n_reqs < f->n_script)
                                        resp = f->script[f->n_reqs];
                                f->n_reqs++;
                        }
                        pthread_mutex_unlock(&f->lock);
                        out = xasprintf("HTTP/1.1 %d X\r\nConnection: close\r\nContent-Length: "
                                        "%zu\r\n%s\r\n%s",
                                        resp.status, strlen(resp.body),
                                        resp.headers ? resp.headers : "", resp.body);
                        send_all(fd, out, strlen(out));
                        free(out);
                }
                buf_free(&in);
                shutdown(fd, SHUT_RDWR);
                close(fd);
        }
}

static void fake_start(struct fake *f, const struct fake_resp *script, size_t n)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);

        *f = (struct fake){0};
        assert_true(n <= FAKE_MAX);
        if (n > 0)
                memcpy(f->script, script, n * sizeof(*script));
        f->n_script = n;
        pthread_mutex_init(&f->lock, NULL);
        f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listen_fd >= 0);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &len), 0);
        f->port = ntohs(a.sin_port);
        assert_int_equal(listen(f->listen_fd, 16), 0);
        pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
        shutdown(f->listen_fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
        close(f->listen_fd);
        for (size_t i = 0; i < f->n_reqs; i++) {
                free(f->reqs[i].head);
                free(f->reqs[i].body);
        }
        pthread_mutex_destroy(&f->lock);
}

static size_t fake_count(struct fake *f)
{
        size_t n;

        pthread_mutex_lock(&f->lock);
        n = f->n_reqs;
        pthread_mutex_unlock(&f->lock);
        return n;
}

/* ---- fixtures ------------------------------------------------------------------------------- */

static char *fixture(const char *name, size_t *ret_len)
{
        const char *dir = getenv("CANARYD_FIXTURES");
        char *path = xasprintf("%s/%s", dir ? dir : "fixtures", name), *data;

        assert_int_equal(read_file(path, 4 << 20, &data, ret_len), 0);
        free(path);
        return data;
}

/* A recorded exchange: request, blank line, response status line + headers, blank line, body. */
struct capture {
        char *data;
        int status;
        const char *headers; /* the response header block, NUL-terminated in data */
        char *body;
        size_t body_len;
};

static void capture_load(struct capture *c, const char *name)
{
        size_t len;
        char *resp, *sep;

        c->data = fixture(name, &len);
        resp = strstr(c->data, "\nHTTP/1.1 ");
        assert_non_null(resp);
        resp++;
        c->status = atoi(resp + 9);
        sep = strstr(resp, "\n\n");
        assert_non_null(sep);
        *sep = 0;
        c->headers = strchr(resp, '\n') + 1;
        c->body = sep + 2;
        c->body_len = len - (size_t)(c->body - c->data);
        while (c->body_len > 0 && (c->body[c->body_len - 1] == '\n'))
                c->body_len--;
}

/* Value of a header in a capture, case-insensitive, or NULL. Returns a static buffer. */
static const char *capture_header(const struct capture *c, const char *name)
{
        static char v[256];
        size_t n = strlen(name);

        for (const char *p = c->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
                        snprintf(v, sizeof(v), "%.*s", (int)strcspn(p + n + 2, "\n"), p + n + 2);
                        return v;
                }
        return NULL;
}

static int parse(const char *body, size_t len, struct datadog_points *p, char **err)
{
        *p = (struct datadog_points){0};
        *err = NULL;
        return datadog_parse_query(body, len, p, err);
}

/* ---- codec tests ---------------------------------------------------------------------------- */

static void query_288_points(void **state)
{
        size_t len;
        char *body = fixture("datadog_v1_query_ok_cpu_idle_288pts.json", &len), *err;
        struct datadog_points p;

        assert_int_equal(parse(body, len, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n, 288);
        assert_int_equal(p.n_series, 1);
        assert_true(p.timestamps_ms[0] == 1641344100000.0);
        assert_true(p.values[0] == 91.4583840476142);
        assert_true(p.timestamps_ms[287] == 1641430200000.0);
        assert_true(p.values[287] == 92.57754687873684);
        for (size_t i = 1; i < p.n; i++)
                assert_true(p.timestamps_ms[i] - p.timestamps_ms[i - 1] == 300000.0);
        datadog_points_free(&p);
        free(body);
}

static void query_grouped_float_timestamps(void **state)
{
        size_t len;
        char *body = fixture("datadog_v1_query_ok_by_host_grouped.json", &len), *err;
        struct datadog_points p;

        assert_int_equal(parse(body, len, &p, &err), 0);
        assert_int_equal(p.n, 2);
        assert_int_equal(p.n_series, 1);
        assert_true(p.timestamps_ms[0] == 1618221135000.0);
        assert_true(p.values[0] == 10.5);
        assert_true(p.timestamps_ms[1] == 1618221195000.0);
        assert_true(p.values[1] == 11.0);
        datadog_points_free(&p);
        free(body);
}

static void query_openapi_example(void **state)
{
        size_t len;
        char *body = fixture("datadog_openapi_v1_query_200_example.json", &len), *err;
        struct datadog_points p;

        assert_int_equal(parse(body, len, &p, &err), 0);
        assert_int_equal(p.n, 1);
        assert_true(p.timestamps_ms[0] == 1681683300000.0);
        assert_true(p.values[0] == 77.62145685254418);
        datadog_points_free(&p);
        free(body);
}

static void query_capture_2020_with_ratelimit_headers(void **state)
{
        struct capture c;
        struct datadog_points p;
        char *err;

        capture_load(&c, "datadog_v1_query_ok_by_host_2020.http");
        assert_int_equal(c.status, 200);
        assert_string_equal(capture_header(&c, "x-ratelimit-reset"), "1640");
        assert_string_equal(capture_header(&c, "X-RateLimit-Remaining"), "598");
        assert_int_equal(parse(c.body, c.body_len, &p, &err), 0);
        assert_int_equal(p.n, 2);
        assert_true(p.timestamps_ms[1] == 1589290338000.0);
        assert_true(p.values[1] == 11.0);
        datadog_points_free(&p);
        free(c.data);
}

static void error_bodies(void **state)
{
        struct capture c;
        struct datadog_points p;
        size_t len;
        char *body, *e, *err;

        /* 403 capture: {"status":"error", ..., "errors":["Forbidden"]} */
        capture_load(&c, "datadog_v1_query_403_forbidden.http");
        assert_int_equal(c.status, 403);
        e = datadog_parse_errors(c.body, c.body_len);
        assert_string_equal(e, "Forbidden");
        free(e);
        assert_int_equal(parse(c.body, c.body_len, &p, &err), -EBADMSG);
        assert_non_null(strstr(err, "status"));
        free(err);
        free(c.data);

        /* 429 capture: empty body, lower-case rate-limit headers. */
        capture_load(&c, "datadog_429_rate_limited_headers.http");
        assert_int_equal(c.status, 429);
        assert_int_equal(c.body_len, 0);
        assert_string_equal(capture_header(&c, "X-RateLimit-Reset"), "3");
        assert_null(datadog_parse_errors(c.body, c.body_len));
        assert_int_equal(parse(c.body, c.body_len, &p, &err), -EBADMSG);
        assert_non_null(err);
        free(err);
        free(c.data);

        body = fixture("datadog_429_body_rate_limit_reached.json", &len);
        e = datadog_parse_errors(body, len);
        assert_string_equal(e, "Rate limit of 10 requests in 300 seconds reached. Please try "
                               "again later.");
        free(e);
        free(body);

        /* 400: the parser's message, on one line. */
        body = fixture("datadog_400_query_parse_error.json", &len);
        e = datadog_parse_errors(body, len);
        assert_non_null(strstr(e, "Rule 'scope_expr' didn't match at ', 2)'"));
        assert_null(strchr(e, '\n'));
        free(e);
        assert_int_equal(parse(body, len, &p, &err), -EBADMSG);
        assert_non_null(strstr(err, "series"));
        free(err);
        free(body);

        body = fixture("datadog_v1_validate_403_api_key_required.json", &len);
        e = datadog_parse_errors(body, len);
        assert_string_equal(e, "API key required");
        free(e);
        free(body);

        body = fixture("datadog_v2_timeseries_400_bad_type.response.json", &len);
        e = datadog_parse_errors(body, len);
        assert_string_equal(e, "API input validation failed: Invalid type. Expected "
                               "\"timeseries_request\".");
        free(e);
        free(body);

        e = datadog_parse_errors("{\"errors\":[\"a\",1,\"b\"]}", 22);
        assert_string_equal(e, "a; b");
        free(e);
        assert_null(datadog_parse_errors("{\"errors\":[]}", 13));
        assert_null(datadog_parse_errors("<html>502 Bad Gateway</html>", 28));
        assert_null(datadog_parse_errors("{\"errors\":\"x\"}", 14));
        assert_null(datadog_parse_errors(NULL, 0));
}

static void tolerated_shapes(void **state)
{
        /* Two sub-queries, a null value, unit null and a unit pair, aggr null, top-level
         * times/values, unknown keys, a series without points, integer and float timestamps. */
        static const char body[] =
            "{\"status\":\"ok\",\"res_type\":\"time_series\",\"times\":[],\"values\":[],"
            "\"future\":{\"x\":[1,2]},\"series\":["
            "{\"query_index\":0,\"aggr\":null,\"unit\":null,\"pointlist\":[[1000,1.5],"
            "[2000.0,null]]},"
            "{\"query_index\":1,\"aggr\":\"avg\",\"unit\":[{\"family\":\"percentage\","
            "\"scale_factor\":1,\"name\":\"percent\",\"short_name\":\"%\",\"plural\":"
            "\"percent\",\"id\":17},null],\"pointlist\":[[3000,-2e3]],\"new\":true},"
            "{\"query_index\":2,\"pointlist\":[]},{\"query_index\":3}]}";
        struct datadog_points p;
        char *err;

        assert_int_equal(parse(body, sizeof(body) - 1, &p, &err), 0);
        assert_int_equal(p.n_series, 4);
        assert_int_equal(p.n, 3);
        assert_true(p.timestamps_ms[0] == 1000.0 && p.values[0] == 1.5);
        assert_true(p.timestamps_ms[1] == 2000.0 && isnan(p.values[1]));
        assert_true(p.timestamps_ms[2] == 3000.0 && p.values[2] == -2000.0);
        datadog_points_free(&p);

        /* Empty result; and no status at all is tolerated. */
        assert_int_equal(parse("{\"status\":\"ok\",\"series\":[]}", 27, &p, &err), 0);
        assert_int_equal(p.n, 0);
        datadog_points_free(&p);
        assert_int_equal(parse("{\"series\":[]}", 13, &p, &err), 0);
        datadog_points_free(&p);
}

static void rejected_shapes(void **state)
{
        static const struct {
                const char *body, *want;
        } cases[] = {
            {"", "empty"},
            {"{", "not valid JSON"},
            {"<html><body>502</body></html>", "not valid JSON"},
            {"[]", "not a JSON object"},
            {"null", "not a JSON object"},
            {"{\"status\":\"error\",\"error\":\"boom happened\"}", "boom happened"},
            {"{\"status\":\"error\",\"series\":[]}", "status"},
            {"{\"status\":1,\"series\":[]}", "status"},
            {"{\"status\":\"ok\"}", "no \"series\""},
            {"{\"status\":\"ok\",\"series\":{}}", "not an array"},
            {"{\"series\":[1]}", "series[0] is not an object"},
            {"{\"series\":[{\"pointlist\":{}}]}", "pointlist is not an array"},
            {"{\"series\":[{\"pointlist\":[5]}]}", "pointlist[0]"},
            {"{\"series\":[{\"pointlist\":[[1]]}]}", "pointlist[0]"},
            {"{\"series\":[{\"pointlist\":[[1,2,3]]}]}", "pointlist[0]"},
            {"{\"series\":[{},{\"pointlist\":[[1,2],[\"1\",2]]}]}",
             "series[1].pointlist[1]: timestamp"},
            {"{\"series\":[{\"pointlist\":[[null,2]]}]}", "timestamp"},
            {"{\"series\":[{\"pointlist\":[[1e999,2]]}]}", "timestamp"},
            {"{\"series\":[{\"pointlist\":[[1,\"2\"]]}]}", "value"},
            /* NaN policy: not JSON, rejected (see datadog-json.c). */
            {"{\"status\":\"ok\",\"series\":[{\"pointlist\":[[1,NaN]]}]}", "not valid JSON"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct datadog_points p = {0};
                char *err = NULL;

                assert_int_equal(
                    datadog_parse_query(cases[i].body, strlen(cases[i].body), &p, &err), -EBADMSG);
                assert_non_null(err);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i].want);
                assert_int_equal(p.n, 0);
                assert_null(p.values);
                free(err);
        }
        /* Binary garbage, not NUL-terminated. */
        {
                char junk[64];
                struct datadog_points p = {0};
                char *err = NULL;

                for (size_t i = 0; i < sizeof(junk); i++)
                        junk[i] = (char)(i * 37 + 11);
                assert_int_equal(datadog_parse_query(junk, sizeof(junk), &p, &err), -EBADMSG);
                free(err);
                assert_null(datadog_parse_errors(junk, sizeof(junk)));
        }
}

static void site_urls(void **state)
{
        static const struct {
                const char *site, *url;
        } cases[] = {
            {"datadoghq.com", "https://api.datadoghq.com"},
            {"us3.datadoghq.com", "https://api.us3.datadoghq.com"},
            {"us5.datadoghq.com", "https://api.us5.datadoghq.com"},
            {"datadoghq.eu", "https://api.datadoghq.eu"},
            {"eu1.datadoghq.com", "https://api.datadoghq.eu"},
            {"EU", "https://api.datadoghq.eu"},
            {"ap1.datadoghq.com", "https://api.ap1.datadoghq.com"},
            {"ap2.datadoghq.com", "https://api.ap2.datadoghq.com"},
            {"uk1.datadoghq.com", "https://api.uk1.datadoghq.com"},
            {"ddog-gov.com", "https://api.ddog-gov.com"},
            {"us2.ddog-gov.com", "https://api.us2.ddog-gov.com"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *u = datadog_site_url(cases[i].site);

                assert_non_null(u);
                assert_string_equal(u, cases[i].url);
                free(u);
        }
        assert_null(datadog_site_url("example.com"));
        assert_null(datadog_site_url("eu.datadoghq.eu"));
        assert_null(datadog_site_url(""));
        assert_null(datadog_site_url(NULL));
}

/* ---- client tests --------------------------------------------------------------------------- */

struct outcome {
        bool called;
        int error;
        long status;
        size_t n;
        double first;
        char message[512];
        usec_t retry_after_usec;
        long remaining;
};

static void on_done(const struct datadog_result *res, void *userdata)
{
        struct outcome *o = userdata;

        assert_false(o->called);
        o->called = true;
        o->error = res->error;
        o->status = res->status;
        o->n = res->points.n;
        o->first = res->points.n ? res->points.values[0] : (double)NAN;
        snprintf(o->message, sizeof(o->message), "%s", res->message ? res->message : "");
        o->retry_after_usec = res->retry_after_usec;
        o->remaining = res->ratelimit_remaining;
        if (res->error == 0)
                assert_null(res->message);
        else
                assert_non_null(res->message);
}

static void run_query(sd_event *ev, struct datadog_client *d, const char *query, struct outcome *o)
{
        *o = (struct outcome){0};
        assert_int_equal(datadog_query(d, query, 1641343852, 1641430252, on_done, o), 0);
        for (int i = 0; i < 500 && !o->called; i++)
                assert_true(sd_event_run(ev, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o->called);
        /* Secrets never reach a message. */
        assert_null(strstr(o->message, "api-secret"));
        assert_null(strstr(o->message, "app-secret"));
}

static void client_maps_responses(void **state)
{
        size_t len;
        char *ok = fixture("datadog_v1_query_ok_cpu_idle_288pts.json", &len);
        char *e400 = fixture("datadog_400_query_parse_error.json", &len);
        struct capture c403;
        struct fake_resp script[] = {
            {200, "X-RateLimit-Remaining: 1596\r\n", ok},
            {429, "x-ratelimit-reset: 3\r\nx-ratelimit-period: 10\r\nx-ratelimit-remaining: 0\r\n",
             ""},
            {429, "X-RateLimit-Period: 3600\r\n",
             "{\"errors\": [\"Rate limit of 10 requests in 300 seconds reached.\"]}"},
            {429, NULL, ""},
            {503, NULL, "<html>Server Error</html>"},
            {403, NULL, NULL},
            {400, NULL, e400},
            {200, NULL, "{\"status\":\"ok\",\"series\":[{\"pointlist\":[[1,NaN]]}]}"},
            {404, NULL, "not here"},
        };
        struct datadog_settings s = {
            .api_key = "api-secret", .app_key = "app-secret", .timeout_ms = 3000};
        struct datadog_client *d;
        struct http_client *http;
        struct outcome o;
        struct fake f;
        sd_event *ev;
        char *base;

        capture_load(&c403, "datadog_v1_query_403_forbidden.http");
        c403.body[c403.body_len] = 0;
        script[5].body = c403.body;
        fake_start(&f, script, ELEMENTSOF(script));
        base = xasprintf("http://127.0.0.1:%d/", f.port); /* trailing slash is dropped */
        s.base_url = base;
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(datadog_client_new(http, &s, &d), 0);

        run_query(ev, d, "system.cpu.idle{*}", &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.n, 288);
        assert_true(o.first == 91.4583840476142);
        assert_int_equal(o.remaining, 1596);
        assert_non_null(strstr(f.reqs[0].head, "GET /api/v1/query?from=1641343852&to=1641430252"
                                               "&query=system.cpu.idle%7B%2A%7D HTTP/1.1\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nDD-API-KEY: api-secret\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nDD-APPLICATION-KEY: app-secret\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nAccept: application/json\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nUser-Agent: canaryd/"));

        run_query(ev, d, "avg:m{bar:baz}by{host}", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.retry_after_usec, 3 * USEC_PER_SEC); /* Reset beats Period */
        assert_int_equal(o.remaining, 0);
        assert_non_null(strstr(f.reqs[1].head, "query=avg%3Am%7Bbar%3Abaz%7Dby%7Bhost%7D "));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.retry_after_usec, 3600 * USEC_PER_SEC);
        assert_non_null(strstr(o.message, "Rate limit of 10 requests"));
        assert_int_equal(o.remaining, -1);

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.retry_after_usec, 10 * USEC_PER_SEC);

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.status, 503);
        assert_int_equal(o.retry_after_usec, 0);

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EACCES);
        assert_non_null(strstr(o.message, "Forbidden"));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EINVAL);
        assert_non_null(strstr(o.message, "scope_expr"));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EBADMSG);
        assert_non_null(strstr(o.message, "not valid JSON"));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EPROTO);
        assert_non_null(strstr(o.message, "404"));

        assert_int_equal(fake_count(&f), 9);
        assert_int_equal(datadog_query(d, NULL, 0, 1, on_done, &o), -EINVAL);
        assert_int_equal(datadog_query(d, "q", 10, 5, on_done, &o), -EINVAL);

        d = datadog_client_free(d);
        http = http_client_free(http);
        ev = sd_event_unref(ev);
        fake_stop(&f);
        free(base);
        free(ok);
        free(e400);
        free(c403.data);
}

static void client_transport_error_passed_through(void **state)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        struct datadog_settings s = {.api_key = "api-secret", .timeout_ms = 2000};
        struct datadog_client *d;
        struct http_client *http;
        struct outcome o;
        sd_event *ev;
        char *base;
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
        base = xasprintf("http://127.0.0.1:%d", ntohs(a.sin_port));
        close(fd);
        s.base_url = base;
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(datadog_client_new(http, &s, &d), 0);
        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -ECONNREFUSED);
        assert_int_equal(o.status, 0);
        assert_int_equal(o.remaining, -1);

        d = datadog_client_free(d);
        assert_null(d);

        /* Header injection through a key is refused. */
        s.api_key = "a\r\nX-Evil: 1";
        assert_int_equal(datadog_client_new(http, &s, &d), -EINVAL);
        assert_null(d);

        http = http_client_free(http);
        ev = sd_event_unref(ev);
        free(base);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(query_288_points),
            cmocka_unit_test(query_grouped_float_timestamps),
            cmocka_unit_test(query_openapi_example),
            cmocka_unit_test(query_capture_2020_with_ratelimit_headers),
            cmocka_unit_test(error_bodies),
            cmocka_unit_test(tolerated_shapes),
            cmocka_unit_test(rejected_shapes),
            cmocka_unit_test(site_urls),
            cmocka_unit_test(client_maps_responses),
            cmocka_unit_test(client_transport_error_passed_through),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
