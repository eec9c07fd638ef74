/* canaryd: the composition root. Parses flags, loads the config, wires the clients onto one
 * sd-event loop, answers the control socket, and stops gracefully (SPEC §2). */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "analysis.h"
#include "canaryd/clock.h"
#include "canaryd/config-load.h"
#include "canaryd/control.h"
#include "canaryd/datadog-events.h"
#include "canaryd/datadog.h"
#include "canaryd/files.h"
#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/log.h"
#include "canaryd/slack-groups.h"
#include "canaryd/slack.h"
#include "commands.h"
#include "control-log.h"
#include "datadog-key.h"
#include "dd-events.h"
#include "deployment-trigger.h"
#include "driver.h"
#include "endpoint.h"
#include "env-secrets.h"
#include "ha.h"
#include "metrics.h"
#include "pager.h"
#include "report-writer.h"
#include "status.h"
#include "vs-watch.h"

#define DEFAULT_CONFIG "/etc/canaryd/canaryd.yaml"
#define SECRET_MAX     (64 * 1024)
#define STOP_DEADLINE  (8 * USEC_PER_SEC)
/* sysexits.h's EX_CONFIG: the unit's RestartPreventExitStatus= names it (canaryd(8)). */
#define EXIT_CONFIG 78

static void usage(FILE *f)
{
        fprintf(f, "Usage: canaryd [--config PATH] [--check-config] [--version] [--help]\n"
                   "\n"
                   "Drives Istio canary releases from Datadog metrics (see canaryd(8)).\n"
                   "  -c, --config PATH   configuration file (default " DEFAULT_CONFIG ")\n"
                   "      --check-config  validate the configuration and exit: 0 valid, 2 not\n"
                   "  -V, --version       print the version and exit\n"
                   "  -h, --help          print this help and exit\n");
}

/* Logs every problem as "<prefix>FILE:LINE:COLUMN: message", with CONFIG_FILE=, CONFIG_LINE=
 * and CONFIG_COLUMN= in the journal (as systemd's log_syntax). */
static void log_config_problems(const char *prefix, const char *path,
                                const struct config_problems *problems)
{
        for (size_t i = 0; i < problems->n; i++) {
                const struct config_problem *p = &problems->items[i];
                const char *file = config_problem_file(p, path);
                char *fields[3] = {xasprintf("CONFIG_FILE=%s", file),
                                   xasprintf("CONFIG_LINE=%u", p->line),
                                   xasprintf("CONFIG_COLUMN=%u", p->column)};
                const char *const extra[] = {fields[0], fields[1], fields[2], NULL};
                log_fields_full(LOG_ERR,
                                &(struct log_fields){.step = -1, .weight = -1, .extra = extra},
                                "%s%s:%u:%u: %s", prefix, file, p->line, p->column, p->message);
                for (size_t k = 0; k < ELEMENTSOF(fields); k++)
                        free(fields[k]);
        }
}

/* A group name, else a number, as control.group and control.read_group take them: 0, or
 * -ENOENT when there is no such group. */
static int lookup_group(const char *name, gid_t *ret)
{
        char *end = NULL;
        errno = 0;
        unsigned long num = strtoul(name, &end, 10);
        struct group *g = getgrnam(name);
        if (g)
                *ret = g->gr_gid;
        else if (*name && end && !*end && errno == 0 && num < (unsigned long)(gid_t)-1)
                *ret = (gid_t)num;
        else
                return -ENOENT;
        return 0;
}

/* --check-config: a group this host does not know is worth a warning, not an error (the file
 * may be checked on another host than the one it is for); the daemon would not start here. */
static void check_group(const char *path, const char *key, const char *name, unsigned line,
                        unsigned column)
{
        gid_t gid;
        if (name && lookup_group(name, &gid) < 0)
                fprintf(stderr,
                        "%s:%u:%u: warning: %s: no group named '%s' on this host; canaryd would "
                        "not start here\n",
                        path, line, column, key, name);
}

static int check_config(const char *path)
{
        struct config *cfg = NULL;
        struct config_problems problems = {0};
        int r = config_load(path, &cfg, &problems);
        if (r < 0) {
                config_problems_print(&problems, path, stderr);
                config_problems_free(&problems);
                return 2;
        }
        check_group(path, "control.group", cfg->control.group, cfg->control.group_line,
                    cfg->control.group_column);
        check_group(path, "control.read_group", cfg->control.read_group,
                    cfg->control.read_group_line, cfg->control.read_group_column);
        printf("%s: valid, %zu %s\n", path, cfg->n_canaries,
               cfg->n_canaries == 1 ? "canary" : "canaries");
        config_problems_free(&problems);
        config_free(cfg);
        return 0;
}

/* A relative path in the config is relative to the config file's directory. Caller owns it. */
static char *config_relative(const struct daemon *d, const char *path)
{
        return config_resolve_path(d->config_path, path);
}

/* The kubeconfig may be a credential (LoadCredential=kubeconfig:..., so that it can stay
 * root-only): a relative name that exists in $CREDENTIALS_DIRECTORY is taken from there, any
 * other relative name from the config file's directory. Caller owns the result (NULL: none). */
static char *kubeconfig_path(const struct daemon *d, const char *path)
{
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        if (path && path[0] != '/' && creds && *creds) {
                char *p = xasprintf("%s/%s", creds, path);
                if (access(p, F_OK) == 0)
                        return p;
                free(p);
        }
        return config_relative(d, path);
}

/* Secrets come from files; a relative path is resolved against $CREDENTIALS_DIRECTORY
 * (systemd LoadCredential=), else against the config file's directory. The value is trimmed of
 * surrounding whitespace. Returns NULL (and logs the path, never the content) on failure. */
