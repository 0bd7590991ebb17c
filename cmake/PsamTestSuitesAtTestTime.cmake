# Included by ctest (see PsamTestSuites.cmake): adds one test per GoogleTest suite of PSAM_EXE
# (per test for the suites in PSAM_SPLIT), listing the suites again only when the executable or
# these rules are newer than the listing.
if(NOT EXISTS "${PSAM_EXE}")
  add_test([==[${PSAM_PREFIX}NOT_BUILT]==] "${CMAKE_COMMAND}" -E false)
  return()
endif()
if(NOT EXISTS "${PSAM_LISTING}" OR "${PSAM_EXE}" IS_NEWER_THAN "${PSAM_LISTING}" OR
   "${PSAM_INCLUDE_FILE}" IS_NEWER_THAN "${PSAM_LISTING}" OR
   "${CMAKE_CURRENT_LIST_FILE}" IS_NEWER_THAN "${PSAM_LISTING}")
  # The first start on a fresh machine reads a pip torch's CUDA libraries (gigabytes) cold.
  execute_process(COMMAND "${PSAM_EXE}" --gtest_list_tests
                  WORKING_DIRECTORY "${PSAM_WORKDIR}"
                  OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE rc TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PSAM_EXE} --gtest_list_tests failed (${rc}): ${errors}")
  endif()
  set(tests "")
  set(suite "")
  set(split -1)
  string(REPLACE "\n" ";" lines "${listing}")
  foreach(line IN LISTS lines)
    # A suite line starts in column 0 and ends its name with '.' (a typed or parameterised
    # suite adds "  # TypeParam = ..." after it); its tests follow, indented.
    if(line MATCHES "^([^ #][^ ]*)\\.")
      set(suite "${CMAKE_MATCH_1}")
      # (list(FIND): ctest's script mode has no if(IN_LIST))
      list(FIND PSAM_SPLIT "${suite}" split)
      list(FIND PSAM_LONG "${suite}" long)
      if(split GREATER -1)
        continue()
      endif()
      set(name "${suite}")
      set(filter "${suite}.*")
    elseif(line MATCHES "^  ([^ #]+)" AND split GREATER -1)
      set(name "${suite}.${CMAKE_MATCH_1}")
      set(filter "${name}")
    else()
      continue()
    endif()
    string(APPEND tests "add_test([==[${PSAM_PREFIX}${name}]==] [==[${PSAM_EXE}]==] "
                        "[==[--gtest_filter=${filter}]==] --gtest_also_run_disabled_tests)\n"
                        "set_tests_properties([==[${PSAM_PREFIX}${name}]==] PROPERTIES "
                        "WORKING_DIRECTORY [==[${PSAM_WORKDIR}]==])\n")
    if(split GREATER -1 OR long GREATER -1)
      # Long tests start first, so that none is left running alone at the end.
      string(APPEND tests "set_tests_properties([==[${PSAM_PREFIX}${name}]==] PROPERTIES "
                          "COST 1000)\n")
    endif()
    if(PSAM_ENVIRONMENT)
      string(APPEND tests "set_tests_properties([==[${PSAM_PREFIX}${name}]==] PROPERTIES "
                          "ENVIRONMENT [==[${PSAM_ENVIRONMENT}]==])\n")
    endif()
  endforeach()
  file(WRITE "${PSAM_LISTING}" "${tests}")
endif()
include("${PSAM_LISTING}")
