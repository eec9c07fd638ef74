#!/usr/bin/env python3
"""bench/scale: one canaryd driving N canaries x M metrics at interval I against the sandbox.

  bench/scale.py [-n 1000] [-m 3] [-i 60s] [--namespaces 10] [--window 2] [--runs 1] [--scrape S]
                 [--build build] [--api v1|v2] [--slack webhook|token|none] [--keep DIR]

Every canary has its own VirtualService (spread over --namespaces namespaces) and healthy data,
one point per second for every metric. The canaries are started by `canaryctl start`, 16 clients
at a time, spread evenly over one interval, so that their analyses fall due evenly too. After a
warm-up of one interval the steady window (--window intervals) is measured:

  RSS peak          VmHWM of canaryd at the end, and which phase reached it (start-up, the
                    starts, the warm-up or the window: VmHWM read at the end of each)
  CPU               canaryd's user+system time over the window, as % of one core
  decision lag      step due (step_started_at + interval) -> the sandbox received the write of
                    the next step; p50 / p99 / max over the window's writes
  Datadog           query requests per canary-analysis in the window
  Kubernetes        requests per analysis by verb (get, list, watch, update, ...)
  Slack             messages the sandbox received; drops logged by canaryd
  control           canaryctl start replies: p50 / p99 / max, refused
  /metrics          with --scrape S: GET /metrics every S seconds through the window (as a
                    Prometheus server would): the answer's time p50 / max and its size. The page
                    is rendered on the event loop, so its cost shows in the decision lag too
  sandbox CPU       the fake services' own CPU (% of one core) per sandbox process: Datadog
                    runs in one, Kubernetes and Slack in another (--one-sandbox: all in one);
                    when one nears 100 % the sandbox, not canaryd, limits the figures

With --runs R the whole thing runs R times and the medians are printed last. Needs the
optimised binaries: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def progress(text):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), text), file=sys.stderr, flush=True)


def parse_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in ("ms", "s", "m", "h"):
        if text.endswith(u) and text[: -len(u)].isdigit():
            return int(text[: -len(u)]) * units[u]
    raise argparse.ArgumentTypeError("duration like 60s, 2m: %r" % text)


def rfc3339(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


class Run:
    def __init__(self, a, workdir):
        self.a = a
        self.dir = workdir
        self.names = []
        self.sandboxes = []  # [(services, Popen, ports)]
        self.daemon = None
        self.http_port = 0
        if a.scrape:
            import socket
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.http_port = sock.getsockname()[1]

    def name(self, i):
        return "c%05d" % i, "ns%02d" % (i % self.a.namespaces)

    def scenario(self):
        a = self.a
        vss = []
        for i in range(a.n):
            name, ns = self.name(i)
            dest = lambda subset, w: {"destination": {"host": name, "subset": subset}, "weight": w}
            vss.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                        "metadata": {"name": name, "namespace": ns},
                        "spec": {"hosts": [name], "http": [{"name": "primary", "route": [
                            dest("stable", 100), dest("canary", 0)]}]}})
        metrics = [{"name": "m%d" % m, "match": "bench.metric%d" % m,
                    "baseline": {"dist": "constant", "value": 10.0 + m}} for m in range(a.m)]
        return {"description": "bench/scale", "seed": 1,
                "datadog": {"api_key": "bench-api-key", "app_key": "bench-app-key",
                            "rate_limit": {"limit": 10 ** 9, "period": 3600},
                            "step_seconds": 1, "metrics": metrics},
                "kubernetes": {"token": "bench-token", "allow_anonymous_loopback": True,
                               "virtual_services": vss},
                "slack": {"webhook_path": "/services/T000/B000/bench", "bot_token": "xoxb-bench"}}

    def config(self, ports):
        a, d = self.a, self.dir
        out = ["datadog:", "  url: http://127.0.0.1:%d" % ports["datadog"],
               "  api: %s" % a.api, "  query_lag: 0s", "  timeout: 10s",
               "  api_key_file: dd-api-key", "  app_key_file: dd-app-key",
               "kubernetes:", "  kubeconfig: %s/kubeconfig" % d,
               "control:", "  socket: %s/control.sock" % d,
               "state_dir: %s/state" % d]
        if a.slack == "webhook":
            out += ["slack:", "  webhook_url_file: slack-webhook"]
        elif a.slack == "token":
            out += ["slack:", "  token_file: slack-token", "  channel: \"#releases\"",
                    "  url: http://127.0.0.1:%d/api" % ports["slack"]]
        if a.scrape:
            out += ["http:", "  listen: \"127.0.0.1:%d\"" % self.http_port]
        out.append("canaries:")
        steps = ", ".join(str(s) for s in list(range(1, 100)) + [100])
        for i in range(a.n):
            name, ns = self.name(i)
            out += ["  - name: %s" % name, "    namespace: %s" % ns,
                    "    virtual_service: %s" % name, "    routes: [primary]",
                    "    stable: {host: %s, subset: stable}" % name,
                    "    canary: {host: %s, subset: canary}" % name,
                    "    steps: [%s]" % steps, "    interval: %ds" % a.interval,
                    "    scopes:", "      canary: \"kube_deployment:%s-canary\"" % name,
                    "      baseline: \"kube_deployment:%s-stable\"" % name, "    metrics:"]
            for m in range(a.m):
                out += ["      - name: m%d" % m,
                        "        query: \"avg:bench.metric%d{service:%s,{{scope}}}\"" % (m, name),
                        "        judge: ratio", "        max_ratio: 1.5"]
        return "\n".join(out) + "\n"

    def admin(self, path, services="kube"):
        """GET path from the admin port of the sandbox process serving `services`."""
        port = next(p["admin"] for svc, _, p in self.sandboxes if services in svc)
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
            return json.load(r)

    def stats(self):
        """/stats of every sandbox process: {"counts": [...], "cpu": {services: seconds},
        "time": t}."""
        out = {"counts": [], "cpu": {}, "time": time.time()}
        for svc, _, _ in self.sandboxes:
            st = self.admin("/stats", svc.split(",")[0])
            out["counts"] += st["counts"]
            out["cpu"][svc] = st["cpu_seconds"]
        return out

    def spawn_sandbox(self, services):
        d = self.dir
        tag = services.replace(",", "-")
        port_file = os.path.join(d, "ports-%s.json" % tag)
        p = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tests/sandbox/sandbox.py"), "--scenario",
             os.path.join(d, "scenario.json"), "--port-file", port_file, "--services", services,
             "--log", "/dev/null", "--record-limit", "1000"],
            stdout=open(os.path.join(d, "sandbox-%s.out" % tag), "w"), stderr=subprocess.STDOUT)
        for _ in range(600):
            if os.path.exists(port_file):
                break
            if p.poll() is not None:
                raise SystemExit("sandbox did not start: see %s/sandbox-%s.out" % (d, tag))
            time.sleep(0.1)
        self.sandboxes.append((services, p, json.load(open(port_file))))

    def ctl(self, *args):
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(self.a.build, "canaryctl"), "--socket",
                            os.path.join(self.dir, "control.sock")] + list(args),
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - t0

    def start_services(self):
        a, d = self.a, self.dir
        with open(os.path.join(d, "scenario.json"), "w") as f:
            json.dump(self.scenario(), f)
        # The sandbox is bound to one core per process (the GIL): Datadog in one, Kubernetes
        # and Slack in another, unless --one-sandbox.
        groups = ["datadog,kube,slack"] if a.one_sandbox else ["datadog", "kube,slack"]
        for g in groups:
            self.spawn_sandbox(g)
        self.ports = {}
        for _, _, p in self.sandboxes:
            self.ports.update({k: v for k, v in p.items() if k != "admin"})
        creds = os.path.join(d, "creds")
        os.makedirs(creds, exist_ok=True)
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        for fname, text in (("dd-api-key", "bench-api-key"), ("dd-app-key", "bench-app-key"),
                            ("slack-webhook", "http://127.0.0.1:%d/services/T000/B000/bench"
                             % self.ports["slack"]), ("slack-token", "xoxb-bench")):
            with open(os.path.join(creds, fname), "w") as f:
                f.write(text + "\n")
        with open(os.path.join(d, "kubeconfig"), "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n"
                    "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n"
                    "    token: bench-token\ncontexts:\n- name: s\n  context: {cluster: s, "
                    "user: u}\ncurrent-context: s\n" % self.ports["kube"])
        with open(os.path.join(d, "canaryd.yaml"), "w") as f:
            f.write(self.config(self.ports))
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        t0 = time.monotonic()
        self.daemon = subprocess.Popen(
            (a.wrap.split() if a.wrap else []) +
            [os.path.join(a.build, "canaryd"), "--config", os.path.join(d, "canaryd.yaml")],
            stdout=open(os.path.join(d, "canaryd.log"), "w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)  # a wrapper's children are stopped with it
        while not os.path.exists(os.path.join(d, "control.sock")):
            if self.daemon.poll() is not None:
                raise SystemExit("canaryd exited at start: see %s/canaryd.log" % d)
            time.sleep(0.05)
        # every VirtualService read (no canary Unknown)
        while True:
            rc, out, _, _ = self.ctl("status", "-o", "json", "--compact")
            if rc == 0 and not any(c["phase"] == "Unknown" for c in json.loads(out)["canaries"]):
                break
            if self.daemon.poll() is not None:
                raise SystemExit("canaryd died while reading: see %s/canaryd.log" % d)
            time.sleep(0.5)
        return time.monotonic() - t0

    def lag_parts(self, steps):
        """Splits each step's lag at its Datadog request (the last one asking about the canary
        before the write): due -> request received, the request, its answer -> write received.
        The Datadog sandbox keeps only its last 1,000 requests (--record-limit)."""
        reqs = [q for q in self.admin("/requests?service=datadog", "datadog")
                if q.get("duration_ms") is not None]
        by = {}
        for q in reqs:
            for name in canaries_in(q):
                by.setdefault(name, []).append((q["time"], q["duration_ms"] / 1000.0))
        rows = []
        for name, due, wrote in steps:
            best = None
            for t, dur in by.get(name, []):
                if due - 5 <= t <= wrote and (best is None or t > best[0]):
                    best = (t, dur)
            if best:
                rows.append((wrote - due, best[0] - due, best[1], wrote - best[0] - best[1]))
        out = {"steps": len(steps), "matched": len(rows)}
        slow = sorted(rows, reverse=True)[:max(1, len(rows) // 100)]
        for i, k in ((1, "due_to_query"), (2, "query"), (3, "answer_to_write")):
            xs = [row[i] for row in rows]
            out[k] = {"p50_ms": pct(xs, 50) * 1000, "p99_ms": pct(xs, 99) * 1000,
                      "slowest_mean_ms": (statistics.mean(row[i] for row in slow) * 1000
                                          if slow else float("nan"))}
        return out

    def cpu_seconds(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tck

    def vm(self, pid, key):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def start_all(self):
        a = self.a
        spread = a.interval / a.n
        t0 = time.monotonic()

        def one(i):
            due = t0 + i * spread
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            name, _ = self.name(i)
            rc, _, err, secs = self.ctl("start", name, "--revision", "r1")
            return rc, err, secs

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            res = list(ex.map(one, range(a.n)))
        return res

    def stop(self):
        for p in [self.daemon] + [sb for _, sb, _ in self.sandboxes]:
            if p and p.poll() is None:
                if p is self.daemon:
                    os.killpg(p.pid, signal.SIGTERM)
                else:
                    p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()

    def measure(self):
        a = self.a
        r = {}
        progress("starting the sandbox and canaryd in %s" % self.dir)
        r["startup_s"] = self.start_services()
        hwm = {"start-up": self.vm(self.daemon.pid, "VmHWM")}
        progress("every VirtualService read; starting %d canaries over %d s" % (a.n, a.interval))
        starts = self.start_all()
        refused = [e for rc, e, _ in starts if rc != 0]
        lat = [s for _, _, s in starts]
        r["ctl_p50_ms"], r["ctl_p99_ms"], r["ctl_max_ms"] = (
            pct(lat, 50) * 1000, pct(lat, 99) * 1000, max(lat) * 1000)
        r["ctl_refused"] = len(refused)
        if refused:
            r["ctl_refused_first"] = refused[0].strip()
        hwm["starts"] = self.vm(self.daemon.pid, "VmHWM")
        progress("started; warm-up of %d s, then a window of %d s" % (a.interval,
                                                                     a.window * a.interval))
        time.sleep(a.interval)  # warm-up: every canary is past its first analysis
        pid = self.daemon.pid
        hwm["warm-up"] = self.vm(pid, "VmHWM")
        s0, c0, w0 = self.stats(), self.cpu_seconds(pid), time.time()
        scrapes = []
        if a.scrape:
            end = w0 + a.window * a.interval
            while time.time() + a.scrape <= end:
                t = time.time()
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                            timeout=60) as resp:
                    size = len(resp.read())
                scrapes.append((time.time() - t, size))
                time.sleep(max(0.0, t + a.scrape - time.time()))
            time.sleep(max(0.0, end - time.time()))
        else:
            time.sleep(a.window * a.interval)
        s1, c1, w1 = self.stats(), self.cpu_seconds(pid), time.time()
        if scrapes:
            r["scrape_p50_ms"] = pct([d for d, _ in scrapes], 50) * 1000
            r["scrape_max_ms"] = max(d for d, _ in scrapes) * 1000
            r["scrape_kib"] = scrapes[-1][1] / 1024.0
            r["scrapes"] = len(scrapes)
        if self.daemon.poll() is not None:
            raise SystemExit("canaryd died during the window: see %s/canaryd.log" % self.dir)
        r["rss_peak_mib"] = self.vm(pid, "VmHWM") / 1024.0
        r["rss_now_mib"] = self.vm(pid, "VmRSS") / 1024.0
        hwm["window"] = self.vm(pid, "VmHWM")
        if a.malloc_stats:
            # glibc's own account (in use vs. held) lands in canaryd.log
            subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (void)malloc_stats()"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        # the first phase whose end saw the final peak
        r["rss_peak_phase"] = next(k for k, v in hwm.items() if v == hwm["window"])
        r["rss_hwm_by_phase_mib"] = {k: v / 1024.0 for k, v in hwm.items()}
        span = w1 - w0
        r["cpu_pct"] = 100.0 * (c1 - c0) / span
        r["sandbox_cpu"] = {svc: 100.0 * (s1["cpu"][svc] - s0["cpu"][svc]) / (
            s1["time"] - s0["time"]) for svc in s1["cpu"]}
        r["sandbox_cpu_pct"] = max(r["sandbox_cpu"].values())
        writes = [w for w in self.admin("/kube/write-times") if w0 <= w["time"] <= w1]
        lags, analyses, steps = [], 0, []
        for w in writes:
            b, aft = w["before"], w["after"]
            if not b or not aft or aft.get("step") != (b.get("step") or 0) + 1:
                continue
            if b.get("phase") != "Progressing":
                continue
            analyses += 1
            due = rfc3339(b["step_started_at"]) + a.interval
            lags.append(w["time"] - due)
            steps.append((w["name"], due, w["time"]))
        r["analyses"] = analyses
        r["lag_p50_ms"], r["lag_p99_ms"] = pct(lags, 50) * 1000, pct(lags, 99) * 1000
        r["lag_max_ms"] = max(lags) * 1000 if lags else float("nan")
        if a.lag_breakdown:
            r["lag_parts"] = self.lag_parts(steps)
        diff = {}
        for c in s1["counts"]:
            diff[(c["service"], c["verb"])] = c["n"]
        for c in s0["counts"]:
            diff[(c["service"], c["verb"])] = diff.get((c["service"], c["verb"]), 0) - c["n"]
        dd = sum(n for (svc, verb), n in diff.items()
                 if svc == "datadog" and "/query" in verb)
        r["datadog_per_analysis"] = dd / analyses if analyses else float("nan")
        r["kube_per_analysis"] = {verb: n / analyses for (svc, verb), n in sorted(diff.items())
                                  if svc == "kube" and n > 0} if analyses else {}
        r["kube_total_per_analysis"] = sum(r["kube_per_analysis"].values())
        r["slack_requests"] = sum(n for (svc, _), n in diff.items() if svc == "slack")
        log = open(os.path.join(self.dir, "canaryd.log"), errors="replace").read()
        r["slack_dropped_logged"] = log.count("not delivered")
        r["window_s"] = span
        return r


def canaries_in(req):
    """The canary names a Datadog request asks about (the bench's queries carry service:NAME)."""
    return set(re.findall(r"service:(c\d{5})", req.get("body") or "") +
               re.findall(r"service:(c\d{5})", req.get("query") or ""))


def show_parts(parts):
    for k in ("due_to_query", "query", "answer_to_write"):
        p = parts[k]
        print("    %-34s p50 %.0f ms  p99 %.0f ms  (top 1 %% of lags: mean %.0f ms)" % (
            k.replace("_", " "), p["p50_ms"], p["p99_ms"], p["slowest_mean_ms"]))
    print("    %d of %d steps matched to their Datadog request" % (parts["matched"],
                                                                  parts["steps"]))


def show(r, a):
    print("N=%d x %d metrics, interval %ds, %d namespaces, api %s, slack %s" % (
        a.n, a.m, a.interval, a.namespaces, a.api, a.slack))
    print("  startup (every VirtualService read)  %.1f s" % r["startup_s"])
    print("  canaryctl start replies              p50 %.0f ms  p99 %.0f ms  max %.0f ms, "
          "%d refused" % (r["ctl_p50_ms"], r["ctl_p99_ms"], r["ctl_max_ms"], r["ctl_refused"]))
    print("  steady window                        %.0f s, %d analyses (%.1f/s)" % (
        r["window_s"], r["analyses"], r["analyses"] / r["window_s"]))
    print("  RSS peak (VmHWM)                     %.1f MiB (now %.1f MiB), reached in the %s" % (
        r["rss_peak_mib"], r["rss_now_mib"], r["rss_peak_phase"]))
    print("  canaryd CPU                          %.1f %% of one core" % r["cpu_pct"])
    print("  decision lag                         p50 %.0f ms  p99 %.0f ms  max %.0f ms" % (
        r["lag_p50_ms"], r["lag_p99_ms"], r["lag_max_ms"]))
    if "lag_parts" in r:
        show_parts(r["lag_parts"])
    print("  Datadog requests per analysis        %.3f" % r["datadog_per_analysis"])
    print("  Kubernetes requests per analysis     %.2f (%s)" % (
        r["kube_total_per_analysis"],
        ", ".join("%s %.2f" % kv for kv in r["kube_per_analysis"].items())))
    if "scrape_p50_ms" in r:
        print("  GET /metrics                         p50 %.0f ms  max %.0f ms, %.0f KiB, "
              "%d scrapes" % (r["scrape_p50_ms"], r["scrape_max_ms"], r["scrape_kib"],
                              r["scrapes"]))
    print("  Slack requests / drops logged        %d / %d" % (
        r["slack_requests"], r["slack_dropped_logged"]))
    print("  sandbox CPU                          %s (%% of one core each)%s" % (
        ", ".join("%s %.1f %%" % kv for kv in sorted(r["sandbox_cpu"].items())),
        "  <- the sandbox limits these figures" if r["sandbox_cpu_pct"] > 85 else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-m", type=int, default=3)
    ap.add_argument("-i", "--interval", type=parse_duration, default=60)
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--window", type=float, default=2.0, help="steady window, in intervals")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--scrape", type=float, default=0,
                    help="GET /metrics every this many seconds through the window (0: off)")
    ap.add_argument("--api", choices=["v1", "v2"], default="v2")
    ap.add_argument("--slack", choices=["webhook", "token", "none"], default="webhook")
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--keep", help="keep the work directory of the last run here")
    ap.add_argument("--json", action="store_true", help="also print each run as JSON")
    ap.add_argument("--wrap", help="run canaryd under this command (e.g. 'heaptrack -o FILE'); "
                    "the figures then describe the wrapper too")
    ap.add_argument("--lag-breakdown", action="store_true",
                    help="split the decision lag at each step's Datadog request")
    ap.add_argument("--malloc-stats", action="store_true",
                    help="after the window, have glibc's malloc_stats() written to canaryd.log "
                    "(needs gdb; pauses canaryd for a moment)")
    ap.add_argument("--one-sandbox", action="store_true",
                    help="one sandbox process for all services (default: Datadog apart)")
    a = ap.parse_args()
    a.interval = int(a.interval)
    results = []
    for k in range(a.runs):
        d = tempfile.mkdtemp(prefix="canaryd-scale.")
        run = Run(a, d)
        try:
            r = run.measure()
        finally:
            run.stop()
        print("--- run %d of %d" % (k + 1, a.runs))
        show(r, a)
        if a.json:
            print(json.dumps(r, sort_keys=True))
        results.append(r)
        if a.keep and k == a.runs - 1:
            shutil.rmtree(a.keep, ignore_errors=True)
            shutil.copytree(d, a.keep)
        shutil.rmtree(d, ignore_errors=True)
    if a.runs > 1:
        med = {}
        for key in results[0]:
            vals = [r[key] for r in results]
            if key == "lag_parts":
                med[key] = vals[-1]  # the last run's split
            elif isinstance(vals[0], dict):
                med[key] = {k2: statistics.median(r[key].get(k2, 0) for r in results)
                            for k2 in vals[0]}
            elif isinstance(vals[0], (int, float)):
                med[key] = statistics.median(vals)
            else:
                med[key] = vals[-1]
        print("=== medians of %d runs" % a.runs)
        show(med, a)


if __name__ == "__main__":
    main()
