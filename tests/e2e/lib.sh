# End-to-end test helpers: start the sandbox and the real canaryd on free loopback ports, drive
# canaryctl, and read back what the fake services saw. Sourced by tests/e2e/test-*.sh.
#   e2e_setup [SCENARIO]    sandbox up, config written to $E2E/canaryd.yaml (edit, then start)
#   e2e_start_daemon        canaryd in the background, waits for its control socket
#   ctl ARGS...             canaryctl against the test daemon
#   wait_phase NAME PHASE [SECONDS]
#   vs_json NS NAME         the stored VirtualService (bypassing canaryd)
#   admin GET|POST|PUT|DELETE PATH [BODY]
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CANARYD=$BUILD/canaryd
CANARYCTL=$BUILD/canaryctl
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

E2E=$(mktemp -d -t canaryd-e2e.XXXXXX)
SANDBOX_PID=
DAEMON_PID=

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$E2E/canaryd.log" ]; then
		echo "--- canaryd log (last ${E2E_LOG_LINES:-40} lines) ---" >&2
		tail -n "${E2E_LOG_LINES:-40}" "$E2E/canaryd.log" >&2
	fi
	exit 1
}

pass() {
	echo "ok: $*"
}

e2e_cleanup() {
	local rc=$?
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	[ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
	if [ $rc != 0 ] && [ -f "$E2E/sandbox.log" ]; then
		echo "--- sandbox log (last 20 lines) ---" >&2
		tail -n 20 "$E2E/sandbox.log" >&2
	fi
	[ -n "${E2E_KEEP:-}" ] && echo "kept $E2E" >&2 || rm -rf "$E2E"
}
trap e2e_cleanup EXIT

port() {
	python3 -c "import json,sys; print(json.load(open('$E2E/ports.json'))['$1'])"
}

admin() {
	local method=$1 path=$2 body=${3:-}
	if [ -n "$body" ]; then
		curl -sS -X "$method" -H 'Content-Type: application/json' --data "$body" \
			"http://127.0.0.1:$(port admin)$path"
	else
		curl -sS -X "$method" "http://127.0.0.1:$(port admin)$path"
	fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

vs_json() {
	admin GET "/kube/object?ns=$1&name=$2"
}

# jq-like field access with python: json_get EXPR < json   (EXPR uses d as the document)
json_get() {
	python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# Canary weight of the named route of a stored VirtualService.
route_weight() { # NS NAME ROUTE SUBSET
	vs_json "$1" "$2" | python3 -c "
import json,sys
d=json.load(sys.stdin)
d=d.get('object', d)
for r in d['spec'].get('http', []):
    if r.get('name') == '$3':
        for dst in r['route']:
            if dst['destination'].get('subset') == '$4':
                print(dst.get('weight', 0)); sys.exit(0)
print('missing')"
}

e2e_setup() {
	local scenario=${1:-$SRC/tests/e2e/scenarios/e2e.json}
	python3 "$SRC/tests/sandbox/sandbox.py" --scenario "$scenario" --port-file "$E2E/ports.json" \
		>"$E2E/sandbox.log" 2>&1 &
	SANDBOX_PID=$!
	for _ in $(seq 100); do
		[ -s "$E2E/ports.json" ] && break
		kill -0 "$SANDBOX_PID" 2>/dev/null || fail "sandbox did not start: $(cat "$E2E/sandbox.log")"
		sleep 0.1
	done
	[ -s "$E2E/ports.json" ] || fail "sandbox did not write its ports"

	mkdir -p "$E2E/creds" "$E2E/state"
	printf 'sandbox-api-key\n' >"$E2E/creds/dd-api-key"
	printf 'sandbox-app-key\n' >"$E2E/creds/dd-app-key"
	printf 'http://127.0.0.1:%s/services/T000/B000/sandbox\n' "$(port slack)" \
		>"$E2E/creds/slack-webhook"
	cat >"$E2E/kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: sandbox
	  cluster:
	    server: http://127.0.0.1:$(port kube)
	users:
	- name: canaryd
	  user:
	    token: sandbox-token
	contexts:
	- name: sandbox
	  context: {cluster: sandbox, user: canaryd, namespace: shop}
	current-context: sandbox
	EOF
	e2e_write_config "${E2E_INTERVAL:-2s}" "${E2E_FAILURE_LIMIT:-0}"
}

# Writes $E2E/canaryd.yaml for the two sandbox canaries: checkout (healthy) and search
# (latency regresses once its canary weight reaches 20%).
e2e_write_config() {
	local interval=$1 failure_limit=$2
	cat >"$E2E/canaryd.yaml" <<-EOF
	datadog:
	  url: http://127.0.0.1:$(port datadog)
	  query_lag: 0s
	  timeout: 2s
	  api_key_file: dd-api-key
	  app_key_file: dd-app-key
	kubernetes:
	  kubeconfig: $E2E/kubeconfig
	slack:
	  webhook_url_file: slack-webhook
	control:
	  socket: $E2E/control.sock
	state_dir: $E2E/state
	canaries:
	EOF
	for name in checkout search; do
		cat >>"$E2E/canaryd.yaml" <<-EOF
		  - name: $name
		    namespace: shop
		    virtual_service: $name
		    routes: [primary]
		    stable: {host: $name, subset: stable}
		    canary: {host: $name, subset: canary}
		    steps: [10, 25, 50, 100]
		    interval: $interval
		    failure_limit: $failure_limit
		    inconclusive_limit: ${E2E_INCONCLUSIVE_LIMIT:-3}
		    runbook_url: https://runbooks.example.com/$name
		    scopes:
		      canary: "kube_deployment:$name-canary"
		      baseline: "kube_deployment:$name-stable"
		    metrics:
		      - name: error-rate
		        query: "avg:trace.http.request.errors{service:$name,{{scope}}}"
		        judge: threshold
		        max: 0.05
		        critical: true
		      - name: latency
		        query: "avg:trace.http.request.duration{service:$name,{{scope}}}"
		        judge: ratio
		        max_ratio: 1.3
		EOF
	done
}

e2e_start_daemon() {
	CREDENTIALS_DIRECTORY=$E2E/creds "$CANARYD" --config "$E2E/canaryd.yaml" \
		>>"$E2E/canaryd.log" 2>&1 &
	DAEMON_PID=$!
	local up=0
	for _ in $(seq 100); do
		[ -S "$E2E/control.sock" ] && ctl status >/dev/null 2>&1 && { up=1; break; }
		kill -0 "$DAEMON_PID" 2>/dev/null || fail "canaryd exited at start"
		sleep 0.1
	done
	[ $up = 1 ] || fail "canaryd control socket did not appear"
	# Commands are refused until a canary's VirtualService has been read: give the first reads
	# up to 5 s (a test whose cluster is unreachable on purpose just goes on).
	for _ in $(seq 50); do
		ctl status -o json 2>/dev/null |
			python3 -c "import json,sys; sys.exit(any(c['phase'] == 'Unknown' for c in json.load(sys.stdin)['canaries']))" &&
			return 0
		sleep 0.1
	done
	return 0
}

# Stops canaryd with SIGTERM and checks it exits 0 within 10 s.
e2e_stop_daemon() {
	kill -TERM "$DAEMON_PID"
	local rc=0
	for _ in $(seq 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DAEMON_PID" 2>/dev/null && fail "canaryd still running 10 s after SIGTERM"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	[ $rc = 0 ] || fail "canaryd exited $rc after SIGTERM"
}

ctl() {
	"$CANARYCTL" --socket "$E2E/control.sock" "$@"
}

phase_of() {
	ctl status "$1" -o json | json_get "d['canaries'][0]['phase']"
}

wait_phase() { # NAME PHASE [SECONDS]
	local name=$1 want=$2 secs=${3:-30} got=
	for _ in $(seq $((secs * 10))); do
		got=$(phase_of "$name" 2>/dev/null || true)
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	ctl status "$name" >&2 || true
	fail "$name: phase $got after ${secs}s, expected $want"
}

slack_texts() {
	admin GET /slack/messages | python3 -c "
import json,sys
for m in json.load(sys.stdin):
    p = m.get('payload') or m.get('body') or {}
    if isinstance(p, str):
        try: p = json.loads(p)
        except Exception: p = {}
    print(p.get('text', ''))"
}

# Writes a throwaway test CA (ca.key, ca.pem) and a server certificate for 127.0.0.1 signed by it
# (server.key, server.pem) into the current directory. Valid for two days.
e2e_make_test_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sandbox test CA" \
		-keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key \
		-out server.csr 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.cnf -out server.pem 2>/dev/null
}
