#!/usr/bin/env bash
# Slack slash commands on the HTTP endpoint (SPEC §9): the test plays Slack, signing each
# request as Slack does (v0 HMAC-SHA256 of "v0:TS:BODY" with the signing secret). Unsigned,
# forged and stale requests are refused with 401 and change nothing; anyone may ask for status;
# only slack.approvers may act, recorded as slack:USERID; a retried request acts once.
. "$(dirname "$0")/lib.sh"

SECRET=e2e-signing-secret-0123456789abcdef
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

e2e_stop_daemon
