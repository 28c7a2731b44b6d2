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
