/* Members of the Slack user groups named in slack.approvers (src/io/slack-groups.c), read with
 * the Web API's usergroups.users.list (bot token, scope usergroups:read) at start and every
 * SLACK_GROUPS_REFRESH_USEC, so that a click is authorised from memory, never waiting on Slack.
 * Knows the HTTP client and the loop, not the daemon: what goes wrong is a per-group problem
 * string the caller logs. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/util.h"

#define SLACK_GROUPS_REFRESH_USEC (5 * 60 * USEC_PER_SEC)
/* A refused user may have just been added: a re-read is asked for at most this often. */
#define SLACK_GROUPS_RECHECK_USEC (30 * USEC_PER_SEC)

struct http_client;
struct slack_groups;

enum slack_membership {
        SLACK_MEMBER,
        SLACK_NOT_MEMBER,
        SLACK_MEMBERSHIP_UNKNOWN, /* not read yet, or Slack refused (slack_groups_problem) */
};

/* Called after a read of a group ended, with the group's ID and its problem (NULL: read). */
typedef void (*slack_groups_read_fn)(const char *group, const char *problem, void *userdata);

/* Starts reading groups (n IDs, S...; copied) now. api_base: NULL for https://slack.com/api;
 * token: the bot token (a secret, copied, never logged). */
int slack_groups_new(sd_event *event, struct http_client *http, const char *api_base,
                     const char *token, const char *const *groups, size_t n,
                     slack_groups_read_fn read_cb, void *userdata, struct slack_groups **ret);
/* Whether user (U..., W...) is in group, as last read. */
enum slack_membership slack_groups_check(const struct slack_groups *g, const char *group,
                                         const char *user);
/* Why group's members are not known (Slack's error, HTTP status, transport), or NULL. */
const char *slack_groups_problem(const struct slack_groups *g, const char *group);
/* Asks for an early re-read of every group, at most once per SLACK_GROUPS_RECHECK_USEC. */
void slack_groups_recheck(struct slack_groups *g);
/* Cancels its requests and frees; NULL-safe, returns NULL. */
struct slack_groups *slack_groups_free(struct slack_groups *g);
