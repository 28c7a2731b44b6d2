# apps: the kernel library (apps/common) and the apps mpk-pi and mpk-square.
# Programs: apps.kernels (kernels, statistics, parsers, JSON, serial and
# OpenMP runners) and apps.pool (the runners on mpk pools). The rest run the
# app binaries: golden output of the seed, --json that parses, bad options
# exiting 2 with one line, --mode all, bit-identical pi across worker counts
# and Monte Carlo reproducibility.
# mpk_app_bad_inputs(<prefix> <app> <args>...): each args string is a bad
# command line of <app>; test <prefix>-bad-<id> checks exit status 2 and a
# one-line message on stderr.
function(mpk_app_bad_inputs prefix app)
  foreach(bad IN LISTS ARGN)
    string(MAKE_C_IDENTIFIER "x${bad}" _id)
    add_test(NAME ${prefix}-bad-${_id} COMMAND sh -c
      "e=$(\"$0\" ${bad} 2>&1 >/dev/null); s=$?; test $s -eq 2 && test -n \"$e\" && test $(printf '%s\\n' \"$e\" | wc -l) -eq 1"
      ${app})
    set_tests_properties(${prefix}-bad-${_id} PROPERTIES LABELS unit TIMEOUT 30)
  endforeach()
endfunction()

# mpk_app_bad_detail(<name> <app> <args> <text>): the bad command line
# <args> exits 2 with one line on stderr that contains <text> (grep -F): the
# detail the library gave (mpk_errmsg), not only the code's text.
function(mpk_app_bad_detail name app args text)
  add_test(NAME ${name} COMMAND sh -c
    "e=$(\"$0\" ${args} 2>&1 >/dev/null); s=$?; echo \"$e\"; test $s -eq 2 && test $(printf '%s\\n' \"$e\" | wc -l) -eq 1 && printf '%s\\n' \"$e\" | grep -qF -- \"$1\""
    ${app} "${text}")
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 30)
endfunction()

if(NOT TARGET mpkapp)
  return()
endif()
mpk_test(apps kernels TIMEOUT 60 LIBS mpkapp)
mpk_test(apps pool TIMEOUT 90 LIBS mpkapp)

set(_py /usr/bin/python3)
if(NOT EXISTS ${_py})
  set(_py python3)
endif()

