#!/usr/bin/env bash
# control.read_group: a reader (a user whose groups hold the read group only) may run status,
# history and report, and is refused every command that changes a rollout with exit 4 and a log
# line naming its uid; an operator by supplementary group only (SO_PEERGROUPS) and root may act.
# A flood of malformed requests is logged at most 10 lines a second, then summarised.
# Creates two groups and two system users (needs root, groupadd, useradd and setpriv) and
# removes them at exit; "SKIP" and 0 where that is not possible.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v groupadd >/dev/null || ! command -v useradd >/dev/null ||
	! command -v setpriv >/dev/null; then
	echo "SKIP: needs root, groupadd, useradd and setpriv"
	exit 0
fi

READ_GROUP=cde2e-read-$$
OPS_GROUP=cde2e-ops-$$
READER=cde2e-rd-$$
OPERATOR=cde2e-op-$$

groups_cleanup() {
	local rc=$?
	userdel "$READER" 2>/dev/null || true
	userdel "$OPERATOR" 2>/dev/null || true
	groupdel "$READ_GROUP" 2>/dev/null || true
	groupdel "$OPS_GROUP" 2>/dev/null || true
	(exit $rc)
	e2e_cleanup
}
trap groups_cleanup EXIT

if ! groupadd -r "$READ_GROUP" 2>/dev/null || ! groupadd -r "$OPS_GROUP" 2>/dev/null ||
	! useradd -r -M -N -g "$READ_GROUP" -s /usr/sbin/nologin "$READER" 2>/dev/null ||
	! useradd -r -M -N -g "$READ_GROUP" -G "$OPS_GROUP" -s /usr/sbin/nologin "$OPERATOR" 2>/dev/null; then
	echo "SKIP: cannot create test groups and users here"
	exit 0
fi
READ_GID=$(getent group "$READ_GROUP" | cut -d: -f3)
READER_UID=$(id -u "$READER")
OPERATOR_UID=$(id -u "$OPERATOR")

# canaryctl as USER, with the groups the user database gives it.
ctl_as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$READ_GROUP" --init-groups \
		"$CANARYCTL" --socket "$E2E/control.sock" "$@"
}

# Where an unprivileged user cannot run the test build at all (a root file system or build
# tree closed to others, as in some CI roots: "error while loading shared libraries: ...:
# Permission denied"), there is nothing this test can check.
if ! probe=$(setpriv --reuid="$READER" --regid="$READ_GROUP" --init-groups "$CANARYCTL" --version 2>&1); then
	echo "SKIP: user $READER cannot run $CANARYCTL here: $probe"
	exit 0
fi

E2E_INTERVAL=30s e2e_setup
chmod 0711 "$E2E" # the users must reach the socket inside it
sed -i "s|^  socket: $E2E/control.sock\$|&\n  group: $OPS_GROUP\n  read_group: $READ_GROUP|" \
	"$E2E/canaryd.yaml"
grep -q "read_group: $READ_GROUP" "$E2E/canaryd.yaml" || fail "config not edited"
"$CANARYD" --check-config --config "$E2E/canaryd.yaml" >/dev/null || fail "config not valid"
e2e_start_daemon

[ "$(stat -c %G:%a "$E2E/control.sock")" = "$READ_GROUP:660" ] ||
	fail "socket is $(stat -c %G:%a "$E2E/control.sock"), expected $READ_GROUP:660"
pass "the socket belongs to control.read_group, mode 0660"

ctl start checkout --revision v7 || fail "root: start refused"
wait_phase checkout Progressing 10

ctl_as "$READER" status >"$E2E/out" || fail "reader: status failed: $(cat "$E2E/out")"
grep -q checkout "$E2E/out" || fail "reader: status lacks checkout"
ctl_as "$READER" history checkout >/dev/null || fail "reader: history failed"
pass "a reader may read"

for cmd in "promote checkout" "abort checkout --reason x" "pause checkout" "approve checkout" \
	"promote nosuch"; do
	rc=0
	# shellcheck disable=SC2086
	ctl_as "$READER" $cmd 2>"$E2E/err" || rc=$?
	[ $rc = 4 ] || fail "reader: $cmd: exit $rc, expected 4 ($(cat "$E2E/err"))"
	grep -q "permission denied" "$E2E/err" || fail "reader: $cmd: no reason: $(cat "$E2E/err")"
done
[ "$(phase_of checkout)" = Progressing ] || fail "a reader's command changed the rollout"
[ "$(route_weight shop checkout primary canary)" = 10 ] || fail "a reader's command moved weight"
grep -q "control: refused promote checkout from uid $READER_UID gid $READ_GID pid [0-9]*: permission denied" \
	"$E2E/canaryd.log" || fail "no refusal line naming the reader"
grep -q "control: refused abort checkout from uid $READER_UID gid $READ_GID pid [0-9]*: permission denied" \
	"$E2E/canaryd.log" || fail "no refusal line for abort"
ctl history checkout --all | grep -q "uid $READER_UID" && fail "a reader's refusal was journaled"
pass "a reader is refused every command (exit 4), logged with its uid, not journaled"

ctl_as "$OPERATOR" promote checkout >"$E2E/out" 2>&1 ||
	fail "operator (supplementary group): promote refused: $(cat "$E2E/out")"
wait_phase checkout Progressing 5
[ "$(route_weight shop checkout primary canary)" = 25 ] || fail "operator's promote did not land"
pass "a member of control.group by supplementary group may act (SO_PEERGROUPS)"

rc=0
ctl promote nosuch 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "root: promote of an unknown canary: exit $rc, expected 1"
grep -q "control: refused promote nosuch from uid 0 gid 0 pid [0-9]*: no such canary .*nosuch" \
	"$E2E/canaryd.log" || fail "no refusal line for an unknown canary"
ctl abort checkout --reason "root may" || fail "root: abort refused"
wait_phase checkout RolledBack 5
rc=0
ctl_as "$OPERATOR" promote checkout 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "operator: promote of a rolled-back canary: exit $rc, expected 1"
grep -q "control: refused promote checkout from uid $OPERATOR_UID gid $READ_GID pid [0-9]*: not progressing" \
	"$E2E/canaryd.log" || fail "no refusal line for the engine's refusal"
pass "root acts; engine refusals are logged with the peer"

# A flood: 40 malformed requests, in a fresh rate-limit window (they take well under a second,
# but may straddle two windows).
sleep 1.2
mark=$(wc -l <"$E2E/canaryd.log")
python3 - "$E2E/control.sock" <<'PY'
import socket, sys
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b'{"command":"launch"}\n')
    s.recv(4096)
    s.close()
PY
sleep 1.5 # the summary comes once the window is over
tail -n +$((mark + 1)) "$E2E/canaryd.log" >"$E2E/flood.log"
logged=$(grep -c "control: refused request from uid 0 gid 0 pid [0-9]*: unknown command" \
	"$E2E/flood.log" || true)
missed=$(sed -n 's/.*control: \([0-9]*\) refused requests* not logged (more than 10 a second).*/\1/p' \
	"$E2E/flood.log" | awk '{n += $1} END {print n + 0}')
[ "$logged" -ge 10 ] && [ "$logged" -le 20 ] || fail "a flood of 40 logged $logged lines, expected 10..20"
[ $((logged + missed)) = 40 ] || fail "logged $logged + summarised $missed, expected 40"
pass "a flood of 40 is logged $logged times, the other $missed summarised"

e2e_stop_daemon
