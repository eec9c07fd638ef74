/* The HTTP endpoint's server: libmicrohttpd in "external epoll" mode. MHD keeps its own epoll
 * set of the listening socket and the connections; that one descriptor is an sd-event I/O
 * source, and MHD_get_timeout() drives one monotonic timer, so every request is parsed and
 * answered on the daemon's loop, in MHD_run(), which never blocks. MHD enforces the header size
 * (its per-connection memory pool), the connection limits and the idle timeout; the body limit
 * is ours: a body past it (announced by Content-Length or not) is read and dropped, then
 * answered 413, so the client sees the answer rather than a reset. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <microhttpd.h>

#include "canaryd/http-server.h"
#include "canaryd/util.h"

struct http_server {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io;    /* MHD's epoll descriptor */
        sd_event_source *timer; /* CLOCK_MONOTONIC: MHD's next timeout */
        http_server_handler_fn *handler;
        http_server_log_fn *log;
        void *userdata;
        int listen_fd; /* owned by MHD once it runs */
        unsigned port;
};

/* One request, from MHD's first call for it to its completion notice. */
struct pending {
        struct buf body;
        bool too_large;
        bool answered;
};

static void server_log(struct http_server *s, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void server_log(struct http_server *s, int priority, const char *fmt, ...)
{
        va_list ap;
        char msg[512];

        if (!s->log)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        s->log(priority, msg, s->userdata);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
        struct http_server *s = cls;
        char msg[512];

        if (!s->log)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        msg[strcspn(msg, "\n")] = '\0';
        s->log(LOG_WARNING, msg, s->userdata);
}

static void peer_name(struct MHD_Connection *conn, char *buf, size_t size)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;

        if (ci && ci->client_addr) {
                const struct sockaddr *sa = ci->client_addr;
                if (sa->sa_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
                        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                        port = ntohs(in->sin_port);
                } else if (sa->sa_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 =
                            (const struct sockaddr_in6 *)(const void *)sa;
                        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                        port = ntohs(in6->sin6_port);
                }
        }
        snprintf(buf, size, "%s:%u", host, port);
}

const char *http_server_header(const struct http_server_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->internal, MHD_HEADER_KIND, name);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct http_server_reply *r)
{
        char *body = r->body ? r->body : xstrdup("");
        size_t len = r->body_len ? r->body_len : strlen(body);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        enum MHD_Result ok;

        r->body = NULL;
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "text/plain; charset=utf-8");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (r->allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
        ok = MHD_queue_response(conn, r->status ? r->status : 500, resp);
        MHD_destroy_response(resp);
        return ok;
}

