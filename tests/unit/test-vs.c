/* Tests for src/codec/vs-json.c on VirtualServices as the API server returns them
 * (tests/data/kube/vs-*.json, JSON forms of the Istio fixtures plus match blocks, headers,
 * retries, fault, mirror, tls and tcp routes). After an update, the whole tree must equal the
 * input with only the expected weights and the annotation changed (cJSON_Compare). Every
 * VirtualService of the Istio fixtures is replayed from tests/data/kube/istio/cases.json. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "canaryd/files.h"
#include "canaryd/util.h"
#include "canaryd/vs.h"

static char *load(const char *name, size_t *len)
{
        char *path = xasprintf("kube/%s", name), *text = NULL;
        assert_int_equal(read_file(path, 1 << 20, &text, len), 0);
        free(path);
        return text;
}

static struct canary_config canary(const char *host, const char *stable_subset,
                                   const char *canary_subset, char **routes)
{
        size_t n = 0;
        while (routes && routes[n])
                n++;
        return (struct canary_config){
            .name = (char *)(uintptr_t) "test",
            .routes = routes,
            .n_routes = n,
            .stable = {.host = (char *)(uintptr_t)host, .subset = (char *)(uintptr_t)stable_subset},
            .canary = {.host = (char *)(uintptr_t)host, .subset = (char *)(uintptr_t)canary_subset},
        };
}

/* Follows "spec/http/1/route/0": object members by name, array items by index. */
static cJSON *at(cJSON *root, const char *path)
{
        char *copy = xstrdup(path), *save = NULL;
        cJSON *n = root;
        for (char *tok = strtok_r(copy, "/", &save); tok && n; tok = strtok_r(NULL, "/", &save))
                n = cJSON_IsArray(n) ? cJSON_GetArrayItem(n, atoi(tok))
                                     : cJSON_GetObjectItemCaseSensitive(n, tok);
        free(copy);
        assert_non_null(n);
        return n;
}

static void set_member(cJSON *obj, const char *name, cJSON *value)
{
        if (cJSON_GetObjectItemCaseSensitive(obj, name))
                cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
        else
                cJSON_AddItemToObject(obj, name, value);
}

static void expect_weight(cJSON *root, const char *route_dest, int w)
{
        set_member(at(root, route_dest), "weight", cJSON_CreateNumber(w));
}

static void expect_state(cJSON *root, const char *state)
{
        cJSON *md = at(root, "metadata");
        cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
        if (!cJSON_IsObject(ann)) {
                cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
                ann = cJSON_AddObjectToObject(md, "annotations");
        }
        set_member(ann, VS_STATE_ANNOTATION, cJSON_CreateString(state));
}

static void assert_same_tree(cJSON *expected, const char *actual_json)
{
        cJSON *actual = cJSON_Parse(actual_json);
        assert_non_null(actual);
        if (!cJSON_Compare(expected, actual, true)) {
                char *e = cJSON_PrintUnformatted(expected);
                print_error("expected %s\nactual   %s\n", e, actual_json);
                cJSON_free(e);
                fail();
        }
        cJSON_Delete(actual);
}

static void inspect_ok(const char *json, size_t len, const struct canary_config *c,
                       struct vs_view *v)
{
        char *err = NULL;
        int r = vs_inspect(json, len, c, v, &err);
        if (r < 0)
                print_error("vs_inspect: %s\n", err);
        assert_int_equal(r, 0);
        assert_null(err);
}

/* ---- inspect ------------------------------------------------------------------------------- */

static void inspect_finds_unnamed_route_holding_both(void **state)
{
        size_t len;
        char *json = load("vs-reviews-80-20.json", &len);
        struct canary_config c = canary("reviews", "v1", "v2", NULL);
        struct vs_view v;
        inspect_ok(json, len, &c, &v);
        assert_int_equal(v.stable_weight, 80);
        assert_int_equal(v.canary_weight, 20);
        assert_int_equal(v.n_routes, 1);
        assert_true(v.weights_consistent);
        assert_string_equal(v.resource_version, "334899");
        assert_null(v.state_json);
        vs_view_done(&v);
        free(json);
}

