/* Who may send which control request (docs/control-protocol.md, "Who may do what"). A pure
 * decision (src/codec/control-access.c) over the request's command and the peer's credentials
 * as the kernel gave them at connect time; the server gathers them (control.h), the daemon
 * decides with this and logs a refusal. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "canaryd/control-json.h"

/* The policy, resolved from control.group and control.read_group at start-up. */
struct control_access {
        bool restricted;    /* control.read_group is set: only operators may change anything */
        uid_t daemon_uid;   /* the daemon's own (effective) uid is an operator */
        gid_t operator_gid; /* control.group's gid; without it the daemon's own group */
};

/* A peer's credentials: SO_PEERCRED's uid and gid, SO_PEERGROUPS's supplementary groups. */
struct control_credentials {
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* borrowed; n_groups of them */
        size_t n_groups;
        bool groups_known; /* false: the kernel did not say (no SO_PEERGROUPS before Linux
                              4.13); only uid and gid count then, never more */
};

/* True for the requests that change nothing: status, history, report. */
bool control_command_is_read_only(enum control_command c);

/* True when the peer is an operator: root, the daemon's uid, or a member of operator_gid
 * (primary or supplementary group). */
bool control_access_is_operator(const struct control_access *a,
                                const struct control_credentials *who);

/* NULL when the peer may send command c; else why not (a static string, for the reply and the
 * log). Unrestricted: everyone who can connect may send everything. Restricted: read-only
 * requests to everyone, the others to operators only. An out-of-range command is refused. */
const char *control_access_check(const struct control_access *a, enum control_command c,
                                 const struct control_credentials *who);
