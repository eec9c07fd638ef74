/* The Deployment trigger (SPEC §4): a canary with `trigger: {deployment: NAME}` starts a rollout
 * when its Deployment runs a new pod template, fully available.
 *
 * The Deployments are watched, one watch per namespace that holds triggered canaries (narrowed
 * to the one Deployment by fieldSelector when the namespace triggers on only one), and each
 * canary keeps what it last showed of its Deployment. An event that changes it is acted on at
 * once; a timer (every resync period) looks again at what is kept, which covers a canary whose
 * VirtualService was read after the event. While a namespace's watch has not listed, or fails
 * (no `list`/`watch` in the Role, say), the timer GETs the Deployment instead, as before the
 * watch: a trigger never depends on the watch to work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary-groups.h"
#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/trigger.h"
#include "commands.h"
#include "deployment-trigger.h"
#include "driver.h"
#include "ha.h"
#include "status.h"

struct deployment_watch {
        struct daemon *d;
        struct kube_watch *watch;
        bool failing; /* logged once until a LIST works again */
        bool synced;  /* listed, and no failure since: what the canaries keep is current */
        struct canary_group group; /* the namespace's triggered canaries by Deployment name */
};

static const char *deployment_of(const struct canary *c)
{
        return c->cfg->trigger_deployment;
}

#define TIMER_ACCURACY (10 * USEC_PER_MSEC)

static int on_trigger_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void trigger_arm(struct canary *c, usec_t delay)
{
        if (!c->trigger_timer) {
                if (sd_event_add_time_relative(c->d->event, &c->trigger_timer, CLOCK_MONOTONIC,
                                               delay, TIMER_ACCURACY, on_trigger_timer, c) < 0)
                        log_canary(LOG_ERR, c, NULL, NULL, "cannot add the trigger timer");
                return;
        }
        sd_event_source_set_time_relative(c->trigger_timer, delay);
        sd_event_source_set_enabled(c->trigger_timer, SD_EVENT_ONESHOT);
}

static struct deployment_watch *watch_of(const struct canary *c)
{
        struct daemon *d = c->d;

        for (size_t i = 0; i < d->n_deployment_watches; i++)
                if (strcmp(d->deployment_watches[i].group.namespace_, c->cfg->namespace_) == 0)
                        return &d->deployment_watches[i];
        return NULL;
}

static void trigger_read_failed(struct canary *c, const char *why)
{
        if (!c->trigger_failing)
                log_canary(LOG_WARNING, c, NULL, NULL, "trigger: cannot read deployment %s: %s",
                           c->cfg->trigger_deployment, why);
        c->trigger_failing = true;
}

/* What the canary last saw of its Deployment, from a GET or the watch: start a rollout when it
 * runs a template the rollout state has not seen, fully available. */
static void trigger_consider(struct canary *c)
{
        const struct deployment_view *v = &c->trigger_seen;
        const char *name = c->cfg->trigger_deployment;

        /* only the shard's holder (HA): another daemon's view of the state may be old */
        if (!c->trigger_seen_valid || !c->loaded || !ha_owns(c->d, c) ||
            strcmp(v->revision, c->state.trigger_revision) == 0)
                return;
        if (!v->available) {
                if (strcmp(c->trigger_waiting, v->revision) != 0)
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "trigger: deployment %s template %s (image %s) is not fully "
                                   "available yet (%ld/%ld updated, %ld available)",
                                   name, v->revision, v->image[0] ? v->image : "?", v->updated,
                                   v->replicas, v->available_replicas);
                snprintf(c->trigger_waiting, sizeof(c->trigger_waiting), "%s", v->revision);
                return;
        }
        /* once is enough: an event that comes while the first is decided must not start, or log,
         * it twice; a newer template goes ahead */
        if (event_pending(c, EV_TRIGGER, v->revision))
                return;
        log_canary(LOG_NOTICE, c, NULL, NULL,
                   "trigger: deployment %s runs template %s (image %s), available", name,
                   v->revision, v->image[0] ? v->image : "?");
        char actor[ROLLOUT_ACTOR_MAX];
        snprintf(actor, sizeof(actor), "deployment:%s", name);
        canary_submit(c, &(struct rollout_event){
                             .kind = EV_TRIGGER, .revision = v->revision, .actor = actor});
}

/* The Deployment's JSON, as a GET or a watch event showed it: kept, then considered. */
static void trigger_seen(struct canary *c, const char *json, size_t len)
{
        struct deployment_view v;
        char *err = NULL;

        if (deployment_inspect(json, len, &v, &err) < 0) {
                trigger_read_failed(c, err ? err : "undecodable");
                free(err);
                return;
        }
        c->trigger_failing = false;
        c->trigger_seen = v;
        c->trigger_seen_valid = true;
        trigger_consider(c);
}

