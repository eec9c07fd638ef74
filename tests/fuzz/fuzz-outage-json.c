/* Fuzzes the Kubernetes outage record reader (outage-json.h): the file in state_dir may be cut
 * or edited. Invariants: no crash or sanitizer report; a refusal leaves *ret untouched; an
 * accepted record is within its maxima and writes back to text that reads to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/outage-json.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct outage_record sentinel = {1, 2, 3, 4};
        struct outage_record r = sentinel, again = sentinel;

        if (outage_record_from_json((const char *)data, size, &r) < 0) {
                CHECK(memcmp(&r, &sentinel, sizeof(r)) == 0);
                return 0;
        }
        CHECK(r.checks <= OUTAGE_CHECKS_MAX && r.step <= OUTAGE_STEP_MAX);
        char *json = outage_record_to_json(&r);
        CHECK(outage_record_from_json(json, strlen(json), &again) == 0);
        CHECK(again.since_usec == r.since_usec && again.checks == r.checks &&
              again.step == r.step && again.step_started_usec == r.step_started_usec);
        free(json);
        return 0;
}
