/* PagerDuty Events API v2 wire format (pagerduty-json.h): the enqueue body of an event, the
 * reading of PagerDuty's answer and the dedup key of a rollout's incident. Pure: builds and
 * parses buffers, no I/O.
 *
 * Limits are held here, not left to PagerDuty: a summary over 1024 bytes is cut at a UTF-8
 * boundary (PagerDuty would refuse the event, and a page that never arrives is worse than a
 * short one), while a dedup_key over 255 is refused (cutting it would merge incidents). */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/pagerduty-json.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"

static const char *const action_names[_PAGERDUTY_ACTION_MAX] = {
    [PAGERDUTY_TRIGGER] = "trigger",
    [PAGERDUTY_ACKNOWLEDGE] = "acknowledge",
    [PAGERDUTY_RESOLVE] = "resolve",
};

static const char *const severity_names[_PAGERDUTY_SEVERITY_MAX] = {
    [PAGERDUTY_CRITICAL] = "critical",
    [PAGERDUTY_ERROR] = "error",
    [PAGERDUTY_WARNING] = "warning",
    [PAGERDUTY_INFO] = "info",
};

const char *pagerduty_action_to_string(enum pagerduty_action a)
{
        return (unsigned)a < _PAGERDUTY_ACTION_MAX ? action_names[a] : NULL;
}

const char *pagerduty_severity_to_string(enum pagerduty_severity s)
{
        return (unsigned)s < _PAGERDUTY_SEVERITY_MAX ? severity_names[s] : NULL;
}

/* Adds key: a cleaned copy of s to o. Returns false on OOM. */
static bool add_text(cJSON *o, const char *key, const char *s, size_t max)
{
        char *t = utf8_clean_copy(s, max, false);
        cJSON *item = cJSON_AddStringToObject(o, key, t);

        free(t);
        return item != NULL;
}

static bool nonempty(const char *s)
{
        return s && *s;
}

static int build_payload(const struct pagerduty_event *e, cJSON *root)
{
        int r;
        cJSON *payload = cJSON_AddObjectToObject(root, "payload");

        if (!payload || !add_text(payload, "summary", e->summary, PAGERDUTY_SUMMARY_MAX) ||
            !add_text(payload, "source", e->source, PAGERDUTY_FIELD_MAX) ||
            !cJSON_AddStringToObject(payload, "severity", severity_names[e->severity]))
                return -ENOMEM;
        if (nonempty(e->timestamp) &&
            !add_text(payload, "timestamp", e->timestamp, PAGERDUTY_FIELD_MAX))
                return -ENOMEM;
        if (nonempty(e->component) &&
            !add_text(payload, "component", e->component, PAGERDUTY_FIELD_MAX))
                return -ENOMEM;
        if (nonempty(e->group) && !add_text(payload, "group", e->group, PAGERDUTY_FIELD_MAX))
                return -ENOMEM;
        if (nonempty(e->class_) && !add_text(payload, "class", e->class_, PAGERDUTY_FIELD_MAX))
                return -ENOMEM;
        if (e->n_details > 0) {
                cJSON *d = cJSON_AddObjectToObject(payload, "custom_details");
                size_t n =
                    e->n_details < PAGERDUTY_MAX_DETAILS ? e->n_details : PAGERDUTY_MAX_DETAILS;
                if (!d)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        if (!nonempty(e->details[i].key) || !e->details[i].value)
                                return -EINVAL;
                        char *k = utf8_clean_copy(e->details[i].key, PAGERDUTY_FIELD_MAX, true);
                        r = cJSON_GetObjectItemCaseSensitive(d, k) ? -EINVAL : 0;
                        if (r == 0 && !add_text(d, k, e->details[i].value, PAGERDUTY_FIELD_MAX))
                                r = -ENOMEM;
                        free(k);
                        if (r < 0)
                                return r;
                }
        }
        if (e->n_links > 0) {
                cJSON *links = cJSON_AddArrayToObject(root, "links");
                size_t n = e->n_links < PAGERDUTY_MAX_LINKS ? e->n_links : PAGERDUTY_MAX_LINKS;
                if (!links)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        cJSON *l;

                        if (!nonempty(e->links[i].href))
                                return -EINVAL;
                        l = cJSON_CreateObject();
                        if (!l)
                                return -ENOMEM;
                        cJSON_AddItemToArray(links, l);
                        if (!add_text(l, "href", e->links[i].href, PAGERDUTY_FIELD_MAX))
                                return -ENOMEM;
                        if (nonempty(e->links[i].text) &&
                            !add_text(l, "text", e->links[i].text, PAGERDUTY_FIELD_MAX))
                                return -ENOMEM;
                }
        }
        return 0;
}

