# Precompiled headers for the Orthanc core, read by build-orthanc.sh as CMAKE_PROJECT_INCLUDE.
# Orthanc's sources each start with the header meant for this (PrecompiledHeaders.h, and the
# server's PrecompiledHeadersServer.h), but its CMakeLists precompiles it for Visual Studio only.
# Here CMake's own mechanism precompiles it once per library, and every source of that library
# reads the result instead of parsing Boost, JsonCpp and DCMTK again (a third less compile time
# for the framework with clang). Clang only: GCC's precompiled headers are several times larger
# and need more memory per compile, which small boards do not have.
# With ORTHANC_USE_PRECOMPILED_HEADERS=1 the header includes what it names; the define changes
# nothing else in Orthanc's sources. A release without these headers builds as before.
function(orthanc_build_precompiled_headers)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    return()
  endif()
  set(framework "${CMAKE_SOURCE_DIR}/../OrthancFramework/Sources/PrecompiledHeaders.h")
  set(server "${CMAKE_SOURCE_DIR}/Sources/PrecompiledHeadersServer.h")
  foreach(pair "CoreLibrary=${framework}" "ServerLibrary=${server}")
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 target)
    list(GET pair 1 header)
    if(TARGET ${target} AND EXISTS "${header}")
      target_compile_definitions(${target} PRIVATE ORTHANC_USE_PRECOMPILED_HEADERS=1)
      target_precompile_headers(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${header}>")
      # No time stamp in the precompiled header, so the compiler cache can take it (with the
      # sloppiness build-orthanc.sh gives ccache) and two builds write the same objects.
      target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:SHELL:-Xclang -fno-pch-timestamp>")
      message(STATUS "Precompiled headers: ${target} (${header})")
    endif()
  endforeach()
endfunction()
# After the whole top-level CMakeLists has run, when its targets exist.
cmake_language(DEFER CALL orthanc_build_precompiled_headers)
