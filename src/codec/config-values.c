/* The second pass's vocabulary: a walker over the node tree (yaml-tree.h) that reads typed
 * values (strings, numbers in a range, durations, enums, names, URLs, paths), checks keys with a
 * "did you mean" hint, and collects every problem with its line and column instead of stopping
 * at the first. The schema itself is config-yaml.c. */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/config.h"
#include "canaryd/names.h"
#include "config-values.h"

bool scalar_is_null(const struct ynode *n)
{
        return n->type == YNODE_SCALAR && n->plain &&
               (n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
                strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

/* A short, printable rendering of a node for messages: scalars quoted and cut at 40 bytes. */
const char *describe(const struct ynode *n, char *buf, size_t size)
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

const struct ynode *map_get(const struct ynode *map, const char *key)
{
        const struct ynode *const *pair = map_find(map, key);
        return pair ? pair[1] : NULL;
}

const struct ynode *map_get_key(const struct ynode *map, const char *key)
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
void report_duplicates(struct walker *w, struct named *v, size_t n, const char *what)
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
void check_keys(struct walker *w, const struct ynode *map, const char *what,
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

const struct ynode *require(struct walker *w, const struct ynode *map, const char *key,
                            const char *what)
{
        const struct ynode *v = map_get(map, key);
        if (!v)
                PROBLEM_AT(w, map, "missing required key '%s' in %s", key, what);
        return v;
}

/* ----- typed values; each returns true and writes *dst only for a valid value ----- */

bool as_mapping(struct walker *w, const struct ynode *v, const char *key)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_MAPPING) {
                PROBLEM_AT(w, v, "%s must be a mapping, not %s", key, DESCRIBE_TYPED(v));
                return false;
        }
        return true;
}

bool as_sequence(struct walker *w, const struct ynode *v, const char *key)
{
        if (!v || v->type == YNODE_ALIAS)
                return false;
        if (v->type != YNODE_SEQUENCE) {
                PROBLEM_AT(w, v, "%s must be a list, not %s", key, DESCRIBE_TYPED(v));
                return false;
        }
        return true;
}

bool as_string(struct walker *w, const struct ynode *v, const char *key, char **dst)
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

bool as_number(struct walker *w, const struct ynode *v, const char *key, double *dst)
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
bool as_number_in(struct walker *w, const struct ynode *v, const char *key, double lo, bool lo_open,
                  double hi, bool hi_open, const char *range, double *dst)
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

bool as_uint(struct walker *w, const struct ynode *v, const char *key, unsigned lo, unsigned hi,
             unsigned *dst)
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

bool as_bool(struct walker *w, const struct ynode *v, const char *key, bool *dst)
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

bool as_duration(struct walker *w, const struct ynode *v, const char *key, bool positive,
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

bool as_enum(struct walker *w, const struct ynode *v, const char *key,
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

bool as_label(struct walker *w, const struct ynode *v, const char *key, char **dst)
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

bool as_subdomain(struct walker *w, const struct ynode *v, const char *key, char **dst)
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

bool as_simple_name(struct walker *w, const struct ynode *v, const char *key, char **dst)
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

bool as_url(struct walker *w, const struct ynode *v, const char *key, char **dst)
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

bool as_absolute_path(struct walker *w, const struct ynode *v, const char *key, char **dst)
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
