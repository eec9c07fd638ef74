/* Clocks (io layer): pure code never reads one, it is given `now`. */
#pragma once

#include "canaryd/io-layer.h"

#include <systemd/sd-event.h>

#include "canaryd/util.h"

/* The daemon's wall clock, in microseconds since the epoch: what is stored and shown (state
 * annotations, journal, Slack) and what step timing is computed from (docs/operations.md,
 * "Time"). Within a process it advances with CLOCK_BOOTTIME (monotonic, counting a suspend),
 * from CLOCK_REALTIME as read at the first call, so a step of the host's clock (NTP, a VM
 * resume, a hand edit) neither shortens nor lengthens a step. It follows CLOCK_REALTIME where
 * the two differ by less than CLOCK_SLEW_USEC (NTP's slewing) and, bound, re-anchors to it once
 * they have differed by more for CLOCK_STEP_FOLLOW_USEC. Across restarts it is the wall clock. */
usec_t now_realtime_usec(void);

#define CLOCK_SLEW_USEC        (2 * USEC_PER_SEC)
#define CLOCK_STEP_FOLLOW_USEC (3600 * USEC_PER_SEC)

/* CLOCK_BOOTTIME at which now_realtime_usec() reaches t (now when t is past): timers for a
 * time of the daemon's clock are armed on CLOCK_BOOTTIME with it. */
usec_t clock_boottime_at(usec_t t);

/* CLOCK_MONOTONIC in microseconds: for intervals outside the event loop's callbacks. */
usec_t now_monotonic_usec(void);

/* CLOCK_MONOTONIC as of the event loop's current iteration (sd_event_now(): every callback of
 * one iteration sees the same time, and a loop that has not run yet gives the current time);
 * the time now when e cannot tell. */
usec_t event_now_monotonic(sd_event *e);
