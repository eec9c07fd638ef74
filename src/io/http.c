/* HTTP client: libcurl's multi interface driven by sd-event (STYLE.md §4).
 *
 * One CURLM, one timer source, one io source per curl socket (stored in curl with
 * curl_multi_assign, plus an fd -> source map as a safety net), one easy handle per request
 * (reached through CURLOPT_PRIVATE). Finished transfers are detached from curl in the drain step
 * and queued; a defer source delivers them one per loop iteration, so done callbacks never run
 * inside curl and may submit new requests or free the client.
 *
 * Streaming requests (opts.on_data, watches) collect what curl hands the write callback and are
 * put on a "data ready" list; the same defer source passes the bytes on (all of them, before any
 * completion), so on_data also runs outside curl. A request can be cancelled by its handle at
 * any time until its done callback runs; one cancelled from inside its own on_data is freed when
 * that callback returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <curl/curl.h>
#include <curl/header.h>
#include <systemd/sd-event.h>

#include "canaryd/http.h"
#include "canaryd/util.h"

#define DEFAULT_TIMEOUT_MS         10000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_BODY           (8u * 1024 * 1024)
#define MAX_HEADERS                256
#define TIMER_ACCURACY_USEC        (1 * USEC_PER_MSEC)

struct io_slot {
        int fd;
        sd_event_source *source;
};

struct http_request {
        struct http_client *client;
        CURL *easy; /* non-NULL while in flight */
        struct curl_slist *header_list;
        http_done_fn *done;
        http_data_fn *on_data; /* streaming */
        void *userdata;
        bool status_known; /* streaming: the final status was looked at */
        bool stream_body;  /* streaming and 2xx: body holds bytes not yet handed to on_data */
        bool in_completed; /* in the completed queue */
        bool in_data_list;
        bool cancelled; /* http_cancel ran while its on_data was running */
        struct http_request *data_next;

        struct buf body;
        size_t max_body;
        bool too_big;
        struct http_header *headers;
        size_t n_headers;
        char errbuf[CURL_ERROR_SIZE];

        /* Result, set when the transfer is detached. */
        int error;
        long status;
        char *errmsg;

        struct http_request *prev, *next; /* in_flight list or completed queue */
};

struct http_client {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *defer;
        struct io_slot *ios;
        size_t n_ios, cap_ios;
        struct http_request *in_flight;                  /* doubly linked */
        struct http_request *completed, *completed_tail; /* FIFO, awaiting delivery */
        size_t n_pending;                                /* in flight + completed */
        struct http_request *data_ready, *data_tail;     /* streams with bytes to deliver */
        struct http_request *delivering;                 /* whose on_data is running */
        bool shutting_down;
};

/* ---- requests ------------------------------------------------------------------------------ */

static void request_clear_headers(struct http_request *req)
{
        for (size_t i = 0; i < req->n_headers; i++) {
                free(req->headers[i].name);
                free(req->headers[i].value);
        }
        free(req->headers);
        req->headers = NULL;
        req->n_headers = 0;
}

static void data_remove(struct http_client *c, struct http_request *req)
{
        if (!req->in_data_list)
                return;
        struct http_request **p = &c->data_ready, *prev = NULL;
        while (*p && *p != req) {
                prev = *p;
                p = &(*p)->data_next;
        }
        if (*p)
                *p = req->data_next;
        if (c->data_tail == req)
                c->data_tail = prev;
        req->data_next = NULL;
        req->in_data_list = false;
}

