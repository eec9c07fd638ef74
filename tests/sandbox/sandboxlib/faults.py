"""Fault injection: the failures the admin API injects (a canned status, a delay, a dropped
connection, optionally after the request took effect), each for the next N matching requests of
one service.
"""

import re
import threading

from .common import jdump


class Faults:
    """Injected failures: the next N matching requests get a canned response, a delay or a drop."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 0
        self.items = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        svc = spec.get("service")
        if svc not in ("datadog", "kube", "slack", "pagerduty"):
            raise ValueError("fault.service must be datadog, kube, slack or pagerduty")
        match = spec.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError("fault.match must be an object")
        for key in ("path_regex", "query_regex"):
            if key in match:
                re.compile(match[key])
        if not any(k in spec for k in ("status", "delay_ms", "drop_connection")):
            raise ValueError("fault needs status, delay_ms or drop_connection")
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
        return None

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def clear(self, fid=None):
        with self.lock:
            self.items = [f for f in self.items if fid is not None and f["id"] != fid]
