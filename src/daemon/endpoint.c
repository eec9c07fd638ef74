/* The HTTP endpoint's routes. Everything answers at once from memory on the loop: /metrics
 * renders the daemon's state and counters, /healthz says the loop turns (it does, or nothing
 * would answer), /readyz says whether the daemon can do its work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "canaryd/clock.h"
#include "canaryd/http-server.h"
#include "canaryd/http.h"
#include "canaryd/log.h"
#include "canaryd/prom-text.h"
#include "canaryd/slack-groups.h"
#include "canaryd/slack-interact.h"
#include "commands.h"
#include "datadog-key.h"
#include "driver.h"
#include "endpoint.h"
#include "metrics.h"
#include "status.h"

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
        if (d->state_dir_error && n < size)
                n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "; " : "", d->state_dir_error);
        return n ? buf : NULL;
}

static void reply_text(struct http_server_reply *r, unsigned status, char *body)
{
        r->status = status;
        r->body = body;
}

/* Has this signature been acted on in the last 5 minutes? Remembers it if not. */
static bool slack_replayed(struct daemon *d, const char *signature, usec_t now)
{
        const usec_t window = 2 * SLACK_SIGNATURE_WINDOW_SEC * USEC_PER_SEC;
        size_t n = sizeof(d->slack_seen) / sizeof(d->slack_seen[0]);

        for (size_t i = 0; i < n; i++)
                if (d->slack_seen_at[i] && now - d->slack_seen_at[i] < window &&
                    strcmp(d->slack_seen[i], signature) == 0)
                        return true;
        snprintf(d->slack_seen[d->slack_seen_next], sizeof(d->slack_seen[0]), "%s", signature);
        d->slack_seen_at[d->slack_seen_next] = now;
        d->slack_seen_next = (d->slack_seen_next + 1) % n;
        return false;
}

/* Whether user may act on canary: listed in slack.approvers under its name or "*", by ID or as
 * a member of a listed user group. When not, why (in why, for the log and the refusal). A user
 * in no listed group asks for an early re-read of the groups: one just added in Slack need not
 * wait for the next refresh. */
static bool slack_allowed(const struct daemon *d, const char *canary, const char *user, char *why,
                          size_t size)
{
        const char *unread = NULL, *problem = NULL;
        bool groups = false;

        for (size_t i = 0; i < d->config->slack.n_approvers; i++) {
                const struct slack_approvers *a = &d->config->slack.approvers[i];
                if (strcmp(a->canary, "*") != 0 && strcmp(a->canary, canary) != 0)
                        continue;
                for (size_t k = 0; k < a->n_ids; k++) {
                        if (a->ids[k][0] != 'S') {
                                if (strcmp(a->ids[k], user) == 0)
                                        return true;
                                continue;
                        }
                        groups = true;
                        switch (slack_groups_check(d->slack_groups, a->ids[k], user)) {
                        case SLACK_MEMBER:
                                return true;
                        case SLACK_MEMBERSHIP_UNKNOWN:
                                unread = a->ids[k];
                                problem = d->slack_groups
                                              ? slack_groups_problem(d->slack_groups, a->ids[k])
                                              : "no slack.token_file to read it with";
                                break;
                        case SLACK_NOT_MEMBER:
                                break;
                        }
                }
        }
        if (groups)
                slack_groups_recheck(d->slack_groups);
        if (unread)
                snprintf(why, size, "not in slack.approvers (user group %s not read: %s)", unread,
                         problem);
        else
                snprintf(why, size, "not in slack.approvers");
        return false;
}

static struct canary *canary_named(struct daemon *d, const char *name)
{
        for (size_t i = 0; i < d->n_canaries; i++)
                if (strcmp(d->canaries[i].cfg->name, name) == 0)
                        return &d->canaries[i];
        return NULL;
}

static void slack_answer(struct http_server_reply *r, bool in_channel, char *text)
{
        r->status = 200;
        r->content_type = "application/json";
        r->body = slack_command_reply(in_channel, text);
        free(text);
}

/* Acts on a verified request from Slack user `user`, as canaryctl would, for an approver (status:
 * anyone). Returns the answer (owned); *ok says whether it is for the channel (an action taken)
 * or for the user alone (status, a refusal). */
