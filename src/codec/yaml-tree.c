/* The first pass over a configuration file: libyaml's event stream -> a small tree of nodes,
 * each keeping its start mark (libyaml's marks are 0-based; we store them 1-based). Syntax
 * errors, aliases, excessive nesting and extra documents are reported here, with line and
 * column; and the problems of a file are put in the order of the text at the end. */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yaml-tree.h"

#define MAX_DEPTH 64

void yaml_problem_add(struct config_problems *p, unsigned line, unsigned column, const char *fmt,
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
void yaml_problems_sort(struct config_problems *p, size_t from)
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

void yaml_arena_free(struct arena *a)
{
        arena_rollback(a, (struct arena_mark){0});
        free(a->spare);
        a->spare = NULL;
}

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
                yaml_problem_add(b->problems, 1, 1, "out of memory while parsing YAML");
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
                yaml_problem_add(b->problems, line, column, "invalid input: %s", problem);
                return;
        }
        if (y->context)
                yaml_problem_add(b->problems, (unsigned)y->problem_mark.line + 1,
                                 (unsigned)y->problem_mark.column + 1,
                                 "YAML syntax error: %s %s that started at line %u column %u",
                                 problem, y->context, (unsigned)y->context_mark.line + 1,
                                 (unsigned)y->context_mark.column + 1);
        else
                yaml_problem_add(b->problems, (unsigned)y->problem_mark.line + 1,
                                 (unsigned)y->problem_mark.column + 1, "YAML syntax error: %s",
                                 problem);
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
                n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                            ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                n->end_line = (unsigned)ev->end_mark.line + 1;
                n->end_column = (unsigned)ev->end_mark.column + 1;
                break;
        }
        case YAML_ALIAS_EVENT:
                n = ynode_new(b, YNODE_ALIAS, &ev->start_mark);
                yaml_problem_add(b->problems, n->line, n->column,
                                 "YAML aliases are not supported (*%.40s): write the value out",
                                 (const char *)ev->data.alias.anchor);
                break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
                yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
                n = ynode_new(b, seq ? YNODE_SEQUENCE : YNODE_MAPPING, &ev->start_mark);
                if (depth >= MAX_DEPTH) {
                        yaml_problem_add(b->problems, n->line, n->column,
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
                yaml_problem_add(b->problems, n->line, n->column, "unexpected YAML event");
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
 * yaml_arena_free(), also on failure). The items of one list are streamed to stream_fn (see struct
 * builder): with stream_key, the list under that key of the root mapping, else the root list.
 * Returns 0 and *ret (NULL for an empty stream), or -EINVAL with the problems reported. */
int yaml_tree_parse(const char *text, size_t len, struct config_problems *problems,
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
                yaml_problem_add(problems, 1, 1, "out of memory initializing the YAML parser");
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
                        yaml_problem_add(problems, 1, 1, "unexpected YAML event");
                        r = -EINVAL;
                        goto finish;
                }
                if (seen_document) {
                        yaml_problem_add(problems, (unsigned)ev.start_mark.line + 1,
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
