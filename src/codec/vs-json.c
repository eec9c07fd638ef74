/* Istio VirtualService codec (WIRE.md §3): selects the canary's routes in spec.http, spec.tls
 * and spec.tcp, reads their weights, and rewrites only those weights and the canaryd.io/state
 * annotation. Pure: cJSON on a buffer. Every other member of the object is carried through
 * untouched (cJSON keeps member order; numbers are re-printed with the same double, see
 * exact_numbers(); an integer beyond 2^53 was rounded by the parse already).
 *
 * Weight rules (Istio >= 1.15): an absent weight is 0; a route with a single destination sends
 * it all traffic whatever its weight. We always write explicit integers that sum to 100, which
 * every Istio version accepts. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "canaryd/util.h"
#include "canaryd/vs.h"

static const char *const route_kinds[] = {"http", "tls", "tcp"};

enum dest_role { DEST_OTHER, DEST_STABLE, DEST_CANARY };

struct rule {
        cJSON *rule;  /* the HTTPRoute / TLSRoute / TCPRoute object */
        cJSON *route; /* its route[] array (may be NULL: a named rule without destinations) */
        char *label;  /* "primary" or "spec.http[2]", for messages */
        unsigned stable_weight, canary_weight;
        cJSON *stable, *canary; /* the RouteDestination objects, or NULL when absent */
};

struct selection {
        struct rule *rules;
        size_t n;
};

static void selection_done(struct selection *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->rules[i].label);
        free(s->rules);
        *s = (struct selection){0};
}

static int fail(char **ret_error, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char **ret_error, int r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = xstrdup("VirtualService: error");
        va_end(ap);
        if (ret_error)
                *ret_error = msg;
        else
                free(msg);
        return r;
}

static bool dest_equal(const struct destination_config *a, const struct destination_config *b)
{
        return streq_ptr(a->host, b->host) && streq_ptr(a->subset, b->subset);
}

/* Istio resolves a short host name (no dot, no wildcard) in the VirtualService's namespace:
 * "reviews" in namespace "shop" is "reviews.shop.svc.cluster.local" (the default cluster domain).
 * Names with a dot are taken as written, as Istio does. DNS names compare case-insensitively. */
static bool host_equal(const char *a, const char *b, const char *ns)
{
        if (strcasecmp(a, b) == 0)
                return true;
        if (!ns || !*ns)
                return false;
        bool a_short = !strpbrk(a, ".*"), b_short = !strpbrk(b, ".*");
        if (a_short == b_short)
                return false;
        const char *s = a_short ? a : b, *fq = a_short ? b : a;
        size_t n = strlen(s), m = strlen(ns);
        return strncasecmp(fq, s, n) == 0 && fq[n] == '.' && strncasecmp(fq + n + 1, ns, m) == 0 &&
               strcasecmp(fq + n + 1 + m, ".svc.cluster.local") == 0;
}

static bool dest_matches(const cJSON *destination, const struct destination_config *d,
                         const char *ns)
{
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(destination, "host");
        const cJSON *subset = cJSON_GetObjectItemCaseSensitive(destination, "subset");
        if (!cJSON_IsString(host) || !host_equal(host->valuestring, d->host, ns))
                return false;
        if (!d->subset)
                return subset == NULL;
        return cJSON_IsString(subset) && strcmp(subset->valuestring, d->subset) == 0;
}

/* ns: the namespace short host names resolve in (the VirtualService's). */
static enum dest_role dest_role(const cJSON *destination, const struct canary_config *c,
                                const char *ns)
{
        if (dest_matches(destination, &c->stable, ns))
                return DEST_STABLE;
        if (dest_matches(destination, &c->canary, ns))
                return DEST_CANARY;
        return DEST_OTHER;
}

/* Does route[] hold both destinations? Used to find routes when none are named. */
static bool route_holds_both(const cJSON *route, const struct canary_config *c, const char *ns)
{
        bool stable = false, canary = false;
        const cJSON *rd;
        cJSON_ArrayForEach (rd, route) {
                enum dest_role role =
                    dest_role(cJSON_GetObjectItemCaseSensitive(rd, "destination"), c, ns);
                stable |= role == DEST_STABLE;
                canary |= role == DEST_CANARY;
        }
        return stable && canary;
}

static cJSON *rules_of(cJSON *spec, const char *kind)
{
        cJSON *a = cJSON_GetObjectItemCaseSensitive(spec, kind);
        return cJSON_IsArray(a) ? a : NULL;
}