if(TARGET mpk-square)
  set(_sq $<TARGET_FILE:mpk-square>)
  # The seed: results in input order, whatever the mode.
  foreach(m pool serial omp threads all)
    add_test(NAME apps.square-golden-${m}
             COMMAND ${_sq} --mode ${m} 2 4 6 8 3 5 7 9)
    set_tests_properties(apps.square-golden-${m} PROPERTIES LABELS unit
      TIMEOUT 30 PASS_REGULAR_EXPRESSION "^\\[4, 16, 36, 64, 9, 25, 49, 81\\]\n$")
  endforeach()
  add_test(NAME apps.square-golden-default COMMAND ${_sq} 2 4 6 8 3 5 7 9)
  set_tests_properties(apps.square-golden-default PROPERTIES LABELS unit
    TIMEOUT 30 PASS_REGULAR_EXPRESSION "^\\[4, 16, 36, 64, 9, 25, 49, 81\\]\n$")
  add_test(NAME apps.square-negative-double COMMAND ${_sq} --type double -- -1.5 3)
  set_tests_properties(apps.square-negative-double PROPERTIES LABELS unit
    TIMEOUT 30 PASS_REGULAR_EXPRESSION "^\\[2.25, 9\\]\n$")
  add_test(NAME apps.square-json COMMAND sh -c
    "\"$0\" --json 2 4 6 8 3 5 7 9 | \"$1\" -c 'import json,sys; d=json.load(sys.stdin); assert d[\"output\"]==[4,16,36,64,9,25,49,81] and d[\"input\"]==[2,4,6,8,3,5,7,9], d'"
    ${_sq} ${_py})
  # Throughput: every mode, every output verified, JSON that parses.
  foreach(t long double)
    add_test(NAME apps.square-throughput-${t} COMMAND sh -c
      "\"$0\" --n 2^16 --type ${t} --repeat 2 --json | \"$1\" -c 'import json,sys; d=json.load(sys.stdin); m=[r[\"mode\"] for r in d[\"results\"]]; assert m[:4]==[\"serial\",\"omp\",\"pool\",\"threads\"], m; assert all(r[\"verified\"] and r[\"gb_per_second\"]>0 and r[\"elements_per_second\"]>0 for r in d[\"results\"]), d; assert d[\"n\"]==65536'"
      ${_sq} ${_py})
  endforeach()
  add_test(NAME apps.square-map-api COMMAND sh -c
    "\"$0\" --n 5000 --api map --mode pool,threads --repeat 1 | grep -c ' ok$' | grep -qx 2"
    ${_sq})
  add_test(NAME apps.square-help COMMAND sh -c
    "\"$0\" --help | grep -q 'usage: mpk-square'" ${_sq})
  set_tests_properties(apps.square-json apps.square-throughput-long
    apps.square-throughput-double apps.square-map-api apps.square-help
    PROPERTIES LABELS unit TIMEOUT 60)
  mpk_app_bad_inputs(apps.square ${_sq} "" "--n 0" "--n x" "--n 2^99" "--n 10 5" "--mode bogus 2"
          "--mode pool,mpi 2" "--type int 2" "--api vector 2" "--workers 0 2"
          "--threads-per-worker 1 2" "--schedule auto 2" "--repeat 0 2"
          "--bind zz 2" "--bogus 2" "3037000500" "1.5" "--n 3037000502"
          "--chunk 0 --n 5")
  # The library's detail reaches the user (issue 9).
  mpk_app_bad_detail(apps.square-detail-range ${_sq} "--bind 7-3 2"
    "cpuset '7-3': range end before start (7-3)")
  mpk_app_bad_detail(apps.square-detail-nopu ${_sq} "--bind 1000000 2"
    "names no PU this process may use")
endif()

