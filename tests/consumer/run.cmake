# consumer.install: install this build into a scratch prefix, then configure,
# build and run tests/consumer against it (CMake package), and compile the
# same program with pkg-config flags.
# -D BUILD_DIR=... -D SOURCE_DIR=... -D WORK_DIR=...
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUT "${out}" PARENT_SCOPE)
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(NOT LAST_OUT MATCHES "value=42")
  message(FATAL_ERROR "consumer printed: ${LAST_OUT}")
endif()
message(STATUS "cmake consumer: ${LAST_OUT}")
# pkg-config
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${WORK_DIR}/prefix/lib/pkgconfig:${WORK_DIR}/prefix/lib64/pkgconfig")
run(${PKG_CONFIG} --cflags --libs --static mpk)
string(STRIP "${LAST_OUT}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(cc -std=c11 ${SOURCE_DIR}/tests/consumer/main.c -o ${WORK_DIR}/consumer-pc ${flags})
run(${WORK_DIR}/consumer-pc)
if(NOT LAST_OUT MATCHES "value=42")
  message(FATAL_ERROR "pkg-config consumer printed: ${LAST_OUT}")
endif()
message(STATUS "pkg-config consumer: ${LAST_OUT}")
