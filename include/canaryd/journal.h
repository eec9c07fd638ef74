/* The decision journal's files (src/io/journal.c): append, group commit, rotation and reading,
 * for the entries canaryd/journal-json.h formats (docs/journal.md). */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/journal-json.h"

/* The history reader reads at most this much of each file (current and .1). */
#define JOURNAL_READ_MAX (64U * 1024U * 1024U)

/* <dir>/<canary>.journal; caller owns it. */
char *journal_path(const char *dir, const char *canary);

/* Appends line + '\n' to <dir>/<canary>.journal (created 0640; dir created 0750 if missing),
 * and fdatasync()s it when sync is true; without, the line is in the page cache (it survives
 * the process, not the host) until journal_sync(). When the file would grow beyond max_size, it
 * is first synced and renamed to <canary>.journal.1 (replacing the previous one) and the
 * directory is fsync'd; so is the directory after the file is created. Opens and closes the
 * file on every call, so a file moved or deleted by hand is simply recreated. Returns 0 or
 * -errno. Blocking: a few small writes per rollout step. */
int journal_append(const char *dir, const char *canary, uint64_t max_size, const char *line,
                   bool sync);

/* fdatasync()s <dir>/<canary>.journal: the group commit of the appends made without sync.
 * Returns 0 (also when the file does not exist) or -errno. */
int journal_sync(const char *dir, const char *canary);

/* Reads <canary>.journal.1 then <canary>.journal (missing files are empty), at most
 * JOURNAL_READ_MAX of each. Returns 0 and *ret (owned, NUL-terminated) / *ret_len, or -errno. */
int journal_read(const char *dir, const char *canary, char **ret, size_t *ret_len);
