#!/usr/bin/env bash
# Slack slash commands and buttons on the HTTP endpoint (SPEC §9): the test plays Slack, signing each
# request as Slack does (v0 HMAC-SHA256 of "v0:TS:BODY" with the signing secret). Unsigned,
# forged and stale requests are refused with 401 and change nothing; anyone may ask for status;
# only slack.approvers may act, recorded as slack:USERID; a retried request acts once. The
# rollout's messages carry the buttons of their phase; a click is acknowledged at once and its
# message replaced through response_url (a local receiver stands in for hooks.slack.com).
. "$(dirname "$0")/lib.sh"

SECRET=e2e-signing-secret-0123456789abcdef
# steps long enough that a rollout is still progressing when the test acts on it
export E2E_INTERVAL=10s
e2e_setup
HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '%s\n' "$SECRET" >"$E2E/creds/slack-signing-secret"
python3 - "$E2E/canaryd.yaml" "$HTTP_PORT" <<'PY'
import sys
path, port = sys.argv[1:]
text = open(path).read()
text = text.replace("slack:\n  webhook_url_file: slack-webhook\n",
                    "slack:\n  webhook_url_file: slack-webhook\n"
                    "  signing_secret_file: slack-signing-secret\n"
                    "  approvers:\n    checkout: [U0APPROVER]\n    \"*\": [U0ADMIN]\n")
text += 'http:\n  listen: "127.0.0.1:%s"\n' % port
open(path, "w").write(text)
PY
grep -q signing_secret_file "$E2E/canaryd.yaml" || fail "config not rewritten"
URL=http://127.0.0.1:$HTTP_PORT/slack/commands

# slack USER TEXT [TS_OFFSET [SIGNATURE]]: POSTs a slash command as Slack would; prints the HTTP
# code and the body. The body and its signature are kept in $E2E/last.* for a replay.
slack() {
	local user=$1 text=$2 offset=${3:-0} forced=${4:-}
	python3 - "$SECRET" "$user" "$text" "$offset" "$forced" "$E2E" <<'PY' >"$E2E/req.sh"
import hashlib, hmac, sys, time, urllib.parse
secret, user, text, offset, forced, d = sys.argv[1:]
body = urllib.parse.urlencode({
    "token": "legacy-verification-token", "team_id": "T0E2E", "team_domain": "e2e",
    "channel_id": "C0RELEASES", "channel_name": "releases", "user_id": user,
    "user_name": user.lower(), "command": "/canary", "text": text,
    "response_url": "https://hooks.slack.com/commands/T0E2E/1/abc",
    "trigger_id": "1.2.3"})
ts = str(int(time.time()) + int(offset))
sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body.encode(),
                       hashlib.sha256).hexdigest()
if forced == "unsigned":
    sig = ""
elif forced:
    sig = forced
open(d + "/last.body", "w").write(body)
open(d + "/last.ts", "w").write(ts)
open(d + "/last.sig", "w").write(sig)
PY
	slack_send "$(cat "$E2E/last.ts")" "$(cat "$E2E/last.sig")"
}
slack_send() { # TS SIG: sends last.body
	local hdr=()
	[ -n "$2" ] && hdr=(-H "X-Slack-Signature: $2")
	curl -s -o "$E2E/resp" -w '%{http_code} ' -H "X-Slack-Request-Timestamp: $1" "${hdr[@]}" \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$E2E/last.body" "$URL"
	cat "$E2E/resp"
}

e2e_start_daemon

out=$(slack U0APPROVER "pause checkout" 0 unsigned)
[ "${out%% *}" = 401 ] || fail "unsigned: $out"
out=$(slack U0APPROVER "pause checkout" 0 "v0=$(printf '0%.0s' $(seq 64))")
[ "${out%% *}" = 401 ] || fail "forged: $out"
out=$(slack U0APPROVER "pause checkout" -400)
[ "${out%% *}" = 401 ] && echo "$out" | grep -q "5 minutes" || fail "stale: $out"
grep -q "refused: X-Slack-Signature does not match" "$E2E/canaryd.log" || fail "forgery not logged"
grep -q "legacy-verification-token" "$E2E/canaryd.log" && fail "a request body reached the log"
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
pass "pause by an approver: in_channel answer, Paused, actor slack:U0APPROVER in annotation and journal"

out=$(slack U0APPROVER "resume checkout")
echo "$out" | grep -q in_channel || fail "resume: $out"
wait_phase checkout Progressing 10
# Slack retries: the same signed request again acts no more
out=$(slack_send "$(cat "$E2E/last.ts")" "$(cat "$E2E/last.sig")")
echo "$out" | grep -q "already handled" || fail "replay: $out"
[ "$(grep -c 'resume requested by slack:U0APPROVER' "$E2E/canaryd.log")" = 1 ] ||
	fail "the resume was applied more than once"
pass "a retried request is answered without acting twice"

