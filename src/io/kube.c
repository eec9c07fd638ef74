/* Kubernetes API client (WIRE.md §2): credentials from a kubeconfig or the in-cluster service
 * account, GET, PUT and POST of JSON objects over http.c, and errors decoded from Status bodies.
 *
 * Credentials: a bearer token (inline, or re-read from its file on every request because
 * projected tokens rotate), client certificates, or an exec credential plugin whose output is
 * cached until its expirationTimestamp and dropped on a 401 (the request is then retried once
 * with a fresh credential). No credential ever appears in a message.
 *
 * A request can wait before it is sent: for the exec plugin to run, or for the discovery of the
 * VirtualService API version. Waiting requests are kept in one queue and re-dispatched when what
 * they wait for arrives. The client is reference-counted: every request in flight holds a
 * reference, so kube_client_free() never leaves a dangling pointer behind.
 *
 * At most KUBE_MAX_ACTIVE requests (watches aside) are with the HTTP client at once; the rest
 * wait in a FIFO holding only their path and body. A request handed to curl holds an easy
 * handle with its buffers (some 20 KB): 10,000 canaries writing at once into a slow API server
 * would otherwise hold hundreds of megabytes, and an API server limits requests in flight
 * anyway. Lease requests (HA) go ahead of the FIFO: a renewal that waited behind a backlog of
 * writes would let the lease lapse and hand the shard away. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/clock.h"
#include "canaryd/exec-credential.h"
#include "canaryd/files.h"
#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/names.h"
#include "canaryd/util.h"

#define SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_CONFIG_SIZE    (4u * 1024 * 1024)
#define MAX_TOKEN_SIZE     (64u * 1024)
#define VS_PREFIX          "/apis/networking.istio.io/v1/"
#define VS_GROUP_PATH      "/apis/networking.istio.io"
#define LEASE_PREFIX       "/apis/coordination.k8s.io/"

enum wait_reason { WAIT_NONE, WAIT_CREDENTIAL, WAIT_VERSION };

struct kube_call;

struct kube_client {
        unsigned n_ref;
        bool dead; /* kube_client_free() was called; only in-flight requests remain */
        sd_event *event;
        struct http_client *http;
        struct kube_credentials creds;
        long timeout_ms;
        char *base;      /* server without a trailing slash */
        bool send_token; /* https, or plain http to a loopback address */
        bool in_cluster;

        /* exec credential plugin */
        struct kube_exec_credential cred;
        bool have_cred;
        unsigned cred_generation; /* bumps whenever the cached credential changes */
        unsigned expired_runs;    /* plugin answers in a row already expired on arrival */
        struct exec_run *exec_run;

        /* VirtualService API version */
        const char *vs_version; /* static string; NULL until discovered */
        bool discovering;

        struct kube_call *waiting;  /* requests waiting for the above, in order */
        struct kube_call *flushing; /* released by wait_flush, not yet dispatched or failed:
                                       kube_cancel and kube_client_free see them here */
        char *user_agent;           /* "User-Agent: ..." */

        unsigned n_active;                       /* requests holding a slot (with http.c) */
        struct kube_call *slot_head, *slot_tail; /* waiting for a slot, FIFO (leases first) */
        struct kube_call *slot_last_lease;       /* the last Lease request in it, or NULL */
        struct kube_tally *tally;                /* borrowed; NULL: answers not counted */
};

struct kube_call {
        struct kube_client *k; /* a reference */
        char *method, *path, *json;
        kube_done_fn *done;
        void *userdata;
        bool retried;  /* after a 401 with an exec credential */
        bool has_slot; /* counted in k->n_active until its done callback */
        unsigned cred_generation;
        enum wait_reason waiting_for;
        struct kube_call *next;
        /* streaming GET (kube_get_stream, watches) */
        kube_data_fn *on_data;
        long idle_timeout_ms;
        struct http_request *http_req; /* while sent, for kube_cancel */
};

static struct kube_client *client_ref(struct kube_client *k)
{
        k->n_ref++;
        return k;
}

static void client_unref(struct kube_client *k)
{
        if (!k || --k->n_ref > 0)
                return;
        kube_credentials_done(&k->creds);
        kube_exec_credential_done(&k->cred);
        free(k->base);
        free(k->user_agent);
        free(k);
}

