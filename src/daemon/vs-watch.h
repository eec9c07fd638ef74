/* vs-watch.c: VirtualService watches that wake a canary's cycle at once when its weights are
 * changed outside canaryd (drift). Start after the canaries are set up (it restarts them);
 * stop before the canaries or the Kubernetes client go. */
#pragma once

#include "daemon.h"

void vs_watches_start(struct daemon *d);
void vs_watches_stop(struct daemon *d);
/* Parked reads (waiting for a first LIST) go ahead now: stop and reload. */
void vs_watches_unpark(struct daemon *d);
/* How c's cycle reads its VirtualService: from the cache, after the namespace's first LIST
 * (parked: canary_read_resume() runs then), or with a GET. */
enum vs_read { VS_READ_CACHED, VS_READ_WAIT, VS_READ_GET };
enum vs_read vs_cache_read(struct canary *c);
/* Our write landed and the API server answered with the stored object: it is the cache, and
 * watch events older than resource_version are skipped. */
void vs_cache_put(struct canary *c, const char *object, size_t len, const char *resource_version);
/* Frees c's cache (canary_done). */
void vs_cache_forget(struct canary *c);
