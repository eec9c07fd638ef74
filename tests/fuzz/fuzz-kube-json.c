/* Fuzz target: vs_inspect, vs_update and kube_status_parse on arbitrary bytes. The first byte
 * picks the route selection and the canary weight; the rest is the JSON body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/kube.h"
#include "canaryd/vs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        const char *json = (const char *)data + 1;
        size_t len = size - 1;

        static char primary[] = "primary", host[] = "r", v1[] = "v1", v2[] = "v2";
        char *routes[] = {primary, NULL};
        struct canary_config c = {
            .routes = (mode & 1) ? routes : NULL,
            .n_routes = (mode & 1) ? 1 : 0,
            .stable = {.host = host, .subset = (mode & 2) ? NULL : v1},
            .canary = {.host = host, .subset = v2},
        };
        int pct = (int)(mode >> 2) * 4 - 20; /* -20 .. 232: in and out of range */

        struct vs_view v = {0};
        char *err = NULL, *out = NULL;
        if (vs_inspect(json, len, &c, &v, &err) == 0) {
                if (v.canary_weight > 100 || v.stable_weight > 100 || v.n_routes == 0)
                        abort();
                vs_view_done(&v);
        } else if (!err) {
                abort();
        }
        free(err);
        err = NULL;

        if (vs_update(json, len, &c, pct, "{\"fuzz\":true}", &out, &err) == 0) {
                if (pct > 100)
                        abort();
                /* The result must read back with the weights just written. */
                if (vs_inspect(out, strlen(out), &c, &v, &err) != 0)
                        abort();
                if (pct >= 0 && (v.canary_weight != (unsigned)pct ||
                                 v.stable_weight != 100 - (unsigned)pct || !v.weights_consistent))
                        abort();
                vs_view_done(&v);
                free(out);
        }
        free(err);

        struct kube_status st;
        if (kube_status_parse(json, len, &st) == 0)
                kube_status_done(&st);
        return 0;
}
