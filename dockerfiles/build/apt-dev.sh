#!/bin/sh
# Install -dev packages for the target platform (with :arch when cross-compiling).
set -eu
. /opt/orthanc-build/env
suffix=""
[ "$(dpkg --print-architecture)" = "$DEB_TARGET" ] || suffix=":$DEB_TARGET"
apt-get update
apt-get install -y --no-install-recommends $(for p in "$@"; do echo "$p$suffix"; done)
rm -rf /var/lib/apt/lists/*
