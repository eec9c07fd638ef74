/* The configuration of SPEC §3: YAML text -> struct config; and the files of canaries_dir
 * (SPEC §7), as buffers read by src/io/config-load.c.
 *
 * Two passes. First libyaml's event stream is turned into a small tree of nodes, each keeping
 * its start mark (libyaml's marks are 0-based; we store them 1-based). Syntax errors, aliases,
 * excessive nesting and extra documents are reported there. Then the tree is walked against the
 * schema, collecting every problem (unknown keys, wrong types, bad values, missing keys, cross-
 * field rules) instead of stopping at the first. Secret files are never opened here.
 *
 * The list of canaries is the exception that keeps large files cheap: each canary is walked as
 * soon as its subtree is built, and its nodes are freed at once (the tree lives in an arena), so
 * memory holds one canary's nodes, not 10,000. Their problems are kept only when the whole file
 * turns out to be valid YAML, as if the walk had come after; duplicate names are found at the
 * end with one sort. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "canaryd/config.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/names.h"
#include "canaryd/preprocess.h"

#define MAX_DEPTH 64

/* ===== enum names (their tables live in src/core/config.c) ===== */

static const char *judge_name(unsigned i)
{
        return judge_kind_to_string((enum judge_kind)i);
}

static const char *reducer_name(unsigned i)
{
        return reducer_to_string((enum reducer)i);
}

static const char *direction_name(unsigned i)
{
        return direction_to_string((enum direction)i);
}

static const char *on_no_data_name(unsigned i)
{
        return on_no_data_to_string((enum on_no_data)i);
}

static const char *metric_kind_name(unsigned i)
{
        return metric_kind_to_string((enum metric_kind)i);
}

static const char *combine_name(unsigned i)
{
        return combine_to_string((enum combine)i);
}

static const char *nan_strategy_name(unsigned i)
{
        return nan_strategy_to_string((enum nan_strategy)i);
}

static const char *outliers_name(unsigned i)
{
        return outlier_strategy_to_string((enum outlier_strategy)i);
}

static const char *effect_size_name(unsigned i)
{
        return effect_size_to_string((enum effect_size)i);
}

static const char *api_name(unsigned i)
{
        return datadog_api_to_string((enum datadog_api)i);
}

/* WIRE §1.1: the sites of the v1 OpenAPI servers enum. */
static const char *const site_names[] = {
    "datadoghq.com",     "us3.datadoghq.com", "us5.datadoghq.com",
    "datadoghq.eu",      "ap1.datadoghq.com", "ap2.datadoghq.com",
    "uk1.datadoghq.com", "ddog-gov.com",      "us2.ddog-gov.com",
};

static const char *site_name(unsigned i)
{
        return i < ELEMENTSOF(site_names) ? site_names[i] : NULL;
}

/* ===== problems ===== */

