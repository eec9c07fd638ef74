/* The report of a rollout (report.h): built from the journal's history document, it picks one
 * rollout, keeps its timeline, analyses (with the sequential judge's evidence) and weight
 * changes, stays bounded, and renders as one self-contained HTML page with every string escaped
 * and a chart per metric of both arms with the weight changes marked. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/journal-json.h"
#include "canaryd/report.h"
#include "canaryd/util.h"

#define S(x) ((usec_t)(x)*USEC_PER_SEC)

static void assert_contains(const char *hay, const char *needle)
{
        if (!strstr(hay, needle))
                fail_msg("report lacks \"%s\"", needle);
}

static size_t count_of(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The elements the renderer opens are closed as often. */
static bool html_tag_balance_ok(const char *html)
{
        static const char *const tags[][2] = {
            {"<svg", "</svg>"}, {"<table", "</table>"},  {"<tr", "</tr>"},
            {"<td", "</td>"},   {"<title>", "</title>"}, {"<text", "</text>"},
            {"<g ", "</g>"},    {"<h2>", "</h2>"},       {"<h3>", "</h3>"},
        };
        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                if (count_of(html, tags[i][0]) != count_of(html, tags[i][1])) {
                        print_error("%s: %zu opened, %zu closed\n", tags[i][0],
                                    count_of(html, tags[i][0]), count_of(html, tags[i][1]));
                        return false;
                }
        return true;
}

static struct rollout_state state(enum rollout_phase p, unsigned step, unsigned weight,
                                  usec_t started)
{
        struct rollout_state s;
        rollout_state_init(&s);
        s.phase = p;
        s.step = step;
        s.weight = weight;
        s.started_usec = started;
        strcpy(s.revision, "v2");
        return s;
}

static void add_line(struct buf *b, char *line)
{
        buf_puts(b, line);
        buf_puts(b, "\n");
        free(line);
}

static void add_decision(struct buf *b, usec_t at, const struct rollout_state *from,
                         const struct rollout_state *to, const char *event)
{
        struct rollout_actions acts = {
            .n = 1, .items = {{.kind = ACT_WRITE, .set_weights = true, .weight = to->weight}}};
        add_line(b, journal_format_decision(at, "search", from, to, event, &acts));
}

static void add_analysis(struct buf *b, usec_t at, const struct rollout_state *s, double canary,
                         enum verdict v)
{
        struct metric_report m[2] = {
            {.name = "error-rate",
             .judge = JUDGE_THRESHOLD,
             .canary = canary,
             .baseline = 0.01,
             .n_canary = 10,
             .n_baseline = 10,
             .verdict = v,
             .detail = "avg(canary) within [-inf, 0.05]"},
            {.name = "latency",
             .judge = JUDGE_SEQUENTIAL,
             .canary = 0.12,
             .baseline = NAN,
             .n_canary = 30,
             .n_baseline = 0,
             .verdict = VERDICT_PASS,
             .detail = "sequential: no shift",
             .e_value = 0.5,
             .p_value = 0.75,
             .ci_low = -0.01,
             .ci_high = 0.015,
             .inside_tolerance = true},
        };
        add_line(b,
                 journal_format_analysis(at, "search", s, at - S(30), at - S(1),
                                         v == VERDICT_PASS ? ANALYSIS_PASS : ANALYSIS_FAIL, m, 2));
}

/* A journal: an older promoted rollout, then one rolled back at step 2 by a reason that holds
 * markup. */
static char *journal(void)
{
        struct buf b = {0};
        usec_t t1 = S(1700000000), t2 = S(1700001000);
        struct rollout_state idle = state(ROLLOUT_IDLE, 0, 0, 0);
        struct rollout_state old = state(ROLLOUT_PROGRESSING, 1, 10, t1);
        strcpy(old.revision, "v1");
        add_decision(&b, t1, &idle, &old, "start");
        struct rollout_state old_rb = state(ROLLOUT_ROLLED_BACK, 1, 0, t1);
        strcpy(old_rb.revision, "v1");
        add_decision(&b, t1 + S(5), &old, &old_rb, "abort");

        struct rollout_state p1 = state(ROLLOUT_PROGRESSING, 1, 10, t2);
        strcpy(p1.last_actor, "uid:1000");
        add_line(&b, journal_format_command(t2 - 1, "search", &old_rb, "start", "v2", NULL, false,
                                            "uid:1000", NULL, "queued", NULL));
        add_decision(&b, t2, &old_rb, &p1, "start");
        add_analysis(&b, t2 + S(60), &p1, 0.011, VERDICT_PASS);
        struct rollout_state p2 = state(ROLLOUT_PROGRESSING, 2, 25, t2);
        add_decision(&b, t2 + S(61), &p1, &p2, "analysis");
        add_analysis(&b, t2 + S(120), &p2, 0.2, VERDICT_FAIL);
        struct rollout_state rb = state(ROLLOUT_ROLLED_BACK, 2, 0, t2);
        strcpy(rb.last_reason, "error-rate <script>alert(1)</script> & \"more\"");
        add_decision(&b, t2 + S(121), &p2, &rb, "analysis");
        buf_puts(&b, "not json at all\n");
        return buf_steal(&b);
}

