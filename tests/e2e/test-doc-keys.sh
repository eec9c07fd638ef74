#!/usr/bin/env bash
# The configuration keys documented in canaryd.yaml(5) are exactly the keys the parser accepts:
#  1. every key in a key table of src/codec/config-yaml.c (`static const char *const keys[]`
#     inside walk_<section>()) has an entry in docs/canaryd.yaml.5 (".TP" + ".B <path>"), and
#     appears in config/canaryd.yaml.example; missing keys are named one per line;
#  2. every documented key is in a parser key table, and its entry states a default (or that it
#     is required) and an example;
#  3. the man page's EXAMPLE contains every documented key (also those of the {flow} mappings
#     in a [flow] list, as in steps), and `canaryd --check-config` accepts it; the same file
#     with an unknown key added (top level, in a section, in a metric) is rejected with exit 2
#     naming the key;
#  4. the man pages format without groff warnings.
# Exits non-zero on any failure; "SKIP" and 0 only when python3 is absent.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
MAN5=$SRC/docs/canaryd.yaml.5
PARSER=$SRC/src/codec/config-yaml.c
EXAMPLE=$SRC/config/canaryd.yaml.example

command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 0; }
T=$(mktemp -d -t canaryd-doc-keys.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# Steps 1 and 2, and the EXAMPLE extracted to $T/example.yaml.
if ! python3 - "$MAN5" "$PARSER" "$EXAMPLE" "$T/example.yaml" <<'PY'; then
import re, sys

man_path, parser_path, example_cfg_path, example_out = sys.argv[1:5]
man = open(man_path, encoding="utf-8").read().split("\n")
parser = open(parser_path, encoding="utf-8").read()
example_cfg = open(example_cfg_path, encoding="utf-8").read()
failures = []

# Where each walk_<name>() of the parser reads its keys. A new walk function that is not listed
# here is still checked by key name (any documented path ending in that key).
PREFIXES = {
    "walk_root": [""],
    "walk_datadog": ["datadog."],
    "walk_kubernetes": ["kubernetes."],
    "walk_slack": ["slack."],
    "walk_control": ["control."],
    "walk_ha": ["ha."],
    "walk_pagerduty": ["pagerduty."],
    "walk_reports": ["reports."],
    "walk_canary": ["canaries[]."],
    "walk_step": ["canaries[].steps[]."],
    "walk_destination": ["canaries[].stable.", "canaries[].canary."],
    "walk_score": ["canaries[].score."],
    "walk_scopes": ["canaries[].scopes."],
    "walk_trigger": ["canaries[].trigger."],
    "walk_metric": ["canaries[].metrics[]."],
}

# --- the parser's key tables, per walk function
accepted = {}  # path -> function
by_name = {}   # key -> functions with an unknown prefix
func = None
for m in re.finditer(r"^static \w+ \*?(walk_\w+)\(|(?<!\w)keys\[\]\s*=\s*\{([^}]*)\}", parser, re.M):
    if m.group(1):
        func = m.group(1)
        continue
    keys = re.findall(r'"([^"]+)"', m.group(2))
    if func is None:
        failures.append("a key table before any walk_ function in %s" % parser_path)
        continue
    for k in keys:
        if func in PREFIXES:
            for p in PREFIXES[func]:
                accepted[p + k] = func
        else:
            by_name.setdefault(k, set()).add(func)
if len(accepted) < 40:
    failures.append("only %d keys found in the parser's key tables: has %s changed shape? "
                    "(update tests/e2e/test-doc-keys.sh)" % (len(accepted), parser_path))

# --- the man page's entries: ".TP" then ".B <path>", the entry running to the next .TP/.SH/.SS
PATH_RE = re.compile(r"^\.B ([a-z_]+(?:\[\])?(?:\.[a-z_]+(?:\[\])?)*)$")
documented = {}  # path -> entry text
for i, line in enumerate(man):
    if line != ".TP" or i + 1 >= len(man):
        continue
    m = PATH_RE.match(man[i + 1])
    if not m:
        continue
    body = []
    for rest in man[i + 2:]:
        if rest in (".TP",) or rest.startswith(".SH") or rest.startswith(".SS"):
            break
        body.append(rest)
    documented[m.group(1)] = "\n".join(body)

missing = sorted(p for p in accepted if p not in documented)
for p in missing:
    failures.append("key %s is accepted by the parser (%s in src/codec/config-yaml.c) but not "
                    "documented in docs/canaryd.yaml.5" % (p, accepted[p]))
for k, funcs in sorted(by_name.items()):
    if not any(d == k or d.endswith("." + k) for d in documented):
        failures.append("key %s is accepted by the parser (%s) but not documented in "
                        "docs/canaryd.yaml.5" % (k, ", ".join(sorted(funcs))))
for p in sorted(documented):
    leaf = re.sub(r"\[\]$", "", p.rsplit(".", 1)[-1])
    if p not in accepted and leaf not in by_name:
        failures.append("docs/canaryd.yaml.5 documents %s, which the parser does not accept" % p)
    body = documented[p]
    if not re.search(r"Default|Required", body):
        failures.append("docs/canaryd.yaml.5: %s states no default (nor that it is required)" % p)
    if "Example" not in body:
        failures.append("docs/canaryd.yaml.5: %s has no example" % p)

# --- every parser key is mentioned in config/canaryd.yaml.example (commented out or not)
for p in sorted(set(accepted) | {k for k in by_name}):
    leaf = p.rsplit(".", 1)[-1].replace("[]", "")
    if not re.search(r"(^|[\s{,#])" + re.escape(leaf) + r":", example_cfg, re.M):
        failures.append("key %s is not shown in config/canaryd.yaml.example" % p)

# --- the EXAMPLE section, unescaped to YAML
try:
    start = man.index(".SH EXAMPLE")
    ex = man.index(".EX", start)
    ee = man.index(".EE", ex)
except ValueError:
    failures.append("docs/canaryd.yaml.5 has no .SH EXAMPLE with an .EX/.EE block")
    ex = ee = 0
yaml_lines = []
for line in man[ex + 1:ee]:
    line = line.replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\")
    yaml_lines.append(line)
open(example_out, "w", encoding="utf-8").write("\n".join(yaml_lines) + "\n")

# Key paths of that example (block mappings, "- " items, one level of {flow} mappings).
def split_flow(s):
    parts, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch in "{[":
            depth += 1
            cur += ch
        elif ch in "}]":
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [x.strip() for x in parts if x.strip()]

FREE = {"canaries[].score.weights"}  # mappings whose keys are names, not configuration keys
in_example = set()
stack = [(-1, "")]
for raw in yaml_lines:
    if not raw.strip() or raw.lstrip().startswith("#"):
        continue
    indent = len(raw) - len(raw.lstrip(" "))
    content = raw.strip()
    if content.startswith("- "):  # a list item: its keys sit 2 columns right of the dash
        content = content[2:]
        while stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent + 1, stack[-1][1] + "[]"))
        indent += 2
    while stack[-1][0] >= indent:
        stack.pop()
    parent = stack[-1][1]
    m = re.match(r"([a-z_]+):\s*(.*)$", content)
    if not m:
        continue
    path = (parent + "." if parent else "") + m.group(1)
    in_example.add(path)
    value = m.group(2)
    if value == "":
        stack.append((indent, path))
    elif value.startswith("{") and path not in FREE:
        for part in split_flow(value.strip()[1:-1]):
            k = part.split(":", 1)[0].strip()
            in_example.add(path + "." + k)
    elif value.startswith("["):  # a flow list: the keys of its {flow} mappings
        for item in split_flow(value.strip()[1:-1]):
            if item.startswith("{"):
                for part in split_flow(item[1:-1]):
                    in_example.add(path + "[]." + part.split(":", 1)[0].strip())
