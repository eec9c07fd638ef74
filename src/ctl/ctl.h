/* canaryctl's internal interface: exit codes (SPEC §2) and the subcommands implemented outside
 * canaryctl.c. Not installed; only src/ctl includes it. */
#pragma once

enum {
        CTL_EXIT_OK = 0,          /* done */
        CTL_EXIT_REFUSED = 1,     /* the daemon refused; reason on stderr */
        CTL_EXIT_USAGE = 2,       /* bad flags or arguments; usage on stderr */
        CTL_EXIT_UNREACHABLE = 3, /* no daemon on the socket, or no answer in time */
        CTL_EXIT_DENIED = 4,      /* the daemon refused: this user may only read */
};

/* `canaryctl judge ...`: the offline judge (src/ctl/judge.c). argv[0] is "judge"; the global
 * options are already consumed. Prints its own output and errors; returns the exit code. */
int ctl_judge(int argc, char **argv);