static void problem_add(struct config_problems *p, unsigned line, unsigned column, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void problem_add(struct config_problems *p, unsigned line, unsigned column, const char *fmt,
                        ...)
{
        va_list ap;
        va_start(ap, fmt);
        config_problems_addv(p, NULL, line, column, fmt, ap);
        va_end(ap);
}

struct problem_order {
        unsigned line, column;
        size_t index;
};

static int problem_order_cmp(const void *a, const void *b)
{
        const struct problem_order *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        if (x->column != y->column)
                return x->column < y->column ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Stable sort of the problems from index `from` on by (line, column): problems found at one token
 * keep the order they were found, and those of earlier calls (other files) stay first. */
static void problems_sort(struct config_problems *p, size_t from)
{
        size_t n = p->n - from;
        if (n < 2)
                return;
        struct problem_order *o = xmalloc(n * sizeof(*o));
        for (size_t i = 0; i < n; i++)
                o[i] = (struct problem_order){p->items[from + i].line, p->items[from + i].column,
                                              from + i};
        qsort(o, n, sizeof(*o), problem_order_cmp);
        struct config_problem *sorted = xmalloc(p->allocated * sizeof(*sorted));
        memcpy(sorted, p->items, from * sizeof(*sorted));
        for (size_t i = 0; i < n; i++)
                sorted[from + i] = p->items[o[i].index];
        free(p->items);
        p->items = sorted;
        free(o);
}

/* ===== the node tree ===== */

/* The nodes of a tree, their values and item arrays live in one arena, freed at once: a file of
 * 10,000 canaries is close to a million nodes, and a malloc() and free() for each of them (among
 * libyaml's own) cost more than parsing the YAML. */
#define ARENA_CHUNK (64U * 1024U)

struct arena_chunk {
        struct arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

struct arena {
        struct arena_chunk *head;
        struct arena_chunk *spare; /* one chunk given back by a rollback, kept for reuse */
};

/* Where an arena is; arena_rollback() frees everything allocated since. */
struct arena_mark {
        struct arena_chunk *chunk;
        size_t used;
};

static void *arena_alloc(struct arena *a, size_t size)
{
        size = (size + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
        if (!a->head || a->head->size - a->head->used < size) {
                struct arena_chunk *c = a->spare;
                if (c && size <= c->size) {
                        a->spare = NULL;
                } else {
                        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
                        c = xmalloc(sizeof(*c) + cap);
                        c->size = cap;
                }
                c->next = a->head;
                c->used = 0;
                a->head = c;
        }
        void *p = (char *)a->head->data + a->head->used;
        a->head->used += size;
        return p;
}

static struct arena_mark arena_mark(const struct arena *a)
{
        return (struct arena_mark){a->head, a->head ? a->head->used : 0};
}

static void arena_rollback(struct arena *a, struct arena_mark m)
{
        while (a->head != m.chunk) {
                struct arena_chunk *c = a->head;
                a->head = c->next;
                if (!a->spare && c->size == ARENA_CHUNK)
                        a->spare = c;
                else
                        free(c);
        }
        if (a->head)
                a->head->used = m.used;
}

static void arena_free(struct arena *a)
{
        arena_rollback(a, (struct arena_mark){0});
        free(a->spare);
        a->spare = NULL;
}

enum ynode_type { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING, YNODE_ALIAS };

struct ynode {
        enum ynode_type type;
        unsigned line, column; /* 1-based */
        char *value;           /* scalar bytes, NUL-terminated (may also hold NULs) */
        size_t len;
        bool plain; /* plain (unquoted, untagged) scalar: may be null, a number or a boolean */
        struct ynode **items; /* sequence items; mapping keys and values interleaved */
        size_t n_items;
};

static bool node_key_eq(const struct ynode *k, const char *s)
{
        return k->type == YNODE_SCALAR && k->len == strlen(s) && memcmp(k->value, s, k->len) == 0;
}

/* Takes one item of a streamed list, as soon as it is built; its nodes are freed afterwards. */
typedef void ynode_item_fn(const struct ynode *item, void *userdata);

struct builder {
        yaml_parser_t parser;
        const char *text;
        size_t len;
        struct config_problems *problems;
        struct arena *arena;
        struct ynode **stack; /* children of the collections being built, innermost last */
        size_t n_stack, allocated_stack;
        /* Streaming: the items of one list (the value of stream_key in the root mapping, or
         * the root itself when stream_key is NULL) go to stream_fn one by one and are not kept
         * in the tree, so that memory does not grow with the number of canaries. */
        const char *stream_key;
        bool streamed; /* only the first such list (a second key is a duplicate anyway) */
        ynode_item_fn *stream_fn;
        void *stream_userdata;
};

static void builder_push(struct builder *b, struct ynode *child)
{
        if (b->n_stack == b->allocated_stack) {
                b->allocated_stack = b->allocated_stack ? b->allocated_stack * 2 : 64;
                b->stack = xrealloc(b->stack, b->allocated_stack * sizeof(*b->stack));
        }
        b->stack[b->n_stack++] = child;
}

static void builder_syntax_error(struct builder *b)
{
        const yaml_parser_t *y = &b->parser;
        const char *problem = y->problem ? y->problem : "unknown error";

        if (y->error == YAML_MEMORY_ERROR) {
                problem_add(b->problems, 1, 1, "out of memory while parsing YAML");
                return;
        }
        if (y->error == YAML_READER_ERROR) {
                /* Reader errors carry a byte offset, not a mark. */
                unsigned line = 1, column = 1;
                for (size_t i = 0; i < y->problem_offset && i < b->len; i++) {
                        if (b->text[i] == '\n') {
                                line++;
                                column = 1;
                        } else if (((unsigned char)b->text[i] & 0xC0) != 0x80) {
                                column++;
                        }
                }
                problem_add(b->problems, line, column, "invalid input: %s", problem);
                return;
        }
        if (y->context)
                problem_add(b->problems, (unsigned)y->problem_mark.line + 1,
                            (unsigned)y->problem_mark.column + 1,
                            "YAML syntax error: %s %s that started at line %u column %u", problem,
                            y->context, (unsigned)y->context_mark.line + 1,
                            (unsigned)y->context_mark.column + 1);
        else
                problem_add(b->problems, (unsigned)y->problem_mark.line + 1,
                            (unsigned)y->problem_mark.column + 1, "YAML syntax error: %s", problem);
}

static int builder_next(struct builder *b, yaml_event_t *ev)
{
        if (!yaml_parser_parse(&b->parser, ev)) {
                builder_syntax_error(b);
                return -EINVAL;
        }
        return 0;
}

static struct ynode *ynode_new(struct builder *b, enum ynode_type type, const yaml_mark_t *mark)
{
        struct ynode *n = arena_alloc(b->arena, sizeof(*n));
        *n = (struct ynode){
            .type = type, .line = (unsigned)mark->line + 1, .column = (unsigned)mark->column + 1};
        return n;
}

/* Builds the node that starts with *ev (consumed here); a list with stream set gives its items
 * to b->stream_fn instead of keeping them. Returns 0 and *ret, or -EINVAL after having reported
 * why (syntax error, nesting too deep). */
static int builder_node(struct builder *b, yaml_event_t *ev, unsigned depth, bool stream,
                        struct ynode **ret)
{
        struct ynode *n = NULL;
        int r = 0;

        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                n = ynode_new(b, YNODE_SCALAR, &ev->start_mark);
                n->len = ev->data.scalar.length;
                n->value = arena_alloc(b->arena, n->len + 1);
                memcpy(n->value, ev->data.scalar.value, n->len);
                n->value[n->len] = '\0';
                const char *tag = (const char *)ev->data.scalar.tag;
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                           !(tag && strcmp(tag, YAML_STR_TAG) == 0);
                break;
        }
        case YAML_ALIAS_EVENT:
                n = ynode_new(b, YNODE_ALIAS, &ev->start_mark);
                problem_add(b->problems, n->line, n->column,
                            "YAML aliases are not supported (*%.40s): write the value out",
                            (const char *)ev->data.alias.anchor);
                break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
                yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
                n = ynode_new(b, seq ? YNODE_SEQUENCE : YNODE_MAPPING, &ev->start_mark);
                if (depth >= MAX_DEPTH) {
                        problem_add(b->problems, n->line, n->column,
                                    "nesting deeper than %d levels", MAX_DEPTH);
                        r = -EINVAL;
                        break;
                }
                size_t base = b->n_stack;
                stream = stream && seq && !b->streamed;
                b->streamed = b->streamed || stream;
                for (;;) {
                        yaml_event_t child_ev;
                        r = builder_next(b, &child_ev);
                        if (r < 0)
                                break;
                        if (child_ev.type == end) {
                                yaml_event_delete(&child_ev);
                                break;
                        }
                        /* the value of stream_key in the root mapping streams its items */
                        bool stream_child = depth == 0 && !seq && b->stream_key &&
                                            (b->n_stack - base) % 2 == 1 &&
                                            node_key_eq(b->stack[b->n_stack - 1], b->stream_key);
                        struct arena_mark mark = arena_mark(b->arena);
                        struct ynode *child = NULL;
                        r = builder_node(b, &child_ev, depth + 1, stream_child, &child);
                        if (r < 0)
                                break;
                        if (stream) {
                                b->stream_fn(child, b->stream_userdata);
                                arena_rollback(b->arena, mark);
                        } else {
                                builder_push(b, child);
                        }
                }
                n->n_items = b->n_stack - base;
                n->items = arena_alloc(b->arena, (n->n_items + 1) * sizeof(*n->items));
                if (n->n_items > 0)
                        memcpy(n->items, b->stack + base, n->n_items * sizeof(*n->items));
                b->n_stack = base;
                break;
        }
        default:
                /* The parser only yields node events here. */
                n = ynode_new(b, YNODE_SCALAR, &ev->start_mark);
                n->value = arena_alloc(b->arena, 1);
                n->value[0] = '\0';
                problem_add(b->problems, n->line, n->column, "unexpected YAML event");
                r = -EINVAL;
                break;
        }
        yaml_event_delete(ev);
        if (r < 0)
                return r; /* n stays in the arena, freed with the tree */
        *ret = n;
        return 0;
}

/* Parses text into a tree of the single document, allocated in *arena (the caller frees it with
 * arena_free(), also on failure). The items of one list are streamed to stream_fn (see struct
 * builder): with stream_key, the list under that key of the root mapping, else the root list.
 * Returns 0 and *ret (NULL for an empty stream), or -EINVAL with the problems reported. */
static int builder_run(const char *text, size_t len, struct config_problems *problems,
                       struct arena *arena, const char *stream_key, ynode_item_fn *stream_fn,
                       void *stream_userdata, struct ynode **ret)
{
        struct builder b = {.text = text,
                            .len = len,
                            .problems = problems,
                            .arena = arena,
                            .stream_key = stream_key,
                            .stream_fn = stream_fn,
                            .stream_userdata = stream_userdata};
        struct ynode *root = NULL;
        yaml_event_t ev;
        int r;

        if (!yaml_parser_initialize(&b.parser)) {
                problem_add(problems, 1, 1, "out of memory initializing the YAML parser");
                return -EINVAL;
        }
        yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);

        r = builder_next(&b, &ev); /* STREAM-START */
        if (r < 0)
                goto finish;
        yaml_event_delete(&ev);

        for (bool seen_document = false;;) {
                r = builder_next(&b, &ev);
                if (r < 0)
                        goto finish;
                if (ev.type == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (ev.type != YAML_DOCUMENT_START_EVENT) {
                        yaml_event_delete(&ev);
                        problem_add(problems, 1, 1, "unexpected YAML event");
                        r = -EINVAL;
                        goto finish;
                }
                if (seen_document) {
                        problem_add(problems, (unsigned)ev.start_mark.line + 1,
                                    (unsigned)ev.start_mark.column + 1,
                                    "multiple YAML documents: the configuration must be one "
                                    "document");
                        yaml_event_delete(&ev);
                        r = -EINVAL;
                        goto finish;
                }
                seen_document = true;
                yaml_event_delete(&ev);

                r = builder_next(&b, &ev);
                if (r < 0)
                        goto finish;
                r = builder_node(&b, &ev, 0, !stream_key, &root);
                if (r < 0)
                        goto finish;

                r = builder_next(&b, &ev); /* DOCUMENT-END */
                if (r < 0)
                        goto finish;
                yaml_event_delete(&ev);
        }
        *ret = root;
        r = 0;
finish:
        free(b.stack);
        yaml_parser_delete(&b.parser);
        return r;
}

/* ===== walking the tree ===== */

struct walker {
        struct config_problems *problems;
        /* canaries streamed from the builder: appended to config, defined in file (NULL: the
         * main file); items counts the list's items, canaries_allocated the array's capacity */
        struct config *config;
        const char *file;
        size_t items, canaries_allocated;
};

#define PROBLEM_AT(w, node, ...)                                                                   \
        problem_add((w)->problems, (node)->line, (node)->column, __VA_ARGS__)

static bool scalar_is_null(const struct ynode *n)
{
        return n->type == YNODE_SCALAR && n->plain &&
               (n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
                strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

/* A short, printable rendering of a node for messages: scalars quoted and cut at 40 bytes. */
static const char *describe(const struct ynode *n, char *buf, size_t size)
{
        switch (n->type) {
        case YNODE_MAPPING:
                return "a mapping";
        case YNODE_SEQUENCE:
                return "a list";
        case YNODE_ALIAS:
                return "an alias";
        case YNODE_SCALAR:
                break;
        }
        if (scalar_is_null(n))
                return "null";
        size_t o = 0;
        buf[o++] = '\'';
        for (size_t i = 0; i < n->len && o + 5 < size; i++) {
                unsigned char c = (unsigned char)n->value[i];
                if (i == 40) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                buf[o++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
        }
        buf[o++] = '\'';
        buf[o] = '\0';
        return buf;
}

#define DESCRIBE(n) describe((n), (char[64]){0}, 64)

/* As describe(), but says when a value was quoted: "not the string '3'" explains why a quoted
 * number or boolean is refused. */
static const char *describe_typed(const struct ynode *n, char *buf, size_t size)
{
        if (n->type != YNODE_SCALAR || n->plain)
                return describe(n, buf, size);
        char inner[64];
        snprintf(buf, size, "the string %s", describe(n, inner, sizeof(inner)));
        return buf;
}

#define DESCRIBE_TYPED(n) describe_typed((n), (char[80]){0}, 80)

/* The key node of the first pair named key in map, or NULL. Its value is the next item. */
static const struct ynode *const *map_find(const struct ynode *map, const char *key)
{
        if (!map || map->type != YNODE_MAPPING)
                return NULL;
        for (size_t i = 0; i + 1 < map->n_items; i += 2)
                if (node_key_eq(map->items[i], key))
                        return (const struct ynode *const *)&map->items[i];
        return NULL;
}

static const struct ynode *map_get(const struct ynode *map, const char *key)
{
        const struct ynode *const *pair = map_find(map, key);
        return pair ? pair[1] : NULL;
}

static const struct ynode *map_get_key(const struct ynode *map, const char *key)
{
        const struct ynode *const *pair = map_find(map, key);
        return pair ? pair[0] : NULL;
}

static size_t levenshtein(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t row[65];
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        size_t best = diag + cost;
                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static const char *suggest(const char *key, const char *const *known)
{
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; known[i]; i++) {
                size_t d = levenshtein(key, known[i]);
                if (d < best_d) {
                        best_d = d;
                        best = known[i];
                }
        }
        size_t limit = strlen(key) <= 4 ? 1 : strlen(key) <= 8 ? 2 : 3;
        if (best_d <= limit)
                return best;
        /* "api_key" -> "api_key_file" */
        for (size_t i = 0; known[i]; i++)
                if (strlen(key) >= 3 && strncmp(known[i], key, strlen(key)) == 0)
                        return known[i];
        return NULL;
}

/* Items named by a string, for finding duplicates in O(n log n). */
struct named {
        const char *name;
        size_t len;
        const struct ynode *node;
        size_t index;
};

static int named_cmp(const void *a, const void *b)
{
        const struct named *x = a, *y = b;
        size_t l = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->name, y->name, l);
        if (c)
                return c;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports every later occurrence of a name as "<what> '<name>' ... (first at line L)". */
static void report_duplicates(struct walker *w, struct named *v, size_t n, const char *what)
{
        if (n < 2)
                return;
        qsort(v, n, sizeof(*v), named_cmp);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (v[i].len == v[first].len && memcmp(v[i].name, v[first].name, v[i].len) == 0)
                        PROBLEM_AT(w, v[i].node, "duplicate %s %s (first at line %u column %u)",
                                   what, DESCRIBE(v[i].node), v[first].node->line,
                                   v[first].node->column);
                else
                        first = i;
        }
}

/* Checks that every key of map is a known, unique string. */
static void check_keys(struct walker *w, const struct ynode *map, const char *what,
                       const char *const *known)
{
        size_t n_pairs = map->n_items / 2;
        struct named *names = xmalloc((n_pairs ? n_pairs : 1) * sizeof(*names));
        size_t n_names = 0;

        for (size_t i = 0; i + 1 < map->n_items; i += 2) {
                const struct ynode *k = map->items[i];
                if (k->type == YNODE_ALIAS)
                        continue;
                if (k->type != YNODE_SCALAR) {
                        PROBLEM_AT(w, k, "keys must be strings, not %s", DESCRIBE(k));
                        continue;
                }
                names[n_names] = (struct named){k->value, k->len, k, n_names};
                n_names++;
                bool ok = false;
                for (size_t j = 0; known[j] && !ok; j++)
                        ok = node_key_eq(k, known[j]);
                if (ok)
                        continue;
                const char *hint = strlen(k->value) == k->len ? suggest(k->value, known) : NULL;
                if (hint)
                        PROBLEM_AT(w, k, "unknown key %s in %s (did you mean '%s'?)", DESCRIBE(k),
                                   what, hint);
                else
                        PROBLEM_AT(w, k, "unknown key %s in %s", DESCRIBE(k), what);
        }
        report_duplicates(w, names, n_names, "key");
        free(names);
}

static const struct ynode *require(struct walker *w, const struct ynode *map, const char *key,
                                   const char *what)
{
        const struct ynode *v = map_get(map, key);
        if (!v)
                PROBLEM_AT(w, map, "missing required key '%s' in %s", key, what);
        return v;
}

/* ----- typed values; each returns true and writes *dst only for a valid value ----- */

static bool as_mapping(struct walker *w, const struct ynode *v, const char *key)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_MAPPING) {
                PROBLEM_AT(w, v, "%s must be a mapping, not %s", key, DESCRIBE_TYPED(v));
                return false;
        }
        return true;
}

static bool as_sequence(struct walker *w, const struct ynode *v, const char *key)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_SEQUENCE) {
                PROBLEM_AT(w, v, "%s must be a list, not %s", key, DESCRIBE_TYPED(v));
                return false;
        }
        return true;
}

