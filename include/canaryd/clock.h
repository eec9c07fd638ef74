/* Clocks (io layer): pure code never reads one, it is given `now`. */
#pragma once

#include "canaryd/io-layer.h"

#include <systemd/sd-event.h>

#include "canaryd/util.h"

/* Wall-clock time in microseconds since the epoch (CLOCK_REALTIME): what is stored and shown
 * (state annotations, journal, Slack). */
usec_t now_realtime_usec(void);

/* CLOCK_MONOTONIC in microseconds: for intervals outside the event loop's callbacks. */
usec_t now_monotonic_usec(void);

/* CLOCK_MONOTONIC as of the event loop's current iteration (sd_event_now(): every callback of
 * one iteration sees the same time, and a loop that has not run yet gives the current time);
 * the time now when e cannot tell. */
usec_t event_now_monotonic(sd_event *e);
