/* The configuration of SPEC §3: YAML text -> struct config; and the files of canaries_dir
 * (SPEC §7), as buffers read by src/io/config-load.c. This file is the schema.
 *
 * Two passes. First libyaml's event stream is turned into a small tree of nodes, each keeping
 * its start mark (yaml-tree.c). Syntax errors, aliases, excessive nesting and extra documents
 * are reported there. Then the tree is walked against the schema with the typed readers of
 * config-values.c, collecting every problem (unknown keys, wrong types, bad values, missing keys,
 * cross-field rules) instead of stopping at the first. Secret files are never opened here.
 *
 * The list of canaries is the exception that keeps large files cheap: each canary is walked as
 * soon as its subtree is built, and its nodes are freed at once (the tree lives in an arena), so
 * memory holds one canary's nodes, not 10,000. Their problems are kept only when the whole file
 * turns out to be valid YAML, as if the walk had come after; duplicate names are found at the
 * end with one sort. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "canaryd/alert.h"
#include "canaryd/config.h"
#include "canaryd/listen-address.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/names.h"
#include "canaryd/preprocess.h"
#include "canaryd/query.h"
#include "canaryd/slack-interact.h"
#include "canaryd/utf8.h"
#include "config-values.h"

/* ===== enum names (their tables live in src/core/config.c) ===== */

static const char *judge_name(unsigned i)
{
        return judge_kind_to_string((enum judge_kind)i);
}

static const char *reducer_name(unsigned i)
{
        return reducer_to_string((enum reducer)i);
}

static const char *direction_name(unsigned i)
{
        return direction_to_string((enum direction)i);
}

static const char *on_no_data_name(unsigned i)
{
        return on_no_data_to_string((enum on_no_data)i);
}

static const char *metric_kind_name(unsigned i)
{
        return metric_kind_to_string((enum metric_kind)i);
}

static const char *combine_name(unsigned i)
{
        return combine_to_string((enum combine)i);
}

static const char *nan_strategy_name(unsigned i)
{
        return nan_strategy_to_string((enum nan_strategy)i);
}

static const char *outliers_name(unsigned i)
{
        return outlier_strategy_to_string((enum outlier_strategy)i);
}

static const char *effect_size_name(unsigned i)
{
        return effect_size_to_string((enum effect_size)i);
}

static const char *api_name(unsigned i)
{
        return datadog_api_to_string((enum datadog_api)i);
}

/* WIRE §1.1: the sites of the v1 OpenAPI servers enum. */
static const char *const site_names[] = {
    "datadoghq.com",     "us3.datadoghq.com", "us5.datadoghq.com",
    "datadoghq.eu",      "ap1.datadoghq.com", "ap2.datadoghq.com",
    "uk1.datadoghq.com", "ddog-gov.com",      "us2.ddog-gov.com",
};

static const char *site_name(unsigned i)
{
        return i < ELEMENTSOF(site_names) ? site_names[i] : NULL;
}

static void walk_datadog(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"site",         "url",     "api",
                                           "query_lag",    "timeout", "api_key_file",
                                           "app_key_file", "events",  NULL};
        check_keys(w, m, "datadog", keys);
        int e;
        if (as_enum(w, map_get(m, "site"), "site", site_name, ELEMENTSOF(site_names), &e)) {
                free(c->datadog.site);
                c->datadog.site = xstrdup(site_names[e]);
        }
        as_url(w, map_get(m, "url"), "url", &c->datadog.url);
        if (as_enum(w, map_get(m, "api"), "api", api_name, 2, &e))
                c->datadog.api = (enum datadog_api)e;
        as_duration(w, map_get(m, "query_lag"), "query_lag", false, &c->datadog.query_lag_usec);
        as_duration(w, map_get(m, "timeout"), "timeout", true, &c->datadog.timeout_usec);
        as_string(w, map_get(m, "api_key_file"), "api_key_file", &c->datadog.api_key_file);
        as_string(w, map_get(m, "app_key_file"), "app_key_file", &c->datadog.app_key_file);
        as_bool(w, map_get(m, "events"), "events", &c->datadog.events);
}

static const char *vs_version_name(unsigned i)
{
        static const char *const names[] = {"auto", "v1", "v1beta1", "v1alpha3"};
        return i < ELEMENTSOF(names) ? names[i] : NULL;
}

static void walk_kubernetes(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"kubeconfig", "context", "virtual_service_version",
                                           NULL};
        check_keys(w, m, "kubernetes", keys);
        as_string(w, map_get(m, "kubeconfig"), "kubeconfig", &c->kubernetes.kubeconfig);
        as_string(w, map_get(m, "context"), "context", &c->kubernetes.context);
        int e;
        if (as_enum(w, map_get(m, "virtual_service_version"), "virtual_service_version",
                    vs_version_name, 4, &e) &&
            e > 0) {
                free(c->kubernetes.virtual_service_version);
                c->kubernetes.virtual_service_version = xstrdup(vs_version_name((unsigned)e));
        }
}

/* slack.approvers: {CANARY or "*": [ID, ...]} */
static void walk_approvers(struct walker *w, const struct ynode *m, struct config *c)
{
        if (!as_mapping(w, m, "approvers"))
                return;
        c->slack.approvers = xcalloc(m->n_items / 2 + 1, sizeof(*c->slack.approvers));
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const struct ynode *k = m->items[i], *v = m->items[i + 1];
                struct slack_approvers *a = &c->slack.approvers[c->slack.n_approvers];
                if (k->type != YNODE_SCALAR ||
                    (!node_key_eq(k, "*") && !dns1123_is_subdomain(k->value))) {
                        PROBLEM_AT(w, k, "slack.approvers: a key is a canary name or \"*\"");
                        continue;
                }
                if (!as_sequence(w, v, k->value))
                        continue;
                a->canary = xstrdup(k->value);
                a->ids = xcalloc(v->n_items + 1, sizeof(*a->ids));
                for (size_t j = 0; j < v->n_items; j++) {
                        char *id = NULL;
                        if (!as_string(w, v->items[j], "approver", &id))
                                continue;
                        if (!slack_id_valid(id, "UWS")) {
                                PROBLEM_AT(w, v->items[j],
                                           "slack.approvers.%s: \"%s\" is not a Slack user "
                                           "(U..., W...) or user group (S...) ID",
                                           a->canary, id);
                                free(id);
                                continue;
                        }
                        a->ids[a->n_ids++] = id;
                }
                c->slack.n_approvers++;
        }
}

