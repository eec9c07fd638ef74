/* The typed configuration of SPEC §3 (reference: docs/configuration.md). Parsed from YAML by
 * config_parse() (src/codec/config-yaml.c); names, config_free() and printing live in
 * src/core/config.c, durations in src/core/duration.c. config_parse() collects every problem with
 * its line and column instead of stopping at the first; config_parse_canaries() adds the files of
 * canaries_dir (SPEC §7), read by config_load() (src/io/config-load.c). Every string is owned by
 * the struct config and freed by config_free(). Unset optional strings are NULL; unset optional
 * numbers are NAN. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "canaryd/util.h"

#define CONFIG_MAX_STEPS 100

enum judge_kind {
        JUDGE_THRESHOLD,
        JUDGE_RATIO,
        JUDGE_MANN_WHITNEY,
        JUDGE_SEQUENTIAL,
        _JUDGE_KIND_MAX
};
enum reducer {
        REDUCER_AVG,
        REDUCER_LAST,
        REDUCER_MIN,
        REDUCER_MAX,
        REDUCER_SUM,
        REDUCER_P50,
        REDUCER_P90,
        REDUCER_P95,
        REDUCER_P99,
        _REDUCER_MAX
};
enum direction { DIRECTION_INCREASE, DIRECTION_DECREASE, DIRECTION_EITHER, _DIRECTION_MAX };
enum on_no_data { NO_DATA_INCONCLUSIVE, NO_DATA_FAIL, NO_DATA_PASS, _NO_DATA_MAX };
/* What a sequential metric's values are: any measurement, or event counts per timestamp
 * (Datadog `.as_count()`), judged as rates. */
enum metric_kind { METRIC_KIND_CONTINUOUS, METRIC_KIND_COUNT, _METRIC_KIND_MAX };
/* Kayenta's per-arm preprocessing and effect size (names: include/canaryd/preprocess.h and
 * include/canaryd/mannwhitney.h). */
enum nan_strategy { NAN_STRATEGY_REMOVE, NAN_STRATEGY_REPLACE, _NAN_STRATEGY_MAX };
enum outlier_strategy { OUTLIERS_KEEP, OUTLIERS_REMOVE, _OUTLIERS_MAX };
enum effect_size { EFFECT_SIZE_MEAN_RATIO, EFFECT_SIZE_CLES, _EFFECT_SIZE_MAX };
enum datadog_api { DATADOG_API_V1, DATADOG_API_V2 };
/* How several series answering one query (a `by {tag}` query) become one list of values. */
enum combine {
        COMBINE_NONE, /* several series are an error naming the query (the default) */
        COMBINE_SUM,  /* point by point over equal timestamps */
        COMBINE_AVG,
        COMBINE_MIN,
        COMBINE_MAX,
        COMBINE_POOL, /* every point of every series, as separate samples */
        _COMBINE_MAX
};

/* Names as written in YAML and shown in status output; NULL for out-of-range values. */
const char *judge_kind_to_string(enum judge_kind k);
const char *reducer_to_string(enum reducer r);
const char *direction_to_string(enum direction d);
const char *on_no_data_to_string(enum on_no_data o);
const char *metric_kind_to_string(enum metric_kind k); /* "continuous" | "count" */
const char *datadog_api_to_string(enum datadog_api a); /* "v1" | "v2" */
const char *combine_to_string(enum combine c);

struct metric_config {
        char *name;
        char *query; /* template: {{scope}} {{name}} {{namespace}} {{interval}} */
        enum judge_kind judge;
        enum reducer reducer;        /* default avg */
        double min, max;             /* threshold: NAN = unbounded on that side */
        double max_ratio, min_ratio; /* ratio: NAN = unbounded; at least one set */
        bool critical;
        char *group;                /* NULL: none */
        enum direction direction;   /* default increase */
        double confidence;          /* default 0.98 */
        double allowed_increase;    /* default 1.0 */
        double allowed_decrease;    /* default 1.0 */
        double tolerance;           /* default 0.25 (sequential: 0.02, relative) */
        double alpha;               /* sequential: per-metric false-failure level (0.01) */
        enum metric_kind kind;      /* sequential: default continuous */
        unsigned min_samples;       /* default 10 for mann_whitney and sequential, else 1 */
        enum on_no_data on_no_data; /* default inconclusive */
        enum combine combine;       /* default none: several series are an error */

        /* Kayenta's preprocessing (any judge) and effect size (mann_whitney). */
        enum nan_strategy nan_strategy; /* default remove (replace: NaN -> 0) */
        enum outlier_strategy outliers; /* default keep */
        double outlier_factor;          /* IQR multiplier of the outlier fences, default 3.0 */
        enum effect_size effect_size;   /* mann_whitney: default mean_ratio */
        double critical_increase;       /* critical High needs effect >= this (= allowed_*) */
        double critical_decrease;       /* critical Low needs effect <= this (= allowed_*) */
};