static char *read_secret(const struct daemon *d, const char *file, const char *what)
{
        char *path;
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        if (file[0] == '/') {
                path = xstrdup(file);
        } else if (creds && *creds) {
                path = xasprintf("%s/%s", creds, file);
        } else {
                path = config_relative(d, file);
        }
        char *value = NULL;
        int r = read_file(path, SECRET_MAX, &value, NULL);
        if (r < 0) {
                log_errno(LOG_ERR, r, "cannot read %s from %s: %m", what, path);
                free(path);
                return NULL;
        }
        free(path);
        char *start = value;
        while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
                start++;
        size_t n = strlen(start);
        while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t' || start[n - 1] == '\n' ||
                         start[n - 1] == '\r'))
                n--;
        char *secret = xstrndup(start, n);
        explicit_bzero(value, strlen(value));
        free(value);
        if (!*secret) {
                log_error("%s file %s is empty", what, file);
                free(secret);
                return NULL;
        }
        return secret;
}

static char *secret_or_env(const struct daemon *d, const char *file, const char *env,
                           const char *what)
{
        if (file)
                return read_secret(d, file, what);
        /* taken out of the environment at start (env-secrets.c), kept for reloads */
        const char *v = strcmp(env, "DD_API_KEY") == 0 ? d->env_secret[0] : d->env_secret[1];
        if (v && *v)
                return xstrdup(v);
        log_error("no %s: set datadog.%s_file or $%s", what,
                  strcmp(env, "DD_API_KEY") == 0 ? "api_key" : "app_key", env);
        return NULL;
}

static void clients_free(struct daemon *d)
{
        /* the scheduler must not reach the Datadog client any more, until the next one */
        if (d->sched)
                analysis_sched_set_client(d->sched, NULL, 0);
        if (d->key)
                datadog_key_check(d->key, NULL);
        datadog_events_set_client(d->dd_events, NULL);
        metrics_keep_slack_counts(d);
        d->datadog = datadog_client_free(d->datadog);
        d->slack = slack_client_free(d->slack);
        d->pager = pager_free(d->pager);
        d->slack_groups = slack_groups_free(d->slack_groups);
        free_secret(d->slack_signing_secret);
        d->slack_signing_secret = NULL;
        d->kube = kube_client_free(d->kube);
}

/* A read of a Slack user group's members ended: a problem is said when it appears or changes,
 * and once more when the group is read again. */
static void slack_group_read(const char *group, const char *problem, void *userdata)
{
        struct daemon *d = userdata;
        char **said = &d->slack_group_problem;

        if (problem && (!*said || strcmp(*said, problem) != 0)) {
                log_warning("slack: cannot read the members of user group %s (slack.approvers): "
                            "%s; its members may act only once it is read",
                            group, problem);
                free(*said);
                *said = xstrdup(problem);
        } else if (!problem && *said) {
                log_notice("slack: user group %s read again", group);
                *said = (free(*said), NULL);
        }
}

/* Reads the members of the user groups (S...) in slack.approvers, with the bot token. */
static void slack_groups_start(struct daemon *d, const struct config *cfg, const char *token)
{
        const char **ids = NULL;
        size_t n = 0;

        for (size_t i = 0; i < cfg->slack.n_approvers; i++)
                for (size_t k = 0; k < cfg->slack.approvers[i].n_ids; k++) {
                        const char *id = cfg->slack.approvers[i].ids[k];
                        bool seen = false;
                        for (size_t j = 0; j < n && !seen; j++)
                                seen = strcmp(ids[j], id) == 0;
                        if (id[0] != 'S' || seen)
                                continue;
                        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
                        ids[n++] = id;
                }
        if (n && token && cfg->slack.signing_secret_file &&
            slack_groups_new(d->event, d->http, cfg->slack.url, token, ids, n, slack_group_read, d,
                             &d->slack_groups) < 0)
                log_error("slack: cannot read the user groups of slack.approvers");
        free(ids);
}

static void slack_dropped(const char *key, const char *reason, void *userdata)
{
        log_warning("slack: message %s not delivered: %s", key ? key : "(parent update)", reason);
}

/* Debug only: under a backlog of thousands of canaries a line per folded event is noise; it
 * answers "where did that reply go" when looking for it. */
static void slack_folded(const char *key, const char *into, void *userdata)
{
        log_debug("slack: message %s folded into %s (backlog)", key ? key : "(no key)", into);
}

/* The Datadog client, with the keys from their files or the environment. */
static int clients_new_datadog(struct daemon *d, const struct config *cfg)
{
        int r = -EINVAL;
        char *api_key =
            secret_or_env(d, cfg->datadog.api_key_file, "DD_API_KEY", "Datadog API key");
        char *app_key =
            secret_or_env(d, cfg->datadog.app_key_file, "DD_APP_KEY", "Datadog application key");
        char *base =
            cfg->datadog.url ? xstrdup(cfg->datadog.url) : datadog_site_url(cfg->datadog.site);

        if (api_key && app_key && base) {
                struct datadog_settings ds = {
                    .base_url = base,
                    .api_key = api_key,
                    .app_key = app_key,
                    .api = cfg->datadog.api,
                    .timeout_ms = (long)(cfg->datadog.timeout_usec / USEC_PER_MSEC),
                };
                r = datadog_client_new(d->http, &ds, &d->datadog);
                if (r < 0)
                        log_error_errno(r, "cannot create the Datadog client: %m");
                else
                        datadog_client_set_tally(d->datadog, &d->metrics.datadog);
        }
        free_secret(api_key);
        free_secret(app_key);
        free(base);
        return r;
}