static void walk_slack(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {
            "webhook_url_file", "token_file",          "channel", "url", "channels", "mention",
            "approvers",        "signing_secret_file", NULL};
        check_keys(w, m, "slack", keys);
        as_string(w, map_get(m, "signing_secret_file"), "signing_secret_file",
                  &c->slack.signing_secret_file);
        walk_approvers(w, map_get(m, "approvers"), c);
        as_string(w, map_get(m, "webhook_url_file"), "webhook_url_file",
                  &c->slack.webhook_url_file);
        as_string(w, map_get(m, "token_file"), "token_file", &c->slack.token_file);
        as_string(w, map_get(m, "channel"), "channel", &c->slack.channel);
        as_url(w, map_get(m, "url"), "url", &c->slack.url);

        /* Severity routing (docs/slack.md): a channel per severity, and a mention on errors. */
        const struct ynode *channels = map_get(m, "channels");
        if (as_mapping(w, channels, "channels")) {
                static const char *const sev[] = {"info", "warn", "error", NULL};
                check_keys(w, channels, "slack.channels", sev);
                as_string(w, map_get(channels, "info"), "info", &c->slack.channel_info);
                as_string(w, map_get(channels, "warn"), "warn", &c->slack.channel_warn);
                as_string(w, map_get(channels, "error"), "error", &c->slack.channel_error);
                if (!map_get_key(m, "token_file"))
                        PROBLEM_AT(w, channels,
                                   "slack.channels needs token_file (a webhook posts to one "
                                   "channel)");
        }
        const struct ynode *mention = map_get(m, "mention");
        if (as_string(w, mention, "mention", &c->slack.mention)) {
                const char *s = c->slack.mention;
                size_t n = strlen(s);
                if (n < 4 || n > 100 || s[0] != '<' || (s[1] != '!' && s[1] != '@') ||
                    s[n - 1] != '>' ||
                    strspn(s + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789^_-.") != n - 3)
                        PROBLEM_AT(w, mention,
                                   "mention must be a Slack mention such as <!subteam^S0123>, "
                                   "<!here> or <@U0123>");
        }

        const struct ynode *webhook = map_get_key(m, "webhook_url_file");
        const struct ynode *token = map_get_key(m, "token_file");
        /* Both may be given (SPEC §3 lists them side by side): the bot token wins, since it can
         * thread a rollout's messages; the webhook is then unused. */
        if (!webhook && !token)
                PROBLEM_AT(w, m, "slack needs webhook_url_file or token_file");
        else if (token && !map_get(m, "channel"))
                PROBLEM_AT(w, m,
                           "missing required key 'channel' in slack (needed with token_file)");
}

static void walk_control(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"socket", "group", "read_group", NULL};
        const struct ynode *group = map_get(m, "group");
        const struct ynode *read_group = map_get(m, "read_group");

        check_keys(w, m, "control", keys);
        as_absolute_path(w, map_get(m, "socket"), "socket", &c->control.socket);
        if (as_string(w, group, "group", &c->control.group)) {
                c->control.group_line = group->line;
                c->control.group_column = group->column;
        }
        if (as_string(w, read_group, "read_group", &c->control.read_group)) {
                c->control.read_group_line = read_group->line;
                c->control.read_group_column = read_group->column;
                if (streq_ptr(c->control.read_group, c->control.group))
                        PROBLEM_AT(w, read_group,
                                   "read_group must differ from group (its members could run "
                                   "every command)");
        }
}

static void walk_http(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"listen", NULL};
        const struct ynode *v = map_get(m, "listen");
        struct listen_address a;
        const char *why;

        check_keys(w, m, "http", keys);
        if (as_string(w, require(w, m, "listen", "http"), "listen", &c->http.listen) &&
            listen_address_parse(c->http.listen, &a, &why) < 0)
                PROBLEM_AT(w, v, "http.listen \"%s\": %s", c->http.listen, why);
}

/* PagerDuty (SPEC.md §10, docs/alerts.md): which alert levels page, through which key. */
static void walk_pagerduty(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"routing_key_file", "url", "levels", NULL};
        const struct ynode *levels = map_get(m, "levels");

        check_keys(w, m, "pagerduty", keys);
        as_string(w, require(w, m, "routing_key_file", "pagerduty"), "routing_key_file",
                  &c->pagerduty.routing_key_file);
        as_url(w, map_get(m, "url"), "url", &c->pagerduty.url);
        if (!levels || !as_sequence(w, levels, "levels"))
                return;
        c->pagerduty.levels = 0;
        for (size_t i = 0; i < levels->n_items; i++) {
                unsigned level;
                if (!as_uint(w, levels->items[i], "levels", 1, 3, &level))
                        continue;
                if (c->pagerduty.levels & ALERT_LEVEL_BIT(level))
                        PROBLEM_AT(w, levels->items[i], "pagerduty.levels: %u is listed twice",
                                   level);
                c->pagerduty.levels |= ALERT_LEVEL_BIT(level);
        }
        if (levels->n_items == 0)
                PROBLEM_AT(w, levels,
                           "pagerduty.levels is empty: list the levels that page (1, 2, 3), or "
                           "leave pagerduty out");
}

static void walk_reports(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"keep", "max_age", NULL};
        check_keys(w, m, "reports", keys);
        as_uint(w, map_get(m, "keep"), "keep", 1, 10000, &c->reports.keep);
        as_duration(w, map_get(m, "max_age"), "max_age", false, &c->reports.max_age_usec);
}

static void walk_ha(struct walker *w, const struct ynode *m, struct config *c)
{
        static const char *const keys[] = {"enabled", "namespace", "shards", "lease_duration",
                                           NULL};
        check_keys(w, m, "ha", keys);
        c->ha.enabled = true;
        as_bool(w, map_get(m, "enabled"), "enabled", &c->ha.enabled);
        if (c->ha.enabled)
                as_label(w, require(w, m, "namespace", "ha"), "namespace", &c->ha.namespace_);
        else
                as_label(w, map_get(m, "namespace"), "namespace", &c->ha.namespace_);
        as_uint(w, map_get(m, "shards"), "shards", 1, 1024, &c->ha.shards);
        as_duration(w, map_get(m, "lease_duration"), "lease_duration", true,
                    &c->ha.lease_duration_usec);
}

static void walk_destination(struct walker *w, const struct ynode *m, const char *what,
                             struct destination_config *d)
{
        static const char *const keys[] = {"host", "subset", NULL};
        check_keys(w, m, what, keys);
        as_string(w, require(w, m, "host", what), "host", &d->host);
        as_string(w, map_get(m, "subset"), "subset", &d->subset);
}

/* One step given as a mapping, {weight: W, approve: true}: *ret_weight is W's node (NULL when
 * missing) and *approve whether the step waits for approval once its analysis passes. */
static void walk_step(struct walker *w, const struct ynode *m, const struct ynode **ret_weight,
                      bool *approve)
{
        static const char *const keys[] = {"weight", "approve", NULL};
        check_keys(w, m, "a step", keys);
        as_bool(w, map_get(m, "approve"), "approve", approve);
        *ret_weight = require(w, m, "weight", "a step");
}

