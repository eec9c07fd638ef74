/* Lease codec; see lease.h. Pure: cJSON on buffers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/lease.h"
#include "canaryd/state-json.h"

void lease_record_done(struct lease_record *r)
{
        if (!r)
                return;
        free(r->name);
        free(r->resource_version);
        free(r->holder);
        *r = (struct lease_record){0};
}

static long int_member(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 2147483647.0)
                return 0;
        return (long)v->valuedouble;
}

static usec_t time_member(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        usec_t t = 0;
        if (!cJSON_IsString(v) || parse_rfc3339(v->valuestring, &t) < 0)
                return 0;
        return t;
}

#define SHARDS_ANNOTATION "canaryd.io/shards"

/* A positive decimal below 2^16, else 0 (absent, or not ours to trust). */
static unsigned shards_annotation(const cJSON *md)
{
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(md, "annotations");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, SHARDS_ANNOTATION);
        unsigned long n = 0;

        if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 5)
                return 0;
        for (const char *p = v->valuestring; *p; p++) {
                if (*p < '0' || *p > '9')
                        return 0;
                n = n * 10 + (unsigned long)(*p - '0');
        }
        return n < 65536 ? (unsigned)n : 0;
}

static int record_from(const cJSON *obj, struct lease_record *ret, char **ret_error)
{
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
        const cJSON *holder = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
        if (!cJSON_IsObject(obj) || !cJSON_IsString(name)) {
                if (ret_error)
                        *ret_error = xstrdup("Lease: not an object with metadata.name");
                return -EBADMSG;
        }
        *ret = (struct lease_record){
            .name = xstrdup(name->valuestring),
            .resource_version = cJSON_IsString(rv) ? xstrdup(rv->valuestring) : NULL,
            .holder = xstrdup(cJSON_IsString(holder) ? holder->valuestring : ""),
            .duration_seconds = int_member(spec, "leaseDurationSeconds"),
            .acquire_usec = time_member(spec, "acquireTime"),
            .renew_usec = time_member(spec, "renewTime"),
            .transitions = int_member(spec, "leaseTransitions"),
            .shards = shards_annotation(md),
        };
        return 0;
}

int lease_parse(const char *json, size_t len, struct lease_record *ret, char **ret_error)
{
        cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
        int r = record_from(root, ret, ret_error);
        cJSON_Delete(root);
        return r;
}

int lease_list_parse(const char *json, size_t len, struct lease_record **ret, char ***ret_items,
                     size_t *ret_n, char **ret_error)
{
        cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
        if (!cJSON_IsObject(root) || (items && !cJSON_IsNull(items) && !cJSON_IsArray(items))) {
                cJSON_Delete(root);
                if (ret_error)
                        *ret_error = xstrdup("LeaseList: not an object with items[]");
                return -EBADMSG;
        }
        size_t n = cJSON_IsArray(items) ? (size_t)cJSON_GetArraySize(items) : 0, k = 0;
        struct lease_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
        char **raw = xcalloc(n ? n : 1, sizeof(char *));
        const cJSON *it;
        if (!cJSON_IsArray(items))
                items = NULL;
        cJSON_ArrayForEach (it, items) {
                if (record_from(it, &recs[k], NULL) < 0)
                        continue; /* not ours to judge; skip */
                char *s = cJSON_PrintUnformatted(it);
                raw[k] = xstrdup(s);
                cJSON_free(s);
                k++;
        }
        cJSON_Delete(root);
        *ret = recs;
        *ret_items = raw;
        *ret_n = k;
        return 0;
}

static void set_member(cJSON *obj, const char *name, cJSON *value)
{
        if (cJSON_GetObjectItemCaseSensitive(obj, name))
                cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
        else
                cJSON_AddItemToObject(obj, name, value);
}

static cJSON *object_member(cJSON *obj, const char *name)
{
        cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!cJSON_IsObject(m)) {
                m = cJSON_CreateObject();
                set_member(obj, name, m);
        }
        return m;
}

char *lease_render(const char *as_read, const char *namespace_, const char *name,
                   const struct lease_record *r)
{
        cJSON *root = as_read ? cJSON_Parse(as_read) : cJSON_CreateObject();
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return NULL;
        }
        char t[40];
        set_member(root, "apiVersion", cJSON_CreateString("coordination.k8s.io/v1"));
        set_member(root, "kind", cJSON_CreateString("Lease"));
        cJSON *md = object_member(root, "metadata");
        set_member(md, "name", cJSON_CreateString(name));
        set_member(md, "namespace", cJSON_CreateString(namespace_));
        if (r->resource_version)
                set_member(md, "resourceVersion", cJSON_CreateString(r->resource_version));
        else
                cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
        if (r->shards > 0) {
                char n[16];

                snprintf(n, sizeof(n), "%u", r->shards);
                set_member(object_member(md, "annotations"), SHARDS_ANNOTATION,
                           cJSON_CreateString(n));
        }
        cJSON *spec = object_member(root, "spec");
        set_member(spec, "holderIdentity", cJSON_CreateString(r->holder ? r->holder : ""));
        set_member(spec, "leaseDurationSeconds", cJSON_CreateNumber((double)r->duration_seconds));
        set_member(spec, "acquireTime",
                   cJSON_CreateString(format_rfc3339(r->acquire_usec, t, sizeof(t))));
        set_member(spec, "renewTime",
                   cJSON_CreateString(format_rfc3339(r->renew_usec, t, sizeof(t))));
        set_member(spec, "leaseTransitions", cJSON_CreateNumber((double)r->transitions));
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        char *out = xstrdup(s);
        cJSON_free(s);
        return out;
}