static char *history(const char *text)
{
        char *h = NULL;
        assert_int_equal(journal_history_select(text, strlen(text), "search", true, &h), 0);
        return h;
}

static void builds_the_latest_rollout_with_its_timeline_and_evidence(void **unused)
{
        char *text = journal(), *h = history(text), *json = NULL;
        assert_int_equal(report_build_json(h, strlen(h), NULL, &json), 0);
        assert_contains(json, "\"canary\":\"search\"");
        assert_contains(json, "\"rollout\":\"2023-11-14T22:30:00.000000Z\"");
        assert_contains(json, "\"id\":\"20231114T223000.000000Z\"");
        assert_contains(json, "\"revision\":\"v2\"");
        assert_contains(json, "\"outcome\":\"RolledBack\",\"finished\":true");
        assert_null(strstr(json, "\"v1\"")); /* the older rollout is left out */
        assert_contains(json, "\"canary\":0.2,\"baseline\":0.01");
        assert_contains(json, "\"e_value\":0.5,\"p_value\":0.75,\"ci_low\":-0.01");
        assert_contains(json, "\"inside_tolerance\":true");
        assert_contains(json, "\"weight_changes\":[{\"at\":\"2023-11-14T22:30:00.000000Z\","
                              "\"from\":0,\"to\":10,\"event\":\"start\"}");
        assert_contains(json, "\"from\":10,\"to\":25");
        assert_contains(json, "\"from\":25,\"to\":0");
        assert_contains(json, "\"metrics\":[\"error-rate\",\"latency\"]");
        assert_int_equal(count_of(json, "\"type\":\"decision\""), 3);
        assert_int_equal(count_of(json, "\"window\":"), 2);
        assert_contains(json, "\"analyses_omitted\":0");

        /* the same rollout by either form of its id; an unknown one is ENOENT */
        char *again = NULL;
        assert_int_equal(report_build_json(h, strlen(h), "2023-11-14T22:30:00.000000Z", &again), 0);
        assert_string_equal(again, json);
        free(again);
        assert_int_equal(report_build_json(h, strlen(h), "20231114T221320.000000Z", &again), 0);
        assert_contains(again, "\"revision\":\"v1\"");
        assert_contains(again, "\"from\":10,\"to\":0,\"event\":\"abort\"");
        free(again);
        assert_int_equal(report_build_json(h, strlen(h), "20991114T221320Z", &again), -ENOENT);
        assert_int_equal(report_build_json(h, strlen(h), "../etc/passwd", &again), -ENOENT);
        assert_int_equal(report_build_json("[]", 2, NULL, &again), -EINVAL);
        const char *empty = "{\"canary\":\"x\",\"entries\":[]}";
        assert_int_equal(report_build_json(empty, strlen(empty), NULL, &again), -ENOENT);
        free(json);
        free(h);
        free(text);
}

