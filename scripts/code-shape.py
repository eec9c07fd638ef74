#!/usr/bin/env python3
"""Prints the shape of the C code, for reviews of its structure (issue "Architecture"): the
largest files, the longest functions, and the call cycles between the files of each layer (file
A calls a function defined in file B and B, directly or not, calls back into A). Reads text
only: a function is a definition starting in column 0 and ending at the first "}" in column 0.
Usage: scripts/code-shape.py [--top N] [--check-cycles]
--check-cycles prints only the call cycles and exits 1 if there is one (ctest lint/call-cycles)."""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("core", "codec", "io", "daemon", "ctl")
DEF = re.compile(r"^(?!static\b)(?:[A-Za-z_][\w \*]*?[\s\*])(\w+)\(([^;]*)$")
STATIC_DEF = re.compile(r"^static\s[\w \*]*?[\s\*](\w+)\(")
IDENT = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def sources():
    for layer in LAYERS:
        d = os.path.join(ROOT, "src", layer)
        for f in sorted(os.listdir(d)):
            if f.endswith(".c"):
                yield layer, os.path.join("src", layer, f)


def functions(path):
    """(name, first line, length in lines, global?) of each function defined in path."""
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = STATIC_DEF.match(line) or DEF.match(line)
        if m and not line.rstrip().endswith(";"):
            j = i
            while j < len(lines) and lines[j] != "{" and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and lines[j] == "{":
                k = j
                while k < len(lines) and lines[k] != "}":
                    k += 1
                out.append((m.group(1), i + 1, k - i + 1, not line.startswith("static")))
                i = k
        i += 1
    return out


def cycles(files, defs):
    """Strongly connected components (of more than one file) of the call graph between files."""
    edges = {}
    for f in files:
        text = open(os.path.join(ROOT, f), encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        called = set(IDENT.findall(text))
        edges[f] = sorted({defs[n] for n in called if n in defs and defs[n] != f})
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for f in files:
        if f not in index:
            visit(f)
    return out, edges


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--check-cycles", action="store_true",
                    help="only the call cycles; exit 1 if there is one")
    args = ap.parse_args()
    srcs = list(sources())
    if args.check_cycles:
        return 1 if report_cycles(srcs) else 0
    sizes = sorted(((sum(1 for _ in open(os.path.join(ROOT, p))), p) for _, p in srcs),
                   reverse=True)
    print("largest files (lines):")
    for n, p in sizes[: args.top]:
        print("  %5d  %s" % (n, p))
    fns = []
    for _, p in srcs:
        fns += [(length, "%s:%d" % (p, line), name) for name, line, length, _ in functions(p)]
    fns.sort(reverse=True)
    print("longest functions (lines):")
    for length, where, name in fns[: args.top]:
        print("  %5d  %s %s()" % (length, where, name))
    report_cycles(srcs)
    return 0


def report_cycles(srcs):
    """Prints the call cycles between the files of each layer; True if there is one."""
    found = False
    for layer in LAYERS:
        files = [p for l, p in srcs if l == layer and not p.endswith("/main.c")]
        defs = {}
        for p in files:
            for name, _, _, is_global in functions(p):
                if is_global:
                    defs[name] = p
        comps, _ = cycles(files, defs)
        for c in comps:
            found = True
            print("call cycle in %s: %s" % (layer, " <-> ".join(os.path.basename(f) for f in c)))
    if not found:
        print("call cycles between files: none (main.c, the composition root, left out)")
    return found


if __name__ == "__main__":
    sys.exit(main())
