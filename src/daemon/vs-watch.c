/* VirtualService watches: drift seen at once instead of at the next re-read.
 *
 * One watch (io/kube-watch.c) per namespace that holds canaries, narrowed to the one
 * VirtualService by fieldSelector when the namespace has only one. When an event (or a re-LIST)
 * shows a canary's VirtualService whose routes no longer hold the weight its own
 * canaryd.io/state annotation records, while that rollout is Progressing, the canary gets an
 * EV_TICK: the normal cycle (GET, drift check, decide) then pauses it. The watch only wakes the
 * cycle; it never decides anything, so a failing watch costs nothing but latency (the periodic
 * re-read of driver.c still runs). Our own writes carry weights and state together and so never
 * look like drift. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/state-json.h"
#include "canaryd/vs.h"
#include "daemon.h"

struct vs_watch {
        struct daemon *d;
        const char *namespace_; /* borrowed from the config */
        struct kube_watch *watch;
        bool failing; /* logged once until a LIST works again */
};

/* Does the object show weights that differ from the state it carries, in a running rollout? */
static bool drifted(const struct canary *c, const struct kube_watch_event *ev, unsigned *ret_weight,
                    unsigned *ret_state_weight)
{
        struct vs_view view = {0};
        struct rollout_state s;
        bool drift = false;

        if (vs_inspect(ev->object, ev->object_len, c->cfg, &view, NULL) < 0)
                return false; /* the cycle reports what is wrong with it */
        rollout_state_init(&s);
        if (view.state_json && state_from_json(view.state_json, strlen(view.state_json),
                                               c->cfg->n_steps, &s, NULL) >= 0)
                drift = s.phase == ROLLOUT_PROGRESSING &&
                        (view.canary_weight != s.weight || !view.weights_consistent);
        *ret_weight = view.canary_weight;
        *ret_state_weight = s.weight;
        vs_view_done(&view);
        return drift;
}

static void on_event(const struct kube_watch_event *ev, void *userdata)
{
        struct vs_watch *vw = userdata;
        struct daemon *d = vw->d;

        switch (ev->type) {
        case KUBE_WATCH_FAILED:
                if (!vw->failing)
                        log_warning("kubernetes: watching VirtualServices in %s failed, retrying "
                                    "(drift is still seen by the periodic re-read): %s",
                                    vw->namespace_, ev->message);
                vw->failing = true;
                return;
        case KUBE_WATCH_SYNCED:
                if (vw->failing)
                        log_notice("kubernetes: watching VirtualServices in %s again",
                                   vw->namespace_);
                vw->failing = false;
                return;
        case KUBE_WATCH_ADDED:
        case KUBE_WATCH_MODIFIED:
        case KUBE_WATCH_DELETED:
        case KUBE_WATCH_LISTED:
                break;
        }
        if (d->stopping)
                return;
        for (size_t i = 0; i < d->n_canaries; i++) {
                struct canary *c = &d->canaries[i];
                if (strcmp(c->cfg->namespace_, vw->namespace_) != 0 ||
                    strcmp(c->cfg->virtual_service, ev->name) != 0 || !c->loaded || !ha_owns(d, c))
                        continue;
                unsigned weight = 0, state_weight = 0;
                if (ev->type == KUBE_WATCH_DELETED) {
                        if (c->state.phase != ROLLOUT_PROGRESSING &&
                            c->state.phase != ROLLOUT_PAUSED)
                                continue;
                        log_canary(LOG_WARNING, c, NULL, NULL,
                                   "VirtualService %s/%s was deleted; re-reading now",
                                   vw->namespace_, ev->name);
                } else if (drifted(c, ev, &weight, &state_weight)) {
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "watch: VirtualService %s/%s changed outside canaryd (routes "
                                   "at %u%%, its state says %u%%); re-reading now",
                                   vw->namespace_, ev->name, weight, state_weight);
                } else {
                        continue;
                }
                canary_submit(c, &(struct rollout_event){.kind = EV_TICK});
        }
}

void vs_watches_start(struct daemon *d)
{
        vs_watches_stop(d);
        if (!d->kube || d->n_canaries == 0)
                return;
        d->vs_watches = xcalloc(d->n_canaries, sizeof(*d->vs_watches));
        for (size_t i = 0; i < d->n_canaries; i++) {
                const struct canary_config *cfg = d->canaries[i].cfg;
                bool seen = false, one_name = true;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = strcmp(d->canaries[k].cfg->namespace_, cfg->namespace_) == 0;
                if (seen)
                        continue; /* one watch per namespace */
                for (size_t k = i + 1; k < d->n_canaries; k++)
                        if (strcmp(d->canaries[k].cfg->namespace_, cfg->namespace_) == 0 &&
                            strcmp(d->canaries[k].cfg->virtual_service, cfg->virtual_service) != 0)
                                one_name = false;

                struct vs_watch *vw = &d->vs_watches[d->n_vs_watches];
                *vw = (struct vs_watch){.d = d, .namespace_ = cfg->namespace_};
                char *path = kube_virtual_services_path(cfg->namespace_);
                char *selector =
                    one_name ? xasprintf("metadata.name=%s", cfg->virtual_service) : NULL;
                int r = path ? kube_watch_new(d->kube, path, selector, on_event, vw, &vw->watch)
                             : -EINVAL;
                if (r < 0)
                        log_warning_errno(r, "kubernetes: cannot watch VirtualServices in %s: %m",
                                          cfg->namespace_);
                else
                        d->n_vs_watches++;
                free(path);
                free(selector);
        }
}

void vs_watches_stop(struct daemon *d)
{
        for (size_t i = 0; i < d->n_vs_watches; i++)
                d->vs_watches[i].watch = kube_watch_free(d->vs_watches[i].watch);
        free(d->vs_watches);
        d->vs_watches = NULL;
        d->n_vs_watches = 0;
}
