/* Tests of the control protocol: the codec (round trips, every malformed request), the status
 * table, and the server and client over a real unix socket in a temporary directory, with the
 * server's sd-event loop driven here and the client in a thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "canaryd/control-access.h"
#include "canaryd/control.h"
#include "canaryd/doc-format.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"

/* ---- codec ---- */

static void parse_ok(const char *line, struct control_request *req)
{
        char *error = NULL;
        int r = control_request_parse(line, strlen(line), req, &error);
        if (r < 0)
                fail_msg("unexpected error for %s: %s", line, error);
        assert_null(error);
}

/* Parses bytes that must be refused, and checks the message mentions `want`. */
static void parse_bad(const char *line, size_t len, const char *want)
{
        struct control_request req = {.name = NULL};
        char *error = NULL;
        int r = control_request_parse(line, len, &req, &error);
        assert_int_equal(r, -EINVAL);
        assert_non_null(error);
        if (!strstr(error, want))
                fail_msg("error for %.60s: got \"%s\", want \"%s\"", line, error, want);
        assert_null(req.name);
        free(error);
}

static void request_examples_from_the_protocol_parse(void **state)
{
        struct control_request req;

        parse_ok("{\"command\":\"promote\",\"name\":\"cart-api\",\"full\":true}", &req);
        assert_int_equal(req.command, CONTROL_PROMOTE);
        assert_string_equal(req.name, "cart-api");
        assert_true(req.full);
        control_request_done(&req);

        parse_ok("{\"command\":\"abort\",\"name\":\"x\",\"reason\":\"p99 too high\"}", &req);
        assert_int_equal(req.command, CONTROL_ABORT);
        assert_string_equal(req.reason, "p99 too high");
        control_request_done(&req);

        parse_ok("{\"command\":\"start\",\"name\":\"x\",\"revision\":\"abc\"}", &req);
        assert_int_equal(req.command, CONTROL_START);
        assert_string_equal(req.revision, "abc");
        control_request_done(&req);

        parse_ok("{\"command\":\"status\"}", &req);
        assert_int_equal(req.command, CONTROL_STATUS);
        assert_null(req.name);
        control_request_done(&req);

        parse_ok("  {\"command\":\"status\",\"name\":\"caf\xc3\xa9\"}\r\n", &req);
        assert_string_equal(req.name, "caf\xc3\xa9");
        control_request_done(&req);

        parse_ok("{\"command\":\"promote\",\"name\":\"x\",\"full\":false}", &req);
        assert_false(req.full);
        control_request_done(&req);
}

static void request_round_trips_for_every_command(void **state)
{
        for (int c = 0; c < _CONTROL_COMMAND_MAX; c++) {
                struct control_request in = {.command = (enum control_command)c,
                                             .name = (char *)(uintptr_t) "cart-api"};
                if (c == CONTROL_START)
                        in.revision = (char *)(uintptr_t) "7d9f\"quoted\"";
                if (c == CONTROL_ABORT)
                        in.reason = (char *)(uintptr_t) "latency \xe2\x86\x91 by 40%";
                if (c == CONTROL_PROMOTE)
                        in.full = true;
                if (c == CONTROL_HISTORY)
                        in.all = true;
                if (c == CONTROL_REPORT)
                        in.rollout = (char *)(uintptr_t) "2026-11-22T04:02:31.907443Z";
                char *line = control_request_format(&in);
                assert_null(strchr(line, '\n'));
                struct control_request out;
                parse_ok(line, &out);
                assert_int_equal(out.command, in.command);
                assert_string_equal(out.name, in.name);
                assert_true(streq_ptr(out.revision, in.revision));
                assert_true(streq_ptr(out.reason, in.reason));
                assert_int_equal(out.full, in.full);
                assert_int_equal(out.all, in.all);
                assert_true(streq_ptr(out.rollout, in.rollout));
                control_request_done(&out);
                free(line);
        }
        assert_string_equal(control_command_to_string(CONTROL_RETRY), "retry");
        assert_null(control_command_to_string(_CONTROL_COMMAND_MAX));
        assert_int_equal(control_command_from_string("resume"), CONTROL_RESUME);
        assert_int_equal(control_command_from_string("approve"), CONTROL_APPROVE);
        assert_int_equal(control_command_from_string("Resume"), -EINVAL);
}

