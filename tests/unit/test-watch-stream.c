/* Streaming HTTP (io/http.c on_data, http_cancel, idle limit) and Kubernetes watches
 * (io/kube-watch.c) on a real sd-event loop, against a scripted HTTP/1.1 server that runs in
 * threads of this test, one connection per request. The server waits for the client where the
 * order matters, so nothing here depends on timing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/util.h"
#include "fake-http.h"

/* ---- scripted server ----------------------------------------------------------------------- */

#define MAX_REQUESTS (KUBE_MAX_ACTIVE + 16)

struct server;
typedef void handler_fn(struct server *s, int fd, unsigned index, const char *target);

struct server {
        struct fake_threads t;
        pthread_mutex_t lock;        /* guards targets and auth */
        char *targets[MAX_REQUESTS]; /* request targets (path?query), in arrival order */
        char *auth[MAX_REQUESTS];    /* Authorization header values */
        handler_fn *handler;
        sem_t client_saw; /* posted by the test when the client saw what the server waits for */
};

static void send_str(int fd, const char *s)
{
        fake_send_all(fd, s, strlen(s));
}

static const char STREAM_HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

static void send_chunk(int fd, const char *data)
{
        char size[32];
        snprintf(size, sizeof(size), "%zx\r\n", strlen(data));
        send_str(fd, size);
        send_str(fd, data);
        send_str(fd, "\r\n");
}

static void send_end(int fd)
{
        send_str(fd, "0\r\n\r\n");
}

static void respond(int fd, int status, const char *body)
{
        char *r = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                            "%zu\r\nConnection: close\r\n\r\n%s",
                            status, strlen(body), body);
        send_str(fd, r);
        free(r);
}

/* Blocks until the client closes the connection (it cancelled or gave up). */
static void wait_client_close(int fd)
{
        char b[256];
        while (recv(fd, b, sizeof(b), 0) > 0)
                ;
}

static void serve_conn(void *userdata, int fd, unsigned index)
{
        struct server *s = userdata;
        struct buf in = {0};
        char chunk[4096];
        while (!in.data || !strstr(in.data, "\r\n\r\n")) {
                ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                if (r <= 0)
                        goto out;
                buf_append(&in, chunk, (size_t)r);
        }
        char method[16] = "", target[1024] = "";
        if (sscanf(in.data, "%15s %1023s", method, target) != 2)
                goto out;
        const char *auth = strcasestr(in.data, "\r\nAuthorization: ");
        pthread_mutex_lock(&s->lock);
        s->targets[index] = xstrdup(target);
        s->auth[index] = auth ? xstrndup(auth + 17, strcspn(auth + 17, "\r")) : NULL;
        pthread_mutex_unlock(&s->lock);
        s->handler(s, fd, index, target);
out:
        buf_free(&in);
}

/* A handler may still wait for the client. */
static void wake_handler(void *userdata)
{
        struct server *s = userdata;
        sem_post(&s->client_saw);
}

static void server_start(struct server *s, handler_fn *handler)
{
        *s = (struct server){.handler = handler};
        pthread_mutex_init(&s->lock, NULL);
        sem_init(&s->client_saw, 0, 0);
        fake_threads_start(&s->t, MAX_REQUESTS, 64, serve_conn, wake_handler, s);
}

static void server_stop(struct server *s)
{
        fake_threads_stop(&s->t);
        for (unsigned i = 0; i < MAX_REQUESTS; i++) {
                free(s->targets[i]);
                free(s->auth[i]);
        }
        sem_destroy(&s->client_saw);
        pthread_mutex_destroy(&s->lock);
}

static char *target_of(struct server *s, unsigned i)
{
        pthread_mutex_lock(&s->lock);
        char *t = i < MAX_REQUESTS && s->targets[i] ? xstrdup(s->targets[i]) : NULL;
        pthread_mutex_unlock(&s->lock);
        return t;
}

/* ---- loop ---------------------------------------------------------------------------------- */