static void html_is_escaped_self_contained_and_charts_both_arms(void **unused)
{
        char *text = journal(), *h = history(text), *json = NULL, *html = NULL;
        assert_int_equal(report_build_json(h, strlen(h), NULL, &json), 0);
        assert_int_equal(report_render_html(json, strlen(json), &html), 0);
        assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
        assert_contains(html, "<meta charset=\"utf-8\">");
        assert_contains(html, "Content-Security-Policy");
        /* escaped: the reason's markup is text */
        assert_null(strstr(html, "<script"));
        assert_contains(html, "error-rate &lt;script&gt;alert(1)&lt;/script&gt; &amp; "
                              "&quot;more&quot;");
        /* no external asset, no script */
        assert_null(strstr(html, "http://"));
        assert_null(strstr(html, "https://"));
        assert_null(strstr(html, "src="));
        assert_null(strstr(html, "href="));
        /* a chart per metric, each with both arms and the weight changes */
        assert_int_equal(count_of(html, "<svg class=\"chart\""), 2);
        assert_contains(html, "id=\"chart-0\"");
        assert_contains(html, "stroke=\"#d9480f\" stroke-width=\"2\" points="); /* canary */
        assert_contains(html, "stroke-dasharray=\"6 3\" points=");              /* baseline */
        assert_int_equal(count_of(html, "<g class=\"weight\">"), 2 * 3);        /* 10, 25, 0 */
        assert_contains(html, ">25%</text>");
        assert_contains(html, "class=\"point fail\"");
        assert_contains(html, "class=\"point pass\"");
        assert_contains(html, "time (UTC)");
        assert_contains(html, ">22:30:00</text>"); /* the axis starts at the rollout's start */
        /* the tables */
        assert_contains(html, "<h2>Timeline</h2>");
        assert_contains(html, "Progressing step 2 (25%) &rarr; RolledBack step 2 (0%)");
        assert_contains(html, "evidence: e-value 0.5, p-value 0.75, shift in [-0.01, 0.015], "
                              "inside the tolerance");
        assert_int_equal(html_tag_balance_ok(html), true);
        free(html);
        assert_int_equal(report_render_html("{}", 2, &html), -EINVAL);
        free(json);
        free(h);
        free(text);
}

static void bounded_whatever_the_journal_holds(void **unused)
{
        struct buf b = {0};
        usec_t t = S(1700000000);
        struct rollout_state idle = state(ROLLOUT_IDLE, 0, 0, 0);
        struct rollout_state p = state(ROLLOUT_PROGRESSING, 1, 10, t);
        add_decision(&b, t, &idle, &p, "start");
        /* many analyses with many metrics and long details */
        struct metric_report m[40];
        for (size_t i = 0; i < ELEMENTSOF(m); i++) {
                m[i] = (struct metric_report){.judge = JUDGE_THRESHOLD,
                                              .canary = (double)i,
                                              .baseline = 1,
                                              .verdict = VERDICT_PASS};
                snprintf(m[i].name, sizeof(m[i].name), "metric-%zu", i);
                for (size_t k = 0; k + 1 < sizeof(m[i].detail); k++)
                        m[i].detail[k] = k % 2 ? '<' : '"'; /* the worst for HTML and JSON */
        }
        size_t n = REPORT_ANALYSES_MAX + 50;
        for (size_t i = 0; i < n; i++) {
                usec_t at = t + S(10 * (i + 1));
                add_line(&b, journal_format_analysis(at, "search", &p, at - S(10), at,
                                                     ANALYSIS_PASS, m, ELEMENTSOF(m)));
        }
        char *text = buf_steal(&b), *h = history(text), *json = NULL, *html = NULL;
        assert_int_equal(report_build_json(h, strlen(h), NULL, &json), 0);
        char want[64];
        snprintf(want, sizeof(want), "\"analyses_omitted\":%d", 50);
        assert_contains(json, want);
        assert_int_equal(count_of(json, "\"window\":"), REPORT_ANALYSES_MAX);
        assert_contains(json, "\"metric-15\"");
        assert_null(strstr(json, "\"metric-16\"")); /* REPORT_METRICS_MAX */
        assert_int_equal(report_render_html(json, strlen(json), &html), 0);
        assert_int_equal(count_of(html, "<svg class=\"chart\""), REPORT_METRICS_MAX);
        assert_contains(html, "50 earlier analyses omitted");
        assert_true(strlen(json) < 4 * 1024 * 1024);
        assert_true(strlen(html) < 8 * 1024 * 1024);
        free(html);
        free(json);
        free(h);
        free(text);
}

static void ids_are_file_names(void **unused)
{
        char id[REPORT_ID_MAX];
        assert_int_equal(report_id("2026-11-22T04:02:31.907443Z", id), 0);
        assert_string_equal(id, "20261122T040231.907443Z");
        assert_int_equal(report_id("20261122T040231.907443Z", id), 0);
        assert_string_equal(id, "20261122T040231.907443Z");
        assert_int_equal(report_id("", id), -EINVAL);
        assert_int_equal(report_id("a/b", id), -EINVAL);
        assert_int_equal(report_id("..", id), -EINVAL);
        assert_int_equal(report_id("-:-", id), -EINVAL);
        char long_id[100];
        memset(long_id, '1', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_int_equal(report_id(long_id, id), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(builds_the_latest_rollout_with_its_timeline_and_evidence),
            cmocka_unit_test(html_is_escaped_self_contained_and_charts_both_arms),
            cmocka_unit_test(bounded_whatever_the_journal_holds),
            cmocka_unit_test(ids_are_file_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
