#!/bin/sh
# Compile one locale into OUT/usr/lib/locale/<name>.<charset> (as `localedef --no-archive` does in
# place), with the distribution's locales package at the version of the Debian package lock.  Runs on
# the build machine: the compiled files depend on the glibc version, not on the architecture.
# Usage: compile-locale.sh OUT en_US UTF-8
set -eu
out=$1
input=$2
charmap=$3
/opt/orthanc-build/apt-locked.sh locales
name="$input.$(echo "$charmap" | tr 'A-Z' 'a-z' | tr -d -)"
mkdir -p "$out/usr/lib/locale"
localedef --no-archive --inputfile="$input" --charmap="$charmap" "$out/usr/lib/locale/$name"
echo "compile-locale: $out/usr/lib/locale/$name ($(dpkg-query -W -f '${Version}' locales))"
