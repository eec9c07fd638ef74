/* Query templates (SPEC §3): expands {{scope}}, {{name}}, {{namespace}} and {{interval}}
 * (seconds). Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/config.h"

/* Returns the expanded query (caller owns it). Unknown {{...}} placeholders are left as written
 * so that Datadog reports them rather than us guessing. */
char *query_expand(const char *tmpl, const char *scope, const struct canary_config *c);

/* Whether tmpl uses {{scope}} as query_expand() sees it: without it the canary's and the
 * baseline's queries are the same text, so a judge comparing them could never fail. */
bool query_uses_scope(const char *tmpl);

/* The length of the {{word}} placeholder at p (word: letters, digits, '_', '-', '.'), or 0:
 * "{{{scope}}}" is "{" + {{scope}} + "}". The one rule of the expander, query_check() and the
 * loader's check of the variables. */
size_t query_placeholder_len(const char *p);

enum query_problem_kind {
        QUERY_UNBALANCED,         /* a ')' or '}' that closes nothing open, or the wrong one */
        QUERY_UNCLOSED,           /* a '(' or '{' never closed */
        QUERY_UNCLOSED_QUOTE,     /* a string argument ('mean', "desc") never closed */
        QUERY_TOO_DEEP,           /* braces and parentheses nested deeper than we follow */
        QUERY_UNKNOWN_AGGREGATOR, /* AGG:metric with an AGG Datadog does not know */
        _QUERY_PROBLEM_MAX,
};

/* What query_check() found: its kind and the bytes of tmpl it is about. */
struct query_problem {
        enum query_problem_kind kind;
        size_t offset, len;
};

/* Checks a query template for what Datadog would certainly refuse as a syntax error (a 400 at
 * every analysis): braces and parentheses that do not balance, unclosed string arguments and
 * space aggregators other than avg, sum, min, max, count and percentiles (p50, p99.9). It is not
 * Datadog's parser: what it cannot be sure of passes. {{word}} placeholders count as words.
 * Returns true, or false with the first problem in *ret. Pure; tmpl is NUL-terminated. */
bool query_check(const char *tmpl, struct query_problem *ret);
