/* The Slack outbox file (state_dir/slack-outbox.json): written whole and atomically on every
 * change (a temporary file, fsync, rename, fsync of the directory), so that a crash at any
 * instant leaves either the old or the new outbox, never a torn one. The format is
 * slack_outbox_to_json() / slack_outbox_from_json(). The outbox holds rendered messages and
 * Slack ts values, never the webhook URL or the token. */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/files.h"
#include "canaryd/slack.h"

#define OUTBOX_MAX_BYTES (64u * 1024 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

static void fsync_dir_of(const char *path)
{
        char *copy = xstrdup(path);
        int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
                (void)fsync(fd); /* best effort: the rename itself is already atomic */
                close(fd);
        }
        free(copy);
}

int outbox_save(const char *path, const struct slack_outbox *o, char **ret_error)
{
        char *json, *tmp;
        int fd, r;

        if (!path || !o)
                return -EINVAL;
        json = slack_outbox_to_json(o);
        if (!json)
                return -ENOMEM;
        tmp = xasprintf("%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                goto fail;
        }
        r = write_all(fd, json, strlen(json));
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                goto fail;
        }
        fsync_dir_of(path);
        free(tmp);
        free(json);
        return 0;
fail:
        if (ret_error)
                *ret_error = xasprintf("cannot write %s: %s", path, strerror(-r));
        free(tmp);
        free(json);
        return r;
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
