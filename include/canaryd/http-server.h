/* The HTTP endpoint's server (src/io/http-server.c): libmicrohttpd driven by the sd-event loop
 * (its epoll descriptor is one I/O source, its timeouts one timer; it runs no thread of its own).
 * Requests are bounded (headers, body, connections, time) before a handler sees them; the
 * handler answers synchronously on the loop. Routing and content are the caller's. */
#pragma once

#include "canaryd/io-layer.h"

#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/listen-address.h"

#define HTTP_SERVER_BODY_MAX        (256 * 1024) /* larger bodies are read, dropped, 413 */
#define HTTP_SERVER_CONNECTIONS_MAX 64
#define HTTP_SERVER_PER_IP_MAX      16
#define HTTP_SERVER_TIMEOUT_SEC     10          /* idle or slow connections are closed */
#define HTTP_SERVER_HEADERS_MAX     (32 * 1024) /* request line and headers, per connection */

struct http_server_request {
        const char *method; /* "GET", "HEAD", "POST", ... */
        const char *path;   /* without the query string */
        const char *body;   /* NUL-terminated; "" without a body */
        size_t body_len;
        const char *peer; /* "127.0.0.1:51234", for logs */
        void *internal;   /* for http_server_header() */
};

/* A request header's value (case-insensitive name), or NULL. */
const char *http_server_header(const struct http_server_request *req, const char *name);

struct http_server_reply {
        unsigned status;          /* 0: 500 */
        const char *content_type; /* NULL: text/plain; charset=utf-8 */
        char *body;               /* owned by the server after the handler returns; NULL: "" */
        size_t body_len;          /* 0 with a body: strlen(body) */
        const char *allow;        /* the Allow header (405), or NULL */
};

typedef void http_server_handler_fn(const struct http_server_request *req,
                                    struct http_server_reply *reply, void *userdata);
/* What the server refused or could not do (413, a broken connection, libmicrohttpd's own
 * errors): for the daemon's log. priority is a syslog level. */
typedef void http_server_log_fn(int priority, const char *message, void *userdata);

struct http_server;
/* Binds and listens on addr; handler and log (may be NULL) run on the loop. Returns 0, or
 * -errno with *ret_error (owned) saying what failed. */
int http_server_new(sd_event *event, const struct listen_address *addr,
                    http_server_handler_fn *handler, http_server_log_fn *log, void *userdata,
                    struct http_server **ret, char **ret_error);
/* Serves on an already-listening TCP socket (systemd socket activation). On success the server
 * owns fd; on failure the caller still does. */
int http_server_new_from_fd(sd_event *event, int fd, http_server_handler_fn *handler,
                            http_server_log_fn *log, void *userdata, struct http_server **ret,
                            char **ret_error);
/* The bound port: the configured one, or the kernel's choice for port 0 (tests). */
unsigned http_server_port(const struct http_server *s);
/* Closes every connection and the listening socket. NULL-safe; returns NULL. */
struct http_server *http_server_free(struct http_server *s);
