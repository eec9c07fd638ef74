#!/usr/bin/env python3
"""Scenario and config generator for the Datadog end-to-end tests (tests/e2e/test-datadog-*.sh).

  datadog-fleet.py scenario N [--limit L] [--period P] [--null-every K] [--metrics M]
  datadog-fleet.py config N --port PORT --dir E2E [--api v1|v2] [--interval 2s] [--metrics M]
                   [--steps 50,100] [--inconclusive-limit 3] [--timeout 2s]

Canaries c00..c<N-1> in namespace fleet, each with its own VirtualService and M metrics
(m0..m<M-1>, ratio judges) whose canary and baseline data are identical constant-ish series, so
every analysis passes when the data arrives.
"""
import argparse
import json
import sys


def vs(name):
    dest = lambda subset, w: {"destination": {"host": name, "subset": subset}, "weight": w}
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "fleet"},
            "spec": {"hosts": [name], "http": [{"name": "primary",
                                                "route": [dest("stable", 100), dest("canary", 0)]}]}}


def scenario(a):
    metrics = []
    for m in range(a.metrics):
        mc = {"name": "m%d" % m, "match": "fleet.metric%d" % m,
              "baseline": {"dist": "constant", "value": 10.0 + m}}
        if a.null_every:
            mc["null_every"] = a.null_every
        metrics.append(mc)
    return {"description": "Datadog e2e fleet", "seed": 7,
            "datadog": {"api_key": "sandbox-api-key", "app_key": "sandbox-app-key",
                        "rate_limit": {"limit": a.limit, "period": a.period},
                        "step_seconds": 1, "metrics": metrics},
            "kubernetes": {"token": "sandbox-token", "allow_anonymous_loopback": True,
                           "virtual_services": [vs("c%02d" % i) for i in range(a.n)]},
            "slack": {}}


def config(a):
    out = ["datadog:",
           "  url: http://127.0.0.1:%d" % a.port,
           "  api: %s" % a.api,
           "  query_lag: 0s",
           "  timeout: %s" % a.timeout,
           "  api_key_file: dd-api-key",
           "  app_key_file: dd-app-key",
           "kubernetes:",
           "  kubeconfig: %s/kubeconfig" % a.dir,
           "control:",
           "  socket: %s/control.sock" % a.dir,
           "state_dir: %s/state" % a.dir,
           "canaries:"]
    for i in range(a.n):
        name = "c%02d" % i
        out += ["  - name: %s" % name,
                "    namespace: fleet",
                "    virtual_service: %s" % name,
                "    routes: [primary]",
                "    stable: {host: %s, subset: stable}" % name,
                "    canary: {host: %s, subset: canary}" % name,
                "    steps: [%s]" % a.steps,
                "    interval: %s" % a.interval,
                "    inconclusive_limit: %d" % a.inconclusive_limit,
                "    scopes:",
                "      canary: \"kube_deployment:%s-canary\"" % name,
                "      baseline: \"kube_deployment:%s-stable\"" % name,
                "    metrics:"]
        for m in range(a.metrics):
            out += ["      - name: m%d" % m,
                    "        query: \"avg:fleet.metric%d{service:%s,{{scope}}}\"" % (m, name),
                    "        judge: ratio",
                    "        max_ratio: 1.5"]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["scenario", "config"])
    ap.add_argument("n", type=int)
    ap.add_argument("--metrics", type=int, default=3)
    ap.add_argument("--limit", type=int, default=1600)
    ap.add_argument("--period", type=int, default=3600)
    ap.add_argument("--null-every", type=int, default=0)
    ap.add_argument("--port", type=int)
    ap.add_argument("--dir")
    ap.add_argument("--api", default="v1")
    ap.add_argument("--interval", default="2s")
    ap.add_argument("--steps", default="25, 50, 100")
    ap.add_argument("--inconclusive-limit", type=int, default=3)
    ap.add_argument("--timeout", default="2s")
    a = ap.parse_args()
    if a.what == "scenario":
        json.dump(scenario(a), sys.stdout, indent=1)
    else:
        sys.stdout.write(config(a))


if __name__ == "__main__":
    main()
