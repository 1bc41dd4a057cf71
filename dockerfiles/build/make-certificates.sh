#!/bin/sh
# Make the CA certificates of /etc/ssl/certs on the build machine, from the target's own
# ca-certificates package (DEBS/ca-certificates_*_all.deb: the same file the target installs), into
# OUT/etc/ssl/certs, with the /etc/ca-certificates.conf they were made from beside them.  The package is
# architecture-independent and update-ca-certificates writes the same links and bundle on every
# architecture; under qemu its two runs (at configure, then as a trigger) took over two minutes.
# Usage: make-certificates.sh DEBS OUT
set -eu
debs=$1
out=$2
deb=$(find "$debs" -maxdepth 1 -name 'ca-certificates_*_all.deb' | head -n 1)
mkdir -p "$out"
if [ -z "$deb" ]; then
  # The target already has the package (its base image): nothing to install there, nothing to make.
  echo "make-certificates: no ca-certificates package to install"
  exit 0
fi
/opt/orthanc-build/apt-locked.sh "$deb"
mkdir -p "$out/etc/ssl"
cp -a /etc/ssl/certs "$out/etc/ssl/"
cp -a /etc/ca-certificates.conf "$out/etc/"
echo "make-certificates: $(find "$out/etc/ssl/certs" -name '*.pem' | wc -l) certificates ($(dpkg-query -W -f '${Version}' ca-certificates))"
