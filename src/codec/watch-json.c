/* Kubernetes watch streams and lists (WIRE.md §2.4). Pure: bytes in, lines and decoded events
 * out. The API server writes one JSON object per line in a chunked 200 response; chunk and read
 * boundaries fall anywhere, so lines are reassembled here. An expired resourceVersion is not an
 * HTTP 410 but an in-stream {"type":"ERROR","object":{"kind":"Status",...,"code":410}}. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/util.h"
#include "canaryd/watch-json.h"

#define DEFAULT_MAX_LINE (8u * 1024 * 1024)

/* ---- lines --------------------------------------------------------------------------------- */

void watch_lines_init(struct watch_lines *w, size_t max_line)
{
        *w = (struct watch_lines){.max_line = max_line ? max_line : DEFAULT_MAX_LINE};
}

void watch_lines_reset(struct watch_lines *w)
{
        buf_free(&w->partial);
        w->skipping = false;
}

size_t watch_lines_pending(const struct watch_lines *w)
{
        return w->partial.len;
}

static int emit(const char *line, size_t len, watch_line_fn *fn, void *userdata)
{
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return 0;
        return fn(line, len, userdata);
}

int watch_lines_feed(struct watch_lines *w, const char *data, size_t len, watch_line_fn *fn,
                     void *userdata)
{
        const char *p = data, *end = data + (data ? len : 0);

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = (size_t)((nl ? nl : end) - p);

                if (w->skipping) {
                        if (nl)
                                w->skipping = false;
                        p = nl ? nl + 1 : end;
                        continue;
                }
                if (w->partial.len + n > w->max_line) {
                        /* the line is too long: drop what we hold and the rest of it */
                        buf_free(&w->partial);
                        w->skipping = !nl;
                        return -EFBIG;
                }
                if (!nl) {
                        buf_append(&w->partial, p, n);
                        return 0;
                }
                int r;
                if (w->partial.len == 0) {
                        /* the common case: a whole line inside this chunk, no copy */
                        r = emit(p, n, fn, userdata);
                } else {
                        struct buf line = w->partial;
                        w->partial = (struct buf){0};
                        buf_append(&line, p, n);
                        r = emit(line.data, line.len, fn, userdata);
                        if (r < 0) {
                                /* keep the partial line as it was before this feed */
                                line.len -= n;
                                line.data[line.len] = '\0';
                                w->partial = line;
                                return r;
                        }
                        buf_free(&line);
                }
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        return 0;
}

/* ---- objects ------------------------------------------------------------------------------- */

static int fail(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **ret_error, const char *fmt, ...)
{
        if (ret_error) {
                va_list ap;
                va_start(ap, fmt);
                char *msg;
                if (vasprintf(&msg, fmt, ap) < 0)
                        msg = NULL;
                va_end(ap);
                *ret_error = msg ? msg : xstrdup("watch: invalid input");
        }
        return -EBADMSG;
}

void watch_object_done(struct watch_object *o)
{
        if (!o)
                return;
        free(o->json);
        free(o->namespace_);
        free(o->name);
        free(o->resource_version);
        *o = (struct watch_object){0};
}

