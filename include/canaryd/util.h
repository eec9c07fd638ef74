/* Small helpers shared by every layer: time units, allocation that aborts on OOM, a growable
 * byte buffer and whole-file reads. Pure libc. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC  1000000ULL
#define USEC_INFINITY UINT64_MAX

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure aborts (systemd restarts us); callers never check. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s); /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Frees *p and sets it to NULL. */
void freep_str(char **p);

/* Overwrites a secret string (API key, token, header carrying one) before freeing it, so that
 * no copy lingers in freed memory. NULL is fine. */
void free_secret(char *s);

/* qsort() order of doubles (NaN-free input). */
int cmp_double(const void *a, const void *b);

/* A growable buffer, always NUL-terminated once non-empty. Owns data. */
struct buf {
        char *data;
        size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
/* Room for at least extra more bytes and the terminating NUL. */
void buf_reserve(struct buf *b, size_t extra);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the data (caller owns it, never NULL) and resets the buffer. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

bool streq_ptr(const char *a, const char *b);
