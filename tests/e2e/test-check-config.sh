#!/usr/bin/env bash
# canaryd --check-config: 0 for a valid file, 2 with every problem as PATH:LINE:COLUMN.
. "$(dirname "$0")/lib.sh"

"$CANARYD" --check-config --config "$SRC/config/canaryd.yaml.example" >/dev/null ||
	fail "the shipped example is not valid"
"$CANARYD" --check-config --config "$SRC/config/demo.yaml" >/dev/null || fail "demo.yaml invalid"

cat >"$E2E/bad.yaml" <<'YAML'
datadog:
  site: datadoghq.com
  timeout: 10 parsecs
canaries:
  - name: cart-api
    namespace: cart
    virtual_service: cart-api
    stable: {host: cart-api, subset: stable}
    canary: {host: cart-api, subset: canary}
    steps: [5, 25, 10, 100]
    colour: blue
    metrics:
      - name: errors
        query: "sum:errors{{{scope}}}"
        judge: threshold
        max: 0.01
  - name: cart-api
    namespace: cart
    virtual_service: cart-api
    stable: {host: cart-api}
    canary: {host: cart-api, subset: canary}
    steps: [50, 100]
    metrics: []
YAML
rc=0
"$CANARYD" --check-config --config "$E2E/bad.yaml" 2>"$E2E/err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "exit $rc for an invalid config, expected 2"
cat "$E2E/err"
grep -q "^$E2E/bad.yaml:3:12: " "$E2E/err" || fail "bad duration not reported at 3:12"
grep -q "^$E2E/bad.yaml:10:" "$E2E/err" || fail "steps not reported on line 10"
grep -q "^$E2E/bad.yaml:11:5: " "$E2E/err" || fail "unknown key not reported at 11:5"
grep -q "^$E2E/bad.yaml:17:" "$E2E/err" || fail "duplicate name not reported on line 17"
n=$(grep -c "^$E2E/bad.yaml:[0-9]*:[0-9]*: " "$E2E/err")
[ "$n" -ge 4 ] || fail "expected every problem, got $n lines"
pass "every problem reported with line and column"

# Groups this host lacks: a warning at the value (the file may be meant for another host), not
# an error; read_group equal to group is an error.
sed 's/^  # group: canaryd .*/  group: canaryd-no-such-group/; s/^  # read_group: canaryd-viewers .*/  read_group: "0"/' \
	"$SRC/config/canaryd.yaml.example" >"$E2E/groups.yaml"
"$CANARYD" --check-config --config "$E2E/groups.yaml" 2>"$E2E/err" >/dev/null ||
	fail "an unknown group made the file invalid: $(cat "$E2E/err")"
line=$(grep -n '^  group: canaryd-no-such-group' "$E2E/groups.yaml" | cut -d: -f1)
grep -q "^$E2E/groups.yaml:$line:10: warning: control.group: no group named 'canaryd-no-such-group'" \
	"$E2E/err" || fail "no warning for the unknown group: $(cat "$E2E/err")"
grep -q "read_group" "$E2E/err" && fail "a numeric read_group was warned about: $(cat "$E2E/err")"
sed -i 's/^  read_group: "0"/  read_group: canaryd-no-such-group/' "$E2E/groups.yaml"
rc=0; "$CANARYD" --check-config --config "$E2E/groups.yaml" 2>"$E2E/err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "read_group equal to group: exit $rc, expected 2"
grep -q "read_group must differ from group" "$E2E/err" || fail "no reason: $(cat "$E2E/err")"
pass "control groups: unknown ones warned at their value, the same one twice refused"

# A blind judge and a query Datadog cannot parse, each at the query's line and column: a ratio
# without {{scope}} compares one query with itself; 'average' is no space aggregator.
cat >"$E2E/blind.yaml" <<'YAML'
canaries:
  - name: web
    namespace: shop
    virtual_service: web
    stable: {host: web, subset: stable}
    canary: {host: web, subset: canary}
    steps: [100]
    scopes: {canary: "version:canary", baseline: "version:stable"}
    metrics:
      - {name: guard, query: "sum:errors{service:web}", judge: threshold, max: 1}
      - {name: lat, query: "avg:lat{service:web}", judge: ratio, max_ratio: 1.2}
      - {name: p99, query: "average:lat{service:web,{{scope}}}", judge: mann_whitney}
YAML
rc=0; "$CANARYD" --check-config --config "$E2E/blind.yaml" 2>"$E2E/err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "blind judge: exit $rc, expected 2"
grep -q "^$E2E/blind.yaml:11:28: query has no {{scope}}: judge ratio" "$E2E/err" ||
	fail "unscoped ratio not reported at 11:28: $(cat "$E2E/err")"
grep -q "^$E2E/blind.yaml:12:29: query has an unknown space aggregator 'average'" "$E2E/err" ||
	fail "unknown aggregator not reported at 12:29: $(cat "$E2E/err")"
[ "$(wc -l <"$E2E/err")" = 2 ] || fail "a threshold guard without {{scope}} was reported: $(cat "$E2E/err")"
pass "a comparing judge without {{scope}} and an unknown aggregator refused at their columns"

rc=0; "$CANARYD" --check-config --config "$E2E/missing.yaml" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "missing file: exit $rc, expected 2"
rc=0; "$CANARYD" --bogus 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "unknown flag: exit $rc"
"$CANARYD" --version | grep -q "^canaryd " || fail "--version"
"$CANARYD" --help | grep -q -- "--check-config" || fail "--help"
"$CANARYCTL" --version | grep -q "canaryctl" || fail "canaryctl --version"
pass "flags"

# Started with a file it cannot use, the daemon exits 78 (EX_CONFIG), which the unit's
# RestartPreventExitStatus= names: systemd stops there instead of restarting every 5 s.
rc=0; "$CANARYD" --config "$E2E/bad.yaml" 2>"$E2E/start.err" || rc=$?
[ $rc = 78 ] || fail "invalid config at start: exit $rc, expected 78"
grep -q "$E2E/bad.yaml:[0-9]*:[0-9]*: " "$E2E/start.err" || fail "start did not report the problems"
rc=0; "$CANARYD" --config "$E2E/missing.yaml" 2>/dev/null || rc=$?
[ $rc = 78 ] || fail "missing config at start: exit $rc, expected 78"
grep -qx "RestartPreventExitStatus=78" "$SRC/systemd/canaryd.service" ||
	fail "the unit does not stop restarting on a bad configuration"
pass "an unusable configuration at start: exit 78, not restarted by the unit"
