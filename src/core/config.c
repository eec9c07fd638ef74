/* The parts of the config module that need no YAML: enum names, freeing, lookup and printing
 * problems (src/codec/config-yaml.c parses). Pure libc, so that core modules such as the judge
 * can use the names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "canaryd/config.h"

static const char *const judge_names[_JUDGE_KIND_MAX] = {
    [JUDGE_THRESHOLD] = "threshold",
    [JUDGE_RATIO] = "ratio",
    [JUDGE_MANN_WHITNEY] = "mann_whitney",
    [JUDGE_SEQUENTIAL] = "sequential",
};
static const char *const reducer_names[_REDUCER_MAX] = {
    [REDUCER_AVG] = "avg", [REDUCER_LAST] = "last", [REDUCER_MIN] = "min",
    [REDUCER_MAX] = "max", [REDUCER_SUM] = "sum",   [REDUCER_P50] = "p50",
    [REDUCER_P90] = "p90", [REDUCER_P95] = "p95",   [REDUCER_P99] = "p99",
};
static const char *const direction_names[_DIRECTION_MAX] = {
    [DIRECTION_INCREASE] = "increase",
    [DIRECTION_DECREASE] = "decrease",
    [DIRECTION_EITHER] = "either",
};
static const char *const on_no_data_names[_NO_DATA_MAX] = {
    [NO_DATA_INCONCLUSIVE] = "inconclusive",
    [NO_DATA_FAIL] = "fail",
    [NO_DATA_PASS] = "pass",
};
static const char *const metric_kind_names[_METRIC_KIND_MAX] = {
    [METRIC_KIND_CONTINUOUS] = "continuous",
    [METRIC_KIND_COUNT] = "count",
};
static const char *const combine_names[_COMBINE_MAX] = {
    [COMBINE_NONE] = "none", [COMBINE_SUM] = "sum", [COMBINE_AVG] = "avg",
    [COMBINE_MIN] = "min",   [COMBINE_MAX] = "max", [COMBINE_POOL] = "pool",
};
static const char *const api_names[] = {[DATADOG_API_V1] = "v1", [DATADOG_API_V2] = "v2"};

const char *judge_kind_to_string(enum judge_kind k)
{
        return (unsigned)k < _JUDGE_KIND_MAX ? judge_names[k] : NULL;
}

const char *reducer_to_string(enum reducer r)
{
        return (unsigned)r < _REDUCER_MAX ? reducer_names[r] : NULL;
}

const char *direction_to_string(enum direction d)
{
        return (unsigned)d < _DIRECTION_MAX ? direction_names[d] : NULL;
}

const char *on_no_data_to_string(enum on_no_data o)
{
        return (unsigned)o < _NO_DATA_MAX ? on_no_data_names[o] : NULL;
}

const char *metric_kind_to_string(enum metric_kind k)
{
        return (unsigned)k < _METRIC_KIND_MAX ? metric_kind_names[k] : NULL;
}

const char *datadog_api_to_string(enum datadog_api a)
{
        return (unsigned)a < ELEMENTSOF(api_names) ? api_names[a] : NULL;
}

const char *combine_to_string(enum combine c)
{
        return (unsigned)c < _COMBINE_MAX ? combine_names[c] : NULL;
}

void config_problems_free(struct config_problems *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->items[i].file);
                free(p->items[i].message);
        }
        free(p->items);
        *p = (struct config_problems){0};
}

void config_problems_addv(struct config_problems *p, const char *file, unsigned line,
                          unsigned column, const char *fmt, va_list ap)
{
        if (p->n == p->allocated) {
                p->allocated = p->allocated ? p->allocated * 2 : 8;
                p->items = xrealloc(p->items, p->allocated * sizeof(*p->items));
        }
        char *msg;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = xstrdup("(out of memory formatting a problem)");
        p->items[p->n++] = (struct config_problem){
            .file = file ? xstrdup(file) : NULL, .line = line, .column = column, .message = msg};
}

void config_problems_add(struct config_problems *p, const char *file, unsigned line,
                         unsigned column, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        config_problems_addv(p, file, line, column, fmt, ap);
        va_end(ap);
}

const char *config_problem_file(const struct config_problem *item, const char *main_path)
{
        return item->file ? item->file : main_path;
}

void config_problems_print(const struct config_problems *p, const char *path, FILE *f)
{
        for (size_t i = 0; p && i < p->n; i++)
                fprintf(f, "%s:%u:%u: %s\n", config_problem_file(&p->items[i], path),
                        p->items[i].line, p->items[i].column, p->items[i].message);
}

static void metric_config_done(struct metric_config *m)
{
        free(m->name);
        free(m->query);
        free(m->group);
}

static void canary_config_done(struct canary_config *cc)
{
        free(cc->name);
        free(cc->file);
        free(cc->namespace_);
        free(cc->virtual_service);
        for (size_t i = 0; i < cc->n_routes; i++)
                free(cc->routes[i]);
        free(cc->routes);
        free(cc->stable.host);
        free(cc->stable.subset);
        free(cc->canary.host);
        free(cc->canary.subset);
        free(cc->runbook_url);
        free(cc->trigger_deployment);
        for (size_t i = 0; i < cc->n_score_weights; i++)
                free(cc->score_weights[i].group);
        free(cc->score_weights);
        free(cc->scope_canary);
        free(cc->scope_baseline);
        for (size_t i = 0; i < cc->n_metrics; i++)
                metric_config_done(&cc->metrics[i]);
        free(cc->metrics);
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        free(c->datadog.site);
        free(c->datadog.url);
        free(c->datadog.api_key_file);
        free(c->datadog.app_key_file);
        free(c->kubernetes.kubeconfig);
        free(c->kubernetes.context);
        free(c->kubernetes.virtual_service_version);
        free(c->slack.webhook_url_file);
        free(c->slack.token_file);
        free(c->slack.channel);
        free(c->slack.url);
        free(c->slack.channel_info);
        free(c->slack.channel_warn);
        free(c->slack.channel_error);
        free(c->slack.mention);
        free(c->slack.signing_secret_file);
        for (size_t i = 0; i < c->slack.n_approvers; i++) {
                for (size_t k = 0; k < c->slack.approvers[i].n_ids; k++)
                        free(c->slack.approvers[i].ids[k]);
                free(c->slack.approvers[i].ids);
                free(c->slack.approvers[i].canary);
        }
        free(c->slack.approvers);
        free(c->control.socket);
        free(c->control.group);
        free(c->control.read_group);
        free(c->http.listen);
        free(c->pagerduty.routing_key_file);
        free(c->pagerduty.url);
        free(c->report_url);
        free(c->state_dir);
        free(c->ha.namespace_);
        free(c->canaries_dir);
        for (size_t i = 0; i < c->n_canaries; i++)
                canary_config_done(&c->canaries[i]);
        free(c->canaries);
        free(c);
        return NULL;
}

bool canary_step_approve(const struct canary_config *c, size_t i)
{
        return i < c->n_steps && i < CONFIG_MAX_STEPS && (c->step_approve[i / 8] >> (i % 8)) & 1;
}

const struct canary_config *config_find_canary(const struct config *c, const char *name)
{
        for (size_t i = 0; c && name && i < c->n_canaries; i++)
                if (streq_ptr(c->canaries[i].name, name))
                        return &c->canaries[i];
        return NULL;
}
