/* Datadog wire formats (WIRE.md §1): the body of GET /api/v1/query, the {"errors":[...]} error
 * body and the site -> API base URL table. Pure: parses buffers, no I/O.
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

#include "canaryd/datadog.h"

/* Longest text we keep from an error body; the rest is cut with "...". */
#define ERRORS_MAX 1024

void datadog_points_free(struct datadog_points *p)
{
        if (!p)
                return;
        free(p->timestamps_ms);
        free(p->values);
        *p = (struct datadog_points){0};
}

static int fail(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **ret_error, const char *fmt, ...)
{
        if (ret_error) {
                va_list ap;
                char tmp[256];

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

int datadog_parse_query(const char *body, size_t len, struct datadog_points *ret, char **ret_error)
{
        struct datadog_points p = {0};
        const cJSON *status, *series, *s;
        size_t cap = 0, idx = 0;
        cJSON *root;
        int r;

        if (!body || len == 0)
                return fail(ret_error, "empty response body");
        root = cJSON_ParseWithLength(body, len);
        if (!root)
                return fail(ret_error, "response is not valid JSON");
        if (!cJSON_IsObject(root)) {
                r = fail(ret_error, "response is not a JSON object");
                goto out;
        }

        /* A missing status is tolerated (the shape is otherwise that of a query result). */
        status = cJSON_GetObjectItemCaseSensitive(root, "status");
        if (status && !(cJSON_IsString(status) && strcmp(status->valuestring, "ok") == 0)) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
                char what[128];

                if (cJSON_IsString(e))
                        clip(what, sizeof(what), e->valuestring);
                else
                        clip(what, sizeof(what),
                             cJSON_IsString(status) ? status->valuestring : "(not a string)");
                r = fail(ret_error, "query failed: status %s%s%s",
                         cJSON_IsString(status) ? "not ok: " : "is not a string: ",
                         cJSON_IsString(e) ? "error: " : "", what);
                goto out;
        }

        series = cJSON_GetObjectItemCaseSensitive(root, "series");
        if (!cJSON_IsArray(series)) {
                r = fail(ret_error,
                         series ? "\"series\" is not an array" : "response has no \"series\"");
                goto out;
        }

        cJSON_ArrayForEach (s, series) {
                const cJSON *pl, *pt;
                size_t j = 0;

                if (!cJSON_IsObject(s)) {
                        r = fail(ret_error, "series[%zu] is not an object", idx);
                        goto out;
                }
                pl = cJSON_GetObjectItemCaseSensitive(s, "pointlist");
                if (!pl || cJSON_IsNull(pl)) {
                        idx++;
                        continue; /* no points */
                }
                if (!cJSON_IsArray(pl)) {
                        r = fail(ret_error, "series[%zu].pointlist is not an array", idx);
                        goto out;
                }
                cJSON_ArrayForEach (pt, pl) {
                        const cJSON *ts, *v;

                        if (!cJSON_IsArray(pt) || cJSON_GetArraySize(pt) != 2) {
                                r = fail(ret_error,
                                         "series[%zu].pointlist[%zu] is not a [timestamp, value] "
                                         "pair",
                                         idx, j);
                                goto out;
                        }
                        ts = pt->child;
                        v = ts->next;
                        if (!cJSON_IsNumber(ts) || !isfinite(ts->valuedouble)) {
                                r = fail(ret_error,
                                         "series[%zu].pointlist[%zu]: timestamp is not a number",
                                         idx, j);
                                goto out;
                        }
                        if (!cJSON_IsNumber(v) && !cJSON_IsNull(v)) {
                                r = fail(ret_error,
                                         "series[%zu].pointlist[%zu]: value is neither a number "
                                         "nor null",
                                         idx, j);
                                goto out;
                        }
                        if (p.n == cap) {
                                cap = cap ? cap * 2 : 64;
                                p.timestamps_ms = xrealloc(p.timestamps_ms, cap * sizeof(double));
                                p.values = xrealloc(p.values, cap * sizeof(double));
                        }
                        p.timestamps_ms[p.n] = ts->valuedouble;
                        p.values[p.n] = cJSON_IsNull(v) ? (double)NAN : v->valuedouble;
                        p.n++;
                        j++;
                }
                idx++;
        }
        p.n_series = idx;
        *ret = p;
        p = (struct datadog_points){0};
        r = 0;
out:
        datadog_points_free(&p);
        cJSON_Delete(root);
        return r;
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
        if (cJSON_IsArray(errors)) {
                cJSON_ArrayForEach (e, errors) {
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
                }
        }
        cJSON_Delete(root);
        if (b.len == 0) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal(&b);
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
