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
# Cross-compiling against a system framework, the plugins' CMake looks for JsonCpp's
# headers only in ${ORTHANC_FRAMEWORK_ROOT}/.. (the installed framework's headers are
# found in /usr/include/orthanc-framework all the same).
[ -z "$CMAKE_CROSS" ] || framework="$framework -DORTHANC_FRAMEWORK_ROOT=/usr/include/jsoncpp/json"
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
    targets="OrthancGdcm"
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=dcmdata dcmjpls dcmimage dcmjpeg ofstd $boost pugixml uuid jsoncpp" ;;
  dicomweb|webviewer|wsi)
    # These link most of the static framework (DICOM transcoding, images, HTTP): all it uses.
    targets=$(case $component in dicomweb) echo OrthancDicomWeb ;; webviewer) echo OrthancWebViewer ;; esac)
    extra="-DORTHANC_FRAMEWORK_ADDITIONAL_LIBRARIES=dcmjpls dcmjpeg dcmimage dcmimgle dcmnet dcmtls dcmdata oflog ofstd $boost boost_date_time boost_program_options jsoncpp pugixml uuid curl civetweb lua5.3 sqlite3 png jpeg z ssl crypto" ;;
  *) echo "build-plugin: unknown component $component" >&2; exit 2 ;;
esac
/opt/orthanc-build/restore-assets.sh "$component" "$src"
/opt/orthanc-build/apply-patches.sh "$component" /src  # the whole tree: patches may touch shared folders
# Upstream's WSI has two CMake projects (the viewer plugin and the command-line
# tools); the other plugins have one at the top of their tree.
projects=$src
[ -f "$src/CMakeLists.txt" ] || projects="$src/ViewerPlugin $src/Applications"
mkdir -p /out/usr/share/orthanc/plugins /out/usr/bin
n=0
for project in $projects; do
  n=$((n + 1))
  build=/build/$n
  mkdir -p "$build"
  # The JavaScript and CSS that upstream's build would download, laid out where it
  # looks for them first (its build folder): nothing is downloaded.
  [ -d /assets ] && cp -a /assets/. "$build/"
  (cd "$build" && cmake -S "$project" -B . $CMAKE_COMMON $CMAKE_CROSS $CMAKE_COMPILER $framework "$extra" -DBUILD_UNIT_TESTS=OFF \
    -DCMAKE_PROJECT_INCLUDE=/opt/orthanc-build/plugin-precompiled-headers.cmake)
  # Only what the image ships (no unit tests): WSI's projects each have their own targets.
  case $project in
    */ViewerPlugin) targets="OrthancWSI" ;;
    */Applications) targets="OrthancWSIDicomizer OrthancWSIDicomToTiff" ;;
  esac
  cmake --build "$build" --parallel "$JOBS" --target $targets
  find "$build" -maxdepth 1 -name 'lib*.so*' -exec cp -P {} /out/usr/share/orthanc/plugins/ \;
  for tool in OrthancWSIDicomizer OrthancWSIDicomToTiff; do
    if [ -x "$build/$tool" ]; then install -m 755 "$build/$tool" /out/usr/bin/; fi
  done
done
echo "$branch" > "/out/usr/share/orthanc/$component.branch"
/opt/orthanc-build/strip.sh /out
/opt/orthanc-build/runtime-packages.sh /out > "/out/runtime-packages.$component"
ccache --show-stats | sed 's/^/ccache: /'
