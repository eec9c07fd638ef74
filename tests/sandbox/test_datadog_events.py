#!/usr/bin/env python3
"""Checks the sandbox's Datadog events emulation (tests/sandbox/sandboxlib/datadog_events.py) end
to end: starts sandbox.py serving only Datadog, then POSTs /api/v1/events as canaryd does: an
accepted event (202 and its echo), the API key rules (403; no application key needed), invalid
events (400 {"errors":[...]}), the events bucket's rate-limit headers and 429, an injected fault,
GET /api/v1/events, and reads the events back from the admin API (GET /datadog/events). A few
seconds, no daemon; exit 1 on the first failure."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
API_KEY, APP_KEY = "sandbox-api-key", "sandbox-app-key"


def call(port, method, path, body=None, keys=True, app=False):
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    headers = {"Content-Type": "application/json"}
    if keys:
        headers["DD-API-KEY"] = API_KEY
    if app:
        headers["DD-APPLICATION-KEY"] = APP_KEY
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers=headers)
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


def event(**kw):
    ev = {"title": "canaryd: checkout rolled back at 0%", "text": "%%% \nrolled back\n %%%",
          "alert_type": "error", "priority": "normal", "date_happened": int(time.time()),
          "aggregation_key": "canaryd/checkout/1", "tags": ["canary:checkout", "source:canaryd"]}
    ev.update(kw)
    return ev


def main():
    with tempfile.TemporaryDirectory() as tmp:
        scen = os.path.join(tmp, "scenario.json")
        with open(scen, "w") as f:
            json.dump({"datadog": {"events": {"rate_limit": {"limit": 11, "period": 3600}}}}, f)
        ports_file = os.path.join(tmp, "ports.json")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "sandbox.py"), "--scenario",
                                 scen, "--services", "datadog", "--port-file", ports_file,
                                 "--log", os.path.join(tmp, "log")])
        try:
            for _ in range(100):
                if os.path.exists(ports_file):
                    break
                time.sleep(0.05)
            with open(ports_file) as f:
                ports = json.load(f)
            dd, admin = ports["datadog"], ports["admin"]

            st, body, hdrs = call(dd, "POST", "/api/v1/events", event())
            check(st == 202 and body["status"] == "ok" and body["event"]["title"] ==
                  "canaryd: checkout rolled back at 0%" and body["event"]["id"] > 2 ** 53 and
                  body["event"]["id_str"] == str(body["event"]["id"]), "accepted: %r" % body)
            check(hdrs.get("X-RateLimit-Name") == "events_submission" and
                  hdrs.get("X-RateLimit-Remaining") == "10", "headers: %r" % hdrs)
            st, body, _ = call(dd, "POST", "/api/v1/events", event(), keys=False)
            check(st == 403 and body == {"errors": ["Forbidden"]}, "no key: %r %r" % (st, body))

            old = int(time.time()) - 19 * 3600
            bad = [(event(title=""), "title is required"),
                   (event(title="x" * 101), "title is too long"),
                   (event(text=None), "text is required"),
                   (event(text="x" * 4001), "text is too long"),
                   (event(alert_type="fatal"), "Invalid alert_type"),
                   (event(priority="high"), "Invalid priority"),
                   (event(aggregation_key="k" * 101), "aggregation_key"),
                   (event(date_happened=old), "older than 18 hours"),
                   (event(tags="canary:x"), "tags must be a list"),
                   (b"{not json", "Invalid JSON")]
            for ev, want in bad:
                st, body, _ = call(dd, "POST", "/api/v1/events", ev)
                check(st == 400 and any(want in e for e in body["errors"]),
                      "%s: %r %r" % (want, st, body))

            # 1 accepted + 10 rejected (they take a token: Datadog counts requests) use up 11
            st, body, hdrs = call(dd, "POST", "/api/v1/events", event())
            check(st == 429 and "Rate limit of 11" in body["errors"][0] and
                  int(hdrs.get("X-RateLimit-Reset", 0)) >= 1, "429: %r %r" % (st, body))

            st, f, _ = call(admin, "POST", "/faults", {"service": "datadog", "status": 503,
                                                       "match": {"path_regex": "^/api/v1/events$"},
                                                       "body": ""})
            check(st == 200, "fault: %r" % f)
            st, _, _ = call(dd, "POST", "/api/v1/events", event())
            check(st == 503, "fault answered %d" % st)

            now = int(time.time())
            st, body, _ = call(dd, "GET", "/api/v1/events?start=%d&end=%d&tags=canary:checkout" %
                               (now - 60, now + 60), app=True)
            check(st == 200 and len(body["events"]) == 1, "list: %r %r" % (st, body))
            st, events, _ = call(admin, "GET", "/datadog/events")
            check(st == 200 and len(events) == 1 and
                  events[0]["request"]["aggregation_key"] == "canaryd/checkout/1", "admin: %r" % events)
            st, later, _ = call(admin, "GET", "/datadog/events?since=%d" % events[0]["seq"])
            check(later == [], "since: %r" % later)
        finally:
            proc.terminate()
            proc.wait(10)
    print("datadog events emulation: ok")


if __name__ == "__main__":
    main()
