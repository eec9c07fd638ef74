/* Secrets given in the environment are taken out of it, and the process never dumps core
 * (env-secrets.h). systemd's LoadCredential= files are the better way to pass secrets; the
 * environment is still accepted for DD_API_KEY and DD_APP_KEY (SPEC.md §3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "canaryd/util.h"
#include "env-secrets.h"

extern char **environ;

void env_secrets_take(const char *const names[], char *ret[], size_t n)
{
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(names[i]);

                ret[i] = NULL;
                for (char **e = environ; e && *e; e++) {
                        if (strncmp(*e, names[i], len) != 0 || (*e)[len] != '=')
                                continue;
                        char *value = *e + len + 1;
                        if (*value && !ret[i])
                                ret[i] = xstrdup(value);
                        /* the block /proc/PID/environ reads: wiped, not only unlinked */
                        explicit_bzero(value, strlen(value));
                }
                unsetenv(names[i]);
        }
}

int secrets_no_dump(void)
{
        return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? -errno : 0;
}
