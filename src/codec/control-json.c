/* The control protocol's JSON codec (docs/control-protocol.md): request and reply lines, and
 * the status table canaryctl shows to people. Pure: works on buffers, no I/O. Every input is
 * untrusted: NUL bytes, invalid UTF-8, escaped NULs, unknown or duplicate members and wrong
 * types are refused with a message that never echoes more than a short, sanitized excerpt. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/config.h"
#include "canaryd/control-json.h"
#include "canaryd/state-json.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"

#define NAME_MAX_LEN     253
#define REVISION_MAX_LEN 1024
#define REASON_MAX_LEN   4096
#define ROLLOUT_MAX_LEN  64

static const char *const command_names[_CONTROL_COMMAND_MAX] = {
    [CONTROL_STATUS] = "status", [CONTROL_START] = "start",     [CONTROL_PROMOTE] = "promote",
    [CONTROL_ABORT] = "abort",   [CONTROL_PAUSE] = "pause",     [CONTROL_RESUME] = "resume",
    [CONTROL_RETRY] = "retry",   [CONTROL_HISTORY] = "history", [CONTROL_APPROVE] = "approve",
    [CONTROL_REPORT] = "report",
};

const char *control_command_to_string(enum control_command c)
{
        if ((unsigned)c >= _CONTROL_COMMAND_MAX)
                return NULL;
        return command_names[c];
}

int control_command_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _CONTROL_COMMAND_MAX; i++)
                if (strcmp(command_names[i], s) == 0)
                        return i;
        return -EINVAL;
}

void control_request_done(struct control_request *r)
{
        if (!r)
                return;
        free(r->name);
        free(r->revision);
        free(r->reason);
        free(r->rollout);
        *r = (struct control_request){0};
}

void control_reply_done(struct control_reply *r)
{
        if (!r)
                return;
        free(r->message);
        free(r->error);
        free(r->status_json);
        free(r->history_json);
        free(r->report_json);
        *r = (struct control_reply){0};
}

/* True when a JSON string in the text holds the escape \u0000, which cJSON would turn into a
 * silently truncated C string. Tracks string and escape state so "\\u0000" is not a hit. */
static bool has_escaped_nul(const char *s, size_t len)
{
        bool in_string = false;
        for (size_t i = 0; i < len; i++) {
                if (!in_string) {
                        if (s[i] == '"')
                                in_string = true;
                        continue;
                }
                if (s[i] == '"') {
                        in_string = false;
                } else if (s[i] == '\\' && i + 1 < len) {
                        if (s[i + 1] == 'u' && i + 5 < len && strncmp(s + i + 2, "0000", 4) == 0)
                                return true;
                        i++; /* skip the escaped character */
                }
        }
        return false;
}

/* Appends a short excerpt of untrusted text: printable ASCII only, at most 40 bytes. */
static void buf_put_excerpt(struct buf *b, const char *s)
{
        size_t i;
        buf_puts(b, "\"");
        for (i = 0; s[i] && i < 40; i++) {
                unsigned char c = (unsigned char)s[i];
                char ch = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
                buf_append(b, &ch, 1);
        }
        buf_puts(b, s[i] ? "...\"" : "\"");
}

static char *excerpt_error(const char *fmt_before, const char *s, const char *after)
{
        struct buf b = {0};
        buf_puts(&b, fmt_before);
        buf_put_excerpt(&b, s);
        buf_puts(&b, after);
        return buf_steal(&b);
}

