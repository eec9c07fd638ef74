#!/usr/bin/env bash
# `canaryctl judge` (SPEC §5), offline: the JSON document has exactly SPEC's keys and reproduces
# R's wilcox.test for cases of tests/data/stats/mannwhitney_reference.json; CRLF files are read;
# the exit code is the verdict for CI (0 pass, 1 fail, 4 no data) for every judge, in text and
# JSON; a bad line is an error naming file and line (exit 2, no verdict); usage errors exit 2; the table and the
# ratio / threshold judges work; the sequential judge (SPEC §8) pairs line i of both files. No daemon, no sandbox: runs in well under a second.
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
# judge ARGS...: runs canaryctl judge; its stdout in $out, stderr in $err, exit code in $rc.
judge() {
	set +e
	out=$("$CTL" judge "$@" 2>"$T/err")
	rc=$?
	set -e
	err=$(cat "$T/err")
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
    p = subprocess.run([ctl, "judge", "--canary", f"{tmp}/c.txt", "--baseline", f"{tmp}/b.txt",
                        "--confidence", str(conf), "--min-samples", "1", "-o", "json"],
                       capture_output=True, text=True)
    j = json.loads(p.stdout)
    want_rc = {"Pass": 0, "High": 1, "Low": 1, "NoData": 4}[j["classification"]]
    assert p.returncode == want_rc, (c["id"], j["classification"], p.returncode, p.stderr)
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
judge --canary "$T/c.txt" --baseline "$T/b.txt"
[ "$rc" = 1 ] && grep -q '^mann_whitney: High' <<<"$out" || fail "table: exit $rc: $out"
grep -q 'p-value' <<<"$out" && grep -q '98% interval' <<<"$out" || fail "table rows: $out"

# A bad line: exit 2 (no verdict, never taken for a failed canary), file and line named.
printf '1\r\n2\r\nabc\r\n' >"$T/bad.txt"
judge --canary "$T/bad.txt" --baseline "$T/b.txt"
[ "$rc" = 2 ] || fail "bad line: exit $rc"
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
judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge ratio --reducer max --max-ratio 2 -o json
[ "$rc" = 1 ] && grep -q '"result":"fail"' <<<"$out" || fail "ratio: exit $rc: $out"
judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge ratio --reducer max --max-ratio 2 \
	--outliers remove -o json
[ "$rc" = 0 ] && grep -q '"result":"pass"' <<<"$out" || fail "ratio with outliers removed: exit $rc: $out"
judge --canary "$T/spike.txt" --baseline "$T/b.txt" --judge threshold --max 100 --reducer p50 \
	--nan-strategy replace -o json
[ "$rc" = 0 ] && grep -q '"n_canary":20' <<<"$out" && grep -q '"result":"pass"' <<<"$out" ||
	fail "threshold: exit $rc: $out"

# The exit code is the verdict, for CI: 0 pass, 1 fail, 4 no data; the same in text and JSON.
# expect CODE WHAT ARGS...: judge ARGS (text, then -o json) exits CODE both times.
expect() {
	local code=$1 what=$2
	shift 2
	judge "$@"
	[ "$rc" = "$code" ] || fail "$what: exit $rc, expected $code: $out $err"
	judge "$@" -o json
	[ "$rc" = "$code" ] || fail "$what -o json: exit $rc, expected $code: $out $err"
}
printf 'nan\nnan\n' >"$T/nan.txt"
: >"$T/empty.txt"
printf '20\n21\n19\n22\n18\n20\n21\n19\n23\n17\n20\n' >"$T/same.txt"
expect 0 "mann_whitney equal arms" --canary "$T/same.txt" --baseline "$T/same.txt"
expect 1 "mann_whitney higher" --canary "$T/c.txt" --baseline "$T/b.txt"
expect 1 "mann_whitney lower" --canary "$T/b.txt" --baseline "$T/c.txt"
expect 0 "mann_whitney lower, direction increase" --canary "$T/b.txt" --baseline "$T/c.txt" \
	--direction increase
expect 4 "mann_whitney empty canary" --canary "$T/empty.txt" --baseline "$T/b.txt"
expect 4 "mann_whitney only NaN" --canary "$T/nan.txt" --baseline "$T/b.txt"
expect 4 "mann_whitney under --min-samples" --canary "$T/c.txt" --baseline "$T/b.txt" \
	--min-samples 20
expect 0 "ratio pass" --judge ratio --canary "$T/same.txt" --baseline "$T/b.txt" --max-ratio 2
expect 1 "ratio fail" --judge ratio --canary "$T/c.txt" --baseline "$T/b.txt" --max-ratio 2
expect 4 "ratio no data" --judge ratio --canary "$T/nan.txt" --baseline "$T/b.txt" --max-ratio 2
expect 0 "threshold pass" --judge threshold --canary "$T/c.txt" --baseline "$T/b.txt" --max 100
expect 1 "threshold fail" --judge threshold --canary "$T/c.txt" --baseline "$T/b.txt" --max 30
expect 4 "threshold no data" --judge threshold --canary "$T/empty.txt" --baseline "$T/b.txt" \
	--max 30
expect 0 "sequential pass" --judge sequential --canary "$T/c.txt" --baseline "$T/c.txt" \
	--min-samples 5
expect 4 "sequential no data" --judge sequential --canary "$T/c.txt" --baseline "$T/b.txt" \
	--min-samples 20
# no verdict: 2, never 1 (a CI job must not read a missing file as a failed canary)
expect 2 "missing file" --canary "$T/none.txt" --baseline "$T/b.txt"
grep -q 'cannot read .*none.txt' <<<"$err" || fail "missing file message: $err"
expect 2 "missing share file" --judge sequential --kind count --share-file "$T/none.txt" \
	--canary "$T/c.txt" --baseline "$T/b.txt"
expect 2 "no --baseline" --canary "$T/c.txt"
judge --help
[ "$rc" = 0 ] && grep -q '^exit: 0 pass, 1 fail, 4 no data' <<<"$out" || fail "judge --help: exit $rc: $out"

# Sequential (SPEC §8): line i of both files is one timestamp; AR(1) noise and a load both arms
# share. +10 % fails, equal arms pass with the confidence sequence inside the tolerance.
python3 - "$CTL" "$T" <<'PY' || fail "sequential"
import json, random, subprocess, sys
ctl, tmp = sys.argv[1:3]
def arms(n, shift, seed):
    rnd = random.Random(seed)
    ec = eb = s = 0.0
    c, b = [], []
    for _ in range(n):
        ec = 0.5 * ec + rnd.gauss(0, 1)
        eb = 0.5 * eb + rnd.gauss(0, 1)
        s = 0.5 * s + rnd.gauss(0, 1)
        level = 100 * (1 + 0.05 * s)
        c.append(level * (1 + shift) + 1.5 * ec)
        b.append(level + 1.5 * eb)
    return c, b
def judge(c, b, *args):
    open(f"{tmp}/sc.txt", "w").write("".join(f"{x!r}\n" for x in c))
    open(f"{tmp}/sb.txt", "w").write("".join(f"{x!r}\n" for x in b))
    out = subprocess.run([ctl, "judge", "--judge", "sequential", "--canary", f"{tmp}/sc.txt",
                          "--baseline", f"{tmp}/sb.txt", "-o", "json", *args],
                         capture_output=True, text=True)
    j = json.loads(out.stdout)
    want_rc = {"Pass": 0, "Fail": 1, "NoData": 4}[j["classification"]]
    assert out.returncode == want_rc, (j, out.returncode, out.stderr)
    return j
keys = ["n", "e_value", "p_value", "estimate", "ci_low", "ci_high", "inside_tolerance",
        "autocorrelation", "classification"]
c, b = arms(40, 0.10, 1)
j = judge(c, b)
assert list(j) == keys, list(j)
assert j["n"] == 40 and j["classification"] == "Fail", j
assert j["e_value"] >= 100 and j["p_value"] <= 0.01 and 0.02 < j["ci_low"] < 0.1 < j["ci_high"], j
assert judge(c, b, "--direction", "decrease")["classification"] == "Pass"
assert judge(c, b, "--tolerance", "0.3")["classification"] == "Pass"
c, b = arms(1000, 0.0, 2)
j = judge(c, b, "--alpha", "0.05")
assert j["classification"] == "Pass" and j["inside_tolerance"] is True, j
assert judge(c[:9], b[:9])["classification"] == "NoData"
# count: error counts per timestamp, canary share 0.25, canary error rate doubled
rnd = random.Random(3)
def poisson(lam):
    k, p, limit = 0, rnd.random(), 2.718281828459045 ** -lam
    while p > limit:
        p *= rnd.random()
        k += 1
    return k
c = [poisson(20 * 0.25 * 2) for _ in range(30)]
b = [poisson(20 * 0.75) for _ in range(30)]
j = judge(c, b, "--kind", "count", "--share", "0.25")
assert j["classification"] == "Fail" and j["autocorrelation"] is None and j["ci_low"] > 0.3, j
open(f"{tmp}/share.txt", "w").write("0.25\n" * 30)
assert judge(c, b, "--kind", "count", "--share-file", f"{tmp}/share.txt") == j
print("ok: sequential judge through canaryctl judge -o json")
PY
# 33 pairs: fewer than 24 carry no evidence (docs/judges.md)
for _ in 1 2 3; do printf '15\n11\n18\n10\n17\n13\n19\n12\n16\n14\n20\n'; done >"$T/sb.txt"
for _ in 1 2 3; do printf '35\n31\n38\n30\n37\n33\n39\n32\n36\n34\n40\n'; done >"$T/sc.txt"
judge --judge sequential --canary "$T/sc.txt" --baseline "$T/sb.txt"
[ "$rc" = 1 ] && grep -q '^sequential: Fail' <<<"$out" && grep -q 'conf. sequence' <<<"$out" || fail "sequential table: $out"
for args in "--kind count" "--alpha 1" "--tolerance 1" "--kind gauge" "--share 0.5" \
	"--kind count --share 1"; do
	set +e
	# shellcheck disable=SC2086
	"$CTL" judge --judge sequential --canary "$T/c.txt" --baseline "$T/b.txt" $args >/dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "sequential usage error '$args': exit $rc"
done
judge --judge sequential --canary "$T/spike.txt" --baseline "$T/b.txt"
[ "$rc" = 2 ] && grep -q 'pairs line i' <<<"$err" || fail "sequential unequal files: exit $rc: $err"
# Long options are written in full: an abbreviation that getopt would take is a usage error,
# before any daemon is asked (--ful would otherwise promote to 100 %).
for args in "promote checkout --ful" "promote checkout --f" "--sock /x status" \
	"abort checkout --reas x" "judge --canar $T/c.txt --baseline $T/b.txt"; do
	set +e
	# shellcheck disable=SC2086
	err=$(CANARYCTL_SOCKET=$T/none.sock "$CTL" $args 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" = 2 ] && grep -q "long options are written in full" <<<"$err" ||
		fail "abbreviated option '$args': exit $rc: $err"
done
# a value that looks like an option is a value
set +e
err=$(CANARYCTL_SOCKET=$T/none.sock "$CTL" abort checkout --reason --full 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" = 3 ] || fail "abort --reason --full: exit $rc (expected 3, no daemon): $err"
echo "ok: canaryctl judge"
