/* libFuzzer target: the Datadog v1 query codec (datadog_parse_query, datadog_parse_errors) on
 * arbitrary bytes. Invariants: never crash, -EBADMSG always comes with a message, a success has
 * consistent arrays. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "canaryd/datadog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct datadog_points p = {0};
        char *err = NULL, *e;
        int r;

        r = datadog_parse_query((const char *)data, size, &p, &err);
        if (r == 0) {
                assert(!err);
                assert(p.n == 0 || (p.timestamps_ms && p.values));
                for (size_t i = 0; i < p.n; i++)
                        assert(p.timestamps_ms[i] == p.timestamps_ms[i]); /* finite, not NaN */
                datadog_points_free(&p);
        } else {
                assert(r == -EBADMSG);
                assert(err);
                assert(p.n == 0 && !p.values);
                free(err);
        }

        e = datadog_parse_errors((const char *)data, size);
        free(e);
        return 0;
}
