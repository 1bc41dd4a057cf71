#!/bin/sh
# On the build machine, install the .deb files of DEBS that carry no maintainer script as dpkg on
# the target would, and write what that adds or changes to the target's files into OUT/root (for
# install-debs.sh to copy onto the target, and to hard-link identical licences there); copy the
# packages that carry scripts into OUT, for the target to install (their scripts must run there).  ROOT is the target stage's file system,
# read-only.  Under qemu, dpkg's unpacking was most of each runtime stage's time; here it takes
# seconds.  The ldconfig trigger stays pending for the target's dpkg (install-debs.sh runs it).
# Usage: unpack-debs.sh ROOT DEBS OUT
set -eu
root=$1
debs=$2
out=$3
tree=$out/root
mkdir -p "$tree"
plain=""
for deb in "$debs"/*.deb; do
  [ -e "$deb" ] || continue
  if dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -qE '^(\./)?(preinst|postinst|prerm|postrm|config)$'; then
    cp "$deb" "$out/"
  else
    plain="$plain $deb"
  fi
done
echo "unpack-debs: $(echo $plain | wc -w) packages installed here, $(find "$out" -maxdepth 1 -name '*.deb' | wc -l) with maintainer scripts left for the target"
[ -n "$plain" ] || exit 0
# dpkg works on a copy of the whole target, with the target's dpkg configuration (what it leaves
# out: documentation, ...), so that it sees the files and directories the target has; what it
# touched is what changed its inode (ctime) after the copy.
work=$(mktemp -d)
cp -a "$root/." "$work/"
find "$root/etc/dpkg/dpkg.cfg.d" -type f -exec cp {} /etc/dpkg/dpkg.cfg.d/ \;
touch "$work.since"
# (a second later, so that nothing dpkg touches shares the time stamp's clock tick)
sleep 1
# Dependencies on the packages left for the target are met there.
# shellcheck disable=SC2086
dpkg --root="$work" --force-depends --force-unsafe-io --no-triggers --unpack $plain
# shellcheck disable=SC2046,SC2086
dpkg --root="$work" --force-depends --force-unsafe-io --no-triggers --configure \
  $(for deb in $plain; do dpkg-deb --show --showformat '${Package}:${Architecture}\n' "$deb"; done)
(cd "$root" && find . | sort) > "$work.before"
(cd "$work" && find . | sort) > "$work.after"
if [ -n "$(comm -23 "$work.before" "$work.after" | head -n 1)" ]; then
  echo "unpack-debs: installing these packages removes files of the target:" >&2
  comm -23 "$work.before" "$work.after" >&2
  exit 1
fi
(cd "$work" && find . -cnewer "$work.since" ! -name lock ! -name lock-frontend ! -name Lock ! -path ./var/log/dpkg.log -print0 \
  | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$tree"
rm -rf "$work" "$work.since" "$work.before" "$work.after"
echo "unpack-debs: $(find "$tree" ! -type d | wc -l) files for the target"
