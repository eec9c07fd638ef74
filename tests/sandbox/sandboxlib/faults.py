"""Fault injection: the failures the admin API injects, each for the next N matching requests of
one service: a canned status, a delay, a dropped connection (optionally after the request took
effect), and network faults at the socket level: a stall mid-body, a truncated body, a reset
(RST) before the response or mid-body, a trickled body. Chaos mode applies a random network
fault to a share of every service's requests, reproducibly by seed, and counts what it injected.
"""

import random
import re
import threading
import time

from .common import jdump

SERVICES = ("datadog", "kube", "slack", "pagerduty")
# what a chaos fault of each kind does (the fault fields it sets); the numbers are drawn per
# request from the chaos generator
CHAOS_KINDS = ("delay", "stall", "truncate", "reset", "reset_mid_body", "reset_after_effect",
               "slow")


class Faults:
    """Injected failures: the next N matching requests get a canned response, a delay, a drop or
    a network fault; chaos picks a random network fault for a share of the requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 0
        self.items = []
        self.chaos = None  # {"spec": ..., "rng": Random, "until": t, "injected": {...}}

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        svc = spec.get("service")
        if svc not in SERVICES:
            raise ValueError("fault.service must be datadog, kube, slack or pagerduty")
        match = spec.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError("fault.match must be an object")
        for key in ("path_regex", "query_regex"):
            if key in match:
                re.compile(match[key])
        if not any(k in spec for k in ("status", "delay_ms", "drop_connection", "stall_ms",
                                       "truncate", "reset", "slow_bytes_per_s")):
            raise ValueError("fault needs status, delay_ms, drop_connection, stall_ms, truncate, "
                             "reset or slow_bytes_per_s")
        reset = spec.get("reset", False)
        if reset not in (True, False, "mid-body"):
            raise ValueError('fault.reset must be true, false or "mid-body"')
        body = spec.get("body", "")
        if not isinstance(body, str):
            body = jdump(body)
        with self.lock:
            self.next_id += 1
            f = {"id": self.next_id, "service": svc, "match": match,
                 "status": spec.get("status"), "body": body,
                 "headers": spec.get("headers") or {},
                 "count": spec.get("count", 1), "skip": int(spec.get("skip", 0)),
                 "delay_ms": int(spec.get("delay_ms", 0)),
                 "drop_connection": bool(spec.get("drop_connection", False)),
                 "stall_ms": int(spec.get("stall_ms", 0)),
                 "truncate": bool(spec.get("truncate", False)),
                 "reset": reset,
                 "slow_bytes_per_s": int(spec.get("slow_bytes_per_s", 0)),
                 "after_s": float(spec.get("after_s", 1.0)),
                 "process": bool(spec.get("process", False)), "hits": 0}
            self.items.append(f)
            return f

    def take(self, service, method, path, query):
        with self.lock:
            for f in self.items:
                if f["service"] != service:
                    continue
                m = f["match"]
                if m.get("method") and m["method"].upper() != method:
                    continue
                if m.get("path_regex") and not re.search(m["path_regex"], path):
                    continue
                if m.get("query_regex") and not re.search(m["query_regex"], query):
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                if f["count"] is not None and f["count"] >= 0 and f["hits"] >= f["count"]:
                    continue
                f["hits"] += 1
                return dict(f)
            return self._chaos_locked(service, method, path, query)

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def clear(self, fid=None):
        with self.lock:
            self.items = [f for f in self.items if fid is not None and f["id"] != fid]

    # -- chaos --
    def set_chaos(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("chaos must be a JSON object")
        svc = spec.get("service", "*")
        svcs = svc if isinstance(svc, list) else [svc]
        for s in svcs:
            if s != "*" and s not in SERVICES:
                raise ValueError("chaos.service must be datadog, kube, slack, pagerduty or *")
        rate = float(spec.get("rate", 0.2))
        if not 0 <= rate <= 1:
            raise ValueError("chaos.rate must be in 0..1")
        kinds = spec.get("kinds") or list(CHAOS_KINDS)
        if not isinstance(kinds, list) or any(k not in CHAOS_KINDS for k in kinds):
            raise ValueError("chaos.kinds: a list of %s" % ", ".join(CHAOS_KINDS))
        seed = int(spec.get("seed", 0))
        duration = spec.get("duration_s")
        match = spec.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError("chaos.match must be an object")
        for key in ("path_regex", "query_regex"):
            if key in match:
                re.compile(match[key])
        watch_rate = float(spec.get("watch_rate", rate))
        if not 0 <= watch_rate <= 1:
            raise ValueError("chaos.watch_rate must be in 0..1")
        norm = {"service": svcs if "*" not in svcs else ["*"], "rate": rate,
                "watch_rate": watch_rate, "kinds": kinds,
                "seed": seed, "duration_s": None if duration is None else float(duration),
                "max_delay_ms": int(spec.get("max_delay_ms", 1500)),
                "max_stall_ms": int(spec.get("max_stall_ms", 1500)), "match": match}
        with self.lock:
            self.chaos = {"spec": norm, "rng": random.Random(seed), "since": time.time(),
                          "until": None if duration is None else time.time() + float(duration),
                          "injected": {}, "requests": {}}
            return self._chaos_report_locked()

    def stop_chaos(self):
        with self.lock:
            out = self._chaos_report_locked()
            if self.chaos:
                self.chaos["until"] = time.time()
            return out

    def chaos_report(self):
        with self.lock:
            return self._chaos_report_locked()

    def _chaos_report_locked(self):
        c = self.chaos
        if c is None:
            return {"active": False, "injected": {}, "requests": {}, "total": 0}
        active = c["until"] is None or time.time() < c["until"]
        return {"active": active, "spec": c["spec"], "since": c["since"], "until": c["until"],
                "injected": {s: dict(k) for s, k in c["injected"].items()},
                "requests": dict(c["requests"]),
                "total": sum(sum(k.values()) for s, k in c["injected"].items()
                             if s in SERVICES)}

    def _chaos_locked(self, service, method, path, query):
        """The chaos fault for this request, or None (an explicit fault always wins)."""
        c = self.chaos
        if c is None or (c["until"] is not None and time.time() >= c["until"]):
            return None
        if "*" not in c["spec"]["service"] and service not in c["spec"]["service"]:
            return None
        m = c["spec"]["match"]
        if m.get("method") and m["method"].upper() != method:
            return None
        if m.get("path_regex") and not re.search(m["path_regex"], path):
            return None
        if m.get("query_regex") and not re.search(m["query_regex"], query):
            return None
        c["requests"][service] = c["requests"].get(service, 0) + 1
        rng = c["rng"]
        is_watch = service == "kube" and re.search(r"(^|&)watch=(true|1)(&|$)", query)
        if rng.random() >= c["spec"]["watch_rate" if is_watch else "rate"]:
            return None
        kind = rng.choice(c["spec"]["kinds"])
        f = {"id": "chaos:%s" % kind, "chaos": kind, "service": service, "status": None,
             "body": "", "headers": {}, "delay_ms": 0, "drop_connection": False,
             "stall_ms": 0, "truncate": False, "reset": False, "slow_bytes_per_s": 0,
             "after_s": round(rng.uniform(0.2, 3.0), 3), "process": False}
        if kind == "delay":
            f["delay_ms"] = rng.randint(50, max(50, c["spec"]["max_delay_ms"]))
        elif kind == "stall":
            f["stall_ms"] = rng.randint(100, max(100, c["spec"]["max_stall_ms"]))
        elif kind == "truncate":
            f["truncate"] = True
        elif kind == "reset":
            f["reset"] = True
        elif kind == "reset_mid_body":
            f["reset"] = "mid-body"
        elif kind == "reset_after_effect":
            # a read has no effect to take (and a watch would never end): a plain reset
            f["reset"], f["process"] = True, method not in ("GET", "HEAD")
        elif kind == "slow":
            f["slow_bytes_per_s"] = rng.randint(200, 4000)
        inj = c["injected"].setdefault(service, {})
        inj[kind] = inj.get(kind, 0) + 1
        if is_watch:
            f["id"] = "chaos:watch:%s" % kind
            inj = c["injected"].setdefault("kube-watch", {})
            inj[kind] = inj.get(kind, 0) + 1
        return f
