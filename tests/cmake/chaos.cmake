# mpk-chaos (tests/chaos/): seeded, randomized fault scenarios (issue 9).
# `make test` runs a bounded CI set: fixed seeds, split by area so that the
# entries run in parallel (label chaos, generous timeouts: a hang is named
# by mpk-chaos's own watchdog long before). `make chaos N=...` runs long
# campaigns (Makefile). Each entry's output names the seed of any failure;
# `mpk-chaos --seed S --iterations 1 --scenario NAME` replays it.
if(NOT GSL_FOUND)
  message(STATUS "mpk: GSL missing, mpk-chaos not built")
  return()
endif()
file(GLOB _chaos_src CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/chaos/*.c)
add_executable(mpk-chaos ${_chaos_src})
target_include_directories(mpk-chaos PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                           ${PROJECT_SOURCE_DIR}/lib/src)
target_compile_definitions(mpk-chaos PRIVATE _GNU_SOURCE)
target_link_libraries(mpk-chaos PRIVATE mpk GSL::gsl Threads::Threads m)
mpk_warnings(mpk-chaos)

# mpk_chaos(<name> <first seed> <iterations> <scenarios>)
function(mpk_chaos name seed iterations scenarios)
  add_test(NAME chaos.${name}
           COMMAND mpk-chaos --seed ${seed} --iterations ${iterations}
                   --scenario ${scenarios})
  set_tests_properties(chaos.${name} PROPERTIES LABELS chaos TIMEOUT 600)
endfunction()

mpk_chaos(pool 7100 160
  pool-map,pool-apply,pool-async,pool-imap,pool-for,pool-reduce)
mpk_chaos(sync 7200 200 lock-kill,sem-kill,cond-kill)
mpk_chaos(ipc 7300 200 queue-kill,pipe-kill,dict-kill)
mpk_chaos(misc 7400 160 parent-death,bad-args)

# The scenarios of the two defects issue 9 found: a woken robust-lock
# waiter killed between wake and take; unordered imap behind a slow chunk,
# and close + join while an imap has chunks left.
mpk_chaos(waketake 7500 20 lock-waketake)
mpk_chaos(imap 7600 30 pool-imap-unordered,pool-imap-close)

# The runner itself: --json that parses, --list, --help, bad options.
set(_py /usr/bin/python3)
if(NOT EXISTS ${_py})
  set(_py python3)
endif()
add_test(NAME chaos.json COMMAND sh -c
  "\"$0\" --seed 9 --iterations 4 --scenario pool-map,bad-args --json | \"$1\" -c 'import json,sys; d=json.load(sys.stdin); assert d[\"iterations\"]==4 and d[\"failures\"]==0, d; assert sum(s[\"iterations\"] for s in d[\"scenarios\"])==4, d; assert set(d[\"kill_to_return_ms\"])=={\"samples\",\"p50\",\"p99\",\"max\"}, d'"
  $<TARGET_FILE:mpk-chaos> ${_py})
add_test(NAME chaos.list COMMAND sh -c
  "\"$0\" --list | wc -l | grep -qx 17 && \"$0\" --help | grep -q 'usage: mpk-chaos'"
  $<TARGET_FILE:mpk-chaos>)
set_tests_properties(chaos.json chaos.list PROPERTIES LABELS chaos TIMEOUT 120)
mpk_app_bad_inputs(chaos.args $<TARGET_FILE:mpk-chaos> "--iterations 0"
  "--iterations x" "--seed -1" "--seed 12z" "--scenario nope"
  "--scenario pool-map,,bad-args" "--timeout 0" "--bogus" "extra")
