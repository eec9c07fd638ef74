/* Fuzzes duration_parse() and duration_format(): no crash, and every parsed value formats to a
 * string that parses back to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        usec_t u;
        if (duration_parse(s, &u) == 0) {
                char buf[64];
                usec_t back;
                if (duration_parse(duration_format(u, buf, sizeof(buf)), &back) != 0 || back != u)
                        abort();
        }
        /* Also format the raw bytes as a number into a buffer of every small size. */
        usec_t v = 0;
        memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
        char small[16];
        for (size_t n = 1; n <= sizeof(small); n++) {
                duration_format(v, small, n);
                if (strlen(small) >= n)
                        abort();
        }
        free(s);
        return 0;
}
