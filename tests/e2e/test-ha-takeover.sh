#!/usr/bin/env bash
# HA by shard Leases: three daemons on one sandbox (6 shards, lease_duration 3s) spread the
# shards 2/2/2; only the holder of a canary's shard accepts commands and writes it; kill -9 of
# that holder mid-rollout -> another daemon takes the shard over within lease duration + one
# interval and finishes the rollout, with no write from two daemons and no 409; SIGTERM releases
# the Leases (holderIdentity "").
. "$(dirname "$0")/lib.sh"
E2E_INTERVAL=1s
e2e_setup
LEASE_S=3
SHARDS=6
. "$(dirname "$0")/ha-helpers.sh"

declare -a IDS
for i in 0 1 2; do
	ha_write_config "$i" $SHARDS
	ha_start "$i"
done

for i in 0 1 2; do
	for _ in $(seq 100); do
		IDS[$i]=$(ha_identity "$i")
		[ -n "${IDS[$i]}" ] && break
		sleep 0.1
	done
	[ -n "${IDS[$i]}" ] || fail "daemon $i did not start HA: $(tail -5 "$E2E/canaryd$i.log")"
done

holders() { # one line per shard: "<index> <holder>"
	admin GET "/kube/objects?resource=leases&ns=$HA_NS" | python3 -c "
import json, sys
for o in json.load(sys.stdin):
    n = o['metadata']['name']
    if n.startswith('canaryd-shard-'):
        print(n[len('canaryd-shard-'):], o['spec'].get('holderIdentity', ''))"
}

# -- fair spread: 2/2/2 --
spread=
for _ in $(seq 200); do
	spread=$(holders | awk '{print $2}' | sort | uniq -c | awk '{print $1}' | sort | tr '\n' ' ')
	n_holders=$(holders | awk '$2 != ""' | wc -l)
	[ "$spread" = "2 2 2 " ] && [ "$n_holders" = $SHARDS ] && break
	sleep 0.1
done
[ "$spread" = "2 2 2 " ] || fail "shards not spread fairly: $(holders | tr '\n' ';')"
pass "6 shards spread 2/2/2 over three daemons"

owner_of() { # SHARD -> daemon index
	local h
	h=$(holders | awk -v s="$1" '$1 == s {print $2}')
	for i in 0 1 2; do [ "${IDS[$i]}" = "$h" ] && { echo "$i"; return; }; done
	echo none
}
S=$(ha_shard_of shop checkout $SHARDS)
OWNER=$(owner_of "$S")
[ "$OWNER" != none ] || fail "shard $S has no holder"

# Only the holder accepts the command.
for i in 0 1 2; do
	[ "$i" = "$OWNER" ] && continue
	rc=0; ctl_i "$i" start checkout --revision ha1 2>/dev/null || rc=$?
	[ $rc = 1 ] || fail "daemon $i (not the holder) accepted start (exit $rc)"
done
for _ in $(seq 50); do
	ctl_i "$OWNER" start checkout --revision ha1 >/dev/null 2>&1 && break
	sleep 0.1
done
phase_i() { ctl_i "$1" status checkout -o json | json_get "d['canaries'][0]['phase']"; }
step_i() { ctl_i "$1" status checkout -o json | json_get "d['canaries'][0].get('step', 0)"; }
for _ in $(seq 100); do [ "$(phase_i "$OWNER")" = Progressing ] && break; sleep 0.1; done
[ "$(phase_i "$OWNER")" = Progressing ] || fail "rollout did not start on the holder"
pass "only the shard holder (daemon $OWNER) accepts commands"

# -- kill -9 the holder mid-rollout --
sleep 1.2
kill -9 "${PIDS[$OWNER]}"
wait "${PIDS[$OWNER]}" 2>/dev/null || true
T_KILL=$(date +%s.%N)
lease_time() { # SHARD FIELD -> seconds since the epoch of the Lease's renewTime or acquireTime
	admin GET "/kube/objects?resource=leases&ns=$HA_NS" | python3 -c "
import json, sys, datetime
for o in json.load(sys.stdin):
    if o['metadata']['name'] == 'canaryd-shard-$1':
        t = o['spec']['$2'].replace('Z', '+00:00')
        print(datetime.datetime.fromisoformat(t).timestamp())"
}
LAST_RENEW=$(lease_time "$S" renewTime) # the dead holder's last renewal
NEW=none
for _ in $(seq 300); do
	NEW=$(owner_of "$S")
	[ "$NEW" != none ] && [ "$NEW" != "$OWNER" ] && break
	sleep 0.05
