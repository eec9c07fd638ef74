#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz, -DCANARYD_FUZZ=ON) and runs each for a
# while, seeded with its corpus tests/fuzz/corpus/<t>/, then prints one summary line per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      run every target (or the ones named) SECONDS each
#                                              (default 30); exit 1 when any target crashed
#   scripts/fuzz.sh --minimize TARGET CRASH    shrink a crashing input; prints the small file
#
# New inputs and crash artifacts go to a temporary directory (printed), never into the repo:
# libFuzzer writes new inputs into its FIRST corpus directory, so that one is the temporary
# directory and the repo's corpus comes second, read only. Environment: CC (default clang),
# CANARYD_FUZZ_BUILD (default build-fuzz), FUZZ_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${CANARYD_FUZZ_BUILD:-build-fuzz}
export CC=${CC:-clang}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

build_targets() {
	cmake -S . -B "$build" -DCANARYD_FUZZ=ON >/dev/null
	cmake --build "$build" -j"$(nproc)" >/dev/null
}

if [ "${1:-}" = "--minimize" ]; then
	[ $# = 3 ] || { echo "usage: $0 --minimize TARGET CRASH_FILE" >&2; exit 2; }
	build_targets
	out="$3.min"
	"$build/fuzz-$2" -minimize_crash=1 -runs=20000 -exact_artifact_path="$out" "$3" \
		>/dev/null 2>&1 || true
	[ -s "$out" ] || { echo "minimisation failed (does $3 still crash?)" >&2; exit 1; }
	echo "$out ($(stat -c %s "$out") bytes; was $(stat -c %s "$3")):"
	"$build/fuzz-$2" "$out" 2>&1 | grep -E "ERROR|SUMMARY|^    #[0-9]" | head -12 || true
	exit 0
fi

secs=30
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
	secs=$1
	shift
fi
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
	for f in tests/fuzz/fuzz-*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz-}")
	done
fi

build_targets
tmp=$(mktemp -d /tmp/canaryd-fuzz.XXXXXX)
echo "fuzzing ${#targets[@]} targets for ${secs}s each; new inputs and crashes in $tmp"

summary=()
crashed=0
for t in "${targets[@]}"; do
	bin="$build/fuzz-$t"
	seeds="tests/fuzz/corpus/$t"
	[ -x "$bin" ] || { echo "no such target: $t" >&2; exit 2; }
	mkdir -p "$tmp/$t/new" "$tmp/$t/crashes"
	dirs=("$tmp/$t/new")
	if [ -d "$seeds" ]; then
		dirs+=("$seeds")
	else
		echo "warning: $seeds missing: fuzzing from nothing" >&2
	fi
	log="$tmp/$t/log"
	echo "== $t"
	rc=0
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$tmp/$t/crashes/" "${dirs[@]}" >"$log" 2>&1 || rc=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	cov0=$(sed -n 's/.*INITED cov: \([0-9]*\) ft: \([0-9]*\).*/\1/p' "$log" | head -1)
	cov1=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
	ft1=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
	ncrash=$(find "$tmp/$t/crashes" -type f | wc -l)
	line=$(printf '%-14s execs %-9s exec/s %-7s secs %-4s cov %s->%s ft %s new-inputs %s crashes %s' \
		"$t" "${execs:-?}" "${rate:-?}" "${took:-?}" "${cov0:-?}" "${cov1:-?}" "${ft1:-?}" \
		"${added:-?}" "$ncrash")
	if [ "$rc" != 0 ] || [ "$ncrash" != 0 ]; then
		crashed=1
		line+="  CRASH (exit $rc): $(find "$tmp/$t/crashes" -type f | head -3 | tr '\n' ' ')"
		grep -E "ERROR: |runtime error|invariant violated|SUMMARY" "$log" | head -3 || true
		echo "   log: $log"
	fi
	echo "$line"
	summary+=("$line")
done

echo
echo "== summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
if [ $crashed = 1 ]; then
	echo "crashes found: artifacts and logs kept in $tmp (see tests/fuzz/README.md)"
	exit 1
fi
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "new inputs kept in $tmp/<target>/new"
else
	rm -rf "$tmp"
fi
