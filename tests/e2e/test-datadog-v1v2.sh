#!/usr/bin/env bash
# v1 (GET /api/v1/query, comma-separated queries) and v2 (POST /api/v2/query/timeseries, named
# queries) give identical verdicts on identical data: the e2e scenario (checkout healthy, search
# regressing at 20 %) with every other point null, run once per API; the sequence of per-metric
# verdicts and the final phases and weights must match.
. "$(dirname "$0")/lib.sh"

python3 - "$SRC/tests/e2e/scenarios/e2e.json" "$E2E/nulls.json" <<'PY'
import json, sys
sc = json.load(open(sys.argv[1]))
for m in sc["datadog"]["metrics"]:
    m["null_every"] = 2
json.dump(sc, open(sys.argv[2], "w"))
PY

run() { # API -> prints the verdict sequence and outcome
	local api=$1
	E2E_INTERVAL=2s e2e_setup "$E2E/nulls.json"
	sed -i "s|^  query_lag: 0s|  api: $api\n  query_lag: 0s|" "$E2E/canaryd.yaml"
	grep -q "^  api: $api" "$E2E/canaryd.yaml" || fail "config edit"
	e2e_start_daemon
	ctl start checkout --revision v1 >/dev/null || fail "start checkout"
	ctl start search --revision v1 >/dev/null || fail "start search"
	wait_phase checkout Promoted 40
	wait_phase search RolledBack 40
	local path=/api/v1/query
	[ "$api" = v2 ] && path=/api/v2/query/timeseries
	admin GET "/requests?service=datadog" | python3 -c "
import json, sys
r = [x for x in json.load(sys.stdin) if x['path'] == '$path' and x['status'] == 200]
assert r, 'no answered request on $path'
assert any('null' in x['response_body'] for x in r), 'no null points'
" || fail "$api: requests"
	e2e_stop_daemon
	kill "$SANDBOX_PID" && wait "$SANDBOX_PID" 2>/dev/null || true
	SANDBOX_PID=
	rm -f "$E2E/ports.json"
	for c in checkout search; do
		grep -o "$c: check [a-z-]*: [a-z]*" "$E2E/canaryd.log" | tr '\n' ';'
		echo
	done
	: >"$E2E/canaryd.log"
}

v1=$(run v1)
v2=$(run v2)
echo "v1: $v1"
echo "v2: $v2"
[ "$v1" = "$v2" ] || fail "v1 and v2 verdicts differ"
echo "$v1" | grep -q "search: check latency: fail" || fail "the regression was not caught"
echo "$v1" | grep -q "checkout: check latency: pass" || fail "no pass"
pass "v1 and v2: identical verdicts on identical data (with null points)"
