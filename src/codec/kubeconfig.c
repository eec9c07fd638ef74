/* kubeconfig parser (WIRE.md §2.7): picks a context and returns the server, TLS material and
 * credentials it names, including exec credential plugin settings; also the ExecCredential
 * output of such a plugin and its KUBERNETES_EXEC_INFO input. Pure: parses buffers with libyaml
 * and cJSON, reads no files (paths are resolved, not opened). auth-provider users are refused
 * with a clear message. Error texts name contexts, clusters, users and fields, never a
 * credential value. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "canaryd/kube-json.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void exec_config_free(struct kube_exec_config *e)
{
        if (!e)
                return;
        free(e->api_version);
        free(e->command);
        strv_free(e->args);
        /* env values may carry secrets (some plugins take keys this way) */
        for (char **p = e->env; p && *p; p++)
                explicit_bzero(*p, strlen(*p));
        strv_free(e->env);
        free(e->install_hint);
        free(e->cluster_config_json);
        free(e);
}

void kube_credentials_done(struct kube_credentials *c)
{
        if (!c)
                return;
        exec_config_free(c->exec);
        free(c->server);
        free(c->ca_file);
        free(c->ca_pem);
        free_secret(c->token);
        free(c->token_file);
        free(c->client_cert_file);
        free(c->client_key_file);
        free(c->client_cert_pem);
        free_secret(c->client_key_pem);
        free(c->namespace_);
        *c = (struct kube_credentials){0};
}

/* ---- yaml document helpers ----------------------------------------------------------------- */

static const char *scalar(yaml_node_t *n)
{
        if (!n || n->type != YAML_SCALAR_NODE)
                return NULL;
        return (const char *)n->data.scalar.value;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
        if (!map || map->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                const char *k = scalar(yaml_document_get_node(doc, p->key));
                if (k && strcmp(k, key) == 0)
                        return yaml_document_get_node(doc, p->value);
        }
        return NULL;
}

static const char *map_str(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
        const char *s = scalar(map_get(doc, map, key));
        return s && *s ? s : NULL;
}

/* In a list like clusters[], the `field` mapping of the entry whose name is `name`. */
static yaml_node_t *named_entry(yaml_document_t *doc, yaml_node_t *root, const char *list,
                                const char *field, const char *name)
{
        yaml_node_t *seq = map_get(doc, root, list);
        if (!seq || seq->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
             i++) {
                yaml_node_t *entry = yaml_document_get_node(doc, *i);
                const char *n = map_str(doc, entry, "name");
                if (n && strcmp(n, name) == 0) {
                        yaml_node_t *v = map_get(doc, entry, field);
                        /* An entry without its body counts as an empty one. */
                        return v ? v : entry;
                }
        }
        return NULL;
}

/* ---- values -------------------------------------------------------------------------------- */

/* Standard base64 with its padding, as client-go reads it (Go's StdEncoding); whitespace and
 * line breaks are skipped (OpenSSL's decoder). The result must be text (no NUL), since it is
 * PEM. Returns NULL on any error. */
static char *base64_decode_text(const char *s)
{
        size_t n = strlen(s);
        EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
        unsigned char *out = xmalloc(n + 4); /* decoding never lengthens */
        int len = 0, fin = 0;
        bool ok = ctx && n <= INT_MAX;

        if (ok) {
                EVP_DecodeInit(ctx);
                ok = EVP_DecodeUpdate(ctx, out, &len, (const unsigned char *)s, (int)n) >= 0 &&
                     EVP_DecodeFinal(ctx, out + len, &fin) >= 0;
        }
        EVP_ENCODE_CTX_free(ctx);
        len += fin;
        if (!ok || len <= 0 || memchr(out, '\0', (size_t)len)) {
                explicit_bzero(out, n + 4);
                free(out);
                return NULL;
        }
        out[len] = '\0';
        return (char *)out;
}

static char *resolve_path(const char *dir, const char *path)
{
        if (path[0] == '/' || !dir || !*dir)
                return xstrdup(path);
        size_t n = strlen(dir);
        return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", path);
}

static int parse_bool(const char *s, int *ret)
{
        if (!s || strcmp(s, "false") == 0 || strcmp(s, "False") == 0) {
                *ret = 0;
                return 0;
        }
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0) {
                *ret = 1;
                return 0;
        }
        return -EINVAL;
}

/* ---- the parser ---------------------------------------------------------------------------- */

struct parse {
        yaml_document_t *doc;
        yaml_node_t *root;
        const char *dir;
        struct kube_credentials *creds;
        char *error;
        yaml_node_t *cluster; /* the chosen cluster's body, for the exec extension */
};

