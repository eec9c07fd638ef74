/* The daemon's JSON documents printed again for people (include/canaryd/doc-format.h): cJSON
 * indents with tabs and a tab after each colon, so the indented form is printed here from the
 * tree; YAML is libyaml's emitter fed the same tree, so escaping and line breaks are its own. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "canaryd/doc-format.h"
#include "canaryd/utf8.h"
#include "canaryd/util.h"

/* One JSON value, valid UTF-8 (libyaml's emitter refuses anything else), nothing after it but
 * white space: a document cut or run together is refused, not printed in part. */
static cJSON *parse(const char *json, size_t len, char **ret_error)
{
        const char *end = NULL;
        cJSON *root = NULL;

        if (json && !memchr(json, '\0', len) && utf8_valid(json, len))
                root = cJSON_ParseWithLengthOpts(json, len, &end, false);
        while (root && end < json + len && strchr(" \t\r\n", *end))
                end++;
        if (!root || end != json + len) {
                cJSON_Delete(root);
                *ret_error = xstrdup("not a JSON document");
                return NULL;
        }
        return root;
}

/* A scalar (or a key, as a string) in JSON's own spelling: cJSON escapes it. */
static void put_scalar(struct buf *b, const cJSON *item)
{
        char *s = cJSON_PrintUnformatted(item);
        if (!s)
                abort(); /* only on OOM: same policy as xmalloc */
        buf_puts(b, s);
        cJSON_free(s);
}

static void put_key(struct buf *b, const char *key)
{
        cJSON *k = cJSON_CreateString(key ? key : "");
        if (!k)
                abort();
        put_scalar(b, k);
        cJSON_Delete(k);
        buf_puts(b, ": ");
}

static void put_indented(struct buf *b, const cJSON *item, unsigned depth)
{
        bool object = cJSON_IsObject(item);
        if (!object && !cJSON_IsArray(item)) {
                put_scalar(b, item);
                return;
        }
        if (!item->child) {
                buf_puts(b, object ? "{}" : "[]");
                return;
        }
        buf_puts(b, object ? "{\n" : "[\n");
        for (const cJSON *c = item->child; c; c = c->next) {
                buf_printf(b, "%*s", (int)(2 * (depth + 1)), "");
                if (object)
                        put_key(b, c->string);
                put_indented(b, c, depth + 1);
                buf_puts(b, c->next ? ",\n" : "\n");
        }
        buf_printf(b, "%*s%s", (int)(2 * depth), "", object ? "}" : "]");
}

int doc_format_json_indented(const char *json, size_t len, char **ret, char **ret_error)
{
        cJSON *root = parse(json, len, ret_error);
        if (!root)
                return -EINVAL;
        struct buf b = {0};
        put_indented(&b, root, 0);
        buf_puts(&b, "\n");
        cJSON_Delete(root);
        *ret = buf_steal(&b);
        return 0;
}

/* Strings a YAML reader (1.1 or 1.2) would take for a null, a boolean, a number or a time. */
static bool reads_as_other_type(const char *s)
{
        static const char *const words[] = {"",  "~",  "null", "true", "false", "yes",   "no",  "y",
                                            "n", "on", "off",  ".inf", "-.inf", "+.inf", ".nan"};
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(s, words[i]) == 0)
                        return true;
        const char *p = s + (*s == '-' || *s == '+');
        if (*p == '.')
                p++;
        return *p >= '0' && *p <= '9';
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
        return yaml_emitter_emit(e, ev) ? 0 : -EIO;
}

/* A scalar; plain: a number, a boolean or null, written as it is (not a string). */
static int emit_scalar(yaml_emitter_t *e, const char *s, bool plain)
{
        yaml_event_t ev;
        yaml_scalar_style_t style = plain                    ? YAML_PLAIN_SCALAR_STYLE
                                    : reads_as_other_type(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                             : YAML_ANY_SCALAR_STYLE;
        if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s,
                                          (int)strlen(s), 1, !plain, style))
                return -ENOMEM;
        return emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const cJSON *item)
{
        yaml_event_t ev;
        int r;

        if (cJSON_IsString(item))
                return emit_scalar(e, item->valuestring, false);
        if (cJSON_IsObject(item)) {
                if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                         YAML_BLOCK_MAPPING_STYLE))
                        return -ENOMEM;
                if ((r = emit(e, &ev)) < 0)
                        return r;
                for (const cJSON *c = item->child; c; c = c->next)
                        if ((r = emit_scalar(e, c->string ? c->string : "", false)) < 0 ||
                            (r = emit_node(e, c)) < 0)
                                return r;
                yaml_mapping_end_event_initialize(&ev);
                return emit(e, &ev);
        }
        if (cJSON_IsArray(item)) {
                if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                          YAML_BLOCK_SEQUENCE_STYLE))
                        return -ENOMEM;
                if ((r = emit(e, &ev)) < 0)
                        return r;
                for (const cJSON *c = item->child; c; c = c->next)
                        if ((r = emit_node(e, c)) < 0)
                                return r;
                yaml_sequence_end_event_initialize(&ev);
                return emit(e, &ev);
        }
        if (cJSON_IsNumber(item)) {
                char *s = cJSON_PrintUnformatted(item);
                if (!s)
                        abort();
                r = emit_scalar(e, s, true);
                cJSON_free(s);
                return r;
        }
        return emit_scalar(e,
                           cJSON_IsTrue(item)    ? "true"
                           : cJSON_IsFalse(item) ? "false"
                                                 : "null",
                           true);
}

static int write_to_buf(void *data, unsigned char *bytes, size_t size)
{
        buf_append(data, bytes, size);
        return 1;
}

int doc_format_yaml(const char *json, size_t len, char **ret, char **ret_error)
{
        cJSON *root = parse(json, len, ret_error);
        if (!root)
                return -EINVAL;
        struct buf b = {0};
        yaml_emitter_t e;
        yaml_event_t ev;
        int r = -ENOMEM;

        if (!yaml_emitter_initialize(&e))
                abort();
        yaml_emitter_set_output(&e, write_to_buf, &b);
        yaml_emitter_set_unicode(&e, 1);
        yaml_emitter_set_width(&e, -1); /* no folding: a reason stays on its line */
        yaml_emitter_set_indent(&e, 2);
        if (yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && emit(&e, &ev) == 0 &&
            yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && emit(&e, &ev) == 0 &&
            emit_node(&e, root) == 0 && yaml_document_end_event_initialize(&ev, 1) &&
            emit(&e, &ev) == 0 && yaml_stream_end_event_initialize(&ev) && emit(&e, &ev) == 0)
                r = 0;
        if (r < 0)
                *ret_error =
                    xasprintf("cannot write YAML: %s", e.problem ? e.problem : "out of memory");
        yaml_emitter_delete(&e);
        cJSON_Delete(root);
        if (r < 0) {
                buf_free(&b);
                return -EINVAL;
        }
        *ret = buf_steal(&b);
        return 0;
}
