/* libFuzzer target: the Datadog response codecs (datadog_parse_v1, datadog_parse_v2, then
 * datadog_select with every combine mode, and datadog_parse_errors) on arbitrary bytes. Each input
 * is parsed as the answer to one query and to 2..8 queries, so that the query_index checks run
 * both ways. Invariants: never crash, -EBADMSG always comes with a message, a success has
 * consistent series (every query_index below the query count, finite timestamps, values finite
 * or NaN for null), and selecting yields no infinity unless a sum overflowed. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "canaryd/datadog-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct datadog_response *r, size_t n_queries)
{
        assert(r->series || r->n_series == 0);
        for (size_t i = 0; i < r->n_series; i++) {
                const struct datadog_series *s = &r->series[i];
                assert(s->query_index < n_queries);
                assert(s->tags);
                assert(s->n == 0 || (s->timestamps_ms && s->values));
                for (size_t j = 0; j < s->n; j++)
                        assert(isfinite(s->timestamps_ms[j]) && !isinf(s->values[j]));
        }
        for (size_t q = 0; q < n_queries; q++)
                for (int c = 0; c < _COMBINE_MAX; c++) {
                        double *v = NULL;
                        size_t n = 0;
                        char *err = NULL;
                        int r2 = datadog_select(r, q, (enum combine)c, -INFINITY, INFINITY, &v, &n,
                                                &err);
                        if (r2 == 0) {
                                assert(v && !err);
                                for (size_t j = 0; j < n; j++)
                                        assert(!isinf(v[j]) || c == COMBINE_SUM ||
                                               c == COMBINE_AVG);
                                free(v);
                        } else {
                                assert(r2 == -ENOTUNIQ && c == COMBINE_NONE && err);
                                free(err);
                        }
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *body = (const char *)data;
        size_t len = size;

        for (int k = 0; k < 4; k++) {
                size_t n_queries = k < 2 ? 1 : 2 + size % 7;
                int v2 = k % 2;
                struct datadog_response r = {0};
                char *err = NULL;
                int rc = v2 ? datadog_parse_v2(body, len, n_queries, &r, &err)
                            : datadog_parse_v1(body, len, n_queries, &r, &err);
                if (rc == 0) {
                        assert(!err);
                        check(&r, n_queries);
                        datadog_response_free(&r);
                } else {
                        assert(rc == -EBADMSG);
                        assert(err);
                        assert(r.n_series == 0 && !r.series);
                        free(err);
                }
        }
        free(datadog_parse_errors((const char *)data, size));
        return 0;
}
