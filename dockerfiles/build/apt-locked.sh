#!/bin/sh
# Install Debian packages at the versions of the Debian package lock, and check them: apt takes the
# lock's pins, reads the package lists and drops them again, and check-lock.sh compares every
# package installed or changed with the lock (a version that left Debian's archive, or a package
# the lock lacks, fails the step naming it). Every install of the Dockerfile goes through here.
# dpkg skips its fsync calls (--force-unsafe-io), as Debian's official images configure it: a build
# step that does not finish leaves no layer, so what they protect against cannot happen here.
# Usage: apt-locked.sh PACKAGE...   (names, name:arch, or .deb files)
set -eu
/opt/orthanc-build/check-lock.sh pin
/opt/orthanc-build/check-lock.sh before /tmp/packages-before
apt-get -q update
apt-get -q install -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "$@"
rm -rf /var/lib/apt/lists/*
/opt/orthanc-build/check-lock.sh installed /tmp/packages-before
rm -f /tmp/packages-before
