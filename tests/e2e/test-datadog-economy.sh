#!/usr/bin/env bash
# Query economy: one Datadog request per canary per analysis for all metrics x both scopes, and
# canaries whose analyses fall due together share requests. Measures requests per
# canary-analysis (sandbox /requests?service=datadog) for one canary with three metrics and for
# fifty canaries, with v1 (comma-separated queries) and, for the fleet, v2 (named queries).
. "$(dirname "$0")/lib.sh"
FLEET="python3 $SRC/tests/e2e/datadog-fleet.py"

# run N API: starts sandbox + daemon for N canaries (3 metrics each), starts them all at once,
# waits until every one is Promoted, prints "requests analyses".
run() {
	local n=$1 api=$2
	$FLEET scenario "$n" >"$E2E/fleet.json"
	e2e_setup "$E2E/fleet.json"
	$FLEET config "$n" --port "$(port datadog)" --dir "$E2E" --api "$api" --interval 2s \
		>"$E2E/canaryd.yaml"
	e2e_start_daemon
	local i pids=()
	for i in $(seq 0 $((n - 1))); do
		ctl start "$(printf 'c%02d' "$i")" --revision r1 >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "start"; done
	for _ in $(seq 600); do
		ctl status -o json | json_get "all(c['phase'] == 'Promoted' for c in d['canaries'])" |
			grep -q True && break
		sleep 0.1
	done
	ctl status -o json | json_get "[c['name'] for c in d['canaries'] if c['phase'] != 'Promoted']" |
		grep -qx '\[\]' || fail "not all $n canaries promoted"
	local requests analyses
	requests=$(admin GET "/requests?service=datadog&path_regex=/query" | json_get "len(d)")
	analyses=$(grep -c 'analysis pass over' "$E2E/canaryd.log" || true)
	grep -q 'API key valid' "$E2E/canaryd.log" || fail "the key check was not logged"
	e2e_stop_daemon
	kill "$SANDBOX_PID" && wait "$SANDBOX_PID" 2>/dev/null || true
	SANDBOX_PID=
	: >"$E2E/canaryd.log"
	rm -f "$E2E/ports.json"
	echo "$requests $analyses"
}

read -r req an < <(run 1 v1)
[ "$an" = 2 ] || fail "one canary, steps 25, 50, 100: expected 2 analyses, got $an"
[ "$req" = "$an" ] || fail "one canary with 3 metrics: $req requests for $an analyses, expected 1 each"
pass "1 canary x 3 metrics (v1): $req requests / $an analyses = $(python3 -c "print(round($req/$an, 3))") per canary-analysis"

# the request holds all six queries, told apart by query_index
for api in v1 v2; do
	read -r req an < <(run 50 "$api")
	[ "$an" = 100 ] || fail "50 canaries ($api): expected 100 analyses, got $an"
	[ "$req" -lt "$an" ] || fail "50 canaries ($api): $req requests for $an analyses, no sharing"
	pass "50 canaries x 3 metrics ($api): $req requests / $an analyses = $(python3 -c "print(round($req/$an, 3))") per canary-analysis"
done
