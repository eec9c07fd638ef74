/* Each rollout's report on disk (docs/reports.md): when a decision ends a rollout (promoted,
 * rolled back, aborted) or a new rollout replaces one still running, the daemon reads that
 * canary's journal, builds the report (report.h) and writes <id>.json and <id>.html to
 * state_dir/reports/<canary>/, each atomically (a temporary file renamed over it: no reader
 * ever sees half a file). Then the canary's old reports are removed: beyond reports.keep, or
 * older than reports.max_age. Plain blocking syscalls, as for the journal: this happens once per
 * rollout and reads only the lines of that rollout from one canary's journal, so 10,000 canaries
 * cost nothing between their rollouts' ends. The files are not fsync'd: a report is derived from
 * the journal, and an fsync per file (about 10 ms each on a disk) would stall the event loop of
 * a large fleet whose rollouts end together; one a power loss empties is refused when read, and
 * the report is built from the journal again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "canaryd/clock.h"
#include "canaryd/files.h"
#include "canaryd/journal.h"
#include "canaryd/report.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"
#include "report-writer.h"
#include "status.h"

/* A saved report larger than this is refused (it cannot be one of ours: report.h's bounds). */
#define REPORT_FILE_MAX (16U * 1024U * 1024U)

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* <dir>/<name> replaced whole by text: a crash leaves the old file or the new one. */
static int write_atomic(const char *dir, const char *name, const char *text)
{
        char *path = xasprintf("%s/%s", dir, name);
        char *tmp = xasprintf("%s/.%s.tmp", dir, name);
        int r = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        r = write_all(fd, text, strlen(text));
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
out:
        free(tmp);
        free(path);
        return r;
}

static bool name_ok(const char *name)
{
        return name && *name && name[0] != '.' && !strchr(name, '/');
}

static char *reports_dir(const char *state_dir, const char *canary)
{
        return xasprintf("%s/reports/%s", state_dir, canary);
}

struct saved {
        char id[REPORT_ID_MAX];
        usec_t mtime_usec;
};

static int saved_newest_first(const void *a, const void *b)
{
        return -strcmp(((const struct saved *)a)->id, ((const struct saved *)b)->id);
}

/* The ids of the reports in dir (from their .json files), newest first. Owned; *ret_n. */
static struct saved *saved_list(const char *dir, size_t *ret_n)
{
        DIR *d = opendir(dir);
        struct saved *v = NULL;
        size_t n = 0, cap = 0;

        *ret_n = 0;
        if (!d)
                return NULL;
        for (struct dirent *e; (e = readdir(d));) {
                size_t l = strlen(e->d_name);
                char id[REPORT_ID_MAX];
                if (l <= 5 || l - 5 >= REPORT_ID_MAX || e->d_name[0] == '.' ||
                    strcmp(e->d_name + l - 5, ".json") != 0)
                        continue;
                memcpy(id, e->d_name, l - 5);
                id[l - 5] = '\0';
                char norm[REPORT_ID_MAX];
                if (report_id(id, norm) < 0 || strcmp(norm, id) != 0)
                        continue; /* not a report of ours */
                struct stat st;
                if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 32;
                        v = xrealloc(v, cap * sizeof(*v));
                }
                memcpy(v[n].id, id, l - 4);
                v[n].mtime_usec =
                    (usec_t)st.st_mtim.tv_sec * USEC_PER_SEC + (usec_t)st.st_mtim.tv_nsec / 1000;
                n++;
        }
        closedir(d);
        if (n > 1)
                qsort(v, n, sizeof(*v), saved_newest_first);
        *ret_n = n;
        return v;
}

/* Removes the reports beyond keep (the newest are kept) and those older than max_age (0: no
 * limit); never `current`, the one just written. Returns how many were removed. */
