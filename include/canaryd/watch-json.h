/* Kubernetes watch streams and lists (src/codec/watch-json.c, pure; WIRE.md §2.4): splitting a
 * chunked body into lines however the chunks fall, and decoding one event per line
 * ({"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":{...}}) and a LIST
 * response (metadata.resourceVersion + items). The network side is src/io/kube-watch.c. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/util.h"

/* Longest resourceVersion accepted (they are opaque strings; etcd's are decimal integers). */
#define WATCH_RV_MAX 256

/* ---- line splitting ---- */

struct watch_lines {
        struct buf partial; /* an unfinished line carried over from earlier chunks */
        size_t max_line;
        bool skipping; /* the current line was over max_line: drop bytes up to its end */
};

/* Called once per complete line, without its "\n" (a trailing "\r" is dropped too); blank lines
 * are skipped. line is borrowed and not NUL-terminated. A negative return stops the feed. */
typedef int watch_line_fn(const char *line, size_t len, void *userdata);

/* max_line 0 = 8 MiB. */
void watch_lines_init(struct watch_lines *w, size_t max_line);
/* Frees the partial line and forgets the skipping state. */
void watch_lines_reset(struct watch_lines *w);
/* Feeds the next bytes of the stream. Returns 0; the first negative value fn returned (the rest
 * of data is then not looked at, and the partial line is kept as it was); or -EFBIG when a line
 * grows past max_line: that line and the rest of data are dropped, and when the line's "\n" has
 * not arrived yet, later feeds skip up to it and go on from the line after it. */
int watch_lines_feed(struct watch_lines *w, const char *data, size_t len, watch_line_fn *fn,
                     void *userdata);
/* Bytes of an unfinished line held (a stream that ends with them was cut). */
size_t watch_lines_pending(const struct watch_lines *w);

/* ---- objects, events, lists ---- */

struct watch_object {
        char *json; /* owned: the object, compact JSON */
        size_t len;
        char *namespace_, *name, *resource_version; /* owned; "" when absent */
};
void watch_object_done(struct watch_object *o);

enum watch_event_type {
        WATCH_ADDED,
        WATCH_MODIFIED,
        WATCH_DELETED,
        WATCH_BOOKMARK,
        WATCH_ERROR,
};
const char *watch_event_type_to_string(enum watch_event_type t);

struct watch_event {
        enum watch_event_type type;
        struct watch_object object; /* ERROR: the Status object */
        long code;                  /* ERROR: Status.code (410 for Expired); 0 when absent */
        char *reason, *message;     /* ERROR: owned, "" when absent */
};
void watch_event_done(struct watch_event *e);

/* Decodes one line. ADDED/MODIFIED/DELETED/BOOKMARK need an object with a non-empty string
 * metadata.resourceVersion of at most WATCH_RV_MAX bytes; ERROR needs an object (a Status).
 * Returns 0, or -EBADMSG with *ret_error (owned; may be NULL). *ret is written only on
 * success. */
int watch_event_decode(const char *line, size_t len, struct watch_event *ret, char **ret_error);

struct watch_list {
        char *resource_version; /* owned: the list's metadata.resourceVersion (non-empty) */
        struct watch_object *items;
        size_t n_items;
};
void watch_list_done(struct watch_list *l);

/* Decodes a LIST response: an object with metadata.resourceVersion (non-empty string, at most
 * WATCH_RV_MAX bytes) and items (an array of objects; null or absent = none). Returns 0, or
 * -EBADMSG with *ret_error (owned; may be NULL). */
int watch_list_decode(const char *json, size_t len, struct watch_list *ret, char **ret_error);
