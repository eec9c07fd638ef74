/* Who may send which control request: read-only requests to everyone who can connect, the
 * others, once control.read_group splits the two, to operators only. Pure: the credentials are
 * the ones the kernel recorded at connect time (SO_PEERCRED, SO_PEERGROUPS), passed in. */
#include <stddef.h>

#include "canaryd/control-access.h"

bool control_command_is_read_only(enum control_command c)
{
        /* A switch without default: a new command must be classified here (-Wswitch). */
        switch (c) {
        case CONTROL_STATUS:
        case CONTROL_HISTORY:
        case CONTROL_REPORT:
                return true;
        case CONTROL_START:
        case CONTROL_PROMOTE:
        case CONTROL_ABORT:
        case CONTROL_PAUSE:
        case CONTROL_RESUME:
        case CONTROL_RETRY:
        case CONTROL_APPROVE:
        case _CONTROL_COMMAND_MAX:
                return false;
        }
        return false;
}

bool control_access_is_operator(const struct control_access *a,
                                const struct control_credentials *who)
{
        if (who->uid == 0 || who->uid == a->daemon_uid || who->gid == a->operator_gid)
                return true;
        if (!who->groups_known)
                return false;
        for (size_t i = 0; i < who->n_groups; i++)
                if (who->groups[i] == a->operator_gid)
                        return true;
        return false;
}

const char *control_access_check(const struct control_access *a, enum control_command c,
                                 const struct control_credentials *who)
{
        if ((unsigned)c >= _CONTROL_COMMAND_MAX)
                return "unknown command";
        if (!a->restricted || control_command_is_read_only(c))
                return NULL;
        if (control_access_is_operator(a, who))
                return NULL;
        return "permission denied: read-only access (control.read_group); this command needs "
               "root, the daemon's user or a member of control.group";
}