static int read_weight(const cJSON *rd, const char *label, unsigned *ret, char **ret_error)
{
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(rd, "weight");
        if (!w || cJSON_IsNull(w)) {
                *ret = 0;
                return 0;
        }
        if (!cJSON_IsNumber(w) || !isfinite(w->valuedouble) ||
            w->valuedouble != floor(w->valuedouble))
                return fail(ret_error, -EINVAL, "route \"%s\": weight is not an integer", label);
        if (w->valuedouble < 0 || w->valuedouble > 100)
                return fail(ret_error, -EINVAL, "route \"%s\": weight %.0f is outside 0..100",
                            label, w->valuedouble);
        *ret = (unsigned)w->valuedouble;
        return 0;
}

static const char *str_or(const cJSON *obj, const char *name, const char *dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Checks one selected rule: every destination is the stable or the canary one, each at most
 * once, with a valid weight. */
static int rule_examine(struct rule *r, const struct canary_config *c, const char *ns,
                        char **ret_error)
{
        if (!cJSON_IsArray(r->route) || cJSON_GetArraySize(r->route) == 0)
                return fail(ret_error, -EINVAL,
                            "route \"%s\" has no destinations (route[] is empty)", r->label);
        size_t n = (size_t)cJSON_GetArraySize(r->route), i = 0;
        cJSON *rd;
        cJSON_ArrayForEach (rd, r->route) {
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(rd, "destination");
                if (!cJSON_IsObject(d) ||
                    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "host")))
                        return fail(ret_error, -EBADMSG,
                                    "route \"%s\": route[%zu] has no destination.host", r->label,
                                    i);
                unsigned w = 0;
                int k = read_weight(rd, r->label, &w, ret_error);
                if (k < 0)
                        return k;
                if (n == 1)
                        w = 100; /* a single destination takes all traffic (Istio >= 1.15) */

                switch (dest_role(d, c, ns)) {
                case DEST_STABLE:
                case DEST_CANARY: {
                        bool stable = dest_role(d, c, ns) == DEST_STABLE;
                        cJSON **slot = stable ? &r->stable : &r->canary;
                        if (*slot)
                                return fail(ret_error, -EINVAL,
                                            "route \"%s\" lists the %s destination twice", r->label,
                                            stable ? "stable" : "canary");
                        *slot = rd;
                        if (stable)
                                r->stable_weight = w;
                        else
                                r->canary_weight = w;
                        break;
                }
                case DEST_OTHER:
                        return fail(ret_error, -EINVAL,
                                    "route \"%s\" also sends traffic to %s (subset %s), which is "
                                    "neither the stable nor the canary destination",
                                    r->label, str_or(d, "host", "?"), str_or(d, "subset", "none"));
                }
                i++;
        }
        return 0;
}

static void selection_add(struct selection *s, cJSON *rule, char *label)
{
        s->rules = xrealloc(s->rules, (s->n + 1) * sizeof(*s->rules));
        s->rules[s->n++] = (struct rule){
            .rule = rule,
            .route = cJSON_GetObjectItemCaseSensitive(rule, "route"),
            .label = label,
        };
}

static int select_routes(cJSON *spec, const struct canary_config *c, const char *ns,
                         struct selection *sel, char **ret_error)
{
        bool named = c->routes && c->routes[0];

        if (!c->stable.host || !c->canary.host)
                return fail(ret_error, -EINVAL, "stable and canary destinations need a host");
        if (dest_equal(&c->stable, &c->canary) || (host_equal(c->stable.host, c->canary.host, ns) &&
                                                   streq_ptr(c->stable.subset, c->canary.subset)))
                return fail(ret_error, -EINVAL, "stable and canary destinations are the same");

        if (named) {
                for (char **name = c->routes; *name; name++) {
                        bool found = false;
                        for (size_t k = 0; k < ELEMENTSOF(route_kinds); k++) {
                                cJSON *rule;
                                cJSON_ArrayForEach (rule, rules_of(spec, route_kinds[k])) {
                                        if (streq_ptr(str_or(rule, "name", NULL), *name)) {
                                                selection_add(sel, rule, xstrdup(*name));
                                                found = true;
                                        }
                                }
                        }
                        if (!found)
                                return fail(ret_error, -EINVAL,
                                            "route \"%s\" not found in spec.http/tls/tcp", *name);
                }
        } else {
                for (size_t k = 0; k < ELEMENTSOF(route_kinds); k++) {
                        size_t i = 0;
                        cJSON *rule;
                        cJSON_ArrayForEach (rule, rules_of(spec, route_kinds[k])) {
                                const cJSON *route =
                                    cJSON_GetObjectItemCaseSensitive(rule, "route");
                                if (cJSON_IsArray(route) && route_holds_both(route, c, ns)) {
                                        const char *name = str_or(rule, "name", NULL);
                                        selection_add(
                                            sel, rule,
                                            name ? xstrdup(name)
                                                 : xasprintf("spec.%s[%zu]", route_kinds[k], i));
                                }
                                i++;
                        }
                }
                if (sel->n == 0)
                        return fail(ret_error, -EINVAL,
                                    "no route in spec.http/tls/tcp sends traffic to both %s%s%s "
                                    "and %s%s%s",
                                    c->stable.host, c->stable.subset ? " subset " : "",
                                    c->stable.subset ? c->stable.subset : "", c->canary.host,
                                    c->canary.subset ? " subset " : "",
                                    c->canary.subset ? c->canary.subset : "");
        }

