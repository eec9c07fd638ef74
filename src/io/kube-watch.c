/* Kubernetes watches (WIRE.md §2.4), as client-go's reflector runs them: LIST, then a streaming
 * GET ?watch=true from the list's resourceVersion, one JSON event per line (codec/watch-json.c).
 *
 *   LIST ──ok──> WATCH ──clean end (timeoutSeconds)──> WATCH again from the last RV
 *    ^  │          │ ├──ERROR 410 Expired / HTTP 410──> LIST (at once when the stream was healthy)
 *    │  failed     │ └──transport error, other ERROR, bad line──> FAILED event, backoff, LIST
 *    └──backoff────┘
 *
 * Everything runs from the sd-event loop: the LIST and the stream are kube_get_stream() calls
 * (cancellable), and every wait is one timer. The consumer's callback may free the watch; a
 * watch freed from inside a callback is destroyed when the outermost entry point unwinds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "canaryd/clock.h"
#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/names.h"
#include "canaryd/util.h"
#include "canaryd/watch-json.h"

#define LIST_MAX           (32u * 1024 * 1024)
#define LIST_IDLE_MS       30000L
#define WATCH_MAX_LINE     (8u * 1024 * 1024)
#define WATCH_TIMEOUT_MIN  300u /* seconds; client-go's minWatchTimeout, spread over [5, 10) min */
#define WATCH_IDLE_SLACK_S 60u
#define BACKOFF_MAX_S      30u
#define HEALTHY_USEC       (5 * USEC_PER_SEC)

enum watch_state { ST_WAITING, ST_LISTING, ST_WATCHING, ST_STOPPED };

struct kube_watch {
        struct kube_client *k;
        char *path;           /* collection path */
        char *selector_query; /* "fieldSelector=..." (escaped), or NULL */
        kube_watch_fn *on_event;
        void *userdata;

        enum watch_state state;
        bool next_is_list;      /* what the timer starts */
        char *rv;               /* last resourceVersion seen; "" before the first LIST */
        struct kube_call *call; /* the LIST or the stream in flight */
        struct buf list_body;
        struct watch_lines lines;
        sd_event_source *timer;
        unsigned failures; /* consecutive, for the backoff */
        usec_t stream_started_usec;
        bool stream_had_line;
        char *line_error; /* why on_line stopped the stream */
        uint64_t rand_state;

        unsigned depth; /* entry points on the stack */
        bool free_pending;
};

static uint64_t next_random(struct kube_watch *w)
{
        /* xorshift64*: only for jitter */
        uint64_t x = w->rand_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        w->rand_state = x;
        return x * 0x2545F4914F6CDD1DULL;
}

static void destroy(struct kube_watch *w)
{
        if (w->call)
                kube_cancel(w->call);
        sd_event_source_disable_unref(w->timer);
        buf_free(&w->list_body);
        watch_lines_reset(&w->lines);
        free(w->path);
        free(w->selector_query);
        free(w->rv);
        free(w->line_error);
        free(w);
}

static void enter(struct kube_watch *w)
{
        w->depth++;
}

/* Leaves an entry point; destroys the watch when it was freed meanwhile and this was the last. */
static void leave(struct kube_watch *w)
{
        if (--w->depth == 0 && w->free_pending)
                destroy(w);
}

/* Calls the consumer. Returns false when the watch was freed from the callback. */
static bool deliver(struct kube_watch *w, const struct kube_watch_event *ev)
{
        w->depth++;
        w->on_event(ev, w->userdata);
        w->depth--;
        return !w->free_pending;
}

static bool deliver_object(struct kube_watch *w, enum kube_watch_type type,
                           const struct watch_object *o)
{
        struct kube_watch_event ev = {
            .type = type,
            .object = o->json,
            .object_len = o->len,
            .namespace_ = o->namespace_,
            .name = o->name,
            .resource_version = o->resource_version,
        };
        return deliver(w, &ev);
}

