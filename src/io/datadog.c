/* Datadog client: runs one request for a batch of queries (GET /api/v1/query with the queries
 * joined by commas, or POST /api/v2/query/timeseries with named queries) and GET
 * /api/v1/validate on the event loop through the shared HTTP client, and maps the outcome to
 * one errno (WIRE.md §1.3-§1.6). It never retries: the analysis runner decides (it retries with
 * backoff within a step, honouring retry_after_usec, and paces requests by the rate-limit
 * headers returned here). API and application keys go only into request headers, never into a
 * URL or a message. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/datadog.h"
#include "canaryd/http.h"

/* Fallback wait after a 429 that carries neither X-RateLimit-Reset nor X-RateLimit-Period. */
#define RATELIMIT_DEFAULT_SEC 10

struct datadog_client {
        struct http_client *http;
        char *base_url;
        char *api_key_header; /* "DD-API-KEY: ..." (secret) */
        char *app_key_header;
        enum datadog_api api;
        long timeout_ms;
        struct status_tally *tally; /* borrowed; NULL: not counted */
};

enum call_kind { CALL_V1, CALL_V2, CALL_VALIDATE, CALL_EVENT };

struct datadog_call {
        enum call_kind kind;
        size_t n_queries;
        datadog_done_fn *done;
        void *userdata;
        struct status_tally *tally; /* the client's, which outlives it (datadog_client_set_tally) */
};

static bool header_value_ok(const char *v)
{
        for (; *v; v++)
                if (*v == '\r' || *v == '\n')
                        return false;
        return true;
}

int datadog_client_new(struct http_client *http, const struct datadog_settings *s,
                       struct datadog_client **ret)
{
        struct datadog_client *d;
        size_t n;

        if (!http || !s || !ret || !s->base_url || !*s->base_url)
                return -EINVAL;
        if (s->api != DATADOG_API_V1 && s->api != DATADOG_API_V2)
                return -EINVAL;
        if ((s->api_key && !header_value_ok(s->api_key)) ||
            (s->app_key && !header_value_ok(s->app_key)))
                return -EINVAL;

        d = xcalloc(1, sizeof(*d));
        d->http = http;
        d->base_url = xstrdup(s->base_url);
        n = strlen(d->base_url);
        while (n > 0 && d->base_url[n - 1] == '/')
                d->base_url[--n] = 0;
        if (s->api_key && *s->api_key)
                d->api_key_header = xasprintf("DD-API-KEY: %s", s->api_key);
        if (s->app_key && *s->app_key)
                d->app_key_header = xasprintf("DD-APPLICATION-KEY: %s", s->app_key);
        d->api = s->api;
        d->timeout_ms = s->timeout_ms;
        *ret = d;
        return 0;
}

struct datadog_client *datadog_client_free(struct datadog_client *d)
{
        if (!d)
                return NULL;
        /* In-flight calls hold no pointer to d: they complete (or are cancelled by the HTTP
         * client) on their own. */
        free(d->base_url);
        free_secret(d->api_key_header);
        free_secret(d->app_key_header);
        free(d);
        return NULL;
}

void datadog_client_set_tally(struct datadog_client *d, struct status_tally *tally)
{
        d->tally = tally;
}

enum datadog_api datadog_client_api(const struct datadog_client *d)
{
        return d->api;
}

const char *datadog_client_base_url(const struct datadog_client *d)
{
        return d->base_url;
}

/* A non-negative decimal header value, or -1. */
static long header_long(const struct http_response *r, const char *name)
{
        const char *v = http_response_header(r, name);
        char *end;
        long x;

        if (!v || *v < '0' || *v > '9')
                return -1;
        errno = 0;
        x = strtol(v, &end, 10);
        while (*end == ' ' || *end == '\t')
                end++;
        if (errno != 0 || *end != 0)
                return -1;
        return x;
}

