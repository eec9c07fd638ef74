#!/usr/bin/env bash
# A healthy canary is promoted through every step; a canary whose latency regresses is rolled
# back; the VirtualService's other fields are untouched; Slack heard every transition.
. "$(dirname "$0")/lib.sh"

e2e_setup
before_checkout=$(vs_json shop checkout)
e2e_start_daemon

ctl start checkout --revision v2 || fail "start checkout"
ctl start search --revision v7 || fail "start search"
wait_phase checkout Promoted 40
wait_phase search RolledBack 40
pass "checkout promoted, search rolled back"

[ "$(route_weight shop checkout primary canary)" = 100 ] || fail "checkout canary weight not 100"
[ "$(route_weight shop checkout primary stable)" = 0 ] || fail "checkout stable weight not 0"
[ "$(route_weight shop search primary canary)" = 0 ] || fail "search canary weight not 0"
[ "$(route_weight shop search primary stable)" = 100 ] || fail "search stable weight not 100"
pass "final weights"

# Every field but the primary route's weights and our annotation is as it was.
after_checkout=$(vs_json shop checkout)
python3 - "$before_checkout" "$after_checkout" <<'PY' || fail "VirtualService changed beyond weights"
import json, sys
def obj(s):
    d = json.loads(s)
    return d.get("object", d)
a, b = obj(sys.argv[1]), obj(sys.argv[2])
for o in (a, b):
    md = o["metadata"]
    for k in ("resourceVersion", "generation", "managedFields"):
        md.pop(k, None)
    md.get("annotations", {}).pop("canaryd.io/state", None)
    for r in o["spec"].get("http", []):
        if r.get("name") == "primary":
            for d in r["route"]:
                d.pop("weight", None)
if a != b:
    print(json.dumps(a, indent=1, sort_keys=True)); print(json.dumps(b, indent=1, sort_keys=True))
    sys.exit(1)
PY
pass "other fields untouched"

state=$(vs_json shop search | json_get "d.get('object', d)['metadata']['annotations']['canaryd.io/state']")
echo "$state" | json_get "d['phase']" | grep -qx RolledBack || fail "state annotation: $state"
pass "state annotation records the rollback"

# status -o json follows SPEC §5
ctl status search -o json | python3 -c "
import json,sys
d = json.load(sys.stdin)['canaries'][0]
for k in ('name','namespace','phase','step','steps','canary_weight','failed_checks',
          'inconclusive_checks','revision','last_analysis'):
    assert k in d, k
assert d['revision'] == 'v7', d
la = d['last_analysis']
assert la['result'] == 'fail', la
lat = [m for m in la['metrics'] if m['name'] == 'latency'][0]
assert lat['result'] == 'fail' and lat['judge'] == 'ratio', lat
assert lat['canary'] > lat['baseline'] * 1.3, lat
# the kept report keeps each metric's own text, in config order
assert 'ratio' in lat['detail'] and 'must be' in lat['detail'], lat
assert [m['name'] for m in la['metrics']] == ['error-rate', 'latency'], la
err = la['metrics'][0]
assert err['judge'] == 'threshold' and err['result'] == 'pass' and err['detail'] != lat['detail'], la
" || fail "status json"
pass "status -o json"

texts=$(slack_texts)
echo "$texts" | grep -q "checkout" || fail "no slack message for checkout"
echo "$texts" | grep -qi "promoted" || fail "no promoted message: $texts"
echo "$texts" | grep -qi "rolled back" || fail "no rolled back message: $texts"
n=$(echo "$texts" | grep -c "checkout" || true)
[ "$n" -ge 4 ] || fail "expected >= 4 checkout messages (start + 3 steps), got $n"
pass "slack messages"

e2e_stop_daemon
grep -q "stopping" "$E2E/canaryd.log" || fail "no stop log line"
echo "3 passed, 0 failed" >/dev/null
