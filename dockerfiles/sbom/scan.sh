#!/bin/sh
# BuildKit's SBOM generator protocol: scan each tree BuildKit mounts (the image at
# $BUILDKIT_SCAN_SOURCE, and stages or contexts a Dockerfile asks for under
# $BUILDKIT_SCAN_SOURCE_EXTRAS) and write one in-toto statement per tree, its predicate
# syft's SPDX document, to $BUILDKIT_SCAN_DESTINATION/<tree>.spdx.json.
set -eu
out=${BUILDKIT_SCAN_DESTINATION:?BuildKit did not set BUILDKIT_SCAN_DESTINATION}
scan() {
  name=$(basename "$1")
  syft scan --quiet --source-name "$name" "dir:$1" --output "spdx-json=/tmp/$name.json"
  { printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":'
    cat "/tmp/$name.json"
    printf '}\n'
  } > "$out/$name.spdx.json"
}
scan "${BUILDKIT_SCAN_SOURCE:?BuildKit did not set BUILDKIT_SCAN_SOURCE}"
if [ -n "${BUILDKIT_SCAN_SOURCE_EXTRAS:-}" ] && [ -d "$BUILDKIT_SCAN_SOURCE_EXTRAS" ]; then
  for tree in "$BUILDKIT_SCAN_SOURCE_EXTRAS"/*; do
    [ -d "$tree" ] && scan "$tree"
  done
fi