static sd_event *E;
static struct http_client *H;
static struct server S;
static bool stop_loop;

/* Runs the loop until stop_loop; a 20 s guard turns a hang into a failure, not a timing check. */
static void run(void)
{
        usec_t guard = 20 * USEC_PER_SEC, waited = 0;
        while (!stop_loop) {
                int r = sd_event_run(E, 100 * USEC_PER_MSEC);
                assert_true(r >= 0);
                waited += r == 0 ? 100 * USEC_PER_MSEC : 0;
                if (waited > guard)
                        fail_msg("the loop did not reach its goal");
        }
        stop_loop = false;
}

static int on_pause(sd_event_source *s, uint64_t usec, void *userdata)
{
        stop_loop = true;
        return 0;
}

/* Lets the loop run for a while (to see that nothing more happens). */
static void run_for(usec_t usec)
{
        sd_event_source *t = NULL;
        assert_int_equal(
            sd_event_add_time_relative(E, &t, CLOCK_MONOTONIC, usec, 1000, on_pause, NULL), 0);
        run();
        sd_event_source_unref(t);
}

static int setup(void **state)
{
        assert_int_equal(sd_event_new(&E), 0);
        assert_int_equal(http_client_new(E, &H), 0);
        return 0;
}

static int teardown(void **state)
{
        H = http_client_free(H);
        E = sd_event_unref(E);
        server_stop(&S);
        return 0;
}

static char *url(const char *path)
{
        return xasprintf("http://127.0.0.1:%d%s", S.t.port, path);
}

/* ---- streaming HTTP ------------------------------------------------------------------------ */

struct stream_result {
        struct buf data;
        unsigned pieces;
        bool done;
        int error;
        long status;
        char *body;
        bool cancel_in_data; /* http_cancel(self) from on_data */
        struct http_request *req;
        bool post_after_first; /* tell the server we saw the first piece */
};

static void on_stream_data(const char *data, size_t len, void *ud)
{
        struct stream_result *r = ud;
        assert_false(r->done);
        buf_append(&r->data, data, len);
        r->pieces++;
        if (r->post_after_first && r->pieces == 1)
                sem_post(&S.client_saw);
        if (r->cancel_in_data) {
                http_cancel(H, r->req);
                stop_loop = true;
        }
}

static void on_stream_done(int error, const struct http_response *resp, const char *errmsg,
                           void *ud)
{
        struct stream_result *r = ud;
        assert_false(r->done);
        r->done = true;
        r->error = error;
        if (resp) {
                r->status = resp->status;
                r->body = xstrndup(resp->body, resp->body_len);
        }
        stop_loop = true;
}

static void stream_handler(struct server *s, int fd, unsigned index, const char *target)
{
        if (strcmp(target, "/two-parts") == 0) {
                send_str(fd, STREAM_HEAD);
                send_chunk(fd, "first\n");
                sem_wait(&s->client_saw); /* the client has handed it on before the end */
                send_chunk(fd, "second\n");
                send_end(fd);
        } else if (strcmp(target, "/forbidden") == 0) {
                respond(fd, 403, "{\"kind\":\"Status\",\"code\":403}\n");
        } else if (strcmp(target, "/forever") == 0) {
                send_str(fd, STREAM_HEAD);
                for (int i = 0; i < 10000; i++) {
                        char *line = xasprintf("line %d\n", i);
                        send_chunk(fd, line);
                        free(line);
                        if (send(fd, "", 0, MSG_NOSIGNAL) < 0)
                                break;
                        struct timespec ts = {0, 20 * 1000000L};
                        nanosleep(&ts, NULL);
                        char b[16];
                        if (recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0)
                                break; /* the client closed */
                }
        } else if (strcmp(target, "/silent") == 0) {
                /* headers only: curl averages the speed over the last 5 s, so a first
                 * chunk would hold the idle limit off for that long */
                send_str(fd, STREAM_HEAD);
                wait_client_close(fd);
        }
}