/* steps: [5, 10, {weight: 50, approve: true}, 100] (SPEC §9): percentages strictly increasing in
 * 1..100, each a number or a mapping that may ask for approval. */
static void walk_steps(struct walker *w, const struct ynode *s, struct canary_config *cc)
{
        if (s->n_items == 0) {
                PROBLEM_AT(w, s, "steps must not be empty");
                return;
        }
        for (size_t i = 0; i < s->n_items; i++) {
                const struct ynode *v = s->items[i];
                bool approve = false, mapping = v->type == YNODE_MAPPING;
                unsigned pct;
                if (mapping)
                        walk_step(w, s->items[i], &v, &approve);
                if (!v)
                        continue;
                if (!as_uint(w, v, mapping ? "weight" : "steps", 1, 100, &pct))
                        continue;
                if (cc->n_steps > 0 && pct <= cc->steps[cc->n_steps - 1]) {
                        PROBLEM_AT(w, v, "steps must be strictly increasing (%u after %u)", pct,
                                   cc->steps[cc->n_steps - 1]);
                        continue;
                }
                if (approve && pct == 100) {
                        /* 100 is promotion: there is no later step to wait before */
                        PROBLEM_AT(w, s->items[i],
                                   "a step of weight 100 cannot wait for approval (reaching it "
                                   "promotes); put approve on the step before it");
                        continue;
                }
                /* Strictly increasing in 1..100 bounds n_steps by CONFIG_MAX_STEPS. */
                if (approve)
                        cc->step_approve[cc->n_steps / 8] |= (uint8_t)(1u << (cc->n_steps % 8));
                cc->steps[cc->n_steps++] = (uint8_t)pct;
        }
}

static void walk_routes(struct walker *w, const struct ynode *s, struct canary_config *cc)
{
        struct named *names = xmalloc((s->n_items ? s->n_items : 1) * sizeof(*names));
        size_t n = 0;
        cc->routes = xcalloc(s->n_items + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_items; i++) {
                char *r = NULL;
                if (!as_string(w, s->items[i], "routes", &r))
                        continue;
                names[n] = (struct named){r, strlen(r), s->items[i], n};
                n++;
                cc->routes[cc->n_routes++] = r;
        }
        report_duplicates(w, names, n, "route");
        free(names);
}

static void walk_score(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"pass", "marginal", "weights", NULL};
        check_keys(w, m, "score", keys);
        cc->has_score = true;
        cc->score_pass = (double)NAN;
        bool pass_ok = as_number_in(w, require(w, m, "pass", "score"), "pass", 0, false, 100, false,
                                    "from 0 to 100", &cc->score_pass);
        const struct ynode *marginal = map_get(m, "marginal");
        cc->score_marginal = cc->score_pass;
        if (as_number_in(w, marginal, "marginal", 0, false, 100, false, "from 0 to 100",
                         &cc->score_marginal) &&
            pass_ok && cc->score_marginal > cc->score_pass)
                PROBLEM_AT(w, marginal, "marginal (%s) must not be greater than pass (%g)",
                           marginal->value, cc->score_pass);

        const struct ynode *weights = map_get(m, "weights");
        if (!as_mapping(w, weights, "weights"))
                return;
        size_t n_pairs = weights->n_items / 2;
        struct named *names = xmalloc((n_pairs ? n_pairs : 1) * sizeof(*names));
        size_t n = 0;
        cc->score_weights = xcalloc(n_pairs ? n_pairs : 1, sizeof(*cc->score_weights));
        for (size_t i = 0; i + 1 < weights->n_items; i += 2) {
                const struct ynode *k = weights->items[i], *v = weights->items[i + 1];
                char *group = NULL;
                double weight;
                if (k->type == YNODE_SCALAR && !scalar_is_null(k)) {
                        names[n] = (struct named){k->value, k->len, k, n};
                        n++;
                }
                bool ok = as_simple_name(w, k, "weights group", &group);
                if (as_number_in(w, v, "weight", 0, false, (double)INFINITY, false,
                                 "a non-negative number", &weight) &&
                    ok) {
                        cc->score_weights[cc->n_score_weights++] =
                            (struct score_weight){.group = group, .weight = weight};
                        group = NULL;
                }
                free(group);
        }
        report_duplicates(w, names, n, "key");
        free(names);
}

static void walk_scopes(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"canary", "baseline", NULL};
        check_keys(w, m, "scopes", keys);
        as_string(w, require(w, m, "canary", "scopes"), "canary", &cc->scope_canary);
        as_string(w, require(w, m, "baseline", "scopes"), "baseline", &cc->scope_baseline);
}

static void walk_trigger(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        static const char *const keys[] = {"deployment", NULL};
        check_keys(w, m, "trigger", keys);
        as_subdomain(w, require(w, m, "deployment", "trigger"), "deployment",
                     &cc->trigger_deployment);
}

/* Checks the {{variable}} references of a query; returns whether it uses {{scope}}. A "{{"
 * not followed by a word and "}}" is not a reference (Datadog's own braces, e.g. "{{{scope}}}"
 * is "{" + {{scope}} + "}"), just as the expander sees it. */
static bool check_query_template(struct walker *w, const struct ynode *v, const char *q)
{
        static const char *const vars[] = {"scope", "name", "namespace", "interval", NULL};
        bool uses_scope = false;
        for (const char *p = strstr(q, "{{"); p; p = strstr(p + 1, "{{")) {
                size_t len = query_placeholder_len(p);
                if (len == 0)
                        continue;
                const char *word = p + 2;
                size_t n = len - 4;
                bool known = false;
                for (size_t i = 0; vars[i] && !known; i++)
                        known = n == strlen(vars[i]) && memcmp(word, vars[i], n) == 0;
                if (!known)
                        PROBLEM_AT(w, v,
                                   "query uses unknown variable {{%.*s}} (known: {{scope}}, "
                                   "{{name}}, {{namespace}}, {{interval}})",
                                   (int)(n > 40 ? 40 : n), word);
                else if (n == 5)
                        uses_scope = true;
        }
        return uses_scope;
}

enum judge_mask {
        FOR_THRESHOLD = 1 << JUDGE_THRESHOLD,
        FOR_RATIO = 1 << JUDGE_RATIO,
        FOR_MANN_WHITNEY = 1 << JUDGE_MANN_WHITNEY,
        FOR_SEQUENTIAL = 1 << JUDGE_SEQUENTIAL,
};

