"""PagerDuty emulation: the Events API v2 (POST /v2/enqueue), validating an event as PagerDuty
documents it (routing_key of 32 characters, event_action trigger | acknowledge | resolve;
payload.summary, payload.source and payload.severity required for trigger, severity critical |
error | warning | info, summary at most 1024 characters; dedup_key at most 255 characters and
required for acknowledge and resolve), answering 202 {"status":"success",...,"dedup_key"} or
400 {"status":"invalid event","message":"Event object is invalid","errors":[...]}, with a token
bucket per routing key (429). Accepted events are kept in order (admin GET /pagerduty/events),
with the incident state per dedup_key (triggered, acknowledged, resolved).

Stricter than PagerDuty where it helps canaryd's tests: an over-long summary is refused, not cut
(canaryd must cut it itself). Scenario: "pagerduty": {"routing_keys": [...] (default: any
32-character key), "rate_limit": {"per_second": 2, "burst": 10} or null}.
"""

import json
import math
import threading
import time
import uuid

from .server import SandboxHandler
from .slack import TokenBucket

ENQUEUE = "/v2/enqueue"
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


def event_errors(ev, known_keys=None):
    """The errors PagerDuty would list for this event object (empty: valid)."""
    if not isinstance(ev, dict):
        return ["Event object is not a JSON object"]
    errs = []
    key = ev.get("routing_key")
    if not isinstance(key, str) or not key:
        errs.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        errs.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif known_keys is not None and key not in known_keys:
        errs.append("'routing_key' is not a known integration key")
    action = ev.get("event_action")
    if action not in ACTIONS:
        errs.append("'event_action' is invalid (must be one of the following: 'trigger', "
                    "'acknowledge' or 'resolve')")
    dk = ev.get("dedup_key")
    if dk is not None and (not isinstance(dk, str) or len(dk) > DEDUP_KEY_MAX):
        errs.append("'dedup_key' is invalid (must be a string of at most 255 characters)")
    if action in ("acknowledge", "resolve") and (not isinstance(dk, str) or not dk):
        errs.append("'dedup_key' is missing or blank")
    if action == "trigger":
        p = ev.get("payload")
        if not isinstance(p, dict):
            errs.append("'payload' is missing or not an object")
        else:
            s = p.get("summary")
            if not isinstance(s, str) or not s.strip():
                errs.append("'payload.summary' is missing or blank")
            elif len(s) > SUMMARY_MAX:
                errs.append("'payload.summary' is too long (maximum is 1024 characters)")
            if not isinstance(p.get("source"), str) or not p["source"].strip():
                errs.append("'payload.source' is missing or blank")
            if p.get("severity") not in SEVERITIES:
                errs.append("'payload.severity' is invalid (must be one of the following: "
                            "'critical', 'warning', 'error' or 'info')")
            cd = p.get("custom_details")
            if cd is not None and not isinstance(cd, (dict, list, str, int, float, bool)):
                errs.append("'payload.custom_details' is invalid")
        links = ev.get("links")
        if links is not None and (not isinstance(links, list) or any(
                not isinstance(x, dict) or not isinstance(x.get("href"), str) for x in links)):
            errs.append("'links' is invalid (a list of objects with an href)")
    return errs


class PagerDuty:
    """The Events API v2: accepted events in order and the incident state per dedup_key."""

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        keys = cfg.get("routing_keys")
        self.known_keys = set(keys) if keys is not None else None
        rl = cfg.get("rate_limit", {"per_second": 2, "burst": 10})
        self.bucket = TokenBucket(rl.get("per_second", 2), rl.get("burst", 10)) if rl else None
        self.lock = threading.Lock()
        self.events = []
        self.incidents = {}  # dedup_key -> "triggered" | "acknowledged" | "resolved"
        self.seq = 0

    def select(self, since=0):
        with self.lock:
            return [e for e in self.events if e["seq"] > since]

    def state(self):
        with self.lock:
            return {"events": len(self.events), "incidents": dict(self.incidents)}

    def handle(self, h):
        if h.req_path != ENQUEUE:
            return h.send(404, {"status": "not found", "message": "Not found"})
        if h.method != "POST":
            return h.send(405, {"status": "method not allowed", "message": "Use POST"})
        try:
            ev = h.json_body()
        except (ValueError, UnicodeDecodeError):
            return h.send(400, {"status": "invalid event", "message": "Event object is invalid",
                                "errors": ["Request body is not valid JSON"]})
        errs = event_errors(ev, self.known_keys)
        if errs:
            return h.send(400, {"status": "invalid event", "message": "Event object is invalid",
                                "errors": errs})
        if self.bucket:
            wait = self.bucket.take(ev["routing_key"])
            if wait:
                return h.send(429, {"status": "throttle event", "message":
                                    "Requests for this service are arriving too quickly. "
                                    "Please retry later."},
                              headers={"Retry-After": max(1, math.ceil(wait))})
        dk = ev.get("dedup_key") or uuid.uuid4().hex
        action = ev["event_action"]
        with self.lock:
            self.seq += 1
            before = self.incidents.get(dk)
            if action == "trigger":
                if before != "acknowledged":
                    self.incidents[dk] = "triggered"
            elif before in ("triggered", "acknowledged"):
                self.incidents[dk] = "acknowledged" if action == "acknowledge" else "resolved"
            self.events.append({"seq": self.seq, "time": time.time(), "action": action,
                                "dedup_key": dk, "incident": self.incidents.get(dk),
                                "event": json.loads(json.dumps(ev))})
        return h.send(202, {"status": "success", "message": "Event processed", "dedup_key": dk})


class PagerDutyHandler(SandboxHandler):
    service = "pagerduty"

    def route(self):
        self.sb.pagerduty.handle(self)
