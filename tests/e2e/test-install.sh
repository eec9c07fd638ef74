#!/usr/bin/env bash
# Install and package (issue #8), without touching the machine's real root:
#  1. `DESTDIR=T/root cmake --install BUILD --prefix /usr`: the exact FHS tree (binaries, units
#     with ExecStart= in /usr/bin, sysusers/tmpfiles snippets, gzipped man pages equal to
#     docs/, docs and the example config, canaryctl's bash and zsh completion equal to
#     contrib/completion/), nothing outside usr/; a second install with
#     --prefix /opt/canaryd rewrites ExecStart= to /opt/canaryd/bin;
#  2. `cpack -G DEB` (on the tree of step 1) into T: `dpkg-deb -I` (name, version, Depends:
#     from dpkg-shlibdeps naming libcurl, libcjson, libyaml, libsystemd, libc), `dpkg-deb -c`
#     (same tree as step 1);
#  3. `dpkg --root=T/dpkg --force-script-chrootless -i` (maintainer scripts honour $DPKG_ROOT):
#     the files land under T/dpkg, postinst creates user canaryd and /etc/canaryd there, and
#     `dpkg --purge` removes the files again. Skipped when dpkg refuses (not root, old dpkg).
# Exits non-zero on any failure; "SKIP" and 0 when there is no build or no cmake.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=$(realpath -m "${CANARYD_BUILD_DIR:-$SRC/build-asan}")

command -v cmake >/dev/null || { echo "SKIP: cmake not installed"; exit 0; }
if [ ! -x "$BUILD/canaryd" ] || [ ! -f "$BUILD/cmake_install.cmake" ]; then
	echo "SKIP: no build in $BUILD"
	exit 0
fi

