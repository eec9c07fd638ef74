#include "canaryd/clock.h"

#include <time.h>

static usec_t clock_usec(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t now_realtime_usec(void)
{
        return clock_usec(CLOCK_REALTIME);
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
