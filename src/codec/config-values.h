/* Private to the config codec (config-values.c, config-yaml.c): a walker over the YAML node
 * tree that reads typed values and collects problems with their line and column. Each as_*
 * returns true and writes *dst only for a valid value, and otherwise reports why. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"
#include "yaml-tree.h"

struct walker {
        struct config_problems *problems;
        /* canaries streamed from the builder: appended to config, defined in file (NULL: the
         * main file); items counts the list's items, canaries_allocated the array's capacity */
        struct config *config;
        const char *file;
        size_t items, canaries_allocated;
};

#define PROBLEM_AT(w, node, ...)                                                                   \
        yaml_problem_add((w)->problems, (node)->line, (node)->column, __VA_ARGS__)

/* A short, printable rendering of a node for messages: scalars quoted and cut at 40 bytes. */
#define DESCRIBE(n) describe((n), (char[64]){0}, 64)

struct named {
        const char *name;
        size_t len;
        const struct ynode *node;
        size_t index;
};

bool scalar_is_null(const struct ynode *n);
const struct ynode *map_get(const struct ynode *map, const char *key);
const struct ynode *map_get_key(const struct ynode *map, const char *key);
void report_duplicates(struct walker *w, struct named *v, size_t n, const char *what);
void check_keys(struct walker *w, const struct ynode *map, const char *what,
                const char *const *known);
const struct ynode *require(struct walker *w, const struct ynode *map, const char *key,
                            const char *what);
bool as_mapping(struct walker *w, const struct ynode *v, const char *key);
bool as_sequence(struct walker *w, const struct ynode *v, const char *key);
bool as_string(struct walker *w, const struct ynode *v, const char *key, char **dst);
bool as_number(struct walker *w, const struct ynode *v, const char *key, double *dst);
bool as_number_in(struct walker *w, const struct ynode *v, const char *key, double lo, bool lo_open,
                  double hi, bool hi_open, const char *range, double *dst);
bool as_uint(struct walker *w, const struct ynode *v, const char *key, unsigned lo, unsigned hi,
             unsigned *dst);
bool as_bool(struct walker *w, const struct ynode *v, const char *key, bool *dst);
bool as_duration(struct walker *w, const struct ynode *v, const char *key, bool positive,
                 usec_t *dst);
bool as_label(struct walker *w, const struct ynode *v, const char *key, char **dst);
bool as_subdomain(struct walker *w, const struct ynode *v, const char *key, char **dst);
bool as_simple_name(struct walker *w, const struct ynode *v, const char *key, char **dst);
bool as_url(struct walker *w, const struct ynode *v, const char *key, char **dst);
bool as_enum(struct walker *w, const struct ynode *v, const char *key,
             const char *(*name_of)(unsigned), unsigned n, int *dst);
bool as_absolute_path(struct walker *w, const struct ynode *v, const char *key, char **dst);
const char *describe(const struct ynode *n, char *buf, size_t size);
