/* canary-groups.c: the canaries grouped by namespace for one Kubernetes watch per namespace
 * (vs-watch.c, deployment-trigger.c), each group sorted by the object its canaries watch, so a
 * watch event finds its canaries by binary search. */
#pragma once

#include <stddef.h>

#include "canary.h"

/* The object a canary watches (its VirtualService, its trigger Deployment), or NULL: none. */
typedef const char *canary_object_fn(const struct canary *c);

struct canary_group {
        canary_object_fn *object_of; /* what the group was sorted by */
        const char *namespace_;      /* borrowed from the config */
        const char *only_object;     /* the one object every canary of the group names, or NULL */
        struct canary **canaries;    /* owned (canary_group_done); the canaries are borrowed */
        size_t n_canaries;           /* sorted by object, then config order */
};

/* Groups d's canaries that object_of() gives an object by namespace. Returns the number of
 * groups; *ret (caller owns: canary_group_done on each, then free) holds them, NULL for none. */
size_t canary_groups_make(struct daemon *d, canary_object_fn *object_of, struct canary_group **ret);
/* Frees g's array (not the canaries). */
void canary_group_done(struct canary_group *g);
/* The canaries of g whose object is `object`: returns how many, from *ret_first on. */
size_t canary_group_find(const struct canary_group *g, const char *object,
                         struct canary ***ret_first);
