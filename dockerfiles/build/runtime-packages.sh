#!/bin/sh
# Print the Debian packages that provide the shared libraries (ELF NEEDED entries)
# of the files under $1; the runtime stage installs exactly these, and apt brings
# what they depend on.  readelf reads any architecture, so this works for
# cross-compiled files too.
set -eu
root=$1
. /opt/orthanc-build/env
# The target's readelf (the toolchain has it, native or cross): a cross builder may have no
# plain readelf, and a list left empty would leave the image without its libraries.
readelf=$TRIPLET-readelf
command -v "$readelf" >/dev/null || { echo "runtime-packages: $readelf is missing" >&2; exit 1; }
find "$root" -type f | while read -r f; do
  file -L "$f" | grep -q ELF || continue
  "$readelf" -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u | while read -r soname; do
  for dir in "/usr/lib/$TRIPLET" "/lib/$TRIPLET" /usr/lib /lib; do
    [ -e "$dir/$soname" ] || continue
    if pkg=$(dpkg -S "$dir/$soname" 2>/dev/null); then
      echo "${pkg%%:*}" | cut -d, -f1
      break
    fi
  done
done | sort -u