/* The Kubernetes client, from the kubeconfig (or in-cluster). */
static int clients_new_kube(struct daemon *d, const struct config *cfg)
{
        char *kubeconfig = kubeconfig_path(d, cfg->kubernetes.kubeconfig), *err = NULL;
        int r = kube_client_new(d->event, d->http, kubeconfig, cfg->kubernetes.context,
                                (long)(cfg->datadog.timeout_usec / USEC_PER_MSEC), &d->kube, &err);

        if (r < 0) {
                log_error("kubernetes: %s", err ? err : strerror(-r));
                goto out;
        }
        kube_client_set_tally(d->kube, &d->metrics.kube);
        if (d->ha)
                kube_client_set_identity(d->kube, ha_identity(d));
        /* NULL ("auto"): discovered before the first VirtualService request */
        kube_client_set_vs_version(d->kube, cfg->kubernetes.virtual_service_version);
        if (kube_client_insecure(d->kube))
                log_warning("WARNING: the kubeconfig sets insecure-skip-tls-verify: the "
                            "Kubernetes API server's certificate is NOT verified, and anyone on "
                            "the path can read the credentials and rewrite VirtualServices");
        log_info("kubernetes: %s, authentication: %s", kubeconfig ? kubeconfig : "in-cluster",
                 kube_client_auth_kind(d->kube));
out:
        free(err);
        free(kubeconfig);
        return r;
}

/* The Slack client, when cfg has a webhook or a bot token; none otherwise. */
static int clients_new_slack(struct daemon *d, const struct config *cfg)
{
        char *webhook = NULL, *token = NULL;
        int r = -EINVAL;

        if (!cfg->slack.webhook_url_file && !cfg->slack.token_file)
                return 0;
        /* with both, the bot token is used and the webhook file is not read */
        if (cfg->slack.webhook_url_file && !cfg->slack.token_file &&
            !(webhook = read_secret(d, cfg->slack.webhook_url_file, "Slack webhook URL")))
                goto out;
        if (cfg->slack.token_file &&
            !(token = read_secret(d, cfg->slack.token_file, "Slack token")))
                goto out;
        char *outbox = cfg->state_dir ? xasprintf("%s/slack-outbox.json", cfg->state_dir) : NULL;
        char *warning = NULL;
        struct slack_settings ss = {
            .webhook_url = webhook,
            .token = token,
            .channel = cfg->slack.channel,
            .severity_channels = {cfg->slack.channel_info, cfg->slack.channel_warn,
                                  cfg->slack.channel_error},
            .mention = cfg->slack.mention,
            .api_base_url = cfg->slack.url,
            .outbox_path = outbox,
            .timeout_ms = 10000,
        };
        r = slack_client_new_full(d->event, d->http, &ss, &d->slack, &warning);
        free(outbox);
        if (warning) {
                log_warning("slack: outbox unreadable, set aside as *.broken: %s", warning);
                free(warning);
        }
        if (r < 0) {
                log_error_errno(r, "cannot create the Slack client: %m");
                goto out;
        }
        slack_set_failed_callback(d->slack, slack_dropped, d);
        slack_set_folded_callback(d->slack, slack_folded, d);
        slack_groups_start(d, cfg, token);
out:
        free_secret(webhook);
        free_secret(token);
        return r;
}

/* PagerDuty, when cfg has it: the routing key from its file, and the outbox in state_dir. */
static int clients_new_pager(struct daemon *d, const struct config *cfg)
{
        char *key;
        int r;

        if (!cfg->pagerduty.routing_key_file)
                return 0;
        key = read_secret(d, cfg->pagerduty.routing_key_file, "PagerDuty routing key");
        if (!key)
                return -EINVAL;
        r = pager_new(d, key, &d->pager);
        free_secret(key);
        if (r < 0)
                log_error_errno(r, "cannot set up PagerDuty: %m");
        return r;
}

/* Builds the Datadog, Kubernetes and Slack clients for cfg, and reads the Slack signing secret.
 * On failure none is left. */
static int clients_new(struct daemon *d, const struct config *cfg)
{
        int r = clients_new_datadog(d, cfg);
        if (r >= 0)
                r = clients_new_kube(d, cfg);
        if (r >= 0)
                r = clients_new_slack(d, cfg);
        if (r >= 0)
                r = clients_new_pager(d, cfg);
        if (r >= 0 && cfg->slack.signing_secret_file &&
            !(d->slack_signing_secret =
                  read_secret(d, cfg->slack.signing_secret_file, "Slack signing secret")))
                r = -EINVAL;
        if (r < 0) {
                clients_free(d);
                return r;
        }
        return 0;
}

static void canaries_free(struct daemon *d)
{
        vs_watches_stop(d);
        deployment_watches_stop(d);
        for (size_t i = 0; i < d->n_canaries; i++)
                canary_done(&d->canaries[i]);
        free(d->canaries);
        d->canaries = NULL;
        d->n_canaries = 0;
}

/* A canary's /metrics counters across a reload, by name. */
struct kept_counts {
        char *name; /* owned */
        struct canary_counts counts;
};

static int kept_counts_cmp(const void *a, const void *b)
{
        return strcmp(((const struct kept_counts *)a)->name, ((const struct kept_counts *)b)->name);
}

static struct kept_counts *counts_keep(const struct daemon *d)
{
        struct kept_counts *k = d->n_canaries ? xcalloc(d->n_canaries, sizeof(*k)) : NULL;

        for (size_t i = 0; i < d->n_canaries; i++) { /* k is zeroed: counts 0 without /metrics */
                k[i].name = xstrdup(d->canaries[i].cfg->name);
                if (d->counts)
                        k[i].counts = d->counts[i];
        }
        if (k)
                qsort(k, d->n_canaries, sizeof(*k), kept_counts_cmp);
        return k;
}

