/* The configuration parser (SPEC §3, §7): golden pairs in tests/data/config (good-*.yaml must
 * parse; bad-*.yaml must print exactly bad-*.err, with the files of its canaries_dir, if any,
 * named as config_load() found them), typed values and defaults, the shipped example. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canaryd/config-load.h"
#include "canaryd/files.h"

#define CONFIG_DIR "config"

/* Loads path; fails the test with the printed problems when it does not parse. */
static struct config *load_good(const char *path)
{
        struct config *c = NULL;
        struct config_problems p = {0};
        int r = config_load(path, &c, &p);
        if (r != 0) {
                config_problems_print(&p, path, stderr);
                config_problems_free(&p);
                fail_msg("%s: expected to parse, got %d", path, r);
        }
        assert_non_null(c);
        assert_int_equal(p.n, 0);
        return c;
}

static char *problems_text(const struct config_problems *p, const char *name)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        assert_non_null(f);
        config_problems_print(p, name, f);
        fclose(f);
        return text;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in CONFIG_DIR starting with prefix and ending in .yaml. */
static size_t list_yaml(const char *prefix, char ***ret)
{
        DIR *d = opendir(CONFIG_DIR);
        assert_non_null(d);
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d));) {
                size_t l = strlen(de->d_name);
                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || l < 5 ||
                    strcmp(de->d_name + l - 5, ".yaml") != 0)
                        continue;
                names = xrealloc(names, (n + 1) * sizeof(*names));
                names[n++] = xstrdup(de->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof(*names), name_cmp);
        *ret = names;
        return n;
}

static void every_good_file_parses(void **state)
{
        char **names;
        size_t n = list_yaml("good-", &names);
        assert_true(n >= 3);
        for (size_t i = 0; i < n; i++) {
                char *path = xasprintf(CONFIG_DIR "/%s", names[i]);
                config_free(load_good(path));
                free(path);
                free(names[i]);
        }
        free(names);
}

static void every_bad_file_prints_its_golden_problems(void **state)
{
        char **names;
        size_t n = list_yaml("bad-", &names);
        assert_true(n >= 12);
        for (size_t i = 0; i < n; i++) {
                char *path = xasprintf(CONFIG_DIR "/%s", names[i]);
                char *err_path =
                    xasprintf(CONFIG_DIR "/%.*s.err", (int)(strlen(names[i]) - 5), names[i]);
                char *expected = NULL;
                size_t expected_len;
                if (read_file(err_path, 1 << 20, &expected, &expected_len) < 0)
                        fail_msg("%s: missing golden file %s", names[i], err_path);

                struct config *sentinel = (struct config *)(uintptr_t)0x1;
                struct config *c = sentinel;
                struct config_problems p = {0};
                int r = config_load(path, &c, &p);
                char *got = problems_text(&p, names[i]);
                if (r != -EINVAL || c != sentinel || p.n == 0 || strcmp(got, expected) != 0)
                        fail_msg("%s: r=%d\n--- expected\n%s--- got\n%s", names[i], r, expected,
                                 got);
                /* in order within each file (a canaries_dir case spans several) */
                for (size_t j = 1; j < p.n; j++)
                        assert_true(!streq_ptr(p.items[j - 1].file, p.items[j].file) ||
                                    p.items[j - 1].line < p.items[j].line ||
                                    (p.items[j - 1].line == p.items[j].line &&
                                     p.items[j - 1].column <= p.items[j].column));
                free(got);
                free(expected);
                config_problems_free(&p);
                assert_int_equal(p.n, 0);
                assert_null(p.items);
                free(path);
                free(err_path);
                free(names[i]);
        }
        free(names);
}

static void several_problems_are_all_reported(void **state)
{
        struct config *c = NULL;
        struct config_problems p = {0};
        assert_int_equal(config_load(CONFIG_DIR "/bad-many.yaml", &c, &p), -EINVAL);
        assert_true(p.n >= 8);
        assert_int_equal(p.items[0].line, 4);
        assert_int_equal(p.items[0].column, 8);
        config_problems_free(&p);
}

