/* Datadog wire formats (WIRE.md §1): the 200 bodies of GET /api/v1/query and of
 * POST /api/v2/query/timeseries, the {"errors":[...]} error body, the v2 request body, the
 * request size arithmetic used to split batches, and the site -> API base URL table. Pure:
 * parses and builds buffers, no I/O.
 *
 * Never guesses: a series must say which query it answers (query_index), JSON null is missing
 * data (NAN here, dropped by datadog_select, never 0), several series for one query are an
 * error unless the caller says how to combine them, and sizes are capped.
 *
 * NaN policy: the schema marks point values nullable and we map JSON null to NAN. A bare `NaN`
 * token (claimed by one unverified third-party test) is not JSON; cJSON rejects it and so do we,
 * with -EBADMSG "not valid JSON". No real recording contains one. */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "canaryd/datadog-json.h"

/* Longest text we keep from an error body; the rest is cut with "...". */
#define ERRORS_MAX 1024
/* Longest tag list we keep per series (for error messages only). */
#define TAGS_MAX 256

void datadog_response_free(struct datadog_response *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_series; i++) {
                free(r->series[i].tags);
                free(r->series[i].timestamps_ms);
                free(r->series[i].values);
        }
        free(r->series);
        *r = (struct datadog_response){0};
}

static int fail(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **ret_error, const char *fmt, ...)
{
        if (ret_error) {
                va_list ap;
                char tmp[512];

                va_start(ap, fmt);
                vsnprintf(tmp, sizeof(tmp), fmt, ap);
                va_end(ap);
                *ret_error = xstrdup(tmp);
        }
        return -EBADMSG;
}

/* Copies at most 120 bytes of a server-provided string, without control characters, for use in
 * an error message. */
static void clip(char *dst, size_t size, const char *s)
{
        size_t i = 0;

        for (; s && *s && i + 1 < size && i < 120; s++)
                dst[i++] = (unsigned char)*s < 0x20 ? ' ' : *s;
        dst[i] = 0;
}

/* A JSON number that is a whole number in [0, limit). */
static bool as_index(const cJSON *n, size_t limit, size_t *ret)
{
        if (!cJSON_IsNumber(n) || !isfinite(n->valuedouble) || n->valuedouble < 0 ||
            n->valuedouble != floor(n->valuedouble) || n->valuedouble >= (double)limit)
                return false;
        *ret = (size_t)n->valuedouble;
        return true;
}

/* Joins a JSON array of strings with ","; "" for null or absent; false for another shape. */
static bool join_tags(const cJSON *a, char **ret)
{
        struct buf b = {0};
        const cJSON *t;

        if (!a || cJSON_IsNull(a)) {
                *ret = xstrdup("");
                return true;
        }
        if (!cJSON_IsArray(a))
                return false;
        cJSON_ArrayForEach (t, a) {
                if (!cJSON_IsString(t)) {
                        buf_free(&b);
                        return false;
                }
                if (b.len < TAGS_MAX) {
                        char clipped[128];

                        clip(clipped, sizeof(clipped), t->valuestring);
                        buf_printf(&b, "%s%s", b.len ? "," : "", clipped);
                }
        }
        *ret = b.len ? buf_steal(&b) : xstrdup("");
        buf_free(&b);
        return true;
}

/* Which query a series answers. Absent is accepted only when there is a single query. */
static int series_query_index(const cJSON *s, size_t idx, size_t n_queries, size_t *ret,
                              char **ret_error)
{
        const cJSON *qi = cJSON_GetObjectItemCaseSensitive(s, "query_index");
        size_t limit = n_queries ? n_queries : SIZE_MAX;

        if (!qi) {
                if (n_queries > 1)
                        return fail(ret_error,
                                    "series[%zu] has no query_index: cannot tell which of the %zu "
                                    "queries it answers",
                                    idx, n_queries);
                *ret = 0;
                return 0;
        }
        if (!as_index(qi, limit, ret)) {
                if (cJSON_IsNumber(qi) && n_queries)
                        return fail(ret_error,
                                    "series[%zu].query_index %g is not one of the %zu queries "
                                    "sent",
                                    idx, qi->valuedouble, n_queries);
                return fail(ret_error, "series[%zu].query_index is not a whole number", idx);
        }
        return 0;
}