static void counts_restore(struct daemon *d, struct kept_counts *k, size_t n)
{
        free(d->counts);
        d->counts =
            d->http_server && d->n_canaries ? xcalloc(d->n_canaries, sizeof(*d->counts)) : NULL;
        for (size_t i = 0; i < d->n_canaries && k; i++) {
                struct kept_counts key = {.name = (char *)d->canaries[i].cfg->name};
                const struct kept_counts *found = bsearch(&key, k, n, sizeof(*k), kept_counts_cmp);
                if (found && d->counts)
                        d->counts[i] = found->counts;
        }
        for (size_t i = 0; i < n; i++)
                free(k[i].name);
        free(k);
}

/* What in cfg's Slack interactivity will not work as written: said once per load. */
static void warn_slack_interactivity(const struct config *cfg)
{
        const char *secret = cfg->slack.signing_secret_file;

        if (cfg->slack.n_approvers && !secret)
                log_warning("slack.approvers is set but slack.signing_secret_file is not: Slack "
                            "requests are refused, nobody can act from Slack");
        if (secret && !cfg->http.listen)
                log_warning("slack.signing_secret_file is set but http.listen is not: Slack cannot "
                            "reach /slack/commands or /slack/actions (unless systemd passes a "
                            "TCP socket)");
        for (size_t i = 0; i < cfg->slack.n_approvers; i++)
                for (size_t k = 0; k < cfg->slack.approvers[i].n_ids; k++)
                        if (cfg->slack.approvers[i].ids[k][0] == 'S' && !cfg->slack.token_file)
                                log_warning("slack.approvers.%s: %s is a user group, read with "
                                            "the bot token (usergroups.users.list), but "
                                            "slack.token_file is not set: it lets no one act",
                                            cfg->slack.approvers[i].canary,
                                            cfg->slack.approvers[i].ids[k]);
}

/* Takes ownership of cfg. Canaries start by reading their state from the cluster. */
static int apply_config(struct daemon *d, struct config *cfg)
{
        struct config *old = d->config;
        size_t n_kept = d->n_canaries;
        struct kept_counts *kept = counts_keep(d);
        canaries_free(d);
        clients_free(d);
        d->config = cfg;
        int r = clients_new(d, cfg);
        if (r < 0) {
                d->config = old;
                counts_restore(d, kept, n_kept); /* frees them */
                return r;
        }
        config_free(old);
        d->canaries = xcalloc(cfg->n_canaries, sizeof(*d->canaries));
        d->n_canaries = cfg->n_canaries;
        for (size_t i = 0; i < cfg->n_canaries; i++) {
                r = canary_init(&d->canaries[i], d, &cfg->canaries[i]);
                if (r < 0) {
                        /* cfg is in force already (the old one is freed): a canary that cannot
                         * be set up (out of memory; names were validated) ends the daemon, and
                         * systemd starts it again */
                        log_error_errno(r, "canary %s: cannot set up: %m; exiting",
                                        cfg->canaries[i].name);
                        d->n_canaries = i;
                        counts_restore(d, kept, n_kept);
                        sd_event_exit(d->event, 1);
                        return 0;
                }
        }
        counts_restore(d, kept, n_kept);
        warn_slack_interactivity(cfg);
        /* watches first: each canary's first read then waits for its namespace's LIST instead
         * of sending a GET of its own (10,000 canaries: 10,000 requests at once) */
        vs_watches_start(d, &canary_vs_watch_callbacks);
        deployment_watches_start(d);
        for (size_t i = 0; i < d->n_canaries; i++)
                canary_submit(&d->canaries[i], &(struct rollout_event){.kind = EV_TICK});
        analysis_sched_set_client(d->sched, d->datadog, d->n_canaries);
        datadog_events_set_client(d->dd_events, d->datadog);
        datadog_key_check(d->key, d->stopping ? NULL : d->datadog);
        status_notify(d);
        return 0;
}

/* The API key check's verdict shows in STATUS= (status.c). */
static void on_key_changed(void *userdata)
{
        status_notify(userdata);
}

static int canary_cmp(const void *a, const void *b)
{
        return strcmp((*(const struct canary *const *)a)->cfg->name,
                      (*(const struct canary *const *)b)->cfg->name);
}

static int canary_config_cmp(const void *a, const void *b)
{
        return strcmp((*(const struct canary_config *const *)a)->name,
                      (*(const struct canary_config *const *)b)->name);
}

/* A removed canary is only forgotten: nothing is written to its VirtualService, which keeps
 * whatever weights and state it has (a rollout in progress stays where it is until a daemon
 * drives it again). Said in the log, with where it was left. The old and new canaries are
 * sorted by name and merged: a reload of 10,000 canaries does not compare every pair. */
static void log_reload_changes(const struct daemon *d, const struct config *cfg)
{
        size_t n_old = d->n_canaries, n_new = cfg->n_canaries;
        const struct canary **old = xmalloc((n_old + 1) * sizeof(*old));
        const struct canary_config **new = xmalloc((n_new + 1) * sizeof(*new));
        for (size_t i = 0; i < n_old; i++)
                old[i] = &d->canaries[i];
        for (size_t k = 0; k < n_new; k++)
                new[k] = &cfg->canaries[k];
        if (n_old > 1)
                qsort(old, n_old, sizeof(*old), canary_cmp);
        if (n_new > 1)
                qsort(new, n_new, sizeof(*new), canary_config_cmp);

        for (size_t i = 0, k = 0; i < n_old || k < n_new;) {
                int c = i == n_old ? 1 : k == n_new ? -1 : strcmp(old[i]->cfg->name, new[k]->name);
                if (c == 0) {
                        i++, k++;
                } else if (c > 0) {
                        log_notice("reload: canary %s added; reading its VirtualService %s/%s",
                                   new[k]->name, new[k]->namespace_, new[k]->virtual_service);
                        k++;
                } else {
                        const struct canary *r = old[i++];
                        log_notice("reload: canary %s removed from the configuration; "
                                   "VirtualService %s/%s left untouched at phase %s, canary "
                                   "weight %u%%",
                                   r->cfg->name, r->cfg->namespace_, r->cfg->virtual_service,
                                   r->loaded ? rollout_phase_to_string(r->state.phase) : "Unknown",
                                   r->state.weight);
                }
        }
        free(old);
        free(new);
}

