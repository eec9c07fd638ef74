/* Included by every header of the io layer (the event loop, sockets, files, the clock). The core
 * and codec libraries are compiled with CANARYD_PURE, so a pure source that reaches an io header,
 * directly or through another header, fails to build instead of waiting for a review. */
#pragma once

#ifdef CANARYD_PURE
#error "an io-layer header is included by a core or codec source (see docs/ARCHITECTURE.md)"
#endif
