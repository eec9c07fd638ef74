/* File reads (io layer): pure code is given text, never a path. */
#pragma once

#include "canaryd/io-layer.h"

#include <stddef.h>

/* Reads a whole file of at most max bytes. Returns 0 and a NUL-terminated copy owned by the
 * caller, or -errno (-EFBIG when larger than max). */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