/* ha: settings that decide who owns what: a change needs a handover (on_reload_defer). */
static bool ha_settings_equal(const struct config *a, const struct config *b)
{
        if (a->ha.enabled != b->ha.enabled)
                return false;
        return !a->ha.enabled ||
               (streq_ptr(a->ha.namespace_, b->ha.namespace_) && a->ha.shards == b->ha.shards &&
                a->ha.lease_duration_usec == b->ha.lease_duration_usec);
}

/* Every shard Lease and the member Lease are released (ha_release_all): the reload goes on
 * from the loop, never from inside ha.c's callback, which still holds the ha. */
static void ha_handed_over(struct daemon *d)
{
        d->ha_handed_over = true;
        if (d->reload_defer)
                sd_event_source_set_enabled(d->reload_defer, SD_EVENT_ONESHOT);
}

/* Applies the configuration parsed at SIGHUP (taken). Runs from the loop with nothing in flight. */
static void reload_apply(struct daemon *d, struct config *cfg)
{
        const char *was = d->config->http.listen, *now = cfg->http.listen;

        log_reload_changes(d, cfg);
        if ((was || now) && (!was || !now || strcmp(was, now) != 0))
                log_warning("reload: http.listen changed (%s -> %s); the HTTP endpoint keeps "
                            "its socket until a restart",
                            was ? was : "none", now ? now : "none");
        if (!streq_ptr(d->config->control.group, cfg->control.group) ||
            !streq_ptr(d->config->control.read_group, cfg->control.read_group))
                log_warning("reload: control.group or control.read_group changed; the control "
                            "socket keeps its group and who may do what until a restart");
        if (apply_config(d, cfg) < 0) {
                log_error("reload refused: the new configuration's clients could not be "
                          "created; keeping the old one");
                config_free(cfg);
                /* restore the old canaries on the old config */
                struct config *keep = d->config;
                d->config = NULL;
                if (apply_config(d, keep) < 0)
                        log_error("could not restore the previous configuration");
        } else {
                log_notice("configuration reloaded: %zu canaries", d->n_canaries);
        }
        /* after a handover, or with ha: newly added: the shards of the configuration in force */
        if (d->config && d->config->ha.enabled && !d->ha &&
            ha_new(d, canaries_shard_changed, &d->ha) < 0)
                log_error("reload: cannot start the shard leases; this daemon acts for no "
                          "canary until a restart");
}

static int on_reload_defer(sd_event_source *s, void *userdata)
{
        struct daemon *d = userdata;
        struct config *cfg = d->reload_config;

        if (d->ha_handed_over) {
                d->ha = ha_free(d->ha);
                d->ha_handover = d->ha_handed_over = false;
                if (d->stopping) { /* a stop came during the handover: nothing is held now */
                        sd_event_exit(d->event, 0);
                        return 0;
                }
        }
        if (d->stopping || !cfg || daemon_busy(d) || d->ha_handover)
                return 0; /* daemon_maybe_finish() comes back when the last request ends */
        if (d->ha && !ha_settings_equal(d->config, cfg)) {
                /* Who owns which canary changes: nothing is written until every Lease is
                 * released (the other daemons take the shards over at once), then the new
                 * settings start afresh. Without it two settings could drive one canary. */
                log_notice("reload: ha: changed; releasing every shard lease first");
                d->ha_handover = true;
                ha_release_all(d->ha, ha_handed_over);
                return 0;
        }
        d->reload_config = NULL;
        d->reload_pending = false;
        reload_apply(d, cfg);
        return 0;
}

/* SIGHUP: the file is parsed now (an invalid one is refused at once and changes nothing); the
 * new configuration is applied from the loop once no request is in flight. Meanwhile no new
 * cycle starts. Never applied from inside a callback: a reload frees the canaries, the clients
 * and the watches that callbacks may still be iterating. */
static void daemon_maybe_finish(struct daemon *d);

static void daemon_reload(struct daemon *d)
{
        struct config *cfg = NULL;
        struct config_problems problems = {0};

        if (d->stopping)
                return;
        if (config_load(d->config_path, &cfg, &problems) < 0) {
                log_config_problems("reload refused: ", d->config_path, &problems);
                config_problems_free(&problems);
                return;
        }
        config_problems_free(&problems);
        if (d->reload_config)
                config_free(d->reload_config); /* a newer file replaces one still waiting */
        d->reload_config = cfg;
        d->reload_pending = true;
        if (daemon_busy(d))
                log_info("reload: waiting for the requests in flight");
        vs_watches_unpark(d); /* reads waiting for a first LIST stop waiting */
        daemon_maybe_finish(d);
}

static void leases_released(struct daemon *d)
{
        sd_event_exit(d->event, 0);
}

static void daemon_maybe_finish(struct daemon *d)
{
        if (d->stopping) {
                if (daemon_busy(d) || d->ha_handover)
                        return; /* a handover ends in on_reload_defer, which exits */
                if (d->ha)      /* release our shard Leases first (client-go ReleaseOnCancel) */
                        ha_release_all(d->ha, leases_released);
                else
                        sd_event_exit(d->event, 0);
                return;
        }
        if (d->reload_pending && !daemon_busy(d) && d->reload_defer)
                sd_event_source_set_enabled(d->reload_defer, SD_EVENT_ONESHOT);
}

/* driver.c's daemon_idle_check(): a request ended; the stop or reload may go ahead now. */
static int on_idle_defer(sd_event_source *s, void *userdata)
{
        (void)s;
        daemon_maybe_finish(userdata);
        return 0;
}

