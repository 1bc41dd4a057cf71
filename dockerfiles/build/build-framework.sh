#!/bin/sh
# Build the Orthanc framework as a static library and install it with its
# headers and the plugin SDK (headers, database .proto) under /usr, as Debian's
# liborthancframework-dev and orthanc-dev do, for the plugin stages.
set -eu
src=$1
. /opt/orthanc-build/env
ccache --zero-stats >/dev/null
/opt/orthanc-build/apply-patches.sh orthanc "$src"
cmake -S "$src/OrthancFramework/SharedLibrary" -B /build-framework $CMAKE_COMMON $CMAKE_CROSS \
  -DCMAKE_INSTALL_PREFIX=/usr -DSTANDALONE_BUILD=ON "-DDCMTK_LIBRARIES=$DCMTK_LIBS" \
  -DUNIT_TESTS_WITH_HTTP_CONNEXIONS=OFF -DBUILD_SHARED_LIBRARY=OFF -DORTHANC_INSTALL_PREFIX=/usr \
  -DBUILD_UNIT_TESTS=OFF \
  "-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=uuid curl civetweb lua5.3 boost_iostreams boost_locale ofstd png jpeg z crypto"
cmake --build /build-framework --parallel "$JOBS" --target OrthancFramework
cmake --install /build-framework
mkdir -p /usr/include/orthanc
cp "$src"/OrthancServer/Plugins/Include/orthanc/* /usr/include/orthanc/  # headers, and the .proto of the database SDK
rm -rf /build-framework
ccache --show-stats | sed 's/^/ccache: /'
