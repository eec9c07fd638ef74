/* Fuzzes the control protocol codec on arbitrary bytes: request parsing (and, when a request is
 * accepted, that formatting it and parsing again gives the same request), reply parsing and the
 * status table. Nothing may crash, leak or trip a sanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/control.h"
#include "canaryd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct control_request *req)
{
        char *line = control_request_format(req);
        struct control_request again;
        char *error = NULL;
        if (control_request_parse(line, strlen(line), &again, &error) < 0)
                abort(); /* an accepted request must survive its own formatting */
        if (again.command != req->command || again.full != req->full ||
            !streq_ptr(again.name, req->name) || !streq_ptr(again.revision, req->revision) ||
            !streq_ptr(again.reason, req->reason))
                abort();
        control_request_done(&again);
        free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *)data;
        struct control_request req;
        char *error = NULL;

        if (control_request_parse(text, size, &req, &error) == 0) {
                if (error || (req.command != CONTROL_STATUS && !req.name))
                        abort();
                check_round_trip(&req);
                control_request_done(&req);
        } else {
                if (!error)
                        abort();
                free(error);
        }

        struct control_reply rep;
        error = NULL;
        if (control_reply_parse(text, size, &rep, &error) == 0) {
                if (!rep.ok && (!rep.error || rep.code < 1))
                        abort();
                control_reply_done(&rep);
        } else {
                free(error);
        }

        char *table = NULL;
        error = NULL;
        if (control_status_format_table(text, size, size % 2 == 0, &table, &error) == 0)
                free(table);
        else
                free(error);
        return 0;
}