static void request_malformed_are_refused_clearly(void **state)
{
        static const struct {
                const char *line, *want;
        } cases[] = {
            {"", "empty request"},
            {" \r\n", "empty request"},
            {"[]", "must be a JSON object"},
            {"null", "must be a JSON object"},
            {"\"status\"", "must be a JSON object"},
            {"{", "not valid JSON"},
            {"{\"command\":\"status\",}", "not valid JSON"},
            {"{\"command\":\"status\"} {}", "trailing data"},
            {"{\"name\":\"x\"}", "missing \"command\""},
            {"{}", "missing \"command\""},
            {"{\"command\":1}", "\"command\" must be a string"},
            {"{\"command\":null}", "\"command\" must be a string"},
            {"{\"command\":\"launch\"}", "unknown command \"launch\""},
            {"{\"command\":\"STATUS\"}", "unknown command"},
            {"{\"command\":\"promote\"}", "command \"promote\" requires \"name\""},
            {"{\"command\":\"pause\"}", "requires \"name\""},
            {"{\"command\":\"promote\",\"name\":1}", "\"name\" must be a string"},
            {"{\"command\":\"promote\",\"name\":null}", "\"name\" must be a string"},
            {"{\"command\":\"promote\",\"name\":\"\"}", "\"name\" must not be empty"},
            {"{\"command\":\"promote\",\"name\":\"a\\nb\"}", "control characters"},
            {"{\"command\":\"abort\",\"name\":\"x\",\"reason\":\"a\\u0007\"}",
             "control characters"},
            {"{\"command\":\"promote\",\"name\":\"x\",\"full\":\"yes\"}",
             "\"full\" must be true or false"},
            {"{\"command\":\"promote\",\"name\":\"x\",\"full\":1}", "true or false"},
            {"{\"command\":\"abort\",\"name\":\"x\",\"full\":true}",
             "\"full\" is not valid for command \"abort\""},
            {"{\"command\":\"pause\",\"name\":\"x\",\"reason\":\"r\"}",
             "\"reason\" is not valid for command \"pause\""},
            {"{\"command\":\"status\",\"revision\":\"r\"}", "not valid for command"},
            {"{\"command\":\"start\",\"name\":\"x\",\"revision\":7}",
             "\"revision\" must be a string"},
            {"{\"command\":\"status\",\"verbose\":true}", "unknown member \"verbose\""},
            {"{\"command\":\"status\",\"command\":\"status\"}", "duplicate member \"command\""},
            {"{\"command\":\"abort\",\"name\":\"x\",\"reason\":\"a\\u0000b\"}", "escaped NUL"},
            {"{\"command\":\"status\",\"name\":\"\xff\"}", "not valid UTF-8"},
            {"{\"command\":\"status\",\"name\":\"\xc0\xaf\"}", "not valid UTF-8"},
            {"{\"command\":\"status\",\"name\":\"\xed\xa0\x80\"}", "not valid UTF-8"},
            {"{\"command\":\"status\",\"name\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8"},
            {"{\"command\":\"status\",\"name\":\"\xe2\x82\"}", "not valid UTF-8"},
            {"{\"command\":\"status\",\"name\":\"\\ud800\"}", "not valid JSON"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                parse_bad(cases[i].line, strlen(cases[i].line), cases[i].want);

        /* An escaped backslash before "u0000" is not an escaped NUL. */
        struct control_request req;
        parse_ok("{\"command\":\"abort\",\"name\":\"x\",\"reason\":\"a\\\\u0000\"}", &req);
        assert_string_equal(req.reason, "a\\u0000");
        control_request_done(&req);

        static const char with_nul[] = "{\"command\":\"status\"}\0junk";
        parse_bad(with_nul, sizeof(with_nul) - 1, "NUL byte");

        /* The cap counts bytes without the newline: MAX is fine, MAX + 1 is not. */
        char *big = xmalloc(CONTROL_LINE_MAX + 2);
        memset(big, ' ', CONTROL_LINE_MAX + 1);
        memcpy(big, "{\"command\":\"status\"}", 20);
        big[CONTROL_LINE_MAX + 1] = '\0';
        char *error = NULL;
        assert_int_equal(control_request_parse(big, CONTROL_LINE_MAX, &req, &error), 0);
        control_request_done(&req);
        parse_bad(big, CONTROL_LINE_MAX + 1, "too long (max 65536 bytes)");
        free(big);

        char name[300];
        memset(name, 'n', sizeof(name));
        char *line = xasprintf("{\"command\":\"pause\",\"name\":\"%.*s\"}", 254, name);
        parse_bad(line, strlen(line), "\"name\" is too long");
        free(line);
        line = xasprintf("{\"command\":\"pause\",\"name\":\"%.*s\"}", 253, name);
        parse_ok(line, &req);
        control_request_done(&req);
        free(line);

        /* Untrusted text in messages is short and printable. */
        line = xasprintf("{\"command\":\"%s\x01\"}", "averyveryverylongcommandnamethatgoesonandon");
        error = NULL;
        assert_int_equal(control_request_parse(line, strlen(line), &req, &error), -EINVAL);
        assert_non_null(strstr(error, "...\""));
        assert_null(strchr(error, '\x01'));
        free(error);
        free(line);

        /* A NULL error pointer is allowed. */
        assert_int_equal(control_request_parse("{", 1, &req, NULL), -EINVAL);
}

static void replies_round_trip(void **state)
{
        struct control_reply rep;
        char *error = NULL;

        char *line = control_reply_ok("promoting cart-api to 25%", "{\"canaries\":[]}");
        assert_string_equal(line, "{\"ok\":true,\"message\":\"promoting cart-api to 25%\","
                                  "\"status\":{\"canaries\":[]}}");
        assert_int_equal(control_reply_parse(line, strlen(line), &rep, &error), 0);
        assert_true(rep.ok);
        assert_int_equal(rep.code, 0);
        assert_string_equal(rep.message, "promoting cart-api to 25%");
        assert_string_equal(rep.status_json, "{\"canaries\":[]}");
        control_reply_done(&rep);
        free(line);

        line = control_reply_ok(NULL, NULL);
        assert_string_equal(line, "{\"ok\":true,\"message\":\"\"}");
        assert_int_equal(control_reply_parse(line, strlen(line), &rep, &error), 0);
        assert_null(rep.message);
        assert_null(rep.status_json);
        control_reply_done(&rep);
        free(line);

        line = control_reply_error(1, "cart-api is not progressing (phase Paused)");
        assert_string_equal(line, "{\"ok\":false,\"code\":1,"
                                  "\"error\":\"cart-api is not progressing (phase Paused)\"}");
        assert_int_equal(control_reply_parse(line, strlen(line), &rep, &error), 0);
        assert_false(rep.ok);
        assert_int_equal(rep.code, 1);
        assert_string_equal(rep.error, "cart-api is not progressing (phase Paused)");
        control_reply_done(&rep);
        free(line);

        /* Newlines in messages are escaped: a reply is always one line. */
        line = control_reply_error(2, "two\nlines");
        assert_null(strchr(line, '\n'));
        free(line);
        line = control_reply_error(0, NULL);
        assert_string_equal(line, "{\"ok\":false,\"code\":1,\"error\":\"unknown error\"}");
        free(line);

        /* A broken status document from the daemon becomes a refusal, not a broken line. The
         * document is spliced in as text (a 10,000-canary status is 5 MB), so the check is
         * structural: an object, balanced outside strings, strings closed, nothing after. */
        static const char *const broken[] = {
            "{\"canaries\":[",
            "{\"a\":\"x}",
            "{}}",
            "{} ",
            "[1]",
            "{\"a\":1]}",
            "{\"a\":\"\n\"}",
            "",
            "{\"a\":\"\\\"}",
        };
        for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
                line = control_reply_ok("x", broken[i]);
                assert_int_equal(control_reply_parse(line, strlen(line), &rep, &error), 0);
                assert_false(rep.ok);
                assert_non_null(strstr(rep.error, "invalid status document"));
                control_reply_done(&rep);
                free(line);
        }
        /* brackets, braces and escaped quotes inside strings are text */
        line = control_reply_ok("x", "{\"a\":\"}]\\\"{[\",\"b\":[{},[]]}");
        assert_int_equal(control_reply_parse(line, strlen(line), &rep, &error), 0);
        assert_true(rep.ok);
        assert_string_equal(rep.status_json, "{\"a\":\"}]\\\"{[\",\"b\":[{},[]]}");
        control_reply_done(&rep);
        free(line);
        line = control_reply_history(NULL, "{\"entries\":[");
        assert_non_null(strstr(line, "invalid history document"));
        free(line);

        static const char *const bad[] = {
            "",
            "nope",
            "[]",
            "{}",
            "{\"ok\":1}",
            "{\"ok\":true,\"status\":[]}",
            "{\"ok\":true,\"message\":5}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                error = NULL;
                assert_int_equal(control_reply_parse(bad[i], strlen(bad[i]), &rep, &error),
                                 -EINVAL);
                assert_non_null(error);
                free(error);
        }
        /* A refusal without details still has a message and a valid code. */
        assert_int_equal(control_reply_parse("{\"ok\":false,\"code\":99999}", 25, &rep, &error), 0);
        assert_int_equal(rep.code, 1);
        assert_non_null(rep.error);
        control_reply_done(&rep);
}

/* ---- status table ---- */

static const char status_doc[] =
    "{\"canaries\":["
    "{\"name\":\"cart-api\",\"namespace\":\"cart\",\"phase\":\"Progressing\",\"step\":3,"
    "\"steps\":5,\"canary_weight\":25,\"failed_checks\":1,\"inconclusive_checks\":0,"
    "\"revision\":\"7d9f8c\",\"last_analysis\":{\"at\":\"2024-05-01T12:00:00Z\","
    "\"result\":\"pass\",\"metrics\":["
    "{\"name\":\"error-rate\",\"judge\":\"threshold\",\"canary\":0.0042,\"baseline\":0.0039,"
    "\"result\":\"pass\",\"detail\":\"avg 0.0042 <= max 0.01\"},"
    "{\"name\":\"latency\",\"judge\":\"mann_whitney\",\"canary\":null,\"baseline\":118.5,"
    "\"result\":\"inconclusive\",\"detail\":\"3 samples < min_samples 10\"}]}},"
    "{\"name\":\"search\",\"namespace\":\"search\",\"phase\":\"Idle\",\"step\":0,"
    "\"steps\":4,\"canary_weight\":0,\"failed_checks\":0,\"inconclusive_checks\":0,"
    "\"revision\":null,\"last_analysis\":null}]}";

static void status_table_renders_spec_document(void **state)
{
        char *out = NULL, *error = NULL;
        assert_int_equal(
            control_status_format(status_doc, strlen(status_doc),
                                  &(struct status_view){.details = false, .headers = true}, &out,
                                  &error),
            0);
        assert_string_equal(out, "NAME      NAMESPACE  PHASE        STEP  WEIGHT  FAILED  INCONCL  "
                                 "REVISION  LAST-ANALYSIS              AGE  REASON\n"
                                 "cart-api  cart       Progressing  3/5   25%     1       0        "
                                 "7d9f8c    pass 2024-05-01T12:00:00Z  -    -\n"
                                 "search    search     Idle         0/4   0%      0       0        "
                                 "-         -                          -    -\n");
        free(out);

        assert_int_equal(control_status_format(
                             status_doc, strlen(status_doc),
                             &(struct status_view){.details = true, .headers = true}, &out, &error),
                         0);
        assert_non_null(strstr(out, "\ncart-api: last analysis at 2024-05-01T12:00:00Z: pass\n"
                                    "METRIC      JUDGE         CANARY  BASELINE  RESULT        "
                                    "DETAIL\n"
                                    "error-rate  threshold     0.0042  0.0039    pass          "
                                    "avg 0.0042 <= max 0.01\n"
                                    "latency     mann_whitney  -       118.5     inconclusive  "
                                    "3 samples < min_samples 10\n"));
        assert_non_null(strstr(out, "\nsearch: no analysis yet\n"));
        free(out);

        /* --no-headers: no column-name lines, columns as wide as their values */
        assert_int_equal(
            control_status_format(status_doc, strlen(status_doc),
                                  &(struct status_view){.details = false, .headers = false}, &out,
                                  &error),
            0);
        assert_string_equal(out, "cart-api  cart    Progressing  3/5  25%  1  0  7d9f8c  "
                                 "pass 2024-05-01T12:00:00Z  -  -\n"
                                 "search    search  Idle         0/4  0%   0  0  -       "
                                 "-                          -  -\n");
        free(out);
        assert_int_equal(
            control_status_format(status_doc, strlen(status_doc),
                                  &(struct status_view){.details = true, .headers = false}, &out,
                                  &error),
            0);
        assert_null(strstr(out, "NAME"));
        assert_null(strstr(out, "METRIC"));
        assert_non_null(strstr(out, "\ncart-api: last analysis at 2024-05-01T12:00:00Z: pass\n"
                                    "error-rate  threshold"));
        free(out);
}

/* A rollout that waits for approval (SPEC §9) says so in PHASE, and with details when it began,
 * until when, and what to run; a paused wait says it waits, without a running deadline. */
static void status_table_shows_awaiting_approval(void **state)
{
        static const char doc[] =
            "{\"canaries\":["
            "{\"name\":\"cart-api\",\"namespace\":\"cart\",\"phase\":\"Progressing\",\"step\":3,"
            "\"steps\":4,\"canary_weight\":50,\"failed_checks\":0,\"inconclusive_checks\":0,"
            "\"revision\":\"r7\",\"approval_steps\":[3],\"awaiting_approval\":true,"
            "\"approval_since\":\"2024-05-01T12:00:00.000000Z\","
            "\"approval_deadline\":\"2024-05-01T16:00:00.000000Z\",\"last_analysis\":null},"
            "{\"name\":\"web\",\"namespace\":\"shop\",\"phase\":\"Paused\",\"step\":2,"
            "\"steps\":3,\"canary_weight\":25,\"failed_checks\":0,\"inconclusive_checks\":0,"
            "\"revision\":\"r1\",\"approval_steps\":[2],\"awaiting_approval\":false,"
            "\"approval_since\":\"2024-05-01T11:00:00.000000Z\",\"approval_deadline\":null,"
            "\"last_analysis\":null}]}";
        char *out = NULL, *error = NULL;
        assert_int_equal(
            control_status_format(doc, strlen(doc),
                                  &(struct status_view){.details = false, .headers = true}, &out,
                                  &error),
            0);
        assert_non_null(
            strstr(out, "\ncart-api  cart       Progressing (awaiting approval)  3/4 "));
        assert_non_null(
            strstr(out, "\nweb       shop       Paused                           2/3 "));
        free(out);
        assert_int_equal(control_status_format(
                             doc, strlen(doc),
                             &(struct status_view){.details = true, .headers = true}, &out, &error),
                         0);
        assert_non_null(strstr(out,
                               "\ncart-api: awaiting approval since 2024-05-01T12:00:00.000000Z "
                               "(until 2024-05-01T16:00:00.000000Z): canaryctl approve "
                               "cart-api\n"));
        assert_non_null(strstr(out, "\nweb: paused while waiting for approval since "
                                    "2024-05-01T11:00:00.000000Z: canaryctl approve web\n"));
        free(out);
}

static void status_table_tolerates_odd_fields_and_refuses_garbage(void **state)
{
        char *out = NULL, *error = NULL;
        const char *odd = "{\"canaries\":[{\"name\":\"a\\u001bb\",\"phase\":7,"
                          "\"step\":1,\"steps\":[5,50,100],\"canary_weight\":5.5}]}";
        assert_int_equal(
            control_status_format(odd, strlen(odd),
                                  &(struct status_view){.details = false, .headers = true}, &out,
                                  &error),
            0);
        assert_non_null(
            strstr(out, "\na?b   -          -      1/3   5.5%    -       -        -         -      "
                        "        -    -\n"));
        assert_null(strchr(out, '\x1b'));
        free(out);

        const char *empty = "{\"canaries\":[]}";
        assert_int_equal(
            control_status_format(empty, strlen(empty),
                                  &(struct status_view){.details = false, .headers = true}, &out,
                                  &error),
            0);
        assert_string_equal(out, "NAME  NAMESPACE  PHASE  STEP  WEIGHT  FAILED  INCONCL  "
                                 "REVISION  LAST-ANALYSIS  AGE  REASON\n");
        free(out);

        static const char *const bad[] = {"", "{", "[]", "{\"canaries\":{}}", "{\"canaries\":[1]}"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                error = NULL;
                assert_int_equal(
                    control_status_format(bad[i], strlen(bad[i]),
                                          &(struct status_view){.details = false, .headers = true},
                                          &out, &error),
                    -EINVAL);
                assert_non_null(error);
                free(error);
        }
}

/* A rollout paused by a hand edit of the routes to 0 % and one that runs, seen at a fixed time:
 * the table says what the routes hold beside the step's weight, why it paused, and ages. */
static const char drifted_doc[] =
    "{\"canaries\":["
    "{\"name\":\"search\",\"namespace\":\"search\",\"phase\":\"Paused\",\"step\":1,\"steps\":4,"
    "\"canary_weight\":10,\"failed_checks\":0,\"inconclusive_checks\":2,\"revision\":\"r2\","
    "\"updated_at\":\"2026-12-07T05:00:00.000000Z\",\"started_at\":\"2026-12-07T02:50:00.000000Z\","
    "\"observed_weight\":0,\"routes_agree\":true,"
    "\"reason\":\"weights changed outside canaryd: canary at 0%, expected 10%\",\"error\":null,"
    "\"last_analysis\":null},"
    "{\"name\":\"cart-api\",\"namespace\":\"cart\",\"phase\":\"Progressing\",\"step\":2,"
    "\"steps\":4,\"canary_weight\":25,\"failed_checks\":1,\"inconclusive_checks\":0,"
    "\"revision\":\"7d9f8c\",\"updated_at\":\"2026-12-04T04:00:00Z\","
    "\"started_at\":\"2026-12-04T03:00:00Z\",\"observed_weight\":25,\"routes_agree\":false,"
    "\"reason\":\"\",\"last_analysis\":{\"at\":\"2026-12-07T05:04:30Z\",\"result\":\"pass\","
    "\"metrics\":[]}}]}";

static uint64_t drifted_now(void)
{
        usec_t now;
        assert_int_equal(parse_rfc3339("2026-12-07T05:05:00Z", &now), 0);
        return now;
}

static void status_table_shows_routes_reason_and_ages(void **state)
{
        char *out = NULL, *error = NULL;
        struct status_view v = {.headers = true, .now_usec = drifted_now()};
        assert_int_equal(control_status_format(drifted_doc, strlen(drifted_doc), &v, &out, &error),
                         0);
        assert_string_equal(
            out, "NAME      NAMESPACE  PHASE        STEP  WEIGHT                 FAILED  INCONCL  "
                 "REVISION  LAST-ANALYSIS  AGE   REASON\n"
                 "search    search     Paused       1/4   10% (observed 0%)      0       2        "
                 "r2        -              5m    weights changed outside canaryd: canary at 0%...\n"
                 "cart-api  cart       Progressing  2/4   25% (routes disagree)  1       0        "
                 "7d9f8c    pass 30s       3d1h  -\n");
        free(out);

        /* wide: the routes in a column of their own, the rollout's age, the reason whole */
        v.wide = true;
        assert_int_equal(control_status_format(drifted_doc, strlen(drifted_doc), &v, &out, &error),
                         0);
        assert_string_equal(
            out, "NAME      NAMESPACE  PHASE        STEP  WEIGHT  OBSERVED               FAILED  "
                 "INCONCL  REVISION  LAST-ANALYSIS  AGE   STARTED  REASON\n"
                 "search    search     Paused       1/4   10%     0%                     0       "
                 "2        r2        -              5m    135m     weights changed outside "
                 "canaryd: canary at 0%, expected 10%\n"
                 "cart-api  cart       Progressing  2/4   25%     25% (routes disagree)  1       "
                 "0        7d9f8c    pass 30s       3d1h  3d2h     -\n");
        free(out);

        /* status NAME: why, since when, and what the routes hold */
        v.wide = false;
        v.details = true;
        assert_int_equal(control_status_format(drifted_doc, strlen(drifted_doc), &v, &out, &error),
                         0);
        assert_non_null(strstr(out,
                               "\n\nsearch: Paused since 2026-12-07T05:00:00.000000Z (5m ago): "
                               "weights changed outside canaryd: canary at 0%, expected 10%\n"
                               "search: the routes send 0% to the canary; the step's weight "
                               "is 10%\n"));
        assert_non_null(strstr(out, "\ncart-api: the routes disagree: the first sends 25% to the "
                                    "canary; the step's weight is 25%\n"));
        assert_non_null(strstr(out, "\ncart-api: last analysis at 2026-12-07T05:04:30Z (30s ago): "
                                    "pass\n"));
        free(out);
}

/* An observed weight reads the same in the WEIGHT cell as in the details (12.5, not 13), and a
 * time that does not parse gets no "(... ago)" of itself. */
static void status_observed_fraction_and_unparsed_time(void **state)
{
        static const char doc[] =
            "{\"canaries\":[{\"name\":\"web\",\"namespace\":\"shop\",\"phase\":\"Paused\","
            "\"step\":1,\"steps\":4,\"canary_weight\":10,\"failed_checks\":0,"
            "\"inconclusive_checks\":0,\"revision\":\"r1\",\"updated_at\":\"yesterday\","
            "\"observed_weight\":12.5,\"routes_agree\":true,\"reason\":\"by hand\","
            "\"last_analysis\":null}]}";
        char *out = NULL, *error = NULL;
        struct status_view v = {.headers = false, .details = true, .now_usec = drifted_now()};
        assert_int_equal(control_status_format(doc, strlen(doc), &v, &out, &error), 0);
        assert_non_null(strstr(out, " 10% (observed 12.5%) "));
        assert_non_null(strstr(out, "the routes send 12.5% to the canary"));
        assert_non_null(strstr(out, "\nweb: Paused since yesterday: by hand\n"));
        assert_null(strstr(out, "ago"));
        free(out);
}

/* -o json is indented by two spaces, -o yaml is the same tree, quoting what would read back as
 * another type. */
static void documents_print_as_indented_json_and_yaml(void **state)
{
        static const char doc[] =
            "{\"canaries\":[{\"name\":\"a\\\"b\",\"step\":1,\"revision\":\"25\","
            "\"at\":\"2026-12-07T05:00:00Z\",\"ok\":true,\"no\":\"no\","
            "\"x\":null,\"r\":0.25,\"e\":[],\"o\":{},"
            "\"why\":\"a: b # c\"}],\"slack\":{\"queued\":0}}";
        char *out = NULL, *error = NULL;
        assert_int_equal(doc_format_json_indented(doc, strlen(doc), &out, &error), 0);
        assert_string_equal(out, "{\n"
                                 "  \"canaries\": [\n"
                                 "    {\n"
                                 "      \"name\": \"a\\\"b\",\n"
                                 "      \"step\": 1,\n"
                                 "      \"revision\": \"25\",\n"
                                 "      \"at\": \"2026-12-07T05:00:00Z\",\n"
                                 "      \"ok\": true,\n"
                                 "      \"no\": \"no\",\n"
                                 "      \"x\": null,\n"
                                 "      \"r\": 0.25,\n"
                                 "      \"e\": [],\n"
                                 "      \"o\": {},\n"
                                 "      \"why\": \"a: b # c\"\n"
                                 "    }\n"
                                 "  ],\n"
                                 "  \"slack\": {\n"
                                 "    \"queued\": 0\n"
                                 "  }\n"
                                 "}\n");
        free(out);
        assert_int_equal(doc_format_yaml(doc, strlen(doc), &out, &error), 0);
        assert_string_equal(out, "canaries:\n"
                                 "- name: a\"b\n"
                                 "  step: 1\n"
                                 "  revision: \"25\"\n"
                                 "  at: \"2026-12-07T05:00:00Z\"\n"
                                 "  ok: true\n"
                                 "  \"no\": \"no\"\n"
                                 "  x: null\n"
                                 "  r: 0.25\n"
                                 "  e: []\n"
                                 "  o: {}\n"
                                 "  why: 'a: b # c'\n"
                                 "slack:\n"
                                 "  queued: 0\n");
        free(out);
        assert_int_equal(doc_format_yaml("{", 1, &out, &error), -EINVAL);
        assert_non_null(error);
        free(error);
        /* one value, whole: nothing run on after it, no NUL, valid UTF-8 (libyaml's emitter
         * refuses the rest, and a part printed would look like all of it) */
        static const char *const refused[] = {"{} junk", "{}{}", "[1] 2", "\"a\xff\"",
                                              "{\"a\":\"\xc3\"}"};
        for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
                error = NULL;
                assert_int_equal(
                    doc_format_json_indented(refused[i], strlen(refused[i]), &out, &error),
                    -EINVAL);
                free(error);
                error = NULL;
                assert_int_equal(doc_format_yaml(refused[i], strlen(refused[i]), &out, &error),
                                 -EINVAL);
                free(error);
        }
        error = NULL;
        assert_int_equal(doc_format_yaml("{}\0{}", 5, &out, &error), -EINVAL);
        free(error);
        assert_int_equal(doc_format_json_indented("{\"a\": 1} \n", 10, &out, &error), 0);
        assert_string_equal(out, "{\n  \"a\": 1\n}\n");
        free(out);
}

