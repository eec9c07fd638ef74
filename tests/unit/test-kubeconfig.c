/* Tests for the Kubernetes side: src/codec/kubeconfig.c (kubeconfigs in tests/data/kube and the
 * exec-plugin fixture), src/codec/kube-status.c (Status fixtures), and src/io/kube.c against a
 * loopback fake API server run in a thread of this test. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "canaryd/exec-credential.h"
#include "canaryd/files.h"
#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/util.h"
#include "fake-http.h"

static char *fixture(const char *name, size_t *len)
{
        const char *dir = getenv("CANARYD_FIXTURES");
        char *path = xasprintf("%s/%s", dir ? dir : "fixtures", name), *text = NULL;
        assert_int_equal(read_file(path, 1 << 20, &text, len), 0);
        free(path);
        return text;
}

static int parse_file(const char *path, const char *context, struct kube_credentials *creds,
                      char **err)
{
        char *text = NULL;
        size_t len;
        assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
        *err = NULL;
        int r = kubeconfig_parse(text, len, "/etc/kube", context, creds, err);
        free(text);
        return r;
}

/* ---- kubeconfig ---------------------------------------------------------------------------- */

static void current_context_with_token_and_ca_data(void **state)
{
        struct kube_credentials c;
        char *err;
        assert_int_equal(parse_file("kube/kubeconfig-multi.yaml", NULL, &c, &err), 0);
        assert_string_equal(c.server, "https://dev.example.com:6443/");
        assert_string_equal(c.ca_pem, "-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n"
                                      "-----END CERTIFICATE-----\n");
        assert_null(c.ca_file);
        assert_string_equal(c.token, "s3cr3t-token-value");
        assert_null(c.token_file);
        assert_string_equal(c.namespace_, "cart");
        assert_int_equal(c.insecure_skip_verify, 0);
        kube_credentials_done(&c);
}

static void named_context_resolves_relative_paths(void **state)
{
        struct kube_credentials c;
        char *err;
        assert_int_equal(parse_file("kube/kubeconfig-multi.yaml", "prod", &c, &err), 0);
        assert_string_equal(c.server, "https://10.0.0.1:443");
        assert_string_equal(c.ca_file, "/etc/kube/certs/ca.pem");
        assert_string_equal(c.token_file, "/etc/kube/../token");
        assert_string_equal(c.client_cert_file, "/abs/client.crt");
        assert_string_equal(c.client_key_file, "/etc/kube/client.key");
        assert_null(c.token);
        assert_null(c.namespace_);
        assert_int_equal(c.insecure_skip_verify, 1);
        kube_credentials_done(&c);
}

static void client_cert_data_stays_in_memory(void **state)
{
        struct kube_credentials c;
        char *err;
        assert_int_equal(parse_file("kube/kubeconfig-multi.yaml", "certdata", &c, &err), 0);
        assert_non_null(strstr(c.client_cert_pem, "BEGIN CERTIFICATE"));
        assert_string_equal(c.client_key_pem, "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n"
                                              "-----END PRIVATE KEY-----\n");
        assert_null(c.client_cert_file);
        kube_credentials_done(&c);
}

static void expect_parse_error(const char *path, const char *context, int want, const char *msg)
{
        struct kube_credentials c = {0};
        char *err = NULL;
        assert_int_equal(parse_file(path, context, &c, &err), want);
        assert_non_null(err);
        if (strcmp(err, msg) != 0) {
                print_error("got \"%s\", want \"%s\"\n", err, msg);
                fail();
        }
        assert_null(strstr(err, "s3cr3t")); /* no credential in any message */
        assert_null(c.server);              /* ret untouched on failure */
        free(err);
}