struct destination_config {
        char *host;
        char *subset; /* NULL: no subset */
};

struct score_weight {
        char *group;
        double weight;
};

struct canary_config {
        char *name;
        char *file; /* the canaries_dir file defining it; NULL: the main file */
        unsigned name_line, name_column; /* where its name is, in that file */
        char *namespace_;
        char *virtual_service;
        char **routes; /* NULL-terminated; NULL or empty: every route holding both destinations */
        size_t n_routes;
        struct destination_config stable, canary;
        /* strictly increasing percentages in 1..100 (a byte each: 10,000 canaries keep their
         * configs in memory); the last may be < 100: passing its analysis then promotes */
        uint8_t steps[CONFIG_MAX_STEPS];
        size_t n_steps;
        usec_t interval_usec;        /* default 5m */
        unsigned failure_limit;      /* default 1 */
        unsigned inconclusive_limit; /* default 3 */
        bool early_promotion;        /* a step may pass before interval when every sequential
                                      * metric's confidence sequence is inside ±tolerance */
        bool has_score;
        /* bit i % 8 of byte i / 8: steps[i] waits for approval once its analysis passes
         * (`{weight: W, approve: true}`, SPEC §9); canary_step_approve() reads it. Beside the
         * flags above, in what was their padding: with the timeout, 16 bytes a canary. */
        uint8_t step_approve[(CONFIG_MAX_STEPS + 7) / 8];
        usec_t approve_timeout_usec; /* a wait for approval pauses after this; 0: none (default) */
        char *runbook_url;
        char *trigger_deployment;          /* NULL: manual start only */
        double score_pass, score_marginal; /* 0..100, marginal <= pass (default: = pass) */
        struct score_weight *score_weights;
        size_t n_score_weights;
        char *scope_canary, *scope_baseline;
        struct metric_config *metrics;
        size_t n_metrics;
};

/* Who may act on a canary from Slack: its name (or "*": every canary) and Slack IDs (users U...
 * or W..., user groups S...). */
struct slack_approvers {
        char *canary;
        char **ids;
        size_t n_ids;
};

struct config {
        struct {
                char *site; /* default datadoghq.com */
                char *url;  /* NULL: https://api.<site> */
                enum datadog_api api;
                usec_t query_lag_usec; /* default 30s */
                usec_t timeout_usec;   /* default 10s */
                char *api_key_file;    /* NULL: $DD_API_KEY */
                char *app_key_file;    /* NULL: $DD_APP_KEY */
                bool events;           /* POST /api/v1/events per rollout event; default off */
        } datadog;
        struct {
                char *kubeconfig; /* NULL: in-cluster service account */
                char *context;
                /* "v1", "v1beta1", "v1alpha3"; NULL ("auto", the default): discovery */
                char *virtual_service_version;
        } kubernetes;
        struct {
                char *webhook_url_file;
                char *token_file;
                char *channel;
                char *url; /* base URL override */
                /* token mode: events of a severity also go to this channel (NULL: not) */
                char *channel_info, *channel_warn, *channel_error;
                char *mention; /* "<!subteam^ID>", "<!here>", "<@U...>": put on error events */
                /* interactivity (SPEC §9): requests are verified with the signing secret and
                 * acted on for the approvers of the canary they name */
                char *signing_secret_file;
                struct slack_approvers *approvers;
                size_t n_approvers;
        } slack;
        struct {
                char *socket; /* default /run/canaryd/control.sock */
                char *group;  /* group name or number owning the socket; NULL: the daemon's */
                /* group name or number whose members may only read (status, history,
                 * report); it then owns the socket, and only root, the daemon's user and
                 * members of `group` may change anything. NULL: no split */
                char *read_group;
                /* where their values are, for --check-config's look-up of the groups */
                unsigned group_line, group_column, read_group_line, read_group_column;
        } control;
        struct {
                char *listen; /* "HOST:PORT" (listen-address.h); NULL: no HTTP endpoint */
        } http;
        struct {
                /* the Events API v2 integration key; NULL: no PagerDuty (docs/alerts.md) */
                char *routing_key_file;
                char *url;       /* default https://events.pagerduty.com */
                unsigned levels; /* alert levels that page, ALERT_LEVEL_BIT()s; default {1} */
        } pagerduty;
        char *report_url;          /* base URL the reports are served at; NULL: not linked */
        char *state_dir;           /* default /var/lib/canaryd */
        unsigned journal_max_size; /* bytes; the decision journal rotates beyond (default 1 MiB) */
        struct {
                unsigned keep;       /* reports kept per canary (default 20) */
                usec_t max_age_usec; /* older ones are removed (default 2160h, 90 days; 0: no
                                        limit) */
        } reports;
        struct {
                bool enabled; /* true when the ha mapping is present (unless enabled: false) */
                char *namespace_;
                unsigned shards;            /* default 16 */
                usec_t lease_duration_usec; /* default 15s */
        } ha;
        char *canaries_dir; /* as written; relative to the main file's directory. NULL: none */
        unsigned canaries_dir_line, canaries_dir_column; /* of its value, for I/O errors */
        struct canary_config *canaries;
        size_t n_canaries;
};

