/* report-writer.c: each rollout's report (report.h) saved in state_dir/reports/<canary>/ when
 * the rollout ends, old ones rotated, and the report `canaryctl report` asks for. */
#pragma once

#include "canary.h"

/* Writes the report of c's rollout that started at started_usec (a just-journaled decision
 * ended it, or replaced it) to <state_dir>/reports/<canary>/<id>.json and .html, each
 * atomically, then removes the canary's reports beyond reports.keep or older than
 * reports.max_age. Reads only c's journal. A failure is logged, never returned: a report never
 * affects a decision. */
void report_write(struct canary *c, usec_t started_usec);

/* The report of canary `name`'s rollout `rollout` (its id or its start time; NULL: the latest):
 * the saved one when there is one, else one built from the journal now (a rollout still
 * running). Returns 0 and *ret_json (owned), or a negative errno and *ret_error (owned, for
 * the person asking): -ENOENT no such rollout, -EINVAL a bad name or id. */
int report_lookup(const char *state_dir, const char *name, const char *rollout, char **ret_json,
                  char **ret_error);

/* The page of c's rollout that started at started_usec under report_url (the files of
 * <state_dir>/reports served as they are): {report_url}/<canary>/<id>.html; NULL without
 * report_url. Caller owns it. */
char *report_link(const char *report_url, const char *canary, usec_t started_usec);
