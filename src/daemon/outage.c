/* Kubernetes outages as inconclusive checks (outage.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "canaryd/clock.h"
#include "canaryd/config.h"
#include "canaryd/files.h"
#include "canaryd/outage-json.h"
#include "canaryd/state-json.h"
#include "canaryd/util.h"
#include "daemon.h"
#include "outage.h"
#include "status.h"

static char *outage_path(const struct canary *c)
{
        return xasprintf("%s/%s.outage", c->d->config->state_dir, c->cfg->name);
}

/* Keeps the count on disk; a failure is logged (the count lives on in memory). */
static void save(struct canary *c)
{
        char *path = outage_path(c);
        char *json = outage_record_to_json(&(struct outage_record){
            c->outage_since_usec, c->outage_checks, c->outage_step, c->outage_step_started_usec});
        int r = write_file_atomic(path, json, strlen(json), 0640);
        if (r < 0)
                log_canary(LOG_WARNING, c, NULL, NULL, "cannot write %s: %s", path, strerror(-r));
        free(json);
        free(path);
}

void outage_failed(struct canary *c)
{
        const struct rollout_state *s = &c->state;
        usec_t now = now_realtime_usec();
        char since[64], lasted[32];

        if (!c->outage_since_usec)
                c->outage_since_usec = now;
        if (!c->loaded || s->phase != ROLLOUT_PROGRESSING || c->spec.interval_usec == 0)
                return;
        if (c->outage_step != s->step || c->outage_step_started_usec != s->step_started_usec) {
                /* counted for the step the canary holds now */
                c->outage_checks = 0;
                c->outage_step = s->step;
                c->outage_step_started_usec = s->step_started_usec;
        }
        usec_t from = c->outage_since_usec > s->step_started_usec ? c->outage_since_usec
                                                                  : s->step_started_usec;
        unsigned checks = now > from ? (unsigned)((now - from) / c->spec.interval_usec) : 0;
        if (checks <= c->outage_checks)
                return;
        c->outage_checks = checks;
        save(c);
        log_canary(LOG_WARNING, c, NULL, NULL,
                   "kubernetes unreachable since %s (%s): counted as %u inconclusive check%s of "
                   "step %u; past inconclusive_limit %u the rollout pauses once the cluster "
                   "answers",
                   format_rfc3339(c->outage_since_usec, since, sizeof(since)),
                   duration_format(now - c->outage_since_usec, lasted, sizeof(lasted)), checks,
                   checks == 1 ? "" : "s", s->step, c->spec.inconclusive_limit);
}

void outage_over(struct canary *c)
{
        bool counted = c->outage_checks > 0;

        if (!c->outage_since_usec && !counted)
                return;
        c->outage_since_usec = 0;
        c->outage_checks = 0;
        c->outage_step = 0;
        c->outage_step_started_usec = 0;
        if (counted) {
                char *path = outage_path(c);
                if (unlink(path) < 0 && errno != ENOENT)
                        log_canary(LOG_WARNING, c, NULL, NULL, "cannot remove %s: %m", path);
                free(path);
        }
}

void outage_load(struct canary *c)
{
        char *path = outage_path(c), *text = NULL;
        size_t len = 0;
        struct outage_record rec;
        int r = read_file(path, 4096, &text, &len);

        if (r == 0 && outage_record_from_json(text, len, &rec) < 0) {
                log_canary(LOG_WARNING, c, NULL, NULL, "%s unreadable: ignored and removed", path);
                (void)unlink(path);
        } else if (r == 0) {
                c->outage_since_usec = rec.since_usec;
                c->outage_checks = rec.checks;
                c->outage_step = rec.step;
                c->outage_step_started_usec = rec.step_started_usec;
        } else if (r != -ENOENT) {
                log_canary(LOG_WARNING, c, NULL, NULL, "cannot read %s: %s", path, strerror(-r));
        }
        free(text);
        free(path);
}

bool outage_event(const struct canary *c, struct rollout_event *ret)
{
        if (c->outage_checks == 0)
                return false;
        *ret = (struct rollout_event){
            .kind = EV_KUBE_OUTAGE,
            .outage_checks = c->outage_checks,
            .outage_since_usec = c->outage_since_usec,
            .for_step = c->outage_step,
            .for_step_started_usec = c->outage_step_started_usec,
        };
        return true;
}
