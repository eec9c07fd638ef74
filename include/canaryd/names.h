/* Kubernetes object names (RFC 1123, as the API server validates them): one rule for the
 * config, the trigger's paths and the Kubernetes client. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A DNS-1123 label: 1..63 of [a-z0-9-], starting and ending with a letter or digit. s need not
 * be NUL-terminated; n is its length. */
bool dns1123_label_n(const char *s, size_t n);

/* s (NUL-terminated, NULL is false) is a label: namespaces, Lease names. */
bool dns1123_is_label(const char *s);

/* s is a DNS-1123 subdomain: labels joined by single dots, at most 253 characters (no leading,
 * trailing or doubled dot): Deployment and VirtualService names. */
bool dns1123_is_subdomain(const char *s);
