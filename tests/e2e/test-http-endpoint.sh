#!/usr/bin/env bash
# The HTTP endpoint (SPEC §9) with real parts: curl for /healthz, /readyz and the refusals,
# promtool for the /metrics format, and a real Prometheus server that scrapes canaryd during a
# sandbox rollout, whose PromQL answer must show the weight move 10 -> 25 -> 50 -> 100.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
command -v prometheus >/dev/null || fail "prometheus not installed (Debian package prometheus)"

e2e_setup
HTTP_PORT=$(free_port)
printf 'http:\n  listen: "127.0.0.1:%s"\n' "$HTTP_PORT" >>"$E2E/canaryd.yaml"
URL=http://127.0.0.1:$HTTP_PORT

# Prometheus first, so that it scrapes from the daemon's first second.
PROM_PORT=$(free_port)
cat >"$E2E/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: canaryd
    static_configs: [{targets: ["127.0.0.1:$HTTP_PORT"]}]
EOF
promtool check config "$E2E/prometheus.yml" >"$E2E/promtool-config.txt" 2>&1 ||
	fail "promtool rejects the test's Prometheus config: $(cat "$E2E/promtool-config.txt")"
prometheus --config.file="$E2E/prometheus.yml" --storage.tsdb.path="$E2E/prom-data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$E2E/prometheus.log" 2>&1 &
PROM_PID=$!
trap 'kill $PROM_PID 2>/dev/null; wait $PROM_PID 2>/dev/null; e2e_cleanup' EXIT

e2e_start_daemon

code=$(curl -s -o "$E2E/healthz" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] && grep -qx ok "$E2E/healthz" || fail "/healthz: $code $(cat "$E2E/healthz")"
code=$(curl -s -I -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "HEAD /healthz: $code"
pass "/healthz answers 200 (GET and HEAD)"

ready=0
for _ in $(seq 50); do
	code=$(curl -s -o "$E2E/readyz" -w '%{http_code}' "$URL/readyz")
	[ "$code" = 200 ] && { ready=1; break; }
	sleep 0.2
done
[ $ready = 1 ] || fail "/readyz never 200: $code $(cat "$E2E/readyz")"
grep -qx ready "$E2E/readyz" || fail "/readyz body: $(cat "$E2E/readyz")"
pass "/readyz answers 200 once Kubernetes was reached and the Datadog key accepted"

code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")
[ "$code" = 404 ] || fail "unknown path: $code, expected 404"
code=$(curl -s -D "$E2E/h405" -o /dev/null -w '%{http_code}' -X POST --data x "$URL/metrics")
[ "$code" = 405 ] || fail "POST /metrics: $code, expected 405"
grep -qi '^allow: GET, HEAD' "$E2E/h405" || fail "405 without Allow: $(cat "$E2E/h405")"
head -c 300000 /dev/zero | tr '\0' a >"$E2E/big"
# (the server answers before reading the body and closes: curl may report the broken send)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$E2E/big" "$URL/metrics" || true)
[ "$code" = 413 ] || fail "a 300 kB body: $code, expected 413"
grep -q "body larger than" "$E2E/canaryd.log" || fail "the 413 was not logged"
# headers past the per-connection limit: refused, and the daemon goes on
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' b)" \
	"$URL/healthz" || true)
[ "$code" = 431 ] || fail "40 kB of headers: $code, expected 431"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "/healthz after the refusals: $code"
pass "404, 405 with Allow, 413 for a large body, large headers refused; the daemon goes on"

# 10 slow clients that send half a request and wait (below the 16 connections a client address
# may hold): the loop serves others meanwhile
python3 - "$HTTP_PORT" "$E2E/slow-ready" <<'PY' &
import socket, sys, time
socks = []
for _ in range(10):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(4)
PY
SLOW_PID=$!
for _ in $(seq 50); do [ -e "$E2E/slow-ready" ] && break; sleep 0.1; done
[ -e "$E2E/slow-ready" ] || fail "the stalled clients could not connect"
code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$URL/healthz" || true)
[ "$code" = 200 ] || fail "/healthz while 10 clients stall: $code"
wait $SLOW_PID || true
pass "10 stalled clients do not block the loop"

# Prometheus needs a few seconds to start: wait for its first successful scrape of canaryd, or the
# first step could pass unseen.
up=
for _ in $(seq 60); do
	up=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=up{job="canaryd"}' |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null) || true
	[ "$up" = 1 ] && break
	sleep 0.5
done
[ "$up" = 1 ] || fail "Prometheus never scraped canaryd (up=[$up]): $(tail -5 "$E2E/prometheus.log")"
pass "Prometheus scrapes canaryd"

ctl start checkout --revision v2 || fail "start checkout"
wait_phase checkout Promoted 60
pass "checkout promoted"

curl -s -D "$E2E/mhead" -o "$E2E/metrics.txt" "$URL/metrics" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$E2E/mhead" ||
	fail "/metrics content type: $(cat "$E2E/mhead")"
promtool check metrics <"$E2E/metrics.txt" >"$E2E/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$E2E/promtool.txt")"
pass "promtool check metrics accepts /metrics"