/* Keys that only some judges read: giving them to another judge is a mistake worth reporting. */
static const struct {
        const char *key;
        unsigned judges;
} judge_specific_keys[] = {
    {"reducer", FOR_THRESHOLD | FOR_RATIO},
    {"min", FOR_THRESHOLD},
    {"max", FOR_THRESHOLD},
    {"max_ratio", FOR_RATIO},
    {"min_ratio", FOR_RATIO},
    {"direction", FOR_MANN_WHITNEY | FOR_SEQUENTIAL},
    {"confidence", FOR_MANN_WHITNEY},
    {"allowed_increase", FOR_MANN_WHITNEY},
    {"allowed_decrease", FOR_MANN_WHITNEY},
    {"tolerance", FOR_MANN_WHITNEY | FOR_SEQUENTIAL},
    {"alpha", FOR_SEQUENTIAL},
    /* the sequential judge pairs points by timestamp: dropping one arm's points would unpair */
    {"nan_strategy", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"outliers", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"outlier_factor", FOR_THRESHOLD | FOR_RATIO | FOR_MANN_WHITNEY},
    {"kind", FOR_SEQUENTIAL},
    {"effect_size", FOR_MANN_WHITNEY},
    {"critical_increase", FOR_MANN_WHITNEY},
    {"critical_decrease", FOR_MANN_WHITNEY},
};

static void metric_config_default(struct metric_config *mc)
{
        *mc = (struct metric_config){
            .judge = _JUDGE_KIND_MAX,
            .reducer = REDUCER_AVG,
            .min = (double)NAN,
            .max = (double)NAN,
            .max_ratio = (double)NAN,
            .min_ratio = (double)NAN,
            .direction = DIRECTION_EITHER, /* Kayenta's default: any significant change */
            .confidence = MW_DEFAULT_CONFIDENCE,
            .allowed_increase = MW_DEFAULT_ALLOWED,
            .allowed_decrease = MW_DEFAULT_ALLOWED,
            .tolerance = MW_DEFAULT_TOLERANCE,
            .alpha = 0.01,
            .kind = METRIC_KIND_CONTINUOUS,
            .on_no_data = NO_DATA_INCONCLUSIVE,
            .outlier_factor = 3.0,
        };
}

/* The judge, and the keys given that it does not read. Returns whether the judge is valid. */
static bool walk_metric_judge(struct walker *w, const struct ynode *m, const char *what,
                              struct metric_config *mc)
{
        int e;

        if (!as_enum(w, require(w, m, "judge", what), "judge", judge_name, _JUDGE_KIND_MAX, &e))
                return false;
        mc->judge = (enum judge_kind)e;
        for (size_t i = 0; i < ELEMENTSOF(judge_specific_keys); i++) {
                const struct ynode *k = map_get_key(m, judge_specific_keys[i].key);
                if (k && !(judge_specific_keys[i].judges & (1u << e)))
                        PROBLEM_AT(w, k, "%s does not apply to judge %s",
                                   judge_specific_keys[i].key, judge_name((unsigned)e));
        }
        if (mc->judge == JUDGE_SEQUENTIAL) { /* SPEC §8's defaults */
                mc->direction = DIRECTION_INCREASE;
                mc->tolerance = 0.02;
        }
        return true;
}

/* The bounds of the threshold judge (min, max) and of the ratio judge (min_ratio, max_ratio). */
static void walk_metric_limits(struct walker *w, const struct ynode *m, struct metric_config *mc)
{
        bool min_ok = as_number(w, map_get(m, "min"), "min", &mc->min);
        const struct ynode *max = map_get(m, "max");
        if (as_number(w, max, "max", &mc->max) && min_ok && mc->max < mc->min)
                PROBLEM_AT(w, max, "max (%g) must not be less than min (%g)", mc->max, mc->min);

        const struct ynode *max_ratio = map_get(m, "max_ratio");
        bool min_ratio_ok = as_number_in(w, map_get(m, "min_ratio"), "min_ratio", 0, true,
                                         (double)INFINITY, false, "greater than 0", &mc->min_ratio);
        if (as_number_in(w, max_ratio, "max_ratio", 0, true, (double)INFINITY, false,
                         "greater than 0", &mc->max_ratio) &&
            min_ratio_ok && mc->max_ratio < mc->min_ratio)
                PROBLEM_AT(w, max_ratio, "max_ratio (%g) must not be less than min_ratio (%g)",
                           mc->max_ratio, mc->min_ratio);
}

/* Effect-size bounds: mean ratios around 1, CLES (a probability) around 0.5. The critical
 * bounds default to the allowed ones (every High/Low of a critical metric is critical) and may
 * only be further out. */
static void walk_metric_effect(struct walker *w, const struct ynode *m, struct metric_config *mc)
{
        int e;

        if (as_enum(w, map_get(m, "effect_size"), "effect_size", effect_size_name, _EFFECT_SIZE_MAX,
                    &e))
                mc->effect_size = (enum effect_size)e;
        bool cles = mc->effect_size == EFFECT_SIZE_CLES;
        double neutral = cles ? 0.5 : 1.0, top = cles ? 1.0 : (double)INFINITY;
        const char *up = cles ? "from 0.5 to 1 with effect_size cles" : "at least 1.0";
        const char *down =
            cles ? "from 0 to 0.5 with effect_size cles" : "greater than 0 and at most 1.0";
        mc->allowed_increase = mc->allowed_decrease = neutral;
        as_number_in(w, map_get(m, "allowed_increase"), "allowed_increase", neutral, false, top,
                     false, up, &mc->allowed_increase);
        as_number_in(w, map_get(m, "allowed_decrease"), "allowed_decrease", 0, !cles, neutral,
                     false, down, &mc->allowed_decrease);
        mc->critical_increase = mc->allowed_increase;
        mc->critical_decrease = mc->allowed_decrease;
        const struct ynode *crit = map_get(m, "critical_increase");
        if (as_number_in(w, crit, "critical_increase", neutral, false, top, false, up,
                         &mc->critical_increase) &&
            mc->critical_increase < mc->allowed_increase)
                PROBLEM_AT(w, crit,
                           "critical_increase (%s) must not be less than allowed_increase "
                           "(%g)",
                           crit->value, mc->allowed_increase);
        crit = map_get(m, "critical_decrease");
        if (as_number_in(w, crit, "critical_decrease", 0, !cles, neutral, false, down,
                         &mc->critical_decrease) &&
            mc->critical_decrease > mc->allowed_decrease)
                PROBLEM_AT(w, crit,
                           "critical_decrease (%s) must not be greater than "
                           "allowed_decrease (%g)",
                           crit->value, mc->allowed_decrease);
}

/* Preprocessing of each arm's values: NaNs and outliers. */
static void walk_metric_preprocess(struct walker *w, const struct ynode *m,
                                   struct metric_config *mc)
{
        int e;