static void call_free(struct kube_call *c)
{
        if (!c)
                return;
        if (c->has_slot)
                c->k->n_active--;
        client_unref(c->k);
        free(c->method);
        free(c->path);
        free(c->json);
        free(c);
}

static int client_from_kubeconfig(struct kube_client *k, const char *path, const char *context,
                                  char **ret_error)
{
        char *text = NULL;
        size_t len;
        int r = read_file(path, MAX_CONFIG_SIZE, &text, &len);
        if (r < 0) {
                *ret_error = xasprintf("kubeconfig %s: %s", path, strerror(-r));
                return r;
        }
        char *copy = xstrdup(path);
        char *error = NULL;
        r = kubeconfig_parse(text, len, dirname(copy), context, &k->creds, &error);
        free(copy);
        explicit_bzero(text, len);
        free(text);
        if (r < 0) {
                *ret_error = xasprintf("kubeconfig %s: %s", path, error ? error : strerror(-r));
                free(error);
        }
        return r;
}

static char *trim_copy(const char *s)
{
        size_t n = strlen(s);
        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                n--;
        while (n > 0 && strchr(" \t\r\n", *s)) {
                s++;
                n--;
        }
        return xstrndup(s, n);
}

static int client_in_cluster(struct kube_client *k, char **ret_error)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        const char *dir = getenv("CANARYD_SERVICEACCOUNT_DIR");

        if (!host || !*host || !port || !*port) {
                *ret_error = xstrdup("no kubeconfig configured and not running in a cluster "
                                     "(KUBERNETES_SERVICE_HOST/PORT are not set)");
                return -ENXIO;
        }
        if (!dir || !*dir)
                dir = SERVICEACCOUNT_DIR;
        /* IPv6 literals are bracketed, as net.JoinHostPort does. */
        bool v6 = strchr(host, ':') && host[0] != '[';
        k->creds.server = xasprintf("https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
        k->creds.token_file = xasprintf("%s/token", dir);
        k->creds.ca_file = xasprintf("%s/ca.crt", dir);
        k->in_cluster = true;

        char *ns_path = xasprintf("%s/namespace", dir), *ns = NULL;
        if (read_file(ns_path, 256, &ns, NULL) >= 0) {
                k->creds.namespace_ = trim_copy(ns);
                free(ns);
        }
        free(ns_path);
        return 0;
}

static bool host_is_loopback(const char *url)
{
        const char *h = strstr(url, "://");
        h = h ? h + 3 : url;
        static const char *const loopback[] = {"127.", "localhost:", "localhost/", "[::1]"};
        for (size_t i = 0; i < ELEMENTSOF(loopback); i++)
                if (strncmp(h, loopback[i], strlen(loopback[i])) == 0)
                        return true;
        return strcmp(h, "localhost") == 0;
}

int kube_client_new(sd_event *event, struct http_client *http, const char *kubeconfig_path,
                    const char *context, long timeout_ms, struct kube_client **ret,
                    char **ret_error)
{
        if (!event || !http || !ret || !ret_error)
                return -EINVAL;
        struct kube_client *k = xcalloc(1, sizeof(*k));
        k->n_ref = 1;
        k->event = event;
        k->http = http;
        k->timeout_ms = timeout_ms;
        k->vs_version = "v1";
        k->user_agent = xstrdup("User-Agent: canaryd/" CANARYD_VERSION);

        int r = kubeconfig_path ? client_from_kubeconfig(k, kubeconfig_path, context, ret_error)
                                : client_in_cluster(k, ret_error);
        if (r < 0) {
                kube_client_free(k);
                return r;
        }
        /* Fail early on an unreadable token file rather than on the first request. */
        if (k->creds.token_file) {
                char *t = NULL;
                r = read_file(k->creds.token_file, MAX_TOKEN_SIZE, &t, NULL);
                if (t)
                        explicit_bzero(t, strlen(t));
                free(t);
                if (r < 0) {
                        *ret_error =
                            xasprintf("token file %s: %s", k->creds.token_file, strerror(-r));
                        kube_client_free(k);
                        return r;
                }
        }
        size_t n = strlen(k->creds.server);
        while (n > 0 && k->creds.server[n - 1] == '/')
                n--;
        k->base = xstrndup(k->creds.server, n);
        k->send_token = strncmp(k->base, "https://", 8) == 0 || host_is_loopback(k->base);
        *ret = k;
        return 0;
}

