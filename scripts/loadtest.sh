#!/usr/bin/env bash
# Rota load tests (issue 6). Results and their reading: bench/load.md.
#
#   scripts/loadtest.sh [steps...]   default: stack pool warm owner mixed relogin wrk measure stop
#
#   stack    start a private local stack on $PORT (default 3100; `make run` keeps 3000) with
#            logs in .local/loadtest/logs, schedules off, its own cache cluster (fresh at each
#            start, so rate-limit windows and the stats cache never mix with another stack's). Binaries from
#            $BIN_DIR: target/release when every function binary is there, else target/debug.
#            BIN_DIR=<dir> TEMPLATE=<file> run other binaries/template (e.g. a clean checkout
#            built elsewhere while the working tree does not compile).
#            Skipped when BASE_URL is set (then every step runs against BASE_URL).
#            ROTA_FAULTS=<profile> runs it under a fault profile of local/faults.yaml (e.g.
#            bad-day: BENCHMARKS.md); the emulator's and rota-local's counts of what was
#            injected are copied to loadtest/out/faults-*.json by `stop`.
#   pool     loadtest/setup_pool.py: $POOL_USERS signed-in accounts (each with a roadmap; the
#            first $POOL_POSTS with a post) -> loadtest/out/pool.csv (tokens live 15 min).
#   relogin  new access tokens for the same pool (log every account in again).
#   owner    artillery: the owner's Community Flow, fixed (loadtest/community-flow.yml);
#            OWNER_ENV=small (default) runs it at a fifth of the owner's rates, OWNER_ENV=full
#            at the owner's 10 -> 50 arrivals/s.
#   mixed    artillery: the realistic mix (loadtest/mixed.yml) at $MIXED_RATE arrivals/s
#            for $MIXED_SECONDS after a 30 s ramp.
#   users500 artillery: the owner's 500 concurrent users at a human pace (loadtest/users500.yml,
#            about six minutes), with CPU per part of the stack; needs `pool` with
#            POOL_USERS >= 500. `make load` runs stack pool users500 hotkeys stop with the
#            `load` build profile (release optimisation, no LTO).
#   hotkeys  the emulator's capacity per partition over the last users500/mixed run, projected
#            to 1000 requests/s and to 10x the users (loadtest/hotkeys.py).
#   verify   rota-admin verify against the stack's table: every counter equals a recount of
#            its items (after a run under faults: nothing acknowledged was lost or doubled).
#   wrk      wrk GET mix (loadtest/wrk-mix.lua) at each of $WRK_CONNS connections for
#            $WRK_DURATION, with CPU per part of the stack (loadtest/cpu_sample.py); then
#            $WRK_SINGLE: one endpoint at a time (catalog: no DynamoDB; users/me: one GetItem;
#            posts: one GSI Query), to separate the gateway/function cost from the emulator's.
#   measure  loadtest/measure_logs.py: warm durations and log bytes per request by function
#            (over this script's runs only) -> written into bench/endpoints.json.
#   stop     stop the stack this script started.
#
# Needs: python3, node >= 18.16 (artillery 2.0.21 is pinned in loadtest/package.json and
# installed into loadtest/node_modules with `npm ci` on first use; 2.0.22+ need Node 22), and
# wrk for the wrk step. wrk is not installed by the repository: on Debian/Ubuntu run
# `apt-get install -y wrk` (as root). Everything a run writes goes to loadtest/out/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT=${PORT:-3100}
POOL_USERS=${POOL_USERS:-400}
POOL_POSTS=${POOL_POSTS:-100}
OWNER_ENV=${OWNER_ENV:-small}
MIXED_RATE=${MIXED_RATE:-2}
MIXED_SECONDS=${MIXED_SECONDS:-120}
WRK_CONNS=${WRK_CONNS-10 50 200}
WRK_DURATION=${WRK_DURATION:-30s}
WRK_THREADS=${WRK_THREADS:-2}
# label|connections|path: single-endpoint runs after the mix (no DynamoDB; one GetItem; one GSI Query)
WRK_SINGLE=${WRK_SINGLE-catalog|50|/api/roadmaps/catalog catalog|200|/api/roadmaps/catalog me|50|/api/users/me feed|50|/api/community/posts?sort=new&limit=20}
OUT=$ROOT/loadtest/out
LOGS=$ROOT/.local/loadtest/logs
STATE=$ROOT/.local/loadtest
mkdir -p "$OUT" "$LOGS"