static bool as_string(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_SCALAR || scalar_is_null(v)) {
                PROBLEM_AT(w, v, "%s must be a string, not %s", key, DESCRIBE(v));
                return false;
        }
        if (v->len == 0) {
                PROBLEM_AT(w, v, "%s must not be empty", key);
                return false;
        }
        if (strlen(v->value) != v->len) {
                PROBLEM_AT(w, v, "%s must not contain NUL bytes", key);
                return false;
        }
        free(*dst);
        *dst = xstrdup(v->value);
        return true;
}

static bool is_number_syntax(const char *s)
{
        const char *p = s;
        bool digits = false;
        if (*p == '-' || *p == '+')
                p++;
        while (*p >= '0' && *p <= '9')
                p++, digits = true;
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9')
                        p++, digits = true;
        }
        if (!digits)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '-' || *p == '+')
                        p++;
                if (!(*p >= '0' && *p <= '9'))
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        return *p == '\0';
}

static bool as_number(struct walker *w, const struct ynode *v, const char *key, double *dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_SCALAR || !v->plain || !is_number_syntax(v->value)) {
                PROBLEM_AT(w, v, "%s must be a number, not %s%s", key,
                           v->type == YNODE_SCALAR && !v->plain ? "the string " : "", DESCRIBE(v));
                return false;
        }
        errno = 0;
        double d = strtod(v->value, NULL);
        if (errno == ERANGE || !isfinite(d)) {
                PROBLEM_AT(w, v, "%s is out of range: %s", key, DESCRIBE(v));
                return false;
        }
        *dst = d;
        return true;
}

/* A number in [lo, hi] (lo_open/hi_open exclude the bound); range text goes into messages. */
static bool as_number_in(struct walker *w, const struct ynode *v, const char *key, double lo,
                         bool lo_open, double hi, bool hi_open, const char *range, double *dst)
{
        double d;
        if (!as_number(w, v, key, &d))
                return false;
        if ((lo_open ? d <= lo : d < lo) || (hi_open ? d >= hi : d > hi)) {
                PROBLEM_AT(w, v, "%s must be %s, not %s", key, range, v->value);
                return false;
        }
        *dst = d;
        return true;
}

static bool as_uint(struct walker *w, const struct ynode *v, const char *key, unsigned lo,
                    unsigned hi, unsigned *dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        bool digits = v->type == YNODE_SCALAR && v->plain && v->len > 0;
        for (size_t i = 0; digits && i < v->len; i++)
                digits = v->value[i] >= '0' && v->value[i] <= '9';
        unsigned long long n = 0;
        bool big = false;
        for (size_t i = 0; digits && i < v->len; i++) {
                n = n * 10 + (unsigned)(v->value[i] - '0');
                if (n > UINT_MAX) {
                        big = true;
                        break;
                }
        }
        if (!digits || big || n < lo || n > hi) {
                if (hi == UINT_MAX && lo == 0)
                        PROBLEM_AT(w, v, "%s must be a non-negative integer, not %s", key,
                                   DESCRIBE_TYPED(v));
                else
                        PROBLEM_AT(w, v, "%s must be an integer from %u to %u, not %s", key, lo, hi,
                                   DESCRIBE_TYPED(v));
                return false;
        }
        *dst = (unsigned)n;
        return true;
}

static bool as_bool(struct walker *w, const struct ynode *v, const char *key, bool *dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type == YNODE_SCALAR && v->plain && strcmp(v->value, "true") == 0) {
                *dst = true;
                return true;
        }
        if (v->type == YNODE_SCALAR && v->plain && strcmp(v->value, "false") == 0) {
                *dst = false;
                return true;
        }
        PROBLEM_AT(w, v, "%s must be true or false, not %s", key, DESCRIBE_TYPED(v));
        return false;
}

