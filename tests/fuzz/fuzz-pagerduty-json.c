/* Fuzzes the PagerDuty Events API v2 codec (pagerduty-json.h). The input is read two ways:
 * as PagerDuty's answer under several HTTP statuses, and, split at NUL bytes, as the strings of
 * an event (byte 0 picks action, severity and how many links and details).
 * Invariants: no crash or sanitizer report; a parsed answer's strings are valid UTF-8 without
 * control characters and within their caps, ACCEPTED only for 2xx with a key, INVALID only for
 * 400; a built body parses back as JSON with the documented limits held (summary <= 1024 bytes,
 * dedup_key <= 255, severity and event_action from the enums) and valid UTF-8 strings; the
 * dedup key helper stays within 255 bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/pagerduty-json.h"
#include "canaryd/utf8.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
        size_t n;

        if (!s)
                return;
        n = strlen(s);
        CHECK(n <= max && utf8_valid(s, n));
        for (size_t i = 0; i < n; i++)
                CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static const char *json_str(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_body(const char *body, enum pagerduty_action action)
{
        cJSON *root = cJSON_Parse(body);
        const char *s;

        CHECK(root && cJSON_IsObject(root));
        CHECK((s = json_str(root, "event_action")) &&
              strcmp(s, pagerduty_action_to_string(action)) == 0);
        CHECK(json_str(root, "routing_key"));
        s = json_str(root, "dedup_key");
        CHECK(!s || strlen(s) <= PAGERDUTY_DEDUP_KEY_MAX);
        CHECK(action == PAGERDUTY_TRIGGER || s);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "payload");
        if (action == PAGERDUTY_TRIGGER) {
                CHECK((s = json_str(p, "summary")) && *s && strlen(s) <= PAGERDUTY_SUMMARY_MAX &&
                      utf8_valid(s, strlen(s)));
                CHECK((s = json_str(p, "source")) && *s && strlen(s) <= PAGERDUTY_FIELD_MAX);
                s = json_str(p, "severity");
                int known = 0;
                for (int i = 0; i < _PAGERDUTY_SEVERITY_MAX; i++)
                        known |= s && strcmp(s, pagerduty_severity_to_string(i)) == 0;
                CHECK(known);
                CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "links")) <=
                      PAGERDUTY_MAX_LINKS);
                CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "custom_details")) <=
                      PAGERDUTY_MAX_DETAILS);
        } else {
                CHECK(!p);
        }
        cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const long statuses[] = {202, 200, 400, 429, 500, 403};
        const char *body = (const char *)data;

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                struct pagerduty_result r;
                CHECK(pagerduty_result_parse(statuses[i], body, size, &r) == 0);
                CHECK(r.n_errors <= PAGERDUTY_RESULT_ERRORS);
                check_text(r.dedup_key, PAGERDUTY_DEDUP_KEY_MAX);
                check_text(r.message, PAGERDUTY_RESULT_TEXT_MAX);
                for (size_t k = 0; k < r.n_errors; k++)
                        check_text(r.errors[k], PAGERDUTY_RESULT_TEXT_MAX);
                if (r.status == PAGERDUTY_ACCEPTED)
                        CHECK(statuses[i] / 100 == 2 && r.dedup_key && *r.dedup_key);
                else
                        CHECK(!r.dedup_key);
                if (r.status == PAGERDUTY_INVALID)
                        CHECK(statuses[i] == 400);
                pagerduty_result_done(&r);
        }

        if (size < 1)
                return 0;
        /* strings: the rest of the input cut at NULs, reused round-robin */
        char *copy = malloc(size);
        const char *strs[64];
        size_t n = 0;
        CHECK(copy);
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        for (size_t i = 0; i < size && n < 64;) {
                strs[n++] = copy + i;
                i += strlen(copy + i) + 1;
        }
#define S(k) (strs[(k) % n])
        uint8_t b = data[0];
        struct pagerduty_link links[PAGERDUTY_MAX_LINKS + 2];
        struct pagerduty_detail details[8];
        size_t n_links = (b >> 4) & 3 ? ((b >> 4) & 3) * 6 : 0; /* 0, 6, 12, 18 (> the cap) */
        size_t n_details = (b >> 6) * 2;
        for (size_t i = 0; i < n_links; i++)
                links[i] = (struct pagerduty_link){S(6 + i), (i & 1) ? S(7 + i) : NULL};
        for (size_t i = 0; i < n_details; i++)
                details[i] = (struct pagerduty_detail){S(8 + 2 * i), S(9 + 2 * i)};
        struct pagerduty_event e = {.action = b % 3,
                                    .severity = (b >> 2) % 5, /* 4 is out of range */
                                    .routing_key = S(0),
                                    .dedup_key = (b & 8) ? NULL : S(1),
                                    .summary = S(2),
                                    .source = S(3),
                                    .timestamp = S(4),
                                    .component = S(5),
                                    .links = links,
                                    .n_links = n_links,
                                    .details = details,
                                    .n_details = n_details};
        char *out = NULL;
        int r = pagerduty_event_build(&e, &out);
        if (r == 0) {
                CHECK(out);
                check_body(out, e.action);
                free(out);
        } else {
                CHECK(r == -EINVAL);
        }

        char *key = pagerduty_dedup_key(S(0), (uint64_t)size * 0x9e3779b97f4a7c15ull);
        CHECK(key && strlen(key) <= PAGERDUTY_DEDUP_KEY_MAX && strncmp(key, "canaryd/", 8) == 0);
        free(key);
#undef S
        free(copy);
        return 0;
}