static void minimal_file_gets_defaults(void **state)
{
        struct config *c = load_good(CONFIG_DIR "/good-minimal.yaml");
        assert_string_equal(c->datadog.site, "datadoghq.com");
        assert_null(c->datadog.url);
        assert_int_equal(c->datadog.api, DATADOG_API_V1);
        assert_true(c->datadog.query_lag_usec == 30 * USEC_PER_SEC);
        assert_true(c->datadog.timeout_usec == 10 * USEC_PER_SEC);
        assert_null(c->datadog.api_key_file);
        assert_null(c->datadog.app_key_file);
        assert_null(c->kubernetes.kubeconfig);
        assert_null(c->slack.webhook_url_file);
        assert_null(c->slack.token_file);
        assert_string_equal(c->control.socket, "/run/canaryd/control.sock");
        assert_null(c->control.read_group); /* no split: everyone may do everything */
        assert_string_equal(c->state_dir, "/var/lib/canaryd");
        assert_false(c->ha.enabled);
        assert_int_equal(c->ha.shards, 16);
        assert_true(c->ha.lease_duration_usec == 15 * USEC_PER_SEC);

        assert_int_equal(c->n_canaries, 1);
        const struct canary_config *cc = &c->canaries[0];
        assert_string_equal(cc->name, "web");
        assert_string_equal(cc->namespace_, "shop");
        assert_null(cc->routes);
        assert_int_equal(cc->n_routes, 0);
        assert_string_equal(cc->stable.host, "web");
        assert_null(cc->stable.subset);
        assert_string_equal(cc->canary.host, "web-canary");
        assert_int_equal(cc->n_steps, 2);
        assert_int_equal(cc->steps[0], 10);
        assert_int_equal(cc->steps[1], 50); /* a last step below 100 is allowed */
        assert_false(canary_step_approve(cc, 0) || canary_step_approve(cc, 1));
        assert_true(cc->approve_timeout_usec == 0); /* none: a wait for approval lasts */
        assert_true(cc->interval_usec == 5 * 60 * USEC_PER_SEC);
        assert_int_equal(cc->failure_limit, 1);
        assert_int_equal(cc->inconclusive_limit, 3);
        assert_null(cc->runbook_url);
        assert_null(cc->trigger_deployment);
        assert_false(cc->has_score);
        assert_string_equal(cc->scope_canary, "version:canary");

        assert_int_equal(cc->n_metrics, 2);
        const struct metric_config *m = &cc->metrics[0];
        assert_int_equal(m->judge, JUDGE_THRESHOLD);
        assert_int_equal(m->reducer, REDUCER_AVG);
        assert_true(isnan(m->min));
        assert_true(m->max == 0.5);
        assert_true(isnan(m->max_ratio) && isnan(m->min_ratio));
        assert_false(m->critical);
        assert_null(m->group);
        assert_int_equal(m->min_samples, 1);
        assert_int_equal(m->on_no_data, NO_DATA_INCONCLUSIVE);

        m = &cc->metrics[1];
        assert_int_equal(m->judge, JUDGE_MANN_WHITNEY);
        assert_int_equal(m->direction, DIRECTION_EITHER);
        assert_true(m->confidence == 0.98);
        assert_true(m->allowed_increase == 1.0 && m->allowed_decrease == 1.0);
        assert_true(m->tolerance == 0.25);
        assert_int_equal(m->min_samples, 10);
        config_free(c);
}

