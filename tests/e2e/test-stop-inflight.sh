#!/usr/bin/env bash
# SIGTERM while a Kubernetes write is in flight: the write completes, the state on the
# VirtualService matches its weights, and canaryd exits 0 within 10 s.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=30s e2e_setup
e2e_start_daemon
# the first PUT of checkout takes 2 s to answer
admin POST /faults '{"service":"kube","match":{"method":"PUT","path_regex":"virtualservices/checkout$"},"delay_ms":2000,"count":1}' >/dev/null
ctl start checkout --revision v1 >/dev/null || fail "start"
for _ in $(seq 50); do
	admin GET "/requests?service=kube&method=PUT" | json_get "len(d)" | grep -qx 0 || break
	sleep 0.05
done
sleep 0.3
t0=$(date +%s)
e2e_stop_daemon
t1=$(date +%s)
[ $((t1 - t0)) -le 10 ] || fail "stop took $((t1 - t0)) s"
vs_json shop checkout | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('object', d)
st = json.loads(d['metadata']['annotations']['canaryd.io/state'])
w = [x.get('weight', 0) for r in d['spec']['http'] if r.get('name') == 'primary'
     for x in r['route'] if x['destination'].get('subset') == 'canary'][0]
assert st['phase'] == 'Progressing' and st['weight'] == 10 and w == 10, (st, w)
" || fail "the in-flight write did not complete consistently"
pass "in-flight write completed before exit; state and weights agree"
