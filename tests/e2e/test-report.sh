#!/usr/bin/env bash
# A report per rollout (SPEC §10, docs/reports.md): a rollout that ends leaves
# state_dir/reports/<canary>/<id>.json and .html; `canaryctl report NAME [--rollout ID]
# [-o html|json]` prints the saved one (or one built from the journal while the rollout runs);
# old reports are rotated by count and age; and the HTML page of a sandbox rollback loads in
# headless Chromium without a console error, its screenshot showing the charts.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=1s e2e_setup
e2e_start_daemon

ctl start search --revision h2 >/dev/null || fail "start search"
# while it runs, the report is built from the journal
ctl report search -o json | json_get "(d['revision'], d['finished'])" | grep -qx "('h2', False)" ||
	fail "the report of a running rollout"
wait_phase search RolledBack 30

D=$E2E/state/reports/search
ls "$D"/*.json >/dev/null 2>&1 || fail "no report in $D"
[ "$(ls "$D" | grep -c '\.json$')" = 1 ] && [ "$(ls "$D" | grep -c '\.html$')" = 1 ] ||
	fail "expected one report: $(ls -a "$D")"
ID=$(basename "$(ls "$D"/*.json)" .json)
[ -s "$D/$ID.html" ] || fail "no HTML beside $ID.json"
ls -a "$D" | grep -q '\.tmp$' && fail "a temporary file was left: $(ls -a "$D")"
pass "a rollback leaves $ID.json and $ID.html"

ctl report search -o json >"$E2E/report.json" || fail "report -o json"
python3 - "$E2E/report.json" "$ID" <<'PY' || fail "report content: $(head -c 2000 "$E2E/report.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["canary"] == "search" and d["id"] == sys.argv[2] and d["revision"] == "h2", d
assert d["outcome"] == "RolledBack" and d["finished"] is True, d["outcome"]
assert d["metrics"] == ["error-rate", "latency"], d["metrics"]
an = d["analyses"]
assert len(an) >= 2, an
for a in an:
    assert a["window"]["start"] < a["window"]["end"], a
    for m in a["metrics"]:
        assert m["result"] and m["judge"] in ("threshold", "ratio"), m
assert an[-1]["result"] != "pass", an[-1]
assert any(isinstance(m["canary"], float) and isinstance(m["baseline"], float)
           for a in an for m in a["metrics"]), an
dec = [t for t in d["timeline"] if t["type"] == "decision"]
assert dec[0]["event"] == "start" and dec[0]["actor"] == "uid:0", dec[0]
assert dec[-1]["to"]["phase"] == "RolledBack" and dec[-1]["reason"], dec[-1]
assert any(t["type"] == "command" and t["event"] == "start" for t in d["timeline"]), d["timeline"]
w = [(c["from"], c["to"]) for c in d["weight_changes"]]
assert w[0] == (0, 10) and w[-1][1] == 0, w
PY
pass "canaryctl report -o json: timeline, analyses with values and verdicts, weight changes"

ctl report search >"$E2E/report.html" || fail "report (html)"
cmp -s "$E2E/report.html" "$D/$ID.html" || fail "canaryctl report differs from the saved page"
grep -Eq 'https?://|src=|href=|<script' "$D/$ID.html" && fail "the page refers to something outside it"
[ "$(grep -o '<svg class="chart"' "$D/$ID.html" | wc -l)" = 2 ] || fail "expected two charts"
grep -q '<g class="weight">' "$D/$ID.html" || fail "no weight change marked"
ROLLOUT=$(json_get "d['rollout']" <"$E2E/report.json")
ctl report search --rollout "$ROLLOUT" -o json | json_get "d['id']" | grep -qx "$ID" ||
	fail "--rollout by start time"
ctl report search --rollout "$ID" -o html | cmp -s - "$D/$ID.html" || fail "--rollout by id"
out=$(ctl report search --rollout 20200101T000000.000000Z 2>&1) && fail "an unknown rollout accepted"
echo "$out" | grep -q "no rollout 20200101T000000.000000Z of search" || fail "unclear: $out"
ctl report search --rollout ../../etc >/dev/null 2>&1 && fail "a path as rollout accepted"
ctl report nosuch >/dev/null 2>&1 && fail "report of an unknown canary accepted"
rc=0
ctl report search -o table >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "-o table: exit $rc, expected 2"
pass "canaryctl report: html by default, --rollout by time or id, unknown ones refused"

# The page in a real browser: no console error, and a screenshot with the charts.
if command -v chromium >/dev/null 2>&1; then
	browse() {
		timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
			--user-data-dir="$E2E/chromium" --enable-logging=stderr --v=0 \
			--window-size=1200,1600 "$@" "file://$D/$ID.html"
	}
	browse --screenshot="$E2E/report.png" >"$E2E/chromium.out" 2>"$E2E/chromium.err" ||
		fail "chromium --screenshot: $(tail -5 "$E2E/chromium.err")"
	[ "$(head -c 8 "$E2E/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "the screenshot is not a PNG"
	[ "$(stat -c %s "$E2E/report.png")" -gt 20000 ] || fail "the screenshot is nearly empty"
	browse --dump-dom >"$E2E/dom.html" 2>>"$E2E/chromium.err" || fail "chromium --dump-dom"
	[ "$(grep -o '<svg class="chart"' "$E2E/dom.html" | wc -l)" = 2 ] ||
		fail "the browser's DOM lacks the charts"
	grep -q 'points="' "$E2E/dom.html" || fail "the browser's DOM lacks the series"
	if grep -E 'CONSOLE|Uncaught|Refused to|Content Security Policy' "$E2E/chromium.err"; then
		fail "console errors in chromium"
	fi
	[ -n "${E2E_REPORT_SCREENSHOT:-}" ] && cp "$E2E/report.png" "$E2E_REPORT_SCREENSHOT"
	pass "headless chromium loads the report with no console error; screenshot $(stat -c %s "$E2E/report.png") bytes"
else
	echo "SKIP: chromium not installed (scripts/deps.sh --test installs it)"
fi
e2e_stop_daemon

# Rotation: keep 2, and a report older than max_age goes at the next rollout's end.
sed -i 's|^state_dir: .*|&\nreports: {keep: 2, max_age: 240h}|' "$E2E/canaryd.yaml"
OLD=20200101T000000.000000Z
echo '{}' >"$D/$OLD.json"
echo '<p>old</p>' >"$D/$OLD.html"
touch -d '20 days ago' "$D/$OLD.json" "$D/$OLD.html"
e2e_start_daemon
# (the reply to retry waits for its decision; the report is written before status shows the end)
for i in 1 2; do
	ctl retry search >/dev/null || fail "retry $i"
	wait_phase search RolledBack 30
done
[ -e "$D/$OLD.json" ] && fail "a report older than max_age was kept"
n=$(ls "$D" | grep -c '\.json$')
[ "$n" = 2 ] || fail "$n reports kept, expected 2 (keep: 2): $(ls "$D")"
[ "$(ls "$D" | grep -c '\.html$')" = 2 ] || fail "HTML pages not rotated with their JSON"
[ -e "$D/$ID.json" ] && fail "the oldest report was kept beyond keep"
ctl report search -o json | json_get "d['id']" | grep -qx "$(basename "$(ls "$D"/*.json | sort | tail -1)" .json)" ||
	fail "the latest report is not the newest file"
pass "reports rotated: keep 2, older than max_age removed"
e2e_stop_daemon
