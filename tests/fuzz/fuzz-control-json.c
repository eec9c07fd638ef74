/* Fuzzes the control protocol codec on arbitrary bytes: request parsing (and, when a request is
 * accepted, that formatting it and parsing again gives the same request), reply parsing, the
 * status table in every view canaryctl asks for (the last byte picks details, headers, wide and
 * ages at a fixed time), and the documents printed again as indented JSON and YAML (the indented
 * JSON must parse back to the same tree; YAML only when the JSON is one). Nothing may crash,
 * leak or trip a sanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/control.h"
#include "canaryd/doc-format.h"
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

/* A formatter's contract: 0 with its output and no error, or < 0 with an error and no output. */
static void expect_outcome(int r, const char *output, const char *error)
{
        if (r == 0 ? (!output || error) : (!error || output))
                abort();
}

/* Printed again for people, a document must read back as the same tree (printed unformatted by
 * cJSON, member order kept); YAML is written from the same parse, so only a JSON document can. */
static void check_documents(const char *text, size_t size)
{
        char *json = NULL, *yaml = NULL, *error = NULL;
        int rj = doc_format_json_indented(text, size, &json, &error);
        expect_outcome(rj, json, error);
        if (rj == 0) {
                cJSON *a = cJSON_ParseWithLength(text, size), *b = cJSON_Parse(json);
                char *pa = a ? cJSON_PrintUnformatted(a) : NULL;
                char *pb = b ? cJSON_PrintUnformatted(b) : NULL;
                if (!pa || !pb || strcmp(pa, pb) != 0)
                        abort();
                cJSON_free(pa);
                cJSON_free(pb);
                cJSON_Delete(a);
                cJSON_Delete(b);
        }
        free(json);
        free(error);
        error = NULL;
        int ry = doc_format_yaml(text, size, &yaml, &error);
        expect_outcome(ry, yaml, error);
        if (ry == 0 && rj < 0)
                abort(); /* YAML of a document the JSON printer refused */
        free(yaml);
        free(error);
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

        uint8_t flags = size ? data[size - 1] : 0;
        struct status_view view = {
            .details = flags & 1,
            .headers = flags & 2,
            .wide = flags & 4,
            .now_usec = (flags & 8) ? 1796619900000000ULL : 0, /* 2026-12-07T05:05:00Z */
        };
        char *table = NULL;
        error = NULL;
        int rs = control_status_format(text, size, &view, &table, &error);
        expect_outcome(rs, table, error);
        if (rs == 0 && *table && table[strlen(table) - 1] != '\n')
                abort(); /* lines, or nothing (no headers, no canaries) */
        free(table);
        free(error);

        check_documents(text, size);
        return 0;
}