static void inspect_named_route_and_annotation(void **state)
{
        size_t len;
        char *json = load("vs-ratings-fault-abort.json", &len);
        char *routes[] = {(char *)(uintptr_t) "primary", NULL};
        struct canary_config c = canary("ratings", "v1", "v2", routes);
        struct vs_view v;
        inspect_ok(json, len, &c, &v);
        /* A single destination takes all traffic whatever its (absent) weight. */
        assert_int_equal(v.stable_weight, 100);
        assert_int_equal(v.canary_weight, 0);
        assert_int_equal(v.n_routes, 1);
        assert_string_equal(v.state_json, "{\"phase\":\"Idle\"}");
        assert_string_equal(v.resource_version, "5");
        vs_view_done(&v);
        free(json);
}

static void inspect_tcp_and_tls_routes(void **state)
{
        size_t len;
        char *json = load("vs-tcp-tls.json", &len);
        struct canary_config c = canary("tcp-echo", "v1", "v2", NULL);
        struct vs_view v;
        inspect_ok(json, len, &c, &v);
        assert_int_equal(v.n_routes, 2);        /* tls "sni" and the tcp route; not http "web" */
        assert_int_equal(v.stable_weight, 100); /* tls first: 100 and an absent weight (0) */
        assert_int_equal(v.canary_weight, 0);
        assert_false(v.weights_consistent); /* the tcp route is 80/20 */
        vs_view_done(&v);

        char *routes[] = {(char *)(uintptr_t) "sni", NULL};
        c = canary("tcp-echo", "v1", "v2", routes);
        inspect_ok(json, len, &c, &v);
        assert_int_equal(v.n_routes, 1);
        assert_true(v.weights_consistent);
        vs_view_done(&v);
        free(json);
}

static void subset_null_matches_only_destinations_without_subset(void **state)
{
        size_t len;
        char *json = load("vs-reviews-80-20.json", &len);
        struct canary_config c = canary("reviews", NULL, "v2", NULL);
        struct vs_view v;
        char *err = NULL;
        assert_int_equal(vs_inspect(json, len, &c, &v, &err), -EINVAL);
        assert_non_null(strstr(err, "no route in spec.http/tls/tcp sends traffic to both"));
        free(err);
        free(json);
}

/* ---- update -------------------------------------------------------------------------------- */

static void update_reviews_changes_only_weights_and_state(void **state)
{
        size_t len;
        char *json = load("vs-reviews-80-20.json", &len), *out = NULL, *err = NULL;
        struct canary_config c = canary("reviews", "v1", "v2", NULL);
        assert_int_equal(vs_update(json, len, &c, 25, "{\"step\":2}", &out, &err), 0);

        cJSON *expected = cJSON_Parse(json);
        expect_weight(expected, "spec/http/0/route/0", 75);
        expect_weight(expected, "spec/http/0/route/1", 25);
        expect_state(expected, "{\"step\":2}");
        assert_same_tree(expected, out);

        struct vs_view v;
        inspect_ok(out, strlen(out), &c, &v);
        assert_int_equal(v.canary_weight, 25);
        assert_int_equal(v.stable_weight, 75);
        assert_string_equal(v.state_json, "{\"step\":2}");
        assert_string_equal(v.resource_version, "334899"); /* the PUT stays guarded */
        vs_view_done(&v);
        cJSON_Delete(expected);
        free(out);
        free(json);
}

static void update_named_route_keeps_everything_else(void **state)
{
        size_t len;
        char *json = load("vs-reviews-named.json", &len), *out = NULL, *err = NULL;
        char *routes[] = {(char *)(uintptr_t) "primary", NULL};
        struct canary_config c = canary("reviews", "v1", "v2", routes);
        assert_int_equal(vs_update(json, len, &c, 50, "{\"phase\":\"Progressing\"}", &out, &err),
                         0);

        cJSON *expected = cJSON_Parse(json);
        expect_weight(expected, "spec/http/1/route/0", 50);
        expect_weight(expected, "spec/http/1/route/1", 50);
        expect_state(expected, "{\"phase\":\"Progressing\"}");
        assert_same_tree(expected, out);
        /* Other annotations survive, including one holding JSON with a newline. */
        cJSON *actual = cJSON_Parse(out);
        assert_string_equal(at(actual, "metadata/annotations/team")->valuestring, "reviews");
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(
            at(actual, "metadata/annotations"), "kubectl.kubernetes.io/last-applied-configuration");
        assert_true(cJSON_IsString(last));
        assert_non_null(strchr(last->valuestring, '\n'));
        cJSON_Delete(actual);
        cJSON_Delete(expected);
        free(out);
        free(json);
}

