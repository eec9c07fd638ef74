/* Counters of request outcomes by HTTP status and of observations in histogram buckets, for
 * the /metrics endpoint (SPEC §9). Fixed size: the label sets they produce stay bounded
 * whatever the servers answer. Pure. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define STATUS_TALLY_MAX 16 /* distinct codes kept; the rest are counted as code 0 */

/* Requests by answer: code 0 is "no answer" (a transport error or timeout), or a code beyond
 * the first STATUS_TALLY_MAX distinct ones. */
struct status_tally {
        size_t n;
        unsigned code[STATUS_TALLY_MAX];
        uint64_t count[STATUS_TALLY_MAX];
        uint64_t other; /* code 0 */
};

void status_tally_add(struct status_tally *t, long code);

#define HISTOGRAM_BUCKETS_MAX 16

/* A cumulative histogram of values with upper bounds bounds[0..n) (increasing), Prometheus
 * style: count[i] holds the observations <= bounds[i]; total and sum every observation. */
struct histogram {
        const double *bounds; /* borrowed, static */
        size_t n;
        uint64_t count[HISTOGRAM_BUCKETS_MAX];
        uint64_t total;
        double sum;
};

void histogram_init(struct histogram *h, const double *bounds, size_t n);
void histogram_observe(struct histogram *h, double value);
