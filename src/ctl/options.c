/* Long options spelled out in full. getopt_long takes any unambiguous prefix ("--ful" for
 * "--full", "--f" too), which is a convenience for reading options and a hazard for options that
 * move production traffic: a typo or a shortened flag must be an error, not a guess. Checked
 * before getopt_long parses the same argv. */
#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#include "options.h"

static const struct option *find(const struct option *longopts, const char *name, size_t len)
{
        for (const struct option *o = longopts; o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                        return o;
        return NULL;
}

const char *options_not_exact(int argc, char **argv, const struct option *longopts,
                              bool stop_at_operand)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0)
                        return NULL;
                if (a[0] != '-' || a[1] == '\0') {
                        if (stop_at_operand)
                                return NULL;
                        continue;
                }
                if (a[1] != '-')
                        continue; /* short options: single letters, nothing to abbreviate */
                const char *eq = strchr(a + 2, '=');
                size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
                const struct option *o = find(longopts, a + 2, len);
                if (!o)
                        return a;
                if (o->has_arg == required_argument && !eq)
                        i++; /* "--opt VALUE": the value is no option */
        }
        return NULL;
}
