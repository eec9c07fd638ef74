/* Slack's requests to us: signatures, form bodies, slash command text. HMAC-SHA256 and the
 * constant-time comparison are OpenSSL's libcrypto: a hand-written SHA-256 would be code to
 * get wrong where a mistake lets anyone move production traffic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "canaryd/names.h"
#include "canaryd/slack-interact.h"
#include "canaryd/util.h"
#include "slack-text.h"

#define FORM_FIELDS_MAX 64

static void hex(const unsigned char *d, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 15];
        }
        out[2 * n] = '\0';
}

/* "v0=" + 64 hex digits into out (68 bytes); false if HMAC fails. */
static bool sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                 char out[68])
{
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        size_t tlen = strlen(timestamp);
        size_t n = 3 + tlen + 1 + body_len;
        unsigned char *msg = xmalloc(n);

        memcpy(msg, "v0:", 3);
        memcpy(msg + 3, timestamp, tlen);
        msg[3 + tlen] = ':';
        memcpy(msg + 4 + tlen, body, body_len);
        bool ok =
            HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, mac, &mac_len) && mac_len == 32;
        free(msg);
        if (!ok)
                return false;
        memcpy(out, "v0=", 3);
        hex(mac, 32, out + 3);
        return true;
}

char *slack_signature_make(const char *secret, const char *timestamp, const char *body,
                           size_t body_len)
{
        char s[68];
        return sign(secret, timestamp, body, body_len, s) ? xstrdup(s) : NULL;
}

int slack_signature_check(const char *secret, const char *timestamp, const char *signature,
                          const char *body, size_t body_len, int64_t now_s, const char **ret_why)
{
        char want[68];
        char *end;
        long long ts;

        if (!timestamp || !*timestamp)
                return *ret_why = "no X-Slack-Request-Timestamp", -EACCES;
        if (!signature || !*signature)
                return *ret_why = "no X-Slack-Signature", -EACCES;
        errno = 0;
        ts = strtoll(timestamp, &end, 10);
        if (errno || *end || end == timestamp || strlen(timestamp) > 12)
                return *ret_why = "X-Slack-Request-Timestamp is not a number", -EACCES;
        if (ts < now_s - SLACK_SIGNATURE_WINDOW_SEC || ts > now_s + SLACK_SIGNATURE_WINDOW_SEC)
                return *ret_why = "X-Slack-Request-Timestamp is more than 5 minutes off", -EACCES;
        if (!secret || !sign(secret, timestamp, body, body_len, want))
                return *ret_why = "cannot compute the signature", -EACCES;
        if (strlen(signature) != 67 || CRYPTO_memcmp(want, signature, 67) != 0)
                return *ret_why = "X-Slack-Signature does not match", -EACCES;
        *ret_why = NULL;
        return 0;
}

static int unhex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes s[0..n) into a new string; NULL on a malformed escape or a NUL. */
static char *form_decode(const char *s, size_t n)
{
        char *out = xmalloc(n + 1), *o = out;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '+') {
                        *o++ = ' ';
                } else if (s[i] == '%') {
                        int hi = i + 2 < n ? unhex(s[i + 1]) : -1;
                        int lo = i + 2 < n ? unhex(s[i + 2]) : -1;
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                                free(out);
                                return NULL;
                        }
                        *o++ = (char)(hi * 16 + lo);
                        i += 2;
                } else if (s[i] == '\0') {
                        free(out);
                        return NULL;
                } else {
                        *o++ = s[i];
                }
        }
        *o = '\0';
        return out;
}

void form_free(struct form *f)
{
        for (size_t i = 0; i < 2 * f->n; i++)
                free(f->kv[i]);
        free(f->kv);
        *f = (struct form){0};
}

int form_parse(const char *body, size_t len, struct form *ret)
{
        struct form f = {.kv = xcalloc(2 * FORM_FIELDS_MAX, sizeof(char *))};
        size_t i = 0;

        while (i < len) {
                size_t end = i;
                while (end < len && body[end] != '&')
                        end++;
                if (end > i) {
                        const char *eq = memchr(body + i, '=', end - i);
                        size_t klen = eq ? (size_t)(eq - (body + i)) : end - i;
                        if (f.n == FORM_FIELDS_MAX)
                                goto bad;
                        f.kv[2 * f.n] = form_decode(body + i, klen);
                        f.kv[2 * f.n + 1] =
                            eq ? form_decode(eq + 1, (size_t)(body + end - (eq + 1))) : xstrdup("");
                        f.n++;
                        if (!f.kv[2 * f.n - 2] || !f.kv[2 * f.n - 1])
                                goto bad;
                }
                i = end + 1;
        }
        *ret = f;
        return 0;
bad:
        form_free(&f);
        return -EINVAL;
}

const char *form_get(const struct form *f, const char *key)
{
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->kv[2 * i], key) == 0)
                        return f->kv[2 * i + 1];
        return NULL;
}

