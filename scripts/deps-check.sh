#!/usr/bin/env bash
# Fails when a crate of the workspace (or of fuzz/) declares a dependency its code never
# uses: cargo-machete reads the sources, no build. A dependency used in a way it cannot see
# is listed under [package.metadata.cargo-machete] `ignored` in that crate's Cargo.toml, with
# a comment saying why. cargo-machete is installed on first use into .tools/ (nothing outside
# the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/tools.sh
"$(tool_path cargo-machete 0.9.2)"
