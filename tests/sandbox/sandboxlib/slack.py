"""Slack emulation: incoming webhooks and a small Web API (chat.postMessage, chat.update,
conversations.replies, conversations.history, auth.test), with the bot token, block checks and a
token bucket per webhook and per channel (429 with Retry-After).
"""

import hashlib
import json
import math
import re
import threading
import time
import urllib.parse

from .server import SandboxHandler
from .slack_interact import SlackInteract


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
        self.interact = SlackInteract(self)  # Slack's requests to the app (admin /slack/send)
        self.usergroups = {g: list(u) for g, u in (cfg.get("usergroups") or {}).items()}

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
        if h.method == "POST" and h.req_path.startswith(("/commands/", "/actions/")):
            return self.interact.accept_response(h)
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
                   "auth.test": self.auth_test,
                   "usergroups.users.list": self.usergroup_users}.get(method)
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

    def usergroup_users(self, h, args):
        # https://api.slack.com/methods/usergroups.users.list: Tier 2, scope usergroups:read
        scopes = self.cfg.get("scopes")
        if scopes is not None and "usergroups:read" not in scopes:
            return {"ok": False, "error": "missing_scope", "needed": "usergroups:read",
                    "provided": ",".join(scopes)}
        group = args.get("usergroup")
        if not group:
            return {"ok": False, "error": "invalid_arguments"}
        if self.bucket:
            wait = self.bucket.take("usergroups")
            if wait:
                self.api_reply(h, {"ok": False, "error": "ratelimited"}, 429,
                               {"Retry-After": max(1, math.ceil(wait))})
                return None
        with self.lock:
            users = self.usergroups.get(group)
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(users)}

    def set_usergroups(self, groups):
        with self.lock:
            self.usergroups.update({g: list(u) for g, u in groups.items()})
        return {"ok": True}

    def auth_test(self, h, args):
        return {"ok": True, "url": "https://sandbox.slack.com/", "team": "sandbox",
                "user": "canaryd", "team_id": "T000", "user_id": "U0SANDBOX", "bot_id": "B0SANDBOX"}


class SlackHandler(SandboxHandler):
    service = "slack"

    def default_fault_ctype(self, body):
        return "application/json; charset=utf-8" if body[:1] == "{" else "text/plain; charset=utf-8"

    def route(self):
        self.sb.slack.handle(self)
