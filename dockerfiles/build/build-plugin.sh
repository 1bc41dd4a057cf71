#!/bin/sh
# Build one plugin against the system libraries and the static framework,
# with the flags of the plugin's Debian packaging, and stage its files in /out.
set -eu
. /opt/orthanc-build/env
ccache --zero-stats >/dev/null
component=$1
src=$2
branch=$3
framework="-DORTHANC_FRAMEWORK_SOURCE=system -DORTHANC_FRAMEWORK_USE_SHARED=OFF"
boost="boost_filesystem boost_iostreams boost_locale boost_regex boost_thread"
targets=""
case $component in
  postgresql)
    targets="OrthancPostgreSQLIndex OrthancPostgreSQLStorage"
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=$boost jsoncpp pugixml uuid" ;;
  mysql)
    targets="OrthancMySQLIndex OrthancMySQLStorage"
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=$boost jsoncpp pugixml uuid curl dcmdata dcmjpls dcmjpeg dcmimage ofstd" ;;
  gdcm)
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=dcmdata dcmjpls dcmimage dcmjpeg ofstd $boost pugixml uuid jsoncpp" ;;
  dicomweb|webviewer)
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=$boost jsoncpp pugixml uuid dcmdata ofstd" ;;
  wsi)
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=$boost jsoncpp pugixml uuid dcmdata dcmjpls dcmimage dcmjpeg ofstd" ;;
  *) echo "build-plugin: unknown component $component" >&2; exit 2 ;;
esac
/opt/orthanc-build/restore-assets.sh "$component" "$src"
cmake -S "$src" -B /build $CMAKE_COMMON $CMAKE_CROSS $framework "$extra" -DBUILD_UNIT_TESTS=OFF
cmake --build /build --parallel "$(nproc)" ${targets:+--target $targets}
mkdir -p /out/usr/share/orthanc/plugins /out/usr/bin
find /build -maxdepth 1 -name 'lib*.so*' -exec cp -P {} /out/usr/share/orthanc/plugins/ \;
for tool in OrthancWSIDicomizer OrthancWSIDicomToTiff; do
  [ -x "/build/$tool" ] && install -m 755 "/build/$tool" /out/usr/bin/
done
echo "$branch" > "/out/usr/share/orthanc/$component.branch"
/opt/orthanc-build/runtime-packages.sh /out > "/out/runtime-packages.$component"
ccache --show-stats | sed 's/^/ccache: /'
