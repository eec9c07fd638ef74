#!/usr/bin/env bash
# Shell completion of canaryctl (issue 17), contrib/completion/: the bash file loads in a plain
# bash (no bash-completion package) and completes commands, each command's options, -o values,
# the judge's named values, and canary names from `canaryctl status -o json --compact` (a stand-in daemon
# on a socket answers it; with no daemon, nothing and no error). Every command `canaryctl help`
# lists, and every option `canaryctl help COMMAND` lists, is known to the completion, so a new
# one cannot be forgotten. The zsh file knows them too; when zsh is installed, an interactive zsh
# completes with it on a pseudo-terminal.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CTL=$BUILD/canaryctl
BASHC=$SRC/contrib/completion/canaryctl.bash
ZSHC=$SRC/contrib/completion/_canaryctl
T=$(mktemp -d -t canaryd-completion.XXXXXX)
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

# complete WORDS...: what the bash completion offers for the last word (one a line, sorted).
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _canaryctl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHC" "$CTL" "$@" 2>"$T/err" | sed '/^$/d' | sort
	[ ! -s "$T/err" ] || fail "completion of '$*' wrote to stderr: $(cat "$T/err")"
}
# expect WANT WORDS...: the completion of WORDS is exactly WANT (space-separated).
expect() {
	local want got
	want=$(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort)
	shift
	got=$(complete_words "$@")
	[ "$got" = "$want" ] || fail "completion of '$*': got '$(tr '\n' ' ' <<<"$got")', want '$(tr '\n' ' ' <<<"$want")'"
}

