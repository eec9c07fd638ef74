#!/usr/bin/env python3
"""The canaryd demo: the sandbox plus the real canaryd on config/demo.yaml.

Starts the three canaries with canaryctl, shows a refreshing status table and every Slack message
as readable text while the rollouts run, and ends with a summary once every canary is done (or
after 60 s). Exit status 0 when checkout and payments were promoted and search rolled back, as
the scenario intends. Standard library only.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("CANARYD_BUILD_DIR", os.path.join(ROOT, "build"))
CONFIG = os.path.join(ROOT, "config", "demo.yaml")
SOCKET = "/tmp/canaryd-demo/control.sock"
REPORTS = "/tmp/canaryd-demo/state/reports"  # state_dir in config/demo.yaml, + /reports
PORTS = {"datadog": 18126, "slack": 18127, "kube": 18180, "admin": 18128}
DEADLINE = 60.0
TTY = sys.stdout.isatty()

EMOJI = {":rocket:": "🚀", ":white_check_mark:": "✅", ":x:": "❌", ":rewind:": "⏪",
         ":warning:": "⚠️", ":pause_button:": "⏸", ":arrow_forward:": "▶", ":tada:": "🎉",
         ":octagonal_sign:": "🛑", ":book:": "📖", ":grey_question:": "❔",
         ":arrow_up:": "⬆", ":repeat:": "🔁", ":hourglass:": "⏳"}


def admin(path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (PORTS["admin"], path), timeout=5) as r:
        return json.load(r)


def mrkdwn_to_text(s):
    s = re.sub(r"<([^|>]+)\|([^>]+)>",
               lambda m: m.group(2) if m.group(1) == m.group(2) else "%s (%s)" % (
                   m.group(2), m.group(1)), s)
    for code, sym in EMOJI.items():
        s = s.replace(code, sym)
    s = re.sub(r":[a-z_]+:", "", s)
    s = re.sub(r"(?<![\w])_(.+?)_(?![\w])", r"\1", s)
    s = s.replace("*", "").replace("`", "")
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_slack(msg):
    """A Slack payload as a few lines a person can read in a terminal."""
    p = msg.get("payload") or {}
    when = time.strftime("%H:%M:%S", time.localtime(msg.get("time", time.time())))
    lines = []
    for b in p.get("blocks") or []:
        if b.get("type") == "header":
            lines.append(mrkdwn_to_text(b["text"]["text"]))
        elif b.get("type") == "section":
            if b.get("fields"):
                lines.append("   " + " · ".join(
                    mrkdwn_to_text(f["text"]).replace("\n", ": ", 1) for f in b["fields"]))
            if b.get("text"):
                for ln in mrkdwn_to_text(b["text"]["text"]).splitlines():
                    lines.append("   " + ln)
        elif b.get("type") == "context":
            lines.append("   " + " ".join(mrkdwn_to_text(e.get("text", ""))
                                          for e in b.get("elements", [])))
    if not lines:
        lines = [mrkdwn_to_text(p.get("text", ""))]
    return ["[%s] slack: %s" % (when, lines[0])] + lines[1:]


def ctl(*args):
    return subprocess.run([os.path.join(BUILD, "canaryctl"), "--socket", SOCKET] + list(args),
                          capture_output=True, text=True, timeout=10)


def status():
    r = ctl("status", "-o", "json", "--compact")
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["canaries"]


def table(canaries):
    rows = [("CANARY", "PHASE", "STEP", "WEIGHT", "FAILED", "LAST ANALYSIS")]
    for c in canaries:
        la = c.get("last_analysis") or {}
        detail = la.get("result", "-")
        for m in la.get("metrics", []):
            if m.get("result") != "pass":
                detail += " (%s: %s)" % (m["name"], m["detail"][:60])
        rows.append((c["name"], c["phase"], "%d/%d" % (c["step"], c["steps"]),
                     "%d%%" % c["canary_weight"], str(c["failed_checks"]), detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for r in rows:
        out.append("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
    return out


def wait_for(pred, secs, what):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise SystemExit("demo: %s did not happen within %ds" % (what, secs))


def print_reports(names):
    """Where each rollout's report is (docs/reports.md): a page to open in a browser."""
    print("\nEach rollout's report (timeline, analyses, a chart per metric; docs/reports.md):")
    for name in names:
        d = os.path.join(REPORTS, name)
        pages = sorted(f for f in os.listdir(d) if f.endswith(".html")) if os.path.isdir(d) else []
        print("  %-9s %s" % (name, os.path.join(d, pages[-1]) if pages else "(none saved)"))
    print("Open search's rollback in a browser (chromium FILE); while canaryd runs,\n"
          "  %s --socket %s report search > search.html\n"
          "prints it too (-o json: the same content as JSON)."
          % (os.path.relpath(os.path.join(BUILD, "canaryctl")), SOCKET))