const char *slack_verb_to_string(enum slack_verb v)
{
        static const char *const names[_SLACK_VERB_MAX] = {
            [SLACK_VERB_STATUS] = "status", [SLACK_VERB_PROMOTE] = "promote",
            [SLACK_VERB_ABORT] = "abort",   [SLACK_VERB_PAUSE] = "pause",
            [SLACK_VERB_RESUME] = "resume", [SLACK_VERB_APPROVE] = "approve"};
        return v < _SLACK_VERB_MAX ? names[v] : "unknown";
}

/* The next space-separated word of *p into out (size); false when there is none. */
static bool word(const char **p, char *out, size_t size)
{
        const char *s = *p + strspn(*p, " \t");
        size_t n = strcspn(s, " \t");

        if (n == 0)
                return false;
        if (n >= size)
                n = size - 1; /* too long for any valid word: checked by the caller */
        memcpy(out, s, n);
        out[n] = '\0';
        *p = s + strcspn(s, " \t");
        return true;
}

int slack_command_parse(const char *text, struct slack_command *ret, const char **ret_why)
{
        struct slack_command c = {0};
        const char *p = text ? text : "";
        char verb[16], extra[16];
        int v;

        *ret_why = "usage: /canary status|promote|approve|abort|pause|resume NAME";
        if (!word(&p, verb, sizeof(verb)))
                return -EINVAL;
        for (v = 0; v < _SLACK_VERB_MAX; v++)
                if (strcmp(verb, slack_verb_to_string(v)) == 0)
                        break;
        if (v == _SLACK_VERB_MAX)
                return -EINVAL;
        c.verb = v;
        if (!word(&p, c.name, sizeof(c.name)) || !dns1123_is_subdomain(c.name)) {
                *ret_why = "a canary name is needed (lowercase letters, digits, '-' and '.')";
                return -EINVAL;
        }
        if (c.verb == SLACK_VERB_ABORT) {
                p += strspn(p, " \t");
                snprintf(c.reason, sizeof(c.reason), "%s", p);
        } else if (c.verb == SLACK_VERB_PROMOTE && word(&p, extra, sizeof(extra))) {
                if (strcmp(extra, "--full") != 0) {
                        *ret_why = "promote takes only --full (promote to 100 % at once)";
                        return -EINVAL;
                }
                c.full = true;
        }
        if (c.verb != SLACK_VERB_ABORT && word(&p, extra, sizeof(extra))) {
                *ret_why = "unexpected words after the canary name";
                return -EINVAL;
        }
        *ret = c;
        *ret_why = NULL;
        return 0;
}

/* {"response_type": ..., ["replace_original": false,] "text": ...}, printed. */
static char *answer(bool in_channel, bool keep_original, const char *text)
{
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "response_type", in_channel ? "in_channel" : "ephemeral");
        if (keep_original)
                cJSON_AddFalseToObject(o, "replace_original");
        cJSON_AddStringToObject(o, "text", text);
        return slack_json_print_free(o);
}

char *slack_command_reply(bool in_channel, const char *text)
{
        return answer(in_channel, false, text);
}

static const struct {
        const char *action_id;
        enum slack_verb verb;
        bool full;
} actions[] = {
    {SLACK_ACTION_PROMOTE, SLACK_VERB_PROMOTE, false},
    {SLACK_ACTION_PROMOTE_FULL, SLACK_VERB_PROMOTE, true},
    {SLACK_ACTION_PAUSE, SLACK_VERB_PAUSE, false},
    {SLACK_ACTION_RESUME, SLACK_VERB_RESUME, false},
    {SLACK_ACTION_ABORT, SLACK_VERB_ABORT, false},
    {SLACK_ACTION_APPROVE, SLACK_VERB_APPROVE, false},
};

