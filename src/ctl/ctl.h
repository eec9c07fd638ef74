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

/* `canaryctl judge` answers a CI pipeline by its exit code: the verdict. 2 stays the usage
 * error (also an unreadable file or a bad line: no verdict); 4 means no data here, not
 * CTL_EXIT_DENIED (judge asks no daemon). */
enum {
        CTL_JUDGE_PASS = 0,   /* the canary passed */
        CTL_JUDGE_FAIL = 1,   /* the canary failed (High or Low in the regression direction) */
        CTL_JUDGE_NODATA = 4, /* too few values to judge: inconclusive */
};

/* `canaryctl judge ...`: the offline judge (src/ctl/judge.c). argv[0] is "judge"; the global
 * options are already consumed. Prints its own output and errors; returns the exit code. */
int ctl_judge(int argc, char **argv);
