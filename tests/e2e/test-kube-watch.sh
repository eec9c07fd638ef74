#!/usr/bin/env bash
# VirtualService watches (WIRE.md §2.4): with a 10-minute interval (re-read every 15 s), a hand
# edit of the weights is seen through the watch and pauses the rollout at once; a compacted
# history (the in-stream ERROR 410) makes canaryd re-LIST and watch from the new
# resourceVersion; a restarted API server is reconnected to. Each drift must be caused by the
# watch (its log line), not by the periodic re-read.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=10m e2e_setup
e2e_start_daemon
ctl start checkout --revision v1 >/dev/null || fail "start"
wait_phase checkout Progressing 10

# The weights of checkout's primary route set by hand to canary=W (bypassing canaryd).
hand_edit() {
	vs_json shop checkout | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('object', d)
for r in d['spec']['http']:
    if r.get('name') == 'primary':
        for x in r['route']:
            x['weight'] = $1 if x['destination'].get('subset') == 'canary' else 100 - $1
print(json.dumps(d))" >"$E2E/edited.json"
	admin PUT "/kube/object?ns=shop&name=checkout" "$(cat "$E2E/edited.json")" >/dev/null
}

watch_lines() {
	grep -c "watch: VirtualService shop/checkout changed outside canaryd" "$E2E/canaryd.log" || true
}

# kube requests for the VirtualService collection: "seq list|watch rv" per line
collection_requests() {
	admin GET "/requests?service=kube&path_regex=/virtualservices\$" | python3 -c "
import json, sys, urllib.parse
for r in json.load(sys.stdin):
    q = urllib.parse.parse_qs(r['query'] or '')
    kind = 'watch' if q.get('watch') == ['true'] else 'list'
    print(r['seq'], kind, q.get('resourceVersion', ['-'])[0], r['status'])"
}

# Drift through the watch: paused well before the 15 s re-read, and the watch said why.
drift_via_watch() { # WEIGHT EXPECTED_WATCH_LINES
	local t0 t1
	t0=$(date +%s.%N)
	hand_edit "$1"
	wait_phase checkout Paused 12
	t1=$(date +%s.%N)
	[ "$(watch_lines)" = "$2" ] || fail "drift was not detected through the watch (log lines: $(watch_lines))"
	echo "drift seen after $(python3 -c "print(round($t1 - $t0, 2))") s (re-read interval 15 s)"
}

drift_via_watch 40 1
pass "a hand edit is seen through the watch and pauses the rollout"

ctl resume checkout >/dev/null || fail "resume"
wait_phase checkout Progressing 5

# ---- compaction: the next watch from an old resourceVersion gets ERROR 410 ----
before=$(admin GET /state | json_get "d['last_seq']")
oldest=$(admin POST /kube/compact | json_get "d['oldest_resource_version']")
for _ in $(seq 100); do
	collection_requests | awk -v s="$before" -v o="$oldest" \
		'$1 > s && $2 == "watch" && $3 >= o { found = 1 } END { exit !found }' && break
	sleep 0.1
done
collection_requests | awk -v s="$before" '$1 > s' >"$E2E/after-compact"
python3 - "$E2E/after-compact" "$oldest" <<'EOF' || fail "no re-LIST after 410: $(cat "$E2E/after-compact")"
import sys
rows = [l.split() for l in open(sys.argv[1])]
oldest = int(sys.argv[2])
# a watch from a compacted resourceVersion, then a LIST, then a watch from the list's RV
i = next(i for i, r in enumerate(rows) if r[1] == "watch" and int(r[2]) < oldest)
j = next(j for j, r in enumerate(rows) if j > i and r[1] == "list")
next(k for k, r in enumerate(rows) if k > j and r[1] == "watch" and int(r[2]) >= oldest)
EOF
drift_via_watch 35 2
pass "an expired resourceVersion (in-stream 410) re-LISTs and the watch goes on"

ctl resume checkout >/dev/null || fail "resume"
wait_phase checkout Progressing 5

# ---- the API server restarts: same ports, objects restored, fresh resourceVersions ----
vs_json shop checkout >"$E2E/checkout.json"
ports=$(cat "$E2E/ports.json")
kill "$SANDBOX_PID"
wait "$SANDBOX_PID" 2>/dev/null || true
rm -f "$E2E/ports.json"
python3 "$SRC/tests/sandbox/sandbox.py" --scenario "$SRC/tests/e2e/scenarios/e2e.json" \
	--port-file "$E2E/ports.json" $(python3 -c "
import json; p = json.loads('$ports')
print(' '.join('--%s-port %d' % (k, v) for k, v in p.items()))") >>"$E2E/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 100); do
	[ -s "$E2E/ports.json" ] && break
	sleep 0.1
done
[ -s "$E2E/ports.json" ] || fail "the sandbox did not restart"
admin PUT "/kube/object?ns=shop&name=checkout" "$(python3 -c "
import json, sys
d = json.load(open('$E2E/checkout.json')); d = d.get('object', d)
d['metadata'].pop('resourceVersion', None)
print(json.dumps(d))")" >/dev/null
for _ in $(seq 150); do
	collection_requests | awk '$2 == "watch" && $4 == "200" { found = 1 } END { exit !found }' &&
		break
	sleep 0.1
done
collection_requests | awk '$2 == "watch"' | grep -q . || fail "canaryd did not watch the restarted sandbox"
drift_via_watch 30 3
pass "after an API server restart the watch reconnects"

grep -q "watching VirtualServices in shop failed" "$E2E/canaryd.log" ||
	fail "the broken watch was not logged"
e2e_stop_daemon