        for (size_t i = 0; i < sel->n; i++) {
                int r = rule_examine(&sel->rules[i], c, ns, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The API server never sends an object with a repeated member name, and Go would read the last
 * one where cJSON reads the first: such a body is refused rather than edited ambiguously. The
 * name of the first repeated member, or NULL. */
static const char *duplicate_member(const cJSON *n, unsigned depth)
{
        if (depth > 512)
                return "(nesting too deep)";
        const cJSON *a, *b;
        size_t k = 0;
        cJSON_ArrayForEach (a, n) {
                if (++k > 4096)
                        return "(too many members)";
                if (cJSON_IsObject(n) && a->string)
                        for (b = a->next; b; b = b->next)
                                if (b->string && strcmp(a->string, b->string) == 0)
                                        return a->string;
                const char *d =
                    cJSON_IsObject(a) || cJSON_IsArray(a) ? duplicate_member(a, depth + 1) : NULL;
                if (d)
                        return d;
        }
        return NULL;
}

/* Parses the object and checks the members every caller needs. */
static int vs_open(const char *json, size_t len, cJSON **ret_root, cJSON **ret_metadata,
                   cJSON **ret_spec, char **ret_error)
{
        if (!json)
                return fail(ret_error, -EBADMSG, "VirtualService: no body");
        cJSON *root = cJSON_ParseWithLength(json, len);
        if (!root)
                return fail(ret_error, -EBADMSG, "VirtualService: invalid JSON");
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return fail(ret_error, -EBADMSG, "VirtualService: not a JSON object");
        }
        const char *dup = duplicate_member(root, 0);
        if (dup) {
                int r = fail(ret_error, -EBADMSG, "VirtualService: member \"%.64s\" appears twice",
                             dup);
                cJSON_Delete(root);
                return r;
        }
        cJSON *metadata = cJSON_GetObjectItemCaseSensitive(root, "metadata");
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
        const char *err = !cJSON_IsObject(metadata) ? "VirtualService: metadata is missing"
                          : !cJSON_IsObject(spec)   ? "VirtualService: spec is missing"
                                                    : NULL;
        const cJSON *ann = cJSON_GetObjectItemCaseSensitive(metadata, "annotations");
        if (!err && ann && !cJSON_IsNull(ann) && !cJSON_IsObject(ann))
                err = "VirtualService: metadata.annotations is not an object";
        if (err) {
                cJSON_Delete(root);
                return fail(ret_error, -EBADMSG, "%s", err);
        }
        *ret_root = root;
        *ret_metadata = metadata;
        *ret_spec = spec;
        return 0;
}

/* The namespace short host names resolve in: metadata.namespace, or the configured one (an
 * object as returned always has it). Borrowed from metadata or c. */
static const char *resolve_ns(const cJSON *metadata, const struct canary_config *c)
{
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(metadata, "namespace");
        return cJSON_IsString(ns) ? ns->valuestring : c->namespace_;
}

void vs_view_done(struct vs_view *v)
{
        if (!v)
                return;
        free(v->resource_version);
        free(v->state_json);
        *v = (struct vs_view){0};
}

int vs_inspect(const char *json, size_t len, const struct canary_config *c, struct vs_view *ret,
               char **ret_error)
{
        cJSON *root, *metadata, *spec;
        struct selection sel = {0};

        int r = vs_open(json, len, &root, &metadata, &spec, ret_error);
        if (r < 0)
                return r;
        r = select_routes(spec, c, resolve_ns(metadata, c), &sel, ret_error);
        if (r < 0)
                goto out;

        const cJSON *ann = cJSON_GetObjectItemCaseSensitive(metadata, "annotations");
        const char *state = str_or(ann, VS_STATE_ANNOTATION, NULL);
        struct vs_view v = {
            .resource_version = xstrdup(str_or(metadata, "resourceVersion", NULL)),
            .state_json = xstrdup(state),
            .canary_weight = sel.rules[0].canary_weight,
            .stable_weight = sel.rules[0].stable_weight,
            .n_routes = sel.n,
            .weights_consistent = true,
        };
        for (size_t i = 1; i < sel.n; i++)
                if (sel.rules[i].canary_weight != v.canary_weight ||
                    sel.rules[i].stable_weight != v.stable_weight)
                        v.weights_consistent = false;
        *ret = v;
out:
        selection_done(&sel);
        cJSON_Delete(root);
        return r;
}

static cJSON *destination_new(const struct destination_config *d)
{
        cJSON *rd = cJSON_CreateObject();
        cJSON *dest = cJSON_AddObjectToObject(rd, "destination");
        cJSON_AddStringToObject(dest, "host", d->host);
        if (d->subset)
                cJSON_AddStringToObject(dest, "subset", d->subset);
        return rd;
}

static void set_weight(cJSON *rd, unsigned w)
{
        cJSON *num = cJSON_CreateNumber(w);
        if (cJSON_GetObjectItemCaseSensitive(rd, "weight"))
                cJSON_ReplaceItemInObjectCaseSensitive(rd, "weight", num);
        else
                cJSON_AddItemToObject(rd, "weight", num);
}

/* Writes canary / 100 - canary on one rule; a named rule that lacks one of the two destinations
 * gets it appended (Istio then splits between both). */
static void rule_set_weights(struct rule *r, const struct canary_config *c, unsigned canary_pct)
{
        if (!r->stable) {
                r->stable = destination_new(&c->stable);
                cJSON_AddItemToArray(r->route, r->stable);
        }
        if (!r->canary) {
                r->canary = destination_new(&c->canary);
                cJSON_AddItemToArray(r->route, r->canary);
        }
        set_weight(r->stable, 100 - canary_pct);
        set_weight(r->canary, canary_pct);
}

/* cJSON prints a number with 15 significant digits whenever that reads back within DBL_EPSILON
 * of it, not exactly: 0.30000000000000004 would come back as 0.3, and a field of the user's
 * that canaryd never meant to touch would change. Each number becomes raw text, the shortest
 * of 15, 16 or 17 digits that reads back as the same double. Returns false, converting
 * nothing more, at a number beyond a double's range (1e400 parses as infinity, which cJSON
 * would write as null; the API server stores no such number anyway). */
static bool exact_numbers(cJSON *item)
{
        for (; item; item = item->next) {
                if (cJSON_IsNumber(item)) {
                        char buf[32];
                        if (!isfinite(item->valuedouble))
                                return false;
                        for (int digits = 15; digits <= 17; digits++) {
                                snprintf(buf, sizeof(buf), "%.*g", digits, item->valuedouble);
                                if (strtod(buf, NULL) == item->valuedouble)
                                        break;
                        }
                        item->valuestring = xstrdup(buf); /* cJSON_Delete frees it */
                        item->type = cJSON_Raw | (item->type & cJSON_StringIsConst);
                }
                if (!exact_numbers(item->child))
                        return false;
        }
        return true;
}

int vs_update(const char *json, size_t len, const struct canary_config *c, int canary_pct,
              const char *state_json, char **ret_json, char **ret_error)
{
        cJSON *root, *metadata, *spec;
        struct selection sel = {0};

        if (canary_pct > 100)
                return fail(ret_error, -EINVAL, "canary weight %d is outside 0..100", canary_pct);
        int r = vs_open(json, len, &root, &metadata, &spec, ret_error);
        if (r < 0)
                return r;
        r = select_routes(spec, c, resolve_ns(metadata, c), &sel, ret_error);
        if (r < 0)
                goto out;

        if (canary_pct >= 0)
                for (size_t i = 0; i < sel.n; i++)
                        rule_set_weights(&sel.rules[i], c, (unsigned)canary_pct);

        if (state_json) {
                cJSON *ann = cJSON_GetObjectItemCaseSensitive(metadata, "annotations");
                if (!cJSON_IsObject(ann)) {
                        cJSON_DeleteItemFromObjectCaseSensitive(metadata, "annotations");
                        ann = cJSON_AddObjectToObject(metadata, "annotations");
                }
                cJSON *value = cJSON_CreateString(state_json);
                if (!ann || !value) {
                        cJSON_Delete(value);
                        r = fail(ret_error, -ENOMEM, "VirtualService: out of memory");
                        goto out;
                }
                if (cJSON_GetObjectItemCaseSensitive(ann, VS_STATE_ANNOTATION))
                        cJSON_ReplaceItemInObjectCaseSensitive(ann, VS_STATE_ANNOTATION, value);
                else
                        cJSON_AddItemToObject(ann, VS_STATE_ANNOTATION, value);
        }

        if (!exact_numbers(root)) {
                r = fail(ret_error, -EBADMSG,
                         "VirtualService: a number is beyond the range of a double (it would be "
                         "written back as null); nothing written");
                goto out;
        }
        char *out = cJSON_PrintUnformatted(root);
        if (!out) {
                r = fail(ret_error, -ENOMEM, "VirtualService: out of memory");
                goto out;
        }
        *ret_json = xstrdup(out);
        cJSON_free(out);
out:
        selection_done(&sel);
        cJSON_Delete(root);
        return r;
}
