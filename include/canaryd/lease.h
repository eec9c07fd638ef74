/* coordination.k8s.io/v1 Lease codec (src/codec/lease-json.c, pure): what client-go's leader
 * election reads and writes (WIRE.md §2.5). Times are MicroTime: RFC 3339, 6 fractional digits,
 * UTC. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>

#include "canaryd/util.h"

struct lease_record {
        char *name;                      /* metadata.name (owned) */
        char *resource_version;          /* owned; NULL when absent */
        char *holder;                    /* owned; "" when free (absent or empty holderIdentity) */
        long duration_seconds;           /* leaseDurationSeconds, 0 when absent */
        usec_t acquire_usec, renew_usec; /* 0 when absent or unreadable */
        long transitions;                /* leaseTransitions */
        /* annotation canaryd.io/shards: the shard count its holder hashes canaries onto (member
         * Leases; 0 when absent, as from an older daemon). Daemons that disagree stand back. */
        unsigned shards;
};
void lease_record_done(struct lease_record *r);

/* One Lease object. Returns 0, or -EBADMSG with *ret_error (owned). */
int lease_parse(const char *json, size_t len, struct lease_record *ret, char **ret_error);
/* A LeaseList: *ret is an owned array of *ret_n records (free each, then the array), plus the
 * raw JSON of each item in *ret_items (owned strings), to PUT back with only spec changed. */
int lease_list_parse(const char *json, size_t len, struct lease_record **ret, char ***ret_items,
                     size_t *ret_n, char **ret_error);

/* The object to write: as_read (an item as returned, or NULL to create one) with spec set from
 * r, metadata.resourceVersion = r->resource_version (the guard; omitted when NULL) and, when
 * r->shards > 0, annotation canaryd.io/shards. Every other member of as_read is kept. Caller owns
 * the result; NULL when as_read is not an object. */
char *lease_render(const char *as_read, const char *namespace_, const char *name,
                   const struct lease_record *r);
