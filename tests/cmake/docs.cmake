# docs: the guide's complete C programs compile clean.
#   docs.guide  each ```c block of docs/guide.md with a main, compiled with
#               -std=c11 -Wall -Wextra -Werror (the MPI one with MPI's flags
#               when mpk is built with the MPI mode)
get_target_property(_docs_defs mpk INTERFACE_COMPILE_DEFINITIONS)
set(_docs_mpi "")
if(_docs_defs AND "MPK_WITH_MPI=1" IN_LIST _docs_defs)
  set(_docs_mpi "-DMPK_WITH_MPI=1")
  foreach(d ${MPI_C_INCLUDE_DIRS})
    string(APPEND _docs_mpi " -I${d}")
  endforeach()
endif()
mpk_test(docs guide TIMEOUT 240
  ENV MPK_SOURCE_DIR=${PROJECT_SOURCE_DIR} MPK_CC=${CMAKE_C_COMPILER}
      "MPK_MPI_CFLAGS=${_docs_mpi}")
