/* The VirtualService informer: every canary's object as the cluster last showed it, kept by one
 * watch (io/kube-watch.c: LIST, then a stream of events) per namespace that holds canaries,
 * narrowed to the one VirtualService by fieldSelector when the namespace has only one.
 *
 * The driver decides from this cache instead of a GET per cycle (SPEC §7: reads come from
 * watches), and writes with the cached resourceVersion, so a cache that lags the cluster costs a
 * 409 and a real GET, never a wrong write. After a write the object the API server answered the
 * PUT with is the cache (vs_cache_put), and watch events older than it are skipped until the
 * watch shows that write. A namespace whose watch has not listed yet parks its canaries' reads
 * until it has (one LIST instead of a GET per canary at start-up); one whose watch fails falls
 * back to GETs until it has listed again.
 *
 * Drift is also seen here at once: an object whose routes no longer hold the weight its own
 * canaryd.io/state annotation records, while that rollout is Progressing, gives the canary an
 * EV_TICK, and the cycle (drift check, decide) pauses it. Our own writes carry weights and state
 * together and so never look like drift. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canary-groups.h"
#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/state-json.h"
#include "canaryd/vs.h"
#include "ha.h"
#include "status.h"
#include "vs-watch.h"

struct vs_watch {
        struct daemon *d;
        const struct vs_watch_callbacks *cb; /* borrowed */
        struct kube_watch *watch;
        bool failing;              /* logged once until a LIST works again */
        bool synced;               /* listed, and no failure since: the cache is current */
        struct canary_group group; /* the namespace's canaries by VirtualService name */
};

static const char *virtual_service_of(const struct canary *c)
{
        return c->cfg->virtual_service;
}

static struct vs_watch *watch_of(const struct canary *c)
{
        struct daemon *d = c->d;

        for (size_t i = 0; i < d->n_vs_watches; i++)
                if (strcmp(d->vs_watches[i].group.namespace_, c->cfg->namespace_) == 0)
                        return &d->vs_watches[i];
        return NULL;
}

/* resourceVersions are opaque to clients, but every API server backed by etcd gives decimal
 * revisions: compare those; anything else only matches itself. */
static bool rv_at_least(const char *rv, const char *want)
{
        char *e1, *e2;
        unsigned long long a, b;

        if (strcmp(rv, want) == 0)
                return true;
        a = strtoull(rv, &e1, 10);
        b = strtoull(want, &e2, 10);
        return *rv && *want && !*e1 && !*e2 && a >= b;
}

static void cache_set(struct canary *c, const char *object, size_t len)
{
        free(c->vs_cached);
        c->vs_cached = xmalloc(len + 1);
        memcpy(c->vs_cached, object, len);
        c->vs_cached[len] = 0;
        c->vs_cached_len = len;
}

static void cache_drop(struct canary *c)
{
        c->vs_cached = (free(c->vs_cached), NULL);
        c->vs_cached_len = 0;
        c->vs_awaiting_rv = (free(c->vs_awaiting_rv), NULL);
}

/* What a watch event shows that the canary's daemon must act on. */
enum vs_change {
        VS_SAME,
        VS_DRIFT,         /* weights differ from the state it carries, in a running rollout */
        VS_STATE_CHANGED, /* a state this daemon neither read nor is writing: written elsewhere
                             (a hand edit, a daemon that died with its write on the wire) */
};

static enum vs_change classify(const struct canary *c, const struct vs_view *view,
                               unsigned *ret_state_weight)
{
        struct rollout_state s;
        enum vs_change change = VS_SAME;

        rollout_state_init(&s);
        if (view->state_json && state_from_json(view->state_json, strlen(view->state_json),
                                                c->cfg->n_steps, &s, NULL, NULL) >= 0) {
                bool ours = c->cycle && c->cycle->proposed.updated_usec == s.updated_usec;
                if (rollout_routes_drifted(&s, view->canary_weight, view->weights_consistent))
                        change = VS_DRIFT;
                else if (s.updated_usec != c->state.updated_usec && !ours)
                        change = VS_STATE_CHANGED;
        }
        *ret_state_weight = s.weight;
        return change;
}

