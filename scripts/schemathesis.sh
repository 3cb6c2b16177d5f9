#!/usr/bin/env bash
# Schemathesis against a running stack (ROTA_BASE_URL; default: `make run`'s), with the
# document that stack serves: every check, every phase including the stateful one, which must
# follow every link of the document, a fixed seed and bounded examples
# (tests/schemathesis/schemathesis.toml, which also lists the contract's own deviations with
# their reasons). Part of `make test`; alone: `make api-check`.
set -euo pipefail
cd "$(dirname "$0")/.."

export ROTA_BASE_URL="${ROTA_BASE_URL:-http://127.0.0.1:3000}"
out="${SCHEMATHESIS_OUT:-.local/schemathesis.txt}"
mkdir -p "$(dirname "$out")"
[ -x .venv/bin/st ] || { echo "schemathesis is not installed: make dev-tools (or make api-check)" >&2; exit 1; }
curl -sf "$ROTA_BASE_URL/health/live" >/dev/null || {
  echo "no stack answers on $ROTA_BASE_URL (start one with make run)" >&2; exit 1; }

status=0
.venv/bin/st --config-file tests/schemathesis/schemathesis.toml run "$ROTA_BASE_URL/openapi.json" \
  --no-color >"$out" 2>&1 || status=$?
# The summary (and every failure before it) on failure; the summary alone otherwise.
if [ "$status" -ne 0 ]; then cat "$out"; else sed -n '/^Test Phases:/,$p' "$out"; fi

# A run that skipped a phase or tested nothing proved nothing.
for phase in Examples Coverage Fuzzing Stateful; do
  grep -q "✅ $phase" "$out" || { echo "schemathesis: the $phase phase did not pass" >&2; status=1; }
done
total=$(sed -n 's/^  Selected: [0-9]*\/\([0-9]*\)$/\1/p' "$out")
tested=$(sed -n 's/^  Tested: \([0-9]*\)$/\1/p' "$out")
if [ -z "$total" ] || [ "$tested" != "$total" ]; then
  echo "schemathesis tested ${tested:-no} of ${total:-?} operations" >&2; status=1
fi
# Every link of the document followed at least once (covered: a step used a value it carried),
# from the line "API Links:    17 covered / 17 selected / 17 total".
links=$(sed -n 's/^ *API Links: *\([0-9]*\) covered \/ \([0-9]*\) selected.*/\1 \2/p' "$out")
read -r covered selected <<<"$links"
if [ -z "$selected" ] || [ "$selected" -eq 0 ] || [ "$covered" != "$selected" ]; then
  echo "schemathesis followed ${covered:-no} of ${selected:-?} links; it must follow each" >&2
  status=1
fi
exit "$status"
