/* Allocation, strings and buffers; see util.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/util.h"

static void oom(void)
{
        static const char msg[] = "canaryd: out of memory\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)r;
        abort();
}

void free_secret(char *s)
{
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

void *xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *xrealloc(void *p, size_t size)
{
        void *q = realloc(p, size ? size : 1);
        if (!q)
                oom();
        return q;
}

char *xstrdup(const char *s)
{
        if (!s)
                return NULL;
        char *p = strdup(s);
        if (!p)
                oom();
        return p;
}

char *xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                oom();
        return p;
}

char *xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *p;
        va_start(ap, fmt);
        int r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        return p;
}

void freep_str(char **p)
{
        free(*p);
        *p = NULL;
}

void buf_reserve(struct buf *b, size_t extra)
{
        if (b->len + extra + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
                cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
        buf_reserve(b, n);
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
        buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap, ap2;
        va_start(ap, fmt);
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                va_end(ap2);
                return;
        }
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        b->len += (size_t)n;
}

#define BUF_SLACK_MAX (64u * 1024) /* unused capacity a stolen buffer may keep */

char *buf_steal(struct buf *b)
{
        /* the doubling leaves up to half a large buffer unused (a 5 MB status in an 8 MB block),
         * for as long as the caller keeps the text */
        if (b->data && b->cap - b->len - 1 > BUF_SLACK_MAX)
                b->data = xrealloc(b->data, b->len + 1);
        char *p = b->data ? b->data : xstrdup("");
        *b = (struct buf){0};
        return p;
}

void buf_free(struct buf *b)
{
        free(b->data);
        *b = (struct buf){0};
}

bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