void vs_routes_seen(struct canary *c, const struct vs_view *view)
{
        c->routes_seen = view != NULL;
        c->routes_weight = view ? view->canary_weight : 0;
        c->routes_agree = view ? view->weights_consistent : false;
}

/* One canary's share of a watch event: the cache, what status shows of the routes, and a wake-up
 * when the object changed outside canaryd. */
static void on_object(struct vs_watch *vw, struct canary *c, const struct kube_watch_event *ev)
{
        struct daemon *d = vw->d;
        struct vs_view view = {0};
        unsigned state_weight = 0;
        bool viewed = ev->type != KUBE_WATCH_DELETED &&
                      vs_inspect(ev->object, ev->object_len, c->cfg, &view, NULL) >= 0;

        if (ev->type == KUBE_WATCH_DELETED) {
                cache_drop(c);
                vs_routes_seen(c, NULL);
        } else if (ev->type == KUBE_WATCH_LISTED || !c->vs_awaiting_rv ||
                   rv_at_least(ev->resource_version, c->vs_awaiting_rv)) {
                /* skipped: events older than the object our own write returned */
                cache_set(c, ev->object, ev->object_len);
                c->vs_awaiting_rv = (free(c->vs_awaiting_rv), NULL);
                if (ev->type == KUBE_WATCH_LISTED)
                        c->vs_listed = true;
                if (viewed)
                        vs_routes_seen(c, &view);
        }
        if (!c->loaded || !ha_owns(d, c))
                goto done;
        if (ev->type == KUBE_WATCH_DELETED) {
                if (c->state.phase != ROLLOUT_PROGRESSING && c->state.phase != ROLLOUT_PAUSED)
                        goto done;
                log_canary(LOG_WARNING, c, NULL, NULL,
                           "VirtualService %s/%s was deleted; re-reading now", vw->group.namespace_,
                           ev->name);
        } else if (!viewed) {
                goto done; /* the cycle reports what is wrong with it */
        } else {
                switch (classify(c, &view, &state_weight)) {
                case VS_DRIFT:
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "watch: VirtualService %s/%s changed outside canaryd "
                                   "(routes at %u%%, its state says %u%%); re-reading now",
                                   vw->group.namespace_, ev->name, view.canary_weight,
                                   state_weight);
                        break;
                case VS_STATE_CHANGED:
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "watch: VirtualService %s/%s holds a rollout state "
                                   "this daemon did not write; re-reading now",
                                   vw->group.namespace_, ev->name);
                        break;
                case VS_SAME:
                        goto done;
                }
        }
        vw->cb->wake(c);
done:
        vs_view_done(&view);
}

static void on_event(const struct kube_watch_event *ev, void *userdata)
{
        struct vs_watch *vw = userdata;
        struct daemon *d = vw->d;

        switch (ev->type) {
        case KUBE_WATCH_FAILED:
                if (!vw->failing)
                        log_warning("kubernetes: watching VirtualServices in %s failed, retrying "
                                    "(reading each VirtualService with GET meanwhile): %s",
                                    vw->group.namespace_, ev->message);
                vw->failing = true;
                vw->synced = false;
                /* parked reads go ahead with GETs */
                for (size_t i = 0; i < vw->group.n_canaries; i++)
                        if (vw->group.canaries[i]->vs_parked) {
                                vw->group.canaries[i]->vs_parked = false;
                                vw->cb->read_resume(vw->group.canaries[i]);
                        }
                return;
        case KUBE_WATCH_SYNCED:
                if (vw->failing)
                        log_notice("kubernetes: watching VirtualServices in %s again",
                                   vw->group.namespace_);
                vw->failing = false;
                vw->synced = true;
                /* objects the LIST did not show are gone: their canaries read with GET */
                for (size_t i = 0; i < vw->group.n_canaries; i++) {
                        struct canary *c = vw->group.canaries[i];
                        if (!c->vs_listed) {
                                cache_drop(c);
                                vs_routes_seen(c, NULL);
                        }
                        c->vs_listed = false;
                        if (c->vs_parked) {
                                c->vs_parked = false;
                                vw->cb->read_resume(c);
                        }
                }
                return;
        case KUBE_WATCH_ADDED:
        case KUBE_WATCH_MODIFIED:
        case KUBE_WATCH_DELETED:
        case KUBE_WATCH_LISTED:
                break;
        }
        if (d->stopping)
                return;
        struct canary **first;
        size_t n = canary_group_find(&vw->group, ev->name, &first);
        for (size_t i = 0; i < n; i++)
                on_object(vw, first[i], ev);
}

