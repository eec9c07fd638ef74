/* deployment-trigger.c: starts a canary's rollout when its Deployment runs a new template. */
#pragma once

#include "canary.h"

/* Starts c's trigger timer: every resync period it acts on what the watch keeps of the
 * Deployment, or GETs c->deployment_path while its namespace's watch has not listed. */
int deployment_trigger_start(struct canary *c);
/* One Deployment watch per namespace with triggered canaries (after the canaries are set up;
 * stopped before they are freed). */
void deployment_watches_start(struct daemon *d);
void deployment_watches_stop(struct daemon *d);
