"""Datadog events emulation: POST /api/v1/events (and GET /api/v1/events) as Datadog's API
reference documents the v1 EventCreateRequest: DD-API-KEY required (403 {"errors":["Forbidden"]}
otherwise; the application key is not needed), title and text required, title at most 100 and
text at most 4000 characters, aggregation_key at most 100, alert_type error | warning | info |
success | user_update | recommendation | snapshot, priority normal | low, date_happened POSIX
seconds no older than 18 hours, tags a list of strings; 400 {"errors":[...]} otherwise, 202
{"status":"ok","event":{...}} on success.

Rate limit: Datadog limits each endpoint family per org (its X-RateLimit-Name names the family),
so events have their own bucket, "events_submission" (the docs publish 250,000 events a
minute), with the same headers and 429 as queries. Scenario: "datadog": {"events": {"rate_limit":
{"limit": N, "period": S}, "share_query_limit": false}}; with share_query_limit the events take
from the queries' bucket (and name it), for tests of a shared limit.

Stricter than Datadog where it helps canaryd's tests: an over-long title or text is refused, not
cut (canaryd must cut it itself). Accepted events are kept in order (admin GET /datadog/events).
"""

import json
import threading
import time

TITLE_MAX = 100
TEXT_MAX = 4000
AGG_KEY_MAX = 100
ALERT_TYPES = ("error", "warning", "info", "success", "user_update", "recommendation", "snapshot")
PRIORITIES = ("normal", "low")
MAX_AGE_S = 18 * 3600


class Bucket:
    """A calendar-aligned fixed window, like the query limiter, with its own name."""

    def __init__(self, limit, period, name):
        self.limit, self.period, self.name = int(limit), int(period), name
        self.window, self.used = None, 0
        self.lock = threading.Lock()

    def take(self):
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
                         "X-RateLimit-Name": self.name}


def event_errors(ev, now=None):
    """The errors Datadog would list for this request body (empty: valid)."""
    if not isinstance(ev, dict):
        return ["Invalid JSON structure: expected an object"]
    now = time.time() if now is None else now
    errs = []
    title, text = ev.get("title"), ev.get("text")
    if not isinstance(title, str) or not title:
        errs.append("Event title is required")
    elif len(title) > TITLE_MAX:
        errs.append("Event title is too long (maximum is %d characters)" % TITLE_MAX)
    if not isinstance(text, str):
        errs.append("Event text is required")
    elif len(text) > TEXT_MAX:
        errs.append("Event text is too long (maximum is %d characters)" % TEXT_MAX)
    at = ev.get("alert_type")
    if at is not None and at not in ALERT_TYPES:
        errs.append("Invalid alert_type: %r" % (at,))
    pr = ev.get("priority")
    if pr is not None and pr not in PRIORITIES:
        errs.append("Invalid priority: %r" % (pr,))
    ak = ev.get("aggregation_key")
    if ak is not None and (not isinstance(ak, str) or len(ak) > AGG_KEY_MAX):
        errs.append("aggregation_key must be a string of at most %d characters" % AGG_KEY_MAX)
    dh = ev.get("date_happened")
    if dh is not None:
        if not isinstance(dh, int) or isinstance(dh, bool):
            errs.append("date_happened must be an integer (POSIX seconds)")
        elif dh < now - MAX_AGE_S:
            errs.append("date_happened is older than 18 hours")
    tags = ev.get("tags")
    if tags is not None and (not isinstance(tags, list) or
                             any(not isinstance(t, str) for t in tags)):
        errs.append("tags must be a list of strings")
    return errs


class DatadogEvents:
    """POST and GET /api/v1/events; the accepted events in order."""

    def __init__(self, datadog, cfg):
        self.dd = datadog
        cfg = cfg or {}
        self.share = bool(cfg.get("share_query_limit", False))
        rl = cfg.get("rate_limit") or {}
        self.bucket = Bucket(rl.get("limit", 250000), rl.get("period", 60), "events_submission")
        self.lock = threading.Lock()
        self.events = []
        self.seq = 0
        self.next_id = 7000000000000000001  # above 2^53, as real event ids are

    def select(self, since=0):
        with self.lock:
            return [e for e in self.events if e["seq"] > since]

    def state(self):
        with self.lock:
            return {"events": len(self.events)}

    def rate_take(self):
        return self.dd.rate_take() if self.share else self.bucket.take()

    def post(self, h):
        if not self.dd.auth_ok(h, need_app=False):
            return h.send(403, {"errors": ["Forbidden"]})
        allowed, hdrs = self.rate_take()
        if not allowed:
            return h.send(429, {"errors": ["Rate limit of %s requests in %s seconds reached. Please "
                                           "try again later." % (hdrs["X-RateLimit-Limit"],
                                                                  hdrs["X-RateLimit-Period"])]},
                          headers=hdrs)
        try:
            ev = h.json_body()
        except (ValueError, UnicodeDecodeError):
            return h.send(400, {"errors": ["Invalid JSON structure"]}, headers=hdrs)
        errs = event_errors(ev)
        if errs:
            return h.send(400, {"errors": errs}, headers=hdrs)
        now = int(time.time())
        with self.lock:
            self.seq += 1
            eid = self.next_id
            self.next_id += 1
            out = {"id": eid, "id_str": str(eid), "title": ev["title"], "text": ev["text"],
                   "date_happened": ev.get("date_happened", now),
                   "alert_type": ev.get("alert_type", "info"),
                   "priority": ev.get("priority", "normal"), "tags": ev.get("tags") or [],
                   "aggregation_key": ev.get("aggregation_key"),
                   "url": "https://app.datadoghq.com/event/event?id=%d" % eid}
            self.events.append({"seq": self.seq, "time": time.time(), "event": out,
                                "request": json.loads(json.dumps(ev))})
        return h.send(202, {"status": "ok", "event": out}, headers=hdrs)

    def list(self, h):
        if not self.dd.auth_ok(h):
            return h.send(403, {"errors": ["Forbidden"]})
        try:
            start, end = int(h.q.get("start", "")), int(h.q.get("end", ""))
        except ValueError:
            return h.send(400, {"errors": ["The value provided for parameter 'start' or 'end' is "
                                           "invalid"]})
        want = [t for t in (h.q.get("tags") or "").split(",") if t]
        with self.lock:
            evs = [e["event"] for e in self.events
                   if start <= e["event"]["date_happened"] <= end
                   and all(t in e["event"]["tags"] for t in want)]
        return h.send(200, {"events": list(reversed(evs))})