enum vs_read vs_cache_read(struct canary *c)
{
        struct vs_watch *vw = watch_of(c);

        if (!vw || !vw->watch)
                return VS_READ_GET;
        if (vw->synced && c->vs_cached)
                return VS_READ_CACHED;
        if (!vw->synced && !vw->failing) {
                c->vs_parked = true; /* the first LIST is on its way */
                return VS_READ_WAIT;
        }
        return VS_READ_GET;
}

void vs_cache_put(struct canary *c, const char *object, size_t len, const char *resource_version)
{
        if (!object || !resource_version || !*resource_version)
                return;
        cache_set(c, object, len);
        free(c->vs_awaiting_rv);
        c->vs_awaiting_rv = xstrdup(resource_version);
}

void vs_cache_forget(struct canary *c)
{
        cache_drop(c);
        c->vs_parked = false;
        c->vs_listed = false;
}

/* One watch per namespace. */
void vs_watches_start(struct daemon *d, const struct vs_watch_callbacks *cb)
{
        struct canary_group *groups;

        vs_watches_stop(d);
        if (!d->kube)
                return;
        size_t n_groups = canary_groups_make(d, virtual_service_of, &groups);
        d->vs_watches = xcalloc(n_groups + 1, sizeof(*d->vs_watches));
        for (size_t i = 0; i < n_groups; i++) {
                struct vs_watch *vw = &d->vs_watches[d->n_vs_watches];
                *vw = (struct vs_watch){.d = d, .cb = cb, .group = groups[i]};
                char *path = kube_virtual_services_path(vw->group.namespace_);
                int r = path ? kube_watch_new(d->kube, path, vw->group.only_object, on_event, vw,
                                              &vw->watch)
                             : -EINVAL;
                if (r < 0) {
                        log_warning_errno(r, "kubernetes: cannot watch VirtualServices in %s: %m",
                                          vw->group.namespace_);
                        canary_group_done(&vw->group);
                } else {
                        d->n_vs_watches++;
                }
                free(path);
        }
        free(groups);
}

void vs_watches_unpark(struct daemon *d)
{
        for (size_t i = 0; i < d->n_vs_watches; i++)
                for (size_t k = 0; k < d->vs_watches[i].group.n_canaries; k++) {
                        struct canary *c = d->vs_watches[i].group.canaries[k];
                        if (c->vs_parked) {
                                c->vs_parked = false;
                                d->vs_watches[i].cb->read_resume(c);
                        }
                }
}

void vs_watches_stop(struct daemon *d)
{
        vs_watches_unpark(d); /* a read waiting for a LIST must not wait for ever */
        for (size_t i = 0; i < d->n_vs_watches; i++) {
                struct vs_watch *vw = &d->vs_watches[i];
                vw->watch = kube_watch_free(vw->watch);
                for (size_t k = 0; k < vw->group.n_canaries; k++)
                        vs_cache_forget(vw->group.canaries[k]);
                canary_group_done(&vw->group);
        }
        free(d->vs_watches);
        d->vs_watches = NULL;
        d->n_vs_watches = 0;
}
