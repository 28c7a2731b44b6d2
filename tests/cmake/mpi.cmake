# The pool over MPI (mpk/mpi.h). Each tests/mpi/test-mpi-<behavior>.c is one
# program, run under mpirun at 1, 2 and 4 ranks as mpi.<behavior>-np<R>
# (label mpi), some also as mpi.<behavior>-np4-msg (DYNAMIC's message path). The program checks that it got R ranks (--expect-ranks R):
# a launcher that ignored the rank count would otherwise pass silently.
# When libmpk is built without MPI, one test, mpi.not-built, says why and
# is reported as skipped.
if(NOT TARGET mpk::mpi)
  if(MPK_WITH_MPI STREQUAL "OFF")
    set(_why "MPK_WITH_MPI=OFF")
  elseif(NOT MPK_HAVE_MPI)
    set(_why "no MPI C library found (MPK_WITH_MPI=${MPK_WITH_MPI})")
  else()
    set(_why "lib/src/mpi/ has no sources")
  endif()
  add_test(NAME mpi.not-built
           COMMAND sh -c "echo 'MPI mode not built: ${_why}'; exit 77")
  set_tests_properties(mpi.not-built PROPERTIES LABELS mpi SKIP_RETURN_CODE 77)
  return()
endif()

# Launcher settings for the tests only (never the library): running as root
# on one machine, shared memory transports (fork-safe), and with Open MPI
# more ranks than cores.
set(MPK_MPI_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1)
if(MPK_SANITIZED)
  # Open MPI keeps allocations until exit that LeakSanitizer reports; the
  # slow unwinder sees through Open MPI's frames to the suppressed callers.
  list(APPEND MPK_MPI_TEST_ENV
       "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/mpi/lsan.supp:fast_unwind_on_malloc=0")
endif()
set(MPK_MPI_OVERSUBSCRIBE "")
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version
                OUTPUT_VARIABLE _mpk_mpiexec_version ERROR_QUIET)
if(_mpk_mpiexec_version MATCHES "Open MPI|OpenRTE")
  set(MPK_MPI_OVERSUBSCRIBE --oversubscribe)
endif()

# mpk_mpi_test(<behavior> [OUT] [MSG]): build tests/mpi/test-mpi-<behavior>.c
# and register it at 1, 2 and 4 ranks (DYNAMIC must take the shared-memory
# counter: one node). MSG: also mpi.<behavior>-np4-msg, with no one-sided
# component at all (OMPI_MCA_osc excludes them): the window cannot be made
# and DYNAMIC must take the message path. OUT: pass --out <file> per run
# and add mpi.<behavior>-same-bits, which needs the runs (a fixture) and
# compares their files byte for byte.
set(MPK_MPI_NO_OSC "OMPI_MCA_osc=^sm,rdma,pt2pt,ucx,monitoring")
function(mpk_mpi_test behavior)
  cmake_parse_arguments(T "OUT;MSG" "" "" ${ARGN})
  set(target test-mpi-${behavior})
  add_executable(${target} mpi/${target}.c)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                             ${PROJECT_SOURCE_DIR}/lib/src)
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  target_link_libraries(${target} PRIVATE mpk::mpi m)
  mpk_warnings(${target})
  set(files "")
  set(runs np1 np2 np4)
  if(T_MSG)
    list(APPEND runs np4-msg)
  endif()
  foreach(run ${runs})
    string(REGEX REPLACE "^np([0-9]+).*" "\\1" np ${run})
    set(name mpi.${behavior}-${run})
    set(env ${MPK_MPI_TEST_ENV})
    set(counter shm)
    if(run MATCHES "-msg$")
      list(APPEND env ${MPK_MPI_NO_OSC})
      set(counter msg)
    endif()
    set(extra --expect-counter ${counter})
    if(T_OUT)
      set(f ${CMAKE_CURRENT_BINARY_DIR}/mpi-${behavior}-${run}.bits)
      list(APPEND files ${f})
      list(APPEND extra --out ${f})
    endif()
    add_test(NAME ${name}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np}
                     ${MPK_MPI_OVERSUBSCRIBE} ${MPIEXEC_PREFLAGS}
                     $<TARGET_FILE:${target}> ${MPIEXEC_POSTFLAGS}
                     --expect-ranks ${np} ${extra})
    set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 60
      PROCESSORS ${np} ENVIRONMENT "${env}")
    if(T_OUT)
      set_tests_properties(${name} PROPERTIES
        FIXTURES_SETUP mpi-${behavior}-bits)
    endif()
  endforeach()
  if(T_OUT)
    add_test(NAME mpi.${behavior}-same-bits
             COMMAND ${CMAKE_COMMAND} "-DFILES=${files}"
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/mpi/same-files.cmake)
    set_tests_properties(mpi.${behavior}-same-bits PROPERTIES LABELS mpi
      TIMEOUT 60 FIXTURES_REQUIRED mpi-${behavior}-bits)
  endif()
endfunction()

mpk_mpi_test(reduce OUT MSG)
mpk_mpi_test(map)
mpk_mpi_test(for MSG)
mpk_mpi_test(errors MSG)
mpk_mpi_test(kill MSG)
mpk_mpi_test(args)
mpk_mpi_test(subcomm)
mpk_mpi_test(threadlevel)
mpk_mpi_test(bind)
# mpirun binds 1 or 2 ranks to a core each; unbound, 2 ranks must share.
add_test(NAME mpi.bind-np2-unbound
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2
                 ${MPK_MPI_OVERSUBSCRIBE} --bind-to none ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test-mpi-bind> ${MPIEXEC_POSTFLAGS}
                 --expect-ranks 2)
set_tests_properties(mpi.bind-np2-unbound PROPERTIES LABELS mpi TIMEOUT 60
  PROCESSORS 2 ENVIRONMENT "${MPK_MPI_TEST_ENV}")
