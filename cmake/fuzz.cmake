# Fuzzing, two ways from the same sources tests/fuzz/fuzz-<t>.c:
#
#   -DCANARYD_FUZZ=ON (clang): every object gets -fsanitize=fuzzer-no-link,address,undefined and
#   each target links with -fsanitize=fuzzer into the libFuzzer executable fuzz-<t>
#   (scripts/fuzz.sh runs them).
#
#   any other build (gcc, usually with CANARYD_SANITIZE): each target is linked with
#   tests/fuzz/replay-main.c into replay-<t>, and the ctest test fuzz-regress/<t> (LABELS
#   fuzz-regress) replays the seeds and past crashers in tests/fuzz/corpus/<t>/.
#
# Included before the libraries are defined, so that the flags below reach every object.

file(GLOB CANARYD_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-*.c)

if(CANARYD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CANARYD_FUZZ needs clang (libFuzzer): CC=clang cmake ... "
                        "(compiler is ${CMAKE_C_COMPILER_ID})")
  endif()
  # Aborting on the first UBSan report is what makes libFuzzer see it as a crash.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  # hot inner loops left uninstrumented for coverage (the file says which and why)
  add_compile_options(
    -fsanitize-coverage-ignorelist=${CMAKE_SOURCE_DIR}/tests/fuzz/coverage-ignore.txt)
  add_link_options(-fsanitize=address,undefined)
  # clang 14 warns where gcc 12 does not: a float constant such as NAN (a float) passed or
  # assigned to a double is an implicit promotion under -Wdouble-promotion in clang only. This
  # is harmless (the value is exact), so the fuzz build does not fail on it.
  add_compile_options(-Wno-double-promotion)
endif()

# Assertions in the targets are the invariants: keep them in every build type.
set(CANARYD_FUZZ_TARGET_OPTIONS -UNDEBUG)

# CANARYD_FUZZ=ON: one libFuzzer executable per target.
function(canaryd_add_fuzz_targets)
  foreach(src ${CANARYD_FUZZ_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE ${CANARYD_FUZZ_TARGET_OPTIONS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE canaryd-io)
  endforeach()
endfunction()

# Normal build: one replay executable and one fuzz-regress ctest test per target. A target
# without a corpus directory fails its test on purpose.
function(canaryd_add_fuzz_replay_tests)
  add_library(canaryd-fuzz-replay-main OBJECT ${CMAKE_SOURCE_DIR}/tests/fuzz/replay-main.c)
  foreach(src ${CANARYD_FUZZ_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    string(REPLACE "fuzz-" "" short ${name})
    add_executable(replay-${short} ${src} $<TARGET_OBJECTS:canaryd-fuzz-replay-main>)
    target_compile_options(replay-${short} PRIVATE ${CANARYD_FUZZ_TARGET_OPTIONS})
    target_link_libraries(replay-${short} PRIVATE canaryd-io)
    add_test(NAME fuzz-regress/${short}
             COMMAND replay-${short} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${short})
    set_tests_properties(fuzz-regress/${short} PROPERTIES LABELS fuzz-regress TIMEOUT 60
                         ENVIRONMENT "${CANARYD_TEST_ENV}")
  endforeach()
endfunction()
