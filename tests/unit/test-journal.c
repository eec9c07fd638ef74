/* The decision journal: entries carry what the audit needs, the history reader picks one
 * rollout and survives bad lines, and files are appended, fsync'd and rotated by size. */
#include <errno.h>
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

#include "canaryd/journal.h"
#include "canaryd/util.h"

#define S(x) ((usec_t)(x)*USEC_PER_SEC)

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

static void assert_contains(const char *hay, const char *needle)
{
        if (!strstr(hay, needle))
                fail_msg("\"%s\" lacks \"%s\"", hay, needle);
}

static void entries_carry_peer_window_values_and_transition(void **unused)
{
        struct rollout_state idle = state(ROLLOUT_IDLE, 0, 0, 0);
        struct journal_peer peer = {.uid = 1000, .gid = 1001, .pid = 4242};
        char *cmd = journal_format_command(S(1700000000), "checkout", &idle, "promote", NULL, NULL,
                                           true, "uid:1000", &peer, "refused", "not progressing");
        assert_contains(cmd, "\"type\":\"command\"");
        assert_contains(cmd, "\"rollout\":\"\"");
        assert_contains(cmd, "\"peer\":{\"uid\":1000,\"gid\":1001,\"pid\":4242}");
        assert_contains(cmd, "\"full\":true");
        assert_contains(cmd, "\"outcome\":\"refused\"");
        assert_null(strchr(cmd, '\n'));
        free(cmd);

        struct rollout_state p = state(ROLLOUT_PROGRESSING, 2, 25, S(1700000000));
        struct metric_report m = {.name = "latency",
                                  .judge = JUDGE_RATIO,
                                  .canary = 120.5,
                                  .baseline = NAN,
                                  .n_canary = 12,
                                  .verdict = VERDICT_PASS,
                                  .detail = "ratio 1.02 <= 1.3"};
        char *an = journal_format_analysis(S(1700000100), "checkout", &p, S(1700000040),
                                           S(1700000090), ANALYSIS_PASS, &m, 1);
        assert_contains(an, "\"rollout\":\"2023-11-14T22:13:20.000000Z\"");
        assert_contains(an, "\"window\":{\"start\":\"2023-11-14T22:14:00.000000Z\"");
        assert_contains(an, "\"canary\":120.5,\"baseline\":null");
        assert_contains(an, "\"result\":\"pass\"");
        assert_contains(an, "\"detail\":\"ratio 1.02 <= 1.3\"");
        free(an);

        struct rollout_state q = p;
        q.step = 3;
        q.weight = 50;
        strcpy(q.last_actor, "uid:1000");
        strcpy(q.last_reason, "promoted by hand");
        struct rollout_actions acts = {
            .n = 2,
            .items = {{.kind = ACT_WRITE, .set_weights = true, .weight = 50},
                      {.kind = ACT_NOTIFY, .notify = NOTIFY_PROGRESSED}}};
        char *dec = journal_format_decision(S(1700000101), "checkout", &p, &q, "promote", &acts);
        assert_contains(dec, "\"from\":{\"phase\":\"Progressing\",\"step\":2,\"weight\":25}");
        assert_contains(dec, "\"to\":{\"phase\":\"Progressing\",\"step\":3,\"weight\":50}");
        assert_contains(dec, "\"weights_written\":true,\"notify\":\"progressed\"");
        assert_contains(dec, "\"actor\":\"uid:1000\"");
        free(dec);
}

static void history_selects_the_latest_rollout_and_skips_bad_lines(void **unused)
{
        struct rollout_state r1 = state(ROLLOUT_PROMOTED, 4, 100, S(1700000000));
        struct rollout_state r2 = state(ROLLOUT_PROGRESSING, 1, 10, S(1700001000));
        strcpy(r2.revision, "v2");
        char *a = journal_format_observed(S(1700000500), "checkout", &r1, "x");
        char *b = journal_format_observed(S(1700001001), "checkout", &r2, "y");
        char *other = journal_format_observed(S(1700001002), "search", &r2, "z");
        char *text =
            xasprintf("%s\nthis is not json\n%s\n%s\n{\"canary\":\"checkout\"", a, b, other);
        char *json = NULL;
        assert_int_equal(journal_history_select(text, strlen(text), "checkout", false, &json), 0);
        assert_contains(json, "\"rollout\":\"2023-11-14T22:30:00.000000Z\"");
        assert_contains(json, "\"revision\":\"v2\"");
        assert_contains(json, "\"skipped\":3");
        assert_null(strstr(json, "\"reason\":\"x\"")); /* the older rollout is left out */
        assert_contains(json, "\"reason\":\"y\"");

        char *out = NULL, *err = NULL;
        assert_int_equal(journal_history_format(json, strlen(json), &out, &err), 0);
        assert_contains(out, "revision v2: 1 entry");
        assert_contains(out, "observed  Progressing step 1 (10%) (y)");
        assert_contains(out, "3 unreadable journal lines skipped");
        free(out);
        /* --no-headers: only the entries' lines */
        assert_int_equal(journal_history_format_headers(json, strlen(json), false, &out, &err), 0);
        assert_null(strstr(out, "entry"));
        assert_null(strstr(out, "skipped"));
        assert_contains(out, "observed  Progressing step 1 (10%) (y)");
        assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
        free(out);
        free(json);

        assert_int_equal(journal_history_select(text, strlen(text), "checkout", true, &json), 0);
        assert_contains(json, "\"reason\":\"x\"");
        assert_contains(json, "\"rollout\":null");
        free(json);

        assert_int_equal(journal_history_select(NULL, 0, "nobody", false, &json), 0);
        assert_contains(json, "\"entries\":[]");
        free(json);
        assert_int_equal(journal_history_format("[]", 2, &out, &err), -EINVAL);
        free(err);
        free(a);
        free(b);
        free(other);
        free(text);
}

static void files_are_appended_rotated_and_read_back(void **unused)
{
        char dir[] = "/tmp/test-journal-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *sub = xasprintf("%s/state", dir); /* created on first append */
        char line[200];
        memset(line, 'x', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\0';
        for (int i = 0; i < 30; i++)
                assert_int_equal(journal_append(sub, "checkout", 4096, line, i % 2 == 0), 0);
        char *path = journal_path(sub, "checkout");
        char *old = xasprintf("%s.1", path);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size <= 4096);
        assert_int_equal(st.st_mode & 0777, 0640);
        assert_int_equal(stat(old, &st), 0);
        assert_true(st.st_size <= 4096);

        char *text = NULL;
        size_t len = 0;
        assert_int_equal(journal_read(sub, "checkout", &text, &len), 0);
        assert_int_equal(len % sizeof(line), 0); /* whole lines only */
        assert_true(len > 4096);
        free(text);

        assert_int_equal(journal_read(sub, "nobody", &text, &len), 0);
        assert_int_equal(len, 0);
        free(text);
        assert_int_equal(journal_append(sub, "../escape", 4096, "x", true), -EINVAL);
        assert_int_equal(journal_sync(sub, "checkout"), 0);
        assert_int_equal(journal_sync(sub, "nobody"), 0); /* nothing to sync */
        assert_int_equal(journal_sync(sub, "../escape"), -EINVAL);

        unlink(path);
        unlink(old);
        rmdir(sub);
        rmdir(dir);
        free(path);
        free(old);
        free(sub);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(entries_carry_peer_window_values_and_transition),
            cmocka_unit_test(history_selects_the_latest_rollout_and_skips_bad_lines),
            cmocka_unit_test(files_are_appended_rotated_and_read_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
