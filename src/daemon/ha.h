/* ha.c: shard Leases. Without ha every canary is ours. on_shard runs each time this daemon
 * starts or stops acting for a shard; ha.c knows leases, not canaries (main.c passes
 * canaries_shard_changed). */
#pragma once

#include "daemon.h"

/* taken_over: acquired from a daemon that stopped renewing it (it may have died between a
 * state write and its Slack post), not free or released */
typedef void ha_shard_fn(struct daemon *d, unsigned shard, unsigned n_shards, bool owned,
                         bool taken_over);
int ha_new(struct daemon *d, ha_shard_fn *on_shard, struct ha **ret);
struct ha *ha_free(struct ha *h);
bool ha_owns(const struct daemon *d, const struct canary *c);
unsigned ha_shard_of(const char *namespace_, const char *name, unsigned shards);
const char *ha_identity(const struct daemon *d);
unsigned ha_owned_count(const struct daemon *d);
/* Graceful stop: releases every Lease we hold; done runs once (possibly at once). */
void ha_release_all(struct ha *h, void (*done)(struct daemon *d));