static size_t rotate(const char *dir, unsigned keep, usec_t max_age_usec, usec_t now,
                     const char *current)
{
        size_t n, removed = 0;
        struct saved *v = saved_list(dir, &n);
        for (size_t i = 0, kept = 0; i < n; i++) {
                bool old =
                    max_age_usec > 0 && now > max_age_usec && v[i].mtime_usec < now - max_age_usec;
                if (strcmp(v[i].id, current) == 0 || (kept < keep && !old)) {
                        kept++;
                        continue;
                }
                static const char *const exts[] = {".json", ".html"};
                for (size_t k = 0; k < ELEMENTSOF(exts); k++) {
                        char *p = xasprintf("%s/%s%s", dir, v[i].id, exts[k]);
                        (void)unlink(p);
                        free(p);
                }
                removed++;
        }
        free(v);
        return removed;
}

/* The lines of text that hold needle, in place; returns the new length. A byte search is
 * much cheaper than parsing every line of a journal that holds many rollouts. */
static size_t keep_lines_with(char *text, size_t len, const char *needle)
{
        size_t out = 0, n_needle = strlen(needle);
        for (size_t pos = 0; pos < len;) {
                char *start = text + pos, *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - start) + 1 : len - pos;
                if (memmem(start, n, needle, n_needle)) {
                        memmove(text + out, start, n);
                        out += n;
                }
                pos += n;
        }
        text[out] = '\0';
        return out;
}

/* The report of the canary's rollout `rollout` built from its journal now. exact: rollout is
 * the start time as journaled, so only the lines naming it need parsing (the report of a
 * rollout that just ended: a journal of 2 MiB costs a few ms, not a few hundred). */
static int build_live(const char *state_dir, const char *canary, const char *rollout, bool exact,
                      char **ret_json)
{
        char *text = NULL, *history = NULL;
        size_t len = 0;
        int r = journal_read(state_dir, canary, &text, &len);
        if (r < 0)
                return r;
        if (exact && rollout) {
                char *needle = xasprintf("\"rollout\":\"%s\"", rollout);
                len = keep_lines_with(text, len, needle);
                free(needle);
        }
        journal_history_select(text, len, canary, true, &history);
        free(text);
        r = report_build_json(history, strlen(history), rollout, ret_json);
        free(history);
        return r;
}

static int save(const char *state_dir, const char *canary, const char *rollout,
                const struct config *cfg, char **ret_path, size_t *ret_removed)
{
        char id[REPORT_ID_MAX];
        char *json = NULL, *html = NULL;
        int r = report_id(rollout, id);
        if (r < 0)
                return r;
        r = build_live(state_dir, canary, rollout, true, &json);
        if (r < 0)
                return r;
        r = report_render_html(json, strlen(json), &html);
        if (r < 0) {
                free(json);
                return r;
        }
        char *top = xasprintf("%s/reports", state_dir);
        char *dir = reports_dir(state_dir, canary);
        char *name_json = xasprintf("%s.json", id), *name_html = xasprintf("%s.html", id);
        if ((mkdir(top, 0750) < 0 && errno != EEXIST) || (mkdir(dir, 0750) < 0 && errno != EEXIST))
                r = -errno;
        if (r == 0)
                r = write_atomic(dir, name_json, json);
        if (r == 0)
                r = write_atomic(dir, name_html, html);
        if (r == 0) {
                *ret_removed = rotate(dir, cfg->reports.keep, cfg->reports.max_age_usec,
                                      now_realtime_usec(), id);
                *ret_path = xasprintf("%s/%s", dir, name_html);
        }
        free(name_html);
        free(name_json);
        free(dir);
        free(top);
        free(html);
        free(json);
        return r;
}

void report_write(struct canary *c, usec_t started_usec)
{
        const struct config *cfg = c->d->config;
        char rollout[40], *path = NULL;
        size_t removed = 0;

        if (started_usec == 0 || !name_ok(c->cfg->name))
                return;
        format_rfc3339(started_usec, rollout, sizeof(rollout));
        int r = save(cfg->state_dir, c->cfg->name, rollout, cfg, &path, &removed);
        if (r < 0) {
                log_canary(LOG_WARNING, c, NULL, NULL,
                           "cannot write the report of rollout %s in %s/reports: %s", rollout,
                           cfg->state_dir, strerror(-r));
                return;
        }
        log_canary(LOG_INFO, c, NULL, NULL, "report of rollout %s: %s%s", rollout, path,
                   removed ? " (older reports removed)" : "");
        free(path);
}

