#!/bin/sh
# Strip the symbols a running server never needs from the ELF files under $1
# (the target's own strip, so cross-compiled files are stripped right): smaller
# images, the same code.
set -eu
root=$1
. /opt/orthanc-build/env
find "$root" -type f | while read -r f; do
  file -b "$f" | grep -q '^ELF' || continue
  "$TRIPLET-strip" --strip-unneeded "$f"
done
