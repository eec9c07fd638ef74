#!/usr/bin/env bash
# Slack slash commands and buttons on the HTTP endpoint (SPEC §9). The sandbox plays Slack
# (admin POST /slack/send): it builds the requests on Slack's recorded payload shapes, signs them
# with the app's signing secret as Slack does, and takes the answers posted to response_url.
# Unsigned, forged and stale requests are refused with 401 and change nothing; anyone may ask
# for status; only slack.approvers may act, recorded as slack:USERID; a retried request acts
# once. The rollout's messages carry the buttons of their phase; a click is acknowledged at once
# and its message replaced through response_url; a rollout is promoted by clicks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

SECRET=$SLACK_SECRET
# steps long enough that a rollout is still progressing when the test acts on it
export E2E_INTERVAL=10s
slack_signed_setup
slack_interactivity '    checkout: [U0APPROVER]
    "*": [U0ADMIN, S0GROUP]'

slack() { slack_send_command "$@"; }
click() { slack_click "$@"; }
replay() {
	admin POST /slack/send '{"replay": true}' | python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["status"], r["body"])'
}
# the answers posted to response_url, newest last
responses() {
	admin GET /slack/messages | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if m["kind"] == "response_url":
        print(json.dumps(m["payload"]))'
}
wait_responses() { # N: waits until N answers were posted to response_url
	for _ in $(seq 50); do
		[ "$(responses | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "response_url got $(responses | wc -l) posts, expected $1"
}

e2e_start_daemon
grep -q "S0GROUP is a user group, read with the bot token (usergroups.users.list), but slack.token_file is not set" "$E2E/canaryd.log" ||
	fail "no warning for a user group in slack.approvers"

out=$(slack U0APPROVER "pause checkout" none)
[ "${out%% *}" = 401 ] || fail "unsigned: $out"
out=$(slack U0APPROVER "pause checkout" forged)
[ "${out%% *}" = 401 ] || fail "forged: $out"
out=$(slack U0APPROVER "pause checkout" stale)
[ "${out%% *}" = 401 ] && echo "$out" | grep -q "5 minutes" || fail "stale: $out"
grep -q "refused: X-Slack-Signature does not match" "$E2E/canaryd.log" || fail "forgery not logged"
grep -q "roadrunner\|T1DC2JH3J" "$E2E/canaryd.log" && fail "a request body reached the log"
pass "unsigned, forged and stale requests: 401, logged without the body"

out=$(slack U0NOBODY "status checkout")
[ "${out%% *}" = 200 ] && echo "$out" | grep -q '"response_type":"ephemeral"' &&
	echo "$out" | grep -q "checkout: Idle" || fail "status: $out"
out=$(slack U0NOBODY "deploy checkout")
echo "$out" | grep -q "usage: /canary" || fail "bad verb: $out"
out=$(slack U0NOBODY "status nosuch")
echo "$out" | grep -q "no canary named nosuch" || fail "unknown canary: $out"
pass "status for anyone (ephemeral); usage and unknown canaries answered"

ctl start checkout --revision v2 || fail "start checkout"
out=$(slack U0NOBODY "pause checkout")
echo "$out" | grep -q "may not pause checkout" && echo "$out" | grep -q ephemeral ||
	fail "a non-approver: $out"
out=$(slack U0APPROVER "pause search")
echo "$out" | grep -q "may not pause search" || fail "an approver of another canary: $out"
[ "$(phase_of checkout)" = Progressing ] || fail "checkout moved after refused requests"
pass "non-approvers refused (ephemeral), nothing applied"

out=$(slack U0APPROVER "pause checkout")
echo "$out" | grep -q '"response_type":"in_channel"' && echo "$out" | grep -q "U0APPROVER" ||
	fail "pause by an approver: $out"
wait_phase checkout Paused 10
actor=$(vs_json shop checkout |
	json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state'])['actor']")
[ "$actor" = slack:U0APPROVER ] || fail "actor in the state annotation: '$actor'"
grep -q '"actor":"slack:U0APPROVER"' "$E2E/state/checkout.journal" || fail "actor not journaled"
slack_wait_button canaryd_resume checkout # while paused
pass "pause by an approver: in_channel answer, Paused, actor slack:U0APPROVER in annotation and journal, Resume on Slack"

out=$(slack U0APPROVER "resume checkout")
echo "$out" | grep -q in_channel || fail "resume: $out"
wait_phase checkout Progressing 10
out=$(replay) # Slack retries: the same signed request again acts no more
echo "$out" | grep -q "already handled" || fail "replay: $out"
[ "$(grep -c 'resume requested by slack:U0APPROVER' "$E2E/canaryd.log")" = 1 ] ||
	fail "the resume was applied more than once"
pass "a retried request is answered without acting twice"

out=$(slack U0ADMIN "promote checkout --full")
echo "$out" | grep -q in_channel || fail "promote --full by a \"*\" approver: $out"
wait_phase checkout Promoted 15
[ "$(route_weight shop checkout primary canary)" = 100 ] || fail "checkout not at 100 %"
pass "promote --full by a \"*\" approver: Promoted at 100 %"

out=$(slack U0APPROVER "pause checkout")
echo "$out" | grep -q "pause checkout refused: not progressing" && echo "$out" | grep -q ephemeral ||
	fail "a command the rollout refuses: $out"
grep '"outcome":"refused"' "$E2E/state/checkout.journal" | grep -q '"actor":"slack:U0APPROVER"' ||
	fail "a refused Slack command is not journaled as control commands are"
pass "a command the rollout refuses: the reason to the user alone, journaled with its actor"

code=$(curl -s -o /dev/null -w '%{http_code}' "$COMMANDS")
[ "$code" = 405 ] || fail "GET /slack/commands: $code"
ts=$(date +%s)
sig=$(python3 -c 'import hashlib,hmac,sys; print("v0="+hmac.new(sys.argv[1].encode(), ("v0:"+sys.argv[2]+":text=%zz").encode(), hashlib.sha256).hexdigest())' "$SECRET" "$ts")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Slack-Request-Timestamp: $ts" \
	-H "X-Slack-Signature: $sig" --data-binary 'text=%zz' "$COMMANDS")
[ "$code" = 400 ] || fail "a signed but malformed form: $code"
pass "a malformed form: 400; GET: 405"

# --- buttons -------------------------------------------------------------------------------
admin GET /slack/messages >"$E2E/messages.json"
python3 - "$E2E/messages.json" <<'PY' || fail "buttons on the rollout's messages"
import json, sys
ids = set()
for m in json.load(open(sys.argv[1])):
    p = m.get("payload") or {}
    for b in p.get("blocks", []):
        if b.get("type") == "actions":
            for e in b["elements"]:
                assert e["value"] in ("checkout", "search"), e
                ids.add(e["action_id"])
need = {"canaryd_promote", "canaryd_promote_full", "canaryd_pause", "canaryd_resume", "canaryd_abort"}
assert need <= ids, ids
PY
pass "the rollout's messages carry Promote, Promote fully, Pause, Resume and Abort buttons"

ctl start search --revision v8 || fail "start search"
# Slack has the message with search's buttons only once canaryd's paced queue posted it
slack_wait_button canaryd_pause search
code=$(click U0NOBODY canaryd_pause search)
[ "$code" = 200 ] || fail "a click by a non-approver: HTTP $code, expected 200 (refusal via response_url)"
wait_responses 1
responses | tail -1 | grep -q '"response_type": "ephemeral"' &&
	responses | tail -1 | grep -q "may not pause search" || fail "refusal: $(responses | tail -1)"
[ "$(phase_of search)" = Progressing ] || fail "search moved after a refused click"
code=$(click U0ADMIN canaryd_pause search)
[ "$code" = 200 ] || fail "click pause: $code"
wait_responses 2
wait_phase search Paused 10
responses | tail -1 | python3 -c '
import json, sys
m = json.loads(sys.stdin.read())
assert m["replace_original"] is True, m
assert not any(b.get("type") == "actions" for b in m["blocks"]), "old buttons kept"
assert "U0ADMIN" in m["blocks"][-1]["elements"][0]["text"], m["blocks"][-1]
assert m["blocks"][0]["type"] == "header", m["blocks"][0]  # the clicked message itself
' || fail "message update: $(responses | tail -1)"
code=$(click U0ADMIN canaryd_abort search)
[ "$code" = 200 ] || fail "click abort: $code"
wait_phase search RolledBack 10
[ "$(route_weight shop search primary canary)" = 0 ] || fail "search not at 0 % after Abort"
code=$(click U0ADMIN not_ours search)
[ "$code" = 400 ] || fail "a click on a button that is not ours: $code"
pass "buttons: refusal to the clicker only; Pause and Abort applied, the message replaced with who did it"

ctl retry search || fail "retry search"
wait_phase search Progressing 10
code=$(click U0ADMIN canaryd_promote search)
[ "$code" = 200 ] || fail "click promote: $code"
for _ in $(seq 50); do
	[ "$(ctl status search -o json | json_get "d['canaries'][0]['step']")" = 2 ] && break
	sleep 0.1
done
[ "$(ctl status search -o json | json_get "d['canaries'][0]['step']")" = 2 ] || fail "Promote did not move search to step 2"
code=$(click U0ADMIN canaryd_promote_full search)
[ "$code" = 200 ] || fail "click promote fully: $code"
wait_phase search Promoted 10
[ "$(route_weight shop search primary canary)" = 100 ] || fail "search not at 100 % after Promote fully"
actor=$(vs_json shop search |
	json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state'])['actor']")
[ "$actor" = slack:U0ADMIN ] || fail "actor after the click: '$actor'"
pass "a rollout promoted by signed clicks: Promote (one step), then Promote fully (100 %), by slack:U0ADMIN"

e2e_stop_daemon
