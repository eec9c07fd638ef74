#!/usr/bin/env bash
# A fuzzing campaign: runs each libFuzzer target (build-fuzz, built as scripts/fuzz.sh does) until
# N executions or a time limit, merges the new inputs that add coverage into its corpus
# tests/fuzz/corpus/<t>/ (libFuzzer -merge=1, within caps: the corpora live in git) and prints a
# summary table. Targets run one after the other.
#
#   scripts/fuzz-campaign.sh [--execs N] [--hours H | --secs S] [--jobs J] [--no-merge]
#                            [--max-files F] [--max-kb K] [--markdown] [TARGET...]
#
#   --execs N      executions per target (default 10000000), libFuzzer -runs; with --jobs J
#                  each of the J processes runs N / J
#   --hours H      time limit per target (default 1), libFuzzer -max_total_time; --secs S the
#                  same in seconds
#   --jobs J       fuzzing processes per target (default 1: the machine is shared); J > 1 runs
#                  libFuzzer -jobs=J -workers=J on one shared corpus
#   --no-merge     leave tests/fuzz/corpus alone
#   --max-files F  a target's corpus holds at most F files (default 300) and --max-kb K KiB
#                  (default 512): new inputs go in smallest first while they fit
#   --markdown     print the summary as a Markdown table (for tests/fuzz/README.md)
#
# Every target's output, new inputs and crash artifacts go to a temporary directory (printed).
# Exit 1 when a target crashed (a sanitizer report, a broken invariant, a timeout or running out
# of memory): that directory is kept, with the artifacts under <t>/crashes/, and the crashing
# target's new inputs are not merged. Environment as scripts/fuzz.sh: CC (default clang),
# CANARYD_FUZZ_BUILD (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

execs=10000000
secs=3600
jobs=1
merge=1
max_files=300
max_kb=512
markdown=0
targets=()
usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--execs) execs=$2; shift 2 ;;
	--hours) secs=$(awk -v h="$2" 'BEGIN { printf "%d", h * 3600 }'); shift 2 ;;
	--secs) secs=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--no-merge) merge=0; shift ;;
	--max-files) max_files=$2; shift 2 ;;
	--max-kb) max_kb=$2; shift 2 ;;
	--markdown) markdown=1; shift ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*) targets+=("$1"); shift ;;
	esac
