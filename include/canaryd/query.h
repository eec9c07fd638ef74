/* Query templates (SPEC §3): expands {{scope}}, {{name}}, {{namespace}} and {{interval}}
 * (seconds). Pure. */
#pragma once

#include "canaryd/config.h"

/* Returns the expanded query (caller owns it). Unknown {{...}} placeholders are left as written
 * so that Datadog reports them rather than us guessing. */
char *query_expand(const char *tmpl, const char *scope, const struct canary_config *c);