static void full_file_reads_every_key(void **state)
{
        struct config *c = load_good(CONFIG_DIR "/good-full.yaml");
        assert_string_equal(c->datadog.site, "datadoghq.eu");
        assert_string_equal(c->datadog.url, "https://dd-proxy.internal:8443");
        assert_int_equal(c->datadog.api, DATADOG_API_V2);
        assert_true(c->datadog.query_lag_usec == 90 * USEC_PER_SEC);
        assert_true(c->datadog.timeout_usec == 2500 * USEC_PER_MSEC);
        assert_string_equal(c->datadog.api_key_file, "/etc/canaryd/dd-api");
        assert_string_equal(c->datadog.app_key_file, "dd-app"); /* relative: kept as written */
        assert_string_equal(c->kubernetes.kubeconfig, "/etc/canaryd/kubeconfig");
        assert_string_equal(c->kubernetes.context, "staging");
        assert_string_equal(c->slack.token_file, "slack-token");
        assert_string_equal(c->slack.channel, "#deploys");
        assert_string_equal(c->slack.url, "http://127.0.0.1:8127");
        assert_string_equal(c->control.socket, "/run/canaryd-test/ctl.sock");
        assert_string_equal(c->control.group, "canaryd-ops");
        assert_string_equal(c->control.read_group, "4242");
        assert_string_equal(c->state_dir, "/srv/canaryd");
        assert_true(c->ha.enabled);
        assert_string_equal(c->ha.namespace_, "canaryd-system");
        assert_int_equal(c->ha.shards, 32);
        assert_true(c->ha.lease_duration_usec == 20 * USEC_PER_SEC);

        assert_int_equal(c->n_canaries, 2);
        const struct canary_config *cc = config_find_canary(c, "checkout");
        assert_ptr_equal(cc, &c->canaries[0]);
        assert_ptr_equal(config_find_canary(c, "search"), &c->canaries[1]);
        assert_null(config_find_canary(c, "nope"));
        assert_null(config_find_canary(c, NULL));

        assert_string_equal(cc->virtual_service, "checkout.payments");
        assert_int_equal(cc->n_routes, 2);
        assert_string_equal(cc->routes[0], "primary");
        assert_string_equal(cc->routes[1], "fallback");
        assert_null(cc->routes[2]);
        assert_string_equal(cc->stable.subset, "v1");
        assert_string_equal(cc->canary.subset, "v2");
        static const uint8_t steps[] = {1, 2, 5, 20, 60};
        assert_int_equal(cc->n_steps, ELEMENTSOF(steps));
        assert_memory_equal(cc->steps, steps, sizeof(steps));
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) /* {weight, approve: true} at 20 and 60 */
                assert_int_equal(canary_step_approve(cc, i), i >= 3);
        assert_false(canary_step_approve(cc, ELEMENTSOF(steps)));
        assert_true(cc->approve_timeout_usec == 4 * 3600 * USEC_PER_SEC + 30 * 60 * USEC_PER_SEC);
        assert_true(cc->interval_usec == 3600 * USEC_PER_SEC);
        assert_int_equal(cc->failure_limit, 0);
        assert_int_equal(cc->inconclusive_limit, 7);
        assert_string_equal(cc->runbook_url, "https://runbooks.example.com/checkout");
        assert_string_equal(cc->trigger_deployment, "checkout-v2");
        assert_true(cc->has_score);
        assert_true(cc->score_pass == 90.5 && cc->score_marginal == 60);
        assert_int_equal(cc->n_score_weights, 2);
        assert_string_equal(cc->score_weights[0].group, "lat");
        assert_true(cc->score_weights[0].weight == 3);
        assert_string_equal(cc->score_weights[1].group, "err");
        assert_true(cc->score_weights[1].weight == 1.5);
        assert_string_equal(cc->scope_canary, "version:v2");
        assert_string_equal(cc->scope_baseline, "version:v1");

        assert_int_equal(cc->n_metrics, 3);
        const struct metric_config *m = &cc->metrics[0];
        assert_string_equal(m->name, "err_ratio");
        assert_string_equal(m->query, "sum:errors{{{scope}},ns:{{namespace}}}.as_count() / "
                                      "sum:hits{{{scope}}}.as_count()");
        assert_int_equal(m->judge, JUDGE_RATIO);
        assert_int_equal(m->reducer, REDUCER_P95);
        assert_true(m->min_ratio == 0.5 && m->max_ratio == 1.25);
        assert_true(isnan(m->min) && isnan(m->max));
        assert_true(m->critical);
        assert_string_equal(m->group, "err");
        assert_int_equal(m->min_samples, 3);
        assert_int_equal(m->on_no_data, NO_DATA_FAIL);
        m = &cc->metrics[1];
        assert_string_equal(m->name, "p99.latency");
        assert_int_equal(m->direction, DIRECTION_EITHER);
        assert_true(m->confidence == 0.9 && m->allowed_increase == 1.5);
        assert_true(m->allowed_decrease == 0.75 && m->tolerance == 0);
        assert_int_equal(m->on_no_data, NO_DATA_PASS);
        m = &cc->metrics[2];
        assert_int_equal(m->reducer, REDUCER_LAST);
        assert_true(m->min == -1000 && m->max == 80);

        assert_false(cc->early_promotion);

        cc = &c->canaries[1];
        assert_int_equal(cc->n_steps, 1);
        assert_int_equal(cc->steps[0], 100);
        assert_true(cc->early_promotion);
        assert_true(cc->metrics[0].min == 1 && isnan(cc->metrics[0].max));
        m = &cc->metrics[1]; /* sequential with SPEC §8's defaults */
        assert_int_equal(m->judge, JUDGE_SEQUENTIAL);
        assert_int_equal(m->direction, DIRECTION_INCREASE);
        assert_true(m->alpha == 0.01 && m->tolerance == 0.02);
        assert_int_equal(m->kind, METRIC_KIND_CONTINUOUS);
        assert_int_equal(m->min_samples, 10);
        assert_int_equal(m->on_no_data, NO_DATA_INCONCLUSIVE);
        m = &cc->metrics[2];
        assert_int_equal(m->kind, METRIC_KIND_COUNT);
        assert_int_equal(m->direction, DIRECTION_EITHER);
        assert_true(m->alpha == 0.005 && m->tolerance == 0.1);
        assert_int_equal(m->min_samples, 20);
        assert_int_equal(m->on_no_data, NO_DATA_FAIL);
        config_free(c);
}