        if (as_enum(w, map_get(m, "nan_strategy"), "nan_strategy", nan_strategy_name,
                    _NAN_STRATEGY_MAX, &e))
                mc->nan_strategy = (enum nan_strategy)e;
        if (as_enum(w, map_get(m, "outliers"), "outliers", outliers_name, _OUTLIERS_MAX, &e))
                mc->outliers = (enum outlier_strategy)e;
        const struct ynode *factor = map_get(m, "outlier_factor");
        if (as_number_in(w, factor, "outlier_factor", 0, false, (double)INFINITY, false,
                         "a non-negative number", &mc->outlier_factor) &&
            mc->outliers != OUTLIERS_REMOVE)
                PROBLEM_AT(w, factor, "outlier_factor applies only with outliers: remove");
}

/* The keys the threshold and ratio judges cannot do without. */
static void check_metric_limits_given(struct walker *w, const struct ynode *m, const char *what,
                                      const struct metric_config *mc)
{
        if (mc->judge == JUDGE_THRESHOLD && !map_get(m, "min") && !map_get(m, "max"))
                PROBLEM_AT(w, m, "%s with judge threshold needs min or max", what);
        if (mc->judge == JUDGE_RATIO && !map_get(m, "max_ratio") && !map_get(m, "min_ratio"))
                PROBLEM_AT(w, m, "%s with judge ratio needs max_ratio or min_ratio", what);
}

/* The column of byte `at` of a scalar's value when the value is exactly the text between its
 * marks (one line; no escapes, folding or tag, which would make the text wider), else 0. */
static unsigned scalar_column_at(const struct ynode *v, size_t at)
{
        unsigned quotes = v->quoted ? 2 : 0;

        if (v->end_line != v->line || v->end_column < v->column ||
            v->end_column - v->column != utf8_chars(v->value, v->len) + quotes)
                return 0;
        return v->column + quotes / 2 + utf8_chars(v->value, at);
}

/* Datadog refuses a query it cannot parse (400 at every analysis, so every analysis would be
 * inconclusive): better said at load, at the place in the query where we can point. */
static void check_query_syntax(struct walker *w, const struct ynode *v, const char *q)
{
        struct query_problem p;
        char what[160];

        if (query_check(q, &p))
                return;
        switch (p.kind) {
        case QUERY_UNBALANCED:
                snprintf(what, sizeof(what), "query has an unbalanced '%c'", q[p.offset]);
                break;
        case QUERY_UNCLOSED:
                snprintf(what, sizeof(what), "query leaves a '%c' open", q[p.offset]);
                break;
        case QUERY_UNCLOSED_QUOTE:
                snprintf(what, sizeof(what), "query leaves a string open: its %c is never closed",
                         q[p.offset]);
                break;
        case QUERY_TOO_DEEP:
                snprintf(what, sizeof(what), "query nests braces and parentheses deeper than 64");
                break;
        case QUERY_UNKNOWN_AGGREGATOR:
        default:
                snprintf(what, sizeof(what),
                         "query has an unknown space aggregator '%.*s', not avg, sum, min, max, "
                         "count or a percentile such as p99.9",
                         (int)(p.len > 40 ? 40 : p.len), q + p.offset);
                break;
        }
        unsigned column = scalar_column_at(v, p.offset);
        if (column)
                yaml_problem_add(w->problems, v->line, column,
                                 "%s (Datadog would refuse it as a syntax error)", what);
        else
                PROBLEM_AT(
                    w, v,
                    "%s, at byte %zu of the query (Datadog would refuse it as a syntax error)",
                    what, p.offset + 1);
}

/* A judge that compares the canary with the baseline. */
static bool judge_compares(enum judge_kind k)
{
        return k == JUDGE_RATIO || k == JUDGE_MANN_WHITNEY || k == JUDGE_SEQUENTIAL;
}

/* Returns whether the metric's query uses {{scope}}; *scope_node is set to that query. */
static bool walk_metric(struct walker *w, const struct ynode *m, struct metric_config *mc,
                        const struct ynode **scope_node)
{
        static const char *const keys[] = {"name",
                                           "query",
                                           "judge",
                                           "reducer",
                                           "min",
                                           "max",
                                           "max_ratio",
                                           "min_ratio",
                                           "critical",
                                           "group",
                                           "direction",
                                           "confidence",
                                           "allowed_increase",
                                           "allowed_decrease",
                                           "tolerance",
                                           "min_samples",
                                           "on_no_data",
                                           "combine",
                                           "nan_strategy",
                                           "outliers",
                                           "outlier_factor",
                                           "effect_size",
                                           "critical_increase",
                                           "critical_decrease",
                                           "alpha",
                                           "kind",
                                           NULL};
        bool uses_scope = false;
        int e;

        metric_config_default(mc);
        const struct ynode *name = map_get(m, "name");
        char *what = name && name->type == YNODE_SCALAR && !scalar_is_null(name)
                         ? xasprintf("metric %s", DESCRIBE(name))
                         : xstrdup("metric");
        check_keys(w, m, what, keys);
        as_simple_name(w, require(w, m, "name", what), "name", &mc->name);
        const struct ynode *query = require(w, m, "query", what);
        bool have_query = as_string(w, query, "query", &mc->query);
        if (have_query && check_query_template(w, query, mc->query)) {
                uses_scope = true;
                *scope_node = query;
        }
        if (have_query)
                check_query_syntax(w, query, mc->query);
        bool judge_ok = walk_metric_judge(w, m, what, mc);
        bool sequential = judge_ok && mc->judge == JUDGE_SEQUENTIAL;
        /* {{scope}} is the only variable that differs between the arms */
        if (have_query && judge_ok && judge_compares(mc->judge) && !query_uses_scope(mc->query))
                PROBLEM_AT(w, query,
                           "query has no {{scope}}: judge %s would compare the same query with "
                           "itself and could never fail",
                           judge_name(mc->judge));
        if (as_enum(w, map_get(m, "reducer"), "reducer", reducer_name, _REDUCER_MAX, &e))
                mc->reducer = (enum reducer)e;
        walk_metric_limits(w, m, mc);
        as_bool(w, map_get(m, "critical"), "critical", &mc->critical);
        as_simple_name(w, map_get(m, "group"), "group", &mc->group);
        if (as_enum(w, map_get(m, "direction"), "direction", direction_name, _DIRECTION_MAX, &e))
                mc->direction = (enum direction)e;
        as_number_in(w, map_get(m, "confidence"), "confidence", 0, true, 1, true,
                     "between 0 and 1 (exclusive)", &mc->confidence);
        walk_metric_effect(w, m, mc);
        walk_metric_preprocess(w, m, mc);
        if (sequential) /* a relative shift: 1 would make any regression tolerable */
                as_number_in(w, map_get(m, "tolerance"), "tolerance", 0, false, 1, true,
                             "at least 0 and below 1 (a relative shift)", &mc->tolerance);
        else
                as_number_in(w, map_get(m, "tolerance"), "tolerance", 0, false, (double)INFINITY,
                             false, "a non-negative number", &mc->tolerance);
        as_number_in(w, map_get(m, "alpha"), "alpha", 0, true, 1, true,
                     "between 0 and 1 (exclusive)", &mc->alpha);
        if (as_enum(w, map_get(m, "kind"), "kind", metric_kind_name, _METRIC_KIND_MAX, &e))
                mc->kind = (enum metric_kind)e;
        mc->min_samples = mc->judge == JUDGE_MANN_WHITNEY || sequential ? 10 : 1;
        as_uint(w, map_get(m, "min_samples"), "min_samples", 1, UINT_MAX, &mc->min_samples);
        if (as_enum(w, map_get(m, "on_no_data"), "on_no_data", on_no_data_name, _NO_DATA_MAX, &e))
                mc->on_no_data = (enum on_no_data)e;
        if (as_enum(w, map_get(m, "combine"), "combine", combine_name, _COMBINE_MAX, &e))
                mc->combine = (enum combine)e;

        if (judge_ok)
                check_metric_limits_given(w, m, what, mc);
        else
                mc->judge = JUDGE_THRESHOLD; /* keep the struct valid; the config is refused */
        free(what);
        return uses_scope;
}

