/* Fuzzes the decision journal reader (journal_history_select, journal_history_format): the
 * journal files in state_dir are read back for `canaryctl history`, and may have been cut by a
 * crash or edited by hand. The input is the journal text. Invariants: no crash or sanitizer
 * report; selection never fails for a canary name and always yields a document that the
 * formatter accepts; the formatted text holds no control character but newlines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/journal-json.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *text, size_t len, bool all)
{
        char *json = NULL, *out = NULL, *err = NULL;
        CHECK(journal_history_select(text, len, "checkout", all, &json) == 0);
        CHECK(json != NULL);
        CHECK(journal_history_format(json, strlen(json), &out, &err) == 0);
        for (const char *p = out; *p; p++)
                CHECK(*p == '\n' || (unsigned char)*p >= 0x20);
        free(json);
        free(out);
        free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, so that ASan catches any read past size. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        if (size)
                memcpy(text, data, size);
        check(text, size, false);
        check(text, size, true);
        free(text);
        return 0;
}