static bool as_duration(struct walker *w, const struct ynode *v, const char *key, bool positive,
                        usec_t *dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_SCALAR || scalar_is_null(v)) {
                PROBLEM_AT(w, v, "%s must be a duration such as 30s or 5m, not %s", key,
                           DESCRIBE(v));
                return false;
        }
        usec_t u;
        int r = strlen(v->value) == v->len ? duration_parse(v->value, &u) : -EINVAL;
        if (r == -ERANGE) {
                PROBLEM_AT(w, v, "%s is too long: %s", key, DESCRIBE(v));
                return false;
        }
        if (r < 0) {
                if (v->value[0] == '-')
                        PROBLEM_AT(w, v, "%s must not be negative: %s", key, DESCRIBE(v));
                else
                        PROBLEM_AT(w, v,
                                   "%s: invalid duration %s (use a number with a unit: ms, s, m, "
                                   "h; e.g. 250ms, 30s, 5m, 1h, 1m30s)",
                                   key, DESCRIBE(v));
                return false;
        }
        if (positive && u == 0) {
                PROBLEM_AT(w, v, "%s must be greater than 0", key);
                return false;
        }
        *dst = u;
        return true;
}

static bool as_enum(struct walker *w, const struct ynode *v, const char *key,
                    const char *(*name_of)(unsigned), unsigned n, int *dst)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        for (unsigned i = 0; v->type == YNODE_SCALAR && i < n; i++)
                if (name_of(i) && node_key_eq(v, name_of(i))) {
                        *dst = (int)i;
                        return true;
                }
        char list[256] = "";
        size_t o = 0;
        for (unsigned i = 0; i < n; i++) {
                int r = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", name_of(i));
                if (r < 0 || (size_t)r >= sizeof(list) - o)
                        break;
                o += (size_t)r;
        }
        PROBLEM_AT(w, v, "%s must be one of %s; not %s", key, list, DESCRIBE(v));
        return false;
}

/* ----- name rules ----- */

static bool is_simple_name(const char *s)
{
        size_t l = strlen(s);
        if (l == 0 || l > 63)
                return false;
        for (size_t i = 0; i < l; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.'))
                        return false;
        }
        return true;
}

static bool as_label(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        char *s = NULL;
        if (!as_string(w, v, key, &s))
                return false;
        if (!dns1123_is_label(s)) {
                PROBLEM_AT(w, v,
                           "%s %s is not a valid name: use at most 63 lowercase letters, digits "
                           "and '-', starting and ending with a letter or digit",
                           key, DESCRIBE(v));
                free(s);
                return false;
        }
        free(*dst);
        *dst = s;
        return true;
}

static bool as_subdomain(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        char *s = NULL;
        if (!as_string(w, v, key, &s))
                return false;
        if (!dns1123_is_subdomain(s)) {
                PROBLEM_AT(w, v,
                           "%s %s is not a valid Kubernetes object name: use at most 253 "
                           "lowercase letters, digits, '-' and '.'",
                           key, DESCRIBE(v));
                free(s);
                return false;
        }
        free(*dst);
        *dst = s;
        return true;
}

static bool as_simple_name(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        char *s = NULL;
        if (!as_string(w, v, key, &s))
                return false;
        if (!is_simple_name(s)) {
                PROBLEM_AT(w, v,
                           "%s %s is not a valid name: use at most 63 letters, digits, '-', '_' "
                           "and '.'",
                           key, DESCRIBE(v));
                free(s);
                return false;
        }
        free(*dst);
        *dst = s;
        return true;
}

static bool as_url(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        char *s = NULL;
        if (!as_string(w, v, key, &s))
                return false;
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
                PROBLEM_AT(w, v, "%s must start with http:// or https://", key);
                free(s);
                return false;
        }
        free(*dst);
        *dst = s;
        return true;
}

static bool as_absolute_path(struct walker *w, const struct ynode *v, const char *key, char **dst)
{
        char *s = NULL;
        if (!as_string(w, v, key, &s))
                return false;
        if (s[0] != '/') {
                PROBLEM_AT(w, v, "%s must be an absolute path, not %s", key, DESCRIBE(v));
                free(s);
                return false;
        }
        free(*dst);
        *dst = s;
        return true;
}

/* ===== sections ===== */

static void walk_datadog(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"site",    "url",          "api",          "query_lag",
                                           "timeout", "api_key_file", "app_key_file", NULL};
        check_keys(w, m, "datadog", keys);
        int e;
        if (as_enum(w, map_get(m, "site"), "site", site_name, ELEMENTSOF(site_names), &e)) {
                free(c->datadog.site);
                c->datadog.site = xstrdup(site_names[e]);
        }
        as_url(w, map_get(m, "url"), "url", &c->datadog.url);
        if (as_enum(w, map_get(m, "api"), "api", api_name, 2, &e))
                c->datadog.api = (enum datadog_api)e;
        as_duration(w, map_get(m, "query_lag"), "query_lag", false, &c->datadog.query_lag_usec);
        as_duration(w, map_get(m, "timeout"), "timeout", true, &c->datadog.timeout_usec);
        as_string(w, map_get(m, "api_key_file"), "api_key_file", &c->datadog.api_key_file);
        as_string(w, map_get(m, "app_key_file"), "app_key_file", &c->datadog.app_key_file);
}

static const char *vs_version_name(unsigned i)
{
        static const char *const names[] = {"auto", "v1", "v1beta1", "v1alpha3"};
        return i < ELEMENTSOF(names) ? names[i] : NULL;
}

static void walk_kubernetes(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"kubeconfig", "context", "virtual_service_version",
                                           NULL};
        check_keys(w, m, "kubernetes", keys);
        as_string(w, map_get(m, "kubeconfig"), "kubeconfig", &c->kubernetes.kubeconfig);
        as_string(w, map_get(m, "context"), "context", &c->kubernetes.context);
        int e;
        if (as_enum(w, map_get(m, "virtual_service_version"), "virtual_service_version",
                    vs_version_name, 4, &e) &&
            e > 0) {
                free(c->kubernetes.virtual_service_version);
                c->kubernetes.virtual_service_version = xstrdup(vs_version_name((unsigned)e));
        }
}

static void walk_slack(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"webhook_url_file", "token_file", "channel", "url",
                                           "channels",         "mention",    NULL};
        check_keys(w, m, "slack", keys);
        as_string(w, map_get(m, "webhook_url_file"), "webhook_url_file",
                  &c->slack.webhook_url_file);
        as_string(w, map_get(m, "token_file"), "token_file", &c->slack.token_file);
        as_string(w, map_get(m, "channel"), "channel", &c->slack.channel);
        as_url(w, map_get(m, "url"), "url", &c->slack.url);

        /* Severity routing (docs/slack.md): a channel per severity, and a mention on errors. */
        const struct ynode *channels = map_get(m, "channels");
        if (as_mapping(w, channels, "channels")) {
                static const char *const sev[] = {"info", "warn", "error", NULL};
                check_keys(w, channels, "slack.channels", sev);
                as_string(w, map_get(channels, "info"), "info", &c->slack.channel_info);
                as_string(w, map_get(channels, "warn"), "warn", &c->slack.channel_warn);
                as_string(w, map_get(channels, "error"), "error", &c->slack.channel_error);
                if (!map_get_key(m, "token_file"))
                        PROBLEM_AT(w, channels,
                                   "slack.channels needs token_file (a webhook posts to one "
                                   "channel)");
        }
        const struct ynode *mention = map_get(m, "mention");
        if (as_string(w, mention, "mention", &c->slack.mention)) {
                const char *s = c->slack.mention;
                size_t n = strlen(s);
                if (n < 4 || n > 100 || s[0] != '<' || (s[1] != '!' && s[1] != '@') ||
                    s[n - 1] != '>' ||
                    strspn(s + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789^_-.") != n - 3)
                        PROBLEM_AT(w, mention,
                                   "mention must be a Slack mention such as <!subteam^S0123>, "
                                   "<!here> or <@U0123>");
        }

        const struct ynode *webhook = map_get_key(m, "webhook_url_file");
        const struct ynode *token = map_get_key(m, "token_file");
        /* Both may be given (SPEC §3 lists them side by side): the bot token wins, since it can
         * thread a rollout's messages; the webhook is then unused. */
        if (!webhook && !token)
                PROBLEM_AT(w, m, "slack needs webhook_url_file or token_file");
        else if (token && !map_get(m, "channel"))
                PROBLEM_AT(w, m,
                           "missing required key 'channel' in slack (needed with token_file)");
}

static void walk_control(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"socket", "group", NULL};
        check_keys(w, m, "control", keys);
        as_absolute_path(w, map_get(m, "socket"), "socket", &c->control.socket);
        as_string(w, map_get(m, "group"), "group", &c->control.group);
}

