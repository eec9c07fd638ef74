/* Listening addresses: a literal IP and a port, nothing that needs a resolver. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "canaryd/listen-address.h"

static int parse_port(const char *s, uint16_t *ret)
{
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v == 0 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

int listen_address_parse(const char *s, struct listen_address *ret, const char **ret_error)
{
        struct listen_address a = {0};
        char host[64];
        const char *colon;
        size_t n;

        *ret_error = "expected HOST:PORT with a literal IP address (\"127.0.0.1:9464\", "
                     "\"[::1]:9464\", \":9464\" for every interface)";
        if (!s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                n = (size_t)(close - s - 1);
                colon = close + 1;
                if (n == 0 || n >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, n);
                host[n] = '\0';
                if (inet_pton(AF_INET6, host, a.addr) != 1)
                        return -EINVAL;
                a.family = AF_INET6;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                n = (size_t)(colon - s);
                if (n >= sizeof(host) || memchr(s, ':', n))
                        return -EINVAL; /* an IPv6 address needs brackets */
                memcpy(host, s, n);
                host[n] = '\0';
                if (n == 0) {
                        a.family = AF_UNSPEC;
                } else if (strcmp(host, "localhost") == 0) {
                        a.family = AF_INET;
                        inet_pton(AF_INET, "127.0.0.1", a.addr);
                } else if (inet_pton(AF_INET, host, a.addr) == 1) {
                        a.family = AF_INET;
                } else {
                        return -EINVAL;
                }
        }
        if (parse_port(colon + 1, &a.port) < 0) {
                *ret_error = "the port must be a number from 1 to 65535";
                return -EINVAL;
        }
        *ret = a;
        *ret_error = NULL;
        return 0;
}