static bool has_control_chars(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* Common checks of a received line, then the JSON parse. Returns the tree or NULL with
 * *ret_error set. what = "request" or "reply". */
static cJSON *parse_line(const char *line, size_t len, size_t max, const char *what,
                         char **ret_error)
{
        if (!line) {
                *ret_error = xasprintf("empty %s", what);
                return NULL;
        }
        if (len > max) {
                *ret_error = xasprintf("%s line too long (max %zu bytes)", what, max);
                return NULL;
        }
        if (memchr(line, '\0', len)) {
                *ret_error = xasprintf("%s contains a NUL byte", what);
                return NULL;
        }
        if (!utf8_valid(line, len)) {
                *ret_error = xasprintf("%s is not valid UTF-8", what);
                return NULL;
        }
        if (has_escaped_nul(line, len)) {
                *ret_error = xasprintf("%s contains an escaped NUL (\\u0000)", what);
                return NULL;
        }
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", line[i]))
                i++;
        if (i == len) {
                *ret_error = xasprintf("empty %s", what);
                return NULL;
        }

        /* A NUL-terminated copy: no reliance on cJSON's length handling. */
        char *copy = xstrndup(line, len);
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithOpts(copy, &end, false);
        if (!root) {
                const char *at = cJSON_GetErrorPtr();
                size_t off = (at && at >= copy && at <= copy + len) ? (size_t)(at - copy) : 0;
                *ret_error = xasprintf("%s is not valid JSON (near byte %zu)", what, off + 1);
                free(copy);
                return NULL;
        }
        size_t off = end ? (size_t)(end - copy) : len;
        free(copy);
        while (off < len && strchr(" \t\r\n", line[off]))
                off++;
        if (off < len) {
                cJSON_Delete(root);
                *ret_error = xasprintf("%s has trailing data after the JSON value (byte %zu)", what,
                                       off + 1);
                return NULL;
        }
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                *ret_error = xasprintf("%s must be a JSON object", what);
                return NULL;
        }
        return root;
}

enum {
        M_COMMAND = 1 << 0,
        M_NAME = 1 << 1,
        M_REVISION = 1 << 2,
        M_REASON = 1 << 3,
        M_FULL = 1 << 4,
        M_ALL = 1 << 5,
        M_ROLLOUT = 1 << 6,
};

static const struct {
        const char *key;
        unsigned bit;
} request_members[] = {
    {"command", M_COMMAND}, {"name", M_NAME}, {"revision", M_REVISION}, {"reason", M_REASON},
    {"full", M_FULL},       {"all", M_ALL},   {"rollout", M_ROLLOUT},
};

/* Members each command accepts besides "command". */
static unsigned allowed_members(enum control_command c)
{
        switch (c) {
        case CONTROL_STATUS:
                return M_NAME;
        case CONTROL_START:
                return M_NAME | M_REVISION;
        case CONTROL_PROMOTE:
                return M_NAME | M_FULL;
        case CONTROL_ABORT:
                return M_NAME | M_REASON;
        case CONTROL_HISTORY:
                return M_NAME | M_ALL;
        case CONTROL_REPORT:
                return M_NAME | M_ROLLOUT;
        case CONTROL_PAUSE:
        case CONTROL_RESUME:
        case CONTROL_RETRY:
        case CONTROL_APPROVE:
        case _CONTROL_COMMAND_MAX:
                break;
        }
        return M_NAME;
}

/* Copies a string member after checking type, length and content. */
static int take_string(const cJSON *item, const char *key, size_t max, char **ret, char **ret_error)
{
        if (!cJSON_IsString(item) || !item->valuestring) {
                *ret_error = xasprintf("\"%s\" must be a string", key);
                return -EINVAL;
        }
        size_t n = strlen(item->valuestring);
        if (n == 0) {
                *ret_error = xasprintf("\"%s\" must not be empty", key);
                return -EINVAL;
        }
        if (n > max) {
                *ret_error = xasprintf("\"%s\" is too long (max %zu bytes)", key, max);
                return -EINVAL;
        }
        if (has_control_chars(item->valuestring)) {
                *ret_error = xasprintf("\"%s\" must not contain control characters", key);
                return -EINVAL;
        }
        *ret = xstrdup(item->valuestring);
        return 0;
}

