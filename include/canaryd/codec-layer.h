/* Included by every header of the codec layer (wire formats on buffers: JSON, YAML). The core
 * library is compiled with CANARYD_CORE, so core code that reaches a codec header, directly or
 * through another header, fails to build. */
#pragma once

#ifdef CANARYD_CORE
#error "a codec-layer header is included by a core source (see docs/ARCHITECTURE.md)"
#endif
