/* Kubernetes API client (WIRE.md §2): credentials from a kubeconfig or the in-cluster service
 * account, GET and PUT of JSON objects over http.c, and errors decoded from Status bodies.
 * The bearer token is re-read from its file on every request (projected tokens rotate) and never
 * appears in a message. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/util.h"

#define SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_CONFIG_SIZE    (4u * 1024 * 1024)
#define MAX_TOKEN_SIZE     (64u * 1024)

struct kube_client {
        struct http_client *http;
        struct kube_credentials creds;
        long timeout_ms;
        char *base;      /* server without a trailing slash */
        bool send_token; /* https, or plain http to a loopback address */
};

/* What a request keeps until its completion; nothing points back at the client. */
struct kube_call {
        kube_done_fn *done;
        void *userdata;
};

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

int kube_client_new(struct http_client *http, const char *kubeconfig_path, const char *context,
                    long timeout_ms, struct kube_client **ret, char **ret_error)
{
        if (!http || !ret || !ret_error)
                return -EINVAL;
        struct kube_client *k = xcalloc(1, sizeof(*k));
        k->http = http;
        k->timeout_ms = timeout_ms;

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

struct kube_client *kube_client_free(struct kube_client *k)
{
        if (!k)
                return NULL;
        kube_credentials_done(&k->creds);
        free(k->base);
        free(k);
        return NULL;
}

const char *kube_client_namespace(const struct kube_client *k)
{
        return k ? k->creds.namespace_ : NULL;
}

static void on_http_done(int error, const struct http_response *resp, const char *errmsg,
                         void *userdata)
{
        struct kube_call *call = userdata;
        struct kube_status st = {0};
        struct kube_result res = {.error = error, .message = errmsg, .reason = ""};
        char generic[64];

        if (error == 0) {
                res.status = resp->status;
                res.body = resp->body;
                res.body_len = resp->body_len;
                res.error = kube_errno_from_status(resp->status);
                if (kube_status_parse(resp->body, resp->body_len, &st) >= 0) {
                        if (st.reason)
                                res.reason = st.reason;
                        res.message = st.message;
                }
                if (res.error != 0 && !res.message) {
                        snprintf(generic, sizeof(generic), "HTTP status %ld", resp->status);
                        res.message = generic;
                }
        }
        call->done(&res, call->userdata);
        kube_status_done(&st);
        free(call);
}

static int kube_request(struct kube_client *k, const char *method, const char *path,
                        const char *json, kube_done_fn *done, void *userdata)
{
        if (!k || !path || path[0] != '/' || !done)
                return -EINVAL;

        char *token = NULL;
        if (k->send_token && k->creds.token_file) {
                char *raw = NULL;
                int r = read_file(k->creds.token_file, MAX_TOKEN_SIZE, &raw, NULL);
                if (r < 0)
                        return r;
                token = trim_copy(raw);
                explicit_bzero(raw, strlen(raw));
                free(raw);
        } else if (k->send_token && k->creds.token) {
                token = xstrdup(k->creds.token);
        }
        if (token && strpbrk(token, "\r\n")) {
                explicit_bzero(token, strlen(token));
                free(token);
                return -EINVAL;
        }

        char *auth = token && *token ? xasprintf("Authorization: Bearer %s", token) : NULL;
        const char *headers[] = {"Accept: application/json", "User-Agent: canaryd/" CANARYD_VERSION,
                                 json ? "Content-Type: application/json" : auth, json ? auth : NULL,
                                 NULL};
        char *url = xasprintf("%s%s", k->base, path);
        struct http_request_opts o = {
            .method = method,
            .url = url,
            .headers = headers,
            .body = json,
            .body_len = json ? strlen(json) : 0,
            .timeout_ms = k->timeout_ms,
            .ca_file = k->creds.ca_file,
            .ca_pem = k->creds.ca_pem,
            .client_cert_file = k->creds.client_cert_file,
            .client_key_file = k->creds.client_key_file,
            .client_cert_pem = k->creds.client_cert_pem,
            .client_key_pem = k->creds.client_key_pem,
            .insecure_skip_verify = k->creds.insecure_skip_verify,
        };
        struct kube_call *call = xmalloc(sizeof(*call));
        *call = (struct kube_call){.done = done, .userdata = userdata};

        int r = http_submit(k->http, &o, on_http_done, call);
        if (r < 0)
                free(call);
        free(url);
        if (auth) {
                explicit_bzero(auth, strlen(auth));
                free(auth);
        }
        if (token) {
                explicit_bzero(token, strlen(token));
                free(token);
        }
        return r;
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

/* RFC 1123 label: 1-63 of [a-z0-9-], starting and ending with an alphanumeric. */
static bool dns_label_valid(const char *s, size_t n)
{
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* RFC 1123 subdomain: labels joined by dots, at most 253 characters. */
static bool dns_subdomain_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        for (const char *p = s;;) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                if (!dns_label_valid(p, len))
                        return false;
                if (!dot)
                        return true;
                p = dot + 1;
        }
}

char *kube_virtual_service_path(const char *namespace_, const char *name)
{
        if (!namespace_ || !name || !dns_label_valid(namespace_, strlen(namespace_)) ||
            !dns_subdomain_valid(name))
                return NULL;
        return xasprintf("/apis/networking.istio.io/v1/namespaces/%s/virtualservices/%s",
                         namespace_, name);
}
