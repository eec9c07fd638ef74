#!/usr/bin/env bash
# `canaryctl judge` (SPEC §5), offline: the JSON document has exactly SPEC's keys and reproduces
# R's wilcox.test for cases of tests/data/stats/mannwhitney_reference.json; CRLF files are read;
# a bad line is an error naming file and line (exit 1); usage errors exit 2; the table and the
# ratio / threshold judges work. No daemon, no sandbox: runs in well under a second.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CTL=$BUILD/canaryctl
T=$(mktemp -d -t canaryd-judge-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Every case, default R block: our JSON against R (u exact, p 1e-9 relative, exact-path interval
# and estimate 1e-12 relative, normal-path interval 2e-4 absolute), with CRLF in every other file.
python3 - "$CTL" "$SRC/tests/data/stats/mannwhitney_reference.json" "$T" <<'PY' || fail "R reference"
import json, math, subprocess, sys
ctl, ref, tmp = sys.argv[1:4]
cases = json.load(open(ref))["cases"]
keys = ["n_canary", "n_baseline", "u", "p_value", "hl_estimate", "ci_low", "ci_high",
        "mean_ratio", "classification"]
def num(v):
    if v is None: return float("nan")
    if isinstance(v, str): return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)
def write(path, xs, crlf):
    with open(path, "w", newline="") as f:
        f.write(("\r\n" if crlf else "\n").join("nan" if x is None else repr(num(x)) for x in xs) + "\n")
checked = 0
for i, c in enumerate(cases):
    if c["alternative"] != "two.sided":
        continue
    d = c["r"]["default"]
    write(f"{tmp}/c.txt", c["x"], i % 2 == 0)
    write(f"{tmp}/b.txt", c["y"], i % 2 == 1)
    conf = d["args"]["conf.level"]
    out = subprocess.run([ctl, "judge", "--canary", f"{tmp}/c.txt", "--baseline", f"{tmp}/b.txt",
                          "--confidence", str(conf), "--min-samples", "1", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    assert list(j) == keys, (c["id"], list(j))
    assert j["u"] == num(d["statistic_W"]), (c["id"], "u", j["u"])
    rp = num(d["p_value"])
    if math.isnan(rp):
        assert j["p_value"] is None, c["id"]
    else:
        assert abs(j["p_value"] - rp) <= 1e-9 * rp, (c["id"], "p", j["p_value"], rp)
    exact = "exact" in d["method"]
    if "error" in d:
        continue
    for k, r in (("ci_low", d["conf_int"][0]), ("ci_high", d["conf_int"][1])):
        r = num(r)
        if exact:
            assert abs(j[k] - r) <= 1e-12 * abs(r), (c["id"], k, j[k], r)
        else:
            assert abs(j[k] - r) <= 2e-4, (c["id"], k, j[k], r)
    if exact:
        assert abs(j["hl_estimate"] - num(d["estimate"])) <= 1e-12 * abs(num(d["estimate"])), c["id"]
    assert j["classification"] in ("Pass", "High", "Low", "NoData")
    checked += 1
assert checked >= 10, checked
print(f"ok: {checked} reference cases reproduced through canaryctl judge -o json")
PY

# The table for people.
printf '10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n' >"$T/b.txt"
printf '30\n31\n32\n33\n34\n35\n36\n37\n38\n39\n40\n' >"$T/c.txt"
out=$("$CTL" judge --canary "$T/c.txt" --baseline "$T/b.txt")
grep -q '^mann_whitney: High' <<<"$out" || fail "table: $out"
grep -q 'p-value' <<<"$out" && grep -q '98% interval' <<<"$out" || fail "table rows: $out"

# A bad line: exit 1, file and line named.
printf '1\r\n2\r\nabc\r\n' >"$T/bad.txt"
set +e
err=$("$CTL" judge --canary "$T/bad.txt" --baseline "$T/b.txt" 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" = 1 ] || fail "bad line: exit $rc"
grep -q 'bad.txt: line 3: "abc" is not a number' <<<"$err" || fail "bad line message: $err"

# Usage errors: exit 2.
for args in "--confidence 1.5" "--judge median" "--effect-size ratio" "--outlier-factor 2" \
	"--outliers drop" "--nan-strategy zero"; do
	set +e
	# shellcheck disable=SC2086
	"$CTL" judge --canary "$T/c.txt" --baseline "$T/b.txt" $args >/dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "usage error '$args': exit $rc"
done

# Ratio and threshold, with preprocessing.
printf '10\n10\nnan\n10\n1000\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n10\n' >"$T/spike.txt"
j=$("$CTL" judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge ratio --reducer max \
	--max-ratio 2 -o json)
grep -q '"result":"fail"' <<<"$j" || fail "ratio: $j"
j=$("$CTL" judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge ratio --reducer max \
	--max-ratio 2 --outliers remove -o json)
grep -q '"result":"pass"' <<<"$j" || fail "ratio with outliers removed: $j"
j=$("$CTL" judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge threshold --max 100 \
	--reducer p50 --nan-strategy replace -o json)
grep -q '"n_canary":20' <<<"$j" && grep -q '"result":"pass"' <<<"$j" || fail "threshold: $j"
echo "ok: canaryctl judge"
