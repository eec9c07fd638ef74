#!/usr/bin/env bash
# The control socket: created 0660 with the configured group; a command's reply is its real
# decision (the new phase, or why it was refused when it came to be decided), or after a
# bounded wait "queued, not applied yet" when Kubernetes keeps failing; every command is
# recorded with the peer's uid, gid and pid.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=30s e2e_setup
group=$(getent group nogroup >/dev/null && echo nogroup || echo 65534)
sed -i "s|^  socket: .*|&\n  group: $group|" "$E2E/canaryd.yaml"
e2e_start_daemon

mode=$(stat -c '%a %g' "$E2E/control.sock")
[ "$mode" = "660 $(getent group "$group" | cut -d: -f3 || echo 65534)" ] ||
	[ "$mode" = "660 65534" ] || fail "socket mode/group is '$mode'"
pass "socket 0660, group $group"

out=$(ctl start checkout --revision c1) || fail "start"
[ "$out" = "start checkout: done: Progressing, step 1/4, canary weight 10%" ] ||
	fail "start reply: $out"
out=$(ctl promote checkout) || fail "promote"
[ "$out" = "promote checkout: done: Progressing, step 2/4, canary weight 25%" ] ||
	fail "promote reply: $out"
pass "replies name the decision: $out"

# Two promotes sent at once: both pass the dry run on the cached state, the second is decided
# after the first landed; with --full the first ends the rollout, so the second is refused,
# and says so (exit 1) instead of a hollow "accepted".
ctl promote checkout --full >"$E2E/p1" 2>&1 &
p1=$!
ctl promote checkout >"$E2E/p2" 2>&1 &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
if [ $rc1 = 0 ] && [ $rc2 = 1 ]; then
	grep -q "not progressing" "$E2E/p2" || fail "second promote: $(cat "$E2E/p2")"
	grep -q "control: refused promote checkout from uid 0 gid 0 pid [0-9]*: not progressing" \
		"$E2E/canaryd.log" || fail "the refusal at decision time is not logged with the peer"
elif [ $rc2 = 0 ] && [ $rc1 = 0 ]; then
	# the plain promote went first (25 -> 50), then --full (-> 100): both really applied
	grep -q "Promoted" "$E2E/p1" || fail "promote --full: $(cat "$E2E/p1")"
else
	fail "concurrent promotes: rc $rc1/$rc2: $(cat "$E2E/p1" "$E2E/p2")"
fi
[ "$(phase_of checkout)" = Promoted ] || fail "not promoted"
pass "a command refused at decision time is reported as refused (rc $rc1/$rc2)"

# Kubernetes PUTs fail for a while: the reply says queued, not applied, after a bounded wait,
# and the command lands once Kubernetes recovers.
admin POST /faults '{"service":"kube","match":{"method":"PUT","path_regex":"virtualservices/search$"},"status":503,"body":"{\"kind\":\"Status\",\"code\":503,\"message\":\"down\"}","count":-1}' >/dev/null
t0=$(date +%s)
out=$(ctl start search --revision s1) || fail "start during outage exited $?"
t1=$(date +%s)
echo "$out" | grep -q "queued, not applied yet" || fail "outage reply: $out"
[ $((t1 - t0)) -le 9 ] || fail "the reply took $((t1 - t0)) s"
admin DELETE /faults >/dev/null
wait_phase search Progressing 40
pass "during an outage: '$out' after $((t1 - t0)) s; applied after recovery"

# every command in the journal with uid, gid and pid
python3 - "$E2E/state/checkout.journal" <<'PY' || fail "journal peers"
import json, sys
cmds = [json.loads(l) for l in open(sys.argv[1])]
cmds = [e for e in cmds if e["type"] == "command"]
assert len(cmds) >= 6, cmds
for e in cmds:
    assert set(e["peer"]) == {"uid", "gid", "pid"} and e["peer"]["pid"] > 1, e
PY
grep -q 'promote requested by uid:0 (gid 0, pid [0-9]*)' "$E2E/canaryd.log" ||
	fail "the log lacks the peer's gid and pid"
pass "commands recorded with uid, gid and pid"

# a refusal names what it refers to (a typo shows), for a command and for status alike
for args in "promote chekcout" "status chekcout" "history chekcout"; do
	rc=0
	# shellcheck disable=SC2086
	out=$(ctl $args 2>&1) || rc=$?
	[ $rc = 1 ] && grep -q 'no such canary "chekcout"' <<<"$out" ||
		fail "$args: exit $rc: $out"
done
pass "an unknown canary is refused by its name (exit 1)"
e2e_stop_daemon