static void spec_example_parses(void **state)
{
        struct config *c = load_good(CONFIG_DIR "/good-spec-example.yaml");
        assert_string_equal(c->datadog.url, "http://127.0.0.1:8126");
        assert_string_equal(c->datadog.api_key_file, "datadog-api-key");
        assert_string_equal(c->slack.webhook_url_file, "slack-webhook");
        assert_string_equal(c->slack.channel, "#releases");
        assert_true(c->ha.enabled);
        assert_string_equal(c->ha.namespace_, "canaryd-system");
        const struct canary_config *cc = config_find_canary(c, "cart-api");
        assert_non_null(cc);
        assert_int_equal(cc->n_steps, 5);
        assert_int_equal(cc->steps[4], 100);
        assert_int_equal(cc->failure_limit, 2);
        assert_string_equal(cc->trigger_deployment, "cart-api-canary");
        assert_true(cc->score_pass == 95 && cc->score_marginal == 75);
        assert_int_equal(cc->n_metrics, 3);
        assert_true(cc->metrics[0].critical && cc->metrics[0].max == 0.01);
        assert_int_equal(cc->metrics[1].judge, JUDGE_RATIO);
        assert_true(cc->metrics[1].max_ratio == 1.2);
        const struct metric_config *mw = &cc->metrics[2];
        assert_int_equal(mw->judge, JUDGE_MANN_WHITNEY);
        assert_true(mw->confidence == 0.95 && mw->allowed_increase == 1.1);
        assert_int_equal(mw->min_samples, 10);
        assert_string_equal(mw->group, "latency");
        config_free(c);
}

static void shipped_example_parses(void **state)
{
        const char *src = getenv("CANARYD_SOURCE_DIR");
        char *path = xasprintf("%s/config/canaryd.yaml.example", src ? src : "../..");
        struct config *c = load_good(path);
        assert_true(c->n_canaries >= 1);
        free(path);
        config_free(c);
}

static void unreadable_file_is_one_problem_at_0_0(void **state)
{
        struct config *c = NULL;
        struct config_problems p = {0};
        assert_int_equal(config_load(CONFIG_DIR "/does-not-exist.yaml", &c, &p), -ENOENT);
        assert_null(c);
        assert_int_equal(p.n, 1);
        char *got = problems_text(&p, "x.yaml");
        assert_string_equal(
            got, "x.yaml:0:0: cannot read the configuration: No such file or directory\n");
        free(got);
        config_problems_free(&p);

        assert_int_equal(config_load(CONFIG_DIR, &c, &p), -EISDIR);
        assert_int_equal(p.n, 1);
        assert_non_null(strstr(p.items[0].message, "Is a directory"));
        config_problems_free(&p);
}

