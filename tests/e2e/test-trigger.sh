#!/usr/bin/env bash
# The Deployment trigger (SPEC §4, trigger: {deployment}): canaryd watches the Deployment; the
# template it first sees is recorded, not rolled out; a new pod template, once fully rolled out
# and available, starts a rollout with its revision; a restart (restartedAt annotation) or a
# scale starts nothing; a newer template mid-rollout starts over at step 1 in one write. All of
# it from the watch: no GET of the Deployment once the watch has listed. With `list` and
# `watch` refused (403, a Role with `get` only), the trigger reads it with GET instead; a
# Deployment that does not exist is logged once.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=4s e2e_setup # without the watch, the Deployment is read every interval/2 = 2 s
# checkout is triggered by its canary Deployment
sed -i '0,/    virtual_service: checkout/s//&\n    trigger: {deployment: checkout-canary}/' "$E2E/canaryd.yaml"
grep -q "trigger: {deployment: checkout-canary}" "$E2E/canaryd.yaml" || fail "config edit"
e2e_start_daemon

dep() { admin GET "/kube/object?ns=shop&name=checkout-canary&resource=deployments"; }
# put_dep PYTHON-EXPR-ON-d: edits the stored Deployment as a CD system or kubectl would
put_dep() {
	dep | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('object', d)
$1
print(json.dumps(d))" >"$E2E/dep.json"
	admin PUT "/kube/object?ns=shop&name=checkout-canary&resource=deployments" "$(cat "$E2E/dep.json")" >/dev/null
}
rev_of() { ctl status checkout -o json | json_get "d['canaries'][0]['revision'] or '-'"; }
trig_of() {
	vs_json shop checkout | json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations'].get('canaryd.io/state', '{}')).get('trigger_revision', '-')"
}

for _ in $(seq 50); do [ "$(trig_of)" != - ] && break; sleep 0.1; done
base=$(trig_of)
[ "$base" != - ] || fail "the first template was not recorded"
[ "$(phase_of checkout)" = Idle ] || fail "the template already running started a rollout"
pass "first template $base recorded, nothing started"

# a new image: not started while the Deployment is still rolling out ...
put_dep "d['spec']['template']['spec']['containers'][0]['image'] = 'registry.example.com/shop/checkout:1.1.0'"
sleep 2.5
[ "$(phase_of checkout)" = Idle ] || fail "started before the new template was available"
grep -q "is not fully available yet" "$E2E/canaryd.log" || fail "waiting not logged"
# ... and started once it is fully available
put_dep "d['status']['observedGeneration'] = d['metadata']['generation']"
wait_phase checkout Progressing 10
rev1=$(rev_of)
[ "$rev1" != "$base" ] && [ "$rev1" = "$(trig_of)" ] || fail "revision $rev1 (trigger $(trig_of), base $base)"
ctl history checkout | grep -q "decision  trigger by deployment:checkout-canary: Idle step 0 (0%) -> Progressing step 1 (10%)" ||
	fail "history lacks the trigger: $(ctl history checkout)"
pass "new image available -> rollout of $rev1 started"

# a restart and a scale change nothing (paused, so the step stays put; at step 1 or, when this
# machine is slow enough for step 1's 4 s to have passed, at step 2)
ctl pause checkout >/dev/null || fail "pause"
paused_at=$(ctl status checkout -o json | json_get "'%d %d' % (d['canaries'][0]['step'], d['canaries'][0]['canary_weight'])")
read -r paused_step paused_weight <<<"$paused_at"
put_dep "
d['spec']['template']['metadata'].setdefault('annotations', {})['kubectl.kubernetes.io/restartedAt'] = '2026-11-22T04:00:00Z'
d['spec']['replicas'] = 3
d['status'].update(replicas=3, updatedReplicas=3, availableReplicas=3, readyReplicas=3)"
put_dep "d['status']['observedGeneration'] = d['metadata']['generation']"
sleep 2.5
[ "$(rev_of)" = "$rev1" ] || fail "a restart/scale changed the revision to $(rev_of)"
ctl status checkout -o json | json_get "d['canaries'][0]['step']" | grep -qx "$paused_step" ||
	fail "a restart/scale restarted the rollout (paused at step $paused_step)"
pass "restart + scale: nothing started"

# a newer template mid-rollout (paused): back to step 1 of it, in one write
nw=$(admin GET "/kube/writes" | json_get "len(d)")
put_dep "
d['spec']['template']['spec']['containers'][0]['image'] = 'registry.example.com/shop/checkout:1.2.0'
d['status']['observedGeneration'] = d['metadata']['generation'] + 1"
for _ in $(seq 50); do [ "$(rev_of)" != "$rev1" ] && break; sleep 0.1; done
sleep 0.5 # the write is done when status shows it; let a wrong second write show too
rev2=$(rev_of)
[ "$rev2" != "$rev1" ] || fail "the newer template did not replace the rollout"
# The first write after the new template is the whole replacement: step 1 at 10% of rev2. On a
# loaded machine step 1's 4 s may pass before this looks, so a later write may be there too,
# but only the rollout of rev2 going on (step 2 after a passing analysis), never a second
# replacement or a write of the old one.
admin GET "/kube/writes?since=0" | python3 -c "
import json, sys
ws = [w for w in json.load(sys.stdin)[$nw:] if w.get('name') == 'checkout' and not w.get('bypass')]
st = [json.loads(w['after']['metadata']['annotations']['canaryd.io/state']) for w in ws]
assert st, 'no write'
first = st[0]
assert 'replaces $rev1 (was at ${paused_weight}%)' in first['reason'], first
assert (first['revision'], first['step'], first['weight']) == ('$rev2', 1, 10), first
for later in st[1:]:
    assert later['revision'] == '$rev2' and 'replaces' not in later['reason'], later
    assert (later['step'], later['weight']) == (2, 25) and later['phase'] == 'Progressing', later
