#!/bin/sh
# Apply the project's patches of one component (patches/<component>/*.patch, each
# starting with a "Why:" line) to its source tree.  A patch whose text is not in
# this release of the source (an older one, without the code it changes, or a
# newer one that already has the change) is skipped, and the log says so: --forward,
# as patch in batch mode would otherwise take an applied patch as reversed and undo it.
set -eu
component=$1
src=$2
dir=/opt/orthanc-build/patches/$component
[ -d "$dir" ] || exit 0
for p in "$dir"/*.patch; do
  [ -e "$p" ] || continue
  if patch -d "$src" -p1 --forward --dry-run --batch --silent < "$p" >/dev/null 2>&1; then
    patch -d "$src" -p1 --forward --batch --silent < "$p"
    echo "patches: $component: applied $(basename "$p")"
  else
    echo "patches: $component: $(basename "$p") does not apply to this source, skipped"
  fi
done