static void read_ratelimit(const struct http_response *resp, struct datadog_ratelimit *rl)
{
        /* http_response_header matches names case-insensitively (X-Ratelimit-*, x-ratelimit-*) */
        rl->limit = header_long(resp, "X-RateLimit-Limit");
        rl->period = header_long(resp, "X-RateLimit-Period");
        rl->remaining = header_long(resp, "X-RateLimit-Remaining");
        rl->reset = header_long(resp, "X-RateLimit-Reset");
        const char *name = http_response_header(resp, "X-RateLimit-Name");
        size_t i = 0;
        for (; name && name[i] && i + 1 < sizeof(rl->name); i++)
                rl->name[i] = (unsigned char)name[i] < 0x20 ? ' ' : name[i];
        rl->name[i] = 0;
}

static void on_response(int error, const struct http_response *resp, const char *errmsg,
                        void *userdata)
{
        struct datadog_call *call = userdata;
        struct datadog_result res = {
            .ratelimit = {.limit = -1, .period = -1, .remaining = -1, .reset = -1}};
        const char *what = call->kind == CALL_VALIDATE ? "key check"
                           : call->kind == CALL_EVENT  ? "event"
                                                       : "query";
        char *msg = NULL, *errors = NULL;
        long secs;

        if (call->tally)
                status_tally_add(call->tally, error == 0 ? resp->status : 0);
        if (error != 0) {
                res.error = error < 0 ? error : -EIO;
                msg = xasprintf("datadog: %s request failed: %s", what,
                                errmsg ? errmsg : strerror(-res.error));
                goto done;
        }

        res.status = resp->status;
        res.body = resp->body;
        res.body_len = resp->body_len;
        read_ratelimit(resp, &res.ratelimit);
        if (resp->status < 200 || resp->status > 299)
                errors = datadog_parse_errors(resp->body, resp->body_len);

        if (resp->status >= 200 && resp->status <= 299) {
                char *perr = NULL;

                if (call->kind == CALL_VALIDATE || call->kind == CALL_EVENT)
                        res.error = 0; /* 200 {"valid":true}; 202 {"status":"ok",...} */
                else if (call->kind == CALL_V1)
                        res.error = datadog_parse_v1(resp->body, resp->body_len, call->n_queries,
                                                     &res.response, &perr);
                else
                        res.error = datadog_parse_v2(resp->body, resp->body_len, call->n_queries,
                                                     &res.response, &perr);
                if (res.error < 0)
                        msg = xasprintf("datadog: malformed query response (HTTP %ld): %s",
                                        resp->status, perr);
                free(perr);
        } else if (resp->status == 429) {
                res.error = -EAGAIN;
                secs = res.ratelimit.reset;
                if (secs < 0)
                        secs = res.ratelimit.period;
                if (secs < 0)
                        secs = RATELIMIT_DEFAULT_SEC;
                if (secs > 24 * 3600)
                        secs = 24 * 3600;
                res.retry_after_usec = (usec_t)secs * USEC_PER_SEC;
                msg = xasprintf("datadog: rate limited (HTTP 429%s%s), resets in %lds%s%s",
                                *res.ratelimit.name ? ", limit " : "", res.ratelimit.name, secs,
                                errors ? ": " : "", errors ? errors : "");
        } else if (resp->status >= 500 && resp->status <= 599) {
                res.error = -EAGAIN;
                msg = xasprintf("datadog: server error (HTTP %ld)%s%s", resp->status,
                                errors ? ": " : "", errors ? errors : "");
        } else if (resp->status == 401 || resp->status == 403) {
                res.error = -EACCES;
                msg = xasprintf("datadog: access denied (HTTP %ld)%s%s; check the API %skey",
                                resp->status, errors ? ": " : "", errors ? errors : "",
                                call->kind == CALL_VALIDATE || call->kind == CALL_EVENT
                                    ? ""
                                    : "and application ");
        } else if (resp->status == 400) {
                res.error = -EINVAL;
                msg = xasprintf("datadog: %s rejected (HTTP 400)%s%s", what, errors ? ": " : "",
                                errors ? errors : "");
        } else {
                res.error = -EPROTO;
                msg = xasprintf("datadog: unexpected HTTP status %ld%s%s", resp->status,
                                errors ? ": " : "", errors ? errors : "");
        }

done:
        res.message = msg;
        call->done(&res, call->userdata);
        datadog_response_free(&res.response);
        free(errors);
        free(msg);
        free(call);
}