/* Frees a list of calls never handed to the HTTP client; *list becomes empty. */
static void calls_free(struct kube_call **list)
{
        struct kube_call *c = *list;

        *list = NULL;
        while (c) {
                struct kube_call *next = c->next;
                call_free(c);
                c = next;
        }
}

struct kube_client *kube_client_free(struct kube_client *k)
{
        if (!k)
                return NULL;
        k->dead = true;
        k->exec_run = exec_run_cancel(k->exec_run);
        calls_free(&k->waiting);
        calls_free(&k->flushing);
        k->slot_tail = k->slot_last_lease = NULL;
        calls_free(&k->slot_head);
        client_unref(k);
        return NULL;
}

const char *kube_client_namespace(const struct kube_client *k)
{
        return k ? k->creds.namespace_ : NULL;
}

bool kube_client_insecure(const struct kube_client *k)
{
        return k && k->creds.insecure_skip_verify;
}

const char *kube_client_auth_kind(const struct kube_client *k)
{
        if (!k)
                return "none";
        if (k->creds.exec)
                return "exec plugin";
        if (k->creds.client_cert_file || k->creds.client_cert_pem)
                return k->creds.token || k->creds.token_file ? "client certificate and token"
                                                             : "client certificate";
        if (k->in_cluster)
                return "in-cluster service account";
        if (k->creds.token_file)
                return "token file";
        if (k->creds.token)
                return "token";
        return "none";
}

void kube_client_set_identity(struct kube_client *k, const char *identity)
{
        if (!k || !identity || strpbrk(identity, "\r\n"))
                return;
        free(k->user_agent);
        k->user_agent = xasprintf("User-Agent: canaryd/" CANARYD_VERSION " (%s)", identity);
}

int kube_client_set_vs_version(struct kube_client *k, const char *version)
{
        static const char *const known[] = {"v1", "v1beta1", "v1alpha3"};
        if (!k)
                return -EINVAL;
        if (!version) {
                k->vs_version = NULL;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strcmp(version, known[i]) == 0) {
                        k->vs_version = known[i];
                        return 0;
                }
        return -EINVAL;
}

const char *kube_client_vs_version(const struct kube_client *k)
{
        return k ? k->vs_version : NULL;
}

sd_event *kube_client_event(const struct kube_client *k)
{
        return k ? k->event : NULL;
}

/* ---- requests ------------------------------------------------------------------------------ */

static int call_dispatch(struct kube_call *c);

static void call_fail(struct kube_call *c, int error, const char *message)
{
        struct kube_result res = {.error = error, .message = message, .reason = ""};
        c->done(&res, c->userdata);
        call_free(c);
}

static void wait_enqueue(struct kube_client *k, struct kube_call *c, enum wait_reason why)
{
        c->waiting_for = why;
        c->next = NULL;
        struct kube_call **p = &k->waiting;
        while (*p)
                p = &(*p)->next;
        *p = c;
}

static bool is_lease(const struct kube_call *c)
{
        return strncmp(c->path, LEASE_PREFIX, strlen(LEASE_PREFIX)) == 0;
}

static void slot_enqueue(struct kube_client *k, struct kube_call *c)
{
        struct kube_call **at = k->slot_tail ? &k->slot_tail->next : &k->slot_head;

        c->next = NULL;
        if (is_lease(c)) {
                at = k->slot_last_lease ? &k->slot_last_lease->next : &k->slot_head;
                c->next = *at;
        }
        *at = c;
        if (!c->next)
                k->slot_tail = c;
        if (is_lease(c))
                k->slot_last_lease = c;
}

/* Sends waiting calls while slots are free. A call that cannot be sent fails through its
 * callback, which may free the client: the loop holds its own reference. */
static void slot_pump(struct kube_client *k)
{
        client_ref(k);
        while (!k->dead && k->n_active < KUBE_MAX_ACTIVE && k->slot_head) {
                struct kube_call *c = k->slot_head;
                k->slot_head = c->next;
                if (!k->slot_head)
                        k->slot_tail = NULL;
                if (k->slot_last_lease == c)
                        k->slot_last_lease = NULL;
                c->next = NULL;
                int r = call_dispatch(c);
                if (r < 0)
                        call_fail(c, r, strerror(-r));
        }
        client_unref(k);
}

