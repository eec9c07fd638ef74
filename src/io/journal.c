/* The decision journal's files (journal.h): append, fdatasync (with the append or later, as a
 * group commit), rotate by size, read back. Plain blocking syscalls: an append is one small
 * write, a few per rollout step, which the event loop can afford; reading is only for
 * `canaryctl history`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canaryd/journal.h"
#include "canaryd/util.h"

char *journal_path(const char *dir, const char *canary)
{
        return xasprintf("%s/%s.journal", dir, canary);
}

static int fsync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        return r;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int sync_path(const char *path)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = fdatasync(fd) < 0 ? -errno : 0;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

int journal_sync(const char *dir, const char *canary)
{
        if (!dir || !canary || strchr(canary, '/'))
                return -EINVAL;
        char *path = journal_path(dir, canary);
        int r = sync_path(path);
        free(path);
        return r;
}

int journal_append(const char *dir, const char *canary, uint64_t max_size, const char *line,
                   bool sync)
{
        if (!dir || !canary || !line || strchr(canary, '/'))
                return -EINVAL;
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        char *path = journal_path(dir, canary);
        size_t n = strlen(line);
        int r;

        struct stat st;
        if (stat(path, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size + n + 1 > max_size) {
                char *old = xasprintf("%s.1", path);
                r = sync_path(path); /* appends not synced yet go with it */
                if (r == 0)
                        r = rename(path, old) < 0 ? -errno : 0;
                free(old);
                if (r == 0)
                        r = fsync_dir(dir);
                if (r < 0)
                        goto out;
        }

        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        bool created = fstat(fd, &st) == 0 && st.st_size == 0;
        /* One write of line + newline: O_APPEND keeps concurrent appenders' lines whole. */
        char *buf = xmalloc(n + 1);
        memcpy(buf, line, n);
        buf[n] = '\n';
        r = write_all(fd, buf, n + 1);
        free(buf);
        if (r == 0 && sync && fdatasync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && created)
                r = fsync_dir(dir); /* the new file's name is durable too */
out:
        free(path);
        return r;
}

/* Appends the last JOURNAL_READ_MAX bytes of path to b, starting at a line boundary. */
static int read_tail(const char *path, struct buf *b)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct stat st;
        int r = 0;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                goto out;
        }
        bool cut = false;
        if ((uint64_t)st.st_size > JOURNAL_READ_MAX) {
                if (lseek(fd, st.st_size - (off_t)JOURNAL_READ_MAX, SEEK_SET) < 0) {
                        r = -errno;
                        goto out;
                }
                cut = true;
        }
        size_t start = b->len;
        char chunk[65536];
        for (size_t total = 0; total < JOURNAL_READ_MAX;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                buf_append(b, chunk, (size_t)n);
                total += (size_t)n;
        }
        if (cut) {
                /* drop the partial first line */
                char *nl = b->len > start ? memchr(b->data + start, '\n', b->len - start) : NULL;
                size_t drop = nl ? (size_t)(nl - (b->data + start)) + 1 : b->len - start;
                memmove(b->data + start, b->data + start + drop, b->len - start - drop);
                b->len -= drop;
                if (b->data)
                        b->data[b->len] = '\0';
        }
        /* a file cut by a crash may end without its newline: keep lines apart */
        if (b->len > start && b->data[b->len - 1] != '\n')
                buf_puts(b, "\n");
out:
        close(fd);
        return r;
}

int journal_read(const char *dir, const char *canary, char **ret, size_t *ret_len)
{
        if (!dir || !canary || !ret || strchr(canary, '/'))
                return -EINVAL;
        struct buf b = {0};
        char *path = journal_path(dir, canary);
        char *old = xasprintf("%s.1", path);
        int r = read_tail(old, &b);
        if (r == 0)
                r = read_tail(path, &b);
        free(old);
        free(path);
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        if (ret_len)
                *ret_len = b.len;
        *ret = buf_steal(&b);
        return 0;
}
