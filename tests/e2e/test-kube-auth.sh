#!/usr/bin/env bash
# Kubernetes authentication against the TLS sandbox, which also asks for client certificates
# (--kube-tls-client-ca): client-certificate/-key files and -data, tokenFile (rotated while the
# daemon runs), exec credential plugins v1 (token; cached; re-run on 401) and v1beta1 (client
# certificate; re-run when expired), a plugin that only answers expired credentials (a clear
# error, bounded runs), insecure-skip-tls-verify (works, warns loudly), and
# VirtualService version discovery (an "older Istio" serving only v1beta1 and v1alpha3).
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 0; }

cd "$E2E"
e2e_make_test_ca
openssl req -newkey rsa:2048 -nodes -subj "/CN=canaryd-client" -keyout client.key \
	-out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.cnf
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-extfile client.cnf -out client.pem 2>/dev/null
cd - >/dev/null

# An older Istio: no networking.istio.io/v1, so discovery must pick v1beta1.
python3 - "$SRC/tests/e2e/scenarios/e2e.json" "$E2E/scenario.json" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	s["kubernetes"]["virtual_service_versions"] = ["v1beta1", "v1alpha3"]
	json.dump(s, open(sys.argv[2], "w"))
EOF
python3 "$SRC/tests/sandbox/sandbox.py" --scenario "$E2E/scenario.json" \
	--port-file "$E2E/ports.json" --kube-tls-cert "$E2E/server.pem" \
	--kube-tls-key "$E2E/server.key" --kube-tls-client-ca "$E2E/ca.pem" \
	>"$E2E/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 100); do [ -s "$E2E/ports.json" ] && break; sleep 0.1; done
mkdir -p "$E2E/creds" "$E2E/state"
printf 'sandbox-api-key' >"$E2E/creds/dd-api-key"
printf 'sandbox-app-key' >"$E2E/creds/dd-app-key"
printf 'http://127.0.0.1:%s/services/T000/B000/sandbox' "$(port slack)" >"$E2E/creds/slack-webhook"
e2e_write_config 30s 0

kubeconfig() { # CLUSTER-EXTRA USER-MAPPING
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
	  user: $2
	contexts:
	- name: tls
	  context: {cluster: tls, user: canaryd}
	current-context: tls
	EOF
}

wait_loaded() { # the first read of checkout is done
	for _ in $(seq 100); do
		case $(phase_of checkout 2>/dev/null) in Unknown | "") sleep 0.1 ;; *) return 0 ;; esac
	done
	fail "checkout never read"
}

