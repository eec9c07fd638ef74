#!/usr/bin/env bash
# A Slack event exactly once when a shard changes hands after a crash (issue 16, SPEC §6): HA
# daemons (2 shards, lease_duration 3s, bot token, each its own state_dir) roll out checkout.
#  1. Posted, then killed: the holder posts "progressed" to 25% and is killed -9 before it can
#     do anything more. The daemon that takes the shard over reads the thread, finds the event's
#     key and does not post it again.
#  2. Written, then killed before the post: chat.postMessage answers 503 (nothing posted), the
#     holder writes step 2 and is killed -9 with the event still in its outbox; the fault is
#     lifted. The next holder posts the thread's parent and the "progressed" reply, once each.
# Every event key is posted once in the end, and both rollouts are promoted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"
E2E_INTERVAL=2s
e2e_setup
slack_token_mode
LEASE_S=3
SHARDS=2
. "$(dirname "$0")/ha-helpers.sh"
start_daemon() { ha_write_config "$1" $SHARDS own && ha_start "$1"; } # I
holder_of_checkout() { # the index of the daemon holding checkout's shard, or "none"
	local s h
	s=$(ha_shard_of shop checkout $SHARDS)
	h=$(ha_leases | awk -v n="canaryd-shard-$s" '$1 == n && $2 != "-" {print $2}')
	for i in "${!PIDS[@]}"; do
		[ -n "$h" ] && [ "$(ha_identity "$i")" = "$h" ] && kill -0 "${PIDS[$i]}" 2>/dev/null &&
			{ echo "$i"; return; }
	done
	echo none
}
state() { # FIELD of checkout's annotation
	vs_json shop checkout | python3 -c "
import json, sys
o = json.load(sys.stdin)
a = (o['metadata'].get('annotations') or {}).get('canaryd.io/state')
print(json.loads(a).get('$1', '') if a else '')"
}
keys_posted() { # "COUNT KEY" for every event key chat.postMessage carried
	admin GET /slack/messages | python3 -c "
import collections, json, sys
c = collections.Counter()
for m in json.load(sys.stdin):
    if m.get('kind') != 'chat.postMessage':
        continue
    p = m.get('payload') or {}
    p = json.loads(p) if isinstance(p, str) else p
    k = ((p.get('metadata') or {}).get('event_payload') or {}).get('key', '')
    if k:
        c[k] += 1
for k, n in c.items():
    print(n, k)"
}
posts_of() { # REVISION EVENT -> how many posts carry that event's key
	keys_posted | awk -v p="checkout/$1/$2/" 'index($2, p) == 1 {n += $1} END {print n + 0}'
}
once() { # PREFIX: every key that starts with it was posted exactly once
	local bad
	bad=$(keys_posted | awk -v p="$1" 'index($2, p) == 1 && $1 != 1')
	[ -z "$bad" ] || { echo "posted more than once: $bad" >&2; return 1; }
}
wait_for() { # TRIES CMD...
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
has_holder() { OWNER=$(holder_of_checkout); [ "$OWNER" != none ]; }
at_step() { [ "$(state step)" = "$1" ]; }
posted() { [ "$(posts_of "$1" "$2")" -ge 1 ]; }
phase_is() { [ "$(state phase)" = "$1" ]; }
kill_owner() {
	kill -9 "${PIDS[$OWNER]}"
	wait "${PIDS[$OWNER]}" 2>/dev/null || true
	unset "PIDS[$OWNER]"
}
new_holder() { # OLD
	local h
	h=$(holder_of_checkout)
	[ "$h" != none ] && [ "$h" != "$1" ] && OWNER=$h
}

start_daemon 0
start_daemon 1
wait_for 200 has_holder || fail "nobody holds checkout's shard"
started() { ctl_i "$OWNER" start checkout --revision "$1" >/dev/null 2>&1; }

# -- 1. posted, then killed: not posted again --
wait_for 50 started r1 || fail "the holder refused start"
wait_for 200 posted r1 progressed || fail "r1: no 'progressed' post"
kill_owner
OLD=$OWNER
wait_for 300 new_holder "$OLD" || fail "r1: the shard was not taken over"
wait_for 100 grep -q "announcing progressed unless Slack shows it already" "$E2E/canaryd$OWNER.log" ||
	fail "r1: the new holder did not look for the last event: $(grep -h 'ha:\|slack' "$E2E/canaryd$OWNER.log" | tail -5)"
wait_for 400 phase_is Promoted || fail "r1: not promoted after the takeover: $(state phase)"
once checkout/r1/ || fail "r1: a duplicate post"
for ev in progressed promoted; do
	[ "$(posts_of r1 "$ev")" -ge 1 ] || fail "r1: no $ev post"
done
pass "r1: 'progressed' posted, holder killed -9, the new holder read the thread and did not post it again"

# -- 2. written, killed before the post: posted once by the next holder --
start_daemon 2
admin POST /faults '{"service":"slack","match":{"path_regex":"^/api/chat.postMessage"},"status":503,"body":"busy","count":-1}' >/dev/null
wait_for 50 started r2 || fail "the holder refused start of r2"
wait_for 300 at_step 2 || fail "r2: step 2 not written"
[ "$(posts_of r2 progressed)" = 0 ] || fail "r2: posted despite the 503s"
kill_owner
OLD=$OWNER
admin DELETE /faults >/dev/null
wait_for 300 new_holder "$OLD" || fail "r2: the shard was not taken over"
wait_for 200 posted r2 progressed || fail "r2: the new holder did not post 'progressed'"
wait_for 400 phase_is Promoted || fail "r2: not promoted after the takeover: $(state phase)"
sleep 3 # a second copy, if there were one, would go out now
once checkout/ || fail "a duplicate post"
echo "$(keys_posted | grep -c ' checkout/') event keys posted, $(keys_posted | grep -c '/parent$') thread parents"
pass "r2: written, holder killed before the post, the next holder posted it once"

for i in "${!PIDS[@]}"; do
	kill -TERM "${PIDS[$i]}"
	rc=0; wait "${PIDS[$i]}" || rc=$?
	[ $rc = 0 ] || fail "daemon $i exited $rc after SIGTERM"
	if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E/canaryd$i.log"; then
		fail "a sanitizer report in daemon $i's log"
	fi
done
PIDS=()
pass "SIGTERM: every daemon exited 0, no sanitizer report"
