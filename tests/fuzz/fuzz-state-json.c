/* Fuzzes the canaryd.io/state annotation codec (state_from_json, state_to_json): the annotation
 * lives on the VirtualService, where anyone with access to the cluster can edit it. The first
 * byte picks n_steps (0..15); the rest is the JSON. Invariants: no crash or sanitizer report; a
 * failure comes with a message and leaves *ret untouched; a success is a valid state (phase
 * known, weight 0..100, step <= n_steps, strings terminated), and state_to_json followed by
 * state_from_json gives back the identical struct, and the identical JSON. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/state-json.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t n_steps = data[0] % 16;
        size_t len = size - 1;

        /* An exact-size copy, so that ASan catches any read past len. */
        char *json = malloc(len ? len : 1);
        if (!json)
                return 0;
        if (len)
                memcpy(json, data + 1, len);

        struct rollout_state s, poison;
        memset(&poison, 0xa5, sizeof(poison));
        s = poison;
        char *err = NULL;
        char ts[SLACK_THREAD_TS_MAX], ts_poison[SLACK_THREAD_TS_MAX];
        memset(ts_poison, 0xa5, sizeof(ts_poison));
        memcpy(ts, ts_poison, sizeof(ts));
        int r = state_from_json(json, len, n_steps, &s, ts, &err);
        free(json);
        if (r < 0) {
                CHECK(err && *err);
                CHECK(memcmp(&s, &poison, sizeof(s)) == 0);
                CHECK(memcmp(ts, ts_poison, sizeof(ts)) == 0);
                free(err);
                return 0;
        }
        CHECK(r == 0 && !err);
        CHECK(rollout_phase_to_string(s.phase));
        CHECK(s.weight <= 100 && s.step <= n_steps);
        CHECK(memchr(s.revision, '\0', sizeof(s.revision)));
        CHECK(memchr(s.last_actor, '\0', sizeof(s.last_actor)));
        CHECK(memchr(s.last_reason, '\0', sizeof(s.last_reason)));
        CHECK(memchr(ts, '\0', sizeof(ts)));

        char *out = state_to_json(&s, ts);
        CHECK(out);
        struct rollout_state again = poison;
        char ts_again[SLACK_THREAD_TS_MAX];
        r = state_from_json(out, strlen(out), n_steps, &again, ts_again, &err);
        CHECK(r == 0 && !err);
        /* Both came from rollout_state_init + the same fields, so even the bytes after each
         * string's NUL agree. */
        CHECK(memcmp(&s, &again, sizeof(s)) == 0);
        CHECK(strcmp(ts, ts_again) == 0);

        char *out2 = state_to_json(&again, ts_again);
        CHECK(strcmp(out, out2) == 0);
        free(out2);
        free(out);
        return 0;
}