/* ---- who may do what ---- */

static const struct control_access open_access = {
    .restricted = false, .daemon_uid = 990, .operator_gid = 990};
static const struct control_access split_access = {
    .restricted = true, .daemon_uid = 990, .operator_gid = 500};

static void read_only_commands_are_status_history_report(void **state)
{
        for (int c = 0; c < _CONTROL_COMMAND_MAX; c++) {
                bool ro = c == CONTROL_STATUS || c == CONTROL_HISTORY || c == CONTROL_REPORT;
                assert_int_equal(control_command_is_read_only((enum control_command)c), ro);
        }
        assert_false(control_command_is_read_only(_CONTROL_COMMAND_MAX));
}

static void without_read_group_everyone_may_do_everything(void **state)
{
        struct control_credentials anyone = {.uid = 1234, .gid = 1234, .groups_known = true};
        for (int c = 0; c < _CONTROL_COMMAND_MAX; c++)
                assert_null(control_access_check(&open_access, (enum control_command)c, &anyone));
}

static void read_only_peer_may_read_but_not_change(void **state)
{
        gid_t groups[] = {100, 600}; /* not 500 */
        struct control_credentials reader = {
            .uid = 1234, .gid = 600, .groups = groups, .n_groups = 2, .groups_known = true};
        for (int c = 0; c < _CONTROL_COMMAND_MAX; c++) {
                const char *why =
                    control_access_check(&split_access, (enum control_command)c, &reader);
                if (control_command_is_read_only((enum control_command)c))
                        assert_null(why);
                else
                        assert_non_null(strstr(why, "permission denied"));
        }
}

