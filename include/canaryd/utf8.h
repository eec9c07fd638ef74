/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. One
 * decoder for every codec that checks or cleans outside text. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence at s (n > 0 bytes left): 1..4, or 0 when it is invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Code points in the first n bytes of valid UTF-8 (the bytes that start a sequence): columns
 * for libyaml's marks and for tables. */
size_t utf8_chars(const char *s, size_t n);

/* The n bytes at s are valid UTF-8 (NUL bytes included as U+0000). */
bool utf8_valid(const char *s, size_t n);

/* A copy of s with invalid UTF-8 replaced by U+FFFD (and, with no_controls, control characters
 * below 0x20 and DEL dropped), cut at a sequence boundary to at most max bytes: text for a
 * wire format that caps its fields. Caller owns it. */
char *utf8_clean_copy(const char *s, size_t max, bool no_controls);
