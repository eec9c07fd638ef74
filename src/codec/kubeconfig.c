/* kubeconfig parser (WIRE.md §2.7): picks a context and returns the server, TLS material and
 * credentials it names. Pure: parses a buffer with libyaml, reads no files (paths are resolved,
 * not opened). exec and auth-provider users are refused with a clear message. Error texts name
 * contexts, clusters, users and fields, never a credential value. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "canaryd/kube.h"
#include "canaryd/util.h"

static void secret_free(char *s)
{
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

void kube_credentials_done(struct kube_credentials *c)
{
        if (!c)
                return;
        free(c->server);
        free(c->ca_file);
        free(c->ca_pem);
        secret_free(c->token);
        free(c->token_file);
        free(c->client_cert_file);
        free(c->client_key_file);
        free(c->client_cert_pem);
        secret_free(c->client_key_pem);
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

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Standard base64 with optional padding; whitespace is skipped. The result must be text (no
 * NUL), since it is PEM. Returns NULL on any error. */
static char *base64_decode_text(const char *s)
{
        struct buf b = {0};
        unsigned acc = 0;
        int bits = 0;
        bool padding = false;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
                        continue;
                if (*p == '=') {
                        padding = true;
                        continue;
                }
                int v = b64_value(*p);
                if (v < 0 || padding)
                        goto fail;
                acc = (acc << 6) | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        char ch = (char)((acc >> bits) & 0xff);
                        if (ch == '\0')
                                goto fail;
                        buf_append(&b, &ch, 1);
                }
        }
        if (bits >= 6 || b.len == 0)
                goto fail;
        return buf_steal(&b);
fail:
        if (b.data)
                explicit_bzero(b.data, b.len);
        buf_free(&b);
        return NULL;
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

static int parse_user(struct parse *p, const char *user_name, const char *context_name)
{
        struct kube_credentials *c = p->creds;
        yaml_node_t *u = named_entry(p->doc, p->root, "users", "user", user_name);
        if (!u)
                return fail(p, -EINVAL, "user \"%s\" (of context \"%s\") not found in kubeconfig",
                            user_name, context_name);

        if (map_get(p->doc, u, "exec"))
                return fail(p, -EOPNOTSUPP,
                            "user \"%s\": exec credential plugins are not supported yet",
                            user_name);
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
        if (!c->token && !c->token_file && !has_cert &&
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
