#!/usr/bin/env bash
# canaries_dir (SPEC §7): the daemon reads the canaries of every *.yaml file in it, and SIGHUP
# re-reads the directory (added, changed and removed files) all or nothing: a broken set is
# refused with every problem as FILE:LINE:COLUMN, and the old configuration stays in force.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=30s e2e_setup
# checkout stays in the main file; search moves to $E2E/canaries.d/10-search.yaml (added later)
mkdir "$E2E/canaries.d"
python3 - "$E2E/canaryd.yaml" "$E2E/search.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, search = text.split("  - name: search", 1)
open(sys.argv[1], "w").write(head + "canaries_dir: canaries.d\n")  # relative to the main file
search = "  - name: search" + search
open(sys.argv[2], "w").write("".join(l[2:] + "\n" for l in search.splitlines()))
PY
printf 'not: [yaml\n' >"$E2E/canaries.d/.10-search.yaml.swp.yaml"
printf 'notes\n' >"$E2E/canaries.d/README"

names() { ctl status -o json | json_get "' '.join(sorted(c['name'] for c in d['canaries']))"; }
# Sends SIGHUP and waits until the canaries are $1 (space-separated, sorted).
reload_until() {
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 50); do
		[ "$(names)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "canaries after the reload: '$(names)', expected '$1'"
}

"$CANARYD" --check-config --config "$E2E/canaryd.yaml" | grep -q "valid, 1 canary$" ||
	fail "--check-config with an empty canaries_dir"
e2e_start_daemon
[ "$(names)" = checkout ] || fail "canaries at start: $(names)"
ctl start checkout --revision r1 >/dev/null || fail "start checkout"

# added
cp "$E2E/search.yaml" "$E2E/canaries.d/10-search.yaml"
"$CANARYD" --check-config --config "$E2E/canaryd.yaml" | grep -q "valid, 2 canaries$" ||
	fail "--check-config does not count the directory's canaries"
reload_until "checkout search"
grep -q "reload: canary search added" "$E2E/canaryd.log" || fail "addition not logged"
wait_phase search Idle 10
pass "a file added to canaries_dir is read on SIGHUP"

# changed
sed -i 's/steps: \[10, 25, 50, 100\]/steps: [20, 100]/' "$E2E/canaries.d/10-search.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
	[ "$(ctl status search -o json | json_get "d['canaries'][0]['step_weights']")" = "[20, 100]" ] &&
		break
	sleep 0.1
done
[ "$(ctl status search -o json | json_get "d['canaries'][0]['step_weights']")" = "[20, 100]" ] ||
	fail "changed steps not applied: $(ctl status search -o json)"
pass "a changed file is re-read on SIGHUP"

# broken: a duplicate of the main file's canary and an unknown key, while 10-search.yaml is
# removed: nothing of it applies (search stays, with its steps)
cat >"$E2E/canaries.d/20-broken.yaml" <<'YAML'
- name: checkout
  namespace: shop
  virtual_service: checkout
  stable: {host: checkout, subset: stable}
  canary: {host: checkout, subset: canary}
  steps: [100]
  colour: blue
  metrics:
    - {name: errors, query: "sum:errors{service:checkout}", judge: threshold, max: 0.01}
YAML
mv "$E2E/canaries.d/10-search.yaml" "$E2E/search-changed.yaml"
rc=0
"$CANARYD" --check-config --config "$E2E/canaryd.yaml" 2>"$E2E/check.err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "--check-config: exit $rc for a broken canaries_dir file, expected 2"
cat "$E2E/check.err"
main_line=$(grep -n "^  - name: checkout" "$E2E/canaryd.yaml" | cut -d: -f1)
grep -qx "$E2E/canaryd.yaml:0:0: .*" "$E2E/check.err" && fail "problem reported in the main file"
grep -qx "$E2E/canaries.d/20-broken.yaml:1:9: duplicate canary name 'checkout' (first at $E2E/canaryd.yaml:$main_line:11)" \
	"$E2E/check.err" || fail "duplicate across files not reported with both places"
grep -qx "$E2E/canaries.d/20-broken.yaml:7:3: unknown key 'colour' in canary 'checkout'" \
	"$E2E/check.err" || fail "unknown key not reported in its file"
[ "$(wc -l <"$E2E/check.err")" = 2 ] || fail "expected exactly 2 problems"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "reload refused" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "reload refused: $E2E/canaries.d/20-broken.yaml:1:9: duplicate canary name 'checkout'" \
	"$E2E/canaryd.log" || fail "refusal does not name the duplicate's file, line and column"
grep -q "reload refused: $E2E/canaries.d/20-broken.yaml:7:3: unknown key 'colour'" \
	"$E2E/canaryd.log" || fail "refusal does not name every problem"
sleep 0.5
[ "$(names)" = "checkout search" ] || fail "old config not in force: $(names)"
[ "$(ctl status search -o json | json_get "d['canaries'][0]['step_weights']")" = "[20, 100]" ] ||
	fail "search changed by a refused reload"
[ "$(phase_of checkout)" = Progressing ] || fail "checkout's rollout lost: $(phase_of checkout)"
pass "a broken set is refused with FILE:LINE:COLUMN of every problem; the old one stays"

# removed: once the broken file goes too, the set without 10-search.yaml applies
rm "$E2E/canaries.d/20-broken.yaml"
reload_until checkout
# an applied reload sets every canary up again: Unknown until its VirtualService is read
for _ in $(seq 50); do [ "$(phase_of checkout)" != Unknown ] && break; sleep 0.1; done
grep -q "reload: canary search removed from the configuration" "$E2E/canaryd.log" ||
	fail "removal not logged"
[ "$(phase_of checkout)" = Progressing ] || fail "checkout's rollout lost"
pass "a removed file's canaries are forgotten on SIGHUP"

# an unreadable directory is refused too, naming it
mv "$E2E/canaries.d" "$E2E/canaries.moved"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "cannot read canaries_dir" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "reload refused: $E2E/canaryd.yaml:[0-9]*:15: cannot read canaries_dir $E2E/canaries.d: No such file or directory" \
	"$E2E/canaryd.log" || fail "a missing canaries_dir is not reported at its key"
[ "$(names)" = checkout ] || fail "old config not in force: $(names)"
pass "a missing canaries_dir is refused, naming it"
e2e_stop_daemon

# at start: a broken file stops the daemon (exit 1), every problem logged with its file, also
# as CONFIG_FILE=/CONFIG_LINE=/CONFIG_COLUMN= fields (logfmt on stderr here)
mv "$E2E/canaries.moved" "$E2E/canaries.d"
printf -- '- name: Bad_Name\n' >"$E2E/canaries.d/30-bad.yaml"
rc=0
CREDENTIALS_DIRECTORY=$E2E/creds "$CANARYD" --config "$E2E/canaryd.yaml" 2>"$E2E/start.log" || rc=$?
[ $rc = 78 ] || fail "start with a broken canaries_dir file: exit $rc, expected 78 (EX_CONFIG)"
grep -q "msg=\"$E2E/canaries.d/30-bad.yaml:1:9: .*config_file=$E2E/canaries.d/30-bad.yaml config_line=1 config_column=9" \
	"$E2E/start.log" || fail "start-up problem without its file: $(cat "$E2E/start.log")"
[ "$(grep -c "30-bad.yaml:1:" "$E2E/start.log")" -ge 2 ] || fail "not every problem logged"
pass "a broken canaries_dir file stops the start, every problem logged with its file"
