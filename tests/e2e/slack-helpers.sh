# Slack helpers for tests/e2e/test-slack-*.sh (sourced after lib.sh).
#   slack_token_mode            switch $E2E/canaryd.yaml to the bot token (#releases)
#   slack_outbox_idle           wait until state_dir/slack-outbox.json owes nothing (nothing
#                               queued or held, no parent update owed) and its log is empty
#                               (nothing held or queued since the file was written)
#   slack_report CANARY         JSON summary of the canary's Slack traffic (see below)
#   slack_thread_text CANARY    the rollout thread as text, as scripts/demo.py renders it
#   slack_signed_setup [PYTHON] e2e_setup with the sandbox holding the app's signing secret
#                               $SLACK_SECRET (PYTHON: more edits of the scenario `sc`)
#   slack_interactivity APPROVERS
#                               after e2e_setup (and slack_token_mode, if wanted): the daemon
#                               gets the secret, `approvers:` APPROVERS (YAML lines, indented
#                               4) and http.listen on $HTTP_PORT; $COMMANDS and $ACTIONS are
#                               the endpoint's Slack URLs
#   slack_send_command USER TEXT [SIGN]
#                               the sandbox sends "/canary TEXT" as USER, signed (SIGN: ok,
#                               none, forged, stale); prints "STATUS BODY"
#   slack_click USER ACTION_ID CANARY
#                               the sandbox clicks that button of the newest message carrying
#                               it, signed; prints the HTTP status of the app's answer

SLACK_TOKEN=xoxb-sandbox-token
SLACK_SECRET=e2e-signing-secret-0123456789abcdef

slack_signed_setup() { # [PYTHON]
	python3 - "$SRC/tests/e2e/scenarios/e2e.json" "$E2E/scenario.json" "$SLACK_SECRET" \
		"${1:-}" <<-'EOF'
	import json, sys
	sc = json.load(open(sys.argv[1]))
	sc["slack"]["signing_secret"] = sys.argv[3]
	exec(sys.argv[4])
	json.dump(sc, open(sys.argv[2], "w"))
	EOF
	e2e_setup "$E2E/scenario.json"
}

slack_interactivity() { # APPROVERS
	HTTP_PORT=$(free_port)
	COMMANDS=http://127.0.0.1:$HTTP_PORT/slack/commands
	ACTIONS=http://127.0.0.1:$HTTP_PORT/slack/actions
	printf '%s\n' "$SLACK_SECRET" >"$E2E/creds/slack-signing-secret"
	python3 - "$E2E/canaryd.yaml" "$HTTP_PORT" "$1" <<-'EOF'
	import re, sys
	path, port, approvers = sys.argv[1:]
	text = open(path).read()
	# after the Slack credential line (webhook or bot token)
	text, n = re.subn(r"(\n  (?:webhook_url_file|token_file): [^\n]*\n)",
	                  lambda m: m.group(1) + "  signing_secret_file: slack-signing-secret\n"
	                  "  approvers:\n" + approvers.rstrip("\n") + "\n", text, count=1)
	assert n == 1, "no Slack credential in the config"
	text += 'http:\n  listen: "127.0.0.1:%s"\n' % port
	open(path, "w").write(text)
	EOF
	grep -q signing_secret_file "$E2E/canaryd.yaml" || fail "config not rewritten"
}

slack_token_mode() {
	printf '%s\n' "$SLACK_TOKEN" >"$E2E/creds/slack-token"
	python3 - "$E2E/canaryd.yaml" "$(port slack)" <<-'EOF'
	import sys
	p, port = sys.argv[1], sys.argv[2]
	s = open(p).read()
	s = s.replace("  webhook_url_file: slack-webhook\n",
	              "  token_file: slack-token\n  channel: \"#releases\"\n"
	              "  url: http://127.0.0.1:%s/api\n" % port)
	open(p, "w").write(s)
	EOF
}

# The outbox is empty (nothing queued, no parent update owed) for a few reads in a row.
slack_outbox_idle() { # [SECONDS]
	local secs=${1:-60} quiet=0
	for _ in $(seq $((secs * 10))); do
		if python3 - "$E2E/state/slack-outbox.json" "$E2E/state/slack-outbox.log" <<-'EOF'; then
		import json, os, sys
		try:
		    o = json.load(open(sys.argv[1]))
		    if os.path.exists(sys.argv[2]) and os.path.getsize(sys.argv[2]) > 0:
		        sys.exit(1)
		except (OSError, ValueError):
		    sys.exit(1)
		busy = o["messages"] or o.get("held") or any(t.get("update_pending") or
		                            (not t.get("ts") and t.get("parent_maybe_sent"))
		                            for t in o["threads"])
		sys.exit(1 if busy else 0)
		EOF
			quiet=$((quiet + 1))
			[ $quiet -ge 5 ] && return 0
		else
			quiet=0
		fi
		sleep 0.1
	done
	cat "$E2E/state/slack-outbox.json" >&2 || true
	fail "the Slack outbox did not drain in ${secs}s"
}

