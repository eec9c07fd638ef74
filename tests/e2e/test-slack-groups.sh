#!/usr/bin/env bash
# Slack user groups in slack.approvers (SPEC §9): with a bot token the daemon reads each listed
# group's members (usergroups.users.list, from the sandbox's Slack) and lets them act; a user in
# no listed group is refused; someone added to the group in Slack may act at once after a
# refusal (the refusal asks for a re-read); a group Slack does not know is logged with Slack's
# error, and lets no one act. A click's answer to its response_url is retried when Slack
# answers 503.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slack-helpers.sh"

export E2E_INTERVAL=10s # the rollout stays at its first step while the test acts
slack_signed_setup 'sc["slack"]["usergroups"] = {"S0RELEASE": ["U0MEMBER"]}'
slack_token_mode
slack_interactivity '    "*": [S0RELEASE, S0NOSUCH]'
grep -q "S0RELEASE" "$E2E/canaryd.yaml" || fail "config not rewritten"

slack() { slack_send_command "$@"; }

e2e_start_daemon
# both groups read at start: one with its members, the other refused by Slack
for _ in $(seq 50); do
	[ "$(admin GET '/requests?service=slack&path_regex=usergroups' | json_get 'len(d)')" -ge 2 ] && break
	sleep 0.1
done
admin GET '/requests?service=slack&path_regex=usergroups' | python3 -c '
import json, sys
reqs = json.load(sys.stdin)
asked = sorted(r["body"] for r in reqs)
assert "usergroup=S0NOSUCH" in asked and "usergroup=S0RELEASE" in asked, asked
for r in reqs:
    assert r["method"] == "POST" and r["headers"]["authorization"] == "Bearer xoxb-sandbox-token", r
' || fail "the groups were not read as Slack expects"
for _ in $(seq 30); do
	grep -q "user group S0NOSUCH.*no_such_subteam" "$E2E/canaryd.log" && break
	sleep 0.1
done
grep -q "cannot read the members of user group S0NOSUCH (slack.approvers): usergroups.users.list: no_such_subteam" \
	"$E2E/canaryd.log" || fail "the unknown group was not logged with Slack's error"
pass "groups read with the bot token; Slack's no_such_subteam logged"

ctl start checkout --revision g1 >/dev/null || fail "start"
wait_phase checkout Progressing 10

out=$(slack U0MEMBER "pause checkout")
echo "$out" | grep -q "asked to pause checkout" || fail "a group member was refused: $out"
wait_phase checkout Paused 10
actor=$(vs_json shop checkout |
	json_get "__import__('json').loads(d.get('object', d)['metadata']['annotations']['canaryd.io/state'])['actor']")
[ "$actor" = slack:U0MEMBER ] || fail "actor in the state annotation: '$actor'"
pass "a member of S0RELEASE paused the rollout, recorded as slack:U0MEMBER"

# Someone adds U0NEWCOMER to the group in Slack. Their first try finds the members read at
# start and is refused, which asks for a re-read; a try a moment later is accepted.
reads() { admin GET '/requests?service=slack&path_regex=usergroups' | json_get "len([r for r in d if r['body'] == 'usergroup=S0RELEASE'])"; }
n_before=$(reads)
admin PUT /slack/usergroups '{"S0RELEASE": ["U0MEMBER", "U0NEWCOMER"]}' >/dev/null
out=$(slack U0NEWCOMER "resume checkout")
echo "$out" | grep -q "may not resume checkout: not in slack.approvers (user group S0NOSUCH not read: usergroups.users.list: no_such_subteam)" ||
	fail "the newcomer's first try: $out"
for _ in $(seq 50); do
	[ "$(reads)" -gt "$n_before" ] && break
	sleep 0.1
done
[ "$(reads)" -gt "$n_before" ] || fail "a refusal did not make the daemon read S0RELEASE again"
for _ in $(seq 30); do
	out=$(slack U0NEWCOMER "resume checkout")
	echo "$out" | grep -q "asked to resume checkout" && break
	sleep 0.2
done
echo "$out" | grep -q "asked to resume checkout" || fail "the newcomer was still refused: $out"
wait_phase checkout Progressing 10
pass "a user added to the group in Slack may act after the re-read their refusal asked for"

out=$(slack U0OUTSIDER "pause checkout")
echo "$out" | grep -q "may not pause checkout: not in slack.approvers" || fail "an outsider: $out"
sleep 0.5
[ "$(ctl status checkout -o json | json_get "d['canaries'][0]['phase']")" = Progressing ] ||
	fail "a refused user paused the rollout"
grep -q "slack: pause by slack:U0OUTSIDER refused: not in slack.approvers" "$E2E/canaryd.log" ||
	fail "the refusal was not logged"
pass "a user in no listed group is refused, told why and logged"

# A click whose response_url answers 503 once: the action is taken at once, its answer retried.
admin POST /faults '{"service":"slack","match":{"method":"POST","path_regex":"^/actions/"},"status":503,"body":"busy","count":1}' >/dev/null
code=$(slack_click U0MEMBER canaryd_pause checkout)
[ "$code" = 200 ] || fail "click not acknowledged: $code"
wait_phase checkout Paused 10
for _ in $(seq 50); do
	admin GET /slack/messages | json_get "sum(m['kind'] == 'response_url' for m in d)" | grep -qx 1 && break
	sleep 0.1
done
admin GET /slack/messages | json_get "[m['payload'] for m in d if m['kind'] == 'response_url']" |
	grep -q "U0MEMBER" || fail "the click's answer never reached its response_url"
admin GET '/requests?service=slack&path_regex=^/actions/' | json_get "[r['status'] for r in d]" |
	grep -qx "\[503, 200\]" || fail "response_url attempts: $(admin GET '/requests?service=slack&path_regex=^/actions/' | json_get "[r['status'] for r in d]")"
pass "a click's answer that met a 503 was posted again and arrived"
e2e_stop_daemon