static void series_reserve(struct datadog_series *s, size_t n)
{
        s->timestamps_ms = xrealloc(s->timestamps_ms, (n ? n : 1) * sizeof(double));
        s->values = xrealloc(s->values, (n ? n : 1) * sizeof(double));
}

/* The body as a JSON object; the caller deletes *ret. */
static int parse_object(const char *body, size_t len, cJSON **ret, char **ret_error)
{
        cJSON *root;

        if (!body || len == 0)
                return fail(ret_error, "empty response body");
        root = cJSON_ParseWithLength(body, len);
        if (!root)
                return fail(ret_error, "response is not valid JSON");
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return fail(ret_error, "response is not a JSON object");
        }
        *ret = root;
        return 0;
}

/* The size of the series array, at most DATADOG_MAX_SERIES; the messages say what is wrong when
 * series is not an array or is absent. */
static int series_count(const cJSON *series, const char *not_array, const char *absent, size_t *ret,
                        char **ret_error)
{
        if (!cJSON_IsArray(series))
                return fail(ret_error, "%s", series ? not_array : absent);
        size_t n = (size_t)cJSON_GetArraySize(series);
        if (n > DATADOG_MAX_SERIES)
                return fail(ret_error, "response has %zu series, more than the %d accepted", n,
                            DATADOG_MAX_SERIES);
        *ret = n;
        return 0;
}

/* Room for the n points of a series, when the response's *total points so far leave it. */
static int points_reserve(struct datadog_series *o, size_t n, size_t *total, char **ret_error)
{
        if (n > DATADOG_MAX_POINTS - *total)
                return fail(ret_error, "response has more than %u points", DATADOG_MAX_POINTS);
        *total += n;
        series_reserve(o, n);
        return 0;
}

/* A point's value: a finite number, or null (missing data: NAN). False for anything else. */
static bool point_value(const cJSON *v, double *ret)
{
        if (cJSON_IsNull(v)) {
                *ret = (double)NAN;
                return true;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return false;
        *ret = v->valuedouble;
        return true;
}

/* Reads the points of series s (index idx, for messages) into o; *total counts the points of
 * the response so far. */
typedef int series_points_fn(const cJSON *s, size_t idx, void *userdata, struct datadog_series *o,
                             size_t *total, char **ret_error);

/* How an API version lays out its series: what messages call the array, the key of a series'
 * tags, and the reader of a series' points. */
struct series_layout {
        const char *path;
        const char *tags_key;
        series_points_fn *points;
};

/* The series loop of both versions: each item of series (n of them) an object with its
 * query_index, tags and points, appended to out. On failure out holds the series begun so far,
 * for the caller to free. */
static int parse_series(const cJSON *series, size_t n, size_t n_queries,
                        const struct series_layout *l, void *userdata, struct datadog_response *out,
                        char **ret_error)
{
        size_t idx = 0, total = 0;
        const cJSON *s;
        int r;

        out->series = xcalloc(n ? n : 1, sizeof(*out->series));
        cJSON_ArrayForEach (s, series) {
                struct datadog_series *o = &out->series[out->n_series];

                if (!cJSON_IsObject(s))
                        return fail(ret_error, "%s[%zu] is not an object", l->path, idx);
                out->n_series++;
                r = series_query_index(s, idx, n_queries, &o->query_index, ret_error);
                if (r < 0)
                        return r;
                if (!join_tags(cJSON_GetObjectItemCaseSensitive(s, l->tags_key), &o->tags))
                        return fail(ret_error, "%s[%zu].%s is not an array of strings", l->path,
                                    idx, l->tags_key);
                r = l->points(s, idx, userdata, o, &total, ret_error);
                if (r < 0)
                        return r;
                idx++;
        }
        return 0;
}

/* Common check of the status field of a v1 body. */
static int v1_status(const cJSON *root, char **ret_error)
{
        /* A missing status is tolerated (the shape is otherwise that of a query result). */
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
        if (status && !(cJSON_IsString(status) && strcmp(status->valuestring, "ok") == 0)) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
                char what[128];

                if (cJSON_IsString(e))
                        clip(what, sizeof(what), e->valuestring);
                else
                        clip(what, sizeof(what),
                             cJSON_IsString(status) ? status->valuestring : "(not a string)");
                return fail(ret_error, "query failed: status %s%s%s",
                            cJSON_IsString(status) ? "not ok: " : "is not a string: ",
                            cJSON_IsString(e) ? "error: " : "", what);
        }
        return 0;
}

