/* Prometheus text format: label values escaped as the format requires, numbers as Go's
 * strconv would print them (integers without an exponent, +Inf, NaN). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "canaryd/prom-text.h"

static void put_escaped(struct buf *b, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        buf_puts(b, "\\\\");
                else if (*s == '\n')
                        buf_puts(b, "\\n");
                else if (quote && *s == '"')
                        buf_puts(b, "\\\"");
                else
                        buf_append(b, s, 1);
        }
}

static void put_value(struct buf *b, double v)
{
        if (isnan(v))
                buf_puts(b, "NaN");
        else if (isinf(v))
                buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        else if (v == floor(v) && fabs(v) < 1e15)
                buf_printf(b, "%.0f", v);
        else
                buf_printf(b, "%.17g", v);
}

void prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
        buf_printf(b, "# HELP %s ", name);
        put_escaped(b, help, false);
        buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(struct buf *b, const char *const *labels, const char *le)
{
        bool any = false;

        for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
                buf_printf(b, "%s%s=\"", any ? "," : "{", labels[i]);
                put_escaped(b, labels[i + 1], true);
                buf_puts(b, "\"");
                any = true;
        }
        if (le) {
                buf_printf(b, "%sle=\"%s\"", any ? "," : "{", le);
                any = true;
        }
        if (any)
                buf_puts(b, "}");
}

void prom_sample(struct buf *b, const char *name, const char *const *labels, double value)
{
        buf_puts(b, name);
        put_labels(b, labels, NULL);
        buf_puts(b, " ");
        put_value(b, value);
        buf_puts(b, "\n");
}

void prom_histogram(struct buf *b, const char *name, const char *const *labels,
                    const struct histogram *h)
{
        char le[32];

        for (size_t i = 0; i < h->n; i++) {
                snprintf(le, sizeof(le), "%g", h->bounds[i]);
                buf_printf(b, "%s_bucket", name);
                put_labels(b, labels, le);
                buf_printf(b, " %llu\n", (unsigned long long)h->count[i]);
        }
        buf_printf(b, "%s_bucket", name);
        put_labels(b, labels, "+Inf");
        buf_printf(b, " %llu\n%s_sum", (unsigned long long)h->total, name);
        put_labels(b, labels, NULL);
        buf_puts(b, " ");
        put_value(b, h->sum);
        buf_printf(b, "\n%s_count", name);
        put_labels(b, labels, NULL);
        buf_printf(b, " %llu\n", (unsigned long long)h->total);
}
