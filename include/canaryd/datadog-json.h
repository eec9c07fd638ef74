/* Datadog metrics, the codec (src/codec/datadog-json.c, pure): the response codecs for
 * GET /api/v1/query and POST /api/v2/query/timeseries, request bodies and their size limits. The
 * client is canaryd/datadog.h. WIRE.md §1; docs/datadog.md. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/config.h"
#include "canaryd/util.h"

/* Caps on what one response may hold (the body itself is capped at 8 MiB by http.c). */
#define DATADOG_MAX_SERIES 4096
#define DATADOG_MAX_POINTS (2u * 1024 * 1024) /* over all series */

/* Request size limits: a batch of queries is split into several requests only when one
 * request would exceed them (docs/datadog.md, "Query economy"). */
#define DATADOG_V1_URL_MAX  8000         /* bytes of the whole GET URL */
#define DATADOG_V2_BODY_MAX (256 * 1024) /* bytes of the POST body */
#define DATADOG_MAX_QUERIES 1024         /* per request, either API */

/* One series of a response. timestamps_ms are finite; a JSON null value is NAN (missing). */
struct datadog_series {
        size_t query_index; /* index of the query in the request */
        char *tags;         /* owned: tag_set (v1) / group_tags (v2) joined with ",", or "" */
        double *timestamps_ms;
        double *values;
        size_t n;
};

struct datadog_response {
        struct datadog_series *series; /* owned */
        size_t n_series;
};
void datadog_response_free(struct datadog_response *r); /* NULL-safe, leaves it zeroed */

/* Parse a 200 body of GET /api/v1/query (datadog_parse_v1) or of POST /api/v2/query/timeseries
 * (datadog_parse_v2) for a request of n_queries queries. Every series must name a query_index
 * below n_queries (v1 may omit it only when n_queries is 1). Returns 0, or -EBADMSG with
 * *ret_error (owned) saying what is wrong and where. */
int datadog_parse_v1(const char *body, size_t len, size_t n_queries, struct datadog_response *ret,
                     char **ret_error);
int datadog_parse_v2(const char *body, size_t len, size_t n_queries, struct datadog_response *ret,
                     char **ret_error);

/* The values of query q with timestamps in [from_ms, to_ms]; a null point stays NAN (missing
 * data, never 0: the judge drops it, or applies the metric's nan_strategy); combine is as in
 * config.h, and combining skips NANs (a timestamp where every series is null stays NAN). No series:
 * 0 values (no data). Several series and COMBINE_NONE: -ENOTUNIQ and *ret_error names how many and
 * their tags. *ret_values is owned (never NULL on 0). */
int datadog_select(const struct datadog_response *r, size_t q, enum combine combine, double from_ms,
                   double to_ms, double **ret_values, size_t *ret_n, char **ret_error);
/* datadog_select that also returns each value's timestamp (*ret_timestamps_ms, owned, may be
 * NULL to skip), for judges that pair canary and baseline by time. */
int datadog_select_points(const struct datadog_response *r, size_t q, enum combine combine,
                          double from_ms, double to_ms, double **ret_values,
                          double **ret_timestamps_ms, size_t *ret_n, char **ret_error);

/* Joins the strings of an error body {"errors":[...]} (or a v2 top-level "errors" string) with
 * "; ". Returns NULL when the body has no such field (empty, HTML, ...). Caller owns it. */
char *datadog_parse_errors(const char *body, size_t len);

/* Base URL for a site: "https://api.datadoghq.com", "https://api.datadoghq.eu", ...
 * Caller owns the result; NULL for an unknown site. */
char *datadog_site_url(const char *site);

/* Builds the v2 request body for the queries (named q0, q1, ...). Caller owns it. */
char *datadog_v2_request_body(const char *const *queries, size_t n, int64_t from_ms, int64_t to_ms);

/* Bytes one query adds to a request: its encoded length plus separators (v1: in the URL;
 * v2: in the body). The fixed part is datadog_request_overhead(). */
size_t datadog_query_cost(enum datadog_api api, const char *query);
size_t datadog_request_overhead(enum datadog_api api, const char *base_url);
size_t datadog_request_limit(enum datadog_api api);
