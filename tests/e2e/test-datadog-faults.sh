#!/usr/bin/env bash
# Datadog faults end to end (SPEC §4: never a pass, never a canary failure):
#   a rejected API key: logged, STATUS=, the daemon keeps running and checks again (SIGHUP too);
#   429 with an empty body and lower-case headers: waits for the reset, then recovers;
#   persistent 500 / timeouts: retried with backoff inside the step, then inconclusive, paused,
#   weights held, never promoted; a malformed 200 body: a clear error, inconclusive.
. "$(dirname "$0")/lib.sh"
FLEET="python3 $SRC/tests/e2e/datadog-fleet.py"

$FLEET scenario 1 >"$E2E/fleet.json"
e2e_setup "$E2E/fleet.json"
$FLEET config 1 --port "$(port datadog)" --dir "$E2E" --interval 1s --inconclusive-limit 0 \
	--timeout 1s >"$E2E/canaryd.yaml"
python3 - "$E2E/notify.sock" "$E2E/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
PY
NOTIFY_PID=$!
trap 'kill $NOTIFY_PID 2>/dev/null; e2e_cleanup' EXIT
for _ in $(seq 50); do [ -S "$E2E/notify.sock" ] && break; sleep 0.1; done

queries() { # number of Datadog query requests since SEQ
	admin GET "/requests?service=datadog&path_regex=/query&since=$1" | json_get "len(d)"
}
last_seq() {
	admin GET /state | json_get "d['last_seq']"
}
detail() { # the first metric's detail of the last analysis
	ctl status c00 -o json | json_get "d['canaries'][0]['last_analysis']['metrics'][0]['detail']"
}

# 1. a bad key: clear log line and STATUS=, no exit; fixed by SIGHUP
printf 'wrong-key\n' >"$E2E/creds/dd-api-key"
NOTIFY_SOCKET=$E2E/notify.sock e2e_start_daemon
for _ in $(seq 50); do grep -q "API key was rejected" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "datadog: the API key was rejected by GET /api/v1/validate: datadog: access denied (HTTP 403): Forbidden" \
	"$E2E/canaryd.log" || fail "rejected key not logged"
grep -q "wrong-key" "$E2E/canaryd.log" && fail "the key leaked into the log"
for _ in $(seq 50); do grep -q "STATUS=datadog API key rejected; 1 canary" "$E2E/notify.log" && break; sleep 0.1; done
grep -q "STATUS=datadog API key rejected; 1 canary" "$E2E/notify.log" || fail "no STATUS= for the key: $(cat "$E2E/notify.log")"
kill -0 "$DAEMON_PID" || fail "canaryd exited on a bad key"
printf 'sandbox-api-key\n' >"$E2E/creds/dd-api-key"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "API key is accepted now" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "API key is accepted now" "$E2E/canaryd.log" || fail "fixed key not noticed after SIGHUP"
for _ in $(seq 50); do tail -n 1 "$E2E/notify.log" | grep -q "STATUS=1 canary" && break; sleep 0.1; done
pass "bad API key: logged, STATUS=, daemon kept running, accepted after SIGHUP"

# 2. 429 with an empty body and lower-case headers: wait for the reset, recover, promote
admin POST /faults '{"service":"datadog","match":{"path_regex":"/api/v1/query"},"status":429,"body":"","headers":{"x-ratelimit-reset":"2","x-ratelimit-limit":"1600","x-ratelimit-period":"3600","x-ratelimit-remaining":"0","x-ratelimit-name":"query_timeseries"},"count":1}' >/dev/null
seq0=$(last_seq)
ctl start c00 --revision r1 >/dev/null || fail "start"
wait_phase c00 Promoted 30
admin GET "/requests?service=datadog&path_regex=/query&since=$seq0" | python3 -c "
import json, sys
r = json.load(sys.stdin)
i = next(i for i, x in enumerate(r) if x['status'] == 429)
nxt = r[i + 1]
assert nxt['status'] == 200, nxt['status']
gap = nxt['time'] - r[i]['time']
assert gap >= 1.9, 'retried %.2fs after a 429 that said reset in 2s' % gap
" || fail "429 not waited out"
grep -q "rate limited (HTTP 429, limit query_timeseries), resets in 2s; holding Datadog requests" \
	"$E2E/canaryd.log" || fail "429 wait not logged"
[ "$(ctl status c00 -o json | json_get "d['canaries'][0]['inconclusive_checks']")" = 0 ] ||
	fail "a 429 counted as inconclusive"
pass "429: waited for the reset, recovered, promoted"

# 3. persistent 500 (HTML body): retried inside the step, inconclusive, paused, weight held
admin POST /faults '{"service":"datadog","match":{"path_regex":"/api/v1/query"},"status":500,"body":"<html><h1>500 Internal Server Error</h1></html>","count":-1}' >/dev/null
seq0=$(last_seq)
ctl start c00 --revision r2 >/dev/null || fail "start r2"
wait_phase c00 Paused 30
[ "$(route_weight fleet c00 primary canary)" = 25 ] || fail "weight moved during a Datadog outage"
[ "$(queries "$seq0")" = 4 ] || fail "expected 4 attempts for the 500s, saw $(queries "$seq0")"
detail | grep -q "data source failed: datadog: server error (HTTP 500) (4 attempts)" ||
	fail "500: detail $(detail)"
grep -q "datadog query for 3 metrics (one request, 1 canary) failed: datadog: server error (HTTP 500); retrying" \
	"$E2E/canaryd.log" || fail "500 retries not logged"
pass "persistent 500: 4 attempts, inconclusive, paused at 25%"
admin DELETE /faults >/dev/null

# 4. timeouts (the sandbox answers after 1.5 s, the client gives up after 1 s)
ctl abort c00 >/dev/null
wait_phase c00 RolledBack 10
admin POST /faults '{"service":"datadog","match":{"path_regex":"/api/v1/query"},"delay_ms":1500,"count":-1}' >/dev/null
seq0=$(last_seq)
ctl retry c00 >/dev/null || fail "retry"
wait_phase c00 Paused 40
[ "$(route_weight fleet c00 primary canary)" = 25 ] || fail "weight moved during timeouts"
detail | grep -qi "request failed: .*time.*(4 attempts)" || fail "timeout: detail $(detail)"
pass "timeouts: retried, inconclusive, paused at 25% ($(detail))"
admin DELETE /faults >/dev/null

# 5. malformed 200 body: a clear error, not retried, inconclusive
ctl abort c00 >/dev/null
wait_phase c00 RolledBack 10
admin POST /faults '{"service":"datadog","match":{"path_regex":"/api/v1/query"},"status":200,"body":"{\"status\":\"ok\",\"series\":[{\"query_index\":0,\"pointlist\":[[1000,\"12\"]]}]}","count":-1}' >/dev/null
seq0=$(last_seq)
ctl retry c00 >/dev/null || fail "retry"
wait_phase c00 Paused 20
detail | grep -q "malformed query response (HTTP 200): series\[0\].pointlist\[0\]: value is neither a finite number nor null" ||
	fail "malformed: detail $(detail)"
[ "$(queries "$seq0")" = 1 ] || fail "a malformed body was retried"
[ "$(ctl status c00 -o json | json_get "d['canaries'][0]['phase']")" != Promoted ] || fail "promoted"
pass "malformed body: clear error, inconclusive, paused"
admin DELETE /faults >/dev/null
e2e_stop_daemon