static void update_tcp_tls_writes_every_selected_route(void **state)
{
        size_t len;
        char *json = load("vs-tcp-tls.json", &len), *out = NULL, *err = NULL;
        struct canary_config c = canary("tcp-echo", "v1", "v2", NULL);
        assert_int_equal(vs_update(json, len, &c, 10, "{}", &out, &err), 0);

        cJSON *expected = cJSON_Parse(json);
        expect_weight(expected, "spec/tls/0/route/0", 90);
        expect_weight(expected, "spec/tls/0/route/1", 10); /* was absent: now explicit */
        expect_weight(expected, "spec/tcp/0/route/0", 90);
        expect_weight(expected, "spec/tcp/0/route/1", 10);
        expect_state(expected, "{}"); /* "annotations": null became an object */
        assert_same_tree(expected, out);

        struct vs_view v;
        inspect_ok(out, strlen(out), &c, &v);
        assert_true(v.weights_consistent);
        assert_int_equal(v.canary_weight, 10);
        vs_view_done(&v);
        cJSON_Delete(expected);
        free(out);
        free(json);
}

static void update_appends_missing_canary_to_named_route(void **state)
{
        size_t len;
        char *json = load("vs-ratings-fault-abort.json", &len), *out = NULL, *err = NULL;
        char *routes[] = {(char *)(uintptr_t) "primary", NULL};
        struct canary_config c = canary("ratings", "v1", "v2", routes);
        assert_int_equal(vs_update(json, len, &c, 5, "{\"phase\":\"Progressing\"}", &out, &err), 0);

        cJSON *expected = cJSON_Parse(json);
        expect_weight(expected, "spec/http/1/route/0", 95);
        cJSON_AddItemToArray(
            at(expected, "spec/http/1/route"),
            cJSON_Parse("{\"destination\":{\"host\":\"ratings\",\"subset\":\"v2\"},"
                        "\"weight\":5}"));
        expect_state(expected, "{\"phase\":\"Progressing\"}");
        assert_same_tree(expected, out);
        cJSON_Delete(expected);
        free(out);
        free(json);
}

static void update_negative_pct_leaves_weights(void **state)
{
        size_t len;
        char *json = load("vs-reviews-named.json", &len), *out = NULL, *err = NULL;
        char *routes[] = {(char *)(uintptr_t) "primary", NULL};
        struct canary_config c = canary("reviews", "v1", "v2", routes);
        assert_int_equal(vs_update(json, len, &c, -1, "{\"paused\":true}", &out, &err), 0);
        cJSON *expected = cJSON_Parse(json);
        expect_state(expected, "{\"paused\":true}");
        assert_same_tree(expected, out);
        cJSON_Delete(expected);
        free(out);
        free(json);
}

/* Numbers of the user's that need 16 or 17 digits are written back exactly (cJSON alone prints
 * 15 digits when that reads back within DBL_EPSILON: 0.30000000000000004 became 0.3). */
static void update_keeps_every_number_exactly(void **state)
{
        static const char json[] =
            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
            "\"metadata\":{\"name\":\"reviews\",\"namespace\":\"prod\",\"generation\":7},"
            "\"spec\":{\"hosts\":[\"reviews\"],\"http\":[{\"fault\":{\"delay\":{"
            "\"percentage\":{\"value\":0.30000000000000004},\"fixedDelay\":\"5s\"}},"
            "\"x-big\":8888888888888888888888888888888888888888888,\"x-one\":1.0000000000000002,"
            "\"route\":[{\"destination\":{\"host\":\"reviews\",\"subset\":\"v1\"},\"weight\":100},"
            "{\"destination\":{\"host\":\"reviews\",\"subset\":\"v2\"},\"weight\":0}]}]}}";
        struct canary_config c = canary("reviews", "v1", "v2", NULL);
        char *out = NULL, *err = NULL;

        (void)state;
        assert_int_equal(vs_update(json, strlen(json), &c, 25, "{}", &out, &err), 0);
        assert_non_null(strstr(out, "\"value\":0.30000000000000004}"));
        assert_non_null(strstr(out, "\"generation\":7,"));
        assert_non_null(strstr(out, "\"weight\":75}"));
        assert_non_null(strstr(out, "\"weight\":25}"));
        cJSON *in = cJSON_Parse(json), *o = cJSON_Parse(out);
        const cJSON *ri = at(in, "spec/http/0");
        const cJSON *ro = at(o, "spec/http/0");
        for (const char *const *k = (const char *const[]){"x-big", "x-one", NULL}; *k; k++)
                assert_true(cJSON_GetObjectItemCaseSensitive(ri, *k)->valuedouble ==
                            cJSON_GetObjectItemCaseSensitive(ro, *k)->valuedouble);
        cJSON_Delete(in);
        cJSON_Delete(o);
        free(out);

        /* a number no double holds would come back as null: the write is refused (a read of it
         * is not: the number is not the canary's) */
        char *huge = xstrdup(json);
        memcpy(strstr(huge, "1.0000000000000002"), "1e400             ", 18);
        out = NULL;
        assert_int_equal(vs_update(huge, strlen(huge), &c, 25, "{}", &out, &err), -EBADMSG);
        assert_null(out);
        assert_non_null(strstr(err, "beyond the range of a double"));
        free(err);
        free(huge);
}

