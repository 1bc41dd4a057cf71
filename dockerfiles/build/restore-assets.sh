#!/bin/sh
# Put back the web assets that Debian's dfsg tarballs strip, from the copies
# Debian ships in debian/JS (as Debian's own debian/rules does).  Debian
# minifies them with yui-compressor; browsers need no minification, so the
# unminified files are installed under the expected names.  Upstream sources
# (no debian/ folder) are left as they are.
set -eu
component=$1
src=$2
js=$src/debian/JS
[ -d "$js" ] || { echo "restore-assets: $component: no debian/JS, nothing to restore"; exit 0; }
case $component in
  orthanc)
    libs=$src/OrthancServer/OrthancExplorer/libs
    mkdir -p "$libs/images"
    jq=$(ls "$js"/jquery-*.js | head -n 1)
    mobile=$(ls -d "$js"/jquery.mobile-* | head -n 1)
    cp "$jq" "$libs/jquery.min.js"
    cp "$mobile"/jquery.mobile-*[0-9].js "$libs/jquery.mobile.min.js"
    cp "$mobile"/jquery.mobile-*[0-9].css "$libs/jquery.mobile.min.css"
    cat "$js/DateJs/src/globalization/en-US.js" "$js/DateJs/src/core-debug.js" \
        "$js/DateJs/src/sugarpak-debug.js" "$js/DateJs/src/parser-debug.js" > "$libs/date.js"
    cp "$mobile"/images/* "$libs/images/"
    ;;
  *)
    echo "restore-assets: $component: handled by its build script"
    ;;
esac
echo "restore-assets: $component: restored from debian/JS"
