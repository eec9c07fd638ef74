#!/usr/bin/env bash
# A Kubernetes outage counts as inconclusive (SPEC §4): while every request for a canary's
# VirtualService fails, its weights hold, every interval of the step that passes counts one
# inconclusive check (kept in state_dir/<canary>.outage across a restart, shown in status), and
# once the API answers again, past inconclusive_limit, the pause is written before anything
# else: nothing promoted, nothing lost.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s E2E_INCONCLUSIVE_LIMIT=1 e2e_setup
e2e_start_daemon
# the start's reply comes once its write landed; the next step is due 2 s later, by then every
# GET and PUT of the checkout VirtualService answers 503 until the fault is removed
ctl start checkout --revision v9 || fail "start"
admin POST /faults '{"service":"kube","match":{"path_regex":"virtualservices/checkout$"},"status":503,"body":"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"etcd unavailable\",\"reason\":\"ServiceUnavailable\",\"code\":503}\n","count":-1}' >/dev/null
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "step 1 weight not written"
outage=$E2E/state/checkout.outage
checks() { [ -s "$outage" ] && json_get "d['checks']" <"$outage" || echo 0; }
for _ in $(seq 100); do
	[ "$(checks)" -ge 2 ] && break
	sleep 0.2
done
[ "$(checks)" -ge 2 ] || fail "no outage counted after 20 s: $(cat "$outage" 2>/dev/null)"
status=$(ctl status checkout -o json)
echo "$status" | grep -q "Kubernetes unreachable since" || fail "status does not show the outage: $status"
echo "$status" | grep -q '"kubernetes_unreachable_since"' || fail "status lacks kubernetes_unreachable_since"
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "weights moved during the outage"
pass "an outage holds the weights and counts inconclusive checks ($(checks)), shown in status"

# a restart during the outage goes on counting from the same start
since=$(json_get "d['since']" <"$outage")
e2e_stop_daemon
e2e_start_daemon
sleep 3
[ -s "$outage" ] || fail "the outage record was lost across the restart"
[ "$(json_get "d['since']" <"$outage")" = "$since" ] || fail "the outage's start changed across the restart"
pass "the count survives a restart"

admin DELETE /faults >/dev/null
wait_phase checkout Paused 40
state=$(vs_json shop checkout | json_get "d.get('object', d)['metadata']['annotations']['canaryd.io/state']")
echo "$state" | json_get "d['reason']" | grep -q "Kubernetes unreachable for" || fail "pause reason: $state"
[ "$(echo "$state" | json_get "d['step']")" = 1 ] || fail "the step moved: $state"
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "the weight moved: $state"
[ ! -e "$outage" ] || fail "the outage record outlived its decision"
ctl history checkout -o json | grep -q '"kubernetes-outage"' || fail "no kubernetes-outage decision in the journal"
for _ in $(seq 50); do slack_texts | grep -q "checkout.*paused" && break; sleep 0.2; done
slack_texts | grep -q "checkout.*paused" || fail "the pause was not announced"
pass "once the API answers, the pause past inconclusive_limit is written first, and announced"
e2e_stop_daemon
