/* The control socket (docs/control-protocol.md): an sd-event server that reads one request line
 * per connection, asks the handler for the reply and writes it back; and the blocking client
 * canaryctl uses. Each connection is bounded by CONTROL_LINE_MAX and a deadline, so a slow or
 * hostile peer costs one fd and a little memory for at most that long. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "canaryd/clock.h"
#include "canaryd/control.h"
#include "canaryd/util.h"

struct control_conn {
        struct control_server *server;
        struct control_conn *prev, *next;
        int fd;
        struct control_peer peer;
        bool have_peer;
        bool deferred;   /* the handler answers later through control_server_reply() */
        bool in_handler; /* a reply given while the handler runs waits in `early` */
        char *early;
        sd_event_source *io, *timer;
        struct buf in;
        char *out; /* reply with its newline */
        size_t out_len, out_off;
};

struct control_server {
        sd_event *event;
        sd_event_source *listen_io;
        sd_event_source *accept_retry; /* re-enables listen_io after EMFILE and the like */
        int fd;
        char *path; /* bound by us; unlinked on free. NULL for an inherited fd */
        control_handler_fn *handler;
        control_refused_fn *refused;
        void *userdata;
        uint64_t timeout_usec;
        uint64_t next_id;
        struct control_conn *conns;
};

static void conn_free(struct control_conn *c)
{
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else if (c->server)
                c->server->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        buf_free(&c->in);
        free(c->out);
        free(c->early);
        free(c->peer.groups);
        free(c);
}

/* Writes as much of the reply as the socket takes; 1 when done, 0 to wait, -errno. */
static int conn_flush(struct control_conn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return -errno;
                }
                c->out_off += (size_t)n;
        }
        return 1;
}

/* Queues the reply (taken) and starts writing; frees the connection when done or failed. */
static void conn_reply(struct control_conn *c, char *reply)
{
        size_t n = strlen(reply);
        c->out = xrealloc(reply, n + 2);
        c->out[n] = '\n';
        c->out[n + 1] = '\0';
        c->out_len = n + 1;
        c->out_off = 0;
        buf_free(&c->in);

        int r = conn_flush(c);
        if (r != 0) {
                conn_free(c);
                return;
        }
        if (sd_event_source_set_io_events(c->io, EPOLLOUT) < 0)
                conn_free(c);
}

static void conn_refused(struct control_conn *c, const char *why)
{
        if (c->server->refused)
                c->server->refused(c->have_peer ? &c->peer : NULL, why, c->server->userdata);
}