static void walk_metrics(struct walker *w, const struct ynode *s, const struct ynode *canary_map,
                         struct canary_config *cc)
{
        if (s->n_items == 0) {
                PROBLEM_AT(w, s, "metrics must not be empty");
                return;
        }
        struct named *names = xmalloc(s->n_items * sizeof(*names));
        size_t n_names = 0;
        const struct ynode *scope_query = NULL;
        bool uses_scope = false;

        cc->metrics = xcalloc(s->n_items, sizeof(*cc->metrics));
        for (size_t i = 0; i < s->n_items; i++) {
                const struct ynode *m = s->items[i];
                if (!as_mapping(w, m, "each metric"))
                        continue;
                struct metric_config *mc = &cc->metrics[cc->n_metrics++];
                const struct ynode *q = NULL;
                if (walk_metric(w, m, mc, &q) && !uses_scope) {
                        uses_scope = true;
                        scope_query = q;
                }
                const struct ynode *name = map_get(m, "name");
                if (mc->name) {
                        names[n_names] = (struct named){mc->name, strlen(mc->name), name, n_names};
                        n_names++;
                }
        }
        report_duplicates(w, names, n_names, "metric name");
        free(names);

        if (uses_scope && !map_get(canary_map, "scopes"))
                PROBLEM_AT(w, scope_query,
                           "query uses {{scope}} but the canary has no scopes (canary and "
                           "baseline)");
        bool compares = false;
        for (size_t i = 0; i < cc->n_metrics && !compares; i++)
                compares = judge_compares(cc->metrics[i].judge) && cc->metrics[i].query &&
                           query_uses_scope(cc->metrics[i].query);
        if (compares && cc->scope_canary && cc->scope_baseline &&
            strcmp(cc->scope_canary, cc->scope_baseline) == 0)
                PROBLEM_AT(w, map_get(map_get(canary_map, "scopes"), "baseline"),
                           "scopes.baseline is the same as scopes.canary: a judge comparing them "
                           "would compare the canary with itself");

        /* A weight for a group that no metric has is a typo. */
        for (size_t i = 0; i < cc->n_score_weights; i++) {
                bool found = false;
                for (size_t j = 0; j < cc->n_metrics && !found; j++)
                        found = streq_ptr(cc->metrics[j].group, cc->score_weights[i].group);
                if (found)
                        continue;
                const struct ynode *weights = map_get(map_get(canary_map, "score"), "weights");
                const struct ynode *k = map_get_key(weights, cc->score_weights[i].group);
                if (k)
                        PROBLEM_AT(w, k, "score weight for group '%s' matches no metric's group",
                                   cc->score_weights[i].group);
        }
}

/* approve_timeout: how long a rollout waits for approval before it pauses. Only a canary with
 * a step that waits for approval has one: elsewhere it would be a typo that does nothing. */
static void walk_approve_timeout(struct walker *w, const struct ynode *m, struct canary_config *cc)
{
        const struct ynode *v = map_get(m, "approve_timeout");
        bool any = false;

        if (!as_duration(w, v, "approve_timeout", true, &cc->approve_timeout_usec))
                return;
        for (size_t i = 0; i < cc->n_steps && !any; i++)
                any = canary_step_approve(cc, i);
        if (!any && cc->n_steps > 0)
                PROBLEM_AT(w, v,
                           "approve_timeout without a step that waits for approval (write a step "
                           "as {weight: W, approve: true})");
}

/* Walks the optional mapping key of canary m with walk when it is given. */
static void walk_canary_mapping(struct walker *w, const struct ynode *m, const char *key,
                                void (*walk)(struct walker *, const struct ynode *,
                                             struct canary_config *),
                                struct canary_config *cc)
{
        const struct ynode *v = map_get(m, key);
        if (as_mapping(w, v, key))
                walk(w, v, cc);
}

static void walk_canary(struct walker *w, const struct ynode *m, struct canary_config *cc,
                        size_t index)
{
        static const char *const keys[] = {"name",
                                           "namespace",
                                           "virtual_service",
                                           "routes",
                                           "stable",
                                           "canary",
                                           "steps",
                                           "interval",
                                           "failure_limit",
                                           "inconclusive_limit",
                                           "runbook_url",
                                           "trigger",
                                           "score",
                                           "scopes",
                                           "metrics",
                                           "early_promotion",
                                           "approve_timeout",
                                           NULL};
        cc->interval_usec = 5 * 60 * USEC_PER_SEC;
        cc->failure_limit = 1;
        cc->inconclusive_limit = 3;
        cc->score_pass = (double)NAN;
        cc->score_marginal = (double)NAN;

        const struct ynode *name = map_get(m, "name");
        char *what = name && name->type == YNODE_SCALAR && !scalar_is_null(name)
                         ? xasprintf("canary %s", DESCRIBE(name))
                         : xasprintf("canaries[%zu]", index);
        check_keys(w, m, what, keys);
        as_label(w, require(w, m, "name", what), "name", &cc->name);
        as_label(w, require(w, m, "namespace", what), "namespace", &cc->namespace_);
        as_subdomain(w, require(w, m, "virtual_service", what), "virtual_service",
                     &cc->virtual_service);

        const struct ynode *v = map_get(m, "routes");
        if (as_sequence(w, v, "routes"))
                walk_routes(w, v, cc);

        const struct ynode *stable = require(w, m, "stable", what);
        const struct ynode *canary = require(w, m, "canary", what);
        if (as_mapping(w, stable, "stable"))
                walk_destination(w, stable, "the stable destination", &cc->stable);
        if (as_mapping(w, canary, "canary"))
                walk_destination(w, canary, "the canary destination", &cc->canary);
        if (cc->stable.host && cc->canary.host && streq_ptr(cc->stable.host, cc->canary.host) &&
            streq_ptr(cc->stable.subset, cc->canary.subset))
                PROBLEM_AT(w, canary, "the canary destination must differ from the stable one");

        v = require(w, m, "steps", what);
        if (as_sequence(w, v, "steps"))
                walk_steps(w, v, cc);
        as_duration(w, map_get(m, "interval"), "interval", true, &cc->interval_usec);
        walk_approve_timeout(w, m, cc);
        as_uint(w, map_get(m, "failure_limit"), "failure_limit", 0, UINT_MAX, &cc->failure_limit);
        as_uint(w, map_get(m, "inconclusive_limit"), "inconclusive_limit", 0, UINT_MAX,
                &cc->inconclusive_limit);
        as_url(w, map_get(m, "runbook_url"), "runbook_url", &cc->runbook_url);
        as_bool(w, map_get(m, "early_promotion"), "early_promotion", &cc->early_promotion);

        walk_canary_mapping(w, m, "trigger", walk_trigger, cc);
        walk_canary_mapping(w, m, "score", walk_score, cc);
        walk_canary_mapping(w, m, "scopes", walk_scopes, cc);
        v = require(w, m, "metrics", what);
        if (as_sequence(w, v, "metrics"))
                walk_metrics(w, v, m, cc);
        free(what);
}