int control_request_parse(const char *line, size_t len, struct control_request *ret,
                          char **ret_error)
{
        char *error = NULL;
        struct control_request req = {0};
        unsigned seen = 0;
        int r = -EINVAL;

        cJSON *root = parse_line(line, len, CONTROL_LINE_MAX, "request", &error);
        if (!root)
                goto fail;

        /* First pass: every member known, none twice. */
        const cJSON *item;
        cJSON_ArrayForEach (item, root) {
                unsigned bit = 0;
                for (size_t i = 0; i < ELEMENTSOF(request_members); i++)
                        if (item->string && strcmp(item->string, request_members[i].key) == 0)
                                bit = request_members[i].bit;
                if (!bit) {
                        error =
                            excerpt_error("unknown member ", item->string ? item->string : "", "");
                        goto fail;
                }
                if (seen & bit) {
                        error = xasprintf("duplicate member \"%s\"", item->string);
                        goto fail;
                }
                seen |= bit;
        }

        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "command");
        if (!cmd) {
                error = xstrdup("missing \"command\"");
                goto fail;
        }
        if (!cJSON_IsString(cmd) || !cmd->valuestring) {
                error = xstrdup("\"command\" must be a string");
                goto fail;
        }
        int c = control_command_from_string(cmd->valuestring);
        if (c < 0) {
                error = excerpt_error("unknown command ", cmd->valuestring,
                                      " (expected status, start, promote, approve, abort, "
                                      "pause, resume, retry, history or report)");
                goto fail;
        }
        req.command = (enum control_command)c;

        unsigned allowed = allowed_members(req.command) | M_COMMAND;
        for (size_t i = 0; i < ELEMENTSOF(request_members); i++)
                if ((seen & request_members[i].bit) && !(allowed & request_members[i].bit)) {
                        error = xasprintf("\"%s\" is not valid for command \"%s\"",
                                          request_members[i].key, command_names[c]);
                        goto fail;
                }

        item = cJSON_GetObjectItemCaseSensitive(root, "name");
        if (item) {
                if (take_string(item, "name", NAME_MAX_LEN, &req.name, &error) < 0)
                        goto fail;
        } else if (req.command != CONTROL_STATUS) {
                error = xasprintf("command \"%s\" requires \"name\"", command_names[c]);
                goto fail;
        }
        item = cJSON_GetObjectItemCaseSensitive(root, "revision");
        if (item && take_string(item, "revision", REVISION_MAX_LEN, &req.revision, &error) < 0)
                goto fail;
        item = cJSON_GetObjectItemCaseSensitive(root, "reason");
        if (item && take_string(item, "reason", REASON_MAX_LEN, &req.reason, &error) < 0)
                goto fail;
        item = cJSON_GetObjectItemCaseSensitive(root, "rollout");
        if (item && take_string(item, "rollout", ROLLOUT_MAX_LEN, &req.rollout, &error) < 0)
                goto fail;
        item = cJSON_GetObjectItemCaseSensitive(root, "full");
        if (item) {
                if (!cJSON_IsBool(item)) {
                        error = xstrdup("\"full\" must be true or false");
                        goto fail;
                }
                req.full = cJSON_IsTrue(item);
        }
        item = cJSON_GetObjectItemCaseSensitive(root, "all");
        if (item) {
                if (!cJSON_IsBool(item)) {
                        error = xstrdup("\"all\" must be true or false");
                        goto fail;
                }
                req.all = cJSON_IsTrue(item);
        }

        cJSON_Delete(root);
        *ret = req;
        return 0;
fail:
        cJSON_Delete(root);
        control_request_done(&req);
        if (ret_error)
                *ret_error = error;
        else
                free(error);
        return r;
}

/* cJSON allocates with malloc (default hooks), so its strings are free()-able. */
static char *print_or_die(cJSON *root)
{
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!s)
                abort(); /* only on OOM: same policy as xmalloc */
        return s;
}

static cJSON *new_object_or_die(void)
{
        cJSON *o = cJSON_CreateObject();
        if (!o)
                abort();
        return o;
}

char *control_request_format(const struct control_request *r)
{
        cJSON *root = new_object_or_die();
        const char *cmd = control_command_to_string(r->command);
        cJSON_AddStringToObject(root, "command", cmd ? cmd : "");
        if (r->name)
                cJSON_AddStringToObject(root, "name", r->name);
        if (r->revision)
                cJSON_AddStringToObject(root, "revision", r->revision);
        if (r->reason)
                cJSON_AddStringToObject(root, "reason", r->reason);
        if (r->full)
                cJSON_AddTrueToObject(root, "full");
        if (r->all)
                cJSON_AddTrueToObject(root, "all");
        if (r->rollout)
                cJSON_AddStringToObject(root, "rollout", r->rollout);
        return print_or_die(root);
}