/* ---- rejections ---------------------------------------------------------------------------- */

static void expect_error(const char *json, const struct canary_config *c, int pct, int want,
                         const char *want_msg)
{
        char *out = NULL, *err = NULL;
        struct vs_view v;
        assert_int_equal(vs_update(json, strlen(json), c, pct, "{}", &out, &err), want);
        assert_null(out);
        assert_non_null(err);
        if (!strstr(err, want_msg)) {
                print_error("error \"%s\" lacks \"%s\"\n", err, want_msg);
                fail();
        }
        free(err);
        err = NULL;
        if (pct <= 100) { /* the same input is refused by inspect */
                assert_int_equal(vs_inspect(json, strlen(json), c, &v, &err), want);
                assert_non_null(err);
                free(err);
        }
}

#define ROUTE(w1, w2)                                                                              \
        "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"http\":[{\"name\":\"primary\","     \
        "\"route\":[{\"destination\":{\"host\":\"r\",\"subset\":\"v1\"}," w1 "},"                  \
        "{\"destination\":{\"host\":\"r\",\"subset\":\"v2\"}," w2 "}]}]}}"

static void rejects_bad_input(void **state)
{
        char *routes[] = {(char *)(uintptr_t) "primary", NULL};
        char *missing[] = {(char *)(uintptr_t) "primary", (char *)(uintptr_t) "secondary", NULL};
        struct canary_config c = canary("r", "v1", "v2", routes);
        struct canary_config c_missing = canary("r", "v1", "v2", missing);
        struct canary_config c_same = canary("r", "v1", "v1", routes);

        expect_error(ROUTE("\"weight\":150", "\"weight\":0"), &c, 10, -EINVAL,
                     "weight 150 is outside 0..100");
        expect_error(ROUTE("\"weight\":-1", "\"weight\":0"), &c, 10, -EINVAL,
                     "weight -1 is outside 0..100");
        expect_error(ROUTE("\"weight\":12.5", "\"weight\":0"), &c, 10, -EINVAL,
                     "weight is not an integer");
        expect_error(ROUTE("\"weight\":\"50\"", "\"weight\":0"), &c, 10, -EINVAL,
                     "weight is not an integer");
        expect_error("{\"metadata\":{},\"spec\":{\"http\":[{\"name\":\"primary\",\"route\":["
                     "{\"destination\":{\"host\":\"r\",\"subset\":\"v1\"},\"weight\":50},"
                     "{\"destination\":{\"host\":\"r\",\"subset\":\"v2\"},\"weight\":40},"
                     "{\"destination\":{\"host\":\"other\"},\"weight\":10}]}]}}",
                     &c, 10, -EINVAL,
                     "route \"primary\" also sends traffic to other (subset none), which is "
                     "neither the stable nor the canary destination");
        expect_error(ROUTE("\"weight\":50", "\"weight\":50"), &c_missing, 10, -EINVAL,
                     "route \"secondary\" not found in spec.http/tls/tcp");
        expect_error(ROUTE("\"weight\":50", "\"weight\":50"), &c_same, 10, -EINVAL,
                     "stable and canary destinations are the same");
        expect_error(ROUTE("\"weight\":50", "\"weight\":50"), &c, 101, -EINVAL,
                     "canary weight 101 is outside 0..100");
        expect_error("[1,2]", &c, 10, -EBADMSG, "not a JSON object");
        expect_error("{\"metadata\":", &c, 10, -EBADMSG, "invalid JSON");
        expect_error("", &c, 10, -EBADMSG, "invalid JSON");
        expect_error("{\"spec\":{}}", &c, 10, -EBADMSG, "metadata is missing");
        expect_error("{\"metadata\":{}}", &c, 10, -EBADMSG, "spec is missing");
        expect_error("{\"metadata\":{\"annotations\":[]},\"spec\":{}}", &c, 10, -EBADMSG,
                     "metadata.annotations is not an object");
        expect_error("{\"metadata\":{},\"spec\":{\"http\":[{\"name\":\"primary\",\"route\":["
                     "{\"destination\":{\"subset\":\"v1\"}}]}]}}",
                     &c, 10, -EBADMSG, "route \"primary\": route[0] has no destination.host");
        expect_error("{\"metadata\":{},\"spec\":{\"http\":[{\"name\":\"primary\","
                     "\"redirect\":{\"uri\":\"/x\"}}]}}",
                     &c, 10, -EINVAL, "route \"primary\" has no destinations");
        expect_error("{\"metadata\":{},\"spec\":{\"http\":{\"name\":\"primary\"}}}", &c, 10,
                     -EINVAL, "route \"primary\" not found");
}

