/* The address of a listening socket as configured ("127.0.0.1:9464", "[::1]:9464",
 * "localhost:9464", ":9464"): one rule for the config check and the HTTP server. Pure. */
#pragma once

#include <stdint.h>

struct listen_address {
        int family;       /* AF_INET, AF_INET6, or AF_UNSPEC: every interface (":9464") */
        uint8_t addr[16]; /* network order: 4 bytes for AF_INET, 16 for AF_INET6 */
        uint16_t port;    /* 1..65535 */
};

/* Parses s. Returns 0, or -EINVAL with *ret_error set to a static description. Host names
 * other than "localhost" (127.0.0.1) are refused: a listener must not depend on DNS. */
int listen_address_parse(const char *s, struct listen_address *ret, const char **ret_error);
