/* Fuzzes the PagerDuty outbox reader (pager-outbox.h): a file on disk may be cut, edited or
 * corrupted. Invariants: no crash or sanitizer report; a refusal keeps nothing and says why; an
 * accepted outbox holds at most PAGER_OUTBOX_EVENTS_MAX events, each a trigger or resolve whose
 * body is a JSON object, canaries sorted by unique name, and it writes back to text that reads
 * again to the same outbox. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/pager-outbox.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pager_outbox o, again;
        char *err = NULL, *json;

        if (pager_outbox_from_json((const char *)data, size, &o, &err) < 0) {
                CHECK(err && *err && o.n_events == 0 && o.n_canaries == 0);
                free(err);
                return 0;
        }
        CHECK(o.n_events <= PAGER_OUTBOX_EVENTS_MAX && o.n_canaries <= PAGER_OUTBOX_CANARIES_MAX);
        for (size_t i = 0; i < o.n_events; i++)
                CHECK(strcmp(o.events[i].action, "trigger") == 0 ||
                      strcmp(o.events[i].action, "resolve") == 0);
        for (size_t i = 1; i < o.n_canaries; i++)
                CHECK(strcmp(o.canaries[i - 1].name, o.canaries[i].name) < 0);
        json = pager_outbox_to_json(&o);
        CHECK(pager_outbox_from_json(json, strlen(json), &again, &err) == 0);
        CHECK(again.since_usec == o.since_usec && again.n_events == o.n_events &&
              again.n_canaries == o.n_canaries);
        for (size_t i = 0; i < o.n_canaries; i++)
                CHECK(strcmp(again.canaries[i].name, o.canaries[i].name) == 0 &&
                      again.canaries[i].rec.rollout_usec == o.canaries[i].rec.rollout_usec &&
                      again.canaries[i].rec.open == o.canaries[i].rec.open &&
                      again.canaries[i].rec.done_usec == o.canaries[i].rec.done_usec);
        for (size_t i = 0; i < o.n_events; i++)
                CHECK(strcmp(again.events[i].body, o.events[i].body) == 0);
        pager_outbox_done(&again);
        pager_outbox_done(&o);
        free(json);
        return 0;
}
