#!/usr/bin/env python3
"""canaryd sandbox: loopback emulation of Datadog, Kubernetes/Istio and Slack.

One program, Python 3.11 standard library only: this entry point (command line, servers, signals)
and the sandboxlib package beside it, one module per service. Five HTTP servers (one thread per
connection):
  datadog  GET /api/v1/query, GET /api/v1/validate, POST /api/v2/query/timeseries,
           POST and GET /api/v1/events
  kube     discovery, VirtualServices (networking.istio.io v1/v1beta1/v1alpha3), Leases
           (coordination.k8s.io/v1), Deployments (apps/v1); GET/LIST/WATCH/PUT/PATCH/POST/DELETE
  slack    incoming webhooks, chat.postMessage, chat.update, conversations.replies/history
  pagerduty  POST /v2/enqueue (Events API v2)
  admin    recorded requests, Slack messages, stored objects, fault injection, state, reload

Wire behaviour follows the wire contracts (WIRE.md) and the recorded fixtures. The scenario file format and
the admin API are documented in docs/sandbox.md.
"""

import argparse
import json
import os
import signal
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib.admin import AdminHandler  # noqa: E402  (tests/sandbox/sandboxlib/)
from sandboxlib.common import Logger, jdump  # noqa: E402
from sandboxlib.core import Sandbox  # noqa: E402
from sandboxlib.datadog import DatadogHandler  # noqa: E402
from sandboxlib.kube import KubeHandler  # noqa: E402
from sandboxlib.pagerduty import PagerDutyHandler  # noqa: E402
from sandboxlib.scenario import ScenarioError, follows_kube, load_scenario  # noqa: E402
from sandboxlib.server import Server  # noqa: E402
from sandboxlib.slack import SlackHandler  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="canaryd sandbox: fake Datadog, Kubernetes, Slack and PagerDuty")
    ap.add_argument("--scenario", required=True, help="scenario JSON file")
    ap.add_argument("--port-file", help="write {datadog,kube,slack,pagerduty,admin} ports here once listening")
    for svc in ("datadog", "kube", "slack", "pagerduty", "admin"):
        ap.add_argument("--%s-port" % svc, type=int, default=0, help="0 = any free port")
    ap.add_argument("--log", help="request log file (default: stderr)")
    ap.add_argument("--kube-tls-cert", help="serve the Kubernetes API over https with this PEM")
    ap.add_argument("--kube-tls-key", help="private key for --kube-tls-cert")
    ap.add_argument("--record-limit", type=int, default=None,
                    help="keep at most this many full request records (default 100000); "
                         "/stats and /kube/write-times count every request regardless")
    ap.add_argument("--kube-tls-client-ca",
                    help="request client certificates; one this CA signed authenticates")
    ap.add_argument("--services", default="datadog,kube,slack,pagerduty",
                    help="comma-separated services this process serves (admin always): the "
                         "sandbox is one Python process, bound to one core by its GIL, so a "
                         "load test runs Datadog in one process and Kubernetes and Slack in "
                         "another; a scenario whose Datadog series follow the Kubernetes state "
                         "needs both in one")
    args = ap.parse_args(argv)
    services = [x for x in args.services.split(",") if x]
    if not services or any(x not in ("datadog", "kube", "slack", "pagerduty") for x in services):
        print("sandbox: --services: a list of datadog, kube, slack and pagerduty", file=sys.stderr)
        return 2

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as e:
        print("sandbox: %s" % e, file=sys.stderr)
        return 2
    if "datadog" in services and "kube" not in services and follows_kube(scenario):
        print("sandbox: --services: this scenario's Datadog series follow the Kubernetes state "
              "(at_weight regressions, realistic series): serve datadog and kube in one process",
              file=sys.stderr)
        return 2
    log = Logger(args.log)
    Sandbox.record_limit = args.record_limit
    sb = Sandbox(scenario, log)
    handlers = {svc: h for svc, h in (("datadog", DatadogHandler), ("kube", KubeHandler),
                                      ("slack", SlackHandler), ("pagerduty", PagerDutyHandler),
                                      ("admin", AdminHandler))
                if svc in services or svc == "admin"}
    servers = {}
    try:
        for svc, handler in handlers.items():
            servers[svc] = Server(getattr(args, "%s_port" % svc), handler, sb)
    except OSError as e:
        print("sandbox: cannot listen: %s" % e, file=sys.stderr)
        return 1
    if args.kube_tls_cert:
        # The handshake runs in the handler thread, on the first read, not in accept().
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.kube_tls_cert, args.kube_tls_key)
        if args.kube_tls_client_ca:
            ctx.load_verify_locations(args.kube_tls_client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        servers["kube"].socket = ctx.wrap_socket(servers["kube"].socket, server_side=True,
                                                 do_handshake_on_connect=False)
    sb.ports = {svc: s.server_address[1] for svc, s in servers.items()}
    threads = []
    for svc, s in servers.items():
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                             name="serve-" + svc, daemon=True)
        t.start()
        threads.append(t)
    if args.port_file:
        tmp = args.port_file + ".tmp.%d" % os.getpid()
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(sb.ports, fh)
            fh.write("\n")
        os.replace(tmp, args.port_file)
    log.log("listening: %s" % jdump(sb.ports))

    def on_signal(signum, frame):
        sb.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not sb.stopping.wait(0.1):
        pass
    stoppers = [threading.Thread(target=s.shutdown) for s in servers.values()]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    for s in servers.values():
        s.server_close()
    log.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
