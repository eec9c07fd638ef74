/* The reports on disk (src/daemon/report-writer.c): a rollout's report is written as <id>.json
 * and <id>.html under state_dir/reports/<canary>/, old ones are removed beyond reports.keep and
 * past reports.max_age, and the lookup behind `canaryctl report` serves the saved report, one
 * built from the journal, or a clear refusal. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/daemon/daemon.h"
#include "../../src/daemon/report-writer.h"
#include "canaryd/files.h"
#include "canaryd/journal.h"
#include "canaryd/report.h"
#include "canaryd/util.h"

#define S(x) ((usec_t)(x)*USEC_PER_SEC)

struct fixture {
        char dir[64];
        struct config cfg;
        struct daemon d;
        struct canary_config cc;
        struct canary c;
};

static struct rollout_state state(enum rollout_phase p, unsigned step, unsigned weight,
                                  usec_t started)
{
        struct rollout_state s;
        rollout_state_init(&s);
        s.phase = p;
        s.step = step;
        s.weight = weight;
        s.started_usec = started;
        strcpy(s.revision, "v1");
        return s;
}

/* Journals a rollout started at `started`: start, one analysis, a rollback. */
static void journal_rollout(struct fixture *f, usec_t started)
{
        struct rollout_state idle = state(ROLLOUT_IDLE, 0, 0, 0);
        struct rollout_state p = state(ROLLOUT_PROGRESSING, 1, 10, started);
        struct rollout_state rb = state(ROLLOUT_ROLLED_BACK, 1, 0, started);
        struct rollout_actions acts = {.n = 1, .items = {{.kind = ACT_WRITE, .set_weights = true}}};
        struct metric_report m = {.name = "latency",
                                  .judge = JUDGE_RATIO,
                                  .canary = 2,
                                  .baseline = 1,
                                  .verdict = VERDICT_FAIL,
                                  .detail = "ratio 2 > 1.3"};
        char *lines[] = {
            journal_format_decision(started, "search", &idle, &p, "start", &acts),
            journal_format_analysis(started + S(10), "search", &p, started, started + S(9),
                                    ANALYSIS_FAIL, &m, 1),
            journal_format_decision(started + S(11), "search", &p, &rb, "analysis", &acts),
        };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                assert_int_equal(journal_append(f->dir, "search", 1 << 20, lines[i], false), 0);
                free(lines[i]);
        }
}

static int setup(void **ret)
{
        struct fixture *f = xcalloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/test-report-writer-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->cfg.state_dir = f->dir;
        f->cfg.reports.keep = 2;
        f->cfg.reports.max_age_usec = 0;
        f->d.config = &f->cfg;
        f->cc.name = (char *)(uintptr_t) "search";
        f->cc.namespace_ = (char *)(uintptr_t) "shop";
        f->c.d = &f->d;
        f->c.cfg = &f->cc;
        *ret = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char *cmd = xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(f);
        return 0;
}

static char *path_of(const struct fixture *f, const char *id, const char *ext)
{
        return xasprintf("%s/reports/search/%s.%s", f->dir, id, ext);
}

static bool exists(const struct fixture *f, const char *id, const char *ext)
{
        char *p = path_of(f, id, ext);
        bool r = access(p, F_OK) == 0;
        free(p);
        return r;
}

static void written_rotated_by_count_and_age(void **state)
{
        struct fixture *f = *state;
        usec_t t1 = S(1700000000), t2 = S(1700001000), t3 = S(1700002000);
        journal_rollout(f, t1);
        report_write(&f->c, t1);
        assert_true(exists(f, "20231114T221320.000000Z", "json"));
        assert_true(exists(f, "20231114T221320.000000Z", "html"));
        char *p = path_of(f, "20231114T221320.000000Z", "json"), *json = NULL;
        assert_int_equal(read_file(p, 1 << 20, &json, NULL), 0);
        assert_non_null(strstr(json, "\"outcome\":\"RolledBack\",\"finished\":true"));
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);
        free(json);
        free(p);

        journal_rollout(f, t2);
        report_write(&f->c, t2);
        journal_rollout(f, t3);
        report_write(&f->c, t3); /* keep 2: the first goes, JSON and HTML */
        assert_false(exists(f, "20231114T221320.000000Z", "json"));
        assert_false(exists(f, "20231114T221320.000000Z", "html"));
        assert_true(exists(f, "20231114T223000.000000Z", "json"));
        assert_true(exists(f, "20231114T224640.000000Z", "html"));

        /* max_age: a report older goes at the next write, never the one just written */
        f->cfg.reports.max_age_usec = S(3600);
        p = path_of(f, "20231114T223000.000000Z", "json");
        struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
        assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
        free(p);
        report_write(&f->c, t3);
        assert_false(exists(f, "20231114T223000.000000Z", "json"));
        assert_true(exists(f, "20231114T224640.000000Z", "json"));
}

static void lookup_serves_saved_live_or_refuses(void **state)
{
        struct fixture *f = *state;
        char *json = NULL, *err = NULL;
        usec_t t1 = S(1700000000), t2 = S(1700001000);

        assert_int_equal(report_lookup(f->dir, "search", NULL, &json, &err), -ENOENT);
        assert_string_equal(err, "search has no rollout in its journal or reports");
        free(err);

        journal_rollout(f, t1);
        report_write(&f->c, t1);
        journal_rollout(f, t2); /* not saved: built live */
        assert_int_equal(report_lookup(f->dir, "search", NULL, &json, &err), 0);
        assert_non_null(strstr(json, "\"id\":\"20231114T223000.000000Z\""));
        free(json);

        /* the saved one wins over the journal: mark it */
        char *p = path_of(f, "20231114T221320.000000Z", "json");
        const char *marked = "{\"saved\":true}";
        FILE *out = fopen(p, "w");
        assert_non_null(out);
        fputs(marked, out);
        fclose(out);
        free(p);
        assert_int_equal(
            report_lookup(f->dir, "search", "2023-11-14T22:13:20.000000Z", &json, &err), 0);
        assert_string_equal(json, marked);
        free(json);

        /* one a power loss emptied (the files are not synced) is built again */
        p = path_of(f, "20231114T221320.000000Z", "json");
        assert_int_equal(truncate(p, 0), 0);
        assert_int_equal(report_lookup(f->dir, "search", "20231114T221320.000000Z", &json, &err),
                         0);
        assert_non_null(strstr(json, "\"id\":\"20231114T221320.000000Z\""));
        free(json);
        out = fopen(p, "w");
        assert_non_null(out);
        fputs(marked, out);
        fclose(out);
        free(p);

        assert_int_equal(report_lookup(f->dir, "search", "20200101T000000Z", &json, &err), -ENOENT);
        assert_string_equal(err, "no rollout 20200101T000000Z of search in its reports or journal");
        free(err);
        assert_int_equal(report_lookup(f->dir, "search", "../../x", &json, &err), -EINVAL);
        free(err);
        assert_int_equal(report_lookup(f->dir, "../search", NULL, &json, &err), -EINVAL);
        free(err);

        /* no journal left: the newest saved report */
        char *j = journal_path(f->dir, "search");
        unlink(j);
        free(j);
        assert_int_equal(report_lookup(f->dir, "search", NULL, &json, &err), 0);
        assert_string_equal(json, marked);
        free(json);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(written_rotated_by_count_and_age, setup, teardown),
            cmocka_unit_test_setup_teardown(lookup_serves_saved_live_or_refuses, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
