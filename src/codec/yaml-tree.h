/* Private to the config codec (yaml-tree.c, config-values.c, config-yaml.c): the YAML node
 * tree with marks, built in an arena, and the problems of a file with their positions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "canaryd/config.h"

/* The nodes of a tree, their values and item arrays live in one arena, freed at once. */
struct arena_chunk {
        struct arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

struct arena {
        struct arena_chunk *head;
        struct arena_chunk *spare; /* one chunk given back by a rollback, kept for reuse */
};

/* Frees every chunk (the arena itself is the caller's). */
void yaml_arena_free(struct arena *a);

enum ynode_type { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING, YNODE_ALIAS };

struct ynode {
        enum ynode_type type;
        unsigned line, column; /* 1-based */
        char *value;           /* scalar bytes, NUL-terminated (may also hold NULs) */
        size_t len;
        bool plain;  /* plain (unquoted, untagged) scalar: may be null, a number or a boolean */
        bool quoted; /* single- or double-quoted scalar */
        unsigned end_line, end_column; /* where a scalar's text ends (1-based, exclusive) */
        struct ynode **items;          /* sequence items; mapping keys and values interleaved */
        size_t n_items;
};

static inline bool node_key_eq(const struct ynode *k, const char *s)
{
        return k->type == YNODE_SCALAR && k->len == strlen(s) && memcmp(k->value, s, k->len) == 0;
}

/* Takes one item of a streamed list, as soon as it is built; its nodes are freed afterwards. */
typedef void ynode_item_fn(const struct ynode *item, void *userdata);

/* Parses text into a tree of the single document, allocated in *arena (the caller frees it with
 * yaml_arena_free(), also on failure). The items of one list are streamed to stream_fn as soon
 * as each is built, and freed after: with stream_key, the list under that key of the root
 * mapping, else the root list. Returns 0 and *ret (NULL for an empty stream), or -EINVAL with
 * the problems reported. */
int yaml_tree_parse(const char *text, size_t len, struct config_problems *problems,
                    struct arena *arena, const char *stream_key, ynode_item_fn *stream_fn,
                    void *stream_userdata, struct ynode **ret);

/* A problem at line:column (1-based), formatted. */
void yaml_problem_add(struct config_problems *p, unsigned line, unsigned column, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* Stable sort of the problems from index `from` on by (line, column): problems found at one
 * token keep the order they were found, and those of earlier calls (other files) stay first. */
void yaml_problems_sort(struct config_problems *p, size_t from);
