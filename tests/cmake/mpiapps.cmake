# apps over MPI: `mpk-pi --mode mpi` under mpirun, and its bad inputs.
#   apps.mpi-pi-json       2 ranks: one JSON report (rank 0), ranks == 2, pi
#                          within 1e-12, workers per rank, 1 node, times, no
#                          DYNAMIC counter under STATIC
#   apps.mpi-pi-table      2 ranks: one table, with the ranks line
#   apps.mpi-pi-flags      --steps --workers --repeat --schedule --chunk
#                          --bind --partition all reach the run (DYNAMIC on
#                          one node: the shared-memory counter)
#   apps.mpi-pi-bits       1, 2, 3 ranks, both partitions, local schedules:
#                          the same bits as a one-process pool at that chunk
#   apps.mpi-pi-montecarlo the Monte Carlo estimate of the serial mode
#   apps.mpi-pi-singleton  without mpirun: a one-rank job
#   apps.mpi-pi-all        --mode all never runs (or starts) MPI
#   apps.mpi-pi-bad-*      bad input under mpirun: exit 2 from every rank
#   apps.mpi-guide-example-np* the guide's complete MPI program, 1 and 3 ranks
#   apps.mpi-pi-mismatch-* ranks started with different commands: exit 2
#                          (or mpirun aborts), never a hang
#   apps.pi-bad-*          --partition, --mpi-init-timeout misuse (and,
#                          without MPI, --mode mpi):
#                          exit 2 with one line
#   scale.mpi-ranks        mpk-scale --ranks: 1..3 ranks x 1..2 workers, in
#                          the JSON and CSV with a ranks field
#   scale.mpi-launch-fails a failing / hanging mpirun: a failed point, exit 1,
#                          within --mpi-timeout
#   scale.mpi-bad-*        --ranks misuse: exit 2 with one line
#   scale.hosts-bad-*      --hosts misuse (tests/scale-hosts-bad.sh): a
#                          missing, empty or bad hostfile (a bad line, a
#                          host twice), more hosts asked than it names, bad
#                          combinations: exit 2 with one line that says so
#                          (the runs over simulated hosts: cluster.scale-hosts)
# The MPI ones run via mpirun with the launcher environment below (label
# mpi).
if(NOT TARGET mpk-pi)
  return()
endif()
set(_pi $<TARGET_FILE:mpk-pi>)
set(_py /usr/bin/python3)
if(NOT EXISTS ${_py})
  set(_py python3)
endif()

# --partition misuse is a usage error with or without MPI.
mpk_app_bad_inputs(apps.pi ${_pi} "--partition dynamic" "--mode pool --partition static"
        "--mode all --partition dynamic" "--partition bogus --mode serial"
        "--partition" "--mpi-init-timeout 5" "--mpi-init-timeout x --mode pool"
        "--mpi-init-timeout -1 --mode pool")

if(NOT TARGET mpk::mpi)
  # Without MPI, --mode mpi says so in one line and exits 2.
  add_test(NAME apps.pi-bad-x__mode_mpi COMMAND sh -c
    "e=$(\"$0\" --mode mpi 2>&1 >/dev/null); s=$?; test $s -eq 2 && test $(printf '%s\\n' \"$e\" | wc -l) -eq 1 && printf '%s\\n' \"$e\" | grep -q 'not built'"
    ${_pi})
  set_tests_properties(apps.pi-bad-x__mode_mpi PROPERTIES LABELS unit
    TIMEOUT 30)
  return()
endif()