/* One item of a list of canaries (of the main file or of a canaries_dir file), streamed from the
 * builder: appended to w->config. Duplicate names are found once the whole file is read. */
static void walk_canary_item(const struct ynode *m, void *userdata)
{
        struct walker *w = userdata;
        struct config *c = w->config;
        size_t index = w->items++;
        if (!as_mapping(w, m, "each canary"))
                return;
        if (c->n_canaries == w->canaries_allocated) {
                w->canaries_allocated = w->canaries_allocated ? w->canaries_allocated * 2 : 16;
                c->canaries = xrealloc(c->canaries, w->canaries_allocated * sizeof(*c->canaries));
        }
        struct canary_config *cc = &c->canaries[c->n_canaries++];
        *cc = (struct canary_config){.file = w->file ? xstrdup(w->file) : NULL};
        walk_canary(w, m, cc, index);
        const struct ynode *name = map_get(m, "name");
        if (cc->name && name) {
                cc->name_line = name->line;
                cc->name_column = name->column;
        }
}

/* A top-level section; one left empty (null, e.g. every key commented out) counts as absent. */
static const struct ynode *section(const struct ynode *root, const char *key)
{
        const struct ynode *v = map_get(root, key);
        return v && scalar_is_null(v) ? NULL : v;
}

/* Walks the top-level section key with walk when it is a mapping (absent or empty: nothing). */
static void walk_section(struct walker *w, const struct ynode *root, const char *key,
                         void (*walk)(struct walker *, const struct ynode *, struct config *),
                         struct config *c)
{
        const struct ynode *v = section(root, key);
        if (as_mapping(w, v, key))
                walk(w, v, c);
}

static void walk_root(struct walker *w, const struct ynode *root, struct config *c)
{
        static const char *const keys[] = {"datadog",      "kubernetes", "slack",
                                           "control",      "http",       "state_dir",
                                           "ha",           "canaries",   "journal_max_size",
                                           "canaries_dir", "pagerduty",  "report_url",
                                           "reports",      NULL};
        if (root->type != YNODE_MAPPING) {
                if (root->type != YNODE_ALIAS)
                        PROBLEM_AT(w, root, "the configuration must be a mapping, not %s",
                                   DESCRIBE(root));
                return;
        }
        check_keys(w, root, "the configuration", keys);

        walk_section(w, root, "datadog", walk_datadog, c);
        walk_section(w, root, "kubernetes", walk_kubernetes, c);
        walk_section(w, root, "slack", walk_slack, c);
        walk_section(w, root, "control", walk_control, c);
        walk_section(w, root, "http", walk_http, c);
        as_absolute_path(w, map_get(root, "state_dir"), "state_dir", &c->state_dir);
        as_uint(w, map_get(root, "journal_max_size"), "journal_max_size", 4096, 1U << 30,
                &c->journal_max_size);
        walk_section(w, root, "reports", walk_reports, c);
        walk_section(w, root, "ha", walk_ha, c);
        walk_section(w, root, "pagerduty", walk_pagerduty, c);
        as_url(w, map_get(root, "report_url"), "report_url", &c->report_url);
        as_sequence(w, section(root, "canaries"), "canaries"); /* its items were streamed */
        const struct ynode *v = map_get(root, "canaries_dir");
        if (as_string(w, v, "canaries_dir", &c->canaries_dir)) {
                c->canaries_dir_line = v->line;
                c->canaries_dir_column = v->column;
        }
}

static struct config *config_new_defaults(void)
{
        struct config *c = xcalloc(1, sizeof(*c));
        c->datadog.site = xstrdup("datadoghq.com");
        c->datadog.api = DATADOG_API_V1;
        c->datadog.query_lag_usec = 30 * USEC_PER_SEC;
        c->datadog.timeout_usec = 10 * USEC_PER_SEC;
        c->control.socket = xstrdup("/run/canaryd/control.sock");
        c->state_dir = xstrdup("/var/lib/canaryd");
        c->journal_max_size = 1024 * 1024;
        c->reports.keep = 20;
        c->reports.max_age_usec = 90 * 24 * 3600 * USEC_PER_SEC;
        c->ha.enabled = false;
        c->ha.shards = 16;
        c->ha.lease_duration_usec = 15 * USEC_PER_SEC;
        c->pagerduty.url = xstrdup("https://events.pagerduty.com");
        c->pagerduty.levels = ALERT_LEVELS_DEFAULT;
        return c;
}

/* ===== canary names ===== */

/* A canary name and where it is: file 0 is the main file, file i + 1 is files[i]. */
struct canary_ref {
        const char *name, *path;
        size_t file, order;
        unsigned line, column;
};