static void errors_name_what_is_missing(void **state)
{
        const char *f = "kube/kubeconfig-multi.yaml";
        expect_parse_error(f, "nope", -EINVAL, "context \"nope\" not found in kubeconfig");
        expect_parse_error(f, "ghost-cluster", -EINVAL,
                           "cluster \"nowhere\" (of context \"ghost-cluster\") not found in "
                           "kubeconfig");
        expect_parse_error(f, "ghost-user", -EINVAL,
                           "user \"nobody\" (of context \"ghost-user\") not found in kubeconfig");
        expect_parse_error(f, "no-server", -EINVAL, "cluster \"empty-cluster\" has no server");
        expect_parse_error(f, "half-cert", -EINVAL,
                           "user \"half-cert-user\": client-certificate and client-key must be "
                           "given together");
        expect_parse_error(f, "bad-data", -EINVAL,
                           "user \"bad-data-user\": client-certificate-data is not valid "
                           "base64-encoded PEM");
        expect_parse_error(f, "oidc", -EOPNOTSUPP,
                           "user \"oidc-user\": auth-provider plugins are not supported; use a "
                           "token, tokenFile or client certificate");
        expect_parse_error("kube/kubeconfig-no-current.yaml", NULL, -EINVAL,
                           "kubeconfig has no current-context and no context was configured");
}

static void no_user_is_anonymous(void **state)
{
        struct kube_credentials c;
        char *err;
        assert_int_equal(parse_file("kube/kubeconfig-no-current.yaml", "only", &c, &err), 0);
        assert_string_equal(c.server, "http://127.0.0.1:8080");
        assert_null(c.token);
        kube_credentials_done(&c);
}

static void exec_plugin_fixture_parses(void **state)
{
        size_t len;
        char *text = fixture("kubeconfig_exec_plugin_v1.yaml", &len), *err = NULL;
        struct kube_credentials c = {0};
        assert_int_equal(kubeconfig_parse(text, len, "/etc/kube", NULL, &c, &err), 0);
        assert_non_null(c.exec);
        assert_string_equal(c.exec->command, "example-client-go-exec-plugin"); /* $PATH lookup */
        assert_string_equal(c.exec->api_version, "client.authentication.k8s.io/v1");
        assert_string_equal(c.exec->args[0], "arg1");
        assert_string_equal(c.exec->args[1], "arg2");
        assert_null(c.exec->args[2]);
        assert_string_equal(c.exec->env[0], "FOO=bar");
        assert_null(c.exec->env[1]);
        assert_true(c.exec->provide_cluster_info);
        assert_non_null(strstr(c.exec->install_hint, "brew install"));
        assert_string_equal(c.exec->cluster_config_json,
                            "{\"arbitrary\":\"config\",\"this\":\"can be provided via the "
                            "KUBERNETES_EXEC_INFO environment variable upon setting "
                            "provideClusterInfo\",\"you\":[\"can\",\"put\",\"anything\","
                            "\"here\"]}");

        /* KUBERNETES_EXEC_INFO carries the cluster, its CA base64-encoded, and the extension */
        char *info = kube_exec_info_json(c.exec, c.server, "PEM", false);
        assert_string_equal(info, "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
                                  "\"ExecCredential\",\"spec\":{\"cluster\":{\"server\":\"https://"
                                  "172.17.4.100:6443\",\"certificate-authority-data\":\"UEVN\","
                                  "\"config\":{\"arbitrary\":\"config\",\"this\":\"can be provided "
                                  "via the KUBERNETES_EXEC_INFO environment variable upon setting "
                                  "provideClusterInfo\",\"you\":[\"can\",\"put\",\"anything\","
                                  "\"here\"]}},\"interactive\":false}}");
        free(info);
        kube_credentials_done(&c);
        free(text);
}