static void conn_handle_line(struct control_conn *c, const char *line, size_t len)
{
        struct control_request req;
        char *error = NULL;
        char *reply;

        if (control_request_parse(line, len, &req, &error) < 0) {
                conn_refused(c, error);
                reply = control_reply_error(2, error);
                free(error);
        } else if (!c->have_peer) {
                conn_refused(c, "cannot identify the peer (SO_PEERCRED)");
                reply = control_reply_error(1, "cannot identify the peer (SO_PEERCRED)");
                control_request_done(&req);
        } else {
                c->in_handler = true;
                reply = c->server->handler(&req, &c->peer, c->server->userdata);
                c->in_handler = false;
                control_request_done(&req);
                if (c->early) {
                        /* deferred, then answered before the handler returned */
                        free(reply);
                        reply = c->early;
                        c->early = NULL;
                } else if (!reply && c->deferred) {
                        return; /* control_server_reply() answers */
                }
                c->deferred = false;
                if (!reply)
                        reply = control_reply_error(1, "internal error: no reply");
        }
        conn_reply(c, reply);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct control_conn *c = userdata;

        if (c->deferred) {
                /* waiting for the daemon's decision: only a hang-up matters */
                if (revents & (EPOLLERR | EPOLLHUP))
                        conn_free(c);
                return 0;
        }
        if (c->out) {
                if (revents & (EPOLLERR | EPOLLHUP)) {
                        conn_free(c);
                        return 0;
                }
                if (conn_flush(c) != 0)
                        conn_free(c);
                return 0;
        }

        /* Never buffer more than one byte past the limit: enough to see it was exceeded. */
        char chunk[4096];
        size_t room = CONTROL_LINE_MAX + 1 - c->in.len;
        ssize_t n = recv(fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk), MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                        return 0;
                conn_free(c);
                return 0;
        }
        if (n == 0) {
                /* EOF: a request without its newline still counts; nothing at all is a probe. */
                if (c->in.len == 0) {
                        conn_free(c);
                        return 0;
                }
                conn_handle_line(c, c->in.data, c->in.len);
                return 0;
        }
        size_t old = c->in.len;
        buf_append(&c->in, chunk, (size_t)n);
        char *nl = memchr(c->in.data + old, '\n', (size_t)n);
        if (nl) {
                size_t len = (size_t)(nl - c->in.data);
                if (len > 0 && c->in.data[len - 1] == '\r')
                        len--;
                /* Bytes after the newline are ignored: one request per connection. */
                char *line = xstrndup(c->in.data, len);
                conn_handle_line(c, line, len);
                free(line);
                return 0;
        }
        if (c->in.len > CONTROL_LINE_MAX) {
                char *e = xasprintf("request line too long (max %d bytes)", CONTROL_LINE_MAX);
                conn_refused(c, e);
                char *reply = control_reply_error(2, e);
                free(e);
                conn_reply(c, reply);
        }
        return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct control_conn *c = userdata;
        if (c->out) {
                conn_free(c); /* the peer does not read its reply */
                return 0;
        }
        if (!c->deferred)
                conn_refused(c, "timed out waiting for the request line");
        /* Best effort: tell the peer why, once, without waiting for it. */
        char *reply = c->deferred
                          ? control_reply_error(1, "no decision in time; the command may "
                                                   "still be applied (see canaryctl "
                                                   "status and history)")
                          : control_reply_error(2, "timed out waiting for the request line");
        size_t n = strlen(reply);
        reply = xrealloc(reply, n + 2);
        memcpy(reply + n, "\n", 2);
        ssize_t w = send(c->fd, reply, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        free(reply);
        conn_free(c);
        return 0;
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

/* The peer's supplementary groups as the kernel recorded them at connect(), like SO_PEERCRED.
 * Chosen over the alternatives: /proc/PID/status "Groups:" is read later and can name another
 * process once the pid is reused (or the peer changed its groups since), and getgrouplist()
 * asks NSS (LDAP, sssd) on the event loop about the user's groups in the database, not the
 * process's. Without SO_PEERGROUPS (ENOPROTOOPT) the groups stay unknown and only uid and
 * primary gid count: the check fails closed. */
static void peer_groups(int fd, struct control_peer *p)
{
        socklen_t size = 32 * sizeof(gid_t);

        for (int tries = 0; tries < 4; tries++) {
                gid_t *groups = xmalloc(size + sizeof(gid_t));
                socklen_t len = size;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
                        p->groups = groups; /* owned by the connection */
                        p->n_groups = len / sizeof(gid_t);
                        p->groups_known = true;
                        return;
                }
                free(groups);
                if (errno != ERANGE || len <= size)
                        return;
                size = len; /* the kernel said how much it needs */
        }
}

static void server_accept_one(struct control_server *s, int cfd)
{
        struct control_conn *c = xcalloc(1, sizeof(*c));
        c->server = s;
        c->fd = cfd;

        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred)) {
                c->peer.uid = cred.uid;
                c->peer.gid = cred.gid;
                c->peer.pid = cred.pid;
                c->have_peer = true;
                peer_groups(cfd, &c->peer);
        }
        c->peer.id = ++s->next_id;

        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;

        if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c) < 0 ||
            sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC, s->timeout_usec,
                                       10 * USEC_PER_MSEC, on_conn_timeout, c) < 0) {
                conn_free(c);
                return;
        }
}

static int on_accept_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct control_server *s = userdata;
        sd_event_source_set_enabled(s->listen_io, SD_EVENT_ON);
        return 0;
}

static int on_listen_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct control_server *s = userdata;

        /* A bounded batch per wake-up keeps other sources fair; the source is level-triggered. */
        for (int i = 0; i < 16; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd >= 0) {
                        server_accept_one(s, cfd);
                        continue;
                }
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* Out of resources: the pending connection would wake us at once, again
                         * and again. Stop accepting for a moment instead of spinning. */
                        sd_event_source_set_enabled(s->listen_io, SD_EVENT_OFF);
                        if (s->accept_retry) {
                                sd_event_source_set_time_relative(s->accept_retry,
                                                                  100 * USEC_PER_MSEC);
                                sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT);
                        } else if (sd_event_add_time_relative(s->event, &s->accept_retry,
                                                              CLOCK_MONOTONIC, 100 * USEC_PER_MSEC,
                                                              10 * USEC_PER_MSEC, on_accept_retry,
                                                              s) < 0) {
                                sd_event_source_set_enabled(s->listen_io, SD_EVENT_ON);
                        }
                }
                return 0; /* EAGAIN: drained; ECONNABORTED and the like: next wake-up */
        }
        return 0;
}

