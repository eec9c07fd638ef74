/* Canaries by namespace and watched object. One sort of all of them (10,000 canaries: one pass,
 * not a scan per canary); within a namespace, config order breaks ties so that canaries sharing
 * an object are met in the order the configuration lists them. */
#include <stdlib.h>
#include <string.h>

#include "canary-groups.h"
#include "canaryd/util.h"

static int cmp_by_namespace_object(const void *a, const void *b, void *userdata)
{
        canary_object_fn *object_of = *(canary_object_fn **)userdata;
        const struct canary *x = *(struct canary *const *)a, *y = *(struct canary *const *)b;
        int r = strcmp(x->cfg->namespace_, y->cfg->namespace_);
        if (r == 0)
                r = strcmp(object_of(x), object_of(y));
        return r ? r : (x > y) - (x < y);
}

size_t canary_groups_make(struct daemon *d, canary_object_fn *object_of, struct canary_group **ret)
{
        size_t n = 0, n_groups = 0;

        *ret = NULL;
        for (size_t i = 0; i < d->n_canaries; i++)
                n += object_of(&d->canaries[i]) != NULL;
        if (n == 0)
                return 0;
        struct canary **all = xcalloc(n, sizeof(*all));
        n = 0;
        for (size_t i = 0; i < d->n_canaries; i++)
                if (object_of(&d->canaries[i]))
                        all[n++] = &d->canaries[i];
        qsort_r(all, n, sizeof(*all), cmp_by_namespace_object, &object_of);

        struct canary_group *groups = xcalloc(n, sizeof(*groups));
        for (size_t i = 0, end; i < n; i = end) {
                const char *ns = all[i]->cfg->namespace_;
                for (end = i + 1; end < n && strcmp(all[end]->cfg->namespace_, ns) == 0; end++)
                        ;
                struct canary_group *g = &groups[n_groups++];
                g->object_of = object_of;
                g->namespace_ = ns;
                /* sorted: one object when the first and the last agree */
                g->only_object = strcmp(object_of(all[i]), object_of(all[end - 1])) == 0
                                     ? object_of(all[i])
                                     : NULL;
                g->n_canaries = end - i;
                g->canaries = xcalloc(g->n_canaries, sizeof(*g->canaries));
                memcpy(g->canaries, all + i, g->n_canaries * sizeof(*g->canaries));
        }
        free(all);
        *ret = groups;
        return n_groups;
}

void canary_group_done(struct canary_group *g)
{
        free(g->canaries);
        g->canaries = NULL;
        g->n_canaries = 0;
}

size_t canary_group_find(const struct canary_group *g, const char *object,
                         struct canary ***ret_first)
{
        canary_object_fn *object_of = g->object_of;
        size_t lo = 0, hi = g->n_canaries, n = 0;

        while (lo < hi) { /* the first canary whose object is >= object */
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(object_of(g->canaries[mid]), object) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        while (lo + n < g->n_canaries && strcmp(object_of(g->canaries[lo + n]), object) == 0)
                n++;
        *ret_first = g->canaries + lo;
        return n;
}