# The launcher settings of tests/cmake/mpi.cmake (included before this
# fragment): MPK_MPI_TEST_ENV and MPK_MPI_OVERSUBSCRIBE.
set(_env ${MPK_MPI_TEST_ENV})
set(_run ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
set(_np ${MPIEXEC_NUMPROC_FLAG})
set(_over "${MPK_MPI_OVERSUBSCRIBE}")

# mpiapps_test(<name> <np> <shell script>): $0 is mpirun, $1 mpk-pi, $2
# python3, $3 "-np", $4 the oversubscribe flag (may be empty).
function(mpiapps_test name np script)
  add_test(NAME apps.${name} COMMAND sh -c "${script}" ${_run} ${_pi} ${_py}
           ${_np} "${_over}")
  set_tests_properties(apps.${name} PROPERTIES LABELS mpi TIMEOUT 60
    PROCESSORS ${np} ENVIRONMENT "${_env}")
endfunction()

mpiapps_test(mpi-pi-json 2
  "\"$0\" $3 2 \"$1\" --mode mpi --json --steps 1e7 --repeat 2 | \"$2\" -c 'import json,sys,math; d=json.load(sys.stdin); r=d[\"results\"]; assert len(r)==1, r; x=r[0]; assert x[\"mode\"]==\"mpi\" and x[\"ranks\"]==2, x; assert abs(x[\"pi\"]-math.pi)<1e-12 and x[\"abs_error\"]<1e-12, x; w=x[\"workers_per_rank\"]; assert len(w)==2 and min(w)>=1 and x[\"total_workers\"]==sum(w) and x[\"workers\"]==w[0], x; assert x[\"partition\"]==\"static\" and x[\"dynamic_counter\"] is None and x[\"nodes\"]==1 and x[\"seconds\"]>0 and x[\"ns_per_step_core\"]>0 and len(x[\"times\"])==2, x; assert x[\"speedup\"] is None and d[\"steps\"]==10**7, d'")

mpiapps_test(mpi-pi-table 2
  "o=$(\"$0\" $3 2 \"$1\" --mode mpi --steps 1e6 --repeat 1) || exit 1; printf '%s\\n' \"$o\"; test $(printf '%s\\n' \"$o\" | grep -c '^mode ') -eq 1 && test $(printf '%s\\n' \"$o\" | grep -c '^mpi  *simd  *[0-9]  *3\\.14159265') -eq 1 && printf '%s\\n' \"$o\" | grep -q '^mpi: 2 ranks, workers per rank'")

mpiapps_test(mpi-pi-flags 2
  "\"$0\" $3 2 \"$1\" --mode mpi --steps 2e5 --workers 2 --repeat 3 --schedule guided --chunk 500 --bind none --partition dynamic --kernel naive --json | \"$2\" -c 'import json,sys,math; d=json.load(sys.stdin); x=d[\"results\"][0]; assert d[\"steps\"]==200000 and d[\"chunk\"]==500 and d[\"schedule\"]==\"guided\" and d[\"repeat\"]==3, d; assert x[\"kernel\"]==\"naive\" and x[\"workers_per_rank\"]==[2,2] and x[\"total_workers\"]==4 and x[\"ranks\"]==2, x; assert x[\"partition\"]==\"dynamic\" and x[\"dynamic_counter\"]==\"shm\" and len(x[\"times\"])==3 and x[\"repeatable\"], x; assert abs(x[\"pi\"]-math.pi)<1e-9, x'")

# The chunk is the unit of the reduction across ranks too: every run prints
# the bits of the one-process pool.
mpiapps_test(mpi-pi-bits 3
  "run=$0 pi=$1 py=$2 np=$3 over=$4; f=mpi-pi-bits.txt; pick='import json,sys; r=json.load(sys.stdin)[\"results\"]; assert len(r)==1 and r[0][\"repeatable\"], r; print(repr(r[0][\"pi\"]))'; a='--steps 123457 --chunk 1000 --repeat 2 --json'; { \"$pi\" --mode pool --workers 2 $a | \"$py\" -c \"$pick\" || echo pool-failed; for r in '1 --workers 2' '2 --workers 1' '2 --workers 2 --partition dynamic' '2 --workers 1 --schedule dynamic --partition dynamic' '3 --workers 1 --schedule cyclic' '3 --workers 2 --partition dynamic --bind none'; do \"$run\" $np \${r%% *} $over \"$pi\" --mode mpi \${r#* } $a | \"$py\" -c \"$pick\" || echo \"mpi-failed $r\"; done; } >$f; cat $f; test $(sort -u $f | wc -l) -eq 1 && test $(wc -l <$f) -eq 7")

mpiapps_test(mpi-pi-montecarlo 2
  "pick='import json,sys,math; r=json.load(sys.stdin)[\"results\"][0]; assert abs(r[\"pi\"]-math.pi)<0.02, r; print(repr(r[\"pi\"]))'; a='--method montecarlo --steps 2e5 --seed 9 --repeat 1 --json'; s=$(\"$1\" --mode serial $a | \"$2\" -c \"$pick\") && m=$(\"$0\" $3 2 \"$1\" --mode mpi --workers 1 $a | \"$2\" -c \"$pick\") && echo \"$s $m\" && test \"$s\" = \"$m\"")

mpiapps_test(mpi-pi-singleton 1
  "\"$1\" --mode mpi --steps 1e5 --repeat 1 --workers 1 --json | \"$2\" -c 'import json,sys,math; x=json.load(sys.stdin)[\"results\"][0]; assert x[\"ranks\"]==1 and x[\"workers_per_rank\"]==[1] and abs(x[\"pi\"]-math.pi)<1e-9, x'")

mpiapps_test(mpi-pi-all 2
  "\"$1\" --mode all --workers 2 --steps 1e5 --repeat 1 --json | \"$2\" -c 'import json,sys; r=json.load(sys.stdin)[\"results\"]; m=[x[\"mode\"] for x in r]; assert \"mpi\" not in m and \"pool\" in m, m; assert all(x[\"ranks\"]==1 for x in r), r'")

# The complete program of docs/guide.md ("The pool over MPI"), taken from
# the guide at configure time: it builds and prints pi on 1 and 3 ranks.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/docs/guide.md)
file(READ ${PROJECT_SOURCE_DIR}/docs/guide.md _guide)
string(FIND "${_guide}" "### A complete program" _at)
if(_at LESS 0)
  message(FATAL_ERROR "docs/guide.md lost its MPI section's complete program")
endif()
string(SUBSTRING "${_guide}" ${_at} -1 _guide)
string(FIND "${_guide}" "```c\n" _b)
string(FIND "${_guide}" "\n```\n" _e)
math(EXPR _b "${_b} + 5")
math(EXPR _len "${_e} - ${_b} + 1")
string(SUBSTRING "${_guide}" ${_b} ${_len} _code)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/guide-mpi-example.c.new "${_code}")
configure_file(${CMAKE_CURRENT_BINARY_DIR}/guide-mpi-example.c.new
               ${CMAKE_CURRENT_BINARY_DIR}/guide-mpi-example.c COPYONLY)
