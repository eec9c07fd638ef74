#!/usr/bin/env bash
# Weights changed by someone else pause the rollout and say so on Slack; resume restores ours.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=20s e2e_setup
e2e_start_daemon
ctl start checkout --revision v9 || fail "start"
wait_phase checkout Progressing 10
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "step 1 not written"

# someone edits the weights by hand (bypassing canaryd)
vs_json shop checkout | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('object', d)
for r in d['spec']['http']:
    if r.get('name') == 'primary':
        for x in r['route']:
            x['weight'] = 40 if x['destination'].get('subset') == 'canary' else 60
print(json.dumps(d))" >"$E2E/edited.json"
admin PUT "/kube/object?ns=shop&name=checkout" "$(cat "$E2E/edited.json")" >/dev/null
wait_phase checkout Paused 15
[ "$(route_weight shop checkout primary canary)" = 40 ] || fail "canaryd overwrote the hand edit"
for _ in $(seq 30); do slack_texts | grep -qi drift && break; sleep 0.2; done
slack_texts | grep -i drift | grep -q checkout || fail "no drift message on Slack"
pass "drift paused the rollout and was announced"

ctl resume checkout || fail "resume"
wait_phase checkout Progressing 5
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "resume did not restore 10%"
pass "resume restored the rollout's weights"
e2e_stop_daemon
