/* Fuzzes the watch codec (codec/watch-json.c): the stream and LIST bodies come from the API
 * server. Byte 0 picks the cut points; the rest is the stream. Invariants: no crash or sanitizer
 * report; the lines of a stream do not depend on how it is cut into chunks (as long as no line
 * hits the cap); a line never contains "\n"; every line decodes or fails with a message; a
 * decoded event has a type name, an object starting with '{' whose length is right, and a
 * resourceVersion of at most WATCH_RV_MAX bytes (non-empty unless ERROR); the whole input as a
 * LIST decodes or fails with a message, and each item is an object. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/util.h"
#include "canaryd/watch-json.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 4096

struct digest {
        uint64_t hash;
        size_t n;
};

static int on_line(const char *line, size_t len, void *userdata)
{
        struct digest *d = userdata;
        CHECK(len > 0 && len <= MAX_LINE);
        CHECK(!memchr(line, '\n', len));
        for (size_t i = 0; i < len; i++)
                d->hash = (d->hash ^ (unsigned char)line[i]) * 0x100000001b3ULL;
        d->hash = (d->hash ^ 0x1ff) * 0x100000001b3ULL; /* line separator */
        d->n++;

        struct watch_event ev;
        char *err = NULL;
        if (watch_event_decode(line, len, &ev, &err) < 0) {
                CHECK(err && *err);
                free(err);
                return 0;
        }
        CHECK(strcmp(watch_event_type_to_string(ev.type), "?") != 0);
        CHECK(ev.object.json && ev.object.json[0] == '{');
        CHECK(strlen(ev.object.json) == ev.object.len);
        CHECK(ev.object.name && ev.object.namespace_ && ev.object.resource_version);
        CHECK(strlen(ev.object.resource_version) <= WATCH_RV_MAX);
        CHECK(ev.type == WATCH_ERROR || ev.object.resource_version[0]);
        CHECK(ev.type != WATCH_ERROR || (ev.reason && ev.message && ev.code >= 0));
        watch_event_done(&ev);
        return 0;
}

/* Feeds data in pieces of the given lengths (cycled); returns whether a line hit the cap. */
static bool feed(const char *data, size_t size, const uint8_t *cuts, size_t n_cuts,
                 struct digest *d)
{
        struct watch_lines w;
        bool capped = false;
        watch_lines_init(&w, MAX_LINE);
        for (size_t off = 0, k = 0; off < size; k++) {
                size_t n = n_cuts ? (size_t)cuts[k % n_cuts] + 1 : size;
                if (n > size - off)
                        n = size - off;
                int r = watch_lines_feed(&w, data + off, n, on_line, d);
                CHECK(r == 0 || r == -EFBIG);
                capped |= r == -EFBIG;
                CHECK(watch_lines_pending(&w) <= MAX_LINE);
                off += n;
        }
        watch_lines_reset(&w);
        return capped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t n_cuts = data[0] % 8;
        if (size < 1 + n_cuts)
                return 0;
        const uint8_t *cuts = data + 1;
        const char *text = (const char *)data + 1 + n_cuts;
        size_t len = size - 1 - n_cuts;

        struct digest whole = {0}, pieces = {0};
        bool capped = feed(text, len, NULL, 0, &whole);
        capped |= feed(text, len, cuts, n_cuts, &pieces);
        if (!capped)
                CHECK(whole.hash == pieces.hash && whole.n == pieces.n);

        struct watch_list l;
        char *err = NULL;
        if (watch_list_decode(text, len, &l, &err) < 0) {
                CHECK(err && *err);
                free(err);
        } else {
                CHECK(l.resource_version && l.resource_version[0]);
                for (size_t i = 0; i < l.n_items; i++)
                        CHECK(l.items[i].json && l.items[i].json[0] == '{');
                watch_list_done(&l);
        }
        return 0;
}
