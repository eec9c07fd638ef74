/* Status tallies and histograms for /metrics. */
#include "canaryd/tally.h"

void status_tally_add(struct status_tally *t, long code)
{
        if (code <= 0 || code > 999) {
                t->other++;
                return;
        }
        for (size_t i = 0; i < t->n; i++)
                if (t->code[i] == (unsigned)code) {
                        t->count[i]++;
                        return;
                }
        if (t->n == STATUS_TALLY_MAX) {
                t->other++;
                return;
        }
        t->code[t->n] = (unsigned)code;
        t->count[t->n++] = 1;
}

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
        *h = (struct histogram){.bounds = bounds,
                                .n = n < HISTOGRAM_BUCKETS_MAX ? n : HISTOGRAM_BUCKETS_MAX};
}

void histogram_observe(struct histogram *h, double value)
{
        if (!(value == value)) /* NaN: not an observation */
                return;
        for (size_t i = 0; i < h->n; i++)
                if (value <= h->bounds[i])
                        h->count[i]++;
        h->total++;
        h->sum += value;
}
