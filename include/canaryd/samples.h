/* Sample files for the offline judge (`canaryctl judge`): one number a line. Pure: parses a
 * buffer, never a file. */
#pragma once

#include <stddef.h>

struct samples_error {
        unsigned line;     /* 1-based line of the first bad value */
        char message[128]; /* e.g. "line 3: \"12x\" is not a number" */
};

/* Parses text (len bytes, need not be NUL-terminated). Each line holds one number: decimal
 * notation with optional exponent, `nan`, or `inf`/`infinity` with an optional sign (case does
 * not matter); surrounding spaces, tabs and a trailing \r (CRLF files) are ignored, blank lines
 * are skipped and a leading UTF-8 byte-order mark is ignored. Returns 0 and the values in order in
 * *ret (the caller frees it; NULL when there are none) and their number in *ret_n. On a bad line
 * (anything else, a NUL byte, a value out of double range) returns -EINVAL, fills *err when it is
 * not NULL and leaves *ret untouched. */
int samples_parse(const char *text, size_t len, double **ret, size_t *ret_n,
                  struct samples_error *err);
