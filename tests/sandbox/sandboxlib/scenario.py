"""The scenario file (docs/sandbox.md): its validation and loading, and whether its Datadog
answers follow the Kubernetes objects (at_weight regressions, realistic series).
"""

import copy
import json
import re

from . import series


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
    sc.setdefault("pagerduty", {})
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