static void operators_are_root_daemon_user_and_group_members(void **state)
{
        gid_t supplementary[] = {100, 500};
        struct control_credentials who[] = {
            {.uid = 0, .gid = 0},      /* root, groups unknown */
            {.uid = 990, .gid = 990},  /* the daemon's own user */
            {.uid = 1234, .gid = 500}, /* primary group */
            {.uid = 1234,
             .gid = 1234,
             .groups = supplementary,
             .n_groups = 2,
             .groups_known = true}, /* supplementary group */
        };
        for (size_t i = 0; i < ELEMENTSOF(who); i++) {
                assert_true(control_access_is_operator(&split_access, &who[i]));
                assert_null(control_access_check(&split_access, CONTROL_ABORT, &who[i]));
                assert_null(control_access_check(&split_access, CONTROL_PROMOTE, &who[i]));
        }
}

static void unknown_supplementary_groups_fail_closed(void **state)
{
        /* without SO_PEERGROUPS the list is not trusted, even if something filled it */
        gid_t supplementary[] = {500};
        struct control_credentials who = {
            .uid = 1234, .gid = 1234, .groups = supplementary, .n_groups = 1};
        assert_false(control_access_is_operator(&split_access, &who));
        assert_non_null(control_access_check(&split_access, CONTROL_START, &who));
        assert_null(control_access_check(&split_access, CONTROL_STATUS, &who));
        assert_non_null(control_access_check(&open_access, _CONTROL_COMMAND_MAX, &who));
}

