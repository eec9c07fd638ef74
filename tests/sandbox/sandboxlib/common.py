"""Helpers every fake service uses: JSON as the services write it (compact for Datadog, Slack and
the admin API; Go's encoding/json for the Kubernetes API), RFC 3339 times, the Age column of
kubectl, strict JSON equality, and the request log.
"""

import json
import sys
import threading
import time


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


class Logger:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", buffering=1, encoding="utf-8") if path else sys.stderr

    def log(self, msg):
        with self.lock:
            self.fh.write("%s sandbox: %s\n" % (time.strftime("%H:%M:%S"), msg))
            self.fh.flush()