static int server_start(sd_event *event, int fd, control_handler_fn *handler, void *userdata,
                        struct control_server **ret)
{
        struct control_server *s = xcalloc(1, sizeof(*s));
        s->event = sd_event_ref(event);
        s->fd = fd;
        s->handler = handler;
        s->userdata = userdata;
        s->timeout_usec = CONTROL_TIMEOUT_USEC;
        int r = sd_event_add_io(event, &s->listen_io, fd, EPOLLIN, on_listen_io, s);
        if (r < 0) {
                s->fd = -1; /* the caller still owns it */
                control_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

/* The address of the socket at path: -EINVAL when it is empty, -ENAMETOOLONG when it does not
 * fit. */
static int sockaddr_fill(const char *path, struct sockaddr_un *ret)
{
        size_t plen = strlen(path);

        *ret = (struct sockaddr_un){.sun_family = AF_UNIX};
        if (plen == 0)
                return -EINVAL;
        if (plen >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;
        memcpy(ret->sun_path, path, plen + 1);
        return 0;
}

/* Refuses to take over a socket another live process serves: connect succeeds only then. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return false;
        int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        bool live = r == 0 || errno == EAGAIN || errno == EINPROGRESS;
        close(fd);
        return live;
}

int control_server_new(sd_event *event, const char *path, gid_t group, control_handler_fn *handler,
                       void *userdata, struct control_server **ret)
{
        if (!event || !path || !handler || !ret)
                return -EINVAL;
        struct sockaddr_un sa;
        int r = sockaddr_fill(path, &sa);
        if (r < 0)
                return r;

        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST; /* never delete something that is not a socket */
                if (socket_is_live(&sa))
                        return -EADDRINUSE;
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
        } else if (errno != ENOENT) {
                return -errno;
        }

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* Created 0660 from the start (no window with a wider mode); chmod makes it exact. */
        mode_t old_umask = umask(0117);
        r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
        int bind_errno = errno;
        umask(old_umask);
        if (r < 0) {
                close(fd);
                return -bind_errno;
        }
        /* Group before listen(): nobody connects while the socket has the wrong group. */
        if ((group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0) || chmod(path, 0660) < 0 ||
            listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                unlink(path);
                close(fd);
                return r;
        }
        struct control_server *s;
        r = server_start(event, fd, handler, userdata, &s);
        if (r < 0) {
                unlink(path);
                close(fd);
                return r;
        }
        s->path = xstrdup(path);
        *ret = s;
        return 0;
}

int control_server_new_from_fd(sd_event *event, int fd, control_handler_fn *handler, void *userdata,
                               struct control_server **ret)
{
        if (!event || fd < 0 || !handler || !ret)
                return -EINVAL;
        int r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOTSOCK;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return server_start(event, fd, handler, userdata, ret);
}

void control_server_set_refused(struct control_server *s, control_refused_fn *refused)
{
        if (s)
                s->refused = refused;
}

void control_server_set_timeout(struct control_server *s, uint64_t usec)
{
        if (s)
                s->timeout_usec = usec;
}

static struct control_conn *conn_find(const struct control_server *s, uint64_t id)
{
        for (struct control_conn *c = s ? s->conns : NULL; c; c = c->next)
                if (c->peer.id == id)
                        return c;
        return NULL;
}

int control_server_defer(struct control_server *s, uint64_t id)
{
        struct control_conn *c = conn_find(s, id);
        if (!c || c->out)
                return -ENOENT;
        c->deferred = true;
        /* Stop reading (bytes after the request line are ignored anyway); a hang-up still wakes
         * us. The deadline is the daemon's bounded wait plus a margin. */
        sd_event_source_set_io_events(c->io, 0);
        sd_event_source_set_time_relative(c->timer, CONTROL_DEFER_USEC);
        return 0;
}

int control_server_reply(struct control_server *s, uint64_t id, char *reply)
{
        struct control_conn *c = conn_find(s, id);
        if (!c || !c->deferred) {
                free(reply);
                return -ENOENT;
        }
        if (c->in_handler) {
                free(c->early);
                c->early = reply; /* conn_handle_line() sends it when the handler returns */
                return 0;
        }
        c->deferred = false;
        conn_reply(c, reply);
        return 0;
}

size_t control_server_deferred_count(const struct control_server *s)
{
        size_t n = 0;
        for (struct control_conn *c = s ? s->conns : NULL; c; c = c->next)
                n += c->deferred;
        return n;
}

struct control_server *control_server_free(struct control_server *s)
{
        if (!s)
                return NULL;
        while (s->conns)
                conn_free(s->conns);
        sd_event_source_disable_unref(s->listen_io);
        sd_event_source_disable_unref(s->accept_retry);
        if (s->fd >= 0)
                close(s->fd);
        if (s->path) {
                unlink(s->path);
                free(s->path);
        }
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

/* ---- client ---- */

static long long now_msec(void)
{
        return (long long)(now_monotonic_usec() / 1000);
}

/* Waits for events on fd until the deadline. Returns revents, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
        for (;;) {
                long long left = deadline - now_msec();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = events};
                int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r > 0)
                        return p.revents;
        }
}

static int client_connect(int fd, const struct sockaddr_un *sa, long long deadline)
{
        for (;;) {
                if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN) {
                        /* AF_UNIX: the listen backlog is full; retry shortly. */
                        if (now_msec() >= deadline)
                                return -ETIMEDOUT;
                        struct timespec ts = {.tv_nsec = 10 * 1000000};
                        nanosleep(&ts, NULL);
                        continue;
                }
                if (errno != EINPROGRESS)
                        return -errno;
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                int err = 0;
                socklen_t len = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                return err ? -err : 0;
        }
}

