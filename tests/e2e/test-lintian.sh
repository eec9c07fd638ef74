#!/usr/bin/env bash
# The Debian package as it ships (issue 17): built from the release build (RelWithDebInfo,
# `build`, or CANARYD_RELEASE_BUILD_DIR), never from the ASan build the other tests use.
#  1. `DESTDIR=T/root cmake --install` + `cpack -G DEB` from that tree (as test-install.sh does:
#     a test does not build) make canaryd_VERSION_ARCH.deb and canaryd-dbgsym_VERSION_ARCH.ddeb;
#     VERSION is the top entry of cmake/deb/changelog, whose upstream part is project(VERSION);
#  2. the .deb's binaries are stripped (no .symtab, no .debug_*; a .gnu_debuglink) and the .ddeb
#     holds usr/lib/debug/.build-id/XX/REST.debug with the debug info of each of them, by build
#     ID; the .ddeb's md5sums verify; copyright is cmake/deb/copyright, changelog.Debian.gz is
#     cmake/deb/changelog gzip -9n and parses (dpkg-parsechangelog);
#  3. `lintian --pedantic` (with info and experimental tags) reports nothing on either package but
#     the overrides of cmake/deb/lintian-overrides: any E:, W:, I:, P: or X: tag fails, and so
#     does an override that no longer silences anything (I: unused-override).
# About 30 s on two cores, most of it lintian. "SKIP" and 0 without a release build or lintian.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=$(realpath -m "${CANARYD_RELEASE_BUILD_DIR:-$SRC/build}")

for tool in cmake cpack dpkg-deb dpkg-parsechangelog lintian readelf; do
	command -v $tool >/dev/null || { echo "SKIP: $tool not installed (scripts/deps.sh --test)"; exit 0; }
done
if [ ! -x "$BUILD/canaryd" ] || [ ! -x "$BUILD/canaryctl" ] || [ ! -f "$BUILD/CPackConfig.cmake" ]; then
	echo "SKIP: no release build in $BUILD (cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo)"
	exit 0
fi
if grep -q 'CANARYD_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
	echo "FAIL: $BUILD is a sanitizer build; the package is made from the release build" >&2
	exit 1
fi

T=$(mktemp -d -t canaryd-lintian.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# ---------------------------------------------------------------- 1. the packages
if ! DESTDIR=$T/root cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1; then
	echo "FAIL: cmake --install $BUILD failed (build the targets canaryd canaryctl man):" >&2
	tail -n 5 "$T/install.log" >&2
	exit 1
fi
if ! (cd "$T" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/pkg" \
	-D CPACK_INSTALL_CMAKE_PROJECTS= -D "CPACK_INSTALLED_DIRECTORIES=$T/root;.") \
	>"$T/cpack.log" 2>&1; then
	echo "FAIL: cpack -G DEB failed:" >&2
	tail -n 30 "$T/cpack.log" >&2
	exit 1
fi
version=$(dpkg-parsechangelog -l "$SRC/cmake/deb/changelog" -S Version)
project=$(sed -n 's/^project(canaryd VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ "${version%-*}" = "$project" ] ||
	fail "cmake/deb/changelog's top entry is $version, the project is $project"
arch=$(dpkg --print-architecture)
deb=$T/pkg/canaryd_${version}_$arch.deb
ddeb=$T/pkg/canaryd-dbgsym_${version}_$arch.ddeb
for f in "$deb" "$ddeb"; do
	[ -f "$f" ] || { fail "cpack made no $(basename "$f"): $(ls "$T/pkg")"; exit 1; }
done
echo "ok: cpack made $(basename "$deb") and $(basename "$ddeb")"

# ---------------------------------------------------------------- 2. contents
mkdir "$T/deb" "$T/ddeb"
dpkg-deb -x "$deb" "$T/deb"
dpkg-deb -R "$ddeb" "$T/ddeb"
for bin in canaryd canaryctl; do
	f=$T/deb/usr/bin/$bin
	readelf -S "$f" >"$T/sections" 2>/dev/null
	if grep -Eq ' \.(symtab|debug_[a-z]+|comment) ' "$T/sections"; then
		fail "usr/bin/$bin is not stripped: $(grep -Eo ' \.(symtab|debug_[a-z]+|comment) ' "$T/sections" | tr -d '\n')"
	fi
	grep -q ' \.gnu_debuglink ' "$T/sections" || fail "usr/bin/$bin has no .gnu_debuglink"
	id=$(readelf -n "$f" 2>/dev/null | sed -n 's/^ *Build ID: //p')
	dbg=$T/ddeb/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
	if [ -z "$id" ]; then
		fail "usr/bin/$bin has no build ID"
	elif [ ! -f "$dbg" ]; then
		fail "the .ddeb has no debug file for usr/bin/$bin (build ID $id)"
	elif ! readelf -S "$dbg" 2>/dev/null >"$T/dbg-sections" ||
		! grep -q ' \.debug_info ' "$T/dbg-sections"; then
		fail "the .ddeb's debug file for usr/bin/$bin holds no .debug_info"
	else
		echo "ok: usr/bin/$bin stripped; its debug info in the .ddeb by build ID $id"
	fi
done
if (cd "$T/ddeb" && md5sum --quiet -c DEBIAN/md5sums) >"$T/md5.log" 2>&1; then
	echo "ok: the .ddeb's md5sums verify"
else
	fail "the .ddeb's md5sums do not verify: $(head -n 3 "$T/md5.log")"
fi
doc=$T/deb/usr/share/doc/canaryd
cmp -s "$doc/copyright" "$SRC/cmake/deb/copyright" || fail "copyright is not cmake/deb/copyright"
if gzip -9nc "$SRC/cmake/deb/changelog" | cmp -s - "$doc/changelog.Debian.gz"; then
	echo "ok: changelog.Debian.gz is cmake/deb/changelog, gzip -9n"
else
	fail "changelog.Debian.gz is not cmake/deb/changelog gzip -9n (rebuild the target man?)"
fi
gzip -dc "$doc/changelog.Debian.gz" >"$T/changelog"
if dpkg-parsechangelog -l "$T/changelog" --all >/dev/null 2>"$T/parse.log" && [ ! -s "$T/parse.log" ]; then
	echo "ok: dpkg-parsechangelog reads changelog.Debian.gz"
else
	fail "dpkg-parsechangelog: $(cat "$T/parse.log")"
fi
cmp -s "$T/deb/usr/share/lintian/overrides/canaryd" "$SRC/cmake/deb/lintian-overrides" ||
	fail "usr/share/lintian/overrides/canaryd is not cmake/deb/lintian-overrides"

# ---------------------------------------------------------------- 3. lintian --pedantic
start=$(date +%s)
set +e
# (not --show-overrides: with it, overridden tags count for --fail-on)
lintian --pedantic --display-info --display-experimental \
	--fail-on error,warning,info,pedantic,experimental "$deb" "$ddeb" >"$T/lintian.log" 2>&1
rc=$?
set -e
grep -v '^running with root privileges' "$T/lintian.log" >"$T/tags" || true
if [ $rc != 0 ] || grep -Eq '^[EWIPX]: ' "$T/tags"; then
	fail "lintian --pedantic (exit $rc) reports tags not overridden in cmake/deb/lintian-overrides:"
	grep -Ev '^(N|O): ' "$T/tags" >&2 || true
else
	echo "ok: lintian --pedantic: no tag but the $(grep -c '^canaryd' "$SRC/cmake/deb/lintian-overrides") overridden in cmake/deb/lintian-overrides ($(($(date +%s) - start)) s)"
fi

if [ $failures != 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "release package checked: lintian clean"
