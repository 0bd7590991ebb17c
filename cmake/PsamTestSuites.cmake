# One ctest test per GoogleTest suite of a test executable (instead of one per test, as
# gtest_discover_tests makes): every process start loads LibTorch's operator registry, about
# 0.7 s of CPU, which over some 650 tests was a third of the suite's time. ctest -R still selects
# by suite name (Golden, ASan., ...); a failing suite's log names the failing tests.
#
# psam_add_test_suites(TARGET [PREFIX p] [ENVIRONMENT "A=1;B=2"] [SPLIT suite...] [LONG suite...])
# in a CMakeLists.txt registers a file that ctest runs before the tests (TEST_INCLUDE_FILES): it
# lists the executable's suites (again only when the executable changed) and adds their tests. A
# SPLIT suite (of independent long tests) gets one ctest test per test instead; SPLIT and LONG
# suites start before the others, so that no long one is left running alone at the end.
function(psam_add_test_suites target)
  cmake_parse_arguments(ARG "" "PREFIX" "ENVIRONMENT;SPLIT;LONG" ${ARGN})
  set(listing "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites_include.cmake")
  file(GENERATE OUTPUT "${include_file}" CONTENT "
set(PSAM_EXE [==[$<TARGET_FILE:${target}>]==])
set(PSAM_LISTING [==[${listing}]==])
set(PSAM_PREFIX [==[${ARG_PREFIX}]==])
set(PSAM_WORKDIR [==[${PROJECT_SOURCE_DIR}]==])
set(PSAM_ENVIRONMENT [==[${ARG_ENVIRONMENT}]==])
set(PSAM_SPLIT [==[${ARG_SPLIT}]==])
set(PSAM_LONG [==[${ARG_LONG}]==])
set(PSAM_INCLUDE_FILE [==[${include_file}]==])
include([==[${PROJECT_SOURCE_DIR}/cmake/PsamTestSuitesAtTestTime.cmake]==])
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
