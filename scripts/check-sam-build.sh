#!/usr/bin/env bash
# What `sam build` left in .aws-sam/build for `sam deploy` to upload: every function of the
# built template has a `bootstrap` in the directory its CodeUri names (SAM builds once, as the
# functions' build properties are identical, into one directory they all name), checked by
# scripts/check-artifact.sh for ARCH and the same file as target/lambda/rota/bootstrap (what
# tests/alone/package.rs holds to the template). Usage: scripts/check-sam-build.sh ARCH
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: scripts/check-sam-build.sh ARCH}
build=.aws-sam/build
artifact=target/lambda/rota/bootstrap
[[ -f $build/template.yaml ]] || { echo "$build/template.yaml: no sam build output" >&2; exit 1; }

# The built template's functions and the directory SAM gave each (its CodeUri).
mapfile -t dirs < <(.venv/bin/python - "$build/template.yaml" <<'PY'
import sys
from samtranslator.yaml_helper import yaml_parse
t = yaml_parse(open(sys.argv[1]).read())
for name, r in t["Resources"].items():
    if r.get("Type") == "AWS::Serverless::Function":
        print(r["Properties"]["CodeUri"])
PY
)
(( ${#dirs[@]} > 0 )) || { echo "$build/template.yaml has no function" >&2; exit 1; }
functions=${#dirs[@]}
mapfile -t dirs < <(printf '%s\n' "${dirs[@]}" | sort -u)
first=$build/${dirs[0]}/bootstrap
[[ -f $first ]] || { echo "$first: missing" >&2; exit 1; }
scripts/check-artifact.sh "$first" "$arch"
want=$(sha256sum "$first" | cut -d' ' -f1)
for bin in "$artifact" "${dirs[@]/#/$build/}"; do
  [[ $bin == "$artifact" ]] || bin=$bin/bootstrap
  [[ -f $bin ]] || { echo "$bin: missing" >&2; exit 1; }
  [[ $(sha256sum "$bin" | cut -d' ' -f1) == "$want" ]] || { echo "$bin differs from $first" >&2; exit 1; }
done
echo "$build: $functions functions in ${#dirs[@]} artifact director$( ((${#dirs[@]} == 1)) && echo y || echo ies), the checked binary (the same as $artifact)"