/* v1: a series holds its own [timestamp, value] pairs. */
static int v1_points(const cJSON *s, size_t idx, void *userdata, struct datadog_series *o,
                     size_t *total, char **ret_error)
{
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(s, "pointlist"), *pt;
        size_t j = 0;
        int r;

        if (!pl || cJSON_IsNull(pl)) {
                series_reserve(o, 0);
                return 0; /* no points */
        }
        if (!cJSON_IsArray(pl))
                return fail(ret_error, "series[%zu].pointlist is not an array", idx);
        r = points_reserve(o, (size_t)cJSON_GetArraySize(pl), total, ret_error);
        if (r < 0)
                return r;
        cJSON_ArrayForEach (pt, pl) {
                const cJSON *ts, *v;

                if (!cJSON_IsArray(pt) || cJSON_GetArraySize(pt) != 2)
                        return fail(ret_error,
                                    "series[%zu].pointlist[%zu] is not a [timestamp, value] pair",
                                    idx, j);
                ts = pt->child;
                v = ts->next;
                if (!cJSON_IsNumber(ts) || !isfinite(ts->valuedouble))
                        return fail(ret_error,
                                    "series[%zu].pointlist[%zu]: timestamp is not a number", idx,
                                    j);
                if (!point_value(v, &o->values[j]))
                        return fail(ret_error,
                                    "series[%zu].pointlist[%zu]: value is neither a finite number "
                                    "nor null",
                                    idx, j);
                o->timestamps_ms[j] = ts->valuedouble;
                o->n = ++j;
        }
        return 0;
}

int datadog_parse_v1(const char *body, size_t len, size_t n_queries, struct datadog_response *ret,
                     char **ret_error)
{
        static const struct series_layout v1 = {"series", "tag_set", v1_points};
        struct datadog_response out = {0};
        const cJSON *series;
        size_t n_series;
        cJSON *root;
        int r;

        r = parse_object(body, len, &root, ret_error);
        if (r < 0)
                return r;
        r = v1_status(root, ret_error);
        if (r < 0)
                goto out;
        series = cJSON_GetObjectItemCaseSensitive(root, "series");
        r = series_count(series, "\"series\" is not an array", "response has no \"series\"",
                         &n_series, ret_error);
        if (r < 0)
                goto out;
        r = parse_series(series, n_series, n_queries, &v1, NULL, &out, ret_error);
        if (r < 0)
                goto out;
        *ret = out;
        out = (struct datadog_response){0};
out:
        datadog_response_free(&out);
        cJSON_Delete(root);
        return r;
}

/* v2: one array of times for every series, and a list of values per series, in order. */
struct v2_values {
        const double *times_ms;
        size_t n_times;
        const cJSON *next; /* the value list of the next series */
};

static int v2_points(const cJSON *s, size_t idx, void *userdata, struct datadog_series *o,
                     size_t *total, char **ret_error)
{
        struct v2_values *t = userdata;
        const cJSON *vl = t->next, *v;
        size_t j = 0;
        int r;

        if (!cJSON_IsArray(vl) || (size_t)cJSON_GetArraySize(vl) != t->n_times)
                return fail(ret_error,
                            "data.attributes.values[%zu] is not an array of %zu values (one per "
                            "time)",
                            idx, t->n_times);
        r = points_reserve(o, t->n_times, total, ret_error);
        if (r < 0)
                return r;
        cJSON_ArrayForEach (v, vl) {
                if (!point_value(v, &o->values[j]))
                        return fail(ret_error,
                                    "data.attributes.values[%zu][%zu] is neither a finite number "
                                    "nor null",
                                    idx, j);
                o->timestamps_ms[j] = t->times_ms[j];
                o->n = ++j;
        }
        t->next = vl->next;
        return 0;
}

