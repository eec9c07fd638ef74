/* Datadog events wire format (datadog-event-json.h): the POST /api/v1/events body of a rollout
 * event, the reading of Datadog's answer and the aggregation key of a rollout. Pure: builds and
 * parses buffers, no I/O.
 *
 * Limits are held here, not left to Datadog: the title and text are cut at a UTF-8 boundary
 * (the text keeps its closing markdown marker), tags are cut to Datadog's tag length, and the
 * aggregation key's canary name is cut so that the key stays within 100 characters. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/datadog-event-json.h"
#include "canaryd/datadog-json.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"

#define TEXT_OPEN  "%%% \n"
#define TEXT_CLOSE "\n %%%"

static const char *const kind_names[_DATADOG_EVENT_KIND_MAX] = {
    [DATADOG_EVENT_STARTED] = "started",
    [DATADOG_EVENT_PROMOTED] = "promoted",
    [DATADOG_EVENT_ROLLED_BACK] = "rolled back",
    [DATADOG_EVENT_ABORTED] = "aborted",
};

static const char *const alert_types[_DATADOG_EVENT_KIND_MAX] = {
    [DATADOG_EVENT_STARTED] = "info",
    [DATADOG_EVENT_PROMOTED] = "success",
    [DATADOG_EVENT_ROLLED_BACK] = "error",
    [DATADOG_EVENT_ABORTED] = "warning",
};

const char *datadog_event_kind_to_string(enum datadog_event_kind k)
{
        return (unsigned)k < _DATADOG_EVENT_KIND_MAX ? kind_names[k] : NULL;
}

const char *datadog_event_alert_type(enum datadog_event_kind k)
{
        return (unsigned)k < _DATADOG_EVENT_KIND_MAX ? alert_types[k] : NULL;
}

static bool nonempty(const char *s)
{
        return s && *s;
}

/* Adds key: s cleaned and cut to max bytes. Returns false on OOM. */
static bool add_text(cJSON *o, const char *key, const char *s, size_t max, bool no_controls)
{
        char *t = utf8_clean_copy(s, max, no_controls);
        cJSON *item = cJSON_AddStringToObject(o, key, t);

        free(t);
        return item != NULL;
}

/* Appends "name:value" (value cleaned, the whole cut to DATADOG_EVENT_TAG_MAX). */
static bool add_tag(cJSON *tags, const char *name, const char *value)
{
        char *raw = xasprintf("%s:%s", name, value);
        char *t = utf8_clean_copy(raw, DATADOG_EVENT_TAG_MAX, true);
        cJSON *item = cJSON_CreateString(t);

        free(raw);
        free(t);
        return item && cJSON_AddItemToArray(tags, item);
}

char *datadog_event_aggregation_key(const char *canary, uint64_t started_usec)
{
        char tail[32];
        int n = snprintf(tail, sizeof(tail), "/%" PRIu64, started_usec);
        size_t room = DATADOG_EVENT_AGG_KEY_MAX - strlen("canaryd/") - (size_t)n;
        char *name = utf8_clean_copy(canary ? canary : "", room, true);
        char *key = xasprintf("canaryd/%s%s", name, tail);

        free(name);
        return key;
}

/* The markdown body: what happened, where, and why; cut to fit with its markers. */
static char *event_text(const struct datadog_event *e)
{
        struct buf b = {0};
        char *field, *body, *text;
        size_t room = DATADOG_EVENT_TEXT_MAX - strlen(TEXT_OPEN) - strlen(TEXT_CLOSE);

        buf_printf(&b, "Canary **%s** in namespace **%s** %s at %u%%", e->canary, e->namespace_,
                   kind_names[e->kind], e->weight_pct);
        if (e->n_steps > 0)
                buf_printf(&b, " (step %u of %u)", e->step, e->n_steps);
        buf_puts(&b, ".\n");
        if (nonempty(e->revision))
                buf_printf(&b, "\nRevision: `%s`", e->revision);
        if (nonempty(e->reason)) {
                field = utf8_clean_copy(e->reason, DATADOG_EVENT_FIELD_MAX, false);
                buf_printf(&b, "\nReason: %s", field);
                free(field);
        }
        if (nonempty(e->actor)) {
                field = utf8_clean_copy(e->actor, DATADOG_EVENT_FIELD_MAX, true);
                buf_printf(&b, "\nBy: %s", field);
                free(field);
        }
        if (nonempty(e->link)) {
                field = utf8_clean_copy(e->link, DATADOG_EVENT_FIELD_MAX, true);
                buf_printf(&b, "\n\n[Rollout report](%s)", field);
                free(field);
        }
        body = utf8_clean_copy(b.data, room, false);
        buf_free(&b);
        text = xasprintf("%s%s%s", TEXT_OPEN, body, TEXT_CLOSE);
        free(body);
        return text;
}

