#!/usr/bin/env bash
# Where a warm instance's CPU goes (BENCHMARKS.md, "Where the CPU goes"): rota-bench drives one
# function with many warm requests while `perf record` (cpu-clock: this machine has no hardware
# counters; DWARF call graphs from .eh_frame) samples that one instance; then the samples by part
# (scripts/profile_parts.py).
#
#   scripts/profile.sh UsersMeGetFunction users-me-get
#
# Needs a release build with symbols: `make bench` builds one (the release profile keeps the
# symbol table; `make package` strips it from the deployed artifact). BIN_DIR (target/release),
# WARM (requests, 3000), SECS (seconds recorded, 8), FREQ (Hz, 4000) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
function=${1:?usage: scripts/profile.sh LogicalId handler}
handler=${2:?usage: scripts/profile.sh LogicalId handler}
bin_dir=${BIN_DIR:-target/release}
out=.local/profile/$handler
rm -rf "$out" && mkdir -p "$out"

"$bin_dir/rota-bench" --bin-dir "$bin_dir" --warm "${WARM:-3000}" --only "$function" \
  --out "$out/bench" >"$out/bench.stdout" 2>"$out/bench.stderr" &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT

# The measured instance: the `rota` process whose _HANDLER is ours, once it has served a while.
pid=""
for _ in $(seq 600); do
  for p in $(pgrep -x rota || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "_HANDLER=$handler"; then pid=$p; fi
  done
  [[ -n $pid ]] && break
  sleep 0.1
done
[[ -n $pid ]] || { echo "no instance of $handler started (see $out/bench.stderr)" >&2; exit 1; }
sleep 3
# The instance recycled for the cold start is not the warm one: take the newest.
for p in $(pgrep -x rota || true); do
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "_HANDLER=$handler"; then pid=$p; fi
done
perf record -q -e cpu-clock -F "${FREQ:-4000}" --call-graph dwarf,16384 -p "$pid" \
  -o "$out/perf.data" -- sleep "${SECS:-8}"
wait $bench || true
trap - EXIT
perf script -i "$out/perf.data" --no-inline 2>/dev/null >"$out/perf.txt"
cpu=$(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))[0]; print(f["warm_cpu_ms_mean"])' \
  "$out/bench/functions.json" 2>/dev/null || echo "")
python3 scripts/profile_parts.py "$out/perf.txt" ${cpu:+--cpu-ms "$cpu"} | tee "$out/parts.md"
