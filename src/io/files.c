#include "canaryd/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canaryd/util.h"

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct buf b = {0};
        struct stat st;
        /* A regular file's size is known: read straight into one allocation of that size
         * (configuration files may be tens of MiB). Reading still goes on to end of file. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
                if ((uintmax_t)st.st_size > max) {
                        close(fd);
                        return -EFBIG;
                }
                buf_reserve(&b, (size_t)st.st_size);
        }
        for (;;) {
                if (b.cap - b.len < 4096)
                        buf_reserve(&b, 65536);
                ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        buf_free(&b);
                        return r;
                }
                if (n == 0)
                        break;
                if (b.len + (size_t)n > max) {
                        close(fd);
                        buf_free(&b);
                        return -EFBIG;
                }
                b.len += (size_t)n;
        }
        close(fd);
        b.data[b.len] = '\0';
        if (ret_len)
                *ret_len = b.len;
        *ret = buf_steal(&b);
        return 0;
}

int write_full(int fd, const char *p, size_t n)
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

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
        char *tmp = xasprintf("%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), r;

        if (fd < 0) {
                r = -errno;
                free(tmp);
                return r;
        }
        r = write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        else
                fsync_dir_of(path);
        free(tmp);
        return r;
}
