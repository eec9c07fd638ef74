/* endpoint.c: the HTTP endpoint (SPEC §9): /metrics, /healthz, /readyz. */
#pragma once

#include "canary.h"

/* Listens as http.listen says, or on a TCP socket systemd passed (fd >= 0, taken on success).
 * Without either, does nothing. Returns 0 or -errno (logged). */
int endpoint_start(struct daemon *d, int fd);
void endpoint_stop(struct daemon *d);
/* Why the daemon is not ready (NULL: ready), as /readyz says it; buf holds the text. */
const char *endpoint_not_ready(const struct daemon *d, char *buf, size_t size);
