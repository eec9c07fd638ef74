/* canaryctl: the command-line companion of canaryd (SPEC §5, docs/canaryctl.1). One table of
 * subcommands, like tmux's cmd_entry; each parses its own options with getopt_long (options may
 * come before or after NAME), sends one request over the control socket and maps the reply to
 * the exit codes of SPEC §2: 0 done, 1 refused, 2 usage, 3 daemon unreachable, and 4 not
 * permitted (a read-only user, control.read_group). `judge` asks no daemon: its exit code is the
 * verdict (0 pass, 1 fail, 4 no data, 2 usage or input error; ctl.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canaryd/control.h"
#include "canaryd/doc-format.h"
#include "canaryd/journal.h"
#include "canaryd/report.h"
#include "canaryd/util.h"
#include "ctl.h"
#include "options.h"

#define DEFAULT_SOCKET  "/run/canaryd/control.sock"
#define CALL_TIMEOUT_MS 10000L

enum {
        OPT_REVISION = 0x100,
        OPT_REASON,
        OPT_FULL,
        OPT_ALL,
        OPT_INTERVAL,
        OPT_COUNT,
        OPT_ROLLOUT,
        OPT_NO_HEADERS,
        OPT_COMPACT,
        OPT_SOCKET,
};

/* -o: what each command may print (ctl_command.outputs is a mask of these) */
enum output {
        OUT_TABLE, /* status, history: for people (the default) */
        OUT_WIDE,  /* status: more columns, the reason in full */
        OUT_JSON,  /* the daemon's document, indented (--compact: one line) */
        OUT_YAML,  /* the same document as YAML */
        OUT_HTML,  /* report: a page (its default) */
        _OUT_MAX
};
static const char *const output_names[_OUT_MAX] = {
    [OUT_TABLE] = "table", [OUT_WIDE] = "wide", [OUT_JSON] = "json",
    [OUT_YAML] = "yaml",   [OUT_HTML] = "html",
};

struct ctl_args {
        const char *name; /* NULL when the command takes none */
        const char *revision;
        const char *reason;
        const char *rollout; /* report --rollout */
        bool full;
        enum output output;
        bool compact; /* -o json on one line */
        bool all;
        bool watch;
        bool no_headers; /* status, history: the table without its column-name lines */
        double interval; /* status --watch: seconds between refreshes */
        long count;      /* status --watch: stop after this many (0: until interrupted) */
};

struct ctl_command {
        const char *name;
        const char *usage; /* after "canaryctl [--socket PATH] " */
        const char *summary;
        int args_min, args_max; /* positional arguments (NAME) */
        const char *shortopts;
        const struct option *longopts;
        enum control_command request;          /* what is sent to the daemon */
        unsigned outputs;                      /* -o choices: bits of enum output */
        int (*run_raw)(int argc, char **argv); /* instead of the above: own parsing */
};

static const char *socket_path = DEFAULT_SOCKET;

static int run_help(int argc, char **argv);
static int run_version(int argc, char **argv);

