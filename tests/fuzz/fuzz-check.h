/* CHECK(cond): the invariant assertion shared by the fuzz targets. It aborts, which is what
 * libFuzzer and the replay tests catch, and names the broken invariant with file and line;
 * unlike assert() it stays on in every build type. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,     \
                                #cond);                                                            \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)
