/* Fuzzes what a Slack request to the HTTP endpoint goes through before anything acts on it:
 * the signature check, the form decoder, the slash command text and a button click's JSON.
 * Invariants: no crash or sanitizer report; a form field never holds a NUL or more bytes than the
 * body; a command that parses names a valid canary name and a known verb; a signature made for the
 * input verifies and the same signature over one byte less does not; a usergroups.users.list
 * answer that parses holds only user IDs. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/names.h"
#include "canaryd/slack-interact.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *body = (const char *)data, *why;
        struct form f;
        struct slack_command c;

        if (form_parse(body, size, &f) == 0) {
                for (size_t i = 0; i < 2 * f.n; i++)
                        CHECK(strlen(f.kv[i]) <= size);
                const char *text = form_get(&f, "text");
                if (slack_command_parse(text, &c, &why) == 0) {
                        CHECK(c.verb < _SLACK_VERB_MAX && dns1123_is_subdomain(c.name));
                        CHECK(!c.full || c.verb == SLACK_VERB_PROMOTE);
                } else {
                        CHECK(why && *why);
                }
                form_free(&f);
        }
        struct slack_action a;
        if (slack_action_parse(body, size, &a, &why) == 0) {
                CHECK(a.cmd.verb < _SLACK_VERB_MAX && dns1123_is_subdomain(a.cmd.name));
                CHECK(a.user[0] && memchr(a.response_url, '\0', sizeof(a.response_url)));
                char *update = slack_action_update(a.blocks, "x");
                CHECK(update && strstr(update, "\"replace_original\":true"));
                free(update);
                slack_action_done(&a);
        } else {
                CHECK(why && *why);
        }
        char *sig = slack_signature_make("s3cr3t", "1700000000", body, size);
        CHECK(sig && strlen(sig) == 67);
        CHECK(slack_signature_check("s3cr3t", "1700000000", sig, body, size, 1700000000, &why) ==
              0);
        if (size > 0)
                CHECK(slack_signature_check("s3cr3t", "1700000000", sig, body, size - 1, 1700000000,
                                            &why) < 0);
        /* the input as a signature header: refused unless it is the right one */
        char *header = strndup(body, size);
        char *empty = slack_signature_make("s3cr3t", "1700000000", "", 0);
        if (header &&
            slack_signature_check("s3cr3t", "1700000000", header, "", 0, 1700000000, &why) == 0)
                CHECK(empty && strcmp(header, empty) == 0);
        free(empty);
        free(header);
        free(sig);

        /* the input as usergroups.users.list's answer: members are user IDs, at most the cap */
        char **users = NULL, *err = NULL;
        size_t n = 0;
        int r = slack_usergroup_users_parse(body, size, &users, &n, &err);
        if (r == 0) {
                CHECK(!err && n <= SLACK_USERGROUP_USERS_MAX);
                for (size_t i = 0; i < n; i++)
                        CHECK(slack_id_valid(users[i], "UW"));
                slack_users_free(users, n);
        } else {
                CHECK((r == -EPERM || r == -EINVAL) && err && *err);
                free(err);
        }
        return 0;
}
