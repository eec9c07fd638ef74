/* Loopback fake HTTP servers shared by the unit tests: see fake-http.h. */
#include "fake-http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

void fake_send_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

int fake_bind_loopback(int *ret_port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

int fake_listen_loopback(int backlog, int *ret_port)
{
        int fd = fake_bind_loopback(ret_port);

        assert_int_equal(listen(fd, backlog), 0);
        return fd;
}

usec_t fake_mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* ---- scripted server ------------------------------------------------------------------------ */

static void *fake_main(void *arg)
{
        struct fake *f = arg;

        for (;;) {
                struct buf in = {0};
                char chunk[4096], *end = NULL, *cl;
                size_t head_len = 0, body_len = 0;
                struct fake_resp resp = {200, NULL, "ok"};
                int fd = accept(f->listen_fd, NULL, NULL);

                if (fd < 0)
                        return NULL;
                for (;;) {
                        ssize_t r;

                        if (in.data && (end = strstr(in.data, "\r\n\r\n"))) {
                                head_len = (size_t)(end - in.data) + 4;
                                cl = strcasestr(in.data, "\r\nContent-Length:");
                                body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                                if (in.len >= head_len + body_len)
                                        break;
                        }
                        r = recv(fd, chunk, sizeof(chunk), 0);
                        if (r <= 0)
                                break;
                        buf_append(&in, chunk, (size_t)r);
                }
                if (end && in.len >= head_len + body_len) {
                        char *out;

                        pthread_mutex_lock(&f->lock);
                        if (f->n_reqs < FAKE_MAX) {
                                struct fake_req *q = &f->reqs[f->n_reqs];

                                q->head = xstrndup(in.data, head_len);
                                q->body = xstrndup(in.data + head_len, body_len);
                                q->at = fake_mono_usec();
                                if (f->n_reqs < f->n_script)
                                        resp = f->script[f->n_reqs];
                                f->n_reqs++;
                        }
                        pthread_mutex_unlock(&f->lock);
                        out = xasprintf("HTTP/1.1 %d X\r\nConnection: close\r\nContent-Length: "
                                        "%zu\r\n%s\r\n%s",
                                        resp.status, strlen(resp.body),
                                        resp.headers ? resp.headers : "", resp.body);
                        fake_send_all(fd, out, strlen(out));
                        free(out);
                }
                buf_free(&in);
                shutdown(fd, SHUT_RDWR);
                close(fd);
        }
}

void fake_start(struct fake *f, const struct fake_resp *script, size_t n)
{
        *f = (struct fake){0};
        assert_true(n <= FAKE_MAX);
        if (n > 0)
                memcpy(f->script, script, n * sizeof(*script));
        f->n_script = n;
        pthread_mutex_init(&f->lock, NULL);
        f->listen_fd = fake_listen_loopback(16, &f->port);
        pthread_create(&f->thread, NULL, fake_main, f);
}

void fake_stop(struct fake *f)
{
        shutdown(f->listen_fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
        close(f->listen_fd);
        for (size_t i = 0; i < f->n_reqs; i++) {
                free(f->reqs[i].head);
                free(f->reqs[i].body);
        }
        pthread_mutex_destroy(&f->lock);
}

size_t fake_count(struct fake *f)
{
        size_t n;

        pthread_mutex_lock(&f->lock);
        n = f->n_reqs;
        pthread_mutex_unlock(&f->lock);
        return n;
}

/* ---- threaded server ------------------------------------------------------------------------ */

struct fake_conn {
        struct fake_threads *t;
        int fd;
        unsigned index;
};

static void *fake_conn_main(void *arg)
{
        struct fake_conn *c = arg;

        c->t->serve(c->t->userdata, c->fd, c->index);
        shutdown(c->fd, SHUT_RDWR);
        free(c);
        return NULL;
}

static void *fake_acceptor_main(void *arg)
{
        struct fake_threads *t = arg;

        for (;;) {
                int fd = accept(t->listen_fd, NULL, NULL);
                struct fake_conn *c;

                if (fd < 0)
                        return NULL; /* listening socket shut down */
                pthread_mutex_lock(&t->lock);
                if (t->n == t->max) {
                        pthread_mutex_unlock(&t->lock);
                        close(fd);
                        continue;
                }
                c = xcalloc(1, sizeof(*c));
                *c = (struct fake_conn){.t = t, .fd = fd, .index = t->n};
                t->fds[t->n] = fd;
                pthread_create(&t->threads[t->n++], NULL, fake_conn_main, c);
                pthread_mutex_unlock(&t->lock);
        }
}

void fake_threads_start(struct fake_threads *t, unsigned max, int backlog, fake_serve_fn *serve,
                        fake_wake_fn *wake, void *userdata)
{
        assert_true(max <= FAKE_THREADS_MAX);
        *t = (struct fake_threads){.max = max, .serve = serve, .wake = wake, .userdata = userdata};
        pthread_mutex_init(&t->lock, NULL);
        t->listen_fd = fake_listen_loopback(backlog, &t->port);
        pthread_create(&t->acceptor, NULL, fake_acceptor_main, t);
}

void fake_threads_stop(struct fake_threads *t)
{
        shutdown(t->listen_fd, SHUT_RDWR);
        pthread_join(t->acceptor, NULL);
        close(t->listen_fd);
        /* every handler is woken before any is joined: a wake (a semaphore post, say) may
         * release another connection's handler than the one joined next */
        for (unsigned i = 0; i < t->n; i++) {
                shutdown(t->fds[i], SHUT_RDWR); /* wakes handlers blocked on their socket */
                if (t->wake)
                        t->wake(t->userdata);
        }
        for (unsigned i = 0; i < t->n; i++) {
                pthread_join(t->threads[i], NULL);
                close(t->fds[i]);
        }
        pthread_mutex_destroy(&t->lock);
}
