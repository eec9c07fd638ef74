#!/usr/bin/env bash
# canaryctl for people (issue 17): `canaryctl version`, `--version` and `-V` print "canaryctl VERSION"
# (the project's version, as `canaryd --version` knows it); `canaryctl help` prints the list of
# commands, `help COMMAND` one command's usage and options (the same as `COMMAND --help`, and
# for every command the list names); an unknown command in `help X` exits 2 naming it. No
# daemon but a stand-in on a socket for status and history --no-headers (the table without
# its column names, for scripts): runs in well under a second.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CTL=$BUILD/canaryctl
T=$(mktemp -d -t canaryd-ctl-cli.XXXXXX)
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
export CANARYCTL_SOCKET=$T/none.sock
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# ctl ARGS...: runs canaryctl; stdout in $out, stderr in $err, exit code in $rc.
ctl() {
	set +e
	out=$("$CTL" "$@" 2>"$T/err")
	rc=$?
	set -e
	err=$(cat "$T/err")
}

# The version: the project's, from CMakeLists.txt's project(), as canaryd prints it.
version=$(sed -n 's/^project(canaryd VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
for args in version --version -V "--socket /x version"; do
	# shellcheck disable=SC2086
	ctl $args
	[ "$rc" = 0 ] && [ "$out" = "canaryctl $version" ] && [ -z "$err" ] ||
		fail "'$args': exit $rc: '$out' '$err'"
done
if [ -x "$BUILD/canaryd" ]; then
	d=$("$BUILD/canaryd" --version 2>&1 || true)
	grep -qF "$version" <<<"$d" || fail "canaryd --version '$d' does not name $version"
fi
ctl version extra
[ "$rc" = 2 ] && grep -q "unexpected argument 'extra'" <<<"$err" || fail "version extra: exit $rc: $err"

# The overall usage: `help`, `--help`, `-h`, exit 0, on stdout.
ctl help
[ "$rc" = 0 ] && grep -q '^usage: canaryctl ' <<<"$out" && grep -q '^Commands:' <<<"$out" ||
	fail "help: exit $rc: $out"
overall=$out
for args in --help -h "--socket /x --help"; do
	# shellcheck disable=SC2086
	ctl $args
	[ "$rc" = 0 ] && [ "$out" = "$overall" ] || fail "'$args' differs from 'help': exit $rc"
done

# Every command the list names: `help COMMAND` and `COMMAND --help` / `-h`, exit 0, its usage.
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p' <<<"$overall")
[ "$(wc -l <<<"$commands")" -ge 13 ] || fail "too few commands listed: $commands"
for c in $commands; do
	ctl help "$c"
	[ "$rc" = 0 ] && [ -n "$out" ] || fail "help $c: exit $rc: $err"
	grep -q "canaryctl.* $c" <<<"$out" || fail "help $c does not show its usage: $out"
	h=$out
	ctl "$c" --help
	[ "$rc" = 0 ] && [ "$out" = "$h" ] || fail "$c --help differs from help $c: exit $rc: $out"
	ctl "$c" -h
	[ "$rc" = 0 ] && [ "$out" = "$h" ] || fail "$c -h differs from help $c: exit $rc: $out"
done
# options with what they do; --help after a NAME and other options too
ctl help status
grep -qE '^  -o, --output table\|wide\|json\|yaml +a table' <<<"$out" && grep -q -- '--interval SECONDS' <<<"$out" ||
	fail "help status lists no options: $out"
ctl promote checkout --full --help
[ "$rc" = 0 ] && grep -q -- '--full' <<<"$out" || fail "promote NAME --full --help: exit $rc: $out"
ctl help judge
grep -q -- '--baseline FILE' <<<"$out" && grep -q '^exit: 0 pass, 1 fail, 4 no data' <<<"$out" ||
	fail "help judge: $out"

# Unknown command: exit 2, named, nothing on stdout.
ctl help nosuch
[ "$rc" = 2 ] && [ -z "$out" ] && grep -q "unknown command 'nosuch'" <<<"$err" ||
	fail "help nosuch: exit $rc: '$out' '$err'"
ctl help status extra
[ "$rc" = 2 ] && grep -q "unexpected argument 'extra'" <<<"$err" || fail "help status extra: exit $rc: $err"
ctl nosuch --help
[ "$rc" = 2 ] && grep -q "unknown command 'nosuch'" <<<"$err" || fail "nosuch --help: exit $rc: $err"
echo "ok: canaryctl version and help"

# --no-headers: a stand-in daemon answers status with two canaries and history with one entry.
python3 - "$T/d.sock" <<'PY' &
import json, os, socket, sys
path = sys.argv[1]
def canary(name, phase, step):
    return {"name": name, "namespace": "shop", "phase": phase, "step": step, "steps": 4,
            "canary_weight": 25 * step, "failed_checks": 0, "inconclusive_checks": 0,
            "revision": "r1", "last_analysis": {"at": "2026-12-01T10:00:00Z", "result": "pass",
            "metrics": [{"name": "latency", "judge": "threshold", "canary": 1, "baseline": 1,
                         "result": "pass", "detail": "ok"}]}}
status = {"canaries": [canary("cart-api", "Progressing", 1), canary("checkout", "Idle", 0)]}
history = {"canary": "cart-api", "rollout": "2026-12-01T09:00:00.000000Z", "revision": "r1",
           "skipped": 0, "entries": [{"type": "command", "at": "2026-12-01T09:00:00.000000Z",
                                      "command": "start", "outcome": "applied"}]}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)
