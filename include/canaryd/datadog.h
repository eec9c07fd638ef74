/* Datadog metrics: the v1 query response codec (pure, src/codec/datadog-json.c) and the client
 * (src/io/datadog.c) that runs GET /api/v1/query on the event loop. WIRE.md §1. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "canaryd/config.h"
#include "canaryd/util.h"

struct http_client;

/* Points of every series in a response, pooled in series order. A JSON null value is NAN. */
struct datadog_points {
        double *timestamps_ms;
        double *values;
        size_t n;
        size_t n_series;
};
void datadog_points_free(struct datadog_points *p);

/* Parses a 200 body of GET /api/v1/query. Returns 0, or -EBADMSG with *ret_error (owned) saying
 * what is wrong (not JSON, status != "ok", malformed pointlist). */
int datadog_parse_query(const char *body, size_t len, struct datadog_points *ret, char **ret_error);

/* Joins the strings of an error body {"errors":[...]} with "; ". Returns NULL when the body
 * has no such array (empty, HTML, ...). Caller owns the result. */
char *datadog_parse_errors(const char *body, size_t len);

/* Base URL for a site: "https://api.datadoghq.com", "https://api.datadoghq.eu", ...
 * Caller owns the result; NULL for an unknown site. */
char *datadog_site_url(const char *site);

struct datadog_settings {
        const char *base_url; /* no trailing slash needed */
        const char *api_key;  /* secret: never logged */
        const char *app_key;  /* secret: never logged */
        long timeout_ms;
};

struct datadog_result {
        /* 0: points valid. Else: -EAGAIN rate limited or 5xx (retry after retry_after_usec),
         * -EACCES 401/403, -EINVAL 400 (bad query), -EBADMSG malformed body, or a transport
         * errno from http.h. */
        int error;
        long status;
        struct datadog_points points; /* borrowed for the call */
        const char *message;          /* borrowed; human text for errors, never a secret */
        usec_t retry_after_usec;      /* from X-RateLimit-Reset, when rate limited */
        long ratelimit_remaining;     /* -1 when absent */
};

typedef void datadog_done_fn(const struct datadog_result *res, void *userdata);

struct datadog_client;
int datadog_client_new(struct http_client *http, const struct datadog_settings *s,
                       struct datadog_client **ret);
struct datadog_client *datadog_client_free(struct datadog_client *d); /* NULL-safe */

/* Queries [from_s, to_s] (epoch seconds). done is called exactly once on 0. */
int datadog_query(struct datadog_client *d, const char *query, int64_t from_s, int64_t to_s,
                  datadog_done_fn *done, void *userdata);