/* Re-dispatches every call that waited for `why`; with error < 0 they fail instead. The calls
 * wait on k->flushing and are taken one at a time, so that a callback that cancels a later one
 * (kube_cancel) or frees the client (kube_client_free) takes it off that list instead of
 * leaving it to be dispatched after it was freed. */
static void wait_flush(struct kube_client *k, enum wait_reason why, int error, const char *msg)
{
        struct kube_call *list = k->waiting, **keep = &k->waiting, **tail;

        client_ref(k); /* a callback may free the client */
        k->waiting = NULL;
        /* take the matching calls out first: dispatching may queue them again */
        tail = &k->flushing;
        while (*tail)
                tail = &(*tail)->next;
        while (list) {
                struct kube_call *next = list->next;
                list->next = NULL;
                if (list->waiting_for == why) {
                        *tail = list;
                        tail = &list->next;
                } else {
                        *keep = list;
                        keep = &list->next;
                }
                list = next;
        }
        while (k->flushing) {
                struct kube_call *c = k->flushing;
                k->flushing = c->next;
                c->next = NULL;
                c->waiting_for = WAIT_NONE;
                if (error < 0) {
                        call_fail(c, error, msg);
                } else {
                        int r = call_dispatch(c);
                        if (r < 0)
                                call_fail(c, r, strerror(-r));
                }
        }
        client_unref(k);
}

#define EXEC_EXPIRED_RUNS_MAX 3

static void on_exec_done(int error, struct kube_exec_credential *cred, const char *errmsg,
                         void *userdata)
{
        struct kube_client *k = userdata;
        k->exec_run = NULL;
        if (error < 0) {
                const char *hint = k->creds.exec->install_hint;
                char *msg = error == -ENOENT && hint
                                ? xasprintf("%s (%s)", errmsg ? errmsg : "", hint)
                                : xstrdup(errmsg ? errmsg : strerror(-error));
                wait_flush(k, WAIT_CREDENTIAL, -ENOKEY, msg);
                free(msg);
                return;
        }
        if (cred->expires_usec != 0 && cred->expires_usec <= now_realtime_usec() &&
            ++k->expired_runs >= EXEC_EXPIRED_RUNS_MAX) {
                /* Each waiting call would run the plugin again at once, for ever: after a few
                 * expired answers in a row fail the calls waiting now; the next call tries the
                 * plugin afresh. (Fewer: the calls re-run it, e.g. across a second boundary.) */
                k->expired_runs = 0;
                kube_exec_credential_done(cred);
                wait_flush(k, WAIT_CREDENTIAL, -ENOKEY,
                           "exec plugin returned a credential whose expirationTimestamp has "
                           "passed, 3 times in a row (is the clock right?)");
                return;
        }
        if (cred->expires_usec == 0 || cred->expires_usec > now_realtime_usec())
                k->expired_runs = 0;
        kube_exec_credential_done(&k->cred);
        k->cred = *cred;
        *cred = (struct kube_exec_credential){0};
        k->have_cred = true;
        k->cred_generation++;
        wait_flush(k, WAIT_CREDENTIAL, 0, NULL);
}

static bool credential_fresh(const struct kube_client *k)
{
        return k->have_cred &&
               (k->cred.expires_usec == 0 || now_realtime_usec() < k->cred.expires_usec);
}

static int exec_start(struct kube_client *k)
{
        if (k->exec_run)
                return 0;
        char *ca = NULL;
        const char *ca_pem = k->creds.ca_pem;
        if (!ca_pem && k->creds.ca_file && k->creds.exec->provide_cluster_info &&
            read_file(k->creds.ca_file, MAX_CONFIG_SIZE, &ca, NULL) >= 0)
                ca_pem = ca;
        char *info = kube_exec_info_json(k->creds.exec, k->creds.server, ca_pem,
                                         k->creds.insecure_skip_verify);
        free(ca);
        int r = exec_run_start(k->event, k->creds.exec, info, 0, on_exec_done, k, &k->exec_run);
        free(info);
        return r;
}

