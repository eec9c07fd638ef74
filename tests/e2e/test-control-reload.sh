#!/usr/bin/env bash
# SIGHUP: a valid config applies (an added canary starts being driven; a removed one is left
# untouched, mid-rollout, and the log says so); an invalid one is refused with PATH:LINE:COLUMN
# and the old config stays in force.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=30s e2e_setup
cp "$E2E/canaryd.yaml" "$E2E/both.yaml"
# start with checkout only
python3 - "$E2E/both.yaml" "$E2E/canaryd.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(text.split("  - name: search", 1)[0])
PY
e2e_start_daemon
ctl status search 2>/dev/null && fail "search known before the reload"
ctl start checkout --revision r1 >/dev/null || fail "start"

# add search
cp "$E2E/both.yaml" "$E2E/canaryd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do ctl status search >/dev/null 2>&1 && break; sleep 0.1; done
grep -q "reload: canary search added" "$E2E/canaryd.log" || fail "addition not logged"
wait_phase search Idle 10 # its first read of the VirtualService
ctl start search --revision s1 >/dev/null || fail "the added canary cannot be started"
wait_phase checkout Progressing 10 # checkout kept its rollout across the reload
pass "added canary is driven; the kept one continues"

# remove checkout mid-rollout: nothing is written to it, and the log says where it was left
before=$(admin GET "/kube/writes" | json_get "len([w for w in d if w.get('name') == 'checkout'])")
python3 - "$E2E/both.yaml" "$E2E/canaryd.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, rest = text.split("  - name: checkout", 1)
search = "  - name: search" + rest.split("  - name: search", 1)[1]
open(sys.argv[2], "w").write(head + search)
PY
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do ctl status checkout >/dev/null 2>&1 || break; sleep 0.1; done
ctl status checkout >/dev/null 2>&1 && fail "checkout still configured"
grep -q "reload: canary checkout removed from the configuration; VirtualService shop/checkout left untouched at phase Progressing, canary weight 10%" "$E2E/canaryd.log" ||
	fail "removal not logged"
sleep 1.5
after=$(admin GET "/kube/writes" | json_get "len([w for w in d if w.get('name') == 'checkout'])")
[ "$before" = "$after" ] || fail "checkout written after its removal ($before -> $after writes)"
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "checkout's weights changed"
pass "removed canary left untouched at 10% and logged"

# a comparing judge made blind (no {{scope}}): refused like a syntax error, old config stays
sed -i 's/duration{service:search,{{scope}}}/duration{service:search}/' "$E2E/canaryd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "reload refused: .*no {{scope}}" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -qE "reload refused: $E2E/canaryd.yaml:[0-9]+:[0-9]+: query has no \{\{scope\}\}: judge ratio" \
	"$E2E/canaryd.log" || fail "blind ratio not refused: $(grep 'reload refused' "$E2E/canaryd.log")"
[ "$(phase_of search)" = Progressing ] || fail "old config not in force after the blind judge"
pass "a ratio without {{scope}} refused on reload; old one in force"

# invalid: refused with PATH:LINE:COLUMN, old config (search only) stays
printf 'canaries:\n  - name: [oops\n' >"$E2E/canaryd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "reload refused: .*YAML" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -qE "reload refused: $E2E/canaryd.yaml:[0-9]+:[0-9]+: YAML" "$E2E/canaryd.log" ||
	fail "refusal without PATH:LINE:COLUMN: $(grep 'reload refused' "$E2E/canaryd.log")"
[ "$(phase_of search)" = Progressing ] || fail "old config not in force"
pass "invalid config refused with PATH:LINE:COLUMN; old one in force"
e2e_stop_daemon
