# scale: the scaling driver mpk-scale (bench/scaling), its regression check
# and the RESULTS.md pipeline (scripts/make-results, scripts/render-results).
#   scale.stats     the check's statistics on synthetic samples (unit)
#   scale.smoke     a tiny sweep: JSON and CSV, derived metrics, rendering
#                   into a temporary directory, bad options (bench-smoke)
#   scale.baseline  --baseline / --compare / --compare-micro on synthetic
#                   runs: verdicts, exit codes, provenance mismatch
#   scale.rounds    rounds in processes, the JSON fields, A/B with two
#                   copies of one binary, --max-time (bench-smoke)
#   scale.results   scripts/make-results --quick end to end (bench-smoke)
#   scale.render    scripts/render-results on a fixed input: intervals,
#                   % of limit, oversubscription, efficiency > 100% (unit)
#   scale.eval      bench/regress-eval at its smallest (bench-smoke)
#   scale.hosts-compare  the check on points over hosts (--hosts), on fixed
#                   files: a point's key has its hosts, other host counts
#                   and hosts are noted, not compared (unit)
if(NOT TARGET mpk-scale)
  return()
endif()
mpk_test(scale stats LIBS mpkscale)
mpk_test(scale smoke LABELS bench-smoke TIMEOUT 150 LIBS mpkapp
  ENV MPK_SCALE_BIN=$<TARGET_FILE:mpk-scale> MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR})
mpk_test(scale baseline TIMEOUT 200 LIBS mpkapp
  ENV MPK_SCALE_BIN=$<TARGET_FILE:mpk-scale> MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR})
mpk_test(scale rounds LABELS bench-smoke TIMEOUT 400 LIBS mpkapp
  ENV MPK_SCALE_BIN=$<TARGET_FILE:mpk-scale> MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR})
if(TARGET mpk-bench-micro AND TARGET mpk-pi AND TARGET mpk-square)
  set(_results_env MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR}
      MPK_BUILD_DIR=${PROJECT_BINARY_DIR})
  if(MPK_SANITIZED) # the ranks x workers points run mpk-pi over Open MPI
    list(APPEND _results_env
      "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/mpi/lsan.supp:fast_unwind_on_malloc=0")
  endif()
  mpk_test(scale results LABELS bench-smoke TIMEOUT 200 ENV ${_results_env})
endif()
# scripts/render-results on a fixed input: intervals, % of limit,
# oversubscription, efficiency above 100% (no measurement)
find_program(_gnuplot gnuplot)
if(_gnuplot)
  add_test(NAME scale.render COMMAND python3
    ${CMAKE_CURRENT_SOURCE_DIR}/test-render-results.py ${PROJECT_SOURCE_DIR})
  set_tests_properties(scale.render PROPERTIES LABELS unit TIMEOUT 60)
endif()
add_test(NAME scale.hosts-compare COMMAND python3
  ${CMAKE_CURRENT_SOURCE_DIR}/scale-hosts-compare.py $<TARGET_FILE:mpk-scale>)
set_tests_properties(scale.hosts-compare PROPERTIES LABELS unit TIMEOUT 60)
if(EXISTS ${PROJECT_SOURCE_DIR}/bench/regress-eval)
  mpk_test(scale eval LABELS bench-smoke TIMEOUT 180
    ENV MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR} MPK_BUILD_DIR=${PROJECT_BINARY_DIR})
endif()