static const char *string_member(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Copies the object and its identifying metadata. need_rv: a non-empty resourceVersion is
 * required (everything but an ERROR's Status carries one). */
static int object_take(const cJSON *obj, bool need_rv, const char *what, struct watch_object *ret,
                       char **ret_error)
{
        if (!cJSON_IsObject(obj))
                return fail(ret_error, "%s: object is missing or not a JSON object", what);
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        if (md && !cJSON_IsObject(md) && !cJSON_IsNull(md))
                return fail(ret_error, "%s: metadata is not an object", what);
        const char *rv = string_member(md, "resourceVersion");
        if (need_rv && (!rv || !*rv))
                return fail(ret_error, "%s: metadata.resourceVersion is missing", what);
        if (rv && strlen(rv) > WATCH_RV_MAX)
                return fail(ret_error, "%s: metadata.resourceVersion is longer than %d bytes", what,
                            WATCH_RV_MAX);
        char *text = cJSON_PrintUnformatted(obj);
        if (!text)
                return fail(ret_error, "%s: out of memory", what);
        const char *ns = string_member(md, "namespace"), *name = string_member(md, "name");
        *ret = (struct watch_object){
            .json = xstrdup(text),
            .len = strlen(text),
            .namespace_ = xstrdup(ns ? ns : ""),
            .name = xstrdup(name ? name : ""),
            .resource_version = xstrdup(rv ? rv : ""),
        };
        cJSON_free(text);
        return 0;
}

/* ---- events -------------------------------------------------------------------------------- */

static const char *const type_names[] = {
    [WATCH_ADDED] = "ADDED",       [WATCH_MODIFIED] = "MODIFIED", [WATCH_DELETED] = "DELETED",
    [WATCH_BOOKMARK] = "BOOKMARK", [WATCH_ERROR] = "ERROR",
};

const char *watch_event_type_to_string(enum watch_event_type t)
{
        return (size_t)t < ELEMENTSOF(type_names) ? type_names[t] : "?";
}

void watch_event_done(struct watch_event *e)
{
        if (!e)
                return;
        watch_object_done(&e->object);
        free(e->reason);
        free(e->message);
        *e = (struct watch_event){0};
}

int watch_event_decode(const char *line, size_t len, struct watch_event *ret, char **ret_error)
{
        if (!line || len == 0)
                return fail(ret_error, "watch event: empty line");
        cJSON *root = cJSON_ParseWithLength(line, len);
        if (!root)
                return fail(ret_error, "watch event: invalid JSON");
        int r = 0;
        struct watch_event e = {0};
        const char *type = string_member(root, "type");
        size_t t = 0;
        if (!cJSON_IsObject(root) || !type) {
                r = fail(ret_error, "watch event: not an object with a string \"type\"");
                goto out;
        }
        while (t < ELEMENTSOF(type_names) && strcmp(type, type_names[t]) != 0)
                t++;
        if (t == ELEMENTSOF(type_names)) {
                r = fail(ret_error, "watch event: unknown type \"%.32s\"", type);
                goto out;
        }
        e.type = (enum watch_event_type)t;
        const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
        r = object_take(obj, e.type != WATCH_ERROR, type_names[t], &e.object, ret_error);
        if (r < 0)
                goto out;
        if (e.type == WATCH_ERROR) {
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
                if (cJSON_IsNumber(code) && isfinite(code->valuedouble) && code->valuedouble >= 0 &&
                    code->valuedouble < 1000)
                        e.code = (long)code->valuedouble;
                const char *reason = string_member(obj, "reason");
                const char *message = string_member(obj, "message");
                e.reason = xstrdup(reason ? reason : "");
                e.message = xstrdup(message ? message : "");
        }
        *ret = e;
out:
        cJSON_Delete(root);
        return r;
}

/* ---- lists --------------------------------------------------------------------------------- */

void watch_list_done(struct watch_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n_items; i++)
                watch_object_done(&l->items[i]);
        free(l->items);
        free(l->resource_version);
        *l = (struct watch_list){0};
}

int watch_list_decode(const char *json, size_t len, struct watch_list *ret, char **ret_error)
{
        if (!json || len == 0)
                return fail(ret_error, "list: empty body");
        cJSON *root = cJSON_ParseWithLength(json, len);
        if (!root)
                return fail(ret_error, "list: invalid JSON");
        int r = 0;
        struct watch_list l = {0};
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
        const char *rv = string_member(md, "resourceVersion");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
        if (!cJSON_IsObject(root) || !cJSON_IsObject(md)) {
                r = fail(ret_error, "list: not an object with metadata");
                goto out;
        }
        if (!rv || !*rv || strlen(rv) > WATCH_RV_MAX) {
                r = fail(ret_error, "list: metadata.resourceVersion is missing or too long");
                goto out;
        }
        if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
                r = fail(ret_error, "list: items is not an array");
                goto out;
        }
        l.resource_version = xstrdup(rv);
        size_t n = cJSON_IsArray(items) ? (size_t)cJSON_GetArraySize(items) : 0;
        l.items = n ? xcalloc(n, sizeof(*l.items)) : NULL;
        const cJSON *it, *array = cJSON_IsArray(items) ? items : NULL;
        cJSON_ArrayForEach (it, array) {
                char what[48];
                snprintf(what, sizeof(what), "list: items[%zu]", l.n_items);
                /* items of built-in lists may lack their own resourceVersion in odd servers:
                 * the list's resourceVersion is what a watch resumes from */
                r = object_take(it, false, what, &l.items[l.n_items], ret_error);
                if (r < 0)
                        goto out;
                l.n_items++;
        }
        *ret = l;
        l = (struct watch_list){0};
out:
        watch_list_done(&l);
        cJSON_Delete(root);
        return r;
}
