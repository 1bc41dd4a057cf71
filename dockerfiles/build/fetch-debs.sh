#!/bin/sh
# On the build machine, download the target platform's .deb files that installing PACKAGE...
# would add to a system whose dpkg status is STATUS (copied from the target stage), into OUT.
# The runtime stages then install exactly these files with no package lists to read: reading
# Debian's lists under emulation took minutes per stage, unpacking the files takes seconds.
# Usage: fetch-debs.sh STATUS OUT PACKAGE...
set -eu
status=$1
out=$2
shift 2
case "${TARGETARCH:-}${TARGETVARIANT:-}" in
  amd64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  armv7) arch=armhf ;;
  *) echo "fetch-debs: unsupported target ${TARGETARCH:-}${TARGETVARIANT:-}" >&2; exit 2 ;;
esac
# The Debian package lock's pins (empty when the distribution is not locked).
/opt/orthanc-build/check-lock.sh pin
root=$(mktemp -d)
mkdir -p "$root/dpkg" "$root/archives/partial" "$root/lists/partial" "$out"
cp "$status" "$root/dpkg/status"
# apt as if it ran on the target: its architecture, its dpkg status, lists and archives of its own.
opts="-o APT::Architecture=$arch -o APT::Architectures=$arch -o Dir::State::status=$root/dpkg/status
  -o Dir::State::Lists=$root/lists -o Dir::Cache::archives=$root/archives
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root"
apt-get -q $opts update
apt-get -q -y $opts --download-only --no-install-recommends install "$@"
find "$root/archives" -maxdepth 1 -name '*.deb' -exec mv {} "$out/" \;
# The pins of the Debian package lock (/etc/apt/preferences.d) chose these; check that they did.
/opt/orthanc-build/check-lock.sh debs "$out"
rm -rf "$root"
echo "fetch-debs: $(find "$out" -name '*.deb' | wc -l) packages for $arch"