/* ---- every Istio manifest of the fixtures (tests/data/kube/istio, gen-istio-cases.py) ------- */

static cJSON *at_path(cJSON *root, const cJSON *path)
{
        cJSON *n = root;
        const cJSON *p;
        cJSON_ArrayForEach (p, path)
                n = cJSON_IsNumber(p) ? cJSON_GetArrayItem(n, p->valueint)
                                      : cJSON_GetObjectItemCaseSensitive(n, p->valuestring);
        assert_non_null(n);
        return n;
}

static struct destination_config dest_of(const cJSON *o)
{
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "host");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "subset");
        return (struct destination_config){.host = h->valuestring,
                                           .subset = cJSON_IsString(s) ? s->valuestring : NULL};
}

static void every_istio_fixture_is_edited_exactly(void **state)
{
        size_t len, n_ok = 0, n_err = 0;
        char *text = load("istio/cases.json", &len);
        cJSON *cases = cJSON_Parse(text);
        assert_true(cJSON_GetArraySize(cases) >= 17);
        const cJSON *tc;
        cJSON_ArrayForEach (tc, cases) {
                const char *file = cJSON_GetObjectItemCaseSensitive(tc, "file")->valuestring;
                char *name = xasprintf("istio/%s", file);
                size_t vlen;
                char *vs = load(name, &vlen);
                struct canary_config c = {
                    .name = (char *)(uintptr_t) "fixture",
                    .namespace_ = cJSON_GetObjectItemCaseSensitive(tc, "namespace")->valuestring,
                    .stable = dest_of(cJSON_GetObjectItemCaseSensitive(tc, "stable")),
                    .canary = dest_of(cJSON_GetObjectItemCaseSensitive(tc, "canary")),
                };
                const char *expect = cJSON_GetObjectItemCaseSensitive(tc, "expect")->valuestring;
                struct vs_view v = {0};
                char *err = NULL, *out = NULL;
                if (strcmp(expect, "error") == 0) {
                        /* no route holds both: a clear configuration error, never a guess */
                        assert_int_equal(vs_inspect(vs, vlen, &c, &v, &err), -EINVAL);
                        assert_non_null(strstr(err, "sends traffic to both"));
                        free(err);
                        err = NULL;
                        assert_int_equal(vs_update(vs, vlen, &c, 30, "{}", &out, &err), -EINVAL);
                        free(err);
                        n_err++;
                } else {
                        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(tc, "weights");
                        if (vs_inspect(vs, vlen, &c, &v, &err) != 0) {
                                print_error("%s: %s\n", file, err);
                                fail();
                        }
                        assert_int_equal(v.n_routes, (size_t)cJSON_GetArraySize(weights) / 2);
                        vs_view_done(&v);
                        assert_int_equal(vs_update(vs, vlen, &c, 30, "{\"s\":1}", &out, &err), 0);

                        cJSON *before = cJSON_ParseWithLength(vs, vlen);
                        cJSON *after = cJSON_Parse(out);
                        const cJSON *w;
                        cJSON_ArrayForEach (w, weights) {
                                cJSON *rd = at_path(after, cJSON_GetObjectItem(w, "path"));
                                bool canary_role =
                                    strcmp(cJSON_GetObjectItem(w, "role")->valuestring, "canary") ==
                                    0;
                                assert_int_equal(
                                    cJSON_GetObjectItemCaseSensitive(rd, "weight")->valueint,
                                    canary_role ? 30 : 70);
                                /* the weights are the only change inside the route */
                                cJSON_DeleteItemFromObjectCaseSensitive(rd, "weight");
                                cJSON_DeleteItemFromObjectCaseSensitive(
                                    at_path(before, cJSON_GetObjectItem(w, "path")), "weight");
                        }
                        cJSON *md = cJSON_GetObjectItemCaseSensitive(after, "metadata");
                        cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
                        assert_string_equal(
                            cJSON_GetObjectItemCaseSensitive(ann, VS_STATE_ANNOTATION)->valuestring,
                            "{\"s\":1}");
                        cJSON_DeleteItemFromObjectCaseSensitive(ann, VS_STATE_ANNOTATION);
                        if (!cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(before, "metadata"),
                                "annotations"))
                                cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
                        if (!cJSON_Compare(before, after, true)) {
                                print_error("%s: more than the weights and the annotation "
                                            "changed\n",
                                            file);
                                fail();
                        }
                        cJSON_Delete(before);
                        cJSON_Delete(after);
                        /* and it reads back */
                        assert_int_equal(vs_inspect(out, strlen(out), &c, &v, &err), 0);
                        assert_int_equal(v.canary_weight, 30);
                        assert_true(v.weights_consistent);
                        vs_view_done(&v);
                        free(out);
                        n_ok++;
                }
                free(vs);
                free(name);
        }
        assert_true(n_ok >= 17);
        assert_true(n_err >= 1);
        cJSON_Delete(cases);
        free(text);
}