static int fail(struct parse *p, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parse *p, int r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&p->error, fmt, ap) < 0)
                p->error = NULL;
        va_end(ap);
        if (!p->error)
                p->error = xstrdup("kubeconfig: error");
        return r;
}

static int decode_data(struct parse *p, yaml_node_t *map, const char *field, const char *owner,
                       const char *name, char **ret)
{
        const char *data = map_str(p->doc, map, field);
        if (!data)
                return 0;
        *ret = base64_decode_text(data);
        if (!*ret)
                return fail(p, -EINVAL, "%s \"%s\": %s is not valid base64-encoded PEM", owner,
                            name, field);
        return 0;
}

static int parse_cluster(struct parse *p, const char *cluster_name, const char *context_name)
{
        struct kube_credentials *c = p->creds;
        yaml_node_t *cl = named_entry(p->doc, p->root, "clusters", "cluster", cluster_name);
        if (!cl)
                return fail(p, -EINVAL,
                            "cluster \"%s\" (of context \"%s\") not found in kubeconfig",
                            cluster_name, context_name);

        p->cluster = cl;
        const char *server = map_str(p->doc, cl, "server");
        if (!server)
                return fail(p, -EINVAL, "cluster \"%s\" has no server", cluster_name);
        if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
                return fail(p, -EINVAL, "cluster \"%s\": server must be an http(s) URL",
                            cluster_name);
        c->server = xstrdup(server);

        const char *ca = map_str(p->doc, cl, "certificate-authority");
        if (ca)
                c->ca_file = resolve_path(p->dir, ca);
        int r =
            decode_data(p, cl, "certificate-authority-data", "cluster", cluster_name, &c->ca_pem);
        if (r < 0)
                return r;
        if (parse_bool(map_str(p->doc, cl, "insecure-skip-tls-verify"), &c->insecure_skip_verify) <
            0)
                return fail(p, -EINVAL,
                            "cluster \"%s\": insecure-skip-tls-verify must be true or false",
                            cluster_name);
        return 0;
}

/* A YAML node as JSON, the way kubectl turns an extension into KUBERNETES_EXEC_INFO: plain
 * scalars that read as booleans, null or numbers become those; everything else is a string. */
static cJSON *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, unsigned depth)
{
        if (!n || depth > 32)
                return cJSON_CreateNull();
        switch (n->type) {
        case YAML_SCALAR_NODE: {
                const char *v = (const char *)n->data.scalar.value;
                if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
                                return cJSON_CreateBool(v[0] == 't');
                        if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || !*v)
                                return cJSON_CreateNull();
                        char *end;
                        double d = strtod(v, &end);
                        if (*end == '\0' && end != v && isfinite(d) &&
                            strspn(v, "+-0123456789.eE") == strlen(v))
                                return cJSON_CreateNumber(d);
                }
                return cJSON_CreateString(v);
        }
        case YAML_SEQUENCE_NODE: {
                cJSON *a = cJSON_CreateArray();
                for (yaml_node_item_t *i = n->data.sequence.items.start;
                     i < n->data.sequence.items.top; i++)
                        cJSON_AddItemToArray(
                            a, yaml_to_json(doc, yaml_document_get_node(doc, *i), depth + 1));
                return a;
        }
        case YAML_MAPPING_NODE: {
                cJSON *o = cJSON_CreateObject();
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start;
                     q < n->data.mapping.pairs.top; q++) {
                        const char *k = scalar(yaml_document_get_node(doc, q->key));
                        if (k)
                                cJSON_AddItemToObject(
                                    o, k,
                                    yaml_to_json(doc, yaml_document_get_node(doc, q->value),
                                                 depth + 1));
                }
                return o;
        }
        default:
                return cJSON_CreateNull();
        }
}

/* clusters[].cluster.extensions[] entry "client.authentication.k8s.io/exec", as JSON. */
static char *cluster_exec_extension(struct parse *p)
{
        yaml_node_t *ext = map_get(p->doc, p->cluster, "extensions");
        if (!ext || ext->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *i = ext->data.sequence.items.start; i < ext->data.sequence.items.top;
             i++) {
                yaml_node_t *e = yaml_document_get_node(p->doc, *i);
                const char *name = map_str(p->doc, e, "name");
                if (!name || strcmp(name, "client.authentication.k8s.io/exec") != 0)
                        continue;
                cJSON *j = yaml_to_json(p->doc, map_get(p->doc, e, "extension"), 0);
                char *out = cJSON_PrintUnformatted(j);
                cJSON_Delete(j);
                char *copy = xstrdup(out);
                cJSON_free(out);
                return copy;
        }
        return NULL;
}