/* ---- server and client over a real socket ---- */

struct fixture {
        char dir[64];
        char path[128];
        sd_event *event;
        struct control_server *server;
        /* what the handler saw */
        int calls;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        bool groups_known;
        size_t n_groups;
        gid_t groups[64];
        /* refused before the handler: how often, and the last reason */
        int refusals;
        char refused_why[128];
        bool refused_peer;
        struct control_request last;
        /* deferred replies: 1 answer from a later loop iteration, 2 answer inside the handler */
        int defer;
        uint64_t deferred_id;
        sd_event_source *later;
        const char *status_json; /* returned for status */
        bool reply_null;
        /* client thread */
        atomic_bool done;
        void *(*client)(struct fixture *f);
        void *client_result;
};

static int answer_later(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct fixture *f = userdata;
        assert_int_equal(control_server_deferred_count(f->server), 1);
        assert_int_equal(control_server_reply(f->server, f->deferred_id,
                                              control_reply_ok("decided later", NULL)),
                         0);
        assert_int_equal(control_server_deferred_count(f->server), 0);
        /* a second answer finds nobody waiting */
        assert_int_equal(control_server_reply(f->server, f->deferred_id, xstrdup("x")), -ENOENT);
        return 0;
}

static char *handler(const struct control_request *req, const struct control_peer *peer,
                     void *userdata)
{
        struct fixture *f = userdata;
        f->calls++;
        f->uid = peer->uid;
        f->gid = peer->gid;
        f->pid = peer->pid;
        f->groups_known = peer->groups_known;
        f->n_groups = peer->n_groups;
        for (size_t i = 0; i < peer->n_groups && i < ELEMENTSOF(f->groups); i++)
                f->groups[i] = peer->groups[i];
        if (f->defer) {
                f->deferred_id = peer->id;
                assert_int_equal(control_server_defer(f->server, peer->id), 0);
                if (f->defer == 2) {
                        assert_int_equal(control_server_reply(f->server, peer->id,
                                                              control_reply_ok("at once", NULL)),
                                         0);
                        return NULL;
                }
                assert_int_equal(sd_event_add_time_relative(f->event, &f->later, CLOCK_MONOTONIC,
                                                            50 * USEC_PER_MSEC, 0, answer_later, f),
                                 0);
                return NULL;
        }
        control_request_done(&f->last);
        f->last = (struct control_request){
            .command = req->command,
            .name = xstrdup(req->name),
            .revision = xstrdup(req->revision),
            .reason = xstrdup(req->reason),
            .full = req->full,
        };
        if (f->reply_null)
                return NULL;
        if (req->command == CONTROL_STATUS)
                return control_reply_ok(NULL, f->status_json);
        return control_reply_ok("done", NULL);
}

