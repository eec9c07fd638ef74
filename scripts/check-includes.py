#!/usr/bin/env python3
"""Checks the project's headers: no include cycle among them, and every header in one layer
that includes only its own layer or those below (core < codec < io; daemon and ctl headers may
include any; a private header under src/core, src/codec or src/io is in that layer). A public
header's layer is what it says: io headers include canaryd/io-layer.h, codec
headers canaryd/codec-layer.h, the rest of include/canaryd/ is core. Prints each problem and
exits 1 if there is one. The build enforces the same for sources (CANARYD_PURE, CANARYD_CORE);
this also covers headers no pure source reaches yet."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
RANK = {"core": 0, "codec": 1, "io": 2, "app": 3}


def headers():
    out = {}
    pub = os.path.join(ROOT, "include", "canaryd")
    for f in sorted(os.listdir(pub)):
        if f.endswith(".h"):
            out["canaryd/" + f] = os.path.join(pub, f)
    for d in ("core", "codec", "io", "daemon", "ctl"):
        sub = os.path.join(ROOT, "src", d)
        for f in sorted(os.listdir(sub)):
            if f.endswith(".h"):
                out["src/%s/%s" % (d, f)] = os.path.join(sub, f)
    return out


def main():
    hs = headers()
    edges, layer = {}, {}
    for name, path in hs.items():
        text = open(path).read()
        inc = INC.findall(text)
        if name.startswith("src/"):
            d = os.path.dirname(name)
            inc = [i if i.startswith("canaryd/") else "%s/%s" % (d, i) for i in inc]
            # a private header belongs to its directory's layer (daemon and ctl: on top)
            layer[name] = d[len("src/"):] if d[len("src/"):] in RANK else "app"
        elif "canaryd/io-layer.h" in inc:
            layer[name] = "io"
        elif "canaryd/codec-layer.h" in inc:
            layer[name] = "codec"
        else:
            layer[name] = "core"
        edges[name] = [i for i in inc if i in hs and not i.endswith("-layer.h")]
    for guard in ("canaryd/io-layer.h", "canaryd/codec-layer.h"):
        layer[guard] = "core"
    problems = []
    for name, deps in sorted(edges.items()):
        for dep in deps:
            if RANK[layer[dep]] > RANK[layer[name]]:
                problems.append("%s (%s) includes %s (%s)" % (name, layer[name], dep, layer[dep]))
    state = {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for m in edges.get(n, []):
            if state.get(m) == 1:
                problems.append("include cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m, stack)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [])
    for p in problems:
        print(p)
    if not problems:
        print("%d headers: no include cycle, every include within its layer or below" % len(hs))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
