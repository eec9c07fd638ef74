#!/usr/bin/env bash
# Slack 429 and 500 storms while a rollout runs (bot token): no event lost, none doubled, and
# the rollout does not wait for Slack. The 500s are HTML pages, and some of them come after
# Slack did post the message ("process"): canaryd must read the thread back, not re-send.
# Then the webhook: a storm of 500 HTML pages and 429s, every message still delivered once,
# and neither the webhook URL nor the token appears in any output, log, outbox or status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

HTML='<!DOCTYPE html><html><head><title>Server Error | Slack</title></head><body>oops</body></html>'
E2E_INTERVAL=1s e2e_setup
slack_token_mode
body=$(python3 -c "import json,sys; print(json.dumps(sys.argv[1]))" "$HTML")
# every Slack call: 8 rate limits, then 3 HTML 500s after the message was posted, then 2 more
admin POST /faults '{"service":"slack","match":{"path_regex":"^/api/chat"},"status":429,"headers":{"Retry-After":"1"},"body":{"ok":false,"error":"ratelimited"},"count":8}' >/dev/null
admin POST /faults "{\"service\":\"slack\",\"match\":{\"path_regex\":\"^/api/chat.postMessage\"},\"status\":500,\"process\":true,\"headers\":{\"Content-Type\":\"text/html\"},\"body\":$body,\"count\":3}" >/dev/null
admin POST /faults "{\"service\":\"slack\",\"match\":{\"path_regex\":\"^/api/\"},\"status\":503,\"headers\":{\"Content-Type\":\"text/html\"},\"body\":$body,\"count\":2}" >/dev/null
e2e_start_daemon
ctl start checkout --revision s1 || fail "start"
wait_phase checkout Promoted 60
# the rollout finished while Slack was still failing: decisions never waited for it
faults_left=$(admin GET /faults | json_get "sum(max(0, f['count'] - f['hits']) for f in d)")
[ "$faults_left" -gt 0 ] || fail "the storm was over before the rollout finished: no evidence either way"
pass "promoted with $faults_left Slack faults still to come"
slack_outbox_idle 90

rep=$(slack_report checkout)
echo "$rep" | json_get "len(d['parents'])" | grep -qx 1 || fail "not exactly one parent: $rep"
echo "$rep" | json_get "max(d['keys'].values())" | grep -qx 1 || fail "a message was posted twice: $rep"
echo "$rep" | json_get "d['bad_thread']" | grep -qx '\[\]' || fail "replies outside the thread: $rep"
# every event is either its own reply or, coalesced, a line of the parent's timeline
for ev in started progressed promoted; do
	echo "$rep" | json_get "'$ev' in d['events'] or '$ev at' in d['final_parent']" | grep -qx True ||
		fail "event $ev lost: $rep"
done
echo "$rep" | json_get "d['final_parent'].count('progressed at')" | grep -qx 2 ||
	fail "the parent's timeline does not list both progressions: $rep"
grep -q 'HTTP 500: (HTML page)' "$E2E/canaryd.log" && fail "a retried 500 was reported as a loss"
pass "429 and HTML 500 storm: every event once (replies: $(echo "$rep" | json_get "d['events']"))"

e2e_stop_daemon

# ---- webhook: a 500/429 storm, then the secrets check over everything canaryd produced ----
admin DELETE /faults >/dev/null
python3 - "$E2E/canaryd.yaml" <<-'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"  token_file: slack-token\n  channel: \"#releases\"\n  url: [^\n]*\n",
           "  webhook_url_file: slack-webhook\n", s)
open(p, "w").write(s)
EOF
rm -f "$E2E/state/slack-outbox.json" "$E2E/state/slack-outbox.log"
seq0=$(admin GET /slack/messages | json_get "max([m['seq'] for m in d] or [0])")
admin POST /faults "{\"service\":\"slack\",\"match\":{\"path_regex\":\"^/services/\"},\"status\":500,\"headers\":{\"Content-Type\":\"text/html\"},\"body\":$body,\"count\":2}" >/dev/null
admin POST /faults '{"service":"slack","match":{"path_regex":"^/services/"},"status":429,"headers":{"Retry-After":"1"},"count":3}' >/dev/null
admin POST /faults '{"service":"slack","match":{"path_regex":"^/services/"},"status":404,"body":"channel_not_found","count":1,"skip":3}' >/dev/null
e2e_start_daemon
ctl start checkout --revision s2 >"$E2E/ctl.out" 2>&1 || fail "start s2"
wait_phase checkout Promoted 60
slack_outbox_idle 90
texts=$(admin GET "/slack/messages?since=$seq0" | python3 -c "
import json, sys
print('\n'.join(m['payload'].get('text', '') for m in json.load(sys.stdin) if m['kind'] == 'webhook'))")
dups=$(echo "$texts" | sort | uniq -d)
[ -z "$dups" ] || fail "webhook messages posted twice: $dups"
echo "$texts" | grep -q 're-sent' && fail "a webhook message was marked re-sent without a crash"
# started, progressed twice, promoted: one was refused for good (404), three arrive
[ "$(echo "$texts" | grep -c 'checkout (shop)')" = 3 ] || fail "webhook messages: $texts"
pass "webhook storm: $(echo "$texts" | wc -l) messages, none twice, the 404 one dropped"

ctl status -o json >>"$E2E/ctl.out" 2>&1
ctl status >>"$E2E/ctl.out" 2>&1
e2e_stop_daemon
webhook=$(cat "$E2E/creds/slack-webhook")
for f in "$E2E/canaryd.log" "$E2E/ctl.out" "$E2E/state/slack-outbox.json" "$E2E"/state/*; do
	[ -f "$f" ] || continue
	grep -qF "$webhook" "$f" && fail "the webhook URL appears in $f"
	grep -qF "/services/T000/B000/sandbox" "$f" && fail "the webhook path appears in $f"
	grep -qF "$SLACK_TOKEN" "$f" && fail "the token appears in $f"
done
grep -q 'not delivered: HTTP 404: channel_not_found' "$E2E/canaryd.log" ||
	fail "the dropped message is not logged"
pass "no webhook URL or token in the log, canaryctl output, status or state_dir"
