#!/usr/bin/env bash
# A full state_dir (issue 16) never stops a rollout: the journal appends fail, the failure is
# logged once, shown in `canaryctl status` (JSON and table) and /readyz, the rollout still
# promotes (the cluster holds its state), and all of it clears by itself once there is room.
# Needs a small tmpfs (mount, as root); "SKIP" where mounting is not allowed.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s e2e_setup
mkdir -p "$E2E/small"
if ! mount -t tmpfs -o size=256k tmpfs "$E2E/small" 2>/dev/null; then
	echo "SKIP: cannot mount a tmpfs here"
	exit 0
fi
# the daemon holds files on it: stopped first, then the tmpfs unmounted, then the usual clean-up
disk_cleanup() {
	local rc=$?
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	umount "$E2E/small" 2>/dev/null || true
	(exit $rc)
	e2e_cleanup
}
trap disk_cleanup EXIT
sed -i "s|^state_dir: .*|state_dir: $E2E/small/state|" "$E2E/canaryd.yaml"
HTTP_PORT=$(free_port)
printf 'http:\n  listen: "127.0.0.1:%s"\n' "$HTTP_PORT" >>"$E2E/canaryd.yaml"
# full from the start, to the last block (a journal with room left in its last page would
# still take a few lines)
dd if=/dev/zero of="$E2E/small/fill" bs=4k 2>/dev/null || true
e2e_start_daemon
ctl start checkout --revision v6 || fail "start refused on a full state_dir"
wait_phase checkout Promoted 40
pass "a rollout promotes with its state_dir full"

status=$(ctl status -o json)
echo "$status" | json_get "d['state_dir']['error']" | grep -q "No space left on device" ||
	fail "status does not show the full state_dir: $status"
ctl status | grep -q "^WARNING: cannot write the decision journal" || fail "the status table does not say it"
ready=$(curl -sS -w ' %{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz" | tr '\n' ' ')
echo "$ready" | grep -q "not ready: .*cannot write the decision journal.*503$" || fail "/readyz: $ready"
[ "$(grep -c "cannot append to the decision journal" "$E2E/canaryd.log")" = 1 ] ||
	fail "the failure was not logged exactly once"
grep -q "writable again" "$E2E/canaryd.log" && fail "a line that fit in a block counted as recovery"
pass "status, the table, /readyz and the log say so (once)"

rm -f "$E2E/small/fill"
# cleared once appends have worked for 10 s since the last that failed (a full disk still takes
# a line that fits in a file's last block): commands every 2 s keep the journal written
for i in $(seq 20); do
	ctl start checkout --revision "r$i" >/dev/null 2>&1 || true
	curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" | grep -qx ready && break
	sleep 2
done
curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" | grep -qx ready || fail "still not ready with room again"
ctl status -o json | grep -q '"state_dir"' && fail "status still shows the state_dir error"
grep -q "writable again" "$E2E/canaryd.log" || fail "the recovery was not logged"
ctl history checkout | grep -q "start" || fail "the journal is not written again"
pass "with room again, all of it clears by itself"
e2e_stop_daemon