static char **string_list(struct parse *p, yaml_node_t *seq)
{
        size_t n = 0;
        char **v = xcalloc(1, sizeof(char *));
        if (!seq || seq->type != YAML_SEQUENCE_NODE)
                return v;
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
             i++) {
                const char *s = scalar(yaml_document_get_node(p->doc, *i));
                if (!s) {
                        strv_free(v);
                        return NULL;
                }
                v = xrealloc(v, (n + 2) * sizeof(char *));
                v[n++] = xstrdup(s);
                v[n] = NULL;
        }
        return v;
}

static int parse_exec(struct parse *p, yaml_node_t *exec, const char *user_name)
{
        struct kube_exec_config *e = xcalloc(1, sizeof(*e));
        p->creds->exec = e; /* freed with the credentials on any error */

        if (exec->type != YAML_MAPPING_NODE)
                return fail(p, -EINVAL, "user \"%s\": exec must be a mapping", user_name);
        const char *command = map_str(p->doc, exec, "command");
        const char *api = map_str(p->doc, exec, "apiVersion");
        if (!command)
                return fail(p, -EINVAL, "user \"%s\": exec.command is required", user_name);
        if (!api)
                return fail(p, -EINVAL, "user \"%s\": exec.apiVersion is required", user_name);
        if (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
            strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
                return fail(p, -EOPNOTSUPP,
                            "user \"%s\": exec.apiVersion %s is not supported (use "
                            "client.authentication.k8s.io/v1 or v1beta1)",
                            user_name, api);
        e->api_version = xstrdup(api);
        /* A bare name is looked up in $PATH; one with a slash is a path (WIRE.md §2.7). */
        e->command = strchr(command, '/') ? resolve_path(p->dir, command) : xstrdup(command);

        e->args = string_list(p, map_get(p->doc, exec, "args"));
        if (!e->args)
                return fail(p, -EINVAL, "user \"%s\": exec.args must be a list of strings",
                            user_name);
        yaml_node_t *env = map_get(p->doc, exec, "env");
        size_t n = 0;
        e->env = xcalloc(1, sizeof(char *));
        if (env && env->type != YAML_SEQUENCE_NODE)
                return fail(p, -EINVAL, "user \"%s\": exec.env must be a list", user_name);
        for (yaml_node_item_t *i = env ? env->data.sequence.items.start : NULL;
             env && i < env->data.sequence.items.top; i++) {
                yaml_node_t *item = yaml_document_get_node(p->doc, *i);
                const char *name = map_str(p->doc, item, "name");
                const char *value = scalar(map_get(p->doc, item, "value"));
                if (!name || strchr(name, '=') || !value)
                        return fail(p, -EINVAL,
                                    "user \"%s\": exec.env[%zu] needs a name (without '=') and "
                                    "a value",
                                    user_name, n);
                e->env = xrealloc(e->env, (n + 2) * sizeof(char *));
                e->env[n++] = xasprintf("%s=%s", name, value);
                e->env[n] = NULL;
        }
        e->install_hint = xstrdup(map_str(p->doc, exec, "installHint"));

        int b = 0;
        if (parse_bool(map_str(p->doc, exec, "provideClusterInfo"), &b) < 0)
                return fail(p, -EINVAL,
                            "user \"%s\": exec.provideClusterInfo must be true or false",
                            user_name);
        e->provide_cluster_info = b;
        if (b)
                e->cluster_config_json = cluster_exec_extension(p);

        const char *mode = map_str(p->doc, exec, "interactiveMode");
        bool v1 = strcmp(api, "client.authentication.k8s.io/v1") == 0;
        if (!mode && v1)
                return fail(p, -EINVAL,
                            "user \"%s\": exec.interactiveMode is required for "
                            "client.authentication.k8s.io/v1 (use Never)",
                            user_name);
        if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0 &&
            strcmp(mode, "Always") != 0)
                return fail(p, -EINVAL,
                            "user \"%s\": exec.interactiveMode must be Never, IfAvailable or "
                            "Always",
                            user_name);
        if (mode && strcmp(mode, "Always") == 0)
                return fail(p, -EOPNOTSUPP,
                            "user \"%s\": exec.interactiveMode Always needs a terminal, and "
                            "canaryd runs without one",
                            user_name);
        return 0;
}