int datadog_event_build(const struct datadog_event *e, char **ret)
{
        cJSON *root, *tags;
        char *title, *text, *key, *out;
        bool ok;

        if (!e || !ret || !nonempty(e->canary) || !nonempty(e->namespace_) ||
            (unsigned)e->kind >= _DATADOG_EVENT_KIND_MAX)
                return -EINVAL;
        root = cJSON_CreateObject();
        if (!root)
                return -ENOMEM;
        title = xasprintf("canaryd: %s %s at %u%%", e->canary, kind_names[e->kind], e->weight_pct);
        text = event_text(e);
        key = datadog_event_aggregation_key(e->canary, e->started_usec);
        ok = add_text(root, "title", title, DATADOG_EVENT_TITLE_MAX, true) &&
             cJSON_AddStringToObject(root, "text", text) &&
             cJSON_AddStringToObject(root, "alert_type", alert_types[e->kind]) &&
             cJSON_AddStringToObject(root, "priority", "normal") &&
             cJSON_AddNumberToObject(root, "date_happened", (double)(e->at_usec / USEC_PER_SEC)) &&
             cJSON_AddStringToObject(root, "aggregation_key", key) &&
             (tags = cJSON_AddArrayToObject(root, "tags")) && add_tag(tags, "canary", e->canary) &&
             add_tag(tags, "namespace", e->namespace_) &&
             (!nonempty(e->revision) || add_tag(tags, "revision", e->revision)) &&
             add_tag(tags, "source", "canaryd");
        free(title);
        free(text);
        free(key);
        out = ok ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

void datadog_event_result_done(struct datadog_event_result *r)
{
        if (!r)
                return;
        free(r->errors);
        *r = (struct datadog_event_result){0};
}

/* event.id of a 2xx answer: an integer, or the id_str digits; 0 when neither is there. */
static int64_t event_id(const char *body, size_t len)
{
        cJSON *root, *ev, *id;
        int64_t v = 0;

        if (!body || len == 0)
                return 0;
        root = cJSON_ParseWithLength(body, len);
        if (!root)
                return 0;
        ev = cJSON_GetObjectItemCaseSensitive(root, "event");
        id = cJSON_GetObjectItemCaseSensitive(ev, "id_str");
        if (cJSON_IsString(id) && id->valuestring[0] >= '0' && id->valuestring[0] <= '9') {
                char *end;
                long long x = strtoll(id->valuestring, &end, 10);
                if (*end == '\0' && x > 0)
                        v = x;
        }
        id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        /* doubles hold integers exactly up to 2^53; beyond, id_str alone is exact */
        if (v == 0 && cJSON_IsNumber(id) && id->valuedouble >= 1 &&
            id->valuedouble < 9007199254740992.0)
                v = (int64_t)id->valuedouble;
        cJSON_Delete(root);
        return v;
}

int datadog_event_result_parse(long http_status, const char *body, size_t len,
                               struct datadog_event_result *ret)
{
        *ret = (struct datadog_event_result){0};
        if (!body)
                len = 0;
        if (http_status >= 200 && http_status <= 299) {
                ret->status = DATADOG_EVENT_ACCEPTED;
                ret->id = event_id(body, len);
                return 0;
        }
        ret->errors = datadog_parse_errors(body, len);
        if (http_status == 400)
                ret->status = DATADOG_EVENT_INVALID;
        else if (http_status == 429 || http_status == 408 ||
                 (http_status >= 500 && http_status <= 599))
                ret->status = DATADOG_EVENT_RETRY;
        else
                ret->status = DATADOG_EVENT_REFUSED;
        return 0;
}
