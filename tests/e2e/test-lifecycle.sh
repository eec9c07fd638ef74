#!/usr/bin/env bash
# The service contract of SPEC §2: READY=1 once the socket listens, STATUS= as phases change,
# WATCHDOG=1 when WATCHDOG_USEC is set, STOPPING=1 and exit 0 on SIGTERM; SIGHUP reloads a
# valid config and refuses an invalid one, keeping the old one in force.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s e2e_setup
# a notify socket that records every datagram canaryd sends
python3 - "$E2E/notify.sock" "$E2E/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        data = s.recv(4096).decode()
        f.write(data.replace("\n", " | ") + "\n")
PY
NOTIFY_PID=$!
trap 'kill $NOTIFY_PID 2>/dev/null; e2e_cleanup' EXIT
for _ in $(seq 50); do [ -S "$E2E/notify.sock" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$E2E/notify.sock WATCHDOG_USEC=2000000 e2e_start_daemon
for _ in $(seq 50); do grep -q "READY=1" "$E2E/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q "READY=1" "$E2E/notify.log" || fail "no READY=1"
ctl start checkout --revision v1 >/dev/null
wait_phase checkout Promoted 40
grep -q "STATUS=2 canaries:.*checkout 10% progressing" "$E2E/notify.log" ||
	fail "no STATUS= line with the progressing canary: $(cat "$E2E/notify.log")"
for _ in $(seq 50); do grep -q "STATUS=.*checkout promoted" "$E2E/notify.log" && break; sleep 0.1; done
grep -q "STATUS=.*checkout promoted" "$E2E/notify.log" || fail "no STATUS= for promoted"
grep -q "WATCHDOG=1" "$E2E/notify.log" || fail "no WATCHDOG=1 with WATCHDOG_USEC set"
pass "READY=1, STATUS=, WATCHDOG=1"

# SIGHUP with a broken config: refused, old config stays
cp "$E2E/canaryd.yaml" "$E2E/good.yaml"
printf 'canaries:\n  - name: [oops\n' >"$E2E/canaryd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "reload refused" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "reload refused" "$E2E/canaryd.log" || fail "invalid reload not refused in the log"
kill -0 "$DAEMON_PID" || fail "canaryd died on an invalid reload"
ctl status -o json | json_get "len(d['canaries'])" | grep -qx 2 || fail "old config not in force"
pass "invalid config refused on SIGHUP"

# SIGHUP with a valid config that drops search: applied
python3 - "$E2E/good.yaml" "$E2E/canaryd.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, rest = text.split("  - name: search", 1)
open(sys.argv[2], "w").write(head)
PY
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
	[ "$(ctl status -o json | json_get "len(d['canaries'])")" = 1 ] && break
	sleep 0.1
done
[ "$(ctl status -o json | json_get "len(d['canaries'])")" = 1 ] || fail "valid reload not applied"
wait_phase checkout Promoted 10 # re-read from the annotation after the reload
grep -q "RELOADING=1" "$E2E/notify.log" || fail "no RELOADING=1"
pass "valid config applied on SIGHUP, state kept"

e2e_stop_daemon
for _ in $(seq 20); do grep -q "STOPPING=1" "$E2E/notify.log" && break; sleep 0.1; done
grep -q "STOPPING=1" "$E2E/notify.log" || fail "no STOPPING=1"
pass "SIGTERM: STOPPING=1, exit 0"
