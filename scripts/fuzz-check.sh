#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (the hand-written parsers) for FUZZ_SECONDS each (20 by
# default) with libFuzzer, from the seeds in fuzz/seeds/; fails when a target crashes (a panic,
# a failed assertion), leaving the input in fuzz/artifacts/<target>/. Reproduce one with
# `.tools/bin/cargo-fuzz run --fuzz-dir fuzz --sanitizer none --dev <target> <file>`.
#
# By default the targets on rota-domain: `input` (every input parser on any text) and
# `refresh_token`. FUZZ_API=1 adds rota-api's: `cursor`, and the JSON body's fields in
# `input`; rota-api brings the AWS SDKs into the instrumented build, which takes many minutes
# cold on 2 cores, more than CI's budget (30 minutes in all, ~26 of them before this).
#
# cargo-fuzz is installed on first use into .tools/ (nothing outside the repository); the
# build goes to fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
version=0.13.2
tools="$PWD/.tools"
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$version"; then
  echo "== installing cargo-fuzz $version into .tools/"
  cargo install --locked --quiet --root "$tools" --version "$version" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"

# No sanitizer: the code fuzzed is safe Rust, so a crash here is a panic, which libFuzzer sees
# without AddressSanitizer. It also keeps to the stable toolchain (the machine's only one):
# cargo-fuzz's one nightly-only flag is -Zsanitizer, so neither nightly nor RUSTC_BOOTSTRAP is
# needed. --dev: fuzz/Cargo.toml's dev profile (see there).
flags=(--fuzz-dir fuzz --sanitizer none --dev)
targets=(input refresh_token)
if [ "${FUZZ_API:-0}" = 1 ]; then
  targets+=(cursor)
else
  flags+=(--no-default-features)
fi

echo "== building the fuzz targets"
cargo fuzz build "${flags[@]}"

status=0
for target in "${targets[@]}"; do
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