char *control_reply_error(int code, const char *error)
{
        cJSON *root = new_object_or_die();
        cJSON_AddFalseToObject(root, "ok");
        cJSON_AddNumberToObject(root, "code", code >= 1 ? code : 1);
        cJSON_AddStringToObject(root, "error", error ? error : "unknown error");
        return print_or_die(root);
}

/* A document the daemon built itself is an object whose brackets balance outside strings and
 * whose strings end: enough to refuse a truncated or damaged one without parsing it into a tree
 * (a 10,000-canary status is 5 MB of JSON, and its cJSON tree several times that). */
static bool object_balanced(const char *s)
{
        size_t depth = 0;
        bool in_string = false;

        if (!s || *s != '{')
                return false;
        for (const char *p = s; *p; p++) {
                if (in_string) {
                        if (*p == '\\' && p[1])
                                p++;
                        else if (*p == '"')
                                in_string = false;
                        else if ((unsigned char)*p < 0x20)
                                return false;
                        continue;
                }
                if (*p == '"')
                        in_string = true;
                else if (*p == '{' || *p == '[')
                        depth++;
                else if (*p == '}' || *p == ']') {
                        if (depth == 0)
                                return false;
                        if (--depth == 0 && p[1])
                                return false; /* something after the object */
                }
        }
        return depth == 0 && !in_string;
}

/* {"ok":true,"message":...[,"<key>":<data_json>]}, the document spliced in as text. */
static char *reply_with(const char *message, const char *key, const char *data_json,
                        const char *what)
{
        if (data_json && !object_balanced(data_json)) {
                char *m =
                    xasprintf("internal error: the daemon built an invalid %s document", what);
                char *r = control_reply_error(1, m);
                free(m);
                return r;
        }
        cJSON *m = cJSON_CreateString(message ? message : "");
        if (!m)
                abort();
        char *ms = print_or_die(m);
        /* one allocation of the exact size: data_json is the whole status, 5 MB at 10,000
         * canaries, and a growing buffer would hold up to twice that */
        static const char head[] = "{\"ok\":true,\"message\":";
        size_t n_head = sizeof(head) - 1, n_ms = strlen(ms), n_key = data_json ? strlen(key) : 0,
               n_data = data_json ? strlen(data_json) : 0;
        size_t len = n_head + n_ms + (data_json ? n_key + 4 + n_data : 0) + 1;
        char *out = xmalloc(len + 1), *p = out;
        p = mempcpy(p, head, n_head);
        p = mempcpy(p, ms, n_ms);
        free(ms);
        if (data_json) {
                p = mempcpy(p, ",\"", 2);
                p = mempcpy(p, key, n_key);
                p = mempcpy(p, "\":", 2);
                p = mempcpy(p, data_json, n_data);
        }
        *p++ = '}';
        *p = '\0';
        return out;
}

char *control_reply_ok(const char *message, const char *data_json)
{
        return reply_with(message, "status", data_json, "status");
}

char *control_reply_history(const char *message, const char *history_json)
{
        return reply_with(message, "history", history_json, "history");
}

char *control_reply_report(const char *message, const char *report_json)
{
        return reply_with(message, "report", report_json, "report");
}

