#!/usr/bin/env bash
# HA settings on SIGHUP (issue 16): two daemons (4 shards, lease_duration 3s) spread the shards
# 2/2 while checkout rolls out. SIGHUP of daemon 0 with `shards: 6`: it releases every Lease
# without restarting (same PID), comes back under a new member Lease that says 6 shards, and
# while daemon 1 still says 4 neither holds a shard (both stand back: shard i of 4 and shard j
# of 6 can hold the same canary) and no VirtualService is written. SIGHUP of daemon 1 with
# `shards: 6`: the six shards spread 3/3 and the rollout goes on to Promoted, every write from
# the holder of the moment. A reload that keeps `ha:` releases nothing.
. "$(dirname "$0")/lib.sh"
E2E_INTERVAL=1s
e2e_setup
LEASE_S=3
. "$(dirname "$0")/ha-helpers.sh"
for i in 0 1; do
	ha_write_config "$i" 4
	ha_start "$i"
done

held() { ha_leases | awk '$1 ~ /^canaryd-shard-/ && $2 != "-"' | wc -l; }
wait_for() { # TRIES CMD...: until CMD succeeds, 0.1 s apart (CMD is run each time)
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
spread_is() { # "A B": held shards per daemon, sorted
	[ "$(ha_leases | awk '$1 ~ /^canaryd-shard-/ && $2 != "-" {print $2}' | sort | uniq -c |
		awk '{print $1}' | sort | tr '\n' ' ')" = "$1 " ]
}

wait_for 200 spread_is "2 2" || fail "4 shards not spread 2/2: $(ha_leases | tr '\n' ';')"
ID0=$(ha_identity 0)
pass "4 shards spread 2/2 over two daemons"
ha_leases | awk -v m="canaryd-member-$ID0" '$1 == m && $3 == 4 {f=1} END {exit !f}' ||
	fail "daemon 0's member Lease does not say 4 shards: $(ha_leases | tr '\n' ';')"

# the rollout, from whichever daemon holds checkout's shard
started() {
	for i in 0 1; do ctl_i "$i" start checkout --revision r1 >/dev/null 2>&1 && return 0; done
	return 1
}
wait_for 50 started || fail "no daemon accepted start"
phase() { # the phase the VirtualService's annotation holds
	vs_json shop checkout | python3 -c "
import json, sys
o = json.load(sys.stdin)
print(json.loads(o['metadata']['annotations']['canaryd.io/state'])['phase'])"
}
phase_is() { [ "$(phase)" = "$1" ]; }
held_is() { [ "$(held)" = "$1" ]; }
wait_for 100 phase_is Progressing || fail "checkout did not start"

# a reload that keeps ha: releases nothing
kill -HUP "${PIDS[0]}"
wait_for 50 grep -q "configuration reloaded" "$E2E/canaryd0.log" || fail "reload 1 not applied"
grep -q "releasing every shard lease" "$E2E/canaryd0.log" && fail "a reload without ha: changes released the leases"
pass "a reload that keeps ha: keeps the shards"

# -- daemon 0 to 6 shards: both stand back --
ha_write_config 0 6
kill -HUP "${PIDS[0]}"
T_STAND=$(date +%s.%N)
wait_for 100 grep -q "releasing every shard lease first" "$E2E/canaryd0.log" ||
	fail "daemon 0 did not hand over: $(tail -5 "$E2E/canaryd0.log")"
new0() { [ "$(ha_identity 0)" != "$ID0" ]; }
wait_for 100 new0 || fail "daemon 0 did not start its new shard leases"
kill -0 "${PIDS[0]}" || fail "daemon 0 exited on the reload"
wait_for 100 held_is 0 || fail "shards still held while the members disagree: $(ha_leases | tr '\n' ';')"
grep -q "hashes canaries onto 6 shards, this daemon onto 4" "$E2E/canaryd1.log" ||
	fail "daemon 1 did not say why it stands back: $(tail -5 "$E2E/canaryd1.log")"
ID0=$(ha_identity 0)
ha_leases | awk -v m="canaryd-member-$ID0" '$1 == m && $3 == 6 {f=1} END {exit !f}' ||
	fail "daemon 0's new member Lease does not say 6 shards: $(ha_leases | tr '\n' ';')"
sleep $((LEASE_S + 1)) # several rounds and analysis intervals: still nobody
[ "$(held)" = 0 ] || fail "a shard was taken while the members disagree: $(ha_leases | tr '\n' ';')"
pass "daemon 0 reloaded to 6 shards in place (same PID); while daemon 1 says 4 nobody holds a shard"

# -- daemon 1 to 6 shards: 3/3, and the rollout goes on --
ha_write_config 1 6
kill -HUP "${PIDS[1]}"
T_AGREE=$(date +%s.%N)
wait_for 200 spread_is "3 3" || fail "6 shards not spread 3/3: $(ha_leases | tr '\n' ';')"
pass "both at 6 shards: spread 3/3"
wait_for 300 phase_is Promoted || fail "checkout not promoted after the handover: $(phase)"
pass "checkout promoted after the handover"

admin GET "/requests?service=kube&method=PUT&path_regex=virtualservices" >"$E2E/puts.json"
python3 - "$E2E/puts.json" "$T_STAND" "$T_AGREE" <<-'EOF' || fail "writes while the members disagreed"
	import json, sys
	puts, t0, t1 = json.load(open(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3])
	# from a second after daemon 0's SIGHUP (a write already on its way may land) until
	# daemon 1's SIGHUP, nobody holds checkout's shard
	during = [r["seq"] for r in puts if t0 + 1 < r["time"] < t1]
	if during or any(r["status"] == 409 for r in puts):
	    print("writes while nobody should act: %s; 409s: %s" % (
	        during, [r["seq"] for r in puts if r["status"] == 409]), file=sys.stderr)
	    sys.exit(1)
EOF
pass "no VirtualService write while the members disagreed, no 409"

for i in 0 1; do
	kill -TERM "${PIDS[$i]}"
	rc=0; wait "${PIDS[$i]}" || rc=$?
	[ $rc = 0 ] || fail "daemon $i exited $rc after SIGTERM"
done
PIDS=()
[ "$(held)" = 0 ] || fail "shard leases still held after SIGTERM: $(ha_leases | tr '\n' ';')"
for i in 0 1; do
	if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E/canaryd$i.log"; then
		fail "a sanitizer report in daemon $i's log"
	fi
done
pass "SIGTERM released every lease; no sanitizer report"