done
T_TAKE=$(date +%s.%N)
[ "$NEW" != none ] && [ "$NEW" != "$OWNER" ] || fail "shard $S not taken over"
TAKEOVER=$(python3 -c "print(round($T_TAKE - $T_KILL, 2))")
# The bound is the daemons' own: from the dead holder's last renewal to the new holder's
# acquireTime, both as the Lease records them (this script's polling, slow on a loaded machine,
# is not measured): lease duration + one interval, plus 1 s for timer slack and the API call.
ACQUIRED=$(lease_time "$S" acquireTime)
GAP=$(python3 -c "print(round($ACQUIRED - $LAST_RENEW, 2))")
echo "takeover of shard $S: acquired ${GAP}s after the last renewal, seen ${TAKEOVER}s after kill -9 (lease ${LEASE_S}s, interval 1s)"
python3 -c "import sys; sys.exit(0 if 0 < $GAP <= $LEASE_S + 1 + 1 else 1)" ||
	fail "takeover: acquired ${GAP}s after the last renewal"
for _ in $(seq 300); do [ "$(phase_i "$NEW")" = Promoted ] && break; sleep 0.1; done
[ "$(phase_i "$NEW")" = Promoted ] || fail "daemon $NEW did not finish the rollout: $(phase_i "$NEW")"
pass "daemon $NEW took shard $S over ${GAP}s after the last renewal and promoted checkout"

# -- every VirtualService write came from the shard's holder of the moment; no 409 --
admin GET "/requests?service=kube&method=PUT&path_regex=virtualservices" >"$E2E/puts.json"
python3 - "$E2E/puts.json" "$T_KILL" "${IDS[$OWNER]}" "${IDS[$NEW]}" <<-'EOF' || fail "write attribution"
	import json, sys
	puts, t_kill, old, new = json.load(open(sys.argv[1])), float(sys.argv[2]), sys.argv[3], sys.argv[4]
	bad = []
	for r in puts:
	    ua = r["headers"].get("user-agent", "")
	    who = old if "(%s)" % old in ua else new if "(%s)" % new in ua else ua
	    want = old if r["time"] < t_kill else new
	    if who != want or r["status"] == 409:
	        bad.append((r["seq"], who, r["status"]))
	if not puts or bad:
	    print("unexpected writes: %s (of %d)" % (bad, len(puts)), file=sys.stderr)
	    sys.exit(1)
	print("%d VirtualService writes, each from the holder of the moment, no 409" % len(puts))
EOF
pass "no double write"

# -- the dead daemon's member Lease is removed by the others after 5 lease durations --
members() {
	admin GET "/kube/objects?resource=leases&ns=$HA_NS" |
		python3 -c "import json,sys; print(' '.join(o['metadata']['name'] for o in json.load(sys.stdin) if o['metadata']['name'].startswith('canaryd-member-')))"
}
dead_member=canaryd-member-${IDS[$OWNER]}
members | grep -qw -- "$dead_member" || fail "no member Lease $dead_member to begin with: $(members)"
for _ in $(seq 150); do
	members | grep -qw -- "$dead_member" || break
	sleep 0.2
done
members | grep -qw -- "$dead_member" && fail "the dead daemon's member Lease is still there: $(members)"
[ "$(members | wc -w)" = 2 ] || fail "the live daemons' member Leases went too: $(members)"
pass "the dead daemon's member Lease was removed; the live ones stay"

# -- graceful stop releases the Leases --
for i in 0 1 2; do
	[ "$i" = "$OWNER" ] && continue
	kill -TERM "${PIDS[$i]}"
	rc=0; wait "${PIDS[$i]}" || rc=$?
	[ $rc = 0 ] || fail "daemon $i exited $rc after SIGTERM"
done
PIDS=()
left=$(holders | awk -v dead="${IDS[$OWNER]}" '$2 != "" && $2 != dead' | wc -l)
[ "$left" = 0 ] || fail "$left shard leases still held after SIGTERM: $(holders | tr '\n' ';')"
pass "SIGTERM released every lease"
