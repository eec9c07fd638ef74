/* vs-watch.c: VirtualService watches that wake a canary's cycle at once when its weights are
 * changed outside canaryd (drift). Start after the canaries are set up (it restarts them);
 * stop before the canaries or the Kubernetes client go. */
#pragma once

#include "canary.h"
#include "canaryd/vs.h"

/* What the watches ask of a canary's cycle (driver.c), so this file does not call up into it. */
struct vs_watch_callbacks {
        /* A read parked by vs_cache_read() can go on: the cache is filled, or it must GET. */
        void (*read_resume)(struct canary *c);
        /* The VirtualService changed outside canaryd: run the cycle now. */
        void (*wake)(struct canary *c);
};

/* cb is borrowed and must outlive the watches. */
void vs_watches_start(struct daemon *d, const struct vs_watch_callbacks *cb);
void vs_watches_stop(struct daemon *d);
/* Parked reads (waiting for a first LIST) go ahead now: stop and reload. */
void vs_watches_unpark(struct daemon *d);
/* How c's cycle reads its VirtualService: from the cache, after the namespace's first LIST
 * (parked: the read_resume callback runs then), or with a GET. */
enum vs_read { VS_READ_CACHED, VS_READ_WAIT, VS_READ_GET };
enum vs_read vs_cache_read(struct canary *c);
/* Our write landed and the API server answered with the stored object: it is the cache, and
 * watch events older than resource_version are skipped. */
void vs_cache_put(struct canary *c, const char *object, size_t len, const char *resource_version);
/* The routes of the object last read for c (view NULL: it is gone), for status. */
void vs_routes_seen(struct canary *c, const struct vs_view *view);
/* Frees c's cache (canary_done). */
void vs_cache_forget(struct canary *c);
