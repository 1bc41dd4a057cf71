#!/bin/sh
# Print the Debian packages that provide the shared libraries the ELF files
# under $1 need: the runtime stage installs exactly these, with no -dev package.
set -eu
root=$1
find "$root" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do
  file -L "$f" | grep -q ELF || continue
  ldd "$f" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  for candidate in "$lib" "$real" "${lib#/usr}" "${real#/usr}" "/usr$lib" "/usr$real"; do
    if pkg=$(dpkg -S "$candidate" 2>/dev/null); then
      echo "${pkg%%:*}" | cut -d, -f1
      break
    fi
  done
done | sort -u
