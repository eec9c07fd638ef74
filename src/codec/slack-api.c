/* Slack Web API answers (WIRE.md §4): {"ok": true, "ts": ...} or {"ok": false, "error": ...}
 * from chat.postMessage / chat.update, and the conversations.history / replies search by
 * metadata key that finds a message a lost answer left unknown. Pure: buffers in, values out. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/slack-json.h"
#include "slack-text.h"

/* Parses {"ok":...}; NULL when the body is not such an object. */
static cJSON *parse_api(const char *body, size_t len, bool *ret_ok)
{
        const cJSON *ok;
        cJSON *root;

        if (!body || len == 0)
                return NULL;
        root = cJSON_ParseWithLength(body, len);
        ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
        if (!cJSON_IsObject(root) || !cJSON_IsBool(ok)) {
                cJSON_Delete(root);
                return NULL;
        }
        *ret_ok = cJSON_IsTrue(ok);
        return root;
}

static char *api_error(const cJSON *root)
{
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");

        return slack_text_dup(cJSON_IsString(err) ? err->valuestring : "unknown_error", 100, false);
}

int slack_parse_post_response(const char *body, size_t len, char **ret_ts, char **ret_error)
{
        const cJSON *ts;
        bool ok = false;
        cJSON *root = parse_api(body, len, &ok);
        int r;

        if (!root)
                return -EBADMSG;
        if (ok) {
                ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
                if (ret_ts)
                        *ret_ts = cJSON_IsString(ts) ? xstrdup(ts->valuestring) : NULL;
                r = 0;
        } else {
                if (ret_error)
                        *ret_error = api_error(root);
                r = -EREMOTEIO;
        }
        cJSON_Delete(root);
        return r;
}

char *slack_response_channel(const char *body, size_t len)
{
        const cJSON *ch;
        bool ok = false;
        cJSON *root = parse_api(body, len, &ok);
        char *out = NULL;

        if (!root)
                return NULL;
        ch = cJSON_GetObjectItemCaseSensitive(root, "channel");
        if (ok && cJSON_IsString(ch) && *ch->valuestring)
                out = slack_text_dup(ch->valuestring, 100, false);
        cJSON_Delete(root);
        return out;
}

int slack_find_key(const char *body, size_t len, const char *key, char **ret_ts, char **ret_error)
{
        const cJSON *msgs, *m;
        bool ok = false;
        cJSON *root = parse_api(body, len, &ok);
        int r = 0;

        if (!root)
                return -EBADMSG;
        if (!ok) {
                if (ret_error)
                        *ret_error = api_error(root);
                cJSON_Delete(root);
                return -EREMOTEIO;
        }
        msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        if (!cJSON_IsArray(msgs)) {
                cJSON_Delete(root);
                return -EBADMSG;
        }
        cJSON_ArrayForEach (m, msgs) {
                const cJSON *md = cJSON_GetObjectItemCaseSensitive(m, "metadata");
                const cJSON *ep = cJSON_GetObjectItemCaseSensitive(md, "event_payload");
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(ep, "key");
                const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "ts");

                if (key && cJSON_IsString(k) && strcmp(k->valuestring, key) == 0) {
                        if (ret_ts)
                                *ret_ts = cJSON_IsString(ts) ? xstrdup(ts->valuestring) : NULL;
                        r = 1;
                        break;
                }
        }
        cJSON_Delete(root);
        return r;
}
