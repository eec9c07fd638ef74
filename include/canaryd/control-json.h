/* The control protocol between canaryctl and canaryd (docs/control-protocol.md): one JSON
 * request line, one JSON reply line, over a unix stream socket. This is the codec
 * (src/codec/control-json.c, pure); the server and the client are canaryd/control.h. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canaryd/util.h"

/* A request line holds at most CONTROL_LINE_MAX bytes, not counting its newline. */
#define CONTROL_LINE_MAX (64 * 1024)
/* The client reads reply lines of at most this many bytes (status of many canaries). */
#define CONTROL_REPLY_MAX (16 * 1024 * 1024)
/* The server drops a connection that has not completed within this time. */
#define CONTROL_TIMEOUT_USEC (5 * 1000000ULL)

enum control_command {
        CONTROL_STATUS,
        CONTROL_START,
        CONTROL_PROMOTE,
        CONTROL_ABORT,
        CONTROL_PAUSE,
        CONTROL_RESUME,
        CONTROL_RETRY,
        CONTROL_HISTORY,
        CONTROL_APPROVE, /* a rollout waiting for approval goes on (SPEC §9) */
        CONTROL_REPORT,  /* a rollout's report (SPEC §10, docs/reports.md) */
        _CONTROL_COMMAND_MAX
};
const char *control_command_to_string(enum control_command c); /* NULL when out of range */
/* Returns the command, or -EINVAL for an unknown name. */
int control_command_from_string(const char *s);

struct control_request {
        enum control_command command;
        char *name;     /* canary; NULL for status of all */
        char *revision; /* start */
        char *reason;   /* abort */
        bool full;      /* promote */
        bool all;       /* history: every rollout in the journal, not only the latest */
        char *rollout;  /* report: which rollout (its start time or report id); NULL: latest */
};
void control_request_done(struct control_request *r);

/* Parses one request line. Returns 0 or -EINVAL with *ret_error (owned). */
int control_request_parse(const char *line, size_t len, struct control_request *ret,
                          char **ret_error);
/* Formats a request as one line without the newline. Caller owns it. */
char *control_request_format(const struct control_request *r);

/* The code of a refusal for want of permission (control-access.h): canaryctl exits 4. */
#define CONTROL_CODE_DENIED 4

/* Reply lines. ok: {"ok":true,"message":...,"status":<data_json>}; refused:
 * {"ok":false,"code":N,"error":"..."} where code is canaryctl's exit code (1 refused,
 * 2 usage, 4 not permitted). data_json may be NULL. Caller owns the results. */
char *control_reply_ok(const char *message, const char *data_json);
/* {"ok":true,"message":...,"history":<history_json>}: the reply to `history`; history_json is
 * an object (journal.h: journal_history_select) or NULL. */
char *control_reply_history(const char *message, const char *history_json);
/* {"ok":true,"message":...,"report":<report_json>}: the reply to `report` (report.h). */
char *control_reply_report(const char *message, const char *report_json);
char *control_reply_error(int code, const char *error);

/* A parsed reply line (client side). Strings are owned by the struct. */
struct control_reply {
        bool ok;
        int code;           /* 0 when ok; 1 refused, 2 malformed request, 4 not permitted */
        char *message;      /* ok: may be NULL */
        char *error;        /* !ok: never NULL */
        char *status_json;  /* ok: the "status" member, unformatted; NULL when absent or null */
        char *history_json; /* ok: the "history" member, unformatted; NULL when absent or null */
        char *report_json;  /* ok: the "report" member, unformatted; NULL when absent or null */
};
void control_reply_done(struct control_reply *r);
/* Parses one reply line. Returns 0 or -EINVAL with *ret_error (owned). */
int control_reply_parse(const char *line, size_t len, struct control_reply *ret, char **ret_error);

/* How canaryctl shows SPEC §5's status document ({"canaries":[...]}). */
struct status_view {
        bool details;    /* status NAME: each canary's reason, routes, approval and metrics below */
        bool headers;    /* false (--no-headers, for scripts): no column-name lines, and columns
                            as wide as their values */
        bool wide;       /* -o wide: more columns, the reason in full */
        usec_t now_usec; /* wall clock: times as ages ("5m", kubectl's); 0: as sent */
};

/* Renders the status document as a table for people: columns NAME NAMESPACE PHASE STEP WEIGHT
 * FAILED INCONCL REVISION LAST-ANALYSIS AGE REASON; wide: NAME NAMESPACE PHASE STEP WEIGHT
 * OBSERVED FAILED INCONCL REVISION LAST-ANALYSIS AGE STARTED REASON. PHASE reads "Progressing
 * (awaiting approval)" while a rollout waits for approval; WEIGHT is the step's weight, followed
 * by "(observed N%)" when the routes hold another (wide: OBSERVED); AGE is the time since the
 * last transition (updated_at), LAST-ANALYSIS the result and its age, REASON why (cut short
 * unless wide). With details, each canary's reason, routes, wait for approval and last-analysis
 * metrics (name, judge, canary, baseline, result, detail) below it.
 * Missing or mistyped fields show as "-"; control characters are replaced by '?'. Returns 0 and
 * the text (owned; lines ending with a newline, or "" without headers and canaries), or -EINVAL
 * with *ret_error (owned). Pure. */
int control_status_format(const char *json, size_t len, const struct status_view *view, char **ret,
                          char **ret_error);