" || fail "the replacement was not one write to step 1"
pass "newer template $rev2 mid-rollout: step 1 in one write"
# the replaced rollout, which never ended, leaves its report too (docs/reports.md)
ctl report checkout -o json | json_get "d['revision']" | grep -qx "$rev2" || fail "latest report"
ls "$E2E"/state/reports/checkout/*.json >/dev/null 2>&1 || fail "the replaced rollout left no report"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['revision'] == '$rev1' and d['finished'] is False and d['outcome'] == 'Paused', d
" "$(ls "$E2E"/state/reports/checkout/*.json | head -1)" || fail "the replaced rollout's report"
pass "the replaced rollout of $rev1 left its report"

# Read by the watch: LISTs and watch streams of the namespace's Deployments, narrowed to the one
# Deployment, and no GET of it once the first LIST was answered (1 s allowed for that answer
# to reach the daemon; a poll every 2 s would have sent one for each of this test's 2 s).
admin GET "/requests?service=kube&path_regex=deployments" >"$E2E/dep-reqs.json"
python3 - "$E2E/dep-reqs.json" <<-'EOF' || fail "the Deployment was not read from its watch"
	import json, sys
	reqs = json.load(open(sys.argv[1]))
	coll = [r for r in reqs if r["path"].endswith("/deployments")]
	assert any("watch=true" in r.get("query", "") for r in coll), "no watch: %s" % reqs
	assert all("fieldSelector=metadata.name%3Dcheckout-canary" in r.get("query", "")
	           for r in coll), "not narrowed: %s" % coll
	listed = min(r["time"] + (r.get("duration_ms") or 0) / 1000.0 for r in coll
	             if r["status"] == 200 and "watch=" not in r.get("query", ""))
	gets = [r for r in reqs if r["path"].endswith("/deployments/checkout-canary")]
	late = [r for r in gets if r["time"] > listed + 1]
	assert not late, "%d GETs after the LIST: %s" % (len(late), late)
	print("%d LIST/watch requests; %d GET, all before the first LIST was answered"
	      % (len(coll), len(gets)))
EOF
pass "the trigger read the Deployment from its watch"
e2e_stop_daemon

# Without list and watch: every LIST of Deployments answers 403, and the trigger GETs instead.
: >"$E2E/canaryd.log"
admin POST /faults '{"service":"kube","match":{"method":"GET","path_regex":"/deployments$"},"status":403,"body":"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"deployments.apps is forbidden: User canaryd cannot list resource deployments in API group apps in the namespace shop\",\"reason\":\"Forbidden\",\"details\":{\"group\":\"apps\",\"kind\":\"deployments\"},\"code\":403}","count":-1}' >/dev/null
e2e_start_daemon
for _ in $(seq 50); do grep -q "watching Deployments in shop failed" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "watching Deployments in shop failed" "$E2E/canaryd.log" || fail "the refused watch was not logged"
put_dep "
d['spec']['template']['spec']['containers'][0]['image'] = 'registry.example.com/shop/checkout:1.3.0'
d['status']['observedGeneration'] = d['metadata']['generation'] + 1"
for _ in $(seq 100); do [ "$(rev_of)" != "$rev2" ] && [ "$(rev_of)" != - ] && break; sleep 0.1; done
rev3=$(rev_of)
[ "$rev3" != "$rev2" ] && [ "$rev3" != - ] || fail "no rollout of the new template without the watch ($rev3)"
pass "without list/watch, the trigger read the Deployment with GET and started $rev3"
e2e_stop_daemon

# A Deployment name with a typo: the watch lists, does not show it, and that is said once (or
# the GET a slow first LIST lets out says 404 first: once, too).
admin DELETE /faults >/dev/null
: >"$E2E/canaryd.log"
sed -i 's/trigger: {deployment: checkout-canary}/trigger: {deployment: checkout-canry}/' "$E2E/canaryd.yaml"
e2e_start_daemon
for _ in $(seq 50); do grep -Eq "cannot read deployment checkout-canry: .*not found" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -Eq "cannot read deployment checkout-canry: .*not found" "$E2E/canaryd.log" ||
	fail "a trigger on a missing Deployment was not logged: $(grep trigger "$E2E/canaryd.log")"
sleep 2.5 # a resync tick: still said once
[ "$(grep -c "cannot read deployment checkout-canry" "$E2E/canaryd.log")" = 1 ] ||
	fail "the missing Deployment was logged more than once"
pass "a trigger on a missing Deployment is logged once"
e2e_stop_daemon
