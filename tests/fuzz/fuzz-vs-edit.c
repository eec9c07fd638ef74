/* Fuzz target: the VirtualService weight edit (vs_update) on arbitrary JSON, with the
 * invariants of WIRE.md §3 / SPEC §4 checked on every success:
 *   - the output parses, reads back (vs_inspect) with the weights just written on every route;
 *   - it equals the input except for route weights and the canaryd.io/state annotation (by
 *     json_equal: cJSON_Compare takes exponential time on nested objects);
 *   - every route whose weights changed has exactly two destinations summing to 100.
 * The first byte picks the canary weight (0..100) and the subsets; the rest is the object. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/vs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[] = {"http", "tls", "tcp"};

/* Removes every weight in spec.{http,tls,tcp}[].route[] and returns, per route, nothing: the
 * caller compares weights before calling this. */
static void strip_weights(cJSON *root)
{
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
        for (size_t k = 0; k < 3; k++) {
                cJSON *rule;
                cJSON_ArrayForEach (rule, cJSON_GetObjectItemCaseSensitive(spec, kinds[k])) {
                        cJSON *rd;
                        cJSON_ArrayForEach (rd, cJSON_GetObjectItemCaseSensitive(rule, "route"))
                                if (cJSON_IsObject(rd))
                                        cJSON_DeleteItemFromObjectCaseSensitive(rd, "weight");
                }
        }
}

/* cJSON_Compare without its exponential time: cJSON_Compare compares each member of
 * an object from both sides, so its time doubles with each level of nesting (a 3.5 KB input of
 * nested objects took longer than libFuzzer's 10 s timeout). Here each member is compared once,
 * found by its key as cJSON_Compare finds it; the other side's keys need only be present. */
static bool json_equal(const cJSON *a, const cJSON *b)
{
        const cJSON *x;

        if (!a || !b)
                return a == b;
        if ((a->type & 0xFF) != (b->type & 0xFF))
                return false;
        switch (a->type & 0xFF) {
        case cJSON_False:
        case cJSON_True:
        case cJSON_NULL:
                return true;
        case cJSON_Number:
                return a->valuedouble == b->valuedouble;
        case cJSON_String:
        case cJSON_Raw:
                return a->valuestring && b->valuestring
                           ? strcmp(a->valuestring, b->valuestring) == 0
                           : a->valuestring == b->valuestring;
        case cJSON_Array:
                for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
                        if (!json_equal(a, b))
                                return false;
                return !a && !b;
        case cJSON_Object:
                if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
                        return false;
                cJSON_ArrayForEach (x, a)
                        if (!json_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string)))
                                return false;
                cJSON_ArrayForEach (x, b)
                        if (!cJSON_GetObjectItemCaseSensitive(a, x->string))
                                return false;
                return true;
        default:
                return false;
        }
}

static bool same_weight(const cJSON *a, const cJSON *b)
{
        const cJSON *wa = cJSON_GetObjectItemCaseSensitive(a, "weight");
        const cJSON *wb = cJSON_GetObjectItemCaseSensitive(b, "weight");
        if (!wa || !wb)
                return !wa && !wb;
        return json_equal(wa, wb);
}

/* Every route whose weights differ must be a two-destination split summing to 100. */
static void check_changed_routes(const cJSON *in, const cJSON *out, unsigned pct)
{
        const cJSON *si = cJSON_GetObjectItemCaseSensitive(in, "spec");
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(out, "spec");
        for (size_t k = 0; k < 3; k++) {
                const cJSON *ri = cJSON_GetObjectItemCaseSensitive(si, kinds[k]);
                const cJSON *ro = cJSON_GetObjectItemCaseSensitive(so, kinds[k]);
                int n = cJSON_IsArray(ri) ? cJSON_GetArraySize(ri) : 0;
                for (int i = 0; i < n; i++) {
                        const cJSON *a =
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ri, i), "route");
                        const cJSON *b =
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ro, i), "route");
                        int m = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
                        bool changed = false;
                        for (int j = 0; j < m; j++)
                                changed |= !same_weight(cJSON_GetArrayItem(a, j),
                                                        cJSON_GetArrayItem(b, j));
                        if (!changed)
                                continue;
                        if (m != 2)
                                abort();
                        double w0 =
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(b, 0), "weight")
                                ->valuedouble;
                        double w1 =
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(b, 1), "weight")
                                ->valuedouble;
                        if (w0 + w1 != 100 || (w0 != pct && w1 != pct))
                                abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        const char *json = (const char *)data + 1;
        size_t len = size - 1;
        unsigned pct = mode % 101;

        static char host[] = "reviews", v1[] = "v1", v2[] = "v2", ns[] = "prod", name[] = "f";
        struct canary_config c = {
            .name = name,
            .namespace_ = ns,
            .stable = {.host = host, .subset = (mode & 0x80) ? NULL : v1},
            .canary = {.host = host, .subset = v2},
        };
        char *out = NULL, *err = NULL;
        if (vs_update(json, len, &c, (int)pct, "{\"fuzz\":1}", &out, &err) != 0) {
                if (!err)
                        abort(); /* every refusal says why */
                free(err);
                return 0;
        }
        struct vs_view v = {0};
        if (vs_inspect(out, strlen(out), &c, &v, &err) != 0 || v.canary_weight != pct ||
            v.stable_weight != 100 - pct || !v.weights_consistent || !v.state_json ||
            strcmp(v.state_json, "{\"fuzz\":1}") != 0)
                abort();
        vs_view_done(&v);

        cJSON *in = cJSON_ParseWithLength(json, len), *o = cJSON_Parse(out);
        if (!in || !o)
                abort();
        check_changed_routes(in, o, pct);
        strip_weights(in);
        strip_weights(o);
        cJSON *md_in = cJSON_GetObjectItemCaseSensitive(in, "metadata");
        cJSON *md_out = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        cJSON *ann_in = cJSON_GetObjectItemCaseSensitive(md_in, "annotations");
        cJSON *ann_out = cJSON_GetObjectItemCaseSensitive(md_out, "annotations");
        cJSON_DeleteItemFromObjectCaseSensitive(ann_out, VS_STATE_ANNOTATION);
        if (cJSON_IsObject(ann_in))
                cJSON_DeleteItemFromObjectCaseSensitive(ann_in, VS_STATE_ANNOTATION);
        else /* absent or null annotations became an object holding only ours */
                cJSON_DeleteItemFromObjectCaseSensitive(md_out, "annotations"),
                    cJSON_DeleteItemFromObjectCaseSensitive(md_in, "annotations");
        if (!json_equal(in, o))
                abort();
        cJSON_Delete(in);
        cJSON_Delete(o);
        free(out);
        return 0;
}
