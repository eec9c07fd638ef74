/* Tests for Datadog: the v1 and v2 response codecs on every recorded fixture (the .http captures
 * are split into headers and body here) plus hand-made edge cases, series selection and
 * combining, the site table, request sizes, and the client's batched requests (v1 URL encoding
 * and comma joining, the v2 body), key check, rate-limit headers and status mapping against a
 * scripted loopback HTTP server on a real sd-event loop. */
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
#include "canaryd/files.h"
#include "canaryd/http.h"
#include "canaryd/util.h"
#include "fake-http.h"

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

static int parse1(const char *body, size_t len, size_t nq, struct datadog_response *r, char **err)
{
        *r = (struct datadog_response){0};
        *err = NULL;
        return datadog_parse_v1(body, len, nq, r, err);
}

static int parse2(const char *body, size_t len, size_t nq, struct datadog_response *r, char **err)
{
        *r = (struct datadog_response){0};
        *err = NULL;
        return datadog_parse_v2(body, len, nq, r, err);
}

/* Values of query q with no window and no combining; asserts success. */
static size_t values_of(const struct datadog_response *r, size_t q, double **v)
{
        size_t n;
        char *err = NULL;

        assert_int_equal(datadog_select(r, q, COMBINE_NONE, -INFINITY, INFINITY, v, &n, &err), 0);
        assert_null(err);
        return n;
}

/* ---- codec tests ---------------------------------------------------------------------------- */

static void query_288_points(void **state)
{
        size_t len;
        char *body = fixture("datadog_v1_query_ok_cpu_idle_288pts.json", &len), *err;
        struct datadog_response r;
        double *v;

        assert_int_equal(parse1(body, len, 1, &r, &err), 0);
        assert_null(err);
        assert_int_equal(r.n_series, 1);
        assert_int_equal(r.series[0].n, 288);
        assert_int_equal(r.series[0].query_index, 0);
        assert_string_equal(r.series[0].tags, "");
        assert_true(r.series[0].timestamps_ms[0] == 1641344100000.0);
        assert_true(r.series[0].values[0] == 91.4583840476142);
        assert_true(r.series[0].timestamps_ms[287] == 1641430200000.0);
        assert_true(r.series[0].values[287] == 92.57754687873684);
        for (size_t i = 1; i < r.series[0].n; i++)
                assert_true(r.series[0].timestamps_ms[i] - r.series[0].timestamps_ms[i - 1] ==
                            300000.0);
        assert_int_equal(values_of(&r, 0, &v), 288);
        free(v);
        datadog_response_free(&r);
        free(body);
}

static void query_grouped_float_timestamps(void **state)
{
        size_t len;
        char *body = fixture("datadog_v1_query_ok_by_host_grouped.json", &len), *err;
        struct datadog_response r;

        assert_int_equal(parse1(body, len, 1, &r, &err), 0);
        assert_int_equal(r.n_series, 1);
        assert_int_equal(r.series[0].n, 2);
        assert_string_equal(r.series[0].tags, "host:go-client-test-host");
        assert_true(r.series[0].timestamps_ms[0] == 1618221135000.0);
        assert_true(r.series[0].values[0] == 10.5);
        assert_true(r.series[0].timestamps_ms[1] == 1618221195000.0);
        assert_true(r.series[0].values[1] == 11.0);
        datadog_response_free(&r);
        free(body);
}

static void query_openapi_example(void **state)
{
        size_t len;
        char *body = fixture("datadog_openapi_v1_query_200_example.json", &len), *err;
        struct datadog_response r;

        /* no query_index: fine for a single query, a refusal for several */
        assert_int_equal(parse1(body, len, 1, &r, &err), 0);
        assert_int_equal(r.series[0].n, 1);
        assert_true(r.series[0].timestamps_ms[0] == 1681683300000.0);
        assert_true(r.series[0].values[0] == 77.62145685254418);
        datadog_response_free(&r);
        assert_int_equal(parse1(body, len, 2, &r, &err), -EBADMSG);
        assert_non_null(strstr(err, "series[0] has no query_index"));
        free(err);
        free(body);
}