static void exec_plugin_settings_are_checked(void **state)
{
        static const struct {
                const char *user, *want;
                int r;
        } cases[] = {
            {"{exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}}",
             "user \"u\": exec.command is required", -EINVAL},
            {"{exec: {command: x, interactiveMode: Never}}",
             "user \"u\": exec.apiVersion is required", -EINVAL},
            {"{exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}}",
             "user \"u\": exec.apiVersion client.authentication.k8s.io/v1alpha1 is not supported "
             "(use client.authentication.k8s.io/v1 or v1beta1)",
             -EOPNOTSUPP},
            {"{exec: {command: x, apiVersion: client.authentication.k8s.io/v1}}",
             "user \"u\": exec.interactiveMode is required for client.authentication.k8s.io/v1 "
             "(use Never)",
             -EINVAL},
            {"{exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: "
             "Always}}",
             "user \"u\": exec.interactiveMode Always needs a terminal, and canaryd runs without "
             "one",
             -EOPNOTSUPP},
            {"{exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1, env: "
             "[{name: A}]}}",
             "user \"u\": exec.env[0] needs a name (without '=') and a value", -EINVAL},
            {"{exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1, args: [[1]]}}",
             "user \"u\": exec.args must be a list of strings", -EINVAL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *text = xasprintf("current-context: c\nclusters: [{name: k, cluster: "
                                       "{server: 'https://k:6443'}}]\ncontexts: [{name: c, "
                                       "context: {cluster: k, user: u}}]\nusers: [{name: u, "
                                       "user: %s}]\n",
                                       cases[i].user);
                struct kube_credentials c = {0};
                char *err = NULL;
                assert_int_equal(kubeconfig_parse(text, strlen(text), "/d", NULL, &c, &err),
                                 cases[i].r);
                assert_string_equal(err, cases[i].want);
                free(err);
                free(text);
        }
        /* v1beta1 defaults interactiveMode; a command with a slash is a path */
        const char *ok = "current-context: c\nclusters: [{name: k, cluster: {server: "
                         "'https://k'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                         "users: [{name: u, user: {exec: {command: ./bin/plug, apiVersion: "
                         "client.authentication.k8s.io/v1beta1}}}]\n";
        struct kube_credentials c = {0};
        char *err = NULL;
        assert_int_equal(kubeconfig_parse(ok, strlen(ok), "/d", NULL, &c, &err), 0);
        assert_string_equal(c.exec->command, "/d/./bin/plug");
        assert_null(c.exec->args[0]);
        assert_false(c.exec->provide_cluster_info);
        char *info = kube_exec_info_json(c.exec, c.server, NULL, false);
        assert_string_equal(info, "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                                  "\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}");
        free(info);
        kube_credentials_done(&c);
}

static void exec_credential_output(void **state)
{
        const char *v1 = "client.authentication.k8s.io/v1";
        size_t len;
        char *text = fixture("k8s_execcredential_v1_output_token.json", &len), *err = NULL;
        struct kube_exec_credential c = {0};
        assert_int_equal(kube_exec_credential_parse(text, len, v1, &c, &err), 0);
        assert_string_equal(c.token, "my-bearer-token");
        assert_null(c.client_cert_pem);
        /* 2018-03-05T17:30:20-08:00 = 2018-03-06T01:30:20Z */
        assert_true(c.expires_usec == 1520299820ULL * USEC_PER_SEC);
        kube_exec_credential_done(&c);
        free(text);

        text = fixture("k8s_execcredential_v1_output_client_cert.json", &len);
        assert_int_equal(kube_exec_credential_parse(text, len, v1, &c, &err), 0);
        assert_null(c.token);
        assert_true(strncmp(c.client_cert_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
        assert_true(strncmp(c.client_key_pem, "-----BEGIN RSA PRIVATE KEY-----", 31) == 0);
        assert_true(c.expires_usec == 0);
        kube_exec_credential_done(&c);

        /* the returned apiVersion must be the configured one */
        assert_int_equal(
            kube_exec_credential_parse(text, len, "client.authentication.k8s.io/v1beta1", &c, &err),
            -EBADMSG);
        assert_string_equal(err, "exec plugin returned apiVersion client.authentication.k8s.io/v1, "
                                 "the kubeconfig asks for client.authentication.k8s.io/v1beta1");
        free(err);
        free(text);

        static const char *const bad[] = {
            "",
            "[]",
            "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\"}",
            "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
            "\"status\":{}}",
            "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
            "\"status\":{\"clientCertificateData\":\"x\"}}",
            "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
            "\"status\":{\"token\":\"s3cr3t\",\"expirationTimestamp\":\"tomorrow\"}}",
            "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
            "\"status\":{\"token\":\"s3cr3t\\nX-Evil: 1\"}}",
            "{\"kind\":\"Pod\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
            "\"status\":{\"token\":\"s3cr3t\"}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = NULL;
                assert_int_equal(kube_exec_credential_parse(bad[i], strlen(bad[i]), v1, &c, &err),
                                 -EBADMSG);
                assert_non_null(err);
                assert_null(strstr(err, "s3cr3t"));
                free(err);
        }
}

static void vs_version_discovery(void **state)
{
        const char *all = "{\"kind\":\"APIGroup\",\"versions\":[{\"version\":\"v1alpha3\"},"
                          "{\"version\":\"v1\"},{\"version\":\"v1beta1\"}]}";
        assert_string_equal(kube_vs_version_from_discovery(all, strlen(all)), "v1");
        const char *old = "{\"versions\":[{\"version\":\"v1alpha3\"},{\"version\":\"v1beta1\"}]}";
        assert_string_equal(kube_vs_version_from_discovery(old, strlen(old)), "v1beta1");
        const char *oldest = "{\"versions\":[{\"version\":\"v1alpha3\"}]}";
        assert_string_equal(kube_vs_version_from_discovery(oldest, strlen(oldest)), "v1alpha3");
        const char *none = "{\"versions\":[{\"version\":\"v2\"}]}";
        assert_null(kube_vs_version_from_discovery(none, strlen(none)));
        assert_null(kube_vs_version_from_discovery("[", 1));
        assert_null(kube_vs_version_from_discovery(NULL, 0));
}

static void malformed_yaml(void **state)
{
        static const char *const bad[] = {"", "- a\n- b\n", "a: [\n", "just text",
                                          "current-context: x\ncontexts: 5\n"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct kube_credentials c = {0};
                char *err = NULL;
                assert_true(kubeconfig_parse(bad[i], strlen(bad[i]), NULL, NULL, &c, &err) < 0);
                assert_non_null(err);
                free(err);
        }
        char *err = NULL;
        struct kube_credentials c = {0};
        assert_int_equal(kubeconfig_parse("a: [\n", 5, NULL, NULL, &c, &err), -EINVAL);
        assert_non_null(strstr(err, "kubeconfig:2:1: "));
        free(err);
}

/* ---- Status and paths ---------------------------------------------------------------------- */

static void status_fixtures_decode(void **state)
{
        size_t len;
        char *text = fixture("k8s_status_409_conflict_gke.http", &len);
        const char *body = strstr(text, "\r\n\r\n");
        body = body ? body + 4 : strstr(text, "\n\n") + 2;
        struct kube_status st;
        assert_int_equal(kube_status_parse(body, strlen(body), &st), 0);
        assert_int_equal(st.code, 409);
        assert_string_equal(st.reason, "Conflict");
        assert_string_equal(st.status, "Failure");
        assert_true(strncmp(st.message, "Operation cannot be fulfilled", 29) == 0);
        kube_status_done(&st);
        free(text);

        text = fixture("k8s_status_404_notfound_crd.json", &len);
        assert_int_equal(kube_status_parse(text, len, &st), 0);
        assert_int_equal(st.code, 404);
        assert_string_equal(st.reason, "NotFound");
        kube_status_done(&st);
        free(text);

        assert_int_equal(kube_status_parse("{\"kind\":\"VirtualService\"}", 25, &st), -EBADMSG);
        assert_int_equal(kube_status_parse("[]", 2, &st), -EBADMSG);
        assert_int_equal(kube_status_parse("", 0, &st), -EBADMSG);

        assert_int_equal(kube_errno_from_status(200), 0);
        assert_int_equal(kube_errno_from_status(201), 0);
        assert_int_equal(kube_errno_from_status(409), -ESTALE);
        assert_int_equal(kube_errno_from_status(404), -ENOENT);
        assert_int_equal(kube_errno_from_status(403), -EACCES);
        assert_int_equal(kube_errno_from_status(422), -EINVAL);
        assert_int_equal(kube_errno_from_status(429), -EAGAIN);
        assert_int_equal(kube_errno_from_status(503), -EAGAIN);
}

static void virtual_service_path_validates_names(void **state)
{
        char *p = kube_virtual_service_path("cart", "cart-api.v2");
        assert_string_equal(p, "/apis/networking.istio.io/v1/namespaces/cart/virtualservices/"
                               "cart-api.v2");
        free(p);
        assert_null(kube_virtual_service_path("Cart", "x"));
        assert_null(kube_virtual_service_path("cart", "../secrets"));
        assert_null(kube_virtual_service_path("cart", "a/b"));
        assert_null(kube_virtual_service_path("cart", "-a"));
        assert_null(kube_virtual_service_path("cart", "a..b"));
        assert_null(kube_virtual_service_path("", "x"));
        assert_null(kube_virtual_service_path("a.b", "x")); /* namespaces are labels */
        assert_null(kube_virtual_service_path(NULL, "x"));
}

/* ---- kube client against a loopback fake --------------------------------------------------- */

struct kube_fake {
        int fd, port;
        pthread_t thread;
        const char *status_line; /* e.g. "409 Conflict" */
        const char *body;
        char request[8192]; /* the last request, head and body */
};

static void *kube_fake_main(void *arg)
{
        struct kube_fake *f = arg;
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
                return NULL;
        size_t n = 0;
        for (;;) {
                ssize_t r = recv(c, f->request + n, sizeof(f->request) - 1 - n, 0);
                if (r <= 0)
                        break;
                n += (size_t)r;
                f->request[n] = '\0';
                char *end = strstr(f->request, "\r\n\r\n");
                const char *cl = strcasestr(f->request, "Content-Length:");
                if (end &&
                    (!cl || n >= (size_t)(end - f->request) + 4 + strtoul(cl + 15, NULL, 10)))
                        break;
        }
        char *resp = xasprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: "
                               "%zu\r\nConnection: close\r\n\r\n%s",
                               f->status_line, strlen(f->body), f->body);
        (void)send(c, resp, strlen(resp), MSG_NOSIGNAL);
        free(resp);
        close(c);
        return NULL;
}

static void kube_fake_start(struct kube_fake *f, const char *status_line, const char *body)
{
        f->status_line = status_line;
        f->body = body;
        f->fd = fake_listen_loopback(4, &f->port);
        pthread_create(&f->thread, NULL, kube_fake_main, f);
}

static void kube_fake_stop(struct kube_fake *f)
{
        shutdown(f->fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
        close(f->fd);
}

struct outcome {
        bool called;
        int error;
        long status;
        char *message, *reason, *body;
};

static void on_kube_done(const struct kube_result *res, void *ud)
{
        struct outcome *o = ud;
        o->called = true;
        o->error = res->error;
        o->status = res->status;
        o->message = xstrdup(res->message);
        o->reason = xstrdup(res->reason);
        o->body = res->body ? xstrndup(res->body, res->body_len) : NULL;
}

/* Writes a kubeconfig for the fake into a temp dir; the user reads its token from a file. */
static char *write_kubeconfig(char *dir, int port)
{
        char *token_path = xasprintf("%s/token", dir);
        FILE *t = fopen(token_path, "w");
        fputs("tok-from-file\n", t);
        fclose(t);
        free(token_path);
        char *path = xasprintf("%s/config", dir);
        FILE *k = fopen(path, "w");
        fprintf(k,
                "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                "clusters: [{name: fake, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
                "users: [{name: u, user: {tokenFile: token}}]\n"
                "contexts: [{name: fake, context: {cluster: fake, user: u, namespace: ns1}}]\n",
                port);
        fclose(k);
        return path;
}

static void run_kube(const char *status_line, const char *body, const char *put_json,
                     struct outcome *o, char *request_out, size_t request_size)
{
        char dir[] = "/tmp/canaryd-kube-XXXXXX";
        struct kube_fake f = {0};
        sd_event *e = NULL;
        struct http_client *http = NULL;
        struct kube_client *k = NULL;
        char *err = NULL;

        assert_non_null(mkdtemp(dir));
        kube_fake_start(&f, status_line, body);
        char *config = write_kubeconfig(dir, f.port);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(http_client_new(e, &http), 0);
        assert_int_equal(kube_client_new(e, http, config, NULL, 2000, &k, &err), 0);
        assert_string_equal(kube_client_namespace(k), "ns1");

        char *path = kube_virtual_service_path("ns1", "reviews");
        if (put_json)
                assert_int_equal(kube_put(k, path, put_json, on_kube_done, o), 0);
        else
                assert_int_equal(kube_get(k, path, on_kube_done, o), 0);
        k = kube_client_free(k); /* in-flight requests do not need the client */
        for (int i = 0; i < 300 && !o->called; i++)
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o->called);

        http_client_free(http);
        sd_event_unref(e);
        kube_fake_stop(&f);
        snprintf(request_out, request_size, "%s", f.request);
        free(path);
        char *tp = xasprintf("%s/token", dir);
        unlink(tp);
        unlink(config);
        rmdir(dir);
        free(tp);
        free(config);
}

static void kube_get_sends_headers_and_returns_object(void **state)
{
        struct outcome o = {0};
        char req[8192];
        run_kube("200 OK", "{\"kind\":\"VirtualService\"}", NULL, &o, req, sizeof(req));
        assert_int_equal(o.error, 0);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "{\"kind\":\"VirtualService\"}");
        assert_string_equal(o.reason, "");
        assert_true(strncmp(req,
                            "GET /apis/networking.istio.io/v1/namespaces/ns1/virtualservices/"
                            "reviews HTTP/1.1\r\n",
                            80) == 0);
        assert_non_null(strstr(req, "\r\nAccept: application/json\r\n"));
        assert_non_null(strstr(req, "\r\nAuthorization: Bearer tok-from-file\r\n"));
        assert_non_null(strstr(req, "\r\nUser-Agent: canaryd/"));
        free(o.message);
        free(o.reason);
        free(o.body);
}

static void kube_put_conflict_decodes_status(void **state)
{
        struct outcome o = {0};
        char req[8192];
        static const char status[] =
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
            "\"message\":\"Operation cannot be fulfilled on virtualservices.networking.istio."
            "io \\\"reviews\\\": the object has been modified\",\"reason\":\"Conflict\","
            "\"code\":409}\n";
        run_kube("409 Conflict", status, "{\"a\":1}", &o, req, sizeof(req));
        assert_int_equal(o.error, -ESTALE);
        assert_int_equal(o.status, 409);
        assert_string_equal(o.reason, "Conflict");
        assert_non_null(strstr(o.message, "the object has been modified"));
        assert_true(strncmp(req, "PUT /apis/", 10) == 0);
        assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
        assert_non_null(strstr(req, "\r\n\r\n{\"a\":1}"));
        free(o.message);
        free(o.reason);
        free(o.body);
}

struct exec_outcome {
        bool called;
        int error;
        char *token, *message;
        usec_t expires;
};

static void on_exec(int error, struct kube_exec_credential *cred, const char *errmsg, void *ud)
{
        struct exec_outcome *o = ud;
        o->called = true;
        o->error = error;
        o->message = xstrdup(errmsg);
        if (cred) {
                o->token = cred->token;
                cred->token = NULL; /* moved out */
                o->expires = cred->expires_usec;
        }
}

static struct exec_outcome run_plugin(const char *script, const char *api)
{
        sd_event *e = NULL;
        struct exec_run *run = NULL;
        struct exec_outcome o = {0};
        char *args[] = {(char *)(uintptr_t) "-c", (char *)(uintptr_t)script, NULL};
        char *env[] = {(char *)(uintptr_t) "PLUGIN_VAR=from-kubeconfig", NULL};
        struct kube_exec_config cfg = {
            .api_version = (char *)(uintptr_t)api,
            .command = (char *)(uintptr_t) "sh",
            .args = args,
            .env = env,
        };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(
            exec_run_start(e, &cfg, "{\"kind\":\"ExecCredential\"}", 0, on_exec, &o, &run), 0);
        for (int i = 0; i < 500 && !o.called; i++)
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o.called);
        sd_event_unref(e);
        return o;
}

static void exec_plugin_runs_on_the_loop(void **state)
{
        /* The plugin sees our env var and KUBERNETES_EXEC_INFO; its token comes back. */
        struct exec_outcome o = run_plugin(
            "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) I=info;; *) I=none;; esac; "
            "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
            "\"ExecCredential\",\"status\":{\"token\":\"%s-%s\",\"expirationTimestamp\":"
            "\"2030-01-01T00:00:00Z\"}}' \"$PLUGIN_VAR\" \"$I\"",
            "client.authentication.k8s.io/v1beta1");
        assert_int_equal(o.error, 0);
        assert_string_equal(o.token, "from-kubeconfig-info");
        assert_true(o.expires == 1893456000ULL * USEC_PER_SEC);
        free(o.token);
        free(o.message);

        o = run_plugin("echo oops; exit 3", "client.authentication.k8s.io/v1");
        assert_int_equal(o.error, -EPROTO);
        assert_string_equal(o.message, "exec plugin sh exited with status 3");
        free(o.message);

        o = run_plugin("echo '{\"kind\":\"ExecCredential\"}'", "client.authentication.k8s.io/v1");
        assert_int_equal(o.error, -EBADMSG);
        assert_non_null(strstr(o.message, "apiVersion"));
        free(o.message);

        /* not found: reported at once, no callback */
        sd_event *e = NULL;
        struct exec_run *run = NULL;
        char *none[] = {NULL};
        struct kube_exec_config cfg = {.api_version = (char *)(uintptr_t) "x",
                                       .command = (char *)(uintptr_t) "/nonexistent/plugin",
                                       .args = none,
                                       .env = none};
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(exec_run_start(e, &cfg, "{}", 0, on_exec, NULL, &run), -ENOENT);
        /* a plugin that hangs is cancelled without a callback and without a zombie */
        char *args[] = {(char *)(uintptr_t) "-c", (char *)(uintptr_t) "sleep 30", NULL};
        cfg.command = (char *)(uintptr_t) "sh";
        cfg.args = args;
        assert_int_equal(exec_run_start(e, &cfg, "{}", 0, on_exec, NULL, &run), 0);
        run = exec_run_cancel(run);
        sd_event_unref(e);
}

static void kube_client_sends_the_exec_token(void **state)
{
        char dir[] = "/tmp/canaryd-kube-XXXXXX";
        struct kube_fake f = {0};
        sd_event *e = NULL;
        struct http_client *http = NULL;
        struct kube_client *k = NULL;
        struct outcome o = {0};
        char *err = NULL;

        assert_non_null(mkdtemp(dir));
        kube_fake_start(&f, "200 OK", "{}");
        char *path = xasprintf("%s/config", dir);
        FILE *c = fopen(path, "w");
        fprintf(c,
                "current-context: x\nclusters: [{name: k, cluster: {server: "
                "'http://127.0.0.1:%d'}}]\ncontexts: [{name: x, context: {cluster: k, user: "
                "u}}]\nusers: [{name: u, user: {exec: {command: sh, apiVersion: "
                "client.authentication.k8s.io/v1, interactiveMode: Never, args: [-c, \"echo "
                "'{\\\"apiVersion\\\":\\\"client.authentication.k8s.io/v1\\\",\\\"kind\\\":"
                "\\\"ExecCredential\\\",\\\"status\\\":{\\\"token\\\":\\\"plugin-tok\\\"}}'\"]"
                "}}}]\n",
                f.port);
        fclose(c);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(http_client_new(e, &http), 0);
        assert_int_equal(kube_client_new(e, http, path, NULL, 2000, &k, &err), 0);
        assert_string_equal(kube_client_auth_kind(k), "exec plugin");
        assert_int_equal(kube_get(k, "/api", on_kube_done, &o), 0);
        for (int i = 0; i < 500 && !o.called; i++)
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o.called);
        assert_int_equal(o.error, 0);
        k = kube_client_free(k);
        http_client_free(http);
        sd_event_unref(e);
        kube_fake_stop(&f);
        assert_non_null(strstr(f.request, "\r\nAuthorization: Bearer plugin-tok\r\n"));
        free(o.message);
        free(o.reason);
        free(o.body);
        unlink(path);
        rmdir(dir);
        free(path);
}

static void kube_client_errors(void **state)
{
        sd_event *e = NULL;
        struct http_client *http = NULL;
        struct kube_client *k = NULL;
        char *err = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(http_client_new(e, &http), 0);

        assert_int_equal(kube_client_new(e, http, "kube/does-not-exist", NULL, 0, &k, &err),
                         -ENOENT);
        assert_non_null(strstr(err, "kube/does-not-exist"));
        free(err);

        /* The token file of context "prod" does not exist: caught at start, named. */
        assert_int_equal(
            kube_client_new(e, http, "kube/kubeconfig-multi.yaml", "prod", 0, &k, &err), -ENOENT);
        assert_string_equal(err, "token file kube/../token: No such file or directory");
        free(err);

        unsetenv("KUBERNETES_SERVICE_HOST");
        assert_int_equal(kube_client_new(e, http, NULL, NULL, 0, &k, &err), -ENXIO);
        assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
        free(err);

        /* In-cluster with a service-account directory. */
        char dir[] = "/tmp/canaryd-sa-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *tok = xasprintf("%s/token", dir), *ns = xasprintf("%s/namespace", dir);
        FILE *f = fopen(tok, "w");
        fputs("sa-token", f);
        fclose(f);
        f = fopen(ns, "w");
        fputs("canaryd-system\n", f);
        fclose(f);
        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        setenv("CANARYD_SERVICEACCOUNT_DIR", dir, 1);
        assert_int_equal(kube_client_new(e, http, NULL, NULL, 0, &k, &err), 0);
        assert_string_equal(kube_client_namespace(k), "canaryd-system");
        k = kube_client_free(k);
        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("CANARYD_SERVICEACCOUNT_DIR");
        unlink(tok);
        unlink(ns);
        rmdir(dir);
        free(tok);
        free(ns);

        http_client_free(http);
        sd_event_unref(e);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(current_context_with_token_and_ca_data),
            cmocka_unit_test(named_context_resolves_relative_paths),
            cmocka_unit_test(client_cert_data_stays_in_memory),
            cmocka_unit_test(errors_name_what_is_missing),
            cmocka_unit_test(no_user_is_anonymous),
            cmocka_unit_test(exec_plugin_fixture_parses),
            cmocka_unit_test(exec_plugin_settings_are_checked),
            cmocka_unit_test(exec_credential_output),
            cmocka_unit_test(vs_version_discovery),
            cmocka_unit_test(exec_plugin_runs_on_the_loop),
            cmocka_unit_test(kube_client_sends_the_exec_token),
            cmocka_unit_test(malformed_yaml),
            cmocka_unit_test(status_fixtures_decode),
            cmocka_unit_test(virtual_service_path_validates_names),
            cmocka_unit_test(kube_get_sends_headers_and_returns_object),
            cmocka_unit_test(kube_put_conflict_decodes_status),
            cmocka_unit_test(kube_client_errors),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
