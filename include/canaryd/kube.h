/* Kubernetes API client (src/io/kube.c): kubeconfig or in-cluster credentials (token, tokenFile,
 * client certificates, exec credential plugins), GET/PUT/POST of objects by path, errors decoded
 * from Status bodies, the VirtualService API version by discovery, and watches
 * (src/io/kube-watch.c). Its documents are parsed by the codec of canaryd/kube-json.h. WIRE.md §2.
 */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/kube-json.h"
#include "canaryd/tally.h"

struct http_client;

struct kube_result {
        /* 0 for 2xx. Else: -ESTALE 409 Conflict, -ENOENT 404, -EACCES 401/403, -EINVAL 400/422,
         * -EAGAIN 429/5xx, -EEXIST 409 AlreadyExists (POST), or a transport errno from http.h;
         * -ENOKEY when the exec credential plugin failed. */
        int error;
        long status;
        const char *body; /* borrowed: the response body (object JSON or Status) */
        size_t body_len;
        const char *message; /* borrowed: Status.message or transport error text */
        const char *reason;  /* borrowed: Status.reason, or "" */
};

typedef void kube_done_fn(const struct kube_result *res, void *userdata);

/* Requests (watches aside) handed to the HTTP client at once; later ones wait in order, Lease
 * requests first (kube.c). */
#define KUBE_MAX_ACTIVE 32

struct kube_client;
/* kubeconfig_path NULL: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service account in
 * /var/run/secrets/kubernetes.io/serviceaccount, or $CANARYD_SERVICEACCOUNT_DIR for tests).
 * timeout_ms 0 = http default. event and http are borrowed and must outlive the client; event
 * runs exec credential plugins. Returns 0, or a negative errno with *ret_error (owned). */
int kube_client_new(sd_event *event, struct http_client *http, const char *kubeconfig_path,
                    const char *context, long timeout_ms, struct kube_client **ret,
                    char **ret_error);
/* NULL-safe; returns NULL. Requests in flight still complete (they hold their own reference);
 * requests still waiting for an exec credential plugin are dropped without their callback, and
 * the plugin is killed. */
struct kube_client *kube_client_free(struct kube_client *k);
/* Answers by verb and HTTP status, for /metrics. */
enum kube_verb {
        KUBE_VERB_GET,
        KUBE_VERB_LIST,
        KUBE_VERB_WATCH,
        KUBE_VERB_CREATE,
        KUBE_VERB_UPDATE,
        KUBE_VERB_PATCH,
        KUBE_VERB_DELETE,
        _KUBE_VERB_MAX
};
const char *kube_verb_to_string(enum kube_verb v);
struct kube_tally {
        struct status_tally verb[_KUBE_VERB_MAX];
};
/* Counts every answer from now on in tally, which must outlive the client (for /metrics). */
void kube_client_set_tally(struct kube_client *k, struct kube_tally *tally);
/* The namespace of the kubeconfig context or the service account; NULL when unknown. */
const char *kube_client_namespace(const struct kube_client *k);
/* True when the kubeconfig turns TLS verification off (the daemon warns loudly). */
bool kube_client_insecure(const struct kube_client *k);
/* "exec plugin", "client certificate", "token file", "token", "in-cluster service account" or
 * "none": for the start-up log line, never the credential itself. */
const char *kube_client_auth_kind(const struct kube_client *k);

/* Adds the HA identity to the User-Agent ("canaryd/0.1.0 (host-1a2b3c4d)"), so that the API
 * server's audit log shows which replica wrote. */
void kube_client_set_identity(struct kube_client *k, const char *identity);

/* The VirtualService API version: "v1", "v1beta1" or "v1alpha3" fixes it; NULL (the default)
 * discovers it before the first VirtualService request (GET /apis/networking.istio.io; the
 * newest served). Paths from kube_virtual_service_path() are rewritten to it. Returns -EINVAL
 * for another string. */
int kube_client_set_vs_version(struct kube_client *k, const char *version);
/* The version in use, or NULL while not discovered yet. */
const char *kube_client_vs_version(const struct kube_client *k);
/* The event loop the client runs on (borrowed), for watches. */
sd_event *kube_client_event(const struct kube_client *k);

/* path is absolute ("/apis/..."); json is copied. Returns 0 (done runs once, later, from the
 * loop) or a negative errno (done never runs). The token never appears in any message. A 401
 * with an exec plugin's credential re-runs the plugin and retries the request once. */
int kube_get(struct kube_client *k, const char *path, kube_done_fn *done, void *userdata);
int kube_put(struct kube_client *k, const char *path, const char *json, kube_done_fn *done,
             void *userdata);
int kube_post(struct kube_client *k, const char *path, const char *json, kube_done_fn *done,
              void *userdata);
/* DELETE path, only if the object is still at resource_version (DeleteOptions preconditions:
 * an object renewed meanwhile is kept, and the answer is 409). */
int kube_delete(struct kube_client *k, const char *path, const char *resource_version,
                kube_done_fn *done, void *userdata);

/* A streaming GET (watches): a 2xx body goes to on_data piece by piece as it arrives (data
 * borrowed), then done runs once with res->body empty; any other status or a transport error
 * goes to done as for kube_get. No overall timeout: only idle_timeout_ms (> 0: fewer bytes than
 * its seconds over that many seconds fail it with -ETIMEDOUT). *ret is a handle for
 * kube_cancel, valid until done starts. */