# {"parents":[ts...], "posts":N, "keys":{key:count}, "bad_thread":[...], "events":[...],
#  "broadcast":[events], "final_parent":TEXT, "updates":N}
slack_report() { # CANARY
	admin GET /slack/messages | python3 -c "
import json, sys
canary = sys.argv[1]
msgs = json.load(sys.stdin)
posts = [m for m in msgs if m['kind'] == 'chat.postMessage'
         and ((m['payload'].get('metadata') or {}).get('event_payload') or {}).get('key', '').startswith(canary + '/')]
key = lambda m: m['payload']['metadata']['event_payload']['key']
parents = [m for m in posts if key(m).endswith('/parent')]
replies = [m for m in posts if not key(m).endswith('/parent')]
keys = {}
for m in posts:
    keys[key(m)] = keys.get(key(m), 0) + 1
pts = set(p['ts'] for p in parents)
bad = [key(m) for m in replies if m.get('thread_ts') not in pts]
updates = [m for m in msgs if m['kind'] == 'chat.update' and m['ts'] in pts]
final = (updates[-1]['payload'] if updates else (parents[-1]['payload'] if parents else {}))
def flat(p):
    out = [p.get('text', '')]
    for b in p.get('blocks') or []:
        t = b.get('text')
        if isinstance(t, dict): out.append(t.get('text', ''))
        for e in b.get('elements') or []: out.append(e.get('text', ''))
    return '\n'.join(out)
print(json.dumps({'parents': sorted(pts), 'posts': len(posts), 'keys': keys, 'bad_thread': bad,
                  'events': [key(m).split('/')[2] for m in replies],
                  'broadcast': [key(m).split('/')[2] for m in replies if m['payload'].get('reply_broadcast')],
                  'final_parent': flat(final), 'updates': len(updates)}))" "$1"
}

slack_thread_text() { # CANARY
	admin GET /slack/messages | python3 -c "
import json, sys
sys.path.insert(0, '$SRC/scripts')
from demo import render_slack
canary = sys.argv[1]
msgs = json.load(sys.stdin)
k = lambda m: ((m['payload'].get('metadata') or {}).get('event_payload') or {}).get('key', '')
parent = [m for m in msgs if m['kind'] == 'chat.postMessage' and k(m) .startswith(canary + '/') and k(m).endswith('/parent')]
if not parent: sys.exit(0)
ts = parent[0]['ts']
ups = [m for m in msgs if m['kind'] == 'chat.update' and m['ts'] == ts]
final = dict(parent[0], payload=ups[-1]['payload']) if ups else parent[0]
print('== parent (as last updated, %d updates) ==' % len(ups))
print('\n'.join(render_slack(final)))
for m in msgs:
    if m['kind'] == 'chat.postMessage' and m.get('thread_ts') == ts:
        print('  -- reply%s --' % (' (also sent to the channel)' if m['payload'].get('reply_broadcast') else ''))
        print('\n'.join('  ' + l for l in render_slack(m)))" "$1"
}

slack_send_command() { # USER TEXT [SIGN]
	admin POST /slack/send "$(python3 -c 'import json,sys; print(json.dumps({"kind": "command",
		"url": sys.argv[1], "user": sys.argv[2], "text": sys.argv[3], "sign": sys.argv[4]}))' \
		"$COMMANDS" "$1" "$2" "${3:-ok}")" |
		python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["status"], r["body"])'
}

slack_click() { # USER ACTION_ID CANARY
	admin POST /slack/send "$(python3 -c 'import json,sys; print(json.dumps({"kind": "click",
		"url": sys.argv[1], "user": sys.argv[2], "action_id": sys.argv[3], "value": sys.argv[4]}))' \
		"$ACTIONS" "$1" "$2" "$3")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'
}

# Waits up to 20 s until Slack holds a message whose buttons include ACTION_ID for CANARY, or
# fails. canaryd's queue is paced, and under a backlog it sends only a thread's latest state: a
# phase's buttons reach Slack while the rollout stays in that phase, not after it moved on.
slack_wait_button() { # ACTION_ID CANARY
	for _ in $(seq 200); do
		admin GET /slack/messages | python3 -c '
import json, sys
sys.exit(0 if any(e.get("value") == sys.argv[2] and e.get("action_id") == sys.argv[1]
                  for m in json.load(sys.stdin) for b in (m.get("payload") or {}).get("blocks", [])
                  if b.get("type") == "actions" for e in b["elements"]) else 1)' "$1" "$2" && return 0
		sleep 0.1
	done
	fail "no message with the $1 button of $2 reached Slack"
}
