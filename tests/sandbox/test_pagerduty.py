#!/usr/bin/env python3
"""Checks the sandbox's PagerDuty emulation (tests/sandbox/sandboxlib/pagerduty.py) end to end:
starts sandbox.py serving only PagerDuty, then POSTs /v2/enqueue as canaryd will: a trigger, its
resolve, invalid events (PagerDuty's 400 shape and errors), the token bucket's 429, an injected
fault, and reads the events back from the admin API (GET /pagerduty/events). A few seconds, no
daemon; exit 1 on the first failure."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "R0123456789abcdef0123456789abcde"


def call(port, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw[:1] == b"{" else raw, dict(e.headers)


def check(cond, what):
    if not cond:
        print("FAIL: %s" % what, file=sys.stderr)
        sys.exit(1)


def trigger(summary="checkout: rolled back", **kw):
    ev = {"routing_key": KEY, "event_action": "trigger", "dedup_key": "canaryd/checkout/1",
          "payload": {"summary": summary, "source": "checkout", "severity": "critical",
                      "custom_details": {"error_rate": "0.12"}},
          "links": [{"href": "https://runbook.example/checkout", "text": "Runbook"}]}
    ev.update(kw)
    return ev


def main():
    with tempfile.TemporaryDirectory() as tmp:
        scen = os.path.join(tmp, "scenario.json")
        with open(scen, "w") as f:
            json.dump({"pagerduty": {"rate_limit": {"per_second": 0.5, "burst": 6}}}, f)
        ports_file = os.path.join(tmp, "ports.json")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "sandbox.py"), "--scenario",
                                 scen, "--services", "pagerduty", "--port-file", ports_file,
                                 "--log", os.path.join(tmp, "log")])
        try:
            for _ in range(100):
                if os.path.exists(ports_file):
                    break
                time.sleep(0.05)
            with open(ports_file) as f:
                ports = json.load(f)
            check(set(ports) == {"pagerduty", "admin"}, "port file %r" % ports)
            pd, admin = ports["pagerduty"], ports["admin"]

            st, body, _ = call(pd, "POST", "/v2/enqueue", trigger())
            check(st == 202 and body == {"status": "success", "message": "Event processed",
                                         "dedup_key": "canaryd/checkout/1"}, "trigger: %r" % body)
            st, body, _ = call(pd, "POST", "/v2/enqueue",
                               {"routing_key": KEY, "event_action": "resolve",
                                "dedup_key": "canaryd/checkout/1"})
            check(st == 202 and body["dedup_key"] == "canaryd/checkout/1", "resolve: %r" % body)
            st, body, _ = call(pd, "POST", "/v2/enqueue", trigger(dedup_key=None))
            check(st == 202 and len(body["dedup_key"]) == 32, "generated key: %r" % body)

            bad = [(trigger(routing_key="short"), "Length of 'routing_key'"),
                   (trigger(event_action="page"), "'event_action' is invalid"),
                   (trigger(summary=""), "'payload.summary' is missing"),
                   (trigger(summary="x" * 1025), "'payload.summary' is too long"),
                   (trigger(dedup_key="k" * 256), "'dedup_key' is invalid"),
                   ({"routing_key": KEY, "event_action": "resolve"}, "'dedup_key' is missing"),
                   (b"{not json", "not valid JSON")]
            sev = trigger()
            sev["payload"]["severity"] = "fatal"
            bad.append((sev, "'payload.severity' is invalid"))
            for ev, want in bad:
                st, body, _ = call(pd, "POST", "/v2/enqueue", ev)
                check(st == 400 and body["status"] == "invalid event" and
                      body["message"] == "Event object is invalid" and
                      any(want in e for e in body["errors"]), "%s: %r %r" % (want, st, body))

            # 3 accepted so far of a burst of 6 (invalid events take no token): 3 more, then 429
            for i in range(3):
                st, _, _ = call(pd, "POST", "/v2/enqueue", trigger(dedup_key="b%d" % i))
                check(st == 202, "burst %d: %d" % (i, st))
            st, body, hdrs = call(pd, "POST", "/v2/enqueue", trigger(dedup_key="over"))
            check(st == 429 and body["status"] == "throttle event" and
                  int(hdrs.get("Retry-After", 0)) >= 1, "429: %r %r" % (st, body))

            st, f, _ = call(admin, "POST", "/faults", {"service": "pagerduty", "status": 502,
                                                       "body": "bad gateway"})
            check(st == 200, "fault: %r" % f)
            st, _, _ = call(pd, "POST", "/v2/enqueue", trigger())
            check(st == 502, "fault answered %d" % st)

            st, events, _ = call(admin, "GET", "/pagerduty/events")
            check(st == 200 and [e["action"] for e in events] ==
                  ["trigger", "resolve", "trigger", "trigger", "trigger", "trigger"],
                  "events: %r" % [e["action"] for e in events])
            check(events[0]["event"]["payload"]["summary"] == "checkout: rolled back" and
                  events[1]["incident"] == "resolved", "events[0..1]: %r" % events[:2])
            st, later, _ = call(admin, "GET", "/pagerduty/events?since=%d" % events[-2]["seq"])
            check(len(later) == 1, "since: %r" % later)
            st, state, _ = call(admin, "GET", "/state")
            check(state["pagerduty"]["incidents"]["canaryd/checkout/1"] == "resolved",
                  "state: %r" % state.get("pagerduty"))
        finally:
            proc.terminate()
            proc.wait(10)
    print("pagerduty emulation: ok")


if __name__ == "__main__":
    main()
