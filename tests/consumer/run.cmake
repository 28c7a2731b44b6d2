# consumer.install: install this build into a scratch prefix, then configure,
# build and run tests/consumer against it (CMake package), and compile the
# same programs with pkg-config flags. One program of each kind:
#   consumer      mpk::mpk / pkg-config mpk: no MPI flag, path or library,
#                 whatever mpk was built with (no libmpi loaded when libmpk
#                 is static);
#   consumer-mpi  find_package(mpk COMPONENTS mpi) + mpk::mpi / pkg-config
#                 mpk-mpi: a one-rank MPI pool (only when mpk has MPI; else
#                 the component and mpk-mpi.pc must be missing).
# -D BUILD_DIR=... -D SOURCE_DIR=... -D WORK_DIR=... -D MPI=ON|OFF (whether
# libmpk has the MPI mode)
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUT "${out}" PARENT_SCOPE)
endfunction()
function(expect what pattern)
  if(NOT LAST_OUT MATCHES "${pattern}")
    message(FATAL_ERROR "${what} printed: ${LAST_OUT} (expected ${pattern})")
  endif()
  message(STATUS "${what}: ${LAST_OUT}")
endfunction()
# The one-rank MPI job runs without mpirun, as root here (the launcher
# settings of the MPI tests, never the library's).
set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1)
set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
set(ENV{OMPI_MCA_btl} self,vader)
set(ENV{OMPI_MCA_pml} ob1)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
# A program of mpk::mpk / mpk.pc never needs libmpi when libmpk is static
# (a shared libmpk records its own libmpi).
file(GLOB_RECURSE static_lib ${WORK_DIR}/prefix/libmpk.a)
function(no_libmpi exe)
  if(NOT static_lib)
    return()
  endif()
  run(readelf -d ${exe})
  if(LAST_OUT MATCHES "libmpi")
    message(FATAL_ERROR "${exe} (no MPI) needs libmpi:\n${LAST_OUT}")
  endif()
endfunction()
if(MPI)
  set(cmake_args -DCONSUMER_MPI=ON)
else()
  set(cmake_args -DCONSUMER_EXPECT_NO_MPI=ON)
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
    ${cmake_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
expect("cmake consumer" "value=42")
no_libmpi(${WORK_DIR}/build/consumer)
if(MPI)
  run(${WORK_DIR}/build/consumer-mpi)
  expect("cmake consumer-mpi" "ranks=1 sum=1000")
endif()

# pkg-config
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB_RECURSE pcfile ${WORK_DIR}/prefix/*/mpk.pc)
get_filename_component(pcdir "${pcfile}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
run(${PKG_CONFIG} --cflags --libs mpk)
string(STRIP "${LAST_OUT}" flags)
if(flags MATCHES "MPK_WITH_MPI|mpi")
  message(FATAL_ERROR "pkg-config mpk mentions MPI: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run(cc -std=c11 ${SOURCE_DIR}/tests/consumer/main.c -o ${WORK_DIR}/consumer-pc ${flags})
run(${WORK_DIR}/consumer-pc)
expect("pkg-config consumer" "value=42")
no_libmpi(${WORK_DIR}/consumer-pc)
if(MPI)
  run(${PKG_CONFIG} --cflags --libs mpk-mpi)
  string(STRIP "${LAST_OUT}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(cc -std=c11 ${SOURCE_DIR}/tests/consumer/mpi.c -o ${WORK_DIR}/consumer-mpi-pc ${flags})
  run(${WORK_DIR}/consumer-mpi-pc)
  expect("pkg-config consumer-mpi" "ranks=1 sum=1000")
elseif(EXISTS ${pcdir}/mpk-mpi.pc)
  message(FATAL_ERROR "mpk-mpi.pc installed by an mpk built without MPI")
endif()