/* The saved report <id>.json, or -ENOENT; -EBADMSG for a file that is not a whole JSON
 * object (emptied or cut by a power loss: the files are not synced). */
static int read_saved(const char *state_dir, const char *canary, const char *id, char **ret_json)
{
        char *dir = reports_dir(state_dir, canary);
        char *path = xasprintf("%s/%s.json", dir, id), *json = NULL;
        size_t len = 0;
        int r = read_file(path, REPORT_FILE_MAX, &json, &len);
        free(path);
        free(dir);
        if (r < 0)
                return r;
        while (len > 0 && strchr(" \t\r\n", json[len - 1]))
                len--;
        if (len < 2 || json[0] != '{' || json[len - 1] != '}') {
                free(json);
                return -EBADMSG;
        }
        *ret_json = json;
        return 0;
}

int report_lookup(const char *state_dir, const char *name, const char *rollout, char **ret_json,
                  char **ret_error)
{
        char id[REPORT_ID_MAX];
        char *json = NULL;
        int r;

        if (!name_ok(name)) {
                *ret_error = xstrdup("invalid canary name");
                return -EINVAL;
        }
        if (rollout) {
                if (report_id(rollout, id) < 0) {
                        *ret_error = xstrdup("invalid rollout id (expected its start time, "
                                             "as `canaryctl history` shows it, or its report id)");
                        return -EINVAL;
                }
                if (read_saved(state_dir, name, id, ret_json) == 0)
                        return 0;
                r = build_live(state_dir, name, id, false, ret_json);
                if (r == -ENOENT)
                        *ret_error =
                            xasprintf("no rollout %s of %s in its reports or journal", id, name);
                else if (r < 0)
                        *ret_error =
                            xasprintf("cannot read the decision journal: %s", strerror(-r));
                return r;
        }

        /* the latest: the journal's, saved if it ended; else the newest saved report */
        r = build_live(state_dir, name, NULL, false, &json);
        if (r == 0) {
                const char *p = strstr(json, "\"id\":\"");
                size_t l = p ? strcspn(p + 6, "\"") : 0;
                char *saved = NULL;
                if (p && l > 0 && l < REPORT_ID_MAX) {
                        memcpy(id, p + 6, l);
                        id[l] = '\0';
                        if (read_saved(state_dir, name, id, &saved) == 0) {
                                free(json);
                                json = saved;
                        }
                }
                *ret_json = json;
                return 0;
        }
        if (r != -ENOENT) {
                *ret_error = xasprintf("cannot read the decision journal: %s", strerror(-r));
                return r;
        }
        size_t n;
        char *dir = reports_dir(state_dir, name);
        struct saved *v = saved_list(dir, &n);
        free(dir);
        r = -ENOENT;
        for (size_t i = 0; i < n && r < 0; i++) /* the newest one that reads */
                r = read_saved(state_dir, name, v[i].id, ret_json);
        free(v);
        if (r == -ENOENT)
                *ret_error = xasprintf("%s has no rollout in its journal or reports", name);
        else if (r < 0)
                *ret_error = xasprintf("cannot read the report: %s", strerror(-r));
        return r;
}

char *report_link(const char *report_url, const char *canary, usec_t started_usec)
{
        char t[64], id[REPORT_ID_MAX];

        if (!report_url || !*report_url ||
            report_id(format_rfc3339(started_usec, t, sizeof(t)), id) < 0)
                return NULL;
        size_t n = strlen(report_url);
        return xasprintf("%s%s%s/%s.html", report_url, report_url[n - 1] == '/' ? "" : "/", canary,
                         id);
}
