/* status.c: the status document, STATUS= for systemd, and the canary's log lines. */
#pragma once

#include "canary.h"

char *status_json(const struct daemon *d, const char *name); /* NULL name: all */
void status_notify(struct daemon *d);
void log_canary(int priority, const struct canary *c, const char *message_id,
                const char *const *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
