#!/usr/bin/env bash
# Approval steps (SPEC §9): steps: [10, {weight: 25, approve: true}, ...]. Once such a step's
# analysis passes, the rollout waits (phase Progressing, status "awaiting approval") and is
# analysed on; Slack posts "awaiting approval" with an Approve button beside the others. approve
# is refused where nothing waits; an unauthorised click is refused to the clicker alone; a signed
# click by an approver moves the rollout to the next step (actor slack:USERID); a restarted daemon
# keeps waiting, from the same moment; canaryctl approve moves it on (actor uid:N); /canary
# approve does too; approve_timeout pauses a wait, resume waits again, approve works on the paused
# wait. The sandbox plays Slack as in e2e/slack-commands.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

SECRET=$SLACK_SECRET
slack_signed_setup
slack_interactivity '    checkout: [U0APPROVER]
    "*": [U0ADMIN]'
# checkout (healthy) waits at 25 % and at 50 %, for as long as it takes; search (healthy below
# 20 %) waits at 10 % for at most 4 s.
python3 - "$E2E/canaryd.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
head, checkout, search = text.split("\n  - name: ")
checkout = checkout.replace(
    "steps: [10, 25, 50, 100]",
    "steps: [10, {weight: 25, approve: true}, {weight: 50, approve: true}, 100]")
search = search.replace("steps: [10, 25, 50, 100]",
                        "steps: [{weight: 10, approve: true}, 50, 100]\n    approve_timeout: 4s")
text = "\n  - name: ".join([head, checkout, search])
open(path, "w").write(text)
PY
grep -q "approve_timeout: 4s" "$E2E/canaryd.yaml" || fail "config not rewritten"
"$CANARYD" --check-config --config "$E2E/canaryd.yaml" >/dev/null 2>&1 ||
	fail "the approval config does not check: $("$CANARYD" --check-config --config "$E2E/canaryd.yaml" 2>&1)"