int control_reply_parse(const char *line, size_t len, struct control_reply *ret, char **ret_error)
{
        char *error = NULL;
        struct control_reply rep = {0};

        cJSON *root = parse_line(line, len, CONTROL_REPLY_MAX, "reply", &error);
        if (!root)
                goto fail;
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
        if (!cJSON_IsBool(ok)) {
                error = xstrdup("reply has no boolean \"ok\"");
                goto fail;
        }
        rep.ok = cJSON_IsTrue(ok);
        if (rep.ok) {
                const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
                if (cJSON_IsString(msg) && msg->valuestring[0])
                        rep.message = xstrdup(msg->valuestring);
                else if (msg && !cJSON_IsString(msg) && !cJSON_IsNull(msg)) {
                        error = xstrdup("reply \"message\" must be a string");
                        goto fail;
                }
                const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
                if (cJSON_IsObject(status)) {
                        rep.status_json = cJSON_PrintUnformatted(status);
                        if (!rep.status_json)
                                abort();
                } else if (status && !cJSON_IsNull(status)) {
                        error = xstrdup("reply \"status\" must be an object");
                        goto fail;
                }
                const cJSON *history = cJSON_GetObjectItemCaseSensitive(root, "history");
                if (cJSON_IsObject(history)) {
                        rep.history_json = cJSON_PrintUnformatted(history);
                        if (!rep.history_json)
                                abort();
                } else if (history && !cJSON_IsNull(history)) {
                        error = xstrdup("reply \"history\" must be an object");
                        goto fail;
                }
                const cJSON *report = cJSON_GetObjectItemCaseSensitive(root, "report");
                if (cJSON_IsObject(report)) {
                        rep.report_json = cJSON_PrintUnformatted(report);
                        if (!rep.report_json)
                                abort();
                } else if (report && !cJSON_IsNull(report)) {
                        error = xstrdup("reply \"report\" must be an object");
                        goto fail;
                }
        } else {
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
                rep.code = 1;
                if (cJSON_IsNumber(code) && code->valuedouble >= 1 && code->valuedouble <= 255)
                        rep.code = (int)code->valuedouble;
                const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
                rep.error = xstrdup(cJSON_IsString(err) && err->valuestring[0]
                                        ? err->valuestring
                                        : "request refused (no reason given)");
        }
        cJSON_Delete(root);
        *ret = rep;
        return 0;
fail:
        cJSON_Delete(root);
        control_reply_done(&rep);
        if (ret_error)
                *ret_error = error;
        else
                free(error);
        return -EINVAL;
}

/* ---- status table ---- */

struct table {
        size_t ncols, nrows; /* nrows includes the header */
        char **cells;        /* row-major, owned */
};

static void table_add_row(struct table *t, char **row /* ncols strings, taken */)
{
        t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
        memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(char *));
        t->nrows++;
}

static void table_free(struct table *t)
{
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (struct table){0};
}

/* Display width: code points, as the text is valid UTF-8. */
static size_t text_width(const char *s)
{
        return utf8_chars(s, strlen(s));
}

static void table_render(const struct table *t, struct buf *out)
{
        size_t *width = xcalloc(t->ncols, sizeof(size_t));
        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols; c++) {
                        size_t w = text_width(t->cells[r * t->ncols + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->nrows; r++) {
                for (size_t c = 0; c < t->ncols; c++) {
                        const char *cell = t->cells[r * t->ncols + c];
                        buf_puts(out, cell);
                        if (c + 1 == t->ncols)
                                break;
                        for (size_t pad = text_width(cell); pad < width[c] + 2; pad++)
                                buf_puts(out, " ");
                }
                buf_puts(out, "\n");
        }
        free(width);
}

/* Cell text of a string member: control characters become '?', absent or null becomes "-". */
static char *cell_string(const cJSON *obj, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!cJSON_IsString(v) || !v->valuestring[0])
                return xstrdup("-");
        char *s = xstrdup(v->valuestring);
        for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

static char *format_number(double v)
{
        if (isnan(v))
                return xstrdup("nan");
        if (v == floor(v) && fabs(v) < 1e15)
                return xasprintf("%.0f", v);
        return xasprintf("%.6g", v);
}

/* A number, or a string shown as is (e.g. "nan"), else "-". */
static char *cell_value(const cJSON *obj, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (cJSON_IsNumber(v))
                return format_number(v->valuedouble);
        return cell_string(obj, key);
}

static bool get_number(const cJSON *obj, const char *key, double *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!cJSON_IsNumber(v))
                return false;
        *ret = v->valuedouble;
        return true;
}

/* The phase, and "(awaiting approval)" after it while the rollout waits (SPEC §9). */
static char *cell_phase(const cJSON *c)
{
        char *phase = cell_string(c, "phase");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "awaiting_approval")))
                return phase;
        char *s = xasprintf("%s (awaiting approval)", phase);
        free(phase);
        return s;
}

