/* Requests from Slack: the v0 signature (Slack's documented example, WIRE.md §4.5, with the
 * clock frozen at its timestamp), the 5-minute window, forms and slash command text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/slack-interact.h"

static const char secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
static const char ts[] = "1531420618";
static const char body[] =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554"
    "%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b67"
    "03c";
static const char good[] = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

static void slacks_documented_example_verifies(void **state)
{
        const char *why = "x";
        (void)state;

        assert_int_equal(strlen(body), 362);
        assert_int_equal(
            slack_signature_check(secret, ts, good, body, strlen(body), 1531420618, &why), 0);
        assert_null(why);
        char *made = slack_signature_make(secret, ts, body, strlen(body));
        assert_string_equal(made, good);
        free(made);
}

static void forged_stale_and_missing_are_refused(void **state)
{
        const char *why;
        char bad[sizeof(good)];
        (void)state;

        memcpy(bad, good, sizeof(good));
        bad[20] = bad[20] == '0' ? '1' : '0';
        assert_int_equal(
            slack_signature_check(secret, ts, bad, body, strlen(body), 1531420618, &why), -EACCES);
        assert_non_null(strstr(why, "does not match"));
        /* the body changed by one byte */
        assert_int_equal(
            slack_signature_check(secret, ts, good, body, strlen(body) - 1, 1531420618, &why),
            -EACCES);
        /* another secret */
        assert_int_equal(
            slack_signature_check("other", ts, good, body, strlen(body), 1531420618, &why),
            -EACCES);
        /* 301 s late or early */
        assert_int_equal(
            slack_signature_check(secret, ts, good, body, strlen(body), 1531420618 + 301, &why),
            -EACCES);
        assert_non_null(strstr(why, "5 minutes"));
        assert_int_equal(
            slack_signature_check(secret, ts, good, body, strlen(body), 1531420618 - 301, &why),
            -EACCES);
        assert_int_equal(
            slack_signature_check(secret, ts, good, body, strlen(body), 1531420618 + 300, &why), 0);
        assert_int_equal(
            slack_signature_check(secret, NULL, good, body, strlen(body), 1531420618, &why),
            -EACCES);
        assert_int_equal(
            slack_signature_check(secret, ts, NULL, body, strlen(body), 1531420618, &why), -EACCES);
        assert_int_equal(
            slack_signature_check(secret, "15314x0618", good, body, strlen(body), 1531420618, &why),
            -EACCES);
        assert_int_equal(
            slack_signature_check(secret, ts, "v0=abc", body, strlen(body), 1531420618, &why),
            -EACCES);
}

static void forms_decode(void **state)
{
        struct form f;
        (void)state;

        assert_int_equal(form_parse(body, strlen(body), &f), 0);
        assert_string_equal(form_get(&f, "user_id"), "U2CERLKJA");
        assert_string_equal(form_get(&f, "command"), "/webhook-collect");
        assert_string_equal(form_get(&f, "text"), "");
        assert_string_equal(form_get(&f, "response_url"),
                            "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/"
                            "96rGlfmibIGlgcZRskXaIFfN");
        assert_null(form_get(&f, "nope"));
        form_free(&f);

        assert_int_equal(form_parse("text=promote+web+--full&a&&b=%41", 32, &f), 0);
        assert_string_equal(form_get(&f, "text"), "promote web --full");
        assert_string_equal(form_get(&f, "a"), "");
        assert_string_equal(form_get(&f, "b"), "A");
        form_free(&f);

        const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "%=1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(form_parse(bad[i], strlen(bad[i]), &f), -EINVAL);
}

static void command_text(void **state)
{
        struct slack_command c;
        const char *why;
        (void)state;

        assert_int_equal(slack_command_parse("promote checkout", &c, &why), 0);
        assert_int_equal(c.verb, SLACK_VERB_PROMOTE);
        assert_string_equal(c.name, "checkout");
        assert_false(c.full);
        assert_int_equal(slack_command_parse("  promote   checkout --full ", &c, &why), 0);
        assert_true(c.full);
        assert_int_equal(slack_command_parse("abort search p99 doubled", &c, &why), 0);
        assert_int_equal(c.verb, SLACK_VERB_ABORT);
        assert_string_equal(c.reason, "p99 doubled");
        assert_int_equal(slack_command_parse("status web", &c, &why), 0);
        assert_int_equal(c.verb, SLACK_VERB_STATUS);
        assert_int_equal(slack_command_parse("approve checkout", &c, &why), 0);
        assert_int_equal(c.verb, SLACK_VERB_APPROVE);
        assert_string_equal(c.name, "checkout");
        assert_string_equal(slack_verb_to_string(SLACK_VERB_APPROVE), "approve");

        const char *bad[] = {"",
                             "promote",
                             "deploy web",
                             "promote Web",
                             "promote web --ful",
                             "promote web --full now",
                             "pause web extra",
                             "approve web --full",
                             "approve",
                             "promote web/../x"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why = NULL;
                assert_int_equal(slack_command_parse(bad[i], &c, &why), -EINVAL);
                assert_non_null(why);
        }
        assert_int_equal(slack_command_parse(NULL, &c, &why), -EINVAL);
}

