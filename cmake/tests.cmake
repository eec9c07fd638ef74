# Unit tests: every tests/unit/test-<module>.c is one cmocka executable.
# End-to-end tests: every tests/e2e/test-<name>.sh runs the real binaries against the sandbox.
# Fuzz corpora are replayed by the fuzz preset (tests/fuzz), not here.

if(NOT CMOCKA_FOUND)
  message(WARNING "cmocka not found: unit tests are not built")
endif()

set(CANARYD_TEST_ENV
    "CANARYD_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "CANARYD_BUILD_DIR=${CMAKE_BINARY_DIR}"
    "CANARYD_FIXTURES=${CMAKE_SOURCE_DIR}/tests/data/fixtures"
    "ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# Helpers shared by the unit tests (tests/unit/*.c that are not test-*.c), linked into each.
if(CMOCKA_FOUND)
  add_library(canaryd-testutil STATIC tests/unit/fake-http.c)
  target_link_libraries(canaryd-testutil PUBLIC canaryd-io PkgConfig::CMOCKA)
endif()

file(GLOB UNIT_TESTS CONFIGURE_DEPENDS tests/unit/test-*.c)
foreach(src ${UNIT_TESTS})
  if(NOT CMOCKA_FOUND)
    break()
  endif()
  get_filename_component(name ${src} NAME_WE)
  string(REPLACE "test-" "" short ${name})
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE canaryd-testutil canaryd-daemon canaryd-io
                        PkgConfig::CMOCKA)
  add_test(NAME unit/${short} COMMAND ${name})
  set_tests_properties(unit/${short} PROPERTIES LABELS unit ENVIRONMENT "${CANARYD_TEST_ENV}"
                       WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/data)
endforeach()

file(GLOB E2E_TESTS CONFIGURE_DEPENDS tests/e2e/test-*.sh)
foreach(src ${E2E_TESTS})
  get_filename_component(name ${src} NAME_WE)
  string(REPLACE "test-" "" short ${name})
  add_test(NAME e2e/${short} COMMAND bash ${src})
  set_tests_properties(e2e/${short} PROPERTIES LABELS e2e TIMEOUT 180
                       ENVIRONMENT "${CANARYD_TEST_ENV}")
endforeach()
# The chaos test restarts an ASan daemon 32 times (16 per Slack mode, ~90 s on two cores): alone, it neither slows the
# timing of other end-to-end tests nor is slowed by them. It fails a round stuck for 45 s itself; 600 s leaves a
# loaded machine room for all 32 restarts (CHAOS_KILLS=32 per mode took 175 s a mode at a load of 5 on two cores).
if(TEST e2e/chaos)
  set_tests_properties(e2e/chaos PROPERTIES RUN_SERIAL TRUE TIMEOUT 600)
endif()
# Network chaos runs rollouts for 40 s (longer, up to 120 s, until chaos reached every service)
# under stalls, delays and trickles of up to a few seconds against the daemon's timeouts (~90 s):
# alone, so that a loaded machine does not add its own.
if(TEST e2e/network-chaos)
  set_tests_properties(e2e/network-chaos PROPERTIES RUN_SERIAL TRUE TIMEOUT 300)
endif()
# The package as it ships is made from the release build, not a sanitizer build: this one if it
# is a release build, else `build` beside it (scripts/test.sh builds both). Most of its ~40 s is
# lintian.
if(TEST e2e/lintian)
  if(CANARYD_SANITIZE)
    set(_canaryd_release_build "${CMAKE_SOURCE_DIR}/build")
  else()
    set(_canaryd_release_build "${CMAKE_BINARY_DIR}")
  endif()
  set_tests_properties(e2e/lintian PROPERTIES TIMEOUT 300 ENVIRONMENT
                       "${CANARYD_TEST_ENV};CANARYD_RELEASE_BUILD_DIR=${_canaryd_release_build}")
endif()
# The load test drives 500 canaries with an ASan daemon (~80 s on two cores): alone too.
if(TEST e2e/load)
  set_tests_properties(e2e/load PROPERTIES RUN_SERIAL TRUE TIMEOUT 300)
endif()

find_program(CLANG_FORMAT clang-format)
if(CLANG_FORMAT)
  add_test(NAME lint/clang-format COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/check-format.sh)
  set_tests_properties(lint/clang-format PROPERTIES LABELS lint)
endif()

# Header layering and include cycles (scripts/check-includes.py); the build enforces the same
# for sources through CANARYD_PURE and CANARYD_CORE.
find_program(PYTHON3_FOR_LINT python3)
if(PYTHON3_FOR_LINT)
  add_test(NAME lint/includes COMMAND ${PYTHON3_FOR_LINT} ${CMAKE_SOURCE_DIR}/scripts/check-includes.py)
  set_tests_properties(lint/includes PROPERTIES LABELS lint)
  # Call cycles between the files of a layer (daemon/ above all: main.c is the only file that
  # may call everything), from scripts/code-shape.py.
  add_test(NAME lint/call-cycles COMMAND ${PYTHON3_FOR_LINT} ${CMAKE_SOURCE_DIR}/scripts/code-shape.py --check-cycles)
  set_tests_properties(lint/call-cycles PROPERTIES LABELS lint)
endif()

# The sandbox's realistic series generator (tests/sandbox/sandboxlib/series.py): mean, sd,
# autocorrelation, Poisson counts on long series; about a second, no daemon.
find_program(PYTHON3 python3)
if(PYTHON3)
  add_test(NAME sandbox/series COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/sandbox/test_series.py)
  set_tests_properties(sandbox/series PROPERTIES LABELS sandbox TIMEOUT 30)
  # The PagerDuty emulation (sandboxlib/pagerduty.py) through a sandbox serving it alone: a few
  # seconds, no daemon.
  add_test(NAME sandbox/pagerduty COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/sandbox/test_pagerduty.py)
  set_tests_properties(sandbox/pagerduty PROPERTIES LABELS sandbox TIMEOUT 60)
  # The Datadog events emulation (sandboxlib/datadog_events.py), the same way.
  add_test(NAME sandbox/datadog-events COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/sandbox/test_datadog_events.py)
  set_tests_properties(sandbox/datadog-events PROPERTIES LABELS sandbox TIMEOUT 60)
  # The network faults (delay, stall, truncate, reset, slow, mid-stream on watches, chaos mode)
  # seen by raw http.client connections: ~15 s, no daemon.
  add_test(NAME sandbox/network-faults COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/sandbox/test_network_faults.py)
  set_tests_properties(sandbox/network-faults PROPERTIES LABELS sandbox TIMEOUT 60)
endif()

# bench/quality --smoke: 8 rollouts of realistic series through the real daemon in one run
# (~20 s; fails on a daemon crash, a rollout without an outcome, or a window whose points differ
# from the offline series).
if(PYTHON3)
  add_test(NAME bench/smoke COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/bench/quality --smoke
                                    --build ${CMAKE_BINARY_DIR})
  set_tests_properties(bench/smoke PROPERTIES LABELS bench-smoke TIMEOUT 90
                       ENVIRONMENT "${CANARYD_TEST_ENV}")
endif()
# The report test drives three rollbacks and loads a page in headless Chromium (~45 s).
if(TEST e2e/report)
  set_tests_properties(e2e/report PROPERTIES TIMEOUT 120)
endif()
