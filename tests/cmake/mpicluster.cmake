# Simulated clusters (label cluster): the MPI tests across hosts that are
# UTS namespaces of this machine, launched by tests/cluster/mpirun-cluster
# (Open MPI's rsh agent tests/cluster/fake-rsh; TCP over loopback between
# hosts, shared memory within one), each job inside tests/cluster/cluster-ns
# (its own PID, mount and IPC namespaces: after the job no process of it
# may be left and /dev/shm must be empty). Layouts:
#   2x1   2 hosts x 1 rank;   2x2   2 hosts x 2 ranks (ranks 0, 1 on nodea);
#   3on2  3 ranks over 2 hosts (ranks 0, 2 on nodea, rank 1 on nodeb).
# Tests:
#   cluster.<behavior>-<layout>  the MPI library tests (tests/mpi) reduce,
#       map, for, errors, kill, args, subcomm, bind at each layout; each run
#       checks that MPI's nodes are the hosts (2 of them), that DYNAMIC took
#       the message path, and its usual claims (bits equal to a local pool,
#       errors on every rank, no two ranks of one host on one PU)
#   cluster.bind-ppr<R>-pe<W>    the batch-system launch line (--map-by
#       ppr:R:node:PE=W --bind-to core): each rank's default pool size is the
#       cores of its cpuset, its workers pinned inside it
#   cluster.reduce-same-bits     the reductions' bits at every layout equal
#       the one-host runs' (mpi.reduce-np1, -np2, -np4)
#   cluster.pi-bits              mpk-pi --mode mpi at every layout, STATIC
#       and DYNAMIC: the bits of a one-process pool; --json reports 2 nodes
#       and the DYNAMIC counter path "msg"
#   cluster.guide-example-3on2   the guide's complete MPI program: rank 0
#       prints pi once, the one-host bits
#   cluster.scale-hosts          mpk-scale --hosts over 2 simulated hosts
#       (mpirun-cluster as its launcher, a hostfile): 1, 2 hosts x 1, 2
#       ranks per host x 1 worker, records with hosts / ranks per host /
#       workers, pi with the one-process pool's bits at every layout, and a
#       --baseline check that notes other host counts
#   cluster.nodeloss-*           a rank / the DYNAMIC server / a whole host
#       SIGKILLed during a call: mpirun exits non-zero, nothing survives, no
#       shared memory left (times from the kill are printed)
# Where namespaces cannot be made (not root, unshare refused) every test is
# reported as skipped with the reason (exit 77).
if(NOT TARGET test-mpi-reduce)
  add_test(NAME cluster.not-built
           COMMAND sh -c "echo 'simulated clusters need the MPI mode'; exit 77")
  set_tests_properties(cluster.not-built PROPERTIES LABELS cluster
    SKIP_RETURN_CODE 77)
  return()
endif()

add_executable(cluster-ns cluster/cluster-ns.c)
target_compile_definitions(cluster-ns PRIVATE _GNU_SOURCE)
mpk_warnings(cluster-ns)
add_executable(test-cluster-nodeloss cluster/test-cluster-nodeloss.c)
target_include_directories(test-cluster-nodeloss PRIVATE
                           ${CMAKE_CURRENT_SOURCE_DIR}/mpi
                           ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test-cluster-nodeloss PRIVATE _GNU_SOURCE)
target_link_libraries(test-cluster-nodeloss PRIVATE mpk::mpi m)
mpk_warnings(test-cluster-nodeloss)

set(_cl_run ${CMAKE_CURRENT_SOURCE_DIR}/cluster/mpirun-cluster)
set(_cl_layouts 2x1 2x2 3on2)
set(_cl_np_2x1 2)
set(_cl_np_2x2 4)
set(_cl_np_3on2 3)

# mpk_cluster_test(<name> [NS ns-options...] COMMAND cmd...): cluster.<name>
# runs cmd under cluster-ns.
function(mpk_cluster_test name)
  cmake_parse_arguments(T "" "" "NS;COMMAND" ${ARGN})
  add_test(NAME cluster.${name}
           COMMAND $<TARGET_FILE:cluster-ns> ${T_NS} -- ${T_COMMAND})
  set_tests_properties(cluster.${name} PROPERTIES LABELS cluster TIMEOUT 240
    PROCESSORS 2 SKIP_RETURN_CODE 77)
endfunction()

