/* Kubernetes metav1.Status decoding (WIRE.md §2.3), the HTTP status -> errno mapping of kube.h,
 * and the VirtualService version from an APIGroup discovery document (§2.8). Pure: works on a
 * buffer with cJSON. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/kube-json.h"
#include "canaryd/util.h"

void kube_status_done(struct kube_status *s)
{
        if (!s)
                return;
        free(s->status);
        free(s->message);
        free(s->reason);
        *s = (struct kube_status){0};
}

static char *string_member(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static long integer_member(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 1e9)
                return 0;
        return (long)v->valuedouble;
}

int kube_status_parse(const char *body, size_t len, struct kube_status *ret)
{
        if (!body)
                return -EBADMSG;
        cJSON *root = cJSON_ParseWithLength(body, len);
        if (!root)
                return -EBADMSG;
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
        if (!cJSON_IsObject(root) || !cJSON_IsString(kind) ||
            strcmp(kind->valuestring, "Status") != 0) {
                cJSON_Delete(root);
                return -EBADMSG;
        }
        *ret = (struct kube_status){
            .status = string_member(root, "status"),
            .message = string_member(root, "message"),
            .reason = string_member(root, "reason"),
            .code = integer_member(root, "code"),
            .retry_after_seconds = integer_member(cJSON_GetObjectItemCaseSensitive(root, "details"),
                                                  "retryAfterSeconds"),
        };
        cJSON_Delete(root);
        return 0;
}

int kube_errno_from_status(long status)
{
        if (status >= 200 && status < 300)
                return 0;
        switch (status) {
        case 409:
                return -ESTALE;
        case 404:
                return -ENOENT;
        case 401:
        case 403:
                return -EACCES;
        case 400:
        case 422:
                return -EINVAL;
        case 429:
                return -EAGAIN;
        default:
                return status >= 500 ? -EAGAIN : -EIO;
        }
}

const char *kube_vs_version_from_discovery(const char *json, size_t len)
{
        static const char *const newest_first[] = {"v1", "v1beta1", "v1alpha3"};
        cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
        const cJSON *versions = cJSON_GetObjectItemCaseSensitive(root, "versions");
        const char *found = NULL;
        if (!cJSON_IsArray(versions))
                versions = NULL;
        for (size_t i = 0; i < ELEMENTSOF(newest_first) && !found; i++) {
                const cJSON *v;
                cJSON_ArrayForEach (v, versions) {
                        const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "version");
                        if (cJSON_IsString(name) && strcmp(name->valuestring, newest_first[i]) == 0)
                                found = newest_first[i];
                }
        }
        cJSON_Delete(root);
        return found;
}
