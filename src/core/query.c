/* Query template expansion; see query.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canaryd/query.h"
#include "canaryd/util.h"

char *query_expand(const char *tmpl, const char *scope, const struct canary_config *c)
{
        struct buf b = {0};
        char interval[32];
        snprintf(interval, sizeof(interval), "%llu",
                 (unsigned long long)(c->interval_usec / USEC_PER_SEC));
        const struct {
                const char *key, *value;
        } vars[] = {
            {"{{scope}}", scope ? scope : ""},
            {"{{name}}", c->name ? c->name : ""},
            {"{{namespace}}", c->namespace_ ? c->namespace_ : ""},
            {"{{interval}}", interval},
        };

        for (const char *p = tmpl; *p;) {
                bool matched = false;
                for (size_t i = 0; i < ELEMENTSOF(vars) && !matched; i++) {
                        size_t kl = strlen(vars[i].key);
                        if (strncmp(p, vars[i].key, kl) == 0) {
                                buf_puts(&b, vars[i].value);
                                p += kl;
                                matched = true;
                        }
                }
                if (!matched)
                        buf_append(&b, p++, 1);
        }
        return buf_steal(&b);
}

bool query_uses_scope(const char *tmpl)
{
        return strstr(tmpl, "{{scope}}") != NULL;
}

size_t query_placeholder_len(const char *p)
{
        if (p[0] != '{' || p[1] != '{')
                return 0;
        size_t n =
            strspn(p + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");
        return n > 0 && p[2 + n] == '}' && p[3 + n] == '}' ? n + 4 : 0;
}

/* Bytes of UTF-8 sequences count as letters, so that a word is reported whole. */
static bool word_char(char c)
{
        return isalnum((unsigned char)c) || c == '_' || c == '.' || (unsigned char)c >= 0x80;
}

/* Datadog's space aggregators: avg, sum, min, max, count (distributions), and for distributions
 * a percentile with up to two decimals (p50, p99.9, p99.99). */
static bool known_aggregator(const char *w, size_t n)
{
        static const char *const names[] = {"avg", "sum", "min", "max", "count"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (n == strlen(names[i]) && strncasecmp(w, names[i], n) == 0)
                        return true;
        if (n < 2 || (w[0] != 'p' && w[0] != 'P'))
                return false;
        size_t digits = strspn(w + 1, "0123456789"), decimals = 0;
        if (digits == 0 || digits > 3)
                return false;
        if (1 + digits < n) {
                if (w[1 + digits] != '.')
                        return false;
                decimals = strspn(w + 2 + digits, "0123456789");
                if (decimals == 0 || decimals > 2 || 2 + digits + decimals != n)
                        return false;
        }
        return strtod(w + 1, NULL) <= 100;
}

static bool problem(struct query_problem *ret, enum query_problem_kind kind, size_t offset,
                    size_t len)
{
        *ret = (struct query_problem){kind, offset, len};
        return false;
}

bool query_check(const char *q, struct query_problem *ret)
{
        char open[64];
        size_t open_at[64], depth = 0, braces = 0; /* braces: how many '{' are open */

        for (size_t i = 0; q[i];) {
                char c = q[i];
                size_t ph = query_placeholder_len(q + i);

                if (braces > 0 && ph) { /* a variable in a tag filter */
                        i += ph;
                } else if (braces == 0 && (ph || word_char(c))) {
                        /* a word, variables included; AGG:metric when a ':' follows */
                        size_t start = i;
                        bool variable = false;
                        for (;;) {
                                size_t l = query_placeholder_len(q + i);
                                if (l) {
                                        variable = true;
                                        i += l;
                                } else if (word_char(q[i])) {
                                        i++;
                                } else {
                                        break;
                                }
                        }
                        size_t after = i + strspn(q + i, " ");
                        if (q[after] == ':' && !variable && !known_aggregator(q + start, i - start))
                                return problem(ret, QUERY_UNKNOWN_AGGREGATOR, start, i - start);
                } else if (c == '(' || c == '{') {
                        if (depth == ELEMENTSOF(open))
                                return problem(ret, QUERY_TOO_DEEP, i, 1);
                        open[depth] = c;
                        open_at[depth++] = i++;
                        braces += c == '{';
                } else if (c == ')' || c == '}') {
                        if (depth == 0 || open[depth - 1] != (c == ')' ? '(' : '{'))
                                return problem(ret, QUERY_UNBALANCED, i, 1);
                        depth--;
                        braces -= c == '}';
                        i++;
                } else if (braces > 0) {
                        i++; /* tag filters are Datadog's to judge: anything but brackets goes */
                } else if (c == '\'' || c == '"') { /* a string argument: top(..., 'mean') */
                        const char *end = strchr(q + i + 1, c);
                        if (!end)
                                return problem(ret, QUERY_UNCLOSED_QUOTE, i, 1);
                        i = (size_t)(end - q) + 1;
                } else {
                        i++;
                }
        }
        if (depth > 0)
                return problem(ret, QUERY_UNCLOSED, open_at[depth - 1], 1);
        return true;
}
