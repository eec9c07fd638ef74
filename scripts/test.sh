#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds with ASan + UBSan, and runs every unit
# and end-to-end test through CTest. Extra arguments go to ctest (e.g. -L unit, -R rollout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
build=${CANARYD_TEST_BUILD:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCANARYD_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# The optimised build the demo and packages use: -O2 warnings (-Wnull-dereference,
# -Wformat-truncation, -Wmaybe-uninitialized) differ from the Debug build's. With its man pages
# and changelog.Debian.gz (target man), e2e/lintian packages it as it ships.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target canaryd canaryctl man
ctest --test-dir "$build" --output-on-failure -j2 "$@"