for p in sorted(documented):
    if p not in in_example:
        failures.append("docs/canaryd.yaml.5: %s is missing from the EXAMPLE" % p)

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("ok: %d parser keys, %d documented keys, %d keys in the EXAMPLE"
      % (len(accepted) + len(by_name), len(documented), len(in_example)))
sys.exit(1 if failures else 0)
PY
	failures=$((failures + 1))
fi

# Step 3: the daemon's own parser on the EXAMPLE.
CANARYD=$BUILD/canaryd
if [ ! -x "$CANARYD" ]; then
	echo "note: no canaryd in $BUILD; --check-config on the EXAMPLE skipped"
elif [ -s "$T/example.yaml" ]; then
	mkdir -p "$T/canaries.d" # the EXAMPLE's canaries_dir, empty
	if out=$("$CANARYD" --check-config --config "$T/example.yaml" 2>&1); then
		echo "ok: canaryd --check-config accepts the EXAMPLE of canaryd.yaml(5): $out"
	else
		fail "canaryd --check-config rejects the EXAMPLE of canaryd.yaml(5):"
		echo "$out" >&2
	fi
	# An unknown key at three levels; each must be rejected with exit 2, naming the key.
	reject() { # NAME FILE
		local rc=0
		out=$("$CANARYD" --check-config --config "$2" 2>&1) || rc=$?
		if [ $rc = 2 ] && echo "$out" | grep -q "unknown key '$1'"; then
			echo "ok: unknown key $1 rejected"
		else
			fail "unknown key $1: exit $rc, output: $out"
		fi
	}
	{ cat "$T/example.yaml"; echo "no_such_key: 1"; } >"$T/top.yaml"
	reject no_such_key "$T/top.yaml"
	sed 's/^datadog:$/datadog:\n  no_such_option: 1/' "$T/example.yaml" >"$T/section.yaml"
	reject no_such_option "$T/section.yaml"
	sed '0,/^\( *\)judge: threshold$/s//\1judge: threshold\n\1no_such_metric_key: 1/' \
		"$T/example.yaml" >"$T/metric.yaml"
	reject no_such_metric_key "$T/metric.yaml"
fi

# Step 4: the man pages are valid roff.
if command -v groff >/dev/null; then
	for page in "$SRC"/docs/canaryd.8 "$SRC"/docs/canaryctl.1 "$MAN5"; do
		if out=$(groff -man -ww -z "$page" 2>&1) && [ -z "$out" ]; then
			echo "ok: $(basename "$page") formats without warnings"
		else
			fail "groff warnings in $page: $out"
		fi
	done
else
	echo "note: groff not installed; man page lint skipped"
fi

if [ $failures != 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "canaryd.yaml(5) matches the parser"
