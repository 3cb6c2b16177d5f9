#!/usr/bin/env bash
# Runs every test but the release artifact's (`make deploy-check`): the template's lints, unit
# tests, handler and integration tests against the emulator and the cache cluster, the grant
# test, and end-to-end tests through the local gateway running the real function binaries.
# Starts (and stops) its own stacks on free ports, each with its own cache cluster (three
# primaries over TLS).
set -euo pipefail
cd "$(dirname "$0")/.."

# start_stack, stop_stack (its EXIT trap is set by the library).
. scripts/lib/stack.sh

# Each step's header says when it started (seconds into the run): where a slow run spent its time.
section() { echo "== [${SECONDS} s] $*"; }

section "build"
cargo build --workspace --bins
cargo test --workspace --no-run --quiet

status=0
# The template: cfn-lint and the SAM transform with its linter (offline). The release build
# and its artifact checks are `make deploy-check`'s (CI runs it after this).
section "cfn-lint, sam validate --lint"
make cfn-lint sam-validate || status=$?

scripts/ensure-redis.sh

# On the plain stack the data budget is wide: the tests share one emulator (a Python process)
# and two cores, and on a machine half as fast its answers waited past the deployed 1 s budget
# under the suite's load (503s on tests that inject nothing). The budget's paths are tested
# where something spends it on purpose: the fault profiles' stacks keep the template's budget,
# and in-process tests that refuse calls set it (tests/support `deployed_budget`). In-process
# tests read these; start_stack gives them to the plain stack's functions.
export DB_RETRY_BUDGET_MS=4000 DB_ATTEMPT_TIMEOUT_MS=2000

run_dir=".local/test-$(date +%s)-$$"
# No fault profile, whatever ROTA_FAULTS says (`ROTA_FAULTS=bad-day make run` must not leak in).
start_stack "$run_dir" none

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
export TABLE_NAME=RotaTable

section "the emulator wrapper: fault injection, the patched moto against the unpatched one, DynamoDB's rules, IAM, keep-alive"
.venv/bin/python -m unittest local/test_moto_faults.py local/test_moto_patches.py local/test_moto_rules.py \
  local/test_moto_iam.py local/test_moto_mail.py local/test_moto_http.py

section "tests"
# The plain stack: clients take every reply as it comes (no careful retries).
export ROTA_FAULTS=none
if command -v cargo-nextest >/dev/null; then
  # The artifact's tests need `make package`: they are deploy-check's.
  cargo nextest run --workspace --no-fail-fast -E 'not binary(package)' || status=$?
else
  cargo test --workspace --no-fail-fast --exclude rota-tests || status=$?
  cargo test -p rota-tests --no-fail-fast --lib --test suite --test grants --test login_cost || status=$?
fi

# The API as its clients meet it, against the same plain stack: schemathesis with the served
# document (every check and phase), the generated TypeScript client's tour, and GET /docs in
# headless Chromium (Debian's, installed on first use) with a screenshot.
section "schemathesis (tests/schemathesis/schemathesis.toml)"
SCHEMATHESIS_OUT="$run_dir/schemathesis.txt" scripts/schemathesis.sh || status=$?
section "the generated client (client/)"
scripts/client-check.sh || status=$?
section "GET /docs in headless Chromium (tests/browser); screenshot: $run_dir/docs.png"
DOCS_SCREENSHOT="$run_dir/docs.png" scripts/docs-check.sh || status=$?

if [ "$status" -ne 0 ]; then
  section "gateway log (tail)"; tail -n 40 "$run_dir/stderr" || true
fi
stop_stack

# The community's, roadmaps', dashboard's and idempotency's end-to-end tests and the storm
# (tests/suite: modules posts (with posts::feeds), likes, comments, community_stats, roadmaps,
# dashboard, idempotency, storm), against a second stack under the `bad-day` profile of
# local/faults.yaml: TransactionConflicts on hot items, throttles, a latency tail, the cache
# down 10 s of every minute (every node, through the proxy), instance crashes. The clients are
# careful (tests/support/http.rs `careful`): they retry what may not have happened, with
# Idempotency-Keys on creates.
# Left out here, and why (each runs against the plain stack above):
#   - tests that count exact rate limits (`limit`): with the limit store down, each container
#     keeps its own window (docs/data-model.md), so limits loosen by design during an outage;
#   - those modules' in-process tests (modules `in_process` and `in_process_*`): they call the
#     handlers in this process and assert what the plain stack answers, not through the faulted
#     stack's gateway with a careful client;
#   - auth: registration and refresh are not idempotent by design (a retried registration
#     is 409, a retried refresh is reuse and revokes the family), so an injected crash changes
#     the answer those tests assert.
faulted_dir="$run_dir/bad-day"
unset DB_RETRY_BUDGET_MS DB_ATTEMPT_TIMEOUT_MS
start_stack "$faulted_dir" bad-day
export ROTA_FAULTS=bad-day
faulted=0
faulted_modules="posts likes comments community_stats roadmaps dashboard idempotency storm"
if command -v cargo-nextest >/dev/null; then
  # --workspace as above, not -p: the same features, so the test binaries built above run
  # (with -p cargo resolved rota-tests' features alone and rebuilt it: 37 s).
  cargo nextest run --workspace --no-fail-fast \
    -E "package(rota-tests) & binary(suite) & test(/^(${faulted_modules// /|})::/) & !test(/::in_process/) & !test(/limit/)" \
    || faulted=$?
else
  # Test-name filters match anywhere in a name: `module::` names no other module's tests.
  # shellcheck disable=SC2046
  cargo test -p rota-tests --no-fail-fast --test suite -- $(printf '%s:: ' $faulted_modules) \
    --skip ::in_process --skip limit || faulted=$?
fi
section "faults injected in that run"
cat "$faulted_dir/logs/faults.json" || true
echo
curl -s "$AWS_ENDPOINT_URL/_rota/faults" || true
echo
# A faulted run that injected nothing proved nothing.
python3 - "$faulted_dir/logs/faults.json" "$AWS_ENDPOINT_URL/_rota/faults" <<'PY' || faulted=1
import json, sys, urllib.request
local = json.load(open(sys.argv[1]))["injected"]
emulator = json.load(urllib.request.urlopen(sys.argv[2]))["injected"]
kinds = {
    "TransactionConflict": sum(v for k, v in emulator.items() if "TransactionConflict" in k),
    "throttle": sum(v for k, v in emulator.items() if ".throttle." in k),
    "instance crash": sum(v for k, v in local.items() if k.startswith("lambda.crash")),
    "Redis outage": local.get("redis.outages", 0),
}
print("injected:", kinds)
missing = [k for k, v in kinds.items() if v == 0]
if missing:
    sys.exit(f"the bad-day run injected no {', '.join(missing)}")
PY
if [ "$faulted" -ne 0 ]; then
  section "faulted gateway log (tail)"; tail -n 40 "$faulted_dir/stderr" || true
  status=$faulted
fi
exit "$status"
