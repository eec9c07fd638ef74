/* The Prometheus text exposition format 0.0.4 (src/codec/prom-text.c): families, samples with
 * escaped label values, histograms. Writes into a struct buf; pure. */
#pragma once

#include "canaryd/codec-layer.h"

#include "canaryd/tally.h"
#include "canaryd/util.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void prom_family(struct buf *b, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. labels is k, v pairs ending with NULL (NULL: none);
 * values are escaped (backslash, double quote, newline). */
void prom_sample(struct buf *b, const char *name, const char *const *labels, double value);
/* The _bucket (with le, +Inf last), _sum and _count samples of h, with labels before le. */
void prom_histogram(struct buf *b, const char *name, const char *const *labels,
                    const struct histogram *h);
