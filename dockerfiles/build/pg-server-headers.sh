#!/bin/sh
# The PostgreSQL plugin includes the server's catalog headers (type OIDs: plain
# #defines, the same for every architecture).  Debian's postgresql-server-dev-N
# cannot be installed beside the target's libpq-dev when cross-compiling (it
# depends on the build machine's), so its headers are unpacked from the package,
# downloaded and checked by apt, without installing it: the same for native builds.
set -eu
apt-get update
major=$(apt-cache depends postgresql-server-dev-all \
  | sed -n 's/^ *Depends: postgresql-server-dev-\([0-9][0-9]*\)$/\1/p' | head -n 1)
[ -n "$major" ] || { echo "pg-server-headers: no postgresql-server-dev-N in this distribution" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"  # apt downloads as its own user
(cd "$work" && apt-get download "postgresql-server-dev-$major")
/opt/orthanc-build/check-lock.sh debs "$work"
dpkg-deb -x "$work"/postgresql-server-dev-*.deb "$work/root"
mkdir -p "/usr/include/postgresql/$major"
cp -a "$work/root/usr/include/postgresql/$major/server" "/usr/include/postgresql/$major/"
# Also where CMake's FindPostgreSQL looks whatever the major version: older plugins (6.2) list the
# versions they search (up to 16), and trixie's is 17.
ln -sfn "$major/server" /usr/include/postgresql/server
rm -rf "$work" /var/lib/apt/lists/*
echo "pg-server-headers: /usr/include/postgresql/$major/server from postgresql-server-dev-$major"
