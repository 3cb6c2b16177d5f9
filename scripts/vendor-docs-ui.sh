#!/usr/bin/env bash
# Refreshes the vendored Swagger UI behind GET /docs (shared/api/docs-ui/vendor/) from the npm
# registry, at the version pinned in shared/api/docs-ui/swagger-ui-dist.version: the one
# place that names it (the handler reads it too, for its asset URLs and their caching).
#
#   scripts/vendor-docs-ui.sh            # re-vendor the pinned version (same bytes again)
#   scripts/vendor-docs-ui.sh 5.36.0     # pin another version and vendor it
#   scripts/vendor-docs-ui.sh --check    # fail if the vendored files differ from the package
#
# `npm pack` fetches the package's tarball only: no install, so none of its dependencies and
# none of their install scripts run (swagger-ui-dist's one dependency is a telemetry package).
# Only the files the page loads are kept, with the licences.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=shared/api/docs-ui
pin=$dir/swagger-ui-dist.version
out=$dir/vendor
# What the page needs (docs-ui/index.html, docs-init.js) and what its licence asks to keep.
files=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *)
    [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "usage: $0 [X.Y.Z | --check]" >&2; exit 2; }
    echo "$1" >"$pin"
    ;;
esac
version=$(tr -d '[:space:]' <"$pin")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --json "swagger-ui-dist@$version" >pack.json)
integrity=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$tmp/pack.json")
tar -xzf "$tmp/swagger-ui-dist-$version.tgz" -C "$tmp"

# SOURCE: where the files come from and their digests, so a review sees what changed.
{
  echo "swagger-ui-dist@$version (npm registry tarball, $integrity)"
  echo "Written by scripts/vendor-docs-ui.sh; edit nothing here by hand."
  echo
  (cd "$tmp/package" && sha256sum "${files[@]}")
} >"$tmp/SOURCE"

if [ "$check" = 1 ]; then
  status=0
  for f in "${files[@]}" SOURCE; do
    src=$tmp/package/$f
    [ "$f" = SOURCE ] && src=$tmp/SOURCE
    cmp -s "$src" "$out/$f" || { echo "$out/$f differs from swagger-ui-dist@$version" >&2; status=1; }
  done
  extra=$(cd "$out" && ls -A | grep -vxF -f <(printf '%s\n' "${files[@]}" SOURCE) || true)
  [ -z "$extra" ] || { echo "not from the package: $extra" >&2; status=1; }
  [ "$status" = 0 ] && echo "$out is swagger-ui-dist@$version"
  exit "$status"
fi

rm -rf "$out"
mkdir -p "$out"
for f in "${files[@]}"; do
  cp "$tmp/package/$f" "$out/$f"
done
cp "$tmp/SOURCE" "$out/SOURCE"
echo "vendored swagger-ui-dist@$version into $out:"
ls -l "$out"