T=$(mktemp -d -t canaryd-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# The tree every install must produce (relative to the root; directories not listed).
cat >"$T/expected" <<-'EOF'
	usr/bin/canaryctl
	usr/bin/canaryd
	usr/lib/systemd/system/canaryd.service
	usr/lib/systemd/system/canaryd.socket
	usr/lib/sysusers.d/canaryd.conf
	usr/lib/tmpfiles.d/canaryd.conf
	usr/share/bash-completion/completions/canaryctl
	usr/share/doc/canaryd/README.md
	usr/share/doc/canaryd/examples/canaryd.yaml.example
	usr/share/man/man1/canaryctl.1.gz
	usr/share/man/man5/canaryd.yaml.5.gz
	usr/share/man/man8/canaryd.8.gz
	usr/share/zsh/vendor-completions/_canaryctl
EOF
for f in "$SRC"/docs/*.md; do echo "usr/share/doc/canaryd/$(basename "$f")"; done >>"$T/expected"
sort -o "$T/expected" "$T/expected"

# check_tree ROOT WHAT: ROOT holds exactly the expected files, with the right contents.
check_tree() {
	local root=$1 what=$2
	(cd "$root" && find . \( -type f -o -type l \) | sed 's#^\./##' | sort) >"$T/got"
	if diff -u "$T/expected" "$T/got" >"$T/diff"; then
		echo "ok: $what: the $(wc -l <"$T/expected") expected files, nothing else"
	else
		fail "$what: the tree differs from the expected one (- missing, + extra):"
		grep '^[-+][^-+]' "$T/diff" >&2 || true
	fi
	local f
	for f in canaryd canaryctl; do
		[ -x "$root/usr/bin/$f" ] || fail "$what: usr/bin/$f is not executable"
	done
	if [ -x "$root/usr/bin/canaryd" ] &&
		! "$root/usr/bin/canaryd" --version >/dev/null 2>&1; then
		fail "$what: the installed canaryd does not run"
	fi
	local unit=$root/usr/lib/systemd/system/canaryd.service
	if [ -f "$unit" ]; then
		grep -qx 'ExecStart=/usr/bin/canaryd --config /etc/canaryd/canaryd.yaml' "$unit" ||
			fail "$what: canaryd.service's ExecStart= is not /usr/bin/canaryd"
		cmp -s "$unit" "$SRC/systemd/canaryd.service" ||
			fail "$what: canaryd.service differs from systemd/canaryd.service"
	fi
	cmp -s "$root/usr/share/bash-completion/completions/canaryctl" \
		"$SRC/contrib/completion/canaryctl.bash" ||
		fail "$what: completions/canaryctl differs from contrib/completion/canaryctl.bash"
	cmp -s "$root/usr/share/zsh/vendor-completions/_canaryctl" "$SRC/contrib/completion/_canaryctl" ||
		fail "$what: vendor-completions/_canaryctl differs from contrib/completion/_canaryctl"
	cmp -s "$root/usr/lib/sysusers.d/canaryd.conf" "$SRC/systemd/canaryd.sysusers" ||
		fail "$what: sysusers.d/canaryd.conf differs from systemd/canaryd.sysusers"
	cmp -s "$root/usr/lib/tmpfiles.d/canaryd.conf" "$SRC/systemd/canaryd.tmpfiles" ||
		fail "$what: tmpfiles.d/canaryd.conf differs from systemd/canaryd.tmpfiles"
	local page src sect
	for page in canaryd.8 canaryctl.1 canaryd.yaml.5; do
		sect=${page##*.}
		src=$root/usr/share/man/man$sect/$page.gz
		if [ -f "$src" ] && gzip -dc "$src" | cmp -s - "$SRC/docs/$page"; then
			:
		elif [ "$SRC/docs/$page" -nt "$BUILD/man/$page.gz" ]; then
			echo "note: docs/$page changed after the build; rebuild to check man$sect/$page.gz"
		else
			fail "$what: man$sect/$page.gz is not docs/$page gzipped"
		fi
	done
	cmp -s "$root/usr/share/doc/canaryd/examples/canaryd.yaml.example" \
		"$SRC/config/canaryd.yaml.example" || fail "$what: the example config differs"
	if [ $failures = 0 ]; then echo "ok: $what: contents match the sources"; fi
}

# ---------------------------------------------------------------- 1. cmake --install
if ! DESTDIR=$T/root cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1; then
	fail "cmake --install failed:"
	cat "$T/install.log" >&2
fi
check_tree "$T/root" "DESTDIR install (prefix /usr)"

if DESTDIR=$T/opt cmake --install "$BUILD" --prefix /opt/canaryd >"$T/install-opt.log" 2>&1; then
	unit=$T/opt/opt/canaryd/lib/systemd/system/canaryd.service
	if grep -qx 'ExecStart=/opt/canaryd/bin/canaryd --config /etc/canaryd/canaryd.yaml' "$unit" &&
		grep -qx 'ExecReload=/opt/canaryd/bin/canaryd --check-config --config /etc/canaryd/canaryd.yaml' "$unit"; then
		echo "ok: --prefix /opt/canaryd: the unit runs /opt/canaryd/bin/canaryd"
	else
		fail "--prefix /opt/canaryd: ExecStart=/ExecReload= not rewritten: $(grep '^Exec' "$unit" || true)"
	fi
	[ -x "$T/opt/opt/canaryd/bin/canaryd" ] || fail "--prefix /opt/canaryd: no bin/canaryd"
	for top in "$T"/opt/*; do
		[ "$top" = "$T/opt/opt" ] || fail "--prefix /opt/canaryd wrote outside /opt: $top"
	done
else
	fail "cmake --install --prefix /opt/canaryd failed: $(cat "$T/install-opt.log")"
fi

# ---------------------------------------------------------------- 2. cpack -G DEB
if ! command -v cpack >/dev/null || ! command -v dpkg-deb >/dev/null; then
	echo "note: cpack or dpkg-deb missing; package checks skipped"
else
	# From the tree of step 1 rather than through cpack's own install, which first rebuilds
	# the project ("preinstall"): a test must not build, nor race with edits to the tree. The
	# package's metadata, Depends: (dpkg-shlibdeps) and maintainer scripts come from
	# cmake/cpack.cmake exactly as with a plain `cpack -G DEB` in the build directory.
	if ! (cd "$T" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/pkg" \
		-D CPACK_INSTALL_CMAKE_PROJECTS= -D "CPACK_INSTALLED_DIRECTORIES=$T/root;.") \
		>"$T/cpack.log" 2>&1; then
		fail "cpack -G DEB failed:"
		tail -n 30 "$T/cpack.log" >&2
	fi
	deb=$(ls "$T"/pkg/canaryd_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		fail "cpack made no canaryd_*.deb"
	else
		echo "ok: cpack made $(basename "$deb")"
		dpkg-deb -I "$deb" >"$T/info"
		field() { sed -n "s/^ $1: //p" "$T/info"; }
		[ "$(field Package)" = canaryd ] || fail "Package: '$(field Package)'"
		version=$(sed -n 's/^project(canaryd VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
		[ "$(field Version)" = "$version" ] || fail "Version: '$(field Version)', project $version"
		depends=$(field Depends)
		for lib in libc6 libcurl4 libcjson1 libyaml-0-2 libsystemd0 systemd; do
			if echo "$depends" | grep -Eq "(^|, )$lib( |,|$)"; then
				echo "ok: Depends: $lib"
			else
				fail "Depends: does not name $lib: '$depends'"
			fi
		done
		for script in postinst prerm postrm; do
			dpkg-deb -I "$deb" "$script" >/dev/null 2>&1 || fail "the package has no $script"
		done
		# dpkg-deb -c: the same tree as the DESTDIR install.
		dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort >"$T/got"
		if diff -u "$T/expected" "$T/got" >"$T/diff"; then
			echo "ok: dpkg-deb -c: the expected files, nothing else"
		else
			fail "dpkg-deb -c differs from the expected tree (- missing, + extra):"
			grep '^[-+][^-+]' "$T/diff" >&2 || true
		fi

		# ---------------------------------------------------------------- 3. dpkg --root
		R=$T/dpkg
		mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log" "$R/etc"
		: >"$R/var/lib/dpkg/status"
		: >"$R/var/lib/dpkg/available"
		host_etc=$(ls -d /etc/canaryd 2>/dev/null || true)
		host_passwd=$(cat /etc/passwd /etc/group | md5sum)
		dpkg_root() {
			dpkg --root="$R" --log="$R/var/log/dpkg.log" --force-script-chrootless \
				--force-depends --force-not-root --no-triggers "$@"
		}
		if dpkg_root -i "$deb" >"$T/dpkg.log" 2>&1; then
			echo "ok: dpkg --root -i installed the package into a scratch root"
			dpkg-query --root="$R" -W -f='${Status}\n' canaryd | grep -q 'install ok installed' ||
				fail "dpkg --root: canaryd is not 'install ok installed'"
			(cd "$R" && find usr \( -type f -o -type l \) | sort) >"$T/got"
			diff -q "$T/expected" "$T/got" >/dev/null ||
				fail "dpkg --root: the installed files differ from the expected tree"
			if command -v systemd-sysusers >/dev/null; then
				grep -q '^canaryd:' "$R/etc/passwd" 2>/dev/null &&
					echo "ok: postinst created user canaryd in the scratch root" ||
					fail "postinst did not create user canaryd under \$DPKG_ROOT"
			fi
			if [ "$(id -u)" = 0 ] && command -v systemd-tmpfiles >/dev/null; then
				[ "$(stat -c %a "$R/etc/canaryd/credentials" 2>/dev/null)" = 700 ] &&
					echo "ok: postinst created /etc/canaryd/credentials 0700 in the scratch root" ||
					fail "postinst did not create etc/canaryd/credentials 0700 under \$DPKG_ROOT"
			fi
			if dpkg_root --purge canaryd >>"$T/dpkg.log" 2>&1 && [ ! -e "$R/usr/bin/canaryd" ]; then
				echo "ok: dpkg --root --purge removed it"
			else
				fail "dpkg --root --purge: $(tail -n 5 "$T/dpkg.log")"
			fi
		else
			echo "note: dpkg --root -i not possible here ($(tail -n 1 "$T/dpkg.log")); contents checked with dpkg-deb only"
		fi
		[ "$(ls -d /etc/canaryd 2>/dev/null || true)" = "$host_etc" ] ||
			fail "the package test changed the host's /etc/canaryd"
		[ "$(cat /etc/passwd /etc/group | md5sum)" = "$host_passwd" ] ||
			fail "the package test changed the host's /etc/passwd or /etc/group"
	fi
fi

if [ $failures != 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "install tree and package checked"