int pagerduty_event_build(const struct pagerduty_event *e, char **ret)
{
        cJSON *root;
        char *s;
        int r;

        if (!e || !ret || (unsigned)e->action >= _PAGERDUTY_ACTION_MAX || !nonempty(e->routing_key))
                return -EINVAL;
        if (e->dedup_key && (strlen(e->dedup_key) > PAGERDUTY_DEDUP_KEY_MAX ||
                             !utf8_valid(e->dedup_key, strlen(e->dedup_key))))
                return -EINVAL;
        if (e->action == PAGERDUTY_TRIGGER) {
                if (!nonempty(e->summary) || !nonempty(e->source) ||
                    (unsigned)e->severity >= _PAGERDUTY_SEVERITY_MAX)
                        return -EINVAL;
        } else if (!nonempty(e->dedup_key))
                return -EINVAL;

        root = cJSON_CreateObject();
        if (!root)
                return -ENOMEM;
        r = -ENOMEM;
        if (!add_text(root, "routing_key", e->routing_key, PAGERDUTY_FIELD_MAX) ||
            !cJSON_AddStringToObject(root, "event_action", action_names[e->action]))
                goto out;
        if (nonempty(e->dedup_key) && !cJSON_AddStringToObject(root, "dedup_key", e->dedup_key))
                goto out;
        if (e->action == PAGERDUTY_TRIGGER) {
                r = build_payload(e, root);
                if (r < 0)
                        goto out;
        }
        r = -ENOMEM;
        s = cJSON_PrintUnformatted(root);
        if (!s)
                goto out;
        *ret = xstrdup(s);
        cJSON_free(s);
        r = 0;
out:
        cJSON_Delete(root);
        return r;
}

void pagerduty_result_done(struct pagerduty_result *r)
{
        if (!r)
                return;
        free(r->dedup_key);
        free(r->message);
        for (size_t i = 0; i < r->n_errors; i++)
                free(r->errors[i]);
        *r = (struct pagerduty_result){0};
}

static char *string_member(const cJSON *o, const char *key, size_t max)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        if (!cJSON_IsString(v) || !v->valuestring)
                return NULL;
        return utf8_clean_copy(v->valuestring, max, true);
}

int pagerduty_result_parse(long http_status, const char *body, size_t len,
                           struct pagerduty_result *ret)
{
        struct pagerduty_result r = {0};
        cJSON *root = NULL;

        if (body && len > 0)
                root = cJSON_ParseWithLength(body, len);
        if (cJSON_IsObject(root)) {
                const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors"), *e;

                r.message = string_member(root, "message", PAGERDUTY_RESULT_TEXT_MAX);
                if (!cJSON_IsArray(errors))
                        errors = NULL;
                cJSON_ArrayForEach (e, errors) {
                        if (r.n_errors == PAGERDUTY_RESULT_ERRORS)
                                break;
                        if (cJSON_IsString(e) && e->valuestring)
                                r.errors[r.n_errors++] = utf8_clean_copy(
                                    e->valuestring, PAGERDUTY_RESULT_TEXT_MAX, true);
                }
        }

        if (http_status == 202 || (http_status >= 200 && http_status < 300)) {
                const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
                char *key = string_member(root, "dedup_key", PAGERDUTY_DEDUP_KEY_MAX);

                if (cJSON_IsString(st) && st->valuestring &&
                    strcmp(st->valuestring, "success") == 0 && key && *key) {
                        r.status = PAGERDUTY_ACCEPTED;
                        r.dedup_key = key;
                } else {
                        r.status = PAGERDUTY_RETRY;
                        free(key);
                }
        } else if (http_status == 400)
                r.status = PAGERDUTY_INVALID;
        else if (http_status == 429 || (http_status >= 500 && http_status < 600) ||
                 http_status == 408)
                r.status = PAGERDUTY_RETRY;
        else
                r.status = PAGERDUTY_REFUSED;

        cJSON_Delete(root);
        *ret = r;
        return 0;
}

char *pagerduty_dedup_key(const char *canary, uint64_t started_usec)
{
        char tail[32];
        int tl = snprintf(tail, sizeof(tail), "/%" PRIu64, started_usec);
        size_t room = PAGERDUTY_DEDUP_KEY_MAX - strlen("canaryd/") - (size_t)tl;
        char *name = utf8_clean_copy(canary ? canary : "", room, true);
        char *key = xasprintf("canaryd/%s%s", name, tail);

        free(name);
        return key;
}