# The brief's own check, in a plain bash.
got=$(bash -c 'source "$1"; COMP_WORDS=(canaryctl st); COMP_CWORD=1; _canaryctl
	printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHC")
grep -qx status <<<"$got" || fail "'canaryctl st' does not complete to status: $got"
bash -c 'source "$1"; complete -p canaryctl' _ "$BASHC" | grep -q -- '-F _canaryctl canaryctl' ||
	fail "the file registers no completion for canaryctl"

expect "status start" st
expect "--socket --version -V --help -h" -
expect "promote" --socket /x pro
expect "table wide json yaml" status -o ""
expect "table json yaml" history cart --output ""
expect "html json yaml" report cart -o ""
expect "json text" judge -o ""
expect "sequential" judge --canary a --judge s
expect "increase decrease either" judge --direction ""
expect "--full" promote cart --fu
expect "" abort cart --reason ""
expect "judge" help j
expect "" help status ""
# no daemon: no names, no error
expect "" promote ""

# Every command the usage lists, and every option each command's help lists, is completed.
commands=$("$CTL" help | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
[ "$(wc -l <<<"$commands")" -ge 13 ] || fail "too few commands in the usage: $commands"
all=$(complete_words "")
for c in $commands; do
	grep -qx "$c" <<<"$all" || fail "the bash completion does not know command '$c'"
	grep -qE "(^|[ '(])$c([ ')]|\\\\:|:)" "$ZSHC" || fail "the zsh completion does not know command '$c'"
	opts=$(complete_words "$c" -)
	for o in $("$CTL" help "$c" | grep -oE -- '(^|[ [])--?[a-z][a-z-]*' | sed 's/^[ []//' | sort -u); do
		[ "$o" = --socket ] && continue
		grep -qx -- "$o" <<<"$opts" || fail "the bash completion of '$c' does not offer $o"
		grep -q -- "$o" "$ZSHC" || fail "the zsh completion does not know $o (of $c)"
	done
done
echo "ok: commands and options of the usage are completed"

# Canary names from a daemon: a stand-in answers every request with a status of two canaries.
python3 - "$T/d.sock" <<'PY' &
import json, os, socket, sys
path = sys.argv[1]
status = {"canaries": [
    {"name": "cart-api", "namespace": "shop", "phase": "Progressing",
     "last_analysis": {"metrics": [{"name": "latency", "judge": "mann_whitney"}]}},
    {"name": "checkout", "namespace": "shop", "phase": "Idle"}]}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)
s.listen(8)
while True:
    c, _ = s.accept()
    f = c.makefile("rwb")
    if f.readline():
        f.write((json.dumps({"ok": True, "message": "", "status": status},
                            separators=(",", ":")) + "\n").encode())
        f.flush()
    c.close()
PY
server=$!
for _ in $(seq 100); do [ -S "$T/d.sock" ] && break; sleep 0.05; done
[ -S "$T/d.sock" ] || fail "the stand-in daemon did not start"
"$CTL" --socket "$T/d.sock" status -o json | grep -q cart-api || fail "canaryctl cannot read the stand-in"
expect "cart-api checkout" --socket "$T/d.sock" promote ""
expect "cart-api checkout" --socket="$T/d.sock" status -o json ""
expect "checkout" --socket "$T/d.sock" abort --reason x ch
expect "cart-api checkout" promote --socket "$T/d.sock" ""
CANARYCTL_SOCKET=$T/d.sock expect "cart-api" history ca
expect "" --socket "$T/d.sock" promote cart-api ""
expect "" --socket "$T/d.sock" judge ""
echo "ok: canary names from canaryctl status -o json"

# zsh (when installed): the file parses, and an interactive zsh on a pseudo-terminal completes
# with it; compadd is wrapped to write what is offered to a file.
zsh_complete() { # LINE: what zsh offers after LINE and a tab, sorted, in $T/hits
	rm -f "$T/hits"
	# shellcheck disable=SC2016 # the script is zsh's, its $ are zsh's
	timeout 20 zsh -f -c '
		zmodload zsh/zpty
		zpty z "zsh -f -i"
		zpty -w z "PS1=; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; PATH=$2:\$PATH"
		zpty -w z "compadd() { local -a h; builtin compadd -A h \"\$@\"; local r=\$?; (( \$#h )) && print -l -- \$h >>$3.part; return r; }"
		zpty -w z "bindkey \"^I\" complete-word"
		sleep 0.5
		zpty -n -w z "$4"$'"'"'\t'"'"'
		for i in {1..50}; do [[ -s $3.part ]] && break; sleep 0.1; done
		sleep 0.3
		zpty -d z
		[[ -f $3.part ]] && sort -u $3.part >$3' _ "$(dirname "$ZSHC")" "$(dirname "$CTL")" "$T/hits" "$1" \
		>/dev/null 2>&1 || true
	rm -f "$T/hits.part"
}
# zsh_expect WANT LINE: zsh offers exactly WANT (tried twice: the first prompt may be slow)
zsh_expect() {
	local want got
	want=$(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort)
	for _ in 1 2; do
		zsh_complete "$2"
		got=$(cat "$T/hits" 2>/dev/null || true)
		[ "$got" = "$want" ] && return 0
	done
	fail "zsh completion of '$2': got '$(tr '\n' ' ' <<<"$got")', want '$1'"
}
if command -v zsh >/dev/null; then
	zsh -n "$ZSHC" || fail "zsh cannot parse _canaryctl"
	zsh_expect "status start" "canaryctl st"
	zsh_expect "--compact --count --help --interval --no-headers --output --socket --watch" "canaryctl status --"
	zsh_expect "html json yaml" "canaryctl report x -o "
	zsh_expect "mann_whitney ratio sequential threshold" "canaryctl judge --judge "
	zsh_expect "--full" "canaryctl --socket /x promote --f"
	zsh_expect "cart-api checkout" "canaryctl --socket $T/d.sock promote "
	CANARYCTL_SOCKET=$T/d.sock zsh_expect "checkout" "canaryctl abort ch"
	echo "ok: zsh completes with _canaryctl"
else
	echo "zsh not installed: _canaryctl only checked for its commands and options"
fi
echo "ok: canaryctl completion"
