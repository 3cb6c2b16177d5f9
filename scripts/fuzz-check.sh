#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (the hand-written parsers) for FUZZ_SECONDS each (15 by
# default) with libFuzzer, from the seeds in fuzz/seeds/; fails when a target crashes (a panic,
# a failed assertion), leaving the input in fuzz/artifacts/<target>/. Reproduce one with
# `.tools/bin/cargo-fuzz run --fuzz-dir fuzz --sanitizer none --dev <target> <file>`.
#
# The targets are rota-domain's: `input` (every input parser on any text), `refresh_token` and
# `cursor`. FUZZ_API=1 adds rota-api's JSON body fields to `input`; rota-api brings the AWS
# SDKs into the instrumented build, which takes many minutes cold on 2 cores, more than CI's
# budget (30 minutes in all, ~26 of them before this).
#
# cargo-fuzz is installed on first use into .tools/ (nothing outside the repository); the
# build goes to fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-15}"
. scripts/lib/tools.sh
PATH="$(dirname "$(tool_path cargo-fuzz 0.13.2)"):$PATH"
export PATH

# No sanitizer: the code fuzzed is safe Rust, so a crash here is a panic, which libFuzzer sees
# without AddressSanitizer. It also keeps to the stable toolchain (the machine's only one):
# cargo-fuzz's one nightly-only flag is -Zsanitizer, so neither nightly nor RUSTC_BOOTSTRAP is
# needed. --dev: fuzz/Cargo.toml's dev profile (see there).
flags=(--fuzz-dir fuzz --sanitizer none --dev)
targets=(input refresh_token cursor)
if [ "${FUZZ_API:-0}" != 1 ]; then
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
