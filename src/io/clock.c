#include "canaryd/clock.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "canaryd/log.h"

static usec_t clock_usec(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* The host's wall clock: CLOCK_REALTIME, plus, for tests only, the seconds in the file named by
 * $CANARYD_TEST_CLOCK_STEP_FILE (read when it changes): a step of the host's clock without
 * touching the host. libfaketime cannot stand in: it also moves CLOCK_BOOTTIME timers. */
static usec_t wall_clock(void)
{
        static const char *path;
        static bool looked;
        static struct timespec seen;
        static int64_t step_usec;
        struct stat st;

        if (!looked) {
                looked = true;
                path = getenv("CANARYD_TEST_CLOCK_STEP_FILE");
        }
        if (path && stat(path, &st) == 0 &&
            (st.st_mtim.tv_sec != seen.tv_sec || st.st_mtim.tv_nsec != seen.tv_nsec)) {
                FILE *f = fopen(path, "re");
                long long sec;
                if (f && fscanf(f, "%lld", &sec) == 1) {
                        step_usec = (int64_t)sec * (int64_t)USEC_PER_SEC;
                        seen = st.st_mtim; /* a file read half-written is read again */
                }
                if (f)
                        fclose(f);
        }
        return clock_usec(CLOCK_REALTIME) + (usec_t)step_usec;
}

/* The anchor: the daemon's clock read `wall` when CLOCK_BOOTTIME read `boot`. */
static struct {
        bool set;
        usec_t wall, boot;
        usec_t diverged_since; /* CLOCK_BOOTTIME since the wall clock differs by a step; 0 */
        int64_t said;          /* the step last logged, to say each one once */
} anchor;

/* Microseconds to the nearest second: the two clocks are read a few microseconds apart, so a
 * step of an hour is 3599.99999 s as often as 3600.00001 s. */
static long long round_sec(int64_t usec)
{
        int64_t half = (int64_t)USEC_PER_SEC / 2;
        return (long long)((usec + (usec < 0 ? -half : half)) / (int64_t)USEC_PER_SEC);
}

static int64_t diff_usec(usec_t a, usec_t b)
{
        return a >= b ? (int64_t)(a - b) : -(int64_t)(b - a);
}

usec_t now_realtime_usec(void)
{
        usec_t wall = wall_clock(), boot = clock_usec(CLOCK_BOOTTIME);

        if (!anchor.set || boot < anchor.boot) {
                anchor.set = true;
                anchor.wall = wall;
                anchor.boot = boot;
                return wall;
        }
        usec_t ours = anchor.wall + (boot - anchor.boot);
        int64_t off = diff_usec(wall, ours);
        if (off > -(int64_t)CLOCK_SLEW_USEC && off < (int64_t)CLOCK_SLEW_USEC) {
                /* slewing: followed at once, unnoticeable */
                anchor.wall = wall;
                anchor.boot = boot;
                anchor.diverged_since = 0;
                return wall;
        }
        if (!anchor.diverged_since)
                anchor.diverged_since = boot;
        if (boot - anchor.diverged_since >= CLOCK_STEP_FOLLOW_USEC) {
                log_warning("clock: the wall clock has differed from canaryd's by %+lld s for "
                            "%llu s: following it now (a step under way is %s by that)",
                            (long long)round_sec(off),
                            (unsigned long long)(CLOCK_STEP_FOLLOW_USEC / USEC_PER_SEC),
                            off > 0 ? "shortened" : "lengthened");
                anchor.wall = wall;
                anchor.boot = boot;
                anchor.diverged_since = 0;
                anchor.said = 0;
                return wall;
        }
        int64_t news = off - anchor.said; /* a step not yet said */
        if (news <= -(int64_t)CLOCK_SLEW_USEC || news >= (int64_t)CLOCK_SLEW_USEC) {
                anchor.said = off;
                log_warning("clock: the wall clock stepped by %+lld s; steps keep their length: "
                            "canaryd keeps its own clock, and follows the wall clock if the "
                            "difference lasts %llu s",
                            (long long)round_sec(off),
                            (unsigned long long)(CLOCK_STEP_FOLLOW_USEC / USEC_PER_SEC));
        }
        return ours;
}

usec_t clock_boottime_at(usec_t t)
{
        usec_t now = now_realtime_usec(), boot = clock_usec(CLOCK_BOOTTIME);
        return t > now ? boot + (t - now) : boot;
}

usec_t now_monotonic_usec(void)
{
        return clock_usec(CLOCK_MONOTONIC);
}

usec_t event_now_monotonic(sd_event *e)
{
        uint64_t t = 0;

        if (!e || sd_event_now(e, CLOCK_MONOTONIC, &t) < 0)
                return now_monotonic_usec();
        return t;
}
