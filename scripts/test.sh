#!/usr/bin/env bash
# Runs every test: template lint, unit tests, handler and integration tests against the
# emulator and Redis, and end-to-end tests through the local gateway running the real
# function binaries. Starts (and stops) its own stack on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

# The SAM transform itself (offline: no credentials, no telemetry).
echo "== sam validate --lint template.yaml"
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --template template.yaml --region us-east-1

echo "== build"
cargo build --workspace --bins
cargo test --workspace --no-run --quiet

scripts/ensure-redis.sh

run_dir=".local/test-$(date +%s)-$$"
mkdir -p "$run_dir/logs"
moto_port=$(free_port)
gateway_port=$(free_port)

echo "== start the local stack (moto :$moto_port, gateway :$gateway_port)"
# No fault profile, whatever ROTA_FAULTS says (`ROTA_FAULTS=bad-day make run` must not leak in).
target/debug/rota-local serve --no-schedules --host 127.0.0.1 --port "$gateway_port" --moto-port "$moto_port" \
  --bin-dir target/debug --logs "$run_dir/logs" --faults none >"$run_dir/stdout" 2>"$run_dir/stderr" &
stack_pid=$!
cleanup() { kill "$stack_pid" 2>/dev/null || true; wait "$stack_pid" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 300); do
  grep -q "serving on" "$run_dir/stdout" 2>/dev/null && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "the local stack failed to start:" >&2; cat "$run_dir/stderr" >&2; exit 1
  fi
  sleep 0.2
done
grep -q "serving on" "$run_dir/stdout" || { echo "the local stack did not start in time" >&2; cat "$run_dir/stderr" >&2; exit 1; }

export ROTA_BASE_URL="http://127.0.0.1:$gateway_port"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
export TABLE_NAME=RotaTable
export REDIS_URL=redis://127.0.0.1:6379
export ROTA_LOGS_DIR="$PWD/$run_dir/logs"

echo "== tests"
status=0
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --no-fail-fast || status=$?
else
  cargo test --workspace --no-fail-fast || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "== gateway log (tail)"; tail -n 40 "$run_dir/stderr" || true
fi
exit "$status"
