/* The PagerDuty plan (canaryd/alert.h): one incident per rollout, from the engine's alert
 * levels. */
#include <string.h>

#include "canaryd/alert.h"

/* The reason rollout.c gives a drift; a state read at start-up tells a drift from a pause by it. */
#define DRIFT_REASON "weights changed outside canaryd"

void alert_plan(struct alert_record *rec, const struct rollout_state *s, enum rollout_notify n,
                unsigned levels, uint64_t since_usec, struct alert_plan *out)
{
        unsigned level = rollout_alert_level(n);

        out->n = 0;
        if (s->updated_usec <= rec->done_usec)
                return; /* planned for already (a re-read, or a restart that found it done) */
        rec->done_usec = s->updated_usec;
        if (s->updated_usec < since_usec) {
                /* before alerting was set up: only which incident is current is learnt */
                return;
        }
        /* a retry or a new rollout starts a new incident; the old one is over */
        if (rec->open && (rec->rollout_usec != s->started_usec || n == NOTIFY_PROMOTED)) {
                out->steps[out->n++] =
                    (struct alert_step){.op = ALERT_RESOLVE, .rollout_usec = rec->rollout_usec};
                rec->open = false;
        }
        if (level && (levels & ALERT_LEVEL_BIT(level)) && n != NOTIFY_PROMOTED) {
                out->steps[out->n++] = (struct alert_step){
                    .op = ALERT_TRIGGER, .rollout_usec = s->started_usec, .level = level};
                rec->rollout_usec = s->started_usec;
                rec->open = true;
        }
}

enum rollout_notify alert_implied_notify(const struct rollout_state *s)
{
        switch (s->phase) {
        case ROLLOUT_PROGRESSING:
                /* a start is the rollout's first transition: it sets both times */
                return s->updated_usec == s->started_usec ? NOTIFY_STARTED : NOTIFY_PROGRESSED;
        case ROLLOUT_PAUSED:
                return strncmp(s->last_reason, DRIFT_REASON, strlen(DRIFT_REASON)) == 0
                           ? NOTIFY_DRIFT
                           : NOTIFY_PAUSED;
        case ROLLOUT_PROMOTED:
                return NOTIFY_PROMOTED;
        case ROLLOUT_ROLLED_BACK:
                /* only a person aborts; analysis rolls back on the daemon's own authority */
                return s->last_actor[0] ? NOTIFY_ABORTED : NOTIFY_ROLLED_BACK;
        case ROLLOUT_IDLE:
        case _ROLLOUT_PHASE_MAX:
                break;
        }
        return _ROLLOUT_NOTIFY_MAX;
}

const char *alert_severity(unsigned level)
{
        static const char *const names[] = {NULL, "critical", "warning", "info"};
        return level < sizeof(names) / sizeof(names[0]) ? names[level] : NULL;
}
