/* Fuzzes the query template functions of query.h: query_check() reports a problem inside the
 * query that is what its kind says, and query_uses_scope() is true exactly when the canary's
 * and the baseline's expansions differ (the loader's rule for judges that compare the arms). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/query.h"
#include "canaryd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *q = malloc(size + 1);
        if (!q)
                return 0;
        memcpy(q, data, size);
        q[size] = '\0';
        size_t n = strlen(q);

        struct query_problem p;
        if (!query_check(q, &p)) {
                if (p.kind >= _QUERY_PROBLEM_MAX || p.len == 0 || p.offset >= n ||
                    p.len > n - p.offset)
                        abort();
                char c = q[p.offset];
                switch (p.kind) {
                case QUERY_UNBALANCED:
                        if (c != ')' && c != '}')
                                abort();
                        break;
                case QUERY_UNCLOSED:
                case QUERY_TOO_DEEP:
                        if (c != '(' && c != '{')
                                abort();
                        break;
                case QUERY_UNCLOSED_QUOTE:
                        if (c != '\'' && c != '"')
                                abort();
                        break;
                default: /* an aggregator is a word: no braces, spaces or colons in it */
                        if (memchr(q + p.offset, ':', p.len) || memchr(q + p.offset, ' ', p.len) ||
                            memchr(q + p.offset, '{', p.len) || memchr(q + p.offset, '(', p.len))
                                abort();
                        break;
                }
        }

        char name[] = "web", namespace_[] = "shop";
        struct canary_config c = {
            .name = name, .namespace_ = namespace_, .interval_usec = 60 * USEC_PER_SEC};
        char *canary = query_expand(q, "version:canary", &c);
        char *baseline = query_expand(q, "version:stable", &c);
        if (query_uses_scope(q) != (strcmp(canary, baseline) != 0))
                abort();
        free(canary);
        free(baseline);
        free(q);
        return 0;
}