static void on_deployment(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;
        struct daemon *d = c->d;

        c->trigger_inflight = false;
        if (d->stopping || d->reload_pending) {
                daemon_idle_check(d);
                return;
        }
        trigger_arm(c, canary_resync_usec(c));
        struct deployment_watch *dw = watch_of(c);
        if (dw && dw->synced)
                return; /* the watch listed while this GET was out: its view is newer */
        if (res->error < 0) {
                char why[256];
                snprintf(why, sizeof(why), "%s%s", res->status ? "HTTP error " : "",
                         res->message ? res->message : "failed");
                if (res->status == 404)
                        c->trigger_seen_valid = false;
                trigger_read_failed(c, why);
                return;
        }
        trigger_seen(c, res->body, res->body_len);
}

static int on_trigger_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct canary *c = userdata;
        if (c->d->stopping || c->trigger_inflight)
                return 0;
        if (c->d->reload_pending) {
                trigger_arm(c, canary_resync_usec(c)); /* the reload replaces it, or it goes on */
                return 0;
        }
        struct deployment_watch *dw = watch_of(c);
        if (dw && dw->synced) { /* the watch keeps c->trigger_seen current: no GET */
                trigger_arm(c, canary_resync_usec(c));
                trigger_consider(c);
                return 0;
        }
        if (kube_get(c->d->kube, c->deployment_path, on_deployment, c) >= 0)
                c->trigger_inflight = true;
        else
                trigger_arm(c, canary_resync_usec(c));
        return 0;
}

int deployment_trigger_start(struct canary *c)
{
        /* first look once the VirtualService has been read (c->loaded) */
        return sd_event_add_time_relative(c->d->event, &c->trigger_timer, CLOCK_MONOTONIC,
                                          USEC_PER_SEC / 2, TIMER_ACCURACY, on_trigger_timer, c);
}

/* One namespace's Deployment events: each triggered canary of that Deployment keeps what the
 * event shows and acts on it. */
static void on_watch_event(const struct kube_watch_event *ev, void *userdata)
{
        struct deployment_watch *dw = userdata;

        switch (ev->type) {
        case KUBE_WATCH_FAILED:
                if (!dw->failing)
                        log_warning("kubernetes: watching Deployments in %s failed, retrying "
                                    "(triggers read them with GET meanwhile): %s",
                                    dw->group.namespace_, ev->message ? ev->message : "failed");
                dw->failing = true;
                dw->synced = false;
                return;
        case KUBE_WATCH_SYNCED:
                /* Deployments the LIST did not show are gone */
                for (size_t i = 0; i < dw->group.n_canaries; i++) {
                        struct canary *c = dw->group.canaries[i];
                        if (!c->trigger_listed) {
                                c->trigger_seen_valid = false;
                                trigger_read_failed(c, "not found (the LIST of Deployments "
                                                       "does not show it)");
                        }
                        c->trigger_listed = false;
                }
                if (dw->failing)
                        log_info("kubernetes: watching Deployments in %s again",
                                 dw->group.namespace_);
                dw->failing = false;
                dw->synced = true;
                return;
        case KUBE_WATCH_LISTED:
        case KUBE_WATCH_ADDED:
        case KUBE_WATCH_MODIFIED:
        case KUBE_WATCH_DELETED:
                break;
        }
        if (dw->d->stopping || dw->d->reload_pending)
                return;
        struct canary **first;
        size_t n = canary_group_find(&dw->group, ev->name, &first);
        for (size_t i = 0; i < n; i++) {
                struct canary *c = first[i];
                if (ev->type == KUBE_WATCH_DELETED) {
                        c->trigger_seen_valid = false;
                        trigger_read_failed(c, "it was deleted");
                        continue;
                }
                if (ev->type == KUBE_WATCH_LISTED)
                        c->trigger_listed = true;
                trigger_seen(c, ev->object, ev->object_len);
        }
}

/* One watch per namespace with triggered canaries. */
void deployment_watches_start(struct daemon *d)
{
        struct canary_group *groups;

        deployment_watches_stop(d);
        if (!d->kube)
                return;
        size_t n_groups = canary_groups_make(d, deployment_of, &groups);
        d->deployment_watches = xcalloc(n_groups + 1, sizeof(*d->deployment_watches));
        for (size_t i = 0; i < n_groups; i++) {
                struct deployment_watch *dw = &d->deployment_watches[d->n_deployment_watches];
                *dw = (struct deployment_watch){.d = d, .group = groups[i]};
                char *path = kube_deployments_path(dw->group.namespace_);
                int r = path ? kube_watch_new(d->kube, path, dw->group.only_object, on_watch_event,
                                              dw, &dw->watch)
                             : -EINVAL;
                if (r < 0) {
                        log_warning_errno(r, "kubernetes: cannot watch Deployments in %s: %m",
                                          dw->group.namespace_);
                        canary_group_done(&dw->group);
                } else {
                        d->n_deployment_watches++;
                }
                free(path);
        }
        free(groups);
}

void deployment_watches_stop(struct daemon *d)
{
        for (size_t i = 0; i < d->n_deployment_watches; i++) {
                struct deployment_watch *dw = &d->deployment_watches[i];
                dw->watch = kube_watch_free(dw->watch);
                canary_group_done(&dw->group);
        }
        free(d->deployment_watches);
        d->deployment_watches = NULL;
        d->n_deployment_watches = 0;
}
