#!/usr/bin/env bash
# The demo: installs what it needs, builds canaryd, then runs it against the built-in sandbox
# on config/demo.yaml (two canaries: one promoted, one rolled back). Ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target canaryd canaryctl >/dev/null
exec python3 scripts/demo.py "$@"
