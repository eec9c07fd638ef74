#include "canaryd/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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
