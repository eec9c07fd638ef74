/* Query template expansion; see query.h. */
#include <stdio.h>
#include <string.h>

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