static const char *string_at(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

void slack_action_done(struct slack_action *a)
{
        free(a->blocks);
        a->blocks = NULL;
}

int slack_action_parse(const char *json, size_t len, struct slack_action *ret, const char **ret_why)
{
        struct slack_action a = {0};
        cJSON *root = cJSON_ParseWithLength(json, len);
        const cJSON *act;
        const char *type, *user, *id, *value, *url;
        size_t i;

        *ret_why = "the payload is not JSON";
        if (!cJSON_IsObject(root))
                goto bad;
        *ret_why = "not a block_actions payload";
        type = string_at(root, "type");
        if (!type || strcmp(type, "block_actions") != 0)
                goto bad;
        *ret_why = "no user.id";
        user = string_at(cJSON_GetObjectItemCaseSensitive(root, "user"), "id");
        if (!user || !*user || strlen(user) >= sizeof(a.user) ||
            strspn(user, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(user))
                goto bad;
        snprintf(a.user, sizeof(a.user), "%s", user);
        *ret_why = "no action";
        act = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "actions"), 0);
        id = string_at(act, "action_id");
        value = string_at(act, "value");
        if (!id || !value)
                goto bad;
        *ret_why = "not a canaryd button";
        for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
                if (strcmp(id, actions[i].action_id) == 0)
                        break;
        if (i == sizeof(actions) / sizeof(actions[0]))
                goto bad;
        a.cmd.verb = actions[i].verb;
        a.cmd.full = actions[i].full;
        *ret_why = "the button's value is not a canary name";
        if (strlen(value) >= sizeof(a.cmd.name) || !dns1123_is_subdomain(value))
                goto bad;
        snprintf(a.cmd.name, sizeof(a.cmd.name), "%s", value);
        if (a.cmd.verb == SLACK_VERB_ABORT)
                snprintf(a.cmd.reason, sizeof(a.cmd.reason), "aborted from Slack");
        url = string_at(root, "response_url");
        if (url && strlen(url) < sizeof(a.response_url) &&
            (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
            !strpbrk(url, " \r\n"))
                snprintf(a.response_url, sizeof(a.response_url), "%s", url);
        const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "message"), "blocks");
        if (cJSON_IsArray(blocks)) { /* ours to free(): a copy of cJSON's own allocation */
                char *p = cJSON_PrintUnformatted(blocks);
                a.blocks = p ? xstrdup(p) : NULL;
                cJSON_free(p);
        }
        cJSON_Delete(root);
        *ret = a;
        *ret_why = NULL;
        return 0;
bad:
        cJSON_Delete(root);
        return -EINVAL;
}

char *slack_action_update(const char *blocks, const char *line)
{
        cJSON *root = cJSON_CreateObject(), *out, *ctx, *els, *t;
        cJSON *old = blocks ? cJSON_Parse(blocks) : NULL, *b;

        cJSON_AddTrueToObject(root, "replace_original");
        cJSON_AddStringToObject(root, "text", line);
        out = cJSON_AddArrayToObject(root, "blocks");
        cJSON_ArrayForEach (b, old) {
                const char *type = string_at(b, "type");
                if (type && strcmp(type, "actions") == 0)
                        continue; /* the buttons: the next message carries the current ones */
                cJSON_AddItemToArray(out, cJSON_Duplicate(b, true));
        }
        cJSON_Delete(old);
        ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "type", "context");
        els = cJSON_AddArrayToObject(ctx, "elements");
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "mrkdwn");
        cJSON_AddStringToObject(t, "text", line);
        cJSON_AddItemToArray(els, t);
        cJSON_AddItemToArray(out, ctx);
        return slack_json_print_free(root);
}

char *slack_action_ephemeral(const char *text)
{
        return answer(false, true, text);
}

bool slack_id_valid(const char *id, const char *kinds)
{
        size_t n = id ? strlen(id) : 0;

        if (n < 3 || n > 32 || !strchr(kinds, id[0]))
                return false;
        return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

void slack_users_free(char **users, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(users[i]);
        free(users);
}

int slack_usergroup_users_parse(const char *json, size_t len, char ***ret_users, size_t *ret_n,
                                char **ret_error)
{
        cJSON *root = cJSON_ParseWithLength(json, len);
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
        const cJSON *users = cJSON_GetObjectItemCaseSensitive(root, "users");
        const cJSON *u;
        char **out = NULL;
        size_t n = 0;
        int r = -EINVAL;

        if (!cJSON_IsObject(root) || !cJSON_IsBool(ok)) {
                *ret_error = xstrdup("usergroups.users.list: the answer is not a Web API object");
                goto out;
        }
        if (cJSON_IsFalse(ok)) {
                const char *e = string_at(root, "error");
                *ret_error =
                    xstrdup(e && *e && strlen(e) < 64 && !strpbrk(e, "\r\n") ? e : "unknown");
                r = -EPERM;
                goto out;
        }
        if (!cJSON_IsArray(users)) {
                *ret_error = xstrdup("usergroups.users.list: no users array");
                goto out;
        }
        if (cJSON_GetArraySize(users) > SLACK_USERGROUP_USERS_MAX) {
                *ret_error =
                    xasprintf("usergroups.users.list: over %d members", SLACK_USERGROUP_USERS_MAX);
                goto out;
        }
        out = xcalloc((size_t)cJSON_GetArraySize(users) + 1, sizeof(*out));
        cJSON_ArrayForEach (u, users) {
                if (!cJSON_IsString(u) || !slack_id_valid(u->valuestring, "UW")) {
                        *ret_error = xstrdup("usergroups.users.list: a member is not a user ID");
                        goto out;
                }
                out[n++] = xstrdup(u->valuestring);
        }
        *ret_users = out;
        *ret_n = n;
        out = NULL;
        n = 0;
        r = 0;
out:
        slack_users_free(out, n);
        cJSON_Delete(root);
        return r;
}