static int submit_stream(const char *path, long idle_ms, struct stream_result *r)
{
        char *u = url(path);
        struct http_request_opts o = {
            .url = u, .on_data = on_stream_data, .idle_timeout_ms = idle_ms};
        int ret = http_submit_handle(H, &o, on_stream_done, r, &r->req);
        free(u);
        return ret;
}

static void stream_result_done(struct stream_result *r)
{
        buf_free(&r->data);
        free(r->body);
}

static void body_arrives_in_pieces_before_done(void **unused)
{
        server_start(&S, stream_handler);
        struct stream_result r = {.post_after_first = true};
        assert_int_equal(submit_stream("/two-parts", 0, &r), 0);
        run();
        assert_true(r.done);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.data.data, "first\nsecond\n");
        assert_true(r.pieces >= 2); /* the first was delivered while the server waited */
        assert_string_equal(r.body, "");
        assert_int_equal(http_client_in_flight(H), 0);
        stream_result_done(&r);
}

static void error_status_body_is_buffered_for_done(void **unused)
{
        server_start(&S, stream_handler);
        struct stream_result r = {0};
        assert_int_equal(submit_stream("/forbidden", 0, &r), 0);
        run();
        assert_true(r.done);
        assert_int_equal(r.status, 403);
        assert_int_equal(r.pieces, 0);
        assert_string_equal(r.body, "{\"kind\":\"Status\",\"code\":403}\n");
        stream_result_done(&r);
}

static void cancel_from_on_data_stops_everything(void **unused)
{
        server_start(&S, stream_handler);
        struct stream_result r = {.cancel_in_data = true};
        assert_int_equal(submit_stream("/forever", 0, &r), 0);
        assert_int_equal(http_client_in_flight(H), 1);
        run();
        assert_int_equal(r.pieces, 1);
        assert_int_equal(http_client_in_flight(H), 0);
        run_for(300 * USEC_PER_MSEC); /* the server keeps writing: none of it arrives */
        assert_int_equal(r.pieces, 1);
        assert_false(r.done);
        stream_result_done(&r);
}

static void cancel_from_outside(void **unused)
{
        server_start(&S, stream_handler);
        struct stream_result a = {0}, b = {0};
        assert_int_equal(submit_stream("/forever", 0, &a), 0);
        assert_int_equal(submit_stream("/silent", 0, &b), 0);
        http_cancel(H, b.req); /* before it even connected */
        assert_int_equal(http_client_in_flight(H), 1);
        while (a.pieces == 0)
                assert_true(sd_event_run(E, 100 * USEC_PER_MSEC) >= 0);
        http_cancel(H, a.req);
        assert_int_equal(http_client_in_flight(H), 0);
        run_for(200 * USEC_PER_MSEC);
        assert_false(a.done);
        assert_false(b.done);
        stream_result_done(&a);
        stream_result_done(&b);
}

static void idle_stream_times_out(void **unused)
{
        server_start(&S, stream_handler);
        struct stream_result r = {0};
        assert_int_equal(submit_stream("/silent", 1000, &r), 0);
        run();
        assert_true(r.done);
        assert_int_equal(r.error, -ETIMEDOUT);
        assert_int_equal(r.pieces, 0);
        stream_result_done(&r);
}

/* ---- watches ------------------------------------------------------------------------------- */

#define OBJ(NAME, RV)                                                                              \
        "{\"metadata\":{\"name\":\"" NAME "\",\"namespace\":\"shop\",\"resourceVersion\":\"" RV    \
        "\"}}"
#define EVENT(TYPE, NAME, RV) "{\"type\":\"" TYPE "\",\"object\":" OBJ(NAME, RV) "}\n"
#define LIST(RV, ITEMS)                                                                            \
        "{\"kind\":\"DeploymentList\",\"metadata\":{\"resourceVersion\":\"" RV                     \
        "\"},\"items\":[" ITEMS "]}"

