/* Slack user groups' members for slack.approvers: one usergroups.users.list request per group,
 * one request at a time, at start and every SLACK_GROUPS_REFRESH_USEC (Tier 2: 20 a minute is
 * plenty). Each group has its own due time: a group whose read fails keeps the members it had (a
 * Slack outage does not lock approvers out) and is retried with its own backoff, never holding
 * up the others; 429 holds every group for Retry-After (the limit is per method). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/clock.h"
#include "canaryd/http.h"
#include "canaryd/slack-groups.h"
#include "canaryd/slack-interact.h"
#include "canaryd/util.h"

#define RETRY_MIN_USEC (5 * USEC_PER_SEC)
#define RETRY_MAX_USEC (5 * 60 * USEC_PER_SEC)
#define TIMER_ACCURACY (USEC_PER_SEC / 10)

struct group {
        char *id;       /* owned, S... */
        char **members; /* owned, sorted (bsearch) */
        size_t n_members;
        bool known;     /* read at least once */
        char *problem;  /* owned: why the last read failed, NULL when it worked */
        usec_t due;     /* CLOCK_MONOTONIC: when to read it next */
        usec_t backoff; /* after a failed read; 0: none */
};

struct slack_groups {
        sd_event *event;
        struct http_client *http; /* borrowed */
        char *url;                /* owned: {api_base}/usergroups.users.list */
        char *auth_header;        /* owned, a secret */
        struct group *groups;
        size_t n;
        size_t current; /* the group being read, while inflight */
        struct http_request *inflight;
        sd_event_source *timer; /* CLOCK_MONOTONIC: the next read */
        usec_t recheck_at;      /* monotonic: no early re-read before */
        slack_groups_read_fn read_cb;
        void *userdata;
};

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_next(struct slack_groups *g);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)s;
        (void)usec;
        read_next(userdata);
        return 0;
}

/* Arms the timer for the group due first. */
static void arm(struct slack_groups *g)
{
        usec_t at = USEC_INFINITY;

        for (size_t i = 0; i < g->n; i++)
                if (g->groups[i].due < at)
                        at = g->groups[i].due;
        if (!g->timer) {
                (void)sd_event_add_time(g->event, &g->timer, CLOCK_MONOTONIC, at, TIMER_ACCURACY,
                                        on_timer, g);
                return;
        }
        sd_event_source_set_time(g->timer, at);
        sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
}

static void set_problem(struct group *gr, char *problem /* owned */)
{
        free(gr->problem);
        gr->problem = problem;
}

/* Retry-After, 60 s when absent or not a number (Slack always sends it on 429), at most 1 h. */
static usec_t retry_after(const struct http_response *r)
{
        return http_retry_after(r, 60 * USEC_PER_SEC, 3600 * USEC_PER_SEC);
}

static void on_read(int error, const struct http_response *resp, const char *errmsg, void *userdata)
{
        struct slack_groups *g = userdata;
        struct group *gr = &g->groups[g->current];
        char **members = NULL, *err = NULL;
        size_t n = 0;
        usec_t now = now_monotonic_usec(), limited = 0;

        g->inflight = NULL;
        if (error == -ECANCELED)
                return;
        if (error < 0) {
                err = xasprintf("usergroups.users.list: %s", errmsg ? errmsg : strerror(-error));
        } else if (resp->status == 429) {
                limited = retry_after(resp);
        } else if (resp->status != 200) {
                err = xasprintf("usergroups.users.list: HTTP %ld", resp->status);
        } else if (slack_usergroup_users_parse(resp->body, resp->body_len, &members, &n, &err) ==
                   -EPERM) {
                char *name = err; /* Slack's error: missing_scope, no_such_subteam, ... */
                err = xasprintf("usergroups.users.list: %s", name);
                free(name);
        }
        if (limited) {
                /* the method's limit: nobody reads before it is over; nothing learnt */
                for (size_t i = 0; i < g->n; i++)
                        if (g->groups[i].due < now + limited)
                                g->groups[i].due = now + limited;
                arm(g);
                return;
        }
        if (err) {
                gr->backoff = gr->backoff ? gr->backoff * 2 : RETRY_MIN_USEC;
                if (gr->backoff > RETRY_MAX_USEC)
                        gr->backoff = RETRY_MAX_USEC;
                gr->due = now + gr->backoff;
        } else {
                qsort(members, n, sizeof(*members), cmp_str);
                slack_users_free(gr->members, gr->n_members);
                gr->members = members;
                gr->n_members = n;
                gr->known = true;
                gr->backoff = 0;
                gr->due = now + SLACK_GROUPS_REFRESH_USEC;
        }
        set_problem(gr, err);
        if (g->read_cb)
                g->read_cb(gr->id, gr->problem, g->userdata);
        arm(g);
}

