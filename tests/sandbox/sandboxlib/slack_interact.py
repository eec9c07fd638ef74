"""Slack's side of interactivity (WIRE.md §4.4, §4.5): the sandbox plays Slack sending a slash
command or a button click to the app's Request URL, signed as Slack signs (v0 HMAC-SHA256 of
"v0:TIMESTAMP:BODY" with the app's signing secret), built on the recorded payload shapes in
tests/data/fixtures, with a response_url that points back at the sandbox's Slack server. The
response_url accepts JSON posts (at most 5 per URL, as Slack's do) and records them with the
other Slack messages (kind "response_url").
"""

import copy
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                        "fixtures")
RESPONSE_URL_USES = 5


def sign(secret, ts, body):
    return "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body,
                            hashlib.sha256).hexdigest()


class SlackInteract:
    def __init__(self, slack):
        self.slack = slack  # the Slack emulation: its config, messages and port
        self.lock = threading.Lock()
        self.n = 0
        self.uses = {}  # response_url path -> posts received
        self.last = None  # (url, headers, body) of the last request sent, for a replay

    def fixture(self, name):
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            return f.read()

    def response_url(self, kind):
        with self.lock:
            self.n += 1
            n = self.n
        port = (getattr(self.slack.sb, "ports", None) or {}).get("slack", 0)
        return "http://127.0.0.1:%d/%s/T0SANDBOX/%d/%s" % (
            port, kind, n, hashlib.sha1(str(n).encode()).hexdigest()[:24])

    def command_body(self, user, text, command="/canary"):
        """The recorded slash command form, with this user, command and text."""
        fields = urllib.parse.parse_qs(self.fixture("slack_slash_command_body.form").strip(),
                                       keep_blank_values=True)
        fields = {k: v[0] for k, v in fields.items()}
        fields.update(user_id=user, user_name=user.lower(), command=command, text=text,
                      response_url=self.response_url("commands"))
        return urllib.parse.urlencode(fields).encode()

    def last_message_with_buttons(self, canary):
        """The newest message Slack holds whose buttons act on canary, or None."""
        for m in reversed(self.slack.select()):
            p = m.get("payload") or {}
            for b in p.get("blocks") or []:
                if b.get("type") == "actions" and any(
                        e.get("value") == canary for e in b.get("elements", [])):
                    return p
        return None

    def click_body(self, user, action_id, value):
        """The recorded block_actions payload, as a click on the newest message carrying
        action_id for value (its blocks, its button), by user."""
        p = json.loads(self.fixture("slack_block_actions_payload_with_message.json"))
        p["user"].update(id=user, username=user.lower(), name=user.lower())
        msg = self.last_message_with_buttons(value)
        if msg is not None:
            p["message"] = dict(p["message"], text=msg.get("text", ""),
                                blocks=copy.deepcopy(msg.get("blocks", [])))
        button = None
        for b in (msg or {}).get("blocks") or []:
            for e in b.get("elements", []) if b.get("type") == "actions" else []:
                if e.get("action_id") == action_id and e.get("value") == value:
                    button = dict(e, block_id=b.get("block_id", "actions"))
        if button is None:  # not on any message: Slack could not send it, but a forger could
            button = {"type": "button", "action_id": action_id, "value": value,
                      "block_id": "forged", "text": {"type": "plain_text", "text": action_id}}
        button["action_ts"] = "%.6f" % time.time()
        p["actions"] = [button]
        p["response_url"] = self.response_url("actions")
        return urllib.parse.urlencode({"payload": json.dumps(p)}).encode()

    def send(self, args):
        """POSTs a command or a click to args["url"]; returns what the app answered.
        args: kind (command | click), url, user, text (command), action_id and value (click),
        sign (ok | none | forged | stale; default ok), replay (send the last request again)."""
        if args.get("replay"):
            if not self.last:
                return {"error": "nothing to replay"}
            url, headers, body = self.last
        else:
            url = args["url"]
            if args.get("kind") == "click":
                body = self.click_body(args["user"], args["action_id"], args["value"])
            else:
                body = self.command_body(args["user"], args.get("text", ""),
                                         args.get("command", "/canary"))
            secret = self.slack.cfg.get("signing_secret", "")
            how = args.get("sign", "ok")
            ts = str(int(time.time()) - (400 if how == "stale" else 0))
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                       "X-Slack-Request-Timestamp": ts}
            if how != "none":
                sig = sign(secret, ts, body)
                if how == "forged":
                    sig = sig[:-4] + ("0000" if not sig.endswith("0000") else "1111")
                headers["X-Slack-Signature"] = sig
            self.last = (url, headers, body)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return {"status": r.status, "body": r.read().decode("utf-8", "replace")}
        except urllib.error.HTTPError as e:
            return {"status": e.code, "body": e.read().decode("utf-8", "replace")}
        except OSError as e:
            return {"status": 0, "body": str(e)}

    def accept_response(self, h):
        """POST to a response_url: JSON, recorded; after 5 posts the URL is spent."""
        with self.lock:
            used = self.uses.get(h.req_path, 0) + 1
            self.uses[h.req_path] = used
        if used > RESPONSE_URL_USES:
            return h.send(404, "expired_url", "text/plain; charset=utf-8")
        try:
            payload = json.loads(h.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return h.send(400, "invalid_payload", "text/plain; charset=utf-8")
        if not isinstance(payload, dict) or (not payload.get("text") and
                                             not payload.get("blocks")):
            return h.send(400, "no_text", "text/plain; charset=utf-8")
        self.slack.store("response_url", h.req_path, None, payload)
        return h.send(200, "ok", "text/plain; charset=utf-8")
