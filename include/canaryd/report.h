/* The report of one rollout (SPEC §10, docs/reports.md): its timeline (every transition, who and
 * why), every analysis with each metric's canary and baseline values, verdict and (sequential
 * judge) evidence, and a chart per metric of both arms over the rollout with the weight changes
 * marked. Built from the decision journal alone, as JSON, and rendered from that JSON as one
 * self-contained HTML page (inline CSS and SVG; no script, no external URL).
 *
 * This is the codec (src/codec/report.c, report-html.c and report-chart.c; pure: buffers in,
 * buffers out); the daemon writes the files (src/daemon/report-writer.c) and serves
 * `canaryctl report`.
 *
 * Bounds: a report keeps the latest REPORT_ANALYSES_MAX analyses and the latest
 * REPORT_TIMELINE_MAX timeline entries (saying how many earlier ones were omitted), at most
 * REPORT_METRICS_MAX metrics per analysis (and charts), and at most REPORT_TEXT_MAX bytes of any
 * text (reason, detail), so a report's JSON stays under 4 MiB and its HTML under 8 MiB whatever
 * the journal holds (a rollout of ten steps makes tens of KiB). */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>

#define REPORT_ANALYSES_MAX 200
#define REPORT_TIMELINE_MAX 200
#define REPORT_METRICS_MAX  16
#define REPORT_TEXT_MAX     200
/* A report id holds at most this many bytes, NUL included. */
#define REPORT_ID_MAX 48

/* The id of a rollout, as its files are named: its "rollout" (the RFC 3339 start time as
 * journaled, "2026-11-22T04:02:31.907443Z") with '-' and ':' left out
 * ("20261122T040231.907443Z"). Accepts either form (so `--rollout` takes both). Returns 0 and
 * writes buf (REPORT_ID_MAX bytes), or -EINVAL when s is empty, too long, or holds anything
 * but ASCII letters, digits, '.', '-' and ':'. */
int report_id(const char *s, char buf[static REPORT_ID_MAX]);

/* Builds the report of one rollout from a history document (journal-json.h:
 * journal_history_select() with all = true, so that any rollout still in the journal can be
 * chosen). rollout: its "rollout" or id (report_id()); NULL or "": the latest. Returns 0 and
 * *ret_json (owned): {"canary","rollout","id","revision","started","ended","outcome",
 * "finished","timeline":[...],"timeline_omitted","analyses":[...],"analyses_omitted",
 * "weight_changes":[{"at","from","to","event"}],"metrics":[names],"skipped"}; -ENOENT when the
 * history holds no such rollout; -EINVAL when it is not a history document. */
int report_build_json(const char *history_json, size_t len, const char *rollout, char **ret_json);

/* Renders a report (the JSON above) as one self-contained HTML page (UTF-8). Every string is
 * escaped; the page carries a Content-Security-Policy that allows no script and no fetch.
 * Returns 0 and *ret (owned), or -EINVAL when json is not a report. */
int report_render_html(const char *json, size_t len, char **ret);