static void query_capture_2020_with_ratelimit_headers(void **state)
{
        struct capture c;
        struct datadog_response r;
        char *err;

        capture_load(&c, "datadog_v1_query_ok_by_host_2020.http");
        assert_int_equal(c.status, 200);
        assert_string_equal(capture_header(&c, "x-ratelimit-reset"), "1640");
        assert_string_equal(capture_header(&c, "X-RateLimit-Remaining"), "598");
        assert_int_equal(parse1(c.body, c.body_len, 1, &r, &err), 0);
        assert_int_equal(r.series[0].n, 2);
        assert_true(r.series[0].timestamps_ms[1] == 1589290338000.0);
        assert_true(r.series[0].values[1] == 11.0);
        datadog_response_free(&r);
        free(c.data);
}

static void v2_fixture(void **state)
{
        size_t len;
        char *body = fixture("datadog_v2_timeseries_ok_single_series.response.json", &len), *err;
        struct datadog_response r;
        double *v;

        assert_int_equal(parse2(body, len, 1, &r, &err), 0);
        assert_int_equal(r.n_series, 1);
        assert_int_equal(r.series[0].n, 3);
        assert_true(r.series[0].timestamps_ms[0] == 1711977645000.0);
        assert_true(r.series[0].timestamps_ms[2] == 1711980225000.0);
        assert_int_equal(values_of(&r, 0, &v), 3);
        assert_true(v[0] == 1 && v[1] == 1 && v[2] == 87);
        free(v);
        /* a window keeps only the points inside it */
        size_t n;
        assert_int_equal(
            datadog_select(&r, 0, COMBINE_NONE, 1711977700000.0, 1711980225000.0, &v, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_true(v[0] == 1 && v[1] == 87);
        free(v);
        datadog_response_free(&r);
        free(body);

        /* The recorded request matches what we build, apart from our names and formulas. */
        const char *q[] = {"avg:datadog.estimated_usage.metrics.custom{*}", "a\"b{c:d}"};
        char *built = datadog_v2_request_body(q, 2, 1711977601000, 1711981201000);
        assert_non_null(strstr(built, "\"type\":\"timeseries_request\""));
        assert_non_null(strstr(built, "\"from\":1711977601000,\"to\":1711981201000"));
        assert_non_null(strstr(built, "{\"data_source\":\"metrics\",\"name\":\"q0\",\"query\":"
                                      "\"avg:datadog.estimated_usage.metrics.custom{*}\"}"));
        assert_non_null(strstr(built, "\"name\":\"q1\",\"query\":\"a\\\"b{c:d}\""));
        assert_true(strlen(built) <= datadog_request_overhead(DATADOG_API_V2, NULL) +
                                         datadog_query_cost(DATADOG_API_V2, q[0]) +
                                         datadog_query_cost(DATADOG_API_V2, q[1]));
        free(built);
}

/* The same data as v1 (two queries, one by{host} with two hosts, a null) and as v2. */
static const char multi_v1[] =
    "{\"status\":\"ok\",\"series\":["
    "{\"query_index\":0,\"tag_set\":[],\"pointlist\":[[1000,1.5],[2000,null],[3000,2.5]]},"
    "{\"query_index\":1,\"tag_set\":[\"host:a\"],\"pointlist\":[[1000,1],[2000,3],"
    "[3000,null]]},"
    "{\"query_index\":1,\"tag_set\":[\"host:b\"],\"pointlist\":[[1000,5],[2000,null],"
    "[3000,null]]}]}";
static const char multi_v2[] =
    "{\"data\":{\"id\":\"0\",\"type\":\"timeseries_response\",\"attributes\":{"
    "\"series\":[{\"group_tags\":[],\"query_index\":0,\"unit\":null},"
    "{\"group_tags\":[\"host:a\"],\"query_index\":1,\"unit\":null},"
    "{\"group_tags\":[\"host:b\"],\"query_index\":1,\"unit\":[{\"family\":\"time\"},null]}],"
    "\"times\":[1000,2000,3000],\"values\":[[1.5,null,2.5],[1,3,null],[5,null,null]]}}}";

static void multi_query_and_combine(void **state)
{
        for (int v2 = 0; v2 < 2; v2++) {
                struct datadog_response r;
                char *err;
                double *v;
                size_t n;

                if (v2)
                        assert_int_equal(parse2(multi_v2, sizeof(multi_v2) - 1, 3, &r, &err), 0);
                else
                        assert_int_equal(parse1(multi_v1, sizeof(multi_v1) - 1, 3, &r, &err), 0);
                assert_int_equal(r.n_series, 3);

                /* null is missing data (NAN), never 0 */
                assert_int_equal(values_of(&r, 0, &v), 3);
                assert_true(v[0] == 1.5 && isnan(v[1]) && v[2] == 2.5);
                free(v);

                /* several series for one query: an error naming them, unless combined */
                assert_int_equal(
                    datadog_select(&r, 1, COMBINE_NONE, -INFINITY, INFINITY, &v, &n, &err),
                    -ENOTUNIQ);
                assert_non_null(strstr(err, "2 series"));
                assert_non_null(strstr(err, "{host:a}, {host:b}"));
                assert_non_null(strstr(err, "combine"));
                free(err);

                static const struct {
                        enum combine c;
                        size_t n;
                        double v0, v1;
                } want[] = {
                    {COMBINE_SUM, 3, 6, 3}, {COMBINE_AVG, 3, 3, 3},  {COMBINE_MIN, 3, 1, 3},
                    {COMBINE_MAX, 3, 5, 3}, {COMBINE_POOL, 6, 1, 3},
                };
                for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                        assert_int_equal(
                            datadog_select(&r, 1, want[i].c, -INFINITY, INFINITY, &v, &n, &err), 0);
                        assert_int_equal(n, want[i].n);
                        assert_true(v[0] == want[i].v0 && v[1] == want[i].v1);
                        if (want[i].c != COMBINE_POOL) /* every series null at 3000 */
                                assert_true(isnan(v[2]));
                        free(v);
                }
                /* a query without series: no data */
                assert_int_equal(values_of(&r, 2, &v), 0);
                free(v);
                datadog_response_free(&r);

                /* a query_index beyond what was sent is refused */
                if (v2)
                        assert_int_equal(parse2(multi_v2, sizeof(multi_v2) - 1, 1, &r, &err),
                                         -EBADMSG);
                else
                        assert_int_equal(parse1(multi_v1, sizeof(multi_v1) - 1, 1, &r, &err),
                                         -EBADMSG);
                assert_non_null(strstr(err, "query_index 1 is not one of the 1 queries"));
                free(err);
        }
}

static void error_bodies(void **state)
{
        struct capture c;
        struct datadog_response r;
        size_t len;
        char *body, *e, *err;

        /* 403 capture: {"status":"error", ..., "errors":["Forbidden"]} */
        capture_load(&c, "datadog_v1_query_403_forbidden.http");
        assert_int_equal(c.status, 403);
        e = datadog_parse_errors(c.body, c.body_len);
        assert_string_equal(e, "Forbidden");
        free(e);
        assert_int_equal(parse1(c.body, c.body_len, 1, &r, &err), -EBADMSG);
        assert_non_null(strstr(err, "status"));
        free(err);
        free(c.data);

        /* 429 capture: empty body, lower-case rate-limit headers. */
        capture_load(&c, "datadog_429_rate_limited_headers.http");
        assert_int_equal(c.status, 429);
        assert_int_equal(c.body_len, 0);
        assert_string_equal(capture_header(&c, "X-RateLimit-Reset"), "3");
        assert_null(datadog_parse_errors(c.body, c.body_len));
        assert_int_equal(parse1(c.body, c.body_len, 1, &r, &err), -EBADMSG);
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
        assert_int_equal(parse1(body, len, 1, &r, &err), -EBADMSG);
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
        assert_int_equal(parse2(body, len, 1, &r, &err), -EBADMSG);
        free(err);
        free(body);

        e = datadog_parse_errors("{\"errors\":[\"a\",1,\"b\"]}", 22);
        assert_string_equal(e, "a; b");
        free(e);
        e = datadog_parse_errors("{\"errors\":\"one string\"}", 23);
        assert_string_equal(e, "one string");
        free(e);
        assert_null(datadog_parse_errors("{\"errors\":[]}", 13));
        assert_null(datadog_parse_errors("<html>502 Bad Gateway</html>", 28));
        assert_null(datadog_parse_errors("{\"errors\":1}", 12));
        assert_null(datadog_parse_errors(NULL, 0));
}

static void tolerated_shapes(void **state)
{
        /* Four sub-queries, a null value, unit null and a unit pair, aggr null, top-level
         * times/values, unknown keys, a series without points, integer and float timestamps. */
        static const char body[] =
            "{\"status\":\"ok\",\"res_type\":\"time_series\",\"times\":[],\"values\":[],"
            "\"future\":{\"x\":[1,2]},\"series\":["
            "{\"query_index\":0,\"aggr\":null,\"unit\":null,\"pointlist\":[[1000,1.5],"
            "[2000.0,null]]},"
            "{\"query_index\":1,\"aggr\":\"avg\",\"unit\":[{\"family\":\"percentage\","
            "\"scale_factor\":1,\"name\":\"percent\",\"short_name\":\"%\",\"plural\":"
            "\"percent\",\"id\":17},null],\"pointlist\":[[3000,-2e3]],\"new\":true},"
            "{\"query_index\":2,\"pointlist\":[]},{\"query_index\":3.0}]}";
        struct datadog_response r;
        char *err;

        assert_int_equal(parse1(body, sizeof(body) - 1, 4, &r, &err), 0);
        assert_int_equal(r.n_series, 4);
        assert_int_equal(r.series[0].n, 2);
        assert_true(r.series[0].timestamps_ms[0] == 1000.0 && r.series[0].values[0] == 1.5);
        assert_true(r.series[0].timestamps_ms[1] == 2000.0 && isnan(r.series[0].values[1]));
        assert_true(r.series[1].timestamps_ms[0] == 3000.0 && r.series[1].values[0] == -2000.0);
        assert_int_equal(r.series[3].query_index, 3);
        assert_int_equal(r.series[3].n, 0);
        datadog_response_free(&r);

        /* Empty results; and no status at all is tolerated. */
        assert_int_equal(parse1("{\"status\":\"ok\",\"series\":[]}", 27, 2, &r, &err), 0);
        assert_int_equal(r.n_series, 0);
        datadog_response_free(&r);
        assert_int_equal(parse1("{\"series\":[]}", 13, 1, &r, &err), 0);
        datadog_response_free(&r);
        static const char empty2[] = "{\"data\":{\"id\":\"0\",\"type\":\"timeseries_response\","
                                     "\"attributes\":{\"series\":[],\"times\":[],\"values\":[]}}}";
        assert_int_equal(parse2(empty2, sizeof(empty2) - 1, 2, &r, &err), 0);
        assert_int_equal(r.n_series, 0);
        datadog_response_free(&r);
}

static void rejected_shapes(void **state)
{
        static const struct {
                bool v2;
                const char *body, *want;
        } cases[] = {
            {0, "", "empty"},
            {0, "{", "not valid JSON"},
            {0, "<html><body>502</body></html>", "not valid JSON"},
            {0, "[]", "not a JSON object"},
            {0, "null", "not a JSON object"},
            {0, "{\"status\":\"error\",\"error\":\"boom happened\"}", "boom happened"},
            {0, "{\"status\":\"error\",\"series\":[]}", "status"},
            {0, "{\"status\":1,\"series\":[]}", "status"},
            {0, "{\"status\":\"ok\"}", "no \"series\""},
            {0, "{\"status\":\"ok\",\"series\":{}}", "not an array"},
            {0, "{\"series\":[1]}", "series[0] is not an object"},
            {0, "{\"series\":[{\"pointlist\":{}}]}", "pointlist is not an array"},
            {0, "{\"series\":[{\"pointlist\":[5]}]}", "pointlist[0]"},
            {0, "{\"series\":[{\"pointlist\":[[1]]}]}", "pointlist[0]"},
            {0, "{\"series\":[{\"pointlist\":[[1,2,3]]}]}", "pointlist[0]"},
            {0, "{\"series\":[{},{\"pointlist\":[[1,2],[\"1\",2]]}]}",
             "series[1].pointlist[1]: timestamp"},
            {0, "{\"series\":[{\"pointlist\":[[null,2]]}]}", "timestamp"},
            {0, "{\"series\":[{\"pointlist\":[[1e999,2]]}]}", "timestamp"},
            {0, "{\"series\":[{\"pointlist\":[[1,\"2\"]]}]}", "value"},
            {0, "{\"series\":[{\"pointlist\":[[1,1e999]]}]}", "finite"},
            {0, "{\"series\":[{\"query_index\":-1}]}", "query_index"},
            {0, "{\"series\":[{\"query_index\":0.5}]}", "query_index"},
            {0, "{\"series\":[{\"query_index\":\"0\"}]}", "query_index"},
            {0, "{\"series\":[{\"tag_set\":\"host:a\"}]}", "tag_set"},
            /* NaN policy: not JSON, rejected (see datadog-json.c). */
            {0, "{\"status\":\"ok\",\"series\":[{\"pointlist\":[[1,NaN]]}]}", "not valid JSON"},
            {1, "", "empty"},
            {1, "[1]", "not a JSON object"},
            {1, "{\"errors\":\"timeout\"}", "timeout"},
            {1, "{}", "no \"data\""},
            {1, "{\"data\":[]}", "not an object"},
            {1, "{\"data\":{}}", "no data.attributes"},
            {1, "{\"data\":{\"attributes\":{\"series\":{}}}}", "series is not an array"},
            {1, "{\"data\":{\"attributes\":{\"series\":[{}],\"values\":[[1]]}}}", "times"},
            {1, "{\"data\":{\"attributes\":{\"series\":[{}],\"times\":[1],\"values\":[]}}}",
             "1 series but 0 value lists"},
            {1, "{\"data\":{\"attributes\":{\"series\":[{}],\"times\":[1,2],\"values\":[[1]]}}}",
             "values[0] is not an array of 2 values"},
            {1, "{\"data\":{\"attributes\":{\"series\":[{}],\"times\":[\"1\"],\"values\":[[1]]}}}",
             "times[0]"},
            {1, "{\"data\":{\"attributes\":{\"series\":[{}],\"times\":[1],\"values\":[[true]]}}}",
             "values[0][0]"},
            {1, "{\"data\":{\"attributes\":{\"series\":[1],\"times\":[1],\"values\":[[1]]}}}",
             "series[0] is not an object"},
            {1,
             "{\"data\":{\"attributes\":{\"series\":[{\"group_tags\":[1]}],\"times\":[1],"
             "\"values\":[[1]]}}}",
             "group_tags"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct datadog_response r;
                char *err = NULL;
                int rc = cases[i].v2 ? parse2(cases[i].body, strlen(cases[i].body), 1, &r, &err)
                                     : parse1(cases[i].body, strlen(cases[i].body), 1, &r, &err);

                if (rc != -EBADMSG)
                        fail_msg("case %zu: returned %d", i, rc);
                assert_non_null(err);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i].want);
                assert_int_equal(r.n_series, 0);
                assert_null(r.series);
                free(err);
        }
        /* Binary garbage, not NUL-terminated. */
        {
                char junk[64];
                struct datadog_response r;
                char *err = NULL;

                for (size_t i = 0; i < sizeof(junk); i++)
                        junk[i] = (char)(i * 37 + 11);
                assert_int_equal(parse1(junk, sizeof(junk), 1, &r, &err), -EBADMSG);
                free(err);
                assert_int_equal(parse2(junk, sizeof(junk), 1, &r, &err), -EBADMSG);
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
        size_t n_series, n;
        double first;
        char message[512];
        usec_t retry_after_usec;
        struct datadog_ratelimit rl;
};

static void on_done(const struct datadog_result *res, void *userdata)
{
        struct outcome *o = userdata;

        assert_false(o->called);
        o->called = true;
        o->error = res->error;
        o->status = res->status;
        o->n_series = res->response.n_series;
        o->n = res->response.n_series ? res->response.series[0].n : 0;
        o->first = o->n ? res->response.series[0].values[0] : (double)NAN;
        snprintf(o->message, sizeof(o->message), "%s", res->message ? res->message : "");
        o->retry_after_usec = res->retry_after_usec;
        o->rl = res->ratelimit;
        if (res->error == 0)
                assert_null(res->message);
        else
                assert_non_null(res->message);
}

static void wait_for(sd_event *ev, struct outcome *o)
{
        for (int i = 0; i < 500 && !o->called; i++)
                assert_true(sd_event_run(ev, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o->called);
        /* Secrets never reach a message. */
        assert_null(strstr(o->message, "api-secret"));
        assert_null(strstr(o->message, "app-secret"));
}

static void run_queries(sd_event *ev, struct datadog_client *d, const char *const *q, size_t n,
                        struct outcome *o)
{
        *o = (struct outcome){0};
        assert_int_equal(datadog_query_batch(d, q, n, 1641343852, 1641430252, on_done, o), 0);
        wait_for(ev, o);
}

static void run_query(sd_event *ev, struct datadog_client *d, const char *query, struct outcome *o)
{
        run_queries(ev, d, &query, 1, o);
}

static void client_maps_responses(void **state)
{
        size_t len;
        char *ok = fixture("datadog_v1_query_ok_cpu_idle_288pts.json", &len);
        char *e400 = fixture("datadog_400_query_parse_error.json", &len);
        struct capture c403;
        struct fake_resp script[] = {
            {200,
             "X-RateLimit-Remaining: 1596\r\nx-ratelimit-limit: 1600\r\n"
             "X-Ratelimit-Period: 3600\r\nX-RATELIMIT-RESET: 385\r\n"
             "x-ratelimit-name: query_timeseries\r\n",
             ok},
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
            {200, NULL, multi_v1},
            {200, NULL, "{\"valid\":true}"},
            {403, NULL, "{\"errors\":[\"API key required\"]}"},
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
        assert_int_equal(datadog_client_api(d), DATADOG_API_V1);

        run_query(ev, d, "system.cpu.idle{*}", &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.n, 288);
        assert_true(o.first == 91.4583840476142);
        /* every rate-limit header, whatever its case */
        assert_int_equal(o.rl.remaining, 1596);
        assert_int_equal(o.rl.limit, 1600);
        assert_int_equal(o.rl.period, 3600);
        assert_int_equal(o.rl.reset, 385);
        assert_string_equal(o.rl.name, "query_timeseries");
        assert_non_null(strstr(f.reqs[0].head, "GET /api/v1/query?from=1641343852&to=1641430252"
                                               "&query=system.cpu.idle%7B%2A%7D HTTP/1.1\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nDD-API-KEY: api-secret\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nDD-APPLICATION-KEY: app-secret\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nAccept: application/json\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nUser-Agent: canaryd/"));

        run_query(ev, d, "avg:m{bar:baz}by{host}", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.status, 429);
        assert_int_equal(o.retry_after_usec, 3 * USEC_PER_SEC); /* Reset beats Period */
        assert_int_equal(o.rl.remaining, 0);
        assert_non_null(strstr(f.reqs[1].head, "query=avg%3Am%7Bbar%3Abaz%7Dby%7Bhost%7D "));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EAGAIN);
        assert_int_equal(o.retry_after_usec, 3600 * USEC_PER_SEC);
        assert_non_null(strstr(o.message, "Rate limit of 10 requests"));
        assert_int_equal(o.rl.remaining, -1);

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

        /* Three queries, one request: each encoded, joined with an encoded comma (the commas
         * inside a scope stay encoded too, so Datadog splits only at ours). */
        const char *three[] = {"avg:a{x:1,y:2}", "sum:b{env:prod} by {host}", "c{*}.as_count()"};
        run_queries(ev, d, three, 3, &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.n_series, 3);
        assert_non_null(strstr(f.reqs[9].head,
                               "&query=avg%3Aa%7Bx%3A1%2Cy%3A2%7D%2Csum%3Ab%7Benv%3Aprod%7D%20by%20"
                               "%7Bhost%7D%2Cc%7B%2A%7D.as_count%28%29 HTTP/1.1\r\n"));

        /* The key check: API key only. */
        o = (struct outcome){0};
        assert_int_equal(datadog_validate(d, on_done, &o), 0);
        wait_for(ev, &o);
        assert_int_equal(o.error, 0);
        assert_non_null(strstr(f.reqs[10].head, "GET /api/v1/validate HTTP/1.1\r\n"));
        assert_non_null(strcasestr(f.reqs[10].head, "\r\nDD-API-KEY: api-secret\r\n"));
        assert_null(strcasestr(f.reqs[10].head, "DD-APPLICATION-KEY"));
        o = (struct outcome){0};
        assert_int_equal(datadog_validate(d, on_done, &o), 0);
        wait_for(ev, &o);
        assert_int_equal(o.error, -EACCES);
        assert_non_null(strstr(o.message, "API key required"));

        assert_int_equal(fake_count(&f), 12);
        const char *none[] = {NULL};
        assert_int_equal(datadog_query_batch(d, none, 1, 0, 1, on_done, &o), -EINVAL);
        assert_int_equal(datadog_query_batch(d, three, 0, 0, 1, on_done, &o), -EINVAL);
        assert_int_equal(datadog_query_batch(d, three, 1, 10, 5, on_done, &o), -EINVAL);

        d = datadog_client_free(d);
        http = http_client_free(http);
        ev = sd_event_unref(ev);
        fake_stop(&f);
        free(base);
        free(ok);
        free(e400);
        free(c403.data);
}

static void client_v2(void **state)
{
        size_t len;
        char *ok = fixture("datadog_v2_timeseries_ok_single_series.response.json", &len);
        char *bad = fixture("datadog_v2_timeseries_400_bad_type.response.json", &len);
        struct fake_resp script[] = {
            {200, "Content-Type: application/vnd.api+json\r\n", ok},
            {400, NULL, bad},
            {200, NULL, multi_v2},
        };
        struct datadog_settings s = {.api_key = "api-secret",
                                     .app_key = "app-secret",
                                     .api = DATADOG_API_V2,
                                     .timeout_ms = 3000};
        struct datadog_client *d;
        struct http_client *http;
        struct outcome o;
        struct fake f;
        sd_event *ev;
        char *base;

        fake_start(&f, script, ELEMENTSOF(script));
        base = xasprintf("http://127.0.0.1:%d", f.port);
        s.base_url = base;
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(datadog_client_new(http, &s, &d), 0);

        run_query(ev, d, "avg:datadog.estimated_usage.metrics.custom{*}", &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.n, 3);
        assert_true(o.first == 1);
        assert_non_null(strstr(f.reqs[0].head, "POST /api/v2/query/timeseries HTTP/1.1\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nContent-Type: application/json\r\n"));
        assert_non_null(strcasestr(f.reqs[0].head, "\r\nDD-APPLICATION-KEY: app-secret\r\n"));
        /* milliseconds; `to` is exclusive, so the last second is kept */
        assert_non_null(strstr(f.reqs[0].body, "\"from\":1641343852000,\"to\":1641430253000"));
        assert_non_null(strstr(f.reqs[0].body, "\"query\":\"avg:datadog.estimated_usage.metrics."
                                               "custom{*}\""));

        run_query(ev, d, "q", &o);
        assert_int_equal(o.error, -EINVAL);
        assert_non_null(strstr(o.message, "Expected \"timeseries_request\""));

        const char *three[] = {"a{*}", "b{*} by {host}", "c{*}"};
        run_queries(ev, d, three, 3, &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.n_series, 3);
        assert_non_null(strstr(f.reqs[2].body, "\"name\":\"q2\",\"query\":\"c{*}\""));

        d = datadog_client_free(d);
        http = http_client_free(http);
        ev = sd_event_unref(ev);
        fake_stop(&f);
        free(base);
        free(ok);
        free(bad);
}

static void request_sizes(void **state)
{
        /* v1: the cost is the encoded length plus the encoded comma */
        assert_int_equal(datadog_query_cost(DATADOG_API_V1, "a{b:c}"), 1 + 3 + 1 + 3 + 1 + 3 + 3);
        assert_true(datadog_query_cost(DATADOG_API_V2, "a\"b") == 4 + 52);
        assert_int_equal(datadog_request_limit(DATADOG_API_V1), DATADOG_V1_URL_MAX);
        assert_int_equal(datadog_request_limit(DATADOG_API_V2), DATADOG_V2_BODY_MAX);
        /* the v1 URL we build is never longer than overhead + costs */
        const char *q[] = {"avg:x{service:a,kube_deployment:a-canary}", "p99:y{*} by {host}"};
        const char *base = "https://api.datadoghq.com";
        char *e0 = http_escape(q[0]), *e1 = http_escape(q[1]);
        char *url = xasprintf("%s/api/v1/query?from=%lld&to=%lld&query=%s%%2C%s", base,
                              9999999999LL, 9999999999LL, e0, e1);
        assert_true(strlen(url) <= datadog_request_overhead(DATADOG_API_V1, base) +
                                       datadog_query_cost(DATADOG_API_V1, q[0]) +
                                       datadog_query_cost(DATADOG_API_V1, q[1]));
        free(url);
        free(e0);
        free(e1);
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
        assert_int_equal(o.rl.remaining, -1);

        d = datadog_client_free(d);
        assert_null(d);

        /* Header injection through a key is refused, and so is an unknown API. */
        s.api_key = "a\r\nX-Evil: 1";
        assert_int_equal(datadog_client_new(http, &s, &d), -EINVAL);
        assert_null(d);
        s.api_key = "k";
        s.api = (enum datadog_api)7;
        assert_int_equal(datadog_client_new(http, &s, &d), -EINVAL);

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
            cmocka_unit_test(v2_fixture),
            cmocka_unit_test(multi_query_and_combine),
            cmocka_unit_test(error_bodies),
            cmocka_unit_test(tolerated_shapes),
            cmocka_unit_test(rejected_shapes),
            cmocka_unit_test(site_urls),
            cmocka_unit_test(request_sizes),
            cmocka_unit_test(client_maps_responses),
            cmocka_unit_test(client_v2),
            cmocka_unit_test(client_transport_error_passed_through),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
