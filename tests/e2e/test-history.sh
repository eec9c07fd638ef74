#!/usr/bin/env bash
# The decision journal (docs/journal.md): every analysis (window, raw values, verdicts), every
# decision and every manual command (with the peer's uid, gid and pid) is appended to
# state_dir/<canary>.journal, and `canaryctl history NAME` prints the latest rollout's timeline.
# The journal rotates by size (journal_max_size).
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=1s e2e_setup
e2e_start_daemon

ctl promote checkout 2>/dev/null && fail "promote of an idle canary accepted"
ctl start checkout --revision h1 >/dev/null || fail "start"
wait_phase checkout Promoted 30
ctl start search --revision h2 >/dev/null || fail "start search"
wait_phase search RolledBack 30

J=$E2E/state/checkout.journal
[ -s "$J" ] || fail "no journal file at $J"
python3 - "$J" "$$" <<'PY' || fail "journal content"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
types = [e["type"] for e in lines]
assert types[0] == "observed", types
cmds = [e for e in lines if e["type"] == "command"]
refused = [e for e in cmds if e["command"] == "promote"]
assert refused and refused[0]["outcome"] == "refused", refused
start = [e for e in cmds if e["command"] == "start"]
assert [e["outcome"] for e in start] == ["queued", "applied"], start
for e in start:
    p = e["peer"]
    assert p["uid"] == 0 and p["gid"] == 0 and p["pid"] > 0, p
assert start[1]["rollout"] != "" and start[1]["revision"] == "h1"
an = [e for e in lines if e["type"] == "analysis"]
assert len(an) == 3, an  # 10, 25, 50 %
for e in an:
    assert e["result"] == "pass" and e["window"]["start"] < e["window"]["end"], e
    assert {m["name"] for m in e["metrics"]} == {"error-rate", "latency"}, e
    for m in e["metrics"]:
        assert isinstance(m["canary"], float) and isinstance(m["baseline"], float), m
        assert m["n_canary"] > 0 and m["detail"], m
dec = [(e["from"]["weight"], e["to"]["weight"], e["event"]) for e in lines if e["type"] == "decision"]
assert dec == [(0, 10, "start"), (10, 25, "analysis"), (25, 50, "analysis"),
               (50, 100, "analysis")], dec
PY
pass "journal: commands with uid/gid/pid, analyses with windows and raw values, decisions"

out=$(ctl history checkout) || fail "history"
echo "$out" | head -3
echo "$out" | grep -q "revision h1" || fail "history header lacks the revision: $out"
echo "$out" | grep -q "command   start --revision h1 by uid 0 (gid 0, pid [0-9]*): applied" ||
	fail "history lacks the applied start command: $out"
echo "$out" | grep -q "analysis  step 2 (25%): pass over " || fail "history lacks step 2's analysis"
echo "$out" | grep -qE "latency ratio canary=[0-9.e+-]+ baseline=[0-9.e+-]+ pass" ||
	fail "history lacks raw values: $out"
echo "$out" | grep -q "decision  analysis: Progressing step 3 (50%) -> Promoted step 4 (100%)" ||
	fail "history lacks the promotion: $out"
echo "$out" | grep -q "promote by uid" && fail "the refused promote belongs to no rollout"
pass "canaryctl history prints the latest rollout's timeline"

ctl history search -o json | json_get "(d['revision'], [e['to']['phase'] for e in d['entries'] if e['type']=='decision'][-1])" |
	grep -qx "('h2', 'RolledBack')" || fail "search's history does not end rolled back"
ctl history checkout --all -o json | json_get "d['entries'][0]['type']" | grep -qx observed ||
	fail "--all does not start at the first entry"
ctl history nosuch 2>/dev/null && fail "history of an unknown canary accepted"
pass "history -o json, --all, unknown canary refused"

# a second rollout: history shows only it
ctl start checkout --revision h3 >/dev/null || fail "start h3"
ctl history checkout -o json | json_get "(d['revision'], {e['revision'] for e in d['entries']})" |
	grep -qx "('h3', {'h3'})" || fail "history mixes rollouts"
pass "history selects the latest rollout"
e2e_stop_daemon

# rotation: a tiny journal_max_size keeps the file under it and one old file
sed -i 's|^state_dir: .*|&\njournal_max_size: 4096|' "$E2E/canaryd.yaml"
e2e_start_daemon
for i in 1 2 3 4 5 6; do
	ctl abort checkout >/dev/null 2>&1 || true
	ctl start checkout --revision "r$i" >/dev/null || fail "start r$i"
done
size=$(stat -c %s "$J")
[ "$size" -le 4096 ] || fail "journal is $size bytes, over journal_max_size 4096"
[ -s "$J.1" ] || fail "no rotated journal $J.1"
ctl history checkout -o json | json_get "d['revision']" | grep -qx r6 || fail "history after rotation"
pass "journal rotated at journal_max_size ($size bytes + .1)"
e2e_stop_daemon
