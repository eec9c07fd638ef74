#!/usr/bin/env python3
"""Checks the sandbox's network faults (tests/sandbox/sandboxlib/faults.py, server.py) with raw
clients: starts sandbox.py with the e2e scenario, then for each kind reads a Kubernetes object
(or posts a PagerDuty event) with http.client and checks what a client sees on the socket: a
delay before the status line, a stall mid-body, a truncated body (IncompleteRead), a reset
before the response and mid-body (ConnectionResetError), a trickled body, a reset after the
request took effect, a watch stream cut, reset and stalled mid-stream; then chaos mode: its
counts match what the client saw, and the same seed injects the same faults again.
A few seconds, no daemon; exit 1 on the first failure."""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, "..", "e2e", "scenarios", "e2e.json")
VS = "/apis/networking.istio.io/v1/namespaces/shop/virtualservices"
AUTH = {"Authorization": "Bearer sandbox-token"}
PD_KEY = "R0123456789abcdef0123456789abcde"


def check(cond, what):
    if not cond:
        print("FAIL: %s" % what, file=sys.stderr)
        sys.exit(1)


def admin(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, None if body is None else json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    out = r.status, json.loads(r.read() or b"null")
    c.close()
    return out


def fault(port, spec):
    st, f = admin(port, "POST", "/faults", spec)
    check(st == 200, "fault %r: %r" % (spec, f))
    return f


def get(port, path=VS + "/checkout", timeout=10):
    """(outcome, status, body, seconds to the status line, seconds in all): the outcome is "ok",
    "incomplete", "reset" or "closed" (no status line)."""
    t0 = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    status, body, t_head = None, None, None
    try:
        c.request("GET", path, headers=AUTH)
        r = c.getresponse()
        status, t_head = r.status, time.time() - t0
        body = r.read()
        outcome = "ok"
    except http.client.IncompleteRead:
        outcome = "incomplete"
    except ConnectionResetError:
        outcome = "reset"
    except http.client.RemoteDisconnected:
        outcome = "closed"
    finally:
        c.close()
    return outcome, status, body, t_head, time.time() - t0


def watch(port, rv, until_s):
    """Reads a watch of the VirtualServices from rv for up to until_s seconds: (outcome,
    [(seconds, event type, name)])."""
    t0 = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=until_s)
    events = []
    c.request("GET", VS + "?watch=true&resourceVersion=%s&timeoutSeconds=%d" %
              (rv, int(until_s) + 5), headers=AUTH)
    r = c.getresponse()
    check(r.status == 200, "watch status %d" % r.status)
    try:
        while time.time() - t0 < until_s:
            line = r.readline()
            if not line:
                return "closed", events
            ev = json.loads(line)
            events.append((time.time() - t0, ev["type"], ev["object"]["metadata"].get("name")))
        return "open", events
    except http.client.IncompleteRead:
        return "incomplete", events
    except ConnectionResetError:
        return "reset", events
    except TimeoutError:
        return "open", events
    finally:
        c.close()


