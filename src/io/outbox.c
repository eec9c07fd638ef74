/* The Slack outbox on disk: the file (state_dir/slack-outbox.json), written whole and
 * atomically (a temporary file, fsync, rename, fsync of the directory), so that a crash at any
 * instant leaves either the old or the new outbox, never a torn one; and its log
 * (state_dir/slack-outbox.log), one appended line per change that must survive a crash before
 * the next file write (slack_outbox_log_line()), emptied once the file holds it. Rewriting the
 * whole file for every held message made the write-ahead cost grow with the backlog (issue
 * "Under load"); an append costs the record alone. Neither holds the webhook URL or the token. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/files.h"
#include "canaryd/slack.h"

#define OUTBOX_MAX_BYTES (64u * 1024 * 1024)

int outbox_save(const char *path, const struct slack_outbox *o, char **ret_error)
{
        char *json;
        int r;

        if (!path || !o)
                return -EINVAL;
        json = slack_outbox_to_json(o);
        if (!json)
                return -ENOMEM;
        r = write_file_atomic(path, json, strlen(json), 0600);
        if (r < 0 && ret_error)
                *ret_error = xasprintf("cannot write %s: %s", path, strerror(-r));
        free(json);
        return r;
}

char *outbox_log_path(const char *outbox_path)
{
        size_t n = strlen(outbox_path);

        if (n > 5 && strcmp(outbox_path + n - 5, ".json") == 0)
                return xasprintf("%.*s.log", (int)(n - 5), outbox_path);
        return xasprintf("%s.log", outbox_path);
}

int outbox_log_append(int *fd, const char *path, const char *line)
{
        if (*fd < 0) {
                *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (*fd < 0)
                        return -errno;
        }
        /* one write per record: a killed process leaves whole lines (a crash of the host may
         * tear the last one, which the reader skips) */
        return write_full(*fd, line, strlen(line));
}

int outbox_log_sync(int fd)
{
        if (fd >= 0 && fdatasync(fd) < 0)
                return -errno;
        return 0;
}

int outbox_log_reset(int fd)
{
        if (fd >= 0 && ftruncate(fd, 0) < 0)
                return -errno;
        return 0;
}

int outbox_log_read(const char *path, struct slack_log_record **ret, size_t *ret_n, size_t *ret_bad,
                    char **ret_error)
{
        struct slack_log_record *recs = NULL;
        size_t n = 0, bad = 0, len = 0;
        char *data = NULL;
        int r;

        *ret = NULL;
        *ret_n = 0;
        *ret_bad = 0;
        r = read_file(path, OUTBOX_MAX_BYTES, &data, &len);
        if (r < 0) {
                if (r != -ENOENT && ret_error)
                        *ret_error = xasprintf("cannot read %s: %s", path, strerror(-r));
                return r;
        }
        for (size_t at = 0; at < len;) {
                const char *nl = memchr(data + at, '\n', len - at);
                struct slack_log_record rec;

                if (!nl) {
                        bad++; /* torn by a crash of the host: never acted on */
                        break;
                }
                if (nl > data + at) {
                        if (slack_outbox_log_parse(data + at, (size_t)(nl - (data + at)), &rec,
                                                   NULL) == 0) {
                                recs = xrealloc(recs, (n + 1) * sizeof(*recs));
                                recs[n++] = rec;
                        } else {
                                bad++;
                        }
                }
                at = (size_t)(nl - data) + 1;
        }
        free(data);
        *ret = recs;
        *ret_n = n;
        *ret_bad = bad;
        return 0;
}

int outbox_load(const char *path, struct slack_outbox *ret, char **ret_error)
{
        char *data = NULL, *err = NULL;
        size_t len = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;
        r = read_file(path, OUTBOX_MAX_BYTES, &data, &len);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (ret_error)
                        *ret_error = xasprintf("cannot read %s: %s", path, strerror(-r));
                return r;
        }
        r = slack_outbox_from_json(data, len, ret, &err);
        free(data);
        if (r < 0) {
                if (ret_error)
                        *ret_error = xasprintf("%s: %s", path, err ? err : "unreadable");
                free(err);
        }
        return r;
}
