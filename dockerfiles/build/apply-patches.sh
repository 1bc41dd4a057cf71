#!/bin/sh
# Apply the project's patches of one component (patches/<component>/*.patch, each
# starting with a "Why:" line) to its source tree.  A patch whose text is not in
# this release of the source (an older one, without the code it changes) is
# skipped, and the log says so.
set -eu
component=$1
src=$2
dir=/opt/orthanc-build/patches/$component
[ -d "$dir" ] || exit 0
for p in "$dir"/*.patch; do
  [ -e "$p" ] || continue
  if patch -d "$src" -p1 --dry-run --batch --silent < "$p" >/dev/null 2>&1; then
    patch -d "$src" -p1 --batch --silent < "$p"
    echo "patches: $component: applied $(basename "$p")"
  else
    echo "patches: $component: $(basename "$p") does not apply to this source, skipped"
  fi
done
