/* Structured logging (SPEC §2): to the journal with fields when JOURNAL_STREAM is set, else one
 * logfmt line per event on stderr. Only the daemon and canaryctl log; library modules return
 * errors. Never pass secrets. */
#pragma once

#include "canaryd/io-layer.h"

#include <syslog.h>

/* Per-canary fields; any member may be NULL / negative to omit it. */
struct log_fields {
        const char *canary;
        const char *namespace_;
        const char *phase;
        int step;                 /* -1: omit */
        int weight;               /* -1: omit */
        const char *message_id;   /* journal MESSAGE_ID for started/promoted/rolled back */
        const char *const *extra; /* NULL-terminated "KEY=value" pairs (KEY upper case) */
};

#define LOG_FIELDS_NONE ((const struct log_fields *)0)

/* journal: force (1), never (0) or decide from JOURNAL_STREAM (-1). max_priority filters. */
void log_setup(int journal, int max_priority);

void log_fields_full(int priority, const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs and returns r (a negative errno), with %m meaning strerror(-r). */
int log_errno(int priority, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...)            log_fields_full(LOG_DEBUG, LOG_FIELDS_NONE, __VA_ARGS__)
#define log_info(...)             log_fields_full(LOG_INFO, LOG_FIELDS_NONE, __VA_ARGS__)
#define log_notice(...)           log_fields_full(LOG_NOTICE, LOG_FIELDS_NONE, __VA_ARGS__)
#define log_warning(...)          log_fields_full(LOG_WARNING, LOG_FIELDS_NONE, __VA_ARGS__)
#define log_error(...)            log_fields_full(LOG_ERR, LOG_FIELDS_NONE, __VA_ARGS__)
#define log_error_errno(r, ...)   log_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_errno(LOG_WARNING, (r), __VA_ARGS__)

/* Formats v as a logfmt value (quoted when needed) into buf. Exposed for tests. */
const char *log_logfmt_value(const char *v, char *buf, unsigned size);