static void kube_handler(struct server *s, int fd, unsigned index, const char *target)
{
        switch (index) {
        case 0: /* the first LIST */
                respond(fd, 200, LIST("10", OBJ("web", "9")));
                break;
        case 1: /* watch from 10: an event cut across chunks, a bookmark, then 410 */
                send_str(fd, STREAM_HEAD);
                send_chunk(fd, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"web2\",");
                send_chunk(fd, "\"namespace\":\"shop\",\"resourceVersion\":\"11\"}}}\n{\"type\"");
                send_chunk(fd, ":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                               "\"15\"}}}\n" EVENT("MODIFIED", "web", "16"));
                send_chunk(fd, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
                               "\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too "
                               "old resource version: 1 (260)\",\"reason\":\"Expired\",\"code\":"
                               "410}}\n");
                wait_client_close(fd); /* the client must drop the stream by itself */
                break;
        case 2: /* re-LIST */
                respond(fd, 200, LIST("30", OBJ("web", "16")));
                break;
        case 3: /* watch from 30: one event, a bookmark, then the server's timeout */
                send_str(fd, STREAM_HEAD);
                send_chunk(fd, EVENT("MODIFIED", "web", "31"));
                send_chunk(fd, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
                               "\"resourceVersion\":\"35\"}}}\n");
                send_end(fd);
                break;
        case 4: /* watch from 35 (the bookmark): a server error */
                respond(fd, 500,
                        "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"etcd "
                        "unavailable\",\"code\":500}\n");
                break;
        case 5: /* LIST after the backoff */
                respond(fd, 200, LIST("40", ""));
                break;
        default:
                respond(fd, 500, "{}");
        }
}

struct seen {
        char log[2048];
        unsigned synced;
        struct kube_watch *w;
};

static void on_watch_event(const struct kube_watch_event *ev, void *userdata)
{
        struct seen *s = userdata;
        static const char *const names[] = {"ADDED",  "MODIFIED", "DELETED",
                                            "LISTED", "SYNCED",   "FAILED"};
        size_t n = strlen(s->log);
        if (ev->type == KUBE_WATCH_FAILED) {
                assert_non_null(ev->message);
                assert_non_null(strstr(ev->message, "etcd unavailable"));
                snprintf(s->log + n, sizeof(s->log) - n, "FAILED(%d) ", ev->error);
        } else {
                snprintf(s->log + n, sizeof(s->log) - n, "%s %s %s ", names[ev->type], ev->name,
                         ev->resource_version);
        }
        if (ev->object)
                assert_int_equal(strlen(ev->object), ev->object_len);
        if (ev->type == KUBE_WATCH_SYNCED && ++s->synced == 3) {
                s->w = kube_watch_free(s->w); /* from inside the callback */
                stop_loop = true;
        }
}

static struct kube_client *kube_new(char *dir_template)
{
        assert_non_null(mkdtemp(dir_template));
        char *path = xasprintf("%s/kubeconfig", dir_template);
        char *text = xasprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                               "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n"
                               "    token: t0k3n\ncontexts:\n- name: x\n  context: {cluster: c, "
                               "user: u}\ncurrent-context: x\n",
                               S.t.port);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        struct kube_client *k = NULL;
        char *err = NULL;
        assert_int_equal(kube_client_new(E, H, path, NULL, 5000, &k, &err), 0);
        unlink(path);
        rmdir(dir_template);
        free(path);
        free(text);
        return k;
}

static bool has(const char *s, const char *sub)
{
        return s && strstr(s, sub);
}

