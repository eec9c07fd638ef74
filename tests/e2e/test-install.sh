#!/usr/bin/env bash
# Install and package (issues #8 and #17), without touching the machine's real root:
#  1. `DESTDIR=T/root cmake --install BUILD --prefix /usr`: the exact FHS tree (binaries, units
#     with ExecStart= in /usr/bin, sysusers/tmpfiles snippets, gzipped man pages equal to
#     docs/, docs and the example config, canaryctl's bash and zsh completion equal to
#     contrib/completion/, Debian's copyright, changelog.Debian.gz and lintian overrides),
#     nothing outside usr/; a second install with --prefix /opt/canaryd rewrites ExecStart= to
#     /opt/canaryd/bin;
#  2. `cpack -G DEB` (on the tree of step 1) into T: `dpkg-deb -I` (name, version from
#     cmake/deb/changelog, Depends: from dpkg-shlibdeps naming libcurl, libcjson, libyaml,
#     libsystemd, libc), `dpkg-deb -c` (same tree as step 1); the maintainer scripts are those
#     of cmake/deb/ and pass `sh -n` and shellcheck (where installed);
#  3. the maintainer scripts' systemd steps, run with stand-ins for systemctl, deb-systemd-helper
#     and deb-systemd-invoke that only record their arguments: nothing enabled or started on a
#     first installation, canaryd.service try-restarted on upgrade, nothing stopped by prerm on
#     upgrade and both units stopped on removal, deb-systemd-helper purge on purge;
#  4. `dpkg --root=T/dpkg --force-script-chrootless -i` (maintainer scripts honour $DPKG_ROOT):
#     the files land under T/dpkg, postinst creates user canaryd and /etc/canaryd there and
#     records the units in deb-systemd-helper's state; with the units enabled, the same
#     package again and then a later version install over it (the enablement stays); purge
#     removes the files, the enablement and that state, keeps var/lib/canaryd with a decision
#     journal in it, removes it with CANARYD_PURGE_STATE=yes, and removes it when empty.
#     Skipped when dpkg refuses (not root, old dpkg).
# The package's lintian checks are tests/e2e/test-lintian.sh's, on the release build.
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
	usr/share/doc/canaryd/changelog.Debian.gz
	usr/share/doc/canaryd/copyright
	usr/share/doc/canaryd/examples/canaryd.yaml.example
	usr/share/man/man1/canaryctl.1.gz
	usr/share/man/man5/canaryd.yaml.5.gz
	usr/share/lintian/overrides/canaryd
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
		version=$(dpkg-parsechangelog -l "$SRC/cmake/deb/changelog" -S Version 2>/dev/null ||
			sed -n '1s/^canaryd (\([^)]*\)).*/\1/p' "$SRC/cmake/deb/changelog")
		[ "$(field Version)" = "$version" ] ||
			fail "Version: '$(field Version)', cmake/deb/changelog's top entry $version"
		depends=$(field Depends)
		for lib in libc6 libcurl4 libcjson1 libyaml-0-2 libsystemd0 systemd; do
			if echo "$depends" | grep -Eq "(^|, )$lib( |,|$)"; then
				echo "ok: Depends: $lib"
			else
				fail "Depends: does not name $lib: '$depends'"
			fi
		done
		for script in postinst prerm postrm; do
			if ! dpkg-deb -I "$deb" "$script" >"$T/$script" 2>/dev/null; then
				fail "the package has no $script"
			elif ! cmp -s "$T/$script" "$SRC/cmake/deb/$script"; then
				fail "the package's $script is not cmake/deb/$script"
			elif ! sh -n "$T/$script"; then
				fail "$script: sh -n finds a syntax error"
			fi
		done
		if command -v shellcheck >/dev/null; then
			if shellcheck -s sh "$SRC"/cmake/deb/{postinst,prerm,postrm} >"$T/shellcheck.log" 2>&1; then
				echo "ok: the maintainer scripts pass sh -n and shellcheck"
			else
				fail "shellcheck on the maintainer scripts:"
				cat "$T/shellcheck.log" >&2
			fi
		else
			echo "ok: the maintainer scripts pass sh -n (shellcheck not installed)"
		fi
		# dpkg-deb -c: the same tree as the DESTDIR install.
		dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort >"$T/got"
		if diff -u "$T/expected" "$T/got" >"$T/diff"; then
			echo "ok: dpkg-deb -c: the expected files, nothing else"
		else
			fail "dpkg-deb -c differs from the expected tree (- missing, + extra):"
			grep '^[-+][^-+]' "$T/diff" >&2 || true
		fi

		# ------------------------------------------------- 3. the scripts' systemd steps
		# Run as on a systemd host (the test for /run/systemd/system pointed at T), with every
		# command they call that is not a shell builtin or coreutils replaced by a stand-in
		# that appends its name and arguments to T/calls. postrm purge runs with DPKG_ROOT set
		# to a scratch directory, so that its rmdir and rm cannot reach the host.
		S=$T/stubs
		mkdir -p "$S/bin" "$S/run-systemd" "$S/root"
		for cmd in systemctl deb-systemd-helper deb-systemd-invoke systemd-sysusers systemd-tmpfiles; do
			printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$cmd" "$T/calls" >"$S/bin/$cmd"
			chmod +x "$S/bin/$cmd"
		done
		# deb-systemd-helper: the units were never enabled (debian-installed, was-enabled fail)
		cat >>"$S/bin/deb-systemd-helper" <<-'EOS'
			case "$1" in debian-installed | was-enabled | --quiet) exit 1 ;; esac
		EOS
		for script in postinst prerm postrm; do
			sed "s#/run/systemd/system#$S/run-systemd#g" "$SRC/cmake/deb/$script" >"$S/$script"
		done
		# run_script NAME ARGS...: the calls it made, one line each, in T/calls.
		run_script() {
			local script=$1
			shift
			: >"$T/calls"
			PATH="$S/bin:$PATH" DPKG_ROOT=${STUB_ROOT:-} sh "$S/$script" "$@" >/dev/null 2>&1 ||
				fail "$script $* exited non-zero"
		}
		called() { grep -qx "$1" "$T/calls"; }
		run_script postinst configure
		if called 'systemctl --system daemon-reload' && ! grep -q 'deb-systemd-invoke\|helper enable' "$T/calls"; then
			echo "ok: postinst configure (first installation): daemon-reload, nothing enabled or started"
		else
			fail "postinst configure (first installation) made these calls: $(tr '\n' ';' <"$T/calls")"
		fi
		run_script postinst configure 0.0.9-1
		if called 'deb-systemd-invoke try-restart canaryd.service' &&
			called 'deb-systemd-helper update-state canaryd.socket'; then
			echo "ok: postinst configure OLDVERSION (upgrade): try-restart canaryd.service"
		else
			fail "postinst configure OLDVERSION (upgrade) did not try-restart canaryd.service: $(tr '\n' ';' <"$T/calls")"
		fi
		run_script prerm upgrade 0.2.0-1
		[ ! -s "$T/calls" ] || fail "prerm upgrade stops something: $(tr '\n' ';' <"$T/calls")"
		run_script prerm remove
		called 'deb-systemd-invoke stop canaryd.socket canaryd.service' ||
			fail "prerm remove does not stop both units: $(tr '\n' ';' <"$T/calls")"
		run_script postrm remove
		called 'systemctl --system daemon-reload' || fail "postrm remove does not daemon-reload"
		STUB_ROOT=$S/root run_script postrm purge
		called 'deb-systemd-helper purge canaryd.service canaryd.socket' ||
			fail "postrm purge does not forget the units' enablement: $(tr '\n' ';' <"$T/calls")"
		if [ $failures = 0 ]; then
			echo "ok: prerm stops on removal only, postrm purge calls deb-systemd-helper purge"
		fi

		# ---------------------------------------------------------------- 4. dpkg --root
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
			dsh=$R/var/lib/systemd/deb-systemd-helper-enabled
			if [ ! -f "$dsh/canaryd.service.dsh-also" ] || [ ! -f "$dsh/canaryd.socket.dsh-also" ]; then
				fail "postinst did not record the units in deb-systemd-helper's state ($dsh)"
			fi
			# The operator enables both units (what `systemctl enable` links).
			wants=$R/etc/systemd/system
			mkdir -p "$wants/multi-user.target.wants" "$wants/sockets.target.wants"
			ln -sf /usr/lib/systemd/system/canaryd.service "$wants/multi-user.target.wants/"
			ln -sf /usr/lib/systemd/system/canaryd.socket "$wants/sockets.target.wants/"
			# Upgrades: the same package again, then a later version (the package rebuilt with
			# VERSION+1 in its control file).
			dpkg-deb -R "$deb" "$T/up"
			sed -i "s/^Version: .*/Version: ${version}+1/" "$T/up/DEBIAN/control"
			dpkg-deb --root-owner-group -Zgzip -z1 -b "$T/up" "$T/up.deb" >/dev/null
			if dpkg_root -i "$deb" >>"$T/dpkg.log" 2>&1 && dpkg_root -i "$T/up.deb" >>"$T/dpkg.log" 2>&1 &&
				[ "$(dpkg-query --root="$R" -W -f='${Status} ${Version}' canaryd)" = "install ok installed ${version}+1" ]; then
				echo "ok: dpkg --root -i: reinstalled, then upgraded to ${version}+1"
			else
				fail "dpkg --root: upgrade failed: $(tail -n 5 "$T/dpkg.log")"
			fi
			if [ ! -L "$wants/multi-user.target.wants/canaryd.service" ] ||
				[ ! -L "$wants/sockets.target.wants/canaryd.socket" ]; then
				fail "the upgrade lost the units' enablement"
			fi
			# A decision journal in the state directory; purge keeps it.
			mkdir -p "$R/var/lib/canaryd"
			echo '{"decision":"promote"}' >"$R/var/lib/canaryd/cart-api.journal"
			if dpkg_root --purge canaryd >"$T/purge.log" 2>&1 && [ ! -e "$R/usr/bin/canaryd" ]; then
				echo "ok: dpkg --root --purge removed the package"
			else
				fail "dpkg --root --purge: $(tail -n 5 "$T/purge.log")"
			fi
			if [ -f "$R/var/lib/canaryd/cart-api.journal" ] &&
				grep -q 'purge keeps /var/lib/canaryd' "$T/purge.log"; then
				echo "ok: purge kept var/lib/canaryd/cart-api.journal, and said so"
			else
				fail "purge did not keep the decision journal (or did not say so): $(cat "$T/purge.log")"
			fi
			if [ -e "$wants/multi-user.target.wants/canaryd.service" ] ||
				[ -e "$wants/sockets.target.wants/canaryd.socket" ] || ls "$dsh"/canaryd.* >/dev/null 2>&1; then
				fail "purge left the units' enablement or deb-systemd-helper's state behind"
			else
				echo "ok: purge removed the units' enablement and deb-systemd-helper's state"
			fi
			[ ! -e "$R/etc/canaryd" ] || fail "purge left the empty etc/canaryd behind"
			# Told to, purge removes the state directory; an empty one goes anyway.
			if dpkg_root -i "$deb" >>"$T/dpkg.log" 2>&1 &&
				CANARYD_PURGE_STATE=yes dpkg_root --purge canaryd >>"$T/dpkg.log" 2>&1 &&
				[ ! -e "$R/var/lib/canaryd" ]; then
				echo "ok: purge with CANARYD_PURGE_STATE=yes removed var/lib/canaryd"
			else
				fail "purge with CANARYD_PURGE_STATE=yes: $(ls -A "$R/var/lib/canaryd" 2>&1)"
			fi
			mkdir -p "$R/var/lib/canaryd"
			if dpkg_root -i "$deb" >>"$T/dpkg.log" 2>&1 && dpkg_root --purge canaryd >"$T/purge.log" 2>&1 &&
				[ ! -e "$R/var/lib/canaryd" ] && ! grep -q 'purge keeps' "$T/purge.log"; then
				echo "ok: purge removed an empty var/lib/canaryd"
			else
				fail "purge with an empty var/lib/canaryd: $(cat "$T/purge.log")"
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
