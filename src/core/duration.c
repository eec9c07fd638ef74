/* Durations as written in the configuration: "250ms", "30s", "5m", "1h", "0", and sums of
 * components such as "1m30s" or "1h30m". Integers only, no sign, no spaces; "us" is accepted so
 * that every value duration_format() prints parses back. Pure libc. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "canaryd/config.h"

struct unit {
        const char *name;
        usec_t usec;
};

/* Longest names first so that "ms" is not read as "m" followed by garbage. */
static const struct unit units[] = {
    {"us", 1},
    {"ms", USEC_PER_MSEC},
    {"s", USEC_PER_SEC},
    {"m", 60 * USEC_PER_SEC},
    {"h", 3600 * USEC_PER_SEC},
};

static const struct unit *unit_match(const char *p, size_t *ret_len)
{
        const struct unit *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                size_t l = strlen(units[i].name);
                if (strncmp(p, units[i].name, l) == 0 && l > best_len) {
                        best = &units[i];
                        best_len = l;
                }
        }
        *ret_len = best_len;
        return best;
}

int duration_parse(const char *s, usec_t *ret)
{
        if (!s || !*s)
                return -EINVAL;
        if (strcmp(s, "0") == 0) {
                *ret = 0;
                return 0;
        }

        usec_t total = 0;
        const char *p = s;
        while (*p) {
                if (*p < '0' || *p > '9')
                        return -EINVAL; /* sign, space, fraction, unit without number */
                usec_t n = 0;
                while (*p >= '0' && *p <= '9') {
                        unsigned d = (unsigned)(*p - '0');
                        if (n > (UINT64_MAX - d) / 10)
                                return -ERANGE;
                        n = n * 10 + d;
                        p++;
                }
                size_t ul;
                const struct unit *u = unit_match(p, &ul);
                if (!u)
                        return -EINVAL; /* missing or unknown unit */
                p += ul;
                if (n > UINT64_MAX / u->usec)
                        return -ERANGE;
                n *= u->usec;
                if (total > UINT64_MAX - n)
                        return -ERANGE;
                total += n;
        }
        *ret = total;
        return 0;
}

/* Appends "<n><unit>" to buf at *pos, never writing past size. */
static void append(char *buf, size_t size, size_t *pos, unsigned long long n, const char *unit)
{
        if (*pos >= size)
                return;
        int r = snprintf(buf + *pos, size - *pos, "%llu%s", n, unit);
        if (r > 0)
                *pos += (size_t)r;
}

char *duration_format(usec_t u, char *buf, size_t size)
{
        if (!buf || size == 0)
                return buf;
        if (u == 0) {
                snprintf(buf, size, "0");
                return buf;
        }

        /* Candidate 1: one number in the largest unit that divides u exactly ("90s"). */
        char single[32];
        for (size_t i = ELEMENTSOF(units); i-- > 0;)
                if (u % units[i].usec == 0) {
                        snprintf(single, sizeof(single), "%llu%s",
                                 (unsigned long long)(u / units[i].usec), units[i].name);
                        break;
                }

        /* Candidate 2: components from hours down ("25h30s"); preferred on a tie. */
        char combo[96];
        size_t pos = 0;
        usec_t rest = u;
        combo[0] = '\0';
        for (size_t i = ELEMENTSOF(units); i-- > 0;) {
                usec_t n = rest / units[i].usec;
                rest %= units[i].usec;
                if (n)
                        append(combo, sizeof(combo), &pos, (unsigned long long)n, units[i].name);
        }

        snprintf(buf, size, "%s", strlen(combo) <= strlen(single) ? combo : single);
        return buf;
}

/* kubectl's HumanDuration (apimachinery duration.go): two units while the larger is small, then
 * one, so a column of ages stays short and reads at a glance. */
char *duration_format_age(usec_t u, char *buf, size_t size)
{
        unsigned long long s = u / USEC_PER_SEC, m = s / 60, h = m / 60, d = h / 24, y = d / 365;

        if (!buf || size == 0)
                return buf;
        if (s < 120)
                snprintf(buf, size, "%llus", s);
        else if (m < 10 && s % 60)
                snprintf(buf, size, "%llum%llus", m, s % 60);
        else if (m < 180)
                snprintf(buf, size, "%llum", m);
        else if (h < 8 && m % 60)
                snprintf(buf, size, "%lluh%llum", h, m % 60);
        else if (h < 48)
                snprintf(buf, size, "%lluh", h);
        else if (h < 24 * 8 && h % 24)
                snprintf(buf, size, "%llud%lluh", d, h % 24);
        else if (y < 2)
                snprintf(buf, size, "%llud", d);
        else if (y < 8 && d % 365)
                snprintf(buf, size, "%lluy%llud", y, d % 365);
        else
                snprintf(buf, size, "%lluy", y);
        return buf;
}
