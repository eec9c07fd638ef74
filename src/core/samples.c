/* Parser for sample files (one number a line) used by the offline judge. Strict on purpose: a
 * typo must not silently become a value or vanish, so every line is a number, nan, inf or
 * blank. Pure libc. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canaryd/samples.h"
#include "canaryd/util.h"

#define TOKEN_MAX 64 /* longer than any sensible number */

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int bad(struct samples_error *err, unsigned line, const char *tok, size_t n, const char *why)
{
        if (err) {
                bool printable = true;
                for (size_t i = 0; i < n; i++)
                        printable &= tok[i] >= 0x20 && tok[i] < 0x7f;
                err->line = line;
                if (printable && n <= 32)
                        snprintf(err->message, sizeof(err->message), "line %u: \"%.*s\" %s", line,
                                 (int)n, tok, why);
                else
                        snprintf(err->message, sizeof(err->message), "line %u: value %s", line,
                                 why);
        }
        return -EINVAL;
}

/* One trimmed, non-empty token. Returns 0 and *ret, or a reason. */
static const char *parse_token(const char *tok, size_t n, double *ret)
{
        char buf[TOKEN_MAX + 1];
        const char *word;
        bool neg = false;

        if (n > TOKEN_MAX)
                return "is not a number";
        memcpy(buf, tok, n);
        buf[n] = '\0';

        word = buf;
        if (*word == '+' || *word == '-')
                neg = *word++ == '-';
        if (strcasecmp(word, "nan") == 0) {
                *ret = (double)NAN;
                return NULL;
        }
        if (strcasecmp(word, "inf") == 0 || strcasecmp(word, "infinity") == 0) {
                *ret = neg ? -HUGE_VAL : HUGE_VAL;
                return NULL;
        }
        /* Plain decimal only: no hex floats, no "nan(...)", no embedded NUL or spaces. */
        bool digit = false;
        for (size_t i = 0; i < n; i++) {
                char c = buf[i];
                if (c >= '0' && c <= '9')
                        digit = true;
                else if (c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-')
                        return "is not a number";
        }
        if (!digit)
                return "is not a number";

        char *end;
        errno = 0;
        double v = strtod(buf, &end);
        if (end != buf + n)
                return "is not a number";
        if (errno == ERANGE && isinf(v))
                return "is out of range";
        *ret = v;
        return NULL;
}

int samples_parse(const char *text, size_t len, double **ret, size_t *ret_n,
                  struct samples_error *err)
{
        double *v = NULL;
        size_t n = 0, cap = 0;
        unsigned line = 0;

        if (!ret || !ret_n || (!text && len > 0))
                return -EINVAL;
        size_t start = 0;
        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                start = 3; /* a UTF-8 byte-order mark, as Windows editors write */
        for (size_t pos = start; pos < len;) {
                const char *eol = memchr(text + pos, '\n', len - pos);
                size_t end = eol ? (size_t)(eol - text) : len, a = pos, b = end;

                line++;
                pos = end + 1;
                while (a < b && is_blank(text[a]))
                        a++;
                while (b > a && is_blank(text[b - 1]))
                        b--;
                if (a == b)
                        continue;

                double x;
                const char *why = parse_token(text + a, b - a, &x);
                if (why) {
                        free(v);
                        return bad(err, line, text + a, b - a, why);
                }
                if (n == cap) {
                        cap = cap ? 2 * cap : 64;
                        v = xrealloc(v, cap * sizeof(double));
                }
                v[n++] = x;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
