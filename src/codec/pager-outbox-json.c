/* The PagerDuty outbox as JSON (canaryd/pager-outbox.h):
 *   {"version":1,"since":USEC,
 *    "events":[{"canary":..,"dedup_key":..,"action":"trigger|resolve","body":"{...}"}],
 *    "canaries":{"NAME":{"rollout":USEC,"open":true,"done":USEC}}}
 * Times are microseconds since the epoch, exact in a JSON number (below 2^53). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/pager-outbox.h"
#include "canaryd/util.h"

#define USEC_JSON_MAX 9007199254740992.0 /* 2^53: beyond, a double is not exact */

static void event_done(struct pager_outbox_event *e)
{
        free(e->canary);
        free(e->dedup_key);
        free(e->action);
        free(e->body);
}

void pager_outbox_done(struct pager_outbox *o)
{
        if (!o)
                return;
        for (size_t i = 0; i < o->n_events; i++)
                event_done(&o->events[i]);
        free(o->events);
        for (size_t i = 0; i < o->n_canaries; i++)
                free(o->canaries[i].name);
        free(o->canaries);
        *o = (struct pager_outbox){0};
}

/* Times as exact integers: cJSON prints a number with 15 digits when that reads back within a
 * relative DBL_EPSILON, which loses the last microsecond of a large one. */
static void add_usec(cJSON *o, const char *name, uint64_t usec)
{
        char buf[24];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)usec);
        cJSON_AddRawToObject(o, name, buf);
}

char *pager_outbox_to_json(const struct pager_outbox *o)
{
        cJSON *root = cJSON_CreateObject(), *events, *canaries;
        char *text, *ret;

        cJSON_AddNumberToObject(root, "version", 1);
        add_usec(root, "since", o->since_usec);
        events = cJSON_AddArrayToObject(root, "events");
        for (size_t i = 0; i < o->n_events; i++) {
                const struct pager_outbox_event *e = &o->events[i];
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "canary", e->canary);
                cJSON_AddStringToObject(j, "dedup_key", e->dedup_key);
                cJSON_AddStringToObject(j, "action", e->action);
                cJSON_AddStringToObject(j, "body", e->body);
                cJSON_AddItemToArray(events, j);
        }
        canaries = cJSON_AddObjectToObject(root, "canaries");
        for (size_t i = 0; i < o->n_canaries; i++) {
                const struct pager_outbox_canary *c = &o->canaries[i];
                cJSON *j = cJSON_CreateObject();
                add_usec(j, "rollout", c->rec.rollout_usec);
                cJSON_AddBoolToObject(j, "open", c->rec.open);
                add_usec(j, "done", c->rec.done_usec);
                cJSON_AddItemToObject(canaries, c->name, j);
        }
        text = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!text)
                abort(); /* out of memory, as xmalloc would */
        ret = xstrdup(text);
        cJSON_free(text);
        return ret;
}

static bool get_usec(const cJSON *o, const char *name, uint64_t *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble >= USEC_JSON_MAX ||
            v->valuedouble != (double)(uint64_t)v->valuedouble)
                return false;
        *ret = (uint64_t)v->valuedouble;
        return true;
}

/* A string member that is present, not empty and at most max bytes; borrowed. */
static const char *get_string(const cJSON *o, const char *name, size_t max)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > max)
                return NULL;
        return v->valuestring;
}

static const char *event_from_json(const cJSON *j, struct pager_outbox_event *e)
{
        const char *canary, *key, *action, *body;
        cJSON *parsed;

        if (!cJSON_IsObject(j))
                return "an event is not an object";
        canary = get_string(j, "canary", 253);
        key = get_string(j, "dedup_key", 255);
        action = get_string(j, "action", 16);
        body = get_string(j, "body", 1 << 20);
        if (!canary || !key || !action || !body)
                return "an event lacks canary, dedup_key, action or body";
        if (strcmp(action, "trigger") != 0 && strcmp(action, "resolve") != 0)
                return "an event's action is neither trigger nor resolve";
        parsed = cJSON_Parse(body);
        bool object = cJSON_IsObject(parsed);
        cJSON_Delete(parsed);
        if (!object)
                return "an event's body is not a JSON object";
        *e = (struct pager_outbox_event){.canary = xstrdup(canary),
                                         .dedup_key = xstrdup(key),
                                         .action = xstrdup(action),
                                         .body = xstrdup(body)};
        return NULL;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct pager_outbox_canary *)a)->name,
                      ((const struct pager_outbox_canary *)b)->name);
}