log() { printf '\n== %s (%s; load %s)\n' "$*" "$(date -u +%H:%M:%SZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }

pick_bin_dir() {
  if [[ -n ${BIN_DIR:-} ]]; then echo "$BIN_DIR"; return; fi
  # `make load` builds the `load` profile first.
  if [[ -x target/load/rota-local && -x target/load/rota ]]; then echo target/load; return; fi
  if [[ -x target/release/rota-local && -x target/release/rota ]]; then echo target/release; else echo target/debug; fi
}

base_url() {
  if [[ -n ${BASE_URL:-} ]]; then echo "$BASE_URL"; else echo "http://127.0.0.1:$PORT"; fi
}

local_target() { [[ -z ${BASE_URL:-} ]] || [[ $BASE_URL =~ ^https?://(127\.|localhost) ]]; }

step_stack() {
  [[ -n ${BASE_URL:-} ]] && { log "stack: BASE_URL=$BASE_URL, not starting one"; return; }
  local bin; bin=$(pick_bin_dir)
  if [[ -z ${BIN_DIR:-} && $bin == target/debug ]]; then
    cargo build --workspace --bins >&2
  fi
  echo "$bin" > "$STATE/bin_dir"
  scripts/ensure-redis.sh
  [[ -f .venv/.serve ]] || make bootstrap
  log "stack: $bin/rota-local serve --port $PORT (logs $LOGS)"
  rm -f "$LOGS"/*.log
  ROTA_LOCAL_LOG=${ROTA_LOCAL_LOG:-warn} "$bin/rota-local" serve --host 127.0.0.1 --port "$PORT" \
    --template "${TEMPLATE:-template.yaml}" --bin-dir "$bin" --logs "$LOGS" --moto-port 0 --no-schedules \
    ${MAX_INSTANCES:+--max-instances $MAX_INSTANCES} \
    --faults "${ROTA_FAULTS:-none}" \
    > "$STATE/serve.out" 2> "$STATE/serve.err" &
  echo $! > "$STATE/serve.pid"
  for _ in $(seq 1 120); do
    grep -q "serving on" "$STATE/serve.out" 2>/dev/null && break
    kill -0 "$(cat "$STATE/serve.pid")" 2>/dev/null || { cat "$STATE/serve.err" >&2; exit 1; }
    sleep 1
  done
  grep "serving on" "$STATE/serve.out" >&2
  python3 loadtest/measure_logs.py --logs "$LOGS" --snapshot "$STATE/log_offsets.json"
}

step_stop() {
  if [[ -f $LOGS/faults.json ]]; then
    cp "$LOGS/faults.json" "$OUT/faults-local.json"
    local emulator
    emulator=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("emulator",""))' "$LOGS/faults.json")
    [[ -n $emulator ]] && curl -s "$emulator" > "$OUT/faults-emulator.json" || true
  fi
  if [[ -f $STATE/serve.pid ]]; then
    log "stop: stack pid $(cat "$STATE/serve.pid")"
    kill "$(cat "$STATE/serve.pid")" 2>/dev/null || true
    rm -f "$STATE/serve.pid"
  fi
}

ensure_artillery() {
  if [[ ! -x loadtest/node_modules/.bin/artillery ]]; then
    log "npm ci in loadtest/ (artillery 2.0.21)"
    (cd loadtest && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >&2)
  fi
}

step_pool() {
  log "pool: $POOL_USERS accounts against $(base_url)"
  python3 loadtest/setup_pool.py --target "$(base_url)" --users "$POOL_USERS" --posts "$POOL_POSTS" --out "$OUT/pool.csv"
}

# Fresh access tokens for the same pool (they live 15 min): log every account in again.
step_relogin() {
  log "relogin: the pool's accounts against $(base_url)"
  python3 loadtest/setup_pool.py --target "$(base_url)" --relogin "$OUT/pool.csv" --out "$OUT/pool.csv"
}

artillery_run() { # name yml [extra args]
  local name=$1 yml=$2; shift 2
  ensure_artillery
  local spread=0; local_target && spread=1
  log "artillery $name: $yml $* against $(base_url)"
  local secs=${SAMPLE_SECONDS:-60}
  (cd loadtest && SPREAD_SOURCE_IPS=$spread LOADTEST_RUN_ID=$name-$(date +%s) \
     node_modules/.bin/artillery run --target "$(base_url)" --output "$OUT/$name.json" "$@" "$yml" \
     > "$OUT/$name.log" 2>&1) &
  local apid=$!
  if local_target; then
    python3 loadtest/cpu_sample.py --seconds "$secs" --bin-dir "$(cat "$STATE/bin_dir" 2>/dev/null || echo target/debug)" \
      --json "$OUT/$name.cpu.json" > "$OUT/$name.cpu.txt" || true
  fi
  wait $apid || true
  tail -n 40 "$OUT/$name.log" >&2
  python3 loadtest/summarize.py "$OUT/$name.json" "$name" | tee "$OUT/$name.md"
  [[ -f $OUT/$name.cpu.txt ]] && cat "$OUT/$name.cpu.txt"
  return 0
}

step_owner() {
  if [[ $OWNER_ENV == full ]]; then
    SAMPLE_SECONDS=170 artillery_run owner community-flow.yml
  else
    SAMPLE_SECONDS=85 artillery_run owner-small community-flow.yml -e small
  fi
}

step_users500() {
  # Capacity per partition from here on only (the pool set-up is not the scenario).
  curl -s -X DELETE "$(aws_endpoint)/_rota/capacity" > /dev/null || true
  date +%s > "$STATE/run_started"
  SAMPLE_SECONDS=${USERS500_SECONDS:-380} artillery_run users500 users500.yml
  date +%s > "$STATE/run_ended"
  echo users500 > "$STATE/last_run"
}

aws_endpoint() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aws_endpoint"])' "$LOGS/../stack.json"
}

step_hotkeys() {
  local run; run=$(cat "$STATE/last_run" 2>/dev/null || echo users500)
  local secs=$(( $(cat "$STATE/run_ended") - $(cat "$STATE/run_started") ))
  local requests users
  requests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aggregate"]["counters"].get("http.responses", 0))' "$OUT/$run.json")
  users=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["aggregate"]["counters"]; print(c.get("vusers.created", 1))' "$OUT/$run.json")
  log "hotkeys: $requests requests in $secs s by $users users"
  python3 loadtest/hotkeys.py --capacity "$(aws_endpoint)/_rota/capacity" --seconds "$secs" \
    --requests "$requests" --users "$users" --json "$OUT/hotkeys-$run.json" | tee "$OUT/hotkeys-$run.md"
}

step_verify() {
  local bin; bin=$(cat "$STATE/bin_dir" 2>/dev/null || echo target/debug)
  log "verify: counters against a recount of their items"
  AWS_ENDPOINT_URL=$(aws_endpoint) AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
    AWS_REGION=us-east-1 TABLE_NAME=RotaTable "$bin/rota-admin" verify | tee "$OUT/verify.txt"
}

step_mixed() {
  local ov
  ov=$(printf '{"config":{"phases":[{"duration":30,"arrivalRate":1,"rampTo":%s},{"duration":%s,"arrivalRate":%s}]}}' \
       "$MIXED_RATE" "$MIXED_SECONDS" "$MIXED_RATE")
  curl -s -X DELETE "$(aws_endpoint)/_rota/capacity" > /dev/null || true
  date +%s > "$STATE/run_started"
  SAMPLE_SECONDS=$((MIXED_SECONDS + 25)) artillery_run "mixed-r$MIXED_RATE" mixed.yml --overrides "$ov"
  date +%s > "$STATE/run_ended"
  echo "mixed-r$MIXED_RATE" > "$STATE/last_run"
}

# The gateway keeps running invocations queued before a client gave up (up to its 30 s
# integration timeout), so a run right after an overloaded one measures the backlog too:
# wait until a GetItem round trip is fast again.
drain() {
  local t
  for _ in $(seq 1 45); do
    t=$(curl -s -o /dev/null -w '%{time_total}' "$(base_url)/health/ready" || echo 9)
    awk -v t="$t" 'BEGIN { exit !(t < 0.1) }' && return 0
    sleep 1
  done
}

wrk_one() { # label conns script-args...
  local label=$1 c=$2; shift 2
  drain
  command -v wrk >/dev/null || { echo "wrk not installed: apt-get install -y wrk (as root)" >&2; exit 1; }
  log "wrk $label: -t$WRK_THREADS -c$c -d$WRK_DURATION"
  local secs=${WRK_DURATION%s} spid=""
  if local_target; then
    python3 loadtest/cpu_sample.py --seconds "$((secs - 2))" --bin-dir "$(cat "$STATE/bin_dir" 2>/dev/null || echo target/debug)" \
      --json "$OUT/wrk-$label-c$c.cpu.json" > "$OUT/wrk-$label-c$c.cpu.txt" &
    spid=$!
  fi
  wrk -t"$WRK_THREADS" -c"$c" -d"$WRK_DURATION" --timeout 30s --latency "$@" > "$OUT/wrk-$label-c$c.txt" 2>&1 || true
  [[ -n $spid ]] && { wait "$spid" 2>/dev/null || true; }
  grep -E "Requests/sec|Non-2xx|Socket errors|WRKJSON" "$OUT/wrk-$label-c$c.txt" >&2 || cat "$OUT/wrk-$label-c$c.txt" >&2
  [[ -f $OUT/wrk-$label-c$c.cpu.txt ]] && cat "$OUT/wrk-$label-c$c.cpu.txt" >&2
  return 0
}

step_wrk() {
  local url; url=$(base_url)
  # Access tokens live 15 min: run `pool` right before (3 x 30 s + 2 x 30 s fits).
  for c in $WRK_CONNS; do
    wrk_one mix "$c" -s loadtest/wrk-mix.lua "$url" -- "$OUT/pool.csv"
  done
  local one label conns path
  for one in $WRK_SINGLE; do
    IFS='|' read -r label conns path <<< "$one"
    wrk_one "$label" "$conns" -s loadtest/wrk-mix.lua "$url" -- "$OUT/pool.csv" "$path"
  done
  python3 - "$OUT" $WRK_CONNS <<'EOF'
import json, re, sys, glob, os
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "wrk-*-c*.txt"))):
    if f.endswith(".cpu.txt"):
        continue
    label = os.path.basename(f)[4:-4]
    txt = open(f).read()
    m = re.search(r"WRKJSON (\{.*\})", txt)
    if m:
        d = json.loads(m.group(1))
    else:  # plain wrk (no Lua done()): parse its summary
        d = {"requests": 0}
        rq = re.search(r"(\d+) requests in ([\d.]+)(m?s)", txt)
        if rq:
            secs = float(rq.group(2)) * (60 if rq.group(3) == "m" else 1)
            d = {"requests": int(rq.group(1)), "duration_s": secs, "rps": int(rq.group(1)) / secs}
        for p in ("50", "99"):
            mm = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", txt)
            if mm:
                v = float(mm.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[mm.group(2)]
                d[f"p{p}_ms"] = round(v, 1)
        n2 = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
        d["non2xx"] = int(n2.group(1)) if n2 else 0
    cpu = {}
    cf = f[:-4] + ".cpu.json"
    if os.path.exists(cf):
        cpu = json.load(open(cf))
    d["label"] = label
    d["cpu"] = cpu.get("cores_used", {})
    d["instances"] = cpu.get("function_instances_peak")
    d["loadavg"] = cpu.get("loadavg")
    rows.append(d)
json.dump(rows, open(os.path.join(out, "wrk-summary.json"), "w"), indent=1)
print("| run | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | 429 | cores: moto / functions / gateway / wrk / builds | fn instances | loadavg |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
for d in rows:
    c = d["cpu"]
    n = d.get("requests") or 0
    err = f"{d.get('non2xx', 0)} ({100 * d.get('non2xx', 0) / n:.2f} %)" if n else "-"
    print(f"| {d['label']} | {d.get('rps', 0):.1f} | {d.get('p50_ms', '-')} | {d.get('p95_ms', '-')} | {d.get('p99_ms', '-')} | {err} | {d.get('r429', '-')} | "
          f"{c.get('moto', 0):.2f} / {c.get('functions', 0):.2f} / {c.get('gateway', 0):.2f} / {c.get('loadgen', 0):.2f} / {c.get('builds', 0):.2f} | "
          f"{d.get('instances', '-')} | {' '.join(d.get('loadavg') or [])} |")
EOF
}

step_warm() {
  log "warm: one request at a time through every endpoint (unloaded warm figures)"
  python3 loadtest/measure_logs.py --logs "$LOGS" --snapshot "$STATE/warm_offsets.json"
  python3 loadtest/warm_pass.py --target "$(base_url)" --pool "$OUT/pool.csv" --rounds "${WARM_ROUNDS:-15}" \
    ${UPDATE_ENDPOINTS:+--update bench/endpoints.json} | tee "$OUT/warm.txt"
  python3 loadtest/measure_logs.py --logs "$LOGS" --since-bytes "$STATE/warm_offsets.json" \
    --label "(warm pass, one request at a time; $(cat "$STATE/bin_dir" 2>/dev/null || echo ?) binaries; scripts/loadtest.sh warm)" \
    ${UPDATE_ENDPOINTS:+--update bench/endpoints.json} | tee "$OUT/warm-measure.md"
}

step_measure() {
  log "measure: durations and log bytes per function (this script's runs only)"
  local since=()
  [[ -f $STATE/log_offsets.json ]] && since=(--since-bytes "$STATE/log_offsets.json")
  python3 loadtest/measure_logs.py --logs "$LOGS" "${since[@]}" \
    --label "($(cat "$STATE/bin_dir" 2>/dev/null || echo ?) binaries; scripts/loadtest.sh)" \
    | tee "$OUT/measure.md"
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(stack pool warm owner mixed relogin wrk measure stop)
for s in "${steps[@]}"; do
  "step_$s"
done
