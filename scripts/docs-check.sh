#!/usr/bin/env bash
# GET /docs in a real headless Chromium (tests/browser/docs.test.mjs): Swagger UI renders every
# operation of /openapi.json, nothing is fetched from another host, no console error or CSP
# violation, a first visit of at most 0.5 MB on the wire (brotli), and a full-page screenshot
# (DOCS_SCREENSHOT, default .local/docs.png).
#
#   scripts/docs-check.sh                                   # a stack of its own from target/debug
#   ROTA_BASE_URL=http://127.0.0.1:3000 scripts/docs-check.sh   # a running stack (make run)
#
# Installs what it needs on first use: Debian's chromium (scripts/ensure-chromium.sh) and
# tests/browser's node_modules (npm ci; Playwright downloads no browser).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-chromium.sh

# npm ci again only when the lock file changed since the last install.
stamp=tests/browser/node_modules/.rota-installed-lock
if ! cmp -s tests/browser/package-lock.json "$stamp"; then
  echo "== npm ci (tests/browser)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  cp tests/browser/package-lock.json "$stamp"
fi

. scripts/lib/stack.sh

# A stack of its own (scripts/lib/stack.sh): free ports, no faults.
if [ -z "${ROTA_BASE_URL:-}" ]; then
  for bin in rota rota-local; do
    [ -x "target/debug/$bin" ] || { echo "target/debug/$bin is missing: make serve-build" >&2; exit 1; }
  done
  [ -x .venv/bin/python ] || { echo ".venv is missing (the emulator): make bootstrap" >&2; exit 1; }
  scripts/ensure-redis.sh
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  dir=".local/docs-check-$(date +%s)-$$"
  start_stack "$dir" none
fi

echo "== GET $ROTA_BASE_URL/docs in $(/usr/bin/chromium --version 2>/dev/null)"
export DOCS_SCREENSHOT="${DOCS_SCREENSHOT:-.local/docs.png}"
node --test tests/browser/docs.test.mjs
