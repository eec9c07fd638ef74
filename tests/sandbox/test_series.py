#!/usr/bin/env python3
"""Checks the realistic series generator (tests/sandbox/sandboxlib/series.py) on long series: mean,
marginal sd and lag-1 autocorrelation of the per-arm AR(1) part, the correlation the shared
component puts between the arms, the Poisson counts' mean and variance, the shift, and that the
same seed gives the same points. Runs in about a second; exit 1 on the first failure."""

import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import series  # noqa: E402

N = 40000


def stats(xs):
    n = len(xs)
    m = sum(xs) / n
    var = sum((x - m) ** 2 for x in xs) / (n - 1)
    r1 = sum((xs[i] - m) * (xs[i + 1] - m) for i in range(n - 1)) / ((n - 1) * var)
    return m, math.sqrt(var), r1


def corr(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb)


failures = []


def check(what, got, want, tol):
    ok = abs(got - want) <= tol
    print("%s %-44s got %.4f want %.4f +- %.4f" % ("ok  " if ok else "FAIL", what, got, want, tol))
    if not ok:
        failures.append(what)


for rho in (0.0, 0.5, 0.8):
    spec = {"mean": 100, "sd": 10, "rho": rho}
    xs = [series.value(spec, 7, "t-ar%.1f" % rho, "baseline", j, 10) for j in range(N)]
    m, sd, r1 = stats(xs)
    # 5 standard errors; the mean's variance is inflated by (1 + rho) / (1 - rho)
    se_mean = 10 * math.sqrt((1 + rho) / (1 - rho) / N)
    check("rho=%.1f mean" % rho, m, 100, 5 * se_mean)
    check("rho=%.1f marginal sd" % rho, sd, 10, 10 * 5 * math.sqrt((1 + rho * rho) /
                                                                    (1 - rho * rho) / (2 * N)))
    check("rho=%.1f lag-1 autocorrelation" % rho, r1, rho, 5 * math.sqrt((1 - rho * rho) / N) + 0.005)

# negative indices continue the same stationary process (time-reversed chain)
spec = {"mean": 0, "sd": 1, "rho": 0.8}
xs = [series.value(spec, 7, "t-neg", "canary", j, 1) for j in range(-N // 2, N // 2)]
m, sd, r1 = stats(xs)
check("negative j: sd", sd, 1, 0.05)
check("negative j: lag-1 autocorrelation", r1, 0.8, 0.02)

# shared component: corr(canary, baseline) = shared_var / (shared_var + own_var)
spec = {"mean": 50, "sd": 3, "rho": 0.5, "shared": {"sd": 4, "rho": 0.9}}
c = [series.value(spec, 7, "t-shared", "canary", j, 10) for j in range(N // 2)]
b = [series.value(spec, 7, "t-shared", "baseline", j, 10) for j in range(N // 2)]
check("shared: corr(canary, baseline)", corr(c, b), 16 / 25, 0.03)
check("shared: total sd", stats(c)[1], 5, 0.25)

# a relative shift on the canary only, from a weight on
spec = {"mean": 100, "sd": 0, "shift": {"relative": 0.05, "at_weight": 25}}
check("shift below at_weight", series.value(spec, 7, "t-shift", "canary", 3, 10, 10), 100, 1e-9)
check("shift at at_weight", series.value(spec, 7, "t-shift", "canary", 3, 10, 25), 105, 1e-9)
check("shift never on baseline", series.value(spec, 7, "t-shift", "baseline", 3, 10, 50), 100, 1e-9)

# drift: units per simulated hour
spec = {"mean": 10, "sd": 0, "drift": 3.6}
check("drift after 1000 s", series.value(spec, 7, "t-drift", "baseline", 100, 10), 11, 1e-9)

# Poisson counts: mean = rate * step * exposure; variance = mean (no AR noise), both regimes
for rate, expo in ((0.2, 0.25), (30.0, 0.1), (30.0, 0.9)):
    spec = {"kind": "count", "mean": rate, "sd": 0}
    lam = rate * 10 * expo
    ks = [series.value(spec, 7, "t-count", "canary", j, 10, exposure=expo, as_count=True)
          for j in range(20000)]
    m, sd, _ = stats(ks)
    check("poisson lambda=%g mean" % lam, m, lam, 5 * math.sqrt(lam / len(ks)))
    check("poisson lambda=%g variance/mean" % lam, sd * sd / m, 1, 0.05)
    if any(k != int(k) or k < 0 for k in ks):
        failures.append("poisson: non-integer or negative count")

# same seed, same points; another seed, other points
a = [series.value({"sd": 1, "rho": 0.5}, 11, "t-det", "canary", j, 10) for j in range(50)]
series._paths.clear()
b = [series.value({"sd": 1, "rho": 0.5}, 11, "t-det", "canary", j, 10) for j in range(50)]
c = [series.value({"sd": 1, "rho": 0.5}, 12, "t-det", "canary", j, 10) for j in range(50)]
if a != b or a == c:
    failures.append("determinism per seed")
print("%s determinism per seed" % ("ok  " if a == b and a != c else "FAIL"))

# validation
for bad in ({"rho": 1}, {"sd": -1}, {"kind": "histogram"}, {"shared": {"rho": -1}},
            {"shift": [{"relative": "x"}]}, {"time_scale": 0}):
    try:
        series.validate(bad)
        failures.append("validate accepted %r" % bad)
    except series.SeriesError:
        pass
random.seed()
if failures:
    print("FAILED: %s" % ", ".join(failures))
    sys.exit(1)
print("all series checks passed")
