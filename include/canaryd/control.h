/* The control socket (src/io/control.c): the daemon's server on the event loop and canaryctl's
 * blocking client, over the codec of canaryd/control-json.h. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "canaryd/control-json.h"

/* Who is on the other end of a connection, from SO_PEERCRED at accept time, and its
 * supplementary groups from SO_PEERGROUPS (groups_known false on a kernel without it, before
 * Linux 4.13). Both are the credentials the kernel recorded when the peer connected. `id` names
 * the connection for control_server_defer()/control_server_reply(); ids are never reused.
 * groups is owned by the server and lives as long as the connection. */
struct control_peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        uint64_t id;
        gid_t *groups;
        size_t n_groups;
        bool groups_known;
};

/* Server: accepts on an already-bound listening socket, reads one line per connection (bounded
 * by CONTROL_LINE_MAX and a timeout), asks the handler for the reply line (owned by the server
 * after return), writes it, closes. The peer's uid, gid and pid come from SO_PEERCRED; a peer
 * without credentials is refused before the handler runs.
 * The handler runs synchronously on the event loop with a valid request (malformed ones get a
 * code-2 reply without it). It returns a reply line built with control_reply_ok/_error, without
 * a newline; NULL sends a code-1 "internal error" unless the handler called
 * control_server_defer() for this peer, in which case the reply comes later through
 * control_server_reply(). It must not free the server. */
typedef char *control_handler_fn(const struct control_request *req, const struct control_peer *peer,
                                 void *userdata);

/* A request refused before the handler saw it: a malformed or over-long line, no line within
 * the deadline, or a peer without credentials (peer NULL). why is the reply's error. Called
 * once per such request, synchronously; for the daemon's log. */
typedef void control_refused_fn(const struct control_peer *peer, const char *why, void *userdata);

struct control_server;
/* Binds path (unlinking a stale socket), mode 0660, group `group` ((gid_t)-1: the daemon's own).
 * The socket is bound under a 0117 umask and chowned before listen(), so no peer can connect
 * while it has another group or mode. Returns 0 or -errno. */
int control_server_new(sd_event *event, const char *path, gid_t group, control_handler_fn *handler,
                       void *userdata, struct control_server **ret);
/* Serves on an already-listening AF_UNIX stream socket (systemd socket activation, from
 * sd_listen_fds). On success the server owns fd (closes it, never unlinks the path); on failure
 * the caller still owns it. Returns -ENOTSOCK when fd is not a listening unix stream socket. */
int control_server_new_from_fd(sd_event *event, int fd, control_handler_fn *handler, void *userdata,
                               struct control_server **ret);
/* Who hears of the requests refused before the handler (NULL: nobody); same userdata. */
void control_server_set_refused(struct control_server *s, control_refused_fn *refused);
/* Per-connection deadline (default CONTROL_TIMEOUT_USEC); for tests. */
void control_server_set_timeout(struct control_server *s, uint64_t usec);
/* Deferred replies: inside the handler, control_server_defer(s, peer->id) keeps the connection
 * open after the handler returns NULL; its deadline becomes CONTROL_DEFER_USEC from now. Later
 * control_server_reply() sends the reply (taken) and closes; it returns -ENOENT (and frees the
 * reply) when the connection is gone (peer hung up, deadline passed, server freed). */
#define CONTROL_DEFER_USEC (9 * 1000000ULL)
int control_server_defer(struct control_server *s, uint64_t id);
int control_server_reply(struct control_server *s, uint64_t id, char *reply);
/* Connections currently waiting for a deferred reply; for tests and status. */
size_t control_server_deferred_count(const struct control_server *s);
/* Closes every connection and the listening socket, and unlinks the path it bound. */
struct control_server *control_server_free(struct control_server *s); /* NULL-safe */

/* Client, blocking (canaryctl only): sends one request, returns the reply line (owned, without
 * its newline). timeout_ms bounds the whole exchange. Returns 0, or -errno: -ENOENT or
 * -ECONNREFUSED when nobody listens, -EACCES, -ETIMEDOUT, -EMSGSIZE when the request exceeds
 * CONTROL_LINE_MAX or the reply CONTROL_REPLY_MAX, -EPROTO when the daemon closed without a
 * reply. */
int control_call(const char *path, const struct control_request *req, long timeout_ms,
                 char **ret_reply);
