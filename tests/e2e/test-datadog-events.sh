#!/usr/bin/env bash
# datadog.events: a rollout's started, rolled back and promoted (and aborted) events reach
# POST /api/v1/events with the SPEC's title, tags and alert_type and one aggregation key per
# rollout; an event answered 429 is retried after X-RateLimit-Reset and arrives exactly once,
# while the queries (and so the decisions) go on during the hold; the outcomes are counted in
# /metrics. Against the sandbox, about 35 s.
. "$(dirname "$0")/lib.sh"

e2e_setup
sed -i 's/^  app_key_file: dd-app-key$/&\n  events: true/' "$E2E/canaryd.yaml"
HTTP_PORT=$(free_port)
printf 'http:\n  listen: "127.0.0.1:%s"\n' "$HTTP_PORT" >>"$E2E/canaryd.yaml"
grep -q '^  events: true$' "$E2E/canaryd.yaml" || fail "datadog.events not set"

# The first event post is answered 429 with the events limit's headers: held for 12 s, long
# enough for search to be judged and rolled back meanwhile.
admin POST /faults '{"service":"datadog","match":{"method":"POST","path_regex":"^/api/v1/events$"},
  "status":429,"count":1,"body":{"errors":["Rate limit of 5 requests in 60 seconds reached. Please try again later."]},
  "headers":{"X-RateLimit-Limit":"5","X-RateLimit-Period":"60","X-RateLimit-Remaining":"0",
             "X-RateLimit-Reset":"12","X-RateLimit-Name":"events_submission"}}' >/dev/null ||
	fail "cannot inject the 429"
e2e_start_daemon

ctl start search --revision v7 || fail "start search"
wait_phase search RolledBack 40
ctl start checkout --revision v2 || fail "start checkout"
wait_phase checkout Promoted 40
ctl start checkout --revision v3 || fail "start checkout v3"
wait_phase checkout Progressing 10
ctl abort checkout --reason "pager fired" || fail "abort"
wait_phase checkout RolledBack 10
pass "search rolled back, checkout promoted, checkout v3 aborted"

# 6 events: the 429'd one retried once; wait for the last to arrive
for _ in $(seq 100); do
	[ "$(admin GET /datadog/events | json_get 'len(d)')" -ge 6 ] && break
	sleep 0.1
done
admin GET /datadog/events >"$E2E/events.json"
admin GET '/requests?service=datadog&path_regex=^/api/v1/events$' >"$E2E/event-requests.json"
admin GET '/requests?service=datadog&path_regex=^/api/v1/query$' >"$E2E/query-requests.json"
admin GET /kube/write-times >"$E2E/writes.json"
python3 - "$E2E/events.json" "$E2E/event-requests.json" "$E2E/query-requests.json" \
	"$E2E/writes.json" <<'PY' ||
import json, sys
events = [e["request"] for e in json.load(open(sys.argv[1]))]
posts = json.load(open(sys.argv[2]))
queries = json.load(open(sys.argv[3]))
writes = json.load(open(sys.argv[4]))
def fail(msg):
    print(msg); print(json.dumps(events, indent=1)); sys.exit(1)
got = [(e["title"], e["alert_type"]) for e in events]
want = [("canaryd: search started at 10%", "info"),
        ("canaryd: search rolled back at 0%", "error"),
        ("canaryd: checkout started at 10%", "info"),
        ("canaryd: checkout promoted at 100%", "success"),
        ("canaryd: checkout started at 10%", "info"),
        ("canaryd: checkout aborted at 0%", "warning")]
if got != want:
    fail("events %r, expected %r" % (got, want))
revs = ["v7", "v7", "v2", "v2", "v3", "v3"]
for e, (canary, rev) in zip(events, zip(["search"] * 2 + ["checkout"] * 4, revs)):
    if sorted(e["tags"]) != sorted(["canary:" + canary, "namespace:shop", "revision:" + rev,
                                    "source:canaryd"]):
        fail("tags %r" % e["tags"])
    if not e["aggregation_key"].startswith("canaryd/%s/" % canary):
        fail("aggregation_key %r" % e["aggregation_key"])
    if not e["text"].startswith("%%% \n") or not e["text"].endswith("\n %%%"):
        fail("text %r" % e["text"])
    if not isinstance(e["date_happened"], int):
        fail("date_happened %r" % e["date_happened"])
keys = [e["aggregation_key"] for e in events]
if not (keys[0] == keys[1] and keys[2] == keys[3] and keys[4] == keys[5] and
        len(set(keys)) == 3):
    fail("one aggregation key per rollout: %r" % keys)
if "pager fired" not in events[5]["text"] or "By: uid:" not in events[5]["text"]:
    fail("abort text %r" % events[5]["text"])
# the wire: 7 posts, the first 429 and its retry 202 with the same body, API key, no app key
st = [p["status"] for p in posts]
if st != [429] + [202] * 6:
    fail("post statuses %r" % st)
if posts[0]["body"] != posts[1]["body"]:
    fail("the retry is not the same event")
for p in posts:
    h = {k.lower(): v for k, v in p["headers"].items()}
    if h.get("dd-api-key") != "sandbox-api-key" or "dd-application-key" in h:
        fail("headers %r" % h)
    if not h.get("content-type", "").startswith("application/json"):
        fail("content type %r" % h)
held = posts[1]["time"] - posts[0]["time"]
if not 11.5 <= held <= 18:
    fail("retried %.1fs after the 429, expected about X-RateLimit-Reset (12s)" % held)
# queries and decisions went on while the event was held: events never delay a decision
during = [q for q in queries if posts[0]["time"] < q["time"] < posts[1]["time"]]
if len(during) < 2:
    fail("%d queries between the 429 and the retry: events held the queries" % len(during))
rb = [w["time"] for w in writes if w["name"] == "search" and
      (w["after"] or {}).get("phase") == "RolledBack"]
if not rb or not posts[0]["time"] < rb[0] < posts[1]["time"]:
    fail("search's rollback write (%r) did not land while the event was held" % rb)
print("event held %.1fs; meanwhile %d queries and the rollback, %.1fs after the 429" %
      (held, len(during), rb[0] - posts[0]["time"]))
PY
	fail "recorded events"
pass "titles, tags, alert types and aggregation keys as SPEC §10; the 429 retried once"

metrics=$(curl -sS "http://127.0.0.1:$HTTP_PORT/metrics") || fail "no /metrics"
echo "$metrics" | grep -qx 'canaryd_datadog_events_total{result="sent"} 6' ||
	fail "sent counter: $(echo "$metrics" | grep datadog_events)"
echo "$metrics" | grep -qx 'canaryd_datadog_events_total{result="failed"} 0' ||
	fail "failed counter: $(echo "$metrics" | grep datadog_events)"
grep -q 'datadog: event search/started posted (id [0-9]*, 2 attempts)' "$E2E/canaryd.log" ||
	fail "no log line of the retried event: $(grep 'datadog: event' "$E2E/canaryd.log")"
pass "counted in /metrics and logged"
e2e_stop_daemon