static void set_rv(struct kube_watch *w, const char *rv)
{
        if (!rv || !*rv)
                return;
        free(w->rv);
        w->rv = xstrdup(rv);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Runs the next step after delay_usec (0: on the next loop iteration). */
static void schedule(struct kube_watch *w, bool list, usec_t delay_usec)
{
        w->state = ST_WAITING;
        w->next_is_list = list;
        if (!w->timer) {
                int r =
                    sd_event_add_time_relative(kube_client_event(w->k), &w->timer, CLOCK_MONOTONIC,
                                               delay_usec, 10 * USEC_PER_MSEC, on_timer, w);
                if (r < 0)
                        w->state = ST_STOPPED; /* only when the loop is gone or out of memory */
                else
                        (void)sd_event_source_set_description(w->timer, "kube-watch");
                return;
        }
        (void)sd_event_source_set_time_relative(w->timer, delay_usec);
        (void)sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

/* 1, 2, 4 ... 30 s for the n-th consecutive failure, each within [0.75, 1.25) of that. */
static usec_t backoff_usec(struct kube_watch *w)
{
        unsigned n = w->failures > 0 ? w->failures - 1 : 0;
        usec_t base = (n >= 5 ? BACKOFF_MAX_S : (1u << n)) * USEC_PER_SEC;
        if (base > BACKOFF_MAX_S * USEC_PER_SEC)
                base = BACKOFF_MAX_S * USEC_PER_SEC;
        return base * 3 / 4 + next_random(w) % (base / 2);
}

/* A LIST or stream failed: tell the consumer, then LIST again after the backoff. */
static void failed(struct kube_watch *w, int error, const char *message)
{
        w->state = ST_WAITING;
        struct kube_watch_event ev = {
            .type = KUBE_WATCH_FAILED,
            .namespace_ = "",
            .name = "",
            .resource_version = w->rv,
            .error = error,
            .message = message,
        };
        if (!deliver(w, &ev))
                return;
        w->failures++;
        schedule(w, true, backoff_usec(w));
}

/* ---- LIST ---------------------------------------------------------------------------------- */

static void on_list_data(const char *data, size_t len, void *userdata)
{
        struct kube_watch *w = userdata;
        enter(w);
        if (w->list_body.len + len > LIST_MAX) {
                kube_cancel(w->call);
                w->call = NULL;
                buf_free(&w->list_body);
                char *msg = xasprintf("LIST %s: response larger than %u MiB", w->path,
                                      LIST_MAX / (1024 * 1024));
                failed(w, -EFBIG, msg);
                free(msg);
        } else {
                buf_append(&w->list_body, data, len);
        }
        leave(w);
}

static void start_watch(struct kube_watch *w);

static void on_list_done(const struct kube_result *res, void *userdata)
{
        struct kube_watch *w = userdata;
        w->call = NULL;
        enter(w);
        struct watch_list list = {0};
        char *err = NULL;

        if (res->error == -ECANCELED) {
                w->state = ST_STOPPED; /* the HTTP client is shutting down */
        } else if (res->error < 0) {
                char *msg = xasprintf("LIST %s: %s", w->path,
                                      res->message ? res->message : strerror(-res->error));
                failed(w, res->error, msg);
                free(msg);
        } else if (watch_list_decode(w->list_body.data, w->list_body.len, &list, &err) < 0) {
                char *msg = xasprintf("LIST %s: %s", w->path, err);
                failed(w, -EBADMSG, msg);
                free(msg);
        } else {
                set_rv(w, list.resource_version);
                bool alive = true;
                for (size_t i = 0; i < list.n_items && alive; i++)
                        alive = deliver_object(w, KUBE_WATCH_LISTED, &list.items[i]);
                struct kube_watch_event synced = {
                    .type = KUBE_WATCH_SYNCED,
                    .namespace_ = "",
                    .name = "",
                    .resource_version = w->rv,
                };
                if (alive && deliver(w, &synced))
                        start_watch(w);
        }
        buf_free(&w->list_body);
        watch_list_done(&list);
        free(err);
        leave(w);
}

static void start_list(struct kube_watch *w)
{
        char *path =
            w->selector_query ? xasprintf("%s?%s", w->path, w->selector_query) : xstrdup(w->path);
        buf_free(&w->list_body);
        w->state = ST_LISTING;
        int r = kube_get_stream(w->k, path, LIST_IDLE_MS, on_list_data, on_list_done, w, &w->call);
        free(path);
        if (r == -ECANCELED) {
                w->state = ST_STOPPED;
        } else if (r < 0) {
                char *msg = xasprintf("LIST %s: %s", w->path, strerror(-r));
                failed(w, r, msg);
                free(msg);
        }
}

/* ---- WATCH --------------------------------------------------------------------------------- */

/* on_line's verdicts beyond the codec's */
#define LINE_EXPIRED (-ESTALE)

static int on_line(const char *line, size_t len, void *userdata)
{
        struct kube_watch *w = userdata;
        struct watch_event ev;
        char *err = NULL;

        w->stream_had_line = true;
        if (watch_event_decode(line, len, &ev, &err) < 0) {
                free(w->line_error);
                w->line_error = xasprintf("WATCH %s: %s", w->path, err);
                free(err);
                return -EBADMSG;
        }
        int r = 0;
        switch (ev.type) {
        case WATCH_BOOKMARK:
                set_rv(w, ev.object.resource_version);
                break;
        case WATCH_ERROR:
                if (ev.code == 410) {
                        r = LINE_EXPIRED;
                        break;
                }
                free(w->line_error);
                w->line_error = xasprintf("WATCH %s: server sent an error: %ld %s: %s", w->path,
                                          ev.code, ev.reason, ev.message);
                r = -EPROTO;
                break;
        case WATCH_ADDED:
        case WATCH_MODIFIED:
        case WATCH_DELETED:
                set_rv(w, ev.object.resource_version);
                if (!deliver_object(w,
                                    ev.type == WATCH_ADDED      ? KUBE_WATCH_ADDED
                                    : ev.type == WATCH_MODIFIED ? KUBE_WATCH_MODIFIED
                                                                : KUBE_WATCH_DELETED,
                                    &ev.object))
                        r = -ECANCELED;
                break;
        }
        watch_event_done(&ev);
        return r;
}

/* Judged when a stream ends: one that lasted or carried events resets the backoff. */
static void stream_ended(struct kube_watch *w)
{
        watch_lines_reset(&w->lines);
        if (w->stream_had_line || now_monotonic_usec() - w->stream_started_usec >= HEALTHY_USEC)
                w->failures = 0;
}

/* The resourceVersion is too old for the server's history: LIST again, at once unless the
 * last attempts did not get anywhere either. */
static void expired(struct kube_watch *w)
{
        usec_t delay = w->failures > 0 ? backoff_usec(w) : 0;
        w->failures++;
        schedule(w, true, delay);
}

static void on_watch_data(const char *data, size_t len, void *userdata)
{
        struct kube_watch *w = userdata;
        enter(w);
        int r = watch_lines_feed(&w->lines, data, len, on_line, w);
        if (r < 0 && !w->free_pending) {
                kube_cancel(w->call); /* safe from inside its own data callback */
                w->call = NULL;
                stream_ended(w);
                if (r == LINE_EXPIRED) {
                        expired(w);
                } else {
                        char *msg = r == -EFBIG ? xasprintf("WATCH %s: an event is larger than "
                                                            "%u MiB",
                                                            w->path, WATCH_MAX_LINE >> 20)
                                                : xstrdup(w->line_error ? w->line_error : "");
                        failed(w, r, msg);
                        free(msg);
                }
        }
        leave(w);
}

static void on_watch_done(const struct kube_result *res, void *userdata)
{
        struct kube_watch *w = userdata;
        w->call = NULL;
        enter(w);
        stream_ended(w);
        if (res->error == -ECANCELED) {
                w->state = ST_STOPPED;
        } else if (res->status == 410) {
                expired(w); /* servers before the watch cache answered 410 outright */
        } else if (res->error < 0) {
                char *msg = xasprintf("WATCH %s: %s", w->path,
                                      res->message ? res->message : strerror(-res->error));
                failed(w, res->error, msg);
                free(msg);
        } else if (w->failures == 0) {
                schedule(w, false, 0); /* timeoutSeconds ran out: carry on from the last RV */
        } else {
                /* ended at once without a line: do not spin */
                w->failures++;
                schedule(w, false, backoff_usec(w));
        }
        leave(w);
}

static void start_watch(struct kube_watch *w)
{
        unsigned timeout = WATCH_TIMEOUT_MIN + (unsigned)(next_random(w) % (WATCH_TIMEOUT_MIN + 1));
        char *rv = http_escape(w->rv);
        char *path = xasprintf("%s?watch=true&resourceVersion=%s&allowWatchBookmarks=true"
                               "&timeoutSeconds=%u%s%s",
                               w->path, rv, timeout, w->selector_query ? "&" : "",
                               w->selector_query ? w->selector_query : "");
        free(rv);
        watch_lines_reset(&w->lines);
        w->state = ST_WATCHING;
        w->stream_started_usec = now_monotonic_usec();
        w->stream_had_line = false;
        int r = kube_get_stream(w->k, path, (long)(timeout + WATCH_IDLE_SLACK_S) * 1000,
                                on_watch_data, on_watch_done, w, &w->call);
        free(path);
        if (r == -ECANCELED) {
                w->state = ST_STOPPED;
        } else if (r < 0) {
                char *msg = xasprintf("WATCH %s: %s", w->path, strerror(-r));
                failed(w, r, msg);
                free(msg);
        }
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct kube_watch *w = userdata;
        enter(w);
        if (w->state == ST_WAITING) {
                if (w->next_is_list || !w->rv[0])
                        start_list(w);
                else
                        start_watch(w);
        }
        leave(w);
        return 0;
}

/* ---- public -------------------------------------------------------------------------------- */

int kube_watch_new(struct kube_client *k, const char *collection_path, const char *name,
                   kube_watch_fn *on_event, void *userdata, struct kube_watch **ret)
{
        if (!k || !collection_path || collection_path[0] != '/' || strpbrk(collection_path, "?#") ||
            !on_event || !ret || !kube_client_event(k))
                return -EINVAL;
        struct kube_watch *w = xcalloc(1, sizeof(*w));
        w->k = k;
        w->path = xstrdup(collection_path);
        if (name && *name) {
                char *selector = xasprintf("metadata.name=%s", name);
                char *esc = http_escape(selector);
                w->selector_query = xasprintf("fieldSelector=%s", esc);
                free(esc);
                free(selector);
        }
        w->on_event = on_event;
        w->userdata = userdata;
        w->rv = xstrdup("");
        w->rand_state = (now_monotonic_usec() ^ (uint64_t)(uintptr_t)w) | 1;
        watch_lines_init(&w->lines, WATCH_MAX_LINE);
        schedule(w, true, 0);
        if (w->state == ST_STOPPED) {
                destroy(w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

struct kube_watch *kube_watch_free(struct kube_watch *w)
{
        if (!w || w->free_pending)
                return NULL;
        if (w->call) {
                kube_cancel(w->call);
                w->call = NULL;
        }
        if (w->timer)
                (void)sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        w->state = ST_STOPPED;
        if (w->depth > 0)
                w->free_pending = true;
        else
                destroy(w);
        return NULL;
}

const char *kube_watch_resource_version(const struct kube_watch *w)
{
        return w ? w->rv : "";
}

char *kube_virtual_services_path(const char *namespace_)
{
        if (!dns1123_is_label(namespace_))
                return NULL;
        return xasprintf("/apis/networking.istio.io/v1/namespaces/%s/virtualservices", namespace_);
}

char *kube_deployments_path(const char *namespace_)
{
        if (!dns1123_is_label(namespace_))
                return NULL;
        return xasprintf("/apis/apps/v1/namespaces/%s/deployments", namespace_);
}