static char *slack_act(struct daemon *d, const char *user, const struct slack_command *cmd,
                       bool *ok)
{
        struct canary *c = canary_named(d, cmd->name);
        const char *verb = slack_verb_to_string(cmd->verb);

        *ok = false;
        if (!c)
                return xasprintf("no canary named %s", cmd->name);
        if (cmd->verb == SLACK_VERB_STATUS)
                return c->loaded
                           ? xasprintf("%s: %s%s, step %u/%zu, canary weight %u%%", c->cfg->name,
                                       rollout_phase_to_string(c->state.phase),
                                       rollout_awaiting_approval(&c->state) ? " (awaiting approval)"
                                                                            : "",
                                       c->state.step, c->cfg->n_steps, c->state.weight)
                           : xasprintf("%s: state not read yet", c->cfg->name);
        char denied[256];
        if (!slack_allowed(d, c->cfg->name, user, denied, sizeof(denied))) {
                log_canary(LOG_NOTICE, c, NULL, NULL, "slack: %s by slack:%s refused: %s", verb,
                           user, denied);
                return xasprintf("<@%s> may not %s %s: %s", user, verb, c->cfg->name, denied);
        }
        static const enum rollout_event_kind kinds[_SLACK_VERB_MAX] = {
            [SLACK_VERB_PROMOTE] = EV_CMD_PROMOTE, [SLACK_VERB_ABORT] = EV_CMD_ABORT,
            [SLACK_VERB_PAUSE] = EV_CMD_PAUSE,     [SLACK_VERB_RESUME] = EV_CMD_RESUME,
            [SLACK_VERB_APPROVE] = EV_CMD_APPROVE,
        };
        char actor[ROLLOUT_ACTOR_MAX];
        snprintf(actor, sizeof(actor), "slack:%s", user);
        struct rollout_event ev = {
            .kind = kinds[cmd->verb],
            .full = cmd->full,
            .reason = cmd->reason[0] ? cmd->reason : NULL,
            .actor = actor,
        };
        const char *refused = canary_command_refused(c, &ev, actor, NULL);
        if (refused)
                return xasprintf("%s %s refused: %s", verb, c->cfg->name, refused);
        log_canary(LOG_NOTICE, c, NULL, NULL, "%s%s requested by %s", verb,
                   cmd->full ? " --full" : "", actor);
        canary_submit_command(c, &ev, 0, NULL);
        *ok = true;
        return xasprintf("<@%s> asked to %s%s %s", user, verb, cmd->full ? " fully" : "",
                         c->cfg->name);
}

/* A verified slash command: /canary VERB NAME. */
static void slack_command(struct daemon *d, const struct form *f, struct http_server_reply *r)
{
        const char *user = form_get(f, "user_id"), *why;
        struct slack_command cmd;
        bool ok;

        if (!user || !*user) {
                reply_text(r, 400, xstrdup("no user_id\n"));
                return;
        }
        if (slack_command_parse(form_get(f, "text"), &cmd, &why) < 0) {
                slack_answer(r, false, xstrdup(why));
                return;
        }
        char *text = slack_act(d, user, &cmd, &ok);
        slack_answer(r, ok, text);
}

/* An answer on its way to a click's response_url: Slack keeps the URL usable for 30 minutes, so
 * a 5xx, a 429 or a failed connection is tried again (1, 2, 4, 8 s; 429 after Retry-After). Kept
 * in memory only: a daemon stopped meanwhile drops it (the action itself is journaled). */
struct response_post {
        struct response_post *next;
        struct daemon *d;
        char *url, *body; /* owned */
        unsigned attempts;
        sd_event_source *timer;
};

#define RESPONSE_POST_ATTEMPTS 5

static void response_post_free(struct response_post *p)
{
        for (struct response_post **pp = &p->d->response_posts; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        sd_event_source_disable_unref(p->timer);
        free(p->url);
        free(p->body);
        free(p);
}

static void response_post_send(struct response_post *p);

static int on_response_post_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)s;
        (void)usec;
        response_post_send(userdata);
        return 0;
}

static void on_response_url_done(int error, const struct http_response *resp, const char *errmsg,
                                 void *userdata)
{
        struct response_post *p = userdata;
        usec_t wait = USEC_PER_SEC << (p->attempts - 1);
        bool again = error < 0 || resp->status == 429 || resp->status >= 500;

        if (error == -ECANCELED) { /* the daemon is stopping */
                response_post_free(p);
                return;
        }
        if (!error && resp->status >= 200 && resp->status <= 299) {
                response_post_free(p);
                return;
        }
        if (!error && resp->status == 429)
                wait = http_retry_after(resp, wait, 600 * USEC_PER_SEC);
        if (again && p->attempts < RESPONSE_POST_ATTEMPTS &&
            sd_event_add_time_relative(p->d->event, &p->timer, CLOCK_MONOTONIC, wait,
                                       USEC_PER_SEC / 10, on_response_post_timer, p) >= 0)
                return;
        if (error)
                log_warning("slack: posting the answer to a button to its response_url failed "
                            "after %u attempt(s): %s",
                            p->attempts, errmsg ? errmsg : strerror(-error));
        else
                log_warning("slack: posting the answer to a button to its response_url failed "
                            "after %u attempt(s): HTTP %ld",
                            p->attempts, resp->status);
        response_post_free(p);
}

