/* Journal or logfmt logging; see log.h. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "canaryd/log.h"
#include "canaryd/util.h"

static bool use_journal;
static int max_prio = LOG_INFO;

static const char *const prio_names[] = {"emerg",   "alert",  "crit", "error",
                                         "warning", "notice", "info", "debug"};

void log_setup(int journal, int max_priority)
{
        use_journal = journal < 0 ? getenv("JOURNAL_STREAM") != NULL : journal > 0;
        max_prio = max_priority;
}

const char *log_logfmt_value(const char *v, char *buf, unsigned size)
{
        bool quote = *v == '\0';
        for (const char *p = v; *p; p++)
                if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\')
                        quote = true;
        if (!quote) {
                snprintf(buf, size, "%s", v);
                return buf;
        }
        unsigned j = 0;
        if (size < 3)
                return "";
        buf[j++] = '"';
        for (const char *p = v; *p && j + 3 < size; p++) {
                if (*p == '"' || *p == '\\') {
                        buf[j++] = '\\';
                        buf[j++] = *p;
                } else if (*p == '\n') {
                        buf[j++] = '\\';
                        buf[j++] = 'n';
                } else if ((unsigned char)*p < ' ') {
                        buf[j++] = ' ';
                } else {
                        buf[j++] = *p;
                }
        }
        buf[j++] = '"';
        buf[j] = '\0';
        return buf;
}

static void logfmt_kv(struct buf *b, const char *key, const char *value)
{
        char tmp[2048];
        buf_printf(b, " %s=%s", key, log_logfmt_value(value, tmp, sizeof(tmp)));
}

static void emit_logfmt(int priority, const struct log_fields *f, const char *msg)
{
        struct buf b = {0};
        char ts[64];
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        buf_printf(&b, "time=%s.%03ldZ level=%s", ts, now.tv_nsec / 1000000,
                   prio_names[priority & 7]);
        logfmt_kv(&b, "msg", msg);
        if (f) {
                if (f->canary)
                        logfmt_kv(&b, "canary", f->canary);
                if (f->namespace_)
                        logfmt_kv(&b, "namespace", f->namespace_);
                if (f->phase)
                        logfmt_kv(&b, "phase", f->phase);
                if (f->step >= 0)
                        buf_printf(&b, " step=%d", f->step);
                if (f->weight >= 0)
                        buf_printf(&b, " weight=%d", f->weight);
                for (const char *const *e = f->extra; e && *e; e++) {
                        const char *eq = strchr(*e, '=');
                        if (!eq)
                                continue;
                        char key[64];
                        size_t kl = (size_t)(eq - *e) < sizeof(key) - 1 ? (size_t)(eq - *e)
                                                                        : sizeof(key) - 1;
                        for (size_t i = 0; i < kl; i++)
                                key[i] = (char)((*e)[i] >= 'A' && (*e)[i] <= 'Z' ? (*e)[i] + 32
                                                                                 : (*e)[i]);
                        key[kl] = '\0';
                        logfmt_kv(&b, key, eq + 1);
                }
        }
        buf_puts(&b, "\n");
        fputs(b.data, stderr);
        fflush(stderr);
        buf_free(&b);
}

static void emit_journal(int priority, const struct log_fields *f, const char *msg)
{
        struct iovec iov[32];
        char *owned[32];
        size_t n = 0, no = 0;

#define ADD(...)                                                                                   \
        do {                                                                                       \
                if (n < ELEMENTSOF(iov)) {                                                         \
                        owned[no] = xasprintf(__VA_ARGS__);                                        \
                        iov[n].iov_base = owned[no];                                               \
                        iov[n].iov_len = strlen(owned[no]);                                        \
                        n++, no++;                                                                 \
                }                                                                                  \
        } while (0)

        ADD("MESSAGE=%s", msg);
        ADD("PRIORITY=%d", priority);
        ADD("SYSLOG_IDENTIFIER=canaryd");
        if (f) {
                if (f->canary)
                        ADD("CANARY=%s", f->canary);
                if (f->namespace_)
                        ADD("NAMESPACE=%s", f->namespace_);
                if (f->phase)
                        ADD("PHASE=%s", f->phase);
                if (f->step >= 0)
                        ADD("STEP=%d", f->step);
                if (f->weight >= 0)
                        ADD("WEIGHT=%d", f->weight);
                if (f->message_id)
                        ADD("MESSAGE_ID=%s", f->message_id);
                for (const char *const *e = f->extra; e && *e; e++)
                        ADD("%s", *e);
        }
#undef ADD
        sd_journal_sendv(iov, (int)n);
        for (size_t i = 0; i < no; i++)
                free(owned[i]);
}

static void log_message(int priority, const struct log_fields *f, const char *msg)
{
        if (priority > max_prio)
                return;
        if (use_journal)
                emit_journal(priority, f, msg);
        else
                emit_logfmt(priority, f, msg);
}

void log_fields_full(int priority, const struct log_fields *f, const char *fmt, ...)
{
        char msg[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_message(priority, f, msg);
}

int log_errno(int priority, int r, const char *fmt, ...)
{
        char msg[4096];
        va_list ap;
        int saved = errno;
        errno = r < 0 ? -r : r;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap); /* glibc expands %m from errno */
        va_end(ap);
        errno = saved;
        log_message(priority, LOG_FIELDS_NONE, msg);
        return r < 0 ? r : -r;
}