/* The request as one line with its newline (owned by the caller), or -EMSGSIZE when it is longer
 * than a server accepts. */
static int request_line(const struct control_request *req, char **ret, size_t *ret_len)
{
        char *line = control_request_format(req);
        size_t len = strlen(line);

        if (len > CONTROL_LINE_MAX) {
                free(line);
                return -EMSGSIZE;
        }
        line = xrealloc(line, len + 2);
        memcpy(line + len, "\n", 2);
        *ret = line;
        *ret_len = len + 1;
        return 0;
}

/* Sends the line. A peer that stops reading (it refused the line) may already have replied: on
 * EPIPE/ECONNRESET, or a reply readable while we cannot write, the caller goes on to read it. */
static int client_send(int fd, const char *line, size_t len, long long deadline)
{
        for (size_t off = 0; off < len;) {
                ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
                if (n >= 0) {
                        off += (size_t)n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno == EPIPE || errno == ECONNRESET)
                        break;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                int r = wait_fd(fd, POLLOUT | POLLIN, deadline);
                if (r < 0)
                        return r;
                if ((r & POLLIN) && !(r & POLLOUT))
                        break; /* an early reply */
        }
        return 0;
}

/* Reads the reply line into *in, without its newline: up to the first newline, or to the end of
 * the stream when the reply has none. -EPROTO when the peer closes without a byte. */
static int client_receive(int fd, long long deadline, struct buf *in)
{
        for (;;) {
                char chunk[4096];
                ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
                if (n > 0) {
                        size_t old = in->len;
                        buf_append(in, chunk, (size_t)n);
                        char *nl = memchr(in->data + old, '\n', (size_t)n);
                        if (nl) {
                                in->len = (size_t)(nl - in->data);
                                in->data[in->len] = '\0';
                                return 0;
                        }
                        if (in->len > CONTROL_REPLY_MAX)
                                return -EMSGSIZE;
                        continue;
                }
                if (n == 0)
                        return in->len == 0 ? -EPROTO : 0; /* 0: a reply without its newline */
                if (errno == EINTR)
                        continue;
                if (errno == ECONNRESET && in->len > 0)
                        return 0;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                int r = wait_fd(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
        }
}

int control_call(const char *path, const struct control_request *req, long timeout_ms,
                 char **ret_reply)
{
        struct sockaddr_un sa;
        struct buf in = {0};
        char *line;
        size_t len;
        int r;

        if (!path || !req || !ret_reply)
                return -EINVAL;
        r = sockaddr_fill(path, &sa);
        if (r < 0)
                return r;
        r = request_line(req, &line, &len);
        if (r < 0)
                return r;

        long long deadline = now_msec() + (timeout_ms > 0 ? timeout_ms : 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                free(line);
                return -errno;
        }
        r = client_connect(fd, &sa, deadline);
        if (r >= 0)
                r = client_send(fd, line, len, deadline);
        if (r >= 0)
                r = client_receive(fd, deadline, &in);
        if (r >= 0 && in.len > CONTROL_REPLY_MAX)
                r = -EMSGSIZE;
        if (r >= 0) {
                *ret_reply = buf_steal(&in);
                r = 0;
        }
        close(fd);
        free(line);
        buf_free(&in);
        return r;
}
