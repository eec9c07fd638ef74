"""The request recorder: every request to every fake service with an increasing `seq` (the
admin API's /requests), per-verb counts and the process's CPU (/stats), and the VirtualService
state writes (/kube/write-times).
"""

import json
import re
import resource
import threading
import time


class Recorder:
    """Every request to every service, with an increasing `seq`."""

    MAX_BODY = 256 * 1024
    MAX_ITEMS = 100000  # oldest records are dropped past this (long demos)

    def __init__(self, max_items=None):
        self.lock = threading.Lock()
        self.seq = 0
        self.items = []
        self.max_items = max_items if max_items is not None else self.MAX_ITEMS
        # Counted for every request, whatever max_items keeps (benchmarks, /stats):
        # (service, verb) -> n, where verb is the Kubernetes verb (get, list, watch, update,
        # patch, create, delete) or the method and path for the other services.
        self.counts = {}
        # One compact entry per VirtualService write (benchmarks, /kube/write-times).
        self.write_times = []

    def begin(self, service, method, path, query, headers, body):
        text = body.decode("utf-8", "replace")[: self.MAX_BODY]
        rec = {"seq": 0, "time": time.time(), "service": service, "method": method,
               "path": path, "query": query, "headers": headers, "body": text,
               "status": None, "response_body": None, "duration_ms": None}
        try:
            rec["json"] = json.loads(text) if text else None
        except ValueError:
            rec["json"] = None
        verb = request_verb(service, method, path, query)
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.counts[(service, verb)] = self.counts.get((service, verb), 0) + 1
            self.items.append(rec)
            if len(self.items) > self.max_items:
                del self.items[: len(self.items) - self.max_items]
        return rec

    def note_write(self, ns, name, before, after):
        """Keeps when a VirtualService's canaryd.io/state changed step or phase."""
        b, a = state_of(before), state_of(after)
        if a is None:
            return
        entry = {"time": time.time(), "namespace": ns, "name": name, "after": a,
                 "before": b}
        with self.lock:
            self.write_times.append(entry)
            if len(self.write_times) > 4 * self.MAX_ITEMS:
                del self.write_times[: len(self.write_times) - 4 * self.MAX_ITEMS]

    def stats(self):
        with self.lock:
            counts = [{"service": k[0], "verb": k[1], "n": v} for k, v in sorted(self.counts.items())]
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"counts": counts, "cpu_seconds": ru.ru_utime + ru.ru_stime,
                "max_rss_kib": ru.ru_maxrss, "time": time.time()}


    def select(self, service=None, since=0, method=None, path_regex=None):
        with self.lock:
            out = [r for r in self.items if r["seq"] > since]
        if service:
            out = [r for r in out if r["service"] == service]
        if method:
            out = [r for r in out if r["method"] == method.upper()]
        if path_regex:
            rx = re.compile(path_regex)
            out = [r for r in out if rx.search(r["path"])]
        return out

    def clear(self):
        with self.lock:
            self.items = []


def request_verb(service, method, path, query):
    """The Kubernetes verb of a request (get, list, watch, update, ...), else METHOD path."""
    if service != "kube":
        return "%s %s" % (method, path)
    if method == "GET":
        if "watch=true" in (query or "") or "watch=1" in (query or ""):
            return "watch"
        parts = [p for p in path.split("/") if p]
        # /apis/G/V/namespaces/NS/RES[/NAME] or /api/v1/namespaces/NS/RES[/NAME]
        named = len(parts) >= (6 if parts[:1] == ["api"] else 7)
        return "get" if named else "list"
    return {"PUT": "update", "PATCH": "patch", "POST": "create",
            "DELETE": "delete"}.get(method, method.lower())


def state_of(obj):
    """The canaryd.io/state annotation of an object, parsed, or None."""
    try:
        text = obj["metadata"]["annotations"]["canaryd.io/state"]
        st = json.loads(text)
        return {k: st.get(k) for k in ("phase", "step", "weight", "step_started_at",
                                        "updated_at")}
    except (KeyError, TypeError, ValueError):
        return None