struct config_problem {
        char *file;            /* NULL: the main configuration file */
        unsigned line, column; /* 1-based, as printed */
        char *message;
};

struct config_problems {
        struct config_problem *items; /* sorted by file (main first), then line and column */
        size_t n;
        size_t allocated; /* capacity of items; internal */
};

/* Parses YAML text (not NUL-terminated necessarily) into a config. Returns 0 and *ret (owned by
 * the caller: config_free) on success. On any problem returns -EINVAL, leaves *ret untouched and
 * appends every problem found to *problems (which the caller frees with config_problems_free),
 * then sorts them by position. Each problem points at the offending token (a missing key: at the
 * mapping that lacks it). Secret files (*_file) are not read; relative paths stay as written. */
int config_parse(const char *text, size_t len, struct config **ret,
                 struct config_problems *problems);

/* As config_parse(), but *ret is set on failure too (-EINVAL): to what could be read, only to be
 * given to config_parse_canaries() (whose problems then come on top) and freed, so that the
 * files of canaries_dir are checked even when the main file has problems. */
int config_parse_partial(const char *text, size_t len, struct config **ret,
                         struct config_problems *problems);

/* One file of canaries_dir, already read: a YAML list of canaries (the schema of `canaries:`). */
struct config_file {
        const char *path; /* as shown in problems and kept in canary_config.file */
        const char *text;
        size_t len;
        int error; /* a negative errno: the file could not be read (a problem at 0:0) */
};

/* Adds the canaries of files (in that order) to c, which config_parse() returned for the file
 * main_path (only named in messages). Canary names must be unique across c and every file: a
 * later occurrence in another file is a problem naming the first place as PATH:LINE:COLUMN.
 * Returns 0 with the canaries appended, or -EINVAL with c unchanged and every problem of every
 * file appended to *problems (each with its file, in file order, then by position). */
int config_parse_canaries(struct config *c, const char *main_path, const struct config_file *files,
                          size_t n_files, struct config_problems *problems);

struct config *config_free(struct config *c);         /* NULL-safe, returns NULL */
void config_problems_free(struct config_problems *p); /* frees the items, leaves it empty */

/* Appends a problem; file NULL is the main file (copied otherwise). */
void config_problems_add(struct config_problems *p, const char *file, unsigned line,
                         unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void config_problems_addv(struct config_problems *p, const char *file, unsigned line,
                          unsigned column, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/* Prints every problem as "PATH:LINE:COLUMN: message\n" (what --check-config shows); path names
 * the main file, problems of other files carry their own. */
void config_problems_print(const struct config_problems *p, const char *path, FILE *f);
/* The file a problem is in: its own, or main_path for the main file. */
const char *config_problem_file(const struct config_problem *item, const char *main_path);

/* Does step index i (0-based) of c wait for approval after its analysis passes? */
bool canary_step_approve(const struct canary_config *c, size_t i);

/* The canary called name, or NULL. Borrowed from c. */
const struct canary_config *config_find_canary(const struct config *c, const char *name);

/* Parses "250ms", "30s", "5m", "1h" (also "0", "us", and sums like "1m30s" or "1h30m").
 * Non-negative integers only, no spaces. Returns 0, -EINVAL (syntax, negative, unknown or
 * missing unit) or -ERANGE (overflows usec_t). */
int duration_parse(const char *s, usec_t *ret);
/* Formats into buf as the shortest exact form ("90s", "5m", "250ms", "25h30s"; "0" for 0) that
 * duration_parse() reads back; cut to fit size (always NUL-terminated when size > 0). Returns
 * buf. */
char *duration_format(usec_t u, char *buf, size_t size);
/* An age for people, as kubectl prints it: "45s", "5m30s", "130m", "3h10m", "3d4h", "400d" (rounded
 * down; the second unit only while the first is small). Returns buf. */
char *duration_format_age(usec_t u, char *buf, size_t size);