static void response_post_send(struct response_post *p)
{
        const char *headers[] = {"Content-Type: application/json; charset=utf-8",
                                 "User-Agent: canaryd/" CANARYD_VERSION, NULL};
        struct http_request_opts o = {.method = "POST",
                                      .url = p->url,
                                      .headers = headers,
                                      .body = p->body,
                                      .body_len = strlen(p->body),
                                      .timeout_ms = 10000};

        p->timer = sd_event_source_disable_unref(p->timer);
        p->attempts++;
        if (!p->d->http || http_submit(p->d->http, &o, on_response_url_done, p) < 0) {
                log_warning("slack: cannot answer a button: its response_url is not usable");
                response_post_free(p);
        }
}

/* Posts body (taken) to a click's response_url, Slack's way to answer a button. */
static void post_response_url(struct daemon *d, const char *url, char *body)
{
        struct response_post *p;

        if (!*url) {
                log_warning("slack: cannot answer a button: the click has no response_url");
                free(body);
                return;
        }
        p = xcalloc(1, sizeof(*p));
        p->d = d;
        p->url = xstrdup(url);
        p->body = body;
        p->next = d->response_posts;
        d->response_posts = p;
        response_post_send(p);
}

/* A verified button click: acknowledged at once (Slack wants 200 within 3 s); the message is
 * updated with who did what, or the clicker alone is told why not, through response_url. */
static void slack_button(struct daemon *d, const struct http_server_request *req,
                         const struct form *f, struct http_server_reply *r)
{
        const char *payload = form_get(f, "payload"), *why;
        struct slack_action a;
        bool ok;

        if (!payload || slack_action_parse(payload, strlen(payload), &a, &why) < 0) {
                log_warning("slack: %s from %s: %s", req->path, req->peer,
                            payload ? why : "no payload field");
                reply_text(r, 400, xasprintf("%s\n", payload ? why : "no payload field"));
                return;
        }
        char *text = slack_act(d, a.user, &a.cmd, &ok);
        post_response_url(d, a.response_url,
                          ok ? slack_action_update(a.blocks, text) : slack_action_ephemeral(text));
        free(text);
        slack_action_done(&a);
        r->status = 200;
        r->body = xstrdup("");
}

/* POST /slack/commands and /slack/actions: signed by Slack, or refused (401, logged without
 * the body). */
static void slack_request(struct daemon *d, const struct http_server_request *req,
                          struct http_server_reply *r)
{
        const char *sig = http_server_header(req, "X-Slack-Signature");
        usec_t now = now_realtime_usec();
        struct form f;
        const char *why;

        if (!d->slack_signing_secret) {
                reply_text(r, 404,
                           xstrdup("Slack interactivity is not configured "
                                   "(slack.signing_secret_file)\n"));
                return;
        }
        if (strcmp(req->method, "POST") != 0) {
                r->allow = "POST";
                reply_text(r, 405, xasprintf("%s takes POST\n", req->path));
                return;
        }
        if (slack_signature_check(
                d->slack_signing_secret, http_server_header(req, "X-Slack-Request-Timestamp"), sig,
                req->body, req->body_len, (int64_t)(now / USEC_PER_SEC), &why) < 0) {
                log_warning("slack: %s %s from %s refused: %s", req->method, req->path, req->peer,
                            why);
                reply_text(r, 401, xasprintf("%s\n", why));
                return;
        }
        if (form_parse(req->body, req->body_len, &f) < 0) {
                log_warning("slack: %s from %s: the body is not a valid form", req->path,
                            req->peer);
                reply_text(r, 400, xstrdup("the body is not application/x-www-form-urlencoded\n"));
                return;
        }
        if (slack_replayed(d, sig, now)) {
                log_notice("slack: %s from %s: a request already handled (a retry); not acted "
                           "on again",
                           req->path, req->peer);
                slack_answer(r, false, xstrdup("already handled"));
        } else if (strcmp(req->path, "/slack/actions") == 0) {
                slack_button(d, req, &f, r);
        } else {
                slack_command(d, &f, r);
        }
        form_free(&f);
}

static void on_request(const struct http_server_request *req, struct http_server_reply *r,
                       void *userdata)
{
        struct daemon *d = userdata;
        bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        bool known = strcmp(req->path, "/metrics") == 0 || strcmp(req->path, "/healthz") == 0 ||
                     strcmp(req->path, "/readyz") == 0;
        char why[512];

        if (strcmp(req->path, "/slack/commands") == 0 || strcmp(req->path, "/slack/actions") == 0) {
                slack_request(d, req, r);
                return;
        }
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
        while (d->response_posts)
                response_post_free(d->response_posts);
}
