/* datadog-key.c: the Datadog API key check. */
#pragma once

#include "daemon.h"

/* Checks the API key (GET /api/v1/validate) now and again until it is accepted; a rejected key
 * is logged and shown in STATUS=, never fatal. Call after (re)building the clients. */
void datadog_key_check(struct daemon *d);
/* What is wrong with Datadog for STATUS= ("datadog API key rejected"), or NULL. */
const char *datadog_key_problem(const struct daemon *d);
/* Stops checking and frees the check's state. */
void datadog_key_free(struct daemon *d);