/* data.attributes of a v2 body, after its top-level "errors" string if any. */
static int v2_attributes(const cJSON *root, const cJSON **ret, char **ret_error)
{
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "errors"), *data, *attrs;

        if (cJSON_IsString(e) && *e->valuestring) {
                char what[128];

                clip(what, sizeof(what), e->valuestring);
                return fail(ret_error, "query failed: errors: %s", what);
        }
        data = cJSON_GetObjectItemCaseSensitive(root, "data");
        if (!cJSON_IsObject(data))
                return fail(ret_error,
                            data ? "\"data\" is not an object" : "response has no \"data\"");
        attrs = cJSON_GetObjectItemCaseSensitive(data, "attributes");
        if (!cJSON_IsObject(attrs))
                return fail(ret_error, attrs ? "data.attributes is not an object"
                                             : "response has no data.attributes");
        *ret = attrs;
        return 0;
}

/* The times of a v2 body (owned by the caller, also on failure). */
static int v2_times(const cJSON *times, double **ret, size_t *ret_n, char **ret_error)
{
        size_t n = (size_t)cJSON_GetArraySize(times), idx = 0;
        const cJSON *t;

        if (n > DATADOG_MAX_POINTS)
                return fail(ret_error, "response has more than %u points", DATADOG_MAX_POINTS);
        *ret = xmalloc((n ? n : 1) * sizeof(double));
        *ret_n = n;
        cJSON_ArrayForEach (t, times) {
                if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble))
                        return fail(ret_error, "data.attributes.times[%zu] is not a number", idx);
                (*ret)[idx++] = t->valuedouble;
        }
        return 0;
}

int datadog_parse_v2(const char *body, size_t len, size_t n_queries, struct datadog_response *ret,
                     char **ret_error)
{
        static const struct series_layout v2 = {"data.attributes.series", "group_tags", v2_points};
        struct datadog_response out = {0};
        const cJSON *attrs = NULL, *series, *times, *values;
        struct v2_values vals = {0};
        double *ts = NULL;
        size_t n_series;
        cJSON *root;
        int r;

        r = parse_object(body, len, &root, ret_error);
        if (r < 0)
                return r;
        r = v2_attributes(root, &attrs, ret_error);
        if (r < 0)
                goto out;
        series = cJSON_GetObjectItemCaseSensitive(attrs, "series");
        times = cJSON_GetObjectItemCaseSensitive(attrs, "times");
        values = cJSON_GetObjectItemCaseSensitive(attrs, "values");
        r = series_count(series, "data.attributes.series is not an array",
                         "response has no data.attributes.series", &n_series, ret_error);
        if (r < 0)
                goto out;
        if (n_series == 0 && (!times || cJSON_IsArray(times)) &&
            (!values || cJSON_IsArray(values))) {
                *ret = (struct datadog_response){.series = xcalloc(1, sizeof(*out.series))};
                goto out;
        }
        if (!cJSON_IsArray(times) || !cJSON_IsArray(values)) {
                r = fail(ret_error, "data.attributes.%s is missing or not an array",
                         cJSON_IsArray(times) ? "values" : "times");
                goto out;
        }
        if ((size_t)cJSON_GetArraySize(values) != n_series) {
                r = fail(ret_error, "data.attributes has %zu series but %d value lists", n_series,
                         cJSON_GetArraySize(values));
                goto out;
        }
        r = v2_times(times, &ts, &vals.n_times, ret_error);
        if (r < 0)
                goto out;
        vals.times_ms = ts;
        vals.next = values->child;
        r = parse_series(series, n_series, n_queries, &v2, &vals, &out, ret_error);
        if (r < 0)
                goto out;
        *ret = out;
        out = (struct datadog_response){0};
out:
        free(ts);
        datadog_response_free(&out);
        cJSON_Delete(root);
        return r;
}

struct point {
        double ts, v;
};

static int point_cmp(const void *a, const void *b)
{
        const struct point *x = a, *y = b;
        return (x->ts > y->ts) - (x->ts < y->ts);
}

