#!/usr/bin/env bash
# abort rolls back at once (no waiting for an analysis), is recorded with who asked, and is
# announced; canaryctl's exit codes for refused commands, usage errors and an absent daemon.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=30s e2e_setup
e2e_start_daemon

ctl start checkout --revision v3 || fail "start"
wait_phase checkout Progressing 10
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "step 1 weight not written"

t0=$(date +%s.%N)
ctl abort checkout --reason "pager fired" || fail "abort refused"
wait_phase checkout RolledBack 5
t1=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 3 else 1)" || fail "abort took $t1 - $t0 s"
[ "$(route_weight shop checkout primary canary)" = 0 ] || fail "canary weight not 0 after abort"
[ "$(route_weight shop checkout primary stable)" = 100 ] || fail "stable weight not 100 after abort"
pass "abort rolled back at once"

state=$(vs_json shop checkout | json_get "d.get('object', d)['metadata']['annotations']['canaryd.io/state']")
echo "$state" | json_get "d['reason']" | grep -qx "pager fired" || fail "reason not recorded: $state"
echo "$state" | json_get "d['actor']" | grep -qx "uid:$(id -u)" || fail "actor not recorded: $state"
pass "abort records who and why"

for _ in $(seq 30); do slack_texts | grep -qi "aborted" && break; sleep 0.2; done
slack_texts | grep -i "aborted" | grep -q checkout || fail "no aborted message on Slack"
pass "abort announced"

rc=0; ctl promote checkout 2>"$E2E/err" || rc=$?
[ $rc = 1 ] || fail "promote of a rolled-back canary: exit $rc, expected 1"
grep -q "not progressing" "$E2E/err" || fail "refusal reason missing: $(cat "$E2E/err")"
rc=0; ctl abort nosuch 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "abort of an unknown canary: exit $rc, expected 1"
rc=0; ctl promote 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "promote without a name: exit $rc, expected 2"
rc=0; ctl frobnicate x 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "unknown command: exit $rc, expected 2"
rc=0; "$CANARYCTL" --socket "$E2E/none.sock" status 2>/dev/null || rc=$?
[ $rc = 3 ] || fail "absent daemon: exit $rc, expected 3"
pass "canaryctl exit codes 1, 2, 3"

ctl retry checkout || fail "retry refused"
wait_phase checkout Progressing 5
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "retry did not restart at step 1"
ctl pause checkout || fail "pause refused"
wait_phase checkout Paused 5
ctl resume checkout || fail "resume refused"
wait_phase checkout Progressing 5
ctl promote checkout --full || fail "promote --full refused"
wait_phase checkout Promoted 5
[ "$(route_weight shop checkout primary canary)" = 100 ] || fail "promote --full did not write 100"
pass "retry, pause, resume, promote --full"
e2e_stop_daemon
