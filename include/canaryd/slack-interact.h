/* Requests from Slack (src/codec/slack-interact.c): the v0 request signature (WIRE.md §4.5),
 * application/x-www-form-urlencoded bodies, and the text of a slash command. Pure: the time is
 * the caller's. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLACK_SIGNATURE_WINDOW_SEC 300 /* |now - X-Slack-Request-Timestamp| allowed */

/* Checks X-Slack-Signature ("v0=" + hex HMAC-SHA256 of "v0:{timestamp}:{body}" with secret) in
 * constant time, and that timestamp is within SLACK_SIGNATURE_WINDOW_SEC of now_s. Returns 0,
 * or -EACCES with *ret_why (static text, never the body or the secret). */
int slack_signature_check(const char *secret, const char *timestamp, const char *signature,
                          const char *body, size_t body_len, int64_t now_s, const char **ret_why);
/* "v0=..." for the given inputs, for tests and the sandbox's counterpart; owned. */
char *slack_signature_make(const char *secret, const char *timestamp, const char *body,
                           size_t body_len);

/* A decoded form: key and value pairs in order ("+" is a space, %XX decoded). */
struct form {
        char **kv; /* 2n owned strings */
        size_t n;
};
/* Returns 0, or -EINVAL for a malformed escape, a NUL in the body, or over 64 fields. */
int form_parse(const char *body, size_t len, struct form *ret);
const char *form_get(const struct form *f, const char *key); /* first value, or NULL */
void form_free(struct form *f);

enum slack_verb {
        SLACK_VERB_STATUS,
        SLACK_VERB_PROMOTE,
        SLACK_VERB_ABORT,
        SLACK_VERB_PAUSE,
        SLACK_VERB_RESUME,
        SLACK_VERB_APPROVE, /* a rollout waiting for approval goes on (SPEC §9) */
        _SLACK_VERB_MAX
};
const char *slack_verb_to_string(enum slack_verb v);

/* The text of "/canary VERB NAME [--full] [reason...]": promote takes --full, abort a reason
 * (the rest of the text). */
struct slack_command {
        enum slack_verb verb;
        char name[254];
        bool full;
        char reason[256];
};
/* Returns 0, or -EINVAL with *ret_why (static text) naming what is wrong. */
int slack_command_parse(const char *text, struct slack_command *ret, const char **ret_why);

/* The buttons on the rollout's messages (slack-render.c): action_id names the action, the value
 * the canary. */
#define SLACK_ACTION_PROMOTE      "canaryd_promote"
#define SLACK_ACTION_PROMOTE_FULL "canaryd_promote_full"
#define SLACK_ACTION_PAUSE        "canaryd_pause"
#define SLACK_ACTION_RESUME       "canaryd_resume"
#define SLACK_ACTION_ABORT        "canaryd_abort"
#define SLACK_ACTION_APPROVE      "canaryd_approve"

/* A button click (the JSON of a block_actions request's "payload" field, WIRE.md §4.4), as
 * a command. */
struct slack_action {
        char user[32];
        struct slack_command cmd;
        char response_url[512]; /* http(s); "" when absent */
        char *blocks;           /* owned: the clicked message's blocks (JSON array), or NULL */
};
/* Returns 0, or -EINVAL with *ret_why (static text): not block_actions, no user, no action,
 * an action that is not one of ours, a bad canary name. Free with slack_action_done(). */
int slack_action_parse(const char *json, size_t len, struct slack_action *ret,
                       const char **ret_why);
void slack_action_done(struct slack_action *a);
/* The response_url message replacing the clicked one: its blocks without the buttons (they may
 * no longer apply), then a line saying who did what. */
char *slack_action_update(const char *blocks, const char *line);
/* An answer only the clicker sees, leaving the message as it was. */
char *slack_action_ephemeral(const char *text);

/* The JSON answer to a slash command: seen by the user only (ephemeral) or by the channel. */
char *slack_command_reply(bool in_channel, const char *text);

/* A Slack ID whose first letter is one of kinds ("UW": a user; "S": a user group), then 2..31
 * upper-case letters or digits. */
bool slack_id_valid(const char *id, const char *kinds);

#define SLACK_USERGROUP_USERS_MAX 10000
/* The answer of usergroups.users.list ({"ok":true,"users":["U...",...]}): the members' IDs in
 * *ret_users (owned, free with slack_users_free). Returns 0; -EPERM for ok:false, with Slack's
 * error name in *ret_error (owned; "no_such_subteam", "missing_scope", ...); -EINVAL for an
 * answer that is not that shape, a malformed ID, or over SLACK_USERGROUP_USERS_MAX members,
 * *ret_error saying which. */
int slack_usergroup_users_parse(const char *json, size_t len, char ***ret_users, size_t *ret_n,
                                char **ret_error);
void slack_users_free(char **users, size_t n);