static int parse_user(struct parse *p, const char *user_name, const char *context_name)
{
        struct kube_credentials *c = p->creds;
        yaml_node_t *u = named_entry(p->doc, p->root, "users", "user", user_name);
        if (!u)
                return fail(p, -EINVAL, "user \"%s\" (of context \"%s\") not found in kubeconfig",
                            user_name, context_name);

        yaml_node_t *exec = map_get(p->doc, u, "exec");
        if (exec) {
                int k = parse_exec(p, exec, user_name);
                if (k < 0)
                        return k;
        }
        if (map_get(p->doc, u, "auth-provider"))
                return fail(p, -EOPNOTSUPP,
                            "user \"%s\": auth-provider plugins are not supported; use a token, "
                            "tokenFile or client certificate",
                            user_name);

        const char *token = map_str(p->doc, u, "token");
        const char *token_file = map_str(p->doc, u, "tokenFile");
        c->token = xstrdup(token);
        if (token_file)
                c->token_file = resolve_path(p->dir, token_file);

        const char *cert = map_str(p->doc, u, "client-certificate");
        const char *key = map_str(p->doc, u, "client-key");
        if (cert)
                c->client_cert_file = resolve_path(p->dir, cert);
        if (key)
                c->client_key_file = resolve_path(p->dir, key);
        int r =
            decode_data(p, u, "client-certificate-data", "user", user_name, &c->client_cert_pem);
        if (r < 0)
                return r;
        r = decode_data(p, u, "client-key-data", "user", user_name, &c->client_key_pem);
        if (r < 0)
                return r;

        bool has_cert = c->client_cert_file || c->client_cert_pem;
        bool has_key = c->client_key_file || c->client_key_pem;
        if (has_cert != has_key)
                return fail(p, -EINVAL,
                            "user \"%s\": client-certificate and client-key must be "
                            "given together",
                            user_name);
        if (!c->token && !c->token_file && !has_cert && !c->exec &&
            (map_get(p->doc, u, "username") || map_get(p->doc, u, "password")))
                return fail(p, -EOPNOTSUPP,
                            "user \"%s\": basic authentication (username/password) is not "
                            "supported",
                            user_name);
        return 0;
}

static int parse_document(struct parse *p, const char *context)
{
        if (!p->root || p->root->type != YAML_MAPPING_NODE)
                return fail(p, -EINVAL, "kubeconfig is empty or not a mapping");

        const char *ctx_name =
            context && *context ? context : map_str(p->doc, p->root, "current-context");
        if (!ctx_name)
                return fail(p, -EINVAL,
                            "kubeconfig has no current-context and no context was "
                            "configured");
        yaml_node_t *ctx = named_entry(p->doc, p->root, "contexts", "context", ctx_name);
        if (!ctx)
                return fail(p, -EINVAL, "context \"%s\" not found in kubeconfig", ctx_name);

        const char *cluster = map_str(p->doc, ctx, "cluster");
        if (!cluster)
                return fail(p, -EINVAL, "context \"%s\" names no cluster", ctx_name);
        int r = parse_cluster(p, cluster, ctx_name);
        if (r < 0)
                return r;

        const char *user = map_str(p->doc, ctx, "user");
        if (user) {
                r = parse_user(p, user, ctx_name);
                if (r < 0)
                        return r;
        }
        p->creds->namespace_ = xstrdup(map_str(p->doc, ctx, "namespace"));
        return 0;
}

int kubeconfig_parse(const char *text, size_t len, const char *dir, const char *context,
                     struct kube_credentials *ret, char **ret_error)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        struct kube_credentials creds = {0};
        struct parse p = {.doc = &doc, .dir = dir, .creds = &creds};
        int r;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc)) {
                r = fail(&p, -EINVAL, "kubeconfig:%zu:%zu: %s", parser.problem_mark.line + 1,
                         parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "invalid YAML");
                yaml_parser_delete(&parser);
                *ret_error = p.error;
                return r;
        }
        p.root = yaml_document_get_root_node(&doc);
        r = parse_document(&p, context);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (r < 0) {
                kube_credentials_done(&creds);
                *ret_error = p.error;
                return r;
        }
        *ret = creds;
        return 0;
}

/* ---- ExecCredential ------------------------------------------------------------------------ */

void kube_exec_credential_done(struct kube_exec_credential *c)
{
        if (!c)
                return;
        free_secret(c->token);
        free(c->client_cert_pem);
        free_secret(c->client_key_pem);
        *c = (struct kube_exec_credential){0};
}

static char *json_fail(char **ret_error, const char *msg)
{
        if (ret_error)
                *ret_error = xstrdup(msg);
        return NULL;
}

