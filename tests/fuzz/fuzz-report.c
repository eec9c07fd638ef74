/* Fuzzes the report of a rollout (report.h): report_build_json on the history of journal text
 * (the journal may have been cut by a crash or edited by hand), for the latest rollout and for
 * one named, then report_render_html on the report; and report_render_html on the input itself
 * (a report read back from state_dir). Invariants: no crash or sanitizer report; the build
 * succeeds or says there is no such rollout; a built report is valid JSON within its bounds and
 * always renders; every '<' of a page is one of the renderer's own elements (so no script or
 * reference outside the page, whatever the strings were); the page stays within its size
 * bound. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/journal-json.h"
#include "canaryd/report.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every '<' of the page opens or closes one of the renderer's own elements: text from the input
 * never becomes markup (no script, no img, no link, whatever the strings held). */
static void check_page(const char *html)
{
        static const char *const tags[] = {
            "!DOCTYPE", "html",  "head",  "meta",  "title",    "style",  "body", "h1",
            "h2",       "h3",    "dl",    "dt",    "dd",       "b",      "p",    "br",
            "span",     "table", "thead", "tbody", "tr",       "th",     "td",   "svg",
            "rect",     "line",  "text",  "g",     "polyline", "circle",
        };
        CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
        CHECK(strlen(html) < 8U * 1024 * 1024);
        for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
                const char *name = p + 1 + (p[1] == '/');
                size_t n =
                    strspn(name, "!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
                bool known = false;
                for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
                        known = known || (strlen(tags[i]) == n && strncmp(tags[i], name, n) == 0);
                if (!known)
                        fprintf(stderr, "unexpected markup: %.40s\n", p);
                CHECK(known);
        }
}

static void check_build(const char *history, const char *rollout)
{
        char *json = NULL, *html = NULL;
        int r = report_build_json(history, strlen(history), rollout, &json);
        CHECK(r == 0 || r == -ENOENT);
        if (r < 0)
                return;
        cJSON *o = cJSON_Parse(json);
        CHECK(cJSON_IsObject(o));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "analyses")) <= REPORT_ANALYSES_MAX);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "timeline")) <= REPORT_TIMELINE_MAX);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "metrics")) <= REPORT_METRICS_MAX);
        char id[REPORT_ID_MAX];
        const cJSON *rid = cJSON_GetObjectItem(o, "id");
        CHECK(cJSON_IsString(rid) && report_id(rid->valuestring, id) == 0 &&
              strcmp(id, rid->valuestring) == 0);
        cJSON_Delete(o);
        CHECK(report_render_html(json, strlen(json), &html) == 0);
        check_page(html);
        free(html);
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, so that ASan catches any read past size. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        if (size)
                memcpy(text, data, size);
        char *history = NULL;
        CHECK(journal_history_select(text, size, "checkout", true, &history) == 0);
        check_build(history, NULL);
        check_build(history, "2023-11-14T22:30:00.000000Z");
        free(history);

        char *html = NULL;
        if (report_render_html(text, size, &html) == 0) {
                check_page(html);
                free(html);
        }
        free(text);
        return 0;
}