static void watch_lists_streams_and_recovers(void **unused)
{
        server_start(&S, kube_handler);
        char dir[] = "/tmp/test-watch-XXXXXX";
        struct kube_client *k = kube_new(dir);
        struct seen seen = {0};
        char *path = kube_deployments_path("shop");
        assert_string_equal(path, "/apis/apps/v1/namespaces/shop/deployments");
        assert_int_equal(kube_watch_new(k, path, "web", on_watch_event, &seen, &seen.w), 0);
        assert_string_equal(kube_watch_resource_version(seen.w), "");
        run();
        assert_null(seen.w);
        assert_string_equal(seen.log, "LISTED web 9 SYNCED  10 "
                                      "ADDED web2 11 MODIFIED web 16 "
                                      "LISTED web 16 SYNCED  30 "
                                      "MODIFIED web 31 FAILED(-11) "
                                      "SYNCED  40 ");

        static const char *const want[] = {
            "/apis/apps/v1/namespaces/shop/deployments?fieldSelector=metadata.name%3Dweb",
            "?watch=true&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=",
            "/apis/apps/v1/namespaces/shop/deployments?fieldSelector=metadata.name%3Dweb",
            "?watch=true&resourceVersion=30&",
            "?watch=true&resourceVersion=35&",
            "/apis/apps/v1/namespaces/shop/deployments?fieldSelector=metadata.name%3Dweb",
        };
        for (unsigned i = 0; i < ELEMENTSOF(want); i++) {
                char *t = target_of(&S, i);
                if (!has(t, want[i]))
                        fail_msg("request %u: %s, expected %s", i, t ? t : "(none)", want[i]);
                if (strstr(want[i], "watch=true")) {
                        assert_true(has(t, "&fieldSelector=metadata.name%3Dweb"));
                        unsigned timeout = (unsigned)atoi(strstr(t, "timeoutSeconds=") + 15);
                        assert_in_range(timeout, 300, 600);
                }
                pthread_mutex_lock(&S.lock);
                assert_string_equal(S.auth[i], "Bearer t0k3n"); /* streams are authenticated */
                pthread_mutex_unlock(&S.lock);
                free(t);
        }
        free(path);
        kube_client_free(k);
}

static void watch_free_stops_a_running_stream(void **unused)
{
        server_start(&S, kube_handler);
        char dir[] = "/tmp/test-watch-XXXXXX";
        struct kube_client *k = kube_new(dir);
        struct seen seen = {0};
        assert_int_equal(kube_watch_new(k, "/apis/apps/v1/namespaces/shop/deployments", NULL,
                                        on_watch_event, &seen, &seen.w),
                         0);
        /* run until the stream of request 1 has delivered its MODIFIED */
        while (!strstr(seen.log, "MODIFIED"))
                assert_true(sd_event_run(E, 100 * USEC_PER_MSEC) >= 0);
        seen.w = kube_watch_free(seen.w);
        size_t len = strlen(seen.log);
        run_for(300 * USEC_PER_MSEC);
        assert_int_equal(strlen(seen.log), len); /* nothing after the free */
        assert_int_equal(http_client_in_flight(H), 0);
        kube_client_free(k);
}

/* ---- requests in flight ---------------------------------------------------------------------- */

static struct {
        int open, max_open, arrived; /* guarded by S.lock */
        unsigned done, ok;
} G;

static int arrived(void)
{
        pthread_mutex_lock(&S.lock);
        int n = G.arrived;
        pthread_mutex_unlock(&S.lock);
        return n;
}

/* Holds every request until the test posts S.client_saw once for it. */
static void gated_handler(struct server *s, int fd, unsigned index, const char *target)
{
        pthread_mutex_lock(&s->lock);
        G.arrived++;
        if (++G.open > G.max_open)
                G.max_open = G.open;
        pthread_mutex_unlock(&s->lock);
        sem_wait(&s->client_saw);
        respond(fd, 200, "{}");
        pthread_mutex_lock(&s->lock);
        G.open--;
        pthread_mutex_unlock(&s->lock);
}

static void on_gated_done(const struct kube_result *res, void *userdata)
{
        G.ok += res->error == 0 && res->status == 200;
        if (++G.done == KUBE_MAX_ACTIVE + 9)
                stop_loop = true;
}

static void run_until_arrived(int n)
{
        for (int waited = 0; arrived() < n; waited++) {
                assert_true(sd_event_run(E, 10 * USEC_PER_MSEC) >= 0);
                if (waited > 2000)
                        fail_msg("%d requests arrived, expected %d", arrived(), n);
        }
}