int kube_exec_credential_parse(const char *json, size_t len, const char *api_version,
                               struct kube_exec_credential *ret, char **ret_error)
{
        struct kube_exec_credential c = {0};
        const char *err = NULL;
        const cJSON *token = NULL, *key = NULL;
        cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                json_fail(ret_error, "exec plugin output is not a JSON object");
                return -EBADMSG;
        }
        const cJSON *api = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0) {
                err = "exec plugin output is not an ExecCredential";
                goto out;
        }
        if (!cJSON_IsString(api) || !api_version || strcmp(api->valuestring, api_version) != 0) {
                if (ret_error)
                        *ret_error = xasprintf(
                            "exec plugin returned apiVersion %s, the kubeconfig asks for %s",
                            cJSON_IsString(api) ? api->valuestring : "(none)",
                            api_version ? api_version : "(none)");
                cJSON_Delete(root);
                return -EBADMSG;
        }
        if (!cJSON_IsObject(status)) {
                err = "exec plugin output has no status";
                goto out;
        }
        token = cJSON_GetObjectItemCaseSensitive(status, "token");
        key = cJSON_GetObjectItemCaseSensitive(status, "clientKeyData");
        const cJSON *cert = cJSON_GetObjectItemCaseSensitive(status, "clientCertificateData");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(status, "expirationTimestamp");
        if ((token && !cJSON_IsString(token)) || (cert && !cJSON_IsString(cert)) ||
            (key && !cJSON_IsString(key))) {
                err = "exec plugin status: token, clientCertificateData and clientKeyData must "
                      "be strings";
                goto out;
        }
        bool has_token = token && *token->valuestring;
        bool has_cert = cert && *cert->valuestring, has_key = key && *key->valuestring;
        if (has_cert != has_key) {
                err = "exec plugin status: clientCertificateData and clientKeyData must be given "
                      "together";
                goto out;
        }
        if (!has_token && !has_cert) {
                err = "exec plugin status holds neither a token nor a client certificate and key";
                goto out;
        }
        if (has_token && strpbrk(token->valuestring, "\r\n")) {
                err = "exec plugin status: token contains a line break";
                goto out;
        }
        if (exp && !cJSON_IsNull(exp) &&
            (!cJSON_IsString(exp) || parse_rfc3339(exp->valuestring, &c.expires_usec) < 0)) {
                err = "exec plugin status: expirationTimestamp is not an RFC 3339 time";
                goto out;
        }
        if (has_token)
                c.token = xstrdup(token->valuestring);
        if (has_cert) {
                c.client_cert_pem = xstrdup(cert->valuestring);
                c.client_key_pem = xstrdup(key->valuestring);
        }
out:
        /* the parsed tree holds the secret too */
        if (cJSON_IsString(token) && token->valuestring)
                explicit_bzero(token->valuestring, strlen(token->valuestring));
        if (cJSON_IsString(key) && key->valuestring)
                explicit_bzero(key->valuestring, strlen(key->valuestring));
        cJSON_Delete(root);
        if (err) {
                kube_exec_credential_done(&c);
                json_fail(ret_error, err);
                return -EBADMSG;
        }
        *ret = c;
        return 0;
}

static char *base64_encode(const char *s)
{
        size_t n = strlen(s);
        unsigned char *out = xmalloc((n + 2) / 3 * 4 + 1);

        (void)EVP_EncodeBlock(out, (const unsigned char *)s, (int)n); /* NUL-terminated */
        return (char *)out;
}

char *kube_exec_info_json(const struct kube_exec_config *e, const char *server, const char *ca_pem,
                          bool insecure_skip_verify)
{
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "apiVersion", e->api_version);
        cJSON_AddStringToObject(root, "kind", "ExecCredential");
        cJSON *spec = cJSON_AddObjectToObject(root, "spec");
        if (e->provide_cluster_info) {
                cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");
                cJSON_AddStringToObject(cl, "server", server ? server : "");
                if (ca_pem) {
                        char *b = base64_encode(ca_pem);
                        cJSON_AddStringToObject(cl, "certificate-authority-data", b);
                        free(b);
                }
                if (insecure_skip_verify)
                        cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", true);
                cJSON *config = e->cluster_config_json ? cJSON_Parse(e->cluster_config_json) : NULL;
                if (config)
                        cJSON_AddItemToObject(cl, "config", config);
        }
        cJSON_AddBoolToObject(spec, "interactive", false);
        char *out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        char *copy = xstrdup(out);
        cJSON_free(out);
        return copy;
}
