/* Kubernetes API client (src/io/kube.c): kubeconfig or in-cluster credentials, GET and PUT of
 * objects by path, errors decoded from Status bodies. WIRE.md §2. */
#pragma once

#include <stddef.h>

struct http_client;

/* Parsed kubeconfig, for the chosen context (src/codec/kubeconfig.c, pure). */
struct kube_credentials {
        char *server;     /* "https://host:port" */
        char *ca_file;    /* path, resolved against the kubeconfig's directory */
        char *ca_pem;     /* decoded certificate-authority-data */
        char *token;      /* secret */
        char *token_file; /* re-read on every request (rotating tokens) */
        char *client_cert_file, *client_key_file;
        char *client_cert_pem, *client_key_pem; /* decoded client-*-data (the key is secret) */
        char *namespace_;                       /* context namespace, or NULL */
        int insecure_skip_verify;
};
/* Frees every member (NULL-safe) and zeroes the struct. */
void kube_credentials_done(struct kube_credentials *c);

/* Parses kubeconfig YAML text. dir resolves relative paths. context NULL = current-context.
 * Returns 0 or -EINVAL/-EOPNOTSUPP with *ret_error (owned), which names the missing context,
 * cluster or user and never contains a credential. exec and auth-provider users are refused
 * (-EOPNOTSUPP) with "exec credential plugins are not supported yet". */
int kubeconfig_parse(const char *text, size_t len, const char *dir, const char *context,
                     struct kube_credentials *ret, char **ret_error);

/* A decoded metav1.Status (src/codec/kube-status.c, pure). Strings are owned. */
struct kube_status {
        char *status;             /* "Success" / "Failure", or NULL */
        char *message;            /* or NULL */
        char *reason;             /* or NULL */
        long code;                /* 0 when absent */
        long retry_after_seconds; /* details.retryAfterSeconds, 0 when absent */
};
/* Returns 0 when body is a JSON object with "kind":"Status", else -EBADMSG. */
int kube_status_parse(const char *body, size_t len, struct kube_status *ret);
void kube_status_done(struct kube_status *s);
/* The errno of kube_result.error for an HTTP status (0 for 2xx). */
int kube_errno_from_status(long status);

struct kube_result {
        /* 0 for 2xx. Else: -ESTALE 409 Conflict, -ENOENT 404, -EACCES 401/403, -EINVAL 400/422,
         * -EAGAIN 429/5xx, or a transport errno from http.h. */
        int error;
        long status;
        const char *body; /* borrowed: the response body (object JSON or Status) */
        size_t body_len;
        const char *message; /* borrowed: Status.message or transport error text */
        const char *reason;  /* borrowed: Status.reason, or "" */
};

typedef void kube_done_fn(const struct kube_result *res, void *userdata);

struct kube_client;
/* kubeconfig_path NULL: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service account in
 * /var/run/secrets/kubernetes.io/serviceaccount, or $CANARYD_SERVICEACCOUNT_DIR for tests).
 * timeout_ms 0 = http default. http is borrowed and must outlive the client.
 * Returns 0, or a negative errno with *ret_error (owned) describing the problem. */
int kube_client_new(struct http_client *http, const char *kubeconfig_path, const char *context,
                    long timeout_ms, struct kube_client **ret, char **ret_error);
/* NULL-safe; returns NULL. Requests in flight still complete (their callbacks do not use k). */
struct kube_client *kube_client_free(struct kube_client *k);
/* The namespace of the kubeconfig context or the service account; NULL when unknown. */
const char *kube_client_namespace(const struct kube_client *k);

/* path is absolute ("/apis/..."); json is copied. Returns 0 (done runs once, later, from the
 * loop) or a negative errno (done never runs). The token never appears in any message. */
int kube_get(struct kube_client *k, const char *path, kube_done_fn *done, void *userdata);
int kube_put(struct kube_client *k, const char *path, const char *json, kube_done_fn *done,
             void *userdata);

/* "/apis/networking.istio.io/v1/namespaces/<ns>/virtualservices/<name>"; caller owns it.
 * NULL when namespace_ is not a DNS-1123 label or name not a DNS-1123 subdomain. */
char *kube_virtual_service_path(const char *namespace_, const char *name);