out=$(slack U0ADMIN "promote checkout --full")
echo "$out" | grep -q in_channel || fail "promote --full by a \"*\" approver: $out"
wait_phase checkout Promoted 15
[ "$(route_weight shop checkout primary canary)" = 100 ] || fail "checkout not at 100 %"
pass "promote --full by a \"*\" approver: Promoted at 100 %"

printf 'text=%%zz' >"$E2E/last.body"
ts=$(date +%s)
sig=$(python3 -c 'import hashlib,hmac,sys; print("v0="+hmac.new(sys.argv[1].encode(), ("v0:"+sys.argv[2]+":").encode()+open(sys.argv[3],"rb").read(), hashlib.sha256).hexdigest())' "$SECRET" "$ts" "$E2E/last.body")
out=$(slack_send "$ts" "$sig")
[ "${out%% *}" = 400 ] || fail "a signed but malformed form: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL")
[ "$code" = 405 ] || fail "GET /slack/commands: $code"
pass "a malformed form: 400; GET: 405"

# --- buttons -------------------------------------------------------------------------------
admin GET /slack/messages >"$E2E/messages.json"
python3 - "$E2E/messages.json" <<'PY' || fail "buttons on the rollout's messages"
import json, sys
ids = set()
for m in json.load(open(sys.argv[1])):
    p = m.get("payload") or m.get("body") or {}
    if isinstance(p, str):
        p = json.loads(p)
    for b in p.get("blocks", []):
        if b.get("type") == "actions":
            for e in b["elements"]:
                assert e["value"] in ("checkout", "search"), e
                ids.add(e["action_id"])
need = {"canaryd_promote", "canaryd_promote_full", "canaryd_pause", "canaryd_resume", "canaryd_abort"}
assert need <= ids, ids
PY
pass "the rollout's messages carry Promote, Promote fully, Pause, Resume and Abort buttons"

# response_url receiver: records every POST body
RECV_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$RECV_PORT" "$E2E/responses" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
RECV_PID=$!
trap 'kill $RECV_PID 2>/dev/null; e2e_cleanup' EXIT
ACTIONS=http://127.0.0.1:$HTTP_PORT/slack/actions

# click USER ACTION_ID CANARY: a signed block_actions request built on Slack's recorded payload
click() {
	python3 - "$SECRET" "$1" "$2" "$3" "$RECV_PORT" "$CANARYD_FIXTURES/slack_block_actions_payload_with_message.json" <<'PY' >"$E2E/click"
import hashlib, hmac, json, sys, time, urllib.parse
secret, user, action, canary, port, fixture = sys.argv[1:]
p = json.load(open(fixture))
p["user"]["id"] = user
p["actions"] = [{"action_id": action, "block_id": "canaryd_actions", "value": canary,
                 "type": "button", "text": {"type": "plain_text", "text": action},
                 "action_ts": "%.6f" % time.time()}]
p["response_url"] = "http://127.0.0.1:%s/actions/T0E2E/1/xyz" % port
body = urllib.parse.urlencode({"payload": json.dumps(p)})
ts = str(int(time.time()))
sig = "v0=" + hmac.new(secret.encode(), ("v0:%s:" % ts).encode() + body.encode(), hashlib.sha256).hexdigest()
print(ts); print(sig); print(body)
PY
	local ts sig
	ts=$(sed -n 1p "$E2E/click")
	sig=$(sed -n 2p "$E2E/click")
	sed -n 3p "$E2E/click" | tr -d '\n' >"$E2E/click.body"
	curl -s -o /dev/null -w '%{http_code}' -H "X-Slack-Request-Timestamp: $ts" \
		-H "X-Slack-Signature: $sig" -H 'Content-Type: application/x-www-form-urlencoded' \
		--data-binary @"$E2E/click.body" "$ACTIONS"
}
wait_responses() { # N: waits until N bodies were posted to response_url
	for _ in $(seq 50); do
		[ "$(wc -l <"$E2E/responses" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "response_url got $(wc -l <"$E2E/responses" 2>/dev/null || echo 0) posts, expected $1"
}

ctl start search --revision v8 || fail "start search"
code=$(click U0NOBODY canaryd_pause search)
[ "$code" = 200 ] || fail "a click by a non-approver: HTTP $code, expected 200 (refusal via response_url)"
wait_responses 1
tail -1 "$E2E/responses" | grep -q '"response_type":"ephemeral"' &&
	tail -1 "$E2E/responses" | grep -q "may not pause search" || fail "refusal: $(tail -1 "$E2E/responses")"
[ "$(phase_of search)" = Progressing ] || fail "search moved after a refused click"
code=$(click U0ADMIN canaryd_pause search)
[ "$code" = 200 ] || fail "click pause: $code"
wait_responses 2
wait_phase search Paused 10
tail -1 "$E2E/responses" | python3 -c '
import json, sys
m = json.loads(sys.stdin.read())
assert m["replace_original"] is True, m
assert not any(b.get("type") == "actions" for b in m["blocks"]), "old buttons kept"
assert "U0ADMIN" in m["blocks"][-1]["elements"][0]["text"], m["blocks"][-1]
' || fail "message update: $(tail -1 "$E2E/responses")"
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
