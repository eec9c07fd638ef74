/* A log rate limit (as systemd's ratelimit): at most `burst` events per window of
 * `interval_usec`, the rest counted so that one summary line can say how many were not logged.
 * Pure: the caller passes the time (CLOCK_MONOTONIC). */
#pragma once

#include <stdbool.h>

#include "canaryd/util.h"

struct ratelimit {
        usec_t interval_usec; /* set by the caller; 0 lets everything through */
        unsigned burst;       /* set by the caller */
        usec_t begin_usec;    /* the window's start */
        unsigned passed;      /* events let through in this window */
        unsigned suppressed;  /* events held back since the last summary */
        bool started;
};

/* An event at now: true when it may be logged. *ret_missed is the count held back in a window
 * that is over (0: none): the caller logs its summary first. A window starts at the first
 * event after the previous one ended. */
bool ratelimit_test(struct ratelimit *r, usec_t now, unsigned *ret_missed);

/* The count held back in a window that is over by now, to be summarised (and forgotten); 0
 * while the window runs or when nothing was held back. For a timer at ratelimit_end(). */
unsigned ratelimit_flush(struct ratelimit *r, usec_t now);

/* When the current window ends. */
usec_t ratelimit_end(const struct ratelimit *r);