static void refused(const struct control_peer *peer, const char *why, void *userdata)
{
        struct fixture *f = userdata;
        f->refusals++;
        f->refused_peer = peer != NULL;
        snprintf(f->refused_why, sizeof(f->refused_why), "%s", why);
}

static int setup(void **state)
{
        struct fixture *f = xcalloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/test-control-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(control_server_new(f->event, f->path, (gid_t)-1, handler, f, &f->server),
                         0);
        control_server_set_refused(f->server, refused);
        f->status_json = status_doc;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        control_server_free(f->server);
        sd_event_source_disable_unref(f->later);
        sd_event_unref(f->event);
        control_request_done(&f->last);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void *client_thread(void *p)
{
        struct fixture *f = p;
        f->client_result = f->client(f);
        atomic_store(&f->done, true);
        return NULL;
}

/* Runs the client in a thread while this thread drives the server's loop. */
static void *run_client(struct fixture *f, void *(*client)(struct fixture *))
{
        pthread_t t;
        f->client = client;
        atomic_store(&f->done, false);
        assert_int_equal(pthread_create(&t, NULL, client_thread, f), 0);
        for (int i = 0; i < 1000 && !atomic_load(&f->done); i++)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        return f->client_result;
}

/* A raw client: connect, write the bytes, maybe shut down writing, read until EOF. */
static char *raw_exchange(const char *path, const char *data, size_t len, bool shut)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        for (size_t off = 0; off < len;) {
                ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
                if (n <= 0)
                        break; /* the server may stop reading an over-long line */
                off += (size_t)n;
        }
        if (shut)
                shutdown(fd, SHUT_WR);
        struct buf b = {0};
        char chunk[4096];
        ssize_t n;
        while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
                buf_append(&b, chunk, (size_t)n);
        close(fd);
        return buf_steal(&b);
}

static void assert_refused(const char *reply_line, int code, const char *want)
{
        struct control_reply rep;
        char *error = NULL;
        size_t len = strlen(reply_line);
        assert_true(len > 0 && reply_line[len - 1] == '\n');
        assert_int_equal(control_reply_parse(reply_line, len - 1, &rep, &error), 0);
        assert_false(rep.ok);
        assert_int_equal(rep.code, code);
        if (!strstr(rep.error, want))
                fail_msg("error \"%s\" lacks \"%s\"", rep.error, want);
        control_reply_done(&rep);
}

static void *call_promote(struct fixture *f)
{
        struct control_request req = {
            .command = CONTROL_PROMOTE, .name = (char *)(uintptr_t) "cart-api", .full = true};
        char *reply = NULL;
        int r = control_call(f->path, &req, 5000, &reply);
        return r < 0 ? xasprintf("error %d", r) : reply;
}

static void server_delivers_reply_and_peer_uid(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, call_promote);
        assert_string_equal(reply, "{\"ok\":true,\"message\":\"done\"}");
        free(reply);
        assert_int_equal(f->calls, 1);
        assert_int_equal(f->uid, getuid());
        assert_int_equal(f->gid, getgid());
        assert_int_equal(f->pid, getpid()); /* the client thread is in this process */
        /* SO_PEERGROUPS: our supplementary groups, as at connect time */
        gid_t mine[64];
        int n = getgroups(ELEMENTSOF(mine), mine);
        assert_true(n >= 0);
        assert_true(f->groups_known);
        assert_int_equal(f->n_groups, (size_t)n);
        for (int i = 0; i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < f->n_groups; k++)
                        found |= f->groups[k] == mine[i];
                assert_true(found);
        }
        assert_int_equal(f->refusals, 0);
        assert_int_equal(f->last.command, CONTROL_PROMOTE);
        assert_string_equal(f->last.name, "cart-api");
        assert_true(f->last.full);

        struct stat st;
        assert_int_equal(lstat(f->path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0660);
}

