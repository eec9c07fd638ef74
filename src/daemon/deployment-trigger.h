/* deployment-trigger.c: starts a canary's rollout when its Deployment runs a new template. */
#pragma once

#include "canary.h"

/* Starts polling c->deployment_path; c->trigger_timer is the poll's timer. */
int deployment_trigger_start(struct canary *c);
