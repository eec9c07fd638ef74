/* A canary's life: set up from its configuration, torn down at a reload or stop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "canaryd/kube.h"
#include "canaryd/trigger.h"
#include "commit.h"
#include "deployment-trigger.h"
#include "driver.h"
#include "outage.h"
#include "vs-watch.h"

int canary_init(struct canary *c, struct daemon *d, const struct canary_config *cfg)
{
        memset(c, 0, sizeof(*c));
        c->d = d;
        c->cfg = cfg;
        rollout_spec_from_config(cfg, d->config->datadog.query_lag_usec, &c->spec);
        rollout_state_init(&c->state);
        c->vs_path = kube_virtual_service_path(cfg->namespace_, cfg->virtual_service);
        if (!c->vs_path)
                return -EINVAL;
        outage_load(c);
        if (cfg->trigger_deployment) {
                c->deployment_path = deployment_path(cfg->namespace_, cfg->trigger_deployment);
                if (!c->deployment_path)
                        return -EINVAL;
                if (deployment_trigger_start(c) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void canary_done(struct canary *c)
{
        canary_cycle_stop(c, "the configuration was reloaded or the daemon stopped");
        commit_forget(c);
        vs_cache_forget(c);
        analysis_cancel(&c->analysis);
        last_analysis_done(&c->last);
        c->trigger_timer = sd_event_source_disable_unref(c->trigger_timer);
        free(c->deployment_path);
        free(c->vs_path);
        free(c->last_error);
        free(c->written_body);
        memset(c, 0, sizeof(*c));
}

/* Busy while a request whose callback reaches a canary is out. A canary waiting in Kubernetes
 * backoff, or for its namespace's first LIST, holds nothing that outlives canary_done(), so it
 * does not hold up a stop or a reload (it used to: one VirtualService answering 404 blocked every
 * reload for good). */
bool daemon_busy(const struct daemon *d)
{
        for (size_t i = 0; i < d->n_canaries; i++)
                if (d->canaries[i].kube_inflight || d->canaries[i].trigger_inflight)
                        return true;
        return false;
}
