#!/usr/bin/env bash
# Network chaos (issue 16): the sandbox delays, stalls, truncates, resets (before the response,
# mid-body, after the request took effect) and trickles a share of the requests to every
# service, Kubernetes watch streams included (POST /faults/chaos, seeded), while rounds of
# rollouts of both canaries run for NETCHAOS_SECONDS (40), and on until every service had a
# fault (at most three times as long). Then: every rollout ends as without
# faults (checkout through exactly 10, 25, 50, 100 to Promoted; search 10, 25, then RolledBack,
# never promoted); every VirtualService write holds weights in 0..100 summing to 100 with the
# canary at a step's weight or 0; every step advance follows a passing analysis of that step in
# the decision journal (no promotion on missing data); every Slack event is delivered exactly
# once (bot token: one post per event key); the daemon exits 0 on SIGTERM with no sanitizer
# report. NETCHAOS_SEED, NETCHAOS_RATE and NETCHAOS_KINDS vary the mix; NETCHAOS_KEEP=DIR keeps
# the evidence.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

SEED=${NETCHAOS_SEED:-20261207}
RATE=${NETCHAOS_RATE:-0.2}
# a daemon opens a watch only every few minutes unless it is cut: every watch gets a fault
WATCH_RATE=${NETCHAOS_WATCH_RATE:-1}
SECS=${NETCHAOS_SECONDS:-40} # 40 s in CI (the suite must stay under 15 minutes)
KINDS=${NETCHAOS_KINDS:-'["delay","stall","truncate","reset","reset_mid_body","reset_after_effect","slow"]'}
echo "network chaos: seed $SEED, rate $RATE, ${SECS}s of rollouts"

E2E_INTERVAL=1s e2e_setup
slack_token_mode
admin POST /faults/chaos "{\"service\":\"*\",\"rate\":$RATE,\"watch_rate\":$WATCH_RATE,
	\"seed\":$SEED,\"kinds\":$KINDS}" \
	>/dev/null || fail "chaos on"
e2e_start_daemon

where() { # NAME -> "PHASE REVISION", or nothing when the daemon does not answer
	ctl status "$1" -o json 2>/dev/null |
		json_get "d['canaries'][0]['phase'] + ' ' + (d['canaries'][0]['revision'] or '-')" \
			2>/dev/null || true
}

declare -A want
round=1 start=$SECONDS
want[checkout]=c1 want[search]=s1
deadline=$((SECONDS + 60))
while :; do
	if [ $SECONDS -ge $deadline ]; then
		ctl status >&2 || true
		fail "round $round did not finish within 60 s"
	fi
	finished=1
	for name in checkout search; do
		read -r phase rev <<<"$(where "$name")" || true
		if [ "${rev:-}" != "${want[$name]}" ]; then
			finished=0
			# a start refused because the VirtualService could not be read is sent again; a
			# repeat is refused by revision
			[ "${phase:-Unknown}" = Unknown ] ||
				ctl start "$name" --revision "${want[$name]}" >/dev/null 2>&1 || true
		elif [ "$phase" = Paused ]; then
			fail "$name ${want[$name]} paused (inconclusive analyses past the limit)"
		elif [ "$phase" != Promoted ] && [ "$phase" != RolledBack ]; then
			finished=0
		fi
	done
	if [ $finished = 1 ]; then
		# at least SECS, and on until chaos reached every service (a few Datadog requests
		# per round can all escape it): at most three times as long
		if [ $((SECONDS - start)) -ge "$SECS" ]; then
			[ $((SECONDS - start)) -ge $((3 * SECS)) ] && break
			admin GET /faults/chaos | json_get "all(d['injected'].get(s) for s in
				('kube', 'kube-watch', 'datadog', 'slack')) or sys.exit(1)" >/dev/null 2>&1 &&
				break
		fi
		round=$((round + 1))
		want[checkout]=c$round want[search]=s$round
		deadline=$((SECONDS + 60))
		continue
	fi
	sleep 0.2
done
# the last Slack messages go out under chaos too, then the network heals
slack_outbox_idle 60
admin DELETE /faults/chaos >"$E2E/chaos.json"
echo "network chaos: $round rounds of 2 rollouts in $((SECONDS - start))s;" \
	"injected $(json_get "d['total'], d['injected']" <"$E2E/chaos.json")"
