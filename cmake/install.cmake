# Installation into FHS places (issue #8). DESTDIR is honoured, and the prefix may be changed at
# install time; for a system service install with prefix /usr:
#
#   cmake --install build --prefix /usr                  # or: DESTDIR=/tmp/root cmake --install ...
#
#   PREFIX/bin/canaryd, PREFIX/bin/canaryctl
#   PREFIX/lib/systemd/system/canaryd.service, canaryd.socket   (ExecStart= names PREFIX/bin)
#   PREFIX/lib/sysusers.d/canaryd.conf, PREFIX/lib/tmpfiles.d/canaryd.conf
#   PREFIX/share/man/man1/canaryctl.1.gz, man5/canaryd.yaml.5.gz, man8/canaryd.8.gz
#   PREFIX/share/doc/canaryd/README.md, *.md, examples/canaryd.yaml.example
#   PREFIX/share/doc/canaryd/copyright, changelog.Debian.gz    (cmake/deb/: Debian's names)
#   PREFIX/share/lintian/overrides/canaryd                      (cmake/deb/lintian-overrides)
#   PREFIX/share/bash-completion/completions/canaryctl, share/zsh/vendor-completions/_canaryctl
#
# Nothing is installed into /etc: canaryd.tmpfiles (and the unit's ConfigurationDirectory=)
# create /etc/canaryd, and the operator writes canaryd.yaml from the example.
# The man pages are hand-written roff in docs/; the build copies them into BUILD/man, gzipped
# (-9n, reproducible) unless CANARYD_MAN_GZIP is OFF; so is the Debian changelog, always. tests/e2e/test-install.sh checks the tree.

include(GNUInstallDirs)

option(CANARYD_MAN_GZIP "Install the man pages gzip-compressed" ON)
set(CANARYD_SYSTEMD_UNIT_DIR "lib/systemd/system"
    CACHE STRING "systemd system unit directory (relative: under the install prefix)")