static void data_push(struct http_client *c, struct http_request *req)
{
        if (req->in_data_list)
                return;
        req->in_data_list = true;
        req->data_next = NULL;
        if (c->data_tail)
                c->data_tail->data_next = req;
        else
                c->data_ready = req;
        c->data_tail = req;
        if (c->defer && !c->shutting_down)
                (void)sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static void request_free(struct http_request *req)
{
        data_remove(req->client, req);
        if (req->easy)
                curl_easy_cleanup(req->easy);
        curl_slist_free_all(req->header_list);
        buf_free(&req->body);
        request_clear_headers(req);
        free(req->errmsg);
        free(req);
}

/* Hands a stream's received bytes to on_data. Returns false when the request was cancelled from
 * inside the callback (it is then freed here). */
static bool stream_deliver(struct http_client *c, struct http_request *req)
{
        data_remove(c, req);
        if (!req->stream_body || req->body.len == 0)
                return true;
        /* the buffer is taken first: curl may refill req->body later, and the callback may
         * cancel (free) the request */
        struct buf chunk = req->body;
        req->body = (struct buf){0};
        struct http_request *outer = c->delivering;
        c->delivering = req;
        req->on_data(chunk.data, chunk.len, req->userdata);
        c->delivering = outer;
        buf_free(&chunk);
        if (req->cancelled) {
                request_free(req);
                return false;
        }
        return true;
}

/* Calls done with the request's result and frees the request. The request must be detached
 * from the client: done may free the client. */
static void request_deliver(struct http_request *req)
{
        if (req->error == 0 && !stream_deliver(req->client, req))
                return; /* cancelled from its own on_data */
        if (req->error == 0) {
                buf_append(&req->body, "", 0); /* body is never NULL */
                struct http_response resp = {
                    .status = req->status,
                    .body = req->body.data,
                    .body_len = req->body.len,
                    .headers = req->headers,
                    .n_headers = req->n_headers,
                };
                req->done(0, &resp, NULL, req->userdata);
        } else {
                req->done(req->error, NULL, req->errmsg ? req->errmsg : strerror(-req->error),
                          req->userdata);
        }
        request_free(req);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct http_request *req = userdata;
        size_t n = size * nmemb;

        if (req->on_data && !req->status_known) {
                /* only the final response's body reaches here */
                long status = 0;
                (void)curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
                req->status_known = true;
                req->stream_body = status >= 200 && status <= 299;
        }
        if (n > req->max_body - req->body.len) {
                req->too_big = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        buf_append(&req->body, data, n);
        if (req->stream_body)
                data_push(req->client, req);
        return n;
}

/* The headers of the final response (libcurl's header API, request -1: not those of a 1xx or a
 * redirect), copied before the easy handle goes: at most MAX_HEADERS. */
static void collect_headers(struct http_request *req)
{
        struct curl_header *prev = NULL, *h;

        request_clear_headers(req);
        while (req->n_headers < MAX_HEADERS &&
               (h = curl_easy_nextheader(req->easy, CURLH_HEADER, -1, prev))) {
                req->headers = xrealloc(req->headers, (req->n_headers + 1) * sizeof(*req->headers));
                req->headers[req->n_headers++] = (struct http_header){
                    .name = xstrdup(h->name),
                    .value = xstrdup(h->value ? h->value : ""),
                };
                prev = h;
        }
}

static int errno_from_curl(CURLcode code, long os_errno, bool too_big)
{
        switch (code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
                        return -EHOSTUNREACH;
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_WRITE_ERROR:
                return too_big ? -EFBIG : -EIO;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTO;
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        default:
                return -EIO;
        }
}

/* ---- client bookkeeping -------------------------------------------------------------------- */

static void in_flight_remove(struct http_client *c, struct http_request *req)
{
        if (req->prev)
                req->prev->next = req->next;
        else
                c->in_flight = req->next;
        if (req->next)
                req->next->prev = req->prev;
        req->prev = req->next = NULL;
}

static void completed_push(struct http_client *c, struct http_request *req)
{
        req->next = NULL;
        req->prev = NULL;
        req->in_completed = true;
        if (c->completed_tail)
                c->completed_tail->next = req;
        else
                c->completed = req;
        c->completed_tail = req;
        if (c->defer && !c->shutting_down)
                (void)sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static struct http_request *completed_pop(struct http_client *c)
{
        struct http_request *req = c->completed;
        if (!req)
                return NULL;
        c->completed = req->next;
        if (!c->completed)
                c->completed_tail = NULL;
        req->next = NULL;
        req->in_completed = false;
        c->n_pending--;
        return req;
}

/* Detaches a transfer from curl, records its result and queues it for delivery. */
static void request_finish(struct http_client *c, struct http_request *req, int error,
                           const char *errmsg)
{
        if (req->easy) {
                (void)curl_multi_remove_handle(c->multi, req->easy);
                curl_easy_cleanup(req->easy);
                req->easy = NULL;
        }
        in_flight_remove(c, req);
        req->error = error;
        if (error != 0)
                req->errmsg = xstrdup(errmsg);
        completed_push(c, req);
}

static struct io_slot *io_find(struct http_client *c, int fd)
{
        for (size_t i = 0; i < c->n_ios; i++)
                if (c->ios[i].fd == fd)
                        return &c->ios[i];
        return NULL;
}

static void io_forget(struct http_client *c, int fd)
{
        struct io_slot *slot = io_find(c, fd);
        if (!slot)
                return;
        sd_event_source_disable_unref(slot->source);
        *slot = c->ios[--c->n_ios];
}

static bool loop_finished(const struct http_client *c)
{
        return sd_event_get_state(c->event) == SD_EVENT_FINISHED;
}

/* Step 7: copy each message, detach its transfer from curl, queue the completion. */
static void drain(struct http_client *c)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                CURL *easy = msg->easy_handle;
                CURLcode code = msg->data.result;
                char *priv = NULL;
                long os_errno = 0;

                if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
                        continue;
                struct http_request *req = (struct http_request *)priv;
                (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
                (void)curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
                collect_headers(req);

                int error = errno_from_curl(code, os_errno, req->too_big);
                const char *errmsg = NULL;
                char cap_msg[64];
                if (error == -EFBIG && req->too_big) {
                        snprintf(cap_msg, sizeof(cap_msg), "response body exceeds %zu bytes",
                                 req->max_body);
                        errmsg = cap_msg;
                } else if (error != 0) {
                        errmsg = req->errbuf[0] ? req->errbuf : curl_easy_strerror(code);
                }
                request_finish(c, req, error, errmsg);
        }
}

/* A fatal multi error leaves every transfer in an unknown state (curl_multi_socket_action.md):
 * fail them all and start over with a fresh multi handle. */
static void multi_failed(struct http_client *c, CURLMcode mc);

static void socket_action(struct http_client *c, curl_socket_t fd, int mask)
{
        int running;
        CURLMcode mc = curl_multi_socket_action(c->multi, fd, mask, &running);
        if (mc != CURLM_OK) {
                multi_failed(c, mc);
                return;
        }
        drain(c);
}

/* ---- sd-event handlers (steps 5 and 6) ----------------------------------------------------- */

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct http_client *c = userdata;
        int mask = 0;

        if (revents & EPOLLIN)
                mask |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                mask |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                mask |= CURL_CSELECT_ERR;
        socket_action(c, fd, mask);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        socket_action(userdata, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

/* Step 8: stream bytes first (every stream, so none waits behind completions), then one
 * completion per iteration; the source re-arms itself before calling out, because the done
 * callback may free the client (and with it this source). on_data may not free the client. */
static int on_defer(sd_event_source *s, void *userdata)
{
        struct http_client *c = userdata;
        while (c->data_ready)
                (void)stream_deliver(c, c->data_ready);
        struct http_request *req = completed_pop(c);
        if (!req)
                return 0;
        if (c->completed)
                (void)sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        request_deliver(req);
        return 0;
}

/* ---- curl callbacks (steps 3 and 4) -------------------------------------------------------- */

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userdata)
{
        struct http_client *c = userdata;
        int r;

        if (loop_finished(c))
                return 0;
        if (timeout_ms < 0) {
                if (c->timer)
                        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return 0;
        }
        usec_t usec = (usec_t)timeout_ms * USEC_PER_MSEC + 999;
        if (!c->timer) {
                r = sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC, usec,
                                               TIMER_ACCURACY_USEC, on_timer, c);
                if (r < 0)
                        return -1;
                (void)sd_event_source_set_description(c->timer, "curl-timer");
                return 0;
        }
        r = sd_event_source_set_time_relative(c->timer, usec);
        if (r < 0)
                return -1;
        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        return r < 0 ? -1 : 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp)
{
        struct http_client *c = userdata;
        sd_event_source *src = socketp;
        uint32_t events = 0;
        int r;

        if (loop_finished(c))
                return 0; /* leftovers in the map are dropped by http_client_free */
        if (what == CURL_POLL_REMOVE) {
                if (src)
                        io_forget(c, fd);
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (src) {
                r = sd_event_source_set_io_events(src, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(src, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }

        /* A stale source for a reused fd would make epoll refuse the new one with EEXIST. */
        io_forget(c, fd);
        r = sd_event_add_io(c->event, &src, fd, events, on_io, c);
        if (r < 0)
                return -1;
        (void)sd_event_source_set_description(src, "curl-io");
        if (curl_multi_assign(c->multi, fd, src) != CURLM_OK) {
                sd_event_source_disable_unref(src);
                return -1;
        }
        if (c->n_ios == c->cap_ios) {
                c->cap_ios = c->cap_ios ? c->cap_ios * 2 : 8;
                c->ios = xrealloc(c->ios, c->cap_ios * sizeof(*c->ios));
        }
        c->ios[c->n_ios++] = (struct io_slot){.fd = fd, .source = src};
        return 0;
}

/* ---- multi handle life --------------------------------------------------------------------- */

static int multi_open(struct http_client *c)
{
        c->multi = curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 64L) != CURLM_OK)
                return -EIO;
        return 0;
}

/* Step 9 for the curl side: every transfer is removed and completed with `error`, then the multi
 * handle is cleaned up while our sources still exist (it may send REMOVE), then leftovers go. */
static void multi_close(struct http_client *c, int error, const char *errmsg)
{
        while (c->in_flight)
                request_finish(c, c->in_flight, error, errmsg);
        if (c->multi) {
                (void)curl_multi_cleanup(c->multi);
                c->multi = NULL;
        }
        while (c->n_ios > 0)
                io_forget(c, c->ios[0].fd);
        if (c->timer)
                (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
}

static void multi_failed(struct http_client *c, CURLMcode mc)
{
        char msg[128];
        snprintf(msg, sizeof(msg), "curl multi handle failed: %s", curl_multi_strerror(mc));
        multi_close(c, -EIO, msg);
        if (multi_open(c) < 0) {
                /* Leave the client unusable; http_submit reports it. */
                if (c->multi)
                        (void)curl_multi_cleanup(c->multi);
                c->multi = NULL;
        }
}

/* ---- public API ---------------------------------------------------------------------------- */

int http_client_new(sd_event *event, struct http_client **ret)
{
        const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
        int r;

        if (!event || !ret)
                return -EINVAL;
        if (!(info->features & CURL_VERSION_ASYNCHDNS))
                return -EOPNOTSUPP;

        struct http_client *c = xcalloc(1, sizeof(*c));
        c->event = sd_event_ref(event);
        r = sd_event_add_defer(event, &c->defer, on_defer, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        if (r >= 0)
                (void)sd_event_source_set_description(c->defer, "http-completions");
        if (r >= 0)
                r = multi_open(c);
        if (r < 0) {
                http_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct http_client *http_client_free(struct http_client *c)
{
        if (!c)
                return NULL;
        c->shutting_down = true;
        multi_close(c, -ECANCELED, "request cancelled: HTTP client shut down");
        c->timer = sd_event_source_disable_unref(c->timer);
        c->defer = sd_event_source_disable_unref(c->defer);

        struct http_request *req;
        while ((req = completed_pop(c))) {
                if (req->error == 0) {
                        req->error = -ECANCELED;
                        req->errmsg = xstrdup("request cancelled: HTTP client shut down");
                }
                request_deliver(req);
        }
        free(c->ios);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

size_t http_client_in_flight(const struct http_client *c)
{
        return c ? c->n_pending : 0;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
        if (!r || !name)
                return NULL;
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

usec_t http_retry_after(const struct http_response *r, usec_t absent, usec_t cap)
{
        const char *v = http_response_header(r, "Retry-After");
        usec_t secs = 0;

        if (!v || !*v || strspn(v, "0123456789") != strlen(v))
                return absent;
        for (; *v; v++) {
                secs = secs * 10 + (usec_t)(*v - '0');
                if (secs * USEC_PER_SEC >= cap)
                        return cap;
        }
        return secs * USEC_PER_SEC;
}

static bool method_valid(const char *m)
{
        static const char *const methods[] = {"GET", "PUT", "POST", "PATCH", "DELETE"};
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(m, methods[i]) == 0)
                        return true;
        return false;
}

#define SETOPT(easy, opt, val)                                                                     \
        do {                                                                                       \
                if (curl_easy_setopt(easy, opt, val) != CURLE_OK)                                  \
                        goto fail;                                                                 \
        } while (0)

static int request_configure(struct http_request *req, const struct http_request_opts *o,
                             const char *method)
{
        CURL *e = req->easy;
        /* a stream lasts as long as the server keeps it open: only the idle limit applies */
        long timeout = o->timeout_ms > 0 ? o->timeout_ms : o->on_data ? 0 : DEFAULT_TIMEOUT_MS;
        long connect = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                       : timeout > 0 && timeout < DEFAULT_CONNECT_TIMEOUT_MS
                           ? timeout
                           : DEFAULT_CONNECT_TIMEOUT_MS;

        SETOPT(e, CURLOPT_URL, o->url);
        SETOPT(e, CURLOPT_PRIVATE, req);
        SETOPT(e, CURLOPT_NOSIGNAL, 1L);
        SETOPT(e, CURLOPT_TIMEOUT_MS, timeout);
        SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
        SETOPT(e, CURLOPT_ERRORBUFFER, req->errbuf);
        SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
        SETOPT(e, CURLOPT_WRITEDATA, req);
        if (!o->on_data)
                SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
        if (o->idle_timeout_ms > 0) {
                SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
                SETOPT(e, CURLOPT_LOW_SPEED_TIME, (o->idle_timeout_ms + 999) / 1000);
        }
        if (o->on_data) {
                /* a peer that vanished without a FIN is noticed within about a minute */
                SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
                SETOPT(e, CURLOPT_TCP_KEEPIDLE, 30L);
                SETOPT(e, CURLOPT_TCP_KEEPINTVL, 10L);
        }
        SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");

        if (o->body || strcmp(method, "GET") != 0) {
                if (strcmp(method, "GET") == 0)
                        return -EINVAL; /* a GET with a body is not something we send */
                SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
                SETOPT(e, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
                if (strcmp(method, "POST") != 0)
                        SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
        }
        /* When a connection it reused dies before the first response byte (a reset, a close),
         * libcurl takes it for a keep-alive connection the server had already closed and sends
         * the request again on a new one, up to 5 times, without telling us. The server may have
         * acted on the first copy before the connection died: a POST would take effect twice (a
         * Slack message posted twice), a PUT that landed would be answered by its copy's 409 (a
         * stale resourceVersion) and the daemon's own write taken for someone else's. A fresh
         * connection is never re-sent that way: the transfer fails and the caller decides (the
         * driver reads the object back, Slack the thread). GETs, and requests marked
         * idempotent (queries), keep reusing connections. */
        if (!o->idempotent && strcmp(method, "GET") != 0)
                SETOPT(e, CURLOPT_FRESH_CONNECT, 1L);

        /* No "Expect: 100-continue" round trip for larger bodies. */
        struct curl_slist *l = curl_slist_append(NULL, "Expect:");
        if (!l)
                return -ENOMEM;
        req->header_list = l;
        for (const char *const *h = o->headers; h && *h; h++) {
                if (strpbrk(*h, "\r\n"))
                        return -EINVAL; /* header injection */
                l = curl_slist_append(req->header_list, *h);
                if (!l)
                        return -ENOMEM;
                req->header_list = l;
        }
        SETOPT(e, CURLOPT_HTTPHEADER, req->header_list);

        if (o->ca_file)
                SETOPT(e, CURLOPT_CAINFO, o->ca_file);
        if (o->ca_pem) {
                struct curl_blob blob = {(void *)(uintptr_t)o->ca_pem, strlen(o->ca_pem),
                                         CURL_BLOB_COPY};
                SETOPT(e, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (o->client_cert_file)
                SETOPT(e, CURLOPT_SSLCERT, o->client_cert_file);
        if (o->client_key_file)
                SETOPT(e, CURLOPT_SSLKEY, o->client_key_file);
        if (o->client_cert_pem) {
                struct curl_blob blob = {(void *)(uintptr_t)o->client_cert_pem,
                                         strlen(o->client_cert_pem), CURL_BLOB_COPY};
                SETOPT(e, CURLOPT_SSLCERT_BLOB, &blob);
                SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (o->client_key_pem) {
                struct curl_blob blob = {(void *)(uintptr_t)o->client_key_pem,
                                         strlen(o->client_key_pem), CURL_BLOB_COPY};
                SETOPT(e, CURLOPT_SSLKEY_BLOB, &blob);
                SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (o->insecure_skip_verify) {
                SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
                SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        return 0;
fail:
        return -EINVAL;
}

int http_submit(struct http_client *c, const struct http_request_opts *opts, http_done_fn *done,
                void *userdata)
{
        return http_submit_handle(c, opts, done, userdata, NULL);
}

int http_submit_handle(struct http_client *c, const struct http_request_opts *opts,
                       http_done_fn *done, void *userdata, struct http_request **ret)
{
        if (!c || !opts || !opts->url || !done)
                return -EINVAL;
        if (c->shutting_down)
                return -ESHUTDOWN;
        if (!c->multi)
                return -EIO;
        const char *method = opts->method ? opts->method : "GET";
        if (!method_valid(method))
                return -EINVAL;

        struct http_request *req = xcalloc(1, sizeof(*req));
        req->client = c;
        req->done = done;
        req->on_data = opts->on_data;
        req->userdata = userdata;
        req->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
        req->easy = curl_easy_init();
        if (!req->easy) {
                request_free(req);
                return -ENOMEM;
        }
        int r = request_configure(req, opts, method);
        if (r < 0) {
                request_free(req);
                return r;
        }
        if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
                request_free(req);
                return -EIO;
        }
        req->next = c->in_flight;
        if (c->in_flight)
                c->in_flight->prev = req;
        c->in_flight = req;
        c->n_pending++;
        if (ret)
                *ret = req;
        return 0;
}

void http_cancel(struct http_client *c, struct http_request *req)
{
        if (!c || !req || req->cancelled)
                return;
        data_remove(c, req);
        if (req->easy) {
                (void)curl_multi_remove_handle(c->multi, req->easy);
                in_flight_remove(c, req);
                c->n_pending--;
        } else if (req->in_completed) {
                struct http_request **p = &c->completed, *prev = NULL;
                while (*p && *p != req) {
                        prev = *p;
                        p = &(*p)->next;
                }
                if (*p)
                        *p = req->next;
                if (c->completed_tail == req)
                        c->completed_tail = prev;
                req->next = NULL;
                req->in_completed = false;
                c->n_pending--;
        }
        if (c->delivering == req) {
                req->cancelled = true; /* freed when its on_data returns */
                return;
        }
        request_free(req);
}

char *http_escape(const char *s)
{
        /* libcurl's: the same unreserved set (RFC 3986), %XX in upper case. Since 7.82 it
         * needs no handle. */
        char *e = curl_easy_escape(NULL, s ? s : "", 0);
        char *out;

        if (!e)
                abort(); /* out of memory (as xmalloc), or over 8 MB: no query is */
        out = xstrdup(e);
        curl_free(e);
        return out;
}