static void walk_ha(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"enabled", "namespace", "shards", "lease_duration",
                                           NULL};
        check_keys(w, m, "ha", keys);
        c->ha.enabled = true;
        as_bool(w, map_get(m, "enabled"), "enabled", &c->ha.enabled);
        if (c->ha.enabled)
                as_label(w, require(w, m, "namespace", "ha"), "namespace", &c->ha.namespace_);
        else
                as_label(w, map_get(m, "namespace"), "namespace", &c->ha.namespace_);
        as_uint(w, map_get(m, "shards"), "shards", 1, 1024, &c->ha.shards);
        as_duration(w, map_get(m, "lease_duration"), "lease_duration", true,
                    &c->ha.lease_duration_usec);
}

static void walk_destination(struct walker *w, const struct ynode *m, const char *what,
                             struct destination_config *d)
{
        static const char *const keys[] = {"host", "subset", NULL};
        check_keys(w, m, what, keys);
        as_string(w, require(w, m, "host", what), "host", &d->host);
        as_string(w, map_get(m, "subset"), "subset", &d->subset);
}

static void walk_steps(struct walker *w, const struct ynode *s, struct canary_config *cc)
{
        if (s->n_items == 0) {
                PROBLEM_AT(w, s, "steps must not be empty");
                return;
        }
        for (size_t i = 0; i < s->n_items; i++) {
                const struct ynode *v = s->items[i];
                unsigned pct;
                if (!as_uint(w, v, "steps", 1, 100, &pct))
                        continue;
                if (cc->n_steps > 0 && pct <= cc->steps[cc->n_steps - 1]) {
                        PROBLEM_AT(w, v, "steps must be strictly increasing (%u after %u)", pct,
                                   cc->steps[cc->n_steps - 1]);
                        continue;
                }
                /* Strictly increasing in 1..100 bounds n_steps by CONFIG_MAX_STEPS. */
                cc->steps[cc->n_steps++] = (uint8_t)pct;
        }
}

static void walk_routes(struct walker *w, const struct ynode *s, struct canary_config *cc)
{
        struct named *names = xmalloc((s->n_items ? s->n_items : 1) * sizeof(*names));
        size_t n = 0;
        cc->routes = xcalloc(s->n_items + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_items; i++) {
                char *r = NULL;
                if (!as_string(w, s->items[i], "routes", &r))
                        continue;
                names[n] = (struct named){r, strlen(r), s->items[i], n};
                n++;
                cc->routes[cc->n_routes++] = r;
        }
        report_duplicates(w, names, n, "route");
        free(names);
}

static void walk_score(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"pass", "marginal", "weights", NULL};
        check_keys(w, m, "score", keys);
        cc->has_score = true;
        cc->score_pass = (double)NAN;
        bool pass_ok = as_number_in(w, require(w, m, "pass", "score"), "pass", 0, false, 100, false,
                                    "from 0 to 100", &cc->score_pass);
        const struct ynode *marginal = map_get(m, "marginal");
        cc->score_marginal = cc->score_pass;
        if (as_number_in(w, marginal, "marginal", 0, false, 100, false, "from 0 to 100",
                         &cc->score_marginal) &&
            pass_ok && cc->score_marginal > cc->score_pass)
                PROBLEM_AT(w, marginal, "marginal (%s) must not be greater than pass (%g)",
                           marginal->value, cc->score_pass);

        const struct ynode *weights = map_get(m, "weights");
        if (!as_mapping(w, weights, "weights"))
                return;
        size_t n_pairs = weights->n_items / 2;
        struct named *names = xmalloc((n_pairs ? n_pairs : 1) * sizeof(*names));
        size_t n = 0;
        cc->score_weights = xcalloc(n_pairs ? n_pairs : 1, sizeof(*cc->score_weights));
        for (size_t i = 0; i + 1 < weights->n_items; i += 2) {
                const struct ynode *k = weights->items[i], *v = weights->items[i + 1];
                char *group = NULL;
                double weight;
                if (k->type == YNODE_SCALAR && !scalar_is_null(k)) {
                        names[n] = (struct named){k->value, k->len, k, n};
                        n++;
                }
                bool ok = as_simple_name(w, k, "weights group", &group);
                if (as_number_in(w, v, "weight", 0, false, (double)INFINITY, false,
                                 "a non-negative number", &weight) &&
                    ok) {
                        cc->score_weights[cc->n_score_weights++] =
                            (struct score_weight){.group = group, .weight = weight};
                        group = NULL;
                }
                free(group);
        }
        report_duplicates(w, names, n, "key");
        free(names);
}

static void walk_scopes(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"canary", "baseline", NULL};
        check_keys(w, m, "scopes", keys);
        as_string(w, require(w, m, "canary", "scopes"), "canary", &cc->scope_canary);
        as_string(w, require(w, m, "baseline", "scopes"), "baseline", &cc->scope_baseline);
}

static void walk_trigger(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"deployment", NULL};
        check_keys(w, m, "trigger", keys);
        as_subdomain(w, require(w, m, "deployment", "trigger"), "deployment",
                     &cc->trigger_deployment);
}

/* Checks the {{variable}} references of a query; returns whether it uses {{scope}}. A "{{"
 * not followed by a word and "}}" is not a reference (Datadog's own braces, e.g. "{{{scope}}}"
 * is "{" + {{scope}} + "}"), just as the expander sees it. */
static bool check_query_template(struct walker *w, const struct ynode *v, const char *q)
{
        static const char *const vars[] = {"scope", "name", "namespace", "interval", NULL};
        bool uses_scope = false;
        for (const char *p = strstr(q, "{{"); p; p = strstr(p + 1, "{{")) {
                const char *word = p + 2;
                size_t n = strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
                                        "456789_-.");
                if (n == 0 || strncmp(word + n, "}}", 2) != 0)
                        continue;
                bool known = false;
                for (size_t i = 0; vars[i] && !known; i++)
                        known = n == strlen(vars[i]) && memcmp(word, vars[i], n) == 0;
                if (!known)
                        PROBLEM_AT(w, v,
                                   "query uses unknown variable {{%.*s}} (known: {{scope}}, "
                                   "{{name}}, {{namespace}}, {{interval}})",
                                   (int)(n > 40 ? 40 : n), word);
                else if (n == 5)
                        uses_scope = true;
        }
        return uses_scope;
}

enum judge_mask {
        FOR_THRESHOLD = 1 << JUDGE_THRESHOLD,
        FOR_RATIO = 1 << JUDGE_RATIO,
        FOR_MANN_WHITNEY = 1 << JUDGE_MANN_WHITNEY,
        FOR_SEQUENTIAL = 1 << JUDGE_SEQUENTIAL,
};

/* Keys that only some judges read: giving them to another judge is a mistake worth reporting. */
static const struct {
        const char *key;
        unsigned judges;
} judge_specific_keys[] = {
    {"reducer", FOR_THRESHOLD | FOR_RATIO},
    {"min", FOR_THRESHOLD},
    {"max", FOR_THRESHOLD},
    {"max_ratio", FOR_RATIO},
    {"min_ratio", FOR_RATIO},
    {"direction", FOR_MANN_WHITNEY | FOR_SEQUENTIAL},
    {"confidence", FOR_MANN_WHITNEY},
    {"allowed_increase", FOR_MANN_WHITNEY},
    {"allowed_decrease", FOR_MANN_WHITNEY},
    {"tolerance", FOR_MANN_WHITNEY | FOR_SEQUENTIAL},
    {"alpha", FOR_SEQUENTIAL},
    /* the sequential judge pairs points by timestamp: dropping one arm's points would unpair */
    {"nan_strategy", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"outliers", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"outlier_factor", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"kind", FOR_SEQUENTIAL},
    {"effect_size", FOR_MANN_WHITNEY},
    {"critical_increase", FOR_MANN_WHITNEY},
    {"critical_decrease", FOR_MANN_WHITNEY},
};

