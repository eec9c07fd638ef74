/* Private to the Slack codec files (slack-render.c, slack-api.c, slack-outbox-json.c,
 * slack-interact.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* A copy of s as valid UTF-8 without control characters, at most max_chars characters (cut
 * with "…"), with &, < and > escaped when mrkdwn. Caller owns it. */
char *slack_text_dup(const char *s, size_t max_chars, bool mrkdwn);
/* root printed without whitespace, then deleted; the text is the caller's (NULL on no memory). */
char *slack_json_print_free(cJSON *root);