int datadog_select(const struct datadog_response *r, size_t q, enum combine combine, double from_ms,
                   double to_ms, double **ret_values, size_t *ret_n, char **ret_error)
{
        return datadog_select_points(r, q, combine, from_ms, to_ms, ret_values, NULL, ret_n,
                                     ret_error);
}

int datadog_select_points(const struct datadog_response *r, size_t q, enum combine combine,
                          double from_ms, double to_ms, double **ret_values,
                          double **ret_timestamps_ms, size_t *ret_n, char **ret_error)
{
        size_t matching = 0, total = 0, n = 0;
        struct point *pts;

        for (size_t i = 0; i < r->n_series; i++)
                if (r->series[i].query_index == q) {
                        matching++;
                        total += r->series[i].n;
                }
        if (matching > 1 && combine == COMBINE_NONE) {
                struct buf b = {0};

                for (size_t i = 0, k = 0; i < r->n_series && b.len < 300; i++)
                        if (r->series[i].query_index == q)
                                buf_printf(&b, "%s{%s}", k++ ? ", " : "",
                                           *r->series[i].tags ? r->series[i].tags : "no tags");
                if (ret_error)
                        *ret_error =
                            xasprintf("the query returned %zu series (%s%s) where one was "
                                      "expected: a by {...} query needs the metric's "
                                      "combine: (sum, avg, min, max or pool)",
                                      matching, b.data ? b.data : "", b.len >= 300 ? ", ..." : "");
                buf_free(&b);
                return -ENOTUNIQ;
        }

        pts = xmalloc((total ? total : 1) * sizeof(*pts));
        for (size_t i = 0; i < r->n_series; i++) {
                const struct datadog_series *s = &r->series[i];
                if (s->query_index != q)
                        continue;
                for (size_t j = 0; j < s->n; j++)
                        if (s->timestamps_ms[j] >= from_ms && s->timestamps_ms[j] <= to_ms)
                                pts[n++] = (struct point){s->timestamps_ms[j], s->values[j]};
        }

        double *out = xmalloc((n ? n : 1) * sizeof(double));
        double *ts = ret_timestamps_ms ? xmalloc((n ? n : 1) * sizeof(double)) : NULL;
        size_t m = 0;
        if (matching <= 1 || combine == COMBINE_POOL) {
                for (size_t i = 0; i < n; i++) {
                        if (ts)
                                ts[m] = pts[i].ts;
                        out[m++] = pts[i].v;
                }
        } else {
                /* stable enough: equal timestamps are reduced together, order by time */
                qsort(pts, n, sizeof(*pts), point_cmp);
                for (size_t i = 0; i < n;) {
                        size_t j = i;
                        double acc = combine == COMBINE_MIN   ? (double)INFINITY
                                     : combine == COMBINE_MAX ? -(double)INFINITY
                                                              : 0;
                        size_t finite = 0;
                        for (; j < n && pts[j].ts == pts[i].ts; j++) {
                                if (isnan(pts[j].v))
                                        continue;
                                finite++;
                                if (combine == COMBINE_MIN)
                                        acc = fmin(acc, pts[j].v);
                                else if (combine == COMBINE_MAX)
                                        acc = fmax(acc, pts[j].v);
                                else
                                        acc += pts[j].v;
                        }
                        if (finite == 0)
                                acc = (double)NAN;
                        else if (combine == COMBINE_AVG)
                                acc /= (double)finite;
                        if (ts)
                                ts[m] = pts[i].ts;
                        out[m++] = acc;
                        i = j;
                }
        }
        free(pts);
        *ret_values = out;
        if (ret_timestamps_ms)
                *ret_timestamps_ms = ts;
        *ret_n = m;
        return 0;
}

char *datadog_parse_errors(const char *body, size_t len)
{
        const cJSON *errors, *e;
        struct buf b = {0};
        cJSON *root;

        if (!body || len == 0)
                return NULL;
        root = cJSON_ParseWithLength(body, len);
        if (!root)
                return NULL;
        errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
        /* An array of strings; the v2 schema also allows one string. */
        for (e = cJSON_IsArray(errors) ? errors->child : errors; e; e = e->next) {
                if (!cJSON_IsString(e))
                        continue;
                if (b.len > 0)
                        buf_puts(&b, "; ");
                /* One log line: control characters (the parser's \n) become spaces. */
                for (const char *c = e->valuestring; *c && b.len < ERRORS_MAX; c++) {
                        char ch = (unsigned char)*c < 0x20 ? ' ' : *c;
                        buf_append(&b, &ch, 1);
                }
                if (b.len >= ERRORS_MAX) {
                        buf_puts(&b, "...");
                        break;
                }
                if (!cJSON_IsArray(errors))
                        break;
        }
        cJSON_Delete(root);
        if (b.len == 0) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal(&b);
}