static struct canary *find_canary(struct daemon *d, const char *name)
{
        for (size_t i = 0; name && i < d->n_canaries; i++)
                if (strcmp(d->canaries[i].cfg->name, name) == 0)
                        return &d->canaries[i];
        return NULL;
}

/* The refusal of a command for a canary the configuration does not have: it names it (a typo
 * shows). Owned. */
static char *no_such_canary(const char *name)
{
        return xasprintf("no such canary \"%s\"", name ? name : "");
}

/* `history NAME`: the decision journal of the canary's latest rollout (docs/journal.md). Read
 * from state_dir here, so canaryctl needs no access to it. A removed canary's journal is still
 * served. The reply, or NULL with *ret_why (owned) when refused. */
static char *control_history(struct daemon *d, const struct control_request *req, char **ret_why)
{
        char *text = NULL, *json = NULL;
        size_t len = 0;
        int r = journal_read(d->config->state_dir, req->name, &text, &len);
        if (r < 0) {
                *ret_why = xasprintf("cannot read the decision journal: %s", strerror(-r));
                return NULL;
        }
        if (len == 0 && !find_canary(d, req->name)) {
                free(text);
                *ret_why = no_such_canary(req->name);
                return NULL;
        }
        journal_history_select(text, len, req->name, req->all, &json);
        free(text);
        char *reply = control_reply_history(NULL, json);
        free(json);
        return reply;
}

/* `report NAME [--rollout ID]`: the saved report of that (or the latest) rollout, or one built
 * from the journal for a rollout still running (docs/reports.md). A removed canary's reports
 * are still served. The reply, or NULL with *ret_why (owned) when refused. */
static char *control_report(struct daemon *d, const struct control_request *req, char **ret_why)
{
        char *json = NULL, *error = NULL;
        int r = report_lookup(d->config->state_dir, req->name, req->rollout, &json, &error);
        if (r == -ENOENT && !req->rollout && !find_canary(d, req->name)) {
                free(error);
                *ret_why = no_such_canary(req->name);
                return NULL;
        }
        if (r < 0) {
                *ret_why = error ? error : xstrdup("cannot read the report");
                return NULL;
        }
        char *reply = control_reply_report(NULL, json);
        free(json);
        return reply;
}

/* A refused request: logged with its peer (rate-limited), answered with code and why. */
static char *control_refuse(struct daemon *d, const struct control_request *req,
                            const struct control_peer *peer, int code, const char *why)
{
        struct journal_peer jp = {.uid = peer->uid, .gid = peer->gid, .pid = peer->pid};
        control_refusal_log(d, control_command_to_string(req->command), req->name, &jp, why);
        return control_reply_error(code, why);
}

/* control_refuse() with code 1 and a reason it frees. */
static char *control_refuse_owned(struct daemon *d, const struct control_request *req,
                                  const struct control_peer *peer, char *why)
{
        char *reply = control_refuse(d, req, peer, 1, why);
        free(why);
        return reply;
}

/* The control server's word on a request it refused before on_control (malformed, too long,
 * no line in time, no credentials). */
static void on_control_refused(const struct control_peer *peer, const char *why, void *userdata)
{
        struct journal_peer jp;
        if (peer)
                jp = (struct journal_peer){.uid = peer->uid, .gid = peer->gid, .pid = peer->pid};
        control_refusal_log(userdata, NULL, NULL, peer ? &jp : NULL, why);
}

static char *on_control(const struct control_request *req, const struct control_peer *peer,
                        void *userdata)
{
        struct daemon *d = userdata;
        struct control_credentials who = {
            .uid = peer->uid,
            .gid = peer->gid,
            .groups = peer->groups,
            .n_groups = peer->n_groups,
            .groups_known = peer->groups_known,
        };
        /* Before anything else, the canary's existence included: a refused peer learns
         * nothing and leaves nothing in the canary's journal. */
        const char *denied = control_access_check(&d->control_access, req->command, &who);
        if (denied)
                return control_refuse(d, req, peer, CONTROL_CODE_DENIED, denied);

        if (req->command == CONTROL_STATUS) {
                if (req->name && !find_canary(d, req->name))
                        return control_refuse_owned(d, req, peer, no_such_canary(req->name));
                char *status = status_json(d, req->name);
                char *reply = control_reply_ok(NULL, status);
                free(status);
                return reply;
        }
        if (req->command == CONTROL_HISTORY || req->command == CONTROL_REPORT) {
                char *why = NULL;
                char *reply = req->command == CONTROL_HISTORY ? control_history(d, req, &why)
                                                              : control_report(d, req, &why);
                if (why) {
                        free(reply);
                        reply = control_refuse(d, req, peer, 1, why);
                        free(why);
                }
                return reply;
        }
        struct canary *c = find_canary(d, req->name);
        if (!c)
                return control_refuse_owned(d, req, peer, no_such_canary(req->name));

        static const enum rollout_event_kind kinds[_CONTROL_COMMAND_MAX] = {
            [CONTROL_START] = EV_CMD_START,     [CONTROL_PROMOTE] = EV_CMD_PROMOTE,
            [CONTROL_ABORT] = EV_CMD_ABORT,     [CONTROL_PAUSE] = EV_CMD_PAUSE,
            [CONTROL_RESUME] = EV_CMD_RESUME,   [CONTROL_RETRY] = EV_CMD_RETRY,
            [CONTROL_APPROVE] = EV_CMD_APPROVE,
        };
        char actor[32];
        snprintf(actor, sizeof(actor), "uid:%u", (unsigned)peer->uid);
        struct rollout_event ev = {
            .kind = kinds[req->command],
            .full = req->full,
            .revision = req->revision,
            .reason = req->reason,
            .actor = actor,
        };
        struct journal_peer jp = {.uid = peer->uid, .gid = peer->gid, .pid = peer->pid};
        const char *refused = canary_command_refused(c, &ev, NULL, &jp);
        if (refused)
                return control_refuse(d, req, peer, 1, refused);
        log_canary(LOG_NOTICE, c, NULL, NULL, "%s requested by %s (gid %u, pid %d)",
                   control_command_to_string(req->command), actor, (unsigned)peer->gid,
                   (int)peer->pid);
        /* The reply waits for the decision (bounded): it says what was done, or why not. */
        bool deferred = control_server_defer(d->control, peer->id) >= 0;
        canary_submit_command(c, &ev, deferred ? peer->id : 0, &jp);
        if (deferred)
                return NULL;
        char *msg =
            xasprintf("%s %s: accepted", control_command_to_string(req->command), c->cfg->name);
        char *reply = control_reply_ok(msg, NULL);
        free(msg);
        return reply;
}

