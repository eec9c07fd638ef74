#!/usr/bin/env bash
# PagerDuty (SPEC §10) against the sandbox's Events API v2: a rollback by analysis triggers one
# incident per rollout (dedup_key canaryd/<canary>/<started_usec>), naming the canary, the failed
# metric and its values, with the runbook and the report linked and the failed checks in
# custom_details; 429 and 5xx answers are retried and the event still arrives once; a restart
# sends nothing again; a rollback whose page a crash lost (the outbox without it) is paged at
# start-up; a retry resolves the incident; an abort by hand (level 3) does not page.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s e2e_setup
printf '0123456789abcdef0123456789abcdef\n' >"$E2E/creds/pd-key"
cat >>"$E2E/canaryd.yaml" <<EOF
pagerduty:
  routing_key_file: pd-key
  url: http://127.0.0.1:$(port pagerduty)
  levels: [1]
report_url: https://reports.example.com/canaryd
EOF
HTTP_PORT=$(free_port)
printf 'http:\n  listen: "127.0.0.1:%s"\n' "$HTTP_PORT" >>"$E2E/canaryd.yaml"

pd_events() { # the accepted events, one JSON object per line
	admin GET /pagerduty/events | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    p = e["event"].get("payload", {})
    print(json.dumps({"action": e["action"], "dedup_key": e["dedup_key"], "incident": e["incident"],
                      "severity": p.get("severity"), "summary": p.get("summary"),
                      "source": p.get("source"), "links": e["event"].get("links", []),
                      "details": p.get("custom_details", {})}))'
}
count_actions() { # ACTION: how many accepted
	pd_events | python3 -c "import json,sys; print(sum(json.loads(l)['action'] == '$1' for l in sys.stdin))"
}
wait_actions() { # ACTION N SECONDS
	for _ in $(seq $(($3 * 5))); do
		[ "$(count_actions "$1")" -ge "$2" ] && return 0
		sleep 0.2
	done
	fail "expected $2 $1 event(s) at PagerDuty, have $(count_actions "$1"): $(pd_events)"
}

# the first enqueue is throttled, the next one fails: both retried by the client
admin POST /faults '{"service":"pagerduty","status":429,"headers":{"Retry-After":"1"},"body":"{\"status\":\"throttle event\",\"message\":\"Requests for this service are arriving too quickly. Please retry later.\"}","count":1}' >/dev/null
admin POST /faults '{"service":"pagerduty","status":502,"body":"","count":1}' >/dev/null

e2e_start_daemon
ctl start search --revision v2 || fail "start"
wait_phase search RolledBack 30
started=$(vs_json shop search | json_get "d.get('object', d)['metadata']['annotations']['canaryd.io/state']" |
	json_get "d['started_at']")
started_usec=$(python3 -c "
from datetime import datetime
t = datetime.strptime('$started'.replace('Z', '+0000'), '%Y-%m-%dT%H:%M:%S.%f%z')
print(int(t.timestamp()) * 1000000 + t.microsecond)")
key="canaryd/search/$started_usec"
wait_actions trigger 1 20
trigger=$(pd_events | grep '"trigger"' | head -1)
echo "$trigger" | python3 -c "
import json, os, sys
e = json.loads(sys.stdin.read())
assert e['dedup_key'] == '$key', e['dedup_key']
assert e['severity'] == 'critical', e
assert e['source'] == 'search', e
s = e['summary']
assert 'search (shop) rolled back at 0%' in s and 'latency canary' in s and 'vs baseline' in s, s
hrefs = [l['href'] for l in e['links']]
assert 'https://runbooks.example.com/search' in hrefs, hrefs
rep = [h for h in hrefs if h.startswith('https://reports.example.com/canaryd/search/')]
assert rep, hrefs
# the link names the file the report writer saved
assert os.path.isfile('$E2E/state/reports/search/' + rep[0].rsplit('/', 1)[1]), rep
d = e['details']
assert d['canary'] == 'search' and d['namespace'] == 'shop' and d['level'] == '1', d
assert any(k == 'check latency' and v.startswith('fail') for k, v in d.items()), d
" || fail "trigger event: $trigger"
hits=$(admin GET /faults | python3 -c "import json,sys; print(sum(f['hits'] for f in json.load(sys.stdin)))")
[ "$hits" -ge 2 ] || fail "the 429 and the 502 were not both met (hits $hits)"
[ "$(count_actions trigger)" = 1 ] || fail "the retried trigger arrived more than once: $(pd_events)"
echo "trigger: $trigger"
pass "a rollback by analysis triggers one critical incident, retried through a 429 and a 502"

# a restart finds the page delivered: nothing is sent again
e2e_stop_daemon
e2e_start_daemon
sleep 3
[ "$(count_actions trigger)" = 1 ] || fail "a restart paged again: $(pd_events)"
pass "a restart sends nothing again"

# a crash between the rollback and its page: the outbox does not know it (since stays)
e2e_stop_daemon
python3 - "$E2E/state/pagerduty-outbox.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["events"] == [], o
o["canaries"] = {}
json.dump(o, open(sys.argv[1], "w"))
PY
e2e_start_daemon
wait_actions trigger 2 10
pd_events | grep '"trigger"' | tail -1 | grep -q "\"dedup_key\": \"$key\"" ||
	fail "the page lost to a crash was not sent at start-up with the same key: $(pd_events)"
[ "$(admin GET /pagerduty/events | json_get "len(d)")" = 2 ] || fail "more than the lost page was sent"
pass "a rollback whose page a crash lost is paged at start-up, on the same incident"

# a retry resolves the rollout's incident (the retried rollout may roll back again: a new one)
ctl retry search || fail "retry refused"
wait_actions resolve 1 10
pd_events | grep '"resolve"' | grep -q "\"dedup_key\": \"$key\", \"incident\": \"resolved\"" ||
	fail "the retry did not resolve $key: $(pd_events)"
pass "a retry resolves the incident"

# an abort by hand is level 3: not paged with levels [1] (checkout is healthy: it would not roll
# back on its own meanwhile)
ctl start checkout --revision v7 || fail "start checkout"
wait_phase checkout Progressing 10
ctl abort checkout --reason "by hand" || fail "abort refused"
wait_phase checkout RolledBack 5
sleep 2
pd_events | grep -q '"source": "checkout"' && fail "an abort by hand paged: $(pd_events)"
for _ in $(seq 50); do
	grep -q '"events":\[\]' "$E2E/state/pagerduty-outbox.json" && break
	sleep 0.2
done
grep -q '"events":\[\]' "$E2E/state/pagerduty-outbox.json" ||
	fail "events left in the outbox: $(cat "$E2E/state/pagerduty-outbox.json")"
pass "an abort by hand does not page; the outbox is empty once delivered"

metrics=$(curl -sS "http://127.0.0.1:$HTTP_PORT/metrics") || fail "no /metrics"
echo "$metrics" | grep -qx 'canaryd_pagerduty_outbox_depth 0' || fail "outbox depth: $metrics"
echo "$metrics" | grep -Eqx 'canaryd_pagerduty_events_total\{result="accepted"\} [1-9][0-9]*' ||
	fail "no accepted PagerDuty events counted"
echo "$metrics" | grep -qx 'canaryd_pagerduty_events_total{result="failed"} 0' || fail "failed events counted"
pass "/metrics counts the PagerDuty events and the outbox depth"
e2e_stop_daemon
