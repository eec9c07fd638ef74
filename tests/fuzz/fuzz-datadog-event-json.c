/* Fuzzes the Datadog events codec (datadog-event-json.h). The input is read two ways: as
 * Datadog's answer to POST /api/v1/events under several HTTP statuses, and, split at NUL bytes,
 * as the strings of an event (byte 0 picks the kind, which strings are absent, and the weight
 * and steps).
 * Invariants: no crash or sanitizer report; a parsed answer is ACCEPTED exactly for 2xx, INVALID
 * only for 400, RETRY only for 408, 429 and 5xx, its errors free of control characters, its id
 * non-negative; a built body parses back as a JSON object with the documented limits held
 * (title <= 100 bytes, text <= 4000 bytes between its markdown markers, aggregation_key <= 100,
 * every tag <= 200), alert_type the kind's, the source:canaryd tag present and every string
 * valid UTF-8; a missing canary or namespace is -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/datadog-event-json.h"
#include "canaryd/utf8.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *json_str(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_string(const char *s, size_t max)
{
        CHECK(s);
        CHECK(strlen(s) <= max && utf8_valid(s, strlen(s)));
}

static void check_body(const char *body, enum datadog_event_kind kind)
{
        cJSON *root = cJSON_Parse(body);
        const char *s;
        const cJSON *t;
        int source = 0;

        CHECK(root && cJSON_IsObject(root));
        s = json_str(root, "title");
        check_string(s, DATADOG_EVENT_TITLE_MAX);
        CHECK(s && *s);
        s = json_str(root, "text");
        check_string(s, DATADOG_EVENT_TEXT_MAX);
        CHECK(strncmp(s, "%%% \n", 5) == 0 && strlen(s) >= 10 &&
              strcmp(s + strlen(s) - 5, "\n %%%") == 0);
        check_string(json_str(root, "aggregation_key"), DATADOG_EVENT_AGG_KEY_MAX);
        CHECK(strcmp(json_str(root, "alert_type"), datadog_event_alert_type(kind)) == 0);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "date_happened")));
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(root, "tags")) {
                CHECK(cJSON_IsString(t));
                check_string(t->valuestring, DATADOG_EVENT_TAG_MAX);
                source |= strcmp(t->valuestring, "source:canaryd") == 0;
        }
        CHECK(source);
        cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const long statuses[] = {202, 200, 400, 403, 408, 429, 500, 503, 404, 0};
        const char *body = (const char *)data;

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                struct datadog_event_result r;
                long st = statuses[i];

                CHECK(datadog_event_result_parse(st, body, size, &r) == 0);
                CHECK((r.status == DATADOG_EVENT_ACCEPTED) == (st / 100 == 2));
                if (r.status == DATADOG_EVENT_INVALID)
                        CHECK(st == 400);
                if (r.status == DATADOG_EVENT_RETRY)
                        CHECK(st == 408 || st == 429 || st / 100 == 5);
                CHECK(r.id >= 0);
                CHECK(r.status != DATADOG_EVENT_ACCEPTED || !r.errors);
                for (const char *c = r.errors; c && *c; c++)
                        CHECK((unsigned char)*c >= 0x20);
                datadog_event_result_done(&r);
        }

        if (size < 1)
                return 0;
        /* strings: the rest of the input cut at NULs, reused round-robin */
        char *copy = malloc(size);
        const char *strs[16];
        size_t n = 0;
        CHECK(copy);
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        for (size_t i = 0; i < size && n < 16;) {
                strs[n++] = copy + i;
                i += strlen(copy + i) + 1;
        }
#define S(k) (strs[(k) % n])
        uint8_t b = data[0];
        struct datadog_event e = {
            .kind = b % 5, /* 4 is out of range */
            .canary = S(0),
            .namespace_ = S(1),
            .revision = (b & 8) ? NULL : S(2),
            .reason = (b & 16) ? NULL : S(3),
            .actor = (b & 32) ? NULL : S(4),
            .link = (b & 64) ? NULL : S(5),
            .weight_pct = b,
            .step = b >> 4,
            .n_steps = b & 7,
            .at_usec = (uint64_t)size * 0x9e3779b97f4a7c15ull,
            .started_usec = (uint64_t)b << 56,
        };
        char *out = NULL;
        int r = datadog_event_build(&e, &out);
        if (r == 0) {
                CHECK(out && *e.canary && *e.namespace_ && e.kind < _DATADOG_EVENT_KIND_MAX);
                check_body(out, e.kind);
                free(out);
        } else {
                CHECK(r == -EINVAL &&
                      (!*e.canary || !*e.namespace_ || e.kind >= _DATADOG_EVENT_KIND_MAX));
        }
        char *key = datadog_event_aggregation_key(S(0), e.at_usec);
        CHECK(key && strlen(key) <= DATADOG_EVENT_AGG_KEY_MAX && strncmp(key, "canaryd/", 8) == 0);
        free(key);
#undef S
        free(copy);
        return 0;
}
