/* The control protocol between canaryctl and canaryd (docs/control-protocol.md): one JSON
 * request line, one JSON reply line, over a unix stream socket. The codec is pure
 * (src/codec/control-json.c); the server and the client are in src/io/control.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

/* A request line holds at most CONTROL_LINE_MAX bytes, not counting its newline. */
#define CONTROL_LINE_MAX (64 * 1024)
/* The client reads reply lines of at most this many bytes (status of many canaries). */
#define CONTROL_REPLY_MAX (16 * 1024 * 1024)
/* The server drops a connection that has not completed within this time. */
#define CONTROL_TIMEOUT_USEC (5 * 1000000ULL)

enum control_command {
        CONTROL_STATUS,
        CONTROL_START,
        CONTROL_PROMOTE,
        CONTROL_ABORT,
        CONTROL_PAUSE,
        CONTROL_RESUME,
        CONTROL_RETRY,
        CONTROL_HISTORY,
        _CONTROL_COMMAND_MAX
};
const char *control_command_to_string(enum control_command c); /* NULL when out of range */
/* Returns the command, or -EINVAL for an unknown name. */
int control_command_from_string(const char *s);

struct control_request {
        enum control_command command;
        char *name;     /* canary; NULL for status of all */
        char *revision; /* start */
        char *reason;   /* abort */
        bool full;      /* promote */
        bool all;       /* history: every rollout in the journal, not only the latest */
};
void control_request_done(struct control_request *r);

/* Parses one request line. Returns 0 or -EINVAL with *ret_error (owned). */
int control_request_parse(const char *line, size_t len, struct control_request *ret,
                          char **ret_error);
/* Formats a request as one line without the newline. Caller owns it. */
char *control_request_format(const struct control_request *r);

/* Reply lines. ok: {"ok":true,"message":...,"status":<data_json>}; refused:
 * {"ok":false,"code":N,"error":"..."} where code is canaryctl's exit code (1 refused,
 * 2 usage). data_json may be NULL. Caller owns the results. */
char *control_reply_ok(const char *message, const char *data_json);
/* {"ok":true,"message":...,"history":<history_json>}: the reply to `history`; history_json is
 * an object (journal.h: journal_history_select) or NULL. */
char *control_reply_history(const char *message, const char *history_json);
char *control_reply_error(int code, const char *error);

/* A parsed reply line (client side). Strings are owned by the struct. */
struct control_reply {
        bool ok;
        int code;           /* 0 when ok; 1 refused, 2 malformed request */
        char *message;      /* ok: may be NULL */
        char *error;        /* !ok: never NULL */
        char *status_json;  /* ok: the "status" member, unformatted; NULL when absent or null */
        char *history_json; /* ok: the "history" member, unformatted; NULL when absent or null */
};
void control_reply_done(struct control_reply *r);
/* Parses one reply line. Returns 0 or -EINVAL with *ret_error (owned). */
int control_reply_parse(const char *line, size_t len, struct control_reply *ret, char **ret_error);

/* Renders SPEC §5's status document ({"canaries":[...]}) as a table for people: columns NAME
 * NAMESPACE PHASE STEP WEIGHT FAILED INCONCL REVISION LAST-ANALYSIS, and, with details, each
 * canary's last-analysis metrics (name, judge, canary, baseline, result, detail) below it.
 * Missing or mistyped fields show as "-"; control characters are replaced by '?'. Returns 0 and
 * the text (owned, ends with a newline), or -EINVAL with *ret_error (owned). Pure. */
int control_status_format_table(const char *json, size_t len, bool details, char **ret,
                                char **ret_error);

/* Who is on the other end of a connection, from SO_PEERCRED at accept time. `id` names the
 * connection for control_server_defer()/control_server_reply(); ids are never reused. */
struct control_peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        uint64_t id;
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