static const struct option opts_status[] = {
    {"output", required_argument, NULL, 'o'},
    {"watch", no_argument, NULL, 'w'},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"count", required_argument, NULL, OPT_COUNT},
    {"no-headers", no_argument, NULL, OPT_NO_HEADERS},
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_history[] = {
    {"output", required_argument, NULL, 'o'},
    {"all", no_argument, NULL, OPT_ALL},
    {"no-headers", no_argument, NULL, OPT_NO_HEADERS},
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_report[] = {
    {"output", required_argument, NULL, 'o'},
    {"rollout", required_argument, NULL, OPT_ROLLOUT},
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_start[] = {
    {"revision", required_argument, NULL, OPT_REVISION},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_promote[] = {
    {"full", no_argument, NULL, OPT_FULL},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_abort[] = {
    {"reason", required_argument, NULL, OPT_REASON},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};
static const struct option opts_plain[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {0},
};

#define OUT(x)          (1u << (x))
#define STATUS_OUTPUTS  (OUT(OUT_TABLE) | OUT(OUT_WIDE) | OUT(OUT_JSON) | OUT(OUT_YAML))
#define HISTORY_OUTPUTS (OUT(OUT_TABLE) | OUT(OUT_JSON) | OUT(OUT_YAML))
#define REPORT_OUTPUTS  (OUT(OUT_HTML) | OUT(OUT_JSON) | OUT(OUT_YAML))

static const struct ctl_command commands[] = {
    {"status",
     "status [NAME] [-o table|wide|json|yaml] [--compact] [--no-headers] [--watch [--interval "
     "SECONDS] [--count N]]",
     "show every canary, or one with its metrics", 0, 1, ":ho:w", opts_status, CONTROL_STATUS,
     STATUS_OUTPUTS, NULL},
    {"start", "start NAME [--revision REV]", "start a rollout at step 1", 1, 1, ":h", opts_start,
     CONTROL_START, 0, NULL},
    {"promote", "promote NAME [--full]", "go to the next step now (--full: to 100%)", 1, 1, ":h",
     opts_promote, CONTROL_PROMOTE, 0, NULL},
    {"approve", "approve NAME", "let a rollout waiting for approval go to the next step", 1, 1,
     ":h", opts_plain, CONTROL_APPROVE, 0, NULL},
    {"abort", "abort NAME [--reason TEXT]", "roll back now", 1, 1, ":h", opts_abort, CONTROL_ABORT,
     0, NULL},
    {"pause", "pause NAME", "hold the current weight", 1, 1, ":h", opts_plain, CONTROL_PAUSE, 0,
     NULL},
    {"resume", "resume NAME", "continue a paused rollout", 1, 1, ":h", opts_plain, CONTROL_RESUME,
     0, NULL},
    {"retry", "retry NAME", "restart a rolled-back canary from step 1", 1, 1, ":h", opts_plain,
     CONTROL_RETRY, 0, NULL},
    {"history", "history NAME [--all] [-o table|json|yaml] [--compact] [--no-headers]",
     "the decision journal of the latest rollout (--all: every entry)", 1, 1, ":ho:", opts_history,
     CONTROL_HISTORY, HISTORY_OUTPUTS, NULL},
    {"report", "report NAME [--rollout ID] [-o html|json|yaml] [--compact]",
     "a rollout's report: timeline, analyses, a chart per metric (HTML, JSON or YAML)", 1, 1,
     ":ho:", opts_report, CONTROL_REPORT, REPORT_OUTPUTS, NULL},
    {"judge",
     "judge --canary FILE --baseline FILE [--judge mann_whitney|ratio|threshold] "
     "[--direction increase|decrease|either] [--confidence C] [--allowed-increase R] "
     "[--allowed-decrease R] [-o json]",
     "judge two samples offline (no daemon needed)", 0, 0, NULL, NULL, 0, 0, ctl_judge},
    {"version", "version", "print canaryctl's version", 0, 0, NULL, NULL, 0, 0, run_version},
    {"help", "help [COMMAND]", "the list of commands, or one command's usage and options", 0, 1,
     NULL, NULL, 0, 0, run_help},
};

static void print_help(FILE *f)
{
        fprintf(f,
                "usage: canaryctl [--socket PATH] [--version] [--help] COMMAND ...\n"
                "\n"
                "Controls canaryd over its control socket (default %s,\n"
                "or $CANARYCTL_SOCKET).\n"
                "\n"
                "Commands:\n",
                DEFAULT_SOCKET);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'canaryctl help COMMAND' or 'canaryctl COMMAND --help' for a command's "
                   "usage.\n"
                   "Exit status: 0 done, 1 refused, 2 usage error, 3 daemon unreachable,\n"
                   "4 not permitted (this user may only read: status, history, report).\n"
                   "judge: 0 pass, 1 fail, 4 no data (inconclusive), 2 usage or input error.\n");
}

static int usage_error(const struct ctl_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct ctl_command *cmd, const char *fmt, ...)
{
        va_list ap;
        fputs("canaryctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (cmd)
                fprintf(stderr, "usage: canaryctl [--socket PATH] %s\n", cmd->usage);
        else
                fprintf(stderr, "usage: canaryctl [--socket PATH] [--version] [--help] "
                                "COMMAND ...\n       (see canaryctl --help)\n");
        return CTL_EXIT_USAGE;
}

static const struct ctl_command *command_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

/* What `help COMMAND` says of an option: its value and what it does. command NULL: any. */
static const struct option_help {
        const char *command, *option, *value, *text;
} option_helps[] = {
    {"report", "output", "html|json|yaml",
     "a self-contained HTML page (default), or the report as JSON or YAML"},
    {"history", "output", "table|json|yaml",
     "a table for people (default), or the journal as JSON or YAML"},
    {NULL, "output", "table|wide|json|yaml",
     "a table (default), a wider one, or the daemon's document as JSON or YAML"},
    {NULL, "compact", NULL, "-o json on one line (default: indented by two spaces)"},
    {NULL, "socket", "PATH", "the control socket (as --socket before the command)"},
    {NULL, "watch", NULL, "show the table again every --interval seconds"},
    {NULL, "interval", "SECONDS", "--watch: seconds between refreshes (default 2, 0.1..3600)"},
    {NULL, "count", "N", "--watch: stop after N refreshes"},
    {NULL, "all", NULL, "every journal entry kept, not only the latest rollout's"},
    {NULL, "rollout", "ID", "that rollout (its id or start time), not the latest"},
    {NULL, "revision", "REV", "the revision to record (for example from CD)"},
    {NULL, "full", NULL, "go to 100% now, not only to the next step"},
    {NULL, "reason", "TEXT", "why, recorded with the abort"},
    {"history", "no-headers", NULL, "only the entries: no line naming the rollout above them"},
    {NULL, "no-headers", NULL, "the table without its column names (for scripts)"},
    {NULL, "help", NULL, "print this help and exit"},
};

static const struct option_help *option_help_find(const char *command, const char *option)
{
        for (size_t i = 0; i < ELEMENTSOF(option_helps); i++) {
                const struct option_help *h = &option_helps[i];
                if (strcmp(h->option, option) == 0 &&
                    (!h->command || strcmp(h->command, command) == 0))
                        return h;
        }
        return NULL;
}

/* A command's usage, what it does and its options (those of its getopt table). */
static void print_command_help(const struct ctl_command *cmd)
{
        printf("usage: canaryctl [--socket PATH] %s\n  %s\n", cmd->usage, cmd->summary);
        if (!cmd->longopts)
                return;
        printf("\noptions:\n");
        for (const struct option *o = cmd->longopts; o->name; o++) {
                const struct option_help *h = option_help_find(cmd->name, o->name);
                char shortopt[8] = "", left[64];
                if (o->val > 0 && o->val < 0x100)
                        snprintf(shortopt, sizeof(shortopt), "-%c, ", o->val);
                snprintf(left, sizeof(left), "%4s--%s%s%s", shortopt, o->name,
                         h && h->value ? " " : "", h && h->value ? h->value : "");
                printf("  %-34s %s\n", left, h ? h->text : "");
        }
}

/* `canaryctl help [COMMAND]`: the overall usage, or one command's. */
static int run_help(int argc, char **argv)
{
        const struct ctl_command *self = command_find(argv[0]);
        if (argc > 2)
                return usage_error(self, "unexpected argument '%s'", argv[2]);
        if (argc < 2) {
                print_help(stdout);
                return CTL_EXIT_OK;
        }
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                print_command_help(self);
                return CTL_EXIT_OK;
        }
        const struct ctl_command *cmd = command_find(argv[1]);
        if (!cmd)
                return usage_error(self, "help: unknown command '%s'", argv[1]);
        if (cmd->run_raw && cmd->run_raw != run_help && cmd->run_raw != run_version) {
                char help[] = "--help";
                char *sub[] = {argv[1], help, NULL};
                return cmd->run_raw(2, sub);
        }
        print_command_help(cmd);
        return CTL_EXIT_OK;
}

/* `canaryctl version`: the same line as --version. */
static int run_version(int argc, char **argv)
{
        const struct ctl_command *self = command_find(argv[0]);
        if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                print_command_help(self);
                return CTL_EXIT_OK;
        }
        if (argc > 1)
                return usage_error(self, "unexpected argument '%s'", argv[1]);
        printf("canaryctl %s\n", CANARYD_VERSION);
        return CTL_EXIT_OK;
}

static int unreachable(int r)
{
        switch (-r) {
        case ENOENT:
                fprintf(stderr, "canaryctl: canaryd is not running: no socket at %s\n",
                        socket_path);
                break;
        case ECONNREFUSED:
                fprintf(stderr, "canaryctl: canaryd is not listening on %s\n", socket_path);
                break;
        case EACCES:
        case EPERM:
                fprintf(stderr,
                        "canaryctl: permission denied on %s (is this user in canaryd's "
                        "group?)\n",
                        socket_path);
                break;
        case ETIMEDOUT:
                fprintf(stderr, "canaryctl: canaryd on %s did not answer within %ld s\n",
                        socket_path, CALL_TIMEOUT_MS / 1000);
                break;
        case EPROTO:
                fprintf(stderr, "canaryctl: canaryd on %s closed the connection without a reply\n",
                        socket_path);
                break;
        default:
                fprintf(stderr, "canaryctl: cannot talk to canaryd on %s: %s\n", socket_path,
                        strerror(-r));
                break;
        }
        return CTL_EXIT_UNREACHABLE;
}

/* -o json, -o yaml: the daemon's document itself, printed for people (--compact: as sent). */
static int print_document(const char *json, const struct ctl_args *a)
{
        if (a->output == OUT_JSON && a->compact) {
                puts(json);
                return CTL_EXIT_OK;
        }
        char *text = NULL, *error = NULL;
        int r = a->output == OUT_YAML ? doc_format_yaml(json, strlen(json), &text, &error)
                                      : doc_format_json_indented(json, strlen(json), &text, &error);
        if (r < 0) {
                fprintf(stderr, "canaryctl: invalid document from canaryd: %s\n", error);
                free(error);
                return CTL_EXIT_REFUSED;
        }
        fputs(text, stdout);
        free(text);
        return CTL_EXIT_OK;
}

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int print_status(const char *status_json, const struct ctl_args *a)
{
        if (!status_json) {
                fprintf(stderr, "canaryctl: canaryd's reply holds no status\n");
                return CTL_EXIT_REFUSED;
        }
        if (a->output == OUT_JSON || a->output == OUT_YAML)
                return print_document(status_json, a);
        char *table = NULL, *error = NULL;
        struct status_view view = {
            .details = a->name != NULL,
            .headers = !a->no_headers,
            .wide = a->output == OUT_WIDE,
            .now_usec = now_usec(),
        };
        if (control_status_format(status_json, strlen(status_json), &view, &table, &error) < 0) {
                fprintf(stderr, "canaryctl: invalid status from canaryd: %s\n", error);
                free(error);
                return CTL_EXIT_REFUSED;
        }
        fputs(table, stdout);
        free(table);
        return CTL_EXIT_OK;
}

static int print_history(const char *history_json, const struct ctl_args *a)
{
        if (!history_json) {
                fprintf(stderr, "canaryctl: canaryd's reply holds no history\n");
                return CTL_EXIT_REFUSED;
        }
        if (a->output == OUT_JSON || a->output == OUT_YAML)
                return print_document(history_json, a);
        char *text = NULL, *error = NULL;
        if (journal_history_format_headers(history_json, strlen(history_json), !a->no_headers,
                                           &text, &error) < 0) {
                fprintf(stderr, "canaryctl: invalid history from canaryd: %s\n", error);
                free(error);
                return CTL_EXIT_REFUSED;
        }
        fputs(text, stdout);
        free(text);
        return CTL_EXIT_OK;
}

static int print_report(const char *report_json, const struct ctl_args *a)
{
        if (!report_json) {
                fprintf(stderr, "canaryctl: canaryd's reply holds no report\n");
                return CTL_EXIT_REFUSED;
        }
        if (a->output == OUT_JSON || a->output == OUT_YAML)
                return print_document(report_json, a);
        char *page = NULL;
        if (report_render_html(report_json, strlen(report_json), &page) < 0) {
                fprintf(stderr, "canaryctl: invalid report from canaryd\n");
                return CTL_EXIT_REFUSED;
        }
        fputs(page, stdout);
        free(page);
        return CTL_EXIT_OK;
}

static int run_request(const struct ctl_command *cmd, const struct ctl_args *a)
{
        struct control_request req = {
            .command = cmd->request,
            .name = (char *)(uintptr_t)a->name,
            .revision = (char *)(uintptr_t)a->revision,
            .reason = (char *)(uintptr_t)a->reason,
            .full = a->full,
            .all = a->all,
            .rollout = (char *)(uintptr_t)a->rollout,
        };
        char *line = control_request_format(&req);
        size_t len = strlen(line);
        free(line);
        if (len > CONTROL_LINE_MAX)
                return usage_error(cmd, "%s", "request too long (is --reason very long?)");

        char *reply_line = NULL;
        int r = control_call(socket_path, &req, CALL_TIMEOUT_MS, &reply_line);
        if (r < 0)
                return unreachable(r);

        struct control_reply rep;
        char *error = NULL;
        r = control_reply_parse(reply_line, strlen(reply_line), &rep, &error);
        free(reply_line);
        if (r < 0) {
                fprintf(stderr, "canaryctl: invalid reply from canaryd on %s: %s\n", socket_path,
                        error);
                free(error);
                return CTL_EXIT_REFUSED;
        }
        int ret = CTL_EXIT_OK;
        if (!rep.ok) {
                fprintf(stderr, "canaryctl: %s\n", rep.error);
                ret = rep.code == CTL_EXIT_USAGE    ? CTL_EXIT_USAGE
                      : rep.code == CTL_EXIT_DENIED ? CTL_EXIT_DENIED
                                                    : CTL_EXIT_REFUSED;
        } else if (cmd->request == CONTROL_STATUS) {
                ret = print_status(rep.status_json, a);
        } else if (cmd->request == CONTROL_HISTORY) {
                ret = print_history(rep.history_json, a);
        } else if (cmd->request == CONTROL_REPORT) {
                ret = print_report(rep.report_json, a);
        } else if (rep.message) {
                puts(rep.message);
        }
        control_reply_done(&rep);
        return ret;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
        interrupted = 1;
}

/* `status --watch`: the table again every interval, until interrupted or --count refreshes.
 * On a terminal the screen is cleared first; otherwise refreshes are separated by a line with
 * the time, so a log of it stays readable. An unreachable daemon is reported and retried. */
static int run_watch(const struct ctl_command *cmd, const struct ctl_args *a)
{
        bool tty = isatty(STDOUT_FILENO);
        struct sigaction sa = {.sa_handler = on_interrupt};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        int ret = CTL_EXIT_OK;
        for (long n = 0; !interrupted && (a->count == 0 || n < a->count); n++) {
                if (n > 0) {
                        struct timespec ts = {
                            .tv_sec = (time_t)a->interval,
                            .tv_nsec = (long)((a->interval - (double)(time_t)a->interval) * 1e9)};
                        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
                                ;
                        if (interrupted)
                                break;
                }
                char when[64];
                time_t now = time(NULL);
                struct tm tm;
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
                if (tty)
                        fputs("\033[H\033[2J", stdout);
                else if (n > 0)
                        putchar('\n');
                printf("Every %gs: canaryctl status%s%s    %s\n\n", a->interval, a->name ? " " : "",
                       a->name ? a->name : "", when);
                fflush(stdout);
                ret = run_request(cmd, a);
                fflush(stdout);
                if (ret == CTL_EXIT_USAGE)
                        break;
        }
        return ret == CTL_EXIT_USAGE ? ret : (interrupted ? CTL_EXIT_OK : ret);
}

/* What a command prints without -o: report a page, the others a table. */
static enum output output_default(const struct ctl_command *cmd)
{
        return cmd->outputs & OUT(OUT_HTML) ? OUT_HTML : OUT_TABLE;
}

static int output_parse(const struct ctl_command *cmd, const char *name, enum output *ret)
{
        struct buf choices = {0};
        for (int o = 0; o < _OUT_MAX; o++) {
                if (!(cmd->outputs & OUT(o)))
                        continue;
                if (strcmp(name, output_names[o]) == 0) {
                        buf_free(&choices);
                        *ret = (enum output)o;
                        return 0;
                }
                buf_printf(&choices, "%s%s", choices.len ? ", " : "", output_names[o]);
        }
        usage_error(cmd, "unknown output format '%s' (expected %s)", name,
                    choices.data ? choices.data : "none");
        buf_free(&choices);
        return -EINVAL;
}

static int run_command(const struct ctl_command *cmd, int argc, char **argv)
{
        struct ctl_args a = {.interval = 2, .output = output_default(cmd)};
        int c;
        char *end;

        const char *inexact = options_not_exact(argc, argv, cmd->longopts, false);
        if (inexact)
                return usage_error(cmd, "unknown option '%s' (long options are written in full)",
                                   inexact);
        optind = 0; /* GNU: full re-initialisation for this argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, cmd->shortopts, cmd->longopts, NULL)) != -1) {
                switch (c) {
                case 'h':
                        print_command_help(cmd);
                        return CTL_EXIT_OK;
                case 'o':
                        if (output_parse(cmd, optarg, &a.output) < 0)
                                return CTL_EXIT_USAGE;
                        break;
                case OPT_COMPACT:
                        a.compact = true;
                        break;
                case OPT_SOCKET:
                        if (!optarg[0])
                                return usage_error(cmd, "%s", "--socket must not be empty");
                        socket_path = optarg;
                        break;
                case OPT_ROLLOUT:
                        a.rollout = optarg;
                        break;
                case OPT_REVISION:
                        a.revision = optarg;
                        break;
                case OPT_REASON:
                        a.reason = optarg;
                        break;
                case OPT_FULL:
                        a.full = true;
                        break;
                case OPT_ALL:
                        a.all = true;
                        break;
                case OPT_NO_HEADERS:
                        a.no_headers = true;
                        break;
                case 'w':
                        a.watch = true;
                        break;
                case OPT_INTERVAL:
                        a.interval = strtod(optarg, &end);
                        if (end == optarg || *end || !(a.interval >= 0.1 && a.interval <= 3600))
                                return usage_error(cmd,
                                                   "--interval must be a number of seconds in "
                                                   "0.1..3600, not '%s'",
                                                   optarg);
                        break;
                case OPT_COUNT:
                        a.count = strtol(optarg, &end, 10);
                        if (end == optarg || *end || a.count < 1)
                                return usage_error(cmd,
                                                   "--count must be a positive integer, not "
                                                   "'%s'",
                                                   optarg);
                        break;
                case ':':
                        return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
                default:
                        if (optopt) {
                                char opt[3] = {'-', (char)optopt, '\0'};
                                return usage_error(cmd, "unknown option '%s'", opt);
                        }
                        return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
                }
        }
        int nargs = argc - optind;
        if (nargs < cmd->args_min)
                return usage_error(cmd, "%s: missing canary NAME", cmd->name);
        if (nargs > cmd->args_max)
                return usage_error(cmd, "unexpected argument '%s'", argv[optind + cmd->args_max]);
        if (nargs > 0) {
                a.name = argv[optind];
                if (!a.name[0])
                        return usage_error(cmd, "%s", "NAME must not be empty");
        }
        if (a.revision && !a.revision[0])
                return usage_error(cmd, "%s", "--revision must not be empty");
        if (a.reason && !a.reason[0])
                return usage_error(cmd, "%s", "--reason must not be empty");
        if (a.rollout && !a.rollout[0])
                return usage_error(cmd, "%s", "--rollout must not be empty");
        if (a.watch && a.output != OUT_TABLE && a.output != OUT_WIDE)
                return usage_error(cmd, "--watch shows the table; it cannot be used with -o %s",
                                   output_names[a.output]);
        if (a.compact && a.output != OUT_JSON)
                return usage_error(cmd, "%s", "--compact goes with -o json");
        if (a.watch)
                return run_watch(cmd, &a);
        return run_request(cmd, &a);
}

int main(int argc, char **argv)
{
        static const struct option global[] = {
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        const char *env = getenv("CANARYCTL_SOCKET");
        if (env && env[0])
                socket_path = env;

        int c;
        const char *inexact = options_not_exact(argc, argv, global, true);
        if (inexact)
                return usage_error(NULL, "unknown option '%s' (long options are written in full)",
                                   inexact);
        opterr = 0;
        /* '+': stop at the command; its options are its own. */
        while ((c = getopt_long(argc, argv, "+:hV", global, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (!optarg[0])
                                return usage_error(NULL, "%s", "--socket must not be empty");
                        socket_path = optarg;
                        break;
                case 'h':
                        print_help(stdout);
                        return CTL_EXIT_OK;
                case 'V':
                        printf("canaryctl %s\n", CANARYD_VERSION);
                        return CTL_EXIT_OK;
                case ':':
                        return usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
                default:
                        return usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return usage_error(NULL, "%s", "no command given");

        const struct ctl_command *cmd = command_find(argv[optind]);
        if (!cmd)
                return usage_error(NULL, "unknown command '%s'", argv[optind]);
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        int ret =
            cmd->run_raw ? cmd->run_raw(sub_argc, sub_argv) : run_command(cmd, sub_argc, sub_argv);
        if (fflush(stdout) != 0 && ret == CTL_EXIT_OK)
                ret = CTL_EXIT_REFUSED;
        return ret;
}