char *datadog_v2_request_body(const char *const *queries, size_t n, int64_t from_ms, int64_t to_ms)
{
        cJSON *root = cJSON_CreateObject();
        cJSON *data = cJSON_AddObjectToObject(root, "data");
        cJSON_AddStringToObject(data, "type", "timeseries_request");
        cJSON *attrs = cJSON_AddObjectToObject(data, "attributes");
        cJSON_AddNumberToObject(attrs, "from", (double)from_ms);
        cJSON_AddNumberToObject(attrs, "to", (double)to_ms);
        cJSON *qs = cJSON_AddArrayToObject(attrs, "queries");
        for (size_t i = 0; i < n; i++) {
                char name[32];
                cJSON *q = cJSON_CreateObject();

                snprintf(name, sizeof(name), "q%zu", i);
                cJSON_AddStringToObject(q, "data_source", "metrics");
                cJSON_AddStringToObject(q, "name", name);
                cJSON_AddStringToObject(q, "query", queries[i]);
                cJSON_AddItemToArray(qs, q);
        }
        /* No formulas: series[].query_index then indexes queries[] (WIRE.md §1.5). */
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!s)
                abort(); /* out of memory, as xmalloc */
        char *copy = xstrdup(s);
        cJSON_free(s);
        return copy;
}

size_t datadog_query_cost(enum datadog_api api, const char *query)
{
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *)query; p && *p; p++) {
                bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                             (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                             *p == '~';
                if (api == DATADOG_API_V1)
                        n += plain ? 1 : 3; /* percent-encoded */
                else
                        n += *p < 0x20 ? 6 : (*p == '"' || *p == '\\') ? 2 : 1; /* JSON */
        }
        /* v1: the "%2C" separator; v2: {"data_source":"metrics","name":"q1023","query":""}, */
        return n + (api == DATADOG_API_V1 ? 3 : 52);
}

size_t datadog_request_overhead(enum datadog_api api, const char *base_url)
{
        if (api == DATADOG_API_V1) /* /api/v1/query?from=<20>&to=<20>&query= */
                return (base_url ? strlen(base_url) : 0) + 70;
        /* {"data":{"type":"timeseries_request","attributes":{"from":<20>,"to":<20>,"queries":[]}}}
         */
        return 120;
}

size_t datadog_request_limit(enum datadog_api api)
{
        return api == DATADOG_API_V1 ? DATADOG_V1_URL_MAX : DATADOG_V2_BODY_MAX;
}

char *datadog_site_url(const char *site)
{
        /* WIRE.md §1.1: "api." + site. EU has no region label (datadoghq.eu), so a user writing
         * "eu1.datadoghq.com" or "eu" means datadoghq.eu. Short region names are accepted too. */
        static const struct {
                const char *site, *alias;
        } sites[] = {
            {"datadoghq.com", "us1"},        {"us3.datadoghq.com", "us3"},
            {"us5.datadoghq.com", "us5"},    {"datadoghq.eu", "eu"},
            {"datadoghq.eu", "eu1"},         {"datadoghq.eu", "eu1.datadoghq.com"},
            {"ap1.datadoghq.com", "ap1"},    {"ap2.datadoghq.com", "ap2"},
            {"uk1.datadoghq.com", "uk1"},    {"ddog-gov.com", "us1-fed"},
            {"us2.ddog-gov.com", "us2-fed"},
        };

        if (!site)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(sites); i++)
                if (strcasecmp(site, sites[i].site) == 0 || strcasecmp(site, sites[i].alias) == 0)
                        return xasprintf("https://api.%s", sites[i].site);
        return NULL;
}