static void canaries_dir_adds_its_files_in_name_order(void **state)
{
        struct config *c = load_good(CONFIG_DIR "/good-canaries-dir.yaml");
        static const char *const names[] = {"web", "cart", "api", "search"};
        static const char *const files[] = {NULL, CONFIG_DIR "/good-canaries-dir.d/10-cart.yaml",
                                            CONFIG_DIR "/good-canaries-dir.d/10-cart.yaml",
                                            CONFIG_DIR "/good-canaries-dir.d/20-search.yaml"};
        static const unsigned lines[] = {6, 1, 9, 2};
        assert_int_equal(c->n_canaries,
                         ELEMENTSOF(names)); /* hidden and non-.yaml files not read */
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_string_equal(c->canaries[i].name, names[i]);
                assert_true(streq_ptr(c->canaries[i].file, files[i]));
                assert_int_equal(c->canaries[i].name_line, lines[i]);
        }
        assert_string_equal(c->canaries_dir, "good-canaries-dir.d");
        assert_non_null(config_find_canary(c, "search"));
        config_free(c);

        c = load_good(CONFIG_DIR "/good-canaries-dir-only.yaml");
        assert_int_equal(c->n_canaries, ELEMENTSOF(names) - 1);
        assert_string_equal(c->canaries[0].name, "cart");
        config_free(c);
}

static void canaries_files_are_parsed_from_buffers(void **state)
{
        static const char one[] = "- name: a\n  namespace: ns\n  virtual_service: a\n"
                                  "  stable: {host: a}\n  canary: {host: a-canary}\n"
                                  "  steps: [100]\n"
                                  "  metrics: [{name: m, query: q, judge: threshold, max: 1}]\n";
        struct config *c = NULL;
        struct config_problems p = {0};
        assert_int_equal(config_parse("canaries_dir: /x\n", 17, &c, &p), 0);
        assert_string_equal(c->canaries_dir, "/x");
        assert_int_equal(c->canaries_dir_line, 1);
        assert_int_equal(c->canaries_dir_column, 15);

        /* Bad files leave the config as it was, and every file says what is wrong with it. */
        const struct config_file bad[] = {
            {"1.yaml", one, strlen(one), 0},
            {"2.yaml", one, strlen(one), 0},
            {"3.yaml", "{}", 2, 0},
            {"4.yaml", NULL, 0, -EACCES},
        };
        assert_int_equal(config_parse_canaries(c, "main.yaml", bad, ELEMENTSOF(bad), &p), -EINVAL);
        assert_int_equal(c->n_canaries, 0);
        char *got = problems_text(&p, "main.yaml");
        assert_string_equal(got, "2.yaml:1:9: duplicate canary name 'a' (first at 1.yaml:1:9)\n"
                                 "3.yaml:1:1: a canaries_dir file must be a list of canaries, not "
                                 "a mapping\n"
                                 "4.yaml:0:0: cannot read the file: Permission denied\n");
        free(got);
        config_problems_free(&p);

        /* An empty file (or only comments) holds no canaries. */
        const struct config_file good[] = {{"0.yaml", "# none\n", 7, 0},
                                           {"1.yaml", one, strlen(one), 0}};
        assert_int_equal(config_parse_canaries(c, "main.yaml", good, ELEMENTSOF(good), &p), 0);
        assert_int_equal(p.n, 0);
        assert_int_equal(c->n_canaries, 1);
        assert_string_equal(c->canaries[0].file, "1.yaml");
        config_free(c);
}

static void relative_paths_resolve_against_the_config_file(void **state)
{
        char *p = config_resolve_path("/etc/canaryd/canaryd.yaml", "canaries.d");
        assert_string_equal(p, "/etc/canaryd/canaries.d");
        free(p);
        p = config_resolve_path("canaryd.yaml", "canaries.d");
        assert_string_equal(p, "./canaries.d");
        free(p);
        p = config_resolve_path("/etc/canaryd/canaryd.yaml", "/srv/canaries.d");
        assert_string_equal(p, "/srv/canaries.d");
        free(p);
        assert_null(config_resolve_path("/etc/canaryd/canaryd.yaml", NULL));
}

/* SPEC §7: no limit below 64 MiB. A file beyond the old 4 MiB cap loads; one byte more than
 * CONFIG_FILE_MAX is refused before anything is parsed (a sparse file: nothing is written). */
static void files_up_to_64_mib_are_read(void **state)
{
        char dir[] = "/tmp/canaryd-test-config.XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *path = xasprintf("%s/big.yaml", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("state_dir: /srv/canaryd\n", f);
        for (size_t i = 0; i < 5 * 1024 * 1024 / 64; i++)
                fprintf(f, "# %060zu\n", i);
        fclose(f);
        struct config *c = load_good(path);
        assert_string_equal(c->state_dir, "/srv/canaryd");
        config_free(c);

        assert_int_equal(truncate(path, (off_t)CONFIG_FILE_MAX + 1), 0);
        struct config_problems p = {0};
        c = NULL;
        assert_int_equal(config_load(path, &c, &p), -EFBIG);
        assert_null(c);
        assert_int_equal(p.n, 1);
        assert_string_equal(p.items[0].message,
                            "cannot read the configuration: larger than 67108864 bytes");
        config_problems_free(&p);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        free(path);
}