static enum MHD_Result refuse_too_large(struct http_server *s, struct MHD_Connection *conn,
                                        const char *method, const char *url)
{
        char peer[INET6_ADDRSTRLEN + 8];
        struct http_server_reply r = {
            .status = 413,
            .body = xasprintf("request body larger than %d bytes\n", HTTP_SERVER_BODY_MAX)};

        peer_name(conn, peer, sizeof(peer));
        server_log(s, LOG_WARNING, "http: %s %s from %s: body larger than %d bytes, refused (413)",
                   method, url, peer, HTTP_SERVER_BODY_MAX);
        return send_reply(conn, &r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
        struct http_server *s = cls;
        struct pending *p = *con_cls;

        if (!p) {
                const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
                p = xcalloc(1, sizeof(*p));
                *con_cls = p;
                /* Answered once the body has been read (and dropped): a 413 sent while the
                 * client still writes is often lost to the reset that closing a socket with
                 * unread data sends, and the client sees no answer at all. The connection's
                 * timeout bounds how long a client can keep us reading. */
                if (cl && strtoull(cl, NULL, 10) > HTTP_SERVER_BODY_MAX)
                        p->too_large = true;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (!p->too_large && p->body.len + *upload_data_size > HTTP_SERVER_BODY_MAX)
                        p->too_large = true; /* a chunked body: answered at its end */
                if (!p->too_large)
                        buf_append(&p->body, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (p->answered)
                return MHD_YES;
        p->answered = true;
        if (p->too_large)
                return refuse_too_large(s, conn, method, url);

        char peer[INET6_ADDRSTRLEN + 8];
        struct http_server_request req = {
            .method = method,
            .path = url,
            .body = p->body.data ? p->body.data : "",
            .body_len = p->body.len,
            .peer = peer,
            .internal = conn,
        };
        struct http_server_reply reply = {0};

        peer_name(conn, peer, sizeof(peer));
        s->handler(&req, &reply, s->userdata);
        return send_reply(conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
        struct pending *p = *con_cls;

        if (!p)
                return;
        buf_free(&p->body);
        free(p);
        *con_cls = NULL;
}

static void rearm(struct http_server *s);

static void run(struct http_server *s)
{
        MHD_run(s->mhd);
        rearm(s);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        run(userdata);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        run(userdata);
        return 0;
}

/* MHD's next deadline (an idle connection to close) as the timer; none: the timer sleeps. */
static void rearm(struct http_server *s)
{
        MHD_UNSIGNED_LONG_LONG ms;

        if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
                sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time_relative(s->timer, ms * USEC_PER_MSEC);
        sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int start(struct http_server *s, char **ret_error)
{
        const union MHD_DaemonInfo *info;
        int r;

        /* the logger first: MHD reports the options after it through it */
        s->mhd = MHD_start_daemon(
            MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_access, s,
            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_CONNECTIONS_MAX,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_PER_IP_MAX,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_SERVER_TIMEOUT_SEC,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_SERVER_HEADERS_MAX,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
        if (!s->mhd) {
                *ret_error = xstrdup("libmicrohttpd could not start on the listening socket");
                return -EIO;
        }
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                *ret_error = xstrdup("libmicrohttpd has no epoll descriptor");
                return -EIO;
        }
        r = sd_event_add_io(s->event, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                               10 * USEC_PER_MSEC, on_timer, s);
        if (r < 0) {
                *ret_error = xasprintf("cannot watch the HTTP server: %s", strerror(-r));
                return r;
        }
        rearm(s);
        return 0;
}

static unsigned bound_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return 0;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return 0;
}

/* A non-blocking listening socket on addr; AF_UNSPEC is every interface, IPv6 and IPv4. */
static int listen_on(const struct listen_address *addr, char **ret_error)
{
        struct sockaddr_storage ss = {0};
        socklen_t len;
        int family = addr->family == AF_INET ? AF_INET : AF_INET6, one = 1, zero = 0;
        int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0 && addr->family == AF_UNSPEC) { /* no IPv6 on this host */
                family = AF_INET;
                fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        }
        if (fd < 0) {
                int r = -errno;
                *ret_error = xasprintf("socket: %s", strerror(errno));
                return r;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(addr->port);
                if (addr->family == AF_INET)
                        memcpy(&in->sin_addr, addr->addr, 4);
                len = sizeof(*in);
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(addr->port);
                if (addr->family == AF_INET6)
                        memcpy(&in6->sin6_addr, addr->addr, 16);
                else /* every interface: IPv4 too */
                        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
                len = sizeof(*in6);
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                *ret_error =
                    xasprintf("%s: %s", errno == EADDRINUSE ? "bind" : "listen", strerror(errno));
                close(fd);
                return r;
        }
        return fd;
}

static int server_new(sd_event *event, int fd, http_server_handler_fn *handler,
                      http_server_log_fn *log, void *userdata, struct http_server **ret,
                      char **ret_error)
{
        struct http_server *s = xcalloc(1, sizeof(*s));
        int r;

        s->event = sd_event_ref(event);
        s->handler = handler;
        s->log = log;
        s->userdata = userdata;
        s->listen_fd = fd;
        s->port = bound_port(fd);
        r = start(s, ret_error);
        if (r < 0) {
                /* the caller keeps fd: MHD_stop_daemon would close it */
                if (s->mhd)
                        MHD_quiesce_daemon(s->mhd);
                s->listen_fd = -1;
                http_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int http_server_new(sd_event *event, const struct listen_address *addr,
                    http_server_handler_fn *handler, http_server_log_fn *log, void *userdata,
                    struct http_server **ret, char **ret_error)
{
        int fd = listen_on(addr, ret_error);
        int r;

        if (fd < 0)
                return fd;
        r = server_new(event, fd, handler, log, userdata, ret, ret_error);
        if (r < 0)
                close(fd);
        return r;
}

int http_server_new_from_fd(sd_event *event, int fd, http_server_handler_fn *handler,
                            http_server_log_fn *log, void *userdata, struct http_server **ret,
                            char **ret_error)
{
        int type = 0, listening = 0, flags;
        socklen_t len = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
            (len = sizeof(listening),
             getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) ||
            !listening) {
                *ret_error = xstrdup("the passed descriptor is not a listening stream socket");
                return -ENOTSOCK;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
                fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        return server_new(event, fd, handler, log, userdata, ret, ret_error);
}

unsigned http_server_port(const struct http_server *s)
{
        return s->port;
}

struct http_server *http_server_free(struct http_server *s)
{
        if (!s)
                return NULL;
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        if (s->mhd)
                MHD_stop_daemon(s->mhd); /* closes the connections and the listening socket */
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
