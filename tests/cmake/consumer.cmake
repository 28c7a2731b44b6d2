# The installed tree works for a downstream CMake project and for pkg-config.
# Not in sanitizer builds: the consumer is built without the sanitizer runtime.
if(NOT MPK_SANITIZED)
# One program of each kind: mpk::mpk (no MPI) and, when libmpk has the MPI
# mode, mpk::mpi (tests/consumer/run.cmake).
set(_mpk_consumer_mpi OFF)
if(TARGET mpk::mpi)
  set(_mpk_consumer_mpi ON)
endif()
add_test(NAME consumer.install
         COMMAND ${CMAKE_COMMAND} -D BUILD_DIR=${PROJECT_BINARY_DIR}
                 -D SOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -D WORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-work
                 -D MPI=${_mpk_consumer_mpi}
                 -P ${PROJECT_SOURCE_DIR}/tests/consumer/run.cmake)
set_tests_properties(consumer.install PROPERTIES LABELS unit TIMEOUT 180)
endif()
