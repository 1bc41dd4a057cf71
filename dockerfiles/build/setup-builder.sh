#!/bin/sh
# Prepare a builder: toolchain and -dev packages, native or cross.
# Builder stages run on the build machine's platform; when the target platform
# (TARGETARCH/TARGETVARIANT) differs, Debian's cross toolchain and the target's
# multiarch -dev packages are installed, and a CMake toolchain file is written.
# Writes /opt/orthanc-build/env, sourced by the build scripts:
#   CMAKE_CROSS  flags for cmake (empty when native)
#   CMAKE_COMPILER  flags for cmake naming the compilers of a native clang build (else empty)
#   DCMTK_LIBS   DCMTK libraries to link explicitly
#   TRIPLET      multiarch triplet of the target
#   JOBS         parallel compile jobs (the build secret `jobs`, else nproc)
# Usage: setup-builder.sh PACKAGE...   (packages as for the target, without :arch)
# TOOLCHAIN (a build argument): gcc, Debian's compilers (the default), or clang: LLVM's one
# compiler for every target, as fast for a foreign target as for its own, where Debian's cross
# GCC (built without the profile-guided bootstrap of its native GCC) compiles a quarter slower;
# it links with the target's GNU binutils and libstdc++, as GCC does.
set -eu
toolchain=${TOOLCHAIN:-gcc}
case $toolchain in
  gcc) cc=gcc; cxx=g++ ;;
  clang) cc=clang; cxx=clang++ ;;
  *) echo "setup-builder: unknown toolchain $toolchain (gcc or clang)" >&2; exit 2 ;;
esac
case "${TARGETARCH:-}${TARGETVARIANT:-}" in
  amd64) target=amd64; triplet=x86_64-linux-gnu; processor=x86_64 ;;
  arm64) target=arm64; triplet=aarch64-linux-gnu; processor=aarch64 ;;
  armv7) target=armhf; triplet=arm-linux-gnueabihf; processor=arm ;;
  "") target=$(dpkg --print-architecture); triplet=$(gcc -dumpmachine 2>/dev/null || echo unknown); processor=$(uname -m) ;;
  *) echo "setup-builder: unsupported target ${TARGETARCH}${TARGETVARIANT}" >&2; exit 2 ;;
esac
build=$(dpkg --print-architecture)
# Packages are installed at the Debian package lock's versions, and checked (apt-locked.sh).
tools="ca-certificates ccache cmake make ninja-build file patch unzip python3 pkg-config protobuf-compiler"
llvm="clang"
[ "$toolchain" = clang ] || llvm=""
if [ "$build" = "$target" ]; then
  echo "setup-builder: native build for $target"
  /opt/orthanc-build/apt-locked.sh $tools g++ $llvm "$@"
  cross=""
  compiler=""
  [ "$toolchain" = gcc ] || compiler="-DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx"
  dcmtk="dcmjpls"
else
  echo "setup-builder: cross build on $build for $target"
  dpkg --add-architecture "$target"
  # GCC needs Debian's cross compilers (crossbuild-essential). Clang compiles for any target
  # itself: it needs only the target's linker (binutils-<triplet>) and the target's C and C++
  # libraries, which the -dev packages bring as the target's own (libstdc++-<N>-dev:<arch>,
  # with libgcc-<N>-dev and libc6-dev), the same files as the cross compilers' copies of them.
  cross_toolchain="crossbuild-essential-$target"
  [ "$toolchain" = gcc ] || cross_toolchain="binutils-$triplet"
  /opt/orthanc-build/apt-locked.sh $tools $llvm $cross_toolchain \
    $(for p in "$@"; do echo "$p:$target"; done)
  # (Debian's clang takes arm-linux-gnueabihf for Debian's armhf: ARMv7-A, Thumb-2, VFPv3-D16.)
  cat > /opt/orthanc-build/toolchain.cmake <<CMAKE
set(CMAKE_SYSTEM_NAME Linux)
# Orthanc forces a static build (with downloads) when cross-compiling, unless the
# system version is CrossToolNg; the system libraries of the target are used here.
set(CMAKE_SYSTEM_VERSION CrossToolNg)
set(CMAKE_SYSTEM_PROCESSOR $processor)
$(if [ "$toolchain" = gcc ]; then
    printf 'set(CMAKE_C_COMPILER %s)\nset(CMAKE_CXX_COMPILER %s)\n' "$triplet-gcc" "$triplet-g++"
  else
    printf 'set(CMAKE_C_COMPILER %s)\nset(CMAKE_CXX_COMPILER %s)\n' "$cc" "$cxx"
    printf 'set(CMAKE_C_COMPILER_TARGET %s)\nset(CMAKE_CXX_COMPILER_TARGET %s)\n' "$triplet" "$triplet"
  fi)
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_LIBRARY_ARCHITECTURE $triplet)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
CMAKE
  cross="-DCMAKE_TOOLCHAIN_FILE=/opt/orthanc-build/toolchain.cmake"
  compiler=""
  # DCMTK's own link list is not used when cross-compiling: name what Orthanc needs.
  dcmtk="dcmjpls;dcmtls;dcmimgle;dcmimage"
  echo "PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig; export PKG_CONFIG_LIBDIR" \
    >> /opt/orthanc-build/env
fi
{
  # Parallel compile jobs: the build secret `jobs` when the step mounts it, else one per processor.
  echo 'JOBS=$(cat /run/secrets/jobs 2>/dev/null || nproc)'
  echo "CMAKE_CROSS='$cross'"
  echo "CMAKE_COMPILER='$compiler'"
  echo "DCMTK_LIBS='$dcmtk'"
  echo "TRIPLET='$triplet'"
  echo "DEB_TARGET='$target'"
} >> /opt/orthanc-build/env
# The compilers link a C++ program for the target, so a builder that lacks part of its toolchain
# fails here, naming it, and not in the middle of a component's compile.
mkdir -p /tmp/toolchain-check
printf '#include <string>\n#include <thread>\nint main() { std::thread t([] {}); t.join(); return std::string("ok").size() == 2 ? 0 : 1; }\n' \
  > /tmp/toolchain-check/check.cpp
printf 'cmake_minimum_required(VERSION 3.10)\nproject(toolchain_check CXX)\nfind_package(Threads REQUIRED)\nadd_executable(check check.cpp)\ntarget_link_libraries(check Threads::Threads)\n' \
  > /tmp/toolchain-check/CMakeLists.txt
if ! { cmake -S /tmp/toolchain-check -B /tmp/toolchain-check/build $cross $compiler \
       && cmake --build /tmp/toolchain-check/build; } >/tmp/toolchain-check.log 2>&1; then
  cat /tmp/toolchain-check.log >&2
  echo "setup-builder: the $toolchain toolchain cannot link a C++ program for $target (log above)" >&2
  exit 1
fi
file /tmp/toolchain-check/build/check
rm -rf /tmp/toolchain-check /tmp/toolchain-check.log
cat /opt/orthanc-build/env
