/* The Deployment trigger of SPEC §4 (`trigger: {deployment: NAME}`): what revision of its pod
 * template a Deployment runs, and whether that template is fully rolled out and available.
 * Pure (src/codec/trigger-json.c); the daemon polls the Deployment (src/daemon/driver.c). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>

/* Revisions are "t" + 10 hex digits (like a pod-template-hash). */
#define TRIGGER_REVISION_LEN 11

struct deployment_view {
        char revision[TRIGGER_REVISION_LEN + 1];
        char image[128]; /* the first container's image, cut to fit; for logs and reasons */
        bool available;  /* the template is fully rolled out: observedGeneration >= generation,
                            updated == available == total == desired replicas */
        long replicas, updated, available_replicas, total;
};

/* Decodes an apps/v1 Deployment. The revision is a 40-bit FNV-1a hash of spec.template with
 * object keys sorted and without the kubectl.kubernetes.io/restartedAt annotation, so a
 * `kubectl rollout restart` or a scale does not change it, while any change of image, env,
 * command, ... does. Returns 0, or -EINVAL with *ret_error (owned). */
int deployment_inspect(const char *json, size_t len, struct deployment_view *ret, char **ret_error);

/* "/apis/apps/v1/namespaces/<ns>/deployments/<name>"; NULL for invalid names. Caller owns. */
char *deployment_path(const char *namespace_, const char *name);
