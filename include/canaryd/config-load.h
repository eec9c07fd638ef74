/* Reading the configuration from disk (SPEC §3, §7): the main file, then every `*.yaml` file of
 * its canaries_dir, parsed by the pure codec (config.h). Used at start, by --check-config and on
 * SIGHUP, so the three see exactly the same set of files. */
#pragma once

#include "canaryd/io-layer.h"

#include "canaryd/config.h"

/* Largest file config_load() reads: the main file and each file of canaries_dir alike. */
#define CONFIG_FILE_MAX (64U * 1024U * 1024U)

/* Reads and parses path, then the files of its canaries_dir (a relative one is relative to the
 * directory of path): the names not starting with '.' and ending in ".yaml", in byte order.
 * The directory is read even when the main file has problems (unless its syntax, or the key
 * itself, is broken), so that every problem is reported at once. Returns 0 and *ret (owned by the
 * caller: config_free), or a negative errno with *ret untouched and every problem appended to
 * *problems: an unreadable main file is one problem at 0:0 (-errno, -EFBIG when too large); an
 * unreadable canaries_dir is a problem at its value in the main file, an unreadable file of it
 * a problem at 0:0 of that file (-EINVAL, with the problems of the other files as well). */
int config_load(const char *path, struct config **ret, struct config_problems *problems);

/* path as named in the configuration file config_path: a relative path is relative to that
 * file's directory. Caller owns the result; NULL for NULL. */
char *config_resolve_path(const char *config_path, const char *path);
