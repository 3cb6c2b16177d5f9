#!/usr/bin/env bash
# The generated client proves the OpenAPI document (client/README.md): generate the TypeScript
# types from shared/api/openapi.yaml, compile the client and its end-to-end tour against them
# (strict: a use the document does not allow fails here), then run the tour against a stack.
# The stack: ROTA_BASE_URL when set (e.g. the one scripts/test.sh started), otherwise a stack of
# its own on free ports from the binaries already in target/debug, stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "client-check needs Node.js 20+ and npm" >&2; exit 1; }
# Fail before the npm steps when there is no stack to run against.
if [ -z "${ROTA_BASE_URL:-}" ] && [ ! -x target/debug/rota-local ]; then
  echo "target/debug/rota-local is missing: run make serve-build first" >&2; exit 1
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

. scripts/lib/stack.sh

if [ -z "${ROTA_BASE_URL:-}" ]; then
  scripts/ensure-redis.sh
  dir=".local/client-check-$(date +%s)-$$"
  start_stack "$dir" none
fi

echo "== client: the tour against $ROTA_BASE_URL"
status=0
(cd client && node dist/tour.js) || status=$?
if [ "$status" -ne 0 ] && [ -n "$stack_pid" ]; then
  echo "== gateway log (tail)"; tail -n 40 "$dir/stderr" || true
fi
exit "$status"
