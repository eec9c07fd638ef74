#!/usr/bin/env bash
# canaryctl for people (issue 17): `canaryctl version` and `--version` print "canaryctl VERSION"
# (the project's version, as `canaryd --version` knows it); `canaryctl help` prints the list of
# commands, `help COMMAND` one command's usage and options (the same as `COMMAND --help`, and
# for every command the list names); an unknown command in `help X` exits 2 naming it. No
# daemon: runs in well under a second.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CTL=$BUILD/canaryctl
T=$(mktemp -d -t canaryd-ctl-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
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
for args in version --version "--socket /x version"; do
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
grep -qE '^  -o, --output table\|json +a table' <<<"$out" && grep -q -- '--interval SECONDS' <<<"$out" ||
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
