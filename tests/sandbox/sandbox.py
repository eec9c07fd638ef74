#!/usr/bin/env python3
"""canaryd sandbox: loopback emulation of Datadog, Kubernetes/Istio and Slack.

One program, Python 3.11 standard library only. Four HTTP servers (one thread per connection):
  datadog  GET /api/v1/query, GET /api/v1/validate, POST /api/v2/query/timeseries
  kube     discovery, VirtualServices (networking.istio.io v1/v1beta1/v1alpha3), Leases
           (coordination.k8s.io/v1), Deployments (apps/v1); GET/LIST/WATCH/PUT/PATCH/POST/DELETE
  slack    incoming webhooks, chat.postMessage, chat.update, conversations.replies/history
  admin    recorded requests, Slack messages, stored objects, fault injection, state, reload

Wire behaviour follows /work/shared/WIRE.md and the recorded fixtures. The scenario file format and
the admin API are documented in docs/sandbox.md.
"""

import argparse
import bisect
import copy
import hashlib
import json
import math
import os
import random
import re
import resource
import signal
import ssl
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import series  # noqa: E402  (realistic series: tests/sandbox/series.py)

# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def jdump(obj):
    """Compact JSON (Datadog, Slack, admin)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def go_json(obj, sort_keys=False):
    """JSON the way Go's encoding/json writes it: compact, UTF-8, HTML characters escaped."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration (the Age column)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm" % m if s % 60 == 0 else "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh" % h if m % 60 == 0 else "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd" % (h // 24) if h % 24 == 0 else "%dd%dh" % (h // 24, h % 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy" % (h // 24 // 365) if dy == 0 else "%dy%dd" % (h // 24 // 365, dy)
    return "%dy" % (h // 24 // 365)


def json_equal(a, b):
    """Strict JSON equality (Python says True == 1 == 1.0; JSON Patch `test` must not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _ptr(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % (path,))
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(lst, part, allow_end=False):
    if allow_end and part == "-":
        return len(lst)
    if not re.fullmatch(r"0|[1-9][0-9]*", part):
        raise PatchError("invalid array index %r" % part)
    i = int(part)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise PatchError("array index %d out of bounds" % i)
    return i


def _get(doc, parts, path):
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list):
            cur = cur[_index(cur, part)]
        else:
            raise PatchError("doc is missing path: %s: missing value" % path)
    return cur


def _parent(doc, parts, path):
    if not parts:
        raise PatchError("cannot operate on the document root: %s" % path)
    return _get(doc, parts[:-1], path), parts[-1]


def json_patch(doc, ops):
    """RFC 6902 JSON Patch; raises PatchError on any failure."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("invalid operation %r" % (op,))
        kind, path = op.get("op"), op.get("path")
        parts = _ptr(path)

        def add(parts, value, path=path):
            nonlocal doc
            if not parts:
                doc = value
                return
            parent, key = _parent(doc, parts, path)
            if isinstance(parent, dict):
                parent[key] = value
            elif isinstance(parent, list):
                parent.insert(_index(parent, key, allow_end=True), value)
            else:
                raise PatchError("add operation does not apply: doc is missing path: %s" % path)

        def remove(parts, path=path):
            parent, key = _parent(doc, parts, path)
            if isinstance(parent, dict) and key in parent:
                return parent.pop(key)
            if isinstance(parent, list):
                return parent.pop(_index(parent, key))
            raise PatchError("remove operation does not apply: doc is missing path: %s" % path)

        if kind == "add":
            if "value" not in op:
                raise PatchError("add operation has no value")
            add(parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            remove(parts)
        elif kind == "replace":
            if "value" not in op:
                raise PatchError("replace operation has no value")
            _get(doc, parts, path)
            if parts:
                parent, key = _parent(doc, parts, path)
                if isinstance(parent, list):
                    parent[_index(parent, key)] = copy.deepcopy(op["value"])
                else:
                    parent[key] = copy.deepcopy(op["value"])
            else:
                doc = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            src = op.get("from")
            sparts = _ptr(src)
            value = copy.deepcopy(_get(doc, sparts, src))
            if kind == "move":
                remove(sparts, src)
            add(parts, value)
        elif kind == "test":
            if not json_equal(_get(doc, parts, path), op.get("value")):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


class Logger:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", buffering=1, encoding="utf-8") if path else sys.stderr

    def log(self, msg):
        with self.lock:
            self.fh.write("%s sandbox: %s\n" % (time.strftime("%H:%M:%S"), msg))
            self.fh.flush()


# ------------------------------------------------------------------------------------------------
# Recording and faults (shared by every service)
# ------------------------------------------------------------------------------------------------


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
        if svc not in ("datadog", "kube", "slack"):
            raise ValueError("fault.service must be datadog, kube or slack")
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


# ------------------------------------------------------------------------------------------------
# HTTP plumbing
# ------------------------------------------------------------------------------------------------


class BadRequest(Exception):
    pass


class SandboxHandler(BaseHTTPRequestHandler):
    """Shared request handling: body reading, recording, fault injection, responses."""

    protocol_version = "HTTP/1.1"
    server_version = "canaryd-sandbox/1"
    sys_version = ""
    service = "?"

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    @property
    def sb(self):
        return self.server.sandbox

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 64 * 1024 * 1024:
            raise BadRequest("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _handle(self):
        t0 = time.time()
        u = urllib.parse.urlsplit(self.path)
        self.req_path = u.path
        self.req_query = u.query
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        self.method = self.command
        try:
            self.body = self._read_body()
        except (BadRequest, ValueError):
            self.body = b""
            self.close_connection = True
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        self.rec = self.sb.recorder.begin(self.service, self.method, self.req_path, self.req_query,
                                          headers, self.body)
        self.responded = False
        try:
            fault = self.sb.faults.take(self.service, self.method, self.req_path, self.req_query)
            if fault:
                self.rec["fault"] = fault["id"]
                if fault["delay_ms"]:
                    time.sleep(fault["delay_ms"] / 1000.0)
                if fault.get("process") and (fault["drop_connection"] or
                                             fault["status"] is not None):
                    # the request takes effect, but its answer is lost or replaced: the
                    # ambiguous outcome a client must not resend blindly after
                    self.swallow = True
                    try:
                        self.route()
                    finally:
                        self.swallow = False
                        self.responded = False
                if fault["drop_connection"]:
                    self.close_connection = True
                    self.rec["status"] = 0
                    self.rec["response_body"] = "(connection dropped)"
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault["status"] is not None:
                    hdrs = dict(fault["headers"])
                    ctype = hdrs.pop("Content-Type", hdrs.pop("content-type", None))
                    if ctype is None:
                        ctype = self.default_fault_ctype(fault["body"])
                    self.send(int(fault["status"]), fault["body"], ctype, hdrs)
                    return
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # a sandbox bug must not kill the connection silently
            self.sb.log.log("%s %s %s: internal error\n%s" % (self.service, self.method, self.path,
                                                             traceback.format_exc()))
            if not self.responded:
                self.send(500, "sandbox internal error\n", "text/plain")
        finally:
            self.rec["duration_ms"] = round((time.time() - t0) * 1000, 3)
            self.sb.log.log("%-7s %s %s -> %s" % (self.service, self.method, self.path,
                                                 self.rec["status"]))

    def default_fault_ctype(self, body):
        return "application/json" if body[:1] in ("{", "[") else "text/plain; charset=utf-8"

    def send(self, status, body, ctype="application/json", headers=None):
        if getattr(self, "swallow", False):
            return  # a "process" fault: the real answer is replaced by the fault's
        if isinstance(body, (dict, list)):
            body = jdump(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.responded = True
        self.rec["status"] = status
        self.rec["response_body"] = body.decode("utf-8", "replace")[: Recorder.MAX_BODY]
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(body)

    def json_body(self):
        """Decoded JSON request body, or raises ValueError."""
        return json.loads(self.body.decode("utf-8"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port, handler, sandbox):
        self.sandbox = sandbox
        super().__init__(("127.0.0.1", port), handler)


# ------------------------------------------------------------------------------------------------
# Datadog
# ------------------------------------------------------------------------------------------------

DD_FORBIDDEN = ('{"status":"error","code":403,"errors":["Forbidden"],'
                '"statuspage":"http://status.datadoghq.com","twitter":"http://twitter.com/datadogops",'
                '"email":"support@datadoghq.com"}\n')  # recorded Content-Length: 170 = JSON + newline

AGGREGATORS = r"avg|sum|min|max|count|p\d{1,3}(?:\.\d+)?"
METRIC_RX = re.compile(r"(?:\b(%s)\s*:\s*)?([A-Za-z][A-Za-z0-9_.]*)\s*\{([^{}]*)\}" % AGGREGATORS)
BY_RX = re.compile(r"\s*by\s*\{([^{}]*)\}")


def split_top_level_on(s, sep):
    """s split on sep outside braces and parentheses (None if unbalanced)."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
            if depth < 0:
                return None
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        return None
    parts.append("".join(cur))
    return parts


def split_top_level(s):
    return split_top_level_on(s, ",")


ROLLUP_RX = re.compile(r"\.rollup\(\s*(?:[a-z0-9]+\s*,\s*)?([0-9]+)\s*\)")


def dd_parse_error(query, col):
    return ("Error(s) found in query:\nError parsing query: \n unable to parse %s: Rule 'scope_expr' "
            "didn't match at '%s' (line 1, column %d)." % (query, query[col - 1: col + 3], col))


def parse_subquery(q):
    """-> dict(aggr, metric, scope, group_by, expression) or None if unparsable."""
    m = METRIC_RX.search(q)
    if not m:
        return None
    scope = m.group(3).strip() or "*"
    by = BY_RX.match(q, m.end())
    group_by = [t.strip() for t in by.group(1).split(",") if t.strip()] if by else []
    expr = q.strip()
    if by:
        expr = (q[: m.end()] + q[by.end():]).strip()
    return {"aggr": m.group(1), "metric": m.group(2), "scope": scope, "group_by": group_by,
            "expression": expr}


class Datadog:
    """Datadog metrics emulation: auth, rate limiting, deterministic synthetic series."""

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        rl = cfg.get("rate_limit") or {}
        self.limit = int(rl.get("limit", 1600))
        self.period = int(rl.get("period", 3600))
        self.window = None
        self.used = 0
        self.lock = threading.Lock()

    # -- auth and rate limiting --
    def key_from(self, handler, header, param):
        v = handler.headers.get(header)
        return v if v is not None else handler.q.get(param)

    def rate_take(self):
        """-> (allowed, headers)."""
        now = time.time()
        with self.lock:
            window = int(now) // self.period
            if window != self.window:
                self.window, self.used = window, 0
            allowed = self.used < self.limit
            if allowed:
                self.used += 1
            remaining = max(0, self.limit - self.used)
        reset = self.period - int(now) % self.period
        return allowed, {"X-RateLimit-Limit": self.limit, "X-RateLimit-Period": self.period,
                         "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset,
                         "X-RateLimit-Name": "query_timeseries"}

    def rate_state(self):
        with self.lock:
            return {"limit": self.limit, "period": self.period,
                    "remaining": self.limit - self.used if self.window == int(time.time()) // self.period
                    else self.limit}

    # -- series generation --
    def find_metric(self, q):
        """-> (metric_cfg, arm) for the query text, or (None, None)."""
        for mc in self.cfg.get("metrics", []):
            if "match" in mc and mc["match"] not in q:
                continue
            if "match_regex" in mc and not re.search(mc["match_regex"], q):
                continue
            cs, bs = mc.get("canary_scope"), mc.get("baseline_scope")
            hits = [(len(s), arm) for s, arm in ((cs, "canary"), (bs, "baseline")) if s and s in q]
            if hits:
                return mc, max(hits)[1]
            if not cs and not bs:
                return mc, "baseline"
        return None, None

    def sample(self, dist, rng):
        kind = dist.get("dist", "normal")
        if kind == "constant":
            v = float(dist.get("value", dist.get("mean", 0)))
        elif kind == "normal":
            v = rng.gauss(float(dist.get("mean", 0)), float(dist.get("sd", 1)))
        elif kind == "lognormal":
            if "mu" in dist:
                mu, sigma = float(dist["mu"]), float(dist.get("sigma", 0.25))
            elif "median" in dist:
                mu, sigma = math.log(float(dist["median"])), float(dist.get("sigma", 0.25))
            else:  # from mean and sd of the distribution itself
                mean, sd = float(dist.get("mean", 1)), float(dist.get("sd", 0.25))
                sigma = math.sqrt(math.log(1 + (sd / mean) ** 2))
                mu = math.log(mean) - sigma * sigma / 2
            v = rng.lognormvariate(mu, sigma)
        elif kind == "uniform":
            v = rng.uniform(float(dist.get("low", 0)), float(dist.get("high", 1)))
        elif kind == "poisson":
            lam = float(dist.get("lambda", dist.get("mean", 1)))
            if lam > 50:
                v = max(0.0, round(rng.gauss(lam, math.sqrt(lam))))
            else:
                limit, k, p = math.exp(-lam), 0, 1.0
                while True:
                    p *= rng.random()
                    if p <= limit:
                        break
                    k += 1
                v = float(k)
            v *= float(dist.get("scale", 1))
        else:
            raise ValueError("unknown dist %r" % kind)
        return v

    def regressions(self, mc):
        regs = mc.get("regression") or []
        return [regs] if isinstance(regs, dict) else regs

    def value_at(self, mc, arm, ts, step=1):
        dist = mc.get(arm) or mc.get("baseline") or mc.get("value") or {"dist": "constant", "value": 0}
        seed = self.sb.scenario.get("seed", 1)
        if dist.get("dist", "normal") == "constant":
            # no draw, so no generator: seeding one per point is most of a large query's cost
            v = float(dist.get("value", dist.get("mean", 0)))
        else:
            rng = random.Random("%s|%s|%s|%d" % (seed, mc.get("name", mc.get("match", "")), arm,
                                                 ts))
            v = self.sample(dist, rng)
        if arm == "canary":
            for i, reg in enumerate(self.regressions(mc)):
                # a point is the rollup of [ts, ts + step): a regression that starts or ends
                # inside it shows in proportion, as Datadog's average of the requests would
                f = self.sb.regression_share(mc, i, reg, ts, step)
                if f > 0:
                    v = v * (1 + (float(reg.get("multiply", 1)) - 1) * f) \
                        + float(reg.get("add", 0)) * f
        if dist.get("min") is not None:
            v = max(v, float(dist["min"]))
        if dist.get("max") is not None:
            v = min(v, float(dist["max"]))
        return round(v, 9)

    def gap(self, mc, arm):
        g = mc.get("gap")
        if isinstance(g, bool):
            return g
        if isinstance(g, str):
            return g in (arm, "both")
        return bool((mc.get(arm) or {}).get("gap"))

    def points(self, mc, arm, t_from, t_to):
        """[(ts_seconds, value)] on the metric's step grid within [t_from, t_to], never in the future."""
        step = int(mc.get("step_seconds", self.cfg.get("step_seconds", 10)))
        max_points = int(self.cfg.get("max_points", 1500))
        t_to = min(t_to, int(time.time()))
        if t_to < t_from:
            return step, []
        while (t_to - t_from) // step > max_points:
            step *= 2
        first = -(-t_from // step) * step
        null_every = int(mc.get("null_every", 0))  # every Nth point on the grid is null
        return step, [(ts, None if null_every and (ts // step) % null_every == 0
                       else self.value_at(mc, arm, ts, step))
                           for ts in range(first, t_to + 1, step)]

    # -- realistic series (a metric with a "series" object; tests/sandbox/series.py) --
    def model_points(self, sub, t_from, t_to):
        """(step_real, [(ts_seconds_float, value)]) for a sub-query whose metric has a "series"
        object, or for "A / B" where both A and B have one (pointwise ratio, null where B is 0
        or either is missing); None if the sub-query is not such a query."""
        parts = split_top_level_on(sub, "/")
        if parts and len(parts) == 2:
            num = self.model_points(parts[0], t_from, t_to)
            den = self.model_points(parts[1], t_from, t_to)
            if num is None or den is None:
                return None
            dmap = dict(den[1])
            pts = []
            for ts, v in num[1]:
                d = dmap.get(ts)
                pts.append((ts, None if v is None or d is None or d == 0 else round(v / d, 12)))
            return num[0], pts
        if parts is None or len(parts) != 1:
            return None
        mc, arm = self.find_metric(sub)
        if mc is None or "series" not in mc:
            return None
        if self.gap(mc, arm):
            return 0, []
        spec = mc["series"]
        m = ROLLUP_RX.search(sub)
        step = float(m.group(1)) if m else float(spec.get("step_seconds", 1))
        scale = float(spec.get("time_scale", self.cfg.get("time_scale", 1)))
        max_points = int(self.cfg.get("max_points", 1500))
        vs = spec.get("virtual_service") or mc.get("virtual_service")
        t_end = min(float(t_to), time.time())
        anchor = self.sb.rollout_anchor(vs, t_end)
        while (t_end - t_from) * scale / step > max_points:
            step *= 2
        lo = math.ceil((t_from - anchor) * scale / step - 1e-9)
        hi = math.floor((t_end - anchor) * scale / step + 1e-9)
        seed = self.sb.scenario.get("seed", 1)
        name = mc.get("name")
        as_count = ".as_count()" in sub
        null_every = int(mc.get("null_every", 0))
        pts = []
        for j in range(lo, hi + 1):
            ts = round(anchor + j * step / scale, 6)
            if ts < t_from or ts > t_end:
                continue
            if null_every and j % null_every == 0:
                pts.append((ts, None))
                continue
            cw, sw = self.sb.arm_weights(vs, spec, ts)
            v = series.value(spec, seed, name, arm, j, step, canary_weight=cw,
                             exposure=(cw if arm == "canary" else sw) / 100.0, as_count=as_count)
            pts.append((ts, round(v, 9)))
        return step / scale, pts

    def series_for(self, sub, sq, index, t_from, t_to):
        mp = self.model_points(sub, t_from, t_to) if self.sb.has_models else None
        if mp is not None:
            return self.model_series(sq, index, *mp)
        mc, arm = self.find_metric(sub)
        if mc is None or self.gap(mc, arm):
            return None
        step, pts = self.points(mc, arm, t_from, t_to)
        if not pts:
            return None
        tag_set = ["%s:sandbox-0" % t for t in sq["group_by"]]
        scope = sq["scope"] if not tag_set else ",".join(
            ([sq["scope"]] if sq["scope"] != "*" else []) + tag_set)
        return {"metric": sq["metric"], "display_name": sq["metric"], "expression": sq["expression"],
                "scope": scope, "tag_set": tag_set, "aggr": sq["aggr"], "query_index": index,
                "start": pts[0][0] * 1000, "end": pts[-1][0] * 1000 + step * 1000 - 1000,
                "interval": step, "length": len(pts),
                "pointlist": [[float(ts * 1000), v] for ts, v in pts], "unit": None,
                "attributes": {}}

    def model_series(self, sq, index, step, pts):
        if not pts:
            return None
        tag_set = ["%s:sandbox-0" % t for t in sq["group_by"]]
        scope = sq["scope"] if not tag_set else ",".join(
            ([sq["scope"]] if sq["scope"] != "*" else []) + tag_set)
        ms = [round(ts * 1000, 3) for ts, _ in pts]
        return {"metric": sq["metric"], "display_name": sq["metric"], "expression": sq["expression"],
                "scope": scope, "tag_set": tag_set, "aggr": sq["aggr"], "query_index": index,
                "start": ms[0], "end": round(ms[-1] + step * 1000 - 1, 3),
                "interval": step, "length": len(pts),
                "pointlist": [[t, v] for t, (_, v) in zip(ms, pts)], "unit": None,
                "attributes": {}}

    # -- HTTP --
    def handle(self, h):
        if h.req_path == "/api/v1/validate" and h.method == "GET":
            return self.validate(h)
        if h.req_path == "/api/v1/query" and h.method == "GET":
            return self.query_v1(h)
        if h.req_path == "/api/v2/query/timeseries" and h.method == "POST":
            return self.query_v2(h)
        return h.send(404, {"errors": ["Not found"]})

    def auth_ok(self, h, need_app=True):
        api = self.key_from(h, "DD-API-KEY", "api_key")
        app = self.key_from(h, "DD-APPLICATION-KEY", "application_key")
        if api != self.cfg.get("api_key", "sandbox-api-key"):
            return False
        return not need_app or app == self.cfg.get("app_key", "sandbox-app-key")

    def validate(self, h):
        if self.key_from(h, "DD-API-KEY", "api_key") is None:
            return h.send(403, '{"errors":["API key required"]}')
        if not self.auth_ok(h, need_app=False):
            return h.send(403, DD_FORBIDDEN)
        return h.send(200, '{"valid":true}')

    def limited(self, h):
        allowed, hdrs = self.rate_take()
        if not allowed:
            h.send(429, {"errors": ["Rate limit of %d requests in %d seconds reached. Please try again "
                                    "later." % (self.limit, self.period)]}, headers=hdrs)
            return None
        return hdrs

    def query_v1(self, h):
        if not self.auth_ok(h):
            return h.send(403, DD_FORBIDDEN)
        hdrs = self.limited(h)
        if hdrs is None:
            return
        errs = []
        vals = {}
        for p in ("from", "to"):
            v = h.q.get(p)
            if v is None or not re.fullmatch(r"-?[0-9]+", v.strip()):
                errs.append("The value provided for parameter '%s' is invalid" % p)
            else:
                vals[p] = int(v)
        query = h.q.get("query")
        if query is None or not query.strip():
            errs.append("The value provided for parameter 'query' is invalid")
        if errs:
            return h.send(400, {"errors": errs}, headers=hdrs)
        if vals["from"] > vals["to"]:
            return h.send(400, {"errors": ["The value provided for parameter 'from' is invalid: "
                                           "'from' must be before 'to'"]}, headers=hdrs)
        subs = split_top_level(query)
        parsed = [parse_subquery(s) for s in subs] if subs else [None]
        if any(p is None for p in parsed):
            return h.send(400, {"errors": [dd_parse_error(query, max(1, len(query)))]}, headers=hdrs)
        series = []
        for i, (sub, sq) in enumerate(zip(subs, parsed)):
            s = self.series_for(sub, sq, i, vals["from"], vals["to"])
            if s:
                series.append(s)
        group_by = parsed[0]["group_by"] if parsed else []
        body = {"status": "ok", "res_type": "time_series", "resp_version": 1,
                "query": query, "from_date": vals["from"] * 1000, "to_date": vals["to"] * 1000,
                "series": series, "message": "", "group_by": group_by, "times": [], "values": []}
        return h.send(200, body, headers=hdrs)

    def query_v2(self, h):
        if not self.auth_ok(h):
            return h.send(403, DD_FORBIDDEN)
        hdrs = self.limited(h)
        if hdrs is None:
            return
        try:
            req = h.json_body()
            data = req["data"]
        except (ValueError, KeyError, TypeError):
            return h.send(400, {"errors": ["API input validation failed: Invalid JSON body"]},
                          headers=hdrs)
        if not isinstance(data, dict) or data.get("type") != "timeseries_request":
            return h.send(400, {"errors": ["API input validation failed: Invalid type. Expected "
                                           "\"timeseries_request\"."]}, headers=hdrs)
        attrs = data.get("attributes") or {}
        queries = attrs.get("queries")
        if (not isinstance(attrs.get("from"), int) or not isinstance(attrs.get("to"), int)
                or not isinstance(queries, list) or not queries):
            return h.send(400, {"errors": ["API input validation failed: from, to and queries are "
                                           "required"]}, headers=hdrs)
        by_name = {}
        for q in queries:
            if not isinstance(q, dict) or not isinstance(q.get("query"), str):
                return h.send(400, {"errors": ["API input validation failed: invalid query"]},
                              headers=hdrs)
            sq = parse_subquery(q["query"])
            if sq is None:
                return h.send(400, {"errors": [dd_parse_error(q["query"], len(q["query"]))]},
                              headers=hdrs)
            by_name[q.get("name", "")] = (q["query"], sq)
        formulas = attrs.get("formulas") or [{"formula": q.get("name", "")} for q in queries]
        t_from, t_to = attrs["from"] // 1000, (attrs["to"] - 1) // 1000
        per_series, out_series = [], []
        for i, f in enumerate(formulas):
            name = (f or {}).get("formula", "").strip()
            text, sq = by_name.get(name, next(iter(by_name.values())))
            mp = self.model_points(text, t_from, t_to) if self.sb.has_models else None
            if mp is not None:
                pts = [(round(ts * 1000, 3), v) for ts, v in mp[1]]
                if not pts:
                    continue
                per_series.append(dict(pts))
                out_series.append({"group_tags": [], "query_index": i, "unit": None})
                continue
            mc, arm = self.find_metric(text)
            if mc is None or self.gap(mc, arm):
                continue
            _, pts = self.points(mc, arm, t_from, t_to)
            if not pts:
                continue
            pts = [(ts * 1000, v) for ts, v in pts]
            per_series.append(dict(pts))
            out_series.append({"group_tags": [], "query_index": i, "unit": None})
        times = sorted({ts for s in per_series for ts in s})
        values = [[s.get(ts) for ts in times] for s in per_series]
        body = {"data": {"id": "0", "type": "timeseries_response", "attributes": {
            "series": out_series, "times": times, "values": values}}}
        return h.send(200, body, "application/vnd.api+json", headers=hdrs)


class DatadogHandler(SandboxHandler):
    service = "datadog"

    def route(self):
        self.sb.datadog.handle(self)


# ------------------------------------------------------------------------------------------------
# Kubernetes
# ------------------------------------------------------------------------------------------------

ISTIO = "networking.istio.io"
RESOURCES = {
    (ISTIO, "virtualservices"): {
        "kind": "VirtualService", "listKind": "VirtualServiceList", "singular": "virtualservice",
        "versions": ["v1", "v1beta1", "v1alpha3"], "cr": True, "shortNames": ["vs"],
        "categories": ["istio-io", "networking-istio-io"], "generation": True,
        "unconditional_update": False},
    ("coordination.k8s.io", "leases"): {
        "kind": "Lease", "listKind": "LeaseList", "singular": "lease", "versions": ["v1"],
        "cr": False, "shortNames": [], "generation": False, "unconditional_update": False,
        "no_status": True},
    ("apps", "deployments"): {
        "kind": "Deployment", "listKind": "DeploymentList", "singular": "deployment",
        "versions": ["v1"], "cr": False, "shortNames": ["deploy"], "categories": ["all"],
        "generation": True, "unconditional_update": True},
}
VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
SMP_415 = ("the body of the request was in an unknown format - accepted media types include: "
           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


class KubeError(Exception):
    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code, self.message, self.reason, self.details = code, message, reason, details
        self.headers = headers


def status_body(code, message, reason=None, details=None, success=False):
    """A metav1.Status in Go's field order, with the trailing newline the apiserver writes."""
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
          "status": "Success" if success else "Failure"}
    if message:
        st["message"] = message
    if reason:
        st["reason"] = reason
    if details is not None:
        st["details"] = details
    st["code"] = code
    return go_json(st) + "\n"


def details(name, group, kind, causes=None, uid=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes:
        d["causes"] = causes
    return d


def canary_weight(vs, subset):
    """The largest weight of any route destination with this subset (0 when absent)."""
    best = 0
    spec = (vs or {}).get("spec") or {}
    for section in ("http", "tls", "tcp"):
        for route in spec.get(section) or []:
            for dst in (route or {}).get("route") or []:
                if ((dst or {}).get("destination") or {}).get("subset") == subset:
                    w = dst.get("weight", 0)
                    if isinstance(w, (int, float)) and w > best:
                        best = w
    return best


def istio_weight_errors(vs, rules):
    """Istio admission validation of route weights (>= 1.15 rules, or 'legacy' sum == 100)."""
    errs = []
    spec = (vs or {}).get("spec")
    if not isinstance(spec, dict):
        return errs
    for section in ("http", "tls", "tcp"):
        for route in spec.get(section) or []:
            dsts = (route or {}).get("route") or []
            if not isinstance(dsts, list):
                continue
            total = 0
            for d in dsts:
                w = (d or {}).get("weight", 0)
                if not isinstance(w, int) or isinstance(w, bool):
                    errs.append("weight must be an integer")
                    continue
                if w < 0:
                    errs.append("weight %d < 0" % w)
                total += w
            if len(dsts) > 1:
                if rules == "legacy" and total != 100:
                    errs.append("total destination weight %d != 100" % total)
                elif total == 0:
                    errs.append("total destination weight = 0")
    return errs


class KubeStore:
    """Objects keyed by (group, resource, namespace, name); one global resourceVersion counter."""

    HISTORY = 2000

    def __init__(self, sandbox, rv_start=1000):
        self.sb = sandbox
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = rv_start
        self.base_rv = rv_start
        self.objects = {}
        self.events = []  # (rv, type, group, resource, obj)
        self.epoch = 0  # bumped by compact(): open watches end

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def get(self, group, res, ns, name):
        with self.lock:
            obj = self.objects.get((group, res, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, group, res, ns=None):
        with self.lock:
            return [copy.deepcopy(o) for (g, r, n, _), o in sorted(self.objects.items())
                    if g == group and r == res and (ns is None or n == ns)]

    def _event(self, etype, group, res, obj):
        self.events.append((int(obj["metadata"]["resourceVersion"]), etype, group, res,
                            copy.deepcopy(obj)))
        if len(self.events) > self.HISTORY:
            del self.events[: len(self.events) - self.HISTORY]
        self.cond.notify_all()

    def oldest_rv(self):
        return self.events[0][0] - 1 if len(self.events) >= self.HISTORY else self.base_rv

    def compact(self):
        """Forget the history, as an etcd compaction plus a watch-cache restart do: open watch
        streams end, and a watch from any resourceVersion issued so far gets ERROR 410."""
        with self.lock:
            self.rv += 1
            self.base_rv = self.rv
            self.events = []
            self.epoch += 1
            self.cond.notify_all()
            return self.rv

    def create(self, group, res, obj, etype="ADDED"):
        with self.lock:
            md = obj.setdefault("metadata", {})
            md["uid"] = md.get("uid") or str(uuid.uuid4())
            md["creationTimestamp"] = md.get("creationTimestamp") or rfc3339(time.time())
            if RESOURCES[(group, res)]["generation"]:
                md["generation"] = 1
            md["resourceVersion"] = self.next_rv()
            self.objects[(group, res, md.get("namespace"), md["name"])] = copy.deepcopy(obj)
            self._event(etype, group, res, obj)
            self.sb.on_kube_change()
            return copy.deepcopy(obj)

    def replace(self, group, res, old, new):
        """Store `new` over `old` (server-owned fields kept); a no-op write keeps the RV."""
        with self.lock:
            md, omd = new.setdefault("metadata", {}), old["metadata"]
            for k in ("uid", "creationTimestamp", "name", "namespace", "generation"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            md["resourceVersion"] = omd["resourceVersion"]
            if json_equal(new, old):
                return copy.deepcopy(old), False
            if RESOURCES[(group, res)]["generation"] and not json_equal(new.get("spec"),
                                                                         old.get("spec")):
                md["generation"] = int(omd.get("generation", 1)) + 1
            md["resourceVersion"] = self.next_rv()
            self.objects[(group, res, md.get("namespace"), md["name"])] = copy.deepcopy(new)
            self._event("MODIFIED", group, res, new)
            self.sb.on_kube_change()
            return copy.deepcopy(new), True

    def bump(self, group, res, ns, name):
        """Simulate a concurrent writer: a new resourceVersion, nothing else changes."""
        with self.lock:
            obj = self.objects.get((group, res, ns, name))
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = self.next_rv()
            self._event("MODIFIED", group, res, obj)
            return copy.deepcopy(obj)

    def delete(self, group, res, ns, name):
        with self.lock:
            obj = self.objects.pop((group, res, ns, name), None)
            if obj is not None:
                obj["metadata"]["resourceVersion"] = self.next_rv()
                self._event("DELETED", group, res, obj)
                self.sb.on_kube_change()
            return obj


def label_selector_match(sel, labels):
    if not sel:
        return True
    labels = labels or {}
    for term in sel.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_match(sel, obj):
    if not sel:
        return True
    md = obj.get("metadata", {})
    for term in sel.split(","):
        neg = "!=" in term
        k, v = re.split(r"!=|==|=", term, maxsplit=1)
        actual = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace")}.get(
            k.strip())
        if (actual == v.strip()) == neg:
            return False
    return True


def expired_status(rv, oldest):
    """The in-stream ERROR object of a watch whose resourceVersion is gone (WIRE.md §2.4)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: %d (%d)" % (rv, oldest), "reason": "Expired",
            "code": 410}


class Kube:
    """Kubernetes API server emulation (discovery, CRUD, patch, watch, tables)."""

    PATH_RX = re.compile(r"^/apis/([^/]+)/([^/]+)(?:/namespaces/([^/]+))?/([^/]+)(?:/([^/]+))?"
                         r"(?:/(status))?/?$")

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        self.conflicts = {}  # (group, res, ns, name) -> remaining forced conflicts

    # -- responses --
    def send_status(self, h, err):
        h.send(err.code, status_body(err.code, err.message, err.reason, err.details),
               "application/json", self.common_headers(err.headers))

    def common_headers(self, extra=None):
        hdrs = {"Audit-Id": str(uuid.uuid4()), "Cache-Control": "no-cache, private",
                "X-Kubernetes-Pf-Flowschema-Uid": "sandbox-flowschema",
                "X-Kubernetes-Pf-Prioritylevel-Uid": "sandbox-prioritylevel"}
        hdrs.update(extra or {})
        return hdrs

    def send_obj(self, h, code, obj, cr):
        h.send(code, go_json(obj, sort_keys=cr) + "\n", "application/json", self.common_headers())

    def stamp(self, obj, group, version, res):
        out = {"apiVersion": "%s/%s" % (group, version), "kind": RESOURCES[(group, res)]["kind"]}
        out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
        return out

    # -- auth --
    def authorized(self, h):
        auth = h.headers.get("Authorization")
        # --kube-tls-client-ca: a client certificate that CA signed authenticates (as its CN),
        # the way the apiserver's --client-ca-file does; the token is then not needed.
        getpeercert = getattr(h.connection, "getpeercert", None)
        if auth is None and getpeercert is not None:
            try:
                cert = getpeercert()
            except (ValueError, OSError):
                cert = None
            if cert:
                h.rec["client_cert_cn"] = next(
                    (v for rdn in cert.get("subject", ()) for (k, v) in rdn if k == "commonName"),
                    "")
                return True
        if auth is None:
            return bool(self.cfg.get("allow_anonymous_loopback", True)) and \
                h.client_address[0].startswith("127.")
        token = self.cfg.get("token", "sandbox-token")
        return auth.strip() == "Bearer " + token

    # -- dispatch --
    def handle(self, h):
        p = h.req_path
        if not self.authorized(h):
            return self.send_status(h, KubeError(401, "Unauthorized", "Unauthorized"))
        try:
            if h.method == "GET" and p in ("/api", "/api/"):
                port = h.server.server_address[1]
                return h.send(200, go_json({"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [{
                                                "clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1:%d" % port}]}))
            if h.method == "GET" and p == "/api/v1":
                return h.send(200, go_json({"kind": "APIResourceList", "groupVersion": "v1",
                                            "resources": [{
                                                "name": "namespaces", "singularName": "namespace",
                                                "namespaced": False, "kind": "Namespace",
                                                "verbs": ["get", "list"], "shortNames": ["ns"]}]}))
            m = re.match(r"^/api/v1/namespaces(?:/([^/]+))?/?$", p)
            if h.method == "GET" and m:
                return self.namespaces(h, m.group(1))
            if h.method == "GET" and p in ("/apis", "/apis/"):
                return h.send(200, go_json({"kind": "APIGroupList", "apiVersion": "v1",
                                            "groups": self.groups()}))
            if h.method == "GET" and p == "/version":
                return h.send(200, go_json({
                    "major": "1", "minor": "30", "gitVersion": "v1.30.0-sandbox",
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
                    "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"}))
            if h.method == "GET" and p in ("/healthz", "/readyz", "/livez"):
                return h.send(200, "ok", "text/plain; charset=utf-8")
            if h.method == "GET" and p == "/openapi/v3":
                return h.send(200, go_json(self.openapi_root()), "application/json",
                              self.common_headers())
            m = re.match(r"^/openapi/v3/apis/([^/]+)/([^/]+)$", p)
            if h.method == "GET" and m:
                return self.openapi_gv(h, m.group(1), m.group(2))
            m = re.match(r"^/apis/([^/]+)(?:/([^/]+))?/?$", p)
            if m and h.method == "GET":
                return self.discovery(h, m.group(1), m.group(2))
            m = self.PATH_RX.match(p)
            if m:
                return self.resource(h, *m.groups())
            h.send(404, "404 page not found\n", "text/plain; charset=utf-8")
        except KubeError as e:
            self.send_status(h, e)

    def namespaces(self, h, name):
        """Core v1 Namespaces: every namespace named in the scenario or holding an object."""
        with self.sb.store.lock:
            names = set(self.cfg.get("namespaces", [])) | {"default", "kube-system"} | {
                k[2] for k in self.sb.store.objects if k[2]}

        def ns_obj(n):
            return {"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": n, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, n)),
                                 "resourceVersion": str(self.sb.store.base_rv),
                                 "creationTimestamp": rfc3339(self.sb.started),
                                 "labels": {"kubernetes.io/metadata.name": n}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        if name is None:
            return h.send(200, go_json({"kind": "NamespaceList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(self.sb.store.rv)},
                                        "items": [ns_obj(n) for n in sorted(names)]}))
        if name not in names:
            raise KubeError(404, 'namespaces "%s" not found' % name, "NotFound",
                            details(name, None, "namespaces"))
        return h.send(200, go_json(ns_obj(name)))

    def served(self, group, res):
        """Versions served; kubernetes.virtual_service_versions restricts the Istio ones (an
        older Istio), for canaryd's discovery of the newest served version."""
        versions = RESOURCES[(group, res)]["versions"]
        if group == ISTIO and self.cfg.get("virtual_service_versions"):
            versions = [v for v in versions if v in self.cfg["virtual_service_versions"]]
        return versions

    def groups(self):
        out = {}
        for (group, res), rd in RESOURCES.items():
            versions = self.served(group, res)
            out[group] = {"name": group, "versions": [
                {"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions],
                "preferredVersion": {"groupVersion": "%s/%s" % (group, versions[0]),
                                     "version": versions[0]}}
        return list(out.values())

    # -- OpenAPI v3: just enough for kubectl's --validate=strict (server-side field validation) --
    def openapi_root(self):
        paths = {}
        for (group, _), rd in RESOURCES.items():
            for v in rd["versions"]:
                gv = "apis/%s/%s" % (group, v)
                paths[gv] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
                    gv, hashlib.sha256(gv.encode()).hexdigest()[:32].upper())}
        return {"paths": paths}

    def openapi_gv(self, h, group, version):
        paths = {}
        for (g, res), rd in RESOURCES.items():
            if g != group or version not in rd["versions"]:
                continue
            gvk = {"group": group, "version": version, "kind": rd["kind"]}
            params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string",
                                                                              "uniqueItems": True}},
                      {"name": "dryRun", "in": "query", "schema": {"type": "string",
                                                                     "uniqueItems": True}}]
            op = {"x-kubernetes-group-version-kind": gvk, "parameters": params,
                  "responses": {"200": {"description": "OK"}}}
            paths["/apis/%s/%s/namespaces/{namespace}/%s/{name}" % (group, version, res)] = {
                "get": dict(op, operationId="read" + rd["kind"]),
                "put": dict(op, operationId="replace" + rd["kind"]),
                "patch": dict(op, operationId="patch" + rd["kind"]),
                "delete": dict(op, operationId="delete" + rd["kind"])}
            paths["/apis/%s/%s/namespaces/{namespace}/%s" % (group, version, res)] = {
                "get": dict(op, operationId="list" + rd["kind"]),
                "post": dict(op, operationId="create" + rd["kind"])}
        if not paths:
            return h.send(404, "404 page not found\n", "text/plain; charset=utf-8")
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger (sandbox)",
                                            "version": "v0.1.0"},
               "paths": paths, "components": {"schemas": {}}}
        h.send(200, go_json(doc), "application/json", self.common_headers())

    def not_found_generic(self):
        return KubeError(404, "the server could not find the requested resource", "NotFound", {})

    def discovery(self, h, group, version):
        groups = {g["name"]: g for g in self.groups()}
        if group not in groups:
            raise self.not_found_generic()
        if version is None:
            g = dict(groups[group])
            return h.send(200, go_json({"kind": "APIGroup", "apiVersion": "v1", **g}))
        if not any(v["version"] == version for v in groups[group]["versions"]):
            raise self.not_found_generic()
        resources = []
        for (g, res), rd in RESOURCES.items():
            if g != group or version not in rd["versions"]:
                continue
            r = {"name": res, "singularName": rd["singular"], "namespaced": True,
                 "kind": rd["kind"], "verbs": VERBS}
            if rd["shortNames"]:
                r["shortNames"] = rd["shortNames"]
            if rd.get("categories"):
                r["categories"] = rd["categories"]
            r["storageVersionHash"] = hashlib.sha256(res.encode()).hexdigest()[:11]
            resources.append(r)
            if not rd.get("no_status"):
                resources.append({"name": res + "/status", "singularName": "", "namespaced": True,
                                  "kind": rd["kind"], "verbs": ["get", "patch", "update"]})
        h.send(200, go_json({"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "%s/%s" % (group, version), "resources": resources}))

    def resource(self, h, group, version, ns, res, name, sub):
        rd = RESOURCES.get((group, res))
        if rd is None or version not in self.served(group, res):
            raise self.not_found_generic()
        gr = "%s.%s" % (res, group)
        ctx = {"group": group, "version": version, "res": res, "rd": rd, "gr": gr, "ns": ns,
               "name": name, "sub": sub}
        m = h.method
        if name is None:
            if m == "GET" and h.q.get("watch") in ("true", "1"):
                return self.watch(h, ctx)
            if m == "GET":
                return self.do_list(h, ctx)
            if m == "POST" and ns:
                return self.do_create(h, ctx)
            return self.method_not_allowed(h)
        if ns is None:
            raise self.not_found_generic()
        if m == "GET":
            obj = self.must_get(ctx)
            if self.wants_table(h):
                return h.send(200, go_json(self.table(ctx, [obj])), "application/json",
                              self.common_headers())
            return self.send_obj(h, 200, self.stamp(obj, group, version, res), rd["cr"])
        if m == "PUT":
            return self.do_update(h, ctx)
        if m == "PATCH":
            return self.do_patch(h, ctx)
        if m == "DELETE" and sub is None:
            return self.do_delete(h, ctx)
        return self.method_not_allowed(h)

    def method_not_allowed(self, h):
        self.send_status(h, KubeError(405, "the server does not allow this method on the requested "
                                           "resource", "MethodNotAllowed", {}))

    def must_get(self, ctx):
        obj = self.sb.store.get(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
        if obj is None:
            raise KubeError(404, '%s "%s" not found' % (ctx["gr"], ctx["name"]), "NotFound",
                            details(ctx["name"], ctx["group"], ctx["res"]))
        return obj

    def wants_table(self, h):
        acc = h.headers.get("Accept", "")
        first = acc.split(",")[0]
        return "as=Table" in first and "g=meta.k8s.io" in first

    # -- list / watch --
    def selected(self, h, ctx):
        objs = self.sb.store.list(ctx["group"], ctx["res"], ctx["ns"])
        return [o for o in objs
                if label_selector_match(h.q.get("labelSelector"),
                                        o.get("metadata", {}).get("labels"))
                and field_selector_match(h.q.get("fieldSelector"), o)]

    def do_list(self, h, ctx):
        with self.sb.store.lock:
            objs = self.selected(h, ctx)
            rv = str(self.sb.store.rv)
        if self.wants_table(h):
            return h.send(200, go_json(self.table(ctx, objs, rv)), "application/json",
                          self.common_headers())
        lst = {"apiVersion": "%s/%s" % (ctx["group"], ctx["version"]),
               "kind": ctx["rd"]["listKind"], "metadata": {"resourceVersion": rv},
               "items": [self.stamp(o, ctx["group"], ctx["version"], ctx["res"]) for o in objs]}
        if ctx["rd"]["cr"]:
            lst["metadata"]["continue"] = ""
        self.send_obj(h, 200, lst, ctx["rd"]["cr"])

    def table(self, ctx, objs, rv=None):
        res = ctx["res"]
        now = time.time()

        def age(o):
            ts = o.get("metadata", {}).get("creationTimestamp")
            try:
                t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            except (TypeError, ValueError):
                return "<unknown>"
            return human_duration(now - t)

        name_col = {"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}
        age_col = {"name": "Age", "type": "date", "format": "", "priority": 0,
                   "description": "CreationTimestamp is a timestamp representing the server time "
                                  "when this object was created."}

        def col(n, d):
            return {"name": n, "type": "string", "format": "", "description": d, "priority": 0}

        if res == "virtualservices":
            cols = [name_col, col("Gateways", "The names of gateways and sidecars that should "
                                              "apply these routes"),
                    col("Hosts", "The destination hosts to which traffic is being sent"), age_col]

            def cells(o):
                spec = o.get("spec") or {}
                return [o["metadata"]["name"],
                        go_json(spec["gateways"]) if "gateways" in spec else None,
                        go_json(spec["hosts"]) if "hosts" in spec else None, age(o)]
        elif res == "leases":
            cols = [name_col, col("Holder", "holderIdentity"), age_col]

            def cells(o):
                return [o["metadata"]["name"],
                        (o.get("spec") or {}).get("holderIdentity", ""), age(o)]
        else:
            cols = [name_col, col("Ready", "ready/desired replicas"),
                    col("Up-to-date", "updated replicas"), col("Available", "available replicas"),
                    age_col]

            def cells(o):
                st, spec = o.get("status") or {}, o.get("spec") or {}
                return [o["metadata"]["name"],
                        "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
                        st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(o)]
        rows = []
        for o in objs:
            md = {k: v for k, v in o["metadata"].items() if k != "managedFields"}
            rows.append({"cells": cells(o), "object": {
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv or str(self.sb.store.rv)},
                "columnDefinitions": cols, "rows": rows}

    def watch(self, h, ctx):
        store = self.sb.store
        group, res = ctx["group"], ctx["res"]
        try:
            timeout = min(int(h.q.get("timeoutSeconds", "1800")), 3600)
        except ValueError:
            timeout = 1800
        deadline = time.time() + timeout
        rv_param = h.q.get("resourceVersion", "")
        bookmarks = h.q.get("allowWatchBookmarks") == "true"
        bookmark_every = float(self.cfg.get("watch_bookmark_seconds", 60))
        epoch = store.epoch

        def visible(obj):
            return ((ctx["ns"] is None or obj["metadata"].get("namespace") == ctx["ns"])
                    and label_selector_match(h.q.get("labelSelector"),
                                             obj["metadata"].get("labels"))
                    and field_selector_match(h.q.get("fieldSelector"), obj))

        pending = []
        with store.lock:
            if rv_param in ("", "0"):
                pending = [("ADDED", o) for o in self.selected(h, ctx)]
                last = store.rv
            else:
                try:
                    last = int(rv_param)
                except ValueError:
                    raise KubeError(400, 'invalid resource version "%s"' % rv_param, "BadRequest")
                if last < store.oldest_rv():
                    pending = [("ERROR", expired_status(last, store.oldest_rv()))]
                    deadline = 0
                else:
                    pending = [(t, o) for (r, t, g, rs, o) in store.events
                               if r > last and g == group and rs == res and visible(o)]
                    last = store.rv
        h.responded = True
        h.rec["status"] = 200
        h.rec["response_body"] = "(watch stream)"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in self.common_headers().items():
            h.send_header(k, v)
        h.end_headers()

        def emit(etype, obj):
            if etype != "ERROR":
                obj = self.stamp(obj, group, ctx["version"], res)
            line = ('{"type":%s,"object":%s}\n' % (
                go_json(etype), go_json(obj, sort_keys=ctx["rd"]["cr"] and etype != "ERROR"))
            ).encode("utf-8")
            h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

        def bookmark():
            # what the apiserver sends with allowWatchBookmarks: only the resourceVersion
            emit("BOOKMARK", {"metadata": {"resourceVersion": str(last)}})

        try:
            for etype, obj in pending:
                emit(etype, obj)
            next_bookmark = time.time() + bookmark_every
            while time.time() < deadline and not self.sb.stopping.is_set():
                with store.cond:
                    store.cond.wait(timeout=min(0.5, max(0.01, deadline - time.time())))
                    if store.epoch != epoch:
                        # compacted: the stream ends, the client re-watches (and gets 410); the
                        # store replaced by a scenario load: its history is gone, say so now
                        if store is not self.sb.store:
                            emit("ERROR", expired_status(last, store.rv))
                        break
                    new = [(r, t, o) for (r, t, g, rs, o) in store.events
                           if r > last and g == group and rs == res]
                    last = store.rv
                for _, t, o in new:
                    if visible(o):
                        emit(t, o)
                if bookmarks and (time.time() >= next_bookmark or time.time() >= deadline):
                    bookmark()  # periodically, and just before the timeout closes the stream
                    next_bookmark = time.time() + bookmark_every
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        h.close_connection = True

    # -- writes --
    def decode(self, h):
        try:
            obj = h.json_body()
        except (ValueError, UnicodeDecodeError) as e:
            raise KubeError(400, "error decoding request body: %s" % e, "BadRequest")
        if not isinstance(obj, dict):
            raise KubeError(400, "the body of the request must be a JSON object", "BadRequest")
        return obj

    def check_kind(self, ctx, obj):
        rd = ctx["rd"]
        if "kind" in obj and obj["kind"] != rd["kind"]:
            raise KubeError(400, "the kind in the body (%s) does not match the kind on the URL "
                            "(%s)" % (obj["kind"], rd["kind"]), "BadRequest")
        api = obj.get("apiVersion")
        if api is not None and api not in ["%s/%s" % (ctx["group"], v) for v in rd["versions"]]:
            raise KubeError(400, "the API version in the data (%s) does not match the expected API "
                            "version (%s/%s)" % (api, ctx["group"], ctx["version"]), "BadRequest")
        if not isinstance(obj.get("metadata", {}), dict):
            raise KubeError(400, "metadata must be an object", "BadRequest")

    def admit(self, ctx, obj):
        if ctx["res"] != "virtualservices":
            return
        rules = self.cfg.get("validate_weights", "1.15")
        if rules in (False, "off", None):
            return
        errs = istio_weight_errors(obj, rules)
        if errs:
            raise KubeError(400, 'admission webhook "validation.istio.io" denied the request: '
                                 'configuration is invalid: ' + ", ".join(errs))

    def record_write(self, h, ctx, before, after):
        h.rec["kube_write"] = {"resource": ctx["res"], "namespace": ctx["ns"],
                               "name": ctx["name"], "before": before, "after": after}
        if ctx["res"] == "virtualservices" and after is not None:
            self.sb.recorder.note_write(ctx["ns"], ctx["name"], before, after)

    def conflict(self, ctx):
        return KubeError(409, 'Operation cannot be fulfilled on %s "%s": the object has been '
                              'modified; please apply your changes to the latest version and try '
                              'again' % (ctx["gr"], ctx["name"]), "Conflict",
                         details(ctx["name"], ctx["group"], ctx["res"]))

    def apply_forced_conflict(self, ctx):
        key = (ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
        with self.sb.store.lock:
            if self.conflicts.get(key, 0) > 0:
                self.conflicts[key] -= 1
                self.sb.store.bump(*key)

    def update_common(self, h, ctx, new, explicit_rv):
        """Shared tail of PUT and PATCH: RV check, admission, store, respond."""
        store = self.sb.store
        md = new.setdefault("metadata", {})
        if md.get("name") not in (None, ctx["name"]):
            raise KubeError(400, "the name of the object (%s) does not match the name on the URL "
                                 "(%s)" % (md.get("name"), ctx["name"]), "BadRequest")
        if md.get("namespace") not in (None, ctx["ns"]):
            raise KubeError(400, "the namespace of the provided object does not match the "
                                 "namespace sent on the request", "BadRequest")
        md["name"], md["namespace"] = ctx["name"], ctx["ns"]
        for k in ("apiVersion", "kind"):
            new.pop(k, None)
        with store.lock:
            latest = store.get(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
            if latest is None:
                raise KubeError(404, '%s "%s" not found' % (ctx["gr"], ctx["name"]), "NotFound",
                                details(ctx["name"], ctx["group"], ctx["res"]))
            if explicit_rv is not None and explicit_rv != latest["metadata"]["resourceVersion"]:
                raise self.conflict(ctx)
            if ctx["sub"] == "status":
                merged = copy.deepcopy(latest)
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
                new = merged
            elif "status" in latest or "status" in new:
                if ctx["rd"]["cr"] or ctx["res"] == "deployments":  # status only via /status
                    if "status" in latest:
                        new["status"] = latest["status"]
                    else:
                        new.pop("status", None)
            self.admit(ctx, new)
            if h.q.get("dryRun") == "All":
                result = new
                result["metadata"]["resourceVersion"] = latest["metadata"]["resourceVersion"]
            else:
                result, changed = store.replace(ctx["group"], ctx["res"], latest, new)
                if changed:
                    self.record_write(h, ctx, latest, result)
        self.send_obj(h, 200, self.stamp(result, ctx["group"], ctx["version"], ctx["res"]),
                      ctx["rd"]["cr"])

    def do_update(self, h, ctx):
        new = self.decode(h)
        self.check_kind(ctx, new)
        self.must_get(ctx)
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv in (None, "") and not ctx["rd"]["unconditional_update"]:
            raise KubeError(422, '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                                 'must be specified for an update' % (ctx["gr"], ctx["name"]),
                            "Invalid", details(ctx["name"], ctx["group"], ctx["res"], [{
                                "reason": "FieldValueInvalid",
                                "message": "Invalid value: 0x0: must be specified for an update",
                                "field": "metadata.resourceVersion"}]))
        self.apply_forced_conflict(ctx)
        self.update_common(h, ctx, new, rv or None)

    def do_patch(self, h, ctx):
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "application/strategic-merge-patch+json" and not ctx["rd"]["cr"]:
            ctype = "application/merge-patch+json"  # built-ins: close enough for our resources
        if ctype not in ("application/json-patch+json", "application/merge-patch+json",
                         "application/apply-patch+yaml"):
            raise KubeError(415, SMP_415, "UnsupportedMediaType")
        try:
            patch = json.loads(h.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            if ctype == "application/apply-patch+yaml":
                raise KubeError(400, "the sandbox only understands JSON-formatted apply patches",
                                "BadRequest")
            raise KubeError(400, "error decoding patch: %s" % e, "BadRequest")
        if ctype == "application/apply-patch+yaml" and not h.q.get("fieldManager"):
            raise KubeError(422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                                 "value: is required for apply patch", "Invalid",
                            details("", "meta.k8s.io", "PatchOptions", [{
                                "reason": "FieldValueRequired",
                                "message": "Required value: is required for apply patch",
                                "field": "fieldManager"}]))
        with self.sb.store.lock:  # patch the latest object; no lost update in between
            self.patch_locked(h, ctx, ctype, patch)

    def patch_locked(self, h, ctx, ctype, patch):
        current = self.must_get(ctx)
        stamped = self.stamp(current, ctx["group"], ctx["version"], ctx["res"])
        if ctype == "application/json-patch+json":
            if not isinstance(patch, list):
                raise KubeError(400, "json: cannot unmarshal object into Go value of type "
                                     "jsonpatch.Patch", "BadRequest")
            if len(patch) > 10000:
                raise KubeError(413, "The allowed operations in a JSON patch are limited to 10000",
                                "RequestEntityTooLarge")
            try:
                new = json_patch(stamped, patch)
            except PatchError as e:
                raise KubeError(422, "the server rejected our request due to an error in our "
                                     "request", "Invalid", {"causes": [{"message": str(e)}]})
        else:
            if not isinstance(patch, dict):
                raise KubeError(400, "json: cannot unmarshal array into Go value of type "
                                     "map[string]interface {}", "BadRequest")
            new = merge_patch(stamped, patch)
        if not isinstance(new, dict):
            raise KubeError(422, "the server rejected our request due to an error in our request",
                            "Invalid")
        self.check_kind(ctx, new)
        if ctype == "application/json-patch+json":
            conditional = any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion"
                              and op.get("op") in ("add", "replace") for op in patch)
        else:
            md = patch.get("metadata")
            conditional = isinstance(md, dict) and "resourceVersion" in md
        rv = (new.get("metadata") or {}).get("resourceVersion") or None if conditional else None
        if rv is not None:
            # The patched object carries a resourceVersion: it is a precondition, so a concurrent
            # write (or a forced conflict from the admin API) yields 409.
            self.apply_forced_conflict(ctx)
        self.update_common(h, ctx, new, rv)

    def do_create(self, h, ctx):
        obj = self.decode(h)
        self.check_kind(ctx, obj)
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise KubeError(422, '%s.%s "" is invalid: metadata.name: Required value: name or '
                                 'generateName is required' % (ctx["rd"]["kind"], ctx["group"]),
                            "Invalid", details("", ctx["group"], ctx["rd"]["kind"], [{
                                "reason": "FieldValueRequired",
                                "message": "Required value: name or generateName is required",
                                "field": "metadata.name"}]))
        if md.get("namespace") not in (None, ctx["ns"]):
            raise KubeError(400, "the namespace of the provided object does not match the "
                                 "namespace sent on the request", "BadRequest")
        md["namespace"] = ctx["ns"]
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            md.pop(k, None)
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        cctx = dict(ctx, name=name)
        self.admit(cctx, obj)
        store = self.sb.store
        with store.lock:
            if store.get(ctx["group"], ctx["res"], ctx["ns"], name) is not None:
                raise KubeError(409, '%s "%s" already exists' % (ctx["gr"], name), "AlreadyExists",
                                details(name, ctx["group"], ctx["res"]))
            if h.q.get("dryRun") == "All":
                result = obj
            else:
                result = store.create(ctx["group"], ctx["res"], obj)
                self.record_write(h, cctx, None, result)
        self.send_obj(h, 201, self.stamp(result, ctx["group"], ctx["version"], ctx["res"]),
                      ctx["rd"]["cr"])

    def do_delete(self, h, ctx):
        store = self.sb.store
        with store.lock:
            obj = self.must_get(ctx)
            store.delete(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
            self.record_write(h, ctx, obj, None)
        d = details(ctx["name"], ctx["group"], ctx["res"], uid=obj["metadata"].get("uid"))
        h.send(200, status_body(200, None, None, d, success=True), "application/json",
               self.common_headers())


class KubeHandler(SandboxHandler):
    service = "kube"

    def default_fault_ctype(self, body):
        return "application/json"

    def route(self):
        self.sb.kube.handle(self)


# ------------------------------------------------------------------------------------------------
# Slack
# ------------------------------------------------------------------------------------------------


class TokenBucket:
    def __init__(self, per_second, burst):
        self.rate, self.burst = float(per_second), float(burst)
        self.lock = threading.Lock()
        self.state = {}

    def take(self, key):
        """-> 0 when allowed, else seconds to wait."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.state[key] = (tokens - 1, now)
                return 0
            self.state[key] = (tokens, now)
            return (1 - tokens) / self.rate


class Slack:
    """Slack emulation: incoming webhooks and a small Web API (chat.*, conversations.*)."""

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        paths = cfg.get("webhook_paths") or [cfg.get("webhook_path", "/services/T000/B000/sandbox")]
        self.webhooks = set(paths)
        rl = cfg.get("rate_limit", {"per_second": 1, "burst": 3})
        self.bucket = TokenBucket(rl.get("per_second", 1), rl.get("burst", 3)) if rl else None
        self.lock = threading.Lock()
        self.messages = []  # accepted payloads, in order
        self.seq = 0
        self.by_ts = {}  # (channel_id, ts) -> message
        self.ts_counter = 0

    def channels(self):
        return self.cfg.get("channels")  # {"#releases": "C0SANDBOX01"} or None (accept all)

    def channel_id(self, ch):
        chans = self.channels()
        if not isinstance(ch, str) or not ch:
            return None
        if chans is None:
            return ch if re.fullmatch(r"[CGD][A-Z0-9]{6,}", ch) else \
                "C" + hashlib.sha1(ch.encode()).hexdigest()[:10].upper()
        if ch in chans.values():
            return ch
        return chans.get(ch) or chans.get("#" + ch)

    def new_ts(self):
        with self.lock:
            self.ts_counter += 1
            return "%d.%06d" % (int(time.time()), self.ts_counter % 1000000)

    def store(self, kind, path, channel, payload, ts=None, thread_ts=None):
        with self.lock:
            self.seq += 1
            entry = {"seq": self.seq, "time": time.time(), "kind": kind, "path": path,
                     "channel": channel, "ts": ts, "thread_ts": thread_ts, "payload": payload}
            self.messages.append(entry)
            return entry

    def select(self, since=0):
        with self.lock:
            return [m for m in self.messages if m["seq"] > since]

    @staticmethod
    def blocks_error(blocks):
        if blocks is None:
            return None
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        for b in blocks:
            if not isinstance(b, dict) or not isinstance(b.get("type"), str):
                return "invalid_blocks"
            if b["type"] == "header":
                t = b.get("text") or {}
                if t.get("type") != "plain_text" or len(t.get("text", "")) > 150:
                    return "invalid_blocks"
            if len(b.get("block_id", "")) > 255:
                return "invalid_blocks"
        return None

    def handle(self, h):
        if h.method == "POST" and h.req_path.startswith("/api/"):
            return self.web_api(h, h.req_path[len("/api/"):])
        if h.method == "POST" and h.req_path in self.webhooks:
            return self.webhook(h)
        return h.send(404, "no_service", "text/plain; charset=utf-8")

    def webhook(self, h):
        text_plain = "text/plain; charset=utf-8"
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            raw = h.body.decode("utf-8")
            if ctype == "application/x-www-form-urlencoded":
                raw = urllib.parse.parse_qs(raw).get("payload", [""])[0]
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return h.send(400, "invalid_payload", text_plain)
        if not isinstance(payload, dict):
            return h.send(400, "invalid_payload", text_plain)
        if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
            return h.send(400, "no_text", text_plain)
        err = self.blocks_error(payload.get("blocks"))
        if err:
            return h.send(400, err, text_plain)
        if self.bucket:
            wait = self.bucket.take(h.req_path)
            if wait:
                return h.send(429, "", text_plain, {"Retry-After": max(1, math.ceil(wait))})
        self.store("webhook", h.req_path, None, payload)
        return h.send(200, "ok", text_plain)

    def web_api(self, h, method):
        ctype = h.headers.get("Content-Type", "")
        warnings = []
        args = {}
        try:
            if ctype.split(";")[0].strip().lower() == "application/json":
                if "charset" not in ctype.lower():
                    warnings.append("missing_charset")
                args = h.json_body() if h.body else {}
            else:
                args = {k: v[-1] for k, v in urllib.parse.parse_qs(h.body.decode("utf-8")).items()}
                for k in ("blocks", "attachments", "metadata"):
                    if isinstance(args.get(k), str):
                        args[k] = json.loads(args[k])
        except (ValueError, UnicodeDecodeError):
            return self.api_reply(h, {"ok": False, "error": "invalid_json"})
        if not isinstance(args, dict):
            return self.api_reply(h, {"ok": False, "error": "invalid_arguments"})
        auth = h.headers.get("Authorization")
        token = args.get("token") if auth is None else auth
        if token is None:
            return self.api_reply(h, {"ok": False, "error": "not_authed"})
        if token.strip() not in ("Bearer " + self.cfg.get("bot_token", "xoxb-sandbox-token"),
                                 self.cfg.get("bot_token", "xoxb-sandbox-token")):
            return self.api_reply(h, {"ok": False, "error": "invalid_auth"})
        handler = {"chat.postMessage": self.post_message, "chat.update": self.update,
                   "conversations.replies": self.replies, "conversations.history": self.history,
                   "auth.test": self.auth_test}.get(method)
        if handler is None:
            return h.send(404, {"ok": False, "error": "unknown_method"})
        resp = handler(h, args)
        if resp is None:
            return
        if warnings and resp.get("ok"):
            resp["response_metadata"] = {"warnings": warnings}
            resp["warning"] = ",".join(warnings)
        return self.api_reply(h, resp)

    def api_reply(self, h, resp, status=200, headers=None):
        h.send(status, resp, "application/json; charset=utf-8", headers)

    def check_message(self, args):
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return "no_text"
        if isinstance(args.get("text"), str) and len(args["text"]) > 40000:
            return "msg_too_long"
        return self.blocks_error(args.get("blocks"))

    def ratelimited(self, h, channel):
        if self.bucket:
            wait = self.bucket.take("api:" + channel)
            if wait:
                self.api_reply(h, {"ok": False, "error": "ratelimited"}, 429,
                               {"Retry-After": max(1, math.ceil(wait))})
                return True
        return False

    def message_view(self, msg):
        m = {"type": "message", "subtype": "bot_message", "text": msg.get("text", ""),
             "ts": msg["ts"], "bot_id": "B0SANDBOX", "user": "U0SANDBOX"}
        for k in ("blocks", "attachments", "thread_ts", "metadata"):
            if msg.get(k) is not None:
                m[k] = msg[k]
        return m

    def post_message(self, h, args):
        ch = self.channel_id(args.get("channel"))
        if ch is None:
            return {"ok": False, "error": "channel_not_found"}
        err = self.check_message(args)
        if err:
            return {"ok": False, "error": err}
        if self.ratelimited(h, ch):
            return None
        ts = self.new_ts()
        msg = dict(args, ts=ts, channel=ch)
        msg.pop("token", None)
        with self.lock:
            self.by_ts[(ch, ts)] = msg
        self.store("chat.postMessage", h.req_path, ch, args, ts, args.get("thread_ts"))
        return {"ok": True, "channel": ch, "ts": ts, "message": self.message_view(msg)}

    def update(self, h, args):
        ch = self.channel_id(args.get("channel"))
        if ch is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = args.get("ts")
        with self.lock:
            msg = self.by_ts.get((ch, ts))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        merged = dict(msg)
        for k in ("text", "blocks", "attachments", "metadata"):
            if k in args:
                merged[k] = args[k]
        if merged.get("blocks") == []:
            merged.pop("blocks")
        err = self.check_message(merged)
        if err:
            return {"ok": False, "error": err}
        if self.ratelimited(h, ch):
            return None
        with self.lock:
            self.by_ts[(ch, ts)] = merged
        self.store("chat.update", h.req_path, ch, args, ts, msg.get("thread_ts"))
        return {"ok": True, "channel": ch, "ts": ts, "text": merged.get("text", ""),
                "message": self.message_view(merged)}

    def replies(self, h, args):
        ch = self.channel_id(args.get("channel"))
        if ch is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = args.get("ts")
        with self.lock:
            if (ch, ts) not in self.by_ts:
                return {"ok": False, "error": "thread_not_found"}
            msgs = [m for (c, t), m in sorted(self.by_ts.items(), key=lambda kv: kv[0][1])
                    if c == ch and (t == ts or m.get("thread_ts") == ts)]
        return {"ok": True, "messages": [self.message_view(m) for m in msgs], "has_more": False}

    def history(self, h, args):
        ch = self.channel_id(args.get("channel"))
        if ch is None:
            return {"ok": False, "error": "channel_not_found"}
        with self.lock:
            msgs = [m for (c, t), m in sorted(self.by_ts.items(), key=lambda kv: kv[0][1],
                                              reverse=True)
                    if c == ch and (not m.get("thread_ts") or m.get("reply_broadcast"))]
        return {"ok": True, "messages": [self.message_view(m) for m in msgs], "has_more": False}

    def auth_test(self, h, args):
        return {"ok": True, "url": "https://sandbox.slack.com/", "team": "sandbox",
                "user": "canaryd", "team_id": "T000", "user_id": "U0SANDBOX", "bot_id": "B0SANDBOX"}


class SlackHandler(SandboxHandler):
    service = "slack"

    def default_fault_ctype(self, body):
        return "application/json; charset=utf-8" if body[:1] == "{" else "text/plain; charset=utf-8"

    def route(self):
        self.sb.slack.handle(self)


# ------------------------------------------------------------------------------------------------
# Admin API
# ------------------------------------------------------------------------------------------------


class AdminHandler(SandboxHandler):
    service = "admin"

    def _handle(self):
        # The admin API is not recorded and never faulted.
        u = urllib.parse.urlsplit(self.path)
        self.req_path, self.req_query, self.method = u.path, u.query, self.command
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        self.rec = {}
        self.responded = False
        try:
            self.body = self._read_body()
            self.route()
        except (ValueError, KeyError, TypeError, re.error) as e:
            self.send(400, {"error": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            self.sb.log.log("admin %s %s: internal error\n%s" % (self.method, self.path,
                                                                traceback.format_exc()))
            if not self.responded:
                self.send(500, {"error": "sandbox internal error"})

    def since(self):
        return int(self.q.get("since", "0") or 0)

    def obj_key(self):
        res = self.q.get("resource", "virtualservices")
        group = {r: g for (g, r) in RESOURCES}.get(res)
        if group is None:
            raise ValueError("unknown resource %r" % res)
        ns, name = self.q.get("ns"), self.q.get("name")
        if not ns or not name:
            raise ValueError("ns and name are required")
        return group, res, ns, name

    def route(self):
        sb, p, m = self.sb, self.req_path, self.method
        if p == "/requests" and m == "GET":
            return self.send(200, sb.recorder.select(self.q.get("service"), self.since(),
                                                     self.q.get("method"),
                                                     self.q.get("path_regex")))
        if p == "/stats" and m == "GET":
            return self.send(200, sb.recorder.stats())
        if p == "/kube/write-times" and m == "GET":
            with sb.recorder.lock:
                out = list(sb.recorder.write_times)
            return self.send(200, out)
        if p == "/slack/messages" and m == "GET":
            return self.send(200, sb.slack.select(self.since()))
        if p == "/kube/writes" and m == "GET":
            recs = sb.recorder.select("kube", self.since())
            return self.send(200, [dict(r["kube_write"], seq=r["seq"], method=r["method"],
                                        path=r["path"]) for r in recs if r.get("kube_write")])
        if p == "/kube/objects" and m == "GET":
            res = self.q.get("resource", "virtualservices")
            group = {r: g for (g, r) in RESOURCES}.get(res)
            if group is None:
                raise ValueError("unknown resource %r" % res)
            return self.send(200, sb.store.list(group, res, self.q.get("ns")))
        if p == "/kube/object":
            return self.kube_object()
        if p == "/faults" and m == "POST":
            return self.send(200, sb.faults.add(json.loads(self.body or b"{}")))
        if p == "/faults" and m == "GET":
            return self.send(200, sb.faults.list())
        if p == "/faults" and m == "DELETE":
            sb.faults.clear(int(self.q["id"]) if "id" in self.q else None)
            with sb.store.lock:
                sb.kube.conflicts.clear()
            return self.send(200, {"ok": True})
        if p == "/faults/conflict" and m == "POST":
            spec = json.loads(self.body or b"{}")
            res = spec.get("resource", "virtualservices")
            group = {r: g for (g, r) in RESOURCES}.get(res)
            if group is None or not spec.get("ns") or not spec.get("name"):
                raise ValueError("ns and name are required (resource optional)")
            key = (group, res, spec["ns"], spec["name"])
            with sb.store.lock:
                sb.kube.conflicts[key] = sb.kube.conflicts.get(key, 0) + int(spec.get("count", 1))
                left = sb.kube.conflicts[key]
            return self.send(200, {"ok": True, "pending": left})
        if p == "/state" and m == "GET":
            return self.send(200, sb.state())
        if p == "/scenario" and m == "POST":
            spec = json.loads(self.body or b"{}")
            if isinstance(spec, dict) and set(spec) == {"path"}:
                scenario = load_scenario(spec["path"])
            else:
                scenario = validate_scenario(spec)
            sb.load(scenario)
            return self.send(200, {"ok": True})
        if p == "/kube/auth" and m == "POST":
            # {"token": "..."}: the bearer token accepted from now on (rotation, exec plugins)
            spec = json.loads(self.body or b"{}")
            if not isinstance(spec.get("token"), str):
                raise ValueError("token (a string) is required")
            sb.kube.cfg["token"] = spec["token"]
            return self.send(200, {"ok": True})
        if p == "/reset" and m == "POST":
            sb.recorder.clear()
            return self.send(200, {"ok": True})
        if p == "/kube/compact" and m == "POST":
            return self.send(200, {"ok": True, "oldest_resource_version": sb.store.compact()})
        if p == "/healthz":
            return self.send(200, {"ok": True})
        return self.send(404, {"error": "no such admin endpoint"})

    def kube_object(self):
        sb, m = self.sb, self.method
        group, res, ns, name = self.obj_key()
        store = sb.store
        if m == "GET":
            obj = store.get(group, res, ns, name)
            return self.send(200, obj) if obj else self.send(404, {"error": "not found"})
        if m == "DELETE":
            obj = store.delete(group, res, ns, name)
            return self.send(200, obj) if obj else self.send(404, {"error": "not found"})
        if m == "PUT":
            new = json.loads(self.body)
            if not isinstance(new, dict):
                raise ValueError("object must be a JSON object")
            md = new.setdefault("metadata", {})
            md["name"], md["namespace"] = name, ns
            new.pop("apiVersion", None)
            new.pop("kind", None)
            with store.lock:
                old = store.get(group, res, ns, name)
                if old is None:
                    result = store.create(group, res, new)
                else:
                    result, _ = store.replace(group, res, old, new)
            sb.recorder_note_bypass(res, ns, name, old, result)
            return self.send(200, result)
        return self.send(405, {"error": "method not allowed"})


# ------------------------------------------------------------------------------------------------
# Scenario
# ------------------------------------------------------------------------------------------------


class ScenarioError(Exception):
    pass


DISTS = {"normal", "lognormal", "constant", "uniform", "poisson"}


def validate_scenario(sc):
    if not isinstance(sc, dict):
        raise ScenarioError("scenario must be a JSON object")
    sc = copy.deepcopy(sc)
    dd = sc.setdefault("datadog", {})
    kube = sc.setdefault("kubernetes", {})
    sc.setdefault("slack", {})
    for key in ("virtual_services", "deployments", "leases"):  # accepted at top level too
        if key in sc:
            kube.setdefault(key, []).extend(sc.pop(key))
    for i, mc in enumerate(dd.get("metrics", [])):
        where = "datadog.metrics[%d]" % i
        if not isinstance(mc, dict) or not ("match" in mc or "match_regex" in mc):
            raise ScenarioError("%s: needs match or match_regex" % where)
        if "match_regex" in mc:
            try:
                re.compile(mc["match_regex"])
            except re.error as e:
                raise ScenarioError("%s.match_regex: %s" % (where, e))
        mc.setdefault("name", "%s#%d" % (mc.get("match", mc.get("match_regex")), i))
        for arm in ("baseline", "canary", "value"):
            d = mc.get(arm)
            if d is not None and (not isinstance(d, dict) or d.get("dist", "normal") not in DISTS):
                raise ScenarioError("%s.%s: dist must be one of %s" % (where, arm, sorted(DISTS)))
        if "series" in mc:
            try:
                series.validate(mc["series"], where + ".series")
            except series.SeriesError as e:
                raise ScenarioError(str(e))
            vs = mc["series"].get("virtual_service") or mc.get("virtual_service")
            if vs is not None and (not isinstance(vs, str) or "/" not in vs):
                raise ScenarioError("%s: virtual_service must be \"ns/name\"" % where)
        regs = mc.get("regression") or []
        for r in [regs] if isinstance(regs, dict) else regs:
            if not isinstance(r, dict) or not ("after_seconds" in r or "at_weight" in r):
                raise ScenarioError("%s.regression: needs after_seconds or at_weight" % where)
            if "at_weight" in r and not (r.get("virtual_service") or mc.get("virtual_service")):
                raise ScenarioError("%s.regression: at_weight needs virtual_service "
                                    "(\"ns/name\")" % where)
    for key in ("virtual_services", "deployments", "leases"):
        for i, obj in enumerate(kube.get(key, [])):
            md = obj.get("metadata") if isinstance(obj, dict) else None
            if not isinstance(md, dict) or not md.get("name") or not md.get("namespace"):
                raise ScenarioError("kubernetes.%s[%d]: metadata.name and metadata.namespace are "
                                    "required" % (key, i))
    return sc


def load_scenario(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return validate_scenario(json.load(fh))
    except OSError as e:
        raise ScenarioError("%s: %s" % (path, e.strerror))
    except ValueError as e:
        raise ScenarioError("%s: invalid JSON: %s" % (path, e))


# ------------------------------------------------------------------------------------------------
# The sandbox: state shared by all services
# ------------------------------------------------------------------------------------------------


class Sandbox:
    def __init__(self, scenario, log):
        self.log = log
        self.started = time.time()
        self.stopping = threading.Event()
        self.recorder = Recorder(getattr(self, "record_limit", None))
        self.faults = Faults()
        self.ports = {}
        self.load(scenario)

    def load(self, scenario):
        self.scenario = scenario
        self.reg_intervals = {}
        # Realistic series: the VirtualServices they follow, each one's weight history
        # [(time, {subset: weight})] and rollout starts (canary weight 0 -> > 0).
        self.model_vs = {}
        for mc in scenario["datadog"].get("metrics", []):
            spec = mc.get("series")
            vs = spec and (spec.get("virtual_service") or mc.get("virtual_service"))
            if vs:
                canary, stable = self.model_vs.setdefault(vs, (set(), set()))
                canary.add(spec.get("canary_subset", "canary"))
                stable.add(spec.get("stable_subset", "stable"))
        self.has_models = any("series" in mc for mc in scenario["datadog"].get("metrics", []))
        self.weight_history = {}
        self.rollout_starts = {}
        kcfg = scenario["kubernetes"]
        store = KubeStore(self, int(kcfg.get("resource_version_start", 1000)))
        old, self.store = getattr(self, "store", None), store
        if old is not None:  # end the watches of the old store (they get ERROR 410)
            with old.lock:
                old.epoch += 1
                old.cond.notify_all()
        self.datadog = Datadog(self, scenario["datadog"])
        self.kube = Kube(self, kcfg)
        self.slack = Slack(self, scenario["slack"])
        for key, group, res in (("virtual_services", ISTIO, "virtualservices"),
                                ("deployments", "apps", "deployments"),
                                ("leases", "coordination.k8s.io", "leases")):
            for obj in kcfg.get(key, []):
                obj = copy.deepcopy(obj)
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
                store.create(group, res, obj)
        self.on_kube_change()

    # -- regressions that follow the canary weight --
    def on_kube_change(self):
        now = time.time()
        store = getattr(self, "store", None)
        if store is None or not hasattr(self, "datadog"):
            return
        with store.lock:
            for vs, (canary, stable) in self.model_vs.items():
                ns, _, name = vs.partition("/")
                obj = store.objects.get((ISTIO, "virtualservices", ns, name))
                w = {sub: canary_weight(obj, sub) for sub in canary | stable}
                hist = self.weight_history.setdefault(vs, [])
                if hist and hist[-1][1] == w:
                    continue
                hist.append((now, w))
                was = hist[-2][1] if len(hist) > 1 else {}
                if any(w.get(c, 0) > 0 and was.get(c, 0) <= 0 for c in canary):
                    self.rollout_starts.setdefault(vs, []).append(now)
            for mc in self.scenario["datadog"].get("metrics", []):
                for i, reg in enumerate(self.datadog.regressions(mc)):
                    if "at_weight" not in reg:
                        continue
                    ns, _, name = (reg.get("virtual_service") or mc.get("virtual_service")) \
                        .partition("/")
                    vs = store.objects.get((ISTIO, "virtualservices", ns, name))
                    w = canary_weight(vs, reg.get("canary_subset", mc.get("canary_subset",
                                                                          "canary")))
                    ivs = self.reg_intervals.setdefault((mc["name"], i), [])
                    open_ = bool(ivs) and ivs[-1][1] is None
                    if w >= float(reg["at_weight"]) and not open_:
                        ivs.append([now, None])
                    elif w < float(reg["at_weight"]) and open_:
                        ivs[-1][1] = now

    def rollout_anchor(self, vs, t):
        """Time 0 of a realistic series: the last rollout start (the sandbox saw the canary
        weight leave 0) at or before t, else the first one, else the sandbox start."""
        with self.store.lock:
            starts = self.rollout_starts.get(vs) or []
            best = None
            for a in starts:
                if a <= t + 1e-9:
                    best = a
            if best is None and starts:
                best = starts[0]
        return best if best is not None else self.started

    def arm_weights(self, vs, spec, t):
        """(canary weight, stable weight) of the VirtualService at time t; (100, 100) without one."""
        if not vs:
            return 100.0, 100.0
        with self.store.lock:
            hist = self.weight_history.get(vs) or []
            i = bisect.bisect_right(hist, t, key=lambda e: e[0]) - 1
            w = hist[i][1] if i >= 0 else (hist[0][1] if hist else {})
        return (float(w.get(spec.get("canary_subset", "canary"), 0)),
                float(w.get(spec.get("stable_subset", "stable"), 0)))

    def regression_share(self, mc, i, reg, ts, step):
        """The share of [ts, ts + step) during which regression i of the metric is on."""
        if "after_seconds" in reg:
            start = self.started + float(reg["after_seconds"])
            end = start + float(reg["for_seconds"]) if "for_seconds" in reg else float("inf")
            spans = [(start, end)]
        else:
            with self.store.lock:
                spans = [(a, float("inf") if b is None else b)
                         for a, b in self.reg_intervals.get((mc["name"], i), [])]
        lo, hi = float(ts), float(ts) + max(float(step), 1e-9)
        on = sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in spans)
        return min(1.0, on / (hi - lo))

    def recorder_note_bypass(self, res, ns, name, before, after):
        rec = self.recorder.begin("admin", "PUT", "/kube/object", "ns=%s&name=%s" % (ns, name),
                                  {}, jdump(after).encode())
        rec["status"] = 200
        rec["kube_write"] = {"resource": res, "namespace": ns, "name": name, "before": before,
                             "after": after, "bypass": True}

    def state(self):
        store = self.store
        with store.lock:
            objs = []
            for (g, r, ns, name), o in sorted(store.objects.items()):
                entry = {"resource": r, "namespace": ns, "name": name,
                         "resourceVersion": o["metadata"]["resourceVersion"],
                         "generation": o["metadata"].get("generation")}
                if r == "virtualservices":
                    entry["weights"] = [
                        {"section": sec, "route": rt.get("name"),
                         "destinations": [{"host": (d.get("destination") or {}).get("host"),
                                           "subset": (d.get("destination") or {}).get("subset"),
                                           "weight": d.get("weight", 0)}
                                          for d in rt.get("route") or []]}
                        for sec in ("http", "tls", "tcp")
                        for rt in (o.get("spec") or {}).get(sec) or []]
                    entry["annotations"] = o["metadata"].get("annotations", {})
                objs.append(entry)
            regs = {"%s#%d" % k: v for k, v in self.reg_intervals.items()}
            starts = {k: list(v) for k, v in self.rollout_starts.items()}
            rv = store.rv
        counts = {}
        for r in self.recorder.select():
            counts[r["service"]] = counts.get(r["service"], 0) + 1
        dd_state = {"rate_limit": self.datadog.rate_state(), "regression_intervals": regs}
        if self.has_models:
            dd_state["rollout_starts"] = starts
        return {"started": self.started, "uptime": round(time.time() - self.started, 3),
                "ports": self.ports, "requests": counts, "last_seq": self.recorder.seq,
                "datadog": dd_state,
                "kube": {"resourceVersion": str(rv), "objects": objs,
                         "pending_conflicts": ["%s/%s/%s" % (k[1], k[2], k[3])
                                               for k, v in self.kube.conflicts.items() if v > 0]},
                "slack": {"messages": len(self.slack.select())},
                "faults": self.faults.list()}


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def follows_kube(scenario):
    """Whether the scenario's Datadog answers depend on the Kubernetes objects."""
    for mc in scenario["datadog"].get("metrics", []):
        if "series" in mc:
            return True
        regs = mc.get("regression") or []
        for r in ([regs] if isinstance(regs, dict) else regs):
            if isinstance(r, dict) and "at_weight" in r:
                return True
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description="canaryd sandbox: fake Datadog, Kubernetes and Slack")
    ap.add_argument("--scenario", required=True, help="scenario JSON file")
    ap.add_argument("--port-file", help="write {datadog,kube,slack,admin} ports here once listening")
    for svc in ("datadog", "kube", "slack", "admin"):
        ap.add_argument("--%s-port" % svc, type=int, default=0, help="0 = any free port")
    ap.add_argument("--log", help="request log file (default: stderr)")
    ap.add_argument("--kube-tls-cert", help="serve the Kubernetes API over https with this PEM")
    ap.add_argument("--kube-tls-key", help="private key for --kube-tls-cert")
    ap.add_argument("--record-limit", type=int, default=None,
                    help="keep at most this many full request records (default 100000); "
                         "/stats and /kube/write-times count every request regardless")
    ap.add_argument("--kube-tls-client-ca",
                    help="request client certificates; one this CA signed authenticates")
    ap.add_argument("--services", default="datadog,kube,slack",
                    help="comma-separated services this process serves (admin always): the "
                         "sandbox is one Python process, bound to one core by its GIL, so a "
                         "load test runs Datadog in one process and Kubernetes and Slack in "
                         "another; a scenario whose Datadog series follow the Kubernetes state "
                         "needs both in one")
    args = ap.parse_args(argv)
    services = [x for x in args.services.split(",") if x]
    if not services or any(x not in ("datadog", "kube", "slack") for x in services):
        print("sandbox: --services: a list of datadog, kube and slack", file=sys.stderr)
        return 2

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as e:
        print("sandbox: %s" % e, file=sys.stderr)
        return 2
    if "datadog" in services and "kube" not in services and follows_kube(scenario):
        print("sandbox: --services: this scenario's Datadog series follow the Kubernetes state "
              "(at_weight regressions, realistic series): serve datadog and kube in one process",
              file=sys.stderr)
        return 2
    log = Logger(args.log)
    Sandbox.record_limit = args.record_limit
    sb = Sandbox(scenario, log)
    handlers = {svc: h for svc, h in (("datadog", DatadogHandler), ("kube", KubeHandler),
                                      ("slack", SlackHandler), ("admin", AdminHandler))
                if svc in services or svc == "admin"}
    servers = {}
    try:
        for svc, handler in handlers.items():
            servers[svc] = Server(getattr(args, "%s_port" % svc), handler, sb)
    except OSError as e:
        print("sandbox: cannot listen: %s" % e, file=sys.stderr)
        return 1
    if args.kube_tls_cert:
        # The handshake runs in the handler thread, on the first read, not in accept().
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.kube_tls_cert, args.kube_tls_key)
        if args.kube_tls_client_ca:
            ctx.load_verify_locations(args.kube_tls_client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        servers["kube"].socket = ctx.wrap_socket(servers["kube"].socket, server_side=True,
                                                 do_handshake_on_connect=False)
    sb.ports = {svc: s.server_address[1] for svc, s in servers.items()}
    threads = []
    for svc, s in servers.items():
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                             name="serve-" + svc, daemon=True)
        t.start()
        threads.append(t)
    if args.port_file:
        tmp = args.port_file + ".tmp.%d" % os.getpid()
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(sb.ports, fh)
            fh.write("\n")
        os.replace(tmp, args.port_file)
    log.log("listening: %s" % jdump(sb.ports))

    def on_signal(signum, frame):
        sb.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not sb.stopping.wait(0.1):
        pass
    stoppers = [threading.Thread(target=s.shutdown) for s in servers.values()]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    for s in servers.values():
        s.server_close()
    log.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
