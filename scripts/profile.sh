#!/usr/bin/env bash
# Where a warm instance's CPU goes (BENCHMARKS.md, "Where the CPU goes"): rota-bench drives one
# function with many warm requests while perf samples that one instance (cpu-clock: this
# machine has no hardware counters; DWARF call graphs from .eh_frame); then the samples by part
# (scripts/profile_parts.py).
#
#   scripts/profile.sh UsersMeGetFunction users-me-get
#
# Needs a release build with symbols: `make bench` builds one (the release profile keeps the
# symbol table; `make package` strips it from the deployed artifact). BIN_DIR (target/release),
# WARM (requests, 20000), SECS (seconds recorded, 8), FREQ (Hz, 4000) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
function=${1:?usage: scripts/profile.sh LogicalId handler}
handler=${2:?usage: scripts/profile.sh LogicalId handler}
bin_dir=${BIN_DIR:-target/release}
out=.local/profile/$handler
rm -rf "$out" && mkdir -p "$out"

"$bin_dir/rota-bench" --bin-dir "$bin_dir" --warm "${WARM:-20000}" --only "$function" \
  --out "$out/bench" >"$out/bench.stdout" 2>"$out/bench.stderr" &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT

# The measured instance: the newest `rota` process whose _HANDLER is ours, once it has stayed
# the newest for two seconds (the instance of the cold request is recycled).
newest() {
  local p found=""
  # Only the harness's own instances (its children): another stack may run the same handler.
  for p in $(pgrep -x -P "$bench" rota || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "_HANDLER=$handler"; then found=$p; fi
  done
  echo "$found"
}
# CPU ticks (1/100 s) the process has used, user + system.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pid=""
for _ in $(seq 300); do
  candidate=$(newest)
  if [[ -n $candidate ]]; then
    before=$(ticks "$candidate")
    sleep 2
    # ... and busy: the harness may make a function's data (other functions) for a while first.
    if [[ $(newest) == "$candidate" ]] && (($(ticks "$candidate") - before >= 20)); then
      pid=$candidate
      break
    fi
  else
    sleep 0.5
  fi
done
[[ -n $pid ]] || { echo "no warm instance of $handler (see $out/bench.stderr)" >&2; exit 1; }

perf record -q -e cpu-clock -F "${FREQ:-4000}" --call-graph dwarf,16384 -p "$pid" \
  -o "$out/perf.data" -- sleep "${SECS:-8}"
wait $bench || true
trap - EXIT
perf script -i "$out/perf.data" --no-inline 2>/dev/null >"$out/perf.txt"
cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["warm_cpu_ms_mean"])' \
  "$out/bench/functions.json" 2>/dev/null || echo "")
python3 scripts/profile_parts.py "$out/perf.txt" ${cpu:+--cpu-ms "$cpu"} | tee "$out/parts.md"