static char *cell_step(const cJSON *c)
{
        double step, steps;
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(c, "steps");
        bool have_steps = get_number(c, "steps", &steps);
        if (cJSON_IsArray(sv)) { /* tolerate the list of weights */
                steps = cJSON_GetArraySize(sv);
                have_steps = true;
        }
        if (!get_number(c, "step", &step))
                return xstrdup("-");
        char *a = format_number(step);
        if (!have_steps)
                return a;
        char *b = format_number(steps);
        char *s = xasprintf("%s/%s", a, b);
        free(a);
        free(b);
        return s;
}

static char *percent(double w)
{
        char *n = format_number(w);
        char *s = xasprintf("%s%%", n);
        free(n);
        return s;
}

/* The daemon read routes that send different weights to the canary (routes_agree false; null
 * or absent: it has not read them, or an older daemon). */
static bool routes_disagree(const cJSON *c)
{
        return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "routes_agree"));
}

/* What the routes hold, as the daemon last read them: "0%", "0% (routes disagree)", or "-". */
static char *cell_observed(const cJSON *c)
{
        double w;
        if (!get_number(c, "observed_weight", &w))
                return xstrdup("-");
        char *p = percent(w);
        if (!routes_disagree(c))
                return p;
        char *s = xasprintf("%s (routes disagree)", p);
        free(p);
        return s;
}

/* The step's weight; not wide, followed by what the routes hold when that differs (a hand
 * edit): "10% (observed 0%)", "10% (routes disagree)". */
static char *cell_weight(const cJSON *c, bool wide)
{
        double w, seen;
        if (!get_number(c, "canary_weight", &w))
                return xstrdup("-");
        char *p = percent(w), *s = NULL;
        if (wide || !get_number(c, "observed_weight", &seen))
                return p;
        if (routes_disagree(c))
                s = xasprintf("%s (routes disagree)", p);
        else if (seen != w) {
                char *o = percent(seen); /* as the OBSERVED column and the details show it */
                s = xasprintf("%s (observed %s)", p, o);
                free(o);
        }
        if (!s)
                return p;
        free(p);
        return s;
}

/* A time member's age ("5m") at now_usec; NULL when now_usec is 0 or the member is no time. */
static char *age_of(const cJSON *obj, const char *key, uint64_t now_usec)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        usec_t t;
        char age[32];
        if (!now_usec || !cJSON_IsString(v) || parse_rfc3339(v->valuestring, &t) < 0)
                return NULL;
        return xstrdup(duration_format_age(now_usec > t ? now_usec - t : 0, age, sizeof(age)));
}

/* A time member as an age ("5m") at now_usec, or as sent when now_usec is 0 or it is no time. */
static char *cell_age(const cJSON *obj, const char *key, uint64_t now_usec)
{
        char *age = age_of(obj, key, now_usec);
        return age ? age : cell_string(obj, key);
}

static char *cell_last_analysis(const cJSON *c, uint64_t now_usec)
{
        const cJSON *la = cJSON_GetObjectItemCaseSensitive(c, "last_analysis");
        if (!cJSON_IsObject(la))
                return xstrdup("-");
        char *result = cell_string(la, "result");
        char *at = cell_age(la, "at", now_usec);
        char *s = xasprintf("%s %s", result, at);
        free(result);
        free(at);
        return s;
}

#define REASON_CELL_MAX 48 /* code points of the reason in the table; wide shows it whole */

static char *cell_reason(const cJSON *c, bool wide)
{
        char *s = cell_string(c, "reason");
        size_t n = 0, i = 0;
        if (wide || text_width(s) <= REASON_CELL_MAX)
                return s;
        for (; s[i]; i++) /* cut before the code point that would not leave room for "..." */
                if (((unsigned char)s[i] & 0xc0) != 0x80 && ++n > REASON_CELL_MAX - 3)
                        break;
        s[i] = '\0';
        char *cut = xasprintf("%s...", s);
        free(s);
        return cut;
}

/* "NAME: awaiting approval since AT (until DEADLINE): canaryctl approve NAME", for a rollout
 * that waits (also paused: approve moves it on). */
static void render_approval(const cJSON *c, struct buf *out)
{
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(c, "approval_since");
        if (!cJSON_IsString(since))
                return;
        char *name = cell_string(c, "name");
        char *at = cell_string(c, "approval_since");
        char *deadline = cell_string(c, "approval_deadline");
        bool paused = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "awaiting_approval"));
        buf_printf(out, "\n%s: %s since %s", name,
                   paused ? "paused while waiting for approval" : "awaiting approval", at);
        if (!paused && strcmp(deadline, "-") != 0)
                buf_printf(out, " (until %s)", deadline);
        buf_printf(out, ": canaryctl approve %s\n", name);
        free(name);
        free(at);
        free(deadline);
}

