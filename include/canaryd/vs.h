/* Istio VirtualService codec (src/codec/vs-json.c, pure): find the canary's routes, read and
 * write their weights and the canaryd.io/state annotation, leave every other field as it was.
 * WIRE.md §3. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"

#define VS_STATE_ANNOTATION "canaryd.io/state"

struct vs_view {
        char *resource_version; /* owned */
        char *state_json;       /* owned: the annotation's value, or NULL */
        unsigned canary_weight; /* of the first selected route */
        unsigned stable_weight;
        size_t n_routes;         /* routes selected */
        bool weights_consistent; /* every selected route has the same split */
};
void vs_view_done(struct vs_view *v);

/* Routes are selected by name (c->routes) across http, tls and tcp; without names, every route
 * whose destinations include both c->stable and c->canary. A selected route that holds any
 * other destination, or a named route that is missing, is an error. Destinations match on host
 * (exact) and subset (c->...subset NULL: the destination has no subset). An absent weight is 0;
 * a route with a single destination gives it 100. A named route that lacks the canary (or
 * stable) destination reads as weight 0 for it, and vs_update appends it.
 * Returns 0, or -EINVAL / -EBADMSG with *ret_error (owned). */
int vs_inspect(const char *json, size_t len, const struct canary_config *c, struct vs_view *ret,
               char **ret_error);

/* Returns the object with canary weight `canary_pct` and stable 100 - canary_pct on every
 * selected route (canary_pct < 0: weights untouched) and the annotation set to state_json.
 * metadata.resourceVersion is kept, so the PUT is guarded. *ret_json is owned by the caller. */
int vs_update(const char *json, size_t len, const struct canary_config *c, int canary_pct,
              const char *state_json, char **ret_json, char **ret_error);
