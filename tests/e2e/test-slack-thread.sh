#!/usr/bin/env bash
# Slack with a bot token: one thread per rollout, kept across a crash.
# The daemon is killed (SIGKILL) while Slack is still handling the rollout's first message (the
# parent): the message lands, its answer never reaches the daemon. The restarted daemon reads
# the channel back (conversations.history), finds the parent by the key in its metadata and
# continues the same thread: one parent, every event once, all replies in that thread, the
# parent updated in place to "Promoted", its ts stored in the canaryd.io/state annotation.
# A rolled-back rollout (search) opens its own thread and broadcasts the rollback.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

E2E_INTERVAL=2s e2e_setup
slack_token_mode
# the first chat.postMessage is held 3 s before Slack handles it
admin POST /faults '{"service":"slack","match":{"path_regex":"chat.postMessage"},"delay_ms":3000,"count":1}' >/dev/null
e2e_start_daemon
ctl start checkout --revision v7 || fail "start"
for _ in $(seq 100); do
	admin GET '/requests?service=slack&path_regex=chat.postMessage' | grep -q '"seq"' && break
	sleep 0.05
done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
grep -q '"parent_maybe_sent":true' "$E2E/state/slack-outbox.json" ||
	fail "the outbox does not record the parent as possibly sent: $(cat "$E2E/state/slack-outbox.json")"
pass "killed with the parent message in flight; the outbox remembers it"
sleep 3.5 # the held request is handled now: the parent exists in the channel
e2e_start_daemon
ctl start search --revision r2 || fail "start search"
wait_phase checkout Promoted 60
wait_phase search RolledBack 60
slack_outbox_idle 60

rep=$(slack_report checkout)
echo "$rep" | json_get "len(d['parents'])" | grep -qx 1 || fail "checkout: not exactly one parent: $rep"
echo "$rep" | json_get "max(d['keys'].values())" | grep -qx 1 || fail "checkout: a message was posted twice: $rep"
echo "$rep" | json_get "d['bad_thread']" | grep -qx '\[\]' || fail "checkout: replies outside the thread: $rep"
for ev in started progressed promoted; do
	echo "$rep" | json_get "'$ev' in d['events'] or '$ev' in d['final_parent']" | grep -qx True ||
		fail "checkout: event $ev missing: $rep"
done
echo "$rep" | json_get "d['events'].count('progressed')" | grep -qx 2 || fail "checkout: progressed not posted twice: $rep"
echo "$rep" | json_get "'Promoted' in d['final_parent'] and '100%' in d['final_parent']" | grep -qx True ||
	fail "checkout: the parent does not show Promoted at 100%: $rep"
pass "one thread across the crash: one parent, each event once, parent updated to Promoted"

parent=$(echo "$rep" | json_get "d['parents'][0]")
stored=$(vs_json shop checkout |
	json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state']).get('slack_thread_ts', '')")
[ "$stored" = "$parent" ] || fail "annotation slack_thread_ts '$stored', parent ts '$parent'"
pass "the parent's ts is stored with the rollout state ($stored)"

rep=$(slack_report search)
echo "$rep" | json_get "len(d['parents'])" | grep -qx 1 || fail "search: not exactly one parent: $rep"
echo "$rep" | json_get "d['broadcast']" | grep -qx "\['rolled back'\]" || fail "search: rollback not broadcast: $rep"
[ "$(echo "$rep" | json_get "d['parents'][0]")" != "$parent" ] || fail "search shares checkout's thread"
pass "a rollback is a reply broadcast to the channel, in its own rollout's thread"

# the secrets never appear in what canaryd wrote or printed
for f in "$E2E/canaryd.log" "$E2E/state/slack-outbox.json"; do
	grep -q "$SLACK_TOKEN" "$f" && fail "the token appears in $f"
done
ctl status -o json | grep -q "$SLACK_TOKEN" && fail "the token appears in the status"
pass "no token in the log, the outbox or the status"

slack_thread_text checkout >"$E2E/thread.txt"
cat "$E2E/thread.txt"
e2e_stop_daemon