static int submit(struct datadog_client *d, enum call_kind kind, const char *method,
                  const char *url, const char *body, size_t n_queries, datadog_done_fn *done,
                  void *userdata)
{
        const char *headers[7];
        struct http_request_opts opts = {0};
        struct datadog_call *call;
        size_t n = 0;
        int r;

        if (d->api_key_header)
                headers[n++] = d->api_key_header;
        /* the key check and event posts need only the API key (WIRE.md §1.2) */
        if (d->app_key_header && kind != CALL_VALIDATE && kind != CALL_EVENT)
                headers[n++] = d->app_key_header;
        headers[n++] = kind == CALL_V2 ? "Accept: application/vnd.api+json, application/json"
                                       : "Accept: application/json";
        if (body)
                headers[n++] = "Content-Type: application/json";
        headers[n++] = "User-Agent: canaryd/" CANARYD_VERSION;
        headers[n] = NULL;

        opts.method = method;
        opts.url = url;
        opts.headers = headers;
        opts.body = body;
        opts.body_len = body ? strlen(body) : 0;
        opts.timeout_ms = d->timeout_ms;
        opts.idempotent = kind != CALL_EVENT; /* a v2 query is a read; an event is posted */

        call = xcalloc(1, sizeof(*call));
        call->kind = kind;
        call->n_queries = n_queries;
        call->done = done;
        call->userdata = userdata;
        call->tally = d->tally;
        r = http_submit(d->http, &opts, on_response, call);
        if (r < 0)
                free(call);
        return r;
}

int datadog_query_batch(struct datadog_client *d, const char *const *queries, size_t n,
                        int64_t from_s, int64_t to_s, datadog_done_fn *done, void *userdata)
{
        int r;

        if (!d || !queries || n == 0 || n > DATADOG_MAX_QUERIES || !done || from_s < 0 ||
            to_s < from_s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!queries[i] || !*queries[i])
                        return -EINVAL;

        if (d->api == DATADOG_API_V1) {
                /* Percent-encode each query, then join with an encoded comma: Datadog splits the
                 * decoded string at top-level commas and numbers the parts (query_index). */
                struct buf b = {0};
                buf_printf(&b, "%s/api/v1/query?from=%lld&to=%lld&query=", d->base_url,
                           (long long)from_s, (long long)to_s);
                for (size_t i = 0; i < n; i++) {
                        char *q = http_escape(queries[i]);
                        if (!q) {
                                buf_free(&b);
                                return -ENOMEM;
                        }
                        buf_printf(&b, "%s%s", i ? "%2C" : "", q);
                        free(q);
                }
                r = submit(d, CALL_V1, "GET", b.data, NULL, n, done, userdata);
                buf_free(&b);
                return r;
        }

        /* v2: milliseconds, `to` exclusive; +1 s keeps the point at to_s inside, as in v1. */
        char *body = datadog_v2_request_body(queries, n, from_s * 1000, (to_s + 1) * 1000);
        char *url = xasprintf("%s/api/v2/query/timeseries", d->base_url);
        r = submit(d, CALL_V2, "POST", url, body, n, done, userdata);
        free(url);
        free(body);
        return r;
}

int datadog_post_event(struct datadog_client *d, const char *body, datadog_done_fn *done,
                       void *userdata)
{
        if (!d || !body || !done)
                return -EINVAL;
        char *url = xasprintf("%s/api/v1/events", d->base_url);
        int r = submit(d, CALL_EVENT, "POST", url, body, 0, done, userdata);
        free(url);
        return r;
}

int datadog_validate(struct datadog_client *d, datadog_done_fn *done, void *userdata)
{
        if (!d || !done)
                return -EINVAL;
        char *url = xasprintf("%s/api/v1/validate", d->base_url);
        int r = submit(d, CALL_VALIDATE, "GET", url, NULL, 0, done, userdata);
        free(url);
        return r;
}
