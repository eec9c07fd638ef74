/* Loopback fake HTTP servers shared by the unit tests (linked into every unit test as
 * canaryd-testutil). Failures to set up a server are cmocka assertion failures, so these
 * functions may only be called from a running cmocka test, setup or teardown.
 *
 * Two shapes:
 * - struct fake: one thread, one connection per request, answers in script order (then
 *   "200 ok") and records every request it received;
 * - struct fake_threads: one thread per connection, each running a test's own serve function,
 *   for servers that keep connections alive or stream. */
#ifndef CANARYD_TESTS_FAKE_HTTP_H
#define CANARYD_TESTS_FAKE_HTTP_H

#include <pthread.h>
#include <stddef.h>

#include "canaryd/util.h"

/* Sends all of p[0..n) on fd; gives up silently when the peer is gone (never SIGPIPE). */
void fake_send_all(int fd, const char *p, size_t n);

/* A TCP socket bound to 127.0.0.1 on a port the kernel chose (stored in *ret_port), not yet
 * listening: connecting to it is refused. The caller owns the fd. */
int fake_bind_loopback(int *ret_port);

/* fake_bind_loopback, then listen(backlog). */
int fake_listen_loopback(int backlog, int *ret_port);

/* CLOCK_MONOTONIC now. */
usec_t fake_mono_usec(void);

/* ---- scripted server: one thread, one connection per request ------------------------------- */

#define FAKE_MAX 32

struct fake_resp {
        int status;
        const char *headers; /* extra "Name: value\r\n" lines, or NULL */
        const char *body;
};

struct fake_req {
        char *head; /* request line + headers */
        char *body;
        usec_t at; /* CLOCK_MONOTONIC, when fully received */
};

struct fake {
        int listen_fd, port;
        pthread_t thread;
        pthread_mutex_t lock; /* guards reqs and n_reqs */
        struct fake_resp script[FAKE_MAX];
        size_t n_script;
        struct fake_req reqs[FAKE_MAX];
        size_t n_reqs;
};

/* Starts answering with script[0..n) (copied; the strings it points to must outlive the
 * server). */
void fake_start(struct fake *f, const struct fake_resp *script, size_t n);
/* Stops the server and frees the recorded requests. */
void fake_stop(struct fake *f);
/* How many requests were received so far. */
size_t fake_count(struct fake *f);

/* ---- threaded server: one thread per connection -------------------------------------------- */

#define FAKE_THREADS_MAX 128

/* Serves the connection fd, the index-th accepted. Runs in the connection's own thread; the fd
 * is shut down (not closed) when it returns. */
typedef void fake_serve_fn(void *userdata, int fd, unsigned index);
/* Wakes a serve function that may be blocked on something other than its socket. */
typedef void fake_wake_fn(void *userdata);

struct fake_threads {
        int listen_fd, port;
        pthread_t acceptor;
        pthread_mutex_t lock; /* guards threads, fds and n */
        pthread_t threads[FAKE_THREADS_MAX];
        int fds[FAKE_THREADS_MAX];
        unsigned n, max;
        fake_serve_fn *serve;
        fake_wake_fn *wake;
        void *userdata;
};

/* Listens with the given backlog and serves up to max (<= FAKE_THREADS_MAX) connections with
 * serve; later ones are closed at once. wake may be NULL. */
void fake_threads_start(struct fake_threads *t, unsigned max, int backlog, fake_serve_fn *serve,
                        fake_wake_fn *wake, void *userdata);
/* Stops accepting, shuts down each connection and calls wake once per connection, then joins
 * each thread and closes its connection. */
void fake_threads_stop(struct fake_threads *t);

#endif