static void server_defers_the_reply_until_told(void **state)
{
        struct fixture *f = *state;
        f->defer = 1;
        char *reply = run_client(f, call_promote);
        assert_string_equal(reply, "{\"ok\":true,\"message\":\"decided later\"}");
        free(reply);
        assert_int_equal(control_server_deferred_count(f->server), 0);
}

static void server_sends_a_reply_given_inside_the_handler(void **state)
{
        struct fixture *f = *state;
        f->defer = 2;
        char *reply = run_client(f, call_promote);
        assert_string_equal(reply, "{\"ok\":true,\"message\":\"at once\"}");
        free(reply);
}

static void server_socket_gets_the_configured_group(void **state)
{
        struct fixture *f = *state;
        f->server = control_server_free(f->server);
        /* our own group is the one group an unprivileged test may chown to */
        assert_int_equal(control_server_new(f->event, f->path, getgid(), handler, f, &f->server),
                         0);
        struct stat st;
        assert_int_equal(lstat(f->path, &st), 0);
        assert_int_equal(st.st_gid, getgid());
        assert_int_equal(st.st_mode & 07777, 0660);
}

static void *call_status(struct fixture *f)
{
        struct control_request req = {.command = CONTROL_STATUS};
        char *reply = NULL;
        int r = control_call(f->path, &req, 5000, &reply);
        return r < 0 ? xasprintf("error %d", r) : reply;
}

static void server_status_document_passes_through(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, call_status);
        struct control_reply rep;
        char *error = NULL;
        assert_int_equal(control_reply_parse(reply, strlen(reply), &rep, &error), 0);
        assert_true(rep.ok);
        assert_string_equal(rep.status_json, status_doc);
        assert_null(f->last.name);
        control_reply_done(&rep);
        free(reply);
}

static void server_writes_large_replies_in_parts(void **state)
{
        struct fixture *f = *state;
        struct buf doc = {0};
        buf_puts(&doc, "{\"canaries\":[");
        for (int i = 0; i < 8000; i++)
                buf_printf(&doc,
                           "%s{\"name\":\"canary-%05d\",\"namespace\":\"ns\","
                           "\"phase\":\"Idle\",\"detail\":\"%s\"}",
                           i ? "," : "", i, "padding padding padding padding padding");
        buf_puts(&doc, "]}");
        f->status_json = doc.data;
        char *reply = run_client(f, call_status);
        assert_true(strlen(reply) > 800000);
        struct control_reply rep;
        char *error = NULL;
        assert_int_equal(control_reply_parse(reply, strlen(reply), &rep, &error), 0);
        assert_string_equal(rep.status_json, doc.data);
        control_reply_done(&rep);
        free(reply);
        buf_free(&doc);
}

static void *send_unknown_command(struct fixture *f)
{
        const char *line = "{\"command\":\"launch\",\"name\":\"x\"}\n";
        return raw_exchange(f->path, line, strlen(line), false);
}

static void server_refuses_malformed_without_handler(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, send_unknown_command);
        assert_refused(reply, 2, "unknown command \"launch\"");
        free(reply);
        assert_int_equal(f->calls, 0);
        /* the daemon hears of it, with the peer, to log it */
        assert_int_equal(f->refusals, 1);
        assert_true(f->refused_peer);
        assert_non_null(strstr(f->refused_why, "unknown command"));
}

static void *send_oversize(struct fixture *f)
{
        size_t len = CONTROL_LINE_MAX + 5000;
        char *data = xmalloc(len);
        memset(data, 'a', len);
        char *reply = raw_exchange(f->path, data, len, false);
        free(data);
        return reply;
}

static void server_rejects_oversize_line(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, send_oversize);
        assert_refused(reply, 2, "request line too long");
        free(reply);
        assert_int_equal(f->calls, 0);
        assert_int_equal(f->refusals, 1);
        assert_non_null(strstr(f->refused_why, "request line too long"));
}

static void *send_max_line(struct fixture *f)
{
        char *data = xmalloc(CONTROL_LINE_MAX + 1);
        memset(data, ' ', CONTROL_LINE_MAX);
        memcpy(data, "{\"command\":\"status\"}", 20);
        data[CONTROL_LINE_MAX] = '\n';
        char *reply = raw_exchange(f->path, data, CONTROL_LINE_MAX + 1, false);
        free(data);
        return reply;
}

static void server_accepts_line_of_exactly_max(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, send_max_line);
        assert_non_null(strstr(reply, "\"ok\":true"));
        free(reply);
        assert_int_equal(f->calls, 1);
}

static void *send_without_newline(struct fixture *f)
{
        const char *line = "{\"command\":\"pause\",\"name\":\"web\"}";
        return raw_exchange(f->path, line, strlen(line), true);
}

static void server_accepts_request_ended_by_eof(void **state)
{
        struct fixture *f = *state;
        char *reply = run_client(f, send_without_newline);
        assert_string_equal(reply, "{\"ok\":true,\"message\":\"done\"}\n");
        free(reply);
        assert_int_equal(f->last.command, CONTROL_PAUSE);
        assert_string_equal(f->last.name, "web");
}

static void *send_nothing(struct fixture *f)
{
        return raw_exchange(f->path, "", 0, false);
}

static void server_times_out_silent_peers(void **state)
{
        struct fixture *f = *state;
        control_server_set_timeout(f->server, 200 * USEC_PER_MSEC);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        char *reply = run_client(f, send_nothing);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_refused(reply, 2, "timed out");
        free(reply);
        assert_int_equal(f->calls, 0);
        long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        assert_true(ms >= 150 && ms < 3000);
}

static int connect_raw(const char *path)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
}

/* Three connections interleaved: each half-sent, then finished in reverse order. */
static void *interleaved_clients(struct fixture *f)
{
        static const char *const names[] = {"one", "two", "three"};
        int fds[3];
        char *lines[3];
        for (int i = 0; i < 3; i++) {
                fds[i] = connect_raw(f->path);
                if (fds[i] < 0)
                        return xstrdup("connect failed");
                lines[i] = xasprintf("{\"command\":\"resume\",\"name\":\"%s\"}\n", names[i]);
                (void)!write(fds[i], lines[i], 10);
        }
        struct buf all = {0};
        for (int i = 2; i >= 0; i--) {
                (void)!write(fds[i], lines[i] + 10, strlen(lines[i]) - 10);
                char reply[256];
                ssize_t n = recv(fds[i], reply, sizeof(reply) - 1, MSG_WAITALL);
                reply[n > 0 ? n : 0] = '\0';
                buf_printf(&all, "%s|", reply);
                close(fds[i]);
                free(lines[i]);
        }
        return buf_steal(&all);
}

