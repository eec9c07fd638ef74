/* Kubernetes, the codec (src/codec/kubeconfig.c, src/codec/kube-status.c, pure): kubeconfig and
 * ExecCredential documents, Status bodies, discovery. The client is canaryd/kube.h. WIRE.md §2. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/util.h"

/* users[].user.exec of a kubeconfig (WIRE.md §2.7). Every member is owned. */
struct kube_exec_config {
        char *api_version;  /* client.authentication.k8s.io/v1 or .../v1beta1 */
        char *command;      /* resolved against the kubeconfig's directory when it has a '/' */
        char **args;        /* NULL-terminated (possibly empty) */
        char **env;         /* NULL-terminated "NAME=value" strings, added to our environment */
        char *install_hint; /* or NULL; shown when the command cannot be run */
        bool provide_cluster_info;
        char *cluster_config_json; /* the cluster's client.authentication.k8s.io/exec extension */
};

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
        struct kube_exec_config *exec; /* owned; NULL: no exec plugin */
};
/* Frees every member (NULL-safe) and zeroes the struct. */
void kube_credentials_done(struct kube_credentials *c);

/* Parses kubeconfig YAML text. dir resolves relative paths. context NULL = current-context.
 * Returns 0 or -EINVAL/-EOPNOTSUPP with *ret_error (owned), which names the missing context,
 * cluster or user and never contains a credential. auth-provider users, basic auth and exec
 * plugins with interactiveMode Always (a daemon has no terminal) are refused (-EOPNOTSUPP). */
int kubeconfig_parse(const char *text, size_t len, const char *dir, const char *context,
                     struct kube_credentials *ret, char **ret_error);

/* What an exec credential plugin printed (ExecCredential.status). Strings are owned secrets. */
struct kube_exec_credential {
        char *token;                            /* or NULL */
        char *client_cert_pem, *client_key_pem; /* both or neither (PEM text, not base64) */
        usec_t expires_usec;                    /* 0: no expirationTimestamp */
};
void kube_exec_credential_done(struct kube_exec_credential *c);
/* Parses an ExecCredential (src/codec/kubeconfig.c, pure). Its apiVersion must equal
 * api_version; status must hold a token or a certificate and key pair; expirationTimestamp is
 * RFC 3339 with any offset. Returns 0, or -EBADMSG with *ret_error (owned, never a secret). */
int kube_exec_credential_parse(const char *json, size_t len, const char *api_version,
                               struct kube_exec_credential *ret, char **ret_error);
/* The KUBERNETES_EXEC_INFO document for a plugin: {"apiVersion":…,"kind":"ExecCredential",
 * "spec":{"interactive":false[,"cluster":{…}]}}. ca_pem (may be NULL) is sent base64-encoded
 * when provide_cluster_info is set. Caller owns the result. */
char *kube_exec_info_json(const struct kube_exec_config *e, const char *server, const char *ca_pem,
                          bool insecure_skip_verify);

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

/* The newest of v1, v1beta1, v1alpha3 that an APIGroup discovery document
 * (GET /apis/networking.istio.io) lists, as a static string; NULL when none or unparsable. */
const char *kube_vs_version_from_discovery(const char *json, size_t len);