/* Returns whether the metric's query uses {{scope}}; *scope_node is set to that query. */
static bool walk_metric(struct walker *w, const struct ynode *m, struct metric_config *mc,
                        const struct ynode **scope_node)
{
        static const char *const keys[] = {"name",
                                           "query",
                                           "judge",
                                           "reducer",
                                           "min",
                                           "max",
                                           "max_ratio",
                                           "min_ratio",
                                           "critical",
                                           "group",
                                           "direction",
                                           "confidence",
                                           "allowed_increase",
                                           "allowed_decrease",
                                           "tolerance",
                                           "min_samples",
                                           "on_no_data",
                                           "combine",
                                           "nan_strategy",
                                           "outliers",
                                           "outlier_factor",
                                           "effect_size",
                                           "critical_increase",
                                           "critical_decrease",
                                           "alpha",
                                           "kind",
                                           NULL};
        bool uses_scope = false;
        int e;

        *mc = (struct metric_config){
            .judge = _JUDGE_KIND_MAX,
            .reducer = REDUCER_AVG,
            .min = (double)NAN,
            .max = (double)NAN,
            .max_ratio = (double)NAN,
            .min_ratio = (double)NAN,
            .direction = DIRECTION_EITHER, /* Kayenta's default: any significant change */
            .confidence = MW_DEFAULT_CONFIDENCE,
            .allowed_increase = MW_DEFAULT_ALLOWED,
            .allowed_decrease = MW_DEFAULT_ALLOWED,
            .tolerance = MW_DEFAULT_TOLERANCE,
            .alpha = 0.01,
            .kind = METRIC_KIND_CONTINUOUS,
            .on_no_data = NO_DATA_INCONCLUSIVE,
            .outlier_factor = 3.0,
        };

        const struct ynode *name = map_get(m, "name");
        char *what = name && name->type == YNODE_SCALAR && !scalar_is_null(name)
                         ? xasprintf("metric %s", DESCRIBE(name))
                         : xstrdup("metric");
        check_keys(w, m, what, keys);
        as_simple_name(w, require(w, m, "name", what), "name", &mc->name);
        const struct ynode *query = require(w, m, "query", what);
        if (as_string(w, query, "query", &mc->query) && check_query_template(w, query, mc->query)) {
                uses_scope = true;
                *scope_node = query;
        }
        bool judge_ok =
            as_enum(w, require(w, m, "judge", what), "judge", judge_name, _JUDGE_KIND_MAX, &e);
        if (judge_ok) {
                mc->judge = (enum judge_kind)e;
                for (size_t i = 0; i < ELEMENTSOF(judge_specific_keys); i++) {
                        const struct ynode *k = map_get_key(m, judge_specific_keys[i].key);
                        if (k && !(judge_specific_keys[i].judges & (1u << e)))
                                PROBLEM_AT(w, k, "%s does not apply to judge %s",
                                           judge_specific_keys[i].key, judge_name((unsigned)e));
                }
        }
        bool sequential = judge_ok && mc->judge == JUDGE_SEQUENTIAL;
        if (sequential) { /* SPEC §8's defaults */
                mc->direction = DIRECTION_INCREASE;
                mc->tolerance = 0.02;
        }
        if (as_enum(w, map_get(m, "reducer"), "reducer", reducer_name, _REDUCER_MAX, &e))
                mc->reducer = (enum reducer)e;

        bool min_ok = as_number(w, map_get(m, "min"), "min", &mc->min);
        const struct ynode *max = map_get(m, "max");
        if (as_number(w, max, "max", &mc->max) && min_ok && mc->max < mc->min)
                PROBLEM_AT(w, max, "max (%g) must not be less than min (%g)", mc->max, mc->min);

        const struct ynode *max_ratio = map_get(m, "max_ratio");
        bool min_ratio_ok = as_number_in(w, map_get(m, "min_ratio"), "min_ratio", 0, true,
                                         (double)INFINITY, false, "greater than 0", &mc->min_ratio);
        if (as_number_in(w, max_ratio, "max_ratio", 0, true, (double)INFINITY, false,
                         "greater than 0", &mc->max_ratio) &&
            min_ratio_ok && mc->max_ratio < mc->min_ratio)
                PROBLEM_AT(w, max_ratio, "max_ratio (%g) must not be less than min_ratio (%g)",
                           mc->max_ratio, mc->min_ratio);

        as_bool(w, map_get(m, "critical"), "critical", &mc->critical);
        as_simple_name(w, map_get(m, "group"), "group", &mc->group);
        if (as_enum(w, map_get(m, "direction"), "direction", direction_name, _DIRECTION_MAX, &e))
                mc->direction = (enum direction)e;
        as_number_in(w, map_get(m, "confidence"), "confidence", 0, true, 1, true,
                     "between 0 and 1 (exclusive)", &mc->confidence);
        /* Effect-size bounds: mean ratios around 1, CLES (a probability) around 0.5. The
         * critical bounds default to the allowed ones (every High/Low of a critical metric is
         * critical) and may only be further out. */
        if (as_enum(w, map_get(m, "effect_size"), "effect_size", effect_size_name, _EFFECT_SIZE_MAX,
                    &e))
                mc->effect_size = (enum effect_size)e;
        bool cles = mc->effect_size == EFFECT_SIZE_CLES;
        double neutral = cles ? 0.5 : 1.0, top = cles ? 1.0 : (double)INFINITY;
        const char *up = cles ? "from 0.5 to 1 with effect_size cles" : "at least 1.0";
        const char *down =
            cles ? "from 0 to 0.5 with effect_size cles" : "greater than 0 and at most 1.0";
        mc->allowed_increase = mc->allowed_decrease = neutral;
        as_number_in(w, map_get(m, "allowed_increase"), "allowed_increase", neutral, false, top,
                     false, up, &mc->allowed_increase);
        as_number_in(w, map_get(m, "allowed_decrease"), "allowed_decrease", 0, !cles, neutral,
                     false, down, &mc->allowed_decrease);
        mc->critical_increase = mc->allowed_increase;
        mc->critical_decrease = mc->allowed_decrease;
        const struct ynode *crit = map_get(m, "critical_increase");
        if (as_number_in(w, crit, "critical_increase", neutral, false, top, false, up,
                         &mc->critical_increase) &&
            mc->critical_increase < mc->allowed_increase)
                PROBLEM_AT(w, crit,
                           "critical_increase (%s) must not be less than allowed_increase "
                           "(%g)",
                           crit->value, mc->allowed_increase);
        crit = map_get(m, "critical_decrease");
        if (as_number_in(w, crit, "critical_decrease", 0, !cles, neutral, false, down,
                         &mc->critical_decrease) &&
            mc->critical_decrease > mc->allowed_decrease)
                PROBLEM_AT(w, crit,
                           "critical_decrease (%s) must not be greater than "
                           "allowed_decrease (%g)",
                           crit->value, mc->allowed_decrease);
        if (as_enum(w, map_get(m, "nan_strategy"), "nan_strategy", nan_strategy_name,
                    _NAN_STRATEGY_MAX, &e))
                mc->nan_strategy = (enum nan_strategy)e;
        if (as_enum(w, map_get(m, "outliers"), "outliers", outliers_name, _OUTLIERS_MAX, &e))
                mc->outliers = (enum outlier_strategy)e;
        const struct ynode *factor = map_get(m, "outlier_factor");
        if (as_number_in(w, factor, "outlier_factor", 0, false, (double)INFINITY, false,
                         "a non-negative number", &mc->outlier_factor) &&
            mc->outliers != OUTLIERS_REMOVE)
                PROBLEM_AT(w, factor, "outlier_factor applies only with outliers: remove");
        if (sequential) /* a relative shift: 1 would make any regression tolerable */
                as_number_in(w, map_get(m, "tolerance"), "tolerance", 0, false, 1, true,
                             "at least 0 and below 1 (a relative shift)", &mc->tolerance);
        else
                as_number_in(w, map_get(m, "tolerance"), "tolerance", 0, false, (double)INFINITY,
                             false, "a non-negative number", &mc->tolerance);
        as_number_in(w, map_get(m, "alpha"), "alpha", 0, true, 1, true,
                     "between 0 and 1 (exclusive)", &mc->alpha);
        if (as_enum(w, map_get(m, "kind"), "kind", metric_kind_name, _METRIC_KIND_MAX, &e))
                mc->kind = (enum metric_kind)e;
        mc->min_samples = mc->judge == JUDGE_MANN_WHITNEY || sequential ? 10 : 1;
        as_uint(w, map_get(m, "min_samples"), "min_samples", 1, UINT_MAX, &mc->min_samples);
        if (as_enum(w, map_get(m, "on_no_data"), "on_no_data", on_no_data_name, _NO_DATA_MAX, &e))
                mc->on_no_data = (enum on_no_data)e;
        if (as_enum(w, map_get(m, "combine"), "combine", combine_name, _COMBINE_MAX, &e))
                mc->combine = (enum combine)e;

        if (judge_ok && mc->judge == JUDGE_THRESHOLD && !map_get(m, "min") && !map_get(m, "max"))
                PROBLEM_AT(w, m, "%s with judge threshold needs min or max", what);
        if (judge_ok && mc->judge == JUDGE_RATIO && !map_get(m, "max_ratio") &&
            !map_get(m, "min_ratio"))
                PROBLEM_AT(w, m, "%s with judge ratio needs max_ratio or min_ratio", what);
        if (!judge_ok)
                mc->judge = JUDGE_THRESHOLD; /* keep the struct valid; the config is refused */
        free(what);
        return uses_scope;
}

