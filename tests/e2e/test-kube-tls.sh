#!/usr/bin/env bash
# The Kubernetes client over https: a kubeconfig with a bearer token and a CA (file, then
# certificate-authority-data) completes a rollout; a wrong CA is refused and writes nothing.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 0; }

cd "$E2E"
e2e_make_test_ca
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout other.key \
	-out other.pem 2>/dev/null
cd - >/dev/null

# sandbox with TLS on the Kubernetes port
python3 "$SRC/tests/sandbox/sandbox.py" --scenario "$SRC/tests/e2e/scenarios/e2e.json" \
	--port-file "$E2E/ports.json" --kube-tls-cert "$E2E/server.pem" \
	--kube-tls-key "$E2E/server.key" >"$E2E/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 100); do [ -s "$E2E/ports.json" ] && break; sleep 0.1; done
E2E_INTERVAL=1s
mkdir -p "$E2E/creds" "$E2E/state"
printf 'sandbox-api-key' >"$E2E/creds/dd-api-key"
printf 'sandbox-app-key' >"$E2E/creds/dd-app-key"
printf 'http://127.0.0.1:%s/services/T000/B000/sandbox' "$(port slack)" >"$E2E/creds/slack-webhook"
e2e_write_config 1s 0

kubeconfig() { # CA-LINE
	cat >"$E2E/kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: tls
	  cluster:
	    server: https://127.0.0.1:$(port kube)
	    $1
	users:
	- name: canaryd
	  user: {token: sandbox-token}
	contexts:
	- name: tls
	  context: {cluster: tls, user: canaryd}
	current-context: tls
	EOF
}

kubeconfig "certificate-authority: $E2E/ca.pem"
e2e_start_daemon
ctl start checkout --revision tls1 >/dev/null
wait_phase checkout Promoted 30
admin GET "/requests?service=kube&method=PUT" | json_get "d[0]['headers']" | grep -qi "bearer sandbox-token" ||
	fail "bearer token not sent over https"
pass "https with a CA file and a bearer token"
e2e_stop_daemon

kubeconfig "certificate-authority-data: $(base64 -w0 "$E2E/ca.pem")"
e2e_start_daemon
ctl start search --revision tls2 >/dev/null
wait_phase search RolledBack 30
pass "https with certificate-authority-data"
e2e_stop_daemon

kubeconfig "certificate-authority: $E2E/other.pem"
admin POST /reset >/dev/null
e2e_start_daemon
sleep 2
ctl status checkout -o json | json_get "d['canaries'][0]['error'] or ''" | grep -qi "kubernetes GET" ||
	fail "a wrong CA did not surface as an error in status"
rc=0; ctl start checkout --revision x 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "start accepted although the cluster could not be read (exit $rc)"
n=$(admin GET "/requests?service=kube&method=PUT" | json_get "len(d)")
[ "$n" = 0 ] || fail "$n writes reached the server through an untrusted certificate"
pass "wrong CA refused, nothing written"
e2e_stop_daemon