add_executable(test-guide-mpi-example
               ${CMAKE_CURRENT_BINARY_DIR}/guide-mpi-example.c)
target_link_libraries(test-guide-mpi-example PRIVATE mpk::mpi m)
mpk_warnings(test-guide-mpi-example)
foreach(np 1 3)
  add_test(NAME apps.mpi-guide-example-np${np}
           COMMAND ${_run} ${_np} ${np} ${_over}
                   $<TARGET_FILE:test-guide-mpi-example>)
  set_tests_properties(apps.mpi-guide-example-np${np} PROPERTIES LABELS mpi
    TIMEOUT 60 PROCESSORS 2 ENVIRONMENT "${_env}"
    PASS_REGULAR_EXPRESSION "(^|\n)pi = 3\\.1415926535897936\n"
    FAIL_REGULAR_EXPRESSION "pi = [0-9.]+\n.*pi = ") # rank 0 prints, once
endforeach()

# Bad input under mpirun: every rank stops before MPI starts, mpirun passes
# the status on.
foreach(bad "--partition bogus" "--mode mpi,pool" "--mode all,mpi"
        "--mode mpi --steps 0" "--mode mpi --workers 0" "--mode mpi --chunk 0"
        "--mode mpi --schedule auto" "--mode mpi --bind nowhere"
        "--mode mpi --repeat 0" "--mode mpi --partition")
  string(MAKE_C_IDENTIFIER "x${bad}" _id)
  mpiapps_test(mpi-pi-bad-${_id} 2
    "e=$(\"$0\" $3 2 \"$1\" ${bad} 2>&1 >/dev/null); s=$?; printf '%s\\n' \"$e\"; test $s -eq 2 && printf '%s\\n' \"$e\" | grep -q '^mpk-pi: '")
endforeach()

# Ranks started with different commands never hang. Options that steer the
# collective calls differ: every rank exits 2 after MPI starts. One process
# not in the mpi mode: the other's MPI_Init never finishes; it exits 2 after
# --mpi-init-timeout (or mpirun notices first and aborts the job, exit 1):
# either way the job ends, well within the test's timeout.
mpiapps_test(mpi-pi-mismatch-options 2
  "e=$(\"$0\" $3 1 \"$1\" --mode mpi --steps 1e5 --repeat 2 : $3 1 \"$1\" --mode mpi --steps 1e5 --repeat 3 2>&1 >/dev/null); s=$?; printf '%s\\n' \"$e\"; test $s -eq 2 && printf '%s\\n' \"$e\" | grep -q '^mpk-pi: the ranks were started with different options'")
mpiapps_test(mpi-pi-mismatch-mode 2
  "e=$(\"$0\" $3 1 \"$1\" --mode mpi --steps 1e5 --mpi-init-timeout 5 : $3 1 \"$1\" --mode serial --steps 1e3 --repeat 1 2>&1 >/dev/null); s=$?; printf '%s\\n' \"$e\"; test $s -ne 0")
set_tests_properties(apps.mpi-pi-mismatch-mode PROPERTIES TIMEOUT 40)

# mpk-scale --ranks: ranks x workers points from mpk-pi under mpirun, in the
# same JSON and CSV as the in-process points; a failing or hanging launcher
# fails its point (exit 1) within --mpi-timeout; misuse exits 2.
if(NOT TARGET mpk-scale)
  return()
