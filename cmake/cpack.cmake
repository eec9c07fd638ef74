# Debian package (issues #8 and #17): cpack -G DEB --config BUILD/CPackConfig.cmake [-B OUTDIR]
# Build it from a RelWithDebInfo build (`build`): canaryd_VERSION_amd64.deb with stripped
# binaries, and canaryd-dbgsym_VERSION_amd64.ddeb with their debugging symbols
# (usr/lib/debug/.build-id/, found by gdb and debuginfod through the binaries' build IDs).
#
# The package installs what cmake/install.cmake installs, with prefix /usr, including
# usr/share/doc/canaryd/copyright (cmake/deb/copyright, machine-readable), changelog.Debian.gz
# (cmake/deb/changelog) and usr/share/lintian/overrides/canaryd (cmake/deb/lintian-overrides).
# Its version is the top entry of cmake/deb/changelog: PROJECT_VERSION-REVISION; a release
# bumps project(VERSION) and adds an entry, a packaging-only change adds an entry with the next
# revision. Depends: is computed by dpkg-shlibdeps (package dpkg-dev) from the binaries' shared
# libraries (libcurl, libcjson, libyaml, libsystemd, libc, and libasan/libubsan for a sanitizer
# build), plus systemd for sysusers/tmpfiles.
#
# The maintainer scripts in cmake/deb/ are those dh_installsystemd --no-enable --no-start writes
# (deb-systemd-helper, deb-systemd-invoke): the user and directories are created, nothing is
# enabled or started on installation (the config must be written first), an upgrade restarts
# canaryd.service if it was running, removal stops both units, and purge forgets their
# enablement but keeps /var/lib/canaryd (the decision journal) unless CANARYD_PURGE_STATE=yes.
# They honour $DPKG_ROOT, so `dpkg --root=DIR --force-script-chrootless -i` touches only DIR
# (tests/e2e/test-install.sh does exactly that). tests/e2e/test-lintian.sh packages the release
# build and fails on any lintian --pedantic tag that cmake/deb/lintian-overrides does not carry.

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "canaryd")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "canaryd")
set(CPACK_PACKAGE_CONTACT "canaryd maintainers <canaryd@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "canary-analysis daemon for Istio with Datadog metrics")
# Lines of at most 80 columns (Debian policy 5.6.13); CPack keeps the newlines.
set(CPACK_PACKAGE_DESCRIPTION
    "canaryd shifts traffic to a canary in steps by rewriting Istio VirtualService
weights, judges the canary against the baseline on Datadog metrics at each
step, and promotes, pauses or rolls back; every step is posted to Slack.
canaryctl controls it.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT") # canaryd_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
# Source: canaryd in canaryd and canaryd-dbgsym (fix-dbgsym.cmake): lintian then knows the two
# come from one source, and that usr/share/doc/canaryd-dbgsym -> canaryd is not foreign.
set(CPACK_DEBIAN_PACKAGE_SOURCE "canaryd")

# The Debian revision comes from the changelog's top entry, whose upstream part must be this
# project's version (tests/e2e/test-lintian.sh checks the two against each other too).
file(STRINGS "${CMAKE_SOURCE_DIR}/cmake/deb/changelog" _canaryd_changelog_top LIMIT_COUNT 1)
if(_canaryd_changelog_top MATCHES "^canaryd \\(([^)]+)-([^-)]+)\\) "
   AND CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  set(CPACK_DEBIAN_PACKAGE_RELEASE "${CMAKE_MATCH_2}")
else()
  message(WARNING "cmake/deb/changelog has no entry for ${PROJECT_VERSION} at the top "
                  "('${_canaryd_changelog_top}'): the package gets revision 0")
  set(CPACK_DEBIAN_PACKAGE_RELEASE "0")
endif()

# Needs dpkg-shlibdeps (dpkg-dev, installed by scripts/deps.sh --test): without it cpack fails
# loudly rather than build a package that does not declare its libraries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Strip the binaries (objcopy --strip-unneeded) into canaryd-dbgsym (.ddeb), keyed by build ID.
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
# Drop the .comment and .note sections as dh_strip does (lintian: binary-has-unneeded-section),
# in the staged tree before the package is made. .note.gnu.build-id stays: dbgsym needs it.
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_SOURCE_DIR}/cmake/deb/strip-sections.cmake")
# CPackDeb's .ddeb has broken md5sums and no copyright: repaired after the build.
set(CPACK_POST_BUILD_SCRIPTS "${CMAKE_SOURCE_DIR}/cmake/deb/fix-dbgsym.cmake")

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/cmake/deb/postinst;${CMAKE_SOURCE_DIR}/cmake/deb/prerm;${CMAKE_SOURCE_DIR}/cmake/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_SOURCE_GENERATOR "") # no source package
include(CPack)
