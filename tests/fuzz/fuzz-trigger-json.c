/* Fuzzes the Deployment decoder of the trigger (deployment_inspect): the object comes from the
 * cluster. Invariants: no crash or sanitizer report; a failure comes with a message; a success
 * has a revision "t" + 10 hex digits, a terminated image, and is deterministic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/trigger.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *json = malloc(size ? size : 1);
        if (!json)
                return 0;
        if (size)
                memcpy(json, data, size);
        struct deployment_view a, b;
        char *err = NULL;
        int r = deployment_inspect(json, size, &a, &err);
        if (r < 0) {
                CHECK(err && *err);
                free(err);
        } else {
                CHECK(strlen(a.revision) == TRIGGER_REVISION_LEN && a.revision[0] == 't');
                CHECK(strspn(a.revision + 1, "0123456789abcdef") == TRIGGER_REVISION_LEN - 1);
                CHECK(memchr(a.image, '\0', sizeof(a.image)));
                CHECK(deployment_inspect(json, size, &b, NULL) == 0);
                CHECK(strcmp(a.revision, b.revision) == 0 && a.available == b.available);
        }
        free(json);
        return 0;
}