done
for v in "$execs" "$secs" "$jobs" "$max_files" "$max_kb"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive integer: $v" >&2; exit 2; }
done
if [ ${#targets[@]} = 0 ]; then
	for f in tests/fuzz/fuzz-*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz-}")
	done
fi

build=${CANARYD_FUZZ_BUILD:-build-fuzz}
export CC=${CC:-clang}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake -S . -B "$build" -DCANARYD_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
build=$(cd "$build" && pwd)

tmp=$(mktemp -d /tmp/canaryd-fuzz-campaign.XXXXXX)
echo "campaign: ${#targets[@]} targets, $execs execs or ${secs}s each, $jobs job(s); work in $tmp"

now() { date +%s.%N; }
# stat::NAME summed over the logs given (one per libFuzzer process).
stat_sum() {
	local name=$1
	shift
	cat "$@" 2>/dev/null | sed -n "s/^stat::$name: *//p" | awk '{ s += $1 } END { print s + 0 }'
}

rows=()
crashed=0
for t in "${targets[@]}"; do
	bin="$build/fuzz-$t"
	corpus="tests/fuzz/corpus/$t"
	[ -x "$bin" ] || { echo "no such target: $t" >&2; exit 2; }
	mkdir -p "$corpus" "$tmp/$t/new" "$tmp/$t/crashes"
	echo "== $t ($(find "$corpus" -type f | wc -l) seeds)"
	flags=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048
		-artifact_prefix="$tmp/$t/crashes/" -max_total_time="$secs")
	rc=0
	t0=$(now)
	if [ "$jobs" = 1 ]; then
		"$bin" "${flags[@]}" -runs="$execs" "$tmp/$t/new" "$corpus" >"$tmp/$t/fuzz-0.log" 2>&1 ||
			rc=$?
	else
		# -jobs writes fuzz-<i>.log into the working directory.
		(cd "$tmp/$t" && "$bin" "${flags[@]}" -runs=$(((execs + jobs - 1) / jobs)) \
			-jobs="$jobs" -workers="$jobs" "$tmp/$t/new" "$OLDPWD/$corpus" \
			>"$tmp/$t/jobs.log" 2>&1) || rc=$?
	fi
	took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
	logs=("$tmp/$t"/fuzz-*.log)
	n=$(stat_sum number_of_executed_units "${logs[@]}")
	rate=$(awk -v n="$n" -v s="$took" 'BEGIN { printf "%.0f", (s > 0 ? n / s : n) }')
	ncrash=$(find "$tmp/$t/crashes" -type f | wc -l)
	if [ "$rc" != 0 ] || [ "$ncrash" != 0 ] || grep -qE "^==[0-9]+==ERROR|invariant violated" "${logs[@]}"; then
		crashed=1
		echo "   CRASH (exit $rc): artifacts in $tmp/$t/crashes/, logs $tmp/$t/*.log"
		grep -hE "ERROR: |runtime error|invariant violated|SUMMARY" "${logs[@]}" | head -3 || true
		ncrash=$((ncrash > 0 ? ncrash : 1))
	fi

	# Merge: the inputs of new/ that add coverage to the corpus, smallest first, within caps.
	added=0
	if [ "$merge" = 1 ] && [ "$ncrash" = 0 ] && [ -n "$(ls -A "$tmp/$t/new")" ]; then
		stage="$tmp/$t/stage"
		mkdir -p "$stage"
		cp -rp "$corpus"/. "$stage"/
		"$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$stage" "$tmp/$t/new" \
			>"$tmp/$t/merge.log" 2>&1 || { echo "   merge failed: $tmp/$t/merge.log"; crashed=1; }
		files=$(find "$corpus" -type f | wc -l)
		kb=$(du -sk --apparent-size "$corpus" | cut -f1)
		while read -r size f; do
			[ -e "$corpus/$f" ] && continue
			[ "$files" -lt "$max_files" ] || break
			[ $(((kb * 1024 + size) / 1024)) -le "$max_kb" ] || break
			cp "$stage/$f" "$corpus/$f"
			files=$((files + 1))
			kb=$(((kb * 1024 + size + 1023) / 1024))
			added=$((added + 1))
		done < <(find "$stage" -maxdepth 1 -type f -printf '%s %f\n' | sort -n)
	fi
	row=$(printf '%s %s %s %s %s %s %s' "$t" "$n" "$took" "$rate" "$added" \
		"$(find "$corpus" -type f | wc -l)" "$ncrash")
	rows+=("$row")
	printf '   execs %s in %ss (%s/s), corpus +%s, crashes %s\n' "$n" "$took" "$rate" "$added" "$ncrash"
done

echo
echo "== summary ($execs execs or ${secs}s per target, $jobs job(s))"
if [ "$markdown" = 1 ]; then
	echo "| target | execs | secs | exec/s | new corpus files | corpus files | crashes |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	printf '%s\n' "${rows[@]}" |
		awk '{ printf "| %s | %\047d | %d | %\047d | %d | %d | %d |\n", $1, $2, $3, $4, $5, $6, $7 }'
else
	printf '%-20s %12s %7s %9s %6s %7s %8s\n' target execs secs exec/s new corpus crashes
	printf '%s\n' "${rows[@]}" |
		awk '{ printf "%-20s %12d %7d %9d %6d %7d %8d\n", $1, $2, $3, $4, $5, $6, $7 }'
fi
if [ $crashed = 1 ]; then
	echo "crashes: artifacts and logs kept in $tmp (see tests/fuzz/README.md)"
	exit 1
fi
rm -rf "$tmp"
