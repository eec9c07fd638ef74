/* File reads (io layer): pure code is given text, never a path. */
#pragma once

#include "canaryd/io-layer.h"

#include <stddef.h>
#include <sys/types.h>

/* Reads a whole file of at most max bytes. Returns 0 and a NUL-terminated copy owned by the
 * caller, or -errno (-EFBIG when larger than max). */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Writes all n bytes of p to fd, going on after a short write or EINTR. 0 or -errno. */
int write_full(int fd, const char *p, size_t n);

/* Replaces path with len bytes of data so that a crash at any instant leaves the old file or
 * the new one, never a torn one: a temporary path.tmp (created with mode), fsync, rename, and an
 * fsync of the directory. Returns 0 or -errno (path.tmp removed). Blocking. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);
