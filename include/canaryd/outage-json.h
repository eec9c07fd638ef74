/* The Kubernetes outage record of a canary, <state_dir>/<canary>.outage (src/daemon/outage.c):
 * {"since":USEC,"checks":N,"step":N,"step_started":USEC}. Pure (src/codec/outage-json.c). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>
#include <stdint.h>

struct outage_record {
        uint64_t since_usec; /* when reads or writes began to fail */
        unsigned checks;     /* intervals of the step that passed so: inconclusive checks */
        unsigned step;       /* the step they count for, by number and start */
        uint64_t step_started_usec;
};

#define OUTAGE_CHECKS_MAX 1000000u
#define OUTAGE_STEP_MAX   1000u

char *outage_record_to_json(const struct outage_record *r); /* caller owns it */
/* Reads the text of a record (any bytes). 0 and *ret, or -EINVAL (with *ret untouched) when it
 * is not one: not JSON, a member missing, not a whole number, beyond the maxima above. */
int outage_record_from_json(const char *text, size_t len, struct outage_record *ret);