static void server_serves_several_connections_at_once(void **state)
{
        struct fixture *f = *state;
        char *replies = run_client(f, interleaved_clients);
        const char *one = "{\"ok\":true,\"message\":\"done\"}\n|";
        char *want = xasprintf("%s%s%s", one, one, one);
        assert_string_equal(replies, want);
        free(want);
        free(replies);
        assert_int_equal(f->calls, 3);
        assert_string_equal(f->last.name, "one"); /* finished last */
}

static void *call_retry(struct fixture *f)
{
        struct control_request req = {.command = CONTROL_RETRY, .name = (char *)(uintptr_t) "x"};
        char *reply = NULL;
        int r = control_call(f->path, &req, 5000, &reply);
        return r < 0 ? xasprintf("error %d", r) : reply;
}

static void server_answers_null_handler_reply_with_internal_error(void **state)
{
        struct fixture *f = *state;
        f->reply_null = true;
        char *reply = run_client(f, call_retry);
        assert_string_equal(reply,
                            "{\"ok\":false,\"code\":1,\"error\":\"internal error: no reply\"}");
        free(reply);
}

static void server_free_unlinks_and_client_reports_unreachable(void **state)
{
        struct fixture *f = *state;
        f->server = control_server_free(f->server);
        struct stat st;
        assert_int_equal(lstat(f->path, &st), -1);
        assert_int_equal(errno, ENOENT);

        struct control_request req = {.command = CONTROL_STATUS};
        char *reply = NULL;
        assert_int_equal(control_call(f->path, &req, 1000, &reply), -ENOENT);
        assert_null(reply);

        /* A stale socket file that nobody listens on. */
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, f->path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        assert_int_equal(control_call(f->path, &req, 1000, &reply), -ECONNREFUSED);

        /* ... is replaced by a new server. */
        assert_int_equal(control_server_new(f->event, f->path, (gid_t)-1, handler, f, &f->server),
                         0);
        struct control_server *second = NULL;
        assert_int_equal(control_server_new(f->event, f->path, (gid_t)-1, handler, f, &second),
                         -EADDRINUSE);
        assert_null(second);

        /* Request too big for the protocol: refused before connecting. */
        char *huge = xmalloc(CONTROL_LINE_MAX + 1);
        memset(huge, 'r', CONTROL_LINE_MAX);
        huge[CONTROL_LINE_MAX] = '\0';
        struct control_request big = {
            .command = CONTROL_ABORT, .name = (char *)(uintptr_t) "x", .reason = huge};
        assert_int_equal(control_call(f->path, &big, 1000, &reply), -EMSGSIZE);
        free(huge);

        char longpath[200];
        memset(longpath, 'p', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(control_call(longpath, &req, 1000, &reply), -ENAMETOOLONG);
}

static void server_new_refuses_what_is_not_a_stale_socket(void **state)
{
        struct fixture *f = *state;
        struct control_server *s = NULL;

        char *file = xasprintf("%s/regular", f->dir);
        int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(control_server_new(f->event, file, (gid_t)-1, handler, f, &s), -EEXIST);
        struct stat st;
        assert_int_equal(stat(file, &st), 0); /* untouched */
        unlink(file);
        free(file);

        char *missing = xasprintf("%s/no-such-dir/control.sock", f->dir);
        assert_int_equal(control_server_new(f->event, missing, (gid_t)-1, handler, f, &s), -ENOENT);
        free(missing);
        assert_null(s);
}

static void server_from_inherited_fd(void **state)
{
        struct fixture *f = *state;
        f->server = control_server_free(f->server);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, f->path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

        /* Not yet listening: refused, and the fd stays the caller's. */
        assert_int_equal(control_server_new_from_fd(f->event, fd, handler, f, &f->server),
                         -ENOTSOCK);
        assert_int_equal(listen(fd, 16), 0);
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        assert_int_equal(control_server_new_from_fd(f->event, pipefd[0], handler, f, &f->server),
                         -ENOTSOCK);
        close(pipefd[0]);
        close(pipefd[1]);

        assert_int_equal(control_server_new_from_fd(f->event, fd, handler, f, &f->server), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        char *reply = run_client(f, call_promote);
        assert_string_equal(reply, "{\"ok\":true,\"message\":\"done\"}");
        free(reply);
        assert_int_equal(f->uid, getuid());

        f->server = control_server_free(f->server);
        assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed by the server */
        struct stat st;
        assert_int_equal(lstat(f->path, &st), 0); /* systemd owns the path */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(request_examples_from_the_protocol_parse),
            cmocka_unit_test(request_round_trips_for_every_command),
            cmocka_unit_test(request_malformed_are_refused_clearly),
            cmocka_unit_test(replies_round_trip),
            cmocka_unit_test(status_table_renders_spec_document),
            cmocka_unit_test(status_table_shows_awaiting_approval),
            cmocka_unit_test(status_table_tolerates_odd_fields_and_refuses_garbage),
            cmocka_unit_test(status_table_shows_routes_reason_and_ages),
            cmocka_unit_test(status_observed_fraction_and_unparsed_time),
            cmocka_unit_test(documents_print_as_indented_json_and_yaml),
            cmocka_unit_test(read_only_commands_are_status_history_report),
            cmocka_unit_test(without_read_group_everyone_may_do_everything),
            cmocka_unit_test(read_only_peer_may_read_but_not_change),
            cmocka_unit_test(operators_are_root_daemon_user_and_group_members),
            cmocka_unit_test(unknown_supplementary_groups_fail_closed),
            cmocka_unit_test_setup_teardown(server_delivers_reply_and_peer_uid, setup, teardown),
            cmocka_unit_test_setup_teardown(server_status_document_passes_through, setup, teardown),
            cmocka_unit_test_setup_teardown(server_defers_the_reply_until_told, setup, teardown),
            cmocka_unit_test_setup_teardown(server_sends_a_reply_given_inside_the_handler, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(server_socket_gets_the_configured_group, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(server_writes_large_replies_in_parts, setup, teardown),
            cmocka_unit_test_setup_teardown(server_refuses_malformed_without_handler, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(server_rejects_oversize_line, setup, teardown),
            cmocka_unit_test_setup_teardown(server_accepts_line_of_exactly_max, setup, teardown),
            cmocka_unit_test_setup_teardown(server_accepts_request_ended_by_eof, setup, teardown),
            cmocka_unit_test_setup_teardown(server_times_out_silent_peers, setup, teardown),
            cmocka_unit_test_setup_teardown(server_serves_several_connections_at_once, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(server_answers_null_handler_reply_with_internal_error,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(server_free_unlinks_and_client_reports_unreachable,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(server_new_refuses_what_is_not_a_stale_socket, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(server_from_inherited_fd, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
