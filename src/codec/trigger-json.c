/* The Deployment trigger's view of a Deployment (trigger.h). Pure. The object comes from the
 * cluster: anything may be missing or mistyped, and is refused with a message, never a crash. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/names.h"
#include "canaryd/trigger.h"
#include "canaryd/util.h"

#define RESTARTED_AT "kubectl.kubernetes.io/restartedAt"

/* Sorts every object's members by key, recursively, so equal templates print equally whatever
 * order the API server used. Insertion sort: templates have few keys per object. */
static void sort_keys(cJSON *node, int depth)
{
        if (!node || depth > 64)
                return;
        for (cJSON *c = node->child; c; c = c->next)
                sort_keys(c, depth + 1);
        if (!cJSON_IsObject(node) || !node->child)
                return;
        cJSON *sorted = NULL;
        cJSON *c = node->child;
        while (c) {
                cJSON *next = c->next;
                c->prev = c->next = NULL;
                cJSON **pp = &sorted;
                while (*pp &&
                       strcmp((*pp)->string ? (*pp)->string : "", c->string ? c->string : "") <= 0)
                        pp = &(*pp)->next;
                c->next = *pp;
                *pp = c;
                c = next;
        }
        /* cJSON keeps child->prev pointing at the last element */
        cJSON *last = NULL;
        for (cJSON *k = sorted; k; k = k->next) {
                k->prev = last;
                last = k;
        }
        if (sorted)
                sorted->prev = last;
        node->child = sorted;
}

static long number_at(const cJSON *o, const char *key, long dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9)
                return dflt;
        return (long)v->valuedouble;
}

int deployment_inspect(const char *json, size_t len, struct deployment_view *ret, char **ret_error)
{
        struct deployment_view v = {0};
        const char *error = NULL;
        cJSON *o = json && !memchr(json, '\0', len) ? cJSON_ParseWithLength(json, len) : NULL;
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
        cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
        if (!cJSON_IsObject(o)) {
                error = "deployment: not a JSON object";
                goto out;
        }
        if (!cJSON_IsObject(tmpl)) {
                error = "deployment: no spec.template object";
                goto out;
        }

        cJSON *tmeta = cJSON_GetObjectItemCaseSensitive(tmpl, "metadata");
        cJSON *ann = cJSON_GetObjectItemCaseSensitive(tmeta, "annotations");
        if (cJSON_IsObject(ann)) {
                cJSON_DeleteItemFromObjectCaseSensitive(ann, RESTARTED_AT);
                if (!ann->child)
                        cJSON_DeleteItemFromObjectCaseSensitive(tmeta, "annotations");
        }
        if (cJSON_IsObject(tmeta) && !tmeta->child)
                cJSON_DeleteItemFromObjectCaseSensitive(tmpl, "metadata");
        tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
        sort_keys(tmpl, 0);
        char *text = cJSON_PrintUnformatted(tmpl);
        if (!text)
                abort(); /* OOM */
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
                h ^= *p;
                h *= 0x100000001b3ULL;
        }
        cJSON_free(text);
        snprintf(v.revision, sizeof(v.revision), "t%010llx",
                 (unsigned long long)(h & 0xffffffffffULL));

        const cJSON *pod = cJSON_GetObjectItemCaseSensitive(tmpl, "spec");
        const cJSON *containers = cJSON_GetObjectItemCaseSensitive(pod, "containers");
        const cJSON *first = cJSON_IsArray(containers) ? containers->child : NULL;
        const cJSON *image = cJSON_GetObjectItemCaseSensitive(first, "image");
        if (cJSON_IsString(image))
                snprintf(v.image, sizeof(v.image), "%s", image->valuestring);
        for (char *p = v.image; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';

        long generation = number_at(meta, "generation", 0);
        long observed = number_at(status, "observedGeneration", 0);
        v.replicas = number_at(spec, "replicas", 1);
        v.updated = number_at(status, "updatedReplicas", 0);
        v.available_replicas = number_at(status, "availableReplicas", 0);
        v.total = number_at(status, "replicas", 0);
        v.available = cJSON_IsObject(status) && observed >= generation && v.updated == v.replicas &&
                      v.available_replicas >= v.replicas && v.total == v.replicas;
out:
        cJSON_Delete(o);
        if (error) {
                if (ret_error)
                        *ret_error = xstrdup(error);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

char *deployment_path(const char *namespace_, const char *name)
{
        if (!dns1123_is_label(namespace_) || !dns1123_is_subdomain(name))
                return NULL;
        return xasprintf("/apis/apps/v1/namespaces/%s/deployments/%s", namespace_, name);
}