e2e_stop_daemon
if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E/canaryd.log"; then
	fail "a sanitizer report in the daemon's log"
fi
pass "the daemon exited 0 on SIGTERM, no sanitizer report"

admin GET /kube/writes >"$E2E/writes.json"
admin GET /slack/messages >"$E2E/slack.json"
for f in "$E2E"/state/{checkout,search}.journal{.1,}; do
	if [ -f "$f" ]; then cat "$f"; fi
done >"$E2E/journal.jsonl"
if [ -n "${NETCHAOS_KEEP:-}" ]; then
	mkdir -p "$NETCHAOS_KEEP"
	cp "$E2E"/*.json "$E2E/journal.jsonl" "$E2E/canaryd.log" "$E2E/sandbox.log" "$NETCHAOS_KEEP/"
fi
python3 - "$E2E" "$round" <<-'PY' || fail "an invariant is broken under network chaos"
import calendar, json, os, re, sys, time
d, rounds = sys.argv[1], int(sys.argv[2])
writes = json.load(open(os.path.join(d, "writes.json")))
messages = json.load(open(os.path.join(d, "slack.json")))
chaos = json.load(open(os.path.join(d, "chaos.json")))
journal = [json.loads(l) for l in open(os.path.join(d, "journal.jsonl")) if l.strip()]
STEPS = [10, 25, 50, 100]
expect = {"checkout": ([10, 25, 50, 100], "Promoted"), "search": ([10, 25, 0], "RolledBack")}
EVENTS = {"checkout": ["started", "progressed", "progressed", "promoted"],
          "search": ["started", "progressed", "rolled back"]}
problems = []

def us(t):  # RFC 3339 UTC with optional fraction -> microseconds
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z", t)
    sec = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return sec * 1000000 + int((m.group(2) or "0").ljust(6, "0"))

def state(obj):
    a = ((obj or {}).get("metadata", {}).get("annotations") or {}).get("canaryd.io/state")
    return json.loads(a) if a else None

def canary_weight(obj, name):
    ws = set()
    for r in obj["spec"].get("http", []):
        route = r.get("route") or []
        if any(not 0 <= dst.get("weight", 0) <= 100 for dst in route):
            problems.append("%s: route %s weight out of 0..100: %s" % (name, r.get("name"), route))
        total = sum(dst.get("weight", 0) for dst in route)
        subsets = [dst["destination"].get("subset") for dst in route]
        if "canary" in subsets and total != 100:
            problems.append("%s: route %s weights sum to %d" % (name, r.get("name"), total))
        if r.get("name") == "primary":
            ws.update(dst.get("weight", 0) for dst in route
                      if dst["destination"].get("subset") == "canary")
    return ws.pop() if len(ws) == 1 else None

# passing analyses in the journal: (canary, rollout, step) -> [time of each analysis, result]
analyses = {}
for e in journal:
    if e["type"] == "analysis":
        analyses.setdefault((e["canary"], e["rollout"], e["step"]), []).append(
            (us(e["at"]), e["result"]))

rollouts = {}  # (canary, started_at) -> {"weights": [...], "final": phase, "revision": r}
advances = 0
for w in writes:
    if w.get("resource") != "virtualservices" or w.get("bypass") or w["name"] not in expect:
        continue
    name = w["name"]
    before, after = state(w["before"]), state(w["after"])
    if after is None:
        problems.append("%s: a write without state" % name)
        continue
    cw = canary_weight(w["after"], name)
    if cw != after["weight"] or cw not in STEPS + [0]:
        problems.append("%s: routes hold %s%%, state says %s%%" % (name, cw, after["weight"]))
    r = rollouts.setdefault((name, after["started_at"]),
                            {"weights": [], "revision": after["revision"]})
    if before and before["started_at"] == after["started_at"]:
        bw = canary_weight(w["before"], name)
        if cw != bw:
            r["weights"].append(cw)
        if after["step"] not in (before["step"], before["step"] + 1):
            problems.append("%s: step %d -> %d" % (name, before["step"], after["step"]))
        if before["phase"] in ("Promoted", "RolledBack"):
            problems.append("%s: wrote after %s in the same rollout" % (name, before["phase"]))
        if after["step"] == before["step"] + 1:
            # a step advance: the last analysis of the step left, before this write was
            # decided, passed (an inconclusive one, missing data, must not advance)
            advances += 1
            done = [a for a in analyses.get((name, after["started_at"], before["step"]), [])
                    if a[0] <= us(after["updated_at"])]
            if not done or done[-1][1] != "pass":
                problems.append("%s %s: step %d -> %d without a passing analysis (%s)" % (
                    name, after["revision"], before["step"], after["step"], done[-3:]))
    else:
        if after["step"] != 1 or cw != 10 or after["phase"] != "Progressing":
            problems.append("%s: a new rollout that does not start at step 1" % name)
        r["weights"].append(cw)
    r["final"] = after["phase"]

for (name, started), r in sorted(rollouts.items(), key=lambda kv: kv[0][1]):
    want_w, want_phase = expect[name]
    if r["weights"] != want_w or r["final"] != want_phase:
        problems.append("%s %s: weights %s ending %s, expected %s ending %s" % (
            name, r["revision"], r["weights"], r.get("final"), want_w, want_phase))
for name in expect:
    got = sorted(r["revision"] for (c, _), r in rollouts.items() if c == name)
    want = sorted("%s%d" % (name[0], i) for i in range(1, rounds + 1))
    if got != want:
        problems.append("%s: rollouts %s, expected %s" % (name, got, want))

# Slack, bot token: one post per event key; every event of every rollout a reply in its
# thread or, coalesced, a line of the parent's timeline
def payload(m):
    p = m.get("payload") or {}
    return json.loads(p) if isinstance(p, str) else p

def key(m):
    return ((payload(m).get("metadata") or {}).get("event_payload") or {}).get("key", "")

posts = [m for m in messages if m.get("kind") == "chat.postMessage"]
per_key = {}
for m in posts:
    per_key[key(m)] = per_key.get(key(m), 0) + 1
for k, c in per_key.items():  # (messages without a key are not rollout events)
    if k and c != 1:
        problems.append("slack: key %r posted %d times" % (k, c))
parents = {key(m)[:-len("/parent")]: m["ts"] for m in posts if key(m).endswith("/parent")}
if len(parents) != len(rollouts):
    problems.append("slack: %d thread parents for %d rollouts" % (len(parents), len(rollouts)))
final = {}  # a parent's text as last posted or updated (a late parent has the whole timeline)
for m in messages:
    if m.get("kind") == "chat.update" or (m.get("kind") == "chat.postMessage"
                                           and key(m).endswith("/parent")):
        final[m["ts"]] = json.dumps(payload(m))
delivered = 0
for (name, started), r in rollouts.items():
    thread = "%s/%d" % (name, us(started))
    ts = parents.get(thread)
    replies = [key(m).split("/")[2] for m in posts
               if key(m).startswith(thread.split("/")[0] + "/" + r["revision"] + "/")
               and not key(m).endswith("/parent")]
    for m in posts:
        k = key(m)
        if k.startswith("%s/%s/" % (name, r["revision"])) and not k.endswith("/parent") \
                and m.get("thread_ts") != ts:
            problems.append("slack: %s not in its rollout's thread" % k)
    text = final.get(ts, "")
    want_ev = EVENTS[name]
    for ev in set(want_ev):
        n = replies.count(ev)
        # info events (started, progressed, promoted) may be folded into the parent's
        # timeline under a backlog (SPEC §7); a rollback never is
        folded = len(re.findall(r"%s at \d+%%" % ev, text)) \
            if ev in ("started", "progressed", "promoted") else 0
        if n > want_ev.count(ev):
            problems.append("slack: %s %s: %r posted %d times" % (name, r["revision"], ev, n))
        if max(n, folded) < want_ev.count(ev):
            problems.append("slack: %s %s: %r delivered %d of %d times" % (
                name, r["revision"], ev, max(n, folded), want_ev.count(ev)))
        delivered += min(max(n, folded), want_ev.count(ev))

inj = chaos["injected"]
if not all(inj.get(s) for s in ("kube", "kube-watch", "datadog", "slack")):
    problems.append("chaos did not reach every service: %r" % inj)
print("network chaos: %d writes, %d rollouts, %d step advances checked against the journal; "
      "slack: %d events delivered, %d posts" % (len(writes), len(rollouts), advances, delivered,
                                                len(posts)))
for p in problems[:20]:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
PY
pass "every rollout through exactly its steps, no advance without a passing analysis," \
	"weights valid, every Slack event once (seed $SEED)"