static void on_discovery(const struct kube_result *res, void *userdata)
{
        struct kube_client *k = userdata;
        k->discovering = false;
        if (k->dead) {
                client_unref(k);
                return;
        }
        char *msg = NULL;
        if (res->error == 0) {
                k->vs_version = kube_vs_version_from_discovery(res->body, res->body_len);
                if (!k->vs_version)
                        msg = xstrdup("discovery: networking.istio.io serves none of v1, v1beta1, "
                                      "v1alpha3");
        } else if (res->status == 404) {
                msg = xstrdup("discovery: the API group networking.istio.io is not served (is "
                              "Istio installed?)");
        } else {
                msg = xasprintf("discovery of networking.istio.io: %s",
                                res->message ? res->message : strerror(-res->error));
        }
        wait_flush(k, WAIT_VERSION, msg ? -ENXIO : 0, msg);
        free(msg);
        client_unref(k);
}

static void on_http_data(const char *data, size_t len, void *userdata)
{
        struct kube_call *call = userdata;
        call->on_data(data, len, call->userdata);
}

/* The verb as the API server's audit log would name it. */
static enum kube_verb call_verb(const struct kube_call *c)
{
        const char *ns = strstr(c->path, "/namespaces/");
        size_t segments = 0;

        if (strcmp(c->method, "PUT") == 0)
                return KUBE_VERB_UPDATE;
        if (strcmp(c->method, "PATCH") == 0)
                return KUBE_VERB_PATCH;
        if (strcmp(c->method, "POST") == 0)
                return KUBE_VERB_CREATE;
        if (strcmp(c->method, "DELETE") == 0)
                return KUBE_VERB_DELETE;
        if (c->on_data)
                return KUBE_VERB_WATCH;
        if (!ns)
                return KUBE_VERB_GET; /* discovery */
        /* namespaces/NS/RESOURCE is a collection; namespaces/NS/RESOURCE/NAME an object */
        for (const char *p = ns + strlen("/namespaces/"); *p && *p != '?'; p++)
                segments += *p == '/';
        return segments >= 2 ? KUBE_VERB_GET : KUBE_VERB_LIST;
}

const char *kube_verb_to_string(enum kube_verb v)
{
        static const char *const names[_KUBE_VERB_MAX] = {
            [KUBE_VERB_GET] = "get",       [KUBE_VERB_LIST] = "list",
            [KUBE_VERB_WATCH] = "watch",   [KUBE_VERB_CREATE] = "create",
            [KUBE_VERB_UPDATE] = "update", [KUBE_VERB_PATCH] = "patch",
            [KUBE_VERB_DELETE] = "delete"};
        return v < _KUBE_VERB_MAX ? names[v] : "unknown";
}

void kube_client_set_tally(struct kube_client *k, struct kube_tally *tally)
{
        k->tally = tally;
}

static void on_http_done(int error, const struct http_response *resp, const char *errmsg,
                         void *userdata)
{
        struct kube_call *call = userdata;
        struct kube_client *k = call->k;
        call->http_req = NULL;
        if (k->tally)
                status_tally_add(&k->tally->verb[call_verb(call)], error == 0 ? resp->status : 0);
        struct kube_status st = {0};
        struct kube_result res = {.error = error, .message = errmsg, .reason = ""};
        char generic[64];

        if (error == 0 && resp->status == 401 && k->creds.exec && !call->retried && !k->dead) {
                /* The plugin's credential was refused: get a new one, retry once. */
                if (call->cred_generation == k->cred_generation)
                        k->have_cred = false;
                call->retried = true;
                int r = call_dispatch(call);
                if (r >= 0)
                        return;
        }
        if (error == 0) {
                res.status = resp->status;
                res.body = resp->body;
                res.body_len = resp->body_len;
                res.error = kube_errno_from_status(resp->status);
                if (kube_status_parse(resp->body, resp->body_len, &st) >= 0) {
                        if (st.reason)
                                res.reason = st.reason;
                        res.message = st.message;
                        if (resp->status == 409 && st.reason &&
                            strcmp(st.reason, "AlreadyExists") == 0)
                                res.error = -EEXIST;
                }
                if (res.error != 0 && !res.message) {
                        snprintf(generic, sizeof(generic), "HTTP status %ld", resp->status);
                        res.message = generic;
                }
        }
        client_ref(k); /* the callback may free the client */
        call->done(&res, call->userdata);
        kube_status_done(&st);
        call_free(call); /* gives its slot back */
        slot_pump(k);
        client_unref(k);
}

