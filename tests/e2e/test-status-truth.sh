#!/usr/bin/env bash
# `canaryctl status` tells the truth (issue 17): after a hand edit of the VirtualService to 0 %
# it shows the routes' 0 % beside the step's weight, and why it paused, in the table, in
# `status NAME`, in -o wide, -o json and -o yaml; a new rollout after a failed one shows no last
# analysis of the one before it, in status or in its Slack message.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=20s e2e_setup
e2e_start_daemon
ctl start checkout --revision v9 || fail "start"
wait_phase checkout Progressing 10
field() { ctl status checkout -o json | json_get "d['canaries'][0]$1"; }
for _ in $(seq 50); do [ "$(field "['observed_weight']")" = 10 ] && break; sleep 0.1; done
[ "$(field "['observed_weight']")" = 10 ] || fail "observed weight after the write: $(ctl status checkout -o json)"

# someone sets the canary to 0 % by hand (bypassing canaryd)
vs_json shop checkout | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('object', d)
for r in d['spec']['http']:
    for x in r['route']:
        x['weight'] = 0 if x['destination'].get('subset') == 'canary' else 100
print(json.dumps(d))" >"$E2E/edited.json"
admin PUT "/kube/object?ns=shop&name=checkout" "$(cat "$E2E/edited.json")" >/dev/null
wait_phase checkout Paused 15
[ "$(field "['canary_weight']")" = 10 ] || fail "canary_weight: $(ctl status checkout -o json)"
[ "$(field "['observed_weight']")" = 0 ] || fail "observed_weight: $(ctl status checkout -o json)"
[ "$(field "['routes_agree']")" = True ] || fail "routes_agree: $(ctl status checkout -o json)"
field "['reason']" | grep -q "weights changed outside canaryd" || fail "reason: $(ctl status checkout -o json)"
row=$(ctl status | grep '^checkout ')
grep -qE '^checkout +shop +Paused +1/4 +10% \(observed 0%\) .* weights changed outside canaryd' <<<"$row" ||
	fail "status table: $row"
ctl status checkout | grep -q "^checkout: Paused since .* ago): weights changed outside canaryd: canary at 0%, expected 10%" ||
	fail "status NAME: $(ctl status checkout)"
ctl status checkout | grep -q "^checkout: the routes send 0% to the canary; the step's weight is 10%" ||
	fail "status NAME routes: $(ctl status checkout)"
ctl status -o wide | grep -qE '^checkout +shop +Paused +1/4 +10% +0% +.*canary at 0%, expected 10%$' ||
	fail "status -o wide: $(ctl status -o wide)"
ctl status checkout -o yaml | python3 -c "
import sys, yaml
c = yaml.safe_load(sys.stdin)['canaries'][0]
assert (c['canary_weight'], c['observed_weight'], c['phase']) == (10, 0, 'Paused'), c
assert isinstance(c['revision'], str) and isinstance(c['updated_at'], str), c" ||
	fail "status -o yaml: $(ctl status checkout -o yaml)"
pass "a hand edit to 0 % shows the routes' 0 % beside the step's 10 %, and why it paused"

# every member of a real reply is documented (test-doc-ctl.sh reads them from the code)
ctl status -o json --compact | python3 -c "
import json, re, sys
def keys(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from keys(x)
    elif isinstance(v, list):
        for x in v:
            yield from keys(x)
docs = ''.join(open(sys.argv[1] + p, encoding='utf-8').read().replace('\\\\-', '-')
               for p in ('/docs/canaryctl.1', '/docs/control-protocol.md'))
missing = sorted(k for k in set(keys(json.load(sys.stdin))) if not re.search(r'\\b%s\\b' % k, docs))
sys.exit('undocumented status members: %s' % missing if missing else 0)" "$SRC" ||
	fail "a status member is not in canaryctl(1) nor docs/control-protocol.md"
e2e_stop_daemon

# search regresses at 25 %: its rollout fails; a new one shows no analysis of the failed one
e2e_write_config 3s 0
e2e_start_daemon
ctl start search --revision bad || fail "start search"
wait_phase search RolledBack 60
[ "$(ctl status search -o json | json_get "d['canaries'][0]['last_analysis']['result']")" = fail ] ||
	fail "the failed rollout's analysis: $(ctl status search -o json)"
ctl status | grep -E '^search ' | grep -q ' fail ' || fail "LAST-ANALYSIS of the failed rollout: $(ctl status)"
RETRY_AT=$(date -u +%s)
ctl retry search || fail "retry"
ctl status search -o json | json_get "(lambda c: c['last_analysis'] is None or
    c['last_analysis']['at'] >= c['started_at'])(d['canaries'][0])" | grep -qx True ||
	fail "a stale last analysis after retry: $(ctl status search -o json)"
ctl status | grep -E '^search ' | grep -q ' fail ' && fail "stale fail in the table: $(ctl status)"
# nor does its Slack message: a 'paused' message shows the analysis that led to it, which may be
# none yet or the new rollout's own on a slow machine, never one whose window began before the
# retry (the failed rollout's)
ctl pause search || fail "pause"
paused() {
	admin GET /slack/messages | python3 -c "
import json, sys
for m in json.load(sys.stdin):
    p = m.get('payload') or m.get('body') or {}
    p = json.loads(p) if isinstance(p, str) else p
    t = p.get('text', '')
    if 'search' in t and 'paused' in t:
        print(json.dumps(p))"
}
for _ in $(seq 50); do [ -n "$(paused)" ] && break; sleep 0.2; done
[ -n "$(paused)" ] || fail "no Slack message for the pause"
paused | python3 -c "
import calendar, json, sys, time
for line in sys.stdin:
    for b in json.loads(line).get('blocks', []):
        for f in b.get('fields', []):
            if f.get('text', '').startswith('*Window*'):
                start = f['text'].split('\n', 1)[1][:19]
                t = calendar.timegm(time.strptime(start, '%Y-%m-%d %H:%M:%S'))
                if t < $RETRY_AT:
                    sys.exit('window %s began before the retry' % start)" ||
	fail "the pause's Slack message shows the failed rollout's analysis: $(paused)"
pass "a new rollout shows no last analysis of the failed one (status, Slack)"
e2e_stop_daemon
