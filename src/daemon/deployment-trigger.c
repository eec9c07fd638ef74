/* The Deployment trigger (SPEC §4): a canary with `trigger: {deployment: NAME}` polls the
 * Deployment (GET, every resync period) and starts a rollout when a new pod template is fully
 * available. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/trigger.h"
#include "commands.h"
#include "deployment-trigger.h"
#include "driver.h"
#include "status.h"

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

static void on_deployment(const struct kube_result *res, void *userdata)
{
        struct canary *c = userdata;
        struct daemon *d = c->d;
        const char *name = c->cfg->trigger_deployment;

        c->trigger_inflight = false;
        if (d->stopping || d->reload_pending) {
                daemon_idle_check(d);
                return;
        }
        trigger_arm(c, canary_resync_usec(c));
        struct deployment_view v;
        char *err = NULL;
        if (res->error < 0 || deployment_inspect(res->body, res->body_len, &v, &err) < 0) {
                if (!c->trigger_failing)
                        log_canary(LOG_WARNING, c, NULL, NULL,
                                   "trigger: cannot read deployment %s: %s%s%s", name,
                                   res->error < 0 && res->status ? "HTTP error " : "",
                                   res->error < 0 ? (res->message ? res->message : "failed") : "",
                                   err ? err : "");
                c->trigger_failing = true;
                free(err);
                return;
        }
        c->trigger_failing = false;
        if (!c->loaded || strcmp(v.revision, c->state.trigger_revision) == 0)
                return;
        if (!v.available) {
                if (strcmp(c->trigger_waiting, v.revision) != 0)
                        log_canary(LOG_INFO, c, NULL, NULL,
                                   "trigger: deployment %s template %s (image %s) is not fully "
                                   "available yet (%ld/%ld updated, %ld available)",
                                   name, v.revision, v.image[0] ? v.image : "?", v.updated,
                                   v.replicas, v.available_replicas);
                snprintf(c->trigger_waiting, sizeof(c->trigger_waiting), "%s", v.revision);
                return;
        }
        if (queue_has(c, EV_TRIGGER))
                return;
        log_canary(LOG_NOTICE, c, NULL, NULL,
                   "trigger: deployment %s runs template %s (image %s), available", name,
                   v.revision, v.image[0] ? v.image : "?");
        char actor[ROLLOUT_ACTOR_MAX];
        snprintf(actor, sizeof(actor), "deployment:%s", name);
        canary_submit(
            c, &(struct rollout_event){.kind = EV_TRIGGER, .revision = v.revision, .actor = actor});
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
