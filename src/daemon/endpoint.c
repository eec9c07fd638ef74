/* The HTTP endpoint's routes. Everything answers at once from memory on the loop: /metrics
 * renders the daemon's state and counters, /healthz says the loop turns (it does, or nothing
 * would answer), /readyz says whether the daemon can do its work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "canaryd/http-server.h"
#include "canaryd/log.h"
#include "canaryd/prom-text.h"
#include "datadog-key.h"
#include "endpoint.h"
#include "metrics.h"

static bool kube_reached(const struct daemon *d)
{
        for (int v = 0; v < _KUBE_VERB_MAX; v++) {
                const struct status_tally *t = &d->metrics.kube.verb[v];
                for (size_t i = 0; i < t->n; i++)
                        if (t->code[i] >= 200 && t->code[i] <= 299)
                                return true;
        }
        return false;
}

const char *endpoint_not_ready(const struct daemon *d, char *buf, size_t size)
{
        const char *dd = datadog_key_problem(d->key);
        size_t n = 0;

        buf[0] = '\0';
        if (d->stopping)
                return snprintf(buf, size, "stopping"), buf;
        if (!kube_reached(d))
                n += (size_t)snprintf(buf + n, size - n, "kubernetes not reached yet");
        if (!datadog_key_accepted(d->key) && n < size)
                n += (size_t)snprintf(buf + n, size - n, "%sdatadog API key %s", n ? "; " : "",
                                      dd ? "rejected" : "not validated yet");
        return n ? buf : NULL;
}

static void reply_text(struct http_server_reply *r, unsigned status, char *body)
{
        r->status = status;
        r->body = body;
}

static void on_request(const struct http_server_request *req, struct http_server_reply *r,
                       void *userdata)
{
        struct daemon *d = userdata;
        bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        bool known = strcmp(req->path, "/metrics") == 0 || strcmp(req->path, "/healthz") == 0 ||
                     strcmp(req->path, "/readyz") == 0;
        char why[256];

        if (!known) {
                reply_text(r, 404, xstrdup("not found\n"));
                return;
        }
        if (!get) {
                r->allow = "GET, HEAD";
                reply_text(r, 405, xasprintf("%s takes GET\n", req->path));
                return;
        }
        if (strcmp(req->path, "/healthz") == 0) {
                reply_text(r, 200, xstrdup("ok\n"));
        } else if (strcmp(req->path, "/readyz") == 0) {
                if (endpoint_not_ready(d, why, sizeof(why)))
                        reply_text(r, 503, xasprintf("not ready: %s\n", why));
                else
                        reply_text(r, 200, xstrdup("ready\n"));
        } else {
                r->status = 200;
                r->content_type = PROM_CONTENT_TYPE;
                r->body = metrics_render(d, &r->body_len);
        }
}

static void on_server_log(int priority, const char *message, void *userdata)
{
        log_fields_full(priority, LOG_FIELDS_NONE, "%s", message);
}

int endpoint_start(struct daemon *d, int fd)
{
        const char *listen = d->config->http.listen;
        struct listen_address a;
        const char *why;
        char *err = NULL;
        int r;

        if (fd >= 0) {
                r = http_server_new_from_fd(d->event, fd, on_request, on_server_log, d,
                                            &d->http_server, &err);
                if (r < 0)
                        log_error("http: cannot serve on the socket systemd passed: %s", err);
                else
                        log_info("http: serving /metrics, /healthz, /readyz on the socket systemd "
                                 "passed (port %u)",
                                 http_server_port(d->http_server));
                free(err);
                return r;
        }
        if (!listen)
                return 0;
        if (listen_address_parse(listen, &a, &why) < 0) { /* the config check saw to it */
                log_error("http.listen \"%s\": %s", listen, why);
                return -EINVAL;
        }
        r = http_server_new(d->event, &a, on_request, on_server_log, d, &d->http_server, &err);
        if (r < 0)
                log_error("http: cannot listen on %s: %s", listen, err);
        else
                log_info("http: serving /metrics, /healthz, /readyz on %s", listen);
        free(err);
        return r;
}

void endpoint_stop(struct daemon *d)
{
        d->http_server = http_server_free(d->http_server);
}
