"""Datadog metrics API emulation: GET /api/v1/query, GET /api/v1/validate and
POST /api/v2/query/timeseries, with API and application keys, the rate-limit headers and 429s,
the query syntax canaryd sends, and deterministic series: a distribution per arm with
regressions, or a realistic series (series.py) that follows the canary's weight.
"""

import math
import random
import re
import threading
import time

from . import series
from .datadog_events import DatadogEvents
from .server import SandboxHandler


DD_FORBIDDEN = ('{"status":"error","code":403,"errors":["Forbidden"],'
                '"statuspage":"http://status.datadoghq.com","twitter":"http://twitter.com/datadogops",'
                '"email":"support@datadoghq.com"}\n')  # recorded Content-Length: 170 = JSON + newline

AGGREGATORS = r"avg|sum|min|max|count|p\d{1,3}(?:\.\d+)?"
METRIC_RX = re.compile(r"(?:\b(%s)\s*:\s*)?([A-Za-z][A-Za-z0-9_.]*)\s*\{([^{}]*)\}" % AGGREGATORS)
BY_RX = re.compile(r"\s*by\s*\{([^{}]*)\}")


def split_top_level_on(s, sep):
    """s split on sep outside braces and parentheses (None if unbalanced)."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
            if depth < 0:
                return None
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        return None
    parts.append("".join(cur))
    return parts


def split_top_level(s):
    return split_top_level_on(s, ",")


ROLLUP_RX = re.compile(r"\.rollup\(\s*(?:[a-z0-9]+\s*,\s*)?([0-9]+)\s*\)")


def dd_parse_error(query, col):
    return ("Error(s) found in query:\nError parsing query: \n unable to parse %s: Rule 'scope_expr' "
            "didn't match at '%s' (line 1, column %d)." % (query, query[col - 1: col + 3], col))


def parse_subquery(q):
    """-> dict(aggr, metric, scope, group_by, expression) or None if unparsable."""
    m = METRIC_RX.search(q)
    if not m:
        return None
    scope = m.group(3).strip() or "*"
    by = BY_RX.match(q, m.end())
    group_by = [t.strip() for t in by.group(1).split(",") if t.strip()] if by else []
    expr = q.strip()
    if by:
        expr = (q[: m.end()] + q[by.end():]).strip()
    return {"aggr": m.group(1), "metric": m.group(2), "scope": scope, "group_by": group_by,
            "expression": expr}


class Datadog:
    """Datadog metrics emulation: auth, rate limiting, deterministic synthetic series."""

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        rl = cfg.get("rate_limit") or {}
        self.limit = int(rl.get("limit", 1600))
        self.period = int(rl.get("period", 3600))
        self.window = None
        self.used = 0
        self.lock = threading.Lock()
        self.events = DatadogEvents(self, cfg.get("events"))

    # -- auth and rate limiting --
    def key_from(self, handler, header, param):
        v = handler.headers.get(header)
        return v if v is not None else handler.q.get(param)

    def rate_take(self):
        """-> (allowed, headers)."""
        now = time.time()
        with self.lock:
            window = int(now) // self.period
            if window != self.window:
                self.window, self.used = window, 0
            allowed = self.used < self.limit
            if allowed:
                self.used += 1
            remaining = max(0, self.limit - self.used)
        reset = self.period - int(now) % self.period
        return allowed, {"X-RateLimit-Limit": self.limit, "X-RateLimit-Period": self.period,
                         "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset,
                         "X-RateLimit-Name": "query_timeseries"}

    def rate_state(self):
        with self.lock:
            return {"limit": self.limit, "period": self.period,
                    "remaining": self.limit - self.used if self.window == int(time.time()) // self.period
                    else self.limit}

    # -- series generation --
    def find_metric(self, q):
        """-> (metric_cfg, arm) for the query text, or (None, None)."""
        for mc in self.cfg.get("metrics", []):
            if "match" in mc and mc["match"] not in q:
                continue
            if "match_regex" in mc and not re.search(mc["match_regex"], q):
                continue
            cs, bs = mc.get("canary_scope"), mc.get("baseline_scope")
            hits = [(len(s), arm) for s, arm in ((cs, "canary"), (bs, "baseline")) if s and s in q]
            if hits:
                return mc, max(hits)[1]
            if not cs and not bs:
                return mc, "baseline"
        return None, None

    def sample(self, dist, rng):
        kind = dist.get("dist", "normal")
        if kind == "constant":
            v = float(dist.get("value", dist.get("mean", 0)))
        elif kind == "normal":
            v = rng.gauss(float(dist.get("mean", 0)), float(dist.get("sd", 1)))
        elif kind == "lognormal":
            if "mu" in dist:
                mu, sigma = float(dist["mu"]), float(dist.get("sigma", 0.25))
            elif "median" in dist:
                mu, sigma = math.log(float(dist["median"])), float(dist.get("sigma", 0.25))
            else:  # from mean and sd of the distribution itself
                mean, sd = float(dist.get("mean", 1)), float(dist.get("sd", 0.25))
                sigma = math.sqrt(math.log(1 + (sd / mean) ** 2))
                mu = math.log(mean) - sigma * sigma / 2
            v = rng.lognormvariate(mu, sigma)
        elif kind == "uniform":
            v = rng.uniform(float(dist.get("low", 0)), float(dist.get("high", 1)))
        elif kind == "poisson":
            lam = float(dist.get("lambda", dist.get("mean", 1)))
            if lam > 50:
                v = max(0.0, round(rng.gauss(lam, math.sqrt(lam))))
            else:
                limit, k, p = math.exp(-lam), 0, 1.0
                while True:
                    p *= rng.random()
                    if p <= limit:
                        break
                    k += 1
                v = float(k)
            v *= float(dist.get("scale", 1))
        else:
            raise ValueError("unknown dist %r" % kind)
        return v

    def regressions(self, mc):
        regs = mc.get("regression") or []
        return [regs] if isinstance(regs, dict) else regs

    def value_at(self, mc, arm, ts, step=1):
        dist = mc.get(arm) or mc.get("baseline") or mc.get("value") or {"dist": "constant", "value": 0}
        seed = self.sb.scenario.get("seed", 1)
        if dist.get("dist", "normal") == "constant":
            # no draw, so no generator: seeding one per point is most of a large query's cost
            v = float(dist.get("value", dist.get("mean", 0)))
        else:
            rng = random.Random("%s|%s|%s|%d" % (seed, mc.get("name", mc.get("match", "")), arm,
                                                 ts))
            v = self.sample(dist, rng)
        if arm == "canary":
            for i, reg in enumerate(self.regressions(mc)):
                # a point is the rollup of [ts, ts + step): a regression that starts or ends
                # inside it shows in proportion, as Datadog's average of the requests would
                f = self.sb.regression_share(mc, i, reg, ts, step)
                if f > 0:
                    v = v * (1 + (float(reg.get("multiply", 1)) - 1) * f) \
                        + float(reg.get("add", 0)) * f
        if dist.get("min") is not None:
            v = max(v, float(dist["min"]))
        if dist.get("max") is not None:
            v = min(v, float(dist["max"]))
        return round(v, 9)

    def gap(self, mc, arm):
        g = mc.get("gap")
        if isinstance(g, bool):
            return g
        if isinstance(g, str):
            return g in (arm, "both")
        return bool((mc.get(arm) or {}).get("gap"))

    def points(self, mc, arm, t_from, t_to):
        """[(ts_seconds, value)] on the metric's step grid within [t_from, t_to], never in the future."""
        step = int(mc.get("step_seconds", self.cfg.get("step_seconds", 10)))
        max_points = int(self.cfg.get("max_points", 1500))
        t_to = min(t_to, int(time.time()))
        if t_to < t_from:
            return step, []
        while (t_to - t_from) // step > max_points:
            step *= 2
        first = -(-t_from // step) * step
        null_every = int(mc.get("null_every", 0))  # every Nth point on the grid is null
        return step, [(ts, None if null_every and (ts // step) % null_every == 0
                       else self.value_at(mc, arm, ts, step))
                           for ts in range(first, t_to + 1, step)]

    # -- realistic series (a metric with a "series" object; series.py) --
    def model_points(self, sub, t_from, t_to):
        """(step_real, [(ts_seconds_float, value)]) for a sub-query whose metric has a "series"
        object, or for "A / B" where both A and B have one (pointwise ratio, null where B is 0
        or either is missing); None if the sub-query is not such a query."""
        parts = split_top_level_on(sub, "/")
        if parts and len(parts) == 2:
            num = self.model_points(parts[0], t_from, t_to)
            den = self.model_points(parts[1], t_from, t_to)
            if num is None or den is None:
                return None
            dmap = dict(den[1])
            pts = []
            for ts, v in num[1]:
                d = dmap.get(ts)
                pts.append((ts, None if v is None or d is None or d == 0 else round(v / d, 12)))
            return num[0], pts
        if parts is None or len(parts) != 1:
            return None
        mc, arm = self.find_metric(sub)
        if mc is None or "series" not in mc:
            return None
        if self.gap(mc, arm):
            return 0, []
        spec = mc["series"]
        m = ROLLUP_RX.search(sub)
        step = float(m.group(1)) if m else float(spec.get("step_seconds", 1))
        scale = float(spec.get("time_scale", self.cfg.get("time_scale", 1)))
        max_points = int(self.cfg.get("max_points", 1500))
        vs = spec.get("virtual_service") or mc.get("virtual_service")
        t_end = min(float(t_to), time.time())
        anchor = self.sb.rollout_anchor(vs, t_end)
        while (t_end - t_from) * scale / step > max_points:
            step *= 2
        lo = math.ceil((t_from - anchor) * scale / step - 1e-9)
        hi = math.floor((t_end - anchor) * scale / step + 1e-9)
        seed = self.sb.scenario.get("seed", 1)
        name = mc.get("name")
        as_count = ".as_count()" in sub
        null_every = int(mc.get("null_every", 0))
        pts = []
        for j in range(lo, hi + 1):
            ts = round(anchor + j * step / scale, 6)
            if ts < t_from or ts > t_end:
                continue
            if null_every and j % null_every == 0:
                pts.append((ts, None))
                continue
            cw, sw = self.sb.arm_weights(vs, spec, ts)
            v = series.value(spec, seed, name, arm, j, step, canary_weight=cw,
                             exposure=(cw if arm == "canary" else sw) / 100.0, as_count=as_count)
            pts.append((ts, round(v, 9)))
        return step / scale, pts

    def series_for(self, sub, sq, index, t_from, t_to):
        mp = self.model_points(sub, t_from, t_to) if self.sb.has_models else None
        if mp is not None:
            return self.model_series(sq, index, *mp)
        mc, arm = self.find_metric(sub)
        if mc is None or self.gap(mc, arm):
            return None
        step, pts = self.points(mc, arm, t_from, t_to)
        if not pts:
            return None
        tag_set = ["%s:sandbox-0" % t for t in sq["group_by"]]
        scope = sq["scope"] if not tag_set else ",".join(
            ([sq["scope"]] if sq["scope"] != "*" else []) + tag_set)
        return {"metric": sq["metric"], "display_name": sq["metric"], "expression": sq["expression"],
                "scope": scope, "tag_set": tag_set, "aggr": sq["aggr"], "query_index": index,
                "start": pts[0][0] * 1000, "end": pts[-1][0] * 1000 + step * 1000 - 1000,
                "interval": step, "length": len(pts),
                "pointlist": [[float(ts * 1000), v] for ts, v in pts], "unit": None,
                "attributes": {}}

    def model_series(self, sq, index, step, pts):
        if not pts:
            return None
        tag_set = ["%s:sandbox-0" % t for t in sq["group_by"]]
        scope = sq["scope"] if not tag_set else ",".join(
            ([sq["scope"]] if sq["scope"] != "*" else []) + tag_set)
        ms = [round(ts * 1000, 3) for ts, _ in pts]
        return {"metric": sq["metric"], "display_name": sq["metric"], "expression": sq["expression"],
                "scope": scope, "tag_set": tag_set, "aggr": sq["aggr"], "query_index": index,
                "start": ms[0], "end": round(ms[-1] + step * 1000 - 1, 3),
                "interval": step, "length": len(pts),
                "pointlist": [[t, v] for t, (_, v) in zip(ms, pts)], "unit": None,
                "attributes": {}}

    # -- HTTP --
    def handle(self, h):
        if h.req_path == "/api/v1/validate" and h.method == "GET":
            return self.validate(h)
        if h.req_path == "/api/v1/query" and h.method == "GET":
            return self.query_v1(h)
        if h.req_path == "/api/v2/query/timeseries" and h.method == "POST":
            return self.query_v2(h)
        if h.req_path == "/api/v1/events" and h.method == "POST":
            return self.events.post(h)
        if h.req_path == "/api/v1/events" and h.method == "GET":
            return self.events.list(h)
        return h.send(404, {"errors": ["Not found"]})

    def auth_ok(self, h, need_app=True):
        api = self.key_from(h, "DD-API-KEY", "api_key")
        app = self.key_from(h, "DD-APPLICATION-KEY", "application_key")
        if api != self.cfg.get("api_key", "sandbox-api-key"):
            return False
        return not need_app or app == self.cfg.get("app_key", "sandbox-app-key")

    def validate(self, h):
        if self.key_from(h, "DD-API-KEY", "api_key") is None:
            return h.send(403, '{"errors":["API key required"]}')
        if not self.auth_ok(h, need_app=False):
            return h.send(403, DD_FORBIDDEN)
        return h.send(200, '{"valid":true}')

    def limited(self, h):
        allowed, hdrs = self.rate_take()
        if not allowed:
            h.send(429, {"errors": ["Rate limit of %d requests in %d seconds reached. Please try again "
                                    "later." % (self.limit, self.period)]}, headers=hdrs)
            return None
        return hdrs

    def query_v1(self, h):
        if not self.auth_ok(h):
            return h.send(403, DD_FORBIDDEN)
        hdrs = self.limited(h)
        if hdrs is None:
            return
        errs = []
        vals = {}
        for p in ("from", "to"):
            v = h.q.get(p)
            if v is None or not re.fullmatch(r"-?[0-9]+", v.strip()):
                errs.append("The value provided for parameter '%s' is invalid" % p)
            else:
                vals[p] = int(v)
        query = h.q.get("query")
        if query is None or not query.strip():
            errs.append("The value provided for parameter 'query' is invalid")
        if errs:
            return h.send(400, {"errors": errs}, headers=hdrs)
        if vals["from"] > vals["to"]:
            return h.send(400, {"errors": ["The value provided for parameter 'from' is invalid: "
                                           "'from' must be before 'to'"]}, headers=hdrs)
        subs = split_top_level(query)
        parsed = [parse_subquery(s) for s in subs] if subs else [None]
        if any(p is None for p in parsed):
            return h.send(400, {"errors": [dd_parse_error(query, max(1, len(query)))]}, headers=hdrs)
        series = []
        for i, (sub, sq) in enumerate(zip(subs, parsed)):
            s = self.series_for(sub, sq, i, vals["from"], vals["to"])
            if s:
                series.append(s)
        group_by = parsed[0]["group_by"] if parsed else []
        body = {"status": "ok", "res_type": "time_series", "resp_version": 1,
                "query": query, "from_date": vals["from"] * 1000, "to_date": vals["to"] * 1000,
                "series": series, "message": "", "group_by": group_by, "times": [], "values": []}
        return h.send(200, body, headers=hdrs)

    def query_v2(self, h):
        if not self.auth_ok(h):
            return h.send(403, DD_FORBIDDEN)
        hdrs = self.limited(h)
        if hdrs is None:
            return
        try:
            req = h.json_body()
            data = req["data"]
        except (ValueError, KeyError, TypeError):
            return h.send(400, {"errors": ["API input validation failed: Invalid JSON body"]},
                          headers=hdrs)
        if not isinstance(data, dict) or data.get("type") != "timeseries_request":
            return h.send(400, {"errors": ["API input validation failed: Invalid type. Expected "
                                           "\"timeseries_request\"."]}, headers=hdrs)
        attrs = data.get("attributes") or {}
        queries = attrs.get("queries")
        if (not isinstance(attrs.get("from"), int) or not isinstance(attrs.get("to"), int)
                or not isinstance(queries, list) or not queries):
            return h.send(400, {"errors": ["API input validation failed: from, to and queries are "
                                           "required"]}, headers=hdrs)
        by_name = {}
        for q in queries:
            if not isinstance(q, dict) or not isinstance(q.get("query"), str):
                return h.send(400, {"errors": ["API input validation failed: invalid query"]},
                              headers=hdrs)
            sq = parse_subquery(q["query"])
            if sq is None:
                return h.send(400, {"errors": [dd_parse_error(q["query"], len(q["query"]))]},
                              headers=hdrs)
            by_name[q.get("name", "")] = (q["query"], sq)
        formulas = attrs.get("formulas") or [{"formula": q.get("name", "")} for q in queries]
        t_from, t_to = attrs["from"] // 1000, (attrs["to"] - 1) // 1000
        per_series, out_series = [], []
        for i, f in enumerate(formulas):
            name = (f or {}).get("formula", "").strip()
            text, sq = by_name.get(name, next(iter(by_name.values())))
            mp = self.model_points(text, t_from, t_to) if self.sb.has_models else None
            if mp is not None:
                pts = [(round(ts * 1000, 3), v) for ts, v in mp[1]]
                if not pts:
                    continue
                per_series.append(dict(pts))
                out_series.append({"group_tags": [], "query_index": i, "unit": None})
                continue
            mc, arm = self.find_metric(text)
            if mc is None or self.gap(mc, arm):
                continue
            _, pts = self.points(mc, arm, t_from, t_to)
            if not pts:
                continue
            pts = [(ts * 1000, v) for ts, v in pts]
            per_series.append(dict(pts))
            out_series.append({"group_tags": [], "query_index": i, "unit": None})
        times = sorted({ts for s in per_series for ts in s})
        values = [[s.get(ts) for ts in times] for s in per_series]
        body = {"data": {"id": "0", "type": "timeseries_response", "attributes": {
            "series": out_series, "times": times, "values": values}}}
        return h.send(200, body, "application/vnd.api+json", headers=hdrs)


class DatadogHandler(SandboxHandler):
    service = "datadog"

    def route(self):
        self.sb.datadog.handle(self)
