# topo: the planner on synthetic topologies, the public calls on this
# machine, the seed twins, and the mpk-topo app.
mpk_test(topo plan TIMEOUT 60)
mpk_test(topo machine LABELS unit tsan TIMEOUT 60)
mpk_test(topo seed)

if(TARGET mpk-topo)
  set(_topo $<TARGET_FILE:mpk-topo>)
  # A normal run prints the machine and one line per worker.
  add_test(NAME topo.app-run COMMAND ${_topo} --workers 3)
  set_tests_properties(topo.app-run PROPERTIES LABELS unit TIMEOUT 30
    PASS_REGULAR_EXPRESSION "machine: .*allowed: .*worker 0 -> [0-9].*worker 2 -> [0-9]")
  # --json is one object that parses, with the plan in it.
  add_test(NAME topo.app-json COMMAND sh -c
    "\"$0\" --workers 4 --bind scatter --threads-per-worker 2 --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"workers\"]==4 and len(d[\"plan\"])==4 and d[\"plan\"][3][\"worker\"]==3 and d[\"pus\"]>=1 and isinstance(d[\"oversubscribed\"],bool), d'"
    ${_topo})
  add_test(NAME topo.app-json-tool COMMAND sh -c
    "\"$0\" --json --bind none | /usr/bin/python3 -m json.tool >/dev/null" ${_topo})
  # More workers than PUs: the plan says so.
  add_test(NAME topo.app-oversubscribed COMMAND ${_topo} --workers 4096)
  set_tests_properties(topo.app-oversubscribed PROPERTIES
    PASS_REGULAR_EXPRESSION "worker 4095 -> .*oversubscribed")
  # An explicit list, a hex mask and logical cores.
  add_test(NAME topo.app-list COMMAND sh -c
    "\"$0\" --workers 1 --bind core:0 | grep -q 'worker 0 -> ' && \"$0\" --bind 0x1 --workers 1 | grep -q 'worker 0 -> 0$' && \"$0\" --cpuset pu:0 --bind scatter --json | grep -q '\"cpuset\":\"pu:0\"'"
    ${_topo})
  # Started under taskset: the machine it reports is the binding.
  add_test(NAME topo.app-taskset COMMAND sh -c
    "command -v taskset >/dev/null || exit 0; taskset -c 0 \"$0\" --json | grep -q '\"allowed\":\"0\",\"workers\":1,'"
    ${_topo})
  # A synthetic 2x2x4x2 machine through hwloc's own variable: exact plans.
  add_test(NAME topo.app-synthetic COMMAND ${_topo} --workers 4 --bind scatter)
  set_tests_properties(topo.app-synthetic PROPERTIES LABELS unit TIMEOUT 30
    ENVIRONMENT "HWLOC_SYNTHETIC=pack:2 numa:2 core:4 pu:2"
    PASS_REGULAR_EXPRESSION "16 cores, 32 PUs.*worker 0 -> 0-1\n  worker 1 -> 8-9\n  worker 2 -> 16-17\n  worker 3 -> 24-25\n")
  # Bad options and values: one line on stderr, exit 2.
  foreach(bad "--workers 0" "--workers -3" "--workers x" "--workers 65537"
          "--threads-per-worker 0" "--bind 'zz'" "--bind 0x0" "--bind core:99999"
          "--cpuset ''" "--bogus" "--workers" "extra-arg")
    string(MAKE_C_IDENTIFIER "${bad}" _id)
    add_test(NAME topo.app-bad-${_id} COMMAND sh -c
      "e=$(\"$0\" ${bad} 2>&1 >/dev/null); s=$?; test $s -eq 2 && test -n \"$e\" && test $(printf '%s\\n' \"$e\" | wc -l) -eq 1"
      ${_topo})
    set_tests_properties(topo.app-bad-${_id} PROPERTIES LABELS unit TIMEOUT 30)
  endforeach()
  # The library's detail reaches the user (issue 9).
  mpk_app_bad_detail(topo.app-detail-range ${_topo} "--cpuset 7-3"
    "cpuset '7-3': range end before start (7-3)")
  mpk_app_bad_detail(topo.app-detail-type ${_topo} "--bind cores:1"
    "unknown object type before ':'")
  add_test(NAME topo.app-help COMMAND sh -c
    "\"$0\" --help | grep -q 'usage: mpk-topo'" ${_topo})
  set_tests_properties(topo.app-json topo.app-json-tool topo.app-oversubscribed
    topo.app-list topo.app-taskset topo.app-help PROPERTIES LABELS unit TIMEOUT 30)
endif()

# OpenMP binding in the parent (libgomp pins the main thread to its first
# place before main): plans still cover every place.
mpk_test(topo ompbind LIBS OpenMP::OpenMP_C TIMEOUT 60
         ENV OMP_PROC_BIND=close OMP_PLACES=cores)