static void walk_metrics(struct walker *w, const struct ynode *s, const struct ynode *canary_map,
                         struct canary_config *cc)
{
        if (s->n_items == 0) {
                PROBLEM_AT(w, s, "metrics must not be empty");
                return;
        }
        struct named *names = xmalloc(s->n_items * sizeof(*names));
        size_t n_names = 0;
        const struct ynode *scope_query = NULL;
        bool uses_scope = false;

        cc->metrics = xcalloc(s->n_items, sizeof(*cc->metrics));
        for (size_t i = 0; i < s->n_items; i++) {
                const struct ynode *m = s->items[i];
                if (!as_mapping(w, m, "each metric"))
                        continue;
                struct metric_config *mc = &cc->metrics[cc->n_metrics++];
                const struct ynode *q = NULL;
                if (walk_metric(w, m, mc, &q) && !uses_scope) {
                        uses_scope = true;
                        scope_query = q;
                }
                const struct ynode *name = map_get(m, "name");
                if (mc->name) {
                        names[n_names] = (struct named){mc->name, strlen(mc->name), name, n_names};
                        n_names++;
                }
        }
        report_duplicates(w, names, n_names, "metric name");
        free(names);

        if (uses_scope && !map_get(canary_map, "scopes"))
                PROBLEM_AT(w, scope_query,
                           "query uses {{scope}} but the canary has no scopes (canary and "
                           "baseline)");

        /* A weight for a group that no metric has is a typo. */
        for (size_t i = 0; i < cc->n_score_weights; i++) {
                bool found = false;
                for (size_t j = 0; j < cc->n_metrics && !found; j++)
                        found = streq_ptr(cc->metrics[j].group, cc->score_weights[i].group);
                if (found)
                        continue;
                const struct ynode *weights = map_get(map_get(canary_map, "score"), "weights");
                const struct ynode *k = map_get_key(weights, cc->score_weights[i].group);
                if (k)
                        PROBLEM_AT(w, k, "score weight for group '%s' matches no metric's group",
                                   cc->score_weights[i].group);
        }
}

static void walk_canary(struct walker *w, const struct ynode *m, struct canary_config *cc,
                        size_t index)
{
        static const char *const keys[] = {"name",
                                           "namespace",
                                           "virtual_service",
                                           "routes",
                                           "stable",
                                           "canary",
                                           "steps",
                                           "interval",
                                           "failure_limit",
                                           "inconclusive_limit",
                                           "runbook_url",
                                           "trigger",
                                           "score",
                                           "scopes",
                                           "metrics",
                                           "early_promotion",
                                           NULL};
        cc->interval_usec = 5 * 60 * USEC_PER_SEC;
        cc->failure_limit = 1;
        cc->inconclusive_limit = 3;
        cc->score_pass = (double)NAN;
        cc->score_marginal = (double)NAN;

        const struct ynode *name = map_get(m, "name");
        char *what = name && name->type == YNODE_SCALAR && !scalar_is_null(name)
                         ? xasprintf("canary %s", DESCRIBE(name))
                         : xasprintf("canaries[%zu]", index);
        check_keys(w, m, what, keys);
        as_label(w, require(w, m, "name", what), "name", &cc->name);
        as_label(w, require(w, m, "namespace", what), "namespace", &cc->namespace_);
        as_subdomain(w, require(w, m, "virtual_service", what), "virtual_service",
                     &cc->virtual_service);

        const struct ynode *v = map_get(m, "routes");
        if (as_sequence(w, v, "routes"))
                walk_routes(w, v, cc);

        const struct ynode *stable = require(w, m, "stable", what);
        const struct ynode *canary = require(w, m, "canary", what);
        if (as_mapping(w, stable, "stable"))
                walk_destination(w, stable, "the stable destination", &cc->stable);
        if (as_mapping(w, canary, "canary"))
                walk_destination(w, canary, "the canary destination", &cc->canary);
        if (cc->stable.host && cc->canary.host && streq_ptr(cc->stable.host, cc->canary.host) &&
            streq_ptr(cc->stable.subset, cc->canary.subset))
                PROBLEM_AT(w, canary, "the canary destination must differ from the stable one");

        v = require(w, m, "steps", what);
        if (as_sequence(w, v, "steps"))
                walk_steps(w, v, cc);
        as_duration(w, map_get(m, "interval"), "interval", true, &cc->interval_usec);
        as_uint(w, map_get(m, "failure_limit"), "failure_limit", 0, UINT_MAX, &cc->failure_limit);
        as_uint(w, map_get(m, "inconclusive_limit"), "inconclusive_limit", 0, UINT_MAX,
                &cc->inconclusive_limit);
        as_url(w, map_get(m, "runbook_url"), "runbook_url", &cc->runbook_url);
        as_bool(w, map_get(m, "early_promotion"), "early_promotion", &cc->early_promotion);

        v = map_get(m, "trigger");
        if (as_mapping(w, v, "trigger"))
                walk_trigger(w, v, cc);
        v = map_get(m, "score");
        if (as_mapping(w, v, "score"))
                walk_score(w, v, cc);
        v = map_get(m, "scopes");
        if (as_mapping(w, v, "scopes"))
                walk_scopes(w, v, cc);
        v = require(w, m, "metrics", what);
        if (as_sequence(w, v, "metrics"))
                walk_metrics(w, v, m, cc);
        free(what);
}

/* One item of a list of canaries (of the main file or of a canaries_dir file), streamed from the
 * builder: appended to w->config. Duplicate names are found once the whole file is read. */
static void walk_canary_item(const struct ynode *m, void *userdata)
{
        struct walker *w = userdata;
        struct config *c = w->config;
        size_t index = w->items++;
        if (!as_mapping(w, m, "each canary"))
                return;
        if (c->n_canaries == w->canaries_allocated) {
                w->canaries_allocated = w->canaries_allocated ? w->canaries_allocated * 2 : 16;
                c->canaries = xrealloc(c->canaries, w->canaries_allocated * sizeof(*c->canaries));
        }
        struct canary_config *cc = &c->canaries[c->n_canaries++];
        *cc = (struct canary_config){.file = w->file ? xstrdup(w->file) : NULL};
        walk_canary(w, m, cc, index);
        const struct ynode *name = map_get(m, "name");
        if (cc->name && name) {
                cc->name_line = name->line;
                cc->name_column = name->column;
        }
}

/* A top-level section; one left empty (null, e.g. every key commented out) counts as absent. */
static const struct ynode *section(const struct ynode *root, const char *key)
{
        const struct ynode *v = map_get(root, key);
        return v && scalar_is_null(v) ? NULL : v;
}

static void walk_root(struct walker *w, const struct ynode *root, struct config *c)
{
        static const char *const keys[] = {
            "datadog",  "kubernetes",       "slack",        "control", "state_dir", "ha",
            "canaries", "journal_max_size", "canaries_dir", NULL};
        if (root->type != YNODE_MAPPING) {
                if (root->type != YNODE_ALIAS)
                        PROBLEM_AT(w, root, "the configuration must be a mapping, not %s",
                                   DESCRIBE(root));
                return;
        }
        check_keys(w, root, "the configuration", keys);

        const struct ynode *v = section(root, "datadog");
        if (as_mapping(w, v, "datadog"))
                walk_datadog(w, v, c);
        v = section(root, "kubernetes");
        if (as_mapping(w, v, "kubernetes"))
                walk_kubernetes(w, v, c);
        v = section(root, "slack");
        if (as_mapping(w, v, "slack"))
                walk_slack(w, v, c);
        v = section(root, "control");
        if (as_mapping(w, v, "control"))
                walk_control(w, v, c);
        as_absolute_path(w, map_get(root, "state_dir"), "state_dir", &c->state_dir);
        as_uint(w, map_get(root, "journal_max_size"), "journal_max_size", 4096, 1U << 30,
                &c->journal_max_size);
        v = section(root, "ha");
        if (as_mapping(w, v, "ha"))
                walk_ha(w, v, c);
        as_sequence(w, section(root, "canaries"), "canaries"); /* its items were streamed */
        v = map_get(root, "canaries_dir");
        if (as_string(w, v, "canaries_dir", &c->canaries_dir)) {
                c->canaries_dir_line = v->line;
                c->canaries_dir_column = v->column;
        }
}

