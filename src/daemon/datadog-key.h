/* datadog-key.c: the Datadog API key check. Knows the Datadog client and the event loop, not
 * the daemon: what it finds reaches the caller through the changed callback. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

struct datadog_client;
struct datadog_key;

/* Called when datadog_key_problem() changes. */
typedef void (*datadog_key_changed_fn)(void *userdata);

/* A check that does nothing until datadog_key_check(); free with datadog_key_free(). */
struct datadog_key *datadog_key_new(sd_event *event, datadog_key_changed_fn changed,
                                    void *userdata);
/* Checks the API key of client (GET /api/v1/validate) now and again until it is accepted; a
 * rejected key is logged and shown by datadog_key_problem(), never fatal. Call after
 * (re)building the clients; a NULL client stops checking (the client is going, or the daemon
 * is stopping). client is borrowed and must outlive the next call. */
void datadog_key_check(struct datadog_key *k, struct datadog_client *client);
/* The current client's key passed a check (for /readyz). */
bool datadog_key_accepted(const struct datadog_key *k);
/* What is wrong with Datadog for STATUS= ("datadog API key rejected"), or NULL. */
const char *datadog_key_problem(const struct datadog_key *k);
/* Stops checking and frees the check; returns NULL. */
struct datadog_key *datadog_key_free(struct datadog_key *k);
