#!/bin/sh
# On the target, install the .deb files fetch-debs.sh downloaded (a folder, maybe empty), with
# apt ordering them; no package list is read or fetched.  Then drop what apt and dpkg keep, and
# make identical licences one file (Boost's are 2 MB each), hard-linked.  What apt and dpkg log
# (with the time of the build) goes too: the same packages give the same files.
set -eu
debs=$1
if [ -n "$(find "$debs" -maxdepth 1 -name '*.deb' -print -quit)" ]; then
  apt-get install -y --no-install-recommends "$debs"/*.deb
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old \
  /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/* /var/cache/ldconfig/aux-cache
find /usr/share/doc -type f -name copyright -exec md5sum {} + | sort \
  | awk '$1 == sum { print first, $2; next } { sum = $1; first = $2 }' \
  | while read -r a b; do ln -f "$a" "$b"; done
