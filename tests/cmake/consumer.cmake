# The installed tree works for a downstream CMake project and for pkg-config.
# Not in sanitizer builds: the consumer is built without the sanitizer runtime.
if(NOT MPK_SANITIZED)
get_target_property(_mpk_consumer_defs mpk INTERFACE_COMPILE_DEFINITIONS)
set(_mpk_consumer_mpi OFF)
if(_mpk_consumer_defs AND "MPK_WITH_MPI=1" IN_LIST _mpk_consumer_defs)
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
