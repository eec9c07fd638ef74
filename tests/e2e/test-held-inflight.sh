#!/usr/bin/env bash
# A daemon killed after its PUT reached the API server, but before the server applied it (a
# slow server): the restarted daemon reads the object while the dead daemon's write is still
# in flight. The Slack messages held on that write must wait for it, not be dropped as "did not
# land": when the write lands, they go out, once. (A drop here lost a "started" in e2e/chaos.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

E2E_INTERVAL=30s e2e_setup
slack_token_mode
e2e_start_daemon
# the API server holds checkout's next PUT 8 s before applying it
admin POST /faults '{"service":"kube","match":{"method":"PUT","path_regex":"virtualservices/checkout$"},
	"delay_ms":8000,"count":1}' >/dev/null
ctl start checkout --revision v7 >/dev/null 2>&1 &
CTL_PID=$!
for _ in $(seq 100); do
	admin GET '/requests?service=kube&path_regex=virtualservices/checkout$' |
		python3 -c "import json,sys; sys.exit(not any(r['method'] == 'PUT' for r in json.load(sys.stdin)))" &&
		break
	sleep 0.05
done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
wait "$CTL_PID" 2>/dev/null || true
DAEMON_PID=
e2e_start_daemon
[ "$(route_weight shop checkout primary canary)" != 10 ] ||
	fail "the PUT was applied before the restarted daemon read the object; the test proves nothing"
wait_phase checkout Progressing 15 # the dead daemon's write lands; the watch shows it
slack_outbox_idle 30
report=$(slack_report checkout)
echo "$report" | python3 -c "
import json, sys
r = json.load(sys.stdin)
started = [e for e in r['events'] if e == 'started']
if len(r['parents']) != 1 or len(started) != 1 or r['bad_thread']:
    print('slack: %s' % r, file=sys.stderr)
    sys.exit(1)" || fail "the held 'started' was not posted exactly once in its thread"
grep -q "dropped .* held message" "$E2E/canaryd.log" &&
	fail "a held message was dropped although its write landed"
pass "held messages of a write still in flight waited for it and went out once"
