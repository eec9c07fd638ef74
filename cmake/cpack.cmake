# Debian package (issue #8): cpack -G DEB --config BUILD/CPackConfig.cmake [-B OUTDIR]
#
# The package installs what cmake/install.cmake installs, with prefix /usr. Its Depends: line
# is computed by dpkg-shlibdeps (package dpkg-dev) from the binaries' shared libraries (libcurl,
# libcjson, libyaml, libsystemd, libc, and libasan/libubsan for a sanitizer build), plus systemd
# for sysusers/tmpfiles. The maintainer scripts in cmake/deb/ create the user and directories
# and reload systemd; they do not enable or start anything (the config must be written first).
# They honour $DPKG_ROOT, so `dpkg --root=DIR --force-script-chrootless -i` touches only DIR
# (tests/e2e/test-install.sh does exactly that).

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "canaryd")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "canaryd")
set(CPACK_PACKAGE_CONTACT "canaryd maintainers <canaryd@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "canary-analysis daemon for Istio with Datadog metrics")
set(CPACK_PACKAGE_DESCRIPTION
    "canaryd shifts traffic to a canary in steps by rewriting Istio VirtualService weights, \
judges the canary against the baseline on Datadog metrics at each step, and promotes, pauses \
or rolls back; every step is posted to Slack. canaryctl controls it.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT") # canaryd_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")

# Needs dpkg-shlibdeps (dpkg-dev, installed by scripts/deps.sh --test): without it cpack fails
# loudly rather than build a package that does not declare its libraries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/cmake/deb/postinst;${CMAKE_SOURCE_DIR}/cmake/deb/prerm;${CMAKE_SOURCE_DIR}/cmake/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_SOURCE_GENERATOR "") # no source package
include(CPack)
