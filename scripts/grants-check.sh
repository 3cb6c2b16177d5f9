#!/usr/bin/env bash
# The grant test (tests/alone/grants.rs): every function's IAM grants, as the SAM transform
# writes its role, against the calls it makes on a stack of its own with IAM enforced. Fails on a
# refused call (a missing grant) and on a statement, action, resource or dynamodb:Attributes
# entry nothing used (an over-grant). Builds the binaries it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --quiet
if command -v cargo-nextest >/dev/null; then
  cargo nextest run -p rota-tests --test grants --no-fail-fast
else
  cargo test -p rota-tests --test grants
fi
