#!/usr/bin/env bash
# A daemon killed with SIGKILL mid-rollout and started again resumes where the cluster says it
# is: no step skipped, none applied twice, and the step's wait is neither restarted nor cut.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=6s e2e_setup
e2e_start_daemon
ctl start checkout --revision v5 || fail "start"
# wait until step 2 (25%) has been written, then kill without warning
for _ in $(seq 200); do
	[ "$(route_weight shop checkout primary canary)" = 25 ] && break
	sleep 0.05
done
[ "$(route_weight shop checkout primary canary)" = 25 ] || fail "never reached 25%"
step_started=$(vs_json shop checkout |
	json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state'])['step_started_at']")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
sleep 1
e2e_start_daemon
wait_phase checkout Progressing 10 # the first read of the VirtualService after the restart
# What the new daemon read first is journaled as `observed` (on a loaded machine its start can
# take longer than the step's remaining wait, so the status may already show step 3).
python3 - "$E2E/state/checkout.journal" <<'PY' || fail "restart did not resume at step 2"
import json, sys
obs = [e for e in map(json.loads, open(sys.argv[1])) if e["type"] == "observed"]
assert obs and obs[-1]["step"] == 2 and obs[-1]["phase"] == "Progressing", obs
PY
pass "resumed at step 2 from the annotation"

wait_phase checkout Promoted 40
# The sequence of canary weights written: 10, 25, 50, 100, each exactly once.
seq_w=$(admin GET /kube/writes | python3 -c "
import json, sys
out = []
for w in json.load(sys.stdin):
    after = w.get('after') or {}
    if after.get('metadata', {}).get('name') != 'checkout':
        continue
    for r in after['spec'].get('http', []):
        if r.get('name') == 'primary':
            wt = [d.get('weight', 0) for d in r['route'] if d['destination'].get('subset') == 'canary'][0]
            if not out or out[-1] != wt:
                out.append(wt)
print(' '.join(map(str, out)))")
[ "$seq_w" = "10 25 50 100" ] || fail "weights written: '$seq_w', expected '10 25 50 100'"
pass "no step skipped or repeated: $seq_w"

# the analysis at 25% ran over the step's original window, not one restarted at boot
grep -q "analysis pass over $step_started" "$E2E/canaryd.log" ||
	fail "step 2's analysis window does not start at $step_started"
pass "the wait was not restarted"
e2e_stop_daemon