click() { slack_click "$@"; }
slack() { slack_send_command "$@"; }
responses() { # the answers posted to response_url, newest last
	admin GET /slack/messages | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if m["kind"] == "response_url":
        print(json.dumps(m["payload"]))'
}
wait_responses() { # N
	for _ in $(seq 50); do
		[ "$(responses | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "response_url got $(responses | wc -l) posts, expected $1"
}
field() { # NAME EXPR: a field of the canary's status document
	ctl status "$1" -o json | json_get "d['canaries'][0]$2"
}
wait_awaiting() { # NAME STEP [SECONDS]
	local secs=${3:-30} end=$((SECONDS + ${3:-30}))
	while [ $SECONDS -lt $end ]; do
		[ "$(field "$1" "['awaiting_approval'] and d['canaries'][0]['step']" 2>/dev/null)" = "$2" ] &&
			return 0
		sleep 0.1
	done
	ctl status "$1" >&2 || true
	fail "$1 is not awaiting approval at step $2 after ${secs}s"
}
state_of() { # NAME KEY: a member of the canaryd.io/state annotation
	vs_json shop "$1" | json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state']).get('$2')"
}

e2e_start_daemon
[ "$(field checkout "['approval_steps']")" = "[2, 3]" ] || fail "approval_steps: $(field checkout "['approval_steps']")"

# --- refused where nothing waits --------------------------------------------------------------
rc=0
out=$(ctl approve checkout 2>&1) || rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "nothing to approve" || fail "approve while idle: rc $rc: $out"
ctl start checkout --revision v2 || fail "start checkout"
rc=0
out=$(ctl approve checkout 2>&1) || rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "not awaiting approval" ||
	fail "approve at a step that waits for nothing: rc $rc: $out"
grep '"command":"approve"' "$E2E/state/checkout.journal" | grep -q '"outcome":"refused"' ||
	fail "a refused approve is not journaled"
pass "approve refused (exit 1, journaled) while idle and before an approval step's analysis passed"

# --- the wait -------------------------------------------------------------------------------
wait_awaiting checkout 2 30
[ "$(phase_of checkout)" = Progressing ] || fail "phase while waiting: $(phase_of checkout)"
[ "$(route_weight shop checkout primary canary)" = 25 ] || fail "weight while waiting"
field checkout "['reason']" | grep -q "awaiting approval" || fail "reason: $(field checkout "['reason']")"
since=$(field checkout "['approval_since']")
[ "$since" != None ] && [ "$(state_of checkout approval_since)" = "$since" ] ||
	fail "approval_since: status $since, annotation $(state_of checkout approval_since)"
[ "$(field checkout "['approval_deadline']")" = None ] || fail "a deadline without approve_timeout"
ctl status | grep -E "^checkout +shop +Progressing \(awaiting approval\) +2/4 +25%" >/dev/null ||
	fail "status table: $(ctl status)"
ctl status checkout | grep -q "checkout: awaiting approval since $since: canaryctl approve checkout" ||
	fail "status details: $(ctl status checkout)"
grep -q '"notify":"awaiting approval"' "$E2E/state/checkout.journal" ||
	fail "the journal does not record the wait"
# it waits, and is analysed on (two intervals of 2 s)
at=$(field checkout "['last_analysis']['at']")
sleep 4.5
[ "$(field checkout "['step']")" = 2 ] && [ "$(field checkout "['awaiting_approval']")" = True ] ||
	fail "the rollout did not wait: $(ctl status checkout)"
[ "$(field checkout "['last_analysis']['at']")" != "$at" ] || fail "no analysis while waiting"
pass "a passed approval step waits: Progressing at 25 %, status and table say awaiting approval, analyses go on"

# --- Slack: the message and its Approve button -------------------------------------------------
slack_wait_button canaryd_approve checkout
admin GET /slack/messages >"$E2E/messages.json"
python3 - "$E2E/messages.json" <<'PY' || fail "the awaiting-approval message"
import json, sys
msgs = [m.get("payload") or {} for m in json.load(open(sys.argv[1]))]
waiting = [p for p in msgs if "checkout (shop): awaiting approval at 25%" in p.get("text", "")]
assert len(waiting) == 1, [p.get("text") for p in msgs]
ids = [e["action_id"] for b in waiting[0]["blocks"] if b.get("type") == "actions"
       for e in b["elements"]]
assert ids[0] == "canaryd_approve", ids
assert {"canaryd_promote", "canaryd_promote_full", "canaryd_pause", "canaryd_abort"} <= set(ids), ids
PY
pass "Slack: one \"awaiting approval\" message, Approve first beside Promote, Promote fully, Pause, Abort"

code=$(click U0NOBODY canaryd_approve checkout)
[ "$code" = 200 ] || fail "a click by a non-approver: HTTP $code"
wait_responses 1
responses | tail -1 | grep -q '"response_type": "ephemeral"' &&
	responses | tail -1 | grep -q "may not approve checkout" || fail "refusal: $(responses | tail -1)"
sleep 0.5
[ "$(field checkout "['step']")" = 2 ] && [ "$(field checkout "['awaiting_approval']")" = True ] ||
	fail "checkout moved after a refused click"
grep -q "approve by slack:U0NOBODY refused\|slack: approve by slack:U0NOBODY refused" "$E2E/canaryd.log" ||
	fail "the refused click is not logged"
pass "an unauthorised click on Approve: refused to the clicker alone, logged, still waiting"

code=$(click U0APPROVER canaryd_approve checkout)
[ "$code" = 200 ] || fail "click approve: HTTP $code"
wait_responses 2
for _ in $(seq 50); do
	[ "$(field checkout "['step']")" = 3 ] && break
	sleep 0.1
done
[ "$(field checkout "['step']")" = 3 ] || fail "Approve did not move checkout to step 3: $(ctl status checkout)"
[ "$(route_weight shop checkout primary canary)" = 50 ] || fail "checkout not at 50 % after Approve"
# the decision (step 3's own analysis may pass, and wait again, before this reads the state)
decision() { # CANARY ACTOR: the journal's decision of an approve by ACTOR, as JSON
	python3 - "$E2E/state/$1.journal" "$2" <<-'PY'
	import json, sys
	for line in open(sys.argv[1]):
	    e = json.loads(line)
	    if e.get("type") == "decision" and e.get("event") == "approve" and e.get("actor") == sys.argv[2]:
	        print(json.dumps(e))
	PY
}
decision checkout slack:U0APPROVER | python3 -c '
import json, sys
e = json.loads(sys.stdin.readline())
assert e["reason"] == "approved" and e["from"]["step"] == 2 and e["to"]["step"] == 3, e
assert e["to"]["phase"] == "Progressing" and e["weights_written"] and e["notify"] == "progressed", e
' || fail "the approve decision: $(decision checkout slack:U0APPROVER)"
responses | tail -1 | grep -q "U0APPROVER> asked to approve checkout" || fail "message update: $(responses | tail -1)"
grep '"command":"approve"' "$E2E/state/checkout.journal" | grep '"outcome":"applied"' |
	grep -q '"actor":"slack:U0APPROVER"' || fail "the approval is not journaled with its actor"
pass "Approve clicked by an approver: step 3 (50 %), actor slack:U0APPROVER, journaled"

# --- a restart keeps waiting, from the same moment -------------------------------------------
wait_awaiting checkout 3 30
since=$(field checkout "['approval_since']")
e2e_stop_daemon
e2e_start_daemon
[ "$(field checkout "['awaiting_approval']")" = True ] && [ "$(field checkout "['step']")" = 3 ] ||
	fail "after a restart: $(ctl status checkout)"
[ "$(field checkout "['approval_since']")" = "$since" ] ||
	fail "the wait restarted: $since -> $(field checkout "['approval_since']")"
sleep 2.5 # an interval: still waiting
[ "$(field checkout "['step']")" = 3 ] || fail "went on by itself after a restart"
pass "a restarted daemon keeps waiting at step 3, timed from the same moment"

out=$(ctl approve checkout) || fail "canaryctl approve: $out"
echo "$out" | grep -q "approve checkout: done: Promoted, step 4/4, canary weight 100%" ||
	fail "canaryctl approve: $out"
[ "$(route_weight shop checkout primary canary)" = 100 ] || fail "checkout not at 100 %"
[ "$(state_of checkout actor)" = "uid:$(id -u)" ] || fail "actor: $(state_of checkout actor)"
rc=0
out=$(ctl approve checkout 2>&1) || rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "nothing to approve" || fail "approve once promoted: rc $rc: $out"
pass "canaryctl approve: Promoted at 100 %, actor uid:$(id -u); a second approve is refused"

# --- approve_timeout -------------------------------------------------------------------------
ctl start search --revision v9 || fail "start search"
wait_awaiting search 1 30
[ "$(field search "['approval_deadline']")" != None ] || fail "no deadline with approve_timeout"
# a restart in the middle of the wait neither restarts nor shortens it
sleep 2
e2e_stop_daemon
e2e_start_daemon
wait_phase search Paused 15
waited=$(python3 -c 'import datetime as d, sys
t = lambda s: d.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print((t(sys.argv[2]) - t(sys.argv[1])).total_seconds())' "$(state_of search approval_since)" "$(state_of search updated_at)")
python3 -c "import sys; sys.exit(not 4 <= $waited < 5.5)" ||
	fail "the wait lasted ${waited}s across a restart, expected 4 s from when it began"
field search "['reason']" | grep -q "approval timed out after 4s" ||
	fail "reason after the timeout: $(field search "['reason']")"
[ "$(field search "['awaiting_approval']")" = False ] && [ "$(field search "['approval_since']")" != None ] ||
	fail "a paused wait: $(ctl status search -o json)"
[ "$(route_weight shop search primary canary)" = 10 ] || fail "the timeout moved the weight"
ctl status search | grep -q "search: paused while waiting for approval since" ||
	fail "status details of a paused wait: $(ctl status search)"
pass "approve_timeout: the wait pauses 4 s after it began, across a restart (\"approval timed out after 4s\"), at 10 %"

ctl resume search || fail "resume search"
wait_awaiting search 1 10
[ "$(field search "['phase']")" = Progressing ] || fail "resume"
wait_phase search Paused 15
pass "resume waits again, and times out again"

out=$(slack U0ADMIN "approve search")
echo "$out" | grep -q '"response_type":"in_channel"' && echo "$out" | grep -q "asked to approve search" ||
	fail "/canary approve: $out"
for _ in $(seq 50); do
	[ "$(field search "['step']")" = 2 ] && break
	sleep 0.1
done
[ "$(field search "['step']")" = 2 ] || fail "/canary approve of a paused wait: $(ctl status search)"
decision search slack:U0ADMIN | grep -q '"from": {"phase": "Paused", "step": 1' ||
	fail "the approve decision: $(decision search slack:U0ADMIN)"
pass "/canary approve by an approver moves a paused wait on to step 2"
# at 50 % search's latency regresses: its analysis rolls it back as on any step
wait_phase search RolledBack 15
[ "$(route_weight shop search primary canary)" = 0 ] || fail "search not rolled back to 0 %"
pass "past the approval, a failing analysis still rolls back"

e2e_stop_daemon