static void parse_reads_only_len_bytes_and_appends(void **state)
{
        static const char text[] = "state_dir: /srv/x\nbogus: 1";
        struct config *c = NULL;
        struct config_problems p = {0};
        /* Only the first line is in range. */
        assert_int_equal(config_parse(text, strlen("state_dir: /srv/x\n"), &c, &p), 0);
        assert_string_equal(c->state_dir, "/srv/x");
        assert_int_equal(c->n_canaries, 0);
        c = config_free(c);
        assert_null(c);

        assert_int_equal(config_parse(text, strlen(text), &c, &p), -EINVAL);
        assert_int_equal(config_parse("[", 1, &c, &p), -EINVAL);
        assert_int_equal(p.n, 2); /* appended */
        assert_string_equal(p.items[0].message, "unknown key 'bogus' in the configuration");
        assert_int_equal(p.items[0].line, 2);
        config_problems_free(&p);
        config_problems_free(&p); /* idempotent */
        config_problems_free(NULL);
        assert_null(config_free(NULL));
}

static void null_and_deep_nesting_are_errors_not_crashes(void **state)
{
        struct config *c = NULL;
        struct config_problems p = {0};
        assert_int_equal(config_parse(NULL, 0, &c, &p), -EINVAL);
        assert_int_equal(p.n, 1);
        config_problems_free(&p);

        char deep[300];
        memset(deep, '[', sizeof(deep));
        assert_int_equal(config_parse(deep, sizeof(deep), &c, &p), -EINVAL);
        assert_int_equal(p.n, 1);
        assert_non_null(strstr(p.items[0].message, "nesting deeper than"));
        config_problems_free(&p);

        /* A NUL inside a string is refused, not silently cut. */
        static const char nul[] = "state_dir: \"/var/\\0lib\"\n";
        assert_int_equal(config_parse(nul, strlen(nul), &c, &p), -EINVAL);
        assert_int_equal(p.n, 1);
        assert_string_equal(p.items[0].message, "state_dir must not contain NUL bytes");
        config_problems_free(&p);
        assert_null(c);
}

static void enum_names(void **state)
{
        assert_string_equal(judge_kind_to_string(JUDGE_MANN_WHITNEY), "mann_whitney");
        assert_string_equal(judge_kind_to_string(JUDGE_RATIO), "ratio");
        assert_null(judge_kind_to_string(_JUDGE_KIND_MAX));
        assert_string_equal(reducer_to_string(REDUCER_P99), "p99");
        assert_null(reducer_to_string(_REDUCER_MAX));
        assert_string_equal(direction_to_string(DIRECTION_EITHER), "either");
        assert_null(direction_to_string(_DIRECTION_MAX));
        assert_string_equal(on_no_data_to_string(NO_DATA_FAIL), "fail");
        assert_null(on_no_data_to_string(_NO_DATA_MAX));
        assert_string_equal(datadog_api_to_string(DATADOG_API_V2), "v2");
        assert_null(datadog_api_to_string((enum datadog_api)7));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(every_good_file_parses),
            cmocka_unit_test(every_bad_file_prints_its_golden_problems),
            cmocka_unit_test(several_problems_are_all_reported),
            cmocka_unit_test(minimal_file_gets_defaults),
            cmocka_unit_test(full_file_reads_every_key),
            cmocka_unit_test(spec_example_parses),
            cmocka_unit_test(shipped_example_parses),
            cmocka_unit_test(unreadable_file_is_one_problem_at_0_0),
            cmocka_unit_test(canaries_dir_adds_its_files_in_name_order),
            cmocka_unit_test(canaries_files_are_parsed_from_buffers),
            cmocka_unit_test(relative_paths_resolve_against_the_config_file),
            cmocka_unit_test(files_up_to_64_mib_are_read),
            cmocka_unit_test(parse_reads_only_len_bytes_and_appends),
            cmocka_unit_test(null_and_deep_nesting_are_errors_not_crashes),
            cmocka_unit_test(enum_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