# The daemon reads both VirtualServices and answers a start with a write.
check_works() { # WHAT
	local since
	since=$(admin GET /state | json_get "d['last_seq']")
	e2e_start_daemon
	wait_loaded
	ctl start checkout --revision "r$RANDOM" >/dev/null || fail "$1: start refused"
	for _ in $(seq 100); do
		[ "$(phase_of checkout)" = Progressing ] && break
		sleep 0.1
	done
	[ "$(phase_of checkout)" = Progressing ] || fail "$1: no rollout started"
	e2e_stop_daemon
	n401=$(admin GET "/requests?service=kube&since=$since" |
		json_get "sum(1 for r in d if r['status'] == 401)")
	puts=$(admin GET "/requests?service=kube&method=PUT&since=$since" | json_get "len(d)")
	[ "$puts" -ge 1 ] || fail "$1: nothing written"
	ver=$(admin GET "/requests?service=kube&method=PUT&since=$since" | json_get "d[0]['path']")
	case $ver in /apis/networking.istio.io/v1beta1/*) ;; *) fail "$1: wrote $ver, not v1beta1" ;; esac
}

reset_vs() {
	admin POST /scenario "{\"path\": \"$E2E/scenario.json\"}" >/dev/null
}

# -- client certificate (files), no token --
kubeconfig "certificate-authority: $E2E/ca.pem" \
	"{client-certificate: $E2E/client.pem, client-key: $E2E/client.key}"
check_works "client-certificate files"
[ "$n401" = 0 ] || fail "client certificate: $n401 requests refused"
cn=$(admin GET "/requests?service=kube&method=PUT" | json_get "d[-1].get('client_cert_cn')")
[ "$cn" = canaryd-client ] || fail "client certificate not presented (cn=$cn)"
grep -q "authentication: client certificate" "$E2E/canaryd.log" || fail "auth kind not logged"
pass "client certificate files; VirtualService version discovered: v1beta1"

# -- client certificate (-data) --
reset_vs
kubeconfig "certificate-authority-data: $(base64 -w0 "$E2E/ca.pem")" \
	"{client-certificate-data: $(base64 -w0 "$E2E/client.pem"), client-key-data: $(base64 -w0 "$E2E/client.key")}"
check_works "client-certificate-data"
pass "client-certificate-data / client-key-data"

# -- tokenFile, rotated while running --
reset_vs
printf 'sandbox-token\n' >"$E2E/token"
kubeconfig "certificate-authority: $E2E/ca.pem" "{tokenFile: $E2E/token}"
e2e_start_daemon
wait_loaded
ctl start checkout --revision tf1 >/dev/null
wait_phase checkout Progressing 10
admin POST /kube/auth '{"token": "rotated-token"}' >/dev/null
printf 'rotated-token\n' >"$E2E/token"
since=$(admin GET /state | json_get "d['last_seq']")
ctl abort checkout >/dev/null
wait_phase checkout RolledBack 10
e2e_stop_daemon
n401=$(admin GET "/requests?service=kube&since=$since" | json_get "sum(1 for r in d if r['status'] == 401)")
[ "$n401" = 0 ] || fail "tokenFile: the rotated token was not re-read ($n401 x 401)"
admin GET "/requests?service=kube&since=$since" | json_get "d[-1]['headers']" |
	grep -qi "bearer rotated-token" || fail "tokenFile: rotated token not sent"
pass "tokenFile re-read after rotation"

# -- exec plugin v1, token: cached, re-run once on 401 --
reset_vs
admin POST /kube/auth '{"token": "plugin-token-1"}' >/dev/null
cat >"$E2E/plugin.sh" <<-EOF
	#!/bin/sh
	echo run >>"$E2E/plugin.runs"
	case "\$KUBERNETES_EXEC_INFO" in *'"apiVersion":"client.authentication.k8s.io/v1"'*) ;; *) exit 9 ;; esac
	printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2099-01-01T00:00:00Z"}}' "\$(cat "$E2E/plugin.token")"
EOF
chmod +x "$E2E/plugin.sh"
printf 'plugin-token-1' >"$E2E/plugin.token"
: >"$E2E/plugin.runs"
kubeconfig "certificate-authority: $E2E/ca.pem" \
	"{exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, interactiveMode: Never}}"
e2e_start_daemon
wait_loaded
ctl start checkout --revision ex1 >/dev/null
wait_phase checkout Progressing 10
runs=$(wc -l <"$E2E/plugin.runs")
[ "$runs" = 1 ] || fail "exec v1: plugin ran $runs times, expected 1 (cached)"
admin POST /kube/auth '{"token": "plugin-token-2"}' >/dev/null
printf 'plugin-token-2' >"$E2E/plugin.token"
since=$(admin GET /state | json_get "d['last_seq']")
ctl abort checkout >/dev/null
wait_phase checkout RolledBack 10
e2e_stop_daemon
runs=$(wc -l <"$E2E/plugin.runs")
[ "$runs" = 2 ] || fail "exec v1: plugin ran $runs times, expected 2 (re-run on 401)"
n401=$(admin GET "/requests?service=kube&since=$since" | json_get "sum(1 for r in d if r['status'] == 401)")
[ "$n401" = 1 ] || fail "exec v1: $n401 x 401 after rotation, expected exactly 1"
pass "exec plugin v1: cached, re-run once on 401"

# -- exec plugin v1beta1, client certificate with a short expiry: re-run without a 401 --
reset_vs
cat >"$E2E/plugin-cert.sh" <<-EOF
	#!/usr/bin/env python3
	import datetime, json
	open("$E2E/plugin-cert.runs", "a").write("run\n")
	exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
	print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
	                  "status": {"clientCertificateData": open("$E2E/client.pem").read(),
	                             "clientKeyData": open("$E2E/client.key").read(),
	                             "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%S+00:00")}}))
EOF
chmod +x "$E2E/plugin-cert.sh"
: >"$E2E/plugin-cert.runs"
kubeconfig "certificate-authority: $E2E/ca.pem" \
	"{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: $E2E/plugin-cert.sh}}"
check_works "exec v1beta1 client certificate"
[ "$n401" = 0 ] || fail "exec v1beta1: $n401 requests refused"
e2e_start_daemon
sleep 2.5 # past the expiry; the re-read ticks need a fresh credential
ctl abort checkout >/dev/null
wait_phase checkout RolledBack 10
e2e_stop_daemon
runs=$(wc -l <"$E2E/plugin-cert.runs")
[ "$runs" -ge 3 ] || fail "exec v1beta1: plugin ran $runs times; an expired credential was reused"
pass "exec plugin v1beta1: client certificate, re-run after expirationTimestamp"

# -- a plugin whose credential has always expired already (a wrong clock): a clear error and a
#    bounded number of runs, where each waiting call used to re-run it at once, for ever --
reset_vs
cat >"$E2E/plugin-stale.sh" <<-EOF
	#!/bin/sh
	echo run >>"$E2E/plugin-stale.runs"
	printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token-2","expirationTimestamp":"2001-01-01T00:00:00Z"}}'
EOF
chmod +x "$E2E/plugin-stale.sh"
: >"$E2E/plugin-stale.runs"
kubeconfig "certificate-authority: $E2E/ca.pem" \
	"{exec: {apiVersion: client.authentication.k8s.io/v1, command: $E2E/plugin-stale.sh, interactiveMode: Never}}"
e2e_start_daemon
rc=0; out=$(ctl start checkout --revision stale 2>&1) || rc=$?
sleep 2
runs=$(wc -l <"$E2E/plugin-stale.runs")
e2e_stop_daemon
[ $rc != 0 ] || fail "a start went through with an expired credential: $out"
grep -q "expirationTimestamp has passed" "$E2E/canaryd.log" ||
	fail "no clear error for an expired plugin credential: $out"
[ "$runs" -ge 3 ] && [ "$runs" -le 60 ] || fail "stale plugin ran $runs times in ~3 s"
pass "exec plugin answering expired credentials: clear error, $runs runs in ~3 s"

# -- insecure-skip-tls-verify: no CA, works, and says so loudly --
reset_vs
kubeconfig "insecure-skip-tls-verify: true" "{token: sandbox-token}"
check_works "insecure-skip-tls-verify"
grep -q "WARNING: the kubeconfig sets insecure-skip-tls-verify" "$E2E/canaryd.log" ||
	fail "insecure-skip-tls-verify without a warning"
pass "insecure-skip-tls-verify honoured with a warning"

# -- and without it, the same kubeconfig minus the flag is refused (verification is on) --
reset_vs
kubeconfig "" "{token: sandbox-token}"
since=$(admin GET /state | json_get "d['last_seq']")
e2e_start_daemon
sleep 1.5
rc=0; ctl start checkout --revision x 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "an unverifiable server was accepted (exit $rc)"
e2e_stop_daemon
n=$(admin GET "/requests?service=kube&since=$since" | json_get "len(d)")
[ "$n" = 0 ] || fail "$n requests reached an unverified server"
pass "TLS verification stays on without the flag"
