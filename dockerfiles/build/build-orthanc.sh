#!/bin/sh
# Build the Orthanc server and its sample plugins with the flags of Debian's
# packaging (system libraries, no downloads), and stage them in /out.
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
cmake -S "$src/OrthancServer" -B /build $CMAKE_COMMON $CMAKE_CROSS \
  -DSTANDALONE_BUILD=ON "-DDCMTK_LIBRARIES=$DCMTK_LIBS" \
  -DUNIT_TESTS_WITH_HTTP_CONNEXIONS=OFF -DBUILD_CONNECTIVITY_CHECKS=OFF
cmake --build /build --parallel "$JOBS" --target Orthanc $samples
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