static int canary_ref_cmp(const void *a, const void *b)
{
        const struct canary_ref *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

static void canary_refs_add(struct canary_ref **refs, size_t *n, const struct config *c,
                            size_t from, size_t file, const char *main_path)
{
        size_t need = *n + c->n_canaries - from + 1, cap = 16;
        while (cap < need)
                cap *= 2; /* a power of two: growing file by file stays linear */
        *refs = xrealloc(*refs, cap * sizeof(**refs));
        for (size_t i = from; i < c->n_canaries; i++) {
                const struct canary_config *cc = &c->canaries[i];
                if (!cc->name)
                        continue;
                (*refs)[*n] = (struct canary_ref){cc->name,      cc->file ? cc->file : main_path,
                                                  file,          *n,
                                                  cc->name_line, cc->name_column};
                (*n)++;
        }
}

/* Names must be unique. One sort, then in each group of equal names (in file order): a later
 * occurrence in the same file is reported against the first one in that file, the first one in
 * a later file against the group's first, naming its file. Only occurrences in files from
 * first_file on are reported, each into problems[file]. */
static void report_duplicate_names(struct canary_ref *refs, size_t n, size_t first_file,
                                   struct config_problems *problems)
{
        if (n < 2)
                return;
        qsort(refs, n, sizeof(*refs), canary_ref_cmp);
        for (size_t i = 1, head = 0, in_file = 0; i < n; i++) {
                if (strcmp(refs[i].name, refs[head].name) != 0) {
                        head = in_file = i;
                        continue;
                }
                if (refs[i].file != refs[i - 1].file)
                        in_file = i;
                const struct canary_ref *r = &refs[i], *first = &refs[in_file];
                if (r->file < first_file)
                        continue;
                if (in_file != i)
                        yaml_problem_add(&problems[r->file], r->line, r->column,
                                         "duplicate canary name '%s' (first at line %u column %u)",
                                         r->name, first->line, first->column);
                else
                        yaml_problem_add(&problems[r->file], r->line, r->column,
                                         "duplicate canary name '%s' (first at %s:%u:%u)", r->name,
                                         refs[head].path, refs[head].line, refs[head].column);
        }
}

/* Appends copies of src's problems to dst, in file (NULL: the main one). */
static void problems_append(struct config_problems *dst, const struct config_problems *src,
                            const char *file)
{
        for (size_t i = 0; i < src->n; i++)
                config_problems_add(dst, file, src->items[i].line, src->items[i].column, "%s",
                                    src->items[i].message);
}

/* Parses one file whose canaries are streamed into w->config: the main file (the list under
 * `canaries`, and every other key walked into w->config) or, with w->file, a canaries_dir file
 * (a list of canaries). Problems go to *problems; those of the canaries only when the file is
 * valid YAML (a syntax error is then the file's one problem, as for any other file). Returns
 * false when the file is not valid YAML. */
static bool parse_file(struct walker *w, const char *text, size_t len,
                       struct config_problems *problems)
{
        struct config_problems streamed = {0};
        struct arena arena = {0};
        struct ynode *root = NULL;

        w->problems = &streamed;
        w->items = 0;
        int r = yaml_tree_parse(text ? text : "", text ? len : 0, problems, &arena,
                                w->file ? NULL : "canaries", walk_canary_item, w, &root);
        w->problems = problems;
        if (r == 0) {
                problems_append(problems, &streamed, NULL);
                if (!root && !w->file)
                        yaml_problem_add(
                            problems, 1, 1,
                            "the configuration is empty: expected a mapping of sections");
                else if (root && !w->file)
                        walk_root(w, root, w->config);
                else if (root && root->type != YNODE_SEQUENCE && root->type != YNODE_ALIAS)
                        PROBLEM_AT(w, root,
                                   "a canaries_dir file must be a list of canaries, not %s",
                                   DESCRIBE(root));
                /* an empty canaries_dir file, or only comments, has no canaries */
        }
        config_problems_free(&streamed);
        yaml_arena_free(&arena);
        return r == 0;
}

/* The canaries array grew by doubling while parsing: up to half of it unused, which at 10,000
 * canaries is megabytes held for the daemon's life. */
static void canaries_shrink_to_fit(struct config *c)
{
        if (c->n_canaries > 0)
                c->canaries = xrealloc(c->canaries, c->n_canaries * sizeof(*c->canaries));
}

int config_parse_partial(const char *text, size_t len, struct config **ret,
                         struct config_problems *problems)
{
        size_t before = problems->n;
        struct config *c = config_new_defaults();
        struct walker w = {.config = c};

        if (parse_file(&w, text, len, problems)) {
                struct canary_ref *refs = NULL;
                size_t n_refs = 0;
                canary_refs_add(&refs, &n_refs, c, 0, 0, NULL);
                report_duplicate_names(refs, n_refs, 0, problems);
                free(refs);
        }
        canaries_shrink_to_fit(c);
        *ret = c;
        if (problems->n > before) {
                yaml_problems_sort(problems, before);
                return -EINVAL;
        }
        return 0;
}

int config_parse(const char *text, size_t len, struct config **ret,
                 struct config_problems *problems)
{
        struct config *c = NULL;
        int r = config_parse_partial(text, len, &c, problems);
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ===== the files of canaries_dir ===== */

int config_parse_canaries(struct config *c, const char *main_path, const struct config_file *files,
                          size_t n_files, struct config_problems *problems)
{
        /* problems per file: [0] the main file's (none: it was checked), [i + 1] files[i]'s */
        struct config_problems *per_file = xcalloc(n_files + 1, sizeof(*per_file));
        /* the canaries are appended to c as they are parsed, and taken out again on failure */
        size_t n_main = c->n_canaries;
        struct walker w = {.config = c, .canaries_allocated = n_main};
        struct canary_ref *refs = NULL;
        size_t n_refs = 0, n_problems = 0;

        canary_refs_add(&refs, &n_refs, c, 0, 0, main_path);
        for (size_t i = 0; i < n_files; i++) {
                size_t from = c->n_canaries;
                if (files[i].error < 0) {
                        yaml_problem_add(&per_file[i + 1], 0, 0, "cannot read the file: %s",
                                         strerror(-files[i].error));
                        continue;
                }
                w.file = files[i].path;
                if (parse_file(&w, files[i].text, files[i].len, &per_file[i + 1]))
                        canary_refs_add(&refs, &n_refs, c, from, i + 1, main_path);
        }
        report_duplicate_names(refs, n_refs, 1, per_file);
        free(refs);

        for (size_t i = 0; i < n_files; i++) {
                yaml_problems_sort(&per_file[i + 1], 0);
                problems_append(problems, &per_file[i + 1], files[i].path);
                n_problems += per_file[i + 1].n;
                config_problems_free(&per_file[i + 1]);
        }
        free(per_file);
        if (n_problems == 0) {
                canaries_shrink_to_fit(c);
                return 0;
        }
        /* c as it was: the canaries added are freed by way of a config holding only them */
        struct config *added = xcalloc(1, sizeof(*added));
        added->n_canaries = c->n_canaries - n_main;
        added->canaries = xmalloc((added->n_canaries + 1) * sizeof(*added->canaries));
        if (added->n_canaries > 0)
                memcpy(added->canaries, c->canaries + n_main,
                       added->n_canaries * sizeof(*c->canaries));
        c->n_canaries = n_main;
        config_free(added);
        return -EINVAL;
}