python3 - "$E2E/metrics.txt" <<'PY' || fail "/metrics values"
import re, sys
samples = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    name_labels, value = line.rsplit(" ", 1)
    samples[name_labels] = float(value)
def get(name, **labels):
    want = set('%s="%s"' % kv for kv in labels.items())
    found = [v for k, v in samples.items()
             if k.split("{")[0] == name and want <= set(re.findall(r'\w+="[^"]*"', k))]
    assert found, "%s %s not in /metrics" % (name, labels)
    return sum(found)
assert get("canaryd_canary_weight", canary="checkout") == 100
assert get("canaryd_canary_phase", canary="checkout", phase="Promoted") == 1
assert get("canaryd_canary_phase", canary="checkout", phase="Progressing") == 0
assert get("canaryd_rollouts_total", canary="checkout", outcome="promoted") == 1
assert get("canaryd_rollouts_total", canary="search", outcome="promoted") == 0
assert get("canaryd_analyses_total", canary="checkout", result="pass") >= 3
assert get("canaryd_kubernetes_requests_total", verb="update", code="200") >= 4
assert get("canaryd_datadog_requests_total", code="200") >= 3
assert get("canaryd_analysis_duration_seconds_count") >= 3
assert get("canaryd_decision_lag_seconds_count") >= 3
assert get("canaryd_slack_messages_total", result="sent") >= 1
print("ok")
PY
pass "/metrics: weight, phase, rollouts, analyses, requests, histograms, Slack"

# counters survive a reload (a canary's by name)
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do grep -q "configuration reloaded" "$E2E/canaryd.log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$E2E/canaryd.log" || fail "SIGHUP did not reload"
# The page is read whole before grep looks at it: `curl | grep -q` under pipefail fails when
# grep quits at the match and curl, still writing a page larger than the pipe, gets EPIPE
# (this failed the check twice in full suites, with the counter on the page).
page=$(curl -s "$URL/metrics")
grep -qx 'canaryd_rollouts_total{canary="checkout",outcome="promoted"} 1' <<<"$page" ||
	fail "rollouts_total lost at reload: $(grep rollouts_total <<<"$page")"
pass "counters survive SIGHUP"

# What Prometheus stored: the weight series over the rollout, with consecutive repeats merged.
end=$(date +%s)
start=$((end - 120))
seen=
for _ in $(seq 20); do
	seen=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query_range" \
		--data-urlencode 'query=canaryd_canary_weight{canary="checkout"}' \
		--data-urlencode "start=$start" --data-urlencode "end=$(date +%s)" \
		--data-urlencode 'step=0.5' | python3 -c '
import json, sys
d = json.load(sys.stdin)
vals = [int(float(v)) for r in d["data"]["result"] for _, v in r["values"]]
merged = [v for i, v in enumerate(vals) if i == 0 or v != vals[i - 1]]
print(" ".join(map(str, merged)))') || true
	echo "$seen" | grep -q "10 25 50 100" && break
	sleep 1
done
echo "$seen" | grep -q "10 25 50 100" ||
	fail "Prometheus saw the checkout weight as [$seen], expected 10 25 50 100 in order"
pass "a real Prometheus server saw the weight move 10 -> 25 -> 50 -> 100 ($seen)"

e2e_stop_daemon

# A rejected Datadog key: the daemon runs (every analysis inconclusive) but is not ready.
printf 'not-the-sandbox-key\n' >"$E2E/creds/dd-api-key"
e2e_start_daemon
body=
for _ in $(seq 50); do
	code=$(curl -s -o "$E2E/readyz" -w '%{http_code}' "$URL/readyz")
	body=$(cat "$E2E/readyz")
	[ "$code" = 503 ] && echo "$body" | grep -q "datadog API key rejected" && break
	sleep 0.2
done
[ "$code" = 503 ] || fail "/readyz with a rejected key: $code $body"
echo "$body" | grep -q "datadog API key rejected" || fail "/readyz reason: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "/healthz with a rejected key: $code"
pass "/readyz 503 ($body) while /healthz stays 200"
e2e_stop_daemon
