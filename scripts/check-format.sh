#!/usr/bin/env bash
# Fails when any C file differs from what clang-format (with the repo's .clang-format) makes.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find src include tests bench -name '*.[ch]' 2>/dev/null)
bad=0
for f in $files; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)"
		bad=1
	fi
done
[ $bad = 0 ] && echo "all C files formatted"
exit $bad
