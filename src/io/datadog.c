/* Datadog client: runs GET /api/v1/query on the event loop through the shared HTTP client and
 * maps the outcome to one errno (WIRE.md §1.3, §1.4). It never retries: the caller decides
 * (the rollout retries with backoff within a step, honouring retry_after_usec). API and
 * application keys go only into request headers, never into a URL or a message. */

#include <errno.h>
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
        long timeout_ms;
};

struct datadog_call {
        datadog_done_fn *done;
        void *userdata;
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
        d->timeout_ms = s->timeout_ms;
        *ret = d;
        return 0;
}

static void free_secret(char *p)
{
        if (p) {
                explicit_bzero(p, strlen(p));
                free(p);
        }
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
        if (errno != 0 || *end != 0)
                return -1;
        return x;
}

static void on_response(int error, const struct http_response *resp, const char *errmsg,
                        void *userdata)
{
        struct datadog_call *call = userdata;
        struct datadog_result res = {.ratelimit_remaining = -1};
        char *msg = NULL, *errors = NULL;
        long secs;

        if (error != 0) {
                res.error = error < 0 ? error : -EIO;
                msg = xasprintf("datadog: request failed: %s",
                                errmsg ? errmsg : strerror(-res.error));
                goto done;
        }

        res.status = resp->status;
        res.ratelimit_remaining = header_long(resp, "X-RateLimit-Remaining");
        if (resp->status != 200)
                errors = datadog_parse_errors(resp->body, resp->body_len);

        if (resp->status == 200) {
                char *perr = NULL;

                res.error = datadog_parse_query(resp->body, resp->body_len, &res.points, &perr);
                if (res.error < 0)
                        msg = xasprintf("datadog: bad query response: %s", perr);
                free(perr);
        } else if (resp->status == 429) {
                res.error = -EAGAIN;
                secs = header_long(resp, "X-RateLimit-Reset");
                if (secs < 0)
                        secs = header_long(resp, "X-RateLimit-Period");
                if (secs < 0)
                        secs = RATELIMIT_DEFAULT_SEC;
                if (secs > 24 * 3600)
                        secs = 24 * 3600;
                res.retry_after_usec = (usec_t)secs * USEC_PER_SEC;
                msg = xasprintf("datadog: rate limited (HTTP 429), retry in %lds%s%s", secs,
                                errors ? ": " : "", errors ? errors : "");
        } else if (resp->status >= 500 && resp->status <= 599) {
                res.error = -EAGAIN;
                msg = xasprintf("datadog: server error (HTTP %ld)%s%s", resp->status,
                                errors ? ": " : "", errors ? errors : "");
        } else if (resp->status == 401 || resp->status == 403) {
                res.error = -EACCES;
                msg = xasprintf("datadog: access denied (HTTP %ld)%s%s; check the API and "
                                "application keys",
                                resp->status, errors ? ": " : "", errors ? errors : "");
        } else if (resp->status == 400) {
                res.error = -EINVAL;
                msg = xasprintf("datadog: query rejected (HTTP 400)%s%s", errors ? ": " : "",
                                errors ? errors : "");
        } else {
                res.error = -EPROTO;
                msg = xasprintf("datadog: unexpected HTTP status %ld%s%s", resp->status,
                                errors ? ": " : "", errors ? errors : "");
        }

done:
        res.message = msg;
        call->done(&res, call->userdata);
        datadog_points_free(&res.points);
        free(errors);
        free(msg);
        free(call);
}

int datadog_query(struct datadog_client *d, const char *query, int64_t from_s, int64_t to_s,
                  datadog_done_fn *done, void *userdata)
{
        const char *headers[5];
        struct http_request_opts opts = {0};
        struct datadog_call *call;
        char *q, *url;
        size_t n = 0;
        int r;

        if (!d || !query || !*query || !done || from_s < 0 || to_s < from_s)
                return -EINVAL;

        q = http_escape(query);
        if (!q)
                return -ENOMEM;
        url = xasprintf("%s/api/v1/query?from=%lld&to=%lld&query=%s", d->base_url,
                        (long long)from_s, (long long)to_s, q);
        free(q);

        if (d->api_key_header)
                headers[n++] = d->api_key_header;
        if (d->app_key_header)
                headers[n++] = d->app_key_header;
        headers[n++] = "Accept: application/json";
        headers[n++] = "User-Agent: canaryd/" CANARYD_VERSION;
        headers[n] = NULL;

        opts.method = "GET";
        opts.url = url;
        opts.headers = headers;
        opts.timeout_ms = d->timeout_ms;

        call = xmalloc(sizeof(*call));
        call->done = done;
        call->userdata = userdata;
        r = http_submit(d->http, &opts, on_response, call);
        free(url);
        if (r < 0)
                free(call);
        return r;
}