/* usergroups.users.list, as Slack documents it (api.slack.com/methods/usergroups.users.list). */
static void usergroup_members(void **state)
{
        (void)state;
        char **users = NULL, *err = NULL;
        size_t n = 0;
        const char *ok = "{\"ok\":true,\"users\":[\"U060R4BJ4\",\"W123A4BC5\"]}";

        assert_int_equal(slack_usergroup_users_parse(ok, strlen(ok), &users, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(users[0], "U060R4BJ4");
        assert_string_equal(users[1], "W123A4BC5");
        slack_users_free(users, n);

        const char *empty = "{\"ok\":true,\"users\":[]}";
        assert_int_equal(slack_usergroup_users_parse(empty, strlen(empty), &users, &n, &err), 0);
        assert_int_equal(n, 0);
        slack_users_free(users, n);

        const char *no =
            "{\"ok\":false,\"error\":\"missing_scope\",\"needed\":\"usergroups:read\"}";
        assert_int_equal(slack_usergroup_users_parse(no, strlen(no), &users, &n, &err), -EPERM);
        assert_string_equal(err, "missing_scope");
        free(err);

        const char *bad[] = {
            "",
            "[]",
            "{\"users\":[\"U1AB\"]}",                  /* no ok */
            "{\"ok\":true}",                           /* no users */
            "{\"ok\":true,\"users\":[\"S0GROUP\"]}",   /* a group is no member */
            "{\"ok\":true,\"users\":[\"u060r4bj4\"]}", /* lower case */
            "{\"ok\":true,\"users\":[7]}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = NULL;
                assert_int_equal(
                    slack_usergroup_users_parse(bad[i], strlen(bad[i]), &users, &n, &err), -EINVAL);
                assert_non_null(err);
                free(err);
        }
        assert_true(slack_id_valid("S0RELEASE", "S"));
        assert_false(slack_id_valid("U0RELEASE", "S"));
        assert_false(slack_id_valid("S0", "S"));
        assert_false(slack_id_valid("S0RELEASE!", "S"));
}

static void button_clicks(void **state)
{
        static const char click[] =
            "{\"type\":\"block_actions\",\"user\":{\"id\":\"U011QRSS6NM\"},"
            "\"response_url\":\"https:\\/\\/hooks.slack.com\\/actions\\/T0\\/1\\/x\","
            "\"message\":{\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\","
            "\"text\":\"checkout\"}},{\"type\":\"actions\",\"elements\":[]}]},"
            "\"actions\":[{\"action_id\":\"canaryd_promote_full\",\"value\":\"checkout\"}]}";
        struct slack_action a;
        const char *why;
        (void)state;

        assert_int_equal(slack_action_parse(click, strlen(click), &a, &why), 0);
        assert_string_equal(a.user, "U011QRSS6NM");
        assert_int_equal(a.cmd.verb, SLACK_VERB_PROMOTE);
        assert_true(a.cmd.full);
        assert_string_equal(a.cmd.name, "checkout");
        assert_string_equal(a.response_url, "https://hooks.slack.com/actions/T0/1/x");
        char *u = slack_action_update(a.blocks, "<@U011QRSS6NM> asked to promote fully checkout");
        assert_non_null(strstr(u, "\"replace_original\":true"));
        assert_null(strstr(u, "\"actions\"")); /* the old buttons go */
        assert_non_null(strstr(u, "\"context\""));
        free(u);
        slack_action_done(&a);

        /* the Approve button of an "awaiting approval" message (SPEC §9) */
        static const char approve[] =
            "{\"type\":\"block_actions\",\"user\":{\"id\":\"W012A3CDE\"},"
            "\"actions\":[{\"action_id\":\"canaryd_approve\",\"value\":\"checkout\"}]}";
        assert_int_equal(slack_action_parse(approve, strlen(approve), &a, &why), 0);
        assert_int_equal(a.cmd.verb, SLACK_VERB_APPROVE);
        assert_false(a.cmd.full);
        assert_string_equal(a.cmd.name, "checkout");
        assert_string_equal(a.user, "W012A3CDE");
        assert_string_equal(a.response_url, "");
        slack_action_done(&a);

        const char *bad[] = {
            "[]",
            "{\"type\":\"view_submission\"}",
            "{\"type\":\"block_actions\",\"user\":{\"id\":\"U1\"},\"actions\":[{\"action_id\":"
            "\"button\",\"value\":\"click_me_123\"}]}",
            "{\"type\":\"block_actions\",\"user\":{\"id\":\"U1\"},\"actions\":[{\"action_id\":"
            "\"canaryd_pause\",\"value\":\"../etc\"}]}",
            "{\"type\":\"block_actions\",\"actions\":[{\"action_id\":\"canaryd_pause\","
            "\"value\":\"web\"}]}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(slack_action_parse(bad[i], strlen(bad[i]), &a, &why), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(slacks_documented_example_verifies),
            cmocka_unit_test(forged_stale_and_missing_are_refused),
            cmocka_unit_test(forms_decode),
            cmocka_unit_test(command_text),
            cmocka_unit_test(button_clicks),
            cmocka_unit_test(usergroup_members),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