endif()
set(_scale $<TARGET_FILE:mpk-scale>)
add_test(NAME scale.mpi-ranks COMMAND sh -c
  "d=scale-mpi-ranks; rm -rf $d; \"$0\" --kernels pi --modes pool --workers 1,2 --ranks 1,2,3 --rank-workers 1,2 --repeat 2 --pi-steps 2e6 --mpirun \"$2\" --out $d --name r --quiet || exit 1; head -1 $d/r.csv | grep -q ',value,ranks,rounds,noise_within,noise_between,speedup_lo,speedup_hi,efficiency_lo,efficiency_hi,hosts,ranks_per_host$' || exit 1; \"$1\" -c 'import json,sys,math; d=json.load(open(sys.argv[1])); p=d[\"points\"]; m=[x for x in p if x[\"mode\"]==\"mpi\"]; assert len(p)==1+2*2+12 and len(m)==12, len(p); assert all(x[\"ok\"] and x[\"check\"]==\"ok\" for x in p), [x[\"check\"] for x in p]; assert sorted({(x[\"ranks\"],x[\"workers\"]) for x in m})==[(1,1),(1,2),(2,1),(2,2),(3,1),(3,2)], m; assert all(x[\"cores\"]==x[\"ranks\"]*x[\"workers\"] and x[\"speedup\"]>0 and x[\"efficiency\"]>0 and len(x[\"times\"])==2 and abs(x[\"value\"]-math.pi)<1e-12 for x in m), m; assert all(\"-np %d \" % x[\"ranks\"] in x[\"launch\"] and (\"--oversubscribe\" in x[\"launch\"]) == (x[\"cores\"] > d[\"machine\"][\"cores\"]) for x in m), [x[\"launch\"] for x in m]; assert all(x[\"ranks\"]==1 and x[\"launch\"] is None for x in p if x[\"mode\"]!=\"mpi\"); assert d[\"config\"][\"ranks\"]==\"1,2,3\" and d[\"config\"][\"rank_workers\"]==\"1,2\"' $d/r.json"
  ${_scale} ${_py} ${MPIEXEC_EXECUTABLE})
set_tests_properties(scale.mpi-ranks PROPERTIES LABELS mpi TIMEOUT 120
  PROCESSORS 2 ENVIRONMENT "${_env}")

add_test(NAME scale.mpi-launch-fails COMMAND sh -c
  "d=scale-mpi-fails; rm -rf $d; mkdir -p $d; printf '#!/bin/sh\\ncase \"$1\" in --version) echo \"mpirun (Open MPI) 4.1.4\";; *) exec sleep 300;; esac\\n' >$d/hang; chmod +x $d/hang; a='--kernels pi --modes pool --workers 1 --scaling strong --repeat 2 --pi-steps 1e6 --ranks 2 --rank-workers 1 --quiet'; \"$0\" $a --mpirun /bin/false --out $d --name f 2>$d/e1; s=$?; cat $d/e1; test $s -eq 1 && grep -q 'mpi workers 2 (ranks x workers):' $d/e1 || exit 1; t0=$(date +%s); \"$0\" $a --mpirun $d/hang --mpi-timeout 2 --out $d --name h 2>$d/e2; s=$?; t1=$(date +%s); cat $d/e2; test $s -eq 1 && grep -q 'timed out after 2 s' $d/e2 && test $((t1 - t0)) -lt 30 || exit 1; \"$1\" -c 'import json,sys; p=json.load(open(sys.argv[1]))[\"points\"]; m=[x for x in p if x[\"mode\"]==\"mpi\"]; assert len(m)==1 and not m[0][\"ok\"] and m[0][\"median\"] is None, m; assert all(x[\"ok\"] for x in p if x[\"mode\"]!=\"mpi\")' $d/h.json"
  ${_scale} ${_py})
set_tests_properties(scale.mpi-launch-fails PROPERTIES LABELS mpi TIMEOUT 60)

foreach(bad "--ranks 0" "--ranks x" "--ranks 4097" "--rank-workers 1"
        "--mpirun-args -v" "--ranks 2 --kernels square" "--modes mpi"
        "--modes pool,mpi" "--ranks 2 --mpi-timeout 0" "--ranks 2 --mpirun"
        "--ranks 2 --rank-workers 0")
  string(MAKE_C_IDENTIFIER "x${bad}" _id)
  add_test(NAME scale.mpi-bad-${_id} COMMAND sh -c
    "e=$(\"$0\" ${bad} --out scale-mpi-bad 2>&1 >/dev/null); s=$?; test $s -eq 2 && test $(printf '%s\\n' \"$e\" | wc -l) -eq 1"
    ${_scale})
  set_tests_properties(scale.mpi-bad-${_id} PROPERTIES LABELS unit TIMEOUT 30)
endforeach()

foreach(case missing empty comments no-slots zero-slots word-slots bad-name
        bad-max extra-word twice fewer counts-zero rph-zero with-ranks no-pi
        counts-alone rph-alone empty-arg)
  add_test(NAME scale.hosts-bad-${case} COMMAND sh
    ${CMAKE_CURRENT_SOURCE_DIR}/scale-hosts-bad.sh ${case} ${_scale})
  set_tests_properties(scale.hosts-bad-${case} PROPERTIES LABELS unit
    TIMEOUT 30)
endforeach()
