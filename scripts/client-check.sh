#!/usr/bin/env bash
# The generated client proves the OpenAPI document (client/README.md): generate the TypeScript
# types from shared/api/openapi.yaml, compile the client and its end-to-end tour against them
# (strict: a use the document does not allow fails here), then run the tour against a stack.
# The stack: ROTA_BASE_URL when set (e.g. the one scripts/test.sh started), otherwise a stack of
# its own on free ports from the binaries already in target/debug, stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

command -v npm >/dev/null || { echo "client-check needs Node.js 20+ and npm" >&2; exit 1; }
# Fail before the npm steps when there is no stack to run against.
if [ -z "${ROTA_BASE_URL:-}" ] && [ ! -x target/debug/rota-local ]; then
  echo "target/debug/rota-local is missing: run make build first" >&2; exit 1
fi

echo "== client: npm ci"
# Reinstall only when the lock file changed since the last install (npm writes
# node_modules/.package-lock.json on every install).
if [ ! -f client/node_modules/.package-lock.json ] || [ client/package-lock.json -nt client/node_modules/.package-lock.json ]; then
  (cd client && npm ci --no-audit --no-fund)
else
  echo "up to date"
fi

echo "== client: generate the types from shared/api/openapi.yaml"
(cd client && npm run --silent generate)

echo "== client: type-check and compile (tsc, strict)"
rm -rf client/dist
(cd client && npx --no-install tsc -p tsconfig.json)

stack_pid=""
cleanup() {
  if [ -n "$stack_pid" ]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [ -z "${ROTA_BASE_URL:-}" ]; then
  scripts/ensure-redis.sh
  dir=".local/client-check-$(date +%s)-$$"
  mkdir -p "$dir/logs"
  moto_port=$(free_port)
  gateway_port=$(free_port)
  # Its own Redis database (13 is used by no other stack of the project), so its cached feed
  # pages and limits never mix with another running stack's.
  redis_db=${CLIENT_CHECK_REDIS_DB:-13}
  echo "== start a local stack (moto :$moto_port, gateway :$gateway_port, redis db $redis_db, logs $dir)"
  target/debug/rota-local serve --no-schedules --host 127.0.0.1 --port "$gateway_port" --moto-port "$moto_port" \
    --redis-url "redis://127.0.0.1:6379/$redis_db" --bin-dir target/debug --logs "$dir/logs" --faults none \
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
fi

echo "== client: the tour against $ROTA_BASE_URL"
status=0
(cd client && node dist/tour.js) || status=$?
if [ "$status" -ne 0 ] && [ -n "$stack_pid" ]; then
  echo "== gateway log (tail)"; tail -n 40 "$dir/stderr" || true
fi
exit "$status"