static int read_token(const struct kube_client *k, char **ret)
{
        *ret = NULL;
        if (!k->send_token)
                return 0;
        if (k->creds.exec && k->cred.token) {
                *ret = xstrdup(k->cred.token);
        } else if (k->creds.token_file) {
                char *raw = NULL;
                int r = read_file(k->creds.token_file, MAX_TOKEN_SIZE, &raw, NULL);
                if (r < 0)
                        return r;
                *ret = trim_copy(raw);
                free_secret(raw);
        } else if (k->creds.token) {
                *ret = xstrdup(k->creds.token);
        }
        if (*ret && strpbrk(*ret, "\r\n")) {
                free_secret(*ret);
                *ret = NULL;
                return -EINVAL;
        }
        return 0;
}

/* Sends the call now, or queues it until its credential or API version is known. */
static int call_dispatch(struct kube_call *c)
{
        struct kube_client *k = c->k;
        if (k->dead)
                return -ECANCELED;

        bool vs = strncmp(c->path, VS_PREFIX, strlen(VS_PREFIX)) == 0;
        if (vs && !k->vs_version) {
                wait_enqueue(k, c, WAIT_VERSION);
                if (!k->discovering) {
                        k->discovering = true;
                        client_ref(k);
                        int r = kube_get(k, VS_GROUP_PATH, on_discovery, k);
                        if (r < 0) {
                                k->discovering = false;
                                client_unref(k);
                                /* unqueue ourselves again: the caller reports the error */
                                struct kube_call **p = &k->waiting;
                                while (*p && *p != c)
                                        p = &(*p)->next;
                                if (*p)
                                        *p = c->next;
                                return r;
                        }
                }
                return 0;
        }
        if (k->creds.exec && !credential_fresh(k)) {
                k->have_cred = false;
                int r = exec_start(k);
                if (r < 0)
                        return r;
                wait_enqueue(k, c, WAIT_CREDENTIAL);
                return 0;
        }

        if (!c->on_data && !c->has_slot) {
                if (k->n_active >= KUBE_MAX_ACTIVE) {
                        slot_enqueue(k, c);
                        return 0;
                }
                c->has_slot = true;
                k->n_active++;
        }

        char *token = NULL;
        int r = read_token(k, &token);
        if (r < 0)
                return r;
        char *auth = token && *token ? xasprintf("Authorization: Bearer %s", token) : NULL;
        free_secret(token);
        const char *headers[] = {"Accept: application/json", k->user_agent,
                                 c->json ? "Content-Type: application/json" : auth,
                                 c->json ? auth : NULL, NULL};
        char *url = vs && strcmp(k->vs_version, "v1") != 0
                        ? xasprintf("%s/apis/networking.istio.io/%s/%s", k->base, k->vs_version,
                                    c->path + strlen(VS_PREFIX))
                        : xasprintf("%s%s", k->base, c->path);
        bool exec_cert = k->creds.exec && k->cred.client_cert_pem;
        struct http_request_opts o = {
            .method = c->method,
            .url = url,
            .headers = headers,
            .body = c->json,
            .body_len = c->json ? strlen(c->json) : 0,
            .timeout_ms = c->on_data ? 0 : k->timeout_ms,
            .on_data = c->on_data ? on_http_data : NULL,
            .idle_timeout_ms = c->idle_timeout_ms,
            .ca_file = k->creds.ca_file,
            .ca_pem = k->creds.ca_pem,
            .client_cert_file = exec_cert ? NULL : k->creds.client_cert_file,
            .client_key_file = exec_cert ? NULL : k->creds.client_key_file,
            .client_cert_pem = exec_cert ? k->cred.client_cert_pem : k->creds.client_cert_pem,
            .client_key_pem = exec_cert ? k->cred.client_key_pem : k->creds.client_key_pem,
            .insecure_skip_verify = k->creds.insecure_skip_verify,
            /* Every write carries its resourceVersion (a PUT, a DELETE's preconditions) or
             * creates a name (a POST): a copy libcurl sends again on a new connection is
             * answered 409 or 404, never applied twice, and the callers read the object back on
             * a 409 (driver.c on_put). So writes keep reusing connections: a fresh one per
             * write cost a TLS handshake per analysis and doubled the daemon's CPU at 1,000
             * canaries (bench/scale.py). */
            .idempotent = true,
        };
        c->cred_generation = k->cred_generation;
        r = http_submit_handle(k->http, &o, on_http_done, c, &c->http_req);
        free(url);
        free_secret(auth);
        return r;
}

