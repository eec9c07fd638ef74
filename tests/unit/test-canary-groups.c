/* The grouping behind one Kubernetes watch per namespace (daemon/canary-groups.c): canaries go
 * to their namespace's group, sorted by the object they watch with config order between equals;
 * a group names its one object only when every canary shares it; canaries without an object are
 * left out; an event's object finds exactly its canaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/daemon/canary-groups.h"

static const char *deployment_of(const struct canary *c)
{
        return c->cfg->trigger_deployment;
}

/* Canaries in config order: "namespace/deployment" each ("ns/" alone: no trigger). */
struct fixture {
        struct daemon d;
        struct canary_config cfg[8];
};

static void fixture_set(struct fixture *f, const char *const *specs, size_t n)
{
        memset(f, 0, sizeof(*f));
        f->d.canaries = calloc(n, sizeof(*f->d.canaries));
        assert_non_null(f->d.canaries);
        f->d.n_canaries = n;
        for (size_t i = 0; i < n; i++) {
                const char *slash = strchr(specs[i], '/');
                f->cfg[i].namespace_ = strndup(specs[i], (size_t)(slash - specs[i]));
                f->cfg[i].trigger_deployment = slash[1] ? strdup(slash + 1) : NULL;
                f->d.canaries[i].cfg = &f->cfg[i];
                f->d.canaries[i].d = &f->d;
        }
}

static void fixture_done(struct fixture *f)
{
        for (size_t i = 0; i < f->d.n_canaries; i++) {
                free(f->cfg[i].namespace_);
                free(f->cfg[i].trigger_deployment);
        }
        free(f->d.canaries);
}

static void groups_by_namespace_and_object(void **unused)
{
        (void)unused;
        static const char *const specs[] = {"shop/web", "pay/api",  "shop/", "shop/cart",
                                            "pay/api",  "shop/web", "ops/"};
        struct fixture f;
        struct canary_group *g;
        fixture_set(&f, specs, 7);

        size_t n = canary_groups_make(&f.d, deployment_of, &g);
        assert_int_equal(n, 2); /* "ops" has no triggered canary */
        assert_string_equal(g[0].namespace_, "pay");
        assert_int_equal(g[0].n_canaries, 2);
        assert_string_equal(g[0].only_object, "api");
        assert_ptr_equal(g[0].canaries[0], &f.d.canaries[1]); /* config order */
        assert_ptr_equal(g[0].canaries[1], &f.d.canaries[4]);

        assert_string_equal(g[1].namespace_, "shop");
        assert_null(g[1].only_object); /* web and cart */
        assert_int_equal(g[1].n_canaries, 3);
        assert_ptr_equal(g[1].canaries[0], &f.d.canaries[3]); /* cart */
        assert_ptr_equal(g[1].canaries[1], &f.d.canaries[0]); /* web, then web */
        assert_ptr_equal(g[1].canaries[2], &f.d.canaries[5]);

        struct canary **first;
        assert_int_equal(canary_group_find(&g[1], "web", &first), 2);
        assert_ptr_equal(first[0], &f.d.canaries[0]);
        assert_ptr_equal(first[1], &f.d.canaries[5]);
        assert_int_equal(canary_group_find(&g[1], "cart", &first), 1);
        assert_ptr_equal(first[0], &f.d.canaries[3]);
        assert_int_equal(canary_group_find(&g[1], "api", &first), 0);
        assert_int_equal(canary_group_find(&g[1], "zzz", &first), 0);
        assert_int_equal(canary_group_find(&g[0], "", &first), 0);

        for (size_t i = 0; i < n; i++)
                canary_group_done(&g[i]);
        free(g);
        fixture_done(&f);
}

static void no_objects_no_groups(void **unused)
{
        (void)unused;
        static const char *const specs[] = {"shop/", "pay/"};
        struct fixture f;
        struct canary_group *g = (struct canary_group *)&f; /* must be reset */
        fixture_set(&f, specs, 2);
        assert_int_equal(canary_groups_make(&f.d, deployment_of, &g), 0);
        assert_null(g);
        fixture_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(groups_by_namespace_and_object),
            cmocka_unit_test(no_objects_no_groups),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