/* 40 writes at once: KUBE_MAX_ACTIVE reach the server, the rest wait without a curl handle and
 * go out as answers come back, Lease requests ahead of the queue. */
static void requests_beyond_the_limit_wait_leases_first(void **unused)
{
        server_start(&S, gated_handler);
        memset(&G, 0, sizeof(G));
        char dir[] = "/tmp/test-watch-XXXXXX";
        struct kube_client *k = kube_new(dir);
        for (int i = 0; i < KUBE_MAX_ACTIVE + 8; i++) {
                char *path = xasprintf("/api/v1/namespaces/shop/configmaps/c%d", i);
                assert_int_equal(kube_put(k, path, "{}", on_gated_done, NULL), 0);
                free(path);
        }
        assert_int_equal(kube_put(k, "/apis/coordination.k8s.io/v1/namespaces/shop/leases/l", "{}",
                                  on_gated_done, NULL),
                         0);
        run_until_arrived(KUBE_MAX_ACTIVE);
        run_for(200 * USEC_PER_MSEC); /* a client without the limit sends the rest meanwhile */
        assert_int_equal(arrived(), KUBE_MAX_ACTIVE);
        assert_int_equal(http_client_in_flight(H), KUBE_MAX_ACTIVE);

        sem_post(&S.client_saw); /* one answer: one slot */
        run_until_arrived(KUBE_MAX_ACTIVE + 1);
        char *t = target_of(&S, KUBE_MAX_ACTIVE);
        assert_non_null(t);
        assert_string_equal(t, "/apis/coordination.k8s.io/v1/namespaces/shop/leases/l");
        free(t);

        for (int i = 0; i < 8; i++)
                sem_post(&S.client_saw);
        run_until_arrived(KUBE_MAX_ACTIVE + 9);
        for (int i = 0; i < KUBE_MAX_ACTIVE; i++)
                sem_post(&S.client_saw);
        run();
        assert_int_equal(G.done, KUBE_MAX_ACTIVE + 9);
        assert_int_equal(G.ok, KUBE_MAX_ACTIVE + 9);
        pthread_mutex_lock(&S.lock);
        assert_int_equal(G.max_open, KUBE_MAX_ACTIVE);
        pthread_mutex_unlock(&S.lock);
        assert_int_equal(http_client_in_flight(H), 0);
        kube_client_free(k);
}

static void bad_arguments(void **unused)
{
        server_start(&S, kube_handler);
        char dir[] = "/tmp/test-watch-XXXXXX";
        struct kube_client *k = kube_new(dir);
        struct kube_watch *w = NULL;
        assert_int_equal(kube_watch_new(k, "apis/x", NULL, on_watch_event, NULL, &w), -EINVAL);
        assert_int_equal(kube_watch_new(k, "/apis/x?watch=1", NULL, on_watch_event, NULL, &w),
                         -EINVAL);
        assert_int_equal(kube_watch_new(k, "/apis/x", NULL, NULL, NULL, &w), -EINVAL);
        assert_null(kube_watch_free(NULL));
        assert_null(kube_virtual_services_path("Bad_NS"));
        char *p = kube_virtual_services_path("shop");
        assert_string_equal(p, "/apis/networking.istio.io/v1/namespaces/shop/virtualservices");
        free(p);
        kube_client_free(k);
}

int main(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(body_arrives_in_pieces_before_done, setup, teardown),
            cmocka_unit_test_setup_teardown(error_status_body_is_buffered_for_done, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(cancel_from_on_data_stops_everything, setup, teardown),
            cmocka_unit_test_setup_teardown(cancel_from_outside, setup, teardown),
            cmocka_unit_test_setup_teardown(idle_stream_times_out, setup, teardown),
            cmocka_unit_test_setup_teardown(watch_lists_streams_and_recovers, setup, teardown),
            cmocka_unit_test_setup_teardown(watch_free_stops_a_running_stream, setup, teardown),
            cmocka_unit_test_setup_teardown(requests_beyond_the_limit_wait_leases_first, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
