/* Fuzzes samples_parse(), the parser of `canaryctl judge` sample files: no crash on any bytes; a
 * failure names a line that exists and leaves the output untouched; a success yields at most one
 * value per line, and printing the values with %.17g (nan, inf as words) and parsing that again
 * gives the same values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/samples.h"
#include "canaryd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *)data;
        struct samples_error err = {0};
        double *v = (double *)&err, *back = NULL; /* a sentinel: must stay untouched on error */
        size_t n = 0, nb = 0, lines = 1;

        for (size_t i = 0; i < size; i++)
                lines += text[i] == '\n';
        if (samples_parse(text, size, &v, &n, &err) < 0) {
                if (v != (double *)&err || err.line == 0 || err.line > lines || !err.message[0])
                        abort();
                return 0;
        }
        if (n > lines || (n > 0) != (v != NULL))
                abort();

        /* Round trip. */
        char *out = xmalloc(n * 32 + 1), *p = out;
        for (size_t i = 0; i < n; i++) {
                if (isnan(v[i]))
                        p += sprintf(p, "nan\r\n");
                else if (isinf(v[i]))
                        p += sprintf(p, "%sinf\n", v[i] < 0 ? "-" : "");
                else
                        p += sprintf(p, "%.17g\n", v[i]);
        }
        if (samples_parse(out, (size_t)(p - out), &back, &nb, NULL) != 0 || nb != n)
                abort();
        for (size_t i = 0; i < n; i++)
                if (!(back[i] == v[i] || (isnan(back[i]) && isnan(v[i]))))
                        abort();
        free(out);
        free(back);
        free(v);
        return 0;
}
