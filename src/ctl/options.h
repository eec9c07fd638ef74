/* options.c: canaryctl's long options must be written out in full. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

/* The first argument of argv[1..argc) written as a long option that is not exactly one of
 * longopts (an abbreviation, or unknown), or NULL when all are exact. stop_at_operand: stop at
 * the first argument that is not an option (the global options end at the command). */
const char *options_not_exact(int argc, char **argv, const struct option *longopts,
                              bool stop_at_operand);
