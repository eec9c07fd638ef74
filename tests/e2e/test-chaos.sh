#!/usr/bin/env bash
# Crash safety (SPEC §4): canaryd is killed with SIGKILL at random instants, at least
# CHAOS_KILLS times over several rollouts of both canaries, and restarted each time. Then the
# sandbox's write log must show: every write keeps each route's weights summing to 100 with a
# canary weight of 0 or a step weight equal to the state's; within each rollout no step is
# skipped or applied twice; every rollout ends as it does without kills (checkout promoted
# 10 -> 25 -> 50 -> 100, search rolled back at 25%); and no Slack event is posted twice unless
# the second is marked as a re-send (SPEC §6, webhook mode). Seeded: CHAOS_SEED fixes the
# kill instants (the daemon's own timing still varies from run to run).
. "$(dirname "$0")/lib.sh"

SEED=${CHAOS_SEED:-20261122}
KILLS=${CHAOS_KILLS:-32}
RANDOM=$SEED
echo "chaos: seed $SEED, at least $KILLS kills"

E2E_INTERVAL=1s e2e_setup
e2e_start_daemon

round=0
kills=0
declare -A want
next_round() {
	round=$((round + 1))
	want[checkout]=c$round
	want[search]=s$round
}
next_round

# Prints "PHASE REVISION" of a canary, or nothing when the daemon does not answer.
where() {
	ctl status "$1" -o json 2>/dev/null |
		json_get "d['canaries'][0]['phase'] + ' ' + (d['canaries'][0]['revision'] or '-')" \
			2>/dev/null || true
}

deadline=$((SECONDS + 110))
while :; do
	[ $SECONDS -lt $deadline ] || fail "chaos did not finish in time (round $round, $kills kills)"
	finished=1
	for name in checkout search; do
		read -r phase rev <<<"$(where "$name")" || true
		if [ "${rev:-}" != "${want[$name]}" ]; then
			finished=0
			# lost on a kill, or never sent: (re)send. A repeat is refused by revision
			# (running, promoted or rolled back), as a CD pipeline's retry would be.
			[ "${phase:-Unknown}" = Unknown ] ||
				ctl start "$name" --revision "${want[$name]}" >/dev/null 2>&1 || true
		elif [ "$phase" != Promoted ] && [ "$phase" != RolledBack ]; then
			finished=0
		fi
	done
	if [ $finished = 1 ]; then
		[ $kills -ge "$KILLS" ] && break
		next_round
		continue
	fi
	if [ $kills -lt "$KILLS" ]; then
		ms=$((50 + RANDOM % 1400))
		sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
		kills=$((kills + 1))
		e2e_start_daemon
	else
		sleep 0.2
	fi
done
echo "chaos: $kills kills over $round rounds of 2 rollouts in ${SECONDS}s"
e2e_stop_daemon

admin GET /kube/writes >"$E2E/writes.json"
admin GET /slack/messages >"$E2E/slack.json"
# CHAOS_KEEP=DIR keeps the evidence for a closer look
[ -z "${CHAOS_KEEP:-}" ] || cp "$E2E/writes.json" "$E2E/slack.json" "$E2E/canaryd.log" "$CHAOS_KEEP/"
python3 - "$E2E/writes.json" "$E2E/slack.json" "$round" <<'PY' || fail "the write log breaks an invariant"
import json, re, sys
writes = json.load(open(sys.argv[1]))
messages = json.load(open(sys.argv[2]))
rounds = int(sys.argv[3])
STEPS = [10, 25, 50, 100]
expect = {"checkout": ([10, 25, 50, 100], "Promoted"), "search": ([10, 25, 0], "RolledBack")}
problems = []

def state(obj):
    if not obj:
        return None
    a = (obj.get("metadata", {}).get("annotations") or {}).get("canaryd.io/state")
    return json.loads(a) if a else None

