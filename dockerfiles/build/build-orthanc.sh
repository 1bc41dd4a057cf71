#!/bin/sh
# Build the Orthanc server and its sample plugins with the flags of Debian's
# packaging (system libraries, no downloads), and stage them in /out.
# The server's CoreLibrary is the Orthanc framework compiled from the same sources
# (position-independent, so shared objects can link it): it is exported as
# /framework/usr/lib/libOrthancFramework.a for the plugin stages, which link it
# instead of compiling the framework a second time.
set -eu
src=$1
branch=$2
. /opt/orthanc-build/env
ccache --zero-stats >/dev/null
/opt/orthanc-build/restore-assets.sh orthanc "$src"
/opt/orthanc-build/apply-patches.sh orthanc "$src"
samples="ServeFolders ModalityWorklists"
for extra in DelayedDeletion Housekeeper MultitenantDicom; do
  grep -q "add_library($extra" "$src/OrthancServer/CMakeLists.txt" && samples="$samples $extra"
done
cmake -S "$src/OrthancServer" -B /build $CMAKE_COMMON $CMAKE_CROSS $CMAKE_COMPILER \
  -DSTANDALONE_BUILD=ON "-DDCMTK_LIBRARIES=$DCMTK_LIBS" \
  -DUNIT_TESTS_WITH_HTTP_CONNEXIONS=OFF -DBUILD_CONNECTIVITY_CHECKS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_PROJECT_INCLUDE=/opt/orthanc-build/precompiled-headers.cmake
cmake --build /build --parallel "$JOBS" --target Orthanc CoreLibrary $samples
install -D -m 644 /build/libCoreLibrary.a /framework/usr/lib/libOrthancFramework.a
install -D -m 755 /build/Orthanc /out/usr/sbin/Orthanc
mkdir -p /out/usr/share/orthanc/plugins
for name in $samples; do
  cp -P /build/lib$name.so* /out/usr/share/orthanc/plugins/
done
echo "$branch" > /out/usr/share/orthanc/orthanc.branch
/opt/orthanc-build/strip.sh /out
/opt/orthanc-build/runtime-packages.sh /out > /out/runtime-packages.orthanc
echo "build-orthanc: $(file -b /out/usr/sbin/Orthanc)"
ccache --show-stats | sed 's/^/ccache: /'
