/* The refused requests of the control socket in the log (control-log.h). Each line names the
 * peer as SO_PEERCRED gave it; a peer that floods the socket with bad requests costs at most
 * CONTROL_REFUSALS_PER_SEC lines a second and one summary line. */
#include <stdio.h>
#include <syslog.h>

#include "canaryd/clock.h"
#include "canaryd/log.h"
#include "canaryd/ratelimit.h"
#include "control-log.h"

static void log_missed(unsigned missed)
{
        if (missed)
                log_notice("control: %u refused request%s not logged (more than %d a second)",
                           missed, missed == 1 ? "" : "s", CONTROL_REFUSALS_PER_SEC);
}

static int on_refusal_window_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct daemon *d = userdata;
        log_missed(ratelimit_flush(&d->refusal_log, now_monotonic_usec()));
        return 0;
}

/* The summary comes when the window is over, even if no other refusal follows. */
static void arm_summary(struct daemon *d)
{
        usec_t end = ratelimit_end(&d->refusal_log);
        if (d->refusal_log_timer) {
                sd_event_source_set_time(d->refusal_log_timer, end);
                sd_event_source_set_enabled(d->refusal_log_timer, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_time(d->event, &d->refusal_log_timer, CLOCK_MONOTONIC, end,
                              10 * USEC_PER_MSEC, on_refusal_window_end, d) < 0)
                d->refusal_log_timer = NULL; /* the next refusal after the window says it */
}

void control_refusal_log(struct daemon *d, const char *command, const char *canary,
                         const struct journal_peer *peer, const char *why)
{
        unsigned missed = 0;

        d->refusal_log.interval_usec = USEC_PER_SEC;
        d->refusal_log.burst = CONTROL_REFUSALS_PER_SEC;
        bool pass = ratelimit_test(&d->refusal_log, now_monotonic_usec(), &missed);
        log_missed(missed);
        if (!pass) {
                if (d->refusal_log.suppressed == 1)
                        arm_summary(d);
                return;
        }

        char who[96], f_uid[32], f_gid[32], f_pid[32], f_cmd[48];
        if (peer)
                snprintf(who, sizeof(who), "uid %u gid %u pid %d", (unsigned)peer->uid,
                         (unsigned)peer->gid, (int)peer->pid);
        else
                snprintf(who, sizeof(who), "an unidentified peer");
        snprintf(f_uid, sizeof(f_uid), "PEER_UID=%u", peer ? (unsigned)peer->uid : 0U);
        snprintf(f_gid, sizeof(f_gid), "PEER_GID=%u", peer ? (unsigned)peer->gid : 0U);
        snprintf(f_pid, sizeof(f_pid), "PEER_PID=%d", peer ? (int)peer->pid : 0);
        snprintf(f_cmd, sizeof(f_cmd), "CONTROL_COMMAND=%s", command ? command : "");
        /* Each field only when known: no CONTROL_COMMAND= for a request not understood, no
         * PEER_*= for a peer without credentials. */
        const char *extra[5];
        size_t n = 0;
        if (command)
                extra[n++] = f_cmd;
        if (peer) {
                extra[n++] = f_uid;
                extra[n++] = f_gid;
                extra[n++] = f_pid;
        }
        extra[n] = NULL;
        struct log_fields f = {
            .canary = canary,
            .step = -1,
            .weight = -1,
            .extra = extra,
        };
        log_fields_full(LOG_NOTICE, &f, "control: refused %s%s%s from %s: %s",
                        command ? command : "request", canary ? " " : "", canary ? canary : "", who,
                        why);
}

void control_refusal_log_flush(struct daemon *d)
{
        if (d->refusal_log.suppressed)
                log_missed(d->refusal_log.suppressed);
        d->refusal_log.suppressed = 0;
        d->refusal_log_timer = sd_event_source_disable_unref(d->refusal_log_timer);
}
