/* env-secrets.c: secrets out of reach of other readers of the process. */
#pragma once

#include <stddef.h>

/* Takes each of the n variables names[i] out of the environment: its value is copied into
 * ret[i] (owned, free_secret(); NULL when unset or empty) and wiped in place in the environment
 * block, which /proc/PID/environ shows to whoever may read the process's files, before the
 * variable is unset. Call once at start, before any thread. */
void env_secrets_take(const char *const names[], char *ret[], size_t n);

/* Makes the process non-dumpable: no core dump holds its secrets, and only root may read its
 * /proc files or trace it. Returns 0 or -errno. */
int secrets_no_dump(void);