static struct config *config_new_defaults(void)
{
        struct config *c = xcalloc(1, sizeof(*c));
        c->datadog.site = xstrdup("datadoghq.com");
        c->datadog.api = DATADOG_API_V1;
        c->datadog.query_lag_usec = 30 * USEC_PER_SEC;
        c->datadog.timeout_usec = 10 * USEC_PER_SEC;
        c->control.socket = xstrdup("/run/canaryd/control.sock");
        c->state_dir = xstrdup("/var/lib/canaryd");
        c->journal_max_size = 1024 * 1024;
        c->ha.enabled = false;
        c->ha.shards = 16;
        c->ha.lease_duration_usec = 15 * USEC_PER_SEC;
        return c;
}

/* ===== canary names ===== */

/* A canary name and where it is: file 0 is the main file, file i + 1 is files[i]. */
struct canary_ref {
        const char *name, *path;
        size_t file, order;
        unsigned line, column;
};

static int canary_ref_cmp(const void *a, const void *b)
{
        const struct canary_ref *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

static void canary_refs_add(struct canary_ref **refs, size_t *n, const struct config *c,
                            size_t from, size_t file, const char *main_path)
{
        size_t need = *n + c->n_canaries - from + 1, cap = 16;
        while (cap < need)
                cap *= 2; /* a power of two: growing file by file stays linear */
        *refs = xrealloc(*refs, cap * sizeof(**refs));
        for (size_t i = from; i < c->n_canaries; i++) {
                const struct canary_config *cc = &c->canaries[i];
                if (!cc->name)
                        continue;
                (*refs)[*n] = (struct canary_ref){cc->name,      cc->file ? cc->file : main_path,
                                                  file,          *n,
                                                  cc->name_line, cc->name_column};
                (*n)++;
        }
}

/* Names must be unique. One sort, then in each group of equal names (in file order): a later
 * occurrence in the same file is reported against the first one in that file, the first one in
 * a later file against the group's first, naming its file. Only occurrences in files from
 * first_file on are reported, each into problems[file]. */
static void report_duplicate_names(struct canary_ref *refs, size_t n, size_t first_file,
                                   struct config_problems *problems)
{
        if (n < 2)
                return;
        qsort(refs, n, sizeof(*refs), canary_ref_cmp);
        for (size_t i = 1, head = 0, in_file = 0; i < n; i++) {
                if (strcmp(refs[i].name, refs[head].name) != 0) {
                        head = in_file = i;
                        continue;
                }
                if (refs[i].file != refs[i - 1].file)
                        in_file = i;
                const struct canary_ref *r = &refs[i], *first = &refs[in_file];
                if (r->file < first_file)
                        continue;
                if (in_file != i)
                        problem_add(&problems[r->file], r->line, r->column,
                                    "duplicate canary name '%s' (first at line %u column %u)",
                                    r->name, first->line, first->column);
                else
                        problem_add(&problems[r->file], r->line, r->column,
                                    "duplicate canary name '%s' (first at %s:%u:%u)", r->name,
                                    refs[head].path, refs[head].line, refs[head].column);
        }
}

/* Appends copies of src's problems to dst, in file (NULL: the main one). */
static void problems_append(struct config_problems *dst, const struct config_problems *src,
                            const char *file)
{
        for (size_t i = 0; i < src->n; i++)
                config_problems_add(dst, file, src->items[i].line, src->items[i].column, "%s",
                                    src->items[i].message);
}

/* Parses one file whose canaries are streamed into w->config: the main file (the list under
 * `canaries`, and every other key walked into w->config) or, with w->file, a canaries_dir file
 * (a list of canaries). Problems go to *problems; those of the canaries only when the file is
 * valid YAML (a syntax error is then the file's one problem, as for any other file). Returns
 * false when the file is not valid YAML. */
static bool parse_file(struct walker *w, const char *text, size_t len,
                       struct config_problems *problems)
{
        struct config_problems streamed = {0};
        struct arena arena = {0};
        struct ynode *root = NULL;

        w->problems = &streamed;
        w->items = 0;
        int r = builder_run(text ? text : "", text ? len : 0, problems, &arena,
                            w->file ? NULL : "canaries", walk_canary_item, w, &root);
        w->problems = problems;
        if (r == 0) {
                problems_append(problems, &streamed, NULL);
                if (!root && !w->file)
                        problem_add(problems, 1, 1,
                                    "the configuration is empty: expected a mapping of sections");
                else if (root && !w->file)
                        walk_root(w, root, w->config);
                else if (root && root->type != YNODE_SEQUENCE && root->type != YNODE_ALIAS)
                        PROBLEM_AT(w, root,
                                   "a canaries_dir file must be a list of canaries, not %s",
                                   DESCRIBE(root));
                /* an empty canaries_dir file, or only comments, has no canaries */
        }
        config_problems_free(&streamed);
        arena_free(&arena);
        return r == 0;
}

/* The canaries array grew by doubling while parsing: up to half of it unused, which at 10,000
 * canaries is megabytes held for the daemon's life. */
static void canaries_shrink_to_fit(struct config *c)
{
        if (c->n_canaries > 0)
                c->canaries = xrealloc(c->canaries, c->n_canaries * sizeof(*c->canaries));
}

int config_parse_partial(const char *text, size_t len, struct config **ret,
                         struct config_problems *problems)
{
        size_t before = problems->n;
        struct config *c = config_new_defaults();
        struct walker w = {.config = c};

        if (parse_file(&w, text, len, problems)) {
                struct canary_ref *refs = NULL;
                size_t n_refs = 0;
                canary_refs_add(&refs, &n_refs, c, 0, 0, NULL);
                report_duplicate_names(refs, n_refs, 0, problems);
                free(refs);
        }
        canaries_shrink_to_fit(c);
        *ret = c;
        if (problems->n > before) {
                problems_sort(problems, before);
                return -EINVAL;
        }
        return 0;
}

int config_parse(const char *text, size_t len, struct config **ret,
                 struct config_problems *problems)
{
        struct config *c = NULL;
        int r = config_parse_partial(text, len, &c, problems);
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ===== the files of canaries_dir ===== */

int config_parse_canaries(struct config *c, const char *main_path, const struct config_file *files,
                          size_t n_files, struct config_problems *problems)
{
        /* problems per file: [0] the main file's (none: it was checked), [i + 1] files[i]'s */
        struct config_problems *per_file = xcalloc(n_files + 1, sizeof(*per_file));
        /* the canaries are appended to c as they are parsed, and taken out again on failure */
        size_t n_main = c->n_canaries;
        struct walker w = {.config = c, .canaries_allocated = n_main};
        struct canary_ref *refs = NULL;
        size_t n_refs = 0, n_problems = 0;

        canary_refs_add(&refs, &n_refs, c, 0, 0, main_path);
        for (size_t i = 0; i < n_files; i++) {
                size_t from = c->n_canaries;
                if (files[i].error < 0) {
                        problem_add(&per_file[i + 1], 0, 0, "cannot read the file: %s",
                                    strerror(-files[i].error));
                        continue;
                }
                w.file = files[i].path;
                if (parse_file(&w, files[i].text, files[i].len, &per_file[i + 1]))
                        canary_refs_add(&refs, &n_refs, c, from, i + 1, main_path);
        }
        report_duplicate_names(refs, n_refs, 1, per_file);
        free(refs);

        for (size_t i = 0; i < n_files; i++) {
                problems_sort(&per_file[i + 1], 0);
                problems_append(problems, &per_file[i + 1], files[i].path);
                n_problems += per_file[i + 1].n;
                config_problems_free(&per_file[i + 1]);
        }
        free(per_file);
        if (n_problems == 0) {
                canaries_shrink_to_fit(c);
                return 0;
        }
        /* c as it was: the canaries added are freed by way of a config holding only them */
        struct config *added = xcalloc(1, sizeof(*added));
        added->n_canaries = c->n_canaries - n_main;
        added->canaries = xmalloc((added->n_canaries + 1) * sizeof(*added->canaries));
        if (added->n_canaries > 0)
                memcpy(added->canaries, c->canaries + n_main,
                       added->n_canaries * sizeof(*c->canaries));
        c->n_canaries = n_main;
        config_free(added);
        return -EINVAL;
}
