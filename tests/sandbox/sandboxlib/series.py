"""Realistic metric series for the sandbox (a metric's "series" object, docs/sandbox.md).

Each point of an arm is

    level(t) + sd * a_arm[j] + shared.sd * s[j]          (t = j * step simulated seconds)

where level(t) = mean + drift * t / 3600, a_arm is the arm's own standardised stationary AR(1)
series (lag-1 autocorrelation rho, marginal variance 1: innovations scaled by sqrt(1 - rho^2)), s
a standardised AR(1) series common to both arms (load that moves both), and j the index of the
point counted from the rollout start. The canary arm is then multiplied by (1 + relative) (and
offset by add) while a shift is active. A "count" metric reads that value as events per second
at full traffic: its points are Poisson counts with mean value * step * exposure, the exposure
being the arm's traffic weight / 100.

Everything is a pure function of (seed, metric name, arm, j) and the weights passed in, so the
sandbox (real time, compressed) and the quality bench (offline, nominal schedule) draw the same
series. Standard library only.
"""

import math
import random
import threading

KINDS = ("gauge", "count")
NUM_KEYS = ("mean", "sd", "rho", "drift", "min", "max", "time_scale", "step_seconds")


class SeriesError(ValueError):
    pass


def _num(d, key, where, default=None):
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SeriesError("%s.%s: must be a number" % (where, key))
    return float(v)


def validate(spec, where="series"):
    """Raises SeriesError for a malformed "series" object; returns it unchanged."""
    if not isinstance(spec, dict):
        raise SeriesError("%s: must be an object" % where)
    for k in NUM_KEYS:
        _num(spec, k, where)
    if not -1 < _num(spec, "rho", where, 0) < 1:
        raise SeriesError("%s.rho: must lie in (-1, 1)" % where)
    if _num(spec, "sd", where, 0) < 0:
        raise SeriesError("%s.sd: must be >= 0" % where)
    for k in ("time_scale", "step_seconds"):
        if _num(spec, k, where, 1) <= 0:
            raise SeriesError("%s.%s: must be > 0" % (where, k))
    if spec.get("kind", "gauge") not in KINDS:
        raise SeriesError("%s.kind: must be one of %s" % (where, ", ".join(KINDS)))
    sh = spec.get("shared")
    if sh is not None:
        if not isinstance(sh, dict):
            raise SeriesError("%s.shared: must be an object" % where)
        if not -1 < _num(sh, "rho", where + ".shared", 0) < 1:
            raise SeriesError("%s.shared.rho: must lie in (-1, 1)" % where)
        if _num(sh, "sd", where + ".shared", 0) < 0:
            raise SeriesError("%s.shared.sd: must be >= 0" % where)
        if "key" in sh and not isinstance(sh["key"], str):
            raise SeriesError("%s.shared.key: must be a string" % where)
    shifts = spec.get("shift") or []
    for i, s in enumerate([shifts] if isinstance(shifts, dict) else shifts):
        w = "%s.shift[%d]" % (where, i)
        if not isinstance(s, dict):
            raise SeriesError("%s: must be an object" % w)
        for k in ("relative", "add", "at_weight", "after_seconds", "for_seconds"):
            _num(s, k, w)
    for k in ("canary_subset", "stable_subset", "virtual_service"):
        if k in spec and not isinstance(spec[k], str):
            raise SeriesError("%s.%s: must be a string" % (where, k))
    return spec


class ARPath:
    """A standardised stationary AR(1) series x_j for every integer j, drawn lazily and kept.

    x_0 ~ N(0, 1); x_j = rho * x_(j-1) + sqrt(1 - rho^2) * e_j for j > 0. A Gaussian AR(1) is
    time-reversible, so negative indices come from the same recursion run backwards from x_0
    with a second, independent innovation stream."""

    def __init__(self, key, rho):
        self.rho = rho
        self.k = math.sqrt(1.0 - rho * rho)
        self.rng_fwd = random.Random(key + "|fwd")
        self.rng_bwd = random.Random(key + "|bwd")
        self.fwd = [self.rng_fwd.gauss(0.0, 1.0)]
        self.bwd = [self.fwd[0]]  # bwd[k] = x_(-k)
        self.lock = threading.Lock()

    def at(self, j):
        seq, rng = (self.fwd, self.rng_fwd) if j >= 0 else (self.bwd, self.rng_bwd)
        i = abs(j)
        with self.lock:
            while len(seq) <= i:
                seq.append(self.rho * seq[-1] + self.k * rng.gauss(0.0, 1.0))
            return seq[i]


_paths = {}
_paths_lock = threading.Lock()


def path(key, rho):
    with _paths_lock:
        p = _paths.get((key, rho))
        if p is None:
            p = _paths[(key, rho)] = ARPath(key, rho)
        return p


def poisson(lam, rng):
    """A Poisson(lam) draw: multiplication method below 10, Hormann's PTRS above (exact)."""
    if lam <= 0:
        return 0
    if lam < 10:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            p *= rng.random()
            k += 1
        return k
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1)):
            return k


def shifts(spec):
    s = spec.get("shift") or []
    return [s] if isinstance(s, dict) else list(s)


def shift_active(sh, sim_t, canary_weight):
    """A shift applies from the canary weight at_weight on and/or from after_seconds (simulated
    seconds since the rollout start) for for_seconds; with neither, from the start."""
    if "at_weight" in sh and canary_weight < float(sh["at_weight"]):
        return False
    if "after_seconds" in sh:
        start = float(sh["after_seconds"])
        if sim_t < start:
            return False
        if "for_seconds" in sh and sim_t >= start + float(sh["for_seconds"]):
            return False
    return True


def level(spec, seed, name, arm, j, step, canary_weight=100.0):
    """The model value of one arm at point j (value per second for a count metric)."""
    sim_t = j * step
    v = float(spec.get("mean", 100)) + float(spec.get("drift", 0)) * sim_t / 3600.0
    sd = float(spec.get("sd", 0))
    if sd:
        v += sd * path("%s|%s|%s|ar" % (seed, name, arm), float(spec.get("rho", 0))).at(j)
    sh = spec.get("shared") or {}
    if float(sh.get("sd", 0)):
        key = "%s|%s|shared" % (seed, sh.get("key", name))
        v += float(sh["sd"]) * path(key, float(sh.get("rho", 0))).at(j)
    if arm == "canary":
        for s in shifts(spec):
            if shift_active(s, sim_t, canary_weight):
                v = v * (1.0 + float(s.get("relative", 0))) + float(s.get("add", 0))
    return v


def value(spec, seed, name, arm, j, step, canary_weight=100.0, exposure=1.0, as_count=False):
    """One point as the sandbox serves it. gauge: the level, clamped to [min, max]. count: with
    as_count a Poisson count of mean max(level, 0) * step * exposure, else that mean / step (the
    expected per-second rate of the arm, like Datadog's as_rate)."""
    v = level(spec, seed, name, arm, j, step, canary_weight)
    if spec.get("kind", "gauge") == "count":
        lam = max(v, 0.0) * step * max(exposure, 0.0)
        if not as_count:
            return lam / step
        rng = random.Random("%s|%s|%s|n|%d" % (seed, name, arm, j))
        return float(poisson(lam, rng))
    if spec.get("min") is not None:
        v = max(v, float(spec["min"]))
    if spec.get("max") is not None:
        v = min(v, float(spec["max"]))
    return v