def touch(port, name, delay):
    """After delay seconds, someone else edits VirtualService name (a watch event)."""
    def run():
        time.sleep(delay)
        st, obj = admin(port, "GET", "/kube/object?ns=shop&name=%s" % name)
        obj["metadata"].setdefault("labels", {})["touched"] = str(time.time())
        admin(port, "PUT", "/kube/object?ns=shop&name=%s" % name, obj)
    t = threading.Thread(target=run)
    t.start()
    return t


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ports_file = os.path.join(tmp, "ports.json")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "sandbox.py"), "--scenario",
                                 SCENARIO, "--port-file", ports_file,
                                 "--log", os.path.join(tmp, "log")])
        try:
            for _ in range(100):
                if os.path.exists(ports_file) and os.path.getsize(ports_file):
                    break
                time.sleep(0.05)
            with open(ports_file) as f:
                ports = json.load(f)
            kube, adm, pd = ports["kube"], ports["admin"], ports["pagerduty"]
            ok, st, body, _, _ = get(kube)
            check(ok == "ok" and st == 200, "plain read: %s %s" % (ok, st))
            size = len(body)
            check(size > 200, "the object is too small to cut: %d bytes" % size)

            fault(adm, {"service": "kube", "delay_ms": 500})
            ok, st, body, t_head, _ = get(kube)
            check(ok == "ok" and st == 200 and t_head >= 0.45, "delay: %s %s %.2fs" %
                  (ok, st, t_head or -1))

            fault(adm, {"service": "kube", "stall_ms": 700})
            ok, st, body, t_head, t_all = get(kube)
            check(ok == "ok" and len(body) == size and t_head < 0.4 and t_all - t_head >= 0.65,
                  "stall: %s, status line after %.2fs, body after %.2fs more" %
                  (ok, t_head or -1, t_all - (t_head or 0)))
            json.loads(body)

            fault(adm, {"service": "kube", "truncate": True})
            ok, st, _, _, _ = get(kube)
            check(ok == "incomplete" and st == 200, "truncate: %s %s" % (ok, st))

            fault(adm, {"service": "kube", "reset": True})
            ok, st, _, _, _ = get(kube)
            check(ok == "reset" and st is None, "reset: %s %s" % (ok, st))

            fault(adm, {"service": "kube", "reset": "mid-body"})
            ok, st, _, _, _ = get(kube)
            check(ok == "reset" and st == 200, "reset mid-body: %s %s" % (ok, st))

            rate = size * 2  # about half a second for the body
            fault(adm, {"service": "kube", "slow_bytes_per_s": rate})
            ok, st, body, t_head, t_all = get(kube)
            check(ok == "ok" and len(body) == size and t_all - t_head >= 0.4,
                  "slow: %s, body in %.2fs" % (ok, t_all - (t_head or 0)))

            # the next connection is served normally again
            ok, st, _, t_head, _ = get(kube)
            check(ok == "ok" and st == 200 and t_head < 0.4, "after the faults: %s %s" % (ok, st))

            # a reset after the request took effect: the event is accepted, its answer lost
            fault(adm, {"service": "pagerduty", "reset": True, "process": True})
            ev = {"routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "net/1",
                  "payload": {"summary": "s", "source": "x", "severity": "info"}}
            c = http.client.HTTPConnection("127.0.0.1", pd, timeout=5)
            try:
                c.request("POST", "/v2/enqueue", json.dumps(ev),
                          {"Content-Type": "application/json"})
                c.getresponse().read()
                check(False, "reset after effect: an answer came")
            except ConnectionResetError:
                pass
            c.close()
            st, events = admin(adm, "GET", "/pagerduty/events")
            check([e["dedup_key"] for e in events] == ["net/1"],
                  "reset after effect: events %r" % events)

            # watch streams, mid-stream
            _, lst = admin(adm, "GET", "/state")
            rv = lst["kube"]["resourceVersion"]
            w = {"path_regex": "/virtualservices$", "query_regex": "watch=true"}
            fault(adm, {"service": "kube", "match": w, "truncate": True, "after_s": 0.3})
            ok, evs = watch(kube, rv, 3)
            check(ok == "incomplete" and evs == [], "watch cut: %s %r" % (ok, evs))
            fault(adm, {"service": "kube", "match": w, "reset": "mid-body", "after_s": 0.3})
            ok, evs = watch(kube, rv, 3)
            check(ok == "reset", "watch reset: %s %r" % (ok, evs))
            fault(adm, {"service": "kube", "match": w, "stall_ms": 1500, "after_s": 0.1})
            t = touch(adm, "checkout", 0.4)
            ok, evs = watch(kube, rv, 2.5)
            t.join()
            check(ok == "open" and len(evs) == 1 and evs[0][1] == "MODIFIED" and
                  evs[0][0] >= 1.45, "watch stall: %s %r" % (ok, evs))
            _, lst = admin(adm, "GET", "/state")
            rv = lst["kube"]["resourceVersion"]
            t = touch(adm, "checkout", 0.4)
            ok, evs = watch(kube, rv, 1.5)
            t.join()
            check(ok == "open" and len(evs) == 1 and evs[0][0] < 1.2, "watch: %s %r" % (ok, evs))

            # chaos: bad specs are refused
            st, _ = admin(adm, "POST", "/faults/chaos", {"service": "kube", "kinds": ["fire"]})
            check(st == 400, "chaos with an unknown kind: %d" % st)
            st, _ = admin(adm, "POST", "/faults/chaos", {"service": "ftp"})
            check(st == 400, "chaos with an unknown service: %d" % st)

            # chaos: what the client sees matches the counts, and a seed repeats itself
            def chaos_run():
                st, _ = admin(adm, "POST", "/faults/chaos",
                              {"service": "kube", "rate": 0.5, "seed": 7,
                               "kinds": ["truncate", "reset", "reset_mid_body", "stall"],
                               "max_stall_ms": 200})
                check(st == 200, "chaos on: %d" % st)
                seen = [get(kube)[0] for _ in range(40)]
                _, rep = admin(adm, "DELETE", "/faults/chaos")
                return seen, rep
            seen, rep = chaos_run()
            inj = rep["injected"].get("kube", {})
            check(rep["requests"].get("kube") == 40, "chaos requests: %r" % rep)
            check(seen.count("incomplete") == inj.get("truncate", 0) and
                  seen.count("reset") == inj.get("reset", 0) + inj.get("reset_mid_body", 0) and
                  seen.count("ok") == 40 - rep["total"] + inj.get("stall", 0) and
                  10 <= rep["total"] <= 30 and len(inj) == 4,
                  "chaos: client saw %r, sandbox says %r" % (
                      {k: seen.count(k) for k in set(seen)}, rep))
            again, rep2 = chaos_run()
            check(again == seen and rep2["injected"] == rep["injected"],
                  "chaos is not reproducible by seed: %r vs %r" % (rep["injected"],
                                                                  rep2["injected"]))
            _, state = admin(adm, "GET", "/faults/chaos")
            check(not state["active"], "chaos still on after DELETE: %r" % state)
            ok, _, _, _, _ = get(kube)
            check(ok == "ok", "after chaos: %s" % ok)
            # everything the services saw is recorded with the fault that hit it
            _, recs = admin(adm, "GET", "/requests?service=kube")
            tags = [r.get("fault") for r in recs if isinstance(r.get("fault"), str)]
            check(len(tags) == rep["total"] + rep2["total"], "recorded chaos: %d" % len(tags))
        finally:
            proc.terminate()
            proc.wait(10)
    print("network faults: ok")


if __name__ == "__main__":
    main()