/* " since AT (5m ago)" of a time member (word: "since"); the age only with now_usec and a
 * time that parses, nothing when the member is absent. */
static void put_when(struct buf *out, const char *word, const cJSON *obj, const char *key,
                     uint64_t now_usec)
{
        char *at = cell_string(obj, key);
        if (strcmp(at, "-") != 0) {
                char *age = age_of(obj, key, now_usec);
                buf_printf(out, " %s %s", word, at);
                if (age)
                        buf_printf(out, " (%s ago)", age);
                free(age);
        }
        free(at);
}

/* "NAME: Paused since AT (5m ago): why", and what the routes hold when the step's weight is not
 * what they hold. */
static void render_reason(const cJSON *c, const struct status_view *v, struct buf *out)
{
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(c, "reason");
        char *name = cell_string(c, "name");
        double w, seen;
        bool said = cJSON_IsString(reason) && reason->valuestring[0];
        if (said) {
                char *phase = cell_string(c, "phase"), *why = cell_string(c, "reason");
                buf_printf(out, "\n%s: %s", name, phase);
                put_when(out, "since", c, "updated_at", v->now_usec);
                buf_printf(out, ": %s\n", why);
                free(phase);
                free(why);
        }
        if (get_number(c, "canary_weight", &w) && get_number(c, "observed_weight", &seen) &&
            (seen != w || routes_disagree(c))) {
                char *o = percent(seen), *p = percent(w);
                bool agree = !routes_disagree(c);
                buf_printf(
                    out, "%s%s: %s %s to the canary; the step's weight is %s\n", said ? "" : "\n",
                    name, agree ? "the routes send" : "the routes disagree: the first sends", o, p);
                free(o);
                free(p);
        }
        free(name);
}

static void render_metrics(const cJSON *c, const struct status_view *v, struct buf *out)
{
        const cJSON *la = cJSON_GetObjectItemCaseSensitive(c, "last_analysis");
        bool headers = v->headers;
        char *name = cell_string(c, "name");
        render_reason(c, v, out);
        render_approval(c, out);
        if (!cJSON_IsObject(la)) {
                buf_printf(out, "\n%s: no analysis yet\n", name);
                free(name);
                return;
        }
        char *result = cell_string(la, "result");
        buf_printf(out, "\n%s: last analysis", name);
        put_when(out, "at", la, "at", v->now_usec);
        buf_printf(out, ": %s\n", result);
        free(name);
        free(result);

        const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(la, "metrics");
        if (!cJSON_IsArray(metrics) || cJSON_GetArraySize(metrics) == 0) {
                buf_puts(out, "no metrics\n");
                return;
        }
        static const char *const header[] = {"METRIC",   "JUDGE",  "CANARY",
                                             "BASELINE", "RESULT", "DETAIL"};
        struct table t = {.ncols = ELEMENTSOF(header)};
        char *row[ELEMENTSOF(header)];
        if (headers) {
                for (size_t i = 0; i < ELEMENTSOF(header); i++)
                        row[i] = xstrdup(header[i]);
                table_add_row(&t, row);
        }
        const cJSON *m;
        cJSON_ArrayForEach (m, metrics) {
                row[0] = cell_string(m, "name");
                row[1] = cell_string(m, "judge");
                row[2] = cell_value(m, "canary");
                row[3] = cell_value(m, "baseline");
                row[4] = cell_string(m, "result");
                row[5] = cell_string(m, "detail");
                table_add_row(&t, row);
        }
        table_render(&t, out);
        table_free(&t);
}

