/* Strict UTF-8 (utf8.h). */
#include <string.h>

#include "canaryd/utf8.h"
#include "canaryd/util.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
        unsigned cp, need, min;

        if (n == 0)
                return 0;
        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                need = 1, cp = s[0] & 0x1f, min = 0x80;
        else if ((s[0] & 0xf0) == 0xe0)
                need = 2, cp = s[0] & 0x0f, min = 0x800;
        else if ((s[0] & 0xf8) == 0xf0)
                need = 3, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (n < need + 1)
                return 0;
        for (unsigned i = 1; i <= need; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return need + 1;
}

size_t utf8_chars(const char *s, size_t n)
{
        size_t chars = 0;
        for (size_t i = 0; i < n; i++)
                chars += ((unsigned char)s[i] & 0xC0) != 0x80;
        return chars;
}

bool utf8_valid(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        while (n > 0) {
                size_t l = utf8_seq_len(p, n);
                if (l == 0)
                        return false;
                p += l;
                n -= l;
        }
        return true;
}

char *utf8_clean_copy(const char *s, size_t max, bool no_controls)
{
        static const char replacement[] = "\xef\xbf\xbd";
        size_t n = strlen(s), o = 0;
        char *out = xmalloc(max + 1);

        for (size_t i = 0; i < n;) {
                const unsigned char *p = (const unsigned char *)s + i;
                size_t l = utf8_seq_len(p, n - i);
                const char *src = s + i;
                size_t w = l;

                if (l == 0) {
                        src = replacement;
                        w = 3;
                        l = 1;
                } else if (no_controls && l == 1 && (*p < 0x20 || *p == 0x7f)) {
                        i += 1;
                        continue;
                }
                if (o + w > max)
                        break;
                memcpy(out + o, src, w);
                o += w;
                i += l;
        }
        out[o] = '\0';
        return out;
}
