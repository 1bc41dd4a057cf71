#!/bin/sh
# Install the Orthanc framework's headers and the plugin SDK (headers, database .proto) under /usr,
# as Debian's liborthancframework-dev and orthanc-dev do, for the plugin stages.  Only the
# framework's CMake project is configured (it generates OrthancFramework.h, whose macros say how
# the framework was configured); nothing is compiled here.  The library the plugins link is the
# core's own compile of the same sources, exported by build-orthanc: the framework is compiled once.
set -eu
src=$1
. /opt/orthanc-build/env
/opt/orthanc-build/apply-patches.sh orthanc "$src"
CCACHE_DISABLE=1 cmake -S "$src/OrthancFramework/SharedLibrary" -B /build-framework $CMAKE_COMMON $CMAKE_CROSS $CMAKE_COMPILER \
  -DCMAKE_INSTALL_PREFIX=/usr -DSTANDALONE_BUILD=ON "-DDCMTK_LIBRARIES=$DCMTK_LIBS" \
  -DUNIT_TESTS_WITH_HTTP_CONNEXIONS=OFF -DBUILD_SHARED_LIBRARY=OFF -DORTHANC_INSTALL_PREFIX=/usr \
  -DBUILD_UNIT_TESTS=OFF >/dev/null
cp -a /build-framework/Include/. /usr/include/
mkdir -p /usr/include/orthanc
cp "$src"/OrthancServer/Plugins/Include/orthanc/* /usr/include/orthanc/  # headers, and the .proto of the database SDK
rm -rf /build-framework
echo "framework headers: $(grep -m1 'define ORTHANC_VERSION ' /usr/include/orthanc-framework/OrthancFramework.h)"