set(_cl_bits "")
foreach(behavior reduce map for errors kill args subcomm bind)
  foreach(layout ${_cl_layouts})
    set(np ${_cl_np_${layout}})
    set(extra "")
    if(behavior STREQUAL "reduce")
      set(f ${CMAKE_CURRENT_BINARY_DIR}/cluster-reduce-${layout}.bits)
      list(APPEND _cl_bits ${f})
      set(extra --out ${f})
    endif()
    mpk_cluster_test(${behavior}-${layout} NS --timeout 200 COMMAND
      ${_cl_run} ${layout} -- $<TARGET_FILE:test-mpi-${behavior}>
      --expect-ranks ${np} --expect-hosts 2 --expect-counter msg ${extra})
    if(behavior STREQUAL "reduce")
      set_tests_properties(cluster.${behavior}-${layout} PROPERTIES
        FIXTURES_SETUP cluster-reduce-bits)
    endif()
  endforeach()
endforeach()
# The batch-system launch line of docs/guide.md (Open MPI with a hostfile:
# --map-by ppr:R:node:PE=W --bind-to core, what Slurm's srun
# --ntasks-per-node=R --cpus-per-task=W --cpu-bind=cores gives each task):
# every rank's default pool has one worker per core of the cpuset it was
# given, pinned inside it (test-mpi-bind's default-pool check).
foreach(spec "2x2;2;1" "2x1;1;2")
  list(GET spec 0 layout)
  list(GET spec 1 r)
  list(GET spec 2 w)
  mpk_cluster_test(bind-ppr${r}-pe${w} NS --timeout 200 COMMAND
    ${_cl_run} ${layout} --map-by ppr:${r}:node:PE=${w} --bind-to core --
    $<TARGET_FILE:test-mpi-bind> --expect-ranks ${_cl_np_${layout}}
    --expect-hosts 2 --expect-cores ${w})
endforeach()

# the one-host files (tests/cmake/mpi.cmake) first: the reference
set(_cl_ref "")
foreach(np 1 2 4)
  list(APPEND _cl_ref ${CMAKE_CURRENT_BINARY_DIR}/mpi-reduce-np${np}.bits)
endforeach()
add_test(NAME cluster.reduce-same-bits
         COMMAND ${CMAKE_COMMAND} "-DFILES=${_cl_ref};${_cl_bits}"
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/mpi/same-files.cmake)
set_tests_properties(cluster.reduce-same-bits PROPERTIES LABELS cluster
  TIMEOUT 60 FIXTURES_REQUIRED "cluster-reduce-bits;mpi-reduce-bits")

if(TARGET mpk-pi)
  set(_py /usr/bin/python3)
  if(NOT EXISTS ${_py})
    set(_py python3)
  endif()
  mpk_cluster_test(pi-bits NS --timeout 200 COMMAND
    sh ${CMAKE_CURRENT_SOURCE_DIR}/cluster/pi-bits.sh ${_cl_run}
    $<TARGET_FILE:mpk-pi> ${_py})
  if(TARGET mpk-scale)
    mpk_cluster_test(scale-hosts NS --timeout 200 COMMAND
      sh ${CMAKE_CURRENT_SOURCE_DIR}/cluster/scale-hosts.sh
      $<TARGET_FILE:mpk-scale> ${_cl_run} ${_py})
  endif()
endif()
if(TARGET test-guide-mpi-example)
  mpk_cluster_test(guide-example-3on2 NS --timeout 200 COMMAND
    ${_cl_run} 3on2 -- $<TARGET_FILE:test-guide-mpi-example>)
  set_tests_properties(cluster.guide-example-3on2 PROPERTIES
    PASS_REGULAR_EXPRESSION "(^|\n)pi = 3\\.1415926535897936\n"
    FAIL_REGULAR_EXPRESSION "pi = [0-9.]+\n.*pi = ")
endif()

# Losing a node: rank 3 (nodeb) under STATIC; rank 0, which serves the
# DYNAMIC counter (message path), with ranks of both hosts waiting on it;
# all of nodeb (its daemon, ranks 2 and 3 and their workers) at once.
# A lost host's /dev/shm goes with it (mpirun-cluster --lost); every other
# host's must be left clean.
foreach(spec "rank-static;2x2;3;rank;static;"
             "server-dynamic;3on2;0;rank;dynamic;"
             "host-static;2x2;2;host;static;--lost;nodeb")
  list(GET spec 0 name)
  list(GET spec 1 layout)
  list(GET spec 2 victim)
  list(GET spec 3 what)
  list(GET spec 4 part)
  list(SUBLIST spec 5 -1 lost)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/cluster-nodeloss-${name}.stamp)
  mpk_cluster_test(nodeloss-${name}
    NS --expect-fail --timeout 120 --grace 30 --stamp ${stamp}
    COMMAND ${_cl_run} ${lost} ${layout} -- $<TARGET_FILE:test-cluster-nodeloss>
    --expect-ranks ${_cl_np_${layout}} --expect-hosts 2 --victim ${victim}
    --what ${what} --partition ${part} --stamp ${stamp})
endforeach()