static int on_stop_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct daemon *d = userdata;
        log_warning("stop deadline reached with a Kubernetes request still in flight; exiting "
                    "(the state on the VirtualService is whatever that request left)");
        sd_event_exit(d->event, 0);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct daemon *d = userdata;
        if (si->ssi_signo == SIGHUP) {
                sd_notify(0, "RELOADING=1");
                log_notice("SIGHUP: reloading %s", d->config_path);
                daemon_reload(d);
                sd_notify(0, "READY=1");
                return 0;
        }
        if (d->stopping)
                return 0;
        log_notice("%s: stopping", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        sd_notify(0, "STOPPING=1");
        d->stopping = true;
        datadog_key_check(d->key, NULL);
        for (size_t i = 0; i < d->n_canaries; i++)
                analysis_cancel(&d->canaries[i].analysis);
        vs_watches_stop(d);
        deployment_watches_stop(d);
        sd_event_add_time_relative(d->event, NULL, CLOCK_MONOTONIC, STOP_DEADLINE,
                                   100 * USEC_PER_MSEC, on_stop_deadline, d);
        daemon_maybe_finish(d);
        return 0;
}

/* The socket systemd passed for the control socket (unix) or the HTTP endpoint (TCP), or -1.
 * The first call takes them all from the environment. */
static int passed_socket(bool unix_socket)
{
        static int n = -1;

        if (n < 0)
                n = sd_listen_fds(1);
        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
                if (unix_socket ? sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0
                                : sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0)
                        return fd;
        }
        return -1;
}

static int resolve_group(const char *key, const char *name, gid_t *ret)
{
        int r = lookup_group(name, ret);
        if (r < 0)
                log_error("%s: no group named '%s'", key, name);
        return r;
}

/* Who may do what (control-access.h): with control.read_group, the socket belongs to that
 * group so that its members can connect, and only operators (root, our uid, control.group,
 * by default our own group) may send anything that changes a rollout. *ret_socket_group is the
 * socket's group ((gid_t)-1: ours). */
static int control_access_resolve(struct daemon *d, gid_t *ret_socket_group)
{
        const struct config *cfg = d->config;
        gid_t group = (gid_t)-1, read_group = (gid_t)-1;
        int r;

        if (cfg->control.group &&
            (r = resolve_group("control.group", cfg->control.group, &group)) < 0)
                return r;
        if (cfg->control.read_group &&
            (r = resolve_group("control.read_group", cfg->control.read_group, &read_group)) < 0)
                return r;
        d->control_access = (struct control_access){
            .restricted = cfg->control.read_group != NULL,
            .daemon_uid = geteuid(),
            .operator_gid = group != (gid_t)-1 ? group : getegid(),
        };
        *ret_socket_group = group;
        if (d->control_access.restricted) {
                *ret_socket_group = read_group;
                if (read_group == d->control_access.operator_gid)
                        log_warning("control.read_group is the operators' group (gid %u): its "
                                    "members may run every command",
                                    (unsigned)read_group);
        }
        return 0;
}

static int open_control(struct daemon *d)
{
        gid_t group;
        int r = control_access_resolve(d, &group);
        if (r < 0)
                return r;
        int fd = passed_socket(true);
        if (fd >= 0)
                r = control_server_new_from_fd(d->event, fd, on_control, d, &d->control);
        else
                r = control_server_new(d->event, d->config->control.socket, group, on_control, d,
                                       &d->control);
        if (r < 0)
                return r;
        control_server_set_refused(d->control, on_control_refused);
        if (d->control_access.restricted)
                log_info("control: read-only requests for group %s; the others for root, uid %u "
                         "and gid %u",
                         d->config->control.read_group, (unsigned)d->control_access.daemon_uid,
                         (unsigned)d->control_access.operator_gid);
        return 0;
}

