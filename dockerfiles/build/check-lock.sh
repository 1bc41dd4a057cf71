#!/bin/sh
# Compare what apt installed or downloaded with the Debian package lock (versions.lock, given to
# the build as the debian-lock context and copied to /opt/orthanc-build/lock): every package must
# be there, at its locked version.  Without a lock for the distribution, it only says so.
#   check-lock.sh pin              give apt the lock's pins (before apt chooses anything)
#   check-lock.sh before FILE      note the installed packages (before an install)
#   check-lock.sh installed FILE   check the packages installed or changed since `before FILE`
#   check-lock.sh debs DIR         check the .deb files in DIR
set -eu
lock=/opt/orthanc-build/lock/versions
listed() { dpkg-query -W -f '${db:Status-Abbrev} ${Architecture} ${Package} ${Version}\n' | awk '$1 == "ii" { print $2, $3, $4 }' | sort; }
case $1 in
  pin) [ ! -s /opt/orthanc-build/lock/preferences ] || cp /opt/orthanc-build/lock/preferences /etc/apt/preferences.d/orthanc-lock
       exit 0 ;;
  before) listed > "$2"; exit 0 ;;
  installed) got=$(listed | comm -13 "$2" -) ;;
  debs) got=$(for f in "$2"/*.deb; do [ -e "$f" ] && dpkg-deb -W --showformat '${Architecture} ${Package} ${Version}\n' "$f"; done | sort) ;;
  *) echo "check-lock: unknown mode $1" >&2; exit 2 ;;
esac
if [ ! -s "$lock" ]; then
  echo "check-lock: $(cat /opt/orthanc-build/lock/about 2>/dev/null || echo 'no lock'): packages not checked"
  exit 0
fi
bad=$(echo "$got" | while read -r arch name version; do
  [ -n "$name" ] || continue
  locked=$(awk -v a="$arch" -v n="$name" '$1 == a && $2 == n { print $3 }' "$lock")
  if [ -z "$locked" ]; then
    echo "$name:$arch $version is not in the lock"
  elif [ "$locked" != "$version" ]; then
    echo "$name:$arch is $version, the lock says $locked"
  fi
done)
if [ -n "$bad" ]; then
  echo "$bad" | sed 's/^/check-lock: /' >&2
  echo "check-lock: Debian's packages differ from versions.lock ($(cat /opt/orthanc-build/lock/about)); run \`nox -s lock\` to lock the current ones" >&2
  exit 1
fi
echo "check-lock: $(echo "$got" | grep -c . || true) packages as locked"