set(CANARYD_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "sysusers.d directory (under the prefix)")
set(CANARYD_TMPFILES_DIR "lib/tmpfiles.d" CACHE STRING "tmpfiles.d directory (under the prefix)")
set(CANARYD_DOC_DIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/canaryd")

install(TARGETS canaryd canaryctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# ---- shell completion of canaryctl (contrib/completion), in Debian's places: bash-completion
# loads completions/NAME on demand, zsh's Debian fpath holds vendor-completions.
install(FILES ${CMAKE_SOURCE_DIR}/contrib/completion/canaryctl.bash
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions RENAME canaryctl)
install(FILES ${CMAKE_SOURCE_DIR}/contrib/completion/_canaryctl
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/zsh/vendor-completions)

# ---- man pages: docs/<name>.<section> -> BUILD/man/<name>.<section>[.gz]
set(CANARYD_MAN_PAGES canaryd.8 canaryctl.1 canaryd.yaml.5)
find_program(GZIP_PROGRAM gzip)
if(CANARYD_MAN_GZIP AND NOT GZIP_PROGRAM)
  message(WARNING "gzip not found: man pages are installed uncompressed")
endif()
set(CANARYD_MAN_OUTPUTS)
foreach(page ${CANARYD_MAN_PAGES})
  set(in ${CMAKE_SOURCE_DIR}/docs/${page})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  if(CANARYD_MAN_GZIP AND GZIP_PROGRAM)
    set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
    add_custom_command(OUTPUT ${out} COMMAND ${CMAKE_COMMAND} -E make_directory man
                       COMMAND ${GZIP_PROGRAM} -9nc ${in} > ${out} DEPENDS ${in}
                       WORKING_DIRECTORY ${CMAKE_BINARY_DIR} VERBATIM)
  else()
    set(out ${CMAKE_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out} COMMAND ${CMAKE_COMMAND} -E copy ${in} ${out}
                       DEPENDS ${in} VERBATIM)
  endif()
  list(APPEND CANARYD_MAN_OUTPUTS ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
# ---- Debian's changelog.Debian.gz (always gzip -9n: Debian policy 12.7), built with the pages.
if(GZIP_PROGRAM)
  set(CANARYD_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/man/changelog.Debian.gz)
  add_custom_command(OUTPUT ${CANARYD_CHANGELOG_GZ} COMMAND ${CMAKE_COMMAND} -E make_directory man
                     COMMAND ${GZIP_PROGRAM} -9nc ${CMAKE_SOURCE_DIR}/cmake/deb/changelog >
                             ${CANARYD_CHANGELOG_GZ}
                     DEPENDS ${CMAKE_SOURCE_DIR}/cmake/deb/changelog
                     WORKING_DIRECTORY ${CMAKE_BINARY_DIR} VERBATIM)
  list(APPEND CANARYD_MAN_OUTPUTS ${CANARYD_CHANGELOG_GZ})
  install(FILES ${CANARYD_CHANGELOG_GZ} DESTINATION ${CANARYD_DOC_DIR})
else()
  message(WARNING "gzip not found: changelog.Debian.gz is not installed")
endif()
add_custom_target(man ALL DEPENDS ${CANARYD_MAN_OUTPUTS})

# ---- systemd units; ExecStart=/usr/bin/canaryd is rewritten to the install-time bindir.
install(CODE "set(CANARYD_UNIT_SOURCE \"${CMAKE_SOURCE_DIR}/systemd\")
set(CANARYD_UNIT_STAGE \"${CMAKE_BINARY_DIR}/install-stage\")
set(CANARYD_BINDIR_REL \"${CMAKE_INSTALL_BINDIR}\")
set(CANARYD_UNIT_DIR_REL \"${CANARYD_SYSTEMD_UNIT_DIR}\")")
install(CODE [==[
  if(IS_ABSOLUTE "${CANARYD_BINDIR_REL}")
    set(_canaryd_bindir "${CANARYD_BINDIR_REL}")
  else()
    set(_canaryd_bindir "${CMAKE_INSTALL_PREFIX}/${CANARYD_BINDIR_REL}")
  endif()
  if(IS_ABSOLUTE "${CANARYD_UNIT_DIR_REL}")
    set(_canaryd_unitdir "${CANARYD_UNIT_DIR_REL}")
  else()
    set(_canaryd_unitdir "${CMAKE_INSTALL_PREFIX}/${CANARYD_UNIT_DIR_REL}")
  endif()
  file(READ "${CANARYD_UNIT_SOURCE}/canaryd.service" _canaryd_unit)
  string(REPLACE "/usr/bin/canaryd " "${_canaryd_bindir}/canaryd " _canaryd_unit
                 "${_canaryd_unit}")
  file(WRITE "${CANARYD_UNIT_STAGE}/canaryd.service" "${_canaryd_unit}")
  file(INSTALL DESTINATION "${_canaryd_unitdir}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${CANARYD_UNIT_STAGE}/canaryd.service" "${CANARYD_UNIT_SOURCE}/canaryd.socket")
]==])
install(FILES systemd/canaryd.sysusers DESTINATION ${CANARYD_SYSUSERS_DIR} RENAME canaryd.conf)
install(FILES systemd/canaryd.tmpfiles DESTINATION ${CANARYD_TMPFILES_DIR} RENAME canaryd.conf)

# ---- documentation and the example configuration
file(GLOB CANARYD_DOCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${CANARYD_DOCS} DESTINATION ${CANARYD_DOC_DIR})
install(FILES config/canaryd.yaml.example DESTINATION ${CANARYD_DOC_DIR}/examples)
# Debian's copyright file (machine-readable; the license's text is LICENSE) and the lintian
# overrides of the package, each with the reason (cmake/cpack.cmake).
install(FILES cmake/deb/copyright DESTINATION ${CANARYD_DOC_DIR})
install(FILES cmake/deb/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
        RENAME canaryd)