/* Reads the group due first, if it is due. */
static void read_next(struct slack_groups *g)
{
        const char *headers[] = {g->auth_header, "Content-Type: application/x-www-form-urlencoded",
                                 NULL};
        usec_t now = now_monotonic_usec();
        size_t first = 0;
        char *body;
        int r;

        if (g->inflight || g->n == 0)
                return;
        for (size_t i = 1; i < g->n; i++)
                if (g->groups[i].due < g->groups[first].due)
                        first = i;
        if (g->groups[first].due > now) {
                arm(g);
                return;
        }
        g->current = first;
        body = xasprintf("usergroup=%s", g->groups[first].id); /* IDs are [A-Z0-9] */
        r = http_submit_handle(g->http,
                               &(struct http_request_opts){.method = "POST",
                                                           .url = g->url,
                                                           .headers = headers,
                                                           .body = body,
                                                           .body_len = strlen(body),
                                                           .timeout_ms = 10000,
                                                           .idempotent = true /* a read */},
                               on_read, g, &g->inflight);
        free(body);
        if (r < 0) {
                g->inflight = NULL;
                g->groups[first].due = now + RETRY_MIN_USEC;
                arm(g);
        }
}

int slack_groups_new(sd_event *event, struct http_client *http, const char *api_base,
                     const char *token, const char *const *groups, size_t n,
                     slack_groups_read_fn read_cb, void *userdata, struct slack_groups **ret)
{
        const char *base = api_base && *api_base ? api_base : "https://slack.com/api";
        size_t len = strlen(base);
        struct slack_groups *g;

        if (!token || !*token)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!slack_id_valid(groups[i], "S"))
                        return -EINVAL;
        while (len > 0 && base[len - 1] == '/')
                len--;
        g = xcalloc(1, sizeof(*g));
        g->event = sd_event_ref(event);
        g->http = http;
        g->url = xasprintf("%.*s/usergroups.users.list", (int)len, base);
        g->auth_header = xasprintf("Authorization: Bearer %s", token);
        g->groups = xcalloc(n + 1, sizeof(*g->groups));
        for (size_t i = 0; i < n; i++)
                g->groups[g->n++].id = xstrdup(groups[i]);
        g->read_cb = read_cb;
        g->userdata = userdata;
        read_next(g);
        *ret = g;
        return 0;
}

static const struct group *find(const struct slack_groups *g, const char *id)
{
        for (size_t i = 0; g && i < g->n; i++)
                if (strcmp(g->groups[i].id, id) == 0)
                        return &g->groups[i];
        return NULL;
}

enum slack_membership slack_groups_check(const struct slack_groups *g, const char *group,
                                         const char *user)
{
        const struct group *gr = find(g, group);

        if (!gr || !gr->known)
                return SLACK_MEMBERSHIP_UNKNOWN;
        return bsearch(&user, gr->members, gr->n_members, sizeof(*gr->members), cmp_str)
                   ? SLACK_MEMBER
                   : SLACK_NOT_MEMBER;
}

const char *slack_groups_problem(const struct slack_groups *g, const char *group)
{
        const struct group *gr = find(g, group);

        if (!gr)
                return "not among the groups read";
        if (gr->problem)
                return gr->problem;
        return gr->known ? NULL : "not read yet";
}

void slack_groups_recheck(struct slack_groups *g)
{
        usec_t now = now_monotonic_usec();

        if (!g || now < g->recheck_at)
                return;
        g->recheck_at = now + SLACK_GROUPS_RECHECK_USEC;
        /* the groups that read well, now; a failing one keeps its backoff */
        for (size_t i = 0; i < g->n; i++)
                if (!g->groups[i].backoff && g->groups[i].due > now)
                        g->groups[i].due = now;
        read_next(g);
}

struct slack_groups *slack_groups_free(struct slack_groups *g)
{
        if (!g)
                return NULL;
        if (g->inflight)
                http_cancel(g->http, g->inflight);
        sd_event_source_disable_unref(g->timer);
        for (size_t i = 0; i < g->n; i++) {
                free(g->groups[i].id);
                slack_users_free(g->groups[i].members, g->groups[i].n_members);
                free(g->groups[i].problem);
        }
        free(g->groups);
        free(g->url);
        free_secret(g->auth_header);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}
