/* Kubernetes object names (names.h). */
#include <string.h>

#include "canaryd/names.h"

bool dns1123_label_n(const char *s, size_t n)
{
        if (!s || n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

bool dns1123_is_label(const char *s)
{
        return s && dns1123_label_n(s, strlen(s));
}

bool dns1123_is_subdomain(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 253)
                return false;
        for (const char *p = s;;) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                if (!dns1123_label_n(p, len))
                        return false;
                if (!dot)
                        return true;
                p = dot + 1;
        }
}
