#!/bin/sh
# On the target, copy what unpack-debs.sh installed on the build machine (DEBS/root), install the
# .deb files it left for the target (DEBS/*.deb: those with maintainer scripts; dpkg orders them),
# and run the triggers left pending (ldconfig); no package list is read or fetched.  Then drop
# what apt and dpkg keep, and make identical licences one file (Boost's are 2 MB each),
# hard-linked.  What apt and dpkg log (with the time of the build) goes too: the same packages
# give the same files.
# With CERTS (make-certificates.sh's folder, when it made any), update-ca-certificates does not run
# here: /etc/ssl/certs comes from CERTS, once this system's own postinst has written the same
# /etc/ca-certificates.conf as the build machine's.
# Usage: install-debs.sh DEBS [CERTS]
set -eu
debs=$1
certs=${2:-}
[ -z "$certs" ] || [ -f "$certs/etc/ca-certificates.conf" ] || certs=""
update=/usr/sbin/update-ca-certificates
if [ -n "$certs" ]; then
  dpkg-divert --quiet --local --rename --divert "$update.made-elsewhere" --add "$update"
  printf '#!/bin/sh\nexit 0\n' > "$update"
  chmod 755 "$update"
fi
if [ -d "$debs/root" ]; then
  cp -a "$debs/root/." /
fi
if [ -n "$(find "$debs" -maxdepth 1 -name '*.deb' -print -quit)" ]; then
  dpkg --force-unsafe-io --install "$debs"/*.deb
fi
dpkg --triggers-only --pending
if [ -n "$certs" ]; then
  rm "$update"
  dpkg-divert --quiet --local --rename --remove "$update"
  if ! cmp -s /etc/ca-certificates.conf "$certs/etc/ca-certificates.conf"; then
    echo "install-debs: /etc/ca-certificates.conf differs from the one the certificates were made from" >&2
    exit 1
  fi
  cp -a "$certs/etc/ssl/certs/." /etc/ssl/certs/
  echo "install-debs: $(find /etc/ssl/certs -name '*.pem' | wc -l) CA certificates made on the build machine"
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old \
  /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/* /var/cache/ldconfig/aux-cache
find /usr/share/doc -type f -name copyright -exec md5sum {} + | sort \
  | awk '$1 == sum { print first, $2; next } { sum = $1; first = $2 }' \
  | while read -r a b; do ln -f "$a" "$b"; done