/* The command line. Returns -1 to go on, or the exit code. */
static int parse_flags(int argc, char **argv, const char **config_path, bool *check)
{
        static const struct option options[] = {
            {"config", required_argument, NULL, 'c'},
            {"check-config", no_argument, NULL, 'C'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "c:Vh", options, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        *config_path = optarg;
                        break;
                case 'C':
                        *check = true;
                        break;
                case 'V':
                        printf("canaryd %s\n", CANARYD_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "canaryd: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return 2;
        }
        return -1;
}

/* The configuration at start; its problems are logged. */
static int load_startup_config(const char *path, struct config **ret)
{
        struct config_problems problems = {0};
        int r = config_load(path, ret, &problems);
        if (r < 0)
                log_config_problems("", path, &problems);
        config_problems_free(&problems);
        return r;
}

/* The event loop with the signals (blocked, then read from the loop), the idle and reload
 * sources (off until wanted) and the watchdog. */
static int loop_new(struct daemon *d)
{
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        int r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "cannot create the event loop: %m");
        sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        sd_event_add_signal(d->event, NULL, SIGHUP, on_signal, d);
        if (sd_event_add_defer(d->event, &d->reload_defer, on_reload_defer, d) >= 0)
                sd_event_source_set_enabled(d->reload_defer, SD_EVENT_OFF);
        if (sd_event_add_defer(d->event, &d->idle_defer, on_idle_defer, d) >= 0)
                sd_event_source_set_enabled(d->idle_defer, SD_EVENT_OFF);
        sd_event_set_watchdog(d->event, true); /* WATCHDOG=1 at half WATCHDOG_USEC when set */
        return 0;
}

/* What lives as long as the daemon, across reloads: the metrics, the API key check, the query
 * scheduler and the HTTP client. */
static int services_new(struct daemon *d)
{
        metrics_init(&d->metrics);
        d->key = datadog_key_new(d->event, on_key_changed, d);
        int r = analysis_sched_new(d->event, &canary_analysis_callbacks, &d->sched);
        if (r < 0)
                return log_error_errno(r, "cannot set up the Datadog query scheduler: %m");
        r = dd_events_new(d);
        if (r < 0)
                return log_error_errno(r, "cannot set up the Datadog events sender: %m");
        r = http_client_new(d->event, &d->http);
        if (r < 0)
                return log_error_errno(r, "cannot create the HTTP client (libcurl needs an "
                                          "asynchronous resolver): %m");
        return 0;
}

/* The control socket and the HTTP endpoint, opened as cfg says; a reload keeps them. */
static int listeners_open(struct daemon *d, struct config *cfg)
{
        d->config = cfg; /* read by open_control() and endpoint_start(), not taken yet */
        int r = open_control(d);
        if (r < 0)
                return log_error_errno(r, "cannot listen on control socket %s: %m",
                                       cfg->control.socket);
        r = endpoint_start(d, passed_socket(false));
        if (r < 0)
                return r;
        d->config = NULL;
        return 0;
}

/* Takes cfg: the clients and canaries, then the shard leases; READY=1. */
static int daemon_start(struct daemon *d, struct config *cfg)
{
        int r = apply_config(d, cfg);
        if (r < 0) {
                log_error("startup failed");
                config_free(d->config ? d->config : cfg);
                return r;
        }
        if (d->config->ha.enabled && ha_new(d, canaries_shard_changed, &d->ha) < 0) {
                log_error("cannot start the shard leases");
                return -EINVAL;
        }
        log_notice("canaryd %s started: %zu canaries, control socket %s", CANARYD_VERSION,
                   d->n_canaries, cfg->control.socket);
        sd_notify(0, "READY=1");
        return 0;
}

/* After the loop: everything the daemon holds, in an order that lets no callback reach a freed
 * object. */
static void daemon_teardown(struct daemon *d)
{
        free_secret(d->env_secret[0]);
        free_secret(d->env_secret[1]);
        free(d->state_dir_error);
        /* Cancel transfers first, while every object their callbacks reach is still alive. */
        d->http = http_client_free(d->http);
        d->ha = ha_free(d->ha);
        canaries_free(d);
        d->ready_defer = sd_event_source_disable_unref(d->ready_defer);
        d->barrier_defer = sd_event_source_disable_unref(d->barrier_defer);
        d->reload_defer = sd_event_source_disable_unref(d->reload_defer);
        d->idle_defer = sd_event_source_disable_unref(d->idle_defer);
        config_free(d->reload_config);
        dd_events_free(d); /* borrows the scheduler */
        d->sched = analysis_sched_free(d->sched);
        d->key = datadog_key_free(d->key);
        d->control = control_server_free(d->control);
        control_refusal_log_flush(d);
        endpoint_stop(d);
        clients_free(d);
        config_free(d->config);
        free(d->config_path);
        d->status_timer = sd_event_source_disable_unref(d->status_timer);
        free(d->counts);
        free(d->last_status);
        free(d->slack_group_problem);
        sd_event_unref(d->event);
}

int main(int argc, char **argv)
{
        const char *config_path = DEFAULT_CONFIG;
        bool check = false;
        int r;

        /* Large buffers (the config text, LIST bodies, a 10,000-canary status) come and go; with
         * glibc's sliding threshold the first one freed moves every later one of that size onto
         * the heap, whose freed middle never goes back to the system. A fixed threshold keeps
         * them in their own mappings, returned when freed. */
        (void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        r = parse_flags(argc, argv, &config_path, &check);
        if (r >= 0)
                return r;
        if (check)
                return check_config(config_path);

        log_setup(-1, getenv("CANARYD_DEBUG") ? LOG_DEBUG : LOG_INFO);
        /* before any secret is read: no core dump holds one */
        r = secrets_no_dump();
        if (r < 0)
                log_warning("cannot make the process non-dumpable: %s", strerror(-r));
        signal(SIGPIPE, SIG_IGN); /* CURLOPT_NOSIGNAL leaves SIGPIPE to us */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                log_error("curl_global_init failed");
                return 1;
        }
        struct config *cfg = NULL;
        if (load_startup_config(config_path, &cfg) < 0) {
                curl_global_cleanup();
                return EXIT_CONFIG; /* the unit does not restart on it */
        }

        struct daemon d = {.config_path = xstrdup(config_path), .committed = canary_committed};
        env_secrets_take((const char *const[]){"DD_API_KEY", "DD_APP_KEY"}, d.env_secret, 2);
        if (loop_new(&d) < 0 || services_new(&d) < 0 || listeners_open(&d, cfg) < 0 ||
            daemon_start(&d, cfg) < 0)
                return 1;

        r = sd_event_loop(d.event);
        if (r < 0)
                log_error_errno(r, "event loop failed: %m");
        daemon_teardown(&d);
        curl_global_cleanup();
        log_notice("stopped");
        return r < 0 ? 1 : 0;
}