static void short_host_names_match_the_way_istio_resolves_them(void **state)
{
        const char *vs = "{\"metadata\":{\"namespace\":\"prod\"},\"spec\":{\"http\":[{\"route\":["
                         "{\"destination\":{\"host\":\"reviews.prod.svc.cluster.local\",\"subset\":"
                         "\"v1\"},\"weight\":90},{\"destination\":{\"host\":\"reviews\",\"subset\":"
                         "\"v2\"},\"weight\":10}]}]}}";
        struct canary_config c = canary("reviews", "v1", "v2", NULL);
        struct vs_view v = {0};
        char *err = NULL;
        assert_int_equal(vs_inspect(vs, strlen(vs), &c, &v, &err), 0);
        assert_int_equal(v.canary_weight, 10);
        vs_view_done(&v);
        /* the FQDN in the config matches the short name in the object, too */
        c.stable.host = (char *)(uintptr_t) "REVIEWS.prod.svc.cluster.local";
        c.canary.host = (char *)(uintptr_t) "reviews.prod.svc.cluster.local";
        assert_int_equal(vs_inspect(vs, strlen(vs), &c, &v, &err), 0);
        vs_view_done(&v);
        /* another namespace's service is another host */
        c.stable.host = (char *)(uintptr_t) "reviews.other.svc.cluster.local";
        assert_true(vs_inspect(vs, strlen(vs), &c, &v, &err) < 0);
        free(err);
        /* "reviews.prod" is not expanded (Istio only expands names without a dot) */
        c.stable.host = (char *)(uintptr_t) "reviews.prod";
        assert_true(vs_inspect(vs, strlen(vs), &c, &v, &err) < 0);
        free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(inspect_finds_unnamed_route_holding_both),
            cmocka_unit_test(inspect_named_route_and_annotation),
            cmocka_unit_test(inspect_tcp_and_tls_routes),
            cmocka_unit_test(subset_null_matches_only_destinations_without_subset),
            cmocka_unit_test(update_reviews_changes_only_weights_and_state),
            cmocka_unit_test(update_named_route_keeps_everything_else),
            cmocka_unit_test(update_tcp_tls_writes_every_selected_route),
            cmocka_unit_test(update_appends_missing_canary_to_named_route),
            cmocka_unit_test(update_negative_pct_leaves_weights),
            cmocka_unit_test(update_keeps_every_number_exactly),
            cmocka_unit_test(rejects_bad_input),
            cmocka_unit_test(every_istio_fixture_is_edited_exactly),
            cmocka_unit_test(short_host_names_match_the_way_istio_resolves_them),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
