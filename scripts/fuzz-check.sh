#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (the hand-written parsers: input, cursor, refresh token) for
# FUZZ_SECONDS each (20 by default) with libFuzzer, from the seeds in fuzz/seeds/; fails when a
# target crashes (a panic, a failed assertion), leaving the input in fuzz/artifacts/<target>/.
# Reproduce one with `.tools/bin/cargo-fuzz run --fuzz-dir fuzz <target> <file>` (with the
# exports below). cargo-fuzz is installed on first use into .tools/ (nothing outside the
# repository); the build goes to fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
version=0.13.1
tools="$PWD/.tools"
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$version"; then
  echo "== installing cargo-fuzz $version into .tools/"
  cargo install --locked --quiet --root "$tools" --version "$version" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"

# cargo-fuzz passes rustc nightly-only flags (-Z...); the machine has only the stable toolchain
# and no other can be fetched. RUSTC_BOOTSTRAP=1 makes stable rustc accept them (what the
# compiler's own bootstrap does); it is set for this script's builds only, in fuzz/target.
export RUSTC_BOOTSTRAP=1
# No sanitizer: the code fuzzed is safe Rust, so a crash here is a panic, which libFuzzer sees
# without AddressSanitizer's build and run time. --dev: fuzz/Cargo.toml's dev profile (see
# there), far quicker to build than the release default.
flags=(--fuzz-dir fuzz --sanitizer none --dev)

echo "== building the fuzz targets"
cargo fuzz build "${flags[@]}"

status=0
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  echo "== fuzzing $target for ${seconds}s"
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  # The first directory gathers what the run finds (kept between local runs, ignored by
  # git); the seeds are read only. -timeout: one input taking a second is a hang.
  cargo fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    || { echo "!! $target crashed: see fuzz/artifacts/$target/"; status=1; }
done
exit "$status"