struct kube_call;
typedef void kube_data_fn(const char *data, size_t len, void *userdata);
int kube_get_stream(struct kube_client *k, const char *path, long idle_timeout_ms,
                    kube_data_fn *on_data, kube_done_fn *done, void *userdata,
                    struct kube_call **ret);
/* Stops a streaming GET; neither on_data nor done runs afterwards. Safe inside its own on_data.
 * Call it before kube_client_free. */
void kube_cancel(struct kube_call *c);

/* ---- watches (src/io/kube-watch.c; WIRE.md §2.4) ----
 *
 * A watch keeps a local view of a collection current: LIST, then
 * GET ?watch=true&resourceVersion=<list RV>&allowWatchBookmarks=true&timeoutSeconds=N
 * (N random in 300..600, as client-go spreads them), one JSON event per line, all on the event
 * loop. BOOKMARKs only move the resourceVersion. An in-stream ERROR with code 410 (Expired), or
 * an HTTP 410, re-LISTs and watches from the list's resourceVersion. A stream the server ends
 * cleanly (timeoutSeconds) is re-opened at once from the last resourceVersion; transport
 * errors, other errors and undecodable lines re-LIST after a backoff of 1, 2, 4 ... 30 s with
 * jitter (reset once a stream has lasted 5 s or delivered a line). A line over 8 MiB is
 * treated as a broken stream.
 *
 * Usage (the Deployment trigger, SPEC §4):
 *
 *     char *path = kube_deployments_path(ns);            // .../apps/v1/namespaces/NS/deployments
 *     r = kube_watch_new(kube, path, name, on_event, canary, &canary->watch); // name NULL: all
 *     ...
 *     static void on_event(const struct kube_watch_event *ev, void *userdata) {
 *             switch (ev->type) {
 *             case KUBE_WATCH_LISTED: case KUBE_WATCH_ADDED: case KUBE_WATCH_MODIFIED:
 *                     deployment_inspect(ev->object, ev->object_len, ...); ...
 *             case KUBE_WATCH_DELETED: ...   // the object as last seen
 *             case KUBE_WATCH_SYNCED: ...    // a (re-)LIST is complete
 *             case KUBE_WATCH_FAILED: ...    // log ev->message once; the watch retries by itself
 *             }
 *     }
 *     canary->watch = kube_watch_free(canary->watch);  // before kube_client_free
 *
 * Events may repeat an object already seen (after a re-LIST every object comes again as
 * LISTED), so a consumer compares with what it knows rather than counting events. The watch
 * never blocks; RBAC needs `list` and `watch` besides `get`. */
enum kube_watch_type {
        KUBE_WATCH_ADDED,
        KUBE_WATCH_MODIFIED,
        KUBE_WATCH_DELETED,
        KUBE_WATCH_LISTED, /* an object of a (re-)LIST: its current state */
        KUBE_WATCH_SYNCED, /* the (re-)LIST is complete (no object): unlisted objects are gone */
        KUBE_WATCH_FAILED, /* a LIST or the stream failed (message); the watch retries itself */
};
struct kube_watch_event {
        enum kube_watch_type type;
        const char *object; /* borrowed JSON of the object; NULL for SYNCED and FAILED */
        size_t object_len;
        const char *namespace_, *name, *resource_version; /* borrowed; "" when absent */
        int error;           /* FAILED: negative errno (-EACCES, -EAGAIN, -ECONNREFUSED, ...) */
        const char *message; /* FAILED: why, never a credential; NULL otherwise */
};
/* Runs from the event loop. May free the watch (kube_watch_free) but not the kube client. */
typedef void kube_watch_fn(const struct kube_watch_event *ev, void *userdata);

struct kube_watch;
/* Starts a watch of collection_path ("/apis/<group>/<version>/namespaces/<ns>/<resource>", no
 * query), narrowed to the one object called name (fieldSelector=metadata.name=NAME; copied),
 * or of every object when name is NULL. The first LIST is sent at once. k must outlive the
 * watch. Returns 0, or -EINVAL. */
int kube_watch_new(struct kube_client *k, const char *collection_path, const char *name,
                   kube_watch_fn *on_event, void *userdata, struct kube_watch **ret);
/* Stops it (no callback runs afterwards). NULL-safe; returns NULL. */
struct kube_watch *kube_watch_free(struct kube_watch *w);
/* The last resourceVersion seen ("" before the first LIST), for tests and status. */
const char *kube_watch_resource_version(const struct kube_watch *w);
/* Collections: ".../networking.istio.io/v1/namespaces/<ns>/virtualservices" and
 * "/apis/apps/v1/namespaces/<ns>/deployments"; NULL for an invalid namespace. Caller owns. */
char *kube_virtual_services_path(const char *namespace_);
char *kube_deployments_path(const char *namespace_);

/* "/apis/networking.istio.io/v1/namespaces/<ns>/virtualservices/<name>"; caller owns it.
 * NULL when namespace_ is not a DNS-1123 label or name not a DNS-1123 subdomain. */
char *kube_virtual_service_path(const char *namespace_, const char *name);
/* "/apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]" (name may be NULL). */
char *kube_lease_path(const char *namespace_, const char *name);
