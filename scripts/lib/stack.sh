# shellcheck shell=bash
# A local stack for the test scripts (test.sh, client-check.sh, docs-check.sh), sourced from the
# repository root: the binaries in target/debug on free ports, stopped when the script exits.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_stack DIR PROFILE: a local stack on free ports under a fault profile (with its own cache
# cluster), its logs in DIR; sets stack_pid and exports ROTA_BASE_URL, AWS_ENDPOINT_URL,
# ROTA_LOGS_DIR, and the cache the functions get and its CA (REDIS_URL, ROTA_CACHE_CA, from the
# stack's stack.json).
start_stack() {
  local dir=$1 profile=$2 moto_port gateway_port
  mkdir -p "$dir/logs"
  moto_port=$(free_port)
  gateway_port=$(free_port)
  echo "== start a local stack under the fault profile $profile (moto :$moto_port, gateway :$gateway_port)"
  # The plain stack's functions get the wide data budget of the test run (scripts/test.sh), a
  # faulted one the template's own: the faults are what spends budgets there.
  local budget=()
  if [ "$profile" = none ] && [ -n "${DB_RETRY_BUDGET_MS:-}" ]; then
    budget=(env "ROTA_FN_DB_RETRY_BUDGET_MS=$DB_RETRY_BUDGET_MS" "ROTA_FN_DB_ATTEMPT_TIMEOUT_MS=$DB_ATTEMPT_TIMEOUT_MS")
  fi
  "${budget[@]}" target/debug/rota-local serve --no-schedules --host 127.0.0.1 --port "$gateway_port" --moto-port "$moto_port" \
    --bin-dir target/debug --logs "$dir/logs" --faults "$profile" \
    >"$dir/stdout" 2>"$dir/stderr" &
  stack_pid=$!
  for _ in $(seq 300); do
    grep -q "serving on" "$dir/stdout" 2>/dev/null && break
    if ! kill -0 "$stack_pid" 2>/dev/null; then
      echo "the local stack failed to start:" >&2; cat "$dir/stderr" >&2; exit 1
    fi
    sleep 0.2
  done
  grep -q "serving on" "$dir/stdout" || { echo "the local stack did not start in time" >&2; cat "$dir/stderr" >&2; exit 1; }
  export ROTA_BASE_URL="http://127.0.0.1:$gateway_port"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export ROTA_LOGS_DIR="$PWD/$dir/logs"
  REDIS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cache"])' "$dir/stack.json")
  ROTA_CACHE_CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("cache_ca", ""))' "$dir/stack.json")
  export REDIS_URL ROTA_CACHE_CA
}
stack_pid=""
stop_stack() {
  if [ -n "$stack_pid" ]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
    stack_pid=""
  fi
}
trap stop_stack EXIT
