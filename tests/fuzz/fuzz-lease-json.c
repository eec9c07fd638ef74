/* Fuzzes the Lease codec (lease.h): the API server's Lease and LeaseList answers, and the Lease
 * written back from one as read. Input: byte 0 bit 0 = one Lease (0) or a LeaseList (1), then
 * the JSON. Invariants: no crash, leak or sanitizer report; a refusal is -EBADMSG with a
 * message; a record has a name and a holder, a duration and a transition count within 0..2^31-1;
 * the Lease rendered from it (created anew, and from the input as read) reads back to the same
 * record, with times in years below 10000 kept to the microsecond; every item of a list is the
 * raw JSON of its record. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/lease.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define YEAR_10000_USEC (UINT64_C(253402300800) * 1000000)

static void check_record(const struct lease_record *r)
{
        CHECK(r->name && r->holder);
        CHECK(r->duration_seconds >= 0 && r->duration_seconds <= 2147483647L);
        CHECK(r->transitions >= 0 && r->transitions <= 2147483647L);
}

static bool same_time(usec_t a, usec_t b)
{
        return a >= YEAR_10000_USEC || a == b;
}

/* Rendered from as_read (or anew), the Lease reads back as r under the name given. */
static void check_render(const char *as_read, const struct lease_record *r)
{
        char *json = lease_render(as_read, "ns", r->name, r);
        if (!json) {
                CHECK(as_read != NULL); /* only an as-read text that is no object is refused */
                return;
        }
        struct lease_record back;
        char *err = NULL;
        CHECK(lease_parse(json, strlen(json), &back, &err) == 0 && !err);
        CHECK(strcmp(back.name, r->name) == 0 && strcmp(back.holder, r->holder) == 0);
        /* Without a version one is removed from the text as read: a second one of duplicate
         * keys may then show, so the absence is checked on a new Lease only. */
        if (r->resource_version)
                CHECK(back.resource_version &&
                      strcmp(back.resource_version, r->resource_version) == 0);
        else if (!as_read)
                CHECK(!back.resource_version);
        CHECK(back.duration_seconds == r->duration_seconds && back.transitions == r->transitions);
        CHECK(same_time(r->acquire_usec, back.acquire_usec));
        CHECK(same_time(r->renew_usec, back.renew_usec));
        lease_record_done(&back);
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        bool list = data[0] & 1;
        data++;
        size--;
        char *text = malloc(size + 1); /* exact size: ASan sees over-reads */
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        char *err = NULL;
        if (!list) {
                struct lease_record r;
                int k = lease_parse(text, size, &r, &err);
                if (k < 0) {
                        CHECK(k == -EBADMSG && err && *err);
                        free(err);
                } else {
                        CHECK(k == 0 && !err);
                        check_record(&r);
                        check_render(NULL, &r);
                        if (memchr(text, 0, size) == NULL)
                                check_render(text, &r);
                        lease_record_done(&r);
                }
                free(text);
                return 0;
        }

        struct lease_record *recs = NULL;
        char **items = NULL;
        size_t n = 0;
        int k = lease_list_parse(text, size, &recs, &items, &n, &err);
        if (k < 0) {
                CHECK(k == -EBADMSG && err && *err);
                free(err);
                free(text);
                return 0;
        }
        CHECK(k == 0 && !err);
        for (size_t i = 0; i < n; i++) {
                struct lease_record again;
                check_record(&recs[i]);
                CHECK(items[i] != NULL);
                CHECK(lease_parse(items[i], strlen(items[i]), &again, NULL) == 0);
                CHECK(strcmp(again.name, recs[i].name) == 0);
                CHECK(strcmp(again.holder, recs[i].holder) == 0);
                CHECK(again.duration_seconds == recs[i].duration_seconds);
                check_render(items[i], &recs[i]);
                lease_record_done(&again);
                lease_record_done(&recs[i]);
                free(items[i]);
        }
        free(recs);
        free(items);
        free(text);
        return 0;
}
