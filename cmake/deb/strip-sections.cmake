# CPACK_PRE_BUILD_SCRIPTS of the Debian package (cmake/cpack.cmake): remove the .comment and
# .note sections from the staged ELF binaries, as dh_strip does, before CPackDeb splits their
# debugging symbols into canaryd-dbgsym and strips them.
find_program(CANARYD_OBJCOPY objcopy)
if(NOT CANARYD_OBJCOPY)
  message(FATAL_ERROR "objcopy (binutils) is needed to package canaryd")
endif()
file(GLOB _canaryd_staged_bins "${CPACK_TEMPORARY_DIRECTORY}/usr/bin/*")
foreach(bin ${_canaryd_staged_bins})
  execute_process(COMMAND ${CANARYD_OBJCOPY} --remove-section=.comment --remove-section=.note
                          "${bin}" RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objcopy on ${bin}: ${err}")
  endif()
endforeach()