static const char *canaries_from_json(const cJSON *j, struct pager_outbox *o)
{
        size_t n = (size_t)cJSON_GetArraySize(j);
        const cJSON *c;

        if (!cJSON_IsObject(j))
                return "\"canaries\" is not an object";
        if (n > PAGER_OUTBOX_CANARIES_MAX)
                return "more canaries than an outbox holds";
        o->canaries = n ? xcalloc(n, sizeof(*o->canaries)) : NULL;
        cJSON_ArrayForEach (c, j) {
                struct alert_record rec = {0};
                if (!cJSON_IsObject(c) || !c->string || !c->string[0] || strlen(c->string) > 253 ||
                    !get_usec(c, "rollout", &rec.rollout_usec) ||
                    !get_usec(c, "done", &rec.done_usec) ||
                    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(c, "open")))
                        return "a canary's record is not {\"rollout\":N,\"open\":B,\"done\":N}";
                rec.open = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "open"));
                o->canaries[o->n_canaries++] =
                    (struct pager_outbox_canary){.name = xstrdup(c->string), .rec = rec};
        }
        if (o->n_canaries > 1)
                qsort(o->canaries, o->n_canaries, sizeof(*o->canaries), by_name);
        for (size_t i = 1; i < o->n_canaries; i++)
                if (strcmp(o->canaries[i - 1].name, o->canaries[i].name) == 0)
                        return "a canary is named twice";
        return NULL;
}

static const char *outbox_from_json(const cJSON *root, struct pager_outbox *o)
{
        const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version"),
                    *events = cJSON_GetObjectItemCaseSensitive(root, "events"), *e;
        const char *why;

        if (!cJSON_IsObject(root))
                return "not a JSON object";
        if (!cJSON_IsNumber(version) || version->valuedouble != 1)
                return "\"version\" is not 1";
        if (!get_usec(root, "since", &o->since_usec))
                return "\"since\" is not a time in microseconds";
        if (!cJSON_IsArray(events))
                return "\"events\" is not an array";
        if (cJSON_GetArraySize(events) > PAGER_OUTBOX_EVENTS_MAX)
                return "more events than an outbox holds";
        o->events = xcalloc((size_t)cJSON_GetArraySize(events) + 1, sizeof(*o->events));
        cJSON_ArrayForEach (e, events) {
                if ((why = event_from_json(e, &o->events[o->n_events])))
                        return why;
                o->n_events++;
        }
        return canaries_from_json(cJSON_GetObjectItemCaseSensitive(root, "canaries"), o);
}

int pager_outbox_from_json(const char *text, size_t len, struct pager_outbox *ret, char **ret_error)
{
        struct pager_outbox o = {0};
        cJSON *root = len <= PAGER_OUTBOX_FILE_MAX ? cJSON_ParseWithLength(text, len) : NULL;
        const char *why = len > PAGER_OUTBOX_FILE_MAX ? "larger than an outbox can be"
                          : !root                     ? "not JSON"
                                                      : outbox_from_json(root, &o);

        cJSON_Delete(root);
        *ret = (struct pager_outbox){0};
        if (why) {
                pager_outbox_done(&o);
                *ret_error = xstrdup(why);
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

/* The index of name in o->canaries, or where it would go (with *found false). */
static size_t search(const struct pager_outbox *o, const char *name, bool *found)
{
        size_t lo = 0, hi = o->n_canaries;

        *found = false;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(o->canaries[mid].name, name);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

const struct alert_record *pager_outbox_find(const struct pager_outbox *o, const char *name)
{
        bool found;
        size_t i = search(o, name, &found);
        return found ? &o->canaries[i].rec : NULL;
}

struct alert_record *pager_outbox_record(struct pager_outbox *o, const char *name)
{
        bool found;
        size_t lo = search(o, name, &found);

        if (found)
                return &o->canaries[lo].rec;
        if (o->n_canaries >= PAGER_OUTBOX_CANARIES_MAX)
                return NULL;
        o->canaries = xrealloc(o->canaries, (o->n_canaries + 1) * sizeof(*o->canaries));
        memmove(&o->canaries[lo + 1], &o->canaries[lo],
                (o->n_canaries - lo) * sizeof(*o->canaries));
        o->canaries[lo] = (struct pager_outbox_canary){.name = xstrdup(name)};
        o->n_canaries++;
        return &o->canaries[lo].rec;
}
