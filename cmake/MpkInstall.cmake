include(CMakePackageConfigHelpers)
install(TARGETS mpk EXPORT mpkTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY lib/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(EXPORT mpkTargets NAMESPACE mpk::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mpk)
# MPI mode, for those who use it: the interface target mpk::mpi (its own
# export file, read by mpkConfig.cmake only for find_package(mpk COMPONENTS
# mpi), which finds MPI for the consumer) and mpk-mpi.pc, which carries
# MPK_WITH_MPI=1 and MPI's compile and link flags as CMake's FindMPI
# reported them (for any MPI, with or without a pkg-config file of its own).
# mpk::mpk and mpk.pc never mention MPI.
set(MPK_BUILT_WITH_MPI OFF)
set(MPK_PC_MPI_CFLAGS "")
set(MPK_PC_MPI_LIBS "")
if(TARGET mpk_mpi)
  set(MPK_BUILT_WITH_MPI ON)
  install(TARGETS mpk_mpi EXPORT mpkMpiTargets)
  install(EXPORT mpkMpiTargets NAMESPACE mpk::
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mpk)
  set(_f -DMPK_WITH_MPI=1)
  foreach(d ${MPI_C_COMPILE_DEFINITIONS})
    list(APPEND _f -D${d})
  endforeach()
  list(APPEND _f ${MPI_C_COMPILE_OPTIONS})
  foreach(d ${MPI_C_INCLUDE_DIRS})
    list(APPEND _f -I${d})
  endforeach()
  list(JOIN _f " " MPK_PC_MPI_CFLAGS)
  set(_l ${MPI_C_LINK_FLAGS})
  foreach(lib ${MPI_C_LIBRARIES})
    if(lib MATCHES "^(.*)/lib([^/]+)\\.(so|a)$")
      list(APPEND _l -L${CMAKE_MATCH_1} -l${CMAKE_MATCH_2})
    else()
      list(APPEND _l ${lib})
    endif()
  endforeach()
  list(JOIN _l " " MPK_PC_MPI_LIBS)
endif()
configure_package_config_file(cmake/mpkConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/mpkConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mpk)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mpkConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mpkConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/mpkConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mpk)
# libmpk is a static library by default, so its link needs (OpenMP, pthread,
# libm, hwloc) are public in mpk.pc; the prefix is relative to the .pc file.
file(RELATIVE_PATH MPK_PC_REL_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" MPK_PC_REL_PREFIX "${MPK_PC_REL_PREFIX}")
configure_file(cmake/mpk.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mpk.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mpk.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(MPK_BUILT_WITH_MPI)
  configure_file(cmake/mpk-mpi.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mpk-mpi.pc
                 @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mpk-mpi.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
