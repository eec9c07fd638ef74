"""The Sandbox: the state every fake service shares, built from a scenario (the recorder, the
faults, the Kubernetes store, the Datadog, Kubernetes and Slack emulations), and what ties Datadog
to Kubernetes: each followed VirtualService's weight history, its rollout starts and the
intervals of at_weight regressions.
"""

import bisect
import copy
import threading
import time

from .common import jdump
from .datadog import Datadog
from .faults import Faults
from .kube import ISTIO, Kube, KubeStore, canary_weight
from .pagerduty import PagerDuty
from .recorder import Recorder
from .slack import Slack


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
        self.pagerduty = PagerDuty(self, scenario.get("pagerduty") or {})
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
        dd_state = {"rate_limit": self.datadog.rate_state(), "regression_intervals": regs,
                    "events": self.datadog.events.state()}
        if self.has_models:
            dd_state["rollout_starts"] = starts
        return {"started": self.started, "uptime": round(time.time() - self.started, 3),
                "ports": self.ports, "requests": counts, "last_seq": self.recorder.seq,
                "datadog": dd_state,
                "kube": {"resourceVersion": str(rv), "objects": objs,
                         "pending_conflicts": ["%s/%s/%s" % (k[1], k[2], k[3])
                                               for k, v in self.kube.conflicts.items() if v > 0]},
                "slack": {"messages": len(self.slack.select())},
                "pagerduty": self.pagerduty.state(),
                "faults": self.faults.list(), "chaos": self.faults.chaos_report()}