def canary_weight(obj):
    ws = set()
    for r in obj["spec"].get("http", []):
        route = r.get("route") or []
        total = sum(d.get("weight", 0) for d in route)
        names = [d["destination"].get("subset") for d in route]
        if "canary" in names and total != 100:
            problems.append("route %s weights sum to %d" % (r.get("name"), total))
        if r.get("name") == "primary":
            ws.add([d.get("weight", 0) for d in route
                    if d["destination"].get("subset") == "canary"][0])
    return ws.pop() if len(ws) == 1 else None

rollouts = {}  # (canary, started_at) -> [weights written, in order], final state
n = 0
for w in writes:
    if w.get("resource") != "virtualservices" or w.get("bypass") or w["name"] not in expect:
        continue
    n += 1
    name = w["name"]
    before, after = state(w["before"]), state(w["after"])
    cw = canary_weight(w["after"])
    if after is None:
        problems.append("%s: a write without state" % name)
        continue
    if cw != after["weight"]:
        problems.append("%s: routes hold %s%%, state says %s%%" % (name, cw, after["weight"]))
    if cw not in STEPS + [0]:
        problems.append("%s: weight %s is not a step" % (name, cw))
    key = (name, after["started_at"])
    r = rollouts.setdefault(key, {"weights": [], "revision": after["revision"]})
    if before and before["started_at"] == after["started_at"]:
        bw = canary_weight(w["before"])
        if cw != bw:
            r["weights"].append(cw)
        if after["step"] not in (before["step"], before["step"] + 1):
            problems.append("%s: step %d -> %d" % (name, before["step"], after["step"]))
        if (before["step"] == after["step"] and before["phase"] == after["phase"] == "Progressing"
                and before["step_started_at"] != after["step_started_at"]
                and after["analyses"] == before["analyses"]):
            problems.append("%s: step %d applied again (its wait restarted without an analysis)"
                            % (name, after["step"]))
        if before["phase"] in ("Promoted", "RolledBack"):
            problems.append("%s: wrote after %s in the same rollout" % (name, before["phase"]))
    else:
        if after["step"] != 1 or cw != 10 or after["phase"] != "Progressing":
            problems.append("%s: a new rollout that does not start at step 1" % name)
        r["weights"].append(cw)
    r["final"] = after["phase"]

for (name, started), r in sorted(rollouts.items(), key=lambda kv: kv[0][1]):
    want_w, want_phase = expect[name]
    if r["weights"] != want_w or r["final"] != want_phase:
        problems.append("%s %s: weights %s ending %s, expected %s ending %s" % (
            name, r["revision"], r["weights"], r["final"], want_w, want_phase))
for name in expect:
    got = sorted(r["revision"] for (c, _), r in rollouts.items() if c == name)
    want = sorted("%s%d" % (name[0], i) for i in range(1, rounds + 1))
    if got != want:
        problems.append("%s: rollouts %s, expected %s" % (name, got, want))

# Slack: one message per (canary, revision, event, weight); a second only as a marked re-send
seen, dup, resent = {}, 0, 0
for m in messages:
    p = m.get("payload") or {}
    if isinstance(p, str):
        p = json.loads(p)
    text = p.get("text", "")
    mt = re.match(r"(\S+) \(shop\): (.+?) at (\d+)%", text)
    rev = re.search(r'Revision\*?\\n`?([cs]\d+)', json.dumps(p.get("blocks", [])))
    if not mt:
        continue
    key = (mt.group(1), rev.group(1) if rev else "?", mt.group(2), mt.group(3))
    seen[key] = seen.get(key, 0) + 1
    if "(re-sent)" in text:
        resent += 1
    elif seen[key] > 1:
        dup += 1
        problems.append("slack: %s posted twice without a re-send mark" % (key,))
expected_events = rounds * (4 + 3)
print("chaos: %d writes, %d rollouts checked; slack: %d of %d events posted, %d re-sent, %d duplicates"
      % (n, len(rollouts), len(seen), expected_events, resent, dup))
for p in problems[:20]:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
PY
pass "no step skipped or applied twice, weights valid, outcomes as without kills ($kills kills, seed $SEED)"
