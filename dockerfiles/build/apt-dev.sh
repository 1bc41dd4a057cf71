#!/bin/sh
# Install packages into a builder: the target platform's (-dev packages, with
# :arch when cross-compiling), and, after --build-machine, the build machine's
# own (tools, or headers Debian ships for one architecture only that the
# target's build reads as they are):
#   apt-dev.sh libpq-dev --build-machine postgresql-server-dev-all
set -eu
. /opt/orthanc-build/env
suffix=""
[ "$(dpkg --print-architecture)" = "$DEB_TARGET" ] || suffix=":$DEB_TARGET"
packages=""
for p in "$@"; do
  case $p in
    --build-machine) suffix="" ;;
    *) packages="$packages $p$suffix" ;;
  esac
done
/opt/orthanc-build/apt-locked.sh $packages