def main():
    os.makedirs("/tmp/canaryd-demo/state", exist_ok=True)
    logdir = "/tmp/canaryd-demo"
    sandbox = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "sandbox", "sandbox.py"),
         "--scenario", os.path.join(ROOT, "tests", "sandbox", "scenarios", "demo.json"),
         "--datadog-port", str(PORTS["datadog"]), "--slack-port", str(PORTS["slack"]),
         "--kube-port", str(PORTS["kube"]), "--admin-port", str(PORTS["admin"]),
         "--log", os.path.join(logdir, "sandbox.log")],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(logdir, "sandbox.err"), "w"))
    daemon = None
    try:
        def sandbox_up():
            try:
                admin("/healthz")
                return True
            except Exception:
                if sandbox.poll() is not None:
                    raise SystemExit("demo: the sandbox exited (ports %s busy?): see %s" % (
                        sorted(PORTS.values()), os.path.join(logdir, "sandbox.err")))
                return False
        wait_for(sandbox_up, 10, "sandbox start")

        env = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(ROOT, "config",
                                                                  "demo-credentials"))
        daemon_log = open(os.path.join(logdir, "canaryd.log"), "w")
        daemon = subprocess.Popen([os.path.join(BUILD, "canaryd"), "--config", CONFIG],
                                  env=env, stdout=daemon_log, stderr=daemon_log)
        wait_for(lambda: status() is not None, 10, "canaryd start")

        print("canaryd demo: checkout (healthy), search (latency regresses at >= 20%), payments "
              "(healthy, autocorrelated latency, sequential judge)")
        for name, rev in (("checkout", "v2"), ("search", "v7"), ("payments", "v3")):
            r = ctl("start", name, "--revision", rev)
            print("$ canaryctl start %s --revision %s  -> %s" % (name, rev,
                                                                  (r.stdout or r.stderr).strip()))
        started = time.time()
        seen = 0
        slack_lines = []
        last_table = None
        canaries = status() or []
        while time.time() - started < DEADLINE:
            canaries = status() or canaries
            new = [m for m in admin("/slack/messages?since=%d" % seen)]
            for m in new:
                seen = max(seen, m["seq"])
                slack_lines.extend(render_slack(m))
            t = table(canaries)
            if TTY:
                sys.stdout.write("\033[H\033[2J")
                print("canaryd demo — %4.1fs   (Ctrl-C to stop)\n" % (time.time() - started))
                print("\n".join(t))
                print("\nSlack #releases:")
                print("\n".join(slack_lines[-30:]))
                sys.stdout.flush()
            else:
                if t != last_table:
                    print("\n".join("  " + ln for ln in t[1:]))
                for m in new:
                    print("\n".join(render_slack(m)))
                sys.stdout.flush()
            last_table = t
            if all(c["phase"] in ("Promoted", "RolledBack") for c in canaries):
                break
            time.sleep(0.5)
        elapsed = time.time() - started

        # let the last Slack messages drain (paced at one per second)
        end = time.time() + 4
        while time.time() < end:
            new = admin("/slack/messages?since=%d" % seen)
            for m in new:
                seen = max(seen, m["seq"])
                print("\n".join(render_slack(m)))
            if not new and ctl("status").returncode == 0 and time.time() > end - 2:
                break
            time.sleep(0.5)

        writes = admin("/kube/writes")
        messages = admin("/slack/messages")
        print("\n=== summary after %.1fs ===" % elapsed)
        print("\n".join(table(canaries)))
        print("%d VirtualService writes, %d Slack messages, %d Datadog queries" % (
            len(writes), len(messages), len(admin("/requests?service=datadog"))))
        try:  # what Prometheus would scrape (http.listen in config/demo.yaml)
            page = urllib.request.urlopen("http://127.0.0.1:18129/metrics", timeout=5).read()
            keep = [ln for ln in page.decode().splitlines()
                    if ln.startswith(("canaryd_canary_weight", "canaryd_rollouts_total"))
                    and not ln.endswith(" 0")]
            print("$ curl -s http://127.0.0.1:18129/metrics   (canaryd_canary_weight, "
                  "canaryd_rollouts_total)")
            print("\n".join("  " + ln for ln in keep))
        except OSError as e:
            print("/metrics: %s" % e)
        ok = {c["name"]: c["phase"] for c in canaries} == {"checkout": "Promoted",
                                                           "search": "RolledBack",
                                                           "payments": "Promoted"}
        print("result: %s" % ("as expected: checkout and payments promoted, search rolled back"
                              if ok
                              else "UNEXPECTED: see /tmp/canaryd-demo/canaryd.log"))
        print_reports([c["name"] for c in canaries])
        return 0 if ok else 1
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                rc = daemon.wait(timeout=10)
                print("canaryd stopped on SIGTERM with exit status %d" % rc)
            except subprocess.TimeoutExpired:
                daemon.kill()
                print("canaryd did not stop within 10 s")
        sandbox.terminate()
        try:
            sandbox.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sandbox.kill()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
