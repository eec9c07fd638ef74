/* A JSON document the daemon sent (status, history, report) printed again for people: indented
 * JSON, or the same tree as YAML (canaryctl -o json, -o yaml). src/codec/doc-format.c; pure. */
#pragma once

#include "canaryd/codec-layer.h"

#include <stddef.h>

/* json indented by two spaces a level, members in their order, ending with a newline. Returns 0
 * and *ret (owned), or -EINVAL with *ret_error (owned) when json is not one JSON value. */
int doc_format_json_indented(const char *json, size_t len, char **ret, char **ret_error);

/* The same tree as a YAML document (block style, written by libyaml's emitter): strings that
 * YAML would read as another type ("true", "null", "25", "2026-12-07T05:00:00Z") are quoted, so
 * it reads back as the JSON it came from. Returns as above. */
int doc_format_yaml(const char *json, size_t len, char **ret, char **ret_error);