if(TARGET mpk-pi)
  set(_pi $<TARGET_FILE:mpk-pi>)
  # Every mode agrees with M_PI within 1e-9 at a small size.
  add_test(NAME apps.pi-modes COMMAND sh -c
    "\"$0\" --mode serial,omp,pool,threads,hybrid --workers 2 --steps 1e5 --repeat 1 --json | \"$1\" -c 'import json,sys,math; d=json.load(sys.stdin); r=d[\"results\"]; assert [x[\"mode\"] for x in r]==[\"serial\",\"omp\",\"pool\",\"threads\",\"hybrid\"], r; assert all(abs(x[\"pi\"]-math.pi)<1e-9 and x[\"abs_error\"]<1e-9 for x in r), r'"
    ${_pi} ${_py})
  # --mode all: OpenMP before the pools in one process, naive baselines too.
  add_test(NAME apps.pi-all COMMAND sh -c
    "\"$0\" --steps 2e5 --repeat 2 --json | \"$1\" -c 'import json,sys,math; d=json.load(sys.stdin); r=d[\"results\"]; m=[(x[\"mode\"],x[\"kernel\"]) for x in r]; assert m[:5]==[(\"serial\",\"naive\"),(\"serial\",\"simd\"),(\"omp\",\"naive\"),(\"omp\",\"simd\"),(\"pool\",\"simd\")], m; assert (\"threads\",\"simd\") in m; assert all(abs(x[\"pi\"]-math.pi)<1e-9 and x[\"speedup\"]>0 and x[\"vs_omp\"]>0 for x in r), r; assert d[\"steps\"]==200000 and d[\"method\"]==\"midpoint\"'"
    ${_pi} ${_py})
  add_test(NAME apps.pi-table COMMAND ${_pi} --steps 1e5 --repeat 1 --mode serial,omp)
  set_tests_properties(apps.pi-table PROPERTIES
    PASS_REGULAR_EXPRESSION "mode +kernel.*\nserial +simd +1 +3\\.14159265.*\nomp +simd")
  # The chunk is the unit of reduction: pool pi has the same bits for
  # 1, 2 and 3 workers, and for the thread backend and hybrid workers.
  add_test(NAME apps.pi-bits COMMAND sh -c
    "for a in '--mode pool --workers 1' '--mode pool --workers 2' '--mode pool --workers 3' '--mode threads --workers 3' '--mode pool --workers 2 --schedule dynamic' '--mode pool --workers 3 --schedule guided' '--mode hybrid --workers 2'; do \"$0\" $a --steps 123457 --chunk 1000 --repeat 2 --json | \"$1\" -c 'import json,sys; d=json.load(sys.stdin); r=d[\"results\"]; assert len(r)==1 and r[0][\"repeatable\"], r; print(repr(r[0][\"pi\"]))' || exit 1; done | sort -u | wc -l | grep -qx 1"
    ${_pi} ${_py})
  # The SIMD variants give the same pi (unsupported ones exit 2).
  add_test(NAME apps.pi-isa COMMAND sh -c
    "for i in generic avx2 avx512f; do \"$0\" --isa $i --mode serial --steps 99999 --repeat 1 --json 2>/dev/null | \"$1\" -c 'import json,sys; print(repr(json.load(sys.stdin)[\"results\"][0][\"pi\"]))'; done | sort -u | wc -l | grep -qx 1"
    ${_pi} ${_py})
  # Monte Carlo: one stream per chunk, so the same estimate for any workers
  # and mode at a seed; another seed gives another estimate.
  add_test(NAME apps.pi-montecarlo COMMAND sh -c
    "for a in '--mode serial' '--mode omp --workers 2' '--mode pool --workers 1' '--mode pool --workers 3' '--mode threads --workers 2 --schedule dynamic'; do \"$0\" $a --method montecarlo --steps 2e5 --seed 9 --repeat 1 --json | \"$1\" -c 'import json,sys,math; r=json.load(sys.stdin)[\"results\"][0]; assert abs(r[\"pi\"]-math.pi)<0.02, r; print(repr(r[\"pi\"]))' || exit 1; done | sort -u | wc -l | grep -qx 1 && test \"$(\"$0\" --mode serial --method montecarlo --steps 2e5 --seed 9 --repeat 1 --json)\" != \"$(\"$0\" --mode serial --method montecarlo --steps 2e5 --seed 10 --repeat 1 --json)\""
    ${_pi} ${_py})
  add_test(NAME apps.pi-json-tool COMMAND sh -c
    "\"$0\" --steps 1e5 --repeat 1 --mode serial,pool --json | \"$1\" -m json.tool >/dev/null"
    ${_pi} ${_py})
  add_test(NAME apps.pi-help COMMAND sh -c
    "\"$0\" --help | grep -q 'usage: mpk-pi'" ${_pi})
  set_tests_properties(apps.pi-modes apps.pi-all apps.pi-table apps.pi-bits
    apps.pi-isa apps.pi-montecarlo apps.pi-json-tool apps.pi-help
    PROPERTIES LABELS unit TIMEOUT 90)
  # (--mode mpi and --partition: tests/cmake/mpiapps.cmake)
  mpk_app_bad_inputs(apps.pi ${_pi} "--mode bogus" "--mode serial,,omp" "--steps 0"
          "--steps 1e99" "--steps -5" "--steps 1.5" "--steps abc"
          "--kernel avx" "--workers 0" "--workers 1025" "--threads-per-worker 1"
          "--schedule auto" "--chunk 0" "--steps 100 --chunk 101"
          "--bind nowhere" "--method exact" "--seed -1" "--isa sse9"
          "--repeat 0" "--repeat 1001" "--json extra" "--bogus" "--steps")
  mpk_app_bad_detail(apps.pi-detail-range ${_pi} "--bind 7-3"
    "cpuset '7-3': range end before start (7-3)")
  mpk_app_bad_detail(apps.pi-detail-core ${_pi} "--bind core:99999"
    "core 99999 does not exist")
  mpk_app_bad_detail(apps.pi-detail-syntax ${_pi} "--bind 0,1x"
    "expected ',' or '-' at offset 3")
endif()