s.listen(8)
while True:
    c, _ = s.accept()
    f = c.makefile("rwb")
    line = f.readline()
    if line:
        req = json.loads(line)
        rep = {"ok": True, "message": ""}
        if req["command"] == "history":
            rep["history"] = history
        else:
            rep["status"] = status
        f.write((json.dumps(rep, separators=(",", ":")) + "\n").encode())
        f.flush()
    c.close()
PY
server=$!
for _ in $(seq 100); do [ -S "$T/d.sock" ] && break; sleep 0.05; done
[ -S "$T/d.sock" ] || fail "the stand-in daemon did not start"
export CANARYCTL_SOCKET=$T/d.sock
ctl status
[ "$rc" = 0 ] && [ "$(head -1 <<<"$out" | awk '{print $1}')" = NAME ] && [ "$(wc -l <<<"$out")" = 3 ] ||
	fail "status: exit $rc: $out $err"
ctl status --no-headers
[ "$rc" = 0 ] && [ "$(awk '{print $1}' <<<"$out" | tr '\n' ' ')" = "cart-api checkout " ] ||
	fail "status --no-headers: exit $rc: $out $err"
ctl status cart-api --no-headers
[ "$rc" = 0 ] && ! grep -qE '^(NAME|METRIC) ' <<<"$out" && grep -q '^cart-api ' <<<"$out" &&
	grep -q '^latency ' <<<"$out" || fail "status NAME --no-headers: exit $rc: $out $err"
ctl status --no-headers -o json
[ "$rc" = 0 ] && [ "$(head -2 <<<"$out")" = $'{\n  "canaries": [' ] ||
	fail "status --no-headers -o json: exit $rc: $out"
ctl history cart-api
[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 2 ] && grep -q '^canary cart-api, rollout' <<<"$out" ||
	fail "history: exit $rc: $out $err"
ctl history --no-headers cart-api
[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q '^2026-12-01T09:00:00.000000Z  command ' <<<"$out" ||
	fail "history --no-headers: exit $rc: $out $err"
for c in start promote approve abort pause resume retry report; do
	ctl "$c" cart-api --no-headers
	[ "$rc" = 2 ] || fail "$c --no-headers: exit $rc (expected 2): $err"
done
echo "ok: status and history --no-headers"

# -o json is indented by two spaces, --compact prints it on one line; -o yaml the same tree;
# -o wide more columns. Options anywhere: before or after NAME, --socket after the command.
ctl status -o json
json=$out
python3 -c 'import json,sys; json.loads(sys.argv[1])' "$json" || fail "status -o json is no JSON: $json"
grep -q '^    {$' <<<"$json" && grep -q '^      "name": "cart-api",$' <<<"$json" ||
	fail "status -o json is not indented by two spaces: $json"
ctl status --compact -o json
[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q '^{"canaries":\[{"name":"cart-api"' <<<"$out" ||
	fail "status -o json --compact: exit $rc: $out"
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]) == json.loads(sys.argv[2]))' "$out" "$json")" = True ] ||
	fail "--compact and indented differ"
ctl status -o yaml
[ "$rc" = 0 ] && python3 -c '
import json, sys, yaml
assert yaml.safe_load(sys.argv[1]) == json.loads(sys.argv[2])' "$out" "$json" ||
	fail "status -o yaml is not the JSON document: exit $rc: $out"
ctl status -o wide
[ "$rc" = 0 ] && head -1 <<<"$out" | grep -qE '^NAME +NAMESPACE +PHASE +STEP +WEIGHT +OBSERVED +.* STARTED +REASON$' ||
	fail "status -o wide: exit $rc: $out"
ctl history cart-api -o yaml
[ "$rc" = 0 ] && grep -q '^canary: cart-api$' <<<"$out" && grep -q '^- type: command$' <<<"$out" ||
	fail "history -o yaml: exit $rc: $out"
ctl history cart-api -o json --compact
[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 1 ] || fail "history -o json --compact: exit $rc: $out"
for args in "status -o json cart-api" "status cart-api -o json" "status cart-api --output=json" \
	"status cart-api -o json --socket $T/d.sock" "--socket $T/none.sock status cart-api --socket $T/d.sock -o json"; do
	# --socket after the command wins over the one before it and over $CANARYCTL_SOCKET
	# shellcheck disable=SC2086
	case $args in *--socket*) export CANARYCTL_SOCKET=$T/none.sock ;; esac
	ctl $args
	export CANARYCTL_SOCKET=$T/d.sock
	[ "$rc" = 0 ] && grep -q '"name": "cart-api"' <<<"$out" || fail "'$args': exit $rc: $out $err"
done
ctl status -o xml
[ "$rc" = 2 ] && grep -q "unknown output format 'xml' (expected table, wide, json, yaml)" <<<"$err" ||
	fail "status -o xml: exit $rc: $err"
ctl history cart-api -o wide
[ "$rc" = 2 ] && grep -q "expected table, json, yaml" <<<"$err" || fail "history -o wide: exit $rc: $err"
ctl status --compact
[ "$rc" = 2 ] && grep -q -- "--compact goes with -o json" <<<"$err" || fail "status --compact: exit $rc: $err"
ctl status --watch -o yaml
[ "$rc" = 2 ] && grep -q -- "cannot be used with -o yaml" <<<"$err" || fail "status --watch -o yaml: exit $rc: $err"
ctl status cart-api --socket ''
[ "$rc" = 2 ] && grep -q -- "--socket must not be empty" <<<"$err" || fail "--socket '': exit $rc: $err"
echo "ok: -o table|wide|json|yaml, --compact, options anywhere"