static int kube_request(struct kube_client *k, const char *method, const char *path,
                        const char *json, kube_done_fn *done, void *userdata)
{
        if (!k || k->dead || !path || path[0] != '/' || !done)
                return -EINVAL;
        struct kube_call *c = xcalloc(1, sizeof(*c));
        *c = (struct kube_call){
            .k = client_ref(k),
            .method = xstrdup(method),
            .path = xstrdup(path),
            .json = xstrdup(json),
            .done = done,
            .userdata = userdata,
        };
        int r = call_dispatch(c);
        if (r < 0)
                call_free(c);
        return r;
}

int kube_get_stream(struct kube_client *k, const char *path, long idle_timeout_ms,
                    kube_data_fn *on_data, kube_done_fn *done, void *userdata,
                    struct kube_call **ret)
{
        if (!k || k->dead || !path || path[0] != '/' || !on_data || !done || !ret)
                return -EINVAL;
        struct kube_call *c = xcalloc(1, sizeof(*c));
        *c = (struct kube_call){
            .k = client_ref(k),
            .method = xstrdup("GET"),
            .path = xstrdup(path),
            .done = done,
            .userdata = userdata,
            .on_data = on_data,
            .idle_timeout_ms = idle_timeout_ms,
        };
        int r = call_dispatch(c);
        if (r < 0) {
                call_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void kube_cancel(struct kube_call *c)
{
        if (!c)
                return;
        struct kube_client *k = c->k;
        if (c->http_req) {
                http_cancel(k->http, c->http_req);
        } else {
                /* waiting for a credential or the API version, or released and not yet sent */
                for (int l = 0; l < 2; l++) {
                        struct kube_call **p = l ? &k->flushing : &k->waiting;
                        while (*p && *p != c)
                                p = &(*p)->next;
                        if (*p) {
                                *p = c->next;
                                break;
                        }
                }
        }
        call_free(c);
}

int kube_get(struct kube_client *k, const char *path, kube_done_fn *done, void *userdata)
{
        return kube_request(k, "GET", path, NULL, done, userdata);
}

int kube_put(struct kube_client *k, const char *path, const char *json, kube_done_fn *done,
             void *userdata)
{
        if (!json)
                return -EINVAL;
        return kube_request(k, "PUT", path, json, done, userdata);
}

int kube_post(struct kube_client *k, const char *path, const char *json, kube_done_fn *done,
              void *userdata)
{
        if (!json)
                return -EINVAL;
        return kube_request(k, "POST", path, json, done, userdata);
}

int kube_delete(struct kube_client *k, const char *path, const char *resource_version,
                kube_done_fn *done, void *userdata)
{
        if (!resource_version || !*resource_version ||
            strspn(resource_version,
                   "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "-_.") != strlen(resource_version))
                return -EINVAL; /* opaque to us, yet put in JSON: nothing that needs escaping */
        char *json = xasprintf("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                               "\"preconditions\":{\"resourceVersion\":\"%s\"}}",
                               resource_version);
        int r = kube_request(k, "DELETE", path, json, done, userdata);
        free(json);
        return r;
}

/* ---- paths --------------------------------------------------------------------------------- */

char *kube_virtual_service_path(const char *namespace_, const char *name)
{
        if (!dns1123_is_label(namespace_) || !dns1123_is_subdomain(name))
                return NULL;
        return xasprintf(VS_PREFIX "namespaces/%s/virtualservices/%s", namespace_, name);
}

char *kube_lease_path(const char *namespace_, const char *name)
{
        if (!dns1123_is_label(namespace_) || (name && !dns1123_is_subdomain(name)))
                return NULL;
        return name ? xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", namespace_,
                                name)
                    : xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", namespace_);
}
