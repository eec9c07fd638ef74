"""The admin API (never recorded, never faulted): recorded requests, /stats, Slack messages,
PagerDuty events, stored Kubernetes objects (read, and written past the API), fault injection
(network chaos too) and forced conflicts, the state, a scenario reload, the Kubernetes token
and a compaction.
"""

import json
import re
import traceback
import urllib.parse

from .kube import RESOURCES
from .scenario import load_scenario, validate_scenario
from .server import SandboxHandler


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
        if p == "/slack/send" and m == "POST":
            # Slack sends a signed slash command or button click to the app (slack_interact.py)
            return self.send(200, self.sb.slack.interact.send(self.json_body()))
        if p == "/slack/usergroups" and m == "PUT":
            # {"S...": ["U...", ...]}: sets those groups' members (others stay)
            return self.send(200, sb.slack.set_usergroups(self.json_body()))
        if p == "/slack/messages" and m == "GET":
            return self.send(200, sb.slack.select(self.since()))
        if p == "/datadog/events" and m == "GET":
            return self.send(200, sb.datadog.events.select(self.since()))
        if p == "/pagerduty/events" and m == "GET":
            return self.send(200, sb.pagerduty.select(self.since()))
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
        if p == "/faults/chaos" and m == "POST":
            return self.send(200, sb.faults.set_chaos(json.loads(self.body or b"{}")))
        if p == "/faults/chaos" and m == "GET":
            return self.send(200, sb.faults.chaos_report())
        if p == "/faults/chaos" and m == "DELETE":
            return self.send(200, sb.faults.stop_chaos())
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
