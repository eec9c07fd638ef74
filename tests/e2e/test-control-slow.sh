#!/usr/bin/env bash
# Slow or stuck clients never stall the event loop: with many connections that never finish
# their request line and one that never reads its reply, status is answered at once and a
# rollout runs to its end.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=1s e2e_setup
e2e_start_daemon

python3 - "$E2E/control.sock" "$E2E/slow.ready" <<'PY' &
import socket, sys, time
held = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.send(b'{"command":"sta')        # half a request line, never finished
    held.append(s)
# one that asks for status and never reads the reply, with a tiny receive buffer
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(sys.argv[1])
s.send(b'{"command":"status"}\n')
held.append(s)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
SLOW_PID=$!
trap 'kill $SLOW_PID 2>/dev/null; e2e_cleanup' EXIT
for _ in $(seq 100); do [ -e "$E2E/slow.ready" ] && break; sleep 0.05; done
[ -e "$E2E/slow.ready" ] || fail "slow clients did not connect"

ctl status >/dev/null || fail "status while 41 clients hang"
ctl start checkout --revision slow1 >/dev/null || fail "start while clients hang"
wait_phase checkout Promoted 30
pass "41 stuck clients: status answered, rollout promoted"

# the stuck connections are dropped after the 5 s deadline, and the daemon still serves
sleep 5.5
ctl status >/dev/null || fail "status after the deadline"
open=$(ls -l /proc/$DAEMON_PID/fd | grep -c socket || true)
[ "$open" -lt 20 ] || fail "$open sockets still open after the deadline"
pass "stuck connections closed after the deadline ($open sockets left)"
e2e_stop_daemon