/* The columns, and which of them the narrow table shows. */
enum column {
        COL_NAME,
        COL_NAMESPACE,
        COL_PHASE,
        COL_STEP,
        COL_WEIGHT,
        COL_OBSERVED,
        COL_FAILED,
        COL_INCONCL,
        COL_REVISION,
        COL_LAST_ANALYSIS,
        COL_AGE,
        COL_STARTED,
        COL_REASON,
        _COL_MAX
};
static const struct {
        const char *header;
        bool wide_only;
} columns[_COL_MAX] = {
    [COL_NAME] = {"NAME", false},         [COL_NAMESPACE] = {"NAMESPACE", false},
    [COL_PHASE] = {"PHASE", false},       [COL_STEP] = {"STEP", false},
    [COL_WEIGHT] = {"WEIGHT", false},     [COL_OBSERVED] = {"OBSERVED", true},
    [COL_FAILED] = {"FAILED", false},     [COL_INCONCL] = {"INCONCL", false},
    [COL_REVISION] = {"REVISION", false}, [COL_LAST_ANALYSIS] = {"LAST-ANALYSIS", false},
    [COL_AGE] = {"AGE", false},           [COL_STARTED] = {"STARTED", true},
    [COL_REASON] = {"REASON", false},
};

static char *cell(const cJSON *c, enum column col, const struct status_view *v)
{
        switch (col) {
        case COL_NAME:
                return cell_string(c, "name");
        case COL_NAMESPACE:
                return cell_string(c, "namespace");
        case COL_PHASE:
                return cell_phase(c);
        case COL_STEP:
                return cell_step(c);
        case COL_WEIGHT:
                return cell_weight(c, v->wide);
        case COL_OBSERVED:
                return cell_observed(c);
        case COL_FAILED:
                return cell_value(c, "failed_checks");
        case COL_INCONCL:
                return cell_value(c, "inconclusive_checks");
        case COL_REVISION:
                return cell_string(c, "revision");
        case COL_LAST_ANALYSIS:
                return cell_last_analysis(c, v->now_usec);
        case COL_AGE:
                return cell_age(c, "updated_at", v->now_usec);
        case COL_STARTED:
                return cell_age(c, "started_at", v->now_usec);
        case COL_REASON:
        case _COL_MAX:
                break;
        }
        return cell_reason(c, v->wide);
}

int control_status_format(const char *json, size_t len, const struct status_view *v, char **ret,
                          char **ret_error)
{
        char *error = NULL;
        cJSON *root = parse_line(json, len, CONTROL_REPLY_MAX, "status document", &error);
        if (!root)
                goto fail;
        const cJSON *canaries = cJSON_GetObjectItemCaseSensitive(root, "canaries");
        if (!cJSON_IsArray(canaries)) {
                error = xstrdup("status document has no \"canaries\" array");
                goto fail;
        }
        const cJSON *c;
        cJSON_ArrayForEach (c, canaries) {
                if (!cJSON_IsObject(c)) {
                        error = xstrdup("status document: every canary must be an object");
                        goto fail;
                }
        }

        enum column shown[_COL_MAX];
        struct table t = {0};
        for (size_t k = 0; k < _COL_MAX; k++)
                if (v->wide || !columns[k].wide_only)
                        shown[t.ncols++] = (enum column)k;
        char *row[_COL_MAX];
        if (v->headers) {
                for (size_t k = 0; k < t.ncols; k++)
                        row[k] = xstrdup(columns[shown[k]].header);
                table_add_row(&t, row);
        }
        cJSON_ArrayForEach (c, canaries) {
                for (size_t k = 0; k < t.ncols; k++)
                        row[k] = cell(c, shown[k], v);
                table_add_row(&t, row);
        }
        struct buf out = {0};
        table_render(&t, &out);
        table_free(&t);
        if (v->details)
                cJSON_ArrayForEach (c, canaries)
                        render_metrics(c, v, &out);
        /* the daemon's own trouble, under the table: a state_dir it cannot write */
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "state_dir");
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sd, "error"))) {
                char *e = cell_string(sd, "error"), *since = cell_string(sd, "since");
                buf_printf(&out, "\nWARNING: %s (since %s); rollouts go on, unjournaled\n", e,
                           since);
                free(e);
                free(since);
        }
        cJSON_Delete(root);
        *ret = buf_steal(&out);
        return 0;
fail:
        cJSON_Delete(root);
        if (ret_error)
                *ret_error = error;
        else
                free(error);
        return -EINVAL;
}
