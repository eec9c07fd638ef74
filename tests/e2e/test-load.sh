#!/usr/bin/env bash
# Load: one ASan daemon drives LOAD_N canaries (default 500) x 3 metrics at a 1 s interval, all
# started at once by 16 concurrent canaryctl clients. Every start is accepted, every canary is
# promoted, every write holds valid weights in step order, and the daemon neither crashes nor
# reports a sanitizer error; SIGTERM stops it cleanly. Under this load analyses of many canaries
# share Datadog requests that fill up and go out early, replies arrive while batches gather,
# and verdicts come back while other canaries are being planned: the paths where a batch used
# to be sent twice and freed under its second reply.
. "$(dirname "$0")/lib.sh"
N=${LOAD_N:-500}
FLEET="python3 $SRC/tests/e2e/datadog-fleet.py"

$FLEET scenario "$N" --limit 100000 >"$E2E/fleet.json"
e2e_setup "$E2E/fleet.json"
$FLEET config "$N" --port "$(port datadog)" --dir "$E2E" --interval 1s --steps 25,50,100 \
	>"$E2E/canaryd.yaml"
e2e_start_daemon
for _ in $(seq 300); do
	ctl status -o json | json_get "sum(c['phase'] == 'Unknown' for c in d['canaries'])" |
		grep -qx 0 && break
	sleep 0.2
done

# 16 clients at a time, as a pipeline would; a refused start fails the test
names() { ctl status -o json | json_get "'\n'.join(c['name'] for c in d['canaries'])"; }
names >"$E2E/names"
[ "$(wc -l <"$E2E/names")" = "$N" ] || fail "expected $N canaries in status"
xargs -P 16 -I{} "$CANARYCTL" --socket "$E2E/control.sock" start {} --revision r1 \
	<"$E2E/names" >"$E2E/starts.out" 2>"$E2E/starts.err" || fail "a start was refused: $(head -3 "$E2E/starts.err")"
pass "$N starts accepted (16 clients)"

wait_s=${LOAD_WAIT:-150}
deadline=$((SECONDS + wait_s))
while [ $SECONDS -lt $deadline ]; do
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "canaryd died under load"
	left=$(ctl status -o json | json_get "sum(c['phase'] != 'Promoted' for c in d['canaries'])")
	[ "$left" = 0 ] && break
	sleep 1
done
if [ "$left" != 0 ]; then
	# say where they stand, so that a rare failure explains itself
	ctl status -o json | python3 -c "
import collections, json, sys
cs = json.load(sys.stdin)['canaries']
late = [c for c in cs if c['phase'] != 'Promoted']
print('phases:', dict(collections.Counter((c['phase'], c.get('step')) for c in late)))
for c in late[:8]:
    la = c.get('last_analysis') or {}
    print(c['name'], c['phase'], 'step', c.get('step'), 'weight', c.get('weight'),
          'error', c.get('error'), 'last', la.get('result'), la.get('at'))
" >&2 || true
	grep -c 'level=warning' "$E2E/canaryd.log" >&2 || true
	grep 'level=\(warning\|error\)' "$E2E/canaryd.log" |
		sed -E 's/^time=[^ ]* //; s/msg="c[0-9]+: /msg="/; s/ canary=.*//' | sort | uniq -c |
		sort -rn | head -15 >&2 || true
	fail "$left of $N canaries not promoted after $wait_s s"
fi
pass "$N canaries x 3 metrics promoted at a 1 s interval"

# Every VirtualService write: canary weight in 0..100 and the route summing to 100; per canary
# the canary weights go up through the steps, never back, never skipped.
admin GET /kube/writes | python3 -c "
import json, sys
steps = [25, 50, 100]
seen = {}
for w in json.load(sys.stdin):
    if w.get('resource') != 'virtualservices' or not w.get('after'):
        continue
    obj, name = w['after'], w['name']
    for r in (obj.get('spec') or {}).get('http', []):
        ws = {d['destination'].get('subset'): d.get('weight', 0) for d in r['route']}
        assert all(0 <= v <= 100 for v in ws.values()), (name, ws)
        assert sum(ws.values()) == 100, (name, ws)
        c = ws.get('canary', 0)
        prev = seen.setdefault(name, [])
        if not prev or prev[-1] != c:
            prev.append(c)
bad = {n: s for n, s in seen.items() if s != steps}
assert len(seen) == $N, 'writes for %d canaries' % len(seen)
assert not bad, 'weights out of step order: %r' % list(bad.items())[:3]
print('ok: %d canaries, every write valid, weights 25 -> 50 -> 100' % len(seen))
" || fail "the write log is wrong"

grep -E 'AddressSanitizer|runtime error|LeakSanitizer' "$E2E/canaryd.log" && fail "sanitizer report"
e2e_stop_daemon
grep -E 'AddressSanitizer|runtime error|LeakSanitizer' "$E2E/canaryd.log" && fail "sanitizer report at stop"
pass "clean stop, no sanitizer report"
