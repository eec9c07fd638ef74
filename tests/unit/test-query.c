/* Query templates: query_expand(), query_uses_scope() and the syntax checker query_check()
 * (what Datadog would certainly refuse; every valid query must pass). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/query.h"
#include "canaryd/util.h"

static void valid_queries_pass(void **state)
{
        static const char *const valid[] = {
            /* SPEC §3 */
            "sum:trace.http.request.errors{service:cart-api,{{scope}}}.as_count() / "
            "sum:trace.http.request.hits{service:cart-api,{{scope}}}.as_count()",
            "p99:trace.http.request.duration{service:cart-api,{{scope}}}",
            "avg:trace.http.request.duration{service:cart-api,{{scope}}}.rollup(avg, 10)",
            /* Datadog's braces around a variable, variables elsewhere */
            "avg:latency{{{scope}}}",
            "p99:latency{{{scope}},canary:{{name}}}.rollup(avg, {{interval}})",
            "avg:{{name}}.latency{kube_namespace:{{namespace}},{{scope}}}",
            /* every space aggregator, any case */
            "avg:a{*}",
            "sum:a{*}",
            "min:a{*}",
            "max:a{*}",
            "count:a{*}",
            "AVG:a{*}",
            "p50:a{*}",
            "p75:a{*}",
            "p90:a{*}",
            "p95:a{*}",
            "p99:a{*}",
            "p99.9:a{*}",
            "p99.99:a{*}",
            "p100:a{*}",
            "p0:a{*}",
            /* arithmetic, numbers, functions, grouping */
            "(sum:a{x:1} + sum:b{x:1}) * 100",
            "100 * sum:a{*} / sum:b{*}",
            "-1 * avg:a{*}",
            "per_second(sum:hits{service:web,{{scope}}})",
            "sum:hits{*}.as_rate()",
            "sum:hits{*}.fill(zero)",
            "sum:hits{*}.fill(null, 30)",
            "sum:hits{*} by {host}.rollup(sum, 60)",
            "sum:hits{*} by {host,env}",
            "top(avg:cpu{*} by {host}, 10, 'mean', 'desc')",
            "top(avg:cpu{*} by {host}, 10, \"max\", \"asc\")",
            "anomalies(avg:cpu{*}, 'basic', 2)",
            "timeshift(avg:cpu{*}, -3600)",
            "moving_rollup(avg:cpu{*}, 60, 'max')",
            "default_zero(sum:errors{*}.as_count())",
            "cutoff_min(avg:cpu{*}, 1e-3)",
            "abs(avg:a{*}) + log10(avg:b{*})",
            "avg : a{*}",
            "a{*}",
            "q",
            "trace.http.request.hits{*}",
            "",
            /* as Datadog's own API answers and examples write them */
            "avg:Test_TestMetrics_1618221195{bar:baz}by{host}",
            "system.cpu.idle{*}",
            "avg:datadog.estimated_usage.metrics.custom{*}",
            /* tag filters are Datadog's to judge: colons, quotes, operators */
            "avg:a{env:prod AND NOT host:x-*,version:'v1:2'}",
            "avg:a{service:web,!env:staging}",
            "avg:a{host IN (a, b)}",
            "avg:a{path:/a:b}",
        };
        struct query_problem p;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                if (!query_check(valid[i], &p))
                        fail_msg("refused valid query %s (kind %d at %zu)", valid[i], p.kind,
                                 p.offset);
}

static void syntax_errors_are_found_where_they_are(void **state)
{
        static const struct {
                const char *query;
                enum query_problem_kind kind;
                size_t offset, len;
        } cases[] = {
            {"average:latency{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 7},
            {"mean:latency{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 4},
            {"sum:a{*} / avrg:b{*}", QUERY_UNKNOWN_AGGREGATOR, 11, 4},
            {"per_second(median:hits{*})", QUERY_UNKNOWN_AGGREGATOR, 11, 6},
            {"p999:a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 4},
            {"p99.999:a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 7},
            {"p101:a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 4},
            {"p:a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 1},
            {"p9x:a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 3},
            {"average :a{*}", QUERY_UNKNOWN_AGGREGATOR, 0, 7},
            {"sum:errors{service:web", QUERY_UNCLOSED, 10, 1},
            {"per_second(sum:hits{*}", QUERY_UNCLOSED, 10, 1},
            {"per_second(sum:hits{*})))", QUERY_UNBALANCED, 23, 1},
            {"avg:lat{service:web,{{scope}})", QUERY_UNBALANCED, 29, 1},
            {"avg:a{*}}", QUERY_UNBALANCED, 8, 1},
            {"top(avg:a{*}, 10, 'mean)", QUERY_UNCLOSED_QUOTE, 18, 1},
        };
        struct query_problem p;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                memset(&p, 0xff, sizeof(p));
                if (query_check(cases[i].query, &p))
                        fail_msg("accepted %s", cases[i].query);
                if (p.kind != cases[i].kind || p.offset != cases[i].offset || p.len != cases[i].len)
                        fail_msg("%s: kind %d at %zu+%zu, expected %d at %zu+%zu", cases[i].query,
                                 p.kind, p.offset, p.len, cases[i].kind, cases[i].offset,
                                 cases[i].len);
        }
}

static void deep_nesting_is_refused_not_overrun(void **state)
{
        char q[200];
        struct query_problem p;

        (void)state;
        memset(q, '(', 64);
        memset(q + 64, ')', 64);
        q[128] = '\0';
        assert_true(query_check(q, &p));
        memset(q, '(', 65);
        q[65] = '\0';
        assert_false(query_check(q, &p));
        assert_int_equal(p.kind, QUERY_TOO_DEEP);
        assert_int_equal(p.offset, 64);
}

/* The loader's rule for comparing judges: without {{scope}} both arms expand to one text. Each
 * template with what it must expand to for the canary, literally. */
static void scope_is_what_makes_the_arms_differ(void **state)
{
        static const struct {
                const char *tmpl, *canary;
                bool uses_scope;
        } cases[] = {
            {"avg:a{{{scope}}}", "avg:a{version:canary}", true},
            {"avg:a{service:{{name}}}.rollup(avg, {{interval}})",
             "avg:a{service:web}.rollup(avg, 60)", false},
            {"avg:a{{scope}}", "avg:aversion:canary", true},
            {"avg:a{{{namespace}}}", "avg:a{shop}", false},
            {"avg:a{*}", "avg:a{*}", false},
            {"avg:a{{{ scope }}}", "avg:a{{{ scope }}}", false}, /* no placeholder with spaces */
        };
        char name[] = "web", namespace_[] = "shop";
        struct canary_config c = {
            .name = name, .namespace_ = namespace_, .interval_usec = 60 * USEC_PER_SEC};

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *a = query_expand(cases[i].tmpl, "version:canary", &c);
                char *b = query_expand(cases[i].tmpl, "version:stable", &c);
                if (strcmp(a, cases[i].canary) != 0 ||
                    query_uses_scope(cases[i].tmpl) != cases[i].uses_scope ||
                    (strcmp(a, b) != 0) != cases[i].uses_scope)
                        fail_msg("%s: expanded to %s and %s, uses_scope %d", cases[i].tmpl, a, b,
                                 query_uses_scope(cases[i].tmpl));
                free(a);
                free(b);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(valid_queries_pass),
            cmocka_unit_test(syntax_errors_are_found_where_they_are),
            cmocka_unit_test(deep_nesting_is_refused_not_overrun),
            cmocka_unit_test(scope_is_what_makes_the_arms_differ),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
