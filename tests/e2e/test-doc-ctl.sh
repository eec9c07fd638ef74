#!/usr/bin/env bash
# canaryctl(1) and docs/control-protocol.md are true to the code (issue 17), a sibling of
# test-doc-keys.sh (the configuration keys):
#  1. every command `canaryctl help` lists has an entry in canaryctl(1)'s COMMANDS, and every
#     entry there is a command;
#  2. every option `canaryctl help COMMAND` shows (and the global ones of `canaryctl help`) is in
#     the man page, and every option the man page names is one of them;
#  3. the exit codes of EXIT STATUS are those of src/ctl/ctl.h, and those `canaryctl help`
#     prints;
#  4. every member the daemon puts in the status document (src/daemon/status.c) is described in
#     canaryctl(1) or docs/control-protocol.md;
#  5. no document names a file the tree does not ship (a *.md, or a man page of its own).
# Exits non-zero naming each failure; "SKIP" and 0 only when python3 is absent.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
CTL=$BUILD/canaryctl

command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 0; }
[ -x "$CTL" ] || { echo "FAIL: no $CTL (build first)" >&2; exit 1; }
T=$(mktemp -d -t canaryd-doc-ctl.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$CTL" help >"$T/help"
for c in $(sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p' "$T/help"); do
	"$CTL" help "$c" >"$T/help-$c"
done

python3 - "$SRC" "$T" <<'PY'
import glob, os, re, subprocess, sys

src, tmp = sys.argv[1:3]
failures = []
man_path = os.path.join(src, "docs/canaryctl.1")
man = open(man_path, encoding="utf-8").read()
protocol = open(os.path.join(src, "docs/control-protocol.md"), encoding="utf-8").read()
overall = open(os.path.join(tmp, "help"), encoding="utf-8").read()

def section(text, name):
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH )" % re.escape(name), text, re.M | re.S)
    return m.group(1) if m else ""

def plain(roff):
    """Man source as text: font escapes and roff's \\- gone."""
    t = re.sub(r"\\f[BIRP]", "", roff)
    return t.replace("\\-", "-").replace("\\(sc", "§")

# 1. commands
listed = re.findall(r"^  ([a-z]+) ", overall.split("Commands:", 1)[1].split("\n\n", 1)[0], re.M)
if len(listed) < 13:
    failures.append("only %d commands in `canaryctl help`: has it changed shape?" % len(listed))
commands_section = section(man, "COMMANDS")
documented = set()
for entry in re.findall(r"^\.TP\n(.*)$", commands_section, re.M):
    words = plain(re.sub(r'"', " ", entry)).split()
    if len(words) > 1 and words[0].startswith("."):
        documented.add(words[1])
for c in listed:
    if c not in documented:
        failures.append("command %s (canaryctl help) has no entry in COMMANDS of %s" % (c, man_path))
for c in sorted(documented - set(listed)):
    failures.append("canaryctl(1) documents a command %s that `canaryctl help` does not list" % c)

# 2. options: those the help of each command shows, and the global ones
opt_re = re.compile(r"(?<![\w-])(--?[a-zA-Z][a-z-]*)")
known = set(opt_re.findall(overall.split("Commands:", 1)[0]))
for c in listed:
    text = open(os.path.join(tmp, "help-" + c), encoding="utf-8").read()
    opts = set(o for o in opt_re.findall(text) if o not in ("-", "--"))
    known |= opts
    for o in sorted(opts):
        if o.startswith("--") and o not in plain(man):
            failures.append("option %s of `canaryctl help %s` is not in %s" % (o, c, man_path))
        if re.fullmatch(r"-[a-zA-Z]", o) and not re.search(r"(?<![\w-])%s(?![\w-])" % o, plain(man)):
            failures.append("option %s of `canaryctl help %s` is not in %s" % (o, c, man_path))
prose = plain(section(man, "SYNOPSIS") + section(man, "OPTIONS") + commands_section +
              section(man, "ENVIRONMENT") + section(man, "EXAMPLES"))
for o in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", prose))):
    if o not in known and o != "--ful":  # its example of a shortened option, refused
        failures.append("canaryctl(1) names an option %s that no `canaryctl help` shows" % o)

# 3. exit codes: EXIT STATUS, src/ctl/ctl.h and the help agree
exits = section(man, "EXIT STATUS")
daemon_part, _, judge_part = exits.partition("\n.B judge\n")
man_codes = lambda part: sorted(int(n) for n in re.findall(r"^\.TP\n\.B (\d+)$", part, re.M))
ctl_h = open(os.path.join(src, "src/ctl/ctl.h"), encoding="utf-8").read()
code_codes = sorted(set(int(n) for n in re.findall(r"CTL_EXIT_\w+ = (\d+)", ctl_h)))
if man_codes(daemon_part) != code_codes:
    failures.append("EXIT STATUS documents %s for the daemon commands, src/ctl/ctl.h has %s" %
                    (man_codes(daemon_part), code_codes))
m = re.search(r"Exit status: (.*?)\njudge: (.*?)\n", overall, re.S)
if not m:
    failures.append("`canaryctl help` does not print the exit status")
else:
    help_codes = sorted(int(n) for n in re.findall(r"(\d+) [a-z]", m.group(1)))
    if help_codes != code_codes:
        failures.append("`canaryctl help` prints exit codes %s, src/ctl/ctl.h has %s" % (help_codes, code_codes))
    help_judge = sorted(int(n) for n in re.findall(r"(\d+) [a-z]", m.group(2)))
    if help_judge != man_codes(judge_part):
        failures.append("judge: `canaryctl help` prints exit codes %s, canaryctl(1) documents %s" %
                        (help_judge, man_codes(judge_part)))

# 4. the status document's members
status_c = open(os.path.join(src, "src/daemon/status.c"), encoding="utf-8").read()
members = set(re.findall(r'cJSON_Add\w+ToObject\(\w+,\s*"([a-z_]+)"', status_c))
members |= set(re.findall(r'add_number_or_null\(\w+,\s*"([a-z_]+)"', status_c))
members |= set(re.findall(r'buf_puts\(&b, ",?\\"([a-z_]+)\\":', status_c))
members |= set(re.findall(r'"\{\\"([a-z_]+)\\":\[', status_c))
if len(members) < 30:
    failures.append("only %d status members found in src/daemon/status.c: has it changed shape?" % len(members))
docs_text = plain(man) + protocol
for k in sorted(members):
    if not re.search(r'(`%s`|"%s"|\b%s\b)' % (k, k, re.escape(k)), docs_text):
        failures.append("status member %s (src/daemon/status.c) is described in neither "
                        "canaryctl(1) nor docs/control-protocol.md" % k)

# 5. files the documents name
try:
    tracked = subprocess.run(["git", "-C", src, "ls-files"], capture_output=True,
                             text=True).stdout.split()
except OSError:  # no git (a fresh CI root): the files on disk
    tracked = []
if not tracked:  # not a checkout, or no git: the files on disk
    tracked = [os.path.relpath(p, src) for p in glob.glob(os.path.join(src, "**"), recursive=True)]
names = set(tracked) | set(os.path.basename(p) for p in tracked)
docs = sorted(glob.glob(os.path.join(src, "docs/*")) + [os.path.join(src, "README.md")])
for d in docs:
    text = open(d, encoding="utf-8").read()
    if re.search(r"\.[1-8]$", d):
        text = plain(text)
    for ref in sorted(set(re.findall(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)\b", text))):
        if ref not in names and "docs/" + ref not in names:
            failures.append("%s names %s, which the tree does not ship" % (os.path.relpath(d, src), ref))

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("checked %d commands, %d options, %d status members, %d documents" %
      (len(listed), len(known), len(members), len(docs)))
sys.exit(1 if failures else 0)
PY
echo "ok: canaryctl(1) and the control protocol document the commands, options, exit codes and status members"
