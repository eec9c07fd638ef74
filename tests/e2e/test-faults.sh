#!/usr/bin/env bash
# Faults of the outside world: a 409 is re-read and re-decided, a failing Kubernetes PUT holds
# the weights and is retried, Datadog errors are retried and, when they persist, count as
# inconclusive and pause the rollout; they are never a pass.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s E2E_INCONCLUSIVE_LIMIT=1 e2e_setup
e2e_start_daemon

# 1. conflicts on the next two PUTs, and a 503 on the one after
admin POST /faults/conflict '{"ns":"shop","name":"checkout","count":2}' >/dev/null
ctl start checkout --revision v1 || fail "start"
wait_phase checkout Progressing 10
admin POST /faults '{"service":"kube","match":{"method":"PUT","path_regex":"virtualservices/checkout$"},"status":503,"body":"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"etcd unavailable\",\"reason\":\"ServiceUnavailable\",\"code\":503}\n","count":1}' >/dev/null
wait_phase checkout Promoted 40
n409=$(admin GET "/requests?service=kube&method=PUT" | json_get "sum(1 for r in d if r['status'] == 409)")
n503=$(admin GET "/requests?service=kube&method=PUT" | json_get "sum(1 for r in d if r['status'] == 503)")
[ "$n409" -ge 2 ] || fail "expected 2 conflicts seen, got $n409"
[ "$n503" -ge 1 ] || fail "expected the 503 to be seen, got $n503"
grep -q "conflict writing" "$E2E/canaryd.log" || fail "conflict not logged"
grep -q "holding weights, will retry" "$E2E/canaryd.log" || fail "503 not logged as held"
pass "409 re-read, 503 retried, still promoted"

# 1b. a PUT that lands but whose connection dies before its answer: on a kept-alive connection
# libcurl sends it again by itself and the copy gets 409 (on a fresh one the PUT fails): either
# way the read that follows finds the daemon's own write, which counts once, with its Slack
# message once
ctl start checkout --revision v2 || fail "start v2"
admin POST /faults '{"service":"kube","match":{"method":"PUT","path_regex":"virtualservices/checkout$"},"drop_connection":true,"process":true,"count":1}' >/dev/null
wait_phase checkout Promoted 40
grep -q "the write whose answer was lost had landed" "$E2E/canaryd.log" ||
	fail "the landed write was not recognised as ours"
ctl history checkout -o json | python3 -c "
import json, sys
d = json.load(sys.stdin)
steps = [e['to']['weight'] for e in d['entries'] if e['type'] == 'decision']
assert steps == [10, 25, 50, 100], steps
" || fail "v2's decisions are not exactly 10, 25, 50, 100"
for ev in 'progressed at 25' 'progressed at 50' 'promoted at 100'; do
	for _ in $(seq 25); do [ "$(slack_texts | grep -c "checkout.*$ev.*" )" -ge 2 ] && break; sleep 0.2; done
	# v1 and v2 each announce it once
	[ "$(slack_texts | grep -c "checkout.*$ev")" = 2 ] || fail "'$ev' announced $(slack_texts | grep -c "checkout.*$ev") times for v1 and v2"
done
pass "a PUT whose answer was lost counts once, announced once"

# 2. Datadog fails twice, then recovers: retried within the step
admin POST /faults '{"service":"datadog","status":500,"body":"{\"errors\":[\"Internal Server Error\"]}","count":2}' >/dev/null
ctl start search --revision v1 || fail "start search"
# (search's latency regresses once it has 25 %, so it may roll back a step later: remember the
# weight seen rather than reading it again)
seen=0
for _ in $(seq 100); do
	seen=$(route_weight shop search primary canary 2>/dev/null || echo 0)
	[ "$seen" -ge 25 ] 2>/dev/null && break
	sleep 0.1
done
[ "$seen" = 25 ] || fail "search did not progress past 10% after transient Datadog errors (saw $seen)"
grep -q "datadog query .* failed.*retrying" "$E2E/canaryd.log" || fail "datadog retry not logged"
pass "transient Datadog errors retried"
ctl abort search >/dev/null
wait_phase search RolledBack 10

# 3. Datadog down for good: inconclusive, then paused; weights held
admin DELETE /faults >/dev/null
admin POST /faults '{"service":"datadog","status":503,"body":"","count":-1}' >/dev/null
ctl retry search || fail "retry search"
wait_phase search Paused 60
[ "$(route_weight shop search primary canary)" = 10 ] || fail "weights moved while Datadog was down"
ctl status search -o json | python3 -c "
import json,sys
c = json.load(sys.stdin)['canaries'][0]
assert c['inconclusive_checks'] >= 2, c
assert c['last_analysis']['result'] == 'inconclusive', c['last_analysis']
assert all(m['result'] == 'inconclusive' for m in c['last_analysis']['metrics']), c
" || fail "status after a Datadog outage"
pass "persistent Datadog outage: inconclusive, paused, weights held"
admin DELETE /faults >/dev/null
e2e_stop_daemon
