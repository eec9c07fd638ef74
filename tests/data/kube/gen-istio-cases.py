#!/usr/bin/env python3
"""Generates tests/data/kube/istio/: every VirtualService in the Istio fixtures
(tests/data/fixtures/istio_*.yaml) as JSON, the way the API server returns it (namespace,
resourceVersion, generation set), plus cases.json, which tests/unit/test-vs.c replays: the
weight edit applied to each manifest and compared structurally with the original.

For each VirtualService:
  - "as-is": stable/canary are the first route's first two destinations when it has two
    (exactly those weights must change), else the first destination and an invented canary,
    which must be refused with "no route ... sends traffic to both" (never a guess);
  - "prepared": a copy in which every route that sends all traffic to the stable destination
    also lists the canary one at weight 0 (what an operator does before the first rollout);
    the edit must change exactly those weights.
Short host names are used in the canary config when the manifest uses the FQDN
(reviews.prod.svc.cluster.local), to exercise Istio's short-name resolution.

Run by hand after changing the fixtures (needs PyYAML): python3 tests/data/kube/gen-istio-cases.py
"""
import copy
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(HERE, "istio")
FQDN = re.compile(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$")


def load_yaml_docs(path):
    import yaml  # only needed when regenerating
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def routes(vs):
    for sec in ("http", "tls", "tcp"):
        for i, r in enumerate((vs.get("spec") or {}).get(sec) or []):
            yield sec, i, r


def namespace_of(vs):
    for _, _, r in routes(vs):
        for d in r.get("route") or []:
            m = FQDN.match(d["destination"].get("host", ""))
            if m:
                return m.group(2)
    return "default"


def short(host, ns):
    m = FQDN.match(host)
    return m.group(1) if m and m.group(2) == ns else host


def same(dest, want, ns):
    h = dest.get("host")
    return (h == want["host"] or short(h, ns) == want["host"]) and dest.get("subset") == want.get(
        "subset")


def weight_paths(vs, stable, canary, ns):
    """Paths of the weights the edit must touch: routes holding exactly stable and canary."""
    out = []
    for sec, i, r in routes(vs):
        dests = [d["destination"] for d in r.get("route") or []]
        if len(dests) != 2:
            continue
        roles = [("stable" if same(d, stable, ns) else "canary" if same(d, canary, ns) else None)
                 for d in dests]
        if sorted(x or "" for x in roles) == ["canary", "stable"]:
            for j, role in enumerate(roles):
                out.append({"path": ["spec", sec, i, "route", j], "role": role})
    return out


def dest_of(d, ns):
    out = {"host": short(d["host"], ns)}
    if "subset" in d:
        out["subset"] = d["subset"]
    return out


def invented_canary(stable):
    if stable.get("subset"):
        return {"host": stable["host"], "subset": stable["subset"] + "-canary"}
    return {"host": stable["host"] + "-canary"}


def as_served(vs, ns, rv):
    vs = copy.deepcopy(vs)
    md = vs.setdefault("metadata", {})
    md.setdefault("namespace", ns)
    md["resourceVersion"] = str(rv)
    md["generation"] = 1
    md.setdefault("uid", "00000000-0000-4000-8000-%012d" % rv)
    return vs


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in glob.glob(os.path.join(OUT, "*.json")):
        os.unlink(old)
    cases = []
    rv = 1000
    for path in sorted(glob.glob(os.path.join(FIXTURES, "istio_*.yaml"))):
        base = os.path.basename(path)[:-5]
        for doc in load_yaml_docs(path):
            if doc.get("kind") != "VirtualService":
                continue
            rv += 1
            ns = namespace_of(doc)
            vs = as_served(doc, ns, rv)
            name = "%s--%s" % (base, vs["metadata"]["name"])
            first = next(routes(vs))[2]
            dests = [d["destination"] for d in first.get("route") or []]
            stable = dest_of(dests[0], ns)
            canary = dest_of(dests[1], ns) if len(dests) >= 2 else invented_canary(stable)
            fname = name + ".json"
            with open(os.path.join(OUT, fname), "w", encoding="utf-8") as fh:
                json.dump(vs, fh, indent=2)
                fh.write("\n")
            paths = weight_paths(vs, stable, canary, ns)
            case = {"file": fname, "namespace": ns, "stable": stable, "canary": canary}
            if paths:
                case.update(expect="ok", weights=paths)
            else:
                case.update(expect="error", error="sends traffic to both")
            cases.append(case)

            # prepared: every route sending everything to stable also lists canary at 0
            prepared = copy.deepcopy(vs)
            touched = False
            for sec, i, r in routes(prepared):
                rd = r.get("route") or []
                if len(rd) == 1 and same(rd[0]["destination"], stable, ns):
                    rd[0]["weight"] = 100
                    rd.append({"destination": dict(canary), "weight": 0})
                    touched = True
            if touched:
                pname = name + "--prepared.json"
                with open(os.path.join(OUT, pname), "w", encoding="utf-8") as fh:
                    json.dump(prepared, fh, indent=2)
                    fh.write("\n")
                cases.append({"file": pname, "namespace": ns, "stable": stable,
                              "canary": canary, "expect": "ok",
                              "weights": weight_paths(prepared, stable, canary, ns)})
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as fh:
        json.dump(cases, fh, indent=1)
        fh.write("\n")
    print("%d cases in %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
