#!/usr/bin/env bash
# Secrets out of reach (issue 16): keys given as DD_API_KEY / DD_APP_KEY are taken out of the
# environment at start (wiped from the block /proc/PID/environ shows), yet still used, also
# after a reload. (That the process is not dumpable is unit/env-secrets.)
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=2s e2e_setup
# the keys from the environment, not from files
sed -i '/api_key_file: dd-api-key/d; /app_key_file: dd-app-key/d' "$E2E/canaryd.yaml"
grep -q key_file "$E2E/canaryd.yaml" && fail "the key files are still configured"
export DD_API_KEY=sandbox-api-key DD_APP_KEY=sandbox-app-key
e2e_start_daemon
unset DD_API_KEY DD_APP_KEY

env_of() { tr '\0' '\n' <"/proc/$DAEMON_PID/environ"; }
env_of | grep -q "sandbox-api-key\|sandbox-app-key" && fail "a key is still in /proc/PID/environ"
env_of | grep -q "^DD_A[P][IP]_KEY=." && fail "a key variable still holds a value"
pass "the keys are wiped from the environment block"

ctl start checkout --revision v4 || fail "start"
wait_phase checkout Promoted 40
kill -HUP "$DAEMON_PID"
sleep 1
ctl start checkout --revision v5 || fail "start after the reload"
wait_phase checkout Promoted 40
pass "the keys taken from the environment still query Datadog, after a reload too"

e2e_stop_daemon
